"""The lecture's "Will I pass this class?", end to end with gradwise.

The data is SYNTHETIC (no real students): ``gw.data.will_i_pass`` draws x1 = lectures attended
and x2 = hours spent on the final project, both uniform on [0, 12], and labels a student as
passing (1) where ``0.6 x1 + 0.8 x2 - 7 + noise > 0``. A small 2-3-1 network is asked about
you, x = [4, 5] (4 lectures, 5 hours: by the rule, a fail), before and after training.

Run from the repository root: ``python examples/will_i_pass.py [FIGURE.png]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import gradwise as gw
from gradwise import nn


def main(figure: Path | None = None) -> dict[str, float]:
    X, y = gw.data.will_i_pass(n=200, seed=0)
    Xs = X / 12.0  # both features in [0, 1]
    you = np.array([[4.0, 5.0]], dtype=np.float32) / 12.0

    gw.manual_seed(0)
    model = nn.Sequential(nn.Dense(2, 3, activation="sigmoid"), nn.Dense(3, 1))

    def p_pass() -> float:
        return float(1 / (1 + np.exp(-gw.predict(model, you)[0, 0])))

    before = p_pass()
    print(f"untrained network: P(pass | x=[4, 5]) = {before:.2f} -> "
          f"{'pass' if before > 0.5 else 'fail'} (actual: fail)")
    gw.fit(model, nn.BCEWithLogitsLoss(), gw.optim.Adam(model.parameters(), lr=0.05), (Xs, y),
           epochs=100, batch_size=32, metrics=["accuracy"], verbose=0, seed=0)
    after = p_pass()
    accuracy = gw.evaluate(model, nn.BCEWithLogitsLoss(), (Xs, y), metrics=["accuracy"])
    print(f"trained network:   P(pass | x=[4, 5]) = {after:.2f} -> "
          f"{'pass' if after > 0.5 else 'fail'} (actual: fail); training accuracy "
          f"{accuracy['accuracy']:.1%}")
    if figure is not None:
        from gradwise import lab
        from gradwise.lab.files import save_figure

        print(save_figure(lab.will_i_pass(), figure))
    return {"before": before, "after": after, "accuracy": accuracy["accuracy"]}


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
