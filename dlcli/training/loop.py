"""The training loop: the course's gradient descent, one iteration at a time.

Each iteration picks its batch, runs forward, computes the cost, hands it to the callback
(which may ask to stop), logs a row (with validation and early stopping), updates the
parameters and, every ``checkpoint_every`` iterations, saves a checkpoint. The engines
(:mod:`~dlcli.training.engines`), batches (:mod:`~dlcli.training.batches`) and early stopping
(:mod:`~dlcli.training.stopping`) hold the details.

Nothing here prints: progress reaches the caller through ``callback(iteration, cost)``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from dlcli.errors import ConfigError, DivergedError
from dlcli.model import network
from dlcli.training import fast
from dlcli.training.batches import Batches, scheduled_lr
from dlcli.training.engines import ENGINES, Engine
from dlcli.training.measure import (
    cost_and_accuracy,
    first_non_finite,
    in_chunks,
    label_accuracy,
)
from dlcli.training.plan import Options, resolve_engine
from dlcli.training.state import Callback, StopTraining, TrainResult, TrainState
from dlcli.training.stopping import EarlyStopping

Checkpoint = Callable[[TrainState], None]


@dataclass
class Clock:
    """Training time: the seconds a resumed run had ``spent``, plus those since ``start``,
    less the ``checkpoint_seconds`` spent writing checkpoints (I/O, not training)."""

    spent: float = 0.0
    start: float = field(default_factory=time.perf_counter)
    checkpoint_seconds: float = 0.0

    def elapsed(self) -> float:
        return self.spent + time.perf_counter() - self.start - self.checkpoint_seconds

    def write(self, checkpoint: Checkpoint, state: TrainState) -> None:
        """``checkpoint(state)``, its time counted apart."""
        begun = time.perf_counter()
        checkpoint(state)
        self.checkpoint_seconds += time.perf_counter() - begun


@dataclass
class _Loop:
    """The loop's parts, for the steps that need several of them: a log row, a checkpoint,
    a divergence report and the final parameters."""

    engine: str
    runner: Engine
    batches: Batches
    stopping: EarlyStopping | None
    log: list[dict[str, float]]
    clock: Clock
    checkpoint: Checkpoint | None
    learning_rate: float
    #: The engine state before the last update and its cost: what a divergence falls back to.
    last_good: tuple[dict[str, np.ndarray], float] | None = None
    #: The training time when the final parameters were formed (before the final cost pass).
    trained_seconds: float = 0.0
    #: The example weights (1, m) of all of X, or None (unweighted).
    weights: np.ndarray | None = None
    #: The health records of the logged rows so far (a resumed run's start with its checkpoint's).
    health: list[dict] = field(default_factory=list)

    def log_row(
        self, i: int, epoch: int, J: float, validation: tuple[np.ndarray, np.ndarray] | None
    ) -> bool:
        """Append iteration i's row, with the validation cost and accuracy of the parameters
        before its update; True when early stopping ends training at this row."""
        row = {"iteration": i, "epoch": epoch, "cost": J}
        stop = False
        if validation is not None:
            current = self.runner.params(self.runner.state)
            scores = cost_and_accuracy(*validation, current, self.runner.hidden, self.runner.output)
            row |= {f"validation_{k}": v for k, v in scores.items()}
            if self.stopping is not None:
                stop = self.stopping.check(row["validation_cost"], current, len(self.log))
        self.log.append(row)
        return stop

    def call_back(
        self, callback: Callback, i: int, J: float, drawn_from: dict[str, Any] | None
    ) -> None:
        """``callback(i, J)``; when it raises StopTraining, a checkpoint to continue at i
        (with the generator as it was before i drew) goes first."""
        try:
            callback(i, J)
        except StopTraining as stop:
            self.save(i, drawn_from)
            stop.iteration = i
            raise

    def save(self, i: int, rng_state: dict[str, Any] | None = None) -> None:
        """A checkpoint to continue at iteration i, when there is a ``checkpoint`` function;
        the generator's state is ``rng_state`` or, by default, the current one."""
        if self.checkpoint is None:
            return
        rng_state = self.batches.rng.bit_generator.state if rng_state is None else rng_state
        # Copies: the fast paths' parameters are views of buffers a later step writes over.
        arrays = {k: v.copy() for k, v in {**self.runner.state, **self.batches.arrays()}.items()}
        if self.stopping is not None:
            arrays |= self.stopping.arrays()
        state = TrainState(
            i,
            list(self.log),
            self.engine,
            arrays,
            self.clock.elapsed(),
            rng_state,
            list(self.health),
        )
        self.clock.write(self.checkpoint, state)

    def diverged(self, J: float, when: str, caches: network.Caches) -> DivergedError:
        """The error of a non-finite cost, carrying the last parameters whose cost was finite."""
        error = DivergedError(
            f"train.learning_rate: the cost became {J} {when}, first non-finite in "
            f"{first_non_finite(self.runner.state, caches)}; try a smaller learning rate than {self.learning_rate:g}"
        )
        if self.last_good is not None:
            state, cost = self.last_good
            params = {k: v.astype(np.float64) for k, v in self.runner.params(state).items()}
            error.last_finite = TrainResult(
                params, list(self.log), cost, self.clock.elapsed(), self.engine, len(self.log)
            )
        return error

    def finish(
        self,
        X: Any,
        Y: np.ndarray,
        validation: tuple[np.ndarray, np.ndarray] | None,
        stopped_at: int,
        iterations: int,
    ) -> tuple[network.Params, int | None, float, float | None]:
        """The parameters training returns (early stopping's best, or the last), the
        iteration they are from (None without restore), their cost on all of X (L2
        included) and, for a classifier, their accuracy from the same pass."""
        runner = self.runner
        params, best_iteration, restored = runner.params(runner.state), None, False
        if self.stopping is not None:
            last_cost = None
            if stopped_at == iterations and validation is not None:
                last_cost = partial(self._validation_cost, validation, params)
            params, best_iteration, restored = self.stopping.restore(
                params, self.log, iterations, last_cost
            )
        # Training ends here; the cost pass below measures its result, as the metrics
        # after train() do, and is timed apart (final_cost_seconds).
        self.trained_seconds = self.clock.elapsed()
        final_accuracy = None
        if self.batches.streamed:  # one pass over the file gives both
            final, final_accuracy, caches = in_chunks(
                X, Y, params, runner.hidden, runner.output, self.batches.size
            )
        else:
            # The runner's own forward pass when its parameters are the final ones (gram: Z1
            # from C @ K, without W1 @ X).
            _, caches = (
                network.forward(X, params, runner.hidden, runner.output)
                if restored
                else runner.forward(X, None)
            )
            final = network.cost(caches[-1][1], Y, runner.output, self.weights)
            if runner.output != "linear":  # the same pass gives the training accuracy
                final_accuracy = label_accuracy(caches[-1][2], Y, runner.output)
        if runner.opts.l2:
            final += network.l2_cost(params, runner.opts.l2, X.shape[1])
        if not np.isfinite(final):
            raise self.diverged(final, "after the last update", caches)
        return params, best_iteration, final, final_accuracy

    def _validation_cost(
        self, validation: tuple[np.ndarray, np.ndarray], params: network.Params
    ) -> float:
        scores = cost_and_accuracy(*validation, params, self.runner.hidden, self.runner.output)
        return scores["cost"]


