"""YAML -> typed configuration, or a `ConfigError` that names the file, the key path and the line.

Pure parsing and validation: nothing here opens a socket. The shape is DESIGN section 4; every key is
documented in `config.example.yaml`. Unknown keys are errors (a typo must not silently disable a
feature), `${ENV}` is expanded in every string value, and every secret also accepts `<key>_file`.
A credential with whitespace is refused, and so is a URL with user info anywhere but in `proxy`.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any, Literal

import structlog

from exporter.config.intake import IntakeSettings, parse_intake
from exporter.config.secrets import NO_WHITESPACE, Secret, SecretError, whitespace_flaw
from exporter.model import ID_DESCRIPTION, SINGLE_ID, TaskIdentity, valid_id
from exporter.schema import (
    ConfigError,
    Ctx,
    Section,
    WithoutSecrets,
    duration,
    expand,
    load_document,
    read_url,
    scalar_text,
    time_zone,
)
from exporter.services import BUILTIN, CLOUDS, GLOBAL_REGION, ServiceSpec, read_spec

__all__ = [
    "DEFAULT_DURATION_BUCKETS",
    "Account",
    "AuthConfig",
    "CloudTrace",
    "Config",
    "DiscoverConfig",
    "HistorySettings",
    "RegionDoubt",
    "RegionTargets",
    "ScrapeSettings",
    "TargetConfig",
    "TlsConfig",
    "TrackingSettings",
    "load_config",
    "parse_config",
]

log = structlog.get_logger(__name__)

AUTH_TYPES = ("token", "password", "aksk")
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
REGION_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


@dataclass(frozen=True)
class AuthConfig:
    """How one account authenticates. Only the fields of its `type` are set."""

    type: Literal["token", "password", "aksk"]
    token: Secret | None = None
    user_name: str = ""
    domain_name: str = ""
    password: Secret | None = None
    access_key: Secret | None = None
    secret_key: Secret | None = None
    security_token: Secret | None = None


@dataclass(frozen=True)
class TlsConfig:
    ca_file: str = ""  # extra CA bundle to trust (a corporate proxy, a private endpoint)
    insecure_skip_verify: bool = False


CLOUD_TRACE_DELAY = 300.0  # seconds: how late a trace may be queryable ("several minutes", CTS FAQ)


@dataclass(frozen=True)
class CloudTrace:
    """An account's Cloud Trace Service discovery: the job IDs in the traces of recent operations of
    `service_types` (within `lookback` seconds), tracked under the account's target of the service
    whose spec names that type, in the same region and project."""

    service_types: tuple[str, ...]
    lookback: float = 3600.0
    endpoint: str = ""  # empty: CTS's host in the target's region


@dataclass(frozen=True)
class Account:
    name: str
    cloud: str
    auth: AuthConfig
    iam_endpoint: str = ""  # empty: from the cloud's template and the target's region
    # After an authentication failure no request of this account is sent for this long: the cloud
    # locks an AK for 5 minutes after more than 5 consecutive failed signatures.
    auth_cooldown: float = 300.0
    tls: TlsConfig = field(default_factory=TlsConfig)
    # Empty: HTTPS_PROXY / HTTP_PROXY / NO_PROXY from the environment. Its user info is a secret.
    proxy: str = field(default="", repr=False)
    cloud_trace: CloudTrace | None = None
    # The account's domain ID, which signs AK/SK calls to global services (X-Domain-Id); empty: asked
    # of IAM (`GET /v3/auth/domains`) when the account has a target of a global service.
    domain_id: str = ""


@dataclass(frozen=True)
class DiscoverConfig:
    """Whether and where a target finds tasks with its service's list API (the spec's `discover`):
    the values of its `config_key` (CodeArts project IDs, CPH request IDs), or just "on"."""

    enabled: bool = False
    values: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.enabled


@dataclass(frozen=True)
class TargetConfig:
    """One polled target: a cloud service (its spec) of one account in one region and project."""

    cloud_service: str
    account: str
    region: str
    project_id: str
    endpoint: str
    time_zone: tzinfo
    tasks: tuple[str, ...]
    discover: DiscoverConfig
    spec: ServiceSpec = field(repr=False)
    # The spec's path parameters, from the target's `params:` (MRS: the cluster ID).
    params: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> tuple[str, str, str, str]:
        """The target's label values: account, cloud_service, region, project_id."""
        return (self.account, self.cloud_service, self.region, self.project_id)

    @functools.cached_property
    def identity(self) -> TaskIdentity:
        """How its tasks are named: the spec's identity, with the parent's ID first when fanned out."""
        return self.spec.identity_for(dict(self.params))

    @property
    def fanned_out(self) -> bool:
        """Whether the target tracks the tasks of every parent its spec's parent list names."""
        return self.spec.parents is not None and self.spec.parents.param not in dict(self.params)

    def labels(self) -> dict[str, str]:
        """The target's labels by name, for log lines."""
        return {
            "account": self.account,
            "cloud_service": self.cloud_service,
            "region": self.region,
            "project_id": self.project_id,
        }


@dataclass(frozen=True)
class RegionTargets:
    """A target for many regions (`regions:`): one `TargetConfig` per region, each with the account's
    project there as IAM lists it (exporter/tracking/regions.py), labelled as a hand-written one."""

    cloud_service: str
    account: str
    regions: tuple[str, ...]  # empty: `all`, the account's regions where the spec offers the service
    endpoint: str  # empty: the spec's template in each region; else the target's own, {region} filled in
    time_zone: tzinfo
    discover: DiscoverConfig
    spec: ServiceSpec = field(repr=False)
    params: tuple[tuple[str, str], ...] = ()
    where: str = ""  # file:line, for messages

    def target(self, region: str, project_id: str, endpoint: str) -> TargetConfig:
        return TargetConfig(
            self.cloud_service, self.account, region, project_id, endpoint, self.time_zone, (), self.discover,
            self.spec, self.params,
        )  # fmt: skip


