"""The lecture's green vs red points: 2D toy classification sets and a 2D regression set.

Modelled on TensorFlow Playground's data sets (Smilkov, Carter et al. 2016,
github.com/tensorflow/playground, ``dataset.ts``) and scikit-learn's ``make_moons``, rescaled so
that every set lies in about [-1, 1]^2. Each classifier set draws ``n // 2`` points of class 0 and
``n - n // 2`` of class 1, adds Gaussian noise of standard deviation ``noise`` to both
coordinates, and shuffles the rows. The same ``seed`` gives the same points.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "TOY_SETS",
    "circle",
    "gauss",
    "get_toy",
    "moons",
    "regression_2d",
    "regression_gauss",
    "regression_plane",
    "spiral",
    "three_blobs",
    "will_i_pass",
    "xor",
]

Arrays = tuple[np.ndarray, np.ndarray]


def _check(n: int, noise: float) -> None:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}")


def _finish(x0: np.ndarray, x1: np.ndarray, noise: float, rng: np.random.Generator) -> Arrays:
    """Stack the two classes, add the coordinate noise and shuffle the rows."""
    X = np.concatenate([x0, x1])
    X = X + noise * rng.standard_normal(X.shape)
    y = np.concatenate([np.zeros(len(x0), np.int64), np.ones(len(x1), np.int64)])
    order = rng.permutation(len(X))
    return X[order].astype(np.float32), y[order]


def _polar(r: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.stack([r * np.cos(t), r * np.sin(t)], axis=1)


def circle(n: int = 1000, noise: float = 0.05, seed: int = 0) -> Arrays:
    """A disc inside a ring: class 1 at radius ``r ~ U(0, 0.5)``, class 0 at ``r ~ U(0.7, 1)``,
    both at angle ``t ~ U(0, 2 pi)``; a point is ``(r cos t, r sin t)`` (Playground's "circle")."""
    _check(n, noise)
    rng = np.random.default_rng(seed)
    n0, n1 = n // 2, n - n // 2
    outer = _polar(rng.uniform(0.7, 1.0, n0), rng.uniform(0, 2 * np.pi, n0))
    inner = _polar(rng.uniform(0.0, 0.5, n1), rng.uniform(0, 2 * np.pi, n1))
    return _finish(outer, inner, noise, rng)


def xor(n: int = 1000, noise: float = 0.05, seed: int = 0) -> Arrays:
    """The exclusive or: ``|x1|, |x2| ~ U(0.05, 1)``, class 1 where ``x1 * x2 > 0`` (quadrants
    I and III), class 0 where ``x1 * x2 < 0`` (Playground's "exclusive or")."""
    _check(n, noise)
    rng = np.random.default_rng(seed)

    def quadrants(m: int, same_sign: bool) -> np.ndarray:
        mag = rng.uniform(0.05, 1.0, (m, 2))
        s1 = rng.choice([-1.0, 1.0], m)
        s2 = s1 if same_sign else -s1
        return mag * np.stack([s1, s2], axis=1)

    return _finish(quadrants(n // 2, False), quadrants(n - n // 2, True), noise, rng)


def gauss(n: int = 1000, noise: float = 0.1, seed: int = 0) -> Arrays:
    """Two Gaussian blobs: ``x ~ N(mu_k, 0.25^2 I)`` with ``mu_1 = (0.5, 0.5)`` for class 1 and
    ``mu_0 = (-0.5, -0.5)`` for class 0 (Playground's "Gaussian")."""
    _check(n, noise)
    rng = np.random.default_rng(seed)
    n0, n1 = n // 2, n - n // 2
    x0 = -0.5 + 0.25 * rng.standard_normal((n0, 2))
    x1 = 0.5 + 0.25 * rng.standard_normal((n1, 2))
    return _finish(x0, x1, noise, rng)


def spiral(n: int = 1000, noise: float = 0.04, seed: int = 0) -> Arrays:
    """Two interleaved spiral arms (Lang and Witbrock 1988, "Learning to tell two spirals apart";
    Playground's "spiral"): ``r ~ U(0, 1)``, ``t = 3.5 pi r + delta_k`` with ``delta_1 = 0``,
    ``delta_0 = pi``, point ``(r sin t, r cos t)``: 1.75 turns, the two arms 0.29 apart radially."""
    _check(n, noise)
    rng = np.random.default_rng(seed)

    def arm(m: int, delta: float) -> np.ndarray:
        r = rng.uniform(0.0, 1.0, m)
        t = 3.5 * np.pi * r + delta
        return np.stack([r * np.sin(t), r * np.cos(t)], axis=1)

    return _finish(arm(n // 2, np.pi), arm(n - n // 2, 0.0), noise, rng)


def three_blobs(n: int = 1000, noise: float = 0.05, seed: int = 0) -> Arrays:
    """Three classes (labels 0, 1, 2) for softmax and categorical cross-entropy: Gaussian blobs
    of standard deviation 0.2 centred at radius 0.6, at angles 90, 210 and 330 degrees, class k
    drawing ``n // 3`` points (class 0 also the remainder); Gaussian noise of standard deviation
    ``noise`` is added to both coordinates and the rows are shuffled."""
    _check(n, noise)
    rng = np.random.default_rng(seed)
    sizes = [n - 2 * (n // 3), n // 3, n // 3]
    parts, labels = [], []
    for k, m in enumerate(sizes):
        angle = np.pi / 2 + k * 2 * np.pi / 3
        centre = 0.6 * np.array([np.cos(angle), np.sin(angle)])
        parts.append(centre + 0.2 * rng.standard_normal((m, 2)))
        labels.append(np.full(m, k, np.int64))
    X = np.concatenate(parts)
    X = X + noise * rng.standard_normal(X.shape)
    y = np.concatenate(labels)
    order = rng.permutation(len(X))
    return X[order].astype(np.float32), y[order]


def moons(n: int = 1000, noise: float = 0.1, seed: int = 0) -> Arrays:
    """Two interleaving half circles (scikit-learn's ``make_moons``), centred on the origin:
    class 0 at ``(cos t - 0.5, sin t - 0.25)``, class 1 at ``(0.5 - cos t, 0.25 - sin t)``,
    ``t ~ U(0, pi)``."""
    _check(n, noise)
    rng = np.random.default_rng(seed)
    n0, n1 = n // 2, n - n // 2
    t0, t1 = rng.uniform(0, np.pi, n0), rng.uniform(0, np.pi, n1)
    x0 = np.stack([np.cos(t0) - 0.5, np.sin(t0) - 0.25], axis=1)
    x1 = np.stack([0.5 - np.cos(t1), 0.25 - np.sin(t1)], axis=1)
    return _finish(x0, x1, noise, rng)


def regression_2d(n: int = 1000, noise: float = 0.05, seed: int = 0) -> Arrays:
    """A smooth surface to regress: ``x ~ U(-1, 1)^2``,
    ``y = sin(pi x1) cos(pi x2 / 2) + noise * eps`` with ``eps ~ N(0, 1)``; ``y`` has shape
    ``(n, 1)``, float32."""
    _check(n, noise)
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, (n, 2))
    y = np.sin(np.pi * X[:, 0]) * np.cos(np.pi * X[:, 1] / 2) + noise * rng.standard_normal(n)
    return X.astype(np.float32), y.astype(np.float32)[:, None]


def regression_plane(n: int = 1000, noise: float = 0.05, seed: int = 0) -> Arrays:
    """A tilted plane (Playground's "plane"): ``x ~ U(-1, 1)^2``,
    ``y = (x1 + x2) / 2 + noise * eps`` with ``eps ~ N(0, 1)``, so ``y`` lies in about [-1, 1];
    ``y`` has shape ``(n, 1)``, float32."""
    _check(n, noise)
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, (n, 2))
    y = (X[:, 0] + X[:, 1]) / 2 + noise * rng.standard_normal(n)
    return X.astype(np.float32), y.astype(np.float32)[:, None]


# Playground's "multi gaussian": two positive and two negative bumps at the corners of a square.
_BUMPS = ((-0.5, 0.5, 1.0), (0.5, 0.5, -1.0), (-0.5, -0.5, -1.0), (0.5, -0.5, 1.0))


def regression_gauss(n: int = 1000, noise: float = 0.05, seed: int = 0) -> Arrays:
    """Gaussian bumps (Playground's "multi gaussian"): ``x ~ U(-1, 1)^2``,
    ``y = sum_k s_k exp(-||x - c_k||^2 / (2 * 0.2^2)) + noise * eps`` over four centres
    ``c_k = (+-0.5, +-0.5)`` with signs ``s_k = +1`` on the diagonal ``x1 = -x2`` and ``-1`` on
    ``x1 = x2``, so ``y`` lies in about [-1, 1]; ``y`` has shape ``(n, 1)``, float32."""
    _check(n, noise)
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, (n, 2))
    y = np.zeros(n)
    for cx, cy, sign in _BUMPS:
        y += sign * np.exp(-((X[:, 0] - cx) ** 2 + (X[:, 1] - cy) ** 2) / (2 * 0.2**2))
    y = y + noise * rng.standard_normal(n)
    return X.astype(np.float32), y.astype(np.float32)[:, None]


def will_i_pass(n: int = 200, noise: float = 0.5, seed: int = 0) -> Arrays:
    """The lecture's "Will I pass this class?" (a synthetic stand-in, no real students): two
    features, ``x1`` = number of lectures attended ``~ U(0, 12)`` and ``x2`` = hours spent on the
    final project ``~ U(0, 12)``; the student passes (class 1) where
    ``0.6 x1 + 0.8 x2 - 7 + noise * eps > 0`` with ``eps ~ N(0, 1)``. Unlike the other sets the
    features are not rescaled (they keep their units, as on the slide: x = [4, 5] is 4 lectures
    and 5 hours, a student who fails). The made-up rule, not data, decides the labels."""
    _check(n, noise)
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.0, 12.0, (n, 2))
    score = 0.6 * X[:, 0] + 0.8 * X[:, 1] - 7.0 + noise * rng.standard_normal(n)
    return X.astype(np.float32), (score > 0).astype(np.int64)


TOY_SETS: dict[str, Callable[..., Arrays]] = {
    "circle": circle,
    "xor": xor,
    "gauss": gauss,
    "spiral": spiral,
    "three_blobs": three_blobs,
    "moons": moons,
    "regression_2d": regression_2d,
    "regression_plane": regression_plane,
    "regression_gauss": regression_gauss,
    "will_i_pass": will_i_pass,
}


def get_toy(name: str, **kwargs: object) -> Arrays:
    """The toy set called ``name`` (one of :data:`TOY_SETS`), built with ``kwargs``
    (``n``, ``noise``, ``seed``)."""
    try:
        make = TOY_SETS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown toy data set {name!r}: expected one of {', '.join(sorted(TOY_SETS))}"
        ) from None
    return make(**kwargs)
