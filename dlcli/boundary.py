"""Decision boundaries: the course's ``plot_decision_boundary`` for a classifier of 2 inputs.

The predicted class over a grid covering the data (with a margin), the examples drawn on
top coloured by their class. The grid goes through :func:`dlcli.predict.output_logits` and
:func:`dlcli.predict.top_class`, so each cell shows exactly what ``dlcli predict`` would say
there. A table model's axes are its two columns in their own units: the grid is made in
those units and standardized with the stored mean and std before the network sees it.

Beside :mod:`dlcli.predict_table`: it imports :mod:`dlcli.predict`, and :mod:`dlcli.job`
and :mod:`dlcli.evaluate` import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dlcli.data import encode
from dlcli.errors import DlcliError
from dlcli.fileio import atomic_write
from dlcli.predict import Model, output_logits, top_class
from dlcli.runs import PARAMS

BOUNDARY = "boundary.png"
#: Grid cells per axis: 200 x 200 = 40 000 points, a smooth edge at 600 x 500 pixels for a
#: few hundredths of a second of forward passes on the shipped 2-input networks.
GRID = 200
#: The margin around the data, in the network's input units: the course's 1 (a table's
#: column is standardized there, so this is one standard deviation of the column).
MARGIN = 1.0
#: At most this many examples are drawn on top (evenly spaced through the data), so a table
#: of a million rows draws as fast as the flower's 400.
MAX_POINTS = 5000
#: The figure: 6 x 5 inches at 100 dpi, a 600 x 500 pixel PNG.
FIGSIZE, DPI = (6.0, 5.0), 100


@dataclass(frozen=True)
class Axes2:
    """A 2-input model's axes: their names, and how the network's inputs relate to them.

    names : the axis labels, ("x1", "x2") or a table's two column names
    mean, std : ndarray of shape (2, 1); the network's input is (u - mean) / std of a point
        u in the axes' units (mean 0 and std 1 for features taken as they are)
    """

    names: tuple[str, str]
    mean: np.ndarray
    std: np.ndarray

    def to_inputs(self, U: np.ndarray) -> np.ndarray:
        """Points in the axes' units (2, m) into the network's input X (2, m)."""
        return (U - self.mean) / self.std

    def from_inputs(self, X: np.ndarray) -> np.ndarray:
        """The network's inputs X (2, m) back in the axes' units (2, m)."""
        return X * self.std + self.mean


def boundary_problem(model: Model) -> str | None:
    """Why no decision boundary can be drawn for ``model``, or None when one can."""
    if model.output == "linear":
        return (
            f"the model {model.path} has a linear output (it predicts values, not classes); "
            "a decision boundary is drawn for a sigmoid or softmax output"
        )
    if model.n_x != 2:
        return (
            f"the model {model.path} takes {model.n_x} inputs; a decision boundary is drawn "
            "for a model of 2 inputs (e.g. flower, spiral, a table of 2 numeric columns)"
        )
    if model.is_table:
        kinds = [c for c in encode.columns_of(model.preprocessing) if c["type"] != "numeric"]
        if kinds:
            return (
                f"the model {model.path} takes its 2 inputs from the categorical column "
                f"{kinds[0]['name']!r}; a decision boundary is drawn over 2 numeric columns"
            )
    return None


def axes_of(model: Model) -> Axes2:
    """The axes of a 2-input model (see :func:`boundary_problem` for the models it takes)."""
    if model.is_table:
        columns = encode.columns_of(model.preprocessing)
        names = (str(columns[0]["name"]), str(columns[1]["name"]))
        mean = np.array([[c["mean"]] for c in columns], dtype=np.float64)  # (2, 1)
        std = np.array([[c["std"]] for c in columns], dtype=np.float64)  # (2, 1)
        return Axes2(names, mean, std)
    return Axes2(("x1", "x2"), np.zeros((2, 1)), np.ones((2, 1)))


def grid_labels(
    model: Model, axes: Axes2, X: np.ndarray, size: int = GRID, threshold: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The predicted class over a grid covering the examples ``X``.

    Parameters
    ----------
    X : ndarray of shape (2, m), the examples as the network takes them
    size : the grid's points per axis
    threshold : a sigmoid output predicts label 1 where AL > threshold (as ``dlcli predict``)

    Returns
    -------
    xx, yy : ndarray of shape (size, size), the grid in the axes' units (meshgrid order)
    labels : ndarray of shape (size, size), int64, the class ``dlcli predict`` gives each
        grid point
    """
    lo = X.min(axis=1) - MARGIN  # (2,), in the network's units
    hi = X.max(axis=1) + MARGIN
    U_lo, U_hi = axes.from_inputs(lo[:, None])[:, 0], axes.from_inputs(hi[:, None])[:, 0]
    xx, yy = np.meshgrid(np.linspace(U_lo[0], U_hi[0], size), np.linspace(U_lo[1], U_hi[1], size))
    U = np.stack([xx.ravel(), yy.ravel()])  # (2, size * size)
    labels, _ = top_class(model, output_logits(model, axes.to_inputs(U)), threshold)
    return xx, yy, labels.reshape(xx.shape)


