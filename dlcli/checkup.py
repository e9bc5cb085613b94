"""dlcli diagnose's work: the findings of a finished run, or of a short run of a config
trained in a temporary directory that is removed afterwards (nothing is written in the
project)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from dlcli.config import load_config
from dlcli.diagnosis import read_health
from dlcli.errors import ConfigError, DataError
from dlcli.job import run

#: What a config's name may end with.
CONFIG_SUFFIXES = (".yaml", ".yml")


def diagnose(
    target: Path, iterations: int | None = None, overrides: list[str] | None = None
) -> dict[str, Any]:
    """The health report (health.json's content) of ``target``: a finished run directory,
    or a YAML config trained for ``iterations`` (default: its own count) with ``overrides``
    (--set) in a temporary directory.

    Raises
    ------
    DataError
        ``target`` does not exist, or is a run directory without health.json.
    ConfigError
        --iterations or --set given with a run directory; any error of the config.
    """
    if target.is_file() and target.suffix in CONFIG_SUFFIXES:
        return _diagnose_config(target, iterations, overrides or [])
    if not target.exists():
        raise DataError(f"{target}: no such run directory or config file")
    if not target.is_dir():
        raise DataError(
            f"{target}: expected a run directory (made by dlcli train) or a YAML config "
            f"({', '.join(CONFIG_SUFFIXES)})"
        )
    if iterations is not None or overrides:
        given = "--iterations" if iterations is not None else "--set"
        raise ConfigError(
            f"{given}: applies to a config that diagnose trains; {target} is a finished run"
        )
    report = read_health(target)
    report["run"] = str(target)
    return report


def _diagnose_config(config: Path, iterations: int | None, overrides: list[str]) -> dict[str, Any]:
    """Train ``config`` for ``iterations`` in a temporary directory; its health report."""
    if iterations is not None:
        if iterations < 1:
            raise ConfigError(f"--iterations: {iterations}; expected a whole number >= 1")
        # epochs would take precedence over iterations (plan.iterations_of)
        overrides = [*overrides, f"train.iterations={iterations}", "train.epochs=null"]
    cfg = load_config(config, overrides)
    with tempfile.TemporaryDirectory(prefix="dlcli-diagnose-") as tmp:
        run_dir, metrics = run(cfg, name=config.stem, out=Path(tmp) / config.stem, pictures=False)
        report = read_health(run_dir)
    report["run"] = None
    report["config"] = str(config)
    report["final_cost"] = metrics["final_cost"]
    return report
