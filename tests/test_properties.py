"""Property-based tests (hypothesis): whatever a user hands the config loader, ``--set`` or
the picture reader, the answer is a value of the documented kind or the tool's own error
(:class:`DlcliError`, one line naming what was wrong), never anything else.

Plus a reading of dlcli's source: no pickle, no eval/exec, YAML only through a safe loader,
np.load only with allow_pickle=False.
"""

from __future__ import annotations

import ast
import io
import re
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from dlcli import images
from dlcli.config import Config, load_config
from dlcli.errors import ConfigError, DlcliError

REPO = Path(__file__).resolve().parents[1]
FLOWER = REPO / "configs" / "flower.yaml"

settings.register_profile(
    "dlcli-properties", max_examples=60, deadline=None, database=None, derandomize=True
)
PROPERTIES = settings(settings.get_profile("dlcli-properties"))


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    """One folder for every example's file (hypothesis runs a test body many times)."""
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


def refused(call: Any) -> DlcliError | None:
    """Run ``call()``; None if it returned, the DlcliError if it raised one (anything else
    propagates and fails the test). The error must be one non-empty line; a config's may be
    one line per error (issue 17: at most 20, then "and N more"), each a different one."""
    try:
        call()
    except DlcliError as exc:
        message = str(exc)
        lines = message.split("\n")
        assert all(line.strip() for line in lines), message
        assert "\r" not in message, message
        assert len(lines) == 1 or isinstance(exc, ConfigError), message
        assert len(lines) == len(set(lines)) and len(lines) <= 21, message
        assert len(lines) < 21 or re.fullmatch(r"and \d+ more", lines[-1]), message
        return exc
    return None


# ---------------------------------------------------------------- the config loader


def schema_paths(model: type[BaseModel] = Config, prefix: str = "") -> list[str]:
    """Every dotted key of the schema, sections and values: data, data.train, ..."""
    paths = []
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        paths.append(key)
        for sub in getattr(field.annotation, "__args__", (field.annotation,)):
            if isinstance(sub, type) and issubclass(sub, BaseModel):
                paths += schema_paths(sub, key + ".")
    return paths


PATHS = schema_paths()
KEYS = sorted({part for path in PATHS for part in path.split(".")})

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["flower", "tanh", "relu", "xavier", "he", "float32", "adam", "auto"])
    | st.sampled_from([0, 1, 2, 4, 12288, 0.5, 1e-3, -1, float("nan"), float("inf")])
)
keys = st.sampled_from(KEYS) | st.text(max_size=8)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=16,
)
yamlish = st.text() | st.text(
    alphabet=st.sampled_from(list("{}[]:,-?!&*#|>'\"%@` \t\n.0123456789eE+_abcdlnrtuy")),
    max_size=80,
)


def write_config(folder: Path, text: str) -> Path:
    path = folder / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def load(path: Path, overrides: list[str] | None = None) -> Config | None:
    """load_config's answer: the Config, or None when it raised a DlcliError."""
    result: list[Config] = []
    if refused(lambda: result.append(load_config(path, overrides))) is None:
        assert isinstance(result[0], Config)
        return result[0]
    return None


VALID = yaml.safe_load(
    """
data:
  generate: {name: flower, examples: 400, seed: 1}
model:
  layers: [2, 4, 1]
  hidden_activation: tanh
  output_activation: sigmoid
init:
  scale: 0.01
  seed: 2
train:
  learning_rate: 1.2
  iterations: 5
  log_every: 1
output:
  dir: runs
"""
)


def test_the_unmutated_config_loads(scratch: Path) -> None:
    cfg = load(write_config(scratch, yaml.safe_dump(VALID)))
    assert cfg is not None
    assert cfg.model.layers == [2, 4, 1]
    assert cfg.train.learning_rate == 1.2


@PROPERTIES
@given(text=yamlish)
# Found by these properties once, each a traceback then: nesting deeper than PyYAML's recursion,
# an int of more digits than Python converts, a date that does not exist, a list as a key.
@example(text="x: " + "[" * 1000 + "]" * 1000)
@example(text="train: {iterations: " + "7" * 5000 + "}")
@example(text="train: {learning_rate: 2001-13-45}")
@example(text="? [a, b]\n: 1\n")
def test_any_text_loads_or_is_refused(scratch: Path, text: str) -> None:
    load(write_config(scratch, text))


@PROPERTIES
@given(document=values)
def test_any_yaml_document_loads_or_is_refused(scratch: Path, document: Any) -> None:
    cfg = load(write_config(scratch, yaml.safe_dump(document)))
    if cfg is not None:
        assert isinstance(document, dict)
        assert cfg.model.layers == document["model"]["layers"]


