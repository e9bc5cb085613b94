"""Every table the commands print: data in, Rich renderables out; :func:`show` prints them.

Imported inside commands only, so ``dlcli --help`` does not load Rich's tables.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from dlcli.audit import Audit
    from dlcli.model.gradcheck_results import BatteryCase, Coordinate, GradCheck


def show(*items: RenderableType, fit: Sequence[RenderableType] | None = None) -> None:
    """Print Rich tables and texts on stdout; a pipe or file never squeezes them.

    Off a terminal the console takes the natural width of ``fit`` (default: every item), so
    the tables are not folded to 80 columns.
    """
    console = Console(highlight=False)
    if not console.is_terminal:
        wide = console.options.update_width(10_000)
        console.width = max(
            console.width, *(console.measure(i, options=wide).maximum for i in fit or items)
        )
    for item in items:
        console.print(item)


def count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def verdict(passed: bool) -> Text:
    return Text("pass", style="green") if passed else Text("FAIL", style="bold red")


# ---------------------------------------------------------------- train


def metrics_table(metrics: dict) -> Table:
    """A finished run's metrics, one per row, accuracies in per cent."""
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for key in (
        "final_cost",
        "train_accuracy",
        "test_accuracy",
        "test_balanced_accuracy",
        "iterations",
        "train_seconds",
        "engine",
        "dropped_rows",
        "run_dir",
    ):
        if key in metrics:
            value = metrics[key]
            if key.endswith("accuracy"):
                value = f"{100 * value:.2f} %"
            elif isinstance(value, float):
                value = f"{value:.6f}" if key == "final_cost" else f"{value:.3f}"
            table.add_row(key, str(value))
    return table


def _shape(s: tuple[int, int]) -> str:
    return f"({s[0]}, {s[1]})"


def _scaled(n: int, base: int, units: tuple[str, ...]) -> str:
    i = 0
    while n >= base ** (i + 1) and i < len(units) - 1:
        i += 1
    return f"{n / base**i:.3g} {units[i]}"


def audit_report(report: Audit) -> list[RenderableType]:
    """dlcli train --dry-run: the shapes table first (print it at its natural width), then the
    totals and their numbered notes."""
    table = Table(title=f"Shapes for m = {report.m} examples (columns are examples)")
    for name in ("layer", "activation", "W", "b", "Z, A", "dZ", "dW", "db"):
        table.add_column(name, overflow="fold")
    table.add_row("0", "input", "", "", f"X {_shape(report.X)}", "", "", "")
    for row in report.rows:
        shapes = (row.W, row.b, row.Z, row.dZ, row.dW, row.db)
        table.add_row(str(row.l), row.activation, *(_shape(s) for s in shapes))
    totals, notes = _audit_totals(report)
    return [table, totals, *(Text(note, style="dim") for note in notes)]


def _audit_totals(report: Audit) -> tuple[Table, list[str]]:
    from dlcli.audit import FLOPS_COUNTED, GRAM_COUNTED

    totals = Table(show_header=False, box=None)
    totals.add_column(style="bold", no_wrap=True)
    totals.add_column()
    if report.mismatch is None:
        fit = f"X {_shape(report.X)} and Y {_shape(report.Y)} fit model.layers {report.layers}"
        totals.add_row("data", Text(fit, style="green"))
    else:
        totals.add_row("data", Text(f"MISMATCH: {report.mismatch}", style="bold red"))
    if report.inputs:  # a table's columns: nobody should count one-hot inputs by hand
        totals.add_row("inputs", f"n_x = {report.X[0]}: {report.inputs}")
    if report.class_weight is not None:  # the effective weights training uses (issue 18)
        weights = ", ".join(f"{k} {v:.6g}" for k, v in report.class_weight.items())
        totals.add_row("class weights", weights)
    if report.weight_column is not None:
        name, total = report.weight_column
        totals.add_row("example weights", f"column {name!r}, sum {total:.6g} over m = {report.m}")
    totals.add_row("parameters", f"{report.parameters:,}")
    flops = report.flops
    gflop = _scaled(flops.total, 1000, ("FLOP", "kFLOP", "MFLOP", "GFLOP", "TFLOP", "PFLOP"))
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
        f"{memory.total:,} bytes ({_scaled(memory.total, 1024, ('B', 'KiB', 'MiB', 'GiB', 'TiB'))}) "
        f"in {report.dtype}{batch} {mark}",
    )
    for name in ("X", "Y", "params", "grads", "caches", "gram"):
        if name != "gram" or memory.gram:
            totals.add_row(f"  {name}", f"{getattr(memory, name):,} bytes")
    notes.append(f"{mark} {report.memory_counted}")
    return totals, notes


