"""Push intake end to end (issue 23): the fake cloud (HTTPS on 127.0.0.1, a run-time test PKI) pushes signed SMN
messages and CloudEvents to the exporter's doors over real sockets; a job it starts is on /metrics within one
scrape with no list call; every hostile case is refused with its own result, counted, and changes nothing
tracked; the doors answer 404 when off."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
import yaml

from exporter.app import Exporter
from exporter.config import load_config
from exporter.exposition.intake import desk_of
from exporter.exposition.server import make_app, make_intake_app, serve
from exporter.simulator import DEFAULT_PROJECT_ID, DEMO_TOKEN, Simulator, default_scenario, start_simulator
from exporter.simulator.push import FakePki, Pusher, SmnTopic, new_key, smn_topic
from exporter.simulator.scenario import Task
from tests.test_e2e import samples

T0 = 1_800_000_000.0
EVS_LATE = "e7500000000000000000000000000001"  # the default scenario's EVS job that begins 15 s in
TOKEN = "intake-token-for-tests"


@pytest.fixture(scope="module")
def pki() -> FakePki:
    return FakePki.generate()


@dataclass
class Rig:
    sim: Simulator
    topic: SmnTopic
    pusher: Pusher
    http: httpx.AsyncClient
    exporter: Exporter
    now: list[float]

    def task(self, task_id: str) -> Task:
        return next(t for t in self.sim.scenario.tasks if t.task_id == task_id)

    async def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        return samples((await self.http.get("/metrics")).text)

    def counted(self, data: dict[tuple[str, frozenset[tuple[str, str]]], float], source: str, result: str) -> float:
        return data.get(
            ("huaweicloud_task_intake_messages_total", frozenset({"source": source, "result": result}.items())), 0.0
        )

    def tracked(self) -> set[str]:
        return {task_id for t in self.exporter.tracker.targets for task_id in t.tasks}


def config(
    url: str, ca: Path, port: int, confirm: str = "log", intake: bool = True, rate_limit: float = 20
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "accounts": [{"name": "prod", "cloud": "custom", "auth": {"type": "token", "token": "${T}"},
                      "tls": {"ca_file": str(ca)}}],
        "services": [{"cloud_service": "evs", "account": "prod", "region": "cn-north-4",
                      "project_id": DEFAULT_PROJECT_ID, "endpoint": url}],
    }  # fmt: skip
    if intake:
        document["intake"] = {
            "smn": {
                "topics": [{"urn": f"urn:smn:cn-north-4:{DEFAULT_PROJECT_ID}:task-events", "account": "prod"}],
                "certificate_hosts": [f"127.0.0.1:{port}"],
                "ca_file": str(ca),
                "confirm": confirm,
                "max_age": "10m",
            },
            "cloudevents": {"account": "prod", "token_header": "X-Intake-Token", "token": "${IT}"},
            "rate_limit": rate_limit,
        }
    return document


@contextlib.asynccontextmanager
async def rig(pki: FakePki, tmp_path: Path, monkeypatch: Any, **options: Any) -> AsyncIterator[Rig]:
    monkeypatch.setenv("T", DEMO_TOKEN)
    monkeypatch.setenv("IT", TOKEN)
    now = [T0]
    clock: Callable[[], float] = lambda: now[0]  # noqa: E731
    sim = Simulator(default_scenario(), clock=clock)
    ca = pki.write_ca(tmp_path / "ca.pem")
    async with await start_simulator(sim, ssl_context=pki.server_context()) as cloud:
        port = int(cloud.url.rsplit(":", 1)[1])
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config(cloud.url, ca, port, **options)), encoding="utf-8")
        exporter = Exporter(load_config(path), clock=clock)
        serving = await serve(make_app(exporter), "127.0.0.1", 0)
        topic = smn_topic(sim, cloud.url, pki)
        pusher = Pusher(f"http://127.0.0.1:{serving.port}/intake/smn", topic, since=0)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{serving.port}", timeout=30) as http:
                yield Rig(sim, topic, pusher, http, exporter, now)
        finally:
            await serving.stop()
            await exporter.aclose()


async def until(check: Callable[[], bool], what: str, deadline: float = 10.0) -> None:
    """A deadline for something the exporter does in a task of its own (never a sleep to wait)."""
    end = time.monotonic() + deadline
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)  # yield to the exporter's task; the deadline bounds it


async def test_a_job_pushed_is_on_metrics_within_one_scrape_with_no_list_call(
    pki: FakePki, tmp_path: Path, monkeypatch: Any
) -> None:
    async with rig(pki, tmp_path, monkeypatch) as r:
        await r.metrics()
        assert EVS_LATE not in r.tracked()
        r.now[0] = T0 + 20  # the job began at 15 s
        pushed = await r.pusher.push_due()
        assert [(task.task_id, delivery.status) for task, delivery in pushed if task.task_id == EVS_LATE] == [
            (EVS_LATE, 200)
        ]
        data = await r.metrics()  # one scrape
        status = {dict(k[1])["state"]: v for k, v in data.items()
                  if k[0] == "huaweicloud_task_status" and dict(k[1]).get("task_id") == EVS_LATE}  # fmt: skip
        assert status and max(status.values()) == 1
        assert sum(r.sim.stats.list_requests.values()) == 0  # found by the push, not by a list
        labels = frozenset({"account": "prod", "cloud_service": "evs", "region": "cn-north-4",
                            "project_id": DEFAULT_PROJECT_ID, "source": "pushed"}.items())  # fmt: skip
        assert data[("huaweicloud_task_tracked", labels)] >= 1
        assert r.counted(data, "smn", "accepted") >= 1


async def test_cloudevents_in_both_modes_and_a_wrong_token(pki: FakePki, tmp_path: Path, monkeypatch: Any) -> None:
    async with rig(pki, tmp_path, monkeypatch) as r:
        r.now[0] = T0 + 20
        task = r.task(EVS_LATE)
        wrong = await r.pusher.cloudevent(task, "structured", "X-Intake-Token", "not-the-token")
        missing = await r.pusher.cloudevent(task, "binary")
        assert (wrong.status, missing.status) == (403, 403)
        assert EVS_LATE not in r.tracked()  # nothing it sent changed the tracked tasks
        structured = await r.pusher.cloudevent(task, "structured", "X-Intake-Token", TOKEN)
        binary = await r.pusher.cloudevent(task, "binary", "X-Intake-Token", TOKEN)
        assert (structured.status, json.loads(structured.body)) == (200, {"result": "accepted"})
        assert binary.status == 200 and EVS_LATE in r.tracked()
        data = await r.metrics()
        assert r.counted(data, "cloudevents", "bad_signature") == 2
        assert r.counted(data, "cloudevents", "accepted") == 2
        assert TOKEN not in (await r.http.get("/metrics")).text
        shown = (await r.http.get("/config")).text
        assert TOKEN not in shown and "token_header: X-Intake-Token" in shown and "token: <secret>" in shown


async def test_every_hostile_smn_case_is_refused_with_its_own_result(
    pki: FakePki, tmp_path: Path, monkeypatch: Any
) -> None:
    async with rig(pki, tmp_path, monkeypatch) as r:
        r.now[0] = T0 + 20
        task, p = r.task(EVS_LATE), r.pusher
        other = smn_topic(r.sim, r.topic.base_url, pki, name="someone-elses")
        cases = {
            "bad_signature": [p.notification(task).signed_with(new_key()),
                              p.notification(task).with_fields(message=json.dumps({"service_type": "EVS"}))],
            "untrusted_certificate": [
                p.notification(task).with_fields(signing_cert_url=r.topic.cert_url_at(host="localhost")),
                p.notification(task).with_fields(signing_cert_url=r.topic.cert_url_at(scheme="http")),
                p.notification(task).with_fields(signing_cert_url=r.topic.redirect_url(r.topic.cert_url)),
            ],
            "unknown_topic": [Pusher(p.subscriber_url, other, since=0).notification(task)],
            "stale": [p.notification(task, at=T0 - 3600)],
            "malformed": [p.confirmation(subscribe_url="https://smn.elsewhere.example/confirm?token=x")],
        }  # fmt: skip
        for result, messages in cases.items():
            for message in messages:
                delivery = await p.post(message)
                assert json.loads(delivery.body) == {"result": result}, (result, message.fields.get("type"))
        assert EVS_LATE not in r.tracked()  # nothing a refused message sent was taken
        real = p.notification(task)
        assert json.loads((await p.post(real)).body) == {"result": "accepted"}
        assert json.loads((await p.post(real)).body) == {"result": "duplicate"}  # a replay
        big = await r.http.post("/intake/smn", content=b"{" + b" " * (300 * 1024) + b"}")
        assert (big.status_code, big.json()) == (413, {"result": "too_large"})
        data = await r.metrics()
        for result, messages in cases.items():
            assert r.counted(data, "smn", result) == len(messages), result
        assert (r.counted(data, "smn", "duplicate"), r.counted(data, "smn", "too_large")) == (1, 1)
        assert r.topic.confirmed == [] and other.confirmed == []  # nothing fetched a subscribe_url


async def test_a_subscription_is_logged_or_confirmed_on_an_allowed_host(
    pki: FakePki, tmp_path: Path, monkeypatch: Any
) -> None:
    async with rig(pki, tmp_path, monkeypatch) as r:
        delivery = await r.pusher.subscribe()
        assert delivery.status == 200 and r.topic.confirmed == []  # confirm: log
        page = (await r.http.get("/")).text
        assert "SMN subscriptions to confirm" in page and f"{r.topic.base_url}/smn/confirm?token=" in page
    async with rig(pki, tmp_path, monkeypatch, confirm="auto") as r:
        assert (await r.pusher.subscribe()).status == 200
        await until(lambda: len(r.topic.confirmed) == 1, "the exporter's GET of subscribe_url")


async def test_a_message_without_a_job_is_counted_and_dropped(pki: FakePki, tmp_path: Path, monkeypatch: Any) -> None:
    async with rig(pki, tmp_path, monkeypatch) as r:
        r.now[0] = T0 + 20
        task = r.task(EVS_LATE)
        record = json.loads(r.pusher.notification(task).fields["message"])
        record["response"] = json.dumps({"volume_id": "v"})  # a synchronous call: no job ID
        message = r.pusher._signed(r.pusher._fields("Notification", json.dumps(record), None))
        assert json.loads((await r.pusher.post(message)).body) == {"result": "no_job"}
        assert EVS_LATE not in r.tracked()


async def test_the_doors_are_404_when_off_and_on_their_own_listener_when_asked(
    pki: FakePki, tmp_path: Path, monkeypatch: Any
) -> None:
    async with rig(pki, tmp_path, monkeypatch, intake=False) as r:
        for path in ("/intake/smn", "/intake/cloudevents"):
            assert (await r.http.post(path, content=b"{}")).status_code == 404
    async with rig(pki, tmp_path, monkeypatch) as r:
        desk = desk_of(r.exporter)
        main = await serve(make_app(r.exporter, intake=desk), "127.0.0.1", 0)
        own = await serve(make_intake_app(desk), "127.0.0.1", 0)
        try:
            async with httpx.AsyncClient(timeout=10) as http:
                body = json.dumps({"not": "smn"}).encode()
                on_main = await http.post(f"http://127.0.0.1:{main.port}/intake/smn", content=body)
                on_own = await http.post(f"http://127.0.0.1:{own.port}/intake/smn", content=body)
                metrics_on_own = await http.get(f"http://127.0.0.1:{own.port}/metrics")
        finally:
            await main.stop()
            await own.stop()
        assert on_main.status_code == 404
        assert (on_own.status_code, on_own.json()) == (400, {"result": "malformed"})
        assert metrics_on_own.status_code == 404


async def test_a_flood_from_one_sender_is_rate_limited(pki: FakePki, tmp_path: Path, monkeypatch: Any) -> None:
    async with rig(pki, tmp_path, monkeypatch, rate_limit=1) as r:  # bursts of 2, then one a second
        codes = [(await r.http.post("/intake/smn", content=b"{}")).status_code for _ in range(100)]
        assert codes.count(429) >= 50 and set(codes) == {400, 429}
        data = await r.metrics()
        assert r.counted(data, "smn", "rate_limited") == codes.count(429)


async def test_a_chunked_body_is_cut_off_at_the_limit(pki: FakePki, tmp_path: Path, monkeypatch: Any) -> None:
    """No Content-Length to refuse up front: the body is read up to the limit and no further."""
    sent = [0]

    async def endless() -> AsyncIterator[bytes]:
        for _ in range(10_000):  # 640 MiB if it were all read
            sent[0] += 1
            yield b"x" * 65536

    async with rig(pki, tmp_path, monkeypatch) as r:
        with contextlib.suppress(httpx.HTTPError):  # the exporter may close before the client is done
            answer = await r.http.post("/intake/cloudevents", content=endless(), headers={"X-Intake-Token": TOKEN})
            assert (answer.status_code, answer.json()) == (413, {"result": "too_large"})
        assert sent[0] < 100  # read to the limit (256 KiB), not to the end
        data = await r.metrics()
        assert r.counted(data, "cloudevents", "too_large") == 1


async def test_the_intakes_own_listener_takes_the_same_basic_auth(
    pki: FakePki, tmp_path: Path, monkeypatch: Any
) -> None:
    import bcrypt

    users = {"smn": bcrypt.hashpw(b"intake-password", bcrypt.gensalt(rounds=4))}
    async with rig(pki, tmp_path, monkeypatch) as r:
        own = await serve(make_intake_app(desk_of(r.exporter), users), "127.0.0.1", 0)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{own.port}", timeout=10) as http:
                anonymous = await http.post("/intake/smn", content=b"{}")
                wrong = await http.post("/intake/smn", content=b"{}", auth=("smn", "guess"))
                right = await http.post("/intake/smn", content=b"{}", auth=("smn", "intake-password"))
        finally:
            await own.stop()
        assert (anonymous.status_code, wrong.status_code) == (401, 401)
        assert (right.status_code, right.json()) == (400, {"result": "malformed"})
        data = await r.metrics()
        assert r.counted(data, "smn", "malformed") == 1  # the refused-at-the-door requests never reached it


def desk_alone() -> Any:
    """An intake desk with both doors, `rate_limit: 1`, and nothing behind it (the buckets alone)."""
    from exporter.config import parse_config
    from exporter.exposition.intake import IntakeDesk

    text = f"""
