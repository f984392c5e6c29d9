"""Hostile requests against the real server (issue 13): deeply nested JSON (D6), requests
riding on the login cookie from another origin of the same host (D8), and bodies that must be
refused before they are read (D9, D6 sizes)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.requests import HTTPConnection

from gridsvc.auth.csrf import cross_site_reason
from gridsvc.jsonsafe import JSONTooDeep, loads, nesting_depth
from gridsvc.webhooks.signing import signed_headers
from tests.browser.conftest import png
from tests.events_support import free_port, post_order
from tests.live_support import hotline_secret, order_in_a_quiet_grid, start_server

pytestmark = pytest.mark.usefixtures("demo")
DEEP = b"[" * 30_000 + b"]" * 30_000  # 60 kB: under the webhook's 64 kB body limit


@pytest.fixture(scope="module")
def server(settings, demo):  # noqa: ARG001
    app = start_server(settings, attachment_max_bytes=100_000)
    try:
        yield app
    finally:
        app.__exit__()


@pytest.fixture(scope="module")
async def secret(database_url) -> str:
    db = await asyncpg.connect(database_url)
    try:
        return await hotline_secret(db)
    finally:
        await db.close()


def new_event(server, database_url: str, secret: str) -> int:
    """A routed work order (a grid head's, not dispatched yet) through the signed webhook."""
    order = asyncio.run(order_in_a_quiet_grid(database_url))
    with httpx.Client(base_url=server.url, timeout=10) as client:
        answer = post_order(client, secret, order)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def raw_request(port: int, head: str, body: bytes, *, within: float = 5.0) -> tuple[int, bytes]:
    """Send request headers and only the first ``body`` bytes of what they declare, then read
    the answer: a server that waited for the rest of the body would time out here."""
    with socket.create_connection(("127.0.0.1", port), timeout=within) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        started, answer = time.monotonic(), b""
        while b"\r\n\r\n" not in answer:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                raise AssertionError(f"no answer within {within} s: the server is reading the body") from None
            if not chunk:
                break
            answer += chunk
        assert time.monotonic() - started < within
    status = int(answer.split(b" ", 2)[1])
    return status, answer


# -- D6: JSON nesting and size --------------------------------------------------------------


def test_d6_signed_webhook_of_30000_nested_brackets_is_400_not_500(server, secret):
    with httpx.Client(base_url=server.url, timeout=10) as client:
        headers = signed_headers(secret, DEEP, integration="hotline-demo")
        answer = client.post("/webhooks/12345", content=DEEP, headers=headers)
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] == "json_too_deep"
        assert "nested deeper than 64 levels" in answer.json()["message"]
        # not labelled JSON: the webhook parses it itself, after the signature: same answer
        headers["Content-Type"] = "text/plain"
        answer = client.post("/webhooks/12345", content=DEEP, headers=headers)
        assert answer.status_code == 400 and answer.json()["error"] == "json_too_deep"
        # 65 levels inside an otherwise sensible work order: refused too
        order: Any = {"title": "x"}
        for _ in range(64):
            order = {"nested": order}
        body = json.dumps(order).encode()
        answer = client.post(
            "/webhooks/12345", content=body, headers=signed_headers(secret, body, integration="hotline-demo")
        )
        assert answer.status_code == 400 and answer.json()["error"] == "json_too_deep"
        # a broken body is still "malformed", not "too deep"
        body = b'{"title": '
        answer = client.post(
            "/webhooks/12345", content=body, headers=signed_headers(secret, body, integration="hotline-demo")
        )
        assert answer.status_code in (400, 422) and answer.json()["error"] != "json_too_deep"


