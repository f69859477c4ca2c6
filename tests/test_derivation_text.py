"""The worked derivation as printed: the seed's numbers, notation, number style,
shortening, the stride/padding/bias steps, output files, and the Python interface.
(Colour, which a new process decides from its environment, is in
``test_end_to_end.py``.)

Equations in the text output are parsed, not matched by indentation: an
equation is ``lhs = form`` on one line, then each further form on its own line
with its ``=`` (or ``≈``) in the same column, long sums continuing on indented
lines. :func:`equations` returns each as its left-hand side and its forms, with
whitespace normalised, in the order printed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from helpers import invoke, rendered, worked_samples

import cnnstep

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "cnnstep" / "samples"
SEED000 = SAMPLES / "seed000-filter-update.json"
WIDTH = 100


# --------------------------------------------------------------------------
# helpers


def norm(text: str) -> str:
    """Whitespace runs → one space."""
    return " ".join(text.split())


@dataclass
class Eq:
    lhs: str
    #: every right-hand form, the last one being the value (``1.6``, ``11/6 ≈ 1.8333``)
    forms: list[str]
    #: the relation printed before each form: "=" or "≈"
    signs: list[str]
    line: int

    @property
    def value(self) -> str:
        return self.forms[-1]


_START = re.compile(r"^(\S.*?) ([=≈]) (.*)$")


def equations(text: str) -> list[Eq]:
    """Every aligned equation of a text rendering, in order."""
    lines = text.splitlines()
    found: list[Eq] = []
    i = 0
    while i < len(lines):
        match = _START.match(lines[i])
        if not match:
            i += 1
            continue
        lhs, sign, rest = match.groups()
        col = len(lhs) + 1  # the column of the relation sign
        eq = Eq(norm(lhs), [rest], [sign], i)
        i += 1
        while i < len(lines) and lines[i].strip() and not lines[i][:col].strip():
            line = lines[i]
            if len(line) > col + 1 and line[col] in "=≈" and line[col + 1] == " ":
                eq.forms.append(line[col + 2:])
                eq.signs.append(line[col])
            else:  # a long sum continued
                eq.forms[-1] += " " + line
            i += 1
        eq.forms = [norm(f) for f in eq.forms]
        found.append(eq)
    return found


def by_lhs(eqs: list[Eq]) -> dict[str, Eq]:
    return {eq.lhs: eq for eq in eqs}


@dataclass
class Table:
    label: str
    header: list[str]
    rows: list[list[str]]  # each row starts with its row label


def tables(text: str) -> list[Table]:
    """The boxed matrices of a text rendering (label line, header, rows)."""
    lines = text.splitlines()
    found: list[Table] = []
    for i, line in enumerate(lines):
        if not line.startswith("┌"):
            continue
        cells = [[c.strip() for c in row.strip().strip("│").split("│")]
                 for row in _table_rows(lines, i + 1)]
        found.append(Table(norm(lines[i - 1]), cells[0], cells[1:]))
    return found


def _table_rows(lines: list[str], start: int) -> list[str]:
    rows = []
    for line in lines[start:]:
        if line.startswith("└"):
            break
        if line.startswith("│"):
            rows.append(line)
    return rows


def table(text: str, label: str) -> Table:
    matches = [t for t in tables(text) if t.label == label]
    assert matches, f"no matrix labelled {label!r}; labels: {[t.label for t in tables(text)]}"
    return matches[0]


def number(text: str) -> Decimal:
    return Decimal(text.replace("−", "-"))


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / name).read_text(encoding="utf-8"))
    return data


def text_of(problem: Any, **options: Any) -> str:
    return cnnstep.solve(problem).to_text(width=WIDTH, **options)


@pytest.fixture(scope="module")
def seed_text() -> str:
    return text_of(SEED000)


@pytest.fixture(scope="module")
def seed_eqs(seed_text: str) -> dict[str, Eq]:
    return by_lhs(equations(seed_text))


# --------------------------------------------------------------------------
# (a) the seed 000 worked example, number for number

FORWARD = {
    "Output(0,0)": ("I(0,0)×W(0,0) + I(0,1)×W(0,1) + I(1,0)×W(1,0) + I(1,1)×W(1,1)",
                    "1×0.5 + 2×0.2 + 0×0.3 + 1×0.7", "1.6"),
    "Output(0,1)": ("I(0,1)×W(0,0) + I(0,2)×W(0,1) + I(1,1)×W(1,0) + I(1,2)×W(1,1)",
                    "2×0.5 + 1×0.2 + 1×0.3 + 2×0.7", "2.9"),
    "Output(1,0)": ("I(1,0)×W(0,0) + I(1,1)×W(0,1) + I(2,0)×W(1,0) + I(2,1)×W(1,1)",
                    "0×0.5 + 1×0.2 + 2×0.3 + 1×0.7", "1.5"),
    "Output(1,1)": ("I(1,1)×W(0,0) + I(1,2)×W(0,1) + I(2,1)×W(1,0) + I(2,2)×W(1,1)",
                    "1×0.5 + 2×0.2 + 1×0.3 + 0×0.7", "1.2"),
}


@pytest.mark.parametrize("lhs", sorted(FORWARD))
def test_seed_forward_pass(seed_eqs: dict[str, Eq], lhs: str) -> None:
    symbolic, numeric, value = FORWARD[lhs]
    assert lhs in seed_eqs, f"no equation for {lhs}"
    assert seed_eqs[lhs].forms == [symbolic, numeric, value]
    assert seed_eqs[lhs].signs == ["=", "=", "="]


def test_seed_loss_chain(seed_eqs: dict[str, Eq]) -> None:
    loss = seed_eqs["Loss"]
    # lhs → symbolic form → numbers put in → squares → their sum → value
    assert loss.forms[0] == (
        "(1/4)×[(Output(0,0)−Y(0,0))² + (Output(0,1)−Y(0,1))² + (Output(1,0)−Y(1,0))² + "
        "(Output(1,1)−Y(1,1))²]"
    )
    assert loss.forms[1:] == [
        "(1/4)×[(1.6−1)² + (2.9−2)² + (1.5−2)² + (1.2−1)²]",
        "(1/4)×[0.36 + 0.81 + 0.25 + 0.04]",
        "(1/4)×1.46",
        "0.365",
    ]


GRAD_OUTPUT = {
    "∂Loss/∂Output(0,0)": ("(2/4)×(1.6−1)", "0.3"),
    "∂Loss/∂Output(0,1)": ("(2/4)×(2.9−2)", "0.45"),
    "∂Loss/∂Output(1,0)": ("(2/4)×(1.5−2)", "−0.25"),
    "∂Loss/∂Output(1,1)": ("(2/4)×(1.2−1)", "0.1"),
}


@pytest.mark.parametrize("lhs", sorted(GRAD_OUTPUT))
def test_seed_grad_output(seed_eqs: dict[str, Eq], lhs: str) -> None:
    # the numbers alone, as the seed writes them; the rule is stated once above them
    numeric, value = GRAD_OUTPUT[lhs]
    assert seed_eqs[lhs].forms == [numeric, value]


def _grad_filter_symbolic(cells: list[str]) -> str:
    outs = ["(0,0)", "(0,1)", "(1,0)", "(1,1)"]
    return " + ".join(f"∂Loss/∂Output{o}×I{c}" for o, c in zip(outs, cells, strict=True))


GRAD_FILTER = {
    "∂Loss/∂W(0,0)": (["(0,0)", "(0,1)", "(1,0)", "(1,1)"],
                      "0.3×1 + 0.45×2 + (−0.25)×0 + 0.1×1", "1.3"),
    "∂Loss/∂W(0,1)": (["(0,1)", "(0,2)", "(1,1)", "(1,2)"],
                      "0.3×2 + 0.45×1 + (−0.25)×1 + 0.1×2", "1.0"),
    "∂Loss/∂W(1,0)": (["(1,0)", "(1,1)", "(2,0)", "(2,1)"],
                      "0.3×0 + 0.45×1 + (−0.25)×2 + 0.1×1", "0.05"),
    "∂Loss/∂W(1,1)": (["(1,1)", "(1,2)", "(2,1)", "(2,2)"],
                      "0.3×1 + 0.45×2 + (−0.25)×1 + 0.1×0", "0.95"),
}


@pytest.mark.parametrize("lhs", sorted(GRAD_FILTER))
def test_seed_grad_filter(seed_eqs: dict[str, Eq], lhs: str) -> None:
    cells, numeric, value = GRAD_FILTER[lhs]
    eq = seed_eqs[lhs]
    assert len(eq.forms) == 3, eq.forms
    assert eq.forms[0] == _grad_filter_symbolic(cells)
    assert eq.forms[1] == numeric
    assert number(eq.value) == Decimal(value)  # the seed writes 1.0 for 1


UPDATES = [
    ("W(0,0)", "0.5 − 0.1×1.3", "0.37"),
    ("W(0,1)", "0.2 − 0.1×1", "0.1"),
    ("W(1,0)", "0.3 − 0.1×0.05", "0.295"),
    ("W(1,1)", "0.7 − 0.1×0.95", "0.605"),
]


@pytest.mark.parametrize(("weight", "numeric", "value"), UPDATES)
def test_seed_update(seed_text: str, weight: str, numeric: str, value: str) -> None:
    matches = [eq for eq in equations(seed_text) if numeric in eq.forms]
    assert len(matches) == 1, f"expected one update with the form {numeric!r}"
    eq = matches[0]
    assert eq.lhs.startswith(weight) and "new" in eq.lhs, eq.lhs
    # the numbers alone, as the seed writes them
    assert eq.forms == [numeric, value]


def test_seed_steps_in_order(seed_text: str) -> None:
    order = [eq.lhs for eq in equations(seed_text)]
    marks = ["Output(0,0)", "Loss", "∂Loss/∂Output(0,0)", "∂Loss/∂W(0,0)", "∂Loss/∂I(0,0)",
             "W(0,0)new"]
    positions = [order.index(m) for m in marks]
    assert positions == sorted(positions), list(zip(marks, positions, strict=True))


def test_seed_equations_align_on_equals(seed_text: str) -> None:
    """Each form is on its own line, its '=' under the first line's '='."""
    lines = seed_text.splitlines()
    for eq in equations(seed_text):
        if not re.fullmatch(r"(Output|∂Loss/∂\w+)\(\d,\d\)|Loss", eq.lhs):
            continue  # prose such as "∂Loss/∂I = full conv(…): …"
        col = lines[eq.line].index(" = ") + 1
        j, starts = eq.line + 1, 0
        while j < len(lines) and lines[j].strip():
            assert not lines[j][:col].strip(), (eq.lhs, lines[j])
            starts += lines[j][col] == "="
            j += 1
        assert starts == len(eq.forms) - 1, (eq.lhs, eq.forms)


