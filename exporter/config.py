"""YAML -> typed configuration, or a `ConfigError` that names the file, the key path and the line.

Pure parsing and validation: nothing here opens a socket. The shape is DESIGN section 4; every key is
documented in `config.example.yaml`. Unknown keys are errors (a typo must not silently disable a
feature), `${ENV}` is expanded in every string value, and every secret also accepts `<key>_file`.
"""

from __future__ import annotations

import difflib
import os
import re
import ssl
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any, Literal, NoReturn, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
import yaml

from exporter.secrets import Secret, SecretError
from exporter.services import SERVICES
from exporter.services._base import ID_PATTERN

__all__ = [
    "ID_PATTERN",
    "Account",
    "AuthConfig",
    "Config",
    "ConfigError",
    "DiscoverConfig",
    "ScrapeSettings",
    "TargetConfig",
    "TlsConfig",
    "TrackingSettings",
    "load_config",
    "parse_config",
    "valid_id",
]

log = structlog.get_logger(__name__)

CLOUDS = ("huaweicloud", "otc", "custom")
AUTH_TYPES = ("token", "password", "aksk")

ID_DESCRIPTION = "16 to 64 hexadecimal characters, or a UUID"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
REGION_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_ENV_REF = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def valid_id(value: str) -> bool:
    """True when `value` is a task, job or project ID of a form Huawei Cloud issues."""
    return ID_PATTERN.fullmatch(value) is not None


class ConfigError(Exception):
    """A configuration problem a user can fix; `str()` is the whole message they see."""

    def __init__(self, message: str, *, file: str = "", path: str = "", line: int | None = None) -> None:
        self.file, self.path, self.line, self.detail = file, path, line, message
        where = file or "<config>"
        if line is not None:
            where += f":{line}"
        if path:
            where += f": {path}"
        super().__init__(f"{where}: {message}")


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
    proxy: str = ""  # empty: HTTPS_PROXY / HTTP_PROXY / NO_PROXY from the environment


@dataclass(frozen=True)
class DiscoverConfig:
    """Where a target finds tasks by itself: CodeArts projects to list, CPH request IDs to list."""

    codearts_projects: tuple[str, ...] = ()
    request_ids: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.codearts_projects or self.request_ids)


@dataclass(frozen=True)
class TargetConfig:
    """One polled target: a cloud service of one account in one region and project."""

    cloud_service: str
    account: str
    region: str
    project_id: str
    endpoint: str
    time_zone: tzinfo
    tasks: tuple[str, ...]
    discover: DiscoverConfig = field(default_factory=DiscoverConfig)

    @property
    def key(self) -> tuple[str, str, str, str]:
        """The target's label values: account, cloud_service, region, project_id."""
        return (self.account, self.cloud_service, self.region, self.project_id)


@dataclass(frozen=True)
class ScrapeSettings:
    concurrency: int = 32
    timeout_offset: float = 0.5
    default_timeout: float = 10.0
    rate_limit: float = 200.0  # requests per second per endpoint; 0 turns the limit off


@dataclass(frozen=True)
class TrackingSettings:
    """How long tasks stay, and how many (DESIGN section 6)."""

    finished_ttl: float = 86400.0  # from when the exporter first saw the task in a final state
    not_found_limit: int = 3  # consecutive not-found answers before a task is dropped
    max_tasks: int = 1000  # per target; the oldest finished tasks go first
    probe_ttl: float = 3600.0  # a task only /probe asks about leaves after this long without a probe
    discovery_interval: float = 300.0
    task_files_interval: float = 5.0


@dataclass(frozen=True)
class Config:
    accounts: Mapping[str, Account]
    targets: tuple[TargetConfig, ...]
    scrape: ScrapeSettings = field(default_factory=ScrapeSettings)
    file: str = ""
    tracking: TrackingSettings = field(default_factory=TrackingSettings)
    task_files: tuple[str, ...] = ()


# --- YAML with line numbers -----------------------------------------------------------------------


class _Map(dict[str, Any]):
    line: int
    key_lines: dict[str, int]


class _Seq(list[Any]):
    line: int
    item_lines: list[int]


class _Loader(yaml.SafeLoader):
    """A safe loader whose mappings and sequences remember the line of each key and item."""

    file = ""


