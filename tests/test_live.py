"""The live hub over real HTTP: SSE fed by PostgreSQL NOTIFY across app processes, scope,
heartbeats, catch-up, counters and squads; per-recipient webhook notices."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx
import pytest

from tests.checks import present
from tests.events_support import CallbackReceiver, free_port, post_order, wait_for
from tests.live_support import (
    SSEClient,
    act,
    delegated_matter,
    get,
    hotline_secret,
    is_event,
    spot_in,
    start_server,
    work_order,
)
from tests.waiting import await_until

pytestmark = pytest.mark.usefixtures("demo")


@pytest.fixture(scope="module")
def servers(settings, demo):  # noqa: ARG001 - demo loads the jurisdiction first
    """Two app processes' worth of app (each its own pool, hub and LISTEN) on one database."""
    first = start_server(settings)
    second = start_server(settings, live_heartbeat_s=0.5)
    try:
        yield first, second
    finally:
        second.__exit__()
        first.__exit__()


@pytest.fixture(scope="module")
def tokens(make_token):
    return {
        "operator": make_token("operator"),
        "vaduz": make_token("grid_head", grid_codes=["LI-VADUZ-01"]),
        "schaan": make_token("grid_head", grid_codes=["LI-SCHAAN-01"]),
    }


def hotline(base_url: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=10)


async def test_an_event_made_through_one_process_reaches_a_stream_on_the_other(servers, tokens, db):
    first, second = servers
    secret, matter = await hotline_secret(db), await delegated_matter(db)
    where = await spot_in(db, "LI-VADUZ-01")
    async with SSEClient(first.url, tokens["operator"]) as stream:
        assert present(stream.response).headers["content-type"].startswith("text/event-stream")
        hello = await stream.wait_for(lambda m: m.event == "hello")
        assert hello.data["role"] == "operator"
        with hotline(second.url) as client:
            answer = post_order(client, secret, work_order(matter, where))
        assert answer.status_code == 201, answer.text
        event_id = answer.json()["id"]
        message = await stream.wait_for(is_event(event_id), within=2.0)
        summary = message.data["event"]
        assert message.data["op"] == "INSERT"
        assert message.id and message.id.startswith(hello.data["boot"] + ".")
        assert summary["state"] == "routed" and summary["title"] == "占道经营，请处理"
        assert summary["lat"] == pytest.approx(where["lat"]) and summary["community"] == "LI-VADUZ-01"
        assert summary["responsible"] == {
            "kind": "squad",
            "code": "LI-VADUZ",
            "name": answer.json()["responsible"]["name"],
        }
        assert summary["sla"]["status"] == "on_time" and summary["sla"]["due_at"]
        # a lifecycle change through the other process arrives too, and the counters follow
        act(second.url, tokens["operator"], event_id, "dispatch")
        moved = await stream.wait_for(is_event(event_id, "dispatched"), within=2.0)
        assert moved.data["event"]["squad_id"] is not None
        counters = await stream.wait_for(lambda m: m.event == "counters")
        assert counters.data["open"] >= 1 and "whistles_awaiting_ack" in counters.data


async def test_a_grid_head_stream_carries_only_its_own_grids(servers, tokens, db):
    first, second = servers
    secret, matter = await hotline_secret(db), await delegated_matter(db)
    async with (
        SSEClient(first.url, tokens["vaduz"]) as mine,
        SSEClient(first.url, tokens["operator"]) as desk,
    ):
        await mine.wait_for(lambda m: m.event == "hello")
        await desk.wait_for(lambda m: m.event == "hello")
        ids = []
        with hotline(second.url) as client:
            for grid in ("LI-VADUZ-01", "LI-SCHAAN-01", "LI-VADUZ-01"):
                order = work_order(matter, await spot_in(db, grid))
                ids.append(post_order(client, secret, order).json()["id"])
        for event_id in ids:
            await desk.wait_for(is_event(event_id))
        await mine.wait_for(is_event(ids[0]))
        await mine.wait_for(is_event(ids[2]))  # in order: the other grid's came in between
        carried = {m.data["event"]["id"] for m in mine.received if m.event == "event"}
        assert ids[1] not in carried
        assert not any(m.event in ("counters", "squad") for m in mine.received)
    # and its snapshot of open events leaves the other grid out as well
    listed = get(f"{first.url}/live/events", tokens["vaduz"]).json()["events"]
    assert {ids[0], ids[2]} <= {e["id"] for e in listed} and ids[1] not in {e["id"] for e in listed}
    # the grid head's scope: events in its community grid, and events routed to it by name
    # (another test may route an address-only event to LI-VADUZ-01's head)
    assert all(
        e["community"] == "LI-VADUZ-01"
        or (e["responsible"]["kind"] == "grid_head" and e["responsible"]["code"] == "LI-VADUZ-01")
        for e in listed
    )


