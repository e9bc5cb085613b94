"""Every config error at once (issue 17, point 5): one line per error, in the file's line
order, then the --set ones in the order given; at most 20, then "and N more"; exit 1. Each
line is the very line that mistake gives alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_evaluate import dlcli

from dlcli.config import load_config, validate
from dlcli.errors import ConfigError

PREFIX = "dlcli: config error: "
ALLOWED_TRAIN = (
    "learning_rate, iterations, log_every, dtype, engine, checkpoint_every, epochs, "
    "batch_size, optimizer, beta, beta1, beta2, epsilon, lr_decay, lr_decay_every, l2, seed, "
    "early_stopping, shuffle, class_weight"
)

# Four mistakes in three sections: a check between keys (data.stream needs a course file),
# a wrong value, an unknown key with its did-you-mean, a value out of range.
FOUR = """\
data:
  generate: {name: flower}
  stream: true
model:
  layers: [2, 4, 1]
  hidden_activation: sigmod
train:
  learnig_rate: 0.1
  iterations: 0
"""
GOOD = "data:\n  generate: {name: flower}\nmodel:\n  layers: [2, 4, 1]\n"


def lines_for(path: Path) -> list[str]:
    """The four mistakes' messages, as each is reported alone (``path`` for the file)."""
    return [
        f"{path}: data.stream: true reads a course HDF5 file from disk; data.train must be "
        "one, found data.generate",
        f"{path}: model.hidden_activation: must be 'sigmoid', 'tanh', 'relu', 'leaky_relu' or "
        "'linear', found 'sigmod'",
        f"{path}: train.learnig_rate: unknown key; allowed here: {ALLOWED_TRAIN}; did you mean "
        "train.learning_rate?",
        f"{path}: train.iterations: must be greater than or equal to 1, found 0",
    ]


def test_each_mistake_alone_gives_its_line(in_tmp: Path) -> None:
    # One mistake at a time, into the good config: the lines the combined report repeats.
    alone = [
        GOOD.replace(
            "  generate: {name: flower}\n", "  generate: {name: flower}\n  stream: true\n"
        ),
        GOOD + "  hidden_activation: sigmod\n",
        GOOD + "train:\n  learnig_rate: 0.1\n",
        GOOD + "train:\n  iterations: 0\n",
    ]
    for text, expected in zip(alone, lines_for(Path("c.yaml")), strict=True):
        Path("c.yaml").write_text(text)
        with pytest.raises(ConfigError) as info:
            load_config(Path("c.yaml"))
        assert str(info.value) == expected


@pytest.mark.parametrize("command", [["train"], ["train", "--dry-run"], ["gradcheck"]])
def test_four_mistakes_in_three_sections_come_out_in_file_order(
    in_tmp: Path, command: list[str]
) -> None:
    Path("c.yaml").write_text(FOUR)
    code, out, err = dlcli(*command[:1], "c.yaml", *command[1:])
    assert code == 1
    assert out == ""
    assert err.splitlines() == [PREFIX + line for line in lines_for(Path("c.yaml"))]
    assert not Path("runs").exists()


def test_set_errors_come_after_the_files_in_the_order_given(in_tmp: Path) -> None:
    Path("c.yaml").write_text(FOUR)
    code, _, err = dlcli(
        "train",
        "c.yaml",
        "--set",
        "train.lr=3",  # unknown key: not applied
        "--set",
        "model.hidden_activation=tanh",  # fixes the file's mistake: its line goes
        "--set",
        "model.layers=[2,3",  # not YAML: not applied, the file's layers stay
        "--set",
        "train.learning_rate=-1",  # applied, then refused by the schema
        "--set",
        "noequals",
    )
    assert code == 1
    file_lines = lines_for(Path("c.yaml"))
    assert err.splitlines() == [
        PREFIX + file_lines[0],
        PREFIX + file_lines[2],
        PREFIX + file_lines[3],
        PREFIX + f"--set train.lr: unknown key; allowed here: {ALLOWED_TRAIN}",
        PREFIX + "--set model.layers: not valid YAML (line 1, column 5): expected ',' or ']', "
        "but got '<stream end>'",
        PREFIX + "--set train.learning_rate: must be greater than 0, found -1",
        PREFIX + "--set 'noequals': expected KEY=VALUE, e.g. train.learning_rate=0.01",
    ]


