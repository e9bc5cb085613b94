"""The MNIST-shaped benchmark (benchmarks/minibatch.py) counts what the issue counts, and its
PyTorch contender runs the budget dlcli runs: the same number of steps, the last batch short."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import need

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def minibatch():
    sys.path.insert(0, str(BENCH))  # the benchmarks import each other by their file names
    try:
        import minibatch

        yield minibatch
    finally:
        sys.path.remove(str(BENCH))


def test_flop_count_is_the_issues(minibatch) -> None:
    # Per example: 784*128 + 128*64 + 64*10 = 109,184 multiply-adds a layer pass, 2 FLOPs
    # each, forward, dW and dA_prev; 60,000 examples x 2 epochs: 78.6 GFLOP ("79" in the issue).
    assert minibatch.flops([784, 128, 64, 10], 120_000) == 6 * 109_184 * 120_000 == 78_612_480_000


def test_scaling_points_cover_batch_and_width_once(minibatch) -> None:
    assert minibatch.scaling_points() == [
        (32, 128),
        (128, 128),
        (512, 128),
        (2048, 128),
        (4096, 128),
        (128, 64),
        (128, 512),
    ]


def test_torch_contender_takes_dlclis_steps(minibatch, tmp_path: Path) -> None:
    """300 pictures in batches of 128: 3 steps an epoch (128, 128, 44), as dlcli takes them
    (tests/test_float32.py counts dlcli's); the pictures read as dlcli reads them."""
    torch = need("torch")
    import mnist_like
    import torch_minibatch

    data = minibatch.write(tmp_path / "small.h5", 300, seed=0)
    X, Y = torch_minibatch.read(data, torch.float32)
    raw, labels = mnist_like.pictures(300, 0)
    assert X.dtype == torch.float32 and tuple(X.shape) == (300, 784)
    assert np.array_equal(X.numpy(), (raw.reshape(300, 784) / 255.0).astype(np.float32))
    assert np.array_equal(Y.numpy(), labels)
    model = torch_minibatch.network([784, 16, 10], torch.float32)
    assert [p.dtype for p in model.parameters()] == [torch.float32] * 4
    assert torch_minibatch.train(model, X, Y, batch=128, epochs=2) == 6
