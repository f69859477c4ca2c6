"""The naive oracle: one convolution layer and the layers after it, loop by loop.

Written straight from the problem format (``shared/problem-format.md``) with
nested loops over plain lists, so that it shares no code with ``cnnstep``
(no padding helpers, no zero insertion, no rotation, no numpy):

* the convolution, ``Z[f,i,j] = B[f] + Σ_c Σ_m Σ_n Xpad[c, i·sh+m·dh, j·sw+n·dw] · K[f,c,m,n]``,
  and its gradients by the chain rule over every (f, i, j, c, m, n);
* the layers after it ("Layers after the convolution"): conv → activation →
  pool → loss, then the chain rule back with explicit loops.

Values are Fractions wherever the layer is exact (none, ReLU, leaky ReLU,
pooling) and floats once sigmoid or tanh is applied. Nothing here imports
``cnnstep``.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

#: result keys in the order the format lists them
RESULT_KEYS = (
    "output", "loss", "grad_output", "grad_filter", "grad_bias", "grad_input",
    "updated_filter", "updated_bias",
    "conv", "activated", "pooled", "grad_conv", "grad_activated",
)
OUTPUT_LIKE = ("output", "grad_output", "conv", "activated", "pooled", "grad_conv",
               "grad_activated")


# --------------------------------------------------------------------------
# nested lists


def fr(value: Any) -> Any:
    """Nested lists of numbers or strings ("0.1", "-3/7") → the same of Fractions."""
    if isinstance(value, list):
        return [fr(item) for item in value]
    if isinstance(value, Fraction):
        return value
    if isinstance(value, float):
        return Fraction(repr(value))
    return Fraction(value)


def floats(value: Any) -> Any:
    """Nested lists of numbers → the same of floats."""
    if isinstance(value, list):
        return [floats(v) for v in value]
    return float(value)


def shape_of(value: Any) -> tuple[int, ...]:
    shape: list[int] = []
    while isinstance(value, list):
        shape.append(len(value))
        value = value[0]
    return tuple(shape)


def nest(flat: list[Any], shape: tuple[int, ...]) -> Any:
    """A flat list → nested lists of the given shape (row-major)."""
    if not shape:
        return flat[0]
    if len(shape) == 1:
        return list(flat)
    step = len(flat) // shape[0]
    return [nest(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def strip_axes(value: Any, count: int) -> Any:
    """Drop ``count`` leading axes of length one: full layout → the user's rank."""
    for _ in range(count):
        assert isinstance(value, list) and len(value) == 1, value
        value = value[0]
    return value


def zeros(*shape: int) -> Any:
    if len(shape) == 1:
        return [Fraction(0)] * shape[0]
    return [zeros(*shape[1:]) for _ in range(shape[0])]


def flatten(value: Any) -> list[Any]:
    if isinstance(value, list):
        return [v for item in value for v in flatten(item)]
    return [value]


# --------------------------------------------------------------------------
# the convolution: the format's formula, loop by loop


def sides_of(padding: tuple[int, ...]) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) from a pair (ph, pw) or from the four sides."""
    if len(padding) == 4:
        return padding[0], padding[1], padding[2], padding[3]
    return padding[0], padding[0], padding[1], padding[1]


def naive_padded(x: Any, padding: tuple[int, ...]) -> Any:
    """Xpad[c][r][s] = X[c][r − top][s − left] inside, 0 outside; ``padding`` is
    (ph, pw), the same on each side, or (top, bottom, left, right)."""
    top, bottom, left, right = sides_of(padding)
    channels, height, width = len(x), len(x[0]), len(x[0][0])
    return [
        [
            [
                x[c][r - top][s - left] if 0 <= r - top < height and 0 <= s - left < width
                else Fraction(0)
                for s in range(width + left + right)
            ]
            for r in range(height + top + bottom)
        ]
        for c in range(channels)
    ]


def naive_output_size(x: Any, k: Any, stride: tuple[int, int], padding: tuple[int, ...],
                      dilation: tuple[int, int] = (1, 1)) -> tuple[int, int]:
    height, width = len(x[0]), len(x[0][0])
    kh, kw = len(k[0][0]), len(k[0][0][0])
    top, bottom, left, right = sides_of(padding)
    return ((height + top + bottom - (dilation[0] * (kh - 1) + 1)) // stride[0] + 1,
            (width + left + right - (dilation[1] * (kw - 1) + 1)) // stride[1] + 1)


def naive_block(f: int, filters: int, seen: int, groups: int) -> int:
    """The first input channel filter ``f`` sees: its group ⌊f/(F/groups)⌋ times the
    C/groups channels of each group (0 when there are no groups)."""
    return (f // (filters // groups)) * seen


def naive_forward(x: Any, k: Any, b: Any, stride: tuple[int, int],
                  padding: tuple[int, ...], dilation: tuple[int, int] = (1, 1),
                  flip: bool = False, groups: int = 1) -> Any:
    """Z[f,i,j] = B[f] + Σ_c Σ_m Σ_n Xpad[g·C/G + c, i·sh+m·dh, j·sw+n·dw] · K[f,c,m,n],
    g = ⌊f/(F/G)⌋ the group of filter f; with ``flip`` (mode "convolution") the kernel
    entry is K[f,c,kh−1−m,kw−1−n]."""
    xp = naive_padded(x, padding)
    sh, sw = stride
    dh, dw = dilation
    oh, ow = naive_output_size(x, k, stride, padding, dilation)
    out = []
    for f in range(len(k)):
        rows = []
        for i in range(oh):
            row = []
            for j in range(ow):
                total = b[f] if b is not None else Fraction(0)
                first = naive_block(f, len(k), len(k[f]), groups)
                for c in range(len(k[f])):
                    kh, kw = len(k[f][c]), len(k[f][c][0])
                    for m in range(kh):
                        for n in range(kw):
                            weight = (k[f][c][kh - 1 - m][kw - 1 - n] if flip
                                      else k[f][c][m][n])
                            total += xp[first + c][i * sh + m * dh][j * sw + n * dw] * weight
                row.append(total)
            rows.append(row)
        out.append(rows)
    return out


def naive_loss(z: Any, y: Any, loss: str) -> Any:
    """L of the last stage against the target: mse, sse or half_sse (exact or float)."""
    diffs = [zv - yv for zv, yv in zip(flatten(z), flatten(y), strict=True)]
    total = sum((d * d for d in diffs), Fraction(0))
    return {"mse": total / len(diffs), "sse": total, "half_sse": total / 2}[loss]


def naive_grad_output(z: Any, y: Any, loss: str) -> Any:
    """dL/d(last stage), [F][oh][ow]."""
    count = len(flatten(z))
    factor = {"mse": Fraction(2, count), "sse": Fraction(2), "half_sse": Fraction(1)}[loss]
    return [[[factor * (zv - yv) for zv, yv in zip(zr, yr, strict=True)]
             for zr, yr in zip(zm, ym, strict=True)] for zm, ym in zip(z, y, strict=True)]


def naive_backward(x: Any, k: Any, dz: Any, stride: tuple[int, int],
                   padding: tuple[int, ...], dilation: tuple[int, int] = (1, 1),
                   flip: bool = False, groups: int = 1) -> tuple[Any, Any, Any]:
    """dK, dX, dB by the chain rule over every (f, i, j, c, m, n); with ``flip`` the
    term of tap (m, n) holds K[f,c,kh−1−m,kw−1−n]; with groups, c runs over the
    channels of filter f's group only."""
    xp = naive_padded(x, padding)
    sh, sw = stride
    dh, dw = dilation
    top, _, left, _ = sides_of(padding)
    filters, channels = len(k), len(k[0])
    kh, kw = len(k[0][0]), len(k[0][0][0])
    dk = zeros(filters, channels, kh, kw)
    dxp = zeros(len(xp), len(xp[0]), len(xp[0][0]))
    db = [Fraction(0)] * filters
    for f in range(filters):
        first = naive_block(f, filters, channels, groups)
        for i in range(len(dz[f])):
            for j in range(len(dz[f][i])):
                g = dz[f][i][j]
                db[f] += g
                for c in range(channels):
                    for m in range(kh):
                        for n in range(kw):
                            r, q = i * sh + m * dh, j * sw + n * dw
                            a, e = (kh - 1 - m, kw - 1 - n) if flip else (m, n)
                            dk[f][c][a][e] += g * xp[first + c][r][q]
                            dxp[first + c][r][q] += g * k[f][c][a][e]
    height, width = len(x[0]), len(x[0][0])
    dx = [[row[left : left + width] for row in channel[top : top + height]]
          for channel in dxp]
    return dk, dx, db


