#!/usr/bin/env python3
"""Check every behaviour ecrgc_moto adds, over the wire, with boto3.

    python testing/moto/selftest.py

Starts ecrgc_moto.py as a subprocess (stdin piped, as a test does), runs scenario.py
against it, then checks pagination, shapes, overrides, faults, per-account separation,
the call log and reset. Prints one line per check and a closing `selftest: N passed,
N failed`; exits non-zero on any failure.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
NOW = "2026-11-21T00:00:00Z"
NOW_DT = dt.datetime(2026, 11, 21, tzinfo=dt.timezone.utc)
from scenario import CENTRAL, EU, PROD, US, WORKLOADS  # noqa: E402

from selftest_harness import (  # noqa: E402
    CHECKS,
    RESULTS,
    Env,
    all_pages,
    check,
    error_of,
    expect,
    http,
    seed,
)


def img(name: str) -> dict:
    return Env.truth["images"][name]


def ago(days: float) -> dt.datetime:
    return NOW_DT - dt.timedelta(days=days)


# --------------------------------------------------------------------------------------
# checks, in order
# --------------------------------------------------------------------------------------

@check("scenario: every image pushed with digest = sha256(manifest), in truth.json")
def _scenario() -> str:
    images = Env.truth["images"]
    # 28 images, and 6 of the scope section (scope/partner, scope/org-wide, scope/refs,
    # scope/typo in 222222222222 / eu-west-1).
    expect(len(images) == 34, f"{len(images)} images in truth.json")
    expect(Env.truth["now"] == NOW, "now")
    for name, entry in images.items():
        expect(entry["expect"] in ("delete", "not_opted_in", "kept_with_parent", "none")
               or entry["expect"].startswith("protected:"), f"{name}: {entry['expect']}")
    found = set()
    for account, region in ((CENTRAL, EU), (PROD, US), (PROD, EU)):
        ecr = Env.client("ecr", account, region)
        for repo in ecr.get_paginator("describe_repositories").paginate().build_full_result()["repositories"]:
            details = ecr.get_paginator("describe_images").paginate(
                repositoryName=repo["repositoryName"], filter={"imageStatus": "ANY"}).build_full_result()["imageDetails"]
            found.update((account, region, repo["repositoryName"], d["imageDigest"]) for d in details)
    wanted = {(e["account_id"], e["region"], e["repository_name"], e["image_digest"]) for e in images.values()}
    expect(wanted == found, f"missing {wanted - found}, extra {found - wanted}")
    return f"{len(images)} images"


@check("per-account separation through AssumeRole")
def _accounts() -> str:
    for account in (CENTRAL, PROD, WORKLOADS):
        got = Env.client("sts", account, US).get_caller_identity()["Account"]
        expect(got == account, f"caller identity {got} for {account}")
    central = {r["repositoryName"] for r in Env.client("ecr", CENTRAL, EU).describe_repositories(maxResults=100)["repositories"]}
    central_us = Env.client("ecr", CENTRAL, US).describe_repositories()["repositories"]
    prod = Env.client("ecr", PROD, US).get_paginator("describe_repositories").paginate().build_full_result()["repositories"]
    expect(not central_us, "111/us-east-1 has repositories")
    expect({r["repositoryName"] for r in prod} == {"data/etl", "data/private"}, f"222 repos {prod}")
    expect(all(r["registryId"] == PROD for r in prod), "registryId of 222's repositories")
    expect("data/etl" not in central, "222's repository visible from 111")
    cov = Env.client("inspector2", PROD, US).get_paginator("list_coverage").paginate().build_full_result()["coveredResources"]
    expect(cov and all(c["accountId"] == PROD for c in cov), "coverage of 222 holds other accounts")
    expect(not Env.client("lambda", CENTRAL, US).list_functions()["Functions"], "111 sees 333's functions")
    return "111/222/333 distinct"


@check("pagination: ECR DescribeRepositories, DescribeImages, ListImages")
def _page_ecr() -> str:
    ecr = Env.client("ecr", CENTRAL, EU)
    repos, pages = all_pages(ecr.describe_repositories, "repositories", "nextToken", "nextToken", maxResults=1000)
    # payments/api, payments/worker, legacy/tool, platform/base, docker-hub/library/nginx,
    # scope/partner, scope/org-wide, scope/refs: 8 in pages of 2.
    expect(len(repos) == 8 and pages == 4, f"repositories {len(repos)} in {pages} pages")
    in_api = [e for e in Env.truth["images"].values() if e["repository_name"] == "payments/api"]
    details, pages = all_pages(ecr.describe_images, "imageDetails", "nextToken", "nextToken",
                               repositoryName="payments/api", filter={"imageStatus": "ANY"})
    expect(len(details) == len(in_api) and pages == (len(in_api) + 1) // 2, f"images {len(details)} in {pages}")
    expect(len({d["imageDigest"] for d in details}) == len(in_api), "duplicate or missing digests across pages")
    one, pages1 = all_pages(ecr.describe_images, "imageDetails", "nextToken", "nextToken",
                            repositoryName="payments/api", maxResults=1)
    expect(len(one) == len(in_api) and pages1 == len(in_api), f"maxResults=1: {len(one)} in {pages1}")
    ids, pages = all_pages(ecr.list_images, "imageIds", "nextToken", "nextToken", repositoryName="payments/api")
    rows = sum(max(1, len(e["tags"])) for e in in_api)
    expect(len(ids) == rows and pages == (rows + 1) // 2, f"list_images {len(ids)} rows in {pages} pages")
    untagged, _ = all_pages(ecr.list_images, "imageIds", "nextToken", "nextToken", repositoryName="payments/api",
                            filter={"tagStatus": "UNTAGGED"})
    expect(len(untagged) == sum(1 for e in in_api if not e["tags"]), "UNTAGGED filter")
    full = ecr.get_paginator("describe_images").paginate(repositoryName="payments/api").build_full_result()
    expect(len(full["imageDetails"]) == len(in_api), "boto3 paginator on DescribeImages")
    err = error_of(lambda: ecr.describe_images(repositoryName="payments/api", nextToken="garbage"))
    expect(err.response["Error"]["Code"] == "InvalidParameterException", "bad token error")
    return f"{len(details)} images, {rows} list rows, pages of 2"


@check("pagination: ECS ListClusters, ListServices, ListTasks, ListTaskDefinitions")
def _page_ecs() -> str:
    ecs = Env.client("ecs", PROD, US)
    tds, pages = all_pages(ecs.list_task_definitions, "taskDefinitionArns", "nextToken", "nextToken")
    expect(len(tds) == 3 and pages == 2, f"ACTIVE task definitions {len(tds)} in {pages}")
    pref = ecs.list_task_definitions(familyPrefix="private")["taskDefinitionArns"]
    expect(len(pref) == 1 and "private-runner" in pref[0], f"familyPrefix is a prefix: {pref}")
    inactive = ecs.list_task_definitions(status="INACTIVE")["taskDefinitionArns"]
    expect(len(inactive) == 1 and "private-batch" in inactive[0], f"INACTIVE {inactive}")
    running = ecs.list_tasks(cluster="etl")["taskArns"]
    stopped = ecs.list_tasks(cluster="etl", desiredStatus="STOPPED")["taskArns"]
    expect(len(running) == 1 and len(stopped) == 1 and running != stopped, f"running {running} stopped {stopped}")
    # A busier region to page through: account 333 / eu-west-1.
    busy = Env.client("ecs", WORKLOADS, EU)
    for i in range(5):
        busy.create_cluster(clusterName=f"selftest-{i}")
    td = busy.register_task_definition(family="selftest", containerDefinitions=[
        {"name": "app", "image": "docker.io/library/alpine:3", "memory": 64}])["taskDefinition"]["taskDefinitionArn"]
    for i in range(3):
        busy.create_service(cluster="selftest-0", serviceName=f"svc-{i}", taskDefinition=td, desiredCount=0)
    for i in range(5):
        busy.run_task(cluster="selftest-0", taskDefinition=td, launchType="FARGATE")
    clusters, pages = all_pages(busy.list_clusters, "clusterArns", "nextToken", "nextToken")
    expect(len(clusters) == 5 and pages == 3, f"clusters {len(clusters)} in {pages}")
    services, pages = all_pages(busy.list_services, "serviceArns", "nextToken", "nextToken", cluster="selftest-0")
    expect(len(services) == 3 and pages == 2, f"services {len(services)} in {pages}")
    tasks, pages = all_pages(busy.list_tasks, "taskArns", "nextToken", "nextToken", cluster="selftest-0", maxResults=100)
    expect(len(tasks) == 5 and pages == 3, f"tasks {len(tasks)} in {pages}")
    full = busy.get_paginator("list_tasks").paginate(cluster="selftest-0").build_full_result()["taskArns"]
    expect(sorted(full) == sorted(tasks), "boto3 paginator on ListTasks")
    return "clusters 5/3 pages, services 3/2, tasks 5/3, task definitions 3/2"


@check("pagination: Lambda ListFunctions, ListVersionsByFunction, ListAliases (Marker/MaxItems)")
def _page_lambda() -> str:
    lam = Env.client("lambda", WORKLOADS, US)
    lam.create_alias(FunctionName="edge-api", Name="canary", FunctionVersion="$LATEST")
    fns, pages = all_pages(lam.list_functions, "Functions", "Marker", "NextMarker", MaxItems=1)
    expect(len(fns) == 2 and pages == 2, f"functions {len(fns)} in {pages}")
    fns2, pages2 = all_pages(lam.list_functions, "Functions", "Marker", "NextMarker")
    expect(len(fns2) == 2 and pages2 == 1, f"default page size 2: {len(fns2)} in {pages2}")
    versions, pages = all_pages(lam.list_versions_by_function, "Versions", "Marker", "NextMarker",
                                FunctionName="edge-api", MaxItems=1)
    expect([v["Version"] for v in versions] == ["$LATEST", "1"] and pages == 2, f"versions {versions}")
    aliases, pages = all_pages(lam.list_aliases, "Aliases", "Marker", "NextMarker", FunctionName="edge-api", MaxItems=1)
    expect(sorted(a["Name"] for a in aliases) == ["canary", "live"] and pages == 2, f"aliases in {pages}")
    full = lam.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 1}).build_full_result()
    expect(len(full["Functions"]) == 2, "boto3 paginator on ListFunctions")
    err = error_of(lambda: lam.list_functions(Marker="garbage"))
    expect(err.response["Error"]["Code"] == "InvalidParameterValueException", "bad marker error")
    return "functions 2/2 pages, versions 2/2, aliases 2/2"


@check("pagination: Organizations ListAccounts from organization_accounts")
def _page_org() -> str:
    org = Env.client("organizations", CENTRAL, US)
    accounts, pages = all_pages(org.list_accounts, "Accounts", "NextToken", "NextToken")
    expect([a["Id"] for a in accounts] == [CENTRAL, PROD, WORKLOADS] and pages == 2, f"{accounts} in {pages}")
    expect(all(a["Status"] == "ACTIVE" and a["Arn"].endswith(a["Id"]) for a in accounts), "account fields")
    expect(isinstance(accounts[0]["JoinedTimestamp"], dt.datetime), "JoinedTimestamp parses as a timestamp")
    return "3 accounts in 2 pages"


@check("Inspector2 ListCoverage: shape, filters, pages")
def _coverage() -> str:
    ins = Env.client("inspector2", CENTRAL, EU)
    ecr_filter = {"resourceType": [{"comparison": "EQUALS", "value": "AWS_ECR_CONTAINER_IMAGE"}]}
    rows, pages = all_pages(ins.list_coverage, "coveredResources", "nextToken", "nextToken",
                            filterCriteria=ecr_filter, maxResults=200)
    expected = [n for n, e in Env.truth["images"].items() if e["account_id"] == CENTRAL]
    with_cov = {r["resourceId"] for r in rows}
    expect(pages == (len(rows) + 1) // 2 and pages > 1, f"{len(rows)} rows in {pages} pages")
    by_id = {r["resourceId"]: r for r in rows}

    def rid(name: str) -> str:
        e = img(name)
        return f"arn:aws:ecr:{e['region']}:{e['account_id']}:repository/{e['repository_name']}/{e['image_digest']}"

    for name in ("by-digest", "inactive-td", "old-unused-sig", "stale-sbom", "child-amd64", "signed-sig"):
        expect(rid(name) not in with_cov, f"{name} must have no coverage")
    never = by_id[rid("old-unused")]
    expect(never["resourceMetadata"]["ecrImage"] == {"tags": ["v1"], "inUseCount": 0}, f"never used: {never}")
    expect(never["scanType"] == "PACKAGE" and never["scanStatus"] == {"statusCode": "ACTIVE", "reason": "SUCCESSFUL"},
           "scan fields")
    expect(never["resourceMetadata"]["ecrRepository"]["name"] == "payments/api", "repository name")
    signed = by_id[rid("signed")]["resourceMetadata"]["ecrImage"]
    expect(signed["inUseCount"] == 1 and signed["lastInUseAt"] == ago(1) and signed["imagePulledAt"] == ago(1),
           f"signed: {signed}")
    stale = by_id[rid("stale")]["resourceMetadata"]["ecrImage"]
    expect(stale["lastInUseAt"] == ago(200), "stale lastInUseAt parses to a datetime, 200 days before now")
    only_worker = ins.list_coverage(filterCriteria={"ecrRepositoryName": [{"comparison": "EQUALS", "value": "payments/worker"}]})
    expect(len(only_worker["coveredResources"]) == 2, "ecrRepositoryName filter")
    other = ins.list_coverage(filterCriteria={"accountId": [{"comparison": "EQUALS", "value": PROD}]})
    expect(not other["coveredResources"], "accountId filter / account scoping")
    lam = ins.list_coverage(filterCriteria={"resourceType": [{"comparison": "EQUALS", "value": "AWS_LAMBDA_FUNCTION"}]})
    expect(not lam["coveredResources"], "resourceType filter")
    full = ins.get_paginator("list_coverage").paginate(filterCriteria=ecr_filter).build_full_result()
    expect(len(full["coveredResources"]) == len(rows), "boto3 paginator")
    return f"{len(rows)} rows of {len(expected)} images in 111, {pages} pages"


@check("Inspector2 GetConfiguration and INACTIVE coverage: defaults, seeded settings, delegated admin")
def _inspector_configuration() -> str:
    ins = Env.client("inspector2", PROD, US)
    state = ins.get_configuration()["ecrConfiguration"]["rescanDurationState"]
    expect(state == {"rescanDuration": "DAYS_14", "pullDateRescanDuration": "DAYS_14",
                     "pullDateRescanMode": "LAST_IN_USE_AT", "status": "SUCCESS"},
           f"AWS's defaults for a new account: {state}")
    seed({"inspector2_configuration": [{
        "account_id": PROD, "region": US, "rescan_duration": "LIFETIME",
        "pull_date_rescan_duration": "DAYS_180", "pull_date_rescan_mode": "LAST_PULL_DATE",
        "status": "SUCCESS", "updated_at": ago(30).isoformat()}]})
    state = ins.get_configuration()["ecrConfiguration"]["rescanDurationState"]
    expect(state["rescanDuration"] == "LIFETIME" and state["pullDateRescanMode"] == "LAST_PULL_DATE"
           and state["updatedAt"] == ago(30), f"seeded settings: {state}")
    err = error_of(lambda: Env.client("inspector2", CENTRAL, US).get_configuration(accountId=PROD))
    expect(err.response["Error"]["Code"] == "AccessDeniedException", "only the delegated admin names an account")
    stale = img("stale")
    seed({"coverage": [{**{k: stale[k] for k in ("account_id", "region", "repository_name", "image_digest")},
                        "image_tags": stale["tags"], "last_in_use_at": ago(200).isoformat(),
                        "in_use_count": 0, "scan_status": "INACTIVE",
                        "scan_status_reason": "SCAN_ELIGIBILITY_EXPIRED"}]})
    rows = Env.client("inspector2", CENTRAL, EU).list_coverage(filterCriteria={
        "scanStatusCode": [{"comparison": "EQUALS", "value": "INACTIVE"}]})["coveredResources"]
    expect(len(rows) == 1 and rows[0]["scanStatus"] == {"statusCode": "INACTIVE", "reason": "SCAN_ELIGIBILITY_EXPIRED"},
           f"INACTIVE row: {rows}")
    expect(rows[0]["resourceMetadata"]["ecrImage"]["lastInUseAt"] == ago(200), "the row keeps its usage fields")
    # Put the scenario back for the checks after this one.
    seed({"coverage": [{**{k: stale[k] for k in ("account_id", "region", "repository_name", "image_digest")},
                        "image_tags": stale["tags"], "last_in_use_at": ago(200).isoformat(),
                        "in_use_count": 0, "scan_status": "ACTIVE", "last_scanned_at": ago(1).isoformat()}]})
    return "defaults, seeded, denied for a member, one INACTIVE row"


@check("Config SelectAggregateResourceConfig: shape, filter, projection, pages, errors")
def _select() -> str:
    cfg = Env.client("config", CENTRAL, EU)
    expr = ("SELECT accountId, awsRegion, resourceId, configuration.Status, configuration.Family, "
            "configuration.ContainerDefinitions.Image, configurationItemCaptureTime "
            "WHERE resourceType = 'AWS::ECS::TaskDefinition'")
    results, pages = all_pages(cfg.select_aggregate_resource_config, "Results", "NextToken", "NextToken",
                               Expression=expr, ConfigurationAggregatorName="org", Limit=100)
    # The scenario's aggregator: the 6 task definitions it registers in ECS, then 4 that exist
    # only there (and a Lambda function the query filters out).
    expect(len(results) == 10 and pages == 5, f"{len(results)} rows in {pages} pages")
    rows = [json.loads(r) for r in results]
    first = next(r for r in rows if r["resourceId"].endswith("task-definition/api-multi:3"))
    expect(set(first) == {"accountId", "awsRegion", "resourceId", "configuration", "configurationItemCaptureTime"},
           f"fields {sorted(first)}")
    expect(set(first["configuration"]) == {"Status", "Family", "ContainerDefinitions"}, "nested configuration")
    expect(first["configuration"]["ContainerDefinitions"] == [
        {"Image": "111111111111.dkr.ecr.eu-west-1.amazonaws.com/payments/api:prod-2026"},
        {"Image": "docker.io/library/busybox:1.36"}], "ContainerDefinitions projected through the list")
    page = cfg.select_aggregate_resource_config(Expression=expr, ConfigurationAggregatorName="org")
    names = [f["Name"] for f in page["QueryInfo"]["SelectFields"]]
    expect(names[0] == "accountId" and names[5] == "configuration.ContainerDefinitions.Image", f"SelectFields {names}")
    inactive = cfg.get_paginator("select_aggregate_resource_config").paginate(
        Expression="SELECT resourceId WHERE resourceType = 'AWS::ECS::TaskDefinition' AND configuration.Status = 'INACTIVE'",
        ConfigurationAggregatorName="org").build_full_result()["Results"]
    expect(len(inactive) == 4, f"AND filter {inactive}")
    full = cfg.get_paginator("select_aggregate_resource_config").paginate(
        Expression=expr, ConfigurationAggregatorName="org").build_full_result()
    expect(len(full["Results"]) == 10, "boto3 paginator")
    err = error_of(lambda: cfg.select_aggregate_resource_config(Expression=expr, ConfigurationAggregatorName="nope"))
    expect(err.response["Error"]["Code"] == "NoSuchConfigurationAggregatorException", "unknown aggregator")
    long_expr = expr + " AND configuration.Family IN (" + ", ".join(f"'f{i:05d}'" for i in range(500)) + ")"
    err = error_of(lambda: cfg.select_aggregate_resource_config(Expression=long_expr, ConfigurationAggregatorName="org"))
    expect(len(long_expr) > 4096 and err.response["Error"]["Code"] == "InvalidExpressionException", "4096 limit")
    err = error_of(lambda: cfg.select_aggregate_resource_config(Expression=expr, ConfigurationAggregatorName="org", Limit=101))
    expect(err.response["Error"]["Code"] == "InvalidLimitException", "Limit > 100")
    err = error_of(lambda: cfg.select_aggregate_resource_config(Expression="SELEKT nothing", ConfigurationAggregatorName="org"))
    expect(err.response["Error"]["Code"] == "InvalidExpressionException", "bad expression")
    return "10 task definitions in 5 pages; Lambda item filtered out"


@check("DescribeConfigurationAggregatorSourcesStatus: derived, seeded, filtered, paged")
def _sources_status() -> str:
    cfg = Env.client("config", CENTRAL, EU)
    derived = cfg.describe_configuration_aggregator_sources_status(ConfigurationAggregatorName="org")
    rows = derived["AggregatedSourceStatusList"]
    expect(rows and all(r["LastUpdateStatus"] == "SUCCEEDED" and r["SourceType"] == "ACCOUNT" for r in rows),
           f"derived sources {rows}")
    expect(isinstance(rows[0]["LastUpdateTime"], dt.datetime), "LastUpdateTime is a timestamp")
    seed({"aggregators": [{"account_id": "111111111111", "region": "eu-west-1", "name": "org", "items": [], "sources": [
        {"SourceId": "111111111111", "SourceType": "ACCOUNT", "AwsRegion": "eu-west-1", "LastUpdateStatus": "SUCCEEDED",
         "LastUpdateTime": "2026-11-30T00:00:00Z"},
        {"SourceId": "222222222222", "SourceType": "ACCOUNT", "AwsRegion": "eu-west-1", "LastUpdateStatus": "OUTDATED",
         "LastUpdateTime": "2026-11-29T00:00:00Z"},
        {"SourceId": "333333333333", "SourceType": "ACCOUNT", "AwsRegion": "us-east-1", "LastUpdateStatus": "FAILED",
         "LastUpdateTime": "2026-11-29T00:00:00Z", "LastErrorCode": "AccessDenied", "LastErrorMessage": "no"}]}]})
    rows, pages = all_pages(cfg.describe_configuration_aggregator_sources_status, "AggregatedSourceStatusList",
                            "NextToken", "NextToken", ConfigurationAggregatorName="org", Limit=2)
    expect(len(rows) == 3 and pages == 2, f"{len(rows)} sources in {pages} pages")
    stale = cfg.describe_configuration_aggregator_sources_status(
        ConfigurationAggregatorName="org", UpdateStatus=["FAILED", "OUTDATED"])["AggregatedSourceStatusList"]
    expect([r["SourceId"] for r in stale] == ["222222222222", "333333333333"], f"filter {stale}")
    expect(stale[1]["LastErrorCode"] == "AccessDenied", "error code")
    err = error_of(lambda: cfg.describe_configuration_aggregator_sources_status(ConfigurationAggregatorName="nope"))
    expect(err.response["Error"]["Code"] == "NoSuchConfigurationAggregatorException", "unknown aggregator")
    return "3 seeded sources in 2 pages; filter by status"


@check("DescribeImages overrides and fields moto lacks")
def _overrides() -> str:
    ecr = Env.client("ecr", CENTRAL, EU)

    def detail(name: str) -> dict:
        e = img(name)
        got = ecr.describe_images(repositoryName=e["repository_name"], imageIds=[{"imageDigest": e["image_digest"]}])
        return got["imageDetails"][0]

    old = detail("old-unused")
    expect(old["imagePushedAt"] == ago(300), f"imagePushedAt {old['imagePushedAt']}")
    expect("lastRecordedPullTime" not in old, "no pull time unless seeded")
    expect(old["imageManifestMediaType"] == "application/vnd.oci.image.manifest.v1+json", "manifest media type")
    expect(old["artifactMediaType"] == "application/vnd.oci.image.config.v1+json", "artifact media type from config")
    expect(old["imageStatus"] == "ACTIVE", "imageStatus")
    expect(detail("recent-pull")["lastRecordedPullTime"] == ago(5), "lastRecordedPullTime")
    sig = detail("old-unused-sig")
    expect(sig["artifactMediaType"] == "application/vnd.dev.cosign.artifact.sig.v1+json", f"cosign {sig}")
    sbom = detail("stale-sbom")
    expect(sbom["subjectManifestDigest"] == img("stale")["image_digest"] and sbom["artifactMediaType"] == "application/spdx+json"
           and "imageTags" not in sbom, f"referrer {sbom}")
    index = detail("index")
    children = [detail("child-amd64"), detail("child-arm64")]
    expect(index["imageManifestMediaType"] == "application/vnd.oci.image.index.v1+json", "index media type")
    expect(index["imageSizeInBytes"] == max(c["imageSizeInBytes"] for c in children), "index size = largest child")
    docker = detail("worker-old")
    expect(docker["imageManifestMediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
           and docker["artifactMediaType"] == "application/vnd.docker.container.image.v1+json", "docker v2 media types")
    archived = img("worker-archived")["image_digest"]
    default = ecr.describe_images(repositoryName="payments/worker")["imageDetails"]
    expect(archived not in {d["imageDigest"] for d in default}, "ARCHIVED listed without an imageStatus filter")
    every = ecr.describe_images(repositoryName="payments/worker", filter={"imageStatus": "ANY"})["imageDetails"]
    arch = [d for d in every if d["imageDigest"] == archived]
    expect(arch and arch[0]["imageStatus"] == "ARCHIVED" and arch[0]["lastArchivedAt"] == ago(30), "ARCHIVED via ANY")
    only = ecr.describe_images(repositoryName="payments/worker", filter={"imageStatus": "ARCHIVED"})["imageDetails"]
    expect([d["imageDigest"] for d in only] == [archived], "ARCHIVED filter")
    refs = ecr.list_image_referrers(repositoryName="payments/api", subjectId={"imageDigest": img("stale")["image_digest"]})
    expect([r["digest"] for r in refs["referrers"]] == [img("stale-sbom")["image_digest"]]
           and refs["referrers"][0]["artifactType"] == "application/spdx+json", f"ListImageReferrers {refs['referrers']}")
    return "pushedAt, pull time, status, subject, artifact type, index size"


@check("ECS: RUNNING and STOPPED tasks, imageDigest, back-dated times, deregisteredAt")
def _ecs_tasks() -> str:
    ecs = Env.client("ecs", PROD, US)
    running = ecs.list_tasks(cluster="etl")["taskArns"]
    stopped = ecs.list_tasks(cluster="etl", desiredStatus="STOPPED")["taskArns"]
    tasks = {t["taskArn"]: t for t in ecs.describe_tasks(cluster="etl", tasks=running + stopped)["tasks"]}
    run, stop = tasks[running[0]], tasks[stopped[0]]
    expect(run["lastStatus"] == "RUNNING" and stop["lastStatus"] == "STOPPED", "statuses")
    again = ecs.describe_tasks(cluster="etl", tasks=running)["tasks"][0]
    expect(again["lastStatus"] == "RUNNING", "a second DescribeTasks keeps RUNNING")
    runner = {c["name"]: c for c in run["containers"]}
    expect(set(runner) == {"runner", "log-router"}, f"one container per definition: {sorted(runner)}")
    expect(runner["runner"]["imageDigest"] == img("running-digest")["image_digest"], "running task imageDigest")
    expect("imageDigest" not in runner["log-router"], "no digest for an unseeded image")
    expect(run["startedAt"] == ago(3), "startedAt override")
    expect(stop["stoppedAt"] == ago(2.9) and stop["containers"][0]["imageDigest"] == img("stopped-long-ago")["image_digest"],
           "stopped task")
    td = ecs.describe_task_definition(taskDefinition=stop["taskDefinitionArn"])["taskDefinition"]
    expect(td["status"] == "INACTIVE" and td["deregisteredAt"] == ago(2.9) and td["registeredAt"] == ago(10),
           f"deregisteredAt {td.get('deregisteredAt')}")
    active = ecs.describe_task_definition(taskDefinition="api-by-digest")["taskDefinition"]
    expect("deregisteredAt" not in active and isinstance(active.get("registeredAt"), dt.datetime), "ACTIVE registeredAt")
    expect(active["containerDefinitions"][0]["image"].endswith("@" + img("by-digest")["image_digest"]), "by-digest reference")
    return "RUNNING + STOPPED, digests filled"


@check("Lambda: image function resolved to the digest its tag named at deploy time")
def _lambda() -> str:
    lam = Env.client("lambda", WORKLOADS, US)
    got = lam.get_function(FunctionName="edge-api")
    digest = img("live-index")["image_digest"]
    expect(got["Configuration"]["PackageType"] == "Image", "PackageType")
    expect(got["Code"]["ImageUri"] == "111111111111.dkr.ecr.eu-west-1.amazonaws.com/payments/api:live-multi", "ImageUri")
    expect(got["Code"]["ResolvedImageUri"] == f"111111111111.dkr.ecr.eu-west-1.amazonaws.com/payments/api@{digest}",
           f"ResolvedImageUri {got['Code']['ResolvedImageUri']}")
    expect(got["Configuration"]["CodeSha256"] == digest.split(":")[1], "CodeSha256")
    zipped = lam.get_function(FunctionName="nightly-report")
    expect(zipped["Configuration"]["PackageType"] == "Zip" and "ImageUri" not in zipped.get("Code", {}), "zip function")
    return "ResolvedImageUri = live-index"


@check("faults: AccessDenied once for one account only (awsJson1_1)")
def _fault_denied() -> str:
    seed({"faults": [{"account_id": WORKLOADS, "region": None, "service": "ecs", "operation": "ListClusters",
                      "status": 400, "code": "AccessDeniedException", "message": "denied by selftest", "times": 1}]})
    err = error_of(lambda: Env.client("ecs", WORKLOADS, US).list_clusters())
    expect(err.response["Error"]["Code"] == "AccessDeniedException", f"code {err.response['Error']}")
    expect(err.response["Error"]["Message"] == "denied by selftest", "message")
    expect(err.response["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-errortype") == "AccessDeniedException", "header")
    Env.client("ecs", PROD, US).list_clusters()
    Env.client("ecs", WORKLOADS, US).list_clusters()
    return "333 denied once; 222 untouched"


@check("faults: ThrottlingException times=2 then success (ECR, retries off)")
def _fault_throttle() -> str:
    seed({"faults": [{"account_id": CENTRAL, "region": EU, "service": "ecr", "operation": "DescribeImages",
                      "status": 400, "code": "ThrottlingException", "message": "Rate exceeded", "times": 2}]})
    ecr = Env.client("ecr", CENTRAL, EU)
    codes = []
    for _ in range(2):
        codes.append(error_of(lambda: ecr.describe_images(repositoryName="payments/api")).response["Error"]["Code"])
    ecr.describe_images(repositoryName="payments/api")
    expect(codes == ["ThrottlingException"] * 2, f"codes {codes}")
    return "2 errors then a page"


@check("faults: restJson1 (Inspector2 429, Lambda 429), awsQuery (STS), Organizations Message")
def _fault_protocols() -> str:
    seed({"faults": [
        {"account_id": CENTRAL, "service": "inspector2", "operation": "ListCoverage", "status": 429,
         "code": "ThrottlingException", "message": "slow down", "times": 1},
        {"account_id": WORKLOADS, "service": "lambda", "operation": "ListFunctions", "status": 429,
         "code": "TooManyRequestsException", "message": "Rate exceeded", "times": 1},
        {"account_id": WORKLOADS, "service": "sts", "operation": "AssumeRole", "status": 403,
         "code": "AccessDenied", "message": "not authorized to perform sts:AssumeRole", "times": 1},
        {"account_id": CENTRAL, "service": "organizations", "operation": "ListAccounts", "status": 400,
         "code": "AccessDeniedException", "message": "org denied", "times": 1},
        {"account_id": PROD, "region": US, "service": "ecr", "operation": "DescribeRepositories", "status": 503,
         "code": "ServiceUnavailable", "message": "try later", "times": 1},
    ]})
    err = error_of(lambda: Env.client("inspector2", CENTRAL, EU).list_coverage())
    expect(err.response["Error"]["Code"] == "ThrottlingException" and err.response["ResponseMetadata"]["HTTPStatusCode"] == 429,
           f"inspector2 {err.response['Error']}")
    err = error_of(lambda: Env.client("lambda", WORKLOADS, US).list_functions())
    expect(err.response["Error"]["Code"] == "TooManyRequestsException" and err.response["Error"]["Message"] == "Rate exceeded",
           f"lambda {err.response['Error']}")
    sts = Env.client("sts", CENTRAL, US)
    err = error_of(lambda: sts.assume_role(RoleArn=f"arn:aws:iam::{WORKLOADS}:role/ecrgc-collector", RoleSessionName="x-selftest"))
    expect(err.response["Error"]["Code"] == "AccessDenied" and err.response["ResponseMetadata"]["HTTPStatusCode"] == 403,
           f"sts {err.response['Error']}")
    sts.assume_role(RoleArn=f"arn:aws:iam::{PROD}:role/ecrgc-collector", RoleSessionName="x-selftest")
    err = error_of(lambda: Env.client("organizations", CENTRAL, US).list_accounts())
    expect(err.response["Error"]["Code"] == "AccessDeniedException" and err.response["Error"]["Message"] == "org denied",
           f"organizations {err.response['Error']}")
    err = error_of(lambda: Env.client("ecr", PROD, US).describe_repositories())
    expect(err.response["Error"]["Code"] == "ServiceUnavailable" and err.response["ResponseMetadata"]["HTTPStatusCode"] == 503,
           f"ecr 503 {err.response['Error']}")
    Env.client("inspector2", CENTRAL, EU).list_coverage()
    Env.client("lambda", WORKLOADS, US).list_functions()
    left = [f for f in http("GET", "/_ecrgc/seed")["faults"] if f["times"] is None or f["answered"] < f["times"]]
    expect(not left, f"faults not used up: {left}")
    http("POST", "/_ecrgc/faults/reset")
    return "each answered once in its protocol"


@check("repeat_tokens: DescribeImages answers the token it was asked with, until reset")
def _repeat_tokens() -> str:
    seed({"page_size": {"ecr": 1}, "repeat_tokens": [{"account_id": CENTRAL, "service": "ecr",
                                                      "operation": "DescribeImages"}]})
    ecr = Env.client("ecr", CENTRAL, EU)
    try:
        first = ecr.describe_images(repositoryName="payments/api")
        token = first.get("nextToken")
        expect(token, "a first page with a token")
        again = ecr.describe_images(repositoryName="payments/api", nextToken=token)
        expect(again.get("nextToken") == token, f"token repeated: {again.get('nextToken')} != {token}")
        other = Env.client("ecr", PROD, EU).describe_repositories()
        expect("repositories" in other, "other accounts untouched")
        expect(http("GET", "/_ecrgc/seed")["repeat_tokens"], "the rule is listed")
    finally:
        http("POST", "/_ecrgc/faults/reset")
        seed({"page_size": {"ecr": None}})
    items, pages = all_pages(ecr.describe_images, "imageDetails", "nextToken", "nextToken",
                             repositoryName="payments/api")
    expect(items, f"after reset: {pages} pages")
    return f"page 2 names itself as next; after reset the listing ends ({pages} pages)"


@check("/_ecrgc/calls counts, with the digests BatchGetImage asked for")
def _calls() -> str:
    http("POST", "/_ecrgc/calls/reset")
    ecr = Env.client("ecr", CENTRAL, EU)
    index = img("index")["image_digest"]
    ecr.batch_get_image(repositoryName="payments/api", imageIds=[{"imageDigest": index}],
                        acceptedMediaTypes=["application/vnd.oci.image.index.v1+json"])
    ecr.describe_images(repositoryName="payments/api")
    ecr.describe_images(repositoryName="payments/api")
    Env.client("ecs", PROD, US).list_clusters()
    calls = http("GET", "/_ecrgc/calls")
    by_op = {(c["account_id"], c["region"], c["service"], c["operation"]): c for c in calls}
    bgi = by_op[(CENTRAL, EU, "ecr", "BatchGetImage")]
    expect(bgi["count"] == 1 and bgi["image_digests"] == [index], f"BatchGetImage {bgi}")
    expect(by_op[(CENTRAL, EU, "ecr", "DescribeImages")]["count"] == 2, "DescribeImages count")
    expect(by_op[(PROD, US, "ecs", "ListClusters")]["count"] == 1, "ECS ListClusters under 222")
    return f"{len(calls)} rows"


@check("ECR pulls: ecr_record_pulls moves lastRecordedPullTime unless the role is excluded")
def _pulls() -> str:
    ecr = Env.client("ecr", PROD, US)
    role = f"arn:aws:iam::{PROD}:role/ecrgc-collector"

    def pulled(name: str) -> Any:
        e = img(name)
        got = ecr.describe_images(repositoryName=e["repository_name"], imageIds=[{"imageDigest": e["image_digest"]}])
        return got["imageDetails"][0].get("lastRecordedPullTime")

    ecr.batch_get_image(repositoryName="data/private", imageIds=[{"imageTag": "p1"}])
    expect(pulled("private-old") is None, "a pull moved the time without ecr_record_pulls")
    seed({"ecr_record_pulls": True})
    before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)
    ecr.batch_get_image(repositoryName="data/private", imageIds=[{"imageTag": "p1"}])
    moved = pulled("private-old")
    expect(moved is not None and moved >= before, f"pull time after a pull: {moved}")
    got = ecr.register_pull_time_update_exclusion(principalArn=role)
    expect(got["principalArn"] == role and isinstance(got["createdAt"], dt.datetime), f"register {got}")
    err = error_of(lambda: ecr.register_pull_time_update_exclusion(principalArn=role))
    expect(err.response["Error"]["Code"] == "ExclusionAlreadyExistsException", "second register")
    expect(ecr.list_pull_time_update_exclusions()["pullTimeUpdateExclusions"] == [role], "list")
    ecr.batch_get_image(repositoryName="data/etl", imageIds=[{"imageTag": "e1"}])
    expect(pulled("etl-old") is None, "an excluded role moved the pull time")
    ecr.deregister_pull_time_update_exclusion(principalArn=role)
    err = error_of(lambda: ecr.deregister_pull_time_update_exclusion(principalArn=role))
    expect(err.response["Error"]["Code"] == "ExclusionNotFoundException", "second deregister")
    seed({"ecr_record_pulls": False})
    err = error_of(lambda: ecr.describe_image_replication_status(
        repositoryName="data/etl", imageId={"imageTag": "e1"}))
    expect(err.response["Error"]["Code"] == "InternalFailure" and err.response["ResponseMetadata"]["HTTPStatusCode"] == 500,
           f"unimplemented operation {err.response['Error']}")
    return "moved once, not when excluded"


@check("ECR registry settings: replication with deleteReplication, pull through cache rules, creation templates")
def _registry_settings() -> str:
    ecr = Env.client("ecr", CENTRAL, EU)
    expect("replicationConfiguration" not in ecr.describe_registry(), "a registry without replication")
    rules = [
        {"destinations": [{"region": US, "registryId": CENTRAL}],
         "repositoryFilters": [{"filter": "payments", "filterType": "PREFIX_MATCH"}],
         "deleteReplication": {"enabled": True}},
        {"destinations": [{"region": US, "registryId": PROD}]},
    ]
    put = ecr.put_replication_configuration(replicationConfiguration={"rules": rules})
    expect(put["replicationConfiguration"]["rules"] == rules, f"put {put}")
    got = ecr.describe_registry()
    expect(got["registryId"] == CENTRAL and got["replicationConfiguration"]["rules"] == rules, f"describe {got}")
    expect("replicationConfiguration" not in Env.client("ecr", CENTRAL, US).describe_registry(),
           "replication is per region")
    err = error_of(lambda: ecr.put_replication_configuration(replicationConfiguration={
        "rules": [{"destinations": [{"region": EU, "registryId": CENTRAL}]}]}))
    expect(err.response["Error"]["Code"] == "InvalidParameterException", "destination = source")
    err = error_of(lambda: ecr.put_replication_configuration(replicationConfiguration={
        "rules": [{"destinations": [{"region": US, "registryId": PROD}]}] * 26}))
    expect(err.response["Error"]["Code"] == "ValidationException", "26 rules")
    ecr.put_replication_configuration(replicationConfiguration={"rules": []})
    expect(ecr.describe_registry()["replicationConfiguration"] == {"rules": []}, "rules cleared")

    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="docker-hub", upstreamRegistryUrl="registry-1.docker.io",
                                       upstreamRegistry="docker-hub")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io",
                                       upstreamRegistry="quay")
    seed({"page_size": {"ecr": 1}})
    try:
        rules_seen, pages = all_pages(ecr.describe_pull_through_cache_rules, "pullThroughCacheRules",
                                      "nextToken", "nextToken")
    finally:
        seed({"page_size": {"ecr": None}})
    expect([r["ecrRepositoryPrefix"] for r in rules_seen] == ["docker-hub", "quay"] and pages == 2,
           f"{rules_seen} in {pages} pages")
    err = error_of(lambda: ecr.describe_pull_through_cache_rules(ecrRepositoryPrefixes=["nope"]))
    expect(err.response["Error"]["Code"] == "PullThroughCacheRuleNotFoundException", "unknown prefix")
    policy = '{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":7},"action":{"type":"expire"}}]}'
    ecr.create_repository_creation_template(prefix="docker-hub", appliedFor=["PULL_THROUGH_CACHE"],
                                            lifecyclePolicy=policy, imageTagMutability="MUTABLE")
    templates = ecr.describe_repository_creation_templates()["repositoryCreationTemplates"]
    expect(len(templates) == 1 and templates[0]["lifecyclePolicy"] == policy
           and templates[0]["appliedFor"] == ["PULL_THROUGH_CACHE"], f"{templates}")
    return "rules as put, per region; caches and templates listed and paged"


@check("ECR BatchDeleteImage: a child of a live index fails ImageReferencedByManifestList")
def _delete_child() -> str:
    ecr = Env.client("ecr", CENTRAL, EU)
    child = img("live-amd64")["image_digest"]
    got = ecr.batch_delete_image(repositoryName="payments/api", imageIds=[{"imageDigest": child}])
    expect(not got["imageIds"] and got["failures"][0]["failureCode"] == "ImageReferencedByManifestList", f"{got}")
    still = ecr.describe_images(repositoryName="payments/api", imageIds=[{"imageDigest": child}])["imageDetails"]
    expect(len(still) == 1, "child survived")
    err = error_of(lambda: ecr.batch_delete_image(repositoryName="payments/api",
                                                  imageIds=[{"imageDigest": child}] * 101))
    expect(err.response["Error"]["Code"] == "InvalidParameterException", "more than 100 ids")
    # index first, then its children: both succeed, in that order.
    index, kids = img("index")["image_digest"], [img("child-amd64")["image_digest"], img("child-arm64")["image_digest"]]
    first = ecr.batch_delete_image(repositoryName="payments/api", imageIds=[{"imageDigest": index}])
    expect(not first["failures"] and first["imageIds"][0]["imageDigest"] == index, f"index delete {first}")
    second = ecr.batch_delete_image(repositoryName="payments/api", imageIds=[{"imageDigest": d} for d in kids])
    expect(not second["failures"] and len(second["imageIds"]) == 2, f"children delete {second}")
    return "refused while referenced; index then children deleted"


@check("UpdateImageStorageClass archives and restores; a seeded delay holds a call back")
def _storage_class() -> str:
    ecr = Env.client("ecr", CENTRAL, EU)
    digest = img("worker-old")["image_digest"]
    got = ecr.update_image_storage_class(repositoryName="payments/worker", imageId={"imageDigest": digest},
                                         targetStorageClass="ARCHIVE")
    expect(got["imageStatus"] == "ARCHIVED", f"{got}")
    detail = ecr.describe_images(repositoryName="payments/worker", imageIds=[{"imageDigest": digest}])["imageDetails"][0]
    expect(detail["imageStatus"] == "ARCHIVED" and "lastArchivedAt" in detail, f"{detail}")
    ecr.update_image_storage_class(repositoryName="payments/worker", imageId={"imageDigest": digest},
                                   targetStorageClass="STANDARD")
    err = error_of(lambda: ecr.update_image_storage_class(
        repositoryName="payments/worker", imageId={"imageDigest": "sha256:" + "0" * 64}, targetStorageClass="ARCHIVE"))
    expect(err.response["Error"]["Code"] == "ImageNotFoundException", "unknown image")
    seed({"delays": [{"service": "ecr", "operation": "DescribeRepositories", "ms": 300}]})
    started = time.monotonic()
    ecr.describe_repositories()
    held = time.monotonic() - started
    seed({"delays": [{"service": "ecr", "operation": "DescribeRepositories", "ms": 0}]})
    expect(held >= 0.3, f"delay held the call {held:.2f} s")
    return "archived, restored, unknown digest refused; delay 0.3 s held"


@check("a trigger changes the world once, right after the Nth matching call was answered")
def _triggers() -> str:
    ecr = Env.client("ecr", CENTRAL, EU)
    digest = img("legacy-old")["image_digest"]
    pulled = ago(0.5).isoformat()
    seed({"triggers": [{"account_id": CENTRAL, "region": EU, "service": "ecr", "operation": "DescribeImages",
                        "repository_name": "legacy/tool", "after": 2,
                        "images": [{"account_id": CENTRAL, "region": EU, "repository_name": "legacy/tool",
                                    "image_digest": digest, "last_recorded_pull_time": pulled}],
                        "tags": [{"account_id": CENTRAL, "region": EU, "repository_name": "legacy/tool",
                                  "image_digest": digest, "tag": "hotfix"}]}]})

    def describe() -> dict:
        return ecr.describe_images(repositoryName="legacy/tool", imageIds=[{"imageDigest": digest}])["imageDetails"][0]

    ecr.describe_images(repositoryName="payments/api")  # another repository: not counted
    first, second, third = describe(), describe(), describe()
    expect(sorted(first["imageTags"]) == ["l1"] and "lastRecordedPullTime" not in first, f"{first}")
    expect(sorted(second["imageTags"]) == ["l1"], f"fired only after the 2nd call was answered: {second}")
    expect(sorted(third["imageTags"]) == ["hotfix", "l1"], f"{third}")
    expect(abs(third["lastRecordedPullTime"].timestamp() - ago(0.5).timestamp()) < 1, f"{third}")
    fired = [t for t in http("GET", "/_ecrgc/seed")["triggers"] if t["repository_name"] == "legacy/tool"]
    expect(len(fired) == 1 and fired[0]["fired"] and fired[0]["seen"] == 2, f"{fired}")
    # Undo, for the checks after this one.
    ecr.batch_delete_image(repositoryName="legacy/tool", imageIds=[{"imageTag": "hotfix"}])
    expect(sorted(describe()["imageTags"]) == ["l1"], "tag removed again")
    return "fired once after the 2nd DescribeImages of the repository: tag added, pull time set"


@check("Lambda: a published version keeps its image after UpdateFunctionCode of $LATEST")
def _lambda_versions() -> str:
    lam = Env.client("lambda", WORKLOADS, US)
    host = f"{CENTRAL}.dkr.ecr.{EU}.amazonaws.com/payments/api"
    first, then = f"{host}@{img('old-unused')['image_digest']}", f"{host}:v9"
    role = f"arn:aws:iam::{WORKLOADS}:role/lambda-exec"
    lam.create_function(FunctionName="selftest-versions", Role=role, PackageType="Image", Code={"ImageUri": first})
    version = lam.publish_version(FunctionName="selftest-versions")["Version"]
    lam.create_alias(FunctionName="selftest-versions", Name="prod", FunctionVersion=version)
    lam.update_function_code(FunctionName="selftest-versions", ImageUri=then)
    latest = lam.get_function(FunctionName="selftest-versions")["Code"]
    pinned = lam.get_function(FunctionName="selftest-versions", Qualifier=version)["Code"]
    expect(latest["ImageUri"] == then, f"{latest}")
    expect(pinned["ImageUri"] == first, f"the published version changed: {pinned}")
    expect(pinned["ResolvedImageUri"].endswith(img("old-unused")["image_digest"]), f"{pinned}")
    versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName="selftest-versions")["Versions"]]
    expect(versions == ["$LATEST", version], f"{versions}")
    aliases = lam.list_aliases(FunctionName="selftest-versions")["Aliases"]
    expect([(a["Name"], a["FunctionVersion"]) for a in aliases] == [("prod", version)], f"{aliases}")
    lam.delete_function(FunctionName="selftest-versions")
    return f"version {version} still runs the digest, $LATEST the tag; alias prod -> {version}"


@check("ECS: service revisions pin the digest a tag named; deployments, createdAt filter, pages, task sets, MISSING")
def _ecs_revisions() -> str:
    ecr = Env.client("ecr", CENTRAL, EU)
    ecr.create_repository(repositoryName="selftest/pins")

    def push(name: str, tag: str) -> str:
        text = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2,
                                      "digest": "sha256:" + hashlib.sha256(name.encode()).hexdigest()},
                           "layers": []}, sort_keys=True, separators=(",", ":"))
        return ecr.put_image(repositoryName="selftest/pins", imageManifest=text, imageTag=tag)["image"]["imageId"]["imageDigest"]

    first = push("first", "live")
    ecs = Env.client("ecs", WORKLOADS, EU)
    ecs.create_cluster(clusterName="pins")
    image = "111111111111.dkr.ecr.eu-west-1.amazonaws.com/selftest/pins:live"
    td = ecs.register_task_definition(family="pins", containerDefinitions=[
        {"name": "app", "image": image, "memory": 128},
        {"name": "free", "image": image, "memory": 64, "versionConsistency": "disabled"}])["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster="pins", serviceName="web", taskDefinition=td, desiredCount=0)
    second = push("second", "live")  # the tag moves on; the service keeps the digest it pinned
    kept = {d["imageDigest"]: d.get("imageTags", []) for d in ecr.describe_images(repositoryName="selftest/pins")["imageDetails"]}
    expect(kept == {first: [], second: ["live"]}, f"the moved tag leaves its old image untagged: {kept}")

    described = ecs.describe_services(cluster="pins", services=["web", "ghost"])
    expect([f["reason"] for f in described["failures"]] == ["MISSING"], f"failures {described['failures']}")
    current = described["services"][0]["currentServiceRevisions"]
    expect(len(current) == 1 and current[0]["requestedTaskCount"] == 0, f"currentServiceRevisions {current}")
    other = f"arn:aws:ecs:{EU}:{WORKLOADS}:service-revision/pins/web/1"
    revs = ecs.describe_service_revisions(serviceRevisionArns=[current[0]["arn"], other])
    expect([f["arn"] for f in revs["failures"]] == [other] and revs["failures"][0]["reason"] == "MISSING", "MISSING revision")
    images = {c["containerName"]: c for c in revs["serviceRevisions"][0]["containerImages"]}
    expect(images["app"]["imageDigest"] == first and images["app"]["image"] == image, f"pinned digest {images}")
    expect("imageDigest" not in images["free"], "versionConsistency disabled pins nothing")
    expect(revs["serviceRevisions"][0]["taskDefinition"] == td, "taskDefinition")
    expect(not Env.client("ecs", PROD, EU).describe_service_revisions(
        serviceRevisionArns=[current[0]["arn"]])["serviceRevisions"], "another account sees no revision")
    err = error_of(lambda: ecs.describe_service_revisions(serviceRevisionArns=[other] * 21))
    expect(err.response["Error"]["Code"] == "InvalidParameterException", "more than 20 ARNs")

    # A deployment that starts moves the service to a new revision, from the old one.
    ecs.update_service(cluster="pins", service="web", forceNewDeployment=True)
    listed, pages = all_pages(ecs.list_service_deployments, "serviceDeployments", "nextToken", "nextToken",
                              cluster="pins", service="web", maxResults=1)
    expect(len(listed) == 2 and pages == 2, f"{len(listed)} deployments in {pages} pages")
    expect(listed[0]["createdAt"] >= listed[1]["createdAt"], "newest first")
    newest = ecs.describe_service_deployments(serviceDeploymentArns=[listed[0]["serviceDeploymentArn"]])
    deployment = newest["serviceDeployments"][0]
    expect([r["arn"] for r in deployment["sourceServiceRevisions"]] == [current[0]["arn"]], "source revision")
    target = deployment["targetServiceRevision"]["arn"]
    expect(target == listed[0]["targetServiceRevisionArn"] and deployment["status"] == "SUCCESSFUL", "target revision")
    pinned = ecs.describe_service_revisions(serviceRevisionArns=[target])["serviceRevisions"][0]
    expect(pinned["containerImages"][0]["imageDigest"] == second, "the new revision pins what the tag names now")

    # Back-dated deployments and the createdAt filter.
    seed({"service_deployments": [{"account_id": WORKLOADS, "region": EU, "cluster": "pins", "service": "web",
                                   "service_deployment_arn": listed[1]["serviceDeploymentArn"],
                                   "created_at": NOW_DT.timestamp() - 3 * 86400}]})
    recent = ecs.list_service_deployments(cluster="pins", service="web", createdAt={"after": ago(1)})
    expect([d["serviceDeploymentArn"] for d in recent["serviceDeployments"]] == [listed[0]["serviceDeploymentArn"]],
           "createdAt.after leaves the back-dated one out")
    old = ecs.list_service_deployments(cluster="pins", service="web", createdAt={"before": ago(1)})
    expect(len(old["serviceDeployments"]) == 1 and old["serviceDeployments"][0]["createdAt"] == ago(3), "createdAt.before")
    err = error_of(lambda: ecs.list_service_deployments(cluster="pins", service="nope"))
    expect(err.response["Error"]["Code"] == "ServiceNotFoundException", "unknown service")
    err = error_of(lambda: ecs.list_service_deployments(cluster="pins", service="web", maxResults=101))
    expect(err.response["Error"]["Code"] == "InvalidParameterException", "maxResults > 100")

    # Seeded: a current revision, a vanished service, a task set of an EXTERNAL service.
    zeros = "sha256:" + "0" * 64
    seed({"service_revisions": [{"account_id": WORKLOADS, "region": EU, "cluster": "pins", "service": "web",
                                 "container_images": [{"container_name": "app", "image": image, "image_digest": zeros}],
                                 "current": True}],
          "vanished_services": [{"account_id": WORKLOADS, "region": EU, "cluster": "pins", "service": "gone"}]})
    arn = ecs.describe_services(cluster="pins", services=["web"])["services"][0]["currentServiceRevisions"][0]["arn"]
    seeded = ecs.describe_service_revisions(serviceRevisionArns=[arn])["serviceRevisions"][0]
    expect(seeded["containerImages"][0]["imageDigest"] == zeros, "seeded current revision")
    services, _ = all_pages(ecs.list_services, "serviceArns", "nextToken", "nextToken", cluster="pins")
    gone = [a for a in services if a.endswith("/gone")]
    expect(len(gone) == 1, f"vanished service listed: {services}")
    expect(ecs.describe_services(cluster="pins", services=gone)["failures"][0]["reason"] == "MISSING", "then MISSING")
    ecs.create_service(cluster="pins", serviceName="bg", desiredCount=1, deploymentController={"type": "EXTERNAL"})
    ecs.create_task_set(cluster="pins", service="bg", taskDefinition=td)
    bg = ecs.describe_services(cluster="pins", services=["bg"])["services"][0]
    expect([t["taskDefinition"] for t in bg["taskSets"]] == [td], f"task sets {bg.get('taskSets')}")
    return "pinned, deployed, filtered, paged, seeded"


@check("reset: /_ecrgc/reset empties moto and every seed")
def _reset() -> str:
    http("POST", "/_ecrgc/reset")
    expect(not Env.client("ecr", CENTRAL, EU).describe_repositories()["repositories"], "repositories after reset")
    state = http("GET", "/_ecrgc/seed")
    expect(not state["coverage"] and not state["images"] and not state["page_size"], f"seed after reset {state}")
    expect(http("GET", "/_ecrgc/calls") == [] or all(c["operation"] == "DescribeRepositories" for c in http("GET", "/_ecrgc/calls")),
           "calls after reset")
    return "clean"


# EKS, App Runner, Batch, SageMaker and CodeBuild, after the checks above (on a reset server).
import selftest_workloads  # noqa: E402,F401


def main() -> int:
    env = dict(os.environ)
    env.pop("MOTO_ACCOUNT_ID", None)
    server = subprocess.Popen([sys.executable, os.path.join(HERE, "ecrgc_moto.py"), "--port", "0"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = server.stdout.readline().strip()
        if not line.startswith("READY http://"):
            print(f"FAIL - server start: {line!r}")
            return 1
        Env.url = line.split()[1]
        print(f"ok   - server start ({line})", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "truth.json")
            started = time.time()
            subprocess.run([sys.executable, os.path.join(HERE, "scenario.py"), "--url", Env.url, "--now", NOW,
                            "--out", out], check=True)
            print(f"ok   - scenario.py seeded the organization ({time.time() - started:.1f} s)", flush=True)
            with open(out) as fh:
                Env.truth = json.load(fh)
        for run in CHECKS:
            run()
    finally:
        server.stdin.close()
        try:
            server.wait(timeout=10)
            RESULTS.append(("server exits at EOF on stdin", server.returncode == 0, ""))
            print(("ok   - " if server.returncode == 0 else "FAIL - ") + f"server exits at EOF on stdin (rc {server.returncode})")
        except subprocess.TimeoutExpired:
            server.kill()
            RESULTS.append(("server exits at EOF on stdin", False, "timeout"))
            print("FAIL - server exits at EOF on stdin: still running after 10 s")
    passed = sum(1 for _, ok, _ in RESULTS if ok) + 2
    failed = sum(1 for _, ok, _ in RESULTS if not ok)
    print(f"selftest: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
