"""The backend seam: ``device="cuda"`` runs on CuPy when it is there, and is a clear error
when it is not. The GPU tests skip on machines without CuPy or without a GPU."""

from __future__ import annotations

import numpy as np
import pytest

import gradwise as gw
from gradwise import backend, nn

try:
    import cupy  # type: ignore[import-not-found]
except Exception:  # CuPy absent or broken: the GPU tests skip
    cupy = None

without_cupy = pytest.mark.skipif(cupy is not None, reason="CuPy is installed here")


def needs_gpu(test):
    """Mark a test ``cuda`` and skip it without CuPy and a GPU."""
    skip = pytest.mark.skipif(not gw.cuda_available(), reason="needs CuPy and a GPU")
    return pytest.mark.cuda(skip(test))


@without_cupy
def test_cuda_without_cupy_is_a_clear_error():
    assert not gw.cuda_available()
    calls = [
        lambda: gw.tensor([1.0], device="cuda"),
        lambda: gw.tensor([1.0]).to("cuda"),
        lambda: gw.tensor([1.0]).cuda(),
        lambda: gw.zeros(2, device="cuda:0"),
        lambda: gw.randn(2, device="cuda"),
        lambda: nn.Dense(2, 2, device="cuda"),
        lambda: nn.Dense(2, 2).to("cuda"),
    ]
    for call in calls:
        with pytest.raises(RuntimeError, match=r"device='cuda(:0)?' needs CuPy, which is not "
                                               r"installed: pip install 'gradwise\[cuda\]'"):
            call()


def test_unknown_device_is_named():
    with pytest.raises(ValueError, match=r"unknown device 'tpu': expected 'cpu' or 'cuda'"):
        gw.tensor([1.0], device="tpu")
    assert gw.tensor([1.0], device="cpu").device == "cpu"


@needs_gpu
def test_tensor_to_cuda_and_back():
    x = gw.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    g = x.to("cuda")
    assert g.device == "cuda" and isinstance(g.data, cupy.ndarray) and g.requires_grad
    assert g.dtype == np.float32
    np.testing.assert_array_equal(g.numpy(), x.numpy())
    assert g.to("cuda") is g
    back = g.cpu()
    assert back.device == "cpu" and isinstance(back.data, np.ndarray)
    assert "device='cuda'" in repr(g)
    assert gw.zeros(2, 3, device="cuda").device == "cuda"
    assert gw.tensor([1.0, 2.0], device="cuda").device == "cuda"


@needs_gpu
def test_gpu_ops_and_gradients_stay_on_the_gpu():
    x = gw.tensor(np.linspace(-1, 1, 12).reshape(3, 4), device="cuda", requires_grad=True)
    y = (x.relu() * 2.0 + x.sigmoid() - x.tanh()).softmax(axis=1)[[0, 0, 2]]
    y = gw.concatenate([y, gw.stack([x[0], x[1]])]).logsumexp(axis=1).sum()
    assert y.device == "cuda"
    y.backward()
    assert isinstance(x.grad, cupy.ndarray) and x.grad.dtype == np.float32
    assert gw.where(x > 0, 1.0, 0.0).device == "cuda"

    c = x.detach().to("cpu").requires_grad_()
    yc = (c.relu() * 2.0 + c.sigmoid() - c.tanh()).softmax(axis=1)[[0, 0, 2]]
    yc = gw.concatenate([yc, gw.stack([c[0], c[1]])]).logsumexp(axis=1).sum()
    yc.backward()
    np.testing.assert_allclose(y.item(), yc.item(), rtol=1e-5)
    np.testing.assert_allclose(cupy.asnumpy(x.grad), c.grad, rtol=1e-4, atol=1e-6)


@needs_gpu
@pytest.mark.parametrize("loss_name", ["cross_entropy", "bce_with_logits"])
def test_mlp_step_on_gpu_matches_cpu_in_float32(loss_name):
    n_out = 3 if loss_name == "cross_entropy" else 1

    def mlp():
        gw.manual_seed(0)
        return nn.Sequential(nn.Dense(5, 32, activation="relu"),
                             nn.Dense(32, 16, activation="tanh"), nn.Dense(16, n_out))

    cpu_model, gpu_model = mlp(), mlp().to("cuda")
    for p, q in zip(cpu_model.parameters(), gpu_model.parameters(), strict=True):
        assert q.device == "cuda"
        np.testing.assert_array_equal(p.numpy(), q.numpy())  # same seed, same weights everywhere

    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 5))
    y = rng.integers(0, 3, 64) if n_out == 3 else rng.integers(0, 2, (64, 1)).astype(np.float32)
    loss_fn = nn.get_loss(loss_name)
    losses = []
    for model, device in ((cpu_model, "cpu"), (gpu_model, "cuda")):
        xb = gw.tensor(x, device=device)
        yb = gw.tensor(y, device=device)
        loss = loss_fn(model(xb), yb)
        assert loss.device == device and loss.dtype == np.float32
        loss.backward()
        with gw.no_grad():
            for p in model.parameters():
                p.data -= 0.1 * p.grad
        losses.append(loss.item())
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    for p, q in zip(cpu_model.parameters(), gpu_model.parameters(), strict=True):
        assert isinstance(q.grad, cupy.ndarray)
        np.testing.assert_allclose(q.numpy(), p.numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(cupy.asnumpy(q.grad), p.grad, rtol=1e-4, atol=1e-5)


@needs_gpu
def test_dropout_and_state_dict_on_gpu():
    gw.manual_seed(3)
    drop = nn.Dropout(0.5)
    out = drop(gw.ones(100, 100, device="cuda"))
    assert out.device == "cuda"
    assert set(np.unique(out.numpy())) <= {0.0, 2.0}
    layer = nn.Dense(3, 2, device="cuda")
    sd = layer.state_dict()
    layer.load_state_dict({k: backend.to_numpy(v) * 0 for k, v in sd.items()})
    assert not layer.weight.numpy().any() and layer.weight.device == "cuda"
