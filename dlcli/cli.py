"""The command line: one short function per command over the pure core.

Errors a user can cause (:class:`DlcliError`) are printed on one line to stderr with exit
code 1; anything else is a bug and keeps its traceback. Heavy modules load inside commands
so ``dlcli --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from dlcli import __version__
from dlcli.errors import DlcliError
from dlcli.jsonout import strict_json

if TYPE_CHECKING:
    from dlcli.audit import Audit
    from dlcli.config import Config
    from dlcli.model.gradcheck import BatteryCase, Coordinate, GradCheck
    from dlcli.predict import Model

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

    def start(self, total: int) -> None:
        """The iteration count, once the data are loaded (``train.epochs`` depends on m)."""
        self.total = total
        if self.bar is not None:
            self.bar.update(self.task, total=total)

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
                    cfg,
                    name=config.stem,
                    out=out,
                    callback=callback,
                    resume=resume,
                    force=force,
                    on_start=progress.start,
                )
        except StopTraining as stopped:
            again = f"dlcli train {config} --out {stopped.run_dir} --resume"
            typer.secho(
                f"dlcli: interrupted at iteration {stopped.iteration} of {stopped.total}; "
                f"checkpoint saved in {stopped.run_dir}. Resume with: {again}",
                err=True,
                fg="yellow",
            )
            raise typer.Exit(128 + (stop.signum or 2)) from None
    if json_out:
        typer.echo(strict_json(metrics))
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

    from dlcli.audit import FLOPS_COUNTED, GRAM_COUNTED

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
    batch = "" if report.stream_batch is None else f", streamed batch of {report.memory_m}"
    totals.add_row(
        "memory / iteration",
        f"{memory.total:,} bytes ({scaled(memory.total, 1024, ('B', 'KiB', 'MiB', 'GiB', 'TiB'))}) "
        f"in {report.dtype}{batch} {mark}",
    )
    for name in ("X", "Y", "params", "grads", "caches", "gram"):
        if name != "gram" or memory.gram:
            totals.add_row(f"  {name}", f"{getattr(memory, name):,} bytes")
    notes.append(f"{mark} {report.memory_counted}")

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
                typer.echo(strict_json([case.to_dict() for case in cases]))
            else:
                _print_battery(cases)
        else:
            from dlcli import checks
            from dlcli.config import load_config

            cfg = load_config(config, set_ or [])
            result = checks.check_config(
                cfg,
                model=model,
                examples=checks.EXAMPLES if examples is None else examples,
                coords=checks.COORDS if coords is None else coords,
                seed=seed,
                epsilon=epsilon,
                threshold=threshold,
            )
            passed = result.passed
            if json_out:
                typer.echo(strict_json(result.to_dict()))
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
    elif not math.isfinite(result.relative_difference):
        # Not a disagreement: inf or NaN in a gradient or the cost (overflow), nothing to compare.
        nan = [t.name for t in result.tensors if not math.isfinite(t.relative_difference)]
        wrong = ", ".join(nan) or "the cost"
        items.append(
            Text(
                f"FAIL: the gradients of {wrong} are not finite numbers (the forward or backward "
                "pass overflowed), so nothing could be compared; check the model's weights and "
                "the data's scale",
                style="bold red",
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


# ---------------------------------------------------------------- predict, evaluate, data

ModelOpt = Annotated[
    Path | None,
    typer.Option(
        "--model",
        help="A run directory (or its params.h5, or a folder with a 'latest' link); default: "
        "runs/latest, the newest run of dlcli train here.",
        show_default=False,
    ),
]
ThresholdOpt = Annotated[
    float | None,
    typer.Option(
        help="Predict the model's second class (e.g. cat) when its probability is above this "
        "(default 0.5). Sigmoid models only: a softmax model predicts its most probable class.",
        show_default=False,
    ),
]
FitOpt = Annotated[
    Literal["stretch", "crop"],
    typer.Option(
        help="How a picture meets the target size: stretch (resize, as the course) or crop "
        "(centre-crop to the target's aspect ratio first). Bicubic filter either way.",
    ),
]


class _Counter:
    """A Rich progress bar on stderr while many files are read, on a terminal only."""

    def __init__(self, label: str) -> None:
        self.label, self.bar, self.task = label, None, None

    def __enter__(self) -> _Counter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            if total < 20 or not sys.stderr.isatty():
                return
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self.bar = Progress(
                TextColumn(self.label),
                BarColumn(),
                MofNCompleteColumn(),
                console=Console(stderr=True),
            )
            self.task = self.bar.add_task(self.label, total=total)
            self.bar.start()
        self.bar.update(self.task, completed=done)


@app.command()
def predict(
    pictures: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Pictures, or directories searched recursively for them.",
            metavar="IMAGE_OR_DIR",
            show_default=False,
        ),
    ] = None,
    model: ModelOpt = None,
    csv: Annotated[
        Path | None,
        typer.Option(
            "--csv",
            help="Predict the rows of this CSV table with a table model instead of pictures: "
            "its feature columns are taken by name (other columns kept, the target may be "
            "absent); writes the rows plus a predicted_<target> column.",
            metavar="FILE.csv",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="With --csv: write the predictions to this CSV file instead of stdout.",
            metavar="FILE.csv",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="With --out: replace a file that exists.")
    ] = False,
    threshold: ThresholdOpt = None,
    fit: FitOpt = "stretch",
    json_out: Annotated[
        bool,
        typer.Option(
            "--json",
            help='Print only JSON on stdout: a list of {"path", "label", "probability", "error"} '
            '({"path", "value", "error"} for a linear-output model); with --csv an object with '
            '"column" and "predictions".',
        ),
    ] = False,
) -> None:
    """Classify pictures: one row per picture with its label and that label's probability;
    or, with --csv, predict the rows of a table.

    Reads PNG, JPEG, GIF (first frame), BMP, TIFF (first page), WebP and PPM/PGM of any size and
    mode (grey, palette, RGBA composited on white, CMYK, 16-bit), upright by their EXIF
    orientation, resized to the model's input with a bicubic filter, flattened and divided by
    255 as in training. A softmax model gives its most probable class and that probability.
    Only the model file is read; no config or data set is needed. A file that cannot be read
    gets a row with its error, the others are still predicted, and the exit code is 1.

    A table model (trained on a CSV or data.generate housing) predicts --csv rows: features
    standardized with the mean and std stored in the model, the prediction in the target's
    units, written at full precision.
    """
    with user_errors():
        from dlcli.predict import load_model, predict_pictures

        if csv is not None and pictures:
            raise DlcliError("--csv: give pictures or --csv FILE.csv, not both")
        if csv is None and not pictures:
            raise DlcliError(
                "nothing to predict: give pictures (IMAGE_OR_DIR ...) or, for a table model, "
                "--csv FILE.csv"
            )
        if csv is None and out is not None:
            raise DlcliError(
                "--out: goes with --csv (a table's predictions); picture predictions print on stdout"
            )
        loaded = load_model(model)
        threshold = _threshold(threshold, loaded)
        if csv is not None:
            _predict_csv(loaded, csv, out, force, json_out)
            return
        with _Counter("reading pictures") as counter:
            rows = predict_pictures(
                loaded, pictures, threshold=threshold, fit=fit, progress=counter
            )
    failed = sum(row.error is not None for row in rows)
    if json_out:
        typer.echo(strict_json([row.to_dict() for row in rows]))
    else:
        _print_predictions(rows, loaded.output, failed)
    if failed:
        typer.secho(
            f"dlcli: {failed} of {len(rows)} could not be read as pictures", err=True, fg="red"
        )
        raise typer.Exit(1)


def _threshold(threshold: float | None, model: Model) -> float:
    """--threshold as given (checked), or 0.5; refused for a model without a sigmoid output."""
    from dlcli.predict import check_threshold

    if threshold is None:
        return 0.5
    check_threshold(threshold)
    output = model.output
    if output != "sigmoid":
        what = "its most probable class" if output == "softmax" else "values"
        raise DlcliError(
            f"--threshold: the model {model.path} has a {output} output and predicts {what}; "
            "a threshold applies to a sigmoid output only"
        )
    return threshold


def _predict_csv(model: Model, csv: Path, out: Path | None, force: bool, json_out: bool) -> None:
    """dlcli predict --csv: the rows plus a prediction column to --out or stdout."""
    import io

    from dlcli.predict import predict_table

    if out is not None:
        from dlcli.datasets import check_writable

        check_writable([out], force, suffix=".csv")
    predicted = predict_table(model, csv)
    text = io.StringIO()
    predicted.write(text)
    if out is not None:
        from dlcli.fileio import atomic_write

        atomic_write(out, lambda tmp: tmp.write_text(text.getvalue(), encoding="utf-8"))
    if json_out:
        report = {
            "model": str(model.path),
            "csv": str(csv),
            "out": None if out is None else str(out),
            "column": predicted.column,
            "rows": len(predicted.rows),
            "predictions": [float(v) for v in predicted.values],
        }
        typer.echo(strict_json(report))
    elif out is None:
        typer.echo(text.getvalue(), nl=False)
    else:
        typer.echo(
            f"wrote {out}: {_count(len(predicted.rows), 'row')}, the columns of {csv} "
            f"and {predicted.column}"
        )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _print_predictions(rows: list, output: str, failed: int) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table()
    table.add_column("path", overflow="fold")
    if output == "linear":
        table.add_column("value", justify="right")
    else:
        table.add_column("label")
        table.add_column("probability", justify="right")
    if failed:
        table.add_column("error", overflow="fold")
    for row in rows:
        if row.error is not None:
            blank = [] if output == "linear" else [""]
            error = [Text("error", style="bold red"), *blank, Text(row.error, style="red")]
            table.add_row(row.path, *error)
        elif output == "linear":
            table.add_row(row.path, f"{row.value:.6g}", *([""] if failed else []))
        else:
            table.add_row(row.path, row.label, f"{row.probability:.4f}", *([""] if failed else []))
    _print_tables(table)


@app.command()
def evaluate(
    data: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Course-layout HDF5 files (CSV tables for a table model), evaluated together "
            "as one set; default: the model's own test set, data.test of the config stored "
            "with it, or its data.test_fraction split made again from that config.",
            metavar="DATA",
            show_default=False,
        ),
    ] = None,
    model: ModelOpt = None,
    threshold: ThresholdOpt = None,
    mislabeled: Annotated[
        Path | None,
        typer.Option(
            help="Write the course's 'mislabeled images' grid to this PNG: each wrongly "
            "classified picture with its predicted label and probability and its true label.",
            metavar="FILE.png",
            show_default=False,
        ),
    ] = None,
    json_out: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print only JSON on stdout: an object with accuracy, precision, recall, f1, "
            "confusion_matrix, log_loss, examples (softmax: accuracy, macro_precision, "
            "macro_recall, macro_f1, per_class, a K x K confusion_matrix, log_loss, examples; "
            "linear: mse, mae, r2, examples).",
        ),
    ] = False,
) -> None:
    """Measure a trained model on a data set (by default its own test set).

    Shows accuracy, precision, recall and F1 of the second class (e.g. cat), the confusion
    matrix, log-loss and the example count. A softmax model over K classes: accuracy,
    precision, recall and F1 of every class and their macro averages (unweighted means over
    the classes), the K x K confusion matrix (rows true, columns predicted) and the
    categorical cross-entropy. A linear-output model: mean squared error, mean absolute error
    and R^2, in the target's own units for a table model.

    Without DATA the model's own test set is used: data.test of the config stored in its
    params.h5, or, for data.test_fraction (e.g. a generated set), the same seeded split made
    again from that config.
    """
    with user_errors():
        from dlcli.predict import evaluate_default, evaluate_files, load_model, mislabeled_grid

        loaded = load_model(model)
        threshold = _threshold(threshold, loaded)
        if data:
            evaluation = evaluate_files(loaded, data, threshold=threshold)
        else:
            evaluation = evaluate_default(loaded, threshold=threshold)
        if mislabeled is not None:
            mislabeled_grid(evaluation, loaded, mislabeled, threshold)
    metrics = evaluation.metrics
    if json_out:
        typer.echo(strict_json(metrics))
        return
    _print_evaluation(metrics, mislabeled)


def _print_evaluation(metrics: dict, mislabeled: Path | None) -> None:
    from rich.table import Table
    from rich.text import Text

    header = Text(f"{metrics['model']} on {', '.join(metrics['data'])}")
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(justify="right")
    items: list[object] = [header, table]
    if "macro_f1" in metrics:
        rows, tables = _softmax_evaluation(metrics)
        for row in rows:
            table.add_row(*row)
        items += tables
        if mislabeled is not None:
            right = sum(row[k] for k, row in enumerate(metrics["confusion_matrix"]))
            wrong = metrics["examples"] - right
            items.append(Text(f"{wrong} mislabeled pictures drawn in {mislabeled}"))
    elif "accuracy" in metrics:
        (tn, fp), (fn, tp) = metrics["confusion_matrix"]
        negative, positive = metrics["classes"]
        table.add_row("examples", str(metrics["examples"]))
        table.add_row(
            "accuracy", f"{100 * metrics['accuracy']:.2f} % ({tp + tn}/{metrics['examples']})"
        )
        table.add_row(f"precision ({positive})", f"{metrics['precision']:.4f}")
        table.add_row(f"recall ({positive})", f"{metrics['recall']:.4f}")
        table.add_row(f"f1 ({positive})", f"{metrics['f1']:.4f}")
        table.add_row("log_loss", f"{metrics['log_loss']:.6f}")
        table.add_row("threshold", f"{metrics['threshold']:g}")
        items.append(Text("confusion matrix (rows: true class, columns: predicted class)"))
        confusion = Table()
        confusion.add_column("")
        confusion.add_column(f"predicted {negative}", justify="right")
        confusion.add_column(f"predicted {positive}", justify="right")
        confusion.add_row(f"true {negative}", str(tn), str(fp))
        confusion.add_row(f"true {positive}", str(fn), str(tp))
        items.append(confusion)
        if mislabeled is not None:
            items.append(Text(f"{fp + fn} mislabeled pictures drawn in {mislabeled}"))
    else:
        table.add_row("examples", str(metrics["examples"]))
        if "target" in metrics:
            table.add_row("target", f"{metrics['target']} (mse, mae in its units)")
        table.add_row("mse", f"{metrics['mse']:.6g}")
        table.add_row("mae", f"{metrics['mae']:.6g}")
        table.add_row("r2", f"{metrics['r2']:.6f}")
    _print_tables(*items)


def _softmax_evaluation(metrics: dict) -> tuple[list[tuple[str, str]], list[object]]:
    """A softmax model's evaluation: the summary rows, then the per-class and confusion tables."""
    from rich.table import Table
    from rich.text import Text

    classes, cm, m = metrics["classes"], metrics["confusion_matrix"], metrics["examples"]
    right = sum(row[k] for k, row in enumerate(cm))
    rows = [
        ("examples", str(m)),
        ("classes", str(len(classes))),
        ("accuracy", f"{100 * metrics['accuracy']:.2f} % ({right}/{m})"),
        ("macro precision", f"{metrics['macro_precision']:.4f}"),
        ("macro recall", f"{metrics['macro_recall']:.4f}"),
        ("macro f1", f"{metrics['macro_f1']:.4f}"),
        ("log_loss", f"{metrics['log_loss']:.6f}"),
    ]
    per_class = Table()
    for name in ("class", "precision", "recall", "f1", "support"):
        per_class.add_column(name, justify="left" if name == "class" else "right")
    for c in metrics["per_class"]:
        per_class.add_row(
            c["class"], f"{c['precision']:.4f}", f"{c['recall']:.4f}", f"{c['f1']:.4f}",
            str(c["support"]),
        )  # fmt: skip
    title = Text("confusion matrix (rows: true class, columns: predicted class)")
    confusion = Table()
    confusion.add_column("")
    for name in classes:
        confusion.add_column(f"predicted {name}", justify="right")
    for name, row in zip(classes, cm, strict=True):
        confusion.add_row(f"true {name}", *(str(n) for n in row))
    return rows, [per_class, title, confusion]


