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
from dlcli.data.tables import apply_table
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


def first_text(table: CsvTable, name: str) -> int | None:
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
    first = [(r, c) for c, name in enumerate(names) if (r := first_text(table, name)) is not None]
    if first:
        r, c = min(first)
        name = names[c]
        raise DataError(
            f"{where or where_of(table)}: line {table.lines[r]}, column {name!r}: "
            f"{table.columns[name][r]!r} is not a number; {hint}"
        )


def _gathered(columns: list[np.ndarray], rows: np.ndarray) -> np.ndarray:
    """The cells ``rows`` of ``columns`` (n columns of m_all cells) as X (n, m), laid out as the
    first table format took them: all rows stacked in C order, else by ``stacked[:, rows]``,
    whose result NumPy lays out in F order. The layout sets the order in which means add up,
    and so their last bits: laid out the same way, a numeric regression's model file keeps its
    bytes. (Taken column by column into X, without a stacked copy of every row.)"""
    if rows.size == columns[0].size:
        return np.stack(columns)  # (n, m), C order
    taken = np.empty((rows.size, len(columns)))  # (m, n) in C order: its .T is (n, m), F order
    for j, column in enumerate(columns):
        np.take(column, rows, out=taken[:, j], mode="clip")  # (rows are in range)
    return taken.T


