"""Reading and checking a problem file.

A problem is parsed once into a frozen :class:`Problem` whose arrays are
read-only numpy object arrays of :class:`~fractions.Fraction`, always in the
full layout ``input (C, H, W)``, ``filter (F, C/groups, kh, kw)``, ``bias (F,)``,
``target``/``grad_output (F, oh, ow)``; a batch of N images keeps its image
axis first on the input, target and grad_output (``(N, C, H, W)``,
``(N, F, oh, ow)``), and :meth:`Problem.image` gives each image as a problem of
its own. How the user wrote each array (its
rank, a number or a list for the bias) is kept in :class:`Layout` so that the
result can be given back in the user's own shapes.

Every rule of the problem format is checked here; a violation raises
:class:`ProblemError` with one message naming the key and the position.
"""

from __future__ import annotations

import difflib
import itertools
import json
import math
import re
import stat
import sys
from collections.abc import Callable, Mapping
from dataclasses import field, replace
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import numpy as np

from cnnstep import geometry
from cnnstep.exact import ExactArray, Scaled, parse_decimals, read_decimals
from cnnstep.numbers import NumberError, parse_number
from cnnstep.values import Value, value_class

#: an object array of Fractions (numpy does not type its entries)
Array = np.ndarray[Any, np.dtype[Any]]
LossName = Literal["mse", "sse", "half_sse"]
LOSSES: tuple[LossName, ...] = ("mse", "sse", "half_sse")

#: Keys of the problem format that this version reads.
KEYS = (
    "input", "filter", "kernel", "bias", "target", "grad_output", "loss",
    "stride", "padding", "dilation", "mode", "groups", "learning_rate", "notation", "activation",
    "pool", "answers", "questions", "steps", "layer", "output_padding", "dimensions",
)
#: the values of the key ``layer``
LAYERS = ("conv", "conv_transpose")
#: Keys of the format that belong to features this version does not have.
NOT_YET: dict[str, str] = {}
ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh")
POOLS = ("max", "mean", "min")
#: other names of a pool, as PyTorch and Keras write them
POOL_ALIASES = {"avg": "mean"}
#: the keys of the ``pool`` object
POOL_KEYS = ("type", "size", "stride", "padding", "dilation", "ceil_mode", "count_include_pad")
#: the values of ``mode``: the correlation deep-learning frameworks compute, or the
#: true convolution, which flips the kernel
MODES = ("cross_correlation", "convolution")
#: the named forms of ``padding``
PADDING_NAMES = ("valid", "same", "full")
#: leaky ReLU's slope when none is given, as in PyTorch
DEFAULT_SLOPE = Fraction(1, 100)


#: the letters a notation name may use besides printable ASCII
GREEK_LETTERS = "αβγδεζηθικλμνξπρστυφχψωΓΔΘΛΞΠΣΥΦΨΩ"


class ProblemError(ValueError):
    """A problem that breaks a rule of the format; the message says where."""


@value_class
class Notation(Value):
    """How symbols are printed; never changes a number or a result key."""

    input: str = "X"
    filter: str = "K"
    bias: str = "B"
    output: str = "Z"
    target: str = "Y"
    loss: str = "L"
    index_base: int = 1


@value_class
class Layout(Value):
    """The shapes in which the user gave the arrays."""

    input_rank: int = 2  # 2: [H][W], 3: [C][H][W]
    filter_rank: int = 2  # 2: [kh][kw], 3: [C][kh][kw], 4: [F][C][kh][kw]
    bias_is_number: bool = True  # a number, or a list of F numbers
    #: N, the images of a batch given as [N][C][H][W]; 0: one image, no batch axis
    batch: int = 0
    #: spatial axes the user gave: 1 (a signal [L], held as one row [1][L]) or 2
    dimensions: int = 2

    @property
    def output_rank(self) -> int:
        """The spatial axes, and one more for a filter axis the user gave."""
        return self.dimensions + (self.filter_rank == self.dimensions + 2)

    @property
    def one_row(self) -> bool:
        """A 1-D layer: its arrays are held with a row axis of length one, which the
        user never wrote and the result leaves out."""
        return self.dimensions == 1

    @property
    def batch_axes(self) -> int:
        """1 when the per-image quantities have a leading image axis, else 0."""
        return 1 if self.batch else 0


@value_class
class Activation(Value):
    """f applied to Z element-wise after the convolution."""

    kind: str  # relu, leaky_relu, sigmoid, tanh
    slope: Fraction = DEFAULT_SLOPE  # leaky_relu only

    @property
    def exact(self) -> bool:
        """ReLU and leaky ReLU keep numbers exact; sigmoid and tanh cannot."""
        return self.kind in ("relu", "leaky_relu")


@value_class
class Pool(Value):
    """Pooling over each channel after the activation (or the convolution), as
    PyTorch's ``max_pool2d`` and ``avg_pool2d``: padded on each side with −∞ (max),
    +∞ (min) or 0 (mean), its taps ``dilation`` apart; with ``ceil_mode`` a last
    partial window counts. ``input_size`` is the (H, W) of what it reads."""

    kind: str  # max, mean, min
    size: tuple[int, int]
    stride: tuple[int, int]
    input_size: tuple[int, int] = (0, 0)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    ceil_mode: bool = False
    #: mean pooling: divide by the whole window, padding included (else by the
    #: entries inside the input)
    count_include_pad: bool = True

    @property
    def padded_size(self) -> tuple[int, int]:
        """The pool's input with its padding."""
        return (self.input_size[0] + 2 * self.padding[0],
                self.input_size[1] + 2 * self.padding[1])

    @property
    def span(self) -> tuple[int, int]:
        """The effective window, d·(k − 1) + 1 along each axis."""
        return (self.dilation[0] * (self.size[0] - 1) + 1,
                self.dilation[1] * (self.size[1] - 1) + 1)

    @property
    def output_size(self) -> tuple[int, int]:
        """The pooled size, by PyTorch's rule (see :func:`geometry.pool_output_size`)."""
        return geometry.pool_sizes(self)

    @property
    def extras(self) -> bool:
        """Padding, dilation or ceil mode: windows that are more than plain blocks."""
        return any(self.padding) or self.dilation != (1, 1) or self.ceil_mode


@value_class
class Layer(Value):
    """The geometry of one convolution layer, without any numbers.

    Enough to derive the formulas symbolically; a :class:`Problem` adds the
    numbers.
    """

    input_shape: tuple[int, int, int]  # (C, H, W)
    #: (F, C/groups, kh, kw); (C, F/groups, kh, kw) when transposed
    filter_shape: tuple[int, int, int, int]
    has_bias: bool = False
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    notation: Notation = field(default_factory=Notation)
    layout: Layout = field(default_factory=Layout)
    activation: Activation | None = None
    pool: Pool | None = None
    #: False for a layer alone: no filter, the input goes straight to the activation
    #: and/or the pool (the filter shape is then (C, C, 1, 1), the identity, never shown)
    convolution: bool = True
    #: spacing between the kernel's taps along each axis (1: adjacent taps)
    dilation: tuple[int, int] = (1, 1)
    #: the padding at the bottom and right when it differs from ``padding`` (which is
    #: then the top and left); None: the same zeros on each side
    padding_end: tuple[int, int] | None = None
    #: the padding's name as the problem gave it ("valid", "same", "full"), else None
    padding_form: str | None = None
    #: "convolution": the forward pass flips the kernel (a true convolution)
    mode: str = "cross_correlation"
    #: the input channels split into this many blocks, each filter seeing only its
    #: group's block: the filter shape is then (F, C/groups, kh, kw)
    groups: int = 1

    @property
    def group_channels(self) -> int:
        """The input channels each filter sees, C/groups."""
        return self.channels // self.groups

    @property
    def group_filters(self) -> int:
        """The filters of each group, F/groups."""
        return self.filters // self.groups

    @property
    def depthwise(self) -> bool:
        """groups = C = F: filter f sees only channel f."""
        return self.groups > 1 and self.groups == self.channels == self.filters

    def channels_of(self, f: int) -> range:
        """The input channels filter ``f`` sees: the block of its group ⌊f/(F/groups)⌋;
        its channel axis c stands for input channel ``channels_of(f)[c]``."""
        first = f // self.group_filters * self.group_channels
        return range(first, first + self.group_channels)

    def filters_of(self, c: int) -> range:
        """The filters that see input channel ``c``: those of its group ⌊c/(C/groups)⌋."""
        first = c // self.group_channels * self.group_filters
        return range(first, first + self.group_filters)
    #: a transposed convolution (PyTorch's conv_transpose2d): the filter is
    #: (C, F/groups, kh, kw), input channels first, and each input entry scatters the
    #: kernel into the output, ``Z[f, i·s − p + m·d, j·s − p + n·d] += X[c, i, j]·K[c, f, m, n]``
    #: (with groups, input channel c feeds only the output channels of its group)
    transposed: bool = False
    #: with ``transposed``: extra rows and columns of the output at the bottom and right
    output_padding: tuple[int, int] = (0, 0)

    @property
    def effective_kernel(self) -> tuple[int, int]:
        """The span of a dilated kernel, d·(k − 1) + 1 along each axis."""
        return geometry.effective_kernel(self.kernel_size, self.dilation)

    @property
    def padding_after(self) -> tuple[int, int]:
        """The zeros at the bottom and at the right (``padding`` is the top and left)."""
        return self.padding if self.padding_end is None else self.padding_end

    @property
    def sides(self) -> tuple[int, int, int, int]:
        """The padding resolved to (top, bottom, left, right)."""
        return (self.padding[0], self.padding_after[0], self.padding[1], self.padding_after[1])

    @property
    def padded(self) -> bool:
        """Whether any side has zeros."""
        return any(self.sides)

    @property
    def flipped(self) -> bool:
        """A true convolution: the forward pass reads the kernel rotated by 180°."""
        return self.mode == "convolution"

    @property
    def layered(self) -> bool:
        """Whether an activation or a pool follows the convolution."""
        return self.activation is not None or self.pool is not None

    @property
    def pooled_size(self) -> tuple[int, int]:
        """The pool's output size, ⌊(oh + 2p − d·(k − 1) − 1)/s⌋ + 1 along each axis
        (⌈…⌉ in ceil mode)."""
        assert self.pool is not None
        return self.pool.output_size

    @property
    def last_shape(self) -> tuple[int, int, int]:
        """The shape of the last stage, which the loss compares with the target."""
        return (self.filters, *self.pooled_size) if self.pool else self.output_shape

    @property
    def channels(self) -> int:
        return self.input_shape[0]

    @property
    def filters(self) -> int:
        return self.filter_shape[1] * self.groups if self.transposed else self.filter_shape[0]

    @property
    def kernel_size(self) -> tuple[int, int]:
        return self.filter_shape[2], self.filter_shape[3]

    @property
    def padded_size(self) -> tuple[int, int]:
        """H + top + bottom, W + left + right; for a transposed layer the expanded input
        that its rotated kernel slides over (:func:`geometry.expanded_size`)."""
        if self.transposed:
            return geometry.expanded_size(self.image_size, self.kernel_size, self.stride,
                                          self.padding, self.dilation, self.output_padding)
        top, bottom, left, right = self.sides
        return (self.input_shape[1] + top + bottom, self.input_shape[2] + left + right)

    @property
    def output_size(self) -> tuple[int, int]:
        """⌊(H + top + bottom − (D·(K − 1) + 1))/S⌋ + 1 along each axis; transposed,
        (H − 1)·S − 2P + D·(K − 1) + output_padding + 1."""
        if self.transposed:
            return geometry.transposed_sizes(self.image_size, self.kernel_size,
                                             self.stride, self.padding, self.dilation,
                                             self.output_padding)
        return geometry.sizes(self.padded_size, self.effective_kernel, self.stride)

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W) of the input."""
        return self.input_shape[1], self.input_shape[2]

    @property
    def expansion(self) -> tuple[int, int]:
        """Transposed: the zeros padded on each side of the zero-inserted input,
        d·(k − 1) − p along each axis (the bottom and right get output_padding more);
        negative when p > d·(k − 1): that many rows (columns) are cropped instead."""
        return (self.dilation[0] * (self.kernel_size[0] - 1) - self.padding[0],
                self.dilation[1] * (self.kernel_size[1] - 1) - self.padding[1])

    @property
    def output_shape(self) -> tuple[int, int, int]:
        return (self.filters, *self.output_size)

    @property
    def compact(self) -> bool:
        """One channel and one filter: symbols need only row and column indices."""
        return self.channels == 1 and self.filters == 1


@value_class(eq=False)
class Problem(Value):
    """One convolution layer with its numbers, and what to compute about it."""

    layer: Layer
    exact_input: ExactArray  # (C, H, W)
    exact_filter: ExactArray  # (F, C/groups, kh, kw)
    exact_bias: ExactArray | None = None  # (F,)
    exact_target: ExactArray | None = None  # (F, oh, ow)
    exact_grad_output: ExactArray | None = None  # (F, oh, ow), dL/dZ given directly
    loss: LossName = "mse"
    learning_rate: Fraction | None = None
    #: remarks on how the problem was read, for standard error (never an error)
    notes: tuple[str, ...] = ()
    #: what the exercise asks (result keys or single entries) and the points of each;
    #: None: everything the problem determines, one point per quantity
    questions: tuple[tuple[str, Fraction], ...] | None = None
    #: training steps: forward, loss, backward and update repeated with the same input
    #: and target (above 1 only with a target and a learning rate)
    steps: int = 1
    #: the images the loss is taken over: N for one image of a batch of N (its
    #: squared errors count 1/(N·F·oh·ow) each under mse), else 1
    loss_images: int = 1

    @property
    def batch(self) -> int:
        """N for a batch of images, whose arrays have a leading image axis; else 0."""
        return self.layer.layout.batch

    def image(self, n: int) -> Problem:
        """Image ``n`` of a batch as a problem of its own: its input, target and
        grad_output, the shared filter and bias, and the loss over all N images
        (``loss_images``). It makes no update: the batch updates once, with the
        gradients of every image added up."""
        layer = replace(self.layer, layout=replace(self.layout, batch=0))

        def one(array: ExactArray | None) -> ExactArray | None:
            if array is None:
                return None
            given = array.given  # sliced in the form it has, integers or Fractions
            if isinstance(given, Scaled):
                return ExactArray(Scaled(np.ascontiguousarray(given.numerators[n]),
                                         given.denominator))
            return ExactArray(frozen(np.ascontiguousarray(given[n])))

        image = one(self.exact_input)
        assert image is not None
        return replace(self, layer=layer, exact_input=image, exact_target=one(self.exact_target),
                       exact_grad_output=one(self.exact_grad_output), learning_rate=None,
                       notes=(), questions=None, steps=1, loss_images=self.batch)

    # the numbers as object arrays of Fractions, made when first asked for
    @property
    def input(self) -> Array:
        """X, (C, H, W)."""
        return self.exact_input.fractions

    @property
    def filter(self) -> Array:
        """K, (F, C/groups, kh, kw)."""
        return self.exact_filter.fractions

    @property
    def bias(self) -> Array | None:
        """B, (F,)."""
        return None if self.exact_bias is None else self.exact_bias.fractions

    @property
    def target(self) -> Array | None:
        """Y, the last stage's shape."""
        return None if self.exact_target is None else self.exact_target.fractions

    @property
    def grad_output(self) -> Array | None:
        """dL/d(last stage) given directly, the last stage's shape."""
        return None if self.exact_grad_output is None else self.exact_grad_output.fractions

    # the layer's geometry, for convenience
    @property
    def stride(self) -> tuple[int, int]:
        return self.layer.stride

    @property
    def padding(self) -> tuple[int, int]:
        return self.layer.padding

    @property
    def notation(self) -> Notation:
        return self.layer.notation

    @property
    def layout(self) -> Layout:
        return self.layer.layout

    @property
    def channels(self) -> int:
        return self.layer.channels

    @property
    def filters(self) -> int:
        return self.layer.filters

    @property
    def kernel_size(self) -> tuple[int, int]:
        return self.layer.kernel_size

    @property
    def padded_size(self) -> tuple[int, int]:
        return self.layer.padded_size

    @property
    def output_size(self) -> tuple[int, int]:
        return self.layer.output_size

    @property
    def has_gradients(self) -> bool:
        return self.exact_target is not None or self.exact_grad_output is not None


