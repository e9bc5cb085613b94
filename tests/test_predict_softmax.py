"""Softmax models after training: ``predict`` gives the most probable class and its
probability, ``evaluate`` a K x K confusion matrix, per-class and macro precision / recall /
F1 and the categorical log-loss. The numbers are worked by hand on a tiny network whose
weights are set here; the spiral goes through ``data spiral`` and the shipped config."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from dlcli.cli import app
from dlcli.config import validate
from dlcli.data.generated import spiral
from dlcli.data.load import load
from dlcli.data.write import write_course_h5
from dlcli.errors import ModelFileError
from dlcli.metrics import softmax_metrics
from dlcli.predict import load_model
from dlcli.runs import write_params

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
COLOURS = ["red", "green", "blue"]


def dlcli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def log_softmax(z: list[float]) -> list[float]:
    """log softmax of one column, by hand: z_k - log sum_j exp(z_j)."""
    top = max(z)
    total = math.log(sum(math.exp(v - top) for v in z)) + top
    return [v - total for v in z]


# ---------------------------------------------------------------- metrics by hand

# Nine examples of three classes. Column i of ZL is example i's logits; the largest wins:
# predicted [0, 0, 1, 1, 2, 2, 2, 0, 1].
Y = np.array([[0, 0, 0, 1, 1, 2, 2, 2, 2]])
ZL = np.array(
    [
        [3.0, 2.0, 0.0, 0.0, 0.0, 0.0, -1.0, 5.0, 0.1],
        [0.0, 1.0, 1.0, 2.0, 0.0, 0.0, -1.0, 1.0, 0.2],
        [0.0, 0.0, 0.5, 0.0, 0.5, 4.0, 0.0, 0.0, -0.3],
    ]
)
# Rows true, columns predicted:
#   true 0: examples 0, 1 -> 0; 2 -> 1            [2, 1, 0]
#   true 1: example 3 -> 1; 4 -> 2                [0, 1, 1]
#   true 2: 5, 6 -> 2; 7 -> 0; 8 -> 1             [1, 1, 2]
CONFUSION = [[2, 1, 0], [0, 1, 1], [1, 1, 2]]


def test_softmax_metrics_by_hand() -> None:
    metrics = softmax_metrics(Y, ZL, COLOURS)
    assert metrics["confusion_matrix"] == CONFUSION
    assert metrics["accuracy"] == 5 / 9  # the diagonal, 2 + 1 + 2
    assert metrics["examples"] == 9
    assert metrics["classes"] == COLOURS
    # Per class: precision = diagonal / column sum, recall = diagonal / row sum.
    # red 2/3, 2/3; green 1/3, 1/2; blue 2/3, 2/4. F1 = 2PR / (P + R).
    expected = [
        ("red", 2 / 3, 2 / 3, 2 / 3, 3),
        ("green", 1 / 3, 1 / 2, 2 / 5, 2),  # 2 * 1/6 / (5/6)
        ("blue", 2 / 3, 1 / 2, 4 / 7, 4),  # 2 * 1/3 / (7/6)
    ]
    for got, (name, precision, recall, f1, support) in zip(
        metrics["per_class"], expected, strict=True
    ):
        assert got["class"] == name
        assert got["precision"] == pytest.approx(precision, rel=1e-15)
        assert got["recall"] == pytest.approx(recall, rel=1e-15)
        assert got["f1"] == pytest.approx(f1, rel=1e-15)
        assert got["support"] == support
    # Macro averages: unweighted means over the three classes.
    assert metrics["macro_precision"] == pytest.approx(5 / 9, rel=1e-15)
    assert metrics["macro_recall"] == pytest.approx(5 / 9, rel=1e-15)  # (2/3 + 1/2 + 1/2) / 3
    assert metrics["macro_f1"] == pytest.approx(172 / 315, rel=1e-15)  # (2/3 + 2/5 + 4/7) / 3
    by_hand = -sum(log_softmax(list(ZL[:, i]))[Y[0, i]] for i in range(9)) / 9
    assert metrics["log_loss"] == pytest.approx(by_hand, rel=1e-14)


def test_softmax_metrics_edge_cases() -> None:
    # A class nobody predicts and nobody is: its precision, recall and F1 are 0.
    metrics = softmax_metrics(np.array([[0, 1]]), np.array([[1.0, 0.0], [0.0, 1.0], [0, 0]]), "abc")
    assert metrics["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [0, 0, 0]]
    assert metrics["per_class"][2] == {
        "class": "c", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0,
    }  # fmt: skip
    assert metrics["macro_f1"] == pytest.approx(2 / 3)
    # Confident mistakes: the log-loss is computed from Z, finite and exact.
    wrong = softmax_metrics(np.array([[0]]), np.array([[-1000.0], [1000.0], [0.0]]), "abc")
    assert wrong["log_loss"] == 2000.0  # a log of a clipped AL would give 34.5 or inf


# ---------------------------------------------------------------- a tiny model set by hand


def colour_model(path: Path) -> None:
    """A [12, 3] softmax network over 2x2 RGB pictures: logit k is the sum of channel k over
    the four pixels, so a picture is predicted as its strongest channel."""
    W1 = np.zeros((3, 12))
    for k in range(3):
        W1[k, k::3] = 1.0  # pixels are flattened in (h, w, c) order
    meta = {
        "layers": [12, 3], "hidden_activation": "relu", "output_activation": "softmax",
        "classes": COLOURS,
        "preprocessing": {"kind": "image", "example_shape": [2, 2, 3], "divide_by": 255.0},
    }  # fmt: skip
    write_params(path, {"W1": W1, "b1": np.zeros((3, 1))}, meta)


# (colour, true label): the predicted label is the strongest channel.
PICTURES = [
    ((255, 0, 0), 0),  # -> red
    ((200, 50, 0), 0),  # -> red
    ((0, 255, 0), 0),  # -> green: a red labelled picture predicted green
    ((0, 255, 0), 1),  # -> green
    ((0, 0, 255), 1),  # -> blue
    ((0, 0, 255), 2),  # -> blue
    ((10, 20, 250), 2),  # -> blue
    ((255, 0, 0), 2),  # -> red
    ((0, 255, 0), 2),  # -> green
]
PREDICTED = [0, 0, 1, 1, 2, 2, 2, 0, 1]  # so the confusion matrix is CONFUSION above


def logits(colour: tuple[int, int, int]) -> list[float]:
    return [4 * c / 255 for c in colour]  # four pixels of the colour, divided by 255


@pytest.fixture
def tiny(in_tmp: Path) -> Path:
    colour_model(in_tmp / "m.h5")
    pixels = np.stack([np.full((2, 2, 3), colour, np.uint8) for colour, _ in PICTURES])
    labels = np.array([label for _, label in PICTURES])
    write_course_h5(in_tmp / "colours.h5", "test_set", pixels, labels, COLOURS)
    return in_tmp


def test_tiny_model_loads(tiny: Path) -> None:
    model = load_model(Path("m.h5"))
    assert (model.output, model.classes, model.n_y) == ("softmax", tuple(COLOURS), 3)


def test_evaluate_tiny_model_by_hand(tiny: Path) -> None:
    code, out, err = dlcli("evaluate", "colours.h5", "--model", "m.h5", "--json")
    assert code == 0, err
    metrics = json.loads(out)
    assert set(metrics) == {
        "accuracy", "macro_precision", "macro_recall", "macro_f1", "per_class",
        "confusion_matrix", "log_loss", "classes", "examples", "model", "data",
        "balanced_accuracy",  # issue 18
    }  # fmt: skip
    assert metrics["confusion_matrix"] == CONFUSION
    assert metrics["accuracy"] == 5 / 9
    assert metrics["macro_f1"] == pytest.approx(172 / 315, rel=1e-15)
    assert [c["support"] for c in metrics["per_class"]] == [3, 2, 4]
    by_hand = -sum(log_softmax(logits(c))[y] for c, y in PICTURES) / len(PICTURES)
    assert metrics["log_loss"] == pytest.approx(by_hand, rel=1e-13)
    assert metrics["data"] == ["colours.h5"]

    code, table, err = dlcli("evaluate", "colours.h5", "--model", "m.h5")
    assert code == 0, err
    assert "55.56 % (5/9)" in table
    assert "predicted red" in table and "predicted blue" in table
    for name, row in zip(COLOURS, CONFUSION, strict=True):
        line = next(line for line in table.splitlines() if f"true {name}" in line)
        assert [t for t in line.replace("│", " ").split() if t.isdigit()] == [str(n) for n in row]
    green = next(line for line in table.splitlines() if line.startswith("│ green"))
    assert green.replace("│", " ").split() == ["green", "0.3333", "0.5000", "0.4000", "2"]

    # The course's mislabeled figure works for K classes: four wrong pictures.
    code, out, err = dlcli("evaluate", "colours.h5", "--model", "m.h5", "--mislabeled", "wrong.png")
    assert code == 0, err
    assert "4 mislabeled pictures drawn in wrong.png" in out
    with Image.open("wrong.png") as im:
        assert im.format == "PNG"


def test_predict_tiny_model_gives_top_class_and_probability(tiny: Path) -> None:
    names = []
    for i, (colour, _) in enumerate(PICTURES[:7]):
        Image.new("RGB", (2, 2), colour).save(f"{i}.png")
        names.append(f"{i}.png")
    code, out, err = dlcli("predict", *names, "--model", "m.h5", "--json")
    assert code == 0, err
    rows = json.loads(out)
    for row, (colour, _), label in zip(rows, PICTURES, PREDICTED, strict=False):
        probabilities = [math.exp(v) for v in log_softmax(logits(colour))]
        assert row["label"] == COLOURS[label]
        assert row["probability"] == pytest.approx(max(probabilities), rel=1e-14)
        assert row["error"] is None
    # Red (255, 0, 0): logits (4, 0, 0), p = e^4 / (e^4 + 2) = 54.598 / 56.598 = 0.96466.
    assert rows[0]["probability"] == pytest.approx(math.exp(4) / (math.exp(4) + 2), rel=1e-14)
    code, table, _ = dlcli("predict", "0.png", "--model", "m.h5")
    assert code == 0 and "red" in table and "0.9647" in table

    code, _, err = dlcli("predict", "0.png", "--model", "m.h5", "--threshold", "0.3")
    assert (code, err) == (
        1,
        "dlcli: error: --threshold: the model m.h5 has a softmax output and predicts its most "
        "probable class; a threshold applies to a sigmoid output only\n",
    )


def test_model_files_that_do_not_add_up(tiny: Path) -> None:
    with h5py.File("m.h5", "r+") as f:
        f.attrs["classes"] = json.dumps(["red", "green"])
    with pytest.raises(ModelFileError) as info:
        load_model(Path("m.h5"))
    assert str(info.value) == (
        "--model m.h5: classes ['red', 'green']; allowed: a list of 3 names "
        "(a softmax output with 3 units)"
    )
    # A file of other classes (or in another order) is refused: labels would mean other things.
    colour_model(Path("m.h5"))
    write_course_h5(
        Path("other.h5"), "test_set", np.zeros((1, 2, 2, 3), np.uint8), np.array([0]),
        ["blue", "green", "red"],
    )  # fmt: skip
    code, _, err = dlcli("evaluate", "other.h5", "--model", "m.h5")
    assert code == 1
    assert err == (
        "dlcli: data error: DATA.h5 other.h5: list_classes ['blue', 'green', 'red']; the model "
        "m.h5 has ['red', 'green', 'blue'] (labels 0, 1, 2 must mean the same classes)\n"
    )


# ---------------------------------------------------------------- a trained picture model


def test_train_on_a_three_class_file_then_predict_and_evaluate(in_tmp: Path) -> None:
    """A tiny course-layout file of three classes trains a softmax model; predict agrees with
    the weights, evaluate with the accuracy training reported."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 60, size=(30, 4, 4, 3), dtype=np.uint8)
    labels = np.repeat([0, 1, 2], 10)
    for i, k in enumerate(labels):
        pixels[i, :, :, k] += 180  # class k is the pictures strong in channel k
    write_course_h5(in_tmp / "train.h5", "train_set", pixels, labels, COLOURS)
    config = {
        "data": {"train": "train.h5"},
        "model": {"layers": [48, 3], "output_activation": "softmax"},
        "init": {"scale": 0.01},
        "train": {"learning_rate": 0.5, "iterations": 100, "log_every": 50},
    }
    Path("c.yaml").write_text(yaml.safe_dump(config))
    code, out, err = dlcli("train", "c.yaml", "--quiet", "--json", "--out", "runs/c")
    assert code == 0, err
    trained = json.loads(out)
    for i in (0, 15, 29):
        Image.fromarray(pixels[i]).save(f"{i}.png")
    code, out, err = dlcli("predict", "0.png", "15.png", "29.png", "--json")
    assert code == 0, err
    with h5py.File("runs/c/params.h5", "r") as f:
        W, b = f["W1"][()], f["b1"][()]
    for row, i in zip(json.loads(out), (0, 15, 29), strict=True):
        z = W @ (pixels[i].reshape(-1, 1) / 255.0) + b  # (3, 1)
        p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        assert row["label"] == COLOURS[labels[i]] == COLOURS[int(p.argmax())]
        assert row["probability"] == pytest.approx(float(p.max()), rel=1e-12)
    code, out, err = dlcli("evaluate", "train.h5", "--json")
    assert code == 0, err
    metrics = json.loads(out)
    assert metrics["accuracy"] == trained["train_accuracy"] == 1.0
    assert metrics["confusion_matrix"] == [[10, 0, 0], [0, 10, 0], [0, 0, 10]]


