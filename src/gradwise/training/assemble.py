"""The one assembly: a validated config becomes an :class:`Experiment` (data after its
preprocessing, model, loss, metrics, optimizer, schedule, regularization, callbacks with early
stopping and :class:`~gradwise.training.changes.Changes`, the seeded generators, the training
loader and the keyword arguments of ``gw.fit``).

``gradwise train``, the playground, the lab and sweeps build through :func:`assemble` and
nowhere else, so that a config trains to the same bits wherever it is run: the weights are
initialized after ``gw.manual_seed(training.seed)``; the training loader shuffles from its own
generator seeded with ``training.seed``; dropout draws from gradwise's default generator, which
``gw.fit(seed=training.seed)`` seeds (or, with ``private_generators``, from a generator of its
own seeded the same way, which draws the same stream: ``numpy.random.default_rng(seed)``).
"""

from __future__ import annotations

import copy
import itertools
import os
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import backend, nn, optim
from ..data.loader import DataLoader
from ..errors import ConfigError
from ..nn.utils import dtype_device
from .callbacks import CALLBACKS, Callback, EarlyStopping, History, LearningRateScheduler
from .changes import Changes
from .config import SCHEDULES
from .loop import fit
from .prepare import Preprocessing, Splits, prepare

__all__ = ["Experiment", "assemble", "build_model", "loss_and_metrics", "regularizer"]

# ``gw.manual_seed`` seeds a process-wide generator: two assemblies in two threads (two
# playground sessions) must not interleave their initialization draws.
_INIT_LOCK = threading.Lock()


def _dropout_rates(config: dict[str, Any]) -> list[float]:
    cfg = config["model"]
    rates = cfg["dropout"]
    if not isinstance(rates, list):
        return [float(rates)] * len(cfg["hidden"])
    if len(rates) != len(cfg["hidden"]):
        raise ConfigError(f"config key model.dropout = {rates!r}: a list needs one rate per "
                          f"hidden layer ({len(cfg['hidden'])})")
    return [float(r) for r in rates]


def _dropout_layers(config: dict[str, Any]) -> list[bool]:
    """Which hidden layers get a Dropout: those with a rate > 0 in ``model.dropout`` or in any
    ``[[changes]]`` entry that sets it."""
    n = len(config["model"]["hidden"])
    has = [r > 0 for r in _dropout_rates(config)]
    for change in config.get("changes", []):
        rates = change.get("set", {}).get("model.dropout")
        if rates is not None:
            rates = rates if isinstance(rates, list) else [rates] * n
            has = [h or r > 0 for h, r in zip(has, rates, strict=True)]
    return has


def build_model(config: dict[str, Any], n_inputs: int, n_outputs: int) -> nn.Sequential:
    """Dense layers of the sizes ``model.hidden`` with the activation, each followed by dropout
    when its rate (``model.dropout``, one number for every hidden layer or a list of one per
    layer) is > 0 here or in a ``[[changes]]`` entry, then a linear output layer (logits or
    regression values)."""
    cfg = config["model"]
    rates = _dropout_rates(config)
    layers: list[nn.Module] = []
    width = n_inputs
    for h, rate, has in zip(cfg["hidden"], rates, _dropout_layers(config), strict=True):
        layers.append(nn.Dense(width, h, activation=cfg["activation"], weight_init=cfg["init"]))
        if has:
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


def estimate_model(config: dict[str, Any], n_inputs: int, n_outputs: int) -> None:
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


