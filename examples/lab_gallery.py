"""Draw every picture of the lab into one folder (default ``lab-gallery/``), from real training
with gradwise's own engine. Run from the repository root: ``python examples/lab_gallery.py``
(``--small``: tiny data and few epochs, the same figures in seconds; CI runs it so).

The loss landscape, optimizer race GIFs, LR range test and HTML report of a training run come
from the command line instead: ``gradwise train --out runs/spiral``, then ``gradwise landscape
runs/spiral``, ``gradwise race runs/spiral``, ``gradwise lr-find runs/spiral`` and ``gradwise
report runs/spiral``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import gradwise as gw
from gradwise import lab, nn
from gradwise.lab.files import save_figure

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist-5k"


def main(out: Path, small: bool = False) -> list[Path]:
    """Write every figure into ``out``; ``small`` uses tiny data and few epochs. Returns the
    paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    k = 4 if small else 1  # divides sizes and epochs

    def save(name: str, fig) -> None:
        written.append(save_figure(fig, out / f"{name}.png"))
        print(written[-1])

    t0 = time.perf_counter()
    save("activations", lab.plot_activations())

    # The lecture's pictures.
    save("perceptron_line", lab.perceptron_line())
    save("will_i_pass", lab.will_i_pass())  # a 2-3-1 network: full size is fast
    fig = lab.gradient_descent_steps(steps=60 // k)
    save("gradient_descent", fig)
    written.append(lab.save_gradient_descent_gif(fig.data, out / "gradient_descent.gif").path)
    save("fitting_three_ways", lab.fitting_three_ways())
    save("minibatches", lab.minibatch_study(steps=150 // k * 2, n=256 // k * 2))
    save("early_stopping", lab.early_stopping_study(n=60 if not small else 40,
                                                    width=128 // k * 2, epochs=300 // k))
    save("dropout", lab.dropout_study(n=60 if not small else 40, width=128 // k * 2,
                                      epochs=200 // k))

    X, y = gw.data.spiral(n=600 // k, seed=0)
    Xs, Xv, ys, yv = gw.data.train_test_split(X, y, test_size=0.25, seed=0, stratify=y)
    gw.manual_seed(0)
    model = nn.Sequential(nn.Dense(2, 32, activation="relu"), nn.Dense(32, 32, activation="relu"),
                          nn.Dense(32, 1))
    loss = nn.BCEWithLogitsLoss()
    es = gw.callbacks.EarlyStopping(patience=15, restore_best_weights=True)
    history = gw.fit(model, loss, gw.optim.Adam(model.parameters(), lr=0.01), (Xs, ys),
                     epochs=300 // k, validation_data=(Xv, yv), metrics=["accuracy"],
                     callbacks=[es], verbose=0, seed=0, train_eval=True)
    save("training_curves", lab.plot_history(history, early_stopping=es))
    save("decision_boundary", lab.plot_decision_boundary(model, Xs, ys, Xv, yv,
                                                         test_label="validation"))
    save("hidden_units", lab.plot_hidden_units(model, Xs, ys))
    save("gradient_noise", lab.plot_gradient_noise(
        lab.gradient_noise(model, loss, Xs, ys, batch_sizes=(1, 32, 256 // k), samples=60 // k)))

    # Gradient noise measured along a training run, not only at the trained weights.
    gw.manual_seed(2)
    net = nn.Sequential(nn.Dense(2, 32, activation="relu"), nn.Dense(32, 1))
    opt = gw.optim.Adam(net.parameters(), lr=0.01)
    snaps = {}
    for stage, epochs in (("early (epoch 1)", 1), ("middle (epoch 10)", 9),
                          ("late (epoch 60)", 50)):
        gw.fit(net, loss, opt, (Xs, ys), epochs=epochs, verbose=0, seed=0)
        snaps[stage] = gw.nn.utils.flat_parameters(net)
    save("gradient_noise_along_training", lab.plot_gradient_noise_along(lab.gradient_noise_along(
        net, loss, Xs, ys, snaps, batch_sizes=(1, 32), samples=60 // k)))

    Xm, ym = gw.data.moons(n=400 // k, noise=0.15, seed=0)
    gw.manual_seed(1)
    fresh = nn.Sequential(nn.Dense(2, 32, activation="relu"), nn.Dense(32, 32, activation="relu"),
                          nn.Dense(32, 1))
    save("learning_rates", lab.plot_lr_comparison(lab.choose_learning_rates(
        fresh, loss, Xm, ym, epochs=30 // k * 2)))

    Xm, ym = gw.data.moons(n=200, noise=0.35, seed=1)
    Xa, Xb, ya, yb = gw.data.train_test_split(Xm, ym, test_size=0.5, seed=0)
    save("capacity", lab.capacity_study(Xa, ya, Xb, yb, epochs=2000 // k // 2 if small else 2000,
                                        widths=(1, 4, 16) if small else (1, 2, 4, 16, 64, 256)))
    Xc, yc = gw.data.circle(n=300 // k, noise=0.1, seed=0)
    save("features", lab.plot_feature_engineering(Xc, yc, epochs=60 if small else 500))
    Xx, yx = gw.data.xor(n=300 // k, seed=0)
    save("linear_vs_nonlinear", lab.linear_vs_nonlinear(Xx, yx, epochs=60 if small else 500))
    save("function_approximation", lab.plot_function_approximation(
        epochs=(0, 30, 100) if small else (0, 30, 300, 3000), widths=(1, 4, 16) if small
        else (1, 2, 4, 8, 32)))
    for surface in lab.SURFACES:
        save(f"race_{surface}", lab.plot_race(
            lab.run_race(surface, steps=40 if small else None), surface))

    if not small and (MNIST / "train-images-idx3-ubyte.gz").exists():
        Xd, yd = gw.data.mnist(MNIST)
        gw.manual_seed(0)
        mlp = nn.Sequential(nn.Dense(784, 256, activation="relu"),
                            nn.Dense(256, 256, activation="relu"), nn.Dense(256, 10))
        initial = mlp[0].weight.numpy().copy()
        gw.fit(mlp, nn.CrossEntropyLoss(), gw.optim.Adam(mlp.parameters(), lr=1e-3), (Xd, yd),
               epochs=5, batch_size=64, verbose=0, seed=0)
        save("mnist_first_layer", lab.plot_first_layer_weights(mlp, n=24, initial=initial))
    print(f"{time.perf_counter() - t0:.1f} s")
    return written


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", type=Path, default=Path("lab-gallery"))
    parser.add_argument("--small", action="store_true", help="tiny sizes (seconds; for CI)")
    args = parser.parse_args()
    main(args.out, small=args.small)
