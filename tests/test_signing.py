"""Tests for exporter.signing: the documented vector, the official SDK as an oracle, and verify().

The SDK (`huaweicloudsdkcore`, a test-only dependency) is the reference: hundreds of generated requests
are signed by both, first at the function level (`sign` against `BasicCredentials.sign_request`, which
adds X-Project-Id and X-Security-Token and then runs `Signer.sign`), then end to end: a request sent
through httpx with `AkSkAuth` is captured by `httpx.MockTransport`, rebuilt as an `SdkRequest` from the
bytes on the wire and signed again by the SDK, which must produce the same Authorization header and the
same request target.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlencode

import httpx
import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials, GlobalCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest

from exporter.cloud.signing import (
    AkSkAuth,
    VerifyResult,
    VerifyStatus,
    canonical_query,
    canonical_request,
    format_sdk_date,
    sign,
    verify,
)

# V0: the example of the official API signing guide (reference notes C.3).
V0_AK = "QTWAOYTTINDUT2QVKYUC"
V0_SK = "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc"
V0_URL = (
    "https://service.region.example.com/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs"
    "?limit=2&marker=13551d6b-755d-4757-b956-536f674975c0"
)
V0_DATE = "20191115T033655Z"
V0_CANONICAL_SHA256 = "b25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a"
V0_AUTHORIZATION = (
    "SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC, SignedHeaders=content-type;host;x-sdk-date, "
    "Signature=7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"
)
V0_TIME = float(calendar.timegm((2019, 11, 15, 3, 36, 55)))

SDK_SEED, SDK_CASES = 20240611, 400
FLOW_SEED, FLOW_CASES = 8675309, 300


# ---------------------------------------------------------------------------------------------------
# The documented vector


def test_v0_canonical_request_and_signature() -> None:
    headers = {"Content-Type": "application/json", "X-Sdk-Date": V0_DATE}
    text, signed = canonical_request("GET", httpx.URL(V0_URL), headers, b"")
    assert signed == "content-type;host;x-sdk-date"
    assert hashlib.sha256(text.encode()).hexdigest() == V0_CANONICAL_SHA256
    assert sign("GET", httpx.URL(V0_URL), headers, b"", V0_AK, V0_SK) == V0_AUTHORIZATION


def test_v0_through_aksk_auth() -> None:
    request = httpx.Request("GET", V0_URL, headers={"Content-Type": "application/json"})
    AkSkAuth(V0_AK, V0_SK, clock=lambda: V0_TIME).sign_request(request)
    assert request.headers["X-Sdk-Date"] == V0_DATE
    assert request.headers["Host"] == "service.region.example.com"
    assert request.headers["Authorization"] == V0_AUTHORIZATION


def test_format_sdk_date() -> None:
    assert format_sdk_date(V0_TIME) == V0_DATE
    assert format_sdk_date(0) == "19700101T000000Z"
    assert format_sdk_date(V0_TIME + 0.999) == V0_DATE


# ---------------------------------------------------------------------------------------------------
# Generated requests


PATH_PIECES = [
    "a", "Z", "0", "v1", "jobs", " ", "~", "%", "%20", "%2F", "%7E", "%25", "%zz", "%e4%b8%ad", "é", "中",
    "😀", "+", "=", "@", ":", "!", "$", "&", "'", "(", ")", "*", ",", ";", "-", ".", "_", "..", "{", "}",
    "|", "^", "`", "[", "]", '"', "<", ">",
]  # fmt: skip
QUERY_PIECES = [
    "a", "b", "limit", "marker", "0", "9", " ", "+", "=", "&", "/", "~", "%", "é", "中", "?", "#", "-", ".",
    "_", "*", "@", ":", ",", ";", "!", "'", "(", ")", "[", "]", "^", "😀", "%20",
]  # fmt: skip
HEADER_VALUES = [
    "x", "value with  inner  spaces", "  padded  ", "\ttabbed\t", "a,b;c=d", "é", "中文", "ÿ", "",
    "UNSIGNED-PAYLOAD",
]  # fmt: skip
CONTENT_TYPES = [
    "application/json", "application/json;charset=UTF-8", "application/bson", "text/plain",
    "application/octet-stream", "application/x-www-form-urlencoded",
]  # fmt: skip
HOSTS = ["example.com", "ecs.ap-southeast-1.myhuaweicloud.com", "127.0.0.1", "[::1]", "xn--fiq228c.example"]
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass
class Case:
    """One generated request, described as both httpx and the SDK take it."""

    index: int
    method: str
    scheme: str
    host: str
    port: int | None
    raw_path: str
    pairs: list[tuple[str, str]]
    query_style: str  # "quote" (%20), "plus" (urlencode, spaces as '+'), "params" (httpx params=)
    headers: dict[str, str]
    body: bytes
    access_key: str
    secret_key: str
    project_id: str | None
    token: str | None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def netloc(self) -> str:
        """Host as the SDK and AkSkAuth sign it: the port only when the URL keeps one."""
        if self.port is None or DEFAULT_PORTS[self.scheme] == self.port:
            return self.host  # httpx drops an explicit default port from the URL itself
        return f"{self.host}:{self.port}"

    def url(self) -> httpx.URL:
        base = f"{self.scheme}://{self.host}{'' if self.port is None else f':{self.port}'}{self.raw_path}"
        if self.query_style == "params":
            return httpx.URL(base, params=self.pairs)
        if self.query_style == "plus":
            return httpx.URL(f"{base}?{urlencode(self.pairs)}" if self.pairs else base)
        encoded = []
        for k, v in self.pairs:
            if v == "" and k and self.extra["bare"]:
                encoded.append(quote(k, safe=""))  # "?flag": a key without '=' has an empty value
            else:
                encoded.append(f"{quote(k, safe='')}={quote(v, safe='')}")
        query = "&".join(encoded)
        return httpx.URL(f"{base}?{query}" if query else base)

    def describe(self) -> str:
        return f"case #{self.index}:\n" + "\n".join(f"  {k} = {v!r}" for k, v in vars(self).items())


def _text(rng: random.Random, pieces: list[str], most: int) -> str:
    return "".join(rng.choice(pieces) for _ in range(rng.randint(0, most)))


def _path(rng: random.Random) -> str:
    segments = []
    for _ in range(rng.randint(0, 5)):
        kind = rng.random()
        if kind < 0.15:
            segments.append("")  # an empty segment: '//'
        elif kind < 0.45:
            # how the SDK fills a path parameter: quote(value, safe='')
            segments.append(quote(_text(rng, PATH_PIECES, 4), safe=""))
        else:
            segments.append(_text(rng, PATH_PIECES, 4))
    path = "/" + "/".join(segments)
    return path + "/" if rng.random() < 0.2 else path


def _pairs(rng: random.Random) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for _ in range(rng.choice([0, 0, 1, 2, 3, 5])):
        repeat = pairs and rng.random() < 0.3
        key = rng.choice(pairs)[0] if repeat else (_text(rng, QUERY_PIECES, 3) or "k")
        value = "" if rng.random() < 0.25 else _text(rng, QUERY_PIECES, 4)
        pairs.append((key, value))
    return pairs


def _headers(rng: random.Random, *, for_sdk: bool) -> dict[str, str]:
    headers: dict[str, str] = {}
    if rng.random() < 0.7:
        headers[rng.choice(["Content-Type", "content-type", "CONTENT-TYPE"])] = rng.choice(CONTENT_TYPES)
    if rng.random() < 0.5:
        headers["User-Agent"] = "huaweicloud-usdk-python/3.0"
    for i in range(rng.randint(0, 3)):
        name = rng.choice(["X-Custom-", "x-lower-", "X-MiXeD-", "X_Under_Score_", "X-With_Underscore-"])
        value = rng.choice(HEADER_VALUES)
        if not for_sdk and not value.isascii():
            continue  # httpx takes str header values as ASCII only; UTF-8 bytes are tested separately
        headers[f"{name}{i}"] = value
    if rng.random() < 0.15:
        headers["X-Sdk-Content-Sha256"] = rng.choice(["UNSIGNED-PAYLOAD", "  UNSIGNED-PAYLOAD ", "ab" * 32])
    if rng.random() < 0.1:
        headers["Accept"] = "application/json"
    return headers


def generate(seed: int, count: int, *, for_sdk: bool) -> list[Case]:
    rng = random.Random(seed)
    cases = []
    for index in range(count):
        scheme = rng.choice(["http", "https"])
        port = rng.choice([None, None, 8080, 31943, DEFAULT_PORTS[scheme]])
        body_kind = rng.random()
        body = (
            b""
            if body_kind < 0.4
            else json.dumps({"job_id": _text(rng, QUERY_PIECES, 6)}).encode()
            if body_kind < 0.8
            else rng.randbytes(rng.randint(1, 64))
        )
        cases.append(
            Case(
                index=index,
                method=rng.choice(["GET", "POST", "PUT", "DELETE", "get", "Patch"]),
                scheme=scheme,
                host=rng.choice(HOSTS),
                port=port,
                raw_path=_path(rng),
                pairs=_pairs(rng),
                query_style=rng.choice(["quote", "plus", "params"]),
                headers=_headers(rng, for_sdk=for_sdk),
                body=body,
                access_key=rng.choice(["QTWAOYTTINDUT2QVKYUC", "AK" + str(rng.randint(0, 10**9))]),
                secret_key=rng.choice(["MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc", f"sk-{rng.random()}-é"]),
                project_id=rng.choice([None, "0123456789abcdef0123456789abcdef"]),
                token=rng.choice([None, None, "gQpjbi1ub3J0aC00jgZTV1BlcnNvbm" + "x" * rng.randint(0, 40)]),
                extra={"bare": rng.random() < 0.5, "give_host": rng.random() < 0.3},
            )
        )
    return cases


def _sdk_credentials(case: Case) -> BasicCredentials:
    credentials = BasicCredentials(case.access_key, case.secret_key, case.project_id)
    if case.token is not None:
        credentials = credentials.with_security_token(case.token)
    return credentials


def _fail_first(mismatches: list[str], seed: int, count: int) -> None:
    if mismatches:
        pytest.fail(
            f"{len(mismatches)} of {count} generated cases (seed {seed}) mismatch; the first:\n{mismatches[0]}",
            pytrace=False,
        )


def test_generated_sign_matches_sdk() -> None:
    """`sign` against the SDK's `BasicCredentials.sign_request` on the same inputs."""
    mismatches: list[str] = []
    for case in generate(SDK_SEED, SDK_CASES, for_sdk=True):
        url = case.url()
        resource_path = url.raw_path.decode().partition("?")[0]
        sdk_date = format_sdk_date(1_700_000_000 + case.index * 3607)
        headers = {"X-Sdk-Date": sdk_date, **case.headers}
        if case.extra["give_host"]:
            headers["Host"] = case.netloc
        sdk_request = SdkRequest(
            method=case.method,
            schema=case.scheme,
            host=case.netloc,
            resource_path=resource_path,
            query_params=list(case.pairs),
            header_params=dict(headers),
            body=case.body,
        )
        _sdk_credentials(case).sign_request(sdk_request)

        # What BasicCredentials and Signer.sign add before signing, reproduced for the pure function.
        ours = dict(headers)
        if case.project_id:
            ours["X-Project-Id"] = case.project_id
        if case.token is not None:
            ours["X-Security-Token"] = case.token
        content_type = headers.get("Content-Type")  # the SDK looks this exact spelling up
        if content_type and not content_type.startswith(("application/json", "application/bson")):
            ours["X-Sdk-Content-Sha256"] = "UNSIGNED-PAYLOAD"
        got = sign(case.method, url, ours, case.body, case.access_key, case.secret_key)
        want = sdk_request.header_params["Authorization"]
        query = canonical_query(url)
        want_uri = f"{resource_path}?{query}" if query else resource_path
        if got != want or sdk_request.uri != want_uri:
            text, _ = canonical_request(case.method, url, ours, case.body)
            mismatches.append(
                f"{case.describe()}\n  url = {url}\n  ours   = {got}\n  sdk    = {want}\n"
                f"  sdk uri = {sdk_request.uri!r}, ours = {want_uri!r}\n  our canonical request:\n{text}"
            )
    _fail_first(mismatches, SDK_SEED, SDK_CASES)


