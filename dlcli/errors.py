"""The errors a user can cause. Each message names the key or file, what was found and
what is allowed; the CLI prints it on one line and exits 1. Anything else is a bug."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path


class DlcliError(Exception):
    """Base class of every error a user can cause."""

    kind = "error"


class ConfigError(DlcliError):
    kind = "config error"


class DataError(DlcliError):
    kind = "data error"


class ModelFileError(DlcliError):
    kind = "model file error"


class DivergedError(DlcliError):
    kind = "diverged"

    #: The last parameters whose cost was finite (a ``dlcli.training.state.TrainResult``), if any.
    last_finite = None


class ImageError(DataError):
    """A picture that cannot be read: missing, not a picture, damaged, or too large."""

    kind = "image error"


class WriteError(DlcliError):
    """An OS error while writing a file (disk full, over quota, read-only, no permission,
    an I/O error, a file size limit): names the file and the OS's reason; ``advice`` says
    what to do (the command sets it: resume a run, a sweep, run an export again)."""

    kind = "write error"

    def __init__(self, path: Path, code: int | None, reason: str) -> None:
        super().__init__(path, code, reason)  # so it pickles back from a sweep's worker
        self.path, self.code, self.reason = path, code, reason
        self.advice = f"{self.fix()} and run the command again"
        #: The run directory being written when it happened (set by dlcli.job.run), if any.
        self.run_dir = None

    def fix(self) -> str:
        """What makes writing possible again, by the OS's error code."""
        import errno

        fixes = {
            errno.ENOSPC: "free space",
            errno.EDQUOT: "free space within your disk quota",
            errno.EFBIG: "raise the file size limit (ulimit -f)",
            errno.EROFS: "make the file system writable",
            errno.EACCES: "get permission to write there",
            errno.EPERM: "get permission to write there",
            errno.EIO: "check the disk",
        }
        return fixes.get(self.code, "fix that")

    def __str__(self) -> str:
        return f"cannot write {self.path}: {self.reason}; {self.advice}"


def write_error(path: Path, exc: OSError) -> WriteError:
    """``exc`` as a WriteError naming ``path``: the OS's reason (strerror) of its code; h5py
    puts the code in its message ("errno = 28") when not in ``exc.errno``."""
    code = exc.errno
    if code is None:
        found = re.search(r"errno = (\d+)", str(exc))
        code = int(found.group(1)) if found else None
    reason = os.strerror(code) if code else str(exc)
    return WriteError(path, code, reason)


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn an OSError raised inside into a :class:`WriteError` naming ``path``."""
    try:
        yield
    except OSError as exc:
        raise write_error(path, exc) from None
