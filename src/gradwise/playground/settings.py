"""The playground's settings: their defaults, limits and choices (the ``defaults`` object of
``PROTOCOL.md``), their validation, and their translation into a ``gradwise train`` config.

Choices are read live from the registries (``nn.ACTIVATIONS``, ``optim.OPTIMIZERS``): an
optimizer registered after import appears in the menu and trains. Every number is checked
against its own range before it is used, so a session never trains (or exports) a value its
optimizer or schedule would refuse mid-run.
"""

from __future__ import annotations

import copy
import inspect
import math
from typing import Any

from .. import data, nn, optim
from ..training.config import HIDDEN_EXCLUDED, ConfigError, validate

__all__ = ["DATASETS", "DEFAULT_SETTINGS", "LIMITS", "LIVE_KEYS", "PAGE_ONLY", "SettingsError",
           "defaults", "optimizer_info", "settings_to_config", "validate_settings"]

LIMITS: dict[str, Any] = {
    "max_layers": 6,
    "max_neurons": 8,
    "batch_size": [1, 30],
    "n_points": [50, 2000],
    "upload_bytes": 1_000_000,
    "upload_rows": 5000,
    "message_bytes": 1_500_000,
    "messages_per_second": 50,
    "updates_per_second": 60,
    "max_epochs": 100_000,
    "idle_seconds": 600,
    "idle_seconds_playing": 3600,
    "landscape_resolution": [5, 41],
    "heatmap_size": 50,
    "max_classes": 8,
    "queued_work": 2,
    "edit_value": 100.0,
}

DATASETS = ("circle", "xor", "gauss", "spiral", "three_blobs", "regression_plane",
            "regression_gauss", "will_i_pass", "upload")
REGRESSION_SETS = ("regression_plane", "regression_gauss")
DATASET_CLASSES = {"circle": 2, "xor": 2, "gauss": 2, "spiral": 2, "three_blobs": 3,
                   "regression_plane": 0, "regression_gauss": 0, "will_i_pass": 2}
# data.noise = percent / 100 * NOISE_SCALE: the noise's standard deviation in the set's units.
NOISE_SCALE = {"circle": 0.3, "xor": 0.3, "gauss": 0.3, "spiral": 0.3, "three_blobs": 0.3,
               "regression_plane": 0.3, "regression_gauss": 0.3, "will_i_pass": 4.0,
               "upload": 0.0}
# data.scale: the Playground's sets lie in about [-1, 1]^2; times 6 they lie in [-6, 6]^2 as in
# TensorFlow Playground, where sin(x1) is no copy of x1 (|corr| 0.998 on [-1.1, 1.1]).
DATA_SCALE = {name: (1.0 if name in ("will_i_pass", "upload") else 6.0) for name in DATASETS}
ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")
PLAYGROUND_OPTIMIZERS = ("sgd", "adam", "adamw", "adagrad", "adadelta", "rmsprop")
PLAYGROUND_SCHEDULES = ("none", "step", "exponential", "cosine")
PAGE_ONLY = ("discretize", "show_test")
# Settings that change while training runs (a [[changes]] entry), the rest restart.
LIVE_KEYS = ("learning_rate", "optimizer_params", "schedule", "schedule_params",
             "regularization", "regularization_rate", "dropout", "batch_size")
DATA_KEYS = ("dataset", "problem", "noise", "train_ratio", "data_seed", "n_points", "features")
# Hyperparameters the page does not offer: `maximize` silently turns descent into ascent.
HIDDEN_HYPER = ("lr", "maximize", "foreach", "fused", "implementation", "differentiable",
                "capturable")

