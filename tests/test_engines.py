"""The Gram engine is the direct path's arithmetic reordered: same costs, same parameters."""

from __future__ import annotations

import numpy as np
import pytest
import threadpoolctl

from dlcli.model import network
from dlcli.training.loop import train
from dlcli.training.plan import choose_engine

ACTS = ["sigmoid", "tanh", "relu", "leaky_relu", "linear"]


def _case(seed: int):
    rng = np.random.default_rng(seed)
    depth = int(rng.integers(1, 5))
    n_x = int(rng.integers(1, 300))
    layers = [n_x, *rng.integers(1, 12, size=depth - 1).tolist(), 1]
    m = int(rng.integers(1, 60))
    output = ["sigmoid", "linear"][seed % 2]
    X = rng.standard_normal((n_x, m)) / np.sqrt(n_x)
    Y = (
        (rng.random((1, m)) > 0.5).astype(float)
        if output == "sigmoid"
        else rng.standard_normal((1, m))
    )
    hidden = ACTS[seed % len(ACTS)]
    return layers, X, Y, hidden, output


@pytest.mark.parametrize("seed", range(20))
def test_gram_equals_direct(seed: int) -> None:
    layers, X, Y, hidden, output = _case(seed)
    init = network.init_params(layers, "xavier", network.legacy_rng(seed))
    kwargs = dict(hidden=hidden, output=output, learning_rate=0.05, iterations=60, log_every=1)
    direct = train(X, Y, {k: v.copy() for k, v in init.items()}, engine="direct", **kwargs)
    gram = train(X, Y, {k: v.copy() for k, v in init.items()}, engine="gram", **kwargs)
    assert (direct.engine, gram.engine) == ("direct", "gram")
    d_costs = np.array([c for _, c in direct.costs])
    g_costs = np.array([c for _, c in gram.costs])
    np.testing.assert_allclose(g_costs, d_costs, rtol=1e-9, atol=0)
    assert gram.final_cost == pytest.approx(direct.final_cost, rel=1e-9)
    for key, value in direct.params.items():
        # Parameters that never moved from 0 (b of a dead unit) compare absolutely.
        np.testing.assert_allclose(gram.params[key], value, rtol=1e-9, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("l2", [0.0, 0.7])
def test_gram_state_with_b1_apart_resumes_equal_to_direct(l2: float) -> None:
    # Without L2 the Gram engine keeps b1 inside C (its state holds b1_0); a checkpoint written
    # before that (b1 a parameter of its own, as with L2) must still continue the same curve.
    from dlcli.training.engines import ENGINES
    from dlcli.training.plan import Options
    from dlcli.training.state import TrainState

    X, Y = _case(3)[1:3]
    layers = [X.shape[0], 6, 4, 1]
    init = network.init_params(layers, "xavier", network.legacy_rng(3))
    opts = Options(l2=l2)
    state = ENGINES["gram"].initial_state(X, {k: v.copy() for k, v in init.items()}, opts)
    assert ("b1_0" in state, "b1" in state) == (not l2, bool(l2))
    if not l2:
        state["b1"] = state.pop("b1_0")
    kwargs = dict(hidden="tanh", output="sigmoid", learning_rate=0.1, iterations=40, log_every=1)
    direct = train(X, Y, init, engine="direct", options=opts, **kwargs)
    gram = train(X, Y, None, options=opts, resume=TrainState(0, [], "gram", state), **kwargs)
    assert gram.engine == "gram"
    np.testing.assert_allclose(
        [c for _, c in gram.costs], [c for _, c in direct.costs], rtol=1e-9, atol=0
    )
    for key, value in direct.params.items():
        np.testing.assert_allclose(gram.params[key], value, rtol=1e-9, atol=1e-12, err_msg=key)


def test_gram_reproduces_the_course_cat_curve(cat_files) -> None:
    from dlcli.data.course import read_course_h5

    X, Y, _, _ = read_course_h5(cat_files[0])
    layers = [12288, 20, 7, 5, 1]
    kwargs = dict(
        hidden="relu", output="sigmoid", learning_rate=0.0075, iterations=200, log_every=100
    )
    results = {
        engine: train(
            X,
            Y,
            network.init_params(layers, "xavier", network.legacy_rng(1)),
            engine=engine,
            **kwargs,
        )
        for engine in ("direct", "gram")
    }
    assert [round(c, 6) for _, c in results["gram"].costs] == [
        0.771749,
        0.672053,
        pytest.approx(0.6, abs=0.1),
    ]
    np.testing.assert_allclose(
        [c for _, c in results["gram"].costs], [c for _, c in results["direct"].costs], rtol=1e-9
    )
    np.testing.assert_allclose(
        results["gram"].params["W1"], results["direct"].params["W1"], rtol=1e-9, atol=1e-15
    )


@pytest.mark.parametrize(
    ("layers", "m", "expected"),
    [
        ([12288, 20, 7, 5, 1], 209, "gram"),  # the cat model: m << n_x
        ([12288, 1], 209, "gram"),
        ([2, 4, 1], 400, "direct"),  # the flower: m >> n_x
        ([100, 20, 1], 10_000, "direct"),
        # At m = n_x gram still wins: one (n1, m) @ (m, m) product against two of n1 n_x m.
        ([1000, 20, 1], 1000, "gram"),
        ([1000, 20, 1], 3000, "direct"),
    ],
)
def test_auto_picks_the_cheaper_engine(layers: list[int], m: int, expected: str) -> None:
    assert choose_engine(layers, m, 2500) == expected


def test_auto_reports_the_engine_it_ran() -> None:
    X = np.random.default_rng(0).standard_normal((500, 10))
    Y = np.ones((1, 10))
    params = network.init_params([500, 3, 1], 0.01, network.legacy_rng(0))
    result = train(
        X,
        Y,
        params,
        hidden="tanh",
        output="sigmoid",
        learning_rate=0.1,
        iterations=5,
        engine="auto",
    )
    assert result.engine == "gram"


def test_auto_steps_aside_when_k_does_not_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    # The cat model's Gram arrays: K (209 x 209) and C, Z1_0, V (20 x 209), float64: 449,768
    # bytes. On a machine with less free, auto runs direct and an explicit gram is refused.
    from dlcli import sysinfo
    from dlcli.errors import ConfigError
    from dlcli.training.plan import Options, resolve_engine

    layers, m = [12288, 20, 7, 5, 1], 209
    monkeypatch.setattr(sysinfo, "available_memory", lambda: 449_768)
    assert resolve_engine("auto", layers, m, 2500, Options()) == "gram"
    monkeypatch.setattr(sysinfo, "available_memory", lambda: 300_000)
    assert resolve_engine("auto", layers, m, 2500, Options()) == "direct"
    assert resolve_engine("auto", layers, m, 2500, Options(), itemsize=4) == "gram"
    with pytest.raises(ConfigError) as error:
        resolve_engine("gram", layers, m, 2500, Options())
    assert str(error.value) == (
        "train.engine: gram cannot run this config: K = X.T X for m = 209 examples and its "
        "companions need 0.4 MiB, more than the 0.3 MiB free; use auto or direct"
    )


def _gram_run(monkeypatch, kit: bool, layers, X, Y, **kwargs):
    """train() on the Gram engine, through gramkit.PlainStep or (kit False) the general path."""
    from dlcli.model import gramkit

    with monkeypatch.context() as patch:
        if not kit:
            patch.setattr(gramkit, "runs", lambda hidden, output, n_layers: False)
        init = network.init_params(layers, "xavier", network.legacy_rng(3), dtype=X.dtype)
        return train(X, Y, init, hidden="relu", output="sigmoid", engine="gram", **kwargs)


@pytest.mark.parametrize("layers", [[40, 1], [40, 7, 1], [40, 20, 7, 5, 1]])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_plain_step_gives_the_general_gram_path_to_the_bit(monkeypatch, layers, dtype) -> None:
    rng = np.random.default_rng(len(layers))
    X = rng.random((40, 31)).astype(dtype)
    Y = (rng.random((1, 31)) < 0.4).astype(dtype)
    kwargs = dict(learning_rate=0.5, iterations=300, log_every=1)
    fast, general = (_gram_run(monkeypatch, kit, layers, X, Y, **kwargs) for kit in (True, False))
    assert [c for _, c in fast.costs] == [c for _, c in general.costs]
    assert fast.final_cost == general.final_cost
    for key, value in general.params.items():
        assert fast.params[key].tobytes() == value.tobytes(), key


def test_plain_step_diverges_as_the_general_gram_path(monkeypatch) -> None:
    from dlcli.errors import DivergedError

    rng = np.random.default_rng(5)
    X, Y = rng.random((40, 31)), (rng.random((1, 31)) < 0.4).astype(float)
    errors = []
    for kit in (True, False):
        with pytest.raises(DivergedError) as caught:
            _gram_run(monkeypatch, kit, [40, 20, 7, 5, 1], X, Y, learning_rate=1e40, iterations=50)
        errors.append(caught.value)
    fast, general = errors
    assert str(fast) == str(general)
    assert "the cost became nan at iteration 2, first non-finite in layer 2 (Z2)" in str(fast)
    assert fast.last_finite.costs == general.last_finite.costs
    for key, value in general.last_finite.params.items():
        assert fast.last_finite.params[key].tobytes() == value.tobytes(), key


def test_plain_step_leaves_the_state_before_a_step_whole() -> None:
    from dlcli.training.engines import ENGINES
    from dlcli.training.plan import Options

    rng = np.random.default_rng(6)
    X, Y = rng.random((40, 31)), (rng.random((1, 31)) < 0.4).astype(float)
    params = network.init_params([40, 20, 7, 1], "xavier", network.legacy_rng(1))
    engine = ENGINES["gram"](
        X, ENGINES["gram"].initial_state(X, params, Options()), "relu", "sigmoid", Options()
    )
    assert engine.kit is not None
    for _ in range(3):  # the kit's arrays are reused from the second step on
        before = engine.state
        copies = {k: v.copy() for k, v in before.items()}
        AL, caches = engine.forward(X, None)
        engine.step(AL, Y, caches, 0.1, None)
        assert engine.state is not before
        for key, value in copies.items():
            np.testing.assert_array_equal(before[key], value, err_msg=key)
        assert not np.array_equal(engine.state["C"], before["C"])


@pytest.mark.parametrize(
    ("hidden", "output", "options"),
    [
        ("tanh", "sigmoid", {}),
        ("relu", "linear", {}),
        ("relu", "sigmoid", {"l2": 0.1}),
        ("relu", "sigmoid", {"optimizer": "momentum"}),
    ],
)
def test_plain_step_runs_only_relu_sigmoid_plain_gradient_descent(hidden, output, options) -> None:
    from dlcli.training.engines import ENGINES
    from dlcli.training.plan import Options

    X = np.random.default_rng(7).random((40, 31))
    params = network.init_params([40, 7, 1], "xavier", network.legacy_rng(1))
    opts = Options(**options)
    state = ENGINES["gram"].initial_state(X, params, opts)
    assert ENGINES["gram"](X, state, hidden, output, opts).kit is None
    plain = ENGINES["gram"](
        X, ENGINES["gram"].initial_state(X, params, Options()), "relu", "sigmoid", Options()
    )
    assert plain.kit is not None


@pytest.mark.parametrize(
    ("engine", "m", "threads_inside"),
    [("gram", 209, 1), ("gram", 500, None), ("direct", 209, None)],
)
def test_the_gram_engine_trains_on_one_blas_thread_while_its_products_are_small(
    engine: str, m: int, threads_inside: int | None
) -> None:
    """2 n[1] m^2 = 1.7 MFLOP (the cat model's C @ K) runs on one BLAS thread, 10 MFLOP
    (m = 500) and the direct engine on BLAS as found; the limit ends with training."""

    def blas_threads() -> list[int]:
        info = threadpoolctl.threadpool_info()
        return [lib["num_threads"] for lib in info if lib["user_api"] == "blas"]

    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((30, m)), (rng.random((1, m)) > 0.5).astype(float)
    init = network.init_params([30, 20, 1], "xavier", network.legacy_rng(1))
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        seen: list[list[int]] = []
        train(
            X, Y, init, hidden="relu", output="sigmoid", learning_rate=0.1, iterations=2,
            engine=engine, callback=lambda i, cost: seen.append(blas_threads()),
        )  # fmt: skip
        expected = [2] * len(blas_threads()) if threads_inside is None else [1] * len(seen[0])
        assert seen == [expected, expected]
        assert blas_threads() == [2] * len(seen[0])


def test_gram_training_in_another_thread_keeps_blas_as_found() -> None:
    """The BLAS limit holds for the whole process: a Gram run in a thread other than the
    main one (trials sharing a Dask worker) sets none, so runs side by side cannot restore
    each other's limits out of order."""
    import threading

    def blas_threads() -> list[int]:
        info = threadpoolctl.threadpool_info()
        return [lib["num_threads"] for lib in info if lib["user_api"] == "blas"]

    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((30, 209)), (rng.random((1, 209)) > 0.5).astype(float)
    init = network.init_params([30, 20, 1], "xavier", network.legacy_rng(1))
    seen: list[list[int]] = []
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        worker = threading.Thread(
            target=lambda: train(
                X,
                Y,
                init,
                hidden="relu",
                output="sigmoid",
                learning_rate=0.1,
                iterations=2,
                engine="gram",
                callback=lambda i, c: seen.append(blas_threads()),
            )
        )
        worker.start()
        worker.join()
        assert seen == [[2] * len(seen[0])] * 2
