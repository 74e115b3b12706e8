"""maximize on every optimizer, and LinearLR, ConstantLR, PolynomialLR, OneCycleLR, against
torch step for step."""

from __future__ import annotations

import numpy as np
import pytest

import gates
import gradwise as gw
from gradwise.nn import functional as F
from gradwise.optim import schedules
from test_optim_torch import _batches, _models, _torch_params, assert_close

torch = gates.torch()

MAXIMIZE = [
    ("SGD", {"lr": 0.01, "momentum": 0.9, "weight_decay": 1e-2}),
    ("SGD", {"lr": 0.01, "momentum": 0.9, "nesterov": True}),
    ("Adam", {"lr": 1e-3, "weight_decay": 1e-2, "amsgrad": True}),
    ("AdamW", {"lr": 1e-3}),
    ("Adadelta", {"lr": 0.1, "weight_decay": 1e-2}),
    ("Adagrad", {"lr": 0.01, "lr_decay": 1e-2}),
    ("RMSprop", {"lr": 1e-3, "momentum": 0.5, "centered": True}),
]


def _negative_mse_steps(opt, topt, model, tmodel, steps, dtype=np.float64, sched=None,
                        tsched=None):
    """Maximize -MSE (so the optimizers should still fit the data) for ``steps`` batches."""
    for xb, yb in _batches(dtype)[:steps]:
        opt.zero_grad()
        (-F.mse_loss(model(gw.tensor(xb, dtype=dtype)), gw.tensor(yb, dtype=dtype))).backward()
        topt.zero_grad()
        (-torch.nn.functional.mse_loss(tmodel(torch.from_numpy(xb)),
                                       torch.from_numpy(yb))).backward()
        opt.step()
        topt.step()
        if sched is not None:
            sched.step()
            tsched.step()
            np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "hyper"), MAXIMIZE, ids=[f"{n}-{h}" for n, h in MAXIMIZE])
def test_maximize_matches_torch(name, hyper):
    model, tmodel = _models(np.float64)
    gps, tps = list(model.parameters()), _torch_params(tmodel)
    opt = getattr(gw.optim, name)(gps, maximize=True, **hyper)
    topt = getattr(torch.optim, name)(tps, maximize=True, **hyper)
    _negative_mse_steps(opt, topt, model, tmodel, 60)
    assert_close(gps, tps, 1e-10)
    assert opt.param_groups[0]["maximize"] is True
    assert opt.state_dict()["param_groups"][0]["maximize"] is True


def test_maximize_leaves_the_gradients_alone_and_ascends():
    p = gw.nn.Parameter(np.array([1.0, -2.0]))
    opt = gw.optim.SGD([p], lr=0.1, maximize=True)
    (p * p).sum().backward()
    grad = p.grad.copy()
    opt.step()
    np.testing.assert_array_equal(p.grad, grad)
    np.testing.assert_allclose(p.data, [1.2, -2.4])


def _pair(opt_name="SGD", lrs=(0.1, 0.03), **hyper):
    ps = [gw.nn.Parameter(np.ones(2)) for _ in lrs]
    ts = [torch.nn.Parameter(torch.ones(2, dtype=torch.float64)) for _ in lrs]
    opt = getattr(gw.optim, opt_name)(
        [{"params": [p], "lr": lr} for p, lr in zip(ps, lrs, strict=True)], **hyper)
    topt = getattr(torch.optim, opt_name)(
        [{"params": [p], "lr": lr} for p, lr in zip(ts, lrs, strict=True)], **hyper)
    return opt, topt


ONECYCLE = [
    ("SGD", {"momentum": 0.9}, {"max_lr": 0.1, "total_steps": 50}),
    ("SGD", {"momentum": 0.9}, {"max_lr": [0.1, 0.05], "epochs": 5, "steps_per_epoch": 10,
                                "anneal_strategy": "linear", "three_phase": True}),
    ("Adam", {}, {"max_lr": 0.01, "total_steps": 50, "pct_start": 0.4, "div_factor": 10.0,
                  "final_div_factor": 100.0}),
    ("RMSprop", {"momentum": 0.5}, {"max_lr": 0.01, "total_steps": 50, "three_phase": True,
                                    "base_momentum": 0.7, "max_momentum": 0.9}),
    ("Adagrad", {}, {"max_lr": 0.05, "total_steps": 50, "cycle_momentum": False}),
]


@pytest.mark.parametrize(("opt_name", "hyper", "kw"), ONECYCLE,
                         ids=[f"{o}-{k}" for o, _, k in ONECYCLE])
def test_one_cycle_matches_torch(opt_name, hyper, kw):
    opt, topt = _pair(opt_name, **hyper)
    sched = schedules.OneCycleLR(opt, **kw)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, **kw)
    key = "betas" if opt_name == "Adam" else "momentum"
    for step in range(50):
        np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12,
                                   err_msg=f"step {step}")
        if kw.get("cycle_momentum", True):
            for g, tg in zip(opt.param_groups, topt.param_groups, strict=True):
                np.testing.assert_allclose(np.ravel(g[key]), np.ravel(tg[key]), rtol=1e-12)
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
    with pytest.raises(ValueError, match="tried to step 51 times"):
        sched.step()


def test_one_cycle_trains_like_torch():
    """OneCycleLR with Adam on the MLP, stepped per batch, maximizing -MSE: same weights."""
    model, tmodel = _models(np.float64)
    gps, tps = list(model.parameters()), _torch_params(tmodel)
    opt, topt = gw.optim.Adam(gps, maximize=True), torch.optim.Adam(tps, maximize=True)
    sched = schedules.OneCycleLR(opt, max_lr=0.02, total_steps=40)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.02, total_steps=40)
    _negative_mse_steps(opt, topt, model, tmodel, 40, sched=sched, tsched=tsched)
    assert_close(gps, tps, 1e-10)


def test_schedule_errors():
    opt, _ = _pair()
    with pytest.raises(ValueError, match="ConstantLR: factor must be in"):
        schedules.ConstantLR(opt, factor=2.0)
    with pytest.raises(ValueError, match="PolynomialLR: total_iters"):
        schedules.PolynomialLR(opt, total_iters=0)
    with pytest.raises(ValueError, match="LinearLR: start_factor"):
        schedules.LinearLR(opt, start_factor=0.0)
    with pytest.raises(ValueError, match="give total_steps"):
        schedules.OneCycleLR(opt, max_lr=0.1)
    ada, _ = _pair("Adagrad")
    with pytest.raises(ValueError, match="Adagrad has no momentum"):
        schedules.OneCycleLR(ada, max_lr=0.1, total_steps=5)


def test_config_names_the_new_schedules():
    from gradwise.training.config import SCHEDULES as NAMES
    for key, cls in (("linear", schedules.LinearLR), ("constant", schedules.ConstantLR),
                     ("polynomial", schedules.PolynomialLR), ("onecycle", schedules.OneCycleLR)):
        assert NAMES[key] is cls
