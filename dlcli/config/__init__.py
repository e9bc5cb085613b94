"""The config: a YAML file validated by a frozen pydantic schema.

Relative paths in a config and in ``--set`` are taken from the current directory, the
one rule for every path. Unknown keys, wrong types and impossible values raise
:class:`ConfigError` naming the key, what was found and what is allowed.

- :mod:`dlcli.config.schema`: the sections, their defaults and the checks between keys
- :mod:`dlcli.config.parse`: YAML read safely (no duplicate keys, no tags that build objects)
- :mod:`dlcli.config.overrides`: ``--set`` overrides
- :mod:`dlcli.config.load`: read, override and validate a file; the error messages

The names below the shim line are the old dlcli/config.py's other names, re-exported by a
TEMPORARY SHIM (issue 12), removed by the lead at merge.
"""

from dlcli.config.load import load_config, validate
from dlcli.config.overrides import apply_overrides
from dlcli.config.parse import (
    _Loader,  # noqa: F401  TEMPORARY SHIM (issue 12): removed by the lead at merge
    parse_yaml,
    read_yaml,
)
from dlcli.config.schema import (
    Activation,  # noqa: F401  TEMPORARY SHIM (issue 12): removed by the lead at merge
    Config,
    DataConfig,  # noqa: F401  TEMPORARY SHIM (issue 12): removed by the lead at merge
    EarlyStoppingConfig,  # noqa: F401  TEMPORARY SHIM (issue 12): removed by the lead at merge
    GenerateConfig,  # noqa: F401  TEMPORARY SHIM (issue 12): removed by the lead at merge
    InitConfig,  # noqa: F401  TEMPORARY SHIM (issue 12): removed by the lead at merge
    ModelConfig,  # noqa: F401  TEMPORARY SHIM (issue 12): removed by the lead at merge
    OutputConfig,  # noqa: F401  TEMPORARY SHIM (issue 12): removed by the lead at merge
    TrainConfig,  # noqa: F401  TEMPORARY SHIM (issue 12): removed by the lead at merge
)

__all__ = ["Config", "apply_overrides", "load_config", "parse_yaml", "read_yaml", "validate"]
