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
from dlcli.config import load_config
from dlcli.data.load import load


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


def read_rows(path: str) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


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


# ---------------------------------------------------------------- 2. categorical columns


def test_mismatch_and_dry_run_break_the_inputs_down(in_tmp: Path) -> None:
    rows = rule_rows(40, 5)
    for i, row in enumerate(rows):
        row["rooms"] = ["1", "2", "10"][i % 3]
    write_csv("rows.csv", rows, ["a", "rooms", "colour", "b", "label"])
    cfg = str(config(layers=[4, 8, 1], categorical=["rooms"]))
    inputs = "a 1, rooms 3 (1, 2, 10), colour 3 (blue, green, red), b 1"
    assert fails("train", cfg) == (
        "dlcli: config error: model.layers[0]: is 4 but the data have n_x = 8 features per "
        f"example ({inputs}); set model.layers[0] to 8"
    )
    code, out, _ = dlcli("train", cfg, "--dry-run", "--json")
    assert code == 1
    report = json.loads(out)
    assert report["inputs"] == inputs and report["X"] == [8, 40]
    code, out, err = dlcli("train", cfg, "--dry-run", "--set", "model.layers=[8, 8, 1]")
    assert code == 0, err
    assert f"n_x = 8: {inputs}" in " ".join(out.split())
    assert fails("train", cfg, "--set", "data.categorical=[size]") == (
        "dlcli: data error: data.categorical: 'size' is not a feature column of rows.csv; "
        "features: ['a', 'rooms', 'colour', 'b']"
    )


def test_a_category_unseen_in_training(in_tmp: Path) -> None:
    write_csv("rows.csv", rule_rows(30, 6))
    test = rule_rows(4, 7)
    test[2]["colour"] = "purple"
    write_csv("test.csv", test)
    cfg = str(config(test="test.csv", iterations=5))
    assert fails("train", cfg) == (
        "dlcli: data error: data.test: test.csv: line 4, column 'colour': 'purple' is not a "
        "category seen in training (blue, green, red); set data.unknown_category: zeros to give "
        "it all-zero inputs"
    )
    code, out, err = dlcli("train", cfg, "--set", "data.unknown_category=zeros", "--json",
                           "--quiet", "--out", "runs/z")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["test_examples"] == 4
    assert meta("runs/z")[1]["unknown_category"] == "zeros"
    # The purple row's colour inputs are all zero; the others one-hot.
    dataset = load(load_config(Path(cfg), ["data.unknown_category=zeros"]).data)
    colours = dataset.X_test[2:5]  # rows of blue, green, red
    expected = np.array([[r["colour"] == c for r in test] for c in ("blue", "green", "red")])
    np.testing.assert_array_equal(colours, expected.astype(float))
    assert colours[:, 2].tolist() == [0.0, 0.0, 0.0]


def test_categories_come_from_the_training_part(in_tmp: Path) -> None:
    # "purple" only in the rows split off for validation: not a category of the model.
    rows = rule_rows(30, 8)
    write_csv("rows.csv", rows)
    write_csv("val.csv", [{**rows[0], "colour": "purple"}])
    assert fails("train", str(config(validation="val.csv"))) == (
        "dlcli: data error: data.validation: val.csv: line 2, column 'colour': 'purple' is not "
        "a category seen in training (blue, green, red); set data.unknown_category: zeros to "
        "give it all-zero inputs"
    )
    code, _, err = dlcli("train", str(config(test_fraction=0.5, iterations=5)), "--quiet",
                         "--out", "runs/f")  # fmt: skip
    assert code == 0, err
    prep = meta("runs/f")[1]
    # Mean and std of a over the 15 training rows only, worked out here from the same split.
    keep = np.setdiff1d(np.arange(30), np.sort(np.random.default_rng(1).permutation(30)[:15]))
    a = np.array([float(r["a"]) for r in rows])[keep]
    assert prep["columns"][0] == {"name": "a", "type": "numeric", "mean": float(a.mean()),
                                  "std": float(a.std())}  # fmt: skip


# ---------------------------------------------------------------- 3. missing cells


def holey_rows() -> list[dict[str, str]]:
    """12 rule rows with 3 missing cells: b on line 4 (NA), colour on line 6 (empty), a on
    line 9 (null)."""
    rows = rule_rows(12, 9)
    rows[2]["b"], rows[4]["colour"], rows[7]["a"] = "NA", "", "null"
    return rows