def test_a_check_between_keys_comes_out_with_the_wrong_values_of_other_sections(
    in_tmp: Path,
) -> None:
    # pydantic runs Config's checks only when every section is valid: the early-stopping
    # check is reported here beside the wrong learning rate all the same.
    Path("c.yaml").write_text(
        GOOD + "  keep_prob: 2\ntrain:\n  early_stopping: {patience: 3}\n  learning_rate: 0\n"
    )
    code, _, err = dlcli("train", "c.yaml")
    assert code == 1
    assert err.splitlines() == [
        PREFIX + "c.yaml: model.keep_prob: must be a keep probability in (0, 1] (1 keeps every "
        "unit) or a list of them, one per hidden layer, found 2",
        PREFIX + "c.yaml: train.early_stopping watches the validation cost: set "
        "data.validation_fraction (e.g. 0.2) or data.validation (a file)",
        PREFIX + "c.yaml: train.learning_rate: must be greater than 0, found 0",
    ]


def test_a_sections_own_check_comes_out_beside_its_wrong_key(in_tmp: Path) -> None:
    # data's "exactly one source" check runs although data.test_fraction is wrong; it goes
    # where the first key it names (data.train) is written.
    Path("c.yaml").write_text(
        "data:\n  test_fraction: 2\n  train: d.h5\n  generate: flower\nmodel:\n  layers: [2, 1]\n"
    )
    code, _, err = dlcli("train", "c.yaml")
    assert code == 1
    assert err.splitlines() == [
        PREFIX + "c.yaml: data.test_fraction: must be less than 1, found 2",
        PREFIX + "c.yaml: data: give exactly one of data.train (a course HDF5 file) or "
        "data.generate",
    ]


def test_a_check_that_reads_a_wrong_key_is_not_reported(in_tmp: Path) -> None:
    # Early stopping needs data.validation_fraction, which is wrong here: only its own error
    # is true; "set data.validation_fraction" would send the user the wrong way.
    Path("c.yaml").write_text(
        GOOD.replace("data:\n", "data:\n  validation_fraction: half\n")
        + "train:\n  early_stopping: {patience: 3}\n"
    )
    code, _, err = dlcli("train", "c.yaml")
    assert code == 1
    assert (
        err == PREFIX + "c.yaml: data.validation_fraction: must be a valid number, found 'half'\n"
    )


def test_at_most_twenty_then_and_n_more(in_tmp: Path) -> None:
    Path("c.yaml").write_text(GOOD.replace("[2, 4, 1]", "[" + ", ".join(["0"] * 25) + "]"))
    code, _, err = dlcli("train", "c.yaml")
    assert code == 1
    assert err.splitlines() == [
        *(
            PREFIX + f"c.yaml: model.layers[{i}]: must be greater than or equal to 1, found 0"
            for i in range(20)
        ),
        PREFIX + "and 5 more",
    ]


def test_a_missing_key_comes_after_the_files_keys(in_tmp: Path) -> None:
    Path("c.yaml").write_text("data:\n  generate: spiral\ntrain:\n  iterations: 0\n")
    code, _, err = dlcli("train", "c.yaml")
    assert code == 1
    assert err.splitlines() == [
        PREFIX + "c.yaml: train.iterations: must be greater than or equal to 1, found 0",
        PREFIX + "c.yaml: model: required key is missing",
    ]


def test_validate_reports_every_error_one_line_each() -> None:
    # A config held in memory (a model file's, a sweep's trial): the schema's order.
    raw = {"data": {"generate": "flower"}, "model": {"layers": [2, 1]}, "train": {"l2": -1}}
    raw["trian"] = {}
    with pytest.raises(ConfigError) as info:
        validate(raw, "stored")
    assert str(info.value).split("\n") == [
        "stored: train.l2: must be greater than or equal to 0, found -1",
        "stored: trian: unknown key; allowed here: data, model, init, train, output; did you "
        "mean train?",
    ]


def test_three_checks_of_the_whole_config_all_come_out(in_tmp: Path) -> None:
    # Config's own checks stop at the first that fails, and run only when every key is right:
    # here all three fail, beside a wrong train.l2.
    Path("c.yaml").write_text(
        "data:\n  generate: flower\n  stream: true\nmodel:\n  layers: [2, 1]\n"
        "init:\n  per_layer: {3: he}\ntrain:\n  early_stopping: {}\n  l2: -1\n"
    )
    code, _, err = dlcli("train", "c.yaml")
    assert code == 1
    assert err.splitlines() == [
        PREFIX + "c.yaml: data.stream: true reads a course HDF5 file from disk; data.train must "
        "be one, found data.generate",
        PREFIX + "c.yaml: init.per_layer: layer 3 does not exist; model.layers has layers 1 to 1",
        PREFIX + "c.yaml: train.early_stopping watches the validation cost: set "
        "data.validation_fraction (e.g. 0.2) or data.validation (a file)",
        PREFIX + "c.yaml: train.l2: must be greater than or equal to 0, found -1",
    ]