@st.composite
def mutations(draw: st.DrawFn) -> list[tuple[list[str], Any]]:
    """Keys of the valid config (or new ones) set to arbitrary values, one to four of them."""
    changes = []
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(PATHS)).split(".")
        if draw(st.booleans()):
            path[draw(st.integers(0, len(path) - 1))] = draw(keys)
        changes.append((path, draw(values)))
    return changes


def mutate(config: dict, changes: list[tuple[list[str], Any]]) -> dict:
    import copy

    config = copy.deepcopy(config)
    for path, value in changes:
        node = config
        for part in path[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[path[-1]] = value
    return config


@PROPERTIES
@given(changes=mutations())
@example(changes=[(["\r"], None)])  # once a message of two lines: the key is now quoted
@example(changes=[(["model", "layers"], [[[[1]]]] * 3)])
def test_a_mutated_config_loads_or_is_refused(
    scratch: Path, changes: list[tuple[list[str], Any]]
) -> None:
    mutated = mutate(VALID, changes)
    cfg = load(write_config(scratch, yaml.safe_dump(mutated)))
    if cfg is not None:
        # What loads is what was written: the layers survive validation unchanged.
        assert cfg.model.layers == mutated["model"]["layers"]


# ---------------------------------------------------------------- --set


set_items = (
    st.text()
    | st.builds(lambda key, value: f"{key}={value}", st.sampled_from(PATHS) | keys, yamlish)
    | st.builds(
        lambda key, value: f"{key}={yaml.safe_dump(value, default_flow_style=True).strip()}",
        st.sampled_from(PATHS),
        values,
    )
)


@PROPERTIES
@given(items=st.lists(set_items, min_size=1, max_size=3))
def test_any_set_loads_or_is_refused(items: list[str]) -> None:
    load(FLOWER, items)


@PROPERTIES
@given(items=st.lists(set_items, min_size=1, max_size=3), text=yamlish)
def test_any_set_on_any_file_loads_or_is_refused(
    scratch: Path, items: list[str], text: str
) -> None:
    load(write_config(scratch, text), items)


# ---------------------------------------------------------------- the picture reader

MAGIC = [
    b"",
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    b"GIF89a",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
    b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    b"P6\n2 2\n255\n",
    b"P5\n4 4\n65535\n",
]
MODES = ["1", "L", "P", "RGB", "RGBA", "LA", "PA", "CMYK", "YCbCr", "I", "I;16", "F"]
FORMATS = ["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "PPM"]
# Modes whose pictures must read whenever they are whole: 8-bit samples, as Pillow saves them.
EIGHT_BIT = {"1", "L", "P", "RGB", "RGBA", "LA", "PA", "CMYK", "YCbCr"}


def read(path: Path, size: tuple[int, int], channels: int, fit: str) -> np.ndarray | None:
    """read_image's answer: pixels of the documented shape, or None when it raised a DlcliError.
    It warns about nothing: a warning would be one more line on the user's stderr."""
    result: list[np.ndarray] = []
    call = lambda: result.append(images.read_image(path, size, channels, fit=fit))  # noqa: E731
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        error = refused(call)
    assert [str(w.message) for w in caught] == []
    if error is None:
        pixels = result[0]
        assert isinstance(pixels, np.ndarray)
        assert pixels.dtype == np.uint8
        assert pixels.shape == (*size, channels)
        return pixels
    return None


model_inputs = st.tuples(
    st.tuples(st.integers(1, 16), st.integers(1, 16)),
    st.sampled_from([1, 3]),
    st.sampled_from(["stretch", "crop"]),
)


@PROPERTIES
@given(magic=st.sampled_from(MAGIC), tail=st.binary(max_size=600), model=model_inputs)
# Once a "Corrupt EXIF data" warning from Pillow: two more lines on predict's stderr.
@example(
    magic=b"II*\x00",
    tail=b"\xf0\xf71]r\n\xd3\xdd\x17\xeb\x12\x9c\xc7\xd9*u_X\x89",
    model=((4, 4), 3, "stretch"),
)
def test_any_bytes_read_or_are_refused(
    scratch: Path, magic: bytes, tail: bytes, model: tuple
) -> None:
    path = scratch / "picture.png"
    path.write_bytes(magic + tail)
    read(path, *model)


@PROPERTIES
@given(
    mode=st.sampled_from(MODES),
    fmt=st.sampled_from(FORMATS),
    width=st.integers(1, 40),
    height=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
    cut=st.none() | st.floats(0, 1, exclude_max=True),
    model=model_inputs,
)
def test_real_pictures_read_or_are_refused(
    scratch: Path,
    mode: str,
    fmt: str,
    width: int,
    height: int,
    seed: int,
    cut: float | None,
    model: tuple,
) -> None:
    from PIL import Image

    noise = np.random.RandomState(seed).randint(0, 256, size=(height, width, 3), dtype=np.uint8)
    picture = Image.fromarray(noise).convert(mode)
    buffer = io.BytesIO()
    try:
        picture.save(buffer, format=fmt)
    except (OSError, ValueError, KeyError, TypeError):
        assume(False)  # Pillow cannot write this mode in this format
    content = buffer.getvalue()
    if cut is not None:
        content = content[: int(cut * len(content))]
    path = scratch / f"picture.{fmt.lower()}"
    path.write_bytes(content)
    pixels = read(path, *model)
    if cut is None and mode in EIGHT_BIT:
        assert pixels is not None, f"a whole {mode} {fmt} of {width}x{height} was refused"


# ---------------------------------------------------------------- no code runs from files


def source_files() -> list[Path]:
    files = sorted((REPO / "dlcli").rglob("*.py"))
    assert len(files) >= 10
    return files


FORBIDDEN_MODULES = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "joblib"}
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}
SAFE_LOADERS = {"_Loader", "SafeLoader", "CSafeLoader"}


