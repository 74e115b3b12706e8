"""A training run from a config: data, model and optimizer, ``fit``, and a run folder that
explains itself; and :func:`load_run`, which rebuilds a finished run from its folder. The
``gradwise train`` job (:mod:`gradwise.jobs.train`) runs this and draws the figures.

A run folder holds ``config.toml`` (the resolved config), ``history.csv`` (one row per epoch),
``summary.json`` (final and best metrics, best epoch, epochs run, whether training stopped
early, wall time, and the saved model's metrics on every split), ``model.safetensors`` (the
final weights, after early stopping restored the best ones), ``checkpoint.safetensors`` (the
last training checkpoint, for ``gw.fit(..., resume_from=...)``), ``trajectory.safetensors`` (the
flattened parameters after every epoch, row 0 the initial weights) and, with matplotlib,
``loss.png`` and ``boundary.png`` (2D classification data).
"""

from __future__ import annotations

import csv
import json
import math
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from .. import backend, data, nn, optim
from ..io import write_atomic
from ..nn.utils import flat_parameters
from .callbacks import Callback, CSVLogger, EarlyStopping, LearningRateScheduler
from .checkpoint import load, read_safetensors, save, write_safetensors
from .config import SCHEDULES, ConfigError, dumps, validate
from .loop import evaluate, fit
from .progress import format_logs

__all__ = ["Run", "Splits", "build_model", "load_run", "prepare_data", "train"]

FILES = {
    "config.toml": "the resolved configuration (rerun with `gradwise train config.toml`)",
    "history.csv": "loss, metrics, val_* and lr after every epoch",
    "summary.json": "final and best metrics, best epoch, early stopping, wall time",
    "model.safetensors": "the final weights (gw.load, or safetensors in PyTorch)",
    "checkpoint.safetensors": "last training checkpoint (gw.fit(..., resume_from=...))",
    "trajectory.safetensors": "parameters after every epoch (gradwise landscape RUN_DIR)",
    "loss.png": "loss and metric curves",
    "boundary.png": "decision boundary with the training and held-out points",
}


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


def _load_raw(cfg: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, Any, str]:
    source = cfg["source"]
    if source == "toy":
        X, y = data.get_toy(cfg["name"], n=cfg["n"], noise=cfg["noise"], seed=cfg["seed"])
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


def prepare_data(config: dict[str, Any]) -> Splits:
    """Load the data of a validated config, split it (stratified for classification) and
    standardize it with statistics of the training part only."""
    cfg = config["data"]
    X, y, test, description = _load_raw(cfg)
    task = config["model"]["task"]
    if task == "auto":
        task = "classification" if y.dtype.kind in "iub" else "regression"
    if task == "classification":
        if y.ndim != 1 or not np.all(y == np.round(y)) or y.min() < 0:
            raise ConfigError("model.task = 'classification' needs one integer label >= 0 per "
                              f"sample; the data's targets are {y.dtype} of shape {y.shape}")
        y = y.astype(np.int64)
        n_classes = int(y.max()) + 1
        if test is not None:
            n_classes = max(n_classes, int(test[1].max()) + 1)
        task, n_out = ("binary", 1) if n_classes <= 2 else ("multiclass", n_classes)
    else:
        y = y.astype(np.float32)
        n_out = 1 if y.ndim == 1 else y.shape[1]
    stratify = task != "regression"
    X_test = y_test = None
    if test is not None:
        X_test, y_test = test[0], test[1].astype(y.dtype)
    elif cfg["test_split"]:
        X, X_test, y, y_test = data.train_test_split(X, y, test_size=cfg["test_split"],
                                                     seed=cfg["seed"],
                                                     stratify=y if stratify else None)
    X_val = y_val = None
    if cfg["validation_split"]:
        X, X_val, y, y_val = data.train_test_split(X, y, test_size=cfg["validation_split"],
                                                   seed=cfg["seed"],
                                                   stratify=y if stratify else None)
    if cfg["standardize"]:
        scaler = data.Standardizer().fit(X)
        X = scaler.transform(X)
        X_val = None if X_val is None else scaler.transform(X_val)
        X_test = None if X_test is None else scaler.transform(X_test)
    return Splits(X, y, X_val, y_val, X_test, y_test, task, n_out, description)


def build_model(config: dict[str, Any], n_inputs: int, n_outputs: int) -> nn.Sequential:
    """Dense layers of the sizes ``model.hidden`` with the activation, each followed by dropout
    when ``model.dropout > 0``, then a linear output layer (logits or regression values)."""
    cfg = config["model"]
    layers: list[nn.Module] = []
    width = n_inputs
    for h in cfg["hidden"]:
        layers.append(nn.Dense(width, h, activation=cfg["activation"], weight_init=cfg["init"]))
        if cfg["dropout"] > 0:
            layers.append(nn.Dropout(cfg["dropout"]))
        width = h
    layers.append(nn.Dense(width, n_outputs, weight_init="glorot_uniform"))
    return nn.Sequential(*layers)


