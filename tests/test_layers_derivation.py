"""Activation and pooling after the convolution: the worked derivation as printed.

Pooling windows and their winners (ties named), the activation entry by entry,
the gradient routed back through the pool (overlapping windows adding up) and
the activation, the approximate values of sigmoid, and ``--only`` on the last
stage. Every number is checked against the naive oracle.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from fractions import Fraction

import pytest
from helpers import SAMPLES, invoke, layer_sample
from oracle import naive_layer, pool_forward

SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def sub(*index: int) -> str:
    return "".join(str(i + 1) for i in index).translate(SUB)


def fmt(value: Fraction) -> str:
    """An exact decimal as the text prints it, with a real minus sign."""
    text = format(Decimal(value.numerator) / Decimal(value.denominator), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    assert Fraction(text) == value, value
    return text.replace("-", "−")


def factor(value: Fraction) -> str:
    return f"({fmt(value)})" if value < 0 else fmt(value)


def cli_text(name: str) -> str:
    run = invoke("solve", SAMPLES / f"{name}.json", "--width", "120")
    assert run.returncode == 0, run.stderr
    return run.stdout


def steps(text: str) -> dict[str, str]:
    """The text of each step by its title."""
    parts = re.split(r"^Step \d+: (.+?) ─+$", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def paragraphs(step: str) -> list[list[str]]:
    return [block.splitlines() for block in re.split(r"\n\s*\n", step) if block.strip()]


def equation(step: str, lhs: str) -> list[str]:
    """The lines of the equation whose first line starts with ``lhs = ``, joined
    where long lines wrap: [first form, second form, ..., the value line]."""
    for lines in paragraphs(step):
        for n, line in enumerate(lines):
            if line.startswith(lhs + " = "):
                forms = [line]
                for rest in lines[n + 1:]:
                    if re.match(r"^\s+[=≈] ", rest):
                        forms.append(rest.strip())
                    else:
                        forms[-1] += " " + rest.strip()
                return forms
    raise AssertionError(f"no equation {lhs!r} in:\n{step}")


def table(step: str, heading: str) -> list[list[str]]:
    """The rows of the box-drawn matrix printed under ``heading``."""
    lines = step.splitlines()
    start = lines.index(heading)
    rows = []
    for line in lines[start + 1:]:
        if not line.startswith(("┌", "├", "│", "└")):
            break
        if line.startswith("│") and not line.startswith("│   │"):
            rows.append([cell.strip() for cell in line.strip("│").split("│")][1:])
    return rows


def zero_line(step: str, reason: str) -> set[str]:
    """The entries named by the one line saying they are 0 for ``reason``."""
    text = " ".join(step.split())
    found = re.search(r"((?:∂L/∂\w+, )*∂L/∂\w+) (?:is|are) 0: " + re.escape(reason), text)
    assert found, f"no line of zeros for {reason!r} in:\n{step}"
    return set(found.group(1).split(", "))


def bracketed(lines: list[str]) -> set[tuple[int, int]]:
    """Which cells of a printed grid are marked [like this]."""
    marked = set()
    for r, line in enumerate(lines):
        for c, token in enumerate(re.findall(r"\[[^\]]*\]|\S+", line)):
            if token.startswith("["):
                marked.add((r, c))
    return marked


def test_text_pooling_windows_and_winners() -> None:
    _, spec = layer_sample("relu-maxpool")
    stages = naive_layer(spec)
    a = stages["activated"][0]
    _, routes = pool_forward(stages["activated"], "max", spec.pool_size, spec.pool_stride)
    step = steps(cli_text("relu-maxpool"))["Max pooling"]
    assert "2×2 window and stride 2" in step
    for i in range(2):
        for j in range(2):
            cells = [(2 * i + m, 2 * j + n) for m in range(2) for n in range(2)]
            (winner, _), = routes[0][i][j]
            forms = equation(step, f"P{sub(i, j)}")
            assert forms[0] == (f"P{sub(i, j)} = max("
                                + ", ".join(f"A{sub(*c)}" for c in cells) + ")")
            assert forms[1] == "= max(" + ", ".join(fmt(a[r][c]) for r, c in cells) + ")"
            value, note = re.fullmatch(r"= (\S+)\s+\((.*)\)", forms[2]).groups()
            assert value == fmt(a[winner[0]][winner[1]])
            ties = sum(a[r][c] == a[winner[0]][winner[1]] for r, c in cells)
            if ties == 1:
                assert note == f"largest: A{sub(*winner)}"
            else:
                assert note == (f"{ties} entries tie; the first in row-major order, "
                                f"A{sub(*winner)}, counts")
            # the window itself, marked in the grid of A printed above the equation
            block = next(p for p in paragraphs(step) if any(
                line.startswith(f"P{sub(i, j)} = ") for line in p))
            grid = block[1:5]
            assert block[0] == "A"
            assert bracketed(grid) == set(cells)
    # the two ties of this sample are named
    assert "(2 entries tie; the first in row-major order, A₁₃, counts)" in step
    assert "(2 entries tie; the first in row-major order, A₃₄, counts)" in step


def test_text_activation_element_by_element() -> None:
    _, spec = layer_sample("relu-maxpool")
    stages = naive_layer(spec)
    step = steps(cli_text("relu-maxpool"))["Activation: ReLU"]
    z, a = stages["conv"][0], stages["activated"][0]
    for r in range(4):
        for c in range(4):
            assert equation(step, f"A{sub(r, c)}") == [
                f"A{sub(r, c)} = ReLU(Z{sub(r, c)})", f"= max(0, {fmt(z[r][c])})",
                f"= {fmt(a[r][c])}"]
    assert table(step, "A") == [[fmt(v) for v in row] for row in a]


def _pool_backward_text(name: str, grad_name: str, heading: str) -> None:
    _, spec = layer_sample(name)
    stages = naive_layer(spec)
    before = stages["activated"] if "activated" in stages else stages["conv"]
    _, routes = pool_forward(before, spec.pool, spec.pool_size, spec.pool_stride)
    grad_pooled = stages["grad_output"][0]
    expected = stages["grad_activated" if "activated" in stages else "grad_conv"][0]
    sources: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for i, row in enumerate(routes[0]):
        for j, cells in enumerate(row):
            for cell, _ in cells:
                sources.setdefault(cell, []).append((i, j))
    step = steps(cli_text(name))["Back through the pool"]
    for cell, windows in sorted(sources.items()):
        forms = equation(step, f"{grad_name}{sub(*cell)}")
        assert forms[0] == f"{grad_name}{sub(*cell)} = " + " + ".join(
            f"∂L/∂P{sub(*w)}" for w in windows)
        if len(windows) > 1:  # the parts, then their sum
            assert forms[1] == "= " + " + ".join(factor(grad_pooled[i][j]) for i, j in windows)
        assert forms[-1] == f"= {fmt(expected[cell[0]][cell[1]])}"
        assert expected[cell[0]][cell[1]] == sum(grad_pooled[i][j] for i, j in windows)
    # the others are 0, named together in one line
    others = {f"{grad_name}{sub(r, c)}" for r in range(4) for c in range(4)
              if (r, c) not in sources}
    assert zero_line(step, "they are no window's largest entry.") == others
    assert table(step, heading) == [[fmt(v) for v in row] for row in expected]
    for r in range(4):
        for c in range(4):
            if (r, c) not in sources:
                assert expected[r][c] == 0
                assert f"{grad_name}{sub(r, c)} = " not in step


def test_text_gradient_routed_back_through_the_pool() -> None:
    _pool_backward_text("relu-maxpool", "∂L/∂A", "∂L/∂A")
    step = steps(cli_text("relu-maxpool"))["Back through the pool"]
    # the tie at A₁₃/A₂₄: only A₁₃ receives ∂L/∂P₁₂
    assert equation(step, "∂L/∂A₁₃") == ["∂L/∂A₁₃ = ∂L/∂P₁₂", "= −0.125"]


def test_text_overlapping_windows_sum_up() -> None:
    _pool_backward_text("maxpool-3x3-overlap", "∂L/∂Z", "∂L/∂Z")
    step = steps(cli_text("maxpool-3x3-overlap"))["Back through the pool"]
    assert equation(step, "∂L/∂Z₃₁") == ["∂L/∂Z₃₁ = ∂L/∂P₁₁ + ∂L/∂P₂₁", "= 2 + 2", "= 4"]
    assert "Where windows overlap, the parts add up." in " ".join(step.split())
    pooling = steps(cli_text("maxpool-3x3-overlap"))["Max pooling"]
    assert "the windows overlap" in " ".join(pooling.split())


def test_text_activation_backward_entry_by_entry() -> None:
    _, spec = layer_sample("relu-maxpool")
    stages = naive_layer(spec)
    step = steps(cli_text("relu-maxpool"))["Back through the activation"]
    assert "∂L/∂Z = ∂L/∂A ⊙ f′(Z)" in step
    z, da, dz = stages["conv"][0], stages["grad_activated"][0], stages["grad_conv"][0]
    _, routes = pool_forward(stages["activated"], spec.pool, spec.pool_size, spec.pool_stride)
    routed = {cell for row in routes[0] for cells in row for cell, _ in cells}
    flat, unrouted = set(), set()
    for r in range(4):
        for c in range(4):
            slope = Fraction(1) if z[r][c] > 0 else Fraction(0)
            # zeros of the ReLU and of the pool are said once each, the others worked
            if slope == 0:
                flat.add(f"∂L/∂Z{sub(r, c)}")
            elif (r, c) not in routed:
                unrouted.add(f"∂L/∂Z{sub(r, c)}")
            else:
                assert equation(step, f"∂L/∂Z{sub(r, c)}") == [
                    f"∂L/∂Z{sub(r, c)} = ∂L/∂A{sub(r, c)}×ReLU′(Z{sub(r, c)})",
                    f"= {factor(da[r][c])}×{fmt(slope)}", f"= {fmt(dz[r][c])}"]
    assert flat and unrouted
    assert zero_line(step, "ReLU′(z) = 0 there.") == flat
    assert zero_line(step, "the max pool sends them no gradient (∂L/∂A = 0).") == unrouted
    assert table(step, "∂L/∂Z") == [[fmt(v) for v in row] for row in dz]


def test_text_exact_layers_have_no_approximations() -> None:
    for name in ("relu-maxpool", "maxpool-3x3-overlap", "meanpool"):
        assert "≈" not in cli_text(name), name


APPROX_STEPS = ("Activation: σ", "Loss", "Gradient of the loss with respect to the output",
                "Back through the activation")


LATER_STEPS = ("Gradient with respect to the kernel", "Gradient with respect to the bias",
               "Gradient with respect to the input", "Update")


def _value_lines(step: str) -> list[str]:
    """The last line of every equation of a step: its value."""
    values = []
    for lines in paragraphs(step):
        tail = [line.strip() for line in lines if re.match(r"^\s+[=≈] ", line)]
        if tail:
            values.append(tail[-1])
    return values


def test_text_sigmoid_values_are_marked_approximate() -> None:
    text = cli_text("sigmoid-half-sse")
    parts = steps(text)
    assert "Z₁₁ = " in parts["Forward pass"] and "≈" not in parts["Forward pass"]
    for title in APPROX_STEPS:
        values = _value_lines(parts[title])
        assert values, title
        for line in values:
            assert line.startswith("≈ "), (title, line)
    activated = naive_layer(layer_sample("sigmoid-half-sse")[1])["activated"][0]
    for r in range(2):
        for c in range(2):
            value = equation(parts["Activation: σ"], f"A{sub(r, c)}")[-1]
            assert math.isclose(float(value.removeprefix("≈ ")), activated[r][c], rel_tol=1e-5)
    for row in table(parts["Activation: σ"], "A"):
        assert all(cell.startswith("≈ ") for cell in row), row


def test_text_sigmoid_later_steps_are_marked_and_rounded() -> None:
    parts = steps(cli_text("sigmoid-half-sse"))
    for title in LATER_STEPS:
        for line in _value_lines(parts[title]):
            assert line.startswith("≈ "), (title, line)
    long_numbers = re.findall(r"\d*\.\d{18,}", cli_text("sigmoid-half-sse"))
    assert not long_numbers, long_numbers[:3]


@pytest.mark.parametrize(("sample", "needle"), [
    ("relu-maxpool", "P₁₂ = max(A₁₃, A₁₄, A₂₃, A₂₄)"),
    ("sigmoid-half-sse", "A₁₂ = σ(Z₁₂)"),
])
def test_only_output_works_out_the_last_stage(sample: str, needle: str) -> None:
    """With layers, the result's output is the last stage: --only output[..] works it out."""
    run = invoke("solve", SAMPLES / f"{sample}.json", "--only", "output[0][1]",
                 "--width", "120")
    assert run.returncode == 0, run.stderr
    assert needle in run.stdout
    assert "Forward pass" not in run.stdout
