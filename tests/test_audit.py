"""The shape audit (``dlcli train --dry-run``): shapes, parameter count, FLOPs and memory
per iteration, the data check, and the command's output and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from typer.testing import CliRunner

from dlcli import audit
from dlcli.cli import app
from dlcli.config import load_config
from dlcli.model import network, sizes
from dlcli.model.sizes import memory_estimate

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
FLOWER = str(CONFIGS / "flower.yaml")
CAT_4LAYER = str(CONFIGS / "cat_4layer.yaml")

# The cat 4-layer network on the 209 training pictures, every array of every layer.
# (l, activation, W, b, Z, A, dZ, dW, db)
CAT_4LAYER_SHAPES = [
    (1, "relu", (20, 12288), (20, 1), (20, 209), (20, 209), (20, 209), (20, 12288), (20, 1)),
    (2, "relu", (7, 20), (7, 1), (7, 209), (7, 209), (7, 209), (7, 20), (7, 1)),
    (3, "relu", (5, 7), (5, 1), (5, 209), (5, 209), (5, 209), (5, 7), (5, 1)),
    (4, "sigmoid", (1, 5), (1, 1), (1, 209), (1, 209), (1, 209), (1, 5), (1, 1)),
]


def _rows(report: audit.Audit) -> list[tuple]:
    return [(r.l, r.activation, r.W, r.b, r.Z, r.A, r.dZ, r.dW, r.db) for r in report.rows]


def _table_row(stdout: str, layer: int) -> list[str]:
    """The cells of one layer's row in the rendered Rich table."""
    lines = [line for line in stdout.splitlines() if line.startswith(f"│ {layer} ")]
    assert len(lines) == 1, stdout
    return [cell.strip() for cell in lines[0].strip("│").split("│")]


def _invoke(*args: str):
    return CliRunner().invoke(app, ["train", *args])


# ---------------------------------------------------------------- the cat 4-layer audit


@pytest.fixture
def cat_report(cat_overrides: list[str]) -> audit.Audit:
    return audit.audit_config(load_config(Path(CAT_4LAYER), cat_overrides))


def test_cat_4layer_shapes(cat_report: audit.Audit) -> None:
    assert cat_report.layers == [12288, 20, 7, 5, 1]
    assert (cat_report.X, cat_report.Y, cat_report.m) == ((12288, 209), (1, 209), 209)
    assert _rows(cat_report) == CAT_4LAYER_SHAPES
    assert cat_report.data_match and cat_report.mismatch is None


def test_cat_4layer_parameter_count(cat_report: audit.Audit) -> None:
    # W1 + b1, W2 + b2, W3 + b3, W4 + b4. (Issue 3 quoted 245,941; the weights alone are
    # 245,940 and the 33 biases bring it to 245,973.)
    assert cat_report.parameters == 12288 * 20 + 20 + 20 * 7 + 7 + 7 * 5 + 5 + 5 * 1 + 1
    assert cat_report.parameters == 245_973
    params = network.init_params(cat_report.layers, 0.01, network.legacy_rng(1))
    assert sum(p.size for p in params.values()) == 245_973


def test_cat_4layer_flops(cat_report: audit.Audit) -> None:
    m = 209
    # Forward Z[l] = W[l] A[l-1]: 2 n[l] n[l-1] m each, l = 1..4.
    forward = 2 * 20 * 12288 * m + 2 * 7 * 20 * m + 2 * 5 * 7 * m + 2 * 1 * 5 * m
    # Backward dW[l] = dZ[l] A[l-1].T, l = 1..4, the same products; dA[l-1] = W[l].T dZ[l]
    # for l = 2..4 only (dA0 is never computed).
    backward = forward + 2 * 7 * 20 * m + 2 * 5 * 7 * m + 2 * 1 * 5 * m
    assert (cat_report.flops.forward, cat_report.flops.backward) == (forward, backward)
    assert cat_report.flops.total == 205_681_080
    # train.engine auto picks the gram engine here: W1 @ X (forward) becomes C @ K with
    # K = X.T X (m, m), dZ1 @ X.T (backward) is skipped; K, W1_0 @ X and W1 are made once.
    assert cat_report.engine == "gram"
    gram = cat_report.gram_flops
    assert gram.forward == forward - 2 * 20 * 12288 * m + 2 * 20 * m * m
    assert gram.backward == backward - 2 * 20 * 12288 * m
    assert cat_report.gram_setup_flops == 2 * m * m * 12288 + 2 * (2 * 20 * 12288 * m)


