"""The course's HDF5 files: read whole (:func:`read_course_file`) or a block of columns at a
time (:class:`CourseStream`). Each returns ``X`` of shape (n_x, m) and ``Y`` of shape (1, m);
every check of a file happens here and raises :class:`DataError` naming the file and key."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dlcli import sysinfo
from dlcli.errors import DataError
from dlcli.fileio import check_hdf5


def _open_h5(path: Path, key: str):
    import h5py

    check_hdf5(
        path,
        key,
        DataError,
        "a course HDF5 file",
        "the course layout, e.g. train_catvnoncat.h5",
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
    digest : SHA-256 of the stored examples and labels (:func:`stored_digest`), when asked
    """

    X: np.ndarray
    Y: np.ndarray
    classes: tuple[str, ...]
    example_shape: tuple[int, ...]
    preprocessing: dict[str, Any]
    named_classes: bool
    digest: str | None = None


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


def _classes_hint(output: str, count: int) -> str:
    if output == "softmax":
        return "the softmax output needs 2 to 100"
    return f"the sigmoid output needs 2; for {count} classes set model.output_activation: softmax and model.layers[-1]: {count}"


def read_course_file(
    path: Path,
    key: str = "data.train",
    output: str = "sigmoid",
    stream: bool = False,
    dtype: Any = np.float64,
    digest: bool = False,
    batch_size: int | None = None,
) -> CourseFile:
    """Read a course-layout HDF5 file.

    The file holds ``<prefix>_x``, ``<prefix>_y`` (m,) or (1, m) integer labels, and
    optionally ``list_classes`` (class names, bytes; 2 for a sigmoid output, 2 to 100 for
    softmax, labels 0..K-1). ``<prefix>_x`` is either uint8 pixels
    (m, h, w, c) or (m, n), flattened and divided by 255 as in the course, or float features
    (m, n) taken as they are (what ``dlcli data flower`` writes).

    With ``stream`` the header and labels are checked and read but not the examples: ``X`` is
    a :class:`CourseStream` that reads blocks of columns from disk when asked, so the file
    need not fit in memory.

    ``dtype`` is the dtype of X (pixels are divided by 255 in float64 and then rounded to it,
    so a float32 X equals the float64 one cast); with ``digest`` the result carries
    :func:`stored_digest` of the examples and labels as stored (not for a stream). With a
    ``batch_size`` smaller than m (training will draw mini-batches of its examples), X is laid
    out example-major (F order: each example's column contiguous), which is how batches are
    gathered fastest; the values are the same.
    """
    where = f"{key}: {path}"
    with _open_h5(path, key) as f:
        x_name, x_ds, y_ds = _example_datasets(f, where)
        features = _check_examples(x_ds, y_ds, where, stream, np.dtype(dtype).itemsize)
        names = _class_names(f, where, output)
        m = x_ds.shape[0]
        example_shape = tuple(int(s) for s in x_ds.shape[1:])
        X_raw = None if stream else _read(x_ds, where)
        stored_labels = np.asarray(_read(y_ds, where))
    labels = stored_labels.reshape(1, m)
    classes = ("0", "1") if names is None else names
    _check_labels(labels, classes, where, output)
    sha = None
    if stream:
        n_x = int(np.prod(example_shape, dtype=np.int64))
        X = CourseStream(path, x_name, (n_x, m), features, where)
    else:
        rows = batch_size is not None and batch_size < m
        X = _columns(X_raw, features, where, x_name, dtype=dtype, example_major=rows)
        sha = stored_digest(X_raw, stored_labels) if digest else None
    prep = _preprocessing(features, example_shape)
    return CourseFile(
        X, labels.astype(np.float64), classes, example_shape, prep, names is not None, sha
    )


def stored_digest(examples: np.ndarray, labels: np.ndarray) -> str:
    """SHA-256 of a course file's examples and labels as stored: each array's dtype and
    shape, then its bytes (for pixels, 8 times fewer bytes than float64 X).

    examples : ndarray of shape (m, ...), the stored ``<prefix>_x``
    labels : ndarray of shape (m,) or (1, m), the stored ``<prefix>_y``
    """
    sha = hashlib.sha256()
    for stored in (examples, labels):
        sha.update(f"{stored.dtype.str}{stored.shape};".encode())
        sha.update(memoryview(np.ascontiguousarray(stored)).cast("B"))  # no copy when stored
    return sha.hexdigest()