@dataclass(frozen=True)
class RegionDoubt:
    """A target's region that no service spec lists for its cloud: a typo unless IAM knows it (an error
    in --config.check then, a warning when the exporter runs)."""

    account: str
    region: str
    message: str


@dataclass(frozen=True)
class ScrapeSettings:
    concurrency: int = 32
    timeout_offset: float = 0.5
    default_timeout: float = 10.0
    rate_limit: float = 200.0  # requests per second per endpoint; 0 turns the limit off
    # The shared refresh's own budget: a scrape that starts it does not set it for the others, whatever
    # its X-Prometheus-Scrape-Timeout-Seconds says.
    refresh_timeout: float = 10.0


@dataclass(frozen=True)
class TrackingSettings:
    """How long tasks stay, and how many (DESIGN section 6)."""

    finished_ttl: float = 86400.0  # from when the exporter first saw the task in a final state
    not_found_limit: int = 3  # consecutive not-found answers before a task is dropped
    max_tasks: int = 1000  # per target; the oldest finished tasks go first
    probe_ttl: float = 3600.0  # a task only /probe asks about leaves after this long without a probe
    discovery_interval: float = 300.0
    task_files_interval: float = 5.0
    # The least time between two asks of one task (0: on every scrape), growing with the task's age up to
    # `max_poll_interval`; per cloud service in `poll_intervals` (exporter/tracking/due.py).
    poll_interval: float = 30.0  # 0: every scrape
    max_poll_interval: float = 300.0
    poll_intervals: tuple[tuple[str, float], ...] = ()

    def poll_interval_for(self, cloud_service: str, hint: float | None = None) -> float:
        """A service's poll interval: the config's for it, else its spec's hint, else `poll_interval`."""
        for name, seconds in self.poll_intervals:
            if name == cloud_service:
                return seconds
        return self.poll_interval if hint is None else hint


# Per-task families that `metrics.exclude` may leave out: all but huaweicloud_task_status, which the
# alerts and dashboards are built on.
EXCLUDABLE = (
    "huaweicloud_task_info",
    "huaweicloud_task_progress_ratio",
    "huaweicloud_task_remaining_seconds",
    "huaweicloud_task_start_timestamp_seconds",
    "huaweicloud_task_end_timestamp_seconds",
    "huaweicloud_task_duration_seconds",
    "huaweicloud_task_error_info",
    "huaweicloud_task_sub_tasks",
    "huaweicloud_task_last_update_timestamp_seconds",
    "huaweicloud_task_id_part_info",
)


@dataclass(frozen=True)
class MetricsSettings:
    """What the per-task families show (all of docs/metrics.md's by default)."""

    # "all": six huaweicloud_task_status series per task; "current": a final task only its final state's.
    finished_states: str = "all"
    exclude: frozenset[str] = frozenset()  # of EXCLUDABLE

    @property
    def current_only(self) -> bool:
        return self.finished_states == "current"


# Completion durations (seconds): from a second to two days, as jobs on this cloud run from an EIP
# batch to a CBR backup of a large server.
DEFAULT_DURATION_BUCKETS = (
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0,
    43200.0, 86400.0, 172800.0,
)  # fmt: skip


@dataclass(frozen=True)
class HistorySettings:
    """What the history-grade families keep (`history:`; exporter/tracking/history.py)."""

    retention: float = 7 * 86400.0  # a resource's latest-finished series, after that end
    max_resources: int = 100_000
    duration_buckets: tuple[float, ...] = DEFAULT_DURATION_BUCKETS
    service_buckets: Mapping[str, tuple[float, ...]] = field(default_factory=dict)  # by cloud_service

    def buckets_for(self, cloud_service: str) -> tuple[float, ...]:
        return self.service_buckets.get(cloud_service, self.duration_buckets)


@dataclass(frozen=True)
class Config:
    accounts: Mapping[str, Account]
    targets: tuple[TargetConfig, ...]
    scrape: ScrapeSettings = field(default_factory=ScrapeSettings)
    file: str = ""
    tracking: TrackingSettings = field(default_factory=TrackingSettings)
    task_files: tuple[str, ...] = ()
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    history: HistorySettings = field(default_factory=HistorySettings)
    # Built-in and custom specs by name, and what --config.check warns about (a region a spec does not list).
    services: Mapping[str, ServiceSpec] = field(default_factory=lambda: dict(BUILTIN))
    warnings: tuple[str, ...] = ()
    checksum: str = ""
    region_targets: tuple[RegionTargets, ...] = ()  # expanded per region at run time, from IAM
    region_doubts: tuple[RegionDoubt, ...] = ()  # of the file's text: a reload of an unchanged file does nothing
    intake: IntakeSettings = field(default_factory=IntakeSettings)  # pushed hints of new jobs (SMN, CloudEvents)


# --- The sections ----------------------------------------------------------------------------------


_AUTH_KEYS = {
    "token": ("token", "token_file"),
    "password": ("user_name", "domain_name", "password", "password_file"),
    "aksk": ("access_key", "access_key_file", "secret_key", "secret_key_file", "security_token", "security_token_file"),
}


_ENV_REF_ONLY = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")