def test_seed_final_matrices(seed_text: str) -> None:
    assert table(seed_text, "Output").rows == [["0", "1.6", "2.9"], ["1", "1.5", "1.2"]]
    assert table(seed_text, "∂Loss/∂W").rows == [["0", "1.3", "1"], ["1", "0.05", "0.95"]]
    assert table(seed_text, "Wnew").rows == [["0", "0.37", "0.1"], ["1", "0.295", "0.605"]]


# --------------------------------------------------------------------------
# (b) notation


def test_default_notation_is_one_based_subscripts() -> None:
    text = text_of(SAMPLES / "half-sse.json")
    eqs = by_lhs(equations(text))
    assert eqs["Z₁₁"].forms[0] == "X₁₁×K₁₁ + X₁₂×K₁₂ + X₂₁×K₂₁ + X₂₂×K₂₂ + B"
    assert eqs["∂L/∂K₂₂"].value == "11/2"  # a problem in fractions prints fractions
    assert {"Z₃₃", "∂L/∂Z₃₃", "∂L/∂X₄₄", "∂L/∂B", "L"} <= set(eqs)
    assert "Z₀" not in text and "X₀" not in text and "(0," not in text
    # the headers of the matrices count from 1
    assert table(text, "Z").header == ["", "1", "2", "3"]


