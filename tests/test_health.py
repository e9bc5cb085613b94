"""Health statistics (dlcli.training.health): a tiny network worked by hand, the Gram engine
against the direct one at the same log rows, mini-batch records, and the findings' rules
(dlcli.diagnosis) on records made to show each one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dlcli import diagnosis
from dlcli.training.health import activation_stats
from dlcli.training.loop import train
from dlcli.training.plan import Options

E = math.e


def _hand_network() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """X (2, 3), Y (1, 3) and [2 relu, 1 sigmoid] weights whose pass is worked below."""
    X = np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
    Y = np.array([[0.0, 1.0, 1.0]])
    params = {
        "W1": np.array([[1.0, 0.0], [0.0, -1.0]]),
        "b1": np.zeros((2, 1)),
        "W2": np.array([[1.0, 1.0]]),
        "b2": np.array([[-2.0]]),
    }
    return X, Y, params


@pytest.mark.parametrize("engine", ["direct", "gram"])
def test_a_tiny_network_worked_by_hand(engine: str) -> None:
    X, Y, params = _hand_network()
    result = train(
        X, Y, params, hidden="relu", output="sigmoid", learning_rate=0.1, iterations=1,
        log_every=1, engine=engine,
    )  # fmt: skip
    (record,) = result.health
    assert record["iteration"] == 0 and record["examples"] == 3
    one, two = record["layers"]
    # Z1 = W1 X = [[1, 2, 3], [-1, -1, -1]]: unit 2 is never positive (dead), A1 = [[1, 2, 3],
    # [0, 0, 0]]. Z1: mean 3/6, squared deviations .25 2.25 6.25 2.25 2.25 2.25 = 15.5.
    assert one["Z_mean"] == pytest.approx(0.5, rel=1e-12)
    assert one["Z_std"] == pytest.approx(math.sqrt(15.5 / 6), rel=1e-12)
    assert one["A_mean"] == pytest.approx(1.0, rel=1e-12)  # 6 / 6
    assert one["A_std"] == pytest.approx(math.sqrt(8 / 6), rel=1e-12)  # 0 1 4 1 1 1
    assert one["dead_fraction"] == 0.5 and one["saturated_fraction"] is None
    # Z2 = A1 sum - 2 = [-1, 0, 1]; dZ2 = (A2 - Y) / 3 = [1/(1+e), -1/2, -1/(1+e)] / 3
    # dW2 = dZ2 A1.T = [(1/(1+e) - 1 - 3/(1+e)) / 3, 0]; dZ1 = [dZ2; 0] (unit 2 dead), so
    # dW1 = [[the same, sum(dZ2) = -1/6], [0, 0]].
    g = (-2 / (1 + E) - 1) / 3
    assert two["Z_mean"] == pytest.approx(0.0, abs=1e-15)
    assert two["Z_std"] == pytest.approx(math.sqrt(2 / 3), rel=1e-12)
    assert two["A_mean"] == pytest.approx(0.5, rel=1e-12)  # sigmoid(-1) + sigmoid(1) = 1
    assert one["W_norm"] == pytest.approx(math.sqrt(2), rel=1e-12)
    assert two["W_norm"] == pytest.approx(math.sqrt(2), rel=1e-12)
    assert one["dW_norm"] == pytest.approx(math.sqrt(g * g + 1 / 36), rel=1e-9)
    assert two["dW_norm"] == pytest.approx(abs(g), rel=1e-9)
    # Plain gradient descent: the update is -0.1 dW.
    assert one["update_ratio"] == pytest.approx(0.1 * math.sqrt(g * g + 1 / 36) / math.sqrt(2))
    assert two["update_ratio"] == pytest.approx(0.1 * abs(g) / math.sqrt(2), rel=1e-9)
    # Rows [1, 0] and [0, -1]: ||W1 - 1 W1[0]|| = ||[0, -1] - [1, 0]|| = sqrt(2) = ||W1||.
    assert one["row_spread"] == pytest.approx(1.0, rel=1e-12)
    assert two["row_spread"] is None  # one unit
    assert (one["activation"], two["activation"], one["units"]) == ("relu", "sigmoid", 2)


def test_identical_rows_have_no_spread_in_either_engine() -> None:
    X, Y, params = _hand_network()
    params["W1"] = np.array([[0.5, -0.5], [0.5, -0.5]])
    for engine in ("direct", "gram"):
        result = train(
            X, Y, params, hidden="tanh", output="sigmoid", learning_rate=0.1, iterations=3,
            log_every=1, engine=engine,
        )  # fmt: skip
        assert [r["layers"][0]["row_spread"] for r in result.health] == [0.0, 0.0, 0.0]


def _random_problem(seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """X (40, 25) and Y (1, 25) with a [40, 6, 4, 1] network: more inputs than examples, as
    the cat files, where the Gram engine pays."""
    rng = np.random.default_rng(seed)
    X = rng.random((40, 25))
    Y = (rng.random((1, 25)) > 0.5).astype(float)
    dims = [40, 6, 4, 1]
    params = {}
    for l in range(1, 4):
        params[f"W{l}"] = rng.standard_normal((dims[l], dims[l - 1])) / math.sqrt(dims[l - 1])
        params[f"b{l}"] = rng.standard_normal((dims[l], 1)) * 0.1
    return X, Y, params


@pytest.mark.parametrize(
    "options",
    [
        Options(),  # plain gradient descent: b1 folded into the Gram form
        Options(l2=0.7),  # L2: a decays, b1 apart
        Options(optimizer="momentum"),  # the update is not -lr dW
    ],
    ids=["plain", "l2", "momentum"],
)
def test_the_gram_engine_gives_the_direct_engines_statistics(options: Options) -> None:
    X, Y, params = _random_problem()
    kwargs = dict(hidden="relu", output="sigmoid", learning_rate=0.05, iterations=30, log_every=10)
    direct = train(X, Y, params, engine="direct", options=options, **kwargs).health
    gram = train(X, Y, params, engine="gram", options=options, **kwargs).health
    assert [r["iteration"] for r in gram] == [r["iteration"] for r in direct] == [0, 10, 20, 29]
    for d, g in zip(direct, gram, strict=True):
        for ld, lg in zip(d["layers"], g["layers"], strict=True):
            assert ld.keys() == lg.keys()
            for key, value in ld.items():
                if isinstance(value, float):
                    assert lg[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
                else:
                    assert lg[key] == value, key


def test_weighted_records_measure_the_weighted_gradient_in_both_engines() -> None:
    """With example weights, dW is the weighted gradient the update used: plain gradient
    descent's step is lr dW, so update_ratio = lr dW_norm / W_norm in every layer, and the
    Gram engine's layer 1 (from K) agrees with the direct engine's."""
    X, Y, params = _random_problem(2)
    w = np.where(Y == 1, 5.0, 1.0)  # (1, m)
    kwargs = dict(hidden="relu", output="sigmoid", learning_rate=0.1, iterations=3, log_every=1)
    direct = train(X, Y, params, engine="direct", weights=w, **kwargs).health
    gram = train(X, Y, params, engine="gram", weights=w, **kwargs).health
    unweighted = train(X, Y, params, engine="direct", **kwargs).health
    for d, g in zip(direct, gram, strict=True):
        for ld, lg in zip(d["layers"], g["layers"], strict=True):
            assert ld["update_ratio"] == pytest.approx(0.1 * ld["dW_norm"] / ld["W_norm"])
            assert lg["dW_norm"] == pytest.approx(ld["dW_norm"], rel=1e-9)
            assert lg["update_ratio"] == pytest.approx(ld["update_ratio"], rel=1e-9)
    assert direct[0]["layers"][0]["dW_norm"] != pytest.approx(
        unweighted[0]["layers"][0]["dW_norm"], rel=1e-3
    )


@pytest.mark.parametrize("engine", ["direct", "gram"])
def test_a_resumed_run_keeps_the_records_its_checkpoint_held(engine: str, tmp_path) -> None:
    """A checkpoint at 20 (written and read back as checkpoint.h5), then a resume: the same
    records as one run of 30 iterations."""
    from dlcli import runs

    X, Y, params = _random_problem(1)
    kwargs = dict(hidden="relu", output="sigmoid", learning_rate=0.05, iterations=30, log_every=10)
    whole = train(X, Y, params, engine=engine, **kwargs).health
    saved = []

    def keep(state) -> None:
        runs.write_checkpoint(tmp_path, state, data_digest="d")
        saved.append(runs.read_checkpoint(tmp_path)[0])

    train(X, Y, params, engine=engine, checkpoint=keep, checkpoint_every=20, **kwargs)
    at_20 = saved[0]
    assert at_20.iteration == 20 and [r["iteration"] for r in at_20.health] == [0, 10]
    resumed = train(X, Y, None, engine=engine, resume=at_20, **kwargs).health
    assert [r["iteration"] for r in resumed] == [0, 10, 20, 29]
    assert resumed == whole


def test_mini_batch_records_see_the_row_s_batch() -> None:
    X, Y, params = _random_problem()
    result = train(
        X, Y, params, hidden="relu", output="sigmoid", learning_rate=0.01, iterations=8,
        log_every=2, options=Options(optimizer="adam", batch_size=10),
    )  # fmt: skip
    # Batches of 10, 10, 5 per epoch of 25; iterations 0, 2, 4, 6 and the last are logged.
    assert [r["iteration"] for r in result.health] == [0, 2, 4, 6, 7]
    assert [r["examples"] for r in result.health] == [10, 5, 10, 10, 10]


def test_dead_and_saturated_fractions() -> None:
    Z = np.array([[-1.0, 0.0, -3.0], [0.0, 2.0, -1.0], [-0.5, -0.5, -0.5]])
    assert activation_stats(Z, np.maximum(Z, 0), "relu", True)["dead_fraction"] == 2 / 3
    # A leaky unit with Z <= 0 everywhere is as stuck (its slope is 0.01).
    assert activation_stats(Z, Z * 0.01, "leaky_relu", True)["dead_fraction"] == 2 / 3
    A = np.array([[0.995, -0.999, 0.2], [0.995, -0.999, 0.999], [0.0, 0.5, 0.999]])
    # Saturated on more than half of the 3 examples: rows 1 (2 of 3) and 2 (3 of 3).
    assert activation_stats(A, A, "tanh", True)["saturated_fraction"] == 2 / 3
    S = np.array([[0.005, 0.999, 0.5], [0.5, 0.5, 0.995]])
    assert activation_stats(S, S, "sigmoid", True)["saturated_fraction"] == 0.5
    # The output layer's saturation is a confident prediction: not counted.
    assert activation_stats(S, S, "sigmoid", False)["saturated_fraction"] is None


def test_prior_cost_and_base_rate() -> None:
    Y = np.array([[1.0] * 72 + [0.0] * 137])  # the cat training set's labels
    p = 72 / 209
    assert diagnosis.prior_cost(Y, "sigmoid") == pytest.approx(
        -(p * math.log(p) + (1 - p) * math.log(1 - p)), rel=1e-12
    )
    assert diagnosis.prior_cost(Y, "sigmoid") == pytest.approx(0.643974, abs=1e-6)
    assert diagnosis.base_rate(Y, "sigmoid") == pytest.approx(137 / 209)
    three = np.eye(3)[:, [0, 0, 1, 2]]  # classes 0, 0, 1, 2
    assert diagnosis.prior_cost(three, "softmax") == pytest.approx(
        -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))
    )
    assert diagnosis.prior_cost(np.array([[1.0, 3.0]]), "linear") == 0.5  # var 1, halved


def _layer(l: int, **values: object) -> dict:
    base = {
        "layer": l, "units": 4, "activation": "relu", "W_norm": 1.0, "dW_norm": 0.1,
        "update_ratio": 1e-3, "row_spread": 1.0, "dead_fraction": 0.0,
        "saturated_fraction": None,
    }  # fmt: skip
    return base | values


def _records(*layers_per_row: list[dict]) -> list[dict]:
    return [
        {"iteration": 100 * i, "examples": 50, "layers": layers}
        for i, layers in enumerate(layers_per_row)
    ]


def _log(*costs: float) -> list[dict]:
    return [{"iteration": 100 * i, "cost": c} for i, c in enumerate(costs)]


CONTEXT = {"output": "sigmoid", "learning_rate": 0.1, "prior_cost": 0.6931, "base_rate": 0.5}


def _codes(records: list[dict], log: list[dict], **context: object) -> list[str]:
    return [f["code"] for f in diagnosis.findings(records, log, CONTEXT | context)]


def test_findings_of_a_healthy_run_are_none() -> None:
    rows = _records([_layer(1), _layer(2, units=1, row_spread=None)])
    assert _codes(rows, _log(0.69, 0.4, 0.3, 0.25)) == []


def test_dead_units_are_flagged_at_half_of_a_layer() -> None:
    out = _layer(3, units=1, row_spread=None, dead_fraction=None)
    healthy = _records([_layer(1), _layer(2, units=7, dead_fraction=2 / 7), out])
    assert _codes(healthy, _log(0.7, 0.5, 0.3)) == []
    dead = _records([_layer(1, dead_fraction=0.5), _layer(2), out])
    found = diagnosis.findings(dead, _log(0.7, 0.5, 0.3), CONTEXT)
    assert [(f["code"], f["layers"]) for f in found] == [("dead_relu", [1])]
    assert found[0]["message"].startswith("layer 1: 2 of 4 units never fire (Z <= 0) on the 50")


def test_symmetric_units_are_the_cause_not_dead_ones() -> None:
    out = _layer(2, units=1, row_spread=None, dead_fraction=None)
    rows = _records([_layer(1, row_spread=0.0, dead_fraction=1.0, update_ratio=None), out])
    assert _codes(rows, _log(0.6931, 0.6931, 0.6931)) == ["symmetry", "stuck_at_prior"]


def test_vanishing_and_exploding_gradients_compare_layer_1_with_layer_l() -> None:
    def run(first: float) -> list[str]:
        rows = _records([_layer(1, update_ratio=first), _layer(2, update_ratio=1e-2)])
        return _codes(rows, _log(0.7, 0.5, 0.3))

    assert run(1e-6) == ["vanishing_gradients"]  # 1e-4 of layer 2's
    assert run(1e-4) == []  # 1e-2: within the thousandfold
    assert run(20.0) == ["exploding_gradients"]


def test_saturation_counts_at_the_start_or_when_nothing_was_learned() -> None:
    flat = _layer(1, activation="tanh", dead_fraction=None, saturated_fraction=1.0)
    ok = _layer(1, activation="tanh", dead_fraction=None, saturated_fraction=0.0)
    out = _layer(2, units=1, row_spread=None, dead_fraction=None)
    assert _codes(_records([flat, out], [flat, out]), _log(0.7, 0.3, 0.2)) == ["saturation"]
    assert _codes(_records([ok, out], [flat, out]), _log(0.7, 0.3, 0.2)) == []  # learned
    assert _codes(_records([ok, out], [flat, out]), _log(0.7, 0.68, 0.66)) == ["saturation"]
    # Saturated from the start, the init is blamed; saturated later, the steps.
    (start,) = diagnosis.findings(_records([flat, out], [flat, out]), _log(0.7, 0.3, 0.2), CONTEXT)
    (later,) = diagnosis.findings(_records([ok, out], [flat, out]), _log(0.7, 0.68, 0.66), CONTEXT)
    assert start["suggestion"].startswith("use a smaller init")
    assert later["suggestion"].startswith("use a smaller learning rate")


def test_learning_rate_findings_read_the_cost_log() -> None:
    rows = _records([_layer(1), _layer(2, units=1, row_spread=None)])
    rising = _log(0.7, 0.5, 0.6, 0.4, 0.55, 0.45, 0.6)
    assert _codes(rows, rising) == ["lr_too_high"]
    # A mini-batch cost that rises and falls but comes down is no finding ...
    assert _codes(rows, [*rising[:-1], {"iteration": 600, "cost": 0.2}], batch_size=64) == []
    slow = _log(*(1.0 - 0.004 * i for i in range(11)))  # 4 % in 1000 iterations, steady
    assert _codes(rows, slow, prior_cost=2.0) == ["lr_too_low"]
    converged = _log(1.0, 0.97, 0.965, 0.9649, 0.9649)  # 3.5 %, flattened out
    assert _codes(rows, converged, prior_cost=2.0) == []


def test_overfitting_needs_a_15_point_gap_above_the_base_rate() -> None:
    rows = _records([_layer(1), _layer(2, units=1, row_spread=None)])
    log = _log(0.7, 0.3, 0.1)
    found = diagnosis.findings(rows, log, CONTEXT | {"accuracy": {"train": 0.986, "test": 0.8}})
    assert [f["code"] for f in found] == ["overfitting"]
    assert found[0]["message"].startswith("train accuracy 98.6% is 18.6 points above test")
    assert _codes(rows, log, accuracy={"train": 0.95, "test": 0.8}) == []  # 15.0: not over
    # Not yet 15 points above the base rate (0.5): the training set is not fit.
    assert _codes(rows, log, accuracy={"train": 0.64, "test": 0.3}) == []
