"""The check harness that selftest.py and selftest_workloads.py share: the check registry,
the server's URL and clients, and small helpers. (selftest.py runs as `__main__`, so the
modules it loads import this, not it.)"""

from __future__ import annotations

import json
import sys
import traceback
import urllib.request
from typing import Any, Callable

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from scenario import CENTRAL, EU, account_credentials

RESULTS: list[tuple[str, bool, str]] = []


def check(name: str) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
    def wrap(fn: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> None:
            try:
                detail = fn()
                RESULTS.append((name, True, detail or ""))
                print(f"ok   - {name}" + (f" ({detail})" if detail else ""), flush=True)
            except Exception as exc:  # noqa: BLE001 - every failure is reported
                RESULTS.append((name, False, repr(exc)))
                print(f"FAIL - {name}: {exc!r}", flush=True)
                traceback.print_exc(file=sys.stdout)
        run.__name__ = fn.__name__
        CHECKS.append(run)
        return run
    return wrap


CHECKS: list[Callable[[], None]] = []


class Env:
    url = ""
    truth: dict = {}
    creds: dict[str, dict] = {}
    cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"})

    @classmethod
    def credentials(cls, account: str) -> dict:
        return account_credentials(cls.url, account, cls.cfg, cls.creds, "ecrgc-selftest")

    @classmethod
    def client(cls, service: str, account: str = CENTRAL, region: str = EU) -> Any:
        return boto3.client(service, endpoint_url=cls.url, region_name=region, config=cls.cfg,
                            **cls.credentials(account))


def http(method: str, path: str, payload: Any = None) -> Any:
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(Env.url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read() or b"null")


def seed(doc: dict) -> Any:
    return http("POST", "/_ecrgc/seed", doc)


def expect(cond: bool, message: str) -> None:
    if not cond:
        raise AssertionError(message)


def all_pages(call: Callable[..., dict], result: str, token_in: str, token_out: str, **kwargs: Any) -> tuple[list, int]:
    """Follow the tokens by hand; return every item and the number of pages."""
    items, pages, token = [], 0, None
    while True:
        args = dict(kwargs)
        if token:
            args[token_in] = token
        page = call(**args)
        pages += 1
        items.extend(page.get(result) or [])
        token = page.get(token_out)
        if not token:
            return items, pages
        expect(pages < 100, "pagination does not end")


def error_of(fn: Callable[[], Any]) -> ClientError:
    try:
        fn()
    except ClientError as err:
        return err
    raise AssertionError("the call succeeded; an error was expected")


def raw_answer(client: Any, call: Callable[[], Any]) -> tuple[dict, bytes, Any]:
    """Run `call` on `client`; return the HTTP headers and body the server sent (before
    botocore parsed them) and the parsed result (or the ClientError)."""
    seen: dict[str, Any] = {}

    def grab(response_dict: dict, **_: Any) -> None:
        seen["headers"] = dict(response_dict.get("headers") or {})
        seen["body"] = response_dict.get("body") or b""

    client.meta.events.register("before-parse", grab)
    try:
        try:
            result: Any = call()
        except ClientError as err:
            result = err
    finally:
        client.meta.events.unregister("before-parse", grab)
    return seen.get("headers", {}), seen.get("body", b""), result


_MODELS: dict[str, Any] = {}


def _model(service: str) -> Any:
    if service not in _MODELS:
        _MODELS[service] = boto3.session.Session().client(
            service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x").meta.service_model
    return _MODELS[service]


def _conform(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            problems.append(f"{path}: {type(value).__name__}, not an object")
            return
        for key, item in value.items():
            if key == "__type" and path == "$":
                continue
            if key not in shape.members:
                problems.append(f"{path}.{key}: not a member of {shape.name}")
            else:
                _conform(shape.members[key], item, f"{path}.{key}", problems)
        for key in shape.required_members:
            if key not in value:
                problems.append(f"{path}.{key}: required member of {shape.name} missing")
    elif kind == "list":
        if not isinstance(value, list):
            problems.append(f"{path}: {type(value).__name__}, not a list")
            return
        for i, item in enumerate(value):
            _conform(shape.member, item, f"{path}[{i}]", problems)
    elif kind == "map":
        if not isinstance(value, dict):
            problems.append(f"{path}: {type(value).__name__}, not an object")
            return
        for key, item in value.items():
            _conform(shape.value, item, f"{path}.{key}", problems)
    elif kind == "string":
        if not isinstance(value, str):
            problems.append(f"{path}: {value!r} is not a string")
        elif shape.enum and value not in shape.enum:
            problems.append(f"{path}: {value!r} not one of {shape.enum}")
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{path}: {value!r} is not an integer")
    elif kind in ("float", "double"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            problems.append(f"{path}: {value!r} is not a number")
    elif kind == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{path}: {value!r} is not a boolean")
    elif kind == "timestamp":
        # awsJson and restJson send epoch seconds (the models set no other format here).
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            problems.append(f"{path}: {value!r} is not epoch seconds")


def conforms(service: str, shape_name: str, body: bytes | dict, operation: bool = True) -> None:
    """The raw JSON answer has only members of the operation's output shape (or of the named
    shape, with operation=False), every required member, and values of the members' types,
    as botocore's model says; raise AssertionError listing every difference."""
    model = _model(service)
    shape = model.operation_model(shape_name).output_shape if operation else model.shape_for(shape_name)
    value = json.loads(body) if isinstance(body, (bytes, str)) else body
    problems: list[str] = []
    _conform(shape, value, "$", problems)
    expect(not problems, f"{service} {shape_name}: " + "; ".join(problems[:12]))
