"""Issue 7's training options in NumPy: mini-batches, momentum and Adam, learning-rate decay,
L2, inverted dropout, validation and early stopping, and the engines under them.

The references below are written out as the course states each rule, on top of
``network.forward`` / ``network.backward``; PyTorch's optimizers are in test_torch_optim.py.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from dlcli import checks
from dlcli.config import load_config, validate
from dlcli.data.load import load as load_data
from dlcli.data.load import one_hot
from dlcli.errors import ConfigError
from dlcli.job import run
from dlcli.model import gradcheck as gc
from dlcli.model import network
from dlcli.model.optimizers import Hyper
from dlcli.runs import plot_costs, read_params
from dlcli.training.loop import train
from dlcli.training.plan import Options, iterations_of
from dlcli.training.state import StopTraining

FLOWER = Path(__file__).resolve().parents[1] / "configs" / "flower.yaml"
ACTS = ["sigmoid", "tanh", "relu", "leaky_relu", "linear"]


def _labels(output: str, n_y: int, m: int, rng: np.random.Generator) -> np.ndarray:
    if output == "sigmoid":
        return (rng.random((n_y, m)) > 0.5).astype(np.float64)
    if output == "softmax":
        return (np.arange(n_y)[:, np.newaxis] == rng.integers(0, n_y, size=m)).astype(np.float64)
    return rng.standard_normal((n_y, m))


def _problem(seed: int) -> dict:
    """A seeded random network with at least one hidden layer, its data and activations."""
    rng = np.random.default_rng(seed)
    output = ("sigmoid", "linear", "softmax")[seed % 3]
    n_x, m = int(rng.integers(1, 200)), int(rng.integers(2, 40))
    n_y = 3 if output == "softmax" else 1
    layers = [n_x, *(int(n) for n in rng.integers(1, 10, size=int(rng.integers(1, 4)))), n_y]
    X = rng.standard_normal((n_x, m)) / np.sqrt(n_x)  # (n_x, m)
    return dict(
        X=X,
        Y=_labels(output, n_y, m, rng),
        params=network.init_params(layers, "xavier", network.legacy_rng(seed)),
        hidden=ACTS[seed % len(ACTS)],
        output=output,
        layers=layers,
    )


def _assert_same_run(actual, expected, rtol: float) -> None:
    """Same log (iteration and epoch exactly, every cost to rtol), parameters and final cost."""
    assert [list(r) for r in actual.log] == [list(r) for r in expected.log]
    for column in expected.log[0]:
        np.testing.assert_allclose(
            [r[column] for r in actual.log], [r[column] for r in expected.log], rtol=rtol, atol=0
        )
    assert actual.final_cost == pytest.approx(expected.final_cost, rel=rtol, abs=0)
    assert sorted(actual.params) == sorted(expected.params)
    for key, value in expected.params.items():
        # A parameter that never left 0 (b of a dead unit) compares absolutely.
        np.testing.assert_allclose(actual.params[key], value, rtol=rtol, atol=1e-12, err_msg=key)


# ---------------------------------------------------------------- the Gram engine


def _option_sets(hidden_layers: int) -> dict[str, Options]:
    keep = tuple(np.linspace(0.6, 0.9, hidden_layers).tolist())
    return {
        "l2": Options(l2=0.7),
        "momentum": Options(optimizer="momentum", hyper=Hyper(beta=0.8)),
        "l2+momentum": Options(optimizer="momentum", l2=0.7),
        "dropout": Options(keep_prob=keep, seed=11),
        "all": Options(
            optimizer="momentum", l2=0.3, keep_prob=keep, lr_decay=0.05, seed=4, patience=1000
        ),
    }


@pytest.mark.parametrize("option", ["l2", "momentum", "l2+momentum", "dropout", "all"])
@pytest.mark.parametrize("seed", range(6))
def test_gram_equals_direct_with_options(seed: int, option: str) -> None:
    case = _problem(seed)
    options = _option_sets(len(case["layers"]) - 2)[option]
    validation = (case["X"][:, ::2], case["Y"][:, ::2]) if option == "all" else None
    kwargs = dict(
        hidden=case["hidden"],
        output=case["output"],
        learning_rate=0.1,
        iterations=40,
        log_every=1,
        options=options,
        validation=validation,
    )
    direct = train(case["X"], case["Y"], case["params"], engine="direct", **kwargs)
    gram = train(case["X"], case["Y"], case["params"], engine="gram", **kwargs)
    assert (direct.engine, gram.engine) == ("direct", "gram")
    _assert_same_run(gram, direct, rtol=1e-9)
    # The option did change the run (so the equality above is about it).
    plain = train(
        case["X"], case["Y"], case["params"], engine="direct", **kwargs | {"options": None}
    )
    assert [r["cost"] for r in plain.log] != [r["cost"] for r in direct.log]


def _wide_data() -> tuple[np.ndarray, np.ndarray, network.Params]:
    """n_x >> m: the shape where auto picks gram when it may."""
    X = np.random.default_rng(0).standard_normal((500, 10))
    Y = (np.arange(10) % 2).reshape(1, 10).astype(np.float64)
    return X, Y, network.init_params([500, 3, 2, 1], 0.01, network.legacy_rng(0))


@pytest.mark.parametrize(
    ("options", "engine"),
    [
        (Options(), "gram"),
        (Options(l2=0.5), "gram"),
        (Options(optimizer="momentum"), "gram"),
        (Options(keep_prob=(0.8, 0.5)), "gram"),
        (Options(batch_size=10), "gram"),  # one batch of all m = 10: still full-batch
        (Options(batch_size=64), "gram"),
        (Options(optimizer="adam"), "direct"),
        (Options(batch_size=9), "direct"),
        (Options(optimizer="momentum", l2=0.5, batch_size=4), "direct"),
    ],
)
def test_auto_steps_aside_for_adam_and_mini_batches(options: Options, engine: str) -> None:
    X, Y, params = _wide_data()
    result = train(
        X,
        Y,
        params,
        hidden="tanh",
        output="sigmoid",
        learning_rate=0.1,
        iterations=5,
        engine="auto",
        options=options,
    )
    assert result.engine == engine


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        (
            Options(optimizer="adam"),
            "train.optimizer adam scales each coordinate of dW1, so W1 leaves the span of X",
        ),
        (
            Options(batch_size=4),
            "train.batch_size is smaller than m: each update sees other columns of X",
        ),
    ],
)
def test_explicit_gram_is_refused_where_it_cannot_run(options: Options, reason: str) -> None:
    X, Y, params = _wide_data()
    with pytest.raises(ConfigError) as err:
        train(
            X,
            Y,
            params,
            hidden="tanh",
            output="sigmoid",
            learning_rate=0.1,
            iterations=5,
            engine="gram",
            options=options,
        )
    assert str(err.value) == (
        f"train.engine: gram cannot run this config: {reason}; use auto or direct"
    )


def test_a_refused_gram_config_makes_no_run_directory(in_tmp: Path) -> None:
    cfg = load_config(FLOWER, ["train.engine=gram", "train.batch_size=50"])
    with pytest.raises(ConfigError, match=r"^train\.engine: gram cannot run this config: "):
        run(cfg, "flower")
    assert not (in_tmp / "runs").exists()


# ---------------------------------------------------------------- mini-batches


def _batches_seen(seed: int, m: int = 10, batch: int = 4, epochs: int = 3) -> list[list[set]]:
    """The examples of every batch train() used, epoch by epoch, read off the logged costs.

    With X = 0, zero parameters and learning rate 0, AL = 0 and a batch's cost is
    sum(Y_j^2) / (2 m_b); Y_j = 2^j makes that sum 4^j summed over the batch, whose base-4
    digits are the batch's membership. Every number here is exact in float64.
    """
    X, Y = np.zeros((1, m)), 2.0 ** np.arange(m)[np.newaxis, :]
    costs: list[float] = []
    per_epoch = -(-m // batch)
    train(
        X,
        Y,
        {"W1": np.zeros((1, 1)), "b1": np.zeros((1, 1))},
        hidden="relu",
        output="linear",
        learning_rate=0.0,
        iterations=epochs * per_epoch,
        options=Options(batch_size=batch, seed=seed),
        callback=lambda i, J: costs.append(J),
    )
    sizes = [min(batch, m - k * batch) for k in range(per_epoch)]
    seen = []
    for e in range(epochs):
        batches = []
        for k, size in enumerate(sizes):
            total = costs[e * per_epoch + k] * 2 * size
            assert total == int(total), f"batch {k} of epoch {e} is not of {size} examples"
            digits = np.base_repr(int(total), 4)[::-1]
            assert set(digits) <= {"0", "1"}
            batches.append({j for j, d in enumerate(digits) if d == "1"})
        seen.append(batches)
    return seen


def test_every_example_once_per_epoch_with_the_last_partial_batch_kept() -> None:
    seen = _batches_seen(seed=1)
    for batches in seen:
        assert [len(b) for b in batches] == [4, 4, 2]
        assert set().union(*batches) == set(range(10))  # 10 examples in 10 slots: each once
    # A new shuffle each epoch, and not the file's order.
    assert seen[0] != seen[1] != seen[2] != seen[0]
    assert seen[0] != [set(range(4)), set(range(4, 8)), {8, 9}]


def test_the_shuffle_is_seeded() -> None:
    assert _batches_seen(seed=1) == _batches_seen(seed=1)
    assert _batches_seen(seed=2) != _batches_seen(seed=1)


def test_a_batch_of_m_or_more_is_the_full_batch() -> None:
    case = _problem(3)
    kwargs = dict(hidden=case["hidden"], output=case["output"], learning_rate=0.1, iterations=6)
    m = case["X"].shape[1]
    full = train(case["X"], case["Y"], case["params"], engine="direct", **kwargs)
    for size in (m, m + 5):
        batched = train(
            case["X"],
            case["Y"],
            case["params"],
            engine="direct",
            options=Options(batch_size=size),
            **kwargs,
        )
        assert batched.log == full.log
        assert all(np.array_equal(batched.params[k], v) for k, v in full.params.items())


def test_the_log_has_an_epoch_column() -> None:
    case = _problem(1)
    X, Y = case["X"][:, :10], case["Y"][:, :10]
    kwargs = dict(hidden=case["hidden"], output=case["output"], learning_rate=0.1)
    options = Options(batch_size=4)
    every = train(X, Y, case["params"], iterations=8, log_every=1, options=options, **kwargs)
    assert [(r["iteration"], r["epoch"]) for r in every.log] == [
        (0, 0), (1, 0), (2, 0), (3, 1), (4, 1), (5, 1), (6, 2), (7, 2),
    ]  # fmt: skip
    sparse = train(X, Y, case["params"], iterations=8, log_every=3, options=options, **kwargs)
    assert [(r["iteration"], r["epoch"]) for r in sparse.log] == [(0, 0), (3, 1), (6, 2), (7, 2)]
    assert [r["cost"] for r in sparse.log] == [every.log[i]["cost"] for i in (0, 3, 6, 7)]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ([], 10000),  # train.iterations
        (["train.epochs=3"], 3),  # full batch: one update an epoch
        (["train.epochs=3", "train.batch_size=64"], 3 * 7),  # 400 = 6 * 64 + 16
        (["train.epochs=3", "train.batch_size=100"], 3 * 4),
        (["train.epochs=3", "train.batch_size=1000"], 3),
        (["train.epochs=2", "train.iterations=5", "train.batch_size=64"], 2 * 7),
    ],
)
def test_epochs_give_the_iterations(overrides: list[str], expected: int) -> None:
    assert iterations_of(load_config(FLOWER, overrides), 400) == expected


def test_run_counts_epochs_over_the_training_part(in_tmp: Path) -> None:
    cfg = load_config(
        FLOWER,
        ["train.epochs=2", "train.batch_size=64", "data.validation_fraction=0.25"],
    )
    started: list[int] = []
    run_dir, metrics = run(cfg, "flower", on_start=started.append)
    # 300 training examples after the split: batches of 64, 64, 64, 64, 44.
    assert started == [10]
    assert (metrics["iterations"], metrics["epochs"], metrics["train_examples"]) == (10, 2.0, 300)
    rows = (run_dir / "costs.csv").read_text().splitlines()
    assert [tuple(r.split(",")[:2]) for r in rows[1:]] == [("0", "0"), ("9", "1")]


# ---------------------------------------------------------------- written-out references


def _reference(
    X: np.ndarray,
    Y: np.ndarray,
    init: network.Params,
    hidden: str,
    output: str,
    learning_rate: float,
    iterations: int,
    *,
    optimizer: str = "gd",
    beta: float = 0.9,
    beta1: float = 0.9,
    beta2: float = 0.999,
    epsilon: float = 1e-8,
    batch_size: int | None = None,
    lr_decay: float = 0.0,
    lr_decay_every: int = 1,
    l2: float = 0.0,
    keep_prob: tuple[float, ...] = (),
    seed: int = 1,
) -> tuple[list[float], network.Params]:
    """The training loop as the course writes it: a new permutation of the examples from the
    seeded generator at each epoch's start, then the batch's dropout masks from the same
    generator; lr = lr0 / (1 + decay * floor(epoch / every)); the L2 term lambda / (2 m_b)
    sum ||W||^2 in the batch's cost and lambda / m_b W in its dW; then the update rule."""
    m = X.shape[1]
    batch = m if batch_size is None else min(batch_size, m)
    per_epoch = math.ceil(m / batch)
    layers = network.layer_dims(init)
    rng = np.random.default_rng(seed)
    params = {k: v.copy() for k, v in init.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    s = {k: np.zeros_like(p) for k, p in params.items()}
    costs = []
    for i in range(iterations):
        epoch, k = divmod(i, per_epoch)
        if batch < m:
            if k == 0:
                perm = rng.permutation(m)
            columns = perm[k * batch : (k + 1) * batch]
        else:
            columns = np.arange(m)
        Xb, Yb = X[:, columns], Y[:, columns]
        m_b = Xb.shape[1]
        masks = network.dropout_masks(layers, m_b, keep_prob, rng) if keep_prob else None
        lr = learning_rate / (1 + lr_decay * math.floor(epoch / lr_decay_every))
        AL, caches = network.forward(Xb, params, hidden, output, masks=masks)
        W_sq = sum(float(np.sum(p * p)) for name, p in params.items() if name[0] == "W")
        costs.append(network.cost(caches[-1][1], Yb, output) + l2 / (2 * m_b) * W_sq)
        grads = network.backward(AL, Yb, caches, params, hidden, masks=masks)
        t = i + 1  # Adam's count of updates
        for name in params:
            g = grads[f"d{name}"] + (l2 / m_b * params[name] if name[0] == "W" else 0.0)
            if optimizer == "gd":
                params[name] = params[name] - lr * g
            elif optimizer == "momentum":  # the course's form, from v = 0
                v[name] = beta * v[name] + (1 - beta) * g
                params[name] = params[name] - lr * v[name]
            else:  # adam, bias-corrected, from v = s = 0 and t = 1
                v[name] = beta1 * v[name] + (1 - beta1) * g
                s[name] = beta2 * s[name] + (1 - beta2) * g * g
                v_hat, s_hat = v[name] / (1 - beta1**t), s[name] / (1 - beta2**t)
                params[name] = params[name] - lr * v_hat / (np.sqrt(s_hat) + epsilon)
    return costs, params


REFERENCE_CASES = {
    "gd-minibatch": dict(batch_size=7),
    "gd-l2": dict(l2=0.9),
    "gd-dropout": dict(keep_prob=(0.6, 0.8)),
    "decay-inverse-time": dict(lr_decay=0.3),
    "decay-step-minibatch": dict(batch_size=5, lr_decay=1.0, lr_decay_every=2),
    "momentum": dict(optimizer="momentum", beta=0.8),
    "momentum-minibatch-l2-decay": dict(
        optimizer="momentum", batch_size=6, l2=0.4, lr_decay=0.5, lr_decay_every=3
    ),
    "adam": dict(optimizer="adam", beta1=0.8, beta2=0.99, epsilon=1e-7),
    "adam-minibatch-l2-dropout-decay": dict(
        optimizer="adam", batch_size=6, l2=0.4, keep_prob=(1.0, 0.7), lr_decay=0.2, seed=9
    ),
}


def _options(spec: dict) -> Options:
    hyper = Hyper(**{k: spec[k] for k in ("beta", "beta1", "beta2", "epsilon") if k in spec})
    rest = {k: v for k, v in spec.items() if k not in ("beta", "beta1", "beta2", "epsilon")}
    return Options(hyper=hyper, **rest)


@pytest.mark.parametrize("name", list(REFERENCE_CASES))
@pytest.mark.parametrize("engine", ["direct", "auto"])
def test_train_equals_the_written_out_reference(name: str, engine: str) -> None:
    spec = REFERENCE_CASES[name]
    rng = np.random.default_rng(5)
    X = rng.standard_normal((60, 20)) / np.sqrt(60)  # n_x > m: auto takes gram where it may
    Y = (rng.random((1, 20)) > 0.5).astype(np.float64)
    init = network.init_params([60, 5, 4, 1], "xavier", network.legacy_rng(2))
    kwargs = dict(hidden="tanh", output="sigmoid", learning_rate=0.05, iterations=25)
    options = _options(spec)
    result = train(X, Y, init, log_every=1, engine=engine, options=options, **kwargs)
    expected_engine = "gram" if engine == "auto" and options.gram_blocker(20) is None else "direct"
    assert result.engine == expected_engine
    rtol = 1e-12 if result.engine == "direct" else 1e-9  # gram reorders the arithmetic
    costs, params = _reference(X, Y, init, **kwargs, **spec)
    np.testing.assert_allclose([r["cost"] for r in result.log], costs, rtol=rtol, atol=0)
    for key, value in params.items():
        np.testing.assert_allclose(result.params[key], value, rtol=rtol, atol=0, err_msg=key)
    # Each option changes the numbers: the reference without it would have failed.
    plain_costs, _ = _reference(X, Y, init, **kwargs)
    assert not np.allclose(costs, plain_costs, rtol=1e-9, atol=0)


def test_the_step_schedule_in_learning_rates() -> None:
    # One weight on x = 0 and its bias b, both examples y = 1, batches of one: the residual
    # r = b - 1 follows r <- r (1 - lr), and the batch's cost is r^2 / 2. So the learning
    # rate of iteration i is 1 - r[i+1] / r[i], read off the log. Two iterations make an
    # epoch; lr = 0.5 / (1 + 1.0 * floor(epoch / 2)) changes every two epochs.
    X, Y = np.zeros((1, 2)), np.ones((1, 2))
    result = train(
        X,
        Y,
        {"W1": np.zeros((1, 1)), "b1": np.zeros((1, 1))},
        hidden="relu",
        output="linear",
        learning_rate=0.5,
        iterations=13,
        log_every=1,
        options=Options(batch_size=1, lr_decay=1.0, lr_decay_every=2),
    )
    r = np.sqrt(2 * np.array([row["cost"] for row in result.log]))
    rates = 1 - r[1:] / r[:-1]
    epochs = [row["epoch"] for row in result.log][:-1]
    assert epochs == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    np.testing.assert_allclose(rates, [0.5 / (1 + e // 2) for e in epochs], rtol=1e-12)
    assert rates[0] == rates[3] == 0.5 and rates[4] == 0.25 and rates[8] == pytest.approx(0.5 / 3)


# ---------------------------------------------------------------- L2


def _total_cost(X, Y, params, hidden, output, lambd):
    _, caches = network.forward(X, params, hidden, output)
    W_sq = sum(float(np.sum(v * v)) for k, v in params.items() if k[0] == "W")
    return network.cost(caches[-1][1], Y, output) + lambd / (2 * X.shape[1]) * W_sq


@pytest.mark.parametrize("engine", ["direct", "gram"])
@pytest.mark.parametrize("output", ["sigmoid", "softmax", "linear"])
def test_l2_cost_and_the_gradient_dlcli_trains_with(engine: str, output: str) -> None:
    rng = np.random.default_rng(8)
    n_y, m, lambd = (3 if output == "softmax" else 1), 12, 0.9
    X, Y = rng.standard_normal((4, m)), _labels(output, n_y, m, rng)
    init = network.init_params([4, 5, 3, n_y], 1.0, network.legacy_rng(4))
    lr = 1024.0  # a power of two: (W0 - W1) / lr recovers the gradient to a few ulps
    kwargs = dict(hidden="tanh", output=output, learning_rate=lr, iterations=1, engine=engine)
    result = train(X, Y, init, options=Options(l2=lambd), **kwargs)
    assert result.engine == engine

    J0 = _total_cost(X, Y, init, "tanh", output, lambd)
    assert result.log[0]["cost"] == pytest.approx(J0, rel=1e-12, abs=0)
    assert result.final_cost == pytest.approx(
        _total_cost(X, Y, result.params, "tanh", output, lambd), rel=1e-12, abs=0
    )
    # The data cost alone is lower: the penalty was in the log.
    assert network.cost(network.forward(X, init, "tanh", output)[1][-1][1], Y, output) < J0 - 0.01

    theta, layout = gc.params_to_vector(init)
    grads = {k: (init[k] - result.params[k]) / lr for k in init}
    analytic = np.concatenate([grads[name].ravel() for name, _, _ in layout])
    numeric = gc.numeric_gradient(
        lambda th: _total_cost(X, Y, gc.vector_to_params(th, layout), "tanh", output, lambd),
        theta,
        epsilon=1e-6,
    )
    assert gc.relative_difference(analytic, numeric) < 1e-7
    # lambda / m W is a large part of it: without it the check fails.
    data_only = train(X, Y, init, **kwargs)
    without = np.concatenate([((init[n] - data_only.params[n]) / lr).ravel() for n, _, _ in layout])
    assert gc.relative_difference(without, numeric) > 1e-2


# ---------------------------------------------------------------- dropout


def test_dropout_masks_are_inverted_and_only_on_hidden_layers() -> None:
    layers, m = [5, 300, 200, 100, 2], 400
    masks = network.dropout_masks(layers, m, (0.5, 0.8, 1.0), np.random.default_rng(0))
    assert sorted(masks) == [1, 2]  # keep 1.0 gets no mask; the output layer is not listed
    for l, keep in ((1, 0.5), (2, 0.8)):
        D = masks[l]
        assert D.shape == (layers[l], m) and D.dtype == np.float64
        assert set(np.unique(D)) == {0.0, 1 / keep}
        # Inverted: E[D] = keep * (1 / keep) = 1, so E[A * D] = A; 5 standard deviations.
        sd = math.sqrt((1 - keep) / keep / D.size)
        assert abs(D.mean() - 1) < 5 * sd
        assert abs(np.mean(D > 0) - keep) < 5 * math.sqrt(keep * (1 - keep) / D.size)


def test_forward_drops_hidden_units_never_the_input() -> None:
    rng = np.random.default_rng(1)
    layers, m = [6, 5, 4, 3], 7
    X = rng.standard_normal((6, m))
    params = network.init_params(layers, 1.0, network.legacy_rng(1))
    masks = network.dropout_masks(layers, m, (0.5, 0.5), rng)
    AL, caches = network.forward(X, params, "tanh", "softmax", masks=masks)
    assert caches[0][0] is X
    for l in (1, 2):  # layer l+1 reads A[l] * D[l]; the cache keeps A[l] itself
        np.testing.assert_array_equal(caches[l][0], caches[l - 1][2] * masks[l])
        assert np.any(caches[l][0] == 0) and np.any(caches[l - 1][2] != caches[l][0])
    assert not np.allclose(AL, network.forward(X, params, "tanh", "softmax")[0])


def test_dropout_is_off_for_validation_final_cost_and_prediction() -> None:
    case = _problem(1)  # tanh, linear output
    X, Y, init = case["X"], case["Y"], case["params"]
    kwargs = dict(hidden="tanh", output="linear", learning_rate=0.1)
    options = Options(keep_prob=(0.5,) * (len(case["layers"]) - 2), seed=3)
    first = train(X, Y, init, iterations=1, options=options, validation=(X, Y), **kwargs)
    undropped = network.cost(network.forward(X, init, "tanh", "linear")[1][-1][1], Y, "linear")
    assert first.log[0]["validation_cost"] == undropped  # the initial weights, all units
    assert first.log[0]["cost"] != undropped  # the training cost had units dropped
    result = train(X, Y, init, iterations=20, options=options, **kwargs)
    AL, caches = network.forward(X, result.params, "tanh", "linear")
    assert result.final_cost == network.cost(caches[-1][1], Y, "linear")
    np.testing.assert_array_equal(network.predict(X, result.params, "tanh", "linear"), AL)


@pytest.mark.parametrize("output", ["sigmoid", "softmax", "linear"])
def test_with_a_fixed_mask_backward_is_the_derivative(output: str) -> None:
    rng = np.random.default_rng(2)
    layers, m = [4, 6, 5, 3 if output == "softmax" else 1], 9
    X, Y = rng.standard_normal((4, m)), _labels(output, layers[-1], m, rng)
    params = network.init_params(layers, 1.0, network.legacy_rng(5))
    masks = network.dropout_masks(layers, m, (0.6, 0.7), rng)
    AL, caches = network.forward(X, params, "tanh", output, masks=masks)
    grads = network.backward(AL, Y, caches, params, "tanh", masks=masks)
    theta, layout = gc.params_to_vector(params)
    analytic = np.concatenate([grads[f"d{name}"].ravel() for name, _, _ in layout])

    def J(th: np.ndarray) -> float:
        _, cs = network.forward(X, gc.vector_to_params(th, layout), "tanh", output, masks=masks)
        return network.cost(cs[-1][1], Y, output)

    numeric = gc.numeric_gradient(J, theta, epsilon=1e-6)
    assert gc.relative_difference(analytic, numeric) < 1e-7
    # A backward pass that forgets the masks is caught.
    unmasked = network.backward(AL, Y, caches, params, "tanh")
    wrong = np.concatenate([unmasked[f"d{name}"].ravel() for name, _, _ in layout])
    assert gc.relative_difference(wrong, numeric) > 1e-2
    # The gradient checker's own fixed-mask and L2 options agree.
    assert gc.check_gradients(X, Y, params, "tanh", output, masks=masks).passed
    assert gc.check_gradients(X, Y, params, "tanh", output, masks=masks, lambd=0.8).passed


# ---------------------------------------------------------------- early stopping


def _early_stopping_problem(seed: int):
    # Labels with no relation to X: fitting the training set makes validation worse soon.
    rng = np.random.default_rng(seed)
    X, Y = rng.standard_normal((5, 8)), (rng.random((1, 8)) > 0.5).astype(np.float64)
    X_val, Y_val = rng.standard_normal((5, 30)), (rng.random((1, 30)) > 0.5).astype(np.float64)
    params = network.init_params([5, 6, 1], "xavier", network.legacy_rng(seed))
    return X, Y, (X_val, Y_val), params


def _validation_cost(validation, params) -> float:
    X_val, Y_val = validation
    return network.cost(
        network.forward(X_val, params, "tanh", "sigmoid")[1][-1][1], Y_val, "sigmoid"
    )


@pytest.mark.parametrize("patience", [1, 2, 4])
@pytest.mark.parametrize("seed", [0, 1, 3])
def test_early_stopping_stops_after_patience_checks_and_restores_the_best(
    seed: int, patience: int
) -> None:
    X, Y, validation, init = _early_stopping_problem(seed)
    kwargs = dict(hidden="tanh", output="sigmoid", learning_rate=0.5, iterations=400, log_every=10)
    result = train(X, Y, init, validation=validation, options=Options(patience=patience), **kwargs)
    costs = [row["validation_cost"] for row in result.log]
    # The rule, replayed on the log: a check without a lower validation cost is a bad one;
    # training stops at the first row that completes `patience` bad checks in a row.
    best, bad, stop_row = math.inf, 0, None
    for r, cost in enumerate(costs):
        best, bad = (cost, 0) if cost < best else (best, bad + 1)
        if bad >= patience:
            stop_row = r
            break
    assert stop_row == len(result.log) - 1
    best_row = int(np.argmin(costs))
    assert stop_row - best_row == patience
    assert result.iterations == result.log[-1]["iteration"] < 400
    assert result.best_iteration == result.log[best_row]["iteration"]
    # restore_best: the returned parameters are those the best row evaluated.
    assert _validation_cost(validation, result.params) == costs[best_row]
    if best_row == 0:
        assert all(np.array_equal(result.params[k], v) for k, v in init.items())
    # Without restore_best, the parameters of the row it stopped at.
    last = train(
        X,
        Y,
        init,
        validation=validation,
        options=Options(patience=patience, restore_best=False),
        **kwargs,
    )
    assert last.log == result.log and last.best_iteration is None
    assert _validation_cost(validation, last.params) == costs[-1] != costs[best_row]


def test_early_stopping_can_find_its_best_after_the_start() -> None:
    # Seeds 0 and 3 of the problem above improve once before they worsen: the restore is
    # not merely "the initial weights".
    bests = []
    for seed in (0, 3):
        X, Y, validation, init = _early_stopping_problem(seed)
        result = train(
            X,
            Y,
            init,
            hidden="tanh",
            output="sigmoid",
            learning_rate=0.5,
            iterations=400,
            log_every=10,
            validation=validation,
            options=Options(patience=3),
        )
        bests.append(result.best_iteration)
    assert bests == [10, 10]


def _flower_with_early_stopping(learning_rate: float, iterations: int) -> list[str]:
    return [
        "data.validation_fraction=0.25",
        f"train.iterations={iterations}",
        "train.log_every=100",
        f"train.learning_rate={learning_rate}",
        "train.early_stopping={patience: 3}",
    ]


def test_run_on_the_flower_stops_early_and_keeps_the_best(in_tmp: Path) -> None:
    cfg = load_config(FLOWER, _flower_with_early_stopping(3.0, 4000))
    run_dir, metrics = run(cfg, "flower")
    rows = (run_dir / "costs.csv").read_text().splitlines()
    assert rows[0] == "iteration,epoch,cost,validation_cost,validation_accuracy"
    log = [dict(zip(rows[0].split(","), map(float, r.split(",")), strict=True)) for r in rows[1:]]
    best = min(range(len(log)), key=lambda r: log[r]["validation_cost"])
    assert metrics["stopped_early"] is True
    assert metrics["iterations"] == log[-1]["iteration"] < 4000
    assert len(log) - 1 - best == 3
    assert metrics["best_iteration"] == log[best]["iteration"] > 0
    assert json.loads((run_dir / "metrics.json").read_text()) == metrics
    # params.h5 holds the best row's parameters: its validation cost, recomputed.
    params, _ = read_params(run_dir / "params.h5")
    dataset = load_data(cfg.data)  # splits off data.validation_fraction as run() does
    assert metrics["validation_examples"] == dataset.X_val.shape[1] == 100
    AL, caches = network.forward(dataset.X_val, params, "tanh", "sigmoid")
    assert network.cost(caches[-1][1], dataset.Y_val, "sigmoid") == pytest.approx(
        log[best]["validation_cost"], rel=1e-12
    )
    assert (
        metrics["validation_accuracy"]
        == float(np.mean((AL > 0.5) == dataset.Y_val))
        == pytest.approx(log[best]["validation_accuracy"])
    )
    assert (run_dir / "cost.png").stat().st_size > 0


def test_run_that_keeps_improving_does_not_stop_early(in_tmp: Path) -> None:
    cfg = load_config(FLOWER, _flower_with_early_stopping(1.2, 800))
    run_dir, metrics = run(cfg, "flower")
    assert metrics["stopped_early"] is False
    assert metrics["iterations"] == 800
    rows = (run_dir / "costs.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == [*(str(i) for i in range(0, 800, 100)), "799"]
    # The last row (799) checked the parameters before the last update; those after it were
    # checked once more at the end, were better still, and are the ones kept.
    assert metrics["best_iteration"] == 800
    params, _ = read_params(run_dir / "params.h5")
    dataset = load_data(cfg.data)
    _, caches = network.forward(dataset.X_val, params, "tanh", "sigmoid")
    last_row = float(rows[-1].split(",")[3])
    assert network.cost(caches[-1][1], dataset.Y_val, "sigmoid") < last_row
    kept = train(
        dataset.X_train,
        dataset.Y_train,
        network.init_params([2, 4, 1], 0.01, network.legacy_rng(cfg.init.seed)),
        hidden="tanh",
        output="sigmoid",
        learning_rate=1.2,
        iterations=800,
        log_every=100,
        validation=(dataset.X_val, dataset.Y_val),
        options=Options(patience=3, restore_best=False),
    )
    assert {k: v.tobytes() for k, v in kept.params.items()} == {
        k: v.tobytes() for k, v in params.items()
    }


def test_without_early_stopping_there_are_no_stopping_metrics(in_tmp: Path) -> None:
    cfg = load_config(FLOWER, ["data.validation_fraction=0.25", "train.iterations=300"])
    run_dir, metrics = run(cfg, "flower")
    assert "stopped_early" not in metrics and "best_iteration" not in metrics
    header = (run_dir / "costs.csv").read_text().splitlines()[0]
    assert header == "iteration,epoch,cost,validation_cost,validation_accuracy"


def _colour_pixels(path: Path, rgb: tuple[int, int, int]) -> int:
    from matplotlib.image import imread

    image = imread(path)[..., :3]  # (height, width, 3) in [0, 1]
    return int(np.sum(np.all(np.abs(image - np.array(rgb) / 255) < 0.02, axis=-1)))


def test_cost_png_draws_the_validation_curve_beside_the_training_curve(tmp_path: Path) -> None:
    log = [
        {"iteration": i, "epoch": i, "cost": 1 / (i + 1), "validation_cost": 0.3 + 0.5 / (i + 1)}
        for i in range(0, 1000, 100)
    ]
    plot_costs(tmp_path / "both.png", log, 0.1)
    training_only = [{k: row[k] for k in ("iteration", "epoch", "cost")} for row in log]
    plot_costs(tmp_path / "one.png", training_only, 0.1)
    # matplotlib's first two colours: C0 blue for training, C1 orange for validation.
    blue, orange = (31, 119, 180), (255, 127, 14)
    assert _colour_pixels(tmp_path / "both.png", blue) > 100
    assert _colour_pixels(tmp_path / "both.png", orange) > 100
    assert _colour_pixels(tmp_path / "one.png", blue) > 100
    assert _colour_pixels(tmp_path / "one.png", orange) == 0


# ---------------------------------------------------------------- resume


RESUME_OPTIONS = Options(
    optimizer="adam", batch_size=4, keep_prob=(0.8, 0.6), l2=0.1, lr_decay=0.5, seed=5, patience=50
)


def _resume_problem():
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((3, 10)), (rng.random((1, 10)) > 0.5).astype(np.float64)
    params = network.init_params([3, 5, 4, 1], "xavier", network.legacy_rng(1))
    kwargs = dict(
        hidden="relu",
        output="sigmoid",
        learning_rate=0.01,
        iterations=14,
        log_every=2,
        options=RESUME_OPTIONS,
        validation=(X[:, :5], Y[:, :5]),
    )
    return X, Y, params, kwargs


def _assert_bit_exact(resumed, full) -> None:
    assert resumed.log == full.log
    assert resumed.final_cost == full.final_cost
    assert resumed.iterations == full.iterations and resumed.best_iteration == full.best_iteration
    assert {k: v.tobytes() for k, v in resumed.params.items()} == {
        k: v.tobytes() for k, v in full.params.items()
    }


@pytest.mark.parametrize("stop_at", [1, 3, 5, 7, 12])  # batches 4, 4, 2: 3 and 12 start epochs
def test_a_stop_mid_epoch_resumes_bit_exactly(stop_at: int) -> None:
    X, Y, params, kwargs = _resume_problem()
    full = train(X, Y, params, **kwargs)
    states = []

    def stop(i: int, J: float) -> None:
        if i == stop_at:
            raise StopTraining

    with pytest.raises(StopTraining) as raised:
        train(X, Y, params, callback=stop, checkpoint=states.append, **kwargs)
    assert raised.value.iteration == stop_at
    state = states[-1]
    assert state.iteration == stop_at and state.engine == "direct"
    assert {"perm", "t", "best_cost", "bad_checks"} <= set(state.arrays)
    resumed = train(X, Y, None, resume=copy.deepcopy(state), **kwargs)
    _assert_bit_exact(resumed, full)


def test_a_periodic_checkpoint_resumes_bit_exactly() -> None:
    X, Y, params, kwargs = _resume_problem()
    full = train(X, Y, params, **kwargs)
    states = []
    train(X, Y, params, checkpoint=states.append, checkpoint_every=5, **kwargs)
    assert [s.iteration for s in states] == [5, 10, 14]
    for state in states[:2]:
        _assert_bit_exact(train(X, Y, None, resume=copy.deepcopy(state), **kwargs), full)


# ---------------------------------------------------------------- config


BASE = {"data": {"generate": {"name": "flower"}}, "model": {"layers": [2, 4, 3, 1]}}


def _with(**sections: dict) -> dict:
    raw = copy.deepcopy(BASE)
    for section, values in sections.items():
        raw.setdefault(section, {}).update(values)
    return raw


KEEP_PROB = (
    "must be a keep probability in (0, 1] (1 keeps every unit) or a list of them, one per "
    "hidden layer"
)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            _with(model={"keep_prob": [0.5]}),
            "model.keep_prob: give one value or one per hidden layer (2 for layers "
            "[2, 4, 3, 1]), found [0.5]",
        ),
        (
            _with(model={"keep_prob": [0.5, 0.5, 0.5]}),
            "model.keep_prob: give one value or one per hidden layer (2 for layers "
            "[2, 4, 3, 1]), found [0.5, 0.5, 0.5]",
        ),
        (_with(model={"keep_prob": 0}), f"model.keep_prob: {KEEP_PROB}, found 0"),
        (_with(model={"keep_prob": 1.5}), f"model.keep_prob: {KEEP_PROB}, found 1.5"),
        (_with(model={"keep_prob": [0.5, 0]}), f"model.keep_prob: {KEEP_PROB}, found [0.5, 0]"),
        (_with(model={"keep_prob": True}), f"model.keep_prob: {KEEP_PROB}, found True"),
        (
            _with(model={"layers": [2, 1], "keep_prob": 0.5}),
            "model.keep_prob: dropout applies to hidden layers and model.layers [2, 1] has "
            "none; leave model.keep_prob at 1, found 0.5",
        ),
        (
            _with(train={"early_stopping": {"patience": 3}}),
            "train.early_stopping watches the validation cost: set data.validation_fraction "
            "(e.g. 0.2) or data.validation (a file)",
        ),
        (
            _with(train={"early_stopping": {"patience": 0}}, data={"validation_fraction": 0.2}),
            "train.early_stopping.patience: must be greater than or equal to 1, found 0",
        ),
        (_with(train={"beta": 1.0}), "train.beta: must be less than 1, found 1.0"),
        (_with(train={"beta1": 1.0}), "train.beta1: must be less than 1, found 1.0"),
        (_with(train={"beta2": 1.5}), "train.beta2: must be less than 1, found 1.5"),
        (_with(train={"beta": -0.1}), "train.beta: must be greater than or equal to 0, found -0.1"),
        (_with(train={"epsilon": 0.0}), "train.epsilon: must be greater than 0, found 0.0"),
        (_with(train={"batch_size": 0}), "train.batch_size: must be greater than or equal to 1, found 0"),
        (_with(train={"batch_size": 2.5}), "train.batch_size: must be a valid integer, found 2.5"),
        (_with(train={"epochs": 0}), "train.epochs: must be greater than or equal to 1, found 0"),
        (
            _with(train={"optimizer": "rmsprop"}),
            "train.optimizer: must be 'gd', 'momentum' or 'adam', found 'rmsprop'",
        ),
        (_with(train={"lr_decay": -1.0}), "train.lr_decay: must be greater than or equal to 0, found -1.0"),
        (_with(train={"lr_decay_every": 0}), "train.lr_decay_every: must be greater than or equal to 1, found 0"),
        (_with(train={"l2": -0.1}), "train.l2: must be greater than or equal to 0, found -0.1"),
        (_with(data={"validation_fraction": 1.0}), "data.validation_fraction: must be less than 1, found 1.0"),
        (
            {"data": {"train": "a.h5", "validation": "v.h5", "validation_fraction": 0.2}, "model": BASE["model"]},
            "data: give data.validation (a file) or data.validation_fraction, not both",
        ),
    ],
)  # fmt: skip
def test_config_refuses_impossible_options(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate(raw, "c.yaml")
    assert str(err.value) == f"c.yaml: {message}"


def test_config_options_reach_the_training_options() -> None:
    from dlcli.training.plan import options_from

    cfg = validate(
        _with(
            model={"keep_prob": [1, 0.7]},
            data={"validation_fraction": 0.2},
            train={
                "optimizer": "adam",
                "beta1": 0.8,
                "beta2": 0.95,
                "epsilon": 1e-6,
                "batch_size": 32,
                "lr_decay": 0.1,
                "lr_decay_every": 5,
                "l2": 0.3,
                "seed": 7,
                "early_stopping": {"patience": 4, "restore_best": False},
            },
        ),
        "c.yaml",
    )
    assert options_from(cfg) == Options(
        optimizer="adam",
        hyper=Hyper(beta=0.9, beta1=0.8, beta2=0.95, epsilon=1e-6),
        batch_size=32,
        keep_prob=(1.0, 0.7),
        lr_decay=0.1,
        lr_decay_every=5,
        l2=0.3,
        patience=4,
        restore_best=False,
        seed=7,
    )
    one = validate(_with(model={"keep_prob": 0.5}), "c.yaml")
    assert options_from(one).keep_prob == (0.5, 0.5)
    assert options_from(validate(_with(model={"keep_prob": [1, 1]}), "c.yaml")).keep_prob == ()
    assert dataclasses.asdict(options_from(validate(BASE, "c.yaml"))) == dataclasses.asdict(
        Options()
    )


# ---------------------------------------------------------------- gradcheck of a config


def test_gradcheck_of_a_config_checks_the_cost_it_trains() -> None:
    # Softmax on one-hot labels, L2 and dropout, as training would use them: the check draws
    # its examples, then one fixed dropout mask, from default_rng(seed).
    sets = [
        "model.layers=[2,5,4,2]",
        "model.output_activation=softmax",
        "model.hidden_activation=tanh",
        "model.keep_prob=0.6",
        "train.l2=0.5",
        "init.scale=1",
    ]
    cfg = load_config(FLOWER, sets)
    result = checks.check_config(cfg, examples=6, coords=None, seed=3, worst=1000)
    assert result.passed and result.relative_difference < 1e-9
    assert (result.layers, result.output, result.examples) == ([2, 5, 4, 2], "softmax", 6)

    dataset = one_hot(load_data(cfg.data))
    rng = np.random.default_rng(3)
    columns = np.sort(rng.choice(dataset.X_train.shape[1], size=6, replace=False))
    X, Y = dataset.X_train[:, columns], dataset.Y_train[:, columns]  # Y (2, 6)
    masks = network.dropout_masks([2, 5, 4, 2], 6, (0.6, 0.6), rng)
    params = network.init_params([2, 5, 4, 2], 1.0, network.legacy_rng(cfg.init.seed))
    AL, caches = network.forward(X, params, "tanh", "softmax", masks=masks)
    grads = network.backward(AL, Y, caches, params, "tanh", masks=masks)
    assert len(result.worst) == sum(v.size for v in params.values())
    for c in result.worst:
        expected = grads[f"d{c.tensor}"][c.index]
        if c.tensor[0] == "W":
            expected += 0.5 / 6 * params[c.tensor][c.index]
        assert c.analytic == pytest.approx(expected, rel=1e-12, abs=1e-15), c
