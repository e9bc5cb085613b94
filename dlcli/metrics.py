"""Evaluation metrics, pure NumPy: the formulas ``dlcli evaluate`` and training report.

Binary classification follows scikit-learn's conventions: the confusion matrix has the true
class in rows and the predicted class in columns, ``[[TN, FP], [FN, TP]]``; class 1 (the
second name in ``list_classes``, "cat" in the course's files) is the positive class; a ratio
whose denominator is 0 (precision with no positive prediction, recall with no positive
example, F1 with both 0) is defined as 0.

A softmax output over K classes predicts the class of largest probability (no threshold). Its
report gives precision, recall and F1 of every class (that class against the rest, support =
its true examples) and their macro averages, the unweighted means over the K classes, as
scikit-learn's ``average="macro"``: every class counts the same however rare it is. The same
zero-division rule holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dlcli.model.activations import ACTIVATIONS
from dlcli.model.network import (
    categorical_cross_entropy_from_logits,
    cross_entropy_from_logits,
    one_hot,
    softmax,
)
from dlcli.model.network import labels as labels_of


def confusion_matrix(Y: np.ndarray, Y_pred: np.ndarray, K: int = 2) -> np.ndarray:
    """Counts of (true, predicted) label pairs.

    Parameters
    ----------
    Y : ndarray of shape (1, m) or (m,), labels 0..K-1
    Y_pred : ndarray of the same size, labels 0..K-1
    K : the number of classes

    Returns
    -------
    ndarray of shape (K, K), int64: entry [i, j] counts the examples of true class i predicted
    as j (rows true, columns predicted); for K = 2 that is ``[[TN, FP], [FN, TP]]``
    """
    y = np.ravel(Y).astype(np.int64)
    p = np.ravel(Y_pred).astype(np.int64)
    return np.bincount(K * y + p, minlength=K * K).reshape(K, K)


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator else 0.0


def balanced_accuracy(cm: np.ndarray | list[list[int]]) -> float:
    """The mean of the per-class recalls (true examples of class k predicted k / true
    examples of class k), over the classes that have a true example, as scikit-learn's
    ``balanced_accuracy_score``: every class counts the same however rare it is.

    Parameters
    ----------
    cm : array-like of shape (K, K), a :func:`confusion_matrix` (rows true, columns predicted)
    """
    cm = np.asarray(cm)
    support = cm.sum(axis=1)  # (K,)
    present = support > 0
    return float(np.mean(np.diag(cm)[present] / support[present]))


def label_balanced_accuracy(AL: np.ndarray, Y: np.ndarray, output: str) -> float:
    """:func:`balanced_accuracy` of a classifier's output AL (n[L], m) against Y: 0/1
    labels (1, m) for sigmoid, one-hot columns (K, m) for softmax."""
    predicted = labels_of(AL, output)
    truth = labels_of(Y, "softmax") if output == "softmax" else Y
    K = Y.shape[0] if output == "softmax" else 2
    return balanced_accuracy(confusion_matrix(truth, predicted, K))


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
    AL = ACTIVATIONS["sigmoid"][0](ZL)
    Y_pred = labels_of(AL, "sigmoid", threshold)
    (tn, fp), (fn, tp) = confusion_matrix(Y, Y_pred).tolist()
    m = tn + fp + fn + tp
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    return {
        "accuracy": _ratio(tp + tn, m),
        "balanced_accuracy": balanced_accuracy([[tn, fp], [fn, tp]]),
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2 * precision * recall, precision + recall),
        "confusion_matrix": [[tn, fp], [fn, tp]],
        "log_loss": cross_entropy_from_logits(ZL, Y),
        "examples": m,
        "threshold": threshold,
    }


def softmax_metrics(Y: np.ndarray, ZL: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Accuracy, per-class and macro precision / recall / F1, the K x K confusion matrix and
    the log-loss of a softmax output.

    Parameters
    ----------
    Y : ndarray of shape (1, m) or (m,), labels 0..K-1
    ZL : ndarray of shape (K, m), the output layer's pre-activation; AL = softmax(ZL)
    classes : the K class names, label order

    Returns
    -------
    dict with ``accuracy``, ``macro_precision``, ``macro_recall``, ``macro_f1``,
    ``per_class`` (one ``{"class", "precision", "recall", "f1", "support"}`` per class),
    ``confusion_matrix`` (K lists of K counts, rows true, columns predicted), ``log_loss``
    (the categorical cross-entropy computed from ZL, shifted by each column's max, so it
    stays finite however confident a wrong prediction is), ``classes``, ``examples``
    """
    K = ZL.shape[0]
    labels = np.ravel(Y).astype(np.int64)
    Y_pred = labels_of(softmax(ZL), "softmax")[0]  # (m,): the most probable class
    cm = confusion_matrix(labels, Y_pred, K)
    per_class = []
    for k in range(K):
        tp, predicted, support = int(cm[k, k]), int(cm[:, k].sum()), int(cm[k, :].sum())
        precision, recall = _ratio(tp, predicted), _ratio(tp, support)
        per_class.append(
            {
                "class": str(classes[k]),
                "precision": precision,
                "recall": recall,
                "f1": _ratio(2 * precision * recall, precision + recall),
                "support": support,
            }
        )
    m = int(labels.size)
    return {
        "accuracy": _ratio(int(np.trace(cm)), m),
        "balanced_accuracy": balanced_accuracy(cm),
        "macro_precision": float(np.mean([c["precision"] for c in per_class])),
        "macro_recall": float(np.mean([c["recall"] for c in per_class])),
        "macro_f1": float(np.mean([c["f1"] for c in per_class])),
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
        "log_loss": categorical_cross_entropy_from_logits(ZL, one_hot(labels, K)),
        "classes": [str(c) for c in classes],
        "examples": m,
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
    # A prediction far out of range overflows to inf here (no warning): the metric is then
    # inf or NaN, which the JSON outputs write as null.
    with np.errstate(over="ignore", invalid="ignore"):
        ss_res = float(np.sum(residual**2))
        ss_tot = float(np.sum((Y - Y.mean()) ** 2))
        mse = float(np.mean(residual**2))
    if ss_tot:
        r2 = 1.0 - ss_res / ss_tot
    else:
        r2 = 1.0 if ss_res == 0 else 0.0
    return {
        "mse": mse,
        "mae": float(np.mean(np.abs(residual))),
        "r2": r2,
        "examples": int(Y.size),
    }
