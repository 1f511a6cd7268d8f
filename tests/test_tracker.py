"""The tracker's refresh: one request per account first without letting one service hold back the others,
the tasks asked longest ago asked first, each scrape's own deadline, and a reload during a refresh."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import structlog
from prometheus_client import CollectorRegistry

from exporter.cloud.client import ApiClient
from exporter.config import Config, parse_config
from exporter.exposition.metrics import SelfMetrics
from exporter.tracking.tracker import Tracker, work
from tests.conftest import PROJECT

CODEARTS = "c0de0000000000000000000000000001"
EVS_TASKS = [f"e75{n:029x}" for n in range(1, 11)]
RUNNING = {"status": "RUNNING", "begin_time": "2016-03-08T07:40:13.219Z", "end_time": ""}

TWO_SERVICES = f"""
accounts: [{{name: prod, cloud: custom, auth: {{type: token, token: "${{T}}"}}}}]
tracking: {{poll_interval: 0}}  # every scrape asks every unfinished task (poll intervals: test_poll_interval.py)
services:
  - {{cloud_service: codearts_check, account: prod, region: cn-north-4, endpoint: "http://codearts.test",
      tasks: [{CODEARTS}]}}
  - {{cloud_service: evs, account: prod, region: cn-north-4, project_id: {PROJECT}, endpoint: "http://evs.test",
      tasks: [{", ".join(EVS_TASKS)}]}}
"""

Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


def ok(request: httpx.Request) -> httpx.Response:
    """A running task in each service's own shape."""
    body = {"task_status": 0, "progress": {"ratio": "10%"}} if request.url.host == "codearts.test" else RUNNING
    return httpx.Response(200, json=body)


def make(handler: Handler, text: str = TWO_SERVICES) -> tuple[Config, ApiClient, Tracker]:
    config = parse_config(text, env={"T": "token"})
    client = ApiClient(config, SelfMetrics(CollectorRegistry()), transport=lambda _a: httpx.MockTransport(handler))  # type: ignore[arg-type]
    return config, client, Tracker(config, client)


def by_service(tracker: Tracker) -> dict[str, bool]:
    return {state.target.cloud_service: state.up for state in tracker.targets}


async def test_a_403_on_one_service_does_not_hold_back_the_accounts_others() -> None:
    asked: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.host)
        if request.url.host == "codearts.test":
            return httpx.Response(403, json={"error_code": "CC.00000001", "error_msg": "no permission"})
        return ok(request)

    _, client, tracker = make(handler)
    for _ in range(3):
        await tracker.refresh(5)
    await client.aclose()
    assert by_service(tracker) == {"codearts_check": False, "evs": True}
    assert asked.count("evs.test") == 3 * len(EVS_TASKS)


async def test_a_slow_first_request_does_not_starve_the_account() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "codearts.test":
            await asyncio.Event().wait()  # never answers
        return ok(request)

    _, client, tracker = make(handler)  # the first refresh starts with the account's first task: the CodeArts one
    # The first request gets a quarter of the budget (at least 1 s); then the rest go out.
    await tracker.refresh(2.0)
    await client.aclose()
    assert by_service(tracker) == {"codearts_check": False, "evs": True}
    evs = next(s for s in tracker.targets if s.target.cloud_service == "evs")
    assert all(record.status is not None for record in evs.tasks.values())


async def test_tasks_go_oldest_answer_first() -> None:
    """The order within an account's budget: the task asked longest ago first (a task never asked by when
    it was first seen), so that the ones a short budget leaves out go first the next time."""
    asked: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path.rsplit("/", 1)[-1])
        return ok(request)

    config, client, tracker = make(handler)
    await tracker.refresh(5)
    table = tracker._table
    evs = next(key for key in table.target_keys() if key[1] == "evs")
    ages = {EVS_TASKS[7]: 100.0, EVS_TASKS[2]: 200.0, EVS_TASKS[5]: 300.0}  # older answers than the rest
    for task_id, when in ages.items():
        record = table.get(evs, task_id)
        assert record is not None
        table.update(evs, dataclasses.replace(record, last_update=when, last_asked=when))
    batches = work(table, {t.key for t in config.targets}, config.tracking, 1000.0, None).batches
    order = [task_id for _, task_id in batches[0]]
    assert order[:3] == [EVS_TASKS[7], EVS_TASKS[2], EVS_TASKS[5]]
    assert len(order) == len(EVS_TASKS) + 1
    asked.clear()
    await tracker.refresh(5)
    await client.aclose()
    assert asked[:3] == [EVS_TASKS[7], EVS_TASKS[2], EVS_TASKS[5]]


