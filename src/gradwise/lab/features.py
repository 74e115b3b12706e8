"""Features and functions: hand-engineered features for a linear model against a network that
learns its own from the raw inputs, linear against non-linear activations, the first-layer
weights of an MNIST network as images, and learning as function approximation (a network
fitting a 1D target as training proceeds and as its hidden layer widens; Cybenko 1989)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from matplotlib import colormaps

from .. import backend
from ..autograd import Tensor, no_grad, tensor
from ..nn import BCEWithLogitsLoss, Dense, Module, MSELoss, Sequential
from ..nn.utils import set_flat
from ._model import train_full_batch
from .boundary import plot_boundaries, predict_proba
from .style import TRAIN_COLOR, LabFigure, new_figure

__all__ = ["HandFeatures", "linear_vs_nonlinear", "plot_feature_engineering",
           "plot_first_layer_weights", "plot_function_approximation"]


class HandFeatures(Module):
    """The hand-made features of TensorFlow Playground:
    ``(x1, x2) -> (x1, x2, x1^2, x2^2, x1 x2, sin x1, sin x2)``."""

    names = ("x1", "x2", "x1²", "x2²", "x1·x2", "sin x1", "sin x2")

    def forward(self, x: Tensor) -> Tensor:
        # Fixed transforms of the data: nothing upstream is trained, so no graph is needed.
        a = x.data
        x1, x2 = a[:, 0:1], a[:, 1:2]
        xp = backend.xp_of(a)
        feats = xp.concatenate([x1, x2, x1 * x1, x2 * x2, x1 * x2, xp.sin(x1), xp.sin(x2)],
                               axis=1)
        return Tensor(feats, dtype=a.dtype)


def _accuracy(model: Module, X: np.ndarray, y: np.ndarray) -> float:
    return float(((predict_proba(model, X).reshape(-1) > 0.5)
                  == (np.asarray(y).reshape(-1) == 1)).mean())  # y of shape (n,) or (n, 1)


def plot_feature_engineering(X: np.ndarray, y: np.ndarray, hidden: int = 16,
                             epochs: int = 500, seed: int = 0, held_out: float = 0.3) -> LabFigure:
    """A linear model (logistic regression) on hand-made features beside a small ReLU network
    (2-``hidden``-``hidden``-1) on the raw inputs, both trained with full-batch Adam on the
    same points, a ``held_out`` fraction of them kept aside (stratified); the panel titles give
    each model's training and held-out accuracy, so the comparison is on data neither model
    saw. ``fig.data``: :func:`plot_boundaries`'s keys and ``"train_held_out"``:
    ``{"engineered" | "learned": (train accuracy, held-out accuracy)}``."""
    from ..data import train_test_split

    Xa, Xb, ya, yb = train_test_split(X, y, test_size=held_out, seed=seed, stratify=y)
    backend.manual_seed(seed)
    engineered = Sequential(HandFeatures(), Dense(len(HandFeatures.names), 1))
    learned = Sequential(Dense(2, hidden, activation="relu"),
                         Dense(hidden, hidden, activation="relu"), Dense(hidden, 1))
    loss = BCEWithLogitsLoss()
    for m in (engineered, learned):
        train_full_batch(m, loss, Xa, ya, epochs, lr=0.03)
    acc = {name: (_accuracy(m, Xa, ya), _accuracy(m, Xb, yb))
           for name, m in (("engineered", engineered), ("learned", learned))}
    fig = plot_boundaries({
        f"linear model on hand-made features\n({', '.join(HandFeatures.names)}):\n"
        f"train {acc['engineered'][0]:.0%}, held-out {acc['engineered'][1]:.0%}": engineered,
        f"network on raw (x1, x2), 2-{hidden}-{hidden}-1 ReLU,\nlearning its own features:\n"
        f"train {acc['learned'][0]:.0%}, held-out {acc['learned'][1]:.0%}": learned,
    }, Xa, ya, suptitle=f"Hand-made vs learned features ({len(Xb)} held-out points)")
    fig.data["train_held_out"] = acc
    return fig


def linear_vs_nonlinear(X: np.ndarray, y: np.ndarray, hidden: Sequence[int] = (16, 16),
                        epochs: int = 500, seed: int = 0) -> LabFigure:
    """Two networks of the same shape from the same initialization, one with linear
    activations and one with ReLU, trained the same way: a stack of linear layers is one linear
    map, so its boundary is a straight line, while ReLU bends it. ``fig.data``:
    :func:`plot_boundaries`'s keys."""
    maps = {}
    sizes = [2, *hidden]
    for act, name in ((None, "linear activations: a straight boundary"),
                      ("relu", "ReLU activations: a non-linear boundary")):
        backend.manual_seed(seed)
        layers: list[Module] = [Dense(a, b, activation=act) for a, b in zip(sizes, sizes[1:],
                                                                            strict=False)]
        model = Sequential(*layers, Dense(sizes[-1], 1))
        train_full_batch(model, BCEWithLogitsLoss(), X, y, epochs, lr=0.03)
        maps[f"{name}\naccuracy {_accuracy(model, X, y):.0%}"] = model
    return plot_boundaries(maps, X, y, suptitle="Linear activations produce linear decisions")


