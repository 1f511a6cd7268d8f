"""The HTTP client: one pool per account, a rate limit and a 429 back-off per endpoint, timeouts,
error classification and the request metrics. It returns a parsed `TaskStatus` or an `ApiError`,
never raises for anything the cloud or the network does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any, Protocol, TypeVar

import httpx
import structlog

from exporter import __version__
from exporter.cloud.auth import PasswordAuth, build_auth, iam_url
from exporter.cloud.domains import DomainIds
from exporter.cloud.errors import NO_SUCH_API_CODES, ApiError, ApiFailure, classify
from exporter.cloud.guards import BACKOFF_MAX, BACKOFF_START, MAX_AUTH_FAILURES, Endpoint, Guards, RateLimiter, identity
from exporter.cloud.iam import IamError
from exporter.cloud.wire import WireTransport
from exporter.config import Account, Config, SecretError, TargetConfig
from exporter.log import repeated
from exporter.model import Reason, State, TaskStatus
from exporter.services import (
    BadResponse,
    NoSuchTask,
    UnknownStatuses,
    body_error,
    fill,
    read_progress,
    read_status,
)
from exporter.services.calls import fresh_headers, request_headers

__all__ = [
    "MAX_AUTH_FAILURES",
    "ApiClient",
    "HeldBack",
    "Observer",
    "RateLimiter",
]  # RateLimiter: from guards

log = structlog.get_logger(__name__)
T = TypeVar("T")

USER_AGENT = f"huaweicloud-task-exporter/{__version__}"
# What httpx.AsyncClient would send besides Host: the answer may come compressed (httpx decodes it).
REQUEST_HEADERS = {
    "Accept": "*/*",
    "Accept-Encoding": "gzip, deflate",
    "Connection": "keep-alive",
    "User-Agent": USER_AGENT,
}
JSON_CONTENT_TYPE = "application/json;charset=UTF-8"  # a POST list's body, unless the spec's headers say
PROGRESS_MIN_BUDGET = 0.5  # seconds: a progress API (DLI's) is not asked with less left than this
# Seconds past a request's deadline before the query is cancelled. The status GETs' transport ends a
# request at its deadline itself (the `deadline` extension, wire.py) and takes an answer that came by
# then even if the event loop was busy as the deadline passed, where a cancellation would throw that
# answer away as a timeout; the cancellation only bounds the rest (logins, requests through a proxy).
DEADLINE_BACKSTOP = 0.5
# The lines of one `/probe?debug=true`: every request of the calls made in its context, its answer and
# the guards' decisions, as an operator reads them (no header, no secret, no body).
TRACE: ContextVar[list[str] | None] = ContextVar("huaweicloud_task_trace", default=None)


def _timeouts(seconds: float) -> dict[str, float]:
    """httpx's timeout extension: the same limit for connecting, reading and waiting for a connection."""
    return {"connect": seconds, "read": seconds, "write": seconds, "pool": seconds}


def trace(line: str) -> None:
    lines = TRACE.get()
    if lines is not None:
        lines.append(f"{time.strftime('%H:%M:%S')} {line}")


class Observer(Protocol):
    """What the client reports about every request (the exporter's own metrics implement it)."""

    def request(self, account: str, cloud_service: str, region: str, code: str, seconds: float) -> None: ...

    def error(self, account: str, cloud_service: str, region: str, reason: str) -> None: ...

    def held_back(self, account: str, cloud_service: str, region: str, reason: str) -> None: ...

    def token(self, account: str, result: str) -> None: ...


class HeldBack(enum.StrEnum):
    """Why a request was not sent: the `reason` label of `huaweicloud_task_api_held_back_total`."""

    DEADLINE = "deadline"  # the scrape's time was up
    AUTH_PAUSE = "auth_pause"  # the account's credentials were refused a moment ago
    BACKOFF = "backoff"  # the endpoint answered 429 a moment ago
    RATE_LIMIT = "rate_limit"  # no slot of scrape.rate_limit left within the scrape's time


