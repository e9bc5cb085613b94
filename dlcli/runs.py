"""The run directory and the model file.

A run directory holds ``config.yaml`` (written first), ``checkpoint.h5`` (during training),
then ``params.h5``, ``costs.csv``, ``cost.png`` (and the job's boundary.png and card.md) and,
last, ``metrics.json``. Every file is
written to a temporary name, fsynced and renamed, so a file on disk is always whole; an
existing run is never overwritten. ``<parent>/latest`` is a symbolic link to the newest
finished run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from dlcli import __version__, sysinfo
from dlcli.costplot import PlotProcess, plot_costs
from dlcli.errors import ConfigError, DlcliError, ModelFileError
from dlcli.fileio import atomic_write, check_hdf5, write_h5, write_text, writing
from dlcli.jsonout import strict_json
from dlcli.model import network
from dlcli.model.sizes import data_mismatch, memory_estimate
from dlcli.runlock import LOCK, RunLock, lock_run
from dlcli.training.state import TrainResult, TrainState

if TYPE_CHECKING:
    from dlcli.config import Config
    from dlcli.data.load import Dataset

FORMAT_VERSION = 1
LATEST = "latest"
CONFIG, CHECKPOINT, PARAMS, METRICS = "config.yaml", "checkpoint.h5", "params.h5", "metrics.json"
COSTS, PLOT = "costs.csv", "cost.png"
#: What a checkpoint's ``data_sha256`` is of, its ``data_hash`` attribute: 2, a course file's
#: examples and labels as stored (``data.course.stored_digest``); 1 (and every checkpoint
#: without the attribute), X and Y as trained on (a stream: its stored blocks, then Y).
DATA_HASH_STORED, DATA_HASH_TRAINED = 2, 1


def write_params(path: Path, params: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Write ``W1``, ``b1``, ... as float64 datasets and ``meta`` as attributes (JSON for
    nested values), atomically."""

    def fill(f: Any) -> None:
        for key in sorted(params, key=lambda k: (int(k[1:]), k[0])):
            f.create_dataset(key, data=np.asarray(params[key], dtype=np.float64))
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["dlcli_version"] = __version__
        for key, value in meta.items():
            f.attrs[key] = value if isinstance(value, (str, int, float)) else json.dumps(value)

    write_h5(path, fill)