# --------------------------------------------------------------------------
# a problem in the full layout, as the format defines it


def naive_transposed_size(size: int, kernel: int, stride: int, padding: int, dilation: int,
                          extra: int) -> int:
    """(H − 1)·s − 2p + d·(k − 1) + output_padding + 1, from the format's table."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + extra + 1


def naive_transposed_forward(x: Any, k: Any, b: Any, stride: tuple[int, int],
                             padding: tuple[int, int], dilation: tuple[int, int],
                             extra: tuple[int, int], groups: int = 1) -> Any:
    """conv_transpose2d by its scatter sum: every input entry adds itself times the
    kernel into the output, ``Z[f, i·sh − ph + m·dh, j·sw − pw + n·dw] += X[c,i,j]·K[c,f,m,n]``
    (positions off the output dropped), then B[f]; the filter is [C][F/G][kh][kw], and
    input channel c of group g = ⌊c/(C/G)⌋ feeds output channel g·F/G + f."""
    channels, per_group = len(k), len(k[0])
    filters = per_group * groups
    kh, kw = len(k[0][0]), len(k[0][0][0])
    height, width = len(x[0]), len(x[0][0])
    oh = naive_transposed_size(height, kh, stride[0], padding[0], dilation[0], extra[0])
    ow = naive_transposed_size(width, kw, stride[1], padding[1], dilation[1], extra[1])
    z = [[[Fraction(0) if b is None else b[f] for _ in range(ow)] for _ in range(oh)]
         for f in range(filters)]
    for c in range(channels):
        first = c // (channels // groups) * per_group
        for i in range(height):
            for j in range(width):
                for f in range(per_group):
                    for m in range(kh):
                        for n in range(kw):
                            r = i * stride[0] - padding[0] + m * dilation[0]
                            q = j * stride[1] - padding[1] + n * dilation[1]
                            if 0 <= r < oh and 0 <= q < ow:
                                z[first + f][r][q] += x[c][i][j] * k[c][f][m][n]
    return z


def naive_transposed_backward(x: Any, k: Any, dz: Any, stride: tuple[int, int],
                              padding: tuple[int, int], dilation: tuple[int, int],
                              groups: int = 1) -> tuple[Any, Any, Any]:
    """dK, dX, dB of the scatter sum by the chain rule over every (c, i, j, f, m, n)."""
    channels, per_group = len(k), len(k[0])
    kh, kw = len(k[0][0]), len(k[0][0][0])
    height, width = len(x[0]), len(x[0][0])
    oh, ow = len(dz[0]), len(dz[0][0])
    dk = [[[[Fraction(0)] * kw for _ in range(kh)] for _ in range(per_group)]
          for _ in range(channels)]
    dx = [[[Fraction(0)] * width for _ in range(height)] for _ in range(channels)]
    db = [sum((v for row in plane for v in row), Fraction(0)) for plane in dz]
    for c in range(channels):
        first = c // (channels // groups) * per_group
        for i in range(height):
            for j in range(width):
                for f in range(per_group):
                    for m in range(kh):
                        for n in range(kw):
                            r = i * stride[0] - padding[0] + m * dilation[0]
                            q = j * stride[1] - padding[1] + n * dilation[1]
                            if 0 <= r < oh and 0 <= q < ow:
                                dk[c][f][m][n] += dz[first + f][r][q] * x[c][i][j]
                                dx[c][i][j] += dz[first + f][r][q] * k[c][f][m][n]
    return dk, dx, db


@dataclass
class Spec:
    """A problem (with or without layers after the convolution) in the full layout."""

    x: Any  # [C][H][W]
    k: Any  # [F][C][kh][kw]; [C][F][kh][kw] when transposed
    b: Any | None  # [F]
    stride: tuple[int, int] = (1, 1)
    #: (ph, pw), or the four sides (top, bottom, left, right)
    padding: tuple[int, ...] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    #: mode "convolution": the forward pass flips the kernel
    flip: bool = False
    groups: int = 1
    transposed: bool = False  # layer "conv_transpose"
    output_padding: tuple[int, int] = (0, 0)
    activation: str | None = None  # relu, leaky_relu, sigmoid, tanh
    slope: Fraction = Fraction(1, 100)
    pool: str | None = None  # max, mean, min
    pool_size: tuple[int, int] = (1, 1)
    pool_stride: tuple[int, int] = (1, 1)
    y: Any | None = None  # [F][ph][pw], the target
    g: Any | None = None  # [F][ph][pw], dL/d(last stage) given
    loss: str = "mse"
    lr: Fraction | None = None
    input_rank: int = 3
    filter_rank: int = 4
    bias_is_number: bool = False

    @property
    def output_rank(self) -> int:
        return 3 if self.filter_rank == 4 else 2

    @property
    def floating(self) -> bool:
        return self.activation in ("sigmoid", "tanh")

    @property
    def layered(self) -> bool:
        return self.activation is not None or self.pool is not None


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, list):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def _padding(value: Any, k: Any, dilation: tuple[int, int]) -> tuple[int, ...]:
    """The format's padding forms as four sides (top, bottom, left, right): "valid" is
    none, "full" is d·(k − 1) on every side, "same" a total of d·(k − 1) along each
    axis with the odd one at the bottom (right)."""
    if isinstance(value, list) and isinstance(value[0], list):
        return (int(value[0][0]), int(value[0][1]), int(value[1][0]), int(value[1][1]))
    if value in ("valid", "same", "full"):
        reach = (dilation[0] * (len(k[0][0]) - 1), dilation[1] * (len(k[0][0][0]) - 1))
        if value == "valid":
            return (0, 0, 0, 0)
        if value == "full":
            return (reach[0], reach[0], reach[1], reach[1])
        return (reach[0] // 2, reach[0] - reach[0] // 2, reach[1] // 2, reach[1] - reach[1] // 2)
    return _pair(value)


def spec_from_data(data: dict[str, Any]) -> Spec:
    """A problem dict (numbers as Fractions, ints, floats or strings) → a Spec."""
    x = fr(data["input"])
    kernel = fr(data.get("filter", data.get("kernel")))
    input_rank, filter_rank = len(shape_of(x)), len(shape_of(kernel))
    x = [x] if input_rank == 2 else x
    k = kernel
    for _ in range(4 - filter_rank):
        k = [k]
    bias = data.get("bias")
    b = None
    bias_is_number = True
    if bias is not None:
        bias_is_number = not isinstance(bias, list)
        b = [fr(bias)] if bias_is_number else fr(bias)
    spec = Spec(x, k, b, input_rank=input_rank, filter_rank=filter_rank,
                bias_is_number=bias_is_number)
    if "stride" in data:
        spec.stride = _pair(data["stride"])
    if "dilation" in data:
        spec.dilation = _pair(data["dilation"])
    if "padding" in data:
        spec.padding = _padding(data["padding"], spec.k, spec.dilation)
    spec.flip = data.get("mode") == "convolution"
    if "groups" in data:
        spec.groups = int(data["groups"])
    spec.transposed = data.get("layer") == "conv_transpose"
    if "output_padding" in data:
        spec.output_padding = _pair(data["output_padding"])
    activation = data.get("activation")
    if isinstance(activation, str):
        spec.activation = activation
    elif isinstance(activation, dict):
        spec.activation = activation["type"]
        if "slope" in activation:
            spec.slope = fr(activation["slope"])
    pool = data.get("pool")
    if pool is not None:
        spec.pool = pool["type"]
        spec.pool_size = _pair(pool["size"])
        spec.pool_stride = _pair(pool.get("stride", pool["size"]))
    for key in ("target", "grad_output"):
        if key in data:
            value = fr(data[key])
            value = [value] if len(shape_of(value)) == 2 else value
            if key == "target":
                spec.y = value
            else:
                spec.g = value
    spec.loss = data.get("loss", "mse")
    if "learning_rate" in data:
        spec.lr = fr(data["learning_rate"])
    return spec


def read_sample(text: str) -> dict[str, Any]:
    """A problem file's JSON with number literals as exact Fractions."""
    return json.loads(text, parse_float=Fraction, parse_int=Fraction)


