"""Mini-batches at MNIST size (issue 14, point 6): ``dlcli train`` against a PyTorch CPU loop
of the same network and budget, float64 and float32, one command; markdown tables on stdout.

    python benchmarks/minibatch.py [--repeats 3] [--quick] [--examples 60000]
                                   [--dir DIR] [--out DIR] [--no-scaling]

The workload: an MNIST-shaped course-layout file (``mnist_like.py``: ``--examples`` pictures
28x28x1 uint8, 10 classes; made in ``--dir`` if it is not there yet), layers
[784, 128, 64, 10] relu/softmax, he init (seed 1), Adam lr 0.001 (``--optimizer sgd``: plain
gradient descent, lr 0.1), batches of 128, 2 epochs.

- dlcli: ``dlcli train CONFIG --quiet --set train.dtype=...`` in a subprocess; its
  ``train_seconds`` (metrics.json) and the wall seconds of the whole process.
- PyTorch: ``torch_minibatch.py`` in a subprocess (its docstring says what it runs); its timed
  loop and the wall seconds of the whole process (which imports torch).

Each repeat runs the four (contender, dtype) pairs once, the order rotated from repeat to
repeat; the tables give medians. examples/s is epochs x m / train seconds. The FLOP floor is
the run's forward and backward FLOPs, 6 n[l-1] n[l] per example and layer (2 forward, 2 for
dW, 2 for dA_prev), divided by this machine's GEMM rate in the dtype, measured here first with
a large ``np.dot`` (the fastest of a few; NumPy's BLAS threads as the dlcli child has them);
"of the floor" is floor / train seconds, 100 % being a run that does nothing but GEMMs at
that rate.

The scaling table trains ``--scaling-epochs`` (default 1) over batch sizes 32 to 4096 (first
hidden width 128) and first hidden widths 64 to 512 (batch 128), every point for both
contenders in both dtypes, and draws examples/s in ``speed.png`` in ``--out`` (default
``dlcli-minibatch`` in the temporary folder), beside ``minibatch.md``, a copy of the tables.
Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from mnist_like import write
from run import cpu_model, dlcli_command, log, span

HERE = Path(__file__).resolve().parent
LAYERS = [784, 128, 64, 10]
BATCH, EPOCHS = 128, 2
BATCHES = (32, 128, 512, 2048, 4096)
WIDTHS = (64, 128, 512)  # the first hidden layer's
DTYPES = ("float64", "float32")
CONTENDERS = ("dlcli", "PyTorch")
QUICK_EXAMPLES = 6000


def data_file(folder: Path, m: int) -> Path:
    """The MNIST-shaped file of ``m`` pictures in ``folder``, written first if missing."""
    path = folder / f"mnist_like_{m}.h5"
    if not path.is_file():
        log(f"writing {path} ...")
        folder.mkdir(parents=True, exist_ok=True)
        write(path, m, seed=0)
    return path


#: --optimizer: (dlcli's train.optimizer, the learning rate, the name in the tables).
OPTIMIZERS = {"adam": ("adam", 0.001, "Adam"), "sgd": ("gd", 0.1, "SGD")}


def config(
    folder: Path, data: Path, layers: list[int], batch: int, epochs: int, optimizer: str = "adam"
) -> Path:
    """A dlcli config of the workload (dtype left to ``--set``)."""
    path = folder / f"mnist_{'-'.join(map(str, layers))}_b{batch}_e{epochs}.yaml"
    name, lr, _ = OPTIMIZERS[optimizer]
    path.write_text(
        f"data:\n  train: {data}\n"
        f"model:\n  layers: {layers}\n  hidden_activation: relu\n  output_activation: softmax\n"
        "init:\n  scale: he\n  seed: 1\n"
        f"train:\n  optimizer: {name}\n  learning_rate: {lr}\n  batch_size: {batch}\n"
        f"  epochs: {epochs}\n  log_every: 100\n"
    )
    return path


def wall(cmd: list[str]) -> tuple[float, str, float]:
    """(wall seconds, stdout, peak RSS in MiB) of a subprocess that must succeed.

    ``os.wait4`` reaps the child with its own resource usage, so the peak RSS is this
    process's alone (``RUSAGE_CHILDREN`` would give the largest of every child so far).
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if child.returncode != 0:
        sys.exit(f"benchmarks: {shlex.join(cmd)} failed (exit {child.returncode}):\n{stderr}")
    return seconds, stdout, usage.ru_maxrss / 1024  # Linux counts ru_maxrss in KiB


