"""The playground's library features (input feature maps, L1/L2 regularization, per-layer
dropout) and its Session without a browser: validation of hostile messages, the history the
exported config retrains to with ``gradwise train``, isolation of concurrent sessions, upload,
landscape and model export."""

from __future__ import annotations

import json
import queue
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gradwise as gw
from gradwise import data, nn
from gradwise.playground import session as session_mod
from gradwise.playground import views
from gradwise.training.config import ConfigError, load_config, validate
from gradwise.training.run import build_model, load_run, prepare_data, train

Session = session_mod.Session
SettingsError = session_mod.SettingsError
validate_settings = session_mod.validate_settings


# --- library features ---------------------------------------------------------------------------

def test_feature_map_values_order_and_errors() -> None:
    X = np.array([[0.5, -2.0], [1.0, 3.0]], dtype=np.float32)
    F = data.feature_map(X, ["x1^2", "x1*x2", "sin(x2)", "x1", "x2", "x2^2", "sin(x1)"])
    a, b = X[:, 0], X[:, 1]
    expected = np.stack([a * a, a * b, np.sin(b), a, b, b * b, np.sin(a)], axis=1)
    np.testing.assert_allclose(F, expected, rtol=1e-6)
    assert F.dtype == np.float32
    with pytest.raises(ValueError, match="unknown input feature 'x3'"):
        data.feature_map(X, ["x1", "x3"])
    with pytest.raises(ValueError, match="listed twice"):
        data.feature_map(X, ["x1", "x1"])
    with pytest.raises(ValueError, match="2 coordinates"):
        data.feature_map(np.zeros((3, 3)), ["x1"])


def test_config_features_feed_prepare_data() -> None:
    cfg = load_config(None, ['data.features=["x1", "x2^2", "sin(x1)"]', "data.n=200"])
    splits = prepare_data(cfg)
    assert splits.X_train.shape[1] == 3
    plain = load_config(None, ["data.n=200", "data.standardize=false"])
    raw = prepare_data(plain)
    mapped = load_config(None, ["data.n=200", "data.standardize=false",
                                'data.features=["x1", "x2^2", "sin(x1)"]'])
    np.testing.assert_array_equal(prepare_data(mapped).X_train,
                                  data.feature_map(raw.X_train, ["x1", "x2^2", "sin(x1)"]))
    with pytest.raises(ConfigError, match="data.features"):
        load_config(None, ['data.features=["x1", "cos(x1)"]'])


def test_l1l2_penalty_and_gradient_follow_the_stated_equation() -> None:
    gw.manual_seed(3)
    model = nn.Sequential(nn.Dense(3, 4, activation="tanh"), nn.Dense(4, 1))
    reg = nn.L1L2(l1=0.01, l2=0.1)
    penalty = reg(model)
    assert penalty is not None
    weights = [p.data for p in model.parameters() if p.ndim == 2]
    expected = sum(0.01 * np.abs(w).sum() + 0.05 * (w * w).sum() for w in weights)
    assert float(penalty.item()) == pytest.approx(float(expected), rel=1e-5)
    penalty.backward()
    for p in model.parameters():
        if p.ndim == 2:  # dR/dW = l1 sign(W) + l2 W
            np.testing.assert_allclose(p.grad, 0.01 * np.sign(p.data) + 0.1 * p.data, rtol=1e-5)
        else:  # biases are not penalized
            assert p.grad is None or not np.any(p.grad)
    assert nn.L1L2()(model) is None
    with pytest.raises(ValueError, match="l2"):
        nn.L1L2(l2=-1.0)


def test_fit_with_l2_shrinks_weights_and_config_needs_a_rate() -> None:
    X, y = data.get_toy("circle", n=200, seed=1)

    def weight_norm(regularization: Any) -> float:
        gw.manual_seed(0)
        model = nn.Sequential(nn.Dense(2, 8, activation="tanh"), nn.Dense(8, 1))
        gw.fit(model, "bce_with_logits", gw.optim.SGD(model.parameters(), lr=0.1), (X, y),
               epochs=5, batch_size=20, verbose=0, seed=0, regularization=regularization)
        return sum(float((p.data ** 2).sum()) for p in model.parameters() if p.ndim == 2)

    assert weight_norm(nn.L1L2(l2=0.5)) < weight_norm(None)
    with pytest.raises(ConfigError, match="regularization_rate"):
        validate({"model": {"regularization": "l2"}})
    cfg = validate({"model": {"regularization": "l1", "regularization_rate": 0.01,
                              "dropout": [0.1, 0.0], "activation": "linear"}})
    model = build_model(cfg, 2, 1)
    assert sum(isinstance(m, nn.Dropout) for m in model.modules()) == 1
    with pytest.raises(ConfigError, match="one rate per hidden layer"):
        build_model(validate({"model": {"dropout": [0.1]}}), 2, 1)


