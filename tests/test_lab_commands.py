"""The lab's subcommands on the run folder that `gradwise train` writes: landscape, race,
lr-find and report, end to end on a tiny run."""

from __future__ import annotations

import argparse
import base64
import re
from pathlib import Path

import numpy as np
import pytest

from gradwise.cli import main
from gradwise.lab._model import loss_on
from gradwise.lab.commands import register
from gradwise.lab.landscape import Landscape
from gradwise.nn.utils import set_flat
from gradwise.training.run import load_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lab") / "run"
    assert main(["train", "--out", str(out), "--quiet", "--set", "training.epochs=6",
                 "--set", "data.n=120", "--set", "model.hidden=[8, 8]"]) == 0
    return out


@pytest.mark.slow
def test_landscape_command_writes_data_and_figures(run_dir: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["landscape", str(run_dir), "--resolution", "5", "--workers", "2"]) == 0
    assert "random directions" in capsys.readouterr().out
    out = run_dir / "landscape"
    pngs = {p.name for p in out.glob("*.png")}
    assert {"interpolation.png", "random_1d.png", "random_2d_filled.png",
            "random_2d_contour.png", "random_2d_surface.png", "pca_2d_filled.png",
            "pca_2d_contour.png", "pca_2d_surface.png"} <= pngs
    run = load_run(run_dir)
    with np.load(out / "interpolation.npz", allow_pickle=False) as z:
        alpha, interp = z["alpha"], z["loss"]
    random = Landscape.load(out / "random_2d.npz")
    pca = Landscape.load(out / "pca_2d.npz")
    assert random.loss.shape == (5, 5) and random.done.all()
    np.testing.assert_allclose(pca.directions @ pca.directions.T, np.eye(2), atol=1e-10)
    assert {"explained_variance", "trajectory"} <= set(pca.extra)
    trained = random.loss[2, 2]
    assert trained == pytest.approx(run.summary["saved_model"]["train"]["loss"], rel=1e-5)
    assert interp[alpha == 1.0][0] == trained
    set_flat(run.model, run.trajectory[0])
    initial = loss_on(run.model, run.loss, run.X_train, run.y_train).item()
    assert interp[alpha == 0.0][0] == pytest.approx(initial, rel=1e-6)


@pytest.mark.slow
def test_race_lr_find_and_report(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not (run_dir / "landscape").is_dir():  # under xdist the landscape test may run elsewhere
        assert main(["landscape", str(run_dir), "--resolution", "3"]) == 0
    assert main(["race", str(run_dir), "--surface", "saddle", "--steps", "8",
                 "--frames", "3"]) == 0
    assert {p.name for p in (run_dir / "race").iterdir()} == {"race_saddle.png",
                                                               "race_saddle.gif"}
    assert main(["lr-find", str(run_dir), "--steps", "30"]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"suggested learning rate for adam: [0-9.e+-]+", printed)
    assert (run_dir / "lr_find.png").exists()
    assert main(["report", str(run_dir)]) == 0
    html = (run_dir / "report.html").read_text()
    for section in ("Summary", "Training curves", "Decision boundary", "Loss landscape",
                    "Optimizer race", "Learning-rate range test", "Config"):
        assert f"<h2>{section}</h2>" in html
    sources = re.findall(r'src="([^"]+)"', html)
    assert sources and all(s.startswith("data:image/") for s in sources)  # self-contained
    png = base64.b64decode(sources[0].split(",", 1)[1])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("command", ["landscape", "lr-find", "report"])
def test_lab_commands_name_a_missing_run_folder(command: str, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, str(tmp_path)]) == 2
    assert f"{tmp_path} is not a gradwise run folder" in capsys.readouterr().err


def test_race_surface_choices_are_the_race_surfaces() -> None:
    from gradwise.lab.race import SURFACES

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    for name in ["all", *SURFACES]:
        assert parser.parse_args(["race", "--surface", name]).surface == name
    with pytest.raises(SystemExit):
        parser.parse_args(["race", "--surface", "himmelblau"])
