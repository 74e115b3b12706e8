"""The lab's subcommands of the ``gradwise`` command line: ``landscape``, ``race``, ``lr-find``
and ``report``. :func:`register` adds them to the parser that ``gradwise.cli`` builds; each
handler takes the parsed arguments and returns the exit status. Heavy imports (matplotlib, the
figure modules) happen inside the handlers."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["register"]


def _int_at_least(low: int) -> Any:
    """An argparse type: an integer >= ``low`` (a clear usage error otherwise)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is below the minimum {low}")
        return value
    return parse


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{value} is not finite")
    return value


def _positive_float(text: str) -> float:
    value = _finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not a finite number > 0")
    return value


def _name_rate(text: str) -> tuple[str, float]:
    name, sep, rate = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=RATE, e.g. Adam=0.05")
    return name.strip(), _positive_float(rate)


def _landscape(args: argparse.Namespace) -> int:
    from ..distributed import is_root
    from .landscape_run import run_landscape

    span = None if args.span is None else tuple(args.span)
    if span is not None and not (span[0] < span[1] and span[2] < span[3]):
        raise ConfigError(f"--span {' '.join(f'{v:g}' for v in span)}: expected XMIN < XMAX "
                          "and YMIN < YMAX")
    run_landscape(args.run_dir, directions=args.directions, resolution=args.resolution,
                  span=span, include_bias=args.include_bias, seed=args.seed,
                  workers=args.workers, log=print if is_root() else lambda s: None)
    return 0


def _race(args: argparse.Namespace) -> int:
    import time

    from .files import save_figure
    from .race import SURFACES, plot_race, run_race, save_race_gif

    out = Path(args.out).expanduser() if args.out else (args.run_dir or Path()) / "race"
    out.mkdir(parents=True, exist_ok=True)
    lr = dict(args.lr)
    for name in SURFACES if args.surface == "all" else [args.surface]:
        t0 = time.perf_counter()
        try:
            paths = run_race(name, steps=args.steps, optimizers=args.optimizers, lr=lr,
                             equal_lr=args.equal_lr)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        save_figure(plot_race(paths, name, lr=lr, equal_lr=args.equal_lr),
                    out / f"race_{name}.png")
        if not args.no_gif:
            save_race_gif(paths, name, out / f"race_{name}.gif", frames=args.frames,
                          lr=lr, equal_lr=args.equal_lr)
        print(f"{name}: {out / f'race_{name}.png'}"
              + ("" if args.no_gif else f", {out / f'race_{name}.gif'}")
              + f" ({time.perf_counter() - t0:.1f} s)")
    return 0