data_app = typer.Typer(
    help="Make and inspect data sets in the course's HDF5 layout (and the housing CSV table).",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(data_app, name="data")

ForceOpt = Annotated[bool, typer.Option("--force", help="Replace output files that exist.")]


@data_app.command("images")
def data_images(
    directory: Annotated[
        Path,
        typer.Argument(
            help="A folder with one subfolder of pictures per class, e.g. cat/ and non-cat/.",
            metavar="DIR",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            help="NAME.h5: writes train_NAME.h5 and test_NAME.h5 beside it, as the course's files.",
            metavar="FILE.h5",
            show_default=False,
        ),
    ],
    size: Annotated[int, typer.Option(help="Pictures become size x size x 3 pixels.")] = 64,
    test_fraction: Annotated[
        float,
        typer.Option(help="Share of each class put in the test file; 0 writes no test file."),
    ] = 0.2,
    seed: Annotated[int, typer.Option(help="Seeds the train/test split and the shuffle.")] = 1,
    classes: Annotated[
        str | None,
        typer.Option(
            help="NEG,POS: the subfolders for labels 0 and 1. Default: the two subfolders, a "
            "non-X beside X as label 0 (as the course's non-cat, cat), else alphabetical.",
            metavar="NEG,POS",
            show_default=False,
        ),
    ] = None,
    fit: FitOpt = "stretch",
    force: ForceOpt = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print only JSON on stdout: files, counts, skipped.")
    ] = False,
) -> None:
    """Turn a folder of your own pictures into course-layout train and test HDF5 files.

    dlcli train then learns from them with no code. Every picture under each class subfolder (recursively) is read as predict reads it and
    resized to --size; each class is split into train and test by --test-fraction (stratified,
    seeded). A picture that cannot be read is skipped and listed on stderr.
    """
    with user_errors():
        from dlcli.datasets import (
            build_from_folders,
            check_writable,
            output_paths,
            write_folder_dataset,
        )

        train_path, test_path = output_paths(out, test_fraction > 0)
        check_writable([p for p in (train_path, test_path) if p is not None], force)
        with _Counter("reading pictures") as counter:
            built = build_from_folders(
                directory,
                size=size,
                test_fraction=test_fraction,
                seed=seed,
                fit=fit,
                classes=None if classes is None else [c.strip() for c in classes.split(",")],
                progress=counter,
            )
        attrs = {"source": str(directory), "size": size, "fit": fit, "seed": seed}
        attrs["test_fraction"] = test_fraction
        written = write_folder_dataset(built, out, attrs)
    for path, reason in built.skipped:
        typer.secho(f"dlcli: skipped {path}: {reason}", err=True, fg="yellow")
    splits = [("train", built.train), ("test", built.test)]
    report = {
        "files": [str(p) for p in written],
        "classes": list(built.classes),
        "counts": {
            name: [int((split.y == 0).sum()), int((split.y == 1).sum())]
            for name, split in splits
            if split is not None
        },
        "example_shape": [size, size, 3],
        "skipped": [{"path": p, "error": r} for p, r in built.skipped],
    }
    if json_out:
        typer.echo(json.dumps(report))
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{directory}: {size}x{size}x3 uint8 pictures")
    table.add_column("file")
    for label, name in enumerate(built.classes):
        table.add_column(f"{name} ({label})", justify="right")
    table.add_column("total", justify="right")
    for name, path in zip(report["counts"], written, strict=True):
        n0, n1 = report["counts"][name]
        table.add_row(str(path), str(n0), str(n1), str(n0 + n1))
    test = f" --set data.test={written[1]}" if len(written) > 1 else ""
    layers = f" --set model.layers=[{size * size * 3},7,1]" if size != 64 else ""
    hint = Text(
        f"Train on them: dlcli train configs/cat_2layer.yaml --set data.train={written[0]}{test}{layers}"
    )
    items: list[object] = [table, hint]
    if built.skipped:
        items.insert(
            1,
            Text(
                f"{_count(len(built.skipped), 'picture')} skipped (listed on stderr)",
                style="yellow",
            ),
        )
    _print_tables(*items)