# --- validation ---------------------------------------------------------------------------------

@pytest.mark.parametrize("bad, words", [
    ({"hidden": [1_000_000]}, "hidden"),
    ({"hidden": [4] * 7}, "at most 6"),
    ({"hidden": [4, 0]}, "hidden"),
    ({"learning_rate": float("nan")}, "learning_rate"),
    ({"learning_rate": 1e308}, "learning_rate"),
    ({"batch_size": True}, "batch_size"),
    ({"batch_size": 2.5}, "integer"),
    ({"noise": 51}, "noise"),
    ({"n_points": 10**9}, "n_points"),
    ({"features": []}, "features"),
    ({"features": ["x1"] * 100}, "features"),
    ({"dataset": "mnist"}, "dataset"),
    ({"dataset": "upload"}, "upload a CSV"),
    ({"problem": "regression"}, "does not fit"),
    ({"optimizer_params": {"momentum": 0.9}}, "momentum"),
    ({"optimizer": "sgd", "optimizer_params": {"momentum": -1}}, "momentum"),
    ({"dropout": [0.5]}, "one per hidden layer"),
    ({"dropout": [0.95, 0.0]}, "dropout"),
    ({"surprise": 1}, "unknown setting"),
])
def test_validate_settings_refuses_with_one_line(bad: dict[str, Any], words: str) -> None:
    with pytest.raises(SettingsError, match=words) as info:
        validate_settings(bad)
    assert "\n" not in str(info.value)


def test_validate_settings_normalizes() -> None:
    s = validate_settings({"dataset": "regression_gauss", "hidden": [3, 2, 1],
                           "features": ["sin(x1)", "x1"], "optimizer": "sgd",
                           "optimizer_params": {"momentum": 0.9, "nesterov": True}})
    assert s["problem"] == "regression"
    assert s["dropout"] == [0.0, 0.0, 0.0]
    assert s["features"] == ["x1", "sin(x1)"]
    assert s["optimizer_params"] == {"momentum": 0.9, "nesterov": True}


@pytest.mark.parametrize("schedule", ["step", "exponential", "cosine"])
def test_a_bare_schedule_gets_its_defaults_and_trains(schedule: str) -> None:
    """Choosing a schedule without its hyperparameters fills them from the page's defaults
    (StepLR's step_size and cosine's T_max are required by their classes)."""
    s = validate_settings({"schedule": schedule})
    assert s["schedule_params"] == session_mod.defaults()["choices"]["schedules"][schedule]
    session, rec = _session({"schedule": schedule, "n_points": 100})
    try:
        _steps(session, rec, 2)
        assert len(session.history()["loss"]) == 2
    finally:
        session.close()


class Recorder:
    """The emit side of a session: every message, and waiting for one."""

    def __init__(self) -> None:
        self.q: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []

    def __call__(self, msg: dict[str, Any]) -> None:
        self.q.put(msg)

    def wait(self, pred: Any, timeout: float = 30.0) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while True:
            msg = self.q.get(timeout=max(0.01, end - time.monotonic()))
            self.seen.append(msg)
            if pred(msg):
                return msg


def _session(settings: dict[str, Any] | None = None) -> tuple[Any, Recorder]:
    rec = Recorder()
    s = Session(rec)
    s.start()
    rec.wait(lambda m: m["type"] == "state")
    if settings:
        replies = s.handle(json.dumps({"type": "settings", "settings": settings}))
        assert replies[0]["type"] == "settings", replies
        rec.wait(lambda m: m["type"] == "state" and m["epoch"] == 0
                 and m["network"]["layers"][1:-1] == settings.get("hidden", [4, 4]))
    return s, rec


def _steps(s: Any, rec: Recorder, n: int, start: int = 0) -> dict[str, Any]:
    """Step from epoch ``start`` to epoch ``n``; the state of epoch ``n``."""
    for _ in range(n - start):
        s.handle('{"type": "step"}')
    return rec.wait(lambda m: m["type"] == "state" and m["epoch"] >= n)


@pytest.mark.parametrize("raw", [
    "not json", "[" * 100_000, "[]", '{"type": 3}', '{"type": "launch"}',
    '{"type": "play", "extra": 1}', '{"type": "settings"}',
    '{"type": "settings", "settings": {"hidden": [1000000, 1000000]}}',
    '{"type": "landscape", "dims": 3}', '{"type": "landscape", "resolution": 100000}',
    '{"type": "upload", "name": "a.csv", "content": 5}',
    '{"type": "settings", "settings": {"learning_rate": 1e999}}',
    '{"type": "settings", "settings": {"seed": 123456789012345678901234567890}}',
])
def test_hostile_messages_get_an_error_and_change_nothing(raw: str) -> None:
    s, rec = _session()
    before = json.dumps(s.settings, sort_keys=True)
    try:
        replies = s.handle(raw)
        assert [r["type"] for r in replies] == ["error"]
        assert replies[0]["message"] and "\n" not in replies[0]["message"]
        assert json.dumps(s.settings, sort_keys=True) == before
        assert s.handle('{"type": "ping"}') == [{"type": "pong"}]
    finally:
        s.close()