def _example_datasets(f: Any, where: str) -> tuple[str, Any, Any]:
    """The name of ``<prefix>_x`` and the one pair ``<prefix>_x``, ``<prefix>_y`` of an open
    course file."""
    import h5py

    xs = sorted(k for k in f if k.endswith("_x") and isinstance(f[k], h5py.Dataset))
    if len(xs) != 1 or f"{xs[0][:-2]}_y" not in f:
        raise DataError(
            f"{where}: expected one pair of datasets <prefix>_x and <prefix>_y "
            f"(e.g. train_set_x, train_set_y), found {sorted(f)}"
        )
    return xs[0], f[xs[0]], f[f"{xs[0][:-2]}_y"]


def _check_examples(x_ds: Any, y_ds: Any, where: str, stream: bool, itemsize: int = 8) -> bool:
    """Refuse examples and labels of the wrong kind or shape, or too big to load (as X of
    ``itemsize`` bytes a value); returns whether the examples are float features (else uint8
    pixels)."""
    import h5py

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
    need = int(np.prod(x_ds.shape, dtype=np.int64)) * (1 + itemsize)  # uint8 read + X
    free = sysinfo.available_memory()
    if need > free and not stream:
        raise DataError(
            f"{where}: {x_ds.name} {x_ds.shape} needs {need / 2**30:.1f} GiB to load, "
            f"more than the {free / 2**30:.1f} GiB free; "
            "set data.stream: true to read it from disk a batch at a time"
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
    return features


def _class_names(f: Any, where: str, output: str) -> tuple[str, ...] | None:
    """The file's ``list_classes`` as text, or None when it has none."""
    import h5py

    if "list_classes" not in f:
        return None
    names = f["list_classes"]
    if not isinstance(names, h5py.Dataset):
        raise DataError(f"{where}: list_classes must be a dataset of 2 names, found a group")
    if names.size > 100:  # a header may claim millions of names: count them, read none
        raise DataError(
            f"{where}: list_classes names {names.size} classes; {_classes_hint(output, names.size)}"
        )
    raw = _read(names, where)
    return tuple(
        c.decode("utf-8", "replace") if isinstance(c, bytes) else str(c) for c in np.ravel(raw)
    )


def _check_labels(labels: np.ndarray, classes: tuple[str, ...], where: str, output: str) -> None:
    """Refuse a class count the output cannot give, or a label (1, m) naming no class."""
    if len(classes) < 2 or (len(classes) != 2 and output != "softmax"):
        raise DataError(
            f"{where}: list_classes names {len(classes)} classes {list(classes)}; {_classes_hint(output, len(classes))}"
        )
    bad = labels[(labels < 0) | (labels >= len(classes))]
    if bad.size:
        allowed = "0 or 1" if len(classes) == 2 else f"0 to {len(classes) - 1}"
        raise DataError(
            f"{where}: labels must be {allowed} (indices into list_classes {list(classes)}), found {int(bad[0])}"
        )


def _preprocessing(features: bool, example_shape: tuple[int, ...]) -> dict[str, Any]:
    """How raw examples become columns of X, as stored with a model."""
    if features:
        return {"kind": "none"}
    return {"kind": "image", "example_shape": list(example_shape), "divide_by": 255.0}


def _columns(
    raw: np.ndarray,
    features: bool,
    where: str,
    name: str,
    start: int = 0,
    dtype: Any = np.float64,
    example_major: bool = False,
) -> np.ndarray:
    """Stored examples ``start:start + b`` (b, ...) as float64 columns (n_x, b), or
    C-contiguous ``dtype`` pixels.

    Float features are taken as they are and must be finite. Pixels are flattened as the
    course does, ``reshape(b, -1).T``, which keeps each picture's (h, w, c) order in a column,
    and divided by 255 (:func:`_pixel_columns`).
    """
    b = raw.shape[0]
    if features:
        X = raw.T.astype(np.float64, copy=False)  # (n_x, b)
        bad_at = np.flatnonzero(~np.all(np.isfinite(X), axis=0))
        if bad_at.size:
            raise DataError(
                f"{where}: /{name} holds NaN or infinite features in example "
                f"{start + int(bad_at[0])}; all must be finite"
            )
        return X
    pixels = raw.reshape(b, -1)  # (b, n_x)
    if example_major:  # X.T is the pixels divided in place of them: no transpose at all
        rows = np.empty(pixels.shape, np.dtype(dtype))  # (b, n_x)
        np.divide(pixels, 255.0, out=rows, dtype=np.float64, casting="same_kind")
        return rows.T  # (n_x, b), F order
    return _pixel_columns(pixels, np.dtype(dtype))


#: Examples transposed at a time: a (256, n_x) block of uint8 pixels stays in the cache.
_BLOCK = 256


def _pixel_columns(pixels: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """uint8 pixels (b, n_x), one example a row, as columns divided by 255, (n_x, b) in
    ``dtype``, C-contiguous.

    The pixels are transposed while still uint8 (8 times fewer bytes than float64), a block
    of examples at a time, then divided in one pass into X, which is written front to back
    (writing fresh memory a column block at a time costs more than the division here). The
    division is the course's ``/ 255.0`` in float64, rounded to ``dtype`` after, so X holds
    the bits of ``(pixels.T / 255.0).astype(dtype)``.
    """
    b, n_x = pixels.shape
    columns = np.empty((n_x, b), np.uint8)  # (n_x, b)
    for start in range(0, b, _BLOCK):
        columns[:, start : start + _BLOCK] = pixels[start : start + _BLOCK].T
    X = np.empty((n_x, b), dtype)  # (n_x, b)
    np.divide(columns, 255.0, out=X, dtype=np.float64, casting="same_kind")
    return X


def _identity(path: Path) -> tuple[int, ...]:
    """What tells a file changed: its device and inode, size and modification time."""
    st = path.stat()
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _change(was: tuple[int, ...], now: tuple[Any, ...]) -> str:
    """How a file changed, from its :func:`_identity` then and now (or the OS's reason it
    cannot be looked at now)."""
    if len(now) == 1:
        return f"now: {now[0]}"
    if now[:2] != was[:2]:
        return "replaced by another file"
    if now[2] != was[2]:
        return f"{'cut' if now[2] < was[2] else 'grown'} from {was[2]} to {now[2]} bytes"
    return "rewritten in place"


class CourseStream:
    """The examples of a course HDF5 file, read from disk a block of columns at a time.

    It stands for X (n_x, m) where training needs only batches of it: :meth:`columns` reads
    examples ``start:stop`` and prepares them exactly as :func:`read_course_file` prepares
    the whole file (pixels flattened and divided by 255 in float64, features as they are),
    then casts them to ``dtype``; so a block equals the same columns of the loaded X bit for
    bit. The file is opened once, on the first read.

    shape : (n_x, m)
    dtype : the dtype of the columns returned (see :meth:`astype`)
    """

    def __init__(
        self,
        path: Path,
        name: str,
        shape: tuple[int, int],
        features: bool,
        where: str,
        dtype: Any = np.float64,
    ) -> None:
        self.path, self.name, self.shape, self.features, self.where = (
            path,
            name,
            shape,
            features,
            where,
        )
        self.dtype = np.dtype(dtype)
        self._file: Any = None
        self._stat: tuple[Any, ...] = ()

    def astype(self, dtype: Any) -> CourseStream:
        """The same stream, its columns cast to ``dtype``."""
        return CourseStream(self.path, self.name, self.shape, self.features, self.where, dtype)

    def raw(self, start: int, stop: int) -> np.ndarray:
        """Examples ``start:stop`` as stored, (stop - start, ...) uint8 pixels or features."""
        import h5py

        if self._file is None:
            self._file = h5py.File(self.path, "r")
            self._stat = self._stat or _identity(self.path)  # the file as first opened
        self._check_unchanged()
        ds = self._file[self.name]
        try:
            return ds[start:stop]
        except OSError as exc:
            raise DataError(
                f"{self.where}: {ds.name} examples {start} to {stop - 1} cannot be read, the "
                f"file is damaged ({exc}); expected a whole course HDF5 file"
            ) from None

    def _check_unchanged(self) -> None:
        """Refuse to read on once the file is not the one opened: replaced, rewritten or cut
        short while training reads it (its blocks would no longer be the data hashed)."""
        try:
            now = _identity(self.path)
        except OSError as exc:
            now = (exc.strerror or str(exc),)
        if now != self._stat:
            raise DataError(
                f"{self.where}: changed while the run read it ({_change(self._stat, now)}); "
                "training stopped, the last checkpoint is kept; put the file back as it was "
                "and resume, or start a new run"
            )

    def columns(self, start: int, stop: int) -> np.ndarray:
        """Examples ``start:stop`` as columns.

        Returns
        -------
        ndarray of shape (n_x, stop - start), C-contiguous, in ``dtype``
        """
        raw = self.raw(start, stop)
        X = _columns(raw, self.features, self.where, self.name, start, self.dtype)
        return np.ascontiguousarray(X, dtype=self.dtype)

    def blocks(self, size: int) -> list[tuple[int, int]]:
        """(start, stop) of consecutive blocks of ``size`` examples covering all m."""
        m = self.shape[1]
        return [(start, min(start + size, m)) for start in range(0, m, size)]

    def digest(self, Y: np.ndarray, size: int = 1024) -> str:
        """SHA-256 of the stored examples (read in blocks of ``size``) and of Y."""
        h = hashlib.sha256()
        for start, stop in self.blocks(size):
            h.update(np.ascontiguousarray(self.raw(start, stop)).tobytes())
        h.update(np.ascontiguousarray(Y).tobytes())
        return h.hexdigest()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
