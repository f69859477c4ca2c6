"""``cnnstep export``: Moodle XML, a Canvas QTI zip and PrairieLearn questions.

Each export is parsed back as its platform reads it, and every blank is
compared with the exact result of ``cnnstep.solve``.
"""

from __future__ import annotations

import importlib.util
import json
import re
import uuid
import xml.etree.ElementTree as ET
import zipfile
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import SAMPLES, assert_one_line_error, invoke, worked_samples

import cnnstep
from cnnstep.export import export
from cnnstep.export.blanks import table, tolerance
from cnnstep.export.moodle import cdata
from cnnstep.output import OutputError
from cnnstep.problem import Problem, load
from cnnstep.quantities import last_key

#: the samples with numbers (the others give only shapes)
NUMERIC = sorted(path.name for path in worked_samples()
                 if isinstance(load(path), Problem))

#: how Moodle reads a cloze NUMERICAL answer and its tolerance
MOODLE_NUMBER = r"-?(?:[0-9]+[.,]?[0-9]*|[.,][0-9]+)(?:[eE][-+]?[0-9]+)?"
CLOZE = re.compile(rf"\{{([0-9]+):NUMERICAL:=({MOODLE_NUMBER}):({MOODLE_NUMBER})\}}")

QTI = "{http://www.imsglobal.org/xsd/ims_qtiasiv1p2}"
MANIFEST = "{http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1}"


def asked_result(worked: Any) -> dict[str, Any]:
    """The result's quantities a problem with no questions asks: all but the last
    stage's second name (with a pool, ``pooled`` is the ``output``)."""
    alias = last_key(worked.problem.layer) if worked.problem.layer.layered else None
    return {key: value for key, value in worked.result.items() if key != alias}


def entries(result: dict[str, Any]) -> list[tuple[str, Fraction]]:
    """Every entry of a result, in order: (name, exact value)."""
    out = []
    for key, value in result.items():
        # a history is a table: a row per training step, its loss then its weights
        array = (table(value) if key == "history" else np.array(value, dtype=object))
        for index in np.ndindex(array.shape):
            out.append((key + "".join(f"[{i}]" for i in index), array[index]))
    return out


def test_samples_are_found() -> None:
    assert "seed000-filter-update.json" in NUMERIC and len(NUMERIC) >= 10


# --------------------------------------------------------------------------
# Moodle


@pytest.mark.parametrize("sample", NUMERIC)
def test_moodle_blanks_are_the_result(sample: str, tmp_path: Path) -> None:
    out = tmp_path / "quiz.xml"
    export([SAMPLES / sample], to="moodle", path=out)
    text = out.read_text(encoding="utf-8")
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<quiz>')
    (question,) = ET.fromstring(text).findall("question")
    assert question.get("type") == "cloze"
    assert question.findtext("name/text") == Path(sample).stem
    assert question.find("questiontext").get("format") == "html"  # type: ignore[union-attr]
    html = question.findtext("questiontext/text") or ""
    assert "<![CDATA[" in text and "<table" in html
    assert len(question.findtext("generalfeedback/text") or "") > 100

    worked = cnnstep.solve(SAMPLES / sample)
    blanks = CLOZE.findall(html)
    assert len(blanks) == html.count(":NUMERICAL:")
    expected = entries(asked_result(worked))
    assert len(blanks) == len(expected)
    by_key: dict[str, int] = {}
    for (weight, shown, tol), (name, value) in zip(blanks, expected, strict=True):
        assert abs(Fraction(shown) - value) <= Fraction(tol), (name, shown, value)
        decimals = len(shown.partition(".")[2])
        assert Fraction(tol) == tolerance(min(decimals, 4)), name
        key = name.partition("[")[0]
        by_key[key] = by_key.get(key, 0) + int(weight)
    # one point per quantity, shared by its entries
    assert len(set(by_key.values())) == 1, by_key


def test_moodle_several_problems_one_question_each(tmp_path: Path) -> None:
    out = tmp_path / "quiz.xml"
    export([SAMPLES / "half-sse.json", SAMPLES / "meanpool.json"], to="moodle", path=out)
    names = [q.findtext("name/text") for q in ET.parse(out).getroot()]
    assert names == ["half-sse", "meanpool"]


def test_cdata_holds_anything() -> None:
    text = "<p>a]]>b</p>"
    root = ET.fromstring(f"<t>{cdata(text)}</t>")
    assert root.text == text


# --------------------------------------------------------------------------
# Canvas


def _zip(paths: list[Path], tmp_path: Path) -> zipfile.ZipFile:
    out = tmp_path / "quiz.zip"
    export(paths, to="canvas", path=out)
    return zipfile.ZipFile(out)


