"""One run, one writer: a run directory being trained is locked (flock, the writer's pid in
``.lock``). A second resume, a --force or a sweep trial on it is refused in one line; the
readers still read finished runs meanwhile; the lock dies with its process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_write_faults import flower_config, invoke, one_line

from dlcli.config import load_config
from dlcli.job import run
from dlcli.runlock import LOCK, RunLock
from dlcli.sweep.run import run_trial
from dlcli.training.state import StopTraining

ITERATIONS = 3000  # about a second of training left after the lock is taken: time to stop it


def _stop_at(iteration: int):
    def callback(i: int, cost: float) -> None:
        if i == iteration:
            raise StopTraining()

    return callback


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A config; a run of it stopped at iteration 100 (a checkpoint); an undisturbed run's
    params.h5; a finished run with a test split for the readers."""
    base = tmp_path_factory.mktemp("runs")
    config = flower_config(base)
    settings = [f"train.iterations={ITERATIONS}", "data.test_fraction=0.25"]
    cfg = load_config(config, settings)
    run(cfg, "flower", base / "undisturbed")
    with pytest.raises(StopTraining):
        run(cfg, "flower", base / "stopped", callback=_stop_at(100))
    return {
        "config": config,
        "sets": [w for s in settings for w in ("--set", s)],
        "params": (base / "undisturbed" / "params.h5").read_bytes(),
        "finished": base / "undisturbed",
        "stopped": base / "stopped",
    }


def _copy(run_dir: Path, to: Path) -> Path:
    subprocess.run(["cp", "-a", str(run_dir), str(to)], check=True)
    return to


def _resume_in_a_process(runs: dict[str, object], run_dir: Path) -> subprocess.Popen:
    args = ["train", str(runs["config"]), *runs["sets"], "--out", str(run_dir), "--resume", "-q"]
    return subprocess.Popen(
        [sys.executable, "-m", "dlcli", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_lock(run_dir: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    """Until ``proc`` has taken the run's lock (its pid is in the lock file)."""
    end = time.monotonic() + timeout
    while True:
        try:
            if int((run_dir / LOCK).read_text()) == proc.pid:
                return
        except (OSError, ValueError):
            pass
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < end, "the run never took its lock"
        time.sleep(0.002)


def test_two_resumes_at_once_one_is_refused_the_other_ends_as_undisturbed(
    runs: dict[str, object], tmp_path: Path
) -> None:
    run_dir = _copy(runs["stopped"], tmp_path / "r")
    first = _resume_in_a_process(runs, run_dir)
    try:
        _wait_for_lock(run_dir, first)
        first.send_signal(signal.SIGSTOP)  # it holds the lock, mid-run, while we try
        try:
            assert (run_dir / LOCK).read_text() == f"{first.pid}\n"
            in_use = (
                f"dlcli: error: {run_dir} is in use by process {first.pid} (a dlcli train or "
                "sweep trial writing it); wait for it to end, or choose another --out"
            )
            base = ["train", runs["config"], *runs["sets"], "--out", run_dir, "-q"]
            for again in (["--resume"], ["--force"]):
                code, out, err = invoke([*base, *again])
                assert (code, out) == (1, "")
                assert one_line(err) == in_use
            # The readers read another, finished run meanwhile.
            finished = runs["finished"]
            code, out, err = invoke(["evaluate", "--model", finished, "--json"])
            assert code == 0, err
            code, _, err = invoke(["compare", finished, "--out", tmp_path / "compare.png"])
            assert code == 0, err
            code, _, err = invoke(
                ["export", finished, "--format", "numpy", "--out", tmp_path / "x"]
            )
            assert code == 0, err
        finally:
            first.send_signal(signal.SIGCONT)
        assert first.wait(timeout=120) == 0, first.stderr.read()
    finally:
        first.kill()
        first.wait()
    assert (run_dir / "params.h5").read_bytes() == runs["params"]
    assert not (run_dir / LOCK).exists()


def test_a_resume_right_after_a_sigkill_takes_over(runs: dict[str, object], tmp_path: Path) -> None:
    """The lock dies with its process: the file stays, with the dead pid, and is taken."""
    run_dir = _copy(runs["stopped"], tmp_path / "r")
    killed = _resume_in_a_process(runs, run_dir)
    _wait_for_lock(run_dir, killed)
    killed.kill()
    killed.wait()
    assert (run_dir / LOCK).read_text() == f"{killed.pid}\n"
    args = ["train", runs["config"], *runs["sets"], "--out", run_dir, "--resume", "-q"]
    code, _, err = invoke(args)
    assert code == 0, err
    assert (run_dir / "params.h5").read_bytes() == runs["params"]
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith(".")) == []


def test_a_sweep_trial_on_a_run_in_use_is_refused(runs: dict[str, object], tmp_path: Path) -> None:
    run_dir = _copy(runs["stopped"], tmp_path / "000")
    cfg = load_config(runs["config"], runs["sets"][1::2])
    with RunLock(run_dir) as held:
        assert held.acquire()
        result = run_trial(0, cfg, str(run_dir), None)
    assert result.status == "failed"
    assert result.error == (
        f"error: {run_dir} is in use by process {os.getpid()} (a dlcli train or sweep trial "
        "writing it); wait for it to end, or choose another --out"
    )
    assert (run_dir / "checkpoint.h5").is_file() and not (run_dir / "params.h5").exists()


def test_new_runs_into_a_taken_name_go_beside_it(tmp_path: Path) -> None:
    """A new run whose folder another process is making (locked, still empty) goes to -2."""
    config = flower_config(tmp_path)
    target = tmp_path / "r"
    target.mkdir()
    with RunLock(target) as held:
        assert held.acquire()
        code, _, err = invoke(["train", config, "--out", target, "--json"])
    assert code == 0, err
    assert (tmp_path / "r-2" / "metrics.json").is_file()
    assert not (target / "config.yaml").exists()
