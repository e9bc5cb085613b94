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

from dlcli import audit
from dlcli import data as data_mod
from dlcli.config import Config
from dlcli.errors import ConfigError, DivergedError
from dlcli.model import network

Callback = Callable[[int, float], None]


class StopTraining(Exception):  # noqa: N818 - a request, not an error
    """Raised by a callback to stop training at an iteration boundary.

    :func:`train` saves a checkpoint first (when it has a ``checkpoint`` function), sets
    ``iteration`` to the iteration that had not yet run, and re-raises it.
    """

    iteration: int = -1


@dataclass
class TrainState:
    """Everything needed to continue training bit-exactly.

    iteration : the next iteration to run
    costs : the cost log so far, as in :class:`TrainResult`
    engine : the engine whose state ``arrays`` is
    arrays : the engine's state: the parameters for "direct"; ``W1_0``, ``C`` (n[1], m)
        and every parameter but W1 for "gram"
    seconds : training time spent so far
    """

    iteration: int
    costs: list[tuple[int, float]]
    engine: str
    arrays: dict[str, np.ndarray]
    seconds: float = 0.0


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


def _first_non_finite(arrays: network.Params, caches: network.Caches) -> str:
    for l, (_, Z, A) in enumerate(caches, start=1):
        for name in (f"W{l}", f"b{l}"):
            if name in arrays and not np.all(np.isfinite(arrays[name])):
                return f"layer {l} ({name})"
        for name, value in ((f"Z{l}", Z), (f"A{l}", A)):
            if not np.all(np.isfinite(value)):
                return f"layer {l} ({name})"
    return "the cost only (every Z and A is finite; the cost itself overflowed)"


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
    """The course's algorithm as written: every iteration multiplies by X.

    Its state is the parameters themselves. Each step makes new arrays, so a state taken
    before a step stays whole: that is what a divergence falls back to.
    """

    name = "direct"

    def __init__(
        self, X: np.ndarray, state: dict[str, np.ndarray], hidden: str, output: str
    ) -> None:
        self.X, self.state, self.hidden, self.output = X, dict(state), hidden, output

    @staticmethod
    def initial_state(X: np.ndarray, params: network.Params) -> dict[str, np.ndarray]:
        return dict(params)

    def forward(self) -> tuple[np.ndarray, network.Caches]:
        return network.forward(self.X, self.state, self.hidden, self.output)

    def step(self, AL: np.ndarray, Y: np.ndarray, caches: network.Caches, lr: float) -> None:
        grads = network.backward(AL, Y, caches, self.state, self.hidden)
        self.state = network.update(self.state, grads, lr)

    def params(self, state: dict[str, np.ndarray]) -> network.Params:
        return dict(state)


class _Gram:
    """Full-batch gradient descent with W1 kept as W1_0 + C @ X.T.

    Every update of W1 is -lr * dZ1 @ X.T, a combination of the training examples, so
    W1 = W1_0 + C @ X.T with C (n[1], m), and Z1 = W1 @ X + b1 = Z1_0 + C @ K + b1 with the
    Gram matrix K = X.T @ X (m, m). Each iteration then costs O(n[1] m^2) instead of
    O(n[1] n_x m); the arithmetic is the direct path's, reordered. W1 is formed on request.
    """

    name = "gram"

    def __init__(
        self, X: np.ndarray, state: dict[str, np.ndarray], hidden: str, output: str
    ) -> None:
        self.X, self.state, self.hidden, self.output = X, dict(state), hidden, output
        self.Z1_0 = state["W1_0"] @ X  # (n[1], m)
        self.K = X.T @ X  # (m, m), symmetric
        self.Z1 = np.empty_like(self.Z1_0)

    @staticmethod
    def initial_state(X: np.ndarray, params: network.Params) -> dict[str, np.ndarray]:
        state = {k: v for k, v in params.items() if k != "W1"}
        state["W1_0"] = params["W1"]
        state["C"] = np.zeros((params["W1"].shape[0], X.shape[1]), dtype=X.dtype)
        return state

    def forward(self) -> tuple[np.ndarray, network.Caches]:
        np.matmul(self.state["C"], self.K, out=self.Z1)
        self.Z1 += self.Z1_0
        self.Z1 += self.state["b1"]
        # Layer 1 is given as Z1, so forward and backward never read W1.
        return network.forward(self.X, self.state, self.hidden, self.output, Z1=self.Z1)

    def step(self, AL: np.ndarray, Y: np.ndarray, caches: network.Caches, lr: float) -> None:
        grads = network.backward(AL, Y, caches, self.state, self.hidden, dW1=False)
        W1_0, C = self.state["W1_0"], self.state["C"]
        rest = {k: v for k, v in self.state.items() if k not in ("W1_0", "C")}
        # W1 -= lr * dZ1 @ X.T, kept as its coefficients C.
        self.state = {**network.update(rest, grads, lr), "W1_0": W1_0, "C": C - lr * grads["dZ1"]}

    def params(self, state: dict[str, np.ndarray]) -> network.Params:
        params = {k: v for k, v in state.items() if k not in ("W1_0", "C")}
        params["W1"] = state["W1_0"] + state["C"] @ self.X.T
        return params


