"""One iteration of the Gram engine's plain gradient descent, in arrays made once.

The course's models (ReLU hidden layers, a sigmoid output) trained full-batch by plain
gradient descent run the same NumPy calls every iteration on arrays of at most (n[1], m). At
that size a call's own overhead (a microsecond or two) costs as much as its arithmetic, so
:class:`PlainStep` makes every array of an iteration once, has each operation write into its
array with ``out=``, and lays the arrays out so that one call does the work of several:

- the parameters it updates (W2, ..., WL, b2, ..., bL and C) are views of one flat buffer, and
  so are their steps lr dW, lr db and lr dZ1: the update is one subtraction over the buffer;
- the hidden activations A1, ..., A[L-1] are rows of one array, so one ``np.greater`` gives
  relu'(Z) = sign(A) = (A > 0) of every hidden layer;
- dZ2, ..., dZ[L] are rows of one array, so one row sum gives every lr db.

Each element still sees the operations of :func:`~dlcli.model.network.forward` and
:func:`~dlcli.model.network.backward_update`, on the same operands in the same order, so
every result is theirs to the bit (``tests/test_engines.py`` compares the bytes).
"""

from __future__ import annotations

import numpy as np

from dlcli.model import weighting

Params = dict[str, np.ndarray]
Caches = list[tuple[np.ndarray, np.ndarray, np.ndarray]]


def runs(hidden: str, output: str, n_layers: int) -> bool:
    """Whether :class:`PlainStep` computes this network: ReLU hidden layers (or none) and a
    sigmoid output."""
    return output == "sigmoid" and (hidden == "relu" or n_layers == 1)


def _views(flat: np.ndarray, shapes: list[tuple[int, int]]) -> list[np.ndarray]:
    """Consecutive C-contiguous views of ``flat`` with these shapes, in order."""
    views, at = [], 0
    for rows, cols in shapes:
        views.append(flat[at : at + rows * cols].reshape(rows, cols))
        at += rows * cols
    return views


