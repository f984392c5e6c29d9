"""Photo attachments over real HTTP: type by magic bytes, size limit, storage, scope, audit."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from tests.browser.conftest import png
from tests.events_support import post_order
from tests.live_support import delegated_matter, hotline_secret, spot_in, start_server, work_order

pytestmark = pytest.mark.usefixtures("demo")
LIMIT = 100_000
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 200
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 200


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("attachments")


@pytest.fixture(scope="module")
def server(settings, demo, photo_dir):  # noqa: ARG001
    app = start_server(settings, attachments_dir=photo_dir, attachment_max_bytes=LIMIT)
    try:
        yield app
    finally:
        app.__exit__()


@pytest.fixture(scope="module")
async def event_id(server, database_url):
    import asyncpg

    db = await asyncpg.connect(database_url)
    try:
        order = work_order(await delegated_matter(db), await spot_in(db, "LI-VADUZ-02"))
        secret = await hotline_secret(db)
    finally:
        await db.close()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        answer = post_order(client, secret, order)
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


@pytest.fixture(scope="module")
def tokens(make_token):
    return {
        "head": make_token("grid_head", grid_codes=["LI-VADUZ-02"]),
        "other": make_token("grid_head", grid_codes=["LI-SCHAAN-01"]),
        "operator": make_token("operator"),
        "hotline": make_token("integration", integration="hotline-demo"),
    }


def upload(server, token, event_id, data, *, name="photo.png", mime="image/png", note=None):
    fields = {"note": note} if note else None
    return httpx.post(
        f"{server.url}/events/{event_id}/attachments",
        files={"file": (name, data, mime)},
        data=fields,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def fetch(server, token, path):
    return httpx.get(f"{server.url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_a_photo_is_stored_recorded_and_served_back(server, tokens, event_id, photo_dir):
    image = png(120, 90)
    answer = upload(server, tokens["head"], event_id, image, note="现场照片")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["mime"] == "image/png" and body["bytes"] == len(image)
    assert body["sha256"] == hashlib.sha256(image).hexdigest()
    assert body["uploaded_by"].startswith("grid_head:") and body["url"] == f"/attachments/{body['id']}"
    stored = photo_dir / body["sha256"][:2] / f"{body['sha256']}.png"
    assert stored.read_bytes() == image
    served = fetch(server, tokens["operator"], body["url"])
    assert served.status_code == 200 and served.content == image
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    event = fetch(server, tokens["operator"], f"/events/{event_id}").json()
    attach = [h for h in event["history"] if h["action"] == "attach"]
    assert attach[-1]["data"]["attachment_id"] == body["id"]
    assert attach[-1]["note"] == "现场照片" and attach[-1]["from_state"] == attach[-1]["to_state"]
    listed = fetch(server, tokens["head"], f"/events/{event_id}/attachments").json()
    assert body["id"] in [a["id"] for a in listed["attachments"]]


def test_the_type_comes_from_the_bytes_not_the_label(server, tokens, event_id):
    as_jpeg = upload(server, tokens["head"], event_id, JPEG, name="a.bin", mime="application/octet-stream")
    assert as_jpeg.status_code == 201 and as_jpeg.json()["mime"] == "image/jpeg"
    webp = upload(server, tokens["head"], event_id, WEBP, name="b.webp", mime="image/webp")
    assert webp.status_code == 201 and webp.json()["mime"] == "image/webp"
    disguised = upload(server, tokens["head"], event_id, png(8, 8), name="x.jpg", mime="image/jpeg")
    assert disguised.json()["mime"] == "image/png"
    for data, mime in (
        (b"<html><script>alert(1)</script></html>", "image/jpeg"),
        (b"GIF89a" + b"\x00" * 50, "image/gif"),
        (b"%PDF-1.7\n" + b"\x00" * 50, "image/png"),
    ):
        refused = upload(server, tokens["head"], event_id, data, mime=mime)
        assert refused.status_code == 415, refused.text
        assert refused.json()["error"] == "unsupported_media_type"
    assert upload(server, tokens["head"], event_id, b"").status_code == 422


def test_photos_over_the_limit_are_refused_with_413(server, tokens, event_id):
    just = png(8, 8)
    just += b"\x00" * (LIMIT - len(just))  # trailing bytes: still a PNG by its magic
    assert upload(server, tokens["head"], event_id, just).status_code == 201
    over = upload(server, tokens["head"], event_id, just + b"\x00")
    assert over.status_code == 413 and over.json()["error"] == "body_too_large"
    huge = upload(server, tokens["head"], event_id, just * 3)  # refused by Content-Length
    assert huge.status_code == 413


def test_the_same_photo_twice_is_kept_once_on_disk(server, tokens, event_id, photo_dir):
    image = png(33, 21, (10, 20, 30))
    first = upload(server, tokens["head"], event_id, image).json()
    second = upload(server, tokens["head"], event_id, image).json()
    assert first["id"] != second["id"] and first["sha256"] == second["sha256"]
    assert len(list((photo_dir / first["sha256"][:2]).glob(f"{first['sha256']}*"))) == 1


def test_photos_are_scoped_like_their_events(server, tokens, event_id):
    image = png(5, 5)
    assert upload(server, tokens["other"], event_id, image).status_code == 404
    made = upload(server, tokens["head"], event_id, image).json()
    assert fetch(server, tokens["other"], made["url"]).status_code == 404
    assert fetch(server, tokens["other"], f"/events/{event_id}/attachments").status_code == 404
    assert upload(server, tokens["hotline"], event_id, image).status_code == 403
    assert upload(server, tokens["operator"], 999_999_999, image).status_code == 404
    assert fetch(server, tokens["operator"], "/attachments/999999999").status_code == 404
    assert httpx.get(f"{server.url}{made['url']}").status_code == 401
