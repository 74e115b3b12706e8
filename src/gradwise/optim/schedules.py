"""Learning-rate schedules with PyTorch's ``torch.optim.lr_scheduler`` semantics.

A schedule is created after the optimizer and sets every group's ``lr`` at once (epoch 0);
each ``step()`` (after ``optimizer.step()``, usually once per epoch) moves to the next epoch.
The recurrences are PyTorch's, so a learning rate changed by hand between steps composes with
the schedule as it does there. ``state_dict()`` is a dict of numbers and lists.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from typing import Any

from .. import backend
from .optimizer import Optimizer

__all__ = ["ConstantLR", "CosineAnnealingLR", "ExponentialLR", "LRSchedule", "LinearLR",
           "LinearWarmup", "OneCycleLR", "PolynomialLR", "ReduceLROnPlateau", "SequentialLR",
           "StepLR"]


def _check(cls: str, name: str, value: Any, low: float = 0.0, strict: bool = True,
           high: float = math.inf) -> None:
    """Refuse a schedule argument that is not a finite real number above ``low`` (or at least
    ``low`` when not ``strict``) and at most ``high``: a negative factor would flip the
    learning rate's sign, and gradient descent would climb the loss."""
    ok = (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
          and (value > low if strict else value >= low) and value <= high)
    if not ok:
        where = f"{'>' if strict else '>='} {low:g}" + ("" if high == math.inf else
                                                          f" and <= {high:g}")
        raise ValueError(f"{cls}: {name} must be a finite number {where}, got {value!r}")


class LRSchedule:
    """Base of the epoch-indexed schedules: ``step()``, ``get_last_lr()``, ``state_dict()``.

    Subclasses implement ``_next(lr, base_lr)``, the new learning rate of a group at epoch
    ``last_epoch`` given its current ``lr`` and its ``base_lr`` (the lr when the schedule was
    created).
    """

    _fields: tuple[str, ...] = ()

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"a schedule needs a gradwise Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = -1
        self.step()

    def _next(self, lr: float, base_lr: float) -> float:
        raise NotImplementedError

    @backend.live  # in a gw.compile step: run at every replay
    def step(self) -> None:
        """Advance one epoch and set every group's learning rate."""
        self.last_epoch += 1
        groups = self.optimizer.param_groups
        for group, base in zip(groups, self.base_lrs, strict=True):
            group["lr"] = self._next(group["lr"], base)
        self._last_lr = [group["lr"] for group in groups]

    def get_last_lr(self) -> list[float]:
        """The learning rate of each group after the last ``step()``."""
        return list(self._last_lr)

    def restart(self) -> None:
        """Go back to epoch 0 from the base learning rates (PyTorch's ``step(0)``)."""
        self.last_epoch = 0
        groups = self.optimizer.param_groups
        for group, base in zip(groups, self.base_lrs, strict=True):
            group["lr"] = self._next(base, base)
        self._last_lr = [group["lr"] for group in groups]

    def state_dict(self) -> dict[str, Any]:
        return {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs),
                "last_lr": list(self._last_lr), **{k: getattr(self, k) for k in self._fields}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.last_epoch = int(state["last_epoch"])
        self.base_lrs = list(state["base_lrs"])
        self._last_lr = list(state["last_lr"])
        for k in self._fields:
            setattr(self, k, state[k])


class StepLR(LRSchedule):
    """Step decay: ``lr_e = lr_0 gamma^floor(e / step_size)`` (multiply by ``gamma`` every
    ``step_size`` epochs)."""

    _fields = ("step_size", "gamma")

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        if not isinstance(step_size, int) or step_size < 1:
            raise ValueError(f"StepLR: step_size must be a positive integer, got {step_size!r}")
        _check("StepLR", "gamma", gamma)
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer)

    def _next(self, lr: float, base_lr: float) -> float:
        if self.last_epoch == 0 or self.last_epoch % self.step_size:
            return lr
        return lr * self.gamma


class ExponentialLR(LRSchedule):
    """Exponential decay: ``lr_e = lr_0 gamma^e``."""

    _fields = ("gamma",)

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        _check("ExponentialLR", "gamma", gamma)
        self.gamma = gamma
        super().__init__(optimizer)

    def _next(self, lr: float, base_lr: float) -> float:
        return lr if self.last_epoch == 0 else lr * self.gamma


