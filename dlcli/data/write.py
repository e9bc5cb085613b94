"""Writing data sets in the course's HDF5 layout (and the generated tables as CSV).

Layouts written (all read back by :func:`dlcli.data.course.read_course_file`, so
``dlcli train`` takes them):

- From a folder of pictures (:mod:`dlcli.data.folders`, through :func:`write_course_h5`), two
  files as the course's: ``train_<name>.h5`` and ``test_<name>.h5`` with ``train_set_x`` /
  ``test_set_x`` uint8 (m, size, size, 3), ``train_set_y`` / ``test_set_y`` int64 (m,) labels
  0/1, ``list_classes`` (2,) bytes, plus ``train_set_files`` / ``test_set_files`` (m,) UTF-8
  strings: each picture's path relative to the folder.
- The flower (:func:`write_flower`): one file with ``train_set_x`` float64 (m, 2) features as
  they are (no division), ``train_set_y`` int64 (m,), ``list_classes`` [b"red", b"blue"].
- Synthetic pictures of any size (:func:`write_synth`), written in chunks: ``train_set_x``
  uint8 (m, size, size, 3), ``train_set_y``, ``list_classes`` [dark, bright].
- The K-arm spiral (:func:`write_spiral`): the same layout, labels 0..K-1, ``list_classes``
  [b"arm 0", ..., b"arm K-1"].

The generated tables are written as CSV instead, which ``data.train: FILE.csv`` reads back:
housing (:func:`write_housing_csv`), the columns of ``HOUSING_COLUMNS``, and churn
(:func:`write_churn_csv`), the columns of ``CHURN_COLUMNS`` with words and missing cells.

The messages name the ``dlcli data`` command's flags (``--out``, ``--examples``, ...): these
functions are that command's work.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dlcli import __version__
from dlcli.data.generated import (
    CHURN_CLASSES,
    CHURN_COLUMNS,
    FLOWER_CLASSES,
    HOUSING_COLUMNS,
    SYNTH_CLASSES,
    churn,
    flower,
    housing,
    spiral,
    spiral_classes,
    synth_chunk,
)
from dlcli.errors import DlcliError
from dlcli.fileio import atomic_write


def output_paths(out: Path, test: bool) -> tuple[Path, Path | None]:
    """``--out DIR/NAME.h5`` -> (DIR/train_NAME.h5, DIR/test_NAME.h5), the course's naming."""
    name = out.name.removesuffix(".h5").removesuffix(".hdf5") or "data"
    return out.with_name(f"train_{name}.h5"), out.with_name(f"test_{name}.h5") if test else None


def check_writable(paths: Sequence[Path], force: bool, suffix: str = ".h5") -> None:
    """Refuse to overwrite a file (unless ``force``) or to write into a missing folder."""
    for path in paths:
        if path.is_dir():
            raise DlcliError(
                f"--out {path}: is a directory, expected a file name ending in {suffix}"
            )
        if path.exists() and not force:
            raise DlcliError(f"--out {path}: exists already; pass --force to replace it")
        if not path.parent.is_dir():
            raise DlcliError(f"--out {path}: folder {path.parent} does not exist")


def _check_seed(seed: int) -> None:
    if not 0 <= seed <= 2**32 - 1:
        raise DlcliError(f"--seed: must be 0 to 2^32-1, found {seed}")


def _write_attrs(f: Any, attrs: dict[str, Any]) -> None:
    """The file's attributes: the dlcli version that wrote it, then ``attrs`` in their order."""
    f.attrs["dlcli_version"] = __version__
    for key, value in attrs.items():
        f.attrs[key] = value


def write_course_h5(
    path: Path,
    prefix: str,
    x: np.ndarray,
    y: np.ndarray,
    classes: Sequence[str],
    *,
    files: Sequence[str] | None = None,
    attrs: dict[str, Any] | None = None,
) -> None:
    """Write ``<prefix>_x``, ``<prefix>_y``, ``list_classes`` (and ``<prefix>_files``) atomically.

    Parameters
    ----------
    x : ndarray of shape (m, ...), uint8 pixels or float features (m, n)
    y : ndarray of shape (m,), labels 0/1, written as int64 as in the course's files
    classes : the names of labels 0 and 1, written as fixed-length bytes
    """
    import h5py

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as f:
            f.create_dataset(f"{prefix}_x", data=x)
            f.create_dataset(f"{prefix}_y", data=np.asarray(y, dtype=np.int64))
            f.create_dataset("list_classes", data=np.array([c.encode() for c in classes]))
            if files is not None:
                f.create_dataset(f"{prefix}_files", data=list(files), dtype=h5py.string_dtype())
            _write_attrs(f, attrs or {})

    atomic_write(path, write)


def write_flower(path: Path, examples: int = 400, seed: int = 1) -> None:
    """The course's flower set (:func:`dlcli.data.generated.flower`) as one course-layout file
    of float features: ``train_set_x`` float64 (m, 2), ``train_set_y`` int64 (m,),
    ``list_classes``."""
    if examples < 2 or examples % 2:
        raise DlcliError(f"--examples: must be an even number >= 2, found {examples}")
    _check_seed(seed)
    X, Y = flower(examples, seed)  # (2, m), (1, m)
    write_course_h5(
        path,
        "train_set",
        np.ascontiguousarray(X.T),  # (m, 2): examples in rows, as the course's files
        Y[0].astype(np.int64),
        FLOWER_CLASSES,
        attrs={"generated": "flower", "examples": examples, "seed": seed},
    )


