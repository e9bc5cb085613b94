"""Gradient checking: the course's formulas, planted bugs it must catch and name, relu kinks,
random architectures, the built-in battery, and the ``dlcli gradcheck`` command."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from dlcli import checks
from dlcli.cli import app
from dlcli.config import load_config
from dlcli.errors import DlcliError
from dlcli.model import battery, network
from dlcli.model import gradcheck as gc
from dlcli.model.activations import ACTIVATIONS, tanh
from dlcli.runs import write_params

REPO = Path(__file__).resolve().parents[1]
FLOWER = REPO / "configs" / "flower.yaml"
CAT_2LAYER = REPO / "configs" / "cat_2layer.yaml"
ACTIVATION_NAMES = ("sigmoid", "tanh", "relu", "leaky_relu", "linear")

# Where long double is wider than float64 (x86), J(theta +- eps) is evaluated in it and a
# correct tensor's difference is far below the threshold; where it is not (Windows, ARM
# macOS), float64 rounding alone reaches 1e-7 for gradients of 1e-2 and below, and the tests
# of networks with small gradients cannot hold there.
EXTENDED = gc.REFERENCE_DTYPE != np.float64
MARGIN = 1e-9 if EXTENDED else gc.THRESHOLD
extended_only = pytest.mark.skipif(
    not EXTENDED, reason="needs a long double wider than float64 for its small gradients"
)


def invoke(*args: str):
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


# ---------------------------------------------------------------- the course's formulas


def test_one_dimensional_check_of_the_course() -> None:
    # J(theta) = theta x with x = 2 at theta = 4: dJ/dtheta = x = 2. The course's notebook
    # prints difference = 2.919335883291695e-10, the rounding of 4 +- 1e-7 in float64.
    x = 2.0
    theta = np.array([4.0])
    gradapprox = gc.numeric_gradient(lambda t: float(t[0] * x), theta, epsilon=1e-7)
    difference = gc.relative_difference(np.array([x]), gradapprox)
    assert difference == pytest.approx(2.919335883291695e-10, rel=1e-9)
    assert 1e-11 < difference < 1e-9
    assert theta[0] == 4.0  # restored after the perturbations


@pytest.mark.parametrize("size", [1e-200, 1e-160, 1e160, 1e300])
def test_relative_difference_of_huge_or_tiny_gradients(size: float) -> None:
    # The course formula in plain float64 squares the entries: 1e160**2 overflows to inf
    # (giving NaN), 1e-160**2 underflows to 0 (giving a false 0, "agree").
    grad, approx = np.array([3.0, -4.0, 12.0]), np.array([3.0, -4.0, 12.5])
    expected = np.linalg.norm(grad - approx) / (np.linalg.norm(grad) + np.linalg.norm(approx))
    got = gc.relative_difference(grad * size, approx * size)
    assert got == pytest.approx(expected, rel=1e-14) and expected == pytest.approx(
        0.018894, abs=1e-6
    )


def test_relative_difference_is_the_course_formula() -> None:
    grad = np.array([3.0, 4.0])  # ||grad|| = 5
    approx = np.array([3.0, 4.0 + 1e-3])  # ||grad - approx|| = 1e-3
    expected = 1e-3 / (5.0 + math.hypot(3.0, 4.001))
    assert gc.relative_difference(grad, approx) == pytest.approx(expected, rel=1e-12)
    assert gc.relative_difference(np.zeros(3), np.zeros(3)) == 0.0
    assert gc.relative_difference(np.array([1.0]), np.array([-1.0])) == 1.0


def test_numeric_gradient_of_a_quadratic_is_exact_to_rounding() -> None:
    # J = sum(theta^2 * w): the centered difference of a quadratic has no truncation error.
    w = np.array([1.0, -2.0, 0.5])
    theta = np.array([0.3, -1.2, 2.0])
    approx = gc.numeric_gradient(lambda t: float(np.sum(t**2 * w)), theta)
    np.testing.assert_allclose(approx, 2 * theta * w, rtol=1e-8)
    picked = gc.numeric_gradient(lambda t: float(np.sum(t**2 * w)), theta, indices=[2])
    np.testing.assert_allclose(picked, [2 * 2.0 * 0.5], rtol=1e-8)


def test_packing_follows_the_course_order_and_views_write_through() -> None:
    params = {
        "W1": np.arange(6.0).reshape(3, 2),
        "b1": np.array([[10.0], [11.0], [12.0]]),
        "W2": np.array([[20.0, 21.0, 22.0]]),
        "b2": np.array([[30.0]]),
    }
    theta, layout = gc.params_to_vector(params)
    assert theta.tolist() == [0, 1, 2, 3, 4, 5, 10, 11, 12, 20, 21, 22, 30]
    assert layout == [("W1", (3, 2), 0), ("b1", (3, 1), 6), ("W2", (1, 3), 9), ("b2", (1, 1), 12)]
    back = gc.vector_to_params(theta, layout)
    for name, value in params.items():
        np.testing.assert_array_equal(back[name], value)
    theta[7] = -1.0  # b1[1, 0]
    assert back["b1"][1, 0] == -1.0


@pytest.mark.parametrize("output", ["sigmoid", "linear"])
def test_extended_precision_cost_equals_network_cost(output: str) -> None:
    rng = np.random.default_rng(5)
    ZL = rng.standard_normal((1, 9)) * 3
    Y = (
        rng.integers(0, 2, (1, 9)).astype(float)
        if output == "sigmoid"
        else rng.standard_normal((1, 9))
    )
    assert float(gc._total_cost(ZL, Y, output)) == network.cost(ZL, Y, output)
    extended = gc._total_cost(ZL.astype(np.longdouble), Y.astype(np.longdouble), output)
    assert float(extended) == pytest.approx(network.cost(ZL, Y, output), rel=1e-15)


# ---------------------------------------------------------------- planted bugs

# LINEAR -> TANH -> LINEAR -> TANH -> LINEAR -> SIGMOID, with W2 square (4 x 4), so that a
# transposed dW2 has the right shape and only its values are wrong.
BUG_LAYERS = [3, 4, 4, 1]
BUG_M = 6
ALL_TENSORS = {"W1", "b1", "W2", "b2", "W3", "b3"}


def _bug_network() -> tuple[np.ndarray, np.ndarray, network.Params]:
    rng = np.random.default_rng(11)
    params = {}
    for l in range(1, len(BUG_LAYERS)):
        params[f"W{l}"] = rng.standard_normal((BUG_LAYERS[l], BUG_LAYERS[l - 1]))
        params[f"b{l}"] = rng.standard_normal((BUG_LAYERS[l], 1)) * 0.5
    X = rng.standard_normal((BUG_LAYERS[0], BUG_M))
    Y = np.array([[1.0, 0.0, 1.0, 1.0, 0.0, 0.0]])
    return X, Y, params


def _plant(bug: Callable[[network.Params, int], None]):
    """A backward pass with ``bug`` applied to the real one's gradients."""
    real = network.backward

    def backward(AL, Y, caches, params, hidden, dW1=True, masks=None, w=None):
        grads = real(AL, Y, caches, params, hidden, dW1, masks, w)
        bug(grads, Y.shape[1])
        return grads

    return backward


