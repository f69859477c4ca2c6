"""Support for the ``cnnstep check`` tests: the fixture answers, the command, and
the mistakes a student makes, recomputed with the naive oracle.

The fixture answers files in ``tests/answers/`` make each listed mistake on
purpose; their numbers are recomputed here independently (the loops of
``oracle``, sharing no code with ``cnnstep.engine``) before the CLI is asked
to name the mistake. The stride-2 problem's wrong answers are built the same
way at test time.
"""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from helpers import SAMPLES, Result, invoke
from oracle import (
    flatten,
    fr,
    naive_backward,
    naive_forward,
    naive_grad_output,
    naive_loss,
    naive_padded,
    spec_from_data,
    strip_axes,
    zeros,
)

ANSWERS = Path(__file__).resolve().parent / "answers"
SEED000 = SAMPLES / "seed000-filter-update.json"
SEED002 = SAMPLES / "seed002-given-gradient.json"
EXERCISE = SAMPLES / "exercise-with-answers.json"
STRIDE2 = ANSWERS / "stride2-problem.json"


def check(*args: str | Path) -> Result:
    """``cnnstep check ARGS``, run afresh each time."""
    return invoke("check", *args)


def report_of(*args: str | Path) -> tuple[int, Any]:
    """Exit status and the parsed ``--format json`` report (numbers as Decimals)."""
    run = check(*args, "--format", "json")
    assert run.returncode in (0, 1), run.stderr
    return run.returncode, json.loads(run.stdout, parse_float=Decimal, parse_int=Decimal)


def codes(report: dict[str, Any]) -> dict[str, str | None]:
    """answered quantity → diagnosis code (None when right or undiagnosed)."""
    return {key: (q["diagnosis"] or {}).get("code")
            for key, q in report["quantities"].items() if q["answered"]}


def one_error_line(run: Result) -> str:
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert run.stdout == ""
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("cnnstep: error: ")
    return lines[0]


def write_answers(path: Path, answers: dict[str, Any]) -> Path:
    """Answers with Fractions spelled as exact fraction strings ("-3/7")."""
    def spell(value: Any) -> Any:
        if isinstance(value, list):
            return [spell(v) for v in value]
        if isinstance(value, Fraction):
            return f"{value.numerator}/{value.denominator}"
        return value

    path.write_text(json.dumps({k: spell(v) for k, v in answers.items()}), encoding="utf-8")
    return path


# --------------------------------------------------------------------------
# independent arithmetic