async def test_a_scrape_waits_only_for_its_own_deadline() -> None:
    release = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return ok(request)

    _, client, tracker = make(handler)
    long_scrape = asyncio.ensure_future(tracker.refresh(60))  # e.g. a browser without a timeout header
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await tracker.refresh(0.3)  # Prometheus with a short timeout joins the refresh in flight
    assert loop.time() - started < 10  # its own 0.3 s, not the refresh's (held until `release`, below)
    assert not long_scrape.done()
    release.set()
    await long_scrape
    await client.aclose()
    assert by_service(tracker) == {"codearts_check": True, "evs": True}


async def test_a_reload_during_a_refresh_does_not_mix_clients() -> None:
    release = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return ok(request)

    _, client, tracker = make(handler)
    refresh = asyncio.ensure_future(tracker.refresh(5))
    await asyncio.sleep(0.05)
    renamed = parse_config(TWO_SERVICES.replace("name: prod", "name: other").replace("account: prod", "account: other"),
                           env={"T": "token"})  # fmt: skip
    new_client = ApiClient(renamed, SelfMetrics(CollectorRegistry()), transport=lambda _a: httpx.MockTransport(handler))
    tracker.apply(renamed)
    tracker.use_client(new_client)
    release.set()
    await refresh  # the old targets finish with the old client: no KeyError for the renamed account
    await tracker.refresh(5)
    await client.aclose()
    await new_client.aclose()
    assert [s.target.account for s in tracker.targets] == ["other", "other"]
    assert by_service(tracker) == {"codearts_check": True, "evs": True}


async def test_recent_refreshes_keep_the_last_100_and_failed_ones_longer() -> None:
    import httpx
    from prometheus_client import CollectorRegistry

    from exporter.cloud.client import ApiClient
    from exporter.config import parse_config
    from exporter.exposition.metrics import SelfMetrics
    from exporter.tracking import Tracker
    from exporter.tracking.tracker import RECENT_REFRESHES

    config = parse_config(
        "accounts: [{name: a, cloud: custom, auth: {type: token, token: t}}]\n"
        "services: [{cloud_service: evs, account: a, region: cn-north-4, project_id: "
        "0123456789abcdef0123456789abcdef, endpoint: 'http://cloud.test', tasks: [4010a32d535527910153552b492c0002]}]\n"
    )
    answers = [httpx.Response(500, json={"error": {"code": "EVS.0001", "message": "busy"}})]

    def cloud(_request: httpx.Request) -> httpx.Response:
        return answers.pop() if answers else httpx.Response(200, json={"status": "RUNNING", "job_id": "x"})

    client = ApiClient(config, SelfMetrics(CollectorRegistry()), transport=lambda _a: httpx.MockTransport(cloud))
    now = [1000.0]
    tracker = Tracker(config, client, clock=lambda: now[0])
    for _ in range(RECENT_REFRESHES + 20):
        await tracker.refresh(5)
        now[0] += 1
    await client.aclose()
    refreshes = tracker.snapshot.refreshes
    assert len(refreshes) == RECENT_REFRESHES + 1  # the last 100, and the failed one before them
    assert refreshes[-1].failed == 1 and "EVS.0001" in refreshes[-1].cause
    assert [r.at for r in refreshes] == sorted((r.at for r in refreshes), reverse=True)


