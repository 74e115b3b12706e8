"""ONNX export (``gw.onnx.export``): a gradwise model as an ONNX graph for inference.

Every layer and activation of :mod:`gradwise.nn` has an ONNX form (opset 17 by default):

=====================  =========================================================
gradwise               ONNX
=====================  =========================================================
Dense / Perceptron     ``MatMul(x, W)`` (+ ``Add(b)``), then the activation
Sigmoid, Tanh, ReLU    ``Sigmoid``, ``Tanh``, ``Relu``
LeakyReLU(s)           ``LeakyRelu(alpha=s)``
Softplus               ``Softplus``
Softmax(axis)          ``Softmax(axis)``
Identity               ``Identity``
Dropout                ``Identity`` (dropout is the identity at inference)
Flatten                ``Flatten(axis=1)``
Sequential             its layers in order (nested ones flattened)
=====================  =========================================================

``W`` keeps gradwise's (in, out) layout, so ``MatMul`` computes ``x @ W`` exactly as the
``Dense`` layer does. The first axis of the input and output is a dynamic ``batch`` dimension.
The graph is checked with ``onnx.checker`` and written atomically. Needs the ``onnx`` package
(``pip install "gradwise[onnx]"``).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .. import backend, nn
from ..autograd import Tensor, no_grad
from ..io import write_atomic
from ..ops.activations import ELU

__all__ = ["export", "to_onnx"]


def _import_onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ImportError('ONNX export needs the onnx package: pip install "gradwise[onnx]"'
                          ) from None
    return onnx


class _Graph:
    """Nodes and initializers, each output named after the node that makes it."""

    def __init__(self, onnx: Any, dtype: np.dtype) -> None:
        self.onnx, self.dtype = onnx, dtype
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.count = 0

    def node(self, op: str, inputs: list[str], **attrs: Any) -> str:
        self.count += 1
        out = f"{op.lower()}_{self.count}"
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def const(self, name: str, array: Any) -> str:
        arr = np.ascontiguousarray(backend.to_numpy(array), dtype=self.dtype)
        self.inits.append(self.onnx.numpy_helper.from_array(arr, name))
        return name


def _elu_alpha(act: nn.Activation) -> float:
    op = ELU(*act.args, **act.kwargs)
    return float(op.alpha)


def _activation(g: _Graph, act: Any, x: str, where: str) -> str:
    if act is None:
        return x
    if isinstance(act, str):  # a Dense layer's fused activation (default options)
        if act == "elu":
            return g.node("Elu", [x], alpha=1.0)
        if act not in ("relu", "sigmoid", "tanh"):
            raise ValueError(f"ONNX export: no ONNX form for the fused activation {act!r} of "
                             f"{where or 'model'}")
        return g.node({"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}[act], [x])
    if isinstance(act, nn.Activation) and act.op is ELU:
        return g.node("Elu", [x], alpha=_elu_alpha(act))
    simple = {nn.ReLU: "Relu", nn.Sigmoid: "Sigmoid", nn.Tanh: "Tanh", nn.Softplus: "Softplus",
              nn.Identity: "Identity", nn.Dropout: "Identity"}
    if type(act) in simple:
        return g.node(simple[type(act)], [x])
    if isinstance(act, nn.LeakyReLU):
        return g.node("LeakyRelu", [x], alpha=float(act.negative_slope))
    if isinstance(act, nn.Softmax):
        return g.node("Softmax", [x], axis=int(act.axis))
    if isinstance(act, nn.Flatten):
        return g.node("Flatten", [x], axis=1)
    if isinstance(act, nn.Sequential):
        for i, layer in enumerate(act):
            x = _layer(g, layer, x, f"{where}.{i}" if where else str(i))
        return x
    raise ValueError(f"ONNX export: no ONNX form for the module {where or 'model'} = {act!r}")


def _layer(g: _Graph, layer: nn.Module, x: str, where: str) -> str:
    if isinstance(layer, nn.Dense):
        prefix = where or "dense"
        y = g.node("MatMul", [x, g.const(f"{prefix}.weight", layer.weight.data)])
        if layer.bias is not None:
            y = g.node("Add", [y, g.const(f"{prefix}.bias", layer.bias.data)])
        return _activation(g, layer._fused or layer.activation, y, where)
    return _activation(g, layer, x, where)


def to_onnx(model: nn.Module, example_input: Any, opset: int = 17,
            input_name: str = "input", output_name: str = "output") -> Any:
    """The ``onnx.ModelProto`` of ``model`` (checked by ``onnx.checker``). ``example_input``
    (an array or Tensor with a batch axis first) fixes the other input dimensions and the
    dtype; the output shape is found by running the model on it in eval mode."""
    onnx = _import_onnx()
    dtype = np.dtype(next(iter(model.parameters())).dtype) if model.num_parameters() else \
        np.dtype(backend.get_default_dtype())
    x = np.asarray(backend.to_numpy(example_input.data if isinstance(example_input, Tensor)
                                    else example_input), dtype=dtype)
    if x.ndim < 1:
        raise ValueError(f"ONNX export: example_input needs a batch axis, got shape {x.shape}")
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            out = model(Tensor(x, dtype=dtype, device=_device(model)))
    finally:
        model.train(was_training)
    g = _Graph(onnx, dtype)
    y = _layer(g, model, input_name, "")
    g.nodes.append(onnx.helper.make_node("Identity", [y], [output_name], name=output_name))
    elem = onnx.helper.np_dtype_to_tensor_dtype(dtype)
    graph = onnx.helper.make_graph(
        g.nodes, "gradwise", [onnx.helper.make_tensor_value_info(
            input_name, elem, ["batch", *x.shape[1:]])],
        [onnx.helper.make_tensor_value_info(output_name, elem, ["batch", *out.shape[1:]])],
        initializer=g.inits)
    proto = onnx.helper.make_model(graph, producer_name="gradwise",
                                   opset_imports=[onnx.helper.make_opsetid("", opset)])
    proto.ir_version = min(proto.ir_version, 9)  # readable by onnxruntime releases since 1.16
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _device(model: nn.Module) -> str:
    params = list(model.parameters())
    return params[0].device if params else "cpu"


def export(model: nn.Module, example_input: Any, path: str | os.PathLike[str],
           opset: int = 17) -> None:
    """Write ``model`` as an ONNX file at ``path`` (atomically): ``gw.onnx.export(model, x,
    "model.onnx")``. See :func:`to_onnx`."""
    write_atomic(path, to_onnx(model, example_input, opset).SerializeToString())