def _secret(section: Section, key: str, *, required: bool, warn_plain: bool = True) -> Secret | None:
    """`key` inline (plain text is accepted with a warning unless it came from ${ENV}) or `key_file`."""
    file_key = f"{key}_file"
    if section.has(key) and section.has(file_key):
        section.ctx.fail(f"give either {key!r} or {file_key!r}, not both")
    if section.has(file_key):
        return _secret_file(section, file_key)
    if section.has(key):
        return _inline_secret(section, key, warn_plain)
    if required:
        section.ctx.fail(f"missing required key {key!r} (or {file_key!r})")
    return None


def _secret_file(section: Section, file_key: str) -> Secret:
    ctx, _ = section.raw(file_key)
    path = section.string(file_key, expect="a file path")
    try:
        return Secret.from_file(path)
    except SecretError as exc:
        # Without secrets (CI) a file that is not there is listed; one that was read and is wrong is an error.
        if isinstance(ctx.env, WithoutSecrets) and not exc.malformed:
            ctx.env.note(ctx, str(exc))
            return Secret(path=Path(path))
        ctx.fail(str(exc))


def _inline_secret(section: Section, key: str, warn_plain: bool) -> Secret:
    ctx, value = section.raw(key)
    if not isinstance(value, str) or not value:
        ctx.fail(f"expected a non-empty string, or '{key}_file' with a file path")
    text = expand(ctx, value, file_key=f"{key}_file")
    if not text:
        ctx.fail("expands to an empty value")
    if flaw := whitespace_flaw(text):
        # Named by the variable it came from (a newline from `echo` into a Kubernetes Secret is the usual one).
        source = value if _ENV_REF_ONLY.fullmatch(value) else "the value"
        ctx.fail(f"{source} {flaw}; {NO_WHITESPACE}")
    if "${" not in value and warn_plain:
        log.warning(
            "plain-text secret in the config file; use ${ENV} or a *_file key",
            key=ctx.path,
            file=ctx.file,
            line=ctx.line,
        )
    return Secret.inline(text)


def _auth(section: Section) -> AuthConfig:
    ctx, value = section.raw("auth")
    if value is None:
        section.ctx.fail("missing required key 'auth': expected a mapping with 'type' (token, password or aksk)")
    auth = Section(ctx, value, "the account's authentication")
    kind = auth.string("type", required=True, choices=AUTH_TYPES, expect="token, password or aksk")
    auth.allow("type", *_AUTH_KEYS[kind])
    result: AuthConfig
    if kind == "token":
        result = AuthConfig(type="token", token=_secret(auth, "token", required=True))
    elif kind == "password":
        result = AuthConfig(
            type="password",
            user_name=auth.string("user_name", required=True, expect="the IAM user name"),
            domain_name=auth.string("domain_name", required=True, expect="the account (domain) name"),
            password=_secret(auth, "password", required=True),
        )
    else:
        result = AuthConfig(
            type="aksk",
            # The access key identifies, the secret key proves: only the latter is worth a warning.
            access_key=_secret(auth, "access_key", required=True, warn_plain=False),
            secret_key=_secret(auth, "secret_key", required=True),
            security_token=_secret(auth, "security_token", required=False),
        )
    return result


def _account(ctx: Ctx, value: Any, services: Mapping[str, ServiceSpec]) -> Account:
    section = Section(ctx, value, "an account")
    section.allow("name", "cloud", "iam_endpoint", "auth", "auth_cooldown", "tls", "proxy", "discover", "domain_id")
    name = section.string(
        "name", required=True, pattern=NAME_PATTERN, expect="a name of letters, digits, '_', '.', '-'"
    )
    cloud = section.string("cloud", default="huaweicloud", choices=CLOUDS)
    iam_endpoint = section.string("iam_endpoint", expect="a URL such as https://iam.example.com")
    if iam_endpoint:
        read_url(section.raw("iam_endpoint")[0], iam_endpoint, _URL_EXPECTED)
    auth = _auth(section)
    if cloud == "custom" and auth.type == "password" and not iam_endpoint:
        section.ctx.fail("cloud 'custom' with password authentication needs 'iam_endpoint'")
    cooldown = section.number("auth_cooldown", 300, minimum=0, maximum=86400)
    proxy = section.string("proxy", expect="a proxy URL such as http://proxy.example.com:3128")
    if proxy:
        read_url(section.raw("proxy")[0], proxy, _URL_EXPECTED, user_info=True)
    return Account(
        name=name,
        cloud=cloud,
        auth=auth,
        iam_endpoint=iam_endpoint.rstrip("/"),
        auth_cooldown=cooldown,
        tls=_tls(section, name),
        proxy=proxy,
        cloud_trace=_cloud_trace(section, services),
        domain_id=_domain_id(section),
    )


def _domain_id(account: Section) -> str:
    domain_id = account.string("domain_id", expect=f"the account's domain ID ({ID_DESCRIPTION})").strip()
    if domain_id and not valid_id(domain_id):
        ctx = account.raw("domain_id")[0]
        ctx.fail(f"expected the account's domain ID ({ID_DESCRIPTION}), got {ctx.show(domain_id)}")
    return domain_id


