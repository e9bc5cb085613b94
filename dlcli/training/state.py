"""What training hands back and forth: the checkpointed state, the result, and the stop request.

Nothing here computes; the loop (:mod:`dlcli.training.loop`) fills these in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlcli.model import network

Callback = Callable[[int, float], None]


class StopTraining(Exception):  # noqa: N818 - a request, not an error
    """Raised by a callback to stop training at an iteration boundary.

    :func:`~dlcli.training.loop.train` saves a checkpoint first (when it has a ``checkpoint``
    function), sets ``iteration`` to the iteration that had not yet run, and re-raises it.
    """

    iteration: int = -1


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
    health : the health records so far, as in :class:`TrainResult`
    """

    iteration: int
    log: list[dict[str, float]]
    engine: str
    arrays: dict[str, np.ndarray]
    seconds: float = 0.0
    rng: dict[str, Any] | None = None
    health: list[dict] = field(default_factory=list)


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
    train_seconds : wall time of the loop up to the final parameters, without the time spent
        writing checkpoints
    checkpoint_seconds : the time spent writing checkpoints
    final_cost_seconds : the time of the pass over the training set that finds ``final_cost``
    final_accuracy : a classifier's training accuracy, found in the same pass over X (or the
        streamed file) as ``final_cost``, so the caller need not make it again; None for a
        linear output
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
    final_cost_seconds: float = 0.0
    #: One statistics record per logged row that was followed by an update
    #: (:mod:`~dlcli.training.health`); a resumed run's include those its checkpoint held.
    health: list[dict] = field(default_factory=list)

    @property
    def costs(self) -> list[tuple[int, float]]:
        """(iteration, cost) pairs of the log."""
        return [(int(row["iteration"]), row["cost"]) for row in self.log]
