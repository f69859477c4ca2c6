"""The command line's options, converted without building pydantic adapters.

From version 0.29, typer converts the value of every option and argument with
a pydantic ``TypeAdapter`` that it builds on each run, on first use. Importing
pydantic and building the adapters takes longer than a whole ``cnnstep solve
--format json``. The command classes here give each parameter of a plain type
(``str``, ``int`` with bounds, ``Path``, an ``Enum``, ``bool``, or a list of
one of these) a converter that takes a well-formed value as typer would: the
same value, of the same type. Every other value, and every parameter of
another type, goes to typer's own conversion, which gives typer's own error
messages. With a typer before 0.29, whose conversion is click's and cheap,
the classes change nothing.

``tests/test_cliparams.py`` checks that the two conversions agree.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

import typer.core

#: an integer as typer reads one without help: ASCII digits and an optional minus
_INTEGER = re.compile(r"-?[0-9]{1,30}")

Convert = Callable[[Any], Any]


class Unusual(Exception):
    """A value that the quick conversion leaves to typer."""


def _unusual() -> Any:
    raise Unusual


def converter(annotation: Any, info: Any) -> Convert | None:
    """How to convert a well-formed value of a parameter declared as ``annotation``
    with typer's ``ParameterInfo`` ``info``; None leaves every value to typer."""
    if getattr(info, "parser", None) is not None or getattr(info, "clamp", False):
        return None
    if get_origin(annotation) is list:
        (item,) = get_args(annotation)
        one = converter(item, info)
        if one is None:
            return None
        each = one

        def many(value: Any) -> list[Any]:
            if not isinstance(value, list | tuple):
                raise Unusual
            return [each(item) for item in value]

        return many
    if annotation is bool:
        return lambda value: value if isinstance(value, bool) else _unusual()
    if annotation is str:
        return lambda value: value if isinstance(value, str) else _unusual()
    if annotation is int:
        return _integer(getattr(info, "min", None), getattr(info, "max", None))
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return _choice(annotation) if getattr(info, "case_sensitive", False) else None
    if annotation is Path and _plain_path(info):
        return _path
    return None


def _integer(low: float | None, high: float | None) -> Convert:
    def convert(value: Any) -> int:
        if isinstance(value, str) and _INTEGER.fullmatch(value):
            number = int(value)
        elif type(value) is int:
            number = value
        else:
            raise Unusual
        if (low is not None and number < low) or (high is not None and number > high):
            raise Unusual  # typer says what the range is
        return number

    return convert


def _choice(kind: type[Enum]) -> Convert:
    by_value = {str(member.value): member for member in kind}

    def convert(value: Any) -> Enum:
        if isinstance(value, kind):
            return value
        if isinstance(value, str) and value in by_value:
            return by_value[value]
        raise Unusual

    return convert


def _plain_path(info: Any) -> bool:
    """A ``Path`` parameter with none of typer's checks beyond readability."""
    wanted = {"exists": False, "file_okay": True, "dir_okay": True, "writable": False,
              "readable": True, "resolve_path": False, "allow_dash": False, "path_type": None}
    return all(getattr(info, name, None) == value for name, value in wanted.items())


def _path(value: Any) -> Path:
    if not isinstance(value, str) or not value:
        raise Unusual
    # typer refuses an existing file it cannot read, with its own message
    if os.path.exists(value) and not os.access(value, os.R_OK):
        raise Unusual
    return Path(value)


class _Quick:
    """Stands in for typer's conversion of one parameter: the quick converter
    for well-formed values, typer's own (built when first needed) otherwise."""

    def __init__(self, param: Any, convert: Convert, typer_own: Callable[[], Any]) -> None:
        self.param, self.convert, self.typer_own = param, convert, typer_own

    def coerce(self, value: Any, *args: Any, **kwargs: Any) -> Any:
        if value is None:  # as typer: not given and no default
            return () if self.param.multiple or self.param.nargs == -1 else None
        try:
            return self.convert(value)
        except Unusual:
            return self.typer_own().coerce(value, *args, **kwargs)


def quicken(params: Iterable[Any]) -> None:
    """Give each of typer's parameters whose type allows it the quick conversion."""
    for param in params:
        if "get_runtime_param" in vars(param):
            continue  # done already
        typer_own = getattr(param, "get_runtime_param", None)
        descriptor = getattr(param, "type_descriptor", None)
        if typer_own is None or descriptor is None:
            continue  # not typer 0.29's conversion
        convert = converter(getattr(descriptor, "annotation", None),
                            getattr(descriptor, "parameter_info", None))
        if convert is not None:
            quick = _Quick(param, convert, typer_own)
            # the method typer calls for the parameter's conversion, on this object only
            setattr(param, "get_runtime_param", lambda quick=quick: quick)  # noqa: B010


class Command(typer.core.TyperCommand):
    """A typer command whose options are converted quickly (see the module)."""

    def get_params(self, ctx: Any) -> Any:
        # every parameter parsing goes through, --help and completion's among them
        params = super().get_params(ctx)
        quicken(params)
        return params


class Group(typer.core.TyperGroup):
    """A typer group whose own options are converted quickly (see the module)."""

    def get_params(self, ctx: Any) -> Any:
        params = super().get_params(ctx)
        quicken(params)
        return params
