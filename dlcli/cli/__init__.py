"""The command line: one short module per command over the pure core.

Each command parses its options, calls the layer below and renders the result
(:mod:`dlcli.cli.render`). Errors a user can cause (:class:`DlcliError`) are printed on one
line to stderr with exit code 1 (:func:`dlcli.cli.options.user_errors`); anything else is a
bug and keeps its traceback. Heavy modules load inside commands so ``dlcli --help`` stays
fast.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from dlcli import __version__
from dlcli.cli import compare, data, diagnose, evaluate, export, gradcheck, predict, sweep, train

if TYPE_CHECKING:
    from dlcli.costplot import PlotProcess

HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    help="Train fully connected neural networks written from scratch in NumPy, from a YAML config.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings=HELP_OPTIONS,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dlcli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """dlcli: the deep learning course's networks, from scratch in vectorized NumPy."""


def reflowed(doc: str | None) -> str:
    """A docstring with each paragraph on one line, so the help reflows to the terminal's width.

    Typer keeps a docstring's single line breaks after its first paragraph; printed as they
    are, they break lines mid-sentence at any width but the source's. Paragraphs stay apart.
    """
    paragraphs = inspect.cleandoc(doc or "").split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


def _register(group: typer.Typer, command: Callable[..., None], name: str | None = None) -> None:
    group.command(name, help=reflowed(command.__doc__))(command)


for _command in (
    train.train,
    gradcheck.gradcheck,
    predict.predict,
    evaluate.evaluate,
    export.export,
):
    _register(app, _command)

data_app = typer.Typer(
    help="Make and inspect data sets in the course's HDF5 layout (and generated CSV tables).",
    no_args_is_help=True,
    context_settings=HELP_OPTIONS,
)
app.add_typer(data_app, name="data")
for _command in (
    data.images,
    data.info,
    data.flower,
    data.spiral,
    data.housing,
    data.churn,
    data.synth,
):
    _register(data_app, _command)

_register(app, sweep.sweep)
_register(app, compare.compare)
_register(app, diagnose.diagnose)


def main(early: PlotProcess | None = None) -> None:
    """Run the CLI in a process of its own, where cost.png is drawn by a child process
    (cli/train.py); ``early`` is that child when :mod:`dlcli.__main__` started it already."""
    train.OWN_PROCESS = True
    train._early = early
    try:
        app()
    finally:  # not taken by train(): Typer ended first (a usage error); end it now
        if train._early is not None:
            train._early.close()
            train._early = None
