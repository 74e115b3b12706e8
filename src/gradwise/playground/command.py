"""``gradwise playground [--host 127.0.0.1] [--port 8000] [--no-browser]``: the subcommand,
registered by ``gradwise.cli`` (Starlette and uvicorn are imported only when it runs)."""

from __future__ import annotations

import argparse
import sys

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    try:
        from .server import serve
    except ImportError as exc:
        print(f"gradwise playground: error: {exc.name or exc} is not installed; install the "
              "extra: pip install 'gradwise[playground]'", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print(f"gradwise playground: error: --port {args.port} is not a port (0 to 65535)",
              file=sys.stderr)
        return 2
    return serve(args.host, args.port, open_browser=not args.no_browser)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``playground`` subcommand to the ``gradwise`` parser."""
    p = sub.add_parser(
        "playground", help="the lecture's green vs red points, trained live in your browser",
        description="Start the playground: a local web page where a network trained by "
                    "gradwise learns the lecture's 2D data sets live (TensorFlow Playground's "
                    "experience, with every gradwise optimizer, dropout, early stopping and "
                    "loss landscapes). Prints its URL and opens it in the browser.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: only this computer)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.set_defaults(func=_run)
