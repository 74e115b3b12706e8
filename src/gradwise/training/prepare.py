"""The data of a run from its config: load (or take given arrays), check the labels, split
(stratified for classification), map the input features and standardize with statistics of the
training part only (:func:`prepare_data`). :class:`Preprocessing` keeps the raw splits and the
fitted maps, so that new raw points (a plot's grid, the playground's heat map) become model
inputs exactly as the training points did: ``x -> (phi(x) - mu) / sigma`` with the feature map
``phi`` and the training mean ``mu`` and standard deviation ``sigma``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import data
from ..errors import ConfigError, DataError

__all__ = ["Preprocessing", "Splits", "check_labels", "prepare", "prepare_data"]


@dataclass
class Splits:
    """The data of a run after splitting and standardization, and what the task is."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray | None
    y_val: np.ndarray | None
    X_test: np.ndarray | None
    y_test: np.ndarray | None
    task: str  # "binary", "multiclass" or "regression"
    n_outputs: int
    description: str


@dataclass
class Preprocessing:
    """The raw points of each split (before the feature map and standardization) and the maps
    that turn raw points into model inputs."""

    raw_train: np.ndarray
    raw_val: np.ndarray | None
    raw_test: np.ndarray | None
    features: list[str] | None
    scaler: data.Standardizer | None

    def transform(self, raw: np.ndarray) -> np.ndarray:
        """Model inputs for raw points: the feature map, then the training standardization."""
        X = raw if self.features is None else data.feature_map(raw, self.features)
        return X if self.scaler is None else self.scaler.transform(X)


def _load_raw(cfg: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, Any, str]:
    source = cfg["source"]
    if source == "toy":
        X, y = data.get_toy(cfg["name"], n=cfg["n"], noise=cfg["noise"], seed=cfg["seed"])
        if cfg.get("scale", 1.0) != 1.0:  # data.scale: the coordinates times a factor
            X = (X * np.float32(cfg["scale"])).astype(X.dtype)
        return X, y, None, f"{cfg['name']} (toy, {cfg['n']} points, noise {cfg['noise']})"
    if source == "csv":
        X, y = data.load_csv(cfg["path"], target=cfg["target"])
        return X, y, None, f"{cfg['path']} (target {cfg['target']!r})"
    if source == "npz":
        X, y = data.load_npz(cfg["path"], x_key=cfg["x_key"], y_key=cfg["y_key"])
        return X, y, None, f"{cfg['path']}"
    if cfg["test_split"]:
        raise ConfigError("config key data.test_split must be 0 for MNIST: its own test set "
                          "(t10k files) is the test set")
    X, y = data.mnist(cfg["root"], train=True)
    return X, y, data.mnist(cfg["root"], train=False), f"MNIST from {cfg['root']}"


