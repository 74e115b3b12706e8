"""The configuration of a ``gradwise train`` run: read (TOML via ``tomllib``), override
(``--set key=value``), validate and write back.

A config has the sections ``[data]``, ``[model]``, ``[optimizer]``, ``[schedule]`` (optional),
``[training]`` (``training.loss`` names a loss in ``nn.LOSSES``; not set, the task chooses),
``[training.early_stopping]`` (optional), ``[[callbacks]]`` (optional, any number: a ``name``
in ``CALLBACKS`` and the callback's keyword arguments) and ``[[changes]]`` (optional: changes
made during the run, see :func:`check_changes` and :mod:`gradwise.training.changes`). Missing
keys take the defaults of :data:`SCHEMA`; an unknown key or an invalid value is an error naming
the key and what it accepts. The embedded default config (``gradwise/configs/default.toml``)
trains the lecture's spiral. TOML is written by :func:`dumps`, a small emitter for this
two-level layout (``tomllib`` only reads).
"""

from __future__ import annotations

import copy
import inspect
import math
import re
import tomllib
import warnings
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .. import nn, optim
from ..data.features import FEATURES
from ..data.toy import TOY_SETS
from ..errors import ConfigError
from .callbacks import CALLBACKS
from .metrics import EPOCH_METRICS, METRICS

__all__ = ["CHANGEABLE", "ConfigError", "ConfigWarning", "SCHEMA", "apply_override",
           "check_changes", "default_config", "dumps", "load_config", "validate"]


Check = Callable[[Any], bool]


def _int(lo: int, hi: float = math.inf) -> tuple[Check, str]:
    return (lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi,
            f"an integer >= {lo}" if hi == math.inf else f"an integer in [{lo}, {hi}]")


def _float(lo: float, hi: float, hi_open: bool = False) -> tuple[Check, str]:
    def check(v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            return False
        return lo <= v < hi if hi_open else lo <= v <= hi
    return check, f"a number in [{lo}, {hi}{')' if hi_open else ']'}"


def _choice(*options: str) -> tuple[Check, str]:
    return (lambda v: v in options), "one of " + ", ".join(repr(o) for o in options)


class _OneOf:
    """The names of a registry, read when a value is checked, so that an entry registered at
    runtime (``gw.nn.ACTIVATIONS["swish"] = Swish``) is accepted by configs at once."""

    def __init__(self, names: Callable[[], list[str]]) -> None:
        self.names = names

    def __call__(self, v: Any) -> bool:
        return isinstance(v, str) and v in self.names()

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(o) for o in self.names())


def _registry(registry: Any, exclude: tuple[str, ...] = ()) -> tuple[Check, object]:
    one = _OneOf(lambda: [k for k in registry if k not in exclude])
    return one, one


#: activations a hidden layer takes from nn.ACTIVATIONS (softmax is for outputs, linear adds
#: nothing between layers); initializers from nn.init.INITIALIZERS (constant ones never break
#: the symmetry between units)
HIDDEN_EXCLUDED = ("softmax", "identity")  # "linear" (the Playground's name) stays
INIT_EXCLUDED = ("zeros", "ones")


def _monitors() -> list[str]:
    names = ["loss", *METRICS, *EPOCH_METRICS]
    return [f"val_{n}" for n in names] + names


_BOOL = (lambda v: isinstance(v, bool)), "true or false"
_STR = (lambda v: isinstance(v, str) and v != ""), "a non-empty string"
_OPT_STR = (lambda v: isinstance(v, str)), "a string"
_NUMBER = ((lambda v: isinstance(v, int | float) and not isinstance(v, bool)
            and math.isfinite(v)), "a finite number")
_HIDDEN = ((lambda v: isinstance(v, list) and all(
    isinstance(h, int) and not isinstance(h, bool) and h >= 1 for h in v)),
    "a list of positive integers, e.g. [64, 64]")

_FEATURES = ((lambda v: isinstance(v, list) and len(v) > 0 and len(set(map(str, v))) == len(v)
              and all(isinstance(f, str) and f in FEATURES for f in v)),
             "a non-empty list of distinct input features from " + ", ".join(FEATURES))

