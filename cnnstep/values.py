"""The equality, hash and repr of frozen dataclasses, written once.

A frozen dataclass with ``eq`` compiles an ``__eq__``, a ``__hash__`` and a
``__repr__`` for its class as it is created; the package's many small value
classes share these instead (see :class:`Value`).
"""

from __future__ import annotations

from typing import Any


class Value:
    """What a frozen dataclass with ``eq`` and ``repr`` writes for each class, written
    once: equal when of the same class with equal fields, hashed by the fields, and
    shown as ``Num(value=…, approximate=…)``. A value class is a
    ``@dataclass(frozen=True, eq=False, repr=False)`` subclass of it (its fields
    all compared and shown, none keyword-only): the methods generated for each
    class would cost start-up time."""

    __slots__ = ()
    __match_args__: tuple[str, ...]

    def _fields(self) -> tuple[Any, ...]:
        return tuple([getattr(self, name) for name in self.__match_args__])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Value) and other.__class__ is self.__class__:
            return self._fields() == other._fields()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__match_args__)
        return f"{self.__class__.__qualname__}({shown})"
