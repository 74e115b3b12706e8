"""The one assembly (``gradwise.training.assemble``) and the ``[[changes]]`` config feature:
a config's changes under ``gradwise train`` are the same computation as the same changes made
by hand between ``gw.fit`` calls; changes survive dumps/loads and resume."""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest

import gradwise as gw
from gradwise import backend, nn
from gradwise.cli import main
from gradwise.data.loader import DataLoader
from gradwise.training.assemble import assemble
from gradwise.training.checkpoint import load
from gradwise.training.config import ConfigError, dumps, validate
from gradwise.training.prepare import prepare_data

BASE = {
    "data": {"source": "toy", "name": "spiral", "n": 120, "noise": 0.05, "seed": 1},
    "model": {"hidden": [8, 8], "dropout": 0.0},
    "optimizer": {"name": "adam", "lr": 0.01},
    "training": {"epochs": 7, "batch_size": 16, "seed": 3, "verbose": 0,
                 "early_stopping": {"enabled": False}},
}
CHANGES = [
    {"epoch": 2, "set": {"model.regularization": "l2", "model.regularization_rate": 0.01}},
    {"epoch": 3, "set": {"optimizer.lr": 0.003, "optimizer.betas": [0.8, 0.99]},
     "weights": [{"name": "0.weight", "index": [1, 0], "value": 0.25}]},
    {"epoch": 4, "set": {"training.batch_size": 40, "model.dropout": [0.0, 0.3]}},
]


def config_with_changes() -> dict:
    return validate({**copy.deepcopy(BASE), "changes": copy.deepcopy(CHANGES)})


def by_hand(config: dict) -> tuple[dict[str, np.ndarray], dict[str, list[float]]]:
    """The run of ``config`` (without its changes) built piece by piece, trained in segments
    with the changes made by hand between ``gw.fit`` calls."""
    tcfg = config["training"]
    s = prepare_data(config)
    backend.manual_seed(tcfg["seed"])
    drop = nn.Dropout(0.0)  # the second hidden layer's: a change sets its rate
    model = nn.Sequential(nn.Dense(2, 8, activation="relu"), nn.Dense(8, 8, activation="relu"),
                          drop, nn.Dense(8, 1))
    opt = gw.optim.Adam(model.parameters(), lr=0.01)
    loader = DataLoader((s.X_train, s.y_train), batch_size=16, shuffle=True,
                        generator=tcfg["seed"])
    history: dict[str, list[float]] = {}
    reg = None
    for start, stop in ((0, 2), (2, 3), (3, 4), (4, 7)):
        if start == 2:
            reg = nn.L1L2(l2=0.01)
        if start == 3:
            for g in opt.param_groups:
                g["lr"], g["betas"] = 0.003, (0.8, 0.99)
            model[0].weight.data[1, 0] = 0.25
        if start == 4:
            loader.batch_size = 40
            drop.p = 0.3
        h = gw.fit(model, nn.BCEWithLogitsLoss(), opt, loader, epochs=stop - start,
                   batch_size=16, validation_data=(s.X_val, s.y_val), metrics=["accuracy"],
                   verbose=0, seed=tcfg["seed"] if start == 0 else None, regularization=reg,
                   train_eval=True)
        for k, v in h.history.items():
            history.setdefault(k, []).extend(v)
    return {k: p.data.copy() for k, p in model.named_parameters()}, history


def test_changes_under_train_are_the_same_bits_as_by_hand(tmp_path: Path) -> None:
    config = config_with_changes()
    path = tmp_path / "changes.toml"
    path.write_text(dumps(config))
    run_dir = tmp_path / "run"
    assert main(["train", str(path), "--out", str(run_dir), "--quiet"]) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_run"] == 7
    weights, history = by_hand(config)
    model = assemble(config).model
    load(model, run_dir / "model.safetensors")
    for k, p in model.named_parameters():
        np.testing.assert_array_equal(p.data, weights[k], err_msg=k)
    ran = summary["final"]
    for k in ("loss", "val_loss", "accuracy", "val_accuracy", "lr"):
        assert ran[k] == history[k][-1], k
    # the eval pass over the training set keeps its batches (float32 batch means: equal up
    # to rounding)
    assert ran["train_eval_loss"] == pytest.approx(history["train_eval_loss"][-1], rel=1e-6)
    assert (run_dir / "config.toml").read_text().count("[[changes]]") == 3


def test_changes_round_trip_through_dumps() -> None:
    config = config_with_changes()
    text = dumps(config)
    assert validate(tomllib.loads(text)) == config
    assert '"optimizer.lr" = 0.003' in text


