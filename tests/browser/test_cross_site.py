"""Cross-site requests in a real Chromium (issue 13, D8): a page served from another port of
the same host is the same *site*, so the SameSite=Strict login cookie rides along with its
form posts. The server must refuse them by their origin: no dispatch, no login swap."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import asyncpg
import httpx
import pytest

from gridsvc.webhooks.signing import signed_headers
from tests.browser.conftest import log_in
from tests.live_support import hotline_secret, order_in_a_quiet_grid

pytestmark = pytest.mark.usefixtures("demo")


class Trap:
    """Another site on this host (127.0.0.1, another port) serving auto-submitting forms."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                body = pages.get(self.path, "").encode()
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def form(self, path: str, action: str, fields: dict[str, str]) -> str:
        inputs = "".join(f'<input type="hidden" name="{k}" value="{v}">' for k, v in fields.items())
        self.pages[path] = (
            f'<!doctype html><form id="f" method="post" action="{action}">'
            f'{inputs}</form><script>document.getElementById("f").submit()'
            "</script>"
        )
        return self.url + path


@pytest.fixture
def trap() -> Iterator[Trap]:
    site = Trap()
    site.thread.start()
    try:
        yield site
    finally:
        site.httpd.shutdown()
        site.httpd.server_close()


async def test_d8_chromium_form_posts_from_another_port_neither_dispatch_nor_log_in(
    server, browser, trap, make_token, database_url
):
    operator = make_token("operator")
    stranger = make_token("operator")
    order = await order_in_a_quiet_grid(database_url)
    db = await asyncpg.connect(database_url)
    try:
        secret = await hotline_secret(db)
    finally:
        await db.close()
    body = json.dumps(order, ensure_ascii=False).encode()
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as api:
        created = await api.post(
            "/webhooks/12345", content=body, headers=signed_headers(secret, body, integration="hotline-demo")
        )
    assert created.status_code == 201, created.text
    event_id = created.json()["id"]

    context = await browser.new_context()
    await log_in(context, server.url, operator, "/ops")
    cookie = [c for c in await context.cookies(server.url) if c["name"] == "gridsvc_token"]
    assert cookie and cookie[0]["value"] == operator and cookie[0]["sameSite"] == "Strict"

    page = await context.new_page()
    # no fields: an empty body is a valid "no options" action, as the attack in D8 used
    trap_url = trap.form("/dispatch.html", f"{server.url}/events/{event_id}/actions/dispatch", {})
    async with page.expect_response(lambda r: "/actions/dispatch" in r.url) as info:
        await page.goto(trap_url)
    answer = await info.value
    assert answer.status == 403, await answer.text()
    assert (await answer.json())["error"] == "cross_site_request"
    async with httpx.AsyncClient(
        base_url=server.url, timeout=10, headers={"Authorization": f"Bearer {operator}"}
    ) as api:
        view = (await api.get(f"/events/{event_id}")).json()
    assert view["state"] == "routed"

    # login CSRF: the other site's form would log this browser in as its own account
    trap_url = trap.form("/login.html", f"{server.url}/login", {"token": stranger, "next": "/ops"})
    async with page.expect_response(lambda r: r.url.startswith(f"{server.url}/login")) as info:
        await page.goto(trap_url)
    answer = await info.value
    assert answer.status == 403
    cookie = [c for c in await context.cookies(server.url) if c["name"] == "gridsvc_token"]
    assert cookie[0]["value"] == operator  # still the operator's own login
    await context.close()