_RATE = _float(0.0, 1.0, hi_open=True)[0]
_DROPOUT = ((lambda v: _RATE(v) or (isinstance(v, list) and all(_RATE(r) for r in v))),
            "a number in [0.0, 1.0) or a list of them, one per hidden layer")

# section -> key -> (default, (check, description of accepted values)). A default of None
# means "not set" and leaves the key out of the resolved config.
SCHEMA: dict[str, dict[str, tuple[Any, tuple[Check, object]]]] = {
    "data": {
        "source": ("toy", _choice("toy", "csv", "npz", "mnist")),
        "name": ("spiral", _registry(TOY_SETS)),
        "n": (1000, _int(2)),
        "noise": (0.04, _float(0.0, math.inf)),
        "scale": (1.0, _float(1e-6, 1e6)),
        "path": ("", _OPT_STR),
        "target": ("label", _STR),
        "x_key": ("x", _STR),
        "y_key": ("y", _STR),
        "root": ("", _OPT_STR),
        "standardize": (True, _BOOL),
        "validation_split": (0.2, _float(0.0, 1.0, hi_open=True)),
        "test_split": (0.0, _float(0.0, 1.0, hi_open=True)),
        "seed": (0, _int(0)),
        "features": (None, _FEATURES),
    },
    "model": {
        "hidden": ([64, 64], _HIDDEN),
        "activation": ("relu", _registry(nn.ACTIVATIONS, HIDDEN_EXCLUDED)),
        "dropout": (0.0, _DROPOUT),
        "init": ("glorot_uniform", _registry(nn.init.INITIALIZERS, INIT_EXCLUDED)),
        "task": ("auto", _choice("auto", "classification", "regression")),
        "regularization": (None, _choice("none", "l1", "l2")),
        "regularization_rate": (None, _float(0.0, math.inf)),
    },
    "optimizer": {
        "name": ("adam", _registry(optim.OPTIMIZERS)),
    },
    "schedule": {
        "name": ("", _choice("step", "exponential", "cosine", "warmup", "plateau", "linear",
                             "constant", "polynomial", "onecycle")),
    },
    "training": {
        "epochs": (100, _int(1)),
        "batch_size": (32, _int(1)),
        "seed": (0, _int(0)),
        "verbose": (1, _int(0, 2)),
        "device": ("cpu", _choice("cpu", "cuda")),
        "loss": (None, _registry(nn.LOSSES)),  # not set: from the task (see assemble.py)
        # most rows of trajectory.safetensors (0: no trajectory), see training/trajectory.py
        "trajectory": (101, ((lambda v: isinstance(v, int) and not isinstance(v, bool) and (
            v == 0 or v >= 2)), "0 (no trajectory) or an integer >= 2")),
    },
    "training.early_stopping": {
        "enabled": (True, _BOOL),
        "monitor": ("val_loss", (_OneOf(_monitors), _OneOf(_monitors))),
        "patience": (10, _int(0)),
        "min_delta": (0.0, _NUMBER),
        "mode": ("auto", _choice("auto", "min", "max")),
        "baseline": (None, _NUMBER),
        "restore_best_weights": (True, _BOOL),
        "start_from_epoch": (0, _int(0)),
    },
}

# Keys of each data source besides the common ones.
_SOURCE_KEYS = {"toy": {"name", "n", "noise", "scale"}, "csv": {"path", "target"},
                "npz": {"path", "x_key", "y_key"}, "mnist": {"root"}}
_COMMON_DATA = {"source", "standardize", "validation_split", "test_split", "seed", "features"}

SCHEDULES = {"step": "StepLR", "exponential": "ExponentialLR", "cosine": "CosineAnnealingLR",
             "warmup": "LinearWarmup", "plateau": "ReduceLROnPlateau"}
# PyTorch's schedules by their own names (the config steps every schedule once per epoch)
SCHEDULES.update(linear="LinearLR", constant="ConstantLR", polynomial="PolynomialLR",
                 onecycle="OneCycleLR")


class ConfigWarning(UserWarning):
    """A valid but absurd configuration value (e.g. a learning rate of 1e10)."""


# Hyperparameters that are valid but almost surely a mistake above these sizes.
_ABSURD = {"lr": 10.0, "weight_decay": 1.0, "max_lr": 100.0}


def _hyper_names(cls: type) -> list[str]:
    params = list(inspect.signature(cls).parameters)
    return [p for p in params[1:] if p not in ("args", "kwargs")]


