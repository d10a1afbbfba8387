#!/usr/bin/env python3
"""A seedable moto 5.2.5 server for ecrgc's tests.

    python testing/moto/ecrgc_moto.py --port 0

runs moto's WSGI application in this process, behind a WSGI middleware that adds what moto
lacks (see README.md beside this file): Inspector2 ListCoverage, Config
SelectAggregateResourceConfig, pagination of the list operations the collectors page
through, DescribeImages fields moto never fills, task image digests, fault injection and a
call log. It prints one line `READY http://127.0.0.1:PORT` when it listens, and exits when
its standard input reaches EOF (so a test that spawns it with a pipe never leaks it), on
SIGTERM or on SIGINT.

The caller's own account (static fake credentials, any access key moto does not know) is
111111111111; other accounts are reached with STS AssumeRole, exactly as moto does it.
"""

from __future__ import annotations

import argparse
import copy
import datetime as _dt
import hashlib
import io
import json
import os
import re
import signal
import sys
import threading
import time
import uuid
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs, parse_qsl, urlencode

DEFAULT_ACCOUNT = "111111111111"

# MOTO_ACCOUNT_ID would pin *every* request to one account (moto reads it before the access
# key), which breaks AssumeRole into other accounts. The default account is set below, by
# patching moto's DEFAULT_ACCOUNT_ID, which moto only uses for access keys it does not know.
os.environ.pop("MOTO_ACCOUNT_ID", None)
# The extension resolves Lambda image URIs itself (see _lambda_*); moto's stub is kept.
os.environ.setdefault("MOTO_LAMBDA_STUB_ECR", "TRUE")

import botocore.session  # noqa: E402
import moto.core  # noqa: E402
import moto.core.models  # noqa: E402
import moto.iam.models  # noqa: E402

for _module in (moto.core, moto.core.models, moto.iam.models):
    _module.DEFAULT_ACCOUNT_ID = DEFAULT_ACCOUNT

from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server  # noqa: E402

from ecrgc_moto_base import (  # noqa: E402
    ApiError,
    Pager,
    Response,
    _json_response,
    _replace_body,
    _status_line,
    decode_token,
    encode_token,
    now_epoch,
    to_epoch,
)

# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------

_BOTO = botocore.session.get_session()
_MODELS: dict[str, Any] = {}
_MODELS_LOCK = threading.Lock()


def service_model(name: str) -> Any | None:
    with _MODELS_LOCK:
        if name not in _MODELS:
            try:
                _MODELS[name] = _BOTO.get_service_model(name)
            except Exception:  # unknown service
                _MODELS[name] = None
        return _MODELS[name]


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


PAGERS: dict[tuple[str, str], Pager] = {
    ("ecr", "DescribeRepositories"): Pager("repositories", "nextToken", "maxResults", "nextToken", 100, "InvalidParameterException"),
    ("ecr", "DescribeImages"): Pager("imageDetails", "nextToken", "maxResults", "nextToken", 100, "InvalidParameterException"),
    ("ecr", "ListImages"): Pager("imageIds", "nextToken", "maxResults", "nextToken", 100, "InvalidParameterException"),
    ("ecr", "ListPullTimeUpdateExclusions"): Pager("pullTimeUpdateExclusions", "nextToken", "maxResults", "nextToken", 100, "InvalidParameterException"),
    ("ecr", "ListImageReferrers"): Pager("referrers", "nextToken", "maxResults", "nextToken", 50, "InvalidParameterException"),
    ("ecr", "DescribePullThroughCacheRules"): Pager("pullThroughCacheRules", "nextToken", "maxResults", "nextToken", 100, "InvalidParameterException"),
    ("ecr", "DescribeRepositoryCreationTemplates"): Pager("repositoryCreationTemplates", "nextToken", "maxResults", "nextToken", 100, "InvalidParameterException"),
    ("ecs", "ListClusters"): Pager("clusterArns", "nextToken", "maxResults", "nextToken", 100, "InvalidParameterException"),
    ("ecs", "ListServices"): Pager("serviceArns", "nextToken", "maxResults", "nextToken", 10, "InvalidParameterException"),
    ("ecs", "ListTasks"): Pager("taskArns", "nextToken", "maxResults", "nextToken", 100, "InvalidParameterException"),
    ("ecs", "ListTaskDefinitions"): Pager("taskDefinitionArns", "nextToken", "maxResults", "nextToken", 100, "InvalidParameterException"),
    ("ecs", "ListServiceDeployments"): Pager("serviceDeployments", "nextToken", "maxResults", "nextToken", 20, "InvalidParameterException"),
    ("lambda", "ListFunctions"): Pager("Functions", "Marker", "MaxItems", "NextMarker", 50, "InvalidParameterValueException", query=True),
    ("lambda", "ListVersionsByFunction"): Pager("Versions", "Marker", "MaxItems", "NextMarker", 50, "InvalidParameterValueException", query=True),
    ("lambda", "ListAliases"): Pager("Aliases", "Marker", "MaxItems", "NextMarker", 50, "InvalidParameterValueException", query=True),
    ("organizations", "ListAccounts"): Pager("Accounts", "NextToken", "MaxResults", "NextToken", 20, "InvalidInputException"),
    ("inspector2", "ListCoverage"): Pager("coveredResources", "nextToken", "maxResults", "nextToken", 100, "ValidationException"),
    ("config", "SelectAggregateResourceConfig"): Pager("Results", "NextToken", "Limit", "NextToken", 100, "InvalidNextTokenException"),
    ("config", "DescribeConfigurationAggregatorSourcesStatus"): Pager("AggregatedSourceStatusList", "NextToken", "Limit", "NextToken", 100, "InvalidNextTokenException"),
}

# Services in modules of their own, each with its seed keys, pagers, handlers and state:
# EKS clusters and App Runner services (seeded), Batch, SageMaker and CodeBuild (moto's,
# answered in botocore's shapes).
from ecrgc_moto_eks_apprunner import EksAppRunner  # noqa: E402
from ecrgc_moto_workloads import Workloads  # noqa: E402

SERVICE_MODULES = (EksAppRunner, Workloads)
for _module_class in SERVICE_MODULES:
    PAGERS.update(_module_class.PAGERS)


# --------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/aws4_request")
# SigV4 signing name -> botocore service name, where they differ.
_SIGNING_TO_SERVICE = {"execute-api": "apigateway", "states": "stepfunctions"}
_REST_OPS: dict[str, list[tuple[str, re.Pattern, list[str], int, str]]] = {}


def _rest_operations(service: str) -> list[tuple[str, re.Pattern, list[str], int, str]]:
    with _MODELS_LOCK:
        cached = _REST_OPS.get(service)
    if cached is not None:
        return cached
    model = service_model(service)
    table = []
    for name in model.operation_names if model else []:
        http = model.operation_model(name).http
        path, _, query = http.get("requestUri", "/").partition("?")
        parts = re.split(r"(\{[^}]+\})", path)
        pattern, literal = "", 0
        for part in parts:
            if part.startswith("{") and part.endswith("}"):
                pattern += "(.+)" if part.endswith("+}") else "([^/]+)"
            else:
                pattern += re.escape(part)
                literal += len(part)
        required = [kv.split("=")[0] for kv in query.split("&") if kv]
        table.append((http.get("method", "POST"), re.compile("^" + pattern.rstrip("/") + "/?$"),
                      required, literal, name))
    with _MODELS_LOCK:
        _REST_OPS[service] = table
    return table


