"""The fast path of the CSV reader: the body of a file of plain numbers parsed by whole-array
NumPy operations instead of one Python call per cell.

"Plain" means every byte is a digit, ``. + - e E``, the delimiter or a line end (``\n``,
``\r\n``); every row holds the same number of cells and no cell is empty. Anything else
(quotes, spaces, text, missing cells, ragged rows) returns None and the caller reads the file
with the csv module, which also words the errors.

The values are those of Python's ``float`` to the last bit. A cell's digits D (an integer) and
power of ten e give its value D * 10**e:

- D <= 2**53 and |e| <= 22: D * 10**e (or D / 10**-e) in one IEEE operation; both operands
  are exact, so that one rounding is the correctly rounded result (Clinger's fast path);
- up to 19 digits and -22 <= e <= 0 (what repr() of a float64 writes, 0.12345678901234568):
  integer long division rounded to 53 bits by hand (:func:`_quotients`);
- anything else (more digits, larger exponents): NumPy's string-to-float conversion.

The bytes are parsed in blocks of whole lines, each a (position, cell) uint8 array small
enough to stay in cache; the loops run over the character positions, never over cells."""

from __future__ import annotations

import numpy as np

# Powers of ten up to 1e22, the largest a double holds exactly.
_POW10 = 10.0 ** np.arange(23)
_SIGNED_POW10 = np.concatenate([_POW10, -_POW10])
_POW5 = np.array([5**k for k in range(23)], np.uint64)
_EXACT = np.uint64(2**53)
_PLAIN = b"0123456789.+-eE\n\r"
# Cells parsed per block: small enough that a block's (width, cells) arrays stay in cache.
_BLOCK = 1 << 13
# The longest cell the fast path reads; longer ones go to the csv path.
_WIDTH = 40


def parse_numbers(
    body: bytes, delimiter: str, k: int
) -> tuple[np.ndarray, np.ndarray, dict[int, list[str]]] | None:
    """The rows of a CSV body (the bytes after the header line): numbers where the cells are
    plain, and the texts of the columns where some cell is not.

    Parameters
    ----------
    body : the file's bytes after the header line's ``\\n``
    delimiter : one character, ``,``, ``;`` or ``\\t``
    k : the number of columns the header names

    Returns
    -------
    values : ndarray of shape (k, m), float64: row j is column j of the table (NaN where a
        cell is not a plain number)
    rows : ndarray of shape (m,), int64, each row's line index in ``body`` (0-based; blank
        lines are skipped and counted)
    texts : {j: the m cells of column j as text}, for each column with a cell that is not a
        plain number (a word, a space, an empty cell), to be read as the csv path reads it
    or None for what only the csv module reads right: quotes, a lone ``\\r``, a row without
    k cells (ragged: the csv path words it), a row of no plain cell, bytes that are not
    UTF-8, no row at all.
    """
    if not body.endswith(b"\n"):
        body += b"\n"
    mixed = bool(body.translate(None, _PLAIN + delimiter.encode()))  # some byte not plain
    if mixed and b'"' in body:
        return None
    a = np.frombuffer(body, np.uint8)
    if b"\r" in body:
        cr = np.flatnonzero(a == 13)
        if not (a[cr + 1] == 10).all():  # a lone \r: let the csv module decide what it is
            return None
        a = np.delete(a, cr)
    # Blocks of whole lines, so each block's masks and indexes stay in cache.
    line_ends = np.flatnonzero(a == 10)
    rows = np.flatnonzero(np.diff(line_ends, prepend=-1) > 1)  # the lines that are not blank
    if rows.size == 0:
        return None
    words = _words(a)
    # A file of plain bytes is first read strictly (fewer passes); a cell that is not a
    # number there (an empty one, "1e") and any byte that is not plain read it cell by cell.
    for each_cell in (mixed,) if mixed else (False, True):
        parsed = _parse_rows(a, words, line_ends, rows, ord(delimiter), k, each_cell)
        if parsed is not None:
            return parsed
    return None


