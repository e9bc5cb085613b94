"""The fast path of the CSV reader: the body of a file of plain numbers parsed by whole-array
NumPy operations instead of one Python call per cell.

"Plain" means every byte is a digit, ``. + - e E``, the delimiter or a line end (``\\n``,
``\\r\\n``); every row holds the same number of cells and no cell is empty. Anything else
(quotes, spaces, text, missing cells, ragged rows) returns None and the caller reads the file
with the csv module, which also words the errors. The values are those of Python's ``float``
to the last bit: a cell whose digits D (as an integer) and power of ten e satisfy D <= 2**53
and |e| <= 22 is D * 10**e (or D / 10**-e) in one IEEE operation, and since both operands are
exact that one rounding is the correctly rounded result (Clinger's fast path). Other cells
(more than 15 significant digits, tiny or huge exponents) go through NumPy's own string-to-
float conversion, which is correctly rounded too.
"""

from __future__ import annotations

import numpy as np

# Powers of ten up to 1e22, the largest a double holds exactly.
_POW10 = 10.0 ** np.arange(23)
_SIGNED_POW10 = np.concatenate([_POW10, -_POW10])
_EXACT = float(2**53)
_PLAIN = b"0123456789.+-eE\n\r"
# Cells parsed per block: small enough that a block's (width, cells) arrays stay in cache.
_BLOCK = 1 << 16
# The longest cell the fast path reads; longer ones go to the csv path.
_WIDTH = 40


def parse_numbers(body: bytes, delimiter: str, k: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The rows of a CSV body (the bytes after the header line) as numbers, if they are plain.

    Parameters
    ----------
    body : the file's bytes after the header line's ``\\n``
    delimiter : one character, ``,``, ``;`` or ``\\t``
    k : the number of columns the header names

    Returns
    -------
    values : ndarray of shape (m, k), float64
    rows : ndarray of shape (m,), int64, each row's line index in ``body`` (0-based; blank
        lines are skipped and counted)
    or None when the body is not plain numbers in k columns, or holds no row.
    """
    if not body.endswith(b"\n"):
        body += b"\n"
    if body.translate(None, _PLAIN + delimiter.encode()):  # a byte that is not plain
        return None
    a = np.frombuffer(body, np.uint8)
    if b"\r" in body:
        cr = np.flatnonzero(a == 13)
        if not (a[cr + 1] == 10).all():  # a lone \r: let the csv module decide what it is
            return None
        a = np.delete(a, cr)
    fields = _fields(a, ord(delimiter), k)
    if fields is None:
        return None
    starts, lengths, rows = fields
    values = np.empty(len(starts))
    for lo in range(0, len(starts), _BLOCK):
        if not _parse_block(a, starts[lo : lo + _BLOCK], lengths[lo : lo + _BLOCK], values[lo:]):
            return None
    return values.reshape(len(rows), k), rows


def _fields(
    a: np.ndarray, delimiter: int, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Each cell's start and length in ``a`` (row-major, m * k of them) and each row's line
    index, or None when a row does not hold k non-empty cells or there is no row."""
    ends = np.flatnonzero((a == delimiter) | (a == 10))  # every cell ends at one of these
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    lengths = ends - starts
    line_ends = np.flatnonzero(a[ends] == 10)  # (lines,): the cell ending each line
    # A blank line is a line whose only cell is empty; an empty cell elsewhere is a missing
    # value, which the csv path handles.
    first = np.empty_like(line_ends)
    first[0] = 0
    first[1:] = line_ends[:-1] + 1
    blank = (line_ends == first) & (lengths[line_ends] == 0)  # (lines,)
    if blank.any():
        keep = np.ones(len(ends), bool)
        keep[line_ends[blank]] = False
        starts, lengths = starts[keep], lengths[keep]
        first = first[~blank] - np.cumsum(blank)[~blank]  # where each row starts among kept
    m = len(first)
    if m == 0 or len(starts) != m * k or not (lengths > 0).all():
        return None
    if not (first == np.arange(0, m * k, k)).all():  # ragged: the csv path words it
        return None
    return starts, lengths, np.flatnonzero(~blank)


