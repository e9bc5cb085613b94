"""Runs side by side (``dlcli compare``): their cost curves on one plot, their metrics, and
the config keys whose values differ between them.

A run is a finished run directory (config.yaml, costs.csv and metrics.json). A sweep's
folder (or its ``trials/`` folder) stands for its trials' run directories; a trial that did
not finish is left out and named in :attr:`Comparison.skipped`. Everything is read and
checked before the plot is written, so bad input writes nothing.

Above :mod:`dlcli.sweep`, whose trials folder it expands; only the CLI imports it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dlcli.errors import DataError, DlcliError
from dlcli.fileio import atomic_write
from dlcli.runs import CONFIG, COSTS, METRICS, is_run
from dlcli.sweep.run import TRIALS

#: More runs than this and the plot has no legend (it would cover the curves); the table
#: still names every run.
MAX_LEGEND = 15
#: A missing key (a config written before the key existed) shows as this in differences.
ABSENT = None


@dataclass(frozen=True)
class RunRecord:
    """One finished run, as compare reads it.

    run : the run directory as given (or as found in a sweep folder)
    metrics : metrics.json's content
    config : config.yaml flattened into dotted keys (``train.learning_rate``)
    costs : costs.csv's columns by name (``iteration``, ``cost`` and, with validation data,
        ``validation_cost``, ...), each a list of one float per row
    """

    run: str
    metrics: dict[str, Any]
    config: dict[str, Any]
    costs: dict[str, list[float]]


@dataclass
class Comparison:
    """What ``dlcli compare`` shows.

    runs : the runs, in the order given (a sweep's trials in trial order)
    differences : each config key whose value is not the same in every run, with its value
        in each run (None where a run's config lacks the key)
    skipped : the sweep trials left out because they did not finish
    plot : the PNG written
    """

    runs: list[RunRecord]
    differences: dict[str, list[Any]]
    plot: Path
    skipped: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """``{"runs": [{"run", "metrics"}], "differences": {key: [v1, v2, ...]}, "plot",
        "skipped"}``, as ``--json`` prints it."""
        return {
            "runs": [{"run": r.run, "metrics": r.metrics} for r in self.runs],
            "differences": self.differences,
            "plot": str(self.plot),
            "skipped": self.skipped,
        }


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested mapping as dotted keys: ``{"train": {"learning_rate": 1.2}}`` ->
    ``{"train.learning_rate": 1.2}``. Lists (``model.layers``) stay whole values."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat |= flatten(value, f"{name}.")
        else:
            flat[name] = value
    return flat


def differences(configs: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    """The dotted keys whose values are not all the same across ``configs`` (flattened),
    each with its value in every config (:data:`ABSENT` where one lacks it); keys in the
    order they first appear."""
    keys = list(dict.fromkeys(k for c in configs for k in c))
    found: dict[str, list[Any]] = {}
    for key in keys:
        values = [c.get(key, ABSENT) for c in configs]
        if any(_differ(values[0], v) for v in values[1:]):
            found[key] = values
    return found


def _differ(a: Any, b: Any) -> bool:
    """Whether two config values differ (1 and 1.0 are the same; NaN is never in a config,
    the schema refuses it)."""
    if type(a) is not type(b) and not _both_numbers(a, b):
        return True  # True == 1 in Python, but not in a config
    return a != b


def _both_numbers(a: Any, b: Any) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))


def _expand(path: Path) -> tuple[list[Path], list[str]]:
    """The run directories ``path`` stands for: itself (a run), or a sweep folder's trials
    (``path/trials/*``, or ``path/*`` for the trials folder itself) that finished; the
    unfinished trials are returned apart."""
    if not path.exists():
        raise DlcliError(f"RUN {path}: no such folder")
    if not path.is_dir():
        raise DlcliError(
            f"RUN {path}: not a folder; pass run directories (made by dlcli train) or sweep "
            "folders (made by dlcli sweep)"
        )
    if is_run(path):
        return [path], []
    trials = path / TRIALS if (path / TRIALS).is_dir() else path
    # Not the ``latest`` link that each finished trial points at itself.
    found = sorted(p for p in trials.iterdir() if is_run(p) and not p.is_symlink())
    if not found:
        raise DlcliError(
            f"RUN {path}: not a run directory (no {CONFIG}, params.h5 or checkpoint.h5) nor a "
            f"sweep folder ({TRIALS}/ of run directories); pass folders made by dlcli train "
            "or dlcli sweep"
        )
    done = [p for p in found if (p / METRICS).is_file()]
    return done, [str(p) for p in found if p not in done]


def find_runs(paths: Sequence[Path]) -> tuple[list[Path], list[str]]:
    """Every finished run ``paths`` stand for, each once, in order, and the sweep trials
    left out because they did not finish.

    Raises
    ------
    DlcliError
        For a path that is neither a run nor a sweep folder, a run that did not finish, or
        no finished run at all.
    """
    if not paths:
        raise DlcliError(
            "RUN: no run given; pass one or more run directories or sweep folders, e.g. "
            "dlcli compare runs/flower runs/flower-2"
        )
    runs: list[Path] = []
    skipped: list[str] = []
    for path in paths:
        if is_run(path) and not (path / METRICS).is_file():
            raise DlcliError(
                f"RUN {path}: holds no {METRICS}, the run did not finish; resume it with "
                f"dlcli train CONFIG --out {path} --resume, or leave it out"
            )
        found, unfinished = _expand(path)
        runs += found
        skipped += unfinished
    unique: dict[Path, Path] = {}  # each run once (a run and a link to it are one)
    for path in runs:
        unique.setdefault(path.resolve(), path)
    if not unique:
        raise DlcliError(
            f"RUN: no finished run in {', '.join(map(str, paths))} (the trials there did not "
            "finish)"
        )
    return list(unique.values()), skipped


def _read_mapping(path: Path) -> dict[str, Any]:
    """metrics.json (JSON) or config.yaml (YAML) as the mapping it must hold."""
    kind = "JSON" if path.suffix == ".json" else "YAML"
    errors = (json.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError)
    try:
        text = path.read_text()
        value = json.loads(text) if kind == "JSON" else yaml.safe_load(text)
    except errors as exc:
        raise DataError(f"{path}: not {kind} ({' '.join(str(exc).split())})") from None
    if not isinstance(value, dict):
        raise DataError(f"{path}: holds a {type(value).__name__}; allowed: a {kind} mapping")
    return value


def read_costs(path: Path) -> dict[str, list[float]]:
    """costs.csv's columns by name, one float per row.

    Raises
    ------
    DataError
        Naming the line and column of a cell that is not a number, or a header without
        ``iteration`` and ``cost``.
    """
    try:
        rows = list(csv.reader(io.StringIO(path.read_text())))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not text ({exc})") from None
    header = rows[0] if rows else []
    if "iteration" not in header or "cost" not in header:
        raise DataError(
            f"{path}: line 1: header {','.join(header)!r}; allowed: iteration,epoch,cost "
            "(and validation_cost,validation_accuracy), as dlcli train writes it"
        )
    columns: dict[str, list[float]] = {name: [] for name in header}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DataError(f"{path}: line {line}: {len(row)} cells; the header has {len(header)}")
        for name, cell in zip(header, row, strict=True):
            try:
                columns[name].append(float(cell))
            except ValueError:
                raise DataError(
                    f"{path}: line {line}, column {name!r}: {cell!r} is not a number"
                ) from None
    return columns


def read_run(path: Path) -> RunRecord:
    """A finished run directory's metrics, flattened config and cost log."""
    missing = [name for name in (CONFIG, COSTS) if not (path / name).is_file()]
    if missing:
        raise DataError(
            f"RUN {path}: holds {METRICS} but no {' or '.join(missing)}; a finished run holds "
            f"{CONFIG}, {COSTS} and {METRICS}"
        )
    return RunRecord(
        str(path),
        _read_mapping(path / METRICS),
        flatten(_read_mapping(path / CONFIG)),
        read_costs(path / COSTS),
    )


def check_out(out: Path, force: bool) -> None:
    """Refuse an ``--out`` that exists (without ``force``), is a folder, or whose folder
    does not exist."""
    if out.is_dir():
        raise DlcliError(f"--out {out}: is a folder; pass a file name such as compare.png")
    if out.exists() and not force:
        raise DlcliError(f"--out {out}: already exists; pass --force to replace it")
    if not out.parent.is_dir():
        raise DlcliError(f"--out {out}: the folder {out.parent} does not exist")


def plot_compare(path: Path, runs: Sequence[RunRecord], log: bool = False) -> None:
    """The runs' cost curves on one plot, each run's validation cost dashed in its colour;
    a log-scale cost axis with ``log`` (Agg, no pyplot state)."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    palette = colormaps["tab10" if len(runs) <= 10 else "viridis"]
    fig = Figure(figsize=(7, 4.5), dpi=100)
    ax = fig.subplots()
    for i, record in enumerate(runs):
        colour = palette(i if len(runs) <= 10 else i / max(1, len(runs) - 1))
        x = record.costs["iteration"]
        ax.plot(x, record.costs["cost"], color=colour, label=record.run)
        if "validation_cost" in record.costs:
            ax.plot(x, record.costs["validation_cost"], color=colour, linestyle="--")
    if log:
        ax.set_yscale("log")
    if len(runs) <= MAX_LEGEND:
        ax.legend(fontsize="small")
    dashed = any("validation_cost" in r.costs for r in runs)
    ax.set_title(f"cost of {len(runs)} runs" + (" (dashed: validation)" if dashed else ""))
    ax.set_xlabel("iteration")
    ax.set_ylabel("cost" + (" (log scale)" if log else ""))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png")


def compare(
    paths: Sequence[Path], out: Path, *, force: bool = False, log: bool = False
) -> Comparison:
    """Read the runs ``paths`` stand for, find the config keys that differ, and write the
    cost curves to ``out``.

    Parameters
    ----------
    paths : run directories and sweep folders (see :func:`find_runs`)
    out : the PNG to write; refused if it exists, unless ``force``
    log : a log-scale cost axis
    """
    check_out(out, force)
    found, skipped = find_runs(paths)
    records = [read_run(p) for p in found]
    diff = differences([r.config for r in records])
    atomic_write(out, lambda tmp: plot_compare(tmp, records, log))
    return Comparison(records, diff, out, skipped)
