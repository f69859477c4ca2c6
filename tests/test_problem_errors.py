"""Bad problem files through the command line, and the shapes of good ones.

Every bad input must give: exit status 2, nothing on standard output, exactly
one line on standard error starting ``cnnstep: error:`` that names the key
(and the position where one applies), and no traceback.
"""

from __future__ import annotations

import decimal
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from helpers import assert_one_line_error, invoke
from oracle import fr, naive_forward, shape_of

GOOD_INPUT = '"input": [[1, 2, 1], [0, 1, 2], [2, 1, 0]]'
GOOD_FILTER = '"filter": [[0.5, 0.2], [0.3, 0.7]]'
BASE = f"{GOOD_INPUT}, {GOOD_FILTER}"
TWO_FILTERS = '"filter": [[[[1, 0], [0, 1]]], [[[2, 0], [0, 2]]]]'
TWO_CHANNELS = '"input": [[[1, 2], [3, 4]], [[5, 6], [7, 8]]]'


def obj(*members: str) -> str:
    return "{" + ", ".join(members) + "}"


MISSING = object()
DIRECTORY = object()

#: id → (file content, substrings the one-line message must contain)
BAD: dict[str, tuple[Any, tuple[str, ...]]] = {
    # --- arrays: ragged, non-numbers, non-finite, empty, ranks
    "ragged-rows": (obj('"input": [[1, 2, 3], [4, 5, 6, 7]]', GOOD_FILTER),
                    ("input", "row 2 has 4 entries, row 1 has 3")),
    "ragged-third-row": (obj('"input": [[1, 2, 3], [4, 5, 6], [7, 8]]', GOOD_FILTER),
                         ("input", "row 3")),
    "ragged-channels": (obj('"input": [[[1, 2], [3, 4]], [[1, 2]]]',
                            '"filter": [[[1]], [[1]]]'), ("input", "channel 2")),
    "ragged-filter-number-row": (obj(GOOD_INPUT, '"filter": [[1, 2], 3]'), ("filter[1]",)),
    "ragged-list-in-row": (obj('"input": [[1, [2]], [3, 4]]', '"filter": [[1]]'),
                           ("input[0][1]",)),
    "non-number-string": (obj(GOOD_INPUT, '"filter": [[1, 2], ["a", 3]]'),
                          ("filter[1][0]", "expected a number", '"a"')),
    "non-number-object": (obj(GOOD_INPUT, '"filter": [[1, 2], [3, {}]]'), ("filter[1][1]",)),
    "nan": (obj('"input": [[1, NaN], [3, 4]]', '"filter": [[1]]'), ("input[0][1]", "NaN")),
    "infinity": (obj(GOOD_INPUT, '"filter": [[Infinity, 1], [1, 1]]'),
                 ("filter[0][0]", "Infinity")),
    "minus-infinity": (obj(BASE, '"bias": -Infinity'), ("bias", "-Infinity")),
    "nan-target": (obj(BASE, '"target": [[NaN, 1], [1, 1]]'), ("target[0][0]", "NaN")),
    "nan-learning-rate": (obj(BASE, '"target": [[1, 1], [1, 1]]', '"learning_rate": NaN'),
                          ("learning_rate", "NaN")),
    "true": (obj('"input": [[true, 2], [3, 4]]', '"filter": [[1]]'), ("input[0][0]", "true")),
    "false": (obj(GOOD_INPUT, '"filter": [[1, 2], [3, false]]'), ("filter[1][1]", "false")),
    "null-entry": (obj('"input": [[1, 2], [3, null]]', '"filter": [[1]]'),
                   ("input[1][1]", "null")),
    "null-input": (obj('"input": null', GOOD_FILTER), ("input", "null")),
    "null-learning-rate": (obj(BASE, '"target": [[1, 1], [1, 1]]', '"learning_rate": null'),
                           ("learning_rate", "null")),
    "empty-input": (obj('"input": []', GOOD_FILTER), ("input", "empty")),
    "empty-rows": (obj('"input": [[]]', GOOD_FILTER), ("input", "empty")),
    "empty-second-row": (obj('"input": [[1], []]', '"filter": [[1]]'), ("input",)),
    "empty-filter": (obj(GOOD_INPUT, '"filter": [[]]'), ("filter", "empty")),
    "1-d-input": (obj('"input": [1, 2, 3]', '"filter": [[1]]'), ("input", "1-D")),
    "5-d-filter": (obj('"input": [[1]]', '"filter": [[[[[1]]]]]'), ("filter", "5-D")),
    "5-d-input": (obj('"input": [[[[[1]]]]]', '"filter": [[1]]'), ("input", "5-D")),
    "number-input": (obj('"input": 3', GOOD_FILTER), ("input",)),
    "string-input": (obj('"input": "1 2 3"', GOOD_FILTER), ("input",)),
    "number-filter": (obj(GOOD_INPUT, '"filter": 0.5'), ("filter",)),
    # --- shapes that do not fit together
    "channel-mismatch-3d": (obj(TWO_CHANNELS, '"filter": [[[1]], [[1]], [[1]]]'),
                            ("filter", "3 channels", "input has 2")),
    "channel-mismatch-2d": (obj(TWO_CHANNELS, '"filter": [[1, 1], [1, 1]]'),
                            ("filter", "input has 2")),
    "channel-mismatch-4d": (obj(TWO_CHANNELS, '"filter": [[[[1]]], [[[1]]]]'),
                            ("filter", "input has 2")),
    "channel-mismatch-kernel": (obj(TWO_CHANNELS, '"kernel": [[[1]], [[1]], [[1]]]'),
                                ("kernel",)),
    "filter-too-large": (obj(GOOD_INPUT, '"filter": ' + json.dumps([[1] * 4] * 4)),
                         ("filter 4×4 is larger than the padded input 3×3",)),
    "filter-too-wide": (obj(GOOD_INPUT, '"filter": [[1, 1, 1, 1, 1, 1]]', '"padding": [0, 1]'),
                        ("filter 1×6 is larger than the padded input 3×5",)),
    # --- stride and padding
    "stride-0": (obj(BASE, '"stride": 0'), ("stride",)),
    "stride-1.5": (obj(BASE, '"stride": 1.5'), ("stride", "1.5")),
    "stride-string": (obj(BASE, '"stride": "2"'), ("stride",)),
    "stride-three": (obj(BASE, '"stride": [1, 2, 3]'), ("stride",)),
    "stride-one-item": (obj(BASE, '"stride": [2]'), ("stride",)),
    "stride-empty": (obj(BASE, '"stride": []'), ("stride",)),
    "stride-pair-zero": (obj(BASE, '"stride": [1, 0]'), ("stride[1]",)),
    "stride-negative": (obj(BASE, '"stride": -1'), ("stride",)),
    "stride-true": (obj(BASE, '"stride": true'), ("stride",)),
    "stride-null": (obj(BASE, '"stride": null'), ("stride",)),
    "stride-nested": (obj(BASE, '"stride": [[1], 1]'), ("stride[0]",)),
    "padding-negative": (obj(BASE, '"padding": -1'), ("padding",)),
    "padding-pair-negative": (obj(BASE, '"padding": [0, -2]'), ("padding[1]",)),
    "padding-fraction": (obj(BASE, '"padding": 0.5'), ("padding",)),
    "padding-string": (obj(BASE, '"padding": "1"'), ("padding",)),
    # --- target, grad_output, loss
    "target-and-grad-output": (obj(BASE, '"target": [[1, 1], [1, 1]]',
                                   '"grad_output": [[1, 1], [1, 1]]'),
                               ("target", "grad_output")),
    "target-wrong-shape": (obj(BASE, '"target": [[1, 1, 1], [1, 1, 1], [1, 1, 1]]'),
                           ("target", "[2][2]", "[3][3]")),
    "target-wrong-rank": (obj(BASE, '"target": [1, 1, 1, 1]'), ("target",)),
    "target-one-filter-3d-wrong": (obj(BASE, '"target": [[[1, 1], [1, 1]], [[1, 1], [1, 1]]]'),
                                   ("target",)),
    "target-ragged": (obj(BASE, '"target": [[1, 1], [1]]'), ("target", "row 2")),
    "target-not-number": (obj(BASE, '"target": [[1, 1], ["x", 1]]'), ("target[1][0]",)),
    "grad-output-wrong-shape": (obj(BASE, '"grad_output": [[1, 1]]'),
                                ("grad_output", "[2][2]")),
    "grad-output-2d-for-two-filters": (obj(GOOD_INPUT, TWO_FILTERS,
                                           '"grad_output": [[1, 1], [1, 1]]'),
                                       ("grad_output",)),
    "unknown-loss": (obj(BASE, '"target": [[1, 1], [1, 1]]', '"loss": "mae"'),
                     ("loss", "mae")),
    "loss-not-a-string": (obj(BASE, '"target": [[1, 1], [1, 1]]', '"loss": 2'), ("loss",)),
    "loss-wrong-case": (obj(BASE, '"target": [[1, 1], [1, 1]]', '"loss": "MSE"'), ("loss",)),
    "loss-without-target": (obj(BASE, '"loss": "mse"'), ("loss", "target")),
    "loss-with-grad-output": (obj(BASE, '"grad_output": [[1, 1], [1, 1]]', '"loss": "sse"'),
                              ("loss",)),
    "learning-rate-not-a-number": (obj(BASE, '"target": [[1, 1], [1, 1]]',
                                       '"learning_rate": "fast"'), ("learning_rate",)),
    "learning-rate-list": (obj(BASE, '"target": [[1, 1], [1, 1]]', '"learning_rate": [0.1]'),
                           ("learning_rate",)),
    # --- bias
    "bias-list-too-long": (obj(BASE, '"bias": [1, 2]'), ("bias", "1", "2")),
    "bias-list-too-short": (obj(GOOD_INPUT, TWO_FILTERS, '"bias": [1]'), ("bias",)),
    "bias-empty-list": (obj(BASE, '"bias": []'), ("bias",)),
    "number-bias-several-filters": (obj(GOOD_INPUT, TWO_FILTERS, '"bias": 1'),
                                    ("bias", "2 filters")),
    "bias-not-a-number": (obj(BASE, '"bias": "b"'), ("bias",)),
    "bias-nested": (obj(GOOD_INPUT, TWO_FILTERS, '"bias": [1, [2]]'), ("bias[1]",)),
    "bias-null-entry": (obj(GOOD_INPUT, TWO_FILTERS, '"bias": [1, null]'), ("bias[1]",)),
    # --- keys
    "unknown-key-strid": (obj(BASE, '"strid": 2'), ("strid", "did you mean 'stride'")),
    "unknown-key-paddings": (obj(BASE, '"paddings": 1'), ("paddings", "padding")),
    "unknown-key-far-off": (obj(BASE, '"zzz": 1'), ("zzz", "unknown key")),
    "filter-and-kernel": (obj(BASE, '"kernel": [[1]]'), ("kernel", "filter")),
    "missing-input": (obj(GOOD_FILTER), ("input", "missing")),
    "missing-filter": (obj(GOOD_INPUT), ("filter", "missing")),
    "duplicate-key": (obj(BASE, '"stride": 1', '"stride": 2'), ("stride", "twice")),
    "duplicate-key-in-notation": (obj(BASE, '"notation": {"input": "I", "input": "A"}'),
                                  ("input", "twice")),
    # --- numbers spelled badly
    "zero-denominator": (obj(GOOD_INPUT, '"filter": [[1, "1/0"], [1, 1]]'),
                         ("filter[0][1]", "1/0")),
    "huge-exponent-literal": (obj('"input": [[1e999999]]', '"filter": [[1]]'),
                              ("input[0][0]", "1e999999")),
    "huge-exponent-string": (obj('"input": [["1e999999"]]', '"filter": [[1]]'),
                             ("input[0][0]", "1e999999")),
    "tiny-exponent-literal": (obj('"input": [[1e-999999]]', '"filter": [[1]]'),
                              ("input[0][0]",)),
    "too-many-digits": (obj('"input": [[' + "1" * 5000 + "]]", '"filter": [[1]]'),
                        ("input[0][0]",)),
    "hex-string": (obj('"input": [["0x10"]]', '"filter": [[1]]'), ("input[0][0]",)),
    "nan-string": (obj('"input": [["NaN"]]', '"filter": [[1]]'), ("input[0][0]",)),
    "fraction-of-decimals": (obj('"input": [["0.5/2"]]', '"filter": [[1]]'),
                             ("input[0][0]",)),
    # --- the file itself
    "empty-file": ("", ("empty",)),
    "whitespace-only": ("  \n\t \n", ("empty",)),
    "not-utf8": (b'{"input": [[1]], "filter": [["\xff"]]}', ("UTF-8",)),
    "latin1-file": ('{"input": [[1]], "filter": [[1]], "notation": {"input": "é"}}'
                    .encode("latin-1"), ("UTF-8",)),
    "json-array": ("[[1, 2], [3, 4]]", ("object",)),
    "json-number": ("42", ("object",)),
    "json-string": ('"input"', ("object",)),
    "json-null": ("null", ("object",)),
    "syntax-error": ('{"input": [[1, 2],\n  [3 4]], "filter": [[1]]}', ("line 2", "column")),
    "truncated": ('{"input": [[1, 2], [3, 4]], "filter": [[1]', ("line 1", "column")),
    "trailing-comma": ('{"input": [[1]], "filter": [[1]],}', ("line 1", "column")),
    "single-quotes": ("{'input': [[1]], 'filter': [[1]]}", ("line 1", "column")),
    "nested-too-deeply": ("[" * 100_000, ("JSON",)),
    "missing-file": (MISSING, ("no such file",)),
    "directory": (DIRECTORY, ("directory",)),
    # --- notation
    "notation-unknown-key": (obj(BASE, '"notation": {"inptu": "X"}'),
                             ("notation.inptu", "input")),
    "notation-index-base-2": (obj(BASE, '"notation": {"index_base": 2}'),
                              ("notation.index_base",)),
    "notation-index-base-string": (obj(BASE, '"notation": {"index_base": "1"}'),
                                   ("notation.index_base",)),
    "notation-empty-name": (obj(BASE, '"notation": {"input": ""}'), ("notation.input",)),
    "notation-blank-name": (obj(BASE, '"notation": {"filter": "   "}'), ("notation.filter",)),
    "notation-number-name": (obj(BASE, '"notation": {"output": 5}'), ("notation.output",)),
    "notation-not-object": (obj(BASE, '"notation": "XKZ"'), ("notation",)),
    # --- layers after the convolution
    "activation-unknown": (obj(BASE, '"activation": "softmax"'), ("activation", "softmax")),
    "activation-number": (obj(BASE, '"activation": 1'), ("activation",)),
    "activation-unknown-type": (obj(BASE, '"activation": {"type": "gelu"}'),
                                ("activation.type", "gelu")),
    "activation-slope-not-number": (
        obj(BASE, '"activation": {"type": "leaky_relu", "slope": "steep"}'),
        ("activation.slope", "expected a number")),
    "activation-slope-on-relu": (obj(BASE, '"activation": {"type": "relu", "slope": 0.1}'),
                                 ("activation.slope",)),
    "activation-unknown-key": (obj(BASE, '"activation": {"type": "relu", "slop": 0.1}'),
                               ("activation.slop",)),
    "pool-unknown-type": (obj(BASE, '"pool": {"type": "median", "size": 2}'),
                          ("pool.type", "median")),
    "pool-no-size": (obj(BASE, '"pool": {"type": "max"}'), ("pool.size",)),
    "pool-size-zero": (obj(BASE, '"pool": {"type": "max", "size": 0}'), ("pool.size",)),
    "pool-stride-fraction": (obj(BASE, '"pool": {"type": "max", "size": 1, "stride": 1.5}'),
                             ("pool.stride",)),
    "pool-window-too-large": (obj(BASE, '"pool": {"type": "max", "size": 3}'),
                              ("pool", "window 3×3 is larger than its input 2×2")),
    "pool-not-object": (obj(BASE, '"pool": "max"'), ("pool",)),
    "pool-unknown-key": (obj(BASE, '"pool": {"type": "max", "size": 1, "sise": 2}'),
                         ("pool.sise",)),
    "pool-target-wrong-shape": (
        obj(BASE, '"pool": {"type": "max", "size": 2}', '"target": [[1, 2], [3, 4]]'),
        ("target", "pooled output", "[1][1]")),
    # --- symbolic shapes without --symbolic
    "shape-input": (obj('"input": {"shape": [3, 3]}', GOOD_FILTER), ("input",)),
    "shape-filter": (obj(GOOD_INPUT, '"filter": {"shape": [2, 2]}'), ("filter",)),
    "symbolic-bias": (obj(BASE, '"bias": "symbolic"'), ("bias",)),
}


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every bad file written once (the missing one not at all); each test runs its own."""
    folder = tmp_path_factory.mktemp("bad")
    paths: dict[str, Path] = {}
    for name, (content, _) in BAD.items():
        path = folder / f"{name}.json"
        if content is DIRECTORY:
            path.mkdir()
        elif isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            assert content is MISSING
        paths[name] = path
    return paths


@pytest.mark.parametrize("name", list(BAD))
def test_bad_input_gives_one_clear_line(name: str, bad_files: dict[str, Path]) -> None:
    run = invoke("solve", bad_files[name], "--format", "json")
    line = assert_one_line_error(run, *BAD[name][1])
    assert "internal error" not in line


@pytest.mark.parametrize("name", ["missing-file", "directory", "empty-file", "json-array"])
def test_file_errors_name_the_file(name: str, bad_files: dict[str, Path]) -> None:
    path = bad_files[name]
    run = invoke("solve", path, "--format", "json")
    assert path.name in run.stderr


def test_every_bad_case_is_rejected_in_process_too() -> None:
    """The loader raises ProblemError (never another exception) for the same texts."""
    from cnnstep.problem import ProblemError, parse_problem

    for name, (content, needles) in BAD.items():
        if not isinstance(content, str):
            continue
        with pytest.raises(ProblemError) as caught:
            parse_problem(content)
        for needle in needles:
            if needle not in ("empty",):
                assert needle in str(caught.value), (name, needle, str(caught.value))


# --------------------------------------------------------------------------
# bugs in the messages (these tests describe what the contract asks for)


def test_message_shows_a_bad_list_as_the_user_wrote_it(problem_file: Callable[..., Path]
                                                        ) -> None:
    """`"stride": [1, 2, 3]` holds numbers; the message must not show them as strings."""
    path = problem_file(obj(BASE, '"stride": [1, 2, 3]'))
    line = assert_one_line_error(invoke("solve", path, "--format", "json"), "stride")
    assert "[1, 2, 3]" in line
    assert '"1"' not in line


def test_unknown_key_with_a_line_break_still_gives_one_line(
    problem_file: Callable[..., Path]
) -> None:
    path = problem_file(obj(BASE, '"stri\\nde": 2'))
    assert_one_line_error(invoke("solve", path, "--format", "json"), "stri")


def test_duplicate_key_with_a_line_break_still_gives_one_line(
    problem_file: Callable[..., Path]
) -> None:
    path = problem_file(obj(BASE, '"a\\nb": 1', '"a\\nb": 2'))
    assert_one_line_error(invoke("solve", path, "--format", "json"), "twice")


def test_ragged_message_counts_one_entry_in_the_singular(
    problem_file: Callable[..., Path]
) -> None:
    path = problem_file(obj('"input": [[1, 2], [3]]', '"filter": [[1]]'))
    assert_one_line_error(invoke("solve", path, "--format", "json"),
                          "input: row 2 has 1 entry, row 1 has 2")


# --------------------------------------------------------------------------
# good problems


def solve_json(problem_file: Callable[..., Path], content: Any) -> tuple[dict[str, Any], str]:
    run = invoke("solve", problem_file(content), "--format", "json")
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    return json.loads(run.stdout, parse_float=decimal.Decimal), run.stdout


def test_kernel_is_another_name_for_filter(problem_file: Callable[..., Path]) -> None:
    with_filter, _ = solve_json(problem_file, obj(BASE, '"target": [[1, 2], [2, 1]]'))
    with_kernel, _ = solve_json(
        problem_file, obj(GOOD_INPUT, GOOD_FILTER.replace("filter", "kernel"),
                          '"target": [[1, 2], [2, 1]]'))
    assert with_kernel == with_filter
    assert with_kernel["output"] == [[Decimal("1.6"), Decimal("2.9")],
                                     [Decimal("1.5"), Decimal("1.2")]]
    assert "grad_filter" in with_kernel and "grad_kernel" not in with_kernel


def test_number_strings_are_exact(problem_file: Callable[..., Path]) -> None:
    values, text = solve_json(problem_file, {
        "input": [[3, 7, 14]], "filter": [["0.1", "-3/7"]], "bias": "-0.05",
    })
    # 3·0.1 − 3 − 0.05 and 7·0.1 − 6 − 0.05
    assert values["output"] == [[Decimal("-2.75"), Decimal("-5.35")]]
    assert "-2.75" in text and "-5.35" in text


def test_fraction_string_that_does_not_terminate(problem_file: Callable[..., Path]) -> None:
    values, text = solve_json(problem_file, {"input": [[1, 2]], "filter": [["-3/7"]]})
    assert "-0.42857142857142857" in text and "-0.85714285714285714" in text
    assert values["output"] == [[Decimal("-0.42857142857142857"),
                                 Decimal("-0.85714285714285714")]]


def test_json_literal_means_the_decimal_it_spells(problem_file: Callable[..., Path]) -> None:
    values, text = solve_json(problem_file, '{"input": [[3]], "filter": [[0.1]]}')
    assert values == {"output": [[Decimal("0.3")]]}
    assert "0.3" in text and "0.30000000000000004" not in text
    values, text = solve_json(problem_file, '{"input": [[0.1, 0.2]], "filter": [[1, 1]]}')
    assert values == {"output": [[Decimal("0.3")]]}
    assert "0.30000000000000004" not in text


def test_literals_beyond_double_precision_stay_exact(problem_file: Callable[..., Path]) -> None:
    values, _ = solve_json(
        problem_file,
        '{"input": [[0.10000000000000000000000001]], "filter": [[1]], "bias": -0.1}',
    )
    assert values == {"output": [[Decimal("1e-26")]]}
    values, _ = solve_json(problem_file, '{"input": [[12345678901234567891]], "filter": [[1]],'
                                         ' "bias": -12345678901234567890}')
    assert values == {"output": [[1]]}


def test_byte_order_mark_and_crlf_are_accepted(problem_file: Callable[..., Path]) -> None:
    text = '{\r\n "input": [[1, 2]],\r\n "filter": [[0.5]]\r\n}\r\n'
    values, _ = solve_json(problem_file, b"\xef\xbb\xbf" + text.encode())
    assert values == {"output": [[Decimal("0.5"), 1]]}


def test_notation_is_accepted_and_changes_no_number(problem_file: Callable[..., Path]) -> None:
    plain, _ = solve_json(problem_file, obj(BASE, '"target": [[1, 2], [2, 1]]', '"bias": 0'))
    named, _ = solve_json(problem_file, obj(
        BASE, '"target": [[1, 2], [2, 1]]', '"bias": 0',
        '"notation": {"input": "I", "filter": "W", "bias": "b", "output": "O", "target": "T",'
        ' "loss": "E", "index_base": 0}',
    ))
    assert named == plain
    assert set(named) == {"output", "loss", "grad_output", "grad_filter", "grad_bias",
                          "grad_input"}
    partial, _ = solve_json(problem_file, obj(BASE, '"notation": {"index_base": 1}'))
    assert partial == {"output": plain["output"]}


def test_stride_and_padding_pairs(problem_file: Callable[..., Path]) -> None:
    image = [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]
    kernel = [[1, -1], [2, "1/2"]]
    values, _ = solve_json(problem_file, {
        "input": image, "filter": kernel, "stride": [1, 2], "padding": [0, 1],
    })
    # width 4 + 2 − 2 = 4 → ⌊4/2⌋ + 1 = 3 columns; height 3 − 2 + 1 = 2 rows
    expected = naive_forward([fr(image)], [[fr(kernel)]], None, (1, 2), (0, 1))[0]
    assert expected == fr([["1.5", "14.5", 20], ["-0.5", "24.5", 32]])
    assert values["output"] == [[Decimal("1.5"), Decimal("14.5"), 20],
                                [Decimal("-0.5"), Decimal("24.5"), 32]]
    same, _ = solve_json(problem_file, {
        "input": image, "filter": kernel, "stride": [2, 2], "padding": [1, 1],
    })
    single, _ = solve_json(problem_file, {
        "input": image, "filter": kernel, "stride": 2, "padding": 1,
    })
    assert same == single
    assert shape_of(single["output"]) == (2, 3)


# --------------------------------------------------------------------------
# result keys and shapes follow the contract's rules


def test_2d_input_number_bias_and_learning_rate(problem_file: Callable[..., Path]) -> None:
    values, _ = solve_json(problem_file, obj(BASE, '"bias": 0.5', '"target": [[1, 2], [2, 1]]',
                                             '"learning_rate": 0.1'))
    assert list(values) == ["output", "loss", "grad_output", "grad_filter", "grad_bias",
                            "grad_input", "updated_filter", "updated_bias"]
    assert shape_of(values["output"]) == (2, 2)
    assert shape_of(values["grad_output"]) == (2, 2)
    assert shape_of(values["grad_filter"]) == (2, 2)
    assert shape_of(values["grad_input"]) == (3, 3)
    assert shape_of(values["updated_filter"]) == (2, 2)
    assert isinstance(values["loss"], Decimal)
    assert isinstance(values["grad_bias"], Decimal)
    assert isinstance(values["updated_bias"], Decimal)
    # outputs 2.1 3.4 2.0 1.7 − targets: 1.1 1.4 0 0.7; dZ = e/2; dB = Σ dZ = 1.6
    assert values["grad_bias"] == Decimal("1.6")
    assert values["updated_bias"] == Decimal("0.34")


def test_3d_input_gives_3d_grad_input(problem_file: Callable[..., Path]) -> None:
    values, _ = solve_json(problem_file, {
        "input": [[[1, 2, 1], [0, 1, 2], [2, 1, 0]]], "filter": [[0.5, 0.2], [0.3, 0.7]],
        "target": [[1, 2], [2, 1]],
    })
    assert shape_of(values["grad_input"]) == (1, 3, 3)
    assert shape_of(values["output"]) == (2, 2)
    assert values["grad_input"][0][1] == [Decimal("-0.035"), Decimal("0.345"), Decimal("0.335")]


def test_list_bias_gives_list_gradients(problem_file: Callable[..., Path]) -> None:
    values, _ = solve_json(problem_file, obj(BASE, '"bias": [0.5]', '"target": [[1, 2], [2, 1]]',
                                             '"learning_rate": 0.1'))
    assert values["grad_bias"] == [Decimal("1.6")]
    assert values["updated_bias"] == [Decimal("0.34")]


def test_3d_filter_keeps_its_rank(problem_file: Callable[..., Path]) -> None:
    values, _ = solve_json(problem_file, {
        "input": [[[1, 2], [3, 4]], [[5, 6], [7, 8]]],
        "filter": [[[1, 0], [0, 1]], [[0, 1], [1, 0]]],
        "grad_output": [[1]], "learning_rate": 1,
    })
    assert values["output"] == [[1 + 4 + 6 + 7]]
    assert values["grad_filter"] == [[[1, 2], [3, 4]], [[5, 6], [7, 8]]]
    assert values["grad_input"] == [[[1, 0], [0, 1]], [[0, 1], [1, 0]]]
    assert values["updated_filter"] == [[[0, -2], [-3, -3]], [[-5, -5], [-6, -8]]]
    assert "loss" not in values


def test_4d_filters_keep_their_rank(problem_file: Callable[..., Path]) -> None:
    values, _ = solve_json(problem_file, {
        "input": [[1, 2, 3], [4, 5, 6]],
        "filter": [[[[1, 1]]], [[[1, -1]]]],
        "bias": [0, 10],
        "target": [[[0, 0], [0, 0]], [[0, 0], [0, 0]]], "loss": "half_sse",
    })
    assert values["output"] == [[[3, 5], [9, 11]], [[9, 9], [9, 9]]]
    assert shape_of(values["grad_output"]) == (2, 2, 2)
    assert shape_of(values["grad_filter"]) == (2, 1, 1, 2)
    assert shape_of(values["grad_input"]) == (2, 3)
    assert values["grad_bias"] == [28, 36]
    assert values["loss"] == Decimal(9 + 25 + 81 + 121 + 4 * 81) / 2


def test_one_filter_given_4d_gives_3d_output(problem_file: Callable[..., Path]) -> None:
    values, _ = solve_json(problem_file, {
        "input": [[1, 2], [3, 4]], "filter": [[[[1]]]], "grad_output": [[1, 1], [1, 1]],
    })
    assert values["output"] == [[[1, 2], [3, 4]]]
    assert values["grad_output"] == [[[1, 1], [1, 1]]]
    assert values["grad_filter"] == [[[[10]]]]
    assert values["grad_input"] == [[1, 1], [1, 1]]


def test_forward_only_problem_gives_only_the_output(problem_file: Callable[..., Path]) -> None:
    values, _ = solve_json(problem_file, obj(BASE, '"bias": 1', '"stride": 1'))
    assert values == {"output": [[Decimal("2.6"), Decimal("3.9")],
                                 [Decimal("2.5"), Decimal("2.2")]]}


def test_grad_output_problem_has_no_loss(problem_file: Callable[..., Path]) -> None:
    values, _ = solve_json(problem_file, obj(BASE, '"bias": 0',
                                             '"grad_output": [[0.3, 0.45], [-0.25, 0.1]]',
                                             '"learning_rate": 0.1'))
    assert "loss" not in values
    assert values["grad_output"] == [[Decimal("0.3"), Decimal("0.45")],
                                     [Decimal("-0.25"), Decimal("0.1")]]
    assert values["grad_filter"] == [[Decimal("1.3"), 1], [Decimal("0.05"), Decimal("0.95")]]
    assert values["updated_filter"][1][0] == Decimal("0.295")
    assert values["grad_bias"] == Decimal("0.6")
    assert values["updated_bias"] == Decimal("-0.06")


def test_no_bias_no_bias_keys_and_no_rate_no_update(problem_file: Callable[..., Path]) -> None:
    values, _ = solve_json(problem_file, obj(BASE, '"target": [[1, 2], [2, 1]]'))
    assert set(values) == {"output", "loss", "grad_output", "grad_filter", "grad_input"}


def test_other_losses_through_the_cli(problem_file: Callable[..., Path]) -> None:
    sse, _ = solve_json(problem_file, obj(BASE, '"target": [[1, 2], [2, 1]]', '"loss": "sse"'))
    half, _ = solve_json(problem_file, obj(BASE, '"target": [[1, 2], [2, 1]]',
                                           '"loss": "half_sse"'))
    assert sse["loss"] == Decimal("1.46")
    assert half["loss"] == Decimal("0.73")
    assert sse["grad_output"] == [[Decimal("1.2"), Decimal("1.8")], [-1, Decimal("0.4")]]
    assert half["grad_output"] == [[Decimal("0.6"), Decimal("0.9")],
                                   [Decimal("-0.5"), Decimal("0.2")]]
