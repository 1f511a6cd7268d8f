"""SMN message checking (exporter/intake/smn.py): every verdict on its own, the string to sign against a
golden text, certificates served over real HTTPS on 127.0.0.1 (a test CA from trustme; never a real
certificate) and through httpx.MockTransport where a socket adds nothing (the caches), pinned files, and
subscription confirmation. Messages are signed here with a string to sign written from the document, not
with the module's own."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import re
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from exporter.intake import (
    CertificateFileError,
    CertificateStore,
    Received,
    Result,
    SmnPolicy,
    SmnReceiver,
    string_to_sign,
)

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z
TOPIC = "urn:smn:cn-north-4:0123456789abcdef0123456789abcdef:task-notices"
MOCK_HOST = "smn.cn-north-4.example.test"
MOCK_URL = f"https://{MOCK_HOST}/smn/SMN_cn-north-4_0a1b2c.pem"
TOKEN = "s3cr3t-subscription-token"
MESSAGE_TEXT = '{"job_id": "4010a32d535527910153552b492c0002", "private": "body-text-not-for-logs"}'


# --- keys, certificates, signing ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Signer:
    key: rsa.RSAPrivateKey
    pem: bytes
    der: bytes


@pytest.fixture(scope="module")
def signer() -> Signer:
    """An RSA signing certificate from a test CA, as SMN's would be."""
    leaf = trustme.CA(key_type=trustme.KeyType.RSA).issue_cert("smn-signing.test", key_type=trustme.KeyType.RSA)
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    pem = leaf.cert_chain_pems[0].bytes()
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    return Signer(key, pem, der)


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_pem() -> bytes:
    """A certificate whose key is not RSA (trustme's default is ECDSA)."""
    return trustme.CA().issue_cert("ec-signing.test").cert_chain_pems[0].bytes()


def document_text(message: dict[str, Any]) -> str:
    """The string to sign, written again from the document (not the module's): sorted names, each name on a
    line and its value on the next."""
    if message["type"] == "Notification":
        names = ["message", "message_id", "subject", "timestamp", "topic_urn", "type"]
    else:
        names = ["message", "message_id", "subscribe_url", "timestamp", "topic_urn", "type"]
    return "".join(f"{n}\n{message[n]}\n" for n in sorted(names) if n != "subject" or message.get("subject"))


def utc(seconds: float) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


_ids = iter(range(1, 10**9))


