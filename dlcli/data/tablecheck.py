"""The checks a table passes before it is encoded (:mod:`dlcli.data.encode`): each
feature's kind, the target's labels or numbers, missing and infinite cells, the classes.
Each refusal is a :class:`DataError` naming the file, the line and the column."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcli.data import encode
from dlcli.data.csvread import CsvTable
from dlcli.data.encode import (
    TRAIN_HINT,
    TableSpec,
    first_text,
    not_a_number,
    sort_names,
    texts,
    where_of,
)
from dlcli.errors import DataError


def kinds(table: CsvTable, spec: TableSpec) -> dict[str, str]:
    """Each feature's kind, "numeric" or "categorical", from the training table.

    A column listed in ``data.categorical`` is categorical; one whose cells are all numbers is
    numeric; one of text is categorical, unless it mixes numbers and text (a slip such as
    "n/a" in a column of numbers) or every row holds another value (an id or an address,
    nothing to learn from): those are refused as before, "not a number".
    """
    found = {}
    refused = []
    for name in spec.features:
        column = table.columns[name]
        if name in spec.categorical or column.dtype != object:
            found[name] = "categorical" if name in spec.categorical else "numeric"
            continue
        present = column[~table.missing[name]]
        numbers = sum(_is_number(cell) for cell in present.tolist())
        if numbers or (len(set(present.tolist())) == present.size >= 2):
            refused.append(name)
        found[name] = "categorical"
    if refused:
        ordered = [n for n in table.header if n in refused]
        _refuse_first(table, ordered)
    return found


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _refuse_first(table: CsvTable, names: list[str]) -> None:
    """The first non-number cell of refused text columns, by row then header order."""
    rows = []
    for c, name in enumerate(names):
        r = first_text(table, name)
        # An id column of numbers and words alike: its first word, else its first cell.
        rows.append((r if r is not None else 0, c))
    r, c = min(rows)
    raise DataError(
        f"{where_of(table)}: line {table.lines[r]}, column {names[c]!r}: "
        f"{table.columns[names[c]][r]!r} is not a number; {TRAIN_HINT}"
    )


def check_finite(table: CsvTable, names: list[str], rows: np.ndarray, where: str = "") -> None:
    """Refuse the first infinite number (by row, then column) of the numeric ``names``."""
    bad = []
    for c, name in enumerate(names):
        column = table.columns[name]
        if column.dtype == object or not np.isinf(column).any():
            continue
        r = np.flatnonzero(np.isinf(column[rows]))
        if r.size:
            bad.append((int(rows[r[0]]), c))
    if bad:
        r, c = min(bad)
        raise DataError(
            f"{where or where_of(table)}: line {table.lines[r]}, column {names[c]!r} is not "
            "finite; all values must be"
        )


def missing_mask(table: CsvTable, names: list[str]) -> np.ndarray:
    """bool (m,): rows with a missing cell in any of ``names``."""
    mask = np.zeros(table.m, bool)
    for name in names:
        mask |= table.missing[name]
    return mask


def refuse_missing(
    table: CsvTable, names: list[str], rows: np.ndarray, fix: str, where: str = ""
) -> None:
    """Refuse the first missing cell (by row, then column) of ``names`` among ``rows``,
    with the count of missing cells there; ``fix`` says what to do."""
    if not any(table.missing[name].any() for name in names):
        return
    gone = np.stack([table.missing[name][rows] for name in names])  # (columns, rows)
    if not gone.any():
        return
    c, r = np.argwhere(gone.T)[0][::-1]
    count = int(gone.sum())
    cells = "cell" if count == 1 else "cells"
    raise DataError(
        f"{where or where_of(table)}: line {table.lines[rows[r]]}, column {names[c]!r} is "
        f"missing ({count} missing {cells} in the columns used); {fix}"
    )


def check_target(table: CsvTable, spec: TableSpec) -> None:
    """A regression's target holds numbers; a classifier's integers or words."""
    column = table.columns[spec.target]
    if spec.task == "regression":
        if column.dtype == object and not any(
            _is_number(c) for c in column[~table.missing[spec.target]].tolist()
        ):
            raise DataError(
                f"data.target: column {spec.target!r} of {table.path} holds words "
                f"({column[0]!r} on line {table.lines[0]}); a linear output predicts numbers; "
                "for classes set model.output_activation: sigmoid (2 classes) or softmax"
            )
        not_a_number(table, [spec.target], TRAIN_HINT)
        return
    if column.dtype != object:
        present = column[~table.missing[spec.target]]
        fraction = np.flatnonzero(present != np.round(present))
        if fraction.size:
            r = np.flatnonzero(~table.missing[spec.target])[fraction[0]]
            raise DataError(
                f"{where_of(table)}: line {table.lines[r]}, column {spec.target!r}: "
                f"{float(column[r])!r} is not a class label; a {spec.output} output takes "
                "labels that are words or integers (for numbers set model.output_activation: "
                "linear)"
            )


def find_classes(table: CsvTable, rows: np.ndarray, spec: TableSpec) -> tuple[str, ...]:
    """The classes in label order: ``data.classes``, or the sorted distinct labels of the
    training table's ``rows`` (integers sorted as numbers). Refuses one class only, a label
    outside ``data.classes`` and, for a sigmoid output, other than two classes."""
    labels = texts(table.columns[spec.target][rows])
    present = set(labels.tolist())
    if spec.classes is not None:
        outside = [r for r, label in enumerate(labels.tolist()) if label not in spec.classes]
        if outside:
            r = int(rows[outside[0]])
            raise DataError(
                f"{where_of(table)}: line {table.lines[r]}, column {spec.target!r}: "
                f"{labels[outside[0]]!r} is not one of data.classes {list(spec.classes)}"
            )
    if len(present) < 2:
        raise DataError(
            f"data.target: column {spec.target!r} of {table.path} holds one class only "
            f"({next(iter(present))!r}); a classifier needs examples of 2 classes or more"
        )
    classes = tuple(spec.classes) if spec.classes is not None else tuple(sort_names(present))
    if spec.output == "sigmoid" and len(classes) != 2:
        named = "data.classes names" if spec.classes is not None else "the labels are"
        raise DataError(
            f"data.target: column {spec.target!r} of {table.path}: {named} {len(classes)} "
            f"classes ({', '.join(classes)}); a sigmoid output takes exactly 2; for more set "
            f"model.output_activation: softmax and model.layers[-1]: {len(classes)}"
        )
    return classes


def model_rows(
    prep: dict[str, Any], table: CsvTable, classes: tuple[str, ...], model: str, *, target: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """The rows of a CSV table as a model of the per-column format takes them, for predict
    (``target`` False) and evaluate (``target`` True: Y as :func:`encode.transform` gives).

    The model's columns are found by name (others are left alone); a missing cell is refused
    unless the model fills it (``data.missing: mean``); a label is refused when it is not
    one of the model's ``classes``.
    """
    where = where_of(table)
    features, name = list(prep["features"]), prep["target"]
    need = [*features, name] if target else features
    for column in need:
        if column not in table.header:
            role = "the target" if column == name else "a feature"
            raise DataError(
                f"{where}: has no column {column!r}, {role} of the model {model}; "
                f"its columns: {table.header}; the model needs {need}"
            )
    policy = prep.get("missing", "error")
    rows = np.arange(table.m)
    kept = [n for n in table.header if n in need and not (policy == "mean" and n != name)]
    if kept:
        fix = (
            "the model fills no cells (trained with data.missing: "
            f"{policy}); fill them in or leave those rows out"
            if policy != "mean"
            else "a label cannot be filled in; leave those rows out"
        )
        refuse_missing(table, kept, rows, fix)
    hint = "the model's columns must hold numbers"
    numeric = [e["name"] for e in prep["columns"] if e["type"] == "numeric"]
    not_a_number(table, numeric, hint)
    check_finite(table, [n for n in table.header if n in numeric], rows)
    return encode.transform(prep, table, rows, target=target, classes=classes, hint=hint)
