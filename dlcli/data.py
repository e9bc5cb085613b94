"""Data readers. Each returns ``X`` of shape (n_x, m) and ``Y`` of shape (1, m); all input
checks on data happen here and raise :class:`DataError` naming the file and key."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from dlcli.errors import DataError

FLOWER_CLASSES = ("red", "blue")


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


def available_memory() -> int:
    """Bytes of memory the machine has free now (physical pages available)."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not on this platform: do not refuse
        return 1 << 62


def _open_h5(path: Path, key: str):
    import h5py

    if not path.exists():
        raise DataError(f"{key}: {path}: no such file")
    if path.is_dir():
        raise DataError(f"{key}: {path}: is a directory, expected a course HDF5 file")
    if not h5py.is_hdf5(path):
        raise DataError(
            f"{key}: {path}: not an HDF5 file (expected the course layout, e.g. train_catvnoncat.h5)"
        )
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DataError(
            f"{key}: {path}: cannot be read as HDF5, truncated or damaged ({exc})"
        ) from None


def _read(ds: Any, where: str) -> np.ndarray:
    """A dataset's values; a damaged chunk is the file's fault, so a DataError, not a bug."""
    try:
        return ds[()]
    except OSError as exc:
        raise DataError(
            f"{where}: {ds.name} cannot be read, the file is damaged ({exc}); "
            "expected a whole course HDF5 file"
        ) from None


@dataclass(frozen=True)
class CourseFile:
    """One course-layout HDF5 file, read.

    X : ndarray of shape (n_x, m), float64
    Y : ndarray of shape (1, m), float64 labels 0/1
    classes : class names (``("0", "1")`` when the file names none)
    example_shape : the shape of one raw example, e.g. (64, 64, 3), or (n,) for features
    preprocessing : how raw examples became columns of X, as stored with a model
    named_classes : whether the file holds ``list_classes``
    """

    X: np.ndarray
    Y: np.ndarray
    classes: tuple[str, ...]
    example_shape: tuple[int, ...]
    preprocessing: dict[str, Any]
    named_classes: bool


def read_course_h5(
    path: Path, key: str = "data.train"
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], tuple[int, ...]]:
    """Read a course-layout HDF5 file (see :func:`read_course_file`).

    Returns
    -------
    X : ndarray of shape (n_x, m), float64 pixels divided by 255 (features as they are)
    Y : ndarray of shape (1, m), float64 labels 0/1
    classes : class names
    example_shape : the shape of one raw example, e.g. (64, 64, 3)
    """
    read = read_course_file(path, key)
    return read.X, read.Y, read.classes, read.example_shape


def read_course_file(path: Path, key: str = "data.train") -> CourseFile:
    """Read a course-layout HDF5 file.

    The file holds ``<prefix>_x``, ``<prefix>_y`` (m,) or (1, m) integer labels, and
    optionally ``list_classes`` (class names, bytes). ``<prefix>_x`` is either uint8 pixels
    (m, h, w, c) or (m, n), flattened and divided by 255 as in the course, or float features
    (m, n) taken as they are (what ``dlcli data flower`` writes).
    """
    import h5py

    with _open_h5(path, key) as f:
        xs = sorted(k for k in f if k.endswith("_x") and isinstance(f[k], h5py.Dataset))
        if len(xs) != 1 or f"{xs[0][:-2]}_y" not in f:
            raise DataError(
                f"{key}: {path}: expected one pair of datasets <prefix>_x and <prefix>_y "
                f"(e.g. train_set_x, train_set_y), found {sorted(f)}"
            )
        x_ds, y_ds = f[xs[0]], f[f"{xs[0][:-2]}_y"]
        where = f"{key}: {path}"
        features = x_ds.dtype.kind == "f" and x_ds.ndim == 2
        if (x_ds.dtype != np.uint8 or x_ds.ndim < 2) and not features:
            raise DataError(
                f"{where}: {x_ds.name} must be uint8 pixels of shape (m, ...), found {x_ds.dtype} {x_ds.shape}"
            )
        m = x_ds.shape[0]
        if not isinstance(y_ds, h5py.Dataset):
            raise DataError(f"{where}: {y_ds.name} must be a dataset of {m} labels, found a group")
        if m == 0:
            raise DataError(f"{where}: {x_ds.name} holds zero examples; training needs at least 1")
        need = int(np.prod(x_ds.shape, dtype=np.int64)) * 9  # uint8 read + float64 copy
        if need > available_memory():
            raise DataError(
                f"{where}: {x_ds.name} {x_ds.shape} needs {need / 2**30:.1f} GiB to load, "
                f"more than the {available_memory() / 2**30:.1f} GiB free"
            )
        if (
            y_ds.dtype.kind not in "iub"
            or y_ds.size != m
            or (y_ds.ndim == 2 and 1 not in y_ds.shape)
            or y_ds.ndim > 2
        ):
            raise DataError(
                f"{where}: {y_ds.name} must be {m} integer labels, shape ({m},) or (1, {m}); found {y_ds.dtype} {y_ds.shape}"
            )
        classes: tuple[str, ...] = ("0", "1")
        named_classes = "list_classes" in f
        if named_classes:
            names = f["list_classes"]
            if not isinstance(names, h5py.Dataset):
                raise DataError(
                    f"{where}: list_classes must be a dataset of 2 names, found a group"
                )
            if names.size > 100:  # a header may claim millions of names: count them, read none
                raise DataError(
                    f"{where}: list_classes names {names.size} classes; the sigmoid output needs 2"
                )
            raw = _read(names, where)
            classes = tuple(
                c.decode("utf-8", "replace") if isinstance(c, bytes) else str(c)
                for c in np.ravel(raw)
            )
        example_shape = tuple(int(s) for s in x_ds.shape[1:])
        X_raw = _read(x_ds, where)
        labels = np.asarray(_read(y_ds, where)).reshape(1, m)
    if len(classes) != 2:
        raise DataError(
            f"{where}: list_classes names {len(classes)} classes {list(classes)}; the sigmoid output needs 2"
        )
    bad = labels[(labels != 0) & (labels != 1)]
    if bad.size:
        raise DataError(
            f"{where}: labels must be 0 or 1 (indices into list_classes {list(classes)}), found {int(bad[0])}"
        )
    if features:
        X = X_raw.T.astype(np.float64, copy=False)  # (n_x, m)
        bad_at = np.flatnonzero(~np.all(np.isfinite(X), axis=0))
        if bad_at.size:
            raise DataError(
                f"{where}: /{xs[0]} holds NaN or infinite features in example {int(bad_at[0])}; all must be finite"
            )
        prep: dict[str, Any] = {"kind": "none"}
    else:
        # The course's flatten: reshape(m, -1).T keeps each picture's (h, w, c) order in a column.
        X = X_raw.reshape(m, -1).T / 255.0  # (n_x, m)
        prep = {"kind": "image", "example_shape": list(example_shape), "divide_by": 255.0}
    return CourseFile(X, labels.astype(np.float64), classes, example_shape, prep, named_classes)


