"""The command line: one short function per command over the pure core.

Errors a user can cause (:class:`DlcliError`) are printed on one line to stderr with exit
code 1; anything else is a bug and keeps its traceback. Heavy modules load inside commands
so ``dlcli --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from dlcli import __version__
from dlcli.errors import DlcliError

app = typer.Typer(
    help="Train fully connected neural networks written from scratch in NumPy, from a YAML config.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

ConfigArg = Annotated[
    Path,
    typer.Argument(help="YAML config file (see the README for every key).", show_default=False),
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


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn a DlcliError into one red line on stderr and exit code 1."""
    try:
        yield
    except DlcliError as exc:
        typer.secho(f"dlcli: {exc.kind}: {exc}", err=True, fg="red")
        raise typer.Exit(1) from None


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


class _Progress:
    """Shows training progress on stderr: a Rich bar on a terminal, plain lines elsewhere."""

    def __init__(self, total: int, log_every: int, quiet: bool) -> None:
        self.total, self.log_every, self.quiet = total, log_every, quiet
        self.bar = None
        if not quiet and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("training"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("cost {task.fields[cost]:.6f}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self.task = self.bar.add_task("train", total=total, cost=float("nan"))

    def __enter__(self) -> _Progress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, i: int, cost: float) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=i + 1, cost=cost)
        elif not self.quiet and (i % self.log_every == 0 or i == self.total - 1):
            print(
                f"iteration {i:>{len(str(self.total))}}/{self.total}  cost {cost:.6f}",
                file=sys.stderr,
                flush=True,
            )


class _StopOnSignal:
    """While active, SIGINT and SIGTERM ask training to stop at the next iteration boundary
    (the core then checkpoints) instead of killing it mid-update."""

    SIGNALS = ("SIGINT", "SIGTERM")

    def __init__(self) -> None:
        self.signum: int | None = None
        self.saved: dict[int, object] = {}

    def __enter__(self) -> _StopOnSignal:
        import signal

        for name in self.SIGNALS:
            signum = getattr(signal, name)
            self.saved[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        import signal

        for signum, handler in self.saved.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: object) -> None:
        self.signum = signum

    def check(self) -> None:
        if self.signum is not None:
            from dlcli.train import StopTraining

            raise StopTraining()


@app.command()
def train(
    config: ConfigArg,
    set_: SetOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Run directory to write (default <output.dir>/<config name>); a taken one gets -2, -3, ...",
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue from the last checkpoint: the run in --out, or the newest run of this config.",
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace the run already in --out instead of making DIR-2."),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print only the metrics JSON on stdout.")
    ] = False,
) -> None:
    """Train the network a config describes and write a run directory.

    The run directory holds config.yaml, checkpoint.h5, params.h5, costs.csv, metrics.json and
    cost.png; <output.dir>/latest points at the newest finished run. Ctrl-C or SIGTERM saves a
    checkpoint and exits 130 / 143; --resume continues from it.
    """
    from dlcli.train import StopTraining

    with user_errors():
        from dlcli.config import load_config
        from dlcli.train import run

        cfg = load_config(config, set_ or [])
        try:
            with (
                _StopOnSignal() as stop,
                _Progress(cfg.train.iterations, cfg.train.log_every, quiet) as progress,
            ):

                def callback(i: int, cost: float) -> None:
                    stop.check()
                    progress(i, cost)

                _, metrics = run(
                    cfg, name=config.stem, out=out, callback=callback, resume=resume, force=force
                )
        except StopTraining as stopped:
            again = f"dlcli train {config} --out {stopped.run_dir} --resume"
            typer.secho(
                f"dlcli: interrupted at iteration {stopped.iteration} of {cfg.train.iterations}; "
                f"checkpoint saved in {stopped.run_dir}. Resume with: {again}",
                err=True,
                fg="yellow",
            )
            raise typer.Exit(128 + (stop.signum or 2)) from None
    if json_out:
        typer.echo(json.dumps(metrics))
        return
    _print_metrics(metrics)


def _print_metrics(metrics: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for key in (
        "final_cost",
        "train_accuracy",
        "test_accuracy",
        "iterations",
        "train_seconds",
        "engine",
        "run_dir",
    ):
        if key in metrics:
            value = metrics[key]
            if key.endswith("accuracy"):
                value = f"{100 * value:.2f} %"
            elif isinstance(value, float):
                value = f"{value:.6f}" if key == "final_cost" else f"{value:.3f}"
            table.add_row(key, str(value))
    Console(soft_wrap=True).print(table)


def main() -> None:
    app()
