"""The starting problem ``cnnstep new`` writes: the worked example of seed 000,
every key explained in a ``//`` comment."""

from __future__ import annotations

STARTER = """\
{
  // The image X: [H][W] for one channel, or [C][H][W].
  // Numbers may be JSON numbers (0.1 means exactly one tenth) or strings
  // holding a decimal or a fraction: "0.1", "-3/7".
  "input": [[1, 2, 1],
            [0, 1, 2],
            [2, 1, 0]],

  // The kernel K: [kh][kw] (one filter, one channel), [C][kh][kw] or [F][C][kh][kw].
  "filter": [[0.5, 0.2],
             [0.3, 0.7]],

  // The bias B: a number for one filter, a list of one per filter; leave it out
  // for a layer without a bias.
  // "bias": 0.1,

  // Y, in the shape of the output; or give "grad_output" (dL/dZ) instead.
  "target": [[1, 2],
             [2, 1]],

  // The loss: "mse" (the mean of the squared errors), "sse" (their sum) or "half_sse".
  "loss": "mse",

  // The step of the window and the zeros on each side: a number or [rows, columns].
  "stride": 1,
  "padding": 0,

  // α of the update K ← K − α·dL/dK; leave it out for no update.
  "learning_rate": 0.1,

  // After the convolution, optionally: "relu", "leaky_relu", "sigmoid", "tanh" ...
  // "activation": "relu",
  // ... and a pool: {"type": "max" | "mean" | "min", "size": 2, "stride": 2}.
  // "pool": {"type": "max", "size": 2},

  // How symbols are printed (here as in a course that writes I, W and 0-based indices).
  "notation": {"input": "I", "filter": "W", "output": "Output", "loss": "Loss",
               "index_base": 0}

  // What an exercise asks, with points (without it, everything, one point each):
  // , "questions": {"output": 2, "loss": 1, "grad_filter": 4, "updated_filter": 2}
}
"""
