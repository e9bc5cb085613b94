"""CSV files as people write them, read into named columns.

One reader for every CSV dlcli takes (``data.train``/``data.test`` tables, ``predict --csv``,
``evaluate``): a header row of distinct names, then rows; the delimiter sniffed among comma,
semicolon and tab; quoted fields, a UTF-8 byte-order mark, CRLF line ends and blank lines
accepted. Each bad file is one :class:`DataError` naming the file and the line.

A file without quotes or blank lines inside is parsed by pyarrow's CSV reader from the file
itself (in C++, numbers correctly rounded, as float() reads them); anything else (quotes,
blank lines inside, a mistake to word) goes through the csv module, which words the errors.
"""

from __future__ import annotations

import csv
import io
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlcli import sysinfo
from dlcli.errors import DataError

#: A cell whose stripped, lower-cased text is one of these is missing.
MISSING = frozenset({"", "na", "nan", "null"})
DELIMITERS = ",;\t"
# The missing tokens as pyarrow matches them: exact texts, so every way of writing each in
# capitals (with spaces around, a cell is not among them: it is read again as text).
_NULLS = sorted(
    "".join(cased)
    for word in MISSING
    for cased in itertools.product(*((c.lower(), c.upper()) for c in word))
)
_BOM = b"\xef\xbb\xbf"
# The sniffer reads the header and the first rows, from this much of the file.
_SAMPLE = 1 << 16
_SNIFF_LINES = 20

Rows = list[tuple[int, list[str]]]  # (line in the file, the row's cells as text)


@dataclass(frozen=True)
class CsvTable:
    """A CSV file read into columns.

    path, key : the file and the config key (or option) it came from, for messages
    header : list of the column names, stripped and distinct
    lines : ndarray of shape (m,), int64, each row's line in the file (1-based, header = 1)
    columns : per column in header order, ndarray of shape (m,): float64 when every cell that
        is not missing is a number (missing cells NaN), else object, the stripped texts
        (missing cells "")
    missing : per column, ndarray of shape (m,), bool, True where the cell is missing
    """

    path: Path
    key: str
    header: list[str]
    lines: np.ndarray
    columns: dict[str, np.ndarray]
    missing: dict[str, np.ndarray]

    @property
    def m(self) -> int:
        return len(self.lines)


def read_csv(path: Path, key: str = "data.train") -> CsvTable:
    """Read a CSV file into columns, refusing a number that is not finite ("inf", "1e999").

    Raises :class:`DataError` naming ``key``, the file and the line for every file it cannot
    take: missing, a directory, larger than the memory free, not UTF-8, no header, a header
    naming a column twice, no rows, a row with another number of cells than the header.
    """
    table = read_csv_any(path, key)
    numeric = [name for name in table.header if table.columns[name].dtype == np.float64]
    check_finite(table, numeric)
    return table


def read_csv_any(path: Path, key: str = "data.train") -> CsvTable:
    """:func:`read_csv` without the finiteness check (``inf`` cells stay ``inf``)."""
    check_file(path, key)
    head, bom, delimiter = _head(path)
    fast = _read_plain(path, head, bom, delimiter, key)
    if fast is not None:
        return fast
    header, body = parse_rows(read_bytes(path, key), delimiter, path, key)
    lines, rows = zip(*body, strict=True)
    columns, missing = {}, {}
    for name, cells in zip(header, zip(*rows, strict=True), strict=True):
        columns[name], missing[name] = _column(cells)
    return CsvTable(path, key, header, np.array(lines, np.int64), columns, missing)


def delimiter_of(path: Path) -> str:
    """The delimiter of a CSV file, as :func:`read_csv` sniffs it."""
    return _head(path)[2]


def _head(path: Path) -> tuple[bytes, int, str]:
    """The file's first bytes (enough to sniff, and one more to tell if there is more), the
    length of its UTF-8 byte-order mark (0 or 3) and its delimiter (:func:`sniff`)."""
    with open(path, "rb") as f:
        head = f.read(len(_BOM) + _SAMPLE + 1)
    bom = len(_BOM) if head.startswith(_BOM) else 0
    return head, bom, sniff(head[bom:])


def check_finite(table: CsvTable, names: list[str]) -> None:
    """Refuse an infinite number in the columns ``names`` (float64 columns of ``table``), or a
    NaN that is not a missing cell ("-nan"), naming the first in file order: row by row,
    then column by column."""
    first = []  # (row, column) of each column's first bad cell
    for i, name in enumerate(names):
        values = table.columns[name]
        if np.isfinite(values).all():
            continue
        bad = np.flatnonzero(~np.isfinite(values) & ~table.missing[name])
        if bad.size:
            first.append((bad[0], i))
    if first:
        r, i = min(first)
        raise DataError(
            f"{table.key}: {table.path}: line {table.lines[r]}, column {names[i]!r} is not "
            "finite; all values must be"
        )