def build(kind: str, cert_url: str, key: rsa.RSAPrivateKey, **fields: Any) -> dict[str, Any]:
    """A signed message of `kind`; a field given as None is left out."""
    message: dict[str, Any] = {
        "type": kind,
        "signature_version": "v1",
        "topic_urn": TOPIC,
        "message_id": f"{next(_ids):032x}",
        "message": MESSAGE_TEXT,
        "timestamp": utc(NOW - 10),
        "signing_cert_url": cert_url,
    }
    if kind == "Notification":
        message |= {"subject": "task notice", "unsubscribe_url": f"https://{MOCK_HOST}/unsub?token={TOKEN}"}
    else:
        message["subscribe_url"] = f"https://{MOCK_HOST}/smn/subscribe?token={TOKEN}"
    message |= fields
    message = {name: value for name, value in message.items() if value is not None}
    signature = key.sign(document_text(message).encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    message["signature"] = base64.b64encode(signature).decode("ascii")
    return message


def body(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode("utf-8")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def policy(hosts: tuple[str, ...] = (MOCK_HOST,), **fields: Any) -> SmnPolicy:
    values: dict[str, Any] = {
        "topics": {TOPIC: "prod"},
        "certificate_hosts": hosts,
        "certificate_files": (),
        "confirm": "log",
        "max_age": 3600.0,
    }
    return SmnPolicy(**(values | fields))


# --- a certificate host through httpx.MockTransport (no socket) ----------------------------------------------


class MockHost:
    """Serves the signing certificate at MOCK_URL (and 404 elsewhere), counting every request by URL."""

    def __init__(self, pem: bytes) -> None:
        self.pem = pem
        self.asked: list[str] = []
        self.gate: asyncio.Event | None = None  # when set, answers wait for it
        self.started = asyncio.Event()  # a request has come

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.asked.append(str(request.url))
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        if str(request.url) == MOCK_URL:
            return httpx.Response(200, content=self.pem)
        if request.url.path == "/smn/subscribe":
            return httpx.Response(200, text="confirmed")
        return httpx.Response(404)

    def receiver(self, clock: Clock | None = None, monotonic: Clock | None = None, **fields: Any) -> SmnReceiver:
        rules = policy(**fields)
        store = CertificateStore(rules, transport=httpx.MockTransport(self.handle), clock=monotonic or Clock(0.0))
        return SmnReceiver(rules, store, clock or Clock(NOW))


@pytest.fixture
def mock(signer: Signer) -> MockHost:
    return MockHost(signer.pem)


# --- a certificate host on 127.0.0.1 over real HTTPS ---------------------------------------------------------


@dataclasses.dataclass
class Server:
    base: str  # https://127.0.0.1:<port>
    host: str  # 127.0.0.1:<port>, the certificate_hosts entry
    ca_file: str
    asked: list[str]

    def receiver(self, **fields: Any) -> SmnReceiver:
        rules = policy((self.host,), ca_file=self.ca_file, **fields)
        return SmnReceiver(rules, CertificateStore(rules), Clock(NOW))


def found(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location})


@pytest.fixture
async def server(tmp_path: Path, signer: Signer, ec_pem: bytes) -> AsyncIterator[Server]:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    asked: list[str] = []
    routes: dict[str, Callable[[int], web.StreamResponse]] = {
        "/cert.pem": lambda _: web.Response(body=signer.pem),
        "/cert.der": lambda _: web.Response(body=signer.der),
        "/ec.pem": lambda _: web.Response(body=ec_pem),
        "/big.pem": lambda _: web.Response(body=signer.pem + b"\n" * 70_000),
        "/junk.pem": lambda _: web.Response(body=b"not a certificate"),
        "/redirect-same": lambda _: found("/cert.pem"),
        "/redirect-other": lambda port: found(f"https://localhost:{port}/cert.pem"),
        "/subscribe": lambda _: web.Response(text="subscription confirmed"),
        "/subscribe-redirect": lambda _: found("/subscribe"),
    }

    async def handle(request: web.Request) -> web.StreamResponse:
        asked.append(request.path_qs)
        route = routes.get(request.path)
        return route(port) if route else web.Response(status=404)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield Server(f"https://127.0.0.1:{port}", f"127.0.0.1:{port}", str(ca_file), asked)
    finally:
        await runner.cleanup()


# --- the contract --------------------------------------------------------------------------------------------


def test_result_values_are_the_metric_label_values() -> None:
    assert [r.value for r in Result] == [
        "accepted",
        "duplicate",
        "bad_signature",
        "untrusted_certificate",
        "unknown_topic",
        "stale",
        "too_large",
        "malformed",
        "rate_limited",
        "no_job",
    ]


GOLDEN = {
    "notification": (
        {
            "type": "Notification",
            "topic_urn": "urn:smn:r:p:t",
            "message_id": "m1",
            "message": "hello\nworld",
            "timestamp": "2016-08-15T07:29:16Z",
            "subject": "s",
            "signature": "ignored",
            "unsubscribe_url": "https://x/u",
        },
        "message\nhello\nworld\nmessage_id\nm1\nsubject\ns\ntimestamp\n2016-08-15T07:29:16Z\n"
        "topic_urn\nurn:smn:r:p:t\ntype\nNotification\n",
    ),
    "notification without subject": (
        {"type": "Notification", "topic_urn": "t", "message_id": "m", "message": "x", "timestamp": "ts"},
        "message\nx\nmessage_id\nm\ntimestamp\nts\ntopic_urn\nt\ntype\nNotification\n",
    ),
    "notification with an empty subject": (
        {"type": "Notification", "topic_urn": "t", "message_id": "m", "message": "x", "timestamp": "ts", "subject": ""},
        "message\nx\nmessage_id\nm\ntimestamp\nts\ntopic_urn\nt\ntype\nNotification\n",
    ),
    "subscription confirmation": (
        {
            "type": "SubscriptionConfirmation",
            "topic_urn": "t",
            "message_id": "m",
            "message": "x",
            "timestamp": "ts",
            "subscribe_url": "https://h/s",
            "subject": "not signed here",
        },
        "message\nx\nmessage_id\nm\nsubscribe_url\nhttps://h/s\ntimestamp\nts\ntopic_urn\nt\ntype\n"
        "SubscriptionConfirmation\n",
    ),
    "unsubscribe confirmation": (
        {
            "type": "UnsubscribeConfirmation",
            "topic_urn": "t",
            "message_id": "m",
            "message": "",
            "timestamp": "ts",
            "subscribe_url": "u",
        },
        "message\n\nmessage_id\nm\nsubscribe_url\nu\ntimestamp\nts\ntopic_urn\nt\ntype\nUnsubscribeConfirmation\n",
    ),
}


@pytest.mark.parametrize("name", GOLDEN)
def test_string_to_sign_is_the_documented_text(name: str) -> None:
    message, text = GOLDEN[name]
    assert string_to_sign(message) == text


def test_string_to_sign_refuses_an_unknown_type() -> None:
    with pytest.raises(ValueError, match="unknown SMN message type"):
        string_to_sign({"type": "Other"})


# --- verdicts over real HTTPS --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("Notification", {}),
        ("Notification", {"subject": None}),
        ("Notification", {"subject": ""}),
        ("Notification", {"unsubscribe_url": None}),
        ("SubscriptionConfirmation", {}),
        ("UnsubscribeConfirmation", {}),
    ],
    ids=["with-subject", "without-subject", "empty-subject", "no-unsubscribe-url", "subscribe", "unsubscribe"],
)
async def test_a_signed_message_is_accepted(server: Server, signer: Signer, kind: str, fields: dict[str, Any]) -> None:
    message = build(kind, f"{server.base}/cert.pem", signer.key, **fields)
    received = await server.receiver().receive(body(message))
    assert received == Received(
        Result.ACCEPTED,
        message,
        "prod",
        confirm_url=message["subscribe_url"] if kind == "SubscriptionConfirmation" else "",
    )
    assert server.asked == ["/cert.pem"]


