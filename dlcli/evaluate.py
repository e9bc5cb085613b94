"""Evaluating a trained model on labelled data: its own test set, a split made again, or
files; the metrics of :mod:`dlcli.metrics` and the course's "mislabeled images" figure.

A job-level module beside :mod:`dlcli.predict`: it imports predict (the model, its logits),
never the other way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dlcli.config import validate
from dlcli.data import tables
from dlcli.data.course import read_course_file
from dlcli.data.csvread import read_csv
from dlcli.data.load import load as load_data
from dlcli.data.tablecheck import model_rows
from dlcli.errors import DataError, DlcliError
from dlcli.images import write_grid
from dlcli.metrics import classification_metrics, regression_metrics, softmax_metrics
from dlcli.model import network
from dlcli.model.activations import ACTIVATIONS
from dlcli.predict import Model, check_threshold, label_probability, output_logits
from dlcli.predict_table import table_columns


@dataclass
class Evaluation:
    """What ``dlcli evaluate`` reports.

    metrics : :func:`dlcli.metrics.classification_metrics` (sigmoid output),
        :func:`dlcli.metrics.softmax_metrics` (softmax output) or
        :func:`dlcli.metrics.regression_metrics` (linear output, in the table's units for a
        table model), plus ``classes``, ``model`` and ``data``
    Y : ndarray of shape (m,), the true labels (int64), or targets for a linear output
    AL : the network's output: shape (m,), the probability of class 1 for sigmoid, the
        prediction for linear; shape (K, m), the class probabilities for softmax
    X : ndarray of shape (n_x, m), the examples as the network saw them
    """

    metrics: dict[str, Any]
    Y: np.ndarray
    AL: np.ndarray
    X: np.ndarray
    files: list[str] = field(default_factory=list)

    def predicted(self, threshold: float) -> np.ndarray:
        """The predicted label of each example, shape (m,)."""
        if self.AL.ndim == 2:  # softmax: the most probable class
            return network.labels(self.AL, "softmax")[0]
        return network.labels(self.AL, "sigmoid", threshold)

    def mislabeled(self, threshold: float) -> np.ndarray:
        """Indices of the examples whose predicted label differs from the true one."""
        return np.flatnonzero(self.predicted(threshold) != self.Y)


def _evaluate(
    model: Model, X: np.ndarray, Y: np.ndarray, data: list[str], threshold: float
) -> Evaluation:
    """The metrics of ``model`` on examples as the network takes them.

    Parameters
    ----------
    X : ndarray of shape (n_x, m), the network's input (standardized for a table model)
    Y : ndarray of shape (1, m), labels 0..K-1, or targets in the units to report (the
        table's own for a table model, whose prediction is unscaled to them)
    data : what the examples are, for the report
    """
    ZL = output_logits(model, X)
    if model.output == "sigmoid":
        metrics = classification_metrics(Y, ZL, threshold)
        metrics["classes"] = list(model.classes)
        metrics["positive_class"] = model.classes[1]
        AL, Y_out = ACTIVATIONS["sigmoid"][0](ZL)[0], Y[0].astype(np.int64)
    elif model.output == "softmax":
        metrics = softmax_metrics(Y, ZL, model.classes)
        AL, Y_out = network.softmax(ZL), Y[0].astype(np.int64)
    else:
        if model.is_table:
            ZL = tables.unscale_target(model.preprocessing, ZL)  # in the table's units
        metrics = regression_metrics(Y, ZL)  # a linear output's AL is ZL
        if model.is_table:
            metrics["target"] = model.preprocessing["target"]
        AL, Y_out = ZL[0], Y[0]
    metrics["model"] = str(model.path)
    metrics["data"] = data
    if model.class_weight is not None:  # what it was trained with (issue 18)
        metrics["class_weight"] = model.class_weight
    return Evaluation(metrics, Y_out, AL, X, data)


def _kind_of_files(model: Model) -> str:
    return "CSV tables" if model.is_table else "course-layout HDF5 files"


def evaluate_default(model: Model, *, threshold: float = 0.5) -> Evaluation:
    """Evaluate ``model`` on its own test set, as the config stored with it names it.

    ``data.test`` (a file) is read as :func:`evaluate_files` reads one. With
    ``data.test_fraction`` there is no test file: the split is made again by
    :func:`evaluate_split`, from the same data and seed, so it holds the same examples.
    """
    data = (model.config or {}).get("data") or {}
    if data.get("test"):
        return evaluate_files(
            model,
            [Path(data["test"])],
            threshold=threshold,
            key=f"data.test in the config of {model.path}",
        )
    if data.get("test_fraction"):
        return evaluate_split(model, threshold=threshold)
    generate = data.get("generate") or {}
    table = model.is_table
    hint = ""
    if generate:
        name = generate.get("name", "flower")
        hint = (
            f"; a generated set can be written with dlcli data {name} --out "
            f"FILE.{'csv' if name == 'housing' else 'h5'}"
        )
    example = "dlcli evaluate test.csv" if table else "dlcli evaluate test.h5"
    raise DlcliError(
        f"--model {model.path}: its config names no data.test to evaluate on; "
        f"pass DATA.{'csv' if table else 'h5'} files ({'CSV tables with its columns' if table else 'course layout'}), "
        f"e.g. {example}{hint}"
    )


def evaluate_split(model: Model, *, threshold: float = 0.5) -> Evaluation:
    """Evaluate on the ``data.test_fraction`` split of the stored config, made again.

    The stored (resolved) config is validated back into a :class:`dlcli.config.Config` and
    its data section loaded by :func:`dlcli.data.load`, which draws the same seeded split
    (``data.split_seed``) from the same generated set or files. For a table model the
    standardization computed again must equal the stored one, else the data changed since
    training and the split would not be the one the model was tested on.
    """
    where = f"--model {model.path}"
    cfg = validate(model.config, f"the config stored in {model.path}")
    fraction = cfg.data.test_fraction
    if cfg.data.generate is not None:
        gen = cfg.data.generate
        source = f"data.generate {gen.name} ({gen.examples} examples, seed {gen.seed})"
    else:
        source = str(cfg.data.train)
    try:
        dataset = load_data(cfg.data, cfg.model.output_activation)
    except DlcliError as exc:
        raise DataError(
            f"{where}: making its test split again (data.test_fraction {fraction:g} of "
            f"{source}) failed: {exc}"
        ) from None
    changed = (
        dataset.X_test is None
        or dataset.X_test.shape[0] != model.n_x
        or (dataset.preprocessing != model.preprocessing if model.is_table else False)
        or (model.output != "linear" and tuple(dataset.classes) != model.classes)
    )
    if changed:
        raise DataError(
            f"{where}: {source} is not the data the model was trained on (other columns, "
            "classes or values), so its test split cannot be made again; pass DATA files "
            f"({_kind_of_files(model)}) to evaluate on"
        )
    X, Y = dataset.X_test, dataset.Y_test
    if model.output == "softmax":
        Y = network.labels(Y, "softmax")  # one-hot (K, m) -> labels (1, m)
    if model.is_table and model.output == "linear":
        Y = tables.unscale_target(dataset.preprocessing, Y)  # as training reported it
    described = (
        f"the test split of {source}: data.test_fraction {fraction:g}, "
        f"data.split_seed {cfg.data.split_seed}, {X.shape[1]} examples"
    )
    return _evaluate(model, X, Y, [described], threshold)


def evaluate_files(
    model: Model, data: Sequence[Path], *, threshold: float = 0.5, key: str = "DATA.h5"
) -> Evaluation:
    """Evaluate ``model`` on data files, taken together as one set.

    For a table model they are CSV tables (see :func:`evaluate_tables`). Otherwise they are
    course-layout HDF5 files, each holding what the model takes (pixels of its example
    shape, or features of its width) and, if it names its classes, the model's classes in
    the model's order.
    """
    check_threshold(threshold)
    csvs = [path for path in data if path.suffix.lower() == ".csv"]
    if model.is_table:
        return evaluate_tables(
            model, data, key=key.replace("DATA.h5", "DATA.csv"), threshold=threshold
        )
    if csvs:
        raise DataError(
            f"{key.replace('DATA.h5', 'DATA.csv')}: {csvs[0]}: a CSV table, but the model "
            f"{model.path} takes {model.takes()} from course-layout HDF5 files; CSV tables "
            "are for models trained on a table"
        )
    Xs, Ys = [], []
    for path in data:
        # Any class count is read; the model's own classes are checked below.
        read = read_course_file(path, key, output="softmax")
        where = f"{key} {path}"
        if read.preprocessing["kind"] != model.preprocessing["kind"] or (
            model.is_image and read.example_shape != model.example_shape
        ):
            kinds = {"image": "pictures of shape", "none": "features of shape"}
            raise DataError(
                f"{where}: holds {kinds[read.preprocessing['kind']]} {read.example_shape}; "
                f"the model {model.path} takes {kinds[model.preprocessing['kind']]} {model.example_shape}"
            )
        if read.X.shape[0] != model.n_x:
            raise DataError(
                f"{where}: holds {read.X.shape[0]} features per example; the model {model.path} takes {model.n_x}"
            )
        if read.named_classes and read.classes != model.classes:
            labels = ", ".join(str(k) for k in range(len(model.classes)))
            raise DataError(
                f"{where}: list_classes {list(read.classes)}; the model {model.path} has "
                f"{list(model.classes)} (labels {labels} must mean the same classes)"
            )
        Xs.append(read.X)
        Ys.append(read.Y)
    X = np.concatenate(Xs, axis=1) if len(Xs) > 1 else Xs[0]  # (n_x, m)
    Y = np.concatenate(Ys, axis=1) if len(Ys) > 1 else Ys[0]  # (1, m)
    return _evaluate(model, X, Y, [str(p) for p in data], threshold)


def evaluate_tables(
    model: Model, data: Sequence[Path], *, key: str = "DATA.csv", threshold: float = 0.5
) -> Evaluation:
    """Evaluate a table model on CSV tables taken together: each must hold the model's
    feature columns and its target; a regression's metrics are in the target's own units, a
    classifier's name its classes (a label it does not know is refused, naming the row)."""
    Xs, Ys = [], []
    for path in data:
        if path.suffix.lower() != ".csv":
            raise DataError(
                f"{key}: {path}: not a .csv file; the model {model.path} is a table model, "
                f"evaluated on CSV tables with its columns {model.preprocessing['features']} "
                f"and {model.preprocessing['target']!r}"
            )
        if model.is_encoded_table:
            prep = model.preprocessing
            X, Y = model_rows(
                prep, read_csv(path, key), model.classes, str(model.path), target=True
            )
            if model.output == "linear":
                Y = tables.unscale_target(prep, Y)  # in the target's units
        else:
            _, _, X_raw, Y = table_columns(model, path, key, target=True)
            X, _ = tables.apply_table(model.preprocessing, X_raw)
        Xs.append(X)
        Ys.append(Y)
    X = np.concatenate(Xs, axis=1)  # (n_x, m)
    Y = np.concatenate(Ys, axis=1)  # (1, m)
    return _evaluate(model, X, Y, [str(p) for p in data], threshold)


def mislabeled_grid(evaluation: Evaluation, model: Model, out: Path, threshold: float) -> int:
    """Write the course's "mislabeled images" figure: each wrongly classified picture with its
    index, predicted label and probability, and true label. At most 100 are drawn, in data
    order. Returns the number of mislabeled examples."""
    if model.output == "linear":
        raise DlcliError(
            f"--mislabeled: the model {model.path} has a linear output; only a sigmoid "
            "output labels pictures (or a softmax output over K classes)"
        )
    size, channels = model.picture_shape()
    wrong = evaluation.mislabeled(threshold)
    shown = wrong[:100]
    divide_by = float(model.preprocessing["divide_by"])
    pictures, titles = [], []
    predicted = evaluation.predicted(threshold)
    probability = label_probability(evaluation.AL, predicted)
    for i in shown:
        # X = pixels / 255 exactly, so the pixels come back exactly.
        pixels = np.rint(evaluation.X[:, i] * divide_by).clip(0, 255).astype(np.uint8)
        pictures.append(pixels.reshape(*size, channels))
        label = int(predicted[i])
        titles.append(
            f"#{i}: predicted {model.classes[label]} ({float(probability[i]):.2f})\n"
            f"true: {model.classes[evaluation.Y[i]]}"
        )
    m = evaluation.Y.size
    if not wrong.size:
        title = f"No mislabeled pictures: all {m} classified correctly"
    else:
        more = f", the first {shown.size} shown" if wrong.size > shown.size else ""
        title = f"Mislabeled: {wrong.size} of {m} pictures{more}"
    write_grid(out, pictures, titles, title, title_colors=["firebrick"] * len(titles))
    return int(wrong.size)
