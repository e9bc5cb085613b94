"""What ``dlcli data info`` shows about a course-layout file, and its picture of one: a grid
of the first pictures, or a scatter plot of two features by class."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dlcli.data.course import CourseFile, read_course_file
from dlcli.errors import DataError
from dlcli.fileio import atomic_write
from dlcli.images import write_grid


def describe(path: Path, key: str = "FILE.h5") -> dict[str, Any]:
    """What ``dlcli data info`` shows about a course-layout file.

    Returns
    -------
    dict with ``path``, ``datasets`` (name, shape, dtype of each), ``examples``,
    ``example_shape``, ``kind`` ("pixels" or "features"), ``dtype``, ``classes``,
    ``class_counts`` [m0, m1, ...] (one per class), ``class_fractions``, ``min``, ``max``
    """
    import h5py

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
    read = read_course_file(data, "FILE.h5", output="softmax")
    if read.preprocessing["kind"] == "image":
        return _picture_grid(read, data.name, out, count)
    if read.X.shape[0] != 2:
        raise DataError(
            f"--grid: {data} holds {read.X.shape[0]} features per example; a picture needs "
            "pixels, a scatter plot 2 features"
        )
    return _scatter(read, data.name, out)


def _picture_grid(read: CourseFile, name: str, out: Path, count: int) -> int:
    """The first ``count`` pictures, titled with their index and class."""
    m = read.Y.shape[1]
    labels = read.Y[0].astype(np.int64)
    n = min(count, m)
    shape = read.example_shape
    pictures = [np.rint(read.X[:, i] * 255.0).astype(np.uint8).reshape(shape) for i in range(n)]
    titles = [f"#{i}: {read.classes[labels[i]]}" for i in range(n)]
    write_grid(out, pictures, titles, f"{name}: the first {n} of {m} examples")
    return n


def _scatter(read: CourseFile, name: str, out: Path) -> int:
    """Every example of two features (2, m), a colour per class."""
    from matplotlib.figure import Figure

    m = read.Y.shape[1]
    labels = read.Y[0].astype(np.int64)
    fig = Figure(figsize=(5, 5), dpi=100)
    ax = fig.subplots()
    colors = ["tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:brown"]
    colors += ["tab:pink", "tab:gray", "tab:olive", "tab:cyan"]
    for label, class_name in enumerate(read.classes):
        mine = labels == label
        color = colors[label] if label < len(colors) else None  # then matplotlib's cycle
        ax.scatter(read.X[0, mine], read.X[1, mine], s=8, c=color, label=class_name)
    ax.legend()
    ax.set_title(f"{name}: {m} examples")
    fig.tight_layout()
    atomic_write(out, lambda tmp: fig.savefig(tmp, format="png"))
    return m
