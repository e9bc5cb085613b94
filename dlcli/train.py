"""The training loop and the job around it: config -> data -> train -> run directory.

Nothing here prints: progress reaches the caller through ``callback(iteration, cost)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dlcli import data as data_mod
from dlcli.config import Config
from dlcli.errors import ConfigError, DivergedError
from dlcli.model import network

Callback = Callable[[int, float], None]


@dataclass
class TrainResult:
    """What a training loop returns.

    params : dict of float64 ``W{l}`` (n[l], n[l-1]) and ``b{l}`` (n[l], 1)
    costs : (iteration, cost) every ``log_every`` iterations and at the last one; the cost at
        iteration i is that of the parameters before the i-th update, as in the course
    final_cost : cost of the returned parameters (after the last update)
    """

    params: network.Params
    costs: list[tuple[int, float]]
    final_cost: float
    train_seconds: float
    engine: str


def _first_non_finite_layer(params: network.Params, caches: network.Caches) -> str:
    for l, (_, Z, A) in enumerate(caches, start=1):
        for name, value in (
            (f"Z{l}", Z),
            (f"A{l}", A),
            (f"W{l}", params[f"W{l}"]),
            (f"b{l}", params[f"b{l}"]),
        ):
            if not np.all(np.isfinite(value)):
                return f"layer {l} ({name})"
    return "the cost only (every Z and A finite; AL saturated against Y)"


def choose_engine(layers: list[int], m: int, iterations: int) -> str:
    """``"gram"`` where its flop count is lower than the direct path's, else ``"direct"``.

    Direct: W1 @ X and dZ1 @ X.T cost 4 n[1] n_x m flops every iteration. Gram: C @ K costs
    2 n[1] m^2 per iteration, after K = X.T @ X (2 m^2 n_x) and Z1_0, W1 (4 n[1] n_x m) once.
    """
    n_x, n1 = layers[0], layers[1]
    direct = iterations * 4 * n1 * n_x * m
    gram = iterations * 2 * n1 * m * m + 2 * m * m * n_x + 4 * n1 * n_x * m
    return "gram" if gram < direct else "direct"


class _Direct:
    """The course's algorithm as written: every iteration multiplies by X."""

    name = "direct"

    def __init__(self, X: np.ndarray, params: network.Params, hidden: str, output: str) -> None:
        self.X, self.params, self.hidden, self.output = X, params, hidden, output

    def forward(self) -> tuple[np.ndarray, network.Caches]:
        return network.forward(self.X, self.params, self.hidden, self.output)

    def step(self, AL: np.ndarray, Y: np.ndarray, caches: network.Caches, lr: float) -> None:
        grads = network.backward(AL, Y, caches, self.params, self.hidden)
        network.update(self.params, grads, lr)

    def current_params(self) -> network.Params:
        return self.params


class _Gram:
    """Full-batch gradient descent with W1 kept as W1_0 + C @ X.T.

    Every update of W1 is -lr * dZ1 @ X.T, a combination of the training examples, so
    W1 = W1_0 + C @ X.T with C (n[1], m), and Z1 = W1 @ X + b1 = Z1_0 + C @ K + b1 with the
    Gram matrix K = X.T @ X (m, m). Each iteration then costs O(n[1] m^2) instead of
    O(n[1] n_x m); the arithmetic is the direct path's, reordered. W1 is formed on request.
    """

    name = "gram"

    def __init__(self, X: np.ndarray, params: network.Params, hidden: str, output: str) -> None:
        self.X, self.params, self.hidden, self.output = X, params, hidden, output
        self.W1_0 = params["W1"]
        self.Z1_0 = self.W1_0 @ X  # (n[1], m)
        self.K = X.T @ X  # (m, m), symmetric
        self.C = np.zeros_like(self.Z1_0)  # (n[1], m)
        self.Z1 = np.empty_like(self.Z1_0)

    def forward(self) -> tuple[np.ndarray, network.Caches]:
        np.matmul(self.C, self.K, out=self.Z1)
        self.Z1 += self.Z1_0
        self.Z1 += self.params["b1"]
        return network.forward(self.X, self.params, self.hidden, self.output, Z1=self.Z1)

    def step(self, AL: np.ndarray, Y: np.ndarray, caches: network.Caches, lr: float) -> None:
        grads = network.backward(AL, Y, caches, self.params, self.hidden, dW1=False)
        self.C -= lr * grads.pop("dZ1")  # W1 -= lr * dZ1 @ X.T, kept as its coefficients
        for key, grad in grads.items():
            self.params[key[1:]] -= lr * grad

    def current_params(self) -> network.Params:
        return {**self.params, "W1": self.W1_0 + self.C @ self.X.T}


ENGINES = {"direct": _Direct, "gram": _Gram}