def _cloud_trace_warnings(
    accounts: Mapping[str, Account], targets: list[TargetConfig], tracking: TrackingSettings
) -> list[str]:
    """What makes an account's Cloud Trace Service discovery miss jobs, said by --config.check."""
    found = []
    for account in accounts.values():
        trace = account.cloud_trace
        if trace is None:
            continue
        traced = [t for t in targets if t.account == account.name and t.spec.trace is not None]
        regions = sorted(
            {t.region for t in traced if t.spec.trace and t.spec.trace.service_type in trace.service_types}
        )
        if trace.endpoint and "{region}" not in trace.endpoint and len(regions) > 1:
            found.append(
                f"account {account.name}: cloud_trace.endpoint {trace.endpoint} is asked for the traces of "
                f"{len(regions)} regions ({', '.join(regions)}); write {{region}} in it for a host per region"
            )
        if not regions:
            found.append(f"account {account.name}: cloud_trace names {', '.join(trace.service_types)}, but the "
                         "account has no target of those services")  # fmt: skip
        needed = tracking.discovery_interval + CLOUD_TRACE_DELAY
        if trace.lookback < needed:
            found.append(
                f"account {account.name}: cloud_trace.lookback ({trace.lookback:g} s) is shorter than "
                f"tracking.discovery_interval plus the traces' delay ({needed:g} s): jobs whose traces arrive "
                "between two discoveries are missed"
            )
    return found


def _cloud_trace(account: Section, services: Mapping[str, ServiceSpec]) -> CloudTrace | None:
    ctx, value = account.raw("discover")
    if value is None:
        return None
    discover = Section(ctx, value, "the account's discovery sources ({cloud_trace})")
    discover.allow("cloud_trace")
    trace_ctx, raw = discover.raw("cloud_trace")
    if raw is None:
        ctx.fail("expected 'cloud_trace' ({service_types, lookback, endpoint})")
    trace = Section(trace_ctx, raw, "Cloud Trace Service discovery ({service_types, lookback, endpoint})")
    trace.allow("service_types", "lookback", "endpoint")
    known = {spec.trace.service_type: name for name, spec in services.items() if spec.trace is not None}
    types: list[str] = []
    for item_ctx, item in trace.items("service_types", "CTS service types"):
        if not isinstance(item, str) or item not in known:
            offered = ", ".join(f"{t} ({known[t]})" for t in sorted(known))
            item_ctx.fail(f"expected a service type a spec's 'trace' names: {offered}; got {item_ctx.describe(item)}")
        if item not in types:
            types.append(item)
    if not types:
        trace_ctx.fail("expected 'service_types' with at least one CTS service type, such as [EVS, ECS]")
    endpoint = trace.string("endpoint", expect="a URL such as https://cts.{region}.example.com")
    if endpoint:
        read_url(trace.raw("endpoint")[0], endpoint.replace("{region}", "region"), _URL_EXPECTED)
    elif account.string("cloud", default="huaweicloud") == "custom":
        trace_ctx.fail("cloud 'custom' has no CTS host: set 'endpoint' (it may contain {region})")
    # CTS keeps traces of the last 7 days only.
    lookback = trace.number("lookback", 3600, minimum=60, maximum=7 * 86400)
    return CloudTrace(tuple(types), lookback, endpoint.rstrip("/"))


def _tls(account: Section, name: str) -> TlsConfig:
    ctx, value = account.raw("tls")
    if value is None:
        return TlsConfig()
    section = Section(ctx, value, "TLS settings")
    section.allow("ca_file", "insecure_skip_verify")
    ca_file = section.string("ca_file", expect="a PEM file of CA certificates")
    if ca_file:
        try:
            ssl.create_default_context(cafile=ca_file)
        except OSError as exc:
            section.raw("ca_file")[0].fail(f"cannot read CA file {ca_file}: {exc.strerror}")
        except ssl.SSLError:
            section.raw("ca_file")[0].fail(f"{ca_file} holds no PEM CA certificate")
    insecure = section.flag("insecure_skip_verify", False)
    if insecure:
        log.warning(
            "TLS certificate verification is OFF for this account: anyone on the path can read its "
            "requests and answer in the cloud's name",
            account=name,
            file=ctx.file,
            line=ctx.line,
        )
    return TlsConfig(ca_file=ca_file, insecure_skip_verify=insecure)


_URL_EXPECTED = "expected an http:// or https:// URL without query or fragment"


def _ids(ctx: Ctx, item: Any, what: str, identity: TaskIdentity = SINGLE_ID) -> str:
    """One ID of `identity`'s kind (by default a hex ID or a UUID; OMS's task IDs: numbers)."""
    described = identity.describe()
    if not isinstance(item, str | int) or isinstance(item, bool):
        ctx.fail(f"expected {what} ({described}), got {ctx.describe(item)}")
    value = expand(ctx, scalar_text(item)).strip()
    if identity.problem(value):
        ctx.fail(f"invalid {what} {ctx.show(value)}: expected {described}")
    return value


def _endpoint(section: Section, spec: ServiceSpec, account: Account, region: str, found: _Found) -> str:
    endpoint = section.string("endpoint", expect="a URL such as https://evs.cn-north-4.myhuaweicloud.com")
    if endpoint:
        return read_url(section.raw("endpoint")[0], endpoint, _URL_EXPECTED).rstrip("/")
    resolved = _template(section, spec, account, region)
    known = spec.regions.get(account.cloud, ())
    if known and region not in known:
        ctx = section.raw("region")[0]
        where = f"{ctx.file or '<config>'}:{ctx.line}: {ctx.path}: {region}"
        everywhere = found.known_regions(account.cloud)
        close = difflib.get_close_matches(region, everywhere or known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}? " if close else ""
        if everywhere and region not in everywhere:
            # No spec knows it: a typo, unless IAM lists a project of that name (--config.check asks).
            message = f"{where}: {hint}no service spec lists this region for {account.cloud}"
            found.doubts.append(RegionDoubt(account.name, region, message))
        else:
            found.warnings.append(
                f"{where}: {hint}not among the {len(known)} regions the {spec.name} spec lists for "
                f"{account.cloud}; using {resolved}"
            )
    return resolved


