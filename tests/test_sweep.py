"""dlcli sweep: expansion, seeded sampling, failures, resume, and the Dask executor.

Trials are tiny flower networks (few iterations) so the whole file stays fast; the shipped
hidden-size sweep runs in full once, against the course's table.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import need
from typer.testing import CliRunner

from dlcli.cli import app
from dlcli.errors import ConfigError
from dlcli.sweep.executors import blas_threads_per_worker, local_executor
from dlcli.sweep.results import sort_results
from dlcli.sweep.run import run_sweep
from dlcli.sweep.spec import METRICS, load_sweep

runner = CliRunner()
CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# Six keys of seven values each: 7^6 = 117649 trials, beyond the limit.
SIX_KEYS = (
    "train.log_every",
    "train.iterations",
    "train.seed",
    "init.seed",
    "data.split_seed",
    "train.checkpoint_every",
)
FLOWER = str(CONFIGS / "flower.yaml")


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _rows(sweep_dir: Path) -> list[dict[str, str]]:
    with open(sweep_dir / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_grid_expands_every_combination_in_order(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "s.yaml",
        f"base: {FLOWER}\n"
        "set: [train.iterations=50]\n"
        "grid:\n"
        "  model.layers: [[2, 3, 1], [2, 5, 1]]\n"
        "  train.learning_rate: [0.1, 0.5, 1.2]\n",
    )
    sweep = load_sweep(path)
    assert sweep.keys == ["model.layers", "train.learning_rate"]
    got = [(t.values["model.layers"], t.values["train.learning_rate"]) for t in sweep.trials]
    assert got == [
        ([2, 3, 1], 0.1),
        ([2, 3, 1], 0.5),
        ([2, 3, 1], 1.2),
        ([2, 5, 1], 0.1),
        ([2, 5, 1], 0.5),
        ([2, 5, 1], 1.2),
    ]
    # Each trial is the base config with its values set and the file's `set:` applied.
    fourth = sweep.trials[4].config
    assert fourth.model.layers == [2, 5, 1]
    assert fourth.train.learning_rate == 0.5
    assert fourth.train.iterations == 50
    assert fourth.init.seed == 2 and fourth.model.hidden_activation == "tanh"
    assert sweep.trials[4].overrides == ["model.layers=[2, 5, 1]", "train.learning_rate=0.5"]
    assert sweep.metric == "final_cost" and sweep.maximize is False
    assert sweep.out == Path("runs/s")


def test_random_sampling_is_seeded_and_reproducible(tmp_path: Path) -> None:
    text = (
        f"base: {FLOWER}\n"
        "random:\n"
        "  trials: 6\n"
        "  seed: {seed}\n"
        "  train.learning_rate: {{loguniform: [0.001, 1.0]}}\n"
        "  init.scale: {{uniform: [0.01, 0.5]}}\n"
        "  train.iterations: {{int: [10, 20]}}\n"
        "  model.hidden_activation: {{choice: [tanh, relu, sigmoid]}}\n"
        "grid:\n"
        "  init.seed: [1, 2]\n"
        "metric: train_accuracy\n"
    )
    a = load_sweep(_write(tmp_path / "a.yaml", text.format(seed=7)))
    b = load_sweep(_write(tmp_path / "b.yaml", text.format(seed=7)))
    c = load_sweep(_write(tmp_path / "c.yaml", text.format(seed=8)))
    assert len(a.trials) == 12  # 6 draws x 2 grid points
    assert [t.values for t in a.trials] == [t.values for t in b.trials]
    assert [t.values for t in a.trials] != [t.values for t in c.trials]
    # The draws are default_rng(seed)'s, trial by trial, keys in the file's order.
    rng = np.random.default_rng(7)
    for draw in range(6):
        lr = math.exp(rng.uniform(math.log(0.001), math.log(1.0)))
        scale = rng.uniform(0.01, 0.5)
        iterations = int(rng.integers(10, 20, endpoint=True))
        activation = ["tanh", "relu", "sigmoid"][int(rng.integers(3))]
        for seed, trial in zip([1, 2], a.trials[2 * draw : 2 * draw + 2], strict=True):
            assert trial.values == {
                "init.seed": seed,
                "train.learning_rate": lr,
                "init.scale": scale,
                "train.iterations": iterations,
                "model.hidden_activation": activation,
            }
            assert trial.config.train.learning_rate == lr  # bit for bit through --set
            assert trial.config.init.scale == scale
    assert a.maximize is True
    assert a.log_keys == {"train.learning_rate"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "grid:\n  train.learnig_rate: [0.1]\n",
            "trial 0 (train.learnig_rate=0.1): --set train.learnig_rate: unknown key; "
            "allowed here: learning_rate",
        ),
        (
            "grid:\n  train.learning_rate: [0.1, -1]\n",
            "trial 1 (train.learning_rate=-1): --set train.learning_rate: must be greater than 0",
        ),
        (
            "random:\n  trials: 3\n  train.l2: {normal: [0, 1]}\n",
            "random: train.l2: expected one distribution",
        ),
        ("random:\n  trials: 3\n  train.l2: {loguniform: [0, 1]}\n", "loguniform needs [a, b]"),
        ("grid: {}\n", "needs grid: or random:"),
        (
            "grid:\n" + "".join(f"  {key}: [1, 2, 3, 4, 5, 6, 7]\n" for key in SIX_KEYS),
            "expands to 117649 trials, more than 100000; sweep fewer values",
        ),
        ("grid:\n  train.l2: [0.1]\nmetric: accuracy\n", "metric: 'accuracy' is not one of"),
        ("grid:\n  train.l2: [0.1]\ngird: 1\n", "gird: unknown key"),
    ],
)
def test_a_bad_sweep_fails_up_front(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    path = _write(tmp_path / "bad.yaml", f"base: {FLOWER}\n{body}")
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    # Through the CLI: one red line, exit 1, and nothing written.
    result = runner.invoke(app, ["sweep", str(path)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("dlcli: config error: ")
    assert message in result.stderr
    assert not (tmp_path / "runs").exists()


def test_every_mistake_of_a_sweep_file_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three mistakes of the sweep file in its order, then each wrong set: item, then every
    mistake of a trial's config: one line each, exit 1, nothing written."""
    monkeypatch.chdir(tmp_path)
    path = _write(
        tmp_path / "bad.yaml",
        f"base: {FLOWER}\ngird: 1\ngrid:\n  train.l2: [0.1]\nmetric: accuracy\nmaximize: maybe\n",
    )
    result = runner.invoke(app, ["sweep", str(path)])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"dlcli: config error: {path}: gird: unknown key; allowed here: base, set, grid, "
        "random, metric, maximize, out",
        f"dlcli: config error: {path}: metric: 'accuracy' is not one of {', '.join(METRICS)}",
        f"dlcli: config error: {path}: maximize: must be a valid boolean, unable to interpret "
        "input",
    ]
    _write(path, f"base: {FLOWER}\nset: [train.l3=1, model]\ngrid:\n  train.l2: [0.1]\n")
    lines = runner.invoke(app, ["sweep", str(path)]).stderr.splitlines()
    assert [line.split(": set: ")[1][:22] for line in lines] == [
        "--set train.l3: unknow",
        "--set 'model': expecte",
    ]
    _write(
        path,
        f"base: {FLOWER}\ngrid:\n  train.learning_rate: [-1]\n  train.iterations: [0]\n",
    )
    lines = runner.invoke(app, ["sweep", str(path)]).stderr.splitlines()
    where = f"dlcli: config error: {path}: trial 0 (train.learning_rate=-1, train.iterations=0): "
    assert lines == [
        where + "--set train.learning_rate: must be greater than 0, found -1",
        where + "--set train.iterations: must be greater than or equal to 1, found 0",
    ]
    assert not (tmp_path / "runs").exists()


