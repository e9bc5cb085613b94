"""Interrupted and killed runs resume bit-exactly; divergence keeps the last finite parameters."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

FLOWER = Path(__file__).resolve().parents[1] / "configs" / "flower.yaml"
# About 2 ms an iteration: slow enough to be killed at random points, quick overall.
SLOW = [
    "--set", "data.generate.examples=4000",
    "--set", "model.layers=[2,50,1]",
    "--set", "train.iterations=1200",
    "--set", "train.checkpoint_every=100",
    "--set", "train.log_every=50",
]  # fmt: skip
DLCLI = [sys.executable, "-m", "dlcli"]


def _train(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*DLCLI, "train", str(FLOWER), *SLOW, "--quiet", *args],
        cwd=cwd,
        stderr=subprocess.PIPE,
        text=True,
    )


def _weights(run_dir: Path) -> dict[str, bytes]:
    with h5py.File(run_dir / "params.h5", "r") as f:
        return {k: f[k][()].tobytes() for k in f}


def _checkpoint_iteration(run_dir: Path) -> int:
    try:
        with h5py.File(run_dir / "checkpoint.h5", "r") as f:
            return int(f.attrs["iteration"])
    except (OSError, KeyError):
        return -1


def _wait_for_progress(
    run_dir: Path, proc: subprocess.Popen, after: int, timeout: float = 120
) -> int:
    """Wait until the process has written a checkpoint past iteration ``after`` (or ended)."""
    end = time.monotonic() + timeout
    while (iteration := _checkpoint_iteration(run_dir)) <= after:
        if proc.poll() is not None:
            return iteration
        assert time.monotonic() < end, f"no checkpoint past iteration {after} in {run_dir}"
        time.sleep(0.02)
    return iteration


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run of the same config."""
    cwd = tmp_path_factory.mktemp("reference")
    proc = _train("--out", "runs/ref", cwd=cwd)
    assert proc.wait() == 0, proc.stderr.read()
    return cwd / "runs" / "ref"