def write_boundary(
    path: Path, model: Model, X: np.ndarray, Y: np.ndarray, title: str, threshold: float = 0.5
) -> None:
    """Write the decision boundary PNG (600 x 500 pixels) of ``model`` over examples ``X``.

    Parameters
    ----------
    X : ndarray of shape (2, m), the examples as the network takes them
    Y : ndarray of shape (m,), their true labels 0..K-1 (int)
    title : the figure's title
    threshold : a sigmoid output's threshold (see :func:`grid_labels`)
    """
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    axes = axes_of(model)
    xx, yy, labels = grid_labels(model, axes, X, threshold=threshold)
    K = len(model.classes)
    shown = np.unique(np.linspace(0, X.shape[1] - 1, min(X.shape[1], MAX_POINTS)).astype(int))
    U = axes.from_inputs(X[:, shown])  # (2, shown), in the axes' units
    # The course's Spectral colours, one per class, the same for the regions and the points.
    colours = ListedColormap(colormaps["Spectral"](np.linspace(0, 1, K)))
    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    ax = fig.subplots()
    ax.contourf(xx, yy, labels, levels=np.arange(K + 1) - 0.5, cmap=colours, alpha=0.8)
    ax.scatter(
        U[0],
        U[1],
        c=Y[shown],
        cmap=colours,
        vmin=-0.5,
        vmax=K - 0.5,
        s=12,
        edgecolors="k",
        linewidths=0.3,
    )
    for k, name in enumerate(model.classes):  # legend entries, drawn nowhere
        ax.scatter([], [], color=colours(k), edgecolors="k", linewidths=0.3, label=name)
    ax.legend(loc="upper right", fontsize="small", framealpha=0.8)
    ax.set_xlabel(axes.names[0])
    ax.set_ylabel(axes.names[1])
    ax.set_title(title, y=1.0)  # a fixed place: an automatic one measures every tick label
    # Fixed margins: tight_layout would draw the figure once more just to measure it.
    fig.subplots_adjust(left=0.11, right=0.97, bottom=0.1, top=0.93)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))


def true_labels(Y: np.ndarray) -> np.ndarray:
    """Labels (m,) from training's Y: (1, m) labels, or (K, m) one-hot for softmax."""
    if Y.shape[0] > 1:
        return Y.argmax(axis=0)
    return Y[0].astype(np.int64)


def write_run_boundary(
    run_dir: Path, params: dict[str, np.ndarray], meta: dict[str, Any], X: Any, Y: np.ndarray
) -> Path | None:
    """A finished run's ``boundary.png`` over its training examples, when its model is a
    classifier of 2 inputs (else nothing is written, and None is returned).

    Parameters
    ----------
    params : the trained parameters (as written to params.h5, float64)
    meta : what params.h5 carries besides the weights (``runs.model_meta``)
    X : ndarray of shape (n_x, m), the training examples as the network took them (a
        streamed data set never has 2 inputs)
    Y : ndarray of shape (1, m) or (K, m) one-hot, their labels
    """
    weights = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    model = Model(
        run_dir / PARAMS,
        weights,
        meta["hidden_activation"],
        meta["output_activation"],
        tuple(map(str, meta["classes"])),
        meta["preprocessing"],
    )
    if boundary_problem(model) is not None:
        return None
    layers = "-".join(str(n) for n in meta["layers"])
    title = f"Decision boundary: {layers} {model.hidden}/{model.output}, training set"
    path = run_dir / BOUNDARY
    write_boundary(path, model, np.asarray(X, dtype=np.float64), true_labels(Y), title)
    return path


def check_boundary(model: Model, out: Path) -> None:
    """Refuse ``--boundary FILE.png`` for a model without a decision boundary to draw, or a
    FILE.png whose folder does not exist."""
    problem = boundary_problem(model)
    if problem is not None:
        raise DlcliError(f"--boundary: {problem}")
    if not out.parent.is_dir():
        raise DlcliError(f"--boundary {out}: the folder {out.parent} does not exist")
