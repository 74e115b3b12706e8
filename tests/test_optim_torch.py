"""gw.optim against torch.optim: 200 steps on the same MLP, weights and mini-batches."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import gates
import gradwise as gw
from gradwise.nn import functional as F

torch = gates.torch()

STEPS = 200
LR_CHANGE_AT = 120

CASES = [
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "weight_decay": 1e-2}),
    ("SGD", {"lr": 0.02, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-2}),
    ("Adam", {"lr": 1e-2}),
    ("Adam", {"lr": 1e-2, "betas": (0.8, 0.99), "weight_decay": 1e-2}),
    ("Adam", {"lr": 1e-2, "amsgrad": True}),
    ("Adam", {"lr": 1e-2, "amsgrad": True, "weight_decay": 1e-3, "eps": 1e-6}),
    ("AdamW", {"lr": 1e-2}),
    ("AdamW", {"lr": 1e-2, "weight_decay": 0.1, "amsgrad": True}),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.95, "eps": 1e-5, "weight_decay": 1e-2}),
    ("Adagrad", {"lr": 0.05}),
    ("Adagrad", {"lr": 0.05, "lr_decay": 1e-2, "initial_accumulator_value": 0.1,
                 "weight_decay": 1e-3}),
    ("RMSprop", {"lr": 1e-3}),
    ("RMSprop", {"lr": 1e-3, "centered": True}),
    ("RMSprop", {"lr": 1e-3, "momentum": 0.9}),
    ("RMSprop", {"lr": 1e-3, "alpha": 0.9, "centered": True, "momentum": 0.9,
                 "weight_decay": 1e-2}),
]

# Two parameter groups with their own hyperparameters: the first layer, then the rest.
GROUPS = [
    ("SGD", {"lr": 0.05, "momentum": 0.9}, {"lr": 0.02, "momentum": 0.5, "nesterov": True}),
    ("Adam", {"lr": 1e-2}, {"lr": 3e-3, "amsgrad": True, "weight_decay": 1e-2}),
    ("AdamW", {"lr": 1e-2}, {"lr": 3e-3, "weight_decay": 0.0}),
    ("Adadelta", {}, {"lr": 0.3, "rho": 0.8}),
    ("Adagrad", {"lr": 0.05}, {"lr": 0.02, "lr_decay": 0.1}),
    ("RMSprop", {"lr": 1e-3}, {"lr": 3e-3, "centered": True, "momentum": 0.5}),
]


def _models(dtype):
    gen = np.random.default_rng(0)
    model = gw.nn.Sequential(gw.nn.Dense(5, 16, activation="tanh", dtype=dtype, generator=gen),
                             gw.nn.Dense(16, 8, activation="tanh", dtype=dtype, generator=gen),
                             gw.nn.Dense(8, 3, dtype=dtype, generator=gen))
    for p in model.parameters():  # non-zero biases, so their updates are exercised from step 1
        p.data[...] = gen.normal(0, 0.5, p.shape).astype(dtype)
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    layers = []
    for i, layer in enumerate(model):
        lin = torch.nn.Linear(layer.in_features, layer.out_features, dtype=tdt)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(layer.weight.data.T.copy()))
            lin.bias.copy_(torch.from_numpy(layer.bias.data.copy()))
        layers += [lin, torch.nn.Tanh()] if i < 2 else [lin]
    return model, torch.nn.Sequential(*layers)


def _batches(dtype):
    gen = np.random.default_rng(1)
    x = gen.normal(size=(64, 5)).astype(dtype)
    y = np.stack([np.sin(x[:, 0]), x[:, 1] * x[:, 2], np.cos(x[:, 3] - x[:, 4])], 1).astype(dtype)
    order = [gen.permutation(64) for _ in range(STEPS // 4 + 1)]
    return [(x[o[i:i + 16]], y[o[i:i + 16]]) for o in order for i in range(0, 64, 16)]


def _torch_params(tmodel):
    return [p for layer in tmodel if isinstance(layer, torch.nn.Linear)
            for p in (layer.weight, layer.bias)]


def run_both(name: str, groups: list[dict], dtype, skip: Callable[[int], set[int]] | None = None,
             copy_grad: bool = False):
    """Train both models ``STEPS`` steps; ``skip(t)`` names parameter indices whose gradient
    is None at step t; ``copy_grad`` assigns the last gradient by hand (outside the buffer)."""
    model, tmodel = _models(dtype)
    gps, tps = list(model.parameters()), _torch_params(tmodel)
    split = [[0, 1], [2, 3, 4, 5]] if len(groups) == 2 else [list(range(6))]
    if len(groups) == 1:
        opt = getattr(gw.optim, name)(gps, **groups[0])
        topt = getattr(torch.optim, name)(tps, **groups[0])
    else:
        opt = getattr(gw.optim, name)(
            [{"params": [gps[i] for i in idx], **g} for idx, g in zip(split, groups, strict=True)])
        topt = getattr(torch.optim, name)(
            [{"params": [tps[i] for i in idx], **g} for idx, g in zip(split, groups, strict=True)])
    for t, (xb, yb) in enumerate(_batches(dtype)[:STEPS]):
        if t == LR_CHANGE_AT:
            for g, tg in zip(opt.param_groups, topt.param_groups, strict=True):
                g["lr"] *= 0.5
                tg["lr"] *= 0.5
        opt.zero_grad()
        F.mse_loss(model(gw.tensor(xb, dtype=dtype)), gw.tensor(yb, dtype=dtype)).backward()
        topt.zero_grad()
        torch.nn.functional.mse_loss(tmodel(torch.from_numpy(xb)), torch.from_numpy(yb)).backward()
        for i in skip(t) if skip else ():
            gps[i].grad = None
            tps[i].grad = None
        if copy_grad and gps[5].grad is not None:
            gps[5].grad = gps[5].grad.copy()
        opt.step()
        topt.step()
    return gps, tps


def assert_close(gps, tps, rtol):
    for i, (p, tp) in enumerate(zip(gps, tps, strict=True)):
        ref = tp.detach().numpy()
        ref = ref.T if ref.ndim == 2 else ref
        err = np.max(np.abs(p.data - ref)) / np.max(np.abs(ref))
        assert err <= rtol, f"parameter {i}: relative error {err:.3g} > {rtol:g}"


@pytest.mark.slow
@pytest.mark.parametrize(("name", "hyper"), CASES, ids=[f"{n}-{h}" for n, h in CASES])
def test_matches_torch_float64(name, hyper):
    gps, tps = run_both(name, [hyper], np.float64)
    assert_close(gps, tps, 1e-10)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "hyper"), CASES, ids=[f"{n}-{h}" for n, h in CASES])
def test_matches_torch_float32(name, hyper):
    gps, tps = run_both(name, [hyper], np.float32)
    assert_close(gps, tps, 1e-5)


@pytest.mark.parametrize(("name", "g0", "g1"), GROUPS, ids=[c[0] for c in GROUPS])
def test_parameter_groups_match_torch(name, g0, g1):
    gps, tps = run_both(name, [g0, g1], np.float64)
    assert_close(gps, tps, 1e-10)


def _skips(t: int) -> set[int]:
    """Layer 2 has no gradient on every third step, the last bias none for the first 7 steps."""
    out = {2, 3} if t % 3 == 0 else set()
    return out | ({5} if t < 7 else set())


@pytest.mark.slow
@pytest.mark.parametrize(("name", "hyper"), CASES, ids=[f"{n}-{h}" for n, h in CASES])
def test_parameters_without_gradient_are_skipped_as_in_torch(name, hyper):
    gps, tps = run_both(name, [hyper], np.float64, skip=_skips)
    assert_close(gps, tps, 1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_gradient_assigned_by_hand_matches_torch(name):
    hyper = {"SGD": {"lr": 0.05, "momentum": 0.9}, "Adam": {"lr": 1e-2},
             "RMSprop": {"lr": 1e-3, "momentum": 0.9}}[name]
    gps, tps = run_both(name, [hyper], np.float64, copy_grad=True)
    assert_close(gps, tps, 1e-10)
