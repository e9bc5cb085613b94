"""Data readers. Each returns ``X`` of shape (n_x, m) and ``Y`` of shape (1, m); all input
checks on data happen here and raise :class:`DataError` naming the file and key."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from dlcli import sysinfo
from dlcli.errors import DataError
from dlcli.model import network

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


def _classes_hint(output: str, count: int) -> str:
    if output == "softmax":
        return "the softmax output needs 2 to 100"
    return f"the sigmoid output needs 2; for {count} classes set model.output_activation: softmax and model.layers[-1]: {count}"


def read_course_file(
    path: Path, key: str = "data.train", output: str = "sigmoid", stream: bool = False
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
        if need > sysinfo.available_memory() and not stream:
            raise DataError(
                f"{where}: {x_ds.name} {x_ds.shape} needs {need / 2**30:.1f} GiB to load, "
                f"more than the {sysinfo.available_memory() / 2**30:.1f} GiB free; "
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
                    f"{where}: list_classes names {names.size} classes; {_classes_hint(output, names.size)}"
                )
            raw = _read(names, where)
            classes = tuple(
                c.decode("utf-8", "replace") if isinstance(c, bytes) else str(c)
                for c in np.ravel(raw)
            )
        example_shape = tuple(int(s) for s in x_ds.shape[1:])
        X_raw = None if stream else _read(x_ds, where)
        labels = np.asarray(_read(y_ds, where)).reshape(1, m)
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
    if stream:
        n_x = int(np.prod(example_shape, dtype=np.int64))
        X = CourseStream(path, xs[0], (n_x, m), features, where)
        prep = (
            {"kind": "none"}
            if features
            else {"kind": "image", "example_shape": list(example_shape), "divide_by": 255.0}
        )
    elif features:
        X = X_raw.T.astype(np.float64, copy=False)  # (n_x, m)
        bad_at = np.flatnonzero(~np.all(np.isfinite(X), axis=0))
        if bad_at.size:
            raise DataError(
                f"{where}: /{xs[0]} holds NaN or infinite features in example {int(bad_at[0])}; all must be finite"
            )
        prep: dict[str, Any] = {"kind": "none"}
    else:
        # The course's flatten: reshape(m, -1).T keeps each picture's (h, w, c) order in a column.
        # Transposed while still uint8, so the float64 X is C-contiguous and made only once.
        X = np.ascontiguousarray(X_raw.reshape(m, -1).T) / 255.0  # (n_x, m)
        prep = {"kind": "image", "example_shape": list(example_shape), "divide_by": 255.0}
    return CourseFile(X, labels.astype(np.float64), classes, example_shape, prep, named_classes)


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

    def astype(self, dtype: Any) -> CourseStream:
        """The same stream, its columns cast to ``dtype``."""
        return CourseStream(self.path, self.name, self.shape, self.features, self.where, dtype)

    def raw(self, start: int, stop: int) -> np.ndarray:
        """Examples ``start:stop`` as stored, (stop - start, ...) uint8 pixels or features."""
        import h5py

        if self._file is None:
            self._file = h5py.File(self.path, "r")
        ds = self._file[self.name]
        try:
            return ds[start:stop]
        except OSError as exc:
            raise DataError(
                f"{self.where}: {ds.name} examples {start} to {stop - 1} cannot be read, the "
                f"file is damaged ({exc}); expected a whole course HDF5 file"
            ) from None

    def columns(self, start: int, stop: int) -> np.ndarray:
        """Examples ``start:stop`` as columns.

        Returns
        -------
        ndarray of shape (n_x, stop - start), C-contiguous, in ``dtype``
        """
        raw = self.raw(start, stop)
        if self.features:
            X = raw.T.astype(np.float64, copy=False)  # (n_x, b)
            bad_at = np.flatnonzero(~np.all(np.isfinite(X), axis=0))
            if bad_at.size:
                raise DataError(
                    f"{self.where}: /{self.name} holds NaN or infinite features in example "
                    f"{start + int(bad_at[0])}; all must be finite"
                )
        else:
            # Transposed as uint8 (8 times fewer bytes to move), then divided: the same values
            # as read_course_file's reshape(m, -1).T / 255.0.
            X = np.ascontiguousarray(raw.reshape(stop - start, -1).T) / 255.0  # (n_x, b)
        return np.ascontiguousarray(X, dtype=self.dtype)

    def blocks(self, size: int) -> list[tuple[int, int]]:
        """(start, stop) of consecutive blocks of ``size`` examples covering all m."""
        m = self.shape[1]
        return [(start, min(start + size, m)) for start in range(0, m, size)]

    def digest(self, Y: np.ndarray, size: int = 1024) -> str:
        """SHA-256 of the stored examples (read in blocks of ``size``) and of Y."""
        import hashlib

        h = hashlib.sha256()
        for start, stop in self.blocks(size):
            h.update(np.ascontiguousarray(self.raw(start, stop)).tobytes())
        h.update(np.ascontiguousarray(Y).tobytes())
        return h.hexdigest()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


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


def _read_source(
    path: Path, key: str, output: str, numeric: list[str] | None = None, stream: bool = False
) -> tuple[Any, ...]:
    """(X, Y, classes, example_shape, preprocessing) of one file: a course HDF5 file, or a
    CSV table (raw columns, ``numeric`` ones as numbers; the caller picks and standardizes
    them)."""
    if path.suffix.lower() == ".csv":
        return (read_csv_table(path, key, numeric),)
    part = read_course_file(path, key, output, stream)
    return part.X, part.Y, part.classes, part.example_shape, part.preprocessing


def load(data_cfg: Any, output: str = "sigmoid") -> Dataset:
    """Load the data a config's ``data`` section names, split and prepared for training.

    Course HDF5 files or a built-in set give X directly; CSV tables and the housing set give
    columns, of which ``data.features`` are standardized with the training part's mean and
    standard deviation (the target too), as the stored preprocessing records. Then
    ``data.test_fraction`` and ``data.validation_fraction`` split seeded parts off, and labels
    become one-hot columns for a softmax output.
    """
    sources: dict[str, str] = {}
    table: dict[str, dict[str, np.ndarray]] = {}
    # Named features leave other columns of a CSV unused, so they need not be numbers.
    numeric = None
    if data_cfg.features is not None:
        numeric = [*data_cfg.features, *([data_cfg.target] if data_cfg.target else [])]
    other: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if data_cfg.generate is not None:
        gen = data_cfg.generate
        sources["generate"] = gen.name
        if gen.name == "housing":
            table["train"] = housing(gen.examples, gen.seed)
        else:
            X, Y = (
                flower(gen.examples, gen.seed)
                if gen.name == "flower"
                else spiral(gen.examples, gen.classes, gen.seed)
            )
            classes = (
                FLOWER_CLASSES
                if gen.name == "flower"
                else tuple(f"arm {j}" for j in range(gen.classes))
            )
            shape, prep = (2,), {"kind": "none"}
    else:
        read = _read_source(data_cfg.train, "data.train", output, numeric, data_cfg.stream)
        sources["train"] = str(data_cfg.train)
        if len(read) == 1:
            table["train"] = read[0]
        else:
            X, Y, classes, shape, prep = read
    for key in ("test", "validation"):
        path = getattr(data_cfg, key)
        if path is None:
            continue
        read = _read_source(path, f"data.{key}", output, numeric)
        sources[key] = str(path)
        where = f"data.{key}: {path}"
        if (len(read) == 1) != bool(table):
            raise DataError(
                f"{where}: a {'CSV table' if len(read) == 1 else 'course HDF5 file'}, but data.train is not"
            )
        if len(read) == 1:
            table[key] = read[0]
            continue
        X_o, Y_o, classes_o, shape_o, prep_o = read
        if prep_o["kind"] != prep["kind"]:
            raise DataError(
                f"{where}: {_kind_name(prep_o)}, but data.train holds {_kind_name(prep)}"
            )
        if shape_o != shape:
            raise DataError(f"{where}: examples of shape {shape_o}, but data.train has {shape}")
        if classes_o != classes:
            raise DataError(
                f"{where}: classes {list(classes_o)}, but data.train has {list(classes)}"
            )
        other[key] = (X_o, Y_o)
    if table:
        if output != "linear":
            raise DataError(
                f"data: a table is for regression; set model.output_activation: linear (found {output})"
            )
        where = sources.get("train", "the generated housing table")
        target = (
            data_cfg.target
            if data_cfg.target is not None or data_cfg.generate is None
            else "price_k"
        )
        X, Y, features = table_dataset(table["train"], target, data_cfg.features, where)
        other = {
            k: table_dataset(t, target, features, sources[k])[:2]
            for k, t in table.items()
            if k != "train"
        }
        classes, prep = (), {"kind": "table", "features": features, "target": target}
    dataset = Dataset(
        X,
        Y,
        classes,
        prep,
        *other.get("test", (None, None)),
        sources,
        *other.get("validation", (None, None)),
    )
    dataset = split_off(dataset, data_cfg.test_fraction, data_cfg.split_seed, "test")
    dataset = split_off(
        dataset, data_cfg.validation_fraction, data_cfg.split_seed + 1, "validation"
    )
    if table:
        dataset = _standardized(dataset)
    if output == "softmax":
        dataset = one_hot(dataset)
    return dataset


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


def spiral(examples: int = 300, classes: int = 3, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A K-arm spiral, the classic multi-class toy set (CS231n's), made from the legacy generator.

    For arm j of N = examples // K points: r = linspace(0, 1, N),
    t = linspace(4 j, 4 (j+1), N) + 0.2 N(0, 1); the point is (r sin t, r cos t).

    Returns
    -------
    X : ndarray of shape (2, N K)
    Y : ndarray of shape (1, N K), the arm 0..K-1
    """
    from dlcli.model.network import legacy_rng

    rng = legacy_rng(seed)
    N = examples // classes
    X = np.zeros((N * classes, 2))
    Y = np.zeros((N * classes, 1))
    for j in range(classes):
        ix = slice(N * j, N * (j + 1))
        r = np.linspace(0.0, 1.0, N)
        t = np.linspace(j * 4.0, (j + 1) * 4.0, N) + rng.randn(N) * 0.2
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        Y[ix] = j
    return X.T, Y.T


