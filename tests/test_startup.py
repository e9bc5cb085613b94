"""A whole run starts fast: nothing heavy imported before a command needs it, and cost.png
drawn by a child process (the same picture to the byte) that reports its failures."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import threadpoolctl
from typer.testing import CliRunner

from dlcli.cli import app
from dlcli.costplot import PlotProcess

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("matplotlib", "pyarrow", "PIL", "rich", "pydantic", "numpy", "h5py")
SMALL = [
    "--set", "data.generate.examples=200",
    "--set", "train.iterations=300",
    "--set", "train.log_every=50",
    "--quiet",
]  # fmt: skip


def _imported_by(statement: str) -> list[str]:
    code = f"import sys; {statement}; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    return ast.literal_eval(done.stdout)


def test_the_cli_imports_nothing_heavy() -> None:
    """`dlcli --help` and every command's parsing need only typer."""
    assert _imported_by("import dlcli.cli") == []


def test_the_training_job_imports_no_plotting_table_or_picture_library() -> None:
    """matplotlib (cost.png), pyarrow (CSV files) and PIL (pictures) wait until used."""
    assert _imported_by("import dlcli.job, dlcli.costplot") == ["numpy", "pydantic"]


def test_cost_png_from_the_child_is_the_one_drawn_in_process(in_tmp: Path) -> None:
    """`python -m dlcli train` draws cost.png in a child process; CliRunner in this one."""
    config = REPO / "configs" / "flower.yaml"
    child = subprocess.run(
        [sys.executable, "-m", "dlcli", "train", str(config), *SMALL, "--out", "child"],
        capture_output=True,
        text=True,
    )
    assert child.returncode == 0, child.stderr
    here = CliRunner().invoke(app, ["train", str(config), *SMALL, "--out", "here"])
    assert here.exit_code == 0, here.output
    png = (in_tmp / "child" / "cost.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert png == (in_tmp / "here" / "cost.png").read_bytes()
    assert sorted(p.name for p in (in_tmp / "child").iterdir()) == [
        "boundary.png",
        "card.md",
        "checkpoint.h5",
        "config.yaml",
        "cost.png",
        "costs.csv",
        "health.json",
        "health.png",
        "metrics.json",
        "params.h5",
    ]
    # health.png comes from the same child, behind cost.png (issue 15)
    health = (in_tmp / "child" / "health.png").read_bytes()
    assert health[:8] == b"\x89PNG\r\n\x1a\n"
    assert health == (in_tmp / "here" / "health.png").read_bytes()


def test_a_failing_plot_process_says_why() -> None:
    with PlotProcess() as plot:
        plot.begin([{"iteration": 0, "epoch": 0}], 0.1)  # no "cost" to draw
        with pytest.raises(RuntimeError) as caught:
            plot.png()
    message = str(caught.value)
    assert message.startswith("cost.png: the process drawing it ended with code 1: Traceback")
    assert message.endswith("KeyError: 'cost'")


def test_a_failing_health_drawing_says_why() -> None:
    """health.png is drawn by a fork of the child, beside cost.png: its failure reaches
    the parent with its traceback."""
    with PlotProcess() as plot:
        # an update ratio matplotlib cannot plot
        layer = {"update_ratio": {"a": 1}, "dead_fraction": None, "saturated_fraction": None}
        plot.begin(
            [{"iteration": 0, "epoch": 0, "cost": 0.5}], 0.1, [{"iteration": 0, "layers": [layer]}]
        )
        with pytest.raises(RuntimeError) as caught:
            plot.png()
    message = str(caught.value)
    assert message.startswith(
        "cost.png and health.png: the process drawing them ended with code 1: Traceback"
    )
    assert "TypeError: unhashable type: 'dict'" in message
    assert message.endswith("health.png: the process drawing it failed (its error is above)")


def test_a_failing_cost_drawing_ends_the_health_fork_and_says_why() -> None:
    """cost.png fails while the fork draws health.png: the fork is ended and reaped, and
    the message ends with cost.png's error, nothing after it (the fork holds no pipe)."""
    layer = {"update_ratio": 0.1, "dead_fraction": None, "saturated_fraction": None}
    with PlotProcess() as plot:
        plot.begin([{"iteration": 0, "epoch": 0}], 0.1, [{"iteration": 0, "layers": [layer]}])
        with pytest.raises(RuntimeError) as caught:
            plot.png()
    message = str(caught.value)
    assert message.startswith("cost.png and health.png: the process drawing them ended with")
    assert message.endswith("KeyError: 'cost'")
    assert message.count("Traceback") == 1


def test_a_usage_error_ends_the_child_started_for_it() -> None:
    """`dlcli train` with a wrong option: Typer ends before train() takes the child that
    dlcli.__main__ started, and main() kills and reaps it."""
    code = (
        "import sys; import dlcli.costplot as c\n"
        "made = []\n"
        "class Recorded(c.PlotProcess):\n"
        "    def __init__(self):\n"
        "        super().__init__(); made.append(self)\n"
        "c.PlotProcess = Recorded\n"
        "sys.argv = ['dlcli', 'train', 'x.yaml', '--bogus']\n"
        "from dlcli.__main__ import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as e:\n"
        "    print(e.code, len(made), made[0]._proc.returncode)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert done.stdout.split() == ["2", "1", "-9"], done.stderr


@pytest.mark.parametrize(
    ("argv", "starts"),
    [
        (["train", "configs/flower.yaml"], True),
        (["train", "configs/flower.yaml", "--quiet", "--set", "train.iterations=5"], True),
        (["train", "configs/flower.yaml", "--dry-run"], False),
        (["train", "--help"], False),
        (["train", "-h"], False),
        (["gradcheck"], False),
        (["predict", "train"], False),
        ([], False),
    ],
)
def test_the_plot_child_starts_before_the_cli_for_a_training_command_only(
    argv: list[str], starts: bool
) -> None:
    """`dlcli train` starts its child before Typer and the CLI are imported (dlcli.__main__);
    no other command starts one."""
    from dlcli.__main__ import trains

    assert trains(argv) == starts


def test_a_plot_process_not_needed_is_ended() -> None:
    with PlotProcess() as plot:
        child = plot._proc
    assert child.returncode == -9  # killed, and waited for (no zombie)


def test_training_beside_the_plot_child_keeps_to_one_blas_thread_then_restores_it() -> None:
    """The Gram engine's run trains on one BLAS thread while the child imports matplotlib,
    and every run keeps to one while the child draws; each limit ends with its stage, also
    when it raises."""
    import numpy  # noqa: F401 - its BLAS must be loaded for threadpoolctl to see it

    def blas_threads() -> list[int]:
        return [
            lib["num_threads"]
            for lib in threadpoolctl.threadpool_info()
            if lib["user_api"] == "blas"
        ]

    before = blas_threads()
    assert before
    with PlotProcess() as plot:
        with plot.beside(one_core=True):
            assert blas_threads() == [1] * len(before)
        assert blas_threads() == before
        with pytest.raises(KeyError), plot.beside(one_core=True):
            raise KeyError("training failed")
        assert blas_threads() == before
        with plot.beside(one_core=False):  # waits for the child's import instead
            assert blas_threads() == before
        plot.begin([{"iteration": 0, "epoch": 0, "cost": 0.5}], 0.1)
        assert blas_threads() == [1] * len(before)  # while the child draws
        assert plot.png()[:8] == b"\x89PNG\r\n\x1a\n"
        assert blas_threads() == before
    with PlotProcess() as plot:  # a run that fails after begin(): close() ends the limit
        plot.begin([{"iteration": 0, "epoch": 0, "cost": 0.5}], 0.1)
        assert blas_threads() == [1] * len(before)
    assert blas_threads() == before


def test_the_startup_benchmark_table_gives_multiples_of_the_import_baseline() -> None:
    sys.path.insert(0, str(REPO / "benchmarks"))  # the benchmarks import each other by name
    try:
        import startup
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    times = {startup.BASELINE: [0.30, 0.20, 0.25], "dlcli train": [1.0, 0.5, 0.75]}
    assert startup.table(times).splitlines() == [
        "| what | median s | min–max s | x import baseline |",
        "|---|---:|---:|---:|",
        f"| {startup.BASELINE} | 0.250 | 0.200–0.300 | 1.00x |",
        "| dlcli train | 0.750 | 0.500–1.000 | 3.00x |",  # 0.75 / 0.25
    ]
