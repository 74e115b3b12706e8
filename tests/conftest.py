"""Shared test settings: a bounded Hypothesis profile, headless figures and the optional real-data
folder. Imports nothing optional (a NumPy-only install runs the core tests): every optional
dependency goes through ``tests/gates.py``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

import gates

os.environ["MPLBACKEND"] = "Agg"  # read by matplotlib when (and if) a test imports it

settings.register_profile(
    "gradwise", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("gradwise")


def pytest_configure(config: pytest.Config) -> None:
    """pytest-xdist's workers are gradwise processes of one host, as MPI ranks are: they divide
    its cores (``gradwise.threads.share_cores``). A seeded fit holds its thread count for the
    whole run (same bits at any load), so two workers that each held every core would
    oversubscribe them (an MNIST test took 156 s in the suite against 41 s alone)."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        from gradwise import threads

        threads.share_cores(int(workers))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Any:
    try:
        return (yield)
    except ModuleNotFoundError as e:
        gates.missing_module(e)
        raise


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """A test that reaches an optional module which is not installed is that module's gate's
    skip (or, with its ``GRADWISE_REQUIRE_<NAME>=1``, failure): see ``gates.OPTIONAL``."""
    try:
        return (yield)
    except ModuleNotFoundError as e:
        gates.missing_module(e)
        raise


@pytest.fixture
def mnist_dir() -> Path:
    """The real MNIST subset beside the repository (``gates.mnist``)."""
    return gates.mnist()


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
