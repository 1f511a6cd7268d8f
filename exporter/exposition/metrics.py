"""The exporter's own instrumentation: calls made across all scrapes, token logins, config reloads.

Direct instrumentation on purpose (writing_exporters: "calls performed by the exporter across all
scrapes"); served on `/metrics` only, never on `/probe`. Series of configured targets are created up
front so that a dashboard's `rate()` sees 0 instead of nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from exporter import __version__
from exporter.cloud.client import HeldBack
from exporter.intake.smn import Result
from exporter.model import Reason
from exporter.tracking import DropReason, FileProblem, Saved

__all__ = ["SelfMetrics"]

_PREFIX = "huaweicloud_task_"
_INTAKE = (
    "Pushed messages (SMN notifications, CloudEvents) by source and result: " + ", ".join(r.value for r in Result) + "."
)
_DROPPED = (
    "Tasks that left the output: finished_ttl (finished long enough ago), not_found (the cloud no longer "
    "knows them), max_tasks (room for newer ones, or refused for lack of it), probe_ttl (no longer probed)."
)


class SelfMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            f"{_PREFIX}api_requests_total",
            "HTTP requests the exporter sent to cloud APIs, by HTTP status code (0 when no answer arrived).",
            ["account", "cloud_service", "region", "code"],
            registry=registry,
        )
        self.duration = Histogram(
            f"{_PREFIX}api_request_duration_seconds",
            "Time cloud API requests took.",
            ["account", "cloud_service", "region"],
            registry=registry,
            buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.errors = Counter(
            f"{_PREFIX}api_errors_total",
            "Failed cloud API queries, by reason: " + ", ".join(r.value for r in Reason) + ".",
            ["account", "cloud_service", "region", "reason"],
            registry=registry,
        )
        self.held = Counter(
            f"{_PREFIX}api_held_back_total",
            "Cloud API requests the exporter did not send, by reason: " + ", ".join(r.value for r in HeldBack) + ".",
            ["account", "cloud_service", "region", "reason"],
            registry=registry,
        )
        self.token_requests = Counter(
            f"{_PREFIX}auth_token_requests_total",
            "IAM token requests (password logins), by result: success or failure.",
            ["account", "result"],
            registry=registry,
        )
        self.intake_messages = Counter(
            f"{_PREFIX}intake_messages_total", _INTAKE, ["source", "result"], registry=registry
        )
        self.dropped = Counter(f"{_PREFIX}dropped_total", _DROPPED, ["cloud_service", "reason"], registry=registry)
        self.saved = Counter(
            f"{_PREFIX}api_calls_saved_total",
            "Status queries a refresh did not send: interval (the task was not due: its last answer is younger "
            "than its poll interval, or its last query failed less than its base interval ago), shared (not due, "
            "and that answer came after this scraper's last refresh: another scraper's, or a probe's), list "
            "(due tasks a list refresh answered, less the pages it took).",
            ["cloud_service", "reason"],
            registry=registry,
        )
        self.file_errors = Counter(
            f"{_PREFIX}file_errors_total",
            "Problems with task files: unreadable, parse (not valid YAML/JSON or not the documented shape), "
            "invalid_entry, unmatched (an entry that matches no configured target, or several).",
            ["reason"],
            registry=registry,
        )
        self._request_children: dict[tuple[str, str, str, str], tuple[Counter, Histogram]] = {}
        self._targets: set[tuple[str, str, str]] = set()  # the targets and accounts whose series exist
        self._accounts: set[str] = set()
        self._region_accounts: set[str] = set()
        self._exporter_families(registry)

    def _exporter_families(self, registry: CollectorRegistry) -> None:
        """The exporter's own: its build, and its last config load."""
        build = Gauge(
            f"{_PREFIX}exporter_build_info",
            "Always 1; the exporter's version as a label.",
            ["version"],
            registry=registry,
        )
        build.labels(__version__).set(1)
        self.reload_ok = Gauge(
            f"{_PREFIX}exporter_config_last_reload_successful",
            "1 if the last configuration load succeeded, else 0.",
            registry=registry,
        )
        self.reload_time = Gauge(
            f"{_PREFIX}exporter_config_last_reload_success_timestamp_seconds",
            "When the configuration was last loaded successfully.",
            registry=registry,
        )

        self.region_discovery = Gauge(
            f"{_PREFIX}region_discovery_successful",
            "1 if IAM answered the account's last project list and every region its 'regions' targets need has "
            "exactly one project; 0 when IAM refused or failed (the regions it listed before still serve), or a "
            "region they need has no project or several. Accounts with 'regions' targets only.",
            ["account"],
            registry=registry,
        )

    def prepare_intake(self, sources: Iterable[str]) -> None:
        """The zero-valued series of the intake doors that are on (smn, cloudevents); a door turned off
        keeps its counts (they happened)."""
        for source in sources:
            for result in Result:
                self.intake_messages.labels(source, result.value)

    def intake(self, source: str, result: str) -> None:
        self.intake_messages.labels(source, str(result)).inc()

    def prepare(self, targets: Iterable[tuple[str, str, str]], accounts: Iterable[str]) -> None:
        """Create the zero-valued series of configured targets (account, cloud_service, region) and accounts,
        and remove those of the targets and accounts no longer configured (a reload, a region IAM no longer
        lists)."""
        targets, accounts = set(targets), set(accounts)
        self._forget(targets, accounts)
        self._targets, self._accounts = targets, accounts
        for problem in FileProblem:
            self.file_errors.labels(problem.value)
        for account, service, region in targets:
            for drop in DropReason:
                self.dropped.labels(service, drop.value)
            for saving in Saved:
                self.saved.labels(service, saving.value)
            self.duration.labels(account, service, region)
            for reason in Reason:
                self.errors.labels(account, service, region, reason.value)
            for held in HeldBack:
                self.held.labels(account, service, region, held.value)
        for account in accounts:
            for result in ("success", "failure"):
                self.token_requests.labels(account, result)

    def _forget(self, targets: set[tuple[str, str, str]], accounts: set[str]) -> None:
        """Remove the series of the targets and accounts prepared before that are not in these."""
        gone = self._targets - targets
        for key in [k for k in self._request_children if k[:3] in gone]:
            del self._request_children[key]
            self.requests.remove(*key)
        for account, service, region in gone:
            self.duration.remove(account, service, region)
            for reason in Reason:
                self.errors.remove(account, service, region, reason.value)
            for held in HeldBack:
                self.held.remove(account, service, region, held.value)
        for service in {t[1] for t in gone} - {t[1] for t in targets}:
            for drop in DropReason:
                self.dropped.remove(service, drop.value)
            for saving in Saved:
                self.saved.remove(service, saving.value)
        for account in self._accounts - accounts:
            for result in ("success", "failure"):
                self.token_requests.remove(account, result)

    def region_accounts(self, ok: Mapping[str, bool], keep: Iterable[str]) -> None:
        """Set the region discovery gauge of the accounts in `ok`, and remove it for accounts not in `keep`
        (those without `regions:` targets now)."""
        for account, good in ok.items():
            self.region_discovery.labels(account).set(1 if good else 0)
        for account in self._region_accounts - set(keep):
            self.region_discovery.remove(account)
        self._region_accounts = (self._region_accounts | set(ok)) & set(keep)

    def request(self, account: str, cloud_service: str, region: str, code: str, seconds: float) -> None:
        # The label children looked up once: thousands of requests per scrape go through here.
        key = (account, cloud_service, region, code)
        children = self._request_children.get(key)
        if children is None:
            children = self._request_children[key] = (
                self.requests.labels(*key),
                self.duration.labels(account, cloud_service, region),
            )
        children[0].inc()
        children[1].observe(seconds)

    def error(self, account: str, cloud_service: str, region: str, reason: str) -> None:
        self.errors.labels(account, cloud_service, region, reason).inc()

    def held_back(self, account: str, cloud_service: str, region: str, reason: str) -> None:
        self.held.labels(account, cloud_service, region, reason).inc()

    def drop(self, cloud_service: str, reason: DropReason, count: int) -> None:
        self.dropped.labels(cloud_service, reason.value).inc(count)

    def save(self, cloud_service: str, reason: Saved, count: int) -> None:
        self.saved.labels(cloud_service, reason.value).inc(count)

    def file_error(self, reason: FileProblem) -> None:
        self.file_errors.labels(reason.value).inc()

    def token(self, account: str, result: str) -> None:
        self.token_requests.labels(account, result).inc()
