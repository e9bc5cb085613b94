"""Data readers: the course HDF5 layout, every way such a file can be wrong, and the flower."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from dlcli.config import validate
from dlcli.data.course import read_course_h5
from dlcli.data.generated import FLOWER_CLASSES, flower
from dlcli.data.load import load
from dlcli.errors import DataError, DlcliError

M = 5
IMAGES = np.random.RandomState(0).randint(0, 256, size=(M, 8, 8, 3)).astype(np.uint8)
LABELS = np.array([0, 1, 1, 0, 1], dtype=np.int64)


def make_h5(
    path: Path,
    x: np.ndarray = IMAGES,
    y: np.ndarray = LABELS,
    prefix: str = "train_set",
    classes: tuple[bytes, ...] | None = (b"non-cat", b"cat"),
) -> Path:
    """A file in the course's layout: <prefix>_x (m, h, w, c) uint8, <prefix>_y, list_classes."""
    with h5py.File(path, "w") as f:
        f.create_dataset(f"{prefix}_x", data=x)
        f.create_dataset(f"{prefix}_y", data=y)
        if classes is not None:
            f.create_dataset("list_classes", data=np.array(classes, dtype="S7"))
    return path


def data_error(path: Path, key: str = "data.train") -> str:
    with pytest.raises(DataError) as info:
        read_course_h5(path, key)
    message = str(info.value)
    assert message.startswith(f"{key}: {path}: ")
    assert "\n" not in message
    return message


# ---------------------------------------------------------------- good files


def test_read_course_layout(tmp_path: Path) -> None:
    X, Y, classes, shape = read_course_h5(make_h5(tmp_path / "train.h5"))
    assert X.shape == (8 * 8 * 3, M)
    assert X.dtype == np.float64
    # The course's flatten: train_set_x_orig.reshape(m, -1).T / 255.
    expected = IMAGES.reshape(IMAGES.shape[0], -1).T / 255
    assert np.array_equal(X, expected)
    # Spelled out for one pixel: row (i*w + j)*c + k of column n is image n at (i, j, k).
    n, i, j, k = 3, 6, 2, 1
    assert X[(i * 8 + j) * 3 + k, n] == IMAGES[n, i, j, k] / 255
    assert Y.shape == (1, M)
    assert Y.dtype == np.float64
    assert Y.tolist() == [[0.0, 1.0, 1.0, 0.0, 1.0]]
    assert classes == ("non-cat", "cat")
    assert shape == (8, 8, 3)
    assert 0.0 <= X.min() and X.max() <= 1.0


def test_read_test_prefix_and_row_labels(tmp_path: Path) -> None:
    # The course's test file: test_set_x / test_set_y; labels may be stored as (1, m).
    path = make_h5(tmp_path / "test.h5", prefix="test_set", y=LABELS.reshape(1, M).astype(np.uint8))
    X, Y, classes, shape = read_course_h5(path, "data.test")
    assert X.shape == (192, M)
    assert Y.tolist() == [[0.0, 1.0, 1.0, 0.0, 1.0]]
    assert classes == ("non-cat", "cat")
    assert shape == (8, 8, 3)


def test_grey_images_and_no_class_names(tmp_path: Path) -> None:
    grey = np.arange(4 * 3 * 2, dtype=np.uint8).reshape(4, 3, 2)
    path = make_h5(tmp_path / "grey.h5", x=grey, y=np.array([1, 0, 0, 1]), classes=None)
    X, Y, classes, shape = read_course_h5(path)
    assert np.array_equal(X, grey.reshape(4, -1).T / 255)
    assert X[:, 1].tolist() == [6 / 255, 7 / 255, 8 / 255, 9 / 255, 10 / 255, 11 / 255]
    assert Y.tolist() == [[1.0, 0.0, 0.0, 1.0]]
    assert classes == ("0", "1")
    assert shape == (3, 2)


def test_course_cat_file(cat_files: tuple[Path, Path]) -> None:
    train, _ = cat_files
    X, Y, classes, shape = read_course_h5(train)
    with h5py.File(train, "r") as f:
        raw = f["train_set_x"][()]
        labels = f["train_set_y"][()]
    assert X.shape == (12288, 209)
    assert np.array_equal(X, raw.reshape(raw.shape[0], -1).T / 255)
    assert np.array_equal(Y, labels.reshape(1, 209))
    assert classes == ("non-cat", "cat")
    assert shape == (64, 64, 3)


# ---------------------------------------------------------------- bad files


def test_missing_file(tmp_path: Path) -> None:
    message = data_error(tmp_path / "nothere.h5")
    assert message.endswith("no such file")


def test_directory(tmp_path: Path) -> None:
    folder = tmp_path / "folder.h5"
    folder.mkdir()
    message = data_error(folder)
    assert "is a directory, expected a course HDF5 file" in message