class CosineAnnealingLR(LRSchedule):
    """Cosine annealing (Loshchilov and Hutter 2017, SGDR without restarts)::

        lr_e = eta_min + (lr_0 - eta_min) (1 + cos(pi e / T_max)) / 2

    computed by PyTorch's recurrence (so it keeps going, back up, after ``T_max``).
    """

    _fields = ("T_max", "eta_min")

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:  # noqa: N803
        if not isinstance(T_max, int) or T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be a positive integer, got {T_max!r}")
        _check("CosineAnnealingLR", "eta_min", eta_min, strict=False)
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer)

    def _next(self, lr: float, base_lr: float) -> float:
        e, t, lo = self.last_epoch, self.T_max, self.eta_min
        if e == 0:
            return lr
        if (e - 1 - t) % (2 * t) == 0:
            return lr + (base_lr - lo) * (1 - math.cos(math.pi / t)) / 2
        return (1 + math.cos(math.pi * e / t)) / (1 + math.cos(math.pi * (e - 1) / t)) * (
            lr - lo) + lo


class LinearWarmup(LRSchedule):
    """Linear warm-up (PyTorch's ``LinearLR``): the factor on ``lr_0`` goes linearly from
    ``start_factor`` to ``end_factor`` over ``total_iters`` epochs, then stays::

        lr_e = lr_0 (start + (end - start) min(e, total_iters) / total_iters)

    Large learning rates early in training can diverge; warming up avoids it (Goyal et al. 2017).
    """

    _fields = ("start_factor", "end_factor", "total_iters")

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3,
                 end_factor: float = 1.0, total_iters: int = 5) -> None:
        if not 0 < start_factor <= 1:
            raise ValueError(
                f"{type(self).__name__}: start_factor must be in (0, 1], got {start_factor!r}")
        if not 0 <= end_factor <= 1:
            raise ValueError(
                f"{type(self).__name__}: end_factor must be in [0, 1], got {end_factor!r}")
        if not isinstance(total_iters, int) or total_iters < 1:
            raise ValueError(f"{type(self).__name__}: total_iters must be a positive integer, "
                             f"got {total_iters!r}")
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
        super().__init__(optimizer)

    def _next(self, lr: float, base_lr: float) -> float:
        e, a, b = self.last_epoch, self.start_factor, self.end_factor
        if e == 0:
            return lr * a
        if e > self.total_iters:
            return lr
        return lr * (1.0 + (b - a) / (self.total_iters * a + (e - 1) * (b - a)))


class LinearLR(LinearWarmup):
    """PyTorch's name for :class:`LinearWarmup` (the same schedule and defaults)."""


class ConstantLR(LRSchedule):
    """Constant factor (PyTorch's ``ConstantLR``): ``lr_e = lr_0 factor`` for
    ``e < total_iters``, then ``lr_0``."""

    _fields = ("factor", "total_iters")

    def __init__(self, optimizer: Optimizer, factor: float = 1.0 / 3,
                 total_iters: int = 5) -> None:
        if not (isinstance(factor, int | float) and 0 <= factor <= 1):
            raise ValueError(f"ConstantLR: factor must be in [0, 1], got {factor!r}")
        if not isinstance(total_iters, int) or total_iters < 0:
            raise ValueError(
                f"ConstantLR: total_iters must be a non-negative integer, got {total_iters!r}")
        self.factor, self.total_iters = factor, total_iters
        super().__init__(optimizer)

    def _next(self, lr: float, base_lr: float) -> float:
        if self.last_epoch == 0:
            return lr * self.factor
        if self.last_epoch != self.total_iters:
            return lr
        return lr * (1.0 / self.factor)


class PolynomialLR(LRSchedule):
    """Polynomial decay (PyTorch's ``PolynomialLR``) to zero over ``total_iters`` epochs::

        lr_e = lr_0 (1 - min(e, total_iters) / total_iters)^power

    computed by PyTorch's recurrence ``lr_e = lr_{e-1} ((1 - e/T) / (1 - (e-1)/T))^power``.
    """

    _fields = ("total_iters", "power")

    def __init__(self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0) -> None:
        if not isinstance(total_iters, int) or total_iters < 1:
            raise ValueError(
                f"PolynomialLR: total_iters must be a positive integer, got {total_iters!r}")
        _check("PolynomialLR", "power", power, strict=False)
        self.total_iters, self.power = total_iters, power
        super().__init__(optimizer)

    def _next(self, lr: float, base_lr: float) -> float:
        e, t = self.last_epoch, self.total_iters
        if e == 0 or e > t:
            return lr
        return lr * ((1.0 - e / t) / (1.0 - (e - 1) / t)) ** self.power


