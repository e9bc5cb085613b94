"""dlcli sweep: every trial of a sweep file, locally or on a Dask cluster, and a results table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dlcli.cli.options import QuietOpt, user_errors
from dlcli.jsonout import strict_json


def sweep(
    sweep_file: Annotated[
        Path,
        typer.Argument(
            help="Sweep file: base (a config path or mapping), grid and/or random (see docs/sweep.md).",
            show_default=False,
        ),
    ],
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Local worker processes (default: the core count); each gets cores // workers BLAS threads.",
            show_default=False,
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            metavar="tcp://HOST:PORT",
            help="Run the trials on this Dask distributed scheduler instead (needs dlcli's dask extra).",
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume", help="Keep the trials this sweep directory finished; run the rest."
        ),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Sweep directory (default: the file's out:, else runs/<sweep name>).",
            show_default=False,
        ),
    ] = None,
    quiet: QuietOpt = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print only JSON on stdout: the trials, best first.")
    ] = False,
) -> None:
    """Train every trial of a sweep file and gather results.csv, sweep.png and a table.

    Each trial is a run directory <sweep dir>/trials/NNN. Every trial's config is checked before
    anything runs. A failed trial is recorded with its error, the others go on (exit code 1 at
    the end); --resume skips the trials already finished.
    """
    import os

    with user_errors():
        from dlcli.cli.faults import sweep_advice
        from dlcli.cli.progress import SweepProgress
        from dlcli.errors import WriteError
        from dlcli.sweep.executors import dask_executor, local_executor
        from dlcli.sweep.results import sort_results
        from dlcli.sweep.run import run_sweep
        from dlcli.sweep.spec import load_sweep

        plan = load_sweep(sweep_file, out)
        executor = (
            dask_executor(scheduler)
            if scheduler
            else local_executor(workers or os.cpu_count() or 1)
        )
        try:
            with SweepProgress(len(plan.trials), plan.metric, quiet or json_out) as progress:
                results = run_sweep(plan, executor, resume=resume, on_trial=progress)
        except WriteError as exc:
            exc.advice = sweep_advice(sweep_file, plan.out, workers, scheduler, exc)
            raise
        except KeyboardInterrupt:
            typer.secho(
                f"dlcli: sweep interrupted; finished trials are in {plan.out / 'results.csv'}. "
                f"Resume with: dlcli sweep {sweep_file} --out {plan.out} --resume",
                err=True,
                fg="yellow",
            )
            raise typer.Exit(130) from None
    ranked = sort_results(plan, results)
    failed = sum(r["status"] != "ok" for r in results)
    from dlcli.cli.render import count, show, sweep_report

    if json_out:
        typer.echo(
            strict_json(
                {
                    "sweep_dir": str(plan.out),
                    "metric": plan.metric,
                    "maximize": plan.maximize,
                    "trials": [r["row"] for r in ranked],
                }
            )
        )
    else:
        show(*sweep_report(plan.keys, plan.metric, ranked, plan.out))
    if failed:
        typer.secho(f"dlcli: {count(failed, 'trial')} failed; see results.csv", err=True, fg="red")
        raise typer.Exit(1)
