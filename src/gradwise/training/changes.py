"""Changes made during a run (``[[changes]]`` in a config): at the start of epoch ``e`` (when
``e`` epochs have completed), set config keys that may change mid-run (optimizer and schedule
hyperparameters, regularization, dropout rates, batch size) and single weights.

One class, :class:`Changes`, applies them, whether they come from a config file or are
appended while training runs (the playground appends a change for the next epoch with
:meth:`Changes.add`): a replay of the same changes is the same computation, bit for bit.
"""

from __future__ import annotations

import threading
from typing import Any

from ..errors import ConfigError
from .callbacks import Callback, Logs
from .config import check_changes

__all__ = ["Changes"]


class Changes(Callback):
    """Apply the ``[[changes]]`` of ``config`` (and those :meth:`add` appends) at
    ``on_epoch_begin``, in epoch order (entries of one epoch in list order).

    What each key changes: ``optimizer.<name>`` sets ``name`` in every parameter group (so an
    ``lr`` set by hand composes with a schedule as in PyTorch); ``schedule.<name>`` sets the
    schedule's attribute; ``model.regularization``/``model.regularization_rate`` change the
    rates of ``regularization`` (a :class:`~gradwise.nn.L1L2`); ``model.dropout`` the rate of
    each hidden layer's :class:`~gradwise.nn.Dropout` (``dropouts``: one per hidden layer, or
    None where the model has none, in which case only a rate of 0 is accepted);
    ``training.batch_size`` the training ``loader``'s batch size from the next epoch. Weights
    are set in place: ``parameter[index] = value``.

    On resume the checkpoint restores the model's weights, the optimizer's hyperparameters and
    the schedule's state; :meth:`load_state_dict` re-applies the rest (regularization, dropout,
    batch size) of the changes whose epoch has passed.
    """

    def __init__(self, config: dict[str, Any], *, loader: Any = None, schedule: Any = None,
                 regularization: Any = None, dropouts: list[Any] | None = None) -> None:
        super().__init__()
        self.config = config
        self.entries: list[dict[str, Any]] = list(config.get("changes", []))
        self.loader, self.schedule = loader, schedule
        self.regularization, self.dropouts = regularization, dropouts
        self.next_epoch = 0  # the first epoch whose changes are still to apply
        self._model_cfg = dict(config["model"])
        self._lock = threading.Lock()

    # --- building and appending ----------------------------------------------------------------
    def check(self, change: dict[str, Any], model: Any = None) -> None:
        """Refuse a checked change that this run cannot apply (a parameter it does not have,
        an index out of range, a dropout rate for a layer built without dropout)."""
        where = f"[[changes]] epoch {change['epoch']}"
        rates = change.get("set", {}).get("model.dropout")
        if rates is not None and self.dropouts is not None:
            rates = rates if isinstance(rates, list) else [rates] * len(self.dropouts)
            for i, (rate, layer) in enumerate(zip(rates, self.dropouts, strict=True)):
                if rate > 0 and layer is None:
                    raise ConfigError(f"{where}: model.dropout sets {rate} for hidden layer "
                                      f"{i + 1}, which was built without dropout (give it a "
                                      "rate > 0 in the config or in a [[changes]] entry)")
        if model is None:
            return
        params = dict(model.named_parameters())
        for w in change.get("weights", []):
            p = params.get(w["name"])
            if p is None:
                raise ConfigError(f"{where}: weights name = {w['name']!r}: the model's "
                                  f"parameters are {', '.join(params)}")
            if len(w["index"]) != p.ndim or any(
                    i >= n for i, n in zip(w["index"], p.shape, strict=True)):
                raise ConfigError(f"{where}: weights index = {w['index']} is outside "
                                  f"{w['name']} of shape {tuple(p.shape)}")

    def add(self, change: dict[str, Any]) -> dict[str, Any]:
        """Check ``change`` (a ``[[changes]]`` table) as a config's are, append it and return
        it as checked; its epoch must not have started yet. Safe to call from another thread
        while training runs."""
        checked = check_changes(self.config, [change])[0]
        self.check(checked, self.model)
        with self._lock:
            if checked["epoch"] < self.next_epoch:
                raise ConfigError(f"[[changes]] epoch {checked['epoch']}: that epoch has "
                                  f"started; the next change can be at epoch {self.next_epoch}")
            self.entries.append(checked)
        return checked

    # --- applying ------------------------------------------------------------------------------
    def _due(self, epoch: int, before: bool = False) -> list[dict[str, Any]]:
        with self._lock:
            due = [c for c in self.entries
                   if (c["epoch"] < epoch if before else c["epoch"] == epoch)]
        return sorted(due, key=lambda c: c["epoch"])  # stable: list order within an epoch

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        for change in self._due(epoch):
            self._apply(change)
        with self._lock:
            self.next_epoch = epoch + 1

    def _apply(self, change: dict[str, Any], restoring: bool = False) -> None:
        for key, value in change.get("set", {}).items():
            section, _, name = key.partition(".")
            if section in ("optimizer", "schedule"):
                if restoring:  # in the optimizer's and the schedule's restored state
                    continue
                if section == "optimizer":
                    for group in self.optimizer.param_groups:
                        old = group.get(name)
                        group[name] = tuple(value) if isinstance(old, tuple) else value
                else:
                    setattr(self.schedule, name, value)
            elif key == "training.batch_size":
                self.loader.batch_size = value
                if isinstance(getattr(self, "params", None), dict):
                    self.params["steps"] = len(self.loader)
            elif key == "model.dropout":
                assert self.dropouts is not None
                rates = value if isinstance(value, list) else [value] * len(self.dropouts)
                for rate, layer in zip(rates, self.dropouts, strict=True):
                    if layer is not None:
                        layer.p = float(rate)
            else:  # model.regularization, model.regularization_rate
                self._model_cfg[name] = value
                kind = self._model_cfg.get("regularization", "none")
                rate = float(self._model_cfg.get("regularization_rate", 0.0))
                self.regularization.l1 = rate if kind == "l1" else 0.0
                self.regularization.l2 = rate if kind == "l2" else 0.0
        if restoring:
            return
        params = dict(self.model.named_parameters())
        for w in change.get("weights", []):
            params[w["name"]].data[tuple(w["index"])] = w["value"]

    # --- resume --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"next_epoch": self.next_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        epoch = int(state["next_epoch"])
        for change in self._due(epoch, before=True):
            self._apply(change, restoring=True)
        with self._lock:
            self.next_epoch = epoch
