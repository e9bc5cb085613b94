"""The training loop and the job around it: config -> data -> train -> run directory.

Nothing here prints: progress reaches the caller through ``callback(iteration, cost)``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dlcli import audit, sysinfo
from dlcli import data as data_mod
from dlcli.config import Config
from dlcli.errors import ConfigError, DivergedError
from dlcli.fileio import write_text
from dlcli.model import network
from dlcli.model.optimizers import OPTIMIZERS, Hyper

Callback = Callable[[int, float], None]


class StopTraining(Exception):  # noqa: N818 - a request, not an error
    """Raised by a callback to stop training at an iteration boundary.

    :func:`train` saves a checkpoint first (when it has a ``checkpoint`` function), sets
    ``iteration`` to the iteration that had not yet run, and re-raises it.
    """

    iteration: int = -1


@dataclass(frozen=True)
class Options:
    """Everything beyond the course's plain full-batch gradient descent; all off by default.

    batch_size : examples per update (None: the full batch); reshuffled every epoch
    keep_prob : one keep probability per hidden layer (inverted dropout), () for none
    lr_decay, lr_decay_every : lr = learning_rate / (1 + lr_decay * floor(epoch / lr_decay_every))
    l2 : lambda of the L2 penalty lambda / (2m) sum ||W||^2
    patience : stop after this many validation checks without a lower validation cost
    seed : seeds the generator of shuffles and dropout masks
    shuffle : "examples" (each epoch a permutation of the m examples) or "blocks" (a
        permutation of the blocks of ``batch_size`` consecutive examples: each batch is one
        block, read contiguously, as streaming from disk needs)
    """

    optimizer: str = "gd"
    hyper: Hyper = field(default_factory=Hyper)
    batch_size: int | None = None
    keep_prob: tuple[float, ...] = ()
    lr_decay: float = 0.0
    lr_decay_every: int = 1
    l2: float = 0.0
    patience: int | None = None
    restore_best: bool = True
    seed: int = 1
    shuffle: str = "examples"

    @property
    def plain(self) -> bool:
        """Plain gradient descent without L2: one pass of network.backward_update steps it."""
        return self.optimizer == "gd" and not self.l2

    def gram_blocker(self, m: int) -> str | None:
        """Why the Gram engine cannot run these options on m examples, or None if it can.

        It needs every update of W1 to be a combination of the same m columns of X:
        true for gradient descent and momentum, with L2 and with dropout on hidden layers
        (dropout never touches X), false for Adam's per-coordinate scaling and for
        mini-batches.
        """
        if self.optimizer == "adam":
            return "train.optimizer adam scales each coordinate of dW1, so W1 leaves the span of X"
        if self.batch_size is not None and self.batch_size < m:
            return "train.batch_size is smaller than m: each update sees other columns of X"
        return None


@dataclass
class TrainState:
    """Everything needed to continue training bit-exactly.

    iteration : the next iteration to run
    log : the cost log so far, as in :class:`TrainResult`
    engine : the engine whose state ``arrays`` is
    arrays : the engine's parameters (for "gram": ``W1_0``, ``C``, ``a`` instead of W1), the
        optimizer's arrays, the epoch's shuffle ``perm`` and early stopping's ``best_*``
    seconds : training time spent so far
    rng : the state of the generator of shuffles and dropout masks
    """

    iteration: int
    log: list[dict[str, float]]
    engine: str
    arrays: dict[str, np.ndarray]
    seconds: float = 0.0
    rng: dict[str, Any] | None = None


@dataclass
class TrainResult:
    """What a training loop returns.

    params : dict of float64 ``W{l}`` (n[l], n[l-1]) and ``b{l}`` (n[l], 1)
    log : a row every ``log_every`` iterations and at the last one: ``iteration``,
        ``epoch``, ``cost`` (of that iteration's batch, before its update, as the course
        prints it, L2 included) and, with validation data, ``validation_cost`` and
        ``validation_accuracy``
    final_cost : cost of the returned parameters on the whole training set
    iterations : the iterations run (fewer than asked when early stopping ended training)
    best_iteration : with early stopping's restore, the iteration whose parameters (before its
        update) were returned, or ``iterations`` for those after the last update
    train_seconds : wall time of the loop, without the time spent writing checkpoints
    checkpoint_seconds : the time spent writing checkpoints
    final_accuracy : with a streamed X, the training accuracy found in the same pass over the
        file as ``final_cost`` (so the caller need not read it again); None otherwise
    """

    params: network.Params
    log: list[dict[str, float]]
    final_cost: float
    train_seconds: float
    engine: str
    iterations: int = 0
    best_iteration: int | None = None
    checkpoint_seconds: float = 0.0
    final_accuracy: float | None = None

    @property
    def costs(self) -> list[tuple[int, float]]:
        """(iteration, cost) pairs of the log."""
        return [(int(row["iteration"]), row["cost"]) for row in self.log]


def _first_non_finite(arrays: network.Params, caches: network.Caches) -> str:
    for l, (_, Z, A) in enumerate(caches, start=1):
        for name in (f"W{l}", f"b{l}"):
            if name in arrays and not np.all(np.isfinite(arrays[name])):
                return f"layer {l} ({name})"
        for name, value in ((f"Z{l}", Z), (f"A{l}", A)):
            if not np.all(np.isfinite(value)):
                return f"layer {l} ({name})"
    return "the cost only (every Z and A is finite; the cost itself overflowed)"


def resolve_engine(
    engine: str,
    layers: list[int],
    m: int,
    iterations: int,
    opts: Options,
    *,
    streamed: bool = False,
    itemsize: int = 8,
) -> str:
    """The engine training runs: "auto" becomes "gram" where :func:`choose_engine` finds it
    cheaper and nothing blocks it, else "direct".

    Gram is blocked by the options (:meth:`Options.gram_blocker`), by a streamed X (it needs
    all of X in memory), and by K = X.T X not fitting in the memory free now.

    Raises
    ------
    ConfigError
        When ``engine`` is "gram" and something blocks it; the message says what.
    """
    blocker = opts.gram_blocker(m)
    if blocker is None and streamed:
        blocker = "data.stream: true reads X in batches and gram needs all of X in memory"
    if blocker is None and engine != "direct":
        need, free = audit.gram_bytes(layers[1], m, itemsize), sysinfo.available_memory()
        if need > free:
            blocker = (
                f"K = X.T X for m = {m} examples and its companions need {need / 2**20:,.1f} "
                f"MiB, more than the {free / 2**20:,.1f} MiB free"
            )
    if engine == "auto":
        return choose_engine(layers, m, iterations) if blocker is None else "direct"
    if engine == "gram" and blocker is not None:
        raise ConfigError(
            f"train.engine: gram cannot run this config: {blocker}; use auto or direct"
        )
    return engine


def choose_engine(layers: list[int], m: int, iterations: int) -> str:
    """``"gram"`` where its flop count is lower than the direct path's, else ``"direct"``.

    Direct: W1 @ X and dZ1 @ X.T cost 4 n[1] n_x m flops every iteration. Gram: C @ K costs
    2 n[1] m^2 per iteration, after K = X.T @ X (2 m^2 n_x) and Z1_0, W1 (4 n[1] n_x m) once.
    """
    n_x, n1 = layers[0], layers[1]
    direct = iterations * 4 * n1 * n_x * m
    gram = iterations * 2 * n1 * m * m + 2 * m * m * n_x + 4 * n1 * n_x * m
    return "gram" if gram < direct else "direct"


def _split(state: dict[str, np.ndarray], names: set[str]) -> tuple[network.Params, network.Params]:
    """(parameters, everything else) of an engine state."""
    return {k: v for k, v in state.items() if k in names}, {
        k: v for k, v in state.items() if k not in names
    }


def _with_l2(grads: network.Params, params: network.Params, l2: float, m: int) -> network.Params:
    """dW{l} + lambda / m W{l} for every weight in ``params`` (biases are not penalized)."""
    if not l2:
        return grads
    return {
        k: g + l2 / m * params[k[1:]] if k[1:] in params and k[1] == "W" else g
        for k, g in grads.items()
    }


class _Engine:
    """What both engines hold: the data, the state dict, the activations and the options."""

    def __init__(
        self, X: np.ndarray, state: dict[str, np.ndarray], hidden: str, output: str, opts: Options
    ) -> None:
        self.X, self.state, self.hidden, self.output, self.opts = (
            X,
            dict(state),
            hidden,
            output,
            opts,
        )
        # The network's parameters among the state's arrays (for gram: all but W1).
        self.names = {k for k in state if k[0] in "Wb" and k[1:].isdigit()}


class _Direct(_Engine):
    """The course's algorithm as written: every iteration multiplies by X (or its batch).

    Its state is the parameters and the optimizer's arrays. Each step makes new arrays, so
    a state taken before a step stays whole: that is what a divergence falls back to.
    """

    name = "direct"

    @staticmethod
    def initial_state(
        X: np.ndarray, params: network.Params, opts: Options
    ) -> dict[str, np.ndarray]:
        return {**params, **OPTIMIZERS[opts.optimizer][0](params)}

    def forward(self, Xb: np.ndarray, masks: dict | None) -> tuple[np.ndarray, network.Caches]:
        return network.forward(Xb, self.params(self.state), self.hidden, self.output, masks=masks)

    def penalty(self, m: int) -> float:
        return network.l2_cost(self.params(self.state), self.opts.l2, m) if self.opts.l2 else 0.0

    def step(
        self, AL: np.ndarray, Y: np.ndarray, caches: network.Caches, lr: float, masks: dict | None
    ) -> None:
        if self.opts.plain:  # one pass, new arrays
            self.state = network.backward_update(
                AL, Y, caches, self.state, self.hidden, lr, masks=masks
            )
            return
        params, opt_state = _split(self.state, self.names)
        grads = network.backward(AL, Y, caches, params, self.hidden, masks=masks)
        grads = _with_l2(grads, params, self.opts.l2, Y.shape[1])
        params, opt_state = OPTIMIZERS[self.opts.optimizer][1](
            params, grads, opt_state, lr, self.opts.hyper
        )
        self.state = {**params, **opt_state}

    def params(self, state: dict[str, np.ndarray]) -> network.Params:
        return _split(state, self.names)[0]

    def layers(self) -> list[int]:
        return network.layer_dims(self.params(self.state))


class _Gram(_Engine):
    """Full-batch training with W1 kept as a W1_0 + C @ X.T.

    Every update of W1 is a combination of the training examples (dW1 = dZ1 @ X.T, plus
    lambda/m W1 with L2, averaged by momentum), so W1 = a W1_0 + C @ X.T with a scalar a and
    C (n[1], m), and Z1 = W1 @ X + b1 = a Z1_0 + C @ K + b1 with the Gram matrix
    K = X.T @ X (m, m). Each iteration then costs O(n[1] m^2) instead of O(n[1] n_x m); the
    arithmetic is the direct path's, reordered. W1 is formed on request.

    Without L2, b1 rides in the same form: db1 = dZ1 @ 1 is the product with a row of ones
    appended to X, so b1 = b1_0 + C @ 1 and, with K + 1 and Z1_0 = W1_0 @ X + b1_0,
    Z1 = Z1_0 + C @ (K + 1): no bias to add, sum or update. (L2 decays W1 but not b1, which
    breaks the shared form; b1 is then a parameter of its own.) The state holds ``b1_0``
    instead of ``b1`` in that case.
    """

    name = "gram"

    def __init__(
        self, X: np.ndarray, state: dict[str, np.ndarray], hidden: str, output: str, opts: Options
    ) -> None:
        super().__init__(X, state, hidden, output, opts)
        self.fold = "b1_0" in state  # b1 = b1_0 + C @ 1
        self.K = X.T @ X  # (m, m), symmetric
        self.Z1_0 = state["W1_0"] @ X  # (n[1], m)
        if self.fold:
            self.K += 1.0
            self.Z1_0 += state["b1_0"]
        self.W1_0_sq = float(np.sum(np.square(state["W1_0"]))) if opts.l2 else 0.0

    @staticmethod
    def initial_state(
        X: np.ndarray, params: network.Params, opts: Options
    ) -> dict[str, np.ndarray]:
        skip = ("W1",) if opts.l2 else ("W1", "b1")
        rest = {k: v for k, v in params.items() if k not in skip}
        n1, m = params["W1"].shape[0], X.shape[1]
        state = {**rest, **OPTIMIZERS[opts.optimizer][0](rest)}
        state |= {
            "W1_0": params["W1"],
            "C": np.zeros((n1, m), dtype=X.dtype),
            "a": np.array(1.0, dtype=X.dtype),
        }
        if not opts.l2:
            state["b1_0"] = params["b1"]
        if opts.optimizer == "momentum":  # W1's velocity, p W1_0 + V X.T, in the same form
            state |= {"V": np.zeros((n1, m), dtype=X.dtype), "p": np.array(0.0, dtype=X.dtype)}
        return state

    def forward(self, Xb: np.ndarray, masks: dict | None) -> tuple[np.ndarray, network.Caches]:
        s = self.state
        Z1 = np.dot(s["C"], self.K)  # (n[1], m)
        if self.opts.l2:
            self.CK = Z1.copy()  # penalty() reads it
            Z1 += s["a"] * self.Z1_0
        else:  # a stays 1
            Z1 += self.Z1_0
        if not self.fold:
            Z1 += s["b1"]
        return network.forward(self.X, s, self.hidden, self.output, Z1=Z1, masks=masks)

    def penalty(self, m: int) -> float:
        if not self.opts.l2:
            return 0.0
        s = self.state
        a, C = float(s["a"]), s["C"]
        # ||a W1_0 + C X.T||^2 = a^2 ||W1_0||^2 + 2a sum(C * (W1_0 X)) + sum(C * (C K))
        W1_sq = (
            a * a * self.W1_0_sq + 2 * a * float(np.sum(C * self.Z1_0)) + float(np.sum(C * self.CK))
        )
        rest = network.l2_cost({k: s[k] for k in self.names}, self.opts.l2, m)
        return rest + self.opts.l2 / (2 * m) * W1_sq

    def step(
        self, AL: np.ndarray, Y: np.ndarray, caches: network.Caches, lr: float, masks: dict | None
    ) -> None:
        if self.opts.plain:
            self._gd_step(AL, Y, caches, lr, masks)
            return
        s, opts, m = self.state, self.opts, Y.shape[1]
        grads = network.backward(AL, Y, caches, s, self.hidden, dW1=False, masks=masks)
        dZ1 = grads.pop("dZ1")
        if not self.fold:
            grads["db1"] = dZ1.sum(axis=1, keepdims=True)
        params, opt_state = _split(s, self.names)
        # dW1 = ga W1_0 + gC X.T: the data term dZ1 X.T and L2's lambda/m (a W1_0 + C X.T).
        ga, gC = opts.l2 / m * s["a"], dZ1 + opts.l2 / m * s["C"]
        grads = _with_l2(grads, params, opts.l2, m)
        params, opt_state = OPTIMIZERS[opts.optimizer][1](params, grads, opt_state, lr, opts.hyper)
        new = s | params | opt_state  # a new dict: the old state stays whole (see _gd_step)
        if opts.optimizer == "momentum":
            b = opts.hyper.beta
            new["p"], new["V"] = b * s["p"] + (1 - b) * ga, b * s["V"] + (1 - b) * gC
            new["a"], new["C"] = s["a"] - lr * new["p"], s["C"] - lr * new["V"]
        else:
            new["a"], new["C"] = s["a"] - lr * ga, s["C"] - lr * gC
        self.state = new

    def _gd_step(
        self, AL: np.ndarray, Y: np.ndarray, caches: network.Caches, lr: float, masks: dict | None
    ) -> None:
        """Plain gradient descent without L2: layers 2..L through network.backward_update,
        layer 1 as C - lr dZ1 (b1 rides in C). New arrays and a new state dict: the state
        before the step stays whole for a divergence to fall back to."""
        s = self.state
        new = network.backward_update(AL, Y, caches, s, self.hidden, lr, dW1=False, masks=masks)
        dZ1 = new.pop("dZ1")  # lr dZ1, (n[1], m)
        new["C"] = s["C"] - dZ1
        if not self.fold:  # a state from before b1 rode in C (an old checkpoint)
            new["b1"] = s["b1"] - dZ1.sum(axis=1, keepdims=True)
        self.state = s | new

    def params(self, state: dict[str, np.ndarray]) -> network.Params:
        C = state["C"]
        W1 = C @ self.X.T  # (n[1], n_x)
        W1 += state["W1_0"] if state["a"] == 1 else state["a"] * state["W1_0"]
        params = {"W1": W1}
        if self.fold:
            params["b1"] = state["b1_0"] + C.sum(axis=1, keepdims=True)
        return params | {k: state[k] for k in self.names}

    def layers(self) -> list[int]:
        s = self.state  # W1_0 has W1's shape
        return network.layer_dims({"W1": s["W1_0"], "b1": None} | {k: s[k] for k in self.names})


ENGINES = {"direct": _Direct, "gram": _Gram}


def _in_chunks(
    X: Any, Y: np.ndarray, params: network.Params, hidden: str, output: str, size: int
) -> tuple[float, float, network.Caches]:
    """(cost, accuracy, caches) of params on all m columns of a stream X, ``size`` columns at a
    time: the chunks' costs weighted by their sizes, so memory is bounded by a chunk. The
    caches are the last chunk's, or the first with a non-finite cost (which is returned)."""
    m = X.shape[1]
    total, correct = 0.0, 0.0
    caches: network.Caches = []
    for start, stop in X.blocks(size):
        Xc, Yc = X.columns(start, stop), Y[:, start:stop]
        AL, caches = network.forward(Xc, params, hidden, output)
        J = network.cost(caches[-1][1], Yc, output)
        if not np.isfinite(J):
            return J, float("nan"), caches
        total += J * (stop - start)
        if output == "sigmoid":
            correct += float(np.sum(network.labels(AL, output) == Yc)) / Yc.shape[0]
        elif output == "softmax":
            correct += float(np.sum(network.labels(AL, output)[0] == Yc.argmax(axis=0)))
    return total / m, correct / m, caches


