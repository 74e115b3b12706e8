"""The train job's run folder and outcome (issue 24 and 23 items 8, 9, 16, 17): the caller's
config is never changed, a run killed before its summary is finished by --resume (and read by
load_run), --overwrite removes only what a run wrote, errors surface before the folder exists,
and a large trajectory is announced and can be bounded or turned off."""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest

from gradwise.cli import main
from gradwise.training import run as run_mod
from gradwise.training.checkpoint import read_safetensors
from gradwise.training.config import validate
from gradwise.training.run import load_run, train

TINY = ["--set", "data.n=120", "--set", "model.hidden=[8]", "--set", "training.batch_size=16"]


def cli(out: Path, *extra: str, epochs: int = 6) -> int:
    return main(["train", "--out", str(out), "--quiet", *TINY,
                 "--set", f"training.epochs={epochs}", *extra])


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def test_train_never_changes_the_callers_config(tmp_path: Path) -> None:
    config = validate({"data": {"n": 100}, "model": {"hidden": [4]},
                       "training": {"epochs": 2, "verbose": 1}})
    before = copy.deepcopy(config)
    train(config, out=tmp_path / "run", verbose=0)
    assert config == before
    written = tomllib.loads((tmp_path / "run" / "config.toml").read_text())
    assert written["training"]["verbose"] == 1  # --quiet is not part of the config


class Killed(BaseException):
    """Stands in for kill -9 between the last checkpoint and summary.json."""


def kill_before_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    real = run_mod.write_atomic

    def dying(path, data):  # noqa: ANN001, ANN202
        if str(path).endswith("summary.json"):
            raise Killed
        real(path, data)
    monkeypatch.setattr(run_mod, "write_atomic", dying)


def test_resume_does_not_train_on_after_an_early_stop(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = ("--set", "training.early_stopping.patience=1", "--set", "optimizer.lr=0.3")
    whole = tmp_path / "whole"
    assert cli(whole, *args, epochs=60) == 0
    stopped = summary(whole)["epochs_run"]
    assert summary(whole)["stopped_early"] and stopped < 60
    out = tmp_path / "killed"
    kill_before_summary(monkeypatch)
    with pytest.raises(Killed):
        cli(out, *args, epochs=60)
    monkeypatch.undo()
    assert not (out / "summary.json").exists()
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    s = summary(out)
    assert s["epochs_run"] == stopped and s["stopped_early"] and s["status"] == "completed"
    a, _ = read_safetensors(out / "model.safetensors")
    b, _ = read_safetensors(whole / "model.safetensors")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert s["best_epoch"] == summary(whole)["best_epoch"]


def test_a_finished_run_killed_before_its_summary_is_recognized(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    kill_before_summary(monkeypatch)
    with pytest.raises(Killed):
        cli(out, "--set", "training.early_stopping.enabled=false", epochs=4)
    monkeypatch.undo()
    (out / "model.safetensors").unlink(missing_ok=True)  # killed before it too
    run = load_run(out)  # report and export read the checkpoint's (final) weights
    assert run.trajectory.shape[0] == 5
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    s = summary(out)
    assert s["status"] == "completed" and s["epochs_run"] == 4
    assert (out / "model.safetensors").exists() and (out / "trajectory.safetensors").exists()


def test_overwrite_removes_only_what_a_run_wrote(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    (mine / "race").mkdir(parents=True)
    (mine / "race" / "notes.txt").write_text("my own")
    (mine / "landscape").mkdir()
    (mine / "report.html").write_text("my page")
    assert cli(mine, "--overwrite", epochs=1) == 0
    assert (mine / "race" / "notes.txt").read_text() == "my own"
    assert (mine / "landscape").is_dir() and (mine / "report.html").exists()
    # a folder that held a run: the lab's outputs of that run go with it
    run = tmp_path / "run"
    assert cli(run, epochs=1) == 0
    (run / "landscape").mkdir()
    (run / "lr_find.png").write_bytes(b"png")
    assert cli(run, "--overwrite", epochs=1) == 0
    assert not (run / "landscape").exists() and not (run / "lr_find.png").exists()


def test_bad_checkpoint_filepath_fails_before_the_folder_exists(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[callbacks]]\nname = "model_checkpoint"\nfilepath = "w-{val_acc}.st"\n')
    out = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(out), "--quiet", *TINY]) == 2
    err = capsys.readouterr().err
    assert "val_acc" in err and "{val_accuracy}" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_a_loss_that_cannot_take_the_data_fails_before_the_folder_exists(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert cli(out, "--set", "training.loss=cross_entropy") == 2
    err = capsys.readouterr().err
    assert "training.loss = 'cross_entropy'" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    assert cli(out) == 0  # the corrected rerun


def test_a_fresh_run_that_fails_in_its_first_epoch_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gradwise.training.guard import Guard

    def broken(self, epoch, logs=None):  # noqa: ANN001, ANN202
        raise RuntimeError("boom")
    monkeypatch.setattr(Guard, "on_epoch_end", broken)
    out = tmp_path / "run"
    with pytest.raises(RuntimeError):
        cli(out)
    assert not out.exists()


def test_a_large_trajectory_is_announced_and_can_be_turned_off(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wide = ["--set", "model.hidden=[2000, 2000]", "--set", "data.n=40"]
    assert cli(tmp_path / "a", *wide, epochs=7) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "trajectory will take up to 128 MB" in err[0]
    assert "training.trajectory" in err[0]
    assert cli(tmp_path / "b", *wide, "--set", "training.trajectory=0", epochs=2) == 0
    assert capsys.readouterr().err == ""
    assert not (tmp_path / "b" / "trajectory.safetensors").exists()
    assert load_run(tmp_path / "b").trajectory.shape == (0, 4_010_001)