async def test_a_der_certificate_is_read_too(server: Server, signer: Signer) -> None:
    received = await server.receiver().receive(body(build("Notification", f"{server.base}/cert.der", signer.key)))
    assert received.result == Result.ACCEPTED


async def test_a_signature_by_another_key_is_refused(
    server: Server, signer: Signer, other_key: rsa.RSAPrivateKey
) -> None:
    received = await server.receiver().receive(body(build("Notification", f"{server.base}/cert.pem", other_key)))
    assert received == Received(Result.BAD_SIGNATURE, account="prod", reason="signature does not verify")


@pytest.mark.parametrize(
    "change",
    [
        {"message": '{"job_id": "another"}'},
        {"subject": "changed"},
        {"subject": None},
        {"message_id": "ffff"},
        {"timestamp": utc(NOW - 5)},
        {"type": "UnsubscribeConfirmation", "subscribe_url": "https://x/"},
    ],
    ids=["message", "subject", "subject-removed", "message-id", "timestamp", "type"],
)
async def test_a_message_changed_after_signing_is_refused(
    server: Server, signer: Signer, change: dict[str, Any]
) -> None:
    message = build("Notification", f"{server.base}/cert.pem", signer.key)
    message = {k: v for k, v in (message | change).items() if v is not None}
    received = await server.receiver().receive(body(message))
    assert received.result == Result.BAD_SIGNATURE


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://localhost:{port}/cert.pem", "signing_cert_url host 'localhost:{port}' is not in certificate_hosts"),
        # the port counts
        ("https://127.0.0.1/cert.pem", "signing_cert_url host '127.0.0.1' is not in certificate_hosts"),
        ("http://127.0.0.1:{port}/cert.pem", "signing_cert_url is not https"),
        ("https://user:pw@127.0.0.1:{port}/cert.pem", "signing_cert_url carries user information"),
        ("https://127.0.0.1:{port}\\@localhost/cert.pem", "signing_cert_url carries user information"),
        ("https://[::1/cert.pem", "signing_cert_url is not a URL"),
    ],
    ids=["other-host", "other-port", "http", "userinfo", "backslash", "not-a-url"],
)
async def test_a_certificate_url_off_the_allowed_hosts_is_not_fetched(
    server: Server, signer: Signer, url: str, reason: str
) -> None:
    port = server.host.rpartition(":")[2]
    message = build("Notification", url.format(port=port), signer.key)
    received = await server.receiver().receive(body(message))
    assert received == Received(Result.UNTRUSTED_CERTIFICATE, account="prod", reason=reason.format(port=port))
    assert server.asked == []


