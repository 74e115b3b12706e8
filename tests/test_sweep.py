"""``gradwise sweep``: grid parsing, local parallel processes, and the same runs over MPI."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

import gates
from gradwise.sweep import grid_points, parse_grid, run_sweep
from gradwise.training.config import ConfigError
from mpi_util import mpiexec, run

SETS = ["training.epochs=2", "data.n=120", "model.hidden=[4]"]
GRID = ["optimizer.lr=[0.01, 0.1]", 'optimizer.name=["sgd"]']


def test_grid_is_the_cartesian_product_last_key_fastest() -> None:
    grid = parse_grid(["optimizer.lr=[0.1, 0.01]", 'optimizer.name=["sgd", "adam"]'])
    assert grid == [("optimizer.lr", [0.1, 0.01]), ("optimizer.name", ["sgd", "adam"])]
    assert grid_points(grid) == [
        {"optimizer.lr": 0.1, "optimizer.name": "sgd"},
        {"optimizer.lr": 0.1, "optimizer.name": "adam"},
        {"optimizer.lr": 0.01, "optimizer.name": "sgd"},
        {"optimizer.lr": 0.01, "optimizer.name": "adam"},
    ]


@pytest.mark.parametrize("spec", ["optimizer.lr=0.1", "optimizer.lr=[]", "lr=[0.1]",
                                  "optimizer.lr=[0.1"])
def test_bad_grid_names_the_spec(spec: str) -> None:
    with pytest.raises(ConfigError, match="--grid"):
        parse_grid([spec])


def test_invalid_point_fails_before_anything_trains(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="activation"):
        run_sweep(None, parse_grid(['model.activation=["relu", "nope"]']), tmp_path / "s",
                  sets=SETS, log=lambda s: None)
    assert not (tmp_path / "s").exists()


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_local_and_mpi_sweeps_train_every_point(tmp_path: Path) -> None:
    gates.safetensors()  # the train job writes its checkpoints with it
    lines: list[str] = []
    rows = run_sweep(None, parse_grid(GRID), tmp_path / "local", sets=SETS, workers=2,
                     log=lines.append)
    assert rows is not None and [r["status"] for r in rows] == ["ok", "ok"]
    table = _rows(tmp_path / "local" / "summary.csv")
    assert [(r["optimizer.lr"], r["optimizer.name"]) for r in table] == [("0.01", "sgd"),
                                                                          ("0.1", "sgd")]
    assert all(float(r["best_val_loss"]) > 0 for r in table)
    assert (tmp_path / "local" / "summary.png").stat().st_size > 0
    for r in table:
        assert (tmp_path / "local" / r["run"] / "model.safetensors").exists()
    # the same sweep with one point per MPI rank trains the same runs
    launcher = mpiexec()
    grid = [a for g in GRID for a in ("--grid", g)]
    sets = [a for s in SETS for a in ("--set", s)]
    run([*launcher, "-n", "2", sys.executable, "-m", "gradwise.cli", "sweep", *grid, *sets,
         "--out", str(tmp_path / "mpi")])
    for r in table:
        ours = (tmp_path / "mpi" / r["run"] / "history.csv").read_text()
        assert ours == (tmp_path / "local" / r["run"] / "history.csv").read_text()
    assert _rows(tmp_path / "mpi" / "summary.csv")[0]["best_val_loss"] == table[0][
        "best_val_loss"]
