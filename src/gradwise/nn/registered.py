"""Module classes made from a registered op: the one mechanism behind
:func:`~gradwise.nn.register_activation` and :func:`~gradwise.nn.register_loss`.

Registering op ``Op`` under ``name`` makes a subclass of ``base`` (``Activation`` or ``Loss``)
whose ``op`` is ``Op``, puts it into the registry (``ACTIVATIONS`` or ``LOSSES``) and, unless
``gw.functional`` already has one, the op's function into ``functional.REGISTERED``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import functional as F
from ..autograd import Function
from ..registry import Registry
from .module import Module

__all__ = ["register_op", "registered_module", "unregister_op"]


def register_op(registry: Registry[Any], name: str, op: type[Function], base: type[Module],
                class_name: str, function_name: str,
                make_function: Callable[[str, type[Function]], Callable[..., Any]]
                ) -> type[Module]:
    """Register the module class of ``op`` (a ``base`` named ``class_name``) under ``name`` in
    ``registry``, and ``make_function(function_name, op)`` as ``F.<function_name>``; returns
    the class. ``name`` must be a Python identifier and ``op`` a ``Function`` class."""
    caller = f"register_{registry.what}"
    if not (isinstance(name, str) and name.isidentifier()):
        raise ValueError(f"{caller}: name must be a Python identifier, got {name!r}")
    if not (isinstance(op, type) and issubclass(op, Function)):
        raise TypeError(f"{caller}: op must be a gradwise Function class, got {op!r}")
    cls = type(class_name, (base,), {"op": op, "__doc__": op.__doc__,
                                     "__module__": base.__module__})
    unregister_op(registry, name, function_name)
    registry.register(name, cls)
    if not hasattr(F, function_name):  # the built-ins (F.softplus, ...) keep their own
        F.REGISTERED[function_name] = make_function(function_name, op)
    return cls


def unregister_op(registry: Registry[Any], name: str, function_name: str) -> None:
    """Remove ``name`` from ``registry`` and its function (no error when absent)."""
    registry.unregister(name)
    F.REGISTERED.pop(function_name, None)


def registered_module(registry: Registry[Any], base: type[Module], class_name: str
                      ) -> type[Module] | None:
    """The class called ``class_name`` that :func:`register_op` put into ``registry``, or None."""
    for cls in registry.values():
        if isinstance(cls, type) and issubclass(cls, base) and cls.__name__ == class_name:
            return cls
    return None
