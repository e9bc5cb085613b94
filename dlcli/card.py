"""The model card: ``card.md`` in every finished run directory, a page a person reads to know
what was trained, on what, how well, how long it took, and the one command that trains it
again."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from dlcli import __version__
from dlcli.fileio import write_text

CARD = "card.md"
#: Data files larger than this are named with their size, not hashed (a streamed set may
#: be larger than memory; hashing it would cost a read of the whole file).
HASH_LIMIT = 1 << 30


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in pieces; or why it was not hashed."""
    size = path.stat().st_size
    if size > HASH_LIMIT:
        return f"not hashed ({size / 2**30:.1f} GiB)"
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while piece := f.read(1 << 20):
            sha.update(piece)
    return f"sha256 {sha.hexdigest()}"


def _data_lines(config: dict[str, Any], metrics: dict[str, Any]) -> list[str]:
    data = config["data"]
    lines = []
    if data.get("generate"):
        gen = data["generate"]
        shown = {k: v for k, v in gen.items() if k != "name" and v is not None}
        if gen["name"] != "spiral":  # the class count is the spiral's alone
            shown.pop("classes", None)
        settings = ", ".join(f"{k} {v}" for k, v in shown.items())
        lines.append(f"- generated: `{gen['name']}` ({settings})")
    for key in ("train", "test", "validation"):
        if data.get(key):
            path = Path(data[key])
            digest = file_sha256(path) if path.is_file() else "missing now"
            lines.append(f"- data.{key}: `{path}` ({digest})")
    for split in ("train", "validation", "test"):
        if f"{split}_examples" in metrics:
            lines.append(f"- {split} examples: {metrics[f'{split}_examples']}")
    for key in ("test_fraction", "validation_fraction"):
        if data.get(key):
            lines.append(f"- data.{key}: {data[key]} (split seed {data.get('split_seed')})")
    return lines


def _metric_lines(metrics: dict[str, Any]) -> list[str]:
    skip = {"final_cost", "iterations", "epochs", "engine", "optimizer", "run_dir"}
    lines = []
    for key, value in metrics.items():
        if key in skip or key.endswith("_examples") or key.endswith("_seconds"):
            continue
        if isinstance(value, float) and key.endswith("accuracy"):
            lines.append(f"| {key} | {value * 100:.2f} % |")
        elif isinstance(value, (int, float)):
            lines.append(f"| {key} | {value:.6g} |")
    return ["| metric | value |", "|---|---|", *lines] if lines else []


def card_text(
    run_dir: Path, config: dict[str, Any], classes: list[str], metrics: dict[str, Any]
) -> str:
    """The card of a finished run, Markdown."""
    model, init, train = config["model"], config["init"], config["train"]
    batch = train.get("batch_size") or "the full set"
    lines = [
        f"# Model card: {run_dir.name}",
        "",
        "## What was trained",
        "",
        f"- layers: {model['layers']}",
        f"- activations: {model['hidden_activation']} (hidden), {model['output_activation']} (output)",
        f"- init: {init['scale']}, seed {init['seed']}",
        f"- optimizer: {train['optimizer']}, learning rate {train['learning_rate']}, "
        f"batch {batch}, {metrics['iterations']} iterations ({metrics['epochs']:g} epochs)",
        f"- engine: {metrics['engine']}, dtype {train['dtype']}",
        "",
        "## On what",
        "",
        *_data_lines(config, metrics),
    ]
    if classes:
        lines.append(f"- classes (label order): {', '.join(classes)}")
    lines += ["", "## How well", "", *_metric_lines(metrics)]
    lines += ["", f"Final cost {metrics['final_cost']:.6f}."]
    if (run_dir / "cost.png").is_file():
        lines[-1] += " The cost curve: [cost.png](cost.png)."
    if (run_dir / "boundary.png").is_file():
        lines.append("The decision boundary: [boundary.png](boundary.png).")
    lines += [
        "",
        "## How long",
        "",
        f"{metrics['train_seconds']:.3f} s of training "
        f"(and {metrics.get('checkpoint_seconds', 0.0):.3f} s writing checkpoints).",
        "",
        "## Made with",
        "",
        f"dlcli {__version__}. To train it again (the config stored with the run, the same seeds):",
        "",
        "```bash",
        f"dlcli train {run_dir / 'config.yaml'} --out {run_dir}-again",
        "```",
        "",
    ]
    return "\n".join(lines)


def write_card(
    run_dir: Path, config: dict[str, Any], classes: list[str], metrics: dict[str, Any]
) -> None:
    """Write ``card.md`` into a finished run directory."""
    write_text(run_dir / CARD, card_text(run_dir, config, classes, metrics))
