"""``--set key.path=value`` overrides, and the walk along the schema's keys that they and the
validation messages share: which keys a section allows, and the nearest one to a typo."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel

from dlcli.config.parse import parse_yaml
from dlcli.config.schema import Config, field_model, fields_by_key
from dlcli.errors import ConfigError


def _allowed_keys(model: type[BaseModel]) -> list[str]:
    return list(fields_by_key(model))


def section_model(path: list[str]) -> type[BaseModel] | None:
    """The schema class at a dotted path, or None when the path ends at a leaf."""
    model: type[BaseModel] | None = Config
    for part in path:
        model = field_model(fields_by_key(model)[part][1])
        if model is None:
            return None
    return model


def unknown_key_message(dotted: str, model: type[BaseModel]) -> str:
    """``dotted: unknown key``, the keys ``model`` allows, and the nearest one to the typo."""
    head, _, last = dotted.rpartition(".")
    allowed = _allowed_keys(model)
    close = difflib.get_close_matches(last, allowed, n=1)
    hint = (
        f"; did you mean {'.'.join([*head.split('.'), close[0]]) if head else close[0]}?"
        if close
        else ""
    )
    return f"{dotted}: unknown key; allowed here: {', '.join(allowed)}{hint}"


def shown_key(key: str) -> str:
    """A key as a message shows it: quoted when it is empty, padded or holds a line break,
    so the message stays one line and says exactly what was written."""
    return key if key.isprintable() and key.strip() == key and key else repr(key)


def _check_path(dotted: str) -> list[str]:
    parts = dotted.split(".")
    shown = [shown_key(part) for part in parts]
    model: type[BaseModel] | None = Config
    for i, part in enumerate(parts):
        if model is None:
            raise ConfigError(
                f"--set {'.'.join(shown)}: {'.'.join(parts[:i])} is a value, not a section"
            )
        fields = fields_by_key(model)
        if part not in fields:
            raise ConfigError(f"--set {unknown_key_message('.'.join(shown[: i + 1]), model)}")
        model = field_model(fields[part][1])
    return parts


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.path=value`` strings; values are read as YAML (numbers, lists, null).
    The first bad one raises its ConfigError."""
    raw, errors = apply_overrides_all(raw, overrides)
    if errors:
        raise errors[0][1]
    return raw


def apply_overrides_all(
    raw: dict[str, Any], overrides: list[str]
) -> tuple[dict[str, Any], list[tuple[int, ConfigError]]]:
    """Apply every ``key.path=value`` that can be applied; the others are returned as
    (index in ``overrides``, its ConfigError), so all of them can be reported at once."""
    errors = []
    for index, item in enumerate(overrides):
        try:
            _apply(raw, item)
        except ConfigError as exc:
            errors.append((index, exc))
    return raw, errors


def _apply(raw: dict[str, Any], item: str) -> None:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. train.learning_rate=0.01")
    parts = _check_path(key.strip())
    parsed = parse_yaml(value, f"--set {key}") if value.strip() else None
    node = raw
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = parsed