class OneCycleLR(LRSchedule):
    """The 1cycle policy (Smith and Topin 2019; PyTorch's ``OneCycleLR``), stepped once per
    *batch*: the learning rate rises from ``max_lr / div_factor`` to ``max_lr`` over the first
    ``pct_start`` of ``total_steps`` and anneals to ``max_lr / (div_factor final_div_factor)``;
    the momentum (SGD, RMSprop) or ``beta1`` (Adam) moves the opposite way between
    ``max_momentum`` and ``base_momentum``. Each phase interpolates with
    ``cos``: ``end + (start - end)(1 + cos(pi p)) / 2`` or ``linear``: ``start + (end - start) p``
    where ``p`` is the fraction of the phase done. ``three_phase`` adds a symmetric descent
    back to the initial lr before the final annealing. Stepping past ``total_steps`` raises.
    """

    _fields = ("total_steps", "phases", "anneal_strategy", "cycle_momentum")

    def __init__(self, optimizer: Optimizer, max_lr: float | list[float],
                 total_steps: int | None = None, epochs: int | None = None,
                 steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True,
                 base_momentum: float | list[float] = 0.85,
                 max_momentum: float | list[float] = 0.95, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"a schedule needs a gradwise Optimizer, got {type(optimizer).__name__}")
        if total_steps is None:
            if not (isinstance(epochs, int) and epochs > 0 and isinstance(steps_per_epoch, int)
                    and steps_per_epoch > 0):
                raise ValueError("OneCycleLR: give total_steps, or epochs and steps_per_epoch "
                                 f"(positive integers), got epochs={epochs!r}, "
                                 f"steps_per_epoch={steps_per_epoch!r}")
            total_steps = epochs * steps_per_epoch
        if not isinstance(total_steps, int) or total_steps < 1:
            raise ValueError(
                f"OneCycleLR: total_steps must be a positive integer, got {total_steps!r}")
        if not (isinstance(pct_start, float) and 0 <= pct_start <= 1):
            raise ValueError(f"OneCycleLR: pct_start must be a float in [0, 1], got {pct_start!r}")
        for name, value in (("div_factor", div_factor), ("final_div_factor", final_div_factor),
                            *(("max_lr", v) for v in _listed(max_lr)),
                            *(("max_momentum", v) for v in _listed(max_momentum)),
                            *(("base_momentum", v) for v in _listed(base_momentum))):
            _check("OneCycleLR", name, value, strict=name != "base_momentum" and
                   name != "max_momentum", high=1.0 if "momentum" in name else math.inf)
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        groups = optimizer.param_groups
        if cycle_momentum and "momentum" not in optimizer.defaults \
                and "betas" not in optimizer.defaults:
            raise ValueError(f"OneCycleLR: {type(optimizer).__name__} has no momentum or beta1 "
                             "to cycle; pass cycle_momentum=False")
        self.total_steps, self.anneal_strategy = total_steps, anneal_strategy
        self.cycle_momentum = cycle_momentum
        up = float(pct_start * total_steps) - 1
        if three_phase:
            self.phases = [(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                           (float(2 * pct_start * total_steps) - 2, "max_lr", "initial_lr",
                            "base_momentum", "max_momentum"),
                           (total_steps - 1, "initial_lr", "min_lr", "max_momentum",
                            "max_momentum")]
        else:
            self.phases = [(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                           (total_steps - 1, "max_lr", "min_lr", "base_momentum",
                            "max_momentum")]
        for group, top in zip(groups, _per_group("max_lr", max_lr, len(groups)), strict=True):
            group["initial_lr"] = top / div_factor
            group["max_lr"] = top
            group["min_lr"] = group["initial_lr"] / final_div_factor
        if cycle_momentum:
            for group, hi, lo in zip(groups, _per_group("max_momentum", max_momentum, len(groups)),
                                     _per_group("base_momentum", base_momentum, len(groups)),
                                     strict=True):
                group["max_momentum"], group["base_momentum"] = hi, lo
                self._set_momentum(group, hi)
        super().__init__(optimizer)

    @staticmethod
    def _set_momentum(group: dict[str, Any], value: float) -> None:
        if "betas" in group:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    @backend.live  # in a gw.compile step: run at every replay
    def step(self) -> None:
        """Advance one batch and set every group's learning rate (and momentum)."""
        self.last_epoch += 1
        n = self.last_epoch
        if n > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {n} times, but total_steps is "
                             f"{self.total_steps}")
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, (end, lr0, lr1, m0, m1) in enumerate(self.phases):
                if n <= end or i == len(self.phases) - 1:
                    pct = (n - start) / (end - start)
                    group["lr"] = self._anneal(group[lr0], group[lr1], pct)
                    if self.cycle_momentum:
                        self._set_momentum(group, self._anneal(group[m0], group[m1], pct))
                    break
                start = end
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def restart(self) -> None:
        """Go back to the first step of the cycle."""
        self.last_epoch = -1
        self.step()


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _per_group(name: str, value: float | Sequence[float], n: int) -> list[float]:
    if not isinstance(value, int | float):
        if len(value) != n:
            raise ValueError(f"OneCycleLR: expected {n} values of {name} (one per parameter "
                             f"group), got {list(value)!r}")
        return [float(v) for v in value]
    return [float(value)] * n


class SequentialLR:
    """Schedules one after the other (PyTorch's ``SequentialLR``): ``schedules[i]`` runs from
    epoch ``milestones[i - 1]`` on, restarted from the base learning rates, e.g. a linear
    warm-up for 5 epochs and then cosine annealing::

        SequentialLR(opt, [LinearWarmup(opt, 0.1, total_iters=5),
                           CosineAnnealingLR(opt, T_max=95)], milestones=[5])
    """

    def __init__(self, optimizer: Optimizer, schedules: Sequence[LRSchedule],
                 milestones: Sequence[int]) -> None:
        if len(schedules) < 1 or len(milestones) != len(schedules) - 1:
            raise ValueError(
                f"SequentialLR: expected len(schedules) - 1 = {len(schedules) - 1} milestones, "
                f"got {list(milestones)!r}")
        if list(milestones) != sorted(milestones):
            raise ValueError(f"SequentialLR: milestones must increase, got {list(milestones)!r}")
        for i, sched in enumerate(schedules):
            if not isinstance(sched, LRSchedule) or sched.optimizer is not optimizer:
                raise ValueError(
                    f"SequentialLR: schedules[{i}] is not a schedule of this optimizer")
        self.optimizer = optimizer
        self.schedules = list(schedules)
        self.milestones = list(milestones)
        self.last_epoch = 0
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        for sched in self.schedules:  # undo their first step; the first schedule starts again
            sched.last_epoch -= 1
        self.schedules[0].step()
        self._last_lr = self.schedules[0].get_last_lr()

    @backend.live  # in a gw.compile step: run at every replay
    def step(self) -> None:
        """Advance one epoch with the schedule whose span contains it."""
        self.last_epoch += 1
        i = bisect.bisect_right(self.milestones, self.last_epoch)
        sched = self.schedules[i]
        if i > 0 and self.milestones[i - 1] == self.last_epoch:
            sched.restart()
        else:
            sched.step()
        self._last_lr = sched.get_last_lr()

    def get_last_lr(self) -> list[float]:
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        return {"last_epoch": self.last_epoch, "last_lr": list(self._last_lr),
                "schedules": [s.state_dict() for s in self.schedules]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.last_epoch = int(state["last_epoch"])
        self._last_lr = list(state["last_lr"])
        for sched, sub in zip(self.schedules, state["schedules"], strict=True):
            sched.load_state_dict(sub)


class ReduceLROnPlateau:
    """Multiply the learning rate by ``factor`` when a metric has stopped improving for more
    than ``patience`` epochs (PyTorch's ``ReduceLROnPlateau``).

    ``step(metric)`` once per epoch. In ``mode="min"`` with ``threshold_mode="rel"`` a value is
    an improvement when ``metric < best (1 - threshold)`` (``"abs"``: ``best - threshold``;
    ``"max"`` mirrors both). After a reduction, ``cooldown`` epochs pass before bad epochs
    count again; the learning rate never goes below ``min_lr`` and changes smaller than
    ``eps`` are skipped.
    """

    _fields = ("mode", "factor", "patience", "threshold", "threshold_mode", "cooldown",
               "min_lrs", "eps", "best", "num_bad_epochs", "cooldown_counter", "last_epoch")

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: float | list[float] = 0.0, eps: float = 1e-8) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"a schedule needs a gradwise Optimizer, got {type(optimizer).__name__}")
        if not (isinstance(factor, int | float) and 0 <= factor < 1):
            raise ValueError(f"ReduceLROnPlateau: factor must be in [0, 1), got {factor!r}")
        for v in _listed(min_lr):
            _check("ReduceLROnPlateau", "min_lr", v, strict=False)
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(
                f"ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        n = len(optimizer.param_groups)
        if isinstance(min_lr, list | tuple):
            if len(min_lr) != n:
                raise ValueError(f"ReduceLROnPlateau: expected {n} min_lr values, got {min_lr!r}")
            self.min_lrs = [float(x) for x in min_lr]
        else:
            self.min_lrs = [float(min_lr)] * n
        self.optimizer = optimizer
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.eps = cooldown, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def _is_better(self, a: float) -> bool:
        best, th = self.best, self.threshold
        if self.mode == "min":
            return a < (best * (1.0 - th) if self.threshold_mode == "rel" else best - th)
        return a > (best * (th + 1.0) if self.threshold_mode == "rel" else best + th)

    @backend.live  # in a gw.compile step: run at every replay
    def step(self, metric: float) -> None:
        """Record this epoch's ``metric`` and reduce the learning rate if it has plateaued."""
        current = float(metric)
        self.last_epoch += 1
        if self._is_better(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs, strict=True):
                old = float(group["lr"])
                new = max(old * self.factor, min_lr)
                if old - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        return {**{k: getattr(self, k) for k in self._fields}, "last_lr": list(self._last_lr)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for k in self._fields:
            setattr(self, k, state[k])
        self._last_lr = list(state["last_lr"])
