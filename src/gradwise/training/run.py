"""A training run from a config: data, model and optimizer, ``fit``, and a run folder that
explains itself; and :func:`load_run`, which rebuilds a finished run from its folder. The
``gradwise train`` job (:mod:`gradwise.jobs.train`) runs this and draws the figures.

A run folder holds ``config.toml`` (the resolved config), ``history.csv`` (one row per epoch),
``summary.json`` (final and best metrics, best epoch, epochs run, whether training stopped
early, wall time, the saved model's metrics on every split, and ``status``: ``completed``,
``diverged`` or ``interrupted``; strict JSON, non-finite numbers as null), ``model.safetensors``
(the final weights, after early stopping restored the best ones; for a diverged run the last
finite ones, or no file), ``checkpoint.safetensors`` (the last completed epoch, the source of
truth for ``gradwise train --resume``), ``trajectory.safetensors`` (the flattened parameters
of at most :data:`MAX_SNAPSHOTS` epochs spread over the run, row 0 the initial weights, the
epochs in its ``epochs`` metadata) and, with matplotlib, ``loss.png`` and ``boundary.png`` (2D
classification data). An interrupted run also keeps ``trajectory/``, the snapshots streamed
to disk during training, for its resume.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import math
import os
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
import tomllib
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from .. import backend, data, distributed, nn, optim
from ..errors import CheckpointError, DataError, RunError
from ..io import write_atomic
from ..nn.utils import flat_parameters
from .callbacks import CALLBACKS, Callback, CSVLogger, EarlyStopping, LearningRateScheduler
from .checkpoint import (
    check_optimizer_config,
    load,
    read_checkpoint,
    read_safetensors,
    save,
    write_safetensors_rows,
)
from .config import SCHEDULES, ConfigError, ConfigWarning, dumps, validate
from .loop import evaluate, fit
from .progress import format_logs

__all__ = ["EXIT_DIVERGED", "MAX_SNAPSHOTS", "RUN_ENTRIES", "Figures", "Run", "Splits",
           "build_model", "check_labels", "divergence_line", "exit_status", "load_run",
           "loss_and_metrics", "prepare_data", "regularizer", "train"]

#: ``figures(run_dir, history, early_stopping, model, splits, diverged_at)``, see :func:`train`
Figures = Callable[[Path, Any, Any, "nn.Module | None", "Splits", "int | None"], None]

EXIT_DIVERGED = 3  # exit status of `gradwise train` when the loss diverged
MAX_SNAPSHOTS = 101  # most rows trajectory.safetensors keeps, spread over the run

FILES = {
    "config.toml": "the resolved configuration (rerun with `gradwise train config.toml`)",
    "history.csv": "loss, metrics, val_* and lr after every epoch",
    "summary.json": "status, final and best metrics, best epoch, early stopping, wall time",
    "model.safetensors": "the final weights (gw.load, or safetensors in PyTorch)",
    "checkpoint.safetensors": "last completed epoch (gradwise train --resume RUN_DIR)",
    "trajectory.safetensors": f"parameters of up to {MAX_SNAPSHOTS} epochs (gradwise "
                              "landscape RUN_DIR)",
    "loss.png": "loss and metric curves",
    "boundary.png": "decision boundary with the training and held-out points",
}
# What a run folder holds (the job's files, its snapshot folder and the lab's outputs):
# --overwrite removes these and nothing else.
RUN_ENTRIES = (*FILES, "trajectory", "landscape", "race", "lr_find.png", "report.html")


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


def prepare_data(config: dict[str, Any]) -> Splits:
    """Load the data of a validated config, split it (stratified for classification) and
    standardize it with statistics of the training part only."""
    cfg = config["data"]
    X, y, test, description = _load_raw(cfg)
    if X.ndim != 2 or len(X) == 0:
        raise DataError(f"{description}: features of shape {X.shape}; expected (n_samples, "
                        "n_features) with n_samples >= 1")
    if cfg.get("features") is not None:
        try:
            X = data.feature_map(X, cfg["features"])
        except ValueError as exc:
            raise ConfigError(f"config key data.features: {exc}") from None
        description += f", input features {', '.join(cfg['features'])}"
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
    if cfg["standardize"]:
        scaler = data.Standardizer().fit(X)
        X = scaler.transform(X)
        X_val = None if X_val is None else scaler.transform(X_val)
        X_test = None if X_test is None else scaler.transform(X_test)
    return Splits(X, y, X_val, y_val, X_test, y_test, task, n_out, description)


def build_model(config: dict[str, Any], n_inputs: int, n_outputs: int) -> nn.Sequential:
    """Dense layers of the sizes ``model.hidden`` with the activation, each followed by dropout
    when its rate (``model.dropout``, one number for every hidden layer or a list of one per
    layer) is > 0, then a linear output layer (logits or regression values)."""
    cfg = config["model"]
    rates = cfg["dropout"]
    if not isinstance(rates, list):
        rates = [rates] * len(cfg["hidden"])
    elif len(rates) != len(cfg["hidden"]):
        raise ConfigError(f"config key model.dropout = {rates!r}: a list needs one rate per "
                          f"hidden layer ({len(cfg['hidden'])})")
    layers: list[nn.Module] = []
    width = n_inputs
    for h, rate in zip(cfg["hidden"], rates, strict=True):
        layers.append(nn.Dense(width, h, activation=cfg["activation"], weight_init=cfg["init"]))
        if rate > 0:
            layers.append(nn.Dropout(rate))
        width = h
    layers.append(nn.Dense(width, n_outputs, weight_init="glorot_uniform"))
    return nn.Sequential(*layers)


def regularizer(config: dict[str, Any]) -> nn.L1L2 | None:
    """The weight penalty of ``model.regularization`` at ``model.regularization_rate`` (see
    :class:`gradwise.nn.L1L2`), or None."""
    cfg = config["model"]
    return nn.get_regularizer(cfg.get("regularization", "none"),
                              cfg.get("regularization_rate", 0.0))


def loss_and_metrics(task: str, config: dict[str, Any] | None = None
                     ) -> tuple[nn.Module, list[str]]:
    """The loss and metrics of a task: ``training.loss`` of ``config`` when set (a name in
    ``nn.LOSSES``), else binary cross-entropy on logits, softmax cross-entropy or MSE; accuracy
    for classification, MAE for regression."""
    name = None if config is None else config["training"].get("loss")
    if name is not None:
        return nn.get_loss(name), ["mae"] if task == "regression" else ["accuracy"]
    if task == "binary":
        return nn.BCEWithLogitsLoss(), ["accuracy"]
    if task == "multiclass":
        return nn.CrossEntropyLoss(), ["accuracy"]
    return nn.MSELoss(), ["mae"]


class _Trajectory(Callback):
    """The flattened parameters before training (row 0) and after epochs of the run, streamed
    to ``folder`` as one ``.npy`` file per snapshot and bounded to ``max_snapshots`` rows.

    Epoch ``e`` (0 = the initial weights) is kept while it is a multiple of the stride ``s``,
    the smallest power of two with ``floor(L / s) + 1 <= max_snapshots - 1`` for the latest
    epoch ``L``; the latest epoch is always kept. So a run of any length keeps at most
    ``max_snapshots`` evenly spread rows, the first and the last among them, and only one
    snapshot is ever in memory. Pruning happens at the start of an epoch (after the previous
    epoch's checkpoint is written), so the files on disk always cover the checkpoint's epoch
    and a resumed run keeps exactly the rows an uninterrupted one keeps.
    """

    def __init__(self, folder: Path, max_snapshots: int = MAX_SNAPSHOTS,
                 resume_epoch: int | None = None) -> None:
        super().__init__()
        self.folder, self.max_snapshots, self.resume_epoch = folder, max_snapshots, resume_epoch

    def stride(self, latest: int) -> int:
        s = 1
        while latest // s + 1 > self.max_snapshots - 1:
            s *= 2
        return s

    def epochs(self) -> list[int]:
        """The epochs whose snapshots are on disk, in order."""
        if not self.folder.is_dir():
            return []
        return sorted(int(p.stem) for p in self.folder.glob("[0-9]*.npy") if p.stem.isdigit())

    def prune(self, latest: int) -> None:
        """Delete the snapshots after ``latest`` and those off the stride of ``latest``."""
        s = self.stride(latest)
        for e in self.epochs():
            if e > latest or (e % s and e != latest):
                (self.folder / f"{e:06d}.npy").unlink(missing_ok=True)

    def _write(self, epoch: int) -> None:
        buf = io.BytesIO()
        np.save(buf, flat_parameters(self.model).astype(np.float32), allow_pickle=False)
        write_atomic(self.folder / f"{epoch:06d}.npy", buf.getvalue())

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.resume_epoch is None:
            if self.folder.exists():
                shutil.rmtree(self.folder)
            self._write(0)
        else:
            self.prune(self.resume_epoch)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.prune(epoch)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._write(epoch + 1)

    def assemble(self, path: Path, upto: int, named: list[tuple[str, Any]]) -> None:
        """Write ``trajectory.safetensors`` from the snapshots of epochs ``<= upto``, streaming
        them one at a time from disk."""
        self.prune(upto)
        epochs = self.epochs()
        if not epochs:
            path.unlink(missing_ok=True)
            return
        def rows() -> Iterator[np.ndarray]:
            for e in epochs:
                yield np.load(self.folder / f"{e:06d}.npy", allow_pickle=False)

        width = sum(int(np.prod(p.shape)) for _, p in named)
        write_safetensors_rows(path, "trajectory", rows, (len(epochs), width),
                               {"param_names": json.dumps([n for n, _ in named]),
                                "param_shapes": json.dumps([list(p.shape) for _, p in named]),
                                "epochs": json.dumps(epochs)})


class _Guard(Callback):
    """The train job's watch over a run: the first non-finite training loss (or epoch loss)
    stops training (divergence), and so does SIGINT or SIGTERM after the current step. Either
    way the early-stopping callback is told not to restore its best weights: the job decides
    which weights it keeps."""

    def __init__(self, es: EarlyStopping | None, checkpoint: Path | None = None) -> None:
        super().__init__()
        self.es, self.checkpoint = es, checkpoint
        self.epoch = 0
        self.diverged: dict[str, Any] | None = None
        self.signal: int | None = None
        # the checkpoint as it was when the loss diverged (the last finite epoch's), or None
        self.last_finite: bytes | None = None

    def _diverge(self, epoch: int, step: int | None, value: float, where: str) -> None:
        self.diverged = {"epoch": epoch + 1, "step": step, "loss": repr(float(value)),
                         "where": where, "lr": self._lr()}
        self.model.stop_training = True
        if self.checkpoint is not None and self.checkpoint.exists():
            self.last_finite = self.checkpoint.read_bytes()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch = epoch
        self._check_signal()

    def _lr(self) -> Any:
        groups = getattr(self.optimizer, "param_groups", None)
        return groups[0].get("lr") if groups else None

    def _check_signal(self) -> None:
        if self.signal is not None:
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.diverged is None:
            for key in ("loss", "val_loss"):
                value = (logs or {}).get(key)
                if value is not None and not math.isfinite(value):
                    self._diverge(epoch, None, value, key)
                    break
        self._check_signal()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if (self.diverged is not None or self.signal is not None) and self.es is not None:
            self.es.best_weights = None


class _BatchGuard(_Guard):
    """:class:`_Guard` that also watches every training step's loss (and a signal after each
    step). On a GPU the plain :class:`_Guard` is used instead: reading each step's loss would
    make the host wait for the GPU every step, so there divergence and signals are noticed at
    the end of the epoch."""

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if self.diverged is None and loss is not None and not math.isfinite(float(loss)):
            self._diverge(self.epoch, batch + 1, loss, "training loss")
        self._check_signal()


@contextlib.contextmanager
def _signals(guard: _Guard) -> Iterator[None]:
    """SIGINT and SIGTERM ask the guard to stop after the current step; a second one quits at
    once (KeyboardInterrupt). Only in the main thread; the old handlers come back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if guard.signal is not None:
            raise KeyboardInterrupt
        guard.signal = signum
        name = signal.Signals(signum).name
        print(f"\n{name}: stopping after the current step; the checkpoint keeps the last "
              "completed epoch (press Ctrl-C again to quit at once)", file=sys.stderr,
              flush=True)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _callbacks(config: dict[str, Any], optimizer: Any, available: list[str]
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
    for entry in config.get("callbacks", []):  # [[callbacks]]: a name in CALLBACKS and kwargs
        name = entry["name"]
        kwargs = {k: v for k, v in entry.items() if k != "name"}
        if name not in CALLBACKS:
            raise ConfigError(f"config key callbacks.name = {name!r}: expected one of "
                              + ", ".join(repr(n) for n in CALLBACKS))
        try:
            cbs.append(CALLBACKS[name](**kwargs))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"[[callbacks]] {name}: {exc}") from None
    return cbs, es


