"""Evaluation metrics, pure NumPy.

Binary classification follows scikit-learn's conventions: the confusion matrix has the true
class in rows and the predicted class in columns, ``[[TN, FP], [FN, TP]]``; class 1 (the
second name in ``list_classes``, "cat" in the course's files) is the positive class; a ratio
whose denominator is 0 (precision with no positive prediction, recall with no positive
example, F1 with both 0) is defined as 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcli.model.network import cross_entropy_from_logits


def confusion_matrix(Y: np.ndarray, Y_pred: np.ndarray) -> np.ndarray:
    """Counts of (true, predicted) label pairs.

    Parameters
    ----------
    Y : ndarray of shape (1, m) or (m,), labels 0/1
    Y_pred : ndarray of the same size, labels 0/1

    Returns
    -------
    ndarray of shape (2, 2), int64: ``[[TN, FP], [FN, TP]]``, rows true, columns predicted
    """
    y = np.ravel(Y).astype(np.int64)
    p = np.ravel(Y_pred).astype(np.int64)
    return np.bincount(2 * y + p, minlength=4).reshape(2, 2)


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator else 0.0


def classification_metrics(Y: np.ndarray, ZL: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    """Accuracy, precision, recall, F1, confusion matrix and log-loss of a sigmoid output.

    Parameters
    ----------
    Y : ndarray of shape (1, m), labels 0/1
    ZL : ndarray of shape (1, m), the output layer's pre-activation; AL = sigmoid(ZL)
    threshold : an example is predicted 1 when AL > threshold (as ``network.predict``)

    Returns
    -------
    dict with ``accuracy``, ``precision``, ``recall``, ``f1``, ``confusion_matrix`` (list of
    lists, ``[[TN, FP], [FN, TP]]``), ``log_loss`` (the cross-entropy cost, computed from ZL
    so it stays finite however confident a wrong prediction is), ``examples``, ``threshold``
    """
    from dlcli.model.activations import ACTIVATIONS

    AL = ACTIVATIONS["sigmoid"][0](ZL)
    Y_pred = (threshold < AL).astype(np.int64)
    (tn, fp), (fn, tp) = confusion_matrix(Y, Y_pred).tolist()
    m = tn + fp + fn + tp
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    return {
        "accuracy": _ratio(tp + tn, m),
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2 * precision * recall, precision + recall),
        "confusion_matrix": [[tn, fp], [fn, tp]],
        "log_loss": cross_entropy_from_logits(ZL, Y),
        "examples": m,
        "threshold": threshold,
    }


def regression_metrics(Y: np.ndarray, AL: np.ndarray) -> dict[str, Any]:
    """Mean squared error, mean absolute error and R^2 of a linear output.

    Parameters
    ----------
    Y : ndarray of shape (1, m), targets
    AL : ndarray of shape (1, m), predictions

    Returns
    -------
    dict with ``mse`` = mean((AL - Y)^2) (twice the training cost 1/(2m) sum (AL - Y)^2),
    ``mae`` = mean|AL - Y|, ``r2`` = 1 - SS_res / SS_tot and ``examples``. When every target
    is equal (SS_tot = 0), R^2 is 1 for a perfect fit and 0 otherwise, as scikit-learn.
    """
    residual = AL - Y
    ss_res = float(np.sum(residual**2))
    ss_tot = float(np.sum((Y - Y.mean()) ** 2))
    if ss_tot:
        r2 = 1.0 - ss_res / ss_tot
    else:
        r2 = 1.0 if ss_res == 0 else 0.0
    return {
        "mse": float(np.mean(residual**2)),
        "mae": float(np.mean(np.abs(residual))),
        "r2": r2,
        "examples": int(Y.size),
    }
