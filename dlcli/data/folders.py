"""Folders of pictures, one per class, read into the course's layout and split into train and
test (:func:`build_from_folders`), then written as the course's two files
(:func:`write_folder_dataset`).

The messages name the ``dlcli data`` command's argument and flags (``DIR``, ``--classes``,
``--size``, ``--test-fraction``): these functions are that command's work.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dlcli.data.write import output_paths, write_course_h5
from dlcli.errors import DataError, DlcliError, ImageError
from dlcli.images import find_pictures, read_image


@dataclass
class Split:
    """One file's worth of examples.

    x : ndarray of shape (m, size, size, 3), uint8
    y : ndarray of shape (m,), int64 labels 0/1
    files : each picture's path relative to the folder
    """

    x: np.ndarray
    y: np.ndarray
    files: list[str]


@dataclass
class FolderDataset:
    """Pictures read from class folders, split into train and test.

    classes : (class 0, class 1) names, the folder names
    skipped : (path, reason) for every picture that could not be read
    """

    classes: tuple[str, str]
    train: Split
    test: Split | None
    skipped: list[tuple[str, str]] = field(default_factory=list)


_NEGATION = re.compile(r"(?:non|not|no)[-_ ]?(.+)", re.IGNORECASE)


def class_folders(root: Path, classes: Sequence[str] | None = None) -> list[tuple[str, Path]]:
    """The two class folders under ``root``, class 0 first.

    With ``classes`` (class 0, class 1) those subfolders are used. Otherwise ``root`` must hold
    exactly two (visible) subfolders; a folder named ``non-X`` / ``not-X`` / ``no-X`` (also with
    ``_``, a space or nothing between) beside ``X`` is class 0, as the course's
    ``list_classes`` [non-cat, cat]; else they are in alphabetical order.
    """
    if not root.exists():
        raise DataError(f"DIR {root}: no such directory")
    if not root.is_dir():
        raise DataError(f"DIR {root}: is a file, expected a folder with one subfolder per class")
    found = sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.name.casefold(),
    )
    names = [p.name for p in found]
    if classes is not None:
        if len(classes) != 2 or classes[0] == classes[1]:
            raise DataError(
                f"--classes {','.join(classes)}: expected two different folder names, NEG,POS"
            )
        missing = [c for c in classes if c not in names]
        if missing:
            raise DataError(
                f"--classes: {root} has no subfolder {missing[0]!r}; its subfolders: {names}"
            )
        return [(c, root / c) for c in classes]
    if len(found) != 2:
        hint = "; pick two with --classes NEG,POS" if len(found) > 2 else ""
        raise DataError(
            f"DIR {root}: found {len(found)} class folders {names}; the sigmoid output needs "
            f"exactly 2, e.g. {root}/non-cat and {root}/cat{hint}"
        )
    for i in (0, 1):
        negated = _NEGATION.fullmatch(names[i])
        if negated and negated.group(1).casefold() == names[1 - i].casefold():
            found = [found[i], found[1 - i]]
            break
    return [(p.name, p) for p in found]


def _split_sizes(n: int, test_fraction: float) -> int:
    """Test examples out of n: n * test_fraction rounded half up."""
    return int(np.floor(n * test_fraction + 0.5))


def build_from_folders(
    root: Path,
    *,
    size: int = 64,
    test_fraction: float = 0.2,
    seed: int = 1,
    fit: str = "stretch",
    classes: Sequence[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> FolderDataset:
    """Read every picture under two class folders and split them into train and test.

    Each class is split on its own (stratified): round(n * test_fraction) of its readable
    pictures, drawn by ``np.random.default_rng(seed)``, go to test; then each split is
    shuffled with the same generator. Pictures are read by :func:`dlcli.images.read_image`
    (RGB, ``size`` x ``size``, ``fit``); one that cannot be read is skipped and listed.

    Parameters
    ----------
    progress : called as ``progress(done, total)`` after each picture
    """
    if not 0.0 <= test_fraction < 1.0:
        raise DlcliError(
            f"--test-fraction: must be at least 0 and below 1, found {test_fraction:g}"
        )
    if not 1 <= size <= 4096:
        raise DlcliError(f"--size: must be 1 to 4096 pixels, found {size}")
    folders = class_folders(root, classes)
    pixels, files, skipped = _read_pictures(root, folders, (size, size), fit, progress)
    splits = _split(pixels, files, test_fraction, np.random.default_rng(seed))
    total = len(pixels[0]) + len(pixels[1])
    if splits["train"] is None or len(set(splits["train"].y.tolist())) < 2:
        raise DataError(
            f"DIR {root}: {total} readable pictures leave the training set without both classes "
            f"at --test-fraction {test_fraction:g}; add pictures or lower it"
        )
    if test_fraction > 0 and splits["test"] is None:
        raise DataError(
            f"DIR {root}: {total} readable pictures give no test picture at --test-fraction "
            f"{test_fraction:g}; add pictures, raise it, or use --test-fraction 0"
        )
    names = (folders[0][0], folders[1][0])
    return FolderDataset(names, splits["train"], splits["test"], skipped)


def _read_pictures(
    root: Path,
    folders: list[tuple[str, Path]],
    size: tuple[int, int],
    fit: str,
    progress: Callable[[int, int], None] | None,
) -> tuple[list[list[np.ndarray]], list[list[str]], list[tuple[str, str]]]:
    """Every readable picture of each class folder, (size, 3) uint8, with its path relative
    to ``root``; and (path, reason) of each one skipped. Refuses a class left with none."""
    listed = []
    for label, (name, folder) in enumerate(folders):
        pictures = find_pictures([folder])
        if pictures[0][1] is not None:
            raise DataError(f"class {name!r}: {pictures[0][1]}")
        listed += [(label, path) for path, _ in pictures]
    pixels: list[list[np.ndarray]] = [[], []]
    files: list[list[str]] = [[], []]
    skipped = []
    for done, (label, path) in enumerate(listed, start=1):
        try:
            pixels[label].append(read_image(path, size, 3, fit=fit))
            files[label].append(path.relative_to(root).as_posix())
        except ImageError as exc:
            skipped.append((str(path), str(exc).removeprefix(f"{path}: ")))
        if progress is not None:
            progress(done, len(listed))
    for label, (name, folder) in enumerate(folders):
        if not pixels[label]:
            first = next(f"{p}: {why}" for p, why in skipped if Path(p).is_relative_to(folder))
            raise DataError(f"class {name!r}: no readable picture in {folder} (first: {first})")
    return pixels, files, skipped


def _split(
    pixels: list[list[np.ndarray]],
    files: list[list[str]],
    test_fraction: float,
    rng: np.random.Generator,
) -> dict[str, Split | None]:
    """Each class split on its own into test (its first round(n * test_fraction) of a
    permutation) and train, then each split shuffled; None for an empty split."""
    parts: dict[str, list[tuple[int, int]]] = {"train": [], "test": []}  # (label, index)
    for label in (0, 1):
        n = len(pixels[label])
        order = rng.permutation(n)
        n_test = _split_sizes(n, test_fraction)
        parts["test"] += [(label, int(i)) for i in order[:n_test]]
        parts["train"] += [(label, int(i)) for i in order[n_test:]]
    splits: dict[str, Split | None] = {}
    for part, members in parts.items():
        members = [members[int(i)] for i in rng.permutation(len(members))]
        if not members:
            splits[part] = None
            continue
        splits[part] = Split(
            np.stack([pixels[label][i] for label, i in members]),
            np.array([label for label, _ in members], dtype=np.int64),
            [files[label][i] for label, i in members],
        )
    return splits


def write_folder_dataset(
    dataset: FolderDataset, out: Path, attrs: dict[str, Any] | None = None
) -> list[Path]:
    """Write the train (and test) file of :func:`output_paths`; returns the paths written."""
    train_path, test_path = output_paths(out, dataset.test is not None)
    written = []
    for path, prefix, split in (
        (train_path, "train_set", dataset.train),
        (test_path, "test_set", dataset.test),
    ):
        if path is None or split is None:
            continue
        write_course_h5(
            path, prefix, split.x, split.y, dataset.classes, files=split.files, attrs=attrs
        )
        written.append(path)
    return written