@pytest.mark.parametrize("name", ["seed001-stride1.json", "seed001-stride2.json",
                                  "seed002-given-gradient.json"])
def test_default_notation_in_other_samples(name: str) -> None:
    eqs = by_lhs(equations(text_of(SAMPLES / name)))
    assert eqs["Z₁₁"].forms[0].startswith("X₁₁×K₁₁ + X₁₂×K₁₂")


@pytest.mark.parametrize(("name", "entry", "kernel", "latex"), [
    ("two-filters-padding.json", "Z(1,1,1)", "K(1,1,", "Z_{1,1,1}"),
    # one filter over three channels: no filter index (K(c,m,n), Z(i,j))
    ("seed003-rgb-edge-stride2.json", "Z(1,1)", "K(1,1,1)", "Z_{1,1}"),
])
def test_multichannel_indices(name: str, entry: str, kernel: str, latex: str) -> None:
    eqs = by_lhs(equations(rendered(SAMPLES / name, "text", width=WIDTH)))
    assert entry in eqs
    # channel by channel, one bracket each
    assert eqs[entry].forms[0].startswith("[X(1,1,1)×" + kernel)
    assert latex + " &=" in rendered(SAMPLES / name, "latex")
    assert "X_{1,1,1}" in rendered(SAMPLES / name, "markdown")


CUSTOM = {"input": "A", "filter": "W", "bias": "c", "output": "O", "target": "T",
          "loss": "J", "index_base": 0}


def _numeric_forms(eqs: list[Eq]) -> list[list[str]]:
    """The forms of every equation that hold numbers only (no symbol)."""
    return [[f for f in eq.forms if not re.search(r"[A-Za-zα∂]", f)] for eq in eqs]


