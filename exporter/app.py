"""The running exporter: configuration, registry, API client and tracker, and their reload.

`server.py` routes HTTP requests to this object; `cli.py` builds it from flags.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector

from exporter.cloud.client import ApiClient
from exporter.cloud.domains import DomainIds
from exporter.cloud.guards import Guards
from exporter.config import Config, ConfigError, TargetConfig, load_config
from exporter.exposition.history import HistoryCollector
from exporter.exposition.metrics import SelfMetrics
from exporter.exposition.render import TaskText
from exporter.model import Shard
from exporter.services import UnknownStatuses
from exporter.tracking.refresh import Deadline
from exporter.tracking.regions import RegionMap, account_wide
from exporter.tracking.tracker import Tracker

__all__ = ["Exporter", "Runtime"]

log = structlog.get_logger(__name__)

MAX_SCRAPE_TIMEOUT = 600.0
RELOAD_WAIT = 5.0  # seconds a reload waits for a refresh in flight before closing its client


@dataclass(frozen=True)
class Runtime:
    """The running configuration and the client built for it: swapped whole, in one assignment, on a
    reload. Whatever must outlive a reload (guards, the task table) lives on
    the `Exporter`, not here."""

    config: Config
    client: ApiClient

    @property
    def targets(self) -> tuple[TargetConfig, ...]:
        return self.config.targets


class Exporter:
    def __init__(self, config: Config, *, clock: Callable[[], float] = time.time, shard: Shard | None = None) -> None:
        """`clock` is the exporter's one wall clock (task ages, TTLs, durations); tests share the fake
        cloud's simulated clock."""
        self.clock = clock
        self.registry = CollectorRegistry(auto_describe=False)
        self.metrics = SelfMetrics(self.registry)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.unknown = UnknownStatuses()  # raw statuses outside a spec's table, logged once per value
        self.guards = Guards()  # auth pauses, 429 back-offs, IAM logins: they outlive reloads
        self.domains = DomainIds()  # the accounts' domain IDs for global services: they outlive reloads too
        # The configuration as loaded; the running one adds a target per region of its `regions:` targets.
        self._loaded = config
        self.regions = RegionMap(clock)
        self._asking: asyncio.Future[None] | None = None
        self.runtime = Runtime(config, self._client(config))
        self.tracker = Tracker(
            config,
            self.runtime.client,
            clock=clock,
            on_drop=self.metrics.drop,
            on_saved=self.metrics.save,
            on_file_error=self.metrics.file_error,
            unknown=self.unknown,
            shard=shard,
            on_early_take=lambda: self.task_text.prepare(),
        )
        self.registry.register(HistoryCollector(self.tracker.history))
        self._closing: set[asyncio.Task[None]] = set()  # old clients waiting for their refresh to end
        # The task and target families: rendered by TaskText, after the registry's (TaskCollector yields
        # the same as prometheus-client objects, for /probe).
        self.task_text = TaskText(lambda: self.tracker.snapshot, clock, lambda: self.config.metrics)
        self._prepare(config)
        self._reload_lock = asyncio.Lock()
        self._config_stamp = self._file_stamp() if config.file else None  # the file as it was loaded

    @property
    def config(self) -> Config:
        return self.runtime.config

    @property
    def client(self) -> ApiClient:
        return self.runtime.client

    def _client(self, config: Config) -> ApiClient:
        return ApiClient(config, self.metrics, unknown=self.unknown, guards=self.guards, domains=self.domains)

    def _prepare(self, config: Config) -> None:
        for warning in config.warnings:
            log.warning("the configuration names a region its service spec does not list", detail=warning)
        for doubt in config.region_doubts:
            log.warning("the configuration names a region no service spec lists", detail=doubt.message)
        for warning in account_wide(config):
            log.warning("a 'regions' target of a service that lists the account's tasks", detail=warning)
        self.metrics.prepare({(t.account, t.cloud_service, t.region) for t in config.targets}, config.accounts)
        intake = config.intake
        self.metrics.prepare_intake(
            [name for name, on in (("smn", intake.smn), ("cloudevents", intake.cloudevents)) if on]
        )
        self.metrics.reload_ok.set(1)
        self.metrics.reload_time.set(self.clock())

    def scrape_timeout(self, header: str | None) -> float:
        """Prometheus's X-Prometheus-Scrape-Timeout-Seconds minus the offset, else the default."""
        settings = self.config.scrape
        try:
            timeout = float(header) if header else settings.default_timeout
        except ValueError:
            timeout = settings.default_timeout
        if not 0 < timeout < float("inf"):  # also catches NaN
            timeout = settings.default_timeout
        # Whoever can reach the port must not be able to hold a refresh open for a day.
        return min(max(timeout - settings.timeout_offset, 0.1), MAX_SCRAPE_TIMEOUT)

    async def refresh(self, timeout: float, scraper: str = "") -> None:
        """Wait at most `timeout` for the shared refresh, which has a budget of its own
        (`scrape.refresh_timeout`): one caller's header does not set it for everyone. `scraper`: the
        caller's address (answers another scraper's refresh brought are counted as shared)."""
        deadline = Deadline.after(timeout)  # one for both: the IAM wait takes from the tracker's time
        await self._ask_regions(timeout / 2)
        await self.tracker.refresh(deadline.left(), budget=self.config.scrape.refresh_timeout, scraper=scraper)

    async def _ask_regions(self, wait: float) -> None:
        """Ask IAM for the projects of the accounts whose answer is due (one request per account, shared by
        concurrent scrapes), waiting at most `wait` seconds for it; then serve a target per region."""
        if self._asking is None:
            due = self.regions.due(self._loaded)
            if not due:
                return
            asking = self._asking = asyncio.ensure_future(self._ask(due))
            asking.add_done_callback(lambda _: setattr(self, "_asking", None))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._asking), wait)

    async def _ask(self, accounts: list[str]) -> None:
        await self.regions.ask(self._loaded, accounts, self.client.send_iam, self.config.scrape.refresh_timeout)
        # The configuration loaded now, which a reload during the question may have changed: the answers are
        # per account and credentials (a reload's new ones are asked again at the next refresh).
        loaded = self._loaded
        config, problems = self.regions.expand(loaded)
        for account, problem in problems:
            log.error("a 'regions' target has a region the exporter cannot serve", account=account, detail=problem)
        troubled = {account for account, _ in problems}
        self.metrics.region_accounts(
            {
                account: self.regions.answers[account].answered and account not in troubled
                for account in accounts
                if account in loaded.accounts and account in self.regions.answers
            },
            keep=_region_accounts(loaded),
        )
        if config.targets != self.config.targets:
            log.info("targets per region", targets=len(config.targets), regions_targets=len(config.region_targets))
            self.runtime = Runtime(config, self.client)
            self.tracker.use(config, self.client)
            self.metrics.prepare({(t.account, t.cloud_service, t.region) for t in config.targets}, config.accounts)

    async def reload_if_changed(self) -> bool:
        """Reload when the config file changed since the last look (its mtime, size or inode: a
        Kubernetes ConfigMap swaps the file under its link); a file that stays broken is tried once."""
        stamp = self._file_stamp()
        if stamp is None or stamp == self._config_stamp:  # None: gone for a moment, being replaced
            return False
        self._config_stamp = stamp
        await self.reload()
        return True

    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.config.file)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    async def watch_config(self, interval: float) -> None:
        """`reload_if_changed` every `interval` seconds, until cancelled (`--config.auto-reload-interval`)."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.reload_if_changed()
            except Exception:  # a bug must not end the watch: say it, look again next time
                log.exception("watching the config file failed; trying again")

    async def reload(self) -> str | None:
        """Re-read the config file; on error keep the running config and return the message. A file
        whose text did not change is not applied again."""
        async with self._reload_lock:
            try:
                config = load_config(self.config.file)
            except ConfigError as exc:
                self.metrics.reload_ok.set(0)
                log.error("config reload failed; keeping the running configuration", error=str(exc))
                return str(exc)
            if config.checksum == self._loaded.checksum:
                self.metrics.reload_ok.set(1)
                self.metrics.reload_time.set(self.clock())
                log.info("config unchanged; nothing to reload", file=config.file)
                return None
            self.regions.forget(config.accounts)  # a changed file asks IAM again at the next refresh
            self.domains.forget()  # and again for the domain IDs, at the next global call
            # The regions IAM listed before serve until it answers again.
            self._loaded, config = config, self.regions.expand(config)[0]
            old, self.runtime = self.runtime, Runtime(config, self._client(config))
            self.tracker.use(config, self.runtime.client)
            await self.tracker.settle_files()  # the new task_files are read before the next scrape
            self.guards.forget_accounts(config.accounts)  # removed accounts' tokens are not kept
            self._prepare(config)
            self.metrics.region_accounts({}, keep=_region_accounts(config))
            # The old client closes once the refresh that uses it is over; a reload waits for that at most
            # RELOAD_WAIT, and otherwise leaves the closing to a task of its own.
            closing = asyncio.ensure_future(self._close_when_idle(old.client))
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(closing), RELOAD_WAIT)
            log.info(
                "config reloaded",
                file=config.file,
                targets=len(config.targets),
                regions_targets=len(config.region_targets),
                tasks=sum(len(t.tasks) for t in config.targets),
            )
            return None

    async def _close_when_idle(self, client: ApiClient) -> None:
        await self.tracker.wait_idle()
        await client.aclose()

    async def aclose(self) -> None:
        if self._closing:
            await asyncio.wait(self._closing)
        await self.tracker.wait_idle()
        await self.client.aclose()


def _region_accounts(config: Config) -> set[str]:
    return {rt.account for rt in config.region_targets}
