"""Every error of a config at once: the checks between keys that pydantic did not get to, and
the order the errors are reported in (the YAML file's line order, then the ``--set`` order).

:mod:`dlcli.config.load` formats each error; this module finds more of them and places them.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from dlcli.config.crosscheck import SKIP_CROSS_CHECKS, failed_checks
from dlcli.config.parse import _Loader
from dlcli.config.schema import Config, field_model, fields_by_key

#: Errors reported before "and N more".
MOST = 20

#: What a required key that is wrong or missing is replaced by while the checks between keys
#: run; a check that reads it is skipped, so the value itself is never seen.
_STAND_INS: dict[str, Any] = {"layers": [1, 1]}

Loc = tuple[str, ...]


def key_positions(path: Path) -> dict[Loc, tuple[int, int]]:
    """(line, column) of every key and list item of a YAML file, by its path of keys
    (list items by their index as text); {} when the file cannot be composed."""
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=_Loader)
    except (OSError, ValueError, RecursionError, yaml.YAMLError):
        return {}
    positions: dict[Loc, tuple[int, int]] = {}
    seen: set[int] = set()  # an alias repeats a node: walk it once (no alias bomb)
    todo: list[tuple[Loc, Any]] = [((), root)]
    while todo and len(positions) < 10_000:
        loc, node = todo.pop()
        if id(node) in seen or len(loc) > 6:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            pairs = [(key.value, key, value) for key, value in node.value]
        elif isinstance(node, yaml.SequenceNode):
            pairs = [(str(i), item, item) for i, item in enumerate(node.value)]
        else:
            continue
        for name, marked, value in pairs:
            if isinstance(name, str):
                mark = marked.start_mark
                positions.setdefault((*loc, name), (mark.line + 1, mark.column + 1))
                todo.append(((*loc, name), value))
    return positions


def _field_path(loc: Sequence[Any]) -> tuple[Loc, Loc, bool]:
    """The part of an error's location that names keys (list indices and union members cut
    off): as written in the file, as attribute names, and whether it ends at a section."""
    model: type[BaseModel] | None = Config
    keys: list[str] = []
    names: list[str] = []
    for part in loc:
        if model is None or not isinstance(part, str):
            break
        by_key = fields_by_key(model)
        if part not in by_key:  # an unknown key
            return (*keys, part), (*names, part), False
        name, field = by_key[part]
        keys.append(part)
        names.append(name)
        model = field_model(field)
    return tuple(keys), tuple(names), model is not None


def error_key(err: dict[str, Any]) -> tuple[Any, ...]:
    """The key an error is about, with its list indices: the members of a union cut off. A
    check between keys (at a section, or the whole config) is told apart by its message."""
    loc = err["loc"]
    keys, _, section = _field_path(loc)
    if section or not loc:
        return (*loc, err["msg"])
    return (*keys, *(p for p in loc[len(keys) :] if isinstance(p, int)))


def _drop(raw: dict[str, Any], keys: Loc, missing: bool) -> bool:
    """Take the value at ``keys`` out of ``raw`` (its default comes back), or put a stand-in
    in for a required key that is missing; False when nothing can stand in."""
    node: Any = raw
    for part in keys[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    if not keys or not isinstance(node, dict):
        return False
    last = keys[-1]
    if not missing:
        node.pop(last, None)  # a required key comes back as missing, in the next round
        return True
    if _field_path(keys)[2]:
        node[last] = {}
        return True
    if last in _STAND_INS:
        node[last] = copy.deepcopy(_STAND_INS[last])
        return True
    return False


def cross_errors(raw: dict[str, Any], errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The checks between keys that pydantic skipped because some keys were wrong.

    The wrong keys are taken out (their defaults come back) and the config is validated with
    the checks off, again until it passes; then every check runs, except those that read a key
    that was taken out. Returns errors shaped as pydantic's (``type``, ``loc``, ``msg``).
    """
    raw = copy.deepcopy(raw)
    unknown: set[Loc] = set()
    for _ in range(10):
        for err in errors:
            keys, names, section = _field_path(err["loc"])
            if section and err["type"] == "value_error":
                continue  # a failed check between the section's keys: its values are fine
            if not _drop(raw, keys, err["type"] == "missing"):
                return []
            unknown.add(names)
        try:
            cfg = Config.model_validate(raw, context={SKIP_CROSS_CHECKS: True})
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            continue
        return [
            {"type": "value_error", "loc": loc, "msg": f"Value error, {msg}"}
            for loc, msg in failed_checks(cfg, unknown)
        ]
    return []


_NAMED_KEY = re.compile(r"\b(?:data|model|init|train|output)(?:\.[A-Za-z_]+)+")


def place(
    err: dict[str, Any], positions: dict[Loc, tuple[int, int]], set_keys: Sequence[str | None]
) -> tuple[int, int, int]:
    """Where an error goes in the report: (0, line, column) at its key's place in the file,
    (1, 0, 0) for a key the file does not have, (2, i, 0) for the i-th ``--set``.

    A check between keys (at a section, or the whole config) goes where the first key its
    message names was given, in the file or with ``--set``.
    """
    loc = tuple(str(p) for p in err["loc"])
    if loc and not _field_path(err["loc"])[2]:
        return _place_key(loc, positions, set_keys, 1) or (1, 0, 0)
    for match in _NAMED_KEY.finditer(err.get("msg", "")):
        where = _place_key(tuple(match.group().split(".")), positions, set_keys, 2)
        if where:
            return where
    return _place_key(loc, positions, set_keys, 1) or (1, 0, 0)


def _place_key(
    loc: Loc, positions: dict[Loc, tuple[int, int]], set_keys: Sequence[str | None], least: int
) -> tuple[int, int, int] | None:
    """The place of the key at ``loc``: its last ``--set``, else its line in the file (or its
    nearest section's, down to ``least`` keys deep); None when it is in neither."""
    dotted = ".".join(loc)
    given = [i for i, key in enumerate(set_keys) if key is not None and dotted.startswith(key)]
    if given:
        return (2, given[-1], 0)
    for end in range(len(loc), least - 1, -1):
        if loc[:end] in positions:
            return (0, *positions[loc[:end]])
    return None


def report(lines: list[str]) -> str:
    """At most :data:`MOST` lines, then "and N more"; one line per error."""
    shown = list(dict.fromkeys(lines))  # a caller's lines may repeat one another
    extra = len(shown) - MOST
    return "\n".join(shown[:MOST] + ([f"and {extra} more"] if extra > 0 else []))
