"""One function per contender, and a child-process entry point that runs one of them.

Every contender trains the same network (``common.LAYERS``) from the same initial weights on the
same data for the same number of full-batch iterations, and returns the seconds its training
loop took and the cost of every iteration (before that iteration's update). Setup outside the
loop (casting, building tensors) is not timed; dlcli's ``train()`` is timed whole, so the Gram
engine's one-off precompute and its final ``W1`` are inside its time.

Run one contender in a fresh process (what ``run.py`` does, once per contender and repeat)::

    python benchmarks/contenders.py dlcli-gram-f64 --iterations 2500

It prints one JSON object: the seconds, the cost curve, the process's peak RSS before and after
training, the tracemalloc peak of a short extra run (NumPy contenders), and which BLAS ran.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from common import HIDDEN, LEARNING_RATE, OUTPUT, cast, default_cat_dir, initial_params, load_cat

# Iterations of the untimed extra run whose tracemalloc peak is reported: the peak of one
# iteration is reached in the first one, the rest only checks it stays there.
MEMORY_ITERATIONS = 5


@dataclass
class Outcome:
    seconds: float
    costs: list[float] | None  # None for the BLAS floor, which trains nothing
    notes: dict[str, Any] = field(default_factory=dict)


def course_style(X: np.ndarray, Y: np.ndarray, params: dict, iterations: int) -> Outcome:
    """The baseline: the course notebook's loop (``course_loop.py``), float64."""
    from course_loop import L_layer_model

    start = time.perf_counter()
    _, costs = L_layer_model(X, Y, params, LEARNING_RATE, iterations)
    return Outcome(time.perf_counter() - start, costs)


def dlcli_engine(
    X: np.ndarray, Y: np.ndarray, params: dict, iterations: int, *, engine: str
) -> Outcome:
    """``dlcli.training.loop.train`` with ``engine`` ("direct" or "gram"), in the dtype of X."""
    from dlcli.training.loop import train
    from dlcli.training.plan import Options

    start = time.perf_counter()
    result = train(
        X,
        Y,
        params,
        hidden=HIDDEN,
        output=OUTPUT,
        learning_rate=LEARNING_RATE,
        iterations=iterations,
        log_every=1,
        engine=engine,
        options=Options(health=False),  # the other contenders collect no statistics either
    )
    seconds = time.perf_counter() - start
    notes = {"engine": result.engine, "train_seconds": result.train_seconds}
    return Outcome(seconds, [c for _, c in result.costs], notes)


def dlcli_gram_as_found(X: np.ndarray, Y: np.ndarray, params: dict, iterations: int) -> Outcome:
    """dlcli's Gram engine on BLAS as found (two threads here), instead of the one thread it
    keeps to while ``C @ K`` is small: what that choice gains (a fresh process, so the
    threshold set to 0 here touches nothing else)."""
    from dlcli.training import engines

    engines.SMALL_PRODUCT_FLOPS = 0
    return dlcli_engine(X, Y, params, iterations, engine="gram")


def torch_autograd(X: np.ndarray, Y: np.ndarray, params: dict, iterations: int) -> Outcome:
    """PyTorch CPU as one would write it: rows are examples, ``F.linear``, autograd,
    ``binary_cross_entropy_with_logits`` and ``torch.optim.SGD``; the dtype is X's."""
    import torch

    F = torch.nn.functional

    L = len(params) // 2
    A0 = torch.from_numpy(np.ascontiguousarray(X.T))  # (m, n_x)
    Yt = torch.from_numpy(np.ascontiguousarray(Y.T))  # (m, 1)
    Ws = [torch.tensor(params[f"W{l}"], requires_grad=True) for l in range(1, L + 1)]
    bs = [torch.tensor(params[f"b{l}"].ravel(), requires_grad=True) for l in range(1, L + 1)]
    optimizer = torch.optim.SGD([*Ws, *bs], lr=LEARNING_RATE)
    losses = []
    start = time.perf_counter()
    for _ in range(iterations):
        A = A0
        for W, b in zip(Ws[:-1], bs[:-1], strict=True):
            A = torch.relu(F.linear(A, W, b))
        loss = F.binary_cross_entropy_with_logits(F.linear(A, Ws[-1], bs[-1]), Yt)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    costs = [float(v) for v in torch.stack(losses)]
    seconds = time.perf_counter() - start
    notes = {
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_mkl": torch.backends.mkl.is_available(),
        "torch_cpu": torch.backends.cpu.get_cpu_capability(),
    }
    return Outcome(seconds, costs, notes)


def blas_floor(X: np.ndarray, Y: np.ndarray, params: dict, iterations: int) -> Outcome:
    """The GEMM-rate limit of the direct path: only its two products with X per iteration,
    ``W1 @ X`` (forward) and ``dZ1 @ X.T`` (dW1), at the same shapes, layouts and dtype.

    Everything else the direct path does (the small layers, activations, cost, update) is
    missing here, so no training loop that multiplies by X every iteration can beat it.
    """
    W1 = params["W1"]  # (n[1], n_x)
    dZ1 = np.random.default_rng(0).standard_normal((W1.shape[0], X.shape[1])).astype(X.dtype)
    start = time.perf_counter()
    for _ in range(iterations):
        Z1 = W1 @ X  # (n[1], m)
        dW1 = dZ1 @ X.T  # (n[1], n_x)
    seconds = time.perf_counter() - start
    del Z1, dW1
    return Outcome(seconds, None)