def _parse_authorization(value: str) -> tuple[str, list[str], str]:
    algorithm, _, rest = value.partition(" ")
    assert algorithm == "SDK-HMAC-SHA256"
    parts = dict(part.split("=", 1) for part in rest.split(", "))
    return parts["Access"], parts["SignedHeaders"].split(";"), parts["Signature"]


def _wire_pairs(url: httpx.URL) -> list[tuple[str, str]]:
    """The query as sent, decoded without form rules: AkSkAuth must never send a '+'."""
    query = url.query.decode("ascii")
    assert "+" not in query
    return [(unquote(k), unquote(v)) for k, _, v in (p.partition("=") for p in query.split("&") if p)]


UNSIGNED = {"authorization", "connection"}  # of the headers httpx sends


def _flow_mismatch(case: Case, sent: httpx.Request, fixed_time: float) -> str | None:
    """Everything that must hold for one request captured on the wire; a message when it does not."""
    problems: list[str] = []
    authorization = sent.headers["Authorization"]
    access_key, signed, _ = _parse_authorization(authorization)
    expected_signed = sorted(n for n in sent.headers if n not in UNSIGNED and "_" not in n)
    if signed != expected_signed:
        problems.append(f"signed headers {signed} != {expected_signed}")
    if sent.headers["Host"] != case.netloc:
        problems.append(f"Host {sent.headers['Host']!r} != {case.netloc!r}")
    if sent.headers.get("X-Project-Id") != case.project_id:
        problems.append(f"X-Project-Id {sent.headers.get('X-Project-Id')!r}")
    if sent.headers.get("X-Security-Token") != case.token:
        problems.append(f"X-Security-Token {sent.headers.get('X-Security-Token')!r}")
    original = case.url()
    sent_path = sent.url.raw_path.decode().partition("?")[0]
    if sent_path != original.raw_path.decode().partition("?")[0]:
        problems.append(f"path changed: {sent_path!r}")
    wire_pairs = _wire_pairs(sent.url)
    if sorted(wire_pairs) != sorted(case.pairs):
        problems.append(f"query pairs changed: {wire_pairs!r}")

    # Rebuild the request from the wire; let the SDK add Host, X-Project-Id and X-Security-Token itself.
    # Header names are the lower-case ones httpx reports, so the SDK's client-side rule for non-JSON
    # Content-Type (which looks up the exact spelling "Content-Type") does not fire: the oracle signs
    # what a gateway would see.
    added_by_sdk = {"host", "x-project-id", "x-security-token"}
    sdk_request = SdkRequest(
        method=sent.method,
        schema=sent.url.scheme,
        host=case.netloc,
        resource_path=sent_path,
        query_params=wire_pairs,
        header_params={n: sent.headers[n] for n in signed if n not in added_by_sdk},
        body=sent.content,
    )
    _sdk_credentials(case).sign_request(sdk_request)
    if sdk_request.header_params["Authorization"] != authorization:
        problems.append(f"SDK signs {sdk_request.header_params['Authorization']!r}")
    if sdk_request.uri != sent.url.raw_path.decode():
        problems.append(f"SDK would send {sdk_request.uri!r}, httpx sent {sent.url.raw_path.decode()!r}")

    result = verify(
        sent.method,
        sent.url,
        sent.headers,
        sent.content,
        {case.access_key: case.secret_key}.get,
        now=fixed_time,
    )
    if not result.ok or result.access_key != access_key:
        problems.append(f"verify: {result}")
    if not problems:
        return None
    return (
        f"{case.describe()}\n  sent url = {sent.url}\n  sent headers = {list(sent.headers.raw)!r}\n"
        f"  authorization = {authorization}\n  problems:\n    " + "\n    ".join(problems)
    )


