"""Using a trained model: load it from its params.h5 alone, predict pictures, evaluate data.

The model file carries everything needed (runs.model_meta): the weights, the activations,
the class names and the preprocessing, so no config or data set is read to predict.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    preprocessing : ``{"kind": "image", "example_shape": [h, w, c], "divide_by": 255.0}``
        or ``{"kind": "none"}``
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
    def is_image(self) -> bool:
        return self.preprocessing["kind"] == "image"

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
    if hidden not in ACTIVATIONS or output not in ("sigmoid", "linear"):
        raise ModelFileError(
            f"{where}: activations {hidden!r} / {output!r}; allowed: hidden one of "
            f"{', '.join(ACTIVATIONS)}, output sigmoid or linear"
        )
    n_y = params[f"W{network.n_layers(params)}"].shape[0]
    if n_y != 1:
        raise ModelFileError(f"{where}: the output layer has {n_y} units; allowed: 1")
    prep = meta["preprocessing"]
    n_x = params["W1"].shape[1]
    if not isinstance(prep, dict) or prep.get("kind") not in ("image", "none"):
        raise ModelFileError(
            f'{where}: preprocessing {prep!r}; allowed: {{"kind": "image", ...}} or {{"kind": "none"}}'
        )
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
    if not isinstance(classes, list) or len(classes) != 2:
        raise ModelFileError(f"{where}: classes {classes!r}; allowed: a list of 2 names")
    config = meta.get("config") if isinstance(meta.get("config"), dict) else None
    return Model(path, params, hidden, output, tuple(map(str, classes)), prep, config)


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
    ZL : ndarray of shape (1, m)
    """
    m = X.shape[1]
    ZL = np.empty((1, m))
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

    label : the predicted class name (sigmoid output), else None
    probability : the probability of that class, AL or 1 - AL (sigmoid output)
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

    A picture of a label 1 class ``classes[1]`` is predicted when AL > threshold.
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
        AL = ACTIVATIONS[model.output][0](ZL)[0]  # (m,)
        for (i, _), a in zip(good, AL, strict=True):
            if model.output == "linear":
                rows[i].value = float(a)
            else:
                label = int(threshold < a)
                rows[i].label = model.classes[label]
                rows[i].probability = float(a if label else 1.0 - a)
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

    metrics : :func:`dlcli.evaluate.classification_metrics` (sigmoid output) or
        :func:`dlcli.evaluate.regression_metrics` (linear output), plus ``classes``,
        ``model`` and ``data``
    Y : ndarray of shape (m,), the true labels
    AL : ndarray of shape (m,), the network's output (probability of class 1 for sigmoid)
    X : ndarray of shape (n_x, m), the examples as the network saw them
    """

    metrics: dict[str, Any]
    Y: np.ndarray
    AL: np.ndarray
    X: np.ndarray
    files: list[str] = field(default_factory=list)

    def mislabeled(self, threshold: float) -> np.ndarray:
        """Indices of the examples whose predicted label differs from the true one."""
        return np.flatnonzero((threshold < self.AL).astype(np.int64) != self.Y)


def default_data(model: Model) -> list[Path]:
    """The model's own test set: ``data.test`` of the config stored with it."""
    data = (model.config or {}).get("data") or {}
    if not data.get("test"):
        generated = (
            "; a generated set can be written with dlcli data flower --out FILE.h5"
            if data.get("generate")
            else ""
        )
        raise DlcliError(
            f"--model {model.path}: its config names no data.test to evaluate on; "
            f"pass DATA.h5 files (course layout), e.g. dlcli evaluate test.h5{generated}"
        )
    test = data["test"]
    return [Path(test)]


def evaluate_files(
    model: Model, data: Sequence[Path], *, threshold: float = 0.5, key: str = "DATA.h5"
) -> Evaluation:
    """Evaluate ``model`` on course-layout HDF5 files, taken together as one set.

    Each file must hold what the model takes (pixels of its example shape, or features of
    its width) and, if it names its classes, the model's classes in the model's order.
    """
    from dlcli import data as data_mod
    from dlcli.evaluate import classification_metrics, regression_metrics

    check_threshold(threshold)
    Xs, Ys = [], []
    for path in data:
        read = data_mod.read_course_file(path, key)
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
            raise DataError(
                f"{where}: list_classes {list(read.classes)}; the model {model.path} has "
                f"{list(model.classes)} (labels 0, 1 must mean the same classes)"
            )
        Xs.append(read.X)
        Ys.append(read.Y)
    X = np.concatenate(Xs, axis=1) if len(Xs) > 1 else Xs[0]  # (n_x, m)
    Y = np.concatenate(Ys, axis=1) if len(Ys) > 1 else Ys[0]  # (1, m)
    ZL = output_logits(model, X)
    if model.output == "sigmoid":
        metrics = classification_metrics(Y, ZL, threshold)
        metrics["classes"] = list(model.classes)
        metrics["positive_class"] = model.classes[1]
    else:
        metrics = regression_metrics(Y, ZL)  # a linear output's AL is ZL
    metrics["model"] = str(model.path)
    metrics["data"] = [str(p) for p in data]
    AL = ACTIVATIONS[model.output][0](ZL)
    return Evaluation(metrics, Y[0].astype(np.int64), AL[0], X, [str(p) for p in data])


def mislabeled_grid(evaluation: Evaluation, model: Model, out: Path, threshold: float) -> int:
    """Write the course's "mislabeled images" figure: each wrongly classified picture with its
    index, predicted label and probability, and true label. At most 100 are drawn, in data
    order. Returns the number of mislabeled examples."""
    from dlcli.images import write_grid

    if model.output != "sigmoid":
        raise DlcliError(
            f"--mislabeled: the model {model.path} has a linear output; only a sigmoid "
            "output labels pictures"
        )
    size, channels = model.picture_shape()
    wrong = evaluation.mislabeled(threshold)
    shown = wrong[:100]
    divide_by = float(model.preprocessing["divide_by"])
    pictures, titles = [], []
    for i in shown:
        # X = pixels / 255 exactly, so the pixels come back exactly.
        pixels = np.rint(evaluation.X[:, i] * divide_by).clip(0, 255).astype(np.uint8)
        pictures.append(pixels.reshape(*size, channels))
        a = float(evaluation.AL[i])
        label = int(threshold < a)
        titles.append(
            f"#{i}: predicted {model.classes[label]} ({a if label else 1 - a:.2f})\n"
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
