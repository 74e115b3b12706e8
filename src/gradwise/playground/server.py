"""The playground's web server: a Starlette application on uvicorn that serves the page from the
package and streams each tab's :class:`~gradwise.playground.session.Session` over a WebSocket
(``PROTOCOL.md``). Training runs in each session's own thread and messages are handled in a
thread pool, so the event loop only moves bytes and sessions do not block one another.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ipaddress
import json
import socket
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from .session import LIMITS, Session, SettingsError, defaults

__all__ = ["MAX_SESSIONS", "STATIC", "create_app", "serve"]

STATIC = Path(__file__).parent / "static"
MAX_SESSIONS = 16
# Frames larger than this close the connection (code 1009) before they are read into memory;
# below it, Session.handle answers messages over LIMITS["message_bytes"] with an error.
WS_MAX_SIZE = 4 * 1024 * 1024


def _split_host(value: str) -> tuple[str, int | None] | None:
    """``(hostname, port)`` of a ``Host`` header or an origin's authority (``host``,
    ``host:port``, ``[v6]:port``), lower case; None when it does not parse."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        name, rest = value[1:end], value[end + 1:]
        if rest and not rest.startswith(":"):
            return None
        port_text = rest[1:] if rest else ""
    else:
        name, _, port_text = value.partition(":")
    if not name or (port_text and not port_text.isdigit()):
        return None
    return name, int(port_text) if port_text else None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class AddressCheck:
    """Which ``Host`` and ``Origin`` the server answers (against DNS rebinding and cross-site
    WebSockets). A host is its own when its name is ``localhost``, this machine's name, the
    address the server was started with, one of ``allowed_hosts``, or an IP address literal
    (a rebinding attack needs a domain name), with the server's ``port`` when known. A
    WebSocket ``Origin``, when present, must be the page's own origin: ``http(s)://`` + the
    request's (allowed) Host."""

    def __init__(self, host: str | None = None, port: int | None = None,
                 allowed_hosts: Iterable[str] = ()) -> None:
        names = {"localhost", "localhost.localdomain"}
        with contextlib.suppress(OSError):
            names.update({socket.gethostname().lower(), socket.getfqdn().lower()})
        if host:
            names.add(host.strip("[]").lower())
        names.update(h.lower() for h in allowed_hosts)
        self.names, self.port = names, port

    def host_ok(self, host: str) -> bool:
        parsed = _split_host(host)
        if parsed is None:
            return False
        name, port = parsed
        if name not in self.names and not _is_ip(name):
            return False
        return self.port is None or (port if port is not None else 80) == self.port

    def origin_ok(self, origin: str, host: str) -> bool:
        scheme, sep, authority = origin.strip().lower().partition("://")
        authority = authority.rstrip("/")
        if not sep or scheme not in ("http", "https") or "/" in authority:
            return False
        a, b = _split_host(authority), _split_host(host)
        if a is None or b is None:
            return False
        default = 443 if scheme == "https" else 80
        return (a[0], a[1] or default) == (b[0], b[1] or default)

    def describe(self) -> str:
        names = ", ".join(sorted(self.names))
        port = "" if self.port is None else f" on port {self.port}"
        return f"{names} or an IP address{port}"


class CheckAddress:
    """ASGI middleware: refuse (403, one line) any HTTP request or WebSocket handshake whose
    ``Host`` is not the server's own, and any WebSocket handshake from another ``Origin``."""

    def __init__(self, app: Any, check: AddressCheck) -> None:
        self.app, self.check = app, check

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        reason = None
        if not self.check.host_ok(host):
            reason = (f"forbidden host {host[:80]!r}: this server answers only "
                      f"{self.check.describe()}")
        elif scope["type"] == "websocket" and "origin" in headers \
                and not self.check.origin_ok(headers["origin"], host):
            reason = (f"forbidden origin {headers['origin'][:80]!r}: only this server's own "
                      "page may open a session")
        if reason is None:
            await self.app(scope, receive, send)
            return
        response = PlainTextResponse(reason, status_code=403)
        if scope["type"] == "http":
            await response(scope, receive, send)
            return
        await receive()  # websocket.connect
        if "websocket.http.response" in scope.get("extensions", {}):
            await response(scope, receive, send)  # Starlette prefixes "websocket." itself
        else:
            await send({"type": "websocket.close", "code": 1008, "reason": reason[:120]})


class Registry:
    """The live sessions by id (at most ``max_sessions``)."""

    def __init__(self, max_sessions: int = MAX_SESSIONS) -> None:
        self.max_sessions = max_sessions
        self.sessions: dict[str, Session] = {}
        self.lock = threading.Lock()

    def add(self, session: Session) -> bool:
        with self.lock:
            if len(self.sessions) >= self.max_sessions:
                return False
            self.sessions[session.id] = session
            return True

    def get(self, sid: str) -> Session | None:
        with self.lock:
            return self.sessions.get(sid)

    def remove(self, session: Session) -> None:
        with self.lock:
            self.sessions.pop(session.id, None)