def write_spiral(path: Path, examples: int = 300, classes: int = 3, seed: int = 1) -> None:
    """The K-arm spiral (:func:`dlcli.data.generated.spiral`) as one course-layout file of float
    features: ``train_set_x`` float64 (m, 2), ``train_set_y`` int64 (m,) arms 0..K-1,
    ``list_classes`` "arm 0" .. "arm K-1" (the class names training on the generated set
    gives, so a model trained either way evaluates on the file)."""
    if not 2 <= classes <= 100:
        raise DlcliError(f"--classes: must be 2 to 100, found {classes}")
    if examples < classes or examples % classes:
        raise DlcliError(
            f"--examples: must be a multiple of --classes {classes} (equal arms), at least "
            f"{classes}; found {examples}"
        )
    _check_seed(seed)
    X, Y = spiral(examples, classes, seed)  # (2, m), (1, m)
    write_course_h5(
        path,
        "train_set",
        np.ascontiguousarray(X.T),  # (m, 2): examples in rows, as the course's files
        Y[0].astype(np.int64),
        spiral_classes(classes),
        attrs={"generated": "spiral", "examples": examples, "classes": classes, "seed": seed},
    )


def write_synth(
    path: Path,
    examples: int,
    *,
    size: int = 64,
    seed: int = 1,
    chunk: int = 1024,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """A synthetic course-layout file of any size, written ``chunk`` examples at a time, so it
    never sits whole in memory (for testing data larger than memory, ``data.stream``).

    ``train_set_x`` uint8 (examples, size, size, 3) (contiguous, so blocks of consecutive
    examples read fast), ``train_set_y`` int64 (examples,), ``list_classes`` [dark, bright].
    With g = np.random.default_rng(seed), chunk after chunk the labels and pixels of
    :func:`dlcli.data.generated.synth_chunk`.

    Parameters
    ----------
    progress : called as ``progress(done, examples)`` after each chunk
    """
    import h5py

    if not 1 <= examples <= 100_000_000:
        raise DlcliError(f"--examples: must be 1 to 100000000, found {examples}")
    if not 1 <= size <= 4096:
        raise DlcliError(f"--size: must be 1 to 4096 pixels, found {size}")
    if chunk < 1:
        raise DlcliError(f"--chunk: must be at least 1, found {chunk}")
    _check_seed(seed)
    shape = (size, size, 3)
    attrs = {"generated": "synth", "examples": examples, "size": size, "seed": seed}

    def write(tmp: Path) -> None:
        g = np.random.default_rng(seed)
        with h5py.File(tmp, "w") as f:
            x = f.create_dataset("train_set_x", shape=(examples, *shape), dtype=np.uint8)
            y = f.create_dataset("train_set_y", shape=(examples,), dtype=np.int64)
            f.create_dataset("list_classes", data=np.array([c.encode() for c in SYNTH_CLASSES]))
            _write_attrs(f, attrs)
            for start in range(0, examples, chunk):
                c = min(chunk, examples - start)
                labels, pixels = synth_chunk(g, c, shape)
                x[start : start + c] = pixels
                y[start : start + c] = labels
                if progress is not None:
                    progress(start + c, examples)

    atomic_write(path, write)


# What a missing cell is written as: an empty cell in a numeric column, "NA" in a column of
# words, the two spellings people's own files have most.
MISSING_NUMBER, MISSING_WORD = "", "NA"


def _csv_cell(value: object) -> str:
    """A cell's text: a word as it is, a number as the shortest text that reads back as the same
    float64 ("3" for a whole number), a missing value (NaN, None) as MISSING_NUMBER or
    MISSING_WORD."""
    if value is None:
        return MISSING_WORD
    if isinstance(value, str):
        return value
    number = float(value)
    if number != number:  # NaN
        return MISSING_NUMBER
    return str(int(number)) if number.is_integer() else repr(number)


def _write_table_csv(path: Path, table: dict[str, np.ndarray], columns: Sequence[str]) -> None:
    """``table``'s ``columns`` (each an ndarray of shape (m,)) as CSV: a header, then m rows."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    values = [table[name].tolist() for name in columns]
    writer.writerows([_csv_cell(cell) for cell in row] for row in zip(*values, strict=True))
    atomic_write(path, lambda tmp: tmp.write_text(text.getvalue(), encoding="utf-8"))


def _check_rows(examples: int, seed: int) -> None:
    if not 1 <= examples <= 10_000_000:
        raise DlcliError(f"--examples: must be 1 to 10000000, found {examples}")
    _check_seed(seed)


def write_housing_csv(path: Path, examples: int = 1000, seed: int = 1) -> None:
    """The generated housing table (:func:`dlcli.data.generated.housing`) as a CSV file with a
    header of ``HOUSING_COLUMNS``; every number is written so it reads back bit for bit, so
    training on the file is training on ``data.generate housing``."""
    _check_rows(examples, seed)
    _write_table_csv(path, housing(examples, seed), HOUSING_COLUMNS)


def write_churn_csv(path: Path, examples: int = 2000, seed: int = 1) -> dict[str, dict[str, int]]:
    """The generated churn table (:func:`dlcli.data.generated.churn`) as a CSV file with a header
    of ``CHURN_COLUMNS``: numbers written to read back bit for bit, a missing monthly_fee as an
    empty cell and a missing region as ``NA``.

    Returns
    -------
    counts : {"status": {"stays": n, "leaves": n}, "missing": {"monthly_fee": n, "region": n}}
    """
    _check_rows(examples, seed)
    table = churn(examples, seed)
    _write_table_csv(path, table, CHURN_COLUMNS)
    status = table["status"]
    return {
        "status": {word: int((status == word).sum()) for word in CHURN_CLASSES},
        "missing": {
            "monthly_fee": int(np.isnan(table["monthly_fee"]).sum()),
            "region": int(sum(value is None for value in table["region"])),
        },
    }
