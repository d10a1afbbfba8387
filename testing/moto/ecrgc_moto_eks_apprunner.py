"""Seeded EKS clusters and App Runner services for ecrgc_moto.py (README.md beside this file).

EKS: moto's clusters have a random endpoint and a random, non-PEM `certificateAuthority.data`,
so a client cannot reach them. `eks_clusters` seeds clusters whose endpoint and CA are a test's
own fake Kubernetes API server (testing/kube/fake_apiserver.py); ListClusters and
DescribeCluster answer them beside moto's own clusters.

App Runner: moto 5.2.5 has no App Runner at all; `apprunner_services` seeds the services that
ListServices and DescribeService answer.

Every answer follows botocore's service model (`aws-shape eks DescribeCluster`,
`aws-shape apprunner DescribeService`): restJson1 for EKS, awsJson1_0 for App Runner, epoch
seconds for timestamps.
"""

from __future__ import annotations

import copy
import hashlib
import uuid
from typing import Any, Callable
from urllib.parse import unquote

from ecrgc_moto_base import ApiError, Pager, Response, _json_response, now_epoch, to_epoch

APPRUNNER_JSON = "application/x-amz-json-1.0"


def _hex(*parts: str, upper: bool = False) -> str:
    """A stable 32-hex-digit id derived from the parts (same seed, same id)."""
    digest = hashlib.md5("/".join(parts).encode()).hexdigest()
    return digest.upper() if upper else digest


def eks_cluster_doc(row: dict, created: float) -> dict:
    """DescribeCluster's `cluster` for a seeded row. No member of the Cluster shape is required;
    these are the members DescribeCluster shows for an ordinary ACTIVE cluster
    (https://docs.aws.amazon.com/eks/latest/APIReference/API_DescribeCluster.html)."""
    account, region, name = row["account_id"], row["region"], row["name"]
    ident = _hex("eks", account, region, name, upper=True)
    doc: dict[str, Any] = {
        "name": name,
        "arn": f"arn:aws:eks:{region}:{account}:cluster/{name}",
        "createdAt": created,
        "version": row.get("version") or "1.31",
        "roleArn": row.get("role_arn") or f"arn:aws:iam::{account}:role/eks-cluster-role",
        "resourcesVpcConfig": {
            "subnetIds": [f"subnet-{ident[:17].lower()}", f"subnet-{ident[-17:].lower()}"],
            "securityGroupIds": [],
            "clusterSecurityGroupId": f"sg-{ident[:17].lower()}",
            "vpcId": f"vpc-{ident[:17].lower()}",
            "endpointPublicAccess": True,
            "endpointPrivateAccess": False,
            "publicAccessCidrs": ["0.0.0.0/0"],
        },
        "kubernetesNetworkConfig": {"serviceIpv4Cidr": "10.100.0.0/16", "ipFamily": "ipv4"},
        "logging": {"clusterLogging": [{"types": ["api", "audit", "authenticator",
                                                  "controllerManager", "scheduler"],
                                        "enabled": False}]},
        "identity": {"oidc": {"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{ident}"}},
        "status": row.get("status") or "ACTIVE",
        # A cluster still CREATING has no CA yet: `{}` then, as EKS shows it.
        "certificateAuthority": ({"data": row["certificate_authority_data"]}
                                 if row.get("certificate_authority_data") else {}),
        "platformVersion": row.get("platform_version") or "eks.1",
        "tags": dict(row.get("tags") or {}),
        "health": {"issues": []},
        "accessConfig": {"authenticationMode": "API_AND_CONFIG_MAP"},
        "upgradePolicy": {"supportType": "STANDARD"},
    }
    if row.get("endpoint"):
        doc["endpoint"] = row["endpoint"]
    return doc


