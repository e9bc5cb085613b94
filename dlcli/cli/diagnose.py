"""dlcli diagnose: the findings of a finished run (its health.json), or of a short run of a
config trained in a temporary place."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dlcli.cli.options import SetOpt, user_errors
from dlcli.jsonout import strict_json

if TYPE_CHECKING:
    from rich.console import RenderableType


def diagnose(
    target: Annotated[
        Path,
        typer.Argument(
            help="A finished run directory (made by dlcli train), or a YAML config to train "
            "for --iterations in a temporary directory.",
            metavar="RUN|CONFIG",
            show_default=False,
        ),
    ],
    iterations: Annotated[
        int | None,
        typer.Option(
            help="With a CONFIG: the iterations to train (default: the config's own).",
            show_default=False,
        ),
    ] = None,
    set_: SetOpt = None,
    json_out: Annotated[
        bool,
        typer.Option(
            "--json",
            help='Print only JSON on stdout: {"findings": [{"code": ..., "layer": ..., '
            '"message": ..., "suggestion": ..., ...}], "run": ..., "records": N, ...}.',
        ),
    ] = False,
) -> None:
    """Name what is wrong with a training run: symmetry, dead units, vanishing or exploding
    gradients, saturation, a learning rate too high or too low, a cost stuck at the class
    prior, overfitting.

    A RUN is read from its health.json (dlcli train writes it). A CONFIG is trained for
    --iterations (with any --set) in a temporary directory that is removed afterwards, so
    nothing is written here: a short look before a long run. See docs/health.md for every
    finding and its threshold.
    """
    with user_errors():
        from dlcli.checkup import diagnose as diagnose_target

        report = diagnose_target(target, iterations, set_)
    if json_out:
        keys = ("run", "config", "final_cost", "prior_cost", "base_rate", "accuracy")
        summary = {"findings": report["findings"], "records": len(report.get("records", []))}
        typer.echo(strict_json(summary | {k: report[k] for k in keys if k in report}))
        return
    from rich.console import Console

    console = Console(soft_wrap=True)
    for item in findings_report(report["findings"], healthy=True):
        console.print(item)


def findings_report(findings: list[dict[str, Any]], healthy: bool = False) -> list[RenderableType]:
    """A finding per paragraph: its code and layers in bold, the message, the suggestion;
    with ``healthy``, one line saying so when there are none."""
    from rich.text import Text

    if not findings:
        return [Text("no findings: the run looks healthy", style="green")] if healthy else []
    items: list[RenderableType] = []
    for f in findings:
        where = f" (layer{'s' if len(f['layers']) > 1 else ''} {', '.join(map(str, f['layers']))})"
        text = Text.assemble(
            (f["code"], "bold yellow"),
            where if f["layers"] else "",
            f": {f['message']}\n  try: {f['suggestion']}",
        )
        items.append(text)
    return items
