"""The work queue's API (issue 9 item 1): ``GET /events`` with free text ``q`` (Chinese,
work-order number, the caller's phone suffix within privacy rules), every filter, sort,
paging and the counts per filter, scoped to what the caller may see; ``GET /events-export``
as CSV and Excel.

Real app, real PostgreSQL: the events come through the signed webhook and ``POST /events``
(tests/queue_support.py); expected answers are computed from the API's own unfiltered
list of the test's events, never written down by hand.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from gridsvc.events.export import dictionary
from gridsvc.settings import Settings
from tests.queue_support import QueueWorld, build_world

pytestmark = pytest.mark.usefixtures("demo")


@pytest.fixture(scope="module")
async def world(client: TestClient, database_url: str) -> QueueWorld:
    from gridsvc.database.pool import connect

    db = await connect(database_url)
    try:
        return await build_world(client, db)
    finally:
        await db.close()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def listing(client: TestClient, headers: dict[str, str] | None = None, /, **params: Any) -> dict[str, Any]:
    response = client.get("/events", params=params, headers=headers or {})
    assert response.status_code == 200, response.text
    return dict(response.json())


def ids(answer: dict[str, Any]) -> list[int]:
    return [e["id"] for e in answer["events"]]


def everything(client: TestClient, world: QueueWorld) -> list[dict[str, Any]]:
    events = listing(client, q=world.tag, limit=500)["events"]
    assert {e["id"] for e in events} == set(world.ids.values())
    return list(events)


# -- free text ---------------------------------------------------------------------------------


def test_q_finds_a_chinese_title_word_and_nothing_else(client: TestClient, world: QueueWorld) -> None:
    for name, word in world.words.items():
        found = ids(listing(client, q=word, limit=500))
        assert world.ids[name] in found
        # the other events of the world do not carry this word
        assert not set(found) & (set(world.ids.values()) - {world.ids[name]}), (name, word)


def test_q_by_work_order_number_leaves_one_event(client: TestClient, world: QueueWorld) -> None:
    for name, number in world.orders.items():
        assert ids(listing(client, q=number)) == [world.ids[name]]
        # part of the number, any case, spaces around
        assert world.ids[name] in ids(listing(client, q=f"  {number[3:].lower()} "))


def test_q_searches_description_and_address(client: TestClient, world: QueueWorld) -> None:
    events = everything(client, world)
    by_id = {e["id"]: e for e in events}
    address = by_id[world.ids["address_only"]]["address"]
    assert world.ids["address_only"] in ids(listing(client, q=address))
    described = {e["id"] for e in events if world.tag in (e["description"] or "")}
    assert described and described < set(by_id)


def test_q_with_like_wildcards_is_taken_literally(client: TestClient, world: QueueWorld) -> None:
    assert ids(listing(client, q=f"{world.tag}%")) == []
    assert ids(listing(client, q="_" * 20)) == []


def test_the_centre_finds_a_caller_by_the_last_digits(client: TestClient, world: QueueWorld) -> None:
    for name, phone in world.phones.items():
        assert world.ids[name] in ids(listing(client, q=phone[-4:], limit=500))
        assert ids(listing(client, q=phone[-8:])) == [world.ids[name]]
        assert ids(listing(client, q=f"{phone[:3]}-{phone[3:7]}-{phone[7:]}")) == [world.ids[name]]


def test_a_grid_head_finds_callers_only_by_the_digits_it_is_shown(
    client: TestClient, world: QueueWorld, make_token: Callable[..., str]
) -> None:
    head = auth(make_token("grid_head", grid_codes=list(world.grids)))
    shown = world.phones["hotline_1"]
    assert world.ids["hotline_1"] in ids(listing(client, head, q=shown[-4:], limit=500))
    # more digits than the masked number shows: no phone match (a probe for hidden digits)
    assert world.ids["hotline_1"] not in ids(listing(client, head, q=shown[-6:], limit=500))
    # a confidential caller is shown to nobody outside the centre: not found by number
    secret = world.phones["hotline_2"]
    assert world.ids["hotline_2"] not in ids(listing(client, head, q=secret[-4:], limit=500))
    assert world.ids["hotline_2"] in ids(listing(client, q=secret[-4:], limit=500))
    for answer in (listing(client, head, q=shown[-4:], limit=500), listing(client, head, q=world.tag)):
        text = str(answer)
        assert shown not in text and secret not in text


# -- filters -----------------------------------------------------------------------------------

FACET_OF: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "state": lambda e: e["state"],
    "stage": lambda e: e["stage"],
    "sla": lambda e: e["sla"]["status"],
    "township": lambda e: (e["grids"].get("enforcement") or {}).get("code"),
    "grid": lambda e: (e["grids"].get("community") or {}).get("code"),
    "matter_class": lambda e: "-".join(e["matter_code"].split("-")[:2]) if e["matter_code"] else None,
    "responsible": lambda e: f"{e['responsible_kind']}:{e['responsible_code'] or ''}",
    "source": lambda e: e["source"],
}


@pytest.mark.parametrize("facet", sorted(FACET_OF))
def test_every_filter_lists_the_events_with_that_value(
    client: TestClient, world: QueueWorld, facet: str
) -> None:
    events = everything(client, world)
    of = FACET_OF[facet]
    values = Counter(v for e in events if (v := of(e)) is not None)
    assert len(values) >= 2, f"the world has one {facet} only: {values}"
    for value in values:
        expected = sorted((e["id"] for e in events if of(e) == value), reverse=True)
        assert ids(listing(client, q=world.tag, **{facet: value})) == expected, (facet, value)
    # several values: any of them
    two = sorted(values)[:2]
    both = sorted((e["id"] for e in events if of(e) in two), reverse=True)
    assert ids(listing(client, q=world.tag, **{facet: two})) == both


def test_located_filter_lists_address_only_events(client: TestClient, world: QueueWorld) -> None:
    unlocated = ids(listing(client, q=world.tag, located=False))
    assert unlocated == [world.ids["address_only"]]
    located = ids(listing(client, q=world.tag, located=True))
    assert set(located) == set(world.ids.values()) - {world.ids["address_only"]}
    # the address-only event is a full row: state, SLA, responsible unit, no coordinates
    (row,) = listing(client, q=world.tag, located=False)["events"]
    assert row["lat"] is None and row["address"] and row["sla"]["status"] in {"on_time", "due_soon"}


def test_sla_filter_overdue_and_due_soon(client: TestClient, world: QueueWorld) -> None:
    assert ids(listing(client, q=world.tag, sla="overdue")) == [world.ids["hotline_3"]]
    assert ids(listing(client, q=world.tag, sla="due_soon")) == [world.ids["operator_2"]]
    # the older overdue=true filter agrees
    assert ids(listing(client, q=world.tag, overdue=True)) == [world.ids["hotline_3"]]


def test_open_and_the_older_filters_still_work(client: TestClient, world: QueueWorld) -> None:
    events = everything(client, world)
    assert set(ids(listing(client, q=world.tag, open=True))) == {e["id"] for e in events}
    kind = events[0]["responsible_kind"]
    expected = sorted((e["id"] for e in events if e["responsible_kind"] == kind), reverse=True)
    assert ids(listing(client, q=world.tag, responsible_kind=kind)) == expected
    newest = max(world.ids.values())
    assert newest not in ids(listing(client, q=world.tag, before_id=newest))


def test_filters_combine(client: TestClient, world: QueueWorld) -> None:
    events = everything(client, world)
    township = FACET_OF["township"](next(e for e in events if e["id"] == world.ids["hotline_1"]))
    expected = sorted(
        (e["id"] for e in events if FACET_OF["township"](e) == township and e["source"] == "hotline"),
        reverse=True,
    )
    assert ids(listing(client, q=world.tag, township=township, source="hotline")) == expected
    assert len(expected) == 2


# -- sort and paging ---------------------------------------------------------------------------


def test_sort_by_due_at_and_by_received_at(client: TestClient, world: QueueWorld) -> None:
    events = everything(client, world)
    by_due = listing(client, q=world.tag, sort="due_at")["events"]
    dues = [e["sla"]["due_at"] for e in by_due]
    with_due = [d for d in dues if d is not None]
    assert with_due == sorted(with_due) and dues[: len(with_due)] == with_due  # none last
    assert by_due[0]["id"] == world.ids["hotline_3"]  # the overdue case first
    by_received = ids(listing(client, q=world.tag, sort="received_at"))
    assert by_received == [
        e["id"] for e in sorted(events, key=lambda e: (e["received_at"], e["id"]), reverse=True)
    ]
    oldest_first = ids(listing(client, q=world.tag, sort="received_at", order="asc"))
    assert oldest_first == by_received[::-1]


def test_pages_reach_every_event_once(client: TestClient, world: QueueWorld) -> None:
    whole = ids(listing(client, q=world.tag, sort="due_at"))
    pages = [ids(listing(client, q=world.tag, sort="due_at", limit=4, offset=o)) for o in (0, 4, 8)]
    assert [len(p) for p in pages] == [4, 2, 0]
    assert sum(pages, []) == whole


# -- counts ------------------------------------------------------------------------------------


def test_counts_per_filter_match_the_list(client: TestClient, world: QueueWorld) -> None:
    events = everything(client, world)
    answer = listing(client, q=world.tag, counts=True)
    assert answer["total"] == len(events) == 6
    for facet, of in FACET_OF.items():
        got = {c["value"]: c["count"] for c in answer["counts"][facet]}
        assert got == dict(Counter(of(e) for e in events)), facet
    located = {c["value"]: c["count"] for c in answer["counts"]["located"]}
    assert located == {"located": 5, "unlocated": 1}
    names = {c["value"]: c["name"] for c in answer["counts"]["grid"]}
    assert all(names[g] for g in world.grids)


def test_a_filter_keeps_its_own_counts_and_narrows_the_others(client: TestClient, world: QueueWorld) -> None:
    events = everything(client, world)
    answer = listing(client, q=world.tag, source="hotline", counts=True)
    hotline = [e for e in events if e["source"] == "hotline"]
    assert answer["total"] == len(hotline) == 3
    assert {c["value"]: c["count"] for c in answer["counts"]["source"]} == dict(
        Counter(e["source"] for e in events)
    )
    assert {c["value"]: c["count"] for c in answer["counts"]["grid"]} == dict(
        Counter(FACET_OF["grid"](e) for e in hotline)
    )


# -- scope -------------------------------------------------------------------------------------


def test_a_grid_head_sees_only_its_own_grid(
    client: TestClient, world: QueueWorld, make_token: Callable[..., str]
) -> None:
    mine, other = world.grids
    head = auth(make_token("grid_head", grid_codes=[mine]))
    events = everything(client, world)
    visible = {
        e["id"]
        for e in events
        if FACET_OF["grid"](e) == mine
        or (e["responsible_kind"] == "grid_head" and e["responsible_code"] == mine)
    }
    answer = listing(client, head, q=world.tag, counts=True, limit=500)
    assert set(ids(answer)) == visible and visible
    assert answer["total"] == len(visible)
    assert {c["value"] for c in answer["counts"]["grid"]} <= {mine, None}
    # a filter for the other grid does not widen the scope
    assert ids(listing(client, head, q=world.tag, grid=other)) == []
    # the caller as the grid head is shown: masked
    assert all((e["reporter"] or {}).get("masked", True) for e in answer["events"])


def test_bad_parameters_are_422_naming_the_field(client: TestClient) -> None:
    for params, field in (
        ({"state": "lost"}, "query.state"),
        ({"stage": "lunch"}, "query.stage"),
        ({"sla": "late"}, "query.sla"),
        ({"source": "fax"}, "query.source"),
        ({"township": "x" * 101}, "query.township"),
    ):
        answer = client.get("/events", params=params)
        assert answer.status_code == 422, answer.text
        assert answer.json()["fields"][0]["field"] == field
    bad: list[dict[str, Any]] = [
        {"sort": "title"},
        {"order": "up"},
        {"limit": 0},
        {"offset": -1},
        {"q": "x" * 101},
    ]
    for params in bad:
        answer = client.get("/events", params=params)
        assert answer.status_code == 422, (params, answer.text)
        assert list(params)[0] in answer.text


# -- export ------------------------------------------------------------------------------------


def test_export_csv_lists_the_filtered_events(client: TestClient, world: QueueWorld) -> None:
    listed = listing(client, q=world.tag, sort="due_at")["events"]
    answer = client.get("/events-export", params={"q": world.tag, "sort": "due_at", "format": "csv"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    assert answer.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["编号", "工单号", "标题", "状态"]
    assert [int(r[0]) for r in rows[1:]] == [e["id"] for e in listed]
    by_id = {int(r[0]): r for r in rows[1:]}
    hotline = by_id[world.ids["hotline_1"]]
    assert hotline[1] == world.orders["hotline_1"] and world.words["hotline_1"] in hotline[2]
    assert by_id[world.ids["address_only"]][13] == "未定位"
    assert by_id[world.ids["hotline_3"]][4] == "已超时" and by_id[world.ids["hotline_3"]][5].startswith(
        "超时"
    )
    # no caller in a file
    assert not any(p in answer.text for p in world.phones.values())
    # a filter applies to the file as to the list
    one = client.get("/events-export", params={"q": world.orders["hotline_2"]})
    assert len(list(csv.reader(io.StringIO(one.content.decode("utf-8-sig"))))) == 2


def test_export_xlsx_opens_with_openpyxl(client: TestClient, world: QueueWorld) -> None:
    answer = client.get("/events-export", params={"q": world.tag, "format": "xlsx", "lang": "en"})
    assert answer.status_code == 200, answer.text
    book = load_workbook(io.BytesIO(answer.content))
    sheet = book.worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("ID", "Work order", "Title")
    assert sorted(r[0] for r in rows[1:]) == sorted(world.ids.values())
    state = client.get(f"/events/{world.ids['hotline_1']}").json()["state"]
    row = next(r for r in rows if r[0] == world.ids["hotline_1"])
    assert row[1] == world.orders["hotline_1"] and row[3] == dictionary("en")[f"state.{state}"]
    assert row[14] is not None and row[14].year >= 2024  # received_at: a real date cell


def test_export_keeps_formula_like_text_as_text(client: TestClient) -> None:
    title = f'=HYPERLINK("http://x","{uuid.uuid4().hex}")'
    created = client.post("/events", json={"title": title, "address": "某路1号"})
    assert created.status_code == 201, created.text
    event_id = created.json()["id"]
    book = load_workbook(
        io.BytesIO(client.get("/events-export", params={"q": title, "format": "xlsx"}).content)
    )
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert [(r[0], r[2]) for r in rows[1:]] == [(event_id, title)]
    text = client.get("/events-export", params={"q": title}).content.decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(text)))[1][2] == "'" + title


def test_export_too_large_is_422(client: TestClient, settings: Settings, world: QueueWorld) -> None:
    from gridsvc.app import create_app

    small = settings.model_copy(update={"export_max_rows": 2})
    with TestClient(create_app(small)) as other:
        other.headers.update(client.headers)
        answer = other.get("/events-export", params={"q": world.tag})
        assert answer.status_code == 422 and answer.json()["error"] == "export_too_large"
        assert other.get("/events-export", params={"q": world.orders["hotline_1"]}).status_code == 200