@data_app.command("info")
def data_info(
    file: Annotated[
        Path,
        typer.Argument(help="A course-layout HDF5 file.", metavar="FILE.h5", show_default=False),
    ],
    grid: Annotated[
        Path | None,
        typer.Option(
            help="Write a PNG grid of the first --count pictures with their labels (a scatter "
            "plot for two features).",
            metavar="FILE.png",
            show_default=False,
        ),
    ] = None,
    count: Annotated[int, typer.Option(help="Pictures in the --grid.")] = 25,
    json_out: Annotated[bool, typer.Option("--json", help="Print only JSON on stdout.")] = False,
) -> None:
    """Show a data set: shapes, dtypes, classes and their balance; --grid draws thumbnails."""
    with user_errors():
        from dlcli.datasets import describe, write_thumbnails

        if count < 1:
            raise DlcliError(f"--count: must be at least 1, found {count}")
        info = describe(file)
        if grid is not None:
            info["grid"] = str(grid)
            info["grid_examples"] = write_thumbnails(file, grid, count)
    if json_out:
        typer.echo(json.dumps(info))
        return
    from rich.table import Table
    from rich.text import Text

    datasets = Table()
    for name in ("dataset", "shape", "dtype"):
        datasets.add_column(name)
    for d in info["datasets"]:
        datasets.add_row(d["name"], str(tuple(d["shape"])), d["dtype"])
    summary = Text(
        f"{info['examples']} examples of shape {tuple(info['example_shape'])}: {info['kind']}, "
        f"{info['dtype']}, values {info['min']:g} to {info['max']:g}"
    )
    balance = Table()
    for name in ("label", "class", "examples", "share"):
        balance.add_column(name, justify="left" if name == "class" else "right")
    for label, (name, n, share) in enumerate(
        zip(info["classes"], info["class_counts"], info["class_fractions"], strict=True)
    ):
        balance.add_row(str(label), name, str(n), f"{100 * share:.1f} %")
    items: list[object] = [Text(str(file)), datasets, summary, balance]
    if grid is not None:
        items.append(Text(f"wrote {grid} ({info['grid_examples']} examples)"))
    _print_tables(*items)


