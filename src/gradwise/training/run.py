"""A training run from a config: the experiment (:func:`~gradwise.training.assemble.
assemble`), ``fit``, and a run folder that explains itself; and :func:`load_run`, which
rebuilds a finished run from its folder. The ``gradwise train`` job (:mod:`gradwise.jobs.train`)
runs this, prints and draws the figures.

A run folder holds ``config.toml`` (the resolved config), ``history.csv`` (one row per epoch),
``summary.json`` (final and best metrics, best epoch, epochs run, whether training stopped
early, wall time, the saved model's metrics on every split, and ``status``: ``completed``,
``diverged`` or ``interrupted``; strict JSON, non-finite numbers as null), ``model.safetensors``
(the final weights, after early stopping restored the best ones; for a diverged run the last
finite ones, or no file), ``checkpoint.safetensors`` (the last completed epoch, the source of
truth for ``gradwise train --resume``), ``trajectory.safetensors`` (the flattened parameters
of at most ``training.trajectory`` epochs spread over the run, row 0 the initial weights, the
epochs in its ``epochs`` metadata) and, with matplotlib, ``loss.png`` and ``boundary.png`` (2D
classification data). An interrupted run also keeps ``trajectory/``, the snapshots streamed
to disk during training, for its resume.

The parts live in their own modules: the data (:mod:`.prepare`), the assembly
(:mod:`.assemble`), the folder (:mod:`.run_folder`), the guard against divergence and signals
(:mod:`.guard`), the trajectory (:mod:`.trajectory`) and the summary (:mod:`.summary`); their
public names are importable from here too.
"""

from __future__ import annotations

import json
import shutil
import signal
import tempfile
import time
import tomllib
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from .. import distributed, nn
from ..errors import RunError
from ..io import write_atomic
from .assemble import Experiment, assemble, build_model, loss_and_metrics, regularizer
from .callbacks import CSVLogger
from .checkpoint import load, read_checkpoint, read_safetensors, save
from .config import ConfigWarning, dumps, validate
from .guard import Guard, guard_for, signals
from .history_csv import read_history, write_history
from .prepare import Splits, check_labels, prepare_data
from .run_folder import (
    FILES,
    RUN_ENTRIES,
    check_resumable,
    check_run_dir,
    default_run_dir,
    kept_weights,
    prepare_run_dir,
    read_resume_state,
    remove_new_run,
)
from .summary import EXIT_DIVERGED, Status, clean, divergence_line, exit_status, summarize
from .trajectory import MAX_SNAPSHOTS, Trajectory, size_warning

__all__ = ["EXIT_DIVERGED", "FILES", "MAX_SNAPSHOTS", "RUN_ENTRIES", "Figures", "Outcome",
           "Run", "Splits", "Started", "Status", "build_model", "check_labels",
           "divergence_line", "exit_status", "load_run", "loss_and_metrics", "prepare_data",
           "regularizer", "train"]

#: ``figures(run_dir, history, early_stopping, model, splits, diverged_at)``, see :func:`train`
Figures = Callable[[Path, Any, Any, "nn.Module | None", Splits, "int | None"], None]
#: ``started(experiment, run_dir, resumed_epoch)``, called before training, see :func:`train`
Started = Callable[[Experiment, Path, "int | None"], None]


@dataclass
class Outcome:
    """How a run ended and what it kept: ``kept`` is the epoch whose weights
    ``model.safetensors`` holds before early stopping's restore (None: no finite weights);
    ``diverged`` where the loss became non-finite; ``signal`` the signal that stopped it."""

    status: Status
    kept: int | None
    diverged: dict[str, Any] | None = None
    signal: int | None = None


def _stopped_early(state: dict[str, Any]) -> bool:
    """Whether a checkpoint's early stopping had already stopped the run (killed before its
    summary was written: the run is finished, nothing is left to train)."""
    return any(c.get("class") == "EarlyStopping" and (c.get("state") or {}).get(
        "stopped_epoch", 0) > 0 for c in state.get("callbacks", []))


