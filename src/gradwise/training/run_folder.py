"""A run folder on disk: what the train job writes there (:data:`FILES`), the checks made
before anything is changed (:func:`check_run_dir`, :func:`check_resumable`), its creation and
``--overwrite``'s clean-up (:func:`prepare_run_dir`), and the weights a stopped run keeps
(:func:`kept_weights`).

``--overwrite`` removes the entries the train job writes and, only in a folder that held a
run, the entries other tools write into a run folder (``outputs``, e.g. the lab's figures,
named by the caller): a user's folder that merely shares one of those names is left alone.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from .. import nn
from ..errors import CheckpointError, RunError
from .checkpoint import check_optimizer_config, read_checkpoint

__all__ = ["FILES", "RUN_ENTRIES", "check_resumable", "check_run_dir", "default_run_dir",
           "holds_run", "kept_weights", "prepare_run_dir", "read_resume_state"]

FILES = {
    "config.toml": "the resolved configuration (rerun with `gradwise train config.toml`)",
    "history.csv": "loss, metrics, val_* and lr after every epoch",
    "summary.json": "status, final and best metrics, best epoch, early stopping, wall time",
    "model.safetensors": "the final weights (gw.load, or safetensors in PyTorch)",
    "checkpoint.safetensors": "last completed epoch (gradwise train --resume RUN_DIR)",
    "trajectory.safetensors": "parameters after epochs of the run (gradwise landscape "
                              "RUN_DIR)",
    "loss.png": "loss and metric curves",
    "boundary.png": "decision boundary with the training and held-out points",
}
#: What the train job writes into a run folder: its files and its snapshot folder.
RUN_ENTRIES = (*FILES, "trajectory")
# a folder held a run when it has a config.toml and one of these (written only by a run)
_RUN_MARKS = ("summary.json", "checkpoint.safetensors", "history.csv", "model.safetensors",
              "trajectory.safetensors")


def default_run_dir() -> Path:
    """``runs/YYYYmmdd-HHMMSS`` (with ``-2``, ``-3``, ... when it exists)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path("runs") / stamp
    k = 1
    while path.exists():
        k += 1
        path = Path("runs") / f"{stamp}-{k}"
    return path


def holds_run(path: Path) -> bool:
    """Whether ``path`` holds (or held) a run: a ``config.toml`` and a file only a run
    writes."""
    return (path / "config.toml").is_file() and any((path / n).exists() for n in _RUN_MARKS)


def _temp_files(folder: Path) -> list[Path]:
    """Temporary files that an interrupted atomic write left in ``folder``."""
    return [p for p in folder.glob(".*.tmp*") if p.is_file()]


def _entries(path: Path, outputs: Sequence[str]) -> tuple[str, ...]:
    return (*RUN_ENTRIES, *outputs) if holds_run(path) else RUN_ENTRIES


def check_run_dir(path: Path, resume: bool, overwrite: bool, outputs: Sequence[str] = ()
                  ) -> None:
    """Refuse a folder that cannot take this run; change nothing."""
    if path.exists() and not path.is_dir():
        raise RunError(f"--out {path} is a file, not a folder; choose a folder for the run")
    if resume:
        if not (path / "checkpoint.safetensors").is_file():
            raise RunError(f"nothing to resume in {path}: it has no checkpoint.safetensors "
                           "(the run stopped before its first epoch ended); start it again "
                           "with --overwrite")
        return
    if not path.exists() or overwrite:
        return
    names = _entries(path, outputs)
    ours = sorted(p.name for p in path.iterdir() if p.name in names)
    if ours:
        raise RunError(f"{path} holds another run ({', '.join(ours[:3])}"
                       f"{', ...' if len(ours) > 3 else ''}); pass --resume to continue it, "
                       "--overwrite to replace it, or choose another --out")


def prepare_run_dir(path: Path, resume: bool, overwrite: bool, outputs: Sequence[str] = ()
                    ) -> bool:
    """Create the folder; with ``overwrite`` remove the old run's entries (and only those:
    ``outputs`` only where the folder held a run), always the temporary files of interrupted
    writes. Return whether the folder was created now."""
    created = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"cannot create the run folder {path}: {exc.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise RunError(f"cannot write into the run folder {path}: permission denied")
    if overwrite and not resume:
        for name in _entries(path, outputs):
            p = path / name
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            elif p.exists() or p.is_symlink():
                p.unlink()
    for p in _temp_files(path) + _temp_files(path / "trajectory"):
        p.unlink(missing_ok=True)
    return created


def remove_new_run(path: Path, created: bool) -> None:
    """Undo a fresh run that failed before it finished: remove what the train job wrote (and
    the folder when this run created it and nothing else is in it), so that the corrected
    rerun finds no other run there."""
    for name in RUN_ENTRIES:
        p = path / name
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists() or p.is_symlink():
            p.unlink(missing_ok=True)
    for p in _temp_files(path):
        p.unlink(missing_ok=True)
    if created:
        try:
            path.rmdir()
        except OSError:
            pass


def read_resume_state(path: Path, optimizer: Any) -> dict[str, Any]:
    """The checkpoint's state after checking that this run's optimizer is the one it was
    written with (class and hyperparameters): resuming into another mixes states."""
    _, state = read_checkpoint(path)
    if not isinstance(state, dict) or not isinstance(state.get("epoch"), int):
        raise CheckpointError(f"{path}: field 'epoch' is missing or not an integer")
    check_optimizer_config(path, state.get("optimizer_config"), optimizer)
    return state


def check_resumable(run_dir: Path) -> None:
    """Refuse to resume a run whose summary says it completed or diverged."""
    path = run_dir / "summary.json"
    if not path.is_file():
        return  # killed: no summary, the checkpoint says where it was
    try:
        status = json.loads(path.read_text()).get("status")
    except (ValueError, AttributeError):
        return
    if status == "completed":
        raise RunError(f"{run_dir} holds a completed run; nothing to resume")
    if status == "diverged":
        raise RunError(f"{run_dir} holds a run that diverged; resuming it would diverge "
                       "again: start a new run with a lower learning rate")


def kept_weights(run_dir: Path, model: nn.Module) -> int | None:
    """Load the checkpoint's weights (the last completed epoch) into ``model`` when they are
    all finite; return that epoch, or None (nothing finite to keep)."""
    ckpt = run_dir / "checkpoint.safetensors"
    if not ckpt.exists():
        return None
    params, state = read_checkpoint(ckpt)
    if not all(np.all(np.isfinite(v)) for v in params.values()):
        return None
    model.load_state_dict(params)
    return int(state["epoch"])