def test_huge_upload_is_refused_before_parsing() -> None:
    s, _ = _session()
    try:
        big = "x1,x2,label\n" + "1,2,0\n" * 300_000
        replies = s.handle(json.dumps({"type": "upload", "name": "big.csv", "content": big}))
        assert replies[0]["type"] == "error" and "limit" in replies[0]["message"]
    finally:
        s.close()


# --- training parity and isolation ----------------------------------------------------------------

RICH = {"hidden": [5, 3], "features": ["x1", "x2", "x1*x2", "sin(x2)"], "dropout": [0.2, 0.0],
        "regularization": "l2", "regularization_rate": 0.003, "optimizer": "sgd",
        "optimizer_params": {"momentum": 0.9, "nesterov": True}, "learning_rate": 0.05,
        "schedule": "step", "schedule_params": {"step_size": 2, "gamma": 0.5},
        "early_stopping": True, "patience": 50, "n_points": 200, "noise": 10, "seed": 7,
        "batch_size": 16, "dataset": "xor", "activation": "relu"}


REGRESSION = {"dataset": "regression_gauss", "hidden": [6], "dropout": [0.1],
              "features": ["x1", "x2", "x1^2", "x2^2"], "optimizer": "adagrad",
              "learning_rate": 0.1, "schedule": "cosine", "schedule_params": {"T_max": 5},
              "regularization": "l1", "regularization_rate": 0.001, "n_points": 150,
              "train_ratio": 70, "seed": 3, "data_seed": 4, "activation": "sigmoid"}


@pytest.mark.parametrize("settings, epochs", [(RICH, 4), (REGRESSION, 3)],
                         ids=["xor-sgd-nesterov-step-l2", "regression-adagrad-cosine-l1"])
def test_exported_config_retrains_to_the_same_history(tmp_path: Path, settings: dict[str, Any],
                                                       epochs: int) -> None:
    s, rec = _session(settings)
    try:
        _steps(s, rec, epochs)
        history = s.history()
        text = s.export_config()
    finally:
        s.close()
    cfg = tomllib.loads(text)
    assert cfg["training"]["epochs"] == epochs
    assert cfg["data"]["features"] == settings["features"]
    (tmp_path / "config.toml").write_text(text)
    config = load_config(tmp_path / "config.toml")
    run_dir, _ = train(config, out=tmp_path / "run", verbose=0)
    ran = load_run(run_dir).history
    assert set(ran) == set(history)
    for k in history:
        assert ran[k] == history[k], k  # bit-identical, not approximately equal


def test_concurrent_sessions_do_not_disturb_each_other() -> None:
    """Two sessions with the same settings trained at once (dropout on) give the same history,
    while a third receives hostile messages."""
    sessions = [_session(RICH) for _ in range(2)]
    hostile, _ = _session()
    try:
        def run(sr: tuple[Any, Recorder]) -> None:
            _steps(sr[0], sr[1], 3)

        threads = [threading.Thread(target=run, args=(sr,)) for sr in sessions]
        for t in threads:
            t.start()
        for raw in ["{", '{"type": "settings", "settings": {"hidden": [9]}}', "[" * 10_000]:
            assert hostile.handle(raw)[0]["type"] == "error"
        for t in threads:
            t.join(60)
        h0, h1 = (s.history() for s, _ in sessions)
        assert len(h0["loss"]) == 3 and h0 == h1
    finally:
        for s, _ in sessions:
            s.close()
        hostile.close()


def test_state_message_heatmaps_and_network() -> None:
    s, rec = _session({"hidden": [3, 2], "features": ["x1", "x2", "x1^2"]})
    try:
        st = _steps(s, rec, 1)
        assert st["network"]["layers"] == [3, 3, 2, 1]
        assert np.array(st["network"]["weights"][0]).shape == (3, 3)
        hm = st["heatmaps"]
        assert hm["encoding"] == "f32-base64" and [len(x) for x in hm["neurons"]] == [3, 3, 2]
        out = np.frombuffer(__import__("base64").b64decode(hm["output"]), "<f4")
        assert out.shape == (2500,) and np.all((out >= 0) & (out <= 1))
        assert st["history_append"]["epoch"] == [1]
        json.dumps(st, allow_nan=False)
    finally:
        s.close()