def test_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.h5"
    path.write_text("train_set_x, train_set_y\n1,2,3\n")
    message = data_error(path)
    assert "not an HDF5 file" in message
    assert "course layout" in message


def test_truncated_file(tmp_path: Path) -> None:
    good = make_h5(tmp_path / "good.h5")
    content = good.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(content[: len(content) // 2])
    message = data_error(cut)
    assert "truncated or damaged" in message


@pytest.mark.parametrize(
    ("keys", "listed"),
    [
        ({"images": IMAGES}, "['images']"),
        ({"train_set_x": IMAGES}, "['train_set_x']"),
        ({"train_set_y": LABELS}, "['train_set_y']"),
        ({}, "[]"),
        (
            {"train_set_x": IMAGES, "train_set_y": LABELS, "test_set_x": IMAGES},
            "['test_set_x', 'train_set_x', 'train_set_y']",
        ),
    ],
)
def test_missing_or_ambiguous_keys(tmp_path: Path, keys: dict, listed: str) -> None:
    path = tmp_path / "keys.h5"
    with h5py.File(path, "w") as f:
        for name, value in keys.items():
            f.create_dataset(name, data=value)
    message = data_error(path)
    assert "expected one pair of datasets <prefix>_x and <prefix>_y" in message
    assert message.endswith(f"found {listed}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.uint16])
def test_pixels_not_uint8(tmp_path: Path, dtype: type) -> None:
    path = make_h5(tmp_path / "float.h5", x=IMAGES.astype(dtype))
    message = data_error(path)
    assert message.endswith(
        f"/train_set_x must be uint8 pixels of shape (m, ...), found {np.dtype(dtype)} (5, 8, 8, 3)"
    )


def test_pixels_one_dimensional(tmp_path: Path) -> None:
    message = data_error(make_h5(tmp_path / "flat.h5", x=np.arange(5, dtype=np.uint8)))
    assert "must be uint8 pixels of shape (m, ...), found uint8 (5,)" in message


@pytest.mark.parametrize("y", [LABELS[:4], np.concatenate([LABELS, [1]]), LABELS.reshape(5, 1)[:3]])
def test_label_count_differs_from_images(tmp_path: Path, y: np.ndarray) -> None:
    message = data_error(make_h5(tmp_path / "count.h5", y=y))
    assert (
        f"/train_set_y must be 5 integer labels, shape (5,) or (1, 5); found int64 {y.shape}"
        in message
    )


def test_labels_not_integers(tmp_path: Path) -> None:
    message = data_error(make_h5(tmp_path / "fy.h5", y=LABELS.astype(np.float64)))
    assert "/train_set_y must be 5 integer labels" in message
    assert message.endswith("found float64 (5,)")


@pytest.mark.parametrize("bad", [2, -1, 255])
def test_labels_outside_zero_one(tmp_path: Path, bad: int) -> None:
    y = np.array([0, 1, bad, 0, 1], dtype=np.int64)
    message = data_error(make_h5(tmp_path / "labels.h5", y=y))
    assert message.endswith(
        f"labels must be 0 or 1 (indices into list_classes ['non-cat', 'cat']), found {bad}"
    )


def test_zero_examples(tmp_path: Path) -> None:
    message = data_error(make_h5(tmp_path / "empty.h5", x=IMAGES[:0], y=LABELS[:0]))
    assert message.endswith("/train_set_x holds zero examples; training needs at least 1")


def test_three_classes(tmp_path: Path) -> None:
    path = make_h5(tmp_path / "three.h5", classes=(b"cat", b"dog", b"bird"))
    message = data_error(path)
    assert (
        "list_classes names 3 classes ['cat', 'dog', 'bird']; the sigmoid output needs 2" in message
    )


def test_data_errors_are_dlcli_errors(tmp_path: Path) -> None:
    with pytest.raises(DlcliError):
        read_course_h5(tmp_path / "nothere.h5")


# ---------------------------------------------------------------- load(): train and test together


def course_cfg(train: Path, test: Path | None = None, n_x: int = 192):
    data = {"train": str(train)} | ({"test": str(test)} if test else {})
    return validate({"data": data, "model": {"layers": [n_x, 1]}}, "test")


def test_load_train_and_test(tmp_path: Path) -> None:
    train = make_h5(tmp_path / "train.h5")
    test = make_h5(tmp_path / "test.h5", x=IMAGES[:3], y=LABELS[:3], prefix="test_set")
    ds = load(course_cfg(train, test).data)
    assert ds.n_x == 192
    assert ds.X_train.shape == (192, 5)
    assert ds.X_test is not None and ds.Y_test is not None
    assert ds.X_test.shape == (192, 3)
    assert np.array_equal(ds.X_test, ds.X_train[:, :3])
    assert ds.Y_test.tolist() == [[0.0, 1.0, 1.0]]
    assert ds.classes == ("non-cat", "cat")
    assert ds.preprocessing == {"kind": "image", "example_shape": [8, 8, 3], "divide_by": 255.0}
    assert ds.sources == {"train": str(train), "test": str(test)}


def test_test_file_shape_differs_from_train(tmp_path: Path) -> None:
    train = make_h5(tmp_path / "train.h5")
    small = np.zeros((3, 4, 4, 3), dtype=np.uint8)
    test = make_h5(tmp_path / "test.h5", x=small, y=LABELS[:3], prefix="test_set")
    with pytest.raises(DataError) as info:
        load(course_cfg(train, test).data)
    assert str(info.value) == (
        f"data.test: {test}: examples of shape (4, 4, 3), but data.train has (8, 8, 3)"
    )


def test_test_file_classes_differ_from_train(tmp_path: Path) -> None:
    train = make_h5(tmp_path / "train.h5")
    test = make_h5(tmp_path / "test.h5", prefix="test_set", classes=(b"dog", b"cat"))
    with pytest.raises(DataError) as info:
        load(course_cfg(train, test).data)
    assert str(info.value) == (
        f"data.test: {test}: classes ['dog', 'cat'], but data.train has ['non-cat', 'cat']"
    )


def test_bad_test_file_is_named_as_data_test(tmp_path: Path) -> None:
    train = make_h5(tmp_path / "train.h5")
    test = tmp_path / "test.h5"
    test.write_text("not hdf5")
    with pytest.raises(DataError) as info:
        load(course_cfg(train, test).data)
    assert str(info.value).startswith(f"data.test: {test}: not an HDF5 file")


# ---------------------------------------------------------------- the flower


def course_load_planar_dataset() -> tuple[np.ndarray, np.ndarray]:
    """The course's planar_utils.load_planar_dataset, with np.random.seed(1) made local."""
    rng = np.random.RandomState(1)
    m = 400  # number of examples
    N = int(m / 2)  # number of points per class
    D = 2  # dimensionality
    X = np.zeros((m, D))  # data matrix where each row is a single example
    Y = np.zeros((m, 1), dtype="uint8")  # labels vector (0 for red, 1 for blue)
    a = 4  # maximum ray of the flower
    for j in range(2):
        ix = range(N * j, N * (j + 1))
        t = np.linspace(j * 3.12, (j + 1) * 3.12, N) + rng.randn(N) * 0.2  # theta
        r = a * np.sin(4 * t) + rng.randn(N) * 0.2  # radius
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        Y[ix] = j
    return X.T, Y.T


def test_flower_shape_and_classes() -> None:
    X, Y = flower()
    assert X.shape == (2, 400)
    assert Y.shape == (1, 400)
    assert Y.dtype == np.float64
    assert set(np.unique(Y).tolist()) == {0.0, 1.0}
    assert int(Y.sum()) == 200  # 200 blue ...
    assert Y[0, :200].tolist() == [0.0] * 200  # ... after 200 red
    assert FLOWER_CLASSES == ("red", "blue")
    # Petals of radius at most 4 plus noise.
    assert np.abs(X).max() < 5.5


def test_flower_equals_course_load_planar_dataset() -> None:
    X, Y = flower(400, 1)
    X_course, Y_course = course_load_planar_dataset()
    assert np.array_equal(X, X_course)
    assert np.array_equal(Y, Y_course)


def test_flower_deterministic_by_seed() -> None:
    X1, Y1 = flower(400, 3)
    X2, Y2 = flower(400, 3)
    X3, _ = flower(400, 4)
    assert np.array_equal(X1, X2)
    assert np.array_equal(Y1, Y2)
    assert not np.allclose(X1, X3)


def test_flower_leaves_global_random_state_alone() -> None:
    np.random.seed(123)
    expected = np.random.RandomState(123).rand(3)
    flower(400, 1)
    assert np.random.rand(3).tolist() == expected.tolist()


def test_flower_other_sizes() -> None:
    X, Y = flower(10, 1)
    assert X.shape == (2, 10)
    assert Y.tolist() == [[0.0] * 5 + [1.0] * 5]


def test_load_generate() -> None:
    cfg = validate(
        {"data": {"generate": {"examples": 40, "seed": 2}}, "model": {"layers": [2, 1]}}, "t"
    )
    ds = load(cfg.data)
    X, Y = flower(40, 2)
    assert np.array_equal(ds.X_train, X)
    assert np.array_equal(ds.Y_train, Y)
    assert ds.classes == ("red", "blue")
    assert ds.preprocessing == {"kind": "none"}
    assert ds.X_test is None
    assert ds.sources == {"generate": "flower"}
