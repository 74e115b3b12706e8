"""``fit``, ``evaluate`` and ``predict``: the training loop of the lecture, with Keras's API.

Each epoch visits the training set once in mini-batches; for every batch ``fit`` computes the
output and the loss ``J(W)``, backpropagates ``dJ/dW`` and lets the optimizer update ``W``
(mini-batch stochastic gradient descent, Robbins and Monro 1951). The model runs in training
mode (dropout active) during the epoch and in eval mode under ``no_grad`` for validation.
"""

from __future__ import annotations

import contextlib
import math
import os
import types
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

import numpy as np

from .. import backend, distributed, threads
from ..autograd import Tensor, no_grad
from ..capture import compile as _compile
from ..data.loader import DataLoader
from ..nn.losses import BCEWithLogitsLoss, get_loss
from ..nn.module import Module
from ..nn.utils import as_target as _target
from ..nn.utils import dtype_device
from . import metrics as _metrics
from .callbacks import Callback, CallbackList, History
from .checkpoint import (
    CheckpointError,
    check_optimizer_config,
    check_resumed_hyperparameters,
    optimizer_config,
    read_checkpoint,
    write_checkpoint,
)
from .progress import ProgressLogger

__all__ = ["evaluate", "fit", "predict"]

Data = tuple[Any, Any] | DataLoader
Batches = DataLoader | distributed.ShardedLoader  # a loader, or its shard under MPI


def _threshold(loss: Any) -> float:
    """Binary accuracy thresholds logits at 0 and probabilities (or regression outputs) at 0.5."""
    return 0.0 if isinstance(loss, BCEWithLogitsLoss) else 0.5


def _as_pair(data: Any, what: str) -> tuple[Any, Any]:
    if not (isinstance(data, Sequence) and len(data) == 2):
        raise TypeError(f"{what} must be a pair of arrays (X, y) or a DataLoader, got "
                        f"{type(data).__name__}")
    return data[0], data[1]


def _loader(data: Data, batch_size: int | None, what: str, model: Module,
            shuffle: bool = False, generator: int | None = None) -> DataLoader:
    """``data`` as it is when it is a DataLoader; else a loader over ``(X, y)`` on the model's
    device. For a GPU, floating arrays are cast to the model's dtype on the host first, so the
    GPU holds float32 data, not float64."""
    if isinstance(data, DataLoader):
        return data
    dtype, device = dtype_device(model)

    def cast(a: Any) -> Any:
        floating = (device != "cpu" and isinstance(a, np.ndarray) and a.dtype.kind == "f"
                    and a.dtype != dtype)
        return a.astype(dtype) if floating else a

    X, y = _as_pair(data, what)
    return DataLoader((cast(X), cast(y)), batch_size=batch_size, shuffle=shuffle,
                      generator=generator, device=device)


class _Means:
    """Sample means of the loss and metrics over the batches of one pass: each batch adds its
    mean loss times its size and its metric sums, in float64. On a GPU the sums stay on the
    GPU, so the pass reads nothing back until :meth:`means`."""

    def __init__(self, names: list[str], threshold: float, loader: Any = None) -> None:
        self.threshold = threshold
        self.epoch = {m: _metrics.EpochMetric(m, threshold) for m in names
                      if m in _metrics.EPOCH_METRICS}  # precision, recall, f1, auc
        self.names = [m for m in names if m not in self.epoch]
        self.sums: dict[str, Any] = dict.fromkeys(["loss", *self.names], 0.0)
        # a data-parallel loader's shard sums are summed, and its outputs gathered, over ranks
        self.reduce = getattr(loader, "reduce", None)
        self.gather = getattr(loader, "gather", None)
        self.seen = 0

    def add(self, loss: Any, out: Tensor, y: Any, n: int) -> None:
        """Add a batch of ``n`` samples: its mean ``loss`` (a 0-d array), outputs and targets
        (arrays on the device of ``out``)."""
        self.sums["loss"] += _as_sum(loss) * n
        self.seen += n
        for m in self.names:
            self.sums[m] += _as_sum(_metrics.batch_sum(m, out.data, y, self.threshold))
        for metric in self.epoch.values():
            metric.add(out.data, y)

    def means(self) -> dict[str, float]:
        """The sample means as floats, after raising any failed GPU check of the pass."""
        backend.raise_pending()
        sums, seen = self.sums, self.seen
        if self.reduce is not None:
            sums, seen = self.reduce(sums, seen)
        means = {k: float(s) / seen for k, s in sums.items()}
        return means | {m: metric.result(self.gather) for m, metric in self.epoch.items()}


