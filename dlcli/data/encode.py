"""Table columns into the network's input X (n_x, m) and labels Y (1, m), fitted on the
training part and applied to every split, and later to the rows predict and evaluate read.

Each feature column becomes inputs by its kind:

- numeric: 1 input, standardized, (x - mean) / std with the training part's mean and std
  (std 1 where it is 0);
- categorical (text, or listed in ``data.categorical``): k one-hot inputs, one per category
  seen in the training part; a category the training part never held is an error, or all
  zeros with ``data.unknown_category: zeros``.

The target becomes Y: standardized for a regression (linear output), or the label 0..K-1 of
each row's class for a classifier (the classes sorted, or in ``data.classes`` order).

The preprocessing a model stores (JSON in params.h5) holds all of it. A regression on
numeric columns only keeps the first table format, ``{"kind": "table", "features", "mean",
"std", "target", "target_mean", "target_std"}``, so such model files stay byte for byte what
they were; anything else writes ``"columns"`` (one entry per feature column), ``"task"``,
``"missing"`` and ``"unknown_category"`` as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dlcli.data.csvread import CsvTable
from dlcli.errors import DataError

#: The hint of the "is not a number" message while training (the message predates classes).
TRAIN_HINT = (
    "features and the target must be numbers; to leave this column out, list the feature "
    "columns in data.features"
)
#: The category a missing cell of a categorical column becomes with ``data.missing: mean``.
MISSING_CATEGORY = "missing"


@dataclass(frozen=True)
class TableSpec:
    """What a config's data section says about a table.

    task : "regression" (linear output) or "classification" (sigmoid or softmax output)
    classes : ``data.classes``, the classes in label order, or None (sorted labels)
    """

    target: str
    features: list[str]
    categorical: tuple[str, ...] = ()
    missing: str = "error"
    unknown: str = "error"
    task: str = "regression"
    classes: tuple[str, ...] | None = None
    output: str = "linear"


def where_of(table: CsvTable) -> str:
    return f"{table.key}: {table.path}"


def texts(values: np.ndarray) -> np.ndarray:
    """A column's cells as text, object (m,): integers as "3" (not "3.0"), other numbers in
    their shortest form, text as it is; so "3" and "3.0" are the same category or class."""
    if values.dtype == object:
        return values
    out = np.empty(values.shape, object)
    for i, v in enumerate(values.tolist()):
        out[i] = str(int(v)) if float(v).is_integer() else repr(float(v))
    return out


def sort_names(names: set[str]) -> list[str]:
    """Names sorted as numbers when every one is a number, else as text."""

    def number(name: str) -> float | None:
        try:
            return float(name)
        except ValueError:
            return None

    if all(number(n) is not None for n in names):
        return sorted(names, key=lambda n: (number(n), n))
    return sorted(names)


def _first_text(table: CsvTable, name: str) -> int | None:
    """The first row whose non-missing cell is not a number (an object column), or None."""
    column, gone = table.columns[name], table.missing[name]
    if column.dtype != object:
        return None
    for r, (cell, absent) in enumerate(zip(column.tolist(), gone.tolist(), strict=True)):
        if not absent:
            try:
                float(cell)
            except ValueError:
                return r
    return None


def not_a_number(table: CsvTable, names: list[str], hint: str, where: str = "") -> None:
    """Refuse the first cell (by row, then column) of ``names`` that is not a number."""
    first = [(r, c) for c, name in enumerate(names) if (r := _first_text(table, name)) is not None]
    if first:
        r, c = min(first)
        name = names[c]
        raise DataError(
            f"{where or where_of(table)}: line {table.lines[r]}, column {name!r}: "
            f"{table.columns[name][r]!r} is not a number; {hint}"
        )


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
        r = _first_text(table, name)
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
        column = table.columns[name][rows]
        if column.dtype != object:
            r = np.flatnonzero(np.isinf(column))
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


def _taken(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The columns ``rows`` of values (n, m_all), taken as the first table format took them:
    all of them as they are, else by ``values[:, rows]``. The layout NumPy gives that (not
    C order) sets the order in which means add up, and so their last bits: taken the same
    way, a numeric regression's model file keeps its bytes."""
    return values if rows.size == values.shape[1] else values[:, rows]


