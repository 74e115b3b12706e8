"""gw.optim.schedules and gradient clipping against torch.optim.lr_scheduler and torch."""

from __future__ import annotations

import numpy as np
import pytest

import gates
import gradwise as gw
from gradwise.optim import schedules

torch = gates.torch()

EPOCHS = 40

SCHEDULES = [
    ("StepLR", "StepLR", {"step_size": 7, "gamma": 0.5}),
    ("ExponentialLR", "ExponentialLR", {"gamma": 0.9}),
    ("CosineAnnealingLR", "CosineAnnealingLR", {"T_max": 12, "eta_min": 1e-3}),
    ("LinearWarmup", "LinearLR", {"start_factor": 0.1, "total_iters": 8}),
    ("LinearWarmup", "LinearLR", {"start_factor": 0.5, "end_factor": 0.2, "total_iters": 4}),
    ("LinearLR", "LinearLR", {}),
    ("LinearLR", "LinearLR", {"start_factor": 0.25, "end_factor": 0.5, "total_iters": 7}),
    ("ConstantLR", "ConstantLR", {}),
    ("ConstantLR", "ConstantLR", {"factor": 0.5, "total_iters": 9}),
    ("ConstantLR", "ConstantLR", {"factor": 0.3, "total_iters": 0}),
    ("PolynomialLR", "PolynomialLR", {}),
    ("PolynomialLR", "PolynomialLR", {"total_iters": 12, "power": 2.0}),
    ("PolynomialLR", "PolynomialLR", {"total_iters": 30, "power": 0.5}),
]


def _pair(lrs=(0.1, 0.03)):
    ps = [gw.nn.Parameter(np.ones(2)) for _ in lrs]
    ts = [torch.nn.Parameter(torch.ones(2)) for _ in lrs]
    opt = gw.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(ps, lrs, strict=True)])
    topt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(ts, lrs, strict=True)])
    return opt, topt


@pytest.mark.parametrize(("ours", "theirs", "kw"), SCHEDULES, ids=[s[1] for s in SCHEDULES])
def test_schedule_matches_torch(ours, theirs, kw):
    opt, topt = _pair()
    sched = getattr(schedules, ours)(opt, **kw)
    tsched = getattr(torch.optim.lr_scheduler, theirs)(topt, **kw)
    np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12)
    for epoch in range(EPOCHS):
        if epoch == 25:  # a learning rate changed by hand composes as in torch
            for g, tg in zip(opt.param_groups, topt.param_groups, strict=True):
                g["lr"] *= 0.5
                tg["lr"] *= 0.5
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
        np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12,
                                   err_msg=f"epoch {epoch}")
        assert [g["lr"] for g in opt.param_groups] == sched.get_last_lr()


@pytest.mark.parametrize("restart_with", ["CosineAnnealingLR", "ExponentialLR", "LinearWarmup"])
def test_warmup_then_schedule_matches_torch_sequential_lr(restart_with):
    kw = {"CosineAnnealingLR": {"T_max": 20}, "ExponentialLR": {"gamma": 0.8},
          "LinearWarmup": {"start_factor": 0.5, "total_iters": 3}}[restart_with]
    theirs = {"LinearWarmup": "LinearLR"}.get(restart_with, restart_with)
    opt, topt = _pair()
    sched = schedules.SequentialLR(opt, [schedules.LinearWarmup(opt, 0.1, total_iters=5),
                                         getattr(schedules, restart_with)(opt, **kw)], [5])
    lrs = torch.optim.lr_scheduler
    tsched = lrs.SequentialLR(topt, [lrs.LinearLR(topt, 0.1, total_iters=5),
                                     getattr(lrs, theirs)(topt, **kw)], [5])
    np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12)
    for epoch in range(30):
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
        np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12,
                                   err_msg=f"epoch {epoch}")
    with pytest.raises(ValueError, match="expected len"):
        schedules.SequentialLR(opt, [schedules.ExponentialLR(opt, 0.5)], [3])


@pytest.mark.parametrize("kw", [
    {"patience": 2},
    {"mode": "max", "factor": 0.5, "patience": 1, "threshold_mode": "abs", "threshold": 0.05},
    {"patience": 0, "cooldown": 2, "min_lr": [0.01, 0.02]},
])
def test_reduce_on_plateau_matches_torch(kw):
    opt, topt = _pair()
    sched = schedules.ReduceLROnPlateau(opt, **kw)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
    metrics = np.random.default_rng(0).uniform(0, 1, 60).cumsum() ** 0.5 % 1.0
    for m in metrics:
        sched.step(m)
        tsched.step(m)
        assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12)
    assert sched.get_last_lr()[0] < 0.1


@pytest.mark.parametrize("max_norm", [0.5, 100.0])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
def test_clip_grad_norm_matches_torch(max_norm, norm_type):
    gen = np.random.default_rng(0)
    grads = [gen.normal(size=s) for s in [(3, 4), (4,), (5,)]]
    ps = [gw.nn.Parameter(np.zeros(g.shape), dtype=np.float64) for g in grads]
    ts = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, t, g in zip(ps, ts, grads, strict=True):
        p.grad = g.copy()
        t.grad = torch.from_numpy(g.copy())
    total = gw.optim.clip_grad_norm_(ps, max_norm, norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(ts, max_norm, norm_type)
    assert isinstance(total, gw.Tensor) and total.dtype == np.float64
    assert float(total) == pytest.approx(float(ttotal), rel=1e-12)
    for p, t in zip(ps, ts, strict=True):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12)
