"""The run directory and the model file.

A run directory holds ``params.h5``, ``costs.csv``, ``metrics.json``, ``config.yaml`` and
``cost.png``. It is written in a hidden staging directory beside its final place and renamed
into place whole, so a crash never leaves half a run; an existing run is never overwritten.
``<parent>/latest`` is a symbolic link to the newest run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from dlcli import __version__
from dlcli.errors import ModelFileError

if TYPE_CHECKING:
    from dlcli.config import Config
    from dlcli.data import Dataset
    from dlcli.train import TrainResult

FORMAT_VERSION = 1
LATEST = "latest"


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through ``write(tmp_path)`` then fsync and rename, so ``path`` is always whole."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_params(path: Path, params: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Write ``W1``, ``b1``, ... as float64 datasets and ``meta`` as attributes (JSON for
    nested values), atomically."""
    import h5py

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as f:
            for key in sorted(params, key=lambda k: (int(k[1:]), k[0])):
                f.create_dataset(key, data=np.asarray(params[key], dtype=np.float64))
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["dlcli_version"] = __version__
            for key, value in meta.items():
                f.attrs[key] = value if isinstance(value, (str, int, float)) else json.dumps(value)

    atomic_write(path, write)


def read_params(path: Path, key: str = "--model") -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a params file: only the datasets ``W1``, ``b1``, ... are needed.

    Returns
    -------
    params : dict of float64 arrays
    meta : the attributes, JSON values decoded
    """
    import h5py

    if not path.exists():
        raise ModelFileError(f"{key}: {path}: no such file")
    if path.is_dir():
        raise ModelFileError(f"{key}: {path}: is a directory, expected a params.h5 file")
    if not h5py.is_hdf5(path):
        raise ModelFileError(f"{key}: {path}: not an HDF5 file (expected a dlcli params.h5)")
    try:
        with h5py.File(path, "r") as f:
            version = int(f.attrs.get("format_version", FORMAT_VERSION))
            if version > FORMAT_VERSION:
                raise ModelFileError(
                    f"{key}: {path}: format version {version} is newer than this dlcli "
                    f"({__version__}) reads (up to {FORMAT_VERSION}); upgrade dlcli"
                )
            params = {}
            l = 1
            while f"W{l}" in f:
                if f"b{l}" not in f:
                    raise ModelFileError(f"{key}: {path}: has W{l} but no b{l}")
                for name in (f"W{l}", f"b{l}"):
                    ds = f[name]
                    if not isinstance(ds, h5py.Dataset) or ds.ndim != 2 or ds.dtype.kind != "f":
                        raise ModelFileError(f"{key}: {path}: {name} must be a 2-D float dataset")
                    params[name] = ds[()].astype(np.float64)
                l += 1
            meta = {}
            for name, value in f.attrs.items():
                if isinstance(value, bytes):
                    value = value.decode()
                if isinstance(value, str) and value[:1] in "[{":
                    with contextlib.suppress(json.JSONDecodeError):
                        value = json.loads(value)
                meta[name] = value.item() if isinstance(value, np.generic) else value
    except OSError as exc:
        raise ModelFileError(
            f"{key}: {path}: cannot be read, truncated or damaged ({exc})"
        ) from None
    if not params:
        raise ModelFileError(f"{key}: {path}: holds no W1/b1 datasets; not a dlcli params file")
    for l in range(1, len(params) // 2 + 1):
        W, b = params[f"W{l}"], params[f"b{l}"]
        prev = params[f"W{l - 1}"].shape[0] if l > 1 else W.shape[1]
        if W.shape[1] != prev or b.shape != (W.shape[0], 1):
            raise ModelFileError(
                f"{key}: {path}: shapes do not chain at layer {l}: W{l} {W.shape}, b{l} {b.shape}, "
                f"previous layer has {prev} units"
            )
    return params, meta


def write_costs(path: Path, costs: list[tuple[int, float]]) -> None:
    lines = ["iteration,cost"] + [f"{i},{c!r}" for i, c in costs]
    path.write_text("\n".join(lines) + "\n")


def plot_costs(path: Path, costs: list[tuple[int, float]], learning_rate: float) -> None:
    """cost.png: cost against iteration, the learning rate in the title (Agg, no pyplot state)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), dpi=100)
    ax = fig.subplots()
    ax.plot([i for i, _ in costs], [c for _, c in costs], marker=".")
    ax.set_xlabel("iteration")
    ax.set_ylabel("cost")
    ax.set_title(f"Learning rate = {learning_rate:g}")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


def _free_run_dir(target: Path) -> Path:
    """``target`` if it holds no run, else the first of target-2, target-3, ... that is free."""
    candidate, n = target, 1
    while candidate.exists() and (not candidate.is_dir() or any(candidate.iterdir())):
        n += 1
        candidate = target.with_name(f"{target.name}-{n}")
    return candidate


def _point_latest(parent: Path, run_dir: Path) -> None:
    link = parent / LATEST
    tmp = parent / f".{LATEST}.tmp-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(run_dir.name)
    os.replace(tmp, link)


def latest_run(parent: Path = Path("runs")) -> Path | None:
    """The newest run directory under ``parent``, or None."""
    link = parent / LATEST
    return link.resolve() if link.is_symlink() and link.resolve().is_dir() else None


@contextlib.contextmanager
def _staging(parent: Path, name: str) -> Iterator[Path]:
    staging = parent / f".{name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_run(
    cfg: Config,
    dataset: Dataset,
    result: TrainResult,
    metrics: dict[str, Any],
    *,
    name: str,
    out: Path | None = None,
) -> Path:
    """Write a whole run directory and point ``latest`` at it; returns its path.

    ``out`` is the run directory wanted (default ``<output.dir>/<name>``); when it already
    holds a run, the next free ``out-2``, ``out-3``, ... is used instead.
    """
    target = out if out is not None else cfg.output.dir / name
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    run_dir = _free_run_dir(target)
    metrics["run_dir"] = str(run_dir)
    resolved = cfg.to_dict()
    with _staging(parent, run_dir.name) as stage:
        meta = {
            "layers": list(cfg.model.layers),
            "hidden_activation": cfg.model.hidden_activation,
            "output_activation": cfg.model.output_activation,
            "preprocessing": dataset.preprocessing,
            "classes": list(dataset.classes),
            "config": resolved,
        }
        write_params(stage / "params.h5", result.params, meta)
        write_costs(stage / "costs.csv", result.costs)
        (stage / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        (stage / "config.yaml").write_text(yaml.safe_dump(resolved, sort_keys=False))
        plot_costs(stage / "cost.png", result.costs, cfg.train.learning_rate)
        if run_dir.exists():  # an empty directory the user made for us
            run_dir.rmdir()
        os.rename(stage, run_dir)
    _point_latest(parent, run_dir)
    return run_dir