def moments(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """mean (n,), std (n,) and X - mean (n, m) of X (n, m), along axis 1, equal to the bit to
    ``X.mean(axis=1)`` and ``X.std(axis=1)``: NumPy's own steps (sum, divide by m; subtract,
    square, sum, divide, square root) in its order, on X's layout. The squares overwrite X,
    so no array of X's size is made but X - mean (NumPy's std makes two)."""
    m = X.shape[1]
    mean = np.add.reduce(X, axis=1, keepdims=True) / m  # (n, 1)
    centered = X - mean  # (n, m), X's layout
    squares = np.multiply(centered, centered, out=X)
    return mean[:, 0], np.sqrt(np.add.reduce(squares, axis=1) / m), centered


def fit_transform(
    table: CsvTable,
    rows: np.ndarray,
    spec: TableSpec,
    kind: dict[str, str],
    classes: tuple[str, ...] = (),
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """:func:`fit` on the training part, and that part's X (n_x, m) and Y (1, m) as
    :func:`transform` gives them; a numeric regression's X is the columns :func:`fit`
    gathered and centered, divided by their std in place (not gathered twice)."""
    prep, centered, Y = _fit(table, rows, spec, kind)
    if centered is None or is_encoded(prep):
        return prep, *transform(prep, table, rows, target=True, classes=classes)
    centered /= np.array(prep["std"])[:, np.newaxis]  # as apply_table: (X - mean) / std
    return prep, centered, (Y - prep["target_mean"]) / prep["target_std"]


def fit(table: CsvTable, rows: np.ndarray, spec: TableSpec, kind: dict[str, str]) -> dict[str, Any]:
    """The preprocessing of a table, from its training part (``rows`` of ``table``).

    Numeric columns: mean and std of the training part's cells (missing ones left out; with
    ``data.missing: mean`` they are filled with that mean). Categorical columns: the sorted
    categories of the training part (plus "missing" when it has missing cells and
    ``data.missing: mean``). A regression's target: mean and std.
    """
    return _fit(table, rows, spec, kind)[0]


def _fit(
    table: CsvTable, rows: np.ndarray, spec: TableSpec, kind: dict[str, str]
) -> tuple[dict[str, Any], np.ndarray | None, np.ndarray | None]:
    """:func:`fit`, the numeric columns of ``rows`` minus their means, X - mean (n, m), when
    none is missing (else None), and a regression's target Y (1, m) (else None)."""
    numeric = [n for n in spec.features if kind[n] == "numeric"]
    X = _gathered([table.columns[n] for n in numeric], rows) if numeric else None
    stats: dict[str, tuple[float, float]] = {}
    centered = None
    if X is not None:
        # The same reductions as the first table format, so its model files keep their bytes.
        if spec.missing == "mean" and np.isnan(X).any():  # else no cell used is missing
            mean, std = np.nanmean(X, axis=1), np.nanstd(X, axis=1)
        else:
            mean, std, centered = moments(X)
        std = np.where(std > 0, std, 1.0)
        stats = {n: (mean[i], std[i]) for i, n in enumerate(numeric)}
    target: dict[str, Any] = {}
    Y = None
    if spec.task == "regression":
        Y = _gathered([table.columns[spec.target]], rows)  # (1, m)
        y_std = float(Y.std())
        target = {"target_mean": float(Y.mean()), "target_std": y_std if y_std > 0 else 1.0}
    if spec.task == "regression" and len(numeric) == len(spec.features) and spec.missing != "mean":
        first = {
            "kind": "table",
            "features": list(spec.features),
            "mean": [float(stats[n][0]) for n in numeric],
            "std": [float(stats[n][1]) for n in numeric],
            "target": spec.target,
            **target,
        }
        return first, centered, Y
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
    encoded = {
        "kind": "table",
        "features": list(spec.features),
        "columns": columns,
        "target": spec.target,
        "task": spec.task,
        "missing": spec.missing,
        "unknown_category": spec.unknown,
        **target,
    }
    return encoded, centered, Y


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
    if not is_encoded(prep):  # the first format
        names = list(prep["features"])
        not_a_number(table, names, hint, where)
        X = _gathered([table.columns[n] for n in names], rows)  # a copy: standardized in place
        Xs, _ = apply_table(prep, X, out=X)
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
        Y = _gathered([table.columns[name]], rows)  # (1, m)
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


def _number(v: Any, positive: bool = False) -> bool:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and bool(np.isfinite(v))
    return ok and (v > 0 or not positive)


def _first_form_problem(prep: dict[str, Any], n_x: int, output: str) -> str | None:
    """What is wrong with a table preprocessing of the first form: n_x features with a
    finite mean and a std > 0 each, and the target with its mean and std."""

    def numbers(v: Any, positive: bool = False) -> bool:
        return isinstance(v, list) and len(v) == n_x and all(_number(x, positive) for x in v)

    features = prep.get("features")
    if not (
        isinstance(features, list)
        and len(features) == n_x
        and all(isinstance(f, str) for f in features)
        and numbers(prep.get("mean"))
        and numbers(prep.get("std"), positive=True)
        and isinstance(prep.get("target"), str)
        and _number(prep.get("target_mean"))
        and _number(prep.get("target_std"), positive=True)
    ):
        return (
            f"preprocessing {prep}; allowed for a table: features (names), mean and std "
            f"(numbers, std > 0), each a list of W1's {n_x} columns, a target name, target_mean "
            "and target_std > 0"
        )
    if output != "linear":
        return f"a table model with a {output} output; allowed: linear (tables are for regression)"
    return None


def stored_problem(prep: dict[str, Any], n_x: int, output: str) -> str | None:
    """What is wrong with a table preprocessing read from a model file whose W1 has ``n_x``
    columns, for this output, or None: either form :func:`fit` writes."""
    if not is_encoded(prep):
        return _first_form_problem(prep, n_x, output)
    number = _number

    def column_ok(e: Any) -> bool:
        if not isinstance(e, dict) or not isinstance(e.get("name"), str):
            return False
        if e.get("type") == "numeric":
            return (
                number(e.get("mean"))
                and number(e.get("std"), True)
                and ("fill" not in e or number(e["fill"]))
            )
        cats = e.get("categories")
        return (
            e.get("type") == "categorical"
            and isinstance(cats, list)
            and bool(cats)
            and all(isinstance(c, str) for c in cats)
        )

    columns = prep.get("columns")
    task = prep.get("task")
    if not (
        isinstance(columns, list)
        and columns
        and all(column_ok(e) for e in columns)
        and prep.get("features") == [e["name"] for e in columns]
        and n_inputs(prep) == n_x
        and isinstance(prep.get("target"), str)
        and task in ("regression", "classification")
        and prep.get("missing") in ("error", "drop", "mean")
        and prep.get("unknown_category") in ("error", "zeros")
        and (
            task != "regression"
            or (number(prep.get("target_mean")) and number(prep.get("target_std"), True))
        )
    ):
        return (
            f"preprocessing {prep}; allowed for a table: columns, each (name, type numeric, "
            "mean, std > 0[, fill]) or (name, type categorical, categories), giving W1's "
            f"{n_x} inputs; features (their names), target, task (regression or "
            "classification), missing (error, drop or mean), unknown_category (error or zeros), "
            "and for a regression target_mean and target_std > 0"
        )
    if (task == "regression") != (output == "linear"):
        return f"a {task} table with a {output} output; allowed: linear for a regression, sigmoid or softmax for classes"
    return None
