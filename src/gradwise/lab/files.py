"""Atomic writes of the lab's outputs: figures as PNG/SVG and arrays as NPZ (no pickle)."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .. import distributed
from ..io import write_atomic

__all__ = ["save_figure", "save_npz"]


def save_figure(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Render ``fig`` (format from the suffix: .png, .svg, .pdf) and write it atomically (under
    MPI, on rank 0 only)."""
    path = Path(path)
    if not distributed.is_root():
        return path
    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix.lstrip(".") or "png", dpi=dpi)
    write_atomic(path, buf.getvalue())
    return path


def save_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> Path:
    """Write ``arrays`` as an uncompressed NPZ atomically; object arrays are refused, so the
    file always loads with ``allow_pickle=False``. Under MPI, rank 0 alone writes."""
    path = Path(path)
    if not distributed.is_root():
        return path
    for k, v in arrays.items():
        if np.asarray(v).dtype == object:
            raise TypeError(f"save_npz: array {k!r} has dtype object, which would need pickle")
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    write_atomic(path, buf.getvalue())
    return path
