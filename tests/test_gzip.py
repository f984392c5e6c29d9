"""Answers are gzipped for clients that accept it (the operator's page pulls hundreds of KB of
JSON), never the live stream (a compressor buffers: updates would stall), and a client that
does not ask for gzip gets plain bytes."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.usefixtures("demo")


def test_json_is_gzipped_only_for_clients_that_take_it(client: TestClient) -> None:
    packed = client.get("/map/layers", params={"jurisdiction": "LI"}, headers={"Accept-Encoding": "gzip"})
    plain = client.get("/map/layers", params={"jurisdiction": "LI"}, headers={"Accept-Encoding": "identity"})
    assert packed.status_code == plain.status_code == 200
    assert packed.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers
    assert packed.json() == plain.json()
    listed = client.get("/events", params={"limit": 200}, headers={"Accept-Encoding": "gzip"})
    assert listed.status_code == 200
    if len(listed.content) >= 1024:  # httpx decoded it: the raw size decides
        assert listed.headers["content-encoding"] == "gzip"
        assert int(listed.headers["content-length"]) < len(listed.content)


def test_the_live_stream_is_never_gzipped(client: TestClient) -> None:
    with client.stream("GET", "/live/stream", headers={"Accept-Encoding": "gzip"}) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in stream.headers


def test_small_answers_stay_plain(client: TestClient) -> None:
    answer = client.get("/health", headers={"Accept-Encoding": "gzip"})
    assert answer.status_code == 200
    assert len(answer.content) < 1024
    assert "content-encoding" not in answer.headers
