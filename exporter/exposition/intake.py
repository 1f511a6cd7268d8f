"""The intake doors (README, "Push intake"): `POST /intake/smn` (SMN HTTP(S) notifications, verified by
exporter/intake/smn.py) and `POST /intake/cloudevents` (CloudEvents 1.0 in the HTTP binding's structured,
binary and batch modes, and EventGrid's {"events": [...]}, behind a shared token). Off unless the
configuration's `intake:` names them: then 404, as for any unknown path.

A notice is a hint: the job its trace record names is tracked (source `pushed`, tracking/pushed.py) and a
refresh starts after the answer, which the sender gets at once. Every message (each CloudEvent of a
delivery) counts once in `huaweicloud_task_intake_messages_total{source, result}`. Bounded: a body over
`intake.max_body_size` is refused unread (413), each sender address has a token bucket of
`intake.rate_limit` messages per second, and each door one of ten times that (429; 4096 addresses
remembered), CloudEvents ids are remembered for duplicates (100,000 at most).
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web

from exporter.config import Config
from exporter.config.intake import IntakeSettings, SmnIntake
from exporter.intake.smn import CertificateFileError, CertificateStore, Received, Result, SmnPolicy, SmnReceiver
from exporter.log import repeated
from exporter.tracking.pushed import Place, read_notice

__all__ = ["INTAKE", "SENDERS", "IntakeDesk", "add_intake", "desk_of", "status_of"]

log = structlog.get_logger(__name__)

SENDERS = 4096  # sender addresses whose token buckets are remembered
DOOR_SENDERS = 10  # a door takes this many senders' worth of messages in all
EVENT_IDS = 100_000  # CloudEvents (source, id) remembered against duplicates
_STATUS = {
    Result.ACCEPTED: 200,
    Result.DUPLICATE: 200,  # answered as done: SMN and EventGrid must not send it again
    Result.NO_JOB: 200,
    Result.BAD_SIGNATURE: 403,
    Result.UNTRUSTED_CERTIFICATE: 403,
    Result.UNKNOWN_TOPIC: 403,
    Result.STALE: 400,
    Result.MALFORMED: 400,
    Result.TOO_LARGE: 413,
    Result.RATE_LIMITED: 429,
}


def status_of(result: Result) -> int:
    return _STATUS[result]


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")  # a value a refusal's reason quotes from the message


class _Buckets:
    """A token bucket per sender address: `rate` per second, bursts of twice that (at least 2)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # address -> (tokens, when)

    def take(self, address: str, rate: float) -> bool:
        now, capacity = self._clock(), max(2.0, 2 * rate)
        tokens, stamp = self._buckets.pop(address, (capacity, now))
        tokens = min(capacity, tokens + (now - stamp) * rate)
        self._buckets[address] = (tokens - 1 if tokens >= 1 else tokens, now)
        while len(self._buckets) > SENDERS:
            self._buckets.popitem(last=False)
        return tokens >= 1

    def charge(self, address: str, rate: float, count: int) -> None:
        """Takes `count` more tokens from a sender already admitted (the other events of a batch), into debt
        if need be: the delivery is read, and the sender's next ones wait until the bucket is paid back."""
        if address not in self._buckets or count <= 0:
            return
        now, capacity = self._clock(), max(2.0, 2 * rate)
        tokens, stamp = self._buckets[address]
        self._buckets[address] = (min(capacity, tokens + (now - stamp) * rate) - count, now)


