"""Squad status and workload (issue 8 item 4), against the real PostGIS and the real app.

A squad sets its own status from its token (忙碌 with a reason) and the recommendation moves
on to a squad that can take the case, saying why in Chinese; a squad carrying the configured
number of open cases is passed over the same way. Events are placed in the quiet townships
(tests/live_support.py) and every status changed here is set back to 在岗.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from fastapi.testclient import TestClient

from gridsvc.app import create_app
from gridsvc.settings import Settings
from tests.auth_support import bearer
from tests.live_support import BUSY_TOWNS, QUIET_GRIDS, delegated_matter, spot_in

pytestmark = pytest.mark.usefixtures("demo")


async def quiet_grid(db: asyncpg.Connection, *, skip: int = 0) -> str:
    """A quiet community grid (the ``skip``-th, by code) with room for a few more events."""
    rows = await db.fetch(QUIET_GRIDS + " ORDER BY code", list(BUSY_TOWNS))
    for row in rows[skip:]:
        try:
            await spot_in(db, row["code"])
        except AssertionError:
            continue
        return str(row["code"])
    raise AssertionError("no quiet community grid with room")


def new_event(client: TestClient, matter: str, where: dict[str, float], title: str = "占道经营") -> int:
    created = client.post(
        "/events", json={"title": title, "matter_code": matter, "location": {**where, "crs": "wgs84"}}
    )
    assert created.status_code == 201, created.text
    assert created.json()["responsible"]["kind"] == "squad", created.json()
    return int(created.json()["id"])


def ranked(client: TestClient, event_id: int) -> dict[str, Any]:
    response = client.get(f"/events/{event_id}/candidates")
    assert response.status_code == 200, response.text
    return dict(response.json())


def local_squad(answer: dict[str, Any]) -> dict[str, Any]:
    local = [c for c in answer["candidates"] if c["serves_grid"]]
    assert local, "no squad serves the event's enforcement grid"
    return dict(local[0])


@pytest.fixture
def restore_status(client: TestClient) -> Iterator[list[int]]:
    """Squad ids whose status the test changes: set back to 在岗 afterwards."""
    changed: list[int] = []
    yield changed
    for squad_id in changed:
        response = client.post(f"/squads/{squad_id}/status", json={"status": "available"})
        assert response.status_code == 200, response.text


async def test_squad_sets_busy_and_the_recommendation_moves_on(client, db, field_token, restore_status):
    matter = await delegated_matter(db)
    event_id = new_event(client, matter, await spot_in(db, await quiet_grid(db)))
    before = ranked(client, event_id)
    local = local_squad(before)
    assert before["recommended"]["id"] == local["id"]
    assert before["why"]["code"] == "local"
    assert "在岗" in before["recommended"]["reason_zh"]

    # the squad, from its own token, says it is busy and why
    squad = {"Authorization": f"Bearer {field_token('squad', squad_code=local['code'])}"}
    restore_status.append(local["id"])
    changed = client.post(
        f"/squads/{local['id']}/status",
        json={"status": "busy", "reason": "正在处置违建现场"},
        headers=squad,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["status"] == "busy"
    assert changed.json()["status_reason"] == "正在处置违建现场"
    assert changed.json()["status_by"].startswith("squad:test-squad-")
    own = client.get(f"/squads/{local['id']}", headers=squad)
    assert own.status_code == 200 and own.json()["status"] == "busy"

    after = ranked(client, event_id)
    recommended = after["recommended"]
    assert recommended is not None and recommended["id"] != local["id"]
    assert recommended["status"] == "available" and recommended["can_take"]
    passed = next(c for c in after["candidates"] if c["id"] == local["id"])
    assert passed["can_take"] is False and passed["blocked"] == "busy"
    assert after["why"]["code"] == "local_blocked"
    why = recommended["reason_zh"]
    assert local["name"] in why and "忙碌" in why and "正在处置违建现场" in why
    assert f"改荐{recommended['name']}" in why

    # 派遣 without naming a squad follows the recommendation, and the trail keeps why
    sent = client.post(f"/events/{event_id}/actions/dispatch", json={})
    assert sent.status_code == 200, sent.text
    assert sent.json()["squad_id"] == recommended["id"]
    dispatch = next(h for h in sent.json()["history"] if h["action"] == "dispatch")
    assert dispatch["data"]["recommendation"]["why"]["code"] == "local_blocked"
    assert "正在处置违建现场" in dispatch["data"]["recommendation"]["reason_zh"]


async def test_squad_over_the_load_limit_is_passed_over(client, db, settings: Settings, database_url):
    matter = await delegated_matter(db)
    grid = await quiet_grid(db, skip=1)
    first = new_event(client, matter, await spot_in(db, grid), title="乱堆物料一")
    local = local_squad(ranked(client, first))
    sent = client.post(f"/events/{first}/actions/dispatch", json={"squad_id": local["id"]})
    assert sent.status_code == 200, sent.text
    load = client.get(f"/squads/{local['id']}").json()["open_cases"]
    assert load >= 1

    # a limit of one more: the local squad still takes the next case ...
    limited = settings.model_copy(update={"dispatch_max_open_cases": load + 1})
    with TestClient(create_app(limited)) as app:
        app.headers.update(bearer(database_url, "operator"))
        second = new_event(app, matter, await spot_in(db, grid), title="乱堆物料二")
        answer = ranked(app, second)
        assert answer["recommended"]["id"] == local["id"], answer["why"]
        assert answer["why"]["code"] == "local"
        assert f"在办{load}件（上限{load + 1}件）" in answer["recommended"]["reason_zh"]
        assert app.post(f"/events/{second}/actions/dispatch", json={}).json()["squad_id"] == local["id"]

        # ... and now carries load + 1 open cases: full, the next case goes elsewhere
        third = new_event(app, matter, await spot_in(db, grid), title="乱堆物料三")
        answer = ranked(app, third)
        passed = next(c for c in answer["candidates"] if c["id"] == local["id"])
        assert passed["open_cases"] == load + 1
        assert passed["blocked"] == "full" and not passed["can_take"]
        assert answer["recommended"]["id"] != local["id"]
        assert answer["why"]["code"] == "local_blocked"
        assert f"在办{load + 1}件，已达上限{load + 1}件" in answer["recommended"]["reason_zh"]
        assert answer["why"]["params"]["blocked"] == [
            {"name": local["name"], "blocked": "full", "reason": None, "open": load + 1}
        ]


async def test_status_rules(client, make_token, field_token, restore_status):
    squads = client.get("/squads").json()
    mine, other = squads[0], squads[1]
    squad = {"Authorization": f"Bearer {field_token('squad', squad_code=mine['code'])}"}
    operator = {"Authorization": f"Bearer {make_token('operator')}"}
    restore_status.extend([mine["id"], other["id"]])

    # a reason is required for anything but 在岗
    missing = client.post(f"/squads/{mine['id']}/status", json={"status": "off_duty"}, headers=squad)
    assert missing.status_code == 422
    assert missing.json()["fields"][0]["field"] == "body.reason"
    blank = client.post(
        f"/squads/{mine['id']}/status", json={"status": "offline", "reason": "  "}, headers=squad
    )
    assert blank.status_code == 422
    unknown = client.post(
        f"/squads/{mine['id']}/status", json={"status": "asleep", "reason": "x"}, headers=squad
    )
    assert unknown.status_code == 422
    assert "status" in unknown.text

    # a squad sets only its own; another squad is as if it did not exist
    assert (
        client.post(
            f"/squads/{other['id']}/status", json={"status": "busy", "reason": "x"}, headers=squad
        ).status_code
        == 404
    )
    assert client.get(f"/squads/{other['id']}", headers=squad).status_code == 404

    # operators set any squad's status (离线 with a reason), kept in the history
    offline = client.post(
        f"/squads/{other['id']}/status",
        json={"status": "offline", "reason": "对讲机无信号"},
        headers=operator,
    )
    assert offline.status_code == 200, offline.text
    assert offline.json()["status"] == "offline"
    assert offline.json()["status_by"].startswith("operator:test-operator-")
    back = client.post(f"/squads/{other['id']}/status", json={"status": "available"}, headers=squad)
    assert back.status_code == 404
    live = client.get("/live/squads").json()["squads"]
    shown = next(s for s in live if s["id"] == other["id"])
    assert shown["status"] == "offline" and shown["status_reason"] == "对讲机无信号"
    assert isinstance(shown["open_cases"], int)


# -- 属地兜底 (issue 8 item 8) ---------------------------------------------------------------


async def ownerless_matter(db: asyncpg.Connection, grid: str) -> tuple[str, str]:
    """(enforcement grid code, matter code) of a township-level event matter with no owning
    department that the township of community ``grid`` does not have on its list in force."""
    from datetime import UTC, datetime

    from gridsvc.delegations.service import delegation_at

    enforcement = await db.fetchval(
        "SELECT enforcement_code FROM current_grids WHERE layer = 'community' AND code = $1", grid
    )
    codes = await db.fetch(
        "SELECT code FROM matters WHERE owner_department IS NULL AND kind = 'event' "
        "AND handling_level = 'township' ORDER BY code"
    )
    for row in codes:
        listed = await delegation_at(
            db, enforcement_code=enforcement, matter_code=row["code"], at=datetime.now(UTC)
        )
        if listed is None or not listed["delegated"]:
            return str(enforcement), str(row["code"])
    raise AssertionError(f"every ownerless matter is delegated to {enforcement}")


async def test_ownerless_matter_falls_back_to_the_township_squad(client, db):
    grid = await quiet_grid(db)
    enforcement, matter = await ownerless_matter(db, grid)
    created = client.post(
        "/events",
        json={"title": "无主管部门事项", "matter_code": matter, "location": await spot_in(db, grid)},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["state"] == "routed"
    assert body["responsible"]["kind"] == "squad"
    assert body["responsible"]["code"] == enforcement
    assert body["routing"]["rule"] == "territorial_fallback"
    assert "属地兜底" in body["routing"]["reason_zh"] and "无主管部门" in body["routing"]["reason_zh"]
    assert "no owning department" in body["routing"]["reason"]
    # the township's own squad is recommended, like for any case of its township
    answer = ranked(client, body["id"])
    assert answer["recommended"] is not None and answer["recommended"]["serves_grid"]


async def test_ownerless_matter_goes_to_triage_when_configured(settings: Settings, database_url, db):
    grid = await quiet_grid(db)
    _, matter = await ownerless_matter(db, grid)
    triage = settings.model_copy(update={"routing_no_owner_fallback": "triage"})
    with TestClient(create_app(triage)) as app:
        app.headers.update(bearer(database_url, "operator"))
        created = app.post(
            "/events",
            json={"title": "无主管部门事项", "matter_code": matter, "location": await spot_in(db, grid)},
        )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["state"] == "received"
    assert body["responsible"]["kind"] == "triage"
    assert body["routing"]["rule"] == "no_owner"
    assert "转指挥中心分拨" in body["routing"]["reason_zh"]


def test_fallback_setting_is_checked(monkeypatch):
    monkeypatch.setenv("GRIDSVC_ROUTING_NO_OWNER_FALLBACK", "county")
    with pytest.raises(ValueError, match="routing_no_owner_fallback"):
        Settings()
    monkeypatch.setenv("GRIDSVC_ROUTING_NO_OWNER_FALLBACK", "triage")
    assert Settings().routing_no_owner_fallback == "triage"