def test_custom_notation_changes_symbols_only() -> None:
    base = load("half-sse.json")
    custom = {**base, "notation": CUSTOM}
    default_worked, custom_worked = cnnstep.solve(base), cnnstep.solve(custom)
    text = custom_worked.to_text(width=WIDTH)
    eqs = by_lhs(equations(text))
    assert eqs["O(0,0)"].forms[0] == (
        "A(0,0)×W(0,0) + A(0,1)×W(0,1) + A(1,0)×W(1,0) + A(1,1)×W(1,1) + c")
    assert eqs["O(0,0)"].forms[1:] == ["2×1 + 1×(−1) + 1×(1/2) + 3×0 + 1/3", "11/6 ≈ 1.8333"]
    assert "∂J/∂O = O − T." in norm(text)
    assert eqs["∂J/∂O(2,2)"].forms[0] == "11/6 − 2"
    assert {"J", "∂J/∂W(1,1)", "∂J/∂A(3,3)", "∂J/∂c"} <= set(eqs)
    assert table(text, "O").header == ["", "0", "1", "2"]
    # no default symbol is left
    leftovers = re.findall(r"(?<![A-Za-z])[XKZY](?:[₀-₉]|\()|∂L/|(?<![A-Za-z])B(?:[₀-₉(]| )", text)
    assert not leftovers, leftovers
    # every number, and the machine-readable result, are untouched
    default_eqs = equations(default_worked.to_text(width=WIDTH))
    assert _numeric_forms(equations(text)) == _numeric_forms(default_eqs)
    assert custom_worked.to_json() == default_worked.to_json()
    assert json.loads(custom_worked.to_json()).keys() == json.loads(default_worked.to_json()).keys()
    # LaTeX and Markdown use it too
    latex = custom_worked.to_latex()
    assert "O(0,0) &= A(0,0) \\times W(0,0)" in latex
    assert "Z_{" not in latex and "X_{" not in latex
    assert "A(0,0) \\times W(0,0)" in custom_worked.to_markdown()


def test_seed_notation_zero_based_everywhere(seed_text: str) -> None:
    assert not re.search("[₀-₉]", seed_text)  # no subscripts: I(0,0), not I₁₁
    assert not re.search(r"(?<![A-Za-z])[XKZ]\(", seed_text)
    assert table(seed_text, "Output").header == ["", "0", "1"]


# --------------------------------------------------------------------------
# (c) numbers


def test_non_terminating_values_are_fractions_with_approximation() -> None:
    text = text_of(SAMPLES / "half-sse.json")
    eqs = by_lhs(equations(text))
    assert eqs["Z₁₁"].value == "11/6 ≈ 1.8333"
    assert eqs["Z₁₃"].value == "−1/6 ≈ −0.1667"
    assert eqs["L"].value == "95/12 ≈ 7.9167"
    # every approximation stands beside the exact fraction
    # (in a window drawn in brackets, too)
    for match in re.finditer(r"(\S+) ≈ (\S+)", text):
        assert re.fullmatch(r"−?\d+/\d+", match.group(1).lstrip("[")), match.group(0)


def test_decimals_rounds_only_under_the_option() -> None:
    text = text_of(SAMPLES / "half-sse.json", decimals=2)
    eqs = by_lhs(equations(text))
    assert eqs["Z₁₁"].forms[1] == "2×1 + 1×(−1) + 1×0.5 + 3×0 + 0.33"
    assert eqs["Z₁₁"].value == "1.83" and eqs["Z₁₁"].signs[-1] == "≈"
    # an exact value after rounded operands: the operands only approximate it
    assert eqs["∂L/∂K₂₂"].value == "5.5" and eqs["∂L/∂K₂₂"].signs[1:] == ["≈", "≈"]
    assert eqs["H_out"].signs == ["=", "=", "="]  # nothing rounded, nothing ≈
    assert "11/6" not in text and "1.8333" not in text
    run = invoke("solve", SAMPLES / "half-sse.json", "--decimals", "3", "--width", str(WIDTH))
    assert run.returncode == 0, run.stderr
    assert by_lhs(equations(run.stdout))["Z₁₁"].value == "1.833"


def test_decimals_never_prints_negative_zero() -> None:
    """-1/6 rounded to 0 places is 0, not "−0" (nor "−0.0" at one place for -1/60)."""
    for decimals in (0, 1):
        problem = {"input": [[1, 0], [0, 1]], "filter": [["-1/60"]], "target": [[1, 1], [1, 1]]}
        for fmt in ("text", "latex", "markdown"):
            worked = cnnstep.solve(problem)
            out = (worked.to_text(width=WIDTH, decimals=decimals) if fmt == "text"
                   else getattr(worked, f"to_{fmt}")(decimals=decimals))
            # a unary minus: not right after a digit or a bracket (that is a subtraction)
            zeros = [t for t in re.findall(r"(?<![\w)\]}])[−-]\d+(?:\.\d+)?(?![\d/])", out)
                     if Decimal(t.replace("−", "-")) == 0]
            assert not zeros, f"--decimals {decimals}, {fmt}: negative zero {zeros[:3]}"


