"""What the page draws, computed from a model and a session's points: the clean numbers, the
network, the heatmaps, the loss landscape through the trajectory, and one mini-batch step of
backpropagation by gradwise's own autograd. Pure functions of their arguments (no threads, no
session state), so any loop can call them."""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import nn
from ..autograd import Tensor, no_grad
from ..functional import linear
from ..lab.landscape import loss_along, pca_directions, random_directions
from ..nn.utils import as_target as _target
from ..nn.utils import flat_parameters
from ..training.loop import evaluate
from .points import Points
from .settings import LIMITS

__all__ = ["backprop", "b64", "clean_numbers", "heatmaps", "landscape", "network", "r"]


def b64(a: np.ndarray) -> str:
    """Little-endian float32 bytes of ``a``, base64 (the protocol's ``f32-base64``)."""
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode("ascii")


def r(v: Any) -> float | None:
    """A float for JSON: 6 significant digits, None when missing or not finite."""
    if v is None:
        return None
    v = float(v)
    return float(f"{v:.6g}") if math.isfinite(v) else None


def _rounded(a: np.ndarray, digits: int = 5) -> list[Any]:
    """``a`` rounded as nested lists, non-finite entries as None (never NaN in JSON)."""
    a = np.asarray(a, dtype=np.float64)
    out = np.round(a, digits).astype(object)
    out[~np.isfinite(a)] = None
    return out.tolist()  # type: ignore[no-any-return]


def dense_layers(model: nn.Module) -> list[nn.Dense]:
    return [m for m in model.modules() if isinstance(m, nn.Dense)]


def _outputs(model: nn.Module, X: np.ndarray) -> np.ndarray:
    layers = dense_layers(model)
    was = model.training
    model.eval()
    try:
        with no_grad():
            return np.asarray(model(Tensor(X, dtype=layers[0].weight.dtype)).data)
    finally:
        model.train(was)


def per_class_accuracy(model: nn.Module, pts: Points) -> dict[str, list[float | None]]:
    """The recall of each class 0..K-1 on the training and the test points (None where a
    class has no point), from one forward pass over both."""
    out = _outputs(model, np.concatenate([pts.X_train, pts.X_test]))
    pred = (out[:, 0] > 0).astype(np.int64) if out.shape[1] == 1 else out.argmax(axis=1)
    res: dict[str, list[float | None]] = {}
    start = 0
    for name, y in (("train", pts.y_train), ("test", pts.y_test)):
        yy = np.asarray(y).reshape(len(y), -1)[:, 0].astype(np.int64)
        p = pred[start:start + len(yy)]
        start += len(yy)
        res[name] = [r(np.mean(p[yy == c] == c)) if np.any(yy == c) else None
                     for c in range(pts.classes)]
    return res


def clean_numbers(model: nn.Module, loss: Any, pts: Points, batch_size: int,
                  penalty: Callable[[nn.Module], Any] | None) -> dict[str, Any]:
    """The state's numbers for the current weights, computed as ``fit`` computes them
    (``evaluate`` in eval mode, batches of ``batch_size``): clean train and test loss and
    accuracy, the penalty apart, and per-class accuracy."""
    metrics = ["accuracy"] if pts.task != "regression" else ["mae"]
    tr = evaluate(model, loss, (pts.X_train, pts.y_train), metrics, batch_size)
    te = evaluate(model, loss, (pts.X_test, pts.y_test), metrics, batch_size)
    return {"train_loss": tr["loss"], "test_loss": te["loss"],
            "train_accuracy": tr.get("accuracy"), "test_accuracy": te.get("accuracy"),
            "penalty": penalty_value(model, penalty)}


def penalty_value(model: nn.Module, penalty: Callable[[nn.Module], Any] | None
                  ) -> float | None:
    if penalty is None or not (getattr(penalty, "l1", 1) or getattr(penalty, "l2", 1)):
        return None  # no regularization (an L1L2 with both rates 0 adds nothing)
    with no_grad():
        p = penalty(model)
    return 0.0 if p is None else float(p.item())


def network(model: nn.Module, inputs: list[str]) -> dict[str, Any]:
    layers = dense_layers(model)
    return {
        "layers": [layers[0].in_features] + [m.out_features for m in layers],
        "inputs": list(inputs),
        "weights": [_rounded(m.weight.data) for m in layers],
        "biases": [[0.0] * m.out_features if m.bias is None else _rounded(m.bias.data)
                   for m in layers],
    }


