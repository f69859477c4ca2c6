"""Frozen value classes, made without a dataclass's code generation.

The package's many small value classes (the expression nodes, the problem's,
the budget's and the quantities' values) are declared like frozen dataclasses,
with :func:`value_class` in place of ``@dataclass(frozen=True)``:

>>> @value_class
... class Point(Value):
...     x: int
...     y: int = 0
>>> Point(1) == Point(1, 0), Point(2, y=3)
(True, Point(x=2, y=3))

A dataclass compiles an ``__init__``, a ``__setattr__``, a ``__delattr__``, an
``__eq__``, a ``__hash__`` and a ``__repr__`` for each class as it is created
(and makes a class with slots twice), which cost start-up time for every class
whether it is used or not. Here the last five are written once, in
:class:`Value`, and the ``__init__`` is compiled once the class has made a few
instances (until then, the fields are read from the arguments one by one).
The classes are dataclasses all the same to :func:`dataclasses.fields`,
:func:`dataclasses.replace` and :func:`dataclasses.is_dataclass` (their fields
are worked out when first asked for), and to a type checker
(``dataclass_transform``).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform, overload

_C = TypeVar("_C", bound=type)

#: a field's default, as :func:`value_class` keeps it: none, a value, or a factory
_NONE, _VALUE, _FACTORY = range(3)


class _Fields:
    """``__dataclass_fields__`` of a value class: the fields as a dataclass of the
    same annotations and defaults has them, made when first asked for."""

    def __get__(self, instance: object, owner: type) -> dict[str, dataclasses.Field[Any]]:
        if "_value_fields" not in owner.__dict__:
            raise AttributeError("__dataclass_fields__")  # Value itself: not a dataclass
        made: dict[str, dataclasses.Field[Any]] | None = owner.__dict__.get("_made_fields")
        if made is None:
            made = _dataclass_fields(owner)
            type.__setattr__(owner, "_made_fields", made)
        return made


class Value:
    """What a frozen dataclass with ``eq`` and ``repr`` writes for each class, written
    once: immutable, equal when of the same class with equal fields, hashed by
    the fields, shown as ``Num(value=…, approximate=…)``, and copied or pickled
    through its ``__init__``. A value class is a subclass of it made with
    :func:`value_class`."""

    __slots__ = ()
    __match_args__: tuple[str, ...]
    #: each field's name, how its default is given and the default
    _value_fields: tuple[tuple[str, int, Any], ...]
    __dataclass_fields__ = _Fields()

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

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        # copied and pickled through the class, as its fields never change
        return self.__class__, self._fields()

    def __setattr__(self, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


@overload
def value_class(cls: _C, /) -> _C: ...
@overload
def value_class(*, eq: bool = True, slots: bool = False) -> Callable[[_C], _C]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def value_class(cls: _C | None = None, /, *, eq: bool = True,
                slots: bool = False) -> _C | Callable[[_C], _C]:
    """A frozen value class of ``cls``, a subclass of :class:`Value`: its fields are
    its annotations (the base classes' first), with their defaults, all compared
    and shown, none keyword-only. As for a dataclass, ``eq=False`` makes an
    instance equal only to itself, and ``slots=True`` holds the fields in slots
    (the class is made anew, without its defaults as class attributes)."""
    if cls is None:
        return lambda cls: _made(cls, eq, slots)
    return _made(cls, eq, slots)


def _made(cls: _C, eq: bool, slots: bool) -> _C:
    own = inspect.get_annotations(cls)
    fields: list[tuple[str, int, Any]] = []
    for base in reversed(cls.__mro__[1:]):
        fields += base.__dict__.get("_value_fields", ())
    namespace = dict(cls.__dict__)
    for name, annotation in own.items():
        if str(annotation).startswith(("ClassVar", "typing.ClassVar")):
            continue
        default = namespace.get(name, dataclasses.MISSING)
        if isinstance(default, dataclasses.Field):
            fields.append((name, _FACTORY, default.default_factory))
            del namespace[name]
        elif default is dataclasses.MISSING:
            fields.append((name, _NONE, None))
        else:
            fields.append((name, _VALUE, default))
            if slots:
                del namespace[name]
    names = tuple(name for name, _, _ in fields)
    made: dict[str, Any] = {"__match_args__": names, "_value_fields": tuple(fields)}
    if not eq:
        made["__eq__"] = object.__eq__
        made["__hash__"] = object.__hash__
    if slots:
        namespace.pop("__dict__", None)
        namespace.pop("__weakref__", None)
        namespace.update(made, __qualname__=cls.__qualname__,
                         __slots__=tuple(name for name in names if name in own))
        cls = type(cls)(cls.__name__, cls.__bases__, namespace)
    else:
        for name in own:  # a factory is no class attribute, as in a dataclass
            if name in cls.__dict__ and name not in namespace:
                type.__delattr__(cls, name)
        for name, attribute in made.items():
            type.__setattr__(cls, name, attribute)
    type.__setattr__(cls, "__init__", _first_init(cls))
    return cls


#: instances a value class makes with its fields read one by one before its own
#: ``__init__`` is compiled: most classes make a few in a run, where compiling
#: costs more than reading them
COMPILE_AFTER = 32


def _first_init(cls: type) -> Callable[..., None]:
    """An ``__init__`` that sets the fields from the arguments, read one by one, for
    the class's first :data:`COMPILE_AFTER` instances, then compiles the class's
    own and hands over (at once for arguments it does not take, whose error the
    compiled one raises)."""
    fields: tuple[tuple[str, int, Any], ...] = cls.__dict__["_value_fields"]
    post_init = hasattr(cls, "__post_init__")
    made = 0

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        nonlocal made
        made += 1
        values = _bound(fields, args, kwargs) if made <= COMPILE_AFTER else None
        if values is None:
            own = _compiled_init(cls)
            type.__setattr__(cls, "__init__", own)
            own(self, *args, **kwargs)
            return
        for (name, _, _), value in zip(fields, values, strict=True):
            object.__setattr__(self, name, value)
        if post_init:
            self.__post_init__()

    return __init__


def _bound(fields: tuple[tuple[str, int, Any], ...], args: tuple[Any, ...],
           kwargs: dict[str, Any]) -> list[Any] | None:
    """Each field's value from the arguments as the compiled ``__init__`` takes them
    (a default given, a factory called, when left out); None for arguments it
    would refuse."""
    if len(args) > len(fields):
        return None
    values: list[Any] = []
    named = 0
    for number, (name, kind, default) in enumerate(fields):
        if number < len(args):
            if name in kwargs:
                return None
            values.append(args[number])
        elif name in kwargs:
            values.append(kwargs[name])
            named += 1
        elif kind == _VALUE:
            values.append(default)
        elif kind == _FACTORY:
            values.append(default())
        else:
            return None
    return values if named == len(kwargs) else None


def _compiled_init(cls: type) -> Callable[..., None]:
    """``def __init__(self, value, approximate=_d1): set(self, 'value', value); …``,
    as a frozen dataclass's, each default given (a factory called) when left out,
    and the class's ``__post_init__`` called last if it has one."""
    fields: tuple[tuple[str, int, Any], ...] = cls.__dict__["_value_fields"]
    scope: dict[str, Any] = {"_set": object.__setattr__, "_missing": dataclasses.MISSING}
    parameters, body = ["self"], []
    for number, (name, kind, default) in enumerate(fields):
        if kind == _NONE:
            parameters.append(name)
        elif kind == _VALUE:
            scope[f"_d{number}"] = default
            parameters.append(f"{name}=_d{number}")
        else:
            scope[f"_f{number}"] = default
            parameters.append(f"{name}=_missing")
            body.append(f" if {name} is _missing: {name} = _f{number}()")
        body.append(f" _set(self, {name!r}, {name})")
    if hasattr(cls, "__post_init__"):
        body.append(" self.__post_init__()")
    source = f"def __init__({', '.join(parameters)}):\n" + "\n".join(body or [" pass"])
    exec(source, scope)
    init: Callable[..., None] = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


def _dataclass_fields(cls: type) -> dict[str, dataclasses.Field[Any]]:
    """The fields a dataclass of the class's annotations and defaults has: each a
    :func:`dataclasses.field` of its default or factory, named and typed as the
    dataclass names and types it (made directly, not by making a dataclass of
    the class's shadow, which took as long as the rest of a small solve)."""
    annotations: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        annotations.update(inspect.get_annotations(klass))
    made: dict[str, dataclasses.Field[Any]] = {}
    for name, kind, default in cls.__dict__["_value_fields"]:
        field: dataclasses.Field[Any] = (
            dataclasses.field(default=default) if kind == _VALUE
            else dataclasses.field(default_factory=default) if kind == _FACTORY
            else dataclasses.field())
        field.name, field.type, field.kw_only = name, annotations[name], False
        field._field_type = _FIELD  # type: ignore[attr-defined]
        made[name] = field
    return made


#: what a dataclass marks an ordinary field with (not a ClassVar, not an InitVar)
_FIELD = dataclasses._FIELD  # type: ignore[attr-defined]

