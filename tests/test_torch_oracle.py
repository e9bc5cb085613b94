"""PyTorch as an oracle: the same float64 weights give the same cost, AL and gradients as
autograd, and one ``dlcli train`` iteration gives the same weights as ``torch.optim.SGD``.

The torch side is written independently of dlcli: plain tensor ops in the course's layout
(columns are examples, Z = W @ A + b), torch's own activations, and the cross-entropy from
``binary_cross_entropy_with_logits``; gradients come from autograd, not from formulas.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import need

torch = need("torch")
F = torch.nn.functional

from typer.testing import CliRunner  # noqa: E402

from dlcli.cli import app  # noqa: E402
from dlcli.data.generated import flower  # noqa: E402
from dlcli.model import network  # noqa: E402
from dlcli.runs import read_params, write_params  # noqa: E402

RTOL = 1e-9
HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "linear"]
OUTPUTS = ["sigmoid", "linear"]
TORCH_ACTIVATIONS = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": lambda Z: F.leaky_relu(Z, negative_slope=0.01),
    "linear": lambda Z: Z,
}


def torch_cost(
    X: np.ndarray, Y: np.ndarray, params: dict[str, np.ndarray], hidden: str, output: str
) -> tuple[object, object, dict[str, object]]:
    """Forward pass and cost in torch; returns (J, AL, leaf tensors W{l}, b{l})."""
    leaves = {
        k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()
    }
    L = len(params) // 2
    Yt = torch.tensor(Y, dtype=torch.float64)
    A = torch.tensor(X, dtype=torch.float64)  # (n_x, m)
    for l in range(1, L + 1):
        Z = leaves[f"W{l}"] @ A + leaves[f"b{l}"]  # (n[l], m)
        A = TORCH_ACTIVATIONS[hidden if l < L else output](Z)
    n_y, m = Y.shape
    if output == "sigmoid":
        # torch's mean runs over all n_y * m entries; the course's cost sums over output
        # units and averages over the m examples only, hence the factor n_y (1 in the course).
        J = F.binary_cross_entropy_with_logits(Z, Yt, reduction="mean") * n_y
    else:
        J = ((A - Yt) ** 2).sum() / (2 * m)
    return J, A, leaves


def _draw_case(hidden: str, output: str, depth: int, rng: np.random.Generator) -> dict:
    layers = [int(n) for n in rng.integers(1, 31, size=depth + 1)]
    if output == "sigmoid":
        layers[-1] = int(rng.integers(1, 4))  # mostly one unit, as the course; a few more
    m = int(rng.integers(1, 51))
    params = {}
    for l in range(1, depth + 1):
        # Scaled like Xavier, times a random gain, so no layer saturates every unit.
        gain = rng.uniform(0.5, 2.0)
        params[f"W{l}"] = (
            rng.standard_normal((layers[l], layers[l - 1])) * gain / np.sqrt(layers[l - 1])
        )
        params[f"b{l}"] = rng.standard_normal((layers[l], 1)) * 0.5
    X = rng.standard_normal((layers[0], m))
    if output == "sigmoid":
        Y = rng.integers(0, 2, size=(layers[-1], m)).astype(np.float64)
    else:
        Y = rng.standard_normal((layers[-1], m))
    return dict(hidden=hidden, output=output, layers=layers, m=m, params=params, X=X, Y=Y)


def _cases() -> list[dict]:
    """Every hidden activation x both outputs x depth 1..5, twice: 100 seeded architectures."""
    rng = np.random.default_rng(20240531)
    return [
        _draw_case(hidden, output, depth, rng)
        for _, hidden, output, depth in itertools.product(range(2), HIDDEN, OUTPUTS, range(1, 6))
    ]


CASES = _cases()


def _case_id(case: dict) -> str:
    return f"{case['hidden']}-{case['output']}-{'x'.join(map(str, case['layers']))}-m{case['m']}"


def test_the_cases_reach_the_edges() -> None:
    depths = {len(c["layers"]) - 1 for c in CASES}
    widths = {n for c in CASES for n in c["layers"]}
    ms = {c["m"] for c in CASES}
    assert depths == {1, 2, 3, 4, 5}
    assert {1, 30} <= widths
    assert {1, 50} <= ms
    assert {(c["hidden"], c["output"]) for c in CASES if len(c["layers"]) > 2} == set(
        itertools.product(HIDDEN, OUTPUTS)
    )


def _close(actual: np.ndarray, expected: np.ndarray, name: str) -> None:
    # Gradient entries are sums over the m examples (dW = dZ A_prev.T, db = sum of dZ) whose
    # terms can cancel to nearly 0; there float64 rounding, about 1e-16 of the terms' size,
    # is a large relative error that says nothing about the math. So values below 1e-13 of
    # the array's largest entry count as ~0 and are compared absolutely; all others to rtol.
    atol = 1e-13 * float(np.max(np.abs(expected), initial=0.0))
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=atol, err_msg=name)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_same_cost_AL_and_gradients_as_autograd(case: dict) -> None:
    X, Y, params = case["X"], case["Y"], case["params"]
    hidden, output = case["hidden"], case["output"]

    AL, caches = network.forward(X, params, hidden, output)
    cost = network.cost(caches[-1][1], Y, output)
    grads = network.backward(AL, Y, caches, params, hidden)

    J_t, AL_t, leaves = torch_cost(X, Y, params, hidden, output)
    J_t.backward()

    assert cost == pytest.approx(J_t.item(), rel=RTOL, abs=0)
    assert AL.shape == tuple(AL_t.shape) == (case["layers"][-1], case["m"])
    _close(AL, AL_t.detach().numpy(), "AL")
    assert sorted(grads) == sorted(f"d{k}" for k in params)
    for key, leaf in leaves.items():
        assert grads[f"d{key}"].shape == params[key].shape, key
        _close(grads[f"d{key}"], leaf.grad.numpy(), f"d{key}")


@pytest.mark.parametrize("hidden", ["relu", "leaky_relu"])
def test_kink_at_zero_takes_the_same_derivative_as_torch(hidden: str) -> None:
    # Random weights never land on z = 0 exactly; a zero row of W1 and b1 puts every
    # example of unit 0 on the kink, where both take the left derivative (0, or the slope).
    rng = np.random.default_rng(3)
    params = {
        "W1": rng.standard_normal((4, 3)),
        "b1": rng.standard_normal((4, 1)),
        "W2": rng.standard_normal((1, 4)),
        "b2": rng.standard_normal((1, 1)),
    }
    params["W1"][0], params["b1"][0] = 0.0, 0.0
    X, Y = rng.standard_normal((3, 6)), rng.integers(0, 2, size=(1, 6)).astype(np.float64)
    AL, caches = network.forward(X, params, hidden, "sigmoid")
    assert np.all(caches[0][1][0] == 0.0)
    grads = network.backward(AL, Y, caches, params, hidden)
    J_t, _, leaves = torch_cost(X, Y, params, hidden, "sigmoid")
    J_t.backward()
    for key, leaf in leaves.items():
        _close(grads[f"d{key}"], leaf.grad.numpy(), f"d{key}")
    if hidden == "relu":
        assert np.all(grads["dW1"][0] == 0.0) and grads["db1"][0, 0] == 0.0
    else:
        assert np.all(grads["dW1"][0] != 0.0)


def test_one_train_iteration_equals_torch_sgd(in_tmp: Path) -> None:
    layers, lr = [2, 5, 3, 1], 1.2
    rng = np.random.default_rng(7)
    init = {}
    for l in range(1, len(layers)):
        init[f"W{l}"] = rng.standard_normal((layers[l], layers[l - 1]))
        init[f"b{l}"] = rng.standard_normal((layers[l], 1)) * 0.1
    write_params(in_tmp / "init.h5", init, {"layers": layers})
    config = in_tmp / "flower_sgd.yaml"
    config.write_text(
        f"""
