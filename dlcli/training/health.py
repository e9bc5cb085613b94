"""Health statistics of a network while it trains, one record per logged row.

At a log row the loop has the forward pass of that iteration (its caches), the parameters
before the update and those after it. From them each layer l gets:

- ``W_norm`` ‖W[l]‖ (Frobenius, before the update), ``dW_norm`` ‖dW[l]‖ (the gradient the
  update used: the cost's, L2's lambda/m W[l] included) and ``update_ratio`` ‖ΔW[l]‖/‖W[l]‖
  with ΔW[l] the update itself (whatever the optimizer made of dW[l]);
- ``Z_mean``, ``Z_std``, ``A_mean``, ``A_std`` over the (n[l], m) arrays of the pass;
- ``dead_fraction`` (relu, leaky_relu hidden layers): the fraction of units whose Z[l] is
  never positive on the examples of the pass; ``saturated_fraction`` (tanh, sigmoid hidden
  layers): the fraction of units saturated (|tanh| > 0.99, sigmoid < 0.01 or > 0.99) on more
  than half of those examples. The examples are the whole training set in full-batch
  training and the log row's batch in mini-batch training (nothing is gathered between log
  rows, so the statistics cost nothing there);
- ``row_spread`` ‖W[l] - 1 W[l][0]‖/‖W[l]‖, 0 when every row (unit) of W[l] is the same:
  the symmetry that a constant init never breaks; None for a layer of one unit.

The Gram engine keeps W1 = a W1_0 + C X.T and never forms it while training; forming it at a
log row costs n_x/m iterations (59 for the cat files), so layer 1's norms come from the Gram
matrix instead (:class:`GramLayer1`). Everything here is pure NumPy and reads its inputs
without changing them.
"""

from __future__ import annotations

import numpy as np

from dlcli.model import network

#: |tanh| above this is on the flat part of the curve: tanh' = 1 - A^2 < 0.02.
TANH_SATURATED = 0.99
#: sigmoid below this or above 1 - this: sigmoid' = A (1 - A) < 0.0099, under 4 % of its
#: largest value 0.25.
SIGMOID_SATURATED = 0.01
#: A unit counts as saturated when it is so on more than this fraction of the examples
#: ("on most examples").
MOST_EXAMPLES = 0.5

Record = dict[str, object]


def _spread(W: np.ndarray, norm: float) -> float | None:
    """‖W - 1 W[0]‖ / ‖W‖ of W (n[l], n[l-1]): 0 when its rows are identical; None for one row."""
    if W.shape[0] < 2:
        return None
    if norm == 0.0:
        return 0.0  # all zero: identical rows
    return float(np.sqrt(_sq(W - W[:1]))) / norm


def activation_stats(Z: np.ndarray, A: np.ndarray, activation: str, hidden: bool) -> Record:
    """Mean and std of Z and A (n[l], m), and the dead or saturated fraction of the units.

    Parameters
    ----------
    Z, A : ndarray of shape (n[l], m)
    activation : the layer's activation name
    hidden : whether the layer is hidden (the output's saturation is a confident prediction)

    Returns
    -------
    dict with Z_mean, Z_std, A_mean, A_std, dead_fraction and saturated_fraction (None where
    the activation has no such state)
    """
    Z_mean, Z_std = _mean_std(Z)
    A_mean, A_std = (Z_mean, Z_std) if A is Z else _mean_std(A)
    stats: Record = {
        "Z_mean": Z_mean,
        "Z_std": Z_std,
        "A_mean": A_mean,
        "A_std": A_std,
        "dead_fraction": None,
        "saturated_fraction": None,
    }
    if not hidden:
        return stats
    if activation in ("relu", "leaky_relu"):
        # Z <= 0 on every example: relu' = 0 (leaky: 0.01) there, so the unit learns nothing.
        stats["dead_fraction"] = float(np.mean(~np.any(Z > 0, axis=1)))
    elif activation in ("tanh", "sigmoid"):
        if activation == "tanh":
            flat = np.abs(A) > TANH_SATURATED
        else:
            flat = (A < SIGMOID_SATURATED) | (A > 1 - SIGMOID_SATURATED)
        stats["saturated_fraction"] = float(np.mean(flat.mean(axis=1) > MOST_EXAMPLES))
    return stats


