"""One registry type for every concept chosen by name: activations, losses, optimizers, schedules,
initializers, callbacks, metrics, toy data sets, input features.

A :class:`Registry` maps names to objects (classes or functions) and is read live: whatever is
registered after import is at once accepted by ``get``, by the config schema (which asks the
registry when it validates, never a copy taken at import) and by the menus that list
:meth:`Registry.names`. It is a ``MutableMapping``, so ``name in REG``, ``REG[name]``, iteration,
``.keys()`` and ``monkeypatch.setitem`` work as on the dicts the registries used to be.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any, TypeVar, overload

__all__ = ["Registry", "UnknownNameError"]

T = TypeVar("T")
D = TypeVar("D")
_MISSING: Any = object()


class UnknownNameError(LookupError, ValueError):
    """A name that is not registered; the message lists the registered ones. A ``KeyError``'s
    cousin (``LookupError``) and a ``ValueError`` (what a wrong argument raises)."""


class Registry(MutableMapping[str, T]):
    """Objects of one kind (``what``: "activation", "optimizer", ...) by name, in registration
    order.

    ``check(name, obj)``, if given, runs on every registration and raises for a bad entry.
    ``register(name, obj)`` adds or replaces an entry and returns ``obj``; ``get(name)`` raises
    :class:`UnknownNameError` listing the choices; ``names()`` is the list of names registered
    now.
    """

    __slots__ = ("what", "_check", "_entries")

    def __init__(self, what: str, entries: Mapping[str, T] | None = None, *,
                 check: Callable[[str, T], None] | None = None) -> None:
        self.what = what
        self._check = check
        self._entries: dict[str, T] = {}
        for name, obj in (entries or {}).items():
            self.register(name, obj)

    def register(self, name: str, obj: T) -> T:
        """Add ``obj`` under ``name`` (replacing an entry of that name); returns ``obj``."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.what} registry: a name must be a non-empty string, "
                             f"got {name!r}")
        if self._check is not None:
            self._check(name, obj)
        self._entries[name] = obj
        return obj

    def unregister(self, name: str) -> None:
        """Remove ``name`` (no error when it is absent)."""
        self._entries.pop(name, None)

    @overload
    def get(self, name: str) -> T: ...
    @overload
    def get(self, name: str, default: D) -> T | D: ...

    def get(self, name: str, default: Any = _MISSING) -> Any:
        """The entry called ``name``; with no ``default``, an unknown name raises
        :class:`UnknownNameError` naming it and every registered name."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            if default is not _MISSING:
                return default
            raise UnknownNameError(self.unknown(name)) from None

    def unknown(self, name: object) -> str:
        """The message for an unknown ``name``: ``unknown optimizer 'x'; choose one of adam,
        sgd, ...`` (the names registered now, sorted)."""
        return f"unknown {self.what} {name!r}; choose one of {', '.join(sorted(self))}"

    def names(self) -> list[str]:
        """The names registered now, in registration order."""
        return list(self._entries)

    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def __setitem__(self, name: str, obj: T) -> None:
        self.register(name, obj)

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._entries

    def __repr__(self) -> str:
        return f"Registry({self.what!r}, {self.names()})"