def apprunner_service_doc(row: dict) -> dict:
    """DescribeService's `Service` for a seeded row, with every required member of the
    Service shape (ServiceName, ServiceId, ServiceArn, CreatedAt, UpdatedAt, Status,
    SourceConfiguration, InstanceConfiguration, AutoScalingConfigurationSummary,
    NetworkConfiguration), valued as App Runner's defaults are
    (https://docs.aws.amazon.com/apprunner/latest/api/API_Service.html)."""
    account, region = row["account_id"], row["region"]
    arn = row["service_arn"]
    service_id = arn.rsplit("/", 1)[-1]
    created = row["created_at"]
    updated = row.get("updated_at") or created
    repo_type = row.get("image_repository_type") or "ECR"
    source: dict[str, Any] = {
        "ImageRepository": {
            "ImageIdentifier": row["image_identifier"],
            "ImageConfiguration": {"Port": str(row.get("port") or "8080")},
            "ImageRepositoryType": repo_type,
        },
        "AutoDeploymentsEnabled": bool(row.get("auto_deployments_enabled", False)),
    }
    if repo_type == "ECR":
        # AccessRoleArn "is required for ECR image repositories (but not for ECR Public
        # repositories)" (API_AuthenticationConfiguration).
        source["AuthenticationConfiguration"] = {
            "AccessRoleArn": row.get("access_role_arn")
            or f"arn:aws:iam::{account}:role/service-role/AppRunnerECRAccessRole"}
    doc: dict[str, Any] = {
        "ServiceName": row["service_name"],
        "ServiceId": service_id,
        "ServiceArn": arn,
        "ServiceUrl": f"{service_id[:10]}.{region}.awsapprunner.com",
        "CreatedAt": created,
        "UpdatedAt": updated,
        "Status": row.get("status") or "RUNNING",
        "SourceConfiguration": source,
        "InstanceConfiguration": {"Cpu": "1024", "Memory": "2048"},
        "HealthCheckConfiguration": {"Protocol": "TCP", "Path": "/", "Interval": 10, "Timeout": 5,
                                     "HealthyThreshold": 1, "UnhealthyThreshold": 5},
        "AutoScalingConfigurationSummary": {
            "AutoScalingConfigurationArn":
                f"arn:aws:apprunner:{region}:{account}:autoscalingconfiguration/DefaultConfiguration/1/"
                + _hex("asc", account, region),
            "AutoScalingConfigurationName": "DefaultConfiguration",
            "AutoScalingConfigurationRevision": 1,
            "Status": "ACTIVE",
            "CreatedAt": created,
            "HasAssociatedService": True,
            "IsDefault": True,
        },
        "NetworkConfiguration": {"EgressConfiguration": {"EgressType": "DEFAULT"},
                                 "IngressConfiguration": {"IsPubliclyAccessible": True},
                                 "IpAddressType": "IPV4"},
        "ObservabilityConfiguration": {"ObservabilityEnabled": False},
    }
    if doc["Status"] == "DELETED":
        doc["DeletedAt"] = updated
    return doc


