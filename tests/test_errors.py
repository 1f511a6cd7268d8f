"""Error answers: `parse_error_body` for every documented shape, and `classify` onto the fixed reason list.

Bodies are the documented ones of reference/huaweicloud-task-apis.md (A.1 CodeArts, A.3 EVS, A.4 CPH,
C.4 API Gateway and the SDK's error parsing), plus what proxies and broken gateways send.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from exporter.cloud.errors import ApiError, Reason, classify, parse_error_body
from exporter.services import BUILTIN


def dumps(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


CODEARTS_401 = dumps({"error_code": "CC.00000003", "error_msg": "认证信息过期"})
CODEARTS_400 = dumps({"error_code": "CC.00000000", "error_msg": "网络繁忙,请稍后再试"})
EVS_ERROR = dumps({"error": {"message": "XXXX", "code": "XXX"}})
EVS_404 = dumps({"error": {"message": "Job 4010a32d535527910153552b492c0002 does not exist.", "code": "EVS.0004"}})
IAM_401 = dumps(
    {
        "error": {
            "code": 401,
            "message": "The request you have made requires authentication.",
            "title": "Unauthorized",
        }
    }
)
APIGW_THROTTLED = dumps(
    {
        "error_msg": "The throttling threshold has been reached: policy user over ratelimit,limit:XX,time:1 minute",
        "error_code": "APIGW.0308",
        "request_id": "a4b5c6d7e8f90123456789abcdef0123",
    }
)
APIG_THROTTLED = dumps({"error_msg": "The throttling threshold has been reached", "error_code": "APIG.0308"})
APIGW_AUTH = dumps(
    {
        "error_msg": "Incorrect IAM authentication information: verify aksk signature fail",
        "error_code": "APIGW.0301",
        "request_id": "req-0301",
    }
)
APIG_AUTH = dumps({"error_msg": "Incorrect IAM authentication information", "error_code": "APIG.0301"})
APIGW_SKEW = dumps(
    {
        "error_msg": "Incorrect app authentication information: the signature expired",
        "error_code": "APIGW.0303",
        "request_id": "req-0303",
    }
)
CPH_NO_PERMISSION = dumps(
    {
        "request_id": "aad0860d0a0e4b2b9c3ad0a4a2c5e8f1",
        "error_code": "CPS.0001",
        "error_msg": "No permission to request resources.",
    }
)
CPH_JOB_NOT_FOUND = dumps({"request_id": "r-5", "error_code": "CPS.0005", "error_msg": "The job does not exist."})
CPH_BAD_OFFSET = dumps({"request_id": "r-2", "error_code": "CPS.0002", "error_msg": "Invalid offset"})
DWS_400 = dumps({"error_code": "DWS.0001", "error_msg": "Invalid request parameter."})
OLD_CAMEL = dumps({"errorCode": "ECS.0001", "errorMsg": "old style"})
PLAIN_CODE_MESSAGE = dumps({"code": "RDS.0002", "message": "plain code and message"})
HTML_502 = b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"  # noqa: E501


# --------------------------------------------------------------------------------------------------------------
# parse_error_body: every shape -> (code, message, request_id)
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(CODEARTS_401, ("CC.00000003", "认证信息过期", ""), id="codearts-error_code-error_msg"),
        pytest.param(EVS_ERROR, ("XXX", "XXXX", ""), id="evs-nested-error-object"),
        pytest.param(
            IAM_401,
            ("401", "The request you have made requires authentication.", ""),
            id="iam-integer-code",
        ),
        pytest.param(
            APIGW_THROTTLED,
            (
                "APIGW.0308",
                "The throttling threshold has been reached: policy user over ratelimit,limit:XX,time:1 minute",
                "a4b5c6d7e8f90123456789abcdef0123",
            ),
            id="apigw-with-request_id",
        ),
        pytest.param(
            CPH_NO_PERMISSION,
            ("CPS.0001", "No permission to request resources.", "aad0860d0a0e4b2b9c3ad0a4a2c5e8f1"),
            id="cph-with-request_id",
        ),
        pytest.param(OLD_CAMEL, ("ECS.0001", "old style", ""), id="errorCode-errorMsg"),
        pytest.param(PLAIN_CODE_MESSAGE, ("RDS.0002", "plain code and message", ""), id="code-message"),
        pytest.param(dumps({"error_code": "X.1"}), ("X.1", "", ""), id="code-only"),
        pytest.param(dumps({"error_msg": "only a message"}), ("", "only a message", ""), id="message-only"),
        pytest.param(
            dumps({"error_code": None, "error_msg": None, "message": "fallback"}),
            ("", "fallback", ""),
            id="null-pair-falls-through-to-next-shape",
        ),
        pytest.param(
            dumps({"outer": {"inner": {"code": "DEEP.1", "message": "deep"}}}),
            ("DEEP.1", "deep", ""),
            id="nested-two-levels",
        ),
        pytest.param(dumps({"error_code": 12345, "error_msg": "int code"}), ("12345", "int code", ""), id="int-code"),
        pytest.param(dumps({"status": "bad"}), ("", "", ""), id="json-object-without-error-fields"),
        pytest.param(dumps({"request_id": 42, "error_code": "X"}), ("X", "", ""), id="non-string-request_id"),
        pytest.param(b"", ("", "", ""), id="empty-body"),
        pytest.param(b"  \r\n ", ("", "", ""), id="blank-body"),
        pytest.param(b"null", ("", "", ""), id="json-null"),
        pytest.param(b"[]", ("", "", ""), id="json-list"),
        pytest.param(b"42", ("", "", ""), id="json-number"),
        pytest.param(
            b"Service Unavailable",
            ("", "Service Unavailable", ""),
            id="plain-text-becomes-message",
        ),
        pytest.param(
            HTML_502,
            (
                "",
                "<html> <head><title>502 Bad Gateway</title></head> <body> <center><h1>502 Bad Gateway</h1>"
                "</center> </body> </html>",
                "",
            ),
            id="html-becomes-cleaned-message",
        ),
        pytest.param(
            b'\xef\xbb\xbf{"error_code": "BOM.1", "error_msg": "with bom"}',
            ("BOM.1", "with bom", ""),
            id="utf8-bom",
        ),
    ],
)
def test_parse_error_body(content: bytes, expected: tuple[str, str, str]) -> None:
    assert parse_error_body(content) == expected


def test_parse_error_body_invalid_utf8_does_not_raise() -> None:
    code, message, request_id = parse_error_body(b"\xff\xfe\xfdbroken \x00gateway")
    assert code == request_id == ""
    assert message.endswith("broken gateway")
    assert "\x00" not in message


def test_parse_error_body_cuts_a_huge_html_page() -> None:
    content = b"<html><body>" + b"<p>\nfiller text</p>" * 5000 + b"</body></html>"
    code, message, _ = parse_error_body(content)
    assert code == ""
    assert message.startswith("<html><body><p> filler text</p>")
    assert len(message) == 256
    assert "\n" not in message


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        pytest.param(
            {"error_code": "X.1", "error_msg": "line one\nline two\r\n\tend"},
            "X.1",
            "line one line two end",
            id="newlines-and-tabs",
        ),
        pytest.param(
            {"error_code": " X.2\n", "error_msg": "nul\x00 and bell\x07 and esc\x1b[0m"},
            "X.2",
            "nul and bell and esc [0m",
            id="control-characters",
        ),
        pytest.param(
            {"error": {"code": "E.3", "message": "m" * 300}},
            "E.3",
            "m" * 256,
            id="cut-to-256",
        ),
        pytest.param(
            {"error_code": "C" * 300, "error_msg": "x"},
            "C" * 256,
            "x",
            id="code-cut-to-256",
        ),
    ],
)
def test_parse_error_body_cleans(body: dict[str, Any], code: str, message: str) -> None:
    parsed_code, parsed_message, _ = parse_error_body(dumps(body))
    assert parsed_code == code
    assert parsed_message == message


# --------------------------------------------------------------------------------------------------------------
# classify: status + body -> reason
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "content", "reason", "code"),
    [
        # CodeArts
        pytest.param(401, CODEARTS_401, Reason.AUTH, "CC.00000003", id="codearts-401-CC.00000003-auth"),
        pytest.param(400, CODEARTS_400, Reason.CLIENT_ERROR, "CC.00000000", id="codearts-400-client_error"),
        # EVS
        pytest.param(404, EVS_404, Reason.NOT_FOUND, "EVS.0004", id="evs-404-not_found"),
        pytest.param(404, EVS_ERROR, Reason.NOT_FOUND, "XXX", id="evs-doc-example-404-not_found"),
        pytest.param(400, EVS_ERROR, Reason.CLIENT_ERROR, "XXX", id="evs-doc-example-400-client_error"),
        pytest.param(500, EVS_ERROR, Reason.SERVER_ERROR, "XXX", id="evs-doc-example-500-server_error"),
        # IAM
        pytest.param(401, IAM_401, Reason.AUTH, "401", id="iam-401-int-code-auth"),
        # API Gateway
        pytest.param(429, APIGW_THROTTLED, Reason.THROTTLED, "APIGW.0308", id="APIGW.0308-429-throttled"),
        pytest.param(429, APIG_THROTTLED, Reason.THROTTLED, "APIG.0308", id="APIG.0308-429-throttled"),
        pytest.param(400, APIG_THROTTLED, Reason.THROTTLED, "APIG.0308", id="APIG.0308-400-still-throttled"),
        pytest.param(403, APIGW_THROTTLED, Reason.THROTTLED, "APIGW.0308", id="APIGW.0308-403-throttled-wins"),
        pytest.param(401, APIGW_AUTH, Reason.AUTH, "APIGW.0301", id="APIGW.0301-401-auth"),
        pytest.param(400, APIGW_AUTH, Reason.AUTH, "APIGW.0301", id="APIGW.0301-400-auth-by-code"),
        pytest.param(401, APIG_AUTH, Reason.AUTH, "APIG.0301", id="APIG.0301-401-auth"),
        pytest.param(400, APIG_AUTH, Reason.AUTH, "APIG.0301", id="APIG.0301-400-auth-by-code"),
        pytest.param(401, APIGW_SKEW, Reason.AUTH, "APIGW.0303", id="APIGW.0303-401-auth"),
        pytest.param(429, b"", Reason.THROTTLED, "", id="429-empty-body-throttled"),
        pytest.param(429, HTML_502, Reason.THROTTLED, "", id="429-html-throttled"),
        # CPH: 400 for most things
        pytest.param(403, CPH_NO_PERMISSION, Reason.AUTH, "CPS.0001", id="cph-403-CPS.0001-auth"),
        pytest.param(400, CPH_BAD_OFFSET, Reason.CLIENT_ERROR, "CPS.0002", id="cph-400-CPS.0002-client_error"),
        pytest.param(400, CPH_JOB_NOT_FOUND, Reason.CLIENT_ERROR, "CPS.0005", id="cph-400-not-found-without-verdict"),
        # Plain status codes
        pytest.param(401, b"", Reason.AUTH, "", id="401-empty-auth"),
        pytest.param(403, b"", Reason.AUTH, "", id="403-empty-auth"),
        pytest.param(403, HTML_502, Reason.AUTH, "", id="403-html-auth"),
        pytest.param(404, b"", Reason.NOT_FOUND, "", id="404-empty-not_found"),
        pytest.param(400, DWS_400, Reason.CLIENT_ERROR, "DWS.0001", id="dws-400-client_error"),
        pytest.param(400, b"", Reason.CLIENT_ERROR, "", id="400-empty-client_error"),
        pytest.param(405, b"", Reason.CLIENT_ERROR, "", id="405-client_error"),
        pytest.param(409, OLD_CAMEL, Reason.CLIENT_ERROR, "ECS.0001", id="409-client_error"),
        pytest.param(500, b"", Reason.SERVER_ERROR, "", id="500-server_error"),
        pytest.param(500, DWS_400, Reason.SERVER_ERROR, "DWS.0001", id="500-with-body-server_error"),
        pytest.param(502, HTML_502, Reason.SERVER_ERROR, "", id="502-html-server_error"),
        pytest.param(503, b"Service Unavailable", Reason.SERVER_ERROR, "", id="503-text-server_error"),
        pytest.param(504, b"", Reason.SERVER_ERROR, "", id="504-server_error"),
    ],
)
def test_classify(status: int, content: bytes, reason: Reason, code: str) -> None:
    error = classify(status, content)
    assert isinstance(error, ApiError)
    assert error.reason is reason
    assert error.status == status
    assert error.code == code
    assert error.sent is True


@pytest.mark.parametrize(
    ("content", "skew"),
    [
        pytest.param(APIGW_SKEW, True, id="APIGW.0303-skew"),
        pytest.param(dumps({"error_code": "APIG.0303", "error_msg": "expired"}), True, id="APIG.0303-skew"),
        pytest.param(APIGW_AUTH, False, id="APIGW.0301-not-skew"),
        pytest.param(APIG_AUTH, False, id="APIG.0301-not-skew"),
        pytest.param(CODEARTS_401, False, id="codearts-401-not-skew"),
        pytest.param(b"", False, id="empty-not-skew"),
    ],
)
def test_clock_skew(content: bytes, skew: bool) -> None:
    error = classify(401, content)
    assert error.reason is Reason.AUTH
    assert error.clock_skew is skew


def test_classify_keeps_the_message() -> None:
    assert classify(401, CODEARTS_401).message == "认证信息过期"
    assert classify(404, EVS_ERROR).message == "XXXX"
    assert classify(502, HTML_502).message.startswith("<html> <head><title>502 Bad Gateway</title>")
    assert classify(500, b"").message == ""


def test_classify_cleans_the_message() -> None:
    error = classify(400, dumps({"error_code": "X", "error_msg": "bad\n\x00thing " + "y" * 400}))
    assert error.message.startswith("bad thing yyy")
    assert len(error.message) == 256
    assert not any(ord(c) < 0x20 for c in error.message)


@pytest.mark.parametrize(
    ("content", "argument", "expected"),
    [
        pytest.param(APIGW_THROTTLED, "", "a4b5c6d7e8f90123456789abcdef0123", id="from-body"),
        pytest.param(CPH_NO_PERMISSION, "", "aad0860d0a0e4b2b9c3ad0a4a2c5e8f1", id="from-cph-body"),
        pytest.param(CODEARTS_401, "hdr-123", "hdr-123", id="from-argument-when-body-has-none"),
        pytest.param(b"", "hdr-456", "hdr-456", id="from-argument-empty-body"),
        pytest.param(HTML_502, "hdr-789", "hdr-789", id="from-argument-html-body"),
        pytest.param(dumps({"request_id": "", "error_code": "X"}), "hdr-0", "hdr-0", id="empty-body-request_id"),
        pytest.param(dumps({"request_id": None, "error_code": "X"}), "hdr-1", "hdr-1", id="null-body-request_id"),
        pytest.param(b"", "", "", id="neither"),
    ],
)
def test_request_id(content: bytes, argument: str, expected: str) -> None:
    assert classify(400, content, request_id=argument).request_id == expected


# --------------------------------------------------------------------------------------------------------------
# not_found: the service's own verdict (CPH says 400)
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "status", "code", "message", "expected"),
    [
        pytest.param("cph", 400, "CPS.0005", "The job does not exist.", True, id="cph-400-job-does-not-exist"),
        pytest.param("cph", 400, "CPS.0005", "Job not found", True, id="cph-400-not-found"),
        pytest.param("cph", 400, "CPS.0005", "The job doesn't exist", True, id="cph-400-doesnt-exist"),
        pytest.param("cph", 400, "CPS.0005", "任务不存在", True, id="cph-400-chinese"),
        pytest.param("cph", 400, "CPS.0005", "JOB NOT EXIST", True, id="cph-400-upper-case"),
        pytest.param("cph", 400, "CPS.0002", "Invalid offset", False, id="cph-400-invalid-offset"),
        pytest.param("cph", 400, "CPS.0001", "No permission to request resources.", False, id="cph-400-no-permission"),
        pytest.param("cph", 400, "", "", False, id="cph-400-empty"),
        pytest.param("cph", 404, "", "", True, id="cph-404"),
        pytest.param("cph", 401, "CPS.0005", "The job does not exist.", False, id="cph-401-never"),
        pytest.param("cph", 500, "CPS.0005", "The job does not exist.", False, id="cph-500-never"),
        pytest.param("evs", 404, "EVS.0004", "", True, id="evs-404"),
        pytest.param("evs", 400, "EVS.0004", "The job does not exist.", False, id="evs-400-message-is-not-enough"),
        pytest.param("dws", 404, "", "", True, id="dws-404"),
        pytest.param("dws", 400, "DWS.0001", "does not exist", False, id="dws-400"),
        pytest.param("codearts_check", 404, "", "", True, id="codearts-404"),
        pytest.param("codearts_check", 400, "CC.1", "task not found", False, id="codearts-400"),
    ],
)
def test_is_not_found(service: str, status: int, code: str, message: str, expected: bool) -> None:
    assert BUILTIN[service].status.not_found.matches(status, code, message) is expected


def client_flow(service: str, status: int, content: bytes) -> ApiError:
    """What the client does: classify, then ask the service whether a client error means 'gone'."""
    code, message, _ = parse_error_body(content)
    return classify(status, content, not_found=BUILTIN[service].status.not_found.matches(status, code, message))


@pytest.mark.parametrize(
    ("service", "status", "content", "reason"),
    [
        pytest.param("cph", 400, CPH_JOB_NOT_FOUND, Reason.NOT_FOUND, id="cph-400-CPS.0005-not_found"),
        pytest.param("cph", 400, CPH_BAD_OFFSET, Reason.CLIENT_ERROR, id="cph-400-CPS.0002-client_error"),
        pytest.param("cph", 403, CPH_NO_PERMISSION, Reason.AUTH, id="cph-403-auth"),
        pytest.param("evs", 404, EVS_404, Reason.NOT_FOUND, id="evs-404-not_found"),
        pytest.param("dws", 400, DWS_400, Reason.CLIENT_ERROR, id="dws-400-client_error"),
    ],
)
def test_service_verdict_flow(service: str, status: int, content: bytes, reason: Reason) -> None:
    assert client_flow(service, status, content).reason is reason


@pytest.mark.parametrize(
    ("status", "content", "reason"),
    [
        pytest.param(400, CPH_JOB_NOT_FOUND, Reason.NOT_FOUND, id="400-verdict-not_found"),
        pytest.param(401, CPH_JOB_NOT_FOUND, Reason.AUTH, id="auth-beats-verdict"),
        pytest.param(429, CPH_JOB_NOT_FOUND, Reason.THROTTLED, id="throttled-beats-verdict"),
        pytest.param(400, APIGW_THROTTLED, Reason.THROTTLED, id="throttle-code-beats-verdict"),
        pytest.param(400, APIGW_AUTH, Reason.AUTH, id="auth-code-beats-verdict"),
    ],
)
def test_classify_with_not_found_verdict(status: int, content: bytes, reason: Reason) -> None:
    assert classify(status, content, not_found=True).reason is reason


def test_gateway_api_not_found_is_not_task_not_found() -> None:
    content = dumps(
        {
            "error_code": "APIGW.0101",
            "error_msg": "The API does not exist or has not been published in the environment",
            "request_id": "r-0101",
        }
    )
    assert classify(404, content).reason is not Reason.NOT_FOUND


# --------------------------------------------------------------------------------------------------------------
# Reason list and ApiError
# --------------------------------------------------------------------------------------------------------------


def test_reason_list_is_the_design_list() -> None:
    assert {r.value for r in Reason} == {
        "timeout",
        "connect",
        "throttled",
        "auth",
        "not_found",
        "client_error",
        "server_error",
        "bad_response",
    }


@pytest.mark.parametrize(
    ("error", "text"),
    [
        pytest.param(
            ApiError(Reason.AUTH, 401, "CC.00000003", "expired"), "auth: HTTP 401: CC.00000003: expired", id="full"
        ),
        pytest.param(ApiError(Reason.TIMEOUT), "timeout", id="no-answer"),
        pytest.param(ApiError(Reason.SERVER_ERROR, 502), "server_error: HTTP 502", id="status-only"),
        pytest.param(ApiError(Reason.CONNECT, message="refused"), "connect: refused", id="message-only"),
    ],
)
def test_describe(error: ApiError, text: str) -> None:
    assert error.describe() == text