def _settle(guard: Guard, history: Any, model: nn.Module, run_dir: Path) -> Outcome:
    """The outcome of a run whose ``fit`` returned: for a diverged or interrupted run, the
    checkpoint and ``history.csv`` are put back to the last completed finite epoch and its
    weights loaded into ``model``."""
    ckpt = run_dir / "checkpoint.safetensors"
    if guard.diverged is None and guard.signal is None:
        return Outcome(Status.COMPLETED, history.epoch[-1] + 1 if history.epoch else 0)
    if guard.diverged is not None:  # the loop may have checkpointed the diverged epoch
        if guard.last_finite is None:
            ckpt.unlink(missing_ok=True)
        else:
            write_atomic(ckpt, guard.last_finite)
        return Outcome(Status.DIVERGED, kept_weights(run_dir, model), guard.diverged,
                       guard.signal)
    kept = kept_weights(run_dir, model)
    kept_history = (read_checkpoint(ckpt)[1]["history"] if ckpt.exists()
                    else {"history": {}, "epoch": []})
    write_history(run_dir / "history.csv", kept_history)  # the epochs the checkpoint holds
    history.load_state_dict(kept_history)
    return Outcome(Status.INTERRUPTED, kept, None, guard.signal)


def _summary(outcome: Outcome, exp: Experiment, history: Any, start: float) -> dict[str, Any]:
    completed = outcome.status is Status.COMPLETED
    summary = summarize(history, exp.early_stopping if completed else None, exp.model,
                        exp.loss, exp.metrics, exp.splits, exp.config["training"],
                        evaluate_model=outcome.kept is not None,
                        upto=None if completed else outcome.kept or 0)
    summary["status"] = outcome.status.value
    kept = outcome.kept
    if completed and summary["restored_best_weights"]:
        kept = summary["best_epoch"]
    summary["weights_epoch"] = kept
    if outcome.diverged is not None:
        summary["diverged"] = outcome.diverged
    if outcome.signal is not None:
        summary["signal"] = signal.Signals(outcome.signal).name
    summary["wall_time_s"] = round(time.perf_counter() - start, 3)
    return clean(summary)


