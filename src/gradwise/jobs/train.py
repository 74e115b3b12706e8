"""The ``gradwise train`` job: a training run (:func:`gradwise.training.run.train`), what it
prints (the data and model before training, the closing report after) and, with matplotlib,
its figures: ``loss.png`` (the learning curves) and, for 2D binary classification,
``boundary.png`` (the decision boundary over the training and held-out points)."""

from __future__ import annotations

import shlex
import sys
import warnings
from pathlib import Path
from typing import Any

from .. import distributed
from ..nn import Module
from ..training.assemble import Experiment
from ..training.config import ConfigWarning
from ..training.progress import format_logs
from ..training.run import FILES, Splits, divergence_line, train

__all__ = ["LAB_OUTPUTS", "draw_figures", "print_start", "print_summary", "run"]

#: What the lab writes into a run folder (``gradwise landscape``, ``race``, ``lr-find`` and
#: ``report``): ``--overwrite`` removes these too, where the folder held a run.
LAB_OUTPUTS = ("landscape", "race", "lr_find.png", "report.html")


def draw_figures(out: Path, history: Any, es: Any, model: Module | None, splits: Splits,
                 diverged_at: int | None = None) -> None:
    """Write the run's figures into ``out`` (nothing without matplotlib): the learning curves
    (for a diverged run, the epochs it had and where it diverged, with no best-epoch marks) and,
    when weights were kept, the decision boundary. Figures are built without pyplot, so the
    caller's matplotlib backend is left alone."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    from .. import lab
    from ..lab.files import save_figure

    def loss_figure() -> Any:
        if diverged_at is None:
            return lab.plot_history(history, early_stopping=es)
        return lab.plot_history(history, diverged_at=diverged_at,
                                title=f"Training curves: diverged at epoch {diverged_at}")

    figures = [("loss.png", loss_figure)] if history.epoch else []
    if model is not None and splits.X_train.shape[1] == 2 and splits.task == "binary":
        held_out, label = (splits.X_test, splits.y_test), "test"
        if splits.X_test is None:
            held_out, label = (splits.X_val, splits.y_val), "validation"
        figures.append(("boundary.png", lambda: lab.plot_decision_boundary(
            model, splits.X_train, splits.y_train, *held_out, test_label=label)))
    for name, draw in figures:
        save_figure(draw(), out / name, dpi=120)


def print_start(exp: Experiment, run_dir: Path, resumed_epoch: int | None) -> None:
    """The opening lines of ``gradwise train``: the data, the model and, on resume, where."""
    splits, config = exp.splits, exp.config
    hyper = {k: v for k, v in config["optimizer"].items() if k != "name"}
    sizes = "-".join(str(s) for s in [splits.X_train.shape[1], *config["model"]["hidden"],
                                       splits.n_outputs])
    n_val = 0 if splits.X_val is None else len(splits.X_val)
    print(f"data: {splits.description}: {len(splits.X_train)} training, {n_val} validation"
          + ("" if splits.X_test is None else f", {len(splits.X_test)} test") + " samples")
    print(f"model: {sizes} {config['model']['activation']} MLP, dropout "
          f"{config['model']['dropout']}, {exp.model.num_parameters()} parameters; loss "
          f"{type(exp.loss).__name__}; optimizer {type(exp.optimizer).__name__}({hyper})")
    if resumed_epoch is not None:
        print(f"resuming {run_dir} after epoch {resumed_epoch}")


def print_summary(run_dir: Path, summary: dict[str, Any]) -> None:
    """The closing report of ``gradwise train``: what happened and where the files are (on
    rank 0 only under MPI)."""
    if not distributed.is_root():
        return
    status = summary.get("status", "completed")
    if status == "diverged":
        stop = "stopped: the loss diverged"
    elif status == "interrupted":
        stop = f"interrupted by {summary.get('signal', 'a signal')}"
    elif summary["stopped_early"]:
        stop = "stopped early: no improvement of " + summary["monitor"]
    else:
        stop = "ran every epoch"
    print(f"\nepochs run: {summary['epochs_run']} of {summary['epochs_max']} ({stop})")
    if summary.get("best_epoch") is not None and status == "completed":
        best = format_logs(summary["best"])
        restored = ", weights restored" if summary["restored_best_weights"] else ""
        print(f"best epoch: {summary['best_epoch']} ({best}){restored}")
    for name, logs in summary["saved_model"].items():
        print(f"saved model on {name}: {format_logs(logs)}")
    print(f"wall time: {summary['wall_time_s']:.1f} s")
    print(f"run folder: {run_dir}")
    for name, what in FILES.items():
        if (run_dir / name).exists():
            print(f"  {name:<24} {what}")
    if status == "interrupted":
        kept = summary.get("weights_epoch")
        if kept is None:
            print("interrupted before the first epoch ended: nothing was kept; start again "
                  f"with: gradwise train --out {shlex.quote(str(run_dir))} --overwrite ...")
        else:
            print(f"interrupted: the checkpoint and model.safetensors hold epoch {kept}; the "
                  "steps after it were not kept. Resume with: gradwise train --resume "
                  f"{shlex.quote(str(run_dir))}")
    if status == "diverged":
        print(divergence_line(summary), file=sys.stderr)


def _one_line(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
    print(f"gradwise train: warning: {message}", file=sys.stderr, flush=True)


def run(config: dict[str, Any], out: str | Path | None = None, verbose: int | None = None,
        resume: bool = False, overwrite: bool = False) -> tuple[Path, dict[str, Any]]:
    """``gradwise train``: train a validated ``config`` into a run folder (see
    :func:`gradwise.training.run.train` for ``resume`` and ``overwrite``; ``--overwrite`` also
    removes :data:`LAB_OUTPUTS` of the run it replaces), print what it trains and draw its
    figures; return the folder and the summary. A warning about the run is one line on
    stderr."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", ConfigWarning)
        warnings.showwarning = _one_line
        return train(config, out=out, verbose=verbose, resume=resume, overwrite=overwrite,
                     figures=draw_figures, started=print_start, outputs=LAB_OUTPUTS)