def _lr_find(args: argparse.Namespace) -> int:
    from .files import save_figure
    from .lr import lr_range_test, plot_lr_range_test
    from .run_setup import fresh_setup

    if not args.min_lr < args.max_lr:
        raise ConfigError(f"--min-lr {args.min_lr:g} must be below --max-lr {args.max_lr:g}")
    setup = fresh_setup(args.source, args.set)
    import numpy as np

    with np.errstate(over="ignore", invalid="ignore"):  # the test drives the loss to diverge
        result = lr_range_test(setup.model, setup.loss, setup.X, setup.y,
                               optimizer=setup.optimizer, min_lr=args.min_lr,
                               max_lr=args.max_lr, steps=args.steps,
                               batch_size=setup.batch_size, seed=setup.seed, **setup.hyper)
    out = Path(args.out).expanduser() if args.out else setup.folder / "lr_find.png"
    save_figure(plot_lr_range_test(
        result, title=f"Learning-rate range test (Smith 2017), {setup.optimizer}",
        current_lr=setup.lr), out)
    print(f"suggested learning rate for {setup.optimizer}: {result.suggestion:.3g} "
          f"(a tenth of {result.minimum:.3g}, where the smoothed loss is lowest; the config "
          f"uses {setup.lr:.3g}; tried {len(result.lrs)} rates from {result.lrs[0]:.2g} to "
          f"{result.lrs[-1]:.2g})")
    print(f"train with it: gradwise train --set optimizer.lr={result.suggestion:.3g}")
    print(f"figure: {out}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from .report import write_report

    path = write_report(args.run_dir, None if args.out is None else Path(args.out).expanduser())
    print(f"report: {path}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``landscape``, ``race``, ``lr-find`` and ``report`` to ``gradwise``'s subcommands."""
    p = subparsers.add_parser(
        "landscape", help="loss landscape of a trained run (Li et al. 2018)",
        description="Evaluate the loss and accuracy of a run's model around its final weights "
                    "and write RUN_DIR/landscape/: 1D interpolation from the initial to the "
                    "final weights, 1D and 2D plots along filter-normalized random directions, "
                    "and a 2D plot along the PCA directions of the training trajectory (NPZ "
                    "data, contour, filled-contour and 3D figures). An interrupted run resumes.")
    p.add_argument("run_dir", type=Path, help="a run folder written by `gradwise train`")
    p.add_argument("--directions", choices=("random", "pca", "both"), default="both",
                   help="which 2D planes to evaluate (default: both)")
    p.add_argument("--resolution", type=_int_at_least(2), default=51,
                   help="grid points per axis, at least 2 (51)")
    p.add_argument("--span", type=_finite_float, nargs=4, metavar=("XMIN", "XMAX", "YMIN", "YMAX"),
                   help="grid range (default: [-1, 1]^2 for random directions; the "
                        "trajectory's extent plus a margin for PCA directions)")
    p.add_argument("--include-bias", action="store_true",
                   help="move the biases too (direction = the biases, as Li et al.'s net_plotter); "
                        "default: zero bias direction")
    p.add_argument("--seed", type=int, default=0, help="seed of the random directions (0)")
    p.add_argument("--workers", type=_int_at_least(1), default=None,
                   help="threads evaluating grid rows, each with a one-thread BLAS "
                        "(default: one per core)")
    p.set_defaults(func=_landscape)

    p = subparsers.add_parser(
        "race", help="optimizer race on 2D test surfaces, with GIF",
        description="Race SGD, momentum, Nesterov, Adagrad, Adadelta, RMSprop and Adam (the "
                    "gw.optim classes) from one start on the Beale, Rosenbrock, saddle and "
                    "ill-conditioned quadratic surfaces; write a PNG and an animated GIF each.")
    p.add_argument("run_dir", nargs="?", type=Path,
                   help="a run folder: figures go to RUN_DIR/race/ and into its report")
    p.add_argument("--surface", choices=("all", "beale", "rosenbrock", "saddle", "quadratic"),
                   default="all")
    p.add_argument("--steps", type=_int_at_least(1), default=None,
                   help="iterations (default: per surface, 100 to 2000)")
    p.add_argument("--frames", type=_int_at_least(1), default=60, help="frames per GIF (60)")
    p.add_argument("--no-gif", action="store_true", help="PNG figures only")
    p.add_argument("--equal-lr", type=float, default=None, metavar="LR",
                   help="one learning rate for every optimizer (default: each its own tuned "
                        "rate, shown in the legend)")
    p.add_argument("--optimizers", type=lambda t: [n.strip() for n in t.split(",")],
                   default=None, metavar="A,B,...",
                   help="the racers: variants (SGD, Momentum, Nesterov, Adagrad, Adadelta, "
                        "RMSprop, Adam; the default) or names in optim.OPTIMIZERS")
    p.add_argument("--lr", type=_name_rate, action="append", default=[], metavar="NAME=RATE",
                   help="a racer's learning rate (repeatable); needed by an optimizer "
                        "without a tuned rate unless --equal-lr")
    p.add_argument("--out", help="output folder (default: RUN_DIR/race or ./race)")
    p.set_defaults(func=_race)

    p = subparsers.add_parser(
        "lr-find", help="learning-rate range test (Smith 2017) with a suggestion",
        description="Train the config's model from its initialization with a learning rate "
                    "growing geometrically every mini-batch, draw loss against learning rate "
                    "and suggest a tenth of the rate where the smoothed loss is lowest (the "
                    "edge of stability); the config's current rate is marked on the figure.")
    p.add_argument("source", nargs="?",
                   help="a run folder, a TOML config, or nothing for the default spiral config")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, as in `gradwise train`")
    p.add_argument("--min-lr", type=_positive_float, default=1e-6)
    p.add_argument("--max-lr", type=_positive_float, default=10.0)
    p.add_argument("--steps", type=_int_at_least(10), default=300,
                   help="mini-batch steps (300; at least 10)")
    p.add_argument("--out", help="figure path (default: RUN_DIR/lr_find.png or ./lr_find.png)")
    p.set_defaults(func=_lr_find)

    p = subparsers.add_parser(
        "report", help="one self-contained HTML page for a run",
        description="Write RUN_DIR/report.html: the summary, the training curves, the decision "
                    "boundary and, when computed, the loss landscape and optimizer race, with "
                    "every figure embedded (no other file needed).")
    p.add_argument("run_dir", type=Path, help="a run folder written by `gradwise train`")
    p.add_argument("--out", help="HTML path (default: RUN_DIR/report.html)")
    p.set_defaults(func=_report)