def _template(section: Section, spec: ServiceSpec, account: Account, region: str) -> str:
    resolved = spec.endpoint(account.cloud, region)
    if resolved is None:
        offered = ", ".join(sorted(spec.endpoints)) or "none"
        section.ctx.fail(
            f"{spec.name} has no endpoint template for cloud {account.cloud!r} (templates: {offered}); set 'endpoint'"
        )
    return resolved


@dataclass
class _Found:
    """What reading the targets found besides them: warnings and doubtful regions."""

    services: Mapping[str, ServiceSpec]
    warnings: list[str] = field(default_factory=list)
    doubts: list[RegionDoubt] = field(default_factory=list)

    def known_regions(self, cloud: str) -> frozenset[str]:
        return frozenset(r for spec in self.services.values() for r in spec.regions.get(cloud, ()))


_TARGET_KEYS = (
    "cloud_service", "account", "region", "regions", "project_id", "endpoint", "time_zone", "tasks", "discover",
    "params",
)  # fmt: skip


def _target(ctx: Ctx, value: Any, accounts: Mapping[str, Account], found: _Found) -> TargetConfig | RegionTargets:
    section = Section(ctx, value, "a service target")
    section.allow(*_TARGET_KEYS)
    services = found.services
    spec = services[section.string("cloud_service", required=True, choices=sorted(services))]
    account_name = section.string("account", required=True, expect="the name of an entry in 'accounts'")
    if account_name not in accounts:
        section.raw("account")[0].fail(f"no account named {account_name!r}; defined: {', '.join(accounts) or 'none'}")
    account = accounts[account_name]
    if spec.is_global:
        return _global_target(section, spec, account, found)
    if section.has("regions"):
        return _region_targets(section, spec, account, services)
    region = section.string("region", required=True, pattern=REGION_PATTERN, expect="a region such as cn-north-4")
    project_id = section.string(
        "project_id", required=spec.needs_project_id, expect=f"the IAM project ID ({ID_DESCRIPTION}), or 'regions'"
    ).strip()  # IDs with surrounding whitespace are the IDs, everywhere
    if project_id and not valid_id(project_id):
        id_ctx = section.raw("project_id")[0]
        id_ctx.fail(f"expected the IAM project ID ({ID_DESCRIPTION}), got {id_ctx.show(project_id)}")
    endpoint = _endpoint(section, spec, account, region, found)
    params = _params(section, spec)
    tasks = _tasks(section, spec.identity_for(dict(params)))
    trace_type, cloud_trace = (spec.trace.service_type if spec.trace else ""), account.cloud_trace
    if cloud_trace is not None and trace_type in cloud_trace.service_types and not project_id:
        section.ctx.fail(
            f"missing required key 'project_id': account {account_name} finds {spec.name} jobs in Cloud Trace "
            "Service, whose traces are per project"
        )
    return TargetConfig(
        spec.name, account_name, region, project_id, endpoint, _zone(section), tuple(tasks),
        _discover(section, spec, services), spec, params,
    )  # fmt: skip


def _global_target(section: Section, spec: ServiceSpec, account: Account, found: _Found) -> TargetConfig:
    """A target of a global service (`scope: domain`): no project, and no region but `global`."""
    for key in ("regions", "project_id"):
        if section.has(key):
            section.raw(key)[0].fail(
                f"'{key}' does not go with {spec.name}, a global service (scope: domain): it has no project "
                "and one host for every region; its calls are signed with the account's domain ID"
            )
    region = section.string("region", default=GLOBAL_REGION, expect=f"{GLOBAL_REGION!r} or nothing")
    if region != GLOBAL_REGION:
        ctx = section.raw("region")[0]
        ctx.fail(
            f"{spec.name} is a global service (scope: domain): leave 'region' out or write "
            f"'{GLOBAL_REGION}', got {ctx.show(region)}"
        )
    if account.auth.type == "aksk" and not account.domain_id and account.cloud == "custom" and not account.iam_endpoint:
        section.ctx.fail(
            f"account {account.name} (cloud 'custom') needs 'domain_id' or 'iam_endpoint' for {spec.name}, a "
            "global service: its AK/SK calls are signed with the account's domain ID"
        )
    params = _params(section, spec)
    tasks = tuple(_tasks(section, spec.identity_for(dict(params))))
    return TargetConfig(
        spec.name, account.name, GLOBAL_REGION, "", _endpoint(section, spec, account, GLOBAL_REGION, found),
        _zone(section), tasks, _discover(section, spec, found.services), spec, params,
    )  # fmt: skip


def _zone(section: Section) -> tzinfo:
    zone_ctx, _ = section.raw("time_zone")
    return time_zone(zone_ctx, section.string("time_zone", default="UTC"))


def _region_targets(
    section: Section, spec: ServiceSpec, account: Account, services: Mapping[str, ServiceSpec]
) -> RegionTargets:
    """`regions: all` or `regions: [cn-north-4, ...]`: the projects come from IAM, one target per region."""
    for key, why in (("region", "'regions' names them"), ("project_id", "IAM gives each region's project"),
                     ("tasks", "a task ID belongs to one region: list it in a target with 'region'")):  # fmt: skip
        if section.has(key):
            section.raw(key)[0].fail(f"'{key}' does not go with 'regions': {why}")
    if account.cloud == "custom" and not account.iam_endpoint:
        section.raw("regions")[0].fail(f"account {account.name} (cloud 'custom') needs 'iam_endpoint' for 'regions'")
    endpoint = section.string("endpoint", expect="a URL, in which {region} stands for each region")
    if endpoint:
        read_url(section.raw("endpoint")[0], endpoint.replace("{region}", "region"), _URL_EXPECTED)
    else:
        _template(section, spec, account, "region")
    ctx, value = section.raw("regions")
    return RegionTargets(
        spec.name, account.name, _region_list(ctx, value, spec, account.cloud, own_endpoint=bool(endpoint)),
        endpoint.rstrip("/"), _zone(section), _discover(section, spec, services), spec, _params(section, spec),
        f"{section.ctx.file or '<config>'}:{section.ctx.line}",
    )  # fmt: skip