# --------------------------------------------------------------------------
# the layers after the convolution, loop by loop


def f_activation(z: Any, kind: str, slope: Fraction) -> Any:
    """f(z) for one number: exact for ReLU and leaky ReLU, float64 for sigmoid and tanh."""
    if kind == "relu":
        return z if z > 0 else Fraction(0)
    if kind == "leaky_relu":
        return z if z > 0 else slope * z
    if kind == "sigmoid":
        return 1.0 / (1.0 + math.exp(-float(z))) if z >= 0 else (
            math.exp(float(z)) / (1.0 + math.exp(float(z))))
    if kind == "tanh":
        return math.tanh(float(z))
    raise ValueError(kind)


def f_prime(z: Any, kind: str, slope: Fraction) -> Any:
    """f′(z): ReLU′(0) = 0, leaky ReLU′(0) = slope; σ′ = σ(1 − σ), tanh′ = 1 − tanh²."""
    if kind == "relu":
        return Fraction(1) if z > 0 else Fraction(0)
    if kind == "leaky_relu":
        return Fraction(1) if z > 0 else slope
    if kind == "sigmoid":
        s = f_activation(z, kind, slope)
        return s * (1.0 - s)
    if kind == "tanh":
        t = math.tanh(float(z))
        return 1.0 - t * t
    raise ValueError(kind)


def map3(values: Any, function: Any) -> Any:
    return [[[function(v) for v in row] for row in plane] for plane in values]


def pool_windows(shape: tuple[int, int], size: tuple[int, int], stride: tuple[int, int]
                 ) -> list[list[list[tuple[int, int]]]]:
    """For each pooled entry (i, j), the cells of its window in row-major order."""
    (rows, cols), (kh, kw), (sh, sw) = shape, size, stride
    ph, pw = (rows - kh) // sh + 1, (cols - kw) // sw + 1
    return [[[(i * sh + m, j * sw + n) for m in range(kh) for n in range(kw)]
             for j in range(pw)] for i in range(ph)]