def _check_hyper(section: str, cls: type, values: dict[str, Any]) -> None:
    accepted = _hyper_names(cls)
    for k, v in values.items():
        if k not in accepted:
            raise ConfigError(f"unknown config key {section}.{k} for {cls.__name__}; accepted "
                              f"keys: name, {', '.join(accepted)}")
        if not isinstance(v, int | float | bool | str | list):
            raise ConfigError(f"config key {section}.{k} = {v!r}: expected a number, "
                              "boolean, string or list")
        for x in v if isinstance(v, list) else [v]:
            if isinstance(x, float) and not math.isfinite(x):
                raise ConfigError(f"config key {section}.{k} = {v!r}: expected finite numbers")
        if k in _ABSURD and isinstance(v, int | float) and not isinstance(v, bool) and abs(
                v) > _ABSURD[k]:
            warnings.warn(f"config key {section}.{k} = {v!r} is unusually large (above "
                          f"{_ABSURD[k]:g}); training will probably diverge", ConfigWarning,
                          stacklevel=2)


def _check_value(key: str, v: Any) -> None:
    if not isinstance(v, int | float | bool | str | list):
        raise ConfigError(f"config key {key} = {v!r}: expected a number, boolean, string or list")
    for x in v if isinstance(v, list) else [v]:
        if isinstance(x, float) and not math.isfinite(x):
            raise ConfigError(f"config key {key} = {v!r}: expected finite numbers")


