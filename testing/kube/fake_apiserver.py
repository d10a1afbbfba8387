#!/usr/bin/env python3
"""A fake Kubernetes API server for the tests of ecrgc's EKS/Kubernetes collector.

    python testing/kube/fake_apiserver.py --state STATE.json [--tls-dir DIR] --port 0

serves the workload objects of STATE.json (pods, deployments, statefulsets, daemonsets,
replicasets, jobs, cronjobs) read-only, in the API server's list shapes, paged with
`limit`/`continue`, behind bearer-token authentication (a static token, or an EKS token as
`aws eks get-token` makes it), with RBAC refusals per resource. It prints one line
`READY URL` once it listens (after writing DIR/ca.pem with --tls-dir), and exits when its
standard input reaches EOF, on SIGTERM or on SIGINT. README.md beside this file has the
state format and the endpoints.
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import os
import re
import signal
import ssl
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kube_support import TokenError, check_eks_token, decode_eks_token, make_tls  # noqa: E402

# resource -> (API group, kind, singular name, short names)
RESOURCES: dict[str, tuple[str, str, str, list[str]]] = {
    "pods": ("", "Pod", "pod", ["po"]),
    "deployments": ("apps", "Deployment", "deployment", ["deploy"]),
    "statefulsets": ("apps", "StatefulSet", "statefulset", ["sts"]),
    "daemonsets": ("apps", "DaemonSet", "daemonset", ["ds"]),
    "replicasets": ("apps", "ReplicaSet", "replicaset", ["rs"]),
    "jobs": ("batch", "Job", "job", []),
    "cronjobs": ("batch", "CronJob", "cronjob", ["cj"]),
}
GROUPS = ("apps", "batch")
STATE_KEYS = {"auth", "refuse", "forbidden", "page_limit_max", "objects", "user", "list_item_type_meta"}
VERSION = {"major": "1", "minor": "31", "gitVersion": "v1.31.0",
           "gitCommit": "9ba7b6f4a4e8a7b3c1d7e2f5b6a9c0d1e2f3a4b5", "gitTreeState": "clean",
           "buildDate": "2024-08-13T07:28:49Z", "goVersion": "go1.22.5", "compiler": "gc",
           "platform": "linux/amd64"}
# The API server's words for an expired continue token (k8s.io/apiserver, storage errors).
EXPIRED = ("The provided continue parameter is too old to display a consistent list result. You can start "
           "a new list without the continue parameter, or use the continue token in this response to "
           "retrieve the remainder of the results. Continuing with the provided token results in an "
           "inconsistent list - objects that were created, modified, or deleted between the time the "
           "first chunk was returned and now may show up in the list.")
PATH = re.compile(r"^(?:/api/v1|/apis/(?P<group>[a-z0-9.-]+)/v1)(?:/namespaces/(?P<ns>[^/]+))?"
                  r"/(?P<res>[a-z]+)(?:/(?P<name>[^/]+))?/?$")


def api_version(resource: str) -> str:
    group = RESOURCES[resource][0]
    return f"{group}/v1" if group else "v1"


def status(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    """A Kubernetes `Status` object, as the API server answers a failed request."""
    doc: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "message": message, "reason": reason}
    if details is not None:
        doc["details"] = details
    doc["code"] = code
    return doc


class World:
    """The state a test wrote, normalized; replaced whole by POST /_fake/state."""

    _rv = 1000  # resourceVersions only grow, across replacements, as etcd's revision does
    _rv_lock = threading.Lock()

    def __init__(self, raw: Any, generation: int) -> None:
        if not isinstance(raw, dict):
            raise ValueError("the state must be a JSON object")
        unknown = set(raw) - STATE_KEYS
        if unknown:
            raise ValueError(f"unknown state keys: {sorted(unknown)}")
        self.generation = generation
        self.raw = raw
        auth = raw.get("auth")
        if not isinstance(auth, dict) or len(auth) != 1 or not (
                isinstance(auth.get("bearer"), str) or isinstance(auth.get("eks_cluster"), str)):
            raise ValueError('state.auth must be {"bearer": TOKEN} or {"eks_cluster": NAME}')
        self.auth = dict(auth)
        self.refuse = bool(raw.get("refuse", False))
        self.forbidden = set(raw.get("forbidden") or [])
        limit = raw.get("page_limit_max")
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise ValueError("state.page_limit_max must be null or a positive integer")
        self.page_limit_max = limit
        self.user = str(raw.get("user") or "ecrgc")
        self.item_type_meta = bool(raw.get("list_item_type_meta", True))
        objects = raw.get("objects") or {}
        if not isinstance(objects, dict) or set(objects) - set(RESOURCES):
            raise ValueError(f"state.objects keys must be among {sorted(RESOURCES)}")
        self.objects: dict[str, list[dict]] = {}
        for resource in RESOURCES:
            items = []
            for obj in objects.get(resource) or []:
                items.append(self._normalize(resource, obj))
            items.sort(key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))
            self.objects[resource] = items
        self.list_rv = str(self._next_rv())

    @classmethod
    def _next_rv(cls) -> int:
        with cls._rv_lock:
            cls._rv += 1
            return cls._rv

    def _normalize(self, resource: str, obj: Any) -> dict:
        if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict) \
                or not obj["metadata"].get("name"):
            raise ValueError(f"{resource}: every object needs metadata.name")
        obj = copy.deepcopy(obj)
        meta = obj["metadata"]
        meta.setdefault("namespace", "default")
        obj.setdefault("apiVersion", api_version(resource))
        obj.setdefault("kind", RESOURCES[resource][1])
        meta.setdefault("uid", str(uuid.uuid5(uuid.NAMESPACE_URL, f"{resource}/{meta['namespace']}/{meta['name']}")))
        meta.setdefault("resourceVersion", str(self._next_rv()))
        return obj


class App:
    def __init__(self, state: Any, log: bool) -> None:
        self.lock = threading.Lock()
        self.generation = 1
        self.world = World(state, self.generation)
        self.requests: list[dict] = []
        self.log = log
        self.address = ""

    def replace(self, state: Any) -> int:
        with self.lock:
            world = World(state, self.generation + 1)
            self.generation += 1
            self.world = world
            return self.generation


def encode_continue(world: World, resource: str, namespace: str | None, offset: int) -> str:
    raw = json.dumps({"g": world.generation, "r": resource, "ns": namespace or "", "o": offset},
                     separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token: str) -> dict:
    data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    if not isinstance(data, dict) or not isinstance(data.get("o"), int) or data["o"] < 0:
        raise ValueError("not a continue token")
    return data


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-apiserver"
    server: "Server"

    # -- plumbing -------------------------------------------------------------------------

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):  # handshake here, in this connection's thread
            self.request.settimeout(10)
            self.request.do_handshake()
            self.request.settimeout(None)
        super().setup()

    def log_message(self, fmt: str, *args: Any) -> None:
        if self.server.app.log:
            sys.stderr.write("fake-apiserver: " + (fmt % args) + "\n")

    def do_GET(self) -> None:  # noqa: N802
        self.route("GET")

    def do_POST(self) -> None:  # noqa: N802
        self.route("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self.route("PUT")

    def do_PATCH(self) -> None:  # noqa: N802
        self.route("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self.route("DELETE")

    def send_json(self, code: int, doc: Any) -> None:
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    # -- routing --------------------------------------------------------------------------

    def route(self, method: str) -> None:
        app = self.server.app
        parts = urlsplit(self.path)
        path = parts.path
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        body = self.body()
        if path.startswith("/_fake/"):
            return self.admin(method, path, body)
        with app.lock:
            world = app.world
        authorized, reason, token_url = self.authenticate(world)
        entry: dict[str, Any] = {"method": method, "path": path, "query": query, "authorized": authorized}
        if token_url is not None:
            entry["token_url"] = token_url
        if not authorized:
            entry["reason"] = reason
        with app.lock:
            app.requests.append(entry)
        code, doc = self.answer(world, method, path, query) if authorized else \
            (401, status(401, "Unauthorized", "Unauthorized"))
        entry["status"] = code
        self.send_json(code, doc)

    def authenticate(self, world: World) -> tuple[bool, str, str | None]:
        """(authorized, why not, the presigned URL inside an EKS token)."""
        match = re.match(r"^Bearer\s+(\S+)\s*$", self.headers.get("Authorization") or "", re.I)
        if not match:
            return False, "no bearer token", None
        token = match.group(1)
        token_url = None
        try:
            token_url = decode_eks_token(token)
        except TokenError:
            pass
        if world.refuse:
            return False, "refused", token_url
        if "bearer" in world.auth:
            ok = token == world.auth["bearer"]
            return ok, "" if ok else "wrong bearer token", token_url
        try:
            check_eks_token(token)
        except TokenError as err:
            return False, f"bad EKS token: {err}", token_url
        return True, "", token_url

    def admin(self, method: str, path: str, body: bytes) -> None:
        app = self.server.app
        if path == "/_fake/requests" and method == "GET":
            with app.lock:
                return self.send_json(200, copy.deepcopy(app.requests))
        if path == "/_fake/requests/reset" and method == "POST":
            with app.lock:
                app.requests.clear()
            return self.send_json(200, {"status": "ok"})
        if path == "/_fake/state" and method == "POST":
            try:
                generation = app.replace(json.loads(body or b"null"))
            except ValueError as err:
                return self.send_json(400, {"error": f"bad state: {err}"})
            return self.send_json(200, {"status": "ok", "generation": generation})
        if path == "/_fake/state" and method == "GET":
            with app.lock:
                world = app.world
            return self.send_json(200, {"generation": world.generation, "state": world.raw,
                                        "objects": world.objects})
        return self.send_json(404, {"error": f"no route {method} {path}"})

    # -- the API --------------------------------------------------------------------------

    def answer(self, world: World, method: str, path: str, query: dict) -> tuple[int, dict]:
        if method != "GET":
            return 405, status(405, "MethodNotAllowed",
                               "the server does not allow this method on the requested resource", {})
        path = path.rstrip("/") or "/"
        if path == "/version":
            return 200, VERSION
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": self.server.app.address}]}
        if path == "/apis":
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g, "versions": [{"groupVersion": f"{g}/v1", "version": "v1"}],
                 "preferredVersion": {"groupVersion": f"{g}/v1", "version": "v1"}} for g in GROUPS]}
        if path == "/api/v1" or (path.startswith("/apis/") and path.count("/") == 3 and path.endswith("/v1")
                                 and path.split("/")[2] in GROUPS):
            group = "" if path == "/api/v1" else path.split("/")[2]
            return 200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{group}/v1" if group else "v1",
                         "resources": [{"name": r, "singularName": s, "namespaced": True, "kind": k,
                                        "verbs": ["get", "list"], **({"shortNames": n} if n else {})}
                                       for r, (g, k, s, n) in RESOURCES.items() if g == group]}
        match = PATH.match(path)
        if match is None or match["res"] not in RESOURCES or (match["group"] or "") != RESOURCES[match["res"]][0]:
            return 404, status(404, "NotFound", "the server could not find the requested resource", {})
        resource, namespace, name = match["res"], match["ns"], match["name"]
        namespace = unquote(namespace) if namespace else None
        if resource in world.forbidden:
            verb = "get" if name else "list"
            group = RESOURCES[resource][0]
            scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
            return 403, status(403, "Forbidden",
                               f'{resource} is forbidden: User "{world.user}" cannot {verb} resource "{resource}" '
                               f'in API group "{group}" {scope}', {"kind": resource})
        items = [o for o in world.objects[resource]
                 if namespace is None or o["metadata"]["namespace"] == namespace]
        if name is not None:
            if namespace is None:
                return 404, status(404, "NotFound", "the server could not find the requested resource", {})
            name = unquote(name)
            for obj in items:
                if obj["metadata"]["name"] == name:
                    return 200, obj
            return 404, status(404, "NotFound", f'{resource} "{name}" not found', {"name": name, "kind": resource})
        return self.list(world, resource, namespace, items, query)

    def list(self, world: World, resource: str, namespace: str | None, items: list[dict],
             query: dict) -> tuple[int, dict]:
        """One page of a list. `limit` (a positive integer; 0 or absent: everything) capped at
        `page_limit_max`; `continue` an opaque token of this server. A token of another state
        (the world changed, as if etcd compacted past it) is expired: 410 Expired. One that is
        not a token at all, or is for another list, is a 400 BadRequest, as the API server
        answers an undecodable continue key."""
        try:
            limit = int(query.get("limit") or 0)
        except ValueError:
            return 400, status(400, "BadRequest", f"invalid limit: {query.get('limit')!r}", {})
        if limit > 0 and world.page_limit_max:
            limit = min(limit, world.page_limit_max)
        offset = 0
        token = query.get("continue")
        if token:
            try:
                data = decode_continue(token)
            except (ValueError, TypeError):
                return 400, status(400, "BadRequest", f"invalid continue token: {token!r}", {})
            if data.get("r") != resource or data.get("ns") != (namespace or ""):
                return 400, status(400, "BadRequest", "invalid continue token: not a token of this list", {})
            if data.get("g") != world.generation:
                return 410, status(410, "Expired", EXPIRED)
            offset = data["o"]
        page = items[offset:offset + limit] if limit > 0 else items[offset:]
        meta: dict[str, Any] = {"resourceVersion": world.list_rv}
        rest = len(items) - offset - len(page)
        if rest > 0:
            meta["continue"] = encode_continue(world, resource, namespace, offset + len(page))
            meta["remainingItemCount"] = rest
        if not world.item_type_meta:
            page = [{k: v for k, v in o.items() if k not in ("apiVersion", "kind")} for o in page]
        kind = RESOURCES[resource][1]
        return 200, {"kind": f"{kind}List", "apiVersion": api_version(resource), "metadata": meta, "items": page}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    app: App
    ssl_context: ssl.SSLContext | None = None

    def get_request(self) -> tuple[Any, Any]:
        sock, addr = super().get_request()
        if self.ssl_context is not None:
            # The handshake happens in the connection's own thread (Handler.setup), so a
            # client that connects and says nothing cannot hold up the others.
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        if self.app.log:
            super().handle_error(request, client_address)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--state", required=True, help="the state JSON file (README.md)")
    parser.add_argument("--tls-dir", help="serve HTTPS with a fresh CA; write DIR/ca.pem")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--no-stdin", action="store_true", help="do not exit at EOF on standard input")
    parser.add_argument("--log", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)

    try:
        with open(args.state) as fh:
            app = App(json.load(fh), args.log)
    except (OSError, ValueError) as err:
        print(f"fake-apiserver: cannot load {args.state}: {err}", file=sys.stderr)
        return 2
    server = Server((args.host, args.port), Handler)
    server.app = app
    scheme = "http"
    if args.tls_dir:
        _, cert, key = make_tls(args.tls_dir)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert, key)
        context.set_alpn_protocols(["http/1.1"])
        server.ssl_context = context
        scheme = "https"
    app.address = f"{args.host}:{server.server_port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"READY {scheme}://{args.host}:{server.server_port}", flush=True)

    if not args.no_stdin:
        def watch_stdin() -> None:
            try:
                while os.read(0, 65536):
                    pass
            except OSError:
                pass
            stop.set()
        threading.Thread(target=watch_stdin, daemon=True).start()

    while not stop.wait(0.1):
        pass
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
