"""Authentication as `httpx.Auth` flows: a fixed token, IAM password login, and AK/SK signing (signing.py).

The password flow logs in with `POST /v3/auth/tokens`, takes the token from the `X-Subject-Token`
header, caches it, renews it before `expires_at`, and after a 401 renews once and retries once. One
lock per provider makes the first scrape's many concurrent requests wait for one login instead of
sending one each. The login is sent directly (not yielded through the flow) so that a failed renewal
can fall back on the token that is still valid.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from datetime import datetime
from typing import Any

import httpx
import structlog

from exporter.cloud.errors import ApiError, ApiFailure, Reason, classify
from exporter.cloud.iam import iam_base
from exporter.cloud.signing import AkSkAuth
from exporter.config import Account, TargetConfig
from exporter.log import repeated

__all__ = ["IAM_ENDPOINTS", "PasswordAuth", "TokenAuth", "build_auth", "iam_url"]

log = structlog.get_logger(__name__)

IAM_ENDPOINTS = {
    "huaweicloud": "https://iam.{region}.myhuaweicloud.com",
    "otc": "https://iam.{region}.otc.t-systems.com",
}
# Renew this long before expiry: IAM tokens live 24 h; short-lived ones (tests) renew at 90 % of life.
RENEW_MARGIN = 3600.0

TokenCallback = Callable[[str, str], None]  # (account, "success" | "failure")
Send = Callable[[httpx.Request], Awaitable[httpx.Response]]
RENEW_RETRY = 60.0  # seconds between renewal attempts while IAM fails and the old token is still valid


class TokenAuth(httpx.Auth):
    """A fixed IAM token in `X-Auth-Token`."""

    def __init__(self, token: Callable[[], str]) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["X-Auth-Token"] = self._token()
        yield request

    def __repr__(self) -> str:
        return "TokenAuth()"


def iam_url(account: Account, region: str) -> str:
    """The password login's URL: at the IAM host of `iam_base`, the one rule for every IAM request (the
    account's `iam_endpoint`, else the SDK's table for the region, else the cloud's global host)."""
    base = iam_base(account, region) or IAM_ENDPOINTS[account.cloud].format(region=region)
    return f"{base}/v3/auth/tokens?nocatalog=true"