# ---------------------------------------------------------------- the spiral


def test_data_spiral_file(in_tmp: Path) -> None:
    code, out, err = dlcli("data", "spiral", "--out", "spiral.h5")
    assert code == 0, err
    assert out.splitlines() == [
        "wrote spiral.h5: 300 examples of 2 float64 features, classes arm 0 (0) to arm 2 (2), "
        "100 each",
        "Train on it: dlcli train configs/spiral.yaml --set data.generate=null --set "
        "data.train=spiral.h5",
    ]
    X, Y = spiral(300, 3, 1)
    with h5py.File("spiral.h5", "r") as f:
        assert f["train_set_x"][()].tobytes() == np.ascontiguousarray(X.T).tobytes()
        assert f["train_set_y"][()].tolist() == Y[0].astype(int).tolist()
        assert f["list_classes"][()].tolist() == [b"arm 0", b"arm 1", b"arm 2"]
    code, out, _ = dlcli("data", "info", "spiral.h5", "--json")
    assert json.loads(out)["class_counts"] == [100, 100, 100]

    code, _, err = dlcli(
        "data", "spiral", "--out", "s5.h5", "--examples", "50", "--classes", "5", "--seed", "3"
    )
    assert code == 0, err
    X5, _ = spiral(50, 5, 3)
    with h5py.File("s5.h5", "r") as f:
        assert f["train_set_x"][()].tobytes() == np.ascontiguousarray(X5.T).tobytes()
        assert len(f["list_classes"]) == 5
    for args, message in [
        (["--examples", "100"], "--examples: must be a multiple of --classes 3 (equal arms), "
         "at least 3; found 100"),
        (["--classes", "1"], "--classes: must be 2 to 100, found 1"),
        (["--out", "spiral.h5"], "--out spiral.h5: exists already; pass --force to replace it"),
    ]:  # fmt: skip
        code, _, err = dlcli("data", "spiral", "--out", "new.h5", *args)
        assert (code, err) == (1, f"dlcli: error: {message}\n")