DEFAULT_SETTINGS: dict[str, Any] = {
    "dataset": "circle",
    "problem": "classification",
    "noise": 0,
    "train_ratio": 50,
    "batch_size": 10,
    "features": ["x1", "x2"],
    "hidden": [4, 4],
    "activation": "tanh",
    "regularization": "none",
    "regularization_rate": 0.0,
    "learning_rate": 0.03,
    "optimizer": "adam",
    "optimizer_params": {},
    "schedule": "none",
    "schedule_params": {},
    "dropout": [0.0, 0.0],
    "early_stopping": False,
    "patience": 20,
    "restore_best": True,
    "seed": 0,
    "data_seed": 0,
    "n_points": 500,
    "discretize": False,
    "show_test": False,
}


class SettingsError(ValueError):
    """A message or setting the session refuses; the message is one line for the page."""


# --- what each optimizer and schedule hyperparameter means, and its range ------------------------

def _num(help_: str, lo: float, hi: float, lo_open: bool = False,
         hi_open: bool = False) -> dict[str, Any]:
    return {"help": help_, "min": lo, "max": hi, "min_open": lo_open, "max_open": hi_open}


_DECAY = _num("L2 penalty added to the gradient (w <- w - lr (g + wd w)); 0 = off", 0.0, 1.0)
_EPS = _num("small number added to the denominator so it is never 0", 0.0, 1.0, lo_open=True)
_PARAMS: dict[str, dict[str, Any]] = {
    "momentum": _num("fraction of the last step kept in the next one (heavy ball); 0 = off",
                     0.0, 1.0, hi_open=True),
    "dampening": _num("fraction of the new gradient left out of the momentum", 0.0, 1.0),
    "weight_decay": _DECAY,
    "nesterov": {"help": "look ahead along the momentum before taking the gradient"},
    "betas": _num("decay of the running mean of the gradient and of its square", 0.0, 1.0,
                  hi_open=True),
    "eps": _EPS,
    "amsgrad": {"help": "use the largest squared-gradient average so far (never a larger step)"},
    "lr_decay": _num("the rate shrinks as lr / (1 + steps * lr_decay)", 0.0, 1.0),
    "initial_accumulator_value": _num("starting value of the summed squared gradients",
                                      0.0, 10.0),
    "rho": _num("decay of the running averages of squared gradients and steps", 0.0, 1.0,
                hi_open=True),
    "alpha": _num("decay of the running mean of the squared gradient", 0.0, 1.0,
                  hi_open=True),
    "centered": {"help": "divide by the gradient's variance instead of its raw second moment"},
}
_OPTIMIZERS: dict[str, tuple[float, str]] = {
    "sgd": (0.1, "stochastic gradient descent: w <- w - lr * dJ/dw (Robbins and Monro 1951)"),
    "adam": (0.01, "Adam: a step from running means of the gradient and its square "
             "(Kingma and Ba 2015)"),
    "adamw": (0.01, "Adam with weight decay applied to the weights directly "
              "(Loshchilov and Hutter 2019)"),
    "adagrad": (0.1, "AdaGrad: each weight's rate divided by the root of its summed squared "
                "gradients (Duchi et al. 2011)"),
    "adadelta": (1.0, "AdaDelta: steps scaled by running averages of past steps and gradients; "
                 "lr 1 is its usual rate (Zeiler 2012)"),
    "rmsprop": (0.01, "RMSProp: the gradient divided by the root of its running squared "
                "average (Hinton 2012)"),
}
_SCHEDULES: dict[str, tuple[str, dict[str, dict[str, Any]]]] = {
    "none": ("a constant learning rate", {}),
    "step": ("multiply the rate by gamma every step_size epochs", {
        "step_size": _num("epochs between two reductions", 1, 100_000),
        "gamma": _num("factor applied at each reduction", 0.0, 1.0, lo_open=True)}),
    "exponential": ("multiply the rate by gamma after every epoch", {
        "gamma": _num("factor applied after every epoch", 0.0, 1.0, lo_open=True)}),
    "cosine": ("the rate follows half a cosine down to eta_min over T_max epochs, then back up "
               "(Loshchilov and Hutter 2017)", {
                   "T_max": _num("epochs of the half cosine", 1, 100_000),
                   "eta_min": _num("the lowest rate", 0.0, 10.0)}),
}
# Page defaults for schedules: none of them silently freezes training (step's class default
# gamma 0.1 reaches 1e-11 of the rate after 1100 epochs of step 100).
SCHEDULE_DEFAULTS = {"step": {"step_size": 100, "gamma": 0.7},
                     "exponential": {"gamma": 0.995},
                     "cosine": {"T_max": 500, "eta_min": 0.0001}}


