"""``data.weight``: a CSV table's column of example weights (issue 18), checked row by row.

Each refusal names the file, the line and the column, what was found and what is allowed.
"""

from __future__ import annotations

import numpy as np

from dlcli.data import encode, tablecheck
from dlcli.data.csvread import CsvTable
from dlcli.errors import DataError

ALLOWED = "data.weight: every weight must be a finite number >= 0"


def check_column(table: CsvTable, name: str, target: str | None, features: list[str]) -> None:
    """Refuse a weight column that is not a column, is the target or is a feature."""
    where = encode.where_of(table)
    if name not in table.header:
        raise DataError(
            f"data.weight: {name!r} is not a column of {where}; columns: {table.header}"
        )
    if name == target:
        raise DataError(
            f"data.weight: {name!r} is the target; the weight column cannot be the column it weighs"
        )
    if name in features:
        raise DataError(
            f"data.weight: {name!r} is also a feature (data.features); a weight column cannot "
            "be an input: leave it out of data.features"
        )


def sample_weights(
    table: CsvTable, rows: np.ndarray, train_rows: np.ndarray, name: str
) -> np.ndarray:
    """The weights of the training examples, shape (1, m), float64.

    Parameters
    ----------
    table : the training table
    rows : (k,) the rows of the table in use, all checked (so a refusal does not depend on
        which of them a split sent to validation or test)
    train_rows : (m,) the rows the training split kept, in its order
    name : the weight column (:func:`check_column` passed)

    Raises
    ------
    DataError
        A missing, non-numeric, negative or non-finite weight (naming its line), or every
        training weight 0.
    """
    tablecheck.refuse_missing(table, [name], rows, "every row used needs its weight")
    encode.not_a_number(table, [name], ALLOWED)
    column = table.columns[name]
    values = column if column.dtype != object else np.array([float(c or "nan") for c in column])
    used = values[rows]
    bad = np.flatnonzero(~np.isfinite(used) | (used < 0))
    if bad.size:
        r = int(rows[bad[0]])
        raise DataError(
            f"{encode.where_of(table)}: line {table.lines[r]}, column {name!r}: "
            f"{values[r]:g} is {'negative' if values[r] < 0 else 'not finite'}; {ALLOWED}"
        )
    w = values[train_rows][np.newaxis, :]  # (1, m)
    if not w.sum() > 0:
        raise DataError(
            f"{encode.where_of(table)}: column {name!r}: every weight of the {w.shape[1]} "
            "training rows is 0; at least one must be > 0"
        )
    return w.astype(np.float64)
