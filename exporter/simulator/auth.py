"""The fake API gateway's authentication: IAM tokens, AK/SK signatures and the AK lock.

As the API gateway does it (reference notes C.2 and C.4), unless ``require_auth`` is off. A request
whose ``Authorization`` starts with ``SDK-HMAC-SHA256`` is checked as an AK/SK request against the
scenario's access keys: signature, ``X-Sdk-Date`` within 15 minutes of the *simulated* clock (else 401
``APIGW.0303``), and for temporary credentials a signed ``X-Security-Token`` equal to the key's token.
Any other request needs an ``X-Auth-Token`` (a static token or one that IAM issued and that has not
expired on the simulated clock). Failures are 401 ``APIGW.0301``. More than ``AK_LOCK_THRESHOLD`` (5)
consecutive failed authentications of one access key (a bad signature, a malformed signed request, a
missing or wrong security token, or a stale ``X-Sdk-Date``) lock that key for ``AK_LOCK_SECONDS`` (300)
simulated seconds; while locked, even correctly signed requests get 401 ``APIGW.0301``; a success
resets the count. A global service's AK/SK request (``domain=True``, as the SDK's GlobalCredentials
signs it) must carry a signed ``X-Domain-Id`` equal to the scenario's domain ID and no ``X-Project-Id``.
The error bodies never hold a secret key, a token or a signature.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import httpx
import structlog
from aiohttp import web

from exporter.cloud.signing import ALGORITHM, VerifyResult, VerifyStatus, format_sdk_date, verify
from exporter.simulator.clock import SimClock
from exporter.simulator.scenario import AccessKey
from exporter.simulator.stats import SimStats

__all__ = [
    "AK_LOCK_SECONDS",
    "AK_LOCK_THRESHOLD",
    "AUTH_MESSAGE",
    "MAX_CLOCK_SKEW_SECONDS",
    "AkState",
    "AuthResult",
    "Authenticator",
]

log = structlog.get_logger()

AUTH_MESSAGE = "Incorrect IAM authentication information: token expired or invalid"
# AK/SK answers; wording after the gateway's documented messages. None holds a secret or a signature.
_IAM = "Incorrect IAM authentication information"
SIGNATURE_MESSAGE = f"{_IAM}: verify aksk signature fail"
LOCKED_MESSAGE = f"{_IAM}: AK access failed to reach the limit,forbidden"
TOKEN_MISSING_MESSAGE = f"{_IAM}: X-Security-Token is required for temporary credentials"
TOKEN_UNSIGNED_MESSAGE = f"{_IAM}: X-Security-Token must be a signed header"
TOKEN_INVALID_MESSAGE = f"{_IAM}: verify security token fail"
DOMAIN_MISSING_MESSAGE = f"{_IAM}: X-Domain-Id is required for a global service, as a signed header"
DOMAIN_INVALID_MESSAGE = f"{_IAM}: X-Domain-Id does not match the account of the access key"
DOMAIN_PROJECT_MESSAGE = f"{_IAM}: a global service takes X-Domain-Id, not X-Project-Id"
# The gateway's clock check (reference C.2): at most 15 minutes between X-Sdk-Date and the server.
MAX_CLOCK_SKEW_SECONDS = 900.0
# "More than 5 consecutive AK/SK authentication failures lock the AK for 5 minutes" (reference C.2).
AK_LOCK_THRESHOLD = 5
AK_LOCK_SECONDS = 300.0
_SIGNED_HEADERS_RE = re.compile(r"SignedHeaders=([^\s,]+)")


class AkState(NamedTuple):
    """An access key's lock state: the current run of failed authentications, and the lock's end."""

    consecutive_failures: int
    locked_until: float | None  # simulated Unix time; None when the key is not locked


@dataclass(frozen=True, slots=True)
class AuthResult:
    """Whether a service request may go on; if not, the gateway error to answer with (HTTP 401)."""

    ok: bool
    error_code: str = ""
    error_msg: str = ""  # never holds a secret key, a security token or a signature
    access_key: str | None = None  # the AK/SK request's access key; None for tokens

    @classmethod
    def accept(cls, access_key: str | None = None) -> AuthResult:
        return cls(True, access_key=access_key)

    @classmethod
    def reject(cls, message: str, access_key: str | None = None, code: str = "APIGW.0301") -> AuthResult:
        return cls(False, code, message, access_key)


class Authenticator:
    """Tokens that IAM issued (and the static ones), the access keys and their lock state."""

    def __init__(
        self,
        clock: SimClock,
        stats: SimStats,
        *,
        static_tokens: Iterable[str],
        access_keys: Iterable[AccessKey],
        token_ttl: float,
        require_auth: bool = True,
        domain_id: str = "",
    ) -> None:
        """`domain_id`: the account's, which signs the AK/SK requests of global services."""
        if not token_ttl > 0:
            raise ValueError(f"token_ttl must be > 0 seconds, got {token_ttl}")
        self.clock, self.stats = clock, stats
        self.require_auth = require_auth
        self.token_ttl = token_ttl
        self.static_tokens = frozenset(static_tokens)
        self.domain_id = domain_id
        self._tokens: dict[str, float] = {}  # token -> expiry, simulated time
        self._access_keys = {k.access_key: k for k in access_keys}
        self._ak_failures: dict[str, int] = {}  # access key -> consecutive failed authentications
        self._ak_locked_until: dict[str, float] = {}  # access key -> end of its lock, simulated time

    def issue_token(self) -> str:
        """A new IAM token, valid for ``token_ttl`` simulated seconds."""
        now = self.clock.now()
        # Drop expired tokens so that a long run does not grow the table for ever.
        self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}
        token = "MIIsim" + secrets.token_urlsafe(48)
        self._tokens[token] = now + self.token_ttl
        self.stats.tokens_issued += 1
        return token

    def ak_state(self, access_key: str) -> AkState:
        """The lock state of ``access_key`` now (``(0, None)`` for a key that never failed)."""
        self._expire_lock(access_key)
        return AkState(self._ak_failures.get(access_key, 0), self._ak_locked_until.get(access_key))

    async def authenticate(self, request: web.Request, *, domain: bool = False) -> AuthResult:
        """Whether ``request`` may call a service API (a global one's when ``domain``), and if not, which
        gateway error to answer."""
        if not self.require_auth:
            return AuthResult.accept()
        if request.headers.get("Authorization", "").startswith(ALGORITHM):
            result = await self._authenticate_aksk(request, domain)
        else:
            result = self._authenticate_token(request)
        if not result.ok:
            self.stats.auth_failures += 1
        return result

    def _expire_lock(self, access_key: str) -> None:
        until = self._ak_locked_until.get(access_key)
        if until is not None and self.clock.now() >= until:
            # The lock is over: the key starts afresh.
            del self._ak_locked_until[access_key]
            self._ak_failures.pop(access_key, None)

    def _record_ak_failure(self, access_key: str) -> None:
        failures = self._ak_failures.get(access_key, 0) + 1
        self._ak_failures[access_key] = failures
        stats = self.stats.max_consecutive_auth_failures
        stats[access_key] = max(stats[access_key], failures)
        if failures > AK_LOCK_THRESHOLD:
            self._ak_locked_until[access_key] = self.clock.now() + AK_LOCK_SECONDS
            log.warning("simulator.ak_locked", access_key=access_key, failures=failures, seconds=AK_LOCK_SECONDS)

    def _authenticate_token(self, request: web.Request) -> AuthResult:
        token = request.headers.get("X-Auth-Token")
        if token is not None and token in self.static_tokens:
            return AuthResult.accept()
        expires = self._tokens.get(token) if token is not None else None
        if expires is not None and self.clock.now() < expires:
            return AuthResult.accept()
        return AuthResult.reject(AUTH_MESSAGE)

    async def _authenticate_aksk(self, request: web.Request, domain: bool) -> AuthResult:
        body = await request.read()
        try:
            url = _received_url(request.raw_path)
        except (ValueError, httpx.InvalidURL):
            return AuthResult.reject(f"{SIGNATURE_MESSAGE}, the request target cannot be canonicalised")
        now = self.clock.now()
        result = verify(request.method, url, request.headers, body, self._secret_for, now, MAX_CLOCK_SKEW_SECONDS)
        access_key = result.access_key
        entry = self._access_keys.get(access_key) if access_key is not None else None
        if access_key is None or entry is None:
            return _unknown_key(result)
        self._expire_lock(access_key)
        if access_key in self._ak_locked_until:
            # Refused without a look at the signature; this does not extend the lock.
            self.stats.ak_locked_rejections += 1
            return AuthResult.reject(LOCKED_MESSAGE, access_key)
        failure = self._failure(request, result, entry)
        if failure is None and domain:
            failure = _check_domain(request, entry.access_key, self.domain_id)
        if failure is not None:
            self._record_ak_failure(access_key)
            log.info("simulator.aksk_rejected", access_key=access_key, error_code=failure.error_code)
            return failure
        self._ak_failures.pop(access_key, None)
        self.stats.aksk_accepted[access_key] += 1
        return AuthResult.accept(access_key)

    def _failure(self, request: web.Request, result: VerifyResult, entry: AccessKey) -> AuthResult | None:
        """Why a known, unlocked key's request fails (None: it does not)."""
        access_key = entry.access_key
        match result.status:
            case VerifyStatus.OK:
                return _check_security_token(request, entry)
            case VerifyStatus.CLOCK_SKEW:
                signed_at = request.headers.get("X-Sdk-Date", "")
                return AuthResult.reject(
                    "Incorrect app authentication information: signature expired, "
                    f"signature time:{signed_at},server time:{format_sdk_date(self.clock.now())}",
                    access_key,
                    code="APIGW.0303",
                )
            case VerifyStatus.BAD_SIGNATURE:
                return AuthResult.reject(SIGNATURE_MESSAGE, access_key)
            case _:  # malformed: the reason names header names or the date, never a secret
                return AuthResult.reject(f"{SIGNATURE_MESSAGE}, {result.reason}", access_key)

    def _secret_for(self, access_key: str) -> str | None:
        entry = self._access_keys.get(access_key)
        return entry.secret_key if entry is not None else None