def _no_one_over_m(grads: network.Params, m: int) -> None:
    for key in grads:  # dZ[L] = AL - Y, the course's 1/m forgotten once for all layers
        grads[key] = grads[key] * m


def _no_one_over_m_in_dW2(grads: network.Params, m: int) -> None:
    grads["dW2"] = grads["dW2"] * m  # dW2 = dZ2 @ A1.T, without 1/m


def _transposed_dW2(grads: network.Params, m: int) -> None:
    grads["dW2"] = grads["dW2"].T  # dW2 = A1 @ dZ2.T


def _forgotten_db1(grads: network.Params, m: int) -> None:
    grads["db1"] = np.zeros_like(grads["db1"])  # db1 left at its initial zeros


PLANTED = {
    "no 1/m anywhere": (_no_one_over_m, ALL_TENSORS),
    "no 1/m in dW2": (_no_one_over_m_in_dW2, {"W2"}),
    "transposed dW2": (_transposed_dW2, {"W2"}),
    "forgotten db1": (_forgotten_db1, {"b1"}),
}


def test_the_bug_network_passes_unbroken() -> None:
    X, Y, params = _bug_network()
    result = gc.check_gradients(X, Y, params, "tanh", "sigmoid")
    assert result.passed
    assert result.relative_difference < MARGIN
    assert result.failing == []
    assert [t.checked for t in result.tensors] == [12, 4, 16, 4, 4, 1]  # every coordinate


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_a_planted_bug_is_caught_and_named(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    bug, wrong = PLANTED[name]
    monkeypatch.setattr(network, "backward", _plant(bug))
    X, Y, params = _bug_network()
    result = gc.check_gradients(X, Y, params, "tanh", "sigmoid")
    assert not result.passed
    assert set(result.failing) == wrong
    assert result.relative_difference > 1e-3
    for tensor in result.tensors:
        if tensor.name in wrong:
            assert tensor.relative_difference > 1e-3, tensor
        else:
            assert tensor.relative_difference < MARGIN, tensor
    assert result.worst[0].tensor in wrong
    assert result.worst[0].difference > 1e-4


def test_a_wrong_tanh_derivative_is_caught_below_the_output_layer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # tanh'(z) written as 1 - tanh(z) instead of 1 - tanh(z)^2: every dZ of a hidden layer is
    # wrong, so W1, b1, W2, b2 fail; W3, b3 take dZ3 = (AL - Y) / m directly and pass.
    monkeypatch.setitem(ACTIVATIONS, "tanh", (tanh, lambda dA, Z, A: dA * (1.0 - A)))
    X, Y, params = _bug_network()
    result = gc.check_gradients(X, Y, params, "tanh", "sigmoid")
    assert not result.passed
    assert result.failing == ["W1", "b1", "W2", "b2"]
    assert {t.name: t.passed for t in result.tensors}["W3"]
    assert result.worst[0].tensor in {"W1", "b1", "W2", "b2"}


def test_a_gradient_of_the_wrong_shape_is_a_bug_named_by_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(network, "backward", _plant(_transposed_dW2))
    X, Y, params = _bug_network()
    params["W2"] = params["W2"][:3]  # (3, 4): its transpose no longer fits
    params["b2"] = params["b2"][:3]
    params["W3"] = params["W3"][:, :3]
    with pytest.raises(ValueError, match=r"shape \(4, 3\) for dW2; W2 has shape \(3, 4\)"):
        gc.check_gradients(X, Y, params, "tanh", "sigmoid")


# ---------------------------------------------------------------- kinks


def _kink_network() -> tuple[np.ndarray, np.ndarray, network.Params]:
    # Z1[0, 0] = 0.5 * 1 + 0.25 * 0 - 0.5 = 0 exactly: unit 1 of layer 1 sits on its kink
    # for example 1. Perturbing W1[0, 0] or b1[0] by +-eps moves it to +-eps; W1[0, 1]
    # multiplies x = 0 there and moves nothing. Every other Z1 is at least 0.25 from 0.
    X = np.array([[1.0, 2.0, -1.0], [0.0, 1.0, 2.0]])  # (2, 3)
    params = {
        "W1": np.array([[0.5, 0.25], [1.0, -0.5], [-0.75, 1.0]]),
        "b1": np.array([[-0.5], [0.25], [0.25]]),
        "W2": np.array([[1.5, -1.0, 0.75]]),
        "b2": np.array([[0.1]]),
    }
    Y = np.array([[1.0, 0.0, 1.0]])
    return X, Y, params


@pytest.mark.parametrize("hidden", ["relu", "leaky_relu"])
def test_a_kink_is_reported_as_a_kink_not_a_failure(hidden: str) -> None:
    X, Y, params = _kink_network()
    Z1 = params["W1"] @ X + params["b1"]
    assert Z1[0, 0] == 0.0 and np.all(np.abs(Z1.ravel()[1:]) >= 0.25)
    result = gc.check_gradients(X, Y, params, hidden, "sigmoid")
    assert result.passed
    assert {(c.tensor, c.index) for c in result.kinks} == {("W1", (0, 0)), ("b1", (0, 0))}
    counts = {t.name: (t.checked, t.kinks) for t in result.tensors}
    assert counts == {"W1": (5, 1), "b1": (2, 1), "W2": (3, 0), "b2": (1, 0)}
    for c in result.kinks:
        # The centered difference averages the two slopes; the analytic side takes one:
        # counted as a coordinate, it would fail by far.
        assert gc.relative_difference(np.array([c.analytic]), np.array([c.numeric])) > 0.1
    assert result.relative_difference < MARGIN


def test_the_same_network_with_a_smooth_activation_has_no_kinks() -> None:
    X, Y, params = _kink_network()
    result = gc.check_gradients(X, Y, params, "tanh", "sigmoid")
    assert result.kinks == []
    assert result.passed
    assert result.checked == 6 + 3 + 3 + 1


# ---------------------------------------------------------------- random architectures


@extended_only
@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    hidden=st.sampled_from(ACTIVATION_NAMES),
    output=st.sampled_from(["sigmoid", "linear"]),
    widths=st.lists(st.integers(1, 6), min_size=2, max_size=5),  # [n_x, ..., n[L]]: L = 1..4
    m=st.integers(1, 8),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_architectures_pass(
    hidden: str, output: str, widths: list[int], m: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    params = {}
    for l in range(1, len(widths)):
        params[f"W{l}"] = rng.standard_normal((widths[l], widths[l - 1])) / math.sqrt(widths[l - 1])
        params[f"b{l}"] = rng.standard_normal((widths[l], 1)) * 0.5
    X = rng.standard_normal((widths[0], m))
    if output == "sigmoid":
        Y = rng.integers(0, 2, (widths[-1], m)).astype(np.float64)
    else:
        Y = rng.standard_normal((widths[-1], m))
    result = gc.check_gradients(X, Y, params, hidden, output, epsilon=1e-7)
    assert result.relative_difference < 1e-7
    assert result.passed, [(t.name, t.relative_difference) for t in result.tensors]
    assert result.checked + len(result.kinks) == sum(v.size for v in params.values())


# ---------------------------------------------------------------- sampling and options


def test_coordinates_are_a_seeded_sample_per_tensor() -> None:
    X, Y, params = _bug_network()

    def sample(seed: int, coords: int) -> list[tuple]:
        result = gc.check_gradients(
            X, Y, params, "tanh", "sigmoid", coords=coords, rng=np.random.default_rng(seed)
        )
        return [(t.name, t.checked) for t in result.tensors], result.relative_difference

    checked, difference = sample(3, coords=5)
    # W1 (12) and W2 (16) are sampled; the smaller tensors are checked whole.
    assert checked == [("W1", 5), ("b1", 4), ("W2", 5), ("b2", 4), ("W3", 4), ("b3", 1)]
    assert sample(3, coords=5) == (checked, difference)
    assert sample(4, coords=5)[1] != difference


@pytest.mark.parametrize(
    ("option", "kwargs"),
    [
        ("--epsilon", {"epsilon": 0.0}),
        ("--epsilon", {"epsilon": float("nan")}),
        ("--threshold", {"threshold": -1e-7}),
        ("--coords", {"coords": 0}),
    ],
)
def test_impossible_options_are_refused(option: str, kwargs: dict) -> None:
    X, Y, params = _bug_network()
    with pytest.raises(DlcliError, match=f"^{option}: must be"):
        gc.check_gradients(X, Y, params, "tanh", "sigmoid", **kwargs)


# ---------------------------------------------------------------- the battery


@extended_only
def test_the_battery_covers_every_activation_output_and_depth_and_passes() -> None:
    cases = gc.run_battery()
    assert len(cases) == 5 * 3 * 4 + 5 * 4 + 5 * 3  # + the weighted cases (issue 18)
    plain = [c for c in cases if c.l2 == 0 and c.keep_prob == 1]
    assert len(plain) == 5 * 3 * 4
    assert {(c.hidden, c.output, len(c.layers) - 2) for c in plain} == {
        (h, o, d)
        for h in ACTIVATION_NAMES
        for o in ("sigmoid", "linear", "softmax")
        for d in (1, 2, 3, 4)
    }
    # The training options, with every hidden activation: L2 alone, dropout alone, both with
    # a softmax output and both with a linear (MSE) output.
    assert {(c.hidden, c.output, c.l2 > 0, c.keep_prob < 1) for c in cases if c not in plain} == {
        (h, o, l2, dropout)
        for h in ACTIVATION_NAMES
        for o, l2, dropout in (
            ("sigmoid", True, False),
            ("sigmoid", False, True),
            ("softmax", True, True),
            ("linear", True, True),
        )
    }
    assert {c.layers[-1] for c in cases if c.output == "softmax"} == {battery.BATTERY_CLASSES}
    assert "relu-softmax-depth2" in {c.name for c in cases}
    assert {"tanh-sigmoid-depth2-l2", "relu-sigmoid-depth2-dropout"} <= {c.name for c in cases}
    assert len({c.name for c in cases}) == len(cases)
    for case in cases:
        assert case.passed, case.name
        assert case.result.relative_difference < 1e-9, case.name
        assert all(t.relative_difference < 1e-8 for t in case.result.tensors), case.name


@extended_only
@pytest.mark.parametrize("seed", [2, 3])
def test_the_battery_passes_with_other_seeds(seed: int) -> None:
    assert all(case.passed for case in gc.run_battery(seed=seed))


@extended_only
def test_the_battery_catches_a_planted_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(network, "backward", _plant(_forgotten_db1))
    cases = gc.run_battery()
    assert not any(case.passed for case in cases)
    assert all(case.result.failing == ["b1"] for case in cases)


# ---------------------------------------------------------------- configs


@extended_only
def test_cat_2layer_config_passes_on_a_sample(cat_overrides: list[str]) -> None:
    cfg = load_config(CAT_2LAYER, cat_overrides)
    result = checks.check_config(cfg, examples=5, coords=6, seed=7)
    assert result.examples == 5
    assert result.layers == [12288, 7, 1]
    assert [(t.name, t.shape, t.checked) for t in result.tensors] == [
        ("W1", (7, 12288), 6),
        ("b1", (7, 1), 6),
        ("W2", (1, 7), 6),
        ("b2", (1, 1), 1),
    ]
    assert result.passed
    # W1's gradients are about 1e-3 (0.01 init, 12288 pixels): the extended-precision
    # reference keeps their difference far below the threshold.
    assert result.tensors[0].relative_difference < 1e-8


def test_a_model_whose_output_does_not_fit_the_labels_is_refused(in_tmp: Path) -> None:
    # Two output units against the flower's one label row: numpy would broadcast Y (1, m)
    # against AL (2, m) and check a cost nobody trains; the config is refused as training
    # refuses it, before the model file is read.
    params = network.init_params([2, 4, 2], 0.5, network.legacy_rng(0))
    write_params(in_tmp / "params.h5", params, {})
    result = invoke(
        "gradcheck", str(FLOWER), "--set", "model.layers=[2,4,2]", "--model", "params.h5"
    )
    assert result.exit_code == 1
    assert result.stderr == (
        "dlcli: config error: model.layers[-1]: is 2 but the labels Y have n_y = 1 row; "
        "set the last entry of model.layers to 1\n"
    )


def test_a_model_of_other_layers_is_refused(in_tmp: Path) -> None:
    params = network.init_params([2, 5, 1], 0.5, network.legacy_rng(0))
    write_params(in_tmp / "params.h5", params, {})
    cfg = load_config(FLOWER)
    with pytest.raises(DlcliError) as err:
        checks.check_config(cfg, model=in_tmp / "params.h5")
    assert str(err.value) == (
        f"--model: {in_tmp / 'params.h5'}: holds a network with layers [2, 5, 1], but the "
        "config's model.layers is [2, 4, 1]; give the config the model was trained with"
    )


# ---------------------------------------------------------------- the command


@extended_only
def test_cli_battery_table_and_exit_0() -> None:
    result = invoke("gradcheck")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    for hidden in ACTIVATION_NAMES:
        for output in ("sigmoid", "linear", "softmax"):
            for depth in (1, 2, 3, 4):
                assert any(f"{hidden}-{output}-depth{depth} " in line for line in lines)
        assert any(f"{hidden}-softmax-depth2-l2-dropout " in line for line in lines)
    rows = [line for line in lines if line.startswith("│")]
    assert len(rows) == 95
    assert all(line.endswith("│ pass │") for line in rows)
    assert lines[-1] == "PASS: all 95 cases (threshold 1e-07)"


@extended_only
def test_cli_battery_json() -> None:
    result = invoke("gradcheck", "--json")
    assert result.exit_code == 0, result.stderr
    cases = json.loads(result.stdout)
    assert isinstance(cases, list) and len(cases) == 95
    for case in cases:
        assert set(case) == {"case", "passed", "relative_difference", "threshold", "parameters"}
        assert case["passed"] is True
        assert case["threshold"] == 1e-7
        assert 0 <= case["relative_difference"] < 1e-7
        L = len(case["parameters"]) // 2
        assert list(case["parameters"]) == gc.param_names(L)
        for entry in case["parameters"].values():
            assert set(entry) == {"relative_difference", "checked"}
            assert entry["checked"] >= 1
    assert cases[0]["case"] == "sigmoid-sigmoid-depth1"


@extended_only
def test_cli_config_json_schema(cat_overrides: list[str]) -> None:
    sets = [a for o in cat_overrides for a in ("--set", o)]
    result = invoke("gradcheck", str(CAT_2LAYER), *sets, "--coords", "4", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {"passed", "relative_difference", "threshold", "parameters"}
    assert report["passed"] is True
    assert report["threshold"] == 1e-7
    assert report["relative_difference"] < 1e-7
    assert {k: v["checked"] for k, v in report["parameters"].items()} == {
        "W1": 4,
        "b1": 4,
        "W2": 4,
        "b2": 1,
    }
    for entry in report["parameters"].values():
        assert set(entry) == {"relative_difference", "checked"}
        assert entry["relative_difference"] < 1e-7


@extended_only
def test_cli_config_table(cat_overrides: list[str]) -> None:
    sets = [a for o in cat_overrides for a in ("--set", o)]
    result = invoke("gradcheck", str(CAT_2LAYER), *sets, "--coords", "3", "--examples", "4")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "layers [12288, 7, 1], relu / sigmoid, 4 random training examples" in out
    assert any(
        "W1" in line and "(7, 12288)" in line and "3 of 86016" in line for line in out.splitlines()
    )
    assert "Worst coordinates" in out
    assert out.splitlines()[-1].startswith("PASS: relative difference ")


def test_cli_checks_a_trained_model(in_tmp: Path) -> None:
    trained = invoke(
        "train", str(FLOWER), "--set", "train.iterations=20", "--out", "run", "--quiet"
    )
    assert trained.exit_code == 0, trained.stderr
    for model in ("run/params.h5", "run"):
        result = invoke("gradcheck", str(FLOWER), "--model", model, "--json")
        assert result.exit_code == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["passed"] is True
        assert {k: v["checked"] for k, v in report["parameters"].items()} == {
            "W1": 8,
            "b1": 4,
            "W2": 4,
            "b2": 1,
        }


def test_cli_reports_a_kink_of_a_model_as_a_kink(in_tmp: Path) -> None:
    # Unit 1 of the hidden layer has W1 row 0 = 0 and b1[0] = 0: Z1[0, :] = 0 for every
    # example, so each of W1[0, :] and b1[0] moves it across the relu's kink.
    params = network.init_params([2, 4, 1], 1.0, network.legacy_rng(3))
    params["W1"][0] = 0.0
    params["b1"][:] = 0.25
    params["b1"][0] = 0.0
    write_params(in_tmp / "params.h5", params, {})
    args = ["gradcheck", str(FLOWER), "--set", "model.hidden_activation=relu"]
    table = invoke(*args, "--model", "params.h5")
    assert table.exit_code == 0, table.stderr
    assert "Kinks: 3 coordinates move a relu pre-activation across 0" in table.stdout
    assert "FAIL" not in table.stdout
    as_json = invoke(*args, "--model", "params.h5", "--json")
    report = json.loads(as_json.stdout)
    assert as_json.exit_code == 0
    assert report["passed"] is True
    assert report["parameters"]["W1"]["checked"] == 6
    assert report["parameters"]["b1"]["checked"] == 3


def test_cli_exit_1_names_the_wrong_tensor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(network, "backward", _plant(_transposed_dW2))
    args = ["gradcheck", str(FLOWER), "--set", "model.layers=[2,4,4,1]", "--set", "init.scale=1"]
    result = invoke(*args)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1].startswith(
        "FAIL: backward disagrees with the cost in W2 "
    )
    as_json = invoke(*args, "--json")
    assert as_json.exit_code == 1
    report = json.loads(as_json.stdout)
    assert report["passed"] is False
    failing = [k for k, v in report["parameters"].items() if v["relative_difference"] >= 1e-7]
    assert failing == ["W2"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--epsilon", "0"],
            "dlcli: error: --epsilon: must be a number > 0 (e.g. 1e-7), found 0.0",
        ),
        (
            ["--epsilon", "-1e-7"],
            "dlcli: error: --epsilon: must be a number > 0 (e.g. 1e-7), found -1e-07",
        ),
        (["--coords", "0"], "dlcli: error: --coords: must be an integer >= 1, found 0"),
        (["--examples", "0"], "dlcli: error: --examples: must be an integer >= 1, found 0"),
        (
            ["--threshold", "0"],
            "dlcli: error: --threshold: must be a number > 0 (e.g. 1e-7), found 0.0",
        ),
    ],
)
def test_cli_bad_options_exit_1_with_one_line(args: list[str], message: str) -> None:
    result = invoke("gradcheck", str(FLOWER), *args)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [message]
    assert result.stdout == ""


