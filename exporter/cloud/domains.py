"""The accounts' domain IDs, which sign the AK/SK calls of global services (`scope: domain`, as CDN).

An account's `domain_id` is used as written. Without one, the first call of a global service asks IAM
(`iam.find_domain_id`: `GET /v3/auth/domains`, as the SDK's GlobalCredentials does) within that call's
time, one question per account however many calls wait for it. The answer is kept as the region map
keeps its project lists (exporter/tracking/regions.py): asked again daily (`REFRESH`), after a reload
(`forget`) and when the account's credentials change; a failure is asked again after `RETRY` (a timeout
at the next call), and while IAM fails an account keeps the ID it had. Until an account has one, its
global calls are not sent: each gets an error that says why (IAM refused, unreachable, no domain listed).
Token and password accounts need none: their token is the domain's (password logins for global
targets are domain-scoped).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from exporter.cloud.errors import ApiError
from exporter.cloud.guards import identity
from exporter.cloud.iam import GLOBAL_IAM, IamError, Send, find_domain_id
from exporter.config import Account
from exporter.model import Reason

__all__ = ["REFRESH", "RETRY", "DomainAnswer", "DomainIds"]

log = structlog.get_logger(__name__)

REFRESH = 86400.0  # seconds: an account's domain ID is asked again daily
RETRY = 300.0  # seconds: after IAM refused or failed, before asking again


@dataclass(frozen=True)
class DomainAnswer:
    """What IAM said of one account: its domain ID, or why there is none (`error`)."""

    domain_id: str
    error: str = ""
    refused: bool = False
    again: float = 0.0  # when to ask again (the clock's time)
    who: str = ""  # the account's identity when asked: new credentials are asked again


class DomainIds:
    """The domain ID of each account with global targets; one object for the exporter's life."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.answers: dict[str, DomainAnswer] = {}
        self._forced: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}

    def forget(self) -> None:
        """A reload: ask every account again at its next global call (the IDs serve until then)."""
        self._forced = set(self.answers)

    def known(self, account: Account) -> str:
        """The account's domain ID as written or last given by IAM ("" when there is none yet)."""
        answer = self.answers.get(account.name)
        return account.domain_id or (answer.domain_id if answer is not None else "")

    async def domain_of(self, account: Account, send: Send, timeout: float) -> str | ApiError:
        """The account's domain ID, asked of IAM when due (within `timeout`), or the error to answer the
        call with (not sent)."""
        if account.domain_id:
            return account.domain_id
        lock = self._locks.setdefault(account.name, asyncio.Lock())
        async with lock:
            answer = self.answers.get(account.name)
            if answer is None or self._due(account, answer):
                answer = await self._ask(account, send, timeout, answer)
        if answer.domain_id:
            return answer.domain_id
        return ApiError(
            Reason.AUTH,
            message=f"no domain ID for account {account.name!r} to sign its global services' calls: {answer.error}",
            sent=False,
        )

    def _due(self, account: Account, answer: DomainAnswer) -> bool:
        return account.name in self._forced or answer.who != identity(account) or self._clock() >= answer.again

    async def _ask(self, account: Account, send: Send, timeout: float, old: DomainAnswer | None) -> DomainAnswer:
        self._forced.discard(account.name)
        who, now = identity(account), self._clock()
        base = account.iam_endpoint or GLOBAL_IAM.get(account.cloud, "")
        kept = old.domain_id if old is not None and old.who == who else ""
        again, refused = now + RETRY, False
        try:
            async with asyncio.timeout(timeout):
                found = await find_domain_id(account, base, send)
        except TimeoutError:
            error, again = f"IAM at {base} did not answer within {timeout:.1f}s", now  # the next call asks again
        except IamError as exc:
            error, refused = str(exc), exc.refused
        else:
            log.info("IAM gave the account's domain ID for its global services", account=account.name)
            answer = DomainAnswer(found, again=now + REFRESH, who=who)
            self.answers[account.name] = answer
            return answer
        kept_note = " (keeping the domain ID it gave before)" if kept else ""
        log.error(f"IAM did not give the account's domain ID; its global services wait{kept_note}",
                  account=account.name, error=error, retry_in=again - now)  # fmt: skip
        answer = DomainAnswer(kept, error, refused, again, who)
        self.answers[account.name] = answer
        return answer
