"""Architecture rules: what each layer may import, and what each command documents.

* the exact engine is usable without the terminal renderer (rich), the symbolic
  algebra (sympy) or any renderer;
* a JSON answer does not pay for importing sympy (in ``test_end_to_end.py``, which
  needs a fresh interpreter running the command);
* every CLI command has an example in its help, and is named in the README;
* the package as built contains every subpackage.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import typer
from helpers import invoke

from cnnstep.cli import app

ROOT = Path(__file__).resolve().parents[1]


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, check=False)


def test_engine_imports_no_renderer_rich_or_sympy() -> None:
    run = _python(
        "import json, sys\n"
        "import cnnstep.engine\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('rich', 'sympy')\n"
        "             or m == 'cnnstep.render' or m.startswith('cnnstep.render.'))\n"
        "print(json.dumps(bad))\n"
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == [], "cnnstep.engine pulled in: " + run.stdout


def test_package_import_is_light() -> None:
    """``import cnnstep`` alone (as `cnnstep --help` does) loads no engine dependency
    it does not need: no sympy, no rich, no renderer."""
    run = _python(
        "import json, sys\n"
        "import cnnstep\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('rich', 'sympy') or m.startswith('cnnstep.render'))))\n"
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == []


# --------------------------------------------------------------------------
# the command line documents itself


def _commands() -> list[str]:
    group = typer.main.get_command(app)
    return sorted(getattr(group, "commands", {}))


def _help(*args: str) -> str:
    result = invoke(*args, "--help", env={"COLUMNS": "120"})
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_the_app_has_commands() -> None:
    assert "solve" in _commands()


def test_top_level_help_has_an_example() -> None:
    text = _help()
    assert re.search(r"^\W*Examples?\b", text, re.MULTILINE) or "Example:" in text, text
    for command in _commands():
        assert command in text, f"`cnnstep --help` does not list {command}"


@pytest.mark.parametrize("command", _commands())
def test_every_command_help_has_an_example(command: str) -> None:
    text = _help(command)
    assert "Example" in text, f"`cnnstep {command} --help` shows no example:\n{text}"
    assert f"cnnstep {command}" in text, f"the example does not run `cnnstep {command}`"


@pytest.mark.parametrize("command", _commands())
def test_every_command_is_in_the_readme(command: str) -> None:
    readme = ROOT / "README.md"
    if not readme.exists():
        pytest.skip("README.md does not exist yet")
    text = readme.read_text(encoding="utf-8")
    assert re.search(rf"cnnstep {re.escape(command)}\b", text), (
        f"README.md never shows `cnnstep {command}`")


# --------------------------------------------------------------------------
# packaging


def test_every_subpackage_is_packaged() -> None:
    """A regular (non-editable) install must carry cnnstep.render and the rest."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = config.get("tool", {}).get("setuptools", {})
    packages = setuptools.get("packages")
    actual = sorted(".".join(p.parent.relative_to(ROOT).parts)
                    for p in (ROOT / "cnnstep").rglob("__init__.py"))
    if not isinstance(packages, list):
        pytest.skip("packages are found automatically (packages.find)")
    missing = [name for name in actual if name not in packages]
    assert not missing, (
        f"[tool.setuptools] packages = {packages} leaves out {missing}: a wheel has no "
        f"{missing[0].replace('.', '/')}/ and every `cnnstep solve` fails with "
        "ModuleNotFoundError; list them or use [tool.setuptools.packages.find]"
    )
