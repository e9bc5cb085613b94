"""Findings through the CLI on the course's cat files: the issue's three sick commands each
named by their own cause, the healthy runs by nothing but what is true of them; dlcli
diagnose on a run and on a config (which writes nothing here), its --json, its errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from dlcli.cli import app

REPO = Path(__file__).resolve().parents[1]
CAT_4, CAT_2 = str(REPO / "configs" / "cat_4layer.yaml"), str(REPO / "configs" / "cat_2layer.yaml")
FLOWER = str(REPO / "configs" / "flower.yaml")
RECORD_KEYS = {"iteration", "examples", "layers"}
LAYER_KEYS = {
    "layer", "units", "activation", "W_norm", "dW_norm", "update_ratio", "row_spread",
    "Z_mean", "Z_std", "A_mean", "A_std", "dead_fraction", "saturated_fraction",
}  # fmt: skip
FINDING_KEYS = {"code", "layer", "layers", "message", "suggestion"}


def _cli(*args: str):
    return CliRunner().invoke(app, list(args))


def _sets(overrides: list[str]) -> list[str]:
    return [a for o in overrides for a in ("--set", o)]


def _codes(run: Path) -> list[str]:
    return [f["code"] for f in json.loads((run / "health.json").read_text())["findings"]]


def test_zero_init_is_symmetry_printed_after_the_metrics(in_tmp: Path, cat_overrides) -> None:
    sets = _sets([*cat_overrides, "init.scale=0", "train.iterations=100"])
    out = _cli("train", CAT_4, *sets, "--out", "run")
    assert out.exit_code == 0, out.stderr
    lines = out.stdout.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("symmetry"))
    assert "final_cost" in "".join(lines[:first])  # after the metrics table
    assert lines[first] == (
        "symmetry (layers 1, 2, 3): the units of layer(s) 1 (20 units), 2 (7 units), 3 (5 "
        "units) have identical weights at iteration 99: each computes the same function, so "
        "the layer learns as if it had one unit"
    )
    assert lines[first + 1].startswith("  try: initialize the weights randomly")
    assert _codes(in_tmp / "run")[0] == "symmetry"
    assert "dead_relu" not in _codes(in_tmp / "run")  # identical zero units: the cause is symmetry
    assert (in_tmp / "run" / "health.png").read_bytes()[:4] == b"\x89PNG"


def test_a_large_step_kills_the_relu_units(in_tmp: Path, cat_overrides) -> None:
    sets = _sets([*cat_overrides, "train.learning_rate=0.5"])
    out = _cli("diagnose", CAT_2, "--iterations", "100", *sets, "--json")
    assert out.exit_code == 0, out.stderr
    report = json.loads(out.stdout)
    dead = report["findings"][0]
    assert (dead["code"], dead["layer"], dead["layers"]) == ("dead_relu", 1, [1])
    assert dead["message"].startswith(
        "layer 1: 7 of 7 units never fire (Z <= 0) on the 209 examples of iteration 99"
    )
    assert dead["dead_fraction"] == [1.0]
    assert [f["code"] for f in report["findings"]] == ["dead_relu", "stuck_at_prior"]
    assert all(FINDING_KEYS <= f.keys() for f in report["findings"])
    assert report["records"] == 2 and report["run"] is None
    assert report["prior_cost"] == pytest_approx(0.643974)
    assert list(in_tmp.iterdir()) == []  # trained in a temporary place, nothing written here


def pytest_approx(value: float):
    import pytest

    return pytest.approx(value, abs=1e-6)


def test_a_deep_sigmoid_with_a_tiny_init_has_vanishing_gradients(in_tmp: Path, cat_overrides):
    sets = _sets(
        [
            *cat_overrides,
            "model.layers=[12288,20,20,20,20,1]",
            "model.hidden_activation=sigmoid",
            "init.scale=0.01",
        ]
    )
    out = _cli("diagnose", CAT_4, "--iterations", "100", *sets)
    assert out.exit_code == 0, out.stderr
    first = out.stdout.splitlines()[0]
    assert first.startswith("vanishing_gradients (layer 1): layer 1's update ratio |ΔW|/|W| is ")
    assert "times layer 5's" in first
    assert list(in_tmp.iterdir()) == []


def test_the_healthy_cat_4layer_s_dead_units_are_not_flagged(in_tmp: Path, cat_overrides):
    """2 of the 7 units of layer 2 never fire: a few dead relu units are normal."""
    sets = _sets([*cat_overrides, "train.iterations=200"])
    out = _cli("train", CAT_4, *sets, "--out", "run")
    assert out.exit_code == 0, out.stderr
    health = json.loads((in_tmp / "run" / "health.json").read_text())
    last = health["records"][-1]
    assert last["iteration"] == 199
    assert round(last["layers"][1]["dead_fraction"] * 7) == 2
    assert _codes(in_tmp / "run") == []
    assert out.stdout.rstrip().splitlines()[-1].split() == ["run_dir", "run"]


def test_the_course_s_logistic_regression_overfits(in_tmp: Path, cat_overrides) -> None:
    """99 % on the training pictures, 70 % on the test ones (as the course says)."""
    cat_logreg = str(REPO / "configs" / "cat_logreg.yaml")
    out = _cli("train", cat_logreg, *_sets(cat_overrides), "--out", "run")
    assert out.exit_code == 0, out.stderr
    assert out.stdout.splitlines()[-2:] == [
        "overfitting: train accuracy 99.0% is 29.0 points above test accuracy 70.0%: the "
        "network fits the training examples better than it generalizes",
        "  try: use L2 regularization (train.l2), dropout (model.keep_prob), more data or "
        "early stopping",
    ]
    quiet = _cli("train", cat_logreg, *_sets(cat_overrides), "--out", "quiet", "--quiet")
    assert "overfitting" not in quiet.stdout


def test_a_healthy_run_prints_nothing_extra(in_tmp: Path) -> None:
    out = _cli("train", FLOWER, "--set", "train.iterations=2000", "--out", "run", "--quiet")
    assert out.exit_code == 0, out.stderr
    assert _codes(in_tmp / "run") == []
    assert out.stdout.rstrip().splitlines()[-1].split() == ["run_dir", "run"]  # the table's end
    diagnosed = _cli("diagnose", "run")
    assert (diagnosed.exit_code, diagnosed.stdout) == (0, "no findings: the run looks healthy\n")
    as_json = json.loads(_cli("diagnose", "run", "--json").stdout)
    assert as_json["findings"] == [] and as_json["run"] == "run" and as_json["records"] == 3


def test_softmax_and_mini_batch_runs_have_health_records(in_tmp: Path) -> None:
    spiral = REPO / "configs" / "spiral.yaml"
    sets = _sets(["train.iterations=201", "train.log_every=100"])
    out = _cli("train", str(spiral), *sets, "--out", "s", "--quiet")
    assert out.exit_code == 0, out.stderr
    health = json.loads((in_tmp / "s" / "health.json").read_text())
    assert [r["iteration"] for r in health["records"]] == [0, 100, 200]
    for record in health["records"]:
        assert record.keys() == RECORD_KEYS
        assert [layer.keys() for layer in record["layers"]] == [LAYER_KEYS, LAYER_KEYS]
        assert [layer["units"] for layer in record["layers"]] == [100, 3]
    assert health["records"][0]["layers"][1]["activation"] == "softmax"
    adam = REPO / "configs" / "flower_adam.yaml"
    out = _cli("train", str(adam), "--set", "train.epochs=20", "--out", "a", "--quiet")
    assert out.exit_code == 0, out.stderr
    health = json.loads((in_tmp / "a" / "health.json").read_text())
    # 320 training examples in batches of 64: 5 a epoch, 100 iterations, a row every 50.
    assert [r["iteration"] for r in health["records"]] == [0, 50, 99]
    assert [r["examples"] for r in health["records"]] == [64, 64, 64]
    assert health["batch_size"] == 64


def test_diagnose_errors_are_one_line(in_tmp: Path) -> None:
    missing = _cli("diagnose", "nowhere")
    assert (missing.exit_code, missing.stderr) == (
        1,
        "dlcli: data error: nowhere: no such run directory or config file\n",
    )
    old = in_tmp / "old"
    old.mkdir()
    (old / "metrics.json").write_text("{}")
    out = _cli("diagnose", "old")
    assert (out.exit_code, out.stderr) == (
        1,
        "dlcli: data error: old/health.json: not found; runs made before dlcli wrote "
        "health.json have none: train the config again, or diagnose it with dlcli diagnose "
        "CONFIG --iterations N\n",
    )
    out = _cli("diagnose", "old", "--iterations", "5")
    assert (out.exit_code, out.stderr) == (
        1,
        "dlcli: config error: --iterations: applies to a config that diagnose trains; old "
        "is a finished run\n",
    )
    (old / "notes.txt").write_text("x")
    out = _cli("diagnose", "old/notes.txt")
    assert out.exit_code == 1
    assert out.stderr == (
        "dlcli: data error: old/notes.txt: expected a run directory (made by dlcli train) or "
        "a YAML config (.yaml, .yml)\n"
    )
    (old / "health.json").write_text("[1, 2]")
    out = _cli("diagnose", "old")
    assert (out.exit_code, out.stderr) == (
        1,
        "dlcli: data error: old/health.json: holds no findings list; is it dlcli's health.json?\n",
    )
    out = _cli("diagnose", FLOWER, "--iterations", "0")
    assert (out.exit_code, out.stderr) == (
        1,
        "dlcli: config error: --iterations: 0; expected a whole number >= 1\n",
    )


def test_diagnose_config_draws_no_picture(in_tmp: Path) -> None:
    """`dlcli diagnose CONFIG` reads back a run it deletes: no cost.png, health.png or
    boundary.png is drawn for it, so matplotlib is never imported (about a second saved)."""
    import subprocess
    import sys

    code = (
        "import sys; from dlcli.cli import app; from typer.testing import CliRunner; "
        f"out = CliRunner().invoke(app, ['diagnose', {FLOWER!r}, '--iterations', '50', "
        "'--json']); print(out.exit_code, 'matplotlib' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.split() == ["0", "False"], done.stderr


def test_a_run_without_pictures_writes_every_other_file(in_tmp: Path) -> None:
    from dlcli.config import load_config
    from dlcli.job import run

    run_dir, metrics = run(
        load_config(Path(FLOWER), ["train.iterations=50"]), "f", in_tmp / "f", pictures=False
    )
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "card.md", "checkpoint.h5", "config.yaml", "costs.csv", "health.json", "metrics.json",
        "params.h5",
    ]  # fmt: skip
    assert json.loads((run_dir / "metrics.json").read_text())["final_cost"] == metrics["final_cost"]
    card = (run_dir / "card.md").read_text()
    assert f"Final cost {metrics['final_cost']:.6f}.\n" in card  # no link to a cost.png it lacks
    assert ".png" not in card
