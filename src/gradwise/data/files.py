"""The user's own data: a numeric CSV table or an NPZ archive of arrays (never pickled)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

__all__ = ["load_csv", "load_npz"]

PathLike = str | os.PathLike[str]


def _read_rows(path: Path, delimiter: str) -> list[tuple[int, list[str]]]:
    """Non-blank rows of the file with their line numbers (1-based, as an editor shows them)."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f, delimiter=delimiter)
        rows = []
        line = 1
        for row in reader:
            if any(cell.strip() for cell in row):
                rows.append((line, row))
            line = reader.line_num + 1
    return rows


def _target_column(
    target: str | int, names: list[str] | None, header_line: int, width: int, path: Path
) -> int:
    if isinstance(target, str):
        if names is None:
            raise ValueError(
                f"{path}: target={target!r} names a column, but header=False; "
                "give the target's column index instead"
            )
        stripped = [name.strip() for name in names]
        if target not in stripped:
            raise ValueError(
                f"{path}, line {header_line}: no target column {target!r}; "
                f"the columns are {stripped}"
            )
        return stripped.index(target)
    if isinstance(target, int) and not isinstance(target, bool) and -width <= target < width:
        return target % width
    raise ValueError(
        f"{path}: target={target!r} is not a column index; the file has {width} columns "
        f"(indices 0 to {width - 1}, or negative from the end)"
    )


def _cell_error(path: Path, line: int, col: int, names: list[str] | None, cell: str) -> ValueError:
    label = f"column {col + 1}" + (f" ({names[col].strip()!r})" if names else "")
    return ValueError(f"{path}, line {line}, {label}: {cell!r} is not a number")


def load_csv(
    path: PathLike,
    target: str | int = "label",
    header: bool = True,
    delimiter: str = ",",
) -> tuple[np.ndarray, np.ndarray]:
    """Read a numeric CSV table into ``(X, y)``: ``X`` float32 (n, columns - 1) and ``y`` the
    ``target`` column (its header name, or its index), int64 when every target cell is an integer,
    float32 otherwise. Blank lines are skipped. A non-numeric cell, a row of the wrong length or a
    missing target column is an error naming the file, the line and the column."""
    path = Path(path)
    rows = _read_rows(path, delimiter)
    names, header_line = None, 0
    if header:
        if not rows:
            raise ValueError(f"{path}: the file is empty; expected a header line")
        header_line, names = rows.pop(0)
    if not rows:
        raise ValueError(f"{path}: no data rows")
    width = len(names) if names is not None else len(rows[0][1])
    if width < 2:
        raise ValueError(f"{path}: need at least 2 columns (features and target), found {width}")
    col = _target_column(target, names, header_line, width, path)
    for line, row in rows:
        if len(row) != width:
            raise ValueError(f"{path}, line {line}: expected {width} columns, found {len(row)}")
    cells = np.array([row for _, row in rows], dtype=np.str_)
    try:
        table = cells.astype(np.float64)
    except ValueError:
        for line, row in rows:
            for j, cell in enumerate(row):
                try:
                    np.array(cell, dtype=np.str_).astype(np.float64)
                except ValueError:
                    raise _cell_error(path, line, j, names, cell) from None
        raise
    X = np.delete(table, col, axis=1).astype(np.float32)
    target_cells = cells[:, col]
    try:
        y = target_cells.astype(np.int64)
    except ValueError:
        y = table[:, col].astype(np.float32)
    return X, y


def load_npz(
    path: PathLike, x_key: str = "x", y_key: str = "y"
) -> tuple[np.ndarray, np.ndarray]:
    """Read ``(X, y)`` from the arrays ``x_key`` and ``y_key`` of an ``.npz`` archive (no
    pickle): ``X`` float32, ``y`` int64 for integer labels, float32 otherwise."""
    path = Path(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise ValueError(f"{path}: not a pickle-free .npz archive ({exc})") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: not an .npz archive (it holds a single array)")
    with archive:
        keys = sorted(archive.files)
        missing = [k for k in (x_key, y_key) if k not in keys]
        if missing:
            raise ValueError(f"{path}: no array {missing[0]!r}; the archive holds {keys}")
        try:
            X, y = archive[x_key], archive[y_key]
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc
    if X.ndim == 0 or y.ndim == 0 or len(X) != len(y):
        raise ValueError(
            f"{path}: {x_key!r} has shape {X.shape} and {y_key!r} has shape {y.shape}; "
            "they need the same number of rows"
        )
    y_dtype = np.int64 if np.issubdtype(y.dtype, np.integer) else np.float32
    return X.astype(np.float32), y.astype(y_dtype)
