"""Using a trained model: load it from its params.h5 alone, predict pictures, evaluate data.

The model file carries everything needed (runs.model_meta): the weights, the activations,
the class names and the preprocessing, so no config or data set is read to predict.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from dlcli.errors import DataError, DlcliError, ImageError, ModelFileError
from dlcli.model import network
from dlcli.model.activations import ACTIVATIONS

#: Examples go through the network in blocks of this many columns, the last one padded
#: with zeros. BLAS sums a matrix product in an order that depends on its shape (a single
#: column takes the matrix-vector path), so fixed blocks make an example's probability the
#: same to the last bit whether it is predicted alone or evaluated among thousands.
BLOCK = 64
NO_MODEL = "no model: train one with dlcli train CONFIG or pass --model"


@dataclass(frozen=True)
class Model:
    """A trained network and what it needs to take raw inputs.

    params : dict of ``W{l}`` (n[l], n[l-1]) and ``b{l}`` (n[l], 1), float64
    output : "sigmoid" (2 classes), "softmax" (K = n[L] classes) or "linear" (values)
    classes : the class names, label order (unused by a linear output)
    preprocessing : ``{"kind": "image", "example_shape": [h, w, c], "divide_by": 255.0}``,
        ``{"kind": "none"}`` (features as they are) or ``{"kind": "table", "features": [...],
        "mean": [...], "std": [...], "target": name, "target_mean": float, "target_std": float}``
        (named CSV columns, standardized; the network predicts the standardized target)
    config : the resolved config it was trained with, if the file holds it
    """

    path: Path
    params: network.Params
    hidden: str
    output: str
    classes: tuple[str, ...]
    preprocessing: dict[str, Any]
    config: dict[str, Any] | None = None

    @property
    def n_x(self) -> int:
        return self.params["W1"].shape[1]

    @property
    def n_y(self) -> int:
        """n[L], the output units: 1, or K for a softmax output."""
        return self.params[f"W{network.n_layers(self.params)}"].shape[0]

    @property
    def is_image(self) -> bool:
        return self.preprocessing["kind"] == "image"

    @property
    def is_table(self) -> bool:
        return self.preprocessing["kind"] == "table"

    def takes(self) -> str:
        """What the model takes, for messages: pictures, features or table columns."""
        if self.is_image:
            return f"pictures of shape {self.example_shape}"
        if self.is_table:
            return f"the table columns {self.preprocessing['features']}"
        return f"{self.n_x} features per example"

    @property
    def example_shape(self) -> tuple[int, ...]:
        """The shape of one raw example: (h, w, c), (h, w) for grey, or (n_x,)."""
        if self.is_image:
            return tuple(self.preprocessing["example_shape"])
        return (self.n_x,)

    def picture_shape(self) -> tuple[tuple[int, int], int]:
        """((height, width), channels) of the pictures this model takes.

        Raises
        ------
        ModelFileError
            When the model does not take pictures.
        """
        shape = self.example_shape
        if self.is_table:
            raise ModelFileError(
                f"--model {self.path}: a table model, it takes the columns "
                f"{self.preprocessing['features']}, not pictures; predict its rows with "
                "dlcli predict --csv FILE.csv"
            )
        if not self.is_image:
            raise ModelFileError(
                f"--model {self.path}: takes {self.n_x} features per example, not pictures "
                '(preprocessing {"kind": "none"}); predict reads pictures for image models only'
            )
        if len(shape) == 2 or (len(shape) == 3 and shape[2] in (1, 3)):
            return (shape[0], shape[1]), shape[2] if len(shape) == 3 else 1
        raise ModelFileError(
            f"--model {self.path}: takes examples of shape {shape}, not pictures; "
            "allowed: (height, width, 3) RGB, (height, width, 1) or (height, width) grey"
        )


def find_model(model: Path | None, runs_dir: Path = Path("runs")) -> Path:
    """The params.h5 to use: ``model`` (a file, a run directory, or a folder of runs with a
    ``latest`` link) or, by default, that of ``<runs_dir>/latest``."""
    from dlcli.runs import CHECKPOINT, LATEST, PARAMS, latest_run

    if model is None:
        latest = latest_run(runs_dir)
        if latest is None:
            raise ModelFileError(f"{NO_MODEL} (found no {runs_dir / LATEST} here)")
        model = latest
    if not model.is_dir():
        return model
    for candidate in (model / PARAMS, model / LATEST / PARAMS):
        if candidate.is_file():
            return candidate
    if (model / CHECKPOINT).is_file():
        raise ModelFileError(
            f"--model {model}: the run has not finished (a {CHECKPOINT}, no {PARAMS}); "
            "finish it with dlcli train CONFIG --out DIR --resume"
        )
    raise ModelFileError(
        f"--model {model}: holds no {PARAMS}; allowed: a run directory of dlcli train, its "
        f"{PARAMS}, or a folder with a {LATEST} link to one"
    )


def load_model(model: Path | None = None, runs_dir: Path = Path("runs")) -> Model:
    """Read a model file and check that it says how to use it (see :func:`find_model`)."""
    from dlcli.runs import read_params

    path = find_model(model, runs_dir)
    params, meta = read_params(path, key="--model")
    where = f"--model {path}"
    missing = [
        key
        for key in ("hidden_activation", "output_activation", "preprocessing", "classes")
        if key not in meta
    ]
    if missing:
        raise ModelFileError(
            f"{where}: has no {', '.join(missing)} attribute; a params.h5 written by "
            "dlcli train holds them (weights alone are not enough to predict)"
        )
    hidden, output = meta["hidden_activation"], meta["output_activation"]
    if hidden not in ACTIVATIONS or output not in ("sigmoid", "softmax", "linear"):
        raise ModelFileError(
            f"{where}: activations {hidden!r} / {output!r}; allowed: hidden one of "
            f"{', '.join(ACTIVATIONS)}, output sigmoid, softmax or linear"
        )
    n_y = params[f"W{network.n_layers(params)}"].shape[0]
    if output == "softmax" and not 2 <= n_y <= 100:
        raise ModelFileError(
            f"{where}: the softmax output layer has {n_y} units; allowed: 2 to 100, one per class"
        )
    if output != "softmax" and n_y != 1:
        raise ModelFileError(
            f"{where}: the output layer has {n_y} units; allowed: 1 for a {output} output"
        )
    prep = meta["preprocessing"]
    n_x = params["W1"].shape[1]
    if not isinstance(prep, dict) or prep.get("kind") not in ("image", "none", "table"):
        raise ModelFileError(
            f'{where}: preprocessing {prep!r}; allowed: {{"kind": "image", ...}}, '
            f'{{"kind": "table", ...}} or {{"kind": "none"}}'
        )
    if prep["kind"] == "table":
        _check_table_preprocessing(prep, n_x, output, where)
    if prep["kind"] == "image":
        shape = prep.get("example_shape")
        divide_by = prep.get("divide_by")
        if (
            not isinstance(shape, list)
            or not all(isinstance(s, int) and s > 0 for s in shape)
            or int(np.prod(shape)) != n_x
            or not isinstance(divide_by, (int, float))
            or not divide_by > 0
        ):
            raise ModelFileError(
                f"{where}: preprocessing {prep}; allowed: example_shape a list of sizes whose "
                f"product is W1's {n_x} columns, divide_by a number > 0"
            )
    classes = meta["classes"]
    if not isinstance(classes, list):
        raise ModelFileError(f"{where}: classes {classes!r}; allowed: a list of names")
    want = {"sigmoid": 2, "softmax": n_y}.get(output)
    if want is not None and len(classes) != want:
        raise ModelFileError(
            f"{where}: classes {classes!r}; allowed: a list of {want} names "
            f"(a {output} output with {n_y} unit{'s' if n_y > 1 else ''})"
        )
    config = meta.get("config") if isinstance(meta.get("config"), dict) else None
    return Model(path, params, hidden, output, tuple(map(str, classes)), prep, config)


def _check_table_preprocessing(prep: dict[str, Any], n_x: int, output: str, where: str) -> None:
    """A table model's preprocessing names n_x features with a finite mean and a std > 0
    each, and the target with its mean and std, as :func:`dlcli.data.standardize` writes."""

    def number(v: Any, positive: bool = False) -> bool:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and bool(np.isfinite(v))
        return ok and (v > 0 or not positive)

    def numbers(v: Any, positive: bool = False) -> bool:
        return isinstance(v, list) and len(v) == n_x and all(number(x, positive) for x in v)

    features = prep.get("features")
    if not (
        isinstance(features, list)
        and len(features) == n_x
        and all(isinstance(f, str) for f in features)
        and numbers(prep.get("mean"))
        and numbers(prep.get("std"), positive=True)
        and isinstance(prep.get("target"), str)
        and number(prep.get("target_mean"))
        and number(prep.get("target_std"), positive=True)
    ):
        raise ModelFileError(
            f"{where}: preprocessing {prep}; allowed for a table: features (names), mean and std "
            f"(numbers, std > 0), each a list of W1's {n_x} columns, a target name, target_mean "
            "and target_std > 0"
        )
    if output != "linear":
        raise ModelFileError(
            f"{where}: a table model with a {output} output; allowed: linear (tables are for regression)"
        )


def pixels_to_X(pixels: np.ndarray, preprocessing: dict[str, Any]) -> np.ndarray:
    """The course's preprocessing: flatten each picture and divide by 255.

    Parameters
    ----------
    pixels : ndarray of shape (m, h, w, c), uint8
    preprocessing : a model's, kind "image"

    Returns
    -------
    X : ndarray of shape (n_x, m), float64; bit for bit what ``data.read_course_file``
        makes of the same pixels stored in a course HDF5 file
    """
    m = pixels.shape[0]
    return pixels.reshape(m, -1).T / float(preprocessing["divide_by"])  # (n_x, m)


def output_logits(model: Model, X: np.ndarray) -> np.ndarray:
    """ZL, the output layer's pre-activation, in fixed blocks of :data:`BLOCK` columns.

    Parameters
    ----------
    X : ndarray of shape (n_x, m)

    Returns
    -------
    ZL : ndarray of shape (n[L], m): (1, m), or (K, m) for a softmax output
    """
    m = X.shape[1]
    ZL = np.empty((model.n_y, m))
    block = np.zeros((X.shape[0], BLOCK))  # (n_x, BLOCK)
    with np.errstate(over="ignore"):
        for start in range(0, m, BLOCK):
            stop = min(start + BLOCK, m)
            block[:, : stop - start] = X[:, start:stop]
            block[:, stop - start :] = 0.0
            _, caches = network.forward(block, model.params, model.hidden, model.output)
            ZL[:, start:stop] = caches[-1][1][:, : stop - start]
    return ZL


@dataclass
class Prediction:
    """One row of ``dlcli predict``.

    label : the predicted class name (sigmoid or softmax output), else None
    probability : the probability of that class: AL or 1 - AL (sigmoid output), the largest
        of the K probabilities (softmax output)
    value : AL itself for a linear output
    error : why the picture could not be predicted, else None
    """

    path: str
    label: str | None = None
    probability: float | None = None
    value: float | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {"path": self.path}
        if self.value is not None:
            row["value"] = self.value
        else:
            row |= {"label": self.label, "probability": self.probability}
        row["error"] = self.error
        return row


def check_threshold(threshold: float) -> None:
    if not 0.0 <= threshold <= 1.0:
        raise DlcliError(f"--threshold: must be between 0 and 1, found {threshold:g}")


def top_class(
    model: Model, ZL: np.ndarray, threshold: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """The predicted label of each example and that label's probability.

    Parameters
    ----------
    ZL : ndarray of shape (1, m) (sigmoid output) or (K, m) (softmax output)
    threshold : a sigmoid output predicts label 1 when AL > threshold; a softmax output
        predicts the class of largest probability, as ``network.predict``

    Returns
    -------
    labels : ndarray of shape (m,), int64
    probability : ndarray of shape (m,), the probability of the predicted label
    """
    if model.output == "softmax":
        AL = network.softmax(ZL)  # (K, m)
        labels = network.labels(AL, "softmax")[0]
        return labels, AL[labels, np.arange(ZL.shape[1])]
    AL = ACTIVATIONS["sigmoid"][0](ZL)[0]  # (m,)
    labels = network.labels(AL, "sigmoid", threshold)
    return labels, np.where(labels == 1, AL, 1.0 - AL)


def predict_pictures(
    model: Model,
    paths: Sequence[Path],
    *,
    threshold: float = 0.5,
    fit: str = "stretch",
    progress: Callable[[int, int], None] | None = None,
) -> list[Prediction]:
    """Predict each picture under ``paths`` (directories expand as in
    :func:`dlcli.images.find_pictures`). A picture that cannot be read gets a row with its
    error; the others are predicted all the same.

    A sigmoid output predicts the label 1 class ``classes[1]`` when AL > threshold; a softmax
    output predicts the class of largest probability (see :func:`top_class`).
    """
    from dlcli.images import find_pictures, read_image

    check_threshold(threshold)
    size, channels = model.picture_shape()
    shape = model.example_shape
    rows: list[Prediction] = []
    todo = find_pictures(paths)
    good: list[tuple[int, np.ndarray]] = []

    def flush() -> None:
        if not good:
            return
        pixels = np.stack([p.reshape(shape) for _, p in good])  # (m, h, w, c)
        ZL = output_logits(model, pixels_to_X(pixels, model.preprocessing))
        if model.output == "linear":
            for (i, _), a in zip(good, ZL[0], strict=True):  # a linear output's AL is ZL
                rows[i].value = float(a)
        else:
            labels, probability = top_class(model, ZL, threshold)
            for (i, _), label, p in zip(good, labels, probability, strict=True):
                rows[i].label = model.classes[label]
                rows[i].probability = float(p)
        good.clear()

    for n, (path, problem) in enumerate(todo):
        rows.append(Prediction(str(path), error=problem))
        if problem is None:
            try:
                good.append((len(rows) - 1, read_image(path, size, channels, fit=fit)))
            except ImageError as exc:
                rows[-1].error = str(exc)
        if rows[-1].error is not None:  # the row names the file already
            rows[-1].error = rows[-1].error.removeprefix(f"{path}: ")
        if len(good) == BLOCK:
            flush()
        if progress is not None:
            progress(n + 1, len(todo))
    flush()
    return rows


@dataclass
class Evaluation:
    """What ``dlcli evaluate`` reports.

    metrics : :func:`dlcli.evaluate.classification_metrics` (sigmoid output),
        :func:`dlcli.evaluate.softmax_metrics` (softmax output) or
        :func:`dlcli.evaluate.regression_metrics` (linear output, in the table's units for a
        table model), plus ``classes``, ``model`` and ``data``
    Y : ndarray of shape (m,), the true labels (int64), or targets for a linear output
    AL : the network's output: shape (m,), the probability of class 1 for sigmoid, the
        prediction for linear; shape (K, m), the class probabilities for softmax
    X : ndarray of shape (n_x, m), the examples as the network saw them
    """

    metrics: dict[str, Any]
    Y: np.ndarray
    AL: np.ndarray
    X: np.ndarray
    files: list[str] = field(default_factory=list)

    def predicted(self, threshold: float) -> np.ndarray:
        """The predicted label of each example, shape (m,)."""
        if self.AL.ndim == 2:  # softmax: the most probable class
            return network.labels(self.AL, "softmax")[0]
        return network.labels(self.AL, "sigmoid", threshold)

    def mislabeled(self, threshold: float) -> np.ndarray:
        """Indices of the examples whose predicted label differs from the true one."""
        return np.flatnonzero(self.predicted(threshold) != self.Y)


def _evaluate(
    model: Model, X: np.ndarray, Y: np.ndarray, data: list[str], threshold: float
) -> Evaluation:
    """The metrics of ``model`` on examples as the network takes them.

    Parameters
    ----------
    X : ndarray of shape (n_x, m), the network's input (standardized for a table model)
    Y : ndarray of shape (1, m), labels 0..K-1, or targets in the units to report (the
        table's own for a table model, whose prediction is unscaled to them)
    data : what the examples are, for the report
    """
    from dlcli.evaluate import classification_metrics, regression_metrics, softmax_metrics

    ZL = output_logits(model, X)
    if model.output == "sigmoid":
        metrics = classification_metrics(Y, ZL, threshold)
        metrics["classes"] = list(model.classes)
        metrics["positive_class"] = model.classes[1]
        AL, Y_out = ACTIVATIONS["sigmoid"][0](ZL)[0], Y[0].astype(np.int64)
    elif model.output == "softmax":
        metrics = softmax_metrics(Y, ZL, model.classes)
        AL, Y_out = network.softmax(ZL), Y[0].astype(np.int64)
    else:
        if model.is_table:
            from dlcli.data import unscale_target

            ZL = unscale_target(model.preprocessing, ZL)  # in the table's units
        metrics = regression_metrics(Y, ZL)  # a linear output's AL is ZL
        if model.is_table:
            metrics["target"] = model.preprocessing["target"]
        AL, Y_out = ZL[0], Y[0]
    metrics["model"] = str(model.path)
    metrics["data"] = data
    return Evaluation(metrics, Y_out, AL, X, data)


def _kind_of_files(model: Model) -> str:
    return "CSV tables" if model.is_table else "course-layout HDF5 files"


def evaluate_default(model: Model, *, threshold: float = 0.5) -> Evaluation:
    """Evaluate ``model`` on its own test set, as the config stored with it names it.

    ``data.test`` (a file) is read as :func:`evaluate_files` reads one. With
    ``data.test_fraction`` there is no test file: the split is made again by
    :func:`evaluate_split`, from the same data and seed, so it holds the same examples.
    """
    data = (model.config or {}).get("data") or {}
    if data.get("test"):
        return evaluate_files(
            model,
            [Path(data["test"])],
            threshold=threshold,
            key=f"data.test in the config of {model.path}",
        )
    if data.get("test_fraction"):
        return evaluate_split(model, threshold=threshold)
    generate = data.get("generate") or {}
    table = model.is_table
    hint = ""
    if generate:
        name = generate.get("name", "flower")
        hint = (
            f"; a generated set can be written with dlcli data {name} --out "
            f"FILE.{'csv' if name == 'housing' else 'h5'}"
        )
    example = "dlcli evaluate test.csv" if table else "dlcli evaluate test.h5"
    raise DlcliError(
        f"--model {model.path}: its config names no data.test to evaluate on; "
        f"pass DATA.{'csv' if table else 'h5'} files ({'CSV tables with its columns' if table else 'course layout'}), "
        f"e.g. {example}{hint}"
    )


def evaluate_split(model: Model, *, threshold: float = 0.5) -> Evaluation:
    """Evaluate on the ``data.test_fraction`` split of the stored config, made again.

    The stored (resolved) config is validated back into a :class:`dlcli.config.Config` and
    its data section loaded by :func:`dlcli.data.load`, which draws the same seeded split
    (``data.split_seed``) from the same generated set or files. For a table model the
    standardization computed again must equal the stored one, else the data changed since
    training and the split would not be the one the model was tested on.
    """
    from dlcli import data as data_mod
    from dlcli.config import validate

    where = f"--model {model.path}"
    cfg = validate(model.config, f"the config stored in {model.path}")
    fraction = cfg.data.test_fraction
    if cfg.data.generate is not None:
        gen = cfg.data.generate
        source = f"data.generate {gen.name} ({gen.examples} examples, seed {gen.seed})"
    else:
        source = str(cfg.data.train)
    try:
        dataset = data_mod.load(cfg.data, cfg.model.output_activation)
    except DlcliError as exc:
        raise DataError(
            f"{where}: making its test split again (data.test_fraction {fraction:g} of "
            f"{source}) failed: {exc}"
        ) from None
    changed = (
        dataset.X_test is None
        or dataset.X_test.shape[0] != model.n_x
        or (dataset.preprocessing != model.preprocessing if model.is_table else False)
        or (not model.is_table and tuple(dataset.classes) != model.classes)
    )
    if changed:
        raise DataError(
            f"{where}: {source} is not the data the model was trained on (other columns, "
            "classes or values), so its test split cannot be made again; pass DATA files "
            f"({_kind_of_files(model)}) to evaluate on"
        )
    X, Y = dataset.X_test, dataset.Y_test
    if model.output == "softmax":
        Y = network.labels(Y, "softmax")  # one-hot (K, m) -> labels (1, m)
    if model.is_table:
        Y = data_mod.unscale_target(dataset.preprocessing, Y)  # as training reported it
    described = (
        f"the test split of {source}: data.test_fraction {fraction:g}, "
        f"data.split_seed {cfg.data.split_seed}, {X.shape[1]} examples"
    )
    return _evaluate(model, X, Y, [described], threshold)


def evaluate_files(
    model: Model, data: Sequence[Path], *, threshold: float = 0.5, key: str = "DATA.h5"
) -> Evaluation:
    """Evaluate ``model`` on data files, taken together as one set.

    For a table model they are CSV tables (see :func:`evaluate_tables`). Otherwise they are
    course-layout HDF5 files, each holding what the model takes (pixels of its example
    shape, or features of its width) and, if it names its classes, the model's classes in
    the model's order.
    """
    from dlcli import data as data_mod

    check_threshold(threshold)
    csvs = [path for path in data if path.suffix.lower() == ".csv"]
    if model.is_table:
        return evaluate_tables(model, data, key=key.replace("DATA.h5", "DATA.csv"))
    if csvs:
        raise DataError(
            f"{key.replace('DATA.h5', 'DATA.csv')}: {csvs[0]}: a CSV table, but the model "
            f"{model.path} takes {model.takes()} from course-layout HDF5 files; CSV tables "
            "are for models trained on a table"
        )
    Xs, Ys = [], []
    for path in data:
        # Any class count is read; the model's own classes are checked below.
        read = data_mod.read_course_file(path, key, output="softmax")
        where = f"{key} {path}"
        if read.preprocessing["kind"] != model.preprocessing["kind"] or (
            model.is_image and read.example_shape != model.example_shape
        ):
            kinds = {"image": "pictures of shape", "none": "features of shape"}
            raise DataError(
                f"{where}: holds {kinds[read.preprocessing['kind']]} {read.example_shape}; "
                f"the model {model.path} takes {kinds[model.preprocessing['kind']]} {model.example_shape}"
            )
        if read.X.shape[0] != model.n_x:
            raise DataError(
                f"{where}: holds {read.X.shape[0]} features per example; the model {model.path} takes {model.n_x}"
            )
        if read.named_classes and read.classes != model.classes:
            labels = ", ".join(str(k) for k in range(len(model.classes)))
            raise DataError(
                f"{where}: list_classes {list(read.classes)}; the model {model.path} has "
                f"{list(model.classes)} (labels {labels} must mean the same classes)"
            )
        Xs.append(read.X)
        Ys.append(read.Y)
    X = np.concatenate(Xs, axis=1) if len(Xs) > 1 else Xs[0]  # (n_x, m)
    Y = np.concatenate(Ys, axis=1) if len(Ys) > 1 else Ys[0]  # (1, m)
    return _evaluate(model, X, Y, [str(p) for p in data], threshold)


def _table_columns(
    model: Model, path: Path, key: str, *, target: bool
) -> tuple[list[str], list[tuple[int, list[str]]], np.ndarray, np.ndarray | None]:
    """A CSV table's header and rows, the model's raw features X (n_x, m) taken by name and,
    with ``target``, the target Y (1, m). Other columns are not read as numbers."""
    from dlcli.data import csv_numbers, read_csv_rows

    header, body = read_csv_rows(path, key)
    where = f"{key}: {path}"
    features = list(model.preprocessing["features"])
    name = model.preprocessing["target"]
    need = [*features, name] if target else features
    for column in need:
        if column not in header:
            role = "the target" if column == name else "a feature"
            raise DataError(
                f"{where}: has no column {column!r}, {role} of the model {model.path}; "
                f"its columns: {header}; the model needs {need}"
            )
    hint = "the model's columns must hold numbers"
    X = csv_numbers(header, body, features, where, hint)  # (n_x, m)
    Y = csv_numbers(header, body, [name], where, hint) if target else None  # (1, m)
    return header, body, X, Y


def evaluate_tables(model: Model, data: Sequence[Path], *, key: str = "DATA.csv") -> Evaluation:
    """Evaluate a table model on CSV tables taken together: each must hold the model's
    feature columns and its target; the metrics are in the target's own units."""
    from dlcli.data import apply_table

    Xs, Ys = [], []
    for path in data:
        if path.suffix.lower() != ".csv":
            raise DataError(
                f"{key}: {path}: not a .csv file; the model {model.path} is a table model, "
                f"evaluated on CSV tables with its columns {model.preprocessing['features']} "
                f"and {model.preprocessing['target']!r}"
            )
        _, _, X, Y = _table_columns(model, path, key, target=True)
        Xs.append(X)
        Ys.append(Y)
    X_raw = np.concatenate(Xs, axis=1)  # (n_x, m)
    Y = np.concatenate(Ys, axis=1)  # (1, m)
    X, _ = apply_table(model.preprocessing, X_raw)
    return _evaluate(model, X, Y, [str(p) for p in data], 0.5)


@dataclass
class TablePrediction:
    """``dlcli predict --csv``: the input rows as read, and a prediction for each.

    values : ndarray of shape (m,), in the target's own units
    """

    header: list[str]
    rows: list[list[str]]
    column: str
    values: np.ndarray

    def write(self, out: TextIO) -> None:
        """The input rows, unchanged, plus the prediction column, at full precision (the
        shortest text that reads back as the same float64)."""
        import csv

        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([*self.header, self.column])
        for row, value in zip(self.rows, self.values, strict=True):
            writer.writerow([*row, repr(float(value))])


def predict_table(model: Model, path: Path, key: str = "--csv") -> TablePrediction:
    """Predict every row of a CSV table with a table model.

    The model's feature columns are taken by name (other columns are kept as they are, the
    target may be absent), standardized with the stored mean and std, run through the
    network, and the prediction unscaled to the target's units.
    """
    from dlcli.data import apply_table, unscale_target

    if not model.is_table:
        raise DlcliError(
            f"{key} {path}: the model {model.path} takes {model.takes()}, not a CSV table; "
            "--csv is for models trained on one (data.train: FILE.csv or data.generate housing)"
        )
    column = f"predicted_{model.preprocessing['target']}"
    header, body, X_raw, _ = _table_columns(model, path, key, target=False)
    if column in header:
        raise DataError(
            f"{key}: {path}: already has a column {column!r}; predict adds it, so remove it first"
        )
    X, _ = apply_table(model.preprocessing, X_raw)  # (n_x, m)
    values = unscale_target(model.preprocessing, output_logits(model, X))[0]  # (m,)
    return TablePrediction(header, [row for _, row in body], column, values)


def mislabeled_grid(evaluation: Evaluation, model: Model, out: Path, threshold: float) -> int:
    """Write the course's "mislabeled images" figure: each wrongly classified picture with its
    index, predicted label and probability, and true label. At most 100 are drawn, in data
    order. Returns the number of mislabeled examples."""
    from dlcli.images import write_grid

    if model.output == "linear":
        raise DlcliError(
            f"--mislabeled: the model {model.path} has a linear output; only a sigmoid "
            "output labels pictures (or a softmax output over K classes)"
        )
    size, channels = model.picture_shape()
    wrong = evaluation.mislabeled(threshold)
    shown = wrong[:100]
    divide_by = float(model.preprocessing["divide_by"])
    pictures, titles = [], []
    predicted = evaluation.predicted(threshold)
    for i in shown:
        # X = pixels / 255 exactly, so the pixels come back exactly.
        pixels = np.rint(evaluation.X[:, i] * divide_by).clip(0, 255).astype(np.uint8)
        pictures.append(pixels.reshape(*size, channels))
        label = int(predicted[i])
        if evaluation.AL.ndim == 2:  # softmax: (K, m)
            p = float(evaluation.AL[label, i])
        else:
            a = float(evaluation.AL[i])
            p = a if label else 1 - a
        titles.append(
            f"#{i}: predicted {model.classes[label]} ({p:.2f})\n"
            f"true: {model.classes[evaluation.Y[i]]}"
        )
    m = evaluation.Y.size
    if not wrong.size:
        title = f"No mislabeled pictures: all {m} classified correctly"
    else:
        more = f", the first {shown.size} shown" if wrong.size > shown.size else ""
        title = f"Mislabeled: {wrong.size} of {m} pictures{more}"
    write_grid(out, pictures, titles, title, title_colors=["firebrick"] * len(titles))
    return int(wrong.size)
