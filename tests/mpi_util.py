"""Running scripts under a real ``mpiexec`` from pytest: skipped when MPI is missing locally,
a failure when ``GRADWISE_REQUIRE_MPI=1`` (set by ``.ci/run``), through ``gates.mpi``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import gates

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"


def mpiexec() -> list[str]:
    """The launcher command, or a skip (``gates.mpi``)."""
    return gates.mpi()


def env() -> dict[str, str]:
    """The environment of a child: this checkout's sources first, one BLAS thread."""
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [e.get("PYTHONPATH")])])
    e["OMP_NUM_THREADS"] = e["OPENBLAS_NUM_THREADS"] = "1"
    return e


def run(cmd: list[str], cwd: Path | None = None, timeout: float = 120) -> str:
    """Run ``cmd``; fail with its output when it fails."""
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env(), cwd=cwd,
                          timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited with {proc.returncode}:\n{proc.stdout}\n"
                    f"{proc.stderr}")
    return proc.stdout
