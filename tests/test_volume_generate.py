"""``cnnstep generate`` with a 3-D template: its shapes and keys kept, its numbers
redrawn, every answer short and exact, the same files for the same seed, and the
shapes that can never give short answers refused before drawing."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from helpers import SAMPLES, assert_one_line_error, invoke

import cnnstep
from cnnstep.generate import Exercise, GenerateError, from_template, generate
from cnnstep.problem import parse_number


def _numbers(value: Any) -> list[Fraction]:
    if isinstance(value, list):
        return [n for item in value for n in _numbers(item)]
    if isinstance(value, dict):
        return [n for item in value.values() for n in _numbers(item)]
    return [value] if isinstance(value, Fraction) else []


def _short(value: Fraction, places: int = 4) -> bool:
    return (value * 10**places).denominator == 1


@pytest.mark.parametrize("sample", ["conv3d-small", "conv3d-exercise", "conv3d-batch",
                                    "maxpool3d-alone"])
def test_a_3d_template_keeps_its_keys_and_gives_short_answers(tmp_path: Path,
                                                              sample: str) -> None:
    template = json.loads((SAMPLES / f"{sample}.json").read_text(encoding="utf-8"))
    run = invoke("generate", "--seed", "4", "-n", "2", "--sample", sample, "-o", tmp_path)
    assert run.returncode == 0, run.stderr
    for path in sorted(tmp_path.iterdir()):
        data = json.loads(path.read_text(encoding="utf-8"))
        assert list(data) == [key for key in template if key != "answers"]
        assert data["input"] != template["input"]
        assert json.dumps(data["input"]).count("[") == json.dumps(template["input"]).count("[")
        for key in ("pool", "activation", "stride", "questions", "loss"):
            assert data.get(key) == template.get(key)
        result = cnnstep.solve(data).result
        assert all(_short(n) for n in _numbers(result)), path.name
        # the problem's own solution, as answers, is marked all right
        answers = {key: value for key, value in result.items() if key != "history"}
        assert cnnstep.check(data, json.loads(json.dumps(answers, default=str))).correct


def test_the_same_seed_gives_the_same_files(tmp_path: Path) -> None:
    args = ["generate", "--seed", "9", "-n", "3", "--sample", "conv3d-exercise"]
    for name in ("a", "b"):
        assert invoke(*args, "-o", tmp_path / name).returncode == 0
    for path in sorted((tmp_path / "a").iterdir()):
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes()
    assert invoke("generate", "--seed", "10", "--sample", "conv3d-exercise",
                  "-o", tmp_path / "c").returncode == 0
    assert ((tmp_path / "c" / "problem-01.json").read_bytes()
            != (tmp_path / "a" / "problem-01.json").read_bytes())


def test_a_pool_has_no_ties_and_a_relu_no_dead_map() -> None:
    template = json.loads((SAMPLES / "maxpool3d-alone.json").read_text(encoding="utf-8"))
    for data in generate(from_template(template, Exercise(style="integers")), seed=3,
                         count=4):
        arrays = cnnstep.solve(data).result
        assert any(n != 0 for n in _numbers(arrays["output"]))
    with_ties = generate(from_template(template, Exercise(style="integers", ties=True)),
                         seed=3, count=4)
    assert len(with_ties) == 4


def test_ask_writes_the_questions_and_checks_them(tmp_path: Path) -> None:
    run = invoke("generate", "--seed", "1", "--sample", "conv3d-small", "--ask",
                 "grad_input[1][1][1]=2", "--ask", "loss", "-o", tmp_path)
    assert run.returncode == 0, run.stderr
    data = json.loads((tmp_path / "problem-01.json").read_text(encoding="utf-8"))
    assert data["questions"] == {"grad_input[1][1][1]": 2, "loss": 1}
    assert_one_line_error(invoke("generate", "--seed", "1", "--sample", "conv3d-small",
                                 "--ask", "grad_input[0][0][9]", "-o", tmp_path / "x"),
                          "ask:", "grad_input[0][0][9]", "out of range")


def _template(tmp_path: Path, **changes: Any) -> Path:
    data = json.loads((SAMPLES / "conv3d-small.json").read_text(encoding="utf-8"))
    data.update(changes)
    path = tmp_path / "template.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(("changes", "needles"), [
    ({"activation": "tanh"}, ("activation: tanh has no exact values",)),
    ({"input": [[[1, 2, 3, 4]] * 3] * 3, "pool": {"type": "mean", "size": [1, 1, 3]},
      "target": [[[0]] * 2] * 2}, ("pool.size: a mean over a 1×1×3 window",)),
    ({"input": [[[1, 2, 3, 4]] * 3] * 3, "target": [[[0, 0, 0]] * 2] * 2},
     ("an MSE over 12 outputs",)),
])
def test_hopeless_templates_are_refused_at_once(tmp_path: Path, changes: dict[str, Any],
                                                needles: tuple[str, ...]) -> None:
    run = invoke("generate", "--seed", "1", "--template", _template(tmp_path, **changes),
                 "-o", tmp_path / "out")
    assert_one_line_error(run, *needles)
    assert not (tmp_path / "out").exists()


def test_fixed_factors_are_refused_as_for_a_2d_template(tmp_path: Path) -> None:
    assert_one_line_error(
        invoke("generate", "--seed", "1", "--sample", "conv3d-small", "--places", "2",
               "-o", tmp_path),
        "grad_input: every entry is a multiple of 0.025", "the MSE's 2/8")
    with pytest.raises(GenerateError, match="no draw in 3"):
        template = json.loads((SAMPLES / "conv3d-small.json").read_text(encoding="utf-8"))
        generate(from_template(template, Exercise(places=3)), seed=1, count=1, max_draws=3)


def test_a_transposed_template(tmp_path: Path) -> None:
    template = _template(tmp_path, **json.loads(
        (SAMPLES / "conv3d-transpose-stride2.json").read_text(encoding="utf-8")))
    assert_one_line_error(invoke("generate", "--seed", "1", "--template", template,
                                 "-o", tmp_path / "a"), "an MSE over 27 outputs")
    data = json.loads(template.read_text(encoding="utf-8"))
    template.write_text(json.dumps({**data, "loss": "sse"}), encoding="utf-8")
    run = invoke("generate", "--seed", "1", "--template", template, "-o", tmp_path / "b")
    assert run.returncode == 0, run.stderr
    drawn = json.loads((tmp_path / "b" / "problem-01.json").read_text(encoding="utf-8"))
    assert drawn["layer"] == "conv_transpose" and drawn["output_padding"] == 1
    assert all(_short(parse_number(str(n))) for n in _numbers(cnnstep.solve(drawn).result))
