#!/usr/bin/env python3
"""Seed an ecrgc_moto server with a small multi-account organization, and write the truth.

    python testing/moto/scenario.py --url URL --now 2026-11-21T00:00:00Z --out truth.json \
        [--faults FILE.json]

Everything moto can hold goes in through boto3 over the wire (static fake credentials for
the central account 111111111111, STS AssumeRole of `ecrgc-collector` for the others);
what moto cannot hold (coverage, aggregator rows, back-dated pushes and pulls, task image
digests, organization accounts, page sizes, faults) goes through POST /_ecrgc/seed.

truth.json: {"now": ..., "images": {NAME: {"account_id", "region", "repository_name",
"image_digest", "tags", "expect"}}, "manifests": {NAME: manifest text as pushed}} where
expect is "delete", "protected:<guard>", "not_opted_in", "kept_with_parent" or "none".
README.md beside this file lists the layout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import sys
import urllib.request
import zipfile
from typing import Any

import boto3
from botocore.config import Config

CENTRAL, PROD, WORKLOADS = "111111111111", "222222222222", "333333333333"
# An account outside the organization and the collected scope (a partner).
OUTSIDER = "444444444444"
EU, US = "eu-west-1", "us-east-1"
ROLE = "ecrgc-collector"
OPT_IN = {"Key": "ecrgc:auto-delete", "Value": "true"}
EXCLUDE = {"Key": "unusd", "Value": "true"}

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
COSIGN_SIG = "application/vnd.dev.cosign.artifact.sig.v1+json"
COSIGN_LAYER = "application/vnd.dev.cosign.simplesigning.v1+json"
SPDX = "application/spdx+json"


def account_credentials(url: str, account: str, config: Config, cache: dict[str, dict[str, str]],
                        session_name: str) -> dict[str, str]:
    """boto3 credentials for `account`: the static test keys in 111111111111 (the caller's
    own account), an AssumeRole of the collector role everywhere else (cached)."""
    if account == CENTRAL:
        return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    if account not in cache:
        sts = boto3.client("sts", endpoint_url=url, region_name=US, config=config,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        got = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{ROLE}",
                              RoleSessionName=session_name)["Credentials"]
        cache[account] = {"aws_access_key_id": got["AccessKeyId"],
                          "aws_secret_access_key": got["SecretAccessKey"],
                          "aws_session_token": got["SessionToken"]}
    return cache[account]


def sha(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def registry_host(account: str, region: str) -> str:
    return f"{account}.dkr.ecr.{region}.amazonaws.com"


class Scenario:
    def __init__(self, url: str, now: dt.datetime) -> None:
        self.url = url.rstrip("/")
        self.now = now
        self.config = Config(retries={"total_max_attempts": 1, "mode": "standard"})
        self._creds: dict[str, dict[str, str]] = {}
        self.truth: dict[str, dict[str, Any]] = {}
        self.manifests: dict[str, str] = {}  # image name -> manifest text as pushed
        # Task definitions registered in ECS, as the aggregator records them.
        self.recorded: list[dict] = []
        self.seed: dict[str, list] = {
            "images": [], "coverage": [], "aggregators": [], "task_image_digests": [],
            "task_overrides": [], "task_definition_overrides": [], "organization_accounts": [],
        }

    # -- plumbing ------------------------------------------------------------------------

    def ago(self, days: float) -> str:
        return (self.now - dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def credentials(self, account: str) -> dict[str, str]:
        return account_credentials(self.url, account, self.config, self._creds, "ecrgc-scenario")

    def client(self, service: str, account: str, region: str) -> Any:
        return boto3.client(service, endpoint_url=self.url, region_name=region, config=self.config,
                            **self.credentials(account))

    def post(self, path: str, payload: Any) -> Any:
        request = urllib.request.Request(self.url + path, data=json.dumps(payload).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request) as response:
            return json.loads(response.read() or b"null")

    # -- images --------------------------------------------------------------------------

    def image_manifest(self, name: str, docker: bool = False, layers: int = 2) -> dict:
        """A distinct single-platform manifest derived from the image's name."""
        seed = int(hashlib.sha256(name.encode()).hexdigest()[:6], 16)
        return {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
                       "size": 1000 + seed % 1000, "digest": sha(f"config:{name}")},
            "layers": [{"mediaType": DOCKER_LAYER if docker else OCI_LAYER,
                        "size": 1_000_000 * (i + 1) + seed % 100_000, "digest": sha(f"layer:{name}:{i}")}
                       for i in range(layers)],
        }

    def push(self, name: str, account: str, region: str, repo: str, manifest: dict,
             tags: list[str], expect: str) -> str:
        text = json.dumps(manifest, separators=(",", ":"), sort_keys=True)
        digest = sha(text)
        ecr = self.client("ecr", account, region)
        for i, tag in enumerate(tags or [None]):
            kwargs: dict[str, Any] = {"repositoryName": repo, "imageManifest": text}
            if tag is not None:
                kwargs["imageTag"] = tag
            got = ecr.put_image(**kwargs)["image"]["imageId"]["imageDigest"]
            if got != digest:
                raise SystemExit(f"{name}: ECR answered digest {got}, expected sha256 of the manifest {digest}")
        self.manifests[name] = text
        self.truth[name] = {"account_id": account, "region": region, "repository_name": repo,
                            "image_digest": digest, "tags": list(tags), "expect": expect}
        return digest

    def descriptor(self, name: str, platform: dict | None = None) -> dict:
        text = self.manifests[name]
        out = {"mediaType": json.loads(text)["mediaType"], "size": len(text.encode()), "digest": sha(text)}
        if platform:
            out["platform"] = platform
        return out

    def override(self, name: str, **fields: Any) -> None:
        img = self.truth[name]
        self.seed["images"].append({"account_id": img["account_id"], "region": img["region"],
                                    "repository_name": img["repository_name"],
                                    "image_digest": img["image_digest"], **fields})

    def coverage(self, name: str, last_in_use_days: float | None = None, in_use_count: int = 0,
                 pulled_days: float | None = None) -> None:
        img = self.truth[name]
        self.seed["coverage"].append({
            "account_id": img["account_id"], "region": img["region"],
            "repository_name": img["repository_name"], "image_digest": img["image_digest"],
            "image_tags": img["tags"],
            "last_in_use_at": None if last_in_use_days is None else self.ago(last_in_use_days),
            "in_use_count": in_use_count,
            "image_pulled_at": None if pulled_days is None else self.ago(pulled_days),
            "scan_status": "ACTIVE", "last_scanned_at": self.ago(1),
        })

    def uri(self, name: str, tag: str | None = None, by_digest: bool = False) -> str:
        img = self.truth[name]
        base = f"{registry_host(img['account_id'], img['region'])}/{img['repository_name']}"
        if by_digest:
            return f"{base}@{img['image_digest']}"
        return f"{base}:{tag}"

    def repository(self, account: str, region: str, name: str, tags: list[dict],
                   mutability: str = "MUTABLE", pullers: list[str] | None = None,
                   lifecycle: bool = False) -> None:
        ecr = self.client("ecr", account, region)
        kwargs: dict[str, Any] = {"repositoryName": name, "imageTagMutability": mutability}
        if tags:
            kwargs["tags"] = tags
        ecr.create_repository(**kwargs)
        if pullers:
            policy = {"Version": "2012-10-17", "Statement": [{
                "Sid": "cross-account-pull", "Effect": "Allow",
                "Principal": {"AWS": [f"arn:aws:iam::{a}:root" for a in pullers]},
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            }]}
            ecr.set_repository_policy(repositoryName=name, policyText=json.dumps(policy))
        if lifecycle:
            rules = {"rules": [{"rulePriority": 1, "description": "expire untagged after 400 days",
                                "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                                              "countUnit": "days", "countNumber": 400},
                                "action": {"type": "expire"}}]}
            ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=json.dumps(rules))

    # -- the organization ------------------------------------------------------------------

    def build(self) -> None:
        for account in (PROD, WORKLOADS):
            self.credentials(account)
        self.registry_central()
        self.registry_prod()
        self.workloads()
        self.organization()
        self.scope()

    def registry_central(self) -> None:
        a, r = CENTRAL, EU
        self.repository(a, r, "payments/api", [OPT_IN, {"Key": "team", "Value": "payments"}],
                        pullers=[PROD, WORKLOADS], lifecycle=True)
        self.repository(a, r, "payments/worker", [OPT_IN], mutability="IMMUTABLE")
        self.repository(a, r, "legacy/tool", [{"Key": "team", "Value": "legacy"}])
        self.repository(a, r, "platform/base", [OPT_IN, EXCLUDE])
        self.repository(a, r, "docker-hub/library/nginx", [OPT_IN])

        api = "payments/api"
        m = self.image_manifest
        self.push("old-unused", a, r, api, m("old-unused"), ["v1"], "delete")
        self.override("old-unused", image_pushed_at=self.ago(300))
        self.coverage("old-unused")

        old_hex = self.truth["old-unused"]["image_digest"].split(":", 1)[1]
        sig = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
               "config": {"mediaType": OCI_CONFIG, "size": 233, "digest": sha("config:old-unused-sig")},
               "layers": [{"mediaType": COSIGN_LAYER, "size": 250, "digest": sha("layer:old-unused-sig"),
                           "annotations": {"dev.cosignproject.cosign/signature": "MEUCIQ-old-unused"}}]}
        self.push("old-unused-sig", a, r, api, sig, [f"sha256-{old_hex}.sig"], "delete")
        self.override("old-unused-sig", image_pushed_at=self.ago(300), artifact_media_type=COSIGN_SIG)

        self.push("stale", a, r, api, m("stale"), ["v2"], "delete")
        self.override("stale", image_pushed_at=self.ago(290))
        self.coverage("stale", last_in_use_days=200)

        stale = self.descriptor("stale")
        sbom = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": SPDX,
                "config": {"mediaType": OCI_EMPTY, "size": 2, "digest": sha("{}")},
                "layers": [{"mediaType": SPDX, "size": 4321, "digest": sha("layer:stale-sbom")}],
                "subject": stale}
        self.push("stale-sbom", a, r, api, sbom, [], "delete")
        self.override("stale-sbom", image_pushed_at=self.ago(290),
                      subject_manifest_digest=stale["digest"], artifact_media_type=SPDX)

        self.push("recent-use", a, r, api, m("recent-use"), ["v3"], "protected:recent_use")
        self.override("recent-use", image_pushed_at=self.ago(280))
        self.coverage("recent-use", last_in_use_days=20)

        self.push("by-digest", a, r, api, m("by-digest"), [], "protected:live_reference")
        self.override("by-digest", image_pushed_at=self.ago(270))

        self.push("multi-tag", a, r, api, m("multi-tag"), ["v4", "prod-2026"], "protected:live_reference")
        self.override("multi-tag", image_pushed_at=self.ago(260))
        self.coverage("multi-tag")

        self.push("rollback", a, r, api, m("rollback"), ["v5"], "protected:live_reference")
        self.override("rollback", image_pushed_at=self.ago(250))
        self.coverage("rollback")

        self.push("inactive-td", a, r, api, m("inactive-td"), ["v6"], "delete")
        self.override("inactive-td", image_pushed_at=self.ago(240))

        self.push("recent-pull", a, r, api, m("recent-pull"), ["v8"], "protected:recent_pull")
        self.override("recent-pull", image_pushed_at=self.ago(230), last_recorded_pull_time=self.ago(5))
        self.coverage("recent-pull")

        for index, children, tag, index_expect, child_expect, days in (
                ("index", ("child-amd64", "child-arm64"), "multi", "delete", "delete", 220),
                ("live-index", ("live-amd64", "live-arm64"), "live-multi", "protected:live_reference",
                 "kept_with_parent", 210)):
            descriptors = []
            for child in children:
                arch = child.rsplit("-", 1)[1]
                self.push(child, a, r, api, m(child), [], child_expect)
                self.override(child, image_pushed_at=self.ago(days))
                descriptors.append(self.descriptor(child, {"architecture": arch, "os": "linux"}))
            self.push(index, a, r, api, {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors},
                      [tag], index_expect)
            self.override(index, image_pushed_at=self.ago(days))
            self.coverage(index)

        # In use now: no rule flags it at all ("none"); its signature is listed as a child
        # and kept with it.
        self.push("signed", a, r, api, m("signed"), ["v9"], "none")
        self.override("signed", image_pushed_at=self.ago(200))
        self.coverage("signed", last_in_use_days=1, in_use_count=1, pulled_days=1)
        signed_hex = self.truth["signed"]["image_digest"].split(":", 1)[1]
        sig = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
               "config": {"mediaType": OCI_CONFIG, "size": 233, "digest": sha("config:signed-sig")},
               "layers": [{"mediaType": COSIGN_LAYER, "size": 251, "digest": sha("layer:signed-sig"),
                           "annotations": {"dev.cosignproject.cosign/signature": "MEUCIQ-signed"}}]}
        self.push("signed-sig", a, r, api, sig, [f"sha256-{signed_hex}.sig"], "kept_with_parent")
        self.override("signed-sig", image_pushed_at=self.ago(200), artifact_media_type=COSIGN_SIG)

        self.push("worker-old", a, r, "payments/worker", m("worker-old", docker=True), ["w1"], "delete")
        self.override("worker-old", image_pushed_at=self.ago(200))
        self.coverage("worker-old")
        self.push("worker-archived", a, r, "payments/worker", m("worker-archived", docker=True), ["w2"],
                  "protected:image_status")
        self.override("worker-archived", image_pushed_at=self.ago(200), image_status="ARCHIVED",
                      last_archived_at=self.ago(30))
        self.coverage("worker-archived")

        self.push("legacy-old", a, r, "legacy/tool", m("legacy-old", docker=True), ["l1"], "not_opted_in")
        self.override("legacy-old", image_pushed_at=self.ago(200))
        self.coverage("legacy-old")

        self.push("base-old", a, r, "platform/base", m("base-old"), ["b1"], "protected:exclude_tag")
        self.override("base-old", image_pushed_at=self.ago(200))
        self.coverage("base-old")

        self.push("nginx-cached", a, r, "docker-hub/library/nginx", m("nginx-cached", docker=True), ["1.27"],
                  "protected:live_reference")
        self.override("nginx-cached", image_pushed_at=self.ago(150))
        self.coverage("nginx-cached")

    def registry_prod(self) -> None:
        a, r = PROD, US
        m = self.image_manifest
        self.repository(a, r, "data/etl", [OPT_IN], pullers=[WORKLOADS])
        self.repository(a, r, "data/private", [OPT_IN])
        self.push("etl-old", a, r, "data/etl", m("etl-old"), ["e1"], "delete")
        self.override("etl-old", image_pushed_at=self.ago(200))
        self.coverage("etl-old")
        self.push("private-old", a, r, "data/private", m("private-old"), ["p1"], "delete")
        self.override("private-old", image_pushed_at=self.ago(200))
        self.coverage("private-old")
        self.push("running-digest", a, r, "data/private", m("running-digest"), [], "protected:live_reference")
        self.override("running-digest", image_pushed_at=self.ago(200))
        self.push("stopped-long-ago", a, r, "data/private", m("stopped-long-ago"), ["s1"], "delete")
        self.override("stopped-long-ago", image_pushed_at=self.ago(200))
        self.coverage("stopped-long-ago")
        # Pushed last: `latest` now names this image, while the running task still runs the
        # older `running-digest` it resolved when it started.
        self.push("latest", a, r, "data/private", m("latest"), ["latest"], "protected:live_reference")
        self.override("latest", image_pushed_at=self.ago(100))
        self.coverage("latest")

    @staticmethod
    def td_item(account: str, region: str, family: str, revision: int, status: str,
                captured: str, containers: list[tuple[str, str]]) -> dict:
        """A task definition as Config's aggregator holds it (PascalCase configuration)."""
        arn = f"arn:aws:ecs:{region}:{account}:task-definition/{family}:{revision}"
        return {"accountId": account, "awsRegion": region, "resourceId": arn,
                "resourceName": f"{family}:{revision}",
                "resourceType": "AWS::ECS::TaskDefinition", "configurationItemCaptureTime": captured,
                "configuration": {"TaskDefinitionArn": arn, "Family": family, "Status": status,
                                  "ContainerDefinitions": [{"Name": n, "Image": i} for n, i in containers]}}

    def record(self, account: str, region: str, td: dict, status: str = "ACTIVE",
               captured: str | None = None) -> dict:
        """Remembers a task definition registered in ECS for the aggregator (`recorded`)."""
        family, revision = td["family"], td["revision"]
        containers = [(c["name"], c["image"]) for c in td["containerDefinitions"]]
        self.recorded.append(self.td_item(account, region, family, revision, status,
                                          captured or self.ago(10), containers))
        return td

    def workloads(self) -> None:
        # -- ECS, account 222222222222 / us-east-1 -----------------------------------------
        ecs = self.client("ecs", PROD, US)
        ecs.create_cluster(clusterName="etl")
        self.record(PROD, US, ecs.register_task_definition(family="api-by-digest", containerDefinitions=[
            {"name": "api", "image": self.uri("by-digest", by_digest=True), "memory": 256}])["taskDefinition"])
        private_latest = self.uri("latest", "latest")
        runner = ecs.register_task_definition(family="private-runner", containerDefinitions=[
            {"name": "runner", "image": private_latest, "memory": 256},
            {"name": "log-router", "image": "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable",
             "memory": 64}])["taskDefinition"]
        self.record(PROD, US, runner)
        running = ecs.run_task(cluster="etl", taskDefinition=runner["taskDefinitionArn"],
                               launchType="FARGATE", startedBy="ecrgc-scenario")["tasks"][0]
        self.seed["task_image_digests"].append({"account_id": PROD, "region": US, "image": private_latest,
                                                "image_digest": self.truth["running-digest"]["image_digest"]})
        self.seed["task_overrides"].append({"account_id": PROD, "region": US, "task_arn": running["taskArn"],
                                            "created_at": self.ago(3), "started_at": self.ago(3)})

        batch_image = self.uri("stopped-long-ago", "s1")
        batch = ecs.register_task_definition(family="private-batch", containerDefinitions=[
            {"name": "batch", "image": batch_image, "memory": 256}])["taskDefinition"]
        # ECS lists a stopped task "for at least one hour" (ECS API Reference, ListTasks and
        # DescribeTasks), with no upper bound: one stopped 2.9 days ago may still be listed,
        # or long gone. Either way it must not protect its image past the rollback window;
        # the rollback window rests on the task definition deregistered 2.9 days ago.
        stopped = ecs.run_task(cluster="etl", taskDefinition=batch["taskDefinitionArn"],
                               launchType="FARGATE")["tasks"][0]
        ecs.stop_task(cluster="etl", task=stopped["taskArn"], reason="Essential container in task exited")
        ecs.deregister_task_definition(taskDefinition=batch["taskDefinitionArn"])
        self.record(PROD, US, batch, "INACTIVE", self.ago(2.9))
        self.seed["task_image_digests"].append({"account_id": PROD, "region": US, "image": batch_image,
                                                "image_digest": self.truth["stopped-long-ago"]["image_digest"]})
        self.seed["task_overrides"].append({
            "account_id": PROD, "region": US, "task_arn": stopped["taskArn"], "created_at": self.ago(3),
            "started_at": self.ago(3), "stopping_at": self.ago(2.9), "stopped_at": self.ago(2.9),
            "execution_stopped_at": self.ago(2.9), "stop_code": "EssentialContainerExited"})
        self.seed["task_definition_overrides"].append({
            "account_id": PROD, "region": US, "task_definition_arn": batch["taskDefinitionArn"],
            "registered_at": self.ago(10), "deregistered_at": self.ago(2.9)})

        service_td = ecs.register_task_definition(family="etl-cache", containerDefinitions=[
            {"name": "redis", "image": "docker.io/library/redis:7", "memory": 256},
            {"name": "proxy", "image": "public.ecr.aws/nginx/nginx:1.25", "memory": 128}])["taskDefinition"]
        self.record(PROD, US, service_td)
        ecs.create_service(cluster="etl", serviceName="etl-cache",
                           taskDefinition=service_td["taskDefinitionArn"], desiredCount=1)

        # -- ECS, account 111111111111 / eu-west-1 -----------------------------------------
        ecs_central = self.client("ecs", CENTRAL, EU)
        self.record(CENTRAL, EU, ecs_central.register_task_definition(family="edge-nginx", containerDefinitions=[
            {"name": "nginx", "image": self.uri("nginx-cached", "1.27"), "memory": 128}])["taskDefinition"])

        # -- Config aggregator in 111111111111 / eu-west-1 ---------------------------------
        config = self.client("config", CENTRAL, EU)
        config.put_configuration_aggregator(
            ConfigurationAggregatorName="org",
            AccountAggregationSources=[{"AccountIds": [CENTRAL, PROD, WORKLOADS], "AllAwsRegions": True}])

        # The aggregator also records every task definition the scenario registers in ECS (a
        # recorder records them wherever they exist; see `recorded`), then these, which exist
        # only in the aggregator.
        self.seed["aggregators"].append({"account_id": CENTRAL, "region": EU, "name": "org", "items": self.recorded + [
            self.td_item(CENTRAL, EU, "api-multi", 3, "ACTIVE", self.ago(30),
                    [("api", self.uri("multi-tag", "prod-2026")), ("sidecar", "docker.io/library/busybox:1.36")]),
            self.td_item(PROD, EU, "api-rollback", 7, "INACTIVE", self.ago(0.5), [("api", self.uri("rollback", "v5"))]),
            self.td_item(WORKLOADS, EU, "api-retired", 2, "INACTIVE", self.ago(10),
                    [("api", self.uri("inactive-td", "v6"))]),
            # Retired long ago, but Inspector saw the image in use 20 days ago: the
            # inactive_task_definition rule flags it and the recent_use guard keeps it.
            self.td_item(WORKLOADS, EU, "api-old", 1, "INACTIVE", self.ago(60),
                    [("api", self.uri("recent-use", "v3"))]),
            {"accountId": WORKLOADS, "awsRegion": US, "resourceType": "AWS::Lambda::Function",
             "resourceId": "edge-api", "resourceName": "edge-api", "configurationItemCaptureTime": self.ago(2),
             "configuration": {"FunctionName": "edge-api", "PackageType": "Image"}},
        ]})

        # -- Lambda, account 333333333333 / us-east-1 ----------------------------------------
        iam = self.client("iam", WORKLOADS, US)
        role_arn = iam.create_role(RoleName="lambda-exec", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                    "Principal": {"Service": "lambda.amazonaws.com"}}]}))["Role"]["Arn"]
        lam = self.client("lambda", WORKLOADS, US)
        lam.create_function(FunctionName="edge-api", Role=role_arn, PackageType="Image",
                            Code={"ImageUri": self.uri("live-index", "live-multi")})
        version = lam.publish_version(FunctionName="edge-api")["Version"]
        lam.create_alias(FunctionName="edge-api", Name="live", FunctionVersion=version)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("handler.py", "def handler(event, context):\n    return 'ok'\n")
        lam.create_function(FunctionName="nightly-report", Role=role_arn, Runtime="python3.12",
                            Handler="handler.handler", Code={"ZipFile": buf.getvalue()})

    def organization(self) -> None:
        self.client("organizations", CENTRAL, US).create_organization(FeatureSet="ALL")
        self.seed["organization_accounts"] = [
            {"Id": CENTRAL, "Name": "central", "Status": "ACTIVE"},
            {"Id": PROD, "Name": "prod", "Status": "ACTIVE"},
            {"Id": WORKLOADS, "Name": "workloads", "Status": "ACTIVE"},
        ]

    # -- the scope and the reference forms ------------------------------------------------

    def scope(self) -> None:
        """Grants to accounts outside the collected scope, and references through every
        registry endpoint form (dual-stack, `:443`, an unparsable one)."""
        a, r = CENTRAL, EU
        m = self.image_manifest
        ecr = self.client("ecr", a, r)
        # 444444444444 (a partner, never in `org.accounts`) may pull: use unknown.
        self.repository(a, r, "scope/partner", [OPT_IN], pullers=[PROD, OUTSIDER])
        self.push("partner-old", a, r, "scope/partner", m("partner-old"), ["x1"],
                  "protected:usage_coverage_gap")
        self.override("partner-old", image_pushed_at=self.ago(200))
        self.coverage("partner-old")
        # Any account of the organization may pull: covered only when the organization is
        # listed (`org.discover = "organizations"`) and collected whole.
        org_id = self.client("organizations", CENTRAL, US).describe_organization()["Organization"]["Id"]
        self.repository(a, r, "scope/org-wide", [OPT_IN])
        ecr.set_repository_policy(repositoryName="scope/org-wide", policyText=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Sid": "organization-pull", "Effect": "Allow", "Principal": "*",
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": org_id}}}]}))
        self.push("org-wide-old", a, r, "scope/org-wide", m("org-wide-old"), ["o1"],
                  "protected:usage_coverage_gap")
        self.override("org-wide-old", image_pushed_at=self.ago(200))
        self.coverage("org-wide-old")

        # References through the dual-stack endpoint (by digest) and with an explicit :443
        # (by tag) keep their images; the unreferenced one would go (the repository is not
        # opted in, so the apply tests' manifest stays as it is).
        self.repository(a, r, "scope/refs", [])
        for name, tags, expect in (("dualstack-ref", [], "protected:live_reference"),
                                   ("port443-ref", ["p443"], "protected:live_reference"),
                                   ("refs-unused", ["u1"], "not_opted_in")):
            self.push(name, a, r, "scope/refs", m(name), tags, expect)
            self.override(name, image_pushed_at=self.ago(190))
            if tags:
                self.coverage(name)
        dual = f"{a}.dkr-ecr.{r}.on.aws/scope/refs@{self.truth['dualstack-ref']['image_digest']}"
        port = f"{registry_host(a, r)}:443/scope/refs:p443"
        # An image string naming 222222222222's eu-west-1 registry on another port does not
        # parse: that registry's images are of unknown use.
        self.repository(PROD, EU, "scope/typo", [OPT_IN])
        self.push("typo-old", PROD, EU, "scope/typo", m("typo-old"), ["t1"], "protected:usage_coverage_gap")
        self.override("typo-old", image_pushed_at=self.ago(200))
        self.coverage("typo-old")
        typo = f"{registry_host(PROD, EU)}:5000/scope/typo:t1"
        ecs = self.client("ecs", WORKLOADS, EU)
        forms = ecs.register_task_definition(family="endpoint-forms", containerDefinitions=[
            {"name": "dual", "image": dual, "memory": 128},
            {"name": "port", "image": port, "memory": 128},
            {"name": "typo", "image": typo, "memory": 128}])["taskDefinition"]
        # Registered after the aggregator's seed: recorded there directly.
        item = self.td_item(WORKLOADS, EU, forms["family"], forms["revision"], "ACTIVE", self.ago(1),
                            [(c["name"], c["image"]) for c in forms["containerDefinitions"]])
        self.seed["aggregators"][0]["items"].append(item)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--now", required=True, help="e.g. 2026-11-21T00:00:00Z")
    parser.add_argument("--out", required=True)
    parser.add_argument("--faults", help="a JSON file: a list of faults, or {\"faults\": [...]}")
    args = parser.parse_args(argv)

    now = dt.datetime.fromisoformat(args.now.replace("Z", "+00:00"))
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.timezone.utc)
    scenario = Scenario(args.url, now.astimezone(dt.timezone.utc))
    scenario.build()
    scenario.post("/_ecrgc/seed", scenario.seed)
    scenario.post("/_ecrgc/seed", {"page_size": {"default": 2}})
    if args.faults:
        with open(args.faults) as fh:
            faults = json.load(fh)
        if isinstance(faults, dict):
            faults = faults.get("faults") or []
        scenario.post("/_ecrgc/seed", {"faults": faults})
    truth = {"now": args.now, "images": scenario.truth, "manifests": scenario.manifests}
    with open(args.out, "w") as fh:
        json.dump(truth, fh, indent=2, sort_keys=True)
        fh.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
