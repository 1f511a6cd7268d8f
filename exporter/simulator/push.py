"""The fake cloud pushes: signed SMN HTTP(S) messages and CloudEvents deliveries to a subscriber.

For tests and the demo of the exporter's push intake. Nothing here is a real certificate: `FakePki`
makes a CA, an SMN signing certificate and a server certificate for 127.0.0.1/localhost at run time.

    pki = FakePki.generate()
    running = await start_simulator(sim, ssl_context=pki.server_context())   # HTTPS: serves the cert
    topic = smn_topic(sim, running.url, pki)                   # urn:smn:cn-north-4:<project>:task-events
    pusher = Pusher("http://127.0.0.1:9898/intake/smn", topic)  # ssl=pki.client_context() for https
    await pusher.subscribe()        # a SubscriptionConfirmation; its subscribe_url is GET /smn/confirm
    sim.advance(15); await pusher.push_due()   # a Notification per task that began since the pusher
    await pusher.cloudevent(task, mode="binary", token_header="X-Intake-Token", token="s3cret")

The SMN message (reference B.2): a POST of a JSON object with the headers ``X-SMN-MESSAGE-TYPE``,
``X-SMN-MESSAGE-ID``, ``X-SMN-TOPIC-URN`` and ``X-SMN-SUBSCRIPTION-URN``; the body's ``type``,
``signature`` (base64), ``signature_version`` ``v1``, ``topic_urn``, ``message_id`` (a UUID's hex),
``message``, ``timestamp`` (``%Y-%m-%dT%H:%M:%SZ``, the simulator's clock), ``signing_cert_url``, and
``subject`` and ``unsubscribe_url`` (a notification) or ``subscribe_url`` (a confirmation). A
notification's ``message`` is the Cloud Trace Service trace record of the call that created the task,
as JSON text, exactly as ListTraces answers it (`traces.trace_of`). The string to sign is the
``SIGNED_FIELDS`` of the type, sorted, each name on a line and its value on the next, every line ending
in ``\\n`` (a notification's empty ``subject`` left out); the signature is RSA PKCS#1 v1.5 with SHA-256
over its UTF-8 bytes.

A CloudEvents 1.0 delivery's ``data`` is the same trace record: structured (``application/
cloudevents+json``, the whole event) or binary (``ce-*`` headers, the body the data).

Hostile variants for tests are messages changed on purpose: ``message.signed_with(new_key())`` (another
key), ``message.with_fields(message="...")`` (changed after signing), ``with_fields(signing_cert_url=
topic.cert_url_at(host="localhost"))`` or ``scheme="http"`` or ``topic.redirect_url(...)``, a message
built ``at=`` an old time, a `Pusher` of a topic the subscriber does not know, ``pusher.post(message)``
twice (a replay), ``pusher.confirmation(subscribe_url=...)`` to another host.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import ipaddress
import json
import ssl
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple
from urllib.parse import quote, urljoin, urlsplit

import aiohttp
import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from exporter.simulator import traces
from exporter.simulator.scenario import DEFAULT_PROJECT_ID, Task
from exporter.simulator.smn import Subscription

if TYPE_CHECKING:
    from exporter.simulator.app import Simulator

__all__ = [
    "CLOUDEVENTS_SOURCE",
    "CLOUDEVENTS_TYPE",
    "SIGNED_FIELDS",
    "Delivery",
    "FakePki",
    "Pusher",
    "SmnMessage",
    "SmnTopic",
    "new_key",
    "sign",
    "smn_topic",
    "string_to_sign",
]

SIGNED_FIELDS: Mapping[str, tuple[str, ...]] = {
    "Notification": ("message", "message_id", "subject", "timestamp", "topic_urn", "type"),
    "SubscriptionConfirmation": ("message", "message_id", "subscribe_url", "timestamp", "topic_urn", "type"),
    "UnsubscribeConfirmation": ("message", "message_id", "subscribe_url", "timestamp", "topic_urn", "type"),
}
CLOUDEVENTS_SOURCE = "HC.CTS"
CLOUDEVENTS_TYPE = "CTS:CloudTrace:ApiCall"
_KEY_BITS = 2048
_VALIDITY = datetime.timedelta(days=2)


def new_key() -> rsa.RSAPrivateKey:
    """A new RSA key (2048 bits)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=_KEY_BITS)


def string_to_sign(fields: Mapping[str, str]) -> str:
    """SMN's string to sign for a message's body fields (its ``type`` picks the fields)."""
    names = SIGNED_FIELDS[fields["type"]]
    return "".join(f"{name}\n{fields[name]}\n" for name in sorted(names) if fields.get(name))


