"""The ``gradwise`` command line: ``gradwise train`` and the lab's subcommands.

``gradwise train [CONFIG.toml] [--set key=value ...] [--out DIR] [--overwrite] [--quiet |
--verbose]`` trains the embedded default (the lecture's spiral) or a config file and writes a run
folder; ``gradwise train --resume RUN_DIR`` continues an interrupted or killed run.

Exit status: 0 success; 2 an expected error (a :class:`gradwise.errors.GradwiseError`: bad
config, data, checkpoint or run folder, or an operating-system error such as a full disk),
printed as one line; 3 the training loss diverged (``gradwise train``); 130 / 143 interrupted
by SIGINT / SIGTERM. Any other exception is a bug in gradwise and keeps its traceback.
``gradwise export RUN_DIR --format onnx [--out FILE]`` writes a run's model as ONNX.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from . import sweep
from .lab import commands as lab_commands
from .playground import command as playground_command

__all__ = ["build_parser", "main"]


def _train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .errors import RunError
    from .jobs.train import print_summary
    from .jobs.train import run as train
    from .training.config import ConfigWarning, load_config
    from .training.run import exit_status

    if args.resume is not None:
        if args.config is not None or args.set or args.out is not None or args.overwrite:
            raise RunError("--resume RUN_DIR continues a run with its own config.toml; it "
                           "takes no CONFIG, --set, --out or --overwrite")
        run_dir = Path(args.resume).expanduser()
        if not (run_dir / "config.toml").is_file():
            raise RunError(f"nothing to resume: {run_dir} is not a gradwise run folder (it "
                           "has no config.toml)")
        config = load_config(run_dir / "config.toml")
        out: Path | str | None = run_dir
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConfigWarning)
            config = load_config(args.config, args.set)
        for w in caught:
            print(f"gradwise train: warning: {w.message}", file=sys.stderr)
        out = args.out
    verbose = 0 if args.quiet else 2 if args.verbose else None
    run_dir, summary = train(config, out=out, verbose=verbose,
                             resume=args.resume is not None, overwrite=args.overwrite)
    print_summary(run_dir, summary)
    return exit_status(summary)


def _export(args: argparse.Namespace) -> int:
    from .errors import GradwiseError
    from .interop.onnx import export
    from .training.run import load_run

    run = load_run(args.run_dir)
    out = args.out or f"{run.path}/model.onnx"
    try:
        export(run.model, run.X_train[:1], out)
    except ImportError as exc:  # the onnx extra is not installed: say what to install
        raise GradwiseError(str(exc)) from None
    print(f"wrote {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gradwise",
        description="Train dense networks and look at what training does.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    train = sub.add_parser(
        "train", help="train a model from a TOML config (default: the spiral)",
        description="Train a model from a TOML config and write a run folder (config.toml, "
                    "history.csv, summary.json, model.safetensors, checkpoint.safetensors, "
                    "trajectory.safetensors, loss.png, boundary.png). Without CONFIG it trains "
                    "the embedded default: a small ReLU network with dropout on the two-arm "
                    "spiral, Adam, early stopping.",
    )
    train.add_argument("config", nargs="?", help="TOML config file (default: the embedded "
                       "spiral config; see examples/)")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key, e.g. --set training.epochs=5 "
                       "--set model.hidden=[32,32] (values are read as TOML)")
    train.add_argument("--out", metavar="DIR", help="run folder (default: runs/<timestamp>); "
                       "a folder holding another run is refused unless --overwrite")
    train.add_argument("--overwrite", action="store_true",
                       help="remove the run already in --out (its files only) and start afresh")
    train.add_argument("--resume", metavar="RUN_DIR",
                       help="continue the run in RUN_DIR from its checkpoint (bit for bit the "
                       "result of a run never stopped)")
    noise = train.add_mutually_exclusive_group()
    noise.add_argument("--quiet", action="store_true", help="no progress, only the summary")
    noise.add_argument("--verbose", action="store_true", help="one line per epoch")
    train.set_defaults(func=_train)
    export = sub.add_parser("export", help="export a run's model (ONNX)",
                            description="Write a run folder's model as an ONNX file with a "
                                        "dynamic batch dimension (needs the onnx extra).")
    export.add_argument("run_dir", metavar="RUN_DIR", help="a run folder of gradwise train")
    export.add_argument("--format", choices=["onnx"], default="onnx", help="file format")
    export.add_argument("--out", metavar="FILE", help="default: RUN_DIR/model.onnx")
    export.set_defaults(func=_export)
    lab_commands.register(sub)
    playground_command.register(sub)
    sweep.register(sub)
    return parser



def _os_error(exc: OSError) -> str:
    """One line for an operating-system error: what failed, on which file."""
    if exc.strerror is None:  # raised with a message of its own
        return str(exc)
    what = exc.strerror
    names = [n for n in (exc.filename, exc.filename2) if n is not None]
    return f"{what}: {' -> '.join(str(n) for n in names)}" if names else f"{what} ({exc})"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gradwise`` script; returns the exit status (see the module's
    docstring)."""
    from .distributed import AgreedError
    from .errors import GradwiseError

    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        return int(args.func(args))
    except GradwiseError as exc:
        return _error(argv, str(exc), agreed=isinstance(exc, AgreedError))
    except OSError as exc:
        return _error(argv, _os_error(exc))
    except MemoryError:
        return _error(argv, "out of memory; use a smaller model, batch or data set")
    except KeyboardInterrupt:
        print(f"gradwise {_command(argv)}: interrupted", file=sys.stderr, flush=True)
        _abort_job(130)
        return 130
    except Exception:  # a bug: its traceback, and under MPI no rank left waiting for this one
        _abort_job(1, traceback=True)
        raise


def _error(argv: Sequence[str] | None, message: str, agreed: bool = False) -> int:
    """Print one error line and return exit status 2. Under MPI an error that every rank
    raised together is printed by rank 0 alone; an error of this rank alone is printed with
    its rank and ends the whole job (``MPI_Abort``), so that no rank waits for it forever."""
    from . import distributed

    w = distributed.job()
    if w is None or agreed:
        if w is None or w.rank == 0:
            print(f"gradwise {_command(argv)}: error: {message}", file=sys.stderr)
        return 2
    print(f"gradwise {_command(argv)}: error: rank {w.rank}: {message}", file=sys.stderr,
          flush=True)
    distributed.abort(2)
    return 2


def _abort_job(code: int, traceback: bool = False) -> None:
    from . import distributed

    if distributed.job() is not None:
        if traceback:
            import traceback as tb

            tb.print_exc()
            sys.stderr.flush()
        distributed.abort(code)


def _command(argv: Sequence[str] | None) -> str:
    args = list(sys.argv[1:] if argv is None else argv)
    return next((a for a in args if not a.startswith("-")), "")


if __name__ == "__main__":
    sys.exit(main())
