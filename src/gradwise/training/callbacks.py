"""Callbacks with Keras's interface, and the built-in ones: ``EarlyStopping``,
``ModelCheckpoint``, ``TerminateOnNaN``, ``CSVLogger``, ``LearningRateScheduler``.

``fit`` calls every callback in list order at each event with one shared ``logs`` dict, so a
callback sees what an earlier one wrote into it; ``History`` and the progress display run after
the user's callbacks. Any callback stops training by setting ``self.model.stop_training = True``
(as in Keras): the current batch finishes, the epoch is validated and ``on_epoch_end`` runs,
then ``on_train_end``.
"""

from __future__ import annotations

import html
import inspect
import math
import operator
import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from ..optim.schedules import ReduceLROnPlateau
from . import history_csv
from . import metrics as _metrics
from .checkpoint import save

__all__ = [
    "CALLBACKS", "CSVLogger", "Callback", "CallbackList", "EarlyStopping", "History",
    "LearningRateScheduler", "ModelCheckpoint", "TerminateOnNaN",
]

Logs = dict[str, Any]


class Callback:
    """Base class: override the hooks you need. ``self.model``, ``self.optimizer`` and
    ``self.params`` (``epochs``, ``steps``, ``verbose``) are set by ``fit`` before training.

    A callback whose behaviour depends on earlier epochs returns that state from
    :meth:`state_dict` (numbers, strings, lists, dicts and arrays) so that
    ``fit(resume_from=...)`` can continue it exactly.
    """

    def __init__(self) -> None:
        self.model: Any = None
        self.optimizer: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_optimizer(self, optimizer: Any) -> None:
        self.optimizer = optimizer

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def on_train_begin(self, logs: Logs | None = None) -> None:
        """Called once before the first epoch."""

    def on_train_end(self, logs: Logs | None = None) -> None:
        """Called once after the last epoch (also when training was stopped)."""

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        """Called at the start of epoch ``epoch`` (counted from 0)."""

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        """Called after epoch ``epoch`` with ``loss``, metrics, ``val_*`` and ``lr`` in logs."""

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Called before training step ``batch`` of the epoch (counted from 0)."""

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """Called after a training step with the batch's ``loss`` and ``size`` in logs."""

    def state_dict(self) -> dict[str, Any]:
        """The state a resumed run needs to continue exactly (empty for stateless callbacks)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


class CallbackList(Callback):
    """A list of callbacks that is itself a callback, as Keras's ``CallbackList``: each hook
    (``set_model``, ``set_optimizer``, ``set_params`` and every ``on_*`` event) calls the same
    hook of every callback in list order, with one shared ``logs`` dict, so a callback sees what
    an earlier one wrote into it. ``fit`` drives its callbacks through one.

    Where Keras 3 replaces ``logs=None`` *or an empty dict* by a new dict, this list replaces
    only ``None``: an empty dict ``fit`` passes is kept, so what a callback writes into it at
    ``on_epoch_begin`` is still there at ``on_epoch_end``.
    """

    def __init__(self, callbacks: Iterable[Callback] | None = None) -> None:
        super().__init__()
        self.callbacks: list[Callback] = list(callbacks or [])

    def append(self, callback: Callback) -> None:
        self.callbacks.append(callback)

    def __iter__(self) -> Iterator[Callback]:
        return iter(self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)

    def set_model(self, model: Any) -> None:
        super().set_model(model)
        for cb in self.callbacks:
            cb.set_model(model)

    def set_optimizer(self, optimizer: Any) -> None:
        super().set_optimizer(optimizer)
        for cb in self.callbacks:
            cb.set_optimizer(optimizer)

    def set_params(self, params: dict[str, Any]) -> None:
        super().set_params(params)
        for cb in self.callbacks:
            cb.set_params(params)

    def on_train_begin(self, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_train_begin(logs)

    def on_train_end(self, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_train_end(logs)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_train_batch_begin(batch, logs)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_train_batch_end(batch, logs)

    def __repr__(self) -> str:
        return f"CallbackList({[type(cb).__name__ for cb in self.callbacks]})"


class History(Callback):
    """Records every epoch's logs: ``history["loss"][i]`` is epoch ``i``'s value, as in Keras."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[Any]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)

    def state_dict(self) -> dict[str, Any]:
        return {"history": {k: list(v) for k, v in self.history.items()},
                "epoch": list(self.epoch)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = {k: list(v) for k, v in state["history"].items()}
        self.epoch = list(state["epoch"])

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"

    def _repr_html_(self) -> str:
        """A table of every epoch's logs, for Jupyter."""
        keys = list(self.history)
        head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
        rows = "".join(
            f"<tr><td>{e + 1}</td>" + "".join(
                f"<td>{_cell(self.history[k][i] if i < len(self.history[k]) else '')}</td>"
                for k in keys) + "</tr>" for i, e in enumerate(self.epoch))
        return (f"<div><b>History: {len(self.epoch)} epochs</b><table><thead><tr><th>epoch"
                f"</th>{head}</tr></thead><tbody>{rows}</tbody></table></div>")


def _cell(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else html.escape(str(v))


def _monitor_op(owner: str, monitor: str, mode: str) -> Callable[[Any, Any], bool]:
    """Keras's rule: ``min``/``max`` as named; ``auto`` is ``min`` for losses and follows the
    metric's direction otherwise, and is an error for a metric of unknown direction."""
    if mode == "min":
        return operator.lt
    if mode == "max":
        return operator.gt
    name = monitor.removeprefix("val_")
    direction = _metrics.direction(name)
    if direction is None:
        raise ValueError(
            f"{owner} callback received monitor={monitor!r} but cannot determine whether that "
            "metric should be maximized or minimized; pass mode='max' or mode='min'"
        )
    return operator.gt if direction == "up" else operator.lt


def _check_mode(owner: str, mode: str) -> str:
    if mode not in ("auto", "min", "max"):
        warnings.warn(f"{owner} mode {mode} is unknown, fallback to auto mode.", stacklevel=3)
        return "auto"
    return mode


def _monitor_value(owner: str, monitor: str, logs: Logs | None) -> Any:
    logs = logs or {}
    value = logs.get(monitor)
    if value is None:
        warnings.warn(
            f"{owner} conditioned on metric `{monitor}` which is not available. "
            f"Available metrics are: {','.join(logs)}",
            stacklevel=3,
        )
    return value


class EarlyStopping(Callback):
    """Stop training when a monitored quantity has stopped improving (Keras 3 semantics).

    An epoch improves on the best value iff ``current - |min_delta| > best`` (max mode) or
    ``current + |min_delta| < best`` (min mode), both strict; the first monitored epoch always
    improves and a NaN never does against a number. Each monitored epoch (index
    ``>= start_from_epoch``, metric present) adds one to ``wait``; an improvement records
    ``best``/``best_epoch`` (and the weights when ``restore_best_weights``) and resets ``wait``
    only if it also improves on ``baseline``, then returns without a stop check. Otherwise
    training stops when ``wait >= patience`` and ``epoch > 0``. So a metric that keeps improving
    without beating ``baseline`` never stops training. With ``restore_best_weights`` the best
    weights are put back at the end of training whenever they were captured, whoever stopped
    training. ``mode="auto"`` minimizes losses and maximizes accuracy; an unknown mode warns and
    falls back to auto. Prechelt, "Early stopping - but when?" (1998).
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0, patience: int = 0,
                 verbose: int = 0, mode: str = "auto", baseline: float | None = None,
                 restore_best_weights: bool = False, start_from_epoch: int = 0) -> None:
        super().__init__()
        self.monitor = monitor
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.min_delta = abs(min_delta)
        self.wait = 0
        self.stopped_epoch = 0
        self.restore_best_weights = restore_best_weights
        self.best_weights: dict[str, Any] | None = None
        self.best: Any = None
        self.best_epoch = 0
        self.start_from_epoch = start_from_epoch
        self.mode = _check_mode("EarlyStopping", mode)
        self.monitor_op: Callable[[Any, Any], bool] | None = None

    def _set_monitor_op(self) -> None:
        self.monitor_op = _monitor_op("EarlyStopping", self.monitor, self.mode)
        if self.monitor_op is operator.lt:
            self.min_delta *= -1

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.monitor_op is None:
            self._set_monitor_op()
        current = _monitor_value("Early stopping", self.monitor, logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.state_dict()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.state_dict()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.load_state_dict(self.best_weights)

    def _is_improvement(self, value: Any, reference: Any) -> bool:
        if reference is None:
            return True
        assert self.monitor_op is not None
        return bool(self.monitor_op(value - self.min_delta, reference))

    def state_dict(self) -> dict[str, Any]:
        return {"wait": self.wait, "stopped_epoch": self.stopped_epoch, "best": self.best,
                "best_epoch": self.best_epoch, "best_weights": self.best_weights,
                "min_delta": self.min_delta,
                "monitor_op": None if self.monitor_op is None else self.monitor_op.__name__}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.wait, self.stopped_epoch = state["wait"], state["stopped_epoch"]
        self.best, self.best_epoch = state["best"], state["best_epoch"]
        self.best_weights, self.min_delta = state["best_weights"], state["min_delta"]
        op = state["monitor_op"]
        self.monitor_op = None if op is None else getattr(operator, op)


class ModelCheckpoint(Callback):
    """Save the model's weights (``gw.save``, safetensors) after every epoch, or only when the
    monitored quantity improves strictly on the best seen (``save_best_only``).

    ``filepath`` may contain ``{epoch}`` (counted from 1) and any logged value, e.g.
    ``"ckpt-{epoch:03d}-{val_loss:.3f}.safetensors"``. ``mode`` follows ``EarlyStopping``.
    """

    def __init__(self, filepath: str | os.PathLike[str], monitor: str = "val_loss",
                 verbose: int = 0, save_best_only: bool = False, mode: str = "auto") -> None:
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.mode = _check_mode("ModelCheckpoint", mode)
        self.monitor_op: Callable[[Any, Any], bool] | None = None
        self.best: Any = None

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_best_only:
            if self.monitor_op is None:
                self.monitor_op = _monitor_op("ModelCheckpoint", self.monitor, self.mode)
            current = _monitor_value("ModelCheckpoint", self.monitor, logs)
            if current is None:
                return
            if self.best is not None and not self.monitor_op(current, self.best):
                return
            if isinstance(current, float) and math.isnan(current):
                return
            if self.verbose > 0:
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best} to "
                      f"{current}, saving model to {path}")
            self.best = current
        elif self.verbose > 0:
            print(f"Epoch {epoch + 1}: saving model to {path}")
        save(self.model, path)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = state["best"]


class TerminateOnNaN(Callback):
    """Stop training as soon as a training batch's loss is NaN or infinite, saying where."""

    def __init__(self) -> None:
        super().__init__()
        self._epoch = 0
        self.stopped_at: tuple[int, int] | None = None

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.stopped_at = None

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.terminate(self._epoch, batch, float(loss), "training loss")

    def terminate(self, epoch: int, batch: int | None, value: float, where: str) -> None:
        """The ``where`` value became ``value`` (non-finite) at ``epoch`` (and ``batch``; None
        at the epoch's end): say so and stop training. ``gradwise train``'s guard, the one
        other place that watches for divergence, overrides this to record it instead."""
        self.stopped_at = (epoch, -1 if batch is None else batch)
        print(f"TerminateOnNaN: the loss is {value} at epoch {epoch + 1}, step "
              f"{'end' if batch is None else batch + 1}; terminating training")
        self.model.stop_training = True


class CSVLogger(Callback):
    """Write each epoch's logs as a CSV row (``epoch`` from 0, then the keys in sorted order,
    as Keras does). The whole file is rewritten atomically after every epoch, so it is always
    complete; ``append=True`` keeps the rows of an earlier run (for resumed training)."""

    def __init__(self, filename: str | os.PathLike[str], separator: str = ",",
                 append: bool = False) -> None:
        super().__init__()
        self.filename = Path(filename)
        self.sep = separator
        self.append = append
        self.keys: list[str] | None = None
        self._lines: list[str] = []

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._lines, self.keys = [], None
        if self.append and self.filename.exists():
            self._lines = self.filename.read_text().splitlines()
            if self._lines:
                self.keys = self._lines[0].split(self.sep)[1:]

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            self._lines.append(history_csv.header(self.keys, self.sep))
        self._lines.append(history_csv.format_row(epoch, logs, self.keys, self.sep))
        history_csv.write_lines(self.filename, self._lines)


class LearningRateScheduler(Callback):
    """Set the learning rate every epoch.

    ``schedule`` is either a function — ``schedule(epoch)`` or Keras's ``schedule(epoch, lr)``,
    called at the start of each epoch with the epoch counted from 0, its result assigned to
    every parameter group's ``lr`` — or a scheduler from ``gw.optim.schedules``, stepped at the
    end of each epoch as in PyTorch (``ReduceLROnPlateau`` is stepped with the logged value of
    ``monitor``).
    """

    def __init__(self, schedule: Any, monitor: str = "val_loss", verbose: int = 0) -> None:
        super().__init__()
        self.schedule = schedule
        self.monitor = monitor
        self.verbose = verbose
        self._is_scheduler = hasattr(schedule, "step") and hasattr(schedule, "state_dict")
        if not self._is_scheduler:
            if not callable(schedule):
                raise TypeError(f"LearningRateScheduler needs a function of the epoch or a "
                                f"gw.optim.schedules scheduler, got {schedule!r}")
            self._n_args = len(inspect.signature(schedule).parameters)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        if self._is_scheduler:
            return
        groups = self.optimizer.param_groups
        lr = self.schedule(epoch) if self._n_args < 2 else self.schedule(epoch, groups[0]["lr"])
        lr = float(lr)
        if not math.isfinite(lr):
            raise ValueError(f"LearningRateScheduler: the schedule returned lr={lr} at epoch "
                             f"{epoch}")
        for g in groups:
            g["lr"] = lr
        if self.verbose > 0:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if not self._is_scheduler:
            return
        if isinstance(self.schedule, ReduceLROnPlateau):
            value = _monitor_value("LearningRateScheduler", self.monitor, logs)
            if value is not None:
                self.schedule.step(value)
        else:
            self.schedule.step()

    def state_dict(self) -> dict[str, Any]:
        return {"schedule": self.schedule.state_dict()} if self._is_scheduler else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self._is_scheduler:
            self.schedule.load_state_dict(state["schedule"])


#: the callbacks a config names in its ``[[callbacks]]`` tables (``name`` and the constructor's
#: keyword arguments), for ``gradwise train``; add one here or at runtime
#: (``gw.callbacks.CALLBACKS["name"] = MyCallback``). Early stopping and the learning-rate
#: schedule have their own config sections; the train job writes its own history and checkpoint.
CALLBACKS: dict[str, type[Callback]] = {
    "terminate_on_nan": TerminateOnNaN,
    "model_checkpoint": ModelCheckpoint,
}
