"""dlcli export: a trained model as ONNX, or as NumPy arrays with a small predict script."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dlcli.cli.options import user_errors


def export(
    out: Annotated[
        Path,
        typer.Option(
            help="The file (onnx) or folder (numpy) to write.",
            metavar="PATH",
            show_default=False,
        ),
    ],
    run: Annotated[
        Path | None,
        typer.Argument(
            help="A run directory of dlcli train, its params.h5, or a folder of runs with a "
            "latest link; default: runs/latest.",
            metavar="RUN",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="onnx: one .onnx file that takes inputs as you have them (raw uint8 pictures, "
            "or a table's columns in their own units); numpy: a folder with model.npz and "
            "predict.py, which needs only NumPy.",
            metavar="onnx|numpy",
        ),
    ] = "onnx",
    dtype: Annotated[
        str,
        typer.Option(help="The weights' and the arithmetic's type.", metavar="float32|float64"),
    ] = "float64",
    opset: Annotated[
        int | None,
        typer.Option(
            help="The ONNX opset to write (13 up to the newest the installed onnx knows); "
            "default 17.",
            metavar="N",
            show_default=False,
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists.")] = False,
) -> None:
    """Export a trained model, so that something other than dlcli can predict with it.

    --format onnx writes a graph that does the preprocessing itself: a picture model takes
    raw uint8 pictures (N, height, width, channels) and divides by 255 and flattens as
    training did; a table model takes its numeric columns in their own units as one input
    "features" (N, k) and each word column as a string input (N, 1). It outputs
    "probabilities" (N, 1) for sigmoid or (N, K) for softmax and "label" (N,), or
    "prediction" for a linear output, in the target's units. The class names, the config
    and the dlcli version are in the file's metadata. Needs the onnx package (dlcli's "onnx"
    extra).

    --format numpy writes model.npz (plain arrays) and predict.py, about 40 lines of NumPy:
    python predict.py model.npz inputs.npy prints each example's class and probability.

    The run's card.md is copied beside what is written.
    """
    with user_errors():
        from dlcli.export import export_model

        done = export_model(run, fmt, out, dtype=dtype, opset=opset, force=force)
    names = ", ".join(str(path) for path in done.files)
    typer.echo(f"exported {done.model} as {fmt} ({dtype}): {names}")
