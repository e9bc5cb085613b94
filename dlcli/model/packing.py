"""All parameters as one vector theta and back: the course's dictionary_to_vector and
vector_to_dictionary, in the order W1, b1, ..., WL, bL. The gradient check perturbs theta one
coordinate at a time through views into it."""

from __future__ import annotations

import math

import numpy as np

from dlcli.model import network

# (name, shape, offset) of each tensor in a packed vector.
Layout = list[tuple[str, tuple[int, ...], int]]


def param_names(L: int) -> list[str]:
    """``["W1", "b1", ..., "WL", "bL"]``, the course's order of the packed vector."""
    return [name for l in range(1, L + 1) for name in (f"W{l}", f"b{l}")]


def params_to_vector(
    params: network.Params, dtype: np.dtype | type | None = None
) -> tuple[np.ndarray, Layout]:
    """Pack ``W1, b1, ..., WL, bL`` into one vector theta (the course's dictionary_to_vector).

    Parameters
    ----------
    params : dict of W{l} (n[l], n[l-1]) and b{l} (n[l], 1)
    dtype : float dtype of theta (default float64)

    Returns
    -------
    theta : ndarray of shape (n_params,)
    layout : (name, shape, offset) of each tensor, for :func:`vector_to_params`
    """
    names = param_names(network.n_layers(params))
    layout: Layout = []
    offset = 0
    for name in names:
        layout.append((name, params[name].shape, offset))
        offset += params[name].size
    theta = np.empty(offset, dtype=dtype or np.float64)
    for name, shape, start in layout:
        theta[start : start + math.prod(shape)] = params[name].ravel()
    return theta, layout


def vector_to_params(theta: np.ndarray, layout: Layout) -> network.Params:
    """The tensors of a packed theta as views: writing theta[i] changes the tensor it is in.

    Parameters
    ----------
    theta : ndarray of shape (n_params,)
    layout : from :func:`params_to_vector`

    Returns
    -------
    params : dict of views W{l} (n[l], n[l-1]) and b{l} (n[l], 1) into theta
    """
    return {
        name: theta[start : start + math.prod(shape)].reshape(shape)
        for name, shape, start in layout
    }
