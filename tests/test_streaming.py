"""Written as it is made: a derivation built a step at a time, its equations as
they are read, and the LaTeX laid out and written piece by piece, the same
text as the whole render."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import invoke, rendered

import cnnstep
from cnnstep.cli import HINTS
from cnnstep.derivation.nodes import Deferred, Unfolding
from cnnstep.output import write_pieces
from cnnstep.render import Options

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "cnnstep" / "samples").glob("*.json"))
NUMERIC = [s for s in SAMPLES if '"shape"' not in s.read_text(encoding="utf-8")]


def _joined(sample: Path, fmt: str, **options: object) -> str:
    worked = cnnstep.solve(sample)
    return "".join(worked.stream(fmt, Options(hints=HINTS), **options))  # type: ignore[arg-type]


@pytest.mark.parametrize("sample", NUMERIC, ids=lambda p: p.stem)
def test_latex_in_pieces_is_the_whole_render(sample: Path) -> None:
    assert _joined(sample, "latex") == rendered(sample, "latex", hints=HINTS)


@pytest.mark.parametrize("fmt", ["text", "markdown", "html", "json"])
def test_every_format_streams_its_render(fmt: str) -> None:
    sample = ROOT / "cnnstep" / "samples" / "seed000-filter-update.json"
    options = {"width": 100} if fmt == "text" else {}
    expected = cnnstep.solve(sample).render(fmt, Options(hints=HINTS, **options))
    worked = cnnstep.solve(sample)
    assert "".join(worked.stream(fmt, Options(hints=HINTS, **options))) == expected


@pytest.mark.parametrize("options", [{"max_terms": 0}, {"max_terms": 5},
                                     {"detail": "brief"}, {"only": ["grad_filter"]}])
def test_shortened_and_selected_latex_streams_the_same(options: dict[str, object]) -> None:
    sample = ROOT / "cnnstep" / "samples" / "two-filters-padding.json"
    whole = cnnstep.solve(sample).render("latex", Options(hints=HINTS), **options)  # type: ignore[arg-type]
    assert _joined(sample, "latex", **options) == whole


def test_a_step_is_built_when_it_is_reached() -> None:
    sample = ROOT / "cnnstep" / "samples" / "two-filters-padding.json"
    head, steps = cnnstep.solve(sample).lazy_derivation("latex")
    assert head.steps == ()
    assert isinstance(steps, Iterator)
    first = next(steps)
    assert first.key == "given"
    unfolding = [step for step in steps if isinstance(step.blocks, Unfolding)]
    assert unfolding, "the steps that work out entries make their equations when read"
    step = unfolding[0]
    assert any(isinstance(block, Deferred) for block in tuple.__iter__(step.blocks))
    assert not any(isinstance(block, Deferred) for block in step.blocks)


def test_pieces_go_to_a_file_atomically(tmp_path: Path) -> None:
    target = tmp_path / "key.tex"
    write_pieces(iter(["a", "∂", "b" * 70_000]), target)
    assert target.read_text(encoding="utf-8") == "a∂" + "b" * 70_000
    assert [p.name for p in tmp_path.iterdir()] == ["key.tex"]


def test_pieces_that_stop_leave_no_file(tmp_path: Path) -> None:
    target = tmp_path / "key.tex"
    target.write_text("old", encoding="utf-8")

    def pieces() -> Iterator[str]:
        yield "x" * 100_000
        raise RuntimeError("stopped")

    with pytest.raises(RuntimeError):
        write_pieces(pieces(), target)
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["key.tex"]


def test_cli_latex_to_a_file_is_the_render(tmp_path: Path) -> None:
    sample = ROOT / "cnnstep" / "samples" / "two-filters-padding.json"
    target = tmp_path / "key.tex"
    run = invoke("solve", sample, "--format", "latex", "--max-terms", "0", "-o", target)
    assert run.returncode == 0, run.stderr
    expected = cnnstep.solve(sample).render("latex", Options(hints=HINTS), max_terms=0)
    assert target.read_text(encoding="utf-8") == expected


def test_cli_refuses_before_writing(tmp_path: Path) -> None:
    sample = ROOT / "cnnstep" / "samples" / "two-filters-padding.json"
    target = tmp_path / "key.tex"
    run = invoke("solve", sample, "--format", "latex", "--only", "nothing", "-o", target)
    assert run.returncode == 2
    assert run.stderr.startswith("cnnstep: error: --only ")
    assert not target.exists() and list(tmp_path.iterdir()) == []
