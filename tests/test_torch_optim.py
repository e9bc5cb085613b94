"""PyTorch as the oracle of issue 7's options, in float64.

The first three steps of dlcli's gradient descent and Adam (through ``dlcli.training.loop.train``)
equal ``torch.optim.SGD`` and ``torch.optim.Adam``; and the cost, AL and every dW, db equal
autograd's with L2 (lambda / (2m) sum ||W||^2 added to torch's loss), dropout with a fixed
mask (the same mask tensors multiplied in), a softmax output (``F.cross_entropy`` on the
logits with class indices) and MSE (``F.mse_loss``).

dlcli's momentum is the course's v = beta v + (1 - beta) dW; torch's SGD momentum is
v = mu v + dW with no damping on its first step, another rule: test_options.py checks it
against a reference written out there.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import need

torch = need("torch")
F = torch.nn.functional

from dlcli.model import network  # noqa: E402
from dlcli.model.optimizers import Hyper  # noqa: E402
from dlcli.training.loop import train  # noqa: E402
from dlcli.training.plan import Options  # noqa: E402

RTOL = 1e-9
TORCH_ACTIVATIONS = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": lambda Z: F.leaky_relu(Z, negative_slope=0.01),
    "linear": lambda Z: Z,
}


def torch_forward(
    leaves: dict, X: np.ndarray, Y: np.ndarray, hidden: str, output: str, lambd: float, masks
):
    """(J, AL) of torch tensors: the course's layout, torch's own activations and losses."""
    L = len(leaves) // 2
    n_y, m = Y.shape
    Yt = torch.tensor(Y, dtype=torch.float64)
    A = torch.tensor(X, dtype=torch.float64)  # (n_x, m)
    for l in range(1, L + 1):
        Z = leaves[f"W{l}"] @ A + leaves[f"b{l}"]  # (n[l], m)
        if l < L:
            A = TORCH_ACTIVATIONS[hidden](Z)
            if masks and l in masks:
                A = A * torch.tensor(masks[l], dtype=torch.float64)
    if output == "sigmoid":
        # torch averages over all n_y * m entries; the course over the m examples.
        J = F.binary_cross_entropy_with_logits(Z, Yt, reduction="mean") * n_y
        AL = torch.sigmoid(Z)
    elif output == "softmax":
        # Rows are examples in torch: logits (m, K) and the class index of each example.
        J = F.cross_entropy(Z.T, Yt.argmax(dim=0), reduction="mean")
        AL = torch.softmax(Z, dim=0)
    else:
        J = F.mse_loss(Z, Yt, reduction="mean") * n_y / 2  # = sum (AL - Y)^2 / (2m)
        AL = Z
    if lambd:
        J = J + lambd / (2 * m) * sum((leaves[f"W{l}"] ** 2).sum() for l in range(1, L + 1))
    return J, AL


def _leaves(params: dict[str, np.ndarray]) -> dict:
    return {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}


def _labels(output: str, n_y: int, m: int, rng: np.random.Generator) -> np.ndarray:
    if output == "sigmoid":
        return rng.integers(0, 2, size=(n_y, m)).astype(np.float64)
    if output == "softmax":
        return (np.arange(n_y)[:, np.newaxis] == rng.integers(0, n_y, size=m)).astype(np.float64)
    return rng.standard_normal((n_y, m))


def _random_params(layers: list[int], rng: np.random.Generator) -> dict[str, np.ndarray]:
    params = {}
    for l in range(1, len(layers)):
        gain = rng.uniform(0.5, 2.0)  # Xavier-scaled times a gain: no layer saturates
        params[f"W{l}"] = (
            rng.standard_normal((layers[l], layers[l - 1])) * gain / np.sqrt(layers[l - 1])
        )
        params[f"b{l}"] = rng.standard_normal((layers[l], 1)) * 0.5
    return params


def _close(actual: np.ndarray, expected: np.ndarray, name: str) -> None:
    # Entries that are sums over m examples can cancel to ~0, where float64 rounding is a
    # large relative error: below 1e-13 of the array's largest entry they compare absolutely.
    atol = 1e-13 * float(np.max(np.abs(expected), initial=0.0))
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=atol, err_msg=name)


# ---------------------------------------------------------------- torch.optim


@pytest.mark.parametrize("output", ["sigmoid", "softmax"])
@pytest.mark.parametrize("l2", [0.0, 0.6])
@pytest.mark.parametrize("optimizer", ["gd", "adam"])
def test_first_three_steps_equal_torch_optim(optimizer: str, l2: float, output: str) -> None:
    rng = np.random.default_rng(11)
    n_y, m = (3 if output == "softmax" else 1), 16
    layers = [3, 5, 4, n_y]
    X, Y = rng.standard_normal((3, m)), _labels(output, n_y, m, rng)
    init = _random_params(layers, rng)
    lr, betas, eps = (0.5, None, None) if optimizer == "gd" else (0.01, (0.85, 0.99), 1e-7)

    leaves = _leaves(init)
    if optimizer == "gd":
        step = torch.optim.SGD(list(leaves.values()), lr=lr)
    else:
        step = torch.optim.Adam(list(leaves.values()), lr=lr, betas=betas, eps=eps)
    losses, after = [], []
    for _ in range(3):
        step.zero_grad()
        J, _ = torch_forward(leaves, X, Y, "tanh", output, l2, None)
        losses.append(J.item())
        J.backward()
        step.step()
        after.append({k: v.detach().numpy().copy() for k, v in leaves.items()})

    hyper = Hyper(beta1=betas[0], beta2=betas[1], epsilon=eps) if betas else Hyper()
    options = Options(optimizer=optimizer, hyper=hyper, l2=l2)
    for k in (1, 2, 3):
        result = train(
            X,
            Y,
            init,
            hidden="tanh",
            output=output,
            learning_rate=lr,
            iterations=k,
            log_every=1,
            engine="direct",
            options=options,
        )
        np.testing.assert_allclose(
            [row["cost"] for row in result.log], losses[:k], rtol=RTOL, atol=0
        )
        for key, expected in after[k - 1].items():
            assert not np.allclose(expected, init[key], rtol=1e-6, atol=0), f"{key} did not move"
            np.testing.assert_allclose(
                result.params[key], expected, rtol=RTOL, atol=0, err_msg=f"{key} after {k}"
            )


# ---------------------------------------------------------------- the oracle, extended

VARIANTS = {
    "sigmoid-l2": dict(output="sigmoid", l2=0.7, keep=None),
    "sigmoid-dropout": dict(output="sigmoid", l2=0.0, keep=0.6),
    "softmax": dict(output="softmax", l2=0.0, keep=None),
    "mse": dict(output="linear", l2=0.0, keep=None),
    "softmax-l2-dropout": dict(output="softmax", l2=0.4, keep=0.7),
    "mse-l2-dropout": dict(output="linear", l2=0.4, keep=0.8),
}
HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "linear"]
CASES = [(variant, hidden, seed) for variant in VARIANTS for seed, hidden in enumerate(HIDDEN)]


@pytest.mark.parametrize(("variant", "hidden", "seed"), CASES)
@pytest.mark.parametrize("engine", ["direct", "gram"])
def test_same_cost_AL_and_gradients_as_autograd_with_options(
    variant: str, hidden: str, seed: int, engine: str
) -> None:
    spec = VARIANTS[variant]
    output, l2 = spec["output"], spec["l2"]
    rng = np.random.default_rng([seed, list(VARIANTS).index(variant)])
    n_y = int(rng.integers(2, 5)) if output == "softmax" else int(rng.integers(1, 3))
    layers = [int(n) for n in rng.integers(1, 20, size=int(rng.integers(3, 5)))] + [n_y]
    m = int(rng.integers(2, 40))
    X, Y = rng.standard_normal((layers[0], m)), _labels(output, n_y, m, rng)
    params = _random_params(layers, rng)
    keep = () if spec["keep"] is None else (spec["keep"],) * (len(layers) - 2)
    # train() draws the masks of its first iteration first from default_rng(seed); the logged
    # cost below equals torch's only if these are the same masks.
    masks = network.dropout_masks(layers, m, keep, np.random.default_rng(seed)) if keep else None
    if keep:
        assert masks and all(np.any(D == 0) for D in masks.values())

    leaves = _leaves(params)
    J_t, AL_t = torch_forward(leaves, X, Y, hidden, output, l2, masks)
    J_t.backward()
    torch_grads = {k: leaf.grad.numpy() for k, leaf in leaves.items()}

    # The network's functions: AL and the cost.
    AL, caches = network.forward(X, params, hidden, output, masks=masks)
    J = network.cost(caches[-1][1], Y, output) + network.l2_cost(params, l2, m)
    assert J == pytest.approx(J_t.item(), rel=RTOL, abs=0)
    _close(AL, AL_t.detach().numpy(), "AL")
    if not l2:
        grads = network.backward(AL, Y, caches, params, hidden, masks=masks)
        for key in params:
            _close(grads[f"d{key}"], torch_grads[key], f"backward d{key}")

    # What training does with them: one step of lr = 2^10 moves W by lr dW, which (W0 - W1)
    # / lr reads back to a few ulps of dW.
    lr = 1024.0
    result = train(
        X,
        Y,
        params,
        hidden=hidden,
        output=output,
        learning_rate=lr,
        iterations=1,
        engine=engine,
        options=Options(l2=l2, keep_prob=keep, seed=seed),
    )
    assert result.engine == engine
    assert result.log[0]["cost"] == pytest.approx(J_t.item(), rel=RTOL, abs=0)
    for key in params:
        _close((params[key] - result.params[key]) / lr, torch_grads[key], f"trained d{key}")