def _fixed_clock(value: float) -> Callable[[], float]:
    return lambda: value


def test_generated_aksk_auth_flow_matches_sdk_on_the_wire() -> None:
    captured: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        captured.append(request)
        return httpx.Response(204)

    mismatches: list[str] = []
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        for case in generate(FLOW_SEED, FLOW_CASES, for_sdk=False):
            fixed_time = 1_700_000_000.0 + case.index * 3607
            auth = AkSkAuth(
                case.access_key,
                case.secret_key,
                security_token=case.token,
                project_id=case.project_id,
                clock=_fixed_clock(fixed_time),
            )
            headers = [(k.encode(), v.encode()) for k, v in case.headers.items()]
            if case.index % 7 == 0:
                headers.append((b"X-Utf8", "  é中 ".encode()))  # non-ASCII values go to httpx as UTF-8 bytes
            if case.index % 5 == 0:
                headers += [(b"X-Repeat", b"1"), (b"x-repeat", b"2 ")]  # sent as one field "1, 2"
            case.extra["headers_given_to_httpx"] = headers
            client.request(case.method, case.url(), headers=headers, content=case.body, auth=auth)
            message = _flow_mismatch(case, captured[-1], fixed_time)
            if message is not None:
                mismatches.append(message)
    _fail_first(mismatches, FLOW_SEED, FLOW_CASES)


