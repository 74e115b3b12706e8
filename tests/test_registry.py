"""The one registry type (``gradwise.registry.Registry``) and its live reading: an entry
registered after import is accepted by config validation, listed by the schema and named in
its error messages, for every registry a config chooses from."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any

import numpy as np
import pytest

import gradwise as gw
from gradwise.registry import Registry, UnknownNameError
from gradwise.training import callbacks, metrics
from gradwise.training import config as cfg


def test_registry_is_a_mapping_with_register_get_and_names() -> None:
    reg: Registry[int] = Registry("number", {"one": 1, "two": 2})
    assert isinstance(reg, Mapping) and isinstance(reg, MutableMapping)
    assert reg.register("three", 3) == 3
    assert reg.names() == ["one", "two", "three"] == list(reg) == list(reg.keys())
    assert reg["two"] == 2 and reg.get("one") == 1 and reg.get("four", None) is None
    assert "one" in reg and "four" not in reg and ["one"] not in reg and len(reg) == 3
    with pytest.raises(UnknownNameError, match=r"^unknown number 'four'; choose one of one, "
                                               r"three, two$"):
        reg.get("four")
    with pytest.raises(ValueError, match="choose one of"):  # also a ValueError
        reg.get(["four"])  # type: ignore[call-overload]
    with pytest.raises(KeyError):
        reg["four"]
    reg.register("one", 11)  # replaces, keeping its place
    reg["five"] = 5  # the same as register
    assert dict(reg) == {"one": 11, "two": 2, "three": 3, "five": 5}
    reg.unregister("five")
    reg.unregister("five")  # absent: no error
    del reg["three"]
    assert reg.names() == ["one", "two"]
    with pytest.raises(ValueError, match="non-empty string"):
        reg.register("", 0)


def test_registry_check_runs_on_every_registration() -> None:
    def positive(name: str, value: int) -> None:
        if value <= 0:
            raise ValueError(f"{name} must be positive")

    reg: Registry[int] = Registry("count", {"a": 1}, check=positive)
    with pytest.raises(ValueError, match="b must be positive"):
        reg["b"] = 0
    assert reg.names() == ["a"]


def test_monkeypatch_setitem_registers_and_restores(monkeypatch: pytest.MonkeyPatch) -> None:
    before = gw.optim.OPTIMIZERS.names()
    with monkeypatch.context() as m:
        m.setitem(gw.optim.OPTIMIZERS, "sgd2", gw.optim.SGD)
        assert "sgd2" in gw.optim.OPTIMIZERS
    assert gw.optim.OPTIMIZERS.names() == before


def test_every_registry_is_one_type() -> None:
    for reg in (gw.nn.ACTIVATIONS, gw.nn.LOSSES, gw.nn.init.INITIALIZERS, gw.optim.OPTIMIZERS,
                gw.optim.SCHEDULES, callbacks.CALLBACKS, metrics.METRICS, metrics.EPOCH_METRICS,
                gw.data.TOY_SETS, gw.data.FEATURES):
        assert isinstance(reg, Registry)
    # the names other code imports from the config module are the registries themselves
    assert cfg.SCHEDULES is gw.optim.SCHEDULES
    assert cfg.HIDDEN_EXCLUDED is gw.nn.layers.HIDDEN_EXCLUDED


class Halving(gw.optim.schedules.StepLR):
    """Halve the rate every ``step_size`` epochs."""

    def __init__(self, optimizer: Any, step_size: int = 2) -> None:
        super().__init__(optimizer, step_size, 0.5)


class Count(gw.callbacks.Callback):
    def __init__(self, every: int = 1) -> None:
        self.every = every


class MyLoss(gw.nn.MSELoss):
    pass


def _toy(n: int = 10, noise: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((n, 2), np.float32), np.zeros(n, np.int64)


# registry, new name, entry, the config that chooses it, the config that chooses a wrong name,
# the section and key of the schema that lists it (None: not listed by the schema)
CASES: list[tuple[Callable[[], Registry[Any]], str, Any, dict[str, Any], dict[str, Any],
                  tuple[str, str] | None]] = [
    (lambda: gw.data.TOY_SETS, "flat", _toy, {"data": {"name": "flat"}},
     {"data": {"name": "nope"}}, ("data", "name")),
    (lambda: gw.nn.ACTIVATIONS, "swish2", gw.nn.ReLU, {"model": {"activation": "swish2"}},
     {"model": {"activation": "nope"}}, ("model", "activation")),
    (lambda: gw.nn.init.INITIALIZERS, "tiny", gw.nn.init.normal, {"model": {"init": "tiny"}},
     {"model": {"init": "nope"}}, ("model", "init")),
    (lambda: gw.optim.OPTIMIZERS, "sgd2", gw.optim.SGD,
     {"optimizer": {"name": "sgd2", "momentum": 0.5}}, {"optimizer": {"name": "nope"}},
     ("optimizer", "name")),
    (lambda: gw.optim.SCHEDULES, "halving", Halving,
     {"schedule": {"name": "halving", "step_size": 3}}, {"schedule": {"name": "nope"}},
     ("schedule", "name")),
    (lambda: gw.nn.LOSSES, "myloss", MyLoss, {"training": {"loss": "myloss"}},
     {"training": {"loss": "nope"}}, ("training", "loss")),
    (lambda: metrics.METRICS, "zero", lambda out, y, t: 0.0,
     {"training": {"early_stopping": {"monitor": "val_zero"}}},
     {"training": {"early_stopping": {"monitor": "val_nope"}}},
     ("training.early_stopping", "monitor")),
    (lambda: callbacks.CALLBACKS, "count", Count, {"callbacks": [{"name": "count", "every": 2}]},
     {"callbacks": [{"name": "nope"}]}, None),
    (lambda: gw.data.FEATURES, "cos(x1)", lambda a, b: np.cos(a),
     {"data": {"features": ["x1", "cos(x1)"]}}, {"data": {"features": ["nope"]}},
     ("data", "features")),
]


@pytest.fixture
def registered(request: pytest.FixtureRequest) -> Iterator[tuple[Any, ...]]:
    registry, name, entry, *rest = request.param
    reg = registry()
    assert name not in reg
    reg.register(name, entry)  # after import: read live by the schema
    try:
        yield (reg, name, *rest)
    finally:
        reg.unregister(name)


@pytest.mark.parametrize("registered", CASES, indirect=True,
                         ids=[c[1] for c in CASES])
def test_an_entry_registered_after_import_is_accepted_and_listed(
        registered: tuple[Any, ...]) -> None:
    reg, name, good, bad, listed = registered
    resolved = cfg.validate(good)
    assert resolved  # accepted
    with pytest.raises(cfg.ConfigError) as err:
        cfg.validate(bad)
    assert repr(name) in str(err.value) or name in str(err.value)  # listed in the error
    if listed is not None:
        section, key = listed
        described = str(cfg.SCHEMA[section][key][1][1])
        assert name in described  # and in the schema's description of the key
    reg.unregister(name)
    with pytest.raises(cfg.ConfigError):  # and read live again once it is gone
        cfg.validate(good)