def test_negative_numbers_are_parenthesised_in_products() -> None:
    eqs = by_lhs(equations(text_of(SEED000)))
    assert "(−0.25)×0" in eqs["∂Loss/∂W(0,0)"].forms[1]
    half = by_lhs(equations(text_of(SAMPLES / "half-sse.json")))
    assert half["Z₁₁"].forms[1].startswith("2×1 + 1×(−1)")
    assert half["∂L/∂X₁₂"].forms[1] == "(5/6)×(−1) + (17/6)×1"  # fractions too
    assert half["K₁₂new"].forms[0] == "−1 − (1/10)×(−37/6)"
    for sample in worked_samples():
        text = text_of(sample)
        assert not re.search(r"×−|\+ −|− −", text), sample.name
        assert not re.search(r"\\times -|\+ -|- -", rendered(sample, "latex")), sample.name


def test_huge_non_terminating_values_render() -> None:
    """A value beyond the 28 digits of Decimal's default context still prints."""
    worked = cnnstep.solve({"input": [[1e30]], "filter": [["1/3"]]})
    assert json.loads(worked.to_json())["output"] == [[pytest.approx(1e30 / 3)]]
    text = worked.to_text(width=WIDTH)  # decimal.InvalidOperation in _rounded
    assert "1000000000000000000000000000000/3 ≈" in text
    assert "≈" in worked.to_latex() or "approx" in worked.to_latex()


# --------------------------------------------------------------------------
# (d) long derivations: --max-terms and --only

BIG_SHAPE = {"channels": 3, "size": 20, "filters": 4, "kernel": 5}


def _big_problem() -> dict[str, Any]:
    import random

    rng = random.Random(20240601)
    c, n, f, k = (BIG_SHAPE[key] for key in ("channels", "size", "filters", "kernel"))
    return {
        "input": [[[rng.randint(-3, 3) for _ in range(n)] for _ in range(n)] for _ in range(c)],
        "filter": [[[[rng.choice([-1, 0, 1, 0.5]) for _ in range(k)] for _ in range(k)]
                    for _ in range(c)] for _ in range(f)],
        "padding": 2,
        "target": [[[rng.randint(-2, 2) for _ in range(n)] for _ in range(n)] for _ in range(f)],
        "learning_rate": "0.01",
    }


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "big.json"
    path.write_text(json.dumps(_big_problem()), encoding="utf-8")
    return path


_OMITTED = re.compile(
    r"… (\d+) more ([\w/∂ ]+?) are worked out the same way; see one with --only (\S+), "
    r"or all with --max-terms 0\."
)


@pytest.fixture(scope="module")
def big_default(big_file: Path) -> str:
    run = invoke("solve", big_file, "--width", str(WIDTH))
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_big_problem_is_shortened_by_default(big_default: str) -> None:
    text = big_default
    assert "--max-terms 0 prints everything" in norm(text)
    omitted = {what: (int(count), example) for count, what, example
               in _OMITTED.findall(norm(text))}
    n, f, c, k = 20, 4, 3, 5
    totals = {"output entries": ("Z(", f * n * n), "entries of ∂L/∂Z": ("∂L/∂Z(", f * n * n),
              "entries of ∂L/∂K": ("∂L/∂K(", f * c * k * k),
              "entries of ∂L/∂X": ("∂L/∂X(", c * n * n),
              "updated weights": ("K(", f * c * k * k)}
    assert set(omitted) == set(totals), omitted
    eqs = equations(text)
    for what, (prefix, total) in totals.items():
        shown = [eq for eq in eqs if eq.lhs.startswith(prefix)
                 and (what != "updated weights" or eq.lhs.endswith("new"))]
        assert shown, what
        assert len(shown) + omitted[what][0] == total, (what, len(shown), omitted[what])
    # the loss sum is elided inside, with the count of the terms left out
    loss = by_lhs(eqs)["L"]
    assert re.search(r"… \((\d+) more\) …", loss.forms[1])


