"""One playground session (one browser tab): its settings, data, network and training, with
every message of the page validated here (see ``PROTOCOL.md``).

Training is ``gradwise train``'s: the session turns its settings into a ``gradwise train``
config (:func:`settings_to_config`), prepares the data with :func:`~gradwise.training.run.
prepare_data`, builds the network with :func:`~gradwise.training.run.build_model` after
``gw.manual_seed(seed)``, and runs :func:`gradwise.fit` itself (in a worker thread, paused and
resumed between epochs by a callback) with the same loss, optimizer, schedule, early stopping,
regularization, shuffling seed and dropout stream as the train job. So the exported config
retrains to the same history. A session's work is bounded by :data:`LIMITS`.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import inspect
import json
import math
import queue
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np

from .. import backend, data, nn, optim
from ..autograd import Tensor, no_grad
from ..data.loader import DataLoader
from ..lab.landscape import loss_along, random_directions
from ..nn.utils import flat_parameters
from ..training.callbacks import Callback, EarlyStopping, LearningRateScheduler
from ..training.checkpoint import save
from ..training.config import HIDDEN_EXCLUDED, SCHEDULES, ConfigError, dumps, validate
from ..training.loop import fit
from ..training.run import build_model, prepare_data, regularizer

__all__ = ["DEFAULT_SETTINGS", "LIMITS", "Session", "SettingsError", "defaults",
           "settings_to_config", "validate_settings"]

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
}

DATASETS = ("circle", "xor", "gauss", "spiral", "regression_plane", "regression_gauss",
            "will_i_pass", "upload")
REGRESSION_SETS = ("regression_plane", "regression_gauss")
# data.noise = percent / 100 * scale: the noise's standard deviation in the set's own units.
NOISE_SCALE = {"circle": 0.3, "xor": 0.3, "gauss": 0.3, "spiral": 0.3, "regression_plane": 0.3,
               "regression_gauss": 0.3, "will_i_pass": 4.0, "upload": 0.0}
ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")
PLAYGROUND_OPTIMIZERS = ("sgd", "adam", "adamw", "adagrad", "adadelta", "rmsprop")


def _activations() -> list[str]:
    """The TensorFlow Playground's activations first, then every other one a config's hidden
    layer takes from ``nn.ACTIVATIONS`` (read now: one registered at runtime appears)."""
    return [*ACTIVATIONS, *(k for k in nn.ACTIVATIONS
                            if k not in HIDDEN_EXCLUDED and k not in ACTIVATIONS)]


def _optimizers() -> list[str]:
    """The playground's optimizers first, then every other one in ``optim.OPTIMIZERS``."""
    return [*PLAYGROUND_OPTIMIZERS, *(k for k in optim.OPTIMIZERS
                                      if k not in PLAYGROUND_OPTIMIZERS)]

PLAYGROUND_SCHEDULES = ("none", "step", "exponential", "cosine")
PAGE_ONLY = ("discretize", "show_test")

