"""The fake cloud's push side (`exporter/simulator/push.py`, `smn.py`) over real sockets on 127.0.0.1: a
subscriber hears a signed confirmation and notifications, checked here against SMN's rules with
`cryptography` directly and the certificate fetched over HTTPS from the fake cloud; the confirmation URL
works once; tasks are pushed once, after they begin; CloudEvents in both modes; hostile variants fail."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from exporter.simulator import DEFAULT_PROJECT_ID, RunningSimulator, Simulator, default_scenario, start_simulator
from exporter.simulator.push import FakePki, Pusher, SmnMessage, SmnTopic, new_key, smn_topic
from exporter.simulator.scenario import Task

T0 = 1_700_000_000.0
EVS_LATE = "e7500000000000000000000000000001"  # begins 15 s after the start
TOPIC = f"urn:smn:cn-north-4:{DEFAULT_PROJECT_ID}:task-events"


@pytest.fixture(scope="module")
def pki() -> FakePki:
    return FakePki.generate()


@dataclass
class Subscriber:
    """A tiny HTTP(S) subscriber: every POST it got, answered 200 (or ``status[path]``)."""

    url: str = ""
    got: list[tuple[str, Mapping[str, str], bytes]] = field(default_factory=list)
    status: dict[str, int] = field(default_factory=dict)

    def bodies(self, path: str = "/intake/smn") -> list[dict[str, Any]]:
        return [json.loads(body) for p, _, body in self.got if p == path]


@asynccontextmanager
async def subscriber(pki: FakePki | None = None) -> AsyncIterator[Subscriber]:
    sub = Subscriber()

    async def receive(request: web.Request) -> web.Response:
        sub.got.append((request.path, dict(request.headers), await request.read()))
        return web.Response(status=sub.status.get(request.path, 200), text="ok")

    app = web.Application()
    app.router.add_post("/intake/{kind}", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=pki.server_context() if pki else None)
    await site.start()
    sub.url = f"{'https' if pki else 'http'}://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield sub
    finally:
        await runner.cleanup()


@asynccontextmanager
async def cloud(pki: FakePki) -> AsyncIterator[tuple[Simulator, RunningSimulator, SmnTopic]]:
    sim = Simulator(default_scenario(), clock=lambda: T0)
    async with await start_simulator(sim, ssl_context=pki.server_context()) as running:
        yield sim, running, smn_topic(sim, running.url, pki)


# --- the test's own verifier, written from SMN's documents (reference B.2) --------------------------

SIGNED = {
    "Notification": ["message", "message_id", "subject", "timestamp", "topic_urn", "type"],
    "SubscriptionConfirmation": ["message", "message_id", "subscribe_url", "timestamp", "topic_urn", "type"],
    "UnsubscribeConfirmation": ["message", "message_id", "subscribe_url", "timestamp", "topic_urn", "type"],
}


@dataclass
class Verifier:
    """Topic allow-list, certificate only over HTTPS from ``host`` (no redirect), RSA-SHA256 signature,
    an hour's window and message ID de-duplication; returns the result name the intake counts."""

    pki: FakePki
    host: str
    now: float
    topics: tuple[str, ...] = (TOPIC,)
    seen: set[str] = field(default_factory=set)

    async def check(self, fields: Mapping[str, str]) -> str:
        if fields["topic_urn"] not in self.topics:
            return "unknown_topic"
        url = urlsplit(fields["signing_cert_url"])
        if url.scheme != "https" or url.hostname != self.host:
            return "untrusted_certificate"
        async with httpx.AsyncClient(verify=self.pki.client_context(), follow_redirects=False) as client:
            answer = await client.get(fields["signing_cert_url"])
        if answer.status_code != 200:
            return "untrusted_certificate"
        key = x509.load_pem_x509_certificate(answer.content).public_key()
        assert isinstance(key, rsa.RSAPublicKey)
        text = "".join(f"{n}\n{fields[n]}\n" for n in sorted(SIGNED[fields["type"]]) if fields.get(n))
        try:
            key.verify(base64.b64decode(fields["signature"]), text.encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return "bad_signature"
        sent = time.mktime(time.strptime(fields["timestamp"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
        if sent < self.now - 3600:
            return "stale"
        if fields["message_id"] in self.seen:
            return "duplicate"
        self.seen.add(fields["message_id"])
        return "accepted"


def task(sim: Simulator, task_id: str) -> Task:
    return next(t for t in sim.scenario.tasks if t.task_id == task_id)


# --- confirmation and notification -----------------------------------------------------------------


async def test_confirmation_and_notification_arrive_signed_over_https(pki: FakePki) -> None:
    async with cloud(pki) as (sim, running, topic), subscriber(pki) as sub:
        pusher = Pusher(f"{sub.url}/intake/smn", topic, ssl=pki.client_context())
        assert await pusher.subscribe() == (200, "ok")
        sim.advance(15)
        assert (await pusher.notify(task(sim, EVS_LATE))).status == 200
        verifier = Verifier(pki, "127.0.0.1", sim.now())
        (_, confirm_headers, _), (_, notify_headers, _) = sub.got
        confirmation, notification = sub.bodies()
        assert [await verifier.check(b) for b in (confirmation, notification)] == ["accepted", "accepted"]
        assert confirm_headers["X-SMN-MESSAGE-TYPE"] == "SubscriptionConfirmation"
        assert notify_headers["X-SMN-MESSAGE-ID"] == notification["message_id"]
        assert notify_headers["X-SMN-TOPIC-URN"] == notification["topic_urn"] == TOPIC
        assert notification["signing_cert_url"].startswith(f"{running.url}/smn/SMN_cn-north-4_")
        assert notification["timestamp"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0 + 15))
        assert (notification["type"], notification["signature_version"]) == ("Notification", "v1")
        assert notification["subject"] and notification["unsubscribe_url"].startswith("https://")
        # The message is the trace record that ListTraces answers for the task, and names its job.
        record = json.loads(notification["message"])
        assert record in sim.traces(DEFAULT_PROJECT_ID)
        assert json.loads(record["response"])["job_id"] == EVS_LATE


async def test_the_subscribe_url_confirms_once_and_a_wrong_token_is_403(pki: FakePki) -> None:
    async with cloud(pki) as (sim, running, topic), subscriber() as sub:
        pusher = Pusher(f"{sub.url}/intake/smn", topic)
        await pusher.subscribe()
        subscribe_url = sub.bodies()[0]["subscribe_url"]
        assert subscribe_url.startswith(f"{running.url}/smn/confirm?token=")
        async with httpx.AsyncClient(verify=pki.client_context()) as client:
            assert (await client.get(f"{running.url}/smn/confirm?token=wrong")).status_code == 403
            assert topic.confirmed == []
            first = await client.get(subscribe_url)
            assert (first.status_code, first.json()["topic_urn"]) == (200, TOPIC)
            assert (await client.get(subscribe_url)).status_code == 403
        assert [(s.topic_urn, s.endpoint) for s in topic.confirmed] == [(TOPIC, f"{sub.url}/intake/smn")]
        assert sim.stats.requests_total == 0  # SMN's paths are not service requests


async def test_the_certificate_is_served_over_https_only(pki: FakePki) -> None:
    async with cloud(pki) as (_, _running, topic), httpx.AsyncClient(verify=pki.client_context()) as client:
        answer = await client.get(topic.cert_url)
        assert x509.load_pem_x509_certificate(answer.content) == pki.signing_cert
        assert (await client.get(topic.cert_url_at(host="localhost"))).status_code == 200
        moved = await client.get(topic.redirect_url("https://elsewhere.invalid/c.pem"))
        assert (moved.status_code, moved.headers["Location"]) == (302, "https://elsewhere.invalid/c.pem")
    plain = Simulator(default_scenario(), clock=lambda: T0)
    async with await start_simulator(plain) as running, httpx.AsyncClient() as client:
        http_topic = smn_topic(plain, running.url, pki)
        assert http_topic.cert_url.startswith("http://")
        assert (await client.get(http_topic.cert_url)).status_code == 404


# --- push_due ------------------------------------------------------------------------------------


async def push_steps(sim: Simulator, pusher: Pusher, steps: tuple[float, ...]) -> list[str]:
    """Advance the clock by each step and push what is due: the task IDs pushed, checking each push."""
    pushed: list[str] = []
    for step in steps:
        sim.advance(step)
        before = len(pushed)
        for t, delivery in await pusher.push_due():
            assert delivery.status == 200
            assert t.begin_offset is not None and 0 <= t.begin_offset <= sim.elapsed()
            pushed.append(t.task_id)
        assert not set(pushed[:before]) & set(pushed[before:])
        assert pusher.pending() == []
    return pushed


async def test_push_due_notifies_each_task_once_after_it_begins(pki: FakePki) -> None:
    async with cloud(pki) as (sim, _running, topic), subscriber() as sub:
        pusher = Pusher(f"{sub.url}/intake/smn", topic)
        pushed = await push_steps(sim, pusher, (0, 0, 5, 5, 5, 3600))
        with_traces = {"evs", "ecs", "bms", "ims", "cce"}
        assert sorted(pushed) == sorted(
            t.task_id
            for t in sim.scenario.tasks
            if t.cloud_service in with_traces and t.begin_offset is not None and t.begin_offset >= 0
        )
        assert len(pushed) == len(set(pushed))
        assert pushed.index(EVS_LATE) > pushed.index("e7500000000000000000000000000002")  # 15 s, 10 s
        records = [json.loads(b["message"]) for b in sub.bodies()]
        assert len(records) == len(pushed)
        traced = sim.traces(DEFAULT_PROJECT_ID)
        assert all(job in r["response"] and r in traced for job, r in zip(pushed, records, strict=True))


async def test_a_task_begun_before_since_is_not_pushed(pki: FakePki) -> None:
    async with cloud(pki) as (sim, _running, topic), subscriber() as sub:
        sim.advance(12)
        pusher = Pusher(f"{sub.url}/intake/smn", topic)  # since: now, 12 s after the start
        assert pusher.pending() == []
        sim.advance(3)
        assert [t.task_id for t in pusher.pending()] == [EVS_LATE]
        everything = Pusher(f"{sub.url}/intake/smn", topic, since=-1e9)
        assert "e7500000000000000000000000000005" in [t.task_id for t in everything.pending()]  # began -3 h


# --- CloudEvents ---------------------------------------------------------------------------------


async def test_cloudevents_in_both_modes_carry_the_token_and_the_trace(pki: FakePki) -> None:
    async with cloud(pki) as (sim, _running, topic), subscriber() as sub:
        pusher = Pusher(f"{sub.url}/intake/smn", topic)
        evs = task(sim, EVS_LATE)
        record = next(t for t in sim.traces(DEFAULT_PROJECT_ID) if EVS_LATE in t["response"])
        sub.status["/intake/cloudevents"] = 202
        assert await pusher.cloudevent(evs, "structured", "X-Intake-Token", "s3cret") == (202, "ok")
        assert (await pusher.cloudevent(evs, "binary", "X-Intake-Token", "s3cret")).status == 202
        (path, structured_headers, structured), (_, binary_headers, binary) = sub.got
        assert path == "/intake/cloudevents"
        event = json.loads(structured)
        assert structured_headers["Content-Type"] == "application/cloudevents+json"
        assert structured_headers["X-Intake-Token"] == binary_headers["X-Intake-Token"] == "s3cret"
        assert (event["specversion"], event["source"], event["datacontenttype"]) == (
            "1.0",
            "HC.CTS",
            "application/json",
        )
        assert event["data"] == record and event["id"] and event["type"] and event["subject"]
        assert event["time"] == time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(T0))
        assert json.loads(binary) == record and binary_headers["Content-Type"] == "application/json"
        assert binary_headers["ce-specversion"] == "1.0" and binary_headers["ce-source"] == "HC.CTS"
        assert {"ce-id", "ce-type", "ce-time", "ce-subject"} <= set(binary_headers)
        await pusher.cloudevent(evs, "binary")
        assert "X-Intake-Token" not in sub.got[-1][1]


def test_a_task_without_a_trace_cannot_be_notified(pki: FakePki) -> None:
    sim = Simulator(default_scenario(), clock=lambda: T0)
    pusher = Pusher("http://127.0.0.1:1/intake/smn", smn_topic(sim, "https://127.0.0.1:1", pki))
    with pytest.raises(ValueError, match="dws task d5a00000000000000000000000000001: its spec has no trace"):
        pusher.notification(task(sim, "d5a00000000000000000000000000001"))


# --- hostile variants ------------------------------------------------------------------------------


async def test_hostile_variants_fail_verification(pki: FakePki) -> None:
    async with cloud(pki) as (sim, _running, topic), subscriber() as sub:
        pusher = Pusher(f"{sub.url}/intake/smn", topic)
        evs = task(sim, EVS_LATE)
        good = pusher.notification(evs)
        other_topic = Pusher(f"{sub.url}/intake/smn", smn_topic(sim, topic.base_url, pki, name="other"))
        hostile: dict[str, SmnMessage] = {
            "another key": good.signed_with(new_key()),
            "changed after signing": good.with_fields(message=good.fields["message"].replace(EVS_LATE, "f" * 32)),
            "timestamp changed": good.with_fields(timestamp="2020-01-01T00:00:00Z"),
            "certificate from another host": good.with_fields(signing_cert_url=topic.cert_url_at(host="localhost")),
            "certificate over http": good.with_fields(signing_cert_url=topic.cert_url_at(scheme="http")),
            "certificate redirected": good.with_fields(
                signing_cert_url=topic.redirect_url(topic.cert_url_at(host="localhost"))
            ),
            "unknown topic": other_topic.notification(evs),
            "old timestamp": pusher.notification(evs, at=T0 - 7200),
        }
        verifier = Verifier(pki, "127.0.0.1", sim.now())
        results = {name: await verifier.check(message.fields) for name, message in hostile.items()}
        assert results == {
            "another key": "bad_signature",
            "changed after signing": "bad_signature",
            "timestamp changed": "bad_signature",
            "certificate from another host": "untrusted_certificate",
            "certificate over http": "untrusted_certificate",
            "certificate redirected": "untrusted_certificate",
            "unknown topic": "unknown_topic",
            "old timestamp": "stale",
        }
        # A replay: the same message posted twice arrives twice, byte for byte; the second is a duplicate.
        await pusher.post(good)
        await pusher.post(good)
        assert sub.got[0][2] == sub.got[1][2]
        assert [await verifier.check(b) for b in sub.bodies()] == ["accepted", "duplicate"]


async def test_a_signed_variant_verifies_but_is_hostile_elsewhere(pki: FakePki) -> None:
    """Changes re-signed with the topic's key pass the signature: an oversized body, a subscribe_url to
    another host, no subject (left out of the string to sign)."""
    async with cloud(pki) as (sim, _running, topic):
        pusher = Pusher("http://127.0.0.1:1/intake/smn", topic)
        verifier = Verifier(pki, "127.0.0.1", sim.now())
        big = pusher.notification(task(sim, EVS_LATE)).with_fields(message="x" * 300_000).signed_with(topic.key)
        elsewhere = pusher.confirmation(subscribe_url="https://evil.example/smn/confirm?token=1")
        bare = pusher.notification(task(sim, EVS_LATE), subject="")
        assert "subject" not in bare.fields
        for message in (big, elsewhere, bare):
            assert await verifier.check(message.fields) == "accepted"
        assert len(big.body()) > 300_000
        assert urlsplit(elsewhere.fields["subscribe_url"]).hostname == "evil.example"