def test_missing_cells_are_an_error_by_default(in_tmp: Path) -> None:
    write_csv("rows.csv", holey_rows())
    assert fails("train", str(config())) == (
        "dlcli: data error: data.train: rows.csv: line 4, column 'b' is missing (3 missing "
        "cells in the columns used); set data.missing: drop (leave those rows out) or mean "
        "(fill a number column with the training mean, a text column with a 'missing' "
        "category)"
    )


def test_missing_drop_says_how_many(in_tmp: Path) -> None:
    write_csv("rows.csv", holey_rows())
    code, out, err = dlcli("train", str(config(missing="drop", iterations=5)), "--out", "runs/d")
    assert code == 0, err
    assert "dropped_rows    3" in out
    metrics = json.loads(Path("runs/d/metrics.json").read_text())
    assert (metrics["dropped_rows"], metrics["train_examples"]) == (3, 9)
    rows = holey_rows()
    for row in rows:
        row["a"] = ""
    write_csv("rows.csv", rows)
    assert fails("train", str(config(missing="drop"))) == (
        "dlcli: data error: data.train: rows.csv: every row has a missing cell in the columns "
        "used, so data.missing: drop leaves none"
    )


def test_missing_mean_fills_from_the_training_part(in_tmp: Path) -> None:
    rows = holey_rows()
    write_csv("rows.csv", rows)
    test = rule_rows(2, 10)
    test[1]["b"] = "NaN"
    write_csv("test.csv", test)
    cfg = config(layers=[6, 8, 1], missing="mean", test="test.csv", iterations=5)
    code, _, err = dlcli("train", str(cfg), "--quiet", "--out", "runs/m")
    assert code == 0, err
    prep = meta("runs/m")[1]
    b = np.array([float(r["b"]) for r in rows if r["b"] != "NA"])
    assert prep["missing"] == "mean"
    assert prep["columns"][1] == {"name": "b", "type": "numeric", "mean": float(b.mean()),
                                  "std": float(b.std()), "fill": float(b.mean())}  # fmt: skip
    assert prep["columns"][2]["categories"] == ["blue", "green", "missing", "red"]
    # The test row's missing b is the training mean: 0 once standardized.
    dataset = load(load_config(cfg, []).data)
    assert dataset.X_test[1].tolist()[1] == 0.0
    rows[5]["label"] = "NA"
    write_csv("rows.csv", rows)
    assert fails("train", str(cfg)) == (
        "dlcli: data error: data.train: rows.csv: line 7, column 'label' is missing (1 missing "
        "cell in the columns used); data.missing: mean fills features, not the target; set "
        "data.missing: drop"
    )


# ---------------------------------------------------------------- 6. gradcheck, --dry-run


