"""Sweeps: many runs of one base config, each with some keys changed.

A sweep file names a base config, a ``grid:`` (a list of values per dotted key: every
combination runs) and/or a ``random:`` section (``trials`` draws from seeded
distributions). Each trial is an ordinary run directory ``<sweep dir>/trials/<NNN>``; the
sweep directory gathers ``results.csv`` (rewritten whole, atomically, after every finished
trial) and ``sweep.png``. Every trial's config is validated before anything runs.

Trials run through an executor: local processes (``spawn``, each limited to
``max(1, cores // workers)`` BLAS threads so the workers do not oversubscribe the cores) or
a Dask distributed cluster. Both call the same top-level :func:`run_trial`.

Nothing here prints: progress reaches the caller through ``on_trial(result, done, total)``.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import itertools
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dlcli.config import Config, apply_overrides, read_yaml, validate
from dlcli.errors import ConfigError, DlcliError

RESULTS, PLOT, TRIALS = "results.csv", "sweep.png", "trials"
DISTRIBUTIONS = ("uniform", "loguniform", "int", "choice")
SPLITS = ("train", "validation", "test")
METRICS = (
    "final_cost",
    *(f"{s}_{m}" for s in SPLITS for m in ("accuracy", "mse", "mae", "r2")),
    "seconds",
)
#: Metrics where larger is better; the others (costs, errors, seconds) are minimized.
HIGHER_IS_BETTER = ("accuracy", "r2")
MAX_TRIALS = 100_000
BLAS_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class _SweepFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base: str | dict[str, Any]
    set: list[str] = Field(default_factory=list)
    grid: dict[str, Annotated[list[Any], Field(min_length=1)]] = Field(default_factory=dict)
    random: dict[str, Any] | None = None
    metric: str = "final_cost"
    maximize: bool | None = None
    out: str | None = None


@dataclass(frozen=True)
class Trial:
    """One run of a sweep.

    index : 0, 1, ... in the order the trials were expanded
    values : the swept keys and this trial's value of each, in the sweep file's order
    config : the base config with ``values`` applied, validated, paths made absolute
    """

    index: int
    values: dict[str, Any]
    config: Config

    @property
    def overrides(self) -> list[str]:
        """The ``--set`` arguments that make this trial from the base config."""
        return [f"{key}={_text(value)}" for key, value in self.values.items()]


@dataclass(frozen=True)
class Sweep:
    """A sweep file, expanded and validated."""

    source: str
    trials: list[Trial]
    keys: list[str]
    metric: str
    maximize: bool
    out: Path
    log_keys: set[str] = field(default_factory=set)


def _text(value: Any) -> str:
    """A value as one YAML (JSON) token that reads back to the same value, floats bit for bit."""
    return json.dumps(value)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _distribution(key: str, spec: Any, source: str) -> tuple[str, list[Any]]:
    where = f"{source}: random: {key}"
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
        raise ConfigError(
            f"{where}: expected one distribution, {{uniform: [a, b]}}, {{loguniform: [a, b]}}, "
            f"{{int: [a, b]}} or {{choice: [v1, v2, ...]}}, found {spec!r}"
        )
    kind, args = next(iter(spec.items()))
    if kind == "choice":
        if not isinstance(args, list) or not args:
            raise ConfigError(f"{where}: choice needs a non-empty list of values, found {args!r}")
        return kind, args
    ok = isinstance(args, list) and len(args) == 2 and all(_number(a) for a in args)
    ok = ok and args[0] <= args[1]
    if kind == "int":
        ok = ok and all(isinstance(a, int) for a in args)
    if kind == "loguniform":
        ok = ok and args[0] > 0
    if not ok:
        need = {"int": "two integers", "loguniform": "two numbers 0 < a"}.get(kind, "two numbers")
        raise ConfigError(f"{where}: {kind} needs [a, b], {need} with a <= b, found {args!r}")
    return kind, args


def _draw(rng: Any, kind: str, args: list[Any]) -> Any:
    if kind == "uniform":
        return float(rng.uniform(args[0], args[1]))
    if kind == "loguniform":
        return float(math.exp(rng.uniform(math.log(args[0]), math.log(args[1]))))
    if kind == "int":
        return int(rng.integers(args[0], args[1], endpoint=True))
    return args[int(rng.integers(len(args)))]  # choice


def _random_points(spec: dict[str, Any], source: str) -> tuple[list[dict[str, Any]], set[str]]:
    """``trials`` draws of every key of a ``random:`` section, from default_rng(seed), in
    trial order and, within a trial, in the file's key order."""
    import numpy as np

    trials, seed = spec.get("trials"), spec.get("seed", 1)
    if not isinstance(trials, int) or isinstance(trials, bool) or not 1 <= trials <= MAX_TRIALS:
        raise ConfigError(
            f"{source}: random: trials: must be an integer from 1 to 100000, found {trials!r}"
        )
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise ConfigError(
            f"{source}: random: seed: must be an integer from 0 to 2^32-1, found {seed!r}"
        )
    dists = {k: _distribution(k, v, source) for k, v in spec.items() if k not in ("trials", "seed")}
    if not dists:
        raise ConfigError(
            f"{source}: random: names no key to draw; add e.g. train.learning_rate: {{loguniform: [0.001, 1]}}"
        )
    rng = np.random.default_rng(seed)
    points = [{k: _draw(rng, *d) for k, d in dists.items()} for _ in range(trials)]
    return points, {k for k, (kind, _) in dists.items() if kind == "loguniform"}


