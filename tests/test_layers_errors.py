"""Activation and pooling after the convolution: bad layer keys through the CLI give
exit 2 and one line naming the key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import invoke

BASE = {"input": [[1, 2, 0], [0, 1, 3], [2, 1, 0]], "filter": [[1, 0], [0, 1]]}


BAD_LAYERS: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "pool-larger-than-input": ({"pool": {"type": "max", "size": 3}},
                               ("pool", "3×3", "larger", "2×2")),
    "pool-larger-one-axis": ({"pool": {"type": "mean", "size": [1, 3]}},
                             ("pool", "1×3", "larger")),
    "target-not-pooled-shape": ({"pool": {"type": "max", "size": 2},
                                 "target": [[1, 2], [3, 4]]},
                                ("target", "pooled", "[1][1]", "[2][2]")),
    "target-pooled-stride": ({"pool": {"type": "max", "size": 1, "stride": [1, 2]},
                              "target": [[1, 2], [3, 4]]},
                             ("target", "[2][1]", "[2][2]")),
    "target-not-activated-shape": ({"activation": "relu", "target": [[1]]},
                                   ("target", "[2][2]", "[1][1]")),
    "grad-output-not-pooled-shape": ({"pool": {"type": "min", "size": 2},
                                      "grad_output": [[1, 2], [3, 4]]},
                                     ("grad_output", "[1][1]")),
    "unknown-activation": ({"activation": "softmax"}, ("activation", "softmax")),
    "unknown-activation-type": ({"activation": {"type": "elu"}}, ("activation.type", "elu")),
    "activation-not-a-name": ({"activation": 5}, ("activation",)),
    "unknown-pool-type": ({"pool": {"type": "sum", "size": 2}}, ("pool.type", "sum")),
    "pool-not-an-object": ({"pool": "max"}, ("pool",)),
    "pool-size-missing": ({"pool": {"type": "max"}}, ("pool.size",)),
    "pool-size-zero": ({"pool": {"type": "max", "size": 0}}, ("pool.size",)),
    "pool-stride-zero": ({"pool": {"type": "max", "size": 1, "stride": 0}}, ("pool.stride",)),
    "pool-unknown-key": ({"pool": {"type": "max", "size": 1, "pading": 1}},
                         ("pool.pading", "did you mean 'padding'?")),
    "slope-not-a-number": ({"activation": {"type": "leaky_relu", "slope": "abc"}},
                           ("activation.slope", "abc")),
    "slope-true": ({"activation": {"type": "leaky_relu", "slope": True}},
                   ("activation.slope",)),
    "slope-list": ({"activation": {"type": "leaky_relu", "slope": [0.1]}},
                   ("activation.slope",)),
    "slope-on-relu": ({"activation": {"type": "relu", "slope": 0.1}},
                      ("activation.slope", "relu")),
    "slope-on-tanh": ({"activation": {"type": "tanh", "slope": 0.1}},
                      ("activation.slope", "tanh")),
}


@pytest.mark.parametrize("case", sorted(BAD_LAYERS))
def test_bad_layer_keys_exit_2_with_one_line(case: str, tmp_path: Path) -> None:
    extra, needles = BAD_LAYERS[case]
    path = tmp_path / "problem.json"
    path.write_text(json.dumps({**BASE, **extra}), encoding="utf-8")
    run = invoke("solve", path)
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("cnnstep: error:"), lines[0]
    assert "Traceback" not in run.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
