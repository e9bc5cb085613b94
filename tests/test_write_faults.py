"""Write faults, for real: a run, a sweep and an export on a small tmpfs that fills up at
each write point, on a read-only tmpfs, in a folder the user may not write, and under
RLIMIT_FSIZE (EFBIG). Each gives one line naming the file and the OS's reason, exit 1, no
temporary file, and the command to run next; that command, once space is freed, ends with
the params.h5 of an undisturbed run, byte for byte."""

from __future__ import annotations

import contextlib
import csv
import ctypes
import json
import os
import resource
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import h5py
import pytest
from conftest import missing
from typer.testing import CliRunner

from dlcli.cli import app

PAGE = 4096
#: The write points of a run, in the order they are written (a checkpoint only at the end:
#: train.checkpoint_every is above the iterations).
RUN_FILES = [
    "config.yaml",
    "checkpoint.h5",
    "health.json",
    "health.png",
    "params.h5",
    "costs.csv",
    "cost.png",
    "boundary.png",
    "card.md",
    "metrics.json",
]
FLOWER = """\
data:
  generate: {name: flower, examples: 400, seed: 1}
model: {layers: [2, 4, 1], hidden_activation: tanh, output_activation: sigmoid}
init: {scale: 0.01, seed: 2}
train: {learning_rate: 1.2, iterations: 300, log_every: 100, checkpoint_every: CHECKPOINT}
"""


def flower_config(folder: Path, checkpoint_every: int = 1000) -> Path:
    """A tiny flower config (300 iterations) in ``folder``."""
    path = folder / "flower.yaml"
    path.write_text(FLOWER.replace("CHECKPOINT", str(checkpoint_every)))
    return path


