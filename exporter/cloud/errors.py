"""One parser for every documented error answer, mapping it to the fixed reason list of docs/metrics.md.

The cloud answers errors in several shapes:

    {"error_code": "CC.00000003", "error_msg": "..."}                 CodeArts, DWS, CPH, API Gateway
    {"error": {"code": "EVS.XXXX", "message": "..."}}                 EVS (and IAM, with an integer code)
    {"errorCode": "...", "errorMsg": "..."}, {"code": ..., "message"}  older services
    {"errCode": "DBS.280001", "externalMessage": "..."}               DDM's task list
    anything else (HTML from a proxy, an empty body)

and API Gateway adds its own codes in front of every service: APIGW.0308/APIG.0308 throttling (429),
APIGW.0301/APIG.0301 IAM authentication failure, APIGW.0303 signature time skew.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exporter.model import Reason
from exporter.services import clean_message

__all__ = ["NO_SUCH_API_CODES", "ApiError", "ApiFailure", "Reason", "classify", "parse_error_body"]


THROTTLE_CODES = frozenset({"APIGW.0308", "APIG.0308"})
AUTH_CODES = frozenset({"APIGW.0301", "APIG.0301", "APIGW.0303", "APIG.0303", "APIGW.0302", "APIG.0302"})
CLOCK_SKEW_CODES = frozenset({"APIGW.0303", "APIG.0303"})
# The gateway's "API does not exist": a wrong endpoint or path, not a missing task. Counting it as
# not_found would keep a misconfigured target "up".
NO_SUCH_API_CODES = frozenset({"APIGW.0101", "APIG.0101"})


@dataclass(frozen=True)
class ApiError:
    """A failed query: why (reason), and what the cloud said (code, message; may be empty)."""

    reason: Reason
    status: int = 0  # HTTP status, 0 when no answer arrived
    code: str = ""
    message: str = ""
    request_id: str = ""
    sent: bool = True  # False when the exporter held the request back (429 back-off, auth cool-down)
    server_date: str = ""  # the answer's Date header, kept for clock-skew errors
    login_refused: bool = False  # IAM refused a password login
    kind: str = ""  # a bad response's kind of problem, in a few words (logged once per kind and target)

    @property
    def clock_skew(self) -> bool:
        return self.code in CLOCK_SKEW_CODES

    @property
    def credentials_refused(self) -> bool:
        """The cloud refused the credentials themselves (401, an API Gateway auth code, a refused IAM
        login), as opposed to a 403 (or a service's own code in a 200) for a permission the user lacks."""
        return self.reason is Reason.AUTH and self.sent and (self.status == 401 or self.code in AUTH_CODES)

    def describe(self) -> str:
        parts = [self.reason.value]
        if self.status:
            parts.append(f"HTTP {self.status}")
        if self.code:
            parts.append(self.code)
        if self.message:
            parts.append(self.message)
        return ": ".join(parts)


def _find_code_message(body: Any, depth: int = 0) -> tuple[str, str] | None:
    if not isinstance(body, Mapping) or depth > 3:
        return None
    pairs = (
        ("error_code", "error_msg"),
        ("errorCode", "errorMsg"),
        ("errCode", "errMsg"),  # SFS Turbo
        ("errCode", "externalMessage"),  # DDM's task list
        ("errorCode", "errorMessage"),  # CCE
        ("code", "message"),
    )
    # The pair with both keys first (CCE's errorCode goes with errorMessage, not errorMsg).
    for code_key, message_key in sorted(pairs, key=lambda pair: -sum(key in body for key in pair)):
        if code_key in body or message_key in body:
            code, message = body.get(code_key), body.get(message_key)
            if isinstance(code, str | int) or isinstance(message, str):
                return (str(code) if code is not None else "", message if isinstance(message, str) else "")
    for value in body.values():
        found = _find_code_message(value, depth + 1)
        if found is not None:
            return found
    return None


def parse_error_body(content: bytes) -> tuple[str, str, str]:
    """(code, message, request_id) from any documented error body; a non-JSON body becomes the message."""
    try:
        body = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return "", clean_message(content[:512].decode("utf-8", "replace")), ""
    found = _find_code_message(body)
    request_id = body.get("request_id") if isinstance(body, dict) else None
    code, message = found if found is not None else ("", "")
    return clean_message(code), clean_message(message), request_id if isinstance(request_id, str) else ""


def classify(status: int, content: bytes, *, not_found: bool = False, request_id: str = "") -> ApiError:
    """An HTTP error answer -> ApiError. `not_found` is the service's own verdict (CPH says 400)."""
    code, message, body_request_id = parse_error_body(content)
    if status == 429 or code in THROTTLE_CODES:
        reason = Reason.THROTTLED
    elif status in (401, 403) or code in AUTH_CODES:
        reason = Reason.AUTH
    elif code in NO_SUCH_API_CODES:
        reason = Reason.CLIENT_ERROR
    elif not_found or status == 404:
        reason = Reason.NOT_FOUND
    elif status >= 500:
        reason = Reason.SERVER_ERROR
    else:
        reason = Reason.CLIENT_ERROR
    return ApiError(reason, status, code, message, body_request_id or request_id)


class ApiFailure(Exception):
    """Raised inside an auth flow (e.g. IAM refused the password) to end a query with `error`."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.describe())
        self.error = error
