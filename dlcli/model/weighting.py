"""Weighted training: the cost J = sum_i w_i L_i / sum_i w_i and its dZ[L], and the
example weights that ``train.class_weight`` and ``data.weight`` give.

Every formula multiplies by the weight row first and divides by sum w last, in the order
the unweighted formulas of :mod:`dlcli.model.network` take, so all weights 1 (sum w = m,
exact in floating point) give the unweighted cost and gradients to the bit. Weights are a
row ``w`` of shape (1, m): one per example (column), shared by every output unit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from dlcli.errors import ConfigError


def total(w: np.ndarray) -> float:
    """sum w, the normalizer of a batch's cost (m when every weight is 1)."""
    return float(w.sum(dtype=np.float64))


def cost(ZL: np.ndarray, Y: np.ndarray, output: str, w: np.ndarray) -> float:
    """J = sum_i w_i L_i / sum_i w_i, with L_i the cost of example i paired with ``output``.

    Parameters
    ----------
    ZL, Y : ndarray of shape (n[L], m)
    output : "sigmoid" (cross-entropy from logits), "softmax" (categorical cross-entropy
        from logits) or "linear" (L_i = 1/2 sum over outputs of (ZL - Y)^2)
    w : ndarray of shape (1, m), non-negative, sum w > 0
    """
    if output == "sigmoid":  # -log sigmoid(z) = logaddexp(0, -z), as network's
        return float(((np.logaddexp(0, ZL) * w).sum() - np.vdot(Y * w, ZL)) / total(w))
    if output == "linear":
        return float(np.sum((ZL - Y) ** 2 * w) / (2 * total(w)))
    shifted = ZL - ZL.max(axis=0, keepdims=True)  # softmax
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))
    return float(-np.sum(Y * log_softmax * w) / total(w))


def dZ_L(AL: np.ndarray, Y: np.ndarray, w: np.ndarray, lr: float | None = None) -> np.ndarray:
    """dJ/dZ[L] of the weighted cost, (AL - Y) w / sum w, shape (n[L], m); with ``lr``
    (backward and update in one pass) lr dZ[L] = (AL - Y) w (lr / sum w).

    For every output/cost pair of :func:`cost` the unweighted dZ[L] of example i is
    (AL - Y)_i / m; weighting example i's loss by w_i / sum w scales its column by that.
    The operations are network.backward's ``/ m`` and backward_update's ``* (lr / m)``
    with m = sum w, after the product with w (exact when w is 1).
    """
    if lr is None:
        return (AL - Y) * w / total(w)
    return (AL - Y) * w * (lr / total(w))


def class_weights(
    setting: str | Mapping[str, float], Y: np.ndarray, output: str, classes: Sequence[str]
) -> dict[str, float]:
    """The weight of each class that ``train.class_weight`` gives on the training labels.

    Parameters
    ----------
    setting : "balanced" (m / (K count_k), scikit-learn's definition, K the number of
        classes) or a map from class name to weight (classes left out weigh 1)
    Y : ndarray of shape (1, m) of 0/1 labels (sigmoid) or (K, m) one-hot (softmax)
    output : "sigmoid" or "softmax"
    classes : the class names, in label order

    Raises
    ------
    ConfigError
        A name that is not a class, or ``balanced`` with a class that has no example.
    """
    counts = class_counts(Y, output, len(classes))
    if setting == "balanced":
        m, K = int(counts.sum()), len(classes)
        empty = [classes[k] for k in range(K) if counts[k] == 0]
        if empty:
            raise ConfigError(
                f"train.class_weight: balanced divides by each class's count, and class "
                f"{empty[0]!r} has no training example; give a map of weights instead"
            )
        return {name: m / (K * int(counts[k])) for k, name in enumerate(classes)}
    unknown = [name for name in setting if name not in classes]
    if unknown:
        raise ConfigError(
            f"train.class_weight: {unknown[0]!r} is not a class of the data; "
            f"classes: {list(classes)}"
        )
    return {name: float(setting.get(name, 1.0)) for name in classes}


def class_counts(Y: np.ndarray, output: str, K: int) -> np.ndarray:
    """Examples of each class, (K,) int64, from 0/1 labels (1, m) or one-hot columns (K, m)."""
    if output == "softmax":
        return np.rint(Y.sum(axis=1)).astype(np.int64)
    ones = int(np.count_nonzero(Y[0] == 1))
    return np.array([Y.shape[1] - ones, ones], dtype=np.int64)


def example_weights(
    Y: np.ndarray,
    output: str,
    per_class: dict[str, float] | None,
    sample: np.ndarray | None,
    classes: Sequence[str],
) -> np.ndarray | None:
    """w_i = (the weight of example i's class) x (its ``data.weight``), shape (1, m), or
    None when neither is set (training then runs the unweighted formulas).

    Raises
    ------
    ConfigError
        When every example's weight is 0 (there is nothing to average).
    """
    if per_class is None and sample is None:
        return None
    w = (
        np.ones((1, Y.shape[1]))
        if sample is None
        else np.asarray(sample, np.float64).reshape(1, -1)
    )
    if per_class is not None:
        values = np.array([per_class[name] for name in classes])  # (K,)
        index = Y.argmax(axis=0) if output == "softmax" else (Y[0] == 1).astype(np.int64)
        w = w * values[index][np.newaxis, :]
    if not total(w) > 0 or not math.isfinite(total(w)):
        raise ConfigError(
            f"train.class_weight: every training example weighs 0 with the weights "
            f"{per_class}; at least one class present needs a weight > 0"
        )
    return w
