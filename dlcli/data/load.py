"""The data a config's ``data`` section names, read, split and prepared for training.

:func:`load` returns a :class:`Dataset`: columns are examples, X (n_x, m) and Y (n_y, m), with
the preprocessing a model stores to prepare new inputs the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from dlcli.data import encode, tablecheck, weights
from dlcli.data.course import CourseFile, read_course_file
from dlcli.data.csvread import CsvTable, read_csv
from dlcli.data.generated import FLOWER_CLASSES, churn, flower, housing, spiral, spiral_classes
from dlcli.data.tables import pick_features
from dlcli.errors import DataError
from dlcli.model import network

#: What messages call the table data.generate housing makes.
GENERATED_TABLE = "the generated housing table"
#: The column each generated table predicts when data.target is not given.
GENERATED_TARGETS = {"housing": "price_k", "churn": "status"}


@dataclass(frozen=True)
class Dataset:
    """Training (and optional test) examples, columns are examples.

    X_train : ndarray of shape (n_x, m)
    Y_train : ndarray of shape (1, m)
    preprocessing : how raw inputs become columns of X; stored with the model
    dropped_rows : rows of the tables left out for a missing cell (``data.missing: drop``)
    digest : SHA-256 of the training file's examples and labels as stored (a course HDF5
        file read whole), else None
    """

    X_train: np.ndarray
    Y_train: np.ndarray
    classes: tuple[str, ...]
    preprocessing: dict[str, Any]
    X_test: np.ndarray | None = None
    Y_test: np.ndarray | None = None
    sources: dict[str, str] = field(default_factory=dict)
    X_val: np.ndarray | None = None
    Y_val: np.ndarray | None = None
    dropped_rows: int = 0  # rows of a table left out by data.missing: drop
    digest: str | None = None
    weights: np.ndarray | None = None  # (1, m): data.weight of the training examples

    @property
    def n_x(self) -> int:
        return self.X_train.shape[0]

    @property
    def inputs(self) -> str:
        """How a table's columns give the n_x inputs ("a 1, colour 3 (blue, green, red)"),
        for the layer-mismatch message; "" for other data and numeric-only regressions,
        whose message stays as it was."""
        return encode.breakdown(self.preprocessing) if encode.is_encoded(self.preprocessing) else ""


def _kind_name(preprocessing: dict[str, Any]) -> str:
    return "uint8 pixels" if preprocessing["kind"] == "image" else "float features"


def _read_source(
    path: Path,
    key: str,
    output: str,
    stream: bool = False,
    dtype: Any = np.float64,
    batch_size: int | None = None,
) -> CourseFile | CsvTable:
    """One file: a course HDF5 file (the training file's X in ``dtype``, with the digest of
    what it stores, example-major when ``batch_size`` makes mini-batches of it), or a CSV
    table (typed columns; the caller picks and encodes them)."""
    if path.suffix.lower() == ".csv":
        return read_csv(path, key)
    if key != "data.train":
        return read_course_file(path, key, output, stream)
    return read_course_file(path, key, output, stream, dtype, True, batch_size)


def _generated(gen: Any) -> CourseFile | CsvTable:
    """The built-in set ``data.generate`` names: the housing table (as if read from its CSV
    file), or the flower or spiral as if read from its file (two float features per example)."""
    if gen.name in GENERATED_TARGETS:
        return _generated_table(gen)
    if gen.name == "flower":
        X, Y = flower(gen.examples, gen.seed)
        classes = FLOWER_CLASSES
    else:
        X, Y = spiral(gen.examples, gen.classes, gen.seed)
        classes = spiral_classes(gen.classes)
    return CourseFile(X, Y, classes, (2,), {"kind": "none"}, named_classes=True)


def _generated_table(gen: Any) -> CsvTable:
    """The housing or churn table as if read from its CSV file: missing cells (churn's NaN
    fees and None regions) become the reader's NaN / "" with their mask."""
    columns = (
        housing(gen.examples, gen.seed) if gen.name == "housing" else churn(gen.examples, gen.seed)
    )
    missing = {
        name: np.isnan(col) if col.dtype.kind == "f" else np.array([c is None for c in col])
        for name, col in columns.items()
    }
    for name, col in columns.items():
        if col.dtype == object:
            col[missing[name]] = ""
    m = gen.examples
    where = GENERATED_TABLE if gen.name == "housing" else f"the generated {gen.name} table"
    lines = np.arange(2, m + 2)  # the lines its CSV file would have
    return CsvTable(Path(where), "data.generate", list(columns), lines, columns, missing)