def _unknown_key(result: VerifyResult) -> AuthResult:
    """Nothing to lock: the key is unknown or the Authorization header names none."""
    access_key = result.access_key
    if result.status is VerifyStatus.UNKNOWN_ACCESS_KEY:
        # Masked as the gateway does (and as AkSkAuth's repr): with the AK and SK swapped in a client's
        # configuration, the full "access key" would be the secret key.
        shown = f"{(access_key or '')[:4]}******"
        return AuthResult.reject(f"{_IAM}: Get secretKey failed,ak:{shown},err:ak not exist", access_key)
    return AuthResult.reject(f"{SIGNATURE_MESSAGE}, {result.reason}")


def _check_security_token(request: web.Request, entry: AccessKey) -> AuthResult | None:
    """None if the request carries what ``entry`` needs (a signed X-Security-Token for temporary keys)."""
    if entry.security_token is None:
        return None
    given = request.headers.getall("X-Security-Token", [])
    if not given:
        return AuthResult.reject(TOKEN_MISSING_MESSAGE, entry.access_key)
    match = _SIGNED_HEADERS_RE.search(request.headers.get("Authorization", ""))
    if match is None or "x-security-token" not in match.group(1).split(";"):
        return AuthResult.reject(TOKEN_UNSIGNED_MESSAGE, entry.access_key)
    expected = entry.security_token.encode()
    if len(given) != 1 or not secrets.compare_digest(given[0].strip().encode("utf-8", "surrogateescape"), expected):
        return AuthResult.reject(TOKEN_INVALID_MESSAGE, entry.access_key)
    return None


