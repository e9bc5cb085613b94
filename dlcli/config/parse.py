"""YAML read safely: plain values only, no duplicate keys, 1e-3 read as a number (YAML 1.2
floats), and every syntax error a :class:`ConfigError` naming the source, line and column."""

from __future__ import annotations

import re
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml

from dlcli.errors import ConfigError


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and reads 1e-3 as a number (YAML 1.2 floats)."""


_Loader.yaml_implicit_resolvers = {
    k: [r for r in v if r[0] != "tag:yaml.org,2002:float"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def _mapping_without_duplicates(loader: _Loader, node: yaml.MappingNode) -> dict:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if not isinstance(key, Hashable):  # construct_mapping names it: "found unhashable key"
            continue
        if key in seen:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", mark)
        seen[key] = key_node
    return loader.construct_mapping(node)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML text safely; a syntax error names the source, line and column."""
    try:
        return yaml.load(text, Loader=_Loader)
    except (ValueError, OverflowError) as exc:
        # A constructor refusing a scalar: an int of 5000 digits, a date such as 2001-13-45.
        reason = str(exc).split(";")[0]
        raise ConfigError(
            f"{source}: not valid YAML: a value cannot be read ({reason}); "
            "allowed are numbers, strings, lists and mappings"
        ) from None
    except RecursionError:  # PyYAML composes nested nodes recursively: [[[[... a thousand deep
        raise ConfigError(
            f"{source}: not valid YAML: lists or mappings nested too deeply to read; "
            "a dlcli config is at most 3 levels deep (data.generate.examples)"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if "'\\t'" in problem:
            problem += "; indent with spaces, not tabs"
        elif problem.startswith("duplicate key"):
            problem += "; each key may appear once in a mapping"
        elif problem.startswith("expected <block end>"):
            problem += "; the keys of one mapping must start in the same column"
        elif problem == "found unhashable key":
            problem += "; keys are plain names such as train or learning_rate"
        elif problem.startswith("could not determine a constructor"):
            problem += "; only plain YAML is allowed (no tags that build objects)"
        raise ConfigError(f"{source}: not valid YAML{where}: {problem}") from None


def read_yaml(path: Path, source: str) -> Any:
    """A YAML file read as UTF-8 text and parsed by :func:`parse_yaml`; ConfigError naming
    ``source`` when it is not text."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: not a text file (expected UTF-8 YAML)") from None
    return parse_yaml(text, source)