def train(config: dict[str, Any], out: str | Path | None = None,
          verbose: int | None = None, resume: bool = False, overwrite: bool = False,
          figures: Figures | None = None, started: Started | None = None,
          outputs: Sequence[str] = ()) -> tuple[Path, dict[str, Any]]:
    """Run the training job of a validated ``config`` (never changed: ``config.toml`` is
    ``config`` as given); return the run folder and the summary. ``verbose`` overrides
    ``training.verbose`` for this run.

    Everything (data, model size, model, device, optimizer, loss against the data, callbacks,
    the folder) is checked before the folder is created or changed. A folder holding another
    run is refused unless ``resume`` (continue it from its checkpoint, bit for bit as if never
    stopped; a run killed after its last epoch's checkpoint is finished without training on)
    or ``overwrite`` (remove the old run's entries first: the job's own, and ``outputs``, the
    names other tools write into a run folder, where the folder held a run).
    ``summary["status"]`` is ``"completed"``, ``"diverged"`` (a non-finite loss stopped
    training; the last finite weights, if any, are kept) or ``"interrupted"``
    (SIGINT/SIGTERM; the checkpoint holds the last completed epoch). A fresh run that fails
    before its first checkpoint leaves nothing behind. Raises
    :class:`~gradwise.errors.GradwiseError` subclasses; warns (``ConfigWarning``) about a
    trajectory larger than :data:`~gradwise.training.trajectory.WARN_BYTES`.

    ``started(experiment, run_dir, resumed_epoch)`` runs before training when ``verbose``
    (the job prints what it trains). ``figures(run_dir, history, early_stopping, model,
    splits, diverged_at)`` runs last (``gradwise train`` draws its figures there: see
    :mod:`gradwise.jobs.train`); ``early_stopping`` is None unless the run completed,
    ``model`` None when no finite weights were kept, ``diverged_at`` the epoch of a divergence
    or None.
    """
    start = time.perf_counter()
    root = distributed.is_root()  # under MPI, rank 0 prints and writes the run folder
    if verbose is None:
        verbose = config["training"]["verbose"]
    if not root:
        verbose = 0
    run_dir = Path(out).expanduser() if out is not None else default_run_dir()
    check_run_dir(run_dir, resume, overwrite, outputs)
    exp = assemble(config, verbose=verbose)
    tcfg = exp.config["training"]
    rows = tcfg.get("trajectory", MAX_SNAPSHOTS)
    line = size_warning(exp.model.num_parameters(), tcfg["epochs"], rows)
    if line is not None and root:
        warnings.warn(line, ConfigWarning, stacklevel=2)
    if not root:  # the other ranks write to a scratch folder, deleted at the end
        real_dir, run_dir = run_dir, Path(tempfile.mkdtemp(prefix="gradwise-rank"))
        if resume and (real_dir / "checkpoint.safetensors").is_file():
            shutil.copyfile(real_dir / "checkpoint.safetensors",
                            run_dir / "checkpoint.safetensors")
    ckpt = run_dir / "checkpoint.safetensors"
    resumed = read_resume_state(ckpt, exp.optimizer) if resume else None
    if resume:
        check_resumable(run_dir)
    epochs = tcfg["epochs"]
    if resumed is not None and (resumed["epoch"] >= epochs or _stopped_early(resumed)):
        epochs = resumed["epoch"]  # trained to its end, killed before its summary: finish it
    created = prepare_run_dir(run_dir, resume, overwrite, outputs)
    try:
        return _run(exp, config, run_dir, resumed, epochs, start, figures,
                    started if verbose else None, rows, root)
    except Exception:
        if not resume and not ckpt.exists():  # nothing resumable: leave nothing behind
            remove_new_run(run_dir, created)
        raise


def _run(exp: Experiment, config: dict[str, Any], run_dir: Path, resumed: dict[str, Any] | None,
         epochs: int, start: float, figures: Figures | None, started: Started | None,
         rows: int, root: bool) -> tuple[Path, dict[str, Any]]:
    """Train into a prepared run folder and write its outputs (see :func:`train`)."""
    ckpt = run_dir / "checkpoint.safetensors"
    if resumed is None:
        write_atomic(run_dir / "config.toml", dumps(config).encode())
        (run_dir / "history.csv").unlink(missing_ok=True)
    else:  # the checkpoint is the source of truth: history.csv is rebuilt from it
        write_history(run_dir / "history.csv", resumed["history"])
        (run_dir / "summary.json").unlink(missing_ok=True)
    guard = guard_for(exp.config["training"]["device"], exp.early_stopping, ckpt)
    trajectory = None if rows == 0 else Trajectory(
        run_dir / "trajectory", rows, None if resumed is None else int(resumed["epoch"]))
    callbacks = [guard, *exp.callbacks, CSVLogger(run_dir / "history.csv", append=True),
                 *([] if trajectory is None else [trajectory])]
    if started is not None:
        started(exp, run_dir, None if resumed is None else int(resumed["epoch"]))
    # the handlers stay until the run folder is complete: a signal while the summary and
    # figures are written lets them finish (a second one quits at once)
    with signals(guard):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            history = exp.fit(callbacks=callbacks, epochs=epochs, checkpoint_path=ckpt,
                              resume_from=None if resumed is None else ckpt)
        outcome = _settle(guard, history, exp.model, run_dir)
        if trajectory is not None:
            trajectory.assemble(run_dir / "trajectory.safetensors", outcome.kept or 0,
                                list(exp.model.named_parameters()))
        else:
            (run_dir / "trajectory.safetensors").unlink(missing_ok=True)
        if outcome.kept is None:
            (run_dir / "model.safetensors").unlink(missing_ok=True)
        else:
            save(exp.model, run_dir / "model.safetensors")
        summary = _summary(outcome, exp, history, start)
        if not root:  # the other ranks' files went to a scratch folder
            shutil.rmtree(run_dir, ignore_errors=True)
            return run_dir, summary
        # summary.json last but for the figures: a run killed before it is finished by
        # --resume from its checkpoint and snapshots
        write_atomic(run_dir / "summary.json",
                     (json.dumps(summary, indent=2, allow_nan=False) + "\n").encode())
        if outcome.status is not Status.INTERRUPTED:  # the snapshots stay only for --resume
            shutil.rmtree(run_dir / "trajectory", ignore_errors=True)
        if figures is not None:
            completed = outcome.status is Status.COMPLETED
            figures(run_dir, history, exp.early_stopping if completed else None,
                    None if outcome.kept is None else exp.model, exp.splits,
                    None if outcome.diverged is None else outcome.diverged["epoch"])
    return run_dir, summary


