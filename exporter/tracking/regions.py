"""Whole accounts by region: a `regions:` target becomes one target per region, each with the account's
project there, as IAM lists it (exporter/cloud/iam.py).

One step of its own, between the loaded configuration and the tracker: `expand(config, answers)` is pure
(the configuration plus what IAM said gives the configuration with the region targets added), and
`RegionMap` holds IAM's answers per account: asked when a refresh finds one missing, a day old (`REFRESH`),
or its credentials changed, and again after a reload. A failed answer is asked again after `RETRY`, and
an account keeps its last good answer while IAM fails. What goes wrong is said per account (log, the
`huaweicloud_task_region_discovery_successful` gauge, `--config.check`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

import httpx
import structlog

from exporter.cloud.client import ApiClient
from exporter.cloud.guards import identity
from exporter.cloud.iam import IamError, RegionProjects, iam_base, list_projects, region_projects
from exporter.config import Account, Config, RegionTargets, TargetConfig

__all__ = [
    "REFRESH",
    "RETRY",
    "Answer",
    "RegionCheck",
    "RegionMap",
    "Send",
    "account_wide",
    "check_regions",
    "expand",
    "iam_host_of",
]

log = structlog.get_logger(__name__)

REFRESH = 86400.0  # seconds: an account's project list is asked again daily
RETRY = 300.0  # seconds: after IAM failed, before asking again

Send = Callable[[str, httpx.Request, httpx.Auth], Awaitable[httpx.Response]]  # (account, request, auth)


@dataclass(frozen=True)
class Answer:
    """What IAM said for one account: its region projects, or why there are none (`error`)."""

    projects: RegionProjects | None
    error: str = ""
    refused: bool = False
    at: float = 0.0
    who: str = ""  # the account's identity when asked: new credentials are asked again
    credentials: bool = False  # IAM refused the credentials (401), or the account's guard held it back

    @property
    def answered(self) -> bool:
        return self.projects is not None and not self.error


# Regions on a site of their own: an account there is unknown to the cloud's global IAM host.
OWN_SITES = {"huaweicloud": frozenset({"eu-west-101"})}


def iam_host_of(account: Account, region_targets: Iterable[RegionTargets]) -> str | None:
    """The IAM host to ask for the account's projects: its `iam_endpoint`, else the host of a site of its own
    (eu-west-101) when one of its `regions:` lists names that region, else the cloud's global host; whatever
    the order of the targets. With `regions: all` only, an account on the European site needs `iam_endpoint`."""
    named = {r for t in region_targets if t.account == account.name for r in t.regions}
    own = sorted(named & OWN_SITES.get(account.cloud, frozenset()))
    return iam_base(account, own[0] if own else None)


def _wanted(rt: RegionTargets, found: RegionProjects, offered: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """The regions of `rt` (`all`: the account's where the service exists, `offered`) and the problems of
    the others: a region IAM lists no project of, or several."""
    problems: list[str] = []
    regions = list(rt.regions) or sorted(r for r in found.regions if not offered or r in offered)
    for region in list(regions):
        if region in found.duplicates:
            ids = ", ".join(found.duplicates[region])
            problems.append(
                f"{rt.where}: {rt.cloud_service}: IAM lists {len(found.duplicates[region])} projects named {region} "
                f"({ids}); select one: write a target with region: {region} and its project_id"
            )
            regions.remove(region)
        elif region not in found.projects:
            listed = ", ".join(sorted(found.projects)) or "none"
            problems.append(
                f"{rt.where}: {rt.cloud_service}: account {rt.account} has no project for region {region} "
                f"(IAM lists projects for: {listed})"
            )
            regions.remove(region)
    return regions, problems


def expand(config: Config, answers: Mapping[str, Answer]) -> tuple[Config, list[tuple[str, str]]]:
    """The configuration with a target per region of each `regions:` target, and the problems found
    (account, message). A region with a hand-written target of the same account and service keeps that one."""
    taken = {(t.account, t.cloud_service, t.region) for t in config.targets}
    added: list[TargetConfig] = []
    problems: list[tuple[str, str]] = []
    for rt in config.region_targets:
        answer = answers.get(rt.account)
        if answer is None or answer.projects is None:
            why = answer.error if answer is not None else "IAM not asked yet"
            problems.append((rt.account, f"{rt.where}: {rt.cloud_service}: no regions for account {rt.account}: {why}"))
            continue
        cloud = config.accounts[rt.account].cloud
        regions, found = _wanted(rt, answer.projects, rt.spec.regions.get(cloud, ()))
        problems.extend((rt.account, problem) for problem in found)
        for region in regions:
            if (rt.account, rt.cloud_service, region) in taken:
                continue  # a hand-written target of that region
            added.append(rt.target(region, answer.projects.projects[region], _endpoint(rt, cloud, region)))
    if not added:
        return config, problems
    return dataclasses.replace(config, targets=config.targets + tuple(added)), problems


def account_wide(config: Config) -> list[str]:
    """Warnings for `regions:` targets of a service whose paths name no project (SMS): its list is the
    account's, so every region would list the same tasks again (README: one target per site instead)."""
    return [
        f"{rt.where}: {rt.cloud_service}: its API names no project (the account's tasks, whatever the region): "
        "with several regions each task would be counted once per region; write a target with one 'region'"
        for rt in config.region_targets
        if not rt.spec.needs_project_id and len(rt.regions) != 1
    ]


def _endpoint(rt: RegionTargets, cloud: str, region: str) -> str:
    endpoint = rt.endpoint.replace("{region}", region) if rt.endpoint else rt.spec.endpoint(cloud, region)
    assert endpoint is not None  # the config checked that the spec has a template for the cloud
    return endpoint


class RegionMap:
    """IAM's answers per account, asked when due; `expand` applies them to a configuration."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.answers: dict[str, Answer] = {}
        # Accounts to ask again at the next chance, with the reload that asked: an answer to a question that
        # began before that reload does not take the flag away.
        self._forced: dict[str, int] = {}
        self._reloads = 0

    def forget(self, accounts: Iterable[str]) -> None:
        """A reload: ask every account again at the next chance (the answers stay until then); the answers of
        accounts not in `accounts` (no longer configured) go."""
        keep = set(accounts)
        self.answers = {name: answer for name, answer in self.answers.items() if name in keep}
        self._reloads += 1
        self._forced = dict.fromkeys(keep, self._reloads)  # those being asked now too

    def due(self, config: Config) -> list[str]:
        """The accounts with `regions:` targets whose answer is missing, old, failed a while ago, or for
        other credentials."""
        return [
            name
            for name in dict.fromkeys(rt.account for rt in config.region_targets)
            if self._due(name, config.accounts[name])
        ]

    def _due(self, name: str, account: Account) -> bool:
        answer = self.answers.get(name)
        if answer is None or name in self._forced or answer.who != identity(account):
            return True
        return self._clock() - answer.at >= (RETRY if answer.error else REFRESH)

    async def ask(
        self, config: Config, accounts: Iterable[str], send: Send, timeout: float, *, say: bool = True
    ) -> None:
        """Ask IAM for the projects of `accounts`, all at once, within `timeout` seconds."""
        names, asked = list(accounts), self._reloads
        results = await asyncio.gather(*(self._ask_one(config, name, send, timeout) for name in names))
        for name, answer in zip(names, results, strict=True):
            old = self.answers.get(name)
            if self._forced.get(name, asked) <= asked:
                self._forced.pop(name, None)  # else a reload came meanwhile: asked again
            if answer.projects is None and old is not None and old.projects is not None and old.who == answer.who:
                # Keep the regions last known: an IAM outage must not take the targets away.
                answer = dataclasses.replace(answer, projects=old.projects)
            self.answers[name] = answer
            if say:
                self._say(name, answer)

    async def _ask_one(self, config: Config, name: str, send: Send, timeout: float) -> Answer:
        account = config.accounts[name]
        who, now = identity(account), self._clock()
        base = iam_host_of(account, config.region_targets)
        if base is None:
            return Answer(None, f"cloud {account.cloud!r} has no IAM host: set 'iam_endpoint'", at=now, who=who)

        async def sending(request: httpx.Request, auth: httpx.Auth) -> httpx.Response:
            return await send(name, request, auth)

        try:
            async with asyncio.timeout(timeout):
                projects = await list_projects(account, base, sending)
        except TimeoutError:
            return Answer(None, f"IAM at {base} did not answer within {timeout:.0f}s", at=now, who=who)
        except IamError as exc:
            return Answer(None, str(exc), refused=exc.refused, at=now, who=who, credentials=exc.credentials)
        return Answer(region_projects(projects), at=now, who=who)

    def _say(self, name: str, answer: Answer) -> None:
        if answer.error:
            log.error("IAM did not list the account's projects; its 'regions' targets wait",
                      account=name, error=answer.error, retry_in=RETRY,
                      kept_regions=answer.projects is not None)  # fmt: skip
        elif answer.projects is not None:
            log.info("IAM listed the account's region projects", account=name, regions=sorted(answer.projects.regions))
            for region, ids in answer.projects.duplicates.items():
                log.error("IAM lists several projects of one region's name; select one with a hand-written target",
                          account=name, region=region, project_ids=list(ids))  # fmt: skip

    def expand(self, config: Config) -> tuple[Config, list[tuple[str, str]]]:
        return expand(config, self.answers)


class _Quiet:
    """The client's observer in --config.check: nothing to count."""

    def request(self, account: str, cloud_service: str, region: str, code: str, seconds: float) -> None: ...

    def error(self, account: str, cloud_service: str, region: str, reason: str) -> None: ...

    def held_back(self, account: str, cloud_service: str, region: str, reason: str) -> None: ...

    def token(self, account: str, result: str) -> None: ...


@dataclass(frozen=True)
class RegionCheck:
    """--config.check's view of the `regions:` targets: the lines to print, the errors, and the number of
    targets IAM's answers expand them to."""

    lines: list[str]
    errors: list[str]
    added: int = 0
    warnings: list[str] = dataclasses.field(default_factory=list)


async def check_regions(config: Config, *, ask: bool = True, timeout: float = 10.0) -> RegionCheck:
    """--config.check: the targets `regions:` expands to (lines), and the errors: credentials IAM refused (they
    are wrong: a CI check must catch that), a region no spec and no IAM answer knows (a typo), one IAM lists
    no project or several projects of, for an account IAM answered. IAM unreachable, or refusing for want of
    permission, is said but not an error: the running exporter asks again."""
    named = [rt.account for rt in config.region_targets] + [doubt.account for doubt in config.region_doubts]
    accounts = list(dict.fromkeys(named))
    if not accounts:
        return RegionCheck([], [])
    regions = RegionMap(time.time)
    if ask:
        client = ApiClient(config, _Quiet())
        try:
            await regions.ask(config, accounts, client.send_iam, timeout, say=False)
        finally:
            await client.aclose()
    answers = regions.answers
    expanded, problems = regions.expand(config)
    added = expanded.targets[len(config.targets) :]
    lines = [f"  {'/'.join(t.key)}: {t.endpoint} (project from IAM)" for t in added]
    unanswered, refused = _unanswered(accounts, answers)
    errors = [problem for name, problem in problems if name in answers and answers[name].projects is not None]
    errors = refused + errors + _doubts(config, answers)
    return RegionCheck(lines + unanswered, errors, len(added), account_wide(config))


def _unanswered(accounts: Iterable[str], answers: Mapping[str, Answer]) -> tuple[list[str], list[str]]:
    """The lines of the accounts IAM gave no projects of, and the errors of those whose credentials it refused."""
    lines, refused = [], []
    for name in accounts:
        answer = answers.get(name)
        if answer is not None and answer.credentials:
            refused.append(f"account {name}: {answer.error}")
        elif answer is None or answer.projects is None:
            why = answer.error if answer is not None else "not asked (--config.without-secrets)"
            lines.append(f"  account {name}: could not list its projects with IAM: {why}; its regions are not checked")
    return lines, refused


def _doubts(config: Config, answers: Mapping[str, Answer]) -> list[str]:
    """The regions no spec lists that IAM does not confirm either."""
    errors = []
    for doubt in config.region_doubts:
        answer = answers.get(doubt.account)
        known = answer.projects.regions if answer is not None and answer.projects is not None else None
        if known is not None and doubt.region in known:
            continue
        unconfirmed = " and IAM lists no project of that name" if known is not None else " (IAM could not confirm it)"
        errors.append(f"{doubt.message}{unconfirmed}; a target with its own 'endpoint' may name any region")
    return errors
