"""The network's math: one tiny network worked by hand, initialisation, costs, update."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from dlcli.model import network
from dlcli.model.activations import ACTIVATIONS

# ---------------------------------------------------------------- one network worked by hand
#
# layers [2, 2, 1], relu hidden, sigmoid output, m = 2 examples (the columns of X).

X = np.array([[1.0, 2.0], [3.0, -1.0]])  # x(1) = (1, 3), x(2) = (2, -1)
Y = np.array([[1.0, 0.0]])
W1 = np.array([[0.5, -0.25], [-1.0, 0.5]])
b1 = np.array([[0.5], [0.0]])
W2 = np.array([[1.0, -2.0]])
b2 = np.array([[0.5]])

# Z1 = W1 X + b1
#   unit 1: x(1): 0.5*1 - 0.25*3 + 0.5 = 0.25     x(2): 0.5*2 - 0.25*(-1) + 0.5 = 1.75
#   unit 2: x(1): -1*1 + 0.5*3 + 0   = 0.5      x(2): -1*2 + 0.5*(-1) + 0   = -2.5
Z1 = [[0.25, 1.75], [0.5, -2.5]]
# A1 = relu(Z1): only -2.5 is cut to 0 (unit 2 is dead on x(2)).
A1 = [[0.25, 1.75], [0.5, 0.0]]
# Z2 = W2 A1 + b2
#   x(1): 1*0.25 - 2*0.5 + 0.5 = -0.25          x(2): 1*1.75 - 2*0 + 0.5 = 2.25
Z2 = [[-0.25, 2.25]]
# AL = sigmoid(Z2) = 1 / (1 + e^-z)
#   s(-0.25) = 1 / (1 + e^0.25)  = 1 / 2.2840254166877414 = 0.43782349911420193
#   s(2.25)  = 1 / (1 + e^-2.25) = 1 / 1.1053992245618642 = 0.9046505351008906
AL = [[0.43782349911420193, 0.9046505351008906]]
# J = -1/m sum(y log a + (1 - y) log(1 - a)), y = (1, 0):
#   = 1/2 (-log s(-0.25) - log(1 - s(2.25))) = 1/2 (log(1 + e^0.25) + log(1 + e^2.25))
#   = 1/2 (0.8259394198788436 + 2.350206558916747) = 1.5880729893977954
COST = 1.5880729893977954
# dZ2 = (AL - Y) / m = ((0.43782349911420193 - 1) / 2, (0.9046505351008906 - 0) / 2)
dZ2 = [[-0.28108825044289903, 0.4523252675504453]]
# dW2 = dZ2 A1^T
#   [0]: -0.28108825044289903*0.25 + 0.4523252675504453*1.75 =  0.7212971556025545
#   [1]: -0.28108825044289903*0.5  + 0.4523252675504453*0    = -0.14054412522144952
dW2 = [[0.7212971556025545, -0.14054412522144952]]
# db2 = sum over examples of dZ2 = -0.28108825044289903 + 0.4523252675504453
db2 = [[0.17123701710754624]]
# dA1 = W2^T dZ2: row 1 = 1 * dZ2, row 2 = -2 * dZ2 = (0.5621765008857981, -0.9046505351008906)
# dZ1 = dA1 * relu'(Z1), relu'(Z1) = [[1, 1], [1, 0]]:
#   [[-0.28108825044289903, 0.4523252675504453], [0.5621765008857981, 0]]
# dW1 = dZ1 X^T, X^T = [[1, 3], [2, -1]]
#   row 1: (-0.28108825044289903*1 + 0.4523252675504453*2, -0.28108825044289903*3 - 0.4523252675504453)
#        = (0.6235622846579916, -1.2955900188791423)
#   row 2: (0.5621765008857981*1 + 0, 0.5621765008857981*3 + 0) = (0.5621765008857981, 1.686529502657394)
dW1 = [[0.6235622846579916, -1.2955900188791423], [0.5621765008857981, 1.686529502657394]]
# db1 = row sums of dZ1
db1 = [[0.17123701710754624], [0.5621765008857981]]

TOL = {"rtol": 0, "atol": 1e-12}


def hand_params() -> network.Params:
    return {"W1": W1.copy(), "b1": b1.copy(), "W2": W2.copy(), "b2": b2.copy()}


def test_hand_worked_forward() -> None:
    AL_got, caches = network.forward(X, hand_params(), "relu", "sigmoid")
    assert len(caches) == 2
    (A0, Z1_got, A1_got), (A1_prev, Z2_got, AL_cached) = caches
    assert A0 is X
    np.testing.assert_allclose(Z1_got, Z1, **TOL)
    np.testing.assert_allclose(A1_got, A1, **TOL)
    np.testing.assert_allclose(A1_prev, A1, **TOL)
    np.testing.assert_allclose(Z2_got, Z2, **TOL)
    np.testing.assert_allclose(AL_got, AL, **TOL)
    np.testing.assert_allclose(AL_cached, AL, **TOL)


def test_hand_worked_cost() -> None:
    _, caches = network.forward(X, hand_params(), "relu", "sigmoid")
    J = network.cost(caches[-1][1], Y, "sigmoid")
    assert isinstance(J, float)
    assert J == pytest.approx(COST, rel=0, abs=1e-12)


def test_hand_worked_backward() -> None:
    params = hand_params()
    AL_got, caches = network.forward(X, params, "relu", "sigmoid")
    grads = network.backward(AL_got, Y, caches, params, "relu")
    assert set(grads) == {"dW1", "db1", "dW2", "db2"}
    np.testing.assert_allclose(grads["dW2"], dW2, **TOL)
    np.testing.assert_allclose(grads["db2"], db2, **TOL)
    np.testing.assert_allclose(grads["dW1"], dW1, **TOL)
    np.testing.assert_allclose(grads["db1"], db1, **TOL)


def test_hand_worked_update_returns_new_arrays() -> None:
    # Like the course's update_parameters: new arrays, the old ones untouched (the trainer
    # keeps the state before a step to fall back on when the cost diverges).
    before = hand_params()
    grads = {"dW1": np.array(dW1), "db1": np.array(db1), "dW2": np.array(dW2), "db2": np.array(db2)}
    params = network.update(before, grads, 0.1)
    for key, value in hand_params().items():
        np.testing.assert_array_equal(before[key], value)
        assert params[key] is not before[key]
    # W2 - 0.1 dW2 = (1 - 0.07212971556025545, -2 + 0.014054412522144952)
    np.testing.assert_allclose(params["W2"], [[0.9278702844397446, -1.9859455874778551]], **TOL)
    # b2 - 0.1 db2 = 0.5 - 0.017123701710754624
    np.testing.assert_allclose(params["b2"], [[0.48287629828924538]], **TOL)
    np.testing.assert_allclose(params["W1"], W1 - 0.1 * np.array(dW1), **TOL)
    np.testing.assert_allclose(params["b1"], [[0.48287629828924538], [-0.05621765008857981]], **TOL)


# ---------------------------------------------------------------- linear output, squared error
#
# layers [2, 1], linear output, m = 3.
# Z = W X + b = (2*1 - 1*0 + 0.5, 2*2 - 1*1 + 0.5, 2*3 - 1*(-1) + 0.5) = (2.5, 3.5, 7.5)
# AL - Y = (2.5 - 2, 3.5 - 3, 7.5 - 8) = (0.5, 0.5, -0.5)
# J = 1/(2m) sum (AL - Y)^2 = (0.25 + 0.25 + 0.25) / 6 = 0.125
# dZ = (AL - Y) / m = (1/6, 1/6, -1/6)
# dW = dZ X^T = ((1 + 2 - 3) / 6, (0 + 1 + 1) / 6) = (0, 1/3); db = (1 + 1 - 1) / 6 = 1/6


def test_linear_output_squared_error_by_hand() -> None:
    X_lin = np.array([[1.0, 2.0, 3.0], [0.0, 1.0, -1.0]])
    Y_lin = np.array([[2.0, 3.0, 8.0]])
    params = {"W1": np.array([[2.0, -1.0]]), "b1": np.array([[0.5]])}
    AL_got, caches = network.forward(X_lin, params, "relu", "linear")
    np.testing.assert_allclose(AL_got, [[2.5, 3.5, 7.5]], **TOL)
    assert network.cost(caches[-1][1], Y_lin, "linear") == pytest.approx(0.125, abs=1e-15)
    grads = network.backward(AL_got, Y_lin, caches, params, "relu")
    np.testing.assert_allclose(grads["dW1"], [[0.0, 1 / 3]], **TOL)
    np.testing.assert_allclose(grads["db1"], [[1 / 6]], **TOL)


def test_linear_output_dZ_is_residual_over_m_in_a_deeper_network() -> None:
    # With one hidden layer, dW2 = dZ2 A1^T and db2 = sum dZ2 for dZ2 = (AL - Y) / m.
    rng = np.random.RandomState(0)
    X_lin = rng.randn(3, 5)
    Y_lin = rng.randn(2, 5)
    params = network.init_params([3, 4, 2], 0.5, rng)
    AL_got, caches = network.forward(X_lin, params, "tanh", "linear")
    J = network.cost(caches[-1][1], Y_lin, "linear")
    assert J == pytest.approx(np.sum((AL_got - Y_lin) ** 2) / (2 * 5), rel=1e-14)
    grads = network.backward(AL_got, Y_lin, caches, params, "tanh")
    dZ2_expected = (AL_got - Y_lin) / 5
    np.testing.assert_allclose(grads["dW2"], dZ2_expected @ caches[0][2].T, rtol=1e-13)
    np.testing.assert_allclose(grads["db2"], dZ2_expected.sum(axis=1, keepdims=True), rtol=1e-13)


# ---------------------------------------------------------------- cross-entropy numerics


def test_cross_entropy_matches_the_analytic_value() -> None:
    ZL = np.array([[3.0, -2.0, 0.0, 1.5]])
    Y_ce = np.array([[1.0, 0.0, 1.0, 0.0]])
    # -log s(3) = log(1 + e^-3); -log(1 - s(-2)) = log(1 + e^-2); -log s(0) = log 2;
    # -log(1 - s(1.5)) = log(1 + e^1.5).
    expected = (
        math.log1p(math.exp(-3))
        + math.log1p(math.exp(-2))
        + math.log(2)
        + math.log1p(math.exp(1.5))
    ) / 4
    assert network.cost(ZL, Y_ce, "sigmoid") == pytest.approx(expected, rel=1e-14)


def test_cross_entropy_stable_for_huge_logits() -> None:
    ZL = np.array([[1000.0, -1000.0, 1000.0, -1000.0]])
    Y_ce = np.array([[1.0, 0.0, 0.0, 1.0]])
    # Right and sure: log(1 + e^-1000) = 0 (to double precision), twice.
    # Wrong and sure: -log(1 - s(1000)) = log(1 + e^1000) = 1000, and -log s(-1000) = 1000.
    # J = (0 + 0 + 1000 + 1000) / 4 = 500; a clipped log(AL) would give a made-up number.
    # e^-1000 underflowing to 0 is the right limit, so only underflow is let through.
    with warnings.catch_warnings(), np.errstate(all="raise", under="ignore"):
        warnings.simplefilter("error")
        J = network.cost(ZL, Y_ce, "sigmoid")
    assert J == 500.0


def test_cross_entropy_through_forward_with_saturated_output() -> None:
    # W large enough that AL rounds to exactly 0 and 1 in float64, where log(AL) is -inf.
    X_sat = np.array([[1.0, -1.0]])
    params = {"W1": np.array([[800.0]]), "b1": np.array([[0.0]])}
    AL_got, caches = network.forward(X_sat, params, "relu", "sigmoid")
    assert AL_got.tolist() == [[1.0, 0.0]]
    J = network.cost(caches[-1][1], np.array([[0.0, 1.0]]), "sigmoid")
    assert math.isfinite(J)
    assert J == 800.0  # both examples wrong by z = 800: (800 + 800) / 2


# ---------------------------------------------------------------- init_params


def test_init_shapes_and_keys() -> None:
    params = network.init_params([5, 4, 3, 1], 0.01, network.legacy_rng(1))
    assert list(params) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert {k: v.shape for k, v in params.items()} == {
        "W1": (4, 5),
        "b1": (4, 1),
        "W2": (3, 4),
        "b2": (3, 1),
        "W3": (1, 3),
        "b3": (1, 1),
    }
    for l in (1, 2, 3):
        assert not params[f"b{l}"].any()
        assert params[f"W{l}"].dtype == np.float64
    assert network.n_layers(params) == 3
    assert network.layer_dims(params) == [5, 4, 3, 1]


def test_zero_init_gives_zeros_and_draws_nothing() -> None:
    rng = network.legacy_rng(7)
    params = network.init_params([3, 2, 1], 0, rng)
    assert all(not v.any() for v in params.values())
    assert params["W1"].shape == (2, 3)
    # The generator was not touched: its next draw is a fresh generator's first.
    assert rng.randn(3).tolist() == np.random.RandomState(7).randn(3).tolist()


def test_legacy_draw_order_w1_before_w2() -> None:
    params = network.init_params([3, 4, 2], 0.01, network.legacy_rng(5))
    course = np.random.RandomState(5)  # the course: np.random.seed(5), then randn per layer
    W1_course = course.randn(4, 3) * 0.01
    W2_course = course.randn(2, 4) * 0.01
    assert params["W1"].tolist() == W1_course.tolist()
    assert params["W2"].tolist() == W2_course.tolist()


def test_legacy_rng_is_the_course_generator() -> None:
    rng = network.legacy_rng(3)
    assert isinstance(rng, np.random.RandomState)
    assert rng.randn(4).tolist() == np.random.RandomState(3).randn(4).tolist()


def test_xavier_and_he_are_the_course_formulas() -> None:
    layers = [6, 4, 1]
    xavier = network.init_params(layers, "xavier", network.legacy_rng(2))
    he = network.init_params(layers, "he", network.legacy_rng(2))
    r = np.random.RandomState(2)
    W1_raw, W2_raw = r.randn(4, 6), r.randn(1, 4)
    # xavier: randn / sqrt(n[l-1]) (the course's initialize_parameters_deep)
    np.testing.assert_allclose(xavier["W1"], W1_raw / np.sqrt(6), rtol=1e-15)
    np.testing.assert_allclose(xavier["W2"], W2_raw / 2.0, rtol=1e-15)
    # he: randn * sqrt(2 / n[l-1])
    np.testing.assert_allclose(he["W1"], W1_raw * np.sqrt(2 / 6), rtol=1e-15)
    np.testing.assert_allclose(he["W2"], W2_raw * np.sqrt(0.5), rtol=1e-15)


@pytest.mark.parametrize(
    ("scale", "expected_std"),
    [("xavier", 1 / np.sqrt(400)), ("he", np.sqrt(2 / 400)), (0.01, 0.01), (2.0, 2.0)],
)
def test_init_scales_statistically(scale: float | str, expected_std: float) -> None:
    W = network.init_params([400, 300], scale, network.legacy_rng(0))["W1"]  # 120,000 draws
    assert abs(W.mean()) < 0.02 * expected_std
    assert W.std() == pytest.approx(expected_std, rel=0.01)


@pytest.mark.parametrize("scale", [0.01, "xavier", "he", 0])
def test_init_float32(scale: float | str) -> None:
    p32 = network.init_params([5, 3, 1], scale, network.legacy_rng(4), np.float32)
    p64 = network.init_params([5, 3, 1], scale, network.legacy_rng(4))
    for key in p64:
        assert p32[key].dtype == np.float32
        assert p32[key].shape == p64[key].shape
        assert p32[key].tolist() == p64[key].astype(np.float32).tolist()


# ---------------------------------------------------------------- shapes of grads


@pytest.mark.parametrize("hidden", sorted(ACTIVATIONS))
@pytest.mark.parametrize(
    ("layers", "output"), [([5, 4, 3, 1], "sigmoid"), ([3, 6, 2], "linear"), ([4, 1], "sigmoid")]
)
def test_every_grad_has_its_parameter_shape(hidden: str, layers: list[int], output: str) -> None:
    rng = np.random.RandomState(11)
    m = 7
    X_r = rng.randn(layers[0], m)
    Y_r = (rng.rand(layers[-1], m) > 0.5).astype(np.float64)
    params = network.init_params(layers, 0.5, rng)
    AL_r, caches = network.forward(X_r, params, hidden, output)
    assert AL_r.shape == (layers[-1], m)
    for l, (A_prev, Z, A) in enumerate(caches, start=1):
        assert A_prev.shape == (layers[l - 1], m)
        assert Z.shape == A.shape == (layers[l], m)
    grads = network.backward(AL_r, Y_r, caches, params, hidden)
    assert set(grads) == {f"d{k}" for k in params}
    for key, value in params.items():
        assert grads[f"d{key}"].shape == value.shape
        assert np.all(np.isfinite(grads[f"d{key}"]))


def test_predict_thresholds_sigmoid_output() -> None:
    # AL = (0.43782349911420193, 0.9046505351008906) from the hand-worked network above.
    labels = network.predict(X, hand_params(), "relu", "sigmoid")
    assert labels.tolist() == [[0, 1]]


# ---------------------------------------------------------------- backward and update at once


@pytest.mark.parametrize("seed", range(12))
def test_backward_update_is_backward_then_update(seed: int) -> None:
    # The fused step (lr folded into dZ[L], each layer updated as its gradients come) against
    # backward() then update(): the same arithmetic, equal to rounding, for random depths,
    # activations, outputs and dropout masks; with dW1=False it returns lr dZ1 for layer 1.
    rng = np.random.RandomState(seed)
    depth = 1 + seed % 4
    layers = [int(n) for n in rng.randint(1, 9, size=depth + 1)]
    output = ["sigmoid", "linear", "softmax"][seed % 3]
    if output == "softmax":
        layers[-1] = max(layers[-1], 2)
    hidden = sorted(ACTIVATIONS)[seed % len(ACTIVATIONS)]
    m, lr = 11, 0.3
    X_r = rng.randn(layers[0], m)
    if output == "softmax":
        Y_r = np.eye(layers[-1])[:, rng.randint(0, layers[-1], size=m)]
    else:
        Y_r = (rng.rand(layers[-1], m) > 0.5).astype(np.float64)
    params = network.init_params(layers, "xavier", rng)
    masks = network.dropout_masks(layers, m, [0.7] * (depth - 1), np.random.default_rng(seed))
    AL_r, caches = network.forward(X_r, params, hidden, output, masks=masks)
    before = {k: v.copy() for k, v in params.items()}
    grads = network.backward(AL_r, Y_r, caches, params, hidden, masks=masks)
    expected = network.update(params, grads, lr)
    got = network.backward_update(AL_r, Y_r, caches, params, hidden, lr, masks=masks)
    assert set(got) == set(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(got[key], value, rtol=1e-12, atol=1e-15, err_msg=key)
    partial = network.backward_update(AL_r, Y_r, caches, params, hidden, lr, False, masks)
    assert set(partial) == {k for k in expected if k not in ("W1", "b1")} | {"dZ1"}
    dZ1 = network.backward(AL_r, Y_r, caches, params, hidden, dW1=False, masks=masks)["dZ1"]
    np.testing.assert_allclose(partial["dZ1"], lr * dZ1, rtol=1e-12, atol=1e-15)
    assert all(np.array_equal(params[k], before[k]) for k in params)  # params untouched