@dataclass
class Experiment:
    """Everything a config turns into, ready for ``gw.fit(**experiment.fit_kwargs())`` (or
    :meth:`fit`). ``callbacks`` are in the order ``fit`` runs them: :class:`Changes` first,
    then early stopping, the schedule and the config's ``[[callbacks]]``."""

    config: dict[str, Any]
    splits: Splits
    preprocessing: Preprocessing
    model: nn.Module
    loss: nn.Module
    metrics: list[str]
    optimizer: optim.Optimizer
    schedule: Any
    regularization: nn.L1L2
    early_stopping: EarlyStopping | None
    changes: Changes
    callbacks: list[Callback]
    loader: DataLoader
    generators: dict[str, np.random.Generator | None]
    seed: int | None
    monitors: list[str] = field(default_factory=list)

    @property
    def validation_data(self) -> tuple[np.ndarray, np.ndarray] | None:
        s = self.splits
        return None if s.X_val is None else (s.X_val, s.y_val)  # type: ignore[return-value]

    def fit_kwargs(self, **overrides: Any) -> dict[str, Any]:
        """The arguments of ``gw.fit`` for this experiment (``overrides`` replace any)."""
        tcfg = self.config["training"]
        kwargs: dict[str, Any] = {
            "model": self.model, "loss": self.loss, "optimizer": self.optimizer,
            "train_data": self.loader, "epochs": tcfg["epochs"],
            "batch_size": tcfg["batch_size"], "validation_data": self.validation_data,
            "metrics": list(self.metrics), "callbacks": list(self.callbacks),
            "verbose": tcfg["verbose"], "seed": self.seed,
            "regularization": self.regularization, "train_eval": True}
        kwargs.update(overrides)
        return kwargs

    def replay_config(self, epochs: int | None = None) -> dict[str, Any]:
        """The config that retrains this experiment as it ran: its config with every change
        applied so far or appended (``[[changes]]``, in epoch order) and, when given,
        ``training.epochs = epochs`` (e.g. the epochs a playground session trained)."""
        config = copy.deepcopy(self.config)
        with self.changes._lock:
            entries = sorted(copy.deepcopy(self.changes.entries), key=lambda c: c["epoch"])
        config.pop("changes", None)
        if entries:
            config["changes"] = entries
        if epochs is not None:
            config["training"]["epochs"] = int(epochs)
        return config

    def fit(self, **overrides: Any) -> History:
        """``gw.fit(**self.fit_kwargs(**overrides))``."""
        return fit(**self.fit_kwargs(**overrides))


def _check_callback_files(config: dict[str, Any], available: list[str]) -> None:
    """A ``filepath`` of a ``[[callbacks]]`` entry (``ModelCheckpoint``) may name ``{epoch}``
    and logged values: refuse names this run does not log now, not after its first epoch."""
    for entry in config.get("callbacks", []):
        path = entry.get("filepath")
        if not isinstance(path, str):
            continue
        try:
            path.format(epoch=1, **dict.fromkeys(available, 0.0), lr=0.0)
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(f"[[callbacks]] {entry['name']}: filepath = {path!r}: "
                              f"{type(exc).__name__} {exc}; it may name {{epoch}} and "
                              f"{', '.join('{' + k + '}' for k in available)}") from None


def _check_loss(model: nn.Module, loss: nn.Module, splits: Splits, config: dict[str, Any]
                ) -> None:
    """Compute the loss of the first training samples once (eval mode, no graph, no random
    draw), so that a loss that cannot take this data fails now with a config error."""
    from ..autograd import Tensor, no_grad
    from ..nn.utils import as_target
    dtype, device = dtype_device(model)
    was = model.training
    model.eval()
    try:
        with no_grad():
            out = model(Tensor(splits.X_train[:2], dtype=dtype, device=device))
            loss(out, as_target(backend.to_device(splits.y_train[:2], device), out))
    except (ValueError, TypeError, IndexError) as exc:
        name = config["training"].get("loss") or type(loss).__name__
        raise ConfigError(f"config key training.loss = {name!r} cannot train this "
                          f"{splits.task} data ({splits.n_outputs} output"
                          f"{'s' if splits.n_outputs != 1 else ''}): {exc}") from None
    finally:
        model.train(was)