# ---------------------------------------------------------------------------------------------------
# AkSkAuth details


def _capture(auth: AkSkAuth, method: str, url: str, **kwargs: Any) -> httpx.Request:
    captured: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        captured.append(request)
        return httpx.Response(200)

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        client.request(method, url, auth=auth, **kwargs)
    return captured[0]


def test_query_is_sent_in_canonical_form() -> None:
    auth = AkSkAuth("AK", "SK", clock=lambda: V0_TIME)
    sent = _capture(
        auth, "GET", "http://127.0.0.1:8080/v1/p/jobs", params=[("z", "a b"), ("a", "~/+"), ("a", ""), ("m", "é")]
    )
    assert sent.url.raw_path == b"/v1/p/jobs?a=&a=~%2F%2B&m=%C3%A9&z=a%20b"
    assert sent.headers["Host"] == "127.0.0.1:8080"


def test_empty_query_is_dropped() -> None:
    sent = _capture(AkSkAuth("AK", "SK"), "GET", "http://example.com/v1/jobs?")
    assert sent.url.raw_path == b"/v1/jobs"
    assert sent.headers["Host"] == "example.com"


def test_header_values_are_sent_stripped_and_repeated_headers_joined() -> None:
    sent = _capture(
        AkSkAuth("AK", "SK"),
        "GET",
        "http://example.com/",
        headers=[("X-Pad", "  a b  "), ("X-Rep", "1"), ("X-Rep", "2")],
    )
    assert sent.headers.get_list("X-Pad") == ["a b"]
    assert sent.headers.get_list("X-Rep") == ["1, 2"]
    _, signed, _ = _parse_authorization(sent.headers["Authorization"])
    assert {"x-pad", "x-rep", "host", "x-sdk-date"} <= set(signed)
    assert "connection" not in signed


