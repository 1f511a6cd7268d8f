"""What the exporter must remember about an account and an endpoint across reloads: the pause after
refused credentials, the 429 back-off and rate limit, and the IAM tokens of password logins.

One `Guards` object lives as long as the exporter; each configuration's `ApiClient` uses it. A pause
belongs to what the cloud locks: the access key (AK/SK), the IAM user (password) or the token, whatever
account name the config gives it, so two accounts with one AK, or a renamed account, share it. It also
remembers a digest of the refused credentials' values (kept in memory only): when they change (a
corrected secret file, a reload with new ones) one more request may go at once, while a reload that
keeps them keeps the pause: reloading cannot be used to send a refused key again. The refusals in a row
keep counting across such changes until a request is accepted, so the cloud's count of failures in a
row is never exceeded unseen.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from exporter.config import Account, SecretError

__all__ = [
    "BACKOFF_MAX",
    "BACKOFF_START",
    "MAX_AUTH_FAILURES",
    "MIN_PAUSE",
    "AuthPause",
    "Endpoint",
    "Guards",
    "RateLimiter",
    "identity",
    "lock_key",
]

BACKOFF_START, BACKOFF_MAX = 1.0, 60.0
# The cloud locks an AK after more than 5 failed authentications in a row. After this many the exporter
# stops using the credentials until they change (a rotated secret file, or a config reload).
MAX_AUTH_FAILURES = 5


# AK/SK: the gateway refuses a signature more than 15 minutes off its clock (APIGW.0303), and a refusal
# counts towards the AK lock. An account whose clock was more than this far off at the last answer sends
# its first request alone again, long before the clocks are 15 minutes apart.
CLOCK_MARGIN = 300.0

# A refusal holds the account's other requests back at least this long, whatever auth_cooldown says: the
# rest of a scrape must not follow a refused first request.
MIN_PAUSE = 1.0


def lock_key(account: Account) -> str:
    """What the cloud counts failed authentications against: the AK, the IAM user, or the token."""
    auth = account.auth
    try:
        if auth.type == "aksk" and auth.access_key is not None:
            return "ak:" + auth.access_key.reveal()
        if auth.type == "password":
            return f"user:{account.iam_endpoint}:{auth.domain_name}/{auth.user_name}"
        if auth.token is not None:
            return "token:" + hashlib.sha256(auth.token.reveal().encode()).hexdigest()
    except SecretError:
        pass
    return "account:" + account.name


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
    retry: bool = False  # the credentials changed since: one request may go now
    cause: str = ""  # the gateway's answer to the last refused request (its code and message)


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
        self._trusted: dict[str, str] = {}  # account name -> identity of the credentials the cloud accepted
        self._current: dict[str, str] = {}  # account name -> identity when its refresh began
        self._offsets: dict[str, float] = {}  # account name -> the cloud's clock minus ours, last reading
        self._clock_due: set[str] = set()  # accounts whose refresh has not read the cloud's clock yet

    # --- refused credentials ---------------------------------------------------------------------

    def cooling_down(self, account: Account) -> float:
        """Seconds left of the account's pause after refused credentials (0: none; inf: until the
        credentials change; -1: they just changed, which the caller says once)."""
        if not self._pauses:  # the usual case, without reading a secret for the lock key
            return 0.0
        pause = self._pauses.get(lock_key(account))
        if pause is None or pause.retry:
            return 0.0
        current = identity(account)
        if current and current != pause.identity:  # "": a secret file being rewritten; keep the pause
            pause.retry, pause.identity = True, current
            return -1.0
        if pause.failures >= MAX_AUTH_FAILURES:
            return float("inf")
        return max(pause.until - self.clock(), 0.0)

    def refused(self, account: Account, cause: str = "") -> AuthPause | None:
        """Count a refusal and pause the account; None for an answer to a request sent before the
        pause began (it counts once)."""
        key = lock_key(account)
        pause = self._pauses.get(key)
        now = self.clock()
        if pause is not None and pause.failures and now < pause.until and not pause.retry:
            return None
        if pause is None:
            pause = self._pauses[key] = AuthPause(identity(account))
        pause.failures += 1
        pause.until = now + max(account.auth_cooldown, MIN_PAUSE)
        pause.retry, pause.identity = False, identity(account) or pause.identity
        pause.cause = cause
        return pause

    def refusal(self, account: Account) -> str:
        """The gateway's answer that began the account's current pause ("" when there is none)."""
        pause = self._pauses.get(lock_key(account)) if self._pauses else None
        return pause.cause if pause is not None else ""

    def lone_first(self, account: Account) -> bool:
        """Whether the account's next refresh must send one request alone first: its credentials (as they
        are now) have not been accepted by the cloud yet, were refused before, or (AK/SK) the cloud's
        clock was more than CLOCK_MARGIN away from ours at the last reading, on the way to the gateway's
        15-minute limit."""
        current = self._current[account.name] = identity(account)
        self._clock_due.add(account.name)  # one reading of the cloud's clock per refresh
        if not current or (self._pauses and lock_key(account) in self._pauses):
            return True
        if account.auth.type == "aksk" and abs(self._offsets.get(account.name, 0.0)) > CLOCK_MARGIN:
            return True
        return self._trusted.get(account.name) != current

    def accepted(self, account: Account, proven: bool = False, server_date: str = "") -> None:
        """The cloud answered a request of the account with no complaint about its credentials: its pause
        ends. When the answer `proven`s them (a 2xx, or a service's own error, not the gateway's), the
        credentials count as accepted, if they are still the ones seen when the refresh began (else the
        next refresh sees a new identity and sends its first request alone again); `server_date` (the
        answer's Date header) gives the cloud's clock."""
        if self._pauses:
            self._pauses.pop(lock_key(account), None)
        if not proven:
            return
        name = account.name
        current = self._current.get(name)
        if current and self._trusted.get(name) != current and identity(account) == current:
            self._trusted[name] = current
        if server_date and name in self._clock_due:
            self._clock_due.discard(name)
            with contextlib.suppress(TypeError, ValueError, IndexError, OverflowError):
                self._offsets[name] = email.utils.parsedate_to_datetime(server_date).timestamp() - time.time()

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
        across reloads with its token. A new identity for the same account, IAM URL and scope (a rotated
        password, a new user) replaces the old login: its token is not kept for nothing. No identity (a
        secret file caught mid-write) is not new credentials: the login there is kept and used."""
        auth = self._logins.get(key)
        if auth is not None:
            return auth
        same_place = [k for k in self._logins if k[0] == key[0] and k[2:] == key[2:]]
        if not key[1] and same_place:
            return self._logins[same_place[0]]
        for old in same_place:
            del self._logins[old]
        auth = self._logins[key] = make()
        return auth

    def forget_accounts(self, accounts: Mapping[str, Account]) -> None:
        """After a reload: drop what is kept for accounts no longer configured (their endpoints' back-offs,
        what the cloud accepted of them, its clock) and the logins of accounts without a password now,
        tokens included. Pauses stay: they are the cloud's lock of the key, wherever it is configured."""
        for key in [k for k in self._logins if k[0] not in accounts or accounts[k[0]].auth.type != "password"]:
            del self._logins[key]
        for place in [p for p in self._endpoints if p[0] not in accounts]:
            del self._endpoints[place]
        for kept in (self._trusted, self._current, self._offsets):
            for name in [n for n in kept if n not in accounts]:
                del kept[name]
        self._clock_due &= set(accounts)


def _backoff(endpoint: Endpoint) -> tuple[float, float, float]:
    return endpoint.blocked_until, endpoint.blocked_at, endpoint.backoff
