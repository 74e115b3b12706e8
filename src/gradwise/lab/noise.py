"""Mini-batch gradient noise: at one point of a network's weight space, the gradients of many
random mini-batches of size 1, B and N against the full-batch gradient ``g = dJ/dtheta``.

A mini-batch gradient ``g_B`` is an unbiased estimate of ``g`` whose variance falls like
``1/B``; the figure shows the cosine similarity ``cos(g_B, g) = g_B . g / (|g_B| |g|)`` and the
gradients projected on the plane spanned by ``g`` and the main direction of the noise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..nn import Module
from ..nn.utils import flat_parameters, set_flat
from ._model import flat_grad, loss_on
from .style import LabFigure, new_figure

__all__ = ["GradientNoise", "gradient_noise", "gradient_noise_along", "plot_gradient_noise",
           "plot_gradient_noise_along"]

_COLORS = ("#e69f00", "#56b4e9", "#009e73", "#0072b2")  # Okabe-Ito, colour-blind safe


@dataclass
class GradientNoise:
    """``full``: the full-batch gradient; ``grads[B]``: one mini-batch gradient per row for
    each batch size ``B`` (float64)."""

    full: np.ndarray
    grads: dict[int, np.ndarray]

    def cosines(self, batch_size: int) -> np.ndarray:
        """Cosine similarity of each mini-batch gradient of size ``batch_size`` with ``full``."""
        g = self.grads[batch_size]
        return g @ self.full / (np.linalg.norm(g, axis=1) * np.linalg.norm(self.full) + 1e-300)


def _gradient(model: Module, loss: Module, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    model.zero_grad()
    loss_on(model, loss, X, y).backward()
    return flat_grad(model)


def gradient_noise(model: Module, loss: Module, X: np.ndarray, y: np.ndarray,
                   batch_sizes: Sequence[int] = (1, 32), samples: int = 100,
                   seed: int = 0) -> GradientNoise:
    """Gradients at the model's current weights (eval mode: dropout off, so the only noise is
    the choice of samples) of ``samples`` random mini-batches of each size (drawn without
    replacement within a batch) and of the full batch of all N samples."""
    rng = np.random.default_rng(seed)
    was_training = model.training
    model.eval()
    try:
        full = _gradient(model, loss, X, y)
        grads = {}
        for b in batch_sizes:
            if not 1 <= b <= len(X):
                raise ValueError(f"batch size {b} must be between 1 and N = {len(X)}")
            rows = []
            for _ in range(samples):
                idx = rng.choice(len(X), size=b, replace=False)
                rows.append(_gradient(model, loss, X[idx], y[idx]))
            grads[int(b)] = np.stack(rows)
    finally:
        model.zero_grad()
        model.train(was_training)
    return GradientNoise(full, grads)


def _plane(noise: GradientNoise) -> np.ndarray:
    """An orthonormal pair: the full gradient's direction and the top principal direction of
    the mini-batch gradients' components orthogonal to it."""
    e1 = noise.full / np.linalg.norm(noise.full)
    resid = np.concatenate(list(noise.grads.values()))
    resid = resid - np.outer(resid @ e1, e1)
    _, _, vt = np.linalg.svd(resid - resid.mean(axis=0), full_matrices=False)
    e2 = vt[0] - (vt[0] @ e1) * e1
    return np.stack([e1, e2 / np.linalg.norm(e2)])


