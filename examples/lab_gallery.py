"""Draw every picture of the lab into one folder (default ``lab-gallery/``), from real training
with gradwise's own engine. Run from the repository root: ``python examples/lab_gallery.py``.

The loss landscape, optimizer race GIFs, LR range test and HTML report of a training run come
from the command line instead: ``gradwise train --out runs/spiral``, then ``gradwise landscape
runs/spiral``, ``gradwise race runs/spiral``, ``gradwise lr-find runs/spiral`` and ``gradwise
report runs/spiral``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import gradwise as gw
from gradwise import lab, nn
from gradwise.lab.files import save_figure

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist-5k"


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)

    def save(name: str, fig) -> None:
        print(save_figure(fig, out / f"{name}.png"))

    t0 = time.perf_counter()
    save("activations", lab.plot_activations())

    X, y = gw.data.spiral(n=600, seed=0)
    Xs, Xv, ys, yv = gw.data.train_test_split(X, y, test_size=0.25, seed=0, stratify=y)
    gw.manual_seed(0)
    model = nn.Sequential(nn.Dense(2, 32, activation="relu"), nn.Dense(32, 32, activation="relu"),
                          nn.Dense(32, 1))
    loss = nn.BCEWithLogitsLoss()
    es = gw.callbacks.EarlyStopping(patience=15, restore_best_weights=True)
    history = gw.fit(model, loss, gw.optim.Adam(model.parameters(), lr=0.01), (Xs, ys),
                     epochs=300, validation_data=(Xv, yv), metrics=["accuracy"],
                     callbacks=[es], verbose=0, seed=0)
    save("training_curves", lab.plot_history(history, early_stopping=es))
    save("decision_boundary", lab.plot_decision_boundary(model, Xs, ys, Xv, yv,
                                                         test_label="validation"))
    save("hidden_units", lab.plot_hidden_units(model, Xs, ys))
    save("gradient_noise", lab.plot_gradient_noise(
        lab.gradient_noise(model, loss, Xs, ys, batch_sizes=(1, 32, 256), samples=60)))

    gw.manual_seed(1)
    fresh = nn.Sequential(nn.Dense(2, 32, activation="relu"), nn.Dense(32, 32, activation="relu"),
                          nn.Dense(32, 1))
    save("learning_rates", lab.plot_lr_comparison(lab.compare_learning_rates(fresh, loss, Xs, ys)))

    Xm, ym = gw.data.moons(n=200, noise=0.35, seed=1)
    Xa, Xb, ya, yb = gw.data.train_test_split(Xm, ym, test_size=0.5, seed=0)
    save("capacity", lab.capacity_study(Xa, ya, Xb, yb))
    Xc, yc = gw.data.circle(n=300, noise=0.1, seed=0)
    save("features", lab.plot_feature_engineering(Xc, yc))
    Xx, yx = gw.data.xor(n=300, seed=0)
    save("linear_vs_nonlinear", lab.linear_vs_nonlinear(Xx, yx))
    save("function_approximation", lab.plot_function_approximation())
    for surface in lab.SURFACES:
        save(f"race_{surface}", lab.plot_race(lab.run_race(surface), surface))

    if (MNIST / "train-images-idx3-ubyte.gz").exists():
        Xd, yd = gw.data.mnist(MNIST)
        gw.manual_seed(0)
        mlp = nn.Sequential(nn.Dense(784, 256, activation="relu"),
                            nn.Dense(256, 256, activation="relu"), nn.Dense(256, 10))
        initial = mlp[0].weight.numpy().copy()
        gw.fit(mlp, nn.CrossEntropyLoss(), gw.optim.Adam(mlp.parameters(), lr=1e-3), (Xd, yd),
               epochs=5, batch_size=64, verbose=0, seed=0)
        save("mnist_first_layer", lab.plot_first_layer_weights(mlp, n=24, initial=initial))
    print(f"{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("lab-gallery"))
