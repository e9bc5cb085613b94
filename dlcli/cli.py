"""The command line: one short function per command over the pure core.

Errors a user can cause (:class:`DlcliError`) are printed on one line to stderr with exit
code 1; anything else is a bug and keeps its traceback. Heavy modules load inside commands
so ``dlcli --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dlcli import __version__
from dlcli.errors import DlcliError

if TYPE_CHECKING:
    from dlcli.audit import Audit
    from dlcli.config import Config
    from dlcli.model.gradcheck import BatteryCase, Coordinate, GradCheck

app = typer.Typer(
    help="Train fully connected neural networks written from scratch in NumPy, from a YAML config.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

ConfigArg = Annotated[
    Path,
    typer.Argument(help="YAML config file (see the README for every key).", show_default=False),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Override a config key, e.g. --set train.learning_rate=0.01 (repeatable; value read as YAML).",
        show_default=False,
    ),
]


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn a DlcliError into one red line on stderr and exit code 1."""
    try:
        yield
    except DlcliError as exc:
        typer.secho(f"dlcli: {exc.kind}: {exc}", err=True, fg="red")
        raise typer.Exit(1) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dlcli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """dlcli: the deep learning course's networks, from scratch in vectorized NumPy."""


class _Progress:
    """Shows training progress on stderr: a Rich bar on a terminal, plain lines elsewhere."""

    def __init__(self, total: int, log_every: int, quiet: bool) -> None:
        self.total, self.log_every, self.quiet = total, log_every, quiet
        self.bar = None
        if not quiet and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("training"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("cost {task.fields[cost]:.6f}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self.task = self.bar.add_task("train", total=total, cost=float("nan"))

    def __enter__(self) -> _Progress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, i: int, cost: float) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=i + 1, cost=cost)
        elif not self.quiet and (i % self.log_every == 0 or i == self.total - 1):
            print(
                f"iteration {i:>{len(str(self.total))}}/{self.total}  cost {cost:{'.6f' if abs(cost) < 1e6 else '.6e'}}",
                file=sys.stderr,
                flush=True,
            )


class _StopOnSignal:
    """While active, SIGINT and SIGTERM ask training to stop at the next iteration boundary
    (the core then checkpoints) instead of killing it mid-update."""

    SIGNALS = ("SIGINT", "SIGTERM")

    def __init__(self) -> None:
        self.signum: int | None = None
        self.saved: dict[int, object] = {}

    def __enter__(self) -> _StopOnSignal:
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

    def check(self) -> None:
        if self.signum is not None:
            from dlcli.train import StopTraining

            raise StopTraining()


@app.command()
def train(
    config: ConfigArg,
    set_: SetOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Run directory to write (default <output.dir>/<config name>); a taken one gets -2, -3, ...",
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue from the last checkpoint: the run in --out, or the newest run of this config.",
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace the run already in --out instead of making DIR-2."),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    json_out: Annotated[
        bool,
        typer.Option(
            "--json", help="Print only JSON on stdout: the metrics, or the audit with --dry-run."
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Only audit: every W, b, Z, A, dZ, dW, db shape, the parameter count, FLOPs and "
            "memory per iteration, and whether the data fit model.layers; trains and writes nothing.",
        ),
    ] = False,
) -> None:
    """Train the network a config describes and write a run directory.

    The run directory holds config.yaml, checkpoint.h5, params.h5, costs.csv, metrics.json and
    cost.png; <output.dir>/latest points at the newest finished run. Ctrl-C or SIGTERM saves a
    checkpoint and exits 130 / 143; --resume continues from it.
    """
    from dlcli.train import StopTraining

    with user_errors():
        from dlcli.config import load_config
        from dlcli.train import run

        cfg = load_config(config, set_ or [])
        if dry_run:
            _dry_run(cfg, json_out)
            return
        try:
            with (
                _StopOnSignal() as stop,
                _Progress(cfg.train.iterations, cfg.train.log_every, quiet) as progress,
            ):

                def callback(i: int, cost: float) -> None:
                    stop.check()
                    progress(i, cost)

                _, metrics = run(
                    cfg, name=config.stem, out=out, callback=callback, resume=resume, force=force
                )
        except StopTraining as stopped:
            again = f"dlcli train {config} --out {stopped.run_dir} --resume"
            typer.secho(
                f"dlcli: interrupted at iteration {stopped.iteration} of {cfg.train.iterations}; "
                f"checkpoint saved in {stopped.run_dir}. Resume with: {again}",
                err=True,
                fg="yellow",
            )
            raise typer.Exit(128 + (stop.signum or 2)) from None
    if json_out:
        typer.echo(json.dumps(metrics))
        return
    _print_metrics(metrics)


