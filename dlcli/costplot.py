"""cost.png: the cost log drawn with matplotlib, here or in a child process.

Importing matplotlib takes longer than the course's cat model takes to train. A ``dlcli
train`` process therefore starts a :class:`PlotProcess` first: a child that imports
matplotlib on the other core while this process loads the data and trains, then draws the
log it is sent and hands back the PNG bytes, which the run directory's writer saves like any
other file. Both ways run :func:`plot_costs`, so cost.png is the same picture to the byte.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import traceback
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import IO, Any

from dlcli.sysinfo import limit_blas_threads

#: What the child runs: :func:`child_main`, with the directory holding this package first
#: on its path, so it imports this very dlcli.
_CHILD = (
    "import sys; sys.path.insert(0, {root!r}); from dlcli.costplot import child_main; child_main()"
)


#: The byte the child writes once matplotlib is imported, before the PNG.
READY = b"r"


def plot_costs(path: Path | IO[bytes], log: list[dict[str, float]], learning_rate: float) -> None:
    """cost.png: the training cost against the iteration, and the validation cost beside
    it where there is one; the learning rate in the title (Agg, no pyplot state).

    path : a file name, or a binary file object that receives the PNG bytes
    log : rows with ``iteration``, ``cost`` and maybe ``validation_cost``
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), dpi=100)
    ax = fig.subplots()
    iterations = [row["iteration"] for row in log]
    ax.plot(iterations, [row["cost"] for row in log], marker=".", label="training")
    if log and "validation_cost" in log[0]:
        ax.plot(iterations, [row["validation_cost"] for row in log], marker=".", label="validation")
        ax.legend()
    ax.set_xlabel("iteration")
    ax.set_ylabel("cost")
    ax.set_title(f"Learning rate = {learning_rate:g}")
    ax.grid(alpha=0.3)
    # Fixed margins: tight_layout would draw the figure once more just to measure it.
    fig.subplots_adjust(left=0.15, right=0.97, bottom=0.12, top=0.92)
    fig.savefig(path, format="png")


def plot_health(path: Path | IO[bytes], records: list[dict[str, Any]]) -> None:
    """health.png: each layer's update ratio ‖ΔW‖/‖W‖ (log scale) above, and each hidden
    layer's dead (relu, leaky_relu) or saturated (tanh, sigmoid) fraction of units below,
    against the iteration (records as dlcli.training.health makes them)."""
    from matplotlib import ticker
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 6), dpi=100)
    top, bottom = fig.subplots(2, 1, sharex=True)
    iterations = [r["iteration"] for r in records]
    n_layers = len(records[0]["layers"]) if records else 0
    for l in range(n_layers):
        ratios = [r["layers"][l]["update_ratio"] for r in records]
        # 0 and None (a zero W) have no place on a log scale: gaps in the line.
        top.plot(
            iterations,
            [v if v else float("nan") for v in ratios],
            marker=".",
            label=f"layer {l + 1}",
        )
        for key, what in (("dead_fraction", "dead"), ("saturated_fraction", "saturated")):
            values = [r["layers"][l][key] for r in records]
            if any(v is not None for v in values):
                bottom.plot(iterations, values, marker=".", label=f"layer {l + 1} {what}")
    top.set_yscale("log")
    # Labels 1e-03 at the powers of ten only: the default 10^-3 labels go through mathtext
    # and minor ticks, which took a third of the drawing.
    top.yaxis.set_major_formatter(ticker.LogFormatter(labelOnlyBase=True))
    top.yaxis.set_minor_locator(ticker.NullLocator())
    top.set_ylabel("update ratio |ΔW| / |W|")
    bottom.set_ylabel("fraction of units")
    bottom.set_ylim(-0.05, 1.05)
    bottom.set_xlabel("iteration")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    top.set_title("Training health")
    fig.subplots_adjust(left=0.13, right=0.97, bottom=0.08, top=0.95, hspace=0.08)
    fig.savefig(path, format="png")


