"""The deep L-layer network of the course as plain functions.

Parameters live in a dict ``{"W1": (n[1], n[0]), "b1": (n[1], 1), ..., "WL", "bL"}``;
columns are examples, so ``X`` is (n_x, m) and every ``Z{l}``, ``A{l}`` is (n[l], m).
The architecture is [LINEAR -> hidden] x (L-1) -> LINEAR -> output.

Products are written ``np.dot``, as the course writes them: for these 2-D arrays it is the
same BLAS call as ``@`` with less dispatch around it, which counts when the arrays are small.
"""

from collections.abc import Sequence

import numpy as np

from dlcli.model import weighting
from dlcli.model.activations import ACTIVATIONS

Params = dict[str, np.ndarray]
# caches[l-1] = (A_prev, Z, A) of layer l: A_prev (n[l-1], m), Z and A (n[l], m).
Caches = list[tuple[np.ndarray, np.ndarray, np.ndarray]]

INIT_RULES = ("xavier", "he")


def legacy_rng(seed: int) -> np.random.RandomState:
    """The course's generator: ``np.random.seed(seed)`` followed by ``np.random.randn``.

    Course parity depends on this exact stream, drawn in the order W1, W2, ..., WL.
    It is the one place the legacy generator is made; nothing seeds global state.
    """
    return np.random.RandomState(seed)


def init_multiplier(scale: float | str, fan_in: int) -> float:
    """What multiplies ``randn`` for a layer with ``fan_in`` inputs: the number itself,
    1/sqrt(fan_in) for "xavier", sqrt(2/fan_in) for "he"."""
    if scale == "xavier":
        return 1.0 / float(np.sqrt(fan_in))
    if scale == "he":
        return float(np.sqrt(2.0 / fan_in))
    return float(scale)


def init_params(
    layers: Sequence[int],
    scale: float | str,
    rng: np.random.RandomState,
    dtype: np.dtype | type = np.float64,
    per_layer: dict[int, float | str] | None = None,
) -> Params:
    """Random weights and zero biases.

    Parameters
    ----------
    layers : sequence of int, [n_x, n[1], ..., n[L]]
    scale : float, "xavier" or "he"
        A number multiplies ``randn`` (0 gives zeros and draws nothing, as the course's
        logistic regression); ``"xavier"`` divides it by sqrt(n[l-1]); ``"he"`` multiplies
        it by sqrt(2 / n[l-1]).
    rng : RandomState
        Drawn from in the order W1, W2, ..., WL (see :func:`legacy_rng`).
    dtype : float dtype of the returned arrays.
    per_layer : dict of layer l -> scale, optional
        Overrides ``scale`` for those layers.

    Returns
    -------
    params : dict of ``W{l}`` (n[l], n[l-1]) and ``b{l}`` (n[l], 1)
    """
    params: Params = {}
    base = scale
    for l in range(1, len(layers)):
        shape = (layers[l], layers[l - 1])
        scale = (per_layer or {}).get(l, base)
        if scale == "xavier":
            W = rng.randn(*shape) / np.sqrt(layers[l - 1])
        elif scale == "he":
            W = rng.randn(*shape) * np.sqrt(2.0 / layers[l - 1])
        elif scale == 0:
            W = np.zeros(shape)
        else:
            W = rng.randn(*shape) * float(scale)
        params[f"W{l}"] = W.astype(dtype, copy=False)
        params[f"b{l}"] = np.zeros((layers[l], 1), dtype=dtype)
    return params


def n_layers(params: Params) -> int:
    """L, the number of layers with parameters."""
    return len(params) // 2


def layer_dims(params: Params) -> list[int]:
    """[n_x, n[1], ..., n[L]] read off the weight shapes."""
    L = n_layers(params)
    return [params["W1"].shape[1]] + [params[f"W{l}"].shape[0] for l in range(1, L + 1)]


