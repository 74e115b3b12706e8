"""gw.nn: Module API, Dense/Perceptron, activations, Dropout, initializers, losses, seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradwise as gw
from gradwise import nn


class TwoLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Dense(3, 4, activation="relu")
        self.drop = nn.Dropout(0.5)
        self.scale = nn.Parameter(np.ones(1))
        self.out = nn.Dense(4, 2)
        self.not_a_param = gw.tensor([1.0])

    def forward(self, x):
        return self.out(self.drop(self.hidden(x))) * self.scale


# --- Module API ------------------------------------------------------------------------------

def test_parameters_in_deterministic_registration_order():
    m = TwoLayer()
    names = [n for n, _ in m.named_parameters()]
    # a module's own parameters first, then each child's, in assignment order (as PyTorch)
    assert names == ["scale", "hidden.weight", "hidden.bias", "out.weight", "out.bias"]
    assert names == [n for n, _ in TwoLayer().named_parameters()]
    assert [p.shape for p in m.parameters()] == [p.shape for _, p in m.named_parameters()]
    assert all(p.requires_grad for p in m.parameters())
    assert m.num_parameters() == 3 * 4 + 4 + 1 + 4 * 2 + 2

    seq = nn.Sequential(nn.Dense(2, 3), nn.ReLU(), nn.Dense(3, 1))
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert len(seq) == 3 and isinstance(seq[1], nn.ReLU) and len(seq[0:2]) == 2


def test_shared_parameter_is_listed_once_and_modules_are_found_by_attribute():
    shared = nn.Dense(2, 2)
    seq = nn.Sequential(shared, shared)
    assert len(list(seq.parameters())) == 2
    m = TwoLayer()
    kinds = [type(x).__name__ for x in m.modules()]
    assert kinds == ["TwoLayer", "Dense", "Dropout", "Dense"]
    assert [n for n, _ in m.named_children()] == ["hidden", "drop", "out"]
    del m.drop
    assert [n for n, _ in m.named_children()] == ["hidden", "out"]


def test_module_without_super_init_gets_a_clear_error():
    class Bad(nn.Module):
        def __init__(self) -> None:
            self.layer = nn.Dense(1, 1)

    with pytest.raises(RuntimeError, match=r"super\(\).__init__\(\)"):
        Bad()


def test_train_eval_and_call():
    m = TwoLayer()
    assert m.training and all(x.training for x in m.modules())
    assert m.eval() is m
    assert not any(x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())
    assert m(gw.tensor(np.ones((5, 3)))).shape == (5, 2)
    with pytest.raises(NotImplementedError, match="Module does not implement forward"):
        nn.Module()(1)


def test_zero_grad_sets_grads_to_none():
    m = TwoLayer().eval()
    m(gw.tensor(np.ones((2, 3)))).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_state_dict_round_trip_copies_in_place():
    gw.manual_seed(1)
    a, b = TwoLayer(), TwoLayer()
    sd = a.state_dict()
    assert list(sd) == [n for n, _ in a.named_parameters()]
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    sd["out.bias"][...] = 123  # a copy: the model is untouched
    assert not np.any(a.out.bias.numpy() == 123)
    before = b.hidden.weight.data
    b.load_state_dict(a.state_dict())
    assert b.hidden.weight.data is before  # in place: optimizer views stay valid
    for (_, p), (_, q) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_load_state_dict_refuses_bad_entries_naming_them():
    m = nn.Sequential(nn.Dense(2, 3), nn.Dense(3, 1))
    sd = m.state_dict()
    original = m.state_dict()
    missing = dict(sd)
    del missing["1.bias"]
    with pytest.raises(ValueError, match=r"missing keys \['1.bias'\]"):
        m.load_state_dict(missing)
    with pytest.raises(ValueError, match=r"unexpected keys \['2.weight'\]"):
        m.load_state_dict({**sd, "2.weight": np.zeros((1, 1))})
    bad = {**sd, "0.weight": np.zeros((3, 2)), "1.bias": np.ones(1)}
    with pytest.raises(ValueError, match=r"'0.weight' has shape \(3, 2\) in the state but "
                                         r"\(2, 3\) in the model"):
        m.load_state_dict(bad)
    for k, v in m.state_dict().items():  # nothing was written by the refused loads
        np.testing.assert_array_equal(v, original[k])
    m.load_state_dict({"1.bias": np.array([5.0])}, strict=False)
    assert m[1].bias.item() == 5.0


def test_repr_is_readable():
    m = nn.Sequential(nn.Dense(2, 16, activation="relu"), nn.Dropout(0.2),
                      nn.Dense(16, 1, bias=False, activation="sigmoid"))
    assert repr(m) == (
        "Sequential(\n"
        "  (0): Dense(in_features=2, out_features=16, activation=relu)\n"
        "  (1): Dropout(p=0.2)\n"
        "  (2): Dense(in_features=16, out_features=1, bias=False, activation=sigmoid)\n"
        ")"
    )
    assert "LeakyReLU(negative_slope=0.1)" in repr(nn.LeakyReLU(0.1))
    assert repr(nn.CrossEntropyLoss(reduction="sum")) == "CrossEntropyLoss(reduction='sum')"
    assert repr(nn.Parameter(np.zeros(2))).startswith("Parameter(")


def test_module_to_converts_dtype_and_refuses_cuda_without_cupy():
    m = nn.Dense(2, 3)
    m.to(dtype="float64")
    assert all(p.dtype == np.float64 for p in m.parameters())
    assert m(gw.tensor(np.ones((1, 2)), dtype="float64")).dtype == np.float64
    if not gw.cuda_available():
        with pytest.raises(RuntimeError, match="CuPy|GPU"):
            m.to("cuda")


# --- Dense, Perceptron, activations ----------------------------------------------------------

def test_dense_computes_g_of_affine_map_with_weight_in_by_out():
    layer = nn.Dense(3, 2, activation="tanh", dtype="float64")
    assert layer.weight.shape == (3, 2) and layer.bias.shape == (2,)
    assert layer.weight.dtype == np.float64
    x = np.random.default_rng(0).standard_normal((4, 3))
    ref = np.tanh(x @ layer.weight.numpy() + layer.bias.numpy())
    np.testing.assert_allclose(layer(gw.tensor(x, dtype="float64")).numpy(), ref, rtol=1e-14)
    assert nn.Dense(3, 2, bias=False).bias is None
    assert nn.Dense(np.int64(3), 2).in_features == 3  # e.g. X.shape[1] of a NumPy array
    assert [n for n, _ in nn.Dense(3, 2, bias=False).named_parameters()] == ["weight"]


@pytest.mark.parametrize("name,fn", [
    ("relu", lambda z: np.maximum(z, 0)), ("sigmoid", lambda z: 1 / (1 + np.exp(-z))),
    ("tanh", np.tanh), ("linear", lambda z: z), ("identity", lambda z: z), (None, lambda z: z),
    ("softplus", lambda z: np.log1p(np.exp(z))),
    ("leaky_relu", lambda z: np.where(z > 0, z, 0.01 * z)),
    ("softmax", lambda z: np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)),
])
def test_dense_activation_by_name(name, fn):
    layer = nn.Dense(3, 4, activation=name, dtype="float64")
    layer.bias.data[...] = [0.1, -0.2, 0.3, 0.05]
    x = np.random.default_rng(1).standard_normal((5, 3))
    z = x @ layer.weight.numpy() + layer.bias.numpy()
    np.testing.assert_allclose(layer(gw.tensor(x, dtype="float64")).numpy(), fn(z), rtol=1e-12)


def test_activation_modules_and_get_activation():
    z = gw.tensor([-1.0, 0.5])
    for name, cls in [("sigmoid", nn.Sigmoid), ("tanh", nn.Tanh), ("relu", nn.ReLU),
                      ("identity", nn.Identity), ("softmax", nn.Softmax)]:
        act = nn.get_activation(name)
        assert isinstance(act, cls)
        np.testing.assert_array_equal(act(z).numpy(), cls()(z).numpy())
    relu = nn.ReLU()
    assert nn.get_activation(relu) is relu
    with pytest.raises(ValueError, match=r"unknown activation 'swish'; choose one of"):
        nn.get_activation("swish")
    with pytest.raises(ValueError, match="unknown activation"):
        nn.Dense(2, 2, activation="swish")
    assert nn.Flatten()(gw.zeros(2, 3, 4)).shape == (2, 12)


def test_dense_wrong_feature_count_names_expected_and_actual():
    layer = nn.Dense(3, 2)
    with pytest.raises(ValueError, match=r"expects 3 input features, got input of shape "
                                         r"\(5, 4\) \(4 features\)"):
        layer(gw.tensor(np.ones((5, 4))))
    with pytest.raises(ValueError, match="in_features must be a positive integer, got 0"):
        nn.Dense(0, 2)


def test_perceptron_is_the_lectures_single_unit():
    p = nn.Perceptron(2)
    assert p.weight.shape == (2, 1) and p.bias.shape == (1,)
    p.load_state_dict({"weight": [[3.0], [-2.0]], "bias": [1.0]})
    x = np.array([[-1.0, 2.0], [0.5, 0.25]])
    z = 1 + 3 * x[:, 0] - 2 * x[:, 1]
    np.testing.assert_allclose(p(gw.tensor(x)).numpy()[:, 0], 1 / (1 + np.exp(-z)), rtol=1e-6)
    assert nn.Perceptron(2, activation=None)(gw.tensor(x)).shape == (2, 1)


# --- Dropout ---------------------------------------------------------------------------------

@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_dropout_p_outside_unit_interval_is_an_error(p):
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        nn.Dropout(p)


def test_dropout_is_identity_in_eval_and_keeps_the_mean_in_training():
    drop = nn.Dropout(0.3)
    x = gw.tensor(np.full((400, 250), 2.0))
    drop.eval()
    assert drop(x) is x
    drop.train()
    out = drop(x).numpy()
    kept = out != 0
    np.testing.assert_allclose(out[kept], 2.0 / 0.7, rtol=1e-6)  # inverted scaling 1/(1-p)
    n = out.size
    frac = kept.mean()
    assert abs(frac - 0.7) < 5 * math.sqrt(0.7 * 0.3 / n)  # 5 sigma
    assert abs(out.mean() - 2.0) < 5 * 2.0 * math.sqrt(0.3 / 0.7 / n)
    assert nn.Dropout(0.0)(x) is x


def test_dropout_backward_uses_the_same_mask():
    x = gw.tensor(np.ones((50, 40)), requires_grad=True)
    out = nn.Dropout(0.5)(x)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, out.numpy())


def test_manual_seed_reproduces_init_and_dropout():
    def run():
        gw.manual_seed(42)
        m = nn.Sequential(nn.Dense(3, 5, activation="relu"), nn.Dropout(0.5), nn.Dense(5, 1))
        return m.state_dict(), m(gw.tensor(np.ones((8, 3)))).numpy()

    (sd1, out1), (sd2, out2) = run(), run()
    for k in sd1:
        np.testing.assert_array_equal(sd1[k], sd2[k])
    np.testing.assert_array_equal(out1, out2)
    gw.manual_seed(43)
    assert not np.array_equal(nn.Dense(3, 5).weight.numpy(), sd1["0.weight"])


def test_explicit_generators_for_init_and_dropout():
    w1 = nn.Dense(4, 4, generator=np.random.default_rng(3)).weight.numpy()
    gw.manual_seed(0)
    nn.Dense(4, 4)  # the default generator does not influence an explicit one
    w2 = nn.Dense(4, 4, generator=np.random.default_rng(3)).weight.numpy()
    np.testing.assert_array_equal(w1, w2)
    x = gw.ones(20, 20)
    a = nn.Dropout(0.5, generator=np.random.default_rng(9))(x).numpy()
    b = nn.Dropout(0.5, generator=np.random.default_rng(9))(x).numpy()
    np.testing.assert_array_equal(a, b)
    c = gw.nn.functional.dropout(x, 0.5, generator=np.random.default_rng(9)).numpy()
    np.testing.assert_array_equal(a, c)


# --- initializers ----------------------------------------------------------------------------

FAN_IN, FAN_OUT = 300, 200


def _draw(name: str, **kw) -> np.ndarray:
    t = gw.zeros(FAN_IN, FAN_OUT, dtype="float64")
    nn.init.get(name)(t, generator=np.random.default_rng(0), **kw)
    return t.numpy()


@pytest.mark.parametrize("name,limit", [
    ("glorot_uniform", math.sqrt(6 / (FAN_IN + FAN_OUT))), ("he_uniform", math.sqrt(6 / FAN_IN)),
])
def test_uniform_initializers_limits(name, limit):
    w = _draw(name)
    assert w.min() >= -limit and w.max() <= limit
    assert w.min() < -0.99 * limit and w.max() > 0.99 * limit
    assert abs(w.std() - limit / math.sqrt(3)) < 0.01 * limit
    assert abs(w.mean()) < 0.01 * limit


@pytest.mark.parametrize("name,std", [
    ("glorot_normal", math.sqrt(2 / (FAN_IN + FAN_OUT))), ("he_normal", math.sqrt(2 / FAN_IN)),
])
def test_normal_initializers_std(name, std):
    w = _draw(name)
    assert abs(w.std() - std) < 0.01 * std and abs(w.mean()) < 0.01 * std
    assert np.abs(w).max() > 3 * std  # not truncated


def test_normal_init_is_the_lectures_gaussian_and_zeros():
    t = gw.zeros(500, 200, dtype="float64")
    nn.init.normal(t, std=0.3, generator=np.random.default_rng(1))
    assert abs(t.numpy().std() - 0.3) < 0.003 and abs(t.numpy().mean()) < 0.003
    nn.init.zeros(t)
    assert not t.numpy().any()
    with pytest.raises(ValueError, match="unknown initializer 'orthogonal'"):
        nn.init.get("orthogonal")


def test_dense_defaults_to_glorot_uniform_weights_and_zero_bias():
    layer = nn.Dense(FAN_IN, FAN_OUT)
    limit = math.sqrt(6 / (FAN_IN + FAN_OUT))
    w = layer.weight.numpy()
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.99 * limit
    assert abs(w.std() - limit / math.sqrt(3)) < 0.02 * limit
    assert not layer.bias.numpy().any()
    he = nn.Dense(FAN_IN, FAN_OUT, weight_init="he_normal").weight.numpy()
    assert abs(he.std() - math.sqrt(2 / FAN_IN)) < 0.02 * math.sqrt(2 / FAN_IN)


# --- losses as modules -----------------------------------------------------------------------

def test_loss_modules_by_name_and_reduction():
    x = gw.tensor(np.array([[0.5], [-1.0], [2.0]]), dtype="float64")
    y = np.array([[1.0], [0.0], [1.0]])
    for name, cls in [("mse", nn.MSELoss), ("bce_with_logits", nn.BCEWithLogitsLoss)]:
        loss = nn.get_loss(name)
        assert isinstance(loss, cls)
        none = cls(reduction="none")(x, y).numpy()
        assert none.shape == (3, 1)
        assert loss(x, y).item() == pytest.approx(none.mean(), rel=1e-14)
        assert cls(reduction="sum")(x, y).item() == pytest.approx(none.sum(), rel=1e-14)
    assert isinstance(nn.get_loss("bce"), nn.BCELoss)
    assert isinstance(nn.get_loss("cross_entropy", reduction="sum"), nn.CrossEntropyLoss)
    with pytest.raises(ValueError, match=r"unknown loss 'hinge'; choose one of"):
        nn.get_loss("hinge")
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.MSELoss(reduction="avg")


def test_grad_buffers_through_a_shared_dense_layer_match_plain_gradients():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3))
    plain = nn.Dense(3, 3, activation="tanh", dtype="float64")
    viewed = nn.Dense(3, 3, activation="tanh", dtype="float64")
    viewed.load_state_dict(plain.state_dict())
    flat = np.full(12, np.nan)  # stale contents must be overwritten, not added to
    viewed.weight.grad_slot = flat[:9].reshape(3, 3)
    viewed.bias.grad_slot = flat[9:]

    def grads(layer):
        layer(layer(gw.tensor(x, dtype="float64"))).sum().backward()  # the layer used twice
        return [p.grad.copy() for p in layer.parameters()]

    for _ in range(2):  # the second pass accumulates
        ref, got = grads(plain), grads(viewed)
        assert viewed.weight.grad.base is flat and viewed.bias.grad.base is flat
        for r, g in zip(ref, got, strict=True):
            np.testing.assert_allclose(g, r, rtol=1e-14)
    viewed.zero_grad()
    flat[:] = np.nan
    plain.zero_grad()
    for r, g in zip(grads(plain), grads(viewed), strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-14)


def test_flat_parameter_vector_round_trip():
    """nn.utils.flat_parameters reads named_parameters() order; set_flat writes it back in place."""
    model = gw.nn.Sequential(gw.nn.Dense(3, 4), gw.nn.Dense(4, 2))
    vector = gw.nn.utils.flat_parameters(model)
    expected = np.concatenate([p.numpy().ravel() for _, p in model.named_parameters()])
    np.testing.assert_array_equal(vector, expected)
    weight = model[0].weight.data
    gw.nn.utils.set_flat(model, np.arange(vector.size, dtype=np.float64))
    assert model[0].weight.data is weight  # written in place
    np.testing.assert_array_equal(gw.nn.utils.flat_parameters(model), np.arange(vector.size))
    with pytest.raises(ValueError, match="a vector of 3 entries for a model of 26 parameters"):
        gw.nn.utils.set_flat(model, np.zeros(3))
