"""The config's weighting keys (issue 18): ``train.class_weight`` and ``data.weight``.

Their form is checked here, with the config; whether the names are classes of the data and
the column's values are checked when the data are read (:mod:`dlcli.model.weighting`,
:mod:`dlcli.data.weights`).
"""

from __future__ import annotations

import math
from typing import Any

from dlcli.config.shown import shown

CLASS_WEIGHT_ALLOWED = (
    "balanced (m / (K count of the class)) or a map from class name to a weight >= 0, "
    "e.g. {cat: 2.0, non-cat: 1.0}"
)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def class_weight_setting(value: Any) -> str | dict[str, float] | None:
    """``train.class_weight`` as the schema keeps it: None, "balanced", or {name: weight}
    with names as text (so ``{0: 2, 1: 1}`` names the labels 0 and 1 of a CSV column).

    Raises
    ------
    ValueError
        Anything else, naming what was found (the schema words it under the key).
    """
    if value is None or value == "balanced":
        return value
    if not isinstance(value, dict) or not value:
        raise ValueError(f"must be {CLASS_WEIGHT_ALLOWED}; found {shown(value)}")
    weights: dict[str, float] = {}
    for name, weight in value.items():
        if isinstance(name, int) and not isinstance(name, bool):
            name = str(name)
        if not isinstance(name, str) or not name.strip():
            raise ValueError(
                f"keys are class names, found {shown(name)}; must be {CLASS_WEIGHT_ALLOWED}"
            )
        if not (_number(weight) and math.isfinite(weight) and weight >= 0):
            raise ValueError(
                f"class {name!r}: the weight must be a finite number >= 0, found {shown(weight)}"
            )
        weights[name.strip()] = float(weight)
    return weights


def weights_problem(cfg: Any) -> None:
    """Refuse weighting keys the rest of the config cannot use.

    Raises
    ------
    ValueError
        ``train.class_weight`` on a linear output or with ``data.stream``; ``data.weight``
        on data that is not a CSV table.
    """
    data, output = cfg.data, cfg.model.output_activation
    if cfg.train.class_weight is not None and output == "linear":
        raise ValueError(
            "train.class_weight weighs the classes of a classifier and model.output_activation "
            "is linear; use data.weight (a column of example weights) or leave it out"
        )
    if data.stream and (cfg.train.class_weight is not None or data.weight is not None):
        raise ValueError(
            "data.stream: true trains unweighted; leave out train.class_weight and data.weight, "
            "or set data.stream: false"
        )
    if data.weight is None:
        return
    table = (data.train is not None and data.train.suffix.lower() == ".csv") or (
        data.generate is not None and data.generate.name in ("housing", "churn")
    )
    if not table:
        found = str(data.train) if data.train is not None else f"data.generate {data.generate.name}"
        raise ValueError(
            f"data.weight names a column of a CSV table and the data are {found}; "
            "use train.class_weight for other data"
        )