def _region_list(ctx: Ctx, value: Any, spec: ServiceSpec, cloud: str, *, own_endpoint: bool) -> tuple[str, ...]:
    if value == "all":
        return ()
    expect = "'all' or a list of regions such as [cn-north-4, eu-west-101]"
    if not isinstance(value, list) or not value:
        ctx.fail(f"expected {expect}, got {ctx.describe(value) if value != [] else 'an empty list'}")
    known = spec.regions.get(cloud, ())
    regions: list[str] = []
    for index, item in enumerate(value):
        item_ctx = ctx.child(value, index)
        if not isinstance(item, str) or not REGION_PATTERN.fullmatch(item):
            item_ctx.fail(f"expected a region such as cn-north-4, got {item_ctx.describe(item)}")
        if item in regions:
            item_ctx.fail(f"region {item} is listed twice")
        if known and item not in known and not own_endpoint:
            close = difflib.get_close_matches(item, known, n=1, cutoff=0.6)
            item_ctx.fail(
                f"{item}: {f'did you mean {close[0]}? ' if close else ''}the {spec.name} spec lists {len(known)} "
                f"regions for {cloud} ({', '.join(known)}); a target with 'region' and 'endpoint' may name any"
            )
        regions.append(item)
    return tuple(regions)


def _tasks(section: Section, identity: TaskIdentity) -> dict[str, None]:
    """The target's `tasks:`, each an ID of the target's shape (parts joined, for a two-part identity)."""
    tasks: dict[str, None] = {}  # in order, and a set: thousands of IDs are checked for repeats at once
    for item_ctx, item in section.items("tasks", "task IDs"):
        if identity.multi:  # several parts (DataArts: job name + instance ID)
            if not isinstance(item, str):
                item_ctx.fail(f"expected a task ID of the form {identity.describe()}, got {item_ctx.describe(item)}")
            task_id = expand(item_ctx, item).strip()
            problem = identity.problem(task_id)
            if problem:
                item_ctx.fail(problem)
        else:
            task_id = _ids(item_ctx, item, "task ID", identity)
        if task_id in tasks:
            item_ctx.fail(f"task ID {task_id} is listed twice")
        tasks[task_id] = None
    return tasks


def _params(target: Section, spec: ServiceSpec) -> tuple[tuple[str, str], ...]:
    """The path parameters the spec asks each target for (MRS: cluster_id), each an ID. The parameter a
    parent list fills (`parents:`) may be left out, or be `all`: the target is then fanned out."""
    ctx, value = target.raw("params")
    if not spec.params:
        if value is not None:
            ctx.fail(f"{spec.name} takes no path parameters")
        return ()
    fanned = spec.parents.param if spec.parents is not None else ""
    # The parent's parameter and a header's value only (DataArts' workspace: the header is left out) may be left out.
    optional = {fanned, *spec.optional_params}
    wanted = ", ".join(f"{name} ({doc})" for name, doc in spec.params.items() if name not in optional)
    if value is None:
        if not wanted:
            return ()
        target.ctx.fail(f"missing required key 'params': {spec.name} needs {wanted}")
    section = Section(ctx, value, "path parameters")
    section.allow(*spec.params)
    found = []
    for name, doc in spec.params.items():
        item_ctx, item = section.raw(name)
        if _left_out(section, name, fanned, optional):
            continue
        if not section.has(name):
            ctx.fail(f"missing required key {name!r}: {doc}")
        found.append((name, _ids(item_ctx, item, doc + (" or 'all'" if name == fanned else ""))))
    return tuple(found)


def _left_out(section: Section, name: str, fanned: str, optional: set[str]) -> bool:
    """Whether an optional parameter is not given: the parent's (absent or `all`: every parent the list
    names) or a header's value only."""
    item = section.raw(name)[1]
    if name == fanned and (item is None or item == "all"):
        return True
    return name in optional and not section.has(name)


def _discover(target: Section, spec: ServiceSpec, services: Mapping[str, ServiceSpec]) -> DiscoverConfig:
    ctx, value = target.raw("discover")
    if value is None or value is False:
        return DiscoverConfig()
    lister = spec.discover
    if lister is None:
        able = ", ".join(sorted(name for name, s in services.items() if s.discover is not None)) or "none"
        ctx.fail(f"{spec.name} has no list API to discover tasks with; discovery exists for {able}")
    if not lister.config_key:
        if value is not True:
            ctx.fail(f"expected true: {spec.name} discovers the project's recent jobs without further settings")
        return DiscoverConfig(enabled=True)
    key = lister.config_key
    section = Section(ctx, value, "discovery settings")
    section.allow(key)
    ids: list[str] = []
    for item_ctx, item in section.items(key, lister.config_doc):
        found = _ids(item_ctx, item, "ID")
        if found not in ids:
            ids.append(found)
    if not ids:
        ctx.fail(f"expected '{key}' with at least one ID")
    return DiscoverConfig(enabled=True, values=tuple(ids))