accounts: [{{name: prod, cloud: custom, auth: {{type: token, token: t}}}}]
services: [{{cloud_service: evs, account: prod, region: cn-north-4, project_id: {DEFAULT_PROJECT_ID},
             endpoint: "http://127.0.0.1:9"}}]
intake: {{cloudevents: {{account: prod, token_header: X-T, token: t}}, rate_limit: 1}}
"""
    config = parse_config(text)
    return IntakeDesk(lambda: config, lambda key, job_id: False, lambda: None, lambda source, result: None)


async def test_many_senders_share_the_doors_bucket() -> None:
    """A flood from many addresses: each sender's bucket lets it through, the door's does not."""
    from exporter.intake import Result

    desk = desk_alone()
    answers = [desk.admit("cloudevents", f"127.0.0.{n}", 10) for n in range(1, 201)]
    assert answers.count(None) == 20  # the door's burst: twice ten senders' worth of one message a second
    assert set(answers) == {None, Result.RATE_LIMITED}
    assert desk.admit("smn", "127.0.1.1", 10) is None  # the other door has its own bucket


async def test_a_batch_costs_its_sender_one_message_per_event() -> None:
    """`rate_limit` counts events: a batch is admitted as one message and read whole, and its other events
    are paid for from its sender's bucket (into debt) and the door's, so that sender's next delivery waits;
    one event costs one, and another sender is not charged."""
    from exporter.intake import Result

    desk = desk_alone()
    assert desk.admit("cloudevents", "127.0.0.1", 10) is None
    desk.charge("cloudevents", "127.0.0.1", 5)  # a batch of 5 events: 4 more, its bucket 3 in debt (the door's 15 left)
    assert desk.admit("cloudevents", "127.0.0.1", 10) is Result.RATE_LIMITED
    assert desk.admit("cloudevents", "127.0.0.2", 10) is None  # another sender: its own bucket
    desk.charge("cloudevents", "127.0.0.2", 1)  # one event: nothing more to pay
    assert desk.admit("cloudevents", "127.0.0.2", 10) is None  # the burst of two


async def test_the_cloudevents_shapes_a_sender_may_use(pki: FakePki, tmp_path: Path, monkeypatch: Any) -> None:
    """The HTTP binding's structured mode with a charset, binary mode with lower-case headers and a charset,
    `data_base64`, batch mode, and EventGrid's documented {"events": [...]} as application/json: each event is
    read, counted once and tracked; a batch answers the result of each."""
    async with rig(pki, tmp_path, monkeypatch) as r:
        r.now[0] = T0 + 20
        event = r.pusher.cloudevent_json(r.task(EVS_LATE))
        token = {"X-Intake-Token": TOKEN}

        async def post(document: Any, content_type: str, **headers: str) -> tuple[int, Any]:
            answer = await r.http.post("/intake/cloudevents", content=json.dumps(document).encode(),
                                       headers={"Content-Type": content_type, **token, **headers})  # fmt: skip
            return answer.status_code, answer.json()

        def fresh(**fields: Any) -> dict[str, Any]:
            return {**event, "id": f"{time.monotonic_ns()}", **fields}

        structured = "application/cloudevents+json; charset=utf-8"
        assert await post(fresh(), structured) == (200, {"result": "accepted"})
        binary = {f"ce-{name}": str(event[name]) for name in ("specversion", "source", "type")}
        assert await post(event["data"], "application/json; charset=utf-8", **binary, **{"ce-id": "b1"}) == (
            200, {"result": "accepted"})  # fmt: skip
        encoded = base64.b64encode(json.dumps(event["data"]).encode()).decode()
        as_base64 = {k: v for k, v in fresh(data_base64=encoded).items() if k != "data"}
        assert await post(as_base64, structured) == (200, {"result": "accepted"})
        envelope = {"events": [fresh()]}  # EventGrid's documents: what a target gets, content type unsaid
        assert await post(envelope, "application/json") == (200, {"result": "accepted"})
        batch = [fresh(), envelope["events"][0], fresh(data={"no": "trace"})]
        assert await post(batch, "application/cloudevents-batch+json") == (
            200, {"result": "accepted", "events": ["accepted", "duplicate", "no_job"]})  # fmt: skip
        with structlog.testing.capture_logs() as logs:  # a binary body naming no job: its fields are said
            no_job = {**binary, "ce-id": "b2"}
            assert await post({"service_type": "EVS", "code": 7}, "application/json", **no_job) == (
                200, {"result": "no_job"})  # fmt: skip
        (unread,) = [e for e in logs if e["event"].startswith("a pushed message names no job")]
        assert unread["fields"] == {"service_type": "str", "code": "int"} and unread["service_type"] == "EVS"
        assert EVS_LATE in r.tracked()
        data = await r.metrics()
        assert (r.counted(data, "cloudevents", "accepted"), r.counted(data, "cloudevents", "duplicate"),
                r.counted(data, "cloudevents", "no_job")) == (5, 1, 2)  # fmt: skip


async def test_a_cloudevents_delivery_it_cannot_read_is_refused_whole_and_says_why(
    pki: FakePki, tmp_path: Path, monkeypatch: Any
) -> None:
    async with rig(pki, tmp_path, monkeypatch) as r:
        r.now[0] = T0 + 20
        event = r.pusher.cloudevent_json(r.task(EVS_LATE))
        batch = "application/cloudevents-batch+json"
        cases: list[tuple[Any, str, str]] = [
            ({"events": "x"}, "application/json",
             'not a CloudEvent: structured (application/cloudevents+json), batch (application/cloudevents-batch+json), '
             'binary (ce-* headers) or EventGrid\'s {"events": [...]}'),
            (event, batch, "a batch (cloudevents-batch+json) is a JSON array"),
            ([], batch, "a delivery holds 1 to 100 events, not 0"),
            ([event] * 101, batch, "a delivery holds 1 to 100 events, not 101"),
            ([event, "x"], batch, "an event is not a JSON object"),
            ({"events": [event, {**event, "specversion": "0.3"}]}, "application/json", "specversion is not 1.0"),
            ({**event, "id": ""}, "application/cloudevents+json", "id and source are required"),
            ({**event, "data_base64": "not base64!"}, "application/cloudevents+json", "data_base64 is not base64"),
        ]  # fmt: skip
        with structlog.testing.capture_logs() as logs:
            for document, content_type, _ in cases:
                answer = await r.http.post("/intake/cloudevents", content=json.dumps(document).encode(),
                                           headers={"Content-Type": content_type, "X-Intake-Token": TOKEN})  # fmt: skip
                assert (answer.status_code, answer.json()) == (400, {"result": "malformed"}), document
        said = [entry["reason"] for entry in logs if entry["event"] == "intake message refused"]
        assert said == [reason for _, _, reason in cases]  # each cause said the first time it comes
        assert EVS_LATE not in r.tracked()  # the good event in a refused batch was not taken
        data = await r.metrics()
        assert r.counted(data, "cloudevents", "malformed") == len(cases)


async def test_an_smn_message_is_read_whatever_its_content_type(pki: FakePki, tmp_path: Path, monkeypatch: Any) -> None:
    """SMN's documents name the X-SMN-* headers but no content type: the body alone is read and verified."""
    async with rig(pki, tmp_path, monkeypatch) as r:
        r.now[0] = T0 + 20
        message = r.pusher.notification(r.task(EVS_LATE))
        headers = {k.lower(): v for k, v in message.headers.items() if k != "Content-Type"}
        for content_type in ("text/plain; charset=UTF-8", "application/json;charset=UTF-8", None):
            fresh = r.pusher.notification(r.task(EVS_LATE))
            sent = {**headers, **({"content-type": content_type} if content_type else {})}
            answer = await r.http.post("/intake/smn", content=fresh.body(), headers=sent)
            assert (answer.status_code, answer.json()) == (200, {"result": "accepted"}), content_type


