"""The data digest a checkpoint keeps: a course file's examples and labels hashed as stored,
and checkpoints written before (their digest of X and Y as trained on) still resumable."""

from __future__ import annotations

import hashlib
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner, Result

from dlcli.cli import app

M = 30  # examples of 4x4x3 pixels: n_x = 48


def dlcli(*args: str | Path) -> Result:
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def _course_file(path: Path, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A course-layout file of M pictures (uint8) and 0/1 labels (int64); returns both."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(M, 4, 4, 3), dtype=np.uint8)
    y = rng.integers(0, 2, size=M).astype(np.int64)
    with h5py.File(path, "w") as f:
        f["train_set_x"], f["train_set_y"] = x, y
    return x, y


@pytest.fixture
def finished(in_tmp: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """A finished run of 20 iterations on train.h5 (run dir, the stored x and y)."""
    x, y = _course_file(in_tmp / "train.h5", seed=0)
    (in_tmp / "small.yaml").write_text(
        "data:\n  train: train.h5\nmodel:\n  layers: [48, 3, 1]\n"
        "train:\n  learning_rate: 0.01\n  iterations: 20\n  checkpoint_every: 10\n"
    )
    out = dlcli("train", "small.yaml", "--quiet")
    assert out.exit_code == 0, out.output
    return in_tmp / "runs" / "small", x, y


def _old_checkpoint(run_dir: Path, digest: str) -> None:
    """Make the run's checkpoint one written before: no data_hash attribute, ``digest`` as its
    data_sha256; and the run unfinished again."""
    with h5py.File(run_dir / "checkpoint.h5", "r+") as f:
        del f.attrs["data_hash"]
        f.attrs["data_sha256"] = digest
    (run_dir / "metrics.json").unlink()


def _as_trained(x: np.ndarray, y: np.ndarray) -> str:
    """The digest checkpoints held before: float64 X (n_x, m), pixels / 255, then Y (1, m)."""
    X = np.ascontiguousarray(x.reshape(M, -1).T) / 255.0
    return hashlib.sha256(X.tobytes() + y.astype(np.float64).reshape(1, M).tobytes()).hexdigest()


def test_checkpoint_holds_the_digest_of_the_stored_bytes(finished) -> None:
    run_dir, x, y = finished
    # Each array's dtype and shape, then its bytes, as stored in the file.
    stored = b"|u1(30, 4, 4, 3);" + x.tobytes() + b"<i8(30,);" + y.tobytes()
    with h5py.File(run_dir / "checkpoint.h5", "r") as f:
        assert int(f.attrs["data_hash"]) == 2
        assert f.attrs["data_sha256"] == hashlib.sha256(stored).hexdigest()


def test_a_checkpoint_written_before_resumes_on_the_same_data(finished) -> None:
    run_dir, x, y = finished
    _old_checkpoint(run_dir, _as_trained(x, y))
    out = dlcli("train", "small.yaml", "--resume", "--quiet")
    assert out.exit_code == 0, out.output
    assert (run_dir / "metrics.json").is_file()


def test_a_checkpoint_written_before_refuses_other_data(finished, in_tmp: Path) -> None:
    run_dir, x, y = finished
    _old_checkpoint(run_dir, _as_trained(x, y))
    _course_file(in_tmp / "train.h5", seed=1)  # the same name, other pictures
    out = dlcli("train", "small.yaml", "--resume", "--quiet")
    assert out.exit_code == 1
    assert out.stderr == (
        "dlcli: config error: --resume: runs/small was trained on other data than train.h5 "
        "holds now\n"
    )


def test_float32_pixels_are_the_float64_ones_rounded(tmp_path: Path) -> None:
    """Read straight into float32, X holds the bits of the float64 X cast (and both the
    course's reshape(m, -1).T / 255), across more than one block of examples."""
    from dlcli.data.course import read_course_file

    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, size=(700, 2, 3, 1), dtype=np.uint8)
    x[0, 0, 0, 0], x[1, 0, 0, 0] = 0, 255
    with h5py.File(tmp_path / "t.h5", "w") as f:
        f["train_set_x"], f["train_set_y"] = x, np.zeros(700, np.int64)
    X64 = read_course_file(tmp_path / "t.h5").X
    X32 = read_course_file(tmp_path / "t.h5", dtype=np.float32).X
    course = x.reshape(700, -1).T / 255.0  # (6, 700)
    assert X64.shape == (6, 700) and X64.flags.c_contiguous and X32.flags.c_contiguous
    assert X64.tobytes() == course.tobytes()
    assert X32.dtype == np.float32 and X32.tobytes() == course.astype(np.float32).tobytes()
