"""dlcli evaluate: a trained model's metrics on a data set, by default its own test set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dlcli.cli.options import ModelOpt, ThresholdOpt, model_and_threshold, user_errors
from dlcli.jsonout import strict_json


def evaluate(
    data: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Course-layout HDF5 files (CSV tables for a table model), evaluated together "
            "as one set; default: the model's own test set, data.test of the config stored "
            "with it, or its data.test_fraction split made again from that config.",
            metavar="DATA",
            show_default=False,
        ),
    ] = None,
    model: ModelOpt = None,
    threshold: ThresholdOpt = None,
    mislabeled: Annotated[
        Path | None,
        typer.Option(
            help="Write the course's 'mislabeled images' grid to this PNG: each wrongly "
            "classified picture with its predicted label and probability and its true label.",
            metavar="FILE.png",
            show_default=False,
        ),
    ] = None,
    boundary: Annotated[
        Path | None,
        typer.Option(
            help="Write the decision boundary to this PNG: the predicted class over a grid "
            "covering the data, the examples drawn on top in their true class's colour. For a "
            "sigmoid or softmax model of 2 inputs (flower, spiral, a 2-column table).",
            metavar="FILE.png",
            show_default=False,
        ),
    ] = None,
    json_out: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print only JSON on stdout: an object with accuracy, balanced_accuracy, "
            "precision, recall, f1, confusion_matrix, log_loss, examples (softmax: accuracy, "
            "balanced_accuracy, macro_precision, "
            "macro_recall, macro_f1, per_class, a K x K confusion_matrix, log_loss, examples; "
            "linear: mse, mae, r2, examples).",
        ),
    ] = False,
) -> None:
    """Measure a trained model on a data set (by default its own test set).

    Shows accuracy, balanced accuracy (the mean of the per-class recalls), precision, recall
    and F1 of the second class (e.g. cat), the confusion matrix, log-loss and the example
    count. A softmax model over K classes: accuracy,
    precision, recall and F1 of every class and their macro averages (unweighted means over
    the classes), the K x K confusion matrix (rows true, columns predicted) and the
    categorical cross-entropy. A linear-output model: mean squared error, mean absolute error
    and R^2, in the target's own units for a table model.

    Without DATA the model's own test set is used: data.test of the config stored in its
    params.h5, or, for data.test_fraction (e.g. a generated set), the same seeded split made
    again from that config.
    """
    with user_errors():
        from dlcli.evaluate import evaluate_default, evaluate_files, mislabeled_grid

        loaded, threshold = model_and_threshold(model, threshold)
        if boundary is not None:
            from dlcli.boundary import check_boundary

            check_boundary(loaded, boundary)
        if data:
            evaluation = evaluate_files(loaded, data, threshold=threshold)
        else:
            evaluation = evaluate_default(loaded, threshold=threshold)
        if mislabeled is not None:
            mislabeled_grid(evaluation, loaded, mislabeled, threshold)
        if boundary is not None:
            from dlcli.boundary import write_boundary

            title = f"Decision boundary: {loaded.path.parent.name}, {evaluation.Y.size} examples"
            write_boundary(boundary, loaded, evaluation.X, evaluation.Y, title, threshold)
    metrics = evaluation.metrics
    if json_out:
        typer.echo(strict_json(metrics))
        return
    from dlcli.cli.render import evaluation_report, show

    show(*evaluation_report(metrics, mislabeled))
    if boundary is not None:
        typer.echo(f"decision boundary drawn in {boundary}")
