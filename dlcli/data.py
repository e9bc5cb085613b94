"""Data readers. Each returns ``X`` of shape (n_x, m) and ``Y`` of shape (1, m); all input
checks on data happen here and raise :class:`DataError` naming the file and key."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
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


def read_course_h5(
    path: Path, key: str = "data.train"
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], tuple[int, ...]]:
    """Read a course-layout HDF5 file.

    The file holds ``<prefix>_x`` (m, h, w, c) or (m, n) uint8 pixels, ``<prefix>_y`` (m,)
    or (1, m) integer labels, and optionally ``list_classes`` (class names, bytes).

    Returns
    -------
    X : ndarray of shape (n_x, m), float64 pixels divided by 255
    Y : ndarray of shape (1, m), float64 labels 0/1
    classes : class names
    example_shape : the shape of one raw example, e.g. (64, 64, 3)
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
        if x_ds.dtype != np.uint8 or x_ds.ndim < 2:
            raise DataError(
                f"{where}: {x_ds.name} must be uint8 pixels of shape (m, ...), found {x_ds.dtype} {x_ds.shape}"
            )
        m = x_ds.shape[0]
        if m == 0:
            raise DataError(f"{where}: {x_ds.name} holds zero examples")
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
        if "list_classes" in f:
            raw = f["list_classes"][()]
            classes = tuple(
                c.decode("utf-8", "replace") if isinstance(c, bytes) else str(c)
                for c in np.ravel(raw)
            )
        example_shape = tuple(int(s) for s in x_ds.shape[1:])
        X_raw = x_ds[()]
        labels = np.asarray(y_ds[()]).reshape(1, m)
    if len(classes) != 2:
        raise DataError(
            f"{where}: list_classes names {len(classes)} classes {list(classes)}; the sigmoid output needs 2"
        )
    bad = labels[(labels != 0) & (labels != 1)]
    if bad.size:
        raise DataError(
            f"{where}: labels must be 0 or 1 (indices into list_classes {list(classes)}), found {int(bad[0])}"
        )
    # The course's flatten: reshape(m, -1).T keeps each picture's (h, w, c) order in a column.
    X = X_raw.reshape(m, -1).T / 255.0  # (n_x, m)
    return X, labels.astype(np.float64), classes, example_shape


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


def load(data_cfg: Any) -> Dataset:
    """Load the data a config's ``data`` section names."""
    if data_cfg.generate is not None:
        gen = data_cfg.generate
        X, Y = flower(gen.examples, gen.seed)
        return Dataset(X, Y, FLOWER_CLASSES, {"kind": "none"}, sources={"generate": gen.name})
    X, Y, classes, shape = read_course_h5(data_cfg.train, "data.train")
    prep = {"kind": "image", "example_shape": list(shape), "divide_by": 255.0}
    X_test = Y_test = None
    sources = {"train": str(data_cfg.train)}
    if data_cfg.test is not None:
        X_test, Y_test, test_classes, test_shape = read_course_h5(data_cfg.test, "data.test")
        if test_shape != shape:
            raise DataError(
                f"data.test: {data_cfg.test}: examples of shape {test_shape}, but data.train has {shape}"
            )
        if test_classes != classes:
            raise DataError(
                f"data.test: {data_cfg.test}: classes {list(test_classes)}, but data.train has {list(classes)}"
            )
        sources["test"] = str(data_cfg.test)
    return Dataset(X, Y, classes, prep, X_test, Y_test, sources)