class _Connections:
    """The accounts' transports and auth flows: one transport (pool) per account, the password logins
    kept with the guards across reloads, the token and AK/SK flows per account and project (or domain:
    global services), and the accounts' domain IDs (kept across reloads too)."""

    def __init__(
        self,
        config: Config,
        metrics: Observer,
        guards: Guards,
        transport: Callable[[str], httpx.AsyncBaseTransport],
        domains: DomainIds,
    ) -> None:
        self._config, self._metrics, self._guards, self._transport = config, metrics, guards, transport
        self._domains = domains
        self._transports: dict[str, httpx.AsyncBaseTransport] = {}
        self._clients: dict[str, httpx.AsyncClient] = {}  # for password logins, over the same transport
        self._auths: dict[tuple[str, str], httpx.Auth] = {}  # token and AK/SK flows, per account and project
        # The password logins this client used, per (account, IAM URL, scope), with the identity they are
        # for: a refresh that goes on with the old client after a reload keeps its own.
        self._logins: dict[tuple[str, str, str], tuple[str, httpx.Auth]] = {}

    def transport_of(self, account: str) -> httpx.AsyncBaseTransport:
        transport = self._transports.get(account)
        if transport is None:
            transport = self._transports[account] = self._transport(account)
        return transport

    def _client(self, account: str) -> httpx.AsyncClient:
        client = self._clients.get(account)
        if client is None:
            client = httpx.AsyncClient(
                transport=self.transport_of(account), headers={"User-Agent": USER_AGENT}, trust_env=False
            )
            self._clients[account] = client
        return client

    async def send(self, account: str, request: httpx.Request, auth: httpx.Auth) -> httpx.Response:
        """What `httpx.AsyncClient.send` does for these requests, without its per-request machinery
        (cookies, redirects, event hooks, proxies looked up in the environment): the auth flow's requests
        go through the account's transport, each answer read in full, as the flow expects."""
        transport = self.transport_of(account)
        flow = auth.async_auth_flow(request)
        try:
            request = await flow.__anext__()
            while True:
                response = await transport.handle_async_request(request)
                response.request = request
                await response.aread()
                try:
                    request = await flow.asend(response)
                except StopAsyncIteration:
                    return response
        finally:
            await flow.aclose()

    async def domain_wait(self, target: TargetConfig, timeout: float) -> float | ApiError:
        """For a global service's AK/SK call: the seconds it took to learn the account's domain ID (asked
        of IAM when due), or why there is none (the call is not sent). 0 for any other call."""
        account = self._config.accounts[target.account]
        if not target.spec.is_global or account.auth.type != "aksk":
            return 0.0
        started = time.perf_counter()

        async def send(request: httpx.Request, auth: httpx.Auth) -> httpx.Response:
            return await self.send(account.name, request, auth)

        found = await self._domains.domain_of(account, send, timeout)
        return found if isinstance(found, ApiError) else time.perf_counter() - started

    def auth(self, target: TargetConfig) -> httpx.Auth:
        account = self._config.accounts[target.account]
        send = self._client(account.name).send
        if account.auth.type == "password":
            return self._password_login(account, target, send)
        # Per project or domain too: AK/SK signs it into every request (X-Project-Id; X-Domain-Id for a
        # global service, whose ID `domain_wait` made known).
        domain_id = self._domains.known(account) if target.spec.is_global else ""
        key = (account.name, f"domain:{domain_id}" if domain_id else target.project_id)
        auth = self._auths.get(key)
        if auth is None:
            auth = build_auth(account, target, send=send, on_token=self._metrics.token, domain_id=domain_id)
            self._auths[key] = auth
        return auth

    def _password_login(
        self, account: Account, target: TargetConfig, send: Callable[[httpx.Request], Awaitable[httpx.Response]]
    ) -> httpx.Auth:
        """One login per (account, project scope), kept with its token across reloads; it sends its login
        through the current configuration's client (same TLS and proxy settings)."""
        place = (account.name, iam_url(account, target.region), target.project_id or target.region)
        who = identity(account)
        used = self._logins.get(place)
        if used is not None and used[0] == who:
            login = used[1]
        else:
            login = self._guards.login(
                (place[0], who, *place[1:]),
                lambda: build_auth(account, target, send=send, on_token=self._metrics.token),
            )
            self._logins[place] = (who, login)
        if isinstance(login, PasswordAuth):
            login.use_sender(send)
        return login

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()  # closes its transport too
        for account, transport in self._transports.items():
            if account not in self._clients:
                await transport.aclose()
        self._clients.clear()
        self._transports.clear()