@data_app.command("flower")
def data_flower(
    out: Annotated[
        Path, typer.Option(help="The HDF5 file to write.", metavar="FILE.h5", show_default=False)
    ],
    examples: Annotated[int, typer.Option(help="Examples, half per class (even).")] = 400,
    seed: Annotated[
        int, typer.Option(help="The legacy RandomState seed, as data.generate.seed.")
    ] = 1,
    force: ForceOpt = False,
) -> None:
    """Write the course's planar flower set (what data.generate makes) as an HDF5 file.

    The file holds train_set_x float64 (m, 2) features, train_set_y int64 (m,) labels and
    list_classes (red, blue); data.train reads it back.
    """
    with user_errors():
        from dlcli.datasets import check_writable, write_flower

        check_writable([out], force)
        write_flower(out, examples, seed)
    typer.echo(
        f"wrote {out}: {examples} examples of 2 float64 features, classes red (0) and blue (1), "
        f"{examples // 2} each\n"
        f"Train on it: dlcli train configs/flower.yaml --set data.generate=null --set data.train={out}"
    )


@data_app.command("spiral")
def data_spiral(
    out: Annotated[
        Path, typer.Option(help="The HDF5 file to write.", metavar="FILE.h5", show_default=False)
    ],
    examples: Annotated[
        int, typer.Option(help="Examples, the same number per arm (a multiple of --classes).")
    ] = 300,
    classes: Annotated[int, typer.Option(help="Arms, one class each (2 to 100).")] = 3,
    seed: Annotated[
        int, typer.Option(help="The legacy RandomState seed, as data.generate.seed.")
    ] = 1,
    force: ForceOpt = False,
) -> None:
    """Write the K-arm spiral (what data.generate spiral makes) as an HDF5 file.

    The file holds train_set_x float64 (m, 2) features, train_set_y int64 (m,) labels 0..K-1
    and list_classes ("arm 0" .. "arm K-1"); data.train reads it back, and dlcli evaluate
    --model RUN FILE.h5 measures a spiral model on it.
    """
    with user_errors():
        from dlcli.datasets import check_writable, write_spiral

        check_writable([out], force)
        write_spiral(out, examples, classes, seed)
    layers = f" --set model.layers=[2,100,{classes}]" if classes != 3 else ""
    typer.echo(
        f"wrote {out}: {examples} examples of 2 float64 features, classes arm 0 (0) to "
        f"arm {classes - 1} ({classes - 1}), {examples // classes} each\n"
        f"Train on it: dlcli train configs/spiral.yaml --set data.generate=null "
        f"--set data.train={out}{layers}"
    )