def test_a_failing_trial_is_recorded_and_the_others_run(tmp_path: Path) -> None:
    missing = tmp_path / "missing.h5"
    path = _write(
        tmp_path / "s.yaml",
        f"base: {FLOWER}\n"
        "set: [train.iterations=30, train.log_every=10]\n"
        "grid:\n"
        f"  init.from: [null, {missing}]\n"
        "  model.layers: [[2, 2, 1], [2, 4, 1]]\n"
        "metric: train_accuracy\n",
    )
    out = tmp_path / "sw"
    result = runner.invoke(app, ["sweep", str(path), "--out", str(out), "--workers", "2"])
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().endswith("dlcli: 2 trials failed; see results.csv")
    rows = _rows(out)
    assert [r["trial"] for r in rows] == ["0", "1", "2", "3"]
    assert [r["status"] for r in rows] == ["ok", "ok", "failed", "failed"]
    for row in rows[2:]:
        assert row["error"] == f"model file error: init.from: {missing}: no such file"
        assert row["final_cost"] == row["train_accuracy"] == ""
    for row in rows[:2]:
        metrics = json.loads((Path(row["run_dir"]) / "metrics.json").read_text())
        assert float(row["final_cost"]) == metrics["final_cost"]
        assert float(row["train_accuracy"]) == metrics["train_accuracy"]
        assert row["run_dir"] == str(out.absolute() / "trials" / f"00{row['trial']}")
    assert rows[0]["model.layers"] == "[2, 2, 1]" and rows[0]["init.from"] == "null"
    assert (out / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The table lists the failures last, with their error.
    assert "failed: model file error: init.from" in result.stdout


def test_resume_skips_finished_trials_and_reruns_failed_ones(tmp_path: Path) -> None:
    init = tmp_path / "init.h5"
    path = _write(
        tmp_path / "s.yaml",
        f"base: {FLOWER}\n"
        "set: [train.iterations=40, train.log_every=10]\n"
        "grid:\n"
        f"  init.from: [null, {init}]\n"
        "  train.learning_rate: [0.5, 1.2]\n",
    )
    out = tmp_path / "sw"
    sweep = load_sweep(path, out)
    first = run_sweep(sweep, local_executor(2))
    assert [r["status"] for r in first] == ["ok", "ok", "failed", "failed"]
    finished = {
        r["index"]: (Path(r["row"]["run_dir"]) / "metrics.json").stat().st_mtime_ns
        for r in first[:2]
    }
    # Without --resume a used sweep directory is refused.
    with pytest.raises(Exception, match="already holds files; add --resume"):
        run_sweep(sweep, local_executor(2))
    # Make the failed trials' file: trial 0's weights, the same layers.
    shutil.copy(Path(first[0]["row"]["run_dir"]) / "params.h5", init)
    seen: list[int] = []
    second = run_sweep(
        sweep,
        local_executor(2),
        resume=True,
        on_trial=lambda r, done, total: seen.append(r["index"]),
    )
    assert [r["status"] for r in second] == ["ok"] * 4
    assert sorted(seen) == [0, 1, 2, 3] and sorted(seen[2:]) == [2, 3]  # kept ones reported first
    for index, mtime in finished.items():  # not run again
        assert (Path(second[index]["row"]["run_dir"]) / "metrics.json").stat().st_mtime_ns == mtime
        assert second[index]["row"] == first[index]["row"]
    # Trial 2 starts from trial 0's trained weights at lr 0.5: its first cost is trial 0's last.
    assert second[2]["costs"][0][1] == pytest.approx(first[0]["metrics"]["final_cost"], rel=1e-12)
    assert len(_rows(out)) == 4
    # Resuming a finished sweep runs nothing; another sweep file is refused.
    seen.clear()
    third = run_sweep(
        sweep, local_executor(2), resume=True, on_trial=lambda r, d, t: seen.append((d, t))
    )
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert [r["row"] for r in third] == [r["row"] for r in second]
    other = _write(tmp_path / "o.yaml", path.read_text().replace("0.5, 1.2", "0.5, 1.0"))
    with pytest.raises(ConfigError, match="trial 1 was run with other values"):
        run_sweep(load_sweep(other, out), local_executor(2), resume=True)
    # The same swept values over another base (here another set:) are refused too.
    other = _write(tmp_path / "p.yaml", path.read_text().replace("iterations=40", "iterations=41"))
    with pytest.raises(ConfigError) as info:
        run_sweep(load_sweep(other, out), local_executor(2), resume=True)
    assert str(info.value).startswith(
        f"--resume: trial 0 in {out.absolute() / 'trials' / '000'} was trained with another "
        "config (train.iterations: 40 -> 41)"
    )


def test_local_workers_get_their_share_of_blas_threads(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "s.yaml",
        f"base: {FLOWER}\nset: [train.iterations=5]\ngrid:\n  init.seed: [1, 2]\n",
    )
    results = run_sweep(load_sweep(path, tmp_path / "sw"), local_executor(2))
    assert blas_threads_per_worker(2) == max(1, (__import__("os").cpu_count() or 1) // 2)
    # Read in the worker before any limit: set by the environment the pool started with.
    assert [r["blas_threads"] for r in results] == [blas_threads_per_worker(2)] * 2


def test_dask_cluster_gives_the_local_executor_results(tmp_path: Path) -> None:
    distributed = need("dask.distributed")
    path = _write(
        tmp_path / "s.yaml",
        f"base: {FLOWER}\n"
        "set: [train.iterations=200, train.log_every=20]\n"
        "grid:\n"
        "  model.layers: [[2, 1, 1], [2, 3, 1], [2, 8, 1]]\n"
        "  train.learning_rate: [0.3, 1.2]\n"
        "metric: train_accuracy\n",
    )
    local = runner.invoke(
        app, ["sweep", str(path), "--out", str(tmp_path / "local"), "--workers", "2", "--json"]
    )
    assert local.exit_code == 0, local.output
    with distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        remote = runner.invoke(
            app,
            [
                "sweep",
                str(path),
                "--out",
                str(tmp_path / "dask"),
                "--scheduler",
                cluster.scheduler_address,
                "--json",
            ],
        )
    assert remote.exit_code == 0, remote.output
    a, b = json.loads(local.stdout), json.loads(remote.stdout)
    assert len(a["trials"]) == len(b["trials"]) == 6
    by_trial = {r["trial"]: r for r in b["trials"]}
    for row in a["trials"]:
        other = by_trial[row["trial"]]
        for key in (
            "model.layers",
            "train.learning_rate",
            "final_cost",
            "train_accuracy",
            "status",
        ):
            assert row[key] == other[key], (row["trial"], key)
        assert Path(other["run_dir"]).parent == tmp_path / "dask" / "trials"
        costs_a = (Path(row["run_dir"]) / "costs.csv").read_text()
        costs_b = (Path(other["run_dir"]) / "costs.csv").read_text()
        assert costs_a == costs_b
    # Best first: the table's order is the same on both.
    assert [r["trial"] for r in a["trials"]] == [r["trial"] for r in b["trials"]]
    accuracies = [float(r["train_accuracy"]) for r in a["trials"]]
    assert accuracies == sorted(accuracies, reverse=True)


def test_shipped_hidden_size_sweep_against_the_course(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(CONFIGS.parent)
    sweep = load_sweep(CONFIGS / "sweep_flower_hidden.yaml", tmp_path / "sw")
    hidden = [t.config.model.layers[1] for t in sweep.trials]
    assert hidden == [1, 2, 3, 4, 5, 20, 50]
    assert {(t.config.train.iterations, t.config.train.learning_rate) for t in sweep.trials} == {
        (5000, 1.2)
    }
    results = run_sweep(sweep, local_executor(2))
    got = [round(100 * r["metrics"]["train_accuracy"], 2) for r in results]
    # Five cells equal the course's on any BLAS. The 20- and 50-unit cells sit on a rounding
    # knife edge (docs/sweep.md): OpenBLAS's Nehalem and Prescott kernels give the course's 90.0 % and
    # 90.75 %, its Haswell, Zen and Sandybridge kernels 90.5 % and 90.25 % (two of 400 points
    # each), the same arithmetic rounded differently. Which kernel OpenBLAS picks depends on
    # the CPU, so both sides of each edge are accepted.
    assert got[:5] == [67.5, 67.25, 90.75, 90.5, 91.25]
    assert (got[5], got[6]) in ((90.0, 90.75), (90.5, 90.25))
    ranked = sort_results(sweep, results)
    assert ranked[0]["values"]["model.layers"] == [2, 5, 1]


def test_shipped_cat_sweep_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CONFIGS.parent)
    sweep = load_sweep(CONFIGS / "sweep_cat_lr.yaml")
    assert [t.config.train.learning_rate for t in sweep.trials] == [
        0.001,
        0.0025,
        0.0075,
        0.02,
        0.05,
    ]
    assert {t.config.train.engine for t in sweep.trials} == {"gram"}
    assert sweep.metric == "test_accuracy" and sweep.maximize is True
    assert (
        sweep.trials[0].config.data.train == CONFIGS.parent / "data/catvnoncat/train_catvnoncat.h5"
    )


def test_scheduler_without_dask_says_how_to_install(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = _write(tmp_path / "s.yaml", f"base: {FLOWER}\ngrid:\n  init.seed: [1]\n")
    # A real interpreter in which dask cannot be imported (a None entry in sys.modules).
    code = (
        "import sys; sys.modules['dask'] = None; sys.modules['dask.distributed'] = None\n"
        "from dlcli.cli import main; sys.argv = ['dlcli', 'sweep', sys.argv[1], '--scheduler', "
        "'tcp://127.0.0.1:1', '--out', sys.argv[2]]; main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path), str(tmp_path / "sw")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "dlcli: error: --scheduler tcp://127.0.0.1:1: needs Dask distributed, which is not "
        'installed: pip install "dlcli[dask]"'
    )
    assert not (tmp_path / "sw").exists()