def _check_domain(request: web.Request, access_key: str, domain_id: str) -> AuthResult | None:
    """None if a global service's request carries the account's domain ID, signed, and no project ID."""
    match = _SIGNED_HEADERS_RE.search(request.headers.get("Authorization", ""))
    signed = match.group(1).split(";") if match is not None else []
    if "x-domain-id" not in signed:
        return AuthResult.reject(DOMAIN_MISSING_MESSAGE, access_key)
    if "X-Project-Id" in request.headers:
        return AuthResult.reject(DOMAIN_PROJECT_MESSAGE, access_key)
    given = request.headers.getall("X-Domain-Id")
    if len(given) != 1 or given[0].strip() != domain_id:
        return AuthResult.reject(DOMAIN_INVALID_MESSAGE, access_key)
    return None


def _received_url(raw_path: str) -> httpx.URL:
    """The request target as received, for ``verify``: the raw (still percent-encoded) path and query.

    ``verify`` canonicalises only the URL's raw path and query; the Host that was signed comes from the
    request's own Host header, which ``verify`` requires to be signed. So the URL's host is a fixed
    placeholder rather than the Host header, which a client may send in any shape.
    """
    if not raw_path.startswith("/"):
        raise ValueError("the request target is not in origin form")
    return httpx.URL("http://fake-cloud.invalid").copy_with(raw_path=raw_path.encode("ascii"))