def _layer(l: int, W_sq: float, dW_sq: float, step_sq: float, spread: float | None) -> Record:
    """The weight statistics of layer l from squared norms (rounding may leave them < 0)."""
    W_norm = float(np.sqrt(max(W_sq, 0.0)))
    step = float(np.sqrt(max(step_sq, 0.0)))
    return {
        "layer": l,
        "W_norm": W_norm,
        "dW_norm": float(np.sqrt(max(dW_sq, 0.0))),
        "update_ratio": step / W_norm if W_norm > 0 else None,
        "row_spread": spread,
    }


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """sum(a * b) of two arrays of one shape, in one thread: np.vdot goes through a BLAS
    that may split a long vector across threads and then wait for a busy core."""
    return float(np.einsum("ij,ij->", a, b))


def _mean_std(a: np.ndarray) -> tuple[float, float]:
    """Mean and (population) standard deviation of a 2-D array, in two passes as np.std
    takes them, with a third of its calls (np.std's Python layer was half of a record's
    time on the cat model)."""
    mean = float(a.sum()) / a.size
    d = a - mean
    return mean, float(np.sqrt(_dot(d, d) / a.size))


def _sq(a: np.ndarray) -> float:
    """‖a‖² of a 2-D array."""
    return _dot(a, a)


def record(
    i: int,
    layers: list[Record],
    caches: network.Caches,
    hidden: str,
    output: str,
) -> Record:
    """One log row's record: each layer's weight statistics with its activation statistics."""
    L = len(caches)
    out = []
    for l, weights in enumerate(layers, start=1):
        _, Z, A = caches[l - 1]
        activation = hidden if l < L else output
        out.append(
            {**weights, "units": int(Z.shape[0]), "activation": activation}
            | activation_stats(Z, A, activation, l < L)
        )
    return {"iteration": int(i), "examples": int(caches[0][1].shape[1]), "layers": out}


def _l2(grads: network.Params, params: network.Params, l2: float, m: int) -> None:
    """dW{l} += lambda/m W{l} in ``grads`` (the gradient the update used)."""
    if l2:
        for k in grads:
            if k[:2] == "dW":
                grads[k] = grads[k] + l2 / m * params[k[1:]]


def collect(
    i: int,
    before: dict[str, np.ndarray],
    after: dict[str, np.ndarray],
    AL: np.ndarray,
    Y: np.ndarray,
    caches: network.Caches,
    hidden: str,
    output: str,
    l2: float = 0.0,
    masks: dict | None = None,
    gram: GramLayer1 | None = None,
    lr: float | None = None,
    w: np.ndarray | None = None,
) -> Record:
    """The record of log row i, after its update.

    Parameters
    ----------
    before, after : the parameters W{l}, b{l} before and after the row's update; with
        ``gram``, the Gram engine's states (layer 1 as a, C; the others as arrays)
    AL, Y : ndarray of shape (n[L], m), the row's batch
    caches : the row's forward pass (A_prev, Z, A) per layer
    l2 : lambda, when the cost has the L2 term
    masks : the dropout masks of the pass, if any
    gram : layer 1's norms in the Gram engine's form, for that engine
    lr : with ``gram``, the learning rate of a plain gradient-descent step (None: momentum)
    w : ndarray of shape (1, m), the row's example weights (None: unweighted), so that dW is
        the gradient the update used
    """
    m = Y.shape[1]
    grads = network.backward(AL, Y, caches, before, hidden, dW1=gram is None, masks=masks, w=w)
    layers = []
    if gram is not None:
        dZ1 = grads.pop("dZ1")
        # dW1 = ga W1_0 + gC X.T, as the engine's step makes it (engines._Gram.step).
        ga, gC = l2 / m * float(before["a"]), dZ1 + l2 / m * before["C"] if l2 else dZ1
        layers.append(gram.norms(before, after, ga, gC, caches[0][1], lr))
    _l2(grads, before, l2, m)
    for l in range(len(layers) + 1, len(caches) + 1):
        W = before[f"W{l}"]
        W_sq = _sq(W)
        layers.append(
            _layer(
                l, W_sq, _sq(grads[f"dW{l}"]), _sq(after[f"W{l}"] - W), _spread(W, np.sqrt(W_sq))
            )
        )
    return record(i, layers, caches, hidden, output)


