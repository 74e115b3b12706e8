"""``Module.summary()``: a Keras-like table of a model's layers, output shapes and parameter
counts, as text (``str``/``repr``) and as HTML (``_repr_html_``, shown by Jupyter)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import backend
from ..autograd import Tensor, no_grad
from .layers import Flatten
from .module import Module, Sequential

__all__ = ["ModelSummary", "summarize"]


@dataclass
class ModelSummary:
    """Rows of ``(layer, output shape, parameters)``; ``None`` in a shape is the batch axis, and
    ``?`` an output shape that needs ``input_shape`` to be known."""

    model_name: str
    rows: list[tuple[str, str, int]]
    total: int
    trainable: int

    def _lines(self) -> list[str]:
        head = ("Layer (type)", "Output Shape", "Param #")
        table = [head, *[(n, s, f"{p:,}") for n, s, p in self.rows]]
        w = [max(len(r[i]) for r in table) + 2 for i in range(3)]
        rule = "-" * sum(w)
        lines = [f'Model: "{self.model_name}"', "=" * sum(w),
                 head[0].ljust(w[0]) + head[1].ljust(w[1]) + head[2].rjust(w[2]), "=" * sum(w)]
        for n, s, p in table[1:]:
            lines.append(n.ljust(w[0]) + s.ljust(w[1]) + p.rjust(w[2]))
        lines += [rule, f"Total params: {self.total:,}", f"Trainable params: {self.trainable:,}",
                  f"Non-trainable params: {self.total - self.trainable:,}", rule]
        return lines

    def __str__(self) -> str:
        return "\n".join(self._lines())

    __repr__ = __str__

    def _repr_html_(self) -> str:
        e = html.escape
        rows = "".join(f"<tr><td>{e(n)}</td><td>{e(s)}</td><td style='text-align:right'>{p:,}"
                       f"</td></tr>" for n, s, p in self.rows)
        return (f"<div><b>Model: {e(self.model_name)}</b><table><thead><tr><th>Layer (type)"
                f"</th><th>Output Shape</th><th>Param #</th></tr></thead><tbody>{rows}</tbody>"
                f"</table><p>Total params: {self.total:,}<br>Trainable params: "
                f"{self.trainable:,}<br>Non-trainable params: {self.total - self.trainable:,}"
                f"</p></div>")


def _count(m: Module) -> tuple[int, int]:
    ps = list(m.parameters())
    return (int(sum(p.data.size for p in ps)),
            int(sum(p.data.size for p in ps if p.requires_grad)))


def _guess_input(layers: Sequence[Module]) -> tuple[int, ...] | None:
    """The input shape (without the batch axis) that the first Dense layer fixes, when every
    layer before it keeps the shape."""
    for layer in layers:
        in_features = getattr(layer, "in_features", None)
        if in_features is not None:
            return (int(in_features),)
        if isinstance(layer, Flatten | Sequential):
            return None
    return None


def summarize(model: Module, input_shape: Sequence[int] | None = None) -> ModelSummary:
    """The summary of ``model``: one row per layer of a ``Sequential`` (the model itself
    otherwise). Output shapes come from a forward pass of one zero sample of ``input_shape``
    (without the batch axis; by default what the first ``Dense`` layer takes)."""
    layers = list(model) if isinstance(model, Sequential) else [model]
    shape = tuple(input_shape) if input_shape is not None else _guess_input(layers)
    shapes: list[str] = []
    if shape is not None:
        params = list(model.parameters())
        dtype = params[0].dtype if params else backend.get_default_dtype()
        device = params[0].device if params else "cpu"
        was_training = model.training
        model.eval()
        try:
            with no_grad():
                x: Any = Tensor(np.zeros((1, *shape)), dtype=dtype, device=device)
                for layer in layers:
                    x = layer(x)
                    shapes.append(str((None, *x.shape[1:])))
        finally:
            model.train(was_training)
    else:
        shapes = ["?"] * len(layers)
    names = ([name for name, _ in model.named_children()] if isinstance(model, Sequential)
             else [type(model).__name__.lower()])
    rows = [(f"{name} ({type(layer).__name__})", s, _count(layer)[0])
            for name, layer, s in zip(names, layers, shapes, strict=True)]
    total, trainable = _count(model)
    return ModelSummary(type(model).__name__, rows, total, trainable)
