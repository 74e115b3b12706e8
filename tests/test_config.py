"""The TOML config of `gradwise train`: defaults, overrides, errors naming the key, writing."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradwise.training.config import (
    ConfigError,
    apply_override,
    default_config,
    dumps,
    load_config,
    validate,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_default_config_is_the_spiral_with_dropout_adam_and_early_stopping() -> None:
    c = default_config()
    assert (c["data"]["source"], c["data"]["name"]) == ("toy", "spiral")
    assert c["model"]["activation"] == "relu" and c["model"]["dropout"] > 0
    assert c["optimizer"]["name"] == "adam"
    es = c["training"]["early_stopping"]
    assert es["enabled"] and es["restore_best_weights"]


def test_missing_keys_take_defaults() -> None:
    c = validate({"data": {"source": "toy", "name": "moons"}})
    assert c["training"]["epochs"] == 100 and c["model"]["hidden"] == [64, 64]
    assert "early_stopping" not in c["training"] and "schedule" not in c


def test_overrides_are_read_as_toml_values() -> None:
    c: dict = {}
    for item in ["training.epochs=5", "optimizer.lr=1e-3", "model.hidden=[8, 4]",
                 "data.name=moons", 'data.noise = 0.1', "data.standardize=false",
                 "training.early_stopping.patience=3"]:
        apply_override(c, item)
    assert c == {"training": {"epochs": 5, "early_stopping": {"patience": 3}},
                 "optimizer": {"lr": 0.001}, "model": {"hidden": [8, 4]},
                 "data": {"name": "moons", "noise": 0.1, "standardize": False}}
    with pytest.raises(ConfigError, match="expected section.key=value"):
        apply_override(c, "epochs=5")


@pytest.mark.parametrize(("override", "message"), [
    ("training.epochs=0", r"training.epochs = 0: expected an integer >= 1"),
    ("training.epochs=2.5", r"training.epochs = 2.5: expected an integer"),
    ("data.nosie=0.1", r"unknown config key data.nosie; accepted keys in \[data\]: .*noise"),
    ("data.name=spirals", r"data.name = 'spirals': expected one of .*'spiral'"),
    ("data.validation_split=1.0", r"validation_split = 1.0: expected a number in \[0.0, 1.0\)"),
    ("model.hidden=[0]", r"model.hidden = \[0\]: expected a list of positive integers"),
    ("model.activation=gelu", r"model.activation = 'gelu': expected one of .*'relu'"),
    ("optimizer.name=adamax", r"optimizer.name = 'adamax': expected one of 'sgd'"),
    ("optimizer.lrr=0.1", r"unknown config key optimizer.lrr for Adam; accepted keys: name, lr"),
    ("schedule.gamma=0.5", r"schedule.name is missing"),
    ("training.early_stopping.patiense=3", r"unknown config key training.early_stopping.patiense"),
    ("training.early_stopping.monitor=val_iou", r"monitor = 'val_iou': expected one of"),
    ("data.path=x.csv", r"data.path does not apply to data.source = 'toy'"),
    ("extra.key=1", r"unknown config section \[extra\]"),
])
def test_errors_name_the_key_and_what_it_accepts(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_schedule_keys_are_checked_against_the_schedule() -> None:
    c = load_config(None, ["schedule.name=step", "schedule.step_size=10"])
    assert c["schedule"] == {"name": "step", "step_size": 10}
    with pytest.raises(ConfigError, match="unknown config key schedule.steps for StepLR"):
        load_config(None, ["schedule.name=step", "schedule.steps=10"])


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[data\nsource = 1\n")
    with pytest.raises(ConfigError, match=r"bad.toml: .*line 1"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.toml")
    bad.write_text('[data]\nsource = "csv"\n')
    with pytest.raises(ConfigError, match=r"bad.toml: config key data.path is missing"):
        load_config(bad)


def test_relative_data_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    cfg = tmp_path / "sub" / "c.toml"
    cfg.write_text('[data]\nsource = "csv"\npath = "../points.csv"\ntarget = "y"\n')
    assert load_config(cfg)["data"]["path"] == str(tmp_path / "points.csv")


def test_dumps_round_trips_the_resolved_config() -> None:
    for c in [default_config(), load_config(None, ["schedule.name=cosine", "schedule.T_max=5",
                                                   "training.early_stopping.baseline=0.5"])]:
        assert tomllib.loads(dumps(c)) == c


@given(st.dictionaries(
    st.sampled_from(["a", "b_c", "d"]),
    st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True),
                    st.one_of(st.booleans(), st.integers(-10**12, 10**12),
                              st.floats(allow_nan=False), st.text(max_size=12),
                              st.lists(st.integers(0, 99), max_size=4)),
                    max_size=4), max_size=3))
def test_dumps_round_trips_any_flat_tables(config: dict) -> None:
    assert tomllib.loads(dumps(config)) == config


def test_spiral_example_is_the_default_run() -> None:
    assert load_config(EXAMPLES / "spiral.toml") == default_config()


@pytest.mark.parametrize("name", ["spiral.toml", "mnist.toml", "csv.toml"])
def test_examples_are_valid(name: str) -> None:
    c = load_config(EXAMPLES / name)
    if c["data"]["source"] == "csv":
        assert Path(c["data"]["path"]).exists()
