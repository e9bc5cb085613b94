"""The gradient check of a configured network: its data, its initial parameters or those of
a trained model, and the cost it trains (L2, dropout), through the pure
:func:`dlcli.model.gradcheck.check_gradients`.

Nothing here prints; the CLI renders the :class:`~dlcli.model.gradcheck.GradCheck` returned.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlcli.config import Config
from dlcli.data.load import load as load_data
from dlcli.errors import ConfigError, ModelFileError
from dlcli.model import network
from dlcli.model.gradcheck import EPSILON, SEED, THRESHOLD, WORST, check_gradients, check_options
from dlcli.model.gradcheck_results import GradCheck
from dlcli.model.sizes import data_mismatch
from dlcli.runs import find_model, initial_params, read_params

EXAMPLES = 8
COORDS = 100


def _model_params(path: Path, layers: list[int]) -> network.Params:
    """Parameters of a trained model (a params.h5, or a run directory holding one as
    :func:`dlcli.runs.find_model` finds it), checked against ``model.layers``."""
    path = find_model(path)
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
    epsilon, threshold, worst : as in :func:`dlcli.model.gradcheck.check_gradients`

    Returns
    -------
    GradCheck
        Always in float64, whatever ``train.dtype`` says.
    """
    check_options(epsilon, threshold, coords, examples, seed)
    dataset = load_data(cfg.data, cfg.model.output_activation)  # as training does
    m = dataset.X_train.shape[1]
    rng = np.random.default_rng(seed)
    columns = np.sort(rng.choice(m, size=min(examples, m), replace=False))
    X = dataset.X_train[:, columns]  # (n_x, examples)
    Y = dataset.Y_train[:, columns]  # (n_y, examples)
    layers = list(cfg.model.layers)
    keep_prob = cfg.model.keep_probs()
    masks = network.dropout_masks(layers, X.shape[1], keep_prob, rng) if keep_prob else None
    if model is None:
        params = initial_params(cfg, dataset.n_x, X.shape[1], Y.shape[0], dataset.inputs)
    else:
        # The same check initial_params makes, before the model file is read.
        mismatch = data_mismatch(layers, dataset.n_x, Y.shape[0], dataset.inputs)
        if mismatch:
            raise ConfigError(mismatch)
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