# --------------------------------------------------------------------------
# JSON text → Python values, with exact number literals


class NumberText(str):
    """The text of a JSON number literal, kept as text so it stays exact."""

    __slots__ = ()


@value_class
class _Constant(Value):
    """NaN or ±Infinity, which Python's JSON reader would otherwise accept."""

    name: str


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ProblemError(f"{_key(key)}: the key appears twice in the same object")
        result[key] = value
    return result


#: deepest nesting of arrays and objects a problem or answers file may have; a
#: problem needs 5 (a 4-D filter inside the top object), a little more is allowed
MAX_NESTING = 16


def _check_nesting(value: Any) -> None:
    """Refuse nesting deeper than :data:`MAX_NESTING`, without recursing."""
    stack = [(value, 0, "")]
    while stack:
        item, depth, where = stack.pop()
        if depth > MAX_NESTING:
            raise ProblemError(
                f"{where or 'the file'}: arrays and objects nested more than {MAX_NESTING} "
                "deep; a problem needs at most 5 levels")
        if isinstance(item, list):
            # a leaf is visited only where it would be nested too deeply
            deep = depth + 1 > MAX_NESTING
            stack.extend((child, depth + 1, f"{where}[{i}]") for i, child in enumerate(item)
                         if deep or isinstance(child, list | dict))
        elif isinstance(item, dict):
            stack.extend((child, depth + 1, f"{where}.{key}" if where else _key(str(key)))
                         for key, child in item.items())


def without_comments(text: str) -> str:
    """JSON text with its ``//`` line comments blanked out (outside strings), so
    that line and column numbers of errors stay those of the file."""
    if "//" not in text:
        return text
    out: list[str] = []
    in_string = escaped = False
    i = 0
    while i < len(text):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            out.append(ch)
        elif ch == '"':
            in_string = True
            escaped = False
            out.append(ch)
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = len(text) if end < 0 else end
            out.append(" " * (end - i))
            i = end
            continue
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def parse_json(text: str) -> Any:
    """Parse JSON text keeping number literals exact; errors carry line and column.

    ``//`` comments to the end of a line are allowed, as in the starting
    problem ``cnnstep new`` writes.
    """
    text = without_comments(text)
    try:
        value = json.loads(
            text,
            parse_float=NumberText,
            parse_int=NumberText,
            parse_constant=_Constant,
            object_pairs_hook=_no_duplicates,
        )
    except json.JSONDecodeError as error:
        raise ProblemError(
            f"line {error.lineno}, column {error.colno}: invalid JSON: {error.msg}"
        ) from None
    except RecursionError:
        raise ProblemError("invalid JSON: nested too deeply") from None
    _check_nesting(value)
    return value


#: the largest problem or answers file read, in bytes (a 3×224×224 image with
#: two-decimal values takes about 1.5 MB)
MAX_FILE_BYTES = 64 * 2**20

#: the path that means standard input
STDIN = "-"


def where(path: str | Path) -> str:
    """A file's name for messages: ``<stdin>`` for standard input."""
    return "<stdin>" if str(path) == STDIN else str(path)


def _read_bytes(path: Path) -> bytes:
    """At most :data:`MAX_FILE_BYTES` of a regular file, or of standard input for ``-``."""
    too_large = (f"the file is larger than {MAX_FILE_BYTES // 2**20} MiB, the limit for a "
                 "problem or answers file")
    if str(path) == STDIN:
        data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise ProblemError(too_large)
        return data
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise ProblemError("is a directory, not a problem file")
        if not stat.S_ISREG(mode):  # a device such as /dev/zero, a FIFO, a socket
            raise ProblemError("not a regular file; give a JSON file, or - for standard input")
        with path.open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except ProblemError:
        raise
    except FileNotFoundError:
        raise ProblemError("no such file") from None
    except IsADirectoryError:
        raise ProblemError("is a directory, not a problem file") from None
    except OSError as error:
        raise ProblemError(f"cannot be read: {error.strerror or error}") from None
    except ValueError:  # a path with a NUL byte, or one the system cannot encode
        raise ProblemError("cannot be read: not a valid file name") from None
    if len(data) > MAX_FILE_BYTES:
        raise ProblemError(too_large)
    return data


