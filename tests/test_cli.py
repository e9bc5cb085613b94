"""The command line, through typer's CliRunner and through real subprocesses of the
installed ``dlcli`` executable and ``python -m dlcli``."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import h5py
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from dlcli import __version__
from dlcli.cli import app
from dlcli.config import load_config
from dlcli.data.generated import flower

REPO = Path(__file__).resolve().parents[1]
FLOWER = REPO / "configs" / "flower.yaml"
CAT_LOGREG = REPO / "configs" / "cat_logreg.yaml"
FAST = ["--set", "train.iterations=50", "--set", "train.log_every=20"]
RUN_FILES = {"params.h5", "costs.csv", "metrics.json", "config.yaml", "cost.png"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Outcome(NamedTuple):
    exit_code: int
    stdout: str
    stderr: str


Cli = Callable[..., Outcome]


def dlcli_executable() -> str:
    """The console script installed beside this interpreter, else the one on PATH."""
    beside = Path(sys.executable).with_name("dlcli")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("dlcli")
    if found is None:
        pytest.fail(f"no dlcli executable next to {sys.executable} or on PATH; pip install -e .")
    return found


def via_runner(*args: str) -> Outcome:
    result = CliRunner().invoke(app, list(args))
    # CliRunner catches every exception; one that is not an exit is a bug: show it.
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Outcome(result.exit_code, result.stdout, result.stderr)


def via_process(command: list[str]) -> Cli:
    def run(*args: str) -> Outcome:
        done = subprocess.run(
            [*command, *args], capture_output=True, text=True, timeout=120, check=False
        )
        return Outcome(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture(params=["runner", "executable", "module"])
def cli(request: pytest.FixtureRequest) -> Cli:
    """Each test runs three ways: CliRunner, the installed dlcli, python -m dlcli."""
    if request.param == "runner":
        return via_runner
    if request.param == "executable":
        return via_process([dlcli_executable()])
    return via_process([sys.executable, "-m", "dlcli"])


@pytest.fixture(params=["runner", "executable"])
def cli2(request: pytest.FixtureRequest) -> Cli:
    """CliRunner and the installed executable, for the slower tests."""
    return via_runner if request.param == "runner" else via_process([dlcli_executable()])


def read_costs(run_dir: Path) -> list[tuple[int, float]]:
    lines = (run_dir / "costs.csv").read_text().splitlines()
    assert lines[0] == "iteration,epoch,cost"
    rows = [line.split(",") for line in lines[1:]]
    assert all(i == e for i, e, _ in rows)  # full batch: one iteration is one epoch
    return [(int(i), float(c)) for i, _, c in rows]


def flower_cost(params: dict[str, np.ndarray]) -> float:
    """The cross-entropy cost of a [2, 4, 1] tanh/sigmoid network on the default flower set,
    written out here independently of dlcli's network module."""
    X, Y = flower(400, 1)
    A1 = np.tanh(params["W1"] @ X + params["b1"])
    AL = 1 / (1 + np.exp(-(params["W2"] @ A1 + params["b2"])))
    return float(-np.mean(Y * np.log(AL) + (1 - Y) * np.log(1 - AL)))


def assert_complete_run(run_dir: Path) -> None:
    """The five run files are there, and no staging or temporary file is left beside them."""
    names = set(os.listdir(run_dir))
    assert names >= RUN_FILES
    assert not [n for n in names if n.startswith(".") or "tmp" in n or "partial" in n]


def assert_no_run_dir(cwd: Path) -> None:
    runs = cwd / "runs"
    assert not runs.exists() or list(runs.iterdir()) == []


# ---------------------------------------------------------------- help and version


def test_help(cli: Cli) -> None:
    out = cli("--help")
    assert out.exit_code == 0
    assert "Usage:" in out.stdout
    assert "train" in out.stdout
    assert "--version" in out.stdout
    assert out.stderr == ""


def test_train_help_lists_options(cli: Cli) -> None:
    out = cli("train", "--help")
    assert out.exit_code == 0
    for option in ("--set", "KEY=VALUE", "--out", "--quiet", "--json", "--help"):
        assert option in out.stdout
    assert "params.h5" in out.stdout


def test_version(cli: Cli) -> None:
    out = cli("--version")
    assert out.exit_code == 0
    assert out.stdout == f"dlcli {__version__}\n"


# ---------------------------------------------------------------- a tiny flower run