def _check_callbacks(entries: Any) -> list[dict[str, Any]]:
    """The ``[[callbacks]]`` tables: each a ``name`` from :data:`CALLBACKS` (read now, so a
    callback registered at runtime is accepted) and keyword arguments of its constructor."""
    if not isinstance(entries, list):
        raise ConfigError(f"config key callbacks = {entries!r}: expected [[callbacks]] tables, "
                          "each with a name and the callback's arguments")
    out = []
    for i, entry in enumerate(entries, 1):
        if not isinstance(entry, dict):
            raise ConfigError(f"[[callbacks]] #{i} = {entry!r}: expected a table with a name")
        kwargs = dict(entry)
        name = kwargs.pop("name", None)
        if not (isinstance(name, str) and name in CALLBACKS):
            raise ConfigError(f"config key callbacks.name = {name!r} ([[callbacks]] #{i}): "
                              "expected one of " + ", ".join(repr(n) for n in CALLBACKS))
        cls = CALLBACKS[name]
        sig = inspect.signature(cls)
        params = sig.parameters.values()
        accepted = [p.name for p in params
                    if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        open_keys = any(p.kind == p.VAR_KEYWORD for p in params)
        for k, v in kwargs.items():
            if k not in accepted and not open_keys:
                raise ConfigError(f"unknown config key callbacks.{k} for {name} "
                                  f"({cls.__name__}); accepted keys: "
                                  + ", ".join(["name", *accepted]))
            _check_value(f"callbacks.{k}", v)
        try:
            sig.bind(**kwargs)
        except TypeError as exc:
            raise ConfigError(f"[[callbacks]] {name} ({cls.__name__}): {exc}") from None
        out.append({"name": name, **kwargs})
    return out


def validate(config: dict[str, Any], base: Path | None = None) -> dict[str, Any]:
    """A complete, checked copy of ``config``: defaults filled in, relative data paths resolved
    against ``base`` (the config file's folder). Raises :class:`ConfigError`."""
    config = copy.deepcopy(config)
    callbacks = config.pop("callbacks", None)
    changes = config.pop("changes", None)
    early = config.get("training", {}).pop("early_stopping", None)
    sections = dict(config)
    if early is not None:
        sections["training.early_stopping"] = early
    for section, values in sections.items():
        if section not in SCHEMA:
            raise ConfigError(f"unknown config section [{section}]; accepted sections: "
                              + ", ".join(f"[{s}]" for s in SCHEMA)
                              + ", [[callbacks]], [[changes]]")
        if not isinstance(values, dict):
            raise ConfigError(f"config key {section} = {values!r} must be a table [{section}]")
    out: dict[str, Any] = {}
    for section, spec in SCHEMA.items():
        given = sections.get(section)
        if given is None and section in ("schedule", "training.early_stopping"):
            continue
        given = dict(given or {})
        resolved = {}
        open_keys = section in ("optimizer", "schedule")
        for k, v in given.items():
            if k not in spec:
                if open_keys:
                    continue
                raise ConfigError(f"unknown config key {section}.{k}; accepted keys in "
                                  f"[{section}]: {', '.join(spec)}")
            check, accepted = spec[k][1]
            if not check(v):
                raise ConfigError(f"config key {section}.{k} = {v!r}: expected {accepted}")
        for k, (default, _) in spec.items():
            if k in given or default is not None:
                resolved[k] = given.pop(k, default)
        if section == "optimizer":
            _check_hyper(section, optim.OPTIMIZERS[resolved["name"]], given)
        if section == "schedule":
            if resolved["name"] == "":
                raise ConfigError("config key schedule.name is missing: expected one of "
                                  + ", ".join(repr(s) for s in SCHEDULES))
            _check_hyper(section, getattr(optim.schedules, SCHEDULES[resolved["name"]]), given)
        resolved.update(given)
        out[section] = resolved
    data = out["data"]
    allowed = _COMMON_DATA | _SOURCE_KEYS[data["source"]]
    for k in sections.get("data", {}):
        if k not in allowed:
            raise ConfigError(f"config key data.{k} does not apply to data.source = "
                              f"{data['source']!r}; its keys are {', '.join(sorted(allowed))}")
    for k in set(SCHEMA["data"]) - allowed:
        del data[k]
    needed = {"csv": "path", "npz": "path", "mnist": "root"}.get(data["source"])
    if needed:
        if data[needed] == "":
            raise ConfigError(f"config key data.{needed} is missing: data.source = "
                              f"{data['source']!r} needs the path of its data")
        p = Path(data[needed]).expanduser()
        data[needed] = str(p if p.is_absolute() or base is None else (base / p).resolve())
    model = out["model"]
    if model.get("regularization", "none") != "none" and "regularization_rate" not in model:
        raise ConfigError(f"config key model.regularization = {model['regularization']!r} needs "
                          "model.regularization_rate (a number >= 0)")
    if "training.early_stopping" in out:
        out["training"]["early_stopping"] = out.pop("training.early_stopping")
    if callbacks is not None:
        out["callbacks"] = _check_callbacks(callbacks)
    if changes is not None:
        out["changes"] = check_changes(out, changes)
    return out


#: The config keys a ``[[changes]]`` entry may ``set`` during a run: these exactly, and every
#: ``optimizer.<hyperparameter>`` and ``schedule.<hyperparameter>`` (not their ``name``).
CHANGEABLE = ("model.regularization", "model.regularization_rate", "model.dropout",
              "training.batch_size")


def _changeable_text() -> str:
    return ", ".join(["optimizer.<hyperparameter>", "schedule.<hyperparameter>", *CHANGEABLE])


def _dummy_optimizer() -> Any:
    return optim.SGD([_dummy_param()], lr=0.0)


def _check_set(config: dict[str, Any], where: str, key: Any, value: Any) -> None:
    """One ``set`` entry of a change, checked as the same key at the top of the config is
    (and by the optimizer's or schedule's own checks, as when the run builds them)."""
    if not isinstance(key, str) or "." not in key:
        raise ConfigError(f"{where}: set key {key!r} is not a dotted config key; keys that may "
                          f"change during a run: {_changeable_text()}")
    section, _, name = key.partition(".")
    if section in ("optimizer", "schedule") and name != "name":
        if section == "schedule" and "schedule" not in config:
            raise ConfigError(f"{where}: set key {key!r}: this run has no [schedule] to change")
        cls = (optim.OPTIMIZERS[config["optimizer"]["name"]] if section == "optimizer" else
               getattr(optim.schedules, SCHEDULES[config["schedule"]["name"]]))
        try:
            _check_hyper(section, cls, {name: value})
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        fields = getattr(cls, "_fields", ())
        if section == "schedule" and name not in fields:
            raise ConfigError(f"{where}: set key {key!r}: {cls.__name__} cannot change {name} "
                              f"during a run; it can change {', '.join(fields) or 'nothing'}")
        hyper = {k: v for k, v in config[section].items() if k != "name"} | {name: value}
        try:
            if section == "optimizer":
                cls([_dummy_param()], **hyper)
            else:
                cls(_dummy_optimizer(), **hyper)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: set {key} = {value!r}: {exc}") from None
        return
    if key not in CHANGEABLE:
        raise ConfigError(f"{where}: config key {key} cannot change during a run; keys that "
                          f"may: {_changeable_text()}")
    check, accepted = SCHEMA[section][name][1]
    if not check(value):
        raise ConfigError(f"{where}: config key {key} = {value!r}: expected {accepted}")
    n_hidden = len(config["model"]["hidden"])
    if key == "model.dropout" and isinstance(value, list) and len(value) != n_hidden:
        raise ConfigError(f"{where}: config key model.dropout = {value!r}: a list needs one "
                          f"rate per hidden layer ({n_hidden})")


def _dummy_param() -> Any:
    from ..autograd import Tensor
    return Tensor(np.zeros(1, np.float32), requires_grad=True)


def _check_weight(where: str, entry: Any) -> dict[str, Any]:
    if not isinstance(entry, dict) or set(entry) != {"name", "index", "value"}:
        raise ConfigError(f"{where}: each weights entry is a table {{ name = \"layers.0."
                          f"weight\", index = [i, j], value = 0.25 }}; got {entry!r}")
    name, index, value = entry["name"], entry["index"], entry["value"]
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: weights name = {name!r}: expected a parameter name")
    if not (isinstance(index, list) and all(isinstance(i, int) and not isinstance(i, bool)
                                            and i >= 0 for i in index)):
        raise ConfigError(f"{where}: weights index = {index!r}: expected a list of integers "
                          ">= 0")
    if not _NUMBER[0](value):
        raise ConfigError(f"{where}: weights value = {value!r}: expected a finite number")
    return {"name": name, "index": list(index), "value": value}


def check_changes(config: dict[str, Any], entries: Any) -> list[dict[str, Any]]:
    """The ``[[changes]]`` tables of a config (resolved but for them), checked: each has an
    ``epoch`` (an integer >= 0: applied when that many epochs have completed, before the next
    starts), and ``set`` (dotted config keys that may change during a run, see
    :data:`CHANGEABLE`, each value checked as the same key at the top of the config) and/or
    ``weights`` (single entries of named parameters: ``name``, ``index``, ``value``)."""
    if not isinstance(entries, list):
        raise ConfigError(f"config key changes = {entries!r}: expected [[changes]] tables, each "
                          "with an epoch and set and/or weights")
    out = []
    for i, entry in enumerate(entries, 1):
        where = f"[[changes]] #{i}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} = {entry!r}: expected a table with epoch and set "
                              "and/or weights")
        unknown = set(entry) - {"epoch", "set", "weights"}
        if unknown:
            raise ConfigError(f"unknown config key changes.{sorted(unknown)[0]} ({where}); "
                              "accepted keys: epoch, set, weights")
        epoch = entry.get("epoch")
        if not (isinstance(epoch, int) and not isinstance(epoch, bool) and epoch >= 0):
            raise ConfigError(f"config key changes.epoch = {epoch!r} ({where}): expected an "
                              "integer >= 0 (the epochs completed before the change)")
        where = f"[[changes]] epoch {epoch}"
        sets = entry.get("set", {})
        if not isinstance(sets, dict):
            raise ConfigError(f"{where}: set = {sets!r}: expected a table of dotted config "
                              "keys, e.g. set = { \"optimizer.lr\" = 0.01 }")
        for k, v in sets.items():
            _check_set(config, where, k, v)
        weights = entry.get("weights", [])
        if not isinstance(weights, list):
            raise ConfigError(f"{where}: weights = {weights!r}: expected a list of tables")
        if not sets and not weights:
            raise ConfigError(f"{where}: changes nothing; give set and/or weights")
        change: dict[str, Any] = {"epoch": epoch}
        if sets:
            change["set"] = dict(sets)
        if weights:
            change["weights"] = [_check_weight(where, w) for w in weights]
        out.append(change)
    model = dict(config["model"])
    for change in sorted(out, key=lambda c: c["epoch"]):
        for k, v in change.get("set", {}).items():
            if k.startswith("model."):
                model[k.partition(".")[2]] = v
        if model.get("regularization", "none") != "none" and "regularization_rate" not in model:
            raise ConfigError(f"[[changes]] epoch {change['epoch']}: model.regularization = "
                              f"{model['regularization']!r} needs model.regularization_rate (a "
                              "number >= 0)")
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | None = None
                ) -> dict[str, Any]:
    """Read a TOML config (the embedded default when ``path`` is None), apply
    ``key=value`` overrides and validate it."""
    if path is None:
        text = resources.files("gradwise").joinpath("configs/default.toml").read_text()
        base = None
        where = "the default config"
    else:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"cannot read config {path}: not UTF-8 text (byte "
                              f"0x{exc.object[exc.start]:02x} at offset {exc.start}); a config "
                              "is a TOML text file") from None
        base = path.resolve().parent
        where = str(path)
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    source = config.get("data", {}).get("source") if isinstance(config.get("data"),
                                                                     dict) else None
    set_keys = set()
    for item in overrides or []:
        apply_override(config, item)
        set_keys.add(item.partition("=")[0].strip())
    _drop_other_source_keys(config, source, set_keys)
    try:
        return validate(config, base)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _drop_other_source_keys(config: dict[str, Any], before: Any, set_keys: set[str]) -> None:
    """When ``--set data.source=...`` switches the source, drop the keys of the old source
    that the file (or the default) set and the user did not: ``--set data.source=csv --set
    data.path=points.csv`` must not fail on the default's ``data.name``."""
    data = config.get("data")
    if "data.source" not in set_keys or not isinstance(data, dict):
        return
    new = data.get("source")
    if not isinstance(new, str) or new == before or new not in _SOURCE_KEYS:
        return
    for k in list(data):
        if (k not in _COMMON_DATA and k not in _SOURCE_KEYS[new]
                and f"data.{k}" not in set_keys):
            del data[k]