ENGINES = {"direct": _Direct, "gram": _Gram}


def train(
    X: np.ndarray,
    Y: np.ndarray,
    params: network.Params | None,
    *,
    hidden: str,
    output: str,
    learning_rate: float,
    iterations: int,
    log_every: int = 100,
    engine: str = "direct",
    callback: Callback | None = None,
    checkpoint: Callable[[TrainState], None] | None = None,
    checkpoint_every: int = 0,
    resume: TrainState | None = None,
) -> TrainResult:
    """Full-batch gradient descent.

    Parameters
    ----------
    X : ndarray of shape (n_x, m)
    Y : ndarray of shape (n[L], m)
    params : initial W{l}, b{l} in the dtype of X (None when ``resume`` is given); not modified
    hidden, output : activation names
    learning_rate, iterations, log_every : as in the config's ``train`` section
    engine : "direct", "gram" or "auto" (see :func:`choose_engine`); both give the same
        numbers up to rounding
    callback : called as ``callback(i, cost)`` once the cost of iteration i is known and
        before its update; it may raise :class:`StopTraining`
    checkpoint : called with a :class:`TrainState` every ``checkpoint_every`` iterations
        (0: never), on :class:`StopTraining`, and at the end
    resume : a state saved by ``checkpoint`` to continue from

    Raises
    ------
    DivergedError
        When a cost turns non-finite; names the iteration and the first layer affected, and
        carries the last parameters whose cost was finite as ``last_finite`` (a TrainResult).
    """
    if resume is not None:
        engine, first, costs = resume.engine, resume.iteration, list(resume.costs)
        state, spent = resume.arrays, resume.seconds
    else:
        assert params is not None, "train() needs params or resume"
        if engine == "auto":
            engine = choose_engine(network.layer_dims(params), X.shape[1], iterations)
        first, costs, state, spent = 0, [], ENGINES[engine].initial_state(X, params), 0.0
    start = time.perf_counter()
    runner = ENGINES[engine](X, state, hidden, output)
    last_good: tuple[dict[str, np.ndarray], float] | None = None

    def elapsed() -> float:
        return spent + time.perf_counter() - start

    def snapshot(i: int) -> TrainState:
        return TrainState(i, list(costs), engine, runner.state, elapsed())

    def diverged(J: float, when: str, caches: network.Caches) -> DivergedError:
        error = DivergedError(
            f"train.learning_rate: the cost became {J} {when}, first non-finite in "
            f"{_first_non_finite(runner.state, caches)}; try a smaller learning rate than {learning_rate:g}"
        )
        if last_good is not None:
            params = {k: v.astype(np.float64) for k, v in runner.params(last_good[0]).items()}
            error.last_finite = TrainResult(params, list(costs), last_good[1], elapsed(), engine)
        return error

    # Overflow is detected below and reported as divergence, not as NumPy warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        for i in range(first, iterations):
            AL, caches = runner.forward()
            J = network.cost(caches[-1][1], Y, output)
            if not np.isfinite(J):
                raise diverged(J, f"at iteration {i}", caches)
            if callback is not None:
                try:
                    callback(i, J)
                except StopTraining as stop:
                    if checkpoint is not None:
                        checkpoint(snapshot(i))
                    stop.iteration = i
                    raise
            if i % log_every == 0 or i == iterations - 1:
                costs.append((i, J))
            last_good = (runner.state, J)
            runner.step(AL, Y, caches, learning_rate)
            if (
                checkpoint is not None
                and checkpoint_every
                and (i + 1) % checkpoint_every == 0
                and i + 1 < iterations
            ):
                checkpoint(snapshot(i + 1))
        _, caches = runner.forward()
        final = network.cost(caches[-1][1], Y, output)
        if not np.isfinite(final):
            raise diverged(final, "after the last update", caches)
        if checkpoint is not None:
            checkpoint(snapshot(iterations))
    params64 = {k: v.astype(np.float64) for k, v in runner.params(runner.state).items()}
    return TrainResult(params64, costs, final, elapsed(), engine)


def accuracy(
    X: np.ndarray, Y: np.ndarray, params: network.Params, hidden: str, output: str
) -> float:
    """Fraction of examples whose predicted label (AL > 0.5) equals Y."""
    return float(np.mean(network.predict(X, params, hidden, output) == Y))


def memory_estimate(layers: list[int], m: int, itemsize: int) -> int:
    """Bytes one iteration holds, the total of :func:`dlcli.audit.memory` (one estimate)."""
    return audit.memory(layers, m, itemsize).total


