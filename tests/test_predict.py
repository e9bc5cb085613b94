"""``dlcli predict``: the model file alone is enough; a picture written from the test set
reaches the network bit for bit as the HDF5 example does; a broken file is a row, not a stop."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from dlcli.cli import app
from dlcli.data.course import read_course_h5
from dlcli.evaluate import evaluate_files
from dlcli.images import read_image
from dlcli.predict import load_model, pixels_to_X

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def dlcli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def train(config: str, *overrides: str, out: str) -> Path:
    sets = [arg for item in overrides for arg in ("--set", item)]
    code, _, err = dlcli("train", str(CONFIGS / config), *sets, "--quiet", "--out", out)
    assert code == 0, err
    return Path(out)


def predict_json(*args: str) -> tuple[int, list[dict], str]:
    code, out, err = dlcli("predict", *args, "--json")
    return code, json.loads(out), err


def course_test_set(cat_files: tuple[Path, Path]) -> tuple[np.ndarray, np.ndarray]:
    with h5py.File(cat_files[1], "r") as f:
        return f["test_set_x"][()], f["test_set_y"][()]


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


# ---------------------------------------------------------------- exactness


def test_png_of_a_test_picture_is_bit_identical_to_the_h5_example(
    cat_overrides: list[str], cat_files: tuple[Path, Path], in_tmp: Path
) -> None:
    """All 50 test pictures: written as PNG, read back, flattened and divided by 255, they
    are the columns read_course_h5 makes; their probabilities are evaluate's, to the bit,
    whether predicted together or one at a time."""
    train("cat_2layer.yaml", *cat_overrides, "train.iterations=10", out="runs/cat")
    x, y = course_test_set(cat_files)
    pics = in_tmp / "pics"
    pics.mkdir()
    for i, picture in enumerate(x):
        Image.fromarray(picture).save(pics / f"{i:02d}.png")
    read = np.stack([read_image(pics / f"{i:02d}.png") for i in range(50)])
    assert read.dtype == np.uint8
    assert np.array_equal(read, x)
    model = load_model()
    X_png = pixels_to_X(read, model.preprocessing)
    X_h5, _, _, _ = read_course_h5(cat_files[1], "data.test")
    assert X_png.dtype == X_h5.dtype == np.float64
    assert X_png.tobytes() == np.ascontiguousarray(X_h5).tobytes()

    evaluation = evaluate_files(model, [cat_files[1]])
    AL = evaluation.AL  # (50,), probability of cat as evaluate computes it
    code, rows, err = predict_json(str(pics))
    assert code == 0, err
    assert [row["path"] for row in rows] == [str(pics / f"{i:02d}.png") for i in range(50)]
    for i, row in enumerate(rows):
        assert row["error"] is None
        assert row["label"] == ("cat" if AL[i] > 0.5 else "non-cat")
        assert row["probability"] == (AL[i] if AL[i] > 0.5 else 1.0 - AL[i])
    # One at a time: the same bits (a single column is not summed in another order).
    for i in range(0, 50, 13):
        _, (alone,), _ = predict_json(str(pics / f"{i:02d}.png"))
        assert alone == rows[i]
    # And evaluate's accuracy is what these labels give.
    labels = np.array([row["label"] == "cat" for row in rows])
    _, out, _ = dlcli("evaluate", "--json")
    assert json.loads(out)["accuracy"] == float(np.mean(labels == y))


# ---------------------------------------------------------------- many pictures, some broken


def test_directory_with_broken_files_among_good_ones(
    cat_overrides: list[str], cat_files: tuple[Path, Path], in_tmp: Path
) -> None:
    run_dir = train("cat_logreg.yaml", *cat_overrides, "train.iterations=20", out="runs/cat")
    x, _ = course_test_set(cat_files)
    folder = in_tmp / "photos"
    (folder / "holiday").mkdir(parents=True)
    Image.fromarray(x[0]).save(folder / "a.png")
    Image.fromarray(x[1]).resize((640, 480), Image.Resampling.BICUBIC).save(
        folder / "b.jpg", quality=92
    )
    (folder / "c.png").write_bytes((folder / "a.png").read_bytes()[:300])  # truncated
    (folder / "d.jpg").write_text("not a picture at all")
    Image.fromarray(x[2]).convert("RGBA").save(folder / "holiday" / "e.webp", lossless=True)
    (folder / "readme.txt").write_text("skipped: not a picture extension")
    (folder / "._a.png").write_bytes(b"\0\5\26\7")  # macOS metadata: hidden, skipped

    code, rows, err = predict_json(str(folder))
    assert code == 1
    assert err == "dlcli: 2 of 5 could not be read as pictures\n"
    assert [Path(row["path"]).relative_to(folder).as_posix() for row in rows] == [
        "a.png", "b.jpg", "c.png", "d.jpg", "holiday/e.webp",
    ]  # fmt: skip
    good = [rows[i] for i in (0, 1, 4)]
    assert all(row["error"] is None and row["label"] in ("cat", "non-cat") for row in good)
    assert rows[2]["label"] is None and rows[2]["probability"] is None
    assert rows[2]["error"].startswith(
        "damaged or truncated PNG file, its pixels cannot be decoded"
    )
    assert rows[3] == {
        "path": str(folder / "d.jpg"),
        "label": None,
        "probability": None,
        "error": "not a picture dlcli reads; allowed: PNG, JPEG, GIF, BMP, TIFF, WebP, PPM/PGM",
    }
    # Each good picture has the probability the weights give it, computed here.
    with h5py.File(run_dir / "params.h5", "r") as f:
        W, b = f["W1"][()], f["b1"][()]
    for row, name in zip(good, ("a.png", "b.jpg", "holiday/e.webp"), strict=True):
        with Image.open(folder / name) as im:
            rgb = im.convert("RGB").resize((64, 64), Image.Resampling.BICUBIC)
        p_cat = float(sigmoid(W @ (np.asarray(rgb).reshape(-1, 1) / 255.0) + b)[0, 0])
        assert row["probability"] == pytest.approx(max(p_cat, 1 - p_cat), rel=1e-12)
        assert row["label"] == ("cat" if p_cat > 0.5 else "non-cat")

    # The table: one row per file, the error in its own column.
    code, table, _ = dlcli("predict", str(folder))
    assert code == 1
    assert "error" in table.splitlines()[1]
    assert f"{good[0]['probability']:.4f}" in table
    c_row = next(line for line in table.splitlines() if "c.png" in line)
    assert "error" in c_row and "damaged or truncated PNG file" in c_row
    # Missing files and empty folders are rows too.
    (in_tmp / "empty").mkdir()
    code, rows, _ = predict_json(str(folder / "a.png"), "gone.png", "empty")
    assert code == 1
    assert [row["error"] for row in rows] == [
        None,
        "no such file",
        "directory holds no pictures (PNG, JPEG, GIF, BMP, TIFF, WebP, PPM/PGM)",
    ]


# ---------------------------------------------------------------- which model


def test_model_option_forms(
    cat_overrides: list[str], cat_files: tuple[Path, Path], in_tmp: Path
) -> None:
    train("cat_logreg.yaml", *cat_overrides, "train.iterations=20", out="runs/cat")
    x, _ = course_test_set(cat_files)
    Image.fromarray(x[5]).save("p.png")
    _, expected, _ = predict_json("p.png")  # runs/latest, from the current directory
    for model in ("runs/cat", "runs/cat/params.h5", "runs", str(in_tmp / "runs" / "latest")):
        code, rows, err = predict_json("p.png", "--model", model)
        assert code == 0, err
        assert rows == expected
    # Elsewhere, with the model file alone: no config, no data set.
    elsewhere = in_tmp / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "model.h5").write_bytes(Path("runs/cat/params.h5").read_bytes())
    Path("runs/cat/config.yaml").unlink()
    code, rows, _ = predict_json("p.png", "--model", str(elsewhere / "model.h5"))
    assert (code, rows) == (0, expected)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (
            lambda: None,
            "model file error: no model: train one with dlcli train CONFIG or pass --model "
            "(found no runs/latest here)",
        ),
        (
            lambda: Path("run").mkdir() or Path("run/checkpoint.h5").write_bytes(b""),
            "model file error: --model run: the run has not finished (a checkpoint.h5, no "
            "params.h5); finish it with dlcli train CONFIG --out DIR --resume",
        ),
        (
            lambda: Path("run").mkdir(),
            "model file error: --model run: holds no params.h5; allowed: a run directory of "
            "dlcli train, its params.h5, or a folder with a latest link to one",
        ),
    ],
)
def test_no_usable_model(in_tmp: Path, setup, message: str) -> None:
    setup()
    Image.new("RGB", (64, 64)).save("p.png")
    args = ("p.png",) if "no runs/latest" in message else ("p.png", "--model", "run")
    code, out, err = dlcli("predict", *args)
    assert (code, out) == (1, "")
    assert err == f"dlcli: {message}\n"


def test_weights_alone_are_not_enough(in_tmp: Path) -> None:
    with h5py.File("bare.h5", "w") as f:
        f["W1"], f["b1"] = np.zeros((1, 12288)), np.zeros((1, 1))
    Image.new("RGB", (64, 64)).save("p.png")
    code, _, err = dlcli("predict", "p.png", "--model", "bare.h5")
    assert code == 1
    assert err == (
        "dlcli: model file error: --model bare.h5: has no hidden_activation, output_activation, "
        "preprocessing, classes attribute; a params.h5 written by dlcli train holds them "
        "(weights alone are not enough to predict)\n"
    )


def test_a_model_that_does_not_take_pictures(in_tmp: Path) -> None:
    train("flower.yaml", "train.iterations=10", out="runs/flower")
    Image.new("RGB", (64, 64)).save("p.png")
    code, _, err = dlcli("predict", "p.png")
    assert code == 1
    assert err.startswith("dlcli: model file error: --model ")
    assert err.endswith(
        'params.h5: takes 2 features per example, not pictures (preprocessing {"kind": "none"}); '
        "predict reads pictures for image models only\n"
    )


# ---------------------------------------------------------------- options and other models


def test_threshold(cat_overrides: list[str], cat_files: tuple[Path, Path], in_tmp: Path) -> None:
    train("cat_logreg.yaml", *cat_overrides, "train.iterations=20", out="runs/cat")
    x, _ = course_test_set(cat_files)
    for i in range(6):
        Image.fromarray(x[i]).save(f"{i}.png")
    names = [f"{i}.png" for i in range(6)]
    _, rows, _ = predict_json(*names)
    p_cat = [r["probability"] if r["label"] == "cat" else 1 - r["probability"] for r in rows]
    _, everything_cat, _ = predict_json(*names, "--threshold", "0")
    assert [r["label"] for r in everything_cat] == ["cat"] * 6
    assert [r["probability"] for r in everything_cat] == pytest.approx(p_cat, rel=1e-12)
    _, nothing_cat, _ = predict_json(*names, "--threshold", "1")
    assert [r["label"] for r in nothing_cat] == ["non-cat"] * 6
    middle = sorted(p_cat)[3]
    _, split, _ = predict_json(*names, "--threshold", str(middle))
    assert [r["label"] for r in split] == ["cat" if p > middle else "non-cat" for p in p_cat]
    code, _, err = dlcli("predict", *names, "--threshold", "-0.1")
    assert (code, err) == (1, "dlcli: error: --threshold: must be between 0 and 1, found -0.1\n")


def test_fit_crop(cat_overrides: list[str], cat_files: tuple[Path, Path], in_tmp: Path) -> None:
    train("cat_logreg.yaml", *cat_overrides, "train.iterations=20", out="runs/cat")
    x, _ = course_test_set(cat_files)
    wide = np.zeros((64, 192, 3), dtype=np.uint8)
    wide[:, 64:128] = x[3]
    Image.fromarray(wide).save("wide.png")
    Image.fromarray(x[3]).save("centre.png")
    _, (cropped,), _ = predict_json("wide.png", "--fit", "crop")
    _, (centre,), _ = predict_json("centre.png")
    _, (stretched,), _ = predict_json("wide.png")
    assert (cropped["label"], cropped["probability"]) == (centre["label"], centre["probability"])
    assert stretched["probability"] != centre["probability"]


def test_grey_model(tmp_path: Path, in_tmp: Path) -> None:
    """A model trained on grey (m, h, w) pictures reads colour pictures as their luma."""
    from dlcli.data.write import write_course_h5

    rng = np.random.default_rng(3)
    bright = rng.integers(150, 256, size=(20, 8, 8), dtype=np.uint8)
    dark = rng.integers(0, 100, size=(20, 8, 8), dtype=np.uint8)
    write_course_h5(
        tmp_path / "grey.h5", "train_set", np.concatenate([dark, bright]),
        np.repeat([0, 1], 20), ["dark", "bright"],
    )  # fmt: skip
    run_dir = train(
        "cat_logreg.yaml", f"data.train={tmp_path / 'grey.h5'}", "data.test=null",
        "model.layers=[64,1]", "train.learning_rate=0.1", "train.iterations=50", out="runs/grey",
    )  # fmt: skip
    colour = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    Image.fromarray(colour).save("colour.png")
    code, (row,), err = predict_json("colour.png")
    assert code == 0, err
    luma = np.asarray(Image.fromarray(colour).convert("L"), dtype=np.float64)
    with h5py.File(run_dir / "params.h5", "r") as f:
        p = float(sigmoid(f["W1"][()] @ luma.reshape(-1, 1) / 255.0 + f["b1"][()])[0, 0])
    assert row["label"] == ("bright" if p > 0.5 else "dark")
    assert row["probability"] == pytest.approx(max(p, 1 - p), rel=1e-12)


def test_linear_output_model_gives_values(tmp_path: Path, in_tmp: Path) -> None:
    from dlcli.runs import write_params

    meta = {
        "layers": [12, 1], "hidden_activation": "relu", "output_activation": "linear",
        "classes": ["0", "1"],
        "preprocessing": {"kind": "image", "example_shape": [2, 2, 3], "divide_by": 255.0},
    }  # fmt: skip
    W = np.arange(12, dtype=np.float64).reshape(1, 12) / 10
    write_params(tmp_path / "m.h5", {"W1": W, "b1": np.array([[0.5]])}, meta)
    Image.new("RGB", (2, 2), (255, 0, 51)).save("p.png")
    code, rows, err = predict_json("p.png", "--model", str(tmp_path / "m.h5"))
    assert code == 0, err
    x = np.tile([1.0, 0.0, 0.2], 4)  # (255, 0, 51) / 255, in (h, w, c) order
    assert rows == [{"path": "p.png", "value": pytest.approx(float(W[0] @ x + 0.5)), "error": None}]
    code, table, _ = dlcli("predict", "p.png", "--model", str(tmp_path / "m.h5"))
    assert "value" in table and f"{W[0] @ x + 0.5:.6g}" in table


def test_installed_executable(
    cat_overrides: list[str], cat_files: tuple[Path, Path], in_tmp: Path
) -> None:
    train("cat_logreg.yaml", *cat_overrides, "train.iterations=20", out="runs/cat")
    x, _ = course_test_set(cat_files)
    Image.fromarray(x[7]).save("p.png")
    (in_tmp / "bad.gif").write_bytes(b"GIF89a")
    _, expected, _ = predict_json("p.png", "bad.gif")
    done = subprocess.run(
        [sys.executable, "-m", "dlcli", "predict", "p.png", "bad.gif", "--json"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert json.loads(done.stdout) == expected
    assert done.stderr == "dlcli: 1 of 2 could not be read as pictures\n"
