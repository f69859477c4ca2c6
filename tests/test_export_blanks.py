"""The blanks of an export: each answer, its tolerance, and how points are shared.

The tolerance of a blank is the marking rule of ``cnnstep check`` for a value
written to the blank's decimals, so a platform accepts exactly the values
``cnnstep check`` would.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from helpers import SAMPLES, SMALL
from hypothesis import given
from hypothesis import strategies as st

import cnnstep
from cnnstep.check.answers import Given, is_right
from cnnstep.export import asked
from cnnstep.export.blanks import answer, integer_weights, parts, split_points, tolerance
from cnnstep.export.feedback import body, markdown_html, solution_html
from cnnstep.quantities import present


@pytest.mark.parametrize(("value", "text", "places"), [
    (Fraction("0.295"), "0.295", 3),
    (Fraction(2), "2", 0),
    (Fraction("-0.035"), "-0.035", 3),
    (Fraction(1, 3), "0.3333", 4),
    (Fraction(-2, 3), "-0.6667", 4),
    (Fraction("1.23456"), "1.2346", 4),
    (Fraction("0.00625"), "0.00625", 4),  # halfway: shown exact, asked to 4 places
    (Fraction(1, 300000), "0.0000", 4),
    (Fraction(-1, 300000), "0.0000", 4),
    (Fraction(31, 100) + Fraction(1, 10**6), "0.3100", 4),
])
def test_the_answer_shown(value: Fraction, text: str, places: int) -> None:
    assert answer(value) == (text, places)


@pytest.mark.parametrize(("places", "tol"), [
    (0, "0.01"), (1, "0.01"), (2, "0.005"), (3, "0.0005"), (4, "0.00005")])
def test_tolerance_is_half_a_unit_at_most_a_hundredth(places: int, tol: str) -> None:
    assert tolerance(places) == Fraction(tol)


@given(st.one_of(SMALL, st.fractions(max_denominator=10**6).filter(lambda v: abs(v) < 10**4)),
       st.integers(-3, 3))
def test_a_blank_accepts_what_cnnstep_check_accepts(value: Fraction, step: int) -> None:
    """A value written to the blank's decimals is inside the blank's interval
    exactly when ``cnnstep check`` marks it right."""
    text, places = answer(value)
    centre, tol = Fraction(text), tolerance(places)
    assert abs(centre - value) <= tol
    unit = Fraction(1, 10**places)
    written = round(value / unit) * unit + step * unit
    assert (abs(written - centre) <= tol) == is_right(Given(written, places), value)


def test_integer_weights_keep_the_ratio() -> None:
    shares = [Fraction(1, 4)] * 4 + [Fraction(1)] + [Fraction(1, 9)] * 9
    assert integer_weights(shares) == [9] * 4 + [36] + [4] * 9
    assert integer_weights([Fraction(1, 2), Fraction(1, 2)]) == [1, 1]


@pytest.mark.parametrize(("points", "count"), [(1, 9), (1, 32), (2, 3), (1, 4)])
def test_split_points_sum_exactly(points: int, count: int) -> None:
    shares = split_points(Fraction(points), count)
    assert sum(shares) == points and len(shares) == count
    assert all((share * 10**4).denominator == 1 for share in shares)


def test_everything_is_asked_one_point_each() -> None:
    worked = cnnstep.solve(SAMPLES / "relu-maxpool.json")
    # every quantity once: the pool's output is asked as output, not again as pooled
    keys = [key for key in present(worked.problem) if key != "pooled"]
    assert asked(worked.problem) == [(key, 1) for key in keys]
    cut = parts(worked.problem, worked.result)
    assert [part.key for part in cut] == [key for key in worked.result if key != "pooled"]
    for part in cut:
        assert sum(blank.points for blank in part.blanks) == 1


def test_a_single_entry_can_be_asked() -> None:
    worked = cnnstep.solve(SAMPLES / "two-filters-padding.json")
    (part,) = parts(worked.problem, worked.result, [("grad_input[1][0][2]", Fraction(2))])
    (blank,) = part.blanks
    assert part.shape == () and blank.points == 2 and blank.name == "grad_input[1][0][2]"
    assert blank.value == worked.result["grad_input"][1][0][2]


# --------------------------------------------------------------------------
# the feedback


class _Stub:
    def __init__(self, text: str) -> None:
        self.text = text
        self.formats: list[str] = []

    def render(self, format: str, options: object, only: object = ()) -> str:
        self.formats.append(format)
        return self.text


def test_feedback_is_html_when_the_registry_has_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from cnnstep.export import feedback

    stub = _Stub("<!DOCTYPE html><html><body>\n<p>worked</p>\n</body></html>")
    monkeypatch.setattr(feedback, "FORMATS", {"html": None})
    assert solution_html(stub) == "<p>worked</p>"  # type: ignore[arg-type]
    assert stub.formats == ["html"]
    monkeypatch.setattr(feedback, "FORMATS", {})
    stub = _Stub("# Worked\n\nText with $x_1$.\n")
    assert "<h3>Worked</h3>" in solution_html(stub)  # type: ignore[arg-type]
    assert stub.formats == ["markdown"]


def test_markdown_becomes_html() -> None:
    html = markdown_html("# Title\n\nA *remark* with `code` and $a < b$.\n\n$$\n"
                         "x &= 1\n$$\n\n$K$\n\n| | 0 | 1 |\n|---:|---:|---:|\n"
                         "| 0 | 1.5 | $\\frac{1}{3}$ |\n")
    assert "<h3>Title</h3>" in html
    assert "<em>remark</em>" in html and "<code>code</code>" in html
    assert r"\(a &lt; b\)" in html
    assert "<div>\\[x &amp;= 1\\]</div>" in html
    assert "<th>0</th>" in html and "<td>1.5</td>" in html and r"\(\frac{1}{3}\)" in html
    assert "|" not in html and "$" not in html
    assert body("<p>x</p>") == "<p>x</p>"


@pytest.mark.parametrize(("sample", "label", "value"), [
    ("dilated-3x3", "Dilation", "2"),
    ("groups-2", "Groups", "2"),
    ("conv-transpose-stride2", "Layer",
     "transposed convolution (as PyTorch's conv_transpose2d: the kernel's first axis is "
     "the input channel)"),
    ("conv-transpose-stride2", "Output padding", "1 (at the bottom and right)"),
    ("conv-transpose-stride2", "Padding",
     "1 (of a transposed convolution: taken off each side of its output)"),
    ("training-three-steps", "Training steps", "3"),
    ("conv3d-transpose-stride2", "Output padding", "1 (at the back, bottom and right)"),
])
def test_the_givens_state_every_setting_the_answers_rest_on(sample: str, label: str,
                                                             value: str) -> None:
    from cnnstep.export.givens import givens
    from cnnstep.export.volume import givens as volume_givens

    worked = cnnstep.solve(cnnstep.sample(sample))
    stated = (volume_givens(worked.exercise()) if isinstance(worked, cnnstep.WorkedVolume)
              else givens(worked.problem))
    assert {given.label: given.value for given in stated}[label] == value