def _print_metrics(metrics: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for key in (
        "final_cost",
        "train_accuracy",
        "test_accuracy",
        "iterations",
        "train_seconds",
        "engine",
        "run_dir",
    ):
        if key in metrics:
            value = metrics[key]
            if key.endswith("accuracy"):
                value = f"{100 * value:.2f} %"
            elif isinstance(value, float):
                value = f"{value:.6f}" if key == "final_cost" else f"{value:.3f}"
            table.add_row(key, str(value))
    Console(soft_wrap=True).print(table)


def _dry_run(cfg: Config, json_out: bool) -> None:
    """Print the shape audit of a config; a data mismatch is shown, then raised (exit 1)."""
    from dlcli.audit import audit_config
    from dlcli.errors import ConfigError

    report = audit_config(cfg)
    if json_out:
        typer.echo(json.dumps(report.to_dict()))
    else:
        _print_audit(report)
    if report.mismatch is not None:
        raise ConfigError(report.mismatch)


def _print_audit(report: Audit) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from dlcli.audit import FLOPS_COUNTED, GRAM_COUNTED, MEMORY_COUNTED

    def shape(s: tuple[int, int]) -> str:
        return f"({s[0]}, {s[1]})"

    def scaled(n: int, base: int, units: tuple[str, ...]) -> str:
        i = 0
        while n >= base ** (i + 1) and i < len(units) - 1:
            i += 1
        return f"{n / base**i:.3g} {units[i]}"

    table = Table(title=f"Shapes for m = {report.m} examples (columns are examples)")
    for name in ("layer", "activation", "W", "b", "Z, A", "dZ", "dW", "db"):
        table.add_column(name, overflow="fold")
    table.add_row("0", "input", "", "", f"X {shape(report.X)}", "", "", "")
    for row in report.rows:
        table.add_row(
            str(row.l),
            row.activation,
            shape(row.W),
            shape(row.b),
            shape(row.Z),
            shape(row.dZ),
            shape(row.dW),
            shape(row.db),
        )

    totals = Table(show_header=False, box=None)
    totals.add_column(style="bold", no_wrap=True)
    totals.add_column()
    if report.mismatch is None:
        fit = f"X {shape(report.X)} and Y {shape(report.Y)} fit model.layers {report.layers}"
        totals.add_row("data", Text(fit, style="green"))
    else:
        totals.add_row("data", Text(f"MISMATCH: {report.mismatch}", style="bold red"))
    totals.add_row("parameters", f"{report.parameters:,}")
    flops = report.flops
    gflop = scaled(flops.total, 1000, ("FLOP", "kFLOP", "MFLOP", "GFLOP", "TFLOP", "PFLOP"))
    totals.add_row("FLOPs / iteration", f"{flops.total:,} ({gflop}) [1]")
    totals.add_row("  forward", f"{flops.forward:,}")
    totals.add_row("  backward", f"{flops.backward:,}")
    notes = [f"[1] {FLOPS_COUNTED}"]
    if report.gram_flops is not None:
        gram = report.gram_flops.total
        totals.add_row(
            "engine",
            f"gram: {gram:,} FLOPs / iteration instead, after {report.gram_setup_flops:,} once [2]",
        )
        notes.append(f"[2] {GRAM_COUNTED}")
    else:
        totals.add_row("engine", report.engine)
    memory = report.memory
    mark = f"[{len(notes) + 1}]"
    totals.add_row(
        "memory / iteration",
        f"{memory.total:,} bytes ({scaled(memory.total, 1024, ('B', 'KiB', 'MiB', 'GiB', 'TiB'))}) "
        f"in {report.dtype} {mark}",
    )
    for name in ("X", "Y", "params", "grads", "caches"):
        totals.add_row(f"  {name}", f"{getattr(memory, name):,} bytes")
    notes.append(f"{mark} {MEMORY_COUNTED}")

    console = Console(highlight=False)
    if not console.is_terminal:  # a pipe or a file: give the table its natural width
        natural = console.measure(table, options=console.options.update_width(10_000))
        console.width = max(console.width, natural.maximum)
    console.print(table)
    console.print(totals)
    for note in notes:
        console.print(Text(note, style="dim"))


@app.command()
def gradcheck(
    config: Annotated[
        Path | None,
        typer.Argument(
            help="YAML config whose network to check; without one, the built-in battery runs.",
            show_default=False,
        ),
    ] = None,
    set_: SetOpt = None,
    model: Annotated[
        Path | None,
        typer.Option(
            help="Take the parameters from a trained model (params.h5 or its run directory) "
            "instead of the config's init.",
            show_default=False,
        ),
    ] = None,
    examples: Annotated[
        int | None,
        typer.Option(
            help="Training examples drawn at random for the check, at most all (default 8).",
            show_default=False,
        ),
    ] = None,
    coords: Annotated[
        int | None,
        typer.Option(
            help="Coordinates checked per tensor, a random sample where a tensor has more; "
            "smaller tensors are checked whole (default 100).",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Seeds the draws of examples and coordinates, and the battery.")
    ] = 1,
    epsilon: Annotated[
        float,
        typer.Option(help="The step eps of (J(theta + eps) - J(theta - eps)) / (2 eps)."),
    ] = 1e-7,
    threshold: Annotated[
        float,
        typer.Option(
            help="A relative difference below it passes. With eps = 1e-7 a correct backward "
            "pass agrees to 1e-9 or better and a bug is off by 1e-3 or more (see the README).",
        ),
    ] = 1e-7,
    json_out: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print only JSON on stdout: passed, relative_difference, threshold, parameters "
            "(a list of them with a case name for the battery).",
        ),
    ] = False,
) -> None:
    """Check backpropagation against centered differences of the cost, as in the course.

    Each analytic dW, db is compared with (J(theta + eps) - J(theta - eps)) / (2 eps); a set of
    coordinates by ||grad - gradapprox|| / (||grad|| + ||gradapprox||). The report gives each
    tensor's difference and the worst coordinates; a coordinate whose perturbation crosses a
    relu kink is reported as a kink, not a failure. Exit code 0 when everything passes, 1 when
    something fails.
    """
    with user_errors():
        from dlcli.model import gradcheck as gc

        if config is None:
            given = [
                name
                for name, value in (
                    ("--set", set_),
                    ("--model", model),
                    ("--examples", examples),
                    ("--coords", coords),
                )
                if value
            ]
            if given:
                raise DlcliError(
                    f"{given[0]}: applies to a CONFIG, and none was given; "
                    "without one the built-in battery runs on its own small networks"
                )
            cases = gc.run_battery(epsilon=epsilon, threshold=threshold, seed=seed)
            passed = all(case.passed for case in cases)
            if json_out:
                typer.echo(json.dumps([case.to_dict() for case in cases]))
            else:
                _print_battery(cases)
        else:
            from dlcli.config import load_config

            cfg = load_config(config, set_ or [])
            result = gc.check_config(
                cfg,
                model=model,
                examples=gc.EXAMPLES if examples is None else examples,
                coords=gc.COORDS if coords is None else coords,
                seed=seed,
                epsilon=epsilon,
                threshold=threshold,
            )
            passed = result.passed
            if json_out:
                typer.echo(json.dumps(result.to_dict()))
            else:
                what = f"{config}" + (f" with --model {model}" if model else "")
                _print_gradcheck(result, what, cfg.model.hidden_activation)
    if not passed:
        raise typer.Exit(1)