def _absolute(cfg: Config) -> Config:
    """The config with its relative file paths made absolute, so a worker started in another
    directory reads the same files."""
    data = {
        k: Path(v).absolute()
        for k in ("train", "test", "validation")
        if (v := getattr(cfg.data, k)) is not None
    }
    update: dict[str, Any] = {"data": cfg.data.model_copy(update=data)}
    if cfg.init.from_ is not None:
        update["init"] = cfg.init.model_copy(update={"from_": cfg.init.from_.absolute()})
    return cfg.model_copy(update=update)


def _base_raw(base: str | dict[str, Any], source: str) -> tuple[dict[str, Any], str]:
    if isinstance(base, dict):
        return base, f"{source}: base"
    path = Path(base)
    if not path.is_file():
        raise ConfigError(
            f"{source}: base: {base}: no such config file (relative paths are taken from the "
            "current directory)"
        )
    raw = read_yaml(path, base)
    if not isinstance(raw, dict):
        raise ConfigError(f"{base}: expected a mapping of sections (data, model, ...)")
    return raw, base


def load_sweep(path: Path, out: Path | None = None) -> Sweep:
    """Read a sweep file, expand its trials and validate every trial's config.

    Raises ConfigError, naming the sweep file (and the trial), before anything runs.
    """
    source = str(path)
    if not path.is_file():
        raise ConfigError(f"{source}: no such sweep file")
    raw = read_yaml(path, source)
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping with base and grid and/or random")
    try:
        spec = _SweepFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ": ".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            msg = "unknown key; allowed here: base, set, grid, random, metric, maximize, out"
        elif err["type"] == "missing":
            msg = "required key is missing"
        else:
            msg = err["msg"].replace("Input should be", "must be")
        raise ConfigError(f"{source}: {where}: {msg}") from None
    if spec.metric not in METRICS:
        raise ConfigError(f"{source}: metric: {spec.metric!r} is not one of {', '.join(METRICS)}")
    points: list[dict[str, Any]] = [{}]
    log_keys: set[str] = set()
    if spec.random is not None:
        points, log_keys = _random_points(spec.random, source)
    both = sorted(set(spec.grid) & set(points[0]))
    if both:
        raise ConfigError(f"{source}: {both[0]}: is in both grid and random; sweep it in one")
    if not spec.grid and spec.random is None:
        raise ConfigError(f"{source}: needs grid: or random: (the keys to sweep)")
    count = len(points) * math.prod(len(v) for v in spec.grid.values())
    if count > MAX_TRIALS:
        raise ConfigError(
            f"{source}: expands to {count} trials, more than {MAX_TRIALS}; sweep fewer values"
        )
    grid = [
        dict(zip(spec.grid, combo, strict=True)) for combo in itertools.product(*spec.grid.values())
    ]
    base, base_source = _base_raw(spec.base, source)
    try:
        base = apply_overrides(copy.deepcopy(base), spec.set)
    except ConfigError as exc:
        raise ConfigError(f"{source}: set: {exc}") from None
    fixed = {item.partition("=")[0].strip() for item in spec.set}
    trials = []
    for index, values in enumerate(g | r for r in points for g in grid):
        sets = [f"{k}={_text(v)}" for k, v in values.items()]
        try:
            cfg = validate(
                apply_overrides(copy.deepcopy(base), sets), base_source, {*values, *fixed}
            )
        except ConfigError as exc:
            raise ConfigError(f"{source}: trial {index} ({', '.join(sets)}): {exc}") from None
        trials.append(Trial(index, values, _absolute(cfg)))
    maximize = spec.maximize
    if maximize is None:
        maximize = spec.metric.endswith(HIGHER_IS_BETTER)
    return Sweep(
        source,
        trials,
        [*spec.grid, *points[0]],
        spec.metric,
        maximize,
        out or Path(spec.out or Path("runs") / path.stem),
        log_keys,
    )


# ---------------------------------------------------------------- running one trial


