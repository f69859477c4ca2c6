"""``--verify`` on a 3-D layer: the loss differentiated directly, term by term.

Random volumes verify; an engine with a mistake (the kernel not rotated in
dL/dX, the bias left out) is caught entry by entry; the command's report, its
exit status and its refusals.
"""

from __future__ import annotations

import json
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from helpers import SAMPLES, assert_one_line_error, invoke
from hypothesis import HealthCheck, given, settings
from test_dimensions import layers

from cnnstep import volume
from cnnstep.check.volume import flipped
from cnnstep.problem import Volume, volume_from_data
from cnnstep.verify_volume import MAX_TERMS, verify_volume

SMALL = volume_from_data(json.loads((SAMPLES / "conv3d-small.json").read_text()))


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(layers(3))
def test_random_volumes_verify(data: dict[str, Any]) -> None:
    checks = verify_volume(volume_from_data(data))
    assert all(check.ok for check in checks), [c.mismatches for c in checks]
    keys = [check.key for check in checks]
    assert keys[0] == "output" and ("grad_input" in keys) == ("target" in data
                                                               or "grad_output" in data)


def test_a_kernel_not_rotated_is_caught() -> None:
    def wrong(layer: Volume) -> dict[str, Any]:
        right = volume.arrays(layer)
        unrotated = volume.input_gradient(replace(layer, filter=flipped(layer.filter)),
                                          right["grad_output"])
        return {**right, "grad_input": unrotated}

    checks = {check.key: check for check in verify_volume(SMALL, wrong)}
    assert checks["grad_filter"].ok and not checks["grad_input"].ok
    miss = checks["grad_input"].mismatches[0]
    assert miss.entry.startswith("grad_input[") and miss.entry.count("[") == 3
    assert miss.engine != miss.direct


def test_a_missing_bias_is_caught() -> None:
    def wrong(layer: Volume) -> dict[str, Any]:
        right = volume.arrays(layer)
        return {**right, "output": right["output"] - Fraction(1, 2)}

    checks = verify_volume(SMALL, wrong)
    assert not checks[0].ok and len(checks[0].mismatches) == 8


def test_the_command_reports_and_exits() -> None:
    run = invoke("solve", "--sample", "conv3d-small", "--verify")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "Z: verified by direct evaluation (8 entries)",
        "L: verified by direct evaluation (1 entry)",
        "dL/dK: verified by direct differentiation (8 entries)",
        "dL/dB: verified by direct differentiation (1 entry)",
        "dL/dX: verified by direct differentiation (27 entries)"]
    report = json.loads(invoke("solve", "--sample", "conv3d-small", "--verify",
                               "--format", "json").stdout)
    assert report["verified"] and report["quantities"]["grad_input"]["entries"] == 27


def test_too_large_is_one_line(tmp_path: Path) -> None:
    side = 14
    data = {"dimensions": 3, "input": np.ones((2, side, side, side), dtype=int).tolist(),
            "filter": np.ones((4, 2, 3, 3, 3), dtype=int).tolist()}
    assert 4 * 2 * 27 * (side - 2) ** 3 > MAX_TERMS
    path = tmp_path / "big.json"
    path.write_text(json.dumps(data))
    assert_one_line_error(invoke("solve", path, "--verify"), "big.json", "--verify",
                          str(MAX_TERMS))
