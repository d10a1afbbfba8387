#!/usr/bin/env python3
"""Check fake_apiserver.py over the wire, with urllib and ssl.

    python testing/kube/selftest.py

Starts the server (plain HTTP, then HTTPS with --tls-dir) as a test does, with stdin piped,
and checks authentication (static bearer token, EKS tokens presigned with botocore as
`aws eks get-token` does, refusal), RBAC refusals, list shapes, pagination, expired and
invalid continue tokens, discovery, state replacement, the request log, TLS verified against
DIR/ca.pem, and exit at EOF and on SIGTERM. Prints one line per check and a closing
`selftest: N passed, N failed`; exits non-zero on any failure.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import traceback
import urllib.error
import urllib.request
from typing import Any, Callable
from urllib.parse import parse_qs, urlencode, urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN = "static-token"
RESULTS: list[tuple[str, bool]] = []
CHECKS: list[Callable[[], None]] = []


def check(name: str) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
    def wrap(fn: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> None:
            try:
                detail = fn()
                RESULTS.append((name, True))
                print(f"ok   - {name}" + (f" ({detail})" if detail else ""), flush=True)
            except Exception as exc:  # noqa: BLE001 - every failure is reported
                RESULTS.append((name, False))
                print(f"FAIL - {name}: {exc!r}", flush=True)
                traceback.print_exc(file=sys.stdout)
        CHECKS.append(run)
        return run
    return wrap


def expect(cond: bool, message: str) -> None:
    if not cond:
        raise AssertionError(message)


def pod(ns: str, name: str, image: str) -> dict:
    return {"metadata": {"name": name, "namespace": ns},
            "spec": {"containers": [{"name": "main", "image": image}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "main", "image": image, "imageID": f"docker-pullable://{image}@sha256:{'1' * 64}"}]}}


def workload(ns: str, name: str, image: str) -> dict:
    return {"metadata": {"name": name, "namespace": ns},
            "spec": {"template": {"spec": {"containers": [{"name": "main", "image": image}]}}}}


IMG = "111111111111.dkr.ecr.eu-west-1.amazonaws.com/shop/web"
STATE = {
    "auth": {"bearer": TOKEN},
    "refuse": False,
    "forbidden": ["cronjobs"],
    "page_limit_max": None,
    "objects": {
        "pods": [pod("shop", "web-2", f"{IMG}:v2"), pod("shop", "web-1", f"{IMG}:v1"), pod("kube-system", "dns", "dns:1"),
                 pod("batch", "nightly-x1", f"{IMG}:nightly"), pod("shop", "web-3", f"{IMG}@sha256:{'2' * 64}")],
        "deployments": [dict(workload("shop", "web", f"{IMG}:v2"), apiVersion="apps/v1", kind="Deployment")],
        "statefulsets": [workload("data", "db", f"{IMG}:db")],
        "daemonsets": [workload("kube-system", "agent", f"{IMG}:agent")],
        "replicasets": [workload("shop", "web-5d8f", f"{IMG}:v1"), workload("shop", "web-7c9a", f"{IMG}:v2")],
        "jobs": [workload("batch", "nightly-x1", f"{IMG}:nightly")],
        "cronjobs": [{"metadata": {"name": "nightly", "namespace": "batch"},
                      "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [
                          {"name": "main", "image": f"{IMG}:nightly"}]}}}}}}],
    },
}


class Srv:
    url = ""
    proc: subprocess.Popen | None = None
    tls_url = ""
    tls_proc: subprocess.Popen | None = None
    tls_dir = ""


def start(state_path: str, *extra: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "fake_apiserver.py"), "--state", state_path,
                             "--port", "0", *extra], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    expect(line.startswith("READY "), f"READY line: {line!r}")
    return proc, line.split()[1]


def call(path: str, token: str | None = TOKEN, method: str = "GET", data: Any = None, base: str | None = None,
         context: ssl.SSLContext | None = None) -> tuple[int, Any]:
    headers = {"Accept": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    body = None if data is None else json.dumps(data).encode()
    req = urllib.request.Request((base or Srv.url) + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, context=context, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def set_state(state: dict) -> None:
    code, doc = call("/_fake/state", None, "POST", state)
    expect(code == 200, f"state replaced: {code} {doc}")


def list_all(path: str, limit: int) -> tuple[list[dict], int]:
    items, pages, token = [], 0, None
    while True:
        query = {"limit": limit, **({"continue": token} if token else {})}
        code, doc = call(f"{path}?{urlencode(query)}")
        expect(code == 200, f"{path}: {code} {doc}")
        pages += 1
        items += doc["items"]
        token = doc["metadata"].get("continue")
        if token:
            expect(doc["metadata"].get("remainingItemCount", 0) > 0, "remainingItemCount")
        else:
            return items, pages
        expect(pages < 50, "pagination does not end")


def eks_token(cluster: str, region: str | None = "eu-west-1", session_token: str | None = "session",
              expires: int = 60) -> str:
    """A token made as `aws eks get-token` makes it: botocore presigns STS GetCallerIdentity
    with the x-k8s-aws-id header (awscli/customizations/eks/get_token.py)."""
    from botocore.auth import SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    host = f"sts.{region}.amazonaws.com" if region else "sts.amazonaws.com"
    request = AWSRequest(method="GET", url=f"https://{host}/?Action=GetCallerIdentity&Version=2011-06-15",
                         headers={"x-k8s-aws-id": cluster})
    SigV4QueryAuth(Credentials("AKIAFAKEFAKEFAKEFAKE", "secret", session_token), "sts", region or "us-east-1",
                   expires=expires).add_auth(request)
    return "k8s-aws-v1." + base64.urlsafe_b64encode(request.url.encode()).decode().rstrip("=")


def retoken(token: str, change: Callable[[dict], None]) -> str:
    """The token with its URL's query parameters changed (the signature no longer matches, which
    the server cannot see)."""
    body = token[len("k8s-aws-v1."):]
    url = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    parts = urlsplit(url)
    params = {k: v[0] for k, v in parse_qs(parts.query).items()}
    change(params)
    new = f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(params)}"
    return "k8s-aws-v1." + base64.urlsafe_b64encode(new.encode()).decode().rstrip("=")


# --------------------------------------------------------------------------------------

@check("auth: a bearer token is required; 401 is the API server's Status")
def _auth() -> str:
    unauthorized = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
    for token in (None, "wrong", ""):
        code, doc = call("/api/v1/pods", token)
        expect(code == 401 and doc == unauthorized, f"token {token!r}: {code} {doc}")
    code, doc = call("/api/v1/pods")
    expect(code == 200 and doc["kind"] == "PodList", f"{code}")
    return "no token, a wrong one, an empty one"


@check("lists: every endpoint, cluster-wide and namespaced, in the API's list shape")
def _lists() -> str:
    code, doc = call("/api/v1/pods")
    expect(doc["apiVersion"] == "v1" and set(doc) == {"kind", "apiVersion", "metadata", "items"}, f"{doc.keys()}")
    expect(set(doc["metadata"]) == {"resourceVersion"}, f"one page has no continue: {doc['metadata']}")
    names = [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in doc["items"]]
    expect(names == sorted(names) and len(names) == 5, f"sorted by namespace/name: {names}")
    first = doc["items"][0]
    expect(first["apiVersion"] == "v1" and first["kind"] == "Pod" and first["metadata"]["uid"]
           and first["metadata"]["resourceVersion"], f"{first}")
    expect(first["status"]["containerStatuses"][0]["imageID"].startswith("docker-pullable://"), "objects as written")
    counts = {}
    for resource, prefix, kind in (("deployments", "/apis/apps/v1", "Deployment"),
                                   ("statefulsets", "/apis/apps/v1", "StatefulSet"),
                                   ("daemonsets", "/apis/apps/v1", "DaemonSet"),
                                   ("replicasets", "/apis/apps/v1", "ReplicaSet"),
                                   ("jobs", "/apis/batch/v1", "Job")):
        code, doc = call(f"{prefix}/{resource}")
        expect(code == 200 and doc["kind"] == f"{kind}List" and doc["apiVersion"] == prefix.split("/", 2)[2]
               and all(i["kind"] == kind for i in doc["items"]), f"{resource}: {code} {doc}")
        counts[resource] = len(doc["items"])
    expect(counts == {"deployments": 1, "statefulsets": 1, "daemonsets": 1, "replicasets": 2, "jobs": 1}, f"{counts}")
    code, doc = call("/api/v1/namespaces/shop/pods")
    expect([p["metadata"]["name"] for p in doc["items"]] == ["web-1", "web-2", "web-3"], f"{doc['items']}")
    code, doc = call("/apis/apps/v1/namespaces/shop/replicasets")
    expect(len(doc["items"]) == 2, "namespaced apps")
    code, doc = call("/apis/batch/v1/namespaces/shop/jobs")
    expect(code == 200 and doc["items"] == [], "empty namespace")
    code, doc = call("/api/v1/namespaces/shop/pods/web-2")
    expect(code == 200 and doc["kind"] == "Pod" and doc["metadata"]["name"] == "web-2", f"get one: {doc}")
    code, doc = call("/api/v1/namespaces/shop/pods/nope")
    expect(code == 404 and doc["reason"] == "NotFound" and doc["message"] == 'pods "nope" not found', f"{doc}")
    return f"pods 5, {counts}"


@check("pagination: limit and continue across pages; page_limit_max caps limit")
def _pages() -> str:
    items, pages = list_all("/api/v1/pods", 2)
    code, whole = call("/api/v1/pods")
    expect(items == whole["items"] and pages == 3, f"{pages} pages")
    code, doc = call("/api/v1/pods?limit=2")
    expect(doc["metadata"]["remainingItemCount"] == 3 and doc["metadata"]["continue"], f"{doc['metadata']}")
    items, npages = list_all("/api/v1/namespaces/shop/pods", 1)
    expect(len(items) == 3 and npages == 3, "namespaced pages")
    set_state(dict(STATE, page_limit_max=2))
    capped, cpages = list_all("/api/v1/pods", 500)
    expect(len(capped) == 5 and cpages == 3, f"page_limit_max: {cpages} pages")
    code, doc = call("/api/v1/pods")
    expect(len(doc["items"]) == 5, "no limit: every item")
    set_state(STATE)
    return f"{pages} pages of 2, {cpages} capped at 2"


@check("continue: a token from before the world changed is 410 Expired; garbage is 400")
def _continue() -> str:
    code, doc = call("/api/v1/pods?limit=2")
    token = doc["metadata"]["continue"]
    code, doc = call(f"/api/v1/pods?limit=2&continue={token}")
    expect(code == 200, "still valid")
    set_state(STATE)
    code, doc = call(f"/api/v1/pods?limit=2&continue={token}")
    expect(code == 410 and doc["kind"] == "Status" and doc["reason"] == "Expired" and doc["code"] == 410
           and doc["status"] == "Failure" and doc["message"].startswith("The provided continue parameter is too old"),
           f"{code} {doc}")
    code, doc = call("/api/v1/pods?limit=2&continue=not-a-token")
    expect(code == 400 and doc["reason"] == "BadRequest", f"{code} {doc}")
    code, doc = call("/api/v1/pods?limit=2")
    other = doc["metadata"]["continue"]
    code, doc = call(f"/apis/apps/v1/replicasets?limit=1&continue={other}")
    expect(code == 400 and doc["reason"] == "BadRequest", f"another list's token: {code} {doc}")
    return "410 Expired, 400 BadRequest"


@check("forbidden: RBAC refusal per resource, 403 Forbidden Status")
def _forbidden() -> str:
    code, doc = call("/apis/batch/v1/cronjobs")
    expect(code == 403 and doc == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                   "message": 'cronjobs is forbidden: User "ecrgc" cannot list resource "cronjobs" '
                                              'in API group "batch" at the cluster scope',
                                   "reason": "Forbidden", "details": {"kind": "cronjobs"}, "code": 403}, f"{doc}")
    code, doc = call("/apis/batch/v1/namespaces/batch/cronjobs")
    expect(code == 403 and doc["message"].endswith('in API group "batch" in the namespace "batch"'), f"{doc}")
    set_state(dict(STATE, forbidden=["pods"], user="arn:aws:iam::111111111111:role/ecrgc"))
    code, doc = call("/api/v1/pods")
    expect(code == 403 and 'in API group "" at the cluster scope' in doc["message"]
           and 'User "arn:aws:iam::111111111111:role/ecrgc"' in doc["message"], f"{doc}")
    code, doc = call("/apis/batch/v1/cronjobs")
    expect(code == 200 and len(doc["items"]) == 1, "cronjobs allowed now")
    set_state(STATE)
    return "cluster scope, namespace, per state"


@check("discovery, unknown paths, methods: /version, /api, /apis, 404 NotFound, 405")
def _discovery() -> str:
    code, doc = call("/version")
    expect(code == 200 and doc["major"] == "1" and doc["minor"] == "31" and doc["gitVersion"] == "v1.31.0", f"{doc}")
    code, doc = call("/api")
    expect(doc["kind"] == "APIVersions" and doc["versions"] == ["v1"], f"{doc}")
    code, doc = call("/apis")
    expect(doc["kind"] == "APIGroupList" and [g["name"] for g in doc["groups"]] == ["apps", "batch"], f"{doc}")
    code, doc = call("/apis/apps/v1")
    expect(doc["kind"] == "APIResourceList" and {r["name"] for r in doc["resources"]}
           == {"deployments", "statefulsets", "daemonsets", "replicasets"}, f"{doc}")
    code, doc = call("/api/v1")
    expect([r["name"] for r in doc["resources"]] == ["pods"], f"{doc}")
    for path in ("/api/v1/services", "/apis/apps/v1/jobs", "/apis/extensions/v1beta1/deployments", "/healthz/x"):
        code, doc = call(path)
        expect(code == 404 and doc["reason"] == "NotFound" and doc["kind"] == "Status"
               and doc["message"] == "the server could not find the requested resource", f"{path}: {code} {doc}")
    code, doc = call("/api/v1/services", token="wrong")
    expect(code == 401, "authentication comes first")
    code, doc = call("/api/v1/namespaces/shop/pods", method="POST", data={})
    expect(code == 405 and doc["reason"] == "MethodNotAllowed", f"{code} {doc}")
    return "version, discovery, 404, 405"


@check("state: POST /_fake/state replaces the world; list items can leave out apiVersion/kind")
def _state() -> str:
    set_state(dict(STATE, objects={"pods": [pod("new", "only", "x:1")]}, list_item_type_meta=False))
    code, doc = call("/api/v1/pods")
    expect([p["metadata"]["name"] for p in doc["items"]] == ["only"], f"{doc}")
    expect("kind" not in doc["items"][0] and "apiVersion" not in doc["items"][0], "as the API server lists them")
    code, doc = call("/api/v1/namespaces/new/pods/only")
    expect(doc["kind"] == "Pod", "a single object keeps them")
    code, doc = call("/_fake/state", None, "POST", {"auth": {"bearer": "x"}, "objects": {"services": []}})
    expect(code == 400, f"unknown resource: {code} {doc}")
    code, doc = call("/_fake/state", None, "POST", {"auth": {"bearer": "x"}, "refuze": True})
    expect(code == 400, f"unknown key: {code} {doc}")
    set_state(dict(STATE, refuse=True))
    code, doc = call("/api/v1/pods")
    expect(code == 401 and doc["reason"] == "Unauthorized", "refuse: the right token is refused")
    set_state(STATE)
    code, doc = call("/api/v1/pods")
    expect(code == 200, "accepted again")
    return "replaced, validated, refused"


@check("request log: GET /_fake/requests lists method, path, query, authorized")
def _requests() -> str:
    call("/_fake/requests/reset", None, "POST", {})
    call("/api/v1/namespaces/shop/pods?limit=1&labelSelector=app%3Dweb")
    call("/apis/apps/v1/deployments", token="wrong")
    code, log = call("/_fake/requests", None)
    expect(code == 200 and len(log) == 2, f"{log}")
    expect(log[0]["method"] == "GET" and log[0]["path"] == "/api/v1/namespaces/shop/pods"
           and log[0]["query"] == {"limit": "1", "labelSelector": "app=web"} and log[0]["authorized"] is True
           and log[0]["status"] == 200, f"{log[0]}")
    expect(log[1]["authorized"] is False and log[1]["status"] == 401 and log[1]["reason"], f"{log[1]}")
    return "2 requests"


@check("eks auth: tokens as `aws eks get-token` makes them pass; malformed ones are 401")
def _eks() -> str:
    set_state(dict(STATE, auth={"eks_cluster": "kube"}))
    call("/_fake/requests/reset", None, "POST", {})
    good = [eks_token("kube"), eks_token("kube", region=None), eks_token("kube", session_token=None)]
    for token in good:
        code, doc = call("/api/v1/pods", token)
        expect(code == 200, f"{code} {doc} for {token[:60]}")
    code, log = call("/_fake/requests", None)
    urls = [e["token_url"] for e in log]
    query = parse_qs(urlsplit(urls[0]).query)
    expect(urls[0].startswith("https://sts.eu-west-1.amazonaws.com/?") and query["Action"] == ["GetCallerIdentity"]
           and "x-k8s-aws-id" in query["X-Amz-SignedHeaders"][0].split(";") and "X-Amz-Security-Token" in query,
           f"recorded {urls[0]}")
    expect(urls[1].startswith("https://sts.amazonaws.com/?") and "X-Amz-Security-Token" not in urls[2], f"{urls}")
    token = good[0]
    old = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=20)).strftime("%Y%m%dT%H%M%SZ")
    bad = {
        "static token": TOKEN,
        "no prefix": token[len("k8s-aws-v1."):],
        "padded": token + "==",
        "not base64": "k8s-aws-v1.!!!",
        "expired date": retoken(token, lambda p: p.update({"X-Amz-Date": old, "X-Amz-Credential": p[
            "X-Amz-Credential"].replace(p["X-Amz-Date"][:8], old[:8])})),
        "expires 901": retoken(token, lambda p: p.update({"X-Amz-Expires": "901"})),
        "cluster header not signed": retoken(token, lambda p: p.update({"X-Amz-SignedHeaders": "host"})),
        "other action": retoken(token, lambda p: p.update({"Action": "AssumeRole"})),
        "extra parameter": retoken(token, lambda p: p.update({"RoleArn": "x"})),
        "no signature": retoken(token, lambda p: p.pop("X-Amz-Signature")),
    }
    url = base64.urlsafe_b64decode(token[11:] + "=" * (-len(token[11:]) % 4)).decode()
    for what, host in (("other host", "sts.example.com"), ("http", None)):
        changed = url.replace("sts.eu-west-1.amazonaws.com", host) if host else url.replace("https:", "http:")
        bad[what] = "k8s-aws-v1." + base64.urlsafe_b64encode(changed.encode()).decode().rstrip("=")
    for what, token in bad.items():
        code, doc = call("/api/v1/pods", token)
        expect(code == 401 and doc["reason"] == "Unauthorized", f"{what}: {code}")
    code, log = call("/_fake/requests", None)
    expect(all(not e["authorized"] and e["reason"] for e in log[len(good):]), "each refusal says why")
    set_state(dict(STATE, auth={"eks_cluster": "kube"}, refuse=True))
    code, doc = call("/api/v1/pods", good[0])
    expect(code == 401, "refuse: a good EKS token is refused")
    set_state(STATE)
    return f"{len(good)} good tokens, {len(bad)} bad ones refused"


@check("tls: HTTPS verified against DIR/ca.pem for 127.0.0.1 and localhost")
def _tls() -> str:
    ca = os.path.join(Srv.tls_dir, "ca.pem")
    expect(Srv.tls_url.startswith("https://127.0.0.1:") and os.path.exists(ca), f"{Srv.tls_url}")
    context = ssl.create_default_context(cafile=ca)
    expect(context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED, "verifying context")
    code, doc = call("/version", base=Srv.tls_url, context=context)
    expect(code == 200 and doc["gitVersion"] == "v1.31.0", f"{code} {doc}")
    code, doc = call("/api/v1/pods", base=Srv.tls_url.replace("127.0.0.1", "localhost"), context=context)
    expect(code == 200 and len(doc["items"]) == 5, "by name, listing")
    code, doc = call("/api/v1/pods", token=None, base=Srv.tls_url, context=context)
    expect(code == 401, "auth over TLS")
    try:
        call("/version", base=Srv.tls_url, context=ssl.create_default_context())
        raise AssertionError("verified without the CA")
    except urllib.error.URLError as err:
        expect(isinstance(err.reason, ssl.SSLCertVerificationError), f"{err!r}")
    from cryptography import x509
    with open(ca, "rb") as fh:
        ca_cert = x509.load_pem_x509_certificate(fh.read())
    with open(os.path.join(Srv.tls_dir, "server.pem"), "rb") as fh:
        leaf = x509.load_pem_x509_certificate(fh.read())
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    expect([str(i) for i in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
           and san.get_values_for_type(x509.DNSName) == ["localhost"], f"{san}")
    expect(ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
           and not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca, "CA and leaf")
    return "verified, refused without the CA"


def stops(proc: subprocess.Popen, how: str) -> None:
    name = f"server exits on {how}"
    if how == "EOF":
        proc.stdin.close()
    else:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
        ok = proc.returncode == 0
    except subprocess.TimeoutExpired:
        proc.kill()
        ok = False
    RESULTS.append((name, ok))
    print(("ok   - " if ok else "FAIL - ") + f"{name} (rc {proc.returncode})", flush=True)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        state_path = os.path.join(tmp, "state.json")
        with open(state_path, "w") as fh:
            json.dump(STATE, fh)
        Srv.tls_dir = os.path.join(tmp, "tls")
        try:
            Srv.proc, Srv.url = start(state_path)
            Srv.tls_proc, Srv.tls_url = start(state_path, "--tls-dir", Srv.tls_dir)
        except AssertionError as err:
            print(f"FAIL - server start: {err}")
            print("selftest: 0 passed, 1 failed")
            return 1
        RESULTS.append(("server start", Srv.url.startswith("http://127.0.0.1:")))
        print(f"ok   - servers start ({Srv.url}, {Srv.tls_url})", flush=True)
        try:
            for run in CHECKS:
                run()
        finally:
            stops(Srv.proc, "EOF")
            stops(Srv.tls_proc, "SIGTERM")
    passed = sum(1 for _, ok in RESULTS if ok)
    failed = len(RESULTS) - passed
    print(f"selftest: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