def test_canvas_manifest_names_every_file(tmp_path: Path) -> None:
    archive = _zip([SAMPLES / "seed000-filter-update.json"], tmp_path)
    names = set(archive.namelist())
    manifest = ET.fromstring(archive.read("imsmanifest.xml"))
    assert manifest.tag == f"{MANIFEST}manifest"
    hrefs = {f.get("href") for f in manifest.iter(f"{MANIFEST}file")}
    assert hrefs == names - {"imsmanifest.xml"}
    resource = manifest.find(f"{MANIFEST}resources/{MANIFEST}resource")
    assert resource is not None and resource.get("type") == "imsqti_xmlv1p2"
    for name in names:
        ET.fromstring(archive.read(name))  # well formed


#: the samples whose Canvas quiz is checked item by item: each item carries its entry's
#: worked derivation as HTML, so a quiz takes a while; these have every kind of blank
#: (one number, entries of arrays of one to four axes, a batch's, the history of training
#: steps, rounded values, asked questions) that the Moodle test checks for every sample
CANVAS = ["seed000-filter-update.json", "seed003-rgb-edge-stride2.json", "relu-maxpool.json",
          "batch-2-images.json", "training-three-steps.json", "sigmoid-half-sse.json",
          "exercise-with-answers.json", "conv-transpose-stride2.json", "conv1d.json"]


def test_the_canvas_samples_are_samples() -> None:
    assert set(CANVAS) <= set(NUMERIC)


@pytest.mark.parametrize("sample", CANVAS)
def test_canvas_questions_are_the_result(sample: str, tmp_path: Path) -> None:
    archive = _zip([SAMPLES / sample], tmp_path)
    (name,) = [n for n in archive.namelist() if n.endswith(".xml") and
               Path(n).stem == Path(n).parent.name]
    root = ET.fromstring(archive.read(name))
    assert root.tag == f"{QTI}questestinterop"
    items = list(root.iter(f"{QTI}item"))

    def field(item: ET.Element, label: str) -> str:
        for entry in item.iter(f"{QTI}qtimetadatafield"):
            if entry.findtext(f"{QTI}fieldlabel") == label:
                return entry.findtext(f"{QTI}fieldentry") or ""
        raise AssertionError(label)

    assert field(items[0], "question_type") == "text_only_question"
    numerical = items[1:]
    assert all(field(item, "question_type") == "numerical_question" for item in numerical)
    worked = cnnstep.solve(SAMPLES / sample)
    expected = entries(asked_result(worked))
    assert len(numerical) == len(expected)
    for item, (entry, value) in zip(numerical, expected, strict=True):
        assert item.get("title", "").endswith(": " + entry)
        condition = item.find(f"{QTI}resprocessing/{QTI}respcondition[@continue='No']")
        assert condition is not None
        shown = Fraction(condition.findtext(f".//{QTI}varequal") or "")
        low = Fraction(condition.findtext(f".//{QTI}vargte") or "")
        high = Fraction(condition.findtext(f".//{QTI}varlte") or "")
        assert low <= value <= high and shown - low == high - shown <= Fraction(1, 100)
        assert condition.findtext(f"{QTI}setvar") == "100"
        feedback = item.findtext(f".//{QTI}itemfeedback[@ident='general_fb']//{QTI}mattext")
        assert feedback
    points = sum(Fraction(field(item, "points_possible")) for item in numerical)
    assert points == len(asked_result(worked))


# --------------------------------------------------------------------------
# PrairieLearn


def _generate(server: Path) -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location(f"server_{uuid.uuid4().hex}", server)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    data: dict[str, Any] = {"params": {}, "correct_answers": {}}
    module.generate(data)
    return data


def expected_answers(result: dict[str, Any]) -> dict[str, Any]:
    """The answers-names and values the question must have: a matrix per 2-D slice."""
    out: dict[str, Any] = {}
    for key, value in result.items():
        array = (table(value) if key == "history" else np.array(value, dtype=object))
        if array.ndim == 0:
            out[key] = array.item()
        elif array.ndim == 1:
            out[key] = [array.tolist()]
        elif array.ndim == 2:
            out[key] = array.tolist()
        else:
            for lead in np.ndindex(array.shape[:-2]):
                out[key + "".join(f"_{i}" for i in lead)] = array[lead].tolist()
    return out


@pytest.mark.parametrize("sample", NUMERIC)
def test_prairielearn_question_is_the_result(sample: str, tmp_path: Path) -> None:
    export([SAMPLES / sample], to="prairielearn", path=tmp_path / "questions")
    directory = tmp_path / "questions" / Path(sample).stem
    assert sorted(p.name for p in directory.iterdir()) == [
        "info.json", "question.html", "server.py"]
    info = json.loads((directory / "info.json").read_text(encoding="utf-8"))
    assert info["type"] == "v3" and info["title"] == Path(sample).stem and info["topic"]
    uuid.UUID(info["uuid"])

    data = _generate(directory / "server.py")
    assert "<" in data["params"]["solution_html"]
    worked = cnnstep.solve(SAMPLES / sample)
    expected = expected_answers(asked_result(worked))
    assert list(data["correct_answers"]) == list(expected)
    for name, value in expected.items():
        given = np.array(data["correct_answers"][name], dtype=float)
        exact = np.array(value, dtype=object)
        assert given.shape == exact.shape, name
        for index in np.ndindex(exact.shape):
            assert given[index] == pytest.approx(float(exact[index]), rel=1e-15, abs=1e-300)

    html = (directory / "question.html").read_text(encoding="utf-8")
    elements = re.findall(r'<pl-(matrix-component|number)-input answers-name="([^"]+)"'
                          r'[^>]* atol="([^"]+)" weight="([0-9]+)"', html)
    assert [name for _, name, _, _ in elements] == list(expected)
    assert all(kind == ("number" if np.ndim(expected[name]) == 0 else "matrix-component")
               for kind, name, _, _ in elements)
    for _, name, atol, _ in elements:
        assert Fraction(atol) in {tolerance(d) for d in range(5)}, (name, atol)
    assert "<pl-question-panel>" in html and "{{{params.solution_html}}}" in html


