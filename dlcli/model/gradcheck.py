"""Gradient checking: every analytic derivative of :func:`network.backward` against the
centered difference of the cost, as in the course.

For a coordinate theta_i of a parameter tensor,

    gradapprox_i = (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps)

and a set of coordinates is judged by the course's relative difference

    difference = ||grad - gradapprox||_2 / (||grad||_2 + ||gradapprox||_2).

Why the default threshold is 1e-7 with eps = 1e-7: the truncation error of the centered
difference is about eps^2 / 6 * J''' (1e-15), so a correct backward pass agrees to about
1e-9 or better; a wrong one (a missing 1/m, a transposed product, a wrong derivative) is off
by a factor of order 1, a difference of 1e-3 to 1. Rounding is the other limit: J is about
1, each evaluation of it carries an error of about u |J| (u the unit round-off), and the
quotient an error of about u |J| / eps per coordinate, 1e-9 in float64. Divided by gradients
of 1e-3 (the cat_2layer config's W1: 0.01-scaled weights on 12288 pixels) that is 1.7e-7
measured, a correct backward pass failing. So the numeric side, J(theta +- eps), is
evaluated in extended precision (``long double``, 64-bit significand, u = 5e-20) where the
platform has it, which gives 2e-10 there; the analytic side stays float64, the precision the
network trains in. Where long double is float64 (Windows, ARM macOS) tensors with gradients
below about 1e-2 can exceed 1e-7 from rounding alone.

A relu or leaky_relu is not differentiable at 0: when theta + eps or theta - eps changes the
sign pattern (Z > 0) of some hidden pre-activation of such a layer, the centered difference
averages two slopes and disagrees with any one-sided derivative. Such a coordinate is a
*kink*; it is reported and left out of the differences and of pass / fail.

Nothing here prints; the CLI renders the dataclasses returned.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from dlcli.errors import DlcliError
from dlcli.model import network
from dlcli.model.battery import battery_cases, battery_network
from dlcli.model.gradcheck_results import BatteryCase, Coordinate, GradCheck, TensorCheck
from dlcli.model.packing import Layout, param_names, params_to_vector, vector_to_params

EPSILON = 1e-7
THRESHOLD = 1e-7
SEED = 1
WORST = 5

# Activations with a kink at z = 0, where forward is continuous but the derivative jumps.
KINKED = ("relu", "leaky_relu")

# The most precise float NumPy has here: long double when it is wider than float64 (x86:
# 64-bit significand), float64 itself elsewhere (Windows, ARM macOS).
REFERENCE_DTYPE: np.dtype = (
    np.dtype(np.longdouble)
    if np.finfo(np.longdouble).eps < np.finfo(np.float64).eps
    else np.dtype(np.float64)
)


def describe_dtype(dtype: np.dtype | type) -> str:
    """A float type for people: "float64", or "long double (64-bit significand)"."""
    dtype = np.dtype(dtype)
    if dtype == np.float64:
        return "float64"
    name = "long double" if dtype == np.longdouble else dtype.name
    return f"{name} ({np.finfo(dtype).nmant + 1}-bit significand)"


# ---------------------------------------------------------------- the course's formulas


def relative_difference(grad: np.ndarray, gradapprox: np.ndarray) -> float:
    """||grad - gradapprox||_2 / (||grad||_2 + ||gradapprox||_2), 0 when both are zero.

    Parameters
    ----------
    grad, gradapprox : ndarray of shape (k,), the analytic and numeric derivatives
    """
    grad = np.asarray(grad, dtype=np.float64)
    gradapprox = np.asarray(gradapprox, dtype=np.float64)
    scale = max(np.max(np.abs(grad), initial=0.0), np.max(np.abs(gradapprox), initial=0.0))
    if scale == 0:  # both exactly zero (a dead unit, or nothing checked): they agree
        return 0.0
    if np.isfinite(scale) and not 1e-150 < scale < 1e150:
        # Squares of such values overflow or underflow to a false 0 inside the norms; the
        # ratio is the same with both divided by their largest magnitude. (NaN or inf, an
        # overflowed gradient, still give NaN.)
        grad, gradapprox = grad / scale, gradapprox / scale
    denominator = np.linalg.norm(grad) + np.linalg.norm(gradapprox)
    return float(np.linalg.norm(grad - gradapprox) / denominator)


def numeric_gradient(
    J: Callable[[np.ndarray], float],
    theta: np.ndarray,
    epsilon: float = EPSILON,
    indices: Sequence[int] | np.ndarray | None = None,
) -> np.ndarray:
    """Centered differences (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps) of any J.

    Parameters
    ----------
    J : function of theta, ndarray of shape (n,), to a number
    theta : ndarray of shape (n,); perturbed in place one coordinate at a time and restored
    epsilon : the step eps
    indices : the coordinates i to differentiate (default all n)

    Returns
    -------
    gradapprox : ndarray of shape (len(indices),), in theta's dtype
    """
    indices = range(theta.size) if indices is None else indices
    gradapprox = np.empty(len(indices), dtype=theta.dtype)
    for k, i in enumerate(indices):
        J_plus, J_minus = _centered(lambda: J(theta), theta, int(i), epsilon)
        gradapprox[k] = (J_plus - J_minus) / (2 * epsilon)
    return gradapprox


def _centered(evaluate: Callable[[], Any], theta: np.ndarray, i: int, epsilon: float):
    """(evaluate() at theta_i + eps, evaluate() at theta_i - eps), theta restored after."""
    old = theta[i]
    try:
        theta[i] = old + epsilon
        plus = evaluate()
        theta[i] = old - epsilon
        minus = evaluate()
    finally:
        theta[i] = old
    return plus, minus


# ---------------------------------------------------------------- checking a network


def check_options(
    epsilon: float,
    threshold: float,
    coords: int | None = None,
    examples: int | None = None,
    seed: int | None = None,
) -> None:
    """Refuse option values the check cannot use, naming the option."""
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise DlcliError(f"--epsilon: must be a number > 0 (e.g. 1e-7), found {epsilon}")
    if not (math.isfinite(threshold) and threshold > 0):
        raise DlcliError(f"--threshold: must be a number > 0 (e.g. 1e-7), found {threshold}")
    if coords is not None and coords < 1:
        raise DlcliError(f"--coords: must be an integer >= 1, found {coords}")
    if examples is not None and examples < 1:
        raise DlcliError(f"--examples: must be an integer >= 1, found {examples}")
    if seed is not None and seed < 0:
        raise DlcliError(f"--seed: must be an integer >= 0, found {seed}")


def _total_cost(
    ZL: np.ndarray, Y: np.ndarray, output: str, w: np.ndarray | None = None
) -> np.generic:
    """:func:`network.cost` in the dtype of ZL, not rounded to a Python float.

    The same formulas as ``network.COSTS`` and :func:`dlcli.model.weighting.cost` (tests
    hold them equal in float64); kept here because rounding J to float64 would undo the
    extended-precision reference. With example weights ``w`` (1, m), each example's loss
    is weighted by w_i / sum w instead of 1 / m.
    """
    m = Y.shape[1] if w is None else np.sum(w)
    w = 1 if w is None else w
    if output == "sigmoid":
        return np.sum((np.logaddexp(0, ZL) - Y * ZL) * w) / m
    if output == "linear":
        return np.sum((ZL - Y) ** 2 * w) / (2 * m)
    if output == "softmax":
        shifted = ZL - ZL.max(axis=0, keepdims=True)
        log_softmax = shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))
        return -np.sum(Y * log_softmax * w) / m
    raise ValueError(f"no cost for output activation {output!r}; known: {sorted(network.COSTS)}")


def _suffix(params: network.Params, l: int, L: int) -> network.Params:
    """Layers l..L renumbered 1..L-l+1: the network that layer l's input A[l-1] feeds."""
    return {f"{p}{k - l + 1}": params[f"{p}{k}"] for k in range(l, L + 1) for p in "Wb"}