@contextlib.contextmanager
def tmpfs(path: Path, size: int) -> Iterator[Path]:
    """A tmpfs of ``size`` bytes mounted at ``path`` (root only: a skip elsewhere, a
    failure in CI)."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        missing(f"cannot mount a tmpfs (needs root): {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def remount(path: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True)


def full_disk(path: Path, free_pages: int) -> contextlib.AbstractContextManager[Path]:
    """A tmpfs with ``free_pages`` pages of 4 KiB free (one more, filled at once)."""
    disk = tmpfs(path, (free_pages + 1) * PAGE)

    @contextlib.contextmanager
    def filled() -> Iterator[Path]:
        with disk as mounted:
            (mounted / "filler").write_bytes(b"\0" * PAGE)
            yield mounted

    return filled()


def invoke(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def one_line(stderr: str) -> str:
    """The one line a fault gives: no traceback, nothing else."""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def leftovers(run_dir: Path) -> list[str]:
    """Temporary and lock files left in a run directory."""
    return sorted(p.name for p in run_dir.iterdir() if p.name.startswith("."))


def next_command(line: str) -> list[str]:
    """The dlcli command a fault's line says to run next, as arguments of the app."""
    command = line.rsplit(": dlcli ", 1)[1]
    return shlex.split(command)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """An undisturbed run on a tmpfs: the pages each file takes there, and params.h5."""
    base = tmp_path_factory.mktemp("reference")
    config = flower_config(base)
    with tmpfs(base / "disk", 8 << 20) as disk:
        code, _, err = invoke(["train", config, "--out", disk / "r", "--quiet"])
        assert code == 0, err
        pages = {name: (disk / "r" / name).stat().st_blocks * 512 // PAGE for name in RUN_FILES}
        params = (disk / "r" / "params.h5").read_bytes()
        final_cost = json.loads((disk / "r" / "metrics.json").read_text())["final_cost"]
    return {"pages": pages, "params": params, "final_cost": final_cost}


def pages_before(pages: dict[str, int], name: str) -> int:
    """The pages of the run's files written before ``name`` (each whole, none replaced)."""
    return sum(pages[n] for n in RUN_FILES[: RUN_FILES.index(name)])


@pytest.mark.parametrize("name", RUN_FILES)
def test_a_full_disk_at_each_write_point_stops_resumably(
    name: str, reference: dict[str, object], tmp_path: Path
) -> None:
    pages = reference["pages"]
    config = flower_config(tmp_path)
    # The file does not fit; all before it do, with the lock file's page (its process id).
    free = 1 + pages_before(pages, name) + pages[name] - 1
    with full_disk(tmp_path / "disk", free) as disk:
        run_dir = disk / "r"
        code, out, err = invoke(["train", config, "--out", run_dir, "--quiet"])
        assert (code, out) == (1, "")
        line = one_line(err)
        if name == "config.yaml":
            then = f"free space and train again: dlcli train {config} --out {run_dir}"
        elif name == "checkpoint.h5":  # only the config was written: start again over it
            then = f"free space and train again: dlcli train {config} --out {run_dir} --force"
        else:
            then = f"free space and resume with: dlcli train {config} --out {run_dir} --resume"
        assert line == (
            f"dlcli: write error: cannot write {run_dir / name}: No space left on device; {then}"
        )
        assert leftovers(run_dir) == []
        written = {p.name for p in run_dir.iterdir()}
        assert written == set(RUN_FILES[: RUN_FILES.index(name)])  # stopped right there
        assert not (disk / "latest").exists()
        if "checkpoint.h5" in written:  # the last checkpoint is whole: the end of training
            with h5py.File(run_dir / "checkpoint.h5", "r") as f:
                assert int(f.attrs["iteration"]) == 300

        remount(disk, "size=8m")  # space freed: the command it gave ends the run
        code, _, err = invoke([*next_command(line), "--quiet"])
        assert code == 0, err
        assert (run_dir / "params.h5").read_bytes() == reference["params"]
        assert {p.name for p in run_dir.iterdir()} == set(RUN_FILES)
        assert os.readlink(disk / "latest") == "r"


def test_a_checkpoint_that_does_not_fit_stops_training_and_keeps_the_last_one(
    tmp_path: Path,
) -> None:
    """Checkpoints at 100 and 200: the second does not fit beside the first, so training
    stops at iteration 200 with the checkpoint of 100 whole; resumed, it ends as a run
    never stopped."""
    config = flower_config(tmp_path, checkpoint_every=100)
    with tmpfs(tmp_path / "ref", 8 << 20) as ref:
        assert invoke(["train", config, "--out", ref / "r", "--quiet"])[0] == 0
        undisturbed = (ref / "r" / "params.h5").read_bytes()
        first = (ref / "r" / "checkpoint.h5").stat().st_blocks * 512 // PAGE
    with full_disk(tmp_path / "disk", 1 + 1 + first + first - 1) as disk:
        run_dir = disk / "r"
        code, _, err = invoke(["train", config, "--out", run_dir, "--quiet"])
        assert code == 1
        assert one_line(err) == (
            f"dlcli: write error: cannot write {run_dir / 'checkpoint.h5'}: No space left on "
            f"device; free space and resume with: dlcli train {config} --out {run_dir} --resume"
        )
        assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoint.h5", "config.yaml"]
        with h5py.File(run_dir / "checkpoint.h5", "r") as f:
            assert int(f.attrs["iteration"]) == 100
        remount(disk, "size=8m")
        assert invoke(["train", config, "--out", run_dir, "--resume", "--quiet"])[0] == 0
        assert (run_dir / "params.h5").read_bytes() == undisturbed


def test_a_read_only_file_system_is_one_line(tmp_path: Path) -> None:
    config = flower_config(tmp_path)
    with tmpfs(tmp_path / "disk", 1 << 20) as disk:
        stopped = disk / "stopped"  # a run to resume: its metrics.json never written
        assert invoke(["train", config, "--out", stopped, "--quiet"])[0] == 0
        (stopped / "metrics.json").unlink()
        remount(disk, "ro")
        code, _, err = invoke(["train", config, "--out", disk / "r", "--quiet"])
        assert code == 1
        assert one_line(err) == (
            f"dlcli: write error: cannot write {disk / 'r'}: Read-only file system; make the "
            f"file system writable and train again: dlcli train {config} --out {disk / 'r'}"
        )
        code, _, err = invoke(["train", config, "--out", stopped, "--resume", "--quiet"])
        assert code == 1
        assert one_line(err) == (
            f"dlcli: write error: cannot write {stopped / '.lock'}: Read-only file system; "
            f"make the file system writable and train again: dlcli train {config} --out "
            f"{stopped} --resume"
        )


def test_a_full_disk_during_an_export_leaves_nothing(tmp_path: Path) -> None:
    config = flower_config(tmp_path)
    run_dir = tmp_path / "r"
    assert invoke(["train", config, "--out", run_dir, "--quiet"])[0] == 0
    with full_disk(tmp_path / "disk", 0) as disk:
        out = disk / "model"
        code, _, err = invoke(["export", run_dir, "--format", "numpy", "--out", out])
        assert code == 1
        assert one_line(err) == (
            f"dlcli: write error: cannot write {out}: No space left on device; free space and "
            "run the command again"
        )
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]


