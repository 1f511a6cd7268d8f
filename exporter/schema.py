"""Strict YAML: a loader that remembers the line of every key and item, and a reader that takes typed
values out of a document with errors naming the file, the key path and the line.

The configuration (`exporter.config`) and service specs (`exporter.services`) are read with it, so a
mistake in a `custom_services:` entry reads exactly like one in an account.

An error quotes a value only where it cannot be a secret: nothing under a key of `SECRET_KEYS` (an
account's `auth` and all in it), and never the user info of a URL (`user:password@`), whatever the
shape of the mistake (a token where the `auth` mapping belongs, a password glued to its key).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta, timezone, tzinfo
from typing import Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

__all__ = [
    "SECRET_KEYS",
    "ConfigError",
    "Ctx",
    "Section",
    "WithoutSecrets",
    "describe",
    "duration",
    "expand",
    "hide_user_info",
    "load_document",
    "parse_duration",
    "read_url",
    "scalar_text",
    "show",
    "time_zone",
]

_ENV_REF = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

# Keys whose value, and everything under it, may be a secret: the config's `auth` and its keys, the web
# config's `basic_auth_users`. An error names where such a value is, never the value.
SECRET_KEYS = frozenset({"auth", "token", "password", "access_key", "secret_key", "security_token", "basic_auth_users"})
_NOT_SHOWN = "(not shown: it may be a secret)"


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
    # YAML merge keys (<<: *defaults), as the safe loader supports them: a key written here overrides
    # the merged one (`<<: *base` then `region: ...`).
    explicit = {id(key_node) for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge"}
    loader.flatten_mapping(node)
    result = _Map()
    result.line, result.key_lines = node.start_mark.line + 1, {}
    merged: set[str] = set()
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        # A state table's raw statuses are often numbers or null (CPH 1, 2, -1; CodeArts null): keys are
        # read as the text they were written as.
        if key is None or isinstance(key, bool | int | float):
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) and key is not None else "null"
            key = str(key).lower() if key in ("true", "false", "True", "False") else str(key)
        if not isinstance(key, str):
            raise ConfigError(f"keys must be strings, got {key!r}", file=loader.file, line=line)
        mine = id(key_node) in explicit
        if key in result and mine and key not in merged:
            raise ConfigError(f"duplicate key {key!r}", file=loader.file, line=line)
        # The mapping's own value wins over a merged one, and among merged ones the later, as PyYAML's
        # own loader has it (in `<<: [*a, *b]`, *a's values).
        if mine:
            merged.discard(key)
        else:
            merged.add(key)
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


def scalar_text(value: str | int | float) -> str:
    return value.text if isinstance(value, _Int) else str(value)


@dataclass(frozen=True)
class Ctx:
    """Where a value sits: the file, the key path and the line, for error messages; `secret` when it is
    under a key of `SECRET_KEYS`, so that the messages do not quote it."""

    file: str
    path: str
    line: int | None
    env: Mapping[str, str]
    secret: bool = False

    def fail(self, message: str) -> NoReturn:
        raise ConfigError(message, file=self.file, path=self.path, line=self.line)

    def child(self, container: Any, key: str | int) -> Ctx:
        line = self.line
        if isinstance(container, _Map) and isinstance(key, str):
            line = container.key_lines.get(key, container.line)
        elif isinstance(container, _Seq) and isinstance(key, int):
            line = container.item_lines[key]
        path = f"{self.path}[{key}]" if isinstance(key, int) else (f"{self.path}.{key}" if self.path else key)
        return Ctx(self.file, path, line, self.env, self.secret or key in SECRET_KEYS)

    def describe(self, value: Any) -> str:
        """`describe(value)`, without the value where it may be a secret."""
        return describe(value, secret=self.secret)

    def show(self, text: str) -> str:
        """`show(text)`, or no more than that it is a string where it may be a secret."""
        return f"a string {_NOT_SHOWN}" if self.secret else show(text)


class Section:
    """A mapping being read key by key, with the context to report where each value sits."""

    def __init__(self, ctx: Ctx, value: Any, what: str) -> None:
        if not isinstance(value, dict):
            ctx.fail(f"expected {what} (a mapping), got {ctx.describe(value)}")
        self.ctx, self.data = ctx, value

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> tuple[Ctx, Any]:
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
            ctx.fail(f"expected a string{', ' + expect if expect else ''}, got {ctx.describe(value)}")
        text = expand(ctx, scalar_text(value))
        if choices and text not in choices:
            ctx.fail(f"expected one of {', '.join(choices)}, got {ctx.show(text)}")
        if pattern is not None and pattern.fullmatch(text) is None:
            ctx.fail(f"expected {expect}, got {ctx.show(text)}")
        return text

    def number(self, key: str, default: float, *, minimum: float, maximum: float, integer: bool = False) -> float:
        ctx, value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, str):
            value = duration(ctx, expand(ctx, value))
        if isinstance(value, bool) or not isinstance(value, int | float):
            ctx.fail(f"expected a number, got {ctx.describe(value)}")
        number = float(value) if abs(value) < 1e300 else float("inf")
        if not minimum <= number <= maximum:  # also refuses NaN and infinities
            written = scalar_text(value) if isinstance(value, int) else f"{value:g}"
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
            ctx.fail(f"expected true or false, got {ctx.describe(value)}")
        return value

    def items(self, key: str, what: str) -> Iterator[tuple[Ctx, Any]]:
        ctx, value = self.raw(key)
        if value is None:
            return
        if not isinstance(value, list):
            ctx.fail(f"expected a list of {what}, got {ctx.describe(value)}")
        for index, item in enumerate(value):
            yield ctx.child(value, index), item

    def allow(self, *keys: str) -> None:
        """Reject any key but `keys`, before anything else, so that a typo is named as such."""
        for key in self.data:
            if key not in keys:
                ctx = self.ctx.child(self.data, key)
                close = difflib.get_close_matches(key, keys, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                if self.ctx.secret and not (close and _KEY_NAME.fullmatch(key)):
                    # A secret written where a key goes ({type: token, MIIC...}, or `token:MIIC...: x`):
                    # neither the message nor the key path may quote it.
                    where = Ctx(ctx.file, self.ctx.path, ctx.line, ctx.env, secret=True)
                    where.fail(f"unknown key {_NOT_SHOWN}; {hint}expected one of: {', '.join(keys)}")
                ctx.fail(f"unknown key {key!r}; {hint}expected one of: {', '.join(keys)}")


_KEY_NAME = re.compile(r"[a-z][a-z_]{0,31}")  # what a misspelt key of a secret section looks like


def describe(value: Any, *, secret: bool = False) -> str:
    """What a value is, for "expected ..., got ..." messages: a short string or number quoted (never
    with `secret`), a mapping or list by its kind."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if secret:
        kind = "a string" if isinstance(value, str) else "a number" if isinstance(value, int | float) else "a value"
        return f"{kind} {_NOT_SHOWN}"
    if isinstance(value, str):
        return f"the string {show(value, limit=40)}"
    return f"{type(value).__name__} {_cut(repr(value), 40)}"