def loss_and_metrics(task: str) -> tuple[nn.Module, list[str]]:
    if task == "binary":
        return nn.BCEWithLogitsLoss(), ["accuracy"]
    if task == "multiclass":
        return nn.CrossEntropyLoss(), ["accuracy"]
    return nn.MSELoss(), ["mae"]


class _Trajectory(Callback):
    """Records the flattened parameter vector before training and after every epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[np.ndarray] = []

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.rows = [flat_parameters(self.model).astype(np.float32)]

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.rows.append(flat_parameters(self.model).astype(np.float32))


def _callbacks(config: dict[str, Any], optimizer: Any, out: Path, available: list[str]
               ) -> tuple[list[Callback], EarlyStopping | None]:
    cbs: list[Callback] = []
    es = None
    es_cfg = config["training"].get("early_stopping")
    if es_cfg is not None and es_cfg["enabled"]:
        if es_cfg["monitor"] not in available:
            raise ConfigError(f"config key training.early_stopping.monitor = "
                              f"{es_cfg['monitor']!r}: this run logs {', '.join(available)}")
        kwargs = {k: v for k, v in es_cfg.items() if k != "enabled"}
        es = EarlyStopping(verbose=1 if config["training"]["verbose"] else 0, **kwargs)
        cbs.append(es)
    sched = config.get("schedule")
    if sched is not None:
        cls = getattr(optim.schedules, SCHEDULES[sched["name"]])
        hyper = {k: v for k, v in sched.items() if k != "name"}
        try:
            cbs.append(LearningRateScheduler(cls(optimizer, **hyper)))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"[schedule] {exc}") from None
    cbs.append(CSVLogger(out / "history.csv"))
    return cbs, es


def _run_dir(out: str | Path | None) -> Path:
    if out is not None:
        path = Path(out)
    else:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = Path("runs") / stamp
        k = 1
        while path.exists():
            k += 1
            path = Path("runs") / f"{stamp}-{k}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def train(config: dict[str, Any], out: str | Path | None = None,
          verbose: int | None = None,
          figures: Callable[[Path, Any, Any, nn.Module, Splits], None] | None = None,
          ) -> tuple[Path, dict[str, Any]]:
    """Run the training job of a validated ``config``; return the run folder and the summary.
    ``verbose`` overrides ``training.verbose``; ``figures(run_dir, history, early_stopping,
    model, splits)`` runs last (``gradwise train`` draws its figures there: see
    :mod:`gradwise.jobs.train`)."""
    start = time.perf_counter()
    if verbose is not None:
        config["training"]["verbose"] = verbose
    verbose = config["training"]["verbose"]
    splits = prepare_data(config)
    run_dir = _run_dir(out)
    write_atomic(run_dir / "config.toml", dumps(config).encode())
    tcfg = config["training"]
    backend.manual_seed(tcfg["seed"])
    model = build_model(config, splits.X_train.shape[1], splits.n_outputs)
    try:  # initialized on the CPU, so a seed gives the same first weights on either device
        model.to(tcfg["device"])
    except RuntimeError as exc:
        raise ConfigError(f"[training] device: {exc}") from None
    hyper = {k: v for k, v in config["optimizer"].items() if k != "name"}
    try:
        optimizer = optim.get(config["optimizer"]["name"], model.parameters(), **hyper)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[optimizer] {exc}") from None
    loss, metric_names = loss_and_metrics(splits.task)
    available = ["loss", *metric_names]
    if splits.X_val is not None:
        available += [f"val_{k}" for k in available]
    callbacks, es = _callbacks(config, optimizer, run_dir, available)
    trajectory = _Trajectory()
    callbacks.append(trajectory)
    if verbose:
        sizes = "-".join(str(s) for s in [splits.X_train.shape[1], *config["model"]["hidden"],
                                           splits.n_outputs])
        n_val = 0 if splits.X_val is None else len(splits.X_val)
        print(f"data: {splits.description}: {len(splits.X_train)} training, {n_val} validation"
              + ("" if splits.X_test is None else f", {len(splits.X_test)} test") + " samples")
        print(f"model: {sizes} {config['model']['activation']} MLP, dropout "
              f"{config['model']['dropout']}, {model.num_parameters()} parameters; loss "
              f"{type(loss).__name__}; optimizer {type(optimizer).__name__}({hyper})")
    val = None if splits.X_val is None else (splits.X_val, splits.y_val)
    history = fit(model, loss, optimizer, (splits.X_train, splits.y_train),
                  epochs=tcfg["epochs"], batch_size=tcfg["batch_size"], validation_data=val,
                  metrics=metric_names, callbacks=callbacks, verbose=verbose, seed=tcfg["seed"],
                  checkpoint_path=run_dir / "checkpoint.safetensors")
    save(model, run_dir / "model.safetensors")
    named = list(model.named_parameters())
    write_safetensors(run_dir / "trajectory.safetensors",
                      {"trajectory": np.stack(trajectory.rows)},
                      {"param_names": json.dumps([n for n, _ in named]),
                       "param_shapes": json.dumps([list(p.shape) for _, p in named])})
    summary = _summary(history, es, model, loss, metric_names, splits, tcfg)
    summary["wall_time_s"] = round(time.perf_counter() - start, 3)
    write_atomic(run_dir / "summary.json", (json.dumps(summary, indent=2) + "\n").encode())
    if figures is not None:
        figures(run_dir, history, es, model, splits)
    return run_dir, summary


def _summary(history: Any, es: EarlyStopping | None, model: nn.Module, loss: nn.Module,
             metric_names: list[str], splits: Splits, tcfg: dict[str, Any]) -> dict[str, Any]:
    h = history.history
    n = len(history.epoch)
    if es is not None and es.best is not None:
        best = es.best_epoch - history.epoch[0]
        monitor = es.monitor
    else:
        monitor = "val_loss" if "val_loss" in h else "loss"
        best = int(np.nanargmin(h[monitor]))
    splits_eval = {"train": (splits.X_train, splits.y_train), "validation":
                   (splits.X_val, splits.y_val), "test": (splits.X_test, splits.y_test)}
    saved = {name: evaluate(model, loss, xy, metric_names, batch_size=1024)
             for name, xy in splits_eval.items() if xy[0] is not None}
    return {
        "epochs_run": n,
        "epochs_max": tcfg["epochs"],
        "stopped_early": bool(es is not None and es.stopped_epoch > 0),
        "monitor": monitor,
        "best_epoch": history.epoch[best] + 1,
        "restored_best_weights": bool(es is not None and es.restore_best_weights
                                      and es.best_weights is not None),
        "final": {k: v[-1] for k, v in h.items()},
        "best": {k: v[best] for k, v in h.items()},
        "saved_model": saved,
    }


def print_summary(run_dir: Path, summary: dict[str, Any]) -> None:
    """The closing report of ``gradwise train``: what happened and where the files are."""
    stop = ("stopped early: no improvement of " + summary["monitor"]) if summary[
        "stopped_early"] else "ran every epoch"
    print(f"\nepochs run: {summary['epochs_run']} of {summary['epochs_max']} ({stop})")
    best = format_logs(summary["best"])
    restored = ", weights restored" if summary["restored_best_weights"] else ""
    print(f"best epoch: {summary['best_epoch']} ({best}){restored}")
    for name, logs in summary["saved_model"].items():
        print(f"saved model on {name}: {format_logs(logs)}")
    print(f"wall time: {summary['wall_time_s']:.1f} s")
    print(f"run folder: {run_dir}")
    for name, what in FILES.items():
        if (run_dir / name).exists():
            print(f"  {name:<24} {what}")


@dataclass
class Run(Splits):
    """A finished run rebuilt from its folder by :func:`load_run`: its data (as
    :class:`Splits`), config, model with the final weights, loss, history and trajectory."""

    path: Path
    config: dict[str, Any]
    model: nn.Module
    loss: nn.Module
    history: dict[str, list[float]]
    trajectory: np.ndarray
    param_names: list[str]
    param_shapes: list[tuple[int, ...]]
    summary: dict[str, Any]


def _read_history(path: Path) -> dict[str, list[float]]:
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    keys = [k for k in (rows[0] if rows else {}) if k != "epoch"]
    return {k: [math.nan if r[k] == "NA" else float(r[k]) for r in rows] for k in keys}


def load_run(run_dir: str | Path) -> Run:
    """Rebuild a run from its folder: the config, the model with its final weights, the loss,
    the data after the same splitting and standardization, the history and the trajectory."""
    path = Path(run_dir)
    try:
        config = validate(tomllib.loads((path / "config.toml").read_text()))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is not a gradwise run folder: it has no config.toml"
                                ) from None
    splits = prepare_data(config)
    model = build_model(config, splits.X_train.shape[1], splits.n_outputs)
    load(model, path / "model.safetensors")
    tensors, meta = read_safetensors(path / "trajectory.safetensors")
    loss, _ = loss_and_metrics(splits.task)
    summary_path = path / "summary.json"
    return Run(
        **{f.name: getattr(splits, f.name) for f in fields(splits)},
        path=path, config=config, model=model.eval(), loss=loss,
        history=_read_history(path / "history.csv"),
        trajectory=tensors["trajectory"],
        param_names=json.loads(meta["param_names"]),
        param_shapes=[tuple(s) for s in json.loads(meta["param_shapes"])],
        summary=json.loads(summary_path.read_text()) if summary_path.exists() else {},
    )
