"""What the exporter must remember about an account and an endpoint across reloads: the pause after
refused credentials, the 429 back-off and rate limit, and the IAM tokens of password logins.

One `Guards` object lives as long as the exporter; each configuration's `ApiClient` uses it. A pause
belongs to the credentials that were refused, identified by a digest of their values at the time (kept
in memory only), so it ends as soon as the credentials change, whether a secret file was corrected or a
reload brought new ones, and survives a reload that keeps them: reloading cannot be used to send a
refused key again.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from exporter.config import Account, SecretError

__all__ = [
    "BACKOFF_MAX",
    "BACKOFF_START",
    "MAX_AUTH_FAILURES",
    "AuthPause",
    "Endpoint",
    "Guards",
    "RateLimiter",
    "identity",
]

BACKOFF_START, BACKOFF_MAX = 1.0, 60.0
# The cloud locks an AK after more than 5 failed authentications in a row. After this many the exporter
# stops using the credentials until they change (a rotated secret file, or a config reload).
MAX_AUTH_FAILURES = 5


def identity(account: Account) -> str:
    """A digest of everything that says who the account signs in as, with the secrets' current values
    ("" when a secret file cannot be read)."""
    auth = account.auth
    parts = [account.cloud, account.iam_endpoint, auth.type, auth.user_name, auth.domain_name]
    try:
        for secret in (auth.token, auth.password, auth.access_key, auth.secret_key, auth.security_token):
            parts.append(secret.reveal() if secret is not None else "")
    except SecretError:
        return ""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


class RateLimiter:
    """A token bucket: `rate` requests per second on average, bursts of one second's worth (at least one
    request). A request that cannot get a slot within its budget does not take one, and a cancelled
    wait gives its slot back, so a scrape that ran out of time leaves nothing booked for the next."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self._clock = rate, clock
        self._capacity = max(1.0, rate)
        self._tokens, self._stamp = self._capacity, clock()

    async def acquire(self, budget: float = float("inf")) -> bool:
        """Wait for a slot; False (and no slot taken) when it would take longer than `budget` seconds."""
        if self.rate <= 0:
            return True
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        self._tokens -= 1.0
        if self._tokens >= 0:
            return True
        wait = -self._tokens / self.rate
        if wait > budget:
            self._tokens += 1.0
            return False
        try:
            await asyncio.sleep(wait)
        except asyncio.CancelledError:
            self._tokens += 1.0
            raise
        return True


@dataclass
class AuthPause:
    """An account's authentication failures in a row, and how long its requests are held back."""

    identity: str  # of the credentials that were refused
    failures: int = 0
    until: float = 0.0


@dataclass
class Endpoint:
    """Rate limit and 429 back-off of one account's requests to one endpoint."""

    limiter: RateLimiter
    blocked_until: float = 0.0
    blocked_at: float = float("-inf")  # when the current back-off began
    backoff: float = BACKOFF_START


class Guards:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._pauses: dict[str, AuthPause] = {}
        self._endpoints: dict[tuple[str, str], Endpoint] = {}
        self._logins: dict[tuple[str, ...], httpx.Auth] = {}

    # --- refused credentials ---------------------------------------------------------------------

    def cooling_down(self, account: Account) -> float:
        """Seconds left of the account's pause after refused credentials (0: none; inf: until the
        credentials change). New credentials end the pause at once."""
        pause = self._pauses.get(account.name)
        if pause is None:
            return 0.0
        if identity(account) != pause.identity:
            del self._pauses[account.name]
            return -1.0  # changed: the caller says so once
        if pause.failures >= MAX_AUTH_FAILURES:
            return float("inf")
        return max(pause.until - self.clock(), 0.0)

    def refused(self, account: Account) -> AuthPause | None:
        """Count a refusal and pause the account; None for an answer to a request sent before the
        pause began (it counts once)."""
        pause = self._pauses.get(account.name)
        now = self.clock()
        if pause is not None and pause.failures and now < pause.until:
            return None
        if pause is None:
            pause = self._pauses[account.name] = AuthPause(identity(account))
        pause.failures += 1
        pause.until = now + account.auth_cooldown
        return pause

    def accepted(self, account: str) -> None:
        self._pauses.pop(account, None)

    # --- endpoints -------------------------------------------------------------------------------

    def endpoint(self, account: str, base: str, rate: float) -> Endpoint:
        # Per account too: one account's quota (and its 429s) must not hold back another's.
        endpoint = self._endpoints.get((account, base))
        if endpoint is None or endpoint.limiter.rate != rate:
            limiter = RateLimiter(rate, self.clock)
            endpoint = Endpoint(limiter) if endpoint is None else Endpoint(limiter, *_backoff(endpoint))
            self._endpoints[(account, base)] = endpoint
        return endpoint

    # --- IAM logins ------------------------------------------------------------------------------

    def login(self, key: tuple[str, ...], make: Callable[[], httpx.Auth]) -> httpx.Auth:
        """The password login of `key` (account, its identity, IAM URL, project scope): one per key, kept
        across reloads with its token."""
        auth = self._logins.get(key)
        if auth is None:
            auth = self._logins[key] = make()
        return auth

    def forget_logins(self, keep: set[tuple[str, ...]]) -> None:
        for key in set(self._logins) - keep:
            del self._logins[key]


def _backoff(endpoint: Endpoint) -> tuple[float, float, float]:
    return endpoint.blocked_until, endpoint.blocked_at, endpoint.backoff