class _Gate:
    """The guards as one request meets them: held back before it goes (deadline, the account's pause,
    the endpoint's back-off and rate limit), and what its answer teaches them afterwards."""

    def __init__(self, config: Config, metrics: Observer, guards: Guards, clock: Callable[[], float]) -> None:
        self._config, self._metrics, self._guards, self._clock = config, metrics, guards, clock

    def cooling_down(self, account: str) -> float:
        """Seconds left of the account's pause after refused credentials (0: none; inf: until the
        credentials change)."""
        left = self._guards.cooling_down(self._config.accounts[account])
        if left < 0:
            log.info("credentials changed; trying them", account=account)
            return 0.0
        return left

    def endpoint(self, account: str, base: str) -> Endpoint:
        return self._guards.endpoint(account, base, self._config.scrape.rate_limit)

    async def hold(self, target: TargetConfig, timeout: float) -> tuple[HeldBack, ApiError] | None:
        """Why the exporter's own guards keep this request from going out, if they do: the scrape's
        deadline, the account's pause after refused credentials, the endpoint's 429 back-off, or a rate
        limit with no slot left within the budget (which, when there is one, this takes)."""
        if timeout <= 0:
            return HeldBack.DEADLINE, ApiError(Reason.TIMEOUT, message="scrape deadline passed", sent=False)
        pause = self.cooling_down(target.account)
        if pause > 0:
            wait = "until its credentials change" if pause == float("inf") else f"for {pause:.0f}s"
            message = f"account {target.account!r} held back {wait} after authentication failures"
            refusal = self._guards.refusal(self._config.accounts[target.account])
            if refusal:
                message += f" (the cloud answered {refusal})"
            return HeldBack.AUTH_PAUSE, ApiError(Reason.AUTH, message=message, sent=False)
        endpoint = self.endpoint(target.account, target.endpoint)
        now = self._clock()
        if endpoint.blocked_until > now:
            message = f"held back for {endpoint.blocked_until - now:.0f}s after HTTP 429 from this endpoint"
            return HeldBack.BACKOFF, ApiError(Reason.THROTTLED, message=message, sent=False)
        if not await endpoint.limiter.acquire(budget=timeout):
            message = "not sent: the rate limit has no slot left in the scrape's time"
            return HeldBack.RATE_LIMIT, ApiError(Reason.TIMEOUT, message=message, sent=False)
        return None

    def lone_first(self, account: str) -> bool:
        return self._guards.lone_first(self._config.accounts[account])

    async def iam(
        self, name: str, request: httpx.Request, send: Callable[[], Awaitable[httpx.Response]]
    ) -> httpx.Response:
        """An IAM request of the account under the guard of its refused credentials, as a service's: held
        back (IamError) while the account is paused, and IAM refusing the credentials (a 401; for a password
        account, of the login) pauses it and counts towards the lock-out, a 2xx ends the pause."""
        account = self._config.accounts[name]
        pause = self.cooling_down(name)
        if pause > 0:
            wait = "until its credentials change" if pause == float("inf") else f"for {pause:.0f}s"
            refusal = self._guards.refusal(account)
            said = f" (the cloud answered {refusal})" if refusal else ""
            raise IamError(f"not asked: the account is held back {wait} after authentication failures{said}",
                           refused=True, credentials=True)  # fmt: skip
        response = await send()
        login = request.url.path.endswith("/v3/auth/tokens")
        if response.status_code == 401 and (account.auth.type != "password" or login):
            error = classify(401, response.content)
            cause = ": ".join(part for part in ("HTTP 401", error.code, error.message) if part and part != "401")
            paused = self._guards.refused(account, cause)
            if paused is not None:
                then = "stop until its credentials change" if paused.failures >= MAX_AUTH_FAILURES else "pause"
                log.error(f"IAM refused the account's credentials; its requests {then}",
                          account=name, auth_type=account.auth.type, failures_in_a_row=paused.failures,
                          error=cause)  # fmt: skip
        elif response.status_code < 300:
            self._guards.accepted(account)
        return response

    def settle(
        self, target: TargetConfig, endpoint: Endpoint, result: object, response: httpx.Response | None, sent_at: float
    ) -> None:
        """What an answer teaches the guards: an error counted, an account paused on refused credentials,
        an endpoint backed off on 429, credentials proven by an answer past the gateway."""
        account = self._config.accounts[target.account]
        if isinstance(result, ApiError):
            self._failed(target, account, endpoint, result, sent_at)
        else:
            endpoint.backoff = BACKOFF_START
        if not isinstance(result, ApiError) or result.reason not in (Reason.AUTH, Reason.TIMEOUT, Reason.CONNECT):
            # The API did not refuse the credentials; only a 2xx or a service's own error proves them
            # (a 5xx, 429 or gateway error may come before the signature is checked).
            status_code = response.status_code if response is not None else 0
            proven = not isinstance(result, ApiError) or (
                400 <= status_code < 500
                and status_code not in (401, 403, 407, 429)
                and not result.code.upper().startswith(("APIGW.", "APIG."))
            )
            date = response.headers.get("Date", "") if proven and response is not None else ""
            self._guards.accepted(account, proven, date)

    def _failed(
        self, target: TargetConfig, account: Account, endpoint: Endpoint, error: ApiError, sent_at: float
    ) -> None:
        self._metrics.error(target.account, target.cloud_service, target.region, error.reason.value)
        if error.reason is Reason.BAD_RESPONSE:
            _bad_response(target, error)
        if error.credentials_refused and (account.auth.type != "password" or error.login_refused):
            # With password auth a service's 401 after a fresh login is about that token's scope, not
            # the password: only IAM refusing the login pauses the account.
            _pause_account(self._guards, account, target, error)
        elif error.reason is Reason.THROTTLED and sent_at > endpoint.blocked_at:
            # One step per episode: the 429s of requests already in flight when the back-off began
            # do not double it again.
            endpoint.blocked_at = self._clock()
            endpoint.blocked_until = endpoint.blocked_at + endpoint.backoff
            endpoint.backoff = min(endpoint.backoff * 2, BACKOFF_MAX)