@dataclass
class Run(Splits):
    """A finished run rebuilt from its folder by :func:`load_run`: its data (as
    :class:`Splits`), config, model with the final weights, loss, history and trajectory
    (``(0, n_parameters)`` when the run kept none)."""

    path: Path
    config: dict[str, Any]
    model: nn.Module
    loss: nn.Module
    history: dict[str, list[float]]
    trajectory: np.ndarray
    param_names: list[str]
    param_shapes: list[tuple[int, ...]]
    summary: dict[str, Any]


def _trajectory(path: Path, model: nn.Module) -> tuple[np.ndarray, list[str],
                                                        list[tuple[int, ...]]]:
    named = list(model.named_parameters())
    if (path / "trajectory.safetensors").exists():
        tensors, meta = read_safetensors(path / "trajectory.safetensors")
        return (tensors["trajectory"], json.loads(meta["param_names"]),
                [tuple(s) for s in json.loads(meta["param_shapes"])])
    snaps = sorted(p for p in (path / "trajectory").glob("[0-9]*.npy") if p.stem.isdigit()) \
        if (path / "trajectory").is_dir() else []
    width = sum(int(np.prod(p.shape)) for _, p in named)
    rows = [np.load(p, allow_pickle=False) for p in snaps]
    return (np.stack(rows) if rows else np.zeros((0, width), np.float32),
            [n for n, _ in named], [tuple(p.shape) for _, p in named])


def load_run(run_dir: str | Path) -> Run:
    """Rebuild a run from its folder: the config, the model with its final weights, the loss,
    the data after the same splitting and standardization, the history and the trajectory.
    A run killed after its last checkpoint but before its summary (no ``model.safetensors``)
    gives the checkpoint's weights, the last completed epoch's (``gradwise train --resume``
    finishes it)."""
    path = Path(run_dir)
    try:
        with warnings.catch_warnings():  # the run's own config: warned about when it ran
            warnings.simplefilter("ignore", ConfigWarning)
            config = validate(tomllib.loads((path / "config.toml").read_text()))
    except FileNotFoundError:
        raise RunError(f"{path} is not a gradwise run folder: it has no config.toml"
                       ) from None
    exp = assemble(config, verbose=0)
    model = exp.model
    summary_path = path / "summary.json"
    if (path / "model.safetensors").exists():
        load(model, path / "model.safetensors")
    elif not summary_path.exists() and (path / "checkpoint.safetensors").exists():
        model.load_state_dict(read_checkpoint(path / "checkpoint.safetensors")[0])
    else:
        raise RunError(f"{path} holds no model.safetensors: the run kept no weights (it "
                       "diverged or stopped before its first epoch ended)")
    trajectory, names, shapes = _trajectory(path, model)
    return Run(
        **{f.name: getattr(exp.splits, f.name) for f in fields(exp.splits)},
        path=path, config=config, model=model.eval(), loss=exp.loss,
        history=read_history(path / "history.csv"),
        trajectory=trajectory, param_names=names, param_shapes=shapes,
        summary=json.loads(summary_path.read_text()) if summary_path.exists() else {},
    )