def first_extreme(plane: Any, cells: list[tuple[int, int]], kind: str) -> tuple[int, int]:
    """The first largest (max) or smallest (min) cell, scanning ``cells`` in order."""
    best = cells[0]
    for r, c in cells[1:]:
        value, current = plane[r][c], plane[best[0]][best[1]]
        if (value > current) if kind == "max" else (value < current):
            best = (r, c)
    return best


def pool_forward(a: Any, kind: str, size: tuple[int, int], stride: tuple[int, int]
                 ) -> tuple[Any, Any]:
    """P and, per pooled entry, the (cell, weight) pairs its gradient goes to.

    Max (min): the first largest (smallest) cell scanning the window row by
    row; mean: every cell with weight 1/(kh·kw).
    """
    pooled, routes = [], []
    for plane in a:
        windows = pool_windows((len(plane), len(plane[0])), size, stride)
        p_rows, r_rows = [], []
        for window_row in windows:
            p_row, r_row = [], []
            for cells in window_row:
                if kind == "mean":
                    total: Any = Fraction(0)
                    for r, c in cells:
                        total += plane[r][c]
                    p_row.append(total / len(cells))
                    r_row.append([(cell, Fraction(1, len(cells))) for cell in cells])
                    continue
                best = first_extreme(plane, cells, kind)
                p_row.append(plane[best[0]][best[1]])
                r_row.append([(best, Fraction(1))])
            p_rows.append(p_row)
            r_rows.append(r_row)
        pooled.append(p_rows)
        routes.append(r_rows)
    return pooled, routes


def pool_backward(grad: Any, routes: Any, shape: tuple[int, int]) -> Any:
    """dL/dA: each pooled entry's gradient to its cells; overlapping parts add up."""
    out = []
    for f, plane in enumerate(grad):
        acc: list[list[Any]] = [[Fraction(0)] * shape[1] for _ in range(shape[0])]
        for i, row in enumerate(plane):
            for j, g in enumerate(row):
                for (r, c), weight in routes[f][i][j]:
                    acc[r][c] += weight * g
        out.append(acc)
    return out


def naive_last(spec: Spec, x: Any = None, k: Any = None, b: Any = None) -> dict[str, Any]:
    """The forward stages: conv, activated, pooled, their routes, and the last stage."""
    if spec.transposed:
        z = naive_transposed_forward(spec.x if x is None else x, spec.k if k is None else k,
                                     spec.b if b is None else b, spec.stride, spec.padding,
                                     spec.dilation, spec.output_padding, spec.groups)
    else:
        z = naive_forward(spec.x if x is None else x, spec.k if k is None else k,
                          spec.b if b is None else b, spec.stride, spec.padding, spec.dilation,
                          spec.flip, spec.groups)
    stages: dict[str, Any] = {"conv": z}
    last = z
    if spec.activation is not None:
        last = stages["activated"] = map3(
            z, lambda v: f_activation(v, spec.activation, spec.slope))
    if spec.pool is not None:
        last, stages["routes"] = pool_forward(last, spec.pool, spec.pool_size,
                                              spec.pool_stride)
        stages["pooled"] = last
    stages["last"] = last
    return stages


def naive_layer(spec: Spec) -> dict[str, Any]:
    """Every result key the format's tables give for this problem, in the full layout."""
    stages = naive_last(spec)
    z, last = stages["conv"], stages["last"]
    out: dict[str, Any] = {"output": last}
    if spec.layered:
        out["conv"] = z
    if spec.activation is not None:
        out["activated"] = stages["activated"]
    if spec.pool is not None:
        out["pooled"] = stages["pooled"]
    if spec.y is None and spec.g is None:
        return out
    if spec.y is not None:
        out["loss"] = naive_loss(last, spec.y, spec.loss)
        grad = naive_grad_output(last, spec.y, spec.loss)
    else:
        grad = spec.g
    out["grad_output"] = grad
    if spec.pool is not None:
        before = stages.get("activated", z)
        grad = pool_backward(grad, stages["routes"], (len(before[0]), len(before[0][0])))
        if spec.activation is not None:
            out["grad_activated"] = grad
    if spec.activation is not None:
        grad = [[[g * f_prime(v, spec.activation, spec.slope)
                  for g, v in zip(gr, zr, strict=True)]
                 for gr, zr in zip(gm, zm, strict=True)] for gm, zm in zip(grad, z, strict=True)]
    if spec.layered:
        out["grad_conv"] = grad
    if spec.transposed:
        dk, dx, db = naive_transposed_backward(spec.x, spec.k, grad, spec.stride, spec.padding,
                                               spec.dilation, spec.groups)
    else:
        dk, dx, db = naive_backward(spec.x, spec.k, grad, spec.stride, spec.padding,
                                    spec.dilation, spec.flip, spec.groups)
    out["grad_filter"], out["grad_input"] = dk, dx
    if spec.b is not None:
        out["grad_bias"] = db
    if spec.lr is not None:
        out["updated_filter"] = [[[[w - spec.lr * d for w, d in zip(wr, dr, strict=True)]
                                   for wr, dr in zip(wc, dc, strict=True)]
                                  for wc, dc in zip(wf, df, strict=True)]
                                 for wf, df in zip(spec.k, dk, strict=True)]
        if spec.b is not None:
            out["updated_bias"] = [w - spec.lr * d for w, d in zip(spec.b, db, strict=True)]
    return out


def expected_keys(spec: Spec) -> set[str]:
    """The keys present by the format's two tables, from the problem's keys alone."""
    gradients = spec.y is not None or spec.g is not None
    keys = {"output"}
    if spec.y is not None:
        keys.add("loss")
    if gradients:
        keys |= {"grad_output", "grad_filter", "grad_input"}
        if spec.b is not None:
            keys.add("grad_bias")
        if spec.lr is not None:
            keys.add("updated_filter")
            if spec.b is not None:
                keys.add("updated_bias")
    if spec.layered:
        keys.add("conv")
        if spec.activation is not None:
            keys.add("activated")
        if spec.pool is not None:
            keys.add("pooled")
        if gradients:
            keys.add("grad_conv")
            if spec.activation is not None and spec.pool is not None:
                keys.add("grad_activated")
    return keys


