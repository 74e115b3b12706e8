"""The training of one session: ``gradwise.fit`` on the session's experiment, paused between
epochs by a callback that reports each state and serves the session's commands (play, pause,
step, landscape, backprop, edit, change, snapshot, stop). The same loop runs in a thread of its
own (:meth:`Worker.start`, the server's way) or in the caller's thread (:meth:`Worker.run` with a
``poll`` that feeds the page's messages between epochs: no thread, as a browser's worker needs).

Everything the thread sends goes through ``emit``; everything it is asked goes through
:meth:`Worker.send`. Work the page queues (landscapes, backprop steps) is bounded by
``LIMITS["queued_work"]`` and dropped when the session stops; a running landscape stops at its
next row (:class:`~gradwise.playground.views.Cancelled`).
"""

from __future__ import annotations

import contextlib
import math
import queue
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GradwiseError
from ..nn.utils import flat_parameters
from ..training.assemble import Experiment
from ..training.callbacks import Callback
from ..training.checkpoint import save
from ..training.loop import fit
from ..training.summary import divergence_line
from . import views
from .points import Points
from .settings import LIMITS, SettingsError

__all__ = ["Worker"]

MAX_IN_FLIGHT = 0  # train the next epoch once the page has been sent every state
WORK = ("landscape", "backprop")


class _Stop(Exception):
    """Raised inside fit to end a worker."""


def _finite(v: Any) -> bool:
    return v is not None and math.isfinite(float(v))


