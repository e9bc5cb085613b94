"""The `dlcli` command and `python -m dlcli`: for a command that trains, the child process
that draws cost.png starts first, before Typer and the rest of the CLI are imported (the
tenth of a second that takes is the child's, whose matplotlib import is the longest part of
a short run); then the CLI runs."""

from __future__ import annotations

import sys


def trains(argv: list[str]) -> bool:
    """Whether ``argv`` (the arguments after ``dlcli``) is a train command that trains (no
    -h, --help, --dry-run)."""
    return argv[:1] == ["train"] and not {"-h", "--help", "--dry-run"} & set(argv)


def main() -> None:
    from dlcli.costplot import PlotProcess  # light: matplotlib is the child's

    early = PlotProcess() if trains(sys.argv[1:]) else None
    from dlcli.cli import main as cli

    cli(early)


if __name__ == "__main__":
    main()