class ApiClient:
    """Queries status APIs for the targets of one configuration."""

    def __init__(
        self,
        config: Config,
        metrics: Observer,
        *,
        clock: Callable[[], float] = time.monotonic,
        transport: Callable[[str], httpx.AsyncBaseTransport] | None = None,
        unknown: UnknownStatuses | None = None,
        guards: Guards | None = None,
        domains: DomainIds | None = None,
    ) -> None:
        """`transport(account)` overrides the aiohttp transport (tests use httpx.MockTransport);
        `unknown` logs raw statuses outside a spec's state table, `guards` hold the pauses, back-offs
        and logins, `domains` the domain IDs; the exporter keeps one of each across reloads."""
        self._config, self._metrics, self._clock = config, metrics, clock
        self._unknown = unknown or UnknownStatuses()
        self._guards = guards or Guards(clock)
        self._connections = _Connections(
            config, metrics, self._guards, transport or self._default_transport, domains or DomainIds()
        )
        self._gate = _Gate(config, metrics, self._guards, clock)
        # Parsed URLs of the last two refreshes' requests: a running task's URL is asked for on every scrape,
        # and parsing it costs more than the rest of building its request.
        self._urls: dict[str, httpx.URL] = {}
        self._urls_before: dict[str, httpx.URL] = {}

    def _default_transport(self, account_name: str) -> httpx.AsyncBaseTransport:
        return _wire_transport(self._config, account_name)

    def _auth(self, target: TargetConfig) -> httpx.Auth:
        return self._connections.auth(target)

    def cooling_down(self, account: str) -> float:
        """Seconds left of the account's pause after refused credentials (0: none; inf: until the
        credentials change)."""
        return self._gate.cooling_down(account)

    def lone_first(self, account: str) -> bool:
        return self._gate.lone_first(account)

    async def send_iam(self, account: str, request: httpx.Request, auth: httpx.Auth) -> httpx.Response:
        """An IAM request of `account` (its project list, exporter/cloud/iam.py) over the account's
        transport (TLS and proxy settings), under its guard of refused credentials (`_Gate.iam`); no rate
        limit or metrics: it is asked once a day."""
        return await self._gate.iam(account, request, lambda: self._connections.send(account, request, auth))

    def _endpoint(self, account: str, base: str) -> Endpoint:
        return self._gate.endpoint(account, base)

    async def query(self, target: TargetConfig, task_id: str, timeout: float) -> TaskStatus | ApiError:
        """Ask for one task's status within `timeout` seconds."""
        spec = target.spec

        def unknown(raw: str) -> None:
            self._unknown.note(spec.name, raw)

        started = time.monotonic()
        params = dict(target.params)
        headers = request_headers(spec.status.headers, target.project_id, task_id, params) or None
        status = await self.get(
            target,
            spec.status_path(target.project_id, task_id, params),
            lambda body: read_status(spec, body, target.time_zone, unknown),
            timeout,
            spec.status_query(target.project_id, task_id, params) or None,
            headers=headers,
        )
        progress = spec.status.progress
        if not isinstance(status, TaskStatus) or status.state is not State.RUNNING:
            return status
        if progress is None or not progress.path:
            return status
        # DLI reports progress through an API of its own: asked while the task runs, with a quarter of
        # what is left of the budget (the status is known already and must not wait for long). Not asked
        # or not answered, the task keeps its last known progress (the tracker has it); answered without
        # one, it has none.
        left = timeout - (time.monotonic() - started)
        if left < PROGRESS_MIN_BUDGET:
            return dataclasses.replace(status, progress_unanswered=True)
        path = fill(progress.path, target.project_id, task_id, params)
        found = await self.get(
            target, path, lambda body: read_progress(spec, body), max(PROGRESS_MIN_BUDGET, left / 4), headers=headers
        )
        if isinstance(found, ApiError):
            log.debug("no progress for the task", **target.labels(), task_id=task_id, error=found.describe())
            return dataclasses.replace(status, progress_unanswered=True)
        return dataclasses.replace(status, progress=found) if found is not None else status

    async def get(
        self,
        target: TargetConfig,
        path: str,
        interpret: Callable[[Any], T],
        timeout: float,
        params: Mapping[str, str] | None = None,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        headers_into: dict[str, str] | None = None,
    ) -> T | ApiError:
        """Call `path` of the target's endpoint (GET, or POST with a JSON `body`) with the spec's
        `headers`, and `interpret` the JSON body (raising BadResponse when it is not the documented
        shape), with the account's auth, the endpoint's rate limit and back-off, the request metrics and
        the error classification of every query. `headers_into` receives the answer's headers."""
        held = await self._gate.hold(target, timeout)
        if held is not None:
            self._metrics.held_back(target.account, target.cloud_service, target.region, held[0].value)
            trace(f"{method} {target.endpoint}{path}: not sent, held back ({held[0].value}): {held[1].message}")
            return held[1]
        waited = await self._connections.domain_wait(target, timeout)
        if isinstance(waited, ApiError):
            return _not_signed(self._metrics, target, waited, f"{method} {target.endpoint}{path}")
        timeout -= waited
        endpoint = self._endpoint(target.account, target.endpoint)
        sent_at, started = self._clock(), time.perf_counter()
        call = _Call(method, target.endpoint + path, params, headers, body)
        try:
            result, response = await self._exchange(target, call, interpret, timeout)
        except SecretError as exc:
            # A rotating agent caught between writes: try again on the next scrape.
            return ApiError(Reason.AUTH, message=str(exc), sent=False)
        status_code = response.status_code if response is not None else 0
        labels = (target.account, target.cloud_service, target.region)
        self._metrics.request(*labels, str(status_code), time.perf_counter() - started)
        if TRACE.get() is not None:
            _trace(self._config.accounts[target.account].auth.type, call, timeout, status_code, result, started)
        if headers_into is not None and response is not None:
            headers_into.update((name.lower(), value) for name, value in response.headers.items())
        self._gate.settle(target, endpoint, result, response, sent_at)
        return result

    def _build(self, call: _Call, timeout: float) -> httpx.Request:
        headers = dict(REQUEST_HEADERS)
        if call.headers:
            headers.update(fresh_headers(call.headers))
        content = None
        if call.method == "POST":
            content = json.dumps(call.body, separators=(",", ":")).encode()
            if not any(name.lower() == "content-type" for name in headers):
                headers["Content-Type"] = JSON_CONTENT_TYPE
        return httpx.Request(
            call.method,
            self._url(call.url),
            params=call.params,
            headers=headers,
            content=content,
            extensions={"timeout": _timeouts(timeout), "deadline": asyncio.get_running_loop().time() + timeout},
        )

    async def _exchange(
        self, target: TargetConfig, call: _Call, interpret: Callable[[Any], T], timeout: float
    ) -> tuple[T | ApiError, httpx.Response | None]:
        """Send one request and read its answer; every failure becomes an ApiError (but a secret that
        cannot be read, which the caller handles)."""
        response: httpx.Response | None = None
        try:
            async with asyncio.timeout(timeout + DEADLINE_BACKSTOP):
                request = self._build(call, timeout)
                response = await self._connections.send(target.account, request, self._connections.auth(target))
            return _interpret(target, response, interpret), response
        except (TimeoutError, httpx.TimeoutException):
            return ApiError(Reason.TIMEOUT, message=f"no answer within {timeout:.1f}s"), response
        except httpx.DecodingError as exc:
            return ApiError(Reason.BAD_RESPONSE, message=f"the body could not be decoded: {exc}"), response
        except httpx.TransportError as exc:
            return ApiError(Reason.CONNECT, message=str(exc)), response
        except ApiFailure as exc:
            return exc.error, response
        except SecretError:
            raise
        except Exception as exc:  # one odd answer must fail one query, not the whole scrape
            repeated(
                log.error,
                "unexpected error in a cloud API request",
                (target.key, type(exc).__name__),
                exc_info=True,
                **target.labels(),
                path=call.url.removeprefix(target.endpoint),
            )
            return ApiError(Reason.CLIENT_ERROR, message=f"unexpected {type(exc).__name__} in the exporter"), response

    def new_refresh(self) -> None:
        """A refresh begins: URLs not asked for since the one before are forgotten."""
        self._urls_before, self._urls = self._urls, {}

    def _url(self, url: str) -> httpx.URL:
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = self._urls_before.pop(url, None) or httpx.URL(url)
            self._urls[url] = parsed
        return parsed

    async def aclose(self) -> None:
        await self._connections.aclose()


