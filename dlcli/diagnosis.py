"""Findings: the health records of a run (:mod:`dlcli.training.health`) read as the course
would read them, and health.json, the file that keeps both.

Each finding names a cause the course teaches (symmetry, dead units, vanishing gradients,
...), the layer, the numbers behind it and one suggestion. A cause explains the symptoms
after it, which are then not reported on their own: identical units (symmetry) are also
"dead" and pass no gradient; dead units pass no gradient either; and a flat cost is not a
small learning rate's fault when one of those holds. ``stuck_at_prior`` is a symptom and is
always reported, with the cause beside it when one was found. The thresholds are the named
constants below; docs/health.md says why each has its value.
"""

from __future__ import annotations

import itertools
import json
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dlcli.costplot import PlotProcess, plot_health
from dlcli.errors import DataError
from dlcli.fileio import atomic_write, write_text
from dlcli.jsonout import strict_json

if TYPE_CHECKING:
    from dlcli.config import Config
    from dlcli.training.state import TrainResult

HEALTH = "health.json"
HEALTH_PLOT = "health.png"
FORMAT_VERSION = 1

#: Rows of W[l] closer than this (relative to ‖W[l]‖) are identical: symmetric units stay
#: exactly equal, to rounding (1e-16) even through the Gram engine's reordering (1e-8).
SYMMETRY_SPREAD = 1e-6
#: The issue's "at least half of a layer's units never fire". The healthy cat_4layer has 2 of
#: its 7 layer-2 units dead (29 %): a few dead units are normal for relu, half is not.
DEAD_FRACTION = 0.5
#: ... in each of the last this many log rows of mini-batch training, where a row sees one
#: batch (an epoch's last may be a few examples): a unit that fires on none of three batches
#: is dead with more certainty than on one. Full-batch rows see the whole training set, and
#: the last one decides.
DEAD_ROWS = 3
#: First layer's update ratio over the last's below this at some log row: three orders of
#: magnitude. The healthy cat_4layer stays above 1 at every row; the issue's deep sigmoid
#: starts at 6e-9. (The lowest row, not a median: once the output layer has converged to
#: the prior its own update vanishes too, and the ratio comes back towards 1.)
VANISHING_RATIO = 1e-3
#: ... and above this, the mirror image: the first layer moves a thousand times faster.
EXPLODING_RATIO = 1e3
#: Half of a tanh/sigmoid layer's units saturated on most examples: their gradient is under
#: 2 % (tanh) or 4 % (sigmoid) of its largest, so half the layer has nearly stopped learning.
#: Flagged at the first log row (the init and the inputs saturate the units before any
#: learning), or at the last when the cost has not fallen by SATURATED_LEARNED: a network
#: that has learned often saturates its tanh units on the way (the shipped flower configs
#: end with 4 of 4 and 18 of 20 saturated at 90 % accuracy), and that is no fault.
SATURATED_FRACTION = 0.5
#: The fraction of the first cost the cost must have lost for late saturation to be no fault.
SATURATED_LEARNED = 0.1
#: Rises smaller than this (relative) are rounding or the last digits of convergence.
RISE_TOLERANCE = 1e-3
#: The cost rose at this many log rows or more, and at a third of them or more: gradient
#: descent with a small enough step never raises a full-batch cost.
LR_HIGH_RISES = 3
#: Over the run the cost fell by less than this fraction of itself ...
LR_LOW_CHANGE = 0.05
#: ... and the second half's fall is at least this fraction of the first half's: still falling
#: at the same slow pace, not converged (a converged run's fall flattens out).
LR_LOW_STEADY = 0.5
#: ... over at least this many iterations.
LR_LOW_ITERATIONS = 500
#: The last cost within this fraction of the cost of predicting the class frequencies (the
#: entropy of the prior; for a linear output, half the target's variance).
STUCK_TOLERANCE = 0.01
#: ... and the cost moved by less than this fraction over the last half of the log rows: a
#: healthy cat_4layer passes the prior's cost on its way down (0.672 at 100, 0.646 at 199,
#: a 4 % fall) before it leaves the plateau.
STUCK_FLAT = 0.01
#: Train accuracy above test (or validation) accuracy by more than this: the issue's 15 points.
OVERFITTING_GAP = 0.15
#: ... once the training set is fit: its accuracy this far above the base rate (always the
#: most frequent class). Before that the gap is the two sets' class frequencies: 200
#: iterations of cat_4layer predict mostly non-cat, 71 % on the training set (66 % non-cat)
#: and 38 % on the test set (34 %), an underfit network, not an overfit one.
OVERFITTING_FIT = 0.15

CAUSES = ("symmetry", "dead_relu")


