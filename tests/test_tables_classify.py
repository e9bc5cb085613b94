"""Classification on CSV tables (issue 13): words or integers as labels, categorical columns
one-hot, missing cells, the layer-mismatch breakdown, --dry-run and gradcheck, and predict /
evaluate speaking the table's words. Everything through the CLI, on small CSVs written here
from a known rule: label "yes" when 2a - b + (colour == "red") > 0."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from dlcli.cli import app


def dlcli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def rule_rows(m: int, seed: int) -> list[dict[str, str]]:
    """Rows of the rule table: a, b ~ N(0, 1), colour uniform over red, green, blue, label
    "yes" when 2a - b + (colour == "red") > 0, else "no"."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=m), rng.normal(size=m)
    colour = rng.choice(["red", "green", "blue"], size=m)
    label = np.where(2 * a - b + (colour == "red") > 0, "yes", "no")
    return [
        {"a": repr(float(a[i])), "b": repr(float(b[i])), "colour": str(colour[i]),
         "label": str(label[i])}
        for i in range(m)
    ]  # fmt: skip


def write_csv(path: str, rows: list[dict[str, str]], header: list[str] | None = None) -> Path:
    header = header or list(rows[0])
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return Path(path)


def config(path: str = "c.yaml", layers: list[int] | None = None, output: str = "sigmoid",
           iterations: int = 300, **data: object) -> Path:  # fmt: skip
    """A small classifier on rows.csv: adam, he init, 8 relu units."""
    cfg = {
        "data": {"train": "rows.csv", "target": "label", **data},
        "model": {"layers": layers or [5, 8, 1], "hidden_activation": "relu",
                  "output_activation": output},
        "init": {"scale": "he", "seed": 1},
        "train": {"learning_rate": 0.01, "optimizer": "adam", "iterations": iterations,
                  "log_every": 100},
    }  # fmt: skip
    Path(path).write_text(yaml.safe_dump(cfg))
    return Path(path)


def meta(run: str) -> tuple[list[str], dict]:
    with h5py.File(Path(run) / "params.h5", "r") as f:
        return json.loads(f.attrs["classes"]), json.loads(f.attrs["preprocessing"])


def fails(*args: str) -> str:
    """A command that must fail with one line on stderr and exit 1; that line."""
    code, out, err = dlcli(*args)
    assert (code, out) == (1, ""), err
    assert err.count("\n") == 1, err
    return err.removesuffix("\n")


# ---------------------------------------------------------------- 1. classes from a CSV


def test_words_as_labels_train_to_the_rule(in_tmp: Path) -> None:
    write_csv("rows.csv", rule_rows(400, 0))
    code, out, err = dlcli("train", str(config(test_fraction=0.25)), "--json", "--quiet",
                           "--out", "runs/r")  # fmt: skip
    assert code == 0, err
    metrics = json.loads(out)
    assert metrics["train_examples"] == 300 and metrics["test_examples"] == 100
    assert metrics["test_accuracy"] >= 0.95
    classes, prep = meta("runs/r")
    assert classes == ["no", "yes"]  # sorted; "yes" is label 1, the positive class
    assert prep["task"] == "classification" and prep["target"] == "label"
    assert [c["name"] for c in prep["columns"]] == ["a", "b", "colour"]
    assert prep["columns"][2] == {
        "name": "colour", "type": "categorical", "categories": ["blue", "green", "red"],
    }  # fmt: skip


def test_data_classes_fix_the_order(in_tmp: Path) -> None:
    write_csv("rows.csv", rule_rows(60, 1))
    code, _, err = dlcli("train", str(config(classes=["yes", "no"], iterations=5)), "--quiet",
                         "--out", "runs/r")  # fmt: skip
    assert code == 0, err
    assert meta("runs/r")[0] == ["yes", "no"]
    # A label outside data.classes names its row.
    rows = rule_rows(6, 1)
    rows[3]["label"] = "maybe"
    write_csv("rows.csv", rows)
    assert fails("train", str(config(classes=["no", "yes"]))) == (
        "dlcli: data error: data.train: rows.csv: line 5, column 'label': 'maybe' is not one "
        "of data.classes ['no', 'yes']"
    )


def test_integer_labels_sort_as_numbers_for_softmax(in_tmp: Path) -> None:
    rows = rule_rows(90, 2)
    for i, row in enumerate(rows):
        row["label"] = ["1", "2", "10"][i % 3]
    write_csv("rows.csv", rows)
    code, _, err = dlcli("train", str(config(layers=[5, 4, 3], output="softmax", iterations=5)),
                         "--quiet", "--out", "runs/s")  # fmt: skip
    assert code == 0, err
    assert meta("runs/s")[0] == ["1", "2", "10"]
    # K must be model.layers[-1]: the existing message, with the labels' count.
    assert fails("train", str(config(layers=[5, 4, 4], output="softmax"))) == (
        "dlcli: config error: model.layers[-1]: is 4 but the labels Y have n_y = 3 rows; set "
        "the last entry of model.layers to 3"
    )


@pytest.mark.parametrize(
    ("labels", "data", "message"),
    [
        (["yes"] * 4, {}, "data.target: column 'label' of rows.csv holds one class only "
         "('yes'); a classifier needs examples of 2 classes or more"),
        (["a", "b", "c", "a"], {}, "data.target: column 'label' of rows.csv: the labels are 3 "
         "classes (a, b, c); a sigmoid output takes exactly 2; for more set "
         "model.output_activation: softmax and model.layers[-1]: 3"),
        (["a", "b", "a", "b"], {"classes": ["a", "b", "c"]}, "data.target: column 'label' of "
         "rows.csv: data.classes names 3 classes (a, b, c); a sigmoid output takes exactly 2; "
         "for more set model.output_activation: softmax and model.layers[-1]: 3"),
        (["0", "1", "0.5", "1"], {}, "data.train: rows.csv: line 4, column 'label': 0.5 is not "
         "a class label; a sigmoid output takes labels that are words or integers (for numbers "
         "set model.output_activation: linear)"),
        (["a", "b", "a", "b"], {"target": "class"}, "data.target: 'class' is not a column of "
         "rows.csv; columns: ['a', 'b', 'colour', 'label']"),
    ],
    ids=["one-class", "three-for-sigmoid", "classes-three", "fraction", "no-target"],
)  # fmt: skip
def test_label_errors(in_tmp: Path, labels: list[str], data: dict, message: str) -> None:
    rows = rule_rows(len(labels), 3)
    for row, label in zip(rows, labels, strict=True):
        row["label"] = label
    write_csv("rows.csv", rows)
    assert fails("train", str(config(**data))) == f"dlcli: data error: {message}"


def test_words_for_a_linear_output(in_tmp: Path) -> None:
    write_csv("rows.csv", rule_rows(10, 4))
    assert fails("train", str(config(output="linear"))) == (
        "dlcli: data error: data.target: column 'label' of rows.csv holds words ('no' on line "
        "2); a linear output predicts numbers; for classes set model.output_activation: "
        "sigmoid (2 classes) or softmax"
    )


def test_data_classes_in_the_config(in_tmp: Path) -> None:
    write_csv("rows.csv", rule_rows(10, 4))
    for classes, found in [
        (["a", "a"], "names 'a' twice; each class once, found ['a', 'a']"),
        (["a"], "names 1 class; a classifier needs 2 or more, found ['a']"),
    ]:
        err = fails("train", str(config(classes=classes)))
        assert err == f"dlcli: config error: c.yaml: data.classes: {found}"
