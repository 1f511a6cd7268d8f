"""The `intake:` section (README, "Push intake"): SMN HTTP(S) notifications and CloudEvents deliveries that
hint at new jobs. Off unless configured; the keys of issue 23's contract, and a few of the exporter's own
(`max_body_size`, `rate_limit`, `smn.ca_file`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from exporter.config.secrets import Secret
from exporter.intake import CertificateFileError, SmnPolicy, check_policy
from exporter.schema import Ctx, Section, WithoutSecrets

__all__ = ["CloudEventsIntake", "IntakeSettings", "SmnIntake", "SmnTopic", "parse_intake"]

# urn:smn:<region>:<project ID>:<topic name> (SMN topic names: letters, digits, - and _, up to 255).
TOPIC_URN = re.compile(r"urn:smn:(?P<region>[a-z0-9-]{2,40}):(?P<project>[0-9a-f]{32}):[A-Za-z0-9_-]{1,255}")
HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?(:[0-9]{1,5})?")
HEADER = re.compile(r"[A-Za-z0-9-]{1,64}")
POINTER = re.compile(r"(/([^~/]|~[01])*){0,32}")
DEFAULT_MAX_BODY = 256 * 1024
DEFAULT_RATE = 20.0  # messages per second per sender address

ReadSecret = Callable[[Section, str], Secret | None]


@dataclass(frozen=True)
class SmnTopic:
    """An SMN topic whose messages are accepted; its jobs join the `account`'s targets in the URN's region
    and project."""

    urn: str
    account: str
    region: str
    project_id: str


@dataclass(frozen=True)
class SmnIntake:
    topics: tuple[SmnTopic, ...]
    record: tuple[str, ...] = ()  # where the trace record sits in the parsed `message` (JSON pointer tokens)
    certificate_hosts: tuple[str, ...] = ()
    certificate_files: tuple[str, ...] = ()
    confirm: str = "log"  # log | auto
    max_age: float = 3600.0
    ca_file: str = ""  # CA bundle for fetching signing certificates (default: the system's)

    def topic(self, urn: str) -> SmnTopic | None:
        return next((t for t in self.topics if t.urn == urn), None)


@dataclass(frozen=True)
class CloudEventsIntake:
    account: str
    token_header: str
    token: Secret
    record: tuple[str, ...] = ()  # where the trace record sits in an event's `data`
    records: tuple[tuple[str, tuple[str, ...]], ...] = ()  # per CloudEvents `source`: its own pointer

    def record_of(self, source: str) -> tuple[str, ...]:
        return next((at for name, at in self.records if name == source), self.record)


@dataclass(frozen=True)
class IntakeSettings:
    smn: SmnIntake | None = None
    cloudevents: CloudEventsIntake | None = None
    max_body_size: int = DEFAULT_MAX_BODY
    rate_limit: float = DEFAULT_RATE

    @property
    def enabled(self) -> bool:
        return self.smn is not None or self.cloudevents is not None


def parse_intake(ctx: Ctx, value: Any, accounts: Mapping[str, object], read_secret: ReadSecret) -> IntakeSettings:
    if value is None:
        return IntakeSettings()
    section = Section(ctx, value, "intake settings")
    section.allow("smn", "cloudevents", "max_body_size", "rate_limit")
    smn_ctx, smn = section.raw("smn")
    events_ctx, events = section.raw("cloudevents")
    return IntakeSettings(
        smn=None if smn is None else _smn(Section(smn_ctx, smn, "SMN intake settings"), accounts),
        cloudevents=None
        if events is None
        else _cloudevents(Section(events_ctx, events, "CloudEvents intake settings"), accounts, read_secret),
        max_body_size=int(
            section.number("max_body_size", DEFAULT_MAX_BODY, minimum=1024, maximum=16 << 20, integer=True)
        ),
        rate_limit=section.number("rate_limit", DEFAULT_RATE, minimum=0.1, maximum=10000),
    )


def _account(section: Section, accounts: Mapping[str, object]) -> str:
    ctx, _ = section.raw("account")
    name = section.string("account", required=True, expect="the name of an account in 'accounts'")
    if name not in accounts:
        ctx.fail(f"no account named {name!r} in 'accounts' (known: {', '.join(sorted(accounts))})")
    return name


def _smn(section: Section, accounts: Mapping[str, object]) -> SmnIntake:
    section.allow("topics", "certificate_hosts", "certificate_files", "confirm", "max_age", "ca_file", "record")
    topics = []
    for ctx, item in section.items("topics", "topics ({urn, account})"):
        entry = Section(ctx, item, "a topic ({urn, account})")
        entry.allow("urn", "account")
        urn = entry.string("urn", required=True, pattern=TOPIC_URN, expect="an SMN topic URN, "
                           "urn:smn:<region>:<32-hex project ID>:<topic name>")  # fmt: skip
        match = TOPIC_URN.fullmatch(urn)
        assert match is not None
        topics.append(SmnTopic(urn, _account(entry, accounts), match["region"], match["project"]))
    if not topics:
        section.ctx.fail("'topics' needs at least one topic: only the topics listed are accepted")
    hosts = tuple(_strings(section, "certificate_hosts", "an HTTPS host name (host or host:port)", HOST))
    files = tuple(_strings(section, "certificate_files", "a PEM file path", None))
    if not hosts and not files:
        section.ctx.fail("give 'certificate_hosts' (where signing certificates may be fetched over HTTPS) "
                         "or 'certificate_files' (pinned certificates)")  # fmt: skip
    confirm = section.string("confirm", default="log", choices=("log", "auto"))
    if confirm == "auto" and not hosts:
        section.raw("confirm")[0].fail("confirm: auto GETs a subscribe_url only on a 'certificate_hosts' host, and "
                                       "none is given: add the host SMN's subscribe_url names")  # fmt: skip
    smn = SmnIntake(
        topics=tuple(topics),
        certificate_hosts=hosts,
        certificate_files=files,
        confirm=confirm,
        max_age=section.number("max_age", 3600, minimum=1, maximum=7 * 86400),
        ca_file=section.string("ca_file", expect="a CA bundle file path"),
        record=_pointer(section, "record"),
    )
    try:  # the files are read now, not at the first message
        check_policy(SmnPolicy({}, hosts, files, smn.confirm, smn.max_age, smn.ca_file))
    except (CertificateFileError, ValueError) as exc:
        key = "ca_file" if smn.ca_file and str(exc).startswith(smn.ca_file) else "certificate_files"
        ctx = section.raw(key)[0]
        if isinstance(ctx.env, WithoutSecrets) and "cannot read" in str(exc):
            ctx.env.note(ctx, str(exc))  # CI: the files are where the exporter runs, not here
        else:
            ctx.fail(str(exc))
    return smn


def _strings(section: Section, key: str, what: str, pattern: re.Pattern[str] | None) -> list[str]:
    """A list of strings, each `what`."""
    values = []
    for ctx, item in section.items(key, f"strings, each {what}"):
        if not isinstance(item, str) or not item or (pattern is not None and not pattern.fullmatch(item)):
            ctx.fail(f"expected {what}, got {ctx.describe(item)}")
        values.append(item)
    return values


def _cloudevents(section: Section, accounts: Mapping[str, object], read_secret: ReadSecret) -> CloudEventsIntake:
    section.allow("account", "token_header", "token", "token_file", "record", "records")
    header = section.string("token_header", required=True, pattern=HEADER, expect="an HTTP header name")
    token = read_secret(section, "token")
    assert token is not None  # required
    records_ctx, records = section.raw("records")
    by_source = []
    if records is not None:
        sources = Section(records_ctx, records, "a mapping of CloudEvents source -> JSON pointer")
        by_source = [(str(name), _pointer(sources, name)) for name in sources.data]
    record = _pointer(section, "record")
    return CloudEventsIntake(_account(section, accounts), header, token, record, tuple(by_source))


def _pointer(section: Section, key: str) -> tuple[str, ...]:
    """A JSON pointer ("" or /a/b, ~1 for / and ~0 for ~ in a name) as its tokens."""
    text = section.string(key, pattern=POINTER, expect='a JSON pointer ("" for the whole, or /field/...)')
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in text.split("/")[1:]) if text else ()
