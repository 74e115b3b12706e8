"""Shared test settings: a bounded Hypothesis profile and the optional real-data folder."""

from __future__ import annotations

from pathlib import Path

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
