"""Loss options checked against PyTorch (float64, 1e-10, values and gradients) and by central
differences: weight, pos_weight, label_smoothing, ignore_index, L1, Huber, MSE broadcasting."""

import warnings

import numpy as np
import pytest

import gates
import gradwise as gw
from gradwise import functional as F
from gradwise import nn
from gradwise.testing import gradcheck

torch = gates.torch()
tF = torch.nn.functional
RNG = np.random.default_rng(15)
TOL = 1e-10
REDUCTIONS = ["mean", "sum", "none"]


def _both(gw_fn, torch_fn, x: np.ndarray):
    """Value and input gradient (of sum(v * loss)) from gradwise and from torch."""
    v = RNG.standard_normal(torch_fn(torch.tensor(x)).shape)
    xg = gw.tensor(x, dtype=np.float64, requires_grad=True)
    out = gw_fn(xg)
    (out * gw.tensor(v, dtype=np.float64)).sum().backward()
    xt = torch.tensor(x, requires_grad=True)
    ref = torch_fn(xt)
    (ref * torch.tensor(v)).sum().backward()
    return out.numpy(), xg.grad, ref.detach().numpy(), xt.grad.numpy()


def _check(gw_fn, torch_fn, x):
    val, grad, rval, rgrad = _both(gw_fn, torch_fn, x)
    np.testing.assert_allclose(val, rval, rtol=TOL, atol=TOL)
    np.testing.assert_allclose(grad, rgrad, rtol=TOL, atol=TOL)
    assert gradcheck(gw_fn, [gw.tensor(x, dtype=np.float64, requires_grad=True)])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_weight(reduction):
    p = RNG.uniform(0.02, 0.98, (6, 3))
    y = RNG.integers(0, 2, (6, 3)).astype(float)
    for w in (RNG.uniform(0.1, 3, (6, 3)), RNG.uniform(0.1, 3, (3,))):
        _check(lambda t, w=w: F.binary_cross_entropy(t, y, reduction, weight=w),
               lambda t, w=w: tF.binary_cross_entropy(t, torch.tensor(y), weight=torch.tensor(w),
                                                      reduction=reduction), p)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("which", ["weight", "pos_weight", "both"])
def test_bce_with_logits_weight_pos_weight(reduction, which):
    z = RNG.standard_normal((7, 3)) * 4
    y = RNG.uniform(0, 1, (7, 3))
    w = RNG.uniform(0.1, 3, (7, 1)) if which != "pos_weight" else None
    q = RNG.uniform(0.2, 5, (3,)) if which != "weight" else None
    tw = None if w is None else torch.tensor(w)
    tq = None if q is None else torch.tensor(q)
    _check(lambda t: F.binary_cross_entropy_with_logits(t, y, reduction, weight=w, pos_weight=q),
           lambda t: tF.binary_cross_entropy_with_logits(t, torch.tensor(y), weight=tw,
                                                         pos_weight=tq, reduction=reduction), z)


def test_bce_with_logits_pos_weight_extreme_logits_finite():
    z = np.array([[-800.0], [800.0], [0.0]])
    y = np.array([[1.0], [0.0], [1.0]])
    _check(lambda t: F.binary_cross_entropy_with_logits(t, y, pos_weight=[3.0]),
           lambda t: tF.binary_cross_entropy_with_logits(t, torch.tensor(y),
                                                         pos_weight=torch.tensor([3.0])), z)


CE_CASES = [
    {"weight": True}, {"label_smoothing": 0.2}, {"ignore_index": 1},
    {"weight": True, "label_smoothing": 0.15, "ignore_index": 2},
    {"weight": True, "ignore_index": 0}, {"label_smoothing": 1.0},
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CE_CASES, ids=str)
def test_cross_entropy_options_hard_labels(reduction, case):
    x = RNG.standard_normal((8, 4)) * 3
    labels = RNG.integers(0, 4, 8)
    labels[:3] = [0, 1, 2]
    w = RNG.uniform(0.2, 3, 4) if case.get("weight") else None
    ls = case.get("label_smoothing", 0.0)
    ii = case.get("ignore_index")
    _check(lambda t: F.cross_entropy(t, labels, reduction, weight=w, ignore_index=ii,
                                     label_smoothing=ls),
           lambda t: tF.cross_entropy(t, torch.tensor(labels),
                                      weight=None if w is None else torch.tensor(w),
                                      ignore_index=-100 if ii is None else ii,
                                      reduction=reduction, label_smoothing=ls), x)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", [{"weight": True}, {"label_smoothing": 0.3},
                                  {"weight": True, "label_smoothing": 0.1}], ids=str)
def test_cross_entropy_options_soft_targets(reduction, case):
    x = RNG.standard_normal((5, 3)) * 2
    y = RNG.dirichlet(np.ones(3), 5)
    w = RNG.uniform(0.2, 3, 3) if case.get("weight") else None
    ls = case.get("label_smoothing", 0.0)
    _check(lambda t: F.cross_entropy(t, y, reduction, weight=w, label_smoothing=ls),
           lambda t: tF.cross_entropy(t, torch.tensor(y),
                                      weight=None if w is None else torch.tensor(w),
                                      reduction=reduction, label_smoothing=ls), x)


def test_cross_entropy_ignore_index_label_outside_range_is_allowed():
    x = RNG.standard_normal((4, 3))
    labels = np.array([0, -100, 2, -100])
    _check(lambda t: F.cross_entropy(t, labels, ignore_index=-100),
           lambda t: tF.cross_entropy(t, torch.tensor(labels)), x)
    with pytest.raises(ValueError, match="label -100 is out of range"):
        F.cross_entropy(gw.tensor(x), labels)


