"""A session's points: the raw 2D points the page draws, the network's inputs made from them
exactly as ``gradwise train`` makes them, the heatmap grid, and checked CSV uploads."""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .. import data
from ..errors import GradwiseError
from ..training.assemble import Experiment, assemble
from .settings import LIMITS, LOSSES, SettingsError

__all__ = ["Points", "build", "parse_upload"]


def build(config: dict[str, Any], upload: tuple[Any, Any] | None) -> Experiment:
    """The experiment of a session's config, through the one assembly (the uploaded points
    ``(X, y)`` in place of ``[data]``'s CSV file); a config or data error is a
    :class:`SettingsError` for the page."""
    try:
        return assemble(config, arrays=upload, private_generators=True, verbose=0)
    except (GradwiseError, ValueError) as exc:
        raise SettingsError(str(exc).splitlines()[0]) from None


class Points:
    """The points of a session, taken from its assembled experiment: raw 2D points for the page
    (after ``data.scale``), the network's inputs (the experiment's own feature map and
    standardization), and the heatmap grid made with the same preprocessing. ``task`` is
    "binary", "multiclass" or "regression"; ``classes`` the number of classes (0 for
    regression)."""

    def __init__(self, experiment: Experiment) -> None:
        s, pre = experiment.splits, experiment.preprocessing
        assert s.X_val is not None and s.y_val is not None and pre.raw_val is not None
        self.preprocessing = pre
        self.raw_train, self.raw_test = pre.raw_train, pre.raw_val
        self.X_train, self.y_train = s.X_train, s.y_train
        self.X_test, self.y_test = s.X_val, s.y_val
        self.task = s.task
        self.n_outputs = s.n_outputs
        self.classes = 0 if self.task == "regression" else max(2, s.n_outputs)
        if self.classes > LIMITS["max_classes"]:
            raise SettingsError(f"the playground draws at most {LIMITS['max_classes']} classes; "
                                f"these labels make {self.classes}")
        config = experiment.config
        self.scale = float(config["data"].get("scale", 1.0))
        self.features = list(config["data"]["features"])
        pts = np.concatenate([self.raw_train, self.raw_test])
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        pad = 0.05 * np.maximum(hi - lo, 1e-6)
        self.domain = {"x1": [float(lo[0] - pad[0]), float(hi[0] + pad[0])],
                       "x2": [float(lo[1] - pad[1]), float(hi[1] + pad[1])]}
        size = LIMITS["heatmap_size"]
        (x1lo, x1hi), (x2lo, x2hi) = self.domain["x1"], self.domain["x2"]
        gx = np.linspace(x1lo, x1hi, size).astype(np.float32)
        gy = np.linspace(x2lo, x2hi, size).astype(np.float32)[::-1]  # row 0 = top
        xx, yy = np.meshgrid(gx, gy)
        self.grid = self.inputs(np.stack([xx.ravel(), yy.ravel()], axis=1))

    def inputs(self, raw: np.ndarray) -> np.ndarray:
        """The network's inputs for raw 2D points: the features, standardized (the
        experiment's preprocessing)."""
        return self.preprocessing.transform(raw)

    @property
    def loss(self) -> dict[str, str]:
        """The protocol's ``loss``: the config name and the label the page shows."""
        name, label = LOSSES[self.task]
        return {"name": name, "label": label}

    def message(self) -> dict[str, Any]:
        def rows(X: np.ndarray, y: np.ndarray) -> list[list[float]]:
            yy = y.reshape(len(y), -1)[:, 0]
            return np.round(np.column_stack([X, yy]).astype(np.float64), 4).tolist()
        return {"type": "data", "train": rows(self.raw_train, self.y_train),
                "test": rows(self.raw_test, self.y_test),
                "problem": "regression" if self.task == "regression" else "classification",
                "domain": self.domain, "classes": self.classes, "loss": self.loss,
                "scale": self.scale}


@contextlib.contextmanager
def upload_file(text: str | None) -> Iterator[Path | None]:
    """A temporary file holding an upload for the time of reading it, then deleted."""
    if text is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="gradwise-playground-") as tmp:
        path = Path(tmp) / "points.csv"
        path.write_text(text, encoding="utf-8", newline="")
        yield path


_LINE_END = re.compile(r"\r\n|\r|\n")


def parse_upload(name: Any, content: Any) -> tuple[str, np.ndarray, np.ndarray]:
    """Check an uploaded CSV (size, rows for any line ending, two features and a ``label``
    column; integer labels 0..K-1 with K <= ``LIMITS["max_classes"]``) with
    ``gw.data.load_csv``; return its text and ``(X, y)``. Errors name the upload, not a path."""
    if not isinstance(name, str) or not isinstance(content, str):
        raise SettingsError("upload needs 'name' and 'content' strings")
    shown = re.sub(r"[^\w.\- ]", "_", name)[:80] or "upload.csv"
    size = len(content.encode("utf-8", errors="replace"))
    if size > LIMITS["upload_bytes"]:
        raise SettingsError(f"{shown}: {size} bytes is over the upload limit of "
                            f"{LIMITS['upload_bytes']} bytes")
    # Rows end in \n, \r\n or a lone \r (old Mac files): count every kind, plus a last row
    # without an ending; the header is one of them.
    ends = sum(1 for _ in _LINE_END.finditer(content))
    rows = ends + (1 if content and not _LINE_END.match(content[-1]) else 0)
    if rows > LIMITS["upload_rows"] + 1:
        raise SettingsError(f"{shown}: {rows - 1} rows is more than the limit of "
                            f"{LIMITS['upload_rows']} rows")
    with upload_file(content) as path:
        assert path is not None
        try:
            X, y = data.load_csv(path, target="label")
        except ValueError as exc:
            raise SettingsError(str(exc).replace(str(path), shown)) from None
    if X.shape[1] != 2:
        raise SettingsError(f"{shown}: expected two feature columns and a 'label' column, found "
                            f"{X.shape[1]} feature columns")
    if len(X) < 10:
        raise SettingsError(f"{shown}: {len(X)} rows; the playground needs at least 10")
    if not np.all(np.isfinite(X)) or not np.all(np.isfinite(y)):
        raise SettingsError(f"{shown}: every value must be a finite number")
    k = LIMITS["max_classes"]
    if y.dtype.kind in "iu" and (y.min() < 0 or y.max() >= k):
        raise SettingsError(f"{shown}: integer labels must be classes 0 to {k - 1}; found "
                            f"{int(y.min())} to {int(y.max())}")
    return content, X, y
