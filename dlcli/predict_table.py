"""``dlcli predict --csv``: every row of a CSV table predicted by a table model, the input
rows written back with the prediction columns added."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from dlcli.data.csvread import delimiter_of, read_csv
from dlcli.data.tablecheck import model_rows
from dlcli.data.tables import apply_table, csv_numbers, read_csv_rows, unscale_target
from dlcli.errors import DataError, DlcliError
from dlcli.model import network
from dlcli.model.activations import ACTIVATIONS
from dlcli.predict import Model, output_logits, top_class


def table_columns(
    model: Model, path: Path, key: str, *, target: bool
) -> tuple[list[str], list[tuple[int, list[str]]], np.ndarray, np.ndarray | None]:
    """A CSV table's header and rows, the model's raw features X (n_x, m) taken by name and,
    with ``target``, the target Y (1, m). Other columns are not read as numbers."""
    header, body = read_csv_rows(path, key)
    where = f"{key}: {path}"
    features = list(model.preprocessing["features"])
    name = model.preprocessing["target"]
    need = [*features, name] if target else features
    for column in need:
        if column not in header:
            role = "the target" if column == name else "a feature"
            raise DataError(
                f"{where}: has no column {column!r}, {role} of the model {model.path}; "
                f"its columns: {header}; the model needs {need}"
            )
    hint = "the model's columns must hold numbers"
    X = csv_numbers(header, body, features, where, hint)  # (n_x, m)
    Y = csv_numbers(header, body, [name], where, hint) if target else None  # (1, m)
    return header, body, X, Y


@dataclass
class TablePrediction:
    """``dlcli predict --csv``: the input rows as read, and a prediction for each.

    values : ndarray of shape (m,), in the target's own units; for a classifier the
        predicted class names, object (m,)
    probability : ndarray of shape (m,), the probability of each row's predicted class, or
        None for a regression
    probabilities : ndarray of shape (K, m), every class's probability (with
        ``--all-probabilities``), else None
    """

    header: list[str]
    rows: list[list[str]]
    column: str
    values: np.ndarray
    probability: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    classes: tuple[str, ...] = ()
    delimiter: str = ","  # the input file's, for the rows written back

    @property
    def added(self) -> list[str]:
        """The columns predict adds to the rows."""
        extra = [] if self.probability is None else ["probability"]
        if self.probabilities is not None:
            extra += [f"probability_{c}" for c in self.classes]
        return [self.column, *extra]

    def cells(self, i: int) -> list[str]:
        """Row i's added cells; numbers at full precision (the shortest text that reads back
        as the same float64)."""
        if self.probability is None:
            return [repr(float(self.values[i]))]
        cells = [str(self.values[i]), repr(float(self.probability[i]))]
        if self.probabilities is not None:
            cells += [repr(float(p)) for p in self.probabilities[:, i]]
        return cells

    def write(self, out: TextIO) -> None:
        """The input rows, their cells as written, plus the prediction columns, separated as
        the input file was."""
        writer = csv.writer(out, delimiter=self.delimiter, lineterminator="\n")
        writer.writerow([*self.header, *self.added])
        for i, row in enumerate(self.rows):
            writer.writerow([*row, *self.cells(i)])


def class_probabilities(model: Model, ZL: np.ndarray) -> np.ndarray:
    """Every class's probability, (K, m): softmax(ZL), or [1 - AL, AL] for a sigmoid output."""
    if model.output == "softmax":
        return network.softmax(ZL)  # (K, m)
    AL = ACTIVATIONS["sigmoid"][0](ZL)[0]  # (m,)
    return np.stack([1.0 - AL, AL])


def predict_table(
    model: Model,
    path: Path,
    key: str = "--csv",
    *,
    threshold: float = 0.5,
    all_probabilities: bool = False,
) -> TablePrediction:
    """Predict every row of a CSV table with a table model.

    The model's feature columns are taken by name (other columns are kept as they are, the
    target may be absent), standardized with the stored mean and std (categories one-hot,
    missing cells filled as the model says), run through the network; a regression's
    prediction is unscaled to the target's units, a classifier's is the class name (as
    :func:`dlcli.predict.top_class` picks it) and its probability.
    """
    if not model.is_table:
        raise DlcliError(
            f"{key} {path}: the model {model.path} takes {model.takes()}, not a CSV table; "
            "--csv is for models trained on one (data.train: FILE.csv or data.generate housing)"
        )
    column = f"predicted_{model.preprocessing['target']}"
    if model.is_encoded_table:
        table = read_csv(path, key)
        X, _ = model_rows(model.preprocessing, table, model.classes, str(model.path), target=False)
        header, body = read_csv_rows(path, key)  # the cells as written, for the copy
    else:
        header, body, X_raw, _ = table_columns(model, path, key, target=False)
        X, _ = apply_table(model.preprocessing, X_raw)  # (n_x, m)
    rows = [row for _, row in body]
    if column in header:
        raise DataError(
            f"{key}: {path}: already has a column {column!r}; predict adds it, so remove it first"
        )
    ZL = output_logits(model, X)
    delimiter = delimiter_of(path)
    if model.output == "linear":
        values = unscale_target(model.preprocessing, ZL)[0]  # (m,)
        return TablePrediction(header, rows, column, values, delimiter=delimiter)
    labels, probability = top_class(model, ZL, threshold)
    names = np.array(model.classes, object)[labels]  # (m,)
    every = class_probabilities(model, ZL) if all_probabilities else None
    return TablePrediction(
        header, rows, column, names, probability, every, model.classes, delimiter
    )
