#!/usr/bin/env python3
"""A local AWS endpoint for rate benchmarks of `ecrgc collect` and `ecrgc apply`.

It serves the synthetic organization of org.py (generated per request, never held in
memory) over the wire protocols the SDKs speak: STS (query/XML), ECR, ECS and Config
(awsJson1_1), Inspector2 and Lambda (restJson1). Every AWS call waits `--latency-ms`, and
each account × region × API has a token bucket (`--rate`, `--burst`, `--limit API=RATE:BURST`):
beyond it the call is answered with the protocol's throttling error, as AWS does, so the
client's backoff is what is measured. Requests must be SigV4-signed; the region comes from
the credential scope and the account from the access key (AssumeRole hands out `ASIA<account>`
keys; any other key is the caller's own account, the first one).

    python3 benches/rate_endpoint/server.py --images 100000 --accounts 4 \
        --regions eu-west-1,us-east-1 --now 2026-11-21T00:00:00Z --port 0

prints `READY http://127.0.0.1:PORT` and serves until stdin closes (or SIGTERM). Admin routes
(unsigned, JSON): `GET /_bench/stats` (calls, throttles, pages, images, deletions, and the
accepted calls of every bucket with its rate and when it was first and last used),
`POST /_bench/stats/reset`, `GET /_bench/org` (shape and the row counts a complete snapshot
holds), `POST /_bench/limits` (body
`{"rate":…, "burst":…, "limits": {"ecr:BatchDeleteImage": [rate, burst]}, "latency_ms":…}`).
Deleted images are remembered in a set of (unit, repository, position) and vanish from
every later answer.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from org import Org  # noqa: E402

ECR_TARGET = "AmazonEC2ContainerRegistry_V20150921."
ECS_TARGET = "AmazonEC2ContainerServiceV20141113."
CONFIG_TARGET = "StarlingDoveService."
SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"


class ApiError(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class Bucket:
    """A token bucket: `rate` tokens a second, at most `burst` saved up."""

    __slots__ = ("rate", "burst", "tokens", "at", "accepted", "throttled", "first", "last")

    def __init__(self, rate: float, burst: float):
        self.rate, self.burst, self.tokens, self.at = rate, burst, burst, time.monotonic()
        self.accepted = 0
        self.throttled = 0
        self.first = self.last = None

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            self.accepted += 1
            # When the bucket was in use: shows whether buckets were worked on side by side.
            self.first = self.first or now
            self.last = now
            return True
        self.throttled += 1
        return False


class State:
    def __init__(self, org: Org, rate: float, burst: float, limits: dict, latency_ms: float):
        self.org = org
        self.lock = threading.Lock()
        self.rate, self.burst, self.limits, self.latency = rate, burst, dict(limits), latency_ms / 1000
        self.buckets: dict[tuple[str, str, str], Bucket] = {}
        self.deleted: set[tuple[int, int, int]] = set()
        self.reset_stats()
        self._totals = None

    def reset_stats(self):
        with self.lock:
            self.calls: dict[str, int] = {}
            self.throttles: dict[str, int] = {}
            self.pages: dict[str, int] = {}
            self.items: dict[str, int] = {}
            self.deletions = 0
            self.delete_failures = 0
            self.buckets = {}
            self.started = time.monotonic()

    def limit_for(self, api: str) -> tuple[float, float]:
        service = api.split(":")[0]
        return tuple(self.limits.get(api) or self.limits.get(service) or (self.rate, self.burst))

    def admit(self, account: str, region: str, api: str) -> bool:
        with self.lock:
            self.calls[api] = self.calls.get(api, 0) + 1
            if api.startswith("sts:"):
                return True
            key = (account, region, api)
            b = self.buckets.get(key)
            if b is None:
                b = self.buckets[key] = Bucket(*self.limit_for(api))
            ok = b.take()
            if not ok:
                self.throttles[api] = self.throttles.get(api, 0) + 1
            return ok

    def served(self, api: str, items: int):
        with self.lock:
            self.pages[api] = self.pages.get(api, 0) + 1
            self.items[api] = self.items.get(api, 0) + items

    def stats(self) -> dict:
        with self.lock:
            buckets = [{"account": a, "region": r, "api": api, "accepted": b.accepted,
                        "throttled": b.throttled, "rate": b.rate, "burst": b.burst,
                        "first_s": b.first and round(b.first - self.started, 2),
                        "last_s": b.last and round(b.last - self.started, 2)}
                       for (a, r, api), b in sorted(self.buckets.items())]
            return {"elapsed_s": time.monotonic() - self.started, "calls": dict(self.calls),
                    "throttles": dict(self.throttles), "pages": dict(self.pages),
                    "items": dict(self.items), "deletions": self.deletions,
                    "delete_failures": self.delete_failures, "deleted_total": len(self.deleted),
                    "buckets": buckets}

    def totals(self) -> dict:
        if self._totals is None:
            self._totals = self.org.totals()
        return self._totals


def epoch(t: int | None) -> str:
    return "null" if t is None else str(t)


def js(s: str) -> str:
    return json.dumps(s)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State

    def log_message(self, *args):  # quiet: a million requests would drown the terminal
        pass

    # -- plumbing ----------------------------------------------------------------------------

    def send(self, status: int, body: bytes, ctype: str, extra: list[tuple[str, str]] = ()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def dispatch(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = urlparse(self.path).path
        if path.startswith("/_bench/"):
            return self.admin(path, body)
        auth = self.headers.get("Authorization", "")
        m = SCOPE.search(auth)
        if not m:
            return self.send(403, b'{"message":"request is not SigV4-signed"}', "application/json")
        key, region, service = m.groups()
        st = self.state
        account = key[4:] if key.startswith("ASIA") and key[4:] in st.org.accounts else st.org.accounts[0]
        target = self.headers.get("X-Amz-Target", "")
        protocol, op = self.operation(service, target, path, body)
        api = f"{service}:{op}"
        if st.latency:
            time.sleep(st.latency)
        try:
            if not st.admit(account, region, api):
                code = {"inspector2": "ThrottlingException", "lambda": "TooManyRequestsException",
                        "sts": "Throttling"}.get(service, "ThrottlingException")
                raise ApiError(code, "Rate exceeded", 429 if protocol == "rest" else 400)
            handler = getattr(self, f"op_{service}_{op}", None)
            if handler is None:
                raise ApiError("InternalFailure", f"bench endpoint: {api} is not served", 500)
            result = handler(account, region, body)
        except ApiError as e:
            return self.error(protocol, e)
        if protocol == "query":
            return self.send(200, result.encode(), "text/xml")
        if isinstance(result, str):
            result = result.encode()
        else:
            result = json.dumps(result).encode()
        ctype = "application/x-amz-json-1.1" if protocol == "json" else "application/json"
        self.send(200, result, ctype)

    def operation(self, service: str, target: str, path: str, body: bytes) -> tuple[str, str]:
        if target:
            return "json", target.split(".", 1)[1]
        if service == "sts":
            form = parse_qs(body.decode()) if body else parse_qs(urlparse(self.path).query)
            return "query", (form.get("Action") or ["?"])[0]
        if service == "inspector2" and path == "/coverage/list":
            return "rest", "ListCoverage"
        if service == "lambda" and path.rstrip("/").endswith("/functions"):
            return "rest", "ListFunctions"
        if service == "lambda" and path.endswith("/versions"):
            return "rest", "ListVersionsByFunction"
        if service == "lambda" and path.endswith("/aliases"):
            return "rest", "ListAliases"
        return "rest", path

    def error(self, protocol: str, e: ApiError):
        if protocol == "query":
            kind = "Receiver" if e.status >= 500 else "Sender"
            xml = (f'<ErrorResponse xmlns="{STS_NS}"><Error><Type>{kind}</Type><Code>{e.code}</Code>'
                   f"<Message>{e.message}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>")
            return self.send(e.status, xml.encode(), "text/xml")
        payload = {"message": e.message}
        if protocol == "json":
            # awsJson1_1: the code travels in __type (and the header); restJson1: the header.
            payload["__type"] = e.code
            ctype = "application/x-amz-json-1.1"
        else:
            ctype = "application/json"
        self.send(e.status, json.dumps(payload).encode(), ctype, [("x-amzn-ErrorType", e.code)])

    def admin(self, path: str, body: bytes):
        st = self.state
        if path == "/_bench/stats":
            out = st.stats()
        elif path == "/_bench/stats/reset":
            st.reset_stats()
            out = {"ok": True}
        elif path == "/_bench/org":
            o = st.org
            out = {"accounts": o.accounts, "regions": o.regions, "units": len(o.units),
                   "repositories_per_unit": [len(s) for s in o.sizes], "totals": st.totals()}
        elif path == "/_bench/limits":
            doc = json.loads(body or b"{}")
            with st.lock:
                st.rate = float(doc.get("rate", st.rate))
                st.burst = float(doc.get("burst", st.burst))
                if "limits" in doc:
                    st.limits = {k: tuple(v) for k, v in doc["limits"].items()}
                if "latency_ms" in doc:
                    st.latency = float(doc["latency_ms"]) / 1000
                st.buckets = {}
            out = {"ok": True}
        else:
            return self.send(404, b'{"message":"no such admin route"}', "application/json")
        self.send(200, json.dumps(out).encode(), "application/json")

    # -- helpers -----------------------------------------------------------------------------

    def unit(self, account: str, region: str) -> int:
        u = self.state.org.unit_index.get((account, region))
        if u is None:
            raise ApiError("RepositoryNotFoundException", f"no registry in {account}/{region}")
        return u

    def repo(self, account: str, region: str, name: str | None) -> tuple[int, int]:
        u = self.state.org.unit_index.get((account, region))
        k = None if u is None or not name else self.state.org.repo_index(u, name)
        if k is None:
            raise ApiError("RepositoryNotFoundException",
                           f"The repository with name '{name}' does not exist in the registry with id '{account}'")
        return u, k

    def repo_json(self, account: str, region: str, u: int, k: int) -> str:
        o = self.state.org
        name = o.repo_name(u, k)
        return (f'{{"repositoryArn":"arn:aws:ecr:{region}:{account}:repository/{name}",'
                f'"registryId":"{account}","repositoryName":"{name}",'
                f'"repositoryUri":"{account}.dkr.ecr.{region}.amazonaws.com/{name}",'
                f'"createdAt":{o.created_at(u, k)},"imageTagMutability":"MUTABLE"}}')

    @staticmethod
    def image_json(account: str, name: str, img) -> str:
        tags = ",".join(f'"{t}"' for t in img.tags)
        extra = ""
        if img.artifact_media_type:
            extra += f',"artifactMediaType":"{img.artifact_media_type}"'
        if img.last_pull is not None:
            extra += f',"lastRecordedPullTime":{img.last_pull}'
        if img.subject:
            extra += f',"subjectManifestDigest":"{img.subject}"'
        return (f'{{"registryId":"{account}","repositoryName":"{name}","imageDigest":"{img.digest}",'
                f'"imageTags":[{tags}],"imageSizeInBytes":{img.size},"imagePushedAt":{img.pushed_at},'
                f'"imageManifestMediaType":"{img.media_type}","imageStatus":"ACTIVE"{extra}}}')

    def live(self, u: int, k: int, j: int) -> bool:
        return (u, k, j) not in self.state.deleted

    # -- STS ---------------------------------------------------------------------------------

    def op_sts_GetCallerIdentity(self, account, region, body):
        return (f'<GetCallerIdentityResponse xmlns="{STS_NS}"><GetCallerIdentityResult>'
                f"<Arn>arn:aws:iam::{account}:user/bench</Arn><UserId>AIDABENCH</UserId>"
                f"<Account>{account}</Account></GetCallerIdentityResult>"
                f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
                f"</GetCallerIdentityResponse>")

    def op_sts_AssumeRole(self, account, region, body):
        form = parse_qs(body.decode())
        arn = form.get("RoleArn", [""])[0]
        m = re.match(r"arn:[^:]+:iam::(\d{12}):role/(.+)", arn)
        if not m or m.group(1) not in self.state.org.accounts:
            raise ApiError("AccessDenied", f"not authorized to perform sts:AssumeRole on {arn}", 403)
        target, role = m.groups()
        expires = datetime.fromtimestamp(time.time() + 12 * 3600, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        session = form.get("RoleSessionName", ["bench"])[0]
        return (f'<AssumeRoleResponse xmlns="{STS_NS}"><AssumeRoleResult><Credentials>'
                f"<AccessKeyId>ASIA{target}</AccessKeyId><SecretAccessKey>bench</SecretAccessKey>"
                f"<SessionToken>bench-{target}</SessionToken><Expiration>{expires}</Expiration>"
                f"</Credentials><AssumedRoleUser><AssumedRoleId>AROABENCH:{session}</AssumedRoleId>"
                f"<Arn>arn:aws:sts::{target}:assumed-role/{role}/{session}</Arn></AssumedRoleUser>"
                f"</AssumeRoleResult><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId>"
                f"</ResponseMetadata></AssumeRoleResponse>")

    # -- ECR ---------------------------------------------------------------------------------

    def op_ecr_DescribeRepositories(self, account, region, body):
        req = json.loads(body or b"{}")
        o = self.state.org
        u = o.unit_index.get((account, region))
        if req.get("repositoryNames"):
            out = [self.repo_json(account, region, *self.repo(account, region, n)) for n in req["repositoryNames"]]
            return f'{{"repositories":[{",".join(out)}]}}'
        if u is None:
            return '{"repositories":[]}'
        start = int(req.get("nextToken") or 0)
        size = min(int(req.get("maxResults") or 100), 1000)
        n = len(o.sizes[u])
        out = [self.repo_json(account, region, u, k) for k in range(start, min(n, start + size))]
        token = f',"nextToken":"{start + size}"' if start + size < n else ""
        self.state.served("ecr:DescribeRepositories", len(out))
        return f'{{"repositories":[{",".join(out)}]{token}}}'

    def op_ecr_ListTagsForResource(self, account, region, body):
        arn = json.loads(body)["resourceArn"]
        u, k = self.repo(account, region, arn.split(":repository/", 1)[-1])
        tags = [{"Key": "team", "Value": f"team{k % 37:02d}"}]
        if self.state.org.opted_in(u, k):
            tags.append({"Key": "ecrgc:auto-delete", "Value": "true"})
        return {"tags": tags}

    def op_ecr_GetLifecyclePolicy(self, account, region, body):
        name = json.loads(body).get("repositoryName")
        self.repo(account, region, name)
        raise ApiError("LifecyclePolicyNotFoundException",
                       f"Lifecycle policy does not exist for the repository with name '{name}'")

    def op_ecr_GetRepositoryPolicy(self, account, region, body):
        name = json.loads(body).get("repositoryName")
        self.repo(account, region, name)
        raise ApiError("RepositoryPolicyNotFoundException",
                       f"Repository policy does not exist for the repository with name '{name}'")

    def op_ecr_DescribeImages(self, account, region, body):
        req = json.loads(body)
        o = self.state.org
        u, k = self.repo(account, region, req.get("repositoryName"))
        name = o.repo_name(u, k)
        if req.get("imageIds"):
            out = []
            for iid in req["imageIds"]:
                d = iid.get("imageDigest") or ""
                c = o.decode(d)
                if c is None or c[:2] != (u, k) or not o.valid(u, k, c[2], d) or not self.live(*c):
                    raise ApiError("ImageNotFoundException",
                                   f"The image with imageId {{imageDigest:'{d}'}} does not exist within the "
                                   f"repository with name '{name}' in the registry with id '{account}'")
                out.append(self.image_json(account, name, o.image(u, k, c[2])))
            self.state.served("ecr:DescribeImages(ids)", len(out))
            return f'{{"imageDetails":[{",".join(out)}]}}'
        size = o.sizes[u][k]
        token = req.get("nextToken")
        j = 0
        if token:
            m = re.fullmatch(r"i(\d+)", token)
            if not m:
                raise ApiError("InvalidParameterException", "Invalid parameter at 'nextToken'")
            j = int(m.group(1))
        limit = min(int(req.get("maxResults") or 100), 1000)
        out = []
        while j < size and len(out) < limit:
            if self.live(u, k, j):
                out.append(self.image_json(account, name, o.image(u, k, j)))
            j += 1
        nxt = f',"nextToken":"i{j}"' if j < size else ""
        self.state.served("ecr:DescribeImages", len(out))
        return f'{{"imageDetails":[{",".join(out)}]{nxt}}}'

    def op_ecr_BatchGetImage(self, account, region, body):
        req = json.loads(body)
        o = self.state.org
        u, k = self.repo(account, region, req.get("repositoryName"))
        name = o.repo_name(u, k)
        images, failures = [], []
        for iid in req.get("imageIds", []):
            d = iid.get("imageDigest") or ""
            c = o.decode(d)
            if c is None or c[:2] != (u, k) or not o.valid(u, k, c[2], d) or not self.live(*c):
                failures.append({"imageId": iid, "failureCode": "ImageNotFound",
                                 "failureReason": "Requested image not found"})
                continue
            img = o.image(u, k, c[2])
            if img.kind == "index":
                manifest = {"schemaVersion": 2, "mediaType": img.media_type, "manifests": [
                    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": ch, "size": 1000,
                     "platform": {"architecture": arch, "os": "linux"}}
                    for ch, arch in zip(img.children, ("amd64", "arm64"))]}
            else:
                manifest = {"schemaVersion": 2, "mediaType": img.media_type,
                            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                       "digest": "sha256:" + "0" * 64, "size": 100}, "layers": []}
            images.append({"registryId": account, "repositoryName": name, "imageId": {"imageDigest": d},
                           "imageManifest": json.dumps(manifest), "imageManifestMediaType": img.media_type})
        self.state.served("ecr:BatchGetImage", len(images))
        return {"images": images, "failures": failures}

    def op_ecr_BatchDeleteImage(self, account, region, body):
        req = json.loads(body)
        o = self.state.org
        u, k = self.repo(account, region, req.get("repositoryName"))
        ids = req.get("imageIds", [])
        if len(ids) > 100:
            raise ApiError("InvalidParameterException", "imageIds: at most 100")
        done, failures = [], []
        st = self.state
        with st.lock:
            for iid in ids:
                d = iid.get("imageDigest") or ""
                c = o.decode(d)
                if c is None or c[:2] != (u, k) or not o.valid(u, k, c[2], d) or c in st.deleted:
                    failures.append({"imageId": iid, "failureCode": "ImageNotFound",
                                     "failureReason": "Requested image not found"})
                    continue
                j = c[2]
                if o.kind(o.sizes[u][k], j) == "child" and (u, k, j - j % 20) not in st.deleted:
                    failures.append({"imageId": iid, "failureCode": "ImageReferencedByManifestList",
                                     "failureReason": "Requested image is referenced by an image index"})
                    continue
                st.deleted.add(c)
                done.append({"imageDigest": d})
            st.deletions += len(done)
            st.delete_failures += len(failures)
        return {"imageIds": done, "failures": failures}

    def op_ecr_ListImageReferrers(self, account, region, body):
        return {"referrers": []}

    # -- Inspector2 --------------------------------------------------------------------------

    def op_inspector2_ListCoverage(self, account, region, body):
        req = json.loads(body or b"{}")
        o = self.state.org
        crit = req.get("filterCriteria") or {}

        def equals(field):
            vals = [f["value"] for f in crit.get(field, []) if f.get("comparison") == "EQUALS"]
            return vals or None

        types, accts, repos = equals("resourceType"), equals("accountId"), equals("ecrRepositoryName")
        u = o.unit_index.get((account, region))
        if u is None or (types and "AWS_ECR_CONTAINER_IMAGE" not in types) or (accts and account not in accts):
            return '{"coveredResources":[]}'
        limit = min(int(req.get("maxResults") or 100), 200)
        if repos:
            ks = sorted(k for k in (o.repo_index(u, r) for r in repos) if k is not None)
        else:
            ks = range(len(o.sizes[u]))
        ks = list(ks)
        ki, j = 0, 0
        token = req.get("nextToken")
        if token:
            m = re.fullmatch(r"c(\d+)\.(\d+)", token)
            if not m:
                raise ApiError("ValidationException", "Invalid nextToken")
            ki, j = int(m.group(1)), int(m.group(2))
        out = []
        while ki < len(ks) and len(out) < limit:
            k = ks[ki]
            if j >= o.sizes[u][k]:
                ki, j = ki + 1, 0
                continue
            if self.live(u, k, j):
                img = o.image(u, k, j)
                if img.covered:
                    out.append(self.coverage_json(account, region, o.repo_name(u, k), img))
            j += 1
        while ki < len(ks) and j >= o.sizes[u][ks[ki]]:
            ki, j = ki + 1, 0
        nxt = f',"nextToken":"c{ki}.{j}"' if ki < len(ks) else ""
        self.state.served("inspector2:ListCoverage", len(out))
        return f'{{"coveredResources":[{",".join(out)}]{nxt}}}'

    @staticmethod
    def coverage_json(account, region, name, img) -> str:
        tags = ",".join(f'"{t}"' for t in img.tags)
        extra = ""
        if img.last_in_use_at is not None:
            extra += f',"lastInUseAt":{img.last_in_use_at}'
        if img.pulled_at is not None:
            extra += f',"imagePulledAt":{img.pulled_at}'
        return (f'{{"resourceType":"AWS_ECR_CONTAINER_IMAGE","accountId":"{account}",'
                f'"resourceId":"arn:aws:ecr:{region}:{account}:repository/{name}/{img.digest}",'
                f'"scanType":"PACKAGE","scanMode":"EC2_SSM_AGENT_BASED",'
                f'"scanStatus":{{"statusCode":"ACTIVE","reason":"SUCCESSFUL"}},'
                f'"resourceMetadata":{{"ecrRepository":{{"name":"{name}","scanFrequency":"CONTINUOUS_SCAN"}},'
                f'"ecrImage":{{"tags":[{tags}],"inUseCount":{img.in_use_count}{extra}}}}}}}')

    # -- Config ------------------------------------------------------------------------------

    def op_config_SelectAggregateResourceConfig(self, account, region, body):
        req = json.loads(body or b"{}")
        o = self.state.org
        limit = min(int(req.get("Limit") or req.get("MaxResults") or 100), 100)
        start = 0
        if req.get("NextToken"):
            m = re.fullmatch(r"t(\d+)\.(\d+)", req["NextToken"])
            if not m:
                raise ApiError("InvalidNextTokenException", "Invalid NextToken")
            start = int(m.group(1)) * 1_000_000 + int(m.group(2))
        results = []
        pos = start
        # One ACTIVE task definition per repository, in (unit, repository) order.
        flat = [(u, k) for u in range(len(o.units)) for k in range(len(o.sizes[u]))]
        i = pos
        while i < len(flat) and len(results) < limit:
            u, k = flat[i]
            i += 1
            hit = o.newest_tagged(u, k)
            if hit is None:
                continue
            acct, reg = o.units[u]
            family = f"svc-{u:03d}-{k:05d}"
            image = f"{acct}.dkr.ecr.{reg}.amazonaws.com/{o.repo_name(u, k)}:{hit[1]}"
            arn = f"arn:aws:ecs:{reg}:{acct}:task-definition/{family}:1"
            results.append(json.dumps({
                "accountId": acct, "awsRegion": reg, "resourceId": arn,
                "configurationItemCaptureTime": "2026-01-01T00:00:00.000Z",
                "configuration": {"TaskDefinitionArn": arn, "Status": "ACTIVE",
                                  "ContainerDefinitions": [{"Name": "app", "Image": image}]}}))
        out = {"Results": results, "QueryInfo": {"SelectFields": [{"Name": "accountId"}]}}
        if i < len(flat):
            out["NextToken"] = f"t{i // 1_000_000}.{i % 1_000_000}"
        self.state.served("config:SelectAggregateResourceConfig", len(results))
        return out

    # -- ECS and Lambda: the organization runs nothing there --------------------------------

    def op_ecs_ListClusters(self, account, region, body):
        return {"clusterArns": []}

    def op_ecs_ListTaskDefinitions(self, account, region, body):
        return {"taskDefinitionArns": []}

    def op_ecs_ListServices(self, account, region, body):
        return {"serviceArns": []}

    def op_ecs_ListTasks(self, account, region, body):
        return {"taskArns": []}

    def op_lambda_ListFunctions(self, account, region, body):
        return {"Functions": []}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=100_000)
    p.add_argument("--accounts", type=int, default=4)
    p.add_argument("--regions", default="eu-west-1,us-east-1")
    p.add_argument("--mean-repo", type=int, default=500, help="mean images per repository")
    p.add_argument("--now", default="2026-11-21T00:00:00Z")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--rate", type=float, default=10.0, help="calls a second per account × region × API")
    p.add_argument("--burst", type=float, default=10.0)
    p.add_argument("--limit", action="append", default=[], metavar="API=RATE:BURST",
                   help="per API (ecr:DescribeImages) or service (ecr) override; repeatable")
    p.add_argument("--latency-ms", type=float, default=50.0)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--no-stdin", action="store_true", help="do not exit when stdin closes")
    a = p.parse_args()
    now = int(datetime.fromisoformat(a.now.replace("Z", "+00:00")).timestamp())
    limits = {}
    for spec in a.limit:
        api, _, rb = spec.partition("=")
        rate, _, burst = rb.partition(":")
        limits[api] = (float(rate), float(burst or rate))
    org = Org(a.images, a.accounts, [r for r in a.regions.split(",") if r], a.mean_repo, now, a.seed)
    Handler.state = State(org, a.rate, a.burst, limits, a.latency_ms)
    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    server.daemon_threads = True
    server.request_queue_size = 256
    print(f"READY http://127.0.0.1:{server.server_address[1]}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    if not a.no_stdin:
        def watch():
            sys.stdin.read()
            os._exit(0)
        threading.Thread(target=watch, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