def _hyper_defaults(cls: Any, skip: tuple[str, ...] = HIDDEN_HYPER) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, p in list(inspect.signature(cls.__init__).parameters.items())[2:]:
        if name in skip or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        d = p.default
        out[name] = list(d) if isinstance(d, tuple) else (None if d is p.empty else d)
    return out


def _activations() -> list[str]:
    """The TensorFlow Playground's activations first, then every other one a config's hidden
    layer takes from ``nn.ACTIVATIONS`` (read now: one registered at runtime appears)."""
    return [*ACTIVATIONS, *(k for k in nn.ACTIVATIONS
                            if k not in HIDDEN_EXCLUDED and k not in ACTIVATIONS)]


def _optimizers() -> list[str]:
    """The playground's optimizers first, then every other one in ``optim.OPTIMIZERS`` (read
    now: one registered after import appears and trains)."""
    return [*(k for k in PLAYGROUND_OPTIMIZERS if k in optim.OPTIMIZERS),
            *(k for k in optim.OPTIMIZERS if k not in PLAYGROUND_OPTIMIZERS)]


def optimizer_info(name: str) -> dict[str, Any]:
    """``choices.optimizer_info[name]``: the usual learning rate, one line of help, and each
    hyperparameter's default, help line and range (a later-registered optimizer: its class's
    default rate, and numbers in [0, 1e6])."""
    cls = optim.OPTIMIZERS[name]
    usual, help_ = _OPTIMIZERS.get(name, (None, ""))
    if usual is None:
        p = inspect.signature(cls.__init__).parameters.get("lr")
        d = None if p is None else p.default
        usual = float(d) if isinstance(d, int | float) and not isinstance(d, bool) and d > 0 \
            else 0.01
        help_ = (inspect.getdoc(cls) or name).splitlines()[0][:160]
    params: dict[str, Any] = {}
    for k, default in _hyper_defaults(cls).items():
        spec = _PARAMS.get(k, {"help": k} if isinstance(default, bool) else
                           _num(k, 0.0, 1e6))
        params[k] = {"default": default, **spec}
    return {"lr": usual, "help": help_, "params": params}


def _schedule_info(name: str) -> dict[str, Any]:
    help_, spec = _SCHEDULES[name]
    d = SCHEDULE_DEFAULTS.get(name, {})
    return {"help": help_, "params": {k: {"default": d[k], **v} for k, v in spec.items()}}


def defaults() -> dict[str, Any]:
    """The ``defaults`` object of the protocol: settings, limits and choices (read live)."""
    return {
        "settings": copy.deepcopy(DEFAULT_SETTINGS),
        "limits": copy.deepcopy(LIMITS),
        "choices": {
            "datasets": list(DATASETS),
            "regression_datasets": list(REGRESSION_SETS),
            "dataset_classes": dict(DATASET_CLASSES),
            "problems": ["classification", "regression"],
            "features": list(data.FEATURES),
            "activations": _activations(),
            "regularizations": ["none", "l1", "l2"],
            "optimizers": {n: _hyper_defaults(optim.OPTIMIZERS[n]) for n in _optimizers()},
            "optimizer_info": {n: optimizer_info(n) for n in _optimizers()},
            "schedules": {"none": {}, **copy.deepcopy(SCHEDULE_DEFAULTS)},
            "schedule_info": {n: _schedule_info(n) for n in PLAYGROUND_SCHEDULES},
            "losses": {k: {"name": n, "label": label} for k, (n, label) in LOSSES.items()},
        },
    }


