"""PyTorch weights both ways, for ``torch.nn.Sequential`` models of ``Linear`` layers and
activations.

A gradwise ``Dense`` computes ``y = x @ W + b`` with ``W`` of shape (in, out) (the lecture's
``X^T W``); a torch ``Linear`` computes ``y = x @ W^T + b`` with ``W`` of shape (out, in). So
``W_gradwise = W_torch^T`` and the biases are equal, and the two models compute the same
function.

- :func:`from_torch` builds the gradwise model of a ``torch.nn.Sequential`` (weights copied).
- :func:`to_torch` builds the ``torch.nn.Sequential`` of a gradwise model (weights copied).
- :func:`load_torch_weights` loads a torch ``state_dict`` (or a safetensors file written by
  ``safetensors.torch.save_file``, read without torch) into an existing gradwise model.
- :func:`torch_state_dict` / :func:`save_torch_weights` give a gradwise model's weights in
  torch's names and layout (a dict of arrays, or a safetensors file that
  ``to_torch(model).load_state_dict(safetensors.torch.load_file(path))`` reads).

The k-th ``Linear`` of the torch model pairs with the k-th ``Dense`` of the gradwise model
(fused activations make the module indices differ); shapes are checked before anything is
copied. torch is imported only by :func:`from_torch` and :func:`to_torch`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import backend, nn
from ..ops.activations import ELU
from ..training.checkpoint import write_safetensors

__all__ = ["from_torch", "load_torch_weights", "save_torch_weights", "to_torch",
           "torch_state_dict"]

_LINEAR_KEY = re.compile(r"^(?P<prefix>.*?)(?P<name>weight|bias)$")


def _import_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ImportError("this needs PyTorch: pip install torch") from None
    return torch


def _natural_key(name: str) -> list[tuple[int, int | str]]:
    return [(0, int(part)) if part.isdigit() else (1, part) for part in name.split(".")]


def _dense_layers(model: nn.Module) -> list[nn.Dense]:
    return [m for _, m in model.named_modules() if isinstance(m, nn.Dense)]


def _as_array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _torch_linears(state: Mapping[str, Any]) -> list[dict[str, np.ndarray]]:
    """The ``{"weight": (out, in), "bias": (out,)}`` of each Linear in a torch state dict, in
    the order of the keys."""
    layers: dict[str, dict[str, np.ndarray]] = {}
    for key, value in state.items():
        m = _LINEAR_KEY.match(key)
        if m is None:
            raise ValueError(f"state dict key {key!r} is not a Linear layer's weight or bias")
        layers.setdefault(m["prefix"], {})[m["name"]] = _as_array(value)
    out = []
    for prefix, entry in layers.items():
        if "weight" not in entry or entry["weight"].ndim != 2:
            raise ValueError(f"state dict entry {prefix!r} has no 2-D weight: "
                             f"{ {k: v.shape for k, v in entry.items()} }")
        out.append(entry)
    return out


def load_torch_weights(model: nn.Module, state: Mapping[str, Any] | str | os.PathLike[str]
                       ) -> None:
    """Load the weights of a torch ``Sequential`` of ``Linear`` layers into ``model``'s
    ``Dense`` layers in order: ``W = weight^T`` and ``b = bias``.

    ``state`` is a torch ``state_dict()`` (tensors or arrays) or the path of a safetensors file
    written by torch (its names are put back in numeric module order). Raises ``ValueError``
    naming the layer when the counts, shapes or bias presence differ; nothing is changed then.
    """
    if isinstance(state, str | os.PathLike):
        from safetensors.numpy import load_file
        loaded = load_file(os.fspath(state))
        # a safetensors file sorts its names as strings ("10.weight" before "2.weight"): put
        # them back in module order, numbering compared as numbers
        state = {k: loaded[k] for k in sorted(loaded, key=_natural_key)}
    linears = _torch_linears(state)
    denses = _dense_layers(model)
    if len(linears) != len(denses):
        raise ValueError(f"the torch weights have {len(linears)} Linear layers, the model has "
                         f"{len(denses)} Dense layers")
    plan = []
    for i, (entry, dense) in enumerate(zip(linears, denses, strict=True)):
        w = entry["weight"]
        if w.shape != (dense.out_features, dense.in_features):
            raise ValueError(
                f"Linear {i}: torch weight of shape {w.shape} (out, in) does not fit Dense "
                f"{dense.in_features}->{dense.out_features}, which needs "
                f"({dense.out_features}, {dense.in_features})")
        b = entry.get("bias")
        if (b is None) != (dense.bias is None):
            raise ValueError(f"Linear {i}: the torch layer {'has no' if b is None else 'has a'} "
                             f"bias but the Dense layer {'has one' if b is None else 'has none'}")
        if b is not None and b.shape != (dense.out_features,):
            raise ValueError(f"Linear {i}: torch bias of shape {b.shape} does not fit "
                             f"({dense.out_features},)")
        plan.append((dense, w, b))
    for dense, w, b in plan:
        weight = dense.weight
        weight.data[...] = backend.to_device(np.ascontiguousarray(w.T), weight.device).astype(
            weight.dtype)
        if b is not None and dense.bias is not None:
            dense.bias.data[...] = backend.to_device(b, weight.device).astype(weight.dtype)


# --- the module structure ----------------------------------------------------------------------

def _activation_to_torch(torch: Any, act: Any) -> Any:
    tnn = torch.nn
    if isinstance(act, str):  # a Dense layer's fused activation (default options)
        fused = {"relu": tnn.ReLU, "sigmoid": tnn.Sigmoid, "tanh": tnn.Tanh, "elu": tnn.ELU}
        if act not in fused:
            raise ValueError(f"to_torch: no torch equivalent for the fused activation {act!r}")
        return fused[act]()
    if isinstance(act, nn.Activation) and act.op is ELU:
        op = ELU(*act.args, **act.kwargs)
        return tnn.ELU(float(op.alpha))
    table = {nn.ReLU: tnn.ReLU, nn.Sigmoid: tnn.Sigmoid, nn.Tanh: tnn.Tanh,
             nn.Softplus: tnn.Softplus, nn.Identity: tnn.Identity, nn.Flatten: tnn.Flatten}
    if type(act) in table:
        return table[type(act)]()
    if isinstance(act, nn.LeakyReLU):
        return tnn.LeakyReLU(act.negative_slope)
    if isinstance(act, nn.Softmax):
        return tnn.Softmax(dim=act.axis)
    if isinstance(act, nn.Dropout):
        return tnn.Dropout(act.p)
    raise ValueError(f"to_torch: no torch equivalent for the module {act!r}")


def _layers(model: nn.Module) -> list[nn.Module]:
    return list(model) if isinstance(model, nn.Sequential) else [model]


def to_torch(model: nn.Module, dtype: Any = None) -> Any:
    """The ``torch.nn.Sequential`` computing what ``model`` (a gradwise ``Sequential`` of
    ``Dense``/``Perceptron`` layers, activations, ``Dropout`` and ``Flatten``, or one such
    layer) computes, with its weights (``weight = W^T``). A ``Dense`` with an activation
    becomes ``Linear`` followed by the activation module. ``dtype`` defaults to the model's."""
    torch = _import_torch()
    layers = []
    for layer in _layers(model):
        if isinstance(layer, nn.Dense):
            w = backend.to_numpy(layer.weight.data)
            tdtype = dtype or getattr(torch, str(w.dtype))
            lin = torch.nn.Linear(layer.in_features, layer.out_features,
                                  bias=layer.bias is not None, dtype=tdtype)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))
                if layer.bias is not None:
                    lin.bias.copy_(torch.from_numpy(backend.to_numpy(layer.bias.data)))
            layers.append(lin)
            act = layer._fused or layer.activation
            if act is not None:
                layers.append(_activation_to_torch(torch, act))
        else:
            layers.append(_activation_to_torch(torch, layer))
    return torch.nn.Sequential(*layers)


