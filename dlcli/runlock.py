"""One run, one writer: an OS file lock on a run directory while a process writes it.

``dlcli train`` (a new run, ``--resume``, ``--force``) and every sweep trial hold
``<run dir>/.lock`` with ``fcntl.flock`` while they write the run; the file holds the
holder's process id, for the message another process gets. The lock is the kernel's: it
ends with the process that holds it, so a run killed with SIGKILL leaves no stale lock (at
most the file, which the next writer takes over). Readers (predict, evaluate, compare, ...)
take no lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from dlcli.errors import DlcliError, writing

LOCK = ".lock"


class RunInUseError(DlcliError):
    """The run directory is being written by another process."""

    kind = "error"


class RunLock:
    """The lock of one run directory, held from :meth:`acquire` to :meth:`release`.

    Released, the lock file is removed while still locked; a process that opened the old
    file meanwhile finds that the path no longer names what it locked and tries again, so
    two processes never both hold a run.
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.path = run_dir / LOCK
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock without waiting: True when held, False when another process holds it.

        Raises
        ------
        WriteError
            The lock file cannot be made (a read-only or full file system).
        """
        while True:
            with writing(self.path):
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            if self._same_file(fd):
                break
            os.close(fd)  # the holder removed it as it let go: take the new one
        self._fd = fd
        # Only for the message another process gets: on a full disk the run's own files
        # give the error, naming one of them.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        return True

    def _same_file(self, fd: int) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def holder(self) -> int | None:
        """The process id written in the lock file by the process holding it (None when the
        file holds none yet: it is written right after the lock is taken)."""
        for _ in range(20):
            with contextlib.suppress(OSError, ValueError):
                return int(self.path.read_text())
            time.sleep(0.01)
        return None

    def release(self) -> None:
        """Let go of the lock and remove its file (nothing when not held)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._fd)  # the kernel drops the lock with the last descriptor
        self._fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_run(run_dir: Path) -> RunLock:
    """The held lock of ``run_dir``.

    Raises
    ------
    RunInUseError
        Another process holds it: "RUN is in use by process N".
    """
    lock = RunLock(run_dir)
    if not lock.acquire():
        pid = lock.holder()
        who = f"process {pid}" if pid is not None else "another process"
        raise RunInUseError(
            f"{run_dir} is in use by {who} (a dlcli train or sweep trial writing it); "
            "wait for it to end, or choose another --out"
        )
    return lock
