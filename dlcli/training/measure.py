"""What a set of parameters scores on data: cost, accuracy, and where a cost went non-finite."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcli.model import network


def accuracy(
    X: np.ndarray, Y: np.ndarray, params: network.Params, hidden: str, output: str
) -> float:
    """Fraction of examples whose predicted label equals Y's: AL > 0.5 for sigmoid, the
    largest probability for softmax (Y one-hot, (K, m))."""
    AL, _ = network.forward(X, params, hidden, output)
    return label_accuracy(AL, Y, output)


def label_accuracy(AL: np.ndarray, Y: np.ndarray, output: str) -> float:
    """:func:`accuracy` from the output AL (n[L], m) a forward pass already made."""
    predicted = network.labels(AL, output)
    if output == "softmax":
        return float(np.mean(predicted[0] == network.labels(Y, "softmax")[0]))
    return float(np.mean(predicted == Y))


def cost_and_accuracy(
    X: np.ndarray, Y: np.ndarray, params: network.Params, hidden: str, output: str
) -> dict[str, float]:
    """Cost (without the L2 term) and, for classifiers, accuracy of params on (X, Y)."""
    AL, caches = network.forward(X, params, hidden, output)
    row = {"cost": network.cost(caches[-1][1], Y, output)}
    if output != "linear":
        row["accuracy"] = label_accuracy(AL, Y, output)
    return row


def in_chunks(
    X: Any, Y: np.ndarray, params: network.Params, hidden: str, output: str, size: int
) -> tuple[float, float, network.Caches]:
    """(cost, accuracy, caches) of params on all m columns of a stream X, ``size`` columns at a
    time: the chunks' costs weighted by their sizes, so memory is bounded by a chunk. The
    caches are the last chunk's, or the first with a non-finite cost (which is returned)."""
    m = X.shape[1]
    total, correct = 0.0, 0.0
    caches: network.Caches = []
    for start, stop in X.blocks(size):
        Xc, Yc = X.columns(start, stop), Y[:, start:stop]
        AL, caches = network.forward(Xc, params, hidden, output)
        J = network.cost(caches[-1][1], Yc, output)
        if not np.isfinite(J):
            return J, float("nan"), caches
        total += J * (stop - start)
        if output == "sigmoid":
            correct += float(np.sum(network.labels(AL, output) == Yc)) / Yc.shape[0]
        elif output == "softmax":
            correct += float(np.sum(network.labels(AL, output)[0] == network.labels(Yc, output)[0]))
    return total / m, correct / m, caches


def first_non_finite(arrays: network.Params, caches: network.Caches) -> str:
    """Where a non-finite cost came from: the first layer whose W, b, Z or A is not finite."""
    for l, (_, Z, A) in enumerate(caches, start=1):
        for name in (f"W{l}", f"b{l}"):
            if name in arrays and not np.all(np.isfinite(arrays[name])):
                return f"layer {l} ({name})"
        for name, value in ((f"Z{l}", Z), (f"A{l}", A)):
            if not np.all(np.isfinite(value)):
                return f"layer {l} ({name})"
    return "the cost only (every Z and A is finite; the cost itself overflowed)"