def test_cross_entropy_option_errors():
    x = gw.tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\)"):
        F.cross_entropy(x, np.array([0, 1]), weight=np.ones(2))
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        F.cross_entropy(x, np.array([0, 1]), label_smoothing=1.5)
    with pytest.raises(ValueError, match="ignore_index=0 needs integer labels"):
        F.cross_entropy(x, np.full((2, 3), 1 / 3), ignore_index=0)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_l1_and_huber(reduction):
    x = RNG.standard_normal((6, 2)) * 2
    y = RNG.standard_normal((6, 2)) * 2
    _check(lambda t: F.l1_loss(t, y, reduction),
           lambda t: tF.l1_loss(t, torch.tensor(y), reduction=reduction), x)
    for delta in (1.0, 0.5, 2.5):
        _check(lambda t, d=delta: F.huber_loss(t, y, reduction, d),
               lambda t, d=delta: tF.huber_loss(t, torch.tensor(y), reduction=reduction,
                                                delta=d), x)


@pytest.mark.parametrize("name,fn,tfn", [
    ("mse_loss", F.mse_loss, tF.mse_loss), ("l1_loss", F.l1_loss, tF.l1_loss),
    ("huber_loss", F.huber_loss, tF.huber_loss)])
def test_regression_target_broadcast_warns_like_torch(name, fn, tfn):
    x = RNG.standard_normal((5, 1))
    y = RNG.standard_normal(5)
    with pytest.warns(UserWarning, match="different to the input size"):
        gw_out = fn(gw.tensor(x, dtype=np.float64), y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = tfn(torch.tensor(x), torch.tensor(y))
        assert gw_out.shape == ()
        _check(lambda t: fn(t, y), lambda t: tfn(t, torch.tensor(y)), x)
    np.testing.assert_allclose(gw_out.numpy(), ref.numpy(), rtol=TOL)
    with pytest.raises(ValueError, match=r"target of shape \(4,\) cannot be broadcast"):
        fn(gw.tensor(np.zeros((5, 3))), np.zeros(4))


def test_loss_modules_forward_options_and_registry():
    x = gw.tensor(RNG.standard_normal((4, 3)), dtype=np.float64)
    labels = np.array([0, 2, 1, 2])
    w = np.array([1.0, 2.0, 0.5])
    mod = nn.CrossEntropyLoss(weight=w, ignore_index=1, label_smoothing=0.1)
    ref = tF.cross_entropy(torch.tensor(x.numpy()), torch.tensor(labels), weight=torch.tensor(w),
                           ignore_index=1, label_smoothing=0.1)
    np.testing.assert_allclose(mod(x, labels).numpy(), ref.numpy(), rtol=TOL)
    assert isinstance(nn.get_loss("mae"), nn.L1Loss)
    assert isinstance(nn.get_loss("huber"), nn.HuberLoss)
    assert nn.HuberLoss(delta=2.0)(x, np.zeros((4, 3))).item() == pytest.approx(
        tF.huber_loss(torch.tensor(x.numpy()), torch.zeros(4, 3), delta=2.0).item(), rel=TOL)
    y = RNG.uniform(0, 1, (4, 3))
    bce = nn.BCEWithLogitsLoss(weight=np.ones((4, 1)) * 2, pos_weight=np.array([1.0, 2.0, 3.0]))
    ref = tF.binary_cross_entropy_with_logits(torch.tensor(x.numpy()), torch.tensor(y),
                                              weight=torch.full((4, 1), 2.0, dtype=torch.float64),
                                              pos_weight=torch.tensor([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(bce(x, y).numpy(), ref.numpy(), rtol=TOL)


def test_weighted_losses_keep_float32():
    x = gw.tensor(RNG.standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    loss = F.cross_entropy(x, np.array([0, 1, 2, 0]), weight=np.ones(3), label_smoothing=0.1)
    loss.backward()
    assert loss.dtype == np.float32 and x.grad.dtype == np.float32
    out = F.binary_cross_entropy_with_logits(x, np.ones((4, 3)), pos_weight=np.ones(3))
    assert out.dtype == np.float32


@pytest.mark.cuda
def test_loss_options_on_the_gpu_equal_the_cpu(gpu):
    x = RNG.standard_normal((6, 4))
    labels = np.array([0, 1, 2, 3, 1, 0])
    y = RNG.uniform(0, 1, (6, 4))
    cases = [
        lambda t, d: F.cross_entropy(t, labels, weight=np.arange(1.0, 5.0), ignore_index=1,
                                     label_smoothing=0.1),
        lambda t, d: F.binary_cross_entropy_with_logits(t, y, weight=np.ones((6, 1)) * 2,
                                                        pos_weight=np.arange(1.0, 5.0)),
        lambda t, d: F.binary_cross_entropy(t.sigmoid(), y, weight=np.full(4, 0.5)),
        lambda t, d: F.huber_loss(t, y, delta=0.5) + F.l1_loss(t, y),
    ]
    for fn in cases:
        values, grads = [], []
        for device in ("cpu", "cuda"):
            t = gw.tensor(x, dtype=np.float64, device=device, requires_grad=True)
            out = fn(t, device)
            out.backward()
            assert out.device == device
            values.append(out.item())
            grads.append(t.grad.get() if device == "cuda" else t.grad)
        assert values[0] == pytest.approx(values[1], rel=1e-12)
        np.testing.assert_allclose(grads[1], grads[0], rtol=1e-12)