def check_file(path: Path, key: str) -> None:
    """Refuse a file that is missing, a directory, or larger than the memory free (a CSV is
    read whole into memory), before reading a byte of it."""
    if not path.exists():
        raise DataError(f"{key}: {path}: no such file")
    if path.is_dir():
        raise DataError(f"{key}: {path}: is a directory, expected a CSV file")
    size, free = path.stat().st_size, sysinfo.available_memory()
    if size > free:
        raise DataError(
            f"{key}: {path}: a CSV of {_amount(size)}, more than the {_amount(free)} free; a "
            "CSV is read whole into memory: split it into smaller files, or free memory"
        )


def read_bytes(path: Path, key: str) -> bytes:
    """The file's bytes without a UTF-8 byte-order mark, after :func:`check_file`."""
    check_file(path, key)
    raw = path.read_bytes()
    return raw[len(_BOM) :] if raw.startswith(_BOM) else raw


def sniff(raw: bytes) -> str:
    """The delimiter among comma, semicolon and tab: the csv module's sniffer on the first
    lines (blank ones left out, they look like rows of one cell to it); when it cannot tell
    (one column, one row), the one the header line holds most of, comma on a tie."""
    sample = raw[:_SAMPLE].decode("utf-8", errors="replace").splitlines()
    if len(raw) > _SAMPLE:  # a cut last line would look ragged to the sniffer
        sample = sample[:-1]
    lines = [line for line in sample if line.strip()][:_SNIFF_LINES]
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        header = lines[0] if lines else ""
        return max(DELIMITERS, key=header.count)


def parse_rows(raw: bytes, delimiter: str, path: Path, key: str) -> tuple[list[str], Rows]:
    """The header and the rows of a CSV file's bytes, as text, each row with its line in the
    file (where it starts). Blank lines are skipped. Checks: UTF-8, a header of distinct
    names, at least one row, every row with one value per column."""
    try:
        reader = csv.reader(io.StringIO(raw.decode("utf-8"), newline=""), delimiter=delimiter)
        cells = list(reader)
        if reader.line_num == len(cells):  # one line a row: row i is line i + 1
            rows = list(enumerate(cells, 1))
        else:  # a quoted cell runs over lines: note where each row starts
            reader = csv.reader(io.StringIO(raw.decode("utf-8"), newline=""), delimiter=delimiter)
            rows, line = [], 1
            for row in reader:
                rows.append((line, row))
                line = reader.line_num + 1
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{key}: {path}: not a readable UTF-8 CSV file ({exc})") from None
    if not rows or not any(map(str.strip, rows[0][1])):
        raise DataError(
            f"{key}: {path}: empty; expected a header row of column names, then rows of numbers"
        )
    header = check_header(rows[0][1], path, key)
    body = [(line, row) for line, row in rows[1:] if any(map(str.strip, row))]
    if not body:
        raise DataError(f"{key}: {path}: holds a header but zero rows; at least 1 is needed")
    k = len(header)
    if any(len(row) != k for _, row in body):
        line, row = next((line, row) for line, row in body if len(row) != k)
        raise DataError(
            f"{key}: {path}: line {line} has {len(row)} values, the header names {k} columns"
        )
    return header, body


def check_header(cells: list[str], path: Path, key: str) -> list[str]:
    """The column names, stripped; a name given twice is refused."""
    header = [name.strip() for name in cells]
    twice = next((name for i, name in enumerate(header) if name in header[:i]), None)
    if twice is not None:
        raise DataError(
            f"{key}: {path}: the header names column {twice!r} twice; names must differ"
        )
    return header


def _read_plain(path: Path, head: bytes, bom: int, delimiter: str, key: str) -> CsvTable | None:
    """The table, read by :func:`_arrow` from the file, if its header is one line (in
    ``head``, the file's first bytes, ``bom`` of them a byte-order mark) and the rows below
    have no quotes and no blank line but at the end (and no mistake to word). Else None, and
    the csv path reads the file."""
    end = head.find(b"\n", bom)
    if end < 0:
        return None
    try:
        first = head[bom:end].decode("utf-8").rstrip("\r")
    except UnicodeDecodeError:
        return None
    if first.count('"') % 2:  # a quoted name runs on to the next line
        return None
    cells = next(csv.reader([first], delimiter=delimiter), [])
    if not any(cell.strip() for cell in cells):
        return None
    header = check_header(cells, path, key)
    start = end + 1
    if head[start : start + 1] in (b"\n", b"\r"):
        return None  # a blank line first: the csv path skips it
    stop = _rows_end(path, start)
    if stop is None:
        return None
    read = _arrow(path, (start, stop - start), delimiter, len(header))
    if read is None:
        return None
    values, missing = read
    m = len(values[0])
    return CsvTable(
        path,
        key,
        header,
        np.arange(2, m + 2, dtype=np.int64),
        dict(zip(header, values, strict=True)),
        dict(zip(header, missing, strict=True)),
    )