def _evaluate(
    X: np.ndarray, Y: np.ndarray, params: network.Params, hidden: str, output: str
) -> dict[str, float]:
    """Cost (without the L2 term) and, for classifiers, accuracy of params on (X, Y)."""
    _, caches = network.forward(X, params, hidden, output)
    row = {"cost": network.cost(caches[-1][1], Y, output)}
    if output != "linear":
        row["accuracy"] = accuracy(X, Y, params, hidden, output)
    return row


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
    options: Options | None = None,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    callback: Callback | None = None,
    checkpoint: Callable[[TrainState], None] | None = None,
    checkpoint_every: int = 0,
    resume: TrainState | None = None,
) -> TrainResult:
    """Gradient descent, full-batch or in mini-batches, with the chosen update rule.

    Parameters
    ----------
    X : ndarray of shape (n_x, m)
    Y : ndarray of shape (n[L], m)
    params : initial W{l}, b{l} in the dtype of X (None when ``resume`` is given); not modified
    hidden, output : activation names
    learning_rate, iterations, log_every : as in the config's ``train`` section; an
        iteration is one update (one batch)
    engine : "direct", "gram" or "auto" (see :func:`choose_engine`); both give the same
        numbers up to rounding; auto takes direct where :meth:`Options.gram_blocker` says so
    options : optimizer, mini-batches, L2, dropout, decay, early stopping (default: none)
    validation : (X_val (n_x, m_val), Y_val (n[L], m_val)), evaluated at every log row
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
    opts = options or Options()
    m = X.shape[1]
    # X may be a data.CourseStream: batches are then read from disk, one block each.
    streamed = not isinstance(X, np.ndarray)
    if streamed and opts.shuffle != "blocks":
        raise ConfigError("train.shuffle: a streamed X is read in blocks; use shuffle blocks")
    batch = m if opts.batch_size is None else min(opts.batch_size, m)
    per_epoch = -(-m // batch)
    rng = np.random.default_rng(opts.seed)
    if resume is not None:
        engine, first, log = resume.engine, resume.iteration, list(resume.log)
        state, spent = resume.arrays, resume.seconds
        if resume.rng is not None:
            rng.bit_generator.state = resume.rng
        if engine == "gram":  # a Gram state: can these options and this X go on with it?
            n_x, n1 = state["W1_0"].shape[1], state["C"].shape[0]
            resolve_engine(
                engine, [n_x, n1], m, iterations, opts, streamed=streamed, itemsize=X.dtype.itemsize
            )
    else:
        assert params is not None, "train() needs params or resume"
        engine = resolve_engine(
            engine,
            network.layer_dims(params),
            m,
            iterations,
            opts,
            streamed=streamed,
            itemsize=X.dtype.itemsize,
        )
        first, log, state, spent = 0, [], ENGINES[engine].initial_state(X, params, opts), 0.0
        if opts.patience is not None:
            state |= {
                "best_cost": np.array(np.inf),
                "best_row": np.array(-1),
                "bad_checks": np.array(0),
            }
    start = time.perf_counter()
    runner = ENGINES[engine](
        X, {k: v for k, v in state.items() if not k.startswith("best")}, hidden, output, opts
    )
    extra = {k: v for k, v in state.items() if k.startswith("best") or k in ("bad_checks", "perm")}
    layers = runner.layers()
    last_good: tuple[dict[str, np.ndarray], float] | None = None

    saving = [0.0]  # seconds spent writing checkpoints: I/O, not training

    def elapsed() -> float:
        return spent + time.perf_counter() - start - saving[0]

    def save(state: TrainState) -> None:
        begun = time.perf_counter()
        checkpoint(state)
        saving[0] += time.perf_counter() - begun

    def snapshot(i: int, rng_state: dict[str, Any] | None = None) -> TrainState:
        rng_state = rng.bit_generator.state if rng_state is None else rng_state
        return TrainState(i, list(log), engine, {**runner.state, **extra}, elapsed(), rng_state)

    def diverged(J: float, when: str, caches: network.Caches) -> DivergedError:
        error = DivergedError(
            f"train.learning_rate: the cost became {J} {when}, first non-finite in "
            f"{_first_non_finite(runner.state, caches)}; try a smaller learning rate than {learning_rate:g}"
        )
        if last_good is not None:
            params = {k: v.astype(np.float64) for k, v in runner.params(last_good[0]).items()}
            error.last_finite = TrainResult(
                params, list(log), last_good[1], elapsed(), engine, len(log)
            )
        return error

    stopped_at = iterations
    draws = batch < m or bool(opts.keep_prob)  # does an iteration draw from rng?
    # Overflow is detected below and reported as divergence, not as NumPy warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        for i in range(first, iterations):
            epoch, k = divmod(i, per_epoch)
            # A stop at iteration i resumes at i, which draws its shuffle and masks again.
            drawn_from = rng.bit_generator.state if draws else None
            if batch < m and opts.shuffle == "blocks":
                if k == 0:
                    extra["perm"] = rng.permutation(per_epoch)  # of blocks
                begin = int(extra["perm"][k]) * batch
                end = min(begin + batch, m)
                Xb = X.columns(begin, end) if streamed else X[:, begin:end].copy()
                Yb = Y[:, begin:end]
            elif batch < m:
                if k == 0:
                    extra["perm"] = rng.permutation(m)
                idx = extra["perm"][k * batch : (k + 1) * batch]
                Xb, Yb = X[:, idx], Y[:, idx]
            else:
                Xb, Yb = (X.columns(0, m), Y) if streamed else (X, Y)
            masks = (
                network.dropout_masks(layers, Xb.shape[1], opts.keep_prob, rng, X.dtype)
                if opts.keep_prob
                else None
            )
            lr = learning_rate / (1 + opts.lr_decay * (epoch // opts.lr_decay_every))
            AL, caches = runner.forward(Xb, masks)
            J = network.cost(caches[-1][1], Yb, output) + runner.penalty(Yb.shape[1])
            if not math.isfinite(J):
                raise diverged(J, f"at iteration {i}", caches)
            if callback is not None:
                try:
                    callback(i, J)
                except StopTraining as stop:
                    if checkpoint is not None:
                        save(snapshot(i, drawn_from))
                    stop.iteration = i
                    raise
            stop_now = False
            if i % log_every == 0 or i == iterations - 1:
                row = {"iteration": i, "epoch": epoch, "cost": J}
                if validation is not None:
                    current = runner.params(runner.state)
                    row |= {
                        f"validation_{k}": v
                        for k, v in _evaluate(*validation, current, hidden, output).items()
                    }
                    if opts.patience is not None:
                        if row["validation_cost"] < extra["best_cost"]:
                            extra |= {f"best_{k}": v for k, v in current.items()}
                            extra |= {
                                "best_cost": np.array(row["validation_cost"]),
                                "best_row": np.array(len(log)),
                                "bad_checks": np.array(0),
                            }
                        else:
                            extra["bad_checks"] = extra["bad_checks"] + 1
                        stop_now = int(extra["bad_checks"]) >= opts.patience
                log.append(row)
            if stop_now:
                stopped_at = i
                break
            last_good = (runner.state, J)
            runner.step(AL, Yb, caches, lr, masks)
            if (
                checkpoint is not None
                and checkpoint_every
                and (i + 1) % checkpoint_every == 0
                and i + 1 < iterations
            ):
                save(snapshot(i + 1))
        final_params = runner.params(runner.state)
        best_iteration, restored = None, False
        if opts.patience is not None and opts.restore_best and int(extra["best_row"]) >= 0:
            # A row checks the parameters before its update, so those after the last update
            # were never checked, unless training stopped early at a row: check them too.
            if (
                stopped_at == iterations
                and validation is not None
                and _evaluate(*validation, final_params, hidden, output)["cost"]
                < extra["best_cost"]
            ):
                best_iteration = iterations
            else:
                final_params = {k: extra[f"best_{k}"] for k in final_params}
                best_iteration, restored = int(log[int(extra["best_row"])]["iteration"]), True
        final_accuracy = None
        if streamed:  # one pass over the file gives both
            final, final_accuracy, caches = _in_chunks(X, Y, final_params, hidden, output, batch)
        else:
            # The runner's own forward pass when its parameters are the final ones (gram: Z1
            # from C @ K, without W1 @ X).
            _, caches = (
                network.forward(X, final_params, hidden, output)
                if restored
                else runner.forward(X, None)
            )
            final = network.cost(caches[-1][1], Y, output)
        if opts.l2:
            final += network.l2_cost(final_params, opts.l2, m)
        if not np.isfinite(final):
            raise diverged(final, "after the last update", caches)
        if checkpoint is not None:
            save(snapshot(iterations if stopped_at == iterations else stopped_at))
    params64 = {k: v.astype(np.float64) for k, v in final_params.items()}
    return TrainResult(
        params64,
        log,
        final,
        elapsed(),
        engine,
        stopped_at,
        best_iteration,
        saving[0],
        final_accuracy,
    )


def accuracy(
    X: np.ndarray, Y: np.ndarray, params: network.Params, hidden: str, output: str
) -> float:
    """Fraction of examples whose predicted label equals Y's: AL > 0.5 for sigmoid, the
    largest probability for softmax (Y one-hot, (K, m))."""
    predicted = network.predict(X, params, hidden, output)
    if output == "softmax":
        return float(np.mean(predicted[0] == Y.argmax(axis=0)))
    return float(np.mean(predicted == Y))


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
    if need > sysinfo.available_memory():
        raise ConfigError(
            f"model.layers: {layers} with m = {m} needs about {need / 2**30:.1f} GiB per iteration, "
            f"more than the {sysinfo.available_memory() / 2**30:.1f} GiB free; use smaller layers"
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
    return network.init_params(layers, cfg.init.scale, rng, dtype, cfg.init.per_layer)


def options_from(cfg: Config) -> Options:
    """The training options a config sets beyond plain gradient descent."""
    t = cfg.train
    stopping = t.early_stopping
    return Options(
        optimizer=t.optimizer,
        hyper=Hyper(t.beta, t.beta1, t.beta2, t.epsilon),
        batch_size=t.batch_size,
        keep_prob=cfg.model.keep_probs(),
        lr_decay=t.lr_decay,
        lr_decay_every=t.lr_decay_every,
        l2=t.l2,
        patience=None if stopping is None else stopping.patience,
        restore_best=True if stopping is None else stopping.restore_best,
        seed=t.seed,
        shuffle="blocks" if cfg.data.stream else t.shuffle,
    )


def init_note(cfg: Config) -> str:
    """The initialisation each layer got, for the run's config.yaml (as comments)."""
    if cfg.init.from_ is not None:
        return f"init: every W and b read from {cfg.init.from_}"
    layers = cfg.model.layers
    lines = [
        f"init: weights = randn * multiplier (legacy RandomState({cfg.init.seed}), drawn W1, W2, ...), biases 0"
    ]
    for l in range(1, len(layers)):
        scale = cfg.init.per_layer.get(l, cfg.init.scale)
        multiplier = network.init_multiplier(scale, layers[l - 1])
        rule = f"{scale}, n[l-1] = {layers[l - 1]}" if isinstance(scale, str) else "a number"
        lines.append(f"  W{l} {layers[l]}x{layers[l - 1]}: multiplier {multiplier:.6g} ({rule})")
    return "\n".join(lines)


