"""``LivePlot``: a ``fit`` callback that redraws the training curves (and, for a classifier of
2-D inputs, its decision boundary) in a Jupyter notebook cell while the model trains."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..training.callbacks import Callback
from ..training.progress import display_kind
from .boundary import _check_2d, _draw_map
from .style import TRAIN_COLOR, VAL_COLOR, LabFigure, new_figure

__all__ = ["LivePlot"]


class LivePlot(Callback):
    """Redraw the loss and metric curves every ``every`` epochs in the notebook cell that runs
    ``fit``: one panel per quantity, training solid and validation dashed. With
    ``boundary=(X, y)`` (2-D inputs, a binary classifier) a last panel shows the current map of
    ``P(y = 1 | x)`` with the boundary ``P = 0.5``.

    Outside a notebook it draws nothing while training (no window, no file, no output); the
    recorded curves are still available from :meth:`figure`. ``metrics`` limits the panels
    (default: every logged quantity but the learning rate).
    """

    def __init__(self, metrics: Sequence[str] | None = None,
                 boundary: tuple[Any, Any] | None = None, every: int = 1,
                 resolution: int = 60) -> None:
        super().__init__()
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"LivePlot: every must be a positive integer, got {every!r}")
        self.metrics = None if metrics is None else list(metrics)
        self.boundary = None
        if boundary is not None:
            X, y = boundary
            self.boundary = (_check_2d(np.asarray(X), "LivePlot boundary X"), np.asarray(y))
        self.every, self.resolution = every, resolution
        self.history: dict[str, list[float]] = {}
        self.draws = 0
        self._handle: Any = None
        self._notebook = False
        self._stale = False

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.history = {}
        self._handle = None
        self._notebook = display_kind() == "notebook"

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        for k, v in (logs or {}).items():
            if isinstance(v, int | float):
                self.history.setdefault(k, []).append(float(v))
        if self._notebook and (epoch + 1) % self.every == 0:
            self._show()
        self._stale = self._notebook and (epoch + 1) % self.every != 0

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._stale:  # the last epochs since the last redraw
            self._show()

    def _names(self) -> list[str]:
        if self.metrics is not None:
            return self.metrics
        names = [k for k in self.history if not k.startswith("val_") and k != "lr"]
        return names + [k[4:] for k in self.history if k.startswith("val_")
                        and k[4:] not in self.history]

    def figure(self) -> LabFigure:
        """The current picture: a headless figure of the recorded curves (and boundary)."""
        names = self._names()
        n = len(names) + (self.boundary is not None)
        fig = new_figure(4.2 * max(n, 1), 3.6)
        for i, name in enumerate(names):
            ax = fig.add_subplot(1, n, i + 1)
            for key, style, color, label in ((name, "-", TRAIN_COLOR, "train"),
                                             (f"val_{name}", "--", VAL_COLOR, "validation")):
                values = self.history.get(key)
                if values:
                    ax.plot(range(1, len(values) + 1), values, style, color=color, label=label)
            ax.set_xlabel("epoch")
            ax.set_title(name)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8)
        if self.boundary is not None and self.model is not None:
            ax = fig.add_subplot(1, n, n)
            X, y = self.boundary
            _draw_map(ax, self.model, X, y, None, None, self.resolution)
            ax.set_title("decision boundary")
        return fig

    def _show(self) -> None:
        from IPython.display import Image, display

        buf = io.BytesIO()
        self.figure().savefig(buf, format="png", dpi=80)
        image = Image(data=buf.getvalue(), format="png")
        if self._handle is None:
            self._handle = display(image, display_id=True)
        else:
            self._handle.update(image)
        self.draws += 1