def test_d6_every_json_route_limits_depth_and_declared_size(server, make_token):
    operator = {"Authorization": f"Bearer {make_token('operator')}"}
    with httpx.Client(base_url=server.url, timeout=10, headers=operator) as client:
        answer = client.post("/events", content=DEEP, headers={"Content-Type": "application/json"})
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] == "json_too_deep"
        nested: Any = [1]
        for _ in range(64):
            nested = [nested]
        answer = client.post("/grids/lookup", json={"points": nested})  # 66 levels
        assert answer.status_code == 400 and "GRIDSVC_JSON_MAX_DEPTH" in answer.json()["message"]
        # within the limit the route's own validation answers, as before
        assert client.post("/grids/lookup", json={"points": [[[1]]]}).status_code == 422
    # a declared 50 MB body is refused before it is read (only 1 kB is ever sent)
    head = (
        "POST /events HTTP/1.1\nHost: 127.0.0.1\nContent-Type: application/json\n"
        f"Authorization: {operator['Authorization']}\nContent-Length: 50000000\n"
    )
    status, raw = raw_request(server.port, head, b'{"title": "' + b"x" * 1000)
    assert status == 413 and b"GRIDSVC_JSON_MAX_BODY_BYTES" in raw


def test_d6_the_guard_parses_with_orjson_and_counts_levels():
    assert nesting_depth(1) == 0 and nesting_depth([]) == 1 and nesting_depth({"a": [{}]}) == 3
    assert loads(b'{"a": [[1]]}', max_depth=3) == {"a": [[1]]}
    with pytest.raises(JSONTooDeep):
        loads(b'{"a": [[1]]}', max_depth=2)
    with pytest.raises(JSONTooDeep):  # orjson's own ceiling (1024) reads the same
        loads(DEEP, max_depth=5000)
    with pytest.raises(ValueError):
        loads(b"[NaN]", max_depth=64)


# -- D8: cross-site requests with the login cookie ------------------------------------------


def test_d8_a_form_post_from_another_port_of_the_same_host_does_not_dispatch(
    server, database_url, secret, make_token
):
    operator = make_token("operator")
    attacker = f"http://127.0.0.1:{free_port()}"
    event_id = new_event(server, database_url, secret)
    cookie = {"gridsvc_token": operator}
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    # what Chromium sends for a form auto-submitted by a page on another port: the cookie
    # (same site: SameSite=Strict lets it through), Origin and Sec-Fetch-Site: same-site
    hostile = [
        {"Origin": attacker, "Sec-Fetch-Site": "same-site", "Referer": attacker + "/"},
        {"Origin": attacker},  # an older browser: Origin only
        {"Referer": attacker + "/trap.html"},  # Origin stripped, Referer left
        {"Origin": "null"},  # a sandboxed frame or a data: page
        {},  # says nothing at all
    ]
    with (
        httpx.Client(base_url=server.url, timeout=10, cookies=cookie) as browser,
        httpx.Client(base_url=server.url, timeout=10) as script,
    ):
        for headers in hostile:
            answer = browser.post(
                f"/events/{event_id}/actions/dispatch", content=b"", headers={**form, **headers}
            )
            assert answer.status_code == 403, (headers, answer.text)
            assert answer.json()["error"] == "cross_site_request"
        view = script.get(f"/events/{event_id}", headers={"Authorization": f"Bearer {operator}"}).json()
        assert view["state"] == "routed"
        assert not [h for h in view["history"] if h["action"] == "dispatch"]
        # the page's own fetch (same origin) still works with the cookie
        own = browser.post(
            f"/events/{event_id}/actions/dispatch",
            json={},
            headers={"Origin": server.url, "Sec-Fetch-Site": "same-origin"},
        )
        assert own.status_code == 200, own.text
        assert own.json()["state"] == "dispatched"
        # a bearer token is not an ambient credential: no origin check
        other = new_event(server, database_url, secret)
        bearer = script.post(
            f"/events/{other}/actions/dispatch",
            json={},
            headers={
                "Authorization": f"Bearer {operator}",
                "Origin": attacker,
                "Sec-Fetch-Site": "cross-site",
            },
        )
        assert bearer.status_code == 200, bearer.text
        # reading with the cookie from anywhere stays possible (no state change)
        assert browser.get("/me", headers={"Origin": attacker}).status_code == 200