def test_big_problem_only_example_is_valid(big_file: Path, big_default: str) -> None:
    """The --only example that a shortened step offers works, and names that entry."""
    examples = {what: example for _, what, example in _OMITTED.findall(norm(big_default))}
    example = examples["entries of ∂L/∂X"]
    indices = [int(i) for i in re.findall(r"\d+", example)]
    run = invoke("solve", big_file, "--only", example, "--width", str(WIDTH))
    assert run.returncode == 0, run.stderr
    assert [eq.lhs for eq in entry_equations(run.stdout)] == [
        f"∂L/∂X({','.join(str(i + 1) for i in indices)})"]


def test_big_problem_max_terms_zero_works_out_everything(big_file: Path) -> None:
    """Rendering all 170 000 lines takes seconds, so the derivation itself is counted."""
    derivation = cnnstep.solve(big_file).derivation(max_terms=0)
    assert not derivation.shortened
    counts: dict[str, int] = {}
    for eq in derivation.equations():
        if eq.entry is not None:
            counts[eq.entry[0]] = counts.get(eq.entry[0], 0) + 1
    assert counts == {"output": 1600, "loss": 1, "grad_output": 1600, "grad_filter": 300,
                      "grad_input": 1200, "updated_filter": 300}


def test_max_terms_cli(tmp_path: Path) -> None:
    problem = {"input": [[(3 * i + j) % 5 - 2 for j in range(8)] for i in range(8)],
               "filter": [[1, 0, -1], [0.5, 1, 0], [0, -1, 2]], "target": [[0] * 6] * 6}
    path = tmp_path / "medium.json"
    path.write_text(json.dumps(problem), encoding="utf-8")
    full = invoke("solve", path, "--width", str(WIDTH))
    assert full.returncode == 0, full.stderr
    assert "…" not in full.stdout
    assert sum(eq.lhs.startswith("Z") for eq in equations(full.stdout)) == 36
    short = invoke("solve", path, "--width", str(WIDTH), "--max-terms", "100")
    assert short.returncode == 0, short.stderr
    assert len(_OMITTED.findall(norm(short.stdout))) >= 4
    every = invoke("solve", path, "--width", str(WIDTH), "--max-terms", "0")
    assert every.stdout == full.stdout


def entry_equations(text: str) -> list[Any]:
    """The equations of single entries: a left-hand side with an index
    (``∂L/∂X(1,2,3)``, ``∂L/∂X₂₃``, ``B(2)new``), not a rule or a setting."""
    return [eq for eq in equations(text) if re.search(r"\(\d[\d,]*\)|[₀-₉]", eq.lhs)
            and not eq.lhs.startswith("Stride")]


@pytest.mark.parametrize(("sample", "key", "lhs", "value"), [
    ("seed000-filter-update.json", "grad_input[1][2]", "∂Loss/∂I(1,2)", "0.335"),
    ("half-sse.json", "grad_input[1][2]", "∂L/∂X₂₃", "5/12 ≈ 0.4167"),
    ("two-filters-padding.json", "grad_input[0][1][2]", "∂L/∂X(1,2,3)", "0.56875"),
    ("two-filters-padding.json", "updated_bias[1]", "B(2)new", "−0.2925"),
])
def test_only_prints_the_chosen_entry(sample: str, key: str, lhs: str, value: str) -> None:
    run = invoke("solve", SAMPLES / sample, "--only", key, "--width", str(WIDTH))
    assert run.returncode == 0, run.stderr
    eqs = entry_equations(run.stdout)
    assert [eq.lhs for eq in eqs] == [lhs]
    assert eqs[0].value == value
    # the givens, then the entry's own step alone
    assert run.stdout.lstrip().splitlines()[1].startswith("│ Worked solution")
    assert "Given" in run.stdout
    assert "Output size" not in run.stdout and "Step 2" not in run.stdout


def test_only_value_agrees_with_the_result() -> None:
    worked = cnnstep.solve(SAMPLES / "two-filters-padding.json")
    assert worked.result["grad_input"][0][1][2] == Fraction("0.56875")
    assert worked.result["updated_bias"][1] == Fraction("-0.2925")


def test_only_given_upstream_gradient_is_not_silently_empty() -> None:
    """With grad_output given, --only grad_output[0][0] must show the value or refuse it."""
    run = invoke("solve", SAMPLES / "seed002-given-gradient.json", "--only", "grad_output[0][0]",
                 "--width", str(WIDTH))
    if run.returncode == 2:
        assert run.stderr.startswith("cnnstep: error:")
        return
    assert run.returncode == 0, run.stderr
    assert "0.1" in run.stdout and "∂L/∂Z₁₁" in run.stdout, (
        "exit 0 but the chosen entry is not printed:\n" + run.stdout)


