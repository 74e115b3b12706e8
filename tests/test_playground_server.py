"""The playground server through Starlette's TestClient (no browser): the page and its assets,
the WebSocket protocol, hostile messages, exports, session limits and idle sessions, and the
``gradwise playground`` command's parser."""

from __future__ import annotations

import json
import threading
import time
import tomllib
import warnings
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

with warnings.catch_warnings():  # Starlette 1.x prefers httpx2 but still uses httpx
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient  # noqa: E402

from gradwise.cli import build_parser  # noqa: E402
from gradwise.playground.server import STATIC, create_app  # noqa: E402

LOCAL = "http://localhost"  # the Host the server answers (TestClient's default is refused)
WS = "ws://localhost/ws"


def _until(ws: Any, pred: Any, limit: int = 500) -> dict[str, Any]:
    for _ in range(limit):
        msg = ws.receive_json()
        if pred(msg):
            return msg
    raise AssertionError("message not received")


def _open(ws: Any) -> str:
    hello = ws.receive_json()
    assert hello["type"] == "hello" and hello["defaults"]["limits"]["max_neurons"] == 8
    assert ws.receive_json()["type"] == "data"
    first = ws.receive_json()
    assert first["type"] == "state" and first["epoch"] == 0
    return str(hello["session"])


def test_page_assets_and_defaults() -> None:
    with TestClient(create_app(), base_url=LOCAL) as client:
        if (STATIC / "index.html").exists():
            page = client.get("/")
            assert page.status_code == 200 and "text/html" in page.headers["content-type"]
            for asset in sorted(STATIC.glob("*.js"))[:3]:
                assert client.get(f"/static/{asset.name}").status_code == 200
        d = client.get("/api/defaults").json()
        assert d["settings"]["hidden"] == [4, 4] and "adamw" in d["choices"]["optimizers"]
        assert client.get("/static/../session.py").status_code == 404


def test_play_pause_step_and_exports() -> None:
    with TestClient(create_app(), base_url=LOCAL) as client, client.websocket_connect(WS) as ws:
        sid = _open(ws)
        ws.send_text('{"type": "play"}')
        st = _until(ws, lambda m: m["type"] == "state" and m["epoch"] >= 5)
        assert st["playing"] and st["history_append"]["epoch"] == [st["epoch"]]
        ws.send_text('{"type": "pause"}')
        paused = _until(ws, lambda m: m["type"] == "state" and not m["playing"])
        ws.send_text('{"type": "step"}')
        stepped = _until(ws, lambda m: m["type"] == "state" and m["epoch"] > paused["epoch"])
        assert stepped["epoch"] == paused["epoch"] + 1 and not stepped["playing"]
        cfg = client.get(f"/export/{sid}/config.toml")
        assert cfg.status_code == 200 and "attachment" in cfg.headers["content-disposition"]
        assert tomllib.loads(cfg.text)["training"]["epochs"] == stepped["epoch"]
        model = client.get(f"/export/{sid}/model.safetensors")
        assert model.status_code == 200 and len(model.content) > 100
        assert client.get(f"/export/{sid}/points.csv").status_code == 404
        assert client.get(f"/export/{sid}/secrets.txt").status_code == 404
        ws.send_text('{"type": "reset"}')
        assert _until(ws, lambda m: m["type"] == "state")["epoch"] == 0
    with TestClient(create_app(), base_url=LOCAL) as client:
        assert client.get(f"/export/{sid}/config.toml").status_code == 404


def test_settings_change_rebuilds_and_hostile_messages_keep_the_connection() -> None:
    with TestClient(create_app(), base_url=LOCAL) as client, client.websocket_connect(WS) as ws:
        _open(ws)
        for raw in ["{nope", json.dumps({"type": "settings", "settings": {"hidden": [10**6]}}),
                    json.dumps({"type": "settings", "settings": {"unknown": 1}}),
                    json.dumps({"type": "upload", "name": "x.csv", "content": "a" * 1_100_000}),
                    "x" * 2_000_000]:
            ws.send_text(raw)
            err = _until(ws, lambda m: m["type"] in ("error", "settings"))
            assert err["type"] == "error" and "\n" not in err["message"]
        ws.send_text(json.dumps({"type": "settings", "settings": {"hidden": [2, 3, 1],
                                                                  "dataset": "xor"}}))
        assert _until(ws, lambda m: m["type"] == "settings")["settings"]["dataset"] == "xor"
        assert _until(ws, lambda m: m["type"] == "data")["problem"] == "classification"
        st = _until(ws, lambda m: m["type"] == "state")
        assert st["network"]["layers"] == [2, 2, 3, 1, 1] and st["epoch"] == 0
        ws.send_text('{"type": "ping"}')
        assert _until(ws, lambda m: m["type"] == "pong") == {"type": "pong"}


def test_session_limit_and_idle_sessions_are_freed() -> None:
    app = create_app(max_sessions=1, idle_seconds=1.0)
    with TestClient(app, base_url=LOCAL) as client:
        with client.websocket_connect(WS) as ws:
            _open(ws)
            assert len(app.state.registry.sessions) == 1
            with client.websocket_connect(WS) as other:
                assert "already runs 1 sessions" in other.receive_json()["message"]
            msg = _until(ws, lambda m: m["type"] == "error")
            assert "without a message" in msg["message"]
        end = time.monotonic() + 10  # the slot is freed once the session's work has stopped
        while app.state.registry.sessions and time.monotonic() < end:
            time.sleep(0.02)
        assert app.state.registry.sessions == {}


def test_cli_registers_the_playground() -> None:
    args = build_parser().parse_args(["playground", "--port", "8123", "--no-browser"])
    assert (args.host, args.port, args.no_browser) == ("127.0.0.1", 8123, True)


