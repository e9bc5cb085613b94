"""The whole `dlcli train configs/cat_4layer.yaml` process and `dlcli --help`, against
`python -c "import numpy, h5py, yaml"` (issue 14, point 3), for one or more source trees.

    python benchmarks/startup.py --rounds 7                     # this tree
    python benchmarks/startup.py --rounds 7 /path/to/main .     # two trees, side by side

Each round runs the import baseline, then for every tree (the order turned round each round)
`python -m dlcli train configs/cat_4layer.yaml --quiet` on the course files (into a temporary
folder; `train_seconds` read back from its metrics.json), the same with
`--set train.iterations=1` (the run without its training), the plot child's work alone (a
fresh `child_main` given that run's log and health records: its start, matplotlib's import,
cost.png and health.png), and `python -m dlcli --help`, each a fresh process with PYTHONPATH
set to the tree. The run of 1 iteration and the child's work are floors of the whole run: it
takes at least the child's work, and at least the run without training plus the training.
Python's bytecode goes to a cache folder of its own (PYTHONPYCACHEPREFIX) even where
PYTHONDONTWRITEBYTECODE is set, as an installed package would have it, so no process compiles
dlcli's sources. A markdown table of medians goes to
stdout, with each figure as a multiple of the import baseline's median.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import default_cat_dir

BASELINE = "python -c 'import numpy, h5py, yaml'"


def _wall(command: list[str], env: dict[str, str]) -> float:
    """Seconds of one process, which must succeed."""
    begun = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, cwd=tempfile.gettempdir())
    seconds = time.perf_counter() - begun
    if done.returncode != 0:
        sys.exit(f"startup: {' '.join(command)} failed:\n{done.stderr.decode()[-2000:]}")
    return seconds


#: The plot child's request, made from a finished run's files (untimed), as PlotProcess.begin
#: sends it: the log (costs.csv) and what health.png reads of health.json.
REQUEST = """
import csv, json, sys
from pathlib import Path
from dlcli.costplot import health_rows
run = Path(sys.argv[1])
log = [{k: int(v) if k in ("iteration", "epoch") else float(v) for k, v in row.items()}
       for row in csv.DictReader(open(run / "costs.csv"))]
health = health_rows(json.loads((run / "health.json").read_text())["records"])
sys.stdout.write(json.dumps({"log": log, "learning_rate": 0.0075, "health": health}))
"""

#: What dlcli train's child runs (dlcli.costplot._CHILD, with the tree on sys.path).
CHILD = "from dlcli.costplot import child_main; child_main()"


def _train(tree: Path, out: str, cat_dir: Path, env: dict[str, str], *more: str) -> float:
    """Seconds of one `dlcli train configs/cat_4layer.yaml --quiet` process into ``out``."""
    command = [sys.executable, "-m", "dlcli", "train", str(tree / "configs" / "cat_4layer.yaml")]
    command += ["--quiet", "--out", out, *more]
    for split, name in (("train", "train_catvnoncat.h5"), ("test", "test_catvnoncat.h5")):
        command += ["--set", f"data.{split}={cat_dir}/{name}"]
    return _wall(command, env)


def _child_alone(run_dir: Path, env: dict[str, str]) -> float:
    """Seconds of the plot child's whole work alone, given the cat run's log and health
    records on stdin: start, import matplotlib, draw cost.png and health.png, answer."""
    # Run outside any source tree: `python -c` puts the working directory first on the path.
    where = tempfile.gettempdir()
    made = subprocess.run(
        [sys.executable, "-c", REQUEST, str(run_dir)],
        env=env,
        capture_output=True,
        check=True,
        cwd=where,
    )
    begun = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, input=made.stdout, capture_output=True, cwd=where
    )
    seconds = time.perf_counter() - begun
    if done.returncode != 0 or len(done.stdout) < 1000:
        sys.exit(f"startup: the plot child failed:\n{done.stderr.decode()[-2000:]}")
    return seconds


def _round(tree: Path, cat_dir: Path, env: dict[str, str], times: dict[str, list[float]]) -> None:
    """One round of one tree's rows, appended to ``times``."""
    with tempfile.TemporaryDirectory() as out:
        whole = _train(tree, f"{out}/r", cat_dir, env)
        metrics = json.loads(Path(out, "r", "metrics.json").read_text())
        child = _child_alone(Path(out, "r"), env)
        one = _train(tree, f"{out}/one", cat_dir, env, "--set", "train.iterations=1")
    rows = {
        "dlcli train cat_4layer.yaml": whole,
        "its train_seconds": metrics["train_seconds"],
        "the same with train.iterations=1": one,
        "its plot child's work alone": child,
        "dlcli --help": _wall([sys.executable, "-m", "dlcli", "--help"], env),
    }
    for name, seconds in rows.items():
        times.setdefault(f"{tree}: {name}", []).append(seconds)


def measure(trees: list[Path], rounds: int, cat_dir: Path) -> dict[str, list[float]]:
    """Every figure of every round: {row name: [seconds, ...]}."""
    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    base_env |= {
        "MPLBACKEND": "Agg",
        "PYTHONPYCACHEPREFIX": str(Path(tempfile.gettempdir(), "dlcli-pyc")),
    }
    times: dict[str, list[float]] = {}
    for r in range(rounds):
        times.setdefault(BASELINE, []).append(
            _wall([sys.executable, "-c", "import numpy, h5py, yaml"], base_env)
        )
        for tree in trees if r % 2 == 0 else trees[::-1]:
            _round(tree, cat_dir, base_env | {"PYTHONPATH": str(tree)}, times)
        print(f"round {r + 1}/{rounds}, load {os.getloadavg()[0]:.2f}", file=sys.stderr)
    return times


def table(times: dict[str, list[float]]) -> str:
    """Markdown: median, min-max and median / the import baseline's median, per row."""
    base = statistics.median(times[BASELINE])
    rows = [(name, statistics.median(v), min(v), max(v)) for name, v in times.items()]
    body = [f"| {n} | {md:.3f} | {lo:.3f}–{hi:.3f} | {md / base:.2f}x |" for n, md, lo, hi in rows]
    return "\n".join(
        ["| what | median s | min–max s | x import baseline |", "|---|---:|---:|---:|", *body]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "trees", nargs="*", type=Path, default=[Path(__file__).resolve().parents[1]]
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cat-dir", type=Path, default=default_cat_dir())
    args = parser.parse_args()
    trees = [tree.resolve() for tree in args.trees]
    load = os.getloadavg()[0]
    times = measure(trees, args.rounds, args.cat_dir)
    print(table(times))
    print(f"\nload average (1 min) {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
