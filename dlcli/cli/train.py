"""dlcli train: a run directory from a config, or with --dry-run only its shape audit."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dlcli.cli.options import ConfigArg, QuietOpt, SetOpt, read_config, user_errors
from dlcli.jsonout import strict_json

if TYPE_CHECKING:
    from dlcli.config import Config
    from dlcli.costplot import PlotProcess

#: Whether this process is dlcli's own (set by ``dlcli.cli.main``): only there does a child
#: process drawing cost.png save time, since matplotlib would be imported for the one plot.
#: Under CliRunner (tests, a program calling the app) it is drawn in the process.
OWN_PROCESS = False

#: The child drawing cost.png, when :mod:`dlcli.__main__` started it before the CLI was
#: imported; :func:`train` takes it.
_early: PlotProcess | None = None


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
    quiet: QuietOpt = False,
    json_out: Annotated[
        bool,
        typer.Option(
            "--json", help="Print only JSON on stdout: the metrics, or the audit with --dry-run."
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Only audit: every W, b, Z, A, dZ, dW, db shape, the parameter count, FLOPs and "
            "memory per iteration, and whether the data fit model.layers; trains and writes nothing.",
        ),
    ] = False,
) -> None:
    """Train the network a config describes and write a run directory.

    The run directory holds config.yaml, checkpoint.h5, params.h5, costs.csv, metrics.json,
    cost.png, and health.json and health.png (statistics and findings: docs/health.md, which
    are printed after the metrics unless --quiet); <output.dir>/latest points at the newest
    finished run. Ctrl-C or SIGTERM saves a
    checkpoint and exits 130 / 143; --resume continues from it.
    """
    from dlcli.costplot import PlotProcess

    global _early
    plot, _early = _early, None
    if plot is None and OWN_PROCESS and not dry_run:
        # Started first, so the child imports matplotlib while this process imports the
        # rest, loads the data and trains.
        plot = PlotProcess()
    with plot if plot is not None else nullcontext():
        _train(config, set_, out, resume, force, quiet, json_out, dry_run, plot)


def _train(
    config: Path,
    set_: list[str] | None,
    out: Path | None,
    resume: bool,
    force: bool,
    quiet: bool,
    json_out: bool,
    dry_run: bool,
    plot: PlotProcess | None,
) -> None:
    """The train command's work, with ``plot`` the child drawing cost.png, if any."""
    from dlcli.cli.faults import train_advice
    from dlcli.cli.progress import StopOnSignal, TrainProgress
    from dlcli.errors import WriteError
    from dlcli.job import run
    from dlcli.training.state import StopTraining

    with user_errors():
        cfg = read_config(config, set_)
        if dry_run:
            _dry_run(cfg, json_out)
            return
        try:
            with (
                StopOnSignal() as stop,
                TrainProgress(cfg.train.iterations, cfg.train.log_every, quiet) as progress,
            ):

                def callback(i: int, cost: float) -> None:
                    if stop.requested:
                        raise StopTraining()
                    progress(i, cost)

                run_dir, metrics = run(
                    cfg,
                    name=config.stem,
                    out=out,
                    callback=callback,
                    resume=resume,
                    force=force,
                    on_start=progress.start,
                    plot=plot,
                )
        except WriteError as exc:
            flags = ["--resume"] * resume + ["--force"] * force
            exc.advice = train_advice(config, set_, out, flags, exc)
            raise
        except StopTraining as stopped:
            again = f"dlcli train {config} --out {stopped.run_dir} --resume"
            typer.secho(
                f"dlcli: interrupted at iteration {stopped.iteration} of {stopped.total}; "
                f"checkpoint saved in {stopped.run_dir}. Resume with: {again}",
                err=True,
                fg="yellow",
            )
            raise typer.Exit(128 + (stop.signum or 2)) from None
    if json_out:
        typer.echo(strict_json(metrics))
        return
    from rich.console import Console

    from dlcli.cli.render import metrics_table

    console = Console(soft_wrap=True)
    console.print(metrics_table(metrics))
    if not quiet:  # the findings of health.json (docs/health.md); a healthy run has none
        from dlcli.cli.diagnose import findings_report
        from dlcli.diagnosis import read_health

        for item in findings_report(read_health(run_dir)["findings"]):
            console.print(item)


def _dry_run(cfg: Config, json_out: bool) -> None:
    """Print the shape audit of a config; a data mismatch is shown, then raised (exit 1)."""
    from dlcli.audit import audit_config
    from dlcli.errors import ConfigError

    report = audit_config(cfg)
    if json_out:
        typer.echo(json.dumps(report.to_dict()))
    else:
        from dlcli.cli.render import audit_report, show

        items = audit_report(report)
        show(*items, fit=items[:1])
    if report.mismatch is not None:
        raise ConfigError(report.mismatch)