def test_message_flood_is_refused_without_touching_the_session() -> None:
    with TestClient(create_app(messages_per_second=3), base_url=LOCAL) as client, \
            client.websocket_connect(WS) as ws:
        _open(ws)
        for _ in range(40):
            ws.send_text('{"type": "ping"}')
        err = _until(ws, lambda m: m["type"] == "error")
        assert "too many messages" in err["message"]


# --- issue 23: the server answers only its own address; work ends with its client -----------------

@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example"])
def test_foreign_host_is_refused_over_http_and_websocket(host: str) -> None:
    """DNS rebinding: a page of evil.example whose name now points at 127.0.0.1 sends
    ``Host: evil.example``; the server answers 403 and opens no session."""
    app = create_app()
    with TestClient(app, base_url="http://localhost") as client:
        r = client.get("/api/defaults", headers={"host": host})
        assert r.status_code == 403 and "forbidden host" in r.text
        assert client.get("/", headers={"host": host}).status_code == 403
        with pytest.raises(Exception) as info:  # noqa: PT011 (denial or close, by version)
            with client.websocket_connect(WS, headers={"host": host}) as ws:
                ws.receive_json()
        assert "403" in repr(info.value) or "1008" in repr(info.value)
        assert app.state.registry.sessions == {}


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://localhost:9999",
                                    "http://1.2.3.4"])
def test_foreign_origin_is_refused(origin: str) -> None:
    app = create_app()
    with TestClient(app, base_url="http://localhost:8000") as client:
        with pytest.raises(Exception) as info:  # noqa: PT011
            with client.websocket_connect("ws://localhost:8000/ws",
                                          headers={"origin": origin}) as ws:
                ws.receive_json()
        assert "403" in repr(info.value) or "1008" in repr(info.value)
        assert app.state.registry.sessions == {}


@pytest.mark.parametrize("base, origin", [("http://localhost:8000", "http://localhost:8000"),
                                          ("http://127.0.0.1:8123", "http://127.0.0.1:8123"),
                                          ("http://[::1]:8000", "http://[::1]:8000"),
                                          ("http://localhost:8000", None)])
def test_the_real_page_is_allowed(base: str, origin: str | None) -> None:
    headers = {} if origin is None else {"origin": origin}
    with TestClient(create_app(), base_url=base) as client:
        assert client.get("/api/defaults").status_code == 200
        with client.websocket_connect(base.replace("http", "ws") + "/ws", headers=headers) as ws:
            _open(ws)


def test_the_port_is_checked_when_the_server_knows_it() -> None:
    with TestClient(create_app(port=8123), base_url="http://127.0.0.1:8123") as client:
        assert client.get("/api/defaults").status_code == 200
        assert client.get("/api/defaults", headers={"host": "127.0.0.1:9"}).status_code == 403


def test_a_leaving_client_takes_its_work_with_it() -> None:
    """Queued landscapes are bounded, and a client's work ends before its slot is given to
    another: the training threads never outnumber the session cap."""
    app = create_app(max_sessions=1)
    with TestClient(app, base_url=LOCAL) as client:
        with client.websocket_connect(WS) as ws:
            _open(ws)
            for _ in range(5):
                ws.send_text(json.dumps({"type": "landscape", "dims": 2, "resolution": 41}))
            busy = _until(ws, lambda m: m["type"] == "error")
            assert busy["message"].startswith("busy:")
        end = time.monotonic() + 15
        while True:
            with client.websocket_connect(WS) as ws:
                first = ws.receive_json()
                if first["type"] == "hello":
                    alive = [t for t in threading.enumerate()
                             if t.name == "playground-session" and t.is_alive()]
                    assert len(alive) <= 1
                    break
                assert "already runs" in first["message"] and time.monotonic() < end
            time.sleep(0.05)


def test_live_change_edit_and_backprop_over_the_websocket() -> None:
    """The v2 messages end to end: a live learning-rate change and a weight edit become
    [[changes]] in the exported config; a backprop step answers without training."""
    with TestClient(create_app(), base_url=LOCAL) as client, client.websocket_connect(WS) as ws:
        sid = _open(ws)
        ws.send_text('{"type": "step"}')
        _until(ws, lambda m: m["type"] == "state" and m["epoch"] == 1)
        ws.send_text(json.dumps({"type": "settings", "settings": {"learning_rate": 0.01}}))
        reply = _until(ws, lambda m: m["type"] == "settings")
        assert reply["applied"] == "live" and reply["settings"]["learning_rate"] == 0.01
        ws.send_text(json.dumps({"type": "edit", "layer": 1, "from": 0, "to": 1, "value": 0.5}))
        edited = _until(ws, lambda m: m["type"] == "state" and m["changes"] == 2)
        assert edited["network"]["weights"][1][0][1] == 0.5 and edited["epoch"] == 1
        ws.send_text('{"type": "backprop"}')
        bp = _until(ws, lambda m: m["type"] == "backprop")
        assert bp["epoch"] == 1 and len(bp["grads"]["weights"]) == 3
        ws.send_text('{"type": "step"}')
        st = _until(ws, lambda m: m["type"] == "state" and m["epoch"] == 2)
        assert st["lr"] == 0.01 and st["train_loss"] is not None
        cfg = tomllib.loads(client.get(f"/export/{sid}/config.toml").text)
        assert cfg["training"]["epochs"] == 2
        assert cfg["changes"] == [
            {"epoch": 1, "set": {"optimizer.lr": 0.01}},
            {"epoch": 1, "weights": [{"name": "1.weight", "index": [0, 1], "value": 0.5}]}]
