"""``gradwise sweep``: one training run per point of a grid of config values, in parallel.

``gradwise sweep [CONFIG] --grid optimizer.lr=[1e-3,1e-2] --grid optimizer.name=["sgd","adam"]``
trains the Cartesian product of the grid values (each ``--grid`` key over its TOML array, on top
of CONFIG and any ``--set``), each into its own run folder ``OUT/NNN-key=value-...`` as
``gradwise train`` writes it, then ``OUT/summary.csv`` (one row per run: swept values, status,
best epoch and the best and final metrics) and ``OUT/summary.png`` (the metric against each swept
key; with several keys, one line per combination of the others).

Parallelism, never oversubscribing the cores: under ``mpiexec -n N`` rank ``r`` trains the points
``r, r + N, ...`` in its own process; without MPI, up to ``--workers`` (default: one per core)
``gradwise train`` processes run at once. The cores are divided among them: each local worker
gets ``OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=MKL_NUM_THREADS=cores // workers`` (at least 1) as
the cap of its thread count, and MPI ranks on one host share its cores the same way
(:func:`gradwise.threads.share_cores`); within its share each follows the free cores
(:mod:`gradwise.threads`).
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import math
import os
import re
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import distributed, threads
from .io import write_atomic
from .training.config import ConfigError, load_config

__all__ = ["grid_points", "parse_grid", "register", "run_sweep", "summary_rows"]

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def parse_grid(specs: Sequence[str]) -> list[tuple[str, list[Any]]]:
    """``["optimizer.lr=[0.001, 0.01]", ...]`` as ``[("optimizer.lr", [0.001, 0.01]), ...]``
    (values read as TOML arrays; each key once)."""
    grid: list[tuple[str, list[Any]]] = []
    for spec in specs:
        key, sep, raw = spec.partition("=")
        key = key.strip()
        try:
            values = tomllib.loads(f"v = {raw.strip()}")["v"] if sep else None
        except tomllib.TOMLDecodeError:
            values = None
        if not key or "." not in key or not isinstance(values, list) or not values:
            raise ConfigError(f"--grid {spec!r}: expected section.key=[value, ...], e.g. "
                              "optimizer.lr=[0.001, 0.01]")
        if key in dict(grid):
            raise ConfigError(f"--grid {spec!r}: the key {key} is already swept")
        grid.append((key, values))
    if not grid:
        raise ConfigError("gradwise sweep needs at least one --grid section.key=[value, ...]")
    return grid


def grid_points(grid: Sequence[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
    """The Cartesian product of the grid, the last key varying fastest."""
    keys = [k for k, _ in grid]
    return [dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(v for _, v in grid))]


def _overrides(point: dict[str, Any]) -> list[str]:
    return [f"{k}={json.dumps(v)}" for k, v in point.items()]


def _name(i: int, point: dict[str, Any]) -> str:
    text = "-".join(f"{k.split('.')[-1]}={v}" for k, v in point.items())
    return f"{i:03d}-" + re.sub(r"[^A-Za-z0-9._=+-]", "_", text)[:80]


def _worker_env(threads: int) -> dict[str, str]:
    env = dict(os.environ, **dict.fromkeys(_THREAD_VARIABLES, str(threads)))
    src = str(Path(__file__).resolve().parents[1])  # this gradwise, also when not installed
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    return env


def _earlier(run_dir: Path, config: str | None, sets: list[str], point: dict[str, Any]
             ) -> str:
    """What a sweep run again finds in a point's folder: ``"new"`` (nothing of a run),
    ``"kept"`` (a run of this very config that completed: it is not trained again),
    ``"diverged"`` (one that diverged), ``"resume"`` (one interrupted or killed after a
    checkpoint), ``"retry"`` (one of this config that failed before its first checkpoint) or
    ``"other"`` (a run of another config: never touched)."""
    import warnings

    from .training.config import ConfigWarning

    if not (run_dir / "config.toml").is_file():
        return "new"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConfigWarning)
        try:
            theirs = load_config(run_dir / "config.toml")
            mine = load_config(config, [*sets, *_overrides(point)])
        except ConfigError:
            return "other"
    for cfg in (theirs, mine):  # how much a run prints does not change what it computes
        cfg.get("training", {}).pop("verbose", None)
    same = theirs == mine
    if not same:
        return "other"
    try:
        status = json.loads((run_dir / "summary.json").read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        status = None
    if status in ("completed", "diverged"):
        return "kept" if status == "completed" else "diverged"
    return "resume" if (run_dir / "checkpoint.safetensors").is_file() else "retry"


def _stop(running: list[tuple[Path, subprocess.Popen[bytes], Any]], interrupt: bool = True,
          grace: float = 10.0) -> None:
    """Interrupt every running worker (SIGTERM: each writes an interrupted run, resumable;
    not when ``interrupt`` is False: a Ctrl-C in the terminal reached them already, and a
    second signal would make them quit at once); kill those still running after ``grace``
    seconds."""
    for _, proc, _ in running:
        if interrupt and proc.poll() is None:
            proc.terminate()
    end = time.monotonic() + grace
    for _, proc, err in running:
        try:
            proc.wait(max(0.0, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        err.close()


def _die_with_parent() -> None:
    """In a worker, before exec: receive SIGTERM when the sweep process dies, however it dies
    (Linux's PR_SET_PDEATHSIG; nothing elsewhere)."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def _run_local(config: str | None, sets: list[str], jobs: list[tuple[Path, dict[str, Any]]],
               workers: int, log: Callable[[str], None]) -> dict[Path, str]:
    """Each job as a ``gradwise train`` process, ``workers`` at a time; the error of each
    failed one (its last line of stderr). A point whose folder already holds its completed run
    (a sweep run again) is not trained again; an interrupted one is resumed. When the sweep
    stops (Ctrl-C, SIGTERM, an error) its workers are interrupted too, and they die with it."""
    import signal

    errors: dict[Path, str] = {}
    pending = list(jobs)
    running: list[tuple[Path, subprocess.Popen[bytes], Any]] = []
    env = _worker_env(max(1, threads.available_cores() // max(1, min(workers, len(jobs)))))

    def terminated(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, terminated) if main_thread else None
    from_terminal = False
    try:
        while pending or running:
            while pending and len(running) < workers:
                run_dir, point = pending.pop(0)
                found = _earlier(run_dir, config, sets, point)
                if found in ("kept", "diverged", "other"):
                    if found != "kept":
                        errors[run_dir] = (f"{run_dir} holds a run of another config; it was "
                                           "left as it is (use another --out)" if found == "other"
                                           else "diverged (in an earlier sweep; kept as it is)")
                    log(f"{run_dir.name}: " + ("failed: " + errors[run_dir]
                                               if run_dir in errors else "done earlier, kept"))
                    continue
                run_dir.mkdir(parents=True, exist_ok=True)
                cmd = [sys.executable, "-m", "gradwise.cli", "train"]
                if found == "resume":
                    cmd += ["--resume", str(run_dir), "--quiet"]
                else:
                    cmd += [*([] if config is None else [config]),
                            *(a for s in [*sets, *_overrides(point)] for a in ("--set", s)),
                            "--out", str(run_dir), "--quiet",
                            *(["--overwrite"] if found == "retry" else [])]
                err = (run_dir / "stderr.txt").open("wb")
                running.append((run_dir, subprocess.Popen(
                    cmd, stdout=subprocess.DEVNULL, stderr=err, env=env,
                    preexec_fn=_die_with_parent), err))
            time.sleep(0.05)
            for item in list(running):
                run_dir, proc, err = item
                if proc.poll() is None:
                    continue
                err.close()
                running.remove(item)
                text = (run_dir / "stderr.txt").read_text(errors="replace").strip()
                if proc.returncode != 0:
                    errors[run_dir] = (text.splitlines()[-1] if text
                                       else f"exit {proc.returncode}")
                elif not text:
                    (run_dir / "stderr.txt").unlink()
                log(f"{run_dir.name}: " + ("failed: " + errors[run_dir] if run_dir in errors
                                           else "done"))
    except KeyboardInterrupt as exc:
        from_terminal = not exc.args  # Ctrl-C: the workers, in our process group, got it too
        raise
    finally:
        _stop(running, interrupt=not from_terminal)
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    return errors


def _run_mpi(config: str | None, sets: list[str], jobs: list[tuple[Path, dict[str, Any]]],
             log: Callable[[str], None]) -> dict[Path, str]:
    """This rank's share of the jobs, in this process (its share of the host's cores, see
    :func:`gradwise.threads.share_cores`); every rank learns which jobs failed, rank 0 reads
    why."""
    from .jobs.train import run as train

    w = distributed.world()
    failed = np.zeros(len(jobs))
    for j in range(w.rank, len(jobs), w.size):
        run_dir, point = jobs[j]
        found = _earlier(run_dir, config, sets, point)
        if found == "kept":
            print(f"{run_dir.name}: done earlier, kept (rank {w.rank})", flush=True)
            continue
        try:
            if found in ("diverged", "other"):
                raise RuntimeError(f"{run_dir} holds a run of another config; it was left as "
                                   "it is (use another --out)" if found == "other" else
                                   "diverged (in an earlier sweep; kept as it is)")
            with distributed.serial():
                train(load_config(config, [*sets, *_overrides(point)]), out=run_dir, verbose=0,
                      resume=found == "resume", overwrite=found == "retry")
            print(f"{run_dir.name}: done (rank {w.rank})", flush=True)
        except Exception as exc:  # a failed point is reported in the table, the sweep goes on
            failed[j] = 1
            run_dir.mkdir(parents=True, exist_ok=True)
            write_atomic(run_dir / "stderr.txt", f"{type(exc).__name__}: {exc}\n".encode())
            print(f"{run_dir.name}: failed on rank {w.rank}: {exc}", flush=True)
    failed = distributed.sum_across_ranks(failed)  # also waits for every rank
    return {jobs[j][0]: (jobs[j][0] / "stderr.txt").read_text().strip()
            for j in np.flatnonzero(failed)}


def summary_rows(out: Path, jobs: list[tuple[Path, dict[str, Any]]],
                 errors: dict[Path, str]) -> list[dict[str, Any]]:
    """One row per run: its folder, swept values, status, and from ``summary.json`` the epochs
    run, best epoch, ``best_*`` and ``final_*`` metrics and wall time."""
    rows = []
    for run_dir, point in jobs:
        row: dict[str, Any] = {"run": run_dir.name, **point}
        if run_dir in errors:
            row.update(status="failed", error=errors[run_dir])
        else:
            s = json.loads((run_dir / "summary.json").read_text())
            row.update(status="ok", epochs_run=s["epochs_run"], best_epoch=s["best_epoch"],
                       monitor=s["monitor"])
            row.update({f"best_{k}": v for k, v in s["best"].items()})
            row.update({f"final_{k}": v for k, v in s["final"].items()})
            row["wall_time_s"] = s["wall_time_s"]
        rows.append(row)
    return rows


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: json.dumps(v) if isinstance(v, list) else v for k, v in r.items()})
    write_atomic(path, buf.getvalue().encode())


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def plot_sweep(rows: list[dict[str, Any]], keys: list[str], metric: str) -> Any:
    """The metric against each swept key, one panel per key; a numeric key spanning more than
    a factor 10 of positive values on a log axis; with several keys one line per combination
    of the others."""
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r["status"] == "ok" and _number(r.get(metric))]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.6), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        values = list(dict.fromkeys(r[key] for r in rows))
        numeric = all(_number(v) for v in values)

        def x_of(v: Any, values: list[Any] = values, numeric: bool = numeric) -> Any:
            return v if numeric else values.index(v)

        others = [k for k in keys if k != key]
        groups: dict[str, list[dict[str, Any]]] = {}
        for r in ok:
            groups.setdefault(", ".join(f"{k.split('.')[-1]}={r[k]}" for k in others), []
                              ).append(r)
        for label, rs in groups.items():
            rs = sorted(rs, key=lambda r: x_of(r[key]))
            ax.plot([x_of(r[key]) for r in rs], [r[metric] for r in rs], "o-",
                    label=label or None)
        if numeric and min(values) > 0 and max(values) > 10 * min(values):
            ax.set_xscale("log")
        if not numeric:
            ax.set_xticks(range(len(values)), [str(v) for v in values])
        ax.set_xlabel(key)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        if others and groups:
            ax.legend(fontsize=7)
    fig.suptitle(f"{metric} of {len(ok)} of {len(rows)} runs")
    fig.tight_layout()
    return fig


