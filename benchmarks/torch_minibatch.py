"""The PyTorch CPU contender of ``minibatch.py``: a plain mini-batch training loop, one JSON
line on stdout.

    python benchmarks/torch_minibatch.py FILE.h5 --layers 784,128,64,10 --dtype float64
                                         [--batch-size 128] [--epochs 2] [--seed 1]

The network and budget of the dlcli run it stands beside: ``Linear`` layers with ReLU between
them and softmax cross-entropy on the last (``F.cross_entropy`` on the logits), He normal
weights (``kaiming_normal_``, sd sqrt(2 / n[l-1]), what ``init.scale: he`` draws) and zero
biases, ``torch.optim.Adam`` at lr 0.001 (its defaults otherwise, as dlcli's), a
``torch.randperm`` shuffle per epoch and the last batch short, as dlcli's. 2 threads
(``torch.set_num_threads(2)``). The data is read and normalized as dlcli reads it: the uint8
pictures with h5py, flattened and divided by 255 in float64, then cast to the dtype (rows are
examples here, PyTorch's layout).

Only the loop is timed (``loop_seconds``); the final cost and accuracy over the whole training
set are computed after it, untimed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import h5py
import numpy as np
import torch
from torch import nn

F = torch.nn.functional


def read(path: Path, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """X (m, n_x) pixels / 255 in ``dtype``, Y (m,) int64 labels."""
    with h5py.File(path, "r") as f:
        raw = f["train_set_x"][()]
        labels = f["train_set_y"][()]
    X = raw.reshape(raw.shape[0], -1) / 255.0  # float64, as dlcli divides
    return torch.from_numpy(X).to(dtype), torch.from_numpy(labels.astype(np.int64))


def network(layers: list[int], dtype: torch.dtype) -> nn.Sequential:
    parts: list[nn.Module] = []
    for n_prev, n in itertools.pairwise(layers):
        linear = nn.Linear(n_prev, n, dtype=torch.float64)
        nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")  # sd sqrt(2 / n_prev)
        nn.init.zeros_(linear.bias)
        parts += [linear, nn.ReLU()]
    # Drawn in float64 and then cast, so both dtypes start from the same weights.
    return nn.Sequential(*parts[:-1]).to(dtype)  # no ReLU after the output layer: logits


def train(
    model: nn.Sequential,
    X: torch.Tensor,
    Y: torch.Tensor,
    batch: int,
    epochs: int,
    optimizer_name: str = "adam",
    lr: float = 0.001,
) -> int:
    """The timed loop; the number of steps taken."""
    kind = torch.optim.Adam if optimizer_name == "adam" else torch.optim.SGD
    optimizer = kind(model.parameters(), lr=lr)
    m, steps = X.shape[0], 0
    for _ in range(epochs):
        order = torch.randperm(m)
        for start in range(0, m, batch):
            idx = order[start : start + batch]
            loss = F.cross_entropy(model(X[idx]), Y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--layers", required=True, help="comma-separated, e.g. 784,128,64,10")
    parser.add_argument("--dtype", choices=["float64", "float32"], required=True)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    parser.add_argument("--lr", type=float, default=0.001)
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    dtype = getattr(torch, args.dtype)
    X, Y = read(args.file, dtype)
    model = network([int(n) for n in args.layers.split(",")], dtype)
    start = time.perf_counter()
    steps = train(model, X, Y, args.batch_size, args.epochs, args.optimizer, args.lr)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        logits = model(X)
        cost = float(F.cross_entropy(logits, Y))
        accuracy = float((logits.argmax(dim=1) == Y).double().mean())
    record = {"loop_seconds": seconds, "steps": steps, "final_cost": cost, "accuracy": accuracy}
    print(json.dumps(record | {"torch": torch.__version__, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