@pytest.mark.parametrize(
    ("path", "reason", "asked"),
    [
        ("/redirect-same", "signing certificate: redirect (HTTP 302) not followed", ["/redirect-same"]),
        ("/redirect-other", "signing certificate: redirect (HTTP 302) not followed", ["/redirect-other"]),
        ("/missing.pem", "signing certificate: HTTP 404", ["/missing.pem"]),
        ("/big.pem", "signing certificate: larger than 65536 bytes", ["/big.pem"]),
        ("/junk.pem", "signing certificate: not an X.509 certificate (PEM or DER)", ["/junk.pem"]),
        ("/ec.pem", "signing certificate: the certificate's key is not RSA", ["/ec.pem"]),
    ],
)
async def test_a_certificate_that_cannot_be_used_is_untrusted(
    server: Server, signer: Signer, path: str, reason: str, asked: list[str]
) -> None:
    received = await server.receiver().receive(body(build("Notification", server.base + path, signer.key)))
    assert received == Received(Result.UNTRUSTED_CERTIFICATE, account="prod", reason=reason)
    assert server.asked == asked  # the redirect's target was never asked


async def test_the_certificate_servers_tls_is_verified(server: Server, signer: Signer) -> None:
    rules = policy((server.host,))  # the test CA is not trusted
    receiver = SmnReceiver(rules, CertificateStore(rules), Clock(NOW))
    received = await receiver.receive(body(build("Notification", f"{server.base}/cert.pem", signer.key)))
    assert received == Received(
        Result.UNTRUSTED_CERTIFICATE, account="prod", reason="signing certificate: fetch failed (ConnectError)"
    )
    assert server.asked == []


# --- topic, age, replay, shape (no fetch needed: MockTransport) ----------------------------------------------


async def test_an_unknown_topic_is_refused_before_any_fetch(mock: MockHost, signer: Signer) -> None:
    message = build("Notification", MOCK_URL, signer.key, topic_urn="urn:smn:cn-north-4:0123:other")
    received = await mock.receiver().receive(body(message))
    assert received == Received(Result.UNKNOWN_TOPIC, reason="topic_urn is not configured")
    assert mock.asked == []


@pytest.mark.parametrize(
    ("sent", "reason"),
    [
        (NOW - 3601, "timestamp is more than 3600 s old"),
        (NOW + 301, "timestamp is more than 300 s ahead"),
    ],
    ids=["old", "future"],
)
async def test_a_stale_message_is_refused_before_any_fetch(
    mock: MockHost, signer: Signer, sent: float, reason: str
) -> None:
    message = build("Notification", MOCK_URL, signer.key, timestamp=utc(sent))
    received = await mock.receiver().receive(body(message))
    assert received == Received(Result.STALE, account="prod", reason=reason)
    assert mock.asked == []


@pytest.mark.parametrize("sent", [NOW - 3600, NOW + 300])
async def test_the_age_limits_are_inclusive(mock: MockHost, signer: Signer, sent: float) -> None:
    message = build("Notification", MOCK_URL, signer.key, timestamp=utc(sent))
    assert (await mock.receiver().receive(body(message))).result == Result.ACCEPTED


@pytest.mark.parametrize(
    "timestamp",
    ["2023-11-14T22:13:19.123Z", "2023-11-14T22:13:19.123456789Z", "2023-11-15T06:13:19+08:00",
     "2023-11-14T23:13:19.5+0100"],
)  # fmt: skip
async def test_a_timestamp_with_a_fraction_or_an_offset_is_read(mock: MockHost, signer: Signer, timestamp: str) -> None:
    """The documents show 2016-08-15T07:29:16Z; the same instant written with a fraction or an offset is as plain.
    Each of these is within a second before NOW, so its age is right only when its offset is read."""
    clock = Clock(NOW)
    message = build("Notification", MOCK_URL, signer.key, timestamp=timestamp)
    assert (await mock.receiver(clock).receive(body(message))).result == Result.ACCEPTED
    clock.now = NOW + 3600  # an hour on, each is stale: the offset was read, not dropped
    again = build("Notification", MOCK_URL, signer.key, timestamp=timestamp)
    assert (await mock.receiver(clock).receive(body(again))).result == Result.STALE


