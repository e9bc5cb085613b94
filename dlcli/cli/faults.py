"""What to do after a write fault: the advice a :class:`~dlcli.errors.WriteError` ends with,
as the command the user runs next (the one they ran, with ``--resume`` where a run or sweep
can go on from what was kept)."""

from __future__ import annotations

import shlex
from pathlib import Path

from dlcli.errors import WriteError


def _command(*words: object) -> str:
    return " ".join(shlex.quote(str(w)) for w in words)


def train_advice(
    config: Path, set_: list[str] | None, out: Path | None, flags: list[str], exc: WriteError
) -> str:
    """``dlcli train`` after ``exc``: resume a run with a checkpoint, replace one without
    (it has only its config), or run the same command (``--out`` and ``flags`` as given)
    when no run directory was made or taken."""
    from dlcli import runs

    train = ["dlcli", "train", config, *(w for s in set_ or [] for w in ("--set", s))]
    run_dir = exc.run_dir
    if run_dir is None:
        again = train if out is None else [*train, "--out", out]
        return f"{exc.fix()} and train again: {_command(*again, *flags)}"
    if (run_dir / runs.METRICS).is_file():
        return f"{exc.fix()}; the run in {run_dir} is finished and whole"
    if (run_dir / runs.CHECKPOINT).is_file():
        return f"{exc.fix()} and resume with: {_command(*train, '--out', run_dir, '--resume')}"
    flag = ["--force"] if runs.is_run(run_dir) else []
    return f"{exc.fix()} and train again: {_command(*train, '--out', run_dir, *flag)}"


def sweep_advice(
    sweep_file: Path, out: Path, workers: int | None, scheduler: str | None, exc: WriteError
) -> str:
    """``dlcli sweep`` after ``exc``: resume the sweep (finished trials are kept)."""
    words = ["dlcli", "sweep", sweep_file, "--out", out]
    words += ["--workers", workers] if workers else []
    words += ["--scheduler", scheduler] if scheduler else []
    return f"{exc.fix()} and resume with: {_command(*words, '--resume')}"