class _Int(int):
    """An integer that remembers how it was written: an unquoted all-digit task ID keeps its zeros."""

    text: str


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> _Int:
    value = _Int(loader.construct_yaml_int(node))
    value.text = node.value
    return value


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)  # YAML merge keys (<<: *defaults), as the safe loader supports them
    result = _Map()
    result.line, result.key_lines = node.start_mark.line + 1, {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            raise ConfigError(f"keys must be strings, got {key!r}", file=loader.file, line=line)
        if key in result:
            raise ConfigError(f"duplicate key {key!r}", file=loader.file, line=line)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    return result


def _construct_seq(loader: _Loader, node: yaml.SequenceNode) -> _Seq:
    result = _Seq(loader.construct_object(item, deep=True) for item in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [item.start_mark.line + 1 for item in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)
_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _scalar_text(value: str | int | float) -> str:
    return value.text if isinstance(value, _Int) else str(value)


# --- Walking the document ---------------------------------------------------------------------------

T = TypeVar("T")


@dataclass(frozen=True)
class _Ctx:
    """Where a value sits: the file, the key path and the line, for error messages."""

    file: str
    path: str
    line: int | None
    env: Mapping[str, str]

    def fail(self, message: str) -> NoReturn:
        raise ConfigError(message, file=self.file, path=self.path, line=self.line)

    def child(self, container: Any, key: str | int) -> _Ctx:
        line = self.line
        if isinstance(container, _Map) and isinstance(key, str):
            line = container.key_lines.get(key, container.line)
        elif isinstance(container, _Seq) and isinstance(key, int):
            line = container.item_lines[key]
        path = f"{self.path}[{key}]" if isinstance(key, int) else (f"{self.path}.{key}" if self.path else key)
        return _Ctx(self.file, path, line, self.env)


class _Section:
    """A mapping being read key by key, with the context to report where each value sits."""

    def __init__(self, ctx: _Ctx, value: Any, what: str) -> None:
        if not isinstance(value, dict):
            ctx.fail(f"expected {what} (a mapping), got {_kind(value)}")
        self.ctx, self.data = ctx, value

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> tuple[_Ctx, Any]:
        return self.ctx.child(self.data, key), self.data.get(key)

    def string(
        self,
        key: str,
        *,
        required: bool = False,
        default: str = "",
        pattern: re.Pattern[str] | None = None,
        expect: str = "",
        choices: Sequence[str] = (),
    ) -> str:
        ctx, value = self.raw(key)
        if value is None:
            if required:
                self.ctx.fail(f"missing required key {key!r}" + (f": expected {expect}" if expect else ""))
            return default
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            ctx.fail(f"expected a string{', ' + expect if expect else ''}, got {_kind(value)}")
        text = _expand(ctx, _scalar_text(value))
        if choices and text not in choices:
            ctx.fail(f"expected one of {', '.join(choices)}, got {text!r}")
        if pattern is not None and pattern.fullmatch(text) is None:
            ctx.fail(f"expected {expect}, got {_show(text)}")
        return text

    def number(self, key: str, default: float, *, minimum: float, maximum: float, integer: bool = False) -> float:
        ctx, value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, str):
            value = _duration(ctx, _expand(ctx, value))
        if isinstance(value, bool) or not isinstance(value, int | float):
            ctx.fail(f"expected a number, got {_kind(value)}")
        number = float(value) if abs(value) < 1e300 else float("inf")
        if not minimum <= number <= maximum:  # also refuses NaN and infinities
            written = _scalar_text(value) if isinstance(value, int) else f"{value:g}"
            written = written if len(written) <= 20 else written[:17] + "..."
            ctx.fail(f"expected a number from {minimum:g} to {maximum:g}, got {written}")
        if integer and int(number) != number:
            ctx.fail(f"expected a whole number, got {number:g}")
        return number

    def flag(self, key: str, default: bool) -> bool:
        ctx, value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            ctx.fail(f"expected true or false, got {_kind(value)}")
        return value

    def items(self, key: str, what: str) -> Iterator[tuple[_Ctx, Any]]:
        ctx, value = self.raw(key)
        if value is None:
            return
        if not isinstance(value, list):
            ctx.fail(f"expected a list of {what}, got {_kind(value)}")
        for index, item in enumerate(value):
            yield ctx.child(value, index), item

    def secret(self, key: str, *, required: bool, warn_plain: bool = True) -> Secret | None:
        """`key` inline (plain text is accepted with a warning unless it came from ${ENV}) or `key_file`."""
        file_key = f"{key}_file"
        if self.has(key) and self.has(file_key):
            self.ctx.fail(f"give either {key!r} or {file_key!r}, not both")
        if self.has(file_key):
            ctx, value = self.raw(file_key)
            path = self.string(file_key, expect="a file path")
            try:
                return Secret.from_file(path)
            except SecretError as exc:
                ctx.fail(str(exc))
        if self.has(key):
            ctx, value = self.raw(key)
            if not isinstance(value, str) or not value:
                ctx.fail(f"expected a non-empty string, or {file_key!r} with a file path")
            text = _expand(ctx, value)
            if not text:
                ctx.fail("expands to an empty value")
            if "${" not in value and warn_plain:
                log.warning(
                    "plain-text secret in the config file; use ${ENV} or a *_file key",
                    key=ctx.path,
                    file=ctx.file,
                    line=ctx.line,
                )
            return Secret.inline(text)
        if required:
            self.ctx.fail(f"missing required key {key!r} (or {file_key!r})")
        return None

    def allow(self, *keys: str) -> None:
        """Reject any key but `keys`, before anything else, so that a typo is named as such."""
        for key in self.data:
            if key not in keys:
                ctx = self.ctx.child(self.data, key)
                close = difflib.get_close_matches(key, keys, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                ctx.fail(f"unknown key {key!r}; {hint}expected one of: {', '.join(keys)}")


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {_show(value)}"
    return f"{type(value).__name__} {value!r}"


def _show(text: str) -> str:
    """A user's value for an error message: quoted, control characters escaped, long values cut."""
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _expand(ctx: _Ctx, text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        if name not in ctx.env:
            ctx.fail(f"environment variable {name} is not set")
        return ctx.env[name]

    return _ENV_REF.sub(replace, text)


_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?")


def _duration(ctx: _Ctx, text: str) -> float:
    """'90', '1.5s', '2m', '1h30m', '500ms' -> seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    match = _DURATION.fullmatch(text.strip())
    if not text.strip() or match is None or not any(match.groups()):
        ctx.fail(f"expected a number of seconds or a duration such as 30s, 5m or 1h, got {_show(text)}")
    h, m, s, ms = (float(g) if g else 0.0 for g in match.groups())
    return h * 3600 + m * 60 + s + ms / 1000


def _time_zone(ctx: _Ctx, text: str) -> tzinfo:
    if text.upper() in ("UTC", "Z"):
        return UTC
    offset = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", text)
    if offset:
        sign = 1 if offset.group(1) == "+" else -1
        return timezone(sign * timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3))))
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        ctx.fail(f"expected UTC, an offset such as +08:00, or a zone name such as Asia/Shanghai, got {_show(text)}")


# --- The sections ----------------------------------------------------------------------------------


_AUTH_KEYS = {
    "token": ("token", "token_file"),
    "password": ("user_name", "domain_name", "password", "password_file"),
    "aksk": ("access_key", "access_key_file", "secret_key", "secret_key_file", "security_token", "security_token_file"),
}


def _auth(section: _Section) -> AuthConfig:
    ctx, value = section.raw("auth")
    if value is None:
        section.ctx.fail("missing required key 'auth': expected a mapping with 'type' (token, password or aksk)")
    auth = _Section(ctx, value, "the account's authentication")
    kind = auth.string("type", required=True, choices=AUTH_TYPES, expect="token, password or aksk")
    auth.allow("type", *_AUTH_KEYS[kind])
    result: AuthConfig
    if kind == "token":
        result = AuthConfig(type="token", token=auth.secret("token", required=True))
    elif kind == "password":
        result = AuthConfig(
            type="password",
            user_name=auth.string("user_name", required=True, expect="the IAM user name"),
            domain_name=auth.string("domain_name", required=True, expect="the account (domain) name"),
            password=auth.secret("password", required=True),
        )
    else:
        result = AuthConfig(
            type="aksk",
            # The access key identifies, the secret key proves: only the latter is worth a warning.
            access_key=auth.secret("access_key", required=True, warn_plain=False),
            secret_key=auth.secret("secret_key", required=True),
            security_token=auth.secret("security_token", required=False),
        )
    return result


def _account(ctx: _Ctx, value: Any) -> Account:
    section = _Section(ctx, value, "an account")
    section.allow("name", "cloud", "iam_endpoint", "auth", "auth_cooldown", "tls", "proxy")
    name = section.string(
        "name", required=True, pattern=NAME_PATTERN, expect="a name of letters, digits, '_', '.', '-'"
    )
    cloud = section.string("cloud", default="huaweicloud", choices=CLOUDS)
    iam_endpoint = section.string("iam_endpoint", expect="a URL such as https://iam.example.com")
    if iam_endpoint:
        _check_url(section.raw("iam_endpoint")[0], iam_endpoint)
    auth = _auth(section)
    if cloud == "custom" and auth.type == "password" and not iam_endpoint:
        section.ctx.fail("cloud 'custom' with password authentication needs 'iam_endpoint'")
    cooldown = section.number("auth_cooldown", 300, minimum=0, maximum=86400)
    proxy = section.string("proxy", expect="a proxy URL such as http://proxy.example.com:3128")
    if proxy:
        _check_url(section.raw("proxy")[0], proxy)
    return Account(
        name=name,
        cloud=cloud,
        auth=auth,
        iam_endpoint=iam_endpoint.rstrip("/"),
        auth_cooldown=cooldown,
        tls=_tls(section, name),
        proxy=proxy,
    )


def _tls(account: _Section, name: str) -> TlsConfig:
    ctx, value = account.raw("tls")
    if value is None:
        return TlsConfig()
    section = _Section(ctx, value, "TLS settings")
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


def _check_url(ctx: _Ctx, url: str) -> None:
    if re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", url) is None:
        ctx.fail(f"expected an http:// or https:// URL without query or fragment, got {_show(url)}")


def _target(ctx: _Ctx, value: Any, accounts: Mapping[str, Account]) -> TargetConfig:
    section = _Section(ctx, value, "a service target")
    section.allow("cloud_service", "account", "region", "project_id", "endpoint", "time_zone", "tasks", "discover")
    service_name = section.string("cloud_service", required=True, choices=sorted(SERVICES))
    service = SERVICES[service_name]
    account_name = section.string("account", required=True, expect="the name of an entry in 'accounts'")
    if account_name not in accounts:
        section.raw("account")[0].fail(f"no account named {account_name!r}; defined: {', '.join(accounts) or 'none'}")
    account = accounts[account_name]
    region = section.string("region", required=True, pattern=REGION_PATTERN, expect="a region such as cn-north-4")
    project_id = section.string(
        "project_id",
        required=service.needs_project_id,
        pattern=ID_PATTERN,
        expect=f"the IAM project ID ({ID_DESCRIPTION})",
    )
    endpoint = section.string("endpoint", expect="a URL such as https://evs.cn-north-4.myhuaweicloud.com")
    if endpoint:
        _check_url(section.raw("endpoint")[0], endpoint)
    else:
        template = service.endpoints.get(account.cloud)
        if template is None:
            offered = ", ".join(sorted(service.endpoints)) or "none"
            section.ctx.fail(
                f"{service_name} has no endpoint template for cloud {account.cloud!r} (templates: "
                f"{offered}); set 'endpoint'"
            )
        endpoint = template.format(region=region)
    zone_ctx, _ = section.raw("time_zone")
    time_zone = _time_zone(zone_ctx, section.string("time_zone", default="UTC"))
    tasks: list[str] = []
    for item_ctx, item in section.items("tasks", "task IDs"):
        if not isinstance(item, str | int) or isinstance(item, bool):
            item_ctx.fail(f"expected a task ID ({ID_DESCRIPTION}), got {_kind(item)}")
        task_id = _expand(item_ctx, _scalar_text(item)).strip()
        if not valid_id(task_id):
            item_ctx.fail(f"invalid task ID {_show(task_id)}: expected {ID_DESCRIPTION}")
        if task_id in tasks:
            item_ctx.fail(f"task ID {task_id} is listed twice")
        tasks.append(task_id)
    discover = _discover(section, service_name)
    return TargetConfig(
        service_name, account_name, region, project_id, endpoint.rstrip("/"), time_zone, tuple(tasks), discover
    )


_DISCOVER_KEYS = {"codearts_check": "codearts_projects", "cph": "request_ids"}


def _discover(target: _Section, service: str) -> DiscoverConfig:
    ctx, value = target.raw("discover")
    if value is None:
        return DiscoverConfig()
    key = _DISCOVER_KEYS.get(service)
    if key is None:
        services = " and ".join(sorted(_DISCOVER_KEYS))
        ctx.fail(f"{service} has no list API to discover tasks with; discovery exists for {services}")
    section = _Section(ctx, value, "discovery settings")
    section.allow(key)
    what = "CodeArts project IDs (not IAM project IDs)" if key == "codearts_projects" else "request IDs"
    ids: list[str] = []
    for item_ctx, item in section.items(key, what):
        if not isinstance(item, str | int) or isinstance(item, bool):
            item_ctx.fail(f"expected an ID ({ID_DESCRIPTION}), got {_kind(item)}")
        text = _expand(item_ctx, _scalar_text(item)).strip()
        if not valid_id(text):
            item_ctx.fail(f"invalid ID {_show(text)}: expected {ID_DESCRIPTION}")
        if text not in ids:
            ids.append(text)
    if not ids:
        ctx.fail(f"expected '{key}' with at least one ID")
    return DiscoverConfig(**{key: tuple(ids)})


def _tracking(ctx: _Ctx, value: Any) -> TrackingSettings:
    if value is None:
        return TrackingSettings()
    section = _Section(ctx, value, "tracking settings")
    section.allow(
        "finished_ttl", "not_found_limit", "max_tasks", "probe_ttl", "discovery_interval", "task_files_interval"
    )
    return TrackingSettings(
        finished_ttl=section.number("finished_ttl", 86400, minimum=0, maximum=366 * 86400),
        not_found_limit=int(section.number("not_found_limit", 3, minimum=1, maximum=1000, integer=True)),
        max_tasks=int(section.number("max_tasks", 1000, minimum=1, maximum=1_000_000, integer=True)),
        probe_ttl=section.number("probe_ttl", 3600, minimum=0, maximum=366 * 86400),
        discovery_interval=section.number("discovery_interval", 300, minimum=1, maximum=86400),
        task_files_interval=section.number("task_files_interval", 5, minimum=0.1, maximum=3600),
    )


def _scrape(ctx: _Ctx, value: Any) -> ScrapeSettings:
    if value is None:
        return ScrapeSettings()
    section = _Section(ctx, value, "scrape settings")
    section.allow("concurrency", "timeout_offset", "default_timeout", "rate_limit")
    return ScrapeSettings(
        concurrency=int(section.number("concurrency", 32, minimum=1, maximum=1024, integer=True)),
        timeout_offset=section.number("timeout_offset", 0.5, minimum=0, maximum=60),
        default_timeout=section.number("default_timeout", 10, minimum=0.1, maximum=600),
        rate_limit=section.number("rate_limit", 200, minimum=0, maximum=100000),
    )


def parse_config(text: str, *, file: str = "", env: Mapping[str, str] | None = None) -> Config:
    """Parse and validate a configuration document; raise `ConfigError` with file, key path and line."""
    loader = type("Loader", (_Loader,), {"file": file})
    try:
        document = yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise ConfigError(f"not valid YAML: {exc.problem}", file=file, line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=file) from None
    except RecursionError:
        raise ConfigError("not valid YAML: nested too deeply", file=file) from None
    ctx = _Ctx(file, "", None, os.environ if env is None else env)
    if document is None:
        ctx.fail("the file is empty: expected 'accounts' and 'services'")
    top = _Section(ctx, document, "the top level")
    top.allow("accounts", "services", "scrape", "tracking", "task_files")
    accounts: dict[str, Account] = {}
    for item_ctx, item in top.items("accounts", "accounts"):
        account = _account(item_ctx, item)
        if account.name in accounts:
            item_ctx.fail(f"account name {account.name!r} is used twice")
        accounts[account.name] = account
    if not accounts:
        ctx.fail("no accounts: expected 'accounts' with at least one entry")
    targets: list[TargetConfig] = []
    seen: dict[tuple[str, str, str, str], str] = {}
    for item_ctx, item in top.items("services", "service targets"):
        target = _target(item_ctx, item, accounts)
        if target.key in seen:
            item_ctx.fail(
                f"the same target ({'/'.join(target.key)}) is already defined at {seen[target.key]}; "
                "merge their task lists"
            )
        seen[target.key] = item_ctx.path
        targets.append(target)
    scrape_ctx, scrape_value = top.raw("scrape")
    tracking_ctx, tracking_value = top.raw("tracking")
    patterns: list[str] = []
    for item_ctx, item in top.items("task_files", "file paths or glob patterns"):
        if not isinstance(item, str) or not item.strip():
            item_ctx.fail(f"expected a file path or glob pattern such as /var/lib/tasks/*.yaml, got {_kind(item)}")
        pattern = _expand(item_ctx, item)
        if file and not os.path.isabs(pattern):
            pattern = os.path.join(os.path.dirname(os.path.abspath(file)), pattern)  # relative to the config
        patterns.append(pattern)
    tracking = _tracking(tracking_ctx, tracking_value)
    for index, target in enumerate(targets):
        if len(target.tasks) > tracking.max_tasks:
            services_ctx, services = top.raw("services")
            services_ctx.child(services, index).fail(
                f"{len(target.tasks)} tasks listed, but tracking.max_tasks is {tracking.max_tasks}: raise "
                "tracking.max_tasks or split the tasks over targets"
            )
    return Config(
        accounts=accounts,
        targets=tuple(targets),
        scrape=_scrape(scrape_ctx, scrape_value),
        file=file,
        tracking=tracking,
        task_files=tuple(patterns),
    )


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and parse `path`; an unreadable file is a `ConfigError` too."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the config file: {exc.strerror}", file=str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError("the config file is not UTF-8 text", file=str(path)) from None
    return parse_config(text, file=str(path), env=env)
