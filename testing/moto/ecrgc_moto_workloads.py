"""AWS Batch, SageMaker and CodeBuild for ecrgc_moto.py: what moto 5.2.5 gets wrong for the
operations ecrgc's workload collectors call (README.md beside this file lists each fix).

Resources are created with the ordinary AWS calls (RegisterJobDefinition, CreateModel,
CreateEndpointConfig, CreateProject) and live in moto's backends; this module reads those
backends to answer the list and describe calls in botocore's shapes, and keeps on moto's own
objects the few request members moto drops (Batch `ecsProperties`, SageMaker
`ShadowProductionVariants`), so they go when moto's objects go (reset, delete).
"""

from __future__ import annotations

import copy
from typing import Any, Callable

from ecrgc_moto_base import ApiError, Pager, Response, _json_response, _replace_body, drop_none, to_epoch

AWS_JSON_11 = "application/x-amz-json-1.1"
# Attribute names this module sets on moto's objects.
ECS_PROPERTIES = "_ecrgc_ecs_properties"
SHADOW_VARIANTS = "_ecrgc_shadow_production_variants"


class Workloads:
    """Batch DescribeJobDefinitions, SageMaker models and endpoint configs, CodeBuild projects."""

    SEED_KEYS: set[str] = set()
    PAGERS = {
        # maxResults "can be between 1 and 100. If this parameter isn't used, then
        # DescribeJobDefinitions returns up to 100 results" (Batch API_DescribeJobDefinitions).
        ("batch", "DescribeJobDefinitions"): Pager("jobDefinitions", "nextToken", "maxResults", "nextToken", 100,
                                                   "ClientException", max_limit=100),
        # MaxResults `integer min=1 max=100`; the default page is not documented, 100 here.
        # An invalid token is a ValidationException, SageMaker's error for invalid input
        # (https://docs.aws.amazon.com/sagemaker/latest/APIReference/CommonErrors.html).
        ("sagemaker", "ListModels"): Pager("Models", "NextToken", "MaxResults", "NextToken", 100,
                                           "ValidationException", max_limit=100),
        ("sagemaker", "ListEndpointConfigs"): Pager("EndpointConfigs", "NextToken", "MaxResults", "NextToken", 100,
                                                    "ValidationException", max_limit=100),
        # No page size in the model: "if there are more than 100 items in the list, only the
        # first 100 items are returned, along with a unique string called a nextToken"
        # (CodeBuild API_ListProjects).
        ("codebuild", "ListProjects"): Pager("projects", "nextToken", "maxResults", "nextToken", 100,
                                             "InvalidInputException"),
    }

    def __init__(self, ext: Any) -> None:
        self.ext = ext

    def clear(self) -> None:
        pass

    def seed(self, doc: dict) -> dict[str, int]:
        return {}

    def snapshot(self) -> dict:
        return {}

    def handlers(self) -> dict[tuple[str, str], Callable]:
        return {
            ("batch", "RegisterJobDefinition"): self.batch_register,
            ("batch", "DescribeJobDefinitions"): self.batch_describe,
            ("sagemaker", "ListModels"): self.sagemaker_list,
            ("sagemaker", "ListEndpointConfigs"): self.sagemaker_list,
            ("sagemaker", "DescribeModel"): self.sagemaker_describe_model,
            ("sagemaker", "CreateEndpointConfig"): self.sagemaker_create_endpoint_config,
            ("sagemaker", "DescribeEndpointConfig"): self.sagemaker_describe_endpoint_config,
            ("codebuild", "ListProjects"): self.codebuild_list_projects,
            ("codebuild", "BatchGetProjects"): self.codebuild_batch_get_projects,
        }

    # -- AWS Batch ------------------------------------------------------------------------

    @staticmethod
    def _batch(req: Any) -> Any:
        from moto.batch.models import batch_backends
        return batch_backends[req.account][req.region]

    @staticmethod
    def _check_ecs_properties(ecs: Any) -> None:
        tasks = ecs.get("taskProperties") if isinstance(ecs, dict) else None
        if not isinstance(tasks, list) or not tasks:
            raise ApiError("ClientException", "ecsProperties.taskProperties must contain one task")
        if len(tasks) > 1:
            # "This object is currently limited to one element." (Batch API_EcsProperties)
            raise ApiError("ClientException", "ecsProperties.taskProperties is limited to one element")
        containers = tasks[0].get("containers")
        if not isinstance(containers, list) or not containers:
            raise ApiError("ClientException", "ecsProperties.taskProperties[0].containers must contain a container")
        for container in containers:
            if not container.get("image"):
                raise ApiError("ClientException", "ecsProperties.taskProperties[0].containers[].image is required")

    def batch_register(self, req: Any) -> Response:
        """moto refuses `ecsProperties` (it wants containerProperties or eksProperties for a
        container job), describes no `nodeProperties`, and carries the previous revision's
        containerProperties/eksProperties into a new revision that has none. Register with
        moto, then make the revision exactly what was asked for."""
        asked = req.json
        payload = dict(asked)
        ecs = payload.pop("ecsProperties", None)
        if ecs is not None:
            self._check_ecs_properties(ecs)
            if asked.get("type") == "container" and not asked.get("containerProperties") \
                    and not asked.get("eksProperties"):
                payload["type"] = "multinode"  # moto validates container types only; restored below
        response, parsed = self.ext.moto_json(req, payload)
        if parsed is None:
            return response
        found = self._batch(req).get_job_definition_by_arn(parsed.get("jobDefinitionArn"))
        if found is not None:
            found.type = asked.get("type")
            for member, attribute in (("containerProperties", "container_properties"),
                                      ("eksProperties", "eks_properties"),
                                      ("nodeProperties", "node_properties")):
                if member not in asked:
                    setattr(found, attribute, None)
            setattr(found, ECS_PROPERTIES, copy.deepcopy(ecs))
        return _replace_body(response, parsed, "application/json")

    @staticmethod
    def _batch_doc(job_def: Any) -> dict:
        doc = drop_none(job_def.describe())
        if getattr(job_def, "node_properties", None) is not None:
            doc["nodeProperties"] = copy.deepcopy(job_def.node_properties)
        if getattr(job_def, ECS_PROPERTIES, None) is not None:
            doc["ecsProperties"] = copy.deepcopy(getattr(job_def, ECS_PROPERTIES))
        return doc

    def batch_describe(self, req: Any) -> Response:
        """Every definition of the caller's account and region, filtered as the API documents:
        `jobDefinitions` (up to 100 ARNs or `name:revision`; "can't be used with other
        parameters"), else `jobDefinitionName`, then `status`; paged unless `jobDefinitions`
        is given. moto ignores maxResults and nextToken and does not find `name:revision`."""
        body = req.json
        wanted = body.get("jobDefinitions")
        definitions = list(self._batch(req)._job_definitions.values())
        if wanted:
            if len(wanted) > 100:
                raise ApiError("ClientException", "jobDefinitions: a list of up to 100 job definitions")
            chosen = []
            for ident in wanted:
                for d in definitions:
                    if ident in (d.arn, f"{d.name}:{d.revision}", d.name) and d not in chosen:
                        chosen.append(d)
            definitions = chosen
        elif body.get("jobDefinitionName"):
            definitions = [d for d in definitions if d.name == body["jobDefinitionName"]]
        if body.get("status"):
            definitions = [d for d in definitions if d.status == body["status"]]
        docs = [self._batch_doc(d) for d in definitions]
        payload: dict[str, Any] = {}
        if wanted:
            payload["jobDefinitions"] = docs
        else:
            page, nxt = self.ext.paginate(req, "DescribeJobDefinitions", docs, body.get("maxResults"))
            payload["jobDefinitions"] = page
            if nxt:
                payload["nextToken"] = nxt
        return _json_response(200, payload)

    # -- SageMaker ------------------------------------------------------------------------

    @staticmethod
    def _sagemaker(req: Any) -> Any:
        from moto.sagemaker.models import sagemaker_backends
        return sagemaker_backends[req.account][req.region]

    def sagemaker_list(self, req: Any) -> Response:
        """ListModels / ListEndpointConfigs from moto's backend, with the documented filters
        and order ("SortBy ... The default is CreationTime", "SortOrder ... The default is
        Descending"); moto ignores MaxResults for models."""
        backend = self._sagemaker(req)
        body = req.json
        if req.operation == "ListModels":
            rows = [{"ModelName": m.model_name, "ModelArn": m.arn, "CreationTime": to_epoch(m.creation_time)}
                    for m in backend._models.values()]
            name_key, result = "ModelName", "Models"
        else:
            rows = [{"EndpointConfigName": c.endpoint_config_name, "EndpointConfigArn": c.endpoint_config_arn,
                     "CreationTime": to_epoch(c.creation_time)} for c in backend.endpoint_configs.values()]
            name_key, result = "EndpointConfigName", "EndpointConfigs"
        if body.get("NameContains"):
            rows = [r for r in rows if body["NameContains"] in r[name_key]]
        if body.get("CreationTimeBefore") is not None:
            rows = [r for r in rows if r["CreationTime"] < to_epoch(body["CreationTimeBefore"])]
        if body.get("CreationTimeAfter") is not None:
            rows = [r for r in rows if r["CreationTime"] > to_epoch(body["CreationTimeAfter"])]
        sort_key = name_key if body.get("SortBy") == "Name" else "CreationTime"
        rows.sort(key=lambda r: (r[sort_key], r[name_key]), reverse=body.get("SortOrder", "Descending") == "Descending")
        page, nxt = self.ext.paginate(req, req.operation, rows, body.get("MaxResults"))
        payload: dict[str, Any] = {result: page}
        if nxt:
            payload["NextToken"] = nxt
        return _json_response(200, payload, AWS_JSON_11)

    @staticmethod
    def _drop_empty(doc: dict, *members: str) -> dict:
        """moto answers `{}`/`[]` for members never set (PrimaryContainer of a multi-container
        model, VpcConfig, DataCaptureConfig); SageMaker leaves them out, and an empty
        VpcConfig or DataCaptureConfig would lack their required members."""
        for member in members:
            if member in doc and doc[member] in ({}, [], None):
                del doc[member]
        return doc

    def sagemaker_describe_model(self, req: Any) -> Response:
        response, parsed = self.ext.moto_json(req)
        if parsed is None:
            return response
        return _replace_body(response, self._drop_empty(parsed, "PrimaryContainer", "Containers", "VpcConfig"))

    def sagemaker_create_endpoint_config(self, req: Any) -> Response:
        """moto drops ShadowProductionVariants; keep them on moto's endpoint config. Their
        models must exist, as the production variants' must (moto checks those)."""
        shadow = req.json.get("ShadowProductionVariants")
        backend = self._sagemaker(req)
        for variant in shadow or []:
            if variant.get("ModelName") not in backend._models:
                arn = f"arn:aws:sagemaker:{req.region}:{req.account}:model/{variant.get('ModelName')}"
                raise ApiError("ValidationException", f"Could not find model '{arn}'.")
        response, parsed = self.ext.moto_json(req)
        if parsed is not None and shadow:
            config = backend.endpoint_configs.get(req.json.get("EndpointConfigName"))
            if config is not None:
                setattr(config, SHADOW_VARIANTS, copy.deepcopy(shadow))
        return response

    def sagemaker_describe_endpoint_config(self, req: Any) -> Response:
        response, parsed = self.ext.moto_json(req)
        if parsed is None:
            return response
        config = self._sagemaker(req).endpoint_configs.get(req.json.get("EndpointConfigName"))
        shadow = getattr(config, SHADOW_VARIANTS, None) if config is not None else None
        if shadow:
            parsed["ShadowProductionVariants"] = copy.deepcopy(shadow)
        return _replace_body(response, self._drop_empty(parsed, "DataCaptureConfig"))

    # -- CodeBuild ------------------------------------------------------------------------

    @staticmethod
    def _codebuild(req: Any) -> Any:
        from moto.codebuild.models import codebuild_backends
        return codebuild_backends[req.account][req.region]

    @staticmethod
    def _project_doc(project: Any) -> dict:
        """moto's project metadata in the Project shape: `lastModified` (moto:
        `lastModifiedDate`), no null members, `tags` a list."""
        doc = copy.deepcopy(project.project_metadata)
        if "lastModifiedDate" in doc:
            doc["lastModified"] = doc.pop("lastModifiedDate")
        if doc.get("tags") is None:
            doc["tags"] = []
        return drop_none(doc)

    def codebuild_list_projects(self, req: Any) -> Response:
        """Every project name, paged at 100 (moto: one page). `sortBy` NAME, CREATED_TIME or
        LAST_MODIFIED_TIME with `sortOrder`; unsorted, the order they were created in."""
        projects = list(self._codebuild(req).codebuild_projects.values())
        sort_by = req.json.get("sortBy")
        keys = {"NAME": "name", "CREATED_TIME": "created", "LAST_MODIFIED_TIME": "lastModifiedDate"}
        if sort_by in keys:
            projects.sort(key=lambda p: (p.project_metadata.get(keys[sort_by]) or 0, p.project_metadata["name"]),
                          reverse=req.json.get("sortOrder") == "DESCENDING")
        names = [p.project_metadata["name"] for p in projects]
        page, nxt = self.ext.paginate(req, "ListProjects", names, None)
        payload: dict[str, Any] = {"projects": page}
        if nxt:
            payload["nextToken"] = nxt
        return _json_response(200, payload, AWS_JSON_11)

    def codebuild_batch_get_projects(self, req: Any) -> Response:
        """Projects by name or ARN, in the order asked, and `projectsNotFound` (moto leaves it
        out). `names` holds 1 to 100 entries (model: `min=1 max=100`)."""
        names = req.json.get("names")
        if not isinstance(names, list) or not 1 <= len(names) <= 100:
            raise ApiError("InvalidInputException",
                           "1 validation error detected: Value at 'names' failed to satisfy constraint: "
                           "Member must have length less than or equal to 100 and greater than or equal to 1")
        projects = self._codebuild(req).codebuild_projects
        found, missing = [], []
        for name in names:
            project = projects.get(name) or next((p for p in projects.values() if p.arn == name), None)
            if project is None:
                missing.append(name)
            elif not any(d["arn"] == project.arn for d in found):
                found.append(self._project_doc(project))
        return _json_response(200, {"projects": found, "projectsNotFound": missing}, AWS_JSON_11)