def prior_cost(Y: np.ndarray, output: str) -> float | None:
    """The cost of the best constant prediction on Y (n_y, m): the entropy of the class
    frequencies (sigmoid, softmax) or half the target's variance (linear, J = 1/(2m) sum (AL-Y)^2)."""
    if Y.shape[1] == 0:
        return None
    if output == "linear":
        return float(np.sum(Y.var(axis=1)) / 2)
    p = Y.mean(axis=1)
    if output == "sigmoid":
        p = np.concatenate([p, 1 - p])
    p = p[p > 0]
    return float(-np.sum(p * np.log(p)))


def base_rate(Y: np.ndarray, output: str) -> float | None:
    """The training accuracy of predicting the most frequent class of Y (n_y, m) for every
    example; None for a linear output."""
    if output == "linear" or Y.shape[1] == 0:
        return None
    p = Y.mean(axis=1)
    return float(max(p.max(), 1 - p.max()) if output == "sigmoid" else p.max())


def _finding(code: str, layers: list[int], message: str, suggestion: str, **numbers: Any) -> dict:
    return {
        "code": code,
        "layer": layers[0] if layers else None,
        "layers": layers,
        "message": message,
        "suggestion": suggestion,
        **numbers,
    }


def _units(layers: list[dict], key: str, at_least: float) -> list[dict]:
    return [s for s in layers if s.get(key) is not None and s[key] >= at_least]


def _counted(layers: list[dict], key: str, units: str) -> str:
    """ "layer 1: 7 of 7 units, layer 2: ..." of the layers' fraction ``key``."""
    return ", ".join(
        f"layer {s['layer']}: {round(s[key] * s['units'])} of {s['units']} {units}" for s in layers
    )


def _structure(records: list[dict], learned: bool, batches: bool) -> list[dict]:
    """symmetry, dead_relu and saturation: what the last record's layers show (mini-batch
    dead units in the last DEAD_ROWS records; :func:`_saturation`)."""
    found = []
    first, last = records[0], records[-1]
    recent = records[-DEAD_ROWS:] if batches else [last]
    it = last["iteration"]
    same = [
        s
        for s in last["layers"][:-1]  # hidden layers: the output's units are the classes
        if s["row_spread"] is not None and s["row_spread"] <= SYMMETRY_SPREAD
    ]
    if same:
        found.append(
            _finding(
                "symmetry",
                [s["layer"] for s in same],
                "the units of layer(s) "
                + ", ".join(f"{s['layer']} ({s['units']} units)" for s in same)
                + f" have identical weights at iteration {it}: each computes the same function, "
                "so the layer learns as if it had one unit",
                "initialize the weights randomly to break the symmetry (init.scale: 0.01, "
                "xavier or he), as the course's initialize_parameters does",
                row_spread=[s["row_spread"] for s in same],
            )
        )
    symmetric = {s["layer"] for s in same}
    dead = [
        s
        for s in _units(last["layers"], "dead_fraction", DEAD_FRACTION)
        if s["layer"] not in symmetric
        and all(r["layers"][s["layer"] - 1]["dead_fraction"] >= DEAD_FRACTION for r in recent)
    ]
    if dead:
        found.append(
            _finding(
                "dead_relu",
                [s["layer"] for s in dead],
                _counted(dead, "dead_fraction", "units")
                + f" never fire (Z <= 0) on the {last['examples']} examples of iteration {it}: "
                "a dead relu has zero gradient and never comes back",
                "use a smaller learning rate, he init (init.scale: he) or "
                "model.hidden_activation: leaky_relu",
                dead_fraction=[s["dead_fraction"] for s in dead],
            )
        )
    return found + _saturation(first, last, learned)


def _saturation(first: dict, last: dict, learned: bool) -> list[dict]:
    """saturation at the first record, or at the last when the cost has not ``learned``."""
    found: list[dict] = []
    flat = _units(first["layers"], "saturated_fraction", SATURATED_FRACTION)
    # Saturated from the start: the init's scale; saturated later: the steps drove Z there.
    fix = "use a smaller init (xavier: init.scale: xavier), normalized inputs, or relu"
    if flat:
        last = first
    elif not learned:
        flat = _units(last["layers"], "saturated_fraction", SATURATED_FRACTION)
        fix = "use a smaller learning rate, normalized inputs, or relu"
    if flat:
        found.append(
            _finding(
                "saturation",
                [s["layer"] for s in flat],
                _counted(flat, "saturated_fraction", f"{flat[0]['activation']} units")
                + f" are saturated on most examples at iteration {last['iteration']}: their "
                "slope is near 0, so they barely learn",
                fix,
                saturated_fraction=[s["saturated_fraction"] for s in flat],
            )
        )
    return found