def initial_params(cfg: Config, n_x: int, m: int, n_y: int = 1) -> network.Params:
    """Parameters to start from: the config's ``init`` (random or ``init.from`` a file).

    Checks first that ``model.layers`` begins with n_x and ends with n_y as the data do
    (:func:`dlcli.audit.data_mismatch`) and that the network fits in memory.
    """
    layers = list(cfg.model.layers)
    mismatch = audit.data_mismatch(layers, n_x, n_y)
    if mismatch is not None:
        raise ConfigError(mismatch)
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


def _resume_point(cfg: Config, name: str, out: Path | None, digest: str) -> tuple[Path, TrainState]:
    """The run to continue and its last checkpoint; refuses a run made differently."""
    import yaml

    from dlcli import runs

    run_dir = out if out is not None else runs.find_run_to_resume(cfg.output.dir, name)
    if not (run_dir / runs.CHECKPOINT).is_file():
        raise ConfigError(f"--resume: {run_dir}: holds no {runs.CHECKPOINT} to resume from")
    saved = yaml.safe_load((run_dir / runs.CONFIG).read_text())
    now = cfg.to_dict()
    changed = [
        f"{section}.{key}: {saved.get(section, {}).get(key)!r} -> {value!r}"
        for section, values in now.items()
        if section != "output"
        for key, value in values.items()
        if saved.get(section, {}).get(key) != value
    ]
    if changed:
        raise ConfigError(
            f"--resume: {run_dir} was trained with another config ({'; '.join(changed)}); "
            "resume with the same config, or start a new run without --resume"
        )
    runs.remove_partial_files(run_dir)
    state, saved_digest = runs.read_checkpoint(run_dir)
    if saved_digest != digest:
        raise ConfigError(
            f"--resume: {run_dir} was trained on other data than {cfg.data.train or 'data.generate'} holds now"
        )
    if state.iteration >= cfg.train.iterations and (run_dir / runs.METRICS).is_file():
        raise ConfigError(
            f"--resume: {run_dir} already finished its {cfg.train.iterations} iterations"
        )
    return run_dir, state


def run(
    cfg: Config,
    name: str,
    out: Path | None = None,
    callback: Callback | None = None,
    *,
    resume: bool = False,
    force: bool = False,
) -> tuple[Path, dict[str, Any]]:
    """The whole job: load data, initialise, train, write the run directory.

    Every check that a user's input can fail happens before the run directory is made. The
    run directory is ``out`` or ``<output.dir>/<name>`` (``-2``, ``-3``, ... when taken).

    Parameters
    ----------
    resume : continue the run in ``out`` (or the newest run of ``name``) from its checkpoint
    force : replace a run already in the run directory

    Raises
    ------
    StopTraining
        From ``callback``, after a checkpoint; ``run_dir`` is set on it.

    Returns
    -------
    run_dir : the directory written
    metrics : what ``metrics.json`` holds
    """
    import hashlib

    from dlcli import runs

    dataset = data_mod.load(cfg.data)
    dtype = np.dtype(cfg.train.dtype)
    X = np.ascontiguousarray(dataset.X_train, dtype=dtype)
    Y = dataset.Y_train.astype(dtype)
    digest = hashlib.sha256(X.tobytes() + Y.tobytes()).hexdigest()
    if resume:
        run_dir, state = _resume_point(cfg, name, out, digest)
        params = None
    else:
        m, n_y = dataset.X_train.shape[1], dataset.Y_train.shape[0]
        params, state = initial_params(cfg, dataset.n_x, m, n_y), None
        run_dir = runs.create_run_dir(out or cfg.output.dir / name, cfg.to_dict(), force=force)
    hidden, output = cfg.model.hidden_activation, cfg.model.output_activation
    meta = runs.model_meta(cfg, dataset)
    try:
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
            checkpoint=lambda st: runs.write_checkpoint(run_dir, st, digest),
            checkpoint_every=cfg.train.checkpoint_every,
            resume=state,
        )
    except StopTraining as stop:
        stop.run_dir = run_dir
        raise
    except DivergedError as exc:
        if exc.last_finite is None:
            raise
        runs.write_params(run_dir / runs.PARAMS, exc.last_finite.params, meta)
        runs.write_text(run_dir / "costs.csv", runs.costs_csv(exc.last_finite.costs))
        raise DivergedError(
            f"{exc}; the last parameters with a finite cost are in {run_dir / runs.PARAMS}"
        ) from None
    metrics: dict[str, Any] = {
        "final_cost": result.final_cost,
        "iterations": cfg.train.iterations,
        "train_seconds": result.train_seconds,
        "engine": result.engine,
        "train_examples": int(dataset.X_train.shape[1]),
        "run_dir": str(run_dir),
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
    runs.finish_run(run_dir, meta, result, metrics, cfg.train.learning_rate)
    return run_dir, metrics