def read_text(path: Path) -> str:
    """The UTF-8 text of a problem file (a byte-order mark is allowed); ``-`` reads
    standard input. Only regular files are read, and at most :data:`MAX_FILE_BYTES`."""
    data = _read_bytes(path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ProblemError(
            f"not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start})"
        ) from None
    if not text.strip():
        raise ProblemError("the file is empty")
    return text


# --------------------------------------------------------------------------
# Values → exact numbers and arrays


def _spelled(value: Any) -> str:
    """A value as the user wrote it in JSON: number literals as they were spelled."""
    if isinstance(value, _Constant):
        return value.name
    if isinstance(value, NumberText):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_spelled(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {_spelled(v)}"
                               for k, v in value.items()) + "}"
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


def _show(value: Any) -> str:
    """A short rendering of a bad value for a message, on one line."""
    text = _spelled(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _key(key: str) -> str:
    """A key for a message: as it is, or quoted when it holds line breaks and the like."""
    return key if key.isprintable() else json.dumps(key)


def to_number(value: Any, where: str) -> Fraction:
    """An exact number from a JSON literal, a numeric string, or a Python number."""
    if isinstance(value, _Constant):
        raise ProblemError(f"{where}: expected a finite number, got {value.name}")
    if isinstance(value, bool):
        raise ProblemError(f"{where}: expected a number, got {_show(value)}")
    if isinstance(value, Fraction):
        return value
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float | Decimal):
        if not Decimal(value).is_finite():
            raise ProblemError(f"{where}: expected a finite number, got {value}")
        # a Python float is read by its shortest repr: 0.1 means one tenth
        value = repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        try:
            return parse_number(value)
        except NumberError as error:
            shown = f"{_show(value)} ({error})" if error.args else _show(value)
            raise ProblemError(f"{where}: expected a number, got {shown}") from None
    raise ProblemError(f"{where}: expected a number, got {_show(value)}")


#: What the items at each level of an array are called, outermost first.
_LEVELS = {
    "input": {2: ("row", "entry"), 3: ("channel", "row", "entry"),
              4: ("image", "channel", "row", "entry")},
    "filter": {
        2: ("row", "entry"),
        3: ("channel", "row", "entry"),
        4: ("filter", "channel", "row", "entry"),
    },
    "output": {2: ("row", "entry"), 3: ("map", "row", "entry")},
    "batch": {3: ("image", "row", "entry"), 4: ("image", "map", "row", "entry")},
    "batch1": {2: ("signal", "entry"), 3: ("signal", "map", "entry")},
    # a transposed convolution's filter, input channels first as PyTorch's
    "transposed": {2: ("row", "entry"), 4: ("channel", "filter", "row", "entry")},
    "transposed1": {1: ("entry",), 3: ("channel", "filter", "entry")},
    # 1-D layers: signals and kernels of one axis
    "input1": {1: ("entry",), 2: ("channel", "entry"), 3: ("signal", "channel", "entry")},
    "filter1": {1: ("entry",), 2: ("channel", "entry"), 3: ("filter", "channel", "entry")},
    "output1": {1: ("entry",), 2: ("map", "entry")},
}
_PLURAL = {"entry": "entries", "row": "rows", "channel": "channels", "filter": "filters",
           "map": "maps", "image": "images", "slice": "slices",
           "signal": "signals", "volume": "volumes"}
_FORMS = {
    "input": {2: "[H][W]", 3: "[C][H][W]", 4: "[N][C][H][W]"},
    "filter": {2: "[kh][kw]", 3: "[C][kh][kw]", 4: "[F][C][kh][kw]"},
    "transposed": {2: "[kh][kw]", 4: "[C][F][kh][kw]"},
    "transposed1": {1: "[k]", 3: "[C][F][k]"},
    "input1": {1: "[L]", 2: "[C][L]", 3: "[N][C][L]"},
    "filter1": {1: "[k]", 2: "[C][k]", 3: "[F][C][k]"},
    "input3": {3: "[D][H][W]", 4: "[C][D][H][W]"},
    "filter3": {3: "[kd][kh][kw]", 4: "[C][kd][kh][kw]", 5: "[F][C][kd][kh][kw]"},
}


def _rank(value: Any, where: str) -> int:
    if isinstance(value, Scaled):  # read in bulk from the text
        return len(value.shape)
    rank = 0
    while isinstance(value, list):
        if not value:
            raise ProblemError(f"{where}: the array is empty")
        rank += 1
        value = value[0]
    return rank


def _walk(value: Any, where: str, levels: tuple[str, ...], out: list[Fraction]) -> tuple[int, ...]:
    """Check one nested list level by level, appending its numbers to ``out``."""
    if not levels:
        if isinstance(value, list):
            raise ProblemError(f"{where}: expected a number, got a list")
        out.append(to_number(value, where))
        return ()
    if not isinstance(value, list):
        raise ProblemError(
            f"{where}: expected a list of {_PLURAL[levels[0]]}, got {_show(value)}"
        )
    if not value:
        raise ProblemError(f"{where}: the array is empty")
    shapes = [_walk(item, f"{where}[{i}]", levels[1:], out) for i, item in enumerate(value)]
    for number, shape in enumerate(shapes[1:], start=2):
        if shape != shapes[0]:
            unit = levels[0]
            if len(levels) == 2:
                item = levels[1]
                raise ProblemError(
                    f"{where}: {unit} {number} has {shape[0]} "
                    f"{item if shape[0] == 1 else _PLURAL[item]}, {unit} 1 has {shapes[0][0]}"
                )
            raise ProblemError(
                f"{where}: {unit} {number} is {_dims(shape)}, {unit} 1 is {_dims(shapes[0])}"
            )
    return (len(value), *shapes[0])


def _dims(shape: tuple[int, ...]) -> str:
    return "×".join(str(n) for n in shape)


def _read_array(value: Any, key: str, kind: str,
                ranks: tuple[int, ...]) -> tuple[ExactArray, int]:
    """The array's exact numbers and the rank the user gave it in: read in bulk when
    every entry is a plain decimal, else entry by entry (with the messages)."""
    rank = _rank(value, key)
    if rank not in ranks:
        forms = _FORMS.get(kind)
        wanted = (
            " or ".join(f"a {r}-D {forms[r]}" for r in ranks) if forms
            else " or ".join(f"a {r}-D" for r in ranks)
        )
        got = f"a {rank}-D array" if rank else _show(value)
        raise ProblemError(f"{key}: expected {wanted} array of numbers, got {got}")
    bulk = parse_decimals(value, rank)
    if bulk is not None:
        return ExactArray(bulk), rank
    numbers: list[Fraction] = []
    shape = _walk(value, key, _LEVELS[kind][rank], numbers)
    array = np.empty(len(numbers), dtype=object)
    array[:] = numbers
    return ExactArray(frozen(array.reshape(shape))), rank


def frozen(array: Array) -> Array:
    """Mark an array read-only and return it."""
    array.flags.writeable = False
    return array


def _pair(value: Any, key: str, minimum: int) -> tuple[int, int]:
    items = value if isinstance(value, list) else [value]
    if isinstance(value, list) and len(value) != 2:
        raise ProblemError(
            f"{key}: expected an integer or a pair [rows, columns], got {_show(value)}"
        )
    numbers = [_integer(item, f"{key}[{i}]" if isinstance(value, list) else key, minimum)
               for i, item in enumerate(items)]
    return (numbers[0], numbers[-1])


def _integer(item: Any, where: str, minimum: int) -> int:
    """One integer ≥ ``minimum`` of a per-axis setting."""
    if (isinstance(item, str) and not isinstance(item, NumberText)) or isinstance(item, list):
        raise ProblemError(f"{where}: expected an integer ≥ {minimum}, got {_show(item)}")
    number = to_number(item, where)
    if number.denominator != 1 or number < minimum:
        raise ProblemError(f"{where}: expected an integer ≥ {minimum}, got {_show(item)}")
    return int(number)


def _axes(value: Any, key: str, minimum: int, dims: int, unit: int) -> tuple[int, int]:
    """A per-axis setting as (rows, columns). A 1-D layer has one axis, given as an
    integer or ``[n]``; it is held as the columns of a single row, whose setting
    is ``unit`` (1 for a stride or a dilation, 0 for padding)."""
    if dims == 2:
        return _pair(value, key, minimum)
    if isinstance(value, list) and len(value) != 1:
        raise ProblemError(
            f"{key}: a 1-D layer has one axis; expected an integer or [n], got {_show(value)}")
    item, where = (value[0], f"{key}[0]") if isinstance(value, list) else (value, key)
    return (unit, _integer(item, where, minimum))


def _extent(values: tuple[int, int], dims: int) -> str:
    """A size for a message: ``3×4``, or ``3`` along the one axis of a 1-D layer."""
    return str(values[1]) if dims == 1 else f"{values[0]}×{values[1]}"


def _dimensions(data: Mapping[str, Any]) -> int:
    """``dimensions``: the spatial axes, 1, 2 or 3 (default 2)."""
    if "dimensions" not in data:
        return 2
    value = data["dimensions"]
    if isinstance(value, NumberText) and value in ("1", "2", "3"):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value in (1, 2, 3):
        return value
    raise ProblemError(f"dimensions: expected 1, 2 or 3 (the spatial axes), got {_show(value)}")


#: how the user's arrays are written in each number of dimensions, for messages
_DIM_FORMS = {
    1: ("[L], [C][L] or [N][C][L]", "[k], [C][k] or [F][C][k]"),
    2: ("[H][W] or [C][H][W]", "[kh][kw], [C][kh][kw] or [F][C][kh][kw]"),
    3: ("[D][H][W], [C][D][H][W] or [N][C][D][H][W]",
        "[kd][kh][kw], [C][kd][kh][kw] or [F][C][kd][kh][kw]"),
}


def check_ranks(data: Mapping[str, Any], dims: int, input_ranks: tuple[int, ...],
                filter_ranks: tuple[int, ...]) -> None:
    """Refuse an input or filter whose rank does not fit ``dimensions``, naming the
    key: a batch axis is not read yet where the largest rank is one image's, and a given
    ``dimensions`` must match."""
    keys = [("input", input_ranks, 0)]
    if _has_filter(data):
        keys.append((_filter_key(data), filter_ranks, 1))
    for key, ranks, which in keys:
        value = data[key]
        if isinstance(value, dict):
            continue
        rank = _rank(value, key)
        if rank in ranks or not rank:
            continue
        if which == 0 and rank == max(ranks) + 1 == dims + 2:
            raise ProblemError(
                f"input: a {rank}-D input would be a batch [N]… of {dims}-D images, which "
                f"is not supported yet; give {_DIM_FORMS[dims][0]}")
        if "dimensions" in data or rank < min(ranks):
            raise ProblemError(
                f"dimensions: {dims} means {key} {_DIM_FORMS[dims][which]}, "
                f"got a {rank}-D {key}")


def _notation(value: Any) -> Notation:
    if not isinstance(value, dict):
        raise ProblemError(f"notation: expected an object, got {_show(value)}")
    names = {f for f in Notation.__dataclass_fields__ if f != "index_base"}
    settings: dict[str, Any] = {}
    for key, item in value.items():
        where = f"notation.{key}"
        if key == "index_base":
            if isinstance(item, NumberText | int) and not isinstance(item, bool) and str(item) in (
                "0", "1"
            ):
                settings[key] = int(item)
            else:
                raise ProblemError(f"{where}: expected 0 or 1, got {_show(item)}")
        elif key in names:
            if not isinstance(item, str) or isinstance(item, NumberText) or not item.strip():
                raise ProblemError(f"{where}: expected a non-empty name, got {_show(item)}")
            odd = [ch for ch in item.strip() if not ((ch.isascii() and ch.isprintable())
                                                     or ch in GREEK_LETTERS)]
            if odd:
                raise ProblemError(
                    f"{where}: {odd[0]!r} cannot be printed in every format; use letters, "
                    "digits and punctuation, or Greek letters")
            settings[key] = item.strip()
        else:
            raise ProblemError(_unknown(where, key, [*sorted(names), "index_base"]))
    return Notation(**settings)


def _unknown(where: str, key: str, known: list[str]) -> str:
    message = f"{_key(where)}: unknown key"
    close = difflib.get_close_matches(key, known, n=1)
    return message + (f"; did you mean {close[0]!r}?" if close else "")


#: the types of a value that :func:`_plain_json` keeps as it is (exactly these: a numpy
#: float is a float, and is turned into Python's)
_PLAIN = frozenset({NumberText, str, int, float, Fraction, Decimal, bool, type(None)})


def _plain_json(value: Any) -> Any:
    """Turn a Python mapping's numbers into the forms the reader expects."""
    if isinstance(value, Mapping):
        return {str(k): _plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        if all(type(v) in _PLAIN for v in value):  # a row, as JSON or Python gives it
            return list(value)
        return [_plain_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain_json(value.tolist())
    if isinstance(value, np.generic):
        return _plain_json(value.item())
    return value


def _checked_keys(data: Any) -> dict[str, Any]:
    """The problem as a plain dict whose keys are all known and not contradictory."""
    if not isinstance(data, Mapping):
        kind = "an array" if isinstance(data, list) else _show(data)
        raise ProblemError(f"expected a JSON object {{...}} at the top level, got {kind}")
    plain: dict[str, Any] = _plain_json(data)
    for key in plain:
        if key in NOT_YET:
            raise ProblemError(f"{key}: {NOT_YET[key]}")
        if key not in KEYS:
            raise ProblemError(_unknown(key, key, [*KEYS, *NOT_YET]))
    if "filter" in plain and "kernel" in plain:
        raise ProblemError("kernel: the same as filter; give one of them, not both")
    if "input" not in plain:
        raise ProblemError("input: missing; a problem needs an input")
    return plain


def _has_filter(data: Mapping[str, Any]) -> bool:
    return "filter" in data or "kernel" in data


def _filter_key(data: Mapping[str, Any]) -> str:
    return "filter" if "filter" in data else "kernel"


def is_symbolic(data: Any) -> bool:
    """Whether a parsed problem gives its input or filter as a shape."""
    return isinstance(data, Mapping) and any(
        isinstance(data.get(key), dict) for key in ("input", "filter", "kernel")
    )


def _geometry(data: Mapping[str, Any], input_shape: tuple[int, ...], input_rank: int,
              filter_shape: tuple[int, ...], filter_rank: int, has_bias: bool,
              dims: int = 2) -> Layer:
    """The layer's geometry, checked: channels, stride, padding, sizes, notation.

    A 1-D layer (``dims`` 1) comes with its shapes already given a row axis of
    length one (``[L]`` as ``[1][L]``) and its ranks counted with that axis."""
    filter_key = _filter_key(data)
    image = (1, *input_shape) if input_rank == 2 else tuple(input_shape)
    kernel = (1,) * (4 - filter_rank) + tuple(filter_shape)
    if _layer_kind(data) == "conv_transpose":
        return _transposed(data, image, input_rank, kernel, filter_rank, has_bias, dims)
    if "output_padding" in data:
        raise ProblemError('output_padding: belongs to a transposed convolution; set '
                           '"layer": "conv_transpose" or leave output_padding out')
    channels, filters = image[0], kernel[0]
    groups = _groups(data, channels, filters)
    if groups > 1 and kernel[1] != channels // groups:
        wanted = (f"[F][{channels // groups}][k]" if dims == 1
                  else f"[F][{channels // groups}][kh][kw]")
        raise ProblemError(
            f"{filter_key}: has {kernel[1]} channel{'s' * (kernel[1] != 1)}; with groups "
            f"{groups} each filter sees C/groups = {channels}/{groups} = {channels // groups} "
            f"of the input's channels: give it as {wanted}"
        )
    if groups == 1 and kernel[1] != channels:
        forms = "[C][k] or [F][C][k]" if dims == 1 else "[C][kh][kw] or [F][C][kh][kw]"
        hint = f"; give it as {forms}" if filter_rank == 2 else ""
        raise ProblemError(
            f"{filter_key}: has {kernel[1]} channel{'s' * (kernel[1] != 1)}, "
            f"the input has {channels}{hint}"
        )
    stride = _axes(data.get("stride", NumberText("1")), "stride", 1, dims, 1)
    dilation = _axes(data.get("dilation", NumberText("1")), "dilation", 1, dims, 1)
    kh, kw = kernel[2], kernel[3]
    form = _padding_form(data.get("padding", NumberText("0")))
    padding, padding_end = _padding_sides(data.get("padding", NumberText("0")), form,
                                          geometry.effective_kernel((kh, kw), dilation),
                                          stride, dims)
    padded = (image[1] + padding[0] + padding_end[0], image[2] + padding[1] + padding_end[1])
    mode = _mode(data.get("mode", "cross_correlation"))
    if kh > padded[0] or kw > padded[1]:
        raise ProblemError(
            f"filter {kh}×{kw} is larger than the padded input {padded[0]}×{padded[1]}"
            if dims == 2 else
            f"filter of length {kw} is longer than the padded input of length {padded[1]}"
        )
    eh, ew = geometry.effective_kernel((kh, kw), dilation)
    if eh > padded[0] or ew > padded[1]:
        raise ProblemError(
            f"dilation: the {kh}×{kw} filter dilated by {dilation[0]}×{dilation[1]} spans "
            f"{eh}×{ew}, larger than the padded input {padded[0]}×{padded[1]}"
            if dims == 2 else
            f"dilation: the filter of length {kw} dilated by {dilation[1]} spans {ew}, "
            f"longer than the padded input of length {padded[1]}"
        )
    bias = data.get("bias")
    one_row = dims == 1
    layout = Layout(input_rank - one_row, filter_rank - one_row,
                    not isinstance(bias, list) and not (bias == "symbolic" and filters > 1),
                    dimensions=dims)
    notation = _notation(data["notation"]) if "notation" in data else Notation()
    activation = _activation(data["activation"]) if "activation" in data else None
    out = geometry.sizes(padded, (eh, ew), stride)
    pool = (_pool(data["pool"], out, "the convolution's output", dims) if "pool" in data
            else None)
    return Layer((image[0], image[1], image[2]), (kernel[0], kernel[1], kernel[2], kernel[3]),
                 has_bias, stride, padding, notation, layout, activation, pool,
                 dilation=dilation, padding_end=None if padding_end == padding else padding_end,
                 padding_form=form, mode=mode, groups=groups)


def _mode(value: Any) -> str:
    if not isinstance(value, str) or isinstance(value, NumberText) or value not in MODES:
        names = " or ".join(f'"{name}"' for name in MODES)
        raise ProblemError(f"mode: expected {names}, got {_show(value)}")
    return value


def _padding_form(value: Any) -> str | None:
    """The padding's name, checked, or None for a number or lists of numbers."""
    if isinstance(value, str) and not isinstance(value, NumberText):
        if value not in PADDING_NAMES:
            names = ", ".join(f'"{name}"' for name in PADDING_NAMES)
            raise ProblemError(
                f"padding: expected an integer ≥ 0, [rows, columns], "
                f"[[top, bottom], [left, right]] or one of {names}, got {_show(value)}")
        return value
    return None


def _padding_sides(value: Any, form: str | None, span: tuple[int, int],
                   stride: tuple[int, int], dims: int = 2
                   ) -> tuple[tuple[int, int], tuple[int, int]]:
    """Every form of ``padding`` resolved to ((top, left), (bottom, right)).

    "valid" is no padding; "full" is k_eff − 1 on every side; "same" pads a total
    of k_eff − 1 along each axis so that the output has the input's size at stride
    1, an odd total with the extra zero at the bottom (right), as TensorFlow.
    """
    if form == "valid":
        return (0, 0), (0, 0)
    if form == "full":
        return (span[0] - 1, span[1] - 1), (span[0] - 1, span[1] - 1)
    if form == "same":
        if stride != (1, 1):
            raise ProblemError(
                f'padding: "same" keeps the input\'s size only at stride 1, the stride is '
                f"{stride[1] if dims == 1 else f'{stride[0]}×{stride[1]}'}; give the padding "
                "as numbers")
        totals = (span[0] - 1, span[1] - 1)
        return (totals[0] // 2, totals[1] // 2), (totals[0] - totals[0] // 2,
                                                  totals[1] - totals[1] // 2)
    if isinstance(value, list) and any(isinstance(item, list) for item in value):
        if dims == 1:  # one axis: [[left, right]]
            if len(value) != 1:
                raise ProblemError(
                    'padding: a 1-D layer takes an integer, [n], [[left, right]], "valid", '
                    f'"same" or "full", got {_show(value)}')
            left, right = _padding_axis(value[0], "padding[0]", "[left, right]")
            return (0, left), (0, right)
        if len(value) != 2:
            raise ProblemError(
                f"padding: expected [[top, bottom], [left, right]], got {_show(value)}")
        rows = _padding_axis(value[0], "padding[0]", "[top, bottom]")
        cols = _padding_axis(value[1], "padding[1]", "[left, right]")
        return (rows[0], cols[0]), (rows[1], cols[1])
    both = _axes(value, "padding", 0, dims, 0)
    return both, both


def _padding_axis(value: Any, key: str, wanted: str) -> tuple[int, int]:
    if not isinstance(value, list) or len(value) != 2:
        raise ProblemError(f"{key}: expected a pair {wanted}, got {_show(value)}")
    before, after = _pair(value, key, 0)
    return before, after


def _groups(data: Mapping[str, Any], channels: int, filters: int) -> int:
    """The ``groups`` key: an integer ≥ 1 that divides both C and F."""
    value = data.get("groups", NumberText("1"))
    if (isinstance(value, str) and not isinstance(value, NumberText)) or isinstance(
            value, list | dict):
        raise ProblemError(f"groups: expected an integer ≥ 1, got {_show(value)}")
    number = to_number(value, "groups")
    if number.denominator != 1 or number < 1:
        raise ProblemError(f"groups: expected an integer ≥ 1, got {_show(value)}")
    groups = int(number)
    for count, what in ((channels, "input channel"), (filters, "filter")):
        if count % groups:
            raise ProblemError(
                f"groups: {groups} does not divide the {count} {what}{'s' * (count != 1)}; "
                f"groups must divide both the input channels ({channels}) and the "
                f"filters ({filters})")
    return groups


def _layer_kind(data: Mapping[str, Any]) -> str:
    """The value of ``layer``: "conv" (the default) or "conv_transpose"."""
    kind = data.get("layer", "conv")
    if not isinstance(kind, str) or isinstance(kind, NumberText) or kind not in LAYERS:
        names = ", ".join(f'"{name}"' for name in LAYERS)
        raise ProblemError(f"layer: unknown layer {_show(kind)}; expected one of {names}")
    return kind


def _transposed(data: Mapping[str, Any], image: tuple[int, ...], input_rank: int,
                kernel: tuple[int, ...], filter_rank: int, has_bias: bool,
                dims: int = 2) -> Layer:
    """A transposed convolution's geometry, checked: the filter is [C][F/groups][kh][kw]
    (input channels first, as PyTorch), groups divide C (and so F), output_padding is
    smaller than the stride or the dilation, and the output is at least one entry
    long. A padding above d·(k − 1) crops the expanded input. A 1-D layer comes with
    its shapes given a row axis of length one, as in :func:`_geometry`."""
    filter_key = _filter_key(data)  # read as [kh][kw] or [C][F][kh][kw], never 3-D
    _transposed_refusals(data)
    channels = image[0]
    if kernel[0] != channels:
        form = "[C][F][k]" if dims == 1 else "[C][F][kh][kw]"
        raise ProblemError(
            f"{filter_key}: has {kernel[0]} input channel{'s' * (kernel[0] != 1)} "
            f"(its first axis, {form} with conv_transpose), the input has {channels}")
    count = _group_count(data)
    if channels % count:
        raise ProblemError(
            f"groups: {count} does not divide the {channels} input "
            f"channel{'s' * (channels != 1)}; with conv_transpose groups must divide the "
            "input channels (the filter's first axis)")
    groups = _groups(data, channels, kernel[1] * count)
    stride = _axes(data.get("stride", NumberText("1")), "stride", 1, dims, 1)
    padding = _axes(data.get("padding", NumberText("0")), "padding", 0, dims, 0)
    dilation = _axes(data.get("dilation", NumberText("1")), "dilation", 1, dims, 1)
    extra = _axes(data.get("output_padding", NumberText("0")), "output_padding", 0, dims, 0)
    kh, kw = kernel[2], kernel[3]
    for axis, name in enumerate(("rows", "columns")):
        if extra[axis] >= max(stride[axis], dilation[axis]):
            what = ("entry" if extra[axis] == 1 else "entries") if dims == 1 else name
            raise ProblemError(
                f"output_padding: {extra[axis]} extra {what} must be smaller than the stride "
                f"({stride[axis]}) or the dilation ({dilation[axis]}), as PyTorch requires")
    one_row = dims == 1
    bias = data.get("bias")
    layout = Layout(input_rank - one_row, filter_rank - one_row,
                    not isinstance(bias, list)
                    and not (bias == "symbolic" and kernel[1] * groups > 1), dimensions=dims)
    notation = _notation(data["notation"]) if "notation" in data else Notation()
    activation = _activation(data["activation"]) if "activation" in data else None
    out = geometry.transposed_sizes((image[1], image[2]), (kh, kw), stride, padding,
                                    dilation, extra)
    if min(out) < 1:
        raise ProblemError(
            f"padding: conv_transpose's output would be {_extent(out, dims)}, "
            "(H − 1)·s − 2p + d·(k − 1) + output_padding + 1; use a smaller padding")
    pool = (_pool(data["pool"], out, "the convolution's output", dims) if "pool" in data
            else None)
    return Layer((image[0], image[1], image[2]), (channels, kernel[1], kh, kw), has_bias,
                 stride, padding, notation, layout, activation, pool, dilation=dilation,
                 groups=groups, transposed=True, output_padding=extra)


def _group_count(data: Mapping[str, Any]) -> int:
    """The ``groups`` a transposed filter's second axis (F/groups) is multiplied by to
    count the output channels: the key's value when it is a positive integer, else 1
    (:func:`_groups` then names what is wrong with it)."""
    value = data.get("groups", NumberText("1"))
    if isinstance(value, list | dict) or (isinstance(value, str)
                                          and not isinstance(value, NumberText)):
        return 1
    number = to_number(value, "groups")
    return int(number) if number.denominator == 1 and number >= 1 else 1


def _transposed_refusals(data: Mapping[str, Any], dims: int = 2) -> None:
    """What a transposed convolution does not take here: a padding form other than an
    integer or [ph, pw] ([pd, ph, pw] in 3-D; PyTorch's conv_transpose2d and
    conv_transpose3d pad both sides alike), a true convolution."""
    padding = data.get("padding", NumberText("0"))
    if (isinstance(padding, str) and not isinstance(padding, NumberText)) or (
            isinstance(padding, list) and any(isinstance(item, list) for item in padding)):
        form, torch = ("[pd, ph, pw]", "conv_transpose3d") if dims == 3 else (
            "[ph, pw]", "conv_transpose2d")
        raise ProblemError(
            f'padding: with "layer": "conv_transpose" it is an integer or {form}, the same '
            f"on both sides of an axis (as PyTorch's {torch}), got {_show(padding)}")
    if data.get("mode", "cross_correlation") != "cross_correlation":
        raise ProblemError('mode: "convolution" is not available with "layer": '
                           '"conv_transpose"; leave mode out')


def _activation(value: Any) -> Activation:
    names = ", ".join(f'"{name}"' for name in ACTIVATIONS)
    if isinstance(value, str) and not isinstance(value, NumberText):
        if value not in ACTIVATIONS:
            raise ProblemError(
                f"activation: unknown activation {_show(value)}; expected one of {names}")
        return Activation(value)
    if not isinstance(value, dict):
        raise ProblemError(
            f"activation: expected a name ({names}) or an object such as "
            f'{{"type": "leaky_relu", "slope": 0.01}}, got {_show(value)}')
    for key in value:
        if key not in ("type", "slope"):
            raise ProblemError(_unknown(f"activation.{key}", key, ["type", "slope"]))
    kind = value.get("type")
    if kind not in ACTIVATIONS or isinstance(kind, NumberText):
        raise ProblemError(
            f"activation.type: unknown activation {_show(kind)}; expected one of {names}")
    if "slope" in value:
        if kind != "leaky_relu":
            raise ProblemError(f"activation.slope: only leaky_relu has a slope, not {kind}")
        return Activation(kind, to_number(value["slope"], "activation.slope"))
    return Activation(kind)


def _pool(value: Any, input_size: tuple[int, int], source: str, dims: int = 2) -> Pool:
    """The ``pool`` object, checked as PyTorch's ``max_pool2d`` and ``avg_pool2d``
    check theirs; ``source`` names what it reads, for messages."""
    if not isinstance(value, dict):
        raise ProblemError(
            'pool: expected an object such as {"type": "max", "size": 2}, '
            f"got {_show(value)}")
    for key in value:
        if key not in POOL_KEYS:
            raise ProblemError(_unknown(f"pool.{key}", key, list(POOL_KEYS)))
    kind = _pool_kind(value.get("type"))
    if "size" not in value:
        raise ProblemError("pool.size: missing; give the window as k or [kh, kw]")
    size = _axes(value["size"], "pool.size", 1, dims, 1)
    stride = _axes(value["stride"], "pool.stride", 1, dims, 1) if "stride" in value else size
    padding = _axes(value.get("padding", NumberText("0")), "pool.padding", 0, dims, 0)
    dilation = _axes(value.get("dilation", NumberText("1")), "pool.dilation", 1, dims, 1)
    ceil_mode = _flag(value, "ceil_mode", False)
    include = _flag(value, "count_include_pad", True)
    if "count_include_pad" in value and kind != "mean":
        raise ProblemError(
            f"pool.count_include_pad: only mean pooling divides by a count; {kind} pooling "
            "has none")
    if kind == "mean" and dilation != (1, 1):
        raise ProblemError(
            "pool.dilation: mean pooling has no dilation (PyTorch's avg_pool2d has none)")
    for axis in range(2):
        if padding[axis] > size[axis] // 2:
            where = "pool.padding" + (f"[{axis}]" if isinstance(value.get("padding"), list)
                                      else "")
            raise ProblemError(
                f"{where}: {padding[axis]} is more than half the window's "
                f"{('height', 'width')[axis] if dims == 2 else 'length'} {size[axis]}; "
                "pool padding may be at most "
                f"⌊{size[axis]}/2⌋ = {size[axis] // 2}, as in PyTorch")
    pool = Pool(kind, size, stride, input_size, padding, dilation, ceil_mode, include)
    span, padded = pool.span, pool.padded_size
    if span[0] > padded[0] or span[1] > padded[1]:
        dilated = f" (dilated to {_extent(span, dims)})" if dilation != (1, 1) else ""
        padded_words = (f"its padded input {_extent(padded, dims)}" if any(padding) else
                        f"its input {_extent(padded, dims)}")
        raise ProblemError(
            f"pool: window {_extent(size, dims)}{dilated} is larger than {padded_words} "
            f"({source})")
    empty = geometry.pool_empty_window(pool)
    if empty is not None:
        axis, index = empty
        raise ProblemError(
            f"pool: window {index + 1}"
            + (f" along the {('rows', 'columns')[axis]}" if dims == 2 else "") + " reads only "
            f"padding (its dilated taps skip the {source} {_extent(input_size, dims)}); "
            "change pool.dilation or pool.padding")
    return pool


def _pool_kind(kind: Any) -> str:
    """``pool.type``, checked: max, mean or min (``"avg"`` is mean)."""
    if isinstance(kind, str) and not isinstance(kind, NumberText):
        kind = POOL_ALIASES.get(kind, kind)
    if kind not in POOLS or isinstance(kind, NumberText):
        names = ", ".join(f'"{name}"' for name in (*POOLS, *POOL_ALIASES))
        raise ProblemError(f"pool.type: unknown pooling {_show(kind)}; expected one of {names}")
    return str(kind)


def _flag(value: Mapping[str, Any], key: str, default: bool) -> bool:
    """A true/false key of the ``pool`` object."""
    if key not in value:
        return default
    flag = value[key]
    if not isinstance(flag, bool):
        raise ProblemError(f"pool.{key}: expected true or false, got {_show(flag)}")
    return flag


#: a 3-D problem is worked out by cnnstep.volume and cnnstep.derivation.volume; the
#: rest refuses it
VOLUME_ONLY = ("dimensions: a 3-D layer is worked out by cnnstep solve (alone, in a set or in "
               "an exam), cnnstep check, cnnstep export and cnnstep generate (as its template)")

#: a 3-D layer given by shapes is derived by cnnstep.symbolic_volume, not read as a Layer
SYMBOLIC_2D = ("dimensions: a 3-D layer given by shapes is derived by cnnstep solve "
               "--symbolic, one file at a time (in Python: cnnstep.solve)")

#: keys a layer given by shapes may have
SHAPE_KEYS = ("input", "filter", "kernel", "bias", "stride", "padding", "dilation", "mode",
              "groups", "notation", "dimensions", "layer")
#: read by `cnnstep check`; `solve` leaves them alone
ANSWERS_KEY = "answers"


def _shape(value: Any, key: str, ranks: tuple[int, ...], dims: int = 2) -> tuple[int, ...]:
    forms = _FORMS[("input" if key == "input" else "filter") + ("" if dims == 2 else str(dims))]
    wanted = " or ".join(forms[r] for r in ranks)
    if set(value) != {"shape"}:
        extra = sorted(set(value) - {"shape"})
        raise ProblemError(
            f"{key}: a shape is written {{\"shape\": {wanted}}}"
            + (f"; unknown key {extra[0]!r}" if extra else "")
        )
    shape = value["shape"]
    if not isinstance(shape, list) or len(shape) not in ranks:
        batch = (key == "input" and dims == 2 and isinstance(shape, list)
                 and len(shape) == 4)
        raise ProblemError(f"{key}.shape: expected a list {wanted}, got {_show(shape)}"
                           + ("; a batch [N][C][H][W] is given with numbers" if batch else ""))
    sizes = []
    for i, size in enumerate(shape):
        where = f"{key}.shape[{i}]"
        if not isinstance(size, NumberText | int) or isinstance(size, bool):
            raise ProblemError(f"{where}: expected an integer ≥ 1, got {_show(size)}")
        number = to_number(size, where)
        if number.denominator != 1 or number < 1:
            raise ProblemError(f"{where}: expected an integer ≥ 1, got {_show(size)}")
        sizes.append(int(number))
    return tuple(sizes)


#: a quantity given as a shape, checked: read_shape(value, key, ranks, dims)
read_shape = _shape


def layer_from_data(data: Any) -> Layer:
    """A layer given by shapes (``{"shape": [3, 3]}``), for a symbolic derivation."""
    data = _checked_keys(data)
    if not _has_filter(data):
        raise ProblemError("filter: missing; a layer given by shapes needs an input and a "
                           "filter")
    filter_key = _filter_key(data)
    dims = _dimensions(data)
    if dims == 3:
        raise ProblemError(SYMBOLIC_2D)
    for key in ("input", filter_key):
        if not isinstance(data[key], dict):
            raise ProblemError(
                f"{key}: give input and filter both as shapes, or both as numbers"
            )
    for key in data:
        if key not in SHAPE_KEYS:
            raise ProblemError(
                f"{key}: a layer given by shapes has only formulas; {key} needs the input "
                "and the filter given as numbers"
            )
    bias = data.get("bias")
    if bias is not None and bias != "symbolic":
        raise ProblemError(
            f"bias: with input and filter given as shapes, the bias is \"symbolic\" or "
            f"left out, got {_show(bias)}"
        )
    if dims == 1:  # a signal is held as one row: [L] as [1][L], [k] as [1][k]
        signal = _shape(data["input"], "input", (1, 2), 1)
        kernel = _shape(data[filter_key], filter_key, (1, 2, 3), 1)
        return _geometry(data, (*signal[:-1], 1, signal[-1]), len(signal) + 1,
                         (*kernel[:-1], 1, kernel[-1]), len(kernel) + 1, "bias" in data, 1)
    input_shape = _shape(data["input"], "input", (2, 3))
    filter_shape = _shape(data[filter_key], filter_key, (2, 3, 4))
    return _geometry(data, input_shape, len(input_shape), filter_shape, len(filter_shape),
                     "bias" in data)


def problem_from_data(data: Any) -> Problem:
    """Check a parsed problem (a JSON object or an equivalent Python mapping)."""
    data = _checked_keys(data)
    if is_symbolic(data):
        key = "input" if isinstance(data["input"], dict) else _filter_key(data)
        both = isinstance(data["input"], dict) and isinstance(data[_filter_key(data)], dict)
        raise ProblemError(
            f"{key}: a shape such as {{\"shape\": [3, 3]}} is for a symbolic derivation; "
            + ("run it with --symbolic" if both else
               "give input and filter both as shapes (and run with --symbolic), "
               "or both as numbers")
        )
    if data.get("bias") == "symbolic":
        raise ProblemError(
            "bias: \"symbolic\" goes with input and filter given as shapes "
            "({\"shape\": [3, 3]}) and --symbolic"
        )
    dims = _dimensions(data)
    if dims == 3:
        raise ProblemError(VOLUME_ONLY)
    if "dimensions" in data:
        check_ranks(data, dims, *((1, 2, 3), (1, 2, 3)) if dims == 1 else ((2, 3, 4), (2, 3, 4)))
    kinds = ("input1", "filter1") if dims == 1 else ("input", "filter")
    ranks = ((1, 2, 3), (1, 2, 3)) if dims == 1 else ((2, 3, 4), (2, 3, 4))
    image, input_rank = _read_array(data["input"], "input", kinds[0], ranks[0])
    if dims == 1:  # a signal is held as one row: [L] as [1][L], [C][L] as [C][1][L]
        image, input_rank = image.reshape((*image.shape[:-1], 1, image.shape[-1])), input_rank + 1
    # a batch [N][C][H][W] (in 1-D [N][C][L], held as [N][C][1][L]): N images through
    # the same layer
    images = image.shape[0] if input_rank == 4 else 0
    one_image = image.shape[1:] if images else image.shape
    rank = 3 if images else input_rank
    if _has_filter(data):
        filter_key = _filter_key(data)
        kernel, filter_rank = (
            _read_array(data[filter_key], filter_key, "transposed", (2, 4))
            if data.get("layer") == "conv_transpose" and dims == 2
            else _read_array(data[filter_key], filter_key, "transposed1", (1, 3))
            if data.get("layer") == "conv_transpose"
            else _read_array(data[filter_key], filter_key, kinds[1], ranks[1]))
        if dims == 1:
            kernel = kernel.reshape((*kernel.shape[:-1], 1, kernel.shape[-1]))
            filter_rank += 1
        layer = _geometry(data, one_image, rank, kernel.shape, filter_rank, "bias" in data,
                          dims)
        kernel = kernel.reshape(layer.filter_shape)
    else:
        layer = _alone(data, one_image, rank, dims)
        kernel = ExactArray(_identity(layer.channels))
    if images:
        layer = replace(layer, layout=replace(layer.layout, batch=images))
    image = image.reshape((images, *layer.input_shape) if images else layer.input_shape)
    filters = layer.filters
    layout = layer.layout
    out_shape = layer.last_shape

    bias = _bias(data["bias"], filters) if "bias" in data else None
    if "target" in data and "grad_output" in data:
        raise ProblemError(
            "grad_output: give target or grad_output, not both "
            "(grad_output is dL/dZ given directly, instead of a target and a loss)"
        )
    what = ("the pooled output's" if layer.pool else
            "the activated output's" if layer.activation else "the output's")
    shaped = _batch_shaped if images else _output_shaped
    target = shaped(data, "target", out_shape, layout, what)
    grad_output = shaped(data, "grad_output", out_shape, layout, what)

    loss: LossName = "mse"
    if "loss" in data:
        value = data["loss"]
        if not isinstance(value, str) or value not in LOSSES:
            names = ", ".join(f'"{name}"' for name in LOSSES)
            raise ProblemError(f"loss: unknown loss {_show(value)}; expected one of {names}")
        if target is None:
            raise ProblemError(
                "loss: a loss needs a target; without one there is no loss to compute"
                + (" (grad_output gives dL/dZ directly)" if grad_output is not None else "")
            )
        loss = value

    learning_rate = None
    notes: list[str] = []
    if "learning_rate" in data:
        learning_rate = to_number(data["learning_rate"], "learning_rate")
        if target is None and grad_output is None:
            notes.append("learning_rate: no update is made: the problem has no target or "
                         "grad_output, so there are no gradients (a forward pass only)")

    steps = _steps(data, target is not None, learning_rate is not None)
    problem = Problem(
        layer=layer, exact_input=image, exact_filter=kernel, exact_bias=bias,
        exact_target=target, exact_grad_output=grad_output, loss=loss,
        learning_rate=learning_rate, notes=tuple(notes), steps=steps,
    )
    if "questions" in data:
        problem = replace(problem, questions=_questions(data["questions"], problem))
    return problem


def _steps(data: Mapping[str, Any], has_target: bool, has_rate: bool) -> int:
    """``steps``: an integer ≥ 1, given only with a target and a learning rate (each
    training step needs the loss to descend and the rate to step by)."""
    if "steps" not in data:
        return 1
    value = data["steps"]
    if (isinstance(value, str) and not isinstance(value, NumberText)) or isinstance(
            value, list | dict) or value is None:
        raise ProblemError(f"steps: expected an integer ≥ 1, got {_show(value)}")
    number = to_number(value, "steps")
    if number.denominator != 1 or number < 1:
        raise ProblemError(f"steps: expected an integer ≥ 1, got {_show(value)}")
    missing = [key for key, given in (("target", has_target), ("learning_rate", has_rate))
               if not given]
    if missing:
        raise ProblemError(
            f"steps: training steps need a target and a learning_rate; the problem has no "
            f"{' and no '.join(missing)}")
    return int(number)


def _questions(value: Any, problem: Problem) -> tuple[tuple[str, Fraction], ...]:
    """``questions``: a list of result keys or entries (one point each), or an object
    from those to points; each must name a quantity or an entry of this problem."""
    from cnnstep.quantities import Selection, present

    return read_questions(value, lambda text: Selection.parse(
        [text], problem.layer, present(problem), steps=()))


def read_questions(value: Any, check: Callable[[str], object]
                   ) -> tuple[tuple[str, Fraction], ...]:
    """``questions`` read as (text, points) pairs, each text passed to ``check``, which
    raises a ProblemError or a SelectionError (a ValueError) for one that names nothing
    of the problem's result; the message is prefixed with where the question is."""
    if isinstance(value, list):
        asked = [(item, f"questions[{i}]", Fraction(1)) for i, item in enumerate(value)]
    elif isinstance(value, dict):
        asked = [(key, f"questions.{_key(key)}", to_number(points, f"questions.{_key(key)}"))
                 for key, points in value.items()]
    else:
        raise ProblemError(
            'questions: expected a list of result keys or entries (["output", '
            '"grad_input[1][1]"]) or an object from them to points ({"output": 2}), '
            f"got {_show(value)}")
    if not asked:
        raise ProblemError("questions: the exercise asks nothing; leave the key out to ask "
                           "everything")
    seen: set[str] = set()
    out = []
    for text, where, points in asked:
        if not isinstance(text, str) or isinstance(text, NumberText):
            raise ProblemError(f"{where}: expected a result key or an entry such as "
                               f"\"grad_input[1][1]\", got {_show(text)}")
        if points < 0:
            raise ProblemError(f"{where}: points cannot be negative, got {points}")
        try:
            check(text)
        except ValueError as error:  # a SelectionError, or a ProblemError
            raise ProblemError(f"{where}: {error}") from None
        name = text.replace(" ", "")
        if name in seen:
            raise ProblemError(f"{where}: {text} is asked twice")
        seen.add(name)
        out.append((text.strip(), points))
    return tuple(out)


#: keys that belong to the convolution, which a layer alone does not have
CONV_KEYS = {
    "bias": "a layer alone has no filter, so no bias",
    "stride": "a layer alone has no convolution to stride; the pool's is pool.stride",
    "padding": "a layer alone has no convolution to pad; the pool's is pool.padding",
    "dilation": "a layer alone has no kernel to dilate; the pool's is pool.dilation",
    "mode": "a layer alone has no kernel to flip",
    "groups": "a layer alone has no filters to group",
    "learning_rate": "a layer alone has no filter or bias, so no weights to update",
    "layer": "a layer alone has no convolution, plain or transposed",
    "output_padding": "a layer alone has no transposed convolution to pad",
}


def _alone_refusals(data: Mapping[str, Any]) -> None:
    """What a layer alone (1-D, 2-D or 3-D) cannot take: nothing to apply to the
    input, a key of the convolution it does not have, a symbol of it."""
    if "activation" not in data and "pool" not in data:
        raise ProblemError(
            "filter: missing; a problem needs a filter, or an activation or a pool to "
            "apply to the input alone")
    for key, why in CONV_KEYS.items():
        if key in data:
            raise ProblemError(f"{key}: {why}")
    named = data.get("notation")
    for name in ("output", "filter", "bias"):
        if isinstance(named, dict) and name in named:
            raise ProblemError(
                f"notation.{name}: a layer alone has no convolution, so no {name} symbol; "
                "its stages take the input's letter (X), A and P")


def _alone(data: Mapping[str, Any], input_shape: tuple[int, ...], input_rank: int,
           dims: int = 2) -> Layer:
    """A layer alone: no filter, the input goes straight to the activation and/or the
    pool. Its output keeps the input's channel axis exactly when the input has one.
    A 1-D input comes as one row (``[L]`` as ``[1][L]``), its rank counting that row."""
    _alone_refusals(data)
    image = (1, *input_shape) if input_rank == 2 else tuple(input_shape)
    channels, height, width = image
    notation = _notation(data["notation"]) if "notation" in data else Notation()
    # the stage the activation and pool read is the input itself: its letter
    notation = replace(notation, output=notation.input)
    activation = _activation(data["activation"]) if "activation" in data else None
    pool = _pool(data["pool"], (height, width), "the input", dims) if "pool" in data else None
    one_row = dims == 1
    layout = Layout(input_rank - one_row, (4 if input_rank == 3 else 2) - one_row, True,
                    dimensions=dims)
    return Layer((channels, height, width), (channels, channels, 1, 1), False,
                 notation=notation, layout=layout, activation=activation, pool=pool,
                 convolution=False)


def _identity(channels: int) -> Array:
    """The (C, C, 1, 1) identity kernel that stands for the missing convolution."""
    kernel = np.full((channels, channels, 1, 1), Fraction(0), dtype=object)
    for c in range(channels):
        kernel[c, c, 0, 0] = Fraction(1)
    return frozen(kernel)


def _bias(value: Any, filters: int) -> ExactArray:
    if isinstance(value, list):
        if len(value) != filters:
            raise ProblemError(
                f"bias: expected a list of {filters} number{'s' * (filters != 1)} "
                f"(one per filter), got {len(value)}"
            )
        numbers = [to_number(item, f"bias[{i}]") for i, item in enumerate(value)]
    else:
        if filters != 1:
            raise ProblemError(
                f"bias: the layer has {filters} filters; give a list of {filters} numbers"
            )
        numbers = [to_number(value, "bias")]
    array = np.empty(len(numbers), dtype=object)
    array[:] = numbers
    return ExactArray(frozen(array))


def _output_shaped(
    data: Mapping[str, Any], key: str, shape: tuple[int, int, int], layout: Layout,
    what: str = "the output's",
) -> ExactArray | None:
    """A target or grad_output, which must have the shape of the last stage."""
    if key not in data:
        return None
    filters = shape[0]
    if layout.one_row:  # a 1-D layer's [L] or [F][L], held as [F][1][L]
        array, rank = _read_array(data[key], key, "output1", (1, 2) if filters == 1 else (2,))
        array = array.reshape((*array.shape[:-1], 1, array.shape[-1]))
        rank += 1
        shape_given = tuple(array.shape[:-2]) + array.shape[-1:]
        shape = (shape[0], 1, shape[2])
        if array.shape != shape and array.shape != shape[1:]:
            signal = (shape[0], shape[2]) if layout.output_rank == 2 else (shape[2],)
            raise ProblemError(f"{key}: expected {what} shape {_brackets(signal)}, got "
                               f"{_brackets(shape_given)}")
    else:
        array, rank = _read_array(data[key], key, "output", (2, 3) if filters == 1 else (3,))
    if rank == 2:
        array = array.reshape((1, *array.shape))
    if array.shape != shape:
        given = array.shape if rank == 3 else array.shape[1:]
        wanted = shape if layout.output_rank == 3 else shape[1:]
        raise ProblemError(
            f"{key}: expected {what} shape {_brackets(wanted)}, got {_brackets(given)}"
        )
    return array


def _batch_shaped(
    data: Mapping[str, Any], key: str, shape: tuple[int, int, int], layout: Layout,
    what: str = "the output's",
) -> ExactArray | None:
    """A target or grad_output of a batch: the last stage's shape with the image axis
    first, ``[N][oh][ow]`` for one filter given without its axis, else ``[N][F][oh][ow]``;
    in 1-D ``[N][L_out]`` or ``[N][F][L_out]``, held as ``[N][F][1][L_out]``."""
    if key not in data:
        return None
    images = layout.batch
    one_row = layout.one_row
    full = (images, *shape)
    ranks = (3, 4) if shape[0] == 1 else (4,)
    array, rank = _read_array(data[key], key, "batch1" if one_row else "batch",
                              tuple(r - one_row for r in ranks))
    if one_row:  # a signal's entries as one row
        array, rank = array.reshape((*array.shape[:-1], 1, array.shape[-1])), rank + 1
    if rank == 3:
        array = array.reshape((array.shape[0], 1, *array.shape[1:]))
    if array.shape != full:
        given: tuple[int, ...] = array.shape if rank == 4 else (array.shape[0],
                                                                 *array.shape[2:])
        wanted: tuple[int, ...] = (full if layout.output_rank == 3 - one_row
                                   else (images, *shape[1:]))
        if one_row:
            given, wanted = given[:-2] + given[-1:], wanted[:-2] + wanted[-1:]
        raise ProblemError(
            f"{key}: expected {what} shape {_brackets(wanted)} (a batch of {images} "
            f"{'signal' if one_row else 'image'}{'s' * (images != 1)}), got "
            f"{_brackets(given)}"
        )
    return array


def _brackets(shape: tuple[int, ...]) -> str:
    return "".join(f"[{n}]" for n in shape)


#: a large array under one of these top-level keys is read straight from the text
_BULK_KEY = re.compile(r'"(input|filter|kernel|target|grad_output)"\s*:\s*\[')
#: the characters of an array of numbers
_ARRAY_RUN = re.compile(r"[\[\]0-9.,+\-eE \t\r\n]*")
#: fewer numbers than this are read as JSON gives them
BULK_LEAST = 4096


def _marker(key: str) -> str:
    return f"\x00bulk {key}"


def _array_end(text: str, start: int) -> int:
    """The end of the array that opens at ``start``, or -1 when it holds more than
    numbers, brackets, commas and white space."""
    run = _ARRAY_RUN.match(text, start)
    assert run is not None
    chars = np.frombuffer(run.group().encode("ascii"), dtype=np.uint8)
    depth = np.cumsum((chars == ord("[")).astype(np.int64) - (chars == ord("]")))
    closed = np.flatnonzero(depth == 0)
    return start + int(closed[0]) + 1 if closed.size else -1


def _arrays_in_bulk(text: str) -> tuple[str, dict[str, Scaled]]:
    """The text with each large array of decimals under an input, filter, target or
    grad_output key replaced by a marker string, and the arrays read in bulk
    (:func:`cnnstep.exact.read_decimals`) by key."""
    found: dict[str, Scaled] = {}
    if "\\u0000" in text:  # the markers' spelling: leave such a file to the reader
        return text, found
    pieces, done = [], 0
    for match in _BULK_KEY.finditer(text):
        key, start = match.group(1), match.end() - 1
        if start < done or key in found:
            continue
        end = _array_end(text, start)
        values = read_decimals(text[start:end]) if end > 0 else None
        if values is None or values.size < BULK_LEAST:
            continue
        pieces += [text[done:start], json.dumps(_marker(key))]
        done, found[key] = end, values
    return "".join([*pieces, text[done:]]), found


def parse_problem(text: str) -> Problem:
    """A problem from the text of a problem file.

    Large arrays of plain decimals under the top-level keys input, filter, target
    and grad_output are read from the text in bulk, without a Python object per
    number; where the text with them left out does not parse to an object holding
    them at the top level, the whole text is read as JSON gives it, so that every
    message is the same."""
    text = without_comments(text)
    marked, arrays = _arrays_in_bulk(text)
    if arrays:
        try:
            data = parse_json(marked)
        except ProblemError:
            data = None
        if isinstance(data, dict) and all(data.get(key) == _marker(key) for key in arrays):
            data.update(arrays)
            return problem_from_data(data)
    return problem_from_data(parse_json(text))


def load_problem(path: str | Path) -> Problem:
    """A problem from a file (``-``: standard input); errors are prefixed by its name."""
    try:
        return parse_problem(read_text(Path(path)))
    except ProblemError as error:
        raise ProblemError(f"{where(path)}: {error}") from None


def problem_or_layer(data: Any) -> Problem | Layer:
    """A numeric problem, or a layer given by shapes for a symbolic derivation."""
    return layer_from_data(data) if is_symbolic(data) else problem_from_data(data)


def load(path: str | Path) -> Problem | Layer:
    """A problem file that may give its input and filter as shapes."""
    try:
        return problem_or_layer(parse_json(read_text(Path(path))))
    except ProblemError as error:
        raise ProblemError(f"{where(path)}: {error}") from None


# --------------------------------------------------------------------------
# 3-D layers: a volume [D][H][W] under a kernel [kd][kh][kw]

#: the keys a 3-D problem reads
VOLUME_KEYS = ("input", "filter", "kernel", "bias", "target", "grad_output", "loss", "stride",
               "padding", "dilation", "mode", "groups", "activation", "pool",
               "learning_rate", "steps", "notation", "dimensions", "layer", "output_padding",
               ANSWERS_KEY, "questions")

Triple = tuple[int, int, int]

#: the keys of a 3-D pool
VOLUME_POOL_KEYS = ("type", "size", "stride", "padding", "dilation", "ceil_mode",
                    "count_include_pad")


@value_class
class VolumePool(Value):
    """Pooling over each map of a 3-D layer, as PyTorch's ``max_pool3d`` and
    ``avg_pool3d`` (min: the least entry): windows ``size`` wide, their taps
    ``dilation`` apart (max and min only), ``stride`` apart, over the input with
    ``padding`` on each side that never wins and adds nothing; with ``ceil_mode`` a
    last partial window counts (never one that starts in the padding). A mean
    divides by the window's taps inside the padded input, or with
    ``count_include_pad`` false by its entries inside the input."""

    kind: str  # max, mean, min
    size: Triple
    stride: Triple
    padding: Triple
    input_size: Triple
    count_include_pad: bool = True
    dilation: Triple = (1, 1, 1)
    ceil_mode: bool = False

    @property
    def output_size(self) -> Triple:
        """⌊(n + 2p − d·(k − 1) − 1)/s⌋ + 1 along each axis (⌈…⌉ in ceil mode, less
        one where the last window would start in the padding), as
        :func:`cnnstep.geometry.pool_output_size`."""
        a, b, c = (geometry.pool_output_size(n, k, s, p, d, self.ceil_mode)
                   for n, k, s, p, d in zip(self.input_size, self.size, self.stride,
                                            self.padding, self.dilation, strict=True))
        return (a, b, c)

    @property
    def span(self) -> Triple:
        """The dilated window, d·(k − 1) + 1 along each axis."""
        a, b, c = (d * (k - 1) + 1 for d, k in zip(self.dilation, self.size, strict=True))
        return (a, b, c)

    def taps(self, axis: int, i: int) -> list[int]:
        """The padded positions window ``i`` reads along an axis, i·s + m·d for each
        tap m, those inside the padded input (a ceil mode's last window may reach past
        it)."""
        start, step = i * self.stride[axis], self.dilation[axis]
        end = self.input_size[axis] + 2 * self.padding[axis]
        return [p for p in range(start, start + step * self.size[axis], step) if p < end]

    def window(self, o: tuple[int, ...]) -> list[tuple[int, ...]]:
        """The input entries of window ``o``, in depth-row-column order: o·s − p + t·d
        for each tap t, inside the input."""
        axes = [[p - pad for p in self.taps(axis, i) if 0 <= p - pad < n]
                for axis, (i, pad, n) in enumerate(zip(o, self.padding, self.input_size,
                                                       strict=True))]
        return list(itertools.product(*axes))

    def divisor(self, o: tuple[int, ...]) -> int:
        """What a mean divides window ``o``'s sum by."""
        if self.count_include_pad:
            return math.prod(len(self.taps(axis, i)) for axis, i in enumerate(o))
        return len(self.window(o))


@value_class(eq=False)
class Volume(Value):
    """One 3-D convolution layer with its numbers, as PyTorch's ``conv3d``: the
    arrays in the full layout ``input (C, D, H, W)``, ``filter (F, C, kd, kh, kw)``,
    ``bias (F,)``, ``target``/``grad_output (F, od, oh, ow)``, read-only object
    arrays of Fractions; ``input_rank`` and ``filter_rank`` are the ranks the user
    gave them in (4 or 3; 5, 4 or 3)."""

    input: Array
    filter: Array
    bias: Array | None
    target: Array | None
    grad_output: Array | None
    loss: LossName
    learning_rate: Fraction | None
    stride: Triple
    padding: Triple
    dilation: Triple
    input_rank: int
    filter_rank: int
    bias_is_number: bool
    notation: Notation = field(default_factory=Notation)
    #: the zeros behind, below and right of the input where they differ from
    #: ``padding`` (the zeros in front, above and left); None: the same
    padding_end: Triple | None = None
    #: the padding's name as the problem gave it ("valid", "same", "full"), else None
    padding_form: str | None = None
    #: "convolution" flips the kernel along all three axes in the forward pass
    mode: str = "cross_correlation"
    #: the input channels split into this many blocks, filter f seeing its block's
    groups: int = 1
    #: ReLU or leaky ReLU after the convolution, or None
    activation: Activation | None = None
    #: training steps: forward, loss, backward and update this many times
    steps: int = 1
    #: a pool over each map after the convolution (and the activation), or None
    pool: VolumePool | None = None
    #: what the exercise asks (result keys or single entries) and the points of each;
    #: None: everything the layer determines, one point per quantity
    questions: tuple[tuple[str, Fraction], ...] | None = None
    #: the volumes the loss is taken over: N for one volume of a batch of N (its
    #: squared errors count 1/(N·F·od·oh·ow) each under mse), else 1
    loss_images: int = 1
    #: False for a layer alone: no filter, the input goes straight to the activation
    #: and/or the pool (``filter`` is then the identity that stands for it)
    convolution: bool = True
    #: a transposed convolution (PyTorch's conv_transpose3d): the filter is
    #: (C, F/groups, kd, kh, kw), input channels first, and each input entry scatters
    #: the kernel into the output (:mod:`cnnstep.volume_transposed`)
    transposed: bool = False
    #: with ``transposed``: extra depth slices, rows and columns of the output behind,
    #: below and right
    output_padding: Triple = (0, 0, 0)

    @property
    def filters(self) -> int:
        """F, the output channels: the filter's first axis, or transposed its second
        times the groups."""
        shape: tuple[int, ...] = self.filter.shape
        return shape[1] * self.groups if self.transposed else shape[0]

    @property
    def sides(self) -> tuple[Triple, Triple]:
        """The zeros on each side of each axis: (front, top, left), (back, bottom, right)."""
        return self.padding, self.padding_end or self.padding

    @property
    def flipped(self) -> bool:
        """The forward pass is a true convolution: the kernel flipped along every axis."""
        return self.mode == "convolution"

    def channels_of(self, f: int) -> range:
        """The input channels filter ``f`` sees: its group's block."""
        per = self.input.shape[0] // self.groups
        block = f // (self.filters // self.groups)
        return range(block * per, (block + 1) * per)

    @property
    def effective_kernel(self) -> Triple:
        """The span of the dilated kernel, d·(k − 1) + 1 along each axis."""
        d0, d1, d2 = (d * (k - 1) + 1 for d, k in
                      zip(self.dilation, self.filter.shape[2:], strict=True))
        return (d0, d1, d2)

    @property
    def padded_size(self) -> Triple:
        before, after = self.sides
        d0, d1, d2 = (n + p + q for n, p, q in
                      zip(self.input.shape[1:], before, after, strict=True))
        return (d0, d1, d2)

    @property
    def output_size(self) -> Triple:
        """⌊(n + 2p − (d·(k − 1) + 1))/s⌋ + 1 along depth, rows and columns;
        transposed, (n − 1)·s − 2p + d·(k − 1) + output_padding + 1."""
        if self.transposed:
            return transposed_size(self.input.shape[1:], self.filter.shape[2:], self.stride,
                                   self.padding, self.dilation, self.output_padding)
        d0, d1, d2 = ((n - e) // s + 1 for n, e, s in
                      zip(self.padded_size, self.effective_kernel, self.stride, strict=True))
        return (d0, d1, d2)

    @property
    def has_gradients(self) -> bool:
        return self.target is not None or self.grad_output is not None


def transposed_size(size: tuple[int, ...], kernel: tuple[int, ...], stride: Triple,
                    padding: Triple, dilation: Triple, extra: Triple) -> Triple:
    """A 3-D transposed convolution's output, (n − 1)·s − 2p + d·(k − 1) +
    output_padding + 1 along each axis."""
    d0, d1, d2 = ((n - 1) * s - 2 * p + d * (k - 1) + o + 1 for n, k, s, p, d, o in
                  zip(size, kernel, stride, padding, dilation, extra, strict=True))
    return (d0, d1, d2)


def _triple(value: Any, key: str, minimum: int) -> Triple:
    """A per-axis setting of a 3-D layer: an integer for every axis, or [d, h, w]."""
    if isinstance(value, list):
        if len(value) != 3:
            raise ProblemError(f"{key}: a 3-D layer has three axes; expected an integer or "
                               f"[depth, rows, columns], got {_show(value)}")
        a, b, c = (_integer(item, f"{key}[{i}]", minimum) for i, item in enumerate(value))
        return (a, b, c)
    n = _integer(value, key, minimum)
    return (n, n, n)


_VOLUME_LEVELS: dict[str, dict[int, tuple[str, ...]]] = {
    "input": {3: ("slice", "row", "entry"), 4: ("channel", "slice", "row", "entry")},
    "filter": {3: ("slice", "row", "entry"), 4: ("channel", "slice", "row", "entry"),
               5: ("filter", "channel", "slice", "row", "entry")},
    "output": {3: ("slice", "row", "entry"), 4: ("map", "slice", "row", "entry")},
    # a batch of volumes, the volume axis first
    "batch": {5: ("volume", "channel", "slice", "row", "entry")},
    "batch_output": {4: ("volume", "slice", "row", "entry"),
                     5: ("volume", "map", "slice", "row", "entry")},
}


def _volume_array(value: Any, key: str, kind: str, ranks: tuple[int, ...]) -> tuple[Array, int]:
    """A 3-D problem's array as Fractions, checked level by level, and its rank."""
    rank = _rank(value, key)
    if rank not in ranks:
        raise ProblemError(f"{key}: expected a {' or '.join(f'{r}-D' for r in ranks)} array "
                           f"of numbers for a 3-D layer, got "
                           + (f"a {rank}-D array" if rank else _show(value)))
    numbers: list[Fraction] = []
    shape = _walk(value, key, _VOLUME_LEVELS[kind][rank], numbers)
    array = np.empty(len(numbers), dtype=object)
    array[:] = numbers
    return frozen(array.reshape(shape)), rank


def volume_from_data(data: Any) -> Volume:
    """Check a 3-D problem (``"dimensions": 3``) into a :class:`Volume`."""
    data = _checked_keys(data)
    for key in data:
        if key not in VOLUME_KEYS:
            raise ProblemError(f"{key}: a 3-D layer is solved without {key} for now; "
                               "leave it out, or solve a 1-D or 2-D layer")
    if any(isinstance(data.get(key), dict) for key in ("input", "filter", "kernel")):
        key = next(key for key in ("input", "filter", "kernel")
                   if isinstance(data.get(key), dict))
        both = isinstance(data["input"], dict) and isinstance(data.get(_filter_key(data)), dict)
        raise ProblemError(f"{key}: a shape such as {{\"shape\": [3, 3, 3]}} is for a symbolic "
                           "derivation; " + ("run it with --symbolic" if both else
                                             "give input and filter both as shapes (and run "
                                             "with --symbolic), or both as numbers"))
    if data.get("bias") == "symbolic":
        raise ProblemError("bias: \"symbolic\" goes with input and filter given as shapes "
                           "({\"shape\": [3, 3, 3]}) and --symbolic")
    check_ranks(data, 3, (3, 4), (3, 4, 5))
    filter_key = _filter_key(data)
    image, input_rank = _volume_array(data["input"], "input", "input", (3, 4))
    alone = not _has_filter(data)
    kernel, filter_rank = (_volume_alone(data, image, input_rank) if alone else
                           _volume_array(data[filter_key], filter_key, "filter", (3, 4, 5)))
    image = frozen(image.reshape((1,) * (4 - input_rank) + image.shape))
    kernel = frozen(kernel.reshape((1,) * (5 - filter_rank) + kernel.shape))
    if _layer_kind(data) == "conv_transpose":
        shape = _volume_transposed(data, image.shape, kernel.shape, filter_rank, filter_key)
    else:
        shape = _volume_geometry(data, image.shape, kernel.shape, filter_rank, filter_key)
    filters, groups, stride, dilation = shape.filters, shape.groups, shape.stride, shape.dilation
    padding, padding_end, form, out = shape.padding, shape.padding_end, shape.form, shape.out
    bias = data.get("bias")
    numbers = _bias(bias, filters).fractions if "bias" in data else None
    pool = _volume_pool(data["pool"], (out[0], out[1], out[2])) if "pool" in data else None
    last = out if pool is None else pool.output_size
    target, grad_output = (_volume_shaped(data, key, (filters, *last), filter_rank == 5)
                           for key in ("target", "grad_output"))
    if target is not None and grad_output is not None:
        raise ProblemError("grad_output: give target or grad_output, not both "
                           "(grad_output is dL/dZ given directly, instead of a target and a "
                           "loss)")
    loss: LossName = "mse"
    if "loss" in data:
        named = next((name for name in LOSSES if data["loss"] == name
                      and isinstance(data["loss"], str)), None)
        if named is None:
            names = ", ".join(f'"{name}"' for name in LOSSES)
            raise ProblemError(f"loss: unknown loss {_show(data['loss'])}; expected one of "
                               f"{names}")
        if target is None:
            raise ProblemError("loss: a loss needs a target; without one there is no loss to "
                               "compute")
        loss = named
    notation = _notation(data["notation"]) if "notation" in data else Notation()
    if alone:  # the stages the activation and the pool read are the input itself
        notation = replace(notation, output=notation.input)
    rate = to_number(data["learning_rate"], "learning_rate") if "learning_rate" in data else None
    volume = Volume(image, kernel, numbers, target, grad_output, loss, rate, stride, padding,
                    dilation, input_rank, filter_rank,
                    not isinstance(bias, list), notation,
                    None if padding_end == padding else padding_end, form,
                    _mode(data.get("mode", "cross_correlation")), groups,
                    _volume_activation(data),
                    _steps(data, target is not None, rate is not None), pool,
                    convolution=not alone,
                    transposed=_layer_kind(data) == "conv_transpose",
                    output_padding=shape.output_padding)
    if "questions" in data:  # what a 3-D exercise asks: cnnstep.volume_questions
        from cnnstep.volume_questions import question_checker

        volume = replace(volume, questions=read_questions(data["questions"],
                                                          question_checker(volume)))
    return volume


def _volume_alone(data: Mapping[str, Any], image: Array, input_rank: int) -> tuple[Array, int]:
    """A 3-D layer alone: no filter, the input goes straight to the activation and/or
    the pool, as a 2-D layer alone does. The missing convolution is the (C, C, 1, 1, 1)
    identity, its rank the one that keeps the input's channel axis on the output
    exactly when the input has one."""
    _alone_refusals(data)
    channels = image.shape[0] if input_rank == 4 else 1
    kernel = np.full((channels, channels, 1, 1, 1), Fraction(0), dtype=object)
    for c in range(channels):
        kernel[c, c, 0, 0, 0] = Fraction(1)
    return frozen(kernel if input_rank == 4 else kernel[0, 0]), 5 if input_rank == 4 else 3


@value_class
class _VolumeShape(Value):
    """A 3-D layer's geometry, checked."""

    filters: int
    groups: int
    stride: Triple
    dilation: Triple
    padding: Triple
    padding_end: Triple
    form: str | None
    out: Triple
    output_padding: Triple = (0, 0, 0)


def _volume_geometry(data: Mapping[str, Any], image: tuple[int, ...], kernel: tuple[int, ...],
                     filter_rank: int, filter_key: str) -> _VolumeShape:
    """An ordinary 3-D layer's channels, groups, stride, dilation, padding and output."""
    if "output_padding" in data:
        raise ProblemError('output_padding: belongs to a transposed convolution; set '
                           '"layer": "conv_transpose" or leave output_padding out')
    channels, filters = image[0], kernel[0]
    groups = _groups(data, channels, filters)
    if groups > 1 and kernel[1] != channels // groups:
        raise ProblemError(
            f"{filter_key}: has {kernel[1]} channel{'s' * (kernel[1] != 1)}; with "
            f"groups {groups} each filter sees C/groups = {channels}/{groups} = "
            f"{channels // groups} of the input's channels: give it as "
            f"[F][{channels // groups}][kd][kh][kw]")
    if groups == 1 and kernel[1] != channels:
        hint = ("; give it as [C][kd][kh][kw] or [F][C][kd][kh][kw]" if filter_rank == 3
                else "")
        raise ProblemError(f"{filter_key}: has {kernel[1]} channel"
                           f"{'s' * (kernel[1] != 1)}, the input has {channels}{hint}")
    stride = _triple(data.get("stride", NumberText("1")), "stride", 1)
    dilation = _triple(data.get("dilation", NumberText("1")), "dilation", 1)
    sizes = kernel[2:]
    form = _padding_form(data.get("padding", NumberText("0")))
    padding, padding_end = _volume_sides(
        data.get("padding", NumberText("0")), form,
        tuple(d * (k - 1) + 1 for d, k in zip(dilation, sizes, strict=True)), stride)
    padded = tuple(n + p + q for n, p, q in
                   zip(image[1:], padding, padding_end, strict=True))
    if any(k > n for k, n in zip(sizes, padded, strict=True)):
        raise ProblemError(f"filter {_dims(sizes)} is larger than the padded input "
                           f"{_dims(padded)}")
    spans = tuple(d * (k - 1) + 1 for d, k in zip(dilation, sizes, strict=True))
    if any(e > n for e, n in zip(spans, padded, strict=True)):
        raise ProblemError(f"dilation: the {_dims(sizes)} filter dilated by "
                           f"{_dims(dilation)} spans {_dims(spans)}, larger than the padded "
                           f"input {_dims(padded)}")
    a, b, c = ((n - e) // s + 1 for n, e, s in zip(padded, spans, stride, strict=True))
    return _VolumeShape(filters, groups, stride, dilation, padding, padding_end, form,
                        (a, b, c))


def _volume_transposed(data: Mapping[str, Any], image: tuple[int, ...],
                       kernel: tuple[int, ...], filter_rank: int,
                       filter_key: str) -> _VolumeShape:
    """A 3-D transposed convolution's geometry, checked as a 2-D one's
    (:func:`_transposed`): the filter is [C][F/groups][kd][kh][kw] (input channels
    first, as PyTorch's conv_transpose3d), groups divide C, output_padding is smaller
    than the stride or the dilation, and the output is at least one entry long."""
    _transposed_refusals(data, 3)
    if filter_rank == 4:
        raise ProblemError(f"{filter_key}: with conv_transpose a 3-D layer's filter is "
                           "[kd][kh][kw] or [C][F][kd][kh][kw] (input channels first), got a "
                           "4-D filter")
    channels = image[0]
    if kernel[0] != channels:
        raise ProblemError(
            f"{filter_key}: has {kernel[0]} input channel{'s' * (kernel[0] != 1)} "
            f"(its first axis, [C][F][kd][kh][kw] with conv_transpose), the input has "
            f"{channels}")
    count = _group_count(data)
    if channels % count:
        raise ProblemError(
            f"groups: {count} does not divide the {channels} input "
            f"channel{'s' * (channels != 1)}; with conv_transpose groups must divide the "
            "input channels (the filter's first axis)")
    groups = _groups(data, channels, kernel[1] * count)
    stride = _triple(data.get("stride", NumberText("1")), "stride", 1)
    padding = _triple(data.get("padding", NumberText("0")), "padding", 0)
    dilation = _triple(data.get("dilation", NumberText("1")), "dilation", 1)
    extra = _triple(data.get("output_padding", NumberText("0")), "output_padding", 0)
    for axis, name in enumerate(("depth slices", "rows", "columns")):
        if extra[axis] >= max(stride[axis], dilation[axis]):
            raise ProblemError(
                f"output_padding: {extra[axis]} extra {name} must be smaller than the stride "
                f"({stride[axis]}) or the dilation ({dilation[axis]}), as PyTorch requires")
    out = transposed_size(image[1:], kernel[2:], stride, padding, dilation, extra)
    if min(out) < 1:
        raise ProblemError(
            f"padding: conv_transpose's output would be {_dims(out)}, "
            "(n − 1)·s − 2p + d·(k − 1) + output_padding + 1; use a smaller padding")
    return _VolumeShape(kernel[1] * groups, groups, stride, dilation, padding, padding,
                        None, out, extra)


def _volume_pool(value: Any, input_size: Triple) -> VolumePool:
    """A 3-D layer's ``pool``: type, size, stride (the size by default), padding and
    count_include_pad, checked as PyTorch's ``max_pool3d`` and ``avg_pool3d``."""
    if not isinstance(value, dict):
        raise ProblemError('pool: expected an object such as {"type": "max", "size": 2}, '
                           f"got {_show(value)}")
    for key in value:
        if key not in VOLUME_POOL_KEYS:
            raise ProblemError(f"pool.{key}: a 3-D pool takes "
                               f"{', '.join(VOLUME_POOL_KEYS)}; leave {key} out")
    kind = _pool_kind(value.get("type"))
    if "size" not in value:
        raise ProblemError("pool.size: missing; give the window as k or [kd, kh, kw]")
    size = _triple(value["size"], "pool.size", 1)
    stride = _triple(value["stride"], "pool.stride", 1) if "stride" in value else size
    padding = _triple(value.get("padding", NumberText("0")), "pool.padding", 0)
    dilation = _triple(value.get("dilation", NumberText("1")), "pool.dilation", 1)
    ceil_mode = _flag(value, "ceil_mode", False)
    include = _flag(value, "count_include_pad", True)
    if "count_include_pad" in value and kind != "mean":
        raise ProblemError(f"pool.count_include_pad: only mean pooling divides by a count; "
                           f"{kind} pooling has none")
    if kind == "mean" and dilation != (1, 1, 1):
        raise ProblemError("pool.dilation: mean pooling has no dilation (PyTorch's "
                           "avg_pool3d has none)")
    for axis, (p, k) in enumerate(zip(padding, size, strict=True)):
        if p > k // 2:
            raise ProblemError(f"pool.padding: {p} is more than half the window's "
                               f"{('depth', 'height', 'width')[axis]} {k}; pool padding may "
                               f"be at most ⌊{k}/2⌋ = {k // 2}, as in PyTorch")
    pool = VolumePool(kind, size, stride, padding, input_size, include, dilation, ceil_mode)
    padded = tuple(n + 2 * p for n, p in zip(input_size, padding, strict=True))
    if any(k > n for k, n in zip(pool.span, padded, strict=True)):
        dilated = f" (dilated to {_dims(pool.span)})" if dilation != (1, 1, 1) else ""
        raise ProblemError(f"pool: window {_dims(size)}{dilated} is larger than its "
                           f"{'padded ' * any(padding)}input {_dims(padded)} (the "
                           "convolution's output)")
    for axis, n in enumerate(pool.output_size):
        low, high = padding[axis], padding[axis] + input_size[axis]
        empty = next((i for i in range(n)
                      if not any(low <= p < high for p in pool.taps(axis, i))), None)
        if empty is not None:
            raise ProblemError(
                f"pool: window {empty + 1} along the {('depth', 'rows', 'columns')[axis]} "
                f"reads only padding (its dilated taps skip the convolution's output "
                f"{_dims(input_size)}); change pool.dilation or pool.padding")
    return pool


def _volume_activation(data: Mapping[str, Any]) -> Activation | None:
    """A 3-D layer's activation: ReLU and leaky ReLU keep every number exact; sigmoid
    and tanh are float64, as for a 2-D layer."""
    if "activation" not in data:
        return None
    return _activation(data["activation"])


def _volume_sides(value: Any, form: str | None, span: tuple[int, ...],
                  stride: Triple) -> tuple[Triple, Triple]:
    """Every form of a 3-D layer's ``padding`` resolved to (front, top, left), (back,
    bottom, right), as :func:`_padding_sides` for a 2-D layer; "same" puts an odd
    total's extra zero behind, below and right."""
    if form in ("valid", "full"):
        a, b, c = (e - 1 if form == "full" else 0 for e in span)
        return (a, b, c), (a, b, c)
    if form == "same":
        if stride != (1, 1, 1):
            raise ProblemError(
                f'padding: "same" keeps the input\'s size only at stride 1, the stride is '
                f"{_dims(stride)}; give the padding as numbers")
        a, b, c = ((e - 1) // 2 for e in span)
        d, e, f = (t - 1 - (t - 1) // 2 for t in span)
        return (a, b, c), (d, e, f)
    if isinstance(value, list) and any(isinstance(item, list) for item in value):
        if len(value) != 3:
            raise ProblemError(f"padding: expected [[front, back], [top, bottom], "
                               f"[left, right]] for a 3-D layer, got {_show(value)}")
        pairs = [_padding_axis(item, f"padding[{i}]", wanted) for i, (item, wanted) in
                 enumerate(zip(value, ("[front, back]", "[top, bottom]", "[left, right]"),
                               strict=True))]
        (a, d), (b, e), (c, f) = pairs
        return (a, b, c), (d, e, f)
    both = _triple(value, "padding", 0)
    return both, both


def _volume_shaped(data: Mapping[str, Any], key: str, shape: tuple[int, ...],
                   filter_axis: bool) -> Array | None:
    """A 3-D problem's target or grad_output, [od][oh][ow] or [F][od][oh][ow]."""
    if key not in data:
        return None
    ranks = (4,) if filter_axis or shape[0] > 1 else (3, 4)
    array, rank = _volume_array(data[key], key, "output", ranks)
    if rank == 3:
        array = frozen(array.reshape((1, *array.shape)))
    if array.shape != shape:
        given = array.shape if rank == 4 else array.shape[1:]
        wanted = shape if rank == 4 else shape[1:]
        raise ProblemError(f"{key}: expected the output's shape {_brackets(wanted)}, got "
                           f"{_brackets(given)}")
    return array


def is_volume(data: Any) -> bool:
    """Whether a problem's data is a 3-D layer (``"dimensions": 3``)."""
    return isinstance(data, Mapping) and "dimensions" in data and _dimensions(data) == 3


def read_volume(text: str) -> Volume | None:
    """The 3-D problem in a problem file's text, or None when it is not 3-D."""
    data = parse_json(text)
    if isinstance(data, Mapping) and "dimensions" in data and _dimensions(data) == 3:
        return volume_from_data(data)
    return None


# a batch of 3-D volumes, [N][C][D][H][W]


@value_class(eq=False)
class VolumeBatch(Value):
    """N volumes through one 3-D layer. ``images`` holds each volume as a layer of
    its own: its input, target or grad_output, the shared filter and bias, the loss
    over all N volumes (``loss_images``), and no update; ``layer`` is volume 1's
    with the batch's learning rate and steps, for the weights and their update."""

    layer: Volume
    images: tuple[Volume, ...]
    #: what the exercise asks (result keys, or entries with the volume axis first) and
    #: the points of each; None: every quantity, one point each
    questions: tuple[tuple[str, Fraction], ...] | None = None

    @property
    def count(self) -> int:
        return len(self.images)

    @property
    def notation(self) -> Notation:
        return self.layer.notation


def volumes_from_data(data: Any) -> Volume | VolumeBatch:
    """A 3-D problem: one volume, or a batch when the input is [N][C][D][H][W]."""
    if (isinstance(data, Mapping) and isinstance(data.get("input"), list)
            and _rank(data["input"], "input") == 5):
        return batch_from_data(data)
    return volume_from_data(data)


def read_volumes(text: str) -> Volume | VolumeBatch | None:
    """The 3-D problem in a problem file's text (one volume or a batch), or None when
    it is not 3-D."""
    data = parse_json(text)
    if is_volume(data):
        return volumes_from_data(data)
    return None


def batch_from_data(data: Any) -> VolumeBatch:
    """Check a batch of 3-D volumes: the input [N][C][D][H][W], and a target or
    grad_output with the volume axis first, [N][od][oh][ow] for one filter given
    without its axis, else [N][F][od][oh][ow]; ``questions`` name entries in the
    result's shapes, the volume axis first for a quantity of one volume. Everything
    else (the keys a 3-D layer takes among them) is one volume's, and is checked as
    volume 1's."""
    data = _checked_keys(data)
    asked = data.get("questions")
    data = {key: value for key, value in data.items() if key != "questions"}
    images, _ = _volume_array(data["input"], "input", "batch", (5,))
    count = images.shape[0]
    bare = {key: value for key, value in data.items()
            if key not in ("target", "grad_output", "loss", "steps")}
    probe = volume_from_data({**bare, "input": data["input"][0]})
    last = probe.output_size if probe.pool is None else probe.pool.output_size
    given = {key: _batch_output(data[key], key, count, probe, last)
             for key in ("target", "grad_output") if key in data}
    layer = volume_from_data({**data, "input": data["input"][0],
                              **{key: data[key][0] for key in given}})
    def own(key: str, n: int) -> Array | None:
        return frozen(given[key][n].copy()) if key in given else None

    volumes = tuple(
        replace(layer, input=frozen(images[n].copy()), target=own("target", n),
                grad_output=own("grad_output", n), learning_rate=None, steps=1,
                loss_images=count)
        for n in range(count))
    batch = VolumeBatch(layer, volumes)
    if asked is None:
        return batch
    from cnnstep.volume_batch_questions import question_checker  # entries of the batch

    return replace(batch, questions=read_questions(asked, question_checker(batch)))


def _batch_output(value: Any, key: str, count: int, probe: Volume,
                  last: tuple[int, ...]) -> Array:
    """A batch's target or grad_output as (N, F, od, oh, ow), its shape checked (F the
    output channels: a transposed filter's second axis times the groups)."""
    filters = probe.filters
    full = (count, filters, *last)
    axis = probe.filter_rank == 5
    array, rank = _volume_array(value, key, "batch_output", (5,) if axis else (4, 5))
    if rank == 4:
        array = array.reshape((array.shape[0], 1, *array.shape[1:]))
    if array.shape != full:
        shown = array.shape if rank == 5 else (array.shape[0], *array.shape[2:])
        wanted = full if axis else (count, *last)
        raise ProblemError(f"{key}: expected the output's shape {_brackets(wanted)} (a batch "
                           f"of {count} volume{'s' * (count != 1)}), got {_brackets(shown)}")
    return array