@data_app.command("housing")
def data_housing(
    out: Annotated[
        Path, typer.Option(help="The CSV file to write.", metavar="FILE.csv", show_default=False)
    ],
    examples: Annotated[int, typer.Option(help="Rows (houses).")] = 1000,
    seed: Annotated[
        int, typer.Option(help="Seeds np.random.default_rng, as data.generate.seed.")
    ] = 1,
    force: ForceOpt = False,
) -> None:
    """Write the generated housing table (what data.generate housing makes) as a CSV file.

    Columns size_m2, bedrooms, distance_km, income_k and price_k (the formula is in the
    README); every number is written so it reads back bit for bit. Train on it with
    data.train: FILE.csv and data.target: price_k.
    """
    with user_errors():
        from dlcli.data import HOUSING_COLUMNS
        from dlcli.datasets import check_writable, write_housing_csv

        check_writable([out], force, suffix=".csv")
        write_housing_csv(out, examples, seed)
    typer.echo(
        f"wrote {out}: {_count(examples, 'row')}, columns {', '.join(HOUSING_COLUMNS)}\n"
        f"Train on it: dlcli train configs/housing.yaml --set data.generate=null "
        f"--set data.train={out} --set data.target=price_k"
    )


@data_app.command("synth")
def data_synth(
    out: Annotated[
        Path, typer.Option(help="The HDF5 file to write.", metavar="FILE.h5", show_default=False)
    ],
    examples: Annotated[
        int, typer.Option(help="Pictures to write (any number: the file may exceed memory).")
    ] = 10_000,
    size: Annotated[int, typer.Option(help="Pictures are size x size x 3 uint8 pixels.")] = 64,
    seed: Annotated[int, typer.Option(help="Seeds np.random.default_rng.")] = 1,
    chunk: Annotated[int, typer.Option(help="Pictures generated and written at a time.")] = 1024,
    force: ForceOpt = False,
) -> None:
    """Write a synthetic course-layout file of any size, in chunks (for data.stream tests).

    train_set_x uint8 (m, size, size, 3), train_set_y, list_classes (dark, bright): a dark
    picture's pixels are uniform in 0..127, a bright one's in 64..191. At most --chunk
    pictures are in memory at a time.
    """
    with user_errors():
        from dlcli.datasets import check_writable, write_synth

        check_writable([out], force)
        with _Counter("writing pictures") as counter:
            write_synth(out, examples, size=size, seed=seed, chunk=chunk, progress=counter)
    gib = examples * size * size * 3 / 2**30
    typer.echo(
        f"wrote {out}: {examples} pictures {size}x{size}x3 uint8 ({gib:.2f} GiB), classes dark (0) "
        f"and bright (1)\n"
        f"Train on it from disk: dlcli train configs/cat_2layer.yaml --set data.train={out} "
        f"--set data.test=null --set data.stream=true --set train.batch_size=1024"
        + (f" --set model.layers=[{size * size * 3},7,1]" if size != 64 else "")
    )


