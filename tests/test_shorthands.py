"""``data.generate: NAME`` (issue 17, point 6): the generator's set with its defaults, as
``data.generate: {name: NAME}``; also ``--set data.generate=NAME``."""

from __future__ import annotations

import typing
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from dlcli.cli import app
from dlcli.config import load_config
from dlcli.config.schema import GenerateConfig

NAMES = typing.get_args(GenerateConfig.model_fields["name"].annotation)


def write(tmp_path: Path, generate: str, layers: str = "[2, 4, 1]") -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(f"data:\n  generate: {generate}\nmodel:\n  layers: {layers}\n")
    return path


def test_every_generator_of_the_schema_is_a_shorthand() -> None:
    assert NAMES == ("flower", "spiral", "housing", "churn")


@pytest.mark.parametrize("name", NAMES)
def test_the_name_alone_is_that_set_with_its_defaults(tmp_path: Path, name: str) -> None:
    short = load_config(write(tmp_path, name)).data.generate
    assert short == load_config(write(tmp_path, f"{{name: {name}}}")).data.generate
    assert short is not None
    examples = 300 if name == "spiral" else 400  # 100 an arm: 400 does not split into 3
    assert (short.name, short.classes, short.examples, short.seed) == (name, 3, examples, 1)


@pytest.mark.parametrize(("classes", "examples"), [(2, 200), (3, 300), (7, 700), (100, 10_000)])
def test_a_spiral_without_a_size_has_100_examples_an_arm(
    tmp_path: Path, classes: int, examples: int
) -> None:
    """{name: spiral} made 399 examples of the 400 default (133 an arm); now every arm has
    100, and the data set is that big."""
    cfg = load_config(write(tmp_path, f"{{name: spiral, classes: {classes}}}"))
    assert cfg.data.generate is not None
    assert cfg.data.generate.examples == examples
    from dlcli.data.generated import spiral

    X, Y = spiral(cfg.data.generate.examples, classes)
    assert X.shape == (2, examples)
    assert np.bincount(Y.ravel().astype(int)).tolist() == [100] * classes


def test_set_the_name_alone(tmp_path: Path) -> None:
    path = write(tmp_path, "{name: flower, examples: 200, seed: 7}")
    cfg = load_config(path, ["data.generate=spiral"])
    assert cfg.data.generate == GenerateConfig(name="spiral")
    # A key of the set given after the name: the shorthand is a mapping from then on.
    cfg = load_config(write(tmp_path, "spiral"), ["data.generate.examples=300"])
    assert cfg.data.generate == GenerateConfig(name="flower", examples=300)


def test_a_name_it_does_not_know_names_the_generators(tmp_path: Path) -> None:
    path = write(tmp_path, "flowr")
    result = CliRunner().invoke(app, ["train", str(path)])
    assert result.exit_code == 1
    assert result.stderr == (
        f"dlcli: config error: {path}: data.generate.name: must be 'flower', 'spiral', "
        "'housing' or 'churn', found 'flowr'\n"
    )


def test_train_with_the_shorthand_equals_the_mapping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    fast = ["--set", "train.iterations=30", "--set", "train.log_every=10", "--quiet"]
    runner = CliRunner()
    Path("short.yaml").write_text("data:\n  generate: flower\nmodel:\n  layers: [2, 4, 1]\n")
    Path("long.yaml").write_text("data:\n  generate: {name: flower}\nmodel:\n  layers: [2, 4, 1]\n")
    for name in ("short", "long"):
        result = runner.invoke(app, ["train", f"{name}.yaml", "--out", f"runs/{name}", *fast])
        assert result.exit_code == 0, result.stderr
    saved = yaml.safe_load(Path("runs/short/config.yaml").read_text())
    assert saved["data"]["generate"] == {"name": "flower", "classes": 3, "examples": 400, "seed": 1}
    for file in ("config.yaml", "params.h5", "costs.csv"):
        assert (Path("runs/short") / file).read_bytes() == (Path("runs/long") / file).read_bytes()
