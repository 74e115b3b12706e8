"""The one gate for every optional dependency or resource of the tests.

Each function returns what the tests need (a module, a path, a command) or ends the calling test
(called at module level: the whole module) with a skip that names what is missing and how to
install it. Where ``GRADWISE_REQUIRE_<NAME>=1`` is set (``.ci/run`` sets every one of
:data:`SWITCHES`), a missing dependency is a failure instead, so CI cannot pass with tests
skipped in silence. No test calls ``pytest.importorskip`` or skips for a missing dependency on
its own: it calls one of these.

A NumPy-only install (``pip install -e .`` with pytest and hypothesis) runs the core tests and
skips the rest through these gates.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

#: The names of the ``GRADWISE_REQUIRE_<NAME>`` switches, one per gate below.
SWITCHES = ("TORCH", "ONNX", "SKLEARN", "STARLETTE", "BROWSER", "NOTEBOOKS", "MPI", "NUMBA",
            "MNIST", "MATPLOTLIB", "SAFETENSORS", "TQDM", "TOMLI_W", "STATIC")

#: Each optional top-level module, the gate it belongs to and the extra that installs it:
#: ``conftest.py`` turns a test's ``ModuleNotFoundError`` for one of these into that gate's skip
#: (or failure), so the code under test may import them where it needs them.
OPTIONAL = {
    "torch": ("TORCH", "test"), "onnx": ("ONNX", "onnx"), "onnxruntime": ("ONNX", "test"),
    "sklearn": ("SKLEARN", "test"), "starlette": ("STARLETTE", "playground"),
    "httpx": ("STARLETTE", "test"), "uvicorn": ("BROWSER", "playground"),
    "playwright": ("BROWSER", "test"), "nbformat": ("NOTEBOOKS", "test"),
    "nbclient": ("NOTEBOOKS", "test"), "ipykernel": ("NOTEBOOKS", "test"),
    "jupyter_client": ("NOTEBOOKS", "test"), "mpi4py": ("MPI", "mpi"), "numba": ("NUMBA", "fast"),
    "matplotlib": ("MATPLOTLIB", "lab"), "PIL": ("MATPLOTLIB", "lab"),
    "safetensors": ("SAFETENSORS", "train"), "tqdm": ("TQDM", "train"),
    "tomli_w": ("TOMLI_W", "train"),
}

CHROMIUM = Path("/usr/bin/chromium")
MNIST_FILE = "train-images-idx3-ubyte.gz"


def required(name: str) -> bool:
    """Whether ``GRADWISE_REQUIRE_<name>=1`` makes a missing ``name`` a failure."""
    return os.environ.get(f"GRADWISE_REQUIRE_{name}") == "1"


def missing(name: str, reason: str) -> NoReturn:
    """Skip (or, where required, fail) the calling test or module because ``reason``."""
    if required(name):
        pytest.fail(f"GRADWISE_REQUIRE_{name}=1 but {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def modules(name: str, extra: str, *names: str) -> list[ModuleType]:
    """Import ``names`` (gate ``name``, installed by ``pip install -e '.[extra]'``)."""
    out = []
    for module in names:
        try:
            out.append(importlib.import_module(module))
        except ImportError as e:
            missing(name, f"{module} cannot be imported ({e}): pip install -e '.[{extra}]'")
    return out


def missing_module(error: ModuleNotFoundError) -> None:
    """Skip (or fail) through the gate of the optional module whose absence raised ``error``;
    return where the missing module is not optional (the error is the test's own)."""
    top = (error.name or "").partition(".")[0]
    if top in OPTIONAL:
        name, extra = OPTIONAL[top]
        missing(name, f"{top} cannot be imported ({error}): pip install -e '.[{extra}]'")


def torch() -> ModuleType:
    """PyTorch, for the cross-checks."""
    return modules("TORCH", "test", "torch")[0]


def onnx() -> tuple[ModuleType, ModuleType]:
    """``onnx`` and ``onnxruntime``, for the ONNX export."""
    onnx_, ort = modules("ONNX", "test", "onnx", "onnxruntime")
    return onnx_, ort


def sklearn_metrics() -> ModuleType:
    """``sklearn.metrics``, the reference for the metrics."""
    return modules("SKLEARN", "test", "sklearn.metrics")[0]


def starlette() -> None:
    """Starlette and httpx, for the playground server's TestClient."""
    modules("STARLETTE", "test", "starlette", "httpx")


def browser() -> Path:
    """Debian's chromium, Playwright and the playground server's packages (Starlette, uvicorn):
    the path of the browser."""
    if not CHROMIUM.exists():
        missing("BROWSER", f"{CHROMIUM} is missing (apt-get install -y chromium)")
    modules("BROWSER", "test", "playwright.sync_api", "starlette", "uvicorn")
    return CHROMIUM


def notebooks() -> None:
    """nbformat, nbclient and ipykernel, to run the notebooks in a Jupyter kernel."""
    modules("NOTEBOOKS", "test", "nbformat", "nbclient", "ipykernel", "jupyter_client")


def mpi() -> list[str]:
    """The ``mpiexec`` command (with Open MPI's flags for root and oversubscription) and mpi4py."""
    exe = Path(sys.executable).parent / "mpiexec"
    found = str(exe) if exe.exists() else shutil.which("mpiexec")
    if found is None:
        missing("MPI", "mpiexec is not installed: pip install -e '.[mpi]'")
    if importlib.util.find_spec("mpi4py") is None:
        missing("MPI", "mpi4py is not installed: pip install -e '.[mpi]'")
    version = subprocess.run([found, "--version"], capture_output=True, text=True).stdout
    flags = ["--allow-run-as-root", "--oversubscribe"] if "Open MPI" in version else []
    return [found, *flags]


def numba() -> ModuleType:
    """numba, for the fused optimizer kernels."""
    return modules("NUMBA", "fast", "numba")[0]


def matplotlib() -> ModuleType:
    """matplotlib, for the lab's figures (``conftest.py`` selects the Agg backend)."""
    return modules("MATPLOTLIB", "lab", "matplotlib")[0]


def safetensors() -> ModuleType:
    """safetensors, for checkpoints and exported weights."""
    return modules("SAFETENSORS", "train", "safetensors")[0]


def tqdm() -> ModuleType:
    """tqdm, for fit's progress bar."""
    return modules("TQDM", "train", "tqdm")[0]


def mnist_candidates() -> list[Path]:
    """Where the MNIST subset may be: ``$GRADWISE_MNIST_DIR`` if set, else ``shared/data/mnist-5k``
    in the checkout or in any folder above it, the checkout's path taken both as given and with
    its links resolved (a clone reached through a link has ``shared/`` beside the link, not beside
    its target), and likewise above the working directory (``$PWD`` keeps its links)."""
    given = os.environ.get("GRADWISE_MNIST_DIR")
    if given:
        return [Path(given)]
    here = Path(__file__).absolute().parent.parent
    starts = [here, here.resolve(), Path(os.environ.get("PWD") or os.curdir).absolute(), Path.cwd()]
    found: list[Path] = []
    for start in starts:
        for folder in (start, *start.parents):
            candidate = folder / "shared" / "data" / "mnist-5k"
            if candidate not in found:
                found.append(candidate)
    return found


def mnist() -> Path:
    """The real MNIST subset (``../shared/data/mnist-5k`` beside the checkout)."""
    candidates = mnist_candidates()
    for folder in candidates:
        if (folder / MNIST_FILE).is_file():
            return folder
    missing("MNIST", f"the MNIST subset is not in any of {[str(c) for c in candidates[:3]]}... "
                     "(set GRADWISE_MNIST_DIR to its folder)")


def static_site(reason: str) -> NoReturn:
    """Skip (or fail under ``GRADWISE_REQUIRE_STATIC=1``) a test of the static site
    (``tests/test_static_site.py``) that lacks ``reason``: node and npm, the Pyodide runtime
    (``npm pack``) or a Pyodide NumPy wheel (``GRADWISE_NUMPY_WHEEL``; ``.ci/run`` fetches one)."""
    missing("STATIC", reason)