def test_upload_landscape_and_model_export(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (60, 2))
    y = (X[:, 0] > X[:, 1]).astype(int)
    csv = "a,b,label\n" + "".join(f"{p:.4f},{q:.4f},{c}\n" for (p, q), c in zip(X, y, strict=True))
    s, rec = _session()
    try:
        replies = s.handle(json.dumps({"type": "upload", "name": "mine.csv", "content": csv}))
        assert [r["type"] for r in replies] == ["settings", "data"]
        assert len(replies[1]["train"]) == 30 and s.settings["dataset"] == "upload"
        bad = s.handle(json.dumps({"type": "upload", "name": "bad.csv",
                                   "content": "a,b,label\n1,2,0\n1,x,1\n"}))
        assert bad[0]["message"] == "bad.csv, line 3, column 2 ('b'): 'x' is not a number"
        _steps(s, rec, 2)
        s.handle('{"type": "landscape", "dims": 2, "resolution": 5}')
        land = rec.wait(lambda m: m["type"] == "landscape")
        assert np.array(land["loss"]).shape == (5, 5) and len(land["trajectory"]) == 3
        s.handle('{"type": "landscape", "dims": 1, "resolution": 7}')
        land = rec.wait(lambda m: m["type"] == "landscape")
        assert len(land["loss"]) == 7
        blob = s.export_model()
        assert s.export_points() == csv
        (tmp_path / "model.safetensors").write_bytes(blob)
        (tmp_path / "points.csv").write_text(csv)
        (tmp_path / "config.toml").write_text(s.export_config())
    finally:
        s.close()
    config = load_config(tmp_path / "config.toml")
    model = build_model(config, 2, 1)
    gw.load(model, tmp_path / "model.safetensors")
    assert model.num_parameters() == 2 * 4 + 4 + 4 * 4 + 4 + 4 + 1


# --- issue 23: uploads, hyperparameter ranges, divergence, bounded work ---------------------------

def test_upload_rows_are_counted_for_every_line_ending() -> None:
    """A CSV with CR-only line endings passed 85,000 rows against the limit of 5,000."""
    for end in ("\r", "\r\n", "\n"):
        rows = "x1,x2,label" + end + ("0.1,0.2,1" + end) * 6000
        with pytest.raises(SettingsError, match="6000 rows is more than the limit"):
            session_mod.parse_upload("cr.csv", rows)
    ok = "x1,x2,label\r" + "".join(f"{i / 50:.2f},{-i / 50:.2f},{i % 2}\r" for i in range(40))
    _, X, y = session_mod.parse_upload("old-mac.csv", ok)
    assert X.shape == (40, 2) and list(y[:4]) == [0, 1, 0, 1]


@pytest.mark.parametrize("bad, words", [
    ({"optimizer": "adam", "optimizer_params": {"betas": [2, 0.999]}}, r"betas.*\[0, 1\)"),
    ({"optimizer": "adam", "optimizer_params": {"betas": [0.9, 1.0]}}, "betas"),
    ({"optimizer": "adam", "optimizer_params": {"eps": 0}}, "eps"),
    ({"optimizer": "sgd", "optimizer_params": {"momentum": 1.0}}, "momentum"),
    ({"optimizer": "rmsprop", "optimizer_params": {"alpha": 1.5}}, "alpha"),
    ({"optimizer": "adadelta", "optimizer_params": {"rho": 1}}, "rho"),
    ({"optimizer": "sgd", "optimizer_params": {"maximize": True}}, "maximize"),
    ({"schedule": "step", "schedule_params": {"gamma": -1}}, "gamma"),
    ({"schedule": "step", "schedule_params": {"step_size": 0}}, "step_size"),
    ({"schedule": "exponential", "schedule_params": {"gamma": 1.5}}, "gamma"),
])
def test_hyperparameters_are_range_checked_tightly(bad: dict[str, Any], words: str) -> None:
    with pytest.raises(SettingsError, match=words) as info:
        validate_settings(bad)
    assert "\n" not in str(info.value)


def test_refused_hyperparameters_never_reach_training_or_the_export() -> None:
    s, _ = _session()
    try:
        reply = s.handle(json.dumps({"type": "settings", "settings": {
            "optimizer": "adam", "optimizer_params": {"betas": [2, 0.999]}}}))
        assert reply[0]["type"] == "error" and "betas" in reply[0]["message"]
        cfg = tomllib.loads(s.export_config())
        assert "betas" not in cfg["optimizer"] or cfg["optimizer"]["betas"][0] < 1
        validate(cfg)
    finally:
        s.close()


def test_a_diverging_session_sends_the_command_lines_divergence_line() -> None:
    s, rec = _session({"dataset": "regression_plane", "optimizer": "sgd",
                       "learning_rate": 10.0, "hidden": [8, 8], "activation": "relu",
                       "n_points": 100})
    try:
        s.handle('{"type": "play"}')
        err = rec.wait(lambda m: m["type"] == "error", timeout=60)
        assert err["message"].startswith("diverged: the training loss became nan at epoch")
        assert "lower learning rate" in err["message"] and "JSON" not in err["message"]
        st = rec.wait(lambda m: m["type"] == "state" and m["stopped"])
        assert st["stop_reason"] == "diverged" and not st["playing"]
        for m in rec.seen:
            json.dumps(m, allow_nan=False)  # never "Out of range float values"
        assert s.handle('{"type": "play"}') == []
        assert "diverged" in rec.wait(lambda m: m["type"] == "error")["message"]
    finally:
        s.close()


