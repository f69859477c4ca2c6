"""Plain text is drawn without rich as rich draws it.

:func:`cnnstep.render.text.boxed` writes the table rich's ``Table(box=box.SQUARE,
padding=(0, 1))`` of right-justified columns draws when it fits the width,
:func:`~cnnstep.render.text.titled` the derivation's title in a ``Panel`` and
:func:`~cnnstep.render.text.ruled` a step's heading on a rule; here both draw the
same text, chosen at random, and must agree character for character. The width
of plain text is the one rich's console takes.
"""

from __future__ import annotations

import io
import os

import pytest
import rich.control
from hypothesis import given, settings
from hypothesis import strategies as st
from rich import box
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text as RichText

from cnnstep.render.text import (
    _plain,
    boxable,
    boxed,
    plain_width,
    ruled,
    strip_control_codes,
    titled,
)

#: what matrix cells are made of: digits and signs, the filler, fractions and
#: decimals, letters of a symbolic entry, a character two terminal cells wide, and
#: spaces inside a cell (``≈ 0.83``; a cell never starts or ends with one)
CELL = st.text(alphabet="0123456789−-·/.≈xyz漢 ", min_size=0, max_size=6).map(str.strip)


def _console(buffer: io.StringIO, width: int = 400) -> Console:
    return Console(file=buffer, width=width, highlight=False, emoji=False, markup=False,
                   color_system=None)


def _rich(header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    console = _console(buffer)
    table = Table(box=box.SQUARE, show_header=True, header_style="dim", padding=(0, 1))
    table.add_column(header[0], style="dim", justify="right")
    for heading in header[1:]:
        table.add_column(heading, justify="right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    return _plain(buffer.getvalue())


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    columns = draw(st.integers(1, 5))
    header = ["", *draw(st.lists(CELL, min_size=columns, max_size=columns))]
    rows = draw(st.lists(st.lists(CELL, min_size=columns + 1, max_size=columns + 1),
                         min_size=1, max_size=4))
    return header, rows


@settings(max_examples=60, deadline=None)
@given(tables())
def test_boxed_is_the_table_rich_draws(table: tuple[list[str], list[list[str]]]) -> None:
    header, rows = table
    assert boxed(header, rows) + "\n" == _rich(header, rows)


def test_a_matrix_of_numbers() -> None:
    header, rows = ["", "1", "2"], [["1", "−3/4", "·"], ["2", "10", "0.5"]]
    assert boxed(header, rows) == (
        "┌───┬──────┬─────┐\n"
        "│   │    1 │   2 │\n"
        "├───┼──────┼─────┤\n"
        "│ 1 │ −3/4 │   · │\n"
        "│ 2 │   10 │ 0.5 │\n"
        "└───┴──────┴─────┘"
    )


def test_a_cell_with_spaces_at_its_ends_is_left_to_rich() -> None:
    assert boxable([["1", "≈ 0.5"]])
    assert not boxable([["1", " 0"]])
    assert not boxable([["1", "a\nb"]])


#: a title: words, the characters the headings use, one two cells wide, and
#: control codes rich drops
TITLE = st.text(alphabet="abc XYZ:()—·1漢\r\x07", min_size=1, max_size=50)


@settings(max_examples=60, deadline=None)
@given(TITLE, st.integers(20, 60))
def test_titled_is_the_panel_rich_draws(title: str, width: int) -> None:
    drawn = titled(title, width)
    if drawn is None:  # too wide: rich draws it
        return
    buffer = io.StringIO()
    _console(buffer, width).print(Panel(RichText(title, style="bold"), expand=False))
    assert drawn + "\n" == _plain(buffer.getvalue())


@settings(max_examples=60, deadline=None)
@given(TITLE, st.integers(20, 60))
def test_ruled_is_the_rule_rich_draws(title: str, width: int) -> None:
    drawn = ruled(title, width)
    if drawn is None:
        return
    buffer = io.StringIO()
    _console(buffer, width).rule(RichText(title, style="bold cyan"), align="left")
    assert drawn + "\n" == _plain(buffer.getvalue())


def test_control_codes_are_those_rich_drops() -> None:
    text = "".join(map(chr, range(0, 160)))
    assert strip_control_codes(text) == rich.control.strip_control_codes(text)


@pytest.mark.parametrize("columns", [None, "57", "133"])
def test_plain_width_is_the_width_rich_takes(columns: str | None,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    if columns is not None:
        monkeypatch.setenv("COLUMNS", columns)
    assert plain_width(None) == Console(file=io.StringIO(), color_system=None).width
    assert plain_width(70) == 70


@pytest.mark.parametrize("name, value", [("COLUMNS", "0"), ("COLUMNS", "wide"),
                                         ("FORCE_COLOR", "1"), ("TTY_COMPATIBLE", "1")])
def test_plain_width_leaves_other_settings_to_rich(name: str, value: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(name, value)
    assert plain_width(None) is None
    assert os.environ[name] == value
