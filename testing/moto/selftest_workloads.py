"""selftest.py's checks of EKS, App Runner, AWS Batch, SageMaker and CodeBuild
(ecrgc_moto_eks_apprunner.py, ecrgc_moto_workloads.py). Imported by selftest.py after its
own checks, so these run last, each on a server it resets first. Every raw answer is checked
against botocore's model with `conforms`."""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.request
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from scenario import CENTRAL, EU, PROD, US
from selftest_harness import Env, all_pages, check, conforms, error_of, expect, http, raw_answer, seed

PEM = ("-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n")
CA_DATA = base64.b64encode(PEM.encode()).decode()


def ecr(account: str, region: str, repo: str) -> str:
    return f"{account}.dkr.ecr.{region}.amazonaws.com/{repo}"


def fresh(page_size: dict | None = None) -> None:
    http("POST", "/_ecrgc/reset")
    Env.creds.clear()  # moto's reset forgets the access keys AssumeRole handed out
    if page_size:
        seed({"page_size": page_size})


def signed(service: str, target: str, body: dict, host: str) -> tuple[int, dict, bytes]:
    """A SigV4-signed awsJson request sent to the server with another Host header, as an SDK
    resolving the real endpoint (e.g. apprunner.eu-west-1.amazonaws.com) would send it."""
    data = json.dumps(body).encode()
    request = AWSRequest(method="POST", url=f"https://{host}/", data=data, headers={
        "X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.0"})
    SigV4Auth(Credentials("testing", "testing"), service, EU).add_auth(request)
    headers = dict(request.headers.items())
    headers["Host"] = host
    req = urllib.request.Request(Env.url + "/", data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


@check("eks: seeded clusters beside moto's, paged; DescribeCluster in the model's shape")
def _eks() -> str:
    fresh({"eks": 2})
    eks = Env.client("eks", CENTRAL, EU)
    eks.create_cluster(name="moto-made", roleArn=f"arn:aws:iam::{CENTRAL}:role/eks",
                       resourcesVpcConfig={"subnetIds": ["subnet-1"]})
    seed({"eks_clusters": [
        {"account_id": CENTRAL, "region": EU, "name": f"kube-{i}", "endpoint": f"https://127.0.0.1:{6440 + i}",
         "certificate_authority_data": CA_DATA, "status": "ACTIVE"} for i in range(3)] + [
        {"account_id": PROD, "region": US, "name": "prod-only", "endpoint": "https://127.0.0.1:7000",
         "certificate_authority_data": CA_DATA}]})
    names, pages = all_pages(eks.list_clusters, "clusters", "nextToken", "nextToken")
    expect(names == ["moto-made", "kube-0", "kube-1", "kube-2"] and pages == 2, f"{names} in {pages} pages")
    _, body, _ = raw_answer(eks, lambda: eks.list_clusters(maxResults=1))
    conforms("eks", "ListClusters", body)
    expect(json.loads(body)["nextToken"].startswith("ecrgc-"), f"opaque token {body!r}")
    headers, body, described = raw_answer(eks, lambda: eks.describe_cluster(name="kube-1"))
    conforms("eks", "DescribeCluster", body)
    cluster = json.loads(body)["cluster"]
    expect(cluster["arn"] == f"arn:aws:eks:{EU}:{CENTRAL}:cluster/kube-1", cluster["arn"])
    expect(cluster["endpoint"] == "https://127.0.0.1:6441" and cluster["status"] == "ACTIVE", f"{cluster}")
    expect(cluster["certificateAuthority"] == {"data": CA_DATA}, f"{cluster['certificateAuthority']}")
    expect(isinstance(cluster["createdAt"], (int, float)), f"createdAt {cluster['createdAt']!r}")
    for member in ("version", "roleArn", "resourcesVpcConfig", "identity", "platformVersion"):
        expect(member in cluster, f"{member} missing")
    _, body, _ = raw_answer(eks, lambda: eks.describe_cluster(name="moto-made"))
    expect(json.loads(body)["cluster"]["name"] == "moto-made", "moto's own cluster described by moto")
    headers, body, err = raw_answer(eks, lambda: eks.describe_cluster(name="nope"))
    expect(err.response["ResponseMetadata"]["HTTPStatusCode"] == 404, "404")
    expect(headers.get("x-amzn-ErrorType") == "ResourceNotFoundException", f"{headers}")
    expect(json.loads(body) == {"clusterName": "nope", "message": "No cluster found for name: nope."}, f"{body!r}")
    conforms("eks", "ResourceNotFoundException", body, operation=False)
    other = Env.client("eks", PROD, US)
    expect(other.list_clusters()["clusters"] == ["prod-only"], "per account and region")
    expect(error_of(lambda: eks.list_clusters(nextToken="bogus")).response["Error"]["Code"]
           == "InvalidParameterException", "invalid token")
    expect(error_of(lambda: eks.list_clusters(maxResults=101)).response["Error"]["Code"]
           == "InvalidParameterException", "maxResults > 100")
    state = http("GET", "/_ecrgc/seed")
    expect(len(state["eks_clusters"]) == 4, "seed state shows the clusters")
    return f"{len(names)} clusters in {pages} pages, 404 for an unknown name"


@check("apprunner: ListServices/DescribeService from apprunner_services, awsJson1_0, paged")
def _apprunner() -> str:
    fresh({"apprunner": 2})
    given = f"arn:aws:apprunner:{EU}:{CENTRAL}:service/given/0123456789abcdef0123456789abcdef"
    seed({"apprunner_services": [
        {"account_id": CENTRAL, "region": EU, "service_name": "web-api", "status": "RUNNING",
         "image_identifier": ecr(CENTRAL, EU, "web/api:v1"), "image_repository_type": "ECR",
         "auto_deployments_enabled": True, "created_at": "2026-01-02T03:04:05Z"},
        {"account_id": CENTRAL, "region": EU, "service_name": "given", "service_arn": given,
         "image_identifier": "public.ecr.aws/nginx/nginx:1.27", "image_repository_type": "ECR_PUBLIC"},
        {"account_id": CENTRAL, "region": EU, "service_name": "paused", "status": "PAUSED",
         "image_identifier": ecr(CENTRAL, EU, "web/api@sha256:" + "a" * 64)},
        {"account_id": PROD, "region": EU, "service_name": "elsewhere", "image_identifier": ecr(PROD, EU, "x:1")}]})
    ar = Env.client("apprunner", CENTRAL, EU)
    summaries, pages = all_pages(ar.list_services, "ServiceSummaryList", "NextToken", "NextToken")
    expect([s["ServiceName"] for s in summaries] == ["web-api", "given", "paused"] and pages == 2,
           f"{[s['ServiceName'] for s in summaries]} in {pages} pages")
    headers, body, _ = raw_answer(ar, lambda: ar.list_services(MaxResults=2))
    conforms("apprunner", "ListServices", body)
    expect(headers.get("Content-Type") == "application/x-amz-json-1.0", f"{headers}")
    arn = summaries[0]["ServiceArn"]
    expect(re.fullmatch(rf"arn:aws:apprunner:{EU}:{CENTRAL}:service/web-api/[0-9a-f]{{32}}", arn) is not None, arn)
    _, body, _ = raw_answer(ar, lambda: ar.describe_service(ServiceArn=arn))
    conforms("apprunner", "DescribeService", body)
    service = json.loads(body)["Service"]
    expect(service["ServiceId"] == arn.rsplit("/", 1)[1] and service["Status"] == "RUNNING", f"{service}")
    expect(service["CreatedAt"] == 1767323045, f"CreatedAt {service['CreatedAt']!r}")
    image = service["SourceConfiguration"]["ImageRepository"]
    expect(image["ImageIdentifier"] == ecr(CENTRAL, EU, "web/api:v1") and image["ImageRepositoryType"] == "ECR",
           f"{image}")
    expect(service["SourceConfiguration"]["AutoDeploymentsEnabled"] is True, "AutoDeploymentsEnabled")
    public = ar.describe_service(ServiceArn=given)["Service"]
    expect(public["ServiceArn"] == given and public["ServiceId"] == "0123456789abcdef0123456789abcdef"
           and public["SourceConfiguration"]["ImageRepository"]["ImageRepositoryType"] == "ECR_PUBLIC", f"{public}")
    headers, body, err = raw_answer(ar, lambda: ar.describe_service(ServiceArn=given.replace("given/0", "gone/0")))
    expect(err.response["Error"]["Code"] == "ResourceNotFoundException", f"{err}")
    expect(headers.get("Content-Type") == "application/x-amz-json-1.0" and set(json.loads(body)) == {"__type", "Message"},
           f"{headers} {body!r}")
    expect(error_of(lambda: ar.list_services(MaxResults=21)).response["Error"]["Code"] == "InvalidRequestException",
           "MaxResults > 20")
    expect(error_of(lambda: ar.list_services(NextToken="bogus")).response["Error"]["Code"] == "InvalidRequestException",
           "invalid token")
    status, _, body = signed("apprunner", "AppRunner.ListServices", {}, f"apprunner.{EU}.amazonaws.com")
    expect(status == 200 and len(json.loads(body)["ServiceSummaryList"]) == 2, f"Host apprunner.{EU}: {status} {body!r}")
    status, headers, body = signed("apprunner", "AppRunner.ListConnections", {}, f"apprunner.{EU}.amazonaws.com")
    expect(status == 500 and json.loads(body)["__type"] == "InternalFailure", f"unimplemented: {status} {body!r}")
    expect([s["ServiceName"] for s in Env.client("apprunner", PROD, EU).list_services()["ServiceSummaryList"]]
           == ["elsewhere"], "per account")
    return f"{len(summaries)} services in {pages} pages"


def _register_batch(batch: Any) -> None:
    image = lambda tag: ecr(CENTRAL, EU, f"batch/{tag}")  # noqa: E731
    container = lambda tag: {"image": image(tag), "vcpus": 1, "memory": 512}  # noqa: E731
    batch.register_job_definition(jobDefinitionName="plain", type="container", containerProperties=container("plain-1"))
    batch.register_job_definition(jobDefinitionName="plain", type="container", containerProperties=container("plain-2"))
    batch.deregister_job_definition(jobDefinition="plain:1")
    batch.register_job_definition(jobDefinitionName="plain", type="container", ecsProperties={"taskProperties": [
        {"containers": [{"name": "main", "image": image("plain-3")}]}]})
    batch.register_job_definition(jobDefinitionName="ecs", type="container", ecsProperties={"taskProperties": [
        {"containers": [{"name": "main", "image": image("ecs-main")}, {"name": "side", "image": image("ecs-side")}]}]})
    batch.register_job_definition(jobDefinitionName="eks", type="container", eksProperties={"podProperties": {
        "containers": [{"name": "main", "image": image("eks-main")}],
        "initContainers": [{"name": "init", "image": image("eks-init")}]}})
    batch.register_job_definition(jobDefinitionName="mnp", type="multinode", nodeProperties={
        "numNodes": 3, "mainNode": 0, "nodeRangeProperties": [
            {"targetNodes": "0", "container": container("mnp-main")},
            {"targetNodes": "1", "ecsProperties": {"taskProperties": [{"containers": [{"name": "n", "image": image("mnp-ecs")}]}]}},
            {"targetNodes": "2:", "eksProperties": {"podProperties": {"containers": [{"name": "e", "image": image("mnp-eks")}]}}}]})


def _batch_images(doc: dict) -> list[str]:
    """Every image member the collector reads, by its model path."""
    out = [(doc.get("containerProperties") or {}).get("image")]
    for rng in (doc.get("nodeProperties") or {}).get("nodeRangeProperties") or []:
        out.append((rng.get("container") or {}).get("image"))
        for task in (rng.get("ecsProperties") or {}).get("taskProperties") or []:
            out += [c["image"] for c in task.get("containers") or []]
        pod = (rng.get("eksProperties") or {}).get("podProperties") or {}
        out += [c["image"] for c in (pod.get("containers") or []) + (pod.get("initContainers") or [])]
    for task in (doc.get("ecsProperties") or {}).get("taskProperties") or []:
        out += [c["image"] for c in task.get("containers") or []]
    pod = (doc.get("eksProperties") or {}).get("podProperties") or {}
    out += [c["image"] for c in (pod.get("containers") or []) + (pod.get("initContainers") or [])]
    return [i.rsplit("/", 1)[1] for i in out if i]


@check("batch: DescribeJobDefinitions keeps every image member and INACTIVE revisions, pages by status")
def _batch() -> str:
    fresh({"batch": 2})
    batch = Env.client("batch", CENTRAL, EU)
    _register_batch(batch)
    active, pages = all_pages(batch.describe_job_definitions, "jobDefinitions", "nextToken", "nextToken", status="ACTIVE")
    found = {f"{d['jobDefinitionName']}:{d['revision']}": _batch_images(d) for d in active}
    expect(found == {"plain:2": ["plain-2"], "plain:3": ["plain-3"], "ecs:1": ["ecs-main", "ecs-side"],
                     "eks:1": ["eks-main", "eks-init"], "mnp:1": ["mnp-main", "mnp-ecs", "mnp-eks"]}, f"{found}")
    expect(pages == 3 and all(d["status"] == "ACTIVE" for d in active), f"{pages} pages")
    inactive = batch.describe_job_definitions(status="INACTIVE")["jobDefinitions"]
    expect([(d["jobDefinitionArn"], d["status"], _batch_images(d)) for d in inactive]
           == [(f"arn:aws:batch:{EU}:{CENTRAL}:job-definition/plain:1", "INACTIVE", ["plain-1"])], f"{inactive}")
    types = {d["jobDefinitionName"]: d["type"] for d in active}
    expect(types == {"plain": "container", "ecs": "container", "eks": "container", "mnp": "multinode"}, f"{types}")
    token = None
    for _ in range(3):
        _, body, page = raw_answer(batch, lambda: batch.describe_job_definitions(
            status="ACTIVE", **({"nextToken": token} if token else {})))
        conforms("batch", "DescribeJobDefinitions", body)
        token = page.get("nextToken")
    by_id = batch.describe_job_definitions(jobDefinitions=["plain:1", f"arn:aws:batch:{EU}:{CENTRAL}:job-definition/ecs:1"])
    expect([d["jobDefinitionName"] for d in by_id["jobDefinitions"]] == ["plain", "ecs"], f"{by_id}")
    expect(error_of(lambda: batch.describe_job_definitions(nextToken="bogus")).response["Error"]["Code"]
           == "ClientException", "invalid token")
    expect(error_of(lambda: batch.describe_job_definitions(maxResults=101)).response["Error"]["Code"]
           == "ClientException", "maxResults > 100")
    err = error_of(lambda: batch.register_job_definition(jobDefinitionName="two", type="container", ecsProperties={
        "taskProperties": [{"containers": [{"image": "a"}]}, {"containers": [{"image": "b"}]}]}))
    expect(err.response["Error"]["Code"] == "ClientException", f"{err}")
    return f"{len(active)} ACTIVE in {pages} pages, {len(inactive)} INACTIVE"


@check("sagemaker: models and endpoint configs with every image and model member, paged")
def _sagemaker() -> str:
    fresh({"sagemaker": 1})
    sm = Env.client("sagemaker", CENTRAL, EU)
    role = f"arn:aws:iam::{CENTRAL}:role/sagemaker"
    sm.create_model(ModelName="primary", ExecutionRoleArn=role, PrimaryContainer={"Image": ecr(CENTRAL, EU, "ml/one:1")})
    sm.create_model(ModelName="multi", ExecutionRoleArn=role, InferenceExecutionConfig={"Mode": "Serial"},
                    Containers=[{"Image": ecr(CENTRAL, EU, "ml/pre:1")}, {"Image": ecr(CENTRAL, EU, "ml/main:1")}])
    sm.create_model(ModelName="shadow", ExecutionRoleArn=role, PrimaryContainer={"Image": ecr(CENTRAL, EU, "ml/next:1")})
    variant = lambda name, model: {"VariantName": name, "ModelName": model, "InitialInstanceCount": 1,  # noqa: E731
                                   "InstanceType": "ml.m5.large"}
    sm.create_endpoint_config(EndpointConfigName="live", ProductionVariants=[variant("a", "primary")],
                              ShadowProductionVariants=[variant("s", "shadow")])
    sm.create_endpoint_config(EndpointConfigName="batchy", ProductionVariants=[variant("a", "multi")])
    models, pages = all_pages(sm.list_models, "Models", "NextToken", "NextToken")
    expect([m["ModelName"] for m in models] == ["shadow", "multi", "primary"] and pages == 3,
           f"{[m['ModelName'] for m in models]} in {pages} pages (newest first)")
    _, body, _ = raw_answer(sm, lambda: sm.list_models(SortBy="Name", SortOrder="Ascending", MaxResults=5))
    conforms("sagemaker", "ListModels", body)
    expect([m["ModelName"] for m in json.loads(body)["Models"]] == ["multi"], "by name; page_size 1 caps MaxResults")
    configs, cpages = all_pages(sm.list_endpoint_configs, "EndpointConfigs", "NextToken", "NextToken")
    expect(sorted(c["EndpointConfigName"] for c in configs) == ["batchy", "live"] and cpages == 2, f"{configs}")
    _, body, _ = raw_answer(sm, lambda: sm.list_endpoint_configs())
    conforms("sagemaker", "ListEndpointConfigs", body)
    _, body, _ = raw_answer(sm, lambda: sm.describe_model(ModelName="multi"))
    conforms("sagemaker", "DescribeModel", body)
    multi = json.loads(body)
    expect("PrimaryContainer" not in multi and [c["Image"] for c in multi["Containers"]]
           == [ecr(CENTRAL, EU, "ml/pre:1"), ecr(CENTRAL, EU, "ml/main:1")], f"{multi}")
    expect(multi["ModelArn"] == f"arn:aws:sagemaker:{EU}:{CENTRAL}:model/multi", multi["ModelArn"])
    _, body, _ = raw_answer(sm, lambda: sm.describe_model(ModelName="primary"))
    conforms("sagemaker", "DescribeModel", body)
    expect(json.loads(body)["PrimaryContainer"]["Image"] == ecr(CENTRAL, EU, "ml/one:1"), f"{body!r}")
    _, body, _ = raw_answer(sm, lambda: sm.describe_endpoint_config(EndpointConfigName="live"))
    conforms("sagemaker", "DescribeEndpointConfig", body)
    live = json.loads(body)
    expect([v["ModelName"] for v in live["ProductionVariants"]] == ["primary"]
           and [v["ModelName"] for v in live["ShadowProductionVariants"]] == ["shadow"], f"{live}")
    expect("ShadowProductionVariants" not in sm.describe_endpoint_config(EndpointConfigName="batchy"), "none unless given")
    for call in (lambda: sm.describe_model(ModelName="nope"), lambda: sm.list_models(NextToken="bogus"),
                 lambda: sm.list_endpoint_configs(MaxResults=101),
                 lambda: sm.create_endpoint_config(EndpointConfigName="bad", ProductionVariants=[variant("a", "primary")],
                                                   ShadowProductionVariants=[variant("s", "missing")])):
        expect(error_of(call).response["Error"]["Code"] == "ValidationException", "ValidationException")
    expect(len(sm.list_endpoint_configs(MaxResults=100)["EndpointConfigs"]) == 1, "the bad config was not created")
    return f"{len(models)} models in {pages} pages, {len(configs)} endpoint configs in {cpages}"


@check("codebuild: ListProjects pages, BatchGetProjects environment.image and projectsNotFound")
def _codebuild() -> str:
    fresh({"codebuild": 2})
    cb = Env.client("codebuild", CENTRAL, EU)
    for i in range(3):
        cb.create_project(name=f"build-{i}", source={"type": "S3", "location": "bucket/source.zip"},
                          artifacts={"type": "NO_ARTIFACTS"}, serviceRole=f"arn:aws:iam::{CENTRAL}:role/codebuild",
                          environment={"type": "LINUX_CONTAINER", "computeType": "BUILD_GENERAL1_SMALL",
                                       "image": ecr(CENTRAL, EU, f"ci/builder:{i}"),
                                       "imagePullCredentialsType": "SERVICE_ROLE"})
    names, pages = all_pages(cb.list_projects, "projects", "nextToken", "nextToken")
    expect(names == ["build-0", "build-1", "build-2"] and pages == 2, f"{names} in {pages} pages")
    _, body, _ = raw_answer(cb, lambda: cb.list_projects(sortBy="NAME", sortOrder="DESCENDING"))
    conforms("codebuild", "ListProjects", body)
    expect(json.loads(body)["projects"] == ["build-2", "build-1"], f"{body!r}")
    arn = f"arn:aws:codebuild:{EU}:{CENTRAL}:project/build-2"
    headers, body, _ = raw_answer(cb, lambda: cb.batch_get_projects(names=["build-0", arn, "gone"]))
    conforms("codebuild", "BatchGetProjects", body)
    doc = json.loads(body)
    expect([(p["name"], p["arn"], p["environment"]["image"]) for p in doc["projects"]]
           == [("build-0", f"arn:aws:codebuild:{EU}:{CENTRAL}:project/build-0", ecr(CENTRAL, EU, "ci/builder:0")),
               ("build-2", arn, ecr(CENTRAL, EU, "ci/builder:2"))], f"{doc['projects']}")
    expect(doc["projectsNotFound"] == ["gone"], f"{doc}")
    expect(error_of(lambda: cb.batch_get_projects(names=[f"p{i}" for i in range(101)])).response["Error"]["Code"]
           == "InvalidInputException", "more than 100 names")
    expect(error_of(lambda: cb.list_projects(nextToken="bogus")).response["Error"]["Code"]
           == "InvalidInputException", "invalid token")
    return f"{len(names)} projects in {pages} pages"


@check("faults and call log: the new services answer injected errors in their own protocols")
def _faults() -> str:
    fresh()
    seed({"eks_clusters": [{"account_id": CENTRAL, "region": EU, "name": "kube", "endpoint": "https://127.0.0.1:6443",
                            "certificate_authority_data": CA_DATA}],
          "apprunner_services": [{"account_id": CENTRAL, "region": EU, "service_name": "web-api",
                                  "image_identifier": ecr(CENTRAL, EU, "web/api:v1")}],
          "faults": [
              {"service": "eks", "operation": "DescribeCluster", "status": 403, "code": "AccessDeniedException"},
              {"service": "batch", "operation": "DescribeJobDefinitions", "status": 400, "code": "ClientException",
               "account_id": CENTRAL, "times": 1},
              {"service": "apprunner", "operation": "ListServices", "status": 500,
               "code": "InternalServiceErrorException", "times": 1},
              {"service": "sagemaker", "operation": "ListModels", "status": 400, "code": "AccessDeniedException"},
              {"service": "codebuild", "operation": "BatchGetProjects", "status": 400, "code": "AccessDeniedException"}]})
    eks, batch, ar = Env.client("eks", CENTRAL, EU), Env.client("batch", CENTRAL, EU), Env.client("apprunner", CENTRAL, EU)
    headers, body, err = raw_answer(eks, lambda: eks.describe_cluster(name="kube"))
    expect(err.response["ResponseMetadata"]["HTTPStatusCode"] == 403 and err.response["Error"]["Code"]
           == "AccessDeniedException" and headers.get("x-amzn-ErrorType") == "AccessDeniedException"
           and set(json.loads(body)) == {"message"}, f"eks {headers} {body!r}")
    expect(eks.list_clusters()["clusters"] == ["kube"], "ListClusters is not faulted")
    headers, body, err = raw_answer(batch, lambda: batch.describe_job_definitions(status="ACTIVE"))
    expect(err.response["Error"]["Code"] == "ClientException" and set(json.loads(body)) == {"message"}, f"batch {body!r}")
    expect(batch.describe_job_definitions(status="ACTIVE")["jobDefinitions"] == [], "times: 1")
    headers, body, err = raw_answer(ar, lambda: ar.list_services())
    expect(err.response["Error"]["Code"] == "InternalServiceErrorException"
           and headers.get("Content-Type") == "application/x-amz-json-1.0"
           and set(json.loads(body)) == {"__type", "Message"}, f"apprunner {headers} {body!r}")
    expect(len(ar.list_services()["ServiceSummaryList"]) == 1, "times: 1")
    sm, cb = Env.client("sagemaker", CENTRAL, EU), Env.client("codebuild", CENTRAL, EU)
    expect(error_of(lambda: sm.list_models()).response["Error"]["Code"] == "AccessDeniedException", "sagemaker")
    expect(error_of(lambda: cb.batch_get_projects(names=["x"])).response["Error"]["Code"] == "AccessDeniedException",
           "codebuild")
    calls = {(c["service"], c["operation"]): c["count"] for c in http("GET", "/_ecrgc/calls")}
    expect(calls.get(("eks", "DescribeCluster")) == 1 and calls.get(("apprunner", "ListServices")) == 2
           and calls.get(("batch", "DescribeJobDefinitions")) == 2 and calls.get(("codebuild", "BatchGetProjects")) == 1,
           f"{calls}")
    http("POST", "/_ecrgc/faults/reset")
    expect(eks.describe_cluster(name="kube")["cluster"]["name"] == "kube", "after faults/reset")
    http("POST", "/_ecrgc/reset")
    state = http("GET", "/_ecrgc/seed")
    expect(state["eks_clusters"] == [] and state["apprunner_services"] == [], "reset drops the seeds")
    return "eks 403, batch and apprunner once, sagemaker, codebuild; counted"