@pytest.mark.parametrize(("sample", "key", "words"), [
    ("seed000-filter-update.json", "foo[0]", "expected a result key"),
    ("seed000-filter-update.json", "grad_input[1]", "give 2 indices"),
    ("seed000-filter-update.json", "grad_input[0][0][0]", "give 2 indices"),
    ("seed000-filter-update.json", "grad_input[3][0]", "out of range"),
    ("seed000-filter-update.json", "grad_bias[0]", "no grad_bias"),
    ("seed000-filter-update.json", "loss[0]", "no index"),
    ("seed001-stride1.json", "grad_input[0][0]", "no grad_input"),
    ("two-filters-padding.json", "grad_input[1][2]", "give 3 indices"),
])
def test_bad_only_exits_2_with_one_line(sample: str, key: str, words: str) -> None:
    run = invoke("solve", SAMPLES / sample, "--only", key)
    assert run.returncode == 2, (run.returncode, run.stdout[-300:], run.stderr)
    assert run.stdout == ""
    message = run.stderr.strip()
    assert "\n" not in message and "Traceback" not in message, run.stderr
    assert message.startswith("cnnstep: error:") and key in message and words in message


# --------------------------------------------------------------------------
# (e) stride, padding and bias steps


def test_stride_shows_zero_insertion() -> None:
    text = text_of(SAMPLES / "seed001-stride2.json")
    assert "Zero insertion for the stride" in text
    assert "inserting 1 zero between rows and 1 zero between columns" in norm(text)
    spread = table(text, "∂L/∂Z (zero-inserted)")
    assert [row[1:] for row in spread.rows] == [["0.5", "0", "0"], ["0", "0", "0"],
                                                 ["−0.5", "0", "0"]]
    # the backward pass then works on it: dL/dK sums over the strided windows
    eqs = by_lhs(equations(text))
    assert eqs["∂L/∂K₁₁"].forms[0] == "∂L/∂Z₁₁×X₁₁ + ∂L/∂Z₁₂×X₁₃ + ∂L/∂Z₂₁×X₃₁ + ∂L/∂Z₂₂×X₃₃"
    assert "Pad the zero-inserted ∂L/∂Z" in text


def test_stride_one_has_no_zero_insertion() -> None:
    assert "Zero insertion" not in text_of(SEED000)


def test_padding_shows_padded_input_and_crop() -> None:
    worked = cnnstep.solve(SAMPLES / "two-filters-padding.json")
    text = worked.to_text(width=WIDTH)
    assert re.search(r"Step \d+: Padding", text)
    padded = table(text, "Xpad (channel 1)")
    assert padded.header == ["", "·", "1", "2", "3", "·"]
    assert [row[0] for row in padded.rows] == ["·", "1", "2", "3", "·"]
    assert padded.rows[0][1:] == ["0"] * 5 and padded.rows[-1][1:] == ["0"] * 5
    assert [row[2:5] for row in padded.rows[1:4]] == [["1", "2", "0"], ["0", "1", "3"],
                                                       ["2", "1", "1"]]
    # the padded gradient is cropped to the gradient of the input
    assert "cropped away" in norm(text)
    full = table(text, "∂L/∂Xpad (channel 1)")
    cropped = table(text, "∂L/∂X (channel 1)")
    assert [row[2:5] for row in full.rows[1:4]] == [row[1:] for row in cropped.rows]
    expected = worked.result["grad_input"][0]
    assert [[number(v) for v in row[1:]] for row in cropped.rows] == [
        [Decimal(v.numerator) / Decimal(v.denominator) for v in row] for row in expected]


def test_crop_with_stride_names_the_rows_no_window_reads() -> None:
    """4×4 input, 3×3 kernel, stride 2, padding 1: the full convolution of the
    zero-inserted 3×3 gradient is 5×5, one row and column short of the 6×6
    padded input, whose last row and column no window reads."""
    problem = {"input": [[1, 2, 0, 1], [0, 1, 2, 1], [2, 1, 0, 1], [1, 0, 1, 2]],
               "filter": [[1, 0, -1], [0, 1, 0], [1, 0, 1]], "stride": 2, "padding": 1,
               "target": [[1, 0], [0, 1]]}
    text = norm(cnnstep.solve(problem).to_text(width=WIDTH))
    assert "The full convolution is 5×5." in text
    assert "1 row and 1 column more at the end that no window reads" in text
    assert "the gradient of the padded input is 6×6" in text
    assert "one entry for each place of the padded input" not in text
    # without a stride, the full convolution is the padded input's size
    assert "one entry for each place of the padded input, 5×5" in norm(
        cnnstep.solve(SAMPLES / "two-filters-padding.json").to_text(width=WIDTH))


def test_no_padding_step_without_padding() -> None:
    assert "Padding" not in text_of(SEED000)


