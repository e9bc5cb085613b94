"""The example weights a config trains with (issue 18): ``train.class_weight`` on the
training labels times ``data.weight``'s column, found before the run directory is made."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from dlcli.model import weighting

if TYPE_CHECKING:
    from dlcli.config import Config


def effective_weights(
    cfg: Config, dataset: Any, dtype: Any = np.float64
) -> tuple[dict[str, float] | None, np.ndarray | None]:
    """(the weight of each class, or None; the example weights (1, m) in ``dtype``, or None).

    ``balanced`` counts the classes of the training split (after ``data.*_fraction`` took
    their parts), so its weights are those the training examples see. Both None: training
    runs the unweighted formulas, as before weights existed.

    Raises
    ------
    ConfigError
        A class name that is not a class of the data, ``balanced`` with an empty class, or
        every training example weighing 0.
    """
    output, setting = cfg.model.output_activation, cfg.train.class_weight
    Y = dataset.Y_train
    per_class = None
    if setting is not None:
        per_class = weighting.class_weights(setting, Y, output, dataset.classes)
    w = weighting.example_weights(Y, output, per_class, dataset.weights, dataset.classes)
    return per_class, None if w is None else w.astype(dtype)
