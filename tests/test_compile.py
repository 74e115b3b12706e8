"""``gw.compile``: a recorded and replayed training step equals the eager step bit for bit (every
optimizer and option, dropout, schedules, clipping, L1/L2, float32/float64, partial batches,
train/eval), detects what it cannot replay, and returns copies.

Both sides run the identical computation in this process with one BLAS thread, so bit equality
does not depend on the host's kernel."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import gradwise as gw
from gradwise import capture, nn, optim
from gradwise import functional as F
from gradwise.optim import fused, schedules


@pytest.fixture(autouse=True)
def _one_thread():
    before = gw.get_num_threads()
    gw.set_num_threads(1)
    yield
    gw.set_num_threads(before)


def _data(n: int = 40, d: int = 3, classes: int = 3, dtype: Any = np.float32,
          seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(dtype)
    y = rng.integers(0, classes, n)
    return x, y


def _model(dtype: Any, dropout: float = 0.0, out: int = 3, act: str = "relu") -> nn.Module:
    gw.manual_seed(0)
    layers: list[nn.Module] = [nn.Dense(3, 8, activation=act, dtype=dtype)]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers += [nn.Dense(8, 8, activation="tanh", dtype=dtype), nn.Dense(8, out, dtype=dtype)]
    return nn.Sequential(*layers)


def _ce_step(model: nn.Module, opt: Any) -> Callable[[Any, Any], Any]:
    """The lecture's training step with cross-entropy, as a function of the batch: zero the
    gradients, forward, loss, backward, update; returns the loss."""

    def step(xb: Any, yb: Any) -> Any:
        opt.zero_grad()
        v = F.cross_entropy(model(gw.Tensor(xb)), yb)
        v.backward()
        opt.step()
        return v

    return step


def _run(make_opt: Callable[[Any], Any], *, compiled: bool, dtype: Any = np.float32,
         dropout: float = 0.0, schedule: Callable[[Any], Any] | None = None,
         clip: str | None = None, reg: Any = None, loss: str = "ce", steps: int = 7,
         batches: tuple[int, ...] = (16, 16, 8)) -> tuple[list[np.ndarray], list[float]]:
    """Train a small model for ``steps`` passes over ``batches``; return the parameters and
    the loss of every step."""
    model = _model(dtype, dropout, out=1 if loss == "bce" else 3)
    opt = make_opt(model.parameters())
    sched = schedule(opt) if schedule is not None else None
    x, y = _data(dtype=dtype)
    if loss == "bce":
        y = (y[:, None] > 0).astype(dtype)

    def step(xb: Any, yb: Any) -> Any:
        opt.zero_grad()
        out = model(gw.Tensor(xb, dtype=dtype))
        if loss == "bce":
            value = F.binary_cross_entropy_with_logits(out, yb)
        elif loss == "mse":
            value = F.mse_loss(out, gw.Tensor(np.zeros(out.shape, dtype)))
        else:
            value = F.cross_entropy(out, yb)
        if reg is not None:
            value = value + reg(model)
        value.backward()
        if clip == "norm":
            optim.clip_grad_norm_(model.parameters(), 0.05)
        elif clip == "value":
            optim.clip_grad_value_(model.parameters(), 0.01)
        opt.step()
        return value

    fn = gw.compile(step) if compiled else step
    gw.manual_seed(3)  # dropout's stream
    losses = []
    for _ in range(steps):
        start = 0
        for b in batches:
            losses.append(float(fn(x[start:start + b], y[start:start + b]).item()))
            start += b
        if sched is not None:
            sched.step()
    return [p.data.copy() for p in model.parameters()], losses


def _assert_same(make_opt: Callable[[Any], Any], **kw: Any) -> None:
    eager = _run(make_opt, compiled=False, **kw)
    comp = _run(make_opt, compiled=True, **kw)
    assert eager[1] == comp[1]
    for a, b in zip(eager[0], comp[0], strict=True):
        np.testing.assert_array_equal(a, b)
    assert all(np.isfinite(v) for v in eager[1])
    assert eager[1][0] != eager[1][-3]  # it trained


OPTIMIZERS = {
    "sgd": lambda p: optim.SGD(p, lr=0.1),
    "sgd-momentum": lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1),
    "sgd-nesterov-wd": lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True,
                                           weight_decay=1e-2),
    "sgd-maximize": lambda p: optim.SGD(p, lr=0.1, momentum=0.5, maximize=True),
    "adam": lambda p: optim.Adam(p, lr=1e-2),
    "adam-amsgrad-wd": lambda p: optim.Adam(p, lr=1e-2, amsgrad=True, weight_decay=1e-2),
    "adam-maximize": lambda p: optim.Adam(p, lr=1e-2, maximize=True),
    "adamw": lambda p: optim.AdamW(p, lr=1e-2, amsgrad=True),
    "rmsprop": lambda p: optim.RMSprop(p, lr=1e-2),
    "rmsprop-centered-momentum": lambda p: optim.RMSprop(p, lr=1e-2, centered=True,
                                                         momentum=0.9, weight_decay=1e-3),
    "adagrad": lambda p: optim.Adagrad(p, lr=0.1, weight_decay=1e-3),
    "adadelta": lambda p: optim.Adadelta(p, lr=1.0, weight_decay=1e-3),
}


@pytest.mark.parametrize("kernel", ["fused", "numpy"])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_and_option_bit_identical(name: str, kernel: str) -> None:
    if kernel == "fused" and not fused.available():
        pytest.skip("numba is not installed")
    before = fused.enabled()
    fused.set_enabled(kernel == "fused")
    try:
        loss = "mse" if "maximize" in name else "ce"  # maximize ascends: a few steps of MSE
        _assert_same(OPTIMIZERS[name], loss=loss, steps=3 if "maximize" in name else 7)
    finally:
        fused.set_enabled(before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_schedule_clipping_regularization_dtypes(dtype: Any) -> None:
    adam = OPTIMIZERS["adam"]
    _assert_same(adam, dtype=dtype, dropout=0.3)
    _assert_same(adam, dtype=dtype, schedule=lambda o: schedules.StepLR(o, 2, gamma=0.5))
    _assert_same(OPTIMIZERS["sgd-momentum"], dtype=dtype,
                 schedule=lambda o: schedules.OneCycleLR(o, max_lr=0.2, total_steps=8))
    _assert_same(adam, dtype=dtype, clip="norm")
    _assert_same(adam, dtype=dtype, clip="value")
    _assert_same(adam, dtype=dtype, reg=nn.L1L2(l1=1e-3, l2=1e-2))
    _assert_same(adam, dtype=dtype, loss="bce", dropout=0.5, clip="norm")


def test_schedule_changed_within_replays_is_read_at_replay() -> None:
    """The learning rate is not baked into the recording: changing it by hand between
    replays changes the next step as it does eagerly."""
    def run(compiled: bool) -> np.ndarray:
        model = _model(np.float32)
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        x, y = _data()

        step = _ce_step(model, opt)

        fn = gw.compile(step) if compiled else step
        for i in range(6):
            opt.param_groups[0]["lr"] = 0.1 / (i + 1)
            fn(x, y)
        return np.concatenate([p.data.ravel() for p in model.parameters()])

    np.testing.assert_array_equal(run(False), run(True))


def test_partial_batch_and_eval_mode_get_their_own_recordings() -> None:
    model = _model(np.float32, dropout=0.5)
    opt = optim.SGD(model.parameters(), lr=0.1)
    x, y = _data()

    step = gw.compile(_ce_step(model, opt))

    for _ in range(3):
        step(x[:16], y[:16])
        step(x[16:24], y[16:24])
    model.eval()
    step(x[:16], y[:16])
    step(x[:16], y[:16])
    assert len(step.recordings) == 3
    assert all(r is not None for r in step.recordings.values())


def test_item_inside_the_step_is_detected() -> None:
    model = _model(np.float32)
    opt = optim.SGD(model.parameters(), lr=0.1)
    x, y = _data()

    def step(xb: Any, yb: Any) -> Any:
        opt.zero_grad()
        v = F.cross_entropy(model(gw.Tensor(xb)), yb)
        v.backward()
        opt.step()
        return v.item()

    fn = gw.compile(step)
    fn(x, y)
    with pytest.raises(capture.NotReplayableError, match=r"item\(\) reads a computed value"):
        fn(x, y)


def test_branch_on_data_is_detected_and_fallback_runs_eagerly() -> None:
    def make() -> tuple[Any, Any]:
        model = _model(np.float32)
        opt = optim.SGD(model.parameters(), lr=0.1)

        def step(xb: Any, yb: Any) -> Any:
            opt.zero_grad()
            v = F.cross_entropy(model(gw.Tensor(xb)), yb)
            if v > 1.0:  # a Python branch on a computed value
                v = v * 2.0
            v.backward()
            opt.step()
            return v

        return model, step

    x, y = _data()
    model, step = make()
    fn = gw.compile(step)
    fn(x, y)
    with pytest.raises(capture.NotReplayableError,
                       match=r"reads a computed value.*test_compile.py:\d+: if v > 1.0"):
        fn(x, y)
    ref_model, ref_step = make()
    model, step = make()
    fn = gw.compile(step, fallback=True)
    with pytest.warns(RuntimeWarning, match="runs eagerly from now on"):
        for _ in range(4):
            fn(x, y)
    for _ in range(4):
        ref_step(x, y)
    for a, b in zip(model.parameters(), ref_model.parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data)


def test_host_read_of_an_array_is_detected() -> None:
    model = _model(np.float32)
    opt = optim.SGD(model.parameters(), lr=0.1)
    x, y = _data()

    @gw.compile
    def step(xb: Any, yb: Any) -> Any:
        opt.zero_grad()
        out = model(gw.Tensor(xb))
        v = F.cross_entropy(out, yb)
        v.backward()
        opt.step()
        return v, out.numpy().argmax(axis=1)

    step(x, y)
    with pytest.raises(capture.NotReplayableError, match=r"on the host"):
        step(x, y)


def test_replaced_parameter_records_afresh() -> None:
    def run(compiled: bool) -> np.ndarray:
        model = _model(np.float32)
        opt = optim.SGD(model.parameters(), lr=0.1)
        x, y = _data()

        step = _ce_step(model, opt)

        fn = gw.compile(step) if compiled else step
        for _ in range(3):
            fn(x, y)
        w = model[0].weight
        w.data = w.data * 0.5  # a new array of the same shape
        for _ in range(3):
            fn(x, y)
        return np.concatenate([p.data.ravel() for p in model.parameters()])

    np.testing.assert_array_equal(run(False), run(True))


def test_returned_values_are_copies() -> None:
    model = _model(np.float32)
    opt = optim.SGD(model.parameters(), lr=0.5)
    x, y = _data()

    @gw.compile
    def step(xb: Any, yb: Any) -> Any:
        opt.zero_grad()
        out = model(gw.Tensor(xb))
        v = F.cross_entropy(out, yb)
        v.backward()
        opt.step()
        return v, out

    results = [step(x, y) for _ in range(5)]
    kept = [(float(v.item()), o.data.copy()) for v, o in results]
    assert len({k[0] for k in kept}) == 5  # every step's loss differs ...
    for (v, o), (fv, fo) in zip(results, kept, strict=True):  # ... and none was overwritten
        assert float(v.item()) == fv
        np.testing.assert_array_equal(o.data, fo)
        assert not v.requires_grad and v.is_leaf
    assert not np.shares_memory(results[-1][1].data, results[-2][1].data)


def test_too_many_recordings_warn_once_and_run_eagerly() -> None:
    def run(compiled: bool) -> np.ndarray:
        model = _model(np.float32)
        opt = optim.SGD(model.parameters(), lr=0.1)
        x, y = _data()

        step = _ce_step(model, opt)

        fn = gw.compile(step, max_recordings=2) if compiled else step
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(2):
                for n in (10, 11, 12, 13):
                    fn(x[:n], y[:n])
        if compiled:
            assert len([w for w in caught if "recordings" in str(w.message)]) == 1
        return np.concatenate([p.data.ravel() for p in model.parameters()])

    np.testing.assert_array_equal(run(False), run(True))


def test_replay_needs_no_python_ops() -> None:
    """After the recording, a replay builds no graph: no Function is called."""
    model = _model(np.float32)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    x, y = _data()
    calls = []

    @gw.compile
    def step(xb: Any, yb: Any) -> Any:
        calls.append(1)
        opt.zero_grad()
        v = F.cross_entropy(model(gw.Tensor(xb)), yb)
        v.backward()
        opt.step()
        return v

    for _ in range(5):
        step(x, y)
    assert len(calls) == 2  # the eager call and the recording


def _fit(compile: bool | None, monkeypatch: pytest.MonkeyPatch, dtype: Any = np.float32,
         **kw: Any) -> tuple[Any, list[np.ndarray], list[Any]]:
    from gradwise.training import loop

    made: list[Any] = []

    def spy(fn: Any, **k: Any) -> Any:
        made.append(capture.compile(fn, **k))
        return made[-1]

    monkeypatch.setattr(loop, "_compile", spy)
    model = _model(dtype, dropout=0.3)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    sched = schedules.StepLR(opt, 2, gamma=0.5)
    from gradwise.training.callbacks import LearningRateScheduler

    x, y = _data(n=90, dtype=dtype)
    history = gw.fit(model, "cross_entropy", opt, (x, y), epochs=5, batch_size=16,
                     validation_split=0.2, metrics=["accuracy"], verbose=0, seed=4,
                     callbacks=[LearningRateScheduler(sched)], compile=compile, **kw)
    return history.history, [p.data.copy() for p in model.parameters()], made


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fit_compiled_equals_eager(dtype: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dropout, a partial last batch (72 rows in 16s), a schedule, L2, validation, metrics."""
    reg = nn.L1L2(l2=1e-2)
    eager, w_eager, made = _fit(False, monkeypatch, dtype, regularization=reg)
    assert made == []
    comp, w_comp, made = _fit(True, monkeypatch, dtype, regularization=reg)
    assert len(made) == 1 and made[0].replays >= 20
    assert len(made[0].recordings) == 2  # full batches and the last partial one
    assert eager == comp
    for a, b in zip(w_eager, w_comp, strict=True):
        np.testing.assert_array_equal(a, b)


