"""Writing data sets in the course's HDF5 layout, and describing one.

Layouts written (both read back by ``data.read_course_file``, so ``dlcli train`` takes them):

- From a folder of pictures (:func:`build_from_folders`, :func:`write_course_h5`), two files
  as the course's: ``train_<name>.h5`` and ``test_<name>.h5`` with ``train_set_x`` /
  ``test_set_x`` uint8 (m, size, size, 3), ``train_set_y`` / ``test_set_y`` int64 (m,) labels
  0/1, ``list_classes`` (2,) bytes, plus ``train_set_files`` / ``test_set_files`` (m,) UTF-8
  strings: each picture's path relative to the folder.
- The flower (:func:`write_flower`): one file with ``train_set_x`` float64 (m, 2) features as
  they are (no division), ``train_set_y`` int64 (m,), ``list_classes`` [b"red", b"blue"].
- Synthetic pictures of any size (:func:`write_synth`), written in chunks: ``train_set_x``
  uint8 (m, size, size, 3), ``train_set_y``, ``list_classes`` [dark, bright].
- The K-arm spiral (:func:`write_spiral`): the same layout, labels 0..K-1, ``list_classes``
  [b"arm 0", ..., b"arm K-1"].

The generated housing table is written as CSV instead (:func:`write_housing_csv`), the
columns of ``data.HOUSING_COLUMNS``, which ``data.train: FILE.csv`` reads back.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dlcli import __version__
from dlcli.errors import DataError, DlcliError, ImageError


@dataclass
class Split:
    """One file's worth of examples.

    x : ndarray of shape (m, size, size, 3), uint8
    y : ndarray of shape (m,), int64 labels 0/1
    files : each picture's path relative to the folder
    """

    x: np.ndarray
    y: np.ndarray
    files: list[str]


@dataclass
class FolderDataset:
    """Pictures read from class folders, split into train and test.

    classes : (class 0, class 1) names, the folder names
    skipped : (path, reason) for every picture that could not be read
    """

    classes: tuple[str, str]
    train: Split
    test: Split | None
    skipped: list[tuple[str, str]] = field(default_factory=list)


_NEGATION = re.compile(r"(?:non|not|no)[-_ ]?(.+)", re.IGNORECASE)


def class_folders(root: Path, classes: Sequence[str] | None = None) -> list[tuple[str, Path]]:
    """The two class folders under ``root``, class 0 first.

    With ``classes`` (class 0, class 1) those subfolders are used. Otherwise ``root`` must hold
    exactly two (visible) subfolders; a folder named ``non-X`` / ``not-X`` / ``no-X`` (also with
    ``_``, a space or nothing between) beside ``X`` is class 0, as the course's
    ``list_classes`` [non-cat, cat]; else they are in alphabetical order.
    """
    if not root.exists():
        raise DataError(f"DIR {root}: no such directory")
    if not root.is_dir():
        raise DataError(f"DIR {root}: is a file, expected a folder with one subfolder per class")
    found = sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.name.casefold(),
    )
    names = [p.name for p in found]
    if classes is not None:
        if len(classes) != 2 or classes[0] == classes[1]:
            raise DataError(
                f"--classes {','.join(classes)}: expected two different folder names, NEG,POS"
            )
        missing = [c for c in classes if c not in names]
        if missing:
            raise DataError(
                f"--classes: {root} has no subfolder {missing[0]!r}; its subfolders: {names}"
            )
        return [(c, root / c) for c in classes]
    if len(found) != 2:
        hint = "; pick two with --classes NEG,POS" if len(found) > 2 else ""
        raise DataError(
            f"DIR {root}: found {len(found)} class folders {names}; the sigmoid output needs "
            f"exactly 2, e.g. {root}/non-cat and {root}/cat{hint}"
        )
    for i in (0, 1):
        negated = _NEGATION.fullmatch(names[i])
        if negated and negated.group(1).casefold() == names[1 - i].casefold():
            found = [found[i], found[1 - i]]
            break
    return [(p.name, p) for p in found]


def _split_sizes(n: int, test_fraction: float) -> int:
    """Test examples out of n: n * test_fraction rounded half up."""
    return int(np.floor(n * test_fraction + 0.5))


def build_from_folders(
    root: Path,
    *,
    size: int = 64,
    test_fraction: float = 0.2,
    seed: int = 1,
    fit: str = "stretch",
    classes: Sequence[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> FolderDataset:
    """Read every picture under two class folders and split them into train and test.

    Each class is split on its own (stratified): round(n * test_fraction) of its readable
    pictures, drawn by ``np.random.default_rng(seed)``, go to test; then each split is
    shuffled with the same generator. Pictures are read by :func:`dlcli.images.read_image`
    (RGB, ``size`` x ``size``, ``fit``); one that cannot be read is skipped and listed.

    Parameters
    ----------
    progress : called as ``progress(done, total)`` after each picture
    """
    from dlcli.images import find_pictures, read_image

    if not 0.0 <= test_fraction < 1.0:
        raise DlcliError(
            f"--test-fraction: must be at least 0 and below 1, found {test_fraction:g}"
        )
    if not 1 <= size <= 4096:
        raise DlcliError(f"--size: must be 1 to 4096 pixels, found {size}")
    folders = class_folders(root, classes)
    listed = []
    for label, (name, folder) in enumerate(folders):
        pictures = find_pictures([folder])
        if pictures[0][1] is not None:
            raise DataError(f"class {name!r}: {pictures[0][1]}")
        listed += [(label, path) for path, _ in pictures]
    pixels: list[list[np.ndarray]] = [[], []]
    files: list[list[str]] = [[], []]
    skipped = []
    for done, (label, path) in enumerate(listed, start=1):
        try:
            pixels[label].append(read_image(path, (size, size), 3, fit=fit))
            files[label].append(path.relative_to(root).as_posix())
        except ImageError as exc:
            skipped.append((str(path), str(exc).removeprefix(f"{path}: ")))
        if progress is not None:
            progress(done, len(listed))
    for label, (name, folder) in enumerate(folders):
        if not pixels[label]:
            first = next(f"{p}: {why}" for p, why in skipped if Path(p).is_relative_to(folder))
            raise DataError(f"class {name!r}: no readable picture in {folder} (first: {first})")

    rng = np.random.default_rng(seed)
    parts: dict[str, list[tuple[int, int]]] = {"train": [], "test": []}  # (label, index)
    for label in (0, 1):
        n = len(pixels[label])
        order = rng.permutation(n)
        n_test = _split_sizes(n, test_fraction)
        parts["test"] += [(label, int(i)) for i in order[:n_test]]
        parts["train"] += [(label, int(i)) for i in order[n_test:]]
    splits: dict[str, Split | None] = {}
    for part, members in parts.items():
        members = [members[int(i)] for i in rng.permutation(len(members))]
        if not members:
            splits[part] = None
            continue
        splits[part] = Split(
            np.stack([pixels[label][i] for label, i in members]),
            np.array([label for label, _ in members], dtype=np.int64),
            [files[label][i] for label, i in members],
        )
    total = len(pixels[0]) + len(pixels[1])
    if splits["train"] is None or len(set(splits["train"].y.tolist())) < 2:
        raise DataError(
            f"DIR {root}: {total} readable pictures leave the training set without both classes "
            f"at --test-fraction {test_fraction:g}; add pictures or lower it"
        )
    if test_fraction > 0 and splits["test"] is None:
        raise DataError(
            f"DIR {root}: {total} readable pictures give no test picture at --test-fraction "
            f"{test_fraction:g}; add pictures, raise it, or use --test-fraction 0"
        )
    names = (folders[0][0], folders[1][0])
    return FolderDataset(names, splits["train"], splits["test"], skipped)


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

    from dlcli.fileio import atomic_write

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as f:
            f.create_dataset(f"{prefix}_x", data=x)
            f.create_dataset(f"{prefix}_y", data=np.asarray(y, dtype=np.int64))
            f.create_dataset("list_classes", data=np.array([c.encode() for c in classes]))
            if files is not None:
                f.create_dataset(f"{prefix}_files", data=list(files), dtype=h5py.string_dtype())
            f.attrs["dlcli_version"] = __version__
            for key, value in (attrs or {}).items():
                f.attrs[key] = value

    atomic_write(path, write)


def write_folder_dataset(
    dataset: FolderDataset, out: Path, attrs: dict[str, Any] | None = None
) -> list[Path]:
    """Write the train (and test) file of :func:`output_paths`; returns the paths written."""
    train_path, test_path = output_paths(out, dataset.test is not None)
    written = []
    for path, prefix, split in (
        (train_path, "train_set", dataset.train),
        (test_path, "test_set", dataset.test),
    ):
        if path is None or split is None:
            continue
        write_course_h5(
            path, prefix, split.x, split.y, dataset.classes, files=split.files, attrs=attrs
        )
        written.append(path)
    return written


def write_flower(path: Path, examples: int = 400, seed: int = 1) -> None:
    """The course's flower set (:func:`dlcli.data.flower`) as one course-layout file of float
    features: ``train_set_x`` float64 (m, 2), ``train_set_y`` int64 (m,), ``list_classes``."""
    from dlcli.data import FLOWER_CLASSES, flower

    if examples < 2 or examples % 2:
        raise DlcliError(f"--examples: must be an even number >= 2, found {examples}")
    if not 0 <= seed <= 2**32 - 1:
        raise DlcliError(f"--seed: must be 0 to 2^32-1, found {seed}")
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
    """The K-arm spiral (:func:`dlcli.data.spiral`) as one course-layout file of float
    features: ``train_set_x`` float64 (m, 2), ``train_set_y`` int64 (m,) arms 0..K-1,
    ``list_classes`` "arm 0" .. "arm K-1" (the class names training on the generated set
    gives, so a model trained either way evaluates on the file)."""
    from dlcli.data import spiral

    if not 2 <= classes <= 100:
        raise DlcliError(f"--classes: must be 2 to 100, found {classes}")
    if examples < classes or examples % classes:
        raise DlcliError(
            f"--examples: must be a multiple of --classes {classes} (equal arms), at least "
            f"{classes}; found {examples}"
        )
    if not 0 <= seed <= 2**32 - 1:
        raise DlcliError(f"--seed: must be 0 to 2^32-1, found {seed}")
    X, Y = spiral(examples, classes, seed)  # (2, m), (1, m)
    write_course_h5(
        path,
        "train_set",
        np.ascontiguousarray(X.T),  # (m, 2): examples in rows, as the course's files
        Y[0].astype(np.int64),
        [f"arm {j}" for j in range(classes)],
        attrs={"generated": "spiral", "examples": examples, "classes": classes, "seed": seed},
    )


SYNTH_CLASSES = ("dark", "bright")


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
    With g = np.random.default_rng(seed), chunk after chunk: labels = g.integers(0, 2, c),
    then pixels = (g.bytes(c size size 3) >> 1) + 64 label: uniform 0..127 for a dark picture,
    64..191 for a bright one; the mean brightness is the learnable signal.

    Parameters
    ----------
    progress : called as ``progress(done, examples)`` after each chunk
    """
    import h5py

    from dlcli.fileio import atomic_write

    if not 1 <= examples <= 100_000_000:
        raise DlcliError(f"--examples: must be 1 to 100000000, found {examples}")
    if not 1 <= size <= 4096:
        raise DlcliError(f"--size: must be 1 to 4096 pixels, found {size}")
    if chunk < 1:
        raise DlcliError(f"--chunk: must be at least 1, found {chunk}")
    if not 0 <= seed <= 2**32 - 1:
        raise DlcliError(f"--seed: must be 0 to 2^32-1, found {seed}")
    shape = (size, size, 3)
    per = int(np.prod(shape))

    def write(tmp: Path) -> None:
        g = np.random.default_rng(seed)
        with h5py.File(tmp, "w") as f:
            x = f.create_dataset("train_set_x", shape=(examples, *shape), dtype=np.uint8)
            y = f.create_dataset("train_set_y", shape=(examples,), dtype=np.int64)
            f.create_dataset("list_classes", data=np.array([c.encode() for c in SYNTH_CLASSES]))
            f.attrs["dlcli_version"] = __version__
            f.attrs["generated"] = "synth"
            f.attrs["examples"], f.attrs["size"], f.attrs["seed"] = examples, size, seed
            for start in range(0, examples, chunk):
                c = min(chunk, examples - start)
                labels = g.integers(0, 2, c)
                pixels = np.frombuffer(g.bytes(c * per), np.uint8).reshape(c, *shape) >> 1
                pixels += (64 * labels).astype(np.uint8)[:, None, None, None]
                x[start : start + c] = pixels
                y[start : start + c] = labels
                if progress is not None:
                    progress(start + c, examples)

    atomic_write(path, write)


