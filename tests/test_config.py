"""Config files and --set overrides: every bad one is a ConfigError that names the key or
file, what was found and what is allowed, on one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from dlcli.config import Config, load_config
from dlcli.errors import ConfigError, DlcliError

GOOD = """\
data:
  generate:
    name: flower
    examples: 400
    seed: 1
model:
  layers: [2, 4, 1]
  hidden_activation: tanh
"""


def write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def config_error(path: Path, overrides: list[str] | None = None) -> str:
    """The message of the ConfigError that loading ``path`` raises; always one line."""
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------- good configs


def test_good_config_and_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    assert isinstance(cfg, Config)
    assert cfg.data.generate is not None
    assert (cfg.data.generate.name, cfg.data.generate.examples, cfg.data.generate.seed) == (
        "flower",
        400,
        1,
    )
    assert cfg.data.train is None
    assert cfg.model.layers == [2, 4, 1]
    assert cfg.model.hidden_activation == "tanh"
    assert cfg.model.output_activation == "sigmoid"
    assert cfg.init.scale == 0.01
    assert cfg.init.seed == 1
    assert cfg.init.from_ is None
    assert cfg.train.learning_rate == 0.0075
    assert cfg.train.iterations == 2500
    assert cfg.train.log_every == 100
    assert cfg.train.dtype == "float64"
    assert cfg.output.dir == Path("runs")


def test_config_is_frozen(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    with pytest.raises(Exception, match="frozen"):
        cfg.train.iterations = 3  # type: ignore[misc]


def test_scientific_notation_is_a_float(tmp_path: Path) -> None:
    # PyYAML's YAML 1.1 reads "1e-3" as the string '1e-3'; we read it as the number.
    cfg = load_config(write(tmp_path, GOOD + "train:\n  learning_rate: 1e-3\n"))
    assert cfg.train.learning_rate == 0.001
    assert isinstance(cfg.train.learning_rate, float)


@pytest.mark.parametrize("scale", ["xavier", "he", "0", "0.5"])
def test_init_scale_accepts_numbers_and_rules(tmp_path: Path, scale: str) -> None:
    cfg = load_config(write(tmp_path, GOOD + f"init:\n  scale: {scale}\n"))
    assert cfg.init.scale == (scale if scale in ("xavier", "he") else float(scale))


def test_relative_paths_are_kept_as_written(tmp_path: Path) -> None:
    cfg = load_config(
        write(tmp_path, "data:\n  train: d/train.h5\n  test: d/test.h5\nmodel:\n  layers: [3, 1]\n")
    )
    assert cfg.data.train == Path("d/train.h5")
    assert cfg.data.test == Path("d/test.h5")


# ---------------------------------------------------------------- the file itself


def test_missing_config_file(tmp_path: Path) -> None:
    path = tmp_path / "nothere.yaml"
    message = config_error(path)
    assert str(path) in message
    assert "no such config file" in message


def test_config_path_is_a_directory(tmp_path: Path) -> None:
    message = config_error(tmp_path)
    assert str(tmp_path) in message
    assert "directory" in message


def test_config_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage\x9c")
    message = config_error(path)
    assert str(path) in message
    assert "UTF-8" in message


def test_malformed_yaml_names_line_and_column(tmp_path: Path) -> None:
    # Line 3: the flow mapping opened on line 2 is never closed, so "model:" is read
    # inside it and the ':' in column 6 is where the parser gives up.
    path = write(tmp_path, "data:\n  generate: {name: flower\nmodel: [1\n")
    message = config_error(path)
    assert message.startswith(f"{path}: not valid YAML (line 3, column 6)")
    assert "expected ',' or '}'" in message


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    message = config_error(path)
    assert message == f"{path}: the config is empty; it needs at least data and model.layers"


@pytest.mark.parametrize(
    ("text", "found"),
    [("- data\n- model\n", "a list"), ("just words\n", "a string"), ("3\n", "a number")],
)
def test_top_level_not_a_mapping(tmp_path: Path, text: str, found: str) -> None:
    path = write(tmp_path, text)
    message = config_error(path)
    assert str(path) in message
    assert "expected a mapping of sections (data, model, ...)" in message
    assert message.endswith(f"found {found}")


def test_duplicate_key(tmp_path: Path) -> None:
    # YAML itself lets the second "train" win silently; we refuse it and say where it is.
    path = write(
        tmp_path, GOOD + "train:\n  iterations: 5\ntrain:\n  learning_rate: 0.1\n", "dup.yaml"
    )
    message = config_error(path)
    assert str(path) in message
    assert "(line 11, column 1)" in message
    assert "duplicate key 'train'" in message


def test_duplicate_nested_key(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("  hidden_activation: tanh\n", "  layers: [2, 3, 1]\n"))
    message = config_error(path)
    assert "duplicate key 'layers'" in message
    assert "(line 8, column 3)" in message


def test_tab_indentation(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "train:\n\tlearning_rate: 0.1\n")
    message = config_error(path)
    assert str(path) in message
    assert "(line 10, column 1)" in message
    assert "'\\t'" in message  # the character found, written so a reader sees it is a tab


# ---------------------------------------------------------------- keys and values


def test_unknown_top_level_key_suggests_closest(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "trian:\n  iterations: 10\n")
    message = config_error(path)
    assert message == (
        f"{path}: trian: unknown key; allowed here: data, model, init, train, output; "
        "did you mean train?"
    )


def test_unknown_nested_key_suggests_closest(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "train:\n  learnig_rate: 0.1\n")
    message = config_error(path)
    assert message.startswith(f"{path}: train.learnig_rate: unknown key; allowed here: ")
    assert "learning_rate, iterations, log_every" in message
    assert message.endswith("did you mean train.learning_rate?")


def test_unknown_key_without_close_match_lists_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "zzz: 1\n")
    message = config_error(path)
    assert "zzz: unknown key; allowed here: data, model, init, train, output" in message
    assert "did you mean" not in message


def test_missing_required_key(tmp_path: Path) -> None:
    path = write(tmp_path, "data:\n  generate: {}\n")
    message = config_error(path)
    assert message == f"{path}: model: required key is missing"


@pytest.mark.parametrize(
    ("section", "text", "key", "found", "allowed"),
    [
        ("train", "iterations: 2.5", "train.iterations", "found 2.5", "integer"),
        ("train", "iterations: '10'", "train.iterations", "found '10'", "integer"),
        ("train", "learning_rate: abc", "train.learning_rate", "found 'abc'", "number"),
        ("train", "learning_rate: true", "train.learning_rate", "found True", "number"),
        ("model", "layers: 3", "model.layers", "found 3", "list"),
        ("model", "layers: [2, four, 1]", "model.layers[1]", "found 'four'", "integer"),
        ("model", "layers: [2]", "model.layers", "found [2]", "at least 2"),
        ("train", "dtype: float16", "train.dtype", "found 'float16'", "'float64' or 'float32'"),
        ("init", "scale: xavir", "init.scale", "found 'xavir'", "'xavier' or 'he'"),
        ("init", "scale: -1", "init.scale", "found -1", "number >= 0"),
    ],
)
def test_wrong_type_or_value(
    tmp_path: Path, section: str, text: str, key: str, found: str, allowed: str
) -> None:
    if section == "model":
        doc = GOOD.replace("  layers: [2, 4, 1]\n", f"  {text}\n")
    else:
        doc = GOOD + f"{section}:\n  {text}\n"
    path = write(tmp_path, doc)
    message = config_error(path)
    assert message.startswith(f"{path}: {key}: ")
    assert found in message
    assert allowed in message


def test_wrong_activation_lists_the_allowed_ones(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("hidden_activation: tanh", "hidden_activation: sigmod"))
    message = config_error(path)
    assert message == (
        f"{path}: model.hidden_activation: must be 'sigmoid', 'tanh', 'relu', 'leaky_relu' "
        "or 'linear', found 'sigmod'"
    )


@pytest.mark.parametrize("value", ["0", "0.0", "-0.1", "-1e-3"])
def test_learning_rate_not_positive(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, GOOD + f"train:\n  learning_rate: {value}\n")
    message = config_error(path)
    assert message.startswith(f"{path}: train.learning_rate: must be greater than 0, found ")
    assert float(message.rsplit("found ", 1)[1]) == float(value)


@pytest.mark.parametrize("value", [".nan", ".NaN", ".inf", "-.inf"])
def test_learning_rate_not_finite(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, GOOD + f"train:\n  learning_rate: {value}\n")
    message = config_error(path)
    assert message.startswith(f"{path}: train.learning_rate: ")
    assert "finite" in message or "greater than 0" in message  # -inf fails the > 0 first


@pytest.mark.parametrize("value", ["0", "-5"])
def test_iterations_below_one(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, GOOD + f"train:\n  iterations: {value}\n")
    message = config_error(path)
    assert message == (
        f"{path}: train.iterations: must be greater than or equal to 1, found {value}"
    )


@pytest.mark.parametrize(
    ("layers", "key", "found"),
    [
        ("[2, 0, 1]", "model.layers[1]", "0"),
        ("[0, 4, 1]", "model.layers[0]", "0"),
        ("[2, 4, -3]", "model.layers[2]", "-3"),
    ],
)
def test_layer_size_below_one(tmp_path: Path, layers: str, key: str, found: str) -> None:
    path = write(tmp_path, GOOD.replace("[2, 4, 1]", layers))
    message = config_error(path)
    assert message == f"{path}: {key}: must be greater than or equal to 1, found {found}"


def test_both_train_and_generate(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("data:\n", "data:\n  train: d/train.h5\n"))
    message = config_error(path)
    assert message == (
        f"{path}: data: give exactly one of data.train (a course HDF5 file) or data.generate"
    )


def test_neither_train_nor_generate(tmp_path: Path) -> None:
    path = write(tmp_path, "data: {}\nmodel:\n  layers: [2, 1]\n")
    message = config_error(path)
    assert "data: give exactly one of data.train" in message


def test_test_file_without_train_file(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("data:\n", "data:\n  test: d/test.h5\n"))
    message = config_error(path)
    assert message == f"{path}: data: data.test goes with data.train, not with data.generate"


def test_config_errors_are_dlcli_errors(tmp_path: Path) -> None:
    # The CLI turns DlcliError (and only that) into a one-line message and exit code 1.
    with pytest.raises(DlcliError):
        load_config(write(tmp_path, "3\n"))


# ---------------------------------------------------------------- --set overrides


def test_set_overrides_values_and_keeps_the_rest(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "train:\n  iterations: 10\n")
    cfg = load_config(
        path, ["train.learning_rate=0.5", "init.scale=he", "data.generate.examples=10"]
    )
    assert cfg.train.learning_rate == 0.5
    assert cfg.train.iterations == 10  # from the file
    assert cfg.init.scale == "he"
    assert cfg.data.generate is not None
    assert cfg.data.generate.examples == 10
    assert cfg.data.generate.seed == 1  # sibling keys of an overridden key survive
    assert cfg.model.hidden_activation == "tanh"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "init.scale=[1, 2]",
            "--set init.scale: must be a number >= 0 (0 gives zeros), 'xavier' or 'he', "
            "found [1, 2]",
        ),
        (
            "data.classes=[a, '']",
            "--set data.classes: must be a list of class names (words or integers), "
            "found ['a', '']",
        ),
    ],
)
def test_a_value_found_is_said_once(tmp_path: Path, override: str, message: str) -> None:
    """A check that names what it found is not followed by a second ", found ..."."""
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, GOOD), [override])
    assert str(caught.value) == message


def test_set_later_override_wins(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD), ["train.iterations=3", "train.iterations=7"])
    assert cfg.train.iterations == 7


def test_set_list_value_read_as_yaml(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD), ["model.layers=[2,3,1]"])
    assert cfg.model.layers == [2, 3, 1]


def test_set_scientific_notation_is_a_float(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD), ["train.learning_rate=1e-3"])
    assert cfg.train.learning_rate == 0.001


def test_set_value_with_equals_sign_and_null(tmp_path: Path) -> None:
    # Only the first '=' splits; the empty value and YAML null both clear an optional key.
    cfg = load_config(
        write(tmp_path, GOOD),
        ["data.generate=null", "data.train=a=b.h5", "data.test="],
    )
    assert cfg.data.generate is None
    assert cfg.data.train == Path("a=b.h5")
    assert cfg.data.test is None


def test_set_fills_an_empty_file(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, ""), ["data.generate.name=flower", "model.layers=[2,1]"])
    assert cfg.model.layers == [2, 1]
    assert cfg.data.generate is not None


def test_set_unknown_key_suggests_closest(tmp_path: Path) -> None:
    message = config_error(write(tmp_path, GOOD), ["train.learnig_rate=0.1"])
    assert message.startswith(
        "--set train.learnig_rate: unknown key; allowed here: learning_rate, iterations, log_every"
    )
    assert message.endswith("; did you mean train.learning_rate?")


def test_set_unknown_section_suggests_closest(tmp_path: Path) -> None:
    message = config_error(write(tmp_path, GOOD), ["modle.layers=[2,1]"])
    assert message == (
        "--set modle: unknown key; allowed here: data, model, init, train, output; "
        "did you mean model?"
    )


def test_set_below_a_value(tmp_path: Path) -> None:
    message = config_error(write(tmp_path, GOOD), ["train.iterations.max=3"])
    assert message == "--set train.iterations.max: train.iterations is a value, not a section"


@pytest.mark.parametrize("item", ["train.learning_rate", "=0.1", " =3", "noequals"])
def test_set_not_key_equals_value(tmp_path: Path, item: str) -> None:
    message = config_error(write(tmp_path, GOOD), [item])
    assert message == f"--set {item!r}: expected KEY=VALUE, e.g. train.learning_rate=0.01"


def test_set_bad_yaml_value(tmp_path: Path) -> None:
    message = config_error(write(tmp_path, GOOD), ["model.layers=[2,3"])
    assert message.startswith("--set model.layers: not valid YAML")


def test_set_invalid_value_is_validated(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    message = config_error(path, ["train.learning_rate=0"])
    assert "train.learning_rate: must be greater than 0, found 0" in message


# ---------------------------------------------------------------- the resolved config


def test_to_dict_is_plain_and_round_trips(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "data:\n  train: d/train.h5\n  test: d/test.h5\nmodel:\n  layers: [12288, 7, 1]\n"
        "init:\n  scale: xavier\n  from: old/params.h5\ntrain:\n  learning_rate: 1e-3\n",
    )
    cfg = load_config(path)
    resolved = cfg.to_dict()
    # Plain values only: JSON and YAML can hold it, paths are strings, 'from' by its name.
    assert json.loads(json.dumps(resolved)) == resolved
    assert resolved["data"] == {
        "train": "d/train.h5",
        "test": "d/test.h5",
        "generate": None,
        "validation": None,
        "validation_fraction": 0.0,
        "test_fraction": 0.0,
        "split_seed": 1,
        "target": None,
        "features": None,
        "stream": False,
    }
    assert resolved["init"] == {
        "scale": "xavier",
        "seed": 1,
        "from": "old/params.h5",
        "per_layer": {},
    }
    assert resolved["model"]["layers"] == [12288, 7, 1]
    assert resolved["train"]["learning_rate"] == 0.001
    assert resolved["output"] == {"dir": "runs"}
    # Written out as the run directory's config.yaml and read back: the same config.
    again = load_config(write(tmp_path, yaml.safe_dump(resolved, sort_keys=False), "r.yaml"))
    assert again == cfg
    assert again.to_dict() == resolved


def test_to_dict_round_trip_with_generate_and_overrides(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD), ["train.iterations=50", "init.scale=0"])
    resolved = cfg.to_dict()
    assert resolved["train"]["iterations"] == 50
    assert resolved["init"]["scale"] == 0.0
    assert resolved["data"]["generate"] == {
        "name": "flower",
        "classes": 3,
        "examples": 400,
        "seed": 1,
    }
    again = load_config(write(tmp_path, yaml.safe_dump(resolved), "r.yaml"))
    assert again == cfg


def test_a_bad_value_from_set_is_reported_as_set(tmp_path: Path) -> None:
    path = write(tmp_path, "data: {generate: {name: flower}}\nmodel: {layers: [2, 1]}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, ["train.learning_rate=0"])
    assert str(info.value) == "--set train.learning_rate: must be greater than 0, found 0"


def test_tabs_and_duplicates_say_what_is_allowed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="indent with spaces, not tabs"):
        load_config(write(tmp_path, "data:\n\tgenerate: 1\n"))
    with pytest.raises(ConfigError, match="duplicate key 'model'; each key may appear once"):
        load_config(write(tmp_path, "model: {}\nmodel: {}\n"))