@app.command()
def sweep(
    sweep_file: Annotated[
        Path,
        typer.Argument(
            help="Sweep file: base (a config path or mapping), grid and/or random (see the README).",
            show_default=False,
        ),
    ],
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Local worker processes (default: the core count); each gets cores // workers BLAS threads.",
            show_default=False,
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            metavar="tcp://HOST:PORT",
            help="Run the trials on this Dask distributed scheduler instead (needs dlcli's dask extra).",
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume", help="Keep the trials this sweep directory finished; run the rest."
        ),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Sweep directory (default: the file's out:, else runs/<sweep name>).",
            show_default=False,
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print only JSON on stdout: the trials, best first.")
    ] = False,
) -> None:
    """Train every trial of a sweep file and gather results.csv, sweep.png and a table.

    Each trial is a run directory <sweep dir>/trials/NNN. Every trial's config is checked before
    anything runs. A failed trial is recorded with its error, the others go on (exit code 1 at
    the end); --resume skips the trials already finished.
    """
    import os

    with user_errors():
        from dlcli.sweep import dask_executor, load_sweep, local_executor, run_sweep, sort_results

        plan = load_sweep(sweep_file, out)
        executor = (
            dask_executor(scheduler)
            if scheduler
            else local_executor(workers or os.cpu_count() or 1)
        )
        try:
            with _SweepProgress(len(plan.trials), plan.metric, quiet or json_out) as progress:
                results = run_sweep(plan, executor, resume=resume, on_trial=progress)
        except KeyboardInterrupt:
            typer.secho(
                f"dlcli: sweep interrupted; finished trials are in {plan.out / 'results.csv'}. "
                f"Resume with: dlcli sweep {sweep_file} --out {plan.out} --resume",
                err=True,
                fg="yellow",
            )
            raise typer.Exit(130) from None
    ranked = sort_results(plan, results)
    failed = sum(r["status"] != "ok" for r in results)
    if json_out:
        typer.echo(
            strict_json(
                {
                    "sweep_dir": str(plan.out),
                    "metric": plan.metric,
                    "maximize": plan.maximize,
                    "trials": [r["row"] for r in ranked],
                }
            )
        )
    else:
        _print_sweep(plan.keys, plan.metric, ranked, plan.out)
    if failed:
        typer.secho(f"dlcli: {_count(failed, 'trial')} failed; see results.csv", err=True, fg="red")
        raise typer.Exit(1)