def softmax(Z: np.ndarray) -> np.ndarray:
    """Column-wise softmax, shifted by each column's max so exp never overflows."""
    E = np.exp(Z - Z.max(axis=0, keepdims=True))  # (K, m)
    return E / E.sum(axis=0, keepdims=True)


# Output activations: each is paired with its cost in COSTS below, and for every pair
# dJ/dZ[L] = (AL - Y) / m.
OUTPUTS = {
    "sigmoid": ACTIVATIONS["sigmoid"][0],
    "linear": ACTIVATIONS["linear"][0],
    "softmax": softmax,
}


def dropout_masks(
    layers: Sequence[int],
    m: int,
    keep_prob: Sequence[float],
    rng: np.random.Generator,
    dtype: type = np.float64,
) -> dict[int, np.ndarray]:
    """Inverted-dropout masks for the hidden layers: D[l] / keep_prob[l-1], shape (n[l], m).

    ``keep_prob`` has one value per hidden layer; a layer with 1.0 gets no mask.
    """
    masks = {}
    for l, keep in enumerate(keep_prob, start=1):
        if keep < 1.0:
            masks[l] = (rng.random((layers[l], m)) < keep).astype(dtype) / keep
    return masks


def forward(
    X: np.ndarray,
    params: Params,
    hidden: str,
    output: str,
    Z1: np.ndarray | None = None,
    masks: dict[int, np.ndarray] | None = None,
) -> tuple[np.ndarray, Caches]:
    """Forward propagation.

    Parameters
    ----------
    X : ndarray of shape (n_x, m)
    params : dict of W{l}, b{l}
    hidden, output : names in ``ACTIVATIONS`` for layers 1..L-1 and for layer L
    Z1 : ndarray of shape (n[1], m), optional
        Layer 1's pre-activation when the caller already has it (the Gram engine forms it
        without W1); ``params`` then needs W{l}, b{l} from l = 2 only, and other keys in it
        are ignored.
    masks : dict of hidden layer l -> ndarray of shape (n[l], m), optional
        Inverted dropout (see :func:`dropout_masks`): layer l's output is multiplied by
        ``masks[l]`` before the next layer reads it. The cache keeps A[l] unmasked.

    Returns
    -------
    AL : ndarray of shape (n[L], m)
    caches : list of (A_prev, Z, A), one per layer, for :func:`backward`
    """
    if Z1 is None:
        L = n_layers(params)
    else:
        L = 1
        while f"W{L + 1}" in params:
            L += 1
    caches: Caches = []
    A = X
    g_hidden = ACTIVATIONS[hidden][0]
    for l in range(1, L + 1):
        g = g_hidden if l < L else OUTPUTS[output]
        A_prev = A if not masks or l - 1 not in masks else A * masks[l - 1]
        if l == 1 and Z1 is not None:
            Z = Z1
        else:
            Z = np.dot(params[f"W{l}"], A_prev) + params[f"b{l}"]  # (n[l], m)
        A = g(Z)
        caches.append((A_prev, Z, A))
    return A, caches


def cross_entropy_from_logits(ZL: np.ndarray, Y: np.ndarray) -> float:
    """J = -1/m sum(Y log(sigmoid(Z)) + (1 - Y) log(1 - sigmoid(Z))), computed from Z.

    Uses -log(sigmoid(z)) = log(1 + e^-z) = logaddexp(0, -z), so no log of 0 can occur.
    """
    m = Y.shape[1]
    return float((np.logaddexp(0, ZL).sum() - np.vdot(Y, ZL)) / m)


def squared_error(ZL: np.ndarray, Y: np.ndarray) -> float:
    """J = 1/(2m) sum((AL - Y)^2) with AL = ZL for the linear output."""
    m = Y.shape[1]
    return float(np.sum((ZL - Y) ** 2) / (2 * m))


