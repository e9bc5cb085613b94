"""The direct engine for in-memory mini-batches: the course's arithmetic without new arrays.

Today's direct engine makes every Z, A, dZ, dW and optimizer array anew at each iteration;
for a batch of 128 pictures of 784 pixels the allocations, page faults and per-layer Adam
calls cost about as much as the products. Here:

- every parameter lives in one flat buffer with W{l}, b{l} views, and so do the gradients
  and the optimizer's v and s, so an Adam, momentum or gradient-descent step is a few
  in-place vector operations over the whole buffer;
- Z, A, dA and dZ of each batch size are written into workspaces with ``out=``;
- the parameters ping-pong between two buffers: a step writes the new ones into the buffer
  that is not current, so the state before the step stays whole for a divergence to fall
  back to, without a copy.

Each element sees the same operations in the same order as :mod:`dlcli.model.network` and
:mod:`dlcli.model.optimizers` (``b1 v + (1 - b1) g`` as ``v *= b1; v += (1 - b1) g``, and so
on), so float64 and float32 results are those of the direct engine to the bit;
``tests/test_fast.py`` compares the bytes. Dropout, a streamed X and full-batch training
keep the direct engine (:func:`applies`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcli.model import network, weighting
from dlcli.model.activations import ACTIVATIONS
from dlcli.training.engines import ENGINES, Engine
from dlcli.training.plan import Options


def applies(X: Any, opts: Options) -> bool:
    """Whether the direct engine takes the fast path: X in memory, mini-batches smaller
    than m, no dropout, and ``opts.fast``."""
    return (
        opts.fast
        and isinstance(X, np.ndarray)
        and opts.batch_size is not None
        and opts.batch_size < X.shape[1]
        and not any(keep < 1.0 for keep in opts.keep_prob)
    )


class _Flat:
    """Arrays of the parameters' shapes as views of one flat buffer, in the order W1, b1,
    W2, b2, ...; ``weights`` are the W{l} views (what L2 decays)."""

    def __init__(self, shapes: dict[str, tuple[int, ...]], dtype: np.dtype) -> None:
        size = sum(int(np.prod(s)) for s in shapes.values())
        self.flat = np.zeros(size, dtype)
        self.views: dict[str, np.ndarray] = {}
        at = 0
        for k, shape in shapes.items():
            n = int(np.prod(shape))
            self.views[k] = self.flat[at : at + n].reshape(shape)
            at += n
        self.weights = [v for k, v in self.views.items() if k[0] == "W"]

    def load(self, arrays: dict[str, np.ndarray], prefix: str = "") -> None:
        for k, v in self.views.items():
            v[...] = arrays[prefix + k]


class FastDirect(Engine):
    """The direct engine's interface and numbers, with preallocated arrays (module docstring).

    Its ``state`` holds the same keys as the direct engine's (W{l}, b{l}, the optimizer's
    ``v_W1``, ``s_W1``, ..., ``t``) as views of the flat buffers, so a checkpoint of either
    engine continues in the other.
    """

    name = "direct"
    initial_state = staticmethod(ENGINES["direct"].initial_state)

    def __init__(
        self, X: np.ndarray, state: dict[str, np.ndarray], hidden: str, output: str, opts: Options
    ) -> None:
        super().__init__(X, state, hidden, output, opts)
        L = len(self.names) // 2
        shapes = {f"{p}{l}": state[f"{p}{l}"].shape for l in range(1, L + 1) for p in "Wb"}
        dtype = state["W1"].dtype
        self.L = L
        self.P = [_Flat(shapes, dtype), _Flat(shapes, dtype)]  # current, next: see step()
        self.P[0].load(state)
        self.G, self.T, self.T2 = (_Flat(shapes, dtype) for _ in range(3))  # grads, temps
        self.moments = {k: _Flat(shapes, dtype) for k in "vs" if f"{k}_W1" in state}
        for k, flat in self.moments.items():
            flat.load(state, f"{k}_")
        self.t = int(state["t"]) if "t" in state else None
        self.work: dict[int, list[dict[str, np.ndarray]]] = {}  # batch size -> per layer
        self.state = self._state()

    def _state(self) -> dict[str, np.ndarray]:
        """The current parameters and the optimizer's arrays, as the direct engine names them."""
        state = dict(self.P[0].views)
        for k, flat in self.moments.items():
            state |= {f"{k}_{name}": v for name, v in flat.views.items()}
        if self.t is not None:
            state["t"] = np.array(self.t, dtype=np.int64)
        return state

    def _workspace(self, m: int) -> list[dict[str, np.ndarray]]:
        """Z, A, dA and relu's sign(A) (n[l], m) of every layer for a batch of m examples,
        made once."""
        work = self.work.get(m)
        if work is None:
            dtype = self.P[0].flat.dtype
            n = [self.P[0].views[f"W{l}"].shape[0] for l in range(1, self.L + 1)]
            work = self.work[m] = [
                {k: np.empty((n_l, m), dtype) for k in ("Z", "A", "dA", "sign")} for n_l in n
            ]
        return work

    def forward(self, Xb: np.ndarray, masks: dict | None) -> tuple[np.ndarray, network.Caches]:
        """network.forward, written into the batch size's workspace; X itself (the final
        cost) goes through network.forward, as it is seen once."""
        if Xb is self.X:
            return network.forward(Xb, self.P[0].views, self.hidden, self.output)
        views, work = self.P[0].views, self._workspace(Xb.shape[1])
        caches: network.Caches = []
        A_prev = Xb
        for l in range(1, self.L + 1):
            w = work[l - 1]
            Z = np.dot(views[f"W{l}"], A_prev, out=w["Z"])  # (n[l], m)
            Z += views[f"b{l}"]
            if l == self.L:
                A = network.OUTPUTS[self.output](Z)  # (n[L], m): small, made anew
            elif self.hidden == "relu":
                A = np.maximum(Z, 0.0, out=w["A"])
            else:
                A = ACTIVATIONS[self.hidden][0](Z)
            caches.append((A_prev, Z, A))
            A_prev = A
        return A_prev, caches

    def penalty(self, m: int) -> float:
        return network.l2_cost(self.P[0].views, self.opts.l2, m) if self.opts.l2 else 0.0

    def _backward(
        self, AL: np.ndarray, Y: np.ndarray, caches: network.Caches, lr: float | None
    ) -> None:
        """network.backward into the gradient buffer G: dZ[L] = (AL - Y) / m, or, with
        ``lr`` (plain gradient descent), (AL - Y) * (lr / m) as network.backward_update folds
        lr / m into it; dA0 is never formed. With example weights ``self.w``, (AL - Y) w
        and sum w in place of m (weighting.dZ_L)."""
        G, W, work = self.G.views, self.P[0].views, self._workspace(Y.shape[1])
        dZ = np.subtract(AL, Y)  # (n[L], m)
        m = Y.shape[1]
        if self.w is not None:
            dZ *= self.w
            m = weighting.total(self.w)
        # Holds for every output/cost pair: see network.backward.
        if lr is not None:  # 0 too: a learning rate of 0 leaves every parameter as it is
            dZ *= lr / m
        else:
            dZ /= m
        g_backward = ACTIVATIONS[self.hidden][1]
        for l in range(self.L, 0, -1):
            A_prev = caches[l - 1][0]
            np.dot(dZ, A_prev.T, out=G[f"W{l}"])  # (n[l], n[l-1])
            np.add.reduce(dZ, axis=1, keepdims=True, out=G[f"b{l}"])  # np.sum's, (n[l], 1)
            if l > 1:
                dA_prev = np.dot(W[f"W{l}"].T, dZ, out=work[l - 2]["dA"])  # (n[l-1], m)
                _, Z_prev, A_prev_act = caches[l - 2]
                if self.hidden == "relu":  # dA * sign(A), as activations.relu_backward
                    sign = np.sign(A_prev_act, out=work[l - 2]["sign"])
                    dZ = np.multiply(dA_prev, sign, out=dA_prev)
                else:
                    dZ = g_backward(dA_prev, Z_prev, A_prev_act)

    def step(
        self, AL: np.ndarray, Y: np.ndarray, caches: network.Caches, lr: float, masks: dict | None
    ) -> None:
        """One update, written into the parameter buffer that is not current, which then
        becomes current; the state dict before the step keeps its arrays."""
        opts, m = self.opts, Y.shape[1]
        self._backward(AL, Y, caches, lr if opts.plain else None)
        g, T, now, new = self.G.flat, self.T.flat, self.P[0], self.P[1]
        if opts.l2:  # dW + lambda / m W, biases not decayed (engines._with_l2)
            for gW, W, tW in zip(self.G.weights, now.weights, self.T.weights, strict=True):
                gW += np.multiply(W, opts.l2 / m, out=tW)
        if opts.plain:  # g is lr dW already
            np.subtract(now.flat, g, out=new.flat)
        elif opts.optimizer == "gd":  # W - lr dW
            np.subtract(now.flat, np.multiply(g, lr, out=T), out=new.flat)
        elif opts.optimizer == "momentum":  # v = beta v + (1 - beta) dW, W - lr v
            b, v = opts.hyper.beta, self.moments["v"].flat
            v *= b
            v += np.multiply(g, 1 - b, out=T)
            np.subtract(now.flat, np.multiply(v, lr, out=T), out=new.flat)
        else:
            self._adam(lr, new.flat)
        self.P.reverse()
        self.state = self._state()

    def _adam(self, lr: float, out: np.ndarray) -> None:
        """optimizers.adam_step over the flat buffers, each product in the order it takes:
        v = b1 v + (1 - b1) g, s = b2 s + ((1 - b2) g) g,
        out = W - (lr (v / (1 - b1^t))) / (sqrt(s / (1 - b2^t)) + epsilon)."""
        hyper, g, T, T2 = self.opts.hyper, self.G.flat, self.T.flat, self.T2.flat
        b1, b2 = hyper.beta1, hyper.beta2
        v, s = self.moments["v"].flat, self.moments["s"].flat
        self.t = t = self.t + 1
        v *= b1
        v += np.multiply(g, 1 - b1, out=T)
        s *= b2
        np.multiply(g, 1 - b2, out=T)
        T *= g
        s += T
        np.divide(s, 1 - b2**t, out=T)
        np.sqrt(T, out=T)
        T += hyper.epsilon
        np.divide(v, 1 - b1**t, out=T2)
        T2 *= lr
        T2 /= T
        np.subtract(self.P[0].flat, T2, out=out)

    def params(self, state: dict[str, np.ndarray]) -> network.Params:
        """Copies of W{l}, b{l}: the buffers are written again two steps on."""
        return {k: state[k].copy() for k in self.names}

    def layers(self) -> list[int]:
        return network.layer_dims(self.P[0].views)