def fit(table: CsvTable, rows: np.ndarray, spec: TableSpec, kind: dict[str, str]) -> dict[str, Any]:
    """The preprocessing of a table, from its training part (``rows`` of ``table``).

    Numeric columns: mean and std of the training part's cells (missing ones left out; with
    ``data.missing: mean`` they are filled with that mean). Categorical columns: the sorted
    categories of the training part (plus "missing" when it has missing cells and
    ``data.missing: mean``). A regression's target: mean and std.
    """
    numeric = [n for n in spec.features if kind[n] == "numeric"]
    X = _taken(np.stack([table.columns[n] for n in numeric]), rows) if numeric else None
    stats: dict[str, tuple[float, float]] = {}
    if X is not None:
        # The same reductions as the first table format, so its model files keep their bytes.
        nan = bool(np.isnan(X).any())
        mean = np.nanmean(X, axis=1) if nan else X.mean(axis=1)
        std = np.nanstd(X, axis=1) if nan else X.std(axis=1)
        std = np.where(std > 0, std, 1.0)
        stats = {n: (mean[i], std[i]) for i, n in enumerate(numeric)}
    target: dict[str, Any] = {}
    if spec.task == "regression":
        Y = _taken(table.columns[spec.target][np.newaxis, :], rows)  # (1, m)
        y_std = float(Y.std())
        target = {"target_mean": float(Y.mean()), "target_std": y_std if y_std > 0 else 1.0}
    if spec.task == "regression" and len(numeric) == len(spec.features) and spec.missing != "mean":
        return {
            "kind": "table",
            "features": list(spec.features),
            "mean": [float(stats[n][0]) for n in numeric],
            "std": [float(stats[n][1]) for n in numeric],
            "target": spec.target,
            **target,
        }
    columns = []
    for name in spec.features:
        if kind[name] == "numeric":
            entry = {"name": name, "type": "numeric", "mean": float(stats[name][0])}
            entry["std"] = float(stats[name][1])
            if spec.missing == "mean":
                entry["fill"] = entry["mean"]
        else:
            cells = table.columns[name][rows]
            gone = table.missing[name][rows]
            seen = set(texts(cells[~gone]).tolist())
            if gone.any() and spec.missing == "mean":
                seen.add(MISSING_CATEGORY)
            entry = {"name": name, "type": "categorical", "categories": sort_names(seen)}
        columns.append(entry)
    return {
        "kind": "table",
        "features": list(spec.features),
        "columns": columns,
        "target": spec.target,
        "task": spec.task,
        "missing": spec.missing,
        "unknown_category": spec.unknown,
        **target,
    }


def is_encoded(prep: dict[str, Any]) -> bool:
    """A table preprocessing with per-column entries (not the first, numeric-only format)."""
    return prep.get("kind") == "table" and "columns" in prep


