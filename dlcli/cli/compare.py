"""dlcli compare: runs side by side, their cost curves on one plot and a table of their
metrics and of the config keys that differ."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dlcli.cli.options import user_errors
from dlcli.jsonout import strict_json

if TYPE_CHECKING:
    from rich.console import RenderableType

    from dlcli.compare import Comparison

#: The metrics the table shows, where any run has them (metrics.json keys).
SHOWN = (
    "final_cost",
    "train_accuracy",
    "validation_accuracy",
    "test_accuracy",
    "train_mse",
    "validation_mse",
    "test_mse",
    "train_seconds",
    "iterations",
)


def compare(
    runs: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Finished run directories (made by dlcli train), or sweep folders (made by "
            "dlcli sweep; each stands for its trials).",
            metavar="RUN",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path,
        typer.Option(help="The PNG of the cost curves.", metavar="FILE.png"),
    ] = Path("compare.png"),
    log: Annotated[bool, typer.Option("--log", help="A log-scale cost axis.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists.")] = False,
    json_out: Annotated[
        bool,
        typer.Option(
            "--json",
            help='Print only JSON on stdout: {"runs": [{"run": ..., "metrics": {...}}], '
            '"differences": {"train.learning_rate": [1.2, 0.5]} (each config key that differs, '
            'its value in each run), "plot": ..., "skipped": [...]}.',
        ),
    ] = False,
) -> None:
    """Put runs side by side: their cost curves on one plot, their metrics and the config
    keys whose values differ between them.

    The cost curves (costs.csv) of every run are drawn on one plot, each run's validation
    cost dashed in its colour, and written to --out. A table lists each run's final cost,
    accuracies (or mse), train_seconds and iterations (metrics.json), and each config key
    (config.yaml, as dotted keys such as train.learning_rate) whose value is not the same in
    every run. A sweep folder stands for its trials; trials that did not finish are left out
    and named.
    """
    with user_errors():
        from dlcli.compare import compare as compare_runs

        found = compare_runs(runs or [], out, force=force, log=log)
    if json_out:
        typer.echo(strict_json(found.to_json()))
        return
    from dlcli.cli.render import show

    show(*comparison_report(found))


def _cell(value: Any) -> str:
    """A config value as a short token, e.g. 1.2, tanh, [2, 4, 1]; "-" where absent."""
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value)


def _metric(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key.endswith("accuracy"):
        return f"{100 * value:.2f} %"
    if key == "train_seconds":
        return f"{value:.3f}"
    if isinstance(value, float):
        return f"{value:.6g}" if "mse" in key else f"{value:.6f}"
    return str(value)


def comparison_report(found: Comparison) -> list[RenderableType]:
    """A row per run: the differing config keys, then the metrics any run has."""
    from rich.table import Table
    from rich.text import Text

    keys = list(found.differences)
    shown = [m for m in SHOWN if any(m in r.metrics for r in found.runs)]
    table = Table(title=f"{len(found.runs)} run{'s' if len(found.runs) != 1 else ''}")
    table.add_column("run")
    for name in keys:
        table.add_column(name, style="bold")
    for name in shown:
        table.add_column(name, justify="right")
    for i, record in enumerate(found.runs):
        cells = [_cell(found.differences[k][i]) for k in keys]
        cells += [_metric(m, record.metrics.get(m)) for m in shown]
        table.add_row(record.run, *cells)
    items: list[RenderableType] = [table]
    if len(found.runs) > 1 and not keys:
        items.append(Text("the runs' configs are the same"))
    items += [Text(f"skipped (did not finish): {s}", style="yellow") for s in found.skipped]
    items.append(Text(f"cost curves in {found.plot}"))
    return items
