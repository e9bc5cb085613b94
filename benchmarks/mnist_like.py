"""An MNIST-shaped course-layout HDF5 file: m pictures 28x28x1 uint8 in 10 classes.

    python benchmarks/mnist_like.py OUT.h5 [--examples 60000] [--seed 0]

Each class has a template of four smooth blobs, the same in every file (its own fixed seed),
so a train file and a test file made with other seeds hold the same classes. A picture is
its class's template shifted by up to 2 pixels each way, plus normal noise (sd 60), clipped to
0..255: learnable, not trivial. The file holds ``train_set_x`` (m, 28, 28, 1) uint8,
``train_set_y`` (m,) int64 and ``list_classes`` ("0" ... "9"), the course's layout, which
``dlcli train`` reads with ``model.output_activation: softmax``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import h5py
import numpy as np

SIDE, CLASSES = 28, 10
TEMPLATE_SEED = 12345  # the class templates: the same for every file
SHIFT = 2  # pixels each way
NOISE = 60.0  # standard deviation, in pixel values
CHUNK = 5000  # pictures drawn at a time, so the float64 work stays small for any m


def templates() -> np.ndarray:
    """The ten class templates, each scaled so its brightest pixel is 255.

    Returns
    -------
    ndarray of shape (10, 28, 28), float64
    """
    rng = np.random.default_rng(TEMPLATE_SEED)
    yy, xx = np.mgrid[0:SIDE, 0:SIDE]
    out = np.zeros((CLASSES, SIDE, SIDE))
    for k in range(CLASSES):
        for _ in range(4):
            cy, cx = rng.uniform(6, 22, size=2)
            s = rng.uniform(2, 5)
            out[k] += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    return 255 * out / out.max(axis=(1, 2), keepdims=True)


def pictures(m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``m`` seeded pictures and their labels.

    Returns
    -------
    X : ndarray of shape (m, 28, 28, 1), uint8
    Y : ndarray of shape (m,), int64 labels 0..9
    """
    padded = np.pad(templates(), ((0, 0), (SHIFT, SHIFT), (SHIFT, SHIFT)))  # (10, 32, 32)
    rng = np.random.default_rng(seed)
    Y = rng.integers(0, CLASSES, size=m)
    X = np.empty((m, SIDE, SIDE, 1), np.uint8)
    rows, cols = np.arange(SIDE)[:, None], np.arange(SIDE)[None, :]
    for start in range(0, m, CHUNK):
        idx = np.arange(start, min(start + CHUNK, m))
        oy, ox = rng.integers(0, 2 * SHIFT + 1, size=(2, idx.size))  # offsets into the padding
        base = padded[Y[idx][:, None, None], oy[:, None, None] + rows, ox[:, None, None] + cols]
        noisy = base + rng.normal(0, NOISE, size=base.shape)  # (b, 28, 28)
        X[idx, :, :, 0] = np.clip(noisy, 0, 255).astype(np.uint8)
    return X, Y.astype(np.int64)


def write(path: Path, m: int, seed: int = 0) -> Path:
    """Write ``m`` pictures (:func:`pictures`) to ``path`` in the course's layout; ``path``."""
    X, Y = pictures(m, seed)
    with h5py.File(path, "w") as f:
        f["train_set_x"] = X
        f["train_set_y"] = Y
        f["list_classes"] = np.array([str(k).encode() for k in range(CLASSES)])
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--examples", type=int, default=60000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    write(args.out, args.examples, args.seed)
    print(f"wrote {args.out}: ({args.examples}, 28, 28, 1) uint8, classes 0..9")


if __name__ == "__main__":
    main()