def test_queued_work_is_bounded_and_dropped_when_the_client_leaves() -> None:
    """300 queued landscape requests then a disconnect kept a core busy for 95 s."""
    s, rec = _session()
    worker = s._worker
    try:
        big = json.dumps({"type": "landscape", "dims": 2, "resolution": 41})
        replies = [s.handle(big) for _ in range(6)]
        limit = session_mod.LIMITS["queued_work"]
        refused = [r for r in replies if r and r[0]["type"] == "error"]
        assert len(refused) == 6 - limit
        assert all(r[0]["message"].startswith("busy:") for r in refused)
        start = time.monotonic()
    finally:
        s.close()
    assert time.monotonic() - start < 5
    assert not worker.thread.is_alive()
    time.sleep(0.2)
    assert not any(m["type"] == "landscape" for m in rec.seen)


# --- issue 20: honest numbers, changes while training, any number of classes, the lessons --------

def _replay(tmp_path: Path, text: str) -> dict[str, list[float]]:
    (tmp_path / "config.toml").write_text(text)
    run_dir, _ = train(load_config(tmp_path / "config.toml"), out=tmp_path / "run", verbose=0)
    return load_run(run_dir).history


def _assert_same_history(ran: dict[str, list[float]], history: dict[str, list[float]]) -> None:
    assert set(ran) == set(history)
    for k in history:
        assert ran[k] == history[k], k  # bit-identical, not approximately equal


LIVE = {"hidden": [5, 3], "features": ["x1", "x2", "x1*x2"], "dropout": [0.2, 0.1],
        "regularization": "l2", "regularization_rate": 0.001, "optimizer": "sgd",
        "learning_rate": 0.05, "optimizer_params": {"momentum": 0.9},
        "schedule": "step", "schedule_params": {"step_size": 3, "gamma": 0.5},
        "n_points": 200, "noise": 10, "seed": 5, "batch_size": 16, "dataset": "xor"}


def test_changes_while_training_apply_without_restart_and_the_export_replays_them(
        tmp_path: Path) -> None:
    s, rec = _session(LIVE)
    try:
        _steps(s, rec, 2)
        changes = [{"learning_rate": 0.01, "batch_size": 7},
                   {"dropout": [0.0, 0.3], "regularization_rate": 0.01},
                   {"optimizer_params": {"momentum": 0.5}},
                   {"schedule_params": {"step_size": 3, "gamma": 0.8}},
                   {"regularization": "l1"}]
        for i, change in enumerate(changes):
            reply = s.handle(json.dumps({"type": "settings", "settings": change}))
            assert reply[0]["type"] == "settings" and reply[0]["applied"] == "live", reply
            st = _steps(s, rec, 3 + i, start=2 + i)
            assert st["epoch"] == 3 + i and st["changes"] == i + 1  # no restart
        assert st["lr"] <= 0.01  # set by hand at epoch 2, then stepped by the schedule
        edit = s.handle(json.dumps({"type": "edit", "layer": 0, "from": 1, "to": 2,
                                    "value": 0.25}))
        assert edit == []
        shown = rec.wait(lambda m: m["type"] == "state" and m["changes"] == len(changes) + 1)
        assert shown["network"]["weights"][0][1][2] == 0.25 and shown["epoch"] == 7
        assert shown["history_append"]["epoch"] == []
        bias = s.handle(json.dumps({"type": "edit", "layer": 2, "bias": 0, "value": -0.5}))
        assert bias == []
        rec.wait(lambda m: m["type"] == "state" and m["changes"] == len(changes) + 2)
        _steps(s, rec, 9, start=7)
        history = s.history()
        text = s.export_config()
    finally:
        s.close()
    cfg = tomllib.loads(text)
    assert [c["epoch"] for c in cfg["changes"]] == [2, 3, 4, 5, 6, 7, 7]
    assert cfg["changes"][0]["set"] == {"optimizer.lr": 0.01, "training.batch_size": 7}
    assert cfg["changes"][5]["weights"][0]["value"] == 0.25
    assert cfg["training"]["epochs"] == 9
    _assert_same_history(_replay(tmp_path, text), history)


@pytest.mark.parametrize("change, live", [
    ({"learning_rate": 0.1}, "live"), ({"hidden": [3]}, "restart"),
    ({"activation": "relu"}, "restart"), ({"seed": 3}, "restart"),
    ({"features": ["x1"]}, "restart"), ({"schedule": "cosine"}, "restart"),
    ({"dropout": [0.5, 0.0]}, "restart"),  # a layer built without dropout: rebuilt
    ({"show_test": True}, "page")])
