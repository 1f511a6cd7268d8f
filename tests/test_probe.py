"""`/probe`, multi-target in the style of blackbox_exporter, over real sockets against the fake cloud."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import structlog
import yaml

from tests.test_e2e import SCENARIO, Stack, ident, samples, start_stack, state_of, stop_stack

P = "0123456789abcdef0123456789abcdef"
E_RUN = ident("e7", 1)
E_OK = ident("e7", 4)
NOT_CONFIGURED = ident("e7", 99)  # a task the fake cloud does not know, and the config does not list


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    stack = await start_stack(tmp_path, SCENARIO)
    yield stack
    await stop_stack(stack)


async def probe(stack: Stack, **params: str) -> tuple[int, str]:
    response = await stack.http.get("/probe", params=params)
    return response.status_code, response.text


async def test_probe_returns_one_tasks_metrics_and_up(stack: Stack) -> None:
    status, text = await probe(stack, cloud_service="evs", task_id=E_RUN)
    assert status == 200
    data = samples(text)
    assert state_of(data, E_RUN) == "running"
    names = {name for name, _ in data}
    assert "huaweicloud_task_up" in names
    assert {labels for name, labels in data if name == "huaweicloud_task_status"} == {
        frozenset({"account": "demo", "cloud_service": "evs", "region": "cn-north-4", "project_id": P,
                   "task_id": E_RUN, "state": state}.items())
        for state in ("pending", "running", "succeeded", "failed", "stopped", "unknown")
    }  # fmt: skip
    # The exporter's own counters are on /metrics only, and no other task shows.
    assert not any(name.startswith("huaweicloud_task_api_") or name.startswith("process_") for name in names)


async def test_a_probed_task_is_tracked_as_probe_and_not_duplicated_on_metrics(stack: Stack) -> None:
    task = ident("e7", 2)  # in the scenario; the fixture's config lists it, so probe a fresh config
    document = yaml.safe_load(stack.config_file.read_text())
    for service in document["services"]:
        if service["cloud_service"] == "evs":
            service["tasks"] = [t for t in service["tasks"] if t != task]
    stack.config_file.write_text(yaml.safe_dump(document))
    assert (await stack.http.post("/-/reload")).status_code == 200
    status, text = await probe(stack, cloud_service="evs", task_id=task, account="demo")
    assert status == 200
    assert state_of(samples(text), task) == "running"
    metrics = samples((await stack.http.get("/metrics")).text)
    evs = frozenset({"account": "demo", "cloud_service": "evs", "region": "cn-north-4", "project_id": P}.items())
    assert metrics[("huaweicloud_task_tracked", evs | {("source", "probe")})] == 1
    assert not any(dict(labels).get("task_id") == task for _, labels in metrics)


async def test_a_final_task_is_not_asked_again(stack: Stack) -> None:
    for _ in range(3):
        status, text = await probe(stack, cloud_service="evs", task_id=E_OK)
        assert status == 200
        assert state_of(samples(text), E_OK) == "succeeded"
    assert stack.sim.stats.by_task[E_OK] == 1


async def test_probe_of_a_task_the_cloud_does_not_know(stack: Stack) -> None:
    status, text = await probe(stack, cloud_service="evs", task_id=NOT_CONFIGURED)
    assert status == 200
    data = samples(text)
    assert state_of(data, NOT_CONFIGURED) == "unknown"
    up = [v for (name, _), v in data.items() if name == "huaweicloud_task_up"]
    assert up == [1.0]  # the API answered; the task is marked not_found


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"cloud_service": "evs"}, "cloud_service and task_id are required"),
        ({"task_id": E_RUN}, "cloud_service and task_id are required"),
        ({"cloud_service": "evs", "task_id": "../../v3/auth/tokens"},
         "task_id must be 16 to 64 hexadecimal characters, or a UUID"),
        ({"cloud_service": "evs", "task_id": E_RUN, "target": "http://169.254.169.254/"},
         "unknown parameter 'target'; expected: cloud_service, task_id, account, region, project_id, debug"),
        ({"cloud_service": "ecs", "task_id": E_RUN}, "no configured target matches cloud_service='ecs'"),
        ({"cloud_service": "evs", "task_id": E_RUN, "account": "nope"},
         "no configured target matches cloud_service='evs', account='nope'"),
        ({"cloud_service": "evs", "task_id": E_RUN, "region": "eu-de"},
         "no configured target matches cloud_service='evs', region='eu-de'"),
    ],
)  # fmt: skip
async def test_bad_probes_get_400_with_one_line(stack: Stack, params: dict[str, str], reason: str) -> None:
    status, text = await probe(stack, **params)
    assert status == 400
    assert text == reason + "\n"
    assert stack.sim.stats.requests_total == 0  # nothing reached the cloud


async def test_repeated_parameter_is_refused(stack: Stack) -> None:
    response = await stack.http.get(f"/probe?cloud_service=evs&task_id={E_RUN}&task_id={E_OK}")
    assert response.status_code == 400
    assert response.text == "parameter 'task_id' is given more than once\n"


async def test_ambiguous_target_needs_more_parameters(stack: Stack) -> None:
    document = yaml.safe_load(stack.config_file.read_text())
    evs = next(s for s in document["services"] if s["cloud_service"] == "evs")
    document["services"].append({**evs, "region": "cn-south-1", "tasks": []})
    stack.config_file.write_text(yaml.safe_dump(document))
    assert (await stack.http.post("/-/reload")).status_code == 200
    status, text = await probe(stack, cloud_service="evs", task_id=E_RUN)
    assert (status, text) == (400, "2 configured targets match; add account, region or project_id to choose one\n")
    status, text = await probe(stack, cloud_service="evs", task_id=E_RUN, region="cn-north-4")
    assert status == 200


async def test_ids_with_surrounding_whitespace_are_the_ids(stack: Stack) -> None:
    status, text = await probe(stack, cloud_service="evs", task_id=f"  {E_RUN}\t", project_id=f" {P} ")
    assert status == 200, text
    assert state_of(samples(text), E_RUN) == "running"


async def test_metrics_and_probe_are_gzip_compressed_when_the_scraper_accepts_it(stack: Stack) -> None:
    import gzip

    for path, params in (("/metrics", {}), ("/probe", {"cloud_service": "evs", "task_id": E_RUN})):
        plain = await stack.http.get(path, params=params, headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        async with stack.http.stream("GET", path, params=params, headers={"Accept-Encoding": "gzip"}) as packed:
            raw = b"".join([chunk async for chunk in packed.aiter_raw()])
            assert packed.headers["content-encoding"] == "gzip" and packed.headers["vary"] == "Accept, Accept-Encoding"
        text = gzip.decompress(raw).decode()
        assert len(raw) < len(text.encode())
        assert state_of(samples(text), E_RUN) == state_of(samples(plain.text), E_RUN) == "running"


async def test_head_of_metrics_has_the_headers_and_no_body_and_asks_the_cloud_nothing(stack: Stack) -> None:
    import asyncio

    await stack.scrape()
    asked = stack.sim.stats.requests_total
    host, port = str(stack.http.base_url.host), stack.http.base_url.port
    for encoding in ("identity", "gzip"):
        reader, writer = await asyncio.open_connection(host, port)
        # HEAD, then a GET on the same connection: a body after the HEAD's headers would be read as the
        # GET's answer.
        writer.write(
            f"HEAD /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: {encoding}\r\n\r\n"
            "GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
        )
        data = await asyncio.wait_for(reader.read(), 30)
        writer.close()
        head, _, rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        assert b"content-type: text/plain; version=0.0.4; charset=utf-8" in head.lower()
        assert (b"content-encoding: gzip" in head.lower()) == (encoding == "gzip")
        assert rest.startswith(b"HTTP/1.1 200"), rest[:80]  # the next answer comes right after the headers
    assert stack.sim.stats.requests_total == asked  # no refresh for a HEAD


async def test_debug_probe_shows_the_requests_the_metrics_and_the_redacted_target(stack: Stack) -> None:
    task = ident("e7", 6)  # not in the fixture's config: the probe asks the cloud
    status, text = await probe(stack, cloud_service="evs", task_id=task, debug="true")
    assert status == 200
    logs, rest = text.split("Metrics that would have been returned:\n")
    metrics, target = rest.split("Target configuration (secrets redacted):\n")
    assert re.search(
        rf"GET http://127\.0\.0\.1:\d+/v1/{P}/jobs/{task} \(aksk auth, timeout [\d.]+s\) -> HTTP 200", logs
    )
    assert "Probe succeeded" in logs
    assert f'task_id="{task}"' in metrics and "huaweicloud_task_up" in metrics
    assert "access_key: <secret>" in target and "secret_key: <secret from " in target and "cloud_service: evs" in target
    again = await probe(stack, cloud_service="evs", task_id=task, debug="yes")
    assert again == (400, "debug must be true or false\n")


async def test_config_page_is_the_running_config_redacted(stack: Stack) -> None:
    response = await stack.http.get("/config")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    shown = yaml.safe_load(response.text)
    (auth,) = [a["auth"] for a in shown["accounts"]]
    assert (auth["type"], auth["access_key"]) == ("aksk", "<secret>") and auth["secret_key"].startswith("<secret from ")
    assert {s["cloud_service"] for s in shown["services"]} >= {"evs"}


async def test_probes_of_unknown_tasks_log_once_then_at_every_power_of_ten(stack: Stack) -> None:
    """CodeArts answers an unknown task with an error in an HTTP 200 (CC.00050013): a flood of
    unauthenticated probes for made-up IDs, each a distinct task, writes 3 lines and not 300."""
    with structlog.testing.capture_logs() as logs:
        for n in range(300):
            status, text = await probe(stack, cloud_service="codearts_check", task_id=ident("c0de", 1000 + n))
            assert status == 200
            assert state_of(samples(text), ident("c0de", 1000 + n)) == "unknown"
    said = [e for e in logs if e["event"] == "the cloud answered an error with HTTP 200"]
    assert [e["count"] for e in said] == [1, 10, 100]
    assert all("CC.00050013" in e["error"] and e["cloud_service"] == "codearts_check" for e in said)
    # Nothing else is written per probe either.
    per_event = Counter(e["event"] for e in logs if e["log_level"] != "debug")
    assert max(per_event.values(), default=0) <= 3, per_event
