"""Writing results: atomic files, inputs never overwritten, any stdout encoding."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from cnnstep.output import OutputError, encodable, to_stdout, write


def test_a_file_is_written_whole(tmp_path: Path) -> None:
    target = tmp_path / "key.tex"
    target.write_text("old", encoding="utf-8")
    write("new ∂L/∂X₁₁\n", target)
    assert target.read_text(encoding="utf-8") == "new ∂L/∂X₁₁\n"
    assert [p.name for p in tmp_path.iterdir()] == ["key.tex"]  # no temporary left


def test_a_failed_write_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "key.tex"
    with pytest.raises(OutputError, match="cannot write"):
        write("x", target)
    assert not target.exists()


def test_an_input_file_is_not_overwritten(tmp_path: Path) -> None:
    problem = tmp_path / "p.json"
    problem.write_text("{}", encoding="utf-8")
    with pytest.raises(OutputError, match="input file"):
        write("x", tmp_path / "." / "p.json", inputs=[problem])
    assert problem.read_text(encoding="utf-8") == "{}"


def test_dash_is_standard_output(capsys: pytest.CaptureFixture[str]) -> None:
    write("to stdout\n", "-")
    assert capsys.readouterr().out == "to stdout\n"


@pytest.mark.parametrize("encoding", ["cp1252", "ascii", "latin-1"])
def test_stand_ins_for_a_narrow_encoding(encoding: str) -> None:
    text = "∂L/∂Z₁₁ = (2/4)×(1.6−1) ≈ 0.3 ⌊x⌋ σ′ │"
    plain = encodable(text, encoding)
    plain.encode(encoding)  # never raises
    assert "dL/dZ11" in plain and "x(1.6-1)" in plain and "~= 0.3" in plain
    assert encodable(text, "utf-8") == text


def test_unwritable_stdout_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", None)
    with pytest.raises(OutputError, match="closed"):
        to_stdout("x")
    closed = io.StringIO()
    closed.close()
    monkeypatch.setattr(sys, "stdout", closed)
    with pytest.raises(OutputError, match="cannot write to standard output"):
        to_stdout("x")
