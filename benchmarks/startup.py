"""The whole `dlcli train configs/cat_4layer.yaml` process and `dlcli --help`, against
`python -c "import numpy, h5py, yaml"` (issue 14, point 3), for one or more source trees.

    python benchmarks/startup.py --rounds 7                     # this tree
    python benchmarks/startup.py --rounds 7 /path/to/main .     # two trees, side by side

Each round runs the import baseline, then for every tree (the order turned round each round)
`python -m dlcli train configs/cat_4layer.yaml --quiet` on the course files (into a temporary
folder; `train_seconds` read back from its metrics.json) and `python -m dlcli --help`, each a
fresh process with PYTHONPATH set to the tree. Python's bytecode goes to a cache folder of its
own (PYTHONPYCACHEPREFIX) even where PYTHONDONTWRITEBYTECODE is set, as an installed package
would have it, so no process compiles dlcli's sources. A markdown table of medians goes to
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


def measure(trees: list[Path], rounds: int, cat_dir: Path) -> dict[str, list[float]]:
    """Every figure of every round: {row name: [seconds, ...]}."""
    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    base_env |= {
        "MPLBACKEND": "Agg",
        "PYTHONPYCACHEPREFIX": str(Path(tempfile.gettempdir(), "dlcli-pyc")),
    }
    data = [f"data.train={cat_dir}/train_catvnoncat.h5", f"data.test={cat_dir}/test_catvnoncat.h5"]
    times: dict[str, list[float]] = {}
    for r in range(rounds):
        times.setdefault(BASELINE, []).append(
            _wall([sys.executable, "-c", "import numpy, h5py, yaml"], base_env)
        )
        for tree in trees if r % 2 == 0 else trees[::-1]:
            env = base_env | {"PYTHONPATH": str(tree)}
            with tempfile.TemporaryDirectory() as out:
                command = [sys.executable, "-m", "dlcli", "train"]
                command += [
                    str(tree / "configs" / "cat_4layer.yaml"),
                    "--quiet",
                    "--out",
                    f"{out}/r",
                ]
                command += ["--set", data[0], "--set", data[1]]
                times.setdefault(f"{tree}: dlcli train cat_4layer.yaml", []).append(
                    _wall(command, env)
                )
                metrics = json.loads(Path(out, "r", "metrics.json").read_text())
            times.setdefault(f"{tree}: its train_seconds", []).append(metrics["train_seconds"])
            times.setdefault(f"{tree}: dlcli --help", []).append(
                _wall([sys.executable, "-m", "dlcli", "--help"], env)
            )
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
