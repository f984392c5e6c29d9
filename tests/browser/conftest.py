"""Browser tests: Playwright (Python) driving Debian's Chromium, headless, over the real app.

No browser is downloaded (``playwright install`` is never run): Chromium is the Debian
package at ``/usr/bin/chromium`` (``scripts/setup.sh`` installs it with ``fonts-noto-cjk``).
Screenshots go to ``test-artifacts/`` (git-ignored).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Locator, Page, async_playwright

from gridsvc.settings import PROJECT_ROOT, Settings
from tests.events_support import AppServer
from tests.live_support import start_server

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}


@pytest.fixture(scope="session")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/setup.sh does)")
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium, args=ARGS, headless=True)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture(scope="module")
def server(settings: Settings, demo: Any) -> Iterator[AppServer]:  # noqa: ARG001 - the demo first
    """The real app on a port of its own with the demo loaded, one per test module. A module
    that needs its own clock or settings (or a layer loaded before the app starts) defines
    its own ``server``, which takes precedence over this one."""
    app = start_server(settings)
    try:
        yield app
    finally:
        app.__exit__()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


class Outside:
    """Every request a page makes that leaves the app under test (there must be none), and
    every request for the page's own files or map tiles that the app refused (a page asking
    for a tile that cannot exist, e.g. at a fractional zoom, is broken too): both land in
    ``requests``, which each test holds to be empty."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.requests: list[str] = []

    def watch(self, context: BrowserContext) -> None:
        context.on("request", self._seen)
        context.on("response", self._answered)

    def _answered(self, response: Any) -> None:
        own = (f"{self.base_url}/tiles/", f"{self.base_url}/static/")
        if response.url.startswith(own) and response.status >= 400:
            self.requests.append(f"refused {response.status}: {response.url}")

    def _seen(self, request: Any) -> None:
        url = request.url
        if not (url.startswith(self.base_url) or url.startswith(("data:", "blob:"))):
            self.requests.append(url)


async def log_in(context: BrowserContext, base_url: str, token: str, path: str) -> Page:
    """Open ``path``, get sent to the login form, give the token, land on the page."""
    page = await context.new_page()
    page.on("pageerror", lambda error: print(f"page error on {path}: {error}"))

    def console_error(message: Any) -> None:
        if message.type == "error":
            print(f"console error on {path}: {message.text}")

    page.on("console", console_error)
    await page.goto(f"{base_url}{path}")
    await page.fill("#token", token)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base_url}{path}*")
    await page.wait_for_selector("body[data-ready='1']", timeout=15000)
    return page


def png(width: int = 64, height: int = 48, rgb: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    """A real PNG image (a phone photo stand-in)."""
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


async def event_marker(page: Page, event_id: int, wait_ms: float = 5000) -> Locator:
    """The /ops marker of an event, once the map has it, zoomed in past the clusters (below
    z16 an event may be inside a cluster and its own marker not in the page)."""
    await page.wait_for_function("id => !!OpsMap.events[id]", arg=event_id, timeout=wait_ms)
    await page.evaluate("id => OpsMap.show(id)", event_id)
    return page.locator(f".ev[data-id='{event_id}']")