def _rows_end(path: Path, start: int) -> int | None:
    """Where the rows of a file end: after the last line that is not blank (blank lines at
    the end are dropped), found in its last bytes; None if they are blank (no rows from
    ``start`` on, or more blank bytes at the end than are read)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        at = max(start, size - _SAMPLE)
        f.seek(at)
        tail = f.read()
    text_end = len(tail.rstrip(b" \t\r\n"))
    if not text_end:
        return None
    line_end = tail.find(b"\n", text_end)
    return at + (len(tail) if line_end < 0 else line_end + 1)


def _arrow(
    path: Path, body: tuple[int, int], delimiter: str, k: int
) -> tuple[list[np.ndarray], list[np.ndarray]] | None:
    """The k columns of a CSV body (the lines after the header, the file's ``body`` =
    (offset, length), the first not blank, none at the end) and their missing masks, each (m,), read by
    ``pyarrow.csv.read_csv`` from the file; None if pyarrow refuses it (a ragged row, not
    UTF-8), a cell holds a quote, or a row is all blanks (the csv path skips it).

    Every column first as float64, the missing tokens as nulls: pyarrow parses numbers
    correctly rounded, as float() does, and takes no cell float() refuses but "nan(...)",
    which comes back NaN. A NaN that is not a null (" nan", "-nan") or a cell that is not a
    number sends the file to a second read as texts (:func:`_arrow_column`).
    """
    import pyarrow as pa  # imported here: `dlcli --help` need not load it
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    names = [f"c{j}" for j in range(k)]
    read = pacsv.ReadOptions(column_names=names)
    parse = pacsv.ParseOptions(delimiter=delimiter, quote_char=False, ignore_empty_lines=False)
    columns = None
    for kind in (pa.float64(), pa.string()):
        convert = pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, kind), null_values=_NULLS, strings_can_be_null=True
        )
        try:
            with pa.OSFile(str(path)) as f:
                table = pacsv.read_csv(f.get_stream(*body), read, parse, convert)
        except pa.ArrowException:
            continue  # a cell that is not a number, or (as texts) a ragged row, not UTF-8
        if not table.num_rows:
            return None
        columns = [_arrow_column(table.column(j), pa, pc) for j in range(k)]
        if all(column is not None for column in columns):
            break
    if columns is None or any(column is None for column in columns):
        return None
    values, missing = (list(part) for part in zip(*columns, strict=True))
    if all(gone.any() for gone in missing) and np.logical_and.reduce(missing).any():
        return None  # a row of missing cells may be blanks: the csv path skips those
    return values, missing


def _arrow_column(cells: object, pa: object, pc: object) -> tuple[np.ndarray, np.ndarray] | None:
    """One column pyarrow read (a ChunkedArray of m cells, the missing tokens null) as
    :func:`_column` reads it, and its missing mask, both (m,). Floats: as they are, or None
    if a NaN is not a null. Texts: None if a cell holds a quote (read with quotes off, a
    quoted cell keeps its quotes, and a quoted delimiter or line end splits it), else pyarrow's cast to float64 when it takes every cell and
    gives no NaN but the nulls, else cell by cell by :func:`_column` (a null as "": missing
    either way)."""
    if cells.type == pa.float64():
        numbers = cells.to_numpy()
        missing = np.isnan(numbers)
        return (numbers, missing) if int(missing.sum()) == cells.null_count else None
    if pc.any(pc.match_substring(cells, '"')).as_py():
        return None  # quotes, read as text: the csv path unquotes them
    try:
        numbers = cells.cast(pa.float64()).to_numpy()
    except pa.ArrowException:
        numbers = None
    if numbers is not None:
        missing = np.isnan(numbers)
        if int(missing.sum()) == cells.null_count:
            return numbers, missing
    return _column(tuple(cells.fill_null("").to_numpy(zero_copy_only=False)))


def _column(cells: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """One column's cells as read: float64 if every cell that is not missing is a number,
    else the stripped texts; and the missing mask. Both (m,)."""
    try:  # NumPy reads text as float() does (spaces, "1_000", "nan"), a cell at a time in C
        numbers = np.array(cells, np.float64)
    except ValueError:
        pass
    else:
        gone = np.isnan(numbers)
        for i in np.flatnonzero(gone):  # "nan" is missing, "-nan" a number that is not finite
            gone[i] = cells[i].strip().lower() in MISSING
        return numbers, gone
    texts = [cell.strip() for cell in cells]
    missing = np.array([text.lower() in MISSING for text in texts], bool)
    try:
        numbers = np.array(
            ["nan" if gone else t for t, gone in zip(texts, missing, strict=True)], np.float64
        )
    except ValueError:
        return np.array(
            ["" if gone else t for t, gone in zip(texts, missing, strict=True)], object
        ), missing
    return numbers, missing


def _amount(size: int) -> str:
    """A number of bytes for a person: '30.0 GiB', '2.5 MiB', '512 bytes'."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"
