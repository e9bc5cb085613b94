"""The catalogue of bad inputs (issue 6): configs, data files, model files and pictures, each
run through the real CLI in a folder that already holds two finished runs.

Every case must end with exit code 1 and exactly one line on stderr, starting "dlcli: ", that
names the file or key, says what was found and what is allowed; no traceback, nothing on
stdout, and not one byte of the folder changed: no new file or directory, no temporary file
left behind, the earlier runs' files byte-identical (sizes, mtimes and SHA-256 compared).

Most cases go through typer's CliRunner; the ones marked ``process`` run ``python -m dlcli``
in a real subprocess, those about sizes with an address-space limit of 2 GiB, so a check that
came after the allocation would end in a MemoryError instead of the one-line refusal.

Model files go through ``dlcli train`` (``init.from``) and ``dlcli predict --model``; pictures
through ``dlcli predict --json``, where a picture that cannot be read is a row with its error
(the others are still predicted), stderr's one line counts the failures and the exit code is 1.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from dlcli.cli import app

REPO = Path(__file__).resolve().parents[1]
# The shipped flower config, shortened so that a case wrongly accepted fails fast.
FLOWER_TEXT = (
    (REPO / "configs" / "flower.yaml").read_text().replace("iterations: 10000", "iterations: 5")
)
ADDRESS_SPACE = 2 << 30  # bytes a "process" case may map; every refused size is far above it

# The tiny course-layout file every data case starts from: 8 RGB pictures of 2x2 pixels.
IMAGES = np.random.RandomState(0).randint(0, 256, size=(8, 2, 2, 3)).astype(np.uint8)
LABELS = np.array([0, 1, 1, 0, 1, 0, 0, 1], dtype=np.int64)
CLASSES = (b"non-cat", b"cat")


class Case(NamedTuple):
    """One bad input.

    make : writes the bad input into the (current) folder and returns the CLI arguments
    names, found, allowed : text the one stderr line must hold: the file or key it is about,
        what was found there, and what is allowed instead ("" only where a path does not
        exist: there is nothing to allow but the path itself)
    via : "runner" (typer's CliRunner) or "process" (``python -m dlcli``, address space limited)
    where : "stderr", the one line itself; or "row", for ``dlcli predict --json``: a picture that
        cannot be read is a row with its error on stdout, the others are still predicted, and
        stderr's one line counts the failures
    """

    make: Callable[[Path], list[str]]
    names: str
    found: str
    allowed: str
    via: str = "runner"
    where: str = "stderr"


# ---------------------------------------------------------------- helpers that write inputs


def write(name: str, text: str) -> Callable[[Path], list[str]]:
    """A config file of the given text, trained."""

    def make(cwd: Path) -> list[str]:
        (cwd / name).write_text(text)
        return ["train", name]

    return make


def flower_set(*overrides: str, extra: tuple[str, ...] = ()) -> Callable[[Path], list[str]]:
    """The flower config with ``--set`` overrides."""

    def make(cwd: Path) -> list[str]:
        return ["train", "flower.yaml", *(a for o in overrides for a in ("--set", o)), *extra]

    return make


def then(prepare: Callable[[Path], object], *args: str) -> Callable[[Path], list[str]]:
    """``prepare(folder)``, then the CLI arguments ``args``."""

    def make(cwd: Path) -> list[str]:
        prepare(cwd)
        return list(args)

    return make


def write_bytes(name: str, content: bytes) -> Callable[[Path], list[str]]:
    def make(cwd: Path) -> list[str]:
        (cwd / name).write_bytes(content)
        return ["train", name]

    return make


def make_directory(name: str) -> Callable[[Path], list[str]]:
    def make(cwd: Path) -> list[str]:
        (cwd / name).mkdir()
        return ["train", name]

    return make


def make_course(
    path: Path,
    x: np.ndarray = IMAGES,
    y: np.ndarray = LABELS,
    classes: tuple[bytes, ...] | None = CLASSES,
) -> None:
    with h5py.File(path, "w") as f:
        f.create_dataset("train_set_x", data=x)
        f.create_dataset("train_set_y", data=y)
        if classes is not None:
            f.create_dataset("list_classes", data=np.array(classes))


def data_case(
    build: Callable[[Path], None] | None,
    name: str = "bad.h5",
    *,
    test: tuple[str, Callable[[Path], None]] | None = None,
) -> Callable[[Path], list[str]]:
    """A config training a [12, 1] network on ``name``, which ``build(path)`` writes (None: the
    file is left as it is), with ``test = (name, build)`` as data.test."""

    def make(cwd: Path) -> list[str]:
        if build is not None:
            build(cwd / name)
        lines = ["data:", f"  train: {name}"]
        if test is not None:
            test[1](cwd / test[0])
            lines.append(f"  test: {test[0]}")
        lines += ["model:", "  layers: [12, 1]", "train:", "  iterations: 5", ""]
        (cwd / "data.yaml").write_text("\n".join(lines))
        return ["train", "data.yaml"]

    return make


def earlier_params(path: Path, change: Callable[[h5py.File], None], run: str) -> None:
    """A copy of an earlier run's params.h5 with ``change`` applied to it."""
    shutil.copyfile(path.parent / "runs" / run / "params.h5", path)
    with h5py.File(path, "a") as f:
        change(f)


def set_attribute(name: str, value: object) -> Callable[[h5py.File], None]:
    def change(f: h5py.File) -> None:
        f.attrs[name] = value  # a new attribute: its type is value's, not the old one's

    return change


def truncated(source: str) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        content = (path.parent / source).read_bytes()
        path.write_bytes(content[: len(content) // 2])

    return build


def text_file(path: Path, run: str = "") -> None:
    path.write_text("W1,b1\n0.1,0.2\n")


def directory(path: Path, run: str = "") -> None:
    path.mkdir()


def directory_at(name: str) -> Callable[[Path], None]:
    return lambda cwd: directory(cwd / name)


def damaged_chunk(path: Path) -> None:
    """A whole-length course file whose compressed pixel chunks are overwritten in the middle."""
    pixels = np.random.RandomState(1).randint(0, 256, size=(64, 8, 8, 3)).astype(np.uint8)
    with h5py.File(path, "w") as f:
        f.create_dataset("train_set_x", data=pixels, chunks=(4, 8, 8, 3), compression="gzip")
        f.create_dataset("train_set_y", data=np.zeros(64, dtype=np.int64))
        offset = f["train_set_x"].id.get_chunk_info(8).byte_offset
    content = bytearray(path.read_bytes())
    content[offset : offset + 400] = b"\x55" * 400
    path.write_bytes(bytes(content))


def keras_like(path: Path, run: str = "") -> None:
    """Another program's weights file: groups of layers, no W1/b1 at the top."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.15.0"
        f.attrs["backend"] = b"tensorflow"
        group = f.create_group("model_weights/dense")
        group.create_dataset("kernel:0", data=np.zeros((2, 4), dtype=np.float32))
        group.create_dataset("bias:0", data=np.zeros(4, dtype=np.float32))
        f.create_group("optimizer_weights")


def alias_bomb(levels: int, at: str = "layers") -> str:
    """A few hundred bytes of YAML whose anchors expand to 9**levels integers, as the one
    mistake of the config (model.layers[0], or init.scale); the anchors are made inside it,
    as the config's keys are all checked (every error is reported)."""
    value = "&a0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"
    for i in range(1, levels + 1):
        value = f"&a{i} [{', '.join([value] + [f'*a{i - 1}'] * 8)}]"
    if at == "scale":
        return "\n".join(["data:", "  generate: {}", "model:", "  layers: [2, 1]", "init:",
                          f"  scale: {value}", ""])  # fmt: skip
    return "\n".join(["data:", "  generate: {}", "model:", f"  layers: [{value}, 1]", ""])


def _renamed(path: Path, names: dict[str, str]) -> None:
    make_course(path, classes=None)
    with h5py.File(path, "a") as f:
        for old, new in names.items():
            f.move(old, new)


def _three_by_three(path: Path) -> None:
    make_course(path, x=np.zeros((4, 3, 3, 3), np.uint8), y=LABELS[:4])


def _features_with(value: float, at: int) -> np.ndarray:
    """Float features (m, n) = (8, 12), one value in example ``at`` replaced by ``value``."""
    x = IMAGES.reshape(8, 12).astype(np.float64) / 255
    x[at, 5] = value
    return x


def _with_group(path: Path, name: str, source: str = "course") -> None:
    """A course file, or the params of the earlier run ``source``, with ``name`` a group."""
    if source == "course":
        make_course(path)
    else:
        shutil.copyfile(path.parent / "runs" / source / "params.h5", path)
    with h5py.File(path, "a") as f:
        del f[name]
        f.create_group(name).create_dataset("values", data=np.zeros(3))


def _replace(f: h5py.File, name: str, value: np.ndarray) -> None:
    del f[name]
    f.create_dataset(name, data=value)


def _nan_in_w1(f: h5py.File) -> None:
    W1 = f["W1"][()]
    W1[0, 1], W1[3, 0] = np.nan, np.inf
    _replace(f, "W1", W1)


def _claims(
    path: Path, name: str, shape: tuple[int, ...], dtype: str, source: str = "course"
) -> None:
    """A course file, or the params of the earlier run ``source``, whose header declares
    ``name`` of ``shape`` while holding no data for it: HDF5 allocates contiguous storage only
    when written, so the file stays a few kilobytes."""
    if source == "course":
        make_course(path, classes=None)
    else:
        shutil.copyfile(path.parent / "runs" / source / "params.h5", path)
    with h5py.File(path, "a") as f:
        if name in f:
            del f[name]
        f.create_dataset(name, shape=shape, dtype=dtype)
        if name == "train_set_x":
            del f["train_set_y"]
            f.create_dataset("train_set_y", shape=(shape[0],), dtype="i1")
    assert path.stat().st_size < 1 << 20


def model_cases(
    name: str,
    build: Callable[[Path, str], None] | None,
    suffix: str,
    found: str,
    allowed: str,
    *,
    file: str = "model.h5",
    extra: tuple[str, ...] = (),
    via: str = "runner",
) -> dict[str, Case]:
    """One bad model file, given to ``dlcli train`` as ``init.from`` and to ``dlcli predict`` as
    ``--model``; the message names the key, the file and then ``suffix``. ``build(path, run)``
    writes it, from the earlier run ``run`` where it starts from one: the flower's for
    init.from, the image model's (runs/tiny, a picture model as predict needs) for predict."""

    def init_from(cwd: Path) -> list[str]:
        if build is not None:
            build(cwd / file, "flower")
        return ["train", "flower.yaml", "--set", f"init.from={file}", *extra]

    def predict(cwd: Path) -> list[str]:
        if build is not None:
            build(cwd / file, "tiny")
        return ["predict", "--model", file, "cat.png"]

    return {
        f"model-{name}-init-from": Case(
            init_from, f"init.from: {file}{suffix}", found, allowed, via
        ),
        f"model-{name}-predict": Case(predict, f"--model: {file}{suffix}", found, allowed, via),
    }


def picture_case(name: str, build: Callable[[Path], None] | None) -> Callable[[Path], list[str]]:
    """``dlcli predict --json`` of one picture with the earlier image model runs/tiny."""

    def make(cwd: Path) -> list[str]:
        if build is not None:
            build(cwd / name)
        return ["predict", "--model", "runs/tiny", name, "--json"]

    return make


def _truncated_jpeg(path: Path) -> None:
    from PIL import Image

    noise = np.random.RandomState(2).randint(0, 256, size=(64, 64, 3)).astype(np.uint8)
    Image.fromarray(noise).save(path, format="JPEG", quality=90)
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])


def _plain_png(path: Path, width: int, height: int) -> None:
    """A real, whole 1-bit PNG of width x height white pixels: a few tens of kilobytes that
    decode to width * height pixels (225 MP for 15000 x 15000, a decompression bomb)."""
    from PIL import Image

    Image.new("1", (width, height), 1).save(path, format="PNG")
    header = path.read_bytes()[16:24]  # IHDR: width, height as big-endian 32-bit integers
    assert (int.from_bytes(header[:4], "big"), int.from_bytes(header[4:], "big")) == (width, height)
    assert path.stat().st_size < 1 << 20


VALID = """\
data:
  generate: {name: flower, examples: 400, seed: 1}
model:
  layers: [2, 4, 1]
  hidden_activation: tanh
train:
  learning_rate: 1.2
  iterations: 5
"""
RUN_FILES = {"params.h5", "costs.csv", "metrics.json", "config.yaml", "cost.png"}
FORCE = ("--out", "runs/flower", "--force")  # a bad input must not cost the run it would replace


# ---------------------------------------------------------------- the catalogue

CASES: dict[str, Case] = {
    # -------------------------------- configs
    "config-empty-file": Case(
        write("empty.yaml", ""),
        "empty.yaml",
        "the config is empty",
        "needs at least data and model.layers",
    ),
    "config-only-a-comment": Case(
        write("comment.yaml", "# to do: the network\n"),
        "comment.yaml",
        "the config is empty",
        "needs at least data and model.layers",
    ),
    "config-a-list-not-a-mapping": Case(
        write("list.yaml", "- data\n- model\n"),
        "list.yaml",
        "found a list",
        "expected a mapping of sections (data, model, ...)",
    ),
    "config-a-number-not-a-mapping": Case(
        write("number.yaml", "42\n"),
        "number.yaml",
        "found a number",
        "expected a mapping of sections",
    ),
    "config-tab-indentation": Case(
        write("tabs.yaml", VALID.replace("  layers", "\tlayers")),
        "tabs.yaml: not valid YAML (line 4, column 1)",
        "found character '\\t' that cannot start any token",
        "indent with spaces, not tabs",
        via="process",
    ),
    "config-broken-indentation": Case(
        write("indent.yaml", VALID.replace("  hidden_activation", "    hidden_activation")),
        "indent.yaml: not valid YAML (line 5, column 5)",
        "expected <block end>, but found '<block mapping start>'",
        "the keys of one mapping must start in the same column",
    ),
    "config-duplicate-key": Case(
        write("dup.yaml", VALID + "model:\n  layers: [2, 8, 1]\n"),
        "dup.yaml: not valid YAML (line 9, column 1)",
        "duplicate key 'model'",
        "each key may appear once in a mapping",
    ),
    "config-duplicate-nested-key": Case(
        write("dup2.yaml", VALID + "  learning_rate: 0.5\n"),
        "dup2.yaml: not valid YAML (line 9, column 3)",
        "duplicate key 'learning_rate'",
        "each key may appear once in a mapping",
    ),
    "config-unknown-key": Case(
        write("typo.yaml", VALID.replace("train:", "trian:")),
        "typo.yaml: trian",
        "unknown key",
        "allowed here: data, model, init, train, output; did you mean train?",
    ),
    "config-unknown-nested-key": Case(
        write("typo2.yaml", VALID.replace("learning_rate", "learnig_rate")),
        "typo2.yaml: train.learnig_rate",
        "unknown key",
        "did you mean train.learning_rate?",
    ),
    "set-unknown-key": Case(
        flower_set("model.layer=[2,4,1]"),
        "--set model.layer",
        "unknown key",
        "allowed here: layers, hidden_activation, output_activation",
    ),
    "set-not-key-value": Case(
        flower_set("iterations"), "--set", "'iterations'", "expected KEY=VALUE"
    ),
    "set-below-a-value": Case(
        flower_set("model.layers.0=3"),
        "--set model.layers.0",
        "model.layers is a value",
        "not a section",
    ),
    "config-wrong-type-layers": Case(
        write("t1.yaml", VALID.replace("[2, 4, 1]", "four")),
        "t1.yaml: model.layers",
        "found 'four'",
        "must be a valid list",
    ),
    "config-wrong-type-iterations": Case(
        write("t2.yaml", VALID.replace("iterations: 5", "iterations: 2.5")),
        "t2.yaml: train.iterations",
        "found 2.5",
        "must be a valid integer",
    ),
    "config-wrong-type-section": Case(
        write("t3.yaml", VALID.split("train:")[0] + "train: [1.2, 5]\n"),
        "t3.yaml: train",
        "found [1.2, 5]",
        "must be a valid dictionary",
    ),
    "config-date-for-a-number": Case(
        write("t4.yaml", VALID.replace("learning_rate: 1.2", "learning_rate: 2001-12-14")),
        "t4.yaml: train.learning_rate",
        "found datetime.date(2001, 12, 14)",
        "must be a valid number",
    ),
    "config-unknown-activation": Case(
        write("act.yaml", VALID.replace("tanh", "softmax")),
        "act.yaml: model.hidden_activation",
        "found 'softmax'",
        "must be 'sigmoid', 'tanh', 'relu', 'leaky_relu' or 'linear'",
    ),
    "config-learning-rate-nan": Case(
        write("nan.yaml", VALID.replace("learning_rate: 1.2", "learning_rate: .nan")),
        "nan.yaml: train.learning_rate",
        "found nan",
        "must be a finite number",
    ),
    "set-learning-rate-inf": Case(
        flower_set("train.learning_rate=.inf"),
        "--set train.learning_rate",
        "found inf",
        "must be a finite number",
    ),
    "config-learning-rate-negative": Case(
        write("neg.yaml", VALID.replace("learning_rate: 1.2", "learning_rate: -0.5")),
        "neg.yaml: train.learning_rate",
        "found -0.5",
        "must be greater than 0",
    ),
    "set-iterations-zero": Case(
        flower_set("train.iterations=0"),
        "--set train.iterations",
        "found 0",
        "must be greater than or equal to 1",
    ),
    "config-layer-of-zero-units": Case(
        write("zero.yaml", VALID.replace("[2, 4, 1]", "[2, 0, 1]")),
        "zero.yaml: model.layers[1]",
        "found 0",
        "must be greater than or equal to 1",
    ),
    "set-layer-negative": Case(
        flower_set("model.layers=[2,-4,1]"),
        "--set model.layers[1]",
        "found -4",
        "must be greater than or equal to 1",
    ),
    "config-init-scale-negative": Case(
        write("scale.yaml", VALID + "init:\n  scale: -1\n"),
        "scale.yaml: init.scale",
        "found -1",
        "must be a number >= 0 (0 gives zeros), 'xavier' or 'he'",
    ),
    "set-init-scale-nan": Case(
        flower_set("init.scale=.nan"), "--set init.scale", "found nan", "must be a number >= 0"
    ),
    "config-examples-odd": Case(
        write("odd.yaml", VALID.replace("examples: 400", "examples: 7")),
        "odd.yaml: data.generate.examples",
        "found 7",
        "must be a multiple of 2",
    ),
    "config-absurd-examples": Case(
        write("many.yaml", VALID.replace("examples: 400", "examples: 100000000000")),
        "many.yaml: data.generate.examples",
        "found 100000000000",
        "must be less than or equal to 10000000",
    ),
    "set-absurd-layer-refused-before-allocating": Case(
        flower_set("model.layers=[2,1000000000,1]"),
        "model.layers: [2, 1000000000, 1] with m = 400",
        "needs about 9000.3 GiB per iteration",
        "GiB free; use smaller layers",
        via="process",
    ),
    "config-too-many-layers": Case(
        write("deep.yaml", VALID.replace("[2, 4, 1]", "[" + ", ".join(["2"] * 101) + "]")),
        "deep.yaml: model.layers",
        "not 101",
        "should have at most 100 items",
    ),
    "config-integer-of-5000-digits": Case(
        write("digits.yaml", VALID.replace("iterations: 5", "iterations: " + "7" * 5000)),
        "digits.yaml: not valid YAML",
        "value has 5000 digits",
        "Exceeds the limit (4300 digits)",
    ),
    "config-python-tag-is-not-run": Case(
        write(
            "tag.yaml",
            VALID.replace(
                "{name: flower, examples: 400, seed: 1}",
                "!!python/object/apply:os.system ['touch pwned']",
            ),
        ),
        "tag.yaml: not valid YAML (line 2, column 13)",
        "could not determine a constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.system'",
        "only plain YAML is allowed",
        via="process",
    ),
    "config-alias-bomb": Case(
        write("bomb.yaml", alias_bomb(12)),
        "bomb.yaml: model.layers[0]",
        "found [[[[",
        "must be a valid integer",
    ),
    "config-alias-bomb-in-init-scale": Case(
        write("bomb.yaml", alias_bomb(12, at="scale")),
        "bomb.yaml: init.scale",
        "found [[[[",
        "must be a number >= 0 (0 gives zeros), 'xavier' or 'he'",
        via="process",
    ),
    "config-nested-too-deep": Case(
        write("nest.yaml", VALID + "x: " + "[" * 1000 + "]" * 1000 + "\n"),
        "nest.yaml: not valid YAML",
        "nested too deeply to read",
        "at most 3 levels deep",
    ),
    "config-list-as-a-key": Case(
        write("key.yaml", VALID + "? [train, iterations]\n: 5\n"),
        "key.yaml: not valid YAML (line 9, column 3)",
        "found unhashable key",
        "keys are plain names",
    ),
    "config-layers0-not-matching-data": Case(
        flower_set("model.layers=[3,4,1]", extra=FORCE),
        "model.layers[0]",
        "is 3 but the data have n_x = 2 features per example",
        "set model.layers[0] to 2",
    ),
    "config-last-layer-not-matching-labels": Case(
        write("last.yaml", VALID.replace("[2, 4, 1]", "[2, 4, 3]")),
        "model.layers[-1]",
        "is 3 but the labels Y have n_y = 1 row",
        "set the last entry of model.layers to 1",
    ),
    "config-not-utf8": Case(
        write_bytes("latin.yaml", VALID.encode() + b"# caf\xe9 au lait\n"),
        "latin.yaml",
        "not a text file",
        "expected UTF-8 YAML",
    ),
    "config-a-directory": Case(
        make_directory("conf.yaml"),
        "conf.yaml",
        "is a directory",
        "expected a YAML config file",
    ),
    "config-missing-file": Case(
        lambda cwd: ["train", "nothere.yaml"], "nothere.yaml", "no such config file", ""
    ),
    # -------------------------------- data files
    "data-missing-file": Case(
        data_case(None, "nothere.h5"), "data.train: nothere.h5", "no such file", ""
    ),
    "data-a-directory": Case(
        data_case(directory), "data.train: bad.h5", "is a directory", "expected a course HDF5 file"
    ),
    "data-not-hdf5": Case(
        data_case(text_file), "data.train: bad.h5", "not an HDF5 file", "expected the course layout"
    ),
    "data-truncated-hdf5": Case(
        data_case(truncated("tiny.h5")),
        "data.train: bad.h5: cannot be read as HDF5, truncated or damaged",
        "truncated file: eof = ",
        "stored_eof = ",
    ),
    "data-damaged-chunk": Case(
        data_case(damaged_chunk),
        "data.train: bad.h5: /train_set_x cannot be read",
        "filter returned failure during read",
        "expected a whole course HDF5 file",
    ),
    "data-missing-keys": Case(
        data_case(lambda p: _renamed(p, {"train_set_x": "images", "train_set_y": "labels"})),
        "data.train: bad.h5",
        "found ['images', 'labels']",
        "expected one pair of datasets <prefix>_x and <prefix>_y (e.g. train_set_x, train_set_y)",
    ),
    "data-wrong-dtype": Case(
        data_case(lambda p: make_course(p, x=IMAGES.astype(np.int64))),
        "data.train: bad.h5: /train_set_x",
        "found int64 (8, 2, 2, 3)",
        "must be uint8 pixels of shape (m, ...)",
    ),
    "data-nan-in-x": Case(
        data_case(lambda p: make_course(p, x=_features_with(np.nan, at=3))),
        "data.train: bad.h5: /train_set_x",
        "holds NaN or infinite features in example 3",
        "all must be finite",
    ),
    "data-inf-in-x": Case(
        data_case(lambda p: make_course(p, x=_features_with(-np.inf, at=6))),
        "data.train: bad.h5: /train_set_x",
        "infinite features in example 6",
        "all must be finite",
    ),
    "data-x-and-y-counts-differ": Case(
        data_case(lambda p: make_course(p, y=LABELS[:7])),
        "data.train: bad.h5: /train_set_y",
        "found int64 (7,)",
        "must be 8 integer labels, shape (8,) or (1, 8)",
    ),
    "data-labels-outside-classes": Case(
        data_case(lambda p: make_course(p, y=np.where(LABELS == 1, 2, 0))),
        "data.train: bad.h5",
        "found 2",
        "labels must be 0 or 1 (indices into list_classes ['non-cat', 'cat'])",
    ),
    "data-labels-not-integers": Case(
        data_case(lambda p: make_course(p, y=LABELS.astype(np.float64))),
        "data.train: bad.h5: /train_set_y",
        "found float64 (8,)",
        "must be 8 integer labels",
    ),
    "data-labels-a-group": Case(
        data_case(lambda p: _with_group(p, "train_set_y")),
        "data.train: bad.h5: /train_set_y",
        "found a group",
        "must be a dataset of 8 labels",
    ),
    "data-zero-examples": Case(
        data_case(lambda p: make_course(p, x=IMAGES[:0], y=LABELS[:0])),
        "data.train: bad.h5: /train_set_x",
        "holds zero examples",
        "training needs at least 1",
    ),
    "data-three-classes": Case(
        data_case(lambda p: make_course(p, classes=(b"cat", b"dog", b"bird"))),
        "data.train: bad.h5: list_classes",
        "names 3 classes ['cat', 'dog', 'bird']",
        "the sigmoid output needs 2",
    ),
    "data-classes-a-group": Case(
        data_case(lambda p: _with_group(p, "list_classes")),
        "data.train: bad.h5: list_classes",
        "found a group",
        "must be a dataset of 2 names",
    ),
    "data-header-claims-a-million-class-names": Case(
        data_case(lambda p: _claims(p, "list_classes", (10**6,), "S16")),
        "data.train: bad.h5: list_classes",
        "names 1000000 classes",
        "the sigmoid output needs 2",
    ),
    "data-header-claims-more-than-memory": Case(
        data_case(lambda p: _claims(p, "train_set_x", (10**7, 64, 64, 3), "u1"), "huge.h5"),
        "data.train: huge.h5: /train_set_x (10000000, 64, 64, 3)",
        "needs 1030.0 GiB to load",
        "GiB free",
        via="process",
    ),
    "data-test-file-shape-differs": Case(
        data_case(None, "tiny.h5", test=("other.h5", _three_by_three)),
        "data.test: other.h5",
        "examples of shape (3, 3, 3)",
        "but data.train has (2, 2, 3)",
    ),
    # -------------------------------- model files: each through init.from, predict --model
    **model_cases("missing-file", None, "", "no such file", "", file="nothere.h5"),
    "model-a-directory-init-from": Case(
        then(directory_at("model.h5"), "train", "flower.yaml", "--set", "init.from=model.h5"),
        "init.from: model.h5",
        "is a directory",
        "expected a params.h5 file",
    ),
    "model-a-directory-predict": Case(
        then(directory_at("model"), "predict", "--model", "model", "cat.png"),
        "--model model",
        "holds no params.h5",
        "allowed: a run directory of dlcli train, its params.h5, or a folder with a latest link",
    ),
    **model_cases("not-hdf5", text_file, "", "not an HDF5 file", "expected a dlcli params.h5"),
    **model_cases(
        "truncated",
        lambda p, run: truncated(f"runs/{run}/params.h5")(p),
        ": cannot be read, truncated or damaged",
        "truncated file: eof = ",
        "stored_eof = ",
    ),
    **model_cases(
        "another-programs-hdf5",
        keras_like,
        "",
        "holds no W1/b1 datasets (found model_weights, optimizer_weights)",
        "expected a dlcli params.h5 with W1, b1, W2, b2, ...",
    ),
    **model_cases(
        "w1-a-group",
        lambda p, run: _with_group(p, "W1", source=run),
        ": W1",
        "found a group",
        "must be a 2-D float dataset",
    ),
    **model_cases(
        "integer-weights",
        lambda p, run: earlier_params(
            p, lambda f: _replace(f, "W1", np.ones((4, 2), np.int64)), run
        ),
        ": W1",
        "found int64 (4, 2)",
        "must be a 2-D float dataset",
    ),
    **model_cases(
        "weights-do-not-chain",
        lambda p, run: earlier_params(p, lambda f: _replace(f, "W2", np.ones((1, 5))), run),
        ": shapes do not chain at layer 2",
        "W2 (1, 5), b2 (1, 1)",
        "previous layer has 4 units",
    ),
    **model_cases(
        "newer-format-version",
        lambda p, run: earlier_params(p, set_attribute("format_version", 2), run),
        "",
        "format version 2 is newer",
        "reads (up to 1); upgrade dlcli",
    ),
    **model_cases(
        "format-version-not-an-integer",
        lambda p, run: earlier_params(p, set_attribute("format_version", "abc"), run),
        ": format_version",
        "is 'abc'",
        "expected an integer (this dlcli reads up to 1)",
    ),
    **model_cases(
        "nan-weights",
        lambda p, run: earlier_params(p, _nan_in_w1, run),
        ": W1",
        "holds 2 NaN or infinite values",
        "every weight must be a finite number",
        extra=FORCE,
    ),
    **model_cases(
        "header-claims-more-than-memory",
        lambda p, run: _claims(p, "W1", (10**6, 10**6), "f8", source=run),
        ": W1 (1000000, 1000000)",
        "7450.6 GiB",
        "GiB free",
        via="process",
    ),
    "model-shapes-not-for-model-layers-init-from": Case(
        flower_set("init.from=runs/flower/params.h5", "model.layers=[2,5,1]", extra=FORCE),
        "init.from: runs/flower/params.h5: W1",
        "found (4, 2)",
        "must have shape (5, 2) for model.layers [2, 5, 1]",
    ),
    "model-not-for-pictures-predict": Case(
        lambda cwd: ["predict", "--model", "runs/flower", "cat.png"],
        "--model runs/flower/params.h5",
        "takes 2 features per example, not pictures",
        "predict reads pictures for image models only",
    ),
    "model-newer-format-version-evaluate": Case(
        then(
            lambda cwd: earlier_params(
                cwd / "model.h5", set_attribute("format_version", 7), "tiny"
            ),
            *("evaluate", "--model", "model.h5", "tiny.h5"),
        ),
        "--model: model.h5",
        "format version 7 is newer",
        "reads (up to 1); upgrade dlcli",
    ),
    "data-truncated-hdf5-evaluate": Case(
        then(
            lambda cwd: truncated("tiny.h5")(cwd / "bad.h5"),
            *("evaluate", "--model", "runs/tiny", "bad.h5"),
        ),
        "DATA.h5: bad.h5: cannot be read as HDF5",
        "truncated file: eof = ",
        "stored_eof = ",
    ),
    # -------------------------------- pictures, through predict: an error row each, exit 1
    "picture-zero-bytes": Case(
        picture_case("empty.png", lambda p: p.write_bytes(b"")),
        "empty.png",
        "not a picture dlcli reads",
        "allowed: PNG, JPEG, GIF, BMP, TIFF, WebP, PPM/PGM",
        where="row",
    ),
    "picture-text-renamed-png": Case(
        picture_case("notes.png", lambda p: p.write_text("shopping list: milk, eggs\n")),
        "notes.png",
        "not a picture dlcli reads",
        "allowed: PNG, JPEG, GIF, BMP, TIFF, WebP, PPM/PGM",
        where="row",
    ),
    "picture-truncated-jpeg": Case(
        picture_case("cut.jpg", _truncated_jpeg),
        "cut.jpg",
        "damaged or truncated JPEG file",
        "image file is truncated",
        where="row",
    ),
    "picture-decompression-bomb": Case(
        picture_case("bomb.png", lambda p: _plain_png(p, 15_000, 15_000)),
        "bomb.png",
        "refused, a picture of more than 89,478,485 pixels",
        "allowed: up to that many",
        where="row",
    ),
    "picture-10000x10000-over-pillows-limit": Case(
        picture_case("huge.png", lambda p: _plain_png(p, 10_000, 10_000)),
        "huge.png",
        "refused, a picture of more than 89,478,485 pixels",
        "allowed: up to that many",
        where="row",
    ),
    "picture-missing-file": Case(
        picture_case("nothere.png", None), "nothere.png", "no such file", "", where="row"
    ),
}


# ---------------------------------------------------------------- running a case


class Outcome(NamedTuple):
    exit_code: int
    stdout: str
    stderr: str


def via_runner(args: list[str]) -> Outcome:
    result = CliRunner().invoke(app, args)
    # CliRunner catches every exception; one that is not an exit is a bug: show it whole.
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Outcome(result.exit_code, result.stdout, result.stderr)


def _limit_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def via_process(args: list[str], cwd: Path) -> Outcome:
    done = subprocess.run(
        [sys.executable, "-m", "dlcli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=_limit_address_space,
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` (and root itself): kind, size, mtime and content hash."""
    tree: dict[str, tuple] = {}
    for path in [root, *_walk(root)]:
        info = path.lstat()
        rel = str(path.relative_to(root))
        if stat.S_ISLNK(info.st_mode):
            tree[rel] = ("link", os.readlink(path))
        elif stat.S_ISDIR(info.st_mode):
            tree[rel] = ("dir", info.st_mtime_ns)
        else:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            tree[rel] = ("file", info.st_size, info.st_mtime_ns, digest)
    return tree


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            yield Path(dirpath, name)


@pytest.fixture(scope="module")
def earlier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with two finished runs, runs/tiny (an image model on tiny.h5, 2x2 RGB pictures)
    and then runs/flower (``latest``), their configs, and a picture cat.png."""
    from PIL import Image

    base = tmp_path_factory.mktemp("earlier")
    assert "iterations: 5\n" in FLOWER_TEXT
    (base / "flower.yaml").write_text(FLOWER_TEXT)
    make_course(base / "tiny.h5")
    (base / "tiny.yaml").write_text(
        "data:\n  train: tiny.h5\nmodel:\n  layers: [12, 4, 1]\ntrain:\n  iterations: 5\n"
    )
    Image.fromarray(IMAGES[1]).resize((32, 32)).save(base / "cat.png")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(base)
        for config in ("tiny.yaml", "flower.yaml"):
            out = via_runner(["train", config, "--quiet"])
            assert out.exit_code == 0, out.stderr
        # The picture is fine: predict gives it a label, so its cases fail only on what they break.
        out = via_runner(["predict", "--model", "runs/tiny", "cat.png", "--json"])
        assert out.exit_code == 0, out.stderr
        assert json.loads(out.stdout)[0]["label"] in ("non-cat", "cat")
    assert sorted(os.listdir(base / "runs")) == ["flower", "latest", "tiny"]
    assert os.readlink(base / "runs" / "latest") == "flower"
    for run in ("flower", "tiny"):
        assert RUN_FILES <= set(os.listdir(base / "runs" / run))
    return base


@pytest.fixture
def folder(earlier: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the earlier folder (symlink and mtimes kept), the current directory."""
    work = tmp_path / "work"
    shutil.copytree(earlier, work, symlinks=True)
    monkeypatch.chdir(work)
    return work


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name: str, folder: Path, earlier: Path) -> None:
    case = CASES[name]
    args = case.make(folder)
    before = snapshot(folder)
    out = via_runner(args) if case.via == "runner" else via_process(args, folder)

    assert out.exit_code == 1, (out.stdout, out.stderr)
    assert "Traceback" not in out.stdout + out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert out.stderr == lines[0] + "\n"
    assert lines[0].startswith("dlcli: ")
    if case.where == "stderr":
        assert out.stdout == ""
        message = lines[0]
    else:
        assert lines[0] == "dlcli: 1 of 1 could not be read as pictures"
        [row] = json.loads(out.stdout)
        assert row["path"] == case.names
        assert row["label"] is None
        assert row["probability"] is None
        message = f"{row['path']}: {row['error']}"
        assert "\n" not in message
    assert case.names in message
    assert case.found in message
    assert case.allowed in message

    # Nothing written, moved or removed; the earlier runs are byte for byte the ones trained.
    assert snapshot(folder) == before
    assert not (folder / "pwned").exists()
    for run in ("flower", "tiny"):
        for path in (earlier / "runs" / run).iterdir():
            assert (folder / "runs" / run / path.name).read_bytes() == path.read_bytes()
    assert os.readlink(folder / "runs" / "latest") == "flower"


def predicted_by_hand(folder: Path, picture: str) -> tuple[str, object]:
    """The label and its probability for a picture and runs/tiny, worked out here: Pillow's
    bicubic resize to the model's 2x2 (the course's way), pixels flattened in (h, w, c) order
    over 255, then the [12, 4, 1] relu / sigmoid network with numpy from params.h5. Within
    1e-12 of dlcli's: numpy's sums and dlcli's blocks of 64 columns add in other orders."""
    from PIL import Image

    with h5py.File(folder / "runs" / "tiny" / "params.h5", "r") as f:
        W1, b1, W2, b2 = (f[k][()] for k in ("W1", "b1", "W2", "b2"))
        attrs = {k: f.attrs[k] for k in ("hidden_activation", "output_activation", "classes")}
        prep = json.loads(f.attrs["preprocessing"])
    assert (W1.shape, W2.shape) == ((4, 12), (1, 4))
    assert attrs["hidden_activation"] == "relu" and attrs["output_activation"] == "sigmoid"
    assert prep == {"kind": "image", "example_shape": [2, 2, 3], "divide_by": 255.0}
    with Image.open(folder / picture) as im:
        pixels = np.asarray(im.convert("RGB").resize((2, 2), Image.Resampling.BICUBIC))
    x = pixels.reshape(12, 1) / 255.0  # (n_x, 1)
    A1 = np.maximum(0.0, W1 @ x + b1)  # (4, 1)
    AL = 1.0 / (1.0 + np.exp(-(W2 @ A1 + b2)[0, 0]))
    classes = json.loads(attrs["classes"])
    assert classes == ["non-cat", "cat"]
    label = int(AL > 0.5)
    return classes[label], pytest.approx(AL if label == 1 else 1.0 - AL, rel=0, abs=1e-12)


def test_a_bad_picture_does_not_stop_the_good_ones(folder: Path) -> None:
    (folder / "empty.jpg").write_bytes(b"")
    before = snapshot(folder)
    out = via_runner(["predict", "--model", "runs/tiny", "cat.png", "empty.jpg", "--json"])
    assert out.exit_code == 1
    assert out.stderr == "dlcli: 1 of 2 could not be read as pictures\n"
    good, bad = json.loads(out.stdout)
    assert good["path"] == "cat.png"
    assert good["error"] is None
    assert (good["label"], good["probability"]) == predicted_by_hand(folder, "cat.png")
    assert bad["path"] == "empty.jpg"
    assert bad["label"] is None
    assert "not a picture dlcli reads" in bad["error"]
    assert snapshot(folder) == before


@pytest.mark.parametrize(("width", "height"), [(1, 1), (1, 300), (4000, 3)])
def test_tiny_and_thin_pictures_are_predicted(folder: Path, width: int, height: int) -> None:
    """A 1x1 picture is a real picture: resized (up) to the model's 2x2 like any other."""
    from PIL import Image

    Image.new("RGB", (width, height), (200, 30, 30)).save(folder / "one.png")
    before = snapshot(folder)
    out = via_runner(["predict", "--model", "runs/tiny", "one.png", "--json"])
    assert out.exit_code == 0, out.stderr
    assert out.stderr == ""
    [row] = json.loads(out.stdout)
    assert row["error"] is None
    assert (row["label"], row["probability"]) == predicted_by_hand(folder, "one.png")
    assert snapshot(folder) == before


def test_the_address_space_limit_bites() -> None:
    """The "process" cases prove "refused before allocating" only if the limit is real: under it,
    allocating what the absurd layer's W1 alone needs (16 GB) fails."""
    done = subprocess.run(
        [sys.executable, "-c", "import numpy; numpy.ones((10**9, 2))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=_limit_address_space,
    )
    assert done.returncode == 1
    assert "MemoryError" in done.stderr
