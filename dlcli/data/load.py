"""The data a config's ``data`` section names, read, split and prepared for training.

:func:`load` returns a :class:`Dataset`: columns are examples, X (n_x, m) and Y (n_y, m), with
the preprocessing a model stores to prepare new inputs the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from dlcli.data.course import CourseFile, read_course_file
from dlcli.data.generated import FLOWER_CLASSES, flower, housing, spiral, spiral_classes
from dlcli.data.tables import apply_table, read_csv_table, standardize, table_dataset
from dlcli.errors import DataError
from dlcli.model import network

# A table's columns by name: a CSV file's, or the generated housing set's.
Table = dict[str, np.ndarray]


@dataclass(frozen=True)
class Dataset:
    """Training (and optional test) examples, columns are examples.

    X_train : ndarray of shape (n_x, m)
    Y_train : ndarray of shape (1, m)
    preprocessing : how raw inputs become columns of X; stored with the model
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

    @property
    def n_x(self) -> int:
        return self.X_train.shape[0]


def _kind_name(preprocessing: dict[str, Any]) -> str:
    return "uint8 pixels" if preprocessing["kind"] == "image" else "float features"


def _read_source(
    path: Path, key: str, output: str, numeric: list[str] | None = None, stream: bool = False
) -> CourseFile | Table:
    """One file: a course HDF5 file, or a CSV table (raw columns, ``numeric`` ones as numbers;
    the caller picks and standardizes them)."""
    if path.suffix.lower() == ".csv":
        return read_csv_table(path, key, numeric)
    return read_course_file(path, key, output, stream)


def _generated(gen: Any) -> CourseFile | Table:
    """The built-in set ``data.generate`` names: the housing table, or the flower or spiral
    as if read from its file (two float features per example)."""
    if gen.name == "housing":
        return housing(gen.examples, gen.seed)
    if gen.name == "flower":
        X, Y = flower(gen.examples, gen.seed)
        classes = FLOWER_CLASSES
    else:
        X, Y = spiral(gen.examples, gen.classes, gen.seed)
        classes = spiral_classes(gen.classes)
    return CourseFile(X, Y, classes, (2,), {"kind": "none"}, named_classes=True)


def load(data_cfg: Any, output: str = "sigmoid") -> Dataset:
    """Load the data a config's ``data`` section names, split and prepared for training.

    Course HDF5 files or a built-in set give X directly; CSV tables and the housing set give
    columns, of which ``data.features`` are standardized with the training part's mean and
    standard deviation (the target too), as the stored preprocessing records. Then
    ``data.test_fraction`` and ``data.validation_fraction`` split seeded parts off, and labels
    become one-hot columns for a softmax output.
    """
    # Named features leave other columns of a CSV unused, so they need not be numbers.
    numeric = None
    if data_cfg.features is not None:
        numeric = [*data_cfg.features, *([data_cfg.target] if data_cfg.target else [])]
    sources: dict[str, str] = {}
    if data_cfg.generate is not None:
        sources["generate"] = data_cfg.generate.name
        train = _generated(data_cfg.generate)
    else:
        train = _read_source(data_cfg.train, "data.train", output, numeric, data_cfg.stream)
        sources["train"] = str(data_cfg.train)
    others: dict[str, CourseFile | Table] = {}
    for key in ("test", "validation"):
        path = getattr(data_cfg, key)
        if path is not None:
            others[key] = _read_other(path, key, output, numeric, train)
            sources[key] = str(path)
    if isinstance(train, dict):
        dataset = _from_tables(data_cfg, output, {"train": train, **others}, sources)
    else:
        dataset = _from_course_files(train, others, sources)
    dataset = split_off(dataset, data_cfg.test_fraction, data_cfg.split_seed, "test")
    dataset = split_off(
        dataset, data_cfg.validation_fraction, data_cfg.split_seed + 1, "validation"
    )
    if isinstance(train, dict):
        dataset = _standardized(dataset)
    if output == "softmax":
        dataset = one_hot(dataset)
    return dataset


def _read_other(
    path: Path, key: str, output: str, numeric: list[str] | None, train: CourseFile | Table
) -> CourseFile | Table:
    """The ``data.test`` or ``data.validation`` file, refused unless it is the same kind of
    source as the training data, with examples of the same kind, shape and classes."""
    read = _read_source(path, f"data.{key}", output, numeric)
    where = f"data.{key}: {path}"
    table = isinstance(read, dict)
    if table != isinstance(train, dict):
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
        train.X, train.Y, train.classes, train.preprocessing, *test, sources, *validation
    )


def _from_tables(
    data_cfg: Any, output: str, tables: dict[str, Table], sources: dict[str, str]
) -> Dataset:
    """Raw features and target picked by name from each table (standardized after the split,
    with the training part's statistics)."""
    if output != "linear":
        raise DataError(
            f"data: a table is for regression; set model.output_activation: linear (found {output})"
        )
    where = sources.get("train", "the generated housing table")
    target = (
        data_cfg.target if data_cfg.target is not None or data_cfg.generate is None else "price_k"
    )
    X, Y, features = table_dataset(tables["train"], target, data_cfg.features, where)
    other = {
        k: table_dataset(t, target, features, sources[k])[:2]
        for k, t in tables.items()
        if k != "train"
    }
    test, validation = other.get("test", (None, None)), other.get("validation", (None, None))
    prep = {"kind": "table", "features": features, "target": target}
    return Dataset(X, Y, (), prep, *test, sources, *validation)


def _standardized(dataset: Dataset) -> Dataset:
    """Every split standardized with the training part's statistics, recorded in preprocessing."""
    prep = standardize(
        dataset.X_train,
        dataset.Y_train,
        dataset.preprocessing["features"],
        dataset.preprocessing["target"],
    )
    parts = {}
    for split in ("train", "test", "val"):
        X, Y = getattr(dataset, f"X_{split}"), getattr(dataset, f"Y_{split}")
        if X is not None:
            parts[f"X_{split}"], parts[f"Y_{split}"] = apply_table(prep, X, Y)
    return replace(dataset, preprocessing=prep, **parts)


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
    keep = np.setdiff1d(np.arange(m), chosen)
    attr = "val" if into == "validation" else "test"
    return replace(
        dataset,
        X_train=dataset.X_train[:, keep],
        Y_train=dataset.Y_train[:, keep],
        **{f"X_{attr}": dataset.X_train[:, chosen], f"Y_{attr}": dataset.Y_train[:, chosen]},
    )
