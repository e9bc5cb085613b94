"""Activations as one table: ``ACTIVATIONS[name] = (forward, backward)``.

``forward(Z) -> A`` and ``backward(dA, Z, A) -> dZ``; every array has shape (n[l], m).
Each backward sits beside its forward so the local derivative is read with the formula.
Adding an activation is a function pair and a row.
"""

from collections.abc import Callable

import numpy as np

LEAKY_SLOPE = 0.01


def sigmoid(Z: np.ndarray) -> np.ndarray:
    # exp(-Z) overflows to inf for Z < -709; 1 / inf = 0 is the right limit. For large Z it
    # underflows to 0 (or a subnormal) and 1 / (1 + 0) = 1 is the right limit too.
    with np.errstate(over="ignore", under="ignore"):
        return 1.0 / (1.0 + np.exp(-Z))


def sigmoid_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    return dA * A * (1.0 - A)  # s'(z) = s(z) (1 - s(z))


def tanh(Z: np.ndarray) -> np.ndarray:
    return np.tanh(Z)


def tanh_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    return dA * (1.0 - A * A)  # tanh'(z) = 1 - tanh(z)^2


def relu(Z: np.ndarray) -> np.ndarray:
    return np.maximum(Z, 0.0)


def relu_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    # relu'(z) = 1 for z > 0, 0 for z <= 0 (at the kink too, as in the course): that is
    # sign(A), already a float, so the product needs no cast from bool (the course's
    # dA * (Z > 0) has the same values and takes longer).
    return dA * np.sign(A)


def leaky_relu(Z: np.ndarray) -> np.ndarray:
    return np.where(Z > 0, Z, LEAKY_SLOPE * Z)


def leaky_relu_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    return np.where(Z > 0, dA, LEAKY_SLOPE * dA)


def linear(Z: np.ndarray) -> np.ndarray:
    return Z


def linear_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    return dA


Forward = Callable[[np.ndarray], np.ndarray]
Backward = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]

ACTIVATIONS: dict[str, tuple[Forward, Backward]] = {
    "sigmoid": (sigmoid, sigmoid_backward),
    "tanh": (tanh, tanh_backward),
    "relu": (relu, relu_backward),
    "leaky_relu": (leaky_relu, leaky_relu_backward),
    "linear": (linear, linear_backward),
}
