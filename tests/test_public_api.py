"""cnnstep as a Python package: what it shows, how it marks, how it is packaged.

* ``import cnnstep`` shows its public names (``__all__``, ``dir``, ``help``),
  each documented with an example (the examples themselves run as doctests);
* ``cnnstep.check`` marks answers given as a path, JSON text or a mapping;
* the samples come with the package, and ``--sample`` and completion reach them;
* the package metadata: the licence, the typing marker, no upper pin on typer.
"""

from __future__ import annotations

import doctest
import inspect
import json
import pydoc
import re
import tomllib
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT, SAMPLES, invoke

import cnnstep
from cnnstep import samples

SMALL = {"input": [[1, 2], [3, 4]], "filter": [[0.5]], "target": [[0, 1], [1, 2]]}
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------
# the public names


def test_dir_lists_the_public_api() -> None:
    assert dir(cnnstep) == sorted([*cnnstep.__all__, "__version__"])
    assert {"solve", "check", "sample", "Worked", "Formulas", "Report",
            "ProblemError"} <= set(cnnstep.__all__)
    for name in cnnstep.__all__:
        assert getattr(cnnstep, name) is not None


def test_help_shows_the_functions_and_types() -> None:
    text = pydoc.render_doc(cnnstep, renderer=pydoc.plaintext)
    for name in ("solve(", "check(", "class Worked", "class Report", "class Formulas"):
        assert name in text, name


def test_check_is_the_function_after_the_subpackage_is_imported() -> None:
    """``cnnstep.check`` is both a function and the subpackage that does the marking;
    importing the subpackage does not take the name from the function."""
    import cnnstep.check.marking

    assert callable(cnnstep.check) and inspect.isfunction(cnnstep.check)
    from cnnstep.check import Report

    assert Report is cnnstep.Report


def _public_members() -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for name in cnnstep.__all__:
        value = getattr(cnnstep, name)
        if inspect.isfunction(value):
            found.append((name, value))
        elif inspect.isclass(value) and not issubclass(value, Exception):
            found.append((name, value))
            for member, attribute in inspect.getmembers(value):
                if member.startswith("_"):
                    continue
                if inspect.isfunction(attribute) or isinstance(attribute, property):
                    found.append((f"{name}.{member}", attribute))
    return found


@pytest.mark.parametrize(("name", "member"), _public_members(),
                         ids=[name for name, _ in _public_members()])
def test_every_public_function_and_method_has_an_example(name: str, member: Any) -> None:
    doc = inspect.getdoc(member) or ""
    assert doc, f"{name} has no docstring"
    if not (name.endswith(".derivation") and "subclasses" in doc):
        assert ">>>" in doc, f"{name} has no example in its docstring"


