"""SMN HTTP(S) messages, checked: parsed, their topic and age checked, their signing certificate fetched
(only over HTTPS, only from an allowed host) or pinned, their RSA signature verified, replays dropped, and a
subscription confirmed when the policy says so.

The message format (the SMN user guide, "HTTP/HTTPS message format" and "Message signature verification"):
a JSON object with `type`, `signature` (base64), `signature_version` ("v1"), `topic_urn`, `message_id`,
`message`, `timestamp` (`2016-08-15T07:29:16Z`; a fraction or an offset read too), `signing_cert_url`, and
`subject` (notifications, optional; empty: signed or left out, the documents differ),
`subscribe_url` (confirmations), `unsubscribe_url` (notifications). The signature is RSA PKCS#1 v1.5 with
SHA-256 over `string_to_sign(message)`, made with the key of the certificate at `signing_cert_url`. That URL
is not signed, so it is trusted only on a configured host (or ignored for configured certificate files).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import re
import ssl
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

# A message dated later than this (seconds) is stale too: clocks drift, but not by more.
FUTURE_SKEW = 300.0
CERTIFICATE_MAX_BYTES = 64 * 1024
CERTIFICATE_CACHE = 32  # certificates kept, by URL (SMN uses one per region)
FAILED_CACHE = 1024  # failed URLs remembered, so a flood naming many cannot make one fetch each per message
FAILED_SECONDS = 60.0  # how long a failed fetch is remembered
FETCH_TIMEOUT = 5.0  # seconds for a whole fetch (certificate or confirmation), connect to last byte
SEEN_IDS = 100_000  # message ids remembered against replays; the oldest is forgotten first

NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
_SIGNED: dict[str, tuple[str, ...]] = {
    NOTIFICATION: ("message", "message_id", "subject", "timestamp", "topic_urn", "type"),
    SUBSCRIPTION_CONFIRMATION: ("message", "message_id", "subscribe_url", "timestamp", "topic_urn", "type"),
    "UnsubscribeConfirmation": ("message", "message_id", "subscribe_url", "timestamp", "topic_urn", "type"),
}
# Strings every message carries besides its signed fields; then fields that are strings when present.
_ENVELOPE = ("signature", "signature_version", "signing_cert_url")
_OPTIONAL = ("subject", "unsubscribe_url")
# SMN's documents show `2016-08-15T07:29:16Z`; fractions (up to nanoseconds) and an explicit offset say the same
# instant as plainly, so they are read too. A time without a zone is not: it could be off by hours.
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:?\d\d)\Z", re.ASCII)
# Types the Chinese edition of the format page lists besides the three above, without their string to sign:
# refused, but said by name (their type is not an attacker's free text then).
_UNREAD = ("HttpSubscriptionUserConfirm", "HttpSubscriptionUserUnsubscribe")


class Result(StrEnum):
    """What became of a pushed message: the `result` label of `huaweicloud_task_intake_messages_total`.
    SmnReceiver decides all but too_large (the HTTP layer), rate_limited (the HTTP layer) and no_job
    (tracking: a verified notice that names no task)."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    BAD_SIGNATURE = "bad_signature"
    UNTRUSTED_CERTIFICATE = "untrusted_certificate"
    UNKNOWN_TOPIC = "unknown_topic"
    STALE = "stale"
    TOO_LARGE = "too_large"
    MALFORMED = "malformed"
    RATE_LIMITED = "rate_limited"
    NO_JOB = "no_job"


class CertificateFileError(ValueError):
    """A configured certificate file or CA bundle that cannot be used; the message names the file."""


