#!/usr/bin/env python3
"""Seed an ecrgc_moto server with ECS services that pin digests, and write the truth.

    python testing/moto/ecs_scenario.py --url URL --now 2026-11-21T00:00:00Z --out truth.json \
        [--no-pin] [--faults FILE.json]

ECS version consistency: a service's revision pins the digest its image tag named when the
deployment started, and the service starts that digest again (after scaling from zero, or
when a deployment is rolled back) whatever the tag names now. This layout moves tags after
the services deployed, so that only the revisions still name the old digests. `--no-pin`
deploys the same layout with `versionConsistency: disabled` on the pinned service's
container: its revision pins nothing, and the old digest is unused.

truth.json has the format of scenario.py's; README.md beside this file lists the layout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from scenario import CENTRAL, EU, OPT_IN, PROD, US, Scenario

CLUSTER = "shop"
REPO = "shop/web"


class PinScenario(Scenario):
    def __init__(self, url: str, now: dt.datetime, pin: bool) -> None:
        super().__init__(url, now)
        self.pin = pin
        self.seed.update({"service_deployments": [], "vanished_services": []})

    def image(self, name: str, tag: str, expect: str) -> str:
        digest = self.push(name, CENTRAL, EU, REPO, self.image_manifest(name), [tag], expect)
        self.override(name, image_pushed_at=self.ago(200))
        self.truth[name]["tags"] = [tag]
        return digest

    def untag(self, name: str) -> None:
        """The tag moved to a newer image: this one is untagged now (coverage says so too)."""
        self.truth[name]["tags"] = []

    def deployments(self, service: str, created_days: list[float]) -> None:
        """Back-date the service's deployments, oldest first, to `created_days` ago."""
        ecs = self.client("ecs", PROD, US)
        listed = ecs.list_service_deployments(cluster=CLUSTER, service=service)["serviceDeployments"]
        listed.sort(key=lambda d: d["createdAt"])
        if len(listed) != len(created_days):
            raise SystemExit(f"{service}: {len(listed)} deployments, expected {len(created_days)}")
        for deployment, days in zip(listed, created_days):
            moment = self.ago(days)
            self.seed["service_deployments"].append({
                "account_id": PROD, "region": US, "cluster": CLUSTER, "service": service,
                "service_deployment_arn": deployment["serviceDeploymentArn"],
                "created_at": moment, "started_at": moment, "finished_at": moment})

    def build(self) -> None:
        self.credentials(PROD)
        self.repository(CENTRAL, EU, REPO, [OPT_IN], pullers=[PROD])
        ecs = self.client("ecs", PROD, US)
        ecs.create_cluster(clusterName=CLUSTER)

        def definition(family: str, tag: str, consistent: bool = True) -> str:
            container = {"name": "app", "image": self.uri_of(tag), "memory": 256}
            if not consistent:
                container["versionConsistency"] = "disabled"
            return ecs.register_task_definition(family=family, containerDefinitions=[container])[
                "taskDefinition"]["taskDefinitionArn"]

        # A service scaled to zero whose revision pins `pinned`; the tag then moved to `current`.
        self.image("pinned", "live", "protected:live_reference" if self.pin else "delete")
        web = definition("web", "live", consistent=self.pin)
        ecs.create_service(cluster=CLUSTER, serviceName="web", taskDefinition=web, desiredCount=0)
        self.image("current", "live", "protected:live_reference")
        self.untag("pinned")
        self.deployments("web", [100])  # deployed long ago: only its current revision is live

        # Deployments: the revision a deployment replaced is its rollback target for the
        # rollback window (24 h) after the deployment was created.
        for service, old, new, days in (("api", "rb-recent", "api-new", 0.25),
                                        ("batch", "rb-old", "batch-new", 3.0)):
            self.image(old, service, "protected:live_reference" if days < 1 else "delete")
            td = definition(service, service)
            ecs.create_service(cluster=CLUSTER, serviceName=service, taskDefinition=td, desiredCount=1)
            self.image(new, service, "protected:live_reference")
            self.untag(old)
            ecs.update_service(cluster=CLUSTER, service=service, forceNewDeployment=True)
            self.deployments(service, [days + 30, days])

        # A blue/green service (EXTERNAL controller): its task set runs `blue`.
        self.image("blue", "blue", "protected:live_reference")
        ecs.create_service(cluster=CLUSTER, serviceName="bg", desiredCount=1,
                           deploymentController={"type": "EXTERNAL"})
        ecs.create_task_set(cluster=CLUSTER, service="bg", taskDefinition=definition("bg-blue", "blue"))

        # A service on a task definition deregistered 30 days ago can still scale.
        self.image("legacy", "old", "protected:live_reference")
        legacy = definition("legacy", "old")
        ecs.create_service(cluster=CLUSTER, serviceName="legacy", taskDefinition=legacy, desiredCount=0)
        ecs.deregister_task_definition(taskDefinition=legacy)
        self.deployments("legacy", [90])
        self.seed["task_definition_overrides"].append({
            "account_id": PROD, "region": US, "task_definition_arn": legacy,
            "registered_at": self.ago(90), "deregistered_at": self.ago(30)})

        # A Lambda image function (tests make it vanish mid-run with a fault).
        self.image("fn", "fn", "protected:live_reference")
        iam = self.client("iam", PROD, US)
        role = iam.create_role(RoleName="fn-exec", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                    "Principal": {"Service": "lambda.amazonaws.com"}}]}))["Role"]["Arn"]
        self.client("lambda", PROD, US).create_function(FunctionName="fn", Role=role, PackageType="Image",
                                                       Code={"ImageUri": self.uri_of("fn")})

        self.image("unused", "x", "delete")

        # Listed by ListServices, then deleted before DescribeServices: MISSING.
        self.seed["vanished_services"].append({"account_id": PROD, "region": US, "cluster": CLUSTER,
                                               "service": "ghost"})
        for name in self.truth:
            self.coverage(name)

    def uri_of(self, tag: str) -> str:
        return f"{CENTRAL}.dkr.ecr.{EU}.amazonaws.com/{REPO}:{tag}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--now", required=True, help="e.g. 2026-11-21T00:00:00Z")
    parser.add_argument("--out", required=True)
    parser.add_argument("--no-pin", action="store_true", help="the pinned service's container has "
                        "versionConsistency disabled")
    parser.add_argument("--faults", help="a JSON file: a list of faults, or {\"faults\": [...]}")
    args = parser.parse_args(argv)

    now = dt.datetime.fromisoformat(args.now.replace("Z", "+00:00")).astimezone(dt.timezone.utc)
    scenario = PinScenario(args.url, now, pin=not args.no_pin)
    scenario.build()
    scenario.post("/_ecrgc/seed", scenario.seed)
    scenario.post("/_ecrgc/seed", {"page_size": {"default": 2}})
    if args.faults:
        with open(args.faults) as fh:
            faults = json.load(fh)
        if isinstance(faults, dict):
            faults = faults.get("faults") or []
        scenario.post("/_ecrgc/seed", {"faults": faults})
    with open(args.out, "w") as fh:
        json.dump({"now": args.now, "images": scenario.truth, "manifests": scenario.manifests}, fh,
                  indent=2, sort_keys=True)
        fh.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