def test_flower_run_writes_the_run_directory(cli: Cli, in_tmp: Path) -> None:
    out = cli("train", str(FLOWER), *FAST)
    assert out.exit_code == 0, out.stderr
    run_dir = in_tmp / "runs" / "flower"
    # Nothing else: no staging directory or temporary link is left behind.
    assert sorted(os.listdir(in_tmp / "runs")) == ["flower", "latest"]
    assert_complete_run(run_dir)
    latest = in_tmp / "runs" / "latest"
    assert latest.is_symlink()
    assert os.readlink(latest) == "flower"
    assert latest.resolve() == run_dir.resolve()

    # costs.csv: every log_every (20) iterations, plus the last (49).
    costs = read_costs(run_dir)
    assert [i for i, _ in costs] == [0, 20, 40, 49]
    # Iteration 0's cost is that of the initial weights: RandomState(2).randn * 0.01, W1 first.
    rng = np.random.RandomState(2)
    init = {"W1": rng.randn(4, 2) * 0.01, "b1": np.zeros((4, 1))}
    init |= {"W2": rng.randn(1, 4) * 0.01, "b2": np.zeros((1, 1))}
    assert costs[0][1] == pytest.approx(flower_cost(init), rel=1e-12)
    assert costs[0][1] == pytest.approx(0.6930480201239823, rel=1e-12)
    assert costs[0][1] > costs[1][1] > costs[2][1] > costs[3][1]

    # Progress: one plain line per logged cost, on stderr (not a terminal here).
    assert out.stderr.splitlines() == [f"iteration {i:>2}/50  cost {c:.6f}" for i, c in costs]

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert {
        "final_cost",
        "train_accuracy",
        "iterations",
        "train_seconds",
        "engine",
        "train_examples",
        "run_dir",
    } <= set(metrics)
    assert "test_accuracy" not in metrics  # the flower has no test set
    assert metrics["iterations"] == 50
    assert metrics["train_examples"] == 400
    assert metrics["run_dir"] == str(Path("runs") / "flower")
    assert metrics["engine"] in {"direct", "gram"}
    assert 0 <= metrics["train_seconds"] < 60
    assert metrics["final_cost"] < costs[-1][1]
    assert metrics["train_accuracy"] * 400 == pytest.approx(round(metrics["train_accuracy"] * 400))

    # The summary table goes to stdout.
    assert "final_cost" in out.stdout
    assert f"{metrics['final_cost']:.6f}" in out.stdout

    # config.yaml is the resolved config, overrides included, and loads back as it was.
    resolved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert resolved["train"]["iterations"] == 50
    assert resolved["train"]["log_every"] == 20
    assert resolved["model"]["layers"] == [2, 4, 1]
    assert load_config(run_dir / "config.yaml") == load_config(
        FLOWER, ["train.iterations=50", "train.log_every=20"]
    )

    png = (run_dir / "cost.png").read_bytes()
    assert png.startswith(PNG_MAGIC)
    assert len(png) > 1000


def test_params_file_readable_with_plain_h5py(cli2: Cli, in_tmp: Path) -> None:
    out = cli2("train", str(FLOWER), *FAST, "--quiet")
    assert out.exit_code == 0, out.stderr
    run_dir = in_tmp / "runs" / "flower"
    with h5py.File(run_dir / "params.h5", "r") as f:
        assert sorted(f) == ["W1", "W2", "b1", "b2"]
        shapes = {k: f[k].shape for k in f}
        dtypes = {f[k].dtype for k in f}
        params = {k: f[k][()] for k in f}
        attrs = dict(f.attrs)
    assert shapes == {"W1": (4, 2), "b1": (4, 1), "W2": (1, 4), "b2": (1, 1)}
    assert dtypes == {np.dtype(np.float64)}
    assert attrs["dlcli_version"] == __version__
    assert json.loads(attrs["layers"]) == [2, 4, 1]
    assert attrs["hidden_activation"] == "tanh"
    assert attrs["output_activation"] == "sigmoid"
    assert json.loads(attrs["classes"]) == ["red", "blue"]
    assert json.loads(attrs["preprocessing"]) == {"kind": "none"}
    config = json.loads(attrs["config"])
    assert config == yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["init"]["seed"] == 2
    # The stored weights are the trained ones: they give the reported final cost.
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert flower_cost(params) == pytest.approx(metrics["final_cost"], rel=1e-9)


def test_json_prints_exactly_one_object(cli: Cli, in_tmp: Path) -> None:
    out = cli("train", str(FLOWER), *FAST, "--json")
    assert out.exit_code == 0, out.stderr
    assert out.stdout.endswith("\n")
    assert len(out.stdout.splitlines()) == 1
    printed = json.loads(out.stdout)
    assert isinstance(printed, dict)
    assert printed == json.loads((in_tmp / "runs" / "flower" / "metrics.json").read_text())
    assert printed["iterations"] == 50


