"""Using a trained model: load it from its params.h5 alone and predict pictures (table rows:
:mod:`dlcli.predict_table`).

The model file carries everything needed (runs.model_meta): the weights, the activations,
the class names and the preprocessing, so no config or data set is read to predict.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dlcli.data import encode
from dlcli.errors import DlcliError, ImageError, ModelFileError
from dlcli.images import find_pictures, read_image
from dlcli.model import network
from dlcli.model.activations import ACTIVATIONS
from dlcli.runs import PARAMS, find_model, read_params

#: Examples go through the network in blocks of this many columns, the last one padded
#: with zeros. BLAS sums a matrix product in an order that depends on its shape (a single
#: column takes the matrix-vector path), so fixed blocks make an example's probability the
#: same to the last bit whether it is predicted alone or evaluated among thousands.
BLOCK = 64


@dataclass(frozen=True)
class Model:
    """A trained network and what it needs to take raw inputs.

    params : dict of ``W{l}`` (n[l], n[l-1]) and ``b{l}`` (n[l], 1), float64
    output : "sigmoid" (2 classes), "softmax" (K = n[L] classes) or "linear" (values)
    classes : the class names, label order (unused by a linear output)
    preprocessing : ``{"kind": "image", "example_shape": [h, w, c], "divide_by": 255.0}``,
        ``{"kind": "none"}`` (features as they are) or ``{"kind": "table", "features": [...],
        "mean": [...], "std": [...], "target": name, "target_mean": float, "target_std": float}``
        (named CSV columns, standardized; the network predicts the standardized target), or
        a table's per-column form (``"columns"``, ``"task"``, ... see :mod:`dlcli.data.encode`)
    config : the resolved config it was trained with, if the file holds it
    class_weight : the weight of each class it was trained with (``train.class_weight``),
        if any
    """

    path: Path
    params: network.Params
    hidden: str
    output: str
    classes: tuple[str, ...]
    preprocessing: dict[str, Any]
    config: dict[str, Any] | None = None
    class_weight: dict[str, float] | None = None

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

    @property
    def is_encoded_table(self) -> bool:
        """A table model of the per-column form: categories, missing cells, classes."""
        return encode.is_encoded(self.preprocessing)

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


def load_model(
    model: Path | None = None, runs_dir: Path = Path("runs"), key: str = "--model"
) -> Model:
    """Read a model file and check that it says how to use it (see
    :func:`dlcli.runs.find_model`); ``key`` names it in messages."""
    path = find_model(model, runs_dir, key)
    params, meta = read_params(path, key=key)
    where = f"{key} {path}"
    _check_meta_keys(meta, where)
    hidden, output = meta["hidden_activation"], meta["output_activation"]
    n_x, n_y = params["W1"].shape[1], params[f"W{network.n_layers(params)}"].shape[0]
    _check_activations(hidden, output, n_y, where)
    prep = meta["preprocessing"]
    _check_preprocessing(prep, n_x, output, where)
    classes = meta["classes"]
    _check_classes(classes, output, n_y, where)
    config = meta.get("config") if isinstance(meta.get("config"), dict) else None
    weights = meta.get("class_weight") if isinstance(meta.get("class_weight"), dict) else None
    return Model(path, params, hidden, output, tuple(map(str, classes)), prep, config, weights)


def _check_meta_keys(meta: dict[str, Any], where: str) -> None:
    """The model file names its activations, preprocessing and classes."""
    missing = [
        key
        for key in ("hidden_activation", "output_activation", "preprocessing", "classes")
        if key not in meta
    ]
    if missing:
        raise ModelFileError(
            f"{where}: has no {', '.join(missing)} attribute; a {PARAMS} written by "
            "dlcli train holds them (weights alone are not enough to predict)"
        )


def _check_activations(hidden: str, output: str, n_y: int, where: str) -> None:
    """Known activations, and n[L] output units that fit the output activation."""
    if hidden not in ACTIVATIONS or output not in ("sigmoid", "softmax", "linear"):
        raise ModelFileError(
            f"{where}: activations {hidden!r} / {output!r}; allowed: hidden one of "
            f"{', '.join(ACTIVATIONS)}, output sigmoid, softmax or linear"
        )
    if output == "softmax" and not 2 <= n_y <= 100:
        raise ModelFileError(
            f"{where}: the softmax output layer has {n_y} units; allowed: 2 to 100, one per class"
        )
    if output != "softmax" and n_y != 1:
        raise ModelFileError(
            f"{where}: the output layer has {n_y} units; allowed: 1 for a {output} output"
        )


def _check_preprocessing(prep: Any, n_x: int, output: str, where: str) -> None:
    """A preprocessing of a known kind that yields W1's n_x columns."""
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


def _check_classes(classes: Any, output: str, n_y: int, where: str) -> None:
    """A list of class names, one per label the output can give (any for a linear output)."""
    if not isinstance(classes, list):
        raise ModelFileError(f"{where}: classes {classes!r}; allowed: a list of names")
    want = {"sigmoid": 2, "softmax": n_y}.get(output)
    if want is not None and len(classes) != want:
        raise ModelFileError(
            f"{where}: classes {classes!r}; allowed: a list of {want} names "
            f"(a {output} output with {n_y} unit{'s' if n_y > 1 else ''})"
        )


def _check_table_preprocessing(prep: dict[str, Any], n_x: int, output: str, where: str) -> None:
    """A table model's preprocessing in either form :mod:`dlcli.data.encode` writes."""
    problem = encode.stored_problem(prep, n_x, output)
    if problem is not None:
        raise ModelFileError(f"{where}: {problem}")


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
    else:
        AL = ACTIVATIONS["sigmoid"][0](ZL)[0]  # (m,)
        labels = network.labels(AL, "sigmoid", threshold)
    return labels, label_probability(AL, labels)


def label_probability(AL: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The probability of each example's predicted label.

    Parameters
    ----------
    AL : ndarray of shape (K, m), a softmax output's class probabilities, or of shape (m,),
        a sigmoid output's probability of class 1
    labels : ndarray of shape (m,), int64, the predicted labels

    Returns
    -------
    ndarray of shape (m,): AL[label] for a softmax output, AL or 1 - AL for a sigmoid one
    """
    if AL.ndim == 2:
        return AL[labels, np.arange(AL.shape[1])]
    return np.where(labels == 1, AL, 1.0 - AL)


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