def test_prairielearn_uuid_is_the_problems(tmp_path: Path) -> None:
    def uid(path: Path, out: Path) -> str:
        export([path], to="prairielearn", path=out)
        info = json.loads((out / path.stem / "info.json").read_text(encoding="utf-8"))
        return str(info["uuid"])

    first = uid(SAMPLES / "seed000-filter-update.json", tmp_path / "a")
    assert uid(SAMPLES / "seed000-filter-update.json", tmp_path / "b") == first
    assert uid(SAMPLES / "half-sse.json", tmp_path / "d") != first


def test_prairielearn_replaces_only_its_own_questions(tmp_path: Path) -> None:
    out = tmp_path / "questions"
    sample = SAMPLES / "seed000-filter-update.json"
    export([sample], to="prairielearn", path=out)
    export([sample], to="prairielearn", path=out)  # an earlier export is replaced
    (out / "seed000-filter-update" / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(OutputError, match=r"notes\.txt"):
        export([sample], to="prairielearn", path=out)
    assert (out / "seed000-filter-update" / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_repeated_titles_get_their_own_directories(tmp_path: Path) -> None:
    sample = SAMPLES / "seed000-filter-update.json"
    items = export([sample, sample], to="prairielearn", path=tmp_path / "q")
    assert [item.slug for item in items] == ["seed000-filter-update", "seed000-filter-update-2"]
    assert items[0].uid != items[1].uid


# --------------------------------------------------------------------------
# the command


def test_command_writes_each_platform(tmp_path: Path) -> None:
    sample = str(SAMPLES / "seed000-filter-update.json")
    for to, name in [("moodle", "quiz.xml"), ("canvas", "quiz.zip"),
                     ("prairielearn", "questions")]:
        run = invoke("export", "--to", to, sample, "-o", tmp_path / name)
        assert (run.returncode, run.stdout, run.stderr) == (0, "", "")
        assert (tmp_path / name).exists()
    assert zipfile.is_zipfile(tmp_path / "quiz.zip")


def test_command_refuses_a_problem_without_numbers(tmp_path: Path) -> None:
    run = invoke("export", "--to", "moodle", SAMPLES / "symbolic-3x3-2x2.json",
                 "-o", tmp_path / "q.xml")
    assert_one_line_error(run, "symbolic-3x3-2x2.json", "only shapes")
    assert not (tmp_path / "q.xml").exists()


def test_command_refuses_bad_output(tmp_path: Path, problem_file: Any) -> None:
    path = problem_file({"input": [[1, 2], [3, 4]], "filter": [[1]]})
    before = path.read_text(encoding="utf-8")
    assert_one_line_error(invoke("export", "--to", "canvas", path, "-o", path), "input file")
    assert path.read_text(encoding="utf-8") == before
    assert_one_line_error(invoke("export", "--to", "canvas", path, "-o", "-"), "zip")
    assert_one_line_error(invoke("export", "--to", "moodle", path, "-o",
                                 tmp_path / "missing" / "q.xml"), "cannot write")
    assert_one_line_error(invoke("export", "--to", "moodle", tmp_path / "nothing.json",
                                 "-o", tmp_path / "q.xml"), "nothing.json")
    assert not list(tmp_path.glob(".*"))


def test_command_to_standard_output_for_moodle(problem_file: Any) -> None:
    path = problem_file({"input": [[1, 2], [3, 4]], "filter": [[1]]})
    run = invoke("export", "--to", "moodle", path, "-o", "-")
    assert run.returncode == 0 and run.stdout.startswith("<?xml")
    assert ET.fromstring(run.stdout).tag == "quiz"


def test_command_offers_every_platform() -> None:
    from cnnstep.cli import Platform
    from cnnstep.export import PLATFORMS

    assert [platform.value for platform in Platform] == list(PLATFORMS)


def test_command_makes_the_question_directory(tmp_path: Path) -> None:
    out = tmp_path / "course" / "questions" / "cnn"
    run = invoke("export", "--to", "prairielearn", SAMPLES / "meanpool.json", "-o", out)
    assert run.returncode == 0, run.stderr
    assert (out / "meanpool" / "info.json").is_file()