def test_existing_date_is_kept_and_old_authorization_replaced() -> None:
    sent = _capture(
        AkSkAuth("AK", "SK", clock=lambda: 0.0),
        "GET",
        "http://example.com/",
        headers={"X-Sdk-Date": V0_DATE, "Authorization": "Bearer stale"},
    )
    assert sent.headers["X-Sdk-Date"] == V0_DATE
    assert sent.headers.get_list("Authorization")[0].startswith("SDK-HMAC-SHA256 Access=AK, ")
    assert verify("GET", sent.url, sent.headers, b"", {"AK": "SK"}.get, now=V0_TIME).ok


def test_keys_are_read_for_every_request() -> None:
    keys = iter([("AK1", "SK1"), ("AK2", "SK2")])
    current = ("AK0", "SK0")

    def rotate() -> None:
        nonlocal current
        current = next(keys)

    auth = AkSkAuth(lambda: current[0], lambda: current[1], security_token=lambda: f"token-{current[0]}")
    for expected in ("AK1", "AK2"):
        rotate()
        sent = _capture(auth, "GET", "http://example.com/")
        assert sent.headers["Authorization"].startswith(f"SDK-HMAC-SHA256 Access={expected}, ")
        assert sent.headers["X-Security-Token"] == f"token-{expected}"
        assert verify("GET", sent.url, sent.headers, b"", {expected: current[1]}.get, now=_now(sent)).ok


def _now(sent: httpx.Request) -> float:
    return float(calendar.timegm(time.strptime(sent.headers["X-Sdk-Date"], "%Y%m%dT%H%M%SZ")))


async def test_async_client() -> None:
    captured: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        captured.append(request)
        return httpx.Response(200)

    auth = AkSkAuth("AK", "SK", project_id="p1")

    async def body() -> Any:
        yield b'{"a": '
        yield b"1}"

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        await client.post("http://127.0.0.1:9/v1/p1/jobs?x=1 2", content=body(), auth=auth)
    sent = captured[0]
    assert sent.content == b'{"a": 1}'
    assert sent.headers["X-Project-Id"] == "p1"
    assert verify("POST", sent.url, sent.headers, sent.content, {"AK": "SK"}.get, now=_now(sent)).ok