HOUSING_COLUMNS = ("size_m2", "bedrooms", "distance_km", "income_k", "price_k")


def housing(examples: int = 1000, seed: int = 1) -> dict[str, np.ndarray]:
    """A generated housing table: four features and a price, every column numeric.

    With g = np.random.default_rng(seed):
    size_m2 ~ U(40, 250); bedrooms = clip(round(size_m2 / 45 + N(0, 0.7)), 1, 7);
    distance_km (to the centre) ~ U(0.5, 30); income_k (the area's median income) ~ U(20, 150);
    price_k = 1.5 size_m2 + 8 bedrooms + 250 exp(-distance_km / 6) + 1.2 income_k
              + 0.004 size_m2 income_k + N(0, 20).
    """
    g = np.random.default_rng(seed)
    size = g.uniform(40, 250, examples)
    bedrooms = np.clip(np.round(size / 45 + g.normal(0, 0.7, examples)), 1, 7)
    distance = g.uniform(0.5, 30, examples)
    income = g.uniform(20, 150, examples)
    price = (
        1.5 * size
        + 8 * bedrooms
        + 250 * np.exp(-distance / 6)
        + 1.2 * income
        + 0.004 * size * income
    )
    price = price + g.normal(0, 20, examples)
    return dict(zip(HOUSING_COLUMNS, (size, bedrooms, distance, income, price), strict=True))


