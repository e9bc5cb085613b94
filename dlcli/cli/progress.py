"""Progress on stderr for long commands, and the signal stopper of dlcli train.

Every progress here is a :class:`Bar`: a Rich bar on a terminal, and elsewhere (a pipe, a
file, a CI log) either plain lines or nothing, so logs stay readable.
"""

from __future__ import annotations

import sys


class Bar:
    """A Rich progress bar on stderr (label, bar, done/total, then the subclass's columns),
    shown from the start of the ``with`` block on a terminal unless quiet, until its end."""

    def __init__(self, label: str, total: int | None, quiet: bool, **fields: object) -> None:
        self.label, self.total, self.quiet, self.fields = label, total, quiet, fields
        self.bar, self.task = None, None

    def __enter__(self) -> Bar:
        if not self.quiet and sys.stderr.isatty():
            self.show(self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def columns(self) -> list:
        """The columns after label, bar and done/total."""
        return []

    def show(self, total: int | None) -> None:
        """Start the bar, with the task's fields the columns read."""
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.bar = Progress(
            TextColumn(self.label),
            BarColumn(),
            MofNCompleteColumn(),
            *self.columns(),
            console=Console(stderr=True),
        )
        self.task = self.bar.add_task(self.label, total=total, **self.fields)
        self.bar.start()

    def update(self, completed: int, **fields: object) -> None:
        self.bar.update(self.task, completed=completed, **fields)


class Counter(Bar):
    """A bar while many files are read or written, on a terminal only (none under 20 files)."""

    def __init__(self, label: str) -> None:
        super().__init__(label, None, quiet=False)

    def __enter__(self) -> Counter:
        return self  # the bar shows at the first call, once the file count is known

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            if total < 20 or not sys.stderr.isatty():
                return
            self.show(total)
        self.update(done)


class TrainProgress(Bar):
    """Shows training progress on stderr: a Rich bar on a terminal, plain lines elsewhere."""

    def __init__(self, total: int, log_every: int, quiet: bool) -> None:
        super().__init__("training", total, quiet, cost=float("nan"))
        self.log_every = log_every

    def columns(self) -> list:
        from rich.progress import TextColumn, TimeElapsedColumn, TimeRemainingColumn

        return [
            TextColumn("cost {task.fields[cost]:.6f}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        ]

    def start(self, total: int) -> None:
        """The iteration count, once the data are loaded (``train.epochs`` depends on m)."""
        self.total = total
        if self.bar is not None:
            self.bar.update(self.task, total=total)

    def __call__(self, i: int, cost: float) -> None:
        if self.bar is not None:
            self.update(i + 1, cost=cost)
        elif not self.quiet and (i % self.log_every == 0 or i == self.total - 1):
            print(
                f"iteration {i:>{len(str(self.total))}}/{self.total}  cost {cost:{'.6f' if abs(cost) < 1e6 else '.6e'}}",
                file=sys.stderr,
                flush=True,
            )


class SweepProgress(Bar):
    """Finished trials on stderr: a Rich bar on a terminal, one plain line per trial elsewhere."""

    def __init__(self, total: int, metric: str, quiet: bool) -> None:
        super().__init__("trials", total, quiet)
        self.metric = metric

    def columns(self) -> list:
        from rich.progress import TimeElapsedColumn

        return [TimeElapsedColumn()]

    def __call__(self, result: dict, done: int, total: int) -> None:
        if self.bar is not None:
            self.update(done)
        elif not self.quiet:
            value = result["row"].get(self.metric, "")
            shown = f"{self.metric} {float(value):.6g}" if value else result["error"]
            values = "  ".join(f"{k}={v}" for k, v in result["values"].items())
            print(
                f"{done}/{total} done  trial {result['index']}  {values}  {result['status']}  {shown}",
                file=sys.stderr,
                flush=True,
            )


class StopOnSignal:
    """While active, SIGINT and SIGTERM ask training to stop at the next iteration boundary
    (the core then checkpoints) instead of killing it mid-update."""

    SIGNALS = ("SIGINT", "SIGTERM")

    def __init__(self) -> None:
        self.signum: int | None = None
        self.saved: dict[int, object] = {}

    def __enter__(self) -> StopOnSignal:
        import signal

        for name in self.SIGNALS:
            signum = getattr(signal, name)
            self.saved[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        import signal

        for signum, handler in self.saved.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: object) -> None:
        self.signum = signum

    @property
    def requested(self) -> bool:
        """A signal came: the caller stops at its next iteration boundary."""
        return self.signum is not None