def _wire_transport(config: Config, account_name: str) -> httpx.AsyncBaseTransport:
    """The account's transport: aiohttp, with its TLS and proxy settings."""
    account = config.accounts[account_name]
    verify: ssl.SSLContext | bool = True
    if account.tls.insecure_skip_verify:
        verify = False
    elif account.tls.ca_file:
        verify = ssl.create_default_context()  # the system CAs, and the user's on top
        verify.load_verify_locations(cafile=account.tls.ca_file)
    return WireTransport(verify=verify, proxy=account.proxy or None, max_connections=config.scrape.concurrency)


@dataclasses.dataclass(frozen=True)
class _Call:
    """One request as the caller gives it: method, full URL, query, the spec's headers, a POST's body."""

    method: str
    url: str
    params: Mapping[str, str] | None
    headers: Mapping[str, str] | None
    body: Any


def _trace(auth_type: str, call: _Call, timeout: float, status_code: int, result: object, started: float) -> None:
    query = ("?" + "&".join(f"{k}={v}" for k, v in call.params.items())) if call.params else ""
    answer = result.describe() if isinstance(result, ApiError) else "read as the spec says"
    trace(
        f"{call.method} {call.url}{query} ({auth_type} auth, "
        f"timeout {timeout:.1f}s) -> {f'HTTP {status_code}' if status_code else 'no answer'} in "
        f"{(time.perf_counter() - started) * 1000:.0f} ms: {answer}"
    )