def heatmaps(model: nn.Sequential, pts: Points) -> dict[str, Any]:
    """Every neuron's activation and the output over the grid (see PROTOCOL.md)."""
    layers = dense_layers(model)
    was = model.training
    model.eval()
    acts = []
    try:
        with no_grad():
            x = Tensor(pts.grid, dtype=layers[0].weight.dtype)
            for m in model:
                x = m(x)
                if isinstance(m, nn.Dense):
                    acts.append(np.asarray(x.data))
    finally:
        model.train(was)
    logits = acts[-1].astype(np.float64)
    klass = probs = None
    if pts.task == "regression":
        out = logits[:, 0]
    elif logits.shape[1] == 1:
        out = 1 / (1 + np.exp(-np.clip(logits[:, 0], -60, 60)))
    else:
        z = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        out = p.max(axis=1)
        klass = b64(p.argmax(axis=1).astype(np.float32))
        probs = [b64(p[:, c]) for c in range(p.shape[1])]
    neurons = [[b64(pts.grid[:, j]) for j in range(pts.grid.shape[1])]]
    neurons += [[b64(a[:, j]) for j in range(a.shape[1])] for a in acts[:-1]]
    return {"size": LIMITS["heatmap_size"], "encoding": "f32-base64", "output": b64(out),
            "classes": pts.classes, "output_class": klass, "output_probs": probs,
            "neurons": neurons}


class Cancelled(Exception):
    """Raised inside long work when its session has gone."""


def landscape(model: nn.Module, loss: Any, pts: Points, trajectory: list[np.ndarray],
              dims: int, resolution: int, directions: str, seed: int,
              cancelled: Callable[[], bool] = lambda: False) -> dict[str, Any]:
    """The ``landscape`` message: the training loss around the current weights along PCA
    directions of the trajectory (its path visible, the span covering it) or filter-normalized
    random ones (Li et al. 2018), the trajectory projected, and the loss range for the colour
    scale. Checks ``cancelled`` between rows and raises :class:`Cancelled`."""
    center = flat_parameters(model).astype(np.float64)
    traj = np.stack(trajectory).astype(np.float64)
    if len(traj) > 60:
        traj = traj[np.unique(np.linspace(0, len(traj) - 1, 60).astype(int))]
    X, y = pts.X_train, pts.y_train
    explained = None
    path = np.vstack([traj, center[None]]) if not np.array_equal(traj[-1], center) else traj
    if directions == "pca" and len(path) >= dims + 2 and np.ptp(path, axis=0).max() > 0:
        dirs, ratio, coords = pca_directions(path, n=dims)
        explained = [r(v) for v in ratio]
        span = max(float(np.abs(coords).max()) * 1.25, 1e-3)
    else:
        directions = "random"
        dirs = random_directions(model, n=dims, seed=seed)
        coords = np.linalg.lstsq(dirs.T, (path - center).T, rcond=None)[0].T
        span = 1.0
    alphas = np.linspace(-span, span, resolution)

    def along(d: np.ndarray, c: np.ndarray) -> np.ndarray:
        parts = []
        for start in range(0, len(c), resolution):
            if cancelled():
                raise Cancelled
            parts.append(loss_along(model, loss, X, y, d, c[start:start + resolution],
                                    center=center, workers=1)[0])
        return np.concatenate(parts)

    exact = along(path - center, np.eye(len(path)))  # the loss at each trajectory point
    msg: dict[str, Any] = {"type": "landscape", "dims": dims, "directions": directions,
                           "alphas": _rounded(alphas, 6), "explained": explained}
    if dims == 1:
        grid_loss = along(dirs, alphas[:, None])
        msg["loss"] = [r(v) for v in grid_loss]
        msg["trajectory"] = [[r(a), r(v)] for a, v in zip(coords[:, 0], exact, strict=True)]
    else:
        aa, bb = np.meshgrid(alphas, alphas)
        grid_loss = along(dirs, np.column_stack([aa.ravel(), bb.ravel()]))
        msg["betas"] = msg["alphas"]
        msg["loss"] = [[r(v) for v in row] for row in grid_loss.reshape(resolution, resolution)]
        msg["trajectory"] = [[r(a), r(b)] for a, b in coords[:, :2]]
    msg["trajectory_loss"] = [r(v) for v in exact]
    every = np.concatenate([grid_loss.ravel(), exact])
    every = every[np.isfinite(every)]
    msg["loss_range"] = [r(every.min()), r(every.max())] if len(every) else [None, None]
    return msg


