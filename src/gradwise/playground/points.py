"""A session's points: the raw 2D points the page draws, the network's inputs made from them
exactly as ``gradwise train`` makes them, the heatmap grid, and checked CSV uploads."""

from __future__ import annotations

import contextlib
import copy
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .. import data
from ..training.config import ConfigError
from ..training.run import prepare_data
from .settings import LIMITS, LOSSES, SettingsError

__all__ = ["Points", "parse_upload"]


class Points:
    """The points of a session: raw 2D points for the page (after ``data.scale``), and the
    network's inputs (features, standardized with training statistics) exactly as
    ``prepare_data`` makes them. ``task`` is "binary", "multiclass" or "regression";
    ``classes`` the number of classes (0 for regression)."""

    def __init__(self, config: dict[str, Any], upload_text: str | None) -> None:
        raw_cfg = copy.deepcopy(config)
        raw_cfg["data"]["standardize"] = False
        raw_cfg["data"].pop("features", None)
        raw_cfg.pop("changes", None)
        with upload_file(upload_text) as path:
            if path is not None:
                raw_cfg["data"]["path"] = str(path)
            try:
                raw = prepare_data(raw_cfg)
            except (ConfigError, ValueError) as exc:
                raise SettingsError(str(exc)) from None
        assert raw.X_val is not None and raw.y_val is not None
        self.raw_train, self.raw_test = raw.X_train, raw.X_val
        self.y_train, self.y_test = raw.y_train, raw.y_val
        self.task = raw.task
        self.n_outputs = raw.n_outputs
        self.classes = 0 if self.task == "regression" else max(2, raw.n_outputs)
        if self.classes > LIMITS["max_classes"]:
            raise SettingsError(f"the playground draws at most {LIMITS['max_classes']} classes; "
                                f"these labels make {self.classes}")
        self.scale = float(config["data"].get("scale", 1.0))
        self.features = list(config["data"]["features"])
        self.scaler = data.Standardizer().fit(data.feature_map(self.raw_train, self.features))
        self.X_train = self.inputs(self.raw_train)
        self.X_test = self.inputs(self.raw_test)
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
        """The network's inputs for raw 2D points: the features, standardized."""
        return self.scaler.transform(data.feature_map(raw, self.features))

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