def _not_signed(metrics: Observer, target: TargetConfig, error: ApiError, call: str) -> ApiError:
    """A global service's call that is not sent, for want of the account's domain ID."""
    metrics.error(target.account, target.cloud_service, target.region, error.reason.value)
    trace(f"{call}: not sent: {error.message}")
    return error


def _bad_response(target: TargetConfig, error: ApiError) -> None:
    """Said once per target and kind of problem, then at every power of ten, with the count; the task
    keeps its last known values (huaweicloud_task_api_errors_total counts every one)."""
    repeated(
        log.warning,
        "bad response from the cloud; the task keeps its last known values",
        (target.key, error.kind),
        **target.labels(),
        kind=error.kind,
        error=error.describe(),
    )


def _pause_account(guards: Guards, account: Account, target: TargetConfig, error: ApiError) -> None:
    """Hold back all requests of the account, and say so once, naming no secret."""
    cause = ": ".join(p for p in (f"HTTP {error.status}" if error.status else "", error.code, error.message) if p)
    pause = guards.refused(account, cause)
    if pause is None:
        return  # an answer to a request sent before the pause began
    trace(f"account {account.name}: credentials refused ({error.describe()}); its requests are held back")
    fields = {
        "account": account.name,
        "auth_type": account.auth.type,
        "cloud_service": target.cloud_service,
        "region": target.region,
        "error": error.describe(),
        "failures_in_a_row": pause.failures,
    }
    if pause.failures >= MAX_AUTH_FAILURES:
        then = "requests of this account stop until its credentials change (in their file or the config)"
    else:
        then = f"requests of this account are paused for {account.auth_cooldown:.0f}s"
    if error.clock_skew:
        log.error(
            "the cloud rejected the request time (X-Sdk-Date): this machine's clock is more than 15 minutes "
            f"off; fix the clock (NTP); {then}",
            local_time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            server_time=error.server_date or "unknown",
            **fields,
        )
    else:
        log.error(f"authentication failed; {then}, so that the cloud does not lock the credentials", **fields)


