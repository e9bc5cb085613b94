"""PyTorch as the oracle of weighted training (issue 18): the same float64 weights and
example weights give the cost and every dW/db of torch's own weighted losses, normalized by
sum w, to 1e-9 relative; ``dlcli train`` with class weights (direct and Gram engines, and
mini-batches, whose sum w is the batch's own) lands on torch.optim.SGD's weights.

The torch side is written independently of dlcli: ``binary_cross_entropy_with_logits(...,
weight=w, reduction="sum") / sum w``, ``cross_entropy(..., weight=class weights)`` (whose
``mean`` is sum w_yi L_i / sum w_yi) or per-example ``cross_entropy(..., reduction="none")``
weighted, and the weighted MSE sum w (a - y)^2 / (2 sum w); gradients from autograd.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import need

torch = need("torch")
F = torch.nn.functional

from typer.testing import CliRunner  # noqa: E402

from dlcli.cli import app  # noqa: E402
from dlcli.config import load_config  # noqa: E402
from dlcli.data.generated import flower  # noqa: E402
from dlcli.data.load import load  # noqa: E402
from dlcli.model import network  # noqa: E402
from dlcli.runs import read_params, write_params  # noqa: E402

RTOL = 1e-9
HIDDEN = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}


def torch_weighted(
    X: np.ndarray,
    Y: np.ndarray,
    params: dict[str, np.ndarray],
    hidden: str,
    output: str,
    w: np.ndarray,
    class_weight: np.ndarray | None = None,
):
    """(J, leaves) of the weighted cost in torch: J = sum w_i L_i / sum w_i."""
    leaves = {
        k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()
    }
    L = len(params) // 2
    A = torch.tensor(X, dtype=torch.float64)
    Yt, wt = torch.tensor(Y, dtype=torch.float64), torch.tensor(w, dtype=torch.float64)
    for l in range(1, L + 1):
        Z = leaves[f"W{l}"] @ A + leaves[f"b{l}"]  # (n[l], m)
        A = HIDDEN[hidden](Z) if l < L else Z
    if output == "sigmoid":
        J = F.binary_cross_entropy_with_logits(Z, Yt, weight=wt, reduction="sum") / wt.sum()
    elif output == "softmax" and class_weight is not None:  # torch's own class weighting
        labels = torch.tensor(Y.argmax(axis=0))
        J = F.cross_entropy(Z.T, labels, weight=torch.tensor(class_weight), reduction="mean")
    elif output == "softmax":
        per_example = F.cross_entropy(Z.T, torch.tensor(Y.argmax(axis=0)), reduction="none")
        J = (per_example * wt[0]).sum() / wt.sum()
    else:
        J = (((Z - Yt) ** 2) * wt).sum() / (2 * wt.sum())
    return J, leaves


def _case(output: str, seed: int) -> tuple:
    rng = np.random.default_rng(seed)
    layers = [5, 6, 4, 3 if output == "softmax" else 1]
    params = {}
    for l in range(1, len(layers)):
        params[f"W{l}"] = rng.standard_normal((layers[l], layers[l - 1])) / np.sqrt(layers[l - 1])
        params[f"b{l}"] = rng.standard_normal((layers[l], 1)) * 0.5
    m = 23
    X = rng.standard_normal((5, m))
    if output == "sigmoid":
        Y = rng.integers(0, 2, size=(1, m)).astype(np.float64)
    elif output == "softmax":
        Y = network.one_hot(rng.integers(0, 3, size=m), 3)
    else:
        Y = rng.standard_normal((1, m))
    w = rng.uniform(0.0, 4.0, size=(1, m))
    w[0, 3] = 0.0  # an example that does not count
    return params, X, Y, w


def _compare(params, X, Y, w, hidden, output, class_weight=None) -> None:
    AL, caches = network.forward(X, params, hidden, output)
    J = network.cost(caches[-1][1], Y, output, w)
    grads = network.backward(AL, Y, caches, params, hidden, w=w)
    Jt, leaves = torch_weighted(X, Y, params, hidden, output, w, class_weight)
    Jt.backward()
    assert J == pytest.approx(Jt.item(), rel=RTOL, abs=0)
    for k, leaf in leaves.items():
        np.testing.assert_allclose(grads[f"d{k}"], leaf.grad.numpy(), rtol=RTOL, atol=1e-15)


@pytest.mark.parametrize("hidden", sorted(HIDDEN))
@pytest.mark.parametrize("output", ["sigmoid", "softmax", "linear"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weighted_cost_and_gradients_equal_torch(hidden: str, output: str, seed: int) -> None:
    _compare(*_case(output, seed), hidden, output)


@pytest.mark.parametrize("seed", [0, 1])
def test_class_weights_equal_torch_cross_entropy_weight(seed: int) -> None:
    # torch's cross_entropy(weight=...) with reduction "mean" divides by sum of w[y_i]: the
    # same normalization as dlcli's J = sum w_i L_i / sum w_i with w_i = class_weight[y_i].
    params, X, Y, _ = _case("softmax", seed)
    class_weight = np.array([0.5, 2.0, 1.25])
    w = class_weight[Y.argmax(axis=0)][np.newaxis, :]
    _compare(params, X, Y, w, "tanh", "softmax", class_weight)


def _sgd(X, Y, init, hidden, output, w, lr, steps, batches=None) -> dict[str, np.ndarray]:
    """torch.optim.SGD on the weighted cost; each step on the columns ``batches[i]``."""
    leaves = None
    params = dict(init)
    for i in range(steps):
        cols = slice(None) if batches is None else batches[i]
        J, leaves = torch_weighted(X[:, cols], Y[:, cols], params, hidden, output, w[:, cols])
        optimizer = torch.optim.SGD(list(leaves.values()), lr=lr)
        optimizer.zero_grad()
        J.backward()
        optimizer.step()
        params = {k: v.detach().numpy().copy() for k, v in leaves.items()}
    return params


def _train(in_tmp: Path, init: dict, layers: list, train: dict) -> tuple[dict, dict]:
    """``dlcli train`` of a tanh network on the flower from ``init``, blue weighing 8 reds."""
    write_params(in_tmp / "init.h5", init, {"layers": layers})
    config = in_tmp / "weighted.yaml"
    spec = {
        "data": {"generate": {"name": "flower", "examples": 400, "seed": 1}},
        "model": {"layers": layers, "hidden_activation": "tanh", "output_activation": "sigmoid"},
        "init": {"from": str(in_tmp / "init.h5")},
        "train": {"learning_rate": 0.5, "class_weight": {"red": 0.25, "blue": 2.0}, **train},
    }
    config.write_text(yaml.safe_dump(spec))
    result = CliRunner().invoke(app, ["train", str(config), "--quiet", "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    trained, meta = read_params(Path(metrics["run_dir"]) / "params.h5")
    return trained, {**metrics, **meta}


def _init(layers: list[int]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    init = {}
    for l in range(1, len(layers)):
        init[f"W{l}"] = rng.standard_normal((layers[l], layers[l - 1]))
        init[f"b{l}"] = rng.standard_normal((layers[l], 1)) * 0.1
    return init


@pytest.mark.parametrize("engine", ["direct", "gram"])
def test_train_with_class_weights_equals_torch_sgd(in_tmp: Path, engine: str) -> None:
    layers = [2, 5, 1]
    init = _init(layers)
    trained, found = _train(
        in_tmp, init, layers, {"iterations": 3, "engine": engine, "log_every": 1}
    )
    assert found["engine"] == engine
    assert found["class_weight"] == {"red": 0.25, "blue": 2.0}
    X, Y = flower(400, 1)
    w = np.where(Y == 1, 2.0, 0.25)  # blue is label 1
    expected = _sgd(X, Y, init, "tanh", "sigmoid", w, 0.5, 3)
    for key in expected:
        np.testing.assert_allclose(trained[key], expected[key], rtol=RTOL, atol=0, err_msg=key)


def test_minibatches_take_sum_w_per_batch_as_torch(in_tmp: Path) -> None:
    # Two updates of 150 and then 150 examples: each batch's cost is divided by ITS OWN
    # sum of weights, as torch's loss over that batch alone.
    layers = [2, 4, 1]
    init = _init(layers)
    trained, _ = _train(
        in_tmp, init, layers, {"iterations": 2, "batch_size": 150, "seed": 5, "log_every": 1}
    )
    X, Y = flower(400, 1)
    w = np.where(Y == 1, 2.0, 0.25)
    perm = np.random.default_rng(5).permutation(400)  # training's first-epoch shuffle
    expected = _sgd(X, Y, init, "tanh", "sigmoid", w, 0.5, 2, [perm[:150], perm[150:300]])
    for key in expected:
        np.testing.assert_allclose(trained[key], expected[key], rtol=RTOL, atol=0, err_msg=key)


def test_softmax_balanced_equals_torch_cross_entropy_weight(in_tmp: Path) -> None:
    # A table of 3 classes with 30, 12 and 6 rows: balanced weights m / (K count_k) and
    # torch's cross_entropy(weight=...) mean give the same first cost.
    rng = np.random.default_rng(4)
    labels = np.repeat(["a", "b", "c"], [30, 12, 6])
    rng.shuffle(labels)
    x = rng.standard_normal((48, 2))
    rows = [f"{p:.6f},{q:.6f},{c}" for (p, q), c in zip(x, labels, strict=True)]
    (in_tmp / "t.csv").write_text("p,q,label\n" + "\n".join(rows) + "\n")
    config = in_tmp / "t.yaml"
    config.write_text(
        """
data: {train: t.csv, target: label}
model:
  layers: [2, 6, 3]
  hidden_activation: relu
  output_activation: softmax
init: {scale: 0.5, seed: 1}
train: {learning_rate: 0.5, iterations: 1, class_weight: balanced}
"""
    )
    result = CliRunner().invoke(app, ["train", str(config), "--quiet", "--json"])
    assert result.exit_code == 0, result.output
    run_dir = Path(json.loads(result.stdout)["run_dir"])
    _, meta = read_params(run_dir / "params.h5")
    assert meta["class_weight"] == {"a": 48 / 90, "b": 48 / 36, "c": 48 / 18}
    cfg = load_config(config, [])
    data = load(cfg.data, "softmax")  # the standardized X, labels in the class order a, b, c
    init = network.init_params([2, 6, 3], 0.5, network.legacy_rng(1))
    balanced = np.array([48 / 90, 48 / 36, 48 / 18])
    J, _ = torch_weighted(
        data.X_train, data.Y_train, init, "relu", "softmax", np.ones((1, 48)), balanced
    )
    first = float((run_dir / "costs.csv").read_text().split()[1].split(",")[2])
    assert first == pytest.approx(J.item(), rel=RTOL, abs=0)