def sign(key: rsa.RSAPrivateKey, fields: Mapping[str, str]) -> str:
    """The base64 RSA PKCS#1 v1.5 SHA-256 signature of the fields' string to sign."""
    signature = key.sign(string_to_sign(fields).encode(), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode()


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _issue(
    name: str, key: rsa.RSAPrivateKey, issuer: tuple[x509.Name, rsa.RSAPrivateKey] | None, server_hosts: tuple[str, ...]
) -> x509.Certificate:
    """A certificate for ``key`` signed by ``issuer`` (None: self-signed, a CA)."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, signer = issuer if issuer is not None else (subject, key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if server_hosts:
        names: list[x509.GeneralName] = []
        for host in server_hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.sign(signer, hashes.SHA256())


@dataclass(frozen=True, slots=True)
class FakePki:
    """A test CA; an SMN signing certificate and a server certificate (127.0.0.1, localhost) it signed."""

    ca_key: rsa.RSAPrivateKey = field(repr=False)
    ca_cert: x509.Certificate
    signing_key: rsa.RSAPrivateKey = field(repr=False)
    signing_cert: x509.Certificate
    server_key: rsa.RSAPrivateKey = field(repr=False)
    server_cert: x509.Certificate

    @classmethod
    def generate(cls, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> FakePki:
        ca_key, signing_key, server_key = new_key(), new_key(), new_key()
        ca_cert = _issue("Fake cloud test CA", ca_key, None, ())
        issuer = (ca_cert.subject, ca_key)
        signing_cert = _issue("SMN signing (test)", signing_key, issuer, ())
        server_cert = _issue(hosts[0], server_key, issuer, hosts)
        return cls(ca_key, ca_cert, signing_key, signing_cert, server_key, server_cert)

    @property
    def ca_pem(self) -> bytes:
        return _pem(self.ca_cert)

    @property
    def signing_cert_pem(self) -> bytes:
        return _pem(self.signing_cert)

    def server_context(self) -> ssl.SSLContext:
        """A server-side context with the server certificate (for `start_simulator` or a subscriber)."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        with tempfile.TemporaryDirectory() as directory:
            cert, key = self.write_server(Path(directory))
            context.load_cert_chain(cert, key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client-side context that trusts the CA (and nothing else)."""
        return ssl.create_default_context(cadata=self.ca_pem.decode())

    def write_ca(self, path: Path) -> Path:
        """Write the CA's PEM to ``path`` (a test's temporary directory), for a ``ca_file``."""
        path.write_bytes(self.ca_pem)
        return path

    def write_server(self, directory: Path) -> tuple[Path, Path]:
        """Write the server certificate (with the CA after it) and its key into ``directory``."""
        cert, key = directory / "server.pem", directory / "server-key.pem"
        cert.write_bytes(_pem(self.server_cert) + self.ca_pem)
        key.write_bytes(_key_pem(self.server_key))
        key.chmod(0o600)
        return cert, key


@dataclass(frozen=True, slots=True)
class SmnTopic:
    """An SMN topic of the fake cloud at ``base_url`` (its HTTPS URL): URN, signing key and certificate."""

    sim: Simulator = field(repr=False)
    base_url: str
    region: str
    project_id: str
    name: str
    key: rsa.RSAPrivateKey = field(repr=False)
    cert_pem: bytes = field(repr=False)

    @property
    def urn(self) -> str:
        return f"urn:smn:{self.region}:{self.project_id}:{self.name}"

    @property
    def cert_file(self) -> str:
        """``SMN_<region>_<hex>.pem``: the hex is the certificate's SHA-256, cut to 32 digits."""
        return f"SMN_{self.region}_{hashlib.sha256(self.cert_pem).hexdigest()[:32]}.pem"

    @property
    def cert_url(self) -> str:
        """The ``signing_cert_url`` its messages carry."""
        return f"{self.base_url}/smn/{self.cert_file}"

    def cert_url_at(self, *, host: str = "", scheme: str = "") -> str:
        """The certificate's URL with another host or scheme (a hostile ``signing_cert_url``); the fake
        cloud serves it at any host name that reaches it, over HTTPS."""
        parts = urlsplit(self.base_url)
        netloc = f"{host}:{parts.port}" if host else parts.netloc
        return f"{scheme or parts.scheme}://{netloc}/smn/{self.cert_file}"

    def redirect_url(self, to: str) -> str:
        """A certificate URL on the fake cloud that answers 302 to ``to``."""
        return f"{self.base_url}/smn/redirect/{self.cert_file}?to={quote(to, safe='')}"

    @property
    def confirmed(self) -> list[Subscription]:
        """Its subscriptions confirmed so far (``GET /smn/confirm``)."""
        return self.sim.smn.confirmed(self.urn)


def smn_topic(
    sim: Simulator,
    base_url: str,
    pki: FakePki,
    *,
    region: str = "cn-north-4",
    project_id: str = DEFAULT_PROJECT_ID,
    name: str = "task-events",
) -> SmnTopic:
    """A topic of ``sim`` (serving HTTPS at ``base_url``) signed with the PKI's signing certificate, which
    the simulator now serves at the topic's ``cert_url``."""
    topic = SmnTopic(sim, base_url.rstrip("/"), region, project_id, name, pki.signing_key, pki.signing_cert_pem)
    sim.smn.add_cert(topic.cert_file, topic.cert_pem)
    return topic


@dataclass(frozen=True, slots=True)
class SmnMessage:
    """An SMN message: its body's fields (``signature`` included) and the subscription URN header."""

    fields: Mapping[str, str]
    subscription_urn: str = ""

    @property
    def headers(self) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "X-SMN-MESSAGE-TYPE": self.fields.get("type", ""),
            "X-SMN-MESSAGE-ID": self.fields.get("message_id", ""),
            "X-SMN-TOPIC-URN": self.fields.get("topic_urn", ""),
        }
        if self.subscription_urn:
            headers["X-SMN-SUBSCRIPTION-URN"] = self.subscription_urn
        return headers

    def body(self) -> bytes:
        return json.dumps(dict(self.fields)).encode()

    def with_fields(self, **changes: str) -> SmnMessage:
        """The message with fields changed and its signature kept (invalid unless re-signed, or the
        field is not signed: ``signing_cert_url``)."""
        return replace(self, fields={**self.fields, **changes})

    def signed_with(self, key: rsa.RSAPrivateKey) -> SmnMessage:
        """The message signed anew with ``key``."""
        return self.with_fields(signature=sign(key, self.fields))