def test_which_settings_change_live_and_which_restart(change: dict[str, Any], live: str) -> None:
    s, rec = _session()
    try:
        _steps(s, rec, 2)
        reply = s.handle(json.dumps({"type": "settings", "settings": change}))
        assert reply[0]["applied"] == live
        st = rec.wait(lambda m: m["type"] == "state") if live == "restart" else None
        assert st is None or (st["epoch"] == 0 and st["changes"] == 0)
        assert s.epoch == (0 if live == "restart" else 2)
    finally:
        s.close()


def test_the_numbers_shown_are_clean_and_the_penalty_is_apart() -> None:
    """Circle, dropout 0.5, L2: the shown training loss is the clean one (eval mode, no
    penalty), computed as the test loss; the batch mean with dropout and penalty is apart."""
    s, rec = _session({"dropout": [0.5, 0.5], "regularization": "l2",
                       "regularization_rate": 0.05})
    try:
        first = rec.seen[-1]
        assert first["epoch"] == 0 and first["history_append"]["epoch"] == [0]
        assert first["train_loss"] is not None and first["test_loss"] is not None
        assert first["train_accuracy"] is not None and first["batch_loss"] is None
        st = _steps(s, rec, 4)
        h = s.history()
        assert len(h["loss"]) == 4
        assert st["train_loss"] == views.r(h["train_eval_loss"][-1])
        assert st["test_loss"] == views.r(h["val_loss"][-1])
        assert st["batch_loss"] == views.r(h["loss"][-1])
        assert st["train_accuracy"] == views.r(h["train_eval_accuracy"][-1])
        weights = [np.array(w) for w in st["network"]["weights"]]
        assert st["penalty"] == pytest.approx(0.025 * sum((w * w).sum() for w in weights),
                                              rel=1e-3)
        assert st["batch_loss"] > st["train_loss"]  # dropout and penalty make it read high
        assert len(st["per_class_accuracy"]["test"]) == 2
    finally:
        s.close()


def test_early_stopping_shows_the_restored_weights_and_says_so() -> None:
    s, rec = _session({"early_stopping": True, "patience": 2, "optimizer": "sgd",
                       "learning_rate": 5.0, "n_points": 100})
    try:
        s.handle('{"type": "play"}')
        st = rec.wait(lambda m: m["type"] == "state" and m["stopped"], timeout=120)
        h = s.history()
        best = int(np.argmin(h["val_loss"]))
        assert st["stop_reason"] == "early_stopping" and st["restored"]
        assert st["weights_epoch"] == best + 1 and st["epoch"] == len(h["val_loss"])
        assert st["test_loss"] == pytest.approx(h["val_loss"][best], rel=1e-5)
    finally:
        s.close()


def test_three_classes_train_with_softmax_and_the_export_replays(tmp_path: Path) -> None:
    s, rec = _session({"dataset": "three_blobs", "hidden": [4], "n_points": 150})
    try:
        data_msg = [m for m in rec.seen if m["type"] == "data"][-1]
        assert data_msg["classes"] == 3 and data_msg["loss"]["name"] == "cross_entropy"
        assert {int(p[2]) for p in data_msg["train"]} == {0, 1, 2}
        st = _steps(s, rec, 3)
        assert st["network"]["layers"][-1] == 3
        hm = st["heatmaps"]
        assert hm["classes"] == 3 and len(hm["output_probs"]) == 3
        probs = np.stack([np.frombuffer(__import__("base64").b64decode(p), "<f4")
                          for p in hm["output_probs"]])
        np.testing.assert_allclose(probs.sum(axis=0), 1.0, rtol=1e-5)
        klass = np.frombuffer(__import__("base64").b64decode(hm["output_class"]), "<f4")
        np.testing.assert_array_equal(klass, probs.argmax(axis=0))
        assert len(st["per_class_accuracy"]["train"]) == 3
        history, text = s.history(), s.export_config()
    finally:
        s.close()
    _assert_same_history(_replay(tmp_path, text), history)


def test_a_k_class_csv_upload_trains_and_replays(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, (90, 2))
    y = np.digitize(X[:, 0] + 0.3 * X[:, 1], [-0.4, 0.4])  # classes 0, 1, 2
    csv = "a,b,label\n" + "".join(f"{p:.4f},{q:.4f},{c}\n" for (p, q), c in zip(X, y, strict=True))
    s, rec = _session()
    try:
        replies = s.handle(json.dumps({"type": "upload", "name": "three.csv", "content": csv}))
        assert [r["type"] for r in replies] == ["settings", "data"]
        assert replies[1]["classes"] == 3 and replies[1]["scale"] == 1.0
        too_many = "a,b,label\n" + "".join(f"{i},{i},{i % 9}\n" for i in range(30))
        err = s.handle(json.dumps({"type": "upload", "name": "nine.csv", "content": too_many}))
        assert "classes 0 to 7" in err[0]["message"]
        _steps(s, rec, 2)
        history, text = s.history(), s.export_config()
    finally:
        s.close()
    (tmp_path / "points.csv").write_text(csv)
    _assert_same_history(_replay(tmp_path, text), history)


