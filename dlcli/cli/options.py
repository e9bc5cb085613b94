"""What several commands share: their Annotated arguments and options, and the error boundary.

Errors a user can cause (:class:`DlcliError`) are printed on one line to stderr with exit
code 1; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from dlcli.errors import DlcliError

if TYPE_CHECKING:
    from dlcli.config import Config
    from dlcli.predict import Model

ConfigArg = Annotated[
    Path,
    typer.Argument(help="YAML config file (see docs/config.md for every key).", show_default=False),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Override a config key, e.g. --set train.learning_rate=0.01 (repeatable; value read as YAML).",
        show_default=False,
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]
ModelOpt = Annotated[
    Path | None,
    typer.Option(
        "--model",
        help="A run directory (or its params.h5, or a folder with a 'latest' link); default: "
        "runs/latest, the newest run of dlcli train here.",
        show_default=False,
    ),
]
ThresholdOpt = Annotated[
    float | None,
    typer.Option(
        help="Predict the model's second class (e.g. cat) when its probability is above this "
        "(default 0.5). Sigmoid models only: a softmax model predicts its most probable class.",
        show_default=False,
    ),
]
FitOpt = Annotated[
    Literal["stretch", "crop"],
    typer.Option(
        help="How a picture meets the target size: stretch (resize, as the course) or crop "
        "(centre-crop to the target's aspect ratio first). Bicubic filter either way.",
    ),
]


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn a DlcliError into one red line on stderr (a line per error, if it holds several)
    and exit code 1."""
    try:
        yield
    except DlcliError as exc:
        # One line per error: a config with several mistakes lists them all (one per line).
        lines = str(exc).replace("\n", f"\ndlcli: {exc.kind}: ")
        typer.secho(f"dlcli: {exc.kind}: {lines}", err=True, fg="red")
        raise typer.Exit(1) from None


def read_config(config: Path, set_: list[str] | None) -> Config:
    """CONFIG with its --set overrides applied, validated (pydantic loads only here)."""
    from dlcli.config import load_config

    return load_config(config, set_ or [])


def model_and_threshold(model: Path | None, threshold: float | None) -> tuple[Model, float]:
    """--model read, and --threshold checked against its output (see :func:`_threshold`)."""
    from dlcli.predict import load_model

    loaded = load_model(model)
    return loaded, _threshold(threshold, loaded)


def _threshold(threshold: float | None, model: Model) -> float:
    """--threshold as given (checked), or 0.5; refused for a model without a sigmoid output."""
    from dlcli.predict import check_threshold

    if threshold is None:
        return 0.5
    check_threshold(threshold)
    output = model.output
    if output != "sigmoid":
        what = "its most probable class" if output == "softmax" else "values"
        raise DlcliError(
            f"--threshold: the model {model.path} has a {output} output and predicts {what}; "
            "a threshold applies to a sigmoid output only"
        )
    return threshold