def read_params(path: Path, key: str = "--model") -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a params file: only the datasets ``W1``, ``b1``, ... are needed.

    ``key`` names the file's source at the start of every error message.

    Returns
    -------
    params : dict of float64 arrays
    meta : the attributes, JSON values decoded
    """
    import h5py

    check_hdf5(path, key, ModelFileError, f"a {PARAMS} file", f"a dlcli {PARAMS}")
    try:
        with h5py.File(path, "r") as f:
            _check_format_version(f, path, key)
            params = _read_weights(f, path, key)
            names = sorted(f)
            meta = _read_meta(f)
    except OSError as exc:
        raise ModelFileError(
            f"{key}: {path}: cannot be read, truncated or damaged ({exc})"
        ) from None
    if not params:
        shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        raise ModelFileError(
            f"{key}: {path}: holds no W1/b1 datasets (found {shown or 'nothing'}); "
            f"expected a dlcli {PARAMS} with W1, b1, W2, b2, ..."
        )
    _check_chain(params, path, key)
    return params, meta


def _check_format_version(f: Any, path: Path, key: str) -> None:
    version = f.attrs.get("format_version", FORMAT_VERSION)
    if np.ndim(version) != 0 or not isinstance(version, (int, np.integer)):
        raise ModelFileError(
            f"{key}: {path}: format_version is {_short(version)}, expected an integer "
            f"(this dlcli reads up to {FORMAT_VERSION})"
        )
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{key}: {path}: format version {version} is newer than this dlcli "
            f"({__version__}) reads (up to {FORMAT_VERSION}); upgrade dlcli"
        )


def _read_weights(f: Any, path: Path, key: str) -> dict[str, np.ndarray]:
    """W1, b1, W2, b2, ... as float64 while the file has them, each checked to be a finite
    2-D float dataset that fits in free memory before it is read."""
    import h5py

    params = {}
    need, free = 0, sysinfo.available_memory()
    l = 1
    while f"W{l}" in f:
        if f"b{l}" not in f:
            raise ModelFileError(f"{key}: {path}: has W{l} but no b{l}")
        for name in (f"W{l}", f"b{l}"):
            ds = f[name]
            if not isinstance(ds, h5py.Dataset) or ds.ndim != 2 or ds.dtype.kind != "f":
                found = f"{ds.dtype} {ds.shape}" if isinstance(ds, h5py.Dataset) else "a group"
                raise ModelFileError(
                    f"{key}: {path}: {name} must be a 2-D float dataset, found {found}"
                )
            need += 8 * ds.size  # checked before reading: a header can claim terabytes
            if need > free:
                raise ModelFileError(
                    f"{key}: {path}: {name} {ds.shape} takes the weights to "
                    f"{need / 2**30:.1f} GiB, more than the {free / 2**30:.1f} GiB free"
                )
            params[name] = ds[()].astype(np.float64)
            if not np.all(np.isfinite(params[name])):
                raise ModelFileError(
                    f"{key}: {path}: {name} holds {np.count_nonzero(~np.isfinite(params[name]))} "
                    "NaN or infinite values; every weight must be a finite number"
                )
        l += 1
    return params


def _read_meta(f: Any) -> dict[str, Any]:
    """The file's attributes: bytes decoded, JSON lists and objects parsed, NumPy scalars
    as Python ones."""
    meta = {}
    for name, value in f.attrs.items():
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str) and value[:1] in "[{":
            with contextlib.suppress(json.JSONDecodeError):
                value = json.loads(value)
        meta[name] = value.item() if isinstance(value, np.generic) else value
    return meta


def _check_chain(params: dict[str, np.ndarray], path: Path, key: str) -> None:
    """Each W{l} takes the previous layer's units and b{l} is (n[l], 1)."""
    for l in range(1, len(params) // 2 + 1):
        W, b = params[f"W{l}"], params[f"b{l}"]
        prev = params[f"W{l - 1}"].shape[0] if l > 1 else W.shape[1]
        if W.shape[1] != prev or b.shape != (W.shape[0], 1):
            raise ModelFileError(
                f"{key}: {path}: shapes do not chain at layer {l}: W{l} {W.shape}, b{l} {b.shape}, "
                f"previous layer has {prev} units"
            )


def _short(value: Any) -> str:
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= 40 else text[:37] + "..."


def costs_csv(log: list[dict[str, float]]) -> str:
    """costs.csv's text: a header (``iteration,epoch,cost`` and, with validation data,
    ``validation_cost,validation_accuracy``) and one row per log entry, full precision."""
    columns = list(log[0]) if log else ["iteration", "epoch", "cost"]
    rows = [",".join(columns)]
    rows += [
        ",".join(
            str(int(row[c])) if c in ("iteration", "epoch") else repr(float(row[c]))
            for c in columns
        )
        for row in log
    ]
    return "\n".join(rows) + "\n"


def _is_free(path: Path) -> bool:
    """Whether ``path`` is not there, or a folder holding nothing but a lock file or the
    temporary files of a process killed before it wrote a whole file."""
    if not path.exists():
        return True
    return path.is_dir() and all(
        p.name == LOCK or re.fullmatch(r"\..+\.tmp-\d+", p.name) for p in path.iterdir()
    )


def _free_run_dir(target: Path, held: contextlib.ExitStack) -> Path:
    """``target`` if it holds no run, else the first of target-2, target-3, ... that is free;
    made, and locked into ``held`` (one another process holds is taken as not free)."""
    candidate, n = target, 1
    while True:
        if _is_free(candidate):
            with writing(candidate):
                candidate.mkdir(parents=True, exist_ok=True)
            lock = RunLock(candidate)
            if lock.acquire():
                if _is_free(candidate):  # still, now that no one else can write it
                    held.enter_context(lock)
                    remove_partial_files(candidate)  # of a process killed writing here
                    return candidate
                lock.release()
        n += 1
        candidate = target.with_name(f"{target.name}-{n}")


def _point_latest(parent: Path, run_dir: Path) -> None:
    link = parent / LATEST
    # The thread too: a sweep on a Dask worker with several threads finishes runs side by side.
    tmp = parent / f".{LATEST}.tmp-{os.getpid()}-{threading.get_ident()}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    with writing(link):
        tmp.symlink_to(run_dir.name)
        os.replace(tmp, link)


def latest_run(parent: Path = Path("runs")) -> Path | None:
    """The newest finished run directory under ``parent``, or None."""
    link = parent / LATEST
    return link.resolve() if link.is_symlink() and link.resolve().is_dir() else None


def is_run(path: Path) -> bool:
    """Whether ``path`` is a dlcli run directory (finished or not)."""
    return path.is_dir() and any((path / f).exists() for f in (CONFIG, CHECKPOINT, PARAMS))


def create_run_dir(
    target: Path,
    resolved_config: dict[str, Any],
    *,
    force: bool = False,
    note: str = "",
    held: contextlib.ExitStack,
) -> Path:
    """Make the run directory and write its ``config.yaml``.

    A ``target`` that already holds a run is left alone and ``target-2``, ``target-3``, ...
    is made instead; with ``force`` a run there is replaced (never a folder that is not a run).
    The run directory's lock (:mod:`dlcli.runlock`) is taken into ``held`` first: a run
    another process writes is neither replaced nor chosen.

    Raises
    ------
    RunInUseError
        With ``force``, another process writes the run in ``target``.
    """
    if force and not _is_free(target):
        if not is_run(target):
            raise DlcliError(
                f"--out {target}: is not a dlcli run directory; --force replaces only runs"
            )
        held.enter_context(lock_run(target))
        _empty(target)
        run_dir = target
    else:
        run_dir = _free_run_dir(target, held)
    comment = "".join(f"# {line}\n" for line in note.splitlines())
    write_text(run_dir / CONFIG, yaml.safe_dump(resolved_config, sort_keys=False) + comment)
    return run_dir


def _empty(run_dir: Path) -> None:
    """Remove a run's files, keeping the folder and its lock (another process may be
    waiting to take the lock of this very folder)."""
    for path in run_dir.iterdir():
        if path.name != LOCK:
            with writing(path):
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()


def model_meta(cfg: Config, dataset: Dataset) -> dict[str, Any]:
    """What params.h5 carries besides the weights: everything predict needs."""
    return {
        "layers": list(cfg.model.layers),
        "hidden_activation": cfg.model.hidden_activation,
        "output_activation": cfg.model.output_activation,
        "preprocessing": dataset.preprocessing,
        "classes": list(dataset.classes),
        "config": cfg.to_dict(),
    }


def initial_params(cfg: Config, n_x: int, m: int, n_y: int = 1, inputs: str = "") -> network.Params:
    """Parameters to start from: the config's ``init`` (random or ``init.from`` a file).

    Checks first that ``model.layers`` begins with n_x and ends with n_y as the data do
    (:func:`dlcli.model.sizes.data_mismatch`, ``inputs`` naming a table's columns) and that
    the network fits in memory.

    Returns
    -------
    params : dict of ``W{l}`` (n[l], n[l-1]) and ``b{l}`` (n[l], 1) in ``train.dtype``
    """
    layers = list(cfg.model.layers)
    mismatch = data_mismatch(layers, n_x, n_y, inputs)
    if mismatch is not None:
        raise ConfigError(mismatch)
    dtype = np.dtype(cfg.train.dtype)
    need = memory_estimate(layers, m, dtype.itemsize)
    if need > sysinfo.available_memory():
        raise ConfigError(
            f"model.layers: {layers} with m = {m} needs about {need / 2**30:.1f} GiB per iteration, "
            f"more than the {sysinfo.available_memory() / 2**30:.1f} GiB free; use smaller layers"
        )
    if cfg.init.from_ is None:
        rng = network.legacy_rng(cfg.init.seed)
        return network.init_params(layers, cfg.init.scale, rng, dtype, cfg.init.per_layer)
    params, _ = read_params(cfg.init.from_, key="init.from")
    want = {f"W{l}": (layers[l], layers[l - 1]) for l in range(1, len(layers))}
    want |= {f"b{l}": (layers[l], 1) for l in range(1, len(layers))}
    for name, shape in want.items():
        if name not in params or params[name].shape != shape:
            found = params[name].shape if name in params else "nothing"
            raise ConfigError(
                f"init.from: {cfg.init.from_}: {name} must have shape {shape} for model.layers "
                f"{layers}, found {found}"
            )
    return {k: params[k].astype(dtype) for k in want}


def write_checkpoint(
    run_dir: Path, state: TrainState, data_digest: str, data_hash: int = DATA_HASH_TRAINED
) -> None:
    """``checkpoint.h5``: the engine's arrays bit for bit, the iteration, the cost log, the
    health records (JSON), the generator's state, and the data's digest with what it is of
    (``data_hash``)."""

    def fill(f: Any) -> None:
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["iteration"] = state.iteration
        f.attrs["engine"] = state.engine
        f.attrs["seconds"] = state.seconds
        f.attrs["data_sha256"] = data_digest
        f.attrs["data_hash"] = data_hash
        f.attrs["rng"] = json.dumps(state.rng)
        for key, value in state.arrays.items():
            f.create_dataset(f"state/{key}", data=value)
        columns = list(state.log[0]) if state.log else ["iteration", "epoch", "cost"]
        for column in columns:
            f.create_dataset(
                f"log/{column}",
                data=np.array([row[column] for row in state.log], dtype=np.float64),
            )
        f["log"].attrs["columns"] = json.dumps(columns)
        f["health"] = json.dumps(state.health)  # a dataset: an attribute holds 64 KiB at most

    write_h5(run_dir / CHECKPOINT, fill)


def remove_partial_files(run_dir: Path) -> None:
    """Delete temporary files a killed process left behind (never a whole file)."""
    for path in run_dir.glob(".*.tmp-*"):
        path.unlink(missing_ok=True)


def read_checkpoint(run_dir: Path) -> tuple[TrainState, str, int]:
    """The state saved by :func:`write_checkpoint`, the digest of the data it trained on and
    what that digest is of (:data:`DATA_HASH_TRAINED` when the checkpoint does not say)."""
    import h5py

    path = run_dir / CHECKPOINT
    try:
        with h5py.File(path, "r") as f:
            arrays = {key: ds[()] for key, ds in f["state"].items()}
            columns = json.loads(f["log"].attrs["columns"])
            values = {c: f[f"log/{c}"][()].tolist() for c in columns}
            log = [
                {
                    c: int(values[c][r]) if c in ("iteration", "epoch") else values[c][r]
                    for c in columns
                }
                for r in range(len(values[columns[0]]))
            ]
            state = TrainState(
                int(f.attrs["iteration"]),
                log,
                str(f.attrs["engine"]),
                arrays,
                float(f.attrs["seconds"]),
                json.loads(f.attrs["rng"]),
                json.loads(f["health"][()]) if "health" in f else [],
            )
            hashed = int(f.attrs.get("data_hash", DATA_HASH_TRAINED))
            return state, str(f.attrs["data_sha256"]), hashed
    except (OSError, KeyError, ValueError) as exc:
        raise ModelFileError(f"{path}: cannot be read as a dlcli checkpoint ({exc})") from None


def find_run_to_resume(parent: Path, name: str) -> Path:
    """The newest run of ``name`` under ``parent`` (``name``, ``name-2``, ...) with a checkpoint."""
    candidates = [
        p for p in parent.glob(f"{name}*") if re.fullmatch(rf"{re.escape(name)}(-\d+)?", p.name)
    ]
    with_checkpoint = [p for p in candidates if (p / CHECKPOINT).is_file()]
    if not with_checkpoint:
        raise DlcliError(
            f"--resume: no run of {name} with a {CHECKPOINT} in {parent}/ "
            f"(looked for {name}, {name}-2, ...); start one without --resume"
        )
    return max(with_checkpoint, key=lambda p: (p / CHECKPOINT).stat().st_mtime)


def finish_run(
    run_dir: Path,
    meta: dict[str, Any],
    result: TrainResult,
    metrics: dict[str, Any],
    learning_rate: float,
    plot: PlotProcess | None = None,
    draw: bool = True,
) -> None:
    """Write params.h5, costs.csv and cost.png (unless not ``draw``); :func:`write_metrics`
    finishes the run.

    cost.png is drawn here, or by ``plot`` (a child process sent the log with
    ``plot.begin``), whose bytes are written in the same place in that order."""
    write_params(run_dir / PARAMS, result.params, meta)
    write_text(run_dir / COSTS, costs_csv(result.log))
    if not draw:
        return
    if plot is None:
        atomic_write(run_dir / PLOT, lambda tmp: plot_costs(tmp, result.log, learning_rate))
    else:
        png = plot.png()
        atomic_write(run_dir / PLOT, lambda tmp: tmp.write_bytes(png))


def write_metrics(run_dir: Path, metrics: dict[str, Any]) -> None:
    """metrics.json, the file that marks a run finished, written after every other; then
    ``latest`` points here. (A write that fails before it leaves a run that --resume ends.)"""
    write_text(run_dir / METRICS, strict_json(metrics, indent=2) + "\n")
    _point_latest(run_dir.parent, run_dir)


NO_MODEL = "no model: train one with dlcli train CONFIG or pass --model"


def find_model(model: Path | None, runs_dir: Path = Path("runs"), key: str = "--model") -> Path:
    """The params.h5 to use: ``model`` (a file, a run directory, or a folder of runs with a
    ``latest`` link) or, by default, that of ``<runs_dir>/latest``; ``key`` names it in
    messages."""
    if model is None:
        latest = latest_run(runs_dir)
        if latest is None:
            raise ModelFileError(f"{NO_MODEL} (found no {runs_dir / LATEST} here)")
        model = latest
    if not model.is_dir():
        return model
    for candidate in (model / PARAMS, model / LATEST / PARAMS):
        if candidate.is_file():
            return candidate
    if (model / CHECKPOINT).is_file():
        raise ModelFileError(
            f"{key} {model}: the run has not finished (a {CHECKPOINT}, no {PARAMS}); "
            "finish it with dlcli train CONFIG --out DIR --resume"
        )
    raise ModelFileError(
        f"{key} {model}: holds no {PARAMS}; allowed: a run directory of dlcli train, its "
        f"{PARAMS}, or a folder with a {LATEST} link to one"
    )
