"""The config: a YAML file validated by a frozen pydantic schema.

Relative paths in a config and in ``--set`` are taken from the current directory, the
one rule for every path. Unknown keys, wrong types and impossible values raise
:class:`ConfigError` naming the key, what was found and what is allowed.

- :mod:`dlcli.config.schema`: the sections, their defaults and the checks between keys
- :mod:`dlcli.config.parse`: YAML read safely (no duplicate keys, no tags that build objects)
- :mod:`dlcli.config.overrides`: ``--set`` overrides
- :mod:`dlcli.config.load`: read, override and validate a file; the error messages
- :mod:`dlcli.config.crosscheck`, :mod:`dlcli.config.errorlist`: every error at once

The package's public names are re-exported here: ``from dlcli.config import Config,
load_config``.
"""

from dlcli.config.load import load_config, validate
from dlcli.config.overrides import apply_overrides
from dlcli.config.parse import (
    parse_yaml,
    read_yaml,
)
from dlcli.config.schema import (
    Config,
)

__all__ = ["Config", "apply_overrides", "load_config", "parse_yaml", "read_yaml", "validate"]
