"""Fixtures for tests that drive a real JupyterLab in Debian's headless Chromium.

One JupyterLab (`jupyterlab`) and one Chromium (`browser`) serve the whole session; each
test gets a fresh browser context (`page`, or `lab_page` with notebook helpers) and its
kernels are shut down afterwards. The browser tests run after every other test, so the
server and the browser do not compete with them for the machine's cores.

Playwright drives the system Chromium: `playwright install` downloads a browser build,
which this project never does. A missing /usr/bin/chromium fails these tests (`make test`
installs it, so its absence means the setup is broken).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from .lab import JupyterLab, start_jupyterlab
from .labpage import LabPage

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root in a container
    "--disable-gpu",
    "--disable-background-networking",  # no network here; don't try
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1400, "height": 1000}
HERE = Path(__file__).parent


def pytest_collection_modifyitems(session, config, items):
    """Run the browser tests last (keeping their order)."""
    browser = [item for item in items if HERE in Path(item.path).parents]
    if browser:
        rest = [item for item in items if HERE not in Path(item.path).parents]
        items[:] = rest + browser


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item, so `page` can screenshot failures."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def jupyterlab(tmp_path_factory, server_url) -> Iterator[JupyterLab]:
    """This session's JupyterLab: `.url`, `.root`, `.add_notebook(...)`, `.read_notebook(name)`.
    Its kernels inherit OLLAMA_HOST, so the session's server starts first."""
    lab = start_jupyterlab(tmp_path_factory.mktemp("jupyterlab"))
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """This module's headless Chromium (Debian's, driven by Playwright). Per module, not
    per session: Playwright's sync API keeps an event loop marked running in this thread
    until it stops, and any `asyncio.run` (async tests, `arun`) in a later module of the
    same process would then fail. Starting Chromium costs about a second."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's Chromium with "
            "`apt-get install chromium` (`make test` does it when run as root). "
            "Never `playwright install`.",
            pytrace=False,
        )
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


@pytest.fixture
def page(request, browser: Browser, tmp_path_factory) -> Iterator[Page]:
    """A fresh browser context and page; a failing test leaves a screenshot (path printed)."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        yield page
    finally:
        _screenshot_if_failed(request, page, tmp_path_factory.getbasetemp())
        context.close()


@pytest.fixture
def lab_page(request, page: Page, jupyterlab: JupyterLab, tmp_path_factory) -> Iterator[LabPage]:
    """`page` with notebook helpers (open, run_all, wait_for, save, traffic); kernels stop after."""
    try:
        yield LabPage(page, jupyterlab.url)
    finally:
        # Screenshot before the kernels go, so the picture shows the page as the test left it.
        _screenshot_if_failed(request, page, tmp_path_factory.getbasetemp())
        jupyterlab.shutdown_kernels()


def _screenshot_if_failed(request, page: Page, base: Path) -> None:
    """Once per failed test, save a screenshot under `base/browser-failures` and print where."""
    report = getattr(request.node, "rep_call", None)
    if report is None or not report.failed or getattr(request.node, "screenshot_taken", False):
        return
    request.node.screenshot_taken = True
    name = re.sub(r"[^\w.-]+", "_", request.node.nodeid)[-120:]
    shot = base / "browser-failures" / f"{name}.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot))
    print(f"screenshot of the failed page: {shot}")
