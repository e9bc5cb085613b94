"""A config file read, overridden and validated; pydantic's errors become one line each that
names the key (or the ``--set`` that gave it), what was found and what is allowed, all of them
at once (:mod:`dlcli.config.errorlist` finds the rest and orders them)."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dlcli.config.errorlist import cross_errors, error_key, key_positions, place, report
from dlcli.config.overrides import (
    apply_overrides_all,
    section_model,
    shown_key,
    unknown_key_message,
)
from dlcli.config.parse import read_yaml
from dlcli.config.schema import Config
from dlcli.config.shown import shown
from dlcli.errors import ConfigError


def _error_message(err: dict[str, Any], source: str, overridden: Collection[str]) -> str:
    loc = [shown_key(str(p)) for p in err["loc"] if not isinstance(p, int)]
    dotted = ".".join(loc) + "".join(f"[{p}]" for p in err["loc"] if isinstance(p, int))
    # A value that came from the command line is reported as such, not against the file.
    from_set = any(".".join(loc).startswith(k) for k in overridden)
    if err["type"] == "extra_forbidden":
        model = section_model(loc[:-1]) or Config
        return f"{source}: {unknown_key_message(dotted, model)}"
    if err["type"] == "missing":
        return f"{source}: {dotted}: required key is missing"
    msg = err["msg"]
    msg = msg.removeprefix("Value error, ").replace("Input should be", "must be")
    # What was found, unless the message says it already (a check of the value's parts).
    found = ""
    if "input" in err and not isinstance(err["input"], dict) and "found" not in msg:
        found = f", found {shown(err['input'])}"
    if from_set:
        return f"--set {dotted}: {msg}{found}"
    return f"{source}: {dotted + ': ' if dotted else ''}{msg}{found}"


_KINDS = {
    "list": "a list",
    "int": "a number",
    "float": "a number",
    "str": "a string",
    "bool": "a boolean",
}


def validate(raw: Any, source: str, overridden: Collection[str] | None = None) -> Config:
    """Validate a parsed YAML document against the schema.

    ``overridden`` names the dotted keys set with ``--set``, so their errors say so. Every
    error is reported, one line each (see :func:`_validate`).
    """
    return _validate(raw, source, list(overridden or ()))  # type: ignore[arg-type]


def _validate(
    raw: Any,
    source: str,
    set_keys: list[str | None],
    set_errors: list[tuple[int, ConfigError]] | None = None,
    path: Path | None = None,
) -> Config:
    """:func:`validate`, with the ``--set`` items that could not be applied and the file the
    document came from (for its keys' line order).

    The errors come in the file's line order, then those of a key the file does not have,
    then the ``--set`` ones in the order given; at most 20 lines, then "and N more".
    """
    if raw is None:
        raise ConfigError(f"{source}: the config is empty; it needs at least data and model.layers")
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: expected a mapping of sections (data, model, ...), found {_KINDS.get(type(raw).__name__, type(raw).__name__)}"
        )
    try:
        cfg = Config.model_validate(raw)
        errors: list[dict[str, Any]] = []
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        errors += cross_errors(raw, errors)
    if not errors and not set_errors:
        return cfg
    positions = key_positions(path) if path is not None and errors else {}
    applied = [key for key in set_keys if key is not None]
    # The first error of one key is the most telling (of a union's, say); one line a key.
    firsts = {error_key(err): err for err in reversed(errors)}
    placed = [
        (place(err, positions, set_keys), n, _error_message(err, source, applied))
        for n, err in enumerate(errors)
        if firsts[error_key(err)] is err
    ]
    placed += [((2, index, -1), 0, str(exc)) for index, exc in set_errors or ()]
    raise ConfigError(report([line for *_, line in sorted(placed)])) from None


def load_config(path: Path, overrides: list[str] | None = None) -> Config:
    """Read, override and validate a config file; every error at once."""
    source = str(path)
    if not path.exists():
        raise ConfigError(f"{source}: no such config file")
    if path.is_dir():
        raise ConfigError(f"{source}: is a directory, expected a YAML config file")
    raw = read_yaml(path, source)
    set_keys: list[str | None] = []
    set_errors: list[tuple[int, ConfigError]] = []
    if overrides:
        if raw is None:
            raw = {}
        if isinstance(raw, dict):
            raw, set_errors = apply_overrides_all(raw, overrides)
            failed = {index for index, _ in set_errors}
            # A --set that was refused set nothing: the file's value stays, and its errors.
            set_keys = [
                None if i in failed else item.partition("=")[0].strip()
                for i, item in enumerate(overrides)
            ]
    return _validate(raw, source, set_keys, set_errors, path)