class GramLayer1:
    """Layer 1's squared norms in the Gram engine's form, without forming W1 (n[1], n_x).

    Any W = alpha W1_0 + D X.T (W1 itself, its update, its gradient) has
    ‖W‖² = alpha² ‖W1_0‖² + 2 alpha sum(D ∘ W1_0 X) + sum(D ∘ D X.T X): products of
    (n[1], m) arrays with the (m, m) Gram matrix, n_x/m times cheaper than forming W. With
    b1 folded in, the engine's K is X.T X + 1 and its Z1_0 is W1_0 X + b1_0, so the 1's part
    (the bias) is taken out: D X.T X = D K - (D 1) 1.T.

    Parameters
    ----------
    W1_0 : ndarray of shape (n[1], n_x)
    K, Z1_0 : the engine's (m, m) and (n[1], m) arrays
    b1_0 : ndarray of shape (n[1], 1) when b1 is folded in (K holds the + 1), else None
    """

    def __init__(
        self, W1_0: np.ndarray, K: np.ndarray, Z1_0: np.ndarray, b1_0: np.ndarray | None
    ) -> None:
        self.K, self.Z1_0, self.fold = K, Z1_0, b1_0 is not None
        self.W0X = Z1_0 - b1_0 if self.fold else Z1_0  # W1_0 X, (n[1], m)
        self.W0X_rows = self.W0X - self.W0X[:1]  # (W1_0 - 1 W1_0[0]) X
        self.w0_sq = _sq(W1_0)
        self.w0_rows_sq = _sq(W1_0 - W1_0[:1])

    def _DXtX(self, D: np.ndarray) -> np.ndarray:
        """D X.T X, (n[1], m)."""
        DK = np.dot(D, self.K)
        return DK - D.sum(axis=1, keepdims=True) if self.fold else DK

    def _sq(self, alpha: float, D: np.ndarray, DXtX: np.ndarray, rows: bool = False) -> float:
        """‖alpha W1_0 + D X.T‖², or with ``rows`` that of the same less its first row
        (D and DXtX given already less theirs)."""
        w0_sq, W0X = (self.w0_rows_sq, self.W0X_rows) if rows else (self.w0_sq, self.W0X)
        cross = _dot(D, W0X) if alpha else 0.0
        return alpha * alpha * w0_sq + 2 * alpha * cross + _dot(D, DXtX)

    def norms(
        self,
        before: dict[str, np.ndarray],
        after: dict[str, np.ndarray],
        ga: float,
        gC: np.ndarray,
        Z1: np.ndarray,
        lr: float | None,
    ) -> Record:
        """Layer 1's statistics: W1 = a W1_0 + C X.T of ``before``, its gradient
        ga W1_0 + gC X.T (gC (n[1], m)) and its update to ``after``.

        C K comes from the pass's Z1 (n[1], m) = C K + a Z1_0 (+ b1 unless folded): no
        product. The update of plain gradient descent is -lr times the gradient (``lr``
        given), so its norm is lr ‖dW1‖; any other (momentum: ``lr`` None) costs a product.
        """
        a, C = float(before["a"]), before["C"]
        CK = Z1 - self.Z1_0 if a == 1.0 else Z1 - a * self.Z1_0
        if not self.fold:
            CK -= before["b1"]
        CXtX = CK - C.sum(axis=1, keepdims=True) if self.fold else CK
        W_sq = self._sq(a, C, CXtX)
        spread = None
        if C.shape[0] > 1:
            rows_sq = self._sq(a, C - C[:1], CXtX - CXtX[:1], rows=True)
            spread = float(np.sqrt(max(rows_sq, 0.0) / W_sq)) if W_sq > 0 else 0.0
        dW_sq = self._sq(ga, gC, self._DXtX(gC))
        if lr is not None:
            step_sq = lr * lr * dW_sq
        else:
            dC = after["C"] - C
            step_sq = self._sq(float(after["a"]) - a, dC, self._DXtX(dC))
        return _layer(1, W_sq, dW_sq, step_sq, spread)