async def test_heartbeats_keep_an_idle_stream_alive(servers, tokens):
    _, second = servers  # its heartbeat interval is 0.5 s
    async with SSEClient(second.url, tokens["schaan"]) as stream:
        await stream.wait_for(lambda m: m.event == "hello")
        started = asyncio.get_running_loop().time()
        await stream.wait_for(lambda m: m.event == "heartbeat", within=3)
        await stream.wait_for(lambda m: m.event == "heartbeat", within=3)
        assert asyncio.get_running_loop().time() - started >= 0.5


async def test_last_event_id_catches_up_or_asks_for_a_reload(servers, tokens, db):
    first, _ = servers
    secret, matter = await hotline_secret(db), await delegated_matter(db)
    async with SSEClient(first.url, tokens["operator"]) as stream:
        await stream.wait_for(lambda m: m.event == "hello")
        with hotline(first.url) as client:
            one = post_order(client, secret, work_order(matter, await spot_in(db, "LI-VADUZ-01")))
        seen = await stream.wait_for(is_event(one.json()["id"]))
    with hotline(first.url) as client:  # while the page is away
        two = post_order(client, secret, work_order(matter, await spot_in(db, "LI-VADUZ-01")))
    async with SSEClient(first.url, tokens["operator"], last_event_id=seen.id) as again:
        await again.wait_for(is_event(two.json()["id"]))
    async with SSEClient(first.url, tokens["operator"], last_event_id="00000000.1") as other:
        message = await other.wait_for(lambda m: m.event in ("resync", "event"))
        assert message.event == "resync"


async def test_squad_moves_are_pushed_to_the_desk(servers, tokens, client):
    first, _ = servers
    squad = client.get("/squads").json()[0]
    async with SSEClient(first.url, tokens["operator"]) as stream:
        await stream.wait_for(lambda m: m.event == "hello")
        ping = {
            "lat": squad["station"]["lat"] + 0.001,
            "lng": squad["station"]["lng"],
            "crs": "wgs84",
            "timestamp": datetime.now(UTC).isoformat(),
        }
        assert client.post(f"/squads/{squad['id']}/positions", json=ping).status_code == 201
        moved = await stream.wait_for(
            lambda m: m.event == "squad" and m.data["id"] == squad["id"], within=2.0
        )
        assert moved.data["position"]["kind"] == "live"
        assert moved.data["position"]["lat"] == pytest.approx(ping["lat"])
        assert moved.data["status"] in ("available", "busy", "off_duty")


async def test_stream_and_desk_data_need_the_right_token(servers, tokens):
    first, _ = servers
    assert get(f"{first.url}/live/stream").status_code == 401
    for path in ("/live/squads", "/live/counters", "/live/coverage"):
        assert get(f"{first.url}{path}", tokens["vaduz"]).status_code == 403
    counters = get(f"{first.url}/live/counters", tokens["operator"]).json()
    assert set(counters) >= {"open", "overdue", "triage", "closed_today", "whistles_awaiting_ack"}
    coverage = get(f"{first.url}/live/coverage?jurisdiction=LI", tokens["operator"]).json()
    assert coverage["type"] == "FeatureCollection" and len(coverage["features"]) > 50
    assert all(f["properties"]["minutes"] >= 0 for f in coverage["features"])


