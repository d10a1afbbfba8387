"""What ecrgc_moto.py and its service modules share: times, errors, pagers, responses.

Kept apart so that the service modules (ecrgc_moto_eks_apprunner.py,
ecrgc_moto_workloads.py) can import it without importing ecrgc_moto.py, which runs as
`__main__` and would otherwise be imported a second time as another module.
"""

from __future__ import annotations

import base64
import calendar
import datetime as _dt
import json
import uuid
from typing import Any, Iterable


def to_epoch(value: Any) -> float | int | None:
    """ISO-8601 string (or epoch number, or datetime) -> epoch seconds, as awsJson/restJson
    send them."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, _dt.datetime):
        moment = value
    else:
        text = str(value).strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        moment = _dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    seconds = calendar.timegm(moment.utctimetuple()) + moment.microsecond / 1e6
    return int(seconds) if seconds == int(seconds) else round(seconds, 3)


def now_epoch() -> float:
    return round(_dt.datetime.now(_dt.timezone.utc).timestamp(), 3)


class ApiError(Exception):
    """An AWS error, rendered in the protocol of the service that raised it."""

    def __init__(self, code: str, message: str, status: int = 400, extra: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.extra = extra or {}


# Where each service's paginated requests carry their token and page size, and what the real
# API returns per page when the caller gives no size.
class Pager:
    def __init__(self, result: str, token_in: str, max_in: str, token_out: str,
                 default_max: int, bad_token: str, query: bool = False,
                 max_limit: int | None = None):
        self.result = result
        self.token_in = token_in
        self.max_in = max_in
        self.token_out = token_out
        self.default_max = default_max
        self.bad_token = bad_token
        self.query = query
        # The largest page size the model (or the API reference) allows: a larger one is
        # answered with `bad_token`'s error, as the service validates its input.
        self.max_limit = max_limit


def encode_token(operation: str, offset: int) -> str:
    raw = json.dumps({"op": operation, "offset": offset}, separators=(",", ":")).encode()
    return "ecrgc-" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(operation: str, token: str | None, pager: Pager) -> int:
    if not token:
        return 0
    try:
        if not token.startswith("ecrgc-"):
            raise ValueError(token)
        body = token[len("ecrgc-"):]
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        if data["op"] != operation:
            raise ValueError(token)
        return int(data["offset"])
    except Exception:
        raise ApiError(pager.bad_token, f"Invalid pagination token: {token}", 400,
                       {"reason": "CANNOT_PARSE"} if pager.bad_token == "ValidationException" else None)


Response = tuple[int, list[tuple[str, str]], bytes]


def _status_line(status: int) -> str:
    from http import HTTPStatus
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Error"


def _json_response(status: int, payload: Any, content_type: str = "application/json",
                   headers: Iterable[tuple[str, str]] = ()) -> Response:
    body = json.dumps(payload).encode()
    hdrs = [("Content-Type", content_type), ("x-amzn-RequestId", str(uuid.uuid4()))]
    hdrs.extend(headers)
    return status, hdrs, body


def _replace_body(response: Response, payload: Any, content_type: str | None = None) -> Response:
    status, headers, _ = response
    body = json.dumps(payload).encode()
    headers = [(k, v) for k, v in headers if k.lower() != "content-length"
               and (content_type is None or k.lower() != "content-type")]
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    return status, headers, body


def drop_none(doc: dict) -> dict:
    """AWS leaves unset members out; moto writes some as null."""
    return {k: v for k, v in doc.items() if v is not None}
