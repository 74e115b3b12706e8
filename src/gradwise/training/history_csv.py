"""The one writer (and reader) of history CSV files: ``epoch`` (from 0), then the logged keys in
sorted order, one row per epoch (Keras's ``CSVLogger`` layout); floats written with ``repr`` so
that reading gives the same numbers back, a missing value as ``NA``. :class:`~gradwise.
training.callbacks.CSVLogger` writes its rows with it, and a run folder's ``history.csv`` is
rebuilt from a checkpoint's history with :func:`write_history`. Every write replaces the whole
file atomically, so the file is always complete."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..io import write_atomic

__all__ = ["format_row", "header", "read_history", "write_history", "write_lines"]


def _value(v: Any) -> str:
    return repr(v) if isinstance(v, float) else str(v)


def header(keys: Sequence[str], sep: str = ",") -> str:
    """The header line: ``epoch`` and the keys."""
    return sep.join(["epoch", *keys])


def format_row(epoch: int, logs: Mapping[str, Any], keys: Sequence[str], sep: str = ",") -> str:
    """One epoch's line: its index and the value of each key (``NA`` when it is missing)."""
    return sep.join([str(epoch)] + [_value(logs.get(k, "NA")) for k in keys])


def write_lines(path: str | os.PathLike[str], lines: Sequence[str]) -> None:
    """Write the lines (header first) atomically; no lines: remove the file."""
    if lines:
        write_atomic(Path(path), ("\n".join(lines) + "\n").encode())
    else:
        Path(path).unlink(missing_ok=True)


def write_history(path: str | os.PathLike[str], state: Mapping[str, Any]) -> None:
    """The CSV of a ``History`` state (``{"history": {key: values}, "epoch": [...]}``, e.g. a
    checkpoint's)."""
    keys = sorted(state["history"])
    lines = [header(keys)] if keys else []
    for i, epoch in enumerate(state["epoch"]):
        lines.append(format_row(epoch, {k: state["history"][k][i] for k in keys}, keys))
    write_lines(path, lines)


def read_history(path: str | os.PathLike[str]) -> dict[str, list[float]]:
    """The columns of a history CSV but ``epoch``, as floats (``NA`` read as NaN)."""
    with Path(path).open(newline="") as f:
        rows = list(csv.DictReader(f))
    keys = [k for k in (rows[0] if rows else {}) if k != "epoch"]
    return {k: [math.nan if r[k] == "NA" else float(r[k]) for r in rows] for k in keys}
