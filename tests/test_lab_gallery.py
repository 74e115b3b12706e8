"""examples/lab_gallery.py runs end to end at a small size and writes every figure."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

GALLERY = Path(__file__).resolve().parents[1] / "examples" / "lab_gallery.py"


@pytest.mark.slow
def test_gallery_runs_small(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("lab_gallery", GALLERY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = module.main(tmp_path, small=True)
    names = {p.name for p in written}
    assert {"perceptron_line.png", "will_i_pass.png", "gradient_descent.png",
            "gradient_descent.gif", "fitting_three_ways.png", "early_stopping.png",
            "dropout.png", "learning_rates.png", "training_curves.png",
            "hidden_units.png"} <= names
    for p in written:
        assert p.stat().st_size > 1000, p
