"""Each activation's local derivative against a centered difference of its forward, and exact
values at points worked by hand."""

from __future__ import annotations

import math
import typing
import warnings

import numpy as np
import pytest

from dlcli.config.schema import Activation
from dlcli.model.activations import ACTIVATIONS, LEAKY_SLOPE

EPS = 1e-6
# Away from the relu / leaky_relu kink at 0 by far more than EPS, on both sides of it.
Z_POINTS = np.array([[-3.1, -1.7, -0.6, -0.05], [0.07, 0.4, 1.3, 2.9]])  # (2, 4)


def test_table_matches_the_config_schema() -> None:
    # A name the config accepts but the table lacks would be a KeyError in the middle of a run.
    assert set(typing.get_args(Activation)) == set(ACTIVATIONS)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_backward_matches_centered_difference(name: str) -> None:
    forward, backward = ACTIVATIONS[name]
    Z = Z_POINTS.astype(np.float64)
    numeric = (forward(Z + EPS) - forward(Z - EPS)) / (2 * EPS)
    analytic = backward(np.ones_like(Z), Z, forward(Z))
    assert analytic.shape == Z.shape
    np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_backward_is_chain_rule_with_upstream_gradient(name: str) -> None:
    forward, backward = ACTIVATIONS[name]
    Z = Z_POINTS.astype(np.float64)
    dA = np.array([[0.5, -2.0, 3.0, 1.5], [-0.25, 4.0, -1.0, 2.0]])
    A = forward(Z)
    np.testing.assert_allclose(
        backward(dA, Z, A), dA * backward(np.ones_like(Z), Z, A), rtol=0, atol=1e-15
    )


def test_sigmoid_exact_values() -> None:
    forward, backward = ACTIVATIONS["sigmoid"]
    # sigmoid(0) = 1 / (1 + 1) = 0.5; sigmoid(ln 3) = 1 / (1 + 1/3) = 0.75.
    Z = np.array([[0.0, math.log(3.0), -math.log(3.0)]])
    A = forward(Z)
    np.testing.assert_allclose(A, [[0.5, 0.75, 0.25]], rtol=0, atol=1e-15)
    # s' = s (1 - s): 0.5 * 0.5 = 0.25; 0.75 * 0.25 = 0.1875.
    np.testing.assert_allclose(
        backward(np.ones_like(Z), Z, A), [[0.25, 0.1875, 0.1875]], rtol=0, atol=1e-15
    )


def test_tanh_exact_values() -> None:
    forward, backward = ACTIVATIONS["tanh"]
    # tanh(ln 2) = (e^{2 ln 2} - 1) / (e^{2 ln 2} + 1) = (4 - 1) / (4 + 1) = 0.6.
    Z = np.array([[0.0, math.log(2.0), -math.log(2.0)]])
    A = forward(Z)
    np.testing.assert_allclose(A, [[0.0, 0.6, -0.6]], rtol=0, atol=1e-15)
    # tanh' = 1 - tanh^2: 1 - 0 = 1; 1 - 0.36 = 0.64.
    np.testing.assert_allclose(
        backward(np.ones_like(Z), Z, A), [[1.0, 0.64, 0.64]], rtol=0, atol=1e-15
    )


def test_relu_exact_values() -> None:
    forward, backward = ACTIVATIONS["relu"]
    Z = np.array([[-3.0, -0.5, 0.0, 0.5, 2.0]])
    A = forward(Z)
    assert A.tolist() == [[0.0, 0.0, 0.0, 0.5, 2.0]]
    # Slope 0 left of the kink, 1 right of it, and 0 at z = 0 as in the course (dZ[Z <= 0] = 0).
    assert backward(np.ones_like(Z), Z, A).tolist() == [[0.0, 0.0, 0.0, 1.0, 1.0]]


def test_leaky_relu_exact_values() -> None:
    forward, backward = ACTIVATIONS["leaky_relu"]
    assert LEAKY_SLOPE == 0.01
    Z = np.array([[-200.0, -2.0, 3.0]])
    A = forward(Z)
    # 0.01 * -200 = -2; 0.01 * -2 = -0.02; 3 stays 3.
    np.testing.assert_allclose(A, [[-2.0, -0.02, 3.0]], rtol=0, atol=1e-15)
    dA = np.array([[5.0, 1.0, 7.0]])
    # dZ = 0.01 dA left of 0, dA right of it: 0.05, 0.01, 7.
    np.testing.assert_allclose(backward(dA, Z, A), [[0.05, 0.01, 7.0]], rtol=0, atol=1e-15)


def test_linear_is_identity() -> None:
    forward, backward = ACTIVATIONS["linear"]
    Z = np.array([[-4.5, 0.0, 12.25]])
    dA = np.array([[2.0, -3.0, 0.5]])
    assert forward(Z).tolist() == Z.tolist()
    assert backward(dA, Z, forward(Z)).tolist() == dA.tolist()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_saturates_without_overflow_or_warning(dtype: type) -> None:
    forward, backward = ACTIVATIONS["sigmoid"]
    Z = np.array([[-1000.0, -745.0, 745.0, 1000.0]], dtype=dtype)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        A = forward(Z)
        dZ = backward(np.ones_like(Z), Z, A)
    assert A.dtype == dtype
    assert A.tolist() == [[0.0, 0.0, 1.0, 1.0]]
    assert dZ.tolist() == [[0.0, 0.0, 0.0, 0.0]]


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_forward_and_backward_keep_shape_and_dtype(name: str) -> None:
    forward, backward = ACTIVATIONS[name]
    Z = Z_POINTS.astype(np.float32)
    A = forward(Z)
    dZ = backward(np.ones_like(Z), Z, A)
    assert A.shape == dZ.shape == Z.shape
    assert A.dtype == dZ.dtype == np.float32