def show(text: str, *, limit: int = 80) -> str:
    """A user's value for an error message: quoted, control characters escaped, long values cut, URL
    user info hidden."""
    return repr(_cut(hide_user_info(text), limit))


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def hide_user_info(text: str) -> str:
    """`text` with what may be a URL's user info (`user:password@`, written with or without the scheme,
    however mangled) shown as `<secret>`: everything from the scheme (or the start) to the last '@'."""
    at = text.rfind("@")
    if at < 0:
        return text
    scheme = text.find("://")
    if 0 <= scheme < at:
        return text[: scheme + 3] + "<secret>" + text[at:]
    if ":" in text[:at]:  # user:password@host without a scheme
        return "<secret>" + text[at:]
    return text


# http(s)://[user info@]host[:port][/path]: no query, fragment or whitespace, no '@' in the path.
_URL = re.compile(r"https?://(?:[^\s/?#]*@)?(?:\[[0-9A-Fa-f:.]+\]|[^\s/?#@:\[\]]+)(?::\d{1,5})?(?:/[^\s?#@]*)?")


def read_url(ctx: Ctx, text: str, expected: str, *, user_info: bool = False) -> str:
    """`text` if it is an http(s) URL without query or fragment, else a `ConfigError` saying `expected`
    (and the URL, its user info hidden). User info (`user:password@`) only where `user_info` allows it
    (a proxy's): elsewhere the credentials belong in `auth`, where they are kept as secrets."""
    if "@" in text and not user_info:
        ctx.fail("URL user info (user:password@) is not allowed here; put credentials in auth")
    if _URL.fullmatch(text) is None:
        ctx.fail(f"{expected}, got {ctx.show(text)}")
    return text