def _parse_rows(
    a: np.ndarray,
    words: np.ndarray,
    line_ends: np.ndarray,
    rows: np.ndarray,
    delimiter: int,
    k: int,
    mixed: bool,
) -> tuple[np.ndarray, np.ndarray, dict[int, list[str]]] | None:
    """:func:`parse_numbers` of the bytes ``a``: ``line_ends`` (each line's \\n) and
    ``rows`` (the lines that are not blank) found; ``mixed``: whether a cell may be text."""
    values = np.empty((k, len(rows)))  # column by column, as the table keeps them
    bad = np.zeros((k, len(rows)), bool)
    where = np.empty((2, k, len(rows)), np.int64) if mixed else None  # cell starts, lengths
    per = max(1, _BLOCK // k)  # rows per block
    for r in range(0, len(rows), per):
        lines = rows[r : r + per]
        lo = line_ends[lines[0] - 1] + 1 if lines[0] else 0
        fields = _fields(a[lo : line_ends[lines[-1]] + 1], delimiter, k, mixed)
        if fields is None or len(fields[0]) != len(lines) * k:
            return None
        starts, lengths = fields
        cells = np.empty(len(starts))
        not_plain = _parse_block(words, lo + starts, lengths, cells, mixed)
        if not_plain is None or not_plain.reshape(len(lines), k).all(axis=1).any():
            return None  # (mixed) a row of no number may be blanks, which the csv path skips
        values[:, r : r + len(lines)] = cells.reshape(len(lines), k).T
        if mixed:
            bad[:, r : r + len(lines)] = not_plain.reshape(len(lines), k).T
            where[0, :, r : r + len(lines)] = (lo + starts).reshape(len(lines), k).T
            where[1, :, r : r + len(lines)] = lengths.reshape(len(lines), k).T
    texts: dict[int, list[str]] = {}
    if bad.any():
        text = a.tobytes()
        try:
            for j in np.flatnonzero(bad.any(axis=1)):
                cells = zip(where[0, j].tolist(), where[1, j].tolist(), strict=True)
                texts[int(j)] = [text[s : s + n].decode("utf-8") for s, n in cells]
        except UnicodeDecodeError:
            return None
    return values, rows, texts


def _fields(
    a: np.ndarray, delimiter: int, k: int, mixed: bool
) -> tuple[np.ndarray, np.ndarray] | None:
    """Each cell's start and length in ``a`` (whole lines, row-major), or None when a line
    that is not blank does not hold k cells (the csv path words that), or, unless ``mixed``,
    holds an empty one."""
    ends = np.flatnonzero((a == delimiter) | (a == 10))  # every cell ends at one of these
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    lengths = ends - starts
    line_ends = np.flatnonzero(a[ends] == 10)  # (lines,): the cell ending each line
    first = np.empty_like(line_ends)
    first[0] = 0
    first[1:] = line_ends[:-1] + 1
    # A blank line is a line whose only cell is empty; an empty cell elsewhere is a missing
    # value, read as text.
    blank = (line_ends == first) & (lengths[line_ends] == 0)  # (lines,)
    if blank.any():
        keep = np.ones(len(ends), bool)
        keep[line_ends[blank]] = False
        starts, lengths = starts[keep], lengths[keep]
        first = first[~blank] - np.cumsum(blank)[~blank]  # where each row starts among kept
    m = len(first)
    if len(starts) != m * k or not (mixed or (lengths > 0).all()):
        return None
    if not (first == np.arange(0, m * k, k)).all():
        return None
    return starts, lengths


def _words(a: np.ndarray) -> np.ndarray:
    """Every 8 bytes of ``a`` as a little-endian uint64, starting at every byte (a view; the
    file's bytes padded with _WIDTH zeros, so a cell's last word stays inside)."""
    padded = np.concatenate([a, np.zeros(_WIDTH + 8, np.uint8)])
    return np.ndarray((len(a) + _WIDTH,), "<u8", buffer=padded, strides=(1,))


def _parse_block(
    words: np.ndarray, starts: np.ndarray, lengths: np.ndarray, out: np.ndarray, mixed: bool
) -> np.ndarray | None:
    """Write the numbers in the cells starting at ``starts`` to ``out[:n]`` and return which
    cells are not plain numbers, bool (n,), NaN in ``out``. Unless ``mixed`` (every byte of
    the file plain), None as soon as one is not ("1e", "1.2.3", "+-1", ...). ``words`` is
    :func:`_words` of the file's bytes.

    Arrays are (w, n): one row per character position, one column per cell, so each step is
    a whole-array operation over the block and the loops run over the w positions only.
    Positions are uint8 to keep the temporaries small.
    """
    n, w = len(starts), min(int(lengths.max()), _WIDTH)
    if w < int(lengths.max()) and not mixed:
        return None
    w = max(w, 1)
    pos = np.arange(w, dtype=np.uint8)[:, np.newaxis]  # (w, 1)
    size = np.minimum(lengths, _WIDTH).astype(np.uint8)  # (n,)
    # Each cell's bytes and those after it, gathered 8 at a time: (w, n) uint8.
    W = np.empty((-(-w // 8), n), "<u8")
    for i in range(len(W)):
        W[i] = words[starts + 8 * i]
    M = W.view(np.uint8).reshape(len(W), n, 8).transpose(0, 2, 1).reshape(-1, n)[:w]
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
    if mixed:
        is_sign = (M == ord("+")) | (M == ord("-"))
    else:  # one pass: ")" and "/" also give 41, but are not plain
        is_sign = (M & 0xF9) == 41
    # A sign may open the cell and follow the "e"; there must be no other.
    after_e = is_sign[np.minimum(e_at + np.uint8(1), w - 1), np.arange(n)] & has_e
    not_plain = (
        (is_sign.sum(axis=0, dtype=np.uint8) != is_sign[0].view(np.uint8) + after_e)
        | (is_e.sum(axis=0, dtype=np.uint8) > 1)
        | (is_dot.sum(axis=0, dtype=np.uint8) > 1)
        | (has_dot & (dot_at > e_at))
        | ~mantissa.any(axis=0)
        | (has_e & ~exponent.any(axis=0))
    )
    if mixed:  # and every byte one of a number's, the cell no longer than _WIDTH
        known = is_digit | is_e | is_dot | is_sign | (pos >= size)
        not_plain |= ~known.all(axis=0) | (lengths > _WIDTH)
    elif not_plain.any():
        return None
    # D: the mantissa's digits as one integer by Horner's rule, exact in uint64 up to 19
    # digits (longer mantissas wrap, and take the string fallback below).
    times = mantissa * np.uint8(9)
    times += np.uint8(1)  # (w, n): 10 at a mantissa digit, else 1
    digits = mantissa * digit_value  # (w, n): the mantissa's digits, 0 elsewhere
    D = np.zeros(n, np.uint64)
    for j in range(w):
        D *= times[j]
        D += digits[j]
    short = _significant(mantissa, digit_value) <= 19 if w > 19 else True
    e10 = -np.where(has_dot, e_at.astype(np.int64) - dot_at - 1, 0)  # minus the decimals
    if has_e.any():
        e10 += _exponents(M, digit_value, exponent, e_at, has_e)
    fast = (D <= _EXACT) & (np.abs(e10) <= 22) & short  # (n,): D * 10**e10, one rounding
    # (D * up) / down with one of the two 1: one rounding either way; the sign rides in up.
    up = np.clip(e10, 0, 22) + 23 * (M[0] == ord("-"))
    values = out[:n]
    np.multiply(D.astype(np.float64), _SIGNED_POW10[up], out=values)
    values /= _POW10[np.clip(-e10, 0, 22)]
    slow = ~fast & ~not_plain
    if slow.any():
        _exact_fallback(M, D, e10, slow & short, slow, values)
    values[not_plain] = np.nan
    return not_plain


def _exact_fallback(
    M: np.ndarray,
    D: np.ndarray,
    e10: np.ndarray,
    short: np.ndarray,
    slow: np.ndarray,
    values: np.ndarray,
) -> None:
    """Write the cells the fast rule cannot take (``slow``, bool (n,)) to ``values``. Up to 19
    digits (``short``) and a power of ten from -22 to 0 (what repr() of a float64 mostly
    writes, e.g. 0.12345678901234568): :func:`_quotients`. Others: NumPy's string-to-float
    conversion."""
    divided = short & (e10 <= 0) & (e10 >= -22)
    cells = np.flatnonzero(divided)
    if cells.size:
        quotient = _quotients(D[cells], -e10[cells])
        values[cells] = np.where(M[0, cells] == ord("-"), -quotient, quotient)
    rest = np.flatnonzero(slow & ~divided)
    if rest.size:
        # Each cell's bytes as one fixed-width string (NUL-padded, which NumPy drops).
        texts = np.ascontiguousarray(M[:, rest].T).view(f"S{len(M)}").ravel()
        with np.errstate(over="ignore"):  # "1e999" is inf; the reader refuses it by line
            values[rest] = texts.astype(np.float64)


def _quotients(D: np.ndarray, k: np.ndarray) -> np.ndarray:
    """The double nearest to D / 10**k (ties to even), as Python's float() rounds it.

    D : ndarray of shape (n,), uint64, D < 2**64;  k : ndarray of shape (n,), 0 <= k <= 22

    D / 10**k = D / 5**k * 2**-k, and 5**k < 2**52 is exact. Long division in integers gives
    Q = floor(D * 2**s / 5**k) with 55 or 56 bits (s chosen by the bit lengths), and whether
    a remainder is left; Q rounded to 53 bits with that is the answer times a power of two.
    """
    P = _POW5[k]
    s = 55 - _bits(D) + _bits(P)  # (n,) int64: Q lands in [2**54, 2**56)
    widen = np.maximum(-s, 0).astype(np.uint64)  # a shift right instead: divide by P * 2**-s
    P = P << widen
    s = np.maximum(s, 0)
    Q, rem = D // P, D % P
    left = s.astype(np.uint64)
    while left.any():  # 11 bits at a time: rem < P < 2**52, so rem << 11 stays below 2**63
        t = np.minimum(left, np.uint64(11))
        rem = rem << t
        Q = (Q << t) + rem // P
        rem = rem % P
        left -= t
    drop = (_bits(Q) - 53).astype(np.uint64)  # 2 or 3 bits below the 53 kept
    low, half = Q & ((np.uint64(1) << drop) - np.uint64(1)), np.uint64(1) << (drop - np.uint64(1))
    Q = Q >> drop
    Q += (low > half) | ((low == half) & ((rem != 0) | (Q & np.uint64(1) == 1)))
    power = drop.astype(np.int64) - s + widen.astype(np.int64) - k
    return np.ldexp(Q.astype(np.float64), power)  # Q <= 2**53: exact, and so is ldexp


def _significant(mantissa: np.ndarray, digit_value: np.ndarray) -> np.ndarray:
    """How many digits of each cell's mantissa count, leading zeros not: (n,) uint8."""
    begun = np.zeros(mantissa.shape[1], bool)
    count = np.zeros(mantissa.shape[1], np.uint8)
    for j in range(len(mantissa)):  # row by row: accumulate along axis 0 is slow
        begun |= mantissa[j] & (digit_value[j] > 0)
        count += mantissa[j] & begun
    return count


def _bits(x: np.ndarray) -> np.ndarray:
    """The bit length of each x > 0 (uint64), int64: frexp's exponent of float(x), less one
    where rounding to a double reached the next power of two."""
    e = np.frexp(x.astype(np.float64))[1].astype(np.int64)
    return e - ((x >> (e - 1).astype(np.uint64)) == 0)


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
