"""Accounts and tokens: hashing, caching and revocation, login cookie, scope of the event list,
the users API and CLI, and the switch that turns auth off for local experiments."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator

import asyncpg
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gridsvc.app import create_app
from gridsvc.auth import service as auth
from gridsvc.auth.deps import require
from gridsvc.auth.models import Principal
from gridsvc.auth.scope import event_visible
from gridsvc.cli import app as cli_app
from gridsvc.clock import FrozenClock
from gridsvc.settings import Settings, get_settings
from tests.auth_support import issue_token
from tests.checks import present

pytestmark = pytest.mark.usefixtures("demo")
VADUZ = {"lat": 47.1410, "lng": 9.5209}


@pytest.fixture(scope="module")
def bare(settings: Settings) -> Iterator[TestClient]:
    """The app with no default credentials: each test says who it is."""
    with TestClient(create_app(settings)) as client:
        yield client


def as_(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def community_grid(db: asyncpg.Connection, lng: float, lat: float) -> str:
    return await db.fetchval(
        "SELECT code FROM current_grids WHERE layer = 'community' AND "
        "ST_Contains(geom, ST_SetSRID(ST_MakePoint($1, $2), 4326))",
        lng,
        lat,
    )


# -- tokens ------------------------------------------------------------------------------


async def test_tokens_are_stored_as_hashes_and_shown_once(db: asyncpg.Connection) -> None:
    name = f"hash-{uuid.uuid4().hex[:6]}"
    await auth.create_user(db, name=name, role="operator", display_name="值班员")
    token = await auth.issue_token(db, user_name=name, label="desk 1")
    assert token.startswith("gs_") and len(token) >= 40
    row = await db.fetchrow(
        "SELECT t.* FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE u.name = $1", name
    )
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert row["token_prefix"] == token[:8] and row["label"] == "desk 1"
    dump = " ".join(str(v) for r in await db.fetch("SELECT * FROM api_tokens") for v in r.values())
    assert token not in dump and token[8:20] not in dump


async def test_last_used_is_written_at_most_once_a_minute(db: asyncpg.Connection) -> None:
    name = f"used-{uuid.uuid4().hex[:6]}"
    await auth.create_user(db, name=name, role="operator")
    token = await auth.issue_token(db, user_name=name)
    query = "SELECT last_used_at FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE u.name = $1"
    assert await db.fetchval(query, name) is None
    assert present(await auth.principal_for_token(db, token)).name == name
    first = await db.fetchval(query, name)
    assert first is not None
    auth.forget_cached()  # a new lookup, within the minute: no write
    await auth.principal_for_token(db, token)
    assert await db.fetchval(query, name) == first
    await db.execute(
        "UPDATE api_tokens SET last_used_at = now() - interval '2 minutes' "
        "WHERE user_id = (SELECT id FROM users WHERE name = $1)",
        name,
    )
    auth.forget_cached()
    await auth.principal_for_token(db, token)
    assert await db.fetchval(query, name) > first


async def test_revocation_elsewhere_bites_within_five_seconds(db: asyncpg.Connection) -> None:
    name = f"revoke-{uuid.uuid4().hex[:6]}"
    await auth.create_user(db, name=name, role="operator")
    token = await auth.issue_token(db, user_name=name)
    clock = FrozenClock()
    assert await auth.principal_for_token(db, token, clock=clock) is not None
    # Revoked by another process (plain SQL): this process still has the answer cached ...
    await db.execute("UPDATE api_tokens SET revoked_at = now() WHERE token_hash = $1", auth.hash_token(token))
    clock.advance(seconds=auth.TOKEN_CACHE_SECONDS - 0.1)
    assert await auth.principal_for_token(db, token, clock=clock) is not None
    # ... for at most TOKEN_CACHE_SECONDS.
    clock.advance(seconds=0.2)
    assert await auth.principal_for_token(db, token, clock=clock) is None


async def test_revoke_by_prefix_or_token_and_disable(db: asyncpg.Connection) -> None:
    name = f"prefix-{uuid.uuid4().hex[:6]}"
    await auth.create_user(
        db, name=name, role="squad", squad_code=await db.fetchval("SELECT code FROM squads LIMIT 1")
    )
    first = await auth.issue_token(db, user_name=name)
    second = await auth.issue_token(db, user_name=name)
    assert await auth.principal_for_token(db, first) is not None
    revoked = present(await auth.revoke_token(db, token=first[:8]))
    assert revoked["user"] == name and revoked["revoked_at"] is not None
    assert await auth.principal_for_token(db, first) is None  # this process: at once
    assert await auth.revoke_token(db, token=first[:8]) is None  # no live token left there
    assert present(await auth.revoke_token(db, token=second))["token_prefix"] == second[:8]
    third = await auth.issue_token(db, user_name=name)
    await auth.set_disabled(db, name=name)
    assert await auth.principal_for_token(db, third) is None
    await auth.set_disabled(db, name=name, disabled=False)
    assert present(await auth.principal_for_token(db, third)).role == "squad"
    assert await auth.principal_for_token(db, "gs_" + "x" * 43) is None
    assert await auth.principal_for_token(db, "not-ours") is None


async def test_an_account_whose_squad_is_gone_is_refused(bare: TestClient, db: asyncpg.Connection) -> None:
    admin = issue_token(bare.app.state.settings.database_url, "admin")  # type: ignore[attr-defined]
    squad = bare.post(
        "/squads",
        headers=as_(admin),
        json={
            "code": f"SQ-GONE-{uuid.uuid4().hex[:6]}",
            "name": "short-lived",
            "station": {"lat": VADUZ["lat"], "lng": VADUZ["lng"]},
        },
    ).json()
    name = f"gone-{uuid.uuid4().hex[:6]}"
    await auth.create_user(db, name=name, role="squad", squad_code=squad["code"])
    token = await auth.issue_token(db, user_name=name)
    assert bare.get("/me", headers=as_(token)).json()["squad_id"] == squad["id"]
    assert bare.delete(f"/squads/{squad['id']}", headers=as_(admin)).status_code == 204
    auth.forget_cached()
    assert await db.fetchval("SELECT squad_id FROM users WHERE name = $1", name) is None
    assert bare.get("/me", headers=as_(token)).status_code == 401


# -- HTTP --------------------------------------------------------------------------------


def test_401_names_what_is_wrong_and_challenges(bare: TestClient) -> None:
    missing = bare.get("/events")
    assert missing.status_code == 401 and missing.json()["error"] == "unauthenticated"
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = bare.get("/events", headers=as_("gs_" + "A" * 43))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_token"


def test_access_is_decided_before_the_body_is_read(bare: TestClient, make_token) -> None:
    garbage = {"code": 7}
    assert bare.post("/squads", json=garbage).status_code == 401
    assert bare.post("/squads", json=garbage, headers=as_(make_token("operator"))).status_code == 403
    assert bare.post("/squads", json=garbage, headers=as_(make_token("admin"))).status_code == 422


def test_a_route_without_a_rule_is_closed_to_everyone(settings: Settings, make_token) -> None:
    app = create_app(settings)

    @app.get("/unruled")
    async def unruled() -> dict[str, bool]:
        return {"open": True}

    with TestClient(app) as client:
        response = client.get("/unruled", headers=as_(make_token("admin")))
    assert response.status_code == 403 and "no access rule" in response.json()["message"]
    with pytest.raises(ValueError, match="unknown roles"):
        require("admin", "superuser")


def test_login_cookie_me_and_logout(bare: TestClient, make_token, db) -> None:
    page = bare.get("/login?next=/ops")
    assert page.status_code == 200 and "访问令牌" in page.text and "Access token" in page.text
    assert 'value="/ops"' in page.text
    operator = make_token("operator")
    bad = bare.post("/login", data={"token": "gs_nonsense"}, follow_redirects=False)
    assert bad.status_code == 401 and "令牌无效" in bad.text and "gridsvc_token" not in bad.cookies
    response = bare.post("/login", data={"token": operator}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/ops"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"gridsvc_token={operator}")
    for attribute in ("HttpOnly", "SameSite=strict", "Path=/"):
        assert attribute.lower() in cookie.lower(), cookie
    me = bare.get("/me")  # the cookie alone
    assert me.status_code == 200 and me.json()["role"] == "operator"
    assert me.json()["actor"] == f"operator:{me.json()['name']}"
    out = bare.post("/logout", follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    bare.cookies.clear()
    assert bare.get("/me").status_code == 401
    for target, landing in (
        ("/inbox?tab=mine", "/inbox?tab=mine"),
        ("//evil.example", "/ops"),
        ("https://evil.example/", "/ops"),
    ):
        moved = bare.post("/login", data={"token": operator, "next": target}, follow_redirects=False)
        assert moved.headers["location"] == landing
    bare.cookies.clear()


async def test_field_roles_land_in_the_inbox(bare: TestClient, make_token, db) -> None:
    grid = await community_grid(db, VADUZ["lng"], VADUZ["lat"])
    token = make_token("grid_head", grid_codes=[grid])
    response = bare.post("/login", json={"token": token}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/inbox"
    bare.cookies.clear()


async def test_event_list_is_the_visible_set_and_actions_are_recorded_by_name(
    client: TestClient, bare: TestClient, make_token, db
) -> None:
    grid = await community_grid(db, VADUZ["lng"], VADUZ["lat"])
    matter = await db.fetchval(
        "SELECT code FROM matters WHERE owner_department = "
        "'urban_management' AND kind = 'event' AND NOT auto_dispatch AND NOT auto_merge "
        "ORDER BY code LIMIT 1"
    )
    squad_id, squad_code = await db.fetchrow("SELECT id, code FROM squads WHERE code = 'SQ-LI-VADUZ'")
    # The spot furthest from any open event of the grid (none within 400 m ranks first), so
    # no 并单 candidate can touch the new event whatever other modules left in Vaduz.
    spot = await db.fetchrow(
        "SELECT ST_X(p) AS lng, ST_Y(p) AS lat FROM (SELECT (ST_Dump(ST_GeneratePoints(geom, "
        "300))).geom AS p FROM current_grids WHERE layer = 'community' AND code = $1) s ORDER BY "
        "(SELECT min(ST_Distance(e.geom::geography, s.p::geography)) FROM events e WHERE "
        "e.state <> 'closed' AND ST_DWithin(e.geom::geography, s.p::geography, 400)) DESC NULLS FIRST "
        "LIMIT 1",
        grid,
    )
    created = client.post(
        "/events", json={"title": "占道", "matter_code": matter, "location": dict(spot)}
    ).json()
    client.post(f"/events/{created['id']}/actions/dispatch", json={"squad_id": squad_id})
    elsewhere = client.post(
        "/events", json={"title": "占道", "matter_code": matter, "location": {"lng": 9.5225, "lat": 47.2110}}
    ).json()
    client.post(f"/events/{elsewhere['id']}/actions/dispatch", json={})  # Eschen's own squad
    head = make_token("grid_head", grid_codes=[grid])
    crew = make_token("squad", squad_code=squad_code)
    rows = [
        dict(r)
        for r in await db.fetch(
            "SELECT id, grids, squad_id, integration_id, responsible_kind, responsible_code FROM events"
        )
    ]
    for token in (head, crew):
        who = bare.get("/me", headers=as_(token)).json()
        principal = Principal(
            user_id=0,
            name=who["name"],
            role=who["role"],
            grid_codes=tuple(who["grid_codes"]),
            squad_id=who["squad_id"],
        )
        listed = {
            e["id"] for e in bare.get("/events", params={"limit": 500}, headers=as_(token)).json()["events"]
        }
        expected = {r["id"] for r in rows if event_visible(principal, r)}
        assert created["id"] in listed and elsewhere["id"] not in listed
        assert listed == set(sorted(expected)[-500:])
    signed = bare.post(f"/events/{created['id']}/actions/sign_for", headers=as_(crew))
    assert signed.status_code == 200, signed.text
    crew_name = bare.get("/me", headers=as_(crew)).json()["name"]
    assert signed.json()["history"][-1]["actor"] == f"squad:{crew_name}"


def test_grid_head_sees_events_routed_to_it_as_grid_head() -> None:
    head = Principal(user_id=1, name="h", role="grid_head", grid_codes=("G1",))
    assert event_visible(head, {"grids": {"community": {"code": "G1"}}})
    assert event_visible(head, {"grids": {}, "responsible_kind": "grid_head", "responsible_code": "G1"})
    assert not event_visible(
        head, {"grids": {"community": {"code": "G2"}}, "responsible_kind": "squad", "responsible_code": "G1"}
    )
    crew = Principal(user_id=2, name="s", role="squad", squad_id=None)
    assert not event_visible(crew, {"squad_id": None})  # no squad: sees nothing


# -- users API and CLI -------------------------------------------------------------------


def test_users_api(client: TestClient, bare: TestClient) -> None:
    name = f"api-head-{uuid.uuid4().hex[:6]}"
    refused = client.post("/users", json={"name": name, "role": "grid_head"})
    assert refused.status_code == 422 and "needs grid codes" in refused.json()["message"]
    unknown = client.post("/users", json={"name": name, "role": "grid_head", "grid_codes": ["NO-SUCH-GRID"]})
    assert unknown.status_code == 422 and "NO-SUCH-GRID" in unknown.json()["message"]
    assert (
        client.post(
            "/users", json={"name": name, "role": "operator", "squad_code": "SQ-LI-VADUZ"}
        ).status_code
        == 422
    )
    created = client.post(
        "/users", json={"name": name, "role": "operator", "display_name": "夜班", "token_label": "phone"}
    )
    assert created.status_code == 201, created.text
    first = created.json()["token"]
    assert created.json()["user"]["tokens"][0]["token_prefix"] == first["token"][:8]
    assert client.post("/users", json={"name": name, "role": "operator"}).status_code == 409
    second = client.post(f"/users/{name}/tokens", json={"label": "tablet"}).json()
    assert client.post("/users/nobody-here/tokens").status_code == 404
    listed = next(u for u in client.get("/users").json() if u["name"] == name)
    assert [t["label"] for t in listed["tokens"]] == ["phone", "tablet"]
    assert "token_hash" not in str(listed) and first["token"] not in str(listed)
    assert bare.get("/me", headers=as_(second["token"])).status_code == 200
    assert client.delete(f"/tokens/{second['id']}").json()["revoked_at"] is not None
    assert bare.get("/me", headers=as_(second["token"])).status_code == 401  # at once here
    assert client.delete("/tokens/999999999").status_code == 404


def test_users_cli(database_url: str, monkeypatch: pytest.MonkeyPatch, bare: TestClient) -> None:
    monkeypatch.setenv("GRIDSVC_DATABASE_URL", database_url)
    get_settings.cache_clear()
    runner = CliRunner()
    name = f"cli-squad-{uuid.uuid4().hex[:6]}"
    try:
        added = runner.invoke(
            cli_app,
            [
                "users",
                "add",
                name,
                "--role",
                "squad",
                "--squad",
                "SQ-LI-SCHAAN",
                "--webhook-url",
                "https://im.example/x",
            ],
        )
        assert added.exit_code == 0, added.output
        token = added.stdout.split("token: ")[1].split()[0]
        me = bare.get("/me", headers=as_(token)).json()
        assert me["role"] == "squad" and me["webhook_url"] == "https://im.example/x"
        again = runner.invoke(cli_app, ["users", "token", name, "--label", "spare"])
        spare = again.stdout.strip().rsplit(" ", 1)[1]
        listed = runner.invoke(cli_app, ["users", "list"])
        assert name in listed.stdout and "squad SQ-LI-SCHAAN" in listed.stdout
        assert token[:8] in listed.stdout and "spare" in listed.stdout
        revoked = runner.invoke(cli_app, ["users", "revoke", token[:8]])
        assert revoked.exit_code == 0 and "revoked" in revoked.stdout
        auth.forget_cached()  # the CLI is another process in real life; here: same cache
        assert bare.get("/me", headers=as_(token)).status_code == 401
        assert bare.get("/me", headers=as_(spare)).status_code == 200
        assert runner.invoke(cli_app, ["users", "disable", name]).exit_code == 0
        auth.forget_cached()
        assert bare.get("/me", headers=as_(spare)).status_code == 401
        bad = runner.invoke(cli_app, ["users", "add", f"x{name}", "--role", "admin", "--grid", "LI-VADUZ-01"])
        assert bad.exit_code == 2 and "takes no grid codes" in bad.output
        assert runner.invoke(cli_app, ["users", "revoke", "gs_nothing"]).exit_code == 2
    finally:
        get_settings.cache_clear()


# -- switches ----------------------------------------------------------------------------


def test_auth_off_opens_everything_and_takes_the_actor_from_x_actor(settings: Settings) -> None:
    open_settings = settings.model_copy(update={"auth_enabled": False})
    with TestClient(create_app(open_settings)) as client:
        assert client.get("/users").status_code == 200
        created = client.post(
            "/events", headers={"X-Actor": "local-tester"}, json={"title": "试验", "address": "somewhere"}
        )
        assert created.status_code == 201
        event = client.get(f"/events/{created.json()['id']}").json()
        assert event["history"][0]["actor"] == "local-tester"
        assert client.get("/me").json()["auth_enabled"] is False


def test_metrics_can_be_closed(settings: Settings, make_token) -> None:
    closed = settings.model_copy(update={"metrics_public": False})
    with TestClient(create_app(closed)) as client:
        assert client.get("/metrics").status_code == 401
        assert (
            client.get("/metrics", headers=as_(make_token("squad", squad_code="SQ-LI-VADUZ"))).status_code
            == 403
        )
        assert client.get("/metrics", headers=as_(make_token("operator"))).status_code == 200
        assert client.get("/health").status_code == 200
