"""The user's own data: a numeric CSV table or an NPZ archive of arrays (never pickled)."""

from __future__ import annotations

import csv
import os
import zipfile
from pathlib import Path
from typing import Any
from zlib import error as zlib_error

import numpy as np

from ..errors import DataError

__all__ = ["MAX_INFLATE_RATIO", "check_inflation", "check_finite", "load_csv", "load_npz"]

PathLike = str | os.PathLike[str]

#: the most a compressed input (a gzipped IDX file, a compressed NPZ member) may inflate, as a
#: multiple of its compressed size, once it inflates to more than :data:`SMALL_INFLATED` bytes.
#: Real data compresses a few times (MNIST's images 4.8:1, its labels 2:1); deflate reaches
#: about 1032:1 on zeros, so a larger ratio is a decompression bomb or a lying header.
MAX_INFLATE_RATIO = 100
#: inflated sizes up to this many bytes are never refused (small files cannot exhaust memory)
SMALL_INFLATED = 16 << 20


def check_inflation(path: Any, what: str, compressed: int, inflated: int) -> None:
    """Raise :class:`DataError` when ``inflated`` bytes from ``compressed`` exceed
    :data:`MAX_INFLATE_RATIO` (above :data:`SMALL_INFLATED`), before anything is inflated."""
    if inflated > SMALL_INFLATED and inflated > MAX_INFLATE_RATIO * max(compressed, 1):
        raise DataError(
            f"{path}: {what} would inflate {compressed} compressed bytes to {inflated} bytes "
            f"(more than {MAX_INFLATE_RATIO}:1): refused as a decompression bomb or a lying "
            "header; store the data uncompressed to read it")


def _check_npz_member(archive: Any, path: Path, key: str) -> None:
    """Check an NPZ member before NumPy reads it: a bounded compression ratio, and an .npy
    header whose shape and dtype account for exactly the bytes the member holds (NumPy would
    allocate whatever the header promises: a lying header is otherwise 'out of memory')."""
    zf = getattr(archive, "zip", None)
    if zf is None:
        return
    try:
        info = zf.getinfo(f"{key}.npy")
    except KeyError:
        return
    check_inflation(path, f"array {key!r}", info.compress_size, info.file_size)
    fmt = np.lib.format
    try:
        with zf.open(info) as f:
            version = fmt.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = fmt.read_array_header_1_0(f)
            else:
                shape, _, dtype = fmt.read_array_header_2_0(f, max_header_size=10000)
            header_end = f.tell()
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib_error) as exc:
        raise DataError(f"{path}: array {key!r} has no valid .npy header ({exc})") from None
    if dtype.hasobject:
        return  # refused with its own message when read
    promised = header_end + int(np.prod(shape, dtype=object)) * dtype.itemsize
    if promised != info.file_size:
        raise DataError(
            f"{path}: array {key!r}: its header promises shape {tuple(shape)} of {dtype} "
            f"({promised} bytes with the header) but the archive holds {info.file_size} bytes "
            "for it: a corrupt or crafted file")


def _read_rows(path: Path, delimiter: str) -> list[tuple[int, list[str]]]:
    """Non-blank rows of the file with their line numbers (1-based, as an editor shows them)."""
    rows = []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f, delimiter=delimiter)
            line = 1
            for row in reader:
                if any(cell.strip() for cell in row):
                    rows.append((line, row))
                line = reader.line_num + 1
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                        f"{exc.start}); save the table as UTF-8 CSV") from None
    except csv.Error as exc:
        raise DataError(f"{path}, line {line}: not a CSV table ({exc})") from None
    return rows


def _target_column(
    target: str | int, names: list[str] | None, header_line: int, width: int, path: Path
) -> int:
    if isinstance(target, str):
        if names is None:
            raise DataError(
                f"{path}: target={target!r} names a column, but header=False; "
                "give the target's column index instead"
            )
        stripped = [name.strip() for name in names]
        if target not in stripped:
            raise DataError(
                f"{path}, line {header_line}: no target column {target!r}; "
                f"the columns are {stripped}"
            )
        return stripped.index(target)
    if isinstance(target, int) and not isinstance(target, bool) and -width <= target < width:
        return target % width
    raise DataError(
        f"{path}: target={target!r} is not a column index; the file has {width} columns "
        f"(indices 0 to {width - 1}, or negative from the end)"
    )


def _column(col: int, names: list[str] | None) -> str:
    return f"column {col + 1}" + (f" ({names[col].strip()!r})" if names else "")


def _cell_error(path: Path, line: int, col: int, names: list[str] | None, cell: str) -> DataError:
    return DataError(f"{path}, line {line}, {_column(col, names)}: {cell!r} is not a number")


def _check_header(path: Path, line: int, names: list[str]) -> None:
    """Refuse a header naming a column twice (which one would be the target?)."""
    seen: dict[str, int] = {}
    for j, name in enumerate(n.strip() for n in names):
        if name in seen:
            raise DataError(f"{path}, line {line}: the header names column {name!r} twice "
                            f"(columns {seen[name] + 1} and {j + 1}); rename one")
        seen[name] = j