class EksAppRunner:
    """The `eks_clusters` and `apprunner_services` seeds and the operations they answer."""

    SEED_KEYS = {"eks_clusters", "apprunner_services"}
    PAGERS = {
        # maxResults 1..100, default 100 (model: `integer min=1 max=100`; API reference:
        # "If you don't use this parameter, ListClusters returns up to 100 results").
        ("eks", "ListClusters"): Pager("clusters", "nextToken", "maxResults", "nextToken", 100,
                                       "InvalidParameterException", query=True, max_limit=100),
        # MaxResults 1..20; "If you don't specify MaxResults, the request retrieves all
        # available results in a single response" (API_ListServices).
        ("apprunner", "ListServices"): Pager("ServiceSummaryList", "NextToken", "MaxResults", "NextToken",
                                             10 ** 9, "InvalidRequestException", max_limit=20),
    }

    def __init__(self, ext: Any) -> None:
        self.ext = ext
        self.clear()

    # -- seeds (State.lock held by the caller) ---------------------------------------------

    def clear(self) -> None:
        # (account, region, name) -> {"row": seeded row, "created": epoch}
        self.clusters: dict[tuple, dict] = {}
        # (account, region, service name) -> seeded row, completed (ARN, times)
        self.services: dict[tuple, dict] = {}

    def seed(self, doc: dict) -> dict[str, int]:
        for row in doc.get("eks_clusters") or []:
            key = (row["account_id"], row["region"], row["name"])
            row = dict(row)
            created = to_epoch(row.get("created_at")) if row.get("created_at") is not None else now_epoch()
            self.clusters[key] = {"row": row, "created": created}
        for row in doc.get("apprunner_services") or []:
            row = dict(row)
            key = (row["account_id"], row["region"], row["service_name"])
            if not row.get("image_identifier"):
                raise ValueError(f"apprunner_services: image_identifier is required ({key})")
            if row.get("image_repository_type", "ECR") not in ("ECR", "ECR_PUBLIC"):
                raise ValueError(f"apprunner_services: image_repository_type must be ECR or ECR_PUBLIC ({key})")
            previous = self.services.get(key) or {}
            row["service_arn"] = (row.get("service_arn") or previous.get("service_arn")
                                  or f"arn:aws:apprunner:{key[1]}:{key[0]}:service/{key[2]}/{uuid.uuid4().hex}")
            for field in ("created_at", "updated_at"):
                if row.get(field) is not None:
                    row[field] = to_epoch(row[field])
                elif previous.get(field) is not None:
                    row[field] = previous[field]
            row.setdefault("created_at", now_epoch())
            self.services[key] = row
        return {"eks_clusters": len(doc.get("eks_clusters") or []),
                "apprunner_services": len(doc.get("apprunner_services") or [])}

    def snapshot(self) -> dict:
        return {
            "eks_clusters": [dict(c["row"], created_at=c["created"]) for c in self.clusters.values()],
            "apprunner_services": [dict(r) for r in self.services.values()],
        }

    def handlers(self) -> dict[tuple[str, str], Callable]:
        return {
            ("eks", "ListClusters"): self.eks_list_clusters,
            ("eks", "DescribeCluster"): self.eks_describe_cluster,
            ("apprunner", "ListServices"): self.apprunner_list_services,
            ("apprunner", "DescribeService"): self.apprunner_describe_service,
        }

    # -- EKS ----------------------------------------------------------------------------

    @staticmethod
    def _moto_clusters(req: Any) -> dict:
        from moto.eks.models import eks_backends
        return eks_backends[req.account][req.region].clusters

    def eks_list_clusters(self, req: Any) -> Response:
        """moto's clusters, then the seeded ones (a seeded name replaces moto's cluster of that
        name). Always paged here: moto's own tokens are cluster names, and an unknown one fails."""
        names = list(self._moto_clusters(req))
        with self.ext.state.lock:
            seeded = [k[2] for k in self.clusters if k[0] == req.account and k[1] == req.region]
        names += [n for n in seeded if n not in names]
        page, nxt = self.ext.paginate(req, "ListClusters", names, req.query.get("maxResults", [None])[0])
        payload: dict[str, Any] = {"clusters": page}
        if nxt:
            payload["nextToken"] = nxt
        return _json_response(200, payload)

    def eks_describe_cluster(self, req: Any) -> Response:
        name = unquote(req.path.rstrip("/").rsplit("/", 1)[-1])
        with self.ext.state.lock:
            entry = copy.deepcopy(self.clusters.get((req.account, req.region, name)))
        if entry is not None:
            return _json_response(200, {"cluster": eks_cluster_doc(entry["row"], entry["created"])})
        if name in self._moto_clusters(req):
            return self.ext.call_moto(req.environ, req.body)
        # EKS's own words; the error shape carries the cluster's name.
        raise ApiError("ResourceNotFoundException", f"No cluster found for name: {name}.", 404,
                       {"clusterName": name})

    # -- App Runner ---------------------------------------------------------------------

    def _services(self, req: Any) -> list[dict]:
        with self.ext.state.lock:
            return [copy.deepcopy(r) for k, r in self.services.items()
                    if k[0] == req.account and k[1] == req.region]

    def apprunner_list_services(self, req: Any) -> Response:
        summaries = []
        for row in self._services(req):
            doc = apprunner_service_doc(row)
            summaries.append({k: doc[k] for k in ("ServiceName", "ServiceId", "ServiceArn", "ServiceUrl",
                                                  "CreatedAt", "UpdatedAt", "Status")})
        page, nxt = self.ext.paginate(req, "ListServices", summaries, req.json.get("MaxResults"))
        payload: dict[str, Any] = {"ServiceSummaryList": page}
        if nxt:
            payload["NextToken"] = nxt
        return _json_response(200, payload, APPRUNNER_JSON)

    def apprunner_describe_service(self, req: Any) -> Response:
        arn = req.json.get("ServiceArn")
        if not arn:
            raise ApiError("InvalidRequestException",
                           "1 validation error detected: Value null at 'serviceArn' failed to satisfy "
                           "constraint: Member must not be null")
        for row in self._services(req):
            if row["service_arn"] == arn:
                return _json_response(200, {"Service": apprunner_service_doc(row)}, APPRUNNER_JSON)
        raise ApiError("ResourceNotFoundException", f"Service not found: {arn}")