def user_shaped(key: str, value: Any, spec: Spec) -> Any:
    """A full-layout value in the shape the user gave the matching quantity."""
    if key == "loss":
        return value
    if key in OUTPUT_LIKE:
        return strip_axes(value, 3 - spec.output_rank)
    if key in ("grad_filter", "updated_filter"):
        return strip_axes(value, 4 - spec.filter_rank)
    if key == "grad_input":
        return strip_axes(value, 3 - spec.input_rank)
    if key in ("grad_bias", "updated_bias"):
        return value[0] if spec.bias_is_number else value
    raise KeyError(key)


# --------------------------------------------------------------------------
# comparing


def assert_exact(got: Any, want: Any, key: str) -> None:
    assert shape_of(got) == shape_of(want), (key, shape_of(got), shape_of(want))
    for i, (g, w) in enumerate(zip(flatten(got), flatten(want), strict=True)):
        assert isinstance(g, Fraction), (key, i, g)
        assert g == w, (key, i, g, w)


def assert_close(got: Any, want: Any, key: str, relative: float = 1e-9) -> None:
    """Every entry within ``relative`` times the array's scale (at least 1)."""
    assert shape_of(got) == shape_of(want), (key, shape_of(got), shape_of(want))
    want_flat = [float(v) for v in flatten(want)]
    scale = max([1.0, *(abs(v) for v in want_flat)])
    for i, (g, w) in enumerate(zip(flatten(got), want_flat, strict=True)):
        assert abs(float(g) - w) <= relative * scale, (key, i, float(g), w)


# --------------------------------------------------------------------------
# pooling with padding, dilation and ceil mode, written out window by window


def torch_pool_size(size: int, kernel: int, stride: int, padding: int, dilation: int,
                    ceil_mode: bool) -> int:
    """PyTorch's ``pooling_output_shape``, from its definition: the windows that start
    inside the input or its left padding, rounded up in ceil mode."""
    reach = Fraction(size + 2 * padding - dilation * (kernel - 1) - 1, stride)
    out = (math.ceil(reach) if ceil_mode else math.floor(reach)) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def padded_pool(plane: Any, kind: str, size: tuple[int, int], stride: tuple[int, int],
                padding: tuple[int, int], dilation: tuple[int, int], ceil_mode: bool,
                count_include_pad: bool) -> tuple[Any, Any]:
    """One channel pooled as PyTorch's max_pool2d and avg_pool2d (min as −max(−x)):
    P and, per pooled entry, the (cell, weight) pairs its gradient goes to.

    Taps run over the padded plane (None marks padding); a tap past the padded
    plane is no tap; max and min scan the taps inside the input row by row for
    the first extreme; mean divides the sum by the taps in the padded plane, or by
    those inside the input without ``count_include_pad``.
    """
    rows, cols = len(plane), len(plane[0])
    (ph, pw) = padding
    padded = [[None] * (cols + 2 * pw) for _ in range(rows + 2 * ph)]
    for r in range(rows):
        for c in range(cols):
            padded[r + ph][c + pw] = (r, c)
    out_h = torch_pool_size(rows, size[0], stride[0], ph, dilation[0], ceil_mode)
    out_w = torch_pool_size(cols, size[1], stride[1], pw, dilation[1], ceil_mode)
    pooled, routes = [], []
    for i in range(out_h):
        p_row, r_row = [], []
        for j in range(out_w):
            taps = []
            for m in range(size[0]):
                for n in range(size[1]):
                    r, c = i * stride[0] + m * dilation[0], j * stride[1] + n * dilation[1]
                    if r < len(padded) and c < len(padded[0]):
                        taps.append(padded[r][c])
            inside = [cell for cell in taps if cell is not None]
            assert inside, "a window of padding alone"
            if kind == "mean":
                divisor = len(taps) if count_include_pad else len(inside)
                p_row.append(sum((plane[r][c] for r, c in inside), Fraction(0)) / divisor)
                r_row.append([(cell, Fraction(1, divisor)) for cell in inside])
                continue
            best = first_extreme(plane, inside, kind)
            p_row.append(plane[best[0]][best[1]])
            r_row.append([(best, Fraction(1))])
        pooled.append(p_row)
        routes.append(r_row)
    return pooled, routes


# --------------------------------------------------------------------------
# a batch of images, image by image


#: the result keys each image of a batch has its own of
PER_IMAGE = (*OUTPUT_LIKE, "grad_input")


def naive_batch(data: dict[str, Any]) -> dict[str, Any]:
    """Every result key of a batch ``[N][C][H][W]``, in the user's shapes.

    Each image goes through :func:`naive_layer` on its own, with dL/d(last stage)
    worked out here for the loss over all N images: mse divides the squared errors
    of every image by N·F·oh·ow, sse and half_sse add them up. The loss and the
    weights' gradients are the sums over the images, and one update uses the sums.
    """
    images = fr(data["input"])
    one = {key: value for key, value in data.items()
           if key not in ("input", "target", "grad_output", "learning_rate")}
    targets = fr(data["target"]) if "target" in data else None
    given = fr(data["grad_output"]) if "grad_output" in data else None
    loss = data.get("loss", "mse")
    specs = [spec_from_data({**one, "input": image}) for image in images]
    lasts = [naive_last(spec)["last"] for spec in specs]
    count = len(images) * len(flatten(lasts[0]))
    out: dict[str, Any] = {}
    solved: list[dict[str, Any]] = []
    total = Fraction(0)
    for n, (spec, last) in enumerate(zip(specs, lasts, strict=True)):
        if targets is not None:
            y = targets[n] if len(shape_of(targets[n])) == 3 else [targets[n]]
            errors = [z - t for z, t in zip(flatten(last), flatten(y), strict=True)]
            squares = sum((e * e for e in errors), Fraction(0))
            total += {"mse": squares / count, "sse": squares, "half_sse": squares / 2}[loss]
            factor = {"mse": Fraction(2, count), "sse": Fraction(2), "half_sse": Fraction(1)}
            spec.g = nest([factor[loss] * e for e in errors], shape_of(last))
        elif given is not None:
            g = given[n]
            spec.g = g if len(shape_of(g)) == 3 else [g]
        solved.append(naive_layer(spec))
    first = solved[0]
    for key in first:
        if key in PER_IMAGE:
            out[key] = [user_shaped(key, image[key], spec)
                        for image, spec in zip(solved, specs, strict=True)]
    if targets is not None:
        out["loss"] = total
    for key in ("grad_filter", "grad_bias"):
        if key in first:
            summed = [sum(values, Fraction(0)) for values in zip(
                *(flatten(image[key]) for image in solved), strict=True)]
            out[key] = user_shaped(key, nest(summed, shape_of(first[key])), specs[0])
    if "learning_rate" in data and "grad_filter" in out:
        rate = fr(data["learning_rate"])
        spec = specs[0]
        out["updated_filter"] = user_shaped("updated_filter", nest(
            [w - rate * d for w, d in zip(flatten(spec.k), flatten(out["grad_filter"]),
                                          strict=True)], shape_of(spec.k)), spec)
        if spec.b is not None:
            gb = out["grad_bias"] if isinstance(out["grad_bias"], list) else [out["grad_bias"]]
            updated = [w - rate * d for w, d in zip(spec.b, gb, strict=True)]
            out["updated_bias"] = updated[0] if spec.bias_is_number else updated
    return out