def _gradients(records: list[dict]) -> list[dict]:
    """vanishing_gradients or exploding_gradients: layer 1's update ratio against layer L's."""
    ratios = [
        r["layers"][0]["update_ratio"] / r["layers"][-1]["update_ratio"]
        for r in records
        if len(r["layers"]) > 1
        and r["layers"][0]["update_ratio"] is not None
        and r["layers"][-1]["update_ratio"]
    ]
    if not ratios:
        return []
    L = len(records[-1]["layers"])
    if min(ratios) < VANISHING_RATIO:
        ratio = min(ratios)
        return [
            _finding(
                "vanishing_gradients",
                [1],
                f"layer 1's update ratio |ΔW|/|W| is {ratio:.1e} times layer {L}'s (the lowest of "
                f"{len(ratios)} log rows): the gradient shrinks on its way back, and the first "
                "layers hardly learn",
                "use relu hidden units, or xavier/he init (init.scale: xavier or he)",
                ratio=ratio,
            )
        ]
    ratio = statistics.median(ratios)
    if ratio > EXPLODING_RATIO:
        return [
            _finding(
                "exploding_gradients",
                [1],
                f"layer 1's update ratio |ΔW|/|W| is {ratio:.1e} times layer {L}'s (median over "
                f"{len(ratios)} log rows): the gradient grows on its way back",
                "use xavier/he init (init.scale: xavier or he) or a smaller learning rate",
                ratio=ratio,
            )
        ]
    return []