def _custom_services(top: Section) -> dict[str, ServiceSpec]:
    services = dict(BUILTIN)
    for item_ctx, item in top.items("custom_services", "service specs"):
        spec = read_spec(item_ctx, item)
        if spec.name in services:
            kind = "a built-in service" if spec.name in BUILTIN else "defined twice"
            item_ctx.fail(f"cloud service {spec.name!r} is {kind}; choose another name")
        services[spec.name] = spec
    return services


def _tracking(ctx: Ctx, value: Any, services: Mapping[str, ServiceSpec]) -> TrackingSettings:
    if value is None:
        return TrackingSettings()
    section = Section(ctx, value, "tracking settings")
    section.allow(
        "finished_ttl", "not_found_limit", "max_tasks", "probe_ttl", "discovery_interval", "task_files_interval",
        "poll_interval", "max_poll_interval", "poll_intervals",
    )  # fmt: skip
    return TrackingSettings(
        finished_ttl=section.number("finished_ttl", 86400, minimum=0, maximum=366 * 86400),
        not_found_limit=int(section.number("not_found_limit", 3, minimum=1, maximum=1000, integer=True)),
        max_tasks=int(section.number("max_tasks", 1000, minimum=1, maximum=1_000_000, integer=True)),
        probe_ttl=section.number("probe_ttl", 3600, minimum=0, maximum=366 * 86400),
        discovery_interval=section.number("discovery_interval", 300, minimum=1, maximum=86400),
        task_files_interval=section.number("task_files_interval", 5, minimum=0.1, maximum=3600),
        poll_interval=section.number("poll_interval", 30, minimum=0, maximum=86400),
        max_poll_interval=section.number("max_poll_interval", 300, minimum=0, maximum=86400),
        poll_intervals=_poll_intervals(*section.raw("poll_intervals"), services),
    )


def _poll_intervals(ctx: Ctx, value: Any, services: Mapping[str, ServiceSpec]) -> tuple[tuple[str, float], ...]:
    """`tracking.poll_intervals`: cloud service -> seconds (or a duration), for known services only."""
    if value is None:
        return ()
    section = Section(ctx, value, "cloud service -> poll interval")
    found = []
    for name in section.data:
        if name not in services:
            hint = difflib.get_close_matches(str(name), services, n=1)
            section.raw(name)[0].fail(
                f"unknown cloud service {name!r}" + (f"; did you mean {hint[0]!r}?" if hint else "")
            )
        found.append((str(name), section.number(name, 30, minimum=0, maximum=86400)))
    return tuple(found)


def _metrics(ctx: Ctx, value: Any) -> MetricsSettings:
    if value is None:
        return MetricsSettings()
    section = Section(ctx, value, "metrics settings")
    section.allow("finished_states", "exclude")
    excluded = set()
    for item_ctx, item in section.items("exclude", "metric names"):
        if item == "huaweicloud_task_status":
            item_ctx.fail("huaweicloud_task_status cannot be excluded: the alerts and dashboards need it")
        if item not in EXCLUDABLE:
            hint = difflib.get_close_matches(str(item), EXCLUDABLE, n=1)
            item_ctx.fail(
                f"expected a per-task metric name ({', '.join(EXCLUDABLE)}), got {item_ctx.describe(item)}"
                + (f"; did you mean {hint[0]!r}?" if hint else "")
            )
        excluded.add(item)
    return MetricsSettings(
        finished_states=section.string("finished_states", default="all", choices=("all", "current")),
        exclude=frozenset(excluded),
    )


def _buckets(ctx: Ctx, value: Any) -> tuple[float, ...]:
    what = "bucket upper bounds in seconds, ascending, such as [60, 300, 3600]"
    if not isinstance(value, list) or not value:
        ctx.fail(f"expected a list of {what}, got {ctx.describe(value) if value != [] else 'an empty one'}")
    if len(value) > 50:
        ctx.fail(f"{len(value)} buckets; at most 50 (each is a series per job type and state)")
    bounds: list[float] = []
    for index, item in enumerate(value):
        item_ctx = ctx.child(value, index)
        if isinstance(item, str):
            item = duration(item_ctx, expand(item_ctx, item))
        if isinstance(item, bool) or not isinstance(item, int | float) or not 0 < item < float("inf"):
            shown = scalar_text(item) if isinstance(item, int | float) else item_ctx.describe(item)
            item_ctx.fail(f"expected a positive number of seconds or a duration such as 5m, got {shown}")
        if bounds and item <= bounds[-1]:
            item_ctx.fail(f"expected {what}; {item:g} does not come after {bounds[-1]:g}")
        bounds.append(float(item))
    return tuple(bounds)


def _history(ctx: Ctx, value: Any, services: Mapping[str, ServiceSpec]) -> HistorySettings:
    if value is None:
        return HistorySettings()
    section = Section(ctx, value, "history settings")
    section.allow("retention", "max_resources", "duration_buckets", "duration_buckets_by_service")
    default = _buckets(*section.raw("duration_buckets")) if section.has("duration_buckets") else None
    by_service: dict[str, tuple[float, ...]] = {}
    table_ctx, table = section.raw("duration_buckets_by_service")
    if table is not None:
        per = Section(table_ctx, table, "cloud_service -> bucket upper bounds")
        for name in per.data:
            item_ctx, item = per.raw(str(name))
            if name not in services:
                hint = difflib.get_close_matches(str(name), list(services), n=1)
                item_ctx.fail(f"unknown cloud_service {str(name)!r}" + (f"; did you mean {hint[0]!r}?" if hint else ""))
            by_service[str(name)] = _buckets(item_ctx, item)
    return HistorySettings(
        retention=section.number("retention", 7 * 86400, minimum=3600, maximum=366 * 86400),
        max_resources=int(section.number("max_resources", 100_000, minimum=1, maximum=10_000_000, integer=True)),
        duration_buckets=default or DEFAULT_DURATION_BUCKETS,
        service_buckets=by_service,
    )