class Delivery(NamedTuple):
    """What the subscriber answered a push: its HTTP status and body."""

    status: int
    body: str


def _key(task: Task) -> tuple[str, str, str]:
    return task.cloud_service, task.project_id, task.task_id


def _utc(at: float, fmt: str = "%Y-%m-%dT%H:%M:%SZ") -> str:
    return time.strftime(fmt, time.gmtime(at))


class Pusher:
    """Pushes ``topic``'s SMN messages to one subscriber (``subscriber_url``, the exporter's
    ``/intake/smn``) and CloudEvents to ``cloudevents_url`` (default: ``/intake/cloudevents`` on the
    subscriber's host). ``ssl``: a client context trusting the subscriber's CA (None: the system's; an
    ``http://`` URL needs none). ``since``: `pending` leaves out tasks that began before it (simulated
    seconds after the start; default the elapsed time now, so a new subscription hears of new jobs only).
    Every post returns the subscriber's `Delivery`; none follows a redirect."""

    def __init__(
        self,
        subscriber_url: str,
        topic: SmnTopic,
        *,
        ssl: ssl.SSLContext | None = None,
        cloudevents_url: str = "",
        since: float | None = None,
    ) -> None:
        self.subscriber_url, self.topic, self.ssl = subscriber_url, topic, ssl
        self.cloudevents_url = cloudevents_url or urljoin(subscriber_url, "/intake/cloudevents")
        self.since = topic.sim.elapsed() if since is None else since
        self.subscription_urn = f"{topic.urn}:{uuid.uuid4().hex}"
        self._notified: set[tuple[str, str, str]] = set()
        self.log = structlog.get_logger().bind(topic_urn=topic.urn)

    # --- building messages (tests change them for the hostile cases) ---

    def _fields(self, kind: str, message: str, at: float | None, **extra: str) -> dict[str, str]:
        return {
            "type": kind,
            "signature_version": "v1",
            "topic_urn": self.topic.urn,
            "message_id": uuid.uuid4().hex,
            "message": message,
            "timestamp": _utc(self.topic.sim.now() if at is None else at),
            "signing_cert_url": self.topic.cert_url,
            **extra,
        }

    def _signed(self, fields: dict[str, str]) -> SmnMessage:
        return SmnMessage({**fields, "signature": sign(self.topic.key, fields)}, self.subscription_urn)

    def confirmation(
        self,
        *,
        kind: Literal["SubscriptionConfirmation", "UnsubscribeConfirmation"] = "SubscriptionConfirmation",
        at: float | None = None,
        subscribe_url: str = "",
    ) -> SmnMessage:
        """A signed confirmation; its ``subscribe_url`` (unless given) confirms this subscription once."""
        token = uuid.uuid4().hex
        subscription = Subscription(self.topic.urn, self.subscriber_url, self.subscription_urn)
        self.topic.sim.smn.add_subscription(token, subscription)
        url = subscribe_url or f"{self.topic.base_url}/smn/confirm?token={token}"
        verb = "subscribe to" if kind == "SubscriptionConfirmation" else "subscribe again to"
        text = f"You are invited to {verb} topic {self.topic.urn}. To confirm, visit the subscribe_url."
        return self._signed(self._fields(kind, text, at, subscribe_url=url))

    def notification(self, task: Task, *, at: float | None = None, subject: str | None = None) -> SmnMessage:
        """A signed notification of ``task``'s creation: its Cloud Trace record (ValueError for a task
        whose service's spec has no ``trace``). ``subject`` "" leaves the subject out."""
        spec = self.topic.sim.specs.get(task.cloud_service)
        if spec is None or spec.trace is None:
            raise ValueError(f"{task.cloud_service} task {task.task_id}: its spec has no trace to push")
        record = traces.trace_of(self.topic.sim.parts, task)
        unsubscribe = f"{self.topic.base_url}/smn/unsubscribe?subscription_urn={quote(self.subscription_urn)}"
        fields = self._fields("Notification", json.dumps(record), at, unsubscribe_url=unsubscribe)
        text = f"CTS key event: {record['service_type']} {record['trace_name']}" if subject is None else subject
        if text:
            fields["subject"] = text
        return self._signed(fields)

    def cloudevent_json(self, task: Task, *, at: float | None = None) -> dict[str, object]:
        """A CloudEvents 1.0 event whose ``data`` is the task's Cloud Trace record."""
        now = self.topic.sim.now() if at is None else at
        return {
            "id": uuid.uuid4().hex,
            "specversion": "1.0",
            "source": CLOUDEVENTS_SOURCE,
            "type": CLOUDEVENTS_TYPE,
            "subject": task.resource_id or task.task_id,
            "time": _utc(now, "%Y-%m-%dT%H:%M:%S") + f".{int(now * 1000) % 1000:03d}Z",
            "datacontenttype": "application/json",
            "data": traces.trace_of(self.topic.sim.parts, task),
        }

    # --- posting ---

    async def _post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Delivery:
        timeout = aiohttp.ClientTimeout(total=10)
        verify: ssl.SSLContext | bool = self.ssl if self.ssl is not None else True
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(url, data=body, headers=dict(headers), ssl=verify, allow_redirects=False) as response,
        ):
            return Delivery(response.status, await response.text())

    async def post(self, message: SmnMessage) -> Delivery:
        """Post ``message`` to the subscriber as it is (post it again: a replay)."""
        return await self._post(self.subscriber_url, message.body(), message.headers)

    async def subscribe(self) -> Delivery:
        """Post a SubscriptionConfirmation."""
        return await self.post(self.confirmation())

    async def notify(self, task: Task) -> Delivery:
        """Post a Notification of ``task``; `pending` will not offer it again."""
        self._notified.add(_key(task))
        return await self.post(self.notification(task))

    def pending(self) -> list[Task]:
        """The topic project's scenario tasks with a trace that began by now (and at or after
        ``since``) and were not notified yet, in scenario order."""
        elapsed = self.topic.sim.elapsed()
        return [task for task in self.topic.sim.scenario.tasks if self._due(task, elapsed)]

    def _due(self, task: Task, elapsed: float) -> bool:
        spec, begin = self.topic.sim.specs.get(task.cloud_service), task.begin_offset
        if spec is None or spec.trace is None or task.project_id != self.topic.project_id:
            return False
        return begin is not None and self.since <= begin <= elapsed and _key(task) not in self._notified

    async def push_due(self) -> list[tuple[Task, Delivery]]:
        """Notify every `pending` task, once each; what the subscriber answered each."""
        return [(task, await self.notify(task)) for task in self.pending()]

    async def run(self, interval: float = 1.0) -> None:
        """`push_due` every ``interval`` real seconds until cancelled (the demo; tests call `push_due`)."""
        while True:
            try:
                for task, delivery in await self.push_due():
                    self.log.info("simulator.pushed", task_id=task.task_id, status=delivery.status)
            except aiohttp.ClientError as exc:
                self.log.warning("simulator.push_failed", error=str(exc))
            await asyncio.sleep(interval)

    async def cloudevent(
        self,
        task: Task,
        mode: Literal["structured", "binary"] = "structured",
        token_header: str = "",
        token: str = "",
        *,
        at: float | None = None,
    ) -> Delivery:
        """Post a CloudEvents 1.0 delivery of ``task`` in ``mode``, with ``token_header: token`` if named."""
        event = self.cloudevent_json(task, at=at)
        headers = {token_header: token} if token_header else {}
        if mode == "structured":
            headers["Content-Type"] = "application/cloudevents+json"
            return await self._post(self.cloudevents_url, json.dumps(event).encode(), headers)
        for name in ("id", "specversion", "source", "type", "subject", "time"):
            headers[f"ce-{name}"] = str(event[name])
        headers["Content-Type"] = "application/json"
        return await self._post(self.cloudevents_url, json.dumps(event["data"]).encode(), headers)