def _split(X: np.ndarray, y: np.ndarray, key: str, fraction: float, seed: int,
           stratify: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``data.train_test_split`` with errors that name the config key the user set."""
    n = len(X)
    n_out = math.ceil(fraction * n)
    if n_out >= n or n_out == 0:
        raise ConfigError(f"config key data.{key} = {fraction} of {n} samples leaves an empty "
                          f"{'training' if n_out else 'held-out'} set; use more data or "
                          "another fraction")
    try:
        X_a, X_b, y_a, y_b = data.train_test_split(X, y, test_size=fraction, seed=seed,
                                                   stratify=y if stratify else None)
    except ValueError as exc:
        raise DataError(f"config key data.{key} = {fraction} cannot split these {n} samples: "
                        f"{exc}") from None
    return X_a, X_b, y_a, y_b


def check_labels(y: np.ndarray, where: str) -> int:
    """The number of classes K of integer labels ``y``, after refusing labels that are not
    class indices 0..K-1 with a plausible K: negative labels, and a K larger than the number
    of samples or with more than half of 0..K-1 (and more than 10) unused, which a typo such
    as 1000000 in a 10-row table gives. The error names the label and its sample."""
    if y.size == 0:
        raise DataError(f"{where}: no samples")
    low = int(y.min())
    if low < 0:
        i = int(np.argmin(y))
        raise DataError(f"{where}: label {low} of sample {i} is negative; class labels are "
                        "0 to K-1")
    k = int(y.max()) + 1
    used = len(np.unique(y))
    if k > max(2, len(y)) or k - used > max(10, used):
        i = int(np.argmax(y))
        raise DataError(f"{where}: label {k - 1} of sample {i} implies {k} classes for "
                        f"{len(y)} samples with {used} distinct labels; class labels must be "
                        "0 to K-1 (a typo?), or set model.task = 'regression'")
    return k


def prepare(config: dict[str, Any], arrays: tuple[Any, Any] | None = None
            ) -> tuple[Splits, Preprocessing]:
    """The splits of a validated config and the preprocessing that made them. ``arrays``
    ``(X, y)`` replaces the points of ``[data]``'s source (its splitting, features and
    standardization still apply)."""
    cfg = config["data"]
    if arrays is None:
        X, y, test, description = _load_raw(cfg)
    else:
        X, y = (np.asarray(a) for a in arrays)
        test, description = None, f"given arrays ({len(X)} points)"
    if X.ndim != 2 or len(X) == 0:
        raise DataError(f"{description}: features of shape {X.shape}; expected (n_samples, "
                        "n_features) with n_samples >= 1")
    features = cfg.get("features")
    if features is not None:
        try:  # checked on the raw points now; applied after the split (row by row: the same)
            data.feature_map(X[:1], features)
        except ValueError as exc:
            raise ConfigError(f"config key data.features: {exc}") from None
        description += f", input features {', '.join(features)}"
    task = config["model"]["task"]
    if task == "auto":
        task = "classification" if y.dtype.kind in "iub" else "regression"
    if task == "classification":
        if y.dtype.kind not in "iubf" or y.ndim != 1 or not np.all(y == np.round(y)):
            raise ConfigError("model.task = 'classification' needs one integer label >= 0 per "
                              f"sample; the data's targets are {y.dtype} of shape {y.shape}")
        y = y.astype(np.int64)
        n_classes = check_labels(y, description)
        if test is not None:
            n_classes = max(n_classes, check_labels(test[1].astype(np.int64), description))
        task, n_out = ("binary", 1) if n_classes <= 2 else ("multiclass", n_classes)
    else:
        y = y.astype(np.float32)
        n_out = 1 if y.ndim == 1 else y.shape[1]
    stratify = task != "regression"
    X_test = y_test = None
    if test is not None:
        X_test, y_test = test[0], test[1].astype(y.dtype)
    elif cfg["test_split"]:
        X, X_test, y, y_test = _split(X, y, "test_split", cfg["test_split"], cfg["seed"],
                                      stratify)
    X_val = y_val = None
    if cfg["validation_split"]:
        X, X_val, y, y_val = _split(X, y, "validation_split", cfg["validation_split"],
                                    cfg["seed"], stratify)
    pre = Preprocessing(X, X_val, X_test, None if features is None else list(features), None)
    if features is not None:
        X = data.feature_map(X, features)
        X_val = None if X_val is None else data.feature_map(X_val, features)
        X_test = None if X_test is None else data.feature_map(X_test, features)
    if cfg["standardize"]:
        pre.scaler = data.Standardizer().fit(X)
        X = pre.scaler.transform(X)
        X_val = None if X_val is None else pre.scaler.transform(X_val)
        X_test = None if X_test is None else pre.scaler.transform(X_test)
    return Splits(X, y, X_val, y_val, X_test, y_test, task, n_out, description), pre


def prepare_data(config: dict[str, Any], arrays: tuple[Any, Any] | None = None) -> Splits:
    """Load the data of a validated config, split it (stratified for classification) and
    standardize it with statistics of the training part only (see :func:`prepare`)."""
    return prepare(config, arrays)[0]
