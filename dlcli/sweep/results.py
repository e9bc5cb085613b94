"""What a sweep keeps of its trials: one result per trial, results.csv and sweep.png."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from dlcli.errors import ConfigError, DlcliError
from dlcli.runs import COSTS
from dlcli.sweep.spec import METRICS, Sweep, Trial, is_number, value_text

RESULTS, PLOT = "results.csv", "sweep.png"


@dataclass
class TrialResult:
    """One trial's outcome, as every executor returns it and :func:`dlcli.sweep.run.run_sweep`
    reports it (through :meth:`to_dict`).

    status : "ok" or "failed"
    error : a DlcliError's kind and message, or the exception's type and message
    metrics : metrics.json's content
    costs : [iteration, cost] rows of costs.csv
    seconds : wall time of the whole run
    blas_threads : the BLAS threads the process had before any limit, from its environment
        (None for a trial not run in this sweep)
    row : its results.csv row, once the sweep has one
    values : the swept keys and this trial's value of each
    """

    index: int
    status: str = "ok"
    error: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    costs: list[list[float]] = field(default_factory=list)
    seconds: float = 0.0
    blas_threads: int | None = None
    row: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def failed(self, exc: BaseException) -> TrialResult:
        """This trial, marked failed by ``exc`` (raised by its run, or the death of its
        process): a DlcliError as its kind and message, anything else as its type."""
        self.status = "failed"
        self.error = (
            f"{exc.kind}: {exc}" if isinstance(exc, DlcliError) else f"{type(exc).__name__}: {exc}"
        )
        return self

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def read_costs(run_dir: Path) -> list[list[float]]:
    """[iteration, cost] of each row of a run's costs.csv; none before the run finished."""
    path = run_dir / COSTS
    if not path.is_file():
        return []
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    return [[float(r["iteration"]), float(r["cost"])] for r in rows]


def trial_row(sweep: Sweep, trial: Trial, result: TrialResult, run_dir: Path) -> dict[str, str]:
    """The trial's results.csv row: its swept values, metrics at full precision, its status."""
    row = {"trial": str(trial.index)}
    row |= {k: value_text(trial.values[k]) for k in sweep.keys}
    for name in METRICS[:-1]:
        if name in result.metrics:
            row[name] = repr(float(result.metrics[name]))
    row["seconds"] = f"{result.seconds:.3f}"
    row["status"] = result.status
    row["error"] = result.error
    row["run_dir"] = str(run_dir)
    return row


def _columns(sweep: Sweep, rows: list[dict[str, str]]) -> list[str]:
    present = {c for row in rows for c in row}
    metrics = [m for m in METRICS[:-1] if m in present]
    return ["trial", *sweep.keys, *metrics, "seconds", "status", "error", "run_dir"]


def results_csv(sweep: Sweep, rows: list[dict[str, str]]) -> str:
    """results.csv's text: one row per finished trial in trial order; metrics at full
    precision, swept values as YAML (JSON) tokens."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, _columns(sweep, rows), restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda r: int(r["trial"])))
    return buffer.getvalue()


def read_results(sweep: Sweep) -> dict[int, dict[str, str]]:
    """The rows of an earlier run of this sweep, by trial; refuses rows of another sweep."""
    path = sweep.out / RESULTS
    if not path.is_file():
        return {}
    rows = {int(r["trial"]): r for r in csv.DictReader(io.StringIO(path.read_text()))}
    for index, row in rows.items():
        if index >= len(sweep.trials) or any(
            row.get(k) != value_text(sweep.trials[index].values[k]) for k in sweep.keys
        ):
            raise ConfigError(
                f"--resume: {path}: trial {index} was run with other values than {sweep.source} "
                "gives now; resume with the same sweep file, or choose another --out"
            )
    return rows


def sort_results(sweep: Sweep, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Best first by the sweep's metric; trials without it (failed ones) last."""

    def key(result: dict[str, Any]) -> tuple[bool, float, int]:
        value = result["row"].get(sweep.metric)
        if value in (None, ""):
            return (True, 0.0, result["index"])
        number = float(value)
        return (False, -number if sweep.maximize else number, result["index"])

    return sorted(results, key=key)


def _label(values: dict[str, Any]) -> str:
    return ", ".join(f"{k.rpartition('.')[2]}={value_text(v)}" for k, v in values.items())


def plot_sweep(path: Path, sweep: Sweep, results: list[dict[str, Any]]) -> None:
    """sweep.png: every finished trial's cost curve on one plot, then the metric against
    each swept key (numbers on a numeric axis, log-scaled for loguniform keys; other values,
    such as layer lists, as categories)."""
    from matplotlib.figure import Figure

    panels = 1 + len(sweep.keys)
    fig = Figure(figsize=(5.5 * panels, 4.2), dpi=100)
    axes = fig.subplots(1, panels, squeeze=False)[0]
    ok = [r for r in results if r["status"] == "ok"]
    ax = axes[0]
    for result in ok:
        if result["costs"]:
            it, cost = zip(*result["costs"], strict=True)
            ax.plot(it, cost, label=_label(result["values"]))
    ax.set_xlabel("iteration")
    ax.set_ylabel("cost")
    ax.set_title(f"cost curves ({len(ok)} of {len(results)} trials)")
    if 0 < len(ok) <= 12:
        ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    measured = [r for r in ok if sweep.metric in r["row"] and r["row"][sweep.metric] != ""]
    for ax, key in zip(axes[1:], sweep.keys, strict=True):
        values = [r["values"][key] for r in measured]
        ys = [float(r["row"][sweep.metric]) for r in measured]
        if all(is_number(v) for v in values):
            ax.plot(values, ys, "o")
            if key in sweep.log_keys:
                ax.set_xscale("log")
        else:
            names = list(dict.fromkeys(value_text(v) for v in values))
            ax.plot([names.index(value_text(v)) for v in values], ys, "o")
            ax.set_xticks(range(len(names)), names, rotation=30, fontsize=8)
        ax.set_xlabel(key)
        ax.set_ylabel(sweep.metric)
        ax.set_title(f"{sweep.metric} against {key}")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png")