def test_repr_shows_no_secret() -> None:
    auth = AkSkAuth(
        "AKIDSECRETPART123",
        "SK-very-secret-value",
        security_token="TOKEN-secret-value",
        project_id="proj",
    )
    for text in (repr(auth), str(auth), f"{auth}"):
        assert "SECRETPART" not in text
        assert "very-secret" not in text
        assert "TOKEN" not in text
    assert repr(auth) == "AkSkAuth(access_key='AKID...', project_id='proj')"
    dynamic = AkSkAuth(lambda: "AKIDSECRETPART123", lambda: "SK-very-secret-value")
    assert repr(dynamic) == "AkSkAuth(access_key=<dynamic>, project_id=None)"


def test_sign_errors_name_no_secret() -> None:
    url = httpx.URL("http://example.com/")
    with pytest.raises(ValueError, match=r"^the request has no X-Sdk-Date header$"):
        sign("GET", url, {}, b"", "AK", "SK-secret")
    with pytest.raises(ValueError, match=r"^X-Sdk-Date '2019-11-15' is not in the form 20060102T150405Z$"):
        sign("GET", url, {"X-Sdk-Date": "2019-11-15"}, b"", "AK", "SK-secret")
    with pytest.raises(ValueError, match=r"^the access key and the secret key must not be empty$"):
        sign("GET", url, {"X-Sdk-Date": V0_DATE}, b"", "AK", "")


def test_non_json_body_is_signed_with_its_real_hash() -> None:
    """Unlike the SDK, AkSkAuth does not add X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD for other types."""
    sent = _capture(
        AkSkAuth("AK", "SK"), "PUT", "http://example.com/x", content=b"raw", headers={"Content-Type": "text/plain"}
    )
    assert "X-Sdk-Content-Sha256" not in sent.headers
    assert verify("PUT", sent.url, sent.headers, b"raw", {"AK": "SK"}.get, now=_now(sent)).ok
    tampered = verify("PUT", sent.url, sent.headers, b"RAW", {"AK": "SK"}.get, now=_now(sent))
    assert tampered.status is VerifyStatus.BAD_SIGNATURE


# ---------------------------------------------------------------------------------------------------
# verify()


SIGNED_AT = 1_700_000_000.0
KEYS = {"AK-good": "SK-good"}


@pytest.fixture
def signed() -> httpx.Request:
    auth = AkSkAuth("AK-good", "SK-good", project_id="proj", security_token="tok", clock=lambda: SIGNED_AT)
    return _capture(
        auth,
        "POST",
        "https://127.0.0.1:31943/v1/proj/jobs/a b",
        params={"limit": "10", "marker": ""},
        json={"x": 1},
    )


def _verify(
    request: httpx.Request,
    *,
    url: httpx.URL | None = None,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    secret_for: Callable[[str], str | None] = KEYS.get,
    now: float = SIGNED_AT,
) -> VerifyResult:
    return verify(
        request.method,
        url if url is not None else request.url,
        headers if headers is not None else dict(request.headers),
        body if body is not None else request.content,
        secret_for,
        now=now,
    )


def test_verify_accepts_what_aksk_auth_sends(signed: httpx.Request) -> None:
    result = _verify(signed)
    assert result == VerifyResult(VerifyStatus.OK, "signature valid", "AK-good")
    assert result.ok
    # A header added on the way that is not signed does not matter.
    assert _verify(signed, headers={**signed.headers, "X-Forwarded-For": "10.0.0.1"}).ok
    # Case of the header names does not matter either.
    assert _verify(signed, headers={k.upper(): v for k, v in signed.headers.items()}).ok