def test_the_default_view_is_learned_and_sin_is_no_copy_of_x() -> None:
    d = session_mod.defaults()["settings"]
    assert d["dataset"] == "circle" and d["hidden"] == [4, 4]
    s, rec = _session()
    try:
        s.handle('{"type": "play"}')
        st = rec.wait(lambda m: m["type"] == "state" and m["epoch"] >= 30, timeout=120)
        assert st["test_loss"] < 0.1 and st["test_accuracy"] > 0.95
        pts = s.data
        for name in ("circle", "spiral"):
            raw = pts.raw_train if name == "circle" else session_mod.build(
                session_mod.settings_to_config(validate_settings({"dataset": name})),
                None).preprocessing.raw_train
            for j in (0, 1):
                assert abs(np.corrcoef(np.sin(raw[:, j]), raw[:, j])[0, 1]) < 0.9
    finally:
        s.close()


def test_optimizer_help_usual_rates_and_schedules_that_do_not_freeze() -> None:
    info = session_mod.defaults()["choices"]["optimizer_info"]
    assert info["adadelta"]["lr"] == 1.0 and info["sgd"]["lr"] == 0.1
    for name, entry in info.items():
        assert entry["help"] and all(p["help"] for p in entry["params"].values()), name
        assert "maximize" not in entry["params"]
    s = validate_settings({"optimizer": "adadelta"}, DEFAULT_SETTINGS)
    assert s["learning_rate"] == 1.0
    assert validate_settings({"optimizer": "sgd", "learning_rate": 0.5},
                             DEFAULT_SETTINGS)["learning_rate"] == 0.5
    sched = session_mod.defaults()["choices"]["schedules"]
    for name, params in sched.items():  # after 1000 epochs the rate is still > 1e-3 of it
        if name == "step":
            assert params["gamma"] ** (1000 // params["step_size"]) > 1e-3
        if name == "exponential":
            assert params["gamma"] ** 1000 > 1e-3


DEFAULT_SETTINGS = session_mod.DEFAULT_SETTINGS


def test_an_optimizer_registered_after_import_trains(tmp_path: Path) -> None:
    """issue 24: the menu and the validation read the registry live."""
    class Plain(gw.optim.SGD):
        """Plain descent registered at runtime."""

    gw.optim.OPTIMIZERS["plain_late"] = Plain
    try:
        assert "plain_late" in session_mod.defaults()["choices"]["optimizers"]
        s, rec = _session({"optimizer": "plain_late", "learning_rate": 0.1})
        try:
            st = _steps(s, rec, 2)
            assert st["epoch"] == 2 and st["train_loss"] is not None
        finally:
            s.close()
    finally:
        del gw.optim.OPTIMIZERS["plain_late"]


def test_backprop_step_is_autograd_and_changes_nothing() -> None:
    s, rec = _session({"hidden": [3, 2], "batch_size": 1})
    try:
        before = _steps(s, rec, 1)
        assert s.handle('{"type": "backprop", "batch": 4, "sample": 0}') == []
        bp = rec.wait(lambda m: m["type"] == "backprop")
        assert bp["epoch"] == 1 and bp["indices"] == [4]
        w = [np.array(x) for x in before["network"]["weights"]]
        a, d = bp["forward"]["a"], bp["delta"]
        for layer, g in enumerate(bp["grads"]["weights"]):  # dJ/dw = a_i * delta_j
            np.testing.assert_allclose(np.array(g), np.outer(a[layer], d[layer]),
                                       rtol=1e-3, atol=1e-7)
        for layer in (1, 2):  # delta[l-1] = f'(z) * (W delta[l])
            np.testing.assert_allclose(
                np.array(d[layer - 1]),
                np.array(bp["forward"]["dadz"][layer - 1]) * (w[layer] @ np.array(d[layer])),
                rtol=1e-3, atol=1e-7)
        upd = np.array(bp["updates"]["weights"][0])
        np.testing.assert_allclose(upd, w[0] - bp["lr"] * np.array(bp["grads"]["weights"][0]),
                                   atol=2e-5)
        after = _steps(s, rec, 2, start=1)
        assert after["epoch"] == 2 and len(s.history()["loss"]) == 2
    finally:
        s.close()


def test_a_refused_edit_says_why() -> None:
    s, _ = _session()
    try:
        for msg, words in [({"layer": 0, "from": 9, "to": 0, "value": 1}, "edit from"),
                           ({"layer": 5, "bias": 0, "value": 1}, "edit layer"),
                           ({"layer": 0, "bias": 0, "value": 1e9}, "edit value"),
                           ({"layer": 0, "bias": 0, "value": float("nan")}, "edit value")]:
            reply = s.handle(json.dumps({"type": "edit", **msg}))
            assert reply[0]["type"] == "error" and words in reply[0]["message"]
    finally:
        s.close()


def test_landscape_directions_follow_the_trajectory() -> None:
    s, rec = _session()
    try:
        _steps(s, rec, 6)
        s.handle('{"type": "landscape", "dims": 1, "resolution": 9}')
        one = rec.wait(lambda m: m["type"] == "landscape")
        assert one["directions"] == "pca" and len(one["explained"]) == 1
        span = max(one["alphas"])
        spread = np.ptp([p[0] for p in one["trajectory"]])
        assert spread > 0.5 * span  # the path is visible, not a vertical line
        lo, hi = one["loss_range"]
        assert lo <= min(one["trajectory_loss"]) and hi >= max(one["loss"])
        s.handle('{"type": "landscape", "dims": 2, "resolution": 7, "directions": "random"}')
        two = rec.wait(lambda m: m["type"] == "landscape")
        assert two["directions"] == "random" and two["explained"] is None
        assert np.array(two["loss"]).shape == (7, 7)
    finally:
        s.close()


def test_a_schedule_that_stalls_training_is_said_in_the_state() -> None:
    s, rec = _session({"schedule": "exponential", "schedule_params": {"gamma": 0.01}})
    try:
        assert _steps(s, rec, 2)["notice"] is None
        st = _steps(s, rec, 5, start=2)  # 0.03 * 0.01^4 < 1e-6 * 0.03
        assert "exponential schedule has lowered the learning rate" in st["notice"]
    finally:
        s.close()


def test_a_refused_upload_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """An upload that parses but cannot be assembled leaves the session's points and settings
    as they were."""
    s, _ = _session()
    try:
        before = json.dumps(s.settings, sort_keys=True)

        def refuse(*args: Any) -> None:
            raise SettingsError("cannot train these points")

        monkeypatch.setattr(session_mod, "build", refuse)
        rows = "".join(f"{i / 10},{i / 20},{i % 2}\n" for i in range(20))
        reply = s.handle(json.dumps({"type": "upload", "name": "odd.csv",
                                     "content": "a,b,label\n" + rows}))
        assert reply == [{"type": "error", "message": "cannot train these points"}]
        assert s.upload is None and json.dumps(s.settings, sort_keys=True) == before
    finally:
        s.close()


def test_a_hyperparameter_left_out_goes_back_to_its_default_live(tmp_path: Path) -> None:
    s, rec = _session({"optimizer": "sgd", "learning_rate": 0.1,
                       "optimizer_params": {"momentum": 0.5}})
    try:
        _steps(s, rec, 1)
        reply = s.handle(json.dumps({"type": "settings", "settings": {"optimizer_params": {}}}))
        assert reply[0]["applied"] == "live"
        _steps(s, rec, 2, start=1)
        history, text = s.history(), s.export_config()
    finally:
        s.close()
    assert tomllib.loads(text)["changes"] == [{"epoch": 1, "set": {"optimizer.momentum": 0.0}}]
    _assert_same_history(_replay(tmp_path, text), history)


def test_a_session_runs_without_threads_driven_from_outside(tmp_path: Path) -> None:
    """issue 21's way: no thread of its own; the driver's poll hands the page's messages to the
    session between epochs. Same protocol, same numbers (the export replays)."""
    rec = Recorder()
    s = Session(rec, threaded=False)
    script = ['{"type": "step"}', '{"type": "step"}',
              json.dumps({"type": "settings", "settings": {"hidden": [3], "seed": 2}}),
              '{"type": "step"}',
              json.dumps({"type": "settings", "settings": {"learning_rate": 0.01}}),
              '{"type": "step"}', '{"type": "landscape", "dims": 1, "resolution": 5}',
              '{"type": "step"}']
    out: dict[str, Any] = {}

    def poll(block: bool) -> None:
        if script:
            s.handle(script.pop(0))
        elif block:  # the page has nothing more to say: export, then leave
            out["history"], out["config"] = s.history(), s.export_config()
            out["model"] = s.export_model()
            s.close()

    threads = threading.active_count()
    s.start()
    s.run(poll)
    assert threading.active_count() == threads  # no thread was started
    states = [m for m in rec.q.queue if m["type"] == "state"]
    assert [m["epoch"] for m in states] == [0, 1, 2, 0, 1, 2, 3]
    assert states[-1]["network"]["layers"] == [2, 3, 1] and states[-1]["changes"] == 1
    assert any(m["type"] == "landscape" for m in rec.q.queue) and len(out["model"]) > 100
    cfg = tomllib.loads(out["config"])
    assert cfg["changes"] == [{"epoch": 1, "set": {"optimizer.lr": 0.01}}]
    _assert_same_history(_replay(tmp_path, out["config"]), out["history"])