def _parse_block(a: np.ndarray, starts: np.ndarray, lengths: np.ndarray, out: np.ndarray) -> bool:
    """Write the numbers in cells ``a[s : s + n]`` (all bytes plain) to ``out[:n]``; False
    if one is not a number as Python's ``float`` reads them ("1e", "1.2.3", "+-1", ...).

    Arrays are (w, n): one row per character position, one column per cell, so each step is
    a whole-array operation over the block and the loops run over the w positions only.
    Positions are uint8 to keep the temporaries small.
    """
    n, w = len(starts), int(lengths.max())
    if w > _WIDTH:
        return False
    pos = np.arange(w, dtype=np.uint8)[:, np.newaxis]  # (w, 1)
    size = lengths.astype(np.uint8)  # (n,)
    M = np.take(a, starts + pos, mode="clip")  # (w, n) uint8: each cell's bytes, then others
    M *= pos < size  # zero past each cell's end
    digit_value = M - np.uint8(48)  # wraps for non-digits
    is_digit = digit_value < 10
    is_e = (M | 0x20) == ord("e")
    is_dot = M == ord(".")
    has_e, has_dot = is_e.any(axis=0), is_dot.any(axis=0)
    # Where "e" and "." are (a sum, being at most one of each is checked below), else the end.
    e_at = np.where(has_e, (is_e * pos).sum(axis=0, dtype=np.uint8), size)  # (n,)
    dot_at = np.where(has_dot, (is_dot * pos).sum(axis=0, dtype=np.uint8), size)
    in_mantissa = pos < e_at
    mantissa = is_digit & in_mantissa
    exponent = is_digit ^ mantissa
    is_sign = (M == ord("+")) | (M == ord("-"))
    if (
        (is_sign[1:] & ~((pos[1:] == e_at + np.uint8(1)) & has_e)).any()
        or (is_e.sum(axis=0, dtype=np.uint8) > 1).any()
        or (is_dot.sum(axis=0, dtype=np.uint8) > 1).any()
        or (has_dot & (dot_at > e_at)).any()
        or not mantissa.any(axis=0).all()
        or (has_e & ~exponent.any(axis=0)).any()
    ):
        return False
    # D: the mantissa's digits as one integer by Horner's rule. Every step's value is an
    # integer no larger than the final D, so each step is exact while D <= 2**53.
    times = mantissa * np.uint8(9)
    times += np.uint8(1)  # (w, n): 10 at a mantissa digit, else 1
    digits = digit_value * mantissa  # (w, n): the mantissa's digits, 0 elsewhere
    D = np.zeros(n)
    for j in range(w):
        D *= times[j]
        D += digits[j]
    e10 = -np.where(has_dot, e_at.astype(np.int64) - dot_at - 1, 0)  # minus the decimals
    if has_e.any():
        e10 += _exponents(M, digit_value, exponent, e_at, has_e)
    fast = (D <= _EXACT) & (np.abs(e10) <= 22)  # (n,): D * 10**e10 in one rounding
    # (D * up) / down with one of the two 1: one rounding either way; the sign rides in up.
    up = np.clip(e10, 0, 22) + 23 * (M[0] == ord("-"))
    values = out[:n]
    np.multiply(D, _SIGNED_POW10[up], out=values)
    values /= _POW10[np.clip(-e10, 0, 22)]
    if not fast.all():
        slow = np.flatnonzero(~fast)
        # Each slow cell's bytes as one fixed-width string (NUL-padded, which NumPy drops).
        texts = np.ascontiguousarray(M[:, slow].T).view(f"S{w}").ravel()
        with np.errstate(over="ignore"):  # "1e999" is inf; the reader refuses it by line
            values[slow] = texts.astype(np.float64)
    return True


def _exponents(
    M: np.ndarray,
    digit_value: np.ndarray,
    exponent: np.ndarray,
    e_at: np.ndarray,
    has_e: np.ndarray,
) -> np.ndarray:
    """The signed exponent after each cell's ``e`` (0 without one), shape (n,), int64; only
    the cells with an ``e`` are worked on. Beyond 99999 it saturates: such a cell takes the
    exact fallback anyway."""
    cells = np.flatnonzero(has_e)
    value = np.zeros(len(cells), np.int64)
    for j in range(len(M)):
        value = np.where(
            exponent[j, cells], np.minimum(value * 10 + digit_value[j, cells], 99999), value
        )
    sign_at = np.minimum(e_at[cells] + 1, len(M) - 1)
    value = np.where(M[sign_at, cells] == ord("-"), -value, value)
    out = np.zeros(len(has_e), np.int64)
    out[cells] = value
    return out