def test_gradcheck_and_dry_run_on_a_table_with_categories_and_missing_cells(in_tmp: Path) -> None:
    write_csv("rows.csv", holey_rows())
    cfg = str(config(layers=[6, 5, 1], missing="mean"))
    code, out, err = dlcli("gradcheck", cfg, "--examples", "12")
    assert code == 0, err
    assert "PASS: relative difference" in out
    code, out, err = dlcli("train", cfg, "--dry-run", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["X"] == [6, 12] and report["data_match"]
    assert report["inputs"] == "a 1, b 1, colour 4 (blue, green, missing, red)"
    softmax = str(config(layers=[5, 5, 2], output="softmax", missing="drop"))
    code, out, err = dlcli("gradcheck", softmax)
    assert code == 0 and "PASS" in out, err


# ---------------------------------------------------------------- 5. predict and evaluate


def by_hand(run: str, rows: list[dict[str, str]]) -> tuple[np.ndarray, list[str], dict]:
    """Class probabilities (K, m) of raw rows, computed here from params.h5 alone: numeric
    columns standardized with the stored mean and std (missing: the fill), categorical ones
    one-hot over the stored categories, then relu layers and a sigmoid or softmax output."""
    with h5py.File(Path(run) / "params.h5", "r") as f:
        w = {k: f[k][()] for k in f}
        prep = json.loads(f.attrs["preprocessing"])
        classes = json.loads(f.attrs["classes"])
        output = f.attrs["output_activation"]
    inputs = []
    for col in prep["columns"]:
        cells = [r[col["name"]] for r in rows]
        if col["type"] == "numeric":
            x = np.array([col["fill"] if c in ("", "NA") else float(c) for c in cells])
            inputs.append((x - col["mean"]) / col["std"])
        else:
            inputs += [np.array([c == k for c in cells], float) for k in col["categories"]]
    A = np.stack(inputs)  # (n_x, m)
    L = len(w) // 2
    for l in range(1, L):
        A = np.maximum(0, w[f"W{l}"] @ A + w[f"b{l}"])
    Z = w[f"W{L}"] @ A + w[f"b{L}"]
    if output == "sigmoid":
        p = 1 / (1 + np.exp(-Z[0]))
        return np.stack([1 - p, p]), classes, prep
    e = np.exp(Z - Z.max(axis=0))
    return e / e.sum(axis=0), classes, prep


@pytest.fixture
def classifier(in_tmp: Path) -> Path:
    write_csv("rows.csv", rule_rows(200, 11))
    code, _, err = dlcli("train", str(config(test_fraction=0.25)), "--quiet", "--out", "runs/r")
    assert code == 0, err
    return Path("runs/r")


def test_predict_csv_writes_class_names_and_probabilities(classifier: Path) -> None:
    new = rule_rows(7, 12)
    for row in new:
        row["id"] = f"r{len(row)}"
        del row["label"]
    write_csv("new.csv", new, ["id", "colour", "b", "a"])
    P, classes, _ = by_hand("runs/r", new)
    code, out, err = dlcli(
        "predict", "--model", "runs/r", "--csv", "new.csv", "--all-probabilities"
    )
    assert (code, err) == (0, "")
    got = list(csv.reader(out.splitlines()))
    assert got[0] == ["id", "colour", "b", "a", "predicted_label", "probability",
                      "probability_no", "probability_yes"]  # fmt: skip
    assert [row[:4] for row in got[1:]] == [[r["id"], r["colour"], r["b"], r["a"]] for r in new]
    label = P.argmax(axis=0)
    assert [row[4] for row in got[1:]] == [classes[k] for k in label]
    np.testing.assert_allclose([float(row[5]) for row in got[1:]], P.max(axis=0), rtol=1e-12)
    np.testing.assert_allclose(np.array([[float(c) for c in row[6:]] for row in got[1:]]).T, P,
                               rtol=1e-12, atol=1e-15)  # fmt: skip
    code, out, err = dlcli("predict", "--model", "runs/r", "--csv", "new.csv", "--out", "p.csv")
    assert (code, err) == (0, "")
    assert out == "wrote p.csv: 7 rows, the columns of new.csv and predicted_label, probability\n"
    assert [r["predicted_label"] for r in read_rows("p.csv")] == [row[4] for row in got[1:]]
    code, out, _ = dlcli("predict", "--model", "runs/r", "--csv", "new.csv", "--json")
    report = json.loads(out)
    assert report["predictions"] == [row[4] for row in got[1:]]
    np.testing.assert_allclose(report["probability"], P.max(axis=0), rtol=1e-12)


def test_predict_csv_copies_the_cells_as_written(classifier: Path) -> None:
    """The rows come back as the file holds them: its delimiter, numbers as written, spaces,
    a missing cell in a column the model does not use; the predictions are those of the
    same rows written plainly."""
    lines = ["note;a;b;colour", " first ;0.50;-1.0e0;red", "NA;2;0.250; blue", ";-0.5;1;green"]
    Path("semi.csv").write_text("\n".join(lines) + "\n")
    plain = [{"a": "0.5", "b": "-1", "colour": "red"}, {"a": "2", "b": "0.25", "colour": "blue"},
             {"a": "-0.5", "b": "1", "colour": "green"}]  # fmt: skip
    write_csv("plain.csv", plain)
    code, out, err = dlcli("predict", "--model", "runs/r", "--csv", "semi.csv")
    assert (code, err) == (0, "")
    got = out.splitlines()
    assert got[0] == lines[0] + ";predicted_label;probability"
    assert [line.rsplit(";", 2)[0] for line in got[1:]] == lines[1:]
    _, expected, _ = dlcli("predict", "--model", "runs/r", "--csv", "plain.csv")
    assert [line.split(";")[-2:] for line in got[1:]] == [
        line.split(",")[-2:] for line in expected.splitlines()[1:]
    ]


def test_predict_csv_refusals(classifier: Path) -> None:
    for name, (i, column, value), message in [
        ("purple.csv", (1, "colour", "purple"), "line 3, column 'colour': 'purple' is not a "
         "category seen in training (blue, green, red); set data.unknown_category: zeros to "
         "give it all-zero inputs"),
        ("holes.csv", (2, "a", "NA"), "line 4, column 'a' is missing (1 missing cell in the "
         "columns used); the model fills no cells (trained with data.missing: error); fill "
         "them in or leave those rows out"),
    ]:  # fmt: skip
        rows = rule_rows(4, 13)
        rows[i][column] = value
        write_csv(name, rows)
        assert fails("predict", "--model", "runs/r", "--csv", name) == (
            f"dlcli: data error: --csv: {name}: {message}"
        )
    assert fails("predict", "--model", "runs/r", "purple.csv", "--all-probabilities") == (
        "dlcli: error: --all-probabilities: goes with --csv (a classifier table's rows)"
    )
    rows = rule_rows(4, 13)
    rows[3]["label"] = "maybe"
    write_csv("maybe.csv", rows)
    assert fails("evaluate", "--model", "runs/r", "maybe.csv") == (
        "dlcli: data error: DATA.csv: maybe.csv: line 5, column 'label': 'maybe' is not one of "
        "the classes ['no', 'yes']"
    )


def test_evaluate_a_classifier_table(classifier: Path) -> None:
    test = rule_rows(50, 14)
    write_csv("test.csv", test)
    P, classes, _ = by_hand("runs/r", test)
    code, out, err = dlcli("evaluate", "--model", "runs/r", "test.csv", "--json")
    assert code == 0, err
    metrics = json.loads(out)
    truth = np.array([classes.index(r["label"]) for r in test])
    predicted = (P[1] > 0.5).astype(int)
    assert metrics["classes"] == ["no", "yes"] and metrics["positive_class"] == "yes"
    assert metrics["examples"] == 50
    assert metrics["accuracy"] == np.mean(predicted == truth)
    assert metrics["accuracy"] >= 0.9
    log_loss = -np.mean(np.log(P[truth, np.arange(50)]))
    assert metrics["log_loss"] == pytest.approx(log_loss, rel=1e-9)
    code, out, _ = dlcli("evaluate", "--model", "runs/r")
    assert code == 0
    assert "true yes" in out and "predicted no" in out
    # With no DATA: the test split made again, as training measured it.
    trained = json.loads(Path("runs/r/metrics.json").read_text())
    code, out, _ = dlcli("evaluate", "--model", "runs/r", "--json")
    split = json.loads(out)
    assert (split["examples"], split["accuracy"]) == (50, trained["test_accuracy"])


def test_softmax_table_predict_and_evaluate(in_tmp: Path) -> None:
    rows = rule_rows(150, 15)
    for row in rows:  # three classes from the same rule's score
        score = 2 * float(row["a"]) - float(row["b"]) + (row["colour"] == "red")
        row["label"] = "low" if score < -0.5 else "mid" if score < 1 else "high"
    write_csv("rows.csv", rows)
    cfg = config(layers=[5, 8, 3], output="softmax", missing="mean")
    code, _, err = dlcli("train", str(cfg), "--quiet", "--out", "runs/s")
    assert code == 0, err
    new = [dict(r) for r in rows[:5]]
    new[0]["b"] = ""
    write_csv("new.csv", new)
    P, classes, prep = by_hand("runs/s", new)
    assert classes == ["high", "low", "mid"] and "fill" in prep["columns"][1]
    code, out, err = dlcli(
        "predict", "--model", "runs/s", "--csv", "new.csv", "--all-probabilities"
    )
    assert code == 0, err
    got = list(csv.DictReader(out.splitlines()))
    assert got[0]["b"] == ""
    assert [r["predicted_label"] for r in got] == [classes[k] for k in P.argmax(axis=0)]
    for k, name in enumerate(classes):
        np.testing.assert_allclose([float(r[f"probability_{name}"]) for r in got], P[k], rtol=1e-12)
    code, out, err = dlcli("evaluate", "--model", "runs/s", "rows.csv", "--json")
    assert code == 0, err
    metrics = json.loads(out)
    assert [c["class"] for c in metrics["per_class"]] == classes
    assert metrics["accuracy"] >= 0.8


def test_a_classifier_table_model_file_is_checked(classifier: Path) -> None:
    with h5py.File("runs/r/params.h5", "a") as f:
        prep = json.loads(f.attrs["preprocessing"])
        prep["columns"][2]["categories"] = ["blue", "red"]  # 2 inputs where W1 takes 3
        f.attrs["preprocessing"] = json.dumps(prep)
    err = fails("predict", "--model", "runs/r", "--csv", "rows.csv")
    assert err.startswith("dlcli: model file error: --model runs/r/params.h5: preprocessing {")
    assert err.endswith(
        "allowed for a table: columns, each (name, type numeric, mean, std > 0[, fill]) or "
        "(name, type categorical, categories), giving W1's 5 inputs; features (their names), "
        "target, task (regression or classification), missing (error, drop or mean), "
        "unknown_category (error or zeros), and for a regression target_mean and target_std > 0"
    )
