"""One iteration of the Gram engine's plain gradient descent, in arrays made once.

The course's models (ReLU hidden layers, a sigmoid output) trained full-batch by plain
gradient descent run the same forty-odd NumPy calls every iteration on arrays of at most
(n[1], m). At that size a call's own overhead, the allocation of its result and the Python
around it cost as much as its arithmetic. :class:`PlainStep` makes every Z, A and dZ of an
iteration once and has each operation write into its array with ``out=``: the operations of
:func:`~dlcli.model.network.forward` and :func:`~dlcli.model.network.backward_update`, on the
same operands in the same order, so every result is theirs to the bit.
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


class PlainStep:
    """Forward and backward-with-update of [LINEAR -> RELU] x (L-1) -> LINEAR -> SIGMOID on all
    m examples, with layer 1's Z1 = C K + Z1_0 (the Gram form, b1 riding in C).

    The arrays of one iteration are overwritten by the next: ``caches`` (built once) always
    holds the last forward pass's. The parameters :meth:`step` returns are new arrays, so a
    state taken before a step stays whole (a divergence falls back to it).

    Parameters
    ----------
    X : ndarray of shape (n_x, m), the A_prev of layer 1 in ``caches``
    K : ndarray of shape (m, m), X.T X + 1
    Z1_0 : ndarray of shape (n[1], m), W1_0 X + b1_0
    layers : [n_x, n[1], ..., n[L]]
    """

    def __init__(self, X: np.ndarray, K: np.ndarray, Z1_0: np.ndarray, layers: list[int]) -> None:
        m, dtype, L = X.shape[1], X.dtype, len(layers) - 1
        self.K, self.Z1_0 = K, Z1_0
        Z = [np.empty((n, m), dtype) for n in layers]  # Z[l] (n[l], m); Z[0] unused
        A = [X] + [np.empty((n, m), dtype) for n in layers[1:]]  # A[l] (n[l], m)
        # lr dA[l] is written into dZ[l], then multiplied there by relu'(Z[l]) = sign(A[l]).
        dZ = [np.empty((n, m), dtype) for n in layers]
        sign = [np.empty((n, m), dtype) for n in layers]
        self.Z1, self.AL, self.dZL = Z[1], A[L], dZ[L]
        self.caches: Caches = [(A[l - 1], Z[l], A[l]) for l in range(1, L + 1)]
        # Per hidden layer l: its A[l], then the next layer's W, b and Z.
        self.hidden = [(A[l], f"W{l + 1}", f"b{l + 1}", Z[l + 1]) for l in range(1, L)]
        # Per layer l = L..2: W, b, A[l-1] and its .T (a view), the arrays of lr dW, lr dA[l-1]
        # and sign(A[l-1]).
        self.layers = [
            (
                f"W{l}",
                f"b{l}",
                A[l - 1],
                A[l - 1].T,
                np.empty((layers[l], layers[l - 1]), dtype),
                dZ[l - 1],
                sign[l - 1],
            )
            for l in range(L, 1, -1)
        ]

    def forward(self, C: np.ndarray, params: Params) -> tuple[np.ndarray, Caches]:
        """network.forward from Z1 = C K + Z1_0, into this object's arrays.

        Parameters
        ----------
        C : ndarray of shape (n[1], m)
        params : dict holding W{l}, b{l} for l = 2..L

        Returns
        -------
        AL : ndarray of shape (n[L], m)
        caches : (A_prev, Z, A) of each layer, as network.forward gives them
        """
        Z = self.Z1
        np.dot(C, self.K, out=Z)  # (n[1], m)
        np.add(Z, self.Z1_0, out=Z)
        for A, W, b, Z_next in self.hidden:
            np.maximum(Z, 0.0, out=A)
            Z = np.dot(params[W], A, out=Z_next)  # (n[l+1], m)
            np.add(Z, params[b], out=Z)
        # sigmoid 1 / (1 + exp(-Z)), one step at a time; exp(-Z) = inf for Z < -709 gives the
        # limit 0 (the training loop runs with overflow warnings off).
        AL = self.AL
        np.negative(Z, out=AL)
        np.exp(AL, out=AL)
        np.add(AL, 1.0, out=AL)
        np.divide(1.0, AL, out=AL)
        return AL, self.caches

    def step(
        self,
        AL: np.ndarray,
        Y: np.ndarray,
        C: np.ndarray,
        params: Params,
        lr: float,
        w: np.ndarray | None = None,
    ) -> Params:
        """network.backward_update after :meth:`forward`, layer 1 in the Gram form.

        Parameters
        ----------
        AL, Y : ndarray of shape (n[L], m)
        C : ndarray of shape (n[1], m), before the update
        params : W{l}, b{l} for l = 2..L, before the update (not modified)
        lr : the learning rate
        w : ndarray of shape (1, m), optional: example weights, lr dZ[L] = (AL - Y) w (lr / sum w)

        Returns
        -------
        new : the updated W{l}, b{l} (l = 2..L) and C = C - lr dZ1, all new arrays
        """
        dZ = self.dZL
        np.subtract(AL, Y, out=dZ)  # dZ[L] = AL - Y for sigmoid with cross-entropy
        if w is None:
            np.multiply(dZ, lr / Y.shape[1], out=dZ)  # lr dZ[L], (n[L], m)
        else:  # weighting.dZ_L's operations, in place
            np.multiply(dZ, w, out=dZ)
            np.multiply(dZ, lr / weighting.total(w), out=dZ)
        new: Params = {}
        for W, b, A_prev, A_prev_T, lr_dW, dA_prev, sign in self.layers:
            W_old = params[W]
            new[W] = W_old - np.dot(dZ, A_prev_T, out=lr_dW)  # W - lr dW, (n[l], n[l-1])
            new[b] = params[b] - dZ.sum(axis=1, keepdims=True)  # b - lr db, (n[l], 1)
            np.dot(W_old.T, dZ, out=dA_prev)  # lr dA[l-1], (n[l-1], m)
            np.sign(A_prev, out=sign)
            dZ = np.multiply(dA_prev, sign, out=dA_prev)  # lr dZ[l-1]
        new["C"] = C - dZ  # (n[1], m)
        return new