def with_subject_line(key: rsa.RSAPrivateKey, message: dict[str, Any], message_id: str) -> dict[str, Any]:
    """The message (given a new id) signed as SMN's Java and Go samples sign it: a subject that is there is signed,
    empty or not."""
    message = message | {"message_id": message_id}
    names = ["message", "message_id", "subject", "timestamp", "topic_urn", "type"]
    text = "".join(f"{name}\n{message[name]}\n" for name in sorted(names))
    assert "subject\n\n" in text
    signature = key.sign(text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return message | {"signature": base64.b64encode(signature).decode("ascii")}


async def test_an_empty_subject_verifies_signed_either_way(
    mock: MockHost, signer: Signer, other_key: rsa.RSAPrivateKey
) -> None:
    """The text: an empty subject is left out of the string to sign. SMN's Java and Go samples sign it. Both
    readings are accepted; neither lets a changed field or another key in."""
    message = build("Notification", MOCK_URL, signer.key, subject="")
    receiver = mock.receiver()
    assert (await receiver.receive(body(message))).result == Result.ACCEPTED  # left out, as the text says
    sample = with_subject_line(signer.key, message, "a" * 32)
    assert (await receiver.receive(body(sample))).result == Result.ACCEPTED  # signed, as the samples do
    forged = with_subject_line(other_key, message, "b" * 32)
    assert (await receiver.receive(body(forged))).result == Result.BAD_SIGNATURE
    changed = sample | {"message_id": "c" * 32}
    assert (await receiver.receive(body(changed))).result == Result.BAD_SIGNATURE


async def test_the_documents_examples_are_read(mock: MockHost, signer: Signer) -> None:
    """The shapes of SMN's format page: a notification without a subject whose `message` is JSON text, and the
    signature version written V1 (the tables) or v1 (the examples)."""
    record = json.dumps({"enterpriseProjectId": "0", "eventTime": "2019-08-12 22:40:55.040632", "eventType": 1})
    for version in ("v1", "V1"):
        message = build("Notification", MOCK_URL, signer.key, subject=None, message=record,
                        signature_version=version, timestamp="2023-11-14T22:13:10Z")  # fmt: skip
        received = await mock.receiver().receive(body(message))
        assert received.result == Result.ACCEPTED, version
        assert received.message is not None and json.loads(received.message["message"])["eventType"] == 1


async def test_a_replay_is_a_duplicate_until_it_is_stale(mock: MockHost, signer: Signer) -> None:
    clock = Clock(NOW)
    receiver = mock.receiver(clock)
    message = build("Notification", MOCK_URL, signer.key)
    assert (await receiver.receive(body(message))).result == Result.ACCEPTED
    again = await receiver.receive(body(message))
    assert again == Received(Result.DUPLICATE, message, "prod", reason="message_id seen before")
    clock.now = NOW + 3600  # sent at NOW - 10: now too old, so the memory may go
    assert (await receiver.receive(body(message))).result == Result.STALE


async def test_a_forged_copy_does_not_block_the_real_message(
    mock: MockHost, signer: Signer, other_key: rsa.RSAPrivateKey
) -> None:
    receiver = mock.receiver()
    real = build("Notification", MOCK_URL, signer.key)
    forged = build("Notification", MOCK_URL, other_key, message_id=real["message_id"])
    assert (await receiver.receive(body(forged))).result == Result.BAD_SIGNATURE
    assert (await receiver.receive(body(real))).result == Result.ACCEPTED


async def test_a_message_dated_ahead_is_remembered_as_long_as_it_is_not_stale(mock: MockHost, signer: Signer) -> None:
    clock = Clock(NOW)
    receiver = mock.receiver(clock)
    message = build("Notification", MOCK_URL, signer.key, timestamp=utc(NOW + 300))
    assert (await receiver.receive(body(message))).result == Result.ACCEPTED
    clock.now = NOW + 3600 + 299  # the timestamp is 3599 s old: a replay is still within max_age
    assert (await receiver.receive(body(message))).result == Result.DUPLICATE


def malformed_bodies(signer: Signer) -> dict[str, tuple[bytes, str]]:
    good = build("Notification", MOCK_URL, signer.key)

    def changed(**fields: Any) -> bytes:
        return body({k: v for k, v in (good | fields).items() if v is not None})

    return {
        "not-json": (b"{not json", "body is not JSON"),
        "not-utf8": (b'{"type": "\xff"}', "body is not JSON"),
        "deep": (b"[" * 100_000 + b"]" * 100_000, "body is not JSON"),
        "array": (b"[]", "body is not a JSON object"),
        "string": (b'"Notification"', "body is not a JSON object"),
        "no-type": (changed(type=None), "type is missing or not an SMN message type"),
        "unknown-type": (changed(type="Other"), "type is missing or not an SMN message type"),
        "type-not-string": (changed(type=["Notification"]), "type is missing or not an SMN message type"),
        "no-signature": (changed(signature=None), "signature is missing or not a string"),
        "no-cert-url": (changed(signing_cert_url=None), "signing_cert_url is missing or not a string"),
        "message-not-string": (changed(message={"job_id": "x"}), "message is missing or not a string"),
        "id-number": (changed(message_id=7), "message_id is missing or not a string"),
        "subject-number": (changed(subject=7), "subject is not a string"),
        "confirmation-without-subscribe-url": (
            changed(type="SubscriptionConfirmation"),
            "subscribe_url is missing or not a string",
        ),
        "version": (changed(signature_version="v2"), "signature_version is not v1"),
        "base64": (changed(signature="not base64!"), "signature is not base64"),
        "base64-unicode": (changed(signature="é"), "signature is not base64"),
        "timestamp": (changed(timestamp="yesterday"), "timestamp is not a time with a zone like 2016-08-15T07:29:16Z"),
        "timestamp-no-zone": (
            changed(timestamp="2023-11-14T22:13:10"),
            "timestamp is not a time with a zone like 2016-08-15T07:29:16Z",
        ),
        "timestamp-day": (
            changed(timestamp="2023-02-30T22:13:10Z"),
            "timestamp is not a time with a zone like 2016-08-15T07:29:16Z",
        ),
        "user-confirm": (
            changed(type="HttpSubscriptionUserConfirm"),
            "type HttpSubscriptionUserConfirm is not read by the exporter (Notification, SubscriptionConfirmation, "
            "UnsubscribeConfirmation)",
        ),
        "surrogate": (
            body(good)[:-1] + b', "message": "\\ud800"}',
            "a signed field is not valid Unicode",
        ),
    }


MALFORMED_CASES = [
    "not-json",
    "not-utf8",
    "deep",
    "array",
    "string",
    "no-type",
    "unknown-type",
    "type-not-string",
    "no-signature",
    "no-cert-url",
    "message-not-string",
    "id-number",
    "subject-number",
    "confirmation-without-subscribe-url",
    "version",
    "base64",
    "base64-unicode",
    "timestamp",
    "timestamp-no-zone",
    "timestamp-day",
    "user-confirm",
    "surrogate",
]


@pytest.mark.parametrize("case", MALFORMED_CASES)
async def test_a_malformed_body_is_refused_before_any_fetch(mock: MockHost, signer: Signer, case: str) -> None:
    data, reason = malformed_bodies(signer)[case]
    assert await mock.receiver().receive(data) == Received(Result.MALFORMED, reason=reason)
    assert mock.asked == []


def test_every_malformed_case_is_run(signer: Signer) -> None:
    assert sorted(malformed_bodies(signer)) == sorted(MALFORMED_CASES)


# --- caches --------------------------------------------------------------------------------------------------


async def test_one_fetch_serves_many_messages(mock: MockHost, signer: Signer) -> None:
    receiver = mock.receiver()
    for _ in range(20):
        assert (await receiver.receive(body(build("Notification", MOCK_URL, signer.key)))).result == Result.ACCEPTED
    assert mock.asked == [MOCK_URL]


async def test_concurrent_messages_share_one_fetch(mock: MockHost, signer: Signer) -> None:
    receiver = mock.receiver()
    mock.gate = asyncio.Event()
    bodies = [body(build("Notification", MOCK_URL, signer.key)) for _ in range(10)]
    pending = asyncio.gather(*(receiver.receive(b) for b in bodies))
    async with asyncio.timeout(5):
        await mock.started.wait()  # the one fetch has started; the ten wait on it
    mock.gate.set()
    results = await pending
    assert [r.result for r in results] == [Result.ACCEPTED] * 10
    assert mock.asked == [MOCK_URL]


async def test_a_flood_of_bad_urls_fetches_each_once_per_minute(mock: MockHost, signer: Signer) -> None:
    monotonic = Clock(1000.0)
    receiver = mock.receiver(monotonic=monotonic)
    urls = [f"https://{MOCK_HOST}/smn/bad-{i}.pem" for i in range(50)]

    async def flood() -> set[Result]:
        results = set()
        for _ in range(5):
            for url in urls:
                results.add((await receiver.receive(body(build("Notification", url, signer.key)))).result)
        return results

    assert await flood() == {Result.UNTRUSTED_CERTIFICATE}
    assert sorted(mock.asked) == sorted(urls)
    monotonic.now += 59
    await flood()
    assert len(mock.asked) == 50
    monotonic.now += 2  # past the minute: each is asked once more
    await flood()
    assert sorted(mock.asked) == sorted(urls * 2)


async def test_a_good_url_is_fetched_again_once_its_failure_is_forgotten(mock: MockHost, signer: Signer) -> None:
    monotonic = Clock(0.0)
    receiver = mock.receiver(monotonic=monotonic)
    mock.pem = b"broken for a while"
    first = await receiver.receive(body(build("Notification", MOCK_URL, signer.key)))
    assert first.result == Result.UNTRUSTED_CERTIFICATE
    mock.pem = signer.pem
    monotonic.now = 61
    assert (await receiver.receive(body(build("Notification", MOCK_URL, signer.key)))).result == Result.ACCEPTED
    assert mock.asked == [MOCK_URL, MOCK_URL]


# --- pinned certificate files --------------------------------------------------------------------------------


def refuse(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"nothing may be fetched, but {request.url} was")


@pytest.mark.parametrize("url", ["http://evil.example/cert.pem", MOCK_URL, "not a url"])
async def test_a_pinned_certificate_ignores_the_url(tmp_path: Path, signer: Signer, url: str) -> None:
    pinned = tmp_path / "smn.pem"
    pinned.write_bytes(signer.pem)
    rules = policy(certificate_files=(str(pinned),))
    receiver = SmnReceiver(rules, CertificateStore(rules, transport=httpx.MockTransport(refuse)), Clock(NOW))
    assert (await receiver.receive(body(build("Notification", url, signer.key)))).result == Result.ACCEPTED


async def test_a_message_must_verify_against_a_pinned_certificate(
    tmp_path: Path, signer: Signer, other_key: rsa.RSAPrivateKey
) -> None:
    pinned = tmp_path / "smn.pem"
    pinned.write_bytes(signer.pem)
    rules = policy(certificate_files=(str(pinned),))
    receiver = SmnReceiver(rules, CertificateStore(rules, transport=httpx.MockTransport(refuse)), Clock(NOW))
    received = await receiver.receive(body(build("Notification", MOCK_URL, other_key)))
    assert received.result == Result.BAD_SIGNATURE


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (None, "cannot read the certificate: No such file or directory"),
        (b"hello", "not an X.509 certificate (PEM or DER)"),
        ("ec", "the certificate's key is not RSA"),
    ],
    ids=["missing", "not-a-certificate", "not-rsa"],
)
def test_an_unusable_pinned_file_is_named(
    tmp_path: Path, ec_pem: bytes, content: bytes | str | None, error: str
) -> None:
    path = tmp_path / "pinned.pem"
    if content is not None:
        path.write_bytes(ec_pem if content == "ec" else content)  # type: ignore[arg-type]
    with pytest.raises(CertificateFileError) as raised:
        CertificateStore(policy(certificate_files=(str(path),)))
    assert str(raised.value) == f"{path}: {error}"


