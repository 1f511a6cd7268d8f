"""AK/SK request signing (`SDK-HMAC-SHA256`), as done by the official Huawei Cloud SDK.

The algorithm (the SDK's `huaweicloudsdkcore.signer.Signer`; reference notes C.2):

1. The client adds `X-Sdk-Date` (UTC, `%Y%m%dT%H%M%SZ`) and `Host` (the URL's netloc, with the port
   when the URL has one); `BasicCredentials` also adds `X-Project-Id` and, for temporary credentials,
   `X-Security-Token`.
2. CanonicalRequest = ``METHOD \\n CanonicalURI \\n CanonicalQuery \\n CanonicalHeaders \\n SignedHeaders
   \\n HashedPayload``, where
   - CanonicalURI: the path URL-decoded, split on `/`, each segment re-encoded with
     `quote(segment, safe='~')`, joined with `/`, and ending in `/` (added when missing);
   - CanonicalQuery: the decoded `(key, value)` pairs sorted, each encoded with `quote(x, safe='~')`,
     `k=v` joined with `&` (repeated keys and empty values kept);
   - CanonicalHeaders: every header whose name has no `_`, as `lowercase-name:value.strip()\\n`, sorted
     by name; SignedHeaders is the same names joined with `;`;
   - HashedPayload: hex SHA-256 of the body; for a non-empty body an `X-Sdk-Content-Sha256` header
     value replaces it.
3. StringToSign = ``SDK-HMAC-SHA256 \\n X-Sdk-Date \\n hex(sha256(CanonicalRequest))``.
4. Signature = hex HMAC-SHA256 keyed with the secret key itself (no derivation chain as in AWS SigV4).
5. ``Authorization: SDK-HMAC-SHA256 Access=<AK>, SignedHeaders=<h1;h2>, Signature=<hex>``.

`sign` and `canonical_request` are pure; `verify` is the server side, for the fake cloud; `AkSkAuth`
plugs signing into httpx and makes the request on the wire carry exactly what was signed (the query
is re-sent in canonical form, as the SDK does, and signed header values are sent stripped).
"""

from __future__ import annotations

import calendar
import enum
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote

import httpx

__all__ = [
    "ALGORITHM",
    "AkSkAuth",
    "VerifyResult",
    "VerifyStatus",
    "canonical_query",
    "canonical_request",
    "format_sdk_date",
    "sign",
    "verify",
]

ALGORITHM = "SDK-HMAC-SHA256"

_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_DATE_RE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_CONTENT_SHA256 = "x-sdk-content-sha256"
_AUTH_RE = re.compile(
    rf"{ALGORITHM} +Access=([^\s,]+), *SignedHeaders=([^\s,]+), *Signature=([0-9a-fA-F]{{64}})",
)
_HEADER_NAME_RE = re.compile(r"[a-z0-9!#$%&'*+.^`|~-]+")

