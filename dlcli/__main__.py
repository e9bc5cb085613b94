"""The `dlcli` command and `python -m dlcli`: for a command that trains, the child process
that draws cost.png starts first, before Typer and the rest of the CLI are imported and the
command line parsed (the 0.2 s or so that takes is the child's, whose matplotlib import is
the longest part of a short run); then the CLI runs."""

from __future__ import annotations

import sys


def trains(argv: list[str]) -> bool:
    """Whether ``argv`` (the arguments after ``dlcli``) is a train command that trains (no
    -h, --help, --dry-run)."""
    return argv[:1] == ["train"] and not {"-h", "--help", "--dry-run"} & set(argv)


def main() -> None:
    early = None
    if trains(sys.argv[1:]):
        from dlcli.costplot import PlotProcess  # light: matplotlib is the child's

        early = PlotProcess()
    from dlcli.cli import main as cli

    cli(early)


if __name__ == "__main__":
    main()
