"""Placeholder until the reader branch lands: a CSV file as typed columns.

Comma-separated only, through :func:`dlcli.data.tables.read_csv_rows` (its checks and
messages); the reader branch replaces this file with the full reader of the same interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlcli.data.tables import read_csv_rows

#: Stripped, lower-cased cell texts that mean "missing".
MISSING = frozenset({"", "na", "nan", "null"})


@dataclass(frozen=True)
class CsvTable:
    """A CSV file's columns; ``lines`` (m,) are the rows' line numbers in the file."""

    path: Path
    key: str
    header: list[str]
    lines: np.ndarray
    columns: dict[str, np.ndarray]
    missing: dict[str, np.ndarray]

    @property
    def m(self) -> int:
        return int(self.lines.shape[0])


def _column(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """float64 (m,) with NaN where missing when every other cell is a number, else object."""
    missing = np.array([t.lower() in MISSING for t in texts], dtype=bool)
    pairs = list(zip(texts, missing.tolist(), strict=True))
    try:
        values = np.array([np.nan if gone else float(t) for t, gone in pairs], np.float64)
    except ValueError:
        cells = np.empty(len(texts), object)
        cells[:] = ["" if gone else t for t, gone in pairs]
        return cells, missing
    return values, missing


def read_csv(path: Path, key: str = "data.train") -> CsvTable:
    """Read a CSV file with a header row into typed columns (see :class:`CsvTable`)."""
    header, body = read_csv_rows(path, key)
    lines = np.array([line for line, _ in body], dtype=np.int64)
    columns, missing = {}, {}
    for c, name in enumerate(header):
        columns[name], missing[name] = _column([row[c].strip() for _, row in body])
    return CsvTable(path, key, header, lines, columns, missing)
