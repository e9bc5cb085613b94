"""A config file read, overridden and validated; pydantic's errors become one line that names
the key (or the ``--set`` that gave it), what was found and what is allowed."""

from __future__ import annotations

import reprlib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dlcli.config.overrides import apply_overrides, section_model, shown_key, unknown_key_message
from dlcli.config.parse import read_yaml
from dlcli.config.schema import Config
from dlcli.errors import ConfigError

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxother = 4, 30, 10, 80, 80


def _describe(value: Any) -> str:
    # reprlib, not repr: a YAML alias bomb is a small file whose full repr is gigabytes.
    text = _REPR.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _error_message(err: dict[str, Any], source: str, overridden: set[str]) -> str:
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
    found = (
        f", found {_describe(err['input'])}"
        if "input" in err and not isinstance(err["input"], dict)
        else ""
    )
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


def validate(raw: Any, source: str, overridden: set[str] | None = None) -> Config:
    """Validate a parsed YAML document against the schema.

    ``overridden`` names the dotted keys set with ``--set``, so their errors say so.
    """
    if raw is None:
        raise ConfigError(f"{source}: the config is empty; it needs at least data and model.layers")
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: expected a mapping of sections (data, model, ...), found {_KINDS.get(type(raw).__name__, type(raw).__name__)}"
        )
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # Of several errors from one union, the most telling is the first; say one line.
        raise ConfigError(_error_message(errors[0], source, overridden or set())) from None


def load_config(path: Path, overrides: list[str] | None = None) -> Config:
    """Read, override and validate a config file."""
    source = str(path)
    if not path.exists():
        raise ConfigError(f"{source}: no such config file")
    if path.is_dir():
        raise ConfigError(f"{source}: is a directory, expected a YAML config file")
    raw = read_yaml(path, source)
    overridden: set[str] = set()
    if overrides:
        if raw is None:
            raw = {}
        if isinstance(raw, dict):
            raw = apply_overrides(raw, overrides)
            overridden = {item.partition("=")[0].strip() for item in overrides}
    return validate(raw, source, overridden)
