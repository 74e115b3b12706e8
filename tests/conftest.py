"""Shared test settings: a bounded Hypothesis profile and the optional real-data folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
import pytest
from hypothesis import HealthCheck, settings

matplotlib.use("Agg")

settings.register_profile(
    "gradwise", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("gradwise")

SHARED = Path(__file__).resolve().parents[2] / "shared"
MNIST_DIR = SHARED / "data" / "mnist-5k"


@pytest.fixture
def mnist_dir() -> Path:
    """The real MNIST subset beside the repository; tests that need it skip without it."""
    if not (MNIST_DIR / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("../shared/data/mnist-5k is not present")
    return MNIST_DIR


def _install_fake_cupy(monkeypatch: pytest.MonkeyPatch) -> Any:
    import fake_cupy
    from gradwise import backend

    module = fake_cupy.make_module()
    monkeypatch.setattr(backend, "_cupy", module)
    monkeypatch.setattr(backend, "_generators", {})
    monkeypatch.setattr(backend, "_pending", {})
    fake_cupy.reset_counts()
    return module


@pytest.fixture
def fake_gpu(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``device="cuda"`` on the NumPy-backed fake CuPy of ``tests/fake_cupy.py``, whatever the
    machine: it counts host syncs and uploads (``fake_cupy.SYNCS``/``UPLOADS``)."""
    return _install_fake_cupy(monkeypatch)


@pytest.fixture
def gpu(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The GPU's array module: real CuPy where CuPy sees a GPU, the fake CuPy elsewhere, so the
    GPU code paths are exercised on every machine."""
    from gradwise import backend

    if backend.cuda_available():
        return backend._cupy
    return _install_fake_cupy(monkeypatch)
