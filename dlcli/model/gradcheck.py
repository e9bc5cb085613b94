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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dlcli.errors import ConfigError, DlcliError, ModelFileError
from dlcli.model import network

if TYPE_CHECKING:
    from dlcli.config import Config

EPSILON = 1e-7
THRESHOLD = 1e-7
EXAMPLES = 8
COORDS = 100
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


# (name, shape, offset) of each tensor in a packed vector.
Layout = list[tuple[str, tuple[int, ...], int]]


# ---------------------------------------------------------------- packing


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


# ---------------------------------------------------------------- results


def _finite_or_none(x: float) -> float | None:
    """x, or None (JSON's null) when it is NaN or infinite."""
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class Coordinate:
    """One checked coordinate: ``tensor[index]``, its analytic and numeric derivatives."""

    tensor: str
    index: tuple[int, ...]
    analytic: float
    numeric: float

    @property
    def difference(self) -> float:
        """|analytic - numeric|."""
        return abs(self.analytic - self.numeric)


@dataclass(frozen=True)
class TensorCheck:
    """The check of one parameter tensor.

    checked : coordinates compared (kinks excluded), all of them or a random sample
    kinks : coordinates left out because theta +- eps crossed a relu kink
    relative_difference : the course's difference over the ``checked`` coordinates
    """

    name: str
    shape: tuple[int, ...]
    checked: int
    kinks: int
    relative_difference: float
    passed: bool

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class GradCheck:
    """A whole check: per tensor, overall, and the coordinates that point at a bug.

    relative_difference : the course's difference over every checked coordinate together
    passed : the overall difference and every tensor's are below the threshold
    worst : the checked coordinates with the largest |analytic - numeric|, largest first
    kinks : every coordinate left out as a kink
    examples : m, the number of examples (columns of X) the cost averages over
    reference : the float type J(theta +- eps) was evaluated in, described
    """

    tensors: list[TensorCheck]
    relative_difference: float
    threshold: float
    epsilon: float
    passed: bool
    worst: list[Coordinate]
    kinks: list[Coordinate]
    examples: int
    reference: str
    layers: list[int] = field(default_factory=list)
    hidden: str = ""
    output: str = ""

    @property
    def failing(self) -> list[str]:
        """Names of the tensors whose difference is not below the threshold."""
        return [t.name for t in self.tensors if not t.passed]

    @property
    def checked(self) -> int:
        return sum(t.checked for t in self.tensors)

    def to_dict(self) -> dict[str, Any]:
        """The JSON report: passed, relative_difference, threshold, parameters.

        A relative difference that is not a finite number (NaN where a gradient overflowed,
        e.g. a model with huge weights) is None, JSON's null, and fails: strict JSON has no
        NaN, and ``passed`` is already false for it.
        """
        return {
            "passed": self.passed,
            "relative_difference": _finite_or_none(self.relative_difference),
            "threshold": self.threshold,
            "parameters": {
                t.name: {
                    "relative_difference": _finite_or_none(t.relative_difference),
                    "checked": t.checked,
                }
                for t in self.tensors
            },
        }


@dataclass(frozen=True)
class BatteryCase:
    """One network of the built-in battery and its check.

    l2 : the L2 penalty's lambda the cost included (0: none)
    keep_prob : the keep probability of the fixed dropout masks on every hidden layer (1: none)
    """

    name: str
    hidden: str
    output: str
    layers: list[int]
    result: GradCheck
    l2: float = 0.0
    keep_prob: float = 1.0

    @property
    def passed(self) -> bool:
        return self.result.passed

    def to_dict(self) -> dict[str, Any]:
        return {"case": self.name, **self.result.to_dict()}


# ---------------------------------------------------------------- checking a network


