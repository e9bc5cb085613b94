"""The course's published figures, reproduced by the shipped configs on the course files:
costs to 1e-6 absolute, accuracies exactly."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from dlcli.config import load_config
from dlcli.job import run

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

# config -> ({iteration: published cost}, train accuracy, test accuracy)
COURSE = {
    "cat_logreg": ({0: 0.693147, 1900: 0.140872}, 207 / 209, 35 / 50),
    "cat_2layer": ({0: 0.693050, 2400: 0.048555}, 1.0, 36 / 50),
    "cat_4layer": ({0: 0.771749, 100: 0.672053, 2400: 0.092878}, 206 / 209, 40 / 50),
}


def _costs(run_dir: Path) -> dict[int, float]:
    with open(run_dir / "costs.csv") as f:
        return {int(row["iteration"]): float(row["cost"]) for row in csv.DictReader(f)}


@pytest.mark.parametrize("name", sorted(COURSE))
def test_cat_configs_reproduce_the_course(
    name: str, cat_overrides: list[str], in_tmp: Path
) -> None:
    published, train_acc, test_acc = COURSE[name]
    cfg = load_config(CONFIGS / f"{name}.yaml", cat_overrides)
    run_dir, metrics = run(cfg, name=name)
    costs = _costs(run_dir)
    for iteration, cost in published.items():
        assert costs[iteration] == pytest.approx(cost, abs=1e-6), iteration
    assert metrics["train_accuracy"] == train_acc
    assert metrics["test_accuracy"] == test_acc
    assert (metrics["train_examples"], metrics["test_examples"]) == (209, 50)
    last = cfg.train.iterations - 1
    assert sorted(costs) == [*range(0, last, 100), last]


def test_flower_needs_its_hidden_layer(in_tmp: Path) -> None:
    _, hidden = run(load_config(CONFIGS / "flower.yaml"), name="flower")
    _, logreg = run(load_config(CONFIGS / "flower_logreg.yaml"), name="flower_logreg")
    # The course: 90 % with 4 tanh units (its notebook prints the accuracy truncated to
    # an integer; the exact figure is 363/400), and about 47 % for logistic regression.
    assert hidden["train_accuracy"] == 363 / 400
    assert hidden["train_accuracy"] >= 0.90
    assert logreg["train_accuracy"] == 188 / 400
