"""Sizes of a network as pure formulas: parameters, floating-point operations and bytes of
one iteration, and whether the data fit the network's two ends.

Training checks its memory and the data against these (``dlcli.training``), and the audit
behind ``dlcli train --dry-run`` (``dlcli.audit``) reports them, so the two cannot disagree.
What each count includes is written out in ``dlcli.audit``'s ``*_COUNTED`` notes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Flops:
    """Floating-point operations of one iteration's matrix products (see
    ``dlcli.audit.FLOPS_COUNTED``)."""

    forward: int
    backward: int

    @property
    def total(self) -> int:
        return self.forward + self.backward


@dataclass(frozen=True)
class Memory:
    """Bytes one iteration holds (see ``dlcli.audit.MEMORY_COUNTED``)."""

    X: int
    Y: int
    params: int
    grads: int
    caches: int
    gram: int = 0

    @property
    def total(self) -> int:
        return self.X + self.Y + self.params + self.grads + self.caches + self.gram


def parameter_count(layers: Sequence[int]) -> int:
    """Number of weights and biases: sum over l of n[l] * n[l-1] + n[l]."""
    return sum(layers[l] * (layers[l - 1] + 1) for l in range(1, len(layers)))


def flops(layers: Sequence[int], m: int) -> Flops:
    """Floating-point operations of one iteration's matrix products.

    Parameters
    ----------
    layers : sequence of int, [n[0], ..., n[L]]
    m : number of examples

    Returns
    -------
    Flops
        forward: sum over l = 1..L of 2 n[l] n[l-1] m (``W[l] @ A[l-1]``);
        backward: the same sum for ``dZ[l] @ A[l-1].T``, plus the sum over l = 2..L for
        ``W[l].T @ dZ[l]``.
    """
    products = [2 * layers[l] * layers[l - 1] * m for l in range(1, len(layers))]
    return Flops(forward=sum(products), backward=sum(products) + sum(products[1:]))


def gram_flops(layers: Sequence[int], m: int) -> tuple[Flops, int]:
    """Floating-point operations of the gram engine's matrix products (see
    ``dlcli.audit.GRAM_COUNTED``).

    Parameters
    ----------
    layers : sequence of int, [n[0], ..., n[L]]
    m : number of examples

    Returns
    -------
    per_iteration : :func:`flops` with ``W1 @ X`` replaced by ``C @ K`` (2 n[1] m m) and
        ``dZ1 @ X.T`` left out
    setup : 2 m m n[0] for K = X.T @ X, plus 2 n[1] n[0] m twice (W1_0 @ X, and W1 at the end)
    """
    direct = flops(layers, m)
    layer1 = 2 * layers[1] * layers[0] * m
    per_iteration = Flops(
        forward=direct.forward - layer1 + 2 * layers[1] * m * m,
        backward=direct.backward - layer1,
    )
    return per_iteration, 2 * m * m * layers[0] + 2 * layer1


def gram_bytes(n1: int, m: int, itemsize: int) -> int:
    """What the Gram engine holds beyond the direct path's arrays: K (m, m), and Z1_0, C and
    momentum's V (n[1], m) each."""
    return itemsize * (m * m + 3 * n1 * m)


def memory(layers: Sequence[int], m: int, itemsize: int, engine: str = "direct") -> Memory:
    """Bytes one iteration of training holds; the single estimate dlcli uses.

    Parameters
    ----------
    layers : sequence of int, [n[0], ..., n[L]]
    m : number of examples
    itemsize : bytes per float (8 for float64, 4 for float32)
    engine : "direct" or "gram"; gram adds :func:`gram_bytes`

    Returns
    -------
    Memory
        X (n[0], m), Y (n[L], m), params and grads (one value per parameter each),
        caches: Z[l], A[l], dZ[l] (n[l], m) for l = 1..L, and gram.
    """
    n_params = parameter_count(layers)
    return Memory(
        X=itemsize * layers[0] * m,
        Y=itemsize * layers[-1] * m,
        params=itemsize * n_params,
        grads=itemsize * n_params,
        caches=itemsize * 3 * m * sum(layers[1:]),
        gram=gram_bytes(layers[1], m, itemsize) if engine == "gram" else 0,
    )


def memory_estimate(layers: Sequence[int], m: int, itemsize: int) -> int:
    """Bytes one iteration holds, the total of :func:`memory` (one estimate): the figure
    training checks against free memory before it starts."""
    return memory(layers, m, itemsize).total


def data_mismatch(layers: Sequence[int], n_x: int, n_y: int = 1, inputs: str = "") -> str | None:
    """The one-line error when the data do not fit the network's ends, else None.

    Parameters
    ----------
    layers : sequence of int, model.layers [n[0], ..., n[L]]
    n_x : rows of X (n_x, m), features per example
    n_y : rows of Y (n_y, m), labels per example
    inputs : how a table's columns give the n_x inputs, e.g. "size_m2 1, colour 3 (blue,
        green, red)", so nobody counts one-hot columns by hand; "" says nothing more
    """
    if layers[0] != n_x:
        given = f" ({inputs})" if inputs else ""
        return (
            f"model.layers[0]: is {layers[0]} but the data have n_x = {n_x} features per example"
            f"{given}; set model.layers[0] to {n_x}"
        )
    if layers[-1] != n_y:
        return (
            f"model.layers[-1]: is {layers[-1]} but the labels Y have n_y = {n_y} "
            f"row{'s' if n_y != 1 else ''}; set the last entry of model.layers to {n_y}"
        )
    return None
