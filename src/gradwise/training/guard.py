"""The train job's watch over a run: divergence (a non-finite loss) and SIGINT/SIGTERM.

Divergence is detected in one place, :class:`~gradwise.training.callbacks.TerminateOnNaN`'s
check of each step's loss, which :class:`Guard` extends with the epoch's ``loss`` and
``val_loss`` and records (where, which value, the learning rate) instead of printing. A signal
stops training after the current step; a second one quits at once.
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .callbacks import Callback, EarlyStopping, Logs, TerminateOnNaN

__all__ = ["EpochGuard", "Guard", "guard_for", "signals"]


class Guard(TerminateOnNaN):
    """The first non-finite training loss (of a step, or of the epoch, or the validation
    loss) stops training as divergence, and so does SIGINT or SIGTERM after the current step.
    Either way the early-stopping callback is told not to restore its best weights: the job
    decides which weights it keeps. ``checkpoint``: the run's checkpoint file, whose bytes
    (the last finite epoch's) are kept when the loss diverges (the loop may overwrite it with
    the diverged epoch)."""

    def __init__(self, es: EarlyStopping | None, checkpoint: Path | None = None) -> None:
        super().__init__()
        self.es, self.checkpoint = es, checkpoint
        self.diverged: dict[str, Any] | None = None
        self.signal: int | None = None
        self.last_finite: bytes | None = None

    @property
    def epoch(self) -> int:
        """The epoch running now (from 0)."""
        return self._epoch

    def terminate(self, epoch: int, batch: int | None, value: float, where: str) -> None:
        if self.diverged is not None:
            return
        groups = getattr(self.optimizer, "param_groups", None)
        self.diverged = {"epoch": epoch + 1, "step": None if batch is None else batch + 1,
                         "loss": repr(float(value)), "where": where,
                         "lr": groups[0].get("lr") if groups else None}
        self.stopped_at = (epoch, -1 if batch is None else batch)
        self.model.stop_training = True
        if self.checkpoint is not None and self.checkpoint.exists():
            self.last_finite = self.checkpoint.read_bytes()

    def _check_signal(self) -> None:
        if self.signal is not None:
            self.model.stop_training = True

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        super().on_epoch_begin(epoch, logs)
        self._check_signal()

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        super().on_train_batch_end(batch, logs)
        self._check_signal()

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        for key in ("loss", "val_loss"):
            value = (logs or {}).get(key)
            if value is not None and not math.isfinite(value):
                self.terminate(epoch, None, value, key)
                break
        self._check_signal()

    def on_train_end(self, logs: Logs | None = None) -> None:
        if (self.diverged is not None or self.signal is not None) and self.es is not None:
            self.es.best_weights = None


class EpochGuard(Guard):
    """:class:`Guard` without the per-step check, for a GPU: reading each step's loss would
    make the host wait for the GPU every step, so divergence and signals are noticed at the
    end of the epoch. (``fit`` reads every step's loss as a float only for a callback that
    overrides a batch hook: this class has none.)"""

    on_train_batch_end = Callback.on_train_batch_end  # type: ignore[assignment]


def guard_for(device: str, es: EarlyStopping | None, checkpoint: Path | None) -> Guard:
    """The guard of a run on ``device``: per step on the CPU, per epoch on a GPU."""
    return (Guard if device == "cpu" else EpochGuard)(es, checkpoint)


@contextlib.contextmanager
def signals(guard: Guard) -> Iterator[None]:
    """SIGINT and SIGTERM ask the guard to stop after the current step; a second one quits at
    once (KeyboardInterrupt). Only in the main thread; the old handlers come back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if guard.signal is not None:
            raise KeyboardInterrupt
        guard.signal = signum
        name = signal.Signals(signum).name
        print(f"\n{name}: stopping after the current step; the checkpoint keeps the last "
              "completed epoch (press Ctrl-C again to quit at once)", file=sys.stderr,
              flush=True)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
