"""Input feature maps: the extra inputs of TensorFlow Playground (Smilkov, Carter et al. 2016,
github.com/tensorflow/playground, ``playground.ts``'s ``INPUTS``) computed from 2D points.

A point ``(x1, x2)`` becomes the vector of the chosen features, in the order given:
``x1``, ``x2``, ``x1^2``, ``x2^2``, ``x1*x2`` (products), ``sin(x1)``, ``sin(x2)``. The features
are computed from the data in its own units, before standardization (``gradwise train``
standardizes the feature columns afterwards with training statistics only).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..registry import Registry

__all__ = ["FEATURES", "check_features", "feature_map"]

Feature = Callable[[np.ndarray, np.ndarray], np.ndarray]

FEATURES: Registry[Feature] = Registry("input feature", {
    "x1": lambda a, b: a,
    "x2": lambda a, b: b,
    "x1^2": lambda a, b: a * a,
    "x2^2": lambda a, b: b * b,
    "x1*x2": lambda a, b: a * b,
    "sin(x1)": lambda a, b: np.sin(a),
    "sin(x2)": lambda a, b: np.sin(b),
})


def check_features(names: Sequence[str]) -> list[str]:
    """``names`` as a list after checking it: a non-empty list of distinct names of
    :data:`FEATURES`; otherwise a ValueError naming the offending entry."""
    if isinstance(names, str) or not isinstance(names, Sequence) or len(names) == 0:
        raise ValueError(f"features must be a non-empty list of names from "
                         f"{', '.join(FEATURES)}; got {names!r}")
    seen: set[str] = set()
    for name in names:
        if not isinstance(name, str) or name not in FEATURES:
            raise ValueError(f"unknown input feature {name!r}: expected one of "
                             f"{', '.join(FEATURES)}")
        if name in seen:
            raise ValueError(f"input feature {name!r} is listed twice")
        seen.add(name)
    return list(names)


def feature_map(X: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """The features ``names`` of the 2D points ``X`` (shape (n, 2)): an array of shape
    (n, len(names)) in the dtype of ``X`` (float32 for integer input), column ``k`` the feature
    ``names[k]`` of :data:`FEATURES` (e.g. ``x1^2`` = ``X[:, 0] ** 2``)."""
    names = check_features(names)
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"input features need points with 2 coordinates (x1, x2); got data of "
                         f"shape {X.shape}")
    if X.dtype.kind != "f":
        X = X.astype(np.float32)
    a, b = X[:, 0], X[:, 1]
    return np.stack([FEATURES[n](a, b) for n in names], axis=1).astype(X.dtype, copy=False)