def test_spiral_evaluate_regenerates_the_test_split(in_tmp: Path) -> None:
    """With no DATA, evaluate makes the data.test_fraction split again from the config stored
    in params.h5: the same 60 examples training tested on."""
    code, out, err = dlcli(
        "train", str(CONFIGS / "spiral.yaml"), "--set", "train.iterations=1500",
        "--quiet", "--json", "--out", "runs/spiral",
    )  # fmt: skip
    assert code == 0, err
    trained = json.loads(out)
    code, out, err = dlcli("evaluate", "--model", "runs/spiral", "--json")
    assert code == 0, err
    metrics = json.loads(out)
    assert metrics["examples"] == trained["test_examples"] == 60
    assert metrics["accuracy"] == trained["test_accuracy"]
    assert metrics["data"] == [
        "the test split of data.generate spiral (300 examples, seed 1): "
        "data.test_fraction 0.2, data.split_seed 1, 60 examples"
    ]
    # The same confusion matrix from the weights and the split, computed here.
    with h5py.File("runs/spiral/params.h5", "r") as f:
        w = {k: f[k][()] for k in f}
        cfg = validate(json.loads(f.attrs["config"]), "stored")
    dataset = load(cfg.data, "softmax")
    Z = w["W2"] @ np.maximum(0, w["W1"] @ dataset.X_test + w["b1"]) + w["b2"]  # (3, 60)
    truth, predicted = dataset.Y_test.argmax(axis=0), Z.argmax(axis=0)
    cm = [[int(np.sum((truth == i) & (predicted == j))) for j in range(3)] for i in range(3)]
    assert metrics["confusion_matrix"] == cm
    # And on the whole set written by data spiral.
    assert dlcli("data", "spiral", "--out", "spiral.h5")[0] == 0
    code, out, err = dlcli("evaluate", "--model", "runs/spiral", "spiral.h5", "--json")
    assert code == 0, err
    assert json.loads(out)["examples"] == 300


def test_shipped_spiral_config_reaches_95_percent(in_tmp: Path) -> None:
    """configs/spiral.yaml through the installed dlcli: >= 95 % on the held-out 20 %, and
    evaluate says the same."""
    dlcli_bin = [sys.executable, "-m", "dlcli"]
    done = subprocess.run(
        [*dlcli_bin, "train", str(CONFIGS / "spiral.yaml"), "--quiet", "--json", "--out", "runs/s"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    metrics = json.loads(done.stdout)
    assert metrics["test_examples"] == 60
    assert metrics["test_accuracy"] >= 0.95
    done = subprocess.run(
        [*dlcli_bin, "evaluate", "--model", "runs/s", "--json"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["accuracy"] == metrics["test_accuracy"]