def default_config() -> dict[str, Any]:
    """The embedded default config, validated."""
    return load_config(None)


def apply_override(config: dict[str, Any], item: str) -> None:
    """Apply ``"section.key=value"`` in place; the value is read as a TOML value (``5``,
    ``1e-3``, ``true``, ``[32, 32]``, ``"text"``), or taken as a string when it is not one."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key or "." not in key:
        raise ConfigError(f"--set {item!r}: expected section.key=value, e.g. training.epochs=5")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    *sections, last = key.split(".")
    node = config
    for s in sections:
        child = node.setdefault(s, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {item!r}: {s} is not a table")
        node = child
    node[last] = value


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f",
            "\r": "\\r"}


def _escape(c: str) -> str:
    """A character inside a TOML basic string: control characters and DEL are escaped."""
    if c in _ESCAPES:
        return _ESCAPES[c]
    return f"\\u{ord(c):04x}" if ord(c) < 0x20 or c == "\x7f" else c


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return '"' + "".join(_escape(c) for c in v) + '"'
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):  # an inline table ([[changes]]' set and weights)
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {v!r} ({type(v).__name__}) as a TOML value")


def _key(k: str) -> str:
    """A TOML key: bare when it can be, else a quoted string (``"optimizer.lr"``)."""
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else _value(k)


def dumps(config: dict[str, Any]) -> str:
    """TOML text for a config of tables whose values are scalars, lists or nested tables, and
    arrays of tables of scalars and lists (``[[callbacks]]``); ``tomllib.loads(dumps(c)) == c``."""
    lines: list[str] = []

    def table(name: str, values: dict[str, Any]) -> None:
        lines.append(f"[{name}]")
        nested = []
        for k, v in values.items():
            if isinstance(v, dict):
                nested.append((f"{name}.{k}", v))
            else:
                lines.append(f"{k} = {_value(v)}")
        lines.append("")
        for sub, vals in nested:
            table(sub, vals)

    for name, values in config.items():
        if isinstance(values, list) and all(isinstance(v, dict) for v in values):
            for entry in values:  # an array of tables, [[callbacks]] and [[changes]]
                lines.append(f"[[{name}]]")
                for k, v in entry.items():
                    lines.append(f"{_key(k)} = {_value(v)}")
                lines.append("")
            continue
        if not isinstance(values, dict):
            raise TypeError(f"top-level config entry {name!r} must be a table")
        table(name, values)
    return "\n".join(lines)