def test_an_answer_keeps_every_other_field_of_the_record() -> None:
    """answered() builds the record field by field (for speed): a field added later must not be lost."""
    import dataclasses

    from exporter.model import State, TaskStatus
    from exporter.tracking import Source
    from exporter.tracking.table import TaskRecord, answered

    old = TaskRecord(
        "0123456789abcdef",
        Source.FILE,
        TaskStatus(State.RUNNING, "RUNNING"),
        1.0,
        None,
        2,
        3.0,
        4.0,
        True,
        "r",
        True,
        5.0,
        6.0,
    )
    assert all(getattr(old, f.name) != f.default for f in dataclasses.fields(TaskRecord) if f.name != "last_error")
    new = answered(old, TaskStatus(State.SUCCEEDED, "SUCCESS"), 10.0)
    changed = {"status", "last_update", "last_error", "not_found", "final_since", "ask_again", "last_asked"}
    for field in dataclasses.fields(TaskRecord):
        if field.name not in changed:
            assert getattr(new, field.name) == getattr(old, field.name), field.name
    assert (new.last_update, new.not_found, new.final_since, new.ask_again, new.last_asked) == (
        10.0,
        0,
        3.0,
        False,
        10.0,
    )


async def test_a_query_that_raises_does_not_hang_the_poll() -> None:
    """The client returns its errors, but a bug that raises must fail one query, not leave workers waiting."""
    import asyncio
    import time

    from exporter.cloud.errors import ApiError
    from exporter.config import parse_config
    from exporter.model import Reason, State, TaskStatus
    from exporter.tracking.refresh import Deadline, poll

    ids = [f"{n:032x}" for n in range(1, 11)]
    config = parse_config(
        "accounts: [{name: a, auth: {type: token, token: t}}]\n"
        "services: [{cloud_service: evs, account: a, region: r1, project_id: 0123456789abcdef0123456789abcdef,"
        f" tasks: [{', '.join(ids)}]}}]\n",
        env={},
    )
    target = config.targets[0]

    class Flaky:
        def new_refresh(self) -> None: ...

        def lone_first(self, account: str) -> bool:
            return False

        async def query(self, target: object, task_id: str, timeout: float) -> TaskStatus:
            await asyncio.sleep(0)
            if task_id == ids[3]:
                raise RuntimeError("a bug")
            return TaskStatus(State.RUNNING, "RUNNING")

    answers = await asyncio.wait_for(
        poll(Flaky(), [[(target, i) for i in ids]], Deadline.after(5), concurrency=3, first_budget=1,  # type: ignore[arg-type]
             started=time.perf_counter()),
        5,
    )  # fmt: skip
    assert len(answers) == 10
    failed = [(a.task_id, a.result.reason) for a in answers if isinstance(a.result, ApiError)]
    assert failed == [(ids[3], Reason.CLIENT_ERROR)]


async def test_the_answers_before_the_last_query_are_taken_in_while_it_is_out() -> None:
    """Once the last query is out, the answers in so far are taken in and published (the exporter renders
    their text then), so a scrape's answer is mostly ready when the last one comes."""
    release = asyncio.Event()
    asked: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        if len(asked) == 1 + len(EVS_TASKS):  # the refresh's last query waits
            await release.wait()
        return ok(request)

    config = parse_config(TWO_SERVICES.replace("services:", "scrape: {concurrency: 2}\nservices:"), env={"T": "t"})
    client = ApiClient(config, SelfMetrics(CollectorRegistry()), transport=lambda _a: httpx.MockTransport(handler))
    seen: list[int] = []

    def answered() -> int:
        return sum(1 for _, record in tracker.snapshot.records() if record.status is not None)

    taken = asyncio.Event()

    def early() -> None:
        seen.append(answered())
        taken.set()

    tracker = Tracker(config, client, on_early_take=early)
    refresh = asyncio.ensure_future(tracker.refresh(30))
    await asyncio.wait_for(taken.wait(), 10)
    assert not refresh.done()
    # 11 queries, 2 at a time: when the last went out, at least 9 answers were in (the other may be too).
    assert seen and seen[0] in (9, 10) and answered() == seen[0]
    release.set()
    await refresh
    await client.aclose()
    assert answered() == 11
    assert len(seen) == 1  # once per refresh


