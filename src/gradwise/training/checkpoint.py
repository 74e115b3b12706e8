"""Weights and training checkpoints in safetensors, written atomically and verified on load.

``save(model, path)`` writes one tensor per parameter, keyed by its dotted name (``"0.weight"``),
so PyTorch's ``safetensors.torch.load_file`` and the Hugging Face tools read it. A training
checkpoint adds, under path-like keys (``"optimizer/state/0/exp_avg"``), every array of the
optimizer's and the callbacks' state; the rest (epoch, history, hyperparameters, random
generator states) is JSON in the file's metadata. Every file carries the SHA-256 of its tensors
and metadata: a truncated or tampered file is refused before anything is copied into a model.
Nothing is ever pickled.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import backend
from ..errors import CheckpointError
from ..io import write_atomic
from ..nn.module import Module

__all__ = ["CheckpointError", "check_optimizer_config", "load", "optimizer_config",
           "read_checkpoint", "read_safetensors", "save", "write_checkpoint", "write_safetensors"]

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


def write_safetensors(path: str | os.PathLike[str], tensors: dict[str, np.ndarray],
                      metadata: dict[str, str]) -> None:
    """Write ``tensors`` and string ``metadata`` atomically, adding the SHA-256 of both."""
    from safetensors.numpy import save as st_save

    tensors = {k: np.ascontiguousarray(backend.to_numpy(v)) for k, v in tensors.items()}
    metadata = dict(metadata, sha256=_digest(tensors, metadata))
    write_atomic(path, st_save(tensors, metadata=metadata))


def read_safetensors(path: str | os.PathLike[str],
                     require_digest: bool = True) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read and verify a safetensors file: every byte is checked before the caller uses it."""
    from safetensors.numpy import load as st_load

    raw = Path(path).read_bytes()
    size = int.from_bytes(raw[:8], "little") if len(raw) >= 8 else None
    if size is None or 8 + size > len(raw):
        raise CheckpointError(
            f"{path}: {len(raw)} bytes, shorter than its header says: the file is truncated"
        )
    try:
        header = json.loads(raw[8:8 + size])
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


def _unpack(obj: Any, tensors: dict[str, np.ndarray]) -> Any:
    if isinstance(obj, list):
        return [_unpack(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj:
        return tensors[obj["__tensor__"]]
    if "__scalar__" in obj:
        return tensors[obj["__scalar__"]][()]
    if "__tuple__" in obj:
        return tuple(_unpack(v, tensors) for v in obj["__tuple__"])
    if "__items__" in obj:
        return {k: _unpack(v, tensors) for k, v in obj["__items__"]}
    return {k: _unpack(v, tensors) for k, v in obj.items()}


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
    return params, _unpack(json.loads(metadata["state"]), tensors)