def run_sweep(config: str | None, grid: Sequence[tuple[str, list[Any]]], out: str | Path,
              sets: Sequence[str] = (), workers: int | None = None, metric: str | None = None,
              log: Callable[[str], None] = print) -> list[dict[str, Any]] | None:
    """Train every grid point (see the module docstring) and write the summary; returns the
    summary rows (None on ranks other than 0 under MPI)."""
    out = Path(out)
    points = grid_points(grid)
    for point in points:  # every point's config is valid before anything trains
        load_config(config, [*sets, *_overrides(point)])
    jobs = [(out / _name(i, p), p) for i, p in enumerate(points)]
    w = distributed.world()
    if w.size > 1:
        errors = _run_mpi(config, list(sets), jobs, log)
        if not distributed.is_root():
            return None
    else:
        n = workers or threads.available_cores()
        log(f"{len(jobs)} runs, {min(n, len(jobs))} at a time, into {out}")
        errors = _run_local(config, list(sets), jobs, max(1, n), log)
    rows = summary_rows(out, jobs, errors)
    _write_csv(out / "summary.csv", rows)
    keys = [k for k, _ in grid]
    if metric is None:
        ok = [r for r in rows if r["status"] == "ok"]
        metric = f"best_{ok[0]['monitor']}" if ok else "best_loss"
    try:
        import matplotlib
    except ImportError:
        pass
    else:
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from .lab.files import save_figure

        fig = plot_sweep(rows, keys, metric)
        save_figure(fig, out / "summary.png", dpi=110)
        plt.close(fig)
    log(_table(rows, keys, metric))
    log(f"summary: {out / 'summary.csv'}, {out / 'summary.png'}")
    return rows


