"""Read faults: a params.h5 or checkpoint.h5 cut short or damaged, and a data file that
changes while a streamed run reads it, each give one line naming the file, not a
traceback."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_write_faults import flower_config, invoke, one_line, without_dac_override

from dlcli.runlock import LOCK


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished flower run with a test split (evaluate reads it again)."""
    base = tmp_path_factory.mktemp("finished")
    config = flower_config(base)
    code, _, err = invoke(
        ["train", config, "--set", "data.test_fraction=0.25", "--out", base / "r", "-q"]
    )
    assert code == 0, err
    return base / "r"


def _damaged(run_dir: Path, to: Path, name: str, keep: float, flip: bool) -> Path:
    """A copy of ``run_dir`` whose ``name`` keeps the first ``keep`` of its bytes, or, with
    ``flip``, has the bytes after that point inverted."""
    shutil.copytree(run_dir, to)
    path = to / name
    data = path.read_bytes()
    cut = int(len(data) * keep)
    damaged = data[:cut] + bytes(255 - b for b in data[cut:]) if flip else data[:cut]
    path.write_bytes(damaged)
    return to


DAMAGE = [(0.02, False), (0.5, False), (0.9, False), (0.3, True), (0.8, True)]


@pytest.mark.parametrize(("keep", "flip"), DAMAGE)
def test_a_damaged_params_file_is_one_line_in_every_reader(
    finished: Path, tmp_path: Path, keep: float, flip: bool
) -> None:
    run_dir = _damaged(finished, tmp_path / "r", "params.h5", keep, flip)
    params = run_dir / "params.h5"
    for args in (
        ["predict", "--model", run_dir, tmp_path / "picture.png"],
        ["evaluate", "--model", run_dir],
        ["export", run_dir, "--format", "numpy", "--out", tmp_path / "x"],
        ["compare", run_dir, "--out", tmp_path / "c.png"],
    ):
        code, _, err = invoke(args)
        # compare reads metrics and costs, not weights; and HDF5 keeps no checksum of a
        # dataset's values, so inverted bytes there read as other (finite) weights.
        if code == 0 and (args[0] == "compare" or flip):
            continue
        assert code == 1, (args, err)
        line = one_line(err)
        assert line.startswith("dlcli: model file error: "), line
        assert str(params) in line
    if not flip:
        assert not (tmp_path / "x").exists()


def test_a_params_file_the_user_may_not_read_is_one_line(finished: Path, tmp_path: Path) -> None:
    """EACCES on reading, in a process without CAP_DAC_OVERRIDE (root reads anything)."""
    run_dir = tmp_path / "r"
    shutil.copytree(finished, run_dir)
    (run_dir / "params.h5").chmod(0)
    done = subprocess.run(
        [sys.executable, "-m", "dlcli", "evaluate", "--model", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=without_dac_override,
    )
    assert done.returncode == 1
    assert one_line(done.stderr) == (
        f"dlcli: model file error: --model: {run_dir / 'params.h5'}: cannot be read "
        "(Permission denied)"
    )


@pytest.mark.parametrize(("keep", "flip"), DAMAGE)
def test_a_damaged_checkpoint_at_resume_is_one_line(
    finished: Path, tmp_path: Path, keep: float, flip: bool
) -> None:
    run_dir = _damaged(finished, tmp_path / "r", "checkpoint.h5", keep, flip)
    (run_dir / "metrics.json").unlink()  # not finished: a resume reads the checkpoint
    config = flower_config(tmp_path)
    args = ["train", config, "--set", "data.test_fraction=0.25", "--out", run_dir, "--resume"]
    code, _, err = invoke([*args, "-q"])
    assert code == 1
    line = one_line(err)
    assert line.startswith(f"dlcli: model file error: {run_dir / 'checkpoint.h5'}: "), line


def test_a_damaged_init_from_is_one_line(finished: Path, tmp_path: Path) -> None:
    run_dir = _damaged(finished, tmp_path / "r", "params.h5", 0.5, False)
    config = flower_config(tmp_path)
    code, _, err = invoke(
        ["train", config, "--set", f"init.from={run_dir / 'params.h5'}", "--out", tmp_path / "n"]
    )
    assert code == 1
    assert one_line(err).startswith(f"dlcli: model file error: init.from: {run_dir / 'params.h5'}")
    assert not (tmp_path / "n").exists()


STREAMED = """\
data: {train: DATA, stream: true}
model: {layers: [2, 4, 1], hidden_activation: tanh, output_activation: sigmoid}
init: {scale: 0.01, seed: 2}
train: {learning_rate: 1.2, iterations: 20000, log_every: 1000, batch_size: 64}
"""


@pytest.mark.parametrize("change", ["cut", "rewritten"])
def test_a_data_file_that_changes_under_a_streamed_run_is_one_line(
    change: str, tmp_path: Path
) -> None:
    """Stopped as soon as it trains (it holds its run's lock), the data file is cut in half
    or rewritten in place (another seed, the same size); the run goes on, reads, and stops
    in one line naming the file, its checkpoint kept."""
    data = tmp_path / "flower.h5"
    assert invoke(["data", "flower", "--out", data, "--examples", "4000"])[0] == 0
    config = tmp_path / "streamed.yaml"
    config.write_text(STREAMED.replace("DATA", str(data)))
    run_dir = tmp_path / "r"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dlcli", "train", str(config), "--out", str(run_dir), "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        end = time.monotonic() + 60
        while not (run_dir / LOCK).is_file():
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < end
            time.sleep(0.002)
        proc.send_signal(signal.SIGSTOP)
        size = data.stat().st_size
        if change == "cut":
            with open(data, "r+b") as f:
                f.truncate(size // 2)
        else:
            other = tmp_path / "other.h5"
            assert (
                invoke(["data", "flower", "--out", other, "--examples", "4000", "--seed", "7"])[0]
                == 0
            )
            with open(data, "r+b") as f:
                f.write(other.read_bytes())
            time.sleep(0.01)  # a later modification time, on any clock
            data.touch()
        proc.send_signal(signal.SIGCONT)
        assert proc.wait(timeout=120) == 1
        err = proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()
    found = f"cut from {size} to {size // 2} bytes" if change == "cut" else "rewritten in place"
    assert one_line(err) == (
        f"dlcli: data error: data.train: {data}: changed while the run read it ({found}); "
        "training stopped, the last checkpoint is kept; put the file back as it was and "
        "resume, or start a new run"
    )
    assert not (run_dir / "params.h5").exists()