def assemble(config: dict[str, Any], *, arrays: tuple[Any, Any] | None = None,
             private_generators: bool = False, verbose: int | None = None) -> Experiment:
    """The experiment of a validated ``config`` (not mutated: the experiment holds a copy).

    ``arrays`` ``(X, y)`` replaces the points of ``[data]``'s source. ``private_generators``
    gives the dropout layers a generator of their own (for several experiments training at
    once in one process); either way the draws are the same. ``verbose`` replaces
    ``training.verbose`` in the experiment's copy of the config (progress and early
    stopping's messages; 0: silent). Everything is checked here,
    before any training or file: raises :class:`~gradwise.errors.GradwiseError` subclasses.
    """
    config = copy.deepcopy(config)
    tcfg = config["training"]
    if verbose is not None:
        tcfg["verbose"] = verbose
    splits, pre = prepare(config, arrays)
    n_in = splits.X_train.shape[1]
    estimate_model(config, n_in, splits.n_outputs)
    with _INIT_LOCK:
        backend.manual_seed(tcfg["seed"])
        model = build_model(config, n_in, splits.n_outputs)
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
    monitored = str((tcfg.get("early_stopping") or {}).get("monitor", ""))
    if (splits.task in ("binary", "multiclass") and monitored.removeprefix("val_") in
            ("precision", "recall", "f1", "auc")):  # computed when early stopping watches them
        metric_names.append(monitored.removeprefix("val_"))
    available = ["loss", *metric_names]
    if splits.X_val is not None:
        available += [f"val_{k}" for k in available]
    _check_loss(model, loss, splits, config)
    _check_callback_files(config, [*available, *(f"train_eval_{k}" for k in
                                                 ["loss", *metric_names])])

    es = None
    es_cfg = tcfg.get("early_stopping")
    if es_cfg is not None and es_cfg["enabled"]:
        if es_cfg["monitor"] not in available:
            raise ConfigError(f"config key training.early_stopping.monitor = "
                              f"{es_cfg['monitor']!r}: this run logs {', '.join(available)}")
        kwargs = {k: v for k, v in es_cfg.items() if k != "enabled"}
        es = EarlyStopping(verbose=1 if tcfg["verbose"] else 0, **kwargs)
    schedule = None
    sched = config.get("schedule")
    if sched is not None:
        cls = getattr(optim.schedules, SCHEDULES[sched["name"]])
        try:
            schedule = cls(optimizer, **{k: v for k, v in sched.items() if k != "name"})
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"[schedule] {exc}") from None
    user: list[Callback] = []
    for entry in config.get("callbacks", []):  # [[callbacks]]: a name in CALLBACKS and kwargs
        name = entry["name"]
        if name not in CALLBACKS:
            raise ConfigError(f"config key callbacks.name = {name!r}: expected one of "
                              + ", ".join(repr(n) for n in CALLBACKS))
        try:
            user.append(CALLBACKS[name](**{k: v for k, v in entry.items() if k != "name"}))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"[[callbacks]] {name}: {exc}") from None

    dtype, device = dtype_device(model)

    def cast(a: np.ndarray) -> np.ndarray:  # as fit casts arrays for a GPU
        return a.astype(dtype) if device != "cpu" and a.dtype.kind == "f" and (
            a.dtype != dtype) else a

    shuffle = np.random.default_rng(tcfg["seed"])
    loader = DataLoader((cast(splits.X_train), cast(splits.y_train)),
                        batch_size=tcfg["batch_size"], shuffle=True, generator=shuffle,
                        device=device)
    dropout_gen = np.random.default_rng(tcfg["seed"]) if private_generators else None
    dropouts: list[nn.Dropout | None] = []
    modules = list(model)  # type: ignore[call-overload]
    for i, m in enumerate(modules):
        if isinstance(m, nn.Dense) and i < len(modules) - 1:
            nxt = modules[i + 1]
            dropouts.append(nxt if isinstance(nxt, nn.Dropout) else None)
    for d in dropouts:
        if d is not None and dropout_gen is not None:
            d.generator = dropout_gen
    reg = regularizer(config) or nn.L1L2()  # rates of 0 add no term: the same bits as none
    changes = Changes(config, loader=loader, schedule=schedule, regularization=reg,
                      dropouts=dropouts)
    changes.set_model(model)
    changes.set_optimizer(optimizer)
    for change in changes.entries:
        changes.check(change, model)
    callbacks: list[Callback] = [changes]
    if es is not None:
        callbacks.append(es)
    if schedule is not None:
        callbacks.append(LearningRateScheduler(schedule))
    callbacks += user
    return Experiment(
        config=config, splits=splits, preprocessing=pre, model=model, loss=loss,
        metrics=metric_names, optimizer=optimizer, schedule=schedule, regularization=reg,
        early_stopping=es, changes=changes, callbacks=callbacks, loader=loader,
        generators={"shuffle": shuffle, "dropout": dropout_gen},
        seed=None if private_generators else tcfg["seed"], monitors=available)
