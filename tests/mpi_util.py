"""Running scripts under a real ``mpiexec`` from pytest: skipped when MPI is missing locally,
a failure when ``GRADWISE_REQUIRE_MPI=1`` (set by ``.ci/run``)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"


def mpiexec() -> list[str]:
    """The launcher command (with Open MPI's flags for root and oversubscription), or skip."""
    exe = Path(sys.executable).parent / "mpiexec"
    found = str(exe) if exe.exists() else shutil.which("mpiexec")
    missing = [name for name, ok in (("mpiexec", found is not None),
                                     ("mpi4py", importlib.util.find_spec("mpi4py") is not None))
               if not ok]
    if missing:
        if os.environ.get("GRADWISE_REQUIRE_MPI") == "1":
            pytest.fail(f"GRADWISE_REQUIRE_MPI=1 but {' and '.join(missing)} missing: "
                        "pip install 'gradwise[mpi]'")
        pytest.skip(f"{' and '.join(missing)} not installed (pip install 'gradwise[mpi]')")
    version = subprocess.run([found, "--version"], capture_output=True, text=True).stdout
    flags = ["--allow-run-as-root", "--oversubscribe"] if "Open MPI" in version else []
    return [found, *flags]


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
