"""dlcli gradcheck: backpropagation against centered differences, for a config or the battery."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dlcli.cli.options import SetOpt, read_config, user_errors
from dlcli.errors import DlcliError
from dlcli.jsonout import strict_json


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
            "pass agrees to 1e-9 or better and a bug is off by 1e-3 or more (see docs/math.md).",
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
                from dlcli.cli.render import battery_report, show

                show(*battery_report(cases))
        else:
            from dlcli import checks

            cfg = read_config(config, set_)
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
                from dlcli.cli.render import gradcheck_report, show

                what = f"{config}" + (f" with --model {model}" if model else "")
                show(*gradcheck_report(result, what, cfg.model.hidden_activation))
    if not passed:
        raise typer.Exit(1)