class IntakeDesk:
    """What the intake doors share: the SMN receiver (made anew when its settings change), the CloudEvents
    ids seen, the senders' buckets, and the refresh a notice starts."""

    def __init__(
        self,
        config: Callable[[], Config],
        push: Callable[[tuple[str, str, str, str], str], bool],
        refresh: Callable[[], Any],
        count: Callable[[str, Result], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config, self._push, self._refresh, self._count, self._clock = config, push, refresh, count, clock
        self._buckets = _Buckets()
        self._smn: tuple[SmnIntake, SmnReceiver, CertificateStore] | None = None
        self._events: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._kicked: asyncio.Future[Any] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.confirmations: OrderedDict[str, str] = OrderedDict()  # topic URN -> subscribe_url (landing page)
        self._said: set[str] = set()

    @property
    def settings(self) -> IntakeSettings:
        return self._config().intake

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._smn is not None:
            await self._smn[2].aclose()

    def receiver(self, smn: SmnIntake) -> SmnReceiver | None:
        if self._smn is None or self._smn[0] != smn:
            if self._smn is not None:
                self._spawn(self._smn[2].aclose())
            policy = SmnPolicy(
                topics={t.urn: t.account for t in smn.topics},
                certificate_hosts=smn.certificate_hosts,
                certificate_files=smn.certificate_files,
                confirm=smn.confirm,
                max_age=smn.max_age,
                ca_file=smn.ca_file,
            )
            try:
                store = CertificateStore(policy)
            except (CertificateFileError, ValueError) as exc:  # checked at load; a file may go since
                repeated(log.error, "SMN certificates unusable; refusing SMN messages", "smn store", error=str(exc))
                self._smn = None
                return None
            self._smn = (smn, SmnReceiver(policy, store, self._clock), store)
        return self._smn[1]

    def admit(self, source: str, address: str, length: int | None) -> Result | None:
        """The result that ends a message before its body is read: too many from its sender, too large."""
        settings = self.settings
        # Each sender's bucket, and the door's of ten senders' worth (many addresses do not make it unbounded).
        if not self._buckets.take(address, settings.rate_limit) or not self._buckets.take(
            f"door {source}", DOOR_SENDERS * settings.rate_limit
        ):
            return Result.RATE_LIMITED
        if length is not None and length > settings.max_body_size:
            return Result.TOO_LARGE
        return None

    def charge(self, source: str, address: str, events: int) -> None:
        """A delivery of several events, admitted as one message, costs one message each: its sender's and
        its door's buckets pay for the others now (`rate_limit` counts events, not deliveries)."""
        settings = self.settings
        self._buckets.charge(address, settings.rate_limit, events - 1)
        self._buckets.charge(f"door {source}", DOOR_SENDERS * settings.rate_limit, events - 1)

    def answer(self, source: str, result: Result, reason: str = "") -> web.Response:
        self._count(source, result)
        if result not in (Result.ACCEPTED, Result.DUPLICATE, Result.NO_JOB):
            # Keyed by the reason too, so each new cause is said at once (a user fixing one sees the next);
            # not by what it quotes of the message (a host name any sender makes up: exporter/log.py's rule).
            cause = _QUOTED.sub("'...'", reason)
            repeated(log.info, "intake message refused", (source, result.value, cause), source=source,
                     result=result.value, reason=reason)  # fmt: skip
        return web.json_response({"result": result.value}, status=status_of(result))

    def answer_many(self, source: str, results: list[Result]) -> web.Response:
        """A delivery of several events (all read): each counted; 200, `accepted` if any was."""
        for result in results:
            self._count(source, result)
        overall = Result.ACCEPTED if Result.ACCEPTED in results else results[0]
        return web.json_response({"result": overall.value, "events": [result.value for result in results]})

    def hint(self, source: str, place: Place, record: Any, at: tuple[str, ...] = ()) -> Result:
        """Track the job a notice's trace record (at `at` in it) names; NO_JOB (said once per cause,
        redacted) when none."""
        notice = read_notice(self._config(), place, record, at)
        if notice.target is None or not notice.job_id:
            self._say_unread(source, notice.why, record)
            return Result.NO_JOB
        if self._push(notice.target.key, notice.job_id):
            self._kick()
        return Result.ACCEPTED

    def remember_event(self, source: str, event_id: str) -> bool:
        """Whether a CloudEvent (source, id) is new; remembered when it is."""
        key = (source, event_id)
        if key in self._events:
            return False
        self._events[key] = None
        while len(self._events) > EVENT_IDS:
            self._events.popitem(last=False)
        return True

    def confirmation(self, received: Received, receiver: SmnReceiver, topic: str) -> None:
        """A verified SubscriptionConfirmation: its URL in the log and on the landing page; GET it when the
        configuration says `confirm: auto`."""
        self.confirmations[topic] = received.confirm_url
        while len(self.confirmations) > 64:
            self.confirmations.popitem(last=False)
        log.warning("SMN subscription to confirm: open subscribe_url (or set intake.smn.confirm: auto)",
                    topic_urn=topic, subscribe_url=received.confirm_url)  # fmt: skip

        async def confirm() -> None:
            said = await receiver.confirm(received.confirm_url)
            log.info("SMN subscription confirmation", topic_urn=topic, outcome=said)

        self._spawn(confirm())

    def _kick(self) -> None:
        """A refresh now (the pushed job is due at once), unless one this door started is still running."""
        if self._kicked is None or self._kicked.done():
            self._kicked = self._spawn(self._refresh())

    def _spawn(self, work: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _say_unread(self, source: str, why: str, record: Any) -> None:
        """The first message of each cause the exporter cannot read, redacted: its fields' names and kinds,
        and the service type and operation, never the values (a trace record holds users and bodies)."""
        if why in self._said or len(self._said) > 64:
            return
        self._said.add(why)
        if isinstance(record, str | bytes):  # an SMN message; a binary CloudEvent's body, a data_base64
            try:
                record = json.loads(record)
            except (ValueError, RecursionError):
                record = {"(text)": record}
        shape = {k: type(v).__name__ for k, v in record.items()} if isinstance(record, dict) else type(record).__name__
        keep = {k: record.get(k) for k in ("service_type", "trace_name")} if isinstance(record, dict) else {}
        named = {k: v for k, v in keep.items() if isinstance(v, str)}
        log.warning("a pushed message names no job the exporter tracks; adjust the reading if it should",
                    source=source, why=why, fields=shape, **named)  # fmt: skip


INTAKE = web.AppKey("intake", IntakeDesk)
SERVES_INTAKE = web.AppKey("serves_intake", bool)  # False on the main listener when the intake has its own


async def _body(request: web.Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is longer than `limit` (the rest is not read)."""
    data = bytearray()
    async for chunk in request.content.iter_chunked(65536):
        data += chunk
        if len(data) > limit:
            return None
    return bytes(data)


async def _admitted(request: web.Request, source: str) -> tuple[IntakeDesk, bytes] | web.Response:
    """The desk and the body of a message its sender may send and that is not too large; else the answer.
    404 when the door is off (or served by a listener of its own)."""
    desk = request.app[INTAKE]
    if getattr(desk.settings, source) is None or not request.app[SERVES_INTAKE]:
        raise web.HTTPNotFound()
    early = desk.admit(source, request.remote or "", request.content_length)
    if early is not None:
        return desk.answer(source, early)
    body = await _body(request, desk.settings.max_body_size)
    if body is None:  # answered, and the connection closed: the rest of the body is not read (nor drained)
        response = desk.answer(source, Result.TOO_LARGE)
        response.force_close()
        await response.prepare(request)
        await response.write_eof()
        if request.transport is not None:
            request.transport.close()
        return response
    return desk, body


async def smn_door(request: web.Request) -> web.StreamResponse:
    admitted = await _admitted(request, "smn")
    if isinstance(admitted, web.Response):
        return admitted
    desk, body = admitted
    smn = desk.settings.smn
    assert smn is not None
    receiver = desk.receiver(smn)
    if receiver is None:
        return desk.answer("smn", Result.UNTRUSTED_CERTIFICATE, "the pinned certificates cannot be read")
    received = await receiver.receive(body)
    if received.result is not Result.ACCEPTED or received.message is None:
        return desk.answer("smn", received.result, received.reason)
    message = received.message
    topic = smn.topic(message["topic_urn"])
    assert topic is not None  # the receiver accepts configured topics only
    if message["type"] == "SubscriptionConfirmation":
        # Signed, but a URL elsewhere would make the exporter (or its operator) fetch it: refused, unshown.
        refused = receiver.refuses(received.confirm_url)
        if refused:
            return desk.answer("smn", Result.MALFORMED, refused)
        desk.confirmation(received, receiver, topic.urn)
        return desk.answer("smn", Result.ACCEPTED)
    if message["type"] == "UnsubscribeConfirmation":
        log.warning("SMN subscription ended: no more notifications from this topic", topic_urn=topic.urn)
        return desk.answer("smn", Result.ACCEPTED)
    return desk.answer(
        "smn", desk.hint("smn", Place(topic.account, topic.region, topic.project_id), message["message"])
    )


STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
MAX_EVENTS = 100  # events in one delivery (EventGrid sends at most 20)


@dataclass(frozen=True)
class _Event:
    source: str
    id: str
    data: Any  # a JSON value, or bytes read as JSON text (binary mode's body, a data_base64)


def _documents(request: web.Request, body: bytes) -> list[Any] | str:
    """The events of a delivery as unchecked attribute mappings, or why it holds none. Structured mode
    (application/cloudevents+json), batch mode (application/cloudevents-batch+json: a JSON array), binary mode
    (ce-* headers, the body the data), and what EventGrid's documents show reaching a target: a JSON body
    {"events": [...]} of structured events, whatever its content type (that is not documented)."""
    kind = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if kind not in (STRUCTURED, BATCH) and "ce-specversion" in request.headers:
        attributes = {name: request.headers.get(f"ce-{name}") for name in ("specversion", "id", "source")}
        return [{**attributes, "data": body}]
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return "the body is not JSON"
    if kind == BATCH:
        return document if isinstance(document, list) else "a batch (cloudevents-batch+json) is a JSON array"
    if isinstance(document, dict) and "specversion" not in document and isinstance(document.get("events"), list):
        return list(document["events"])  # EventGrid's {"events": [...]}
    if isinstance(document, dict) and (kind == STRUCTURED or "specversion" in document):
        return [document]
    return ("not a CloudEvent: structured (application/cloudevents+json), batch (application/cloudevents-batch+json), "
            'binary (ce-* headers) or EventGrid\'s {"events": [...]}')  # fmt: skip


def _read_event(document: Any) -> _Event | str:
    """One event's source, id and data, or why it is not a CloudEvent 1.0."""
    if not isinstance(document, dict):
        return "an event is not a JSON object"
    if document.get("specversion") != "1.0":
        return "specversion is not 1.0"
    if not all(isinstance(document.get(name), str) and document[name] for name in ("id", "source")):
        return "id and source are required"
    data = document.get("data")
    encoded = document.get("data_base64")
    if encoded is not None:
        try:
            data = base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else None
        except ValueError:  # binascii.Error is one, and so is a non-ASCII string
            data = None
        if data is None:
            return "data_base64 is not base64"
    return _Event(document["source"], document["id"], data)


def _events(request: web.Request, body: bytes) -> list[_Event] | str:
    """Every event of a delivery, or why it is refused whole (nothing of it is taken then)."""
    documents = _documents(request, body)
    if isinstance(documents, str):
        return documents
    if not documents or len(documents) > MAX_EVENTS:
        return f"a delivery holds 1 to {MAX_EVENTS} events, not {len(documents)}"
    events = []
    for document in documents:
        event = _read_event(document)
        if isinstance(event, str):
            return event
        events.append(event)
    return events


async def cloudevents_door(request: web.Request) -> web.StreamResponse:
    admitted = await _admitted(request, "cloudevents")
    if isinstance(admitted, web.Response):
        return admitted
    desk, body = admitted
    settings = desk.settings.cloudevents
    assert settings is not None
    given = request.headers.get(settings.token_header, "").encode("utf-8", "surrogateescape")
    if not hmac.compare_digest(given, settings.token.reveal().encode("utf-8", "surrogateescape")):
        return desk.answer("cloudevents", Result.BAD_SIGNATURE, f"no or a wrong {settings.token_header}")
    events = _events(request, body)
    if isinstance(events, str):
        return desk.answer("cloudevents", Result.MALFORMED, events)
    desk.charge("cloudevents", request.remote or "", len(events))
    results = []
    for event in events:  # each event counts once, as an SMN message does
        if not desk.remember_event(event.source, event.id):
            results.append(Result.DUPLICATE)
        else:
            at = settings.record_of(event.source)
            results.append(desk.hint("cloudevents", Place(settings.account), event.data, at))
    if len(results) == 1:
        return desk.answer("cloudevents", results[0])
    return desk.answer_many("cloudevents", results)


def desk_of(exporter: Any) -> IntakeDesk:
    """The intake desk of a running exporter (`exporter.app.Exporter`), its parts looked up when used."""
    return IntakeDesk(
        lambda: exporter.config,
        lambda key, job_id: exporter.tracker.push(key, job_id),
        lambda: exporter.refresh(exporter.config.scrape.refresh_timeout, scraper="intake"),
        lambda source, result: exporter.metrics.intake(source, result),
        lambda: exporter.clock(),
    )


def add_intake(app: web.Application, desk: IntakeDesk, *, serves: bool = True) -> None:
    """The intake doors on `app`; `serves` False: they answer 404 (the intake has a listener of its own)."""
    app[INTAKE] = desk
    app[SERVES_INTAKE] = serves
    app.router.add_post("/intake/smn", smn_door)
    app.router.add_post("/intake/cloudevents", cloudevents_door)

    async def close(app: web.Application) -> None:
        await desk.aclose()

    app.on_cleanup.append(close)