def health_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What :func:`plot_health` reads of the records (all the child is sent)."""
    keys = ("update_ratio", "dead_fraction", "saturated_fraction")
    return [
        {"iteration": r["iteration"], "layers": [{k: s[k] for k in keys} for s in r["layers"]]}
        for r in records
    ]


class PlotProcess:
    """A child process that imports matplotlib as soon as it starts and draws cost.png (and
    health.png, in a fork of itself).

    :meth:`wait_ready` waits until its import is done (called before training, which it would
    otherwise slow down: a 2-thread BLAS call waits for a core the import holds),
    :meth:`begin` sends it the log (it draws while this process measures the metrics and
    writes the first files, with BLAS kept to one thread meanwhile), :meth:`png` and
    :meth:`health_png` wait for the bytes; :meth:`close` ends a child that is not needed after
    all (an error, an interrupted run). The child ignores the terminal's Ctrl-C (its own
    session) and ends when this process does (its stdin closes).
    """

    def __init__(self) -> None:
        root = str(Path(__file__).resolve().parents[1])
        # The child multiplies no matrices: one BLAS thread, none waiting on the cores.
        one_thread = dict.fromkeys(
            ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"), "1"
        )
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD.format(root=root)],
            env=os.environ | one_thread,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self._thread: threading.Thread | None = None
        self._limit: Any = None  # threadpoolctl's limit while the child draws
        self._out: tuple[bytes, bytes] = (b"", b"")
        self._health = False  # whether begin() asked for health.png too

    def wait_ready(self) -> None:
        """Return once the child has imported matplotlib (it says so with one byte), or has
        ended (its error is reported by :meth:`png`)."""
        os.read(self._proc.stdout.fileno(), 1)

    def beside(self, one_core: bool) -> AbstractContextManager[Any]:
        """What training runs in, beside the child.

        ``one_core`` (training whose products are small, as the Gram engine's): BLAS keeps to
        one thread and training starts at once, while the child's import goes on on the
        other core. Otherwise this waits for the import first, as a 2-thread BLAS call would
        wait for the core the import holds.
        """
        if one_core:
            return limit_blas_threads(1)
        self.wait_ready()
        return nullcontext()

    def begin(
        self,
        log: list[dict[str, Any]],
        learning_rate: float,
        health: list[dict[str, Any]] | None = None,
    ) -> None:
        """Send the log to draw (and the health records, for health.png); the child answers
        in the background (a thread waits on it)."""
        rows = [
            {k: int(v) if k in ("iteration", "epoch") else float(v) for k, v in row.items()}
            for row in log
        ]
        asked = {"log": rows, "learning_rate": float(learning_rate)}
        if health:
            asked["health"] = health_rows(health)
            self._health = True
        request = json.dumps(asked).encode()

        def talk() -> None:
            self._out = self._proc.communicate(request)

        self._thread = threading.Thread(target=talk, daemon=True)
        self._thread.start()
        # While the child draws on one core, a 2-thread BLAS call here (the metrics' forward
        # passes) would wait for it: one thread until png().
        self._limit = limit_blas_threads(1)

    def png(self) -> bytes:
        """The PNG bytes of cost.png, once the child has drawn them.

        Raises
        ------
        RuntimeError
            The child failed (its error output is in the message): a bug, not a user error.
        """
        return self._answer()[0]

    def health_png(self) -> bytes | None:
        """health.png's bytes, when :meth:`begin` was sent health records (else None)."""
        return self._answer()[1]

    def _answer(self) -> tuple[bytes, bytes | None]:
        """(cost.png's bytes, health.png's or None) once the child has answered: cost.png's,
        or cost.png's length, cost.png's and health.png's."""
        if self._thread is None:
            raise RuntimeError("PlotProcess.png() called before begin()")
        self._thread.join()
        self._unlimit()
        out, err = self._out
        out = out.removeprefix(READY)  # when wait_ready was not called
        if self._proc.returncode != 0 or not out:
            what = "cost.png: the process drawing it"
            if self._health:
                what = "cost.png and health.png: the process drawing them"
            raise RuntimeError(
                f"{what} ended with code {self._proc.returncode}: "
                f"{err.decode(errors='replace').strip()}"
            )
        if not self._health:
            return out, None
        size = int.from_bytes(out[:8], "big")
        return out[8 : 8 + size], out[8 + size :]

    def close(self) -> None:
        """End the child unless it has been asked to draw."""
        if self._thread is None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.communicate()
        self._unlimit()

    def _unlimit(self) -> None:
        """End the BLAS thread limit :meth:`begin` set, if any."""
        if self._limit is not None:
            self._limit.restore_original_limits()
            self._limit = None

    def __enter__(self) -> PlotProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fork_health(records: list[dict[str, Any]]) -> tuple[int, int]:
    """Fork a process that draws health.png into a pipe: (its pid, the pipe's read end)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write_end)
        return pid, read_end
    code = 1
    try:
        os.close(read_end)
        # Not the child's stdin and stdout: only the child answers the parent.
        quiet = os.open(os.devnull, os.O_RDWR)
        os.dup2(quiet, 0)
        os.dup2(quiet, 1)
        with os.fdopen(write_end, "wb") as out:
            plot_health(out, records)
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


def child_main() -> None:
    """The child's work: import matplotlib (the slow part, done while the parent trains),
    read ``{"log": [...], "learning_rate": lr}`` from stdin, write cost.png's bytes to stdout.
    Nothing to read (the parent ended without a log) means nothing to draw."""
    from matplotlib.figure import Figure  # noqa: F401

    sys.stdout.buffer.write(READY)
    sys.stdout.buffer.flush()
    request = sys.stdin.buffer.read()
    if not request:
        return
    asked = json.loads(request)
    pid = None
    if "health" in asked:  # drawn at the same time, on the other core
        pid, read_end = _fork_health(asked["health"])
    buffer = io.BytesIO()
    try:
        plot_costs(buffer, asked["log"], asked["learning_rate"])
    except BaseException:
        if pid is not None:  # its picture is not needed: end it, and reap it
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        raise
    if pid is not None:  # cost.png behind its length, then health.png
        with os.fdopen(read_end, "rb") as health:
            health_png = health.read()
        if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0:
            sys.exit("health.png: the process drawing it failed (its error is above)")
        sys.stdout.buffer.write(len(buffer.getvalue()).to_bytes(8, "big"))
        buffer.write(health_png)
    sys.stdout.buffer.write(buffer.getvalue())
    sys.stdout.buffer.flush()
    # The parent waits for this process to end: skip the interpreter's teardown of
    # matplotlib's modules (about a tenth of a second), nothing is left to close.
    os._exit(0)