async def test_a_recipient_webhook_gets_a_signed_notice_of_each_dispatch(settings, make_token, db):
    # Accounts other tests gave a webhook would be posted to as well (each recipient on its
    # own, so they no longer delay this one): this test judges its own dispatch alone.
    await db.execute("UPDATE users SET webhook_url = NULL WHERE webhook_url IS NOT NULL")
    port = free_port()
    vaduz = make_token(
        "grid_head", grid_codes=["LI-VADUZ-01"], webhook_url=f"http://127.0.0.1:{port}/callbacks"
    )
    make_token(
        "grid_head", grid_codes=["LI-SCHAAN-01"], webhook_url=f"http://127.0.0.1:{port}/callbacks"
    )  # not its grid: no notice
    operator = make_token("operator")
    server = start_server(settings, background_workers=True)
    try:
        secret = get(f"{server.url}/notices/secret", vaduz).json()["secret"]
        receiver = CallbackReceiver(port, secret)  # checks X-Signature with that secret
        receiver.start()
        try:
            with hotline(server.url) as client:
                order = work_order(await delegated_matter(db), await spot_in(db, "LI-VADUZ-01"))
                event_id = post_order(client, await hotline_secret(db), order).json()["id"]
            act(server.url, operator, event_id, "dispatch")
            got = wait_for(
                lambda: [r for r in receiver.received if r["payload"]["event_id"] == event_id], timeout=10
            )
            assert len(got) == 1  # one recipient (the other grid head does not see it)
            notice = got[0]["payload"]
            assert notice["kind"] == "dispatched" and notice["kind_zh"] == "派遣"
            assert notice["work_order_no"] == order["work_order_no"]
            assert notice["state"] == "dispatched" and notice["inbox"] == "/inbox"
            assert got[0]["key"].startswith("notice:")
            listed = get(f"{server.url}/notices?event_id={event_id}", vaduz).json()["notices"]
            assert [n["status"] for n in listed] == ["delivered"]
        finally:
            receiver.stop()
    finally:
        server.__exit__()
    # one notice was written for the one recipient, its fan-out job ran once
    assert await db.fetchval("SELECT count(*) FROM recipient_notices WHERE event_id = $1", event_id) == 1


async def test_a_process_nobody_listens_to_reads_nothing_and_says_so(settings, db):
    from gridsvc.auth.models import Principal
    from gridsvc.auth.scope import event_visible
    from gridsvc.database.pool import create_pool
    from gridsvc.listener import Listener
    from gridsvc.live.hub import LiveHub

    pool = await create_pool(settings.database_url, min_size=1, max_size=2)
    listener = Listener(settings.database_url)
    hub = LiveHub(pool, listener, visible=event_visible, stale_after_s=600, catch_up_s=0.0)
    await listener.start()
    await hub.start()
    try:
        event_id = await db.fetchval("SELECT max(id) FROM events")
        touch = "UPDATE events SET due_at = due_at + interval '1 second' WHERE id = $1"
        operator = Principal(user_id=0, name="desk", role="operator")
        listening = hub.subscribe(operator)
        await db.execute(touch, event_id)
        first = await asyncio.wait_for(listening.queue.get(), 5)
        last_id = first.id
        hub.unsubscribe(listening)
        heard = hub.notifications
        await db.execute(touch, event_id)  # nobody listens now: not read, not kept
        await await_until(lambda: hub.notifications > heard)
        # ... and handled: a gap noted (not read) before anyone subscribes again
        await await_until(lambda: hub._lost_through > 0)
        back = hub.subscribe(operator, last_event_id=last_id)
        assert (await asyncio.wait_for(back.queue.get(), 5)).event == "resync"
    finally:
        await hub.stop()
        await listener.stop()
        await pool.close()


def test_messages_are_one_json_line_each():
    from gridsvc.live.hub import encode

    text = (
        encode("event", {"title": "多行\n标题", "at": datetime(2026, 1, 1, tzinfo=UTC)}, "ab.1")
        .encode()
        .decode()
    )
    lines = text.split("\n")
    assert lines[:2] == ["id: ab.1", "event: event"] and text.endswith("\n\n")
    assert json.loads(lines[2][len("data: ") :])["title"] == "多行\n标题"