def _rate(log: list[dict], context: dict, causes: bool) -> list[dict]:
    """lr_too_high and lr_too_low, from the cost log's rows."""
    costs = [row["cost"] for row in log]
    if len(costs) < 3:
        return []
    steps = len(costs) - 1
    rises = sum(b > a * (1 + RISE_TOLERANCE) for a, b in itertools.pairwise(costs))
    lr = context.get("learning_rate")
    batch = context.get("batch_size")
    high = rises >= LR_HIGH_RISES and rises * 3 >= steps
    if batch:  # a batch's cost rises and falls with the batch: count only a run going nowhere
        high = high and statistics.mean(costs[-(len(costs) // 3) :]) >= costs[0]
    if high:
        return [
            _finding(
                "lr_too_high",
                [],
                f"the cost rose at {rises} of {steps} log rows: the steps overshoot the minimum",
                f"use a smaller learning rate than {lr:g} (divide it by 3 to 10)",
                rises=rises,
                rows=steps,
            )
        ]
    first, last = costs[0], costs[-1]
    middle = costs[len(costs) // 2]
    span = log[-1]["iteration"] - log[0]["iteration"]
    change = (first - last) / first if first > 0 else 0.0
    steady = first - middle > 0 and (middle - last) >= LR_LOW_STEADY * (first - middle)
    if not causes and span >= LR_LOW_ITERATIONS and 0 < change < LR_LOW_CHANGE and steady:
        return [
            _finding(
                "lr_too_low",
                [],
                f"the cost fell by only {change:.1%} in {span} iterations ({first:.6g} to "
                f"{last:.6g}) and is still falling at the same pace",
                f"use a larger learning rate than {lr:g} (multiply it by 3 to 10), or Adam",
                change=change,
                iterations=span,
            )
        ]
    return []


def _stuck(log: list[dict], context: dict, causes: list[str]) -> list[dict]:
    prior = context.get("prior_cost")
    if not log or not prior:
        return []
    last, middle = log[-1]["cost"], log[len(log) // 2]["cost"]
    if abs(last - prior) > STUCK_TOLERANCE * prior or abs(middle - last) > STUCK_FLAT * prior:
        return []
    what = "the class frequencies" if context.get("output") != "linear" else "the target's mean"
    why = f" (the cause: {', '.join(causes)})" if causes else ""
    return [
        _finding(
            "stuck_at_prior",
            [],
            f"the cost sits at {last:.6g}, the cost of predicting {what} ({prior:.6g}): the "
            f"network predicts the base rate for every example{why}",
            "fix the cause above"
            if causes
            else "check the inputs are scaled and the labels "
            "match them, then try a larger network or learning rate",
            cost=last,
            prior_cost=prior,
        )
    ]


def _overfitting(context: dict) -> list[dict]:
    acc = context.get("accuracy") or {}
    train = acc.get("train")
    if train is None or train < (context.get("base_rate") or 0.0) + OVERFITTING_FIT:
        return []  # the training set is not fit yet: nothing to overfit
    for split in ("test", "validation"):
        other = acc.get(split)
        if train is not None and other is not None and train - other > OVERFITTING_GAP:
            return [
                _finding(
                    "overfitting",
                    [],
                    f"train accuracy {train:.1%} is {100 * (train - other):.1f} points above "
                    f"{split} accuracy {other:.1%}: the network fits the training examples "
                    "better than it generalizes",
                    "use L2 regularization (train.l2), dropout (model.keep_prob), more data or "
                    "early stopping",
                    gap=train - other,
                    split=split,
                )
            ]
    return []


def findings(records: list[dict], log: list[dict], context: dict) -> list[dict]:
    """The findings of a run: its health records, its cost log (rows with ``iteration`` and
    ``cost``) and ``context`` (``output``, ``learning_rate``, ``batch_size``, ``prior_cost``,
    ``accuracy`` {split: fraction}).

    Returns
    -------
    list of dicts with ``code``, ``layer`` (the first layer concerned, or None),
    ``layers``, ``message``, ``suggestion`` and the numbers behind it
    """
    costs = [row["cost"] for row in log]
    learned = bool(costs) and costs[-1] <= (1 - SATURATED_LEARNED) * costs[0]
    batches = bool(context.get("batch_size"))
    found = _structure(records, learned, batches) if records else []
    causes = [f["code"] for f in found if f["code"] in CAUSES]
    if not causes:
        found += _gradients(records)
    found += _rate(log, context, bool(found))
    causes = [f["code"] for f in found]
    stuck = _stuck(log, context, causes)
    # A network stuck at the prior predicts one class: its train/test gap is the difference
    # of the two sets' class frequencies, not overfitting.
    return found + (stuck or _overfitting(context))


def write_health(run_dir: Path, records: list[dict], log: list[dict], context: dict) -> list[dict]:
    """Write health.json (the context, one record per logged row, the findings); the
    findings."""
    found = findings(records, log, context)
    report = {"format": FORMAT_VERSION, **context, "records": records, "findings": found}
    write_text(run_dir / HEALTH, strict_json(report, indent=1) + "\n")
    return found


def read_health(run_dir: Path) -> dict[str, Any]:
    """health.json of a finished run.

    Raises
    ------
    DataError
        No such file (a run made before dlcli wrote it, or not a run directory), or a file
        that is not health.json.
    """
    path = run_dir / HEALTH
    if not path.is_file():
        raise DataError(
            f"{path}: not found; runs made before dlcli wrote {HEALTH} have none: train the "
            f"config again, or diagnose it with dlcli diagnose CONFIG --iterations N"
        )
    try:
        report = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not JSON ({exc})") from None
    if not isinstance(report, dict) or not isinstance(report.get("findings"), list):
        raise DataError(f"{path}: holds no findings list; is it dlcli's {HEALTH}?")
    return report


def context_of(
    cfg: Config, Y: np.ndarray, metrics: dict[str, Any], layers: list[int]
) -> dict[str, Any]:
    """What the findings need beyond the records: the model, the learning rate, the batch
    size, the prior's cost on the training labels Y (n_y, m) and the accuracies."""
    output = cfg.model.output_activation
    return {
        "hidden_activation": cfg.model.hidden_activation,
        "output": output,
        "layers": layers,
        "learning_rate": cfg.train.learning_rate,
        "batch_size": cfg.train.batch_size,
        "log_every": cfg.train.log_every,
        "prior_cost": prior_cost(Y, output),
        # The accuracy of always predicting the most frequent training class.
        "base_rate": base_rate(Y, output),
        "accuracy": {
            split: metrics[f"{split}_accuracy"]
            for split in ("train", "validation", "test")
            if f"{split}_accuracy" in metrics
        },
    }


def write_run_health(
    run_dir: Path,
    cfg: Config,
    Y: np.ndarray,
    metrics: dict[str, Any],
    result: TrainResult,
    plot: PlotProcess | None = None,
    draw: bool = True,
) -> list[dict]:
    """health.json (:func:`write_health`) and health.png (unless not ``draw``) of a finished
    run, whose training labels are Y (n_y, m); health.png's bytes come from ``plot`` (the
    child process that draws cost.png, sent the records with the log) or are drawn here. Its
    findings."""
    layers = list(cfg.model.layers)
    found = write_health(run_dir, result.health, result.log, context_of(cfg, Y, metrics, layers))
    if not draw:
        return found
    png = plot.health_png() if plot is not None else None
    if png is not None:
        atomic_write(run_dir / HEALTH_PLOT, lambda tmp: tmp.write_bytes(png))
    elif result.health:
        atomic_write(run_dir / HEALTH_PLOT, lambda tmp: plot_health(tmp, result.health))
    return found