def test_cli_config_options_without_a_config_are_refused() -> None:
    result = invoke("gradcheck", "--model", "params.h5")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "dlcli: error: --model: applies to a CONFIG, and none was given; "
        "without one the built-in battery runs on its own small networks"
    ]


@extended_only
def test_installed_command_battery_json() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dlcli", "gradcheck", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert all(case["passed"] for case in json.loads(done.stdout))


# The overflow is the point here: NumPy warns of it, the report must stay JSON.
@pytest.mark.filterwarnings(r"ignore:(overflow|invalid value) encountered:RuntimeWarning")
def test_cli_json_is_strict_when_a_difference_is_not_finite(in_tmp: Path) -> None:
    # W1 = 1e308 makes Z1 = W1 x overflow to +inf for the drawn examples whose two features
    # sum to more than 1.8; relu passes the inf on to A1, and dW2 = dZ2 A1.T / m meets
    # 0 * inf where such an example has Y = 1 (AL = 1, dZ2 = 0): the analytic dW2 is NaN,
    # and so are W2's and the overall relative difference. json.dumps would print NaN.
    params = {
        "W1": np.full((4, 2), 1e308),
        "b1": np.zeros((4, 1)),
        "W2": np.ones((1, 4)),
        "b2": np.zeros((1, 1)),
    }
    write_params(in_tmp / "params.h5", params, {})
    args = ["gradcheck", str(FLOWER), "--set", "model.hidden_activation=relu"]
    result = invoke(*args, "--model", "params.h5", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))
    assert set(report) == {"passed", "relative_difference", "threshold", "parameters"}
    assert report["passed"] is False
    assert report["relative_difference"] is None
    assert report["parameters"]["W2"] == {"relative_difference": None, "checked": 4}
    assert {k: v["checked"] for k, v in report["parameters"].items()} == {
        "W1": 8,
        "b1": 4,
        "W2": 4,
        "b2": 1,
    }
    if EXTENDED:
        # The other tensors' analytic derivatives are finite (dW1 = 0.695..., db1 = 0.25,
        # db2 = 0.0625) and their numeric ones 0: a 1e-7 step is lost beside Z of 1e308
        # even in long double, so each difference is exactly 1.
        assert {k: v["relative_difference"] for k, v in report["parameters"].items()} == {
            "W1": 1.0,
            "b1": 1.0,
            "W2": None,
            "b2": 1.0,
        }
    # The text report does not call an overflow a disagreement.
    text = invoke(*args, "--model", "params.h5")
    assert text.exit_code == 1
    assert "FAIL: the gradients of W2 are not finite numbers (the forward or backward" in " ".join(
        text.stdout.split()
    )
    assert "disagrees" not in text.stdout
    # The library's report says the same: NaN in the dataclass, None in its JSON form.
    cfg = load_config(FLOWER, ["model.hidden_activation=relu"])
    checked = checks.check_config(cfg, model=in_tmp / "params.h5")
    W2 = checked.tensors[2]
    assert W2.name == "W2" and math.isnan(W2.relative_difference) and W2.passed is False
    assert checked.to_dict() == report