def test_quiet_prints_no_progress(cli2: Cli, in_tmp: Path) -> None:
    out = cli2("train", str(FLOWER), *FAST, "--quiet")
    assert out.exit_code == 0
    assert out.stderr == ""
    assert not re.search(r"iteration +\d+/50", out.stdout)
    assert "cost 0.693048" not in out.stdout
    assert "final_cost" in out.stdout
    out = cli2("train", str(FLOWER), *FAST, "-q", "--json")
    assert out.exit_code == 0
    assert out.stderr == ""
    assert json.loads(out.stdout)["run_dir"] == str(Path("runs") / "flower-2")


def test_second_run_gets_a_new_directory_and_latest_moves(cli2: Cli, in_tmp: Path) -> None:
    first = cli2("train", str(FLOWER), *FAST, "--json")
    assert first.exit_code == 0
    first_costs = (in_tmp / "runs" / "flower" / "costs.csv").read_bytes()
    second = cli2("train", str(FLOWER), *FAST, "--json")
    assert second.exit_code == 0
    assert json.loads(second.stdout)["run_dir"] == str(Path("runs") / "flower-2")
    assert sorted(os.listdir(in_tmp / "runs")) == ["flower", "flower-2", "latest"]
    assert os.readlink(in_tmp / "runs" / "latest") == "flower-2"
    # The first run is untouched, and the same config gave the same numbers.
    assert_complete_run(in_tmp / "runs" / "flower")
    assert (in_tmp / "runs" / "flower-2" / "costs.csv").read_bytes() == first_costs
    third = cli2("train", str(FLOWER), *FAST, "--json")
    assert json.loads(third.stdout)["run_dir"] == str(Path("runs") / "flower-3")
    assert os.readlink(in_tmp / "runs" / "latest") == "flower-3"


def test_out_chooses_the_run_directory(cli2: Cli, in_tmp: Path) -> None:
    out = cli2("train", str(FLOWER), *FAST, "--json", "--out", "elsewhere/my-run")
    assert out.exit_code == 0, out.stderr
    run_dir = in_tmp / "elsewhere" / "my-run"
    assert_complete_run(run_dir)
    assert json.loads(out.stdout)["run_dir"] == str(Path("elsewhere") / "my-run")
    assert os.readlink(in_tmp / "elsewhere" / "latest") == "my-run"
    assert not (in_tmp / "runs").exists()
    # Taken: the next free name beside it.
    again = cli2("train", str(FLOWER), *FAST, "--json", "--out", "elsewhere/my-run")
    assert json.loads(again.stdout)["run_dir"] == str(Path("elsewhere") / "my-run-2")


def test_output_dir_from_set(in_tmp: Path) -> None:
    out = via_runner("train", str(FLOWER), *FAST, "--quiet", "--set", "output.dir=results")
    assert out.exit_code == 0
    assert_complete_run(in_tmp / "results" / "flower")
    assert not (in_tmp / "runs").exists()


def test_runner_and_executable_agree(in_tmp: Path) -> None:
    assert via_runner("train", str(FLOWER), *FAST, "-q").exit_code == 0
    exe = via_process([dlcli_executable()])("train", str(FLOWER), *FAST, "-q")
    assert exe.exit_code == 0
    a = (in_tmp / "runs" / "flower" / "costs.csv").read_bytes()
    b = (in_tmp / "runs" / "flower-2" / "costs.csv").read_bytes()
    assert a == b


# ---------------------------------------------------------------- the course's cat files


def test_cat_logreg_short_run(cat_overrides: list[str], in_tmp: Path) -> None:
    sets = [a for o in [*cat_overrides, "train.iterations=3"] for a in ("--set", o)]
    out = via_runner("train", str(CAT_LOGREG), *sets, "--json")
    assert out.exit_code == 0, out.stderr
    metrics = json.loads(out.stdout)
    assert metrics["train_examples"] == 209
    assert metrics["test_examples"] == 50
    assert 0 <= metrics["test_accuracy"] <= 1
    run_dir = in_tmp / "runs" / "cat_logreg"
    costs = read_costs(run_dir)
    assert [i for i, _ in costs] == [0, 2]
    # Zero weights: every AL is 0.5, so the first cost is log 2 (the course's 0.693147).
    assert costs[0][1] == pytest.approx(math.log(2), rel=1e-14)
    with h5py.File(run_dir / "params.h5", "r") as f:
        assert f["W1"].shape == (1, 12288)
        assert json.loads(f.attrs["classes"]) == ["non-cat", "cat"]
        assert json.loads(f.attrs["preprocessing"]) == {
            "kind": "image",
            "example_shape": [64, 64, 3],
            "divide_by": 255.0,
        }


