"""A matrix of plain text is boxed without rich: the box is the one rich draws.

:func:`cnnstep.render.text.boxed` writes the table rich's ``Table(box=box.SQUARE,
padding=(0, 1))`` of right-justified columns draws when it fits the width; here
both draw the same cells, chosen at random, and must agree character for
character.
"""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st
from rich import box
from rich.console import Console
from rich.table import Table

from cnnstep.render.text import _plain, boxable, boxed

#: what matrix cells are made of: digits and signs, the filler, fractions and
#: decimals, letters of a symbolic entry, a character two terminal cells wide, and
#: spaces inside a cell (``≈ 0.83``; a cell never starts or ends with one)
CELL = st.text(alphabet="0123456789−-·/.≈xyz漢 ", min_size=0, max_size=6).map(str.strip)


def _rich(header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=400, highlight=False, emoji=False, markup=False,
                      color_system=None)
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