def run_dlcli(cfg: Path, dtype: str, work: Path) -> dict:
    out = work / "run"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [*dlcli_command(), "train", str(cfg), "--quiet", "--out", str(out)]
    process, _, rss = wall([*cmd, "--set", f"train.dtype={dtype}"])
    metrics = json.loads((out / "metrics.json").read_text())
    shutil.rmtree(out)
    return {
        "train": metrics["train_seconds"],
        "process": process,
        "rss": rss,
        "cost": metrics["final_cost"],
        "accuracy": metrics["train_accuracy"],
    }


def run_torch(
    data: Path, layers: list[int], batch: int, epochs: int, dtype: str, optimizer: str = "adam"
) -> dict:
    cmd = [sys.executable, str(HERE / "torch_minibatch.py"), str(data), "--dtype", dtype]
    cmd += ["--optimizer", optimizer, "--lr", str(OPTIMIZERS[optimizer][1])]
    cmd += ["--layers", ",".join(map(str, layers)), "--batch-size", str(batch)]
    process, stdout, rss = wall([*cmd, "--epochs", str(epochs)])
    record = json.loads(stdout)
    return {
        "train": record["loop_seconds"],
        "process": process,
        "rss": rss,
        "cost": record["final_cost"],
        "accuracy": record["accuracy"],
        "torch": record["torch"],
    }


def gemm_rate(dtype: str, n: int, tries: int = 3) -> float:
    """GFLOP/s of ``np.dot`` on two (n, n) matrices in ``dtype``: the fastest of ``tries``
    after a warm-up."""
    rng = np.random.default_rng(0)
    A, B = rng.random((n, n)).astype(dtype), rng.random((n, n)).astype(dtype)
    np.dot(A, B)
    best = min(_timed(np.dot, A, B) for _ in range(tries))
    return 2 * n**3 / best / 1e9


def _timed(f, *args) -> float:
    start = time.perf_counter()
    f(*args)
    return time.perf_counter() - start


def flops(layers: list[int], examples: int) -> float:
    """Forward and backward FLOPs of ``examples`` example passes: 6 n[l-1] n[l] each layer."""
    return 6.0 * examples * sum(a * b for a, b in itertools.pairwise(layers))


class Bench:
    """One benchmark run: where the files go, the data and the GEMM rates."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.m = args.examples
        self.optimizer = args.optimizer
        self.work = Path(tempfile.mkdtemp(prefix="dlcli-minibatch-"))
        self.data = data_file(args.dir, self.m)
        n = 1024 if args.quick else 2048
        self.rates = {dtype: gemm_rate(dtype, n) for dtype in DTYPES}
        log("GEMM GFLOP/s: " + ", ".join(f"{d} {r:.1f}" for d, r in self.rates.items()))

    def point(self, who: str, dtype: str, layers: list[int], batch: int, epochs: int) -> dict:
        """One run of one contender; its record with examples/s and the floor fraction."""
        if who == "dlcli":
            cfg = config(self.work, self.data, layers, batch, epochs, self.optimizer)
            record = run_dlcli(cfg, dtype, self.work)
        else:
            record = run_torch(self.data, layers, batch, epochs, dtype, self.optimizer)
        seen = self.m * epochs
        record["examples_per_s"] = seen / record["train"]
        record["floor"] = flops(layers, seen) / (self.rates[dtype] * 1e9) / record["train"]
        log(
            f"{who:<7} {dtype} layers {layers} batch {batch}: train {record['train']:.3f} s, "
            f"process {record['process']:.3f} s (load {os.getloadavg()[0]:.2f})"
        )
        return record

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


def interleaved(bench: Bench, repeats: int, layers: list[int], batch: int, epochs: int) -> dict:
    """{(contender, dtype): [record per repeat]}, the pairs' order rotated every repeat."""
    pairs = [(who, dtype) for dtype in DTYPES for who in CONTENDERS]
    records: dict[tuple[str, str], list[dict]] = {pair: [] for pair in pairs}
    for r in range(repeats):
        for who, dtype in pairs[r % len(pairs) :] + pairs[: r % len(pairs)]:
            records[who, dtype].append(bench.point(who, dtype, layers, batch, epochs))
    return records


def med(records: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in records)


# ------------------------------------------------------------------------ tables


