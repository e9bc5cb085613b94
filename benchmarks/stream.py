"""Data larger than memory (issue 8): one epoch streamed from a >= 4 GB file against the
in-memory path on a smaller file, peak RSS and examples per second; a markdown table.

    python benchmarks/stream.py [--dir DIR] [--examples 330000] [--memory-examples 20000]
                                [--batch-size 1024] [--layers 12288,20,1] [--keep]

1. ``dlcli data synth`` writes the large file (``--examples`` 64x64x3 pictures; 330,000 is
   4.06 GB) and the small one (``--memory-examples``) into ``--dir`` (default: the temporary
   folder), after checking there is room. Both are deleted at the end unless ``--keep``.
2. Each case trains one epoch (``train.epochs: 1``, ``train.batch_size``, Adam, the layers
   given) in a fresh child process through ``dlcli.job.run``, the path ``dlcli train``
   takes. The child reports its peak RSS (``getrusage(RUSAGE_SELF).ru_maxrss``, what
   ``RUSAGE_CHILDREN`` gives the parent for it) and the run's metrics. Cases:
   - in memory, small file (``train.shuffle: blocks``, so the same batches as streaming);
   - streamed, small file (the same run from disk: the cost of reading per batch);
   - streamed, large file (the target: peak RSS under 1 GB).

examples/s is m / ``train_seconds`` (the epoch and the final cost and accuracy passes over
the training set); "wall" is the child's whole life: imports, the load (or, streaming, the
data digest pass over the file), training and writing the run. The large file has just been
written, so much of it may be in the page cache; RSS does not count the page cache (h5py
reads with read(), no mapping).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, resource, sys, time
from pathlib import Path
from dlcli.config import load_config
from dlcli.job import run
cfg_path, overrides = Path(sys.argv[1]), sys.argv[2:]
start = time.perf_counter()
_, metrics = run(load_config(cfg_path, overrides), "bench", force=True)
metrics["wall"] = time.perf_counter() - start
metrics["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps(metrics))
"""


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{len(os.sched_getaffinity(0))} CPUs (nproc), {model}, Python {platform.python_version()}"
    )


def synth(path: Path, examples: int) -> float:
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "dlcli",
            "data",
            "synth",
            "--out",
            str(path),
            "--examples",
            str(examples),
            "--force",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def train_case(work: Path, data: Path, layers: str, batch: int, stream: bool) -> dict:
    cfg = work / "bench.yaml"
    cfg.write_text(
        f"data:\n  train: {data}\n  stream: {str(stream).lower()}\n"
        f"model:\n  layers: [{layers}]\n"
        "init:\n  scale: he\n"
        f"train:\n  optimizer: adam\n  learning_rate: 0.001\n  epochs: 1\n  batch_size: {batch}\n"
        "  shuffle: blocks\n  log_every: 50\n  checkpoint_every: 0\n"
        f"output:\n  dir: {work / 'runs'}\n"
    )
    done = subprocess.run([sys.executable, "-c", CHILD, str(cfg)], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"benchmarks/stream.py: the child failed:\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--examples", type=int, default=330_000)
    parser.add_argument("--memory-examples", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--layers", default="12288,20,1")
    parser.add_argument("--keep", action="store_true", help="Keep the data files.")
    args = parser.parse_args()

    per = 64 * 64 * 3
    need = (args.examples + args.memory_examples) * per
    free = shutil.disk_usage(args.dir).free
    if need * 1.1 > free:
        sys.exit(
            f"benchmarks/stream.py: {args.dir} has {free / 2**30:.1f} GiB free, the files need "
            f"{need / 2**30:.1f} GiB; give --dir elsewhere or fewer --examples"
        )
    work = Path(tempfile.mkdtemp(prefix="dlcli-stream-", dir=args.dir))
    big, small = work / "big.h5", work / "small.h5"
    try:
        print(f"writing {big} ({args.examples * per / 1e9:.2f} GB)", file=sys.stderr)
        big_write = synth(big, args.examples)
        synth(small, args.memory_examples)
        rows = []
        for label, path, stream in (
            ("in memory", small, False),
            ("streamed", small, True),
            ("streamed", big, True),
        ):
            print(f"training: {label}, {path.name}", file=sys.stderr)
            found = train_case(work, path, args.layers, args.batch_size, stream)
            m = found["train_examples"]
            rows.append(
                (
                    label,
                    f"{m:,} ({path.stat().st_size / 1e9:.2f} GB)",
                    found["peak_rss"] / 2**20,
                    m / found["train_seconds"],
                    found["train_seconds"],
                    found["wall"],
                    found["final_cost"],
                    found["train_accuracy"],
                )
            )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"machine: {machine()}")
    print(
        f"one epoch, layers [{args.layers}], batch_size {args.batch_size}, Adam, float64; "
        f"the {args.examples * per / 1e9:.2f} GB file written in {big_write:.0f} s\n"
    )
    print(
        "| path | examples (file) | peak RSS (MiB) | examples/s | train s | wall s | final cost | train accuracy |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for label, size, rss, rate, seconds, wall, cost, acc in rows:
        print(
            f"| {label} | {size} | {rss:,.0f} | {rate:,.0f} | {seconds:.1f} | {wall:.1f} | "
            f"{cost:.4f} | {100 * acc:.1f} % |"
        )
    peak = rows[-1][2]
    verdict = "met" if peak < 1024 else "NOT met"
    print(
        f"\ntarget peak RSS under 1 GiB when streaming {rows[-1][1]}: {verdict} ({peak:,.0f} MiB)"
    )


if __name__ == "__main__":
    main()