# any number of spatial axes (1-D signals, 3-D volumes), loop by loop


def _at(value: Any, index: tuple[int, ...]) -> Any:
    for i in index:
        value = value[i]
    return value


def _put(value: Any, index: tuple[int, ...], number: Any) -> None:
    for i in index[:-1]:
        value = value[i]
    value[index[-1]] += number


def _axes_of(value: Any, dims: int) -> tuple[int, ...]:
    """A per-axis setting as one integer per spatial axis."""
    if isinstance(value, list):
        return tuple(int(v) for v in value)
    return (int(value),) * dims


def _sides_of(value: Any, dims: int, taps: tuple[int, ...], dilation: tuple[int, ...]
              ) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The zeros before and after the input along each axis, from any padding form:
    "valid" none, "full" d·(k − 1) on each side, "same" d·(k − 1) in all with the odd
    one after, [[before, after], …] per side, or an integer or one per axis."""
    spans = [d * (t - 1) for t, d in zip(taps, dilation, strict=True)]
    if value == "valid":
        return (0,) * dims, (0,) * dims
    if value == "full":
        return tuple(spans), tuple(spans)
    if value == "same":
        return tuple(e // 2 for e in spans), tuple(e - e // 2 for e in spans)
    if isinstance(value, list) and value and isinstance(value[0], list):
        return tuple(int(a) for a, _ in value), tuple(int(b) for _, b in value)
    both = _axes_of(value, dims)
    return both, both


def _lead(value: Any, rank: int, full: int) -> Any:
    """Wrap ``value`` in leading axes of length one up to ``full`` axes."""
    for _ in range(full - rank):
        value = [value]
    return value


def naive_nd(data: dict[str, Any]) -> dict[str, Any]:
    """The result of a layer with ``dimensions`` spatial axes (1, 2 or 3), written
    straight from the format's sum over every (f, out…, c, tap…):
    Z[f, o] = B[f] + Σ_c Σ_t Xpad[c, o·s + t·d]·K[f, c, t], and the chain rule
    back through it, term by term. Keys and shapes as the user gave them."""
    dims = int(data.get("dimensions", 2))
    x_user, k_user = fr(data["input"]), fr(data.get("filter", data.get("kernel")))
    input_rank, filter_rank = len(shape_of(x_user)), len(shape_of(k_user))
    x, k = _lead(x_user, input_rank, dims + 1), _lead(k_user, filter_rank, dims + 2)
    stride = _axes_of(data.get("stride", 1), dims)
    dilation = _axes_of(data.get("dilation", 1), dims)
    channels, size = len(x), shape_of(x)[1:]
    filters, taps = len(k), shape_of(k)[2:]
    padding, padding_after = _sides_of(data.get("padding", 0), dims, taps, dilation)
    out_size = tuple((n + p + q - (d * (t - 1) + 1)) // s + 1 for n, p, q, t, d, s in
                     zip(size, padding, padding_after, taps, dilation, stride, strict=True))
    groups = int(data.get("groups", 1))
    flip = data.get("mode") == "convolution"

    def seen(f: int) -> list[tuple[int, int]]:
        """(input channel, kernel channel) pairs filter f reads: its group's block."""
        per = channels // groups
        block = f // (filters // groups)
        return [(block * per + j, j) for j in range(per)]

    def weight(f: int, j: int, t: tuple[int, ...]) -> tuple[int, ...]:
        """The kernel entry tap t multiplies: counted from the far end in mode
        "convolution"."""
        return (f, j, *((n - 1 - ti for n, ti in zip(taps, t, strict=True)) if flip else t))
    bias = data.get("bias")
    b = None if bias is None else [fr(bias)] if not isinstance(bias, list) else fr(bias)

    def positions(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
        out: list[tuple[int, ...]] = [()]
        for n in shape:
            out = [(*p, i) for p in out for i in range(n)]
        return out

    def read(c: int, o: tuple[int, ...], t: tuple[int, ...]) -> tuple[int, ...] | None:
        """The input entry tap t of output o reads, or None in the padding."""
        at = tuple(oi * s + ti * d - p for oi, ti, s, d, p in
                   zip(o, t, stride, dilation, padding, strict=True))
        return at if all(0 <= a < n for a, n in zip(at, size, strict=True)) else None

    z = zeros(filters, *out_size)
    for f in range(filters):
        for o in positions(out_size):
            total = b[f] if b is not None else Fraction(0)
            for c, j in seen(f):
                for t in positions(taps):
                    at = read(c, o, t)
                    if at is not None:
                        total += _at(x, (c, *at)) * _at(k, weight(f, j, t))
            _at(z, (f, *o[:-1]))[o[-1]] = total
    output_rank = dims + 1 if filter_rank == dims + 2 else dims
    strip_out = (dims + 1) - output_rank
    # the activation after the convolution, entry by entry: ReLU and leaky ReLU exact,
    # sigmoid and tanh in float64 (and everything after them)
    kind = data.get("activation")
    slope = Fraction(1, 100)
    slopes = [f_prime(zv, kind, slope) for zv in flatten(z)] if kind is not None else []
    last = z if kind is None else nest([f_activation(zv, kind, slope) for zv in flatten(z)],
                                       (filters, *out_size))
    activated = last
    pool = data.get("pool")
    windows: dict[tuple[int, ...], list[tuple[tuple[int, ...], Fraction]]] = {}
    last_size = out_size
    if pool is not None:
        last, windows, last_size = _pool_nd(last, pool, (filters, *out_size))
    result: dict[str, Any] = {"output": strip_axes(last, strip_out)}
    grad = None
    count = filters * math.prod(last_size)
    if "target" in data:
        y = _lead(fr(data["target"]), len(shape_of(fr(data["target"]))), dims + 1)
        diffs = [zv - yv for zv, yv in zip(flatten(last), flatten(y), strict=True)]
        squares = sum((d * d for d in diffs), Fraction(0))
        loss = data.get("loss", "mse")
        result["loss"] = {"mse": squares / count, "sse": squares, "half_sse": squares / 2}[loss]
        factor = {"mse": Fraction(2, count), "sse": Fraction(2), "half_sse": Fraction(1)}[loss]
        grad = nest([factor * d for d in diffs], (filters, *last_size))
    elif "grad_output" in data:
        g = fr(data["grad_output"])
        grad = _lead(g, len(shape_of(g)), dims + 1)
    if grad is None:
        return _with_stages(result, kind, z, activated, None, strip_out, pool, last)
    grad_last = grad
    if pool is not None:  # each window's gradient to the entries it read
        flat_a = zeros(filters, *shape_of(z)[1:])
        for o, reads in windows.items():
            for r, w in reads:
                _put(flat_a, r, w * _at(grad, o))
        grad = flat_a
    grad_activated = grad
    if kind is not None:
        grad = nest([g * d for g, d in zip(flatten(grad), slopes, strict=True)],
                    (filters, *out_size))
    dk = zeros(filters, len(k[0]), *taps)
    dx = zeros(channels, *size)
    db = [Fraction(0)] * filters
    for f in range(filters):
        for o in positions(out_size):
            g = _at(grad, (f, *o))
            db[f] += g
            for c, j in seen(f):
                for t in positions(taps):
                    at = read(c, o, t)
                    if at is not None:
                        _put(dk, weight(f, j, t), g * _at(x, (c, *at)))
                        _put(dx, (c, *at), g * _at(k, weight(f, j, t)))
    result["grad_output"] = strip_axes(grad_last, strip_out)
    result["grad_filter"] = strip_axes(dk, dims + 2 - filter_rank)
    if b is not None:
        result["grad_bias"] = db[0] if not isinstance(bias, list) else db
    result["grad_input"] = strip_axes(dx, dims + 1 - input_rank)
    if "learning_rate" in data:
        rate = fr(data["learning_rate"])
        new_k = nest([kv - rate * gv for kv, gv in zip(flatten(k), flatten(dk), strict=True)],
                     shape_of(k))
        result["updated_filter"] = strip_axes(new_k, dims + 2 - filter_rank)
        if b is not None:
            new_b = [bv - rate * gv for bv, gv in zip(b, db, strict=True)]
            result["updated_bias"] = new_b[0] if not isinstance(bias, list) else new_b
    return _with_stages(result, kind, z, activated, grad, strip_out, pool, last,
                        grad_activated)


def _with_stages(result: dict[str, Any], kind: Any, z: Any, a: Any, dz: Any,
                 strip: int, pool: Any = None, p: Any = None,
                 da: Any = None) -> dict[str, Any]:
    """After an activation or a pool the result also holds Z, A, P, dL/dA and dL/dZ,
    as the engine's."""
    if kind is None and pool is None:
        return result
    result["conv"] = strip_axes(z, strip)
    if kind is not None:
        result["activated"] = strip_axes(a, strip)
    if pool is not None:
        result["pooled"] = strip_axes(p, strip)
    if dz is not None:
        if kind is not None and pool is not None:
            result["grad_activated"] = strip_axes(da, strip)
        result["grad_conv"] = strip_axes(dz, strip)
    return result


def _pool_nd(a: Any, pool: dict[str, Any], shape: tuple[int, ...]
             ) -> tuple[Any, dict[tuple[int, ...], list[tuple[tuple[int, ...], Fraction]]],
                        tuple[int, ...]]:
    """A pool over each map of A, from the format: window o reads A[f, o·s − p + t] for
    each tap t inside the map; max (min) keeps its first largest (least) entry, mean
    the sum over the window's size (its entries without count_include_pad). Gives P,
    each pooled entry's reads with their weights, and P's spatial size."""
    dims = len(shape) - 1
    size = _axes_of(pool["size"], dims)
    stride = _axes_of(pool.get("stride", pool["size"]), dims)
    padding = _axes_of(pool.get("padding", 0), dims)
    dilation = _axes_of(pool.get("dilation", 1), dims)
    ceil = bool(pool.get("ceil_mode", False))
    kind = {"avg": "mean"}.get(pool["type"], pool["type"])

    def length(n: int, p: int, k: int, s: int, d: int) -> int:
        """How many windows fit: ⌊(n + 2p − d(k − 1) − 1)/s⌋ + 1, or in ceil mode
        ⌈…⌉ + 1 less any last window starting at n + p or beyond."""
        span = n + 2 * p - d * (k - 1) - 1
        count = math.ceil(span / s) + 1 if ceil else span // s + 1
        while ceil and (count - 1) * s >= n + p:
            count -= 1
        return count

    out = tuple(length(n, p, k, s, d) for n, p, k, s, d in
                zip(shape[1:], padding, size, stride, dilation, strict=True))
    p_out = zeros(shape[0], *out)
    windows: dict[tuple[int, ...], list[tuple[tuple[int, ...], Fraction]]] = {}
    for f in range(shape[0]):
        for o in itertools.product(*(range(n) for n in out)):
            reads, padded = [], 0
            for t in itertools.product(*(range(k) for k in size)):
                at = tuple(i * s - p + u * d for i, s, p, u, d in
                           zip(o, stride, padding, t, dilation, strict=True))
                if all(0 <= r < n for r, n in zip(at, shape[1:], strict=True)):
                    reads.append((f, *at))
                # taps inside the padded input: what a mean with padding counts
                padded += all(r < n + p for r, n, p in zip(at, shape[1:], padding,
                                                           strict=True))
            values = [_at(a, r) for r in reads]
            if kind == "mean":
                whole = padded if pool.get("count_include_pad", True) else len(reads)
                chosen = [(r, Fraction(1, whole)) for r in reads]
            else:
                best = values.index(max(values) if kind == "max" else min(values))
                chosen = [(reads[best], Fraction(1))]
            windows[(f, *o)] = chosen
            _at(p_out, (f, *o[:-1]))[o[-1]] = sum((w * _at(a, r) for r, w in chosen),
                                                  Fraction(0))
    return p_out, windows, out


def naive_transposed_nd(data: dict[str, Any]) -> dict[str, Any]:
    """A transposed layer (``"layer": "conv_transpose"``) with ``dimensions`` spatial
    axes, written straight from the format's scatter sum over every (c, in…, f, tap…):
    Z[f, i·s − p + t·d] += X[c, i]·K[c, f', t] (positions off the output dropped), then
    B[f], the filter [C][F/groups][k…] and input channel c of group g = ⌊c/(C/G)⌋
    feeding output channel g·F/G + f'; then the activation, the pool and the loss, and
    the chain rule back through the same terms. Keys and shapes as the user gave them."""
    dims = int(data.get("dimensions", 2))
    x_user, k_user = fr(data["input"]), fr(data.get("filter", data.get("kernel")))
    input_rank, filter_rank = len(shape_of(x_user)), len(shape_of(k_user))
    x, k = _lead(x_user, input_rank, dims + 1), _lead(k_user, filter_rank, dims + 2)
    stride = _axes_of(data.get("stride", 1), dims)
    padding = _axes_of(data.get("padding", 0), dims)
    dilation = _axes_of(data.get("dilation", 1), dims)
    extra = _axes_of(data.get("output_padding", 0), dims)
    groups = int(data.get("groups", 1))
    channels, size = len(x), shape_of(x)[1:]
    per_group, taps = len(k[0]), shape_of(k)[2:]
    filters = per_group * groups
    out_size = tuple(naive_transposed_size(n, t, s, p, d, e) for n, t, s, p, d, e in
                     zip(size, taps, stride, padding, dilation, extra, strict=True))
    bias = data.get("bias")
    b = None if bias is None else [fr(bias)] if not isinstance(bias, list) else fr(bias)
    # every term: (output channel, output index, input index, kernel index)
    terms: list[tuple[int, tuple[int, ...], tuple[int, ...], tuple[int, ...]]] = []
    for c in range(channels):
        first = c // (channels // groups) * per_group
        for i in itertools.product(*(range(n) for n in size)):
            for t in itertools.product(*(range(n) for n in taps)):
                o = tuple(ii * s - p + ti * d for ii, ti, s, p, d in
                          zip(i, t, stride, padding, dilation, strict=True))
                if all(0 <= oi < n for oi, n in zip(o, out_size, strict=True)):
                    for f in range(per_group):
                        terms.append((first + f, o, (c, *i), (c, f, *t)))
    z = zeros(filters, *out_size)
    for f in range(filters):
        for o in itertools.product(*(range(n) for n in out_size)):
            _put(z, (f, *o), b[f] if b is not None else Fraction(0))
    for f, o, xi, ki in terms:
        _put(z, (f, *o), _at(x, xi) * _at(k, ki))
    output_rank = dims + 1 if filter_rank == dims + 2 else dims
    strip_out = (dims + 1) - output_rank
    kind = data.get("activation")
    slope = Fraction(1, 100)
    slopes = [f_prime(zv, kind, slope) for zv in flatten(z)] if kind is not None else []
    last = z if kind is None else nest([f_activation(zv, kind, slope) for zv in flatten(z)],
                                       (filters, *out_size))
    activated = last
    pool = data.get("pool")
    windows: dict[tuple[int, ...], list[tuple[tuple[int, ...], Fraction]]] = {}
    last_size = out_size
    if pool is not None:
        last, windows, last_size = _pool_nd(last, pool, (filters, *out_size))
    result: dict[str, Any] = {"output": strip_axes(last, strip_out)}
    grad = None
    count = filters * math.prod(last_size)
    if "target" in data:
        y = _lead(fr(data["target"]), len(shape_of(fr(data["target"]))), dims + 1)
        diffs = [zv - yv for zv, yv in zip(flatten(last), flatten(y), strict=True)]
        squares = sum((d * d for d in diffs), Fraction(0))
        loss = data.get("loss", "mse")
        result["loss"] = {"mse": squares / count, "sse": squares, "half_sse": squares / 2}[loss]
        factor = {"mse": Fraction(2, count), "sse": Fraction(2), "half_sse": Fraction(1)}[loss]
        grad = nest([factor * d for d in diffs], (filters, *last_size))
    elif "grad_output" in data:
        g = fr(data["grad_output"])
        grad = _lead(g, len(shape_of(g)), dims + 1)
    if grad is None:
        return _with_stages(result, kind, z, activated, None, strip_out, pool, last)
    grad_last = grad
    if pool is not None:
        flat_a = zeros(filters, *out_size)
        for o, reads in windows.items():
            for r, w in reads:
                _put(flat_a, r, w * _at(grad, o))
        grad = flat_a
    grad_activated = grad
    if kind is not None:
        grad = nest([g * d for g, d in zip(flatten(grad), slopes, strict=True)],
                    (filters, *out_size))
    dk = zeros(channels, per_group, *taps)
    dx = zeros(channels, *size)
    db = [sum(flatten(grad[f]), Fraction(0)) for f in range(filters)]
    for f, o, xi, ki in terms:
        g = _at(grad, (f, *o))
        _put(dk, ki, g * _at(x, xi))
        _put(dx, xi, g * _at(k, ki))
    result["grad_output"] = strip_axes(grad_last, strip_out)
    result["grad_filter"] = strip_axes(dk, dims + 2 - filter_rank)
    if b is not None:
        result["grad_bias"] = db[0] if not isinstance(bias, list) else db
    result["grad_input"] = strip_axes(dx, dims + 1 - input_rank)
    if "learning_rate" in data:
        rate = fr(data["learning_rate"])
        new_k = nest([kv - rate * gv for kv, gv in zip(flatten(k), flatten(dk), strict=True)],
                     shape_of(k))
        result["updated_filter"] = strip_axes(new_k, dims + 2 - filter_rank)
        if b is not None:
            new_b = [bv - rate * gv for bv, gv in zip(b, db, strict=True)]
            result["updated_bias"] = new_b[0] if not isinstance(bias, list) else new_b
    return _with_stages(result, kind, z, activated, grad, strip_out, pool, last,
                        grad_activated)
