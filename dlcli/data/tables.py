"""CSV tables: read as columns (the reading itself is :mod:`dlcli.data.csvread`), picked into
features and a target, standardized with the training part's statistics. Every check raises
:class:`DataError` naming the file, line and column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dlcli.data import csvread
from dlcli.errors import DataError


def read_csv_rows(
    path: Path, key: str = "data.train"
) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the rows of a CSV file, as text, each row with its line in the file.

    The file is read as :func:`dlcli.data.csvread.read_csv` reads it (sniffed delimiter,
    quotes, a byte-order mark, CRLF; blank lines skipped) and passes the same checks: a header
    row of distinct column names, at least one row, every row one value per column.
    """
    raw = csvread.read_bytes(path, key)
    return csvread.parse_rows(raw, csvread.sniff(raw), path, key)


def csv_numbers(
    header: list[str],
    body: list[tuple[int, list[str]]],
    names: list[str],
    where: str,
    hint: str = "features and the target must be numbers; to leave this column out, list the "
    "feature columns in data.features",
) -> np.ndarray:
    """The columns ``names`` of rows read by :func:`read_csv_rows` as numbers.

    Returns
    -------
    ndarray of shape (len(names), m), float64, every value finite
    """
    columns = [header.index(name) for name in names]
    values = np.empty((len(names), len(body)))
    for r, (line, row) in enumerate(body):
        for i, c in enumerate(columns):
            try:
                values[i, r] = float(row[c])
            except ValueError:
                raise DataError(
                    f"{where}: line {line}, column {header[c]!r}: {row[c].strip()!r} is not a number; {hint}"
                ) from None
    if not np.all(np.isfinite(values)):
        i, r = np.argwhere(~np.isfinite(values.T))[0][::-1]
        raise DataError(
            f"{where}: line {body[r][0]}, column {names[i]!r} is not finite; all values must be"
        )
    return values


def read_csv_table(
    path: Path, key: str = "data.train", numeric: list[str] | None = None
) -> dict[str, np.ndarray]:
    """Read a CSV file with a header row into columns (:func:`dlcli.data.csvread.read_csv`).

    The columns named in ``numeric`` (every column when None) must hold finite numbers and
    are float64 arrays; a missing or non-numeric cell among them is refused as
    :func:`csv_numbers` words it. The others, which training does not use, stay as read
    (numbers, or text), so a table may carry an address or a name beside its numbers.
    """
    table = csvread.read_csv_any(path, key)
    wanted = table.header if numeric is None else [n for n in table.header if n in numeric]
    columns = dict(table.columns)
    if any(columns[n].dtype != np.float64 or table.missing[n].any() for n in wanted):
        # A cell that is not a number: word it as csv_numbers always has, from the texts.
        header, body = read_csv_rows(path, key)
        values = csv_numbers(header, body, wanted, f"{key}: {path}")
        columns.update((name, values[i]) for i, name in enumerate(wanted))
    csvread.check_finite(table, wanted)
    return columns


def pick_features(
    names: list[str], target: str | None, features: list[str] | None, where: str
) -> list[str]:
    """The feature columns of a table whose columns are ``names``: ``data.features``, or every
    column but the target; each one a column, none of them the target."""
    if target is None:
        raise DataError(f"data.target: missing; name the column to predict, one of {names}")
    if target not in names:
        raise DataError(f"data.target: {target!r} is not a column of {where}; columns: {names}")
    chosen = features if features is not None else [n for n in names if n != target]
    for name in chosen:
        if name not in names:
            raise DataError(f"data.features: {name!r} is not a column of {where}; columns: {names}")
        if name == target:
            raise DataError(
                f"data.features: {name!r} is the target; a feature cannot be the column it predicts"
            )
    if not chosen:
        raise DataError(f"data.features: {where} has no column besides the target {target!r}")
    return chosen


def apply_table(
    prep: dict[str, Any], X: np.ndarray, Y: np.ndarray | None = None, out: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Standardize raw features (n_x, m) and, if given, the target (1, m) as ``prep`` says;
    into ``out`` (X itself, when the caller's X is a copy of its own) if given."""
    mean, std = np.array(prep["mean"])[:, np.newaxis], np.array(prep["std"])[:, np.newaxis]
    Xs = np.subtract(X, mean, out=out)
    Xs /= std
    return Xs, None if Y is None else (Y - prep["target_mean"]) / prep["target_std"]


def unscale_target(prep: dict[str, Any], Y: np.ndarray) -> np.ndarray:
    """A standardized target (or prediction) back in the table's units."""
    return Y * prep["target_std"] + prep["target_mean"]