def string_to_sign(message: Mapping[str, Any]) -> str:
    """The text SMN signs: the signed fields of the message's type, sorted by name, each name on one line
    and its value on the next, every line ending in a newline. A Notification's `subject` is left out when
    it is absent or empty (as the text says; the receiver also tries an empty one signed, as the samples
    do). Raises KeyError for a missing field, ValueError for an unknown type."""
    kind = message["type"]
    names = _SIGNED.get(kind) if isinstance(kind, str) else None
    if names is None:
        raise ValueError("unknown SMN message type")
    lines = []
    for name in sorted(names):
        value = message.get(name) if name == "subject" else message[name]
        if name == "subject" and not value:
            continue
        lines.append(f"{name}\n{value}\n")
    return "".join(lines)


@dataclasses.dataclass(frozen=True)
class SmnPolicy:
    """What the receiver trusts. `topics`: topic URN -> account name (only these are accepted).
    `certificate_hosts`: host or host:port allowed in a signing_cert_url or subscribe_url (no port: 443).
    `certificate_files`: PEM files, one certificate each; when given, nothing is fetched and a message must
    verify against one of them. `confirm`: "log" (an operator opens subscribe_url) or "auto" (GET it).
    `max_age`: seconds a message is accepted after its timestamp (and its id remembered). `ca_file`: a CA
    bundle trusted on top of the system's when fetching over HTTPS."""

    topics: Mapping[str, str]
    certificate_hosts: tuple[str, ...]
    certificate_files: tuple[str, ...]
    confirm: str
    max_age: float
    ca_file: str = ""

    def __post_init__(self) -> None:
        if self.confirm not in ("log", "auto"):
            raise ValueError(f"confirm must be log or auto, not {self.confirm!r}")
        if not self.max_age > 0:
            raise ValueError(f"max_age must be more than 0 seconds, not {self.max_age!r}")


@dataclasses.dataclass(frozen=True)
class Received:
    """The receiver's verdict on one body. `message`: the SMN message when verified (accepted, duplicate).
    `account`: the account of the topic when the topic is configured (for a rejected message the topic is
    the sender's claim). `confirm_url`: a verified SubscriptionConfirmation's subscribe_url. `reason`: why
    it was refused, in words that hold no signature, body or URL."""

    result: Result
    message: dict[str, Any] | None = None
    account: str = ""
    confirm_url: str = ""
    reason: str = ""


class _Refused(Exception):
    """A fetch that gave no usable answer; `reason` names no URL."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class _Http:
    """GETs over HTTPS: no redirects followed, no proxy or .netrc from the environment, one deadline."""

    verify: ssl.SSLContext
    transport: httpx.AsyncBaseTransport | None

    async def get(self, url: httpx.URL, limit: int) -> bytes:
        """The body (at most `limit` bytes; none read when 0) of a 2xx answer; anything else raises _Refused."""
        try:
            async with asyncio.timeout(FETCH_TIMEOUT), self._client() as client, client.stream("GET", url) as answer:
                if answer.is_redirect:
                    raise _Refused(f"redirect (HTTP {answer.status_code}) not followed")
                if not answer.is_success:
                    raise _Refused(f"HTTP {answer.status_code}")
                body = bytearray()
                if limit:
                    async for chunk in answer.aiter_bytes():
                        body += chunk
                        if len(body) > limit:
                            raise _Refused(f"larger than {limit} bytes")
                return bytes(body)
        except TimeoutError:
            raise _Refused(f"no answer within {FETCH_TIMEOUT:g} s") from None
        except httpx.HTTPError as error:  # its text can hold the URL: the class says enough
            raise _Refused(f"fetch failed ({type(error).__name__})") from None

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            verify=self.verify, transport=self.transport, follow_redirects=False, trust_env=False, timeout=FETCH_TIMEOUT
        )


def _verify_context(ca_file: str) -> ssl.SSLContext:
    context = ssl.create_default_context()  # the system's CAs, and the user's on top
    if ca_file:
        try:
            context.load_verify_locations(cafile=ca_file)
        except OSError as error:  # ssl.SSLError is one
            raise CertificateFileError(f"{ca_file}: cannot read the CA bundle: {error}") from None
    return context


def _host_entries(hosts: tuple[str, ...]) -> frozenset[tuple[str, int | None]]:
    """(host, port) pairs, as httpx reads them (lower case, IDNA, no port for 443), from host[:port]."""
    entries = set()
    for entry in hosts:
        try:
            url = httpx.URL(f"https://{entry}")
        except httpx.InvalidURL:
            url = None
        if url is None or not url.host or url.raw_path != b"/" or url.userinfo or entry.endswith("/"):
            raise ValueError(f"certificate_hosts: {entry!r} is not a host or host:port")
        entries.add((url.host, url.port))
    return frozenset(entries)


def _allowed(url: str, hosts: frozenset[tuple[str, int | None]], field: str) -> httpx.URL | str:
    """The URL to fetch, or why not. httpx parses it for the check and for the fetch alike, so the host
    checked is the host asked."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return f"{field} is not a URL"
    if parsed.scheme != "https":
        return f"{field} is not https"
    if parsed.userinfo:
        return f"{field} carries user information"
    if (parsed.host, parsed.port) not in hosts:
        named = parsed.host[:64] if parsed.port is None else f"{parsed.host[:64]}:{parsed.port}"
        return f"{field} host {named!r} is not in certificate_hosts"
    return parsed


