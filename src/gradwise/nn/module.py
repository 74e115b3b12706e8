"""``Module``, ``Parameter`` and ``Sequential``: PyTorch's low-level model API."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from .. import backend
from ..autograd import Tensor
from . import storage

__all__ = ["Module", "Parameter", "Sequential"]


class Parameter(Tensor):
    """A leaf tensor that a :class:`Module` owns and an optimizer updates (requires grad).

    Its values are copied into contiguous parameter storage (:mod:`gradwise.nn.storage`), next
    to the parameters created before it, with a gradient slot beside them; ``p.data`` is never
    moved afterwards, so an array taken from it stays the parameter's own.
    """

    __slots__ = ()

    def __init__(self, data: Any, dtype: Any = None, requires_grad: bool = True,
                 device: str | None = None) -> None:
        super().__init__(data, dtype=dtype, requires_grad=requires_grad, device=device)
        self.data, self.grad_slot = storage.allocate(self.data)

    def __repr__(self) -> str:
        return "Parameter(" + super().__repr__()[len("tensor("):]


class Module:
    """Base class of every layer and model.

    Parameters and child modules assigned as attributes are registered in assignment order, so
    ``named_parameters()`` is deterministic (``"0.weight"``, ``"0.bias"``, ...). Subclasses
    implement ``forward``; calling the module calls it.
    """

    training: bool
    _parameters: dict[str, Parameter]
    _modules: dict[str, Module]
    #: set by a callback to end ``fit`` after the current batch (Keras' ``model.stop_training``)
    stop_training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "stop_training", False)  # set by callbacks to end fit (Keras)

    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise RuntimeError(
                f"{type(self).__name__}.__init__ must call super().__init__() before assigning "
                f"attributes (assigning {name!r})"
            )
        if name != "stop_training":  # (a flag for fit, read by no forward pass)
            backend.state_version += 1  # a compiled step (gw.compile) that read it records again
        params, modules = self._parameters, self._modules
        params.pop(name, None)
        modules.pop(name, None)
        if isinstance(value, Parameter):
            params[name] = value
        elif isinstance(value, Module):
            modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not implement forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        cap = backend._capture
        if cap is not None:  # gw.compile notes the modules (and modes) of a step
            cap.module(self)
        return self.forward(*args, **kwargs)

    # --- traversal --------------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        yield from self._modules.items()

    def children(self) -> Iterator[Module]:
        yield from self._modules.values()

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every descendant, depth first, with dotted names."""
        stack: list[tuple[str, Module]] = [(prefix, self)]
        seen: set[int] = set()
        while stack:
            name, mod = stack.pop()
            if id(mod) in seen:
                continue
            seen.add(id(mod))
            yield name, mod
            children = [(f"{name}.{k}" if name else k, m) for k, m in mod._modules.items()]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """``(name, parameter)`` pairs in registration order, each parameter once."""
        seen: set[int] = set()
        for mname, mod in self.named_modules(prefix):
            for pname, p in mod._parameters.items():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{mname}.{pname}" if mname else pname), p

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def num_parameters(self) -> int:
        """The number of scalar parameters."""
        return int(sum(p.data.size for p in self.parameters()))

    # --- modes and gradients ----------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout active) for this module and its descendants."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Evaluation mode (dropout is the identity)."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (set ``.grad`` to None, as PyTorch does)."""
        for p in self.parameters():
            p.grad = None

    # --- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """A copy of every parameter's array, by dotted name, in registration order."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> None:
        """Copy arrays into the parameters, in place (optimizer views stay valid).

        Every entry is checked before anything is written: missing and unexpected names (when
        ``strict``) and shape mismatches raise a ``KeyError``/``ValueError`` naming them all.
        """
        own = dict(self.named_parameters())
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        problems = []
        if strict and missing:
            problems.append(f"missing keys {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys {unexpected}")
        for k, p in own.items():
            if k in state:
                shape = tuple(np.shape(state[k]))
                if shape != p.shape:
                    problems.append(
                        f"{k!r} has shape {shape} in the state but {p.shape} in the model"
                    )
        if problems:
            raise ValueError(f"load_state_dict into {type(self).__name__}: " + "; ".join(problems))
        for k, p in own.items():
            if k in state:
                value = state[k]
                value = value.data if isinstance(value, Tensor) else value
                xp = backend.xp_of(p.data)
                xp.copyto(p.data, backend.to_device(value, p.device).astype(p.dtype, copy=False))

    def to(self, device: str | None = None, dtype: Any = None) -> Module:
        """Move/convert every parameter (gradients are dropped); converted parameters get new
        contiguous storage. Create optimizers after moving a model, as in PyTorch."""
        dev = backend.normalize_device(device) if device is not None else None
        dt = backend.as_dtype(dtype) if dtype is not None else None
        for p in self.parameters():
            data = p.data
            if dev is not None:
                data = backend.to_device(data, dev)
            if dt is not None:
                data = data.astype(dt, copy=False)
            if data is not p.data:
                p.data, p.grad_slot = storage.allocate(data)
                p.grad = None
        return self

    # --- repr -------------------------------------------------------------------------------
    def summary(self, input_shape: Any = None) -> Any:
        """A Keras-like table of the layers, their output shapes and parameter counts (text
        when printed, HTML in a notebook); see :func:`gradwise.nn.summary.summarize`."""
        from .summary import summarize
        return summarize(self, input_shape)

    def _repr_html_(self) -> str:
        """Jupyter shows a module as its summary table."""
        return str(self.summary()._repr_html_())

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, mod in self._modules.items():
            child = repr(mod).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child}")
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n" + "\n".join(lines) + "\n)"


class Sequential(Module):
    """Modules applied one after the other: ``Sequential(Dense(2, 16, "relu"), Dense(16, 1))``."""

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module: Module) -> Sequential:
        if not isinstance(module, Module):
            raise TypeError(f"Sequential takes Modules, got {type(module).__name__}")
        setattr(self, str(len(self._modules)), module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, i: int | slice) -> Module:
        mods = list(self._modules.values())
        if isinstance(i, slice):
            return Sequential(*mods[i])
        return mods[i]

    def forward(self, x: Any) -> Any:
        for m in self._modules.values():
            x = m(x)
        return x
