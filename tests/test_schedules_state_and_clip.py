"""gw.optim.schedules' state and errors, and gradient clipping: the checks that need no torch
(the comparisons with torch are in test_schedules.py)."""

from __future__ import annotations

import numpy as np
import pytest

import gradwise as gw
from gradwise.optim import schedules


def _opt(lrs=(0.1, 0.03)) -> gw.optim.SGD:
    ps = [gw.nn.Parameter(np.ones(2)) for _ in lrs]
    return gw.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(ps, lrs, strict=True)])


def test_schedule_state_dict_round_trip():
    opt = _opt()
    sched = schedules.CosineAnnealingLR(opt, T_max=10)
    for _ in range(4):
        sched.step()
    state = sched.state_dict()
    fresh_opt = _opt()
    fresh_opt.load_state_dict(opt.state_dict())
    fresh = schedules.CosineAnnealingLR(fresh_opt, T_max=3)
    fresh.load_state_dict(state)
    for _ in range(5):
        sched.step()
        fresh.step()
        assert fresh.get_last_lr() == sched.get_last_lr()
    plateau = schedules.ReduceLROnPlateau(opt, patience=1)
    plateau.step(1.0)
    plateau.step(2.0)
    other = schedules.ReduceLROnPlateau(fresh_opt)
    other.load_state_dict(plateau.state_dict())
    assert other.best == 1.0 and other.num_bad_epochs == 1 and other.patience == 1


def test_schedule_errors():
    opt = _opt()
    with pytest.raises(ValueError, match="step_size must be a positive integer, got 0"):
        schedules.StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="start_factor must be in"):
        schedules.LinearWarmup(opt, start_factor=0.0)
    with pytest.raises(ValueError, match="mode must be 'min' or 'max', got 'up'"):
        schedules.ReduceLROnPlateau(opt, mode="up")
    with pytest.raises(TypeError, match="gradwise Optimizer"):
        schedules.ExponentialLR(object(), gamma=0.5)


def test_clip_grad_norm_scales_flat_buffer_views_in_place():
    model = gw.nn.Dense(3, 2)
    opt = gw.optim.SGD(model.parameters(), lr=1.0)
    x = gw.tensor(np.full((4, 3), 10.0, np.float32))
    (model(x) ** 2).sum().backward()
    grads = [p.grad for p in model.parameters()]
    total = gw.optim.clip_grad_norm_(model.parameters(), 1.0)
    assert total > 1.0
    assert all(p.grad is g for p, g in zip(model.parameters(), grads, strict=True))
    norm = np.sqrt(sum(float((p.grad.astype(np.float64) ** 2).sum()) for p in model.parameters()))
    assert norm == pytest.approx(1.0, rel=1e-5)
    expected = [p.data - p.grad for p in model.parameters()]  # lr 1: the step is the clipped grad
    opt.step()
    for e, p in zip(expected, model.parameters(), strict=True):
        np.testing.assert_allclose(p.data, e, rtol=1e-6)


def test_clip_grad_value():
    p = gw.nn.Parameter(np.array([-3.0, 0.5, 2.0]), dtype=np.float64)
    p.grad = np.array([-3.0, 0.5, 2.0])
    gw.optim.clip_grad_value_([p], 1.0)
    np.testing.assert_array_equal(p.grad, [-1.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="clip_value must be >= 0, got -1"):
        gw.optim.clip_grad_value_([p], -1)


def test_clip_grad_norm_leaves_nan_gradients_alone():
    p = gw.nn.Parameter(np.zeros(3), dtype=np.float64)
    p.grad = np.array([np.nan, 5.0, -5.0])
    total = gw.optim.clip_grad_norm_([p], 1.0)
    assert np.isnan(float(total))
    np.testing.assert_array_equal(p.grad[1:], [5.0, -5.0])
    q = gw.nn.Parameter(np.zeros(2), dtype=np.float64)
    q.grad = np.array([3.0, 4.0])
    assert float(gw.optim.clip_grad_norm_([q], 10.0)) == 5.0
    np.testing.assert_array_equal(q.grad, [3.0, 4.0])  # under max_norm: unchanged