def _interpret(target: TargetConfig, response: httpx.Response, interpret: Callable[[Any], T]) -> T | ApiError:
    status = target.spec.status
    request_id = response.headers.get("X-Request-Id", "")
    if response.status_code >= 300:
        error = classify(response.status_code, response.content, request_id=request_id)
        if error.clock_skew:
            error = dataclasses.replace(error, server_date=response.headers.get("Date", ""))
        return _service_reason(target, error)
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return ApiError(
            Reason.BAD_RESPONSE,
            response.status_code,
            message="the body is not valid JSON",
            request_id=request_id,
            kind="not JSON",
        )
    try:
        return interpret(body)
    except NoSuchTask as exc:
        return ApiError(Reason.NOT_FOUND, response.status_code, message=str(exc), request_id=request_id)
    except BadResponse as exc:
        # Some services answer errors with HTTP 200 (CodeArts' CC.0005xxxx; EVS documents an error
        # body among its 200 answers): such a body is that error, not a bad response.
        found = body_error(None, status.error_in_200, body)
        if found is None:
            return ApiError(
                Reason.BAD_RESPONSE, response.status_code, message=str(exc), request_id=request_id, kind=exc.kind
            )
        code, message = found
        error = _service_reason(target, ApiError(Reason.CLIENT_ERROR, response.status_code, code, message, request_id))
        # Once per target and code, then at every power of ten: CodeArts answers every made-up task
        # ID of a /probe so (huaweicloud_task_api_errors_total counts every one).
        repeated(
            log.info,
            "the cloud answered an error with HTTP 200",
            (target.key, code),
            **target.labels(),
            error=error.describe(),
            request_id=request_id,
        )
        return error


def _service_reason(target: TargetConfig, error: ApiError) -> ApiError:
    """The spec's word on an error: its own error codes, and what "not found" looks like."""
    status = target.spec.status
    reason = status.reasons.get(error.code)
    if (
        reason is None
        and error.reason is Reason.CLIENT_ERROR
        and error.code not in NO_SUCH_API_CODES  # the gateway's "no such API": a wrong endpoint, not a task
        and status.not_found.matches(error.status, error.code, error.message)
    ):
        reason = Reason.NOT_FOUND
    if reason is None or reason is error.reason:
        return error
    return dataclasses.replace(error, reason=reason)
