"""Preparing arrays for training: a seeded (optionally stratified) train/test split and a
standardizer fitted on the training data only."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .loader import as_array, as_generator, check_same_length

__all__ = ["Standardizer", "train_test_split"]


def _test_count(test_size: float | int, n: int) -> int:
    if isinstance(test_size, float) and 0.0 < test_size < 1.0:
        n_test = math.ceil(test_size * n)
    elif isinstance(test_size, int | np.integer) and not isinstance(test_size, bool):
        n_test = int(test_size)
    else:
        raise ValueError(
            f"test_size must be a fraction in (0, 1) or a number of samples, got {test_size!r}"
        )
    if not 1 <= n_test <= n - 1:
        raise ValueError(
            f"test_size={test_size!r} puts {n_test} of {n} samples in the test set; "
            "both sets need at least one sample"
        )
    return n_test


def _stratified_test_index(
    labels: np.ndarray, n_test: int, rng: np.random.Generator
) -> np.ndarray:
    """Pick ``n_test`` rows so that each class c gets ``n_c * n_test / n`` of them, rounded by
    largest remainder (the shares sum to ``n_test`` exactly, each within one of its ideal)."""
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    ideal = counts * n_test / len(labels)
    take = np.floor(ideal).astype(np.int64)
    remainder = n_test - int(take.sum())
    take[np.argsort(-(ideal - take), kind="stable")[:remainder]] += 1
    chosen = [
        rng.permutation(np.flatnonzero(inverse == c))[: take[c]] for c in range(len(classes))
    ]
    return rng.permutation(np.concatenate(chosen))


def train_test_split(
    *arrays: Any,
    test_size: float | int = 0.2,
    seed: int | np.random.Generator = 0,
    stratify: Any = None,
    shuffle: bool = True,
) -> list[np.ndarray]:
    """Split arrays with one row per sample into ``[a_train, a_test, b_train, b_test, ...]``.

    ``test_size`` is a fraction (the test set gets ``ceil(test_size * n)`` rows) or a count. With
    ``shuffle`` the rows are drawn at random from ``seed``; without it the last rows are the test
    set. ``stratify`` (labels, one per row) keeps each class's share in both sets.
    """
    if not arrays:
        raise ValueError("train_test_split needs at least one array")
    arrays_ = [as_array(a, i) for i, a in enumerate(arrays)]
    n = check_same_length(arrays_)
    n_test = _test_count(test_size, n)
    rng = as_generator(seed) if shuffle else None
    if stratify is not None:
        labels = np.asarray(stratify)
        if labels.shape != (n,):
            raise ValueError(
                f"stratify must have shape ({n},), one label per row, got {labels.shape}"
            )
        if not shuffle:
            raise ValueError("stratify needs shuffle=True: a stratified split draws at random")
        assert rng is not None  # shuffle is True
        test = _stratified_test_index(labels, n_test, rng)
        mask = np.ones(n, dtype=bool)
        mask[test] = False
        train = rng.permutation(np.flatnonzero(mask))
    elif rng is not None:
        order = rng.permutation(n)
        train, test = order[n_test:], order[:n_test]
    else:
        train, test = np.arange(n - n_test), np.arange(n - n_test, n)
    return [part for a in arrays_ for part in (a[train], a[test])]


class Standardizer:
    """Standardize features: ``z = (x - mu) / sigma`` per feature (column), with ``mu`` and the
    population standard deviation ``sigma`` measured on the training data by :meth:`fit`
    (LeCun, Bottou, Orr and Mueller 1998, "Efficient BackProp", section 4.3). A feature with
    ``sigma = 0`` gets scale 1, so it is only centred."""

    def __init__(self) -> None:
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    def fit(self, X: Any) -> Standardizer:
        """Measure ``mu`` and ``sigma`` over the rows of ``X`` (axis 0), in float64."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 0 or len(X) == 0:
            raise ValueError(f"Standardizer.fit needs at least one row, got shape {X.shape}")
        self.mean_ = X.mean(axis=0)
        scale = X.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        return self

    def _fitted(self, X: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.mean_ is None or self.scale_ is None:
            raise RuntimeError("Standardizer is not fitted: call fit(X_train) first")
        X = np.asarray(X)
        if X.shape[1:] != self.mean_.shape:
            raise ValueError(
                f"X has rows of shape {X.shape[1:]}, but the Standardizer was fitted on rows of "
                f"shape {self.mean_.shape}"
            )
        return X, self.mean_, self.scale_

    @staticmethod
    def _dtype(X: np.ndarray) -> np.dtype:
        return X.dtype if np.issubdtype(X.dtype, np.floating) else np.dtype(np.float32)

    def transform(self, X: Any) -> np.ndarray:
        """``(X - mu) / sigma``, in X's floating dtype (float32 for integer input)."""
        X, mean, scale = self._fitted(X)
        return ((X - mean) / scale).astype(self._dtype(X), copy=False)

    def inverse_transform(self, Z: Any) -> np.ndarray:
        """``Z * sigma + mu``: undo :meth:`transform`."""
        Z, mean, scale = self._fitted(Z)
        return (Z * scale + mean).astype(self._dtype(Z), copy=False)

    def fit_transform(self, X: Any) -> np.ndarray:
        """:meth:`fit` on ``X``, then :meth:`transform` it."""
        return self.fit(X).transform(X)

    def state_dict(self) -> dict[str, np.ndarray]:
        """``{"mean": mu, "scale": sigma}`` as float64 arrays (for a safetensors file)."""
        if self.mean_ is None or self.scale_ is None:
            raise RuntimeError("Standardizer is not fitted: nothing to save")
        return {"mean": self.mean_.copy(), "scale": self.scale_.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``mu`` and ``sigma`` saved by :meth:`state_dict`."""
        if set(state) != {"mean", "scale"}:
            raise ValueError(
                f"Standardizer state must have keys 'mean' and 'scale', got {sorted(state)}"
            )
        mean = np.asarray(state["mean"], dtype=np.float64)
        scale = np.asarray(state["scale"], dtype=np.float64)
        if mean.shape != scale.shape:
            raise ValueError(f"mean has shape {mean.shape} but scale has shape {scale.shape}")
        if not np.all(scale > 0):
            raise ValueError("every scale must be > 0")
        self.mean_, self.scale_ = mean.copy(), scale.copy()
