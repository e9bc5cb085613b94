"""Running a sweep: one trial into its run directory, and every trial not finished yet
through an executor, gathering results.csv and sweep.png as trials finish.

Nothing here prints: progress reaches the caller through ``on_trial(result, done, total)``.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from dlcli import runs
from dlcli.config import Config
from dlcli.errors import ConfigError, DlcliError, WriteError
from dlcli.fileio import atomic_write, write_text, writing
from dlcli.job import config_changes, run
from dlcli.sweep.results import (
    PLOT,
    RESULTS,
    TrialResult,
    plot_sweep,
    read_costs,
    read_results,
    results_csv,
    trial_row,
)
from dlcli.sweep.spec import Sweep, Trial
from dlcli.sysinfo import limit_blas_threads

TRIALS = "trials"

Job = tuple[int, Config, str]
Executor = Callable[[list[Job]], Iterator[TrialResult]]


def run_trial(index: int, cfg: Config, run_dir: str, blas_threads: int | None) -> TrialResult:
    """Train one trial into ``run_dir``; never raises for a trial's own failure, only for
    a :class:`WriteError` (a full or read-only disk stops the whole sweep).

    The one function every executor calls (top level, so it pickles by name). With
    ``blas_threads``, BLAS is limited to that many threads for the run (threadpoolctl; the
    local executor also sets the environment before NumPy loads).

    Returns
    -------
    TrialResult
        ``blas_threads`` is the BLAS threads the process had before any limit, from its
        environment (None where no BLAS is loaded).
    """
    # Read before any limit is applied: what the worker's environment gave BLAS at start.
    blas_at_start = _blas_threads_now()
    limit: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    if blas_threads is not None:
        limit = limit_blas_threads(blas_threads)
    start = time.perf_counter()
    result = TrialResult(index, blas_threads=blas_at_start)
    try:
        with limit:
            out = Path(run_dir)
            out, result.metrics = run(cfg, name=out.name, out=out, force=out.exists())
        result.costs = read_costs(out)
    except WriteError:  # the sweep's disk is the others' too: the sweep stops, resumable
        raise
    except Exception as exc:  # a bug in one trial must not end the others; it is recorded
        result.failed(exc)
    result.seconds = time.perf_counter() - start
    return result


def _blas_threads_now() -> int | None:
    """The most threads a loaded BLAS library may use now (threadpoolctl), or None."""
    from threadpoolctl import threadpool_info

    counts = [lib["num_threads"] for lib in threadpool_info() if lib.get("user_api") == "blas"]
    return max(counts, default=None)


def trial_dir(sweep: Sweep, index: int) -> Path:
    width = max(3, len(str(len(sweep.trials) - 1)))
    return (sweep.out / TRIALS / f"{index:0{width}d}").absolute()


def _check_same_config(trial: Trial, run_dir: Path) -> None:
    """Refuse to keep a finished trial whose run used another config (a changed base or set:)."""
    changed = config_changes(trial.config, run_dir)
    if changed:
        raise ConfigError(
            f"--resume: trial {trial.index} in {run_dir} was trained with another config "
            f"({'; '.join(changed)}); resume with the same sweep and base config, or choose another --out"
        )


def _finished_earlier(sweep: Sweep) -> dict[int, TrialResult]:
    """The trials an earlier run of this sweep finished: a row with status ok and a run
    directory with metrics.json, trained with the config the sweep gives now."""
    done: dict[int, TrialResult] = {}
    for index, row in read_results(sweep).items():
        run_dir = Path(row["run_dir"])
        if row["status"] == "ok" and (run_dir / runs.METRICS).is_file():
            _check_same_config(sweep.trials[index], run_dir)
            done[index] = TrialResult(
                index,
                metrics=json.loads((run_dir / runs.METRICS).read_text()),
                costs=read_costs(run_dir),
                seconds=float(row["seconds"]),
                row=row,
                values=sweep.trials[index].values,
            )
    return done


def run_sweep(
    sweep: Sweep,
    executor: Executor,
    *,
    resume: bool = False,
    on_trial: Callable[[dict[str, Any], int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every trial not finished yet, gather results.csv and sweep.png.

    Parameters
    ----------
    resume : keep the trials an earlier run of this sweep finished (a row with status ok and
        a run directory with metrics.json); rerun the others
    on_trial : called with each trial's result (:meth:`TrialResult.to_dict`) and the counts
        done and total

    Returns
    -------
    One result per trial, in trial order, each :meth:`TrialResult.to_dict`: ``index``,
    ``values``, ``row`` (its results.csv row), ``status``, ``error``, ``metrics``, ``costs``,
    ``seconds``, ``blas_threads``.
    """
    results_path = sweep.out / RESULTS
    if not resume and sweep.out.exists() and (not sweep.out.is_dir() or any(sweep.out.iterdir())):
        raise DlcliError(
            f"--out {sweep.out}: already holds files; add --resume to continue that sweep, "
            "or choose another --out"
        )
    done = _finished_earlier(sweep) if resume else {}
    with writing(sweep.out / TRIALS):
        (sweep.out / TRIALS).mkdir(parents=True, exist_ok=True)
    total = len(sweep.trials)
    for count, result in enumerate(done.values(), start=1):
        if on_trial is not None:
            on_trial(result.to_dict(), count, total)
    jobs = [
        (t.index, t.config, str(trial_dir(sweep, t.index)))
        for t in sweep.trials
        if t.index not in done
    ]
    for result in executor(jobs):  # with no jobs too: the executor closes what it opened
        trial = sweep.trials[result.index]
        result.row = trial_row(sweep, trial, result, trial_dir(sweep, trial.index))
        result.values = trial.values
        done[result.index] = result
        write_text(results_path, results_csv(sweep, [r.row for r in done.values()]))
        if on_trial is not None:
            on_trial(result.to_dict(), len(done), total)
    write_text(results_path, results_csv(sweep, [r.row for r in done.values()]))
    ordered = [done[t.index].to_dict() for t in sweep.trials]
    atomic_write(sweep.out / PLOT, lambda tmp: plot_sweep(tmp, sweep, ordered))
    return ordered
