"""Reading a run folder's files back (``load_run``, ``gradwise report``, ``gradwise landscape``):
each file that is corrupt, of the wrong shape or of another model is one :class:`RunError`
naming the file and what is wrong, never a traceback.

A run folder is written by ``gradwise train``; these readers assume nothing of its files
beyond what the writer promises: ``config.toml`` (TOML), ``history.csv`` (an ``epoch`` column
and one number or ``NA`` per cell), ``summary.json`` (a JSON object) and
``trajectory.safetensors`` (a float tensor ``trajectory`` of one row per kept epoch, with the
parameters' names and shapes as JSON metadata, which must be those of the run's model).
"""

from __future__ import annotations

import csv
import json
import math
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RunError

__all__ = ["read_config_text", "read_history", "read_summary", "read_trajectory"]


def read_config_text(path: Path) -> dict[str, Any]:
    """``config.toml`` parsed (not yet validated)."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{path.parent} is not a gradwise run folder: it has no config.toml"
                       ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RunError(f"{path} is not valid TOML ({exc}): the run folder is damaged; "
                       "train again or restore the file") from None


def read_history(path: Path) -> dict[str, list[float]]:
    """``history.csv``: each column but ``epoch`` as a list of floats (``NA``: NaN)."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError:
        raise RunError(f"{path} is not a text CSV file: the run folder is damaged") from None
    except csv.Error as exc:
        raise RunError(f"{path}: not a CSV file ({exc})") from None
    if not rows:
        return {}
    header = rows[0]
    if len(set(header)) != len(header) or "" in header:
        raise RunError(f"{path}: line 1 is not a header of distinct column names: {header!r}")
    table: dict[str, list[float]] = {k: [] for k in header if k != "epoch"}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise RunError(f"{path} line {line}: {len(row)} cells, the header has "
                           f"{len(header)}")
        for key, cell in zip(header, row, strict=True):
            if key == "epoch":
                continue
            try:
                table[key].append(math.nan if cell == "NA" else float(cell))
            except ValueError:
                raise RunError(f"{path} line {line}, column {key!r}: {cell!r} is not a "
                               "number") from None
    return table


def read_summary(path: Path) -> dict[str, Any]:
    """``summary.json`` as a dict ({} when the run wrote none)."""
    if not path.exists():
        return {}
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise RunError(f"{path} is not valid JSON ({exc}): the run folder is damaged") from None
    if not isinstance(summary, dict):
        raise RunError(f"{path} holds a JSON {type(summary).__name__}, expected an object")
    return summary


def read_trajectory(path: Path, tensors: dict[str, np.ndarray], meta: dict[str, str],
                    model: Any) -> tuple[np.ndarray, list[str], list[tuple[int, ...]]]:
    """The trajectory rows and the parameters' names and shapes, checked against ``model``."""
    traj = tensors.get("trajectory")
    if traj is None or traj.ndim != 2 or traj.dtype.kind != "f":
        raise RunError(f"{path} holds no 2-D float tensor 'trajectory': not a run's trajectory")
    try:
        names = json.loads(meta["param_names"])
        shapes = [tuple(int(d) for d in s) for s in json.loads(meta["param_shapes"])]
        if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            raise ValueError("param_names is not a list of names")
    except (KeyError, ValueError, TypeError) as exc:
        raise RunError(f"{path}: metadata 'param_names'/'param_shapes' missing or not JSON "
                       f"lists ({exc}): the file is damaged") from None
    own = [(k, tuple(p.shape)) for k, p in model.named_parameters()]
    width = sum(math.prod(s) for _, s in own)
    if list(zip(names, shapes, strict=False)) != own or len(names) != len(shapes) \
            or traj.shape[1] != width:
        raise RunError(
            f"{path} holds the trajectory of another model ({traj.shape[1]} values a row, "
            f"parameters {list(zip(names, shapes, strict=False))}); this run's model has "
            f"{width} ({own}): the file is stale or from another run; train again")
    return traj, names, shapes
