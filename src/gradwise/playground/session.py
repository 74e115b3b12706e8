"""One playground session (one browser tab): its settings, points and training, with every
message of the page validated here (see ``PROTOCOL.md``). The session is the protocol's state
machine: :meth:`Session.handle` takes a message and returns the replies; what training produces
later (states, landscapes, backprop steps, errors) arrives through ``emit`` from its
:class:`~gradwise.playground.worker.Worker`. No transport here: the server (or any other loop)
feeds it messages and forwards what it emits.

Training is ``gradwise train``'s: the settings become a ``gradwise train`` config
(:func:`~gradwise.playground.settings.settings_to_config`), mid-run changes become its
``[[changes]]``, so the exported config retrains to the same history bit for bit. A session's
work is bounded by :data:`~gradwise.playground.settings.LIMITS`.
"""

from __future__ import annotations

import copy
import json
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import numpy as np

from ..errors import GradwiseError
from ..training.config import check_changes, dumps
from .points import Points, build, parse_upload
from .settings import (
    DATA_KEYS,
    DEFAULT_SETTINGS,
    LIMITS,
    LIVE_KEYS,
    PAGE_ONLY,
    SettingsError,
    _number,
    _short,
    defaults,
    live_values,
    schedule_section,
    settings_to_config,
    validate_settings,
)
from .worker import Worker

__all__ = ["DEFAULT_SETTINGS", "LIMITS", "Session", "SettingsError", "defaults",
           "settings_to_config", "validate_settings"]


# --- the session -------------------------------------------------------------------------------

