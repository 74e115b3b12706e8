"""The optimizer contract: per-parameter updates by default, the flat fast path only for
optimizers that declare ``elementwise``, and every fast kernel equal to its readable reference."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

import gradwise as gw
from gradwise.nn import functional as F

CONFIGS = [
    ("sgd", {"lr": 0.05}),
    ("sgd", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}),
    ("sgd", {"lr": 0.05, "momentum": 0.9, "dampening": 0.1}),
    ("adam", {"lr": 1e-2, "weight_decay": 1e-3}),
    ("adam", {"lr": 1e-2, "amsgrad": True}),
    ("adamw", {"lr": 1e-2, "weight_decay": 0.1}),
    ("adadelta", {"lr": 0.5, "weight_decay": 1e-3}),
    ("adagrad", {"lr": 0.05, "lr_decay": 1e-2, "initial_accumulator_value": 0.1}),
    ("rmsprop", {"lr": 1e-3}),
    ("rmsprop", {"lr": 1e-3, "centered": True, "momentum": 0.5, "weight_decay": 1e-3}),
]


def _model(seed: int, sizes: tuple[int, ...] = (5, 7, 3)) -> gw.nn.Module:
    gen = np.random.default_rng(seed)
    layers = [gw.nn.Dense(a, b, activation="tanh", dtype=np.float64, generator=gen)
              for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    return gw.nn.Sequential(*layers)


def _train(model: gw.nn.Module, opt: gw.optim.Optimizer, steps: int, seed: int = 1) -> list:
    """Run ``steps`` steps of MSE regression; return the gradients each step used."""
    gen = np.random.default_rng(seed)
    n_in = next(model.parameters()).shape[0]
    used = []
    for _ in range(steps):
        x = gw.tensor(gen.normal(size=(16, n_in)), dtype=np.float64)
        opt.zero_grad()
        out = model(x)
        F.mse_loss(out, gw.tensor(np.sin(out.data) * 0.5)).backward()
        used.append([p.grad.copy() for p in model.parameters()])
        opt.step()
    return used


@pytest.mark.slow
@pytest.mark.parametrize(("name", "hyper"), CONFIGS, ids=[f"{n}-{h}" for n, h in CONFIGS])
def test_every_fast_kernel_equals_its_reference_equation(name, hyper):
    """The flat, blocked, in-place kernel and the paper's equation applied to each parameter on
    its own agree over several steps."""
    model = _model(0)
    start = [p.data.copy() for p in model.parameters()]
    opt = gw.optim.get(name, model.parameters(), **hyper)
    grads = _train(model, opt, steps=5)
    group = opt.param_groups[0]
    for i, p0 in enumerate(start):
        p = p0.copy()
        state = {k: np.full_like(p, v) for k, v in opt._state(group).items()}
        for t, gs in enumerate(grads, start=1):
            opt._reference_update(group, p, gs[i], state, t)
        np.testing.assert_allclose(list(model.parameters())[i].data, p, rtol=1e-10, atol=1e-13)


class NormalizedSGD(gw.optim.Optimizer):
    """The issue's trap: ``p <- p - lr g / ||g||`` (one norm per parameter)."""

    def __init__(self, params: Any, lr: float = 0.1) -> None:
        super().__init__(params, {"lr": lr})

    def _reference_update(self, group: Mapping[str, Any], p: Any, g: Any,
                          state: dict[str, Any], step: int) -> None:
        p -= group["lr"] * g / np.linalg.norm(g)


class LARS(gw.optim.Optimizer):
    """LARS (You, Gitman and Ginsburg 2017), without momentum: a layer-wise trust ratio
    ``eta ||p|| / (||g|| + lambda ||p||)`` scales each parameter's step
    ``p <- p - lr trust (g + lambda p)``."""

    def __init__(self, params: Any, lr: float = 0.5, eta: float = 1e-3,
                 weight_decay: float = 1e-4) -> None:
        super().__init__(params, {"lr": lr, "eta": eta, "weight_decay": weight_decay})

    def _reference_update(self, group: Mapping[str, Any], p: Any, g: Any,
                          state: dict[str, Any], step: int) -> None:
        wd = group["weight_decay"]
        wn, gn = np.linalg.norm(p), np.linalg.norm(g)
        p -= group["lr"] * group["eta"] * wn / (gn + wd * wn) * (g + wd * p)


