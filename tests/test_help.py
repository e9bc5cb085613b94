"""``--help`` of every command and group: reflowed to the terminal's width, ``-h`` the same,
and docs/commands.md generated from the same app."""

from __future__ import annotations

import inspect
import itertools
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from dlcli.cli import app

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs" / "commands.md"
DOCS_COMMAND = ["typer", "dlcli.cli", "utils", "docs", "--name", "dlcli", "--output"]
WIDTHS = (80, 120)


# A click command (newer Typer vendors its own click): a group is one with ``commands``.
Command = Any
Cases = list[tuple[tuple[str, ...], Command]]


def _commands(command: Command, path: tuple[str, ...] = ()) -> Cases:
    """Every command and group under ``command``, with the arguments that reach it."""
    found = [(path, command)]
    for name, sub in getattr(command, "commands", {}).items():
        found += _commands(sub, (*path, name))
    return found


COMMANDS = _commands(typer.main.get_command(app))
GROUPS = [(path, command) for path, command in COMMANDS if hasattr(command, "commands")]


def _ids(cases: Cases) -> list[str]:
    return [" ".join(path) or "dlcli" for path, _ in cases]


def _help(path: tuple[str, ...], width: int, flag: str = "--help") -> str:
    result = CliRunner().invoke(app, [*path, flag], env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    return result.stdout


def _paragraphs(text: str) -> list[list[str]]:
    """The lines of ``text`` (stripped) grouped into paragraphs at blank lines."""
    paragraphs: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.strip():
            paragraphs[-1].append(line.strip())
        elif paragraphs[-1]:
            paragraphs.append([])
    return [p for p in paragraphs if p]


def _assert_filled(lines: list[str], width: int, where: str) -> None:
    """Each line but the last is broken only where the next word would not have fit."""
    for line in lines:
        assert len(line) <= width, f"{where}: longer than {width}: {line!r}"
    for line, after in itertools.pairwise(lines):
        assert len(line) + 1 + len(after.split()[0]) > width, (
            f"{where}: broken mid-sentence at {len(line)} of {width} columns: {line!r} / {after!r}"
        )


def _source_paragraphs(command: Command) -> list[list[str]]:
    """The words of each paragraph of the command's help, as written in its docstring."""
    return [p.split() for p in inspect.cleandoc(command.help or "").split("\n\n")]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=_ids(COMMANDS))
def test_description_reflows_to_the_width(
    path: tuple[str, ...], command: Command, width: int
) -> None:
    lines = _help(path, width).splitlines()
    usage = next(i for i, line in enumerate(lines) if line.strip().startswith("Usage:"))
    end = next((i for i, line in enumerate(lines) if line.startswith("╭")), len(lines))
    shown = _paragraphs("\n".join(lines[usage + 1 : end]))
    # Paragraphs apart, words in order: the docstring's text, only its line breaks moved.
    assert [[w for line in p for w in line.split()] for p in shown] == _source_paragraphs(command)
    for paragraph in shown:
        # The description is printed with one column of padding on either side.
        _assert_filled(paragraph, width - 2, f"{' '.join(path)} at {width}")


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize(("path", "group"), GROUPS, ids=_ids(GROUPS))
def test_command_summaries_reflow_to_the_width(
    path: tuple[str, ...], group: Command, width: int
) -> None:
    lines = _help(path, width).splitlines()
    top = next(i for i, line in enumerate(lines) if line.startswith("╭─ Commands"))
    panel = lines[top + 1 : next(i for i in range(top, len(lines)) if lines[i].startswith("╰"))]
    rows: dict[str, list[str]] = {}
    name = ""
    for line in panel:
        inner = line[2:-2]  # inside "│ " and " │"
        if inner[0] != " ":
            name = inner.split()[0]
            start = 2 + len(inner) - len(inner[len(name) :].lstrip())
            rows[name] = []
        rows[name].append(line[start:-2].strip())
    assert list(rows) == list(group.commands)
    for name, shown in rows.items():
        summary = _source_paragraphs(group.commands[name])[0]
        assert " ".join(shown).split() == summary, name
        # The summary column runs from its first letter to the panel's right border.
        _assert_filled(shown, width - 2 - start, f"{name} in {' '.join(path) or 'dlcli'}")


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=_ids(COMMANDS))
def test_h_is_help(path: tuple[str, ...], command: Command) -> None:
    assert _help(path, 80, "-h") == _help(path, 80, "--help")


def test_commands_md_is_generated_from_the_app(tmp_path: Path) -> None:
    out = tmp_path / "commands.md"
    subprocess.run(
        [sys.executable, "-m", *DOCS_COMMAND, str(out)],
        check=True,
        capture_output=True,
        cwd=REPO,
    )
    command = " ".join([*DOCS_COMMAND, "docs/commands.md"])
    assert out.read_text(encoding="utf-8") == DOCS.read_text(encoding="utf-8"), (
        f"stale: run {command}"
    )