def from_torch(module: Any, dtype: Any = None) -> nn.Sequential:
    """The gradwise ``Sequential`` computing what a ``torch.nn.Sequential`` of ``Linear``,
    ``ReLU``, ``Sigmoid``, ``Tanh``, ``LeakyReLU``, ``Softplus`` (beta 1), ``Softmax``,
    ``Identity``, ``Dropout`` and ``Flatten`` computes, with its weights (``W = weight^T``).
    ``dtype`` defaults to the torch weights' dtype (float32 or float64)."""
    torch = _import_torch()
    tnn = torch.nn
    modules = list(module) if isinstance(module, tnn.Sequential) else [module]
    out: list[nn.Module] = []
    for m in modules:
        if isinstance(m, tnn.Linear):
            w = m.weight.detach().cpu().numpy()
            dense = nn.Dense(m.in_features, m.out_features, bias=m.bias is not None,
                             dtype=dtype or w.dtype)
            dense.weight.data[...] = w.T
            if m.bias is not None and dense.bias is not None:
                dense.bias.data[...] = m.bias.detach().cpu().numpy()
            out.append(dense)
        elif isinstance(m, tnn.Softplus):
            if m.beta != 1:
                raise ValueError(f"from_torch: gradwise's Softplus has beta 1, got {m!r}")
            out.append(nn.Softplus())
        elif isinstance(m, tnn.LeakyReLU):
            out.append(nn.LeakyReLU(m.negative_slope))
        elif isinstance(m, tnn.Softmax):
            out.append(nn.Softmax(axis=-1 if m.dim is None else m.dim))
        elif isinstance(m, tnn.Dropout):
            out.append(nn.Dropout(m.p))
        elif isinstance(m, tnn.Flatten):
            if (m.start_dim, m.end_dim) != (1, -1):
                raise ValueError(f"from_torch: only Flatten(1, -1) has a gradwise equivalent, "
                                 f"got {m!r}")
            out.append(nn.Flatten())
        elif type(m) in (tnn.ReLU, tnn.Sigmoid, tnn.Tanh, tnn.Identity):
            out.append({tnn.ReLU: nn.ReLU, tnn.Sigmoid: nn.Sigmoid, tnn.Tanh: nn.Tanh,
                        tnn.Identity: nn.Identity}[type(m)]())
        else:
            raise ValueError(f"from_torch: no gradwise equivalent for the torch module {m!r}")
    model = nn.Sequential(*out)
    model.train(module.training)
    return model


def torch_state_dict(model: nn.Module) -> dict[str, np.ndarray]:
    """``model``'s weights in torch's layout, named as in :func:`to_torch`'s Sequential
    (``"0.weight"`` of shape (out, in), ``"0.bias"``, ...)."""
    state: dict[str, np.ndarray] = {}
    index = 0
    for layer in _layers(model):
        if isinstance(layer, nn.Dense):
            state[f"{index}.weight"] = np.ascontiguousarray(
                backend.to_numpy(layer.weight.data).T)
            if layer.bias is not None:
                state[f"{index}.bias"] = backend.to_numpy(layer.bias.data).copy()
            index += 2 if (layer._fused or layer.activation is not None) else 1
        else:
            index += 1
    return state


def save_torch_weights(model: nn.Module, path: str | os.PathLike[str]) -> None:
    """Write :func:`torch_state_dict` as a safetensors file (atomically), which
    ``to_torch(model).load_state_dict(safetensors.torch.load_file(path))`` reads."""
    write_safetensors(path, torch_state_dict(model), {"format": "pt"})