def workload_tables(records: dict, bench: Bench, repeats: int) -> list[str]:
    total = flops(LAYERS, bench.m * EPOCHS)
    lines = [
        f"## The workload: {LAYERS} relu/softmax, {bench.m:,} examples, "
        f"{OPTIMIZERS[bench.optimizer][2]} (lr {OPTIMIZERS[bench.optimizer][1]}), batch {BATCH}, "
        f"{EPOCHS} epochs",
        "",
        f"{repeats} interleaved repeats, medians. FLOP floor: {total / 1e9:.1f} GFLOP; "
        + "; ".join(
            f"{dtype} GEMM {rate:.1f} GFLOP/s, so {total / rate / 1e9:.2f} s"
            for dtype, rate in bench.rates.items()
        )
        + ".",
        "",
        "| contender | dtype | train s | min–max s | whole process s | examples/s "
        "| of the FLOP floor | peak RSS MiB | final cost | train accuracy |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (who, dtype), recs in records.items():
        train = [r["train"] for r in recs]
        lines.append(
            f"| {who} | {dtype} | {med(recs, 'train'):.3f} | {span(train)} "
            f"| {med(recs, 'process'):.3f} | {med(recs, 'examples_per_s'):,.0f} "
            f"| {med(recs, 'floor'):.0%} | {med(recs, 'rss'):.0f} | {recs[0]['cost']:.6f} "
            f"| {recs[0]['accuracy']:.2%} |"
        )
    return [*lines, "", *ratio_table(records)]


def ratio_table(records: dict) -> list[str]:
    """dlcli against PyTorch per dtype: the issue's target is train s at or below PyTorch's."""
    lines = [
        "| dtype | dlcli train s | PyTorch train s | dlcli / PyTorch | fastest runs "
        "| at or above PyTorch | dlcli process s | PyTorch process s | dlcli / PyTorch, process |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for dtype in DTYPES:
        ours, theirs = records["dlcli", dtype], records["PyTorch", dtype]
        train = med(ours, "train"), med(theirs, "train")
        fastest = min(r["train"] for r in ours) / min(r["train"] for r in theirs)
        process = med(ours, "process"), med(theirs, "process")
        lines.append(
            f"| {dtype} | {train[0]:.3f} | {train[1]:.3f} | {train[0] / train[1]:.2f} "
            f"| {fastest:.2f} | {'yes' if train[0] <= train[1] else '**no**'} "
            f"| {process[0]:.3f} | {process[1]:.3f} | {process[0] / process[1]:.2f} |"
        )
    return [
        *lines,
        "",
        "dlcli / PyTorch below 1: dlcli is faster; fastest runs: the ratio of each one's fastest "
        "repeat, the least disturbed by other load. final cost and train accuracy (table "
        "above): over the whole training set after the last update, the first repeat's.",
    ]


def scaling_points() -> list[tuple[int, int]]:
    """(batch size, first hidden width): the batch sizes at width 128, then the widths at
    batch 128 (the workload's point once)."""
    points = [(batch, LAYERS[1]) for batch in BATCHES]
    return points + [(BATCH, width) for width in WIDTHS if width != LAYERS[1]]


def run_scaling(bench: Bench, repeats: int, epochs: int) -> dict:
    """{(batch, width, contender, dtype): median record}, contenders interleaved per point."""
    results = {}
    for batch, width in scaling_points():
        layers = [LAYERS[0], width, *LAYERS[2:]]
        for pair, recs in interleaved(bench, repeats, layers, batch, epochs).items():
            results[(batch, width, *pair)] = {
                key: med(recs, key) for key in ("train", "examples_per_s", "floor")
            }
    return results


def scaling_table(results: dict, repeats: int, epochs: int) -> list[str]:
    lines = [
        f"## Scaling: batch size and first hidden width ({epochs} epoch(s) a point, "
        f"{repeats} repeat(s), medians)",
        "",
        "| batch | first hidden | dtype | dlcli train s | PyTorch train s | dlcli / PyTorch "
        "| dlcli examples/s | PyTorch examples/s | dlcli of floor | PyTorch of floor |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for batch, width in scaling_points():
        for dtype in DTYPES:
            ours, theirs = (
                results[batch, width, "dlcli", dtype],
                results[batch, width, "PyTorch", dtype],
            )
            lines.append(
                f"| {batch} | {width} | {dtype} | {ours['train']:.3f} | {theirs['train']:.3f} "
                f"| {ours['train'] / theirs['train']:.2f} | {ours['examples_per_s']:,.0f} "
                f"| {theirs['examples_per_s']:,.0f} | {ours['floor']:.0%} | {theirs['floor']:.0%} |"
            )
    return lines


def plot(results: dict, path: Path, m: int, optimizer: str = "Adam") -> None:
    """examples/s against batch size (left) and first hidden width (right), one line per
    contender and dtype."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    sweeps = ((axes[0], BATCHES, "batch size", 1), (axes[1], WIDTHS, "first hidden width", 0))
    for ax, values, label, by_batch in sweeps:
        for who in CONTENDERS:
            for dtype in DTYPES:
                keys = [(v, LAYERS[1]) if by_batch else (BATCH, v) for v in values]
                rates = [results[(*key, who, dtype)]["examples_per_s"] for key in keys]
                style = "-" if dtype == "float64" else "--"
                color = "C0" if who == "dlcli" else "C1"
                ax.plot(values, rates, style, color=color, marker="o", label=f"{who} {dtype}")
        ax.set_xscale("log", base=2)
        ax.set_xticks(values, [str(v) for v in values])
        ax.set_xlabel(label + (f" (first hidden {LAYERS[1]})" if by_batch else f" (batch {BATCH})"))
        ax.grid(True, alpha=0.3)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("training examples / s")
    axes[0].legend()
    fig.suptitle(f"[784, h, 64, 10] relu/softmax, {optimizer}, {m:,} MNIST-shaped examples")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ------------------------------------------------------------------------ the run


def machine_lines(args: argparse.Namespace, load_start: float, torch_version: str) -> list[str]:
    return [
        "## Machine",
        "",
        f"- command: `python benchmarks/minibatch.py {shlex.join(sys.argv[1:])}`",
        f"- CPU: {cpu_model()}; {os.cpu_count()} logical cores",
        f"- load average (1 min) at start {load_start:.2f}, at end {os.getloadavg()[0]:.2f}",
        f"- Python {platform.python_version()}, NumPy {np.__version__}, PyTorch {torch_version} "
        "(2 threads)",
    ]


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Mini-batches at MNIST size: dlcli train against a PyTorch CPU loop, "
        "float64 and float32; markdown tables on stdout."
    )
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats (default 3)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {QUICK_EXAMPLES} examples, 1 repeat, a smaller GEMM",
    )
    parser.add_argument("--examples", type=int, help="pictures in the file (default 60000)")
    parser.add_argument("--scaling-epochs", type=int, default=1, help="a point (default 1)")
    parser.add_argument("--scaling-repeats", type=int, default=1, help="a point (default 1)")
    parser.add_argument("--no-scaling", action="store_true", help="the workload tables only")
    parser.add_argument(
        "--optimizer",
        choices=sorted(OPTIMIZERS),
        default="adam",
        help="adam (lr 0.001, the issue's workload) or sgd (plain gradient descent, lr 0.1)",
    )
    parser.add_argument(
        "--dir", type=Path, default=Path(tempfile.gettempdir()), help="where the data file is"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(tempfile.gettempdir()) / "dlcli-minibatch",
        help="where speed.png and minibatch.md (the tables) go",
    )
    args = parser.parse_args()
    args.examples = args.examples or (QUICK_EXAMPLES if args.quick else 60000)
    args.repeats = 1 if args.quick else max(1, args.repeats)
    return args


def main() -> None:
    args = parse()
    load_start, started = os.getloadavg()[0], time.perf_counter()
    bench = Bench(args)
    try:
        records = interleaved(bench, args.repeats, LAYERS, BATCH, EPOCHS)
        out = workload_tables(records, bench, args.repeats)
        if not args.no_scaling:
            results = run_scaling(bench, args.scaling_repeats, args.scaling_epochs)
            out += ["", *scaling_table(results, args.scaling_repeats, args.scaling_epochs)]
            args.out.mkdir(parents=True, exist_ok=True)
            plot(results, args.out / "speed.png", bench.m, OPTIMIZERS[bench.optimizer][2])
            out += ["", "![examples/s against batch size and first hidden width](speed.png)"]
    finally:
        bench.close()
    torch_version = records["PyTorch", DTYPES[0]][0]["torch"]
    out = [*machine_lines(args, load_start, torch_version), "", *out]
    out += ["", f"(the whole benchmark took {time.perf_counter() - started:.0f} s)"]
    text = "\n".join(out)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "minibatch.md").write_text(text + "\n")
    log(f"wrote {args.out / 'minibatch.md'}" + ("" if args.no_scaling else " and speed.png"))
    print(text)


if __name__ == "__main__":
    main()
