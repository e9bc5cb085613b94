"""gramkit.PlainStep keeps its parameters in two buffers that take turns: whatever leaves the
engine (checkpoints, early stopping's best parameters, the result) must be the numbers of the
general Gram path to the bit, not views that a later step writes over."""

from __future__ import annotations

import numpy as np
import pytest

from dlcli.model import gramkit, network
from dlcli.training.engines import ENGINES
from dlcli.training.loop import train
from dlcli.training.plan import Options
from dlcli.training.state import StopTraining

LAYERS = [40, 20, 7, 5, 1]


def _data(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((40, 31)), (rng.random((1, 31)) < 0.4).astype(float)


def _train(monkeypatch, kit: bool, X, Y, **kwargs):
    """train() on the Gram engine, through the kit or (kit False) the general path."""
    with monkeypatch.context() as patch:
        if not kit:
            patch.setattr(gramkit, "runs", lambda hidden, output, n_layers: False)
        init = network.init_params(LAYERS, "xavier", network.legacy_rng(3))
        return train(X, Y, init, hidden="relu", output="sigmoid", engine="gram", **kwargs)


def _same(a, b) -> None:
    assert [c for _, c in a.costs] == [c for _, c in b.costs]
    assert a.final_cost == b.final_cost
    assert a.params.keys() == b.params.keys()
    for key, value in b.params.items():
        assert a.params[key].tobytes() == value.tobytes(), key


def test_early_stopping_keeps_the_best_parameters_not_a_view(monkeypatch) -> None:
    X, Y = _data(1)
    validation = _data(2)
    kwargs = dict(
        learning_rate=0.9,
        iterations=400,
        log_every=5,
        validation=validation,
        options=Options(patience=3),
    )
    fast, general = (_train(monkeypatch, kit, X, Y, **kwargs) for kit in (True, False))
    assert fast.best_iteration is not None and fast.iterations < 400  # it did stop early
    assert fast.best_iteration == general.best_iteration
    _same(fast, general)


def test_checkpoints_and_a_resume_through_the_kit_are_bit_exact(monkeypatch) -> None:
    X, Y = _data(4)
    whole = _train(monkeypatch, True, X, Y, learning_rate=0.5, iterations=120, log_every=10)
    saved = []

    def stop_at_57(i: int, cost: float) -> None:
        if i == 57:
            raise StopTraining()

    with pytest.raises(StopTraining):
        _train(
            monkeypatch,
            True,
            X,
            Y,
            learning_rate=0.5,
            iterations=120,
            log_every=10,
            callback=stop_at_57,
            checkpoint=saved.append,
            checkpoint_every=20,
        )
    assert [s.iteration for s in saved] == [20, 40, 57]
    # Each checkpoint holds its own numbers: C after 20 and 40 steps differ.
    assert not np.array_equal(saved[0].arrays["C"], saved[1].arrays["C"])
    for kit in (True, False):  # a kit's checkpoint continues on either path
        resumed = _train(
            monkeypatch,
            kit,
            X,
            Y,
            learning_rate=0.5,
            iterations=120,
            log_every=10,
            resume=saved[-1],
        )
        _same(resumed, whole)


def test_the_buffers_take_turns_and_the_state_is_their_views() -> None:
    X, Y = _data(6)
    params = network.init_params(LAYERS, "xavier", network.legacy_rng(1))
    engine = ENGINES["gram"](
        X, ENGINES["gram"].initial_state(X, params, Options()), "relu", "sigmoid", Options()
    )
    kit = engine.kit
    assert kit is not None
    states = []
    for _ in range(3):
        AL, caches = engine.forward(X, None)
        engine.step(AL, Y, caches, 0.1, None)
        states.append(engine.state)
    # Steps 1 and 3 write the same buffer; C of step 1 was written over by step 3.
    assert np.shares_memory(states[0]["C"], states[2]["C"])
    assert not np.shares_memory(states[0]["C"], states[1]["C"])
    # What params() hands out is a copy, so it survives later steps.
    handed = engine.params(engine.state)
    W2 = handed["W2"].copy()
    for _ in range(2):
        AL, caches = engine.forward(X, None)
        engine.step(AL, Y, caches, 0.1, None)
    np.testing.assert_array_equal(handed["W2"], W2)
    assert not np.array_equal(engine.state["W2"], W2)