def _default_run_dir() -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path("runs") / stamp
    k = 1
    while path.exists():
        k += 1
        path = Path("runs") / f"{stamp}-{k}"
    return path


def _temp_files(folder: Path) -> list[Path]:
    """Temporary files that an interrupted atomic write left in ``folder``."""
    return [p for p in folder.glob(".*.tmp*") if p.is_file()]


def _check_run_dir(path: Path, resume: bool, overwrite: bool) -> None:
    """Refuse a folder that cannot take this run; change nothing."""
    if path.exists() and not path.is_dir():
        raise RunError(f"--out {path} is a file, not a folder; choose a folder for the run")
    if resume:
        if not (path / "checkpoint.safetensors").is_file():
            raise RunError(f"nothing to resume in {path}: it has no checkpoint.safetensors "
                           "(the run stopped before its first epoch ended); start it again "
                           "with --overwrite")
        return
    if not path.exists() or overwrite:
        return
    ours = sorted(p.name for p in path.iterdir() if p.name in RUN_ENTRIES)
    if ours:
        raise RunError(f"{path} holds another run ({', '.join(ours[:3])}"
                       f"{', ...' if len(ours) > 3 else ''}); pass --resume to continue it, "
                       "--overwrite to replace it, or choose another --out")


def _prepare_run_dir(path: Path, resume: bool, overwrite: bool) -> None:
    """Create the folder; with ``overwrite`` remove the old run's files (and only those),
    always the temporary files of interrupted writes."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"cannot create the run folder {path}: {exc.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise RunError(f"cannot write into the run folder {path}: permission denied")
    if overwrite and not resume:
        for name in RUN_ENTRIES:
            p = path / name
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            elif p.exists() or p.is_symlink():
                p.unlink()
    for p in _temp_files(path) + _temp_files(path / "trajectory"):
        p.unlink(missing_ok=True)


def _write_history(path: Path, history: dict[str, Any]) -> None:
    """``history.csv`` as :class:`CSVLogger` writes it, from a History's state (the
    checkpoint's, the source of truth)."""
    keys = sorted(history["history"])
    lines = [",".join(["epoch", *keys])] if keys else []
    for i, epoch in enumerate(history["epoch"]):
        lines.append(",".join([str(epoch)] + [
            repr(v) if isinstance(v, float) else str(v)
            for v in (history["history"][k][i] for k in keys)]))
    if lines:
        write_atomic(path, ("\n".join(lines) + "\n").encode())
    else:
        path.unlink(missing_ok=True)