def _table(rows: list[dict[str, Any]], keys: list[str], metric: str) -> str:
    lines = ["  ".join([f"{k:>16}" for k in keys] + [f"{metric:>14}", "run"])]
    for r in rows:
        value = r.get(metric)
        shown = f"{value:14.4g}" if isinstance(value, int | float) and math.isfinite(
            value) else (
            f"{r['status']:>14}")
        lines.append("  ".join([f"{r[k]!s:>16}" for k in keys] + [shown, r["run"]]))
    return "\n".join(lines)


def _command(args: argparse.Namespace) -> int:
    rows = run_sweep(args.config, parse_grid(args.grid), args.out, sets=args.set,
                     workers=args.workers, metric=args.metric,
                     log=print if distributed.is_root() else lambda s: None)
    return 1 if rows is not None and any(r["status"] != "ok" for r in rows) else 0


def register(sub: Any) -> None:
    """Add ``sweep`` to ``gradwise``'s subcommands."""
    p = sub.add_parser(
        "sweep", help="train one run per point of a grid of config values, in parallel",
        description="Train the Cartesian product of the --grid values (each on top of CONFIG "
                    "and --set), each into OUT/NNN-key=value.../, in parallel over MPI ranks "
                    "(under mpiexec) or local processes, then write OUT/summary.csv and "
                    "OUT/summary.png (the metric against each swept key).",
    )
    p.add_argument("config", nargs="?", help="TOML config file (default: the embedded one)")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=[V,...]",
                   help="a swept key and its values as a TOML array, e.g. --grid "
                        "optimizer.lr=[1e-3,1e-2] --grid 'optimizer.name=[\"sgd\",\"adam\"]'")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key for every run")
    p.add_argument("--out", default="sweep", metavar="DIR", help="output folder (default: sweep)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="local processes at once without MPI (default: one per core)")
    p.add_argument("--metric", help="summary column to plot (default: best_<monitor>, e.g. "
                                    "best_val_loss)")
    p.set_defaults(func=_command)
