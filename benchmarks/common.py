"""What every benchmark shares: the reference workload, its data and its initial weights."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CAT_CONFIG = REPO / "configs" / "cat_4layer.yaml"

# The course's 4-layer cat model (configs/cat_4layer.yaml).
LAYERS = [12288, 20, 7, 5, 1]
LEARNING_RATE = 0.0075
ITERATIONS = 2500
HIDDEN, OUTPUT = "relu", "sigmoid"


def default_cat_dir() -> Path:
    """$DLCLI_CATVNONCAT, else ../shared/data/catvnoncat beside the repository (as the tests)."""
    return Path(os.environ.get("DLCLI_CATVNONCAT", REPO.parent / "shared" / "data" / "catvnoncat"))


def cat_files(cat_dir: Path) -> tuple[Path, Path]:
    """(train, test) course files in ``cat_dir``; exits with a message naming them if missing."""
    train, test = cat_dir / "train_catvnoncat.h5", cat_dir / "test_catvnoncat.h5"
    missing = [str(p) for p in (train, test) if not p.is_file()]
    if missing:
        sys.exit(
            f"benchmarks: course cat files not found: {', '.join(missing)} "
            "(give --cat-dir DIR or set DLCLI_CATVNONCAT)"
        )
    return train, test


def load_cat(cat_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The 209 training pictures through dlcli's reader, as ``dlcli train`` reads them.

    Returns
    -------
    X : ndarray of shape (12288, 209), float64 pixels / 255, C-contiguous
    Y : ndarray of shape (1, 209), float64 labels
    """
    from dlcli.data.course import read_course_h5

    X, Y, _, _ = read_course_h5(cat_files(cat_dir)[0])
    return np.ascontiguousarray(X), Y


def initial_params(layers: list[int] = LAYERS) -> dict[str, np.ndarray]:
    """The course's xavier init, ``RandomState(1).randn(n[l], n[l-1]) / sqrt(n[l-1])`` for
    W1, W2, ... and zero biases, in float64; every contender starts from these arrays."""
    from course_loop import initialize_parameters_deep

    return initialize_parameters_deep(layers, seed=1)


def synthetic(n_x: int, m: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stand-in data of the cat set's kind: pixels in [0, 1), labels 0/1.

    Returns
    -------
    X : ndarray of shape (n_x, m), float64
    Y : ndarray of shape (1, m), float64
    """
    rng = np.random.default_rng(seed)
    X = rng.random((n_x, m))
    Y = (rng.random((1, m)) < 0.35).astype(np.float64)  # about the cat set's share of cats
    return X, Y


def cast(params: dict[str, np.ndarray], dtype: type) -> dict[str, np.ndarray]:
    """Copies of ``params`` in ``dtype`` (a contender may not modify the shared arrays)."""
    return {k: v.astype(dtype, copy=True) for k, v in params.items()}