async def early_take_run(
    on_early_take: Callable[[], None], timeout: float = 30, change: Callable[[Tracker], None] = lambda _t: None
) -> Tracker:
    """One refresh of the two services, 2 queries at a time, the last one held until the early take."""
    release = asyncio.Event()
    asked: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        if len(asked) == 1 + len(EVS_TASKS):
            with contextlib.suppress(TimeoutError):  # without an early take, it answers after a while
                await asyncio.wait_for(release.wait(), 0.3)
        return ok(request)

    config = parse_config(TWO_SERVICES.replace("services:", "scrape: {concurrency: 2}\nservices:"), env={"T": "t"})
    client = ApiClient(config, SelfMetrics(CollectorRegistry()), transport=lambda _a: httpx.MockTransport(handler))

    def early() -> None:
        release.set()
        on_early_take()

    tracker = Tracker(config, client, on_early_take=early)
    change(tracker)
    try:
        await tracker.refresh(timeout)
    finally:
        release.set()
        await client.aclose()
    return tracker


async def test_an_early_take_that_fails_is_logged_and_loses_no_answer() -> None:
    def broken() -> None:
        raise RuntimeError("a bug in rendering")

    with structlog.testing.capture_logs() as logs:
        tracker = await early_take_run(broken)
    errors = [e["event"] for e in logs if e["log_level"] == "error"]
    assert errors == ["rendering answers early failed; the scrape renders them"]
    assert sum(1 for _, record in tracker.snapshot.records() if record.status is not None) == 11
    assert by_service(tracker) == {"codearts_check": True, "evs": True}


async def test_answers_that_fail_to_be_taken_in_early_are_taken_in_at_the_end() -> None:
    def fail_once(tracker: Tracker) -> None:
        take = tracker._take_answers
        calls: list[int] = []

        def flaky(*args: Any) -> None:
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("a bug in the table")
            take(*args)

        tracker._take_answers = flaky  # type: ignore[method-assign,assignment]

    with structlog.testing.capture_logs() as logs:
        tracker = await early_take_run(lambda: None, change=fail_once)
    errors = [e["event"] for e in logs if e["log_level"] == "error"]
    assert errors == ["taking answers in early failed; the refresh takes them in when it ends"]
    assert sum(1 for _, record in tracker.snapshot.records() if record.status is not None) == 11
    assert by_service(tracker) == {"codearts_check": True, "evs": True}


async def test_no_early_take_when_the_deadline_is_near() -> None:
    """Taking in and rendering holds the loop: with less than EARLY_TAKE_MARGIN left it is left to the
    refresh's end (the answers still out must be read in time)."""
    from exporter.tracking.tracker import EARLY_TAKE_MARGIN

    called: list[int] = []
    tracker = await early_take_run(lambda: called.append(1), timeout=EARLY_TAKE_MARGIN * 0.9)
    assert called == []
    assert sum(1 for _, record in tracker.snapshot.records() if record.status is not None) == 11
    tracker = await early_take_run(lambda: called.append(1), timeout=EARLY_TAKE_MARGIN * 3)
    assert called == [1]


async def test_the_poll_says_when_its_last_query_is_out() -> None:
    import time

    from exporter.model import State, TaskStatus
    from exporter.tracking.refresh import Deadline, poll

    config = parse_config(TWO_SERVICES, env={"T": "t"})
    target = next(t for t in config.targets if t.cloud_service == "evs")
    started: list[str] = []
    done: list[str] = []
    at_call: list[tuple[int, int]] = []

    class Client:
        def new_refresh(self) -> None: ...

        def lone_first(self, account: str) -> bool:
            return True  # the first query alone, the others after its answer

        async def query(self, target: object, task_id: str, timeout: float) -> TaskStatus:
            started.append(task_id)
            await asyncio.sleep(0.001)
            done.append(task_id)
            return TaskStatus(State.RUNNING, "RUNNING")

    def all_sent() -> None:
        at_call.append((len(started), len(done)))

    work = [[(target, task_id) for task_id in EVS_TASKS]]
    answers = await poll(Client(), work, Deadline.after(5), concurrency=3, first_budget=1,  # type: ignore[arg-type]
                         started=time.perf_counter(), on_all_sent=all_sent)  # fmt: skip
    assert len(answers) == len(EVS_TASKS)
    assert len(at_call) == 1
    sent, answered = at_call[0]
    assert sent == len(EVS_TASKS) and answered < len(EVS_TASKS)
    assert await poll(Client(), [], Deadline.after(5), concurrency=3, first_budget=1,  # type: ignore[arg-type]
                      started=time.perf_counter(), on_all_sent=all_sent) == []  # fmt: skip
    assert len(at_call) == 1  # nothing to ask: not called