def _scrape(ctx: Ctx, value: Any) -> ScrapeSettings:
    if value is None:
        return ScrapeSettings()
    section = Section(ctx, value, "scrape settings")
    section.allow("concurrency", "timeout_offset", "default_timeout", "rate_limit", "refresh_timeout")
    return ScrapeSettings(
        concurrency=int(section.number("concurrency", 32, minimum=1, maximum=1024, integer=True)),
        timeout_offset=section.number("timeout_offset", 0.5, minimum=0, maximum=60),
        default_timeout=section.number("default_timeout", 10, minimum=0.1, maximum=600),
        rate_limit=section.number("rate_limit", 200, minimum=0, maximum=100000),
        refresh_timeout=section.number("refresh_timeout", 10, minimum=0.1, maximum=600),
    )


def _where(ctx: Ctx) -> str:
    """An earlier definition, for the error of a later one in the same file: `line 3 (accounts[0])`."""
    return f"line {ctx.line} ({ctx.path})" if ctx.line is not None else ctx.path


def parse_config(text: str, *, file: str = "", env: Mapping[str, str] | None = None) -> Config:
    """Parse and validate a configuration document; raise `ConfigError` with file, key path and line."""
    document = load_document(text, file=file)
    ctx = Ctx(file, "", None, os.environ if env is None else env)
    if document is None:
        ctx.fail("the file is empty: expected 'accounts' and 'services'")
    top = Section(ctx, document, "the top level")
    for key in [key for key in top.data if isinstance(key, str) and key.startswith("x-")]:
        del top.data[key]  # extension fields, as docker-compose has them: anchors for <<: merges
    top.allow(
        "accounts", "services", "custom_services", "scrape", "tracking", "task_files", "metrics", "history", "intake"
    )
    services = _custom_services(top)
    accounts = _accounts(top, services)
    found = _Found(services)
    tracking = _tracking(*top.raw("tracking"), services)
    targets, region_targets = _targets(top, accounts, found, tracking)
    found.warnings.extend(_cloud_trace_warnings(accounts, targets, tracking))
    return Config(
        accounts=accounts,
        targets=tuple(targets),
        scrape=_scrape(*top.raw("scrape")),
        file=file,
        tracking=tracking,
        task_files=_task_files(top, file),
        metrics=_metrics(*top.raw("metrics")),
        history=_history(*top.raw("history"), services),
        services=services,
        warnings=tuple(found.warnings),
        checksum=hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
        region_targets=tuple(region_targets),
        region_doubts=tuple(found.doubts),
        intake=parse_intake(*top.raw("intake"), accounts, lambda section, key: _secret(section, key, required=True)),
    )


def _accounts(top: Section, services: Mapping[str, ServiceSpec]) -> dict[str, Account]:
    accounts: dict[str, Account] = {}
    defined: dict[str, str] = {}  # account name -> where it first is, for the error of a second one
    for item_ctx, item in top.items("accounts", "accounts"):
        account = _account(item_ctx, item, services)
        if account.name in accounts:
            item_ctx.fail(
                f"account name {account.name!r} is used twice, first at {defined[account.name]}; rename one of them"
            )
        accounts[account.name] = account
        defined[account.name] = _where(item_ctx)
    if not accounts:
        top.ctx.fail("no accounts: expected 'accounts' with at least one entry")
    return accounts


def _targets(
    top: Section, accounts: Mapping[str, Account], found: _Found, tracking: TrackingSettings
) -> tuple[list[TargetConfig], list[RegionTargets]]:
    targets: list[TargetConfig] = []
    region_targets: list[RegionTargets] = []
    seen: dict[tuple[str, ...], str] = {}
    for item_ctx, item in top.items("services", "service targets"):
        target = _target(item_ctx, item, accounts, found)
        # A `regions` target is one per account and service; a hand-written region of it takes precedence.
        key = target.key if isinstance(target, TargetConfig) else (target.account, target.cloud_service, "regions")
        if key in seen:
            merge = "merge their task lists" if isinstance(target, TargetConfig) else "merge them"
            item_ctx.fail(f"the same target ({'/'.join(key)}) is already defined at {seen[key]}; {merge}")
        seen[key] = _where(item_ctx)
        if isinstance(target, TargetConfig):
            if len(target.tasks) > tracking.max_tasks:
                item_ctx.fail(
                    f"{len(target.tasks)} tasks listed, but tracking.max_tasks is {tracking.max_tasks}: raise "
                    "tracking.max_tasks or split the tasks over targets"
                )
            targets.append(target)
        else:
            region_targets.append(target)
    return targets, region_targets


def _task_files(top: Section, file: str) -> tuple[str, ...]:
    patterns: list[str] = []
    for item_ctx, item in top.items("task_files", "file paths or glob patterns"):
        if not isinstance(item, str) or not item.strip():
            item_ctx.fail(
                f"expected a file path or glob pattern such as /var/lib/tasks/*.yaml, got {item_ctx.describe(item)}"
            )
        pattern = expand(item_ctx, item)
        if file and not os.path.isabs(pattern):
            pattern = os.path.join(os.path.dirname(os.path.abspath(file)), pattern)  # relative to the config
        patterns.append(pattern)
    return tuple(patterns)


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and parse `path`; an unreadable file is a `ConfigError` too."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the config file: {exc.strerror}", file=str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError("the config file is not UTF-8 text", file=str(path)) from None
    return parse_config(text, file=str(path), env=env)
