"""A course file read for mini-batches is laid out example-major (F order), so batches are
gathered from rows without a transposing copy of X. The values are the course's
``reshape(m, -1).T / 255``, and training on it gives the bytes training on the C-order X
gives: the same costs and parameters."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dlcli.cli import app
from dlcli.config import load_config
from dlcli.data.load import load
from dlcli.training.loop import train
from dlcli.training.plan import options_from

REPO = Path(__file__).resolve().parents[1]


def write_pictures(path: Path, m: int) -> Path:
    spec = importlib.util.spec_from_file_location(
        "mnist_like", REPO / "benchmarks" / "mnist_like.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write(path, m, seed=2)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    pictures = write_pictures(tmp_path / "p.h5", 300)
    path = tmp_path / "c.yaml"
    path.write_text(
        f"data:\n  train: {pictures}\n  test_fraction: 0.2\n"
        "model:\n  layers: [784, 16, 10]\n  output_activation: softmax\n"
        "init:\n  scale: he\n  seed: 3\n"
        "train:\n  optimizer: adam\n  learning_rate: 0.002\n  batch_size: 32\n  epochs: 2\n"
        "  log_every: 5\n"
    )
    return path


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_read_for_batches_is_the_same_numbers_example_major(config: Path, dtype: str) -> None:
    cfg = load_config(config, [f"train.dtype={dtype}"])
    rows = load(cfg.data, "softmax", np.dtype(dtype), batch_size=32)
    columns = load(cfg.data, "softmax", np.dtype(dtype))
    assert rows.X_train.shape == columns.X_train.shape == (784, 240)
    assert rows.X_train.tobytes(order="C") == columns.X_train.tobytes(order="C")
    assert rows.X_test.tobytes(order="C") == columns.X_test.tobytes(order="C")
    assert rows.digest == columns.digest


def test_training_on_either_layout_gives_the_same_bytes(config: Path) -> None:
    cfg = load_config(config)
    data = load(cfg.data, "softmax", np.float64, batch_size=32)
    from dlcli.runs import initial_params

    params = initial_params(cfg, 784, 240, 10)
    results = {}
    for layout in ("F", "C"):
        X = np.asarray(data.X_train, order=layout)
        assert X.flags.f_contiguous == (layout == "F")
        results[layout] = train(
            X, data.Y_train, {k: v.copy() for k, v in params.items()}, hidden="relu",
            output="softmax", learning_rate=0.002, iterations=16, log_every=5,
            options=options_from(cfg),
        )  # fmt: skip
    F, C = results["F"], results["C"]
    assert [row["cost"] for row in F.log] == [row["cost"] for row in C.log]
    for key in C.params:
        assert F.params[key].tobytes() == C.params[key].tobytes(), key


def test_a_cli_run_reads_example_major_and_trains_as_before(config: Path, tmp_path: Path) -> None:
    """Through dlcli train: the run with mini-batches, and the same run with dropout off by
    another route (train.engine: direct and keep_prob 1 are the defaults; a batch of all the
    examples reads C order): both train, and the mini-batch run's costs are those of train()
    on the C-order X (the test above)."""
    runner = CliRunner()
    done = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "r"), "--quiet"])
    assert done.exit_code == 0, done.output
    lines = (tmp_path / "r" / "costs.csv").read_text().splitlines()
    cfg = load_config(config)
    data = load(cfg.data, "softmax", np.float64)  # C order, as before
    from dlcli.runs import initial_params

    params = initial_params(cfg, 784, 240, 10)
    result = train(
        np.ascontiguousarray(data.X_train), data.Y_train, params, hidden="relu",
        output="softmax", learning_rate=0.002, iterations=16, log_every=5,
        options=options_from(cfg),
    )  # fmt: skip
    costs = [float(line.split(",")[2]) for line in lines[1:]]
    assert costs == [row["cost"] for row in result.log]