def _start(
    X: Any,
    params: network.Params | None,
    engine: str,
    iterations: int,
    opts: Options,
    resume: TrainState | None,
) -> TrainState:
    """The state training begins from: ``resume`` (a Gram state checked against these
    options and this X), or a new one of ``params`` in the engine resolve_engine picks."""
    streamed, itemsize = not isinstance(X, np.ndarray), X.dtype.itemsize
    if resume is not None:
        if resume.engine == "gram":  # a Gram state: can these options and this X go on with it?
            n_x, n1 = resume.arrays["W1_0"].shape[1], resume.arrays["C"].shape[0]
            resolve_engine(
                "gram",
                [n_x, n1],
                X.shape[1],
                iterations,
                opts,
                streamed=streamed,
                itemsize=itemsize,
            )
        return resume
    assert params is not None, "train() needs params or resume"
    layers = network.layer_dims(params)
    engine = resolve_engine(
        engine, layers, X.shape[1], iterations, opts, streamed=streamed, itemsize=itemsize
    )
    return TrainState(0, [], engine, ENGINES[engine].initial_state(X, params, opts))


def _engine_arrays(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A state's arrays without those of the batches (``perm``) and of early stopping."""
    return {k: v for k, v in arrays.items() if k != "perm" and not EarlyStopping.owns(k)}


def _runner(
    engine: str, X: Any, arrays: dict[str, np.ndarray], hidden: str, output: str, opts: Options
) -> Engine:
    """The engine that runs: ``engine``'s, or the direct engine's fast mini-batch path where
    it applies (the same numbers, fewer arrays)."""
    engine_class = ENGINES[engine]
    if engine == "direct" and fast.applies(X, opts):
        engine_class = fast.FastDirect
    return engine_class(X, _engine_arrays(arrays), hidden, output, opts)


def _make_loop(
    start: TrainState,
    X: Any,
    Y: np.ndarray,
    hidden: str,
    output: str,
    opts: Options,
    checkpoint: Checkpoint | None,
    learning_rate: float,
    weights: np.ndarray | None,
) -> _Loop:
    """The loop's parts, at the state ``start`` (a new run's or a checkpoint's)."""
    rng = np.random.default_rng(opts.seed)
    if start.rng is not None:
        rng.bit_generator.state = start.rng
    runner = _runner(start.engine, X, start.arrays, hidden, output, opts)
    batches = Batches(X, Y, opts, rng, start.arrays.get("perm"), weights)
    stopping = None
    if opts.patience is not None:
        stopping = EarlyStopping(opts.patience, opts.restore_best, start.arrays)
    loop = _Loop(
        start.engine,
        runner,
        batches,
        stopping,
        list(start.log),
        Clock(start.seconds),
        checkpoint,
        learning_rate,
    )
    loop.weights, loop.health = weights, list(start.health)
    return loop


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
    checkpoint: Checkpoint | None = None,
    checkpoint_every: int = 0,
    resume: TrainState | None = None,
    weights: np.ndarray | None = None,
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
    engine : "direct", "gram" or "auto" (see :func:`~dlcli.training.plan.choose_engine`);
        both give the same numbers up to rounding; auto takes direct where
        :meth:`Options.gram_blocker` says so
    options : optimizer, mini-batches, L2, dropout, decay, early stopping (default: none)
    validation : (X_val (n_x, m_val), Y_val (n[L], m_val)), evaluated at every log row
    callback : called as ``callback(i, cost)`` once the cost of iteration i is known and
        before its update; it may raise :class:`StopTraining`
    checkpoint : called with a :class:`TrainState` every ``checkpoint_every`` iterations
        (0: never), on :class:`StopTraining`, and at the end
    resume : a state saved by ``checkpoint`` to continue from
    weights : ndarray of shape (1, m) in the dtype of X, optional
        Example weights: each batch's cost is sum w_i L_i / sum w_i over the batch's own
        examples (sum w taken per batch), and the final cost the same over all of X
        (:mod:`dlcli.model.weighting`); None trains the unweighted formulas. The L2 term
        keeps its lambda / (2m) with m the batch's number of examples.

    Raises
    ------
    DivergedError
        When a cost turns non-finite; names the iteration and the first layer affected, and
        carries the last parameters whose cost was finite as ``last_finite`` (a TrainResult).
    """
    opts = options or Options()
    # X may be a data.CourseStream: batches are then read from disk, one block each.
    if not isinstance(X, np.ndarray) and opts.shuffle != "blocks":
        raise ConfigError("train.shuffle: a streamed X is read in blocks; use shuffle blocks")
    start = _start(X, params, engine, iterations, opts, resume)
    loop = _make_loop(start, X, Y, hidden, output, opts, checkpoint, learning_rate, weights)
    runner, batches, rng, clock = loop.runner, loop.batches, loop.batches.rng, loop.clock
    layers = runner.layers()
    stopped_at = iterations
    # Overflow is detected below and reported as divergence, not as NumPy warnings.
    with np.errstate(over="ignore", invalid="ignore"), runner.blas_threads():
        for i in range(start.iteration, iterations):
            # A stop at iteration i resumes at i, which draws its shuffle and masks again.
            drawn_from = rng.bit_generator.state if batches.draws else None
            epoch, Xb, Yb = batches.pick(i)
            runner.w = batches.batch_weights(i)
            masks = batches.dropout_masks(layers, Xb.shape[1])
            lr = scheduled_lr(learning_rate, epoch, opts)
            AL, caches = runner.forward(Xb, masks)
            J = network.cost(caches[-1][1], Yb, output, runner.w) + runner.penalty(Yb.shape[1])
            if not math.isfinite(J):
                raise loop.diverged(J, f"at iteration {i}", caches)
            if callback is not None:
                loop.call_back(callback, i, J, drawn_from)
            logged = i % log_every == 0 or i == iterations - 1
            if logged and loop.log_row(i, epoch, J, validation):
                stopped_at = i  # early stopping: this row's parameters get no update
                break
            loop.last_good = (runner.state, J)
            runner.step(AL, Yb, caches, lr, masks)
            if logged and opts.health:  # this row's pass and update (training/health.py)
                loop.health.append(runner.health(i, loop.last_good[0], AL, Yb, caches, masks, lr))
            if checkpoint_every and (i + 1) % checkpoint_every == 0 and i + 1 < iterations:
                loop.save(i + 1)
        params, best_iteration, final, final_accuracy = loop.finish(
            X, Y, validation, stopped_at, iterations
        )
        final_cost_seconds = clock.elapsed() - loop.trained_seconds
        loop.save(stopped_at)
    params64 = {k: v.astype(np.float64) for k, v in params.items()}
    return TrainResult(
        params64,
        loop.log,
        final,
        loop.trained_seconds,
        start.engine,
        stopped_at,
        best_iteration,
        clock.checkpoint_seconds,
        final_accuracy,
        final_cost_seconds,
        loop.health,
    )
