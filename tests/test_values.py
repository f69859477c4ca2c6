"""The value classes behave as the frozen dataclasses they are declared like.

:func:`cnnstep.values.value_class` makes them without a dataclass's code
generation (for start-up time); these tests hold each of them to what
``@dataclass(frozen=True)`` of the same body would give: the same ``__init__``
signature and fields, equality, hashing, repr, immutability, and the
functions of :mod:`dataclasses`.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
import sys
from collections.abc import Iterator
from fractions import Fraction

import numpy as np
import pytest

import cnnstep.derivation
import cnnstep.engine
import cnnstep.render.prose
import cnnstep.training  # noqa: F401
from cnnstep import values
from cnnstep.derivation.nodes import Add, Deferred, Matrix, Num, Step, Sym, Text
from cnnstep.problem import Layer, Notation
from cnnstep.values import Value, value_class


def _value_classes(base: type = Value) -> Iterator[type]:
    """The value classes of the package (not the class statements' own classes, which
    :func:`value_class` makes anew and which linger until collected)."""
    for cls in base.__subclasses__():
        if getattr(sys.modules[cls.__module__], cls.__qualname__, None) is cls:
            yield cls
        yield from _value_classes(cls)


VALUE_CLASSES = sorted({cls for cls in _value_classes() if cls.__module__.startswith("cnnstep")},
                       key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


def _as_dataclass(cls: type) -> type:
    """A frozen dataclass of the class's annotations and defaults, as it was declared."""
    fields = dataclasses.fields(cls)
    namespace: dict[str, object] = {"__annotations__": {f.name: f.type for f in fields},
                                    "__module__": cls.__module__}
    for f in fields:
        if f.default is not dataclasses.MISSING:
            namespace[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            namespace[f.name] = dataclasses.field(default_factory=f.default_factory)
    made: type = dataclasses.dataclass(frozen=True)(type(cls.__name__, (), namespace))
    return made


def _parameters(init: object) -> list[tuple[str, object, object]]:
    """Each parameter's name, kind and default (a factory's shown as such)."""
    shown = []
    for parameter in inspect.signature(init).parameters.values():  # type: ignore[arg-type]
        default = parameter.default
        if default is dataclasses.MISSING or repr(default) == "<factory>":
            default = "a factory"
        shown.append((parameter.name, parameter.kind, default))
    return shown


def test_the_package_declares_its_values_with_value_class() -> None:
    assert len(VALUE_CLASSES) > 50
    for cls in VALUE_CLASSES:
        assert dataclasses.is_dataclass(cls), cls
        assert "_value_fields" in cls.__dict__, cls


@pytest.mark.parametrize("cls", VALUE_CLASSES, ids=lambda cls: cls.__qualname__)
def test_init_takes_the_arguments_a_dataclass_takes(cls: type) -> None:
    # the __init__ compiled for the first instance, here without making one
    own = values._compiled_init(cls)
    assert _parameters(own) == _parameters(_as_dataclass(cls).__init__)
    assert cls.__match_args__ == tuple(f.name for f in dataclasses.fields(cls))


_FIELD_ATTRIBUTES = ("name", "type", "default", "default_factory", "init", "repr", "hash",
                     "compare", "metadata", "kw_only", "_field_type")


@pytest.mark.parametrize("cls", VALUE_CLASSES, ids=lambda cls: cls.__qualname__)
def test_fields_are_those_a_dataclass_makes(cls: type) -> None:
    # the fields are made directly, not by a dataclass of the class's annotations
    made = dataclasses.fields(cls)
    declared = dataclasses.fields(_as_dataclass(cls))
    assert [[getattr(f, a) for a in _FIELD_ATTRIBUTES] for f in made] == [
        [getattr(f, a) for a in _FIELD_ATTRIBUTES] for f in declared]


def test_defaults_and_factories_are_given_when_left_out() -> None:
    layer = Layer((1, 3, 3), (1, 1, 2, 2))
    assert layer.notation == Notation() and layer.stride == (1, 1)
    assert Layer((1, 3, 3), (1, 1, 2, 2)).layout is not layer.layout  # a new one each time
    assert Num(Fraction(1, 2)) == Num(value=Fraction(1, 2), approximate=False)


def test_fields_of_base_classes_come_first() -> None:
    deferred = Deferred(("a",), make=lambda: iter(()))
    assert Deferred.__match_args__ == ("parts", "make")
    assert deferred.parts == ("a",) and isinstance(deferred, Text)


def test_equal_hashed_and_shown_by_fields() -> None:
    a = Add((Sym("input", (0, 1)), Num(Fraction(2))))
    b = Add((Sym("input", (0, 1)), Num(Fraction(2))))
    assert a == b and hash(a) == hash(b) and a is not b
    assert a != Add((Sym("input", (0, 1)),))
    assert repr(Sym("bias", (0,))) == "Sym(role='bias', index=(0,))"
    assert Step("k", "t", ()) == Step("k", "t", ()) and {Step("k", "t", ())}


def test_eq_false_is_identity() -> None:
    values = np.zeros((2, 2), dtype=object)
    first, second = Matrix(("X",), values), Matrix(("X",), values)
    assert first == first and first != second
    assert len({first, second}) == 2
    assert repr(first).startswith("Matrix(label=('X',), values=array(")


def test_frozen_and_slotted_as_declared() -> None:
    num, layer = Num(Fraction(1)), Layer((1, 3, 3), (1, 1, 2, 2))
    for value in (num, layer):
        with pytest.raises(dataclasses.FrozenInstanceError):
            value.value = Fraction(2)  # type: ignore[union-attr]
        with pytest.raises(dataclasses.FrozenInstanceError):
            del value.stride  # type: ignore[union-attr]
    assert not hasattr(num, "__dict__") and Num.__slots__ == ("value", "approximate")
    assert vars(layer)["stride"] == (1, 1)  # no slots: a dictionary, as a dataclass's
    assert Layer.stride == (1, 1) and not hasattr(Layer, "notation")  # as a dataclass's


def test_the_dataclasses_functions_work() -> None:
    layer = Layer((1, 3, 3), (1, 1, 2, 2))
    assert dataclasses.replace(layer, has_bias=True).has_bias
    assert [f.name for f in dataclasses.fields(Num)] == ["value", "approximate"]
    assert dataclasses.asdict(Sym("bias", (0,))) == {"role": "bias", "index": (0,)}
    assert not dataclasses.is_dataclass(Value)


def test_copied_and_pickled() -> None:
    layer = Layer((1, 3, 3), (1, 1, 2, 2), has_bias=True)
    assert pickle.loads(pickle.dumps(layer)) == layer
    assert copy.copy(layer) == layer and copy.deepcopy(layer) == layer


def test_a_class_of_no_fields() -> None:
    @value_class
    class Nothing(Value):
        pass

    assert Nothing() == Nothing()
    assert repr(Nothing()) == "test_a_class_of_no_fields.<locals>.Nothing()"


def test_the_first_instances_take_the_arguments_the_compiled_init_takes() -> None:
    def made() -> type:
        @value_class
        class Made(Value):
            a: int
            b: int = 2
            c: list[int] = dataclasses.field(default_factory=list)

        return Made

    calls = [((1,), {}), ((1, 3), {}), ((), {"a": 1}), ((1,), {"c": [4]}),
             ((1, 2, [3]), {}), ((), {"c": [1], "a": 0, "b": 5})]
    wrong = [((), {}), ((1, 2, [3], 4), {}), ((1,), {"a": 1}), ((1,), {"d": 1})]
    for args, kwargs in calls:
        first, compiled = made(), made()
        compiled.__init__ = values._compiled_init(compiled)  # type: ignore[misc]
        assert first(*args, **kwargs)._fields() == compiled(*args, **kwargs)._fields()
    assert made()(1).c is not made()(1).c
    for args, kwargs in wrong:
        with pytest.raises(TypeError):
            made()(*args, **kwargs)
    cls = made()
    for n in range(values.COMPILE_AFTER + 1):
        assert cls(n).a == n
    assert cls.__init__.__qualname__.endswith("Made.__init__")  # the compiled one


def test_post_init_is_called_as_a_dataclass_calls_it() -> None:
    from cnnstep.exact import Scaled

    numerators = np.array([1, 2])
    Scaled(numerators, 3)
    assert not numerators.flags.writeable  # made read-only by Scaled.__post_init__
    for _ in range(values.COMPILE_AFTER + 2):  # the first instances, then the compiled init
        with pytest.raises(ValueError, match="denominator must be positive"):
            Scaled(np.array([1]), 0)
