"""The backend seam: ``device="cuda"`` runs on CuPy when it is there, and is a clear error
when it is not. The GPU tests take the ``gpu`` fixture: real CuPy on a machine with a GPU, the
NumPy-backed fake CuPy of ``tests/fake_cupy.py`` elsewhere (which also counts host syncs)."""

from __future__ import annotations

import numpy as np
import pytest

import gradwise as gw
from gradwise import backend, nn

without_cupy = pytest.mark.skipif(backend._cupy is not None, reason="CuPy is installed here")


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


@pytest.mark.cuda
def test_tensor_to_cuda_and_back(gpu):
    x = gw.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    g = x.to("cuda")
    assert g.device == "cuda" and isinstance(g.data, gpu.ndarray) and g.requires_grad
    assert g.dtype == np.float32
    np.testing.assert_array_equal(g.numpy(), x.numpy())
    assert g.to("cuda") is g
    back = g.cpu()
    assert back.device == "cpu" and isinstance(back.data, np.ndarray)
    assert "device='cuda'" in repr(g)
    assert gw.zeros(2, 3, device="cuda").device == "cuda"
    assert gw.tensor([1.0, 2.0], device="cuda").device == "cuda"


@pytest.mark.cuda
def test_gpu_ops_and_gradients_stay_on_the_gpu(gpu):
    x = gw.tensor(np.linspace(-1, 1, 12).reshape(3, 4), device="cuda", requires_grad=True)
    y = (x.relu() * 2.0 + x.sigmoid() - x.tanh()).softmax(axis=1)[[0, 0, 2]]
    y = gw.concatenate([y, gw.stack([x[0], x[1]])]).logsumexp(axis=1).sum()
    assert y.device == "cuda"
    y.backward()
    assert isinstance(x.grad, gpu.ndarray) and x.grad.dtype == np.float32
    assert gw.where(x > 0, 1.0, 0.0).device == "cuda"

    c = x.detach().to("cpu").requires_grad_()
    yc = (c.relu() * 2.0 + c.sigmoid() - c.tanh()).softmax(axis=1)[[0, 0, 2]]
    yc = gw.concatenate([yc, gw.stack([c[0], c[1]])]).logsumexp(axis=1).sum()
    yc.backward()
    np.testing.assert_allclose(y.item(), yc.item(), rtol=1e-5)
    np.testing.assert_allclose(gpu.asnumpy(x.grad), c.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.cuda
@pytest.mark.parametrize("loss_name", ["cross_entropy", "bce_with_logits"])
def test_mlp_step_on_gpu_matches_cpu_in_float32(gpu, loss_name):
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
        assert isinstance(q.grad, gpu.ndarray)
        np.testing.assert_allclose(q.numpy(), p.numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(gpu.asnumpy(q.grad), p.grad, rtol=1e-4, atol=1e-5)


@pytest.mark.cuda
def test_dropout_and_state_dict_on_gpu(gpu):
    gw.manual_seed(3)
    drop = nn.Dropout(0.5)
    out = drop(gw.ones(100, 100, device="cuda"))
    assert out.device == "cuda"
    assert set(np.unique(out.numpy())) <= {0.0, 2.0}
    layer = nn.Dense(3, 2, device="cuda")
    sd = layer.state_dict()
    layer.load_state_dict({k: backend.to_numpy(v) * 0 for k, v in sd.items()})
    assert not layer.weight.numpy().any() and layer.weight.device == "cuda"


# --- no host syncs inside a step (the fake CuPy counts them) ---------------------------------

def test_fake_cupy_behaves_like_cupy(fake_gpu):
    import fake_cupy

    a = fake_gpu.asarray(np.arange(3.0))
    assert fake_cupy.UPLOADS == 1 and isinstance(a, fake_gpu.ndarray)
    with pytest.raises(TypeError, match="NumPy array of shape"):
        a + np.ones(3)
    total = a.sum()
    assert isinstance(total, fake_gpu.ndarray) and total.shape == ()
    assert fake_cupy.SYNCS == 0
    assert float(total) == 3.0 and fake_cupy.SYNCS == 1
    assert isinstance(fake_gpu.exp(a), fake_gpu.ndarray)


def _mlp(n_out: int, activation: str | None = None, dropout: float = 0.0) -> nn.Module:
    gw.manual_seed(0)
    return nn.Sequential(nn.Dense(5, 16, activation="relu"), nn.Dropout(dropout),
                         nn.Dense(16, n_out, activation=activation))


_LOSSES = {  # loss name -> (outputs, final activation, targets)
    "cross_entropy": (3, None, lambda r: r.integers(0, 3, 32)),
    "bce_with_logits": (1, None, lambda r: r.integers(0, 2, (32, 1)).astype(np.float32)),
    "bce": (1, "sigmoid", lambda r: r.integers(0, 2, (32, 1)).astype(np.float32)),
    "mse": (2, None, lambda r: r.standard_normal((32, 2)).astype(np.float32)),
}


@pytest.mark.parametrize("loss_name", sorted(_LOSSES))
@pytest.mark.parametrize("opt_name", sorted(gw.optim.OPTIMIZERS))
def test_a_training_step_never_waits_for_the_gpu(fake_gpu, loss_name, opt_name):
    import fake_cupy

    n_out, activation, make_y = _LOSSES[loss_name]
    rng = np.random.default_rng(0)
    x = gw.tensor(rng.standard_normal((32, 5)), device="cuda")
    y = gw.tensor(make_y(rng), device="cuda")
    model = _mlp(n_out, activation, dropout=0.2).to("cuda")
    opt = gw.optim.get(opt_name, model.parameters(), lr=0.01)
    loss_fn = nn.get_loss(loss_name)

    def step():
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    step()
    fake_cupy.reset_counts()
    for _ in range(3):
        loss = step()
    assert (fake_cupy.SYNCS, fake_cupy.UPLOADS) == (0, 0)
    assert np.isfinite(loss.item())
    checked = loss_name in ("bce", "cross_entropy")  # their deferred range checks
    assert fake_cupy.SYNCS == (2 if checked else 1)


def test_label_and_probability_checks_wait_for_the_next_sync_on_the_gpu(fake_gpu):
    import fake_cupy

    logits = gw.tensor(np.zeros((4, 3)), device="cuda", requires_grad=True)
    bad = gw.tensor([0, 1, 3, 2], device="cuda")
    loss = nn.functional.cross_entropy(logits, bad)
    loss.backward()
    assert fake_cupy.SYNCS == 0  # the step ran without reading the labels
    with pytest.raises(ValueError, match=r"a label is out of range for 3 classes \[0, 3\) "
                                         r"\(found on the GPU"):
        loss.item()
    assert np.isfinite(loss.item())  # raised once; the next read is clean

    p = gw.tensor([[0.5], [1.5]], device="cuda")
    with np.errstate(invalid="ignore"):  # log1p(-1.5): a NaN, as a GPU computes it silently
        loss = nn.functional.binary_cross_entropy(p, gw.tensor([[1.0], [0.0]], device="cuda"))
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        loss.numpy()
    with pytest.raises(ValueError, match=r"label 3 is out of range for 3 classes"):
        nn.functional.cross_entropy(logits.cpu(), bad.cpu())  # immediate on the CPU, with the label


def test_device_loader_gathers_the_cpu_batches_with_one_upload_per_epoch(fake_gpu):
    import fake_cupy

    X = np.arange(40.0).reshape(20, 2)
    y = np.arange(20)
    cpu = gw.data.DataLoader((X, y), batch_size=6, shuffle=True, generator=1)
    dev = gw.data.DataLoader((X, y), batch_size=6, shuffle=True, generator=1, device="cuda")
    assert fake_cupy.UPLOADS == 2  # X and y, once
    for _ in range(2):
        fake_cupy.reset_counts()
        batches = list(dev)
        assert (fake_cupy.UPLOADS, fake_cupy.SYNCS) == (1, 0)  # the epoch's order
        for (xc, yc), (xd, yd) in zip(cpu, batches, strict=True):
            assert isinstance(xd, fake_gpu.ndarray) and isinstance(yd, fake_gpu.ndarray)
            np.testing.assert_array_equal(fake_gpu.asnumpy(xd), xc)
            np.testing.assert_array_equal(fake_gpu.asnumpy(yd), yc)
    plain = list(gw.data.DataLoader((X, y), batch_size=8, device="cuda"))
    assert [len(b[0]) for b in plain] == [8, 8, 4]


def test_fit_on_the_gpu_reads_back_once_per_epoch_and_matches_the_cpu(fake_gpu):
    import fake_cupy

    rng = np.random.default_rng(0)
    X = rng.standard_normal((96, 5))
    y = rng.integers(0, 3, 96)

    def run(device, batch_size):
        model = _mlp(3).to(device)
        opt = gw.optim.Adam(model.parameters(), lr=0.01)
        fake_cupy.reset_counts()
        hist = gw.fit(model, "cross_entropy", opt, (X, y), epochs=3, batch_size=batch_size,
                      validation_split=0.25, metrics=["accuracy"], verbose=0, seed=0)
        assert np.dtype(np.float64) not in fake_cupy.UPLOADED_DTYPES  # X cast before upload
        return hist.history, (fake_cupy.SYNCS, fake_cupy.UPLOADS)

    gpu_hist, few_batches = run("cuda", 24)
    _, many_batches = run("cuda", 4)
    assert few_batches == many_batches  # host syncs and uploads per epoch, not per step
    # per epoch, for training and for validation: the label check, the loss and the accuracy;
    # uploads: the training and validation arrays once, then each epoch's order
    assert many_batches == (3 * 2 * 3, 4 + 3)
    cpu_hist, _ = run("cpu", 24)
    assert gpu_hist.keys() == cpu_hist.keys()
    for k in cpu_hist:
        assert all(isinstance(v, float) for v in gpu_hist[k])
        np.testing.assert_allclose(gpu_hist[k], cpu_hist[k], rtol=1e-6)


def test_callbacks_with_batch_hooks_get_float_losses_on_the_gpu(fake_gpu):
    seen = []

    class Spy(gw.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(logs["loss"])

    model = _mlp(3).to("cuda")
    X, y = np.ones((8, 5)), np.zeros(8, dtype=np.int64)
    gw.fit(model, "cross_entropy", gw.optim.SGD(model.parameters(), lr=0.1), (X, y),
           batch_size=4, callbacks=[Spy()], verbose=0)
    assert len(seen) == 2 and all(type(v) is float for v in seen)


@pytest.mark.parametrize("norm_type", [2.0, float("inf")])
def test_clip_grad_norm_on_the_gpu_reads_nothing_back(fake_gpu, norm_type):
    import fake_cupy

    model = _mlp(3).to("cuda")
    x = gw.tensor(np.full((4, 5), 10.0), device="cuda")
    (model(x) ** 2).sum().backward()
    grads = [p.grad.copy() for p in model.parameters()]
    fake_cupy.reset_counts()
    total = gw.optim.clip_grad_norm_(model.parameters(), 1.0, norm_type)
    assert total.device == "cuda" and fake_cupy.SYNCS == 0
    flat = np.concatenate([fake_gpu.asnumpy(g).ravel() for g in grads]).astype(np.float64)
    expected = np.abs(flat).max() if norm_type == float("inf") else np.linalg.norm(flat)
    assert float(total) == pytest.approx(expected, rel=1e-5)
    for p, g in zip(model.parameters(), grads, strict=True):
        np.testing.assert_allclose(fake_gpu.asnumpy(p.grad), fake_gpu.asnumpy(g) / expected,
                                   rtol=1e-4, atol=1e-7)


@pytest.mark.slow
def test_gradwise_train_runs_on_the_gpu_like_on_the_cpu(fake_gpu, tmp_path):
    import json

    from gradwise.cli import main

    summaries = {}
    for device in ("cpu", "cuda"):
        out = tmp_path / device
        assert main(["train", "--out", str(out), "--quiet", "--set", "training.epochs=3",
                     "--set", "model.dropout=0.0", "--set", f"training.device={device}"]) == 0
        summaries[device] = json.loads((out / "summary.json").read_text())
    cpu, gpu = summaries["cpu"], summaries["cuda"]
    assert gpu["epochs_run"] == cpu["epochs_run"] == 3
    for k, v in cpu["final"].items():
        assert gpu["final"][k] == pytest.approx(v, rel=1e-5)


@without_cupy
def test_gradwise_train_on_a_missing_gpu_is_a_config_error(tmp_path, capsys):
    from gradwise.cli import main

    assert main(["train", "--out", str(tmp_path), "--set", "training.device=cuda"]) == 2
    assert "[training] device: device='cuda' needs CuPy" in capsys.readouterr().err


def test_fit_on_the_gpu_resumes_from_a_checkpoint(fake_gpu, tmp_path):
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((40, 5)), rng.integers(0, 3, 40)

    def run(epochs, **kw):
        model = _mlp(3).to("cuda")
        opt = gw.optim.Adam(model.parameters(), lr=0.01)
        h = gw.fit(model, "cross_entropy", opt, (X, y), epochs=epochs, batch_size=8,
                   verbose=0, seed=0, **kw)
        return h.history["loss"], [p.numpy() for p in model.parameters()]

    straight, w_straight = run(4)
    ckpt = tmp_path / "ckpt.safetensors"
    run(2, checkpoint_path=ckpt)
    resumed, w_resumed = run(4, resume_from=ckpt)
    assert resumed == straight
    for a, b in zip(w_straight, w_resumed, strict=True):
        np.testing.assert_array_equal(a, b)
    model = _mlp(3).to("cuda")
    assert gw.predict(model, X).shape == (40, 3)
    assert set(gw.evaluate(model, "cross_entropy", (X, y), ["accuracy"])) == {"loss", "accuracy"}