def _l2_penalty(params: network.Params, lambd: float, m: int) -> np.generic:
    """lambda / (2m) sum_l ||W[l]||^2 in the dtype of the weights (see :func:`_total_cost`)."""
    return lambd / (2 * m) * sum(np.sum(np.square(v)) for k, v in params.items() if k[0] == "W")


def check_gradients(
    X: np.ndarray,
    Y: np.ndarray,
    params: network.Params,
    hidden: str,
    output: str,
    *,
    epsilon: float = EPSILON,
    threshold: float = THRESHOLD,
    coords: int | None = None,
    rng: np.random.Generator | None = None,
    worst: int = WORST,
    reference_dtype: np.dtype | type | None = None,
    lambd: float = 0.0,
    masks: dict[int, np.ndarray] | None = None,
    weights: np.ndarray | None = None,
) -> GradCheck:
    """Check :func:`network.backward` against centered differences of the cost.

    Parameters
    ----------
    X : ndarray of shape (n_x, m)
    Y : ndarray of shape (n[L], m)
    params : dict of W{l} (n[l], n[l-1]) and b{l} (n[l], 1); not modified
    hidden, output : activation names, as in the config
    epsilon : the step eps of the centered difference
    threshold : a difference below it passes
    coords : at most this many coordinates per tensor, drawn without replacement by ``rng``;
        None checks every coordinate
    rng : the generator of the sample (default ``default_rng(0)``)
    worst : how many of the worst coordinates to return
    reference_dtype : the float type J(theta +- eps) is evaluated in (default
        :data:`REFERENCE_DTYPE`); the analytic gradient is always float64
    lambd : the L2 penalty's lambda: J gains lambda / (2m) sum ||W||^2 and each analytic dW
        the lambda / m W that training adds
    masks : dict of hidden layer l -> ndarray of shape (n[l], m), optional
        Fixed inverted-dropout masks (see :func:`network.dropout_masks`), the same on both
        sides: with a fixed mask the network is an ordinary function of theta
    weights : ndarray of shape (1, m), optional
        Example weights: J = sum w_i L_i / sum w_i, and the analytic side's
        dZ[L] = (AL - Y) w / sum w (L2 keeps its lambda / (2m))

    Returns
    -------
    GradCheck
    """
    check_options(epsilon, threshold, coords)
    reference = np.dtype(reference_dtype or REFERENCE_DTYPE)
    rng = rng if rng is not None else np.random.default_rng(0)
    names = param_names(network.n_layers(params))
    params64 = {name: np.asarray(params[name], dtype=np.float64) for name in names}
    X64, Y64 = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    cost = _Cost(X64, Y64, hidden, output, lambd, masks, w)
    grads = _analytic_gradients(cost, params64)
    numeric_side = _NumericSide.at(cost, params64, reference)

    tensors: list[TensorCheck] = []
    compared: list[Coordinate] = []
    kinks: list[Coordinate] = []
    all_analytic: list[np.ndarray] = []
    all_numeric: list[np.ndarray] = []
    for name, shape, start in numeric_side.layout:
        size = math.prod(shape)
        positions = (
            np.arange(size)
            if coords is None or size <= coords
            else np.sort(rng.choice(size, size=coords, replace=False))
        )
        analytic = grads[f"d{name}"].ravel()[positions]
        numeric, is_kink = numeric_side.differences(name, start, positions, epsilon)
        for pos, a, n, kink in zip(positions, analytic, numeric, is_kink, strict=True):
            index = tuple(int(i) for i in np.unravel_index(pos, shape))
            (kinks if kink else compared).append(Coordinate(name, index, float(a), float(n)))
        keep = ~is_kink
        all_analytic.append(analytic[keep])
        all_numeric.append(numeric[keep])
        tensors.append(_tensor_check(name, shape, analytic, numeric, is_kink, threshold))

    overall = relative_difference(np.concatenate(all_analytic), np.concatenate(all_numeric))
    compared.sort(key=lambda c: c.difference, reverse=True)
    return GradCheck(
        tensors=tensors,
        relative_difference=overall,
        threshold=threshold,
        epsilon=epsilon,
        passed=overall < threshold and all(t.passed for t in tensors),
        worst=compared[:worst],
        kinks=kinks,
        examples=int(X64.shape[1]),
        reference=describe_dtype(reference),
        layers=network.layer_dims(params64),
        hidden=hidden,
        output=output,
    )


