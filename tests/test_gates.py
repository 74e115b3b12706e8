"""The gates of the optional test dependencies (tests/gates.py): a skip where a dependency is
missing, a failure where its ``GRADWISE_REQUIRE_<NAME>=1`` is set, and every switch set by CI."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from _pytest.outcomes import Failed, Skipped

import gates

ROOT = Path(__file__).resolve().parents[1]


def test_ci_sets_every_require_switch() -> None:
    text = (ROOT / ".ci" / "run").read_text()
    loop = re.search(r"for name in ([A-Z_ \\\n]+); do\s+export \"GRADWISE_REQUIRE_\$name=1\"", text)
    assert loop, "the loop that exports the GRADWISE_REQUIRE_ switches is missing from .ci/run"
    assert set(loop.group(1).replace("\\", " ").split()) == set(gates.SWITCHES)
    assert {name for name, _ in gates.OPTIONAL.values()} <= set(gates.SWITCHES)


def test_a_missing_module_skips_and_fails_where_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    monkeypatch.delenv("GRADWISE_REQUIRE_TORCH", raising=False)
    with pytest.raises(Skipped, match="torch cannot be imported"):
        gates.torch()
    monkeypatch.setenv("GRADWISE_REQUIRE_TORCH", "1")
    with pytest.raises(Failed, match="GRADWISE_REQUIRE_TORCH=1 but torch cannot be imported"):
        gates.torch()


def test_a_test_reaching_a_missing_optional_module_goes_through_its_gate(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRADWISE_REQUIRE_SAFETENSORS", raising=False)
    with pytest.raises(Skipped, match=r"safetensors cannot be imported .*\.\[train\]"):
        gates.missing_module(ModuleNotFoundError("no", name="safetensors.numpy"))
    monkeypatch.setenv("GRADWISE_REQUIRE_SAFETENSORS", "1")
    with pytest.raises(Failed, match="GRADWISE_REQUIRE_SAFETENSORS=1"):
        gates.missing_module(ModuleNotFoundError("no", name="safetensors"))
    # not optional: the test's own error, left to propagate
    assert gates.missing_module(ModuleNotFoundError("no", name="gradwise.nope")) is None


def test_mnist_is_found_beside_the_checkout_as_given_or_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a clone reached through its logical path ($PWD): shared/ beside it is a candidate
    monkeypatch.delenv("GRADWISE_MNIST_DIR", raising=False)
    monkeypatch.setenv("PWD", str(tmp_path / "ci" / "clone"))
    assert tmp_path / "ci" / "shared" / "data" / "mnist-5k" in gates.mnist_candidates()
    # and beside the checkout of this file, resolved or not
    assert ROOT.parent / "shared" / "data" / "mnist-5k" in gates.mnist_candidates()
    folder = tmp_path / "digits"
    folder.mkdir()
    monkeypatch.setenv("GRADWISE_MNIST_DIR", str(folder))
    monkeypatch.setenv("GRADWISE_REQUIRE_MNIST", "1")
    with pytest.raises(Failed, match="GRADWISE_REQUIRE_MNIST=1 but the MNIST subset"):
        gates.mnist()
    (folder / gates.MNIST_FILE).write_bytes(b"")
    assert gates.mnist() == folder
