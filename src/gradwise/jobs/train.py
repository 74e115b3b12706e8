"""The ``gradwise train`` job: a training run (:func:`gradwise.training.run.train`) and, with
matplotlib, its figures: ``loss.png`` (the learning curves) and, for 2D binary classification,
``boundary.png`` (the decision boundary over the training and held-out points)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..nn import Module
from ..training.run import Splits, print_summary, train

__all__ = ["draw_figures", "print_summary", "run"]


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


def run(config: dict[str, Any], out: str | Path | None = None, verbose: int | None = None,
        resume: bool = False, overwrite: bool = False) -> tuple[Path, dict[str, Any]]:
    """``gradwise train``: train a validated ``config`` into a run folder (see
    :func:`gradwise.training.run.train` for ``resume`` and ``overwrite``) and draw its figures;
    return the folder and the summary."""
    return train(config, out=out, verbose=verbose, resume=resume, overwrite=overwrite,
                 figures=draw_figures)