def test_d8_login_refuses_a_cross_site_post(server, make_token):
    token = make_token("operator")
    attacker = f"http://127.0.0.1:{free_port()}"
    form = {"token": token, "next": "/ops"}
    with httpx.Client(base_url=server.url, timeout=10, follow_redirects=False) as client:
        for headers in (
            {"Origin": attacker, "Sec-Fetch-Site": "same-site"},
            {"Origin": "https://evil.example"},
            {"Referer": attacker + "/x"},
        ):
            client.cookies.clear()
            answer = client.post("/login", data=form, headers=headers)
            assert answer.status_code == 403, (headers, answer.text)
            assert "set-cookie" not in answer.headers
        client.cookies.clear()
        own = client.post(
            "/login", data=form, headers={"Origin": server.url, "Sec-Fetch-Site": "same-origin"}
        )
        assert own.status_code == 303 and "gridsvc_token=" in own.headers["set-cookie"]
        client.cookies.clear()
        script = client.post("/login", data=form)  # no browser, no origin: a script's login
        assert script.status_code == 303


def _connection(headers: dict[str, str]) -> HTTPConnection:
    return HTTPConnection(
        {
            "type": "http",
            "method": "POST",
            "path": "/x",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        }
    )


@pytest.mark.parametrize(
    ("headers", "trusted", "refused"),
    [
        ({"Host": "gov.example", "Origin": "https://gov.example"}, "", False),  # TLS proxy
        ({"Host": "gov.example:8443", "Origin": "https://gov.example:8443"}, "", False),
        ({"Host": "gov.example:8000", "Origin": "http://gov.example:9000"}, "", True),
        ({"Host": "gov.example", "Origin": "http://gov.example.evil.example"}, "", True),
        ({"Host": "[::1]:8000", "Origin": "http://[::1]:8000"}, "", False),
        (
            {"Host": "internal:8000", "Origin": "https://ops.gov.example"},
            "https://ops.gov.example, https://other.example",
            False,
        ),
        (
            {"Host": "internal:8000", "Origin": "https://ops.gov.example", "Sec-Fetch-Site": "cross-site"},
            "https://ops.gov.example",
            False,
        ),
        ({"Host": "internal:8000", "Origin": "https://ops.gov.example:444"}, "https://ops.gov.example", True),
        ({"Host": "a:1", "Origin": "http://a:1", "Sec-Fetch-Site": "same-site"}, "", True),
    ],
)
def test_d8_origin_rules_for_proxies_ports_and_trusted_origins(headers, trusted, refused):
    assert (cross_site_reason(_connection(headers), trusted=trusted) is not None) is refused


# -- D9: size and token before the body ----------------------------------------------------


def test_d9_an_anonymous_200_mb_upload_is_refused_before_it_is_read(server, database_url, secret, make_token):
    event_id = new_event(server, database_url, secret)
    multipart = "Content-Type: multipart/form-data; boundary=b0undary\nContent-Length: 200000000\n"
    first = (
        b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + b"\x89PNG" + b"\x00" * 4000
    )
    head = f"POST /events/{event_id}/attachments HTTP/1.1\nHost: 127.0.0.1\n{multipart}"
    status, answer = raw_request(server.port, head, first)
    assert status == 401 and b"unauthenticated" in answer
    # with a token: refused by its declared size, still without reading it
    token = make_token("operator")
    status, answer = raw_request(server.port, head + f"Authorization: Bearer {token}\n", first)
    assert status == 413 and b"body_too_large" in answer
    # with the login cookie from another site: refused before the body as well
    cookie = f"Cookie: gridsvc_token={token}\nOrigin: http://127.0.0.1:{free_port()}\n"
    status, _ = raw_request(server.port, head + cookie, first)
    assert status == 403
    # the login form: its size is checked before it is read too
    status, _ = raw_request(
        server.port,
        "POST /login HTTP/1.1\nHost: 127.0.0.1\nContent-Type: "
        "application/x-www-form-urlencoded\nContent-Length: 200000000\n",
        b"token=" + b"x" * 1000,
    )
    assert status == 413
    # and a normal upload still works
    uploaded = httpx.post(
        f"{server.url}/events/{event_id}/attachments",
        files={"file": ("a.png", png(), "image/png")},
        data={"note": "现场"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert uploaded.status_code == 201, uploaded.text
    missing = httpx.post(
        f"{server.url}/events/{event_id}/attachments",
        data={"note": "x"},
        files={"other": ("a.png", png(), "image/png")},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert missing.status_code == 422 and missing.json()["fields"][0]["field"] == "file"