def train(
    X: np.ndarray,
    Y: np.ndarray,
    params: network.Params,
    *,
    hidden: str,
    output: str,
    learning_rate: float,
    iterations: int,
    log_every: int = 100,
    engine: str = "direct",
    callback: Callback | None = None,
) -> TrainResult:
    """Full-batch gradient descent.

    Parameters
    ----------
    X : ndarray of shape (n_x, m)
    Y : ndarray of shape (n[L], m)
    params : initial W{l}, b{l} in the dtype of X; the direct engine updates them in place
    hidden, output : activation names
    learning_rate, iterations, log_every : as in the config's ``train`` section
    engine : "direct", "gram" or "auto" (see :func:`choose_engine`); both give the same
        numbers up to rounding
    callback : called as ``callback(i, cost)`` after the cost of iteration i is known

    Raises
    ------
    DivergedError
        When a cost turns non-finite; names the iteration and the first layer affected.
    """
    if engine == "auto":
        engine = choose_engine(network.layer_dims(params), X.shape[1], iterations)
    costs: list[tuple[int, float]] = []
    start = time.perf_counter()
    runner = ENGINES[engine](X, params, hidden, output)
    for i in range(iterations):
        AL, caches = runner.forward()
        J = network.cost(caches[-1][1], Y, output)
        if not np.isfinite(J):
            raise DivergedError(
                f"train.learning_rate: the cost became {J} at iteration {i}, first non-finite in "
                f"{_first_non_finite_layer(runner.params, caches)}; try a smaller learning rate than {learning_rate:g}"
            )
        if i % log_every == 0 or i == iterations - 1:
            costs.append((i, J))
        if callback is not None:
            callback(i, J)
        runner.step(AL, Y, caches, learning_rate)
    _, caches = runner.forward()
    final = network.cost(caches[-1][1], Y, output)
    params = runner.current_params()
    seconds = time.perf_counter() - start
    if not np.isfinite(final):
        raise DivergedError(
            f"train.learning_rate: the cost became {final} after the last update, first non-finite in "
            f"{_first_non_finite_layer(params, caches)}; try a smaller learning rate than {learning_rate:g}"
        )
    params64 = {k: v.astype(np.float64) for k, v in params.items()}
    return TrainResult(params64, costs, final, seconds, engine)


def accuracy(
    X: np.ndarray, Y: np.ndarray, params: network.Params, hidden: str, output: str
) -> float:
    """Fraction of examples whose predicted label (AL > 0.5) equals Y."""
    return float(np.mean(network.predict(X, params, hidden, output) == Y))


def memory_estimate(layers: list[int], m: int, itemsize: int) -> int:
    """Bytes one iteration holds: parameters and their gradients, and Z, A, dZ per layer."""
    n_params = sum(layers[l] * (layers[l - 1] + 1) for l in range(1, len(layers)))
    return itemsize * (2 * n_params + 3 * m * sum(layers[1:]) + layers[0] * m)


def initial_params(cfg: Config, n_x: int, m: int) -> network.Params:
    """Parameters to start from: the config's ``init`` (random or ``init.from`` a file).

    Checks first that ``model.layers[0]`` matches the data and that the network fits in memory.
    """
    layers = list(cfg.model.layers)
    if layers[0] != n_x:
        raise ConfigError(
            f"model.layers[0]: is {layers[0]} but the data have n_x = {n_x} features per example; "
            f"set model.layers[0] to {n_x}"
        )
    dtype = np.dtype(cfg.train.dtype)
    need = memory_estimate(layers, m, dtype.itemsize)
    if need > data_mod.available_memory():
        raise ConfigError(
            f"model.layers: {layers} with m = {m} needs about {need / 2**30:.1f} GiB per iteration, "
            f"more than the {data_mod.available_memory() / 2**30:.1f} GiB free; use smaller layers"
        )
    if cfg.init.from_ is not None:
        from dlcli.runs import read_params

        params, _ = read_params(cfg.init.from_, key="init.from")
        want = {f"W{l}": (layers[l], layers[l - 1]) for l in range(1, len(layers))}
        want |= {f"b{l}": (layers[l], 1) for l in range(1, len(layers))}
        for name, shape in want.items():
            if name not in params or params[name].shape != shape:
                found = params[name].shape if name in params else "nothing"
                raise ConfigError(
                    f"init.from: {cfg.init.from_}: {name} must have shape {shape} for model.layers "
                    f"{layers}, found {found}"
                )
        return {k: params[k].astype(dtype) for k in want}
    rng = network.legacy_rng(cfg.init.seed)
    return network.init_params(layers, cfg.init.scale, rng, dtype)


def run(
    cfg: Config, name: str, out: Path | None = None, callback: Callback | None = None
) -> tuple[Path, dict[str, Any]]:
    """The whole job: load data, initialise, train, write the run directory.

    Every check that a user's input can fail happens before the run directory is made.

    Returns
    -------
    run_dir : the directory written
    metrics : what ``metrics.json`` holds
    """
    from dlcli import runs

    dataset = data_mod.load(cfg.data)
    dtype = np.dtype(cfg.train.dtype)
    params = initial_params(cfg, dataset.n_x, dataset.X_train.shape[1])
    X = np.ascontiguousarray(dataset.X_train, dtype=dtype)
    Y = dataset.Y_train.astype(dtype)
    hidden, output = cfg.model.hidden_activation, cfg.model.output_activation
    result = train(
        X,
        Y,
        params,
        hidden=hidden,
        output=output,
        learning_rate=cfg.train.learning_rate,
        iterations=cfg.train.iterations,
        log_every=cfg.train.log_every,
        engine=cfg.train.engine,
        callback=callback,
    )
    metrics: dict[str, Any] = {
        "final_cost": result.final_cost,
        "iterations": cfg.train.iterations,
        "train_seconds": result.train_seconds,
        "engine": result.engine,
        "train_examples": int(dataset.X_train.shape[1]),
    }
    if output == "sigmoid":
        metrics["train_accuracy"] = accuracy(
            dataset.X_train, dataset.Y_train, result.params, hidden, output
        )
        if dataset.X_test is not None:
            metrics["test_accuracy"] = accuracy(
                dataset.X_test, dataset.Y_test, result.params, hidden, output
            )
            metrics["test_examples"] = int(dataset.X_test.shape[1])
    run_dir = runs.write_run(cfg, dataset, result, metrics, name=name, out=out)
    return run_dir, metrics