async def test_a_deeply_nested_event_body_is_a_job_less_message_not_an_error(
    pki: FakePki, tmp_path: Path, monkeypatch: Any
) -> None:
    """JSON nested deeper than the parser recurses (a binary body, a data_base64, a string `data`): counted as
    naming no job, said once by its kind, not a 500 from the handler."""
    async with rig(pki, tmp_path, monkeypatch) as r:
        deep = b"[" * 20_000 + b"]" * 20_000  # far past the recursion limit, well within max_body_size
        token = {"X-Intake-Token": TOKEN}
        binary = {"ce-specversion": "1.0", "ce-source": "evs", "ce-id": "deep-1", "Content-Type": "application/json"}
        answer = await r.http.post("/intake/cloudevents", content=deep, headers={**binary, **token})
        assert (answer.status_code, answer.json()) == (200, {"result": "no_job"})
        attributes = {"specversion": "1.0", "source": "evs"}
        as_base64 = {**attributes, "id": "deep-2", "data_base64": base64.b64encode(deep).decode()}
        as_text = {**attributes, "id": "deep-3", "data": deep.decode()}
        structured = {"Content-Type": "application/cloudevents+json", **token}
        with structlog.testing.capture_logs() as logs:
            for event in (as_base64, as_text):
                answer = await r.http.post("/intake/cloudevents", json=event, headers=structured)
                assert (answer.status_code, answer.json()) == (200, {"result": "no_job"}), event["id"]
        assert not [entry for entry in logs if entry.get("log_level") == "error"]
        assert r.counted(await r.metrics(), "cloudevents", "no_job") == 3


