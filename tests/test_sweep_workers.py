"""Sweeps survive their workers: a Dask worker killed in the middle of a trial (SIGKILL, a
real LocalCluster of processes) has its trial run again by another, into the same trial
directory, and the sweep's results are those of trials never disturbed."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import need
from test_write_faults import flower_config

from dlcli.job import run
from dlcli.sweep.spec import load_sweep

DLCLI = [sys.executable, "-m", "dlcli"]
SWEEP = """\
base: BASE
grid:
  train.learning_rate: [1.2, 0.5]
"""


def test_a_worker_killed_mid_trial_costs_nothing(tmp_path: Path) -> None:
    need("dask.distributed")
    from dask.distributed import Client, LocalCluster

    config = flower_config(tmp_path, checkpoint_every=100)
    config.write_text(config.read_text().replace("iterations: 300", "iterations: 600"))
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(SWEEP.replace("BASE", str(config)))
    out = tmp_path / "s"
    first = out / "trials" / "000"

    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        [worker_pid] = client.run(os.getpid).values()
        sweep = subprocess.Popen(
            [*DLCLI, "sweep", sweep_file, "--out", out, "--scheduler", cluster.scheduler_address],
            stdout=subprocess.DEVNULL,  # its progress
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            end = time.monotonic() + 90
            while not (first / "checkpoint.h5").is_file():  # the first trial is training
                assert sweep.poll() is None, sweep.stderr.read()
                assert time.monotonic() < end, "the first trial never wrote a checkpoint"
                time.sleep(0.005)
            os.kill(worker_pid, signal.SIGKILL)
            assert sweep.wait(timeout=120) == 0, sweep.stderr.read()
        finally:
            sweep.kill()
            sweep.wait()
        assert list(client.run(os.getpid).values()) != [worker_pid]  # a new worker did it

    # The same trials, never disturbed, run here.
    plan = load_sweep(sweep_file, tmp_path / "clean")
    rows = list(csv.DictReader((out / "results.csv").open()))
    # Each trial once: the killed worker's half-written 000 was replaced, not set beside.
    assert sorted(p.name for p in (out / "trials").iterdir()) == ["000", "001", "latest"]
    for trial, row in zip(plan.trials, rows, strict=True):
        clean = tmp_path / "clean" / str(trial.index)
        _, metrics = run(trial.config, "clean", clean)
        trial_dir = out / "trials" / f"{trial.index:03d}"
        assert (trial_dir / "params.h5").read_bytes() == (clean / "params.h5").read_bytes()
        assert (trial_dir / "costs.csv").read_bytes() == (clean / "costs.csv").read_bytes()
        assert (row["status"], float(row["final_cost"])) == ("ok", metrics["final_cost"])
        saved = json.loads((trial_dir / "metrics.json").read_text())
        assert saved["iterations"] == metrics["iterations"] == 600
        assert sorted(p.name for p in trial_dir.iterdir() if p.name.startswith(".")) == []
