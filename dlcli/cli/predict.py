"""dlcli predict: labels for pictures, or with --csv predictions for a table's rows."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dlcli.cli.options import FitOpt, ModelOpt, ThresholdOpt, model_and_threshold, user_errors
from dlcli.errors import DlcliError
from dlcli.jsonout import strict_json

if TYPE_CHECKING:
    from dlcli.predict import Model


def predict(
    pictures: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Pictures, or directories searched recursively for them.",
            metavar="IMAGE_OR_DIR",
            show_default=False,
        ),
    ] = None,
    model: ModelOpt = None,
    csv: Annotated[
        Path | None,
        typer.Option(
            "--csv",
            help="Predict the rows of this CSV table with a table model instead of pictures: "
            "its feature columns are taken by name (other columns kept, the target may be "
            "absent); writes the rows plus a predicted_<target> column (for a classifier the "
            "class name, and its probability).",
            metavar="FILE.csv",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="With --csv: write the predictions to this CSV file instead of stdout.",
            metavar="FILE.csv",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="With --out: replace a file that exists.")
    ] = False,
    all_probabilities: Annotated[
        bool,
        typer.Option(
            "--all-probabilities",
            help="With --csv and a classifier: add one probability_<class> column per class.",
        ),
    ] = False,
    threshold: ThresholdOpt = None,
    fit: FitOpt = "stretch",
    json_out: Annotated[
        bool,
        typer.Option(
            "--json",
            help='Print only JSON on stdout: a list of {"path", "label", "probability", "error"} '
            '({"path", "value", "error"} for a linear-output model); with --csv an object with '
            '"column" and "predictions" (a classifier: also "probability", and '
            '"probabilities" by class with --all-probabilities).',
        ),
    ] = False,
) -> None:
    """Classify pictures: one row per picture with its label and that label's probability;
    or, with --csv, predict the rows of a table.

    Reads PNG, JPEG, GIF (first frame), BMP, TIFF (first page), WebP and PPM/PGM of any size and
    mode (grey, palette, RGBA composited on white, CMYK, 16-bit), upright by their EXIF
    orientation, resized to the model's input with a bicubic filter, flattened and divided by
    255 as in training. A softmax model gives its most probable class and that probability.
    Only the model file is read; no config or data set is needed. A file that cannot be read
    gets a row with its error, the others are still predicted, and the exit code is 1.

    A table model (trained on a CSV or data.generate housing) predicts --csv rows: features
    standardized with the mean and std stored in the model, the prediction in the target's
    units, written at full precision. A classifier table model (words or integers as labels)
    writes the predicted class name and its probability.
    """
    with user_errors():
        from dlcli.cli.progress import Counter
        from dlcli.predict import predict_pictures

        if csv is not None and pictures:
            raise DlcliError("--csv: give pictures or --csv FILE.csv, not both")
        if csv is None and not pictures:
            raise DlcliError(
                "nothing to predict: give pictures (IMAGE_OR_DIR ...) or, for a table model, "
                "--csv FILE.csv"
            )
        if csv is None and out is not None:
            raise DlcliError(
                "--out: goes with --csv (a table's predictions); picture predictions print on stdout"
            )
        if all_probabilities and csv is None:
            raise DlcliError("--all-probabilities: goes with --csv (a classifier table's rows)")
        loaded, threshold = model_and_threshold(model, threshold)
        if csv is not None:
            _predict_csv(loaded, csv, out, force, json_out, threshold, all_probabilities)
            return
        with Counter("reading pictures") as counter:
            rows = predict_pictures(
                loaded, pictures, threshold=threshold, fit=fit, progress=counter
            )
    failed = sum(row.error is not None for row in rows)
    if json_out:
        typer.echo(strict_json([row.to_dict() for row in rows]))
    else:
        from dlcli.cli.render import predictions_table, show

        show(predictions_table(rows, loaded.output, failed))
    if failed:
        typer.secho(
            f"dlcli: {failed} of {len(rows)} could not be read as pictures", err=True, fg="red"
        )
        raise typer.Exit(1)


def _predict_csv(
    model: Model,
    csv: Path,
    out: Path | None,
    force: bool,
    json_out: bool,
    threshold: float = 0.5,
    all_probabilities: bool = False,
) -> None:
    """dlcli predict --csv: the rows plus the prediction columns to --out or stdout."""
    import io

    from dlcli.cli.render import count
    from dlcli.predict_table import predict_table

    if out is not None:
        from dlcli.data.write import check_writable

        check_writable([out], force, suffix=".csv")
    if all_probabilities and model.output == "linear":
        raise DlcliError(
            f"--all-probabilities: the model {model.path} has a linear output and predicts "
            "values; class probabilities come from a sigmoid or softmax output"
        )
    predicted = predict_table(model, csv, threshold=threshold, all_probabilities=all_probabilities)
    text = io.StringIO()
    predicted.write(text)
    if out is not None:
        from dlcli.fileio import atomic_write

        atomic_write(out, lambda tmp: tmp.write_text(text.getvalue(), encoding="utf-8"))
    if json_out:
        report = {
            "model": str(model.path),
            "csv": str(csv),
            "out": None if out is None else str(out),
            "column": predicted.column,
            "rows": len(predicted.rows),
            "predictions": [float(v) for v in predicted.values]
            if predicted.probability is None
            else [str(v) for v in predicted.values],  # a classifier's class names
        }
        if predicted.probability is not None:
            report["probability"] = predicted.probability.tolist()
        if predicted.probabilities is not None:
            report["probabilities"] = dict(
                zip(predicted.classes, predicted.probabilities.tolist(), strict=True)
            )
        typer.echo(strict_json(report))
    elif out is None:
        typer.echo(text.getvalue(), nl=False)
    else:
        typer.echo(
            f"wrote {out}: {count(len(predicted.rows), 'row')}, the columns of {csv} "
            f"and {', '.join(predicted.added)}"
        )
