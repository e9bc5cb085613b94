"""Reading a CSV (issue 13, point 8): a 100,000-row x 50-column numeric file read by
``pandas.read_csv`` and by dlcli, side by side; medians of interleaved repeats, as a
markdown table on stdout.

    python benchmarks/csv_read.py [--rows 100000] [--columns 50] [--repeats 7]
                                  [--format short|full] [--dir DIR] [--keep]

The file (``--dir``, default the temporary folder) holds a header ``x0,...,x48,y`` and
seeded normal numbers, each column on its own scale (1e-2 to 1e3). ``--format short``
writes them with 6 significant digits (``%.6g``, what a spreadsheet or a sensor log holds);
``full`` writes Python's shortest round-trip text (up to 17 digits, what ``pandas.to_csv``
writes for float64). Each repeat runs every contender once, in turn, in this process, after
the file is in the page cache (it has just been written and read):

- ``pandas.read_csv(path)``: the reference (pandas is needed here only: pip install pandas);
- ``dlcli read_csv``: ``dlcli.data.csvread.read_csv``, the table as named columns;
- ``dlcli load``: ``dlcli.data.load.load`` on a regression config of the file (target ``y``,
  ``test_fraction: 0.2``), what ``dlcli train`` does with it up to X and Y: read, pick the
  columns, split, standardize;
- ``np.loadtxt``: NumPy's C parser (delimiter ``,``, one header row), for reference.

Before timing, dlcli's columns are compared with ``float()`` of every cell's text (what
Python reads, to the last bit) and with pandas'.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def write_table(path: Path, rows: int, columns: int, form: str) -> None:
    """``columns`` seeded normal columns (the last named y), each on its own scale."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, columns)) * 10.0 ** rng.integers(-2, 4, size=columns)
    names = [f"x{i}" for i in range(columns - 1)] + ["y"]
    with open(path, "w") as f:
        f.write(",".join(names) + "\n")
        if form == "short":
            np.savetxt(f, X, fmt="%.6g", delimiter=",")
        else:
            f.writelines(",".join(map(repr, row)) + "\n" for row in X.tolist())


def regression_config(path: Path, table: Path, columns: int) -> Path:
    path.write_text(
        f"data:\n  train: {table}\n  target: y\n  test_fraction: 0.2\n"
        f"model:\n  layers: [{columns - 1}, 8, 1]\n  output_activation: linear\n"
    )
    return path


def check_values(table: Path) -> str:
    """dlcli's columns against float() of each cell, and against pandas; a sentence."""
    import pandas as pd

    from dlcli.data.csvread import read_csv

    read = read_csv(table)
    ours = np.stack([read.columns[name] for name in read.header], axis=1)  # (m, k)
    with open(table) as f:
        next(f)
        texts = np.array([[float(cell) for cell in line.split(",")] for line in f])
    theirs = pd.read_csv(table).to_numpy()
    differ = int((theirs != ours).sum())
    return (
        f"dlcli's {ours.size:,} values equal float() of the cells bit for bit: "
        f"{ours.tobytes() == texts.tobytes()}; cells where pandas' value differs: {differ:,}"
    )


def contenders(table: Path, config: Path) -> dict[str, Callable[[], object]]:
    import pandas as pd

    from dlcli.config import load_config
    from dlcli.data.csvread import read_csv
    from dlcli.data.load import load

    cfg = load_config(config)
    return {
        "pandas.read_csv": lambda: pd.read_csv(table),
        "dlcli read_csv": lambda: read_csv(table),
        "dlcli load (to X, Y)": lambda: load(cfg.data, cfg.model.output_activation),
        "np.loadtxt": lambda: np.loadtxt(table, delimiter=",", skiprows=1),
    }


def measure(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(repeats):
        for name, run in runs.items():
            gc.collect()
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
        print(f"repeat {r + 1}/{repeats} done", file=sys.stderr)
    return times


def report(times: dict[str, list[float]], head: list[str]) -> str:
    base = statistics.median(times["pandas.read_csv"])
    lines = [*head, "", "| contender | median s | min s | max s | vs pandas.read_csv |"]
    lines.append("|---|---:|---:|---:|---:|")
    for name, runs in times.items():
        median = statistics.median(runs)
        lines.append(
            f"| {name} | {median:.3f} | {min(runs):.3f} | {max(runs):.3f} | {median / base:.2f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--columns", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--format", choices=["short", "full"], default="short")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--keep", action="store_true", help="keep the CSV and the config")
    args = parser.parse_args()
    import pandas as pd

    table = args.dir / f"csv_read_{args.rows}x{args.columns}_{args.format}.csv"
    config = args.dir / f"csv_read_{args.rows}x{args.columns}_{args.format}.yaml"
    write_table(table, args.rows, args.columns, args.format)
    regression_config(config, table, args.columns)
    size = table.stat().st_size
    try:
        check = check_values(table)
        load = os.getloadavg()[0]
        times = measure(contenders(table, config), args.repeats)
    finally:
        if not args.keep:
            table.unlink()
            config.unlink()
    head = [
        f"{args.rows:,} rows x {args.columns} columns, format {args.format} "
        f"({size / 2**20:.1f} MiB), "
        f"{args.repeats} interleaved repeats; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, load average {load:.2f} at the start; NumPy {np.__version__}, "
        f"pandas {pd.__version__}, Python {platform.python_version()}",
        "",
        check,
    ]
    print(report(times, head))


if __name__ == "__main__":
    main()