def test_bias_gradient_is_the_sum_of_dl_dz() -> None:
    text = text_of(SAMPLES / "half-sse.json")
    assert "∂L/∂B = sum(∂L/∂Z)" in norm(text)
    eq = by_lhs(equations(text))["∂L/∂B"]
    cells = [f"∂L/∂Z{a}{b}" for a in "₁₂₃" for b in "₁₂₃"]
    assert eq.forms[0] == " + ".join(cells)
    assert eq.forms[1] == "5/6 + 17/6 + (−1/6) + (−5/3) + 5/6 + 4/3 + (−7/6) + (−2/3) + (−1/6)"
    assert eq.value == "2"
    assert by_lhs(equations(text))["Bnew"].forms == ["1/3 − (1/10)×2", "2/15 ≈ 0.1333"]


def test_no_bias_no_bias_gradient(seed_text: str) -> None:
    assert "bias" not in seed_text.lower()


# --------------------------------------------------------------------------
# (f) files


def test_output_file_and_silent_stdout(tmp_path: Path) -> None:
    expected = text_of(SEED000)
    out = tmp_path / "answer.txt"
    run = invoke("solve", SEED000, "-o", out, "--width", str(WIDTH), env={"FORCE_COLOR": "1"})
    assert run.returncode == 0, run.stderr
    assert run.stdout == "" and run.stderr == ""
    written = out.read_text(encoding="utf-8")
    assert "\x1b" not in written
    assert written == expected
    for fmt, suffix in (("latex", "tex"), ("markdown", "md"), ("json", "json")):
        target = tmp_path / f"answer.{suffix}"
        run = invoke("solve", SEED000, "--format", fmt, "--output", target)
        assert run.returncode == 0 and run.stdout == "", run.stderr
        worked = cnnstep.solve(SEED000)
        assert target.read_text(encoding="utf-8") == getattr(worked, f"to_{fmt}")()


def test_render_color_false_is_plain() -> None:
    from cnnstep.render import FORMATS, Options

    derivation = cnnstep.solve(SEED000).derivation()
    assert "\x1b" not in FORMATS["text"].derivation(derivation, Options(width=WIDTH, color=False))


# --------------------------------------------------------------------------
# (g) the Python interface


def test_solve_accepts_path_dict_and_json_string() -> None:
    data = load("seed000-filter-update.json")
    text = (SAMPLES / "seed000-filter-update.json").read_text(encoding="utf-8")
    results = [
        cnnstep.solve(SEED000).to_json(),
        cnnstep.solve(str(SEED000)).to_json(),
        cnnstep.solve(data).to_json(),
        cnnstep.solve(text).to_json(),
        cnnstep.solve(json.dumps(data)).to_json(),
    ]
    assert len(set(results)) == 1
    assert json.loads(results[0])["updated_filter"] == [[0.37, 0.1], [0.295, 0.605]]


def test_dict_floats_mean_their_decimal() -> None:
    worked = cnnstep.solve({"input": [[0.1, 0.2]], "filter": [[3]], "target": [[0.3, 0.7]],
                            "learning_rate": 0.1})
    assert worked.result["output"] == [[Fraction("0.3"), Fraction("0.6")]]
    assert worked.result["updated_filter"] == [[Fraction("3.002")]]


def test_jupyter_reprs_hold_the_derivation() -> None:
    worked = cnnstep.solve(SEED000)
    markdown = worked._repr_markdown_()
    assert isinstance(markdown, str)
    assert "\\text{Output}(0,0) &= I(0,0) \\times W(0,0)" in markdown
    assert "&= 0.365" in markdown and "\\begin{aligned}" in markdown
    latex = worked._repr_latex_()
    assert isinstance(latex, str)
    assert "\\documentclass" not in latex and "\\begin{document}" not in latex
    assert "\\text{Output}(0,0) &= I(0,0) \\times W(0,0)" in latex
    assert "0.295" in latex
    assert "cnnstep.Worked" in repr(worked)


def test_api_problem_errors_raise_problem_error() -> None:
    with pytest.raises(cnnstep.ProblemError):
        cnnstep.solve({"input": [[1, 2], [3, 4]], "filter": [[1]], "strid": 2})


def test_a_one_by_one_kernel_is_not_turned_or_padded_for_the_input_gradient() -> None:
    import cnnstep

    worked = cnnstep.solve({"input": [[1, 2], [3, 4]], "filter": [[2]],
                            "target": [[1, 1], [1, 1]]})
    text = " ".join(worked.to_text().split())
    assert "A 1×1 kernel is its own rotation by 180°: rot180(K) = K." in text
    assert "adds no zeros around ∂L/∂Z" in text
    assert "flip it vertically" not in text and "0 rows" not in text
