#!/usr/bin/env python3
"""Seed an ecrgc_moto server (and a fake Kubernetes API) with the workloads beyond ECS and
Lambda, and write the truth.

    python testing/moto/workloads_scenario.py --url URL --now 2026-11-21T00:00:00Z \
        --out truth.json --kube-url URL --kube-ca CA.pem [--kube-refuse] [--references DIR]

Every image lives in the central registry (111111111111, eu-west-1), repository `apps/web`,
which grants the production account (222222222222) pulls and carries the opt-in tag. Every
image is pushed 200 days ago and has no Inspector coverage, so the untagged fallback rule
flags each untagged one: it survives only if a workload names it.

- `k8s-pinned`: untagged; a Deployment of the EKS cluster `prod` (222222222222, us-east-1)
  pins it by digest.
- `k8s-running`: untagged; a running pod names the tag `moving`, which moved to
  `k8s-moving-now` since the pod started; the pod's `imageID` is this digest.
- `k8s-done`: untagged; named by digest only by a pod that `Succeeded`: deleted.
- `batch`: untagged; an INACTIVE Batch job definition names it by digest (first run: kept).
- `apprunner`, `sagemaker`, `codebuild`: untagged; named by digest by an App Runner service,
  a SageMaker model, a CodeBuild project.
- `declared`: untagged; named by digest in a file under `--references DIR` (written here).
- `unused`: untagged, named by nothing: deleted.

`--kube-refuse` makes the cluster refuse every token: the production account's `eks` unit
fails, and every image of `apps/web` (which it may pull) is kept by `usage_coverage_gap`.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import ssl
import sys
import urllib.request

from scenario import CENTRAL, EU, OPT_IN, PROD, US, Scenario

REPO = "apps/web"
CLUSTER = "prod"


class WorkloadScenario(Scenario):
    def __init__(self, url: str, now: dt.datetime, refuse: bool) -> None:
        super().__init__(url, now)
        self.refuse = refuse
        self.seed.update({"eks_clusters": [], "apprunner_services": []})

    def image(self, name: str, tags: list[str], expect: str) -> str:
        digest = self.push(name, CENTRAL, EU, REPO, self.image_manifest(name), tags, expect)
        self.override(name, image_pushed_at=self.ago(200))
        return digest

    def by_digest(self, name: str) -> str:
        return self.uri(name, by_digest=True)

    def build(self, references: str | None) -> dict:
        self.credentials(PROD)
        self.repository(CENTRAL, EU, REPO, [OPT_IN], pullers=[PROD])
        kept = "protected:usage_coverage_gap" if self.refuse else "protected:live_reference"

        # Kubernetes.
        self.image("k8s-pinned", [], kept)
        self.image("k8s-running", [], kept)
        self.image("k8s-moving-now", ["moving"], "none")
        self.image("k8s-done", [], "protected:usage_coverage_gap" if self.refuse else "delete")
        pod = lambda name, image, phase, image_id=None: {  # noqa: E731
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"containers": [{"name": "app", "image": image}]},
            "status": {"phase": phase, "containerStatuses": [{
                "name": "app", "image": image, "ready": phase == "Running", "restartCount": 0,
                "imageID": image_id or "", "started": phase == "Running"}]},
        }
        kube_state = {
            "auth": {"eks_cluster": CLUSTER},
            "refuse": self.refuse,
            "objects": {
                "deployments": [{
                    "metadata": {"name": "web", "namespace": "shop"},
                    "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "app", "image": self.by_digest("k8s-pinned")}]}}},
                }],
                "pods": [
                    pod("worker-1", self.uri("k8s-moving-now", "moving"), "Running",
                        "docker-pullable://" + self.by_digest("k8s-running")),
                    pod("migrate-1", self.by_digest("k8s-done"), "Succeeded"),
                ],
            },
        }

        # AWS Batch: a job definition deregistered (INACTIVE) since.
        batch = self.client("batch", PROD, US)
        self.image("batch", [], kept)
        registered = batch.register_job_definition(
            jobDefinitionName="etl", type="container",
            containerProperties={"image": self.by_digest("batch"), "vcpus": 1, "memory": 512,
                                 "command": ["run"]})
        batch.deregister_job_definition(jobDefinition=registered["jobDefinitionArn"])

        # App Runner (seeded: moto has no App Runner).
        self.image("apprunner", [], kept)
        self.seed["apprunner_services"].append({
            "account_id": PROD, "region": US, "service_name": "storefront", "status": "PAUSED",
            "image_identifier": self.by_digest("apprunner"), "image_repository_type": "ECR"})

        # SageMaker: a model and the endpoint configuration serving it.
        sagemaker = self.client("sagemaker", PROD, US)
        self.image("sagemaker", [], kept)
        role = f"arn:aws:iam::{PROD}:role/sagemaker-exec"
        sagemaker.create_model(ModelName="churn", ExecutionRoleArn=role,
                               PrimaryContainer={"Image": self.by_digest("sagemaker")})
        sagemaker.create_endpoint_config(EndpointConfigName="churn-live", ProductionVariants=[{
            "VariantName": "all", "ModelName": "churn", "InitialInstanceCount": 1,
            "InstanceType": "ml.m5.large"}])

        # CodeBuild: a project building in that image.
        codebuild = self.client("codebuild", PROD, US)
        self.image("codebuild", [], kept)
        codebuild.create_project(
            name="ci", source={"type": "S3", "location": "builds/src.zip"},
            artifacts={"type": "NO_ARTIFACTS"}, serviceRole=f"arn:aws:iam::{PROD}:role/codebuild",
            environment={"type": "LINUX_CONTAINER", "image": self.by_digest("codebuild"),
                         "computeType": "BUILD_GENERAL1_SMALL"})

        # A declared reference in a GitOps file.
        if references:
            self.image("declared", [], kept)
            os.makedirs(os.path.join(references, "apps"), exist_ok=True)
            with open(os.path.join(references, "apps", "values.yaml"), "w") as fh:
                fh.write(f"# deployed by the pipeline\nimage: \"{self.by_digest('declared')}\"\n")

        self.image("unused", [], "protected:usage_coverage_gap" if self.refuse else "delete")
        return kube_state


def post_kube_state(url: str, ca: str, state: dict) -> None:
    context = ssl.create_default_context(cafile=ca) if url.startswith("https") else None
    request = urllib.request.Request(url.rstrip("/") + "/_fake/state", data=json.dumps(state).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, context=context) as response:
        response.read()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--now", required=True, help="e.g. 2026-11-21T00:00:00Z")
    parser.add_argument("--out", required=True)
    parser.add_argument("--kube-url", required=True, help="the fake Kubernetes API server")
    parser.add_argument("--kube-ca", required=True, help="its CA certificate (PEM)")
    parser.add_argument("--kube-refuse", action="store_true", help="the cluster refuses every token")
    parser.add_argument("--references", help="a folder to write the declared-reference file into")
    args = parser.parse_args(argv)

    now = dt.datetime.fromisoformat(args.now.replace("Z", "+00:00")).astimezone(dt.timezone.utc)
    scenario = WorkloadScenario(args.url, now, refuse=args.kube_refuse)
    kube_state = scenario.build(args.references)
    with open(args.kube_ca, "rb") as fh:
        ca_data = base64.b64encode(fh.read()).decode()
    scenario.seed["eks_clusters"].append({
        "account_id": PROD, "region": US, "name": CLUSTER, "endpoint": args.kube_url,
        "certificate_authority_data": ca_data, "status": "ACTIVE"})
    post_kube_state(args.kube_url, args.kube_ca, kube_state)
    scenario.post("/_ecrgc/seed", scenario.seed)
    with open(args.out, "w") as fh:
        json.dump({"now": args.now, "images": scenario.truth, "manifests": scenario.manifests}, fh,
                  indent=2, sort_keys=True)
        fh.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
