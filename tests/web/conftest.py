"""The page's browser tests: one Debian chromium for all of them, driven by Playwright.

The OS package is installed when it is missing (tests/web/browser.py). Where that is impossible
the tests skip with the reason, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.live import LiveServer
from tests.scripted_upstream import KEY as UPSTREAM_KEY
from tests.scripted_upstream import UpstreamState, run_upstream
from tests.tinymodel import write_tiny_model
from tests.web.browser import CHROMIUM, CHROMIUM_ARGS, install_chromium

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

ROOT = Path(__file__).resolve().parent.parent.parent
# Screenshots land here (ignored by git); CHATBOT_TEST_OUTPUT moves them.
OUTPUT = Path(os.environ.get("CHATBOT_TEST_OUTPUT", ROOT / "tests" / "output")) / "web"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module", autouse=True)
def _patient_expect() -> None:
    """Playwright's `expect` waits 5 s by default; a loaded 2-core machine sometimes needs more."""
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One chromium for the module that holds all the page's tests. Not session-wide: while
    Playwright's sync API is open the main thread has a running event loop, and `asyncio.run`
    in any later test would fail."""
    reason = install_chromium()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Watched:
    """What a page did that a test may not allow: script errors, dialogs, CSP reports and
    requests to anywhere but the server."""

    origin: str
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("console", self._console)
        page.on("dialog", self._dialog)
        page.on("request", self._request)

    def _console(self, message: Any) -> None:
        text = message.text
        if "Content Security Policy" in text or "TrustedHTML" in text or "Trusted Type" in text:
            self.errors.append(f"console: {text}")

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _request(self, request: Any) -> None:
        url = request.url
        if not (url.startswith(self.origin + "/") or url.startswith("data:")):
            self.foreign.append(url)

    def check(self) -> None:
        assert self.errors == [], self.errors
        assert self.dialogs == [], f"a script ran a dialog: {self.dialogs}"
        assert self.foreign == [], f"requests off the server: {self.foreign}"


@dataclass
class Session:
    context: BrowserContext
    page: Page
    server: LiveServer
    watched: Watched

    def open(self, path: str = "/") -> Page:
        self.page.goto(self.server.url + path)
        return self.page

    def sign_in(self) -> Page:
        """Open the page and give it the key, unless the server runs with --no-auth."""
        page = self.open()
        if "--no-auth" in self.server.extra_args:
            page.get_by_role("tab", name="Chat").wait_for()
            return page
        page.get_by_label("API key", exact=True).fill(self.server.api_key)
        page.get_by_role("button", name="Use this key").click()
        page.get_by_role("tab", name="Chat").wait_for()
        return page


@pytest.fixture
def session_for(browser: Browser) -> Iterator[Callable[..., Session]]:
    """Factory: a fresh browser context (no stored key) on a page watched for misbehaviour."""
    opened: list[Session] = []

    def make(server: LiveServer, **options: Any) -> Session:
        options.setdefault("viewport", DESKTOP)
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        page = context.new_page()
        watched = Watched(server.url)
        watched.attach(page)
        session = Session(context, page, server, watched)
        opened.append(session)
        return session

    yield make
    for session in opened:
        session.context.close()
    for session in opened:
        session.watched.check()


SERVER_FIXTURES = ("model_server", "scripted_server")
LOG_LINES = 80


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed page test reports the end of its server's log (its access lines give each
    request's status and time): a page that waited in vain shows whether the server answered."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when != "call" or not report.failed:
        return
    for name in SERVER_FIXTURES:
        server = getattr(item, "funcargs", {}).get(name)
        if isinstance(server, LiveServer):
            tail = "\n".join(server.log().splitlines()[-LOG_LINES:])
            report.sections.append((f"{name} log, last {LOG_LINES} lines", tail))


def _server(home: Path, model: Path | None, *args: str) -> LiveServer:
    home.mkdir(parents=True, exist_ok=True)
    return LiveServer(home=home, model=model, extra_args=list(args)).start()


@pytest.fixture(scope="session")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The tiny model with one slot and a long context: an answer with no max_tokens runs for
    seconds, long enough to stop it mid-stream."""
    home = tmp_path_factory.mktemp("web-model")
    model = write_tiny_model(home / "tiny.gguf", context_length=8192)
    server = _server(home, model, "--n-ctx", "8192", "--parallel", "1")
    yield server
    server.kill()


@pytest.fixture(scope="session")
def upstream() -> Iterator[UpstreamState]:
    with run_upstream() as state:
        yield state


@pytest.fixture(scope="session")
def scripted_server(
    tmp_path_factory: pytest.TempPathFactory, upstream: UpstreamState
) -> Iterator[LiveServer]:
    """`chatbot serve --engine openai --no-auth` in front of the scripted upstream (one server
    start fewer: they take seconds on a busy machine)."""
    home = tmp_path_factory.mktemp("web-scripted")
    args = ["--engine", "openai", "--upstream-url", upstream.url, "--upstream-key", UPSTREAM_KEY]
    server = _server(home, None, *args, "--no-auth")
    yield server
    server.kill()


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    return OUTPUT
