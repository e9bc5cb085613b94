"""Where trials run: local processes (``spawn``, each limited to ``max(1, cores // workers)``
BLAS threads so the workers do not oversubscribe the cores) or a Dask distributed cluster.
Both call the same top-level :func:`dlcli.sweep.run.run_trial` and yield its results as
trials finish.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from dlcli.errors import DlcliError, WriteError
from dlcli.sweep.results import TrialResult
from dlcli.sweep.run import Executor, Job, run_trial

BLAS_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def blas_threads_per_worker(workers: int) -> int:
    """BLAS threads each of ``workers`` local processes may use: max(1, cores // workers)."""
    return max(1, (os.cpu_count() or 1) // workers)


@contextlib.contextmanager
def _blas_environment(threads: int) -> Iterator[None]:
    """Set the BLAS thread variables while the pool starts its processes (a spawned process
    reads them before it imports NumPy), then put the old values back."""
    saved = {k: os.environ.get(k) for k in BLAS_VARIABLES}
    os.environ.update({k: str(threads) for k in BLAS_VARIABLES})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def local_executor(workers: int) -> Executor:
    """Run trials in ``workers`` spawned processes; yields results as trials finish."""

    def execute(jobs: list[Job]) -> Iterator[TrialResult]:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        threads = blas_threads_per_worker(workers)
        with _blas_environment(threads):
            pool = ProcessPoolExecutor(
                max_workers=min(workers, len(jobs)) or 1,
                mp_context=multiprocessing.get_context("spawn"),
            )
            try:
                futures = {pool.submit(run_trial, *job, threads): job for job in jobs}
                for future in as_completed(futures):
                    yield _result_of(future, futures[future][0])
            except BaseException:
                # Ctrl-C: stop now rather than after the trials already queued; a trial cut
                # short is run again by --resume. (The pool keeps its processes in _processes.)
                for process in list((getattr(pool, "_processes", None) or {}).values()):
                    process.terminate()
                raise
            finally:
                pool.shutdown(wait=True, cancel_futures=True)

    return execute


def dask_executor(address: str) -> Executor:
    """Run trials on the Dask distributed cluster whose scheduler is at ``address``."""
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise DlcliError(
            f'--scheduler {address}: needs Dask distributed, which is not installed: pip install "dlcli[dask]"'
        ) from None

    # Connected now, before the sweep directory is made: a wrong address writes nothing.
    try:
        client = Client(address, timeout=10)
    except (OSError, TimeoutError, ValueError) as exc:
        raise DlcliError(
            f"--scheduler {address}: cannot connect to a Dask scheduler ({exc})"
        ) from None

    def execute(jobs: list[Job]) -> Iterator[TrialResult]:
        try:
            futures = {client.submit(run_trial, *job, None, pure=False): job for job in jobs}
            for future in as_completed(futures):
                yield _result_of(future, futures[future][0])
        finally:
            client.close()

    return execute


def _result_of(future: Any, index: int) -> TrialResult:
    """A finished future's result; a trial whose process died is recorded as failed (a
    WriteError is raised: it stops the sweep)."""
    try:
        return future.result()
    except WriteError:
        raise
    except Exception as exc:
        return TrialResult(index).failed(exc)
