"""Weighted training (issue 18) through the CLI and in the math: all-ones weights give the
unweighted bytes, the engines agree, every refusal is one line naming key, row and value,
balanced accuracy is the mean recall, and the weights travel with the run (dry run,
params.h5, evaluate, resume)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from dlcli.cli import app
from dlcli.metrics import balanced_accuracy
from dlcli.model import network, weighting
from dlcli.training.loop import train
from dlcli.training.plan import Options

FLOWER = Path(__file__).resolve().parents[1] / "configs" / "flower.yaml"
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def _arrays(path: Path) -> dict[str, bytes]:
    with h5py.File(path) as f:
        return {k: f[k][()].tobytes() for k in f}


def _run(config: Path, out: str, *sets: str) -> Path:
    args = ["train", config, "--out", out, "-q", "--json"]
    for s in sets:
        args += ["--set", s]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return Path(json.loads(result.stdout)["run_dir"])


# ---------------------------------------------------------------- all ones: the same bytes


@pytest.mark.parametrize(
    "sets",
    [
        ["train.engine=direct"],
        ["train.engine=gram"],
        ["train.batch_size=64", "train.optimizer=adam", "train.learning_rate=0.01"],
        ["train.optimizer=momentum", "train.l2=0.3", "train.engine=gram"],
        ["train.dtype=float32", "train.batch_size=100"],
    ],
    ids=["direct", "gram", "fast-adam", "gram-momentum-l2", "float32-minibatch"],
)
def test_all_ones_class_weights_give_the_unweighted_bytes(in_tmp: Path, sets: list[str]) -> None:
    # {red: 1, blue: 1} runs the weighted formulas (w a row of ones, sum w = m exactly); each
    # multiplies by w first and divides by sum w where the unweighted ones divide by m.
    common = ["train.iterations=100", "train.log_every=10", *sets]
    plain = _run(FLOWER, "runs/plain", *common)
    ones = _run(FLOWER, "runs/ones", *common, "train.class_weight={red: 1, blue: 1}")
    assert (plain / "costs.csv").read_bytes() == (ones / "costs.csv").read_bytes()
    assert _arrays(plain / "params.h5") == _arrays(ones / "params.h5")
    with h5py.File(ones / "params.h5") as f:  # the file differs only in what it says
        assert json.loads(f.attrs["class_weight"]) == {"red": 1.0, "blue": 1.0}
    metrics = [json.loads((run / "metrics.json").read_text()) for run in (plain, ones)]
    assert metrics[0]["final_cost"] == metrics[1]["final_cost"]


def test_all_ones_weight_column_gives_the_unweighted_bytes(in_tmp: Path) -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((120, 3))
    y = x @ [1.0, -2.0, 0.5] + 0.1 * rng.standard_normal(120)
    lines = [f"{a:.5f},{b:.5f},{c:.5f},{t:.5f},1" for (a, b, c), t in zip(x, y, strict=True)]
    Path("t.csv").write_text("a,b,c,y,w\n" + "\n".join(lines) + "\n")
    Path("t.yaml").write_text(
        "data: {train: t.csv, target: y, features: [a, b, c]}\n"
        "model: {layers: [3, 4, 1], output_activation: linear}\n"
        "init: {scale: he}\ntrain: {learning_rate: 0.05, iterations: 200, log_every: 10}\n"
    )
    plain = _run(Path("t.yaml"), "runs/plain")
    ones = _run(Path("t.yaml"), "runs/ones", "data.weight=w")
    assert (plain / "costs.csv").read_bytes() == (ones / "costs.csv").read_bytes()
    assert _arrays(plain / "params.h5") == _arrays(ones / "params.h5")


# ---------------------------------------------------------------- the math


def test_weighted_cost_by_hand() -> None:
    # Linear output, m = 3: L_i = (a - y)^2 / 2 = 0.5, 2, 0; w = (1, 3, 0):
    # J = (1 * 0.5 + 3 * 2 + 0) / 4 = 1.625; dZ = (a - y) w / sum w = (1/4, 6/4, 0).
    ZL, Y, w = np.array([[1.0, 2.0, 5.0]]), np.array([[0.0, 4.0, 5.0]]), np.array([[1.0, 3.0, 0.0]])
    assert network.cost(ZL, Y, "linear", w) == 1.625
    assert weighting.dZ_L(ZL, Y, w).tolist() == [[0.25, -1.5, 0.0]]
    # Sigmoid at z = 0 costs log 2 whatever the label: any weights average to log 2.
    assert network.cost(
        np.zeros((1, 4)), np.array([[0, 1, 1, 0.0]]), "sigmoid", w[:, [0, 1, 2, 0]]
    ) == (pytest.approx(np.log(2), rel=1e-15))


def test_balanced_class_weights_by_hand() -> None:
    Y = np.array([[1, 0, 0, 0, 1, 0.0]])  # 4 of class 0, 2 of class 1; m / (K count)
    assert weighting.class_weights("balanced", Y, "sigmoid", ("no", "yes")) == {
        "no": 6 / 8,
        "yes": 6 / 4,
    }
    Y3 = network.one_hot(np.array([0, 2, 2, 2, 1, 2]), 3)
    assert weighting.class_weights("balanced", Y3, "softmax", ("a", "b", "c")) == {
        "a": 2.0,
        "b": 2.0,
        "c": 0.5,
    }
    # A map leaves the other classes at 1; the example weights follow each label.
    w = weighting.example_weights(Y, "sigmoid", {"no": 1.0, "yes": 3.0}, None, ("no", "yes"))
    assert w.tolist() == [[3, 1, 1, 1, 3, 1]]
    assert weighting.class_weights({"yes": 3.0}, Y, "sigmoid", ("no", "yes")) == {
        "no": 1.0,
        "yes": 3.0,
    }


def test_balanced_accuracy_is_the_mean_recall() -> None:
    # rows true, columns predicted: recall 8/10, 1/2, 0/0 (absent, left out) -> 0.65
    assert balanced_accuracy([[8, 2, 0], [1, 1, 0], [0, 0, 0]]) == pytest.approx(0.65, abs=1e-15)
    assert balanced_accuracy([[3, 1], [0, 4]]) == 0.875


def test_engines_agree_under_weights() -> None:
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((6, 50)), (rng.random((1, 50)) > 0.3).astype(float)
    w = rng.uniform(0, 3, (1, 50))
    p = network.init_params([6, 5, 3, 1], "he", network.legacy_rng(1))
    kw = dict(hidden="relu", output="sigmoid", learning_rate=0.1, iterations=40, weights=w)
    direct = train(X, Y, p, engine="direct", **kw)
    gram = train(X, Y, p, engine="gram", **kw)
    assert gram.engine == "gram"
    for k in direct.params:
        np.testing.assert_allclose(gram.params[k], direct.params[k], rtol=1e-10, atol=1e-13)
    assert gram.final_cost == pytest.approx(direct.final_cost, rel=1e-12)
    # Mini-batches: the preallocated path and the course's arrays to the bit.
    fast = train(X, Y, p, engine="direct", options=Options(batch_size=16), **kw)
    slow = train(X, Y, p, engine="direct", options=Options(batch_size=16, fast=False), **kw)
    for k in fast.params:
        assert fast.params[k].tobytes() == slow.params[k].tobytes(), k
    # A zero weight: that example changes nothing; scaling every weight changes nothing.
    moved = X.copy()
    w0 = w.copy()
    w0[0, 7], moved[:, 7] = 0.0, 100.0
    a = train(X, Y, p, engine="direct", **{**kw, "weights": w0})
    b = train(moved, Y, p, engine="direct", **{**kw, "weights": w0})
    c = train(X, Y, p, engine="direct", **{**kw, "weights": w0 * 4})
    for k in a.params:
        np.testing.assert_allclose(b.params[k], a.params[k], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(c.params[k], a.params[k], rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------- refusals, one line each


def _table(rows: list[str]) -> None:
    Path("w.csv").write_text("x1,x2,label,w\n" + "\n".join(rows) + "\n")
    Path("w.yaml").write_text(
        "data: {train: w.csv, target: label}\nmodel: {layers: [2, 3, 1]}\ntrain: {iterations: 5}\n"
    )


GOOD = ["0.1,0.2,yes,1", "0.3,0.1,no,2", "0.5,0.9,yes,0.5", "0.2,0.4,no,1"]


@pytest.mark.parametrize(
    ("row", "cell", "found"),
    [("0.3,0.1,no,-2", "-2", "is negative"), ("0.3,0.1,no,-1e-300", "-1e-300", "is negative")],
)
def test_bad_weight_rows_are_refused_naming_the_line(
    in_tmp: Path, row: str, cell: str, found: str
) -> None:
    _table([GOOD[0], row, *GOOD[2:]])
    result = invoke("train", "w.yaml", "--set", "data.weight=w")
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"dlcli: data error: data.train: w.csv: line 3, column 'w': {cell} {found}; "
        "data.weight: every weight must be a finite number >= 0"
    )
    assert not Path("runs").exists()


def test_weight_column_refusals(in_tmp: Path) -> None:
    _table([g.rsplit(",", 1)[0] + ",0" for g in GOOD])
    zero = invoke("train", "w.yaml", "--set", "data.weight=w")
    assert zero.exit_code == 1
    assert "data.train: w.csv: column 'w': every weight of the 4 training rows is 0" in zero.output
    _table([GOOD[0], "0.3,0.1,no,", *GOOD[2:]])
    missing = invoke("train", "w.yaml", "--set", "data.weight=w")
    assert (
        "line 3, column 'w' is missing (1 missing cell in the columns used); every row used needs its weight"
        in missing.output
    )
    _table([GOOD[0], "0.3,0.1,no,inf", *GOOD[2:]])
    infinite = invoke("train", "w.yaml", "--set", "data.weight=w")
    assert "data.train: w.csv: line 3, column 'w' is not finite" in infinite.output
    _table([GOOD[0], "0.3,0.1,no,heavy", *GOOD[2:]])
    word = invoke("train", "w.yaml", "--set", "data.weight=w")
    assert word.exit_code == 1
    assert "line 3, column 'w': 'heavy' is not a number" in word.output
    _table(GOOD)
    feature = invoke("train", "w.yaml", "--set", "data.weight=w", "--set", "data.features=[x1, w]")
    assert feature.exit_code == 1
    assert "data.weight: 'w' is also a feature (data.features)" in feature.output
    target = invoke("train", "w.yaml", "--set", "data.weight=label")
    assert "data.weight: 'label' is the target" in target.output
    absent = invoke("train", "w.yaml", "--set", "data.weight=weight")
    assert "data.weight: 'weight' is not a column of data.train: w.csv" in absent.output
    # Without data.features, the weight column is left out of the inputs: n_x stays 2.
    ok = invoke("train", "w.yaml", "--set", "data.weight=w", "-q", "--json")
    assert ok.exit_code == 0, ok.output


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("{red: 2, green: 1}", "train.class_weight: 'green' is not a class of the data; classes: ['red', 'blue']"),
        ("{red: -1}", "train.class_weight: class 'red': the weight must be a finite number >= 0, found -1"),
        ("{red: .inf}", "train.class_weight: class 'red': the weight must be a finite number >= 0, found inf"),
        ("heavy", "train.class_weight: must be balanced (m / (K count of the class)) or a map"),
        ("{red: 0, blue: 0}", "train.class_weight: every training example weighs 0"),
    ],
)  # fmt: skip
def test_class_weight_refusals(in_tmp: Path, setting: str, message: str) -> None:
    result = invoke("train", FLOWER, "--set", f"train.class_weight={setting}")
    assert result.exit_code == 1
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_class_weight_needs_a_classifier_and_weight_a_table(in_tmp: Path) -> None:
    linear = invoke(
        "train",
        FLOWER,
        "--set",
        "train.class_weight=balanced",
        "--set",
        "model.output_activation=linear",
    )
    assert linear.exit_code == 1
    assert (
        "train.class_weight weighs the classes of a classifier and model.output_activation is linear"
        in linear.output
    )
    course = invoke("train", FLOWER, "--set", "data.weight=w")
    assert course.exit_code == 1
    assert (
        "data.weight names a column of a CSV table and the data are data.generate flower"
        in course.output
    )


# ---------------------------------------------------------------- the weights travel with the run


def test_dry_run_params_evaluate_and_metrics(in_tmp: Path) -> None:
    # flower's 400 examples are 200 red, 200 blue: take 300 of them by a validation split
    # and weigh blue 3x; the dry run shows the weights training uses.
    sets = ["--set", "train.class_weight={blue: 3}", "--set", "train.iterations=200"]
    sets += ["--set", "data.test_fraction=0.2"]
    dry = invoke("train", FLOWER, *sets, "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["class_weight"] == {"red": 1.0, "blue": 3.0}
    shown = invoke("train", FLOWER, *sets, "--dry-run")
    assert "class weights       red 1, blue 3" in shown.output
    split = ["--set", "data.validation_fraction=0.25", "--set", "data.split_seed=3"]
    balanced = invoke(
        "train", FLOWER, "--set", "train.class_weight=balanced", *split, "--dry-run", "--json"
    )
    # The 300 examples the split leaves for training: 151 red, 149 blue; w = m / (K count).
    assert json.loads(balanced.stdout)["class_weight"] == {"red": 300 / 302, "blue": 300 / 298}
    result = invoke("train", FLOWER, *sets, "-q", "--json")
    metrics = json.loads(result.stdout)
    assert 0 < metrics["train_balanced_accuracy"] <= 1
    with h5py.File(Path(metrics["run_dir"]) / "params.h5") as f:
        assert json.loads(f.attrs["class_weight"]) == {"red": 1.0, "blue": 3.0}
        assert json.loads(f.attrs["config"])["train"]["class_weight"] == {"blue": 3.0}
    evaluation = invoke("evaluate", "--model", Path(metrics["run_dir"]) / "params.h5", "--json")
    assert evaluation.exit_code == 0, evaluation.output
    found = json.loads(evaluation.stdout)
    assert found["class_weight"] == {"red": 1.0, "blue": 3.0}
    (tn, fp), (fn, tp) = found["confusion_matrix"]
    assert found["balanced_accuracy"] == pytest.approx((tn / (tn + fp) + tp / (tp + fn)) / 2)
    assert found["balanced_accuracy"] == metrics["test_balanced_accuracy"]
    printed = invoke("evaluate", "--model", Path(metrics["run_dir"]) / "params.h5").output
    assert "trained with class weights: red 1, blue 3" in printed
    line = next(line for line in printed.splitlines() if "balanced accuracy" in line)
    recalls = f"recall red {tn / (tn + fp):.4f}, blue {tp / (tp + fn):.4f}"
    assert line.split("balanced accuracy")[1].strip() == (
        f"{100 * found['balanced_accuracy']:.2f} % ({recalls})"
    )


def test_resume_refuses_changed_weights_and_continues_with_the_same(in_tmp: Path) -> None:
    small = ["--set", "train.iterations=300", "--set", "train.checkpoint_every=100"]
    weights = ["--set", "train.class_weight=balanced"]
    assert invoke("train", FLOWER, *small, *weights, "-q", "--out", "runs/whole").exit_code == 0
    assert invoke("train", FLOWER, *small, *weights, "-q", "--out", "runs/cut").exit_code == 0
    for name in ("metrics.json", "params.h5", "costs.csv", "cost.png"):
        (in_tmp / "runs" / "cut" / name).unlink()
    changed = invoke(
        "train",
        FLOWER,
        *small,
        "--set",
        "train.class_weight={red: 2}",
        "--resume",
        "--out",
        "runs/cut",
    )
    assert changed.exit_code == 1
    assert "train.class_weight: 'balanced' -> {'red': 2.0}" in changed.output
    dropped = invoke("train", FLOWER, *small, "--resume", "--out", "runs/cut")
    assert dropped.exit_code == 1
    assert "train.class_weight: 'balanced' -> None" in dropped.output
    same = invoke("train", FLOWER, *small, *weights, "-q", "--resume", "--out", "runs/cut")
    assert same.exit_code == 0, same.output
    whole, cut = in_tmp / "runs" / "whole", in_tmp / "runs" / "cut"
    assert _arrays(whole / "params.h5") == _arrays(cut / "params.h5")


def test_resume_refuses_other_weights_in_the_table(in_tmp: Path) -> None:
    _table(GOOD)
    small = [
        "--set",
        "data.weight=w",
        "--set",
        "train.iterations=20",
        "--set",
        "train.checkpoint_every=10",
    ]
    assert invoke("train", "w.yaml", *small, "-q", "--out", "runs/w").exit_code == 0
    for name in ("metrics.json", "params.h5", "costs.csv", "cost.png"):
        (in_tmp / "runs" / "w" / name).unlink()
    _table([*GOOD[:3], GOOD[3].replace(",1", ",7")])  # one weight changed, X and Y the same
    again = invoke("train", "w.yaml", *small, "--resume", "--out", "runs/w")
    assert again.exit_code == 1
    assert "was trained on other data than w.csv holds now" in again.output


def test_a_batch_of_zero_weights_is_refused_naming_the_iteration(in_tmp: Path) -> None:
    # 4 rows, one of weight 0; batches of 1 in the shuffled order of seed 1 reach it.
    _table([*GOOD[:3], "0.2,0.4,no,0"])
    perm = np.random.default_rng(1).permutation(4)
    at = int(np.flatnonzero(perm == 3)[0])  # the zero-weight row's batch in epoch 0
    result = invoke("train", "w.yaml", "--set", "data.weight=w", "--set", "train.batch_size=1")
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"dlcli: config error: train.batch_size: the batch of iteration {at} holds only "
        "examples of weight 0 (sum w = 0 over its 1 examples), so its weighted mean cost is "
        "0/0; use a larger train.batch_size or give fewer examples weight 0"
    )