def plot_gradient_noise(noise: GradientNoise, title: str | None = None) -> LabFigure:
    """Left: histograms of ``cos(g_B, g)`` per batch size (the full batch gives 1). Right: the
    gradient directions ``g_B / |g_B|`` as arrows projected on the plane of ``g`` and the main
    noise direction, the full-batch direction in black (an arrow shorter than 1 points partly
    out of the plane). ``fig.data``: ``{"cosines": {batch size: cosines histogrammed},
    "mean_cosine": {batch size: mean}, "directions": {batch size: (k, 2) arrow tips},
    "full_direction": the black arrow's tip}``."""
    fig = new_figure(12, 4.8)
    cosines: dict[int, np.ndarray] = {}
    tips: dict[int, np.ndarray] = {}
    ax, ax2 = fig.subplots(1, 2)
    bins = np.linspace(-1, 1, 41)
    for (b, _), color in zip(noise.grads.items(), _COLORS, strict=False):
        cos = cosines[b] = noise.cosines(b)
        ax.hist(cos, bins=bins, color=color, alpha=0.6,
                label=f"batch size {b} (mean cos {cos.mean():.2f})")
    ax.axvline(1.0, color="black", linewidth=2, label="full batch N (cos = 1)")
    ax.set_xlabel("cosine similarity with the full-batch gradient")
    ax.set_ylabel("number of mini-batches")
    ax.set_title("How well a mini-batch gradient points the right way")
    ax.legend(fontsize=8, loc="upper left")
    plane = _plane(noise)
    full2 = plane @ (noise.full / np.linalg.norm(noise.full))
    for (b, g), color in zip(noise.grads.items(), _COLORS, strict=False):
        pts = tips[b] = (g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True),
                                        1e-300)) @ plane.T
        ax2.quiver(np.zeros(len(pts)), np.zeros(len(pts)), pts[:, 0], pts[:, 1], color=color,
                   alpha=0.35, angles="xy", scale_units="xy", scale=1, width=0.004)
        ax2.plot([], [], color=color, linewidth=3, label=f"batch size {b}")
    ax2.quiver([0], [0], [full2[0]], [full2[1]], color="black", angles="xy",
               scale_units="xy", scale=1, width=0.01, zorder=5)
    ax2.plot([], [], color="black", linewidth=3, label="full batch (all N)")
    ax2.set_xlim(-1.1, 1.1)
    ax2.set_ylim(-1.1, 1.1)
    ax2.set_aspect("equal")
    ax2.axhline(0, color="gray", linewidth=0.5)
    ax2.axvline(0, color="gray", linewidth=0.5)
    ax2.set_xlabel("along the full-batch gradient")
    ax2.set_ylabel("along the main direction of the noise")
    ax2.set_title("Gradient directions (unit length) projected on a plane")
    ax2.legend(fontsize=8, loc="upper left")
    fig.suptitle(title or f"Mini-batch gradient noise at one point of weight space "
                          f"({noise.full.size} parameters)")
    fig.data.update({"cosines": cosines,
                     "mean_cosine": {b: float(c.mean()) for b, c in cosines.items()},
                     "directions": tips, "full_direction": full2})
    return fig


def gradient_noise_along(model: Module, loss: Module, X: np.ndarray, y: np.ndarray,
                         snapshots: Mapping[str, np.ndarray],
                         batch_sizes: Sequence[int] = (1, 32), samples: int = 100,
                         seed: int = 0) -> dict[str, GradientNoise]:
    """:func:`gradient_noise` at several points of a training trajectory, ``{stage: flat
    weights}`` (e.g. early, middle and late epochs). How far a mini-batch gradient strays from
    the full gradient depends on where it is measured (at trained weights the full gradient is
    often near zero, which makes the noise look larger than during training), so the figure
    says where each measurement was taken and the full gradient's norm there. The model's
    weights are restored afterwards."""
    start = flat_parameters(model)
    try:
        out = {}
        for stage, weights in snapshots.items():
            set_flat(model, weights)
            out[stage] = gradient_noise(model, loss, X, y, batch_sizes, samples, seed)
    finally:
        set_flat(model, start)
    return out


def plot_gradient_noise_along(results: Mapping[str, GradientNoise],
                              title: str = "Mini-batch gradient noise along training") -> LabFigure:
    """One panel per stage of training: histograms of ``cos(g_B, g)`` per batch size, with
    the full gradient's norm ``|g|`` and each batch size's mean cosine in the legend.
    ``fig.data``: ``{"stages": [stage per panel], "full_norm": {stage: |g|},
    "mean_cosine": {stage: {batch size: mean cos}}}``."""
    full_norm: dict[str, float] = {}
    means: dict[str, dict[int, float]] = {}
    fig = new_figure(4.4 * len(results), 4.0)
    axes = fig.subplots(1, len(results), sharey=True, squeeze=False)[0]
    bins = np.linspace(-1, 1, 41)
    for ax, (stage, noise) in zip(axes, results.items(), strict=True):
        for (b, _), color, hatch in zip(noise.grads.items(), _COLORS, ("", "//", "..", "xx"),
                                        strict=False):
            cos = noise.cosines(b)
            means.setdefault(stage, {})[b] = float(cos.mean())
            ax.hist(cos, bins=bins, color=color, alpha=0.6, hatch=hatch,
                    label=f"B = {b}: mean cos {cos.mean():.2f}")
        full_norm[stage] = float(np.linalg.norm(noise.full))
        ax.set_title(f"{stage}\n|full gradient| = {full_norm[stage]:.3g}",
                     fontsize=9)
        ax.set_xlabel("cos(mini-batch gradient, full gradient)")
        ax.legend(fontsize=7, loc="upper left")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("number of mini-batches")
    fig.suptitle(title)
    fig.data.update({"stages": list(results), "full_norm": full_norm, "mean_cosine": means})
    return fig