def dotted(node: ast.AST) -> str:
    """``yaml.load`` for the expression yaml.load, "" for anything not a dotted name."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = dotted(node.value)
        return f"{inner}.{node.attr}" if inner else ""
    return ""


def code_problems(text: str) -> list[str]:
    """What in this Python source could run code from a file: pickle-like imports, eval/exec,
    YAML read without a safe loader, np.load without allow_pickle=False."""
    problems = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] + (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            )
            problems += [f"imports {n}" for n in names if n.split(".")[0] in FORBIDDEN_MODULES]
        if not isinstance(node, ast.Call):
            continue
        name = dotted(node.func)
        kwargs = {k.arg: k.value for k in node.keywords}
        if isinstance(node.func, ast.Name) and name in FORBIDDEN_CALLS:
            problems.append(f"calls {name}")
        if name.split(".")[-1] in {"unsafe_load", "full_load", "unsafe_load_all", "full_load_all"}:
            problems.append(f"calls {name}")
        if name in {"yaml.load", "yaml.load_all"}:
            loader = kwargs.get("Loader", node.args[1] if len(node.args) > 1 else None)
            if loader is None or dotted(loader).split(".")[-1] not in SAFE_LOADERS:
                problems.append(f"{name} without a safe loader")
        if name in {"np.load", "numpy.load"}:
            allow = kwargs.get("allow_pickle")
            if not (isinstance(allow, ast.Constant) and allow.value is False):
                problems.append(f"{name} without allow_pickle=False")
        if "allow_pickle" in kwargs and not (
            isinstance(kwargs["allow_pickle"], ast.Constant)
            and kwargs["allow_pickle"].value is False
        ):
            problems.append(f"{name} with allow_pickle not False")
    return problems


@pytest.mark.parametrize("path", source_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_code_runs_from_files(path: Path) -> None:
    assert code_problems(path.read_text()) == []


def test_the_source_check_catches_what_it_forbids() -> None:
    """The check above fails on code that does what it forbids (so it can fail at all)."""
    bad = [
        "import pickle",
        "from pickle import loads",
        "import dill as d",
        "x = eval('1')",
        "exec(source)",
        "yaml.load(text)",
        "yaml.load(text, Loader=yaml.Loader)",
        "yaml.load(text, yaml.FullLoader)",
        "yaml.unsafe_load(text)",
        "yaml.full_load(text)",
        "np.load(path)",
        "np.load(path, allow_pickle=True)",
        "numpy.load(path, allow_pickle=flag)",
        "np.lib.format.read_array(f, allow_pickle=True)",
    ]
    for source in bad:
        assert code_problems(source), source
    good = (
        "import re\nre.compile('x')\nyaml.load(text, Loader=_Loader)\nyaml.safe_load(text)\n"
        "np.load(p, allow_pickle=False)\n# eval(x) in a comment\ns = 'exec(x) in a string'\n"
    )
    assert code_problems(good) == []


def test_the_yaml_loader_is_a_safe_loader() -> None:
    from dlcli.config import parse as config

    assert issubclass(config._Loader, yaml.SafeLoader)
    with pytest.raises(DlcliError, match="could not determine a constructor"):
        config.parse_yaml("!!python/object/apply:os.system ['true']", "x.yaml")