def _public_key(data: bytes) -> rsa.RSAPublicKey | str:
    """The RSA key of a PEM or DER certificate, or why there is none."""
    try:
        if b"-----BEGIN" in data:
            certificate = x509.load_pem_x509_certificate(data)
        else:
            certificate = x509.load_der_x509_certificate(data)
    except ValueError:
        return "not an X.509 certificate (PEM or DER)"
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        return "the certificate's key is not RSA"
    return key


def _pinned(path: str) -> rsa.RSAPublicKey:
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise CertificateFileError(f"{path}: cannot read the certificate: {error.strerror or error}") from None
    key = _public_key(data)
    if isinstance(key, str):
        raise CertificateFileError(f"{path}: {key}")
    return key


def check_policy(policy: SmnPolicy) -> None:
    """What the store would refuse at its start, said when the configuration is loaded: a host entry that is
    not host[:port] (ValueError), a pinned file or CA bundle that cannot be used (CertificateFileError)."""
    _host_entries(policy.certificate_hosts)
    _verify_context(policy.ca_file)
    for path in policy.certificate_files:
        _pinned(path)


class CertificateStore:
    """SMN's signing keys. With `policy.certificate_files`, those files' keys, read here once; nothing is
    fetched. Otherwise by URL: fetched only over https:// from an allowed host (`certificate_hosts`), no
    redirect followed, at most 64 KiB, PEM or DER, RSA only. Kept by URL (32, the least recently used
    dropped); a failed URL is remembered for 60 s (1024 of them), so a flood of messages naming bad URLs
    fetches each at most once a minute; concurrent requests for one URL share one fetch. `transport` is
    httpx's (tests); `clock` is monotonic seconds."""

    def __init__(
        self,
        policy: SmnPolicy,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._hosts = _host_entries(policy.certificate_hosts)
        self._http = _Http(_verify_context(policy.ca_file), transport)
        self._clock = clock
        self.pinned: tuple[rsa.RSAPublicKey, ...] = tuple(_pinned(path) for path in policy.certificate_files)
        self._keys: OrderedDict[str, rsa.RSAPublicKey] = OrderedDict()
        self._failed: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._fetching: dict[str, asyncio.Task[rsa.RSAPublicKey | str]] = {}

    async def keys(self, signing_cert_url: str) -> tuple[rsa.RSAPublicKey, ...] | str:
        """The keys a message naming this URL must verify against, or why it cannot be trusted."""
        if self.pinned:
            return self.pinned
        url = _allowed(signing_cert_url, self._hosts, "signing_cert_url")
        if isinstance(url, str):
            return url
        key = await self._key(str(url))
        return key if isinstance(key, str) else (key,)

    async def aclose(self) -> None:
        """Stops the fetches under way (at shutdown)."""
        tasks = list(self._fetching.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _key(self, url: str) -> rsa.RSAPublicKey | str:
        key = self._keys.get(url)
        if key is not None:
            self._keys.move_to_end(url)
            return key
        failed = self._failed.get(url)
        if failed is not None and failed[0] > self._clock():
            return failed[1]
        task = self._fetching.get(url)
        if task is None:
            task = self._fetching[url] = asyncio.create_task(self._fetch(url))
        return await asyncio.shield(task)  # one caller cancelled does not cancel the others' fetch

    async def _fetch(self, url: str) -> rsa.RSAPublicKey | str:
        try:
            found = _public_key(await self._http.get(httpx.URL(url), CERTIFICATE_MAX_BYTES))
        except _Refused as error:
            found = error.reason
        finally:
            self._fetching.pop(url, None)
        if isinstance(found, str):
            found = f"signing certificate: {found}"
            self._failed[url] = (self._clock() + FAILED_SECONDS, found)
            self._failed.move_to_end(url)
            _trim(self._failed, FAILED_CACHE)
        else:
            self._keys[url] = found
            _trim(self._keys, CERTIFICATE_CACHE)
            self._failed.pop(url, None)
        return found


def _trim(cache: OrderedDict[str, Any], size: int) -> None:
    while len(cache) > size:
        cache.popitem(last=False)


@dataclasses.dataclass(frozen=True)
class _Parsed:
    message: dict[str, Any]
    signature: bytes
    signed: tuple[bytes, ...]  # string_to_sign, UTF-8 (and the other reading of an empty subject)
    sent: float  # the timestamp, Unix seconds


def _malformed(reason: str) -> Received:
    return Received(Result.MALFORMED, reason=reason)


def _field_problem(message: dict[str, Any], kind: str) -> str:
    for name in (*_SIGNED[kind], *_ENVELOPE):
        if name not in _OPTIONAL and not isinstance(message.get(name), str):
            return f"{name} is missing or not a string"
    for name in _OPTIONAL:
        if message.get(name) is not None and not isinstance(message[name], str):
            return f"{name} is not a string"
    return ""


def _timestamp(text: str) -> float | None:
    if not _TIMESTAMP.match(text):
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:  # a month 13, a 30 February
        return None


def _parse(body: bytes) -> _Parsed | Received:
    """The message and what its checks need, or malformed with the first problem found."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return _malformed("body is not JSON")
    if not isinstance(message, dict):
        return _malformed("body is not a JSON object")
    kind = message.get("type")
    if kind in _UNREAD:
        return _malformed(f"type {kind} is not read by the exporter (Notification, SubscriptionConfirmation, "
                          "UnsubscribeConfirmation)")  # fmt: skip
    if not isinstance(kind, str) or kind not in _SIGNED:
        return _malformed("type is missing or not an SMN message type")
    problem = _field_problem(message, kind)
    if problem:
        return _malformed(problem)
    if message["signature_version"].lower() != "v1":  # the examples write v1, the tables V1
        return _malformed("signature_version is not v1")
    try:
        signature = base64.b64decode(message["signature"], validate=True)
    except ValueError:  # binascii.Error is one, and so is a non-ASCII string
        return _malformed("signature is not base64")
    sent = _timestamp(message["timestamp"])
    if sent is None:
        return _malformed("timestamp is not a time with a zone like 2016-08-15T07:29:16Z")
    texts = [string_to_sign(message)]
    if kind == NOTIFICATION and message.get("subject") == "":
        # The text says an empty subject is left out; the Java and Go samples sign it when the field is
        # there at all. Either text is made of signed fields only, so accepting both lets nothing else in.
        texts.append("".join(f"{name}\n{message[name]}\n" for name in sorted(_SIGNED[NOTIFICATION])))
    try:
        signed = tuple(text.encode("utf-8") for text in texts)
    except UnicodeEncodeError:  # JSON can carry a lone surrogate
        return _malformed("a signed field is not valid Unicode")
    return _Parsed(message, signature, signed, sent)


def _verifies(keys: tuple[rsa.RSAPublicKey, ...], signature: bytes, texts: tuple[bytes, ...]) -> bool:
    for key in keys:
        for signed in texts:
            try:
                key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
            except InvalidSignature:
                continue
            return True
    return False


class SmnReceiver:
    """Checks SMN message bodies, in this order: malformed, unknown_topic, stale, untrusted_certificate,
    bad_signature, duplicate, else accepted. Only verified messages are remembered against replays (so a
    forged copy cannot block a real id), for max_age plus the 5 minutes a timestamp may lie ahead, at most
    100,000 ids. `clock` is wall-clock Unix seconds (timestamps are compared with it)."""

    def __init__(self, policy: SmnPolicy, store: CertificateStore, clock: Callable[[], float] = time.time) -> None:
        self._policy, self._store, self._clock = policy, store, clock
        self._seen: OrderedDict[str, float] = OrderedDict()  # message_id -> when accepted, oldest first

    async def receive(self, body: bytes) -> Received:
        parsed = _parse(body)
        if isinstance(parsed, Received):
            return parsed
        account = self._policy.topics.get(parsed.message["topic_urn"])
        if account is None:
            return Received(Result.UNKNOWN_TOPIC, reason="topic_urn is not configured")
        stale = self._stale(parsed.sent)
        if stale:
            return Received(Result.STALE, account=account, reason=stale)
        keys = await self._store.keys(parsed.message["signing_cert_url"])
        if isinstance(keys, str):
            return Received(Result.UNTRUSTED_CERTIFICATE, account=account, reason=keys)
        if not _verifies(keys, parsed.signature, parsed.signed):
            return Received(Result.BAD_SIGNATURE, account=account, reason="signature does not verify")
        return self._remember(parsed.message, account)

    def refuses(self, url: str) -> str:
        """Why a subscribe_url may not be fetched nor shown (not https, or not on an allowed host), or ""."""
        checked = _allowed(url, self._store._hosts, "subscribe_url")
        return checked if isinstance(checked, str) else ""

    async def confirm(self, url: str) -> str:
        """With confirm "auto", GETs a verified SubscriptionConfirmation's subscribe_url (https, an allowed
        host, no redirect). Returns what happened, starting with "confirmed", "not confirmed" (confirm
        "log": nothing fetched), "refused" (the URL) or "failed" (the GET); it names no URL (its token is
        what confirms)."""
        if self._policy.confirm != "auto":
            return "not confirmed: confirm is log, an operator opens subscribe_url"
        checked = _allowed(url, self._store._hosts, "subscribe_url")
        if isinstance(checked, str):
            return f"refused: {checked}"
        try:
            await self._store._http.get(checked, limit=0)
        except _Refused as error:
            return f"failed: {error.reason}"
        return "confirmed"

    def _stale(self, sent: float) -> str:
        now = self._clock()
        if sent < now - self._policy.max_age:
            return f"timestamp is more than {self._policy.max_age:g} s old"
        if sent > now + FUTURE_SKEW:
            return f"timestamp is more than {FUTURE_SKEW:g} s ahead"
        return ""

    def _remember(self, message: dict[str, Any], account: str) -> Received:
        now = self._clock()
        horizon = now - self._policy.max_age - FUTURE_SKEW
        while self._seen and next(iter(self._seen.values())) < horizon:
            self._seen.popitem(last=False)
        message_id = message["message_id"]
        if message_id in self._seen:
            return Received(Result.DUPLICATE, message, account, reason="message_id seen before")
        self._seen[message_id] = now
        _trim(self._seen, SEEN_IDS)
        confirm_url = message["subscribe_url"] if message["type"] == SUBSCRIPTION_CONFIRMATION else ""
        return Received(Result.ACCEPTED, message, account, confirm_url)