@pytest.mark.parametrize(("change", "words"), [
    ({"epoch": 1, "set": {"model.hidden": [4]}}, "model.hidden cannot change"),
    ({"epoch": 1, "set": {"data.noise": 0.1}}, "data.noise cannot change"),
    ({"epoch": 1, "set": {"optimizer.betas": [2, 0.999]}}, "betas"),
    ({"epoch": 1, "set": {"optimizer.momentum": 0.9}}, "unknown config key optimizer.momentum"),
    ({"epoch": 1, "set": {"training.batch_size": 0}}, "training.batch_size = 0"),
    ({"epoch": 1, "set": {"model.dropout": [0.1]}}, "one rate per hidden layer"),
    ({"epoch": -1, "set": {"optimizer.lr": 0.1}}, "changes.epoch = -1"),
    ({"epoch": 1, "sett": {"optimizer.lr": 0.1}}, "unknown config key changes.sett"),
    ({"epoch": 1}, "changes nothing"),
    ({"epoch": 1, "set": {"schedule.gamma": 0.5}}, "no [schedule]"),
    ({"epoch": 1, "set": {"model.regularization": "l1"}}, "needs model.regularization_rate"),
    ({"epoch": 1, "weights": [{"name": "0.weight", "index": [0], "value": "x"}]},
     "expected a finite number"),
])
def test_bad_changes_are_one_line_config_errors(change: dict, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate({**copy.deepcopy(BASE), "changes": [change]})
    assert words in str(err.value) and "\n" not in str(err.value)


def test_a_bad_change_is_one_line_from_the_command_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[[changes]]\nepoch = 3\nset = { "model.activation" = "tanh" }\n')
    assert main(["train", str(path), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "model.activation cannot change during a run" in err and "\n" not in err
    assert "optimizer.<hyperparameter>" in err and "training.batch_size" in err
    assert not (tmp_path / "run").exists()


def test_changes_the_model_cannot_take_fail_at_assembly() -> None:
    config = validate({**copy.deepcopy(BASE), "changes": [
        {"epoch": 1, "weights": [{"name": "9.weight", "index": [0, 0], "value": 1.0}]}]})
    with pytest.raises(ConfigError, match="9.weight.*parameters are 0.weight"):
        assemble(config)
    exp = assemble(validate(copy.deepcopy(BASE)))
    with pytest.raises(ConfigError, match="built without dropout"):
        exp.changes.add({"epoch": 1, "set": {"model.dropout": 0.2}})
    with pytest.raises(ConfigError, match="outside 0.weight"):
        exp.changes.add({"epoch": 1, "weights": [
            {"name": "0.weight", "index": [5, 0], "value": 1.0}]})


def test_changes_appended_during_training_apply_at_their_epoch() -> None:
    config = config_with_changes()
    whole = assemble(config)
    whole.fit()
    live = assemble(config)  # the same layout (a dropout layer where a change needs one) ...
    live.changes.entries.clear()  # ... and no changes yet

    class Appender(gw.training.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            for c in CHANGES:  # the page appends each change for the next epoch
                if c["epoch"] == epoch + 1:
                    live.changes.add(copy.deepcopy(c))

    live.fit(callbacks=[*live.callbacks, Appender()])
    for (k, a), (_, b) in zip(whole.model.named_parameters(), live.model.named_parameters(),
                              strict=True):
        np.testing.assert_array_equal(a.data, b.data, err_msg=k)
    with pytest.raises(ConfigError, match="has started"):
        live.changes.add({"epoch": 2, "set": {"optimizer.lr": 0.1}})
    # what an export writes: the config that replays the session
    replay = live.replay_config(epochs=7)
    assert validate(tomllib.loads(dumps(replay))) == config


def test_the_training_batch_size_may_change_between_epochs() -> None:
    loader = DataLoader((np.arange(10.0), np.arange(10)), batch_size=4)
    assert [len(b[0]) for b in loader] == [4, 4, 2]
    loader.batch_size = 3
    assert len(loader) == 4 and [len(b[0]) for b in loader] == [3, 3, 3, 1]
    with pytest.raises(ValueError, match="batch_size"):
        loader.batch_size = 0


def test_resume_honours_changes_whose_epoch_passed(tmp_path: Path) -> None:
    config = config_with_changes()
    whole = assemble(config)
    whole.fit()
    ckpt = tmp_path / "ckpt.safetensors"
    first = assemble(config)
    first.fit(epochs=5, checkpoint_path=ckpt)  # stops after the epoch-4 change (batch, dropout)
    second = assemble(config)
    second.fit(resume_from=ckpt)
    assert second.loader.batch_size == 40 and second.regularization.l2 == 0.01
    for (k, a), (_, b) in zip(whole.model.named_parameters(), second.model.named_parameters(),
                              strict=True):
        np.testing.assert_array_equal(a.data, b.data, err_msg=k)


def test_private_generators_draw_the_same_dropout_stream() -> None:
    config = validate({**copy.deepcopy(BASE), "model": {"hidden": [8, 8], "dropout": 0.3}})
    shared, private = assemble(config), assemble(config, private_generators=True)
    shared.fit()
    private.fit()
    for (k, a), (_, b) in zip(shared.model.named_parameters(),
                              private.model.named_parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data, err_msg=k)


def test_assemble_takes_given_arrays_and_never_mutates_the_config() -> None:
    config = validate(copy.deepcopy(BASE))
    before = copy.deepcopy(config)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    exp = assemble(config, arrays=(X, y))
    assert config == before
    assert len(exp.splits.X_train) + len(exp.splits.X_val) == 50
    np.testing.assert_array_equal(exp.preprocessing.transform(exp.preprocessing.raw_train),
                                  exp.splits.X_train)


def test_schedule_and_lr_changes_compose_as_set_by_hand() -> None:
    config = validate({**copy.deepcopy(BASE), "schedule": {"name": "step", "step_size": 1,
                                                           "gamma": 0.5},
                       "optimizer": {"name": "sgd", "lr": 0.1},
                       "changes": [{"epoch": 2, "set": {"schedule.gamma": 0.1}},
                                   {"epoch": 4, "set": {"optimizer.lr": 1.0}}]})
    lr = assemble(config).fit(epochs=6).history["lr"]
    assert lr == pytest.approx([0.1, 0.05, 0.025, 0.0025, 1.0, 0.1])


def test_a_weight_change_sticks_whatever_the_optimizer() -> None:
    for name in ("sgd", "adam", "rmsprop", "adagrad", "adadelta", "adamw"):
        config = validate({**copy.deepcopy(BASE), "optimizer": {"name": name, "lr": 1e-9},
                           "changes": [{"epoch": 1, "weights": [
                               {"name": "0.weight", "index": [1, 2], "value": 100.0}]}]})
        exp = assemble(config)
        exp.fit(epochs=3)
        assert float(exp.model[0].weight.data[1, 2]) == pytest.approx(100.0), name
