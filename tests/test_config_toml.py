"""Writing configs as TOML (``config.dumps``, by tomli-w): what it writes loads back equal, for
every shape a config takes (nested tables, arrays of tables with their own tables)."""

from __future__ import annotations

import math
import tomllib

import pytest

from gradwise.training.config import default_config, dumps, load_config


def test_dumps_writes_arrays_of_tables_with_nested_tables_and_odd_values() -> None:
    config = {
        "data": {"name": 'quote " and \\ and \n and \x7f', "noise": 1e-300, "n": -(2**62)},
        "training": {"epochs": 3, "early_stopping": {"enabled": True, "baseline": -0.0}},
        "callbacks": [{"name": "model_checkpoint", "filepath": "w.safetensors"}],
        "changes": [{"epoch": 120, "set": {"optimizer.lr": 0.01, "model.dropout": [0.0, 0.5]}},
                    {"epoch": 130, "weights": [{"name": "layers.0.weight", "index": [1, 0],
                                                "value": 0.25}]}],
    }
    back = tomllib.loads(dumps(config))
    assert back == config
    assert math.copysign(1.0, back["training"]["early_stopping"]["baseline"]) == -1.0


def test_dumps_round_trips_configs_exactly_and_refuses_what_toml_cannot_hold() -> None:
    for c in [default_config(), load_config(None, [
            "schedule.name=onecycle", "schedule.max_lr=0.1", "schedule.total_steps=10",
            "model.hidden=[3, 5]", "training.loss=huber"])]:
        assert tomllib.loads(dumps(c)) == c
    with pytest.raises(TypeError):
        dumps({"epochs": 3})  # a config's top level holds tables
    with pytest.raises(TypeError):
        dumps({"data": {"n": None}})