def gram_floor(X: np.ndarray, Y: np.ndarray, params: dict, iterations: int) -> Outcome:
    """The limit of the Gram engine: only its one product per iteration, ``C @ K``
    (n[1] x m) @ (m x m), into the same preallocated output, on one BLAS thread as the engine
    runs it. No NumPy loop of the Gram form can beat it."""
    m = X.shape[1]
    K = X.T @ X + 1.0  # (m, m)
    C = np.random.default_rng(0).standard_normal((params["W1"].shape[0], m)).astype(X.dtype)
    Z1 = np.empty_like(C)  # (n[1], m)
    start = time.perf_counter()
    for _ in range(iterations):
        np.dot(C, K, out=Z1)
    return Outcome(time.perf_counter() - start, None)


@dataclass(frozen=True)
class Contender:
    label: str
    dtype: type
    run: Callable[[np.ndarray, np.ndarray, dict, int], Outcome]
    kind: str  # "baseline", "dlcli", "torch" or "floor"
    blas_threads: int | None = None  # a limit set with threadpoolctl; None: as found


CONTENDERS: dict[str, Contender] = {
    "course-f64": Contender(
        "course-style NumPy loop (baseline)", np.float64, course_style, "baseline"
    ),
    "dlcli-direct-f64": Contender(
        "dlcli direct", np.float64, partial(dlcli_engine, engine="direct"), "dlcli"
    ),
    "dlcli-direct-f32": Contender(
        "dlcli direct", np.float32, partial(dlcli_engine, engine="direct"), "dlcli"
    ),
    "dlcli-gram-f64": Contender(
        "dlcli gram", np.float64, partial(dlcli_engine, engine="gram"), "dlcli"
    ),
    "dlcli-gram-f32": Contender(
        "dlcli gram", np.float32, partial(dlcli_engine, engine="gram"), "dlcli"
    ),
    "torch-f64": Contender("PyTorch autograd + SGD", np.float64, torch_autograd, "torch"),
    "torch-f32": Contender("PyTorch autograd + SGD", np.float32, torch_autograd, "torch"),
    "floor-f64": Contender("BLAS floor: W1 @ X, dZ1 @ X.T only", np.float64, blas_floor, "floor"),
    "floor-f32": Contender("BLAS floor: W1 @ X, dZ1 @ X.T only", np.float32, blas_floor, "floor"),
    # For reference: one BLAS thread, where a shared machine's other load cannot stall a
    # second BLAS thread.
    "dlcli-direct-f64-1t": Contender(
        "dlcli direct, 1 BLAS thread",
        np.float64,
        partial(dlcli_engine, engine="direct"),
        "dlcli",
        1,
    ),
    "floor-f64-1t": Contender("BLAS floor, 1 BLAS thread", np.float64, blas_floor, "floor", 1),
    "dlcli-gram-f64-2t": Contender(
        "dlcli gram, BLAS threads as found", np.float64, dlcli_gram_as_found, "dlcli"
    ),
    "floor-gram-f64": Contender(
        "Gram floor: C @ K only, 1 BLAS thread", np.float64, gram_floor, "floor", 1
    ),
}


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def blas_info() -> list[dict[str, Any]]:
    """The BLAS/OpenMP libraries loaded in this process (threadpoolctl)."""
    from threadpoolctl import threadpool_info

    keys = ("internal_api", "version", "architecture", "num_threads", "threading_layer")
    return [{k: lib.get(k) for k in keys} for lib in threadpool_info()]


def run_one(name: str, iterations: int, cat_dir: Path) -> dict[str, Any]:
    """Load the data, run contender ``name`` once, measure memory; a JSON-able record."""
    contender = CONTENDERS[name]
    X64, Y64 = load_cat(cat_dir)
    X, Y = X64.astype(contender.dtype, copy=False), Y64.astype(contender.dtype, copy=False)
    if contender.kind == "torch":
        import torch  # noqa: F401 - its libraries count before training, not in it
    limit = contextlib.nullcontext()
    if contender.blas_threads is not None:
        from threadpoolctl import threadpool_limits

        limit = threadpool_limits(limits=contender.blas_threads, user_api="blas")
    with limit:
        rss_before = _max_rss_mb()
        outcome = contender.run(X, Y, cast(initial_params(), contender.dtype), iterations)
        rss_peak = _max_rss_mb()
        traced_peak = None
        if contender.kind != "torch":  # torch's allocator is invisible to tracemalloc
            params = cast(initial_params(), contender.dtype)
            tracemalloc.start()
            contender.run(X, Y, params, min(iterations, MEMORY_ITERATIONS))
            traced_peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        blas = blas_info()
    return {
        "name": name,
        "seconds": outcome.seconds,
        "costs": outcome.costs,
        "notes": outcome.notes,
        "rss_before_mb": rss_before,
        "rss_peak_mb": rss_peak,
        "traced_peak_mb": traced_peak,
        "blas": blas,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", choices=sorted(CONTENDERS))
    parser.add_argument("--iterations", type=int, default=2500)
    parser.add_argument("--cat-dir", type=Path, default=default_cat_dir())
    args = parser.parse_args()
    print(json.dumps(run_one(args.name, args.iterations, args.cat_dir)))


if __name__ == "__main__":
    main()