def categorical_cross_entropy_from_logits(ZL: np.ndarray, Y: np.ndarray) -> float:
    """J = -1/m sum(Y log softmax(Z)), with log softmax(z) = z - max - log sum exp(z - max).

    ZL and Y are (K, m); each column of Y is one-hot.
    """
    m = Y.shape[1]
    shifted = ZL - ZL.max(axis=0, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))
    return float(-np.sum(Y * log_softmax) / m)


# Output activation -> its cost, a function of ZL (n[L], m) and Y (n[L], m).
COSTS = {
    "sigmoid": cross_entropy_from_logits,
    "linear": squared_error,
    "softmax": categorical_cross_entropy_from_logits,
}


def l2_cost(params: Params, lambd: float, m: int) -> float:
    """The L2 penalty added to the cost: lambda / (2m) sum_l ||W[l]||^2 (biases not included)."""
    return (
        lambd / (2 * m) * sum(float(np.sum(np.square(v))) for k, v in params.items() if k[0] == "W")
    )


def cost(ZL: np.ndarray, Y: np.ndarray, output: str, w: np.ndarray | None = None) -> float:
    """The cost paired with the output activation, averaged over the m examples, or with
    example weights ``w`` (1, m) their weighted mean sum w_i L_i / sum w_i
    (:func:`dlcli.model.weighting.cost`)."""
    if w is not None:
        return weighting.cost(ZL, Y, output, w)
    return COSTS[output](ZL, Y)


def backward(
    AL: np.ndarray,
    Y: np.ndarray,
    caches: Caches,
    params: Params,
    hidden: str,
    dW1: bool = True,
    masks: dict[int, np.ndarray] | None = None,
    w: np.ndarray | None = None,
) -> Params:
    """Backward propagation.

    Parameters
    ----------
    AL : ndarray of shape (n[L], m)
    Y : ndarray of shape (n[L], m)
    caches : from :func:`forward`
    params : dict of W{l}, b{l}
    hidden : the hidden activation's name
    dW1 : bool
        False skips layer 1's gradients (dZ1 @ X.T is the widest product) and returns
        ``dZ1`` (n[1], m) in place of dW1 and db1: the Gram engine updates layer 1 through
        dZ1 alone.
    masks : the dropout masks the forward pass used, if any
    w : ndarray of shape (1, m), optional
        Example weights: dZ[L] = (AL - Y) w / sum w (:func:`dlcli.model.weighting.dZ_L`).

    Returns
    -------
    grads : dict of ``dW{l}`` and ``db{l}``, each of its parameter's shape
    """
    L = len(caches)
    m = Y.shape[1]
    grads: Params = {}
    # Holds for every output/cost pair: sigmoid with cross-entropy, softmax with categorical
    # cross-entropy, and linear with J = 1/(2m) sum (AL - Y)^2. The 1/m is folded in here, once.
    dZ = (AL - Y) / m if w is None else weighting.dZ_L(AL, Y, w)  # (n[L], m)
    g_backward = ACTIVATIONS[hidden][1]
    for l in range(L, 0, -1):
        A_prev = caches[l - 1][0]
        if l == 1 and not dW1:
            grads["dZ1"] = dZ
            break
        grads[f"dW{l}"] = np.dot(dZ, A_prev.T)  # (n[l], n[l-1])
        grads[f"db{l}"] = dZ.sum(axis=1, keepdims=True)  # (n[l], 1)
        if l > 1:  # dA0, the gradient of the input, is never needed
            dA_prev = np.dot(params[f"W{l}"].T, dZ)  # (n[l-1], m)
            if masks and l - 1 in masks:
                dA_prev = dA_prev * masks[l - 1]  # only the units the forward pass kept
            _, Z_prev, A_prev_act = caches[l - 2]
            dZ = g_backward(dA_prev, Z_prev, A_prev_act)
    return grads


def update(params: Params, grads: Params, learning_rate: float) -> Params:
    """One gradient-descent step: W{l} - lr * dW{l}, b{l} - lr * db{l}.

    Returns new arrays and leaves ``params`` as it was, as the course's
    ``update_parameters`` does; a state taken before a step stays whole.
    """
    return {key: value - learning_rate * grads[f"d{key}"] for key, value in params.items()}