def _estimate_model(config: dict[str, Any], n_inputs: int, n_outputs: int) -> None:
    """Refuse a model whose parameters, gradients and optimizer state (about four float32
    copies) would not fit in this machine's memory, before anything is allocated."""
    sizes = [n_inputs, *config["model"]["hidden"], n_outputs]
    n = sum(a * b + b for a, b in itertools.pairwise(sizes))
    need = n * 4 * 4
    try:
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if need > have:
        raise ConfigError(
            f"config key model.hidden = {config['model']['hidden']}: {n:,} parameters need "
            f"about {need / 2**30:.1f} GiB (weights, gradients and optimizer state in "
            f"float32), more than this machine's {have / 2**30:.1f} GiB of memory")


def _check_resume_config(path: Path, optimizer: Any) -> dict[str, Any]:
    """The checkpoint's state after checking that this run's optimizer is the one it was
    written with (class and hyperparameters): resuming into another mixes states."""
    _, state = read_checkpoint(path)
    if not isinstance(state, dict) or not isinstance(state.get("epoch"), int):
        raise CheckpointError(f"{path}: field 'epoch' is missing or not an integer")
    check_optimizer_config(path, state.get("optimizer_config"), optimizer)
    return state


def _check_resumable(run_dir: Path) -> None:
    """Refuse to resume a run whose summary says it completed or diverged."""
    path = run_dir / "summary.json"
    if not path.is_file():
        return  # killed: no summary, the checkpoint says where it was
    try:
        status = json.loads(path.read_text()).get("status")
    except (ValueError, AttributeError):
        return
    if status == "completed":
        raise RunError(f"{run_dir} holds a completed run; nothing to resume")
    if status == "diverged":
        raise RunError(f"{run_dir} holds a run that diverged; resuming it would diverge "
                       "again: start a new run with a lower learning rate")


