"""Evaluation: the metrics against confusion matrices worked by hand, then ``dlcli evaluate``
on trained models against the same numbers computed here from the weights with plain NumPy."""

from __future__ import annotations

import json
import math
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from dlcli.cli import app
from dlcli.metrics import classification_metrics, confusion_matrix, regression_metrics

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


def course_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(X (n_x, m), y (m,)) of a course file, read and flattened here."""
    with h5py.File(path, "r") as f:
        key = next(k for k in f if k.endswith("_x"))
        x, y = f[key][()], f[key[:-2] + "_y"][()]
    return x.reshape(len(x), -1).T / 255.0, y


def weights(run_dir: Path) -> dict[str, np.ndarray]:
    with h5py.File(run_dir / "params.h5", "r") as f:
        return {k: f[k][()] for k in f}


# ---------------------------------------------------------------- metrics by hand

Y = np.array([[1, 1, 1, 0, 0, 0, 1, 0]], dtype=np.float64)
ZL = np.array([[2.0, 0.5, -1.0, -3.0, 0.1, -0.2, 4.0, 1.5]])
# AL > 0.5 exactly where Z > 0: predicted [1, 1, 0, 0, 1, 0, 1, 1]
# TP: examples 0, 1, 6; FN: 2; TN: 3, 5; FP: 4, 7.


def test_confusion_matrix_by_hand() -> None:
    predicted = np.array([1, 1, 0, 0, 1, 0, 1, 1])
    cm = confusion_matrix(Y, predicted)
    assert cm.tolist() == [[2, 2], [1, 3]]  # [[TN, FP], [FN, TP]]
    assert cm.dtype == np.int64
    assert confusion_matrix(np.zeros(3), np.ones(3)).tolist() == [[0, 3], [0, 0]]
    assert confusion_matrix(np.ones((1, 2)), np.ones((1, 2))).tolist() == [[0, 0], [0, 2]]


def test_classification_metrics_by_hand() -> None:
    metrics = classification_metrics(Y, ZL)
    assert metrics["confusion_matrix"] == [[2, 2], [1, 3]]
    assert metrics["accuracy"] == 5 / 8
    assert metrics["precision"] == 3 / 5  # TP / (TP + FP)
    assert metrics["recall"] == 3 / 4  # TP / (TP + FN)
    assert metrics["f1"] == pytest.approx(2 / 3, rel=1e-15)  # 2 * 0.6 * 0.75 / 1.35
    assert metrics["examples"] == 8
    assert metrics["threshold"] == 0.5
    # -log(sigmoid(z)) = log(1 + e^-z) for y = 1; -log(1 - sigmoid(z)) = log(1 + e^z) for y = 0.
    by_hand = sum(
        math.log1p(math.exp(-z)) if y else math.log1p(math.exp(z))
        for y, z in zip(Y[0], ZL[0], strict=True)
    )
    assert metrics["log_loss"] == pytest.approx(by_hand / 8, rel=1e-14)


def test_threshold_moves_the_confusion_matrix() -> None:
    # sigmoid: 0.5 -> 0.62, 0.1 -> 0.52 fall under 0.7; 1.5 -> 0.82, 2 -> 0.88, 4 -> 0.98 stay.
    metrics = classification_metrics(Y, ZL, threshold=0.7)
    assert metrics["confusion_matrix"] == [[3, 1], [2, 2]]
    assert metrics["precision"] == 2 / 3
    assert metrics["recall"] == 1 / 2
    assert metrics["f1"] == pytest.approx(4 / 7, rel=1e-15)
    # The log-loss does not depend on the threshold.
    assert metrics["log_loss"] == classification_metrics(Y, ZL)["log_loss"]


def test_zero_division_is_zero() -> None:
    no_positive_prediction = classification_metrics(Y, -np.ones_like(ZL))
    assert no_positive_prediction["confusion_matrix"] == [[4, 0], [4, 0]]
    assert no_positive_prediction["precision"] == 0.0
    assert no_positive_prediction["recall"] == 0.0
    assert no_positive_prediction["f1"] == 0.0
    no_positive_example = classification_metrics(np.zeros((1, 3)), np.array([[-1.0, -2.0, 3.0]]))
    assert no_positive_example["confusion_matrix"] == [[2, 1], [0, 0]]
    assert no_positive_example["recall"] == 0.0
    assert no_positive_example["precision"] == 0.0
    assert no_positive_example["accuracy"] == 2 / 3


def test_log_loss_stays_finite_for_confident_mistakes() -> None:
    metrics = classification_metrics(np.array([[1.0, 0.0]]), np.array([[-1000.0, 1000.0]]))
    assert metrics["log_loss"] == 1000.0  # a clipped log of AL would give 34.5 or inf
    assert classification_metrics(np.array([[1.0]]), np.array([[1000.0]]))["log_loss"] == 0.0


def test_regression_metrics_by_hand() -> None:
    metrics = regression_metrics(np.array([[1.0, 2.0, 3.0, 4.0]]), np.array([[1.5, 2.0, 2.0, 5.0]]))
    # residuals 0.5, 0, -1, 1: SS_res 2.25; mean 2.5, SS_tot 2.25 + 0.25 + 0.25 + 2.25 = 5
    assert metrics == {"mse": 0.5625, "mae": 0.625, "r2": 0.55, "examples": 4}
    constant = np.array([[2.0, 2.0]])
    assert regression_metrics(constant, constant)["r2"] == 1.0
    assert regression_metrics(constant, np.array([[2.0, 3.0]]))["r2"] == 0.0


# ---------------------------------------------------------------- dlcli evaluate on the cat model


def test_evaluate_cat_model_on_its_test_set(
    cat_overrides: list[str], cat_files: tuple[Path, Path], in_tmp: Path
) -> None:
    run_dir = train("cat_logreg.yaml", *cat_overrides, "train.iterations=50", out="runs/cat")
    code, out, err = dlcli("evaluate", "--json")
    assert code == 0, err
    metrics = json.loads(out)
    assert set(metrics) == {
        "accuracy", "precision", "recall", "f1", "confusion_matrix", "log_loss", "examples",
        "threshold", "classes", "positive_class", "model", "data",
        "balanced_accuracy",  # issue 18
    }  # fmt: skip
    assert metrics["model"] == str((in_tmp / run_dir / "params.h5").resolve())
    assert metrics["data"] == [str(cat_files[1])]
    assert metrics["classes"] == ["non-cat", "cat"]
    assert metrics["positive_class"] == "cat"

    # The same numbers from the weights, computed here.
    X, y = course_file(cat_files[1])
    w = weights(run_dir)
    Z = (w["W1"] @ X + w["b1"])[0]
    predicted = (Z > 0).astype(int)
    tp = int(np.sum((predicted == 1) & (y == 1)))
    tn = int(np.sum((predicted == 0) & (y == 0)))
    fp = int(np.sum((predicted == 1) & (y == 0)))
    fn = int(np.sum((predicted == 0) & (y == 1)))
    assert metrics["confusion_matrix"] == [[tn, fp], [fn, tp]]
    assert tn + fp == 17 and fn + tp == 33  # the course's test set: 17 non-cats, 33 cats
    assert fp > 0 and fn > 0 and tp > 0 and tn > 0  # a model that errs both ways
    assert metrics["examples"] == 50
    assert metrics["accuracy"] == (tp + tn) / 50
    assert metrics["precision"] == tp / (tp + fp)
    assert metrics["recall"] == tp / (tp + fn)
    log_loss = np.mean(np.log1p(np.exp(-Z)) * y + np.log1p(np.exp(Z)) * (1 - y))
    assert metrics["log_loss"] == pytest.approx(log_loss, rel=1e-12)
    # ... and the test accuracy training reported.
    trained = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["accuracy"] == trained["test_accuracy"]

    # The table says the same.
    code, table, _ = dlcli("evaluate")
    assert code == 0
    assert f"{100 * metrics['accuracy']:.2f} % ({tp + tn}/50)" in table
    assert f"{metrics['log_loss']:.6f}" in table
    assert "predicted non-cat" in table and "true cat" in table
    row = next(line for line in table.splitlines() if "true cat" in line)
    assert [t for t in row.replace("│", " ").split() if t.isdigit()] == [str(fn), str(tp)]


def test_threshold_and_several_files(
    cat_overrides: list[str], cat_files: tuple[Path, Path], in_tmp: Path
) -> None:
    train("cat_logreg.yaml", *cat_overrides, "train.iterations=50", out="runs/cat")
    train_file, test_file = (str(p) for p in cat_files)
    results = {}
    for args in ([train_file], [test_file], [train_file, test_file]):
        code, out, err = dlcli("evaluate", *args, "--threshold", "0.7", "--json")
        assert code == 0, err
        results[len(args), args[0]] = json.loads(out)
    both = results[2, train_file]
    assert both["examples"] == 259
    assert both["data"] == [train_file, test_file]
    assert both["threshold"] == 0.7
    summed = np.add(
        results[1, train_file]["confusion_matrix"], results[1, test_file]["confusion_matrix"]
    )
    assert both["confusion_matrix"] == summed.tolist()
    # Against the model's own weights at threshold 0.7.
    X, y = course_file(test_file)
    w = weights(Path("runs/cat"))
    predicted = (1 / (1 + np.exp(-(w["W1"] @ X + w["b1"])[0])) > 0.7).astype(int)
    assert results[1, test_file]["accuracy"] == float(np.mean(predicted == y))


def test_mislabeled_grid(cat_overrides: list[str], in_tmp: Path) -> None:
    train("cat_logreg.yaml", *cat_overrides, "train.iterations=50", out="runs/cat")
    code, out, err = dlcli("evaluate", "--mislabeled", "wrong.png")
    assert code == 0, err
    _, js, _ = dlcli("evaluate", "--json")
    (_, fp), (fn, _) = json.loads(js)["confusion_matrix"]
    assert f"{fp + fn} mislabeled pictures drawn in wrong.png" in out
    with Image.open("wrong.png") as im:
        assert im.format == "PNG"
        width, height = im.size
    # Five to a row, each about 2.2 inches (220 px at 100 dpi) wide.
    rows = -(-(fp + fn) // 5)
    assert width == 1100
    assert height > rows * 200


def test_mislabeled_grid_with_none_wrong(tmp_path: Path, in_tmp: Path) -> None:
    """A data set the model gets all right: the figure says so."""
    from dlcli.data.write import write_course_h5

    W = np.zeros((1, 12)) + 0.01  # bright pictures -> cat, dark -> non-cat
    pixels = np.stack([np.full((2, 2, 3), v, np.uint8) for v in (0, 255, 10, 250)])
    write_course_h5(tmp_path / "d.h5", "test_set", pixels, np.array([0, 1, 0, 1]), ["no", "yes"])
    from dlcli.runs import write_params

    meta = {
        "layers": [12, 1], "hidden_activation": "relu", "output_activation": "sigmoid",
        "classes": ["no", "yes"],
        "preprocessing": {"kind": "image", "example_shape": [2, 2, 3], "divide_by": 255.0},
    }  # fmt: skip
    write_params(tmp_path / "m.h5", {"W1": W, "b1": np.array([[-0.06]])}, meta)
    code, out, err = dlcli(
        "evaluate", str(tmp_path / "d.h5"), "--model", str(tmp_path / "m.h5"),
        "--mislabeled", "none.png", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["accuracy"] == 1.0
    with Image.open("none.png") as im:
        assert im.size == (600, 150)


def test_no_model_here(in_tmp: Path) -> None:
    code, out, err = dlcli("evaluate")
    assert code == 1
    assert out == ""
    assert err == (
        "dlcli: model file error: no model: train one with dlcli train CONFIG or pass --model "
        "(found no runs/latest here)\n"
    )


def test_model_without_test_set(in_tmp: Path) -> None:
    train("flower.yaml", "train.iterations=20", out="runs/flower")
    code, _, err = dlcli("evaluate")
    assert code == 1
    assert err.startswith("dlcli: error: --model ")
    assert err.rstrip().endswith(
        "params.h5: its config names no data.test to evaluate on; pass DATA.h5 files (course "
        "layout), e.g. dlcli evaluate test.h5; a generated set can be written with dlcli data "
        "flower --out FILE.h5"
    )


def test_data_that_does_not_fit_the_model(
    cat_overrides: list[str], cat_files: tuple[Path, Path], in_tmp: Path
) -> None:
    train("cat_logreg.yaml", *cat_overrides, "train.iterations=5", out="runs/cat")
    model = (in_tmp / "runs/cat/params.h5").resolve()
    assert dlcli("data", "flower", "--out", "flower.h5")[0] == 0
    code, _, err = dlcli("evaluate", "flower.h5")
    assert code == 1
    assert err == (
        f"dlcli: data error: DATA.h5 flower.h5: holds features of shape (2,); the model {model} "
        "takes pictures of shape (64, 64, 3)\n"
    )
    # Classes in the other order would swap the meaning of every label.
    with h5py.File(cat_files[1], "r") as f, h5py.File("swapped.h5", "w") as g:
        g["test_set_x"], g["test_set_y"] = f["test_set_x"][()], f["test_set_y"][()]
        g["list_classes"] = np.array([b"cat", b"non-cat"])
    code, _, err = dlcli("evaluate", "swapped.h5")
    assert code == 1
    assert err == (
        f"dlcli: data error: DATA.h5 swapped.h5: list_classes ['cat', 'non-cat']; the model "
        f"{model} has ['non-cat', 'cat'] (labels 0, 1 must mean the same classes)\n"
    )
    code, _, err = dlcli("evaluate", "--threshold", "1.5")
    assert (code, err) == (1, "dlcli: error: --threshold: must be between 0 and 1, found 1.5\n")


def test_linear_output_model(in_tmp: Path) -> None:
    """Mean squared error, mean absolute error and R^2; the MSE is twice the final cost
    J = 1/(2m) sum (AL - Y)^2 on the same data."""
    run_dir = train(
        "flower.yaml", "model.output_activation=linear", "train.learning_rate=0.05",
        "train.iterations=200", out="runs/linear",
    )  # fmt: skip
    assert dlcli("data", "flower", "--out", "flower.h5")[0] == 0
    code, out, err = dlcli("evaluate", "flower.h5", "--json")
    assert code == 0, err
    metrics = json.loads(out)
    assert set(metrics) == {"mse", "mae", "r2", "examples", "model", "data"}
    final_cost = json.loads((run_dir / "metrics.json").read_text())["final_cost"]
    assert metrics["mse"] == pytest.approx(2 * final_cost, rel=1e-12)
    with h5py.File("flower.h5", "r") as f:
        X, y = f["train_set_x"][()].T, f["train_set_y"][()]
    w = weights(run_dir)
    AL = (w["W2"] @ np.tanh(w["W1"] @ X + w["b1"]) + w["b2"])[0]
    assert metrics["mae"] == pytest.approx(np.mean(np.abs(AL - y)), rel=1e-12)
    r2 = 1 - np.sum((AL - y) ** 2) / np.sum((y - y.mean()) ** 2)
    assert metrics["r2"] == pytest.approx(r2, rel=1e-12)
    assert 0 < metrics["r2"] < 1
    code, table, _ = dlcli("evaluate", "flower.h5")
    assert f"{metrics['r2']:.6f}" in table
    code, _, err = dlcli("evaluate", "flower.h5", "--mislabeled", "x.png")
    assert code == 1
    assert "only a sigmoid output labels pictures" in err