def backward_update(
    AL: np.ndarray,
    Y: np.ndarray,
    caches: Caches,
    params: Params,
    hidden: str,
    learning_rate: float,
    dW1: bool = True,
    masks: dict[int, np.ndarray] | None = None,
    w: np.ndarray | None = None,
) -> Params:
    """:func:`backward` followed by :func:`update`, each layer updated as soon as its
    gradients are known.

    The learning rate is folded into dZ[L] = lr (AL - Y) / m, so every gradient below comes
    out multiplied by it and each update is one subtraction, W - (lr dW): the same
    arithmetic with about half the array operations of the two steps apart, which is what
    counts when the arrays are small. ``params`` is not modified.

    Parameters
    ----------
    AL, Y, caches, params, hidden, masks, w : as for :func:`backward`
    learning_rate : float
    dW1 : bool
        False leaves layer 1 to the caller (the Gram engine) and returns lr dZ1 (n[1], m)
        under ``"dZ1"`` in place of W1 and b1.

    Returns
    -------
    new : dict of the updated ``W{l}``, ``b{l}`` (and ``dZ1`` when ``dW1`` is False)
    """
    L = len(caches)
    m = Y.shape[1]
    new: Params = {}
    if w is None:
        dZ = (AL - Y) * (learning_rate / m)  # lr dZ[L], (n[L], m)
    else:
        dZ = weighting.dZ_L(AL, Y, w, learning_rate)
    g_backward = ACTIVATIONS[hidden][1]
    for l in range(L, 0, -1):
        if l == 1 and not dW1:
            new["dZ1"] = dZ
            break
        A_prev, W, b = caches[l - 1][0], f"W{l}", f"b{l}"
        new[W] = params[W] - np.dot(dZ, A_prev.T)  # W - lr dW, (n[l], n[l-1])
        new[b] = params[b] - dZ.sum(axis=1, keepdims=True)  # b - lr db, (n[l], 1)
        if l > 1:
            dA_prev = np.dot(params[W].T, dZ)  # lr dA[l-1], (n[l-1], m)
            if masks and l - 1 in masks:
                dA_prev = dA_prev * masks[l - 1]
            _, Z_prev, A_prev_act = caches[l - 2]
            dZ = g_backward(dA_prev, Z_prev, A_prev_act)
    return new


def predict(
    X: np.ndarray, params: Params, hidden: str, output: str, threshold: float = 0.5
) -> np.ndarray:
    """Labels for classifiers, AL itself for a linear output.

    Returns 0/1 of shape (n[L], m) for sigmoid (AL > threshold), the class index of shape
    (1, m) for softmax (the largest probability), AL (n[L], m) for linear.
    """
    AL, _ = forward(X, params, hidden, output)
    if output == "linear":
        return AL
    return labels(AL, output, threshold)


def labels(AL: np.ndarray, output: str, threshold: float = 0.5) -> np.ndarray:
    """The one label rule: what a classifier's output AL predicts.

    Parameters
    ----------
    AL : ndarray of shape (n[L], m) (sigmoid) or (K, m) (softmax)
    output : "sigmoid" or "softmax"
    threshold : a sigmoid output predicts 1 where AL > threshold

    Returns
    -------
    ndarray of int64, shape (n[L], m) of 0/1 for sigmoid, (1, m) class indices for softmax
    (the class of largest probability; the first of a tie, as argmax)
    """
    if output == "softmax":
        return AL.argmax(axis=0)[np.newaxis, :]
    return (AL > threshold).astype(np.int64)


def one_hot(label_row: np.ndarray, K: int) -> np.ndarray:
    """Class indices of shape (m,) or (1, m) -> one-hot columns of shape (K, m), float64."""
    indices = np.ravel(label_row).astype(np.int64)
    return (np.arange(K)[:, np.newaxis] == indices[np.newaxis, :]).astype(np.float64)
