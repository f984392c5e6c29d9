"""The operator's whistles view (issue 8 item 10): ``GET /whistles/board`` lists the open
whistles with each department's 报到/到场 state, lateness and score, on the app's clock."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from gridsvc.app import create_app
from gridsvc.clock import FrozenClock
from tests.auth_support import bearer
from tests.live_support import spot_in

pytestmark = pytest.mark.usefixtures("demo")


async def test_board_lists_open_whistles_with_state_lateness_and_score(settings, db):
    clock = FrozenClock()
    departments = [r["code"] for r in await db.fetch("SELECT code FROM departments ORDER BY code LIMIT 3")]
    where = await spot_in(db, "LI-VADUZ-01")
    with TestClient(create_app(settings, clock=clock)) as client:
        client.headers.update(bearer(settings.database_url, "operator"))
        created = client.post(
            "/whistles",
            json={
                "township_code": "LI-VADUZ",
                "title": "河道违建联合拆除",
                "departments": departments,
                "location": where,
                "ack_minutes": 5,
                "arrive_minutes": 30,
            },
        )
        assert created.status_code == 201, created.text
        whistle = created.json()
        summoned = datetime.fromisoformat(whistle["summoned_at"])
        first, second, third = departments
        assert client.post(f"/whistles/{whistle['id']}/departments/{first}/ack").status_code == 200
        assert client.post(f"/whistles/{whistle['id']}/departments/{first}/arrive").status_code == 200
        assert client.post(f"/whistles/{whistle['id']}/departments/{second}/ack").status_code == 200
        # the second's 报到 was made 12 minutes late (as if it had come then)
        await db.execute(
            "UPDATE whistle_attendance SET acknowledged_at = ack_due_at + interval '12 minutes' "
            "WHERE whistle_id = $1 AND department = $2",
            whistle["id"],
            second,
        )
        clock.set(summoned + timedelta(minutes=20))  # the third never reported: 15 min over
        board = client.get("/whistles/board").json()
        mine = next(w for w in board["whistles"] if w["id"] == whistle["id"])
        assert mine["open"] and mine["event"]["title"] == "河道违建联合拆除"
        rows = {d["department"]: d for d in mine["departments"]}
        assert (rows[first]["status"], rows[first]["status_zh"], rows[first]["late"]) == (
            "arrived",
            "已到场",
            False,
        )
        assert rows[first]["late_minutes"] == 0
        assert (rows[second]["status"], rows[second]["status_zh"]) == ("acknowledged", "已报到")
        assert rows[second]["late"] and rows[second]["late_minutes"] == pytest.approx(12, abs=0.1)
        assert (rows[third]["status"], rows[third]["status_zh"]) == ("awaiting_ack", "待报到")
        assert rows[third]["late"] and rows[third]["late_minutes"] == pytest.approx(15, abs=0.1)
        # each department's score is its score over all whistles (GET /whistles/scores)
        scores = {s["department"]: s["score"] for s in client.get("/whistles/scores").json()["departments"]}
        assert {code: rows[code]["score"] for code in departments} == {
            code: scores[code] for code in departments
        }
        assert board["counts"]["open"] == len(board["whistles"]) >= 1
        # a whistle whose event is closed leaves the board (closed here directly: the
        # lifecycle to 结案 is tested with the events)
        event_id = whistle["event_id"]
        await db.execute("UPDATE events SET state = 'closed', closed_at = now() WHERE id = $1", event_id)
        again = client.get("/whistles/board").json()
        assert whistle["id"] not in {w["id"] for w in again["whistles"]}