def iterations_of(cfg: Config, m: int) -> int:
    """Updates to run: ``train.epochs`` times the batches per epoch where epochs is set
    (it takes precedence), else ``train.iterations``."""
    if cfg.train.epochs is None:
        return cfg.train.iterations
    batch = min(cfg.train.batch_size or m, m)
    return cfg.train.epochs * -(-m // batch)


def config_changes(cfg: Config, run_dir: Path) -> list[str]:
    """``key: saved -> now`` for every key (but ``output``) where ``cfg`` differs from the
    config a run directory was made with. The saved one goes through the schema, so keys
    added since the run was made compare as their defaults."""
    import yaml

    from dlcli import runs
    from dlcli.config import validate

    path = run_dir / runs.CONFIG
    saved = validate(yaml.safe_load(path.read_text()), str(path)).to_dict()
    return [
        f"{section}.{key}: {saved.get(section, {}).get(key)!r} -> {value!r}"
        for section, values in cfg.to_dict().items()
        if section != "output"
        for key, value in values.items()
        if saved.get(section, {}).get(key) != value
    ]


def _resume_point(cfg: Config, name: str, out: Path | None, digest: str) -> tuple[Path, TrainState]:
    """The run to continue and its last checkpoint; refuses a run made differently."""

    from dlcli import runs

    run_dir = out if out is not None else runs.find_run_to_resume(cfg.output.dir, name)
    if not (run_dir / runs.CHECKPOINT).is_file():
        raise ConfigError(f"--resume: {run_dir}: holds no {runs.CHECKPOINT} to resume from")

    changed = config_changes(cfg, run_dir)
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
    if (run_dir / runs.METRICS).is_file():
        raise ConfigError(f"--resume: {run_dir} already finished its {state.iteration} iterations")
    return run_dir, state


def run(
    cfg: Config,
    name: str,
    out: Path | None = None,
    callback: Callback | None = None,
    *,
    resume: bool = False,
    force: bool = False,
    on_start: Callable[[int], None] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """The whole job: load data, initialise, train, write the run directory.

    Every check that a user's input can fail happens before the run directory is made. The
    run directory is ``out`` or ``<output.dir>/<name>`` (``-2``, ``-3``, ... when taken).

    Parameters
    ----------
    resume : continue the run in ``out`` (or the newest run of ``name``) from its checkpoint
    force : replace a run already in the run directory
    on_start : called with the number of iterations once it is known (``train.epochs``
        makes it depend on the data)

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

    dataset = data_mod.load(cfg.data, cfg.model.output_activation)
    dtype = np.dtype(cfg.train.dtype)
    streamed = cfg.data.stream
    Y = dataset.Y_train.astype(dtype)
    if streamed:  # a data.CourseStream: batches come from disk, in dtype
        X = dataset.X_train.astype(dtype)
        digest = X.digest(Y)
    else:
        X = np.ascontiguousarray(dataset.X_train, dtype=dtype)
        sha = hashlib.sha256(memoryview(X).cast("B"))  # no copy of X
        sha.update(np.ascontiguousarray(Y).tobytes())
        digest = sha.hexdigest()
    options = options_from(cfg)
    # Refuses an impossible engine before the run directory exists (train() decides auto).
    resolve_engine(
        cfg.train.engine,
        list(cfg.model.layers),
        X.shape[1],
        iterations_of(cfg, X.shape[1]),
        options,
        streamed=streamed,
        itemsize=dtype.itemsize,
    )
    if resume:
        run_dir, state = _resume_point(cfg, name, out, digest)
        params = None
    else:
        m, n_y = dataset.X_train.shape[1], dataset.Y_train.shape[0]
        if streamed:  # one batch is in memory at a time
            m = min(m, cfg.train.batch_size)
        params, state = initial_params(cfg, dataset.n_x, m, n_y), None
        run_dir = runs.create_run_dir(
            out or cfg.output.dir / name, cfg.to_dict(), force=force, note=init_note(cfg)
        )
    hidden, output = cfg.model.hidden_activation, cfg.model.output_activation
    meta = runs.model_meta(cfg, dataset)
    iterations = iterations_of(cfg, X.shape[1])
    validation = None
    if dataset.X_val is not None:
        validation = (dataset.X_val.astype(dtype), dataset.Y_val.astype(dtype))
    if on_start is not None:
        on_start(iterations)
    try:
        result = train(
            X,
            Y,
            params,
            hidden=hidden,
            output=output,
            learning_rate=cfg.train.learning_rate,
            iterations=iterations,
            log_every=cfg.train.log_every,
            engine=cfg.train.engine,
            options=options,
            validation=validation,
            callback=callback,
            checkpoint=lambda st: runs.write_checkpoint(run_dir, st, digest),
            checkpoint_every=cfg.train.checkpoint_every,
            resume=state,
        )
    except StopTraining as stop:
        stop.run_dir, stop.total = run_dir, iterations
        raise
    except DivergedError as exc:
        if exc.last_finite is None:
            raise
        runs.write_params(run_dir / runs.PARAMS, exc.last_finite.params, meta)
        write_text(run_dir / "costs.csv", runs.costs_csv(exc.last_finite.log))
        raise DivergedError(
            f"{exc}; the last parameters with a finite cost are in {run_dir / runs.PARAMS}"
        ) from None
    metrics: dict[str, Any] = {
        "final_cost": result.final_cost,
        "iterations": result.iterations,
        "epochs": result.iterations / -(-X.shape[1] // (options.batch_size or X.shape[1])),
        "train_seconds": result.train_seconds,
        "checkpoint_seconds": result.checkpoint_seconds,
        "engine": result.engine,
        "optimizer": options.optimizer,
        "train_examples": int(dataset.X_train.shape[1]),
        "run_dir": str(run_dir),
    }
    if cfg.train.early_stopping is not None:
        metrics["stopped_early"] = result.iterations < iterations
        metrics["best_iteration"] = result.best_iteration
    splits = {
        "train": (dataset.X_train, dataset.Y_train),
        "validation": (dataset.X_val, dataset.Y_val),
    }
    splits["test"] = (dataset.X_test, dataset.Y_test)
    for split, (X_s, Y_s) in splits.items():
        if X_s is None:
            continue
        if split == "train" and streamed:  # config: streaming is for classifiers only
            # Found in train()'s final pass over the file, with the final cost.
            metrics["train_accuracy"] = result.final_accuracy
        elif output != "linear":
            metrics[f"{split}_accuracy"] = accuracy(X_s, Y_s, result.params, hidden, output)
        else:
            from dlcli.evaluate import regression_metrics

            AL, _ = network.forward(X_s, result.params, hidden, output)
            if dataset.preprocessing["kind"] == "table":  # in the table's own units
                AL, Y_s = (data_mod.unscale_target(dataset.preprocessing, a) for a in (AL, Y_s))
            found = regression_metrics(Y_s, AL)
            metrics |= {f"{split}_{k}": found[k] for k in ("mse", "mae", "r2")}
        if split != "train":
            metrics[f"{split}_examples"] = int(X_s.shape[1])
    runs.finish_run(run_dir, meta, result, metrics, cfg.train.learning_rate)
    return run_dir, metrics