class PasswordAuth(httpx.Auth):
    """IAM password login; one instance per (account, project) because tokens are project-scoped."""

    def __init__(
        self,
        account: Account,
        target: TargetConfig,
        *,
        send: Send,
        on_token: TokenCallback,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`send` sends the login request (the account's client: same TLS and proxy settings)."""
        assert account.auth.password is not None
        self._account, self._target = account, target
        self._password = account.auth.password
        self._url = iam_url(account, target.region)
        self._send, self._on_token, self._clock = send, on_token, clock
        self._token: str | None = None
        self._renew_at = self._expires = self._retry_at = 0.0
        self._lock = asyncio.Lock()

    def use_sender(self, send: Send) -> None:
        """Send the next logins with `send` (a reload's new client, with the account's TLS and proxy)."""
        self._send = send

    def _login_request(self) -> httpx.Request:
        scope: dict[str, Any]
        if self._target.spec.is_global:  # a global service takes a token of the whole domain
            scope = {"domain": {"name": self._account.auth.domain_name}}
        elif self._target.project_id:
            scope = {"project": {"id": self._target.project_id}}
        else:
            scope = {"project": {"name": self._target.region}}
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "domain": {"name": self._account.auth.domain_name},
                            "name": self._account.auth.user_name,
                            "password": self._password.reveal(),
                        }
                    },
                },
                "scope": scope,
            }
        }
        return httpx.Request(
            "POST",
            self._url,
            content=json.dumps(body).encode(),
            headers={"Content-Type": "application/json;charset=utf8"},
        )

    async def _accept(self, response: httpx.Response) -> None:
        await response.aread()
        token = response.headers.get("X-Subject-Token")
        if response.status_code not in (200, 201) or not token:
            self._on_token(self._account.name, "failure")
            error = (
                classify(response.status_code, response.content)
                if response.status_code >= 400
                else ApiError(
                    Reason.BAD_RESPONSE,
                    response.status_code,
                    message="IAM answered without an X-Subject-Token header",
                )
            )
            if response.status_code in (400, 401, 403):
                # Whatever IAM's status, a refused login is a refusal of the credentials (401).
                error = ApiError(
                    Reason.AUTH,
                    401,
                    error.code,
                    f"IAM login of user {self._account.auth.user_name!r} refused: {error.message}",
                    login_refused=True,
                )
            raise ApiFailure(error)
        self._on_token(self._account.name, "success")
        now = self._clock()
        expires = now + 3600.0
        try:
            detail = response.json()["token"]
            expires = datetime.fromisoformat(detail["expires_at"]).timestamp()
            issued = datetime.fromisoformat(detail.get("issued_at") or detail["expires_at"]).timestamp()
            lifetime = max(expires - min(issued, now), 0.0)
        except (ValueError, KeyError, TypeError):
            lifetime = expires - now
            repeated(
                log.warning,
                "IAM token answer without a readable expires_at; renewing within the hour",
                self._account.name,
                account=self._account.name,
            )
        self._token, self._expires = token, expires
        self._renew_at = expires - min(RENEW_MARGIN, lifetime * 0.1)

    async def _current_token(self, refused: str | None = None) -> str:
        """A token to send: the cached one, or a new login when there is none, when it is due for
        renewal, or when the cloud just refused `refused`. A renewal that fails for any reason but a
        refused password keeps the old token while it is valid, and is tried again a minute later."""
        async with self._lock:
            now = self._clock()
            if self._token is not None:
                if refused is not None and self._token != refused:
                    return self._token  # another request already logged in again
                if refused is None and (now < self._renew_at or now < self._retry_at):
                    return self._token
            if refused is not None:
                # A service that refuses every token of this scope answers each query so: said once per
                # account, then at every power of ten.
                repeated(
                    log.info,
                    "token refused with 401; logging in again",
                    self._account.name,
                    account=self._account.name,
                )
            try:
                await self._accept(await self._send(self._login_request()))
            except (httpx.HTTPError, ApiFailure) as exc:
                refused_login = isinstance(exc, ApiFailure) and exc.error.login_refused
                if self._token is None or refused is not None or refused_login or now >= self._expires:
                    raise
                self._retry_at = now + RENEW_RETRY
                log.warning(
                    "IAM token renewal failed; using the current token until it expires",
                    account=self._account.name,
                    error=str(exc),
                    expires_in=round(self._expires - now),
                )
            assert self._token is not None
            return self._token

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._current_token()
        request.headers["X-Auth-Token"] = token
        response = yield request
        if response.status_code == 401:
            # The token may have been revoked (password or permission change): renew once, retry once.
            request.headers["X-Auth-Token"] = await self._current_token(refused=token)
            yield request

    def sync_auth_flow(self, request: httpx.Request) -> None:  # type: ignore[override]
        raise RuntimeError("PasswordAuth needs an httpx.AsyncClient")

    def __repr__(self) -> str:
        return f"PasswordAuth(account={self._account.name!r})"


def build_auth(
    account: Account, target: TargetConfig, *, send: Send, on_token: TokenCallback, domain_id: str = ""
) -> httpx.Auth:
    """The auth flow for one target of `account`; `domain_id` signs a global service's AK/SK calls."""
    auth = account.auth
    if auth.type == "token":
        assert auth.token is not None
        return TokenAuth(auth.token.reveal)
    if auth.type == "password":
        return PasswordAuth(account, target, send=send, on_token=on_token)
    assert auth.access_key is not None
    assert auth.secret_key is not None
    token = auth.security_token
    return AkSkAuth(
        auth.access_key.reveal,
        auth.secret_key.reveal,
        # Re-read on every request: an agent rotating temporary credentials rewrites the files.
        security_token=token.reveal if token is not None else None,
        project_id=target.project_id or None,
        domain_id=domain_id or None,  # X-Domain-Id, as the SDK's GlobalCredentials
    )