@pytest.mark.parametrize(
    "change",
    [
        "wrong secret",
        "tampered path",
        "tampered query",
        "added query",
        "tampered body",
        "tampered signed header",
        "other method",
        "tampered signature",
    ],
)
def test_verify_rejects_a_bad_signature(signed: httpx.Request, change: str) -> None:
    headers = dict(signed.headers)
    url, body, secret_for = signed.url, signed.content, KEYS.get
    if change == "wrong secret":
        secret_for = {"AK-good": "SK-other"}.get
    elif change == "tampered path":
        url = url.copy_with(path="/v1/proj/jobs/a c")
    elif change == "tampered query":
        url = url.copy_with(query=b"limit=11&marker=")
    elif change == "added query":
        url = url.copy_with(query=b"limit=10&marker=&x=1")
    elif change == "tampered body":
        body = b'{"x": 2}'
    elif change == "tampered signed header":
        headers["x-project-id"] = "other"
    elif change == "other method":
        signed.method = "PUT"
    elif change == "tampered signature":
        value = headers["authorization"]
        headers["authorization"] = value[:-1] + ("0" if value[-1] != "0" else "1")
    result = _verify(signed, url=url, headers=headers, body=body, secret_for=secret_for)
    assert result.status is VerifyStatus.BAD_SIGNATURE
    assert result.reason == "the signature does not match the request"
    assert result.access_key == "AK-good"
    assert result.canonical_request is not None
    assert "SK-" not in result.canonical_request


def test_verify_unknown_access_key(signed: httpx.Request) -> None:
    result = _verify(signed, secret_for={"AK-other": "SK-good"}.get)
    assert result == VerifyResult(VerifyStatus.UNKNOWN_ACCESS_KEY, "the access key is not known", "AK-good")


def test_verify_missing_authorization(signed: httpx.Request) -> None:
    headers = {k: v for k, v in signed.headers.items() if k != "authorization"}
    result = _verify(signed, headers=headers)
    assert result == VerifyResult(VerifyStatus.MISSING_AUTHORIZATION, "the request has no Authorization header")


def _replace_auth(request: httpx.Request, old: str, new: str) -> dict[str, str]:
    headers = dict(request.headers)
    assert old in headers["authorization"]
    headers["authorization"] = headers["authorization"].replace(old, new)
    return headers


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (
            ("SDK-HMAC-SHA256", "SDK-HMAC-SM3"),
            "the Authorization header is not 'SDK-HMAC-SHA256 Access=..., SignedHeaders=..., Signature=...'",
        ),
        (
            ("Signature=", "Sig="),
            "the Authorization header is not 'SDK-HMAC-SHA256 Access=..., SignedHeaders=..., Signature=...'",
        ),
        (("host;", ""), "SignedHeaders must include 'host'"),
        ((";x-sdk-date", ""), "SignedHeaders must include 'x-sdk-date'"),
        (("host;", "host;x-missing;"), "signed header 'x-missing' is not in the request"),
        (("host;", "Host;"), "SignedHeaders has an invalid header name 'Host'"),
    ],
)
def test_verify_malformed_authorization(signed: httpx.Request, edit: tuple[str, str], reason: str) -> None:
    result = _verify(signed, headers=_replace_auth(signed, *edit))
    assert result.status is VerifyStatus.MALFORMED_AUTHORIZATION
    assert result.reason == reason


def test_verify_garbage_authorization(signed: httpx.Request) -> None:
    result = _verify(signed, headers={**signed.headers, "authorization": "Bearer abc"})
    assert result.status is VerifyStatus.MALFORMED_AUTHORIZATION
    assert result.access_key is None


def test_verify_malformed_date(signed: httpx.Request) -> None:
    result = _verify(signed, headers={**signed.headers, "x-sdk-date": "2023-11-14T22:13:20Z"})
    assert result.status is VerifyStatus.MALFORMED_AUTHORIZATION
    assert result.reason == "X-Sdk-Date '2023-11-14T22:13:20Z' is not in the form 20060102T150405Z"


@pytest.mark.parametrize("offset", [-16 * 60, 16 * 60])
def test_verify_clock_skew(offset: float) -> None:
    auth = AkSkAuth("AK-good", "SK-good", clock=lambda: SIGNED_AT + offset)
    sent = _capture(auth, "GET", "http://example.com/v1/jobs")
    result = _verify(sent)
    assert result.status is VerifyStatus.CLOCK_SKEW
    assert result.reason == (
        f"X-Sdk-Date {format_sdk_date(SIGNED_AT + offset)} is {-offset:+.0f}s from the server clock"
        " (at most 900s allowed)"
    )


