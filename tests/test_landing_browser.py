"""The landing page in a real browser: Debian's Chromium driven by Playwright, against the exporter and the
fake cloud on real sockets. It checks what an operator reads there (a target refused by the gateway with
its code, a failed task's error, the recent refreshes), follows a task's debug link, and saves a
screenshot (to $LANDING_SCREENSHOT when set, else the test's temporary directory)."""

from __future__ import annotations

import os
import re
import shutil
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from playwright.async_api import Page, async_playwright

from exporter.simulator import DEMO_SECRET_KEY
from tests.test_e2e import D_FAIL, E_RUN, SCENARIO, Stack, start_stack, stop_stack

CHROMIUM = "/usr/bin/chromium"
# What the machine's closed network needs: no background connections, no QUIC, a throwaway profile.
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BAD_SECRET = "not-the-secret-key-of-BADKEY"

if shutil.which("chromium") is None:  # .ci/run installs it; it prints `chromium --version` before the tests
    pytest.skip(f"{CHROMIUM} is not installed (Debian: apt-get install chromium)", allow_module_level=True)


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    stack = await start_stack(tmp_path, SCENARIO)
    # A second account whose access key the gateway does not know: its target fails with APIGW.0301.
    (tmp_path / "bad-sk").write_text(BAD_SECRET)
    document = yaml.safe_load(stack.config_file.read_text())
    broken = {**document["accounts"][0], "name": "broken"}
    broken["auth"] = {"type": "aksk", "access_key": "BADKEY0000000000", "secret_key_file": str(tmp_path / "bad-sk")}
    document["accounts"].append(broken)
    dws = next(s for s in document["services"] if s["cloud_service"] == "dws")
    document["services"].append({**dws, "account": "broken"})
    stack.config_file.write_text(yaml.safe_dump(document, sort_keys=False))
    assert (await stack.http.post("/-/reload")).status_code == 200
    yield stack
    await stop_stack(stack)


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield await browser.new_page(viewport={"width": 1600, "height": 1000})
        finally:
            await browser.close()


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def rows(page: Page, table: str) -> list[list[str]]:
    """The cells' visible text of each data row of a table on the page."""
    cells = await page.eval_on_selector_all(
        f"table#{table} tr:has(td)", "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))"
    )
    return [[str(c) for c in row] for row in cells]


async def follow_debug_link(page: Page, task_id: str) -> str:
    """Click the "debug" link in the task's row of the demo account, and return the page it opens."""
    row = page.locator("table#tasks tr", has_text=task_id).filter(has_text="demo /")
    await row.get_by_role("link", name="debug").click()
    await page.wait_for_load_state()
    assert f"task_id={task_id}" in page.url and "debug=true" in page.url, page.url
    return await page.inner_text("body")


async def test_landing_page_in_a_browser(stack: Stack, page: Page, tmp_path: Path) -> None:
    base = str(stack.http.base_url).rstrip("/")
    refused: list[str] = []  # what the page's Content-Security-Policy blocked, as the browser reports it
    page.on(
        "console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None
    )
    await page.goto(base + "/")
    assert await page.title() == "Huawei Cloud task exporter"
    targets = await rows(page, "targets")
    assert targets and all(row[1] == "not polled yet" for row in targets), targets

    await stack.scrape()
    await page.reload()
    by_label = {row[0]: row for row in await rows(page, "targets")}
    evs = next(row for label, row in by_label.items() if label.startswith("demo / evs / "))
    assert evs[1] == "up" and re.fullmatch(r"[\d.]+ s", evs[4]), evs
    # The refused account: down, and the gateway's own code and message as the cause.
    broken = next(row for label, row in by_label.items() if label.startswith("broken / dws / "))
    assert broken[1] == "DOWN" and broken[7] != "0", broken
    assert "APIGW.0301" in broken[8], broken

    tasks = {(row[0].split(" / ")[0], row[1]): row for row in await rows(page, "tasks")}
    failed = tasks[("demo", D_FAIL)]
    assert failed[3:7] == ["failed", "FAIL", "ecfClusterElbCreateJob", "9%"], failed
    assert "DWS.0114" in failed[11] and failed[10].endswith(" ago"), failed
    held = tasks[("broken", D_FAIL)]
    assert held[3] == "(no answer yet)" and "APIGW.0301" in held[12], held
    # The page's style is allowed by its policy (its hash): a failed row is tinted, and nothing was refused.
    tint = await page.locator("table#tasks tr.failed td").first.evaluate("td => getComputedStyle(td).backgroundColor")
    assert tint == "rgb(255, 221, 221)" and not refused, (tint, refused)

    refreshes = await rows(page, "refreshes")
    assert refreshes and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", refreshes[0][0]), refreshes
    assert any("APIGW.0301" in row[5] for row in refreshes), refreshes

    screenshot = Path(os.environ.get("LANDING_SCREENSHOT") or tmp_path / "landing.png")
    await page.screenshot(path=str(screenshot), full_page=True)
    width, height = png_size(screenshot)
    assert width >= 1600 and height >= 1000, (width, height)

    # The debug links work: a failed task's shows its last answer (a final task is not asked again), a
    # running task's the request it sent; both the metrics and the redacted target.
    debug = await follow_debug_link(page, D_FAIL)
    assert "no request sent: the task is final" in debug and "DWS.0114" in debug, debug
    assert re.search(r'huaweicloud_task_status\{[^}]*state="failed"[^}]*\} 1\.0', debug), debug
    await page.go_back()
    debug = await follow_debug_link(page, E_RUN)
    assert re.search(r"GET http://127\.0\.0\.1:\d+/\S*" + E_RUN, debug), debug
    assert re.search(r'huaweicloud_task_status\{[^}]*state="running"[^}]*\} 1\.0', debug), debug
    assert "Target configuration (secrets redacted)" in debug and "secret_key: <secret from " in debug, debug
    for secret in (DEMO_SECRET_KEY, BAD_SECRET):
        assert secret not in debug and secret not in await page.content()