def load(
    data_cfg: Any, output: str = "sigmoid", dtype: Any = np.float64, batch_size: int | None = None
) -> Dataset:
    """Load the data a config's ``data`` section names, split and prepared for training.

    Course HDF5 files or a built-in set give X directly; CSV tables and the housing set give
    columns, of which ``data.features`` are standardized with the training part's mean and
    standard deviation (the target too), as the stored preprocessing records. Then
    ``data.test_fraction`` and ``data.validation_fraction`` split seeded parts off, and labels
    become one-hot columns for a softmax output.

    A course file's training pixels become X in ``dtype`` (``train.dtype``) straight away, so
    the parts split off it are in ``dtype`` too; every other X is float64. ``batch_size``:
    the mini-batches training draws from it, if any (see :func:`read_course_file`).
    """
    sources: dict[str, str] = {}
    if data_cfg.generate is not None:
        sources["generate"] = data_cfg.generate.name
        train = _generated(data_cfg.generate)
    else:
        train = _read_source(
            data_cfg.train, "data.train", output, data_cfg.stream, dtype, batch_size
        )
        sources["train"] = str(data_cfg.train)
    others: dict[str, CourseFile | CsvTable] = {}
    for key in ("test", "validation"):
        path = getattr(data_cfg, key)
        if path is not None:
            others[key] = _read_other(path, key, output, train)
            sources[key] = str(path)
    if isinstance(train, CsvTable):  # encoded after its split, from the training part
        dataset = _from_tables(data_cfg, output, {"train": train, **others}, sources)
    else:
        dataset = _from_course_files(train, others, sources)
        dataset = split_off(dataset, data_cfg.test_fraction, data_cfg.split_seed, "test")
        dataset = split_off(
            dataset, data_cfg.validation_fraction, data_cfg.split_seed + 1, "validation"
        )
    if output == "softmax":
        dataset = one_hot(dataset)
    return dataset


def _read_other(
    path: Path, key: str, output: str, train: CourseFile | CsvTable
) -> CourseFile | CsvTable:
    """The ``data.test`` or ``data.validation`` file, refused unless it is the same kind of
    source as the training data, with examples of the same kind, shape and classes."""
    read = _read_source(path, f"data.{key}", output)
    where = f"data.{key}: {path}"
    table = isinstance(read, CsvTable)
    if table != isinstance(train, CsvTable):
        raise DataError(
            f"{where}: a {'CSV table' if table else 'course HDF5 file'}, but data.train is not"
        )
    if table:
        return read
    if read.preprocessing["kind"] != train.preprocessing["kind"]:
        raise DataError(
            f"{where}: {_kind_name(read.preprocessing)}, but data.train holds {_kind_name(train.preprocessing)}"
        )
    if read.example_shape != train.example_shape:
        raise DataError(
            f"{where}: examples of shape {read.example_shape}, but data.train has {train.example_shape}"
        )
    if read.classes != train.classes:
        raise DataError(
            f"{where}: classes {list(read.classes)}, but data.train has {list(train.classes)}"
        )
    return read


def _from_course_files(
    train: CourseFile, others: dict[str, CourseFile], sources: dict[str, str]
) -> Dataset:
    def xy(key: str) -> tuple[np.ndarray | None, np.ndarray | None]:
        part = others.get(key)
        return (None, None) if part is None else (part.X, part.Y)

    test, validation = xy("test"), xy("validation")
    return Dataset(
        train.X,
        train.Y,
        train.classes,
        train.preprocessing,
        *test,
        sources,
        *validation,
        digest=train.digest,
    )


def _table_spec(data_cfg: Any, output: str, table: CsvTable, where: str) -> encode.TableSpec:
    """What the data section says about the table, its columns checked against it."""
    target = data_cfg.target
    if target is None and data_cfg.generate is not None:
        target = GENERATED_TARGETS.get(data_cfg.generate.name)
    weight, features = data_cfg.weight, data_cfg.features
    if weight is not None and features is None:  # every column but the target and weight
        features = [n for n in table.header if n not in (target, weight)]
    features = pick_features(table.header, target, features, where)
    if weight is not None:
        weights.check_column(table, weight, target, features)
    for name in data_cfg.categorical or ():
        if name not in features:
            raise DataError(
                f"data.categorical: {name!r} is not a feature column of {where}; features: {features}"
            )
    return encode.TableSpec(
        target,
        features,
        tuple(data_cfg.categorical or ()),
        data_cfg.missing,
        data_cfg.unknown_category,
        "regression" if output == "linear" else "classification",
        None if data_cfg.classes is None else tuple(data_cfg.classes),
        output,
    )


MISSING_FIX = (
    "set data.missing: drop (leave those rows out) or mean (fill a number column with the "
    "training mean, a text column with a 'missing' category)"
)


