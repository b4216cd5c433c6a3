"""Browser tests: Playwright (Python) driving Debian's Chromium against a real LNbits
1.6.2 with the extension, on its own simnode.

These tests apply and roll back fees and switch the public summary, so they get a
simnode and an LNbits of their own (`page_host`) instead of the shared session ones.
`python -m devtools.browser_setup` installs Chromium; nothing is downloaded here.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import pytest

from devtools.browser_setup import CHROMIUM

from devtools.testenv import TEST_GRAPH_WORK, HostSession, output_dir, start_host_session

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def screenshot_dir() -> Path:
    path = output_dir() / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def page_simnode():
    from simnode.testing import start_simnode

    with start_simnode(seed=7, speed=0) as node:
        yield node


@pytest.fixture(scope="module")
def page_host(page_simnode, tmp_path_factory) -> Iterator[HostSession]:
    session = start_host_session(
        tmp_path_factory.mktemp("lnbits-browser"),
        backend="LndRestWallet",
        lnd_endpoint=page_simnode.url,
        macaroon=page_simnode.macaroon,
    )
    ready_for_the_page(session)
    yield session
    session.host.stop()
    try:
        shutil.copy(session.host.log_path, output_dir() / "lnbits-browser.log")
    except OSError:
        pass


def ready_for_the_page(session: HostSession) -> None:
    """Channels scored and the schedule's first cycle behind us: nothing runs during the tests."""
    with session.client(session.super_token) as client:  # before the first cycle (30 s after start)
        client.put("/feepilot/api/v1/settings", json=TEST_GRAPH_WORK).raise_for_status()
        # scores now (a dry run), instead of waiting for the schedule's first shadow cycle
        client.post("/feepilot/api/v1/runs", json={"dry_run": True}, timeout=300).raise_for_status()
    wait_for_scores(session)
    wait_first_cycle_over(session)


def wait_for_scores(session: HostSession, timeout: float = 180.0) -> None:
    """A run has scored the channels (the fixture's dry run)."""
    deadline = time.monotonic() + timeout
    with session.client(session.super_token) as client:
        while time.monotonic() < deadline:
            scores = client.get("/feepilot/api/v1/scores").json()
            if scores.get("run") and scores["run"]["status"] != "running" and scores["channels"]:
                return
            time.sleep(1)
    raise TimeoutError("no run scored the channels in time")


def wait_first_cycle_over(session: HostSession, timeout: float = 180.0) -> None:
    """The schedule's first shadow cycle (30 s after start; skipped when it meets a run computing)
    is behind us: the next one is an interval away, so no cycle runs during the tests."""
    deadline = time.monotonic() + timeout
    with session.client(session.super_token) as client:
        while time.monotonic() < deadline:
            status = client.get("/feepilot/api/v1/status").json()
            # before the first cycle the next run is 30 s after start; after it, an interval away
            next_run = status["next_run_at"]
            if not status["cycle_running"] and next_run and next_run - time.time() > status["interval_minutes"] * 30:
                return
            time.sleep(0.5)
    raise TimeoutError("the schedule's first cycle did not end in time")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: run `python -m devtools.browser_setup`"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Watched:
    """A page and everything it said: console errors, page errors, failed requests."""

    page: object
    errors: list[str] = field(default_factory=list)
    http_errors: list[tuple[int, str]] = field(default_factory=list)
    expected_http: set[tuple[int, str]] = field(default_factory=set)

    def expect_http_error(self, status: int, path: str) -> None:
        """An error answer this test provokes on purpose (the page must handle it)."""
        self.expected_http.add((status, path))

    def shot(self, name: str) -> Path:
        path = screenshot_dir() / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def problems(self) -> list[str]:
        found = list(self.errors)
        for status, url in self.http_errors:
            path = re.sub(r"^https?://[^/]+", "", url).split("?")[0]
            if (status, path) not in self.expected_http:
                found.append(f"unexpected HTTP {status} for {url}")
        return found


@pytest.fixture
def open_page(browser, page_host) -> Iterator[Callable[..., Watched]]:
    """open_page(token, viewport=DESKTOP, dark=True) -> Watched, at /feepilot/.

    Logs in with LNbits' auth cookie. The test fails on any console error or
    uncaught page error; a "Failed to load resource" console error only passes when
    the test declared that HTTP error with `expect_http_error` beforehand.
    """
    contexts = []
    watched: list[Watched] = []

    def factory(token: str, viewport: dict = DESKTOP, dark: bool = True, path: str = "/feepilot/") -> Watched:
        context = browser.new_context(viewport=viewport)
        contexts.append(context)
        context.add_cookies(
            [
                {"name": "cookie_access_token", "value": token, "url": page_host.url},
                {"name": "is_lnbits_user_authorized", "value": "true", "url": page_host.url},
            ]
        )
        # LNbits keeps its theme and the one-time disclaimer in Quasar's LocalStorage.
        context.add_init_script(
            "localStorage.setItem('lnbits.disclaimerShown', '__q_bool|1');"
            f"localStorage.setItem('lnbits.darkMode', '__q_bool|{1 if dark else 0}');"
        )
        page = context.new_page()
        page.set_default_timeout(30_000)
        w = Watched(page)
        watched.append(w)

        def on_console(message):
            if message.type != "error":
                return
            if message.text.startswith("Failed to load resource"):
                return  # judged from the response itself (see on_response)
            w.errors.append(f"console error: {message.text} at {message.location}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: w.errors.append(f"page error: {error}"))
        page.on("response", lambda r: w.http_errors.append((r.status, r.url)) if r.status >= 400 else None)
        page.on("requestfailed", lambda r: w.errors.append(f"request failed: {r.url} {r.failure}"))
        page.goto(page_host.url + path)
        page.wait_for_selector("[data-testid=feepilot-page]")
        return w

    yield factory
    try:
        for w in watched:
            problems = w.problems()
            assert not problems, "the browser reported:\n" + "\n".join(problems)
    finally:
        for context in contexts:
            context.close()