def columns_of(prep: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-column entries of either table format."""
    if is_encoded(prep):
        return prep["columns"]
    return [
        {"name": n, "type": "numeric", "mean": mu, "std": s}
        for n, mu, s in zip(prep["features"], prep["mean"], prep["std"], strict=True)
    ]


def breakdown(prep: dict[str, Any], shown: int = 6) -> str:
    """How many inputs each column gives, e.g. "size_m2 1, colour 3 (blue, green, red)"; at
    most ``shown`` categories are named per column; "" when ``prep`` is not a table's."""
    if prep.get("kind") != "table":
        return ""
    parts = []
    for entry in columns_of(prep):
        if entry["type"] == "numeric":
            parts.append(f"{entry['name']} 1")
            continue
        cats = entry["categories"]
        named = ", ".join(cats[:shown]) + (", ..." if len(cats) > shown else "")
        parts.append(f"{entry['name']} {len(cats)} ({named})")
    return ", ".join(parts)


def n_inputs(prep: dict[str, Any]) -> int:
    """n_x, the inputs the columns give."""
    return sum(1 if e["type"] == "numeric" else len(e["categories"]) for e in columns_of(prep))


def _numeric_row(
    table: CsvTable, rows: np.ndarray, entry: dict[str, Any], hint: str, where: str
) -> np.ndarray:
    """One numeric column standardized, (m,); a missing cell becomes its fill (0 after
    standardizing, the training mean)."""
    name = entry["name"]
    not_a_number(table, [name], hint, where)
    cells = table.columns[name][rows].astype(np.float64)  # (m,), NaN where missing
    if "fill" in entry:
        cells = np.where(np.isnan(cells), entry["fill"], cells)
    return (cells - entry["mean"]) / entry["std"]


def _one_hot_rows(
    table: CsvTable, rows: np.ndarray, entry: dict[str, Any], unknown: str, where: str
) -> np.ndarray:
    """One categorical column as k one-hot rows, (k, m); a category the training part never
    held is refused (naming the row), or all zeros with ``unknown_category: zeros``."""
    name, categories = entry["name"], entry["categories"]
    index = {c: i for i, c in enumerate(categories)}
    cells = texts(table.columns[name][rows])
    gone = table.missing[name][rows]
    block = np.zeros((len(categories), rows.size))  # (k, m)
    for j, (cell, absent) in enumerate(zip(cells.tolist(), gone.tolist(), strict=True)):
        i = index.get(MISSING_CATEGORY if absent else cell)
        if i is not None:
            block[i, j] = 1.0
        elif unknown != "zeros":
            line = table.lines[rows[j]]
            found = "a missing cell" if absent else repr(cell)
            raise DataError(
                f"{where}: line {line}, column {name!r}: {found} is not a category seen in "
                f"training ({', '.join(categories)}); set data.unknown_category: zeros to give "
                "it all-zero inputs"
            )
    return block


def transform(
    prep: dict[str, Any],
    table: CsvTable,
    rows: np.ndarray,
    *,
    target: bool,
    classes: tuple[str, ...] = (),
    hint: str = TRAIN_HINT,
    where: str = "",
) -> tuple[np.ndarray, np.ndarray | None]:
    """The network's input X (n_x, m) of ``rows`` of ``table`` and, with ``target``, Y (1, m):
    the standardized target, or each row's label 0..K-1 indexing ``classes``.

    Missing cells must have been dropped or refused before, unless ``prep`` fills them.
    """
    where = where or where_of(table)
    if not is_encoded(prep):  # the first format: as dlcli.data.tables.apply_table
        names = list(prep["features"])
        not_a_number(table, names, hint, where)
        X = _taken(np.stack([table.columns[n] for n in names]), rows)  # (n_x, m)
        mean, std = np.array(prep["mean"])[:, np.newaxis], np.array(prep["std"])[:, np.newaxis]
        Xs = (X - mean) / std
    else:
        unknown = prep.get("unknown_category", "error")
        blocks = [
            _numeric_row(table, rows, e, hint, where)[np.newaxis, :]
            if e["type"] == "numeric"
            else _one_hot_rows(table, rows, e, unknown, where)
            for e in prep["columns"]
        ]
        Xs = np.concatenate(blocks, axis=0)  # (n_x, m)
    if not target:
        return Xs, None
    name = prep["target"]
    if prep.get("task", "regression") == "regression":
        not_a_number(table, [name], hint, where)
        Y = _taken(table.columns[name][np.newaxis, :], rows)  # (1, m)
        return Xs, (Y - prep["target_mean"]) / prep["target_std"]
    return Xs, labels_of(table, rows, name, classes, where)


def labels_of(
    table: CsvTable, rows: np.ndarray, name: str, classes: tuple[str, ...], where: str
) -> np.ndarray:
    """Y (1, m): each row's label, the index of its class in ``classes``; a label outside
    them is refused, naming the row."""
    index = {c: i for i, c in enumerate(classes)}
    labels = texts(table.columns[name][rows]).tolist()
    Y = np.empty((1, len(labels)))
    for j, label in enumerate(labels):
        if label not in index:
            raise DataError(
                f"{where}: line {table.lines[rows[j]]}, column {name!r}: {label!r} is not one "
                f"of the classes {list(classes)}"
            )
        Y[0, j] = index[label]
    return Y
