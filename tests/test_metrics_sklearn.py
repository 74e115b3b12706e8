"""precision, recall, F1, ROC AUC and MAE against scikit-learn, in fit/evaluate and as the
config's early-stopping monitor; a fresh Module has stop_training = False."""

from __future__ import annotations

import numpy as np
import pytest

import gates
import gradwise as gw
from gradwise.training import metrics as M

sk = gates.sklearn_metrics()
RNG = np.random.default_rng(3)


def _binary(n=200):
    y = RNG.integers(0, 2, (n, 1)).astype(float)
    logits = RNG.standard_normal((n, 1)) + 1.2 * (y - 0.5)
    logits[:20] = np.round(logits[:20])  # ties in the scores
    return logits, y


def test_binary_metrics_match_sklearn():
    out, y = _binary()
    yt, pred = y.ravel().astype(int), (out.ravel() > 0).astype(int)
    assert M._precision(out, y, 0.0) == pytest.approx(sk.precision_score(yt, pred), abs=1e-12)
    assert M._recall(out, y, 0.0) == pytest.approx(sk.recall_score(yt, pred), abs=1e-12)
    assert M._f1(out, y, 0.0) == pytest.approx(sk.f1_score(yt, pred), abs=1e-12)
    assert M._auc(out, y, 0.0) == pytest.approx(sk.roc_auc_score(yt, out.ravel()), abs=1e-12)
    prob = 1 / (1 + np.exp(-out))
    assert M._precision(prob, y, 0.5) == pytest.approx(sk.precision_score(yt, pred), abs=1e-12)


def test_multiclass_metrics_match_sklearn_macro_and_ovr():
    y = RNG.integers(0, 4, 300)
    out = RNG.standard_normal((300, 4)) + 1.5 * np.eye(4)[y]
    pred = out.argmax(1)
    for name, ref in [("precision", sk.precision_score), ("recall", sk.recall_score),
                      ("f1", sk.f1_score)]:
        assert M.EPOCH_METRICS[name](out, y, 0.0) == pytest.approx(
            ref(y, pred, average="macro"), abs=1e-12)
        onehot = np.eye(4)[y]
        assert M.EPOCH_METRICS[name](out, onehot, 0.0) == pytest.approx(
            ref(y, pred, average="macro"), abs=1e-12)
    e = np.exp(out - out.max(1, keepdims=True))
    prob = e / e.sum(1, keepdims=True)
    ref = sk.roc_auc_score(y, prob, multi_class="ovr")
    assert M._auc(out, y, 0.0) == pytest.approx(ref, abs=1e-12)
    assert M._auc(prob, y, 0.0) == pytest.approx(ref, abs=1e-12)


def test_zero_division_and_single_class():
    out = np.full((5, 1), -3.0)
    y = np.array([[1.0], [0], [1], [0], [0]])
    assert M._precision(out, y, 0.0) == 0.0 == sk.precision_score(
        y.ravel(), np.zeros(5), zero_division=0)
    assert np.isnan(M._auc(out, np.zeros((5, 1)), 0.0))


def test_fit_and_evaluate_report_them_like_sklearn():
    X, y = gw.data.moons(300, noise=0.25, seed=0)
    y = y.reshape(-1, 1).astype(np.float32)
    X = X.astype(np.float32)
    gw.manual_seed(0)
    model = gw.nn.Sequential(gw.nn.Dense(2, 16, activation="relu"), gw.nn.Dense(16, 1))
    names = ["precision", "recall", "f1", "auc", "mae"]
    h = gw.fit(model, "bce_with_logits", gw.optim.Adam(model.parameters(), lr=0.01), (X, y),
               epochs=3, batch_size=32, validation_data=(X, y), metrics=names, verbose=0, seed=0)
    for n in names:
        assert len(h.history[n]) == 3 and len(h.history["val_" + n]) == 3
    res = gw.evaluate(model, "bce_with_logits", (X, y), metrics=names)
    out = gw.predict(model, X).astype(np.float64)
    yt, pred = y.ravel().astype(int), (out.ravel() > 0).astype(int)
    assert res["precision"] == pytest.approx(sk.precision_score(yt, pred), abs=1e-12)
    assert res["recall"] == pytest.approx(sk.recall_score(yt, pred), abs=1e-12)
    assert res["f1"] == pytest.approx(sk.f1_score(yt, pred), abs=1e-12)
    assert res["auc"] == pytest.approx(sk.roc_auc_score(yt, out.ravel()), abs=1e-6)
    assert res["mae"] == pytest.approx(sk.mean_absolute_error(y.ravel(), out.ravel()), rel=1e-5)
    assert h.history["val_auc"][-1] == pytest.approx(res["auc"], abs=1e-12)


def test_early_stopping_monitors_f1_upwards():
    assert M.direction("f1") == "up" and M.direction("auc") == "up"
    es = gw.callbacks.EarlyStopping(monitor="val_auc", patience=0)
    model = gw.nn.Sequential(gw.nn.Dense(2, 1))
    es.set_model(model)
    es.on_train_begin({})
    es.on_epoch_end(0, {"val_auc": 0.7})
    es.on_epoch_end(1, {"val_auc": 0.8})
    assert not model.stop_training
    es.on_epoch_end(2, {"val_auc": 0.75})
    assert model.stop_training


def test_fresh_module_has_stop_training_false():
    assert gw.nn.Module().stop_training is False
    assert gw.nn.Sequential(gw.nn.Dense(2, 1)).stop_training is False


def test_unknown_metric_lists_all():
    with pytest.raises(ValueError, match="'auc'.*'f1'"):
        M.check_metrics(["roc"])


@pytest.mark.slow
def test_config_early_stopping_monitors_val_f1(tmp_path):
    import json

    from gradwise.cli import main
    out = tmp_path / "run"
    code = main(["train", "--out", str(out), "--quiet", "--set", "training.epochs=3",
                 "--set", "data.n=200", "--set", "model.hidden=[8]",
                 "--set", 'training.early_stopping.monitor="val_f1"',
                 "--set", 'schedule.name="onecycle"', "--set", "schedule.max_lr=0.05",
                 "--set", "schedule.total_steps=3"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["monitor"] == "val_f1"
    assert 0.0 <= summary["saved_model"]["validation"]["f1"] <= 1.0


def test_training_pass_metrics_match_sklearn_when_the_weights_stay():
    """With lr = 0 the weights never change, so the metrics fit accumulates over the shuffled
    training batches equal scikit-learn's on the whole set."""
    X, y = gw.data.moons(200, noise=0.3, seed=1)
    y = y.reshape(-1, 1).astype(np.float32)
    gw.manual_seed(2)
    model = gw.nn.Sequential(gw.nn.Dense(2, 8, activation="tanh"), gw.nn.Dense(8, 1))
    h = gw.fit(model, "bce_with_logits", gw.optim.SGD(model.parameters(), lr=0.0), (X, y),
               epochs=1, batch_size=16, metrics=["precision", "recall", "f1", "auc"],
               verbose=0, seed=0)
    out = gw.predict(model, X).astype(np.float64).ravel()
    yt, pred = y.ravel().astype(int), (out > 0).astype(int)
    assert h.history["precision"][0] == pytest.approx(sk.precision_score(yt, pred), abs=1e-12)
    assert h.history["recall"][0] == pytest.approx(sk.recall_score(yt, pred), abs=1e-12)
    assert h.history["f1"][0] == pytest.approx(sk.f1_score(yt, pred), abs=1e-12)
    assert h.history["auc"][0] == pytest.approx(sk.roc_auc_score(yt, out), abs=1e-6)