def _clean(obj: Any) -> Any:
    """A copy of ``obj`` for strict JSON: non-finite floats become None."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _kept_weights(run_dir: Path, model: nn.Module) -> int | None:
    """Load the checkpoint's weights (the last completed epoch) into ``model`` when they are
    all finite; return that epoch, or None (nothing finite to keep)."""
    ckpt = run_dir / "checkpoint.safetensors"
    if not ckpt.exists():
        return None
    params, state = read_checkpoint(ckpt)
    if not all(np.all(np.isfinite(v)) for v in params.values()):
        return None
    model.load_state_dict(params)
    return int(state["epoch"])


def train(config: dict[str, Any], out: str | Path | None = None,
          verbose: int | None = None, resume: bool = False, overwrite: bool = False,
          figures: Figures | None = None) -> tuple[Path, dict[str, Any]]:
    """Run the training job of a validated ``config``; return the run folder and the summary.
    ``verbose`` overrides ``training.verbose``.

    Everything (data, model size, model, device, optimizer, callbacks, the folder) is checked
    before the folder is created or changed. A folder holding another run is refused unless
    ``resume`` (continue it from its checkpoint, bit for bit as if never stopped) or
    ``overwrite`` (remove the old run's files first). ``summary["status"]`` is
    ``"completed"``, ``"diverged"`` (a non-finite loss stopped training; the last finite
    weights, if any, are kept) or ``"interrupted"`` (SIGINT/SIGTERM; the checkpoint holds the
    last completed epoch). Raises :class:`~gradwise.errors.GradwiseError` subclasses.

    ``figures(run_dir, history, early_stopping, model, splits, diverged_at)`` runs last
    (``gradwise train`` draws its figures there: see :mod:`gradwise.jobs.train`);
    ``early_stopping`` is None unless the run completed, ``model`` None when no finite weights
    were kept, ``diverged_at`` the epoch of a divergence or None.
    """
    start = time.perf_counter()
    if verbose is not None:
        config["training"]["verbose"] = verbose
    root = distributed.is_root()  # under MPI, rank 0 prints and writes the run folder
    if not root:
        config["training"]["verbose"] = 0
    verbose = config["training"]["verbose"]
    run_dir = Path(out).expanduser() if out is not None else _default_run_dir()
    _check_run_dir(run_dir, resume, overwrite)
    splits = prepare_data(config)
    if not root:  # the other ranks write to a scratch folder, deleted at the end
        real_dir, run_dir = run_dir, Path(tempfile.mkdtemp(prefix="gradwise-rank"))
        if resume and (real_dir / "checkpoint.safetensors").is_file():
            shutil.copyfile(real_dir / "checkpoint.safetensors",
                            run_dir / "checkpoint.safetensors")
    tcfg = config["training"]
    _estimate_model(config, splits.X_train.shape[1], splits.n_outputs)
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
    loss, metric_names = loss_and_metrics(splits.task, config)
    monitored = str((config["training"].get("early_stopping") or {}).get("monitor", ""))
    if (splits.task in ("binary", "multiclass") and monitored.removeprefix("val_") in
            ("precision", "recall", "f1", "auc")):  # computed when early stopping watches them
        metric_names.append(monitored.removeprefix("val_"))
    available = ["loss", *metric_names]
    if splits.X_val is not None:
        available += [f"val_{k}" for k in available]
    callbacks, es = _callbacks(config, optimizer, available)
    ckpt = run_dir / "checkpoint.safetensors"
    resumed_state = _check_resume_config(ckpt, optimizer) if resume else None
    if resume:
        _check_resumable(run_dir)
    if resumed_state is not None and resumed_state["epoch"] >= tcfg["epochs"]:
        raise RunError(f"{run_dir} already ran all {tcfg['epochs']} epochs; nothing to resume")
    _prepare_run_dir(run_dir, resume, overwrite)
    if not resume:
        write_atomic(run_dir / "config.toml", dumps(config).encode())
        (run_dir / "history.csv").unlink(missing_ok=True)
    else:  # the checkpoint is the source of truth: history.csv is rebuilt from it
        assert resumed_state is not None
        _write_history(run_dir / "history.csv", resumed_state["history"])
        (run_dir / "summary.json").unlink(missing_ok=True)
    guard = (_BatchGuard if tcfg["device"] == "cpu" else _Guard)(es, ckpt)
    trajectory = _Trajectory(run_dir / "trajectory",
                             resume_epoch=None if resumed_state is None
                             else int(resumed_state["epoch"]))
    callbacks = [guard, *callbacks, CSVLogger(run_dir / "history.csv", append=True), trajectory]
    if verbose:
        sizes = "-".join(str(s) for s in [splits.X_train.shape[1], *config["model"]["hidden"],
                                           splits.n_outputs])
        n_val = 0 if splits.X_val is None else len(splits.X_val)
        print(f"data: {splits.description}: {len(splits.X_train)} training, {n_val} validation"
              + ("" if splits.X_test is None else f", {len(splits.X_test)} test") + " samples")
        print(f"model: {sizes} {config['model']['activation']} MLP, dropout "
              f"{config['model']['dropout']}, {model.num_parameters()} parameters; loss "
              f"{type(loss).__name__}; optimizer {type(optimizer).__name__}({hyper})")
        if resumed_state is not None:
            print(f"resuming {run_dir} after epoch {resumed_state['epoch']}")
    val = None if splits.X_val is None else (splits.X_val, splits.y_val)
    # the handlers stay until the run folder is complete: a signal while the summary and
    # figures are written lets them finish (a second one quits at once)
    with _signals(guard):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            history = fit(model, loss, optimizer, (splits.X_train, splits.y_train),
                          epochs=tcfg["epochs"], batch_size=tcfg["batch_size"], validation_data=val,
                          metrics=metric_names, callbacks=callbacks, verbose=verbose,
                          seed=tcfg["seed"], checkpoint_path=ckpt,
                          resume_from=ckpt if resume else None,
                          regularization=regularizer(config), train_eval=True,
                          compile=tcfg.get("compile"))
        signalled = guard.signal
        status = "completed"
        kept: int | None = history.epoch[-1] + 1 if history.epoch else 0
        if guard.diverged is not None or signalled is not None:
            status = "diverged" if guard.diverged is not None else "interrupted"
            if guard.diverged is not None:  # the loop may have checkpointed the diverged epoch
                if guard.last_finite is None:
                    ckpt.unlink(missing_ok=True)
                else:
                    write_atomic(ckpt, guard.last_finite)
            kept = _kept_weights(run_dir, model)
            if status == "interrupted":  # the history of the epochs the checkpoint holds
                kept_history = (read_checkpoint(ckpt)[1]["history"] if ckpt.exists()
                                else {"history": {}, "epoch": []})
                _write_history(run_dir / "history.csv", kept_history)
                history.load_state_dict(kept_history)
        named = list(model.named_parameters())
        upto = kept if status != "completed" else (history.epoch[-1] + 1 if history.epoch else 0)
        trajectory.assemble(run_dir / "trajectory.safetensors", upto or 0, named)
        if status != "interrupted":  # the snapshots stay only for --resume
            shutil.rmtree(run_dir / "trajectory", ignore_errors=True)
        if kept is None:
            (run_dir / "model.safetensors").unlink(missing_ok=True)
        else:
            save(model, run_dir / "model.safetensors")
        summary = _summary(history, es if status == "completed" else None, model, loss,
                           metric_names, splits, tcfg, evaluate_model=kept is not None,
                           upto=None if status == "completed" else kept or 0)
        summary["status"] = status
        if status == "completed" and summary["restored_best_weights"]:
            kept = summary["best_epoch"]
        summary["weights_epoch"] = kept
        if guard.diverged is not None:
            summary["diverged"] = guard.diverged
        if signalled is not None:
            summary["signal"] = signal.Signals(signalled).name
        summary["wall_time_s"] = round(time.perf_counter() - start, 3)
        summary = _clean(summary)
        if not root:  # the other ranks' files went to a scratch folder
            shutil.rmtree(run_dir, ignore_errors=True)
            return run_dir, summary
        write_atomic(run_dir / "summary.json",
                     (json.dumps(summary, indent=2, allow_nan=False) + "\n").encode())
        if figures is not None:
            figures(run_dir, history, es if status == "completed" else None,
                    None if kept is None else model, splits,
                    None if guard.diverged is None else guard.diverged["epoch"])
    return run_dir, summary


def exit_status(summary: dict[str, Any]) -> int:
    """The exit status of ``gradwise train`` for a run's summary: 0 completed,
    :data:`EXIT_DIVERGED` (3) diverged, 130 after SIGINT and 143 after SIGTERM."""
    status = summary.get("status")
    if status == "diverged":
        return EXIT_DIVERGED
    if status == "interrupted":
        return 143 if summary.get("signal") == "SIGTERM" else 130
    return 0


def _best_index(values: list[float]) -> int | None:
    finite = [i for i, v in enumerate(values) if math.isfinite(v)]
    return min(finite, key=lambda i: values[i]) if finite else None


def _summary(history: Any, es: EarlyStopping | None, model: nn.Module, loss: nn.Module,
             metric_names: list[str], splits: Splits, tcfg: dict[str, Any],
             evaluate_model: bool = True, upto: int | None = None) -> dict[str, Any]:
    """``upto``: only the first ``upto`` epochs count for the best epoch (a run that diverged
    or was interrupted: those whose weights were kept)."""
    h = history.history
    n = len(history.epoch)
    best: int | None
    if es is not None and es.best is not None:
        best = es.best_epoch - history.epoch[0]
        monitor = es.monitor
    else:
        monitor = "val_loss" if "val_loss" in h else "loss"
        best = _best_index(h[monitor][:upto]) if monitor in h else None
    splits_eval = {"train": (splits.X_train, splits.y_train), "validation":
                   (splits.X_val, splits.y_val), "test": (splits.X_test, splits.y_test)}
    saved = {name: evaluate(model, loss, xy, metric_names, batch_size=1024)
             for name, xy in splits_eval.items() if xy[0] is not None} if evaluate_model else {}
    return {
        "epochs_run": n,
        "epochs_max": tcfg["epochs"],
        "stopped_early": bool(es is not None and es.stopped_epoch > 0),
        "monitor": monitor,
        "best_epoch": None if best is None else history.epoch[best] + 1,
        "restored_best_weights": bool(es is not None and es.restore_best_weights
                                      and es.best_weights is not None),
        "final": {k: v[-1] for k, v in h.items()},
        "best": {} if best is None else {k: v[best] for k, v in h.items()},
        "saved_model": saved,
    }


def _lr_hint(lr: Any) -> str:
    if isinstance(lr, int | float) and lr > 0:
        return (f"try a lower learning rate (optimizer.lr = {lr:g} now, e.g. --set "
                f"optimizer.lr={lr / 10:g})")
    return "try a lower learning rate (--set optimizer.lr=...)"


def divergence_line(summary: dict[str, Any]) -> str:
    """One line: where the loss became non-finite, what to try and which weights were kept."""
    d = summary["diverged"]
    where = f"epoch {d['epoch']}" + ("" if d.get("step") is None else f", step {d['step']}")
    loss = d.get("loss", "nan")
    kept = summary.get("weights_epoch")
    weights = ("kept no weights (no epoch ended with finite weights)" if kept is None else
               f"kept the weights after epoch {kept} (the last finite ones) in "
               "model.safetensors")
    return (f"diverged: the {d.get('where', 'training loss')} became {loss} at {where}; "
            f"{_lr_hint(d.get('lr'))}; {weights}")


def print_summary(run_dir: Path, summary: dict[str, Any]) -> None:
    """The closing report of ``gradwise train``: what happened and where the files are (on
    rank 0 only under MPI)."""
    if not distributed.is_root():
        return
    status = summary.get("status", "completed")
    if status == "diverged":
        stop = "stopped: the loss diverged"
    elif status == "interrupted":
        stop = f"interrupted by {summary.get('signal', 'a signal')}"
    elif summary["stopped_early"]:
        stop = "stopped early: no improvement of " + summary["monitor"]
    else:
        stop = "ran every epoch"
    print(f"\nepochs run: {summary['epochs_run']} of {summary['epochs_max']} ({stop})")
    if summary.get("best_epoch") is not None and status == "completed":
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
    if status == "interrupted":
        kept = summary.get("weights_epoch")
        if kept is None:
            print("interrupted before the first epoch ended: nothing was kept; start again "
                  f"with: gradwise train --out {shlex.quote(str(run_dir))} --overwrite ...")
        else:
            print(f"interrupted: the checkpoint and model.safetensors hold epoch {kept}; the "
                  "steps after it were not kept. Resume with: gradwise train --resume "
                  f"{shlex.quote(str(run_dir))}")
    if status == "diverged":
        print(divergence_line(summary), file=sys.stderr)


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
        with warnings.catch_warnings():  # the run's own config: warned about when it ran
            warnings.simplefilter("ignore", ConfigWarning)
            config = validate(tomllib.loads((path / "config.toml").read_text()))
    except FileNotFoundError:
        raise RunError(f"{path} is not a gradwise run folder: it has no config.toml"
                       ) from None
    splits = prepare_data(config)
    model = build_model(config, splits.X_train.shape[1], splits.n_outputs)
    if not (path / "model.safetensors").exists():
        raise RunError(f"{path} holds no model.safetensors: the run kept no weights (it "
                       "diverged or stopped before its first epoch ended)")
    load(model, path / "model.safetensors")
    tensors, meta = read_safetensors(path / "trajectory.safetensors")
    loss, _ = loss_and_metrics(splits.task, config)
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