async def test_a_refusals_cause_is_said_once_whatever_host_the_sender_made_up(
    pki: FakePki, tmp_path: Path, monkeypatch: Any
) -> None:
    """The log line names the host a refused signing_cert_url gave, but a sender that makes up a new host for
    each message makes no new cause: one line, then the count (exporter/log.py); another cause is said at once."""
    async with rig(pki, tmp_path, monkeypatch) as r:
        r.now[0] = T0 + 20
        task, p = r.task(EVS_LATE), r.pusher
        hosts = [f"made-up-{n}.example" for n in range(3)]
        with structlog.testing.capture_logs() as logs:
            for host in hosts:
                message = p.notification(task).with_fields(signing_cert_url=r.topic.cert_url_at(host=host))
                assert json.loads((await p.post(message)).body) == {"result": "untrusted_certificate"}
            plain = p.notification(task).with_fields(signing_cert_url=r.topic.cert_url_at(scheme="http"))
            assert json.loads((await p.post(plain)).body) == {"result": "untrusted_certificate"}
        said = [entry["reason"] for entry in logs if entry["event"] == "intake message refused"]
        port = r.topic.cert_url.rsplit(":", 1)[1].split("/")[0]
        assert said == [f"signing_cert_url host '{hosts[0]}:{port}' is not in certificate_hosts",
                        "signing_cert_url is not https"]  # fmt: skip
        assert r.counted(await r.metrics(), "smn", "untrusted_certificate") == 4  # each counted all the same
