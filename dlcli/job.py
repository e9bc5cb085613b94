"""A whole training job: config -> data -> train -> run directory.

:func:`run` starts a run or resumes one from its checkpoint, hashes the training data (a
resume on other data is refused), trains, keeps the last finite parameters of a divergence,
and writes the metrics. Nothing here prints: progress reaches the caller through
``callback(iteration, cost)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import ExitStack, nullcontext
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from dlcli import runs
from dlcli.boundary import write_run_boundary
from dlcli.card import write_card
from dlcli.config import Config, validate
from dlcli.data.load import Dataset
from dlcli.data.load import load as load_data
from dlcli.data.tables import unscale_target
from dlcli.diagnosis import write_run_health
from dlcli.errors import ConfigError, DivergedError, WriteError
from dlcli.fileio import write_text
from dlcli.metrics import label_balanced_accuracy, regression_metrics
from dlcli.model import network
from dlcli.runlock import lock_run
from dlcli.training.engines import small_gram
from dlcli.training.loop import train
from dlcli.training.measure import label_accuracy
from dlcli.training.plan import Options, init_note, iterations_of, options_from, resolve_engine
from dlcli.training.state import Callback, StopTraining, TrainResult, TrainState
from dlcli.training.weights import effective_weights


def config_changes(cfg: Config, run_dir: Path) -> list[str]:
    """``key: saved -> now`` for every key (but ``output``) where ``cfg`` differs from the
    config a run directory was made with. The saved one goes through the schema, so keys
    added since the run was made compare as their defaults."""
    path = run_dir / runs.CONFIG
    saved = validate(yaml.safe_load(path.read_text()), str(path)).to_dict()
    # Keys left out at their defaults (to_dict) count on either side: a key set then and
    # not now, such as train.class_weight, is a change too.
    return [
        f"{section}.{key}: {saved.get(section, {}).get(key)!r} -> {values.get(key)!r}"
        for section, values in cfg.to_dict().items()
        if section != "output"
        for key in [*values, *(k for k in saved.get(section, {}) if k not in values)]
        if saved.get(section, {}).get(key) != values.get(key)
    ]


def _resume_point(
    cfg: Config,
    name: str,
    out: Path | None,
    digest: tuple[int, str],
    trained: Callable[[], str],
    held: ExitStack,
) -> tuple[Path, TrainState]:
    """The run to continue and its last checkpoint; refuses a run made differently, or one
    another process writes (its lock is taken into ``held``).

    ``digest`` is (what it is of, the SHA-256) of the data now; a checkpoint whose digest is
    of X and Y as trained on (written before course files were hashed as stored) is
    compared with ``trained()``, that digest of the data now."""
    run_dir = out if out is not None else runs.find_run_to_resume(cfg.output.dir, name)
    if not (run_dir / runs.CHECKPOINT).is_file():
        raise ConfigError(f"--resume: {run_dir}: holds no {runs.CHECKPOINT} to resume from")
    held.enter_context(lock_run(run_dir))

    changed = config_changes(cfg, run_dir)
    if changed:
        raise ConfigError(
            f"--resume: {run_dir} was trained with another config ({'; '.join(changed)}); "
            "resume with the same config, or start a new run without --resume"
        )
    runs.remove_partial_files(run_dir)
    state, saved_digest, hashed = runs.read_checkpoint(run_dir)
    if saved_digest != (digest[1] if hashed == digest[0] else trained()):
        raise ConfigError(
            f"--resume: {run_dir} was trained on other data than {cfg.data.train or 'data.generate'} holds now"
        )
    if (run_dir / runs.METRICS).is_file():
        raise ConfigError(f"--resume: {run_dir} already finished its {state.iteration} iterations")
    return run_dir, state


def _new_run(
    cfg: Config, name: str, out: Path | None, dataset: Dataset, force: bool, held: ExitStack
) -> tuple[Path, network.Params]:
    """The initial parameters (checked against the data and free memory first) and a new
    run directory holding the config, locked into ``held``."""
    m, n_y = dataset.X_train.shape[1], dataset.Y_train.shape[0]
    if cfg.data.stream:  # one batch is in memory at a time
        m = min(m, cfg.train.batch_size)
    params = runs.initial_params(cfg, dataset.n_x, m, n_y, dataset.inputs)
    run_dir = runs.create_run_dir(
        out or cfg.output.dir / name, cfg.to_dict(), force=force, note=init_note(cfg), held=held
    )
    return run_dir, params


def _training_data(cfg: Config) -> tuple[Dataset, Any, np.ndarray, tuple[int, str]]:
    """The config's data loaded, X (n_x, m) and Y (n_y, m) in ``train.dtype``, and the digest
    of the data that a resume checks: (``runs.DATA_HASH_STORED``, the SHA-256 of the course
    file's examples and labels as stored) when the loader made one, else
    (``runs.DATA_HASH_TRAINED``, :func:`_trained_digest`). X is a data.CourseStream with
    ``data.stream: true``, and example-major (F order) when a course file is read for the
    fast path's mini-batches (:func:`_example_major`)."""
    rows = _example_major(cfg)
    dtype = np.dtype(cfg.train.dtype)
    batch_size = cfg.train.batch_size if rows else None
    dataset = load_data(cfg.data, cfg.model.output_activation, dtype, batch_size)
    Y = dataset.Y_train.astype(dtype)
    if cfg.data.stream:  # a data.CourseStream: batches come from disk, in dtype
        X = dataset.X_train.astype(dtype)
    elif rows and dataset.digest is not None and batch_size < dataset.X_train.shape[1]:
        X = np.asfortranarray(dataset.X_train, dtype=dtype)  # no copy when read so
    else:
        X = np.ascontiguousarray(dataset.X_train, dtype=dtype)  # no copy when loaded in dtype
    if dataset.digest is not None:
        return dataset, X, Y, (runs.DATA_HASH_STORED, dataset.digest)
    return dataset, X, Y, (runs.DATA_HASH_TRAINED, _trained_digest(X, Y))


def _example_major(cfg: Config) -> bool:
    """Whether a course file is read example-major for training: mini-batches drawn by the
    direct engine's fast path (in memory, no dropout), whose batches are rows of X.T."""
    return (
        cfg.train.batch_size is not None
        and not cfg.data.stream
        and cfg.train.engine != "gram"
        and not any(keep < 1.0 for keep in cfg.model.keep_probs())
    )


def _trained_digest(X: Any, Y: np.ndarray) -> str:
    """SHA-256 of X (n_x, m) and Y (n_y, m) as trained on, in the training dtype (a stream's
    stored blocks, then Y): what every checkpoint held before course files were hashed as
    stored, and still holds for other sources."""
    if not isinstance(X, np.ndarray):  # a data.CourseStream
        return X.digest(Y)
    sha = hashlib.sha256(memoryview(X).cast("B"))  # no copy of X
    sha.update(np.ascontiguousarray(Y).tobytes())
    return sha.hexdigest()


def _name_run_dir(run_dir: Path, kind: type | None, exc: BaseException | None, tb: Any) -> bool:
    """Set ``run_dir`` on a WriteError leaving the job (an ExitStack exit callback)."""
    if isinstance(exc, WriteError):
        exc.run_dir = run_dir
    return False


def _salvage(exc: DivergedError, run_dir: Path, meta: dict[str, Any]) -> DivergedError:
    """Write a divergence's last finite parameters and cost log into the run directory;
    the error to raise, saying where they are."""
    runs.write_params(run_dir / runs.PARAMS, exc.last_finite.params, meta)
    write_text(run_dir / runs.COSTS, runs.costs_csv(exc.last_finite.log))
    return DivergedError(
        f"{exc}; the last parameters with a finite cost are in {run_dir / runs.PARAMS}"
    )


def _split_metrics(
    cfg: Config,
    dataset: Dataset,
    split: str,
    X: np.ndarray,
    Y: np.ndarray,
    params: network.Params,
) -> dict[str, Any]:
    """Accuracy of a classifier, or MSE, MAE and R^2 of a regression (in the table's own
    units), of ``params`` on one split (X (n_x, m), Y (n_y, m))."""
    hidden, output = cfg.model.hidden_activation, cfg.model.output_activation
    AL, _ = network.forward(X, params, hidden, output)  # one pass for every figure
    if output != "linear":
        return {
            f"{split}_accuracy": label_accuracy(AL, Y, output),
            f"{split}_balanced_accuracy": label_balanced_accuracy(AL, Y, output),
        }
    if dataset.preprocessing["kind"] == "table":  # in the table's own units
        AL, Y = (unscale_target(dataset.preprocessing, a) for a in (AL, Y))
    found = regression_metrics(Y, AL)
    return {f"{split}_{k}": found[k] for k in ("mse", "mae", "r2")}


def _balanced_accuracy(cfg: Config, X: np.ndarray, Y: np.ndarray, params: network.Params) -> float:
    """The mean per-class recall of a classifier on X (n_x, m), Y (n_y, m) (issue 18)."""
    AL, _ = network.forward(X, params, cfg.model.hidden_activation, cfg.model.output_activation)
    return label_balanced_accuracy(AL, Y, cfg.model.output_activation)


def _metrics(
    cfg: Config,
    dataset: Dataset,
    result: TrainResult,
    options: Options,
    iterations: int,
    run_dir: Path,
) -> dict[str, Any]:
    """What ``metrics.json`` holds: the result's figures, then each split's scores."""
    m = dataset.X_train.shape[1]
    metrics: dict[str, Any] = {
        "final_cost": result.final_cost,
        "iterations": result.iterations,
        "epochs": result.iterations / -(-m // (options.batch_size or m)),
        "train_seconds": result.train_seconds,
        "checkpoint_seconds": result.checkpoint_seconds,
        "final_cost_seconds": result.final_cost_seconds,
        "engine": result.engine,
        "optimizer": options.optimizer,
        "train_examples": int(m),
        "run_dir": str(run_dir),
    }
    if cfg.data.missing == "drop":  # a table's rows left out for a missing cell
        metrics["dropped_rows"] = dataset.dropped_rows
    if cfg.train.early_stopping is not None:
        metrics["stopped_early"] = result.iterations < iterations
        metrics["best_iteration"] = result.best_iteration
    splits = {
        "train": (dataset.X_train, dataset.Y_train),
        "validation": (dataset.X_val, dataset.Y_val),
        "test": (dataset.X_test, dataset.Y_test),
    }
    for split, (X_s, Y_s) in splits.items():
        if X_s is None:
            continue
        if split == "train" and result.final_accuracy is not None:
            # Found in train()'s final pass over X (or the streamed file), with the final cost.
            metrics["train_accuracy"] = result.final_accuracy
            if isinstance(X_s, np.ndarray):  # a streamed file is not read again for it
                metrics["train_balanced_accuracy"] = _balanced_accuracy(
                    cfg, X_s, Y_s, result.params
                )
        else:
            metrics |= _split_metrics(cfg, dataset, split, X_s, Y_s, result.params)
        if split != "train":
            metrics[f"{split}_examples"] = int(X_s.shape[1])
    return metrics


def run(
    cfg: Config,
    name: str,
    out: Path | None = None,
    callback: Callback | None = None,
    *,
    resume: bool = False,
    force: bool = False,
    on_start: Callable[[int], None] | None = None,
    plot: runs.PlotProcess | None = None,
    pictures: bool = True,
) -> tuple[Path, dict[str, Any]]:
    """The whole job: load data, initialise, train, write the run directory.

    Every check that a user's input can fail happens before the run directory is made. The
    run directory is ``out`` or ``<output.dir>/<name>`` (``-2``, ``-3``, ... when taken).

    Parameters
    ----------
    resume : continue the run in ``out`` (or the newest run of ``name``) from its checkpoint
    force : replace a run already in the run directory
    on_start : called with the number of iterations once it is known (``train.epochs``
        makes it depend on the data)
    plot : a child process that draws cost.png (sent the log as soon as training ends),
        instead of drawing it here
    pictures : False writes no cost.png, health.png or boundary.png (a run only read back,
        as ``dlcli diagnose CONFIG`` does, needs no matplotlib)

    Raises
    ------
    StopTraining
        From ``callback``, after a checkpoint; ``run_dir`` is set on it.
    WriteError
        A file could not be written; training stops there, the last checkpoint is kept and
        ``run_dir`` is set on it (None when no run directory was made).
    RunInUseError
        Another process writes the run to resume or replace (the run directory is locked,
        :mod:`dlcli.runlock`, from its making to the end of the job).

    Returns
    -------
    run_dir : the directory written
    metrics : what ``metrics.json`` holds
    """
    with ExitStack() as held:
        return _run(cfg, name, out, callback, resume, force, on_start, plot, held, pictures)


def _engine_of(cfg: Config, m: int, iterations: int, options: Options) -> str:
    """The engine training will use; refuses an impossible one before the run directory
    exists (train() decides auto the same way)."""
    return resolve_engine(
        cfg.train.engine,
        list(cfg.model.layers),
        m,
        iterations,
        options,
        streamed=cfg.data.stream,
        itemsize=np.dtype(cfg.train.dtype).itemsize,
    )


def _validation(cfg: Config, dataset: Dataset) -> tuple[np.ndarray, np.ndarray] | None:
    """The validation examples in the training dtype, or None."""
    if dataset.X_val is None:
        return None
    dtype = np.dtype(cfg.train.dtype)
    return dataset.X_val.astype(dtype), dataset.Y_val.astype(dtype)


def _config_keys(cfg: Config) -> dict[str, Any]:
    """train()'s arguments that are the config's keys as they are."""
    model, keys = cfg.model, cfg.train
    return {
        "hidden": model.hidden_activation,
        "output": model.output_activation,
        "learning_rate": keys.learning_rate,
        "log_every": keys.log_every,
        "engine": keys.engine,
        "checkpoint_every": keys.checkpoint_every,
    }


def _run(
    cfg: Config,
    name: str,
    out: Path | None,
    callback: Callback | None,
    resume: bool,
    force: bool,
    on_start: Callable[[int], None] | None,
    plot: runs.PlotProcess | None,
    held: ExitStack,
    pictures: bool,
) -> tuple[Path, dict[str, Any]]:
    """:func:`run`'s work, with the run directory's lock kept in ``held``."""
    dataset, X, Y, digest = _training_data(cfg)
    class_weight, weights = effective_weights(cfg, dataset, X.dtype)
    if weights is not None:  # a resume on other weights is refused as on other data
        digest = (digest[0], hashlib.sha256(digest[1].encode() + weights.tobytes()).hexdigest())
    options = options_from(cfg)
    iterations = iterations_of(cfg, X.shape[1])
    engine = _engine_of(cfg, X.shape[1], iterations, options)
    params, state = None, None
    if resume:
        trained = partial(_trained_digest, X, Y)
        run_dir, state = _resume_point(cfg, name, out, digest, trained, held)
    else:
        run_dir, params = _new_run(cfg, name, out, dataset, force, held)
    held.push(partial(_name_run_dir, run_dir))
    meta = runs.model_meta(cfg, dataset)
    if class_weight is not None:  # the effective weights, for evaluate (issue 18)
        meta["class_weight"] = class_weight
    validation = _validation(cfg, dataset)
    if on_start is not None:
        on_start(iterations)
    # A Gram engine's small products: one BLAS thread, beside the child's import.
    small = engine == "gram" and small_gram(cfg.model.layers[1], X.shape[1])
    threads = nullcontext() if plot is None else plot.beside(small)
    checkpoint = partial(runs.write_checkpoint, run_dir, data_digest=digest[1], data_hash=digest[0])
    try:
        with threads:
            result = train(X, Y, params, **_config_keys(cfg), iterations=iterations,
                           options=options, validation=validation, callback=callback,
                           checkpoint=checkpoint, resume=state, weights=weights)  # fmt: skip
    except StopTraining as stop:
        stop.run_dir, stop.total = run_dir, iterations
        raise
    except DivergedError as exc:
        if exc.last_finite is None:
            raise
        raise _salvage(exc, run_dir, meta) from None
    if plot is not None and pictures:  # drawn while the metrics are measured and files written
        plot.begin(result.log, cfg.train.learning_rate, result.health)
    metrics = _metrics(cfg, dataset, result, options, iterations, run_dir)
    _write_run(run_dir, cfg, dataset, meta, result, metrics, plot, pictures)
    return run_dir, metrics


def _write_run(
    run_dir: Path,
    cfg: Config,
    dataset: Dataset,
    meta: dict[str, Any],
    result: TrainResult,
    metrics: dict[str, Any],
    plot: runs.PlotProcess | None,
    pictures: bool = True,
) -> None:
    """The run directory's files after training: health.json, then params.h5 and
    costs.csv, cost.png (and health.png, drawn beside it), boundary.png
    (a 2-input classifier), card.md, then metrics.json, which marks it finished; without
    ``pictures`` no PNG."""
    write_run_health(run_dir, cfg, dataset.Y_train, metrics, result, plot, pictures)
    runs.finish_run(run_dir, meta, result, metrics, cfg.train.learning_rate, plot, pictures)
    if pictures:
        write_run_boundary(run_dir, result.params, meta, dataset.X_train, dataset.Y_train)
    write_card(run_dir, meta["config"], meta["classes"], metrics)
    runs.write_metrics(run_dir, metrics)