def test_cat_layers_not_matching_n_x(cat_overrides: list[str], in_tmp: Path) -> None:
    sets = [a for o in [*cat_overrides, "model.layers=[100,1]"] for a in ("--set", o)]
    out = via_runner("train", str(CAT_LOGREG), *sets)
    assert out.exit_code == 1
    assert out.stderr.splitlines() == [
        "dlcli: config error: model.layers[0]: is 100 but the data have n_x = 12288 features "
        "per example; set model.layers[0] to 12288"
    ]
    assert_no_run_dir(in_tmp)


# ---------------------------------------------------------------- bad input


def _bad_yaml(cwd: Path) -> list[str]:
    (cwd / "bad.yaml").write_text("data:\n  generate: {name: flower\nmodel: [1\n")
    return ["train", "bad.yaml"]


def _unknown_key_in_file(cwd: Path) -> list[str]:
    text = FLOWER.read_text().replace("train:\n", "trian:\n")
    (cwd / "typo.yaml").write_text(text)
    return ["train", "typo.yaml"]


def _course_config(cwd: Path, train: str) -> list[str]:
    (cwd / "cat.yaml").write_text(f"data:\n  train: {train}\nmodel:\n  layers: [12288, 1]\n")
    return ["train", "cat.yaml"]


def _text_data_file(cwd: Path) -> list[str]:
    (cwd / "notes.h5").write_text("these are notes, not pixels\n")
    return _course_config(cwd, "notes.h5")


BAD_INPUTS: dict[str, tuple[Callable[[Path], list[str]], list[str]]] = {
    "bad-yaml": (_bad_yaml, ["bad.yaml", "not valid YAML (line 3, column 6)"]),
    "unknown-key-file": (_unknown_key_in_file, ["typo.yaml", "trian", "did you mean train?"]),
    "unknown-key-set": (
        lambda cwd: ["train", str(FLOWER), "--set", "train.learnig_rate=0.1"],
        ["--set train.learnig_rate: unknown key", "did you mean train.learning_rate?"],
    ),
    "set-not-key-value": (
        lambda cwd: ["train", str(FLOWER), "--set", "iterations"],
        ["--set 'iterations': expected KEY=VALUE"],
    ),
    "lr-zero": (
        lambda cwd: ["train", str(FLOWER), "--set", "train.learning_rate=0"],
        ["train.learning_rate: must be greater than 0, found 0"],
    ),
    "lr-negative": (
        lambda cwd: ["train", str(FLOWER), "--set", "train.learning_rate=-0.5"],
        ["train.learning_rate: must be greater than 0, found -0.5"],
    ),
    "iterations-zero": (
        lambda cwd: ["train", str(FLOWER), "--set", "train.iterations=0"],
        ["train.iterations: must be greater than or equal to 1, found 0"],
    ),
    "layer-zero": (
        lambda cwd: ["train", str(FLOWER), "--set", "model.layers=[2,0,1]"],
        ["model.layers[1]: must be greater than or equal to 1, found 0"],
    ),
    "layers0-not-n_x": (
        lambda cwd: ["train", str(FLOWER), "--set", "model.layers=[3,4,1]"],
        ["model.layers[0]: is 3 but the data have n_x = 2"],
    ),
    "missing-data-file": (
        lambda cwd: _course_config(cwd, "missing.h5"),
        ["data error: data.train: missing.h5: no such file"],
    ),
    "text-data-file": (_text_data_file, ["data.train: notes.h5: not an HDF5 file"]),
    "missing-config": (
        lambda cwd: ["train", "nothere.yaml"],
        ["config error: nothere.yaml: no such config file"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_and_no_run(cli: Cli, in_tmp: Path, case: str) -> None:
    make_args, expected = BAD_INPUTS[case]
    out = cli(*make_args(in_tmp))
    assert out.exit_code == 1
    assert "Traceback" not in out.stderr + out.stdout
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert out.stderr == lines[0] + "\n"
    assert lines[0].startswith("dlcli: ")
    for text in expected:
        assert text in lines[0]
    assert out.stdout == ""
    assert_no_run_dir(in_tmp)


def test_unknown_option_is_a_usage_error(in_tmp: Path) -> None:
    out = via_runner("train", str(FLOWER), "--iterations", "5")
    assert out.exit_code == 2
    assert "--iterations" in out.stderr
    assert_no_run_dir(in_tmp)
