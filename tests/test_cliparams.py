"""The quick conversion of the command line's options gives what typer's own gives.

``cnnstep.cliparams`` converts well-formed option values itself, so that a run
need not import pydantic (typer 0.29 and later), and leaves every other value
to typer. Here every parameter of every command is given many values: wherever
the quick conversion takes one, typer's own conversion must give the same
value, of the same type; and a command line that typer refuses is refused
with typer's message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from helpers import SAMPLES, invoke
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnstep import cliparams
from cnnstep.cli import app

SEED000 = SAMPLES / "seed000-filter-update.json"

#: values a user may type, good and bad, for every kind of parameter
TYPED = ["0", "1", "-1", "40", "80", "1000", "1001", "39", "007", "-0", "+5", " 5", "5 ",
         "1_000", "1e3", "5.0", "٣", "", "text", "json", "latex", "markdown", "JSON", "xml",
         "grad_input[0][1][2]", "loss", "-", "a.json", str(SAMPLES / "half-sse.json"),
         "seed000", "0.05", "1/3", "None", "true", "9" * 40]

OTHER_VALUES: list[Any] = [None, (), ("1", "2"), ["a"], True, False, 0, 5, 2000, Path("x")]


def _parameters() -> list[tuple[str, Any, Any]]:
    """(command, parameter, context) for every parameter typer converts."""
    group = typer.main.get_command(app)
    found = []
    for name, command in sorted(getattr(group, "commands", {}).items()):
        args = [str(SEED000)]
        ctx = command.make_context(name, args, resilient_parsing=True)
        for param in command.get_params(ctx):
            found.append((name, param, ctx))
    ctx = group.make_context("cnnstep", ["solve"], resilient_parsing=True)
    found.extend(("cnnstep", param, ctx) for param in group.get_params(ctx))
    return found


PARAMETERS = _parameters()
QUICK = [(name, param, ctx) for name, param, ctx in PARAMETERS
         if "get_runtime_param" in vars(param)]


def _typer_own(param: Any) -> Any:
    """typer's own conversion of ``param``, as it builds it."""
    return type(param).get_runtime_param(param)


def _agree(param: Any, ctx: Any, value: Any) -> None:
    quick = param.get_runtime_param()
    try:
        fast = quick.convert(value)
    except cliparams.Unusual:
        return  # typer converts it (or refuses it) itself
    own = _typer_own(param).coerce(value, param=param, ctx=ctx)
    assert fast == own and type(fast) is type(own), (param.name, value, fast, own)


def test_typer_converts_with_runtime_params_or_before_0_29() -> None:
    """With typer 0.29 or later every option of a plain type is converted quickly;
    before it, there is nothing to do."""
    typer_own = [p for _, p, _ in PARAMETERS if hasattr(p, "get_runtime_param")]
    if not typer_own:
        pytest.skip("this typer converts options with click's types, which are quick")
    slow = [f"{name} {param.name}" for name, param, _ in PARAMETERS
            if hasattr(param, "get_runtime_param") and param not in [q for _, q, _ in QUICK]]
    assert not slow, (f"options converted by typer's pydantic adapters: {slow}; give their "
                      "command cls=cliparams.Command in @app.command()")


@pytest.mark.parametrize(("command", "param", "ctx"), QUICK,
                         ids=[f"{name}-{param.name}" for name, param, _ in QUICK])
def test_quick_conversion_agrees_with_typer(command: str, param: Any, ctx: Any) -> None:
    for value in [*TYPED, *OTHER_VALUES]:
        if param.multiple or param.nargs == -1:
            value = (value,) if isinstance(value, str) else value
        _agree(param, ctx, value)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="0123456789-+_ .e٣", max_size=5))
def test_integers_agree_with_typer(text: str) -> None:
    for _, param, ctx in QUICK:
        if param.name in ("width", "decimals", "max_terms"):
            _agree(param, ctx, text)


@pytest.mark.parametrize(("args", "needle"), [
    (["--format", "xml"], "'xml' is not one of"),
    (["--width", "39"], "--width"),
    (["--width", "1_000_000"], "--width"),
    (["--decimals", "-1"], "--decimals"),
    (["--max-terms", "x"], "--max-terms"),
])
def test_values_typer_refuses_get_its_message(args: list[str], needle: str) -> None:
    run = invoke("solve", SEED000, *args)
    assert run.returncode == 2, run.stdout
    assert needle in run.stderr and "Usage:" in run.stderr, run.stderr