# ---------------------------------------------------------------- gradcheck


def gradcheck_report(result: GradCheck, what: str, hidden: str) -> list[RenderableType]:
    """One network's check: a header, a row per tensor, the worst coordinates, the kinks
    (coordinates whose step moves a ``hidden`` pre-activation across 0) and the verdict."""
    header = Text(
        f"Gradient check of {what}: layers {result.layers}, {result.hidden} / {result.output}, "
        f"{result.examples} random training examples, eps {result.epsilon:g}, "
        f"J(theta +- eps) in {result.reference}"
    )
    items: list[RenderableType] = [header, _tensor_table(result)]
    if result.worst:
        items.append(
            _coordinate_table("Worst coordinates (largest |analytic - numeric|)", result.worst)
        )
    if result.kinks:
        shown = result.kinks[:5]
        more = f", first {len(shown)} shown" if len(result.kinks) > len(shown) else ""
        items.append(
            _coordinate_table(
                f"Kinks: {len(result.kinks)} coordinates move a {hidden} pre-activation across 0 "
                f"(left out, not failures{more})",
                shown,
            )
        )
    items.append(_gradcheck_verdict(result))
    return items


def _tensor_table(result: GradCheck) -> Table:
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
    return table


def _coordinate_table(title: str, rows: list[Coordinate]) -> Table:
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


def _gradcheck_verdict(result: GradCheck) -> Text:
    if result.passed:
        return Text(
            f"PASS: relative difference {result.relative_difference:.2e} < threshold "
            f"{result.threshold:g}",
            style="bold green",
        )
    if not math.isfinite(result.relative_difference):
        # Not a disagreement: inf or NaN in a gradient or the cost (overflow), nothing to compare.
        nan = [t.name for t in result.tensors if not math.isfinite(t.relative_difference)]
        wrong = ", ".join(nan) or "the cost"
        return Text(
            f"FAIL: the gradients of {wrong} are not finite numbers (the forward or backward "
            "pass overflowed), so nothing could be compared; check the model's weights and "
            "the data's scale",
            style="bold red",
        )
    wrong = ", ".join(result.failing) or "the tensors together"
    return Text(
        f"FAIL: backward disagrees with the cost in {wrong} (relative difference "
        f"{result.relative_difference:.2e}, threshold {result.threshold:g})",
        style="bold red",
    )


def battery_report(cases: list[BatteryCase]) -> list[RenderableType]:
    """The built-in battery: a header, a row per case, and a one-line verdict."""
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
            verdict(case.passed),
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
    return [header, table, summary]


# ---------------------------------------------------------------- predict, evaluate


def predictions_table(rows: list, output: str, failed: int) -> Table:
    """A row per picture: label and probability (a value for a linear output), and an error
    column when ``failed`` pictures could not be read."""
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
    return table