def flower(examples: int = 400, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The course's planar "flower": two classes of petals, made exactly as ``load_planar_dataset``.

    For class j, t = linspace(3.12 j, 3.12 (j+1), N) + 0.2 N(0, 1) and r = 4 sin(4t) + 0.2 N(0, 1);
    the point is (r sin t, r cos t). Draws come from the legacy generator in the course's order.

    Returns
    -------
    X : ndarray of shape (2, examples)
    Y : ndarray of shape (1, examples), 0 for red, 1 for blue
    """
    from dlcli.model.network import legacy_rng

    rng = legacy_rng(seed)
    N = examples // 2
    X = np.zeros((examples, 2))
    Y = np.zeros((examples, 1))
    for j in range(2):
        ix = slice(N * j, N * (j + 1))
        t = np.linspace(j * 3.12, (j + 1) * 3.12, N) + rng.randn(N) * 0.2
        r = 4 * np.sin(4 * t) + rng.randn(N) * 0.2
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        Y[ix] = j
    return X.T, Y.T


def _kind_name(preprocessing: dict[str, Any]) -> str:
    return "uint8 pixels" if preprocessing["kind"] == "image" else "float features"


def load(data_cfg: Any) -> Dataset:
    """Load the data a config's ``data`` section names."""
    if data_cfg.generate is not None:
        gen = data_cfg.generate
        X, Y = flower(gen.examples, gen.seed)
        return Dataset(X, Y, FLOWER_CLASSES, {"kind": "none"}, sources={"generate": gen.name})
    train = read_course_file(data_cfg.train, "data.train")
    classes, shape, prep = train.classes, train.example_shape, train.preprocessing
    sources = {"train": str(data_cfg.train)}
    other = {}
    for key in ("test", "validation"):
        path = getattr(data_cfg, key)
        if path is None:
            continue
        part = read_course_file(path, f"data.{key}")
        where = f"data.{key}: {path}"
        if part.preprocessing["kind"] != prep["kind"]:
            raise DataError(
                f"{where}: {_kind_name(part.preprocessing)}, but data.train holds {_kind_name(prep)}"
            )
        if part.example_shape != shape:
            raise DataError(
                f"{where}: examples of shape {part.example_shape}, but data.train has {shape}"
            )
        if part.classes != classes:
            raise DataError(
                f"{where}: classes {list(part.classes)}, but data.train has {list(classes)}"
            )
        other[key] = (part.X, part.Y)
        sources[key] = str(path)
    X_test, Y_test = other.get("test", (None, None))
    X_val, Y_val = other.get("validation", (None, None))
    return Dataset(train.X, train.Y, classes, prep, X_test, Y_test, sources, X_val, Y_val)


def split_validation(dataset: Dataset, fraction: float, seed: int) -> Dataset:
    """Move a seeded random ``fraction`` of the training examples to the validation set.

    The permutation comes from ``np.random.default_rng(seed)``; the validation examples keep
    their order in the file. At least one example stays on each side.
    """
    if not fraction:
        return dataset
    m = dataset.X_train.shape[1]
    n_val = min(max(1, round(fraction * m)), m - 1)
    if m < 2:
        raise DataError(
            f"data.validation_fraction: {m} training example cannot be split; it needs 2 or more"
        )
    chosen = np.sort(np.random.default_rng(seed).permutation(m)[:n_val])
    keep = np.setdiff1d(np.arange(m), chosen)
    return replace(
        dataset,
        X_train=dataset.X_train[:, keep],
        Y_train=dataset.Y_train[:, keep],
        X_val=dataset.X_train[:, chosen],
        Y_val=dataset.Y_train[:, chosen],
    )


def one_hot(dataset: Dataset) -> Dataset:
    """Labels 0..K-1 of shape (1, m) as one-hot columns (K, m), K = the number of classes."""
    K = len(dataset.classes)

    def encode(Y: np.ndarray | None) -> np.ndarray | None:
        if Y is None:
            return None
        labels = Y[0].astype(np.int64)
        return (np.arange(K)[:, np.newaxis] == labels[np.newaxis, :]).astype(np.float64)  # (K, m)

    return replace(
        dataset,
        Y_train=encode(dataset.Y_train),
        Y_test=encode(dataset.Y_test),
        Y_val=encode(dataset.Y_val),
    )
