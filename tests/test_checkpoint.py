"""Weights and training checkpoints: round trips, PyTorch interop, integrity, atomic writes and
bit-identical resume."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import gates
import gradwise as gw
from gradwise.io import write_atomic
from gradwise.training import checkpoint
from gradwise.training.callbacks import EarlyStopping
from gradwise.training.checkpoint import CheckpointError, read_checkpoint


def net(seed: int = 0, hidden: int = 8) -> gw.nn.Sequential:
    gw.manual_seed(seed)
    return gw.nn.Sequential(gw.nn.Dense(2, hidden, activation="relu"), gw.nn.Dense(hidden, 1))


def weights(model: gw.nn.Module) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in model.state_dict().items()}


def test_save_load_round_trip(tmp_path: Path) -> None:
    a, b = net(0), net(1)
    gw.save(a, tmp_path / "w.safetensors")
    assert gw.load(b, tmp_path / "w.safetensors") is b
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(v, b.state_dict()[k])
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]  # no temporary left


def test_load_into_a_different_model_names_the_mismatch(tmp_path: Path) -> None:
    gw.save(net(0, hidden=8), tmp_path / "w.safetensors")
    other = net(1, hidden=4)
    before = weights(other)
    with pytest.raises(CheckpointError, match=r"'0.weight' has shape \(2, 8\)"):
        gw.load(other, tmp_path / "w.safetensors")
    for k, v in before.items():
        np.testing.assert_array_equal(v, other.state_dict()[k])


def test_torch_reads_the_weights(tmp_path: Path) -> None:
    torch = gates.torch()
    from safetensors.torch import load_file

    model = net(0)
    gw.save(model, tmp_path / "w.safetensors")
    loaded = load_file(str(tmp_path / "w.safetensors"))
    assert list(loaded) == sorted(model.state_dict())
    for k, v in model.state_dict().items():
        assert loaded[k].dtype == torch.float32
        np.testing.assert_array_equal(loaded[k].numpy(), v)


def test_truncated_file_is_refused_and_nothing_is_loaded(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    gw.save(net(0), path)
    raw = path.read_bytes()
    target = net(1)
    before = weights(target)
    for cut in (4, 20, len(raw) - 10):
        path.write_bytes(raw[:cut])
        with pytest.raises(CheckpointError, match="truncated"):
            gw.load(target, path)
    for k, v in before.items():
        np.testing.assert_array_equal(v, target.state_dict()[k])


def test_tampered_tensor_or_metadata_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    gw.save(net(0), path)
    raw = bytearray(path.read_bytes())
    flipped = bytearray(raw)
    flipped[-3] ^= 0x40  # a bit of the last tensor's bytes
    path.write_bytes(bytes(flipped))
    target = net(1)
    before = weights(target)
    with pytest.raises(CheckpointError, match="SHA-256"):
        gw.load(target, path)
    header_end = 8 + int.from_bytes(raw[:8], "little")
    text = raw[8:header_end].decode()
    tampered = text.replace("gradwise-weights", "gradwise-weightz")
    path.write_bytes(bytes(raw[:8]) + tampered.encode() + bytes(raw[header_end:]))
    with pytest.raises(CheckpointError, match="SHA-256"):
        gw.load(target, path)
    for k, v in before.items():
        np.testing.assert_array_equal(v, target.state_dict()[k])


def test_atomic_write_keeps_the_old_file_when_replace_fails(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "f.bin"
    write_atomic(path, b"old")

    def fail(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_nested_state_round_trip() -> None:
    state = {"a": {0: np.arange(3.0), "b": (0.9, 0.999)}, "n": np.float32(1.5), "s": [1, "x",
             None, True, float("inf")], "i": np.int64(7)}
    tensors: dict = {}
    packed = checkpoint._pack(state, "state", tensors)
    back = checkpoint._unpack(json.loads(json.dumps(packed)), tensors)
    assert back["a"]["b"] == (0.9, 0.999) and list(back["a"]) == [0, "b"]
    np.testing.assert_array_equal(back["a"][0], np.arange(3.0))
    assert back["n"].dtype == np.float32 and back["n"] == 1.5 and back["i"].dtype == np.int64
    assert back["s"] == [1, "x", None, True, float("inf")]


def resumable_run(path: Path | None, epochs: int, resume: Path | None = None,
                  init_seed: int = 0) -> tuple[gw.nn.Module, object, object, EarlyStopping]:
    """Adam, two dropout layers (one with its own generator), shuffling and early stopping."""
    X, y = gw.data.moons(n=120, noise=0.2, seed=0)
    gw.manual_seed(init_seed)
    model = gw.nn.Sequential(
        gw.nn.Dense(2, 16, activation="relu"), gw.nn.Dropout(0.3),
        gw.nn.Dense(16, 16, activation="relu"),
        gw.nn.Dropout(0.2, generator=np.random.default_rng(11)), gw.nn.Dense(16, 1))
    opt = gw.optim.Adam(model.parameters(), lr=0.01)
    es = EarlyStopping(patience=100, restore_best_weights=True)
    h = gw.fit(model, "bce_with_logits", opt, (X, y), epochs=epochs, batch_size=16,
               validation_split=0.25, metrics=["accuracy"], callbacks=[es], verbose=0, seed=5,
               checkpoint_path=path, resume_from=resume)
    return model, opt, h, es


def test_resume_is_bit_identical(tmp_path: Path) -> None:
    full, full_opt, full_h, full_es = resumable_run(tmp_path / "full.safetensors", epochs=6)
    resumable_run(tmp_path / "part.safetensors", epochs=3)
    model, opt, h, es = resumable_run(tmp_path / "part.safetensors", epochs=6,
                                      resume=tmp_path / "part.safetensors", init_seed=99)
    assert h.history == full_h.history and h.epoch == full_h.epoch == list(range(6))
    for k, v in full.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[k], v)
    assert (es.best, es.best_epoch) == (full_es.best, full_es.best_epoch)
    a, b = opt.state_dict(), full_opt.state_dict()
    for i, s in b["state"].items():
        for name, v in s.items():
            np.testing.assert_array_equal(a["state"][i][name], v)
    full_params, full_state = read_checkpoint(tmp_path / "full.safetensors")
    part_params, part_state = read_checkpoint(tmp_path / "part.safetensors")
    assert part_state["epoch"] == full_state["epoch"] == 6
    assert part_state["generators"] == full_state["generators"]
    for k, v in full_params.items():
        np.testing.assert_array_equal(part_params[k], v)


def test_resume_refuses_a_tampered_checkpoint_without_touching_anything(tmp_path: Path) -> None:
    path = tmp_path / "ck.safetensors"
    resumable_run(path, epochs=1)
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 1
    path.write_bytes(bytes(raw))
    X, y = gw.data.moons(n=40, seed=0)
    model = net(3)
    before = weights(model)
    opt = gw.optim.Adam(model.parameters(), lr=0.01)
    with pytest.raises(CheckpointError, match="SHA-256"):
        gw.fit(model, "bce_with_logits", opt, (X, y), epochs=2, verbose=0, resume_from=path)
    for k, v in before.items():
        np.testing.assert_array_equal(v, model.state_dict()[k])
    assert opt.state_dict()["state"] == {}


def test_resume_refuses_a_checkpoint_of_another_model(tmp_path: Path) -> None:
    path = tmp_path / "ck.safetensors"
    resumable_run(path, epochs=1)
    X, y = gw.data.moons(n=40, seed=0)
    model = net(3)
    opt = gw.optim.Adam(model.parameters(), lr=0.01)
    with pytest.raises(CheckpointError, match="holds parameters"):
        gw.fit(model, "bce_with_logits", opt, (X, y), epochs=2, verbose=0, resume_from=path)
    gw.save(model, tmp_path / "w.safetensors")
    with pytest.raises(CheckpointError, match="expected 'gradwise-checkpoint'"):
        read_checkpoint(tmp_path / "w.safetensors")


@pytest.mark.slow
def test_resume_continues_a_learning_rate_schedule(tmp_path: Path) -> None:
    from gradwise.training.callbacks import LearningRateScheduler

    def run(epochs: int, resume: Path | None) -> tuple[gw.nn.Module, object]:
        X, y = gw.data.circle(n=64, seed=0)
        model = net(0 if resume is None else 9)
        opt = gw.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
        sched = gw.optim.schedules.StepLR(opt, step_size=1, gamma=0.5)
        h = gw.fit(model, "bce_with_logits", opt, (X, y), epochs=epochs, batch_size=16,
                   callbacks=[LearningRateScheduler(sched)], verbose=0, seed=1,
                   checkpoint_path=tmp_path / f"ck{epochs}.safetensors", resume_from=resume)
        return model, h

    full, full_h = run(4, None)
    run(2, None)
    model, h = run(4, tmp_path / "ck2.safetensors")
    assert h.history == full_h.history and h.history["lr"] == [0.5, 0.25, 0.125, 0.0625]
    for k, v in full.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[k], v)