def test_sigkill_at_random_points_then_resume_is_bit_exact(reference: Path, tmp_path: Path) -> None:
    rng = random.Random(20261123)
    run_dir = tmp_path / "runs" / "flower"
    proc = _train("--out", "runs/flower", cwd=tmp_path)
    kills, seen = 0, -1
    while kills < 3:
        # Each round makes progress first (a new checkpoint), then dies at a random moment.
        seen = _wait_for_progress(run_dir, proc, seen)
        time.sleep(rng.uniform(0.0, 0.3))
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if (run_dir / "metrics.json").exists():  # the kill came after the run had finished
            break
        kills += 1
        proc = _train("--out", "runs/flower", "--resume", cwd=tmp_path)
    if proc.poll() is None or proc.returncode != -signal.SIGKILL:
        assert proc.wait() == 0, proc.stderr.read()
    assert kills >= 2, "the run finished before it could be killed twice; make it slower"
    assert _weights(run_dir) == _weights(reference)
    assert (run_dir / "costs.csv").read_bytes() == (reference / "costs.csv").read_bytes()
    assert not list(run_dir.glob(".*.tmp-*"))


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_checkpoints_prints_how_to_resume_and_exits(
    signum: int, code: int, reference: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "runs" / "flower"
    proc = _train("--out", "runs/flower", cwd=tmp_path)
    _wait_for_progress(run_dir, proc, -1)
    proc.send_signal(signum)
    assert proc.wait() == code
    err = proc.stderr.read()
    assert "Traceback" not in err
    assert "--out runs/flower --resume" in err and "interrupted at iteration" in err
    iteration = int(err.split("interrupted at iteration ")[1].split()[0])
    with h5py.File(run_dir / "checkpoint.h5", "r") as f:
        assert f.attrs["iteration"] == iteration  # saved at the very iteration it stopped
    resumed = _train("--out", "runs/flower", "--resume", cwd=tmp_path)
    assert resumed.wait() == 0, resumed.stderr.read()
    assert _weights(run_dir) == _weights(reference)
    assert (run_dir / "costs.csv").read_bytes() == (reference / "costs.csv").read_bytes()


def test_resume_without_out_takes_the_newest_run_of_the_config(in_tmp: Path) -> None:
    from typer.testing import CliRunner

    from dlcli.cli import app

    runner = CliRunner()
    small = ["--set", "train.iterations=300", "--set", "train.checkpoint_every=100"]
    assert runner.invoke(app, ["train", str(FLOWER), *small, "-q"]).exit_code == 0
    # A second run, "interrupted" by hand after its first checkpoint: drop what a finish writes.
    assert runner.invoke(app, ["train", str(FLOWER), *small, "-q"]).exit_code == 0
    second = in_tmp / "runs" / "flower-2"
    for name in ("metrics.json", "params.h5", "costs.csv", "cost.png"):
        (second / name).unlink()
    result = runner.invoke(app, ["train", str(FLOWER), *small, "-q", "--resume", "--json"])
    assert result.exit_code == 0, result.output
    assert (second / "metrics.json").exists() and not (in_tmp / "runs" / "flower-3").exists()
    # The finished first run is not touched, and resuming a finished run is refused.
    again = runner.invoke(app, ["train", str(FLOWER), *small, "--resume", "--out", "runs/flower"])
    assert again.exit_code == 1
    assert "already finished its 300 iterations" in again.output


def test_resume_refuses_another_config(in_tmp: Path) -> None:
    from typer.testing import CliRunner

    from dlcli.cli import app

    runner = CliRunner()
    assert (
        runner.invoke(app, ["train", str(FLOWER), "--set", "train.iterations=50", "-q"]).exit_code
        == 0
    )
    result = runner.invoke(
        app,
        [
            "train",
            str(FLOWER),
            "--set",
            "train.iterations=50",
            "--set",
            "train.learning_rate=0.5",
            "--resume",
        ],
    )
    assert result.exit_code == 1
    assert "train.learning_rate: 1.2 -> 0.5" in result.output
    nothing = runner.invoke(app, ["train", str(FLOWER), "--resume", "--out", "runs/none"])
    assert nothing.exit_code == 1 and "holds no checkpoint.h5" in nothing.output


def test_runs_are_never_overwritten_and_force_replaces_only_runs(in_tmp: Path) -> None:
    from typer.testing import CliRunner

    from dlcli.cli import app

    runner = CliRunner()
    args = ["train", str(FLOWER), "--set", "train.iterations=20", "-q", "--out", "runs/x"]
    assert runner.invoke(app, args).exit_code == 0
    first = (in_tmp / "runs/x/params.h5").read_bytes()
    assert runner.invoke(app, args).exit_code == 0
    assert (in_tmp / "runs/x/params.h5").read_bytes() == first
    assert (in_tmp / "runs/x-2/params.h5").exists()
    assert os.readlink(in_tmp / "runs/latest") == "x-2"
    forced = runner.invoke(app, [*args[:-2], "--set", "init.seed=7", "--out", "runs/x", "--force"])
    assert forced.exit_code == 0
    assert (in_tmp / "runs/x/params.h5").read_bytes() != first
    assert not (in_tmp / "runs/x-3").exists()
    precious = in_tmp / "mine"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    refused = runner.invoke(app, [*args[:-2], "--out", "mine", "--force"])
    assert refused.exit_code == 1 and "not a dlcli run directory" in refused.output
    assert (precious / "notes.txt").read_text() == "keep me"


def test_divergence_stops_names_the_layer_and_keeps_the_last_finite_params(in_tmp: Path) -> None:
    from typer.testing import CliRunner

    from dlcli.cli import app

    sets = {
        "model.output_activation": "linear",
        "model.hidden_activation": "relu",
        "train.learning_rate": "10",
        "init.scale": "1",
        "train.log_every": "1",
    }
    args = [x for k, v in sets.items() for x in ("--set", f"{k}={v}")]
    result = CliRunner().invoke(app, ["train", str(FLOWER), *args, "--out", "runs/d", "-q"])
    assert result.exit_code == 1
    line = result.output.strip()
    assert "\n" not in line and "Traceback" not in line
    assert "the cost became inf at iteration 5" in line
    assert "first non-finite in layer 2 (Z2)" in line and "smaller learning rate than 10" in line
    with h5py.File(in_tmp / "runs/d/params.h5", "r") as f:
        assert all(np.all(np.isfinite(f[k][()])) for k in f)
    costs = (in_tmp / "runs/d/costs.csv").read_text().splitlines()
    assert costs[0] == "iteration,epoch,cost" and [row.split(",")[0] for row in costs[1:]] == [
        "0",
        "1",
        "2",
        "3",
        "4",
    ]
    assert not (in_tmp / "runs/d/metrics.json").exists()
