"""dlcli compare through the CLI: two flower runs differing in one key, a sweep's folder,
--json against metrics.json, the plot, and bad input refused with one line and nothing
written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_boundary import dlcli, png_size

from dlcli.compare import differences, flatten, read_costs

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
FLOWER = str(CONFIGS / "flower.yaml")
PLOT_SIZE = (700, 450)  # 7 x 4.5 inches at 100 dpi


def train(out: Path, *overrides: str) -> Path:
    sets = [arg for item in ("train.iterations=200", *overrides) for arg in ("--set", item)]
    code, _, err = dlcli("train", FLOWER, *sets, "--quiet", "--out", str(out))
    assert code == 0, err
    return out


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two flower runs, learning rate 1.2 (the config's) and 0.5."""
    base = tmp_path_factory.mktemp("runs")
    return train(base / "a"), train(base / "b", "train.learning_rate=0.5")


def test_two_runs_differ_exactly_in_the_learning_rate(two_runs: tuple[Path, Path]) -> None:
    a, b = two_runs
    out = a.parent / "two.png"
    code, stdout, err = dlcli("compare", str(a), str(b), "--out", str(out), "--json")
    assert code == 0, err
    found = json.loads(stdout)
    assert found["differences"] == {"train.learning_rate": [1.2, 0.5]}
    assert [r["run"] for r in found["runs"]] == [str(a), str(b)]
    for record, run in zip(found["runs"], (a, b), strict=True):
        assert record["metrics"] == json.loads((run / "metrics.json").read_text())
    assert found["plot"] == str(out) and found["skipped"] == []
    assert png_size(out) == PLOT_SIZE


def test_table_default_out_and_force(two_runs: tuple[Path, Path], in_tmp: Path) -> None:
    a, b = two_runs
    code, stdout, err = dlcli("compare", str(a), str(b), "--log")
    assert code == 0, err
    assert png_size(in_tmp / "compare.png") == PLOT_SIZE
    lines = stdout.splitlines()
    header = next(line for line in lines if "train.learning_rate" in line)
    assert [c.strip() for c in header.split("┃")[1:4]] == [
        "run",
        "train.learning_rate",
        "final_cost",
    ]
    metrics = {r: json.loads((r / "metrics.json").read_text()) for r in (a, b)}
    for run, lr in ((a, "1.2"), (b, "0.5")):
        row = next(line for line in lines if line.startswith(f"│ {run} "))
        cells = [c.strip() for c in row.split("│")[1:-1]]
        m = metrics[run]
        assert cells == [
            str(run),
            lr,
            f"{m['final_cost']:.6f}",
            f"{100 * m['train_accuracy']:.2f} %",
            f"{m['train_seconds']:.3f}",
            "200",
        ]
    assert lines[-1] == "cost curves in compare.png"
    before = (in_tmp / "compare.png").read_bytes()
    code, stdout, err = dlcli("compare", str(a), str(b))
    assert (code, stdout) == (1, "")
    assert err == "dlcli: error: --out compare.png: already exists; pass --force to replace it\n"
    assert (in_tmp / "compare.png").read_bytes() == before
    code, _, err = dlcli("compare", str(a), str(b), "--force")
    assert code == 0, err


def test_a_sweep_folder_stands_for_its_trials(tmp_path: Path) -> None:
    sweep = tmp_path / "lr.yaml"
    sweep.write_text(
        f"base: {FLOWER}\n"
        "set: [train.iterations=100, train.log_every=20]\n"
        "grid:\n"
        "  train.learning_rate: [0.3, 1.2]\n"
    )
    out = tmp_path / "sweep"
    code, _, err = dlcli("sweep", str(sweep), "--out", str(out), "--workers", "1", "--quiet")
    assert code == 0, err
    trials = [out / "trials" / "000", out / "trials" / "001"]
    for folder in (out, out / "trials"):
        code, stdout, err = dlcli(
            "compare", str(folder), "--out", str(tmp_path / "c.png"), "--json", "--force"
        )
        assert code == 0, err
        found = json.loads(stdout)
        assert [r["run"] for r in found["runs"]] == [str(t) for t in trials]
        assert found["differences"] == {"train.learning_rate": [0.3, 1.2]}
        for record, trial in zip(found["runs"], trials, strict=True):
            assert record["metrics"] == json.loads((trial / "metrics.json").read_text())
    # A trial that did not finish is left out and named.
    (trials[1] / "metrics.json").unlink()
    code, stdout, err = dlcli("compare", str(out), "--out", str(tmp_path / "d.png"), "--json")
    assert code == 0, err
    found = json.loads(stdout)
    assert [r["run"] for r in found["runs"]] == [str(trials[0])]
    assert found["skipped"] == [str(trials[1])] and found["differences"] == {}


