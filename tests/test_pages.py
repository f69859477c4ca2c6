"""The worked derivation at a length a TA can hand out: pages of the standalone
LaTeX document, compiled with pdflatex (all in one run, each document on pages of
its own: see test_latex_compiles.compile_batches).

| problem | full | brief | answers |
| --- | --- | --- | --- |
| seed 000 (3×3 image, 2×2 filter, MSE, update) | ≤ 3 | ≤ 2 | ≤ 1 |
| seed 003 (three channels, edge filter, max pool) | ≤ 12 | | |

Without pdflatex the tests are skipped (they fail when CI is set).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import rendered
from test_latex_compiles import compile_batches

SAMPLES = Path(__file__).resolve().parents[1] / "cnnstep" / "samples"

#: (sample, detail) → the most pages its document may take
TARGETS = {
    ("seed000-filter-update", "full"): 3,
    ("seed000-filter-update", "brief"): 2,
    ("seed000-filter-update", "answers"): 1,
    ("seed003-rgb-edge-maxpool", "full"): 12,
}

DETAILS = ("full", "brief", "answers")


@pytest.fixture(scope="module")
def pages(pdflatex: str, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], int]:
    """The pages of each document below: every sample of TARGETS at every detail."""
    documents = {(sample, detail) for sample, _ in TARGETS for detail in DETAILS}
    compiled = compile_batches(
        pdflatex, {f"{sample} --detail {detail}": rendered(SAMPLES / f"{sample}.json", "latex",
                                                           detail=detail)
                   for sample, detail in sorted(documents)},
        tmp_path_factory.mktemp("pages"))
    return {(sample, detail): compiled[f"{sample} --detail {detail}"].pages
            for sample, detail in documents}


@pytest.mark.parametrize(("sample", "detail"), [
    pytest.param(*case, id=f"{case[0]}-{case[1]}") for case in TARGETS])
def test_pages(sample: str, detail: str, pages: dict[tuple[str, str], int]) -> None:
    count = pages[sample, detail]
    assert count <= TARGETS[sample, detail], f"{sample} --detail {detail}: {count} pages"


def test_less_detail_is_shorter(pages: dict[tuple[str, str], int]) -> None:
    counts = [pages["seed003-rgb-edge-maxpool", detail] for detail in DETAILS]
    assert counts[0] > counts[1] > counts[2], counts
