"""The ``gradwise`` command line: ``gradwise train`` and the lab's subcommands.

``gradwise train [CONFIG.toml] [--set key=value ...] [--out DIR] [--quiet | --verbose]`` trains
the embedded default (the lecture's spiral) or a config file and writes a run folder;
``gradwise export RUN_DIR --format onnx [--out FILE]`` writes a run's model as ONNX.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import sweep
from .lab import commands as lab_commands
from .playground import command as playground_command

__all__ = ["build_parser", "main"]


def _train(args: argparse.Namespace) -> int:
    from .training.config import load_config
    from .training.run import print_summary, train

    config = load_config(args.config, args.set)
    verbose = 0 if args.quiet else 2 if args.verbose else None
    run_dir, summary = train(config, out=args.out, verbose=verbose)
    print_summary(run_dir, summary)
    return 0


def _export(args: argparse.Namespace) -> int:
    from .interop.onnx import export
    from .training.run import load_run

    run = load_run(args.run_dir)
    out = args.out or f"{run.path}/model.onnx"
    export(run.model, run.X_train[:1], out)
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
    train.add_argument("--out", metavar="DIR", help="run folder (default: runs/<timestamp>)")
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gradwise`` script; returns the exit status."""
    from .training.checkpoint import CheckpointError
    from .training.config import ConfigError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (ConfigError, CheckpointError, FileNotFoundError, ValueError) as exc:
        print(f"gradwise {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gradwise {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