def create_app(max_sessions: int = MAX_SESSIONS, idle_seconds: float | None = None,
               messages_per_second: int | None = None, host: str | None = None,
               port: int | None = None, allowed_hosts: Iterable[str] = ()) -> Starlette:
    """The ASGI application. A session lives as long as its WebSocket; one that sends nothing
    for ``idle_seconds`` (default ``LIMITS["idle_seconds"]``) is closed and freed. Messages
    beyond ``messages_per_second`` (default ``LIMITS["messages_per_second"]``) within one
    second are answered with an error and ignored. Requests are answered only for the
    server's own addresses (:class:`AddressCheck` of ``host``, ``port``, ``allowed_hosts``)."""
    registry = Registry(max_sessions)
    rate = int(LIMITS["messages_per_second"] if messages_per_second is None
               else messages_per_second)
    pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="playground-handle")
    idle = float(LIMITS["idle_seconds"] if idle_seconds is None else idle_seconds)
    idle_playing = idle * LIMITS["idle_seconds_playing"] / LIMITS["idle_seconds"]

    async def index(request: Any) -> Response:
        page = STATIC / "index.html"
        if not page.exists():
            return PlainTextResponse("the playground page is missing from this installation",
                                     status_code=500)
        return FileResponse(page)

    async def api_defaults(request: Any) -> Response:
        return JSONResponse(defaults())

    async def export(request: Any) -> Response:
        sid, what = request.path_params["sid"], request.path_params["what"]
        session = registry.get(sid)
        if session is None:
            return PlainTextResponse(f"no session {sid[:40]!r} (closed or never opened)",
                                     status_code=404)
        loop = asyncio.get_running_loop()
        try:
            if what == "config.toml":
                body: bytes = (await loop.run_in_executor(pool, session.export_config)).encode()
                kind = "application/toml"
            elif what == "model.safetensors":
                body = await loop.run_in_executor(pool, session.export_model)
                kind = "application/octet-stream"
            elif what == "points.csv":
                text = session.export_points()
                if text is None:
                    return PlainTextResponse("this session has no uploaded points",
                                             status_code=404)
                body, kind = text.encode(), "text/csv"
            else:
                return PlainTextResponse(f"unknown export {what[:40]!r}: config.toml, "
                                         "model.safetensors or points.csv", status_code=404)
        except (SettingsError, TimeoutError) as exc:
            return PlainTextResponse(f"export failed: {exc}", status_code=409)
        return Response(body, media_type=kind,
                        headers={"Content-Disposition": f'attachment; filename="{what}"'})

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        loop = asyncio.get_running_loop()
        out: asyncio.Queue[tuple[str, bool] | None] = asyncio.Queue()

        def emit(msg: dict[str, Any]) -> None:
            # Encoded in the calling thread (the session's worker), so the event loop only
            # moves bytes.
            item = (json.dumps(msg, allow_nan=False), msg.get("type") == "state")
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
                loop.call_soon_threadsafe(out.put_nowait, item)

        session = Session(emit, flow_control=True)
        if not registry.add(session):
            await websocket.send_text(json.dumps({
                "type": "error", "message": f"the server already runs {registry.max_sessions} "
                "sessions; close another tab and reload"}))
            await websocket.close(code=1013)
            return

        async def sender() -> None:
            while True:
                item = await out.get()
                if item is None:
                    return
                await websocket.send_text(item[0])
                if item[1]:
                    session.delivered()

        send_task = asyncio.create_task(sender())
        recent: collections.deque[float] = collections.deque()
        try:
            await loop.run_in_executor(pool, session.start)
            while True:
                try:
                    message = await asyncio.wait_for(websocket.receive(), timeout=idle)
                except TimeoutError:
                    quiet = time.monotonic() - session.last_active
                    if session.playing and quiet < idle_playing:
                        continue  # someone may be watching it train
                    emit({"type": "error", "message": f"session closed after {quiet:.0f} s "
                          "without a message; reload the page"})
                    break
                if message["type"] == "websocket.disconnect":
                    break
                raw = message.get("text")
                if raw is None:
                    raw = message.get("bytes") or b""
                now = time.monotonic()
                while recent and now - recent[0] > 1.0:
                    recent.popleft()
                if len(recent) >= rate:
                    emit({"type": "error", "message": f"too many messages (at most {rate} "
                          "per second); this one was ignored"})
                    continue
                recent.append(now)
                await loop.run_in_executor(pool, session.handle, raw)
                if send_task.done():
                    break
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            # Its work stops first (queued work dropped, a running landscape at its next
            # row); only then is the slot free, so no session's work outlives the cap.
            # The handler may be cancelled here (the client left): the slot is freed by the
            # close itself when it is done, whatever happens to this coroutine.
            closing = loop.run_in_executor(pool, session.close)

            def freed(_: Any) -> None:
                registry.remove(session)
                out.put_nowait(None)  # ends the sender

            closing.add_done_callback(freed)
            await asyncio.shield(closing)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(send_task, timeout=5)
            with contextlib.suppress(Exception):
                await websocket.close()

    routes = [
        Route("/", index),
        Route("/api/defaults", api_defaults),
        Route("/export/{sid}/{what}", export),
        WebSocketRoute("/ws", ws),
        Mount("/static", app=StaticFiles(directory=STATIC, check_dir=False), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.registry = registry
    app.add_middleware(CheckAddress, check=AddressCheck(host, port, allowed_hosts))
    return app


def serve(host: str = "127.0.0.1", port: int = 8000, open_browser: bool = True) -> int:
    """Run the playground until interrupted; print its URL and open it in the browser."""
    import sys

    import uvicorn

    # Training threads hold the GIL in short NumPy calls; a shorter switch interval (default
    # 5 ms) lets the event loop send each state without waiting behind them.
    sys.setswitchinterval(0.0005)
    app = create_app(host=host, port=port or None)  # port 0: the system picks one
    config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                            ws_max_size=WS_MAX_SIZE, lifespan="off")
    server = uvicorn.Server(config)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"

    def announce() -> None:
        for _ in range(200):
            if server.started:
                print(f"gradwise playground: {url} (Ctrl+C to stop)", flush=True)
                if open_browser:
                    import webbrowser

                    webbrowser.open(url)
                return
            if server.should_exit:
                return
            time.sleep(0.05)

    threading.Thread(target=announce, daemon=True).start()
    server.run()
    return 0 if server.started else 1
