"""Callbacks: call order, the shared logs dict, stopping, TerminateOnNaN, CSVLogger,
ModelCheckpoint and LearningRateScheduler."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

import gradwise as gw
from gradwise.training.callbacks import (
    Callback,
    CallbackList,
    CSVLogger,
    LearningRateScheduler,
    ModelCheckpoint,
    TerminateOnNaN,
)


def setup(n: int = 40, seed: int = 0) -> tuple[gw.nn.Module, object, tuple]:
    X, y = gw.data.gauss(n=n, seed=seed)
    gw.manual_seed(seed)
    model = gw.nn.Sequential(gw.nn.Dense(2, 8, activation="relu"), gw.nn.Dense(8, 1))
    return model, gw.optim.SGD(model.parameters(), lr=0.1), (X, y)


class Recorder(Callback):
    def __init__(self, name: str, events: list, write: str | None = None) -> None:
        super().__init__()
        self.name, self.events, self.write = name, events, write

    def on_train_begin(self, logs=None):
        self.events.append((self.name, "train_begin"))

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append((self.name, "epoch_begin", epoch))

    def on_train_batch_begin(self, batch, logs=None):
        self.events.append((self.name, "batch_begin", batch))

    def on_train_batch_end(self, batch, logs=None):
        self.events.append((self.name, "batch_end", batch, "loss" in logs))

    def on_epoch_end(self, epoch, logs=None):
        self.events.append((self.name, "epoch_end", epoch, dict(logs)))
        if self.write:
            logs[self.write] = float(epoch)

    def on_train_end(self, logs=None):
        self.events.append((self.name, "train_end"))


def test_hooks_run_in_list_order_with_one_shared_logs_dict() -> None:
    model, opt, data = setup(n=20)
    events: list = []
    a, b = Recorder("a", events, write="seen_by_b"), Recorder("b", events)
    h = gw.fit(model, "bce_with_logits", opt, data, epochs=2, batch_size=10,
               callbacks=[a, b], verbose=0)
    kinds = [(e[0], e[1]) for e in events]
    per_epoch = [("a", "epoch_begin"), ("b", "epoch_begin")] + [
        ("a", "batch_begin"), ("b", "batch_begin"), ("a", "batch_end"), ("b", "batch_end")] * 2 + [
        ("a", "epoch_end"), ("b", "epoch_end")]
    assert kinds == [("a", "train_begin"), ("b", "train_begin"), *per_epoch, *per_epoch,
                     ("a", "train_end"), ("b", "train_end")]
    b_epoch_ends = [e[3] for e in events if e[:2] == ("b", "epoch_end")]
    assert [logs["seen_by_b"] for logs in b_epoch_ends] == [0.0, 1.0]
    assert h.history["seen_by_b"] == [0.0, 1.0]  # History runs after the user's callbacks
    assert all(e[3] for e in events if e[1] == "batch_end")
    assert a.model is model and a.optimizer is opt and a.params["steps"] == 2


class Setter(Recorder):
    def set_model(self, model):
        super().set_model(model)
        self.events.append((self.name, "set_model"))

    def set_optimizer(self, optimizer):
        super().set_optimizer(optimizer)
        self.events.append((self.name, "set_optimizer"))

    def set_params(self, params):
        super().set_params(params)
        self.events.append((self.name, "set_params"))


def test_callback_list_dispatches_every_hook_in_order_with_one_logs_dict() -> None:
    events: list = []
    a = Setter("a", events, write="seen_by_b")
    cbs = CallbackList([a])
    cbs.append(Setter("b", events))
    model, opt, params = object(), object(), {"epochs": 1}
    cbs.set_model(model)
    cbs.set_optimizer(opt)
    cbs.set_params(params)
    logs: dict = {}
    cbs.on_train_begin(logs)
    cbs.on_epoch_begin(0, logs)
    cbs.on_train_batch_begin(0, {"size": 2})
    cbs.on_train_batch_end(0, {"size": 2, "loss": 1.0})
    cbs.on_epoch_end(0, logs)
    cbs.on_train_end()  # logs=None becomes a dict
    kinds = [(e[0], e[1]) for e in events]
    assert kinds == [(n, hook) for hook in [
        "set_model", "set_optimizer", "set_params", "train_begin", "epoch_begin", "batch_begin",
        "batch_end", "epoch_end", "train_end"] for n in "ab"]
    assert [e[3] for e in events if e[1] == "batch_end"] == [True, True]
    assert [e[3] for e in events if e[1] == "epoch_end"] == [{}, {"seen_by_b": 0.0}]
    assert logs == {"seen_by_b": 0.0}  # the caller's dict, not a copy
    assert [type(cb) for cb in cbs] == [Setter, Setter] and len(cbs) == 2
    assert cbs.model is model and all(cb.model is model and cb.optimizer is opt
                                      and cb.params is params for cb in cbs)
    assert gw.callbacks.CallbackList is CallbackList


class StopAt(Callback):
    def __init__(self, epoch: int, batch: int) -> None:
        super().__init__()
        self.at = (epoch, batch)
        self.epoch = 0
        self.epoch_ends: list[int] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_ends.append(epoch)


def test_model_stop_training_ends_the_epoch_after_the_batch() -> None:
    model, opt, data = setup(n=40)
    stop = StopAt(1, 0)
    h = gw.fit(model, "bce_with_logits", opt, data, epochs=5, batch_size=10,
               validation_data=data, callbacks=[stop], verbose=0)
    assert h.epoch == [0, 1] and stop.epoch_ends == [0, 1]
    assert len(h.history["val_loss"]) == 2


def test_terminate_on_nan_says_where(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    model, opt, (X, y) = setup(n=40)
    X = X.copy()
    X[25] = np.nan  # third batch of ten, second epoch never starts
    cb = TerminateOnNaN()
    ckpt = tmp_path / "ckpt.safetensors"
    h = gw.fit(model, "bce_with_logits", opt, (X, y), epochs=3, batch_size=10, shuffle=False,
               callbacks=[cb], verbose=0, checkpoint_path=ckpt)
    assert cb.stopped_at == (0, 2)
    assert "epoch 1, step 3" in capsys.readouterr().out
    assert h.epoch == [0] and math.isnan(h.history["loss"][0])
    assert not ckpt.exists()  # an interrupted epoch is never checkpointed


def test_csv_logger_writes_complete_rows_and_appends(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    model, opt, data = setup()
    seen = []

    class Peek(Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(path.read_text().count("\n"))

    gw.fit(model, "bce_with_logits", opt, data, epochs=3, metrics=["accuracy"],
           callbacks=[CSVLogger(path), Peek()], verbose=0)
    assert seen == [2, 3, 4]  # header + one complete row per finished epoch
    rows = list(csv.DictReader(path.open()))
    assert list(rows[0]) == ["epoch", "accuracy", "loss", "lr"]
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    gw.fit(model, "bce_with_logits", opt, data, epochs=2, metrics=["accuracy"],
           callbacks=[CSVLogger(path, append=True)], verbose=0)
    assert len(list(csv.DictReader(path.open()))) == 5
    gw.fit(model, "bce_with_logits", opt, data, epochs=1, metrics=["accuracy"],
           callbacks=[CSVLogger(path)], verbose=0)
    assert len(list(csv.DictReader(path.open()))) == 1
    assert not list(tmp_path.glob(".*tmp"))


def test_model_checkpoint_every_epoch(tmp_path: Path) -> None:
    model, opt, data = setup()
    cb = ModelCheckpoint(tmp_path / "w-{epoch:02d}.safetensors")
    gw.fit(model, "bce_with_logits", opt, data, epochs=3, callbacks=[cb], verbose=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "w-01.safetensors", "w-02.safetensors", "w-03.safetensors"]
    other = gw.nn.Sequential(gw.nn.Dense(2, 8, activation="relu"), gw.nn.Dense(8, 1))
    gw.load(other, tmp_path / "w-03.safetensors")
    for a, b in zip(model.parameters(), other.parameters(), strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize(("monitor", "values", "saved"), [
    ("val_loss", [1.0, 0.8, 0.8, 0.9, 0.5, math.nan], [1, 2, 5]),
    ("val_accuracy", [0.5, 0.4, 0.7, 0.7], [1, 3]),
])
def test_model_checkpoint_best_only(tmp_path: Path, monitor: str, values: list,
                                    saved: list) -> None:
    model, _, _ = setup()
    cb = ModelCheckpoint(tmp_path / "best-{epoch}.safetensors", monitor=monitor,
                         save_best_only=True)
    cb.set_model(model)
    cb.on_train_begin({})
    for epoch, v in enumerate(values):
        cb.on_epoch_end(epoch, {monitor: v})
    assert sorted(int(p.stem.split("-")[1]) for p in tmp_path.iterdir()) == saved


def test_model_checkpoint_mode_max_and_missing_metric(tmp_path: Path) -> None:
    model, _, _ = setup()
    cb = ModelCheckpoint(tmp_path / "m.safetensors", monitor="val_loss", mode="max",
                         save_best_only=True)
    cb.set_model(model)
    cb.on_epoch_end(0, {"val_loss": 1.0})
    with pytest.warns(UserWarning, match="not available"):
        cb.on_epoch_end(1, {})
    cb.on_epoch_end(2, {"val_loss": 2.0})
    assert cb.best == 2.0


def test_learning_rate_scheduler_with_functions_and_schedules() -> None:
    model, opt, data = setup()
    h = gw.fit(model, "bce_with_logits", opt, data, epochs=3,
               callbacks=[LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))], verbose=0)
    assert h.history["lr"] == pytest.approx([0.1, 0.05, 0.1 / 3])
    h = gw.fit(model, "bce_with_logits", opt, data, epochs=3,
               callbacks=[LearningRateScheduler(lambda epoch, lr: lr * 0.5)], verbose=0)
    assert h.history["lr"] == pytest.approx([0.1 / 6, 0.1 / 12, 0.1 / 24])
    opt = gw.optim.SGD(model.parameters(), lr=1.0)
    step = gw.optim.schedules.StepLR(opt, step_size=2, gamma=0.1)
    h = gw.fit(model, "bce_with_logits", opt, data, epochs=5,
               callbacks=[LearningRateScheduler(step)], verbose=0)
    assert h.history["lr"] == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01])
    opt = gw.optim.SGD(model.parameters(), lr=0.0)  # no learning: loss is flat, a plateau
    plateau = gw.optim.schedules.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    opt.param_groups[0]["lr"] = 1e-12
    h = gw.fit(model, "bce_with_logits", opt, data, epochs=3, validation_data=data,
               callbacks=[LearningRateScheduler(plateau)], verbose=0, shuffle=False)
    assert h.history["lr"] == pytest.approx([1e-12, 1e-12, 5e-13])


def test_learning_rate_scheduler_rejects_non_callables() -> None:
    with pytest.raises(TypeError, match="function of the epoch"):
        LearningRateScheduler(0.1)