def _usable_rows(table: CsvTable, spec: encode.TableSpec, kind: dict[str, str]) -> np.ndarray:
    """The rows of ``table`` to use, (m,) indices, after ``data.missing``: every row (a
    missing cell refused, or filled later), or those without a missing cell (drop)."""
    tablecheck.check_target(table, spec)
    used = [n for n in table.header if n in spec.features or n == spec.target]
    rows = np.arange(table.m)
    if spec.missing == "drop":
        rows = np.flatnonzero(~tablecheck.missing_mask(table, used))
        if not rows.size:
            raise DataError(
                f"{encode.where_of(table)}: every row has a missing cell in the columns used, "
                "so data.missing: drop leaves none"
            )
    elif spec.missing == "error":
        tablecheck.refuse_missing(table, used, rows, MISSING_FIX)
    else:  # mean fills features; a row's label cannot be made up
        fix = "data.missing: mean fills features, not the target; set data.missing: drop"
        tablecheck.refuse_missing(table, [spec.target], rows, fix)
    numeric = [n for n in used if kind.get(n) == "numeric" or n == spec.target]
    tablecheck.check_finite(table, numeric, rows)
    return rows


def _from_tables(
    data_cfg: Any, output: str, tables: dict[str, CsvTable], sources: dict[str, str]
) -> Dataset:
    """Features and target picked by name from each table, the ``data.*_fraction`` splits
    made, then every split encoded (:mod:`dlcli.data.encode`) with what the training part
    gives: means, standard deviations and categories."""
    train = tables["train"]
    spec = _table_spec(data_cfg, output, train, sources.get("train", str(train.path)))
    for key, table in tables.items():
        if key != "train":
            pick_features(table.header, spec.target, spec.features, sources[key])
    kind = tablecheck.kinds(train, spec)
    rows = {key: _usable_rows(table, spec, kind) for key, table in tables.items()}
    dropped = sum(table.m - rows[key].size for key, table in tables.items())
    classes: tuple[str, ...] = ()
    if spec.task == "classification":
        classes = tablecheck.find_classes(train, rows["train"], spec)
    # The same seeded splits as every other source: split_off on the row indices.
    index = Dataset(rows["train"][np.newaxis, :], rows["train"][np.newaxis, :], (), {})
    index = split_off(index, data_cfg.test_fraction, data_cfg.split_seed, "test")
    index = split_off(index, data_cfg.validation_fraction, data_cfg.split_seed + 1, "validation")
    train_rows = index.X_train[0]
    prep, X, Y = encode.fit_transform(train, train_rows, spec, kind, classes)
    w = None
    if data_cfg.weight is not None:
        w = weights.sample_weights(train, rows["train"], train_rows, data_cfg.weight)
    parts: dict[str, np.ndarray | None] = {"X_train": X, "Y_train": Y}
    for split, key in (("test", "test"), ("val", "validation")):
        table, part = tables.get(key), rows.get(key)
        if table is None:  # a part split off the training file, if any
            table, split_off_rows = train, getattr(index, f"X_{split}")
            part = None if split_off_rows is None else split_off_rows[0]
        X, Y = (None, None)
        if part is not None:
            X, Y = encode.transform(prep, table, part, target=True, classes=classes)
        parts[f"X_{split}"], parts[f"Y_{split}"] = X, Y
    return Dataset(
        classes=classes,
        preprocessing=prep,
        sources=sources,
        dropped_rows=dropped,
        weights=w,
        **parts,
    )


def one_hot(dataset: Dataset) -> Dataset:
    """Labels 0..K-1 of shape (1, m) as one-hot columns (K, m), K = the number of classes."""
    K = len(dataset.classes)

    def encode(Y: np.ndarray | None) -> np.ndarray | None:
        if Y is None:
            return None
        return network.one_hot(Y[0], K)  # (K, m)

    return replace(
        dataset,
        Y_train=encode(dataset.Y_train),
        Y_test=encode(dataset.Y_test),
        Y_val=encode(dataset.Y_val),
    )


def split_off(dataset: Dataset, fraction: float, seed: int, into: str) -> Dataset:
    """Move a seeded random ``fraction`` of the training examples into the ``into`` split
    ("validation" or "test"). The permutation comes from ``np.random.default_rng(seed)``; the
    moved examples keep their order. At least one example stays on each side."""
    if not fraction:
        return dataset
    m = dataset.X_train.shape[1]
    if m < 2:
        raise DataError(
            f"data.{into}_fraction: {m} training example cannot be split; it needs 2 or more"
        )
    n_out = min(max(1, round(fraction * m)), m - 1)
    chosen = np.sort(np.random.default_rng(seed).permutation(m)[:n_out])
    stays = np.ones(m, bool)
    stays[chosen] = False
    keep = np.flatnonzero(stays)  # the others, in order
    attr = "val" if into == "validation" else "test"
    return replace(
        dataset,
        X_train=dataset.X_train[:, keep],
        Y_train=dataset.Y_train[:, keep],
        **{f"X_{attr}": dataset.X_train[:, chosen], f"Y_{attr}": dataset.Y_train[:, chosen]},
    )
