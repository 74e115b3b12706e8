"""``gradwise landscape RUN_DIR``: every loss-landscape view of a finished run, written to
``RUN_DIR/landscape/`` as NPZ data and PNG figures (Li et al. 2018; Goodfellow et al. 2015)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import distributed
from ..io import write_atomic
from .files import save_figure, save_npz
from .landscape import (
    flat_parameters,
    interpolate,
    loss_along,
    loss_surface,
    pca_directions,
    random_directions,
)
from .landscape_plots import plot_landscape_1d, plot_landscape_2d, plot_surface_3d

__all__ = ["run_landscape"]


def _pca_span(coords: np.ndarray, margin: float = 0.25) -> tuple[float, float, float, float]:
    lo, hi = coords.min(axis=0), coords.max(axis=0)
    pad = np.maximum((hi - lo) * margin, 1e-3)
    return (lo[0] - pad[0], hi[0] + pad[0], lo[1] - pad[1], hi[1] + pad[1])


def run_landscape(run_dir: str | os.PathLike, directions: str = "both", resolution: int = 51,
                  span: Sequence[float] | None = None, include_bias: bool = False,
                  seed: int = 0, workers: int | None = None,
                  log: Callable[[str], None] = lambda s: None) -> dict[str, float]:
    """Compute and draw, for the run's saved model on its training data:

    - ``interpolation``: loss from the initial (a = 0) to the saved weights (a = 1);
    - ``random_1d`` and ``random_2d``: along filter-normalized Gaussian directions (``seed``),
      over ``span`` (default [-1, 1]^2) at ``resolution`` points per axis;
    - ``pca_2d``: along the first two PCA directions of the trajectory that led to the saved
      weights, the trajectory projected onto them (default span: its extent plus 25%).

    The 2D grids resume from their NPZ files if interrupted. Returns the seconds each part
    took (also written to ``landscape/timings.json``).
    """
    from ..training.run import load_run

    run = load_run(Path(run_dir))
    out = Path(run_dir) / "landscape"
    out.mkdir(exist_ok=True)
    model, loss, X, y = run.model, run.loss, run.X_train, run.y_train
    theta = flat_parameters(model)
    traj = np.asarray(run.trajectory)
    # The saved weights are the trajectory row they were taken from (the best epoch when early
    # stopping restored them); the path up to that row is the one that produced them.
    last = int(np.argmin(np.linalg.norm(traj - theta, axis=1)))
    traj = traj[:last + 1]
    n = len(X)
    timings: dict[str, float] = {}
    tag = f"{n} training samples, {theta.size} parameters"

    # Held-out curves for the 1D plots, as Li et al. draw test curves beside training ones.
    held: tuple[np.ndarray, np.ndarray, str] | None = None
    if run.X_test is not None and run.y_test is not None:
        held = (run.X_test, run.y_test, "test")
    elif run.X_val is not None and run.y_val is not None:
        held = (run.X_val, run.y_val, "validation")

    t0 = time.perf_counter()
    alphas = np.linspace(-0.5, 1.5, 41).round(12)
    li, ai = interpolate(model, loss, X, y, traj[0], theta, alphas, workers=workers)
    li_h = None if held is None else (*interpolate(model, loss, held[0], held[1], traj[0],
                                                   theta, alphas, workers=workers), held[2])
    timings["interpolation"] = time.perf_counter() - t0
    save_npz(out / "interpolation.npz", {"alpha": alphas, "loss": li, "accuracy": ai})
    save_figure(plot_landscape_1d(
        alphas, li, ai, xlabel="a in (1 - a) θ_initial + a θ_saved",
        title="Linear interpolation from the initial to the trained weights\n"
              "(Goodfellow et al. 2015)", marks={"initial": 0.0, "trained": 1.0},
        held_out=li_h),
        out / "interpolation.png")
    log(f"interpolation: {out / 'interpolation.png'} ({timings['interpolation']:.2f} s)")

    if directions in ("random", "both"):
        d = random_directions(model, seed=seed, include_bias=include_bias)
        sp = (-1.0, 1.0, -1.0, 1.0) if span is None else tuple(span)
        coords = np.linspace(sp[0], sp[1], resolution)
        t0 = time.perf_counter()
        l1, a1 = loss_along(model, loss, X, y, d[:1], coords[:, None], workers=workers)
        l1_h = None if held is None else (*loss_along(model, loss, held[0], held[1], d[:1],
                                                      coords[:, None], center=theta,
                                                      workers=workers), held[2])
        timings["random_1d"] = time.perf_counter() - t0
        save_npz(out / "random_1d.npz", {"coords": coords, "loss": l1, "accuracy": a1,
                                         "direction": d[0]})
        save_figure(plot_landscape_1d(
            coords, l1, a1, xlabel="step along a filter-normalized random direction",
            title=f"Loss along a random direction (Li et al. 2018)\n{tag}",
            marks={"trained": 0.0}, held_out=l1_h), out / "random_1d.png")
        t0 = time.perf_counter()
        land = loss_surface(model, loss, X, y, d, resolution, sp, center=theta,
                            path=out / "random_2d.npz", workers=workers)
        timings["random_2d"] = time.perf_counter() - t0
        labels: dict[str, Any] = {"xlabel": "filter-normalized random direction 1",
                  "ylabel": "filter-normalized random direction 2"}
        title = f"Loss landscape, random directions (Li et al. 2018)\n{tag}"
        save_figure(plot_landscape_2d(land, filled=True, title=title, **labels),
                    out / "random_2d_filled.png")
        save_figure(plot_landscape_2d(land, filled=False, title=title, **labels),
                    out / "random_2d_contour.png")
        save_figure(plot_surface_3d(land, title=title, xlabel="random direction 1",
                                    ylabel="random direction 2"), out / "random_2d_surface.png")
        log(f"random directions: {out / 'random_2d_filled.png'} and contour/surface "
            f"({resolution}x{resolution} grid in {timings['random_2d']:.2f} s)")

    if directions in ("pca", "both"):
        if len(traj) < 3:
            log(f"pca: skipped, the trajectory to the saved weights has {len(traj)} "
                "checkpoints and PCA directions need at least 3")
        else:
            dirs, ev, coords2 = pca_directions(traj)
            sp = _pca_span(coords2) if span is None else tuple(span)
            t0 = time.perf_counter()
            land = loss_surface(model, loss, X, y, dirs, resolution, sp, center=theta,
                                path=out / "pca_2d.npz", workers=workers,
                                extra={"explained_variance": ev, "trajectory": coords2})
            timings["pca_2d"] = time.perf_counter() - t0
            labels = {"xlabel": f"PCA direction 1 ({ev[0]:.1%} of variance)",
                      "ylabel": f"PCA direction 2 ({ev[1]:.1%} of variance)"}
            title = (f"Loss landscape along the training trajectory's PCA directions\n"
                     f"{len(traj)} checkpoints (epoch 0 to {len(traj) - 1}), {tag}")
            save_figure(plot_landscape_2d(land, filled=True, trajectory=coords2, title=title,
                                          equal_aspect=True, **labels), out / "pca_2d_filled.png")
            save_figure(plot_landscape_2d(land, filled=False, trajectory=coords2, title=title,
                                          equal_aspect=True, **labels),
                        out / "pca_2d_contour.png")
            on_plane, _ = loss_along(model, loss, X, y, dirs, coords2, center=theta,
                                     workers=workers)
            save_figure(plot_surface_3d(land, title=title, xlabel=f"PCA 1 ({ev[0]:.0%})",
                                        ylabel=f"PCA 2 ({ev[1]:.0%})", trajectory=coords2,
                                        trajectory_loss=on_plane),
                        out / "pca_2d_surface.png")
            log(f"pca directions: {out / 'pca_2d_filled.png'} and contour/surface "
                f"({resolution}x{resolution} grid in {timings['pca_2d']:.2f} s)")
    if distributed.is_root():
        write_atomic(out / "timings.json", (json.dumps(
            {k: round(v, 3) for k, v in timings.items()}, indent=2) + "\n").encode())
    return timings
