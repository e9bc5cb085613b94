"""The direct engine's fast mini-batch path (dlcli.training.fast) gives today's numbers to the
bit: the same costs, parameters and checkpoints as the course's arrays written anew."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dlcli.errors import DivergedError
from dlcli.model import network
from dlcli.training import fast
from dlcli.training.loop import train
from dlcli.training.plan import Options
from dlcli.training.state import StopTraining, TrainState

K = 4  # classes of the softmax cases


def _data(output: str, dtype: type, m: int = 203) -> tuple[np.ndarray, np.ndarray]:
    """Pictures-like X (30, m) in [0, 1] and labels: one-hot (K, m) or 0/1 (1, m)."""
    rng = np.random.default_rng(7)
    X = rng.random((30, m)).astype(dtype)
    labels = rng.integers(0, K if output == "softmax" else 2, size=m)
    if output == "softmax":
        return X, network.one_hot(labels, K).astype(dtype)
    return X, labels.reshape(1, m).astype(dtype)


def _run(
    opts: Options,
    output: str = "softmax",
    hidden: str = "relu",
    dtype: type = np.float64,
    lr: float = 0.01,
    **kwargs,
):
    X, Y = _data(output, dtype)
    layers = [30, 16, 8, K if output == "softmax" else 1]
    init = network.init_params(layers, "he", network.legacy_rng(1), dtype)
    if kwargs.get("resume") is not None:
        init = None
    return train(
        X,
        Y,
        init,
        hidden=hidden,
        output=output,
        learning_rate=lr,
        iterations=kwargs.pop("iterations", 40),
        log_every=1,
        options=opts,
        **kwargs,
    )


def _same(a, b) -> None:
    """Results equal to the bit: every logged cost, the final cost, every parameter."""
    assert [row["cost"] for row in a.log] == [row["cost"] for row in b.log]
    assert a.final_cost == b.final_cost
    assert a.params.keys() == b.params.keys()
    for key, value in a.params.items():
        assert value.tobytes() == b.params[key].tobytes(), key


CASES = [
    # optimizer, output, hidden, l2, dtype, lr
    ("adam", "softmax", "relu", 0.0, np.float64, 0.01),
    ("adam", "softmax", "relu", 0.0, np.float32, 0.01),
    ("adam", "sigmoid", "tanh", 0.3, np.float64, 0.01),
    ("gd", "softmax", "relu", 0.0, np.float64, 0.5),
    ("gd", "softmax", "relu", 0.0, np.float32, 0.5),
    ("gd", "sigmoid", "relu", 0.2, np.float64, 0.5),
    ("momentum", "softmax", "leaky_relu", 0.0, np.float64, 0.3),
    ("momentum", "sigmoid", "sigmoid", 0.1, np.float32, 0.3),
]


@pytest.mark.parametrize(("optimizer", "output", "hidden", "l2", "dtype", "lr"), CASES)
def test_fast_path_equals_todays_to_the_bit(optimizer, output, hidden, l2, dtype, lr) -> None:
    # batch 32 of m = 203: six full batches and one of 11, a new shuffle every epoch.
    opts = Options(optimizer=optimizer, batch_size=32, l2=l2, lr_decay=0.5, seed=3)
    assert fast.applies(_data(output, dtype)[0], opts)
    new = _run(opts, output, hidden, dtype, lr)
    old = _run(dataclasses.replace(opts, fast=False), output, hidden, dtype, lr)
    _same(new, old)
    assert new.params["W1"].dtype == np.float64  # train() returns float64, as before
    assert new.final_cost < new.log[0]["cost"]  # and it learned something


def test_applies_only_to_in_memory_mini_batches_without_dropout() -> None:
    X = np.zeros((3, 100))
    assert fast.applies(X, Options(batch_size=10))
    assert fast.applies(X, Options(batch_size=10, keep_prob=(1.0,)))
    assert not fast.applies(X, Options(batch_size=10, keep_prob=(0.8,)))
    assert not fast.applies(X, Options())  # full batch
    assert not fast.applies(X, Options(batch_size=100))
    assert not fast.applies(X, Options(batch_size=10, fast=False))


def test_validation_and_early_stopping_see_the_same_parameters() -> None:
    Xv, Yv = _data("softmax", np.float64, m=50)
    opts = Options(optimizer="adam", batch_size=32, patience=3, seed=2)
    kw = dict(validation=(Xv, Yv), iterations=120)
    new, old = _run(opts, **kw), _run(dataclasses.replace(opts, fast=False), **kw)
    _same(new, old)
    assert [r["validation_cost"] for r in new.log] == [r["validation_cost"] for r in old.log]
    assert (new.iterations, new.best_iteration) == (old.iterations, old.best_iteration)


def test_a_checkpoint_continues_bit_exactly_in_either_path() -> None:
    opts = Options(optimizer="adam", batch_size=32, seed=5)
    saved: list[TrainState] = []

    def stop_at_17(i: int, cost: float) -> None:
        if i == 17:
            raise StopTraining

    with pytest.raises(StopTraining):
        _run(opts, callback=stop_at_17, checkpoint=saved.append)
    state = saved[-1]
    assert state.iteration == 17 and int(state.arrays["t"]) == 17
    whole = _run(opts)
    _same(_run(opts, resume=state), whole)
    _same(_run(dataclasses.replace(opts, fast=False), resume=state), whole)


def test_divergence_falls_back_to_the_same_last_finite_parameters() -> None:
    opts = Options(optimizer="gd", batch_size=32, seed=1)
    errors = []
    for o in (opts, dataclasses.replace(opts, fast=False)):
        with pytest.raises(DivergedError) as caught:
            _run(o, output="linear", hidden="linear", lr=0.3)
        errors.append(caught.value)
    new, old = errors
    assert str(new) == str(old)
    assert str(new).startswith("train.learning_rate: the cost became nan at iteration 5,")
    assert new.last_finite.iterations == 5  # the parameters before the 5th update
    _same(new.last_finite, old.last_finite)


def test_an_f_ordered_x_gives_the_same_bytes_without_a_copy() -> None:
    # Example-major memory (what an (m, n_x) file read gives, transposed) is gathered from
    # X.T itself; the products read its batches through BLAS's transpose flag.
    from dlcli.training.batches import Batches

    X, Y = _data("softmax", np.float64)
    opts = Options(optimizer="adam", batch_size=32, seed=4)
    batches = Batches(np.asfortranarray(X), Y, opts, np.random.default_rng(0))
    batches.pick(0)
    assert batches.rows is not None and np.shares_memory(batches.rows, batches.X)
    layers = [30, 16, 8, K]
    init = network.init_params(layers, "he", network.legacy_rng(1))
    kw = dict(hidden="relu", output="softmax", learning_rate=0.01, iterations=30, options=opts)
    _same(train(np.asfortranarray(X), Y, init, **kw), train(X, Y, init, **kw))