def _as_sum(value: Any) -> Any:
    """A 0-d array as a float64 term of a running sum: a Python float on the CPU, a 0-d float64
    array on a GPU (reading it there would make the host wait for the GPU)."""
    if backend.device_of(value) == "cpu":
        return float(value)
    return value.astype(np.float64)


@contextlib.contextmanager
def _inference(model: Module) -> Iterator[None]:
    """Eval mode without a graph; the model's mode is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            yield
    finally:
        model.train(was_training)


def _run_eval(model: Module, loss: Any, loader: Batches, names: list[str],
              threshold: float) -> dict[str, float]:
    """Sample-mean loss and metrics over ``loader`` in eval mode, without a graph."""
    dtype, device = dtype_device(model)
    means = _Means(names, threshold, loader)
    with _inference(model):
        for xb, yb, *_ in loader:
            out = model(Tensor(xb, dtype=dtype, device=device))
            y = _target(backend.to_device(yb, device), out)
            means.add(loss(out, y).data, out, y, len(xb))
    return means.means()


def evaluate(model: Module, loss: Any, data: Data, metrics: Sequence[str] | None = None,
             batch_size: int | None = 32) -> dict[str, float]:
    """The mean loss and metrics of ``model`` on ``data`` ((X, y) or a DataLoader), in eval
    mode: ``{"loss": ..., "accuracy": ...}``."""
    loss = get_loss(loss) if isinstance(loss, str) else loss
    names = _metrics.check_metrics(metrics)
    loader = _loader(data, batch_size, "data", model)
    return _run_eval(model, loss, loader, names, _threshold(loss))


def predict(model: Module, X: Any, batch_size: int | None = 32) -> np.ndarray:
    """The model's outputs for ``X`` as one NumPy array, in eval mode and without a graph."""
    dtype, device = dtype_device(model)
    outs = []
    with _inference(model):
        for (xb,) in DataLoader((X,), batch_size=batch_size):
            outs.append(backend.to_numpy(model(Tensor(xb, dtype=dtype, device=device)).data))
    return np.concatenate(outs)


def _split(data: Any, validation_split: float) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    """Keras's ``validation_split``: the *last* fraction of the samples, before shuffling."""
    X, y = _as_pair(data, "train_data")
    n = len(X)
    split_at = math.ceil(n * (1.0 - validation_split))
    if split_at >= n or split_at == 0:
        raise ValueError(f"validation_split={validation_split} of {n} samples leaves an empty "
                         "training or validation set")
    return (X[:split_at], y[:split_at]), (X[split_at:], y[split_at:])


def _generators(model: Module, loader: Batches) -> dict[str, Any]:
    """Every random generator a training run draws from: gradwise's default generator, the
    loader's shuffling generator when it is its own, and any module's own (dropout)."""
    default = backend.default_generator("cpu")
    modules = {}
    for name, m in model.named_modules():
        for attr, value in vars(m).items():
            if isinstance(value, np.random.Generator) and value is not default:
                modules[f"{name}:{attr}"] = value
    loader_gen = loader.generator if loader.generator is not default else None
    return {"default": default, "loader": loader_gen, "modules": modules}