class _SweepProgress:
    """Finished trials on stderr: a Rich bar on a terminal, one plain line per trial elsewhere."""

    def __init__(self, total: int, metric: str, quiet: bool) -> None:
        self.total, self.metric, self.quiet, self.bar = total, metric, quiet, None
        if not quiet and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.bar = Progress(
                TextColumn("trials"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
            )
            self.task = self.bar.add_task("sweep", total=total)

    def __enter__(self) -> _SweepProgress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, result: dict, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done)
        elif not self.quiet:
            value = result["row"].get(self.metric, "")
            shown = f"{self.metric} {float(value):.6g}" if value else result["error"]
            values = "  ".join(f"{k}={v}" for k, v in result["values"].items())
            print(
                f"{done}/{total} done  trial {result['index']}  {values}  {result['status']}  {shown}",
                file=sys.stderr,
                flush=True,
            )


def _print_sweep(keys: list[str], metric: str, ranked: list[dict], out: Path) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{out}: {_count(len(ranked), 'trial')}, best {metric} first")
    columns = ["trial", *keys]
    shown = [
        m
        for m in (
            "final_cost",
            "train_accuracy",
            "validation_accuracy",
            "test_accuracy",
            "train_r2",
            "validation_r2",
            "test_r2",
            "test_mse",
        )
        if any(r["row"].get(m) for r in ranked)
    ]
    for name in [*columns, *shown, "seconds", "status"]:
        table.add_column(name, justify="left" if name in (*keys, "status") else "right")
    for result in ranked:
        row = result["row"]
        cells = [row.get(c, "") for c in columns]
        for m in shown:
            value = row.get(m, "")
            if value and m.endswith("accuracy"):
                value = f"{100 * float(value):.2f} %"
            elif value:
                value = f"{float(value):.6f}"
            cells.append(value)
        status = row["status"] if row["status"] == "ok" else f"failed: {row['error']}"
        table.add_row(
            *cells, row["seconds"], status, style=None if row["status"] == "ok" else "red"
        )
    _print_tables(table, Text(f"results.csv and sweep.png in {out}"))


def main() -> None:
    app()