LOSSES = {"binary": ("bce_with_logits", "binary cross-entropy"),
          "multiclass": ("cross_entropy", "categorical cross-entropy"),
          "regression": ("mse", "mean squared error")}


# --- validation --------------------------------------------------------------------------------

def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _range_text(lo: float, hi: float, lo_open: bool = False, hi_open: bool = False) -> str:
    return f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"


def _number(key: str, v: Any, lo: float, hi: float, integer: bool = False,
            lo_open: bool = False, hi_open: bool = False) -> int | float:
    shown = _range_text(lo, hi, lo_open, hi_open)
    what = "an integer" if integer else "a number"
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise SettingsError(f"setting {key} = {_short(v)}: expected {what} in {shown}")
    inside = (lo < v if lo_open else lo <= v) and (v < hi if hi_open else v <= hi)
    if not math.isfinite(v) or not inside:
        raise SettingsError(f"setting {key} = {_short(v)}: expected {what} in {shown}")
    if integer:
        if v != int(v):
            raise SettingsError(f"setting {key} = {_short(v)}: expected an integer in {shown}")
        return int(v)
    return float(v)


def _bool(key: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise SettingsError(f"setting {key} = {_short(v)}: expected true or false")
    return v


def _choice(key: str, v: Any, options: Any) -> str:
    if not isinstance(v, str) or v not in options:
        raise SettingsError(f"setting {key} = {_short(v)}: expected one of "
                            + ", ".join(options))
    return v


def _params(key: str, v: Any, info: dict[str, Any]) -> dict[str, Any]:
    """Hyperparameters ``v`` checked against ``info`` (name -> default, help and range)."""
    if not isinstance(v, dict):
        raise SettingsError(f"setting {key} = {_short(v)}: expected an object")
    out: dict[str, Any] = {}
    for k, x in v.items():
        if k not in info:
            raise SettingsError(f"setting {key}.{_short(k)} is not a hyperparameter here; "
                                f"accepted: {', '.join(info) or 'none'}")
        spec = info[k]
        default = spec["default"]
        rng = (spec.get("min", 0.0), spec.get("max", 1e6), spec.get("min_open", False),
               spec.get("max_open", False))
        if isinstance(default, bool):
            out[k] = _bool(f"{key}.{k}", x)
        elif isinstance(default, list):
            if not isinstance(x, list) or len(x) != len(default):
                raise SettingsError(f"setting {key}.{k} = {_short(x)}: expected a list of "
                                    f"{len(default)} numbers")
            out[k] = [_number(f"{key}.{k}", e, rng[0], rng[1], False, rng[2], rng[3])
                      for e in x]
        else:
            integer = isinstance(default, int)
            out[k] = _number(f"{key}.{k}", x, rng[0], rng[1], integer, rng[2], rng[3])
    return out


def validate_settings(new: Any, current: dict[str, Any] | None = None,
                      have_upload: bool = False) -> dict[str, Any]:
    """``current`` (default: :data:`DEFAULT_SETTINGS`) updated with the settings ``new``, every
    value checked against :data:`LIMITS`, the choices and each hyperparameter's range; raises
    :class:`SettingsError` with one line naming the offending key and value. Nothing is
    changed in ``current``."""
    if not isinstance(new, dict):
        raise SettingsError(f"settings must be an object, got {_short(new)}")
    unknown = [k for k in new if k not in DEFAULT_SETTINGS]
    if unknown:
        raise SettingsError(f"unknown setting {_short(unknown[0])}; accepted: "
                            + ", ".join(DEFAULT_SETTINGS))
    s = copy.deepcopy(current if current is not None else DEFAULT_SETTINGS)
    s.update(copy.deepcopy(new))
    out: dict[str, Any] = {}
    out["dataset"] = _choice("dataset", s["dataset"], DATASETS)
    if out["dataset"] == "upload" and not have_upload:
        raise SettingsError("setting dataset = 'upload': upload a CSV file first")
    out["problem"] = _choice("problem", s["problem"], ("classification", "regression"))
    if "dataset" in new and "problem" not in new and out["dataset"] != "upload":
        out["problem"] = "regression" if out["dataset"] in REGRESSION_SETS else "classification"
    if out["dataset"] != "upload":
        expected = "regression" if out["dataset"] in REGRESSION_SETS else "classification"
        if out["problem"] != expected:
            raise SettingsError(f"setting problem = {out['problem']!r} does not fit dataset "
                                f"{out['dataset']!r}, which is {expected}")
    out["noise"] = _number("noise", s["noise"], 0, 50, integer=True)
    out["train_ratio"] = _number("train_ratio", s["train_ratio"], 10, 90, integer=True)
    lo, hi = LIMITS["batch_size"]
    out["batch_size"] = _number("batch_size", s["batch_size"], lo, hi, integer=True)
    feats = s["features"]
    if not isinstance(feats, list) or len(feats) > len(data.FEATURES):
        raise SettingsError(f"setting features = {_short(feats)}: expected a list of names from "
                            + ", ".join(data.FEATURES))
    try:
        data.check_features(feats)
    except ValueError as exc:
        raise SettingsError(f"setting features: {exc}") from None
    out["features"] = [f for f in data.FEATURES if f in feats]
    hidden = s["hidden"]
    if not isinstance(hidden, list) or len(hidden) > LIMITS["max_layers"]:
        raise SettingsError(f"setting hidden = {_short(hidden)}: expected a list of at most "
                            f"{LIMITS['max_layers']} layer sizes")
    out["hidden"] = [_number("hidden", h, 1, LIMITS["max_neurons"], integer=True)
                     for h in hidden]
    out["activation"] = _choice("activation", s["activation"], _activations())
    out["regularization"] = _choice("regularization", s["regularization"], ("none", "l1", "l2"))
    out["regularization_rate"] = _number("regularization_rate", s["regularization_rate"], 0, 10)
    out["optimizer"] = _choice("optimizer", s["optimizer"], _optimizers())
    info = optimizer_info(out["optimizer"])
    if "optimizer" in new and "learning_rate" not in new \
            and current is not None and new["optimizer"] != current.get("optimizer"):
        s["learning_rate"] = info["lr"]  # the optimizer's usual rate, proposed
    out["learning_rate"] = _number("learning_rate", s["learning_rate"], 1e-6, 10)
    if "optimizer" in new and "optimizer_params" not in new:
        s["optimizer_params"] = {}
    out["optimizer_params"] = _params("optimizer_params", s["optimizer_params"],
                                      info["params"])
    out["schedule"] = _choice("schedule", s["schedule"], PLAYGROUND_SCHEDULES)
    if "schedule" in new and "schedule_params" not in new:
        s["schedule_params"] = {}
    # A schedule's required arguments (step_size, T_max) have no default in its class: the
    # page's defaults fill every hyperparameter not given, so a bare {"schedule": "step"} trains.
    sinfo = _schedule_info(out["schedule"])["params"]
    out["schedule_params"] = {**SCHEDULE_DEFAULTS.get(out["schedule"], {}),
                              **_params("schedule_params", s["schedule_params"], sinfo)}
    dropout = s["dropout"]
    if "hidden" in new and "dropout" not in new and isinstance(dropout, list):
        dropout = (dropout + [0.0] * len(out["hidden"]))[:len(out["hidden"])]
    if not isinstance(dropout, list) or len(dropout) != len(out["hidden"]):
        raise SettingsError(f"setting dropout = {_short(dropout)}: expected a list of "
                            f"{len(out['hidden'])} rates, one per hidden layer")
    out["dropout"] = [_number("dropout", r, 0.0, 0.9) for r in dropout]
    out["early_stopping"] = _bool("early_stopping", s["early_stopping"])
    out["patience"] = _number("patience", s["patience"], 0, 1000, integer=True)
    out["restore_best"] = _bool("restore_best", s["restore_best"])
    out["seed"] = _number("seed", s["seed"], 0, 2**31 - 1, integer=True)
    out["data_seed"] = _number("data_seed", s["data_seed"], 0, 2**31 - 1, integer=True)
    lo, hi = LIMITS["n_points"]
    out["n_points"] = _number("n_points", s["n_points"], lo, hi, integer=True)
    out["discretize"] = _bool("discretize", s["discretize"])
    out["show_test"] = _bool("show_test", s["show_test"])
    return out


# --- settings -> config ------------------------------------------------------------------------

def live_values(s: dict[str, Any]) -> dict[str, Any]:
    """The config keys (dotted, as in ``[[changes]] set``) of the live settings of ``s``."""
    out: dict[str, Any] = {"optimizer.lr": s["learning_rate"]}
    # every hyperparameter, defaults filled: a parameter dropped from optimizer_params goes
    # back to its default
    hyper = {**_hyper_defaults(optim.OPTIMIZERS[s["optimizer"]]), **s["optimizer_params"]}
    for k, v in hyper.items():
        out[f"optimizer.{k}"] = v
    out["model.regularization"] = s["regularization"]
    out["model.regularization_rate"] = s["regularization_rate"]
    out["model.dropout"] = list(s["dropout"])
    out["training.batch_size"] = s["batch_size"]
    return out


def schedule_section(s: dict[str, Any]) -> dict[str, Any] | None:
    return None if s["schedule"] == "none" else {"name": s["schedule"], **s["schedule_params"]}


def settings_to_config(settings: dict[str, Any], epochs: int = 1,
                       upload_path: str = "points.csv",
                       changes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The ``gradwise train`` config (validated) of playground ``settings``, training
    ``epochs`` epochs, with the mid-run ``changes`` (``[[changes]]`` entries). An uploaded data
    set is read from ``upload_path``."""
    s = settings
    if s["dataset"] == "upload":
        data_cfg: dict[str, Any] = {"source": "csv", "path": upload_path, "target": "label"}
    else:
        data_cfg = {"source": "toy", "name": s["dataset"], "n": s["n_points"],
                    "noise": round(s["noise"] / 100 * NOISE_SCALE[s["dataset"]], 10),
                    "scale": DATA_SCALE[s["dataset"]]}
    data_cfg.update({"standardize": True, "validation_split": round(1 - s["train_ratio"] / 100,
                                                                   10),
                     "test_split": 0.0, "seed": s["data_seed"], "features": list(s["features"])})
    model_cfg = {"hidden": list(s["hidden"]), "activation": s["activation"],
                 "dropout": list(s["dropout"]), "init": "glorot_uniform", "task": s["problem"],
                 "regularization": s["regularization"],
                 "regularization_rate": s["regularization_rate"]}
    config: dict[str, Any] = {
        "data": data_cfg,
        "model": model_cfg,
        "optimizer": {"name": s["optimizer"], "lr": s["learning_rate"],
                      **s["optimizer_params"]},
        "training": {"epochs": max(1, int(epochs)), "batch_size": s["batch_size"],
                     "seed": s["seed"], "verbose": 1, "device": "cpu"},
    }
    sched = schedule_section(s)
    if sched is not None:
        config["schedule"] = sched
    config["training"]["early_stopping"] = {
        "enabled": s["early_stopping"], "monitor": "val_loss", "patience": s["patience"],
        "restore_best_weights": s["restore_best"]}
    if changes:
        config["changes"] = copy.deepcopy(changes)
    try:
        return validate(config, base=None)
    except ConfigError as exc:  # a setting the page allowed but the schema refuses
        raise SettingsError(str(exc)) from None
