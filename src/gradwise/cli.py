"""The ``gradwise`` command line: ``gradwise train`` and the lab's subcommands.

``gradwise train [CONFIG.toml] [--set key=value ...] [--out DIR] [--quiet | --verbose]`` trains
the embedded default (the lecture's spiral) or a config file and writes a run folder.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .lab import commands as lab_commands

__all__ = ["build_parser", "main"]


def _train(args: argparse.Namespace) -> int:
    from .jobs.train import print_summary
    from .jobs.train import run as train
    from .training.config import load_config

    config = load_config(args.config, args.set)
    verbose = 0 if args.quiet else 2 if args.verbose else None
    run_dir, summary = train(config, out=args.out, verbose=verbose)
    print_summary(run_dir, summary)
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
    lab_commands.register(sub)
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
