"""`gradwise train` end to end in a temporary folder, and `load_run` on what it wrote."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

import gates
import gradwise as gw
from gradwise.cli import build_parser, main
from gradwise.training.run import load_run

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FILES = {"config.toml", "history.csv", "summary.json", "model.safetensors",
         "checkpoint.safetensors", "trajectory.safetensors", "loss.png", "boundary.png"}


def test_train_writes_a_run_folder_that_load_run_rebuilds(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code = main(["train", "--out", str(out), "--quiet", "--set", "training.epochs=4",
                 "--set", "data.n=200", "--set", "model.hidden=[16]"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "epochs run: 4 of 4" in printed and str(out) in printed
    assert FILES <= {p.name for p in out.iterdir()}
    config = tomllib.loads((out / "config.toml").read_text())
    assert config["training"]["epochs"] == 4 and config["model"]["hidden"] == [16]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs_run"] == 4 and not summary["stopped_early"]
    assert {"final", "best", "best_epoch", "wall_time_s", "saved_model"} <= set(summary)
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert len(rows) == 4 and {"loss", "accuracy", "val_loss", "val_accuracy", "lr"} <= set(
        rows[0])

    run = load_run(out)
    assert run.config == config
    assert run.history["val_loss"] == pytest.approx(summary_history(out, "val_loss"))
    assert run.X_train.shape == (160, 2) and run.X_val.shape == (40, 2)
    n_params = run.model.num_parameters()
    assert run.trajectory.shape == (5, n_params) and run.trajectory.dtype == np.float32
    assert run.param_names == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert run.param_shapes == [(2, 16), (16,), (16, 1), (1,)]
    val = gw.evaluate(run.model, run.loss, (run.X_val, run.y_val), ["accuracy"])
    assert val["accuracy"] == pytest.approx(summary["saved_model"]["validation"]["accuracy"])
    best = summary["best_epoch"]
    flat = np.concatenate([p.numpy().ravel() for p in run.model.parameters()])
    np.testing.assert_array_equal(run.trajectory[best], flat)  # restored best weights


def summary_history(out: Path, key: str) -> list[float]:
    return [float(r[key]) for r in csv.DictReader((out / "history.csv").open())]


def test_config_errors_exit_2_naming_the_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--out", str(tmp_path), "--set", "training.epoch=3"]) == 2
    err = capsys.readouterr().err
    assert "gradwise train: error:" in err and "training.epoch" in err and "epochs" in err
    assert main(["train", str(tmp_path / "nope.toml")]) == 2
    assert "cannot read config" in capsys.readouterr().err


def test_parser_has_train_options() -> None:
    args = build_parser().parse_args(["train", "c.toml", "--set", "a.b=1", "--set", "c.d=2",
                                      "--verbose"])
    assert (args.config, args.set, args.verbose, args.quiet) == ("c.toml", ["a.b=1", "c.d=2"],
                                                                True, False)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--quiet", "--verbose"])


@pytest.mark.slow
def test_csv_example_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "csv"
    assert main(["train", str(EXAMPLES / "csv.toml"), "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["saved_model"]["test"]["accuracy"] >= 0.9
    assert "boundary.png" in {p.name for p in out.iterdir()}


@pytest.mark.slow
def test_default_run_reaches_95_percent(tmp_path: Path) -> None:
    """`gradwise train` with no config: the spiral to >= 95% validation
    accuracy (its speed is measured with `time gradwise train`, not here)."""
    gates.safetensors()  # the train job writes its checkpoints with it
    out = tmp_path / "default"
    proc = subprocess.run([sys.executable, "-m", "gradwise.cli", "train", "--out", str(out),
                           "--verbose"], capture_output=True, text=True, check=True)
    assert "Epoch 1/200" in proc.stdout and "run folder:" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["saved_model"]["validation"]["accuracy"] >= 0.95