class Worker(Callback):
    """Trains one network in its own thread by calling ``fit``; this callback pauses it between
    epochs, reports a state after each and serves commands."""

    def __init__(self, experiment: Experiment, pts: Points,
                 emit: Callable[[dict[str, Any]], None], flow_control: bool,
                 playing: bool) -> None:
        super().__init__()
        self.experiment, self.pts, self.emit = experiment, pts, emit
        self.config = experiment.config
        self.es = experiment.early_stopping
        self.loss, self.penalty = experiment.loss, experiment.regularization
        self.commands: queue.Queue[tuple[str, Any]] = queue.Queue()
        # Flow control: states emitted but not yet delivered to the page. The next epoch waits
        # until it is at most MAX_IN_FLIGHT, so a slow page slows training instead of queueing.
        self.flow_control = flow_control
        self.in_flight = 0
        self.flow = threading.Condition()
        self.playing, self.steps = playing, 0
        self.stopped = False  # training ended
        self.stop_reason: str | None = None
        self.cancelled = threading.Event()
        self.work_lock = threading.Lock()
        self.work = 0  # landscape and backprop requests queued or running
        self.epoch = 0
        self.trajectory: list[np.ndarray] = []
        self.pending: dict[str, list[Any]] = {k: [] for k in (
            "epoch", "train_loss", "test_loss", "train_accuracy", "test_accuracy", "penalty",
            "lr")}
        self.numbers: dict[str, Any] = {}
        self.batch_loss: float | None = None
        self.lr: float | None = None
        self.last_update = 0.0
        self.history: dict[str, list[float]] = {}  # every epoch's logs, full precision
        self.weights_epoch = 0
        self.restored = False
        self.error: str | None = None
        self.thread: threading.Thread | None = None  # set by start(); None: driven by run()
        # Threadless driving: poll(block) is called between epochs to feed the page's messages
        # (block=True: wait for the next one); commands are then read without waiting.
        self.poll: Callable[[bool], None] | None = None
        self.finished = False

    # --- commands from other threads ----------------------------------------------------------
    def send(self, kind: str, arg: Any = None) -> None:
        """Queue a command; landscape and backprop requests beyond ``LIMITS["queued_work"]``
        are refused with :class:`SettingsError`."""
        if kind in WORK:
            with self.work_lock:
                if self.work >= LIMITS["queued_work"]:
                    raise SettingsError(f"busy: {self.work} landscape or backprop requests are "
                                        "already waiting; ask again when they are answered")
                self.work += 1
        self.commands.put((kind, arg))

    def delivered(self) -> None:
        with self.flow:
            self.in_flight = max(0, self.in_flight - 1)
            self.flow.notify_all()

    def stop(self, wait: bool = True) -> None:
        """End the thread: queued work is dropped, running work stops at its next check."""
        self.cancelled.set()
        self.send("stop")
        with self.flow:
            self.flow.notify_all()
        t = self.thread
        if wait and t is not None and t.is_alive() and threading.current_thread() is not t:
            t.join(timeout=30)

    def start(self) -> None:
        """Train in a thread of its own (the server's way); at most once."""
        if self.thread is None:
            self.thread = threading.Thread(target=self.run, daemon=True,
                                           name="playground-session")
            self.thread.start()

    @property
    def alive(self) -> bool:
        """Whether the worker still answers commands (started and not stopped)."""
        if self.thread is not None:
            return self.thread.is_alive()
        return not self.finished

    # --- the training loop ----------------------------------------------------------------------
    def run(self, poll: Callable[[bool], None] | None = None) -> None:
        """Train in the calling thread until stopped: ``fit`` on the experiment, paused between
        epochs as the commands say. With ``poll`` (threadless driving, e.g. a browser's
        worker loop), ``poll(block)`` is called between epochs to feed the page's messages to
        the session; ``block`` says that training waits for the next one."""
        self.poll = poll
        try:
            exp = self.experiment
            kwargs = exp.fit_kwargs(epochs=LIMITS["max_epochs"], verbose=0,
                                    callbacks=[*exp.callbacks, self])
            with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported
                fit(**kwargs)
            self._finish()
            while True:
                self._serve(block=True)
        except _Stop:
            self.finished = True
            return
        except Exception as exc:  # a failure of this session only; reported to its page
            self.finished = True
            self.error = f"training failed: {type(exc).__name__}: {exc}".splitlines()[0]
            with contextlib.suppress(Exception):
                self.emit({"type": "error", "message": self.error})

    def _finish(self) -> None:
        """fit returned: early stopping (weights restored when asked), divergence or the
        epoch limit. The state shows the weights the model holds now."""
        self.stopped, self.playing = True, False
        if self.stop_reason is None:
            self.stop_reason = "early_stopping" if self.es is not None and \
                self.es.stopped_epoch else "max_epochs"
        if self.stop_reason == "diverged":
            lr = self.lr
            line = divergence_line({"diverged": {"epoch": self.epoch, "loss": "nan",
                                                 "lr": lr}, "weights_epoch": None})
            self.emit({"type": "error", "message": line.split("; kept")[0]
                       + "; press reset to train again"})
        elif self.es is not None and self.es.restore_best_weights \
                and self.es.best_weights is not None and self.es.best is not None:
            self.restored = True
            self.weights_epoch = self.es.best_epoch + 1
            self.numbers = self._clean()
        self._report()

    def _clean(self) -> dict[str, Any]:
        return views.clean_numbers(self.model, self.loss, self.pts,
                                   self.config["training"]["batch_size"], self.penalty)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.trajectory = [flat_parameters(self.model).astype(np.float32)]
        self.lr = float(self.optimizer.param_groups[0]["lr"])
        self.numbers = self._clean()
        self._record(0, self.numbers)
        self._report()
        self._gate()

    def _record(self, epoch: int, n: dict[str, Any]) -> None:
        for k, v in (("epoch", epoch), ("train_loss", views.r(n["train_loss"])),
                     ("test_loss", views.r(n["test_loss"])),
                     ("train_accuracy", views.r(n.get("train_accuracy"))),
                     ("test_accuracy", views.r(n.get("test_accuracy"))),
                     ("penalty", views.r(n.get("penalty"))), ("lr", views.r(self.lr))):
            self.pending[k].append(v)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        self.epoch = self.weights_epoch = epoch + 1
        self.trajectory.append(flat_parameters(self.model).astype(np.float32))
        if len(self.trajectory) > 2000:  # keep the landscape's trajectory bounded
            self.trajectory = self.trajectory[:1] + self.trajectory[2::2]
        self.lr = logs.get("lr")
        self.batch_loss = logs.get("loss")
        self.numbers = {"train_loss": logs.get("train_eval_loss"),
                        "test_loss": logs.get("val_loss"),
                        "train_accuracy": logs.get("train_eval_accuracy"),
                        "test_accuracy": logs.get("val_accuracy"),
                        "penalty": views.penalty_value(self.model, self.penalty)}
        for k, v in logs.items():
            self.history.setdefault(k, []).append(float(v))
        self._record(self.epoch, self.numbers)
        if not all(_finite(logs.get(k)) for k in ("loss", "train_eval_loss")):
            self.stop_reason = "diverged"
            self.model.stop_training = True
            return
        if self.model.stop_training:  # early stopping: fit ends after this epoch
            return
        self._report()
        self._gate()

    def _gate(self) -> None:
        """Block until the session may train another epoch, serving commands meanwhile."""
        while True:
            self._serve(block=not (self.playing or self.steps))
            if self.steps:
                self.steps -= 1
                return
            if self.playing:
                wait = self.last_update + 1 / LIMITS["updates_per_second"] - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                if self.flow_control:
                    with self.flow:
                        if self.in_flight > MAX_IN_FLIGHT and not self.cancelled.is_set():
                            self.flow.wait(timeout=0.05)
                            continue
                self.last_update = time.monotonic()
                return

    def _serve(self, block: bool) -> None:
        if self.cancelled.is_set():
            raise _Stop
        if self.poll is not None:
            self.poll(block)  # the driver hands the page's messages to the session now
            block = False
        try:
            kind, arg = self.commands.get(timeout=0.5) if block else self.commands.get_nowait()
        except queue.Empty:
            return
        while True:
            try:
                self._command(kind, arg)
            finally:
                if kind in WORK:
                    with self.work_lock:
                        self.work -= 1
            if self.cancelled.is_set():
                raise _Stop
            try:
                kind, arg = self.commands.get_nowait()
            except queue.Empty:
                return

    def _ended(self) -> None:
        self.emit({"type": "error", "message": f"training has ended ({self._reason()}); "
                   "press reset to train again"})

    def _reason(self) -> str:
        return {"diverged": "it diverged", "max_epochs": "the epoch limit"}.get(
            self.stop_reason or "", "early stopping")

    def _command(self, kind: str, arg: Any) -> None:
        if kind == "stop":
            raise _Stop
        if kind == "play":
            if self.stopped:
                self._ended()
            self.playing = not self.stopped
            self._report()
        elif kind == "pause":
            self.playing = False
            self._report()
        elif kind == "step":
            if self.stopped:
                self._ended()
            else:
                self.playing, self.steps = False, self.steps + 1
        elif kind == "landscape":
            dims, res, directions = arg
            try:
                self.emit(views.landscape(self.model, self.loss, self.pts, self.trajectory,
                                          dims, res, directions,
                                          self.config["training"]["seed"],
                                          self.cancelled.is_set))
            except views.Cancelled:
                raise _Stop from None
        elif kind == "backprop":
            batch, sample = arg
            msg = views.backprop(self.model, self.loss, self.pts,
                                 self.config["training"]["batch_size"], batch, sample,
                                 float(self.optimizer.param_groups[0]["lr"]), self.penalty,
                                 self.config["model"]["activation"])
            msg["epoch"] = self.epoch
            msg["optimizer"] = self.config["optimizer"]["name"]
            self.emit(msg)
        elif kind == "edit":
            self._edit(arg)
        elif kind == "change":
            self._change(arg)
        elif kind == "snapshot":
            with tempfile.TemporaryDirectory(prefix="gradwise-playground-") as tmp:
                path = Path(tmp) / "model.safetensors"
                save(self.model, path)
                arg.set_result(path.read_bytes())

    # --- mid-run changes ------------------------------------------------------------------------
    @property
    def changes(self) -> list[dict[str, Any]]:
        """The ``[[changes]]`` entries since the (re)start, in epoch order."""
        with self.experiment.changes._lock:
            return [dict(c) for c in self.experiment.changes.entries]

    def _change(self, entry: dict[str, Any]) -> None:
        """Record a ``[[changes]]`` ``set`` entry at the epochs completed now; the
        ``Changes`` callback applies it before the next epoch (as ``gradwise train`` does)."""
        if self.stopped:
            self._ended()
            return
        try:
            self.experiment.changes.add({"epoch": self.epoch, **entry})
        except (GradwiseError, ValueError) as exc:
            self.emit({"type": "error", "message": str(exc).splitlines()[0]})

    def _edit(self, arg: tuple[int, str, tuple[int, ...], float]) -> None:
        layer, kind, index, value = arg
        if self.stopped:
            self._ended()
            return
        dense = views.dense_layers(self.model)[layer]
        target = dense.weight if kind == "weight" else dense.bias
        if target is None:
            self.emit({"type": "error", "message": f"layer {layer} has no bias to edit"})
            return
        name = next(n for n, p in self.model.named_parameters() if p is target)
        self.experiment.changes.add({"epoch": self.epoch, "weights": [
            {"name": name, "index": list(index), "value": value}]})
        target.data[index] = value  # shown now; Changes sets it again before the next epoch
        self.numbers = self._clean()
        self._report()

    # --- what the page draws --------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        model, pts, n = self.model, self.pts, self.numbers
        es = None
        if self.es is not None:
            best = self.es.best_epoch + 1 if self.es.best is not None else None
            es = {"patience": self.es.patience, "best_epoch": best,
                  "stopped_epoch": self.es.stopped_epoch + 1 if self.es.stopped_epoch else None,
                  "restored": self.restored}
        pca = None if pts.task == "regression" else views.per_class_accuracy(model, pts)
        history = self.pending
        self.pending = {k: [] for k in history}
        return {
            "type": "state", "time": round(time.time(), 4), "epoch": self.epoch,
            "playing": self.playing, "stopped": self.stopped, "stop_reason": self.stop_reason,
            "train_loss": views.r(n.get("train_loss")), "test_loss": views.r(n.get("test_loss")),
            "train_accuracy": views.r(n.get("train_accuracy")),
            "test_accuracy": views.r(n.get("test_accuracy")),
            "per_class_accuracy": pca, "penalty": views.r(n.get("penalty")),
            "batch_loss": views.r(self.batch_loss), "weights_epoch": self.weights_epoch,
            "restored": self.restored, "lr": views.r(self.lr), "notice": self._notice(),
            "changes": len(self.changes), "history_append": history, "early_stopping": es,
            "network": views.network(model, pts.features),
            "heatmaps": views.heatmaps(model, pts),
        }

    def _notice(self) -> str | None:
        start = self.config["optimizer"]["lr"]
        sched = self.config.get("schedule")
        if self.lr is not None and sched is not None and self.lr < 1e-6 * start:
            return (f"the {sched['name']} schedule has lowered the learning rate to "
                    f"{self.lr:.2g}: training has practically stopped")
        return None

    def _report(self) -> None:
        msg = self.state()
        if self.flow_control:
            with self.flow:
                self.in_flight += 1
        self.emit(msg)