def check_finite(path: Any, X: np.ndarray, what: str = "feature",
                 lines: list[int] | None = None, columns: list[str] | None = None,
                 original: np.ndarray | None = None) -> None:
    """Refuse NaN, infinite values and values beyond float32's range (they become infinite),
    naming the file, the row (or line) and the column of the first one."""
    bad = ~np.isfinite(X)
    if not bad.any():
        return
    i, *rest = np.argwhere(bad)[0]
    j = int(rest[0]) if rest else 0
    row = f"line {lines[i]}" if lines is not None else f"row {int(i)}"
    col = columns[j] if columns is not None else f"column {j}"
    value = float((X if original is None else original)[(i, *rest)])
    raise DataError(f"{path}, {row}, {col}: {what} value {value!r} is not finite "
                    "(NaN, infinite or beyond float32's range); clean the data first")


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
            raise DataError(f"{path}: the file is empty; expected a header line")
        header_line, names = rows.pop(0)
        _check_header(path, header_line, names)
    if not rows:
        raise DataError(f"{path}: no data rows")
    width = len(names) if names is not None else len(rows[0][1])
    if width < 2:
        raise DataError(f"{path}: need at least 2 columns (features and target), found {width}")
    col = _target_column(target, names, header_line, width, path)
    for line, row in rows:
        if len(row) != width:
            raise DataError(f"{path}, line {line}: expected {width} columns, found {len(row)}")
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
    lines = [line for line, _ in rows]
    with np.errstate(over="ignore"):
        X = np.delete(table, col, axis=1).astype(np.float32)
    columns = [_column(j, names) for j in range(width) if j != col]
    check_finite(path, X, "feature", lines, columns, np.delete(table, col, axis=1))
    target_cells = cells[:, col]
    try:
        y = target_cells.astype(np.int64)
    except OverflowError:
        big = next(i for i, c in enumerate(target_cells) if abs(int(c.strip())) >= 2**63)
        raise DataError(f"{path}, line {lines[big]}, {_column(col, names)}: label "
                        f"{target_cells[big].strip()} does not fit a 64-bit integer; labels "
                        "are class indices 0 to K-1") from None
    except ValueError:
        with np.errstate(over="ignore"):
            y = table[:, col].astype(np.float32)
        check_finite(path, y, "target", lines, [_column(col, names)], table[:, col])
    return X, y


def _npz_array(archive: Any, path: Path, key: str) -> np.ndarray:
    _check_npz_member(archive, path, key)
    try:
        return np.asarray(archive[key])
    except ValueError:
        raise DataError(f"{path}: array {key!r} holds Python objects (dtype object); gradwise "
                        "reads numeric arrays only (it never unpickles); store numbers") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib_error) as exc:
        raise DataError(f"{path}: array {key!r} is corrupt ({exc})") from None


def load_npz(
    path: PathLike, x_key: str = "x", y_key: str = "y"
) -> tuple[np.ndarray, np.ndarray]:
    """Read ``(X, y)`` from the arrays ``x_key`` and ``y_key`` of an ``.npz`` archive (no
    pickle): ``X`` float32 of shape (n, features), ``y`` of shape (n,) or (n, outputs), int64
    for integer labels, float32 otherwise. Object, string, complex or empty arrays, other
    shapes and non-finite values are refused, naming the array."""
    path = Path(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        if isinstance(exc, FileNotFoundError | IsADirectoryError | PermissionError):
            raise
        raise DataError(f"{path}: not an .npz archive of NumPy arrays (np.savez writes "
                        "one)") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: not an .npz archive (it holds a single array); save it with "
                        f"np.savez(path, {x_key}=X, {y_key}=y)")
    with archive:
        keys = sorted(archive.files)
        missing = [k for k in (x_key, y_key) if k not in keys]
        if missing:
            raise DataError(f"{path}: no array {missing[0]!r}; the archive holds {keys}")
        X, y = _npz_array(archive, path, x_key), _npz_array(archive, path, y_key)
    for key, a, kinds, shape in ((x_key, X, "iuf", "(n_samples, n_features)"),
                                 (y_key, y, "iufb", "(n_samples,) or (n_samples, n_outputs)")):
        if a.dtype.kind not in kinds:
            raise DataError(f"{path}: array {key!r} has dtype {a.dtype}; expected real numbers")
        if a.ndim not in ((2,) if key == x_key else (1, 2)) or a.size == 0:
            raise DataError(f"{path}: array {key!r} has shape {a.shape}; expected a non-empty "
                            f"array of shape {shape}")
    if len(X) != len(y):
        raise DataError(
            f"{path}: {x_key!r} has shape {X.shape} and {y_key!r} has shape {y.shape}; "
            "they need the same number of rows"
        )
    with np.errstate(over="ignore"):
        X32 = X.astype(np.float32)
    check_finite(path, X32, f"array {x_key!r}", original=X)
    if np.issubdtype(y.dtype, np.integer) or y.dtype.kind == "b":
        return X32, y.astype(np.int64)
    with np.errstate(over="ignore"):
        y32 = y.astype(np.float32)
    check_finite(path, y32.reshape(len(y32), -1), f"array {y_key!r}",
                 original=y.reshape(len(y), -1))
    return X32, y32
