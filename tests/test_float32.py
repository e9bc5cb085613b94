"""``train.dtype: float32`` end to end on the mini-batch path of the MNIST-shaped benchmark
(issue 14, point 5): a softmax network trained with Adam in mini-batches through the CLI, once
in float64 and once in float32, on the same small seeded files from ``benchmarks/mnist_like.py``.

What a float32 run promises, checked here: its arithmetic is float32 (every logged cost is a
float32 number), the model file holds float64 arrays whose every value is a float32 number
(docs/config.md: "params are saved as float64", so a course notebook reads either run the
same way), its metrics describe the saved weights, and it learns what the float64 run learns:
costs within 1e-5 relative at every logged row, accuracies within 1 percentage point.
"""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from dlcli.cli import app

REPO = Path(__file__).resolve().parents[1]
# [784, 32, 10] relu/softmax, Adam, 600 pictures in batches of 64 (10 a epoch), 3 epochs.
LAYERS, M_TRAIN, M_TEST, BATCH, EPOCHS = [784, 32, 10], 600, 200, 64, 3
STEPS = EPOCHS * -(-M_TRAIN // BATCH)  # the last batch of each epoch is short (24 pictures)
COST_RTOL = 1e-5  # float32 rounds each step at ~6e-8 relative; 30 Adam steps stay far below
ACCURACY_GAP = 0.01  # one percentage point: 6 train or 2 test pictures


def mnist_like():
    spec = importlib.util.spec_from_file_location(
        "mnist_like", REPO / "benchmarks" / "mnist_like.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The two run directories, {"float64": ..., "float32": ...}, from one config."""
    tmp = tmp_path_factory.mktemp("float32")
    write = mnist_like().write
    train, test = write(tmp / "train.h5", M_TRAIN, seed=0), write(tmp / "test.h5", M_TEST, seed=1)
    config = tmp / "mnist.yaml"
    config.write_text(
        f"data:\n  train: {train}\n  test: {test}\n"
        f"model:\n  layers: {LAYERS}\n  hidden_activation: relu\n  output_activation: softmax\n"
        "init:\n  scale: he\n  seed: 1\n"
        f"train:\n  optimizer: adam\n  learning_rate: 0.001\n  batch_size: {BATCH}\n"
        f"  epochs: {EPOCHS}\n  log_every: 10\n"
    )
    out = {}
    for dtype in ("float64", "float32"):
        out[dtype] = tmp / dtype
        args = ["train", str(config), "--out", str(out[dtype]), "--set", f"train.dtype={dtype}"]
        result = CliRunner().invoke(app, [*args, "--quiet"])
        assert result.exit_code == 0, result.output
    return out


def read_set(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """X (784, m) pixels / 255 in float64 and y (m,) labels, read with plain h5py."""
    with h5py.File(path, "r") as f:
        raw, y = f["train_set_x"][()], f["train_set_y"][()]
    return raw.reshape(raw.shape[0], -1).T / 255.0, y


def measure(params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Softmax cross-entropy (from the logits) and accuracy of the saved weights, in float64."""
    A1 = np.maximum(0, params["W1"] @ X + params["b1"])  # (32, m)
    Z2 = params["W2"] @ A1 + params["b2"]  # (10, m)
    top = Z2.max(axis=0)
    log_sum = top + np.log(np.exp(Z2 - top).sum(axis=0))  # log sum_k e^z_k, stably
    cost = float(np.mean(log_sum - Z2[y, np.arange(y.size)]))
    return cost, float(np.mean(Z2.argmax(axis=0) == y))


def saved(run_dir: Path) -> dict[str, np.ndarray]:
    with h5py.File(run_dir / "params.h5", "r") as f:
        return {k: f[k][()] for k in ("W1", "b1", "W2", "b2")}


def costs(run_dir: Path) -> dict[int, float]:
    with open(run_dir / "costs.csv", newline="") as f:
        return {int(row["iteration"]): float(row["cost"]) for row in csv.DictReader(f)}


def test_float32_run_saves_float32_numbers_and_its_metrics(runs: dict[str, Path]) -> None:
    run_dir = runs["float32"]
    params = saved(run_dir)
    assert {k: (v.shape, v.dtype) for k, v in params.items()} == {
        "W1": ((32, 784), np.dtype("float64")),
        "b1": ((32, 1), np.dtype("float64")),
        "W2": ((10, 32), np.dtype("float64")),
        "b2": ((10, 1), np.dtype("float64")),
    }
    for value in params.values():  # float32 weights, stored exactly as float64
        assert np.array_equal(value.astype(np.float32).astype(np.float64), value)
    logged = costs(run_dir)
    assert list(logged) == [0, 10, 20, STEPS - 1]
    assert all(float(np.float32(c)) == c for c in logged.values())  # computed in float32

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["iterations"] == STEPS == 30
    assert (metrics["epochs"], metrics["train_examples"]) == (EPOCHS, M_TRAIN)
    assert (metrics["optimizer"], metrics["engine"]) == ("adam", "direct")
    assert float(np.float32(metrics["final_cost"])) == metrics["final_cost"]
    tmp = run_dir.parent
    cost, train_accuracy = measure(params, *read_set(tmp / "train.h5"))
    assert metrics["final_cost"] == pytest.approx(cost, rel=COST_RTOL)
    assert metrics["train_accuracy"] == train_accuracy
    assert metrics["test_accuracy"] == measure(params, *read_set(tmp / "test.h5"))[1]


def test_float32_learns_what_float64_learns(runs: dict[str, Path]) -> None:
    """Costs within 1e-5 relative at every logged row (they agree to about 1e-7 here), and
    accuracies within one percentage point: both runs reach 80.5 % train (483/600) and 76 %
    test (152/200)."""
    ours, reference = costs(runs["float32"]), costs(runs["float64"])
    assert list(ours) == list(reference)
    for iteration, cost in reference.items():
        assert ours[iteration] == pytest.approx(cost, rel=COST_RTOL)
    assert reference[0] == pytest.approx(np.log(10), rel=0.05)  # 10 classes, near-uniform start
    assert reference[STEPS - 1] < 0.55 * reference[0]  # it learned

    metrics = {d: json.loads((runs[d] / "metrics.json").read_text()) for d in runs}
    assert metrics["float64"]["train_accuracy"] == 483 / 600
    assert metrics["float64"]["test_accuracy"] == 152 / 200
    for key in ("train_accuracy", "test_accuracy"):
        gap = metrics["float32"][key] - metrics["float64"][key]
        assert abs(gap) <= ACCURACY_GAP, (key, gap)
