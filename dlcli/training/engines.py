"""The two engines training can run, with one interface: ``initial_state``, ``forward``,
``penalty``, ``step``, ``params`` and ``layers``.

"direct" is the course's algorithm as written; "gram" gives the same numbers up to rounding
with W1 kept as a combination of the training examples (the derivation is in :class:`_Gram`).
:func:`dlcli.training.plan.choose_engine` picks between them.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np

from dlcli.model import gramkit, network
from dlcli.model.optimizers import OPTIMIZERS
from dlcli.sysinfo import limit_blas_threads
from dlcli.training import health
from dlcli.training.plan import Options

#: The FLOPs of one Gram product C @ K (2 n[1] m^2) up to which the Gram engine trains on one
#: BLAS thread. `C @ K` alone on this project's 2-core AMD EPYC, one thread against two: 58.9
#: against 61.4 us at m = 209 (1.7 MFLOP), 214 against 185 us at m = 400 (6.4 MFLOP, n[1] =
#: 20); the whole cat model trains faster on one (docs/speed.md).
SMALL_PRODUCT_FLOPS = 4e6


def small_gram(n1: int, m: int) -> bool:
    """Whether the Gram engine's product C @ K, (n1 x m) @ (m x m), is small enough for one
    BLAS thread (:data:`SMALL_PRODUCT_FLOPS`)."""
    return 2 * n1 * m * m <= SMALL_PRODUCT_FLOPS


def _split(state: dict[str, np.ndarray], names: set[str]) -> tuple[network.Params, network.Params]:
    """(parameters, everything else) of an engine state."""
    return {k: v for k, v in state.items() if k in names}, {
        k: v for k, v in state.items() if k not in names
    }


def _with_l2(grads: network.Params, params: network.Params, l2: float, m: int) -> network.Params:
    """dW{l} + lambda / m W{l} for every weight in ``params`` (biases are not penalized)."""
    if not l2:
        return grads
    return {
        k: g + l2 / m * params[k[1:]] if k[1:] in params and k[1] == "W" else g
        for k, g in grads.items()
    }


class Engine:
    """What both engines hold: the data, the state dict, the activations and the options."""

    def __init__(
        self, X: np.ndarray, state: dict[str, np.ndarray], hidden: str, output: str, opts: Options
    ) -> None:
        self.X, self.state, self.hidden, self.output, self.opts = (
            X,
            dict(state),
            hidden,
            output,
            opts,
        )
        # The network's parameters among the state's arrays (for gram: all but W1).
        self.names = {k for k in state if k[0] in "Wb" and k[1:].isdigit()}
        # The example weights (1, m) of the batch the next step() is of, set by the loop;
        # None trains the unweighted formulas (dlcli.model.weighting).
        self.w: np.ndarray | None = None

    def blas_threads(self) -> AbstractContextManager[Any]:
        """What the iterations run in: BLAS as it is, unless the engine says otherwise."""
        return nullcontext()

    def health(
        self, i: int, before: dict, AL: np.ndarray, Y: np.ndarray, caches, masks, lr: float
    ) -> dict:
        """Log row i's health record (:mod:`~dlcli.training.health`), after its update from
        the state ``before``."""
        return health.collect(
            i, self.params(before), self.params(self.state), AL, Y, caches, self.hidden,
            self.output, self.opts.l2, masks, w=self.w
        )  # fmt: skip


class _Direct(Engine):
    """The course's algorithm as written: every iteration multiplies by X (or its batch).

    Its state is the parameters and the optimizer's arrays. Each step makes new arrays, so
    a state taken before a step stays whole: that is what a divergence falls back to.
    """

    name = "direct"

    @staticmethod
    def initial_state(
        X: np.ndarray, params: network.Params, opts: Options
    ) -> dict[str, np.ndarray]:
        return {**params, **OPTIMIZERS[opts.optimizer][0](params)}

    def forward(self, Xb: np.ndarray, masks: dict | None) -> tuple[np.ndarray, network.Caches]:
        return network.forward(Xb, self.params(self.state), self.hidden, self.output, masks=masks)

    def penalty(self, m: int) -> float:
        return network.l2_cost(self.params(self.state), self.opts.l2, m) if self.opts.l2 else 0.0

    def step(
        self, AL: np.ndarray, Y: np.ndarray, caches: network.Caches, lr: float, masks: dict | None
    ) -> None:
        if self.opts.plain:  # one pass, new arrays
            self.state = network.backward_update(
                AL, Y, caches, self.state, self.hidden, lr, masks=masks, w=self.w
            )
            return
        params, opt_state = _split(self.state, self.names)
        grads = network.backward(AL, Y, caches, params, self.hidden, masks=masks, w=self.w)
        grads = _with_l2(grads, params, self.opts.l2, Y.shape[1])
        params, opt_state = OPTIMIZERS[self.opts.optimizer][1](
            params, grads, opt_state, lr, self.opts.hyper
        )
        self.state = {**params, **opt_state}

    def params(self, state: dict[str, np.ndarray]) -> network.Params:
        return _split(state, self.names)[0]

    def layers(self) -> list[int]:
        return network.layer_dims(self.params(self.state))


class _Gram(Engine):
    """Full-batch training with W1 kept as a W1_0 + C @ X.T.

    Every update of W1 is a combination of the training examples (dW1 = dZ1 @ X.T, plus
    lambda/m W1 with L2, averaged by momentum), so W1 = a W1_0 + C @ X.T with a scalar a and
    C (n[1], m), and Z1 = W1 @ X + b1 = a Z1_0 + C @ K + b1 with the Gram matrix
    K = X.T @ X (m, m). Each iteration then costs O(n[1] m^2) instead of O(n[1] n_x m); the
    arithmetic is the direct path's, reordered. W1 is formed on request.

    Without L2, b1 rides in the same form: db1 = dZ1 @ 1 is the product with a row of ones
    appended to X, so b1 = b1_0 + C @ 1 and, with K + 1 and Z1_0 = W1_0 @ X + b1_0,
    Z1 = Z1_0 + C @ (K + 1): no bias to add, sum or update. (L2 decays W1 but not b1, which
    breaks the shared form; b1 is then a parameter of its own.) The state holds ``b1_0``
    instead of ``b1`` in that case.
    """

    name = "gram"

    def __init__(
        self, X: np.ndarray, state: dict[str, np.ndarray], hidden: str, output: str, opts: Options
    ) -> None:
        super().__init__(X, state, hidden, output, opts)
        self.fold = "b1_0" in state  # b1 = b1_0 + C @ 1
        self.K = X.T @ X  # (m, m), symmetric
        self.Z1_0 = state["W1_0"] @ X  # (n[1], m)
        if self.fold:
            self.K += 1.0
            self.Z1_0 += state["b1_0"]
        self.W1_0_sq = float(np.sum(np.square(state["W1_0"]))) if opts.l2 else 0.0
        # The course's models under plain gradient descent: one iteration in arrays made once.
        self.kit = None
        layers = self.layers()
        if opts.plain and self.fold and gramkit.runs(hidden, output, len(layers) - 1):
            self.kit = gramkit.PlainStep(X, self.K, self.Z1_0, layers, self.state)
            self.state = self.kit.state  # views of the kit's buffers

    def blas_threads(self) -> AbstractContextManager[Any]:
        """One BLAS thread while C @ K is small (:func:`small_gram`; the course's cat model:
        1.7 MFLOP): a second thread gains nothing on it and slows the small products around
        it. The limit holds for the whole process, so training in another thread than the
        main one (trials sharing a Dask worker's process) keeps BLAS as it is."""
        if (
            not small_gram(*self.Z1_0.shape)
            or threading.current_thread() is not threading.main_thread()
        ):
            return nullcontext()
        return limit_blas_threads(1)

    @staticmethod
    def initial_state(
        X: np.ndarray, params: network.Params, opts: Options
    ) -> dict[str, np.ndarray]:
        skip = ("W1",) if opts.l2 else ("W1", "b1")
        rest = {k: v for k, v in params.items() if k not in skip}
        n1, m = params["W1"].shape[0], X.shape[1]
        state = {**rest, **OPTIMIZERS[opts.optimizer][0](rest)}
        state |= {
            "W1_0": params["W1"],
            "C": np.zeros((n1, m), dtype=X.dtype),
            "a": np.array(1.0, dtype=X.dtype),
        }
        if not opts.l2:
            state["b1_0"] = params["b1"]
        if opts.optimizer == "momentum":  # W1's velocity, p W1_0 + V X.T, in the same form
            state |= {"V": np.zeros((n1, m), dtype=X.dtype), "p": np.array(0.0, dtype=X.dtype)}
        return state

    def forward(self, Xb: np.ndarray, masks: dict | None) -> tuple[np.ndarray, network.Caches]:
        s = self.state
        if self.kit is not None and not masks and s is self.kit.state:
            return self.kit.forward()
        Z1 = np.dot(s["C"], self.K)  # (n[1], m)
        if self.opts.l2:
            self.CK = Z1.copy()  # penalty() reads it
            Z1 += s["a"] * self.Z1_0
        else:  # a stays 1
            Z1 += self.Z1_0
        if not self.fold:
            Z1 += s["b1"]
        return network.forward(self.X, s, self.hidden, self.output, Z1=Z1, masks=masks)

    def penalty(self, m: int) -> float:
        if not self.opts.l2:
            return 0.0
        s = self.state
        a, C = float(s["a"]), s["C"]
        # ||a W1_0 + C X.T||^2 = a^2 ||W1_0||^2 + 2a sum(C * (W1_0 X)) + sum(C * (C K))
        W1_sq = (
            a * a * self.W1_0_sq + 2 * a * float(np.sum(C * self.Z1_0)) + float(np.sum(C * self.CK))
        )
        rest = network.l2_cost({k: s[k] for k in self.names}, self.opts.l2, m)
        return rest + self.opts.l2 / (2 * m) * W1_sq

    def step(
        self, AL: np.ndarray, Y: np.ndarray, caches: network.Caches, lr: float, masks: dict | None
    ) -> None:
        if self.opts.plain:
            self._gd_step(AL, Y, caches, lr, masks)
            return
        s, opts, m = self.state, self.opts, Y.shape[1]
        grads = network.backward(AL, Y, caches, s, self.hidden, dW1=False, masks=masks, w=self.w)
        dZ1 = grads.pop("dZ1")
        if not self.fold:
            grads["db1"] = dZ1.sum(axis=1, keepdims=True)
        params, opt_state = _split(s, self.names)
        # dW1 = ga W1_0 + gC X.T: the data term dZ1 X.T and L2's lambda/m (a W1_0 + C X.T).
        ga, gC = opts.l2 / m * s["a"], dZ1 + opts.l2 / m * s["C"]
        grads = _with_l2(grads, params, opts.l2, m)
        params, opt_state = OPTIMIZERS[opts.optimizer][1](params, grads, opt_state, lr, opts.hyper)
        new = s | params | opt_state  # a new dict: the old state stays whole (see _gd_step)
        if opts.optimizer == "momentum":
            b = opts.hyper.beta
            new["p"], new["V"] = b * s["p"] + (1 - b) * ga, b * s["V"] + (1 - b) * gC
            new["a"], new["C"] = s["a"] - lr * new["p"], s["C"] - lr * new["V"]
        else:
            new["a"], new["C"] = s["a"] - lr * ga, s["C"] - lr * gC
        self.state = new

    def _gd_step(
        self, AL: np.ndarray, Y: np.ndarray, caches: network.Caches, lr: float, masks: dict | None
    ) -> None:
        """Plain gradient descent without L2: layers 2..L through network.backward_update,
        layer 1 as C - lr dZ1 (b1 rides in C). New arrays and a new state dict: the state
        before the step stays whole for a divergence to fall back to."""
        s = self.state
        if self.kit is not None and caches is self.kit.caches:
            self.state = self.kit.step(Y, lr, self.w)
            return
        new = network.backward_update(
            AL, Y, caches, s, self.hidden, lr, dW1=False, masks=masks, w=self.w
        )
        dZ1 = new.pop("dZ1")  # lr dZ1, (n[1], m)
        new["C"] = s["C"] - dZ1
        if not self.fold:  # a state from before b1 rode in C (an old checkpoint)
            new["b1"] = s["b1"] - dZ1.sum(axis=1, keepdims=True)
        self.state = s | new

    def health(
        self, i: int, before: dict, AL: np.ndarray, Y: np.ndarray, caches, masks, lr: float
    ) -> dict:
        if not hasattr(self, "_health"):  # layer 1's norms through K (health.GramLayer1)
            self._health = health.GramLayer1(
                self.state["W1_0"], self.K, self.Z1_0, self.state.get("b1_0")
            )
        return health.collect(
            i, before, self.state, AL, Y, caches, self.hidden, self.output, self.opts.l2,
            masks, self._health, lr if self.opts.optimizer == "gd" else None, self.w
        )  # fmt: skip

    def params(self, state: dict[str, np.ndarray]) -> network.Params:
        C = state["C"]
        W1 = C @ self.X.T  # (n[1], n_x)
        W1 += state["W1_0"] if state["a"] == 1 else state["a"] * state["W1_0"]
        params = {"W1": W1}
        if self.fold:
            params["b1"] = state["b1_0"] + C.sum(axis=1, keepdims=True)
        # Copies: the kit's buffers are written again two steps on.
        return params | {k: state[k].copy() for k in self.names}

    def layers(self) -> list[int]:
        s = self.state  # W1_0 has W1's shape
        return network.layer_dims({"W1": s["W1_0"], "b1": None} | {k: s[k] for k in self.names})


ENGINES = {"direct": _Direct, "gram": _Gram}
