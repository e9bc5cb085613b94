"""Update rules as one table: ``OPTIMIZERS[name] = (init, step)``.

``init(params) -> state`` makes the rule's own arrays (zeros, as the course does);
``step(params, grads, state, lr, hyper) -> (params, state)`` returns new arrays and leaves
its inputs untouched. State keys are ``v_W1``, ``s_W1``, ... and ``t`` (a 0-d array), so a
checkpoint stores them as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dlcli.model.network import Params, update


@dataclass(frozen=True)
class Hyper:
    """The rules' constants: momentum's beta, Adam's beta1, beta2 and epsilon."""

    beta: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8


def gd_init(params: Params) -> Params:
    return {}


def gd_step(
    params: Params, grads: Params, state: Params, lr: float, hyper: Hyper
) -> tuple[Params, Params]:
    """W = W - lr dW."""
    return update(params, grads, lr), state


def momentum_init(params: Params) -> Params:
    return {f"v_{k}": np.zeros_like(v) for k, v in params.items()}


def momentum_step(
    params: Params, grads: Params, state: Params, lr: float, hyper: Hyper
) -> tuple[Params, Params]:
    """The course's momentum: v = beta v + (1 - beta) dW, W = W - lr v."""
    b = hyper.beta
    v = {f"v_{k}": b * state[f"v_{k}"] + (1 - b) * grads[f"d{k}"] for k in params}
    return {k: p - lr * v[f"v_{k}"] for k, p in params.items()}, v


def adam_init(params: Params) -> Params:
    state = {f"v_{k}": np.zeros_like(v) for k, v in params.items()}
    state |= {f"s_{k}": np.zeros_like(v) for k, v in params.items()}
    state["t"] = np.array(0, dtype=np.int64)
    return state


def adam_step(
    params: Params, grads: Params, state: Params, lr: float, hyper: Hyper
) -> tuple[Params, Params]:
    """Adam with bias correction, t counting updates from 1:
    v = b1 v + (1 - b1) dW, s = b2 s + (1 - b2) dW^2,
    W = W - lr (v / (1 - b1^t)) / (sqrt(s / (1 - b2^t)) + epsilon)."""
    b1, b2 = hyper.beta1, hyper.beta2
    t = int(state["t"]) + 1
    new: Params = {"t": np.array(t, dtype=np.int64)}
    out: Params = {}
    for k, p in params.items():
        g = grads[f"d{k}"]
        v = new[f"v_{k}"] = b1 * state[f"v_{k}"] + (1 - b1) * g
        s = new[f"s_{k}"] = b2 * state[f"s_{k}"] + (1 - b2) * g * g
        out[k] = p - lr * (v / (1 - b1**t)) / (np.sqrt(s / (1 - b2**t)) + hyper.epsilon)
    return out, new


Init = Callable[[Params], Params]
Step = Callable[[Params, Params, Params, float, Hyper], tuple[Params, Params]]

OPTIMIZERS: dict[str, tuple[Init, Step]] = {
    "gd": (gd_init, gd_step),
    "momentum": (momentum_init, momentum_step),
    "adam": (adam_init, adam_step),
}
