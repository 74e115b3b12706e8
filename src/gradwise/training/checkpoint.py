"""Weights and training checkpoints in safetensors, written atomically and verified on load.

``save(model, path)`` writes one tensor per parameter, keyed by its dotted name (``"0.weight"``),
so PyTorch's ``safetensors.torch.load_file`` and the Hugging Face tools read it. A training
checkpoint adds, under path-like keys (``"optimizer/state/0/exp_avg"``), every array of the
optimizer's and the callbacks' state; the rest (epoch, history, hyperparameters, random
generator states) is JSON in the file's metadata. Every file carries the SHA-256 of its tensors
and metadata, so a truncated or corrupted file is refused before anything is copied into a
model. The digest sits in the same file, so it detects accidents, not tampering: whoever can
change the file can recompute it. A crafted file with a valid digest is still checked field by
field (a :class:`CheckpointError` naming the field), and nothing is ever pickled, so loading
one cannot run code.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .. import backend
from ..errors import CheckpointError
from ..io import atomic_path
from ..nn.module import Module

__all__ = ["CheckpointError", "check_optimizer_config", "check_resumed_hyperparameters",
           "check_training_state", "load",
           "optimizer_config", "read_checkpoint", "read_safetensors", "save", "write_checkpoint",
           "write_safetensors", "write_safetensors_rows"]

#: the most threads a checkpoint may ask a resumed run to hold (OpenBLAS builds allow 64-512)
MAX_THREADS = 1024

_FORMAT_WEIGHTS = "gradwise-weights"
_FORMAT_CHECKPOINT = "gradwise-checkpoint"


def _digest(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> str:
    """SHA-256 over the metadata (without the digest itself) and every tensor's name, dtype,
    shape and bytes, in sorted order."""
    h = hashlib.sha256()
    for k in sorted(metadata):
        if k != "sha256":
            h.update(json.dumps([k, metadata[k]]).encode())
    for k in sorted(tensors):
        a = np.ascontiguousarray(tensors[k])
        h.update(json.dumps([k, a.dtype.name, list(a.shape)]).encode())
        h.update(a.tobytes())
    return h.hexdigest()


#: NumPy dtype -> the safetensors dtype name (the format's little-endian types)
_ST_DTYPES = {"float64": "F64", "float32": "F32", "float16": "F16", "int64": "I64",
              "int32": "I32", "int16": "I16", "int8": "I8", "uint64": "U64", "uint32": "U32",
              "uint16": "U16", "uint8": "U8", "bool": "BOOL"}


def _header(entries: dict[str, tuple[str, list[int], int]], metadata: dict[str, str]) -> bytes:
    """The safetensors header (8-byte length, JSON padded with spaces to a multiple of 8) for
    tensors ``name -> (dtype, shape, nbytes)`` stored one after the other in sorted name order,
    with every key of the JSON sorted: the same tensors and metadata give the same bytes
    (safetensors' own writer orders the metadata as a hash map does, differently per run)."""
    table: dict[str, Any] = {"__metadata__": dict(sorted(metadata.items()))}
    offset = 0
    for name in sorted(entries):
        dtype, shape, nbytes = entries[name]
        table[name] = {"data_offsets": [offset, offset + nbytes], "dtype": dtype,
                       "shape": shape}
        offset += nbytes
    header = json.dumps(table, separators=(",", ":"), sort_keys=True).encode()
    header += b" " * (-len(header) % 8)
    return len(header).to_bytes(8, "little") + header


def write_safetensors(path: str | os.PathLike[str], tensors: dict[str, np.ndarray],
                      metadata: dict[str, str]) -> None:
    """Write ``tensors`` and string ``metadata`` atomically, adding the SHA-256 of both. The
    file's bytes depend only on the tensors and the metadata (see :func:`_header`)."""
    arrays = {}
    for k, v in tensors.items():
        a = np.ascontiguousarray(backend.to_numpy(v))
        if a.dtype.name not in _ST_DTYPES:
            raise TypeError(f"cannot store {k!r} of dtype {a.dtype} in a safetensors file")
        arrays[k] = a.astype(a.dtype.newbyteorder("<"), copy=False)
    metadata = dict(metadata, sha256=_digest(arrays, metadata))
    entries = {k: (_ST_DTYPES[a.dtype.name], list(a.shape), a.nbytes) for k, a in arrays.items()}
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(_header(entries, metadata))
        for k in sorted(arrays):
            f.write(arrays[k].tobytes())


def write_safetensors_rows(path: str | os.PathLike[str], name: str,
                           rows: Callable[[], Iterator[np.ndarray]], shape: tuple[int, int],
                           metadata: dict[str, str]) -> None:
    """Write one float32 tensor ``name`` of ``shape`` (n_rows, row_size) whose rows come from
    ``rows()`` (called twice: once for the SHA-256, once to write), so that only one row is in
    memory at a time. The file is the one :func:`write_safetensors` would write."""
    n, width = shape
    h = hashlib.sha256()
    for k in sorted(metadata):
        if k != "sha256":
            h.update(json.dumps([k, metadata[k]]).encode())
    h.update(json.dumps([name, "float32", [n, width]]).encode())
    count = 0
    for row in rows():
        row = np.ascontiguousarray(row, dtype=np.float32)
        if row.shape != (width,):
            raise ValueError(f"row {count} of {name!r} has shape {row.shape}, expected "
                             f"({width},)")
        h.update(row.tobytes())
        count += 1
    if count != n:
        raise ValueError(f"{name!r}: {count} rows, expected {n}")
    meta = dict(metadata, sha256=h.hexdigest())
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(_header({name: ("F32", [n, width], n * width * 4)}, meta))
        for row in rows():
            f.write(np.ascontiguousarray(row, dtype="<f4").tobytes())


def read_safetensors(path: str | os.PathLike[str],
                     require_digest: bool = True) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read and verify a safetensors file: every byte is checked before the caller uses it."""
    from safetensors.numpy import load as st_load

    raw = Path(path).read_bytes()
    if len(raw) < 10 or raw[8:9] != b"{":
        raise CheckpointError(f"{path} is not a safetensors file ({len(raw)} bytes, no JSON "
                              "header after the 8-byte length)")
    size = int.from_bytes(raw[:8], "little")
    if 8 + size > len(raw):
        raise CheckpointError(
            f"{path}: {len(raw)} bytes, shorter than its header says: the file is truncated"
        )
    try:
        header = json.loads(raw[8:8 + size])
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
        tensors = st_load(raw)
    except Exception as exc:
        raise CheckpointError(f"{path} is not a valid safetensors file (truncated or "
                              f"corrupt): {exc}") from None
    metadata = header.get("__metadata__") or {}
    expected = metadata.get("sha256")
    if expected is None:
        if require_digest:
            raise CheckpointError(f"{path} has no SHA-256 in its metadata: not a gradwise "
                                  "training checkpoint")
    elif _digest(tensors, metadata) != expected:
        raise CheckpointError(
            f"{path}: SHA-256 of the contents does not match the one recorded in the file; "
            "it was modified or corrupted after it was written, refusing to load it"
        )
    return tensors, metadata


def save(model: Module, path: str | os.PathLike[str]) -> None:
    """Write the model's parameters to a safetensors file, one tensor per dotted name."""
    write_safetensors(path, model.state_dict(), {"format": _FORMAT_WEIGHTS})


def load(model: Module, path: str | os.PathLike[str]) -> Module:
    """Load parameters saved by :func:`save` (or any safetensors file keyed by the model's
    parameter names, e.g. from PyTorch) into ``model`` in place and return it.

    The file's digest (when present), names and shapes are all checked before any parameter
    is written.
    """
    tensors, _ = read_safetensors(path, require_digest=False)
    try:
        model.load_state_dict(tensors)
    except ValueError as exc:
        raise CheckpointError(f"{path} does not fit the model: {exc}") from None
    return model


# --- training checkpoints ---------------------------------------------------------------------

def optimizer_config(optimizer: Any) -> dict[str, Any]:
    """The optimizer's class name and hyperparameters (its ``defaults``, as JSON values): what
    a checkpoint records so that resuming into another optimizer is refused."""
    defaults = getattr(optimizer, "defaults", {})
    return {"class": type(optimizer).__name__,
            "defaults": json.loads(json.dumps(defaults, default=str))}


def check_optimizer_config(path: Any, saved: Any, optimizer: Any) -> None:
    """Raise :class:`CheckpointError` naming both sides when ``saved`` (a checkpoint's
    :func:`optimizer_config`) is not this ``optimizer``'s."""
    mine = optimizer_config(optimizer)
    if saved is None or saved == mine:
        return
    if not isinstance(saved, dict) or not isinstance(saved.get("defaults"), dict):
        raise CheckpointError(f"{path}: field 'optimizer_config' is {saved!r}, expected "
                              "{'class': ..., 'defaults': {...}}")

    def text(cfg: dict[str, Any]) -> str:
        hyper = ", ".join(f"{k}={v!r}" for k, v in sorted(cfg["defaults"].items()))
        return f"{cfg.get('class')}({hyper})"

    raise CheckpointError(f"{path} was written by {text(saved)}; this run has {text(mine)}: "
                          "resuming would mix optimizer states; start a new run to change "
                          "the optimizer")


def _pack(obj: Any, key: str, tensors: dict[str, np.ndarray]) -> Any:
    """A JSON-able copy of ``obj`` with every array moved into ``tensors`` under a path key."""
    if isinstance(obj, np.generic):
        tensors[key] = np.asarray(obj)
        return {"__scalar__": key}
    if hasattr(obj, "__array__") and hasattr(obj, "dtype") and hasattr(obj, "shape"):
        tensors[key] = backend.to_numpy(obj)
        return {"__tensor__": key}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {k: _pack(v, f"{key}/{k}", tensors) for k, v in obj.items()}
        return {"__items__": [[k, _pack(v, f"{key}/{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_pack(v, f"{key}/{i}", tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_pack(v, f"{key}/{i}", tensors) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise TypeError(f"cannot store a {type(obj).__name__} at {key!r} in a checkpoint")


def _unpack(obj: Any, tensors: dict[str, np.ndarray], where: str = "state") -> Any:
    if isinstance(obj, list):
        return [_unpack(v, tensors, f"{where}/{i}") for i, v in enumerate(obj)]
    if not isinstance(obj, dict):
        return obj
    for tag in ("__tensor__", "__scalar__"):
        if tag in obj:
            name = obj[tag]
            if not isinstance(name, str) or name not in tensors:
                raise CheckpointError(f"field {where!r} refers to tensor {name!r}, which the "
                                      "file does not hold")
            return tensors[name] if tag == "__tensor__" else tensors[name][()]
    if "__tuple__" in obj:
        return tuple(_unpack(v, tensors, f"{where}/{i}")
                     for i, v in enumerate(_list(obj["__tuple__"], where)))
    if "__items__" in obj:
        items = _list(obj["__items__"], where)
        if not all(isinstance(kv, list) and len(kv) == 2 for kv in items):
            raise CheckpointError(f"field {where!r} holds items that are not [key, value] pairs")
        return {k: _unpack(v, tensors, f"{where}/{k}") for k, v in items}
    return {k: _unpack(v, tensors, f"{where}/{k}") for k, v in obj.items()}


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise CheckpointError(f"field {where!r} is {type(value).__name__}, expected a list")
    return value


def _field(state: Any, key: str, kind: type | tuple[type, ...], path: Any) -> Any:
    value = state.get(key) if isinstance(state, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise CheckpointError(f"{path}: field {key!r} is {value!r}, expected "
                              f"{getattr(kind, '__name__', kind)}")
    return value


def _check_generator(path: Any, field: str, st: Any) -> None:
    """Refuse a random-generator state that NumPy would not take."""
    ok = isinstance(st, dict) and isinstance(st.get("bit_generator"), str)
    if ok:
        try:
            bit_gen = getattr(np.random, st["bit_generator"])()
            bit_gen.state = st
        except (AttributeError, TypeError, ValueError, KeyError, OverflowError):
            ok = False
    if not ok:
        raise CheckpointError(f"{path}: field {field!r} is not a valid random generator state")


def check_training_state(path: Any, state: Any) -> None:
    """Refuse a training state that ``fit`` cannot resume from, naming the first bad field:
    ``epoch`` (an integer >= 0), ``history``, ``optimizer``, ``callbacks`` (a list of
    ``{"class", "state"}``) and ``generators`` (valid NumPy generator states)."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: the training state is {type(state).__name__}, "
                              "expected a JSON object")
    epoch = _field(state, "epoch", int, path)
    if epoch < 0:
        raise CheckpointError(f"{path}: field 'epoch' is {epoch}, expected an integer >= 0")
    history = _field(state, "history", dict, path)
    if not isinstance(history.get("history"), dict) or not isinstance(history.get("epoch"),
                                                                       list):
        raise CheckpointError(f"{path}: field 'history' lacks its 'history' table or "
                              "'epoch' list")
    for key, values in history["history"].items():
        if not (isinstance(values, list) and len(values) == len(history["epoch"])
                and all(_number(v) or (isinstance(v, float) and math.isnan(v)) for v in values)):
            raise CheckpointError(f"{path}: field 'history/history/{key}' is not a list of "
                                  f"{len(history['epoch'])} numbers, one per epoch")
    if history["epoch"] != list(range(len(history["epoch"]))) or len(history["epoch"]) != epoch:
        raise CheckpointError(f"{path}: field 'history/epoch' is {_short(history['epoch'])}; "
                              f"a checkpoint after epoch {epoch} holds [0, ..., {epoch - 1}]")
    opt = _field(state, "optimizer", dict, path)
    if not isinstance(opt.get("param_groups"), list) or not isinstance(opt.get("state"), dict):
        raise CheckpointError(f"{path}: field 'optimizer' lacks 'param_groups' or 'state'")
    for k, entry in opt["state"].items():
        if not isinstance(entry, dict) or not all(
                (isinstance(v, int) and not isinstance(v, bool) and v >= 0) if name == "step"
                else isinstance(v, np.ndarray) and v.dtype.kind == "f"
                for name, v in entry.items()):
            raise CheckpointError(f"{path}: field 'optimizer/state/{k}' is {_short(entry)}, "
                                  "expected a table of arrays and a step count")
    for i, cb in enumerate(_field(state, "callbacks", list, path)):
        if not (isinstance(cb, dict) and isinstance(cb.get("class"), str)
                and isinstance(cb.get("state"), dict)):
            raise CheckpointError(f"{path}: field 'callbacks/{i}' is not {{'class': name, "
                                  "'state': {...}}")
    gens = _field(state, "generators", dict, path)
    _check_generator(path, "generators/default", gens.get("default"))
    if gens.get("loader") is not None:
        _check_generator(path, "generators/loader", gens["loader"])
    modules = gens.get("modules")
    if not isinstance(modules, dict):
        raise CheckpointError(f"{path}: field 'generators/modules' is {modules!r}, expected "
                              "a table")
    for k, st in modules.items():
        _check_generator(path, f"generators/modules/{k}", st)
    held = state.get("threads")
    if held is not None and (isinstance(held, bool) or not isinstance(held, int)
                             or not 1 <= held <= MAX_THREADS):
        raise CheckpointError(f"{path}: field 'threads' is {held!r}, expected a thread count "
                              f"from 1 to {MAX_THREADS} or null")


#: hyperparameters a schedule may move during a run (OneCycleLR cycles the momentum or betas)
_SCHEDULED = frozenset({"lr", "momentum", "betas"})


def _same_kind(a: Any, b: Any) -> bool:
    number = (int, float)
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return type(a) is type(b)
    if isinstance(a, number) and isinstance(b, number):
        return math.isfinite(float(a))
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same_kind(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _changed(callbacks: list[Any], epoch: Any) -> tuple[dict[str, Any], bool]:
    """The optimizer hyperparameters that the run's ``[[changes]]`` (a ``Changes`` callback) set
    before ``epoch`` (the last value of each), and whether one of them moved the learning rate
    or the schedule (then the schedule's replay cannot be checked against the run's config)."""
    values: dict[str, Any] = {}
    moved = False
    if not isinstance(epoch, int):
        return values, moved
    for cb in callbacks:
        if type(cb).__name__ != "Changes":
            continue
        for change in cb.before(epoch):
            for key, value in (change.get("set") or {}).items():
                section, _, name = key.partition(".")
                if section == "optimizer":
                    values[name] = value
                    moved = moved or name == "lr"
                elif section == "schedule":
                    moved = True
    return values, moved


def check_resumed_hyperparameters(path: Any, state: dict[str, Any], optimizer: Any,
                                  callbacks: list[Any]) -> None:
    """Refuse a checkpoint whose optimizer hyperparameters this run could not have reached,
    naming the field: every parameter group must hold this optimizer's hyperparameters, of the
    same kind and finite; those no schedule moves equal to this run's; the learning rate equal
    to this run's unless a ``LearningRateScheduler`` (or a callback of your own) moves it, and
    then to what its schedule gives at the recorded epoch (replayed from the run's own base
    rates for the epoch-indexed schedules; the schedule's recorded ``last_lr`` and parameters,
    such as ``gamma``, must be the run's). Each callback's state is checked too. The file's
    digest only detects accidents: these checks are what refuse a crafted ``lr = 1e6``. The
    run's own values are those of its config after the ``[[changes]]`` of the epochs done."""
    groups = state["optimizer"]["param_groups"]
    if len(groups) != len(optimizer.param_groups):
        raise CheckpointError(f"{path}: field 'optimizer/param_groups' has {len(groups)} groups, "
                              f"this optimizer {len(optimizer.param_groups)}")
    schedulers = [cb for cb in callbacks if type(cb).__name__ == "LearningRateScheduler"
                  or not type(cb).__module__.startswith("gradwise.")]  # yours may move the lr
    changed, moved = _changed(callbacks, state.get("epoch"))
    for i, (saved, group) in enumerate(zip(groups, optimizer.param_groups, strict=True)):
        mine = {**group, **{k: v for k, v in changed.items() if k in group}}
        where = f"optimizer/param_groups/{i}"
        if not isinstance(saved, dict):
            raise CheckpointError(f"{path}: field {where!r} is not a table")
        keys, own = set(saved) - {"params"}, set(mine) - {"params"}
        if keys != own:
            raise CheckpointError(f"{path}: field {where!r} holds hyperparameters "
                                  f"{sorted(keys)}; this optimizer has {sorted(own)}")
        for k in sorted(own):
            field = f"{where}/{k}"
            if not _same_kind(saved[k], mine[k]):
                raise CheckpointError(f"{path}: field {field!r} is {saved[k]!r}, not a finite "
                                      f"value like this run's {mine[k]!r}")
            if k not in _SCHEDULED and not _equal(saved[k], mine[k]):
                raise CheckpointError(f"{path}: field {field!r} is {saved[k]!r}; this run has "
                                      f"{mine[k]!r}")
        lr = saved["lr"]
        if not (isinstance(lr, int | float) and math.isfinite(lr) and lr >= 0):
            raise CheckpointError(f"{path}: field '{where}/lr' is {lr!r}, expected a finite "
                                  "learning rate >= 0")
        bad = next((k for k in sorted(own) if not _equal(saved[k], mine[k])), None)
        if not schedulers and bad is not None:
            raise CheckpointError(f"{path}: field '{where}/{bad}' is {saved[bad]!r}; this run "
                                  f"has {mine[bad]!r} and nothing in it changes that")
    for i, (cb, saved_cb) in enumerate(zip(callbacks, state["callbacks"], strict=False)):
        _check_callback_state(path, f"callbacks/{i}/state", cb, saved_cb["state"])
        if type(cb).__name__ == "LearningRateScheduler" and not moved:
            _check_schedule(path, cb, saved_cb["state"], groups)


def _number(v: Any, none: bool = False) -> bool:
    return (v is None and none) or (isinstance(v, int | float) and not isinstance(v, bool)
                                     and not math.isnan(v))


def _check_callback_state(path: Any, where: str, cb: Any, saved: Any) -> None:
    """A callback's recorded state against the run's callback: the same fields; text fields
    (the names of comparisons) the run's; for the built-in ones, each field's kind and range."""
    mine = cb.state_dict()
    if not isinstance(saved, dict) or set(saved) != set(mine):
        raise CheckpointError(f"{path}: field {where!r} holds "
                              f"{sorted(saved) if isinstance(saved, dict) else saved!r}; "
                              f"{type(cb).__name__} keeps {sorted(mine)}")
    for k, v in mine.items():
        if isinstance(v, str) and saved[k] != v:
            raise CheckpointError(f"{path}: field '{where}/{k}' is {saved[k]!r}; this run's "
                                  f"{type(cb).__name__} has {v!r}")
    name = type(cb).__name__
    checks: dict[str, Callable[[Any], bool]] = {}
    if name == "EarlyStopping":
        checks = {"wait": lambda v: isinstance(v, int) and v >= 0,
                  "stopped_epoch": lambda v: isinstance(v, int) and v >= 0,
                  "best_epoch": lambda v: isinstance(v, int) and v >= 0,
                  "best": lambda v: _number(v, none=True),
                  "min_delta": lambda v: _equal(v, mine["min_delta"]),
                  "monitor_op": lambda v: v in (None, "lt", "gt"),
                  "best_weights": lambda v: v is None or (isinstance(v, dict) and all(
                      isinstance(a, np.ndarray) and a.dtype.kind == "f" for a in v.values()))}
    elif name == "ModelCheckpoint":
        checks = {"best": lambda v: _number(v, none=True)}
    elif name == "Changes":
        checks = {"next_epoch": lambda v: isinstance(v, int) and not isinstance(v, bool)
                  and v >= 0}
    for k, ok in checks.items():
        if not ok(saved[k]):
            raise CheckpointError(f"{path}: field '{where}/{k}' is "
                                  f"{_short(saved[k])}, not a valid {name} {k}")
    if name == "EarlyStopping" and isinstance(saved["best_weights"], dict):
        own = {k: p.shape for k, p in cb.model.named_parameters()} if getattr(
            cb, "model", None) is not None else None
        got = {k: a.shape for k, a in saved["best_weights"].items()}
        if own is not None and got != own:
            raise CheckpointError(f"{path}: field '{where}/best_weights' holds {got}; the "
                                  f"model has {own}")


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


def _check_schedule(path: Any, cb: Any, saved: dict[str, Any], groups: list[Any]) -> None:
    """A ``LearningRateScheduler``'s recorded schedule against the run's own (see
    :func:`check_resumed_hyperparameters`)."""
    from ..optim.schedules import LRSchedule

    schedule = getattr(cb, "schedule", None)
    if not isinstance(schedule, LRSchedule):
        return  # a function or another scheduler: its own load_state_dict checks what it can
    st = saved.get("schedule") if isinstance(saved, dict) else None
    if not (isinstance(st, dict) and isinstance(st.get("last_epoch"), int)
            and isinstance(st.get("last_lr"), list) and isinstance(st.get("base_lrs"), list)):
        raise CheckpointError(f"{path}: the learning-rate schedule's state is {st!r}, expected "
                              "last_epoch, base_lrs and last_lr")
    mine = schedule.state_dict()
    for k in ("base_lrs", *type(schedule)._fields):
        if k not in st or not _equal(st[k], mine[k]):
            raise CheckpointError(f"{path}: the schedule's {k!r} is {st.get(k)!r}; this run's "
                                  f"schedule has {mine[k]!r}")
    last = st["last_lr"]
    if [g.get("lr") for g in groups] != last:
        raise CheckpointError(f"{path}: the optimizer's learning rates "
                              f"{[g.get('lr') for g in groups]} are not the schedule's last "
                              f"{last}")
    epochs = st["last_epoch"]
    if type(schedule).step is LRSchedule.step and 0 <= epochs <= 100_000:
        lrs = list(schedule.base_lrs)
        saved_epoch = schedule.last_epoch
        try:
            for e in range(epochs + 1):
                schedule.last_epoch = e
                lrs = [schedule._next(lr, base) for lr, base in
                       zip(lrs, schedule.base_lrs, strict=True)]
        finally:
            schedule.last_epoch = saved_epoch
        if lrs != last:
            raise CheckpointError(f"{path}: the schedule's last_lr {last} is not what this "
                                  f"run's schedule gives at epoch {epochs} ({lrs})")


def write_checkpoint(path: str | os.PathLike[str], model: Module, state: dict[str, Any]) -> None:
    """Write the model's parameters and a nested training ``state`` (dicts, lists, tuples,
    numbers, strings and arrays) atomically to one safetensors file."""
    tensors = {f"model/{k}": v for k, v in model.state_dict().items()}
    packed = _pack(state, "state", tensors)
    write_safetensors(path, tensors, {"format": _FORMAT_CHECKPOINT, "state": json.dumps(packed)})


def read_checkpoint(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read and verify a training checkpoint: ``(model parameters by name, state)``."""
    tensors, metadata = read_safetensors(path)
    if metadata.get("format") != _FORMAT_CHECKPOINT:
        raise CheckpointError(
            f"{path} has format {metadata.get('format')!r}, expected {_FORMAT_CHECKPOINT!r} "
            "(a training checkpoint written by gw.fit(checkpoint_path=...))"
        )
    params = {k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")}
    if "state" not in metadata:
        raise CheckpointError(f"{path}: field 'state' is missing from the metadata")
    try:
        packed = json.loads(metadata["state"])
        state = _unpack(packed, tensors)
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: field 'state' is not JSON ({exc})") from None
    except RecursionError:
        raise CheckpointError(f"{path}: field 'state' is nested too deeply") from None
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    check_training_state(path, state)
    return params, state
