"""``dlcli data``: photo folders become the course's HDF5 layout (and train, and predict, with
no code), ``data info`` describes a file, ``data flower`` writes the built-in set."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from dlcli.cli import app
from dlcli.config import validate
from dlcli.data.course import read_course_file
from dlcli.data.generated import flower
from dlcli.data.load import load
from dlcli.errors import DataError
from dlcli.images import read_image

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
FORMATS = [("png", {}), ("jpg", {"quality": 90}), ("webp", {"lossless": True}), ("bmp", {})]
SIZES = [(64, 64), (80, 60), (33, 100), (200, 150)]


def dlcli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def make_photos(root: Path, counts: dict[str, int], seed: int = 0) -> list[Path]:
    """Pictures of every size and format in one folder per class: "cat" pictures are reddish
    noise, the others bluish, so a one-neuron network tells them apart."""
    rng = np.random.default_rng(seed)
    written = []
    for name, n in counts.items():
        folder = root / name
        for i in range(n):
            width, height = SIZES[i % len(SIZES)]
            ext, options = FORMATS[i % len(FORMATS)]
            noise = rng.integers(0, 90, size=(height, width, 3))
            noise[:, :, 0 if "cat" in name and not name.startswith("non") else 2] += 150
            path = folder / ("nested" if i % 5 == 4 else "") / f"{name}{i:02d}.{ext}"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(noise.astype(np.uint8)).save(path, **options)
            written.append(path)
    return written


@pytest.fixture
def photos(in_tmp: Path) -> Path:
    make_photos(in_tmp / "photos", {"cat": 10, "non-cat": 15})
    return in_tmp / "photos"


def read_h5(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in f}


# ---------------------------------------------------------------- data images


def test_folder_to_course_layout(photos: Path) -> None:
    code, out, err = dlcli("data", "images", "photos", "--out", "mine.h5", "--size", "16", "--json")
    assert code == 0, err
    assert err == ""
    report = json.loads(out)
    assert report == {
        "files": ["train_mine.h5", "test_mine.h5"],
        "classes": ["non-cat", "cat"],  # non-cat beside cat is label 0, as the course
        "counts": {"train": [12, 8], "test": [3, 2]},  # 20 % of 15 and of 10
        "example_shape": [16, 16, 3],
        "skipped": [],
    }
    train, test = read_h5(Path("train_mine.h5")), read_h5(Path("test_mine.h5"))
    assert set(train) == {"train_set_x", "train_set_y", "train_set_files", "list_classes"}
    assert set(test) == {"test_set_x", "test_set_y", "test_set_files", "list_classes"}
    assert train["train_set_x"].dtype == np.uint8 and train["train_set_x"].shape == (20, 16, 16, 3)
    assert train["train_set_y"].dtype == np.int64 and train["train_set_y"].shape == (20,)
    assert test["test_set_x"].shape == (5, 16, 16, 3)
    assert train["list_classes"].dtype.kind == "S"
    assert train["list_classes"].tolist() == [b"non-cat", b"cat"]
    files = [f.decode() for f in train["train_set_files"]] + [
        f.decode() for f in test["test_set_files"]
    ]
    every = sorted(p.relative_to(photos).as_posix() for p in photos.rglob("*.*"))
    assert sorted(files) == every  # each picture once, in train or in test
    # Each example is the picture read as predict reads it, its label its folder's.
    for x, y, name in zip(train["train_set_x"], train["train_set_y"], files, strict=False):
        assert np.array_equal(x, read_image(photos / name, (16, 16)))
        assert y == (1 if name.startswith("cat/") else 0)
    # dlcli's own reader takes them: course flatten and / 255.
    read = read_course_file(Path("train_mine.h5"))
    assert read.classes == ("non-cat", "cat")
    assert read.preprocessing == {"kind": "image", "example_shape": [16, 16, 3], "divide_by": 255.0}


def test_split_is_seeded(photos: Path) -> None:
    runs = {}
    for seed in ("1", "1", "2"):
        code, _, err = dlcli(
            "data", "images", "photos", "--out", "d.h5", "--size", "8", "--seed", seed, "--force"
        )
        assert code == 0, err
        runs.setdefault(seed, []).append(read_h5(Path("test_d.h5")))
    first, again = runs["1"]
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert first["test_set_files"].tolist() != runs["2"][0]["test_set_files"].tolist()


def test_table_output_and_broken_pictures(photos: Path) -> None:
    (photos / "cat" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 half a jpeg")
    (photos / "cat" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (photos / "notes.txt").write_text("a loose file beside the class folders is ignored")
    code, out, err = dlcli("data", "images", "photos", "--out", "mine.h5")
    assert code == 0
    assert err == (
        "dlcli: skipped photos/cat/broken.jpg: not a readable picture, damaged or truncated "
        "(Truncated File Read); allowed: PNG, JPEG, GIF, BMP, TIFF, WebP, PPM/PGM\n"
    )
    assert "1 picture skipped (listed on stderr)" in out
    lines = out.splitlines()
    train_row = next(line for line in lines if "train_mine.h5" in line)
    assert [t for t in train_row.replace("│", " ").split() if t.isdigit()] == ["12", "8", "20"]
    assert (
        "Train on them: dlcli train configs/cat_2layer.yaml --set data.train=train_mine.h5 "
        "--set data.test=test_mine.h5" in out
    )
    assert read_h5(Path("train_mine.h5"))["train_set_x"].shape == (20, 64, 64, 3)


@pytest.mark.parametrize(
    ("folders", "args", "classes"),
    [
        (["dogs", "birds"], [], ["birds", "dogs"]),  # alphabetical
        (["dog", "not_dog"], [], ["not_dog", "dog"]),
        (["Cat", "No Cat"], [], ["No Cat", "Cat"]),
        (["cat", "non-cat"], ["--classes", "cat,non-cat"], ["cat", "non-cat"]),
        (["a", "b", "c"], ["--classes", "c,a"], ["c", "a"]),
    ],
)
def test_class_order(in_tmp: Path, folders: list[str], args: list[str], classes: list) -> None:
    make_photos(in_tmp / "p", dict.fromkeys(folders, 3))
    code, out, err = dlcli(
        "data", "images", "p", "--out", "o.h5", "--size", "4", "--test-fraction", "0", "--json",
        *args,
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["classes"] == classes
    assert read_h5(Path("train_o.h5"))["list_classes"].tolist() == [c.encode() for c in classes]


@pytest.mark.parametrize(
    ("folders", "args", "message"),
    [
        (
            ["a", "b", "c"], [],
            "DIR p: found 3 class folders ['a', 'b', 'c']; the sigmoid output needs exactly 2, "
            "e.g. p/non-cat and p/cat; pick two with --classes NEG,POS",
        ),
        (
            ["cat"], [],
            "DIR p: found 1 class folders ['cat']; the sigmoid output needs exactly 2, "
            "e.g. p/non-cat and p/cat",
        ),
        (
            ["a", "b"], ["--classes", "a,dog"],
            "--classes: p has no subfolder 'dog'; its subfolders: ['a', 'b']",
        ),
        (["a", "b"], ["--classes", "a"], "--classes a: expected two different folder names, NEG,POS"),
        (
            ["a", "b"], ["--test-fraction", "1"],
            "--test-fraction: must be at least 0 and below 1, found 1",
        ),
        (
            ["a", "b"], ["--test-fraction", "0.9"],  # 2.7 rounds to 3: every picture in test
            "DIR p: 6 readable pictures leave the training set without both classes at "
            "--test-fraction 0.9; add pictures or lower it",
        ),
        (
            ["a", "b"], ["--test-fraction", "0.1"],  # 3 pictures a class: 0.3 rounds to 0
            "DIR p: 6 readable pictures give no test picture at --test-fraction 0.1; add "
            "pictures, raise it, or use --test-fraction 0",
        ),
    ],
)  # fmt: skip
def test_folder_errors(in_tmp: Path, folders: list[str], args: list[str], message: str) -> None:
    make_photos(in_tmp / "p", dict.fromkeys(folders, 3))
    code, out, err = dlcli("data", "images", "p", "--out", "o.h5", *args)
    assert (code, out) == (1, "")
    assert err.split(": ", 2)[2] == message + "\n"
    assert not Path("train_o.h5").exists() and not Path("test_o.h5").exists()


def test_empty_class_and_missing_folder(in_tmp: Path) -> None:
    make_photos(in_tmp / "p", {"cat": 3})
    (in_tmp / "p" / "non-cat").mkdir()
    code, _, err = dlcli("data", "images", "p", "--out", "o.h5")
    assert code == 1
    assert err == (
        "dlcli: data error: class 'non-cat': p/non-cat: directory holds no pictures "
        "(PNG, JPEG, GIF, BMP, TIFF, WebP, PPM/PGM)\n"
    )
    (in_tmp / "p" / "non-cat" / "x.png").write_text("not a picture")
    code, _, err = dlcli("data", "images", "p", "--out", "o.h5")
    assert code == 1
    assert err == (
        "dlcli: data error: class 'non-cat': no readable picture in p/non-cat (first: "
        "p/non-cat/x.png: not a picture dlcli reads; allowed: PNG, JPEG, GIF, BMP, TIFF, WebP, "
        "PPM/PGM)\n"
    )
    code, _, err = dlcli("data", "images", "nothere", "--out", "o.h5")
    assert (code, err) == (1, "dlcli: data error: DIR nothere: no such directory\n")


def test_existing_output_needs_force(photos: Path) -> None:
    Path("test_mine.h5").write_bytes(b"keep me")
    code, _, err = dlcli("data", "images", "photos", "--out", "mine.h5")
    assert code == 1
    assert err == "dlcli: error: --out test_mine.h5: exists already; pass --force to replace it\n"
    assert Path("test_mine.h5").read_bytes() == b"keep me"
    assert not Path("train_mine.h5").exists()
    assert dlcli("data", "images", "photos", "--out", "mine.h5", "--force")[0] == 0
    assert read_h5(Path("test_mine.h5"))["test_set_y"].shape == (5,)


def test_no_test_file_at_fraction_zero(photos: Path) -> None:
    code, out, _ = dlcli("data", "images", "photos", "--out", "all.h5", "--test-fraction", "0")
    assert code == 0
    assert Path("train_all.h5").exists() and not Path("test_all.h5").exists()
    assert "--set data.test" not in out
    assert read_h5(Path("train_all.h5"))["train_set_y"].tolist().count(1) == 10


def test_folder_to_h5_to_train_to_predict(photos: Path) -> None:
    """The round trip with no code: pictures -> data images -> train -> predict and evaluate.
    A test picture predicted from its file has the probability evaluate gives it from the
    HDF5 file, to the bit."""
    code, _, err = dlcli("data", "images", "photos", "--out", "mine.h5", "--size", "16")
    assert code == 0, err
    code, out, err = dlcli(
        "train", str(CONFIGS / "cat_logreg.yaml"),
        "--set", "data.train=train_mine.h5", "--set", "data.test=test_mine.h5",
        "--set", "model.layers=[768,1]", "--set", "train.learning_rate=0.01",
        "--set", "train.iterations=100", "--quiet", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["test_accuracy"] == 1.0
    code, out, err = dlcli("predict", "photos", "--json")
    assert code == 0, err
    rows = {Path(row["path"]).relative_to("photos").as_posix(): row for row in json.loads(out)}
    assert len(rows) == 25
    for name, row in rows.items():
        assert row["label"] == name.split("/")[0]
        assert row["probability"] > 0.5

    from dlcli.evaluate import evaluate_files
    from dlcli.predict import load_model

    evaluation = evaluate_files(load_model(), [Path("test_mine.h5")])
    assert evaluation.metrics["accuracy"] == 1.0
    test_files = read_h5(Path("test_mine.h5"))["test_set_files"]
    for name, p_cat in zip(test_files, evaluation.AL, strict=True):
        row = rows[name.decode()]
        assert row["probability"] == (p_cat if row["label"] == "cat" else 1 - p_cat)


# ---------------------------------------------------------------- data info


def test_info(photos: Path) -> None:
    assert dlcli("data", "images", "photos", "--out", "mine.h5", "--size", "16")[0] == 0
    code, out, err = dlcli("data", "info", "train_mine.h5", "--json", "--grid", "grid.png")
    assert code == 0, err
    info = json.loads(out)
    x = read_h5(Path("train_mine.h5"))["train_set_x"]
    assert info == {
        "path": "train_mine.h5",
        "datasets": [
            {"name": "list_classes", "shape": [2], "dtype": "|S7"},
            {"name": "train_set_files", "shape": [20], "dtype": "object"},
            {"name": "train_set_x", "shape": [20, 16, 16, 3], "dtype": "uint8"},
            {"name": "train_set_y", "shape": [20], "dtype": "int64"},
        ],
        "examples": 20,
        "example_shape": [16, 16, 3],
        "kind": "pixels",
        "dtype": "uint8",
        "classes": ["non-cat", "cat"],
        "class_counts": [12, 8],
        "class_fractions": [0.6, 0.4],
        "min": float(x.min()),
        "max": float(x.max()),
        "grid": "grid.png",
        "grid_examples": 20,
    }
    with Image.open("grid.png") as im:
        assert im.format == "PNG"
        assert im.size == (1100, 4 * 220 + 50)  # 5 columns of 2.2 in, 4 rows, 100 dpi
    code, out, _ = dlcli("data", "info", "train_mine.h5")
    assert code == 0
    assert "20 examples of shape (16, 16, 3): pixels, uint8" in out
    assert "60.0 %" in out and "40.0 %" in out


def test_info_on_the_course_file(cat_files: tuple[Path, Path], in_tmp: Path) -> None:
    code, out, _ = dlcli(
        "data", "info", str(cat_files[0]), "--json", "--grid", "g.png", "--count", "3"
    )
    assert code == 0
    info = json.loads(out)
    assert info["class_counts"] == [137, 72]
    assert info["classes"] == ["non-cat", "cat"]
    assert info["grid_examples"] == 3
    with Image.open("g.png") as im:
        assert im.size == (660, 270)


def test_info_on_a_file_that_is_not_a_data_set(in_tmp: Path) -> None:
    Path("x.h5").write_text("text")
    code, _, err = dlcli("data", "info", "x.h5")
    assert code == 1
    assert err == (
        "dlcli: data error: FILE.h5: x.h5: not an HDF5 file (expected the course layout, "
        "e.g. train_catvnoncat.h5)\n"
    )


# ---------------------------------------------------------------- data flower


def test_flower_file(in_tmp: Path) -> None:
    code, out, err = dlcli("data", "flower", "--out", "flower.h5")
    assert code == 0, err
    assert out.splitlines() == [
        "wrote flower.h5: 400 examples of 2 float64 features, classes red (0) and blue (1), 200 each",
        "Train on it: dlcli train configs/flower.yaml --set data.generate=null --set data.train=flower.h5",
    ]
    stored = read_h5(Path("flower.h5"))
    assert set(stored) == {"train_set_x", "train_set_y", "list_classes"}
    X, Y = flower(400, 1)
    assert stored["train_set_x"].dtype == np.float64
    assert stored["train_set_x"].tobytes() == np.ascontiguousarray(X.T).tobytes()
    assert stored["train_set_y"].dtype == np.int64
    assert stored["train_set_y"].tolist() == Y[0].astype(int).tolist()
    assert stored["list_classes"].tolist() == [b"red", b"blue"]
    read = read_course_file(Path("flower.h5"))
    assert read.preprocessing == {"kind": "none"}
    assert read.X.tobytes() == X.tobytes() and read.example_shape == (2,)

    # Training on the file is training on the generated set: the same costs to the bit.
    base = [str(CONFIGS / "flower.yaml"), "--set", "train.iterations=300", "--quiet"]
    assert dlcli("train", *base, "--out", "runs/gen")[0] == 0
    code, _, err = dlcli(
        "train", *base, "--set", "data.generate=null", "--set", "data.train=flower.h5",
        "--out", "runs/file",
    )  # fmt: skip
    assert code == 0, err
    costs = Path("runs/gen/costs.csv").read_text()
    assert Path("runs/file/costs.csv").read_text() == costs
    with h5py.File("runs/file/params.h5", "r") as f:
        assert json.loads(f.attrs["preprocessing"]) == {"kind": "none"}
        assert json.loads(f.attrs["classes"]) == ["red", "blue"]

    code, out, _ = dlcli("data", "info", "flower.h5", "--grid", "scatter.png", "--json")
    assert json.loads(out)["kind"] == "features"
    with Image.open("scatter.png") as im:
        assert im.size == (500, 500)


def test_flower_options(in_tmp: Path) -> None:
    code, _, err = dlcli("data", "flower", "--out", "f.h5", "--examples", "10", "--seed", "4")
    assert code == 0, err
    X, _ = flower(10, 4)
    assert read_h5(Path("f.h5"))["train_set_x"].tobytes() == np.ascontiguousarray(X.T).tobytes()
    code, _, err = dlcli("data", "flower", "--out", "f.h5")
    assert (code, err) == (
        1,
        "dlcli: error: --out f.h5: exists already; pass --force to replace it\n",
    )
    code, _, err = dlcli("data", "flower", "--out", "g.h5", "--examples", "7")
    assert (code, err) == (1, "dlcli: error: --examples: must be an even number >= 2, found 7\n")
    code, _, err = dlcli("data", "flower", "--out", "no/such/dir/g.h5")
    assert (code, err) == (
        1,
        "dlcli: error: --out no/such/dir/g.h5: folder no/such/dir does not exist\n",
    )


# ---------------------------------------------------------------- float features in dlcli/data/


def test_float_features_must_be_finite(in_tmp: Path) -> None:
    x = np.ones((4, 3), dtype=np.float32)
    x[2, 1] = np.nan
    with h5py.File("nan.h5", "w") as f:
        f["train_set_x"], f["train_set_y"] = x, np.array([0, 1, 0, 1])
    with pytest.raises(DataError) as info:
        read_course_file(Path("nan.h5"))
    assert str(info.value) == (
        "data.train: nan.h5: /train_set_x holds NaN or infinite features in example 2; all must be finite"
    )
    x[2, 1] = 0.5
    with h5py.File("ok.h5", "w") as f:
        f["train_set_x"], f["train_set_y"] = x, np.array([0, 1, 0, 1])
    read = read_course_file(Path("ok.h5"))
    assert read.X.dtype == np.float64 and read.X.shape == (3, 4)
    assert read.X[1, 2] == 0.5 and not read.named_classes


def test_train_and_test_of_different_kinds(photos: Path) -> None:
    assert dlcli("data", "flower", "--out", "flower.h5")[0] == 0
    assert dlcli("data", "images", "photos", "--out", "p.h5", "--size", "1")[0] == 0
    cfg = validate(
        {"data": {"train": "flower.h5", "test": "test_p.h5"}, "model": {"layers": [2, 1]}}, "c"
    )
    with pytest.raises(DataError) as info:
        load(cfg.data)
    assert str(info.value) == (
        "data.test: test_p.h5: uint8 pixels, but data.train holds float features"
    )
