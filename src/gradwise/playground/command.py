"""``gradwise playground [--host 127.0.0.1] [--port 8000] [--no-browser]``: the subcommand,
registered by ``gradwise.cli`` (Starlette and uvicorn are imported only when it runs); with
``--static OUT [--pyodide-version V] [--cache DIR] [--numpy-wheel SRC] [--pyodide-dist PATH]``
it writes the static site (:mod:`gradwise.playground.static_site`) instead of serving."""

from __future__ import annotations

import argparse
import sys

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    if args.static is not None:
        from . import static_site

        site = static_site.build_site(
            args.static, pyodide_version=args.pyodide_version or static_site.PYODIDE_VERSION,
            cache=args.cache, numpy_wheel=args.numpy_wheel, pyodide_dist=args.pyodide_dist)
        for line in static_site.site_report(site):
            print(line)
        return 0
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
    g = p.add_argument_group("static site (no server: gradwise runs in the visitor's browser)")
    g.add_argument("--static", metavar="OUT", help="write a static site into OUT and exit: "
                   "Pyodide, its NumPy (sha256-checked) and a small gradwise wheel")
    g.add_argument("--pyodide-version", default=None, metavar="V",
                   help="Pyodide version of the npm package (default: the pinned one)")
    g.add_argument("--cache", metavar="DIR", help="where npm's Pyodide package and downloaded "
                   "wheels are kept (default ~/.cache/gradwise/pyodide)")
    g.add_argument("--numpy-wheel", metavar="SRC", help="the Pyodide NumPy wheel: a .whl, an "
                   "archive holding it, or a URL (default: the cache, else Pyodide's CDN)")
    g.add_argument("--pyodide-dist", metavar="PATH", help="an official full Pyodide "
                   "distribution (folder or archive) instead of the npm package")
    p.set_defaults(func=_run)