def _print_tables(*items: object) -> None:
    """Print Rich tables and texts on stdout; a pipe or file never squeezes them."""
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:
        wide = console.options.update_width(10_000)
        console.width = max(
            console.width, *(console.measure(i, options=wide).maximum for i in items)
        )
    for item in items:
        console.print(item)


def _print_gradcheck(result: GradCheck, what: str, hidden: str) -> None:
    from rich.table import Table
    from rich.text import Text

    def verdict(passed: bool) -> Text:
        return Text("pass", style="green") if passed else Text("FAIL", style="bold red")

    def coordinate_table(title: str, rows: list[Coordinate]) -> Table:
        table = Table(title=title)
        for name in ("tensor", "index", "analytic", "numeric", "|difference|"):
            table.add_column(name, no_wrap=True, justify="left" if name == "tensor" else "right")
        for c in rows:
            index = ", ".join(str(i) for i in c.index)
            table.add_row(
                c.tensor,
                f"[{index}]",
                f"{c.analytic:.10g}",
                f"{c.numeric:.10g}",
                f"{c.difference:.2e}",
            )
        return table

    header = Text(
        f"Gradient check of {what}: layers {result.layers}, {result.hidden} / {result.output}, "
        f"{result.examples} random training examples, eps {result.epsilon:g}, "
        f"J(theta +- eps) in {result.reference}"
    )
    table = Table()
    for name in ("tensor", "shape", "checked", "kinks", "relative difference", "pass"):
        table.add_column(name, no_wrap=True, justify="left" if name == "tensor" else "right")
    for t in result.tensors:
        table.add_row(
            t.name,
            str(t.shape),
            f"{t.checked} of {t.size}",
            str(t.kinks),
            f"{t.relative_difference:.2e}" if t.checked else "-",
            verdict(t.passed),
        )
    table.add_section()
    kinks = sum(t.kinks for t in result.tensors)
    table.add_row(
        "overall",
        "",
        str(result.checked),
        str(kinks),
        f"{result.relative_difference:.2e}",
        verdict(result.passed),
    )
    items: list[object] = [header, table]
    if result.worst:
        items.append(
            coordinate_table("Worst coordinates (largest |analytic - numeric|)", result.worst)
        )
    if result.kinks:
        shown = result.kinks[:5]
        more = f", first {len(shown)} shown" if len(result.kinks) > len(shown) else ""
        items.append(
            coordinate_table(
                f"Kinks: {len(result.kinks)} coordinates move a {hidden} pre-activation across 0 "
                f"(left out, not failures{more})",
                shown,
            )
        )
    if result.passed:
        items.append(
            Text(
                f"PASS: relative difference {result.relative_difference:.2e} < threshold "
                f"{result.threshold:g}",
                style="bold green",
            )
        )
    else:
        wrong = ", ".join(result.failing) or "the tensors together"
        items.append(
            Text(
                f"FAIL: backward disagrees with the cost in {wrong} (relative difference "
                f"{result.relative_difference:.2e}, threshold {result.threshold:g})",
                style="bold red",
            )
        )
    _print_tables(*items)


def _print_battery(cases: list[BatteryCase]) -> None:
    from rich.table import Table
    from rich.text import Text

    first = cases[0].result
    header = Text(
        f"Gradient check battery: float64 networks, {first.examples} random examples each, "
        f"eps {first.epsilon:g}, J(theta +- eps) in {first.reference}"
    )
    table = Table()
    for name in ("case", "layers", "relative difference", "worst tensor", "pass"):
        table.add_column(name, no_wrap=True)
    for case in cases:
        worst = max(case.result.tensors, key=lambda t: t.relative_difference)
        table.add_row(
            case.name,
            str(case.layers),
            f"{case.result.relative_difference:.2e}",
            f"{worst.name} {worst.relative_difference:.2e}",
            Text("pass", style="green") if case.passed else Text("FAIL", style="bold red"),
        )
    failed = [case.name for case in cases if not case.passed]
    threshold = f"threshold {first.threshold:g}"
    if failed:
        summary = Text(
            f"FAIL: {len(failed)} of {len(cases)} cases ({threshold}): {', '.join(failed)}",
            style="bold red",
        )
    else:
        summary = Text(f"PASS: all {len(cases)} cases ({threshold})", style="bold green")
    _print_tables(header, table, summary)


def main() -> None:
    app()