def test_a_norm_based_optimizer_at_100k_parameters_matches_a_per_parameter_reference():
    model = _model(3, (100, 400, 150))  # 100,550 parameters: many 2^15-element blocks
    assert model.num_parameters() > 100_000
    start = [p.data.copy() for p in model.parameters()]
    grads = _train(model, LARS(model.parameters()), steps=3)
    for i, p0 in enumerate(start):
        p = p0.copy()
        for gs in grads:
            g = gs[i]
            wn, gn = np.sqrt(np.sum(p * p)), np.sqrt(np.sum(g * g))
            p = p - 0.5 * 1e-3 * wn / (gn + 1e-4 * wn) * (g + 1e-4 * p)
        np.testing.assert_allclose(list(model.parameters())[i].data, p, rtol=1e-12)


def test_a_per_parameter_norm_gives_every_parameter_a_step_of_norm_lr():
    model = _model(4, (100, 400, 150))
    before = [p.data.copy() for p in model.parameters()]
    _train(model, NormalizedSGD(model.parameters(), lr=0.1), steps=1)
    norms = [np.linalg.norm(p.data - b) for p, b in zip(model.parameters(), before, strict=True)]
    np.testing.assert_allclose(norms, 0.1, rtol=1e-12)


def test_declaring_a_norm_based_update_elementwise_would_change_it():
    """The control for the two tests above: the flat path really does cross parameter
    boundaries, so only an optimizer that declares ``elementwise`` may take it."""

    class Wrong(NormalizedSGD):
        elementwise = True

    model = _model(4, (100, 400, 150))
    before = [p.data.copy() for p in model.parameters()]
    _train(model, Wrong(model.parameters(), lr=0.1), steps=1)
    norms = [np.linalg.norm(p.data - b) for p, b in zip(model.parameters(), before, strict=True)]
    assert not np.allclose(norms, 0.1)


def test_a_per_parameter_update_sees_each_parameter_in_its_own_shape():
    seen = []

    class Spy(NormalizedSGD):
        def _reference_update(self, group, p, g, state, step):
            seen.append((p.shape, g.shape))
            super()._reference_update(group, p, g, state, step)

    model = _model(5)
    _train(model, Spy(model.parameters()), steps=1)
    assert seen == [(p.shape, p.shape) for p in model.parameters()]


def test_an_optimizer_without_an_update_rule_says_so():
    class Empty(gw.optim.Optimizer):
        def __init__(self, params: Any) -> None:
            super().__init__(params, {})

    model = _model(6)
    with pytest.raises(NotImplementedError, match="Empty does not define its update rule"):
        _train(model, Empty(model.parameters()), steps=1)


def test_a_parameter_given_an_array_of_another_shape_gets_fresh_gradients():
    layer = gw.nn.Dense(3, 2)
    slot = layer.weight.grad_slot
    layer.weight.data = np.ones((3, 2), np.float64)  # another dtype: the slot no longer fits
    (layer(gw.tensor(np.ones((4, 3)), dtype=np.float64)) ** 2).sum().backward()
    assert layer.weight.grad.dtype == np.float64 and not np.shares_memory(layer.weight.grad, slot)
    assert layer.weight.grad_slot is None


def test_a_held_gradient_array_sees_the_next_backward_after_zero_grad():
    """The documented cost of gradient slots: ``.grad`` is the same array every step."""
    layer = gw.nn.Dense(3, 2, dtype=np.float64)
    x = gw.tensor(np.ones((4, 3)), dtype=np.float64)
    layer(x).sum().backward()
    held = layer.weight.grad
    first = held.copy()
    layer.zero_grad()
    (2.0 * layer(x)).sum().backward()
    assert layer.weight.grad is held
    np.testing.assert_array_equal(held, 2 * first)


def test_a_gradient_changed_in_place_is_read_afresh_every_step():
    """A float64 gradient array for a float32 parameter, kept and changed in place between
    steps: the step reads its current values (a copy made for one step is not reused)."""
    p = gw.nn.Parameter(np.zeros(4, np.float32))
    opt = gw.optim.SGD([p], lr=1.0)
    g = np.ones(4)
    p.grad = g
    opt.step()
    g[...] = 2.0
    opt.step()
    np.testing.assert_array_equal(p.data, -3.0)