def plot_first_layer_weights(model: Module, n: int = 32, shape: tuple[int, int] = (28, 28),
                             columns: int = 8, initial: np.ndarray | None = None) -> LabFigure:
    """The weights into the first ``n`` units of the first Dense layer, each column of ``W``
    (in, out) drawn as a ``shape`` image: blue where a bright pixel excites the unit, red where
    it inhibits it (each image scaled to its own largest ``|w|``). With ``initial`` (the same
    layer's weights before training) the images show what training changed, ``W - W_init``:
    random initial values that never receive a gradient (pixels that are always 0) vanish.
    ``fig.data``: ``{"images": (n, *shape) array drawn, "vmax": per-image colour limit}``."""
    first = next((m for m in model.modules() if isinstance(m, Dense)), None)
    if first is None or first.in_features != shape[0] * shape[1]:
        raise ValueError(f"the model's first Dense layer must take {shape[0] * shape[1]} inputs "
                         f"to draw {shape} images, got {first!r}")
    W = backend.to_numpy(first.weight.data).astype(np.float64)
    if initial is not None:
        initial = np.asarray(initial, dtype=np.float64)
        if initial.shape != W.shape:
            raise ValueError(f"initial weights of shape {initial.shape} for a layer of shape "
                             f"{W.shape}")
        W = W - initial
    n = min(n, W.shape[1])
    rows = -(-n // columns)
    fig = new_figure(1.25 * columns + 0.6, 1.35 * rows + 0.7)
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    fig.data.update({"images": W[:, :n].T.reshape(n, *shape).copy(),
                     "vmax": np.array([max(np.abs(W[:, j]).max(), 1e-12) for j in range(n)])})
    for j, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if j >= n:
            ax.axis("off")
            continue
        img = W[:, j].reshape(shape)
        vmax = max(np.abs(img).max(), 1e-12)
        ax.imshow(img, cmap="RdBu", vmin=-vmax, vmax=vmax)
        ax.set_title(f"unit {j + 1}", fontsize=7)
    what = "Change of the first-layer weights in training" if initial is not None else (
        "First-layer weights")
    fig.suptitle(f"{what} as {shape[0]}x{shape[1]} images (first {n} of {W.shape[1]} units): "
                 "blue excites, red inhibits", fontsize=10)
    return fig


def _predict_1d(model: Module, x: np.ndarray) -> np.ndarray:
    with no_grad():
        return model(tensor(x.reshape(-1, 1))).numpy().ravel()


def plot_function_approximation(target: Callable[[np.ndarray], np.ndarray] | None = None,
                                widths: Sequence[int] = (1, 2, 4, 8, 32),
                                epochs: Sequence[int] = (0, 30, 300, 3000), n: int = 64,
                                seed: int = 0) -> LabFigure:
    """Learning as function approximation. Left: a 1-32-1 tanh network fitting ``target``
    (default ``sin(3x) + 0.3 x^2`` on [-2, 2], ``n`` noiseless samples) after each number of
    ``epochs`` of full-batch Adam on the squared error. Right: networks of each hidden
    ``width`` after the last number of epochs: the wider the layer, the closer the fit.
    ``fig.data``: ``{"x", "y"`` (the samples), ``"dense_x", "target"`` (the dashed curve),
    ``"by_epoch": {epochs: prediction on dense_x}, "by_width": {width: prediction},
    "mse_by_epoch", "mse_by_width"`` (mean squared error on the samples)}``."""
    target = target or (lambda x: np.sin(3 * x) + 0.3 * x**2)
    x = np.linspace(-2, 2, n).astype(np.float32)
    y = target(x).astype(np.float32)
    dense_x = np.linspace(-2.2, 2.2, 400).astype(np.float32)
    fig = new_figure(12, 4.6)
    ax, ax2 = fig.subplots(1, 2, sharey=True)
    loss = MSELoss()

    def net(width: int) -> Sequential:
        backend.manual_seed(seed)
        return Sequential(Dense(1, width, activation="tanh"), Dense(width, 1))

    model = net(32)
    snaps = train_full_batch(model, loss, x[:, None], y, max(epochs), lr=0.01, snapshots=epochs)
    cmap = colormaps["viridis"]
    by_epoch, by_width, mse_epoch, mse_width = {}, {}, {}, {}
    for i, e in enumerate(epochs):
        set_flat(model, snaps[e])
        by_epoch[e] = _predict_1d(model, dense_x)
        mse_epoch[e] = float(np.mean((_predict_1d(model, x) - y) ** 2))
        ax.plot(dense_x, by_epoch[e], color=cmap(i / max(len(epochs) - 1, 1)),
                linewidth=2, label=f"after {e} epochs")
    for width_i, w in enumerate(widths):
        m = net(w)
        train_full_batch(m, loss, x[:, None], y, max(epochs), lr=0.01)
        by_width[w] = _predict_1d(m, dense_x)
        mse_width[w] = float(np.mean((_predict_1d(m, x) - y) ** 2))
        ax2.plot(dense_x, by_width[w], linewidth=2,
                 color=cmap(width_i / max(len(widths) - 1, 1)),
                 label=f"{w} hidden unit{'s' if w > 1 else ''}")
    for a in (ax, ax2):
        a.plot(dense_x, target(dense_x), color="black", linestyle="--", linewidth=1.5,
               label="target f(x)")
        a.scatter(x, y, s=12, color=TRAIN_COLOR, zorder=3, label="training samples")
        a.set_xlabel("x")
        a.grid(alpha=0.3)
        a.legend(fontsize=8, loc="upper center")
    ax.set_ylabel("y")
    ax.set_title("1-32-1 tanh network as training proceeds")
    ax2.set_title(f"After {max(epochs)} epochs, as the hidden layer widens")
    fig.suptitle("Learning as function approximation")
    fig.data.update({"x": x, "y": y, "dense_x": dense_x, "target": target(dense_x),
                     "by_epoch": by_epoch, "by_width": by_width, "mse_by_epoch": mse_epoch,
                     "mse_by_width": mse_width})
    return fig