def _check_options(
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


def _total_cost(ZL: np.ndarray, Y: np.ndarray, output: str) -> np.generic:
    """:func:`network.cost` in the dtype of ZL, not rounded to a Python float.

    The same formulas as ``network.COSTS`` (tests hold them equal in float64); kept here
    because rounding J to float64 would undo the extended-precision reference.
    """
    m = Y.shape[1]
    if output == "sigmoid":
        return np.sum(np.logaddexp(0, ZL) - Y * ZL) / m
    if output == "linear":
        return np.sum((ZL - Y) ** 2) / (2 * m)
    if output == "softmax":
        shifted = ZL - ZL.max(axis=0, keepdims=True)
        log_softmax = shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))
        return -np.sum(Y * log_softmax) / m
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

    Returns
    -------
    GradCheck
    """
    _check_options(epsilon, threshold, coords)
    reference = np.dtype(reference_dtype or REFERENCE_DTYPE)
    rng = rng if rng is not None else np.random.default_rng(0)
    L = network.n_layers(params)
    names = param_names(L)

    # The analytic side: float64, through the network's own backward.
    params64 = {name: np.asarray(params[name], dtype=np.float64) for name in names}
    X64, Y64 = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    m = X64.shape[1]
    AL, caches = network.forward(X64, params64, hidden, output, masks=masks)
    grads = network.backward(AL, Y64, caches, params64, hidden, masks=masks)
    if lambd:
        grads |= {
            f"d{k}": grads[f"d{k}"] + lambd / m * v for k, v in params64.items() if k[0] == "W"
        }
    for name in names:
        grad = grads.get(f"d{name}")
        if grad is None or np.shape(grad) != params64[name].shape:
            found = "nothing" if grad is None else f"shape {np.shape(grad)}"
            raise ValueError(
                f"backward returned {found} for d{name}; {name} has shape {params64[name].shape}"
            )

    # The numeric side: theta in the reference precision, its tensors views into it.
    theta, layout = params_to_vector(params64, dtype=reference)
    P = vector_to_params(theta, layout)
    Yr = Y64.astype(reference)
    masks_r = {l: np.asarray(D).astype(reference) for l, D in (masks or {}).items()}
    _, base_caches = network.forward(X64.astype(reference), P, hidden, output, masks=masks_r)
    kinked = hidden in KINKED

    tensors: list[TensorCheck] = []
    compared: list[Coordinate] = []
    kinks: list[Coordinate] = []
    all_analytic: list[np.ndarray] = []
    all_numeric: list[np.ndarray] = []
    for name, shape, start in layout:
        l = int(name[1:])
        # Layers below l do not move: start the forward pass at layer l from the cached A[l-1].
        A_prev = base_caches[l - 1][0]
        suffix = _suffix(P, l, L)
        # A[l-1] is cached after its dropout; the masks of layers l.. are renumbered as suffix.
        suffix_masks = {k - l + 1: D for k, D in masks_r.items() if k >= l}
        base_signs = [Z > 0 for _, Z, _ in base_caches[l - 1 : L - 1]] if kinked else []

        def evaluate(A_prev=A_prev, suffix=suffix, suffix_masks=suffix_masks):
            _, cs = network.forward(A_prev, suffix, hidden, output, masks=suffix_masks)
            signs = [Z > 0 for _, Z, _ in cs[:-1]] if kinked else []
            J = _total_cost(cs[-1][1], Yr, output)
            return (J + _l2_penalty(P, lambd, m) if lambd else J), signs

        size = math.prod(shape)
        positions = (
            np.arange(size)
            if coords is None or size <= coords
            else np.sort(rng.choice(size, size=coords, replace=False))
        )
        analytic = grads[f"d{name}"].ravel()[positions]
        numeric = np.empty(len(positions))
        is_kink = np.zeros(len(positions), dtype=bool)
        for k, pos in enumerate(positions):
            (J_plus, signs_plus), (J_minus, signs_minus) = _centered(
                evaluate, theta, start + int(pos), epsilon
            )
            numeric[k] = (J_plus - J_minus) / (2 * epsilon)
            is_kink[k] = any(
                not (np.array_equal(b, p) and np.array_equal(b, q))
                for b, p, q in zip(base_signs, signs_plus, signs_minus, strict=True)
            )
        for k, pos in enumerate(positions):
            coordinate = Coordinate(
                name,
                tuple(int(i) for i in np.unravel_index(pos, shape)),
                float(analytic[k]),
                float(numeric[k]),
            )
            (kinks if is_kink[k] else compared).append(coordinate)
        keep = ~is_kink
        difference = relative_difference(analytic[keep], numeric[keep])
        all_analytic.append(analytic[keep])
        all_numeric.append(numeric[keep])
        tensors.append(
            TensorCheck(
                name=name,
                shape=tuple(shape),
                checked=int(keep.sum()),
                kinks=int(is_kink.sum()),
                relative_difference=difference,
                passed=difference < threshold,
            )
        )

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


# ---------------------------------------------------------------- a configured network


def _model_params(path: Path, layers: list[int]) -> network.Params:
    """Parameters of a trained model (a params.h5 or a run directory holding one), checked
    against ``model.layers``."""
    from dlcli.runs import read_params

    if path.is_dir() and (path / "params.h5").is_file():
        path = path / "params.h5"
    params, _ = read_params(path, key="--model")
    found = network.layer_dims(params)
    if found != layers:
        raise ModelFileError(
            f"--model: {path}: holds a network with layers {found}, but the config's "
            f"model.layers is {layers}; give the config the model was trained with"
        )
    return params


def check_config(
    cfg: Config,
    *,
    model: Path | None = None,
    examples: int = EXAMPLES,
    coords: int | None = COORDS,
    seed: int = SEED,
    epsilon: float = EPSILON,
    threshold: float = THRESHOLD,
    worst: int = WORST,
) -> GradCheck:
    """Check the configured architecture on a random subset of the configured data.

    Parameters
    ----------
    cfg : a validated config; its ``data``, ``model`` and ``init`` are used, and the cost it
        trains: ``train.l2``'s penalty, ``model.keep_prob``'s dropout (one fixed mask drawn
        from the generator after the examples)
    model : a params.h5 (or run directory) to take the parameters from instead of ``init``
    examples : how many training examples (columns of X) to draw, at most all m
    coords : at most this many coordinates per tensor; None checks all
    seed : seeds the one generator drawing the examples, then the coordinates
    epsilon, threshold, worst : as in :func:`check_gradients`

    Returns
    -------
    GradCheck
        Always in float64, whatever ``train.dtype`` says.
    """
    from dlcli import data as data_mod
    from dlcli.train import initial_params

    _check_options(epsilon, threshold, coords, examples, seed)
    dataset = data_mod.load(cfg.data, cfg.model.output_activation)  # as training does
    m = dataset.X_train.shape[1]
    rng = np.random.default_rng(seed)
    columns = np.sort(rng.choice(m, size=min(examples, m), replace=False))
    X = dataset.X_train[:, columns]  # (n_x, examples)
    Y = dataset.Y_train[:, columns]  # (n_y, examples)
    layers = list(cfg.model.layers)
    keep_prob = cfg.model.keep_probs()
    masks = network.dropout_masks(layers, X.shape[1], keep_prob, rng) if keep_prob else None
    if model is None:
        params = initial_params(cfg, dataset.n_x, X.shape[1], Y.shape[0])
    else:
        if layers[0] != dataset.n_x:
            raise ConfigError(
                f"model.layers[0]: is {layers[0]} but the data have n_x = {dataset.n_x} "
                f"features per example; set model.layers[0] to {dataset.n_x}"
            )
        params = _model_params(model, layers)
    return check_gradients(
        X,
        Y,
        params,
        cfg.model.hidden_activation,
        cfg.model.output_activation,
        epsilon=epsilon,
        threshold=threshold,
        coords=coords,
        rng=rng,
        worst=worst,
        lambd=cfg.train.l2,
        masks=masks,
    )


# ---------------------------------------------------------------- the built-in battery

BATTERY_HIDDEN = ("sigmoid", "tanh", "relu", "leaky_relu", "linear")
BATTERY_OUTPUTS = ("sigmoid", "linear")
BATTERY_DEPTHS = (1, 2, 3, 4)  # hidden layers
BATTERY_N_X = 4
BATTERY_EXAMPLES = 8
BATTERY_CLASSES = 3  # output units of the softmax cases
# The training options' cases, for every hidden activation: (output, depth, l2, keep_prob).
BATTERY_OPTIONS = (
    ("sigmoid", 2, 0.7, 1.0),
    ("sigmoid", 2, 0.0, 0.7),
    ("softmax", 2, 0.7, 0.7),
    ("linear", 3, 0.7, 0.7),
)


def battery_network(
    hidden: str, output: str, depth: int, rng: np.random.Generator
) -> tuple[list[int], network.Params, np.ndarray, np.ndarray]:
    """A small random network and data set for the battery.

    Gradients must not be tiny, or rounding dominates their relative difference. Inputs are
    standard normal; weights are ``randn * gain / sqrt(n[l-1])`` with a gain that keeps the
    signal alive through ``depth`` layers of ``hidden`` (sigmoid's slope is at most 1/4);
    biases are ``0.5 randn`` minus the mean of ``W A[l-1]`` over the examples, so every
    pre-activation is centred near 0 (no saturated sigmoid, no dead relu) yet no relu unit
    sits exactly at its kink. Targets are 0/1 labels for a sigmoid output, standard normal
    numbers for a linear one, and one-hot columns of :data:`BATTERY_CLASSES` classes for a
    softmax one.

    Returns
    -------
    layers : [n_x, n[1], ..., n[depth], n_y], n_y = 1 (sigmoid, linear) or BATTERY_CLASSES
    params : dict of W{l} (n[l], n[l-1]) and b{l} (n[l], 1)
    X : ndarray of shape (n_x, m)
    Y : ndarray of shape (n_y, m)
    """
    gain = {"sigmoid": 4.0, "relu": math.sqrt(2.0), "leaky_relu": math.sqrt(2.0)}.get(hidden, 1.0)
    n_y = BATTERY_CLASSES if output == "softmax" else 1
    layers = [BATTERY_N_X, *(int(n) for n in rng.integers(2, 7, size=depth)), n_y]
    L = len(layers) - 1
    X = rng.standard_normal((BATTERY_N_X, BATTERY_EXAMPLES))
    params: network.Params = {}
    A = X
    for l in range(1, L + 1):
        scale = (gain if l < L else 1.0) / math.sqrt(layers[l - 1])
        W = rng.standard_normal((layers[l], layers[l - 1])) * scale  # (n[l], n[l-1])
        b = rng.standard_normal((layers[l], 1)) * 0.5 - (W @ A).mean(axis=1, keepdims=True)
        params[f"W{l}"], params[f"b{l}"] = W, b
        g = network.ACTIVATIONS[hidden][0] if l < L else network.OUTPUTS[output]
        A = g(W @ A + b)  # (n[l], m)
    if output == "sigmoid":
        Y = rng.integers(0, 2, size=(1, BATTERY_EXAMPLES)).astype(np.float64)
    elif output == "softmax":
        labels = rng.integers(0, n_y, size=BATTERY_EXAMPLES)
        Y = (np.arange(n_y)[:, np.newaxis] == labels).astype(np.float64)  # (n_y, m) one-hot
    else:
        Y = rng.standard_normal((1, BATTERY_EXAMPLES))
    return layers, params, X, Y


def run_battery(
    *,
    epsilon: float = EPSILON,
    threshold: float = THRESHOLD,
    seed: int = SEED,
    reference_dtype: np.dtype | type | None = None,
) -> list[BatteryCase]:
    """Every hidden activation with each output (sigmoid, linear, then softmax), 1 to 4
    hidden layers, then the training options: L2 (``-l2``) and fixed dropout masks
    (``-dropout``) as :data:`BATTERY_OPTIONS` lists them; float64.

    Case k draws its network and data (and then its masks) from ``default_rng([seed, k])``,
    and new cases are appended, so a case does not change when another is added. Every
    coordinate of every tensor is checked.
    """
    _check_options(epsilon, threshold, seed=seed)
    plain = [
        (hidden, output, depth, 0.0, 1.0)
        for outputs in (BATTERY_OUTPUTS, ("softmax",))
        for hidden in BATTERY_HIDDEN
        for output in outputs
        for depth in BATTERY_DEPTHS
    ]
    options = [(hidden, *case) for hidden in BATTERY_HIDDEN for case in BATTERY_OPTIONS]
    cases: list[BatteryCase] = []
    for hidden, output, depth, l2, keep_prob in plain + options:
        rng = np.random.default_rng([seed, len(cases)])
        layers, params, X, Y = battery_network(hidden, output, depth, rng)
        masks = (
            network.dropout_masks(layers, X.shape[1], (keep_prob,) * depth, rng)
            if keep_prob < 1
            else None
        )
        result = check_gradients(
            X,
            Y,
            params,
            hidden,
            output,
            epsilon=epsilon,
            threshold=threshold,
            reference_dtype=reference_dtype,
            lambd=l2,
            masks=masks,
        )
        name = f"{hidden}-{output}-depth{depth}" + "-l2" * bool(l2) + "-dropout" * (keep_prob < 1)
        cases.append(BatteryCase(name, hidden, output, layers, result, l2, keep_prob))
    return cases