def test_readme_python_examples_run() -> None:
    """The README's Python section is doctested here, as the package's docstrings are."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Python\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```pycon\n(.*?)```", section, flags=re.DOTALL)
    assert blocks, "the README's Python section has no examples"
    # one session: the later blocks use what the earlier ones made
    examples = doctest.DocTestParser().get_doctest("\n".join(blocks), {}, "README.md Python",
                                                  "README.md", 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    report: list[str] = []
    runner.run(examples, out=report.append)
    assert runner.summarize(verbose=False).failed == 0, "".join(report)


def test_doctests_are_part_of_the_test_command() -> None:
    """The README's `python -m pytest` runs the package's docstrings too."""
    options = PYPROJECT["tool"]["pytest"]["ini_options"]
    assert "--doctest-modules" in options["addopts"]
    assert "cnnstep" in options["testpaths"]


# --------------------------------------------------------------------------
# solving and marking


def test_text_is_80_columns_unless_told() -> None:
    worked = cnnstep.solve(cnnstep.sample("seed003-rgb-edge-stride2"))
    assert max(map(len, worked.to_text().splitlines())) == 80
    assert max(map(len, worked.to_text(width=120).splitlines())) == 120
    report = cnnstep.check(cnnstep.sample("exercise-with-answers"))
    assert max(map(len, report.to_text().splitlines())) <= 80


def test_check_takes_paths_text_and_mappings(tmp_path: Path) -> None:
    answers = {"output": [[0.5, 1], [1.5, 2.5]], "loss": "1/8"}
    problem_file = tmp_path / "problem.json"
    problem_file.write_text(json.dumps(SMALL), encoding="utf-8")
    answers_file = tmp_path / "answers.json"
    answers_file.write_text(json.dumps(answers), encoding="utf-8")
    reports = [cnnstep.check(SMALL, answers), cnnstep.check(problem_file, answers_file),
               cnnstep.check(str(problem_file), json.dumps(answers)),
               cnnstep.check(json.dumps(SMALL), str(answers_file))]
    for report in reports:
        assert (report.correct, report.right, report.total) == (False, 4, 14)
        assert report.wrong_entries() == ["output[1][1]"]
    assert cnnstep.check({**SMALL, "questions": ["output"]}, {"output": [[0.5, 1], [1.5, 2.5]]},
                         tolerance=Fraction(1, 2)).correct


def test_check_marks_the_answers_inside_the_problem() -> None:
    with_answers = cnnstep.sample("exercise-with-answers")
    report = cnnstep.check(with_answers)
    run = invoke("check", with_answers, "--format", "json")
    assert run.returncode == 1
    assert json.loads(report.to_json()) == json.loads(run.stdout)


@pytest.mark.parametrize(("problem", "answers", "tolerance", "message"), [
    (SMALL, None, None, "no answers to mark"),
    (SMALL, {"loss": 0.1}, "-1", "tolerance: cannot be negative"),
    (SMALL, {"los": 0.1}, None, "los: not a quantity of this problem's result; "
                                "did you mean 'loss'?"),
    (SMALL, {"loss": [1]}, None, "loss: expected a number"),
    ({"input": {"shape": [2, 2]}, "filter": {"shape": [1, 1]}}, {"output": 1}, None,
     "is for a symbolic derivation"),
    ("no-such-problem.json", {"loss": 1}, None, "no-such-problem.json: no such file"),
    (SMALL, "no-such-answers.json", None, "no-such-answers.json: no such file"),
])
def test_check_refuses_bad_input(problem: Any, answers: Any, tolerance: Any,
                                 message: str) -> None:
    with pytest.raises(cnnstep.ProblemError, match=re.escape(message)):
        cnnstep.check(problem, answers, tolerance=tolerance)


# --------------------------------------------------------------------------
# the samples


def test_every_sample_is_in_the_package() -> None:
    assert SAMPLES.resolve() == samples.FOLDER
    assert samples.names() == sorted(p.stem for p in SAMPLES.glob("*.json"))
    assert cnnstep.sample("seed000") == SAMPLES.resolve() / "seed000-filter-update.json"
    with pytest.raises(cnnstep.ProblemError, match="could be seed001-stride1 or"):
        cnnstep.sample("seed001")
    with pytest.raises(cnnstep.ProblemError, match="no sample is called 'nope'"):
        cnnstep.sample("nope")


def test_sample_option_is_the_file(tmp_path: Path) -> None:
    by_name = invoke("solve", "--sample", "seed000", "--format", "json", cwd=tmp_path)
    by_path = invoke("solve", SAMPLES / "seed000-filter-update.json", "--format", "json")
    assert by_name.returncode == 0, by_name.stderr
    assert by_name.stdout == by_path.stdout


@pytest.mark.parametrize(("args", "message"), [
    (("solve",), "give a problem file, or --sample NAME"),
    (("solve", "--sample", "seed0"), "--sample: 'seed0' could be seed000-filter-update, "),
    (("solve", "p.json", "--sample", "seed000"), "not both"),
    (("check", "--sample", "zzz"), "--sample: no sample is called 'zzz'"),
    (("export", "--to", "moodle", "-o", "quiz.xml"), "give problem files, or --sample NAME"),
    (("export", "--to", "moodle", "-o", "quiz.xml", "--sample", "x"), "no sample is called"),
    (("generate", "--seed", "1", "-o", "out", "--template", "t.json", "--sample", "seed000"),
     "not both"),
])
def test_sample_option_errors(args: tuple[str, ...], message: str) -> None:
    run = invoke(*args)
    assert run.returncode == 2
    assert run.stderr.startswith("cnnstep: error: ") and message in run.stderr, run.stderr


def test_export_and_generate_take_samples(tmp_path: Path) -> None:
    quiz = tmp_path / "quiz.xml"
    run = invoke("export", "--to", "moodle", SAMPLES / "half-sse.json", "--sample", "meanpool",
                 "-o", quiz)
    assert run.returncode == 0, run.stderr
    assert quiz.read_text(encoding="utf-8").count("<question type=\"cloze\">") == 2
    by_name = invoke("generate", "--seed", "3", "--sample", "seed000", "-o", tmp_path / "a")
    by_path = invoke("generate", "--seed", "3", "--template",
                     SAMPLES / "seed000-filter-update.json", "-o", tmp_path / "b")
    assert by_name.returncode == by_path.returncode == 0, by_name.stderr + by_path.stderr
    written = sorted(path.name for path in (tmp_path / "a").iterdir())
    assert written == sorted(path.name for path in (tmp_path / "b").iterdir())
    for name in written:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_check_with_a_sample_takes_every_file_as_answers(tmp_path: Path) -> None:
    right = tmp_path / "right.json"  # the whole key: every asked quantity answered
    right.write_text(cnnstep.solve(cnnstep.sample("seed000-filter-update")).to_json(),
                     encoding="utf-8")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"loss": 0.3}), encoding="utf-8")
    one = invoke("check", "--sample", "seed000", right)
    assert one.returncode == 0, one.stderr
    both = invoke("check", "--sample", "seed000", right, wrong, "--format", "json")
    assert both.returncode == 1, both.stderr
    assert [report["correct"] for report in json.loads(both.stdout)] == [True, False]


# --------------------------------------------------------------------------
# shell completion


def test_completion_can_be_installed() -> None:
    run = invoke("--help", env={"COLUMNS": "200"})
    assert "--install-completion" in run.stdout and "--show-completion" in run.stdout


def test_bash_completes_sample_names() -> None:
    run = invoke(env={"_CNNSTEP_COMPLETE": "complete_bash",
                      "COMP_WORDS": "cnnstep solve --sample seed00", "COMP_CWORD": "3"})
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == [n for n in samples.names() if n.startswith("seed00")]


# --------------------------------------------------------------------------
# packaging


def test_license_is_an_spdx_expression_with_its_file() -> None:
    project = PYPROJECT["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "the cnnstep authors" in text
    assert not any(c.startswith("License ::") for c in project["classifiers"])


def test_typing_marker_and_samples_are_package_data() -> None:
    data = PYPROJECT["tool"]["setuptools"]["package-data"]
    assert "py.typed" in data["cnnstep"] and (ROOT / "cnnstep" / "py.typed").is_file()
    assert data["cnnstep.samples"] == ["*.json"]


def test_no_dependency_has_an_upper_bound() -> None:
    """An upper pin makes pip downgrade a package the user's other tools share."""
    capped = [d for d in PYPROJECT["project"]["dependencies"] if "<" in d]
    assert not capped, capped
