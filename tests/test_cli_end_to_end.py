"""Whole jobs through the command line, checked against values worked out here: the course's
gradient descent written again in numpy (float32 and float64), a validation file's cost and
accuracy at every logged row, the gradient check's relative difference in long double, and
real subprocesses stopped with SIGINT for resuming and sweeps.

Every run is small (a few hundred iterations of the [2, 4, 1] flower network, or a
subprocess interrupted early) so each test takes a few seconds at most.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner, Result

from dlcli.cli import app
from dlcli.data.generated import flower

FLOWER = Path(__file__).resolve().parents[1] / "configs" / "flower.yaml"
DLCLI = [sys.executable, "-m", "dlcli"]
# The shipped flower config: [2, 4, 1] tanh / sigmoid, init 0.01 randn (seed 2), lr 1.2.
N_H, LR, INIT_SEED, SCALE = 4, 1.2, 2, 0.01


def dlcli(*args: str | Path) -> Result:
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def sets(**keys: object) -> list[str]:
    """``--set`` arguments: sets(train__iterations=300) -> ["--set", "train.iterations=300"]."""
    return [a for k, v in keys.items() for a in ("--set", f"{k.replace('__', '.')}={v}")]


def read_costs(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "costs.csv", newline="") as f:
        return list(csv.DictReader(f))


def read_flower_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """X (2, m), Y (1, m) from a file ``dlcli data flower`` wrote, read with plain h5py."""
    with h5py.File(path, "r") as f:
        return f["train_set_x"][()].T, f["train_set_y"][()].reshape(1, -1).astype(np.float64)


# ---------------------------------------------------------------- the course's algorithm again

Params = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def course_gd(
    X: np.ndarray, Y: np.ndarray, iterations: int, dtype: type, log_every: int
) -> tuple[Params, dict[int, Params]]:
    """The course's nn_model for one tanh hidden layer, in ``dtype``: W1 then W2 drawn from
    RandomState(seed).randn times the scale, zero biases; forward, cross-entropy, backward
    and an update per iteration.

    Returns
    -------
    params : (W1, b1, W2, b2) after the last update
    logged : iteration -> the parameters before that iteration's update, for the rows
        costs.csv logs (every ``log_every``-th and the last)
    """
    rng = np.random.RandomState(INIT_SEED)
    W1 = (rng.randn(N_H, X.shape[0]) * SCALE).astype(dtype)  # (n_h, n_x)
    W2 = (rng.randn(1, N_H) * SCALE).astype(dtype)  # (1, n_h)
    b1, b2 = np.zeros((N_H, 1), dtype), np.zeros((1, 1), dtype)
    X, Y = X.astype(dtype), Y.astype(dtype)
    m = X.shape[1]
    logged = {}
    for i in range(iterations):
        if i % log_every == 0 or i == iterations - 1:
            logged[i] = (W1.copy(), b1.copy(), W2.copy(), b2.copy())
        A1 = np.tanh(W1 @ X + b1)  # (n_h, m)
        A2 = 1 / (1 + np.exp(-(W2 @ A1 + b2)))  # (1, m)
        dZ2 = A2 - Y
        dZ1 = (W2.T @ dZ2) * (1 - A1**2)  # (n_h, m)
        W2 -= LR * (dZ2 @ A1.T) / m
        b2 -= LR * dZ2.sum(axis=1, keepdims=True) / m
        W1 -= LR * (dZ1 @ X.T) / m
        b1 -= LR * dZ1.sum(axis=1, keepdims=True) / m
    return (W1, b1, W2, b2), logged


def cost_and_accuracy(params: Params, X: np.ndarray, Y: np.ndarray) -> tuple[float, float]:
    """Cross-entropy (from the logits: log(1 + e^z) - y z) and the share of AL > 0.5 == Y,
    in float64."""
    W1, b1, W2, b2 = (p.astype(np.float64) for p in params)
    Z2 = W2 @ np.tanh(W1 @ X + b1) + b2  # (1, m)
    cost = float(np.mean(np.logaddexp(0, Z2) - Y * Z2))
    return cost, float(np.mean((Z2 > 0) == (Y == 1)))  # AL > 0.5 exactly when Z > 0


def params_file(run_dir: Path) -> tuple[Params, dict[str, np.dtype]]:
    with h5py.File(run_dir / "params.h5", "r") as f:
        params = tuple(f[k][()] for k in ("W1", "b1", "W2", "b2"))
        return params, {k: f[k].dtype for k in f}


# ---------------------------------------------------------------- train.dtype: float32


def test_float32_run_end_to_end(in_tmp: Path) -> None:
    """float32 arithmetic, parameters saved as float64 (README: "params are saved as
    float64"): every saved weight and logged cost is a float32 number, and the run follows
    the course's algorithm done in float32 here."""
    out = dlcli(
        "train",
        FLOWER,
        *sets(train__dtype="float32", train__iterations=300, train__log_every=100),
        "--json",
    )
    assert out.exit_code == 0, out.output
    metrics = json.loads(out.stdout)
    run_dir = in_tmp / "runs" / "flower"
    saved, dtypes = params_file(run_dir)
    assert dtypes == dict.fromkeys(("W1", "b1", "W2", "b2"), np.dtype("float64"))
    for array in saved:
        assert np.array_equal(array.astype(np.float32).astype(np.float64), array)

    X, Y = flower(400, 1)
    ours, logged = course_gd(X, Y, 300, np.float32, log_every=100)
    for mine, theirs in zip(ours, saved, strict=True):
        # Two float32 computations summing in other orders drift apart by a few ulps a step.
        np.testing.assert_allclose(theirs, mine, rtol=1e-4, atol=1e-6)
    rows = read_costs(run_dir)
    assert [int(r["iteration"]) for r in rows] == [0, 100, 200, 299]
    for row in rows:
        cost = float(row["cost"])
        assert float(np.float32(cost)) == cost  # computed in float32
        expected, _ = cost_and_accuracy(logged[int(row["iteration"])], X, Y)
        assert cost == pytest.approx(expected, rel=1e-5)

    # The accuracy of the saved weights, counted here: 350 of the 400 flower points.
    _, accuracy = cost_and_accuracy(saved, X, Y)
    assert accuracy == cost_and_accuracy(ours, X, Y)[1] == 350 / 400
    assert metrics["train_accuracy"] == accuracy
    assert metrics["final_cost"] == pytest.approx(cost_and_accuracy(saved, X, Y)[0], rel=1e-5)


# ---------------------------------------------------------------- data.validation


def test_validation_file_gives_validation_columns(in_tmp: Path) -> None:
    for name, examples, seed in (("train.h5", 400, 1), ("val.h5", 120, 5)):
        made = dlcli("data", "flower", "--out", name, "--examples", examples, "--seed", seed)
        assert made.exit_code == 0, made.output
    config = in_tmp / "val.yaml"
    config.write_text(
        FLOWER.read_text()
        .replace("  generate:\n    name: flower\n    examples: 400\n    seed: 1\n", "")
        .replace("data:\n", "data:\n  train: train.h5\n  validation: val.h5\n")
    )
    assert "generate" not in config.read_text() and "validation: val.h5" in config.read_text()
    out = dlcli("train", config, *sets(train__iterations=300, train__log_every=100), "--json")
    assert out.exit_code == 0, out.output
    metrics = json.loads(out.stdout)

    X, Y = read_flower_file(in_tmp / "train.h5")
    X_val, Y_val = read_flower_file(in_tmp / "val.h5")
    assert X_val.shape == (2, 120)
    ours, logged = course_gd(X, Y, 300, np.float64, log_every=100)
    run_dir = in_tmp / "runs" / "val"
    rows = read_costs(run_dir)
    assert list(rows[0]) == ["iteration", "epoch", "cost", "validation_cost", "validation_accuracy"]
    assert [int(r["iteration"]) for r in rows] == [0, 100, 200, 299]
    for row in rows:
        params = logged[int(row["iteration"])]
        cost, _ = cost_and_accuracy(params, X, Y)
        val_cost, val_accuracy = cost_and_accuracy(params, X_val, Y_val)
        assert float(row["cost"]) == pytest.approx(cost, rel=1e-10)
        assert float(row["validation_cost"]) == pytest.approx(val_cost, rel=1e-10)
        assert float(row["validation_accuracy"]) == val_accuracy
    # The curve moved: the validation cost fell from log 2 (AL = 0.5 for tiny weights).
    assert float(rows[0]["validation_cost"]) == pytest.approx(np.log(2), abs=1e-3)
    assert float(rows[-1]["validation_cost"]) < 0.5
    saved, _ = params_file(run_dir)
    assert metrics["validation_examples"] == 120
    assert metrics["validation_accuracy"] == cost_and_accuracy(saved, X_val, Y_val)[1]
    np.testing.assert_allclose(saved[0], ours[0], rtol=1e-9)


# ---------------------------------------------------------------- subprocesses and signals


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"ended early with {proc.returncode}: {proc.communicate()}"
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def test_resume_refused_after_the_training_data_changed(in_tmp: Path) -> None:
    made = dlcli("data", "flower", "--out", "train.h5", "--examples", 4000)
    assert made.exit_code == 0, made.output
    config = in_tmp / "big.yaml"
    config.write_text(
        "data:\n  train: train.h5\nmodel:\n  layers: [2, 50, 1]\n  hidden_activation: tanh\n"
        "train:\n  learning_rate: 1.2\n  iterations: 1000000\n  checkpoint_every: 50\n"
    )
    proc = subprocess.Popen(
        [*DLCLI, "train", "big.yaml", "--quiet"], cwd=in_tmp, stderr=subprocess.PIPE, text=True
    )
    run_dir = in_tmp / "runs" / "big"
    # Written to a temporary name and renamed: once it exists, it is whole.
    wait_for(lambda: (run_dir / "checkpoint.h5").exists(), proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted at iteration" in err and "--out runs/big --resume" in err
    saved = (run_dir / "checkpoint.h5").read_bytes()

    # The same file name, other examples (another seed).
    made = dlcli("data", "flower", "--out", "train.h5", "--examples", 4000, "--seed", 2, "--force")
    assert made.exit_code == 0, made.output
    out = dlcli("train", "big.yaml", "--resume", "--quiet")
    assert out.exit_code == 1
    assert out.stdout == ""
    assert out.stderr == (
        "dlcli: config error: --resume: runs/big was trained on other data than train.h5 "
        "holds now\n"
    )
    assert (run_dir / "checkpoint.h5").read_bytes() == saved
    assert not (run_dir / "metrics.json").exists()


SWEEP = (
    "base: {base}\n"
    "set: [train.iterations={iterations}, train.log_every=10]\n"
    "grid:\n"
    "  init.seed: [1, 2]\n"
    "metric: final_cost\n"
)


def write_sweep(path: Path, iterations: int | list[int] = 20) -> Path:
    text = SWEEP.format(base=FLOWER, iterations=iterations)
    if isinstance(iterations, list):  # one trial per iteration count instead
        text = SWEEP.format(base=FLOWER, iterations=1).replace(
            "set: [train.iterations=1, train.log_every=10]\ngrid:\n  init.seed: [1, 2]\n",
            f"set: [train.log_every=10]\ngrid:\n  train.iterations: {iterations}\n",
        )
    path.write_text(text)
    return path


def results(sweep_dir: Path) -> list[dict[str, str]]:
    with open(sweep_dir / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def trial_stamps(sweep_dir: Path) -> dict[str, int]:
    trials = sweep_dir / "trials"
    return {t.name: (t / "metrics.json").stat().st_mtime_ns for t in trials.glob("[0-9]*")}


def test_sweep_resume_and_quiet(in_tmp: Path) -> None:
    write_sweep(in_tmp / "s.yaml")
    first = dlcli("sweep", "s.yaml", "--out", "sw", "--workers", 1, "--quiet")
    assert first.exit_code == 0, first.output
    assert first.stderr == ""  # --quiet: no progress
    assert "final_cost" in first.stdout and "sweep.png" in first.stdout  # the table still shows
    before, stamps = results(in_tmp / "sw"), trial_stamps(in_tmp / "sw")
    assert [r["status"] for r in before] == ["ok", "ok"] and sorted(stamps) == ["000", "001"]

    again = dlcli("sweep", "s.yaml", "--out", "sw", "--workers", 1)
    assert again.exit_code == 1
    assert again.stderr.startswith("dlcli: ") and again.stderr.count("\n") == 1
    assert "already holds files; add --resume" in again.stderr

    # --resume keeps both finished trials: nothing is trained again. Without --quiet, off a
    # terminal, one progress line per trial on stderr.
    resumed = dlcli("sweep", "s.yaml", "--out", "sw", "--workers", 1, "--resume")
    assert resumed.exit_code == 0, resumed.output
    lines = resumed.stderr.splitlines()
    assert [line.split("  ")[0] for line in lines] == ["1/2 done", "2/2 done"]
    assert sorted(line.split("  ")[2] for line in lines) == ["init.seed=1", "init.seed=2"]
    costs = sorted(f"final_cost {float(r['final_cost']):.6g}" for r in before)
    assert sorted(line.split("  ")[4] for line in lines) == costs
    assert results(in_tmp / "sw") == before
    assert trial_stamps(in_tmp / "sw") == stamps

    # Other swept values in the same sweep directory are refused, nothing run.
    write_sweep(in_tmp / "s.yaml", iterations=21)
    other = dlcli("sweep", "s.yaml", "--out", "sw", "--workers", 1, "--resume")
    assert other.exit_code == 1
    assert other.stderr.startswith("dlcli: ") and other.stderr.count("\n") == 1
    assert "train.iterations: 20 -> 21" in other.stderr
    assert results(in_tmp / "sw") == before


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)  # signal 0: only asks whether the group has a process
    except ProcessLookupError:
        return False
    return True


def test_sweep_ctrl_c_stops_the_workers_and_says_how_to_resume(in_tmp: Path) -> None:
    """Ctrl-C on a terminal signals the whole foreground process group: the sweep and its
    workers. Trial 0 is quick, trial 1 would take minutes."""
    write_sweep(in_tmp / "s.yaml", iterations=[20, 10_000_000])
    proc = subprocess.Popen(
        [*DLCLI, "sweep", "s.yaml", "--out", "sw", "--workers", "1"],
        cwd=in_tmp,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a shell gives a job
    )
    try:
        wait_for(lambda: (in_tmp / "sw" / "results.csv").exists(), proc)
        os.killpg(proc.pid, signal.SIGINT)
        started = time.monotonic()
        out, err = proc.communicate(timeout=30)
        assert time.monotonic() - started < 20  # the long trial did not run to its end
        end = started + 20
        while group_alive(proc.pid):  # the worker is gone too, soon after
            assert time.monotonic() < end, "a worker outlived the sweep"
            time.sleep(0.05)
    finally:
        if group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert err.splitlines()[-1] == (
        "dlcli: sweep interrupted; finished trials are in sw/results.csv. "
        "Resume with: dlcli sweep s.yaml --out sw --resume"
    )
    assert out == ""
    [row] = results(in_tmp / "sw")
    assert (row["trial"], row["train.iterations"], row["status"]) == ("0", "20", "ok")
    assert not (in_tmp / "sw" / "trials" / "001" / "metrics.json").exists()


# ---------------------------------------------------------------- gradcheck


def gradcheck_json(*args: str | float) -> tuple[int, dict]:
    out = dlcli("gradcheck", FLOWER, *map(str, args), "--json")
    assert out.stderr == ""
    return out.exit_code, json.loads(out.stdout)


def test_gradcheck_seed_draws_other_examples_and_repeats_itself() -> None:
    outputs = {seed: dlcli("gradcheck", FLOWER, "--seed", seed, "--json") for seed in (1, 2, 3)}
    assert all(o.exit_code == 0 for o in outputs.values())
    assert dlcli("gradcheck", FLOWER, "--seed", 1, "--json").stdout == outputs[1].stdout
    differences = {json.loads(o.stdout)["relative_difference"] for o in outputs.values()}
    assert len(differences) == 3  # each seed checks other examples
    # The table (with its worst coordinates) repeats too.
    table = dlcli("gradcheck", FLOWER, "--seed", 2)
    assert table.exit_code == 0 and table.stdout == dlcli("gradcheck", FLOWER, "--seed", 2).stdout


def relative_difference_by_hand(epsilon: float) -> tuple[float, dict[str, float]]:
    """||grad - gradapprox|| / (||grad|| + ||gradapprox||) for the [2, 3, 1] tanh / sigmoid
    network of init.scale 1 (seed 2) on the 8-point flower: grad by backpropagation in
    float64, gradapprox = (J(theta + eps) - J(theta - eps)) / (2 eps) with J in long double,
    every coordinate, overall and per tensor."""
    X, Y = flower(8, 1)
    rng = np.random.RandomState(INIT_SEED)
    params = {"W1": rng.randn(3, 2), "b1": np.zeros((3, 1)), "W2": rng.randn(1, 3)}
    params["b2"] = np.zeros((1, 1))

    def J(p: dict[str, np.ndarray], dtype: type) -> np.ndarray:
        X_, Y_ = X.astype(dtype), Y.astype(dtype)
        Z2 = p["W2"].astype(dtype) @ np.tanh(p["W1"].astype(dtype) @ X_ + p["b1"]) + p["b2"]
        return np.mean(np.logaddexp(dtype(0), Z2) - Y_ * Z2)

    A1 = np.tanh(params["W1"] @ X + params["b1"])
    dZ2 = (1 / (1 + np.exp(-(params["W2"] @ A1 + params["b2"]))) - Y) / 8
    dZ1 = (params["W2"].T @ dZ2) * (1 - A1**2)
    grad = {"W1": dZ1 @ X.T, "b1": dZ1.sum(1, keepdims=True), "W2": dZ2 @ A1.T}
    grad["b2"] = dZ2.sum(1, keepdims=True)
    approx = {}
    for name, theta in params.items():
        approx[name] = np.zeros_like(theta)
        for index in np.ndindex(theta.shape):
            values = []
            for sign in (1, -1):
                shifted = {k: v.astype(np.longdouble) for k, v in params.items()}
                shifted[name][index] += sign * np.longdouble(epsilon)
                values.append(J(shifted, np.longdouble))
            approx[name][index] = float((values[0] - values[1]) / (2 * np.longdouble(epsilon)))

    def difference(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.linalg.norm(a - b) / (np.linalg.norm(a) + np.linalg.norm(b)))

    flat = [np.concatenate([d[k].ravel() for k in params]) for d in (grad, approx)]
    return difference(*flat), {k: difference(grad[k], approx[k]) for k in params}


def test_gradcheck_epsilon_and_threshold_take_effect() -> None:
    """eps = 1e-3 leaves the centered difference's O(eps^2) error (about 1e-7 here), which
    the check must report as computed here; the threshold then decides pass or fail."""
    small = ["--set", "data.generate.examples=8", "--set", "model.layers=[2,3,1]"]
    small += ["--set", "init.scale=1", "--examples", "8"]
    expected, per_tensor = relative_difference_by_hand(1e-3)
    assert 1e-9 < expected < 1e-5

    code, report = gradcheck_json(*small, "--epsilon", 1e-3, "--threshold", 2 * expected)
    assert code == 0 and report["passed"] is True
    assert report["threshold"] == 2 * expected
    assert report["relative_difference"] == pytest.approx(expected, rel=1e-4)
    for name, value in per_tensor.items():
        assert report["parameters"][name]["relative_difference"] == pytest.approx(value, rel=1e-4)
        assert report["parameters"][name]["checked"] == {"W1": 6, "b1": 3, "W2": 3, "b2": 1}[name]

    code, report = gradcheck_json(*small, "--epsilon", 1e-3, "--threshold", expected / 2)
    assert code == 1 and report["passed"] is False
    assert report["relative_difference"] == pytest.approx(expected, rel=1e-4)

    # The default eps (1e-7) on the same network is a thousand times closer.
    code, report = gradcheck_json(*small)
    assert code == 0 and report["relative_difference"] < expected / 1000


# ---------------------------------------------------------------- -h


@pytest.mark.parametrize("command", [[], ["train"], ["sweep"], ["data"], ["data", "synth"]])
def test_h_is_help(command: list[str]) -> None:
    long, short = dlcli(*command, "--help"), dlcli(*command, "-h")
    assert long.exit_code == short.exit_code == 0
    assert short.stdout == long.stdout
    assert "Usage:" in short.stdout and "Show this message and exit." in short.stdout