def problem_data(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def given_in(name: str) -> dict[str, Any]:
    """A fixture answers file's values as exact Fractions."""
    return {key: fr(value) for key, value in problem_data(ANSWERS / name).items()}


def rot180(k: Any) -> Any:
    """Every kernel of a [F][C][kh][kw] list turned by 180°."""
    return [[[row[::-1] for row in channel[::-1]] for channel in f] for f in k]


def swap_last(value: Any) -> Any:
    """The last two axes swapped (a matrix transposed)."""
    if isinstance(value[0][0], list):
        return [swap_last(v) for v in value]
    return [list(col) for col in zip(*value, strict=True)]


def scale(value: Any, factor: Fraction) -> Any:
    if isinstance(value, list):
        return [scale(v, factor) for v in value]
    return value * factor


def add(a: Any, b: Any) -> Any:
    if isinstance(a, list):
        return [add(x, y) for x, y in zip(a, b, strict=True)]
    return a + b


def scatter_input_gradient(x: Any, k: Any, dz: Any, stride: tuple[int, int],
                           padding: tuple[int, int]) -> Any:
    """dL/dX by scattering each dz[f][i][j]·K[f][c][m][n] onto Xpad[c][i·sh+m][j·sw+n]
    (entries that would fall outside the padded input are cut), then cropping."""
    xp = naive_padded(x, padding)
    sh, sw = stride
    ph, pw = padding
    hp, wp = len(xp[0]), len(xp[0][0])
    dxp = zeros(len(xp), hp, wp)
    for f in range(len(k)):
        for i in range(len(dz[f])):
            for j in range(len(dz[f][i])):
                for c in range(len(k[f])):
                    for m in range(len(k[f][c])):
                        for n in range(len(k[f][c][m])):
                            r, s = i * sh + m, j * sw + n
                            if r < hp and s < wp:
                                dxp[c][r][s] += dz[f][i][j] * k[f][c][m][n]
    height, width = len(x[0]), len(x[0][0])
    return [[row[pw : pw + width] for row in ch[ph : ph + height]] for ch in dxp]


def filter_gradient_stride1(x: Any, k: Any, dz: Any, padding: tuple[int, int]) -> Any:
    """dK[f][c][m][n] = Σ_i Σ_j Xpad[c][m+i][n+j]·dz[f][i][j]: the stride-1 formula."""
    xp = naive_padded(x, padding)
    return [[[[sum((xp[c][m + i][n + j] * dz[f][i][j]
                    for i in range(len(dz[f])) for j in range(len(dz[f][0]))), Fraction(0))
               for n in range(len(k[f][c][m]))]
              for m in range(len(k[f][c]))]
             for c in range(len(k[f]))]
            for f in range(len(k))]


class Layer:
    """A problem file read by the oracle, in the full layout, solved naively."""

    def __init__(self, path: Path) -> None:
        spec = spec_from_data(problem_data(path))
        self.x, self.k, self.b = spec.x, spec.k, spec.b
        self.stride, self.padding = spec.stride, spec.padding
        self.lr, self.loss_name = spec.lr, spec.loss
        self.z = naive_forward(self.x, self.k, self.b, self.stride, self.padding)
        if spec.y is not None:
            self.y = spec.y
            self.loss = naive_loss(self.z, self.y, self.loss_name)
            self.dz = naive_grad_output(self.z, self.y, self.loss_name)
        else:
            self.y = None
            self.dz = spec.g
        self.dk, self.dx, self.db = naive_backward(self.x, self.k, self.dz, self.stride,
                                                   self.padding)

    def backward(self, dz: Any) -> tuple[Any, Any, Any]:
        return naive_backward(self.x, self.k, dz, self.stride, self.padding)

    def sgd(self, weights: Any, grad: Any, sign: int = -1) -> Any:
        assert self.lr is not None
        return add(weights, scale(grad, sign * self.lr))

    def count(self) -> int:
        return len(flatten(self.z))


def seed000_2d(value: Any) -> Any:
    """Full layout → the seed's 2-D (one channel, one filter) shape."""
    depth = 0
    probe = value
    while isinstance(probe, list):
        depth, probe = depth + 1, probe[0]
    return strip_axes(value, depth - 2)


# --------------------------------------------------------------------------
# a stride-2, padded, two-channel, two-filter problem


def stride2_layer() -> Layer:
    layer = Layer(STRIDE2)
    assert layer.stride == (2, 2) and layer.padding == (1, 1)
    assert len(layer.x) == 2 and len(layer.k) == 2 and len(layer.k[0][0]) == 3
    assert layer.b is not None and layer.lr is not None and layer.loss_name == "mse"
    return layer


def s2_correct(layer: Layer) -> dict[str, Any]:
    assert layer.b is not None
    return {
        "output": layer.z, "loss": layer.loss, "grad_output": layer.dz,
        "grad_filter": layer.dk, "grad_bias": layer.db, "grad_input": layer.dx,
        "updated_filter": layer.sgd(layer.k, layer.dk),
        "updated_bias": layer.sgd(layer.b, layer.db),
    }


def kernel_not_rotated(layer: Layer) -> Any:
    """dL/dX with the kernel left as it is: the scatter with the kernel turned around."""
    return scatter_input_gradient(layer.x, rot180(layer.k), layer.dz, layer.stride,
                                  layer.padding)


def stride_not_dilated_input(layer: Layer) -> Any:
    """The stride-1 formula on the un-spread dL/dZ, at the top-left, zero-filled/cut."""
    return scatter_input_gradient(layer.x, layer.k, layer.dz, (1, 1), layer.padding)


def stride_not_dilated_filter(layer: Layer) -> Any:
    return filter_gradient_stride1(layer.x, layer.k, layer.dz, layer.padding)


def s2_mistakes(layer: Layer) -> dict[str, tuple[dict[str, Any], dict[str, str | None]]]:
    """name → (answers, the expected diagnosis of each answered quantity)."""
    assert layer.b is not None and layer.y is not None and layer.lr is not None
    z_flipped = naive_forward(layer.x, rot180(layer.k), layer.b, layer.stride, layer.padding)
    z_plain = naive_forward(layer.x, layer.k, None, layer.stride, layer.padding)
    averaged = [d / Fraction(len(flatten(layer.dz[0]))) for d in layer.db]
    slip = [[[v + (1 if (f, i, j) == (1, 2, 0) else 0) for j, v in enumerate(row)]
             for i, row in enumerate(ch)] for f, ch in enumerate(layer.dz)]
    slip_dk, slip_dx, slip_db = layer.backward(slip)
    return {
        "kernel_not_rotated": ({"grad_input": kernel_not_rotated(layer)},
                               {"grad_input": "kernel_not_rotated"}),
        "stride_not_dilated": ({"grad_filter": stride_not_dilated_filter(layer),
                                "grad_input": stride_not_dilated_input(layer)},
                               {"grad_filter": "stride_not_dilated",
                                "grad_input": "stride_not_dilated"}),
        "true_convolution": ({"output": z_flipped}, {"output": "true_convolution"}),
        "bias_omitted": ({"output": z_plain}, {"output": "bias_omitted"}),
        "mse_not_averaged": ({"loss": naive_loss(layer.z, layer.y, "sse"),
                              "grad_output": naive_grad_output(layer.z, layer.y, "sse")},
                             {"loss": "mse_not_averaged", "grad_output": "mse_not_averaged"}),
        "missing_factor_two": ({"grad_output": scale(layer.dz, Fraction(1, 2))},
                               {"grad_output": "missing_factor_two"}),
        "wrong_sign": ({"grad_output": scale(layer.dz, Fraction(-1)),
                        "updated_filter": layer.sgd(layer.k, layer.dk, sign=+1),
                        "updated_bias": layer.sgd(layer.b, layer.db, sign=+1)},
                       {"grad_output": "wrong_sign", "updated_filter": "wrong_sign",
                        "updated_bias": "wrong_sign"}),
        "bias_averaged": ({"grad_bias": averaged,
                           "updated_bias": layer.sgd(layer.b, averaged)},
                          {"grad_bias": "bias_averaged", "updated_bias": "carried_forward"}),
        "transposed": ({"grad_filter": swap_last(layer.dk), "grad_input": swap_last(layer.dx)},
                       {"grad_filter": "transposed", "grad_input": "transposed"}),
        "carried_forward": ({"grad_output": slip, "grad_filter": slip_dk,
                             "grad_bias": slip_db, "grad_input": slip_dx,
                             "updated_filter": layer.sgd(layer.k, slip_dk),
                             "updated_bias": layer.sgd(layer.b, slip_db)},
                            {"grad_output": None, "grad_filter": "carried_forward",
                             "grad_bias": "carried_forward", "grad_input": "carried_forward",
                             "updated_filter": "carried_forward",
                             "updated_bias": "carried_forward"}),
    }


S2_MISTAKES = ["kernel_not_rotated", "stride_not_dilated", "true_convolution", "bias_omitted",
               "mse_not_averaged", "missing_factor_two", "wrong_sign", "bias_averaged",
               "transposed", "carried_forward"]
