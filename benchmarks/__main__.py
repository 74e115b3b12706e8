"""``python -m benchmarks [--quick] [--only NAME] [--busy] [--device cpu|cuda] [--write]``.

Runs the benchmarks in one process (the memory figures in short-lived subprocesses), prints
each table, and with ``--write`` replaces this run's sections of ``benchmarks/RESULTS.md``,
keeping every other section (other benchmarks write their own).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from gradwise.io import write_atomic

from . import busy, compile_step, fit_epoch, jax_step, op_overhead, train_step
from .common import blas_info, machine

RESULTS = Path(__file__).with_name("RESULTS.md")
NAMES = ("step", "jax", "compile", "ops", "fit", "optim", "busy")
DEFAULT = ("step", "jax", "ops", "fit", "optim")  # busy: only with --busy or --only busy
HEADINGS = {"machine": "## Machine and command", "step": "## Training step",
            "ops": "## Per-op overhead", "fit": "## fit epoch on the MNIST subset",
            "jax": "## Training step against JAX jit",
            "compile": "## Where a compiled step's time goes",
            "busy": "## Training step on a busy machine", "cuda": "## Training step"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--only", choices=NAMES, action="append",
                        help="run only this benchmark (repeatable); default: all but busy")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="cuda: the GPU training-step comparison (CuPy against PyTorch)")
    parser.add_argument("--busy", action="store_true",
                        help="also time the step beside a competing process, in three regimes "
                             "(benchmarks/busy.py; a few minutes)")
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the peak-memory subprocesses")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args(argv)

    info = machine()
    # runs with different OpenBLAS kernels (OPENBLAS_CORETYPE set or not) keep separate sections
    kernel = "GPU" if args.device == "cuda" else f"CPU, OpenBLAS {blas_info().get('kernel')} kernel"
    headings = {k: f"{h} ({kernel})" for k, h in HEADINGS.items()}
    command = " ".join(["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])])
    env = ", ".join(f"{k}={os.environ[k]}" if k in os.environ else f"{k} unset"
                    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"))
    head = "\n".join(f"- {k}: {v}" for k, v in info.items())
    sections = {"machine": f"{head}\n- command: `{command}` ({env})\n"}
    print(sections["machine"], flush=True)

    if args.device == "cuda":
        report = train_step.run_cuda(args.quick)
        if report is not None:
            sections["cuda"] = report
    else:
        chosen = (args.only or list(DEFAULT)) + (["busy"] if args.busy else [])
        if "step" in chosen:
            sections["step"] = train_step.run_cpu(args.quick, memory=not args.no_memory)
        if "jax" in chosen:
            report = jax_step.run(args.quick)
            if report is not None:
                sections["jax"] = report
        if "compile" in chosen:
            sections["compile"] = compile_step.run(args.quick)
        if "ops" in chosen:
            sections["ops"] = op_overhead.run(args.quick)
        if "fit" in chosen:
            report = fit_epoch.run(args.quick)
            if report is not None:
                sections["fit"] = report
        if "optim" in chosen:
            _optim_step(args.quick, args.write)
        if "busy" in chosen:
            sections["busy"] = busy.run(args.quick)
    sections["machine"] += f"- load average at the end (1 min): {os.getloadavg()[0]:.2f}\n"
    for key, body in list(sections.items())[1:]:
        print(f"\n{headings[key]}\n\n{body}")
    if args.write and len(sections) > 1:
        write_results({headings[k]: v for k, v in sections.items()})
        print(f"wrote {RESULTS}")
    return 0


def _optim_step(quick: bool, write: bool) -> None:
    """Run the optimizer-step benchmark (its own module, which writes its own section)."""
    cmd = [sys.executable, "-m", "benchmarks.optim_step", *(["--repeats", "5"] if quick else []),
           *(["--write"] if write else [])]
    print("\n" + " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=False, cwd=RESULTS.parents[1])


def write_results(new: dict[str, str]) -> None:
    """Replace the sections of RESULTS.md whose headings are in ``new`` (adding missing ones at
    the end), keep all others, and write the file atomically."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    preamble, sections = _split(text)
    for heading, body in new.items():
        sections[heading] = body.strip() + "\n"
    out = preamble.rstrip() + "\n\n" + "\n".join(f"{h}\n\n{b}" for h, b in sections.items())
    write_atomic(RESULTS, out.encode())


def _split(text: str) -> tuple[str, dict[str, str]]:
    """The text before the first ``## `` heading, and each such section's body by heading."""
    preamble: list[str] = []
    sections: dict[str, list[str]] = {}
    current = preamble
    for line in text.splitlines():
        if line.startswith("## "):
            current = sections.setdefault(line.rstrip(), [])
        else:
            current.append(line)
    return "\n".join(preamble), {h: "\n".join(b).strip() + "\n" for h, b in sections.items()}


if __name__ == "__main__":
    sys.exit(main())