def run_trial(index: int, cfg: Config, run_dir: str, blas_threads: int | None) -> dict[str, Any]:
    """Train one trial into ``run_dir``; never raises for a trial's own failure.

    The one function every executor calls (top level, so it pickles by name). With
    ``blas_threads``, BLAS is limited to that many threads for the run (threadpoolctl,
    where installed; the local executor also sets the environment before NumPy loads).

    Returns
    -------
    dict with ``index``, ``status`` ("ok" or "failed"), ``error`` (a DlcliError's kind and
    message, or the exception's type and message), ``metrics`` (metrics.json's content),
    ``costs`` ([iteration, cost] rows), ``seconds`` (wall time of the whole run),
    ``blas_threads`` (the BLAS threads the process had before any limit, from its
    environment; None without threadpoolctl)
    """
    from dlcli.train import run

    # Read before any limit is applied: what the worker's environment gave BLAS at start.
    blas_at_start = _blas_threads_now()
    limit: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    if blas_threads is not None:
        with contextlib.suppress(ImportError):
            from threadpoolctl import threadpool_limits

            limit = threadpool_limits(limits=blas_threads, user_api="blas")
    start = time.perf_counter()
    result: dict[str, Any] = {
        "index": index,
        "status": "ok",
        "error": "",
        "metrics": {},
        "costs": [],
        "blas_threads": blas_at_start,
    }
    try:
        with limit:
            out = Path(run_dir)
            out, metrics = run(cfg, name=out.name, out=out, force=out.exists())
        result["metrics"] = metrics
        result["costs"] = _read_costs(out)
    except DlcliError as exc:
        result |= {"status": "failed", "error": f"{exc.kind}: {exc}"}
    except Exception as exc:  # a bug in one trial must not end the others; it is recorded
        result |= {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    result["seconds"] = time.perf_counter() - start
    return result


def _blas_threads_now() -> int | None:
    """The most threads a loaded BLAS library may use now (threadpoolctl), or None."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    counts = [lib["num_threads"] for lib in threadpool_info() if lib.get("user_api") == "blas"]
    return max(counts, default=None)


def _read_costs(run_dir: Path) -> list[list[float]]:
    path = run_dir / "costs.csv"
    if not path.is_file():
        return []
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    return [[float(r["iteration"]), float(r["cost"])] for r in rows]


def blas_threads_per_worker(workers: int) -> int:
    """BLAS threads each of ``workers`` local processes may use: max(1, cores // workers)."""
    return max(1, (os.cpu_count() or 1) // workers)


@contextlib.contextmanager
def _blas_environment(threads: int) -> Iterator[None]:
    """Set the BLAS thread variables while the pool starts its processes (a spawned process
    reads them before it imports NumPy), then put the old values back."""
    saved = {k: os.environ.get(k) for k in BLAS_VARIABLES}
    os.environ.update({k: str(threads) for k in BLAS_VARIABLES})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


Job = tuple[int, Config, str]
Executor = Callable[[list[Job]], Iterator[dict[str, Any]]]


def local_executor(workers: int) -> Executor:
    """Run trials in ``workers`` spawned processes; yields results as trials finish."""

    def execute(jobs: list[Job]) -> Iterator[dict[str, Any]]:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        threads = blas_threads_per_worker(workers)
        with _blas_environment(threads):
            pool = ProcessPoolExecutor(
                max_workers=min(workers, len(jobs)) or 1,
                mp_context=multiprocessing.get_context("spawn"),
            )
            try:
                futures = {pool.submit(run_trial, *job, threads): job for job in jobs}
                for future in as_completed(futures):
                    yield _result_of(future, futures[future][0])
            except BaseException:
                # Ctrl-C: stop now rather than after the trials already queued; a trial cut
                # short is run again by --resume. (The pool keeps its processes in _processes.)
                for process in list((getattr(pool, "_processes", None) or {}).values()):
                    process.terminate()
                raise
            finally:
                pool.shutdown(wait=True, cancel_futures=True)

    return execute


def dask_executor(address: str) -> Executor:
    """Run trials on the Dask distributed cluster whose scheduler is at ``address``."""
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise DlcliError(
            f'--scheduler {address}: needs Dask distributed, which is not installed: pip install "dlcli[dask]"'
        ) from None

    # Connected now, before the sweep directory is made: a wrong address writes nothing.
    try:
        client = Client(address, timeout=10)
    except (OSError, TimeoutError, ValueError) as exc:
        raise DlcliError(
            f"--scheduler {address}: cannot connect to a Dask scheduler ({exc})"
        ) from None

    def execute(jobs: list[Job]) -> Iterator[dict[str, Any]]:
        try:
            futures = {client.submit(run_trial, *job, None, pure=False): job for job in jobs}
            for future in as_completed(futures):
                yield _result_of(future, futures[future][0])
        finally:
            client.close()

    return execute


def _result_of(future: Any, index: int) -> dict[str, Any]:
    """A finished future's result; a trial whose process died is recorded as failed."""
    try:
        return future.result()
    except Exception as exc:
        return {
            "index": index,
            "status": "failed",
            "error": f"{type(exc).__name__}: {exc}",
            "metrics": {},
            "costs": [],
            "seconds": 0.0,
        }


# ---------------------------------------------------------------- the sweep directory


def trial_dir(sweep: Sweep, index: int) -> Path:
    width = max(3, len(str(len(sweep.trials) - 1)))
    return (sweep.out / TRIALS / f"{index:0{width}d}").absolute()


def _row(sweep: Sweep, trial: Trial, result: dict[str, Any]) -> dict[str, str]:
    metrics = result["metrics"]
    row = {"trial": str(trial.index)}
    row |= {k: _text(trial.values[k]) for k in sweep.keys}
    for name in METRICS[:-1]:
        if name in metrics:
            row[name] = repr(float(metrics[name]))
    row["seconds"] = f"{result['seconds']:.3f}"
    row["status"] = result["status"]
    row["error"] = result["error"]
    row["run_dir"] = str(trial_dir(sweep, trial.index))
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
            row.get(k) != _text(sweep.trials[index].values[k]) for k in sweep.keys
        ):
            raise ConfigError(
                f"--resume: {path}: trial {index} was run with other values than {sweep.source} "
                "gives now; resume with the same sweep file, or choose another --out"
            )
    return rows


def _check_same_config(trial: Trial, run_dir: Path) -> None:
    """Refuse to keep a finished trial whose run used another config (a changed base or set:)."""
    from dlcli.train import config_changes

    changed = config_changes(trial.config, run_dir)
    if changed:
        raise ConfigError(
            f"--resume: trial {trial.index} in {run_dir} was trained with another config "
            f"({'; '.join(changed)}); resume with the same sweep and base config, or choose another --out"
        )


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
    on_trial : called with each trial's result and the counts done and total

    Returns
    -------
    One result per trial, in trial order: ``index``, ``values``, ``row`` (its results.csv row),
    ``status``, ``error``, ``metrics``, ``costs``, ``seconds``.
    """
    from dlcli.fileio import atomic_write, write_text

    results_path = sweep.out / RESULTS
    if not resume and sweep.out.exists() and (not sweep.out.is_dir() or any(sweep.out.iterdir())):
        raise DlcliError(
            f"--out {sweep.out}: already holds files; add --resume to continue that sweep, "
            "or choose another --out"
        )
    earlier = read_results(sweep) if resume else {}
    done: dict[int, dict[str, Any]] = {}
    for index, row in earlier.items():
        run_dir = Path(row["run_dir"])
        if row["status"] == "ok" and (run_dir / "metrics.json").is_file():
            _check_same_config(sweep.trials[index], run_dir)
            metrics = json.loads((run_dir / "metrics.json").read_text())
            done[index] = {
                "index": index,
                "status": "ok",
                "error": "",
                "metrics": metrics,
                "costs": _read_costs(run_dir),
                "seconds": float(row["seconds"]),
                "row": row,
                "values": sweep.trials[index].values,
            }
    (sweep.out / TRIALS).mkdir(parents=True, exist_ok=True)
    total = len(sweep.trials)
    for count, result in enumerate(done.values(), start=1):
        if on_trial is not None:
            on_trial(result, count, total)
    jobs = [
        (t.index, t.config, str(trial_dir(sweep, t.index)))
        for t in sweep.trials
        if t.index not in done
    ]
    rows = {i: r["row"] for i, r in done.items()}
    for result in executor(jobs):  # with no jobs too: the executor closes what it opened
        trial = sweep.trials[result["index"]]
        result |= {"row": _row(sweep, trial, result), "values": trial.values}
        done[result["index"]] = result
        rows[result["index"]] = result["row"]
        write_text(results_path, results_csv(sweep, list(rows.values())))
        if on_trial is not None:
            on_trial(result, len(done), total)
    write_text(results_path, results_csv(sweep, list(rows.values())))
    ordered = [done[t.index] for t in sweep.trials]
    atomic_write(sweep.out / PLOT, lambda tmp: plot_sweep(tmp, sweep, ordered))
    return ordered


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
    return ", ".join(f"{k.rpartition('.')[2]}={_text(v)}" for k, v in values.items())


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
        if all(_number(v) for v in values):
            ax.plot(values, ys, "o")
            if key in sweep.log_keys:
                ax.set_xscale("log")
        else:
            names = list(dict.fromkeys(_text(v) for v in values))
            ax.plot([names.index(_text(v)) for v in values], ys, "o")
            ax.set_xticks(range(len(names)), names, rotation=30, fontsize=8)
        ax.set_xlabel(key)
        ax.set_ylabel(sweep.metric)
        ax.set_title(f"{sweep.metric} against {key}")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png")