@dataclass(frozen=True)
class _Cost:
    """What J depends on besides the parameters: the examples, the activations and the
    training options, all in one float type.

    X : ndarray of shape (n_x, m)
    Y : ndarray of shape (n[L], m)
    lambd : the L2 penalty's lambda (0: none)
    masks : dict of hidden layer l -> ndarray of shape (n[l], m), fixed dropout masks, or None
    w : ndarray of shape (1, m), example weights, or None
    """

    X: np.ndarray
    Y: np.ndarray
    hidden: str
    output: str
    lambd: float
    masks: dict[int, np.ndarray] | None
    w: np.ndarray | None = None

    def astype(self, dtype: np.dtype) -> _Cost:
        masks = {l: np.asarray(D).astype(dtype) for l, D in (self.masks or {}).items()}
        w = None if self.w is None else self.w.astype(dtype)
        return replace(self, X=self.X.astype(dtype), Y=self.Y.astype(dtype), masks=masks, w=w)


def _analytic_gradients(cost: _Cost, params: network.Params) -> dict[str, np.ndarray]:
    """The analytic side: float64, through the network's own backward.

    Parameters
    ----------
    cost : in float64
    params : dict of W{l} (n[l], n[l-1]) and b{l} (n[l], 1), float64

    Returns
    -------
    grads : dict of dW{l} and db{l}, each of its parameter's shape, with the lambda / m W
        that L2 adds to each dW

    Raises
    ------
    ValueError
        When backward leaves out a gradient or gives it another shape than its parameter.
    """
    m, masks = cost.X.shape[1], cost.masks
    AL, caches = network.forward(cost.X, params, cost.hidden, cost.output, masks=masks)
    grads = network.backward(AL, cost.Y, caches, params, cost.hidden, masks=masks, w=cost.w)
    if cost.lambd:
        grads |= {
            f"d{k}": grads[f"d{k}"] + cost.lambd / m * v for k, v in params.items() if k[0] == "W"
        }
    for name in params:
        grad = grads.get(f"d{name}")
        if grad is None or np.shape(grad) != params[name].shape:
            found = "nothing" if grad is None else f"shape {np.shape(grad)}"
            raise ValueError(
                f"backward returned {found} for d{name}; {name} has shape {params[name].shape}"
            )
    return grads