DEFAULT_SETTINGS: dict[str, Any] = {
    "dataset": "spiral",
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


def _hyper_defaults(cls: Any, skip: tuple[str, ...] = ("lr",)) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, p in list(inspect.signature(cls.__init__).parameters.items())[2:]:
        if name in skip or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        d = p.default
        out[name] = list(d) if isinstance(d, tuple) else (None if d is p.empty else d)
    return out


def _schedule_defaults() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {"none": {}}
    for name in PLAYGROUND_SCHEDULES[1:]:
        d = _hyper_defaults(SCHEDULES[name], skip=())
        # Required arguments get a sensible value for the page.
        out[name] = {k: ({"step_size": 50, "gamma": 0.99, "T_max": 200}.get(k, v)
                         if v is None else v) for k, v in d.items()}
    return out


def defaults() -> dict[str, Any]:
    """The ``defaults`` object of the protocol: settings, limits and choices."""
    return {
        "settings": copy.deepcopy(DEFAULT_SETTINGS),
        "limits": copy.deepcopy(LIMITS),
        "choices": {
            "datasets": list(DATASETS),
            "regression_datasets": list(REGRESSION_SETS),
            "problems": ["classification", "regression"],
            "features": list(data.FEATURES),
            "activations": _activations(),
            "regularizations": ["none", "l1", "l2"],
            "optimizers": {n: _hyper_defaults(optim.OPTIMIZERS[n])
                           for n in _optimizers()},
            "schedules": _schedule_defaults(),
        },
    }


_CHOICES = defaults()["choices"]


# --- validation --------------------------------------------------------------------------------

def _number(key: str, v: Any, lo: float, hi: float, integer: bool = False) -> int | float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise SettingsError(f"setting {key} = {_short(v)}: expected a number in [{lo}, {hi}]")
    if not math.isfinite(v) or not lo <= v <= hi:
        raise SettingsError(f"setting {key} = {_short(v)}: expected a number in [{lo}, {hi}]")
    if integer:
        if v != int(v):
            raise SettingsError(f"setting {key} = {_short(v)}: expected an integer in "
                                f"[{lo}, {hi}]")
        return int(v)
    return float(v)


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _bool(key: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise SettingsError(f"setting {key} = {_short(v)}: expected true or false")
    return v


def _choice(key: str, v: Any, options: Any) -> str:
    if not isinstance(v, str) or v not in options:
        raise SettingsError(f"setting {key} = {_short(v)}: expected one of "
                            + ", ".join(options))
    return v


def _params(key: str, v: Any, allowed: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise SettingsError(f"setting {key} = {_short(v)}: expected an object")
    out: dict[str, Any] = {}
    for k, x in v.items():
        if k not in allowed:
            raise SettingsError(f"setting {key}.{_short(k)} is not a hyperparameter here; "
                                f"accepted: {', '.join(allowed) or 'none'}")
        default = allowed[k]
        if isinstance(default, bool):
            out[k] = _bool(f"{key}.{k}", x)
        elif isinstance(default, list):
            if not isinstance(x, list) or len(x) != len(default):
                raise SettingsError(f"setting {key}.{k} = {_short(x)}: expected a list of "
                                    f"{len(default)} numbers")
            out[k] = [_number(f"{key}.{k}", e, 0.0, 1e6) for e in x]
        else:
            integer = isinstance(default, int)
            out[k] = _number(f"{key}.{k}", x, 0.0, 1e6, integer=integer)
    return out


def validate_settings(new: Any, current: dict[str, Any] | None = None,
                      have_upload: bool = False) -> dict[str, Any]:
    """``current`` (default: :data:`DEFAULT_SETTINGS`) updated with the settings ``new``, every
    value checked against :data:`LIMITS` and the choices; raises :class:`SettingsError` with
    one line naming the offending key and value. Nothing is changed in ``current``."""
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
    out["learning_rate"] = _number("learning_rate", s["learning_rate"], 1e-6, 10)
    out["optimizer"] = _choice("optimizer", s["optimizer"], _optimizers())
    if "optimizer" in new and "optimizer_params" not in new:
        s["optimizer_params"] = {}
    out["optimizer_params"] = _params("optimizer_params", s["optimizer_params"],
                                      _CHOICES["optimizers"][out["optimizer"]])
    out["schedule"] = _choice("schedule", s["schedule"], PLAYGROUND_SCHEDULES)
    if "schedule" in new and "schedule_params" not in new:
        s["schedule_params"] = {}
    # A schedule's required arguments (step_size, T_max) have no default in its class: the
    # page's defaults fill every hyperparameter not given, so a bare {"schedule": "step"} trains.
    sched_defaults = _CHOICES["schedules"][out["schedule"]]
    out["schedule_params"] = {**sched_defaults, **_params("schedule_params", s["schedule_params"],
                                                          sched_defaults)}
    if out["schedule"] == "step" and out["schedule_params"].get("step_size", 1) < 1:
        raise SettingsError("setting schedule_params.step_size must be >= 1")
    if out["schedule"] == "cosine" and out["schedule_params"].get("T_max", 1) < 1:
        raise SettingsError("setting schedule_params.T_max must be >= 1")
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


def settings_to_config(settings: dict[str, Any], epochs: int = 1,
                       upload_path: str = "points.csv") -> dict[str, Any]:
    """The ``gradwise train`` config (validated) of playground ``settings``, training
    ``epochs`` epochs. An uploaded data set is read from ``upload_path``."""
    s = settings
    if s["dataset"] == "upload":
        data_cfg: dict[str, Any] = {"source": "csv", "path": upload_path, "target": "label"}
    else:
        data_cfg = {"source": "toy", "name": s["dataset"], "n": s["n_points"],
                    "noise": round(s["noise"] / 100 * NOISE_SCALE[s["dataset"]], 10)}
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
    if s["schedule"] != "none":
        config["schedule"] = {"name": s["schedule"], **s["schedule_params"]}
    config["training"]["early_stopping"] = {
        "enabled": s["early_stopping"], "monitor": "val_loss", "patience": s["patience"],
        "restore_best_weights": s["restore_best"]}
    try:
        return validate(config, base=None)
    except ConfigError as exc:  # a setting the page allowed but the schema refuses
        raise SettingsError(str(exc)) from None


# --- data --------------------------------------------------------------------------------------

class _Data:
    """The points of a session: raw 2D points for the page, and the network's inputs (features,
    standardized with training statistics) exactly as ``prepare_data`` makes them."""

    def __init__(self, config: dict[str, Any], upload_text: str | None) -> None:
        raw_cfg = copy.deepcopy(config)
        raw_cfg["data"]["standardize"] = False
        raw_cfg["data"].pop("features", None)
        with _upload_file(upload_text) as path:
            if path is not None:
                raw_cfg["data"]["path"] = str(path)
            try:
                raw = prepare_data(raw_cfg)
            except (ConfigError, ValueError) as exc:
                raise SettingsError(str(exc)) from None
        assert raw.X_val is not None and raw.y_val is not None
        self.raw_train, self.raw_test = raw.X_train, raw.X_val
        self.y_train, self.y_test = raw.y_train, raw.y_val
        self.task = raw.task
        if self.task == "multiclass":
            raise SettingsError("the playground draws two classes: labels must be 0 or 1 "
                                "(or real numbers for regression)")
        self.features = list(config["data"]["features"])
        self.scaler = data.Standardizer().fit(data.feature_map(self.raw_train, self.features))
        self.X_train = self.inputs(self.raw_train)
        self.X_test = self.inputs(self.raw_test)
        pts = np.concatenate([self.raw_train, self.raw_test])
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        pad = 0.05 * np.maximum(hi - lo, 1e-6)
        self.domain = {"x1": [float(lo[0] - pad[0]), float(hi[0] + pad[0])],
                       "x2": [float(lo[1] - pad[1]), float(hi[1] + pad[1])]}
        size = LIMITS["heatmap_size"]
        (x1lo, x1hi), (x2lo, x2hi) = self.domain["x1"], self.domain["x2"]
        gx = np.linspace(x1lo, x1hi, size).astype(np.float32)
        gy = np.linspace(x2lo, x2hi, size).astype(np.float32)[::-1]  # row 0 = top
        xx, yy = np.meshgrid(gx, gy)
        self.grid = self.inputs(np.stack([xx.ravel(), yy.ravel()], axis=1))

    def inputs(self, raw: np.ndarray) -> np.ndarray:
        """The network's inputs for raw 2D points: the features, standardized."""
        return self.scaler.transform(data.feature_map(raw, self.features))

    def message(self) -> dict[str, Any]:
        def rows(X: np.ndarray, y: np.ndarray) -> list[list[float]]:
            yy = y.reshape(len(y), -1)[:, 0]
            return np.round(np.column_stack([X, yy]).astype(np.float64), 4).tolist()
        return {"type": "data", "train": rows(self.raw_train, self.y_train),
                "test": rows(self.raw_test, self.y_test),
                "problem": "regression" if self.task == "regression" else "classification",
                "domain": self.domain}


@contextlib.contextmanager
def _upload_file(text: str | None) -> Any:
    """A temporary file holding an upload for the time of reading it, then deleted."""
    if text is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="gradwise-playground-") as tmp:
        path = Path(tmp) / "points.csv"
        path.write_text(text, encoding="utf-8")
        yield path


def parse_upload(name: Any, content: Any) -> tuple[str, np.ndarray, np.ndarray]:
    """Check an uploaded CSV (size, rows, two features and a ``label`` column) with
    ``gw.data.load_csv``; return its text and ``(X, y)``. Errors name the upload, not a path."""
    if not isinstance(name, str) or not isinstance(content, str):
        raise SettingsError("upload needs 'name' and 'content' strings")
    shown = re.sub(r"[^\w.\- ]", "_", name)[:80] or "upload.csv"
    size = len(content.encode("utf-8", errors="replace"))
    if size > LIMITS["upload_bytes"]:
        raise SettingsError(f"{shown}: {size} bytes is over the upload limit of "
                            f"{LIMITS['upload_bytes']} bytes")
    if content.count("\n") > LIMITS["upload_rows"] + 1:
        raise SettingsError(f"{shown}: more than {LIMITS['upload_rows']} rows")
    with _upload_file(content) as path:
        try:
            X, y = data.load_csv(path, target="label")
        except ValueError as exc:
            raise SettingsError(str(exc).replace(str(path), shown)) from None
    if X.shape[1] != 2:
        raise SettingsError(f"{shown}: expected two feature columns and a 'label' column, found "
                            f"{X.shape[1]} feature columns")
    if len(X) < 10:
        raise SettingsError(f"{shown}: {len(X)} rows; the playground needs at least 10")
    if not np.all(np.isfinite(X)) or not np.all(np.isfinite(y)):
        raise SettingsError(f"{shown}: every value must be a finite number")
    if y.dtype.kind in "iu" and (y.min() < 0 or y.max() > 1):
        raise SettingsError(f"{shown}: integer labels must be 0 or 1 (two classes); found "
                            f"{int(y.min())} to {int(y.max())}")
    return content, X, y


# --- the training worker -----------------------------------------------------------------------

class _Stop(Exception):
    """Raised inside fit to end a worker."""


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode("ascii")


def _r(v: Any) -> float | None:
    if v is None:
        return None
    v = float(v)
    return float(f"{v:.6g}") if math.isfinite(v) else None


MAX_IN_FLIGHT = 0  # train the next epoch once the page has been sent every state

# One lock around seeding and initializing a network: ``gw.manual_seed`` seeds a process-wide
# generator, so two sessions starting at once must not interleave their draws.
_INIT_LOCK = threading.Lock()


class _Worker(Callback):
    """Trains one network in its own thread by calling ``fit``; this callback pauses it between
    epochs, reports a state after each and serves commands (play, pause, step, landscape,
    snapshot, stop)."""

    def __init__(self, config: dict[str, Any], d: _Data, emit: Callable[[dict[str, Any]], None],
                 flow_control: bool, playing: bool) -> None:
        super().__init__()
        self.config, self.d, self.emit = config, d, emit
        self.commands: queue.Queue[tuple[str, Any]] = queue.Queue()
        # Flow control: states emitted but not yet delivered to the page. The next epoch waits
        # until it is at most MAX_IN_FLIGHT, so a slow page slows training instead of queueing.
        self.flow_control = flow_control
        self.in_flight = 0
        self.flow = threading.Condition()
        self.playing, self.steps = playing, 0
        self.stopped = False  # early stopping ended training
        self.epoch = 0
        self.trajectory: list[np.ndarray] = []
        self.pending: dict[str, list[Any]] = {"epoch": [], "train_loss": [], "test_loss": []}
        self.last: dict[str, Any] = {"loss": None, "val_loss": None, "lr": None}
        self.last_update = 0.0
        self.es: EarlyStopping | None = None
        self.history: dict[str, list[float]] = {}  # every epoch's logs, full precision
        self.error: str | None = None
        self.thread = threading.Thread(target=self._run, daemon=True, name="playground-session")

    # commands from other threads
    def send(self, kind: str, arg: Any = None) -> None:
        self.commands.put((kind, arg))

    def delivered(self) -> None:
        with self.flow:
            self.in_flight = max(0, self.in_flight - 1)
            self.flow.notify_all()

    def stop(self, wait: bool = True) -> None:
        self.send("stop")
        if wait and self.thread.is_alive() and threading.current_thread() is not self.thread:
            self.thread.join(timeout=30)

    # the thread
    def _run(self) -> None:
        cfg = self.config
        tcfg = cfg["training"]
        try:
            with _INIT_LOCK:
                backend.manual_seed(tcfg["seed"])
                model = build_model(cfg, self.d.X_train.shape[1], 1)
            # Dropout draws from its own generator seeded like fit(seed=...) seeds gradwise's
            # default one, so concurrent sessions do not share a stream (all layers share it, as
            # they share the default generator in the train job).
            dropout_rng = np.random.default_rng(tcfg["seed"])
            for m in model.modules():
                if isinstance(m, nn.Dropout):
                    m.generator = dropout_rng
            hyper = {k: v for k, v in cfg["optimizer"].items() if k != "name"}
            optimizer = optim.get(cfg["optimizer"]["name"], model.parameters(), **hyper)
            regression = self.d.task == "regression"
            self.loss = nn.MSELoss() if regression else nn.BCEWithLogitsLoss()
            metrics = ["mae"] if regression else ["accuracy"]
            callbacks: list[Callback] = []
            es_cfg = tcfg["early_stopping"]
            if es_cfg["enabled"]:
                kwargs = {k: v for k, v in es_cfg.items() if k != "enabled"}
                self.es = EarlyStopping(verbose=0, **kwargs)
                callbacks.append(self.es)
            sched = cfg.get("schedule")
            if sched is not None:
                cls = SCHEDULES[sched["name"]]
                callbacks.append(LearningRateScheduler(
                    cls(optimizer, **{k: v for k, v in sched.items() if k != "name"})))
            callbacks.append(self)
            loader = DataLoader((self.d.X_train, self.d.y_train), batch_size=tcfg["batch_size"],
                                shuffle=True, generator=tcfg["seed"], device="cpu")
            fit(model, self.loss, optimizer, loader, epochs=LIMITS["max_epochs"],
                validation_data=(self.d.X_test, self.d.y_test), batch_size=tcfg["batch_size"],
                metrics=metrics, callbacks=callbacks, verbose=0, seed=None,
                regularization=regularizer(cfg), train_eval=True)  # as gradwise train
            # fit returned: early stopping (weights restored when asked) or max_epochs.
            self.stopped, self.playing = True, False
            self._report()
            while True:
                self._serve(block=True)
        except _Stop:
            return
        except Exception as exc:  # a failure of this session only; reported to its page
            self.error = f"training failed: {type(exc).__name__}: {exc}".splitlines()[0]
            with contextlib.suppress(Exception):
                self.emit({"type": "error", "message": self.error})

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.trajectory = [flat_parameters(self.model).astype(np.float32)]
        self._report()
        self._gate()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        self.epoch = epoch + 1
        self.trajectory.append(flat_parameters(self.model).astype(np.float32))
        if len(self.trajectory) > 2000:  # keep the landscape's trajectory bounded
            self.trajectory = self.trajectory[:1] + self.trajectory[2::2]
        self.last = {"loss": logs.get("loss"), "val_loss": logs.get("val_loss"),
                     "lr": logs.get("lr")}
        for k, v in logs.items():
            self.history.setdefault(k, []).append(float(v))
        self.pending["epoch"].append(self.epoch)
        self.pending["train_loss"].append(_r(logs.get("loss")))
        self.pending["test_loss"].append(_r(logs.get("val_loss")))
        if self.model.stop_training:  # early stopping: fit ends after this epoch
            return
        self._report()
        self._gate()

    def _gate(self) -> None:
        """Block until the session may train another epoch, serving commands meanwhile."""
        while True:
            self._serve(block=not (self.playing or self.steps))
            if self.steps:
                self.steps -= 1
                return
            if self.playing:
                wait = self.last_update + 1 / LIMITS["updates_per_second"] - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                if self.flow_control:
                    with self.flow:
                        if self.in_flight > MAX_IN_FLIGHT:
                            self.flow.wait(timeout=0.05)
                            continue
                self.last_update = time.monotonic()
                return

    def _serve(self, block: bool) -> None:
        try:
            kind, arg = self.commands.get(timeout=0.5) if block else self.commands.get_nowait()
        except queue.Empty:
            return
        while True:
            self._command(kind, arg)
            try:
                kind, arg = self.commands.get_nowait()
            except queue.Empty:
                return

    def _command(self, kind: str, arg: Any) -> None:
        if kind == "stop":
            raise _Stop
        if kind == "play":
            if self.stopped:
                self.emit({"type": "error", "message": "training has ended (early stopping); "
                           "press reset to train again"})
            self.playing = not self.stopped
            self.emit_state_flag()
        elif kind == "pause":
            self.playing = False
            self.emit_state_flag()
        elif kind == "step":
            if self.stopped:
                self.emit({"type": "error", "message": "training has ended (early stopping); "
                           "press reset to train again"})
            else:
                self.playing, self.steps = False, self.steps + 1
        elif kind == "landscape":
            self.emit(self._landscape(*arg))
        elif kind == "snapshot":
            arg.set_result({k: v.copy() for k, v in self.model.state_dict().items()})

    def emit_state_flag(self) -> None:
        self._report()

    # what the page draws
    def state(self) -> dict[str, Any]:
        model = self.model
        layers = [m for m in model.modules() if isinstance(m, nn.Dense)]
        was = model.training
        model.eval()
        acts = []
        try:
            with no_grad():
                x = Tensor(self.d.grid, dtype=layers[0].weight.dtype)
                for m in model:
                    x = m(x)
                    if isinstance(m, nn.Dense):
                        acts.append(x.data)
        finally:
            model.train(was)
        out = acts[-1][:, 0].astype(np.float64)
        if self.d.task != "regression":
            out = 1 / (1 + np.exp(-np.clip(out, -60, 60)))
        neurons = [[_b64(self.d.grid[:, j]) for j in range(self.d.grid.shape[1])]]
        neurons += [[_b64(a[:, j]) for j in range(a.shape[1])] for a in acts[:-1]]
        es = None
        if self.es is not None:
            best = self.es.best_epoch + 1 if self.es.best is not None else None
            es = {"patience": self.es.patience, "best_epoch": best,
                  "stopped_epoch": self.es.stopped_epoch + 1 if self.es.stopped_epoch else None,
                  "restored": bool(self.stopped and self.es.restore_best_weights
                                   and self.es.best_weights is not None)}
        history, self.pending = self.pending, {"epoch": [], "train_loss": [], "test_loss": []}
        return {
            "type": "state", "time": round(time.time(), 4), "epoch": self.epoch,
            "playing": self.playing,
            "stopped": self.stopped, "train_loss": _r(self.last["loss"]),
            "test_loss": _r(self.last["val_loss"]), "lr": _r(self.last["lr"]),
            "history_append": history, "early_stopping": es,
            "network": {
                "layers": [layers[0].in_features] + [m.out_features for m in layers],
                "inputs": list(self.d.features),
                "weights": [np.round(m.weight.data.astype(np.float64), 5).tolist()
                            for m in layers],
                "biases": [[0.0] * m.out_features if m.bias is None else
                           np.round(m.bias.data.astype(np.float64), 5).tolist()
                           for m in layers],
            },
            "heatmaps": {"size": LIMITS["heatmap_size"], "encoding": "f32-base64",
                         "output": _b64(out), "neurons": neurons},
        }

    def _report(self) -> None:
        msg = self.state()
        if self.flow_control:
            with self.flow:
                self.in_flight += 1
        self.emit(msg)

    def _landscape(self, dims: int, resolution: int) -> dict[str, Any]:
        model = self.model
        seed = self.config["training"]["seed"]
        center = flat_parameters(model)
        directions = random_directions(model, n=dims, seed=seed)
        X, y = self.d.X_train, self.d.y_train
        alphas = np.linspace(-1.0, 1.0, resolution)
        traj = np.stack(self.trajectory).astype(np.float64)
        if len(traj) > 60:
            traj = traj[np.unique(np.linspace(0, len(traj) - 1, 60).astype(int))]
        # Coordinates of each epoch's weights in the plane of the directions (least squares).
        coords = np.linalg.lstsq(directions.T, (traj - center).T, rcond=None)[0].T
        msg: dict[str, Any] = {"type": "landscape", "dims": dims,
                               "alphas": np.round(alphas, 6).tolist()}
        if dims == 1:
            loss, _ = loss_along(model, self.loss, X, y, directions, alphas[:, None], workers=1)
            exact, _ = loss_along(model, self.loss, X, y, traj - center, np.eye(len(traj)),
                                  workers=1)
            msg["loss"] = [_r(v) for v in loss]
            msg["trajectory"] = [[_r(a), _r(v)] for a, v in zip(coords[:, 0], exact,
                                                                   strict=True)]
        else:
            aa, bb = np.meshgrid(alphas, alphas)
            grid = np.column_stack([aa.ravel(), bb.ravel()])
            loss, _ = loss_along(model, self.loss, X, y, directions, grid, workers=1)
            msg["betas"] = msg["alphas"]
            msg["loss"] = [[_r(v) for v in row] for row in loss.reshape(resolution, resolution)]
            msg["trajectory"] = [[_r(a), _r(b)] for a, b in coords]
        return msg


# --- the session -------------------------------------------------------------------------------

class Session:
    """One browser tab: settings, data and a training worker. :meth:`handle` takes one raw
    message of the page and returns the immediate replies; states, landscapes and training
    errors arrive later through ``emit`` (called from the worker thread). With
    ``flow_control``, the worker trains an epoch only after :meth:`delivered` confirmed that the
    state before last reached the page (at most 2 states in flight)."""

    def __init__(self, emit: Callable[[dict[str, Any]], None],
                 flow_control: bool = False) -> None:
        self.id = secrets.token_urlsafe(16)
        self.emit = emit
        self.flow_control = flow_control
        self.settings = copy.deepcopy(DEFAULT_SETTINGS)
        self.upload: tuple[str, np.ndarray, np.ndarray] | None = None
        self.last_active = time.monotonic()
        self.closed = False
        self._lock = threading.RLock()
        self._worker: _Worker | None = None
        self.data: _Data | None = None
        self.config: dict[str, Any] = {}

    def start(self) -> list[dict[str, Any]]:
        """Emit the greeting, the data and then (from the worker) the first state; return the
        messages emitted here."""
        with self._lock:
            self._rebuild(data_changed=True, playing=False)
            assert self.data is not None
            out = [{"type": "hello", "session": self.id, "settings": self.settings,
                    "defaults": defaults()}, self.data.message()]
            self._send(out)
            return out

    def _send(self, replies: list[dict[str, Any]]) -> None:
        """Emit ``replies``, then start a new worker (so its first state follows them)."""
        for r in replies:
            self.emit(r)
        w = self._worker
        if w is not None and not w.thread.is_alive() and w.thread.ident is None:
            w.thread.start()

    def _rebuild(self, data_changed: bool, playing: bool) -> None:
        config = settings_to_config(self.settings)
        if data_changed or self.data is None:
            self.data = _Data(config, None if self.upload is None else self.upload[0])
        self.config = config
        self._stop_worker()
        self._worker = _Worker(config, self.data, self.emit, self.flow_control, playing)

    def _stop_worker(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None

    def delivered(self) -> None:
        """The page has been sent a state: the worker may train one more epoch."""
        w = self._worker
        if w is not None:
            w.delivered()

    def history(self) -> dict[str, list[float]]:
        """The training history since the last (re)build, as ``fit``'s ``History.history``:
        ``loss``, ``accuracy`` or ``mae``, their ``val_`` twins and ``lr`` per epoch."""
        w = self._worker
        return {} if w is None else {k: list(v) for k, v in w.history.items()}

    @property
    def epoch(self) -> int:
        return 0 if self._worker is None else self._worker.epoch

    @property
    def playing(self) -> bool:
        return self._worker is not None and self._worker.playing

    def handle(self, raw: str | bytes) -> list[dict[str, Any]]:
        """Validate and apply one message, emit the replies and return them. Never raises for
        a bad message: it answers an ``error`` and leaves the session as it was."""
        with self._lock:
            replies = self._handle(raw)
            self._send(replies)
            return replies

    def _handle(self, raw: str | bytes) -> list[dict[str, Any]]:
        self.last_active = time.monotonic()
        try:
            if len(raw) > LIMITS["message_bytes"]:
                raise SettingsError(f"message of {len(raw)} bytes is over the limit of "
                                    f"{LIMITS['message_bytes']} bytes")
            try:
                msg = json.loads(raw)
            except (ValueError, RecursionError) as exc:
                raise SettingsError(f"message is not valid JSON: {str(exc)[:80]}") from None
            if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
                raise SettingsError("message must be a JSON object with a string 'type'")
            with self._lock:
                if self.closed:
                    raise SettingsError("the session is closed")
                return self._dispatch(msg)
        except SettingsError as exc:
            return [{"type": "error", "message": str(exc)}]
        except Exception as exc:  # never let one message take the server down
            return [{"type": "error", "message": f"internal error: {type(exc).__name__}: "
                     f"{str(exc)[:160]}".splitlines()[0]}]

    def _keys(self, msg: dict[str, Any], *allowed: str) -> None:
        extra = [k for k in msg if k not in ("type", *allowed)]
        if extra:
            raise SettingsError(f"message {msg['type']!r} has unknown key {_short(extra[0])}")

    def _dispatch(self, msg: dict[str, Any]) -> list[dict[str, Any]]:
        kind = msg["type"]
        w = self._worker
        if kind in ("play", "pause", "step", "reset", "regenerate", "ping"):
            self._keys(msg)
            if kind == "ping":
                return [{"type": "pong"}]
            if kind == "reset":
                self._rebuild(data_changed=False, playing=self.playing)
                return []
            if kind == "regenerate":
                if self.settings["dataset"] == "upload":
                    raise SettingsError("an uploaded data set cannot be regenerated")
                new = dict(self.settings, data_seed=(self.settings["data_seed"] + 1) % 2**31)
                return self._apply(new, {"data_seed": new["data_seed"]})
            assert w is not None
            w.send(kind)
            return []
        if kind == "settings":
            self._keys(msg, "settings")
            if not isinstance(msg.get("settings"), dict):
                raise SettingsError("message 'settings' needs a 'settings' object")
            new = validate_settings(msg["settings"], self.settings, self.upload is not None)
            return self._apply(new, msg["settings"])
        if kind == "landscape":
            self._keys(msg, "dims", "resolution")
            dims = msg.get("dims", 2)
            if dims not in (1, 2) or isinstance(dims, bool):
                raise SettingsError(f"landscape dims = {_short(dims)}: expected 1 or 2")
            lo, hi = LIMITS["landscape_resolution"]
            res = _number("landscape resolution", msg.get("resolution", 21), lo, hi,
                          integer=True)
            assert w is not None
            w.send("landscape", (int(dims), res))
            return []
        if kind == "upload":
            self._keys(msg, "name", "content")
            self.upload = parse_upload(msg.get("name"), msg.get("content"))
            y = self.upload[2]
            problem = "classification" if y.dtype.kind in "iu" else "regression"
            new = validate_settings({"dataset": "upload", "problem": problem}, self.settings,
                                    True)
            return self._apply(new, {"dataset": "upload"}, force_data=True)
        raise SettingsError(f"unknown message type {_short(kind)}; expected settings, play, "
                            "pause, step, reset, regenerate, landscape, upload or ping")

    def _apply(self, new: dict[str, Any], given: dict[str, Any],
               force_data: bool = False) -> list[dict[str, Any]]:
        old = self.settings
        changed = {k for k in new if new[k] != old[k]}
        data_keys = {"dataset", "problem", "noise", "train_ratio", "data_seed", "n_points",
                     "features"}
        training = changed - set(PAGE_ONLY)
        data_changed = force_data or bool(changed & data_keys)
        if training or force_data:
            # Check the config and the data before changing anything.
            config = settings_to_config(new)
            d = _Data(config, None if self.upload is None else self.upload[0]) \
                if data_changed else self.data
            playing = self.playing
            self.settings = new
            self.data = d
            self._rebuild(data_changed=False, playing=playing)
        else:
            self.settings = new
        out: list[dict[str, Any]] = [{"type": "settings", "settings": self.settings}]
        if data_changed and self.data is not None:
            out.append(self.data.message())
        return out

    # exports (called from the server's threads)
    def export_config(self) -> str:
        """The ``gradwise train`` config of this session, training as many epochs as it has."""
        with self._lock:
            return dumps(settings_to_config(self.settings, epochs=self.epoch))

    def export_points(self) -> str | None:
        """The uploaded CSV text, or None."""
        return None if self.upload is None else self.upload[0]

    def export_model(self, timeout: float = 10.0) -> bytes:
        """The current weights as a safetensors file (``gw.save``'s format)."""
        with self._lock:
            w = self._worker
        if w is None or not w.thread.is_alive():
            raise SettingsError("no network to export")
        fut: Future[dict[str, np.ndarray]] = Future()
        w.send("snapshot", fut)
        state = fut.result(timeout=timeout)
        with _INIT_LOCK:  # building draws from the shared generator
            model = build_model(self.config, self.data.X_train.shape[1] if self.data else 2, 1)
        model.load_state_dict(state)
        with tempfile.TemporaryDirectory(prefix="gradwise-playground-") as tmp:
            path = Path(tmp) / "model.safetensors"
            save(model, path)
            return path.read_bytes()

    def close(self) -> None:
        """Stop training and free the session."""
        with self._lock:
            self.closed = True
            self._stop_worker()
            self.data = None