def test_fit_compiles_gradwise_models_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    from gradwise.training import loop

    _, _, made = _fit(None, monkeypatch)
    assert len(made) == 1 and made[0].replays > 0
    model = _model(np.float32)
    assert loop._use_compile(None, model, F.cross_entropy, None)
    assert not loop._use_compile(None, model, lambda o, y: F.cross_entropy(o, y), None)
    big = nn.Sequential(nn.Dense(300, 300))
    assert loop._use_compile(None, big, F.cross_entropy, None)
    assert not loop._use_compile(None, big, F.cross_entropy, lambda m: None)

    class Mine(nn.Module):
        def forward(self, x: Any) -> Any:
            return x

    assert not loop._use_compile(None, nn.Sequential(nn.Dense(2, 2), Mine()), F.mse_loss, None)
    assert loop._use_compile(True, big, F.cross_entropy, None)
    huge = nn.Sequential(nn.Dense(1000, 1001))  # 1,002,001 parameters: measured no faster
    assert not loop._use_compile(None, huge, F.cross_entropy, None)
    assert loop._use_compile(True, huge, F.cross_entropy, None)


@pytest.mark.cuda
def test_fit_compile_on_the_gpu_runs_eagerly_and_equals_the_cpu(fake_gpu: Any,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    """CuPy arrays are not recorded (the GPU design is in gradwise.capture's docstring): the
    step runs eagerly, with the eager step's results."""
    x, y = _data(n=48)

    def run(device: str, compile: bool) -> tuple[Any, list[np.ndarray]]:
        model = _model(np.float32, dropout=0.0).to(device)
        opt = optim.Adam(model.parameters(), lr=1e-2)
        h = gw.fit(model, "cross_entropy", opt, (x, y), epochs=3, batch_size=16, verbose=0,
                   seed=1, compile=compile)
        return h.history, [p.numpy() for p in model.parameters()]

    gpu_eager, gpu_compiled = run("cuda", False), run("cuda", True)
    assert gpu_eager[0] == gpu_compiled[0]
    for a, b in zip(gpu_eager[1], gpu_compiled[1], strict=True):
        np.testing.assert_array_equal(a, b)


def test_config_key_training_compile() -> None:
    from gradwise.training.config import ConfigError, load_config

    assert load_config(overrides=["training.compile=true"])["training"]["compile"] is True
    assert "compile" not in load_config()["training"]
    with pytest.raises(ConfigError, match="training.compile"):
        load_config(overrides=["training.compile=3"])


def test_optimizer_replay_plan_and_a_state_loaded_between_replays() -> None:
    """The optimizer's step replays through its plan (no checks); a state_dict loaded between
    replays (new state arrays) makes the plan call step() again, with eager's results."""
    def run(compiled: bool) -> tuple[np.ndarray, Any]:
        model = _model(np.float32)
        opt = optim.Adam(model.parameters(), lr=1e-2, amsgrad=True)
        x, y = _data()

        step = _ce_step(model, opt)

        fn = gw.compile(step) if compiled else step
        for _ in range(3):
            fn(x, y)
        saved = opt.state_dict()
        for _ in range(3):
            fn(x, y)
        opt.load_state_dict(saved)
        for _ in range(3):
            fn(x, y)
        return np.concatenate([p.data.ravel() for p in model.parameters()]), fn

    eager, _ = run(False)
    comp, fn = run(True)
    np.testing.assert_array_equal(eager, comp)
    rec = next(iter(fn.recordings.values()))
    assert any(getattr(op, "__name__", "") == "replay" for op in rec.ops)


def test_steps_compiled_in_threads_at_once_equal_eager() -> None:
    """Playground sessions train in threads: recordings in one thread leave another's eager
    and compiled steps alone (dropout from each model's own generator)."""
    import threading

    def make(seed: int) -> tuple[Any, Any]:  # in the main thread: init draws from gradwise's
        model = _model(np.float32, dropout=0.3)  # default generator
        model[1].generator = np.random.default_rng(seed)
        return model, optim.Adam(model.parameters(), lr=1e-2)

    def run(compiled: bool, seed: int, out: dict[int, np.ndarray], made: Any) -> None:
        model, opt = made
        x, y = _data(seed=seed)

        step = _ce_step(model, opt)

        fn = gw.compile(step) if compiled else step
        for _ in range(30):
            fn(x[:16], y[:16])
            fn(x[16:], y[16:])
        out[seed] = np.concatenate([p.data.ravel() for p in model.parameters()])

    eager: dict[int, np.ndarray] = {}
    for seed in range(4):
        run(False, seed, eager, make(seed))
    comp: dict[int, np.ndarray] = {}
    threads = [threading.Thread(target=run, args=(seed % 2 == 0, seed, comp, make(seed)))
               for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for seed in range(4):
        np.testing.assert_array_equal(eager[seed], comp[seed])


def test_every_op_replays_exactly() -> None:
    """A step through every differentiable op (broadcasting, reductions, indexing, shapes,
    activations, losses with options), compiled and eager, equal bit for bit."""
    def run(compiled: bool) -> tuple[list[float], np.ndarray]:
        gw.manual_seed(0)
        w = gw.Tensor(np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32),
                      requires_grad=True)
        b = gw.Tensor(np.zeros(6, np.float32), requires_grad=True)
        opt = optim.SGD([w, b], lr=0.05, momentum=0.9)
        x, y = _data(n=8, d=4, classes=6)

        def step(xb: Any, yb: Any) -> Any:
            opt.zero_grad()
            t = gw.Tensor(xb)
            h = F.matmul(t, w) + b
            parts = [h.relu(), h.sigmoid(), h.tanh(), h.leaky_relu(0.1), h.softplus(),
                     F.softmax(h, axis=1), F.log_softmax(h, axis=1), (h * h + 1.0).sqrt(),
                     (h.abs() + 1.0).log(), h.clip(-0.5, 0.5), (h * 0.1).exp(), h ** 2,
                     2.0 ** (h * 0.1), h / (h.abs() + 1.0), -h, 1.0 - h]
            z = F.stack(parts, axis=0).sum(axis=0) + F.concatenate([h[:, :3], h[:, 3:]], axis=1)
            z = F.where(z > 0, z, z * 0.5).reshape(8, 6).transpose().transpose()
            z = z + h.max(axis=1, keepdims=True) - h.min(axis=0) + h.mean() + F.logsumexp(h, 1)[
                :, None]
            z = z[[0, 1, 2, 3, 4, 5, 6, 7, 0]][:8] * 0.01
            loss = (F.cross_entropy(z, yb, label_smoothing=0.1)
                    + F.cross_entropy(z, yb, weight=np.linspace(1, 2, 6).astype(np.float32))
                    + F.huber_loss(z, gw.Tensor(np.zeros((8, 6), np.float32)), delta=0.3)
                    + F.l1_loss(z, gw.Tensor(np.ones((8, 6), np.float32)))
                    + F.binary_cross_entropy_with_logits(
                        z, gw.Tensor(np.full((8, 6), 0.3, np.float32)),
                        pos_weight=np.full(6, 2.0, np.float32))
                    + F.binary_cross_entropy(z.sigmoid(), gw.Tensor(np.full((8, 6), 0.7,
                                                                            np.float32))))
            loss.backward()
            optim.clip_grad_norm_([w, b], 1.0)
            opt.step()
            return loss

        fn = gw.compile(step) if compiled else step
        losses = [float(fn(x, y).item()) for _ in range(5)]
        assert not compiled or fn.replays == 3
        assert len(set(losses)) == 5
        return losses, np.concatenate([w.data.ravel(), b.data.ravel()])

    eager, comp = run(False), run(True)
    assert eager[0] == comp[0]
    np.testing.assert_array_equal(eager[1], comp[1])


def test_environment_turns_fits_default_off_and_on(monkeypatch: pytest.MonkeyPatch) -> None:
    from gradwise.training import loop

    model = _model(np.float32)
    monkeypatch.setenv("GRADWISE_COMPILE", "0")
    assert not loop._use_compile(None, model, F.cross_entropy, None)
    assert loop._use_compile(True, model, F.cross_entropy, None)
    monkeypatch.setenv("GRADWISE_COMPILE", "1")
    assert loop._use_compile(None, model, lambda o, y: F.cross_entropy(o, y), None)


def test_replay_warns_where_eager_warns_and_only_there() -> None:
    """BCE takes the log of saturated probabilities under its own np.errstate: no warning,
    eager or replayed; a log of zero outside any errstate warns in both."""
    w = gw.Tensor(np.full((2, 1), 50.0, np.float32), requires_grad=True)
    opt = optim.SGD([w], lr=0.0)
    x = np.ones((4, 2), np.float32)
    y = np.array([[0.0], [1.0], [0.0], [1.0]], np.float32)

    @gw.compile
    def step(xb: Any, yb: Any) -> Any:
        opt.zero_grad()
        p = F.matmul(gw.Tensor(xb), w).sigmoid()  # exactly 1.0: log(1 - p) = -inf
        loss = F.binary_cross_entropy(p, yb)
        loss.backward()
        opt.step()
        return loss

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(4):
            step(x, y)
    assert step.replays == 2

    @gw.compile
    def bare(xb: Any, yb: Any) -> Any:
        opt.zero_grad()
        loss = (F.matmul(gw.Tensor(xb), w) * 0.0).log().sum()  # log(0): a warning
        return loss

    for _ in range(3):
        with pytest.warns(RuntimeWarning, match="divide by zero"):
            bare(x, y)


def test_a_schedule_stepped_inside_the_step_is_live() -> None:
    def run(compiled: bool) -> tuple[np.ndarray, float]:
        model = _model(np.float32)
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        sched = schedules.SequentialLR(opt, [schedules.LinearWarmup(opt, total_iters=3),
                                             schedules.ExponentialLR(opt, 0.8)], milestones=[3])
        x, y = _data()

        def step(xb: Any, yb: Any) -> Any:
            opt.zero_grad()
            v = F.cross_entropy(model(gw.Tensor(xb)), yb)
            v.backward()
            opt.step()
            sched.step()
            return v

        fn = gw.compile(step) if compiled else step
        for _ in range(8):
            fn(x, y)
        return np.concatenate([p.data.ravel() for p in model.parameters()]), opt.param_groups[
            0]["lr"]

    eager, comp = run(False), run(True)
    assert eager[1] == comp[1]
    np.testing.assert_array_equal(eager[0], comp[0])


def test_a_module_attribute_changed_between_steps_records_afresh() -> None:
    """A dropout rate is Python state the recording read: assigning it records again."""
    def run(compiled: bool) -> np.ndarray:
        model = _model(np.float32, dropout=0.2)
        opt = optim.SGD(model.parameters(), lr=0.1)
        x, y = _data()

        step = _ce_step(model, opt)

        fn = gw.compile(step) if compiled else step
        gw.manual_seed(1)
        for i in range(8):
            if i == 4:
                model[1].p = 0.6
            fn(x, y)
        return np.concatenate([p.data.ravel() for p in model.parameters()])

    np.testing.assert_array_equal(run(False), run(True))


def test_stop_training_flag_does_not_record_again() -> None:
    model = _model(np.float32)
    opt = optim.SGD(model.parameters(), lr=0.1)
    x, y = _data()

    step = gw.compile(_ce_step(model, opt))

    for _ in range(6):
        step(x, y)
        model.stop_training = False  # as fit's MPI loop does after every step
    assert step.replays == 4


def test_a_check_of_values_is_repeated_at_every_replay() -> None:
    """BCE's probability check is one recorded call: a replay with inputs outside [0, 1]
    raises as the eager step does."""
    w = gw.Tensor(np.eye(2, 1, dtype=np.float32), requires_grad=True)
    opt = optim.SGD([w], lr=0.0)
    y = np.zeros((4, 1), np.float32)

    @gw.compile
    def step(xb: Any, yb: Any) -> Any:
        opt.zero_grad()
        loss = F.binary_cross_entropy(F.matmul(gw.Tensor(xb), w), yb)
        loss.backward()
        opt.step()
        return loss

    good = np.full((4, 2), 0.5, np.float32)
    for _ in range(3):
        step(good, y)
    assert step.replays == 1
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        step(good * 3.0, y)
    with pytest.raises(ValueError, match="out of range for 3 classes"):
        model = _model(np.float32)
        opt2 = optim.SGD(model.parameters(), lr=0.1)

        @gw.compile
        def ce(xb: Any, yb: Any) -> Any:
            opt2.zero_grad()
            v = F.cross_entropy(model(gw.Tensor(xb)), yb)
            v.backward()
            opt2.step()
            return v

        x, labels = _data()
        for _ in range(3):
            ce(x, labels)
        ce(x, labels + 1)  # the label 3 is out of range