data:
  generate: {{name: flower, examples: 400, seed: 1}}
model:
  layers: {layers}
  hidden_activation: tanh
  output_activation: sigmoid
init:
  from: {in_tmp / "init.h5"}
train:
  learning_rate: {lr}
  iterations: 1
"""
    )

    result = CliRunner().invoke(app, ["train", str(config), "--quiet", "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    trained, _ = read_params(Path(metrics["run_dir"]) / "params.h5")

    X, Y = flower(400, 1)
    J0, _, leaves = torch_cost(X, Y, init, "tanh", "sigmoid")
    optimizer = torch.optim.SGD(list(leaves.values()), lr=lr)
    optimizer.zero_grad()
    J0.backward()
    optimizer.step()
    expected = {k: v.detach().numpy() for k, v in leaves.items()}

    assert sorted(trained) == sorted(expected)
    for key in expected:
        assert not np.allclose(trained[key], init[key]), f"{key} did not move"
        np.testing.assert_allclose(trained[key], expected[key], rtol=RTOL, atol=0, err_msg=key)
    # The cost logged at iteration 0 is that of the initial weights; final_cost that of the
    # weights after the step.
    costs = (Path(metrics["run_dir"]) / "costs.csv").read_text().split()
    assert costs[0] == "iteration,epoch,cost"
    assert float(costs[1].split(",")[2]) == pytest.approx(J0.item(), rel=RTOL, abs=0)
    J1, _, _ = torch_cost(X, Y, expected, "tanh", "sigmoid")
    assert metrics["final_cost"] == pytest.approx(J1.item(), rel=RTOL, abs=0)
    assert J1.item() < J0.item()
