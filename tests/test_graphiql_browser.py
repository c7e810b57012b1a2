"""GraphiQL in a real browser, offline: headless Chromium (Debian's, driven by Playwright) opens
the page of ``presta serve --demo``, logs in as the demo provider, sets the headers and runs the
provider dashboard, while every request to a host other than this machine is refused and makes
the test fail. A screenshot is saved to ``var/artefacts/graphiql.png`` (its path is printed).

Without Chromium the test is skipped, except in CI (``CI=true``), where ``.ci/run`` installs it
and its absence is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.async_api import ConsoleMessage, Page, Route, WebSocket, async_playwright

from bench.queries import PROVIDER_DASHBOARD
from tests.support.demo_server import demo_server

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "var" / "artefacts" / "graphiql.png"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
# Chromium quiet: no update checks, sync, field trials or QUIC probes on a closed network.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
LOG_IN = """mutation LogIn {
  logIn(input: {email: "pro@menage-plus.demo", password: "demo-password"}) {
    accessToken
    userErrors { field code message }
  }
}"""


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but Chromium is absent (.ci/run installs Debian's chromium)")
        pytest.skip("SKIPPED: no Chromium (apt-get install chromium chromium-driver)")
    return path


async def _type_into(page: Page, editor: str, text: str) -> None:
    """Replace the text of a GraphiQL editor as a person would: click, select all, type."""
    await page.click(f"{editor} .CodeMirror-scroll")
    await page.keyboard.press("Control+A")
    await page.keyboard.insert_text(text)


async def _edit_query(page: Page, document: str) -> None:
    """Type ``document`` into the query editor and wait until GraphiQL has read it: it parses
    an edit 100 ms later, and a run before that would send the previous operation's name.
    The page reports each parsed edit in its URL (``?q=``)."""
    await _type_into(page, ".graphiql-query-editor", document)
    parsed = "d => new URLSearchParams(window.location.search).get('q') === d"
    await page.wait_for_function(parsed, arg=document)


async def _run(page: Page, expected: str) -> Any:
    """Press GraphiQL's run button; the JSON of the result pane once it shows ``expected``."""
    await page.click(".graphiql-execute-button")
    shows = (
        "s => { const e = document.querySelector('.graphiql-response .CodeMirror');"
        " return e !== null && e.CodeMirror.getValue().includes(s); }"
    )
    await page.wait_for_function(shows, arg=expected)
    text = await page.eval_on_selector(
        ".graphiql-response .CodeMirror", "e => e.CodeMirror.getValue()"
    )
    return json.loads(text)


async def test_graphiql_runs_the_provider_dashboard_offline_in_chromium(chromium, tmp_path):
    outside: list[str] = []
    errors: list[str] = []

    async def only_loopback(route: Route) -> None:
        url = route.request.url
        if url.startswith("data:") or urlsplit(url).hostname in LOOPBACK:
            await route.continue_()
        else:
            outside.append(url)
            await route.abort()

    def on_websocket(socket: WebSocket) -> None:
        if urlsplit(socket.url).hostname not in LOOPBACK:
            outside.append(socket.url)

    def on_console(message: ConsoleMessage) -> None:
        # A file refused for its integrity, or anything the CSP blocks, is reported here.
        if message.type == "error":
            errors.append(message.text)

    async with demo_server(tmp_path) as server, async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            await page.route("**/*", only_loopback)
            page.on("websocket", on_websocket)
            page.on("console", on_console)
            page.on("pageerror", lambda error: errors.append(str(error)))
            try:
                await page.goto(f"{server.base}/graphql")
                await page.wait_for_selector(".graphiql-query-editor .CodeMirror")

                await _edit_query(page, LOG_IN)
                logged_in = await _run(page, "accessToken")
                token = logged_in["data"]["logIn"]["accessToken"]
                assert token, logged_in

                await page.locator(".graphiql-editor-tools button", has_text="Headers").click()
                headers = {"Authorization": f"Bearer {token}", "X-Marketplace": "menage-plus"}
                visible = ".graphiql-editor-tool .graphiql-editor:not(.hidden)"
                await _type_into(page, visible, json.dumps(headers))

                await _edit_query(page, PROVIDER_DASHBOARD.strip())
                dashboard = await _run(page, "myMemberships")
            finally:
                SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(SCREENSHOT))
                print(f"GraphiQL screenshot: {SCREENSHOT}")
        finally:
            await browser.close()

    assert outside == [], f"the page tried to reach other hosts: {outside}"
    assert errors == [], errors
    assert "errors" not in dashboard, dashboard["errors"]
    (membership,) = dashboard["data"]["myMemberships"]
    assert membership["company"]["name"] == "Net & Brillant"
    assert membership["status"] == "ACCEPTED"
    assert membership["services"]
    assert membership["requests"]["nodes"]
    assert membership["conversations"]["nodes"]
