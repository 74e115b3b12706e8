"""The README's quick start runs as written, so it cannot rot."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _quick_start_blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_quick_start_runs_the_lectures_perceptron_and_a_trained_network(capsys):
    blocks = _quick_start_blocks()
    assert len(blocks) == 2
    namespace: dict = {}
    exec(compile(blocks[0], "README.md quick start 1", "exec"), namespace)
    assert namespace["y"].item() == pytest.approx(1 / (1 + math.exp(6)), rel=1e-5)
    exec(compile(blocks[1], "README.md quick start 2", "exec"), namespace)
    assert namespace["accuracy"] >= 0.95
    out = capsys.readouterr().out
    assert "step 0: loss" in out and "training accuracy" in out

