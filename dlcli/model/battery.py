"""The built-in battery: small random networks and data sets on which
:func:`dlcli.model.gradcheck.run_battery` checks every activation, output and training
option, numpy only.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from dlcli.model import network

BATTERY_HIDDEN = ("sigmoid", "tanh", "relu", "leaky_relu", "linear")
BATTERY_OUTPUTS = ("sigmoid", "linear")
BATTERY_DEPTHS = (1, 2, 3, 4)  # hidden layers
BATTERY_N_X = 4
BATTERY_EXAMPLES = 8
BATTERY_CLASSES = 3  # output units of the softmax cases
# The training options' cases, for every hidden activation: (output, depth, l2, keep_prob).
BATTERY_OPTIONS = (
    ("sigmoid", 2, 0.7, 1.0),
    ("sigmoid", 2, 0.0, 0.7),
    ("softmax", 2, 0.7, 0.7),
    ("linear", 3, 0.7, 0.7),
)
# Weighted training's cases (issue 18), for every hidden activation: (output, depth, l2,
# keep_prob); their example weights are drawn after the masks (run_battery).
BATTERY_WEIGHTED = (
    ("sigmoid", 2, 0.0, 0.7),
    ("softmax", 2, 0.7, 0.7),
    ("linear", 3, 0.7, 0.7),
)


def battery_network(
    hidden: str, output: str, depth: int, rng: np.random.Generator
) -> tuple[list[int], network.Params, np.ndarray, np.ndarray]:
    """A small random network and data set for the battery.

    Gradients must not be tiny, or rounding dominates their relative difference. Inputs are
    standard normal; weights are ``randn * gain / sqrt(n[l-1])`` with a gain that keeps the
    signal alive through ``depth`` layers of ``hidden`` (sigmoid's slope is at most 1/4);
    biases are ``0.5 randn`` minus the mean of ``W A[l-1]`` over the examples, so every
    pre-activation is centred near 0 (no saturated sigmoid, no dead relu) yet no relu unit
    sits exactly at its kink. Targets are 0/1 labels for a sigmoid output, standard normal
    numbers for a linear one, and one-hot columns of :data:`BATTERY_CLASSES` classes for a
    softmax one.

    Returns
    -------
    layers : [n_x, n[1], ..., n[depth], n_y], n_y = 1 (sigmoid, linear) or BATTERY_CLASSES
    params : dict of W{l} (n[l], n[l-1]) and b{l} (n[l], 1)
    X : ndarray of shape (n_x, m)
    Y : ndarray of shape (n_y, m)
    """
    gain = {"sigmoid": 4.0, "relu": math.sqrt(2.0), "leaky_relu": math.sqrt(2.0)}.get(hidden, 1.0)
    n_y = BATTERY_CLASSES if output == "softmax" else 1
    layers = [BATTERY_N_X, *(int(n) for n in rng.integers(2, 7, size=depth)), n_y]
    L = len(layers) - 1
    X = rng.standard_normal((BATTERY_N_X, BATTERY_EXAMPLES))
    params: network.Params = {}
    A = X
    for l in range(1, L + 1):
        scale = (gain if l < L else 1.0) / math.sqrt(layers[l - 1])
        W = rng.standard_normal((layers[l], layers[l - 1])) * scale  # (n[l], n[l-1])
        b = rng.standard_normal((layers[l], 1)) * 0.5 - (W @ A).mean(axis=1, keepdims=True)
        params[f"W{l}"], params[f"b{l}"] = W, b
        g = network.ACTIVATIONS[hidden][0] if l < L else network.OUTPUTS[output]
        A = g(W @ A + b)  # (n[l], m)
    if output == "sigmoid":
        Y = rng.integers(0, 2, size=(1, BATTERY_EXAMPLES)).astype(np.float64)
    elif output == "softmax":
        Y = network.one_hot(rng.integers(0, n_y, size=BATTERY_EXAMPLES), n_y)  # (n_y, m)
    else:
        Y = rng.standard_normal((1, BATTERY_EXAMPLES))
    return layers, params, X, Y


class CaseSpec(NamedTuple):
    """One case of the battery: the network's activations and depth, and the training
    options its cost includes (l2: L2's lambda, 0 for none; keep_prob: the keep probability
    of fixed dropout masks on every hidden layer, 1 for none)."""

    hidden: str
    output: str
    depth: int
    l2: float = 0.0
    keep_prob: float = 1.0
    weighted: bool = False

    @property
    def name(self) -> str:
        """``tanh-sigmoid-depth2``, with ``-l2``, ``-dropout`` and ``-weighted`` for the
        training options."""
        options = "-l2" * bool(self.l2) + "-dropout" * (self.keep_prob < 1)
        options += "-weighted" * self.weighted
        return f"{self.hidden}-{self.output}-depth{self.depth}{options}"


def battery_cases() -> list[CaseSpec]:
    """Every hidden activation with each output (sigmoid, linear, then softmax), 1 to 4
    hidden layers, then the training options as :data:`BATTERY_OPTIONS` lists them, for
    every hidden activation, then weighted training's (:data:`BATTERY_WEIGHTED`). New cases
    go at the end, so a case keeps its index."""
    plain = [
        CaseSpec(hidden, output, depth)
        for outputs in (BATTERY_OUTPUTS, ("softmax",))
        for hidden in BATTERY_HIDDEN
        for output in outputs
        for depth in BATTERY_DEPTHS
    ]
    options = [CaseSpec(hidden, *case) for hidden in BATTERY_HIDDEN for case in BATTERY_OPTIONS]
    weighted = [
        CaseSpec(hidden, *case, weighted=True)
        for hidden in BATTERY_HIDDEN
        for case in BATTERY_WEIGHTED
    ]
    return plain + options + weighted
