"""The dashboard in a real browser: `make demo`'s own entry point (python -m service.demo, the real
service with its redis-server on demo data) started once for the module, Debian's Chromium driven by
Playwright (pytest-playwright's `page` fixture), and every console error collected.

pytest-playwright keeps Playwright running for the whole session by default; its sync API then holds
an event loop that breaks the async tests collected after these. So `playwright`, `browser` and the
fixtures that depend on them are module-scoped here: the browser stops when this module is done.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import sync_playwright

from benchmarks.harness.browser import CHROMIUM, console_error, launch_options, sign_in
from service.store.embedded import free_port

ROOT = Path(__file__).parents[3]
READY_SECONDS = 180


@dataclass
class DemoStore:
    """The running demo: where it serves and the keys it printed."""

    base: str
    dashboard: str
    keys: dict[str, str]
    events: pd.DataFrame  # the demo's events file
    posted: list[dict] = field(default_factory=list)  # events the tests' storefront traffic sent since

    def call(self, path: str, key: str | None = "read", method: str = "GET", body: object = None,
             accept: str | None = None) -> tuple[int, bytes]:
        """One request with the standard library; (status, body)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if key:
            request.add_header("Authorization", f"Bearer {self.keys[key]}")
        if accept:
            request.add_header("Accept", accept)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def json(self, path: str, key: str = "read") -> dict:
        status, body = self.call(path, key)
        assert status == 200, body
        return json.loads(body)

    def lines(self, path: str) -> list[dict]:
        status, body = self.call(path, accept="application/x-ndjson")
        assert status == 200, body
        return [json.loads(line) for line in body.splitlines() if line.strip()]


def _printed(log: Path, process: subprocess.Popen) -> str:
    """What the demo printed, once it says it serves (it prints after the first model is trained)."""
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        if "Stop with Ctrl-C." in text:
            return text
        if process.poll() is not None:
            raise AssertionError(f"the demo exited with {process.returncode}:\n{text[-3000:]}")
        time.sleep(0.2)
    raise AssertionError(f"the demo did not print its address in {READY_SECONDS} s:\n{log.read_text()[-3000:]}")


def _storefront_traffic(store: DemoStore, users: list[str]) -> None:
    """Lists served to some customers and a click on every fourth, as a storefront would send them,
    so the online charts have something to show."""
    for k, user in enumerate(users):
        body = store.json(f"/v1/users/{user}/recommendations?n=6")
        if k % 4 == 0 and body["items"]:
            click = {"user_id": user, "item_id": body["items"][0]["item_id"], "type": "click",
                     "recommendation_id": body["recommendation_id"]}
            assert store.call("/v1/events", "write", "POST", click)[0] == 202
            store.posted.append(click)


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStore]:
    directory = tmp_path_factory.mktemp("dashboard-demo")
    log = directory / "demo.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OPENBLAS_NUM_THREADS": "1", "RECS_LOG_LEVEL": "WARNING"}
    env.pop("REDIS_URL", None)  # the demo starts its own redis-server, as `make demo` does
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "service.demo", "--data-dir", str(directory / "demo"),
                                    "--port", str(free_port())], cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        text = _printed(log, process)
        keys = {name: re.search(rf"{name} key:\s+(\S+)", text).group(1) for name in ("read", "write", "admin")}
        dashboard = re.search(r"dashboard: (\S+)", text).group(1)
        store = DemoStore(dashboard.removesuffix("/dashboard/"), dashboard, keys,
                          pd.read_csv(directory / "demo" / "events.csv", dtype={"user_id": str, "item_id": str}))
        _storefront_traffic(store, store.events["user_id"].value_counts().index[:40].tolist())
        yield store
    finally:
        process.terminate()
        process.wait(60)


# -- pytest-playwright's fixtures, module-scoped, on Debian's Chromium --------------------------------
@pytest.fixture(scope="module")
def browser_type_launch_args() -> dict:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test`, which installs it (apt-get install -y chromium)")
    return launch_options()


@pytest.fixture(scope="module")
def browser_context_args() -> dict:
    return {"viewport": {"width": 1280, "height": 900}}


@pytest.fixture(scope="module")
def playwright():
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser_type(playwright, browser_name):
    return getattr(playwright, browser_name)


@pytest.fixture(scope="module")
def launch_browser(browser_type_launch_args, browser_type):
    return lambda **kwargs: browser_type.launch(**{**browser_type_launch_args, **kwargs})


@pytest.fixture(scope="module")
def browser(launch_browser):
    browser = launch_browser()
    yield browser
    browser.close()



@pytest.fixture
def console(page) -> Iterator[list[str]]:
    """Console errors and uncaught exceptions of `page`; the test fails at teardown if any is left in
    the list (a test expecting one removes it)."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(console_error(message)) if console_error(message) else None)
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    page.set_default_timeout(30_000)
    yield errors
    assert errors == [], f"the page wrote errors to the console: {errors}"


@pytest.fixture
def signed_in(page, console, demo_store):
    """`page` signed in with the demo's read key, on the overview."""
    sign_in(page, demo_store.dashboard, demo_store.keys["read"])
    return page