SWEEP = """\
base: BASE
grid:
  train.learning_rate: [1.2]
"""


@pytest.mark.parametrize("name", ["trials/000/cost.png", "results.csv"])
def test_a_full_disk_during_a_sweep_stops_it_resumably(
    name: str, reference: dict[str, object], tmp_path: Path
) -> None:
    """A trial's file (written in the worker process) or results.csv does not fit: one
    line; resumed once space is freed, the trial is finished in its own directory (a
    half-written one replaced, not set beside) and results.csv written."""
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(SWEEP.replace("BASE", str(flower_config(tmp_path))))
    pages, final_cost = reference["pages"], reference["final_cost"]
    if name == "results.csv":
        free = 1 + sum(pages.values())
    else:
        free = 1 + pages_before(pages, "cost.png") + pages["cost.png"] - 1
    with full_disk(tmp_path / "disk", free) as disk:
        out = disk / "s"
        code, _, err = invoke(["sweep", sweep_file, "--out", out, "--workers", "1", "--quiet"])
        assert code == 1
        assert one_line(err) == (
            f"dlcli: write error: cannot write {out / name}: No space left on device; "
            f"free space and resume with: dlcli sweep {sweep_file} --out {out} --workers 1 --resume"
        )
        trial_dir = out / "trials" / "000"
        assert (trial_dir / "metrics.json").is_file() == (name == "results.csv")
        assert leftovers(out) == [] and leftovers(trial_dir) == []
        remount(disk, "size=8m")
        code, _, err = invoke(["sweep", sweep_file, "--out", out, "--workers", "1", "--resume"])
        assert code == 0, err
        [row] = csv.DictReader((out / "results.csv").open())
        assert (row["status"], float(row["final_cost"])) == ("ok", final_cost)
        assert json.loads((trial_dir / "metrics.json").read_text())["final_cost"] == final_cost
        assert sorted(p.name for p in (out / "trials").iterdir()) == ["000", "latest"]


def _limit_file_size(limit: int) -> None:
    """In the child: files may grow to ``limit`` bytes; a write past it fails with EFBIG
    (SIGXFSZ ignored, as a shell's ``ulimit -f`` with the signal trapped)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.parametrize(("limit", "name"), [(4000, "checkpoint.h5"), (20000, "health.png")])
def test_a_file_size_limit_gives_efbig_in_one_line(
    limit: int, name: str, reference: dict[str, object], tmp_path: Path
) -> None:
    """``dlcli train`` in a process of its own (health.png drawn by its child process): the
    first file past the limit stops it; without the limit, the command given ends the run."""
    config = flower_config(tmp_path)
    run_dir = tmp_path / "r"
    args = [sys.executable, "-m", "dlcli", "train", str(config), "--out", str(run_dir), "-q"]
    done = subprocess.run(
        args,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=lambda: _limit_file_size(limit),
    )
    assert done.returncode == 1, done.stderr
    line = one_line(done.stderr)
    assert line.startswith(f"dlcli: write error: cannot write {run_dir / name}: File too large; ")
    assert line.endswith("raise the file size limit (ulimit -f) and " + line.split(" and ")[-1])
    assert leftovers(run_dir) == []
    code, _, err = invoke([*next_command(line), "--quiet"])
    assert code == 0, err
    assert (run_dir / "params.h5").read_bytes() == reference["params"]


def without_dac_override() -> None:
    """In the child: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the capability
    bounding set (prctl PR_CAPBSET_DROP), so that after exec root obeys permission bits as
    any user does."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_a_folder_the_user_may_not_write_is_one_line(tmp_path: Path) -> None:
    """EACCES: root writes anywhere, so the process runs without the capability that lets
    it (as a user who is not root), in a folder with no write permission."""
    if os.geteuid() != 0:
        missing("needs root, to drop the capability to write anywhere")
    config = flower_config(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    done = subprocess.run(
        [sys.executable, "-m", "dlcli", "train", str(config), "--out", str(locked / "r")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=without_dac_override,
    )
    assert done.returncode == 1, done.stderr
    assert one_line(done.stderr) == (
        f"dlcli: write error: cannot write {locked / 'r'}: Permission denied; get "
        f"permission to write there and train again: dlcli train {config} --out {locked / 'r'}"
    )
    assert list(locked.iterdir()) == []