def test_cat_4layer_memory_is_the_one_estimate(cat_report: audit.Audit) -> None:
    m, f64 = 209, 8
    memory = cat_report.memory
    assert memory.X == 12288 * m * f64
    assert memory.Y == 1 * m * f64
    assert memory.params == memory.grads == 245_973 * f64
    assert memory.caches == 3 * (20 + 7 + 5 + 1) * m * f64  # Z, A and dZ of every layer
    # The Gram engine runs here: K (m, m), and Z1_0, C and momentum's V (n[1], m).
    assert cat_report.engine == "gram"
    assert memory.gram == (m * m + 3 * 20 * m) * f64 == 449_768
    assert memory.total == 24_648_304 + 449_768
    # The figure training checks against free memory (before choosing the engine) is this one.
    assert memory_estimate(cat_report.layers, m, f64) == memory.total - memory.gram
    assert sizes.memory(cat_report.layers, m, 4, "gram").total * 2 == memory.total


def test_cat_4layer_on_the_command_line(cat_overrides: list[str], in_tmp: Path) -> None:
    sets = [arg for item in cat_overrides for arg in ("--set", item)]
    result = _invoke(CAT_4LAYER, "--dry-run", *sets)
    assert result.exit_code == 0, result.output
    assert _table_row(result.stdout, 0) == ["0", "input", "", "", "X (12288, 209)", "", "", ""]
    for layer, activation, W, b, Z, _, dZ, dW, db in CAT_4LAYER_SHAPES:
        cells = [str(layer), activation, *(f"({r}, {c})" for r, c in (W, b, Z, dZ, dW, db))]
        assert _table_row(result.stdout, layer) == cells
    assert "245,973" in result.stdout
    assert "205,681,080" in result.stdout
    assert list(in_tmp.iterdir()) == []


# ---------------------------------------------------------------- FLOPs as executed


class _CountingArray(np.ndarray):
    """An ndarray that records the FLOPs of every matrix product (``@`` or ``np.dot``) it takes
    part in."""

    products: ClassVar[list[int]] = []

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        args = [np.asarray(x) if isinstance(x, _CountingArray) else x for x in inputs]
        if ufunc is np.matmul:
            a, b = args
            _CountingArray.products.append(2 * a.shape[0] * a.shape[1] * b.shape[1])
        result = getattr(ufunc, method)(*args, **kwargs)
        return result.view(_CountingArray) if isinstance(result, np.ndarray) else result

    def __array_function__(self, func, types, args, kwargs):
        args = tuple(np.asarray(x) if isinstance(x, _CountingArray) else x for x in args)
        if func is np.dot:  # network writes its products as np.dot, as the course does
            a, b = args
            _CountingArray.products.append(2 * a.shape[0] * a.shape[1] * b.shape[1])
        result = func(*args, **kwargs)
        return result.view(_CountingArray) if isinstance(result, np.ndarray) else result


@pytest.mark.parametrize(
    ("layers", "m", "hidden"),
    [([12, 20, 7, 5, 1], 9, "relu"), ([3, 1], 5, "tanh"), ([7, 4, 6, 2], 1, "sigmoid")],
)
def test_flops_are_the_products_the_network_runs(layers: list[int], m: int, hidden: str) -> None:
    rng = np.random.default_rng(0)
    params = {
        k: v.view(_CountingArray)
        for k, v in network.init_params(layers, 0.5, network.legacy_rng(0)).items()
    }
    X = rng.standard_normal((layers[0], m)).view(_CountingArray)
    Y = (rng.random((layers[-1], m)) > 0.5).astype(np.float64)
    _CountingArray.products = []
    AL, caches = network.forward(X, params, hidden, "sigmoid")
    forward = sum(_CountingArray.products)
    network.backward(AL, Y, caches, params, hidden)
    backward = sum(_CountingArray.products) - forward
    assert sizes.flops(layers, m) == sizes.Flops(forward=forward, backward=backward)
    assert len(_CountingArray.products) == 3 * (len(layers) - 1) - 1


# ---------------------------------------------------------------- the data check


def test_mismatched_input_layer_names_the_fix() -> None:
    report = audit.audit_config(load_config(Path(FLOWER), ["model.layers=[3, 4, 1]"]))
    assert not report.data_match
    assert report.mismatch == (
        "model.layers[0]: is 3 but the data have n_x = 2 features per example; "
        "set model.layers[0] to 2"
    )
    # The shapes still follow the config, so the table shows where the chain breaks.
    assert report.X == (2, 400) and report.rows[0].W == (4, 3)


