"""EarlyStopping against Keras 3's semantics (semantics.md section 8), driven directly with
scripted sequences of monitored values and a fake model whose "weights" are the epoch index."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gradwise as gw
from gradwise.training.callbacks import EarlyStopping


class FakeModel:
    """Weights are a single array holding the index of the last epoch that 'trained' it."""

    def __init__(self) -> None:
        self.w = np.array([-1.0])
        self.stop_training = False

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"w": self.w.copy()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.w[...] = state["w"]


def drive(es: EarlyStopping, values: list, monitor: str = "val_loss",
          model: FakeModel | None = None) -> tuple[int, FakeModel]:
    """Run the callback over ``values`` like fit does; return the epochs run and the model."""
    model = model or FakeModel()
    model.stop_training = False
    es.set_model(model)
    es.on_train_begin({})
    ran = 0
    for epoch, v in enumerate(values):
        model.w[...] = epoch
        ran = epoch + 1
        logs = {} if v is None else {monitor: v}
        es.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    es.on_train_end({})
    return ran, model


def test_defaults_are_keras() -> None:
    es = EarlyStopping()
    assert (es.monitor, es.min_delta, es.patience, es.mode, es.baseline,
            es.restore_best_weights, es.start_from_epoch) == ("val_loss", 0, 0, "auto", None,
                                                              False, 0)


def test_patience_zero_stops_at_first_non_improving_epoch() -> None:
    es = EarlyStopping(patience=0)
    ran, _ = drive(es, [1.0, 0.9, 0.95, 0.5])
    assert ran == 3 and es.stopped_epoch == 2 and es.best == 0.9 and es.best_epoch == 1


def test_patience_counts_non_improving_epochs_in_a_row() -> None:
    es = EarlyStopping(patience=2)
    ran, _ = drive(es, [1.0, 0.9, 0.95, 0.8, 0.85, 0.86, 0.1])
    # 0.95 (wait 1), 0.8 improves (wait 0), 0.85 (1), 0.86 (2 >= 2): stop at epoch 5
    assert ran == 6 and es.stopped_epoch == 5 and es.wait == 2 and es.best == 0.8


def test_equal_value_is_not_an_improvement() -> None:
    es = EarlyStopping(patience=0)
    ran, _ = drive(es, [1.0, 1.0, 0.5])
    assert ran == 2 and es.best == 1.0


@pytest.mark.parametrize("delta", [0.25, -0.25])
def test_min_delta_is_absolute_and_strict(delta: float) -> None:
    es = EarlyStopping(min_delta=delta, patience=0)
    assert es.min_delta == 0.25
    ran, _ = drive(es, [1.0, 0.75, 0.5])  # 0.75 + 0.25 < 1.0 is false: no improvement
    assert ran == 2 and es.best == 1.0
    es = EarlyStopping(min_delta=delta, patience=0)
    ran, _ = drive(es, [1.0, 0.625, 0.5, 0.5])  # 0.625 improves; 0.5 + 0.25 < 0.625 false
    assert ran == 3 and es.best == 0.625


def test_min_delta_in_max_mode() -> None:
    es = EarlyStopping(monitor="val_accuracy", min_delta=0.25, patience=0)
    ran, _ = drive(es, [0.25, 0.75, 1.0], monitor="val_accuracy")  # 1.0 - 0.25 > 0.75 false
    assert ran == 3 and es.best == 0.75


def test_auto_mode_maximizes_accuracy_and_minimizes_loss() -> None:
    es = EarlyStopping(monitor="val_accuracy", patience=0)
    ran, _ = drive(es, [0.5, 0.6, 0.7, 0.65], monitor="val_accuracy")
    assert ran == 4 and es.best == 0.7
    es = EarlyStopping(monitor="loss", patience=0)
    ran, _ = drive(es, [0.5, 0.6], monitor="loss")
    assert ran == 2 and es.best == 0.5


def test_explicit_modes_override_the_name() -> None:
    es = EarlyStopping(monitor="val_loss", mode="max", patience=0)
    ran, _ = drive(es, [0.5, 0.6, 0.55])
    assert ran == 3 and es.best == 0.6
    es = EarlyStopping(monitor="val_accuracy", mode="min", patience=0)
    ran, _ = drive(es, [0.5, 0.4, 0.45], monitor="val_accuracy")
    assert ran == 3 and es.best == 0.4


def test_unknown_mode_warns_and_falls_back_to_auto() -> None:
    with pytest.warns(UserWarning, match="mode sideways is unknown"):
        es = EarlyStopping(mode="sideways", patience=0)
    assert es.mode == "auto"
    ran, _ = drive(es, [1.0, 0.5, 0.7])
    assert ran == 3


def test_auto_mode_of_an_unknown_metric_is_an_error() -> None:
    es = EarlyStopping(monitor="val_iou")
    with pytest.raises(ValueError, match="val_iou.*mode='max'"):
        drive(es, [0.5], monitor="val_iou")


def test_improving_without_beating_baseline_never_stops() -> None:
    es = EarlyStopping(patience=0, baseline=0.5)
    ran, _ = drive(es, [1.0, 0.9, 0.8, 0.7, 0.6])
    assert ran == 5 and es.stopped_epoch == 0 and es.wait == 5 and es.best == 0.6


def test_baseline_wait_keeps_counting_through_improvements() -> None:
    # wait is never reset while the baseline is not beaten: the first stall stops at once
    es = EarlyStopping(patience=3, baseline=0.5)
    ran, _ = drive(es, [1.0, 0.9, 0.8, 0.85, 0.1])
    assert ran == 4 and es.stopped_epoch == 3 and es.wait == 4


def test_beating_the_baseline_resets_wait() -> None:
    es = EarlyStopping(patience=1, baseline=0.5)
    ran, _ = drive(es, [0.9, 0.4, 0.45, 0.46])
    # 0.9: wait 1 (kept); 0.4 beats baseline: wait 0; 0.45: wait 1 >= 1 -> stop
    assert ran == 3 and es.stopped_epoch == 2


def test_baseline_in_max_mode() -> None:
    es = EarlyStopping(monitor="accuracy", patience=0, baseline=0.9)
    ran, _ = drive(es, [0.5, 0.6, 0.95, 0.94], monitor="accuracy")
    assert ran == 4 and es.best == 0.95


def test_restore_best_weights_when_early_stopping_stops() -> None:
    es = EarlyStopping(patience=1, restore_best_weights=True)
    ran, model = drive(es, [1.0, 0.5, 0.7, 0.8, 0.1])
    assert ran == 3 and model.w[0] == 1.0 and es.best_epoch == 1


def test_restore_best_weights_when_epochs_run_out() -> None:
    es = EarlyStopping(patience=10, restore_best_weights=True)
    ran, model = drive(es, [1.0, 0.5, 0.7])
    assert ran == 3 and es.stopped_epoch == 0 and model.w[0] == 1.0


def test_restore_best_weights_when_another_callback_stops() -> None:
    es = EarlyStopping(patience=10, restore_best_weights=True)
    model = FakeModel()
    es.set_model(model)
    es.on_train_begin({})
    for epoch, v in enumerate([0.3, 0.5]):
        model.w[...] = epoch
        es.on_epoch_end(epoch, {"val_loss": v})
    model.w[...] = 7  # another callback stopped training after changing the weights
    es.on_train_end({})
    assert model.w[0] == 0.0


def test_no_restore_without_the_flag() -> None:
    es = EarlyStopping(patience=0)
    ran, model = drive(es, [0.5, 0.7])
    assert ran == 2 and model.w[0] == 1.0 and es.best_weights is None


def test_start_from_epoch_ignores_early_epochs_completely() -> None:
    es = EarlyStopping(patience=0, start_from_epoch=2, restore_best_weights=True)
    model = FakeModel()
    es.set_model(model)
    es.on_train_begin({})
    for epoch, v in enumerate([0.1, 0.1]):
        model.w[...] = epoch
        es.on_epoch_end(epoch, {"val_loss": v})
    assert (es.wait, es.best, es.best_weights) == (0, None, None)
    ran, model = drive(es, [0.1, 0.1, 1.0, 0.9, 0.95])
    assert ran == 5 and es.best == 0.9 and es.best_epoch == 3 and model.w[0] == 3.0


def test_missing_metric_warns_and_skips_the_epoch() -> None:
    es = EarlyStopping(patience=0)
    with pytest.warns(UserWarning, match="`val_loss` which is not available"):
        ran, _ = drive(es, [1.0, None, None, 0.9, 1.5])
    assert ran == 5 and es.stopped_epoch == 4 and es.best == 0.9


def test_nan_is_never_an_improvement_over_a_number() -> None:
    es = EarlyStopping(patience=2)
    ran, _ = drive(es, [1.0, math.nan, math.nan, 0.5])
    assert ran == 3 and es.best == 1.0 and es.stopped_epoch == 2


def test_no_stop_check_at_epoch_zero() -> None:
    es = EarlyStopping(patience=0)
    es.set_model(FakeModel())
    es.on_train_begin({})
    es.best = 0.5  # as if left over: epoch 0 never stops training
    es.on_epoch_end(0, {"val_loss": 1.0})
    assert not es.model.stop_training and es.wait == 1


def test_on_train_begin_resets_for_reuse() -> None:
    es = EarlyStopping(patience=0, restore_best_weights=True)
    drive(es, [0.1, 0.2])
    assert es.stopped_epoch == 1
    ran, model = drive(es, [1.0, 0.9, 0.8])  # the stale best 0.1 must not stop this run
    assert ran == 3 and es.best == 0.8 and es.stopped_epoch == 0 and model.w[0] == 2.0


def test_verbose_messages(capsys: pytest.CaptureFixture[str]) -> None:
    es = EarlyStopping(patience=0, verbose=1, restore_best_weights=True)
    drive(es, [1.0, 0.5, 0.7])
    out = capsys.readouterr().out
    assert "Epoch 3: early stopping" in out
    assert "Restoring model weights from the end of the best epoch: 2." in out


@given(st.integers(0, 5), st.integers(0, 6), st.integers(1, 5))
def test_stops_exactly_patience_epochs_after_the_last_improvement(
        patience: int, n_improving: int, extra: int) -> None:
    values = [10.0 - i for i in range(n_improving + 1)] + [20.0] * (patience + extra)
    es = EarlyStopping(patience=patience)
    ran, _ = drive(es, values)
    last_best = n_improving
    expected_stop = last_best + max(patience, 1)
    assert es.stopped_epoch == expected_stop and ran == expected_stop + 1


def test_restores_best_weights_in_fit() -> None:
    X, y = gw.data.gauss(n=200, noise=0.8, seed=1)
    gw.manual_seed(0)
    model = gw.nn.Sequential(gw.nn.Dense(2, 16, activation="relu"), gw.nn.Dense(16, 1))
    opt = gw.optim.Adam(model.parameters(), lr=0.05)
    es = EarlyStopping(patience=3, restore_best_weights=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h = gw.fit(model, "bce_with_logits", opt, (X, y), epochs=40, validation_split=0.3,
                   callbacks=[es], verbose=0, seed=0)
    best = h.history["val_loss"][es.best_epoch]
    assert best == min(h.history["val_loss"])
    assert es.stopped_epoch == h.epoch[-1] > es.best_epoch  # later weights were replaced
    assert h.history["val_loss"][-1] != pytest.approx(best, rel=1e-6)
    val = gw.evaluate(model, "bce_with_logits", (X[140:], y[140:]))
    assert val["loss"] == pytest.approx(best, rel=1e-6)