# Headers that AkSkAuth leaves out of the signature: the Authorization header itself, and the hop-by-hop
# headers (RFC 9110 section 7.6.1) that a proxy or load balancer in front of the gateway may rewrite.
# The SDK never signs these either: `requests` adds Connection after the SDK has signed.
_UNSIGNED_HEADERS = frozenset(
    {
        "authorization",
        "connection",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# A path of unreserved characters and `/` only: decoding and re-encoding its segments changes nothing.
_PLAIN_PATH_RE = re.compile(r"[A-Za-z0-9._~/-]*")
_last_date: tuple[int, str] = (-1, "")


def format_sdk_date(unix_time: float) -> str:
    """The `X-Sdk-Date` value for a unix time: UTC, `%Y%m%dT%H%M%SZ` (e.g. `20191115T033655Z`); the
    value of the current second is kept, as every request of that second carries it."""
    global _last_date
    second = int(unix_time // 1)
    if _last_date[0] != second:
        _last_date = (second, time.strftime(_DATE_FORMAT, time.gmtime(second)))
    return _last_date[1]


def _parse_sdk_date(value: str) -> float | None:
    """The unix time of an `X-Sdk-Date` value, or None when it is not exactly `%Y%m%dT%H%M%SZ`."""
    if not _DATE_RE.fullmatch(value):
        return None
    try:
        return float(calendar.timegm(time.strptime(value, _DATE_FORMAT)))
    except ValueError:
        return None


def _lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names lower-cased; a name given twice (any case) has its values joined with ", "."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def _canonical_uri(url: httpx.URL) -> str:
    # The raw (still percent-encoded) path is what goes on the wire and what the SDK calls resource_path.
    raw_path = url.raw_path.decode("ascii").partition("?")[0]
    if _PLAIN_PATH_RE.fullmatch(raw_path):
        path = raw_path
    else:
        path = "/".join(quote(segment, safe="~") for segment in unquote(raw_path).split("/"))
    return path if path.endswith("/") else path + "/"


def canonical_query(url: httpx.URL) -> str:
    """The canonical query string of `url`; AkSkAuth sends exactly this string as the query.

    The raw query is decoded like form data (`+` is a space, as httpx encodes `params=`), and the
    `(key, value)` pairs are sorted on their decoded text before encoding, like the SDK.
    """
    if not url.query:
        return ""
    pairs = parse_qsl(url.query.decode("ascii"), keep_blank_values=True)
    return "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in sorted(pairs))


def _hashed_payload(lowered: Mapping[str, str], body: bytes) -> str:
    if not body:
        # The SDK ignores X-Sdk-Content-Sha256 when there is no body.
        return _EMPTY_SHA256
    declared = lowered.get(_CONTENT_SHA256, "").strip()
    return declared or hashlib.sha256(body).hexdigest()


def _canonical_request(method: str, url: httpx.URL, lowered: Mapping[str, str], signed: list[str], body: bytes) -> str:
    canonical_headers = "".join(f"{name}:{lowered[name].strip()}\n" for name in signed)
    return "\n".join(
        [
            method.upper(),
            _canonical_uri(url),
            canonical_query(url),
            canonical_headers,
            ";".join(signed),
            _hashed_payload(lowered, body),
        ]
    )


def canonical_request(method: str, url: httpx.URL, headers: Mapping[str, str], body: bytes) -> tuple[str, str]:
    """The canonical request text and the SignedHeaders value, as the SDK's Signer computes them.

    Every header whose name has no `_` is signed. Without a Host header, `url`'s netloc is signed as
    Host, as the SDK does.
    """
    lowered = _lower_headers(headers)
    lowered.setdefault("host", url.netloc.decode("ascii"))
    signed = sorted(name for name in lowered if "_" not in name)
    return _canonical_request(method, url, lowered, signed, body), ";".join(signed)


def _signature(canonical: str, sdk_date: str, secret_key: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    string_to_sign = f"{ALGORITHM}\n{sdk_date}\n{digest}"
    return hmac.new(secret_key.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def sign(
    method: str,
    url: httpx.URL,
    headers: Mapping[str, str],
    body: bytes,
    access_key: str,
    secret_key: str,
) -> str:
    """The `Authorization` header value for a request; `headers` must already hold `X-Sdk-Date`.

    Raises ValueError (naming no secret) when a key is empty or X-Sdk-Date is missing or malformed.
    """
    if not access_key or not secret_key:
        raise ValueError("the access key and the secret key must not be empty")
    sdk_date = _lower_headers(headers).get("x-sdk-date")
    if sdk_date is None:
        raise ValueError("the request has no X-Sdk-Date header")
    if _parse_sdk_date(sdk_date) is None:
        raise ValueError(f"X-Sdk-Date {sdk_date!r} is not in the form 20060102T150405Z")
    return _authorization(method, url, _lower_headers(headers), body, access_key, secret_key, sdk_date)


def _authorization(
    method: str, url: httpx.URL, lowered: dict[str, str], body: bytes, access_key: str, secret_key: str, sdk_date: str
) -> str:
    """`sign` once the headers are lower-cased and X-Sdk-Date is known to be well formed."""
    lowered.setdefault("host", url.netloc.decode("ascii"))
    signed = sorted(name for name in lowered if "_" not in name)
    canonical = _canonical_request(method, url, lowered, signed, body)
    signature = _signature(canonical, sdk_date, secret_key)
    return f"{ALGORITHM} Access={access_key}, SignedHeaders={';'.join(signed)}, Signature={signature}"


class VerifyStatus(enum.Enum):
    """Outcome of `verify`; the fake cloud maps each to the gateway's error code."""

    OK = "ok"
    MISSING_AUTHORIZATION = "missing_authorization"
    MALFORMED_AUTHORIZATION = "malformed_authorization"
    UNKNOWN_ACCESS_KEY = "unknown_access_key"
    BAD_SIGNATURE = "bad_signature"
    CLOCK_SKEW = "clock_skew"  # APIGW.0303 at the real gateway


@dataclass(frozen=True)
class VerifyResult:
    """What `verify` found. `reason` and `canonical_request` hold no secret and may be shown to the client."""

    status: VerifyStatus
    reason: str
    access_key: str | None = None
    # Set for BAD_SIGNATURE: what the server signed, to compare with the client's (as AWS does).
    canonical_request: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is VerifyStatus.OK


def verify(
    method: str,
    url: httpx.URL,
    headers: Mapping[str, str],
    body: bytes,
    secret_for: Callable[[str], str | None],
    now: float,
    max_skew: float = 900,
) -> VerifyResult:
    """Check a signed request as the gateway does, with the SignedHeaders that the client declared.

    `url` is the request as received (its raw path and query are canonicalised); `secret_for` maps an
    access key to its secret key, or None when the key is unknown. The checks run in this order:
    Authorization present and well-formed (SignedHeaders include `host` and `x-sdk-date`, and every
    signed header is present), access key known, X-Sdk-Date within `max_skew` seconds of `now`, and
    signature.
    """
    lowered = _lower_headers(headers)
    declared = _declared(lowered)
    if isinstance(declared, VerifyResult):
        return declared
    access_key, signed, signature, sdk_date, signed_at = declared

    secret_key = secret_for(access_key)
    if secret_key is None:
        return VerifyResult(VerifyStatus.UNKNOWN_ACCESS_KEY, "the access key is not known", access_key)
    if abs(now - signed_at) > max_skew:
        return VerifyResult(
            VerifyStatus.CLOCK_SKEW,
            f"X-Sdk-Date {sdk_date} is {now - signed_at:+.0f}s from the server clock (at most {max_skew:.0f}s allowed)",
            access_key,
        )

    canonical = _canonical_request(method, url, lowered, signed, body)
    expected = _signature(canonical, sdk_date, secret_key)
    if not hmac.compare_digest(expected.encode("ascii"), signature.lower().encode("ascii")):
        return VerifyResult(
            VerifyStatus.BAD_SIGNATURE,
            "the signature does not match the request",
            access_key,
            canonical_request=canonical,
        )
    return VerifyResult(VerifyStatus.OK, "signature valid", access_key)


def _declared(lowered: Mapping[str, str]) -> tuple[str, list[str], str, str, float] | VerifyResult:
    """What the Authorization header declares: (access key, SignedHeaders, signature, X-Sdk-Date and its
    time), or the result of a request whose header is missing or malformed."""
    authorization = lowered.get("authorization", "").strip()
    if not authorization:
        return VerifyResult(VerifyStatus.MISSING_AUTHORIZATION, "the request has no Authorization header")

    def malformed(reason: str, access_key: str | None = None) -> VerifyResult:
        return VerifyResult(VerifyStatus.MALFORMED_AUTHORIZATION, reason, access_key)

    match = _AUTH_RE.fullmatch(authorization)
    if match is None:
        return malformed(f"the Authorization header is not '{ALGORITHM} Access=..., SignedHeaders=..., Signature=...'")
    access_key, signed_headers, signature = match.groups()
    signed = signed_headers.split(";")
    for name in signed:
        if not _HEADER_NAME_RE.fullmatch(name):
            return malformed(f"SignedHeaders has an invalid header name {name!r}", access_key)
        if name not in lowered:
            return malformed(f"signed header {name!r} is not in the request", access_key)
    for required in ("host", "x-sdk-date"):
        if required not in signed:
            return malformed(f"SignedHeaders must include {required!r}", access_key)
    sdk_date = lowered["x-sdk-date"]
    signed_at = _parse_sdk_date(sdk_date)
    if signed_at is None:
        return malformed(f"X-Sdk-Date {sdk_date!r} is not in the form 20060102T150405Z", access_key)
    return access_key, signed, signature, sdk_date, signed_at


def _as_getter(value: Callable[[], str] | str) -> Callable[[], str]:
    if isinstance(value, str):
        return lambda: value
    return value


class AkSkAuth(httpx.Auth):
    """httpx authentication that signs each request with an AK/SK pair, like the SDK's BasicCredentials.

    Keys may be given as callables (e.g. `Secret.reveal`), which are called for every request so that
    rotated key files take effect without a restart. Before signing it sets X-Sdk-Date (unless present),
    Host (the URL's netloc, with its port when the URL has one), X-Project-Id or X-Domain-Id and
    X-Security-Token (when set). It then rewrites the URL query to the canonical query string and sends
    every signed header value stripped, so that the bytes on the wire are the ones that were signed.
    Every header is signed except Authorization, hop-by-hop headers (Connection, ...) and names with `_`.
    """

    requires_request_body = True

    def __init__(
        self,
        access_key: Callable[[], str] | str,
        secret_key: Callable[[], str] | str,
        *,
        security_token: Callable[[], str | None] | str | None = None,
        project_id: str | None = None,
        domain_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`project_id` goes in X-Project-Id (BasicCredentials, regional services); `domain_id` in
        X-Domain-Id (GlobalCredentials, global services such as CDN, which have no project)."""
        self._access_key_hint = access_key[:4] if isinstance(access_key, str) else None
        self._access_key = _as_getter(access_key)
        self._secret_key = _as_getter(secret_key)
        self._security_token: Callable[[], str | None] | None
        if isinstance(security_token, str):
            token = security_token
            self._security_token = lambda: token
        else:
            self._security_token = security_token
        self._project_id = project_id
        self._domain_id = domain_id
        self._clock = clock

    def __repr__(self) -> str:
        # Never the keys or the token: at most the first 4 characters of a literal access key.
        shown = f"'{self._access_key_hint}...'" if self._access_key_hint is not None else "<dynamic>"
        return f"AkSkAuth(access_key={shown}, project_id={self._project_id!r})"

    __str__ = __repr__

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.sign_request(request)
        yield request

    def sign_request(self, request: httpx.Request) -> None:
        """Add the authentication headers to `request` and canonicalise its query, in place."""
        access_key = self._access_key()
        secret_key = self._secret_key()
        token = self._security_token() if self._security_token is not None else None

        headers = request.headers
        if headers.encoding not in ("ascii", "utf-8"):
            raise ValueError("header values must be ASCII or UTF-8 to be signed")
        if not access_key or not secret_key:
            raise ValueError("the access key and the secret key must not be empty")
        headers.pop("Authorization", None)
        sdk_date = headers.get("X-Sdk-Date")
        if sdk_date is None:
            sdk_date = headers["X-Sdk-Date"] = format_sdk_date(self._clock())
        elif _parse_sdk_date(sdk_date) is None:
            raise ValueError(f"X-Sdk-Date {sdk_date!r} is not in the form 20060102T150405Z")
        headers["Host"] = request.url.netloc.decode("ascii")
        if self._project_id:
            headers["X-Project-Id"] = self._project_id
        if self._domain_id:
            headers["X-Domain-Id"] = self._domain_id
        if token:
            headers["X-Security-Token"] = token

        _canonicalise_query(request)
        signed = _signed_headers(headers)
        # `signed` holds lower-case names already (httpx's Headers yield them so) and a valid X-Sdk-Date.
        headers["Authorization"] = _authorization(
            request.method, request.url, signed, request.content, access_key, secret_key, sdk_date
        )


def _canonicalise_query(request: httpx.Request) -> None:
    """The SDK sends the canonical query; httpx would encode spaces as '+', keep '/' and so on."""
    want = canonical_query(request.url).encode("ascii")
    raw = request.url.raw_path
    path = raw.partition(b"?")[0]
    if raw != (path + b"?" + want if want else path):
        request.url = request.url.copy_with(query=want or None)


def _signed_headers(headers: httpx.Headers) -> dict[str, str]:
    """The headers to sign (lower-cased names, repeated headers joined, values stripped); the request then
    sends what is signed: one field per name, stripped."""
    signed: dict[str, str] = {}
    for name, value in headers.items():
        if name in _UNSIGNED_HEADERS or "_" in name:
            continue
        signed[name] = value.strip()
        if signed[name] != value or len(headers.get_list(name)) > 1:
            headers[name] = signed[name]
    return signed