def evaluation_report(metrics: dict, mislabeled: Path | None) -> list[RenderableType]:
    """dlcli evaluate's metrics (sigmoid, softmax or linear output) and confusion matrix."""
    header = Text(f"{metrics['model']} on {', '.join(metrics['data'])}")
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(justify="right")
    items: list[RenderableType] = [header, table]
    if "class_weight" in metrics:
        weights = ", ".join(f"{k} {v:.4g}" for k, v in metrics["class_weight"].items())
        items.insert(1, Text(f"trained with class weights: {weights}"))
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
        items += _binary_evaluation(metrics, table, mislabeled)
    else:
        table.add_row("examples", str(metrics["examples"]))
        if "target" in metrics:
            table.add_row("target", f"{metrics['target']} (mse, mae in its units)")
        table.add_row("mse", f"{metrics['mse']:.6g}")
        table.add_row("mae", f"{metrics['mae']:.6g}")
        table.add_row("r2", f"{metrics['r2']:.6f}")
    return items


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def _binary_evaluation(
    metrics: dict, table: Table, mislabeled: Path | None
) -> list[RenderableType]:
    """A sigmoid model's rows into ``table``; returns the 2 x 2 confusion matrix to show after."""
    (tn, fp), (fn, tp) = metrics["confusion_matrix"]
    negative, positive = metrics["classes"]
    table.add_row("examples", str(metrics["examples"]))
    table.add_row(
        "accuracy", f"{100 * metrics['accuracy']:.2f} % ({tp + tn}/{metrics['examples']})"
    )
    if "balanced_accuracy" in metrics:  # mean of the two recalls (issue 18)
        recalls = (
            f"recall {negative} {_ratio(tn, tn + fp):.4f}, {positive} {_ratio(tp, tp + fn):.4f}"
        )
        table.add_row(
            "balanced accuracy", f"{100 * metrics['balanced_accuracy']:.2f} % ({recalls})"
        )
    table.add_row(f"precision ({positive})", f"{metrics['precision']:.4f}")
    table.add_row(f"recall ({positive})", f"{metrics['recall']:.4f}")
    table.add_row(f"f1 ({positive})", f"{metrics['f1']:.4f}")
    table.add_row("log_loss", f"{metrics['log_loss']:.6f}")
    table.add_row("threshold", f"{metrics['threshold']:g}")
    items: list[RenderableType] = [
        Text("confusion matrix (rows: true class, columns: predicted class)")
    ]
    confusion = Table()
    confusion.add_column("")
    confusion.add_column(f"predicted {negative}", justify="right")
    confusion.add_column(f"predicted {positive}", justify="right")
    confusion.add_row(f"true {negative}", str(tn), str(fp))
    confusion.add_row(f"true {positive}", str(fn), str(tp))
    items.append(confusion)
    if mislabeled is not None:
        items.append(Text(f"{fp + fn} mislabeled pictures drawn in {mislabeled}"))
    return items


def _softmax_evaluation(metrics: dict) -> tuple[list[tuple[str, str]], list[RenderableType]]:
    """A softmax model's evaluation: the summary rows, then the per-class and confusion tables."""
    classes, cm, m = metrics["classes"], metrics["confusion_matrix"], metrics["examples"]
    right = sum(row[k] for k, row in enumerate(cm))
    rows = [
        ("examples", str(m)),
        ("classes", str(len(classes))),
        ("accuracy", f"{100 * metrics['accuracy']:.2f} % ({right}/{m})"),
        ("balanced accuracy", f"{100 * metrics['balanced_accuracy']:.2f} % (mean recall)"),
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


# ---------------------------------------------------------------- data


def images_report(report: dict, directory: Path) -> list[RenderableType]:
    """dlcli data images: the files written with their class counts, and how to train on them.

    ``report`` is what ``--json`` prints (files, classes, counts, example_shape, skipped)."""
    size = report["example_shape"][0]
    written = report["files"]
    table = Table(title=f"{directory}: {size}x{size}x3 uint8 pictures")
    table.add_column("file")
    for label, name in enumerate(report["classes"]):
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
    items: list[RenderableType] = [table, hint]
    if report["skipped"]:
        skipped = count(len(report["skipped"]), "picture")
        items.insert(1, Text(f"{skipped} skipped (listed on stderr)", style="yellow"))
    return items


def info_report(info: dict, file: Path, grid: Path | None) -> list[RenderableType]:
    """dlcli data info: the file's datasets, the examples' shape and range, the class balance."""
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
    items: list[RenderableType] = [Text(str(file)), datasets, summary, balance]
    if grid is not None:
        items.append(Text(f"wrote {grid} ({info['grid_examples']} examples)"))
    return items


# ---------------------------------------------------------------- sweep

SWEEP_METRICS = (
    "final_cost",
    "train_accuracy",
    "validation_accuracy",
    "test_accuracy",
    "train_r2",
    "validation_r2",
    "test_r2",
    "test_mse",
)


def sweep_report(
    keys: list[str], metric: str, ranked: list[dict], out: Path
) -> list[RenderableType]:
    """A row per trial, best ``metric`` first: the swept ``keys``, the metrics any trial has,
    seconds and status (a failed trial in red with its error)."""
    table = Table(title=f"{out}: {count(len(ranked), 'trial')}, best {metric} first")
    columns = ["trial", *keys]
    shown = [m for m in SWEEP_METRICS if any(r["row"].get(m) for r in ranked)]
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
    return [table, Text(f"results.csv and sweep.png in {out}")]