def read_csv_rows(
    path: Path, key: str = "data.train"
) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the rows of a CSV file, as text, each row with its line in the file.

    Blank lines are skipped. The file must be UTF-8 with a header row of distinct column names
    and at least one row, every row holding one value per column.
    """
    import csv

    if not path.exists():
        raise DataError(f"{key}: {path}: no such file")
    if path.is_dir():
        raise DataError(f"{key}: {path}: is a directory, expected a CSV file")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            rows = [(reader.line_num, row) for row in reader]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{key}: {path}: not a readable UTF-8 CSV file ({exc})") from None
    if not rows or not any(cell.strip() for cell in rows[0][1]):
        raise DataError(
            f"{key}: {path}: empty; expected a header row of column names, then rows of numbers"
        )
    header = [name.strip() for name in rows[0][1]]
    twice = next((name for i, name in enumerate(header) if name in header[:i]), None)
    if twice is not None:
        raise DataError(
            f"{key}: {path}: the header names column {twice!r} twice; names must differ"
        )
    body = [(line, row) for line, row in rows[1:] if any(cell.strip() for cell in row)]
    if not body:
        raise DataError(f"{key}: {path}: holds a header but zero rows; at least 1 is needed")
    for line, row in body:
        if len(row) != len(header):
            raise DataError(
                f"{key}: {path}: line {line} has {len(row)} values, the header names {len(header)} columns"
            )
    return header, body


def csv_numbers(
    header: list[str],
    body: list[tuple[int, list[str]]],
    names: list[str],
    where: str,
    hint: str = "features and the target must be numbers; to leave this column out, list the "
    "feature columns in data.features",
) -> np.ndarray:
    """The columns ``names`` of rows read by :func:`read_csv_rows` as numbers.

    Returns
    -------
    ndarray of shape (len(names), m), float64, every value finite
    """
    columns = [header.index(name) for name in names]
    values = np.empty((len(names), len(body)))
    for r, (line, row) in enumerate(body):
        for i, c in enumerate(columns):
            try:
                values[i, r] = float(row[c])
            except ValueError:
                raise DataError(
                    f"{where}: line {line}, column {header[c]!r}: {row[c].strip()!r} is not a number; {hint}"
                ) from None
    if not np.all(np.isfinite(values)):
        i, r = np.argwhere(~np.isfinite(values.T))[0][::-1]
        raise DataError(
            f"{where}: line {body[r][0]}, column {names[i]!r} is not finite; all values must be"
        )
    return values


def read_csv_table(
    path: Path, key: str = "data.train", numeric: list[str] | None = None
) -> dict[str, np.ndarray]:
    """Read a CSV file with a header row into columns (checks of :func:`read_csv_rows`).

    The columns named in ``numeric`` (every column when None) must hold numbers and become
    float64 arrays (:func:`csv_numbers`); the others, which training does not use, stay text
    (object arrays), so a table may carry an address or a name beside its numbers.
    """
    header, body = read_csv_rows(path, key)
    wanted = header if numeric is None else [name for name in header if name in numeric]
    values = csv_numbers(header, body, wanted, f"{key}: {path}")
    table = {name: values[i] for i, name in enumerate(wanted)}
    return {
        name: table[name] if name in table else np.array([row[c] for _, row in body], object)
        for c, name in enumerate(header)
    }


def table_dataset(
    columns: dict[str, np.ndarray], target: str | None, features: list[str] | None, where: str
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Raw features X (n_x, m) and target Y (1, m) picked from a table by name."""
    names = list(columns)
    if target is None:
        raise DataError(f"data.target: missing; name the column to predict, one of {names}")
    if target not in columns:
        raise DataError(f"data.target: {target!r} is not a column of {where}; columns: {names}")
    chosen = features if features is not None else [n for n in names if n != target]
    for name in chosen:
        if name not in columns:
            raise DataError(f"data.features: {name!r} is not a column of {where}; columns: {names}")
        if name == target:
            raise DataError(
                f"data.features: {name!r} is the target; a feature cannot be the column it predicts"
            )
    if not chosen:
        raise DataError(f"data.features: {where} has no column besides the target {target!r}")
    X = np.stack([columns[n] for n in chosen])  # (n_x, m)
    return X, columns[target][np.newaxis, :], chosen


def standardize(X: np.ndarray, Y: np.ndarray, features: list[str], target: str) -> dict[str, Any]:
    """The preprocessing of a table, from the training set: each feature and the target
    shifted by its mean and divided by its standard deviation (1 where that is 0)."""
    std = X.std(axis=1)
    y_std = float(Y.std())
    return {
        "kind": "table",
        "features": features,
        "mean": X.mean(axis=1).tolist(),
        "std": np.where(std > 0, std, 1.0).tolist(),
        "target": target,
        "target_mean": float(Y.mean()),
        "target_std": y_std if y_std > 0 else 1.0,
    }


def apply_table(
    prep: dict[str, Any], X: np.ndarray, Y: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Standardize raw features (n_x, m) and, if given, the target (1, m) as ``prep`` says."""
    mean, std = np.array(prep["mean"])[:, np.newaxis], np.array(prep["std"])[:, np.newaxis]
    Xs = (X - mean) / std
    return Xs, None if Y is None else (Y - prep["target_mean"]) / prep["target_std"]


def unscale_target(prep: dict[str, Any], Y: np.ndarray) -> np.ndarray:
    """A standardized target (or prediction) back in the table's units."""
    return Y * prep["target_std"] + prep["target_mean"]


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