class Session:
    """One browser tab: settings, data and a training worker. :meth:`handle` takes one raw
    message of the page and returns the immediate replies; states, landscapes and training
    errors arrive later through ``emit`` (called from the worker thread). With
    ``flow_control``, the worker trains an epoch only after :meth:`delivered` confirmed that the
    state before last reached the page (at most 2 states in flight)."""

    def __init__(self, emit: Callable[[dict[str, Any]], None],
                 flow_control: bool = False, threaded: bool = True) -> None:
        self.id = secrets.token_urlsafe(16)
        self.emit = emit
        self.flow_control = flow_control
        self.threaded = threaded  # False: trained by run() in the caller's thread
        self.settings = copy.deepcopy(DEFAULT_SETTINGS)
        # the settings of the last restart: the exported config's, before its [[changes]]
        self.base_settings = copy.deepcopy(self.settings)
        self.upload: tuple[str, np.ndarray, np.ndarray] | None = None
        self.last_active = time.monotonic()
        self.closed = False
        self._lock = threading.RLock()
        self._worker: Worker | None = None
        self.data: Points | None = None
        self.config: dict[str, Any] = {}

    def start(self) -> list[dict[str, Any]]:
        """Emit the greeting, the data and then (from the worker) the first state; return the
        messages emitted here."""
        with self._lock:
            self._rebuild(data_changed=True, playing=False)
            assert self.data is not None
            out = [{"type": "hello", "session": self.id, "settings": self.settings,
                    "defaults": defaults()}, self.data.message()]
            self._send(out)
            return out

    def _send(self, replies: list[dict[str, Any]]) -> None:
        """Emit ``replies``, then start a new worker (so its first state follows them)."""
        for r in replies:
            self.emit(r)
        w = self._worker
        if w is not None and self.threaded:
            w.start()

    def _rebuild(self, data_changed: bool, playing: bool) -> None:
        config = settings_to_config(self.settings)
        experiment = build(config, None if self.upload is None else self.upload[1:])
        self.data = Points(experiment)
        self.config = experiment.config
        self.base_settings = copy.deepcopy(self.settings)
        self._stop_worker()
        self._worker = Worker(experiment, self.data, self.emit, self.flow_control, playing)

    def _stop_worker(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None

    def delivered(self) -> None:
        """The page has been sent a state: the worker may train one more epoch."""
        w = self._worker
        if w is not None:
            w.delivered()

    def history(self) -> dict[str, list[float]]:
        """The training history since the last (re)build, as ``fit``'s ``History.history``:
        ``loss``, ``accuracy`` or ``mae``, their ``val_`` twins and ``lr`` per epoch."""
        w = self._worker
        return {} if w is None else {k: list(v) for k, v in w.history.items()}

    @property
    def epoch(self) -> int:
        return 0 if self._worker is None else self._worker.epoch

    @property
    def playing(self) -> bool:
        return self._worker is not None and self._worker.playing

    def handle(self, raw: str | bytes) -> list[dict[str, Any]]:
        """Validate and apply one message, emit the replies and return them. Never raises for
        a bad message: it answers an ``error`` and leaves the session as it was."""
        with self._lock:
            replies = self._handle(raw)
            self._send(replies)
            return replies

    def _handle(self, raw: str | bytes) -> list[dict[str, Any]]:
        self.last_active = time.monotonic()
        try:
            if len(raw) > LIMITS["message_bytes"]:
                raise SettingsError(f"message of {len(raw)} bytes is over the limit of "
                                    f"{LIMITS['message_bytes']} bytes")
            try:
                msg = json.loads(raw)
            except (ValueError, RecursionError) as exc:
                raise SettingsError(f"message is not valid JSON: {str(exc)[:80]}") from None
            if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
                raise SettingsError("message must be a JSON object with a string 'type'")
            with self._lock:
                if self.closed:
                    raise SettingsError("the session is closed")
                return self._dispatch(msg)
        except SettingsError as exc:
            return [{"type": "error", "message": str(exc)}]
        except Exception as exc:  # never let one message take the server down
            return [{"type": "error", "message": f"internal error: {type(exc).__name__}: "
                     f"{str(exc)[:160]}".splitlines()[0]}]

    def _keys(self, msg: dict[str, Any], *allowed: str) -> None:
        extra = [k for k in msg if k not in ("type", *allowed)]
        if extra:
            raise SettingsError(f"message {msg['type']!r} has unknown key {_short(extra[0])}")

    def _dispatch(self, msg: dict[str, Any]) -> list[dict[str, Any]]:
        kind = msg["type"]
        w = self._worker
        if kind in ("play", "pause", "step", "reset", "regenerate", "ping"):
            self._keys(msg)
            if kind == "ping":
                return [{"type": "pong"}]
            if kind == "reset":
                self._rebuild(data_changed=False, playing=self.playing)
                return []
            if kind == "regenerate":
                if self.settings["dataset"] == "upload":
                    raise SettingsError("an uploaded data set cannot be regenerated")
                new = dict(self.settings, data_seed=(self.settings["data_seed"] + 1) % 2**31)
                return self._apply(new, {"data_seed": new["data_seed"]})
            assert w is not None
            w.send(kind)
            return []
        if kind == "settings":
            self._keys(msg, "settings")
            if not isinstance(msg.get("settings"), dict):
                raise SettingsError("message 'settings' needs a 'settings' object")
            new = validate_settings(msg["settings"], self.settings, self.upload is not None)
            return self._apply(new, msg["settings"])
        if kind == "landscape":
            self._keys(msg, "dims", "resolution", "directions")
            dims = msg.get("dims", 2)
            if dims not in (1, 2) or isinstance(dims, bool):
                raise SettingsError(f"landscape dims = {_short(dims)}: expected 1 or 2")
            lo, hi = LIMITS["landscape_resolution"]
            res = _number("landscape resolution", msg.get("resolution", 21), lo, hi,
                          integer=True)
            directions = msg.get("directions", "pca")
            if directions not in ("pca", "random"):
                raise SettingsError(f"landscape directions = {_short(directions)}: expected "
                                    "'pca' or 'random'")
            assert w is not None
            w.send("landscape", (int(dims), res, directions))
            return []
        if kind == "backprop":
            self._keys(msg, "batch", "sample")
            batch = _number("backprop batch", msg.get("batch", 0), 0, 10**6, integer=True)
            sample = _number("backprop sample", msg.get("sample", 0), 0, 10**6, integer=True)
            assert w is not None
            w.send("backprop", (batch, sample))
            return []
        if kind == "edit":
            return self._edit(msg)
        if kind == "upload":
            self._keys(msg, "name", "content")
            upload = parse_upload(msg.get("name"), msg.get("content"))
            problem = "classification" if upload[2].dtype.kind in "iu" else "regression"
            new = validate_settings({"dataset": "upload", "problem": problem}, self.settings,
                                    True)
            before, self.upload = self.upload, upload
            try:
                return self._apply(new, {"dataset": "upload"}, force_data=True)
            except SettingsError:
                self.upload = before  # a refused upload changes nothing
                raise
        raise SettingsError(f"unknown message type {_short(kind)}; expected settings, play, "
                            "pause, step, reset, regenerate, landscape, backprop, edit, upload "
                            "or ping")

    def _edit(self, msg: dict[str, Any]) -> list[dict[str, Any]]:
        """A weight or bias set by the page: checked here, applied by the worker at the next
        epoch boundary and recorded as a ``[[changes]]`` ``weights`` entry."""
        if "bias" in msg:
            self._keys(msg, "layer", "bias", "value")
        else:
            self._keys(msg, "layer", "from", "to", "value")
        assert self.data is not None and self._worker is not None
        sizes = [self.data.X_train.shape[1], *self.settings["hidden"], self.data.n_outputs]
        layer = int(_number("edit layer", msg.get("layer"), 0, len(sizes) - 2, integer=True))
        limit = LIMITS["edit_value"]
        value = _number("edit value", msg.get("value"), -limit, limit)
        if "bias" in msg:
            j = _number("edit bias", msg["bias"], 0, sizes[layer + 1] - 1, integer=True)
            kind, where = "bias", (int(j),)  # type: tuple[str, tuple[int, ...]]
        else:
            i = _number("edit from", msg.get("from"), 0, sizes[layer] - 1, integer=True)
            j = _number("edit to", msg.get("to"), 0, sizes[layer + 1] - 1, integer=True)
            kind, where = "weight", (int(i), int(j))
        if self._worker.stopped:
            raise SettingsError("training has ended; press reset to edit and train again")
        self._worker.send("edit", (int(layer), kind, where, float(value)))
        return []

    def _apply(self, new: dict[str, Any], given: dict[str, Any],
               force_data: bool = False) -> list[dict[str, Any]]:
        """Take validated settings ``new``: page-only keys change nothing else; live keys
        become a ``[[changes]]`` entry the worker applies before its next epoch; anything else
        restarts training (new points when a data setting changed)."""
        old = self.settings
        changed = {k for k in new if new[k] != old[k]}
        training = changed - set(PAGE_ONLY)
        data_changed = force_data or bool(changed & set(DATA_KEYS))
        w = self._worker
        if training and not force_data and training <= set(LIVE_KEYS) \
                and w is not None and not w.stopped and self._live_ok(w, old, new):
            w.send("change", self._live_entry(old, new))
            self.settings = new
            return [{"type": "settings", "settings": self.settings, "applied": "live",
                     "epoch": None}]
        if training or force_data:
            # Check the config and the data (by building) before changing anything.
            old_settings = self.settings
            self.settings = new
            try:
                self._rebuild(data_changed=data_changed, playing=self.playing)
            except SettingsError:
                self.settings = old_settings
                raise
            applied, epoch = "restart", 0
        else:
            self.settings = new
            applied, epoch = "page", self.epoch
        out: list[dict[str, Any]] = [{"type": "settings", "settings": self.settings,
                                      "applied": applied, "epoch": epoch}]
        if data_changed and self.data is not None:
            out.append(self.data.message())
        return out

    def _live_ok(self, w: Worker, old: dict[str, Any], new: dict[str, Any]) -> bool:
        """Whether this run can take the change without a restart (the schedule's kind
        unchanged, dropout only where the network has a dropout layer); checked as
        ``gradwise train`` checks a ``[[changes]]`` entry."""
        if old["schedule"] != new["schedule"]:
            return False
        try:
            entry = check_changes(w.experiment.config, [{"epoch": w.epoch,
                                                         **self._live_entry(old, new)}])[0]
            w.experiment.changes.check(entry)
        except (GradwiseError, ValueError):
            return False
        return True

    @staticmethod
    def _live_entry(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        """The ``[[changes]]`` entry (without its epoch) taking live settings ``old`` to
        ``new``: the dotted config keys whose values differ."""
        a, b = live_values(old), live_values(new)
        changes = {k: v for k, v in b.items() if a.get(k) != v}
        sa, sb = schedule_section(old) or {}, schedule_section(new) or {}
        changes.update({f"schedule.{k}": v for k, v in sb.items()
                        if k != "name" and sa.get(k) != v})
        return {"set": changes}

    # exports (called from the server's threads)
    def export_config(self) -> str:
        """The ``gradwise train`` config of this session, training as many epochs as it has."""
        with self._lock:
            w = self._worker
            if w is None:
                return dumps(settings_to_config(self.settings, epochs=max(1, self.epoch)))
            config = w.experiment.replay_config(epochs=max(1, self.epoch))
            config["training"]["verbose"] = 1
            return dumps(config)

    def export_points(self) -> str | None:
        """The uploaded CSV text, or None."""
        return None if self.upload is None else self.upload[0]

    def export_model(self, timeout: float = 10.0) -> bytes:
        """The current weights as a safetensors file (``gw.save``'s format)."""
        with self._lock:
            w = self._worker
        if w is None or not w.alive:
            raise SettingsError("no network to export")
        fut: Future[bytes] = Future()
        if not self.threaded:  # called between epochs from the driver's own thread
            w._command("snapshot", fut)
            return fut.result(timeout=0)
        w.send("snapshot", fut)
        return fut.result(timeout=timeout)

    def run(self, poll: Callable[[bool], None]) -> None:
        """Train in the calling thread, without any thread of its own (a session made with
        ``threaded=False``), until the session is closed: the driver's ``poll(block)`` is called
        between epochs and hands the page's messages to :meth:`handle` (``block``: training
        waits for the next one). A restart ends the running worker and continues with the
        new one; this is the loop a browser's worker (issue 21) runs."""
        while not self.closed:
            w = self._worker
            if w is None:
                return
            w.run(poll)
            if w is self._worker and not self.closed:  # ended on its own (a failure)
                poll(True)

    def close(self) -> None:
        """Stop training and free the session."""
        with self._lock:
            self.closed = True
            self._stop_worker()
            self.data = None