def _generator_states(gens: dict[str, Any]) -> dict[str, Any]:
    return {
        "default": gens["default"].bit_generator.state,
        "loader": None if gens["loader"] is None else gens["loader"].bit_generator.state,
        "modules": {k: g.bit_generator.state for k, g in gens["modules"].items()},
    }


def _check_resume(path: Any, model: Module, gens: dict[str, Any], callbacks: list[Callback],
                  optimizer: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a training checkpoint and check that it fits this run, changing nothing."""
    params, state = read_checkpoint(path)
    check_optimizer_config(path, state.get("optimizer_config"), optimizer)
    check_resumed_hyperparameters(path, state, optimizer, callbacks)
    own = {k: p.shape for k, p in model.named_parameters()}
    theirs = {k: tuple(v.shape) for k, v in params.items()}
    if own != theirs:
        raise CheckpointError(f"{path} holds parameters {theirs} but the model has {own}")
    names = [c["class"] for c in state["callbacks"]]
    mine = [type(c).__name__ for c in callbacks]
    if names != mine:
        raise CheckpointError(f"{path} was written with callbacks {names}; this run has {mine}")
    saved = state["generators"]
    if (saved["loader"] is None) != (gens["loader"] is None) or set(saved["modules"]) != set(
            gens["modules"]):
        raise CheckpointError(
            f"{path} holds generator states for the loader={saved['loader'] is not None} and "
            f"modules {sorted(saved['modules'])}; this run has loader="
            f"{gens['loader'] is not None} and modules {sorted(gens['modules'])}"
        )
    return params, state


def _restore(path: Any, resumed: tuple[dict[str, Any], dict[str, Any]], model: Module,
             optimizer: Any, callbacks: list[Callback], history: History,
             gens: dict[str, Any]) -> int:
    """Put a checked checkpoint's state into the run; return the number of epochs done."""
    params, state = resumed
    try:
        optimizer.load_state_dict(state["optimizer"])
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{path} does not fit the optimizer: {exc}") from None
    model.load_state_dict(params)
    for cb, saved in zip(callbacks, state["callbacks"], strict=True):
        cb.load_state_dict(saved["state"])
    history.load_state_dict(state["history"])
    saved = state["generators"]
    gens["default"].bit_generator.state = saved["default"]
    if gens["loader"] is not None:
        gens["loader"].bit_generator.state = saved["loader"]
    for k, g in gens["modules"].items():
        g.bit_generator.state = saved["modules"][k]
    return int(state["epoch"])


class _Checkpoints:
    """``fit``'s checkpoints: at construction, read and check ``resume_from`` (changing
    nothing); :meth:`restore` puts its state into the run; :meth:`save` writes one after an
    epoch. The random generators are those of ``loader``, the single-process training loader."""

    def __init__(self, model: Module, optimizer: Any, loader: Batches, user: list[Callback],
                 history: History, resume_from: str | os.PathLike[str] | None,
                 checkpoint_path: str | os.PathLike[str] | None) -> None:
        self.model, self.optimizer, self.user, self.history = model, optimizer, user, history
        self.resume_from, self.checkpoint_path = resume_from, checkpoint_path
        self.gens = _generators(model, loader)
        self.threads: int | None = None  # the thread count the run holds (gradwise.threads)
        self.resumed = None if resume_from is None else _check_resume(
            resume_from, model, self.gens, user, optimizer)

    def restore(self) -> int:
        """Restore the checked checkpoint, if any; return the epoch to start from."""
        if self.resumed is None:
            return 0
        return _restore(self.resume_from, self.resumed, self.model, self.optimizer, self.user,
                        self.history, self.gens)

    def save(self, epoch: int, completed: bool) -> None:
        """After epoch ``epoch``: write a checkpoint when one is asked for, the epoch ran to
        its last batch, and this process is the root (or the only one)."""
        if self.checkpoint_path is None or not completed or not distributed.is_root():
            return
        write_checkpoint(self.checkpoint_path, self.model, {
            "epoch": epoch + 1,
            "history": self.history.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "optimizer_config": optimizer_config(self.optimizer),
            "callbacks": [{"class": type(cb).__name__, "state": cb.state_dict()}
                          for cb in self.user],
            "generators": _generator_states(self.gens),
            "threads": self.threads,
        })


class _Step:
    """One training epoch: forward, loss, backward and update for every batch, in train mode,
    accumulating the sample-mean loss and metrics into the epoch's logs."""

    def __init__(self, model: Module, loss: Any, optimizer: Any, names: list[str],
                 threshold: float, callbacks: CallbackList, regularization: Any = None,
                 compile: bool | None = False) -> None:  # noqa: A002 - fit's argument
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.loader: Batches | None = None
        # gw.compile: the step is recorded on its second call per batch shape and replayed;
        # chosen by default (None), a step that cannot be replayed runs eagerly, silently
        self.train_step = self._train_step
        if _use_compile(compile, model, loss, regularization):
            self.train_step = _compile(self._train_step,
                                       fallback="quiet" if compile is None else False)
        self.regularization = regularization
        self.names, self.threshold = names, threshold
        self.dtype, self.device = dtype_device(model)
        # A float per batch makes a GPU wait for every step; only the progress bar reads the
        # batch loss unless a callback has batch hooks, and it takes a 0-d GPU array.
        self.float_loss = self.device == "cpu" or any(
            _reads_batches(cb) for cb in callbacks if not isinstance(cb, ProgressLogger))
        # under MPI, a batch hook may stop one rank: every rank then learns it after each step
        self.sync_stop = any(_reads_batches(cb) for cb in callbacks
                             if not isinstance(cb, ProgressLogger))

    def epoch(self, loader: Batches, callbacks: CallbackList, logs: dict[str, Any]) -> bool:
        """Run the epoch; return False when a callback stopped it before its last batch."""
        model, optimizer = self.model, self.optimizer
        self.loader = loader  # read by the (possibly compiled) step's gradient average
        model.train()
        means = _Means(self.names, self.threshold, loader)
        completed = True
        for step, (xb, yb, *_) in enumerate(loader):
            n = len(xb)
            if n == 0 and isinstance(loader, distributed.ShardedLoader):
                # this rank's empty shard of a global batch with fewer rows than ranks
                loader.empty_step(model, xb, optimizer)
                if self.sync_stop and loader.agree_to_stop(model):
                    completed = step == len(loader) - 1
                    break
                continue
            batch_logs: dict[str, Any] = {"size": n}
            callbacks.on_train_batch_begin(step, batch_logs)
            threads.adapt()  # auto mode follows the free cores, unless the run holds a count
            value, out, y = self.train_step(xb, yb)
            batch_logs["loss"] = float(value.item()) if self.float_loss else value.data
            means.add(value.data, out, y, n)
            callbacks.on_train_batch_end(step, batch_logs)
            if self.sync_stop and isinstance(loader, distributed.ShardedLoader):
                loader.agree_to_stop(model)
            if model.stop_training:
                completed = step == len(loader) - 1
                break
        logs.update(means.means())
        return completed


    def _train_step(self, xb: Any, yb: Any) -> tuple[Tensor, Tensor, Any]:
        """Forward, loss (plus the penalty), backward, the data-parallel gradient average and
        the update for one batch; returns the loss, the outputs and the targets."""
        model, optimizer, device = self.model, self.optimizer, self.device
        out = model(Tensor(xb, dtype=self.dtype, device=device))
        y = _target(backend.to_device(yb, device), out)
        value = self.loss(out, y)
        if self.regularization is not None:
            penalty = self.regularization(model)
            value = value if penalty is None else value + penalty
        optimizer.zero_grad()
        value.backward()
        if isinstance(self.loader, distributed.ShardedLoader):
            self._average_gradients(len(xb))
        optimizer.step()
        return value, out, y

    @backend.live  # in a compiled step: at every replay, with the epoch's loader
    def _average_gradients(self, n: int) -> None:
        cast(distributed.ShardedLoader, self.loader).average_gradients(self.optimizer, n)


def _ours(obj: Any) -> bool:
    """Whether ``obj``'s class (or ``obj``, a function) is gradwise's own: its Python code has
    no side effects that a replay would skip."""
    kind = obj if isinstance(obj, types.FunctionType) else type(obj)
    return str(getattr(kind, "__module__", "")).startswith("gradwise.")


#: The largest model (in parameters) that ``fit`` compiles by default: on a quiet 2-core host the
#: compiled step took 0.61 (2-16-16-1) and 0.86 to 0.93 (784-128-10, 101,770 parameters) of the
#: eager one, and 0.98 to 1.05 on 784-1000-1000-10 (1.8M) and 4096-4096-4096-10 (35M), where the
#: matrix products decide and the recording keeps every intermediate buffer alive.
COMPILE_MAX_PARAMETERS = 1_000_000


def _use_compile(compile: bool | None, model: Module, loss: Any,  # noqa: A002
                 regularization: Any) -> bool:
    """``fit``'s ``compile`` argument resolved: as given, or (None) where it was measured
    faster and the step is gradwise's own code: CPU models of at most
    :data:`COMPILE_MAX_PARAMETERS` parameters built of gradwise's layers, with a gradwise loss
    and regularizer (a user's module may have Python side effects that a replay skips)."""
    if compile is not None:
        return bool(compile)
    forced = os.environ.get("GRADWISE_COMPILE", "").strip()
    if forced in ("0", "1"):  # the default overridden for a whole program (a benchmark)
        return forced == "1"
    params = list(model.parameters())
    return (bool(params) and all(p.device == "cpu" for p in params)
            and sum(int(p.data.size) for p in params) <= COMPILE_MAX_PARAMETERS
            and all(_ours(m) for m in model.modules()) and _ours(loss)
            and (regularization is None or _ours(regularization)))


def _thread_probe(model: Module, loss: Any, loaders: Sequence[Any]
                  ) -> Callable[[], list[np.ndarray]]:
    """The run's own products for :func:`gradwise.threads.for_run`: the output and gradients
    of one forward and backward (in eval mode: no dropout draw) of each loader's full and
    partial last batch (batch sizes seen once). Changes no weight; leaves no gradient."""
    dtype, _ = dtype_device(model)
    batches: dict[int, tuple[Any, ...]] = {}
    for ld in loaders:
        if not isinstance(ld, DataLoader):
            continue
        size = ld._size
        last = size if ld.drop_last else ld.num_samples - (len(ld) - 1) * size
        for s in (size, last):
            if s > 0 and s not in batches:
                batches[s] = ld._fetch(slice(0, s))
    params = [p for _, p in model.named_parameters()]

    def compute() -> list[np.ndarray]:
        arrays: list[np.ndarray] = []
        was = model.training
        model.eval()
        try:
            for xb, yb, *_ in batches.values():
                for p in params:
                    p.grad = None
                out = model(Tensor(xb, dtype=dtype))
                loss(out, _target(yb, out)).backward()
                arrays.append(np.array(out.data, copy=True))
                arrays += [np.array(p.grad, copy=True) for p in params if p.grad is not None]
        finally:
            model.train(was)
            for p in params:
                p.grad = None
        return arrays

    return compute


def _reads_batches(cb: Callback) -> bool:
    """Whether a callback overrides a batch hook (and so reads every batch's logs)."""
    kind = type(cb)
    return (kind.on_train_batch_end is not Callback.on_train_batch_end
            or kind.on_train_batch_begin is not Callback.on_train_batch_begin)


def _fit_loaders(model: Module, train_data: Data, batch_size: int | None,
                 validation_data: Data | None, validation_split: float, shuffle: bool,
                 seed: int | None, train_eval: bool
                 ) -> tuple[Batches, Batches | None, DataLoader | None]:
    """``fit``'s training loader, its validation loader (``validation_data`` or the last
    ``validation_split`` of ``(X, y)``) and, for ``train_eval``, a loader over the training
    samples in order."""
    loader: Batches
    if isinstance(train_data, DataLoader):
        if validation_split:
            raise ValueError("validation_split needs train_data as arrays (X, y), not a "
                             "DataLoader; pass validation_data instead")
        loader = train_data
    else:
        if validation_split:
            if validation_data is not None:
                raise ValueError("pass validation_data or validation_split, not both")
            train_data, validation_data = _split(train_data, validation_split)
        loader = _loader(train_data, batch_size, "train_data", model, shuffle, seed)
    val_loader: Batches | None = None if validation_data is None else _loader(
        validation_data, batch_size, "validation_data", model)
    if len(loader) == 0:
        raise ValueError("train_data gives no batch (drop_last=True with fewer samples than "
                         "batch_size)")
    train_eval_loader = None
    if train_eval:
        # the same samples in order, in a loader of its own: iterating the training loader
        # would draw its shuffling generator and change the training itself
        train_eval_loader = DataLoader(
            train_data.dataset, batch_size=train_data.batch_size, device=train_data.device,
        ) if isinstance(train_data, DataLoader) else _loader(
            train_data, batch_size, "train_data", model)
    return loader, val_loader, train_eval_loader


def fit(model: Module, loss: Any, optimizer: Any, train_data: Data, epochs: int = 1,
        batch_size: int | None = 32, validation_data: Data | None = None,
        validation_split: float = 0.0, metrics: Sequence[str] | None = None,
        callbacks: Sequence[Callback] | None = None, verbose: int = 1, seed: int | None = None,
        shuffle: bool = True, resume_from: str | os.PathLike[str] | None = None,
        checkpoint_path: str | os.PathLike[str] | None = None,
        regularization: Any = None, train_eval: bool = False,
        compile: bool | None = None) -> History:  # noqa: A002 - gw.compile's name
    """Train ``model`` for ``epochs`` passes over ``train_data`` and return its ``History``.

    ``train_data`` is ``(X, y)`` (batched by ``batch_size``, reshuffled every epoch when
    ``shuffle``) or a ``DataLoader``. Validation data is ``validation_data`` or the last
    ``validation_split`` fraction of ``(X, y)``. ``metrics`` are names from ``"accuracy"``,
    ``"mse"``, ``"mae"``. ``History.history`` maps ``loss``, each metric, their ``val_`` twins
    and ``lr`` to one value per epoch.

    ``seed`` calls ``gw.manual_seed(seed)`` (dropout masks) and seeds the shuffling order.
    ``checkpoint_path`` writes a training checkpoint (model, optimizer, epoch, history,
    callback and random-generator states) atomically after every completed epoch;
    ``resume_from`` continues from one, so that a run stopped after epoch k and resumed with
    the same arguments ends bit-identical to a run never stopped. ``callbacks`` run in list
    order at every event, then ``History`` and the progress display, all through one
    ``CallbackList``; a callback stops training by setting ``model.stop_training = True``.
    ``regularization`` (e.g. ``gw.nn.L1L2(l2=1e-3)``, a callable of the model returning a
    0-d penalty Tensor or None) is added to every training batch's loss, so the history's
    training ``loss`` includes it and ``val_loss`` does not.

    The model trains on the device of its parameters. On a GPU, arrays ``(X, y)`` are copied
    to it once and no step waits for the GPU: the loss and metrics are summed there and read
    once per epoch. The batch logs then hold the loss as a 0-d GPU array, unless a callback
    defines a batch hook, in which case it is a float (one read per step). Dropout masks on a
    GPU come from CuPy's generator, whose state is not in checkpoints.

    ``train_eval=True`` also records ``train_eval_loss`` (and ``train_eval_`` + each metric):
    the training set's mean loss with the model in eval mode (no dropout) at the end of each
    epoch, one more pass over the training data. ``loss`` is the running mean over the
    epoch's dropout-on batches while the weights change, so it can sit above ``val_loss``;
    ``train_eval_loss`` compares like with like.

    ``compile=True`` runs every training step through :func:`gradwise.compile`: recorded on
    its second call (and once more for a partial last batch), replayed after, with results
    bit-identical to the eager step. ``None`` (the default) compiles on the CPU where that was
    measured faster: a model of at most 1M parameters (:data:`COMPILE_MAX_PARAMETERS`) built
    of gradwise's own layers, with gradwise's loss and regularizer. On a quiet 2-core host
    (``python -m benchmarks --only jax --only compile``, benchmarks/RESULTS.md) ``fit`` epochs
    took 0.77 (2-16-16-1) and 0.89 (784-64-10) of the eager time and the step 0.61 and 0.86;
    on 784-1000-1000-10 and 4096-4096-4096-10 the step took 0.98 to 1.05, so larger models
    run eagerly unless ``compile=True``. It does not compile on a GPU (CuPy
    steps run eagerly) nor a model, loss or regularizer of a user's own classes, whose Python
    side effects would not run at a replay (pass ``compile=True`` when there are none).
    ``GRADWISE_COMPILE=0`` (or ``1``) in the environment turns the default off (or on
    everywhere).
    """
    loss = get_loss(loss) if isinstance(loss, str) else loss
    names = _metrics.check_metrics(metrics)
    threshold = _threshold(loss)
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}")
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split!r}")
    if seed is not None:
        backend.manual_seed(seed)
    if not distributed.is_root():  # under MPI only rank 0 prints
        verbose = 0
    loader, val_loader, train_eval_loader = _fit_loaders(
        model, train_data, batch_size, validation_data, validation_split, shuffle, seed,
        train_eval)

    user = list(callbacks or [])
    history = History()
    every = CallbackList([*user, history, ProgressLogger(verbose)])
    every.set_model(model)
    every.set_optimizer(optimizer)
    every.set_params({"epochs": epochs, "steps": len(loader), "verbose": verbose})
    checkpoints = _Checkpoints(model, optimizer, loader, user, history, resume_from,
                               checkpoint_path)
    dp = distributed.data_parallel(model, loader, val_loader)  # None in a single process
    if dp is not None:
        loader, val_loader = dp.train_loader, dp.val_loader

    was_training = model.training
    model.stop_training = False
    every.on_train_begin({})
    initial_epoch = checkpoints.restore()
    step = _Step(model, loss, optimizer, names, threshold, every, regularization,
                 compile)
    # a seeded run gives the same bits at any load: one thread count unless its products are
    # the same at every count (gradwise.threads.for_run); a resume holds the recorded one
    run_threads = contextlib.ExitStack()
    checkpoints.threads = run_threads.enter_context(threads.for_run(
        seed is not None and step.device == "cpu",
        None if dp is not None else _thread_probe(model, loss, [loader, val_loader,
                                                                train_eval_loader]),
        None if checkpoints.resumed is None else checkpoints.resumed[1].get("threads")))
    try:
        for epoch in range(initial_epoch, epochs):
            logs: dict[str, Any] = {}
            every.on_epoch_begin(epoch, logs)
            completed = step.epoch(loader, every, logs)
            if train_eval_loader is not None:
                for k, v in _run_eval(model, loss, train_eval_loader, names, threshold).items():
                    logs[f"train_eval_{k}"] = v
            if val_loader is not None:
                for k, v in _run_eval(model, loss, val_loader, names, threshold).items():
                    logs[f"val_{k}"] = v
            logs["lr"] = float(optimizer.param_groups[0]["lr"])
            every.on_epoch_end(epoch, logs)
            checkpoints.save(epoch, completed)
            if dp is not None:  # a callback's decision on one rank is every rank's
                dp.train_loader.agree_to_stop(model)
            if model.stop_training:
                break
    finally:
        model.train(was_training)
        run_threads.close()
        if dp is not None:
            dp.close()
    every.on_train_end({})
    return history
