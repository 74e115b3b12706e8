"""A fresh, untrained set-up from a run folder or a config, for studies that train again from
the initialization (``gradwise lr-find``): the same data, model, initialization, loss,
optimizer and batch size as ``gradwise train`` would use, from the one assembly
(:func:`gradwise.training.assemble.assemble`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..nn import Module


@dataclass
class Setup:
    """What ``gradwise train`` would start from, and the folder where figures belong."""

    model: Module
    loss: Module
    X: np.ndarray
    y: np.ndarray
    optimizer: str
    hyper: dict[str, Any]
    batch_size: int
    seed: int
    folder: Path
    lr: float
    """The config's learning rate (``optimizer.lr``)."""


def fresh_setup(source: str | Path | None, overrides: list[str] | None = None) -> Setup:
    """``source`` is a run folder (its ``config.toml``), a TOML config file, or None for the
    embedded default config; ``overrides`` are ``key=value`` strings as in ``gradwise train``.
    The model is initialized exactly as ``gradwise train`` initializes it (same seed)."""
    from ..training.assemble import assemble
    from ..training.config import load_config

    folder = Path(".")
    path = None if source is None else Path(source)
    if path is not None and path.is_dir():
        folder = path
        path = path / "config.toml"
        if not path.exists():
            raise FileNotFoundError(f"{folder} is not a gradwise run folder: no config.toml")
    config = load_config(path, overrides)
    exp = assemble(config, verbose=0)
    hyper = {k: v for k, v in config["optimizer"].items() if k not in ("name", "lr")}
    return Setup(exp.model, exp.loss, exp.splits.X_train, exp.splits.y_train,
                 config["optimizer"]["name"], hyper, config["training"]["batch_size"],
                 config["training"]["seed"], folder, float(config["optimizer"]["lr"]))