def _csv_number(value: float) -> str:
    """The shortest text that reads back as the same float64 ("3" for a whole number)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def write_housing_csv(path: Path, examples: int = 1000, seed: int = 1) -> None:
    """The generated housing table (:func:`dlcli.data.housing`) as a CSV file with a header
    of ``HOUSING_COLUMNS``; every number is written so it reads back bit for bit, so training
    on the file is training on ``data.generate housing``."""
    import csv
    import io

    from dlcli.data import HOUSING_COLUMNS, housing
    from dlcli.fileio import atomic_write

    if not 1 <= examples <= 10_000_000:
        raise DlcliError(f"--examples: must be 1 to 10000000, found {examples}")
    if not 0 <= seed <= 2**32 - 1:
        raise DlcliError(f"--seed: must be 0 to 2^32-1, found {seed}")
    table = housing(examples, seed)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(HOUSING_COLUMNS)
    columns = [table[name] for name in HOUSING_COLUMNS]
    for i in range(examples):
        writer.writerow([_csv_number(column[i]) for column in columns])
    atomic_write(path, lambda tmp: tmp.write_text(text.getvalue(), encoding="utf-8"))


def describe(path: Path, key: str = "FILE.h5") -> dict[str, Any]:
    """What ``dlcli data info`` shows about a course-layout file.

    Returns
    -------
    dict with ``path``, ``datasets`` (name, shape, dtype of each), ``examples``,
    ``example_shape``, ``kind`` ("pixels" or "features"), ``dtype``, ``classes``,
    ``class_counts`` [m0, m1, ...] (one per class), ``class_fractions``, ``min``, ``max``
    """
    import h5py

    from dlcli.data import read_course_file

    read = read_course_file(path, key, output="softmax")  # any number of classes
    datasets: list[dict[str, Any]] = []
    with h5py.File(path, "r") as f:

        def visit(name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Dataset):
                datasets.append({"name": name, "shape": list(obj.shape), "dtype": str(obj.dtype)})

        f.visititems(visit)
        x_name = next(d for d in datasets if d["name"].endswith("_x") and "/" not in d["name"])
    counts = np.bincount(read.Y[0].astype(np.int64), minlength=len(read.classes)).tolist()
    m = int(read.Y.shape[1])
    pixels = read.preprocessing["kind"] == "image"
    X = read.X * 255.0 if pixels else read.X
    return {
        "path": str(path),
        "datasets": datasets,
        "examples": m,
        "example_shape": list(read.example_shape),
        "kind": "pixels" if pixels else "features",
        "dtype": x_name["dtype"],
        "classes": list(read.classes),
        "class_counts": counts,
        "class_fractions": [c / m for c in counts],
        "min": float(np.rint(X.min())) if pixels else float(X.min()),
        "max": float(np.rint(X.max())) if pixels else float(X.max()),
    }


def write_thumbnails(data: Path, out: Path, count: int = 25) -> int:
    """A grid of the first ``count`` pictures of ``data`` with their labels (pixels), or a
    scatter plot of the examples by class (two features). Returns how many are drawn."""
    from dlcli.data import read_course_file

    read = read_course_file(data, "FILE.h5", output="softmax")
    m = read.Y.shape[1]
    labels = read.Y[0].astype(np.int64)
    if read.preprocessing["kind"] == "image":
        from dlcli.images import write_grid

        n = min(count, m)
        shape = read.example_shape
        pictures = [np.rint(read.X[:, i] * 255.0).astype(np.uint8).reshape(shape) for i in range(n)]
        titles = [f"#{i}: {read.classes[labels[i]]}" for i in range(n)]
        write_grid(out, pictures, titles, f"{data.name}: the first {n} of {m} examples")
        return n
    if read.X.shape[0] != 2:
        raise DataError(
            f"--grid: {data} holds {read.X.shape[0]} features per example; a picture needs "
            "pixels, a scatter plot 2 features"
        )
    from matplotlib.figure import Figure

    from dlcli.fileio import atomic_write

    fig = Figure(figsize=(5, 5), dpi=100)
    ax = fig.subplots()
    colors = ["tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:brown"]
    colors += ["tab:pink", "tab:gray", "tab:olive", "tab:cyan"]
    for label, name in enumerate(read.classes):
        mine = labels == label
        color = colors[label] if label < len(colors) else None  # then matplotlib's cycle
        ax.scatter(read.X[0, mine], read.X[1, mine], s=8, c=color, label=name)
    ax.legend()
    ax.set_title(f"{data.name}: {m} examples")
    fig.tight_layout()
    atomic_write(out, lambda tmp: fig.savefig(tmp, format="png"))
    return m