def backprop(model: nn.Module, loss: Any, pts: Points, batch_size: int, batch: int,
             sample: int, lr: float, penalty: Callable[[nn.Module], Any] | None,
             activation: str) -> dict[str, Any]:
    """One mini-batch step by gradwise's autograd, not applied: ``dJ/dw`` and ``dJ/db`` of the
    batch's mean loss ``J`` (eval mode: no dropout), the plain-descent update
    ``w - lr dJ/dw``, and for one sample the forward values ``z``, ``a``, ``f'(z)`` and the
    backward ``delta = dJ/dz`` (vector-Jacobian products of the same graph pieces), with which
    ``dJ/dw[l][i][j] = sum_s a[l][i] delta[l][j]`` (Rumelhart, Hinton and Williams 1986)."""
    n = len(pts.X_train)
    idx = (np.arange(batch_size) + batch * batch_size) % n
    idx = np.unique(idx) if batch_size >= n else idx
    xb, yb = pts.X_train[idx], pts.y_train[idx]
    sample = int(sample) % len(idx)
    layers = dense_layers(model)
    dtype = layers[0].weight.dtype
    was = model.training
    model.eval()
    try:
        for p in model.parameters():
            p.grad = None
        out = model(Tensor(xb, dtype=dtype))
        value = loss(out, _target(yb, out))
        value.backward()
        grads_w = [np.array(m.weight.grad, dtype=np.float64) for m in layers]
        grads_b = [None if m.bias is None else np.array(m.bias.grad, dtype=np.float64)
                   for m in layers]
        for p in model.parameters():
            p.grad = None
        pen_grads = None
        if penalty is not None:
            pv = penalty(model)
            if pv is not None:
                pv.backward()
                pen_grads = [_rounded(np.zeros_like(m.weight.data) if m.weight.grad is None
                                      else m.weight.grad) for m in layers]
            for p in model.parameters():
                p.grad = None
        # Per-sample values: the same forward again, each layer's pre-activation z a leaf, so
        # that dJ/dz comes from autograd too (a vector-Jacobian product layer by layer).
        a_list = [np.asarray(xb, dtype=np.float64)]
        zs: list[np.ndarray] = []
        dadz: list[np.ndarray] = []
        x = Tensor(xb, dtype=dtype)
        act_fn = None if activation in ("linear", "identity") else nn.get_activation(activation)
        with no_grad():
            for k, m in enumerate(layers):
                z = linear(x, m.weight, m.bias, None)
                zs.append(np.asarray(z.data, dtype=np.float64))
                if k < len(layers) - 1 and act_fn is not None:
                    x = act_fn(z)
                else:
                    x = z
                if k < len(layers) - 1:
                    a_list.append(np.asarray(x.data, dtype=np.float64))
        for k in range(len(layers) - 1):  # f'(z) by autograd: d/dz sum(f(z))
            zl = Tensor(zs[k].astype(dtype), dtype=dtype, requires_grad=True)
            if act_fn is None:
                dadz.append(np.ones_like(zs[k]))
                continue
            act_fn(zl).sum().backward()
            dadz.append(np.asarray(zl.grad, dtype=np.float64))
        zl = Tensor(zs[-1].astype(dtype), dtype=dtype, requires_grad=True)
        loss(zl, _target(yb, zl)).backward()
        deltas = [np.asarray(zl.grad, dtype=np.float64)]
        for k in range(len(layers) - 1, 0, -1):  # delta[k-1] = f'(z[k-1]) * (delta[k] W[k]^T)
            hidden = Tensor(a_list[k].astype(dtype), dtype=dtype, requires_grad=True)
            zk = linear(hidden, layers[k].weight, layers[k].bias, None)
            (zk * Tensor(deltas[0].astype(dtype), dtype=dtype)).sum().backward()
            deltas.insert(0, np.asarray(hidden.grad, dtype=np.float64) * dadz[k - 1])
            for p in model.parameters():
                p.grad = None
    finally:
        model.train(was)
    return {
        "type": "backprop", "batch": int(batch), "indices": idx.tolist(), "sample": sample,
        "loss": r(value.item()), "lr": r(lr), "activation": activation,
        "grads": {"weights": [_rounded(g, 6) for g in grads_w],
                  "biases": [None if g is None else _rounded(g, 6) for g in grads_b]},
        "penalty_grads": None if pen_grads is None else {"weights": pen_grads},
        "updates": {"weights": [_rounded(np.asarray(m.weight.data, np.float64) - lr * g, 6)
                                for m, g in zip(layers, grads_w, strict=True)],
                    "biases": [None if g is None or m.bias is None else
                               _rounded(np.asarray(m.bias.data, np.float64) - lr * g, 6)
                               for m, g in zip(layers, grads_b, strict=True)]},
        "forward": {"z": [_rounded(z[sample], 6) for z in zs],
                    "a": [_rounded(a[sample], 6) for a in a_list],
                    "dadz": [_rounded(d[sample], 6) for d in dadz]},
        "delta": [_rounded(d[sample], 8) for d in deltas],
    }