class Req:
    """What the middleware needs to know about one AWS request."""

    def __init__(self, environ: dict, body: bytes):
        self.environ = environ
        self.body = body
        self.method = environ.get("REQUEST_METHOD", "GET")
        self.path = environ.get("PATH_INFO", "")
        self.query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        auth = environ.get("HTTP_AUTHORIZATION", "")
        match = _CREDENTIAL.search(auth)
        self.access_key = match.group(1) if match else None
        self.region = match.group(2) if match else "us-east-1"
        self.signing_name = match.group(3).lower() if match else None
        self.service = _SIGNING_TO_SERVICE.get(self.signing_name, self.signing_name) if self.signing_name else None
        model = service_model(self.service) if self.service else None
        self.protocol = model.metadata.get("protocol") if model else None
        self.operation: str | None = None
        self.form: dict[str, str] = {}
        self._json: Any = None
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            self.operation = target.split(".")[-1]
            # An X-Amz-Target request is awsJson, also for a service whose model lists another
            # protocol first (CodeBuild: smithy-rpc-v2-cbor, then json, which the SDKs send).
            if self.protocol is None or environ.get("CONTENT_TYPE", "").startswith("application/x-amz-json"):
                self.protocol = "json"
        elif self.protocol == "query" or (environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded")):
            self.form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            self.form.update({k: v[0] for k, v in self.query.items() if k not in self.form})
            self.operation = self.form.get("Action")
        elif self.protocol in ("rest-json", "rest-xml") and self.service:
            self.operation = self._match_rest()
        self.account = self._account()

    def _match_rest(self) -> str | None:
        best: tuple[int, str] | None = None
        for method, pattern, required, literal, name in _rest_operations(self.service):
            if method != self.method or not pattern.match(self.path):
                continue
            if any(key not in self.query for key in required):
                continue
            score = literal + 1000 * len(required)
            if best is None or score > best[0]:
                best = (score, name)
        return best[1] if best else None

    def _account(self) -> str:
        # The same order moto follows (moto.core.responses.BaseResponse.get_current_account),
        # less MOTO_ACCOUNT_ID, which this server never sets.
        header = self.environ.get("HTTP_X_MOTO_ACCOUNT_ID")
        if header:
            return header
        if not self.access_key:
            return DEFAULT_ACCOUNT
        return moto.iam.models.get_account_id_from(self.access_key)

    @property
    def json(self) -> dict:
        if self._json is None:
            try:
                self._json = json.loads(self.body or b"{}")
            except ValueError:
                self._json = {}
            if not isinstance(self._json, dict):
                self._json = {}
        return self._json


# --------------------------------------------------------------------------------------
# Seeded state
# --------------------------------------------------------------------------------------

IMAGE_OVERRIDE_FIELDS = {
    "image_pushed_at": "imagePushedAt",
    "last_recorded_pull_time": "lastRecordedPullTime",
    "image_status": "imageStatus",
    "subject_manifest_digest": "subjectManifestDigest",
    "artifact_media_type": "artifactMediaType",
    "image_size_in_bytes": "imageSizeInBytes",
    "last_archived_at": "lastArchivedAt",
    "last_activated_at": "lastActivatedAt",
}
TIMESTAMP_FIELDS = {"imagePushedAt", "lastRecordedPullTime", "lastArchivedAt", "lastActivatedAt"}
TASK_OVERRIDE_FIELDS = {
    "created_at": "createdAt", "started_at": "startedAt", "stopping_at": "stoppingAt",
    "stopped_at": "stoppedAt", "execution_stopped_at": "executionStoppedAt",
    "last_status": "lastStatus", "desired_status": "desiredStatus",
    "stopped_reason": "stoppedReason", "stop_code": "stopCode",
}
TASK_DEFINITION_OVERRIDE_FIELDS = {"registered_at": "registeredAt", "deregistered_at": "deregisteredAt"}
SEED_KEYS = {"images", "coverage", "aggregators", "task_image_digests", "task_overrides",
             "task_definition_overrides", "organization_accounts", "page_size", "faults",
             "inspector2_delegated_admin", "ecr_record_pulls", "delays",
             "inspector2_configuration"}
SEED_KEYS |= {"service_revisions", "service_deployments", "vanished_services", "triggers"}
SEED_KEYS |= {"repeat_tokens"}
for _module_class in SERVICE_MODULES:
    SEED_KEYS |= _module_class.SEED_KEYS


def _ecs_arn(account: str, region: str, kind: str, *path: str) -> str:
    return f"arn:aws:ecs:{region}:{account}:{kind}/" + "/".join(path)


def _arn_account_region(arn: str) -> tuple[str, str]:
    parts = arn.split(":")
    return (parts[4], parts[3]) if len(parts) > 5 else ("", "")


def _last(name_or_arn: str) -> str:
    return name_or_arn.rsplit("/", 1)[-1]


class ServiceHistory:
    """ECS service revisions and service deployments, which moto 5.2.5 does not have.

    A service's key is (account, region, cluster name, service name). CreateService, and an
    UpdateService that starts a deployment (a new taskDefinition or forceNewDeployment),
    record a revision whose containerImages carry the digest each image tag names in moto's
    ECR at that moment (ECS version consistency; none for a container whose
    `versionConsistency` is `disabled`), and a SUCCESSFUL deployment from the current
    revisions to it; DeleteService drops them ("Amazon ECS deletes the service revision when
    you delete a service"). Seeds add or patch revisions and deployments (README.md).
    Callers hold State.lock.
    """

    REVISION_FIELDS = {"task_definition": "taskDefinition", "created_at": "createdAt",
                       "launch_type": "launchType"}
    DEPLOYMENT_FIELDS = {"status": "status", "status_reason": "statusReason", "created_at": "createdAt",
                         "started_at": "startedAt", "finished_at": "finishedAt", "stopped_at": "stoppedAt",
                         "updated_at": "updatedAt"}

    def __init__(self) -> None:
        self.revisions: dict[str, dict] = {}
        self.deployments: dict[str, dict] = {}
        self.current: dict[tuple, list[str]] = {}
        self.vanished: set[tuple] = set()

    @staticmethod
    def key(account: str, region: str, cluster: str | None, service: str) -> tuple:
        return (account, region, _last(cluster or "default"), _last(service))

    def _service_arn(self, key: tuple) -> str:
        account, region, cluster, service = key
        try:
            from moto.ecs.models import ecs_backends
            found = ecs_backends[account][region].services.get(f"{cluster}:{service}")
            if found is not None:
                return found.arn
        except Exception:
            pass
        return _ecs_arn(account, region, "service", service)

    def add_revision(self, key: tuple, task_definition: str | None, images: list[dict],
                     created_at: Any, launch_type: str | None = None, arn: str | None = None) -> str:
        account, region, cluster, service = key
        arn = arn or _ecs_arn(account, region, "service-revision", cluster, service,
                              str(uuid.uuid4().int % 10 ** 19))
        revision = {"serviceRevisionArn": arn, "serviceArn": self._service_arn(key),
                    "clusterArn": _ecs_arn(account, region, "cluster", cluster),
                    "containerImages": images, "createdAt": to_epoch(created_at)}
        if task_definition:
            revision["taskDefinition"] = task_definition
        if launch_type:
            revision["launchType"] = launch_type
        self.revisions[arn] = {"key": key, "doc": revision}
        return arn

    def add_deployment(self, key: tuple, target: str | None, sources: list[str], created_at: Any,
                       status: str = "SUCCESSFUL", arn: str | None = None) -> str:
        account, region, cluster, service = key
        arn = arn or _ecs_arn(account, region, "service-deployment", cluster, service,
                              uuid.uuid4().hex[:20])
        moment = to_epoch(created_at)
        doc = {"serviceDeploymentArn": arn, "serviceArn": self._service_arn(key),
               "clusterArn": _ecs_arn(account, region, "cluster", cluster),
               "createdAt": moment, "startedAt": moment, "finishedAt": moment, "updatedAt": moment,
               "status": status}
        self.deployments[arn] = {"key": key, "doc": doc, "target": target, "sources": list(sources)}
        return arn

    def deploy(self, key: tuple, task_definition: str | None, images: list[dict], moment: float,
               launch_type: str | None) -> None:
        """A deployment to a new revision, from the service's current ones."""
        revision = self.add_revision(key, task_definition, images, moment, launch_type)
        self.add_deployment(key, revision, self.current.get(key, []), moment)
        self.current[key] = [revision]

    def drop(self, key: tuple) -> None:
        self.current.pop(key, None)
        self.revisions = {a: r for a, r in self.revisions.items() if r["key"] != key}
        self.deployments = {a: d for a, d in self.deployments.items() if d["key"] != key}

    def _revision_summary(self, arn: str, counts: dict | None = None) -> dict:
        out = {"arn": arn}
        for field in ("requestedTaskCount", "runningTaskCount", "pendingTaskCount"):
            out[field] = (counts or {}).get(field, 0)
        return out

    def deployment_doc(self, arn: str, brief: bool) -> dict:
        entry = self.deployments[arn]
        doc = dict(entry["doc"])
        if brief:
            doc = {k: v for k, v in doc.items() if k in (
                "serviceDeploymentArn", "serviceArn", "clusterArn", "startedAt", "createdAt",
                "finishedAt", "status", "statusReason")}
            if entry["target"]:
                doc["targetServiceRevisionArn"] = entry["target"]
        else:
            doc.pop("targetServiceRevisionArn", None)
            if entry["target"]:
                doc["targetServiceRevision"] = self._revision_summary(entry["target"])
            doc["sourceServiceRevisions"] = [self._revision_summary(s) for s in entry["sources"]]
        return {k: v for k, v in doc.items() if v is not None}

    def seed(self, doc: dict) -> dict[str, int]:
        for row in doc.get("service_revisions") or []:
            key = self.key(row["account_id"], row["region"], row.get("cluster"), row["service"])
            images = [{"containerName": i.get("container_name"), "image": i.get("image"),
                       "imageDigest": i.get("image_digest")} for i in row.get("container_images") or []]
            images = [{k: v for k, v in i.items() if v is not None} for i in images]
            arn = row.get("service_revision_arn")
            if arn in self.revisions:
                revision = self.revisions[arn]["doc"]
                if "container_images" in row:
                    revision["containerImages"] = images
                for name, field in self.REVISION_FIELDS.items():
                    if row.get(name) is not None:
                        revision[field] = to_epoch(row[name]) if field == "createdAt" else row[name]
            else:
                arn = self.add_revision(key, row.get("task_definition"), images,
                                        row.get("created_at") or now_epoch(), row.get("launch_type"), arn)
            if row.get("current"):
                self.current[key] = [arn]
        for row in doc.get("service_deployments") or []:
            key = self.key(row["account_id"], row["region"], row.get("cluster"), row["service"])
            arn = row.get("service_deployment_arn")
            if arn not in self.deployments:
                arn = self.add_deployment(key, row.get("target_service_revision_arn"),
                                          row.get("source_service_revision_arns") or [],
                                          row.get("created_at") or now_epoch(), row.get("status") or "SUCCESSFUL",
                                          arn)
            entry = self.deployments[arn]
            if "target_service_revision_arn" in row:
                entry["target"] = row["target_service_revision_arn"]
            if "source_service_revision_arns" in row:
                entry["sources"] = list(row["source_service_revision_arns"] or [])
            for name, field in self.DEPLOYMENT_FIELDS.items():
                if name in row:
                    value = row[name]
                    entry["doc"][field] = to_epoch(value) if field.endswith("At") else value
        for row in doc.get("vanished_services") or []:
            self.vanished.add(self.key(row["account_id"], row["region"], row.get("cluster"), row["service"]))
        return {name: len(doc.get(name) or []) for name in
                ("service_revisions", "service_deployments", "vanished_services")}

    def snapshot(self) -> dict:
        return {
            "service_revisions": [dict(r["doc"], current=a in self.current.get(r["key"], []))
                                  for a, r in self.revisions.items()],
            "service_deployments": [self.deployment_doc(a, brief=False) for a in self.deployments],
            "vanished_services": [dict(zip(("account_id", "region", "cluster", "service"), k))
                                  for k in sorted(self.vanished)],
        }


class State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        # The service modules' states (SERVICE_MODULES), set by the Extension.
        self.modules: list[Any] = []
        self.clear()

    def clear(self) -> None:
        with self.lock:
            self.images: dict[tuple, dict] = {}
            self.coverage: dict[tuple, dict] = {}
            self.aggregators: dict[tuple, dict[tuple, dict]] = {}
            # Seeded source statuses per aggregator (None: every account × region of its items
            # SUCCEEDED, as a healthy aggregator reports).
            self.aggregator_sources: dict[tuple, list[dict]] = {}
            self.task_digests: dict[tuple, str] = {}
            self.task_overrides: dict[tuple, dict] = {}
            self.td_overrides: dict[tuple, dict] = {}
            self.td_times: dict[str, dict[str, float]] = {}
            self.org_accounts: dict[str, dict] = {}
            self.page_size: dict[str, int] = {}
            self.faults: list[dict] = []
            # Paginated operations whose answers repeat the token they were asked with: a
            # broken (or hostile) service that would keep a naive listing loop going for ever.
            self.repeat_tokens: list[dict] = []
            self.inspector_admins: set[str] = set()
            # (account, region) -> the seeded ecrConfiguration.rescanDurationState fields
            self.inspector_configuration: dict[tuple, dict] = {}
            self.calls: dict[tuple, dict] = {}
            self.task_times: dict[str, dict[str, float]] = {}
            self.lambda_digests: dict[tuple, str] = {}
            self.pull_exclusions: dict[tuple, dict[str, float]] = {}
            self.record_pulls = False
            self.delays: dict[tuple, float] = {}
            # One-shot world changes made right after the Nth matching call was answered.
            self.triggers: list[dict] = []
            # Registry settings per (account, region): the replication configuration as put,
            # pull through cache rules and creation templates by prefix.
            self.replication: dict[tuple, dict] = {}
            self.pull_through_rules: dict[tuple, dict[str, dict]] = {}
            self.creation_templates: dict[tuple, dict[str, dict]] = {}
            self.services = ServiceHistory()
            for module in self.modules:
                module.clear()

    def seed(self, doc: dict) -> dict:
        if not isinstance(doc, dict):
            raise ValueError("the seed document must be a JSON object")
        unknown = set(doc) - SEED_KEYS
        if unknown:
            raise ValueError(f"unknown seed keys: {sorted(unknown)}")
        counts: dict[str, int] = {}
        with self.lock:
            for row in doc.get("images") or []:
                key = (row["account_id"], row["region"], row["repository_name"], row["image_digest"])
                entry = self.images.setdefault(key, {})
                for name, field in IMAGE_OVERRIDE_FIELDS.items():
                    if name in row:
                        entry[field] = row[name]
            counts["images"] = len(doc.get("images") or [])
            for row in doc.get("coverage") or []:
                key = (row["account_id"], row["region"], row["repository_name"], row["image_digest"])
                self.coverage[key] = dict(row)
            counts["coverage"] = len(doc.get("coverage") or [])
            for agg in doc.get("aggregators") or []:
                if "sources" in agg:
                    self.aggregator_sources[(agg["account_id"], agg["region"], agg["name"])] = [
                        dict(s) for s in agg["sources"]]
                items = self.aggregators.setdefault((agg["account_id"], agg["region"], agg["name"]), {})
                for item in agg.get("items") or []:
                    item = dict(item)
                    item.setdefault("resourceType", "AWS::ECS::TaskDefinition")
                    ident = (item.get("accountId"), item.get("awsRegion"), item["resourceType"], item.get("resourceId"))
                    items[ident] = item
            counts["aggregators"] = len(doc.get("aggregators") or [])
            for row in doc.get("task_image_digests") or []:
                self.task_digests[(row["account_id"], row["region"], row["image"])] = row["image_digest"]
            counts["task_image_digests"] = len(doc.get("task_image_digests") or [])
            for row in doc.get("task_overrides") or []:
                entry = self.task_overrides.setdefault((row["account_id"], row["region"], row["task_arn"]), {})
                for name, field in TASK_OVERRIDE_FIELDS.items():
                    if name in row:
                        entry[field] = row[name]
            counts["task_overrides"] = len(doc.get("task_overrides") or [])
            for row in doc.get("task_definition_overrides") or []:
                key = (row["account_id"], row["region"], row["task_definition_arn"])
                entry = self.td_overrides.setdefault(key, {})
                for name, field in TASK_DEFINITION_OVERRIDE_FIELDS.items():
                    if name in row:
                        entry[field] = row[name]
            counts["task_definition_overrides"] = len(doc.get("task_definition_overrides") or [])
            for acct in doc.get("organization_accounts") or []:
                self.org_accounts[acct["Id"]] = {**self.org_accounts.get(acct["Id"], {}), **acct}
            counts["organization_accounts"] = len(doc.get("organization_accounts") or [])
            for name, size in (doc.get("page_size") or {}).items():
                if size is None:
                    self.page_size.pop(name, None)
                else:
                    if int(size) < 1:
                        raise ValueError("page sizes must be >= 1")
                    self.page_size[name] = int(size)
            for fault in doc.get("faults") or []:
                fault = {
                    "account_id": fault.get("account_id"), "region": fault.get("region"),
                    "service": fault.get("service"), "operation": fault.get("operation"),
                    "status": int(fault.get("status") or 400), "code": fault["code"],
                    "message": fault.get("message") or f"{fault['code']} (injected by ecrgc_moto)",
                    "times": fault.get("times"), "answered": 0,
                }
                self.faults.append(fault)
            counts["faults"] = len(doc.get("faults") or [])
            for rule in doc.get("repeat_tokens") or []:
                self.repeat_tokens.append({
                    "account_id": rule.get("account_id"), "region": rule.get("region"),
                    "service": rule["service"], "operation": rule["operation"],
                })
            counts["repeat_tokens"] = len(doc.get("repeat_tokens") or [])
            for delay in doc.get("delays") or []:
                # Seconds each matching call waits before it is answered: lets a test stop a
                # client in the middle of a run.
                self.delays[(delay["service"], delay["operation"])] = float(delay["ms"]) / 1000.0
            counts["delays"] = len(doc.get("delays") or [])
            for trigger in doc.get("triggers") or []:
                # After the `after`-th answered call matching every non-null field, once: the
                # `images` rows are merged as seeded ones, and each of `tags` is added to its
                # image (a person tagging it in between two of a client's calls).
                self.triggers.append({
                    "account_id": trigger.get("account_id"), "region": trigger.get("region"),
                    "service": trigger["service"], "operation": trigger["operation"],
                    "repository_name": trigger.get("repository_name"),
                    "after": int(trigger.get("after") or 1), "seen": 0, "fired": False,
                    "images": list(trigger.get("images") or []),
                    "tags": list(trigger.get("tags") or []),
                })
            counts["triggers"] = len(doc.get("triggers") or [])
            counts.update(self.services.seed(doc))
            for module in self.modules:
                counts.update(module.seed(doc))
            if "ecr_record_pulls" in doc:
                self.record_pulls = bool(doc["ecr_record_pulls"])
            for row in doc.get("inspector2_configuration") or []:
                self.inspector_configuration[(row["account_id"], row["region"])] = dict(row)
            counts["inspector2_configuration"] = len(doc.get("inspector2_configuration") or [])
            admin = doc.get("inspector2_delegated_admin")
            if admin:
                self.inspector_admins.update([admin] if isinstance(admin, str) else admin)
        return counts

    def page_for(self, service: str) -> int | None:
        with self.lock:
            if service in self.page_size:
                return self.page_size[service]
            return self.page_size.get("default")

    def record(self, req: Req) -> None:
        key = (req.account, req.region, req.service, req.operation)
        with self.lock:
            entry = self.calls.setdefault(key, {"count": 0, "image_digests": [], "image_tags": []})
            entry["count"] += 1
            if req.service == "ecr" and req.operation in ("BatchGetImage", "BatchDeleteImage"):
                for image_id in req.json.get("imageIds") or []:
                    if image_id.get("imageDigest"):
                        entry["image_digests"].append(image_id["imageDigest"])
                    if image_id.get("imageTag"):
                        entry["image_tags"].append(image_id["imageTag"])

    def match_fault(self, req: Req) -> dict | None:
        with self.lock:
            for fault in self.faults:
                if fault["times"] is not None and fault["answered"] >= fault["times"]:
                    continue
                if fault["account_id"] is not None and fault["account_id"] != req.account:
                    # AssumeRole is also matched on the account of the role it asks for.
                    role_arn = req.form.get("RoleArn", "") if req.operation == "AssumeRole" else ""
                    if f":{fault['account_id']}:" not in role_arn:
                        continue
                if fault["region"] is not None and fault["region"] != req.region:
                    continue
                if fault["service"] is not None and fault["service"] != req.service:
                    continue
                if fault["operation"] is not None and fault["operation"] != req.operation:
                    continue
                fault["answered"] += 1
                return fault
        return None

    def repeats_token(self, req: Req) -> bool:
        with self.lock:
            return any(
                r["service"] == req.service and r["operation"] == req.operation
                and r["account_id"] in (None, req.account) and r["region"] in (None, req.region)
                for r in self.repeat_tokens)

    def due_triggers(self, req: Req) -> list[dict]:
        """The triggers this answered call fires (each fires once)."""
        due = []
        with self.lock:
            for t in self.triggers:
                if t["fired"] or t["service"] != req.service or t["operation"] != req.operation:
                    continue
                if t["account_id"] is not None and t["account_id"] != req.account:
                    continue
                if t["region"] is not None and t["region"] != req.region:
                    continue
                if t["repository_name"] is not None and t["repository_name"] != req.json.get("repositoryName"):
                    continue
                t["seen"] += 1
                if t["seen"] >= t["after"]:
                    t["fired"] = True
                    due.append(t)
        return due

    def calls_report(self) -> list[dict]:
        with self.lock:
            rows = []
            for (account, region, service, operation), entry in sorted(
                    self.calls.items(), key=lambda kv: tuple(str(x) for x in kv[0])):
                row = {"account_id": account, "region": region, "service": service,
                       "operation": operation, "count": entry["count"]}
                if service == "ecr" and operation in ("BatchGetImage", "BatchDeleteImage"):
                    row["image_digests"] = list(entry["image_digests"])
                    row["image_tags"] = list(entry["image_tags"])
                rows.append(row)
            return rows

    def snapshot(self) -> dict:
        with self.lock:
            return {
                "images": [dict(zip(("account_id", "region", "repository_name", "image_digest"), k), **v)
                           for k, v in self.images.items()],
                "coverage": list(self.coverage.values()),
                "aggregators": [{"account_id": k[0], "region": k[1], "name": k[2], "items": list(v.values())}
                                for k, v in self.aggregators.items()],
                "task_image_digests": [{"account_id": k[0], "region": k[1], "image": k[2], "image_digest": v}
                                       for k, v in self.task_digests.items()],
                "task_overrides": [dict(zip(("account_id", "region", "task_arn"), k), **v)
                                   for k, v in self.task_overrides.items()],
                "task_definition_overrides": [dict(zip(("account_id", "region", "task_definition_arn"), k), **v)
                                              for k, v in self.td_overrides.items()],
                "organization_accounts": list(self.org_accounts.values()),
                "page_size": dict(self.page_size),
                "faults": [dict(f) for f in self.faults],
                "repeat_tokens": [dict(r) for r in self.repeat_tokens],
                "inspector2_delegated_admin": sorted(self.inspector_admins),
                "inspector2_configuration": list(self.inspector_configuration.values()),
                "ecr_record_pulls": self.record_pulls,
                "delays": [{"service": k[0], "operation": k[1], "ms": v * 1000.0} for k, v in self.delays.items()],
                "triggers": [dict(t) for t in self.triggers],
                **self.services.snapshot(),
                **{k: v for module in self.modules for k, v in module.snapshot().items()},
            }


# --------------------------------------------------------------------------------------
# The middleware
# --------------------------------------------------------------------------------------

class Extension:
    def __init__(self, moto_app: Callable) -> None:
        self.moto = moto_app
        self.state = State()
        self.handlers: dict[tuple[str, str], Callable[[Req], Response]] = {
            ("ecr", "PutImage"): self.ecr_put_image,
            ("ecr", "DescribeRepositories"): self.ecr_describe_repositories,
            ("ecr", "DescribeImages"): self.ecr_describe_images,
            ("ecr", "ListImages"): self.ecr_list_images,
            ("ecr", "BatchDeleteImage"): self.ecr_batch_delete_image,
            ("ecr", "ListImageReferrers"): self.ecr_list_image_referrers,
            ("ecr", "UpdateImageStorageClass"): self.ecr_update_image_storage_class,
            ("ecr", "BatchGetImage"): self.ecr_batch_get_image,
            ("ecr", "RegisterPullTimeUpdateExclusion"): self.ecr_pull_exclusion,
            ("ecr", "DeregisterPullTimeUpdateExclusion"): self.ecr_pull_exclusion,
            ("ecr", "ListPullTimeUpdateExclusions"): self.ecr_pull_exclusion,
            ("ecr", "PutReplicationConfiguration"): self.ecr_put_replication,
            ("ecr", "DescribeRegistry"): self.ecr_describe_registry,
            ("ecr", "CreatePullThroughCacheRule"): self.ecr_create_pull_through_rule,
            ("ecr", "DescribePullThroughCacheRules"): self.ecr_describe_pull_through_rules,
            ("ecr", "CreateRepositoryCreationTemplate"): self.ecr_create_creation_template,
            ("ecr", "DescribeRepositoryCreationTemplates"): self.ecr_describe_creation_templates,
            ("ecs", "ListClusters"): self.paged_json_passthrough,
            ("ecs", "ListServices"): self.ecs_list_services,
            ("ecs", "ListTaskDefinitions"): self.ecs_list_task_definitions,
            ("ecs", "ListTasks"): self.ecs_list_tasks,
            ("ecs", "DescribeTasks"): self.ecs_describe_tasks,
            ("ecs", "RunTask"): self.ecs_run_task,
            ("ecs", "StartTask"): self.ecs_run_task,
            ("ecs", "StopTask"): self.ecs_stop_task,
            ("ecs", "RegisterTaskDefinition"): self.ecs_task_definition,
            ("ecs", "DeregisterTaskDefinition"): self.ecs_task_definition,
            ("ecs", "DescribeTaskDefinition"): self.ecs_task_definition,
            ("ecs", "CreateService"): self.ecs_create_or_update_service,
            ("ecs", "UpdateService"): self.ecs_create_or_update_service,
            ("ecs", "DeleteService"): self.ecs_delete_service,
            ("ecs", "DescribeServices"): self.ecs_describe_services,
            ("ecs", "DescribeServiceRevisions"): self.ecs_describe_service_revisions,
            ("ecs", "ListServiceDeployments"): self.ecs_list_service_deployments,
            ("ecs", "DescribeServiceDeployments"): self.ecs_describe_service_deployments,
            ("lambda", "ListFunctions"): self.lambda_list,
            ("lambda", "ListVersionsByFunction"): self.lambda_list,
            ("lambda", "ListAliases"): self.lambda_list,
            ("lambda", "CreateFunction"): self.lambda_deploy,
            ("lambda", "UpdateFunctionCode"): self.lambda_deploy,
            ("lambda", "GetFunction"): self.lambda_get_function,
            ("lambda", "PublishVersion"): self.lambda_fix_configuration,
            ("lambda", "GetFunctionConfiguration"): self.lambda_fix_configuration,
            ("organizations", "ListAccounts"): self.org_list_accounts,
            ("inspector2", "ListCoverage"): self.inspector_list_coverage,
            ("inspector2", "GetConfiguration"): self.inspector_get_configuration,
            ("config", "SelectAggregateResourceConfig"): self.config_select_aggregate,
            ("config", "DescribeConfigurationAggregatorSourcesStatus"): self.config_sources_status,
        }
        self._moto_hosts: dict[str, bool] = {}
        self.state.modules = [module_class(self) for module_class in SERVICE_MODULES]
        for module in self.state.modules:
            self.handlers.update(module.handlers())
        self._configure_moto()

    # -- plumbing ----------------------------------------------------------------------

    @staticmethod
    def _configure_moto() -> None:
        # moto advances an ECS task one lifecycle state per DescribeTasks call, so a RUNNING
        # task reads DEACTIVATING on its second look. Keep tasks where RunTask/StopTask put them.
        from moto.moto_api import state_manager
        state_manager.set_transition("ecs::task", {"progression": "manual", "times": 10 ** 12})

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        try:
            if path.startswith("/_ecrgc/"):
                status, headers, body = self.admin(environ)
            elif path.startswith("/moto-api") or path.startswith("/latest/"):
                return self.moto(environ, start_response)
            else:
                status, headers, body = self.aws(environ)
        except Exception as exc:  # a bug here must show, not hang the client
            import traceback
            traceback.print_exc()
            status, headers, body = _json_response(500, {"__type": "InternalFailure", "message": f"ecrgc_moto: {exc!r}"})
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(body))))
        start_response(_status_line(status), headers)
        return [body]

    @staticmethod
    def _read_body(environ: dict) -> bytes:
        stream = environ.get("wsgi.input")
        if stream is None:
            return b""
        length = environ.get("CONTENT_LENGTH")
        if length:
            body = stream.read(int(length))
        elif environ.get("wsgi.input_terminated"):
            body = stream.read()
        else:
            body = b""
        return body

    def call_moto(self, environ: dict, body: bytes, query: str | None = None) -> Response:
        env = dict(environ)
        env.pop("werkzeug.request", None)
        env["wsgi.input"] = io.BytesIO(body)
        env["CONTENT_LENGTH"] = str(len(body))
        env.pop("HTTP_TRANSFER_ENCODING", None)
        env.pop("wsgi.input_terminated", None)
        if query is not None:
            env["QUERY_STRING"] = query
        captured: dict[str, Any] = {}

        def start(status: str, headers: list, exc_info: Any = None) -> Callable:
            captured["status"] = int(status.split()[0])
            captured["headers"] = list(headers)
            return lambda data: None

        result = self.moto(env, start)
        try:
            data = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        return captured["status"], captured["headers"], data

    def moto_json(self, req: Req, payload: dict | None = None, query: dict | None = None) -> tuple[Response, Any]:
        """Call moto with a (possibly rewritten) request; return its response and parsed body."""
        body = req.body if payload is None else json.dumps(payload).encode()
        qs = None if query is None else urlencode(query, doseq=True)
        response = self.call_moto(req.environ, body, qs)
        parsed = None
        if 200 <= response[0] < 300:
            try:
                parsed = json.loads(response[2] or b"{}")
            except ValueError:
                parsed = None
        return response, parsed

    # -- /_ecrgc routes ------------------------------------------------------------------

    def admin(self, environ: dict) -> Response:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        body = self._read_body(environ)
        if path == "/_ecrgc/seed" and method == "POST":
            try:
                counts = self.state.seed(json.loads(body or b"{}"))
            except (ValueError, KeyError, TypeError) as exc:
                return _json_response(400, {"error": f"bad seed document: {exc!r}"})
            return _json_response(200, {"status": "ok", "merged": counts})
        if path == "/_ecrgc/seed" and method == "GET":
            return _json_response(200, self.state.snapshot())
        if path == "/_ecrgc/reset" and method == "POST":
            env = dict(environ, PATH_INFO="/moto-api/reset", REQUEST_METHOD="POST")
            status, _, data = self.call_moto(env, b"")
            self.state.clear()
            self._configure_moto()
            return _json_response(200 if status == 200 else 500, {"status": "ok" if status == 200 else data.decode()})
        if path == "/_ecrgc/calls" and method == "GET":
            return _json_response(200, self.state.calls_report())
        if path == "/_ecrgc/calls/reset" and method == "POST":
            with self.state.lock:
                self.state.calls.clear()
            return _json_response(200, {"status": "ok"})
        if path == "/_ecrgc/faults/reset" and method == "POST":
            with self.state.lock:
                self.state.faults.clear()
                self.state.repeat_tokens.clear()
            return _json_response(200, {"status": "ok"})
        return _json_response(404, {"error": f"no route {method} {path}"})

    # -- AWS requests --------------------------------------------------------------------

    def aws(self, environ: dict) -> Response:
        body = self._read_body(environ)
        req = Req(environ, body)
        if req.service is None:
            return self.call_moto(environ, body)
        self.state.record(req)
        with self.state.lock:
            delay = self.state.delays.get((req.service, req.operation))
        if delay:
            time.sleep(delay)
        fault = self.state.match_fault(req)
        if fault is not None:
            return self.error(req, ApiError(fault["code"], fault["message"], fault["status"]))
        handler = self.handlers.get((req.service, req.operation or ""))
        try:
            if handler is None and not self._moto_serves(environ):
                raise NotImplementedError(f"{req.service} {req.operation}")
            if handler is None:
                response = self.call_moto(environ, body)
            else:
                response = handler(req)
        except ApiError as err:
            return self.error(req, err)
        except NotImplementedError as exc:
            # moto has no such operation: answer a 500 in the service's own protocol, not HTML.
            return self.error(req, ApiError("InternalFailure", f"ecrgc_moto: not implemented by moto: {exc}", 500))
        # The answer is ready: what the triggers change shows from the next call on.
        for trigger in self.state.due_triggers(req):
            self.fire(trigger)
        return response

    def _moto_serves(self, environ: dict) -> bool:
        """Whether moto has a backend for the request's service (moto 5.2.5 has no App
        Runner, for one: its dispatcher fails on such a request with an AttributeError)."""
        try:
            host = self.moto.infer_service_region_host(environ, environ.get("PATH_INFO", ""))
            if host is None:
                return True
            known = self._moto_hosts.get(host)
            if known is None:
                # get_backend_for_host's test, without its print to standard output (where the
                # READY line goes); remembered per host.
                from moto import backends
                known = host in backends.list_of_moto_modules() or any(
                    pattern.match(f"http://{host}") for _, pattern in self.moto.backend_url_patterns)
                self._moto_hosts[host] = known
            return known
        except Exception:  # let moto answer as it does
            return True

    def fire(self, trigger: dict) -> None:
        """A trigger's world change: image overrides merged, tags added."""
        if trigger["images"]:
            self.state.seed({"images": trigger["images"]})
        from moto.ecr.models import ecr_backends
        for row in trigger["tags"]:
            repo = ecr_backends[row["account_id"]][row["region"]].repositories.get(row["repository_name"])
            image = self._find_image(repo, row["image_digest"])
            if image is None:
                raise ValueError(f"trigger: no image {row}")
            image.update_tag(row["tag"])

    def error(self, req: Req, err: ApiError) -> Response:
        request_id = str(uuid.uuid4())
        if req.protocol == "query":
            kind = "Receiver" if err.status >= 500 else "Sender"
            ns = (service_model(req.service).metadata.get("xmlNamespace") if service_model(req.service) else None) \
                or "https://sts.amazonaws.com/doc/2011-06-15/"
            msg = err.message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            xml = (f'<ErrorResponse xmlns="{ns}">\n  <Error>\n    <Type>{kind}</Type>\n'
                   f"    <Code>{err.code}</Code>\n    <Message>{msg}</Message>\n  </Error>\n"
                   f"  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n")
            return err.status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], xml.encode()
        payload: dict[str, Any] = {}
        message_key = "message"
        model = service_model(req.service) if req.service else None
        shape = None
        if model is not None:
            try:
                shape = model.shape_for(err.code)
            except Exception:
                shape = None
        if shape is not None and getattr(shape, "members", None):
            if "Message" in shape.members and "message" not in shape.members:
                message_key = "Message"
            if "Type" in shape.members:
                payload["Type"] = "Service" if err.status >= 500 else "User"
            if "reason" in shape.members and "reason" not in err.extra:
                payload["reason"] = "OTHER"
        extra = err.extra
        if model is not None:  # only the members of the error's shape (none for a shape the model lacks)
            members = getattr(shape, "members", None) or {}
            extra = {k: v for k, v in extra.items() if k in members}
        payload.update(extra)
        payload[message_key] = err.message
        headers = [("x-amzn-RequestId", request_id), ("x-amzn-ErrorType", err.code)]
        if req.protocol == "json":
            payload["__type"] = err.code
            version = (model.metadata.get("jsonVersion") if model is not None else None) or "1.1"
            return err.status, headers + [("Content-Type", f"application/x-amz-json-{version}")], \
                json.dumps(payload).encode()
        return err.status, headers + [("Content-Type", "application/json")], json.dumps(payload).encode()

    # -- pagination ------------------------------------------------------------------------

    def paginate(self, req: Req, operation: str, items: list, requested_max: Any) -> tuple[list, str | None]:
        """Slice a full result list into the page this request asked for."""
        pager = PAGERS[(req.service, operation)]
        seeded = self.state.page_for(req.service)
        if requested_max is not None and requested_max != "":
            try:
                size = int(requested_max)
            except ValueError:
                raise ApiError(pager.bad_token, f"Invalid {pager.max_in}: {requested_max}")
            if pager.max_limit is not None and size > pager.max_limit:
                raise ApiError(pager.bad_token, f"{pager.max_in} must be at most {pager.max_limit}: {requested_max}")
        else:
            size = pager.default_max
        if seeded is not None:
            size = min(size, seeded)
        if size < 1:
            raise ApiError(pager.bad_token if pager.bad_token != "InvalidNextTokenException" else "InvalidLimitException",
                           f"{pager.max_in} must be at least 1")
        token = req.query.get(pager.token_in, [None])[0] if pager.query else req.json.get(pager.token_in)
        offset = decode_token(operation, token, pager)
        if offset > len(items):
            raise ApiError(pager.bad_token, f"Invalid pagination token: {token}")
        page = items[offset:offset + size]
        nxt = encode_token(operation, offset + size) if offset + size < len(items) else None
        if token and self.state.repeats_token(req):
            # A seeded `repeat_tokens` rule: every page after the first names itself as next.
            nxt = token
        return page, nxt

    def _paging_active(self, req: Req) -> bool:
        """Pagination is added only once a page size is seeded: moto's own behaviour otherwise."""
        return self.state.page_for(req.service) is not None

    def _stripped(self, req: Req, pager: Pager) -> dict:
        payload = dict(req.json)
        payload.pop(pager.token_in, None)
        payload.pop(pager.max_in, None)
        return payload

    def paged_json_passthrough(self, req: Req, payload: dict | None = None,
                               transform: Callable[[list], list] | None = None) -> Response:
        pager = PAGERS[(req.service, req.operation)]
        paging = self._paging_active(req)
        if not paging and transform is None and payload is None:
            return self.call_moto(req.environ, req.body)
        body = dict(payload if payload is not None else req.json)
        if paging:
            body.pop(pager.token_in, None)
            body.pop(pager.max_in, None)
        response, parsed = self.moto_json(req, body)
        if parsed is None:
            return response
        items = parsed.get(pager.result) or []
        if transform is not None:
            items = transform(items)
        if paging:
            items, nxt = self.paginate(req, req.operation, items, req.json.get(pager.max_in))
            parsed.pop(pager.token_out, None)
            if nxt:
                parsed[pager.token_out] = nxt
        parsed[pager.result] = items
        return _replace_body(response, parsed)

    # -- ECR ---------------------------------------------------------------------------

    def _ecr_repo(self, req: Req, name: str | None) -> Any:
        from moto.ecr.models import ecr_backends
        try:
            return ecr_backends[req.account][req.region].repositories.get(name)
        except Exception:
            return None

    @staticmethod
    def _manifest(image: Any) -> dict:
        try:
            data = json.loads(image.image_manifest)
            return data if isinstance(data, dict) else {}
        except (ValueError, TypeError):
            return {}

    def _image_size(self, repo: Any, image: Any, depth: int = 0) -> int | None:
        manifest = self._manifest(image)
        if "manifests" in manifest:
            if depth > 2:
                return None
            sizes = []
            for child in manifest.get("manifests") or []:
                found = self._find_image(repo, child.get("digest"))
                if found is not None:
                    size = self._image_size(repo, found, depth + 1)
                    if size is not None:
                        sizes.append(size)
            return max(sizes) if sizes else None
        layers = manifest.get("layers")
        if isinstance(layers, list):
            return sum(int(layer.get("size") or 0) for layer in layers)
        return None

    @staticmethod
    def _find_image(repo: Any, digest: str | None) -> Any:
        if repo is None or not digest:
            return None
        for image in repo.images:
            if image.get_image_digest() == digest:
                return image
        return None

    def _enrich_detail(self, req: Req, repo: Any, detail: dict) -> dict:
        """Fill what real DescribeImages returns and moto does not, then apply seeded overrides."""
        image = self._find_image(repo, detail.get("imageDigest"))
        if image is not None:
            manifest = self._manifest(image)
            media_type = detail.get("imageManifestMediaType") or manifest.get("mediaType")
            if media_type:
                detail["imageManifestMediaType"] = media_type
            artifact = manifest.get("artifactType") or (manifest.get("config") or {}).get("mediaType")
            if artifact:
                detail["artifactMediaType"] = artifact
            subject = (manifest.get("subject") or {}).get("digest")
            if subject:
                detail["subjectManifestDigest"] = subject
            size = self._image_size(repo, image)
            if size is not None:
                detail["imageSizeInBytes"] = size
            else:
                detail.pop("imageSizeInBytes", None)
        detail.setdefault("imageStatus", "ACTIVE")
        key = (req.account, req.region, detail.get("repositoryName"), detail.get("imageDigest"))
        with self.state.lock:
            override = dict(self.state.images.get(key, {}))
        for field, value in override.items():
            if value is None:
                continue
            detail[field] = to_epoch(value) if field in TIMESTAMP_FIELDS else value
        return detail

    def _image_status(self, req: Req, repo_name: str, digest: str) -> str:
        with self.state.lock:
            status = self.state.images.get((req.account, req.region, repo_name, digest), {}).get("imageStatus")
        return status or "ACTIVE"

    def ecr_put_image(self, req: Req) -> Response:
        payload = dict(req.json)
        manifest = payload.get("imageManifest")
        if isinstance(manifest, str) and not payload.get("imageDigest"):
            # ECR names an image by the sha256 of its manifest bytes; moto hashes the layer
            # digests (or picks one of 101 random values for an index). Give it the real one.
            payload["imageDigest"] = sha256_digest(manifest.encode("utf-8"))
        self._move_tag(req, payload)
        return self.moto_json(req, payload)[0]

    def _move_tag(self, req: Req, payload: dict) -> None:
        """In a MUTABLE repository ECR moves a pushed tag off the image that had it, which
        stays, untagged if that was its last tag; moto deletes such an image. Untag it first."""
        tag, digest = payload.get("imageTag"), payload.get("imageDigest")
        if not tag or not digest:
            return
        repo = self._ecr_repo(req, payload.get("repositoryName"))
        if repo is None:
            return
        if getattr(repo, "image_tag_mutability", "MUTABLE") != "MUTABLE" \
                or getattr(repo, "image_tag_mutability_exclusion_filters", None):
            return
        for image in repo.images:
            if tag in image.image_tags and image.get_image_digest() != digest:
                image.remove_tag(tag)
                if not image.image_tags:
                    image.image_tag = None

    def ecr_describe_repositories(self, req: Req) -> Response:
        return self.paged_json_passthrough(req)

    def ecr_describe_images(self, req: Req) -> Response:
        pager = PAGERS[("ecr", "DescribeImages")]
        payload = self._stripped(req, pager)
        payload.pop("filter", None)
        response, parsed = self.moto_json(req, payload)
        if parsed is None:
            return response
        repo = self._ecr_repo(req, req.json.get("repositoryName"))
        details = [self._enrich_detail(req, repo, d) for d in parsed.get("imageDetails") or []]
        if not req.json.get("imageIds"):
            flt = req.json.get("filter") or {}
            tag_status = flt.get("tagStatus") or "ANY"
            image_status = flt.get("imageStatus") or "ACTIVE"
            if tag_status == "TAGGED":
                details = [d for d in details if d.get("imageTags")]
            elif tag_status == "UNTAGGED":
                details = [d for d in details if not d.get("imageTags")]
            if image_status != "ANY":
                details = [d for d in details if d.get("imageStatus", "ACTIVE") == image_status]
        parsed.pop("nextToken", None)
        if self._paging_active(req) and not req.json.get("imageIds"):
            details, nxt = self.paginate(req, "DescribeImages", details, req.json.get("maxResults"))
            if nxt:
                parsed["nextToken"] = nxt
        parsed["imageDetails"] = details
        return _replace_body(response, parsed)

    def ecr_list_images(self, req: Req) -> Response:
        pager = PAGERS[("ecr", "ListImages")]
        payload = self._stripped(req, pager)
        payload.pop("filter", None)
        response, parsed = self.moto_json(req, payload)
        if parsed is None:
            return response
        ids = parsed.get("imageIds") or []
        flt = req.json.get("filter") or {}
        tag_status = flt.get("tagStatus") or "ANY"
        image_status = flt.get("imageStatus") or "ACTIVE"
        if tag_status == "TAGGED":
            ids = [i for i in ids if i.get("imageTag")]
        elif tag_status == "UNTAGGED":
            ids = [i for i in ids if not i.get("imageTag")]
        if image_status != "ANY":
            repo_name = req.json.get("repositoryName")
            ids = [i for i in ids if self._image_status(req, repo_name, i.get("imageDigest")) == image_status]
        parsed.pop("nextToken", None)
        if self._paging_active(req):
            ids, nxt = self.paginate(req, "ListImages", ids, req.json.get("maxResults"))
            if nxt:
                parsed["nextToken"] = nxt
        parsed["imageIds"] = ids
        return _replace_body(response, parsed)

    def ecr_batch_delete_image(self, req: Req) -> Response:
        image_ids = req.json.get("imageIds") or []
        if len(image_ids) > 100:
            raise ApiError("InvalidParameterException",
                           "1 validation error detected: Value at 'imageIds' failed to satisfy constraint: "
                           "Member must have length less than or equal to 100")
        repo = self._ecr_repo(req, req.json.get("repositoryName"))
        if repo is None:
            return self.call_moto(req.environ, req.body)
        # ECR refuses to delete a manifest that an image index still in the repository lists.
        deleting = set()
        for image_id in image_ids:
            if image_id.get("imageDigest"):
                deleting.add(image_id["imageDigest"])
            elif image_id.get("imageTag"):
                for image in repo.images:
                    if image_id["imageTag"] in image.image_tags and len(image.image_tags) == 1:
                        deleting.add(image.get_image_digest())
        parents: dict[str, list[str]] = {}
        for image in repo.images:
            digest = image.get_image_digest()
            if digest in deleting:
                continue
            for child in self._manifest(image).get("manifests") or []:
                parents.setdefault(child.get("digest"), []).append(digest)
        kept, failures = [], []
        for image_id in image_ids:
            digest = image_id.get("imageDigest")
            if digest is None and image_id.get("imageTag"):
                for image in repo.images:
                    if image_id["imageTag"] in image.image_tags and len(image.image_tags) == 1:
                        digest = image.get_image_digest()
            if digest and digest in parents:
                failures.append({
                    "imageId": dict(image_id),
                    "failureCode": "ImageReferencedByManifestList",
                    "failureReason": f"Requested image referenced by manifest list: {parents[digest]}",
                })
            else:
                kept.append(image_id)
        if not kept:
            return _json_response(200, {"imageIds": [], "failures": failures}, "application/x-amz-json-1.1")
        before = {image.get_image_digest() for image in repo.images}
        response, parsed = self.moto_json(req, dict(req.json, imageIds=kept))
        if parsed is None:
            return response
        # moto deletes an untagged image asked for by digest but leaves it out of imageIds.
        after = {image.get_image_digest() for image in repo.images}
        reported = {i.get("imageDigest") for i in parsed.get("imageIds") or []}
        for image_id in kept:
            digest = image_id.get("imageDigest")
            if digest and digest in before and digest not in after and digest not in reported:
                parsed.setdefault("imageIds", []).append({"imageDigest": digest})
                reported.add(digest)
        parsed["failures"] = (parsed.get("failures") or []) + failures
        return _replace_body(response, parsed)

    def _ecr_repo_or_raise(self, req: Req) -> tuple[str, str, Any]:
        """The request's repository (name, registry, moto's object), or ECR's not-found error."""
        name = req.json.get("repositoryName")
        repo = self._ecr_repo(req, name)
        registry = req.json.get("registryId") or req.account
        if repo is None or repo.registry_id != registry:
            raise ApiError("RepositoryNotFoundException",
                           f"The repository with name '{name}' does not exist in the registry with id '{registry}'")
        return name, registry, repo

    def ecr_update_image_storage_class(self, req: Req) -> Response:
        """UpdateImageStorageClass (moto has none): ARCHIVE marks the image ARCHIVED, STANDARD
        restores it (at once; real ECR passes through ACTIVATING)."""
        name, registry, repo = self._ecr_repo_or_raise(req)
        target = req.json.get("targetStorageClass")
        if target not in ("STANDARD", "ARCHIVE"):
            raise ApiError("InvalidParameterException", f"Invalid targetStorageClass: {target}")
        image_id = req.json.get("imageId") or {}
        image = self._find_image(repo, image_id.get("imageDigest"))
        if image is None and image_id.get("imageTag"):
            image = next((i for i in repo.images if image_id["imageTag"] in i.image_tags), None)
        if image is None:
            raise ApiError("ImageNotFoundException",
                           f"The image with imageId {json.dumps(image_id)} does not exist within the repository "
                           f"with name '{name}' in the registry with id '{registry}'")
        digest = image.get_image_digest()
        with self.state.lock:
            entry = self.state.images.setdefault((req.account, req.region, name, digest), {})
            if target == "ARCHIVE":
                entry["imageStatus"] = "ARCHIVED"
                entry["lastArchivedAt"] = now_epoch()
            else:
                entry["imageStatus"] = "ACTIVE"
                entry["lastActivatedAt"] = now_epoch()
            status = entry["imageStatus"]
        return _json_response(200, {"registryId": registry, "repositoryName": name,
                                    "imageId": {"imageDigest": digest}, "imageStatus": status},
                              "application/x-amz-json-1.1")

    def ecr_list_image_referrers(self, req: Req) -> Response:
        name, registry, repo = self._ecr_repo_or_raise(req)
        subject = (req.json.get("subjectId") or {}).get("imageDigest")
        if not subject:
            raise ApiError("InvalidParameterException", "subjectId.imageDigest is required")
        flt = req.json.get("filter") or {}
        kinds = set(flt.get("artifactTypes") or [])
        wanted_status = flt.get("artifactStatus") or "ACTIVE"
        referrers = []
        for image in list(repo.images):
            detail = self._enrich_detail(req, repo, {"repositoryName": name, "imageDigest": image.get_image_digest()})
            if detail.get("subjectManifestDigest") != subject:
                continue
            if kinds and detail.get("artifactMediaType") not in kinds:
                continue
            if wanted_status != "ANY" and detail.get("imageStatus") != wanted_status:
                continue
            entry = {"digest": detail["imageDigest"], "mediaType": detail.get("imageManifestMediaType"),
                     "artifactType": detail.get("artifactMediaType"),
                     "size": len(image.image_manifest.encode("utf-8")),
                     "artifactStatus": detail.get("imageStatus")}
            annotations = self._manifest(image).get("annotations")
            if annotations:
                entry["annotations"] = annotations
            referrers.append({k: v for k, v in entry.items() if v is not None})
        page, nxt = self.paginate(req, "ListImageReferrers", referrers, req.json.get("maxResults"))
        payload: dict[str, Any] = {"referrers": page}
        if nxt:
            payload["nextToken"] = nxt
        return _json_response(200, payload, "application/x-amz-json-1.1")

    def _principal(self, req: Req) -> str:
        """The IAM principal behind the request's access key, as moto knows it."""
        try:
            key = moto.iam.models.iam_backends[req.account]["aws"].access_keys.get(req.access_key)
            if key is not None and key.role_arn:
                return key.role_arn
        except Exception:
            pass
        return f"arn:aws:iam::{req.account}:root"

    def ecr_batch_get_image(self, req: Req) -> Response:
        """BatchGetImage is a pull: with `ecr_record_pulls` seeded it moves lastRecordedPullTime,
        unless the caller's role is registered as a pull-time update exclusion."""
        response, parsed = self.moto_json(req)
        if parsed is None:
            return response
        with self.state.lock:
            record = self.state.record_pulls
            excluded = self._principal(req) in self.state.pull_exclusions.get((req.account, req.region), {})
        if record and not excluded:
            moment = now_epoch()
            with self.state.lock:
                for image in parsed.get("images") or []:
                    key = (req.account, req.region, image.get("repositoryName"),
                           (image.get("imageId") or {}).get("imageDigest"))
                    self.state.images.setdefault(key, {})["lastRecordedPullTime"] = moment
        return response

    def ecr_pull_exclusion(self, req: Req) -> Response:
        with self.state.lock:
            table = self.state.pull_exclusions.setdefault((req.account, req.region), {})
            principal = req.json.get("principalArn")
            if req.operation == "RegisterPullTimeUpdateExclusion":
                if not principal or not re.match(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/.+", principal):
                    raise ApiError("InvalidParameterException", f"Invalid principalArn: {principal}")
                if principal in table:
                    raise ApiError("ExclusionAlreadyExistsException",
                                   f"A pull time update exclusion already exists for {principal}")
                table[principal] = now_epoch()
                payload: dict[str, Any] = {"principalArn": principal, "createdAt": table[principal]}
            elif req.operation == "DeregisterPullTimeUpdateExclusion":
                if principal not in table:
                    raise ApiError("ExclusionNotFoundException",
                                   f"No pull time update exclusion exists for {principal}")
                del table[principal]
                payload = {"principalArn": principal}
            else:
                names = list(table)
                page, nxt = self.paginate(req, "ListPullTimeUpdateExclusions", names, req.json.get("maxResults"))
                payload = {"pullTimeUpdateExclusions": page}
                if nxt:
                    payload["nextToken"] = nxt
        return _json_response(200, payload, "application/x-amz-json-1.1")

    # -- ECS ---------------------------------------------------------------------------

    # -- ECR registry settings -------------------------------------------------------------
    # moto 5.2.5 keeps one replication rule at most ("This feature is disabled" beyond) and has
    # no pull through cache rules or creation templates; these follow botocore's ECR model:
    # ReplicationRuleList max 25, ReplicationDestinationList max 100, RepositoryFilterList
    # 1..100 with filterType PREFIX_MATCH, `deleteReplication {enabled}` kept as given.

    _FILTER = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]*)*/)*[a-z0-9]*(?:[._-][a-z0-9]*)*$")
    _PREFIX = re.compile(r"^([a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*\/?|ROOT)$")

    def ecr_put_replication(self, req: Req) -> Response:
        config = req.json.get("replicationConfiguration")
        if not isinstance(config, dict) or not isinstance(config.get("rules"), list):
            raise ApiError("ValidationException", "replicationConfiguration.rules is required")
        rules = config["rules"]
        if len(rules) > 25:
            raise ApiError("ValidationException", "replicationConfiguration.rules: at most 25 rules")
        clean = []
        for i, rule in enumerate(rules):
            dests = rule.get("destinations")
            if not isinstance(dests, list) or len(dests) > 100:
                raise ApiError("ValidationException", f"rules[{i}].destinations: a list of at most 100 is required")
            for d in dests:
                if not re.fullmatch(r"[0-9]{12}", str(d.get("registryId", ""))) \
                        or not re.fullmatch(r"[0-9a-z-]{2,25}", str(d.get("region", ""))):
                    raise ApiError("ValidationException", f"rules[{i}].destinations: invalid destination {d}")
                if d["registryId"] == req.account and d["region"] == req.region:
                    raise ApiError("InvalidParameterException",
                                   "Invalid parameter at 'replicationConfiguration' failed to satisfy constraint: "
                                   "'Replication destination cannot be the same as the source registry'")
            out = {"destinations": [{"region": d["region"], "registryId": d["registryId"]} for d in dests]}
            filters = rule.get("repositoryFilters")
            if filters is not None:
                if not isinstance(filters, list) or not 1 <= len(filters) <= 100:
                    raise ApiError("ValidationException", f"rules[{i}].repositoryFilters: 1 to 100 filters")
                for f in filters:
                    if f.get("filterType") != "PREFIX_MATCH" or not isinstance(f.get("filter"), str) \
                            or not 2 <= len(f["filter"]) <= 256 or not self._FILTER.match(f["filter"]):
                        raise ApiError("ValidationException", f"rules[{i}].repositoryFilters: invalid filter {f}")
                out["repositoryFilters"] = [{"filter": f["filter"], "filterType": "PREFIX_MATCH"} for f in filters]
            delete = rule.get("deleteReplication")
            if delete is not None:
                if not isinstance(delete, dict) or not isinstance(delete.get("enabled"), bool):
                    raise ApiError("ValidationException", f"rules[{i}].deleteReplication.enabled is required")
                out["deleteReplication"] = {"enabled": delete["enabled"]}
            clean.append(out)
        with self.state.lock:
            self.state.replication[(req.account, req.region)] = {"rules": clean}
        return _json_response(200, {"replicationConfiguration": {"rules": clean}},
                              "application/x-amz-json-1.1")

    def ecr_describe_registry(self, req: Req) -> Response:
        with self.state.lock:
            config = self.state.replication.get((req.account, req.region))
        payload: dict[str, Any] = {"registryId": req.account}
        # ECR leaves replicationConfiguration out of a registry that never had one.
        if config is not None:
            payload["replicationConfiguration"] = config
        return _json_response(200, payload, "application/x-amz-json-1.1")

    def _registry_of(self, req: Req) -> str:
        registry = req.json.get("registryId") or req.account
        if registry != req.account:
            raise ApiError("InvalidParameterException", f"registryId {registry} is not the caller's registry")
        return registry

    def ecr_create_pull_through_rule(self, req: Req) -> Response:
        registry = self._registry_of(req)
        prefix = req.json.get("ecrRepositoryPrefix")
        url = req.json.get("upstreamRegistryUrl")
        if not isinstance(prefix, str) or not 2 <= len(prefix) <= 30 or not self._PREFIX.match(prefix) or not url:
            raise ApiError("InvalidParameterException", f"invalid ecrRepositoryPrefix or upstreamRegistryUrl: {prefix!r}")
        rule = {"ecrRepositoryPrefix": prefix, "upstreamRegistryUrl": url, "createdAt": now_epoch(),
                "registryId": registry}
        for key in ("upstreamRegistry", "credentialArn", "customRoleArn", "upstreamRepositoryPrefix"):
            if req.json.get(key):
                rule[key] = req.json[key]
        with self.state.lock:
            rules = self.state.pull_through_rules.setdefault((req.account, req.region), {})
            if prefix in rules:
                raise ApiError("PullThroughCacheRuleAlreadyExistsException",
                               f"A pull through cache rule with the prefix '{prefix}' already exists")
            rules[prefix] = rule
        return _json_response(200, rule, "application/x-amz-json-1.1")

    def ecr_describe_pull_through_rules(self, req: Req) -> Response:
        self._registry_of(req)
        with self.state.lock:
            rules = dict(self.state.pull_through_rules.get((req.account, req.region), {}))
        wanted = req.json.get("ecrRepositoryPrefixes")
        if wanted:
            missing = [p for p in wanted if p not in rules]
            if missing:
                raise ApiError("PullThroughCacheRuleNotFoundException",
                               f"The pull through cache rule with the prefix '{missing[0]}' does not exist")
            items = [rules[p] for p in wanted]
        else:
            items = [rules[p] for p in sorted(rules)]
        page, nxt = self.paginate(req, "DescribePullThroughCacheRules", items, req.json.get("maxResults"))
        payload: dict[str, Any] = {"pullThroughCacheRules": page}
        if nxt:
            payload["nextToken"] = nxt
        return _json_response(200, payload, "application/x-amz-json-1.1")

    def ecr_create_creation_template(self, req: Req) -> Response:
        prefix = req.json.get("prefix")
        applied = req.json.get("appliedFor")
        if not isinstance(prefix, str) or not 1 <= len(prefix) <= 256 or not self._PREFIX.match(prefix):
            raise ApiError("InvalidParameterException", f"invalid prefix {prefix!r}")
        if not isinstance(applied, list) or not applied or any(
                a not in ("REPLICATION", "PULL_THROUGH_CACHE", "CREATE_ON_PUSH") for a in applied):
            raise ApiError("InvalidParameterException", f"invalid appliedFor {applied!r}")
        template = {k: v for k, v in req.json.items() if k in (
            "prefix", "description", "encryptionConfiguration", "resourceTags", "imageTagMutability",
            "imageTagMutabilityExclusionFilters", "repositoryPolicy", "lifecyclePolicy", "appliedFor",
            "customRoleArn")}
        template["createdAt"] = template["updatedAt"] = now_epoch()
        with self.state.lock:
            templates = self.state.creation_templates.setdefault((req.account, req.region), {})
            if prefix in templates:
                raise ApiError("TemplateAlreadyExistsException", f"A template with the prefix '{prefix}' already exists")
            templates[prefix] = template
        return _json_response(200, {"registryId": req.account, "repositoryCreationTemplate": template},
                              "application/x-amz-json-1.1")

    def ecr_describe_creation_templates(self, req: Req) -> Response:
        with self.state.lock:
            templates = dict(self.state.creation_templates.get((req.account, req.region), {}))
        wanted = req.json.get("prefixes")
        items = [templates[p] for p in (wanted or sorted(templates)) if p in templates]
        page, nxt = self.paginate(req, "DescribeRepositoryCreationTemplates", items, req.json.get("maxResults"))
        payload: dict[str, Any] = {"registryId": req.account, "repositoryCreationTemplates": page}
        if nxt:
            payload["nextToken"] = nxt
        return _json_response(200, payload, "application/x-amz-json-1.1")

    def ecs_list_tasks(self, req: Req) -> Response:
        payload = dict(req.json)
        # Real ListTasks answers desiredStatus RUNNING unless asked otherwise; moto returns all.
        payload.setdefault("desiredStatus", "RUNNING")
        return self.paged_json_passthrough(req, payload)

    def ecs_list_task_definitions(self, req: Req) -> Response:
        """familyPrefix is a prefix in ECS (moto: the exact family); sort=DESC reverses."""
        payload = dict(req.json)
        prefix = payload.pop("familyPrefix", None)
        descending = str(payload.pop("sort", "ASC")).upper() == "DESC"

        def transform(arns: list) -> list:
            if prefix:
                arns = [a for a in arns if a.rsplit("/", 1)[-1].rsplit(":", 1)[0].startswith(prefix)]
            return list(reversed(arns)) if descending else arns

        return self.paged_json_passthrough(req, payload, transform)

    def _ecs_backend(self, req: Req) -> Any:
        from moto.ecs.models import ecs_backends
        return ecs_backends[req.account][req.region]

    def _enrich_task(self, req: Req, task: dict) -> dict:
        arn = task.get("taskArn", "")
        backend = self._ecs_backend(req)
        containers = task.get("containers") or []
        # moto describes one container per task (the first definition); ECS has one per definition.
        try:
            definition = backend.describe_task_definition(task["taskDefinitionArn"])
            definitions = definition.container_definitions or []
        except Exception:
            definitions = []
        names = {c.get("name") for c in containers}
        for cdef in definitions:
            if cdef.get("name") not in names:
                containers.append({
                    "containerArn": arn.replace(":task/", ":container/", 1) + "/"
                    + str(uuid.uuid5(uuid.NAMESPACE_URL, arn + cdef.get("name", ""))),
                    "taskArn": arn, "name": cdef.get("name"), "image": cdef.get("image"),
                })
        with self.state.lock:
            times = dict(self.state.task_times.get(arn, {}))
            override = dict(self.state.task_overrides.get((req.account, req.region, arn), {}))
        for field, value in times.items():
            task.setdefault(field, value)
        for field, value in override.items():
            if value is None:
                continue
            task[field] = to_epoch(value) if field.endswith("At") else value
        last = task.get("lastStatus")
        for container in containers:
            container["taskArn"] = arn
            if last:
                container["lastStatus"] = last
            if not container.get("imageDigest"):
                with self.state.lock:
                    digest = self.state.task_digests.get((req.account, req.region, container.get("image")))
                if digest:
                    container["imageDigest"] = digest
        task["containers"] = containers
        return task

    def ecs_run_task(self, req: Req) -> Response:
        response, parsed = self.moto_json(req)
        if parsed is None:
            return response
        moment = now_epoch()
        with self.state.lock:
            for task in parsed.get("tasks") or []:
                self.state.task_times.setdefault(task.get("taskArn"), {"createdAt": moment, "startedAt": moment})
        parsed["tasks"] = [self._enrich_task(req, t) for t in parsed.get("tasks") or []]
        return _replace_body(response, parsed)

    def ecs_stop_task(self, req: Req) -> Response:
        response, parsed = self.moto_json(req)
        if parsed is None:
            return response
        moment = now_epoch()
        task = parsed.get("task") or {}
        with self.state.lock:
            times = self.state.task_times.setdefault(task.get("taskArn"), {})
            times.setdefault("stoppingAt", moment)
            times.setdefault("stoppedAt", moment)
            times.setdefault("executionStoppedAt", moment)
        if task:
            parsed["task"] = self._enrich_task(req, task)
        return _replace_body(response, parsed)

    def ecs_task_definition(self, req: Req) -> Response:
        """registeredAt / deregisteredAt, which moto never returns (times seen here, or seeded)."""
        response, parsed = self.moto_json(req)
        if parsed is None or not isinstance(parsed.get("taskDefinition"), dict):
            return response
        definition = parsed["taskDefinition"]
        arn = definition.get("taskDefinitionArn")
        moment = now_epoch()
        with self.state.lock:
            times = self.state.td_times.setdefault(arn, {})
            if req.operation == "RegisterTaskDefinition":
                times.setdefault("registeredAt", moment)
            if req.operation == "DeregisterTaskDefinition":
                times.setdefault("deregisteredAt", moment)
            times = dict(times)
            override = dict(self.state.td_overrides.get((req.account, req.region, arn), {}))
        for field, value in times.items():
            definition.setdefault(field, value)
        for field, value in override.items():
            if value is not None:
                definition[field] = to_epoch(value)
        if definition.get("status") != "INACTIVE":
            definition.pop("deregisteredAt", None)
        return _replace_body(response, parsed)

    def ecs_describe_tasks(self, req: Req) -> Response:
        response, parsed = self.moto_json(req)
        if parsed is None:
            return response
        parsed["tasks"] = [self._enrich_task(req, t) for t in parsed.get("tasks") or []]
        return _replace_body(response, parsed)

    # -- ECS service revisions and deployments (see ServiceHistory) ---------------------

    def _service_images(self, req: Req, task_definition: str | None) -> list[dict]:
        """containerImages of a new revision: each tag resolved to the digest it names now."""
        if not task_definition:
            return []
        try:
            definition = self._ecs_backend(req).describe_task_definition(task_definition)
        except Exception:
            return []
        images = []
        for cdef in definition.container_definitions or []:
            image = {"containerName": cdef.get("name"), "image": cdef.get("image")}
            if str(cdef.get("versionConsistency", "enabled")).lower() != "disabled":
                digest = self._resolve_image_uri(cdef.get("image") or "")
                if digest:
                    image["imageDigest"] = digest
            images.append({k: v for k, v in image.items() if v is not None})
        return images

    def _history_key(self, req: Req, service: dict) -> tuple:
        cluster = service.get("clusterArn") or req.json.get("cluster") or "default"
        return ServiceHistory.key(req.account, req.region, cluster,
                                  service.get("serviceName") or service.get("serviceArn") or "")

    def ecs_create_or_update_service(self, req: Req) -> Response:
        response, parsed = self.moto_json(req)
        if parsed is None or not isinstance(parsed.get("service"), dict):
            return response
        service = parsed["service"]
        starts = req.operation == "CreateService" or bool(req.json.get("taskDefinition")) \
            or bool(req.json.get("forceNewDeployment"))
        if starts and service.get("taskDefinition"):
            images = self._service_images(req, service["taskDefinition"])
            with self.state.lock:
                self.state.services.deploy(self._history_key(req, service), service["taskDefinition"],
                                           images, now_epoch(), service.get("launchType"))
        return _replace_body(response, {**parsed, "service": self._with_revisions(req, service)})

    def ecs_delete_service(self, req: Req) -> Response:
        response, parsed = self.moto_json(req)
        if parsed is not None and isinstance(parsed.get("service"), dict):
            with self.state.lock:
                self.state.services.drop(self._history_key(req, parsed["service"]))
        return response

    def _with_revisions(self, req: Req, service: dict) -> dict:
        key = self._history_key(req, service)
        history = self.state.services
        with self.state.lock:
            current = list(history.current.get(key, []))
            newest = max((d for d in history.deployments.values() if d["key"] == key),
                         key=lambda d: d["doc"].get("createdAt") or 0, default=None)
        counts = {"requestedTaskCount": service.get("desiredCount", 0),
                  "runningTaskCount": service.get("runningCount", 0),
                  "pendingTaskCount": service.get("pendingCount", 0)}
        service["currentServiceRevisions"] = [history._revision_summary(a, counts) for a in current]
        if newest is not None:
            service["currentServiceDeployment"] = newest["doc"]["serviceDeploymentArn"]
        return service

    def ecs_list_services(self, req: Req) -> Response:
        """ListServices, plus the seeded `vanished_services` (deleted before they are described)."""
        cluster = _last(req.json.get("cluster") or "default")
        with self.state.lock:
            ghosts = [_ecs_arn(a, r, "service", s) for (a, r, c, s) in sorted(self.state.services.vanished)
                      if a == req.account and r == req.region and c == cluster]
        if not ghosts:
            return self.paged_json_passthrough(req)
        return self.paged_json_passthrough(req, dict(req.json), lambda arns: sorted(set(arns) | set(ghosts)))

    def ecs_describe_services(self, req: Req) -> Response:
        response, parsed = self.moto_json(req)
        if parsed is None:
            return response
        parsed["services"] = [self._with_revisions(req, s) for s in parsed.get("services") or []]
        return _replace_body(response, parsed)

    @staticmethod
    def _arn_list(req: Req, name: str) -> list[str]:
        arns = req.json.get(name)
        if not isinstance(arns, list) or not arns:
            raise ApiError("InvalidParameterException", f"{name} must name at least one ARN.")
        if len(arns) > 20:
            raise ApiError("InvalidParameterException", f"{name} can have at most 20 items.")
        return [str(a) for a in arns]

    def ecs_describe_service_revisions(self, req: Req) -> Response:
        arns = self._arn_list(req, "serviceRevisionArns")
        found, failures = [], []
        with self.state.lock:
            for arn in arns:
                entry = self.state.services.revisions.get(arn)
                if entry is not None and entry["key"][:2] == (req.account, req.region):
                    found.append(copy.deepcopy(entry["doc"]))
                else:
                    failures.append({"arn": arn, "reason": "MISSING"})
        return _json_response(200, {"serviceRevisions": found, "failures": failures},
                              "application/x-amz-json-1.1")

    def ecs_describe_service_deployments(self, req: Req) -> Response:
        arns = self._arn_list(req, "serviceDeploymentArns")
        found, failures = [], []
        with self.state.lock:
            for arn in arns:
                entry = self.state.services.deployments.get(arn)
                if entry is not None and entry["key"][:2] == (req.account, req.region):
                    found.append(self.state.services.deployment_doc(arn, brief=False))
                else:
                    failures.append({"arn": arn, "reason": "MISSING"})
        return _json_response(200, {"serviceDeployments": found, "failures": failures},
                              "application/x-amz-json-1.1")

    def ecs_list_service_deployments(self, req: Req) -> Response:
        body = req.json
        service = body.get("service")
        if not service:
            raise ApiError("InvalidParameterException", "service must be specified.")
        cluster = _last(body.get("cluster") or "default")
        backend = self._ecs_backend(req)
        if cluster not in backend.clusters:
            raise ApiError("ClusterNotFoundException", "Cluster not found.")
        key = ServiceHistory.key(req.account, req.region, cluster, service)
        with self.state.lock:
            vanished = key in self.state.services.vanished
        if vanished or f"{cluster}:{key[3]}" not in backend.services:
            raise ApiError("ServiceNotFoundException", "Service not found.")
        maximum = body.get("maxResults")
        if maximum is not None and not 1 <= int(maximum) <= 100:
            raise ApiError("InvalidParameterException", "maxResults must be between 1 and 100.")
        created = body.get("createdAt") or {}
        before, after = to_epoch(created.get("before")), to_epoch(created.get("after"))
        statuses = set(body.get("status") or [])
        with self.state.lock:
            history = self.state.services
            rows = [history.deployment_doc(arn, brief=True) for arn, d in history.deployments.items()
                    if d["key"] == key]
        rows = [r for r in rows
                if (not statuses or r.get("status") in statuses)
                and (after is None or (r.get("createdAt") or 0) >= after)
                and (before is None or (r.get("createdAt") or 0) <= before)]
        rows.sort(key=lambda r: r.get("createdAt") or 0, reverse=True)  # newest first
        page, nxt = self.paginate(req, "ListServiceDeployments", rows, maximum)
        payload: dict[str, Any] = {"serviceDeployments": page}
        if nxt:
            payload["nextToken"] = nxt
        return _json_response(200, payload, "application/x-amz-json-1.1")

    # -- Lambda --------------------------------------------------------------------------

    _IMAGE_URI = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/([^:@]+)(?::([^@]+))?(?:@(sha256:[0-9a-f]{64}))?$")

    def _resolve_image_uri(self, uri: str) -> str | None:
        match = self._IMAGE_URI.match(uri or "")
        if not match:
            return None
        account, region, repo_name, tag, digest = match.groups()
        if digest:
            return digest
        from moto.ecr.models import ecr_backends
        try:
            repo = ecr_backends[account][region].repositories.get(repo_name)
        except Exception:
            return None
        if repo is None:
            return None
        for image in repo.images:
            if (tag or "latest") in image.image_tags:
                return image.get_image_digest()
        return None

    def _fix_function_config(self, req: Req, config: dict) -> dict:
        sha = config.get("CodeSha256")
        if config.get("PackageType") == "Image" and sha:
            with self.state.lock:
                digest = self.state.lambda_digests.get((req.account, req.region, sha))
            if digest:
                config["CodeSha256"] = digest.split(":", 1)[1]
        return config

    def _detach_published_code(self, req: Req) -> None:
        """A published version's code is immutable (AWS Lambda Developer Guide, "Manage Lambda
        function versions"), but moto's PublishVersion copies the function shallowly, so an
        UpdateFunctionCode of $LATEST would rewrite the versions' code too. Give each
        published version its own copy first."""
        from moto.awslambda.models import lambda_backends
        from urllib.parse import unquote
        # PUT /2015-03-31/functions/{FunctionName}/code; the name may be an ARN.
        name = unquote(_last(req.path.rstrip("/").rsplit("/", 1)[0]))
        name = name.split(":function:")[-1].split(":")[0]
        try:
            storage = lambda_backends[req.account][req.region]._lambdas
            group = storage._functions.get(name) or {}
        except Exception:
            return
        for fn in group.get("versions") or []:
            fn.code = copy.deepcopy(fn.code)

    def lambda_deploy(self, req: Req) -> Response:
        if req.operation == "UpdateFunctionCode":
            self._detach_published_code(req)
        response, parsed = self.moto_json(req)
        if parsed is None:
            return response
        uri = (req.json.get("Code") or {}).get("ImageUri") if req.operation == "CreateFunction" else req.json.get("ImageUri")
        if uri:
            # Lambda resolves the image URI to a digest when the code is deployed.
            fake = hashlib.sha256(uri.encode("utf-8")).hexdigest()
            digest = self._resolve_image_uri(uri)
            if digest:
                with self.state.lock:
                    self.state.lambda_digests[(req.account, req.region, fake)] = digest
        return _replace_body(response, self._fix_function_config(req, parsed))

    def lambda_fix_configuration(self, req: Req) -> Response:
        response, parsed = self.moto_json(req)
        if parsed is None:
            return response
        return _replace_body(response, self._fix_function_config(req, parsed))

    def lambda_get_function(self, req: Req) -> Response:
        response, parsed = self.moto_json(req)
        if parsed is None:
            return response
        config = parsed.get("Configuration") or {}
        fake = config.get("CodeSha256")
        self._fix_function_config(req, config)
        code = parsed.get("Code") or {}
        resolved = code.get("ResolvedImageUri")
        if resolved and fake:
            with self.state.lock:
                digest = self.state.lambda_digests.get((req.account, req.region, fake))
            uri = code.get("ImageUri") or ""
            repo_uri = re.split(r"[:@]", uri.split("/", 1)[1], 1)[0] if "/" in uri else ""
            base = uri.split("/", 1)[0] + "/" + repo_uri if repo_uri else resolved.split("@")[0]
            if digest:
                code["ResolvedImageUri"] = f"{base}@{digest}"
            else:
                code["ResolvedImageUri"] = f"{base}@sha256:{fake}"
        return _replace_body(response, parsed)

    def lambda_list(self, req: Req) -> Response:
        pager = PAGERS[("lambda", req.operation)]
        paging = self._paging_active(req)
        query = {k: v for k, v in req.query.items() if not paging or k not in (pager.token_in, pager.max_in)}
        response, parsed = self.moto_json(req, query=query)
        if parsed is None:
            return response
        items = parsed.get(pager.result) or []
        if req.operation != "ListAliases":
            items = [self._fix_function_config(req, c) for c in items]
        if paging:
            items, nxt = self.paginate(req, req.operation, items, req.query.get(pager.max_in, [None])[0])
            parsed.pop(pager.token_out, None)
            if nxt:
                parsed[pager.token_out] = nxt
        parsed[pager.result] = items
        return _replace_body(response, parsed)

    # -- Organizations ---------------------------------------------------------------------

    def org_list_accounts(self, req: Req) -> Response:
        with self.state.lock:
            seeded = [dict(a) for a in self.state.org_accounts.values()]
        if not seeded:
            return self.paged_json_passthrough(req)
        master, org_id = seeded[0]["Id"], "o-ecrgc00001"
        try:  # the organization moto holds for the caller, if one was created
            from moto.organizations.models import organizations_backends
            org = organizations_backends[req.account]["aws"].org
            if org is not None:
                master, org_id = org.master_account_id, org.id
        except Exception:
            pass
        accounts = []
        for acct in seeded:
            entry = {
                "Id": acct["Id"],
                "Arn": acct.get("Arn") or f"arn:aws:organizations::{master}:account/{org_id}/{acct['Id']}",
                "Email": acct.get("Email") or f"{acct.get('Name', acct['Id'])}@example.com".replace(" ", "-"),
                "Name": acct.get("Name") or acct["Id"],
                "Status": acct.get("Status") or "ACTIVE",
                "State": acct.get("State") or (acct.get("Status") or "ACTIVE"),
                "JoinedMethod": acct.get("JoinedMethod") or "CREATED",
                "JoinedTimestamp": to_epoch(acct.get("JoinedTimestamp") or "2024-01-01T00:00:00Z"),
            }
            accounts.append(entry)
        page, nxt = self.paginate(req, "ListAccounts", accounts, req.json.get("MaxResults"))
        payload: dict[str, Any] = {"Accounts": page}
        if nxt:
            payload["NextToken"] = nxt
        return _json_response(200, payload, "application/x-amz-json-1.1")

    # -- Inspector2 ----------------------------------------------------------------------

    @staticmethod
    def _string_filter(filters: list | None, values: list[str]) -> bool:
        """One CoverageStringFilterList: EQUALS filters OR together, NOT_EQUALS ones AND."""
        if not filters:
            return True
        equals = [f.get("value") for f in filters if f.get("comparison", "EQUALS") == "EQUALS"]
        not_equals = [f.get("value") for f in filters if f.get("comparison") == "NOT_EQUALS"]
        if equals and not any(v in values for v in equals):
            return False
        if any(v in values for v in not_equals):
            return False
        return True

    # AWS's defaults for a new account (Inspector User Guide, "Configuring the Amazon ECR
    # re-scan duration": 14 days after the push and after the last use).
    DEFAULT_RESCAN = {"rescan_duration": "DAYS_14", "pull_date_rescan_duration": "DAYS_14",
                      "pull_date_rescan_mode": "LAST_IN_USE_AT", "status": "SUCCESS"}

    def inspector_get_configuration(self, req: Req) -> Response:
        """GetConfiguration (botocore: POST /configuration/get, optional accountId, which only
        the delegated administrator may name): the account's ECR rescan settings."""
        account = req.json.get("accountId") or req.account
        with self.state.lock:
            if account != req.account and req.account not in self.state.inspector_admins:
                raise ApiError("AccessDeniedException",
                               f"{req.account} is not the delegated administrator for {account}", 403)
            row = dict(self.DEFAULT_RESCAN)
            row.update(self.state.inspector_configuration.get((account, req.region)) or {})
        state: dict[str, Any] = {}
        for src, dst in (("rescan_duration", "rescanDuration"), ("status", "status"),
                         ("pull_date_rescan_duration", "pullDateRescanDuration"),
                         ("pull_date_rescan_mode", "pullDateRescanMode")):
            if row.get(src) is not None:
                state[dst] = row[src]
        if row.get("updated_at") is not None:
            state["updatedAt"] = to_epoch(row["updated_at"])
        return _json_response(200, {"ecrConfiguration": {"rescanDurationState": state}})

    def inspector_list_coverage(self, req: Req) -> Response:
        max_results = req.json.get("maxResults")
        if max_results is not None and not (1 <= int(max_results) <= 200):
            raise ApiError("ValidationException", "maxResults must be between 1 and 200", 400,
                           {"reason": "FIELD_VALIDATION_FAILED"})
        criteria = req.json.get("filterCriteria") or {}
        with self.state.lock:
            admin = req.account in self.state.inspector_admins
            rows = [dict(r) for k, r in self.state.coverage.items()
                    if k[1] == req.region and (admin or k[0] == req.account)]
        resources = []
        for row in rows:
            account, region, repo, digest = row["account_id"], row["region"], row["repository_name"], row["image_digest"]
            resource_id = f"arn:aws:ecr:{region}:{account}:repository/{repo}/{digest}"
            status_code = row.get("scan_status") or "ACTIVE"
            reason = row.get("scan_status_reason") or ("SUCCESSFUL" if status_code == "ACTIVE" else "SCAN_ELIGIBILITY_EXPIRED")
            tags = list(row.get("image_tags") or [])
            checks = [
                ("resourceType", ["AWS_ECR_CONTAINER_IMAGE"]), ("accountId", [account]),
                ("ecrRepositoryName", [repo]), ("resourceId", [resource_id]), ("scanType", ["PACKAGE"]),
                ("scanStatusCode", [status_code]), ("scanStatusReason", [reason]), ("ecrImageTags", tags),
            ]
            if not all(self._string_filter(criteria.get(name), values) for name, values in checks):
                continue
            image: dict[str, Any] = {"tags": tags}
            for src, dst in (("image_pulled_at", "imagePulledAt"), ("last_in_use_at", "lastInUseAt")):
                if row.get(src) is not None:
                    image[dst] = to_epoch(row[src])
            if row.get("in_use_count") is not None:
                image["inUseCount"] = int(row["in_use_count"])
            resource: dict[str, Any] = {
                "resourceType": "AWS_ECR_CONTAINER_IMAGE",
                "resourceId": resource_id,
                "accountId": account,
                "scanType": "PACKAGE",
                "scanStatus": {"statusCode": status_code, "reason": reason},
                "resourceMetadata": {
                    "ecrRepository": {"name": repo, "scanFrequency": row.get("scan_frequency") or "CONTINUOUS_SCAN"},
                    "ecrImage": image,
                },
            }
            if row.get("last_scanned_at") is not None:
                resource["lastScannedAt"] = to_epoch(row["last_scanned_at"])
            resources.append(resource)
        page, nxt = self.paginate(req, "ListCoverage", resources, max_results)
        payload: dict[str, Any] = {"coveredResources": page}
        if nxt:
            payload["nextToken"] = nxt
        return _json_response(200, payload)

    # -- Config --------------------------------------------------------------------------

    def config_select_aggregate(self, req: Req) -> Response:
        expression = req.json.get("Expression") or ""
        name = req.json.get("ConfigurationAggregatorName")
        if len(expression) > 4096:
            raise ApiError("InvalidExpressionException",
                           "1 validation error detected: Value at 'expression' failed to satisfy constraint: "
                           "Member must have length less than or equal to 4096")
        for key in ("Limit", "MaxResults"):
            value = req.json.get(key)
            if value is not None and not (0 <= int(value) <= 100):
                raise ApiError("InvalidLimitException", f"{key} must be between 0 and 100")
        with self.state.lock:
            items = self.state.aggregators.get((req.account, req.region, name))
            items = [copy.deepcopy(i) for i in items.values()] if items is not None else None
        if items is None:
            raise ApiError("NoSuchConfigurationAggregatorException",
                           f"The configuration aggregator does not exist. Check the configuration aggregator name {name} and try again.")
        fields, conditions = parse_select(expression)
        results = []
        for item in items:
            if all(cond(item) for cond in conditions):
                projected: dict = {}
                for field in fields:
                    projected = merge_projection(projected, project(item, field.split(".")))
                results.append(json.dumps(projected, separators=(",", ":")))
        limit = req.json.get("Limit") or req.json.get("MaxResults") or None
        page, nxt = self.paginate(req, "SelectAggregateResourceConfig", results, limit)
        payload: dict[str, Any] = {"Results": page, "QueryInfo": {"SelectFields": [{"Name": f} for f in fields]}}
        if nxt:
            payload["NextToken"] = nxt
        return _json_response(200, payload, "application/x-amz-json-1.1")

    def config_sources_status(self, req: Req) -> Response:
        """DescribeConfigurationAggregatorSourcesStatus in botocore's shape: the seeded
        `sources` of the aggregator, else one SUCCEEDED ACCOUNT source per account × region
        of its items. `UpdateStatus` filters; `Limit` 0 means the default."""
        name = req.json.get("ConfigurationAggregatorName")
        limit = req.json.get("Limit")
        if limit is not None and not (0 <= int(limit) <= 100):
            raise ApiError("InvalidLimitException", "Limit must be between 0 and 100")
        key = (req.account, req.region, name)
        with self.state.lock:
            items = self.state.aggregators.get(key)
            seeded = copy.deepcopy(self.state.aggregator_sources.get(key))
        if items is None:
            raise ApiError("NoSuchConfigurationAggregatorException",
                           f"The configuration aggregator does not exist. Check the configuration aggregator name {name} and try again.")
        if seeded is None:
            places = sorted({(i.get("accountId"), i.get("awsRegion")) for i in items.values()})
            seeded = [{"SourceId": a, "SourceType": "ACCOUNT", "AwsRegion": r,
                       "LastUpdateStatus": "SUCCEEDED", "LastUpdateTime": time.time()} for a, r in places]
        wanted = req.json.get("UpdateStatus") or []
        for w in wanted:
            if w not in ("FAILED", "SUCCEEDED", "OUTDATED"):
                raise ApiError("InvalidParameterValueException", f"Invalid UpdateStatus {w}")
        rows = []
        for src in seeded:
            if wanted and src.get("LastUpdateStatus") not in wanted:
                continue
            row = {k: v for k, v in src.items() if k in (
                "SourceId", "SourceType", "AwsRegion", "LastUpdateStatus", "LastUpdateTime",
                "LastErrorCode", "LastErrorMessage")}
            if isinstance(row.get("LastUpdateTime"), str):
                row["LastUpdateTime"] = _dt.datetime.fromisoformat(
                    row["LastUpdateTime"].replace("Z", "+00:00")).timestamp()
            rows.append(row)
        page, nxt = self.paginate(req, "DescribeConfigurationAggregatorSourcesStatus", rows, limit or None)
        payload: dict[str, Any] = {"AggregatedSourceStatusList": page}
        if nxt:
            payload["NextToken"] = nxt
        return _json_response(200, payload, "application/x-amz-json-1.1")