@dataclass(frozen=True)
class _NumericSide:
    """The numeric side: theta in the reference precision, its tensors views into it, and
    the forward pass at theta cached, so a perturbed tensor of layer l reruns layers l..L only.

    theta : ndarray of shape (n_params,), perturbed in place one coordinate at a time
    P : dict of W{l}, b{l} as views into theta
    cost : in the reference precision
    caches : the forward pass's caches at theta
    """

    theta: np.ndarray
    layout: Layout
    P: network.Params
    cost: _Cost
    caches: list[Any]

    @classmethod
    def at(cls, cost: _Cost, params: network.Params, reference: np.dtype) -> _NumericSide:
        """The numeric side at ``params`` (float64), in the ``reference`` float type."""
        theta, layout = params_to_vector(params, dtype=reference)
        P = vector_to_params(theta, layout)
        cost = cost.astype(reference)
        _, caches = network.forward(cost.X, P, cost.hidden, cost.output, masks=cost.masks)
        return cls(theta, layout, P, cost, caches)

    def differences(
        self, name: str, start: int, positions: np.ndarray, epsilon: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """The centered difference of J at each of ``positions`` of tensor ``name`` (which
        starts at theta[start]), and whether theta +- eps crossed a relu kink there.

        Returns
        -------
        numeric : ndarray of shape (len(positions),), float64
        is_kink : ndarray of shape (len(positions),), bool
        """
        cost, L, l = self.cost, network.n_layers(self.P), int(name[1:])
        m = cost.Y.shape[1]
        kinked = cost.hidden in KINKED
        # Layers below l do not move: start the forward pass at layer l from the cached A[l-1].
        A_prev = self.caches[l - 1][0]
        suffix = _suffix(self.P, l, L)
        # A[l-1] is cached after its dropout; the masks of layers l.. are renumbered as suffix.
        suffix_masks = {k - l + 1: D for k, D in (cost.masks or {}).items() if k >= l}
        base_signs = [Z > 0 for _, Z, _ in self.caches[l - 1 : L - 1]] if kinked else []

        def evaluate() -> tuple[np.generic, list[np.ndarray]]:
            _, cs = network.forward(A_prev, suffix, cost.hidden, cost.output, masks=suffix_masks)
            signs = [Z > 0 for _, Z, _ in cs[:-1]] if kinked else []
            J = _total_cost(cs[-1][1], cost.Y, cost.output, cost.w)
            return (J + _l2_penalty(self.P, cost.lambd, m) if cost.lambd else J), signs

        numeric = np.empty(len(positions))
        is_kink = np.zeros(len(positions), dtype=bool)
        for k, pos in enumerate(positions):
            (J_plus, signs_plus), (J_minus, signs_minus) = _centered(
                evaluate, self.theta, start + int(pos), epsilon
            )
            numeric[k] = (J_plus - J_minus) / (2 * epsilon)
            is_kink[k] = any(
                not (np.array_equal(b, p) and np.array_equal(b, q))
                for b, p, q in zip(base_signs, signs_plus, signs_minus, strict=True)
            )
        return numeric, is_kink


def _tensor_check(
    name: str,
    shape: tuple[int, ...],
    analytic: np.ndarray,
    numeric: np.ndarray,
    is_kink: np.ndarray,
    threshold: float,
) -> TensorCheck:
    """One tensor's verdict on its checked coordinates, kinks left out.

    Parameters
    ----------
    analytic, numeric, is_kink : ndarray of shape (k,), one entry per coordinate checked
    """
    keep = ~is_kink
    difference = relative_difference(analytic[keep], numeric[keep])
    return TensorCheck(
        name=name,
        shape=tuple(shape),
        checked=int(keep.sum()),
        kinks=int(is_kink.sum()),
        relative_difference=difference,
        passed=difference < threshold,
    )


# ---------------------------------------------------------------- the built-in battery


def run_battery(
    *,
    epsilon: float = EPSILON,
    threshold: float = THRESHOLD,
    seed: int = SEED,
    reference_dtype: np.dtype | type | None = None,
) -> list[BatteryCase]:
    """Check every case of :func:`dlcli.model.battery.battery_cases` (every hidden
    activation with each output (sigmoid, linear, then softmax), 1 to 4 hidden layers, then
    the training options: L2 (``-l2``) and fixed dropout masks (``-dropout``), then example
    weights (``-weighted``: uniform in [0.1, 3) with the first example's weight 0)); float64.

    Case k draws its network and data (and then its masks) from ``default_rng([seed, k])``,
    and new cases are appended, so a case does not change when another is added. Every
    coordinate of every tensor is checked.
    """
    check_options(epsilon, threshold, seed=seed)
    cases: list[BatteryCase] = []
    for k, case in enumerate(battery_cases()):
        rng = np.random.default_rng([seed, k])
        layers, params, X, Y = battery_network(case.hidden, case.output, case.depth, rng)
        masks = (
            network.dropout_masks(layers, X.shape[1], (case.keep_prob,) * case.depth, rng)
            if case.keep_prob < 1
            else None
        )
        weights = None
        if case.weighted:  # a zero weight too: that example must drop out of J and grads
            weights = rng.uniform(0.1, 3.0, size=(1, X.shape[1]))
            weights[0, 0] = 0.0
        result = check_gradients(
            X,
            Y,
            params,
            case.hidden,
            case.output,
            epsilon=epsilon,
            threshold=threshold,
            reference_dtype=reference_dtype,
            lambd=case.l2,
            masks=masks,
            weights=weights,
        )
        cases.append(
            BatteryCase(
                case.name, case.hidden, case.output, layers, result, case.l2, case.keep_prob
            )
        )
    return cases