@pytest.mark.parametrize("offset", [-15 * 60, -14 * 60, 14 * 60, 15 * 60])
def test_verify_accepts_up_to_fifteen_minutes(offset: float) -> None:
    sent = _capture(AkSkAuth("AK-good", "SK-good", clock=lambda: SIGNED_AT + offset), "GET", "http://h/")
    assert _verify(sent).ok


def test_latin1_header_value_is_refused() -> None:
    request = httpx.Request("GET", "http://example.com/", headers=[(b"X-Name", b"caf\xe9")])
    with pytest.raises(ValueError, match=r"^header values must be ASCII or UTF-8 to be signed$"):
        AkSkAuth("AK", "SK").sign_request(request)


def test_sdk_quirks_reproduced() -> None:
    """Behaviour of the SDK's Signer that is easy to get wrong, pinned with small examples."""

    def text(url: str, headers: dict[str, str] | None = None, body: bytes = b"") -> str:
        return canonical_request("GET", httpx.URL(url), {"X-Sdk-Date": V0_DATE, **(headers or {})}, body)[0]

    def uri(url: str) -> str:
        return text(url).split("\n")[1]

    assert uri("http://h/a") == uri("http://h/a/") == "/a/"  # a trailing '/' is not signed
    assert uri("http://h/a%2Fb") == uri("http://h/a/b") == "/a/b/"  # an encoded '/' splits the segment
    assert uri("http://h/a+b=c@d:e~f") == "/a%2Bb%3Dc%40d%3Ae~f/"  # '+' is no space in a path
    assert uri("http://h//x") == "//x/"
    assert uri("http://h/%FF") == "/%EF%BF%BD/"  # invalid UTF-8 becomes U+FFFD before re-encoding
    assert text("http://h/?b=2&a=2&a=1&c").split("\n")[2] == "a=1&a=2&b=2&c="
    # Sorted on the decoded text: '~' (0x7E) sorts before 'é', although '%C3' would sort before '~'.
    assert text("http://h/?%C3%A9=1&~=2").split("\n")[2] == "~=2&%C3%A9=1"
    # X-Sdk-Content-Sha256 replaces the body hash only when there is a body.
    declared = {"X-Sdk-Content-Sha256": "UNSIGNED-PAYLOAD"}
    assert text("http://h/", declared, b"").endswith(hashlib.sha256(b"").hexdigest())
    assert text("http://h/", declared, b"x").endswith("\nUNSIGNED-PAYLOAD")
    # Header values are stripped; names with '_' are not signed.
    canonical, signed = canonical_request(
        "GET", httpx.URL("http://h:8080/"), {"X-Sdk-Date": V0_DATE, "X-A": " 1  2 ", "X_B": "3"}, b""
    )
    assert signed == "host;x-a;x-sdk-date"
    assert "\nhost:h:8080\nx-a:1  2\n" in canonical


def test_a_global_service_is_signed_with_the_domain_id_as_global_credentials_sign() -> None:
    """X-Domain-Id instead of X-Project-Id (CDN, no project): the SDK's GlobalCredentials as the oracle."""
    domain = "0970dd7a1300d5d00f3bc0122d5e2a2f"
    auth = AkSkAuth("GLOBALAK0000000000001", "G" * 40, domain_id=domain, clock=lambda: 1700000000.0)
    sent = _capture(auth, "GET", "https://cdn.myhuaweicloud.com/v1.0/cdn/historytasks/abc/detail?limit=5")
    assert sent.headers["X-Domain-Id"] == domain and "X-Project-Id" not in sent.headers
    sdk_request = SdkRequest(
        method="GET",
        schema="https",
        host="cdn.myhuaweicloud.com",
        resource_path="/v1.0/cdn/historytasks/abc/detail",
        query_params=[("limit", "5")],
        # what httpx sent but the SDK adds itself (Host, X-Domain-Id) or makes (Authorization)
        header_params={
            n: v for n, v in sent.headers.items() if n not in ("host", "x-domain-id", "authorization", "connection")
        },
        body=b"",
    )
    GlobalCredentials("GLOBALAK0000000000001", "G" * 40, domain).sign_request(sdk_request)
    assert sdk_request.header_params["X-Domain-Id"] == domain
    assert sdk_request.header_params["Authorization"] == sent.headers["Authorization"]