def test_mismatched_output_layer_names_the_fix() -> None:
    report = audit.audit_config(load_config(Path(FLOWER), ["model.layers=[2, 4, 3]"]))
    assert report.mismatch == (
        "model.layers[-1]: is 3 but the labels Y have n_y = 1 row; "
        "set the last entry of model.layers to 1"
    )


def test_training_refuses_an_output_layer_the_labels_do_not_have(in_tmp: Path) -> None:
    # Before the check, AL (3, m) - Y (1, m) broadcast and a 3-unit output trained silently.
    result = _invoke(FLOWER, "--set", "model.layers=[2, 4, 3]", "--quiet")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "dlcli: config error: model.layers[-1]: is 3 but the labels Y have n_y = 1 row; "
        "set the last entry of model.layers to 1"
    ]
    assert list(in_tmp.iterdir()) == []


# ---------------------------------------------------------------- the command


@pytest.mark.parametrize(
    ("overrides", "engine"),
    [
        ([], "gram"),
        (["train.optimizer=adam"], "direct"),  # Adam leaves the span of X: training runs direct
        (["train.batch_size=64"], "direct"),
        (["train.optimizer=momentum", "train.l2=0.1"], "gram"),
    ],
)
def test_dry_run_names_the_engine_training_runs(
    cat_overrides: list[str], overrides: list[str], engine: str, in_tmp: Path
) -> None:
    sets = [arg for o in [*cat_overrides, *overrides] for arg in ("--set", o)]
    result = _invoke(CAT_4LAYER, *sets, "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["engine"] == engine
    # Gram's K (m, m) and three (n[1], m) arrays count only when it runs.
    assert (report["memory_bytes"]["gram"] > 0) == (engine == "gram")


def test_dry_run_prints_the_shapes_and_writes_nothing(in_tmp: Path) -> None:
    result = _invoke(FLOWER, "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert _table_row(result.stdout, 0) == ["0", "input", "", "", "X (2, 400)", "", "", ""]
    assert _table_row(result.stdout, 1) == [
        "1",
        "tanh",
        "(4, 2)",
        "(4, 1)",
        "(4, 400)",
        "(4, 400)",
        "(4, 2)",
        "(4, 1)",
    ]
    assert _table_row(result.stdout, 2) == [
        "2",
        "sigmoid",
        "(1, 4)",
        "(1, 1)",
        "(1, 400)",
        "(1, 400)",
        "(1, 4)",
        "(1, 1)",
    ]
    assert " parameters          17 " in result.stdout
    assert list(in_tmp.iterdir()) == []


def test_dry_run_json(in_tmp: Path) -> None:
    result = _invoke(FLOWER, "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    m = 400
    assert (report["layers"], report["X"], report["Y"], report["m"]) == (
        [2, 4, 1],
        [2, 400],
        [1, 400],
        m,
    )
    assert (report["data_match"], report["mismatch"]) == (True, None)
    assert [(s["layer"], s["W"], s["b"], s["Z"], s["dW"]) for s in report["shapes"]] == [
        (1, [4, 2], [4, 1], [4, m], [4, 2]),
        (2, [1, 4], [1, 1], [1, m], [1, 4]),
    ]
    assert report["parameters"] == 4 * 2 + 4 + 1 * 4 + 1
    forward = 2 * 4 * 2 * m + 2 * 1 * 4 * m
    assert (report["flops"]["forward"], report["flops"]["total"]) == (
        forward,
        2 * forward + 2 * 1 * 4 * m,
    )
    assert report["memory_bytes"]["total"] == 8 * (2 * m + 1 * m + 2 * 17 + 3 * 5 * m)
    assert report["engine"] == "direct" and report["gram_flops"] is None
    assert list(in_tmp.iterdir()) == []


def test_dry_run_mismatch_exits_1_with_one_line(in_tmp: Path) -> None:
    result = _invoke(FLOWER, "--dry-run", "--set", "model.layers=[3, 4, 1]")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "dlcli: config error: model.layers[0]: is 3 but the data have n_x = 2 features per "
        "example; set model.layers[0] to 2"
    ]
    assert "MISMATCH" in result.stdout
    assert _table_row(result.stdout, 1)[2] == "(4, 3)"
    assert list(in_tmp.iterdir()) == []

    as_json = _invoke(FLOWER, "--dry-run", "--json", "--set", "model.layers=[3, 4, 1]")
    assert as_json.exit_code == 1
    report = json.loads(as_json.stdout)
    assert report["data_match"] is False
    assert report["mismatch"].endswith("set model.layers[0] to 2")
    assert len(as_json.stderr.splitlines()) == 1


def test_dry_run_in_a_narrow_pipe_keeps_the_table_whole(
    cat_overrides: list[str], in_tmp: Path
) -> None:
    dlcli = Path(sys.executable).with_name("dlcli")
    command = [str(dlcli)] if dlcli.exists() else [sys.executable, "-m", "dlcli"]
    sets = [arg for item in cat_overrides for arg in ("--set", item)]
    env = {**os.environ, "COLUMNS": "80"}
    done = subprocess.run(
        [*command, "train", CAT_4LAYER, "--dry-run", *sets],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert _table_row(done.stdout, 1) == [
        "1",
        "relu",
        "(20, 12288)",
        "(20, 1)",
        "(20, 209)",
        "(20, 209)",
        "(20, 12288)",
        "(20, 1)",
    ]
    assert list(in_tmp.iterdir()) == []


# ---------------------------------------------------------------- streamed data


def _streamed_config(in_tmp: Path, batch_size: int) -> Path:
    """A synthetic file of 230 pictures 6x6x3 (n_x = 108) written by ``dlcli data synth``,
    and a config that streams it in batches of ``batch_size``."""
    synth = ["data", "synth", "--out", "synth.h5", "--examples", "230", "--size", "6"]
    written = CliRunner().invoke(app, [*synth, "--chunk", "64"])
    assert written.exit_code == 0, written.output
    cfg = in_tmp / "stream.yaml"
    cfg.write_text(
        f"data:\n  train: {in_tmp / 'synth.h5'}\n  stream: true\n"
        "model:\n  layers: [108, 5, 1]\n"
        f"train:\n  learning_rate: 0.03\n  epochs: 5\n  batch_size: {batch_size}\n"
    )
    return cfg


def test_dry_run_of_a_streamed_config_counts_one_batch(in_tmp: Path) -> None:
    cfg = _streamed_config(in_tmp, batch_size=50)
    result = _invoke(str(cfg), "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    # The table keeps the data's shapes: X is the file's (108, 230), Z and A all m columns.
    assert (report["X"], report["Y"], report["m"]) == ([108, 230], [1, 230], 230)
    assert [s["Z"] for s in report["shapes"]] == [[5, 230], [1, 230]]
    assert report["engine"] == "direct"
    # Memory is one batch of 50 columns, float64: X 108 x 50, Y 1 x 50, 551 parameters and
    # as many gradients, Z, A and dZ of 5 + 1 units x 50.
    assert report["memory_m"] == 50
    assert report["memory_bytes"] == {
        "X": 43_200,
        "Y": 400,
        "params": 4_408,
        "grads": 4_408,
        "caches": 7_200,
        "gram": 0,
        "total": 59_616,
        "counted": audit.MEMORY_COUNTED
        + " data.stream: true reads X from disk one batch of train.batch_size examples at a "
        "time, so memory counts one batch, m = 50, not the file's 230 examples, for X, Y, Z[l], "
        "A[l] and dZ[l]: the figure training checks against free memory. Shapes and FLOPs are "
        "of all 230 examples: one epoch, not one batch.",
    }
    # The figure dlcli.job.run checks before a streamed run (m = min(m, batch_size)).
    assert memory_estimate([108, 5, 1], 50, 8) == 59_616
    # Loaded instead of streamed, the same config holds all 230 columns.
    loaded = json.loads(
        _invoke(str(cfg), "--dry-run", "--json", "--set", "data.stream=false").stdout
    )
    assert (loaded["memory_m"], loaded["memory_bytes"]["total"]) == (230, 242_496)
    assert loaded["memory_bytes"]["counted"] == audit.MEMORY_COUNTED

    table = _invoke(str(cfg), "--dry-run")
    assert table.exit_code == 0, table.output
    assert _table_row(table.stdout, 0) == ["0", "input", "", "", "X (108, 230)", "", "", ""]
    assert " memory / iteration  59,616 bytes (58.2 KiB) in float64, streamed batch of 50 [2]" in (
        table.stdout
    )
    assert "   X                 43,200 bytes" in table.stdout
    assert sorted(p.name for p in in_tmp.iterdir()) == ["stream.yaml", "synth.h5"]


def test_a_streamed_batch_larger_than_the_file_counts_the_file(in_tmp: Path) -> None:
    cfg = _streamed_config(in_tmp, batch_size=1024)
    report = audit.audit_config(load_config(cfg))
    assert (report.m, report.memory_m, report.stream_batch) == (230, 230, 1024)
    assert report.memory.total == memory_estimate([108, 5, 1], 230, 8) == 242_496