def test_bad_input_is_one_line_and_writes_nothing(
    two_runs: tuple[Path, Path], tmp_path: Path
) -> None:
    a, _ = two_runs
    unfinished = tmp_path / "unfinished"
    shutil.copytree(a, unfinished)
    (unfinished / "metrics.json").unlink()
    (tmp_path / "empty").mkdir()
    out = tmp_path / "c.png"
    cases = {
        (str(tmp_path / "nope"),): f"RUN {tmp_path / 'nope'}: no such folder",
        (str(tmp_path / "empty"),): (
            f"RUN {tmp_path / 'empty'}: not a run directory (no config.yaml, params.h5 or "
            "checkpoint.h5) nor a sweep folder (trials/ of run directories); pass folders "
            "made by dlcli train or dlcli sweep"
        ),
        (str(a), str(unfinished)): (
            f"RUN {unfinished}: holds no metrics.json, the run did not finish; resume it with "
            f"dlcli train CONFIG --out {unfinished} --resume, or leave it out"
        ),
        (): (
            "RUN: no run given; pass one or more run directories or sweep folders, e.g. "
            "dlcli compare runs/flower runs/flower-2"
        ),
        (str(a / "metrics.json"),): (
            f"RUN {a / 'metrics.json'}: not a folder; pass run directories (made by dlcli "
            "train) or sweep folders (made by dlcli sweep)"
        ),
    }
    for args, message in cases.items():
        code, stdout, err = dlcli("compare", *args, "--out", str(out))
        assert (code, stdout, err) == (1, "", f"dlcli: error: {message}\n")
        assert not out.exists()
    code, _, err = dlcli("compare", str(a), "--out", str(tmp_path / "no" / "c.png"))
    assert (
        err
        == f"dlcli: error: --out {tmp_path / 'no' / 'c.png'}: the folder {tmp_path / 'no'} does not exist\n"
    )
    (a.parent / "broken").mkdir(exist_ok=True)
    broken = a.parent / "broken"
    for name in ("config.yaml", "metrics.json"):
        shutil.copy(a / name, broken / name)
    (broken / "costs.csv").write_text("iteration,epoch,cost\n0,0,0.69\n100,100,oops\n")
    code, _, err = dlcli("compare", str(broken), "--out", str(out))
    assert err == (
        f"dlcli: data error: {broken / 'costs.csv'}: line 3, column 'cost': 'oops' is not a number\n"
    )
    assert not out.exists()


def test_validation_curves_are_read(tmp_path: Path) -> None:
    run = train(tmp_path / "v", "data.validation_fraction=0.25", "train.log_every=50")
    costs = read_costs(run / "costs.csv")
    assert list(costs) == ["iteration", "epoch", "cost", "validation_cost", "validation_accuracy"]
    assert costs["iteration"] == [0.0, 50.0, 100.0, 150.0, 199.0]
    code, _, err = dlcli("compare", str(run), "--out", str(tmp_path / "v.png"))
    assert code == 0, err


def test_flatten_and_differences() -> None:
    a = flatten({"model": {"layers": [2, 4, 1]}, "train": {"lr": 1, "opt": {"beta": 0.9}}})
    assert a == {"model.layers": [2, 4, 1], "train.lr": 1, "train.opt.beta": 0.9}
    b = {"model.layers": [2, 5, 1], "train.lr": 1.0, "train.flag": True}
    c = {"model.layers": [2, 4, 1], "train.lr": True, "train.opt.beta": 0.9}
    # 1 and 1.0 are the same value; True is not 1; a key one run lacks is None there.
    assert differences([a, b]) == {
        "model.layers": [[2, 4, 1], [2, 5, 1]],
        "train.opt.beta": [0.9, None],
        "train.flag": [None, True],
    }
    assert differences([a, c]) == {"train.lr": [1, True]}
