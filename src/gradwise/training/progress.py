"""The progress display of ``fit``: a tqdm bar per epoch (``verbose=1``: epoch, step, ETA and
running loss), one line per epoch (``verbose=2``), or nothing (``verbose=0``).

``verbose=1`` draws the bar with tqdm's auto mode: a widget in a Jupyter notebook, a text bar in
a terminal. When the output is neither (CI, ``> file``) a bar would write a line per redraw, so
there ``verbose=1`` prints one summary line per epoch instead, as ``verbose=2``."""

from __future__ import annotations

import sys
import time
from typing import Any

from .callbacks import Callback, Logs

__all__ = ["ProgressLogger", "display_kind", "format_logs"]


def display_kind() -> str:
    """``"notebook"`` inside a Jupyter kernel, ``"terminal"`` when stderr is a terminal,
    ``"log"`` otherwise (a file, a pipe, CI)."""
    ipython = sys.modules.get("IPython")
    if ipython is not None:
        shell = ipython.get_ipython()
        if shell is not None and "IPKernelApp" in getattr(shell, "config", {}):
            return "notebook"
    stream = sys.stderr
    isatty = getattr(stream, "isatty", None)
    return "terminal" if isatty is not None and isatty() else "log"


def format_logs(logs: Logs) -> str:
    """``"loss: 0.1234 - accuracy: 0.9500 - ..."`` for the numeric entries of ``logs``."""
    parts = []
    for k, v in logs.items():
        if isinstance(v, float):
            parts.append(f"{k}: {v:.4g}" if k == "lr" else f"{k}: {v:.4f}")
    return " - ".join(parts)


_REFRESH_S = 0.1  # tqdm's own minimum interval between redraws


class ProgressLogger(Callback):
    """Runs after every other callback, so its epoch line shows what they logged.

    The bar's running loss is formatted at most every 0.1 s: on a GPU the batch loss is a 0-d
    GPU array, and reading it is the only time the host waits for the GPU during an epoch.
    """

    def __init__(self, verbose: int) -> None:
        super().__init__()
        self.verbose = verbose
        self._bar: Any = None
        self._tqdm: Any = None
        if verbose == 1 and display_kind() == "log":
            self.verbose = 2
        elif verbose == 1:
            try:
                from tqdm.auto import tqdm
            except ImportError:  # tqdm is an extra: fall back to one line per epoch
                self.verbose = 2
            else:
                self._tqdm = tqdm

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._start = time.perf_counter()
        self._loss_sum: Any = 0.0
        self._seen = 0
        self._shown = self._start
        if self._tqdm is not None:
            self._bar = self._tqdm(total=self.params.get("steps"), unit="step", leave=True,
                                   desc=f"Epoch {epoch + 1}/{self.params['epochs']}",
                                   dynamic_ncols=True)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self._bar is None or not logs:
            return
        n = logs.get("size", 1)
        self._loss_sum += logs["loss"] * n
        self._seen += n
        now = time.perf_counter()
        if now - self._shown >= _REFRESH_S:
            self._shown = now
            mean = float(self._loss_sum) / self._seen
            self._bar.set_postfix_str(f"loss: {mean:.4f}", refresh=False)
        self._bar.update(1)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        text = format_logs(logs or {})
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)
            self._bar.close()
            self._bar = None
        elif self.verbose == 2:
            ms = 1000 * (time.perf_counter() - self._start)
            print(f"Epoch {epoch + 1}/{self.params['epochs']} - {ms:.0f}ms - {text}",
                  file=sys.stdout, flush=True)

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
