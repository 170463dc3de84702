"""Server-sent events through a real waitress server: snapshots arrive live, a dropped
stream is repaired from /api/v1/state, and streams end when the kiosk stops."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

from tests.web.conftest import wait_for
from web.stream import format_event


def read_events(resp: http.client.HTTPResponse) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (event, data) pairs from an open SSE response."""
    event, data = "", ""
    while True:
        raw = resp.fp.readline()
        if not raw:
            return
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif line == "" and event:
            yield event, json.loads(data)
            event, data = "", ""


def open_stream(port: int, audience: str = "resident") -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", f"/api/v1/events/{audience}")
    resp = conn.getresponse()
    return conn, resp


def test_format_event_lines() -> None:
    """One event: id, event and a single data line of compact UTF-8 JSON."""
    assert format_event(7, "checkpoint.state", {"phase": "idle", "名": 1}) == \
        'id: 7\nevent: checkpoint.state\ndata: {"phase":"idle","名":1}\n\n'


def test_state_changes_arrive_on_the_stream(live: Any, demo: Any) -> None:
    """GIVEN an open resident stream WHEN a card is placed THEN an identified snapshot arrives."""
    _kiosk, panel = demo
    conn, resp = open_stream(live.port)
    assert resp.status == 200
    assert resp.getheader("Content-Type").startswith("text/event-stream")
    assert resp.getheader("Cache-Control") == "no-store"       # snapshots carry personal data
    events = read_events(resp)
    panel.place_card("eligible")
    for event, data in events:
        assert event == "checkpoint.state"
        if data["phase"] == "identified":
            assert data["quota"]["remaining_fen"] == 800000
            assert "654201198503120046" not in json.dumps(data, ensure_ascii=False)
            break
    conn.close()


def test_resync_after_a_dropped_stream(live: Any, demo: Any) -> None:
    """Changes made while no stream was open are in the snapshot a reconnecting page fetches,
    and the new stream carries on from there."""
    kiosk, panel = demo
    conn, resp = open_stream(live.port)
    resp.close()                               # the screen lost its connection
    conn.close()
    panel.place_card("eligible")
    wait_for(lambda: kiosk.checkpoint.snapshot()["phase"] == "identified", "identified")
    panel.scanner.scan("4870204100013")
    state_conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=5)

    def fetched() -> Any:
        state_conn.request("GET", "/api/v1/state")
        s = json.loads(state_conn.getresponse().read())
        return s if s["lines"] else None

    snap = wait_for(fetched, "snapshot with the scanned line")
    assert snap["phase"] == "scanning" and snap["lines"][0]["code"] == "4870204100013"
    conn, resp = open_stream(live.port)
    panel.scanner.scan("4870204100013")
    for _event, data in read_events(resp):
        if data["version"] > snap["version"]:
            assert data["lines"][0]["quantity"] == 2
            break
    conn.close()
    wait_for(lambda: len(kiosk.bus._subs) <= 1, "dropped stream unsubscribed", timeout=5)


def test_ping_keeps_an_idle_stream_alive(live: Any) -> None:
    """With nothing happening, the stream sends a ping comment (SSE_PING_S is 0.5 s in tests)."""
    conn, resp = open_stream(live.port)
    lines = [resp.fp.readline() for _ in range(8)]     # raw chunked body: size lines interleave
    assert lines.count(b": ping\n") >= 1
    conn.close()


def test_unknown_audience_is_404(client: Any) -> None:
    """Only declared audiences have a stream."""
    r = client.get("/api/v1/events/everyone")
    assert r.status_code == 404 and r.get_json()["error"] == "not_found"


def test_streams_end_when_the_kiosk_stops(live: Any, demo: Any) -> None:
    """Stopping the kiosk closes the bus, so every open stream ends (no hung threads)."""
    kiosk, _panel = demo
    conn, resp = open_stream(live.port)     # headers are sent after the view subscribed
    kiosk.bus.close()
    body = resp.read()          # returns only once the server ends the chunked body (timeout 5 s)
    assert body.startswith(b"retry: 2000")
    conn.close()


def test_a_stream_opened_during_shutdown_ends_at_once(live: Any, demo: Any) -> None:
    """A screen reconnecting while the kiosk stops gets a stream that ends, so no worker thread
    outlives the server (it would write to closed sockets)."""
    kiosk, _panel = demo
    kiosk.bus.close()
    conn, resp = open_stream(live.port)
    assert resp.read().startswith(b"retry: 2000")
    conn.close()
