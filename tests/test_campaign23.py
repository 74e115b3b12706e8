"""Issue 23, the second hostile campaign: byte-reproducible files, special files, the report's
embedded images, compressed inputs, corrupt run folders, sweeps run again, and the smaller
holes (noise, schedules, a killed sweep). Each test failed before its fix."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

import gradwise as gw
from gradwise.cli import main
from gradwise.training import checkpoint

TINY = ["--set", "data.n=200", "--set", "model.hidden=[8]", "--set", "model.dropout=0.1",
        "--set", "training.batch_size=32"]


def train(out: Path, *extra: str, epochs: int = 4) -> int:
    return main(["train", "--out", str(out), "--quiet", *TINY,
                 "--set", f"training.epochs={epochs}", *extra])


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- item 2: files are byte-reproducible ---------------------------------------------------------

def test_the_same_tensors_and_metadata_give_the_same_bytes(tmp_path: Path) -> None:
    """safetensors' own writer orders the metadata as a hash map, differently per call."""
    tensors = {f"t{i}": np.arange(i + 1, dtype=np.float32) for i in range(6)}
    tensors["step"] = np.asarray(3, dtype=np.int64)
    meta = {f"key{i}": str(i) for i in range(12)}
    hashes = set()
    for i in range(8):
        checkpoint.write_safetensors(tmp_path / f"{i}.safetensors", tensors, meta)
        hashes.add(sha(tmp_path / f"{i}.safetensors"))
    assert len(hashes) == 1
    got, md = checkpoint.read_safetensors(tmp_path / "0.safetensors")
    assert md["key7"] == "7" and set(got) == set(tensors)
    from safetensors.numpy import load_file  # the reference reader takes the file
    np.testing.assert_array_equal(load_file(tmp_path / "0.safetensors")["t5"], tensors["t5"])


def test_two_identical_runs_write_identical_files(tmp_path: Path) -> None:
    gw.set_num_threads(1)  # the same process, the same count: only the files' bytes are tested
    try:
        assert train(tmp_path / "a") == 0
        assert train(tmp_path / "b") == 0
    finally:
        gw.set_num_threads("auto")
    for name in ("model.safetensors", "checkpoint.safetensors", "trajectory.safetensors"):
        assert sha(tmp_path / "a" / name) == sha(tmp_path / "b" / name), name