class WithoutSecrets(dict[str, str]):
    """The environment for checking a file where its secrets are not (CI): an unset variable reads as
    `${NAME}` and an unreadable secret file is taken as it is named, each noted (with where it is)
    instead of failing the check."""

    def __init__(self, env: Mapping[str, str]) -> None:
        super().__init__(env)
        self.notes: list[str] = []

    def note(self, ctx: Ctx, message: str) -> None:
        text = str(ConfigError(message, file=ctx.file, path=ctx.path, line=ctx.line))
        if text not in self.notes:
            self.notes.append(text)


def expand(ctx: Ctx, text: str, *, file_key: str = "") -> str:
    """`text` with each `${NAME}` replaced by the environment's value (`$$` is a literal `$`). An unset
    NAME fails with what to do about it (`file_key`: the key that reads a secret from a file instead),
    or, checking without secrets, is noted and left as written."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        if name not in ctx.env:
            if isinstance(ctx.env, WithoutSecrets):
                ctx.env.note(ctx, f"environment variable {name} is not set")
                return match.group(0)
            instead = (
                f"put the secret in a file and give its path as {file_key!r}"
                if file_key
                else "write the value itself (a literal $ is written $$)"
            )
            ctx.fail(
                f"environment variable {name} is not set: set it where the exporter runs, or {instead}; to check "
                "the file where the secrets are not (CI), add --config.without-secrets to --config.check"
            )
        return ctx.env[name]

    return _ENV_REF.sub(replace, text)


_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?")


def parse_duration(text: str) -> float | None:
    """'90', '1.5s', '2m', '1h30m', '500ms' -> seconds; None if it is none of these. The one duration reader
    of the config (`duration`) and the command line's duration flags."""
    try:
        return float(text)
    except ValueError:
        pass
    match = _DURATION.fullmatch(text.strip())
    if not text.strip() or match is None or not any(match.groups()):
        return None
    h, m, s, ms = (float(g) if g else 0.0 for g in match.groups())
    return h * 3600 + m * 60 + s + ms / 1000


def duration(ctx: Ctx, text: str) -> float:
    """A config value read by `parse_duration`; anything else fails with its file, key and line."""
    seconds = parse_duration(text)
    if seconds is None:
        ctx.fail(f"expected a number of seconds or a duration such as 30s, 5m or 1h, got {ctx.show(text)}")
    return seconds


def time_zone(ctx: Ctx, text: str) -> tzinfo:
    if text.upper() in ("UTC", "Z"):
        return UTC
    offset = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", text)
    if offset:
        sign = 1 if offset.group(1) == "+" else -1
        return timezone(sign * timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3))))
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        ctx.fail(f"expected UTC, an offset such as +08:00, or a zone name such as Asia/Shanghai, got {ctx.show(text)}")


def load_document(text: str, *, file: str = "") -> Any:
    """Parse YAML text with line numbers kept; a syntax error is a `ConfigError` with its line."""
    loader = type("Loader", (_Loader,), {"file": file})
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise ConfigError(f"not valid YAML: {exc.problem}", file=file, line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=file) from None
    except RecursionError:
        raise ConfigError("not valid YAML: nested too deeply", file=file) from None
