"""Whole-or-nothing file writes: every file dlcli writes goes through here, and an OS error
while writing (disk full, read-only, no permission, ...) becomes a
:class:`~dlcli.errors.WriteError` naming the file. Also the one check that a file to read is
an HDF5 file (:func:`check_hdf5`)."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dlcli.errors import DlcliError, writing


def check_hdf5(
    path: Path, key: str, error: type[DlcliError], directory: str, not_hdf5: str
) -> None:
    """Raise ``error`` naming ``key`` and ``path`` unless it is a readable HDF5 file: missing,
    a directory (``directory``: what was expected), unreadable (the OS's reason), or not
    HDF5 (``not_hdf5``: what was expected)."""
    import h5py

    if not path.exists():
        raise error(f"{key}: {path}: no such file")
    if path.is_dir():
        raise error(f"{key}: {path}: is a directory, expected {directory}")
    try:
        hdf5 = h5py.is_hdf5(path)
    except OSError as exc:  # no permission to read it, an I/O error
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise error(f"{key}: {path}: cannot be read ({reason})") from None
    if not hdf5:
        raise error(f"{key}: {path}: not an HDF5 file (expected {not_hdf5})")


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through ``write(tmp_path)`` then fsync and rename, so ``path`` is always whole.

    Raises
    ------
    WriteError
        An OS error on the way; ``path`` is as it was and no temporary file is left.
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with writing(path):
            write(tmp)
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):  # not there, or on a read-only file system
            tmp.unlink()


def write_text(path: Path, text: str) -> None:
    """Write a text file atomically."""
    atomic_write(path, lambda tmp: tmp.write_text(text))


def write_h5(path: Path, fill: Callable[[Any], None]) -> None:
    """Write the HDF5 file that ``fill(f)`` makes (``f`` an open ``h5py.File``) atomically.

    The file is made in memory (the bytes h5py would write to disk) and written as one
    file, so a full disk fails in an ordinary write, a WriteError, rather than inside HDF5,
    whose every handle then prints its own failure as it is freed."""
    import h5py

    name = f"{path}.{os.getpid()}-{threading.get_ident()}"  # HDF5 knows open files by name
    with h5py.File(name, "w", driver="core", backing_store=False) as f:
        fill(f)
        f.flush()
        image = f.id.get_file_image()
    atomic_write(path, lambda tmp: tmp.write_bytes(image))