def test_an_unreadable_ca_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "ca.pem"
    path.write_text("not a bundle")
    with pytest.raises(CertificateFileError, match=f"^{re.escape(str(path))}: cannot read the CA bundle"):
        CertificateStore(policy(ca_file=str(path)))


@pytest.mark.parametrize("entry", ["", "a.example/path", "user@a.example", "a.example?x", "[::1"])
def test_a_bad_certificate_host_entry_is_named(entry: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"certificate_hosts: {entry!r} is not a host or host:port")):
        CertificateStore(policy((entry,)))


@pytest.mark.parametrize(
    ("fields", "error"),
    [({"confirm": "yes"}, "confirm must be log or auto, not 'yes'"), ({"max_age": 0}, "max_age must be more than 0")],
)
def test_a_bad_policy_is_refused(fields: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        policy(**fields)


async def test_a_host_entry_is_matched_case_insensitively_and_443_is_the_default(signer: Signer) -> None:
    asked: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        return httpx.Response(200, content=signer.pem)

    rules = policy(("SMN.Example.test",))
    receiver = SmnReceiver(rules, CertificateStore(rules, transport=httpx.MockTransport(handle)), Clock(NOW))
    for url in ["https://smn.example.TEST:443/a.pem", "https://smn.example.test:8443/b.pem"]:
        await receiver.receive(body(build("Notification", url, signer.key)))
    assert asked == ["https://smn.example.test/a.pem"]


# --- subscription confirmation -------------------------------------------------------------------------------


async def test_confirm_auto_gets_the_subscribe_url(server: Server, signer: Signer) -> None:
    receiver = server.receiver(confirm="auto")
    message = build(
        "SubscriptionConfirmation",
        f"{server.base}/cert.pem",
        signer.key,
        subscribe_url=f"{server.base}/subscribe?token={TOKEN}",
    )
    received = await receiver.receive(body(message))
    assert received.confirm_url == f"{server.base}/subscribe?token={TOKEN}"
    assert await receiver.confirm(received.confirm_url) == "confirmed"
    assert server.asked == ["/cert.pem", f"/subscribe?token={TOKEN}"]


@pytest.mark.parametrize(
    ("url", "answer", "asked"),
    [
        (
            "https://localhost:{port}/subscribe",
            "refused: subscribe_url host 'localhost:{port}' is not in certificate_hosts",
            [],
        ),
        ("http://127.0.0.1:{port}/subscribe", "refused: subscribe_url is not https", []),
        (
            "https://127.0.0.1:{port}/subscribe-redirect",
            "failed: redirect (HTTP 302) not followed",
            ["/subscribe-redirect"],
        ),
        ("https://127.0.0.1:{port}/gone", "failed: HTTP 404", ["/gone"]),
    ],
    ids=["other-host", "http", "redirect", "error"],
)
async def test_confirm_auto_refuses_what_is_not_allowed(
    server: Server, url: str, answer: str, asked: list[str]
) -> None:
    port = server.host.rpartition(":")[2]
    said = await server.receiver(confirm="auto").confirm(url.format(port=port) + f"?token={TOKEN}")
    assert said == answer.format(port=port)
    assert server.asked == [path + f"?token={TOKEN}" for path in asked]


async def test_confirm_log_fetches_nothing(server: Server) -> None:
    answer = await server.receiver(confirm="log").confirm(f"{server.base}/subscribe?token={TOKEN}")
    assert answer == "not confirmed: confirm is log, an operator opens subscribe_url"
    assert server.asked == []


# --- what the reasons say ------------------------------------------------------------------------------------


async def test_reasons_hold_no_signature_body_or_url(
    mock: MockHost, signer: Signer, other_key: rsa.RSAPrivateKey
) -> None:
    receiver = mock.receiver(confirm="auto")
    secret_url = f"https://{MOCK_HOST}/smn/{TOKEN}.pem"
    messages = [
        build("Notification", MOCK_URL, other_key),  # bad signature
        build("Notification", secret_url, signer.key),  # 404
        build("Notification", f"http://{MOCK_HOST}/{TOKEN}.pem", signer.key),  # not https
        build("Notification", f"https://{TOKEN}.example/x.pem", signer.key),  # host not allowed (shown, cut)
        build("Notification", MOCK_URL, signer.key, timestamp=utc(NOW - 7200)),
        build("Notification", MOCK_URL, signer.key, topic_urn=f"urn:smn:r:p:{TOKEN}"),
        build("Notification", MOCK_URL, signer.key, signature_version=TOKEN),
    ]
    reasons = [(await receiver.receive(body(m))).reason for m in messages]
    reasons += [mb[1] for mb in malformed_bodies(signer).values()]
    reasons.append(await receiver.confirm(f"https://{MOCK_HOST}/smn/missing?token={TOKEN}"))
    reasons.append(await receiver.confirm(f"http://{MOCK_HOST}/smn/subscribe?token={TOKEN}"))
    assert all(reasons)
    for message in messages:
        for reason in reasons:
            assert message["signature"] not in reason and message["signature"][:16] not in reason
            assert MESSAGE_TEXT not in reason and "body-text-not-for-logs" not in reason
            assert "/smn/" not in reason and "token=" not in reason
    assert sum(TOKEN in reason for reason in reasons) == 1  # only the disallowed host's own name