# --------------------------------------------------------------------------------------
# A small subset of Config's SQL: SELECT path[, path...] [WHERE cond [AND|OR cond ...]]
# cond: path (= | != | <> | < | <= | > | >=) 'v' | path IN ('a', 'b') | path LIKE 'x%'
# AND binds tighter than OR; no parentheses, NOT, BETWEEN or aggregates.
# --------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:('(?:[^']|'')*')|(<>|!=|<=|>=|=|<|>|\(|\)|,)|([A-Za-z_][A-Za-z0-9_.:]*))")


def _tokens(expression: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = expression.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ApiError("InvalidExpressionException", f"Invalid expression near: {text[pos:pos + 20]!r}")
        pos = match.end()
        if match.group(1) is not None:
            out.append(("str", match.group(1)[1:-1].replace("''", "'")))
        elif match.group(2) is not None:
            out.append(("op", match.group(2)))
        elif match.group(3) is not None:
            out.append(("id", match.group(3)))
    return out


def _values(item: Any, path: list[str]) -> list:
    """Every value a dotted path reaches, looking through lists as Config does."""
    if not path:
        if isinstance(item, list):
            return [v for x in item for v in _values(x, [])]
        return [item]
    if isinstance(item, list):
        return [v for x in item for v in _values(x, path)]
    if not isinstance(item, dict):
        return []
    key = path[0]
    if key not in item:
        lowered = {k.lower(): k for k in item}
        key = lowered.get(key.lower(), key)
    if key not in item:
        return []
    return _values(item[key], path[1:])


def project(item: Any, path: list[str]) -> Any:
    if not path:
        return copy.deepcopy(item)
    if isinstance(item, list):
        return [project(x, path) for x in item]
    if not isinstance(item, dict):
        return {}
    key = path[0]
    if key not in item:
        lowered = {k.lower(): k for k in item}
        key = lowered.get(key.lower(), key)
    if key not in item:
        return {}
    return {key: project(item[key], path[1:])}


def merge_projection(a: Any, b: Any) -> Any:
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = merge_projection(out[k], v) if k in out else v
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [merge_projection(x, y) for x, y in zip(a, b)]
    return b if b not in ({}, None) else a


def _like(pattern: str, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    regex = "^" + "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern) + "$"
    return re.match(regex, value, re.S) is not None


def _compare(op: str, value: Any, literal: str) -> bool:
    if not isinstance(value, (str, int, float)):
        return False
    left: Any = value
    right: Any = literal
    try:  # timestamps compare as instants, numbers as numbers, the rest as strings
        left, right = to_epoch(value), to_epoch(literal)
    except (ValueError, TypeError):
        try:
            left, right = float(value), float(literal)
        except (ValueError, TypeError):
            left, right = str(value), literal
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]


def parse_select(expression: str) -> tuple[list[str], list[Callable[[dict], bool]]]:
    toks = _tokens(expression)
    bad = ApiError("InvalidExpressionException", f"Invalid or unsupported expression: {expression}")
    if not toks or toks[0] != ("id", toks[0][1]) or toks[0][1].upper() != "SELECT":
        raise bad
    pos, fields = 1, []
    while True:
        if pos >= len(toks) or toks[pos][0] != "id" or toks[pos][1].upper() in ("WHERE", "SELECT"):
            raise bad
        fields.append(toks[pos][1])
        pos += 1
        if pos < len(toks) and toks[pos] == ("op", ","):
            pos += 1
            continue
        break
    groups: list[list[Callable[[dict], bool]]] = [[]]
    conditions = groups[0]
    if pos < len(toks):
        if toks[pos][0] != "id" or toks[pos][1].upper() != "WHERE":
            raise bad
        pos += 1
        while True:
            if pos + 2 > len(toks) or toks[pos][0] != "id":
                raise bad
            path = toks[pos][1].split(".")
            op = toks[pos + 1]
            pos += 2
            if op[0] == "op" and op[1] in ("=", "!=", "<>"):
                if pos >= len(toks) or toks[pos][0] != "str":
                    raise bad
                value = toks[pos][1]
                pos += 1
                if op[1] == "=":
                    conditions.append(lambda item, p=path, v=value: v in _values(item, p))
                else:
                    conditions.append(lambda item, p=path, v=value: v not in _values(item, p))
            elif op[0] == "op" and op[1] in ("<", "<=", ">", ">="):
                if pos >= len(toks) or toks[pos][0] != "str":
                    raise bad
                value = toks[pos][1]
                pos += 1
                conditions.append(lambda item, p=path, o=op[1], v=value: any(_compare(o, x, v) for x in _values(item, p)))
            elif op[0] == "id" and op[1].upper() == "IN":
                if pos >= len(toks) or toks[pos] != ("op", "("):
                    raise bad
                pos += 1
                options = []
                while pos < len(toks) and toks[pos][0] == "str":
                    options.append(toks[pos][1])
                    pos += 1
                    if pos < len(toks) and toks[pos] == ("op", ","):
                        pos += 1
                if pos >= len(toks) or toks[pos] != ("op", ")") or not options:
                    raise bad
                pos += 1
                conditions.append(lambda item, p=path, o=tuple(options): any(v in o for v in _values(item, p)))
            elif op[0] == "id" and op[1].upper() == "LIKE":
                if pos >= len(toks) or toks[pos][0] != "str":
                    raise bad
                pattern = toks[pos][1]
                pos += 1
                conditions.append(lambda item, p=path, pat=pattern: any(_like(pat, v) for v in _values(item, p)))
            else:
                raise bad
            if pos < len(toks) and toks[pos][0] == "id" and toks[pos][1].upper() == "AND":
                pos += 1
                continue
            if pos < len(toks) and toks[pos][0] == "id" and toks[pos][1].upper() == "OR":
                pos += 1
                conditions = []
                groups.append(conditions)
                continue
            break
    if pos != len(toks):
        raise bad
    if len(groups) == 1:
        return fields, groups[0]
    return fields, [lambda item, g=tuple(tuple(x) for x in groups): any(all(c(item) for c in grp) for grp in g)]


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------

def build_app() -> Extension:
    return Extension(DomainDispatcherApplication(create_backend_app))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--no-stdin", action="store_true",
                        help="do not exit at EOF on standard input (for running by hand)")
    parser.add_argument("--log", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)

    handler = MotoRequestHandler
    if not args.log:
        class QuietHandler(MotoRequestHandler):
            def log_request(self, *a: Any, **k: Any) -> None:
                pass
        handler = QuietHandler
    server = make_server(args.host, args.port, build_app(), threaded=True, request_handler=handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"READY http://{args.host}:{server.server_port}", flush=True)

    if not args.no_stdin:
        def watch_stdin() -> None:
            # os.read on the descriptor, not sys.stdin: a daemon thread blocked inside the
            # buffered reader would hold its lock through interpreter shutdown.
            try:
                while os.read(0, 65536):
                    pass
            except OSError:
                pass
            stop.set()
        threading.Thread(target=watch_stdin, daemon=True).start()

    while not stop.wait(0.1):
        pass
    # Nothing to flush or save: leave at once, without waiting for in-flight requests.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