class PlainStep:
    """Forward and backward-with-update of [LINEAR -> RELU] x (L-1) -> LINEAR -> SIGMOID on all
    m examples, with layer 1's Z1 = C K + Z1_0 (the Gram form, b1 riding in C).

    The parameters ping-pong between two buffers: :meth:`step` writes the new ones into the
    buffer that is not current, which then becomes current, so the state dict before a step
    keeps its arrays for a divergence to fall back to; they are written again two steps on.
    The arrays of one iteration are overwritten by the next: ``caches`` (built once) always
    holds the last forward pass's.

    Parameters
    ----------
    X : ndarray of shape (n_x, m), the A_prev of layer 1 in ``caches``
    K : ndarray of shape (m, m), X.T X + 1
    Z1_0 : ndarray of shape (n[1], m), W1_0 X + b1_0
    layers : [n_x, n[1], ..., n[L]]
    state : the engine's state: C (n[1], m), W{l}, b{l} for l = 2..L, and arrays it keeps
        as they are (W1_0, b1_0, a)
    """

    def __init__(
        self, X: np.ndarray, K: np.ndarray, Z1_0: np.ndarray, layers: list[int], state: Params
    ) -> None:
        m, dtype, L, n = X.shape[1], X.dtype, len(layers) - 1, layers
        self.K, self.Z1_0, self.m = K, Z1_0, m
        # The buffer's layout: C first (aligned as a new array is), W2..WL, then b2..bL.
        self.keys = ["C"] + [f"W{l}" for l in range(2, L + 1)] + [f"b{l}" for l in range(2, L + 1)]
        shapes = [(n[1], m)] + [(n[l], n[l - 1]) for l in range(2, L + 1)]
        shapes += [(n[l], 1) for l in range(2, L + 1)]
        size = sum(r * c for r, c in shapes)
        self.flats = [np.empty(size, dtype), np.empty(size, dtype)]
        self.views = [_views(flat, shapes) for flat in self.flats]
        # Per buffer: C, then W2..WL and b2..bL as lists indexed l - 2.
        self.params = [(v[0], v[1:L], v[L:]) for v in self.views]
        for key, view in zip(self.keys, self.views[0], strict=True):
            view[...] = state[key]
        kept = {k: v for k, v in state.items() if k not in self.keys}
        # The state dict of each buffer, made once: step() hands out the current one.
        self.states = [kept | dict(zip(self.keys, v, strict=True)) for v in self.views]
        self.state: Params = self.states[0]
        # The steps: lr dZ1 (C's), lr dW{l}, and lr db2..lr dbL as one (n[2] + ... + n[L], 1).
        self.grad = np.empty(size, dtype)
        grads = _views(self.grad, shapes)
        self.lr_dZ1, self.lr_dW = grads[0], grads[1:L]
        self.lr_db = self.grad[size - sum(n[2:]) :].reshape(-1, 1)
        # A1..A[L-1] as rows of one array (sign(A) of all in one call), dZ2..dZL of another.
        self.A_all = np.empty((sum(n[1:L]), m), dtype)
        self.sign_all = np.empty_like(self.A_all)
        self.dZ_all = np.empty((sum(n[2:]), m), dtype)
        A = [X, *_views(self.A_all.reshape(-1), [(n[l], m) for l in range(1, L)])]
        sign = [None, *_views(self.sign_all.reshape(-1), [(n[l], m) for l in range(1, L)])]
        dZ = [self.lr_dZ1, *_views(self.dZ_all.reshape(-1), [(n[l], m) for l in range(2, L + 1)])]
        Z = [None] + [np.empty((n[l], m), dtype) for l in range(1, L + 1)]
        self.AL = np.empty((n[L], m), dtype)
        A.append(self.AL)
        self.Z1, self.ZL, self.dZL = Z[1], Z[L], dZ[L - 1]
        self.caches: Caches = [(A[l - 1], Z[l], A[l]) for l in range(1, L + 1)]
        # Per hidden layer l: its Z[l] and A[l], the next layer's index into W/b and Z.
        self.hidden = [(A[l], l - 1, Z[l + 1]) for l in range(1, L)]
        # Per layer l = L..2: its index into W/b, its dZ (a row block of dZ_all), A[l-1].T,
        # lr dW{l}, and where lr dA[l-1] goes (dZ[l-1]: C's step for l = 2) with sign(A[l-1]).
        self.back = [
            (l - 2, dZ[l - 1], A[l - 1].T, self.lr_dW[l - 2], dZ[l - 2], sign[l - 1])
            for l in range(L, 1, -1)
        ]
        self.current = 0

    def forward(self) -> tuple[np.ndarray, Caches]:
        """network.forward from Z1 = C K + Z1_0, with the current parameters.

        Returns
        -------
        AL : ndarray of shape (n[L], m)
        caches : (A_prev, Z, A) of each layer, as network.forward gives them
        """
        C, W, b = self.params[self.current]
        Z = self.Z1
        np.dot(C, self.K, out=Z)  # (n[1], m)
        np.add(Z, self.Z1_0, out=Z)
        for A, l, Z_next in self.hidden:
            np.maximum(Z, 0.0, out=A)
            Z = np.dot(W[l], A, out=Z_next)  # (n[l+1], m)
            np.add(Z, b[l], out=Z)
        # sigmoid 1 / (1 + exp(-Z)), one step at a time; exp(-Z) = inf for Z < -709 gives the
        # limit 0 (the training loop runs with overflow warnings off).
        AL = self.AL
        np.negative(Z, out=AL)
        np.exp(AL, out=AL)
        np.add(AL, 1.0, out=AL)
        np.divide(1.0, AL, out=AL)
        return AL, self.caches

    def step(self, Y: np.ndarray, lr: float, w: np.ndarray | None = None) -> Params:
        """network.backward_update after :meth:`forward`, layer 1 in the Gram form:
        C = C - lr dZ1. The new parameters go into the other buffer, which becomes current.

        Parameters
        ----------
        Y : ndarray of shape (n[L], m)
        lr : the learning rate
        w : ndarray of shape (1, m), optional: example weights, lr dZ[L] = (AL - Y) w (lr / sum w)

        Returns
        -------
        state : the engine's new state dict (the current buffer's views)
        """
        dZ = self.dZL
        np.subtract(self.AL, Y, out=dZ)  # dZ[L] = AL - Y for sigmoid with cross-entropy
        if w is None:
            np.multiply(dZ, lr / self.m, out=dZ)  # lr dZ[L], (n[L], m)
        else:  # weighting.dZ_L's operations, in place
            np.multiply(dZ, w, out=dZ)
            np.multiply(dZ, lr / weighting.total(w), out=dZ)
        W = self.params[self.current][1]
        if self.back:
            # relu'(Z) = sign(A) of every hidden layer, as (A > 0): the same floats for the
            # A = max(Z, 0) >= 0 that reach a step (a NaN or inf in A makes the cost
            # non-finite, which stops training before its update), in a quarter less time.
            np.greater(self.A_all, 0.0, out=self.sign_all)
        for l, dZ, A_prev_T, lr_dW, dA_prev, sign in self.back:
            np.dot(dZ, A_prev_T, out=lr_dW)  # lr dW, (n[l], n[l-1])
            np.dot(W[l].T, dZ, out=dA_prev)  # lr dA[l-1], (n[l-1], m)
            np.multiply(dA_prev, sign, out=dA_prev)  # lr dZ[l-1]
        if self.back:
            np.add.reduce(self.dZ_all, axis=1, keepdims=True, out=self.lr_db)  # np.sum's
        new = 1 - self.current
        np.subtract(self.flats[self.current], self.grad, out=self.flats[new])  # W - lr dW, ...
        self.current = new
        self.state = self.states[new]
        return self.state
