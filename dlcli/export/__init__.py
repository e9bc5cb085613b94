"""``dlcli export``: a trained model taken out of dlcli, as ONNX (:mod:`.onnx_graph`) or as
NumPy arrays with a script of about 40 lines that predicts with them.

Everything is written to a temporary folder beside the output first and moved into place
whole, so a refused or failed export leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dlcli.card import CARD
from dlcli.data import encode
from dlcli.errors import DlcliError
from dlcli.export import onnx_graph
from dlcli.fileio import writing
from dlcli.model import network
from dlcli.predict import Model, load_model

FORMATS = ("onnx", "numpy")
DTYPES = ("float32", "float64")
SCRIPT = Path(__file__).with_name("predict_template.py")


@dataclass(frozen=True)
class Exported:
    """What an export wrote: the files, the model it came from."""

    model: Path
    files: list[Path]


def _check_request(fmt: str, dtype: str, out: Path, force: bool) -> None:
    if fmt not in FORMATS:
        raise DlcliError(f"--format: {fmt!r} is not a format dlcli exports; allowed: onnx, numpy")
    if dtype not in DTYPES:
        raise DlcliError(f"--dtype: {dtype!r} is not allowed; allowed: float32, float64")
    if (out.exists() or out.is_symlink()) and not force:
        raise DlcliError(f"--out {out}: already exists; pass --force to replace it")
    if out.exists() and out.is_dir() != (fmt == "numpy"):
        kind = "a folder" if out.is_dir() else "a file"
        raise DlcliError(
            f"--out {out}: is {kind}; --format {fmt} writes a {'folder' if fmt == 'numpy' else 'file'}"
        )
    if not out.parent.is_dir():
        raise DlcliError(f"--out {out}: the folder {out.parent} does not exist")


def _onnx_module() -> Any:
    try:
        import onnx
    except ImportError:
        raise DlcliError(
            '--format onnx: needs the onnx package, which is not installed: pip install "dlcli[onnx]"'
        ) from None
    return onnx


def numpy_arrays(model: Model) -> dict[str, np.ndarray]:
    """What ``model.npz`` holds: W{l} (n[l], n[l-1]), b{l} (n[l], 1), the activations, the
    class names and the preprocessing, all plain arrays (loadable with allow_pickle=False)."""
    prep = model.preprocessing
    if encode.is_encoded(prep) and any(e["type"] != "numeric" for e in prep["columns"]):
        words = [e["name"] for e in prep["columns"] if e["type"] != "numeric"]
        raise DlcliError(
            f"--format numpy: the model {model.path} one-hot encodes the word columns "
            f"{words}, which the NumPy script does not; export it with --format onnx"
        )
    arrays: dict[str, np.ndarray] = {
        "L": np.array(network.n_layers(model.params)),
        "hidden": np.array(model.hidden),
        "output": np.array(model.output),
        "classes": np.array(list(model.classes) or [""]),
        "kind": np.array(prep["kind"]),
        "divide_by": np.array(float(prep.get("divide_by", 1.0))),
        "target_mean": np.array(float(prep.get("target_mean", 0.0))),
        "target_std": np.array(float(prep.get("target_std", 1.0))),
    }
    if prep["kind"] == "table":
        columns = encode.columns_of(prep)
        arrays |= {
            "mean": np.array([e["mean"] for e in columns]),
            "std": np.array([e["std"] for e in columns]),
            "fill": np.array([e.get("fill", np.nan) for e in columns]),
            "features": np.array([e["name"] for e in columns]),
        }
    return arrays | {k: np.asarray(v, np.float64) for k, v in model.params.items()}


def _write_numpy(model: Model, folder: Path, dtype: str) -> list[str]:
    arrays = numpy_arrays(model)
    for key in model.params:
        arrays[key] = arrays[key].astype(dtype)
    np.savez(folder / "model.npz", **arrays)
    shutil.copyfile(SCRIPT, folder / "predict.py")
    return ["model.npz", "predict.py"]


def export_model(
    run: Path | None,
    fmt: str,
    out: Path,
    *,
    dtype: str = "float64",
    opset: int | None = None,
    force: bool = False,
) -> Exported:
    """Export the model of ``run`` (a run directory or a params.h5; None: the newest run) to
    ``out``: an ONNX file, or a folder with model.npz and predict.py. The run's card.md is
    copied beside it (``out``'s stem + ``.card.md`` for ONNX, into the folder for numpy)."""
    _check_request(fmt, dtype, out, force)
    onnx = _onnx_module() if fmt == "onnx" else None
    model = load_model(run, key="RUN")
    stage = out.with_name(f".{out.name}.export-{os.getpid()}")
    try:
        with writing(out):  # a full or read-only disk: WriteError naming --out
            stage.mkdir()
            if fmt == "onnx":
                proto = onnx_graph.build(model, dtype, opset or onnx_graph.DEFAULT_OPSET)
                onnx.save(proto, stage / out.name)
                names = [out.name]
            else:
                names = _write_numpy(model, stage, dtype)
            card = model.path.parent / CARD
            card_name = CARD if fmt == "numpy" else f"{out.stem}.{CARD}"
            if card.is_file():
                shutil.copyfile(card, stage / card_name)
                names.append(card_name)
            return Exported(model.path, _move_into_place(stage, out, fmt, names))
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(stage)


def _move_into_place(stage: Path, out: Path, fmt: str, names: list[str]) -> list[Path]:
    """The staged files moved to ``out`` (replacing what --force allows)."""
    if fmt == "numpy":
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        os.replace(stage, out)
        return [out / name for name in names]
    written = []
    for name in names:
        target = out if name == out.name else out.with_name(name)
        os.replace(stage / name, target)
        written.append(target)
    return written
