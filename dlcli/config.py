"""The config: a YAML file validated by a frozen pydantic schema.

Relative paths in a config and in ``--set`` are taken from the current directory, the
one rule for every path. Unknown keys, wrong types and impossible values raise
:class:`ConfigError` naming the key, what was found and what is allowed.
"""

from __future__ import annotations

import difflib
import math
import re
import reprlib
from collections.abc import Hashable
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from dlcli.errors import ConfigError
from dlcli.model.network import INIT_RULES

Activation = Literal["sigmoid", "tanh", "relu", "leaky_relu", "linear"]
PositiveFloat = Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)]
PositiveInt = Annotated[int, Field(strict=True, ge=1)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class GenerateConfig(_Section):
    """A built-in data set made by dlcli itself."""

    name: Literal["flower", "spiral", "housing"] = "flower"
    classes: Annotated[int, Field(strict=True, ge=2, le=100)] = 3
    examples: Annotated[int, Field(strict=True, ge=2, le=10_000_000)] = 400
    seed: Annotated[int, Field(strict=True, ge=0, le=2**32 - 1)] = 1

    @field_validator("examples")
    @classmethod
    def _examples_fit(cls, examples: int, info: ValidationInfo) -> int:
        name = info.data.get("name")
        per = {"flower": 2, "spiral": info.data.get("classes", 3)}.get(name, 1)
        if examples % per:
            raise ValueError(f"must be a multiple of {per} ({name} makes {per} equal groups)")
        return examples


class DataConfig(_Section):
    train: Path | None = None
    test: Path | None = None
    generate: GenerateConfig | None = None
    validation: Path | None = None
    validation_fraction: Annotated[float, Field(strict=True, ge=0, lt=1, allow_inf_nan=False)] = 0.0
    test_fraction: Annotated[float, Field(strict=True, ge=0, lt=1, allow_inf_nan=False)] = 0.0
    split_seed: Annotated[int, Field(strict=True, ge=0, le=2**32 - 1)] = 1
    target: str | None = None
    features: list[str] | None = None
    stream: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if (self.train is None) == (self.generate is None):
            raise ValueError("give exactly one of data.train (a course HDF5 file) or data.generate")
        if self.test is not None and self.train is None:
            raise ValueError("data.test goes with data.train, not with data.generate")
        if self.validation is not None and self.validation_fraction:
            raise ValueError("give data.validation (a file) or data.validation_fraction, not both")
        if self.test is not None and self.test_fraction:
            raise ValueError("give data.test (a file) or data.test_fraction, not both")
        return self


def _is_keep_prob(value: Any) -> bool:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return number and 0 < value <= 1


class ModelConfig(_Section):
    layers: Annotated[list[PositiveInt], Field(min_length=2, max_length=100)]
    hidden_activation: Activation = "relu"
    output_activation: Literal["sigmoid", "linear", "softmax"] = "sigmoid"
    keep_prob: float | list[float] = 1.0

    # A "before" validator, not a union of constrained types: pydantic would name the union's
    # member ("model.keep_prob.constrained-float") and its first error, not the key.
    @field_validator("keep_prob", mode="before")
    @classmethod
    def _keep_prob_per_hidden_layer(cls, value: Any, info: ValidationInfo) -> float | list[float]:
        values = value if isinstance(value, list) else [value]
        if not values or not all(_is_keep_prob(v) for v in values):
            raise ValueError(
                "must be a keep probability in (0, 1] (1 keeps every unit) or a list of them, "
                "one per hidden layer"
            )
        layers = info.data.get("layers")
        if layers is None:  # refused already; its own error is the one reported
            return value
        hidden = len(layers) - 2
        if hidden == 0 and any(v < 1 for v in values):
            raise ValueError(
                f"dropout applies to hidden layers and model.layers {layers} has none; "
                "leave model.keep_prob at 1"
            )
        if isinstance(value, list) and len(value) != hidden:
            raise ValueError(
                f"give one value or one per hidden layer ({hidden} for layers {layers})"
            )
        return [float(v) for v in value] if isinstance(value, list) else float(value)

    def keep_probs(self) -> tuple[float, ...]:
        """One keep probability per hidden layer, () when there is no dropout."""
        hidden = len(self.layers) - 2
        probs = self.keep_prob if isinstance(self.keep_prob, list) else [self.keep_prob] * hidden
        return tuple(probs) if any(p < 1 for p in probs) else ()


def _init_scale(value: Any) -> float | str:
    if value in INIT_RULES:
        return value
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and math.isfinite(value) and value >= 0:
        return float(value)
    raise ValueError(f"must be a number >= 0 (0 gives zeros), 'xavier' or 'he', found {value!r}")


class InitConfig(_Section):
    scale: float | str = 0.01
    seed: Annotated[int, Field(strict=True, ge=0, le=2**32 - 1)] = 1
    from_: Path | None = Field(default=None, alias="from")

    per_layer: dict[int, float | str] = Field(default_factory=dict)

    @field_validator("scale", mode="before")
    @classmethod
    def _scale(cls, value: Any) -> float | str:
        return _init_scale(value)

    @field_validator("per_layer", mode="before")
    @classmethod
    def _per_layer(cls, value: Any) -> dict[int, float | str]:
        if not isinstance(value, dict):
            raise ValueError("must map layer numbers to scales, e.g. {1: he, 3: 0.01}")
        out = {}
        for layer, scale in value.items():
            if isinstance(layer, str) and layer.isdigit():  # as JSON writes int keys
                layer = int(layer)
            if not isinstance(layer, int) or isinstance(layer, bool) or layer < 1:
                raise ValueError(f"keys are layer numbers 1, 2, ..., L, found {layer!r}")
            try:
                out[layer] = _init_scale(scale)
            except ValueError as exc:
                raise ValueError(f"layer {layer}: {exc}") from None
        return out


Fraction = Annotated[float, Field(strict=True, ge=0, lt=1, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]


class EarlyStoppingConfig(_Section):
    patience: PositiveInt = 10
    restore_best: bool = True


class TrainConfig(_Section):
    learning_rate: PositiveFloat = 0.0075
    iterations: Annotated[int, Field(strict=True, ge=1, le=100_000_000)] = 2500
    log_every: PositiveInt = 100
    dtype: Literal["float64", "float32"] = "float64"
    engine: Literal["auto", "direct", "gram"] = "auto"
    checkpoint_every: Annotated[int, Field(strict=True, ge=0)] = 1000
    epochs: Annotated[int, Field(strict=True, ge=1, le=100_000_000)] | None = None
    batch_size: PositiveInt | None = None
    optimizer: Literal["gd", "momentum", "adam"] = "gd"
    beta: Fraction = 0.9
    beta1: Fraction = 0.9
    beta2: Fraction = 0.999
    epsilon: PositiveFloat = 1e-8
    lr_decay: NonNegative = 0.0
    lr_decay_every: PositiveInt = 1
    l2: NonNegative = 0.0
    seed: Annotated[int, Field(strict=True, ge=0, le=2**32 - 1)] = 1
    early_stopping: EarlyStoppingConfig | None = None
    shuffle: Literal["examples", "blocks"] = "examples"


class OutputConfig(_Section):
    dir: Path = Path("runs")


class Config(_Section):
    data: DataConfig
    model: ModelConfig
    init: InitConfig = InitConfig()
    train: TrainConfig = TrainConfig()
    output: OutputConfig = OutputConfig()

    @model_validator(mode="after")
    def _per_layer_in_range(self) -> Config:
        L = len(self.model.layers) - 1
        beyond = [layer for layer in self.init.per_layer if layer > L]
        if beyond:
            raise ValueError(
                f"init.per_layer: layer {beyond[0]} does not exist; model.layers has layers 1 to {L}"
            )
        return self

    @model_validator(mode="after")
    def _early_stopping_needs_validation(self) -> Config:
        if self.train.early_stopping is not None and not (
            self.data.validation or self.data.validation_fraction
        ):
            raise ValueError(
                "train.early_stopping watches the validation cost: set data.validation_fraction "
                "(e.g. 0.2) or data.validation (a file)"
            )
        return self

    @model_validator(mode="after")
    def _stream_needs(self) -> Config:
        """data.stream reads blocks of train.batch_size consecutive examples of one HDF5 file."""
        if not self.data.stream:
            return self
        d, t = self.data, self.train
        if d.train is None or d.train.suffix.lower() == ".csv":
            found = "data.generate" if d.train is None else str(d.train)
            raise ValueError(
                f"data.stream: true reads a course HDF5 file from disk; data.train must be one, found {found}"
            )
        if t.batch_size is None:
            raise ValueError(
                "data.stream: true reads train.batch_size examples at a time; set train.batch_size (e.g. 1024)"
            )
        if d.validation_fraction or d.test_fraction:
            raise ValueError(
                "data.stream: true cannot split data.validation_fraction / data.test_fraction off "
                "a file it does not load; give data.validation or data.test (a file, loaded in memory)"
            )
        if "shuffle" in t.model_fields_set and t.shuffle != "blocks":
            raise ValueError(
                "data.stream: true shuffles blocks of consecutive examples; set train.shuffle: blocks or leave it out"
            )
        if t.engine == "gram":
            raise ValueError(
                "data.stream: true trains with the direct engine (gram needs all of X in memory); set train.engine: auto or direct"
            )
        if self.model.output_activation == "linear":
            raise ValueError(
                "data.stream: true is for classifiers (sigmoid or softmax outputs), found model.output_activation: linear"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        """The resolved config as plain YAML-able values (paths as strings, ``from`` by name,
        layer numbers as ints)."""
        resolved = self.model_dump(mode="json", by_alias=True)
        resolved["init"]["per_layer"] = dict(self.init.per_layer)
        if self.data.stream:  # streaming reads blocks: say so, as the run does
            resolved["train"]["shuffle"] = "blocks"
        return resolved


# ---------------------------------------------------------------- YAML reading


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


# ---------------------------------------------------------------- overrides and validation


def _allowed_keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _section_model(path: list[str]) -> type[BaseModel] | None:
    """The schema class at a dotted path, or None when the path ends at a leaf."""
    model: type[BaseModel] = Config
    for part in path:
        fields = {f.alias or n: f for n, f in model.model_fields.items()}
        annotation = fields[part].annotation
        candidates = [a for a in getattr(annotation, "__args__", (annotation,))]
        sub = next(
            (a for a in candidates if isinstance(a, type) and issubclass(a, BaseModel)), None
        )
        if sub is None:
            return None
        model = sub
    return model


def _unknown_key_message(dotted: str, model: type[BaseModel]) -> str:
    head, _, last = dotted.rpartition(".")
    allowed = _allowed_keys(model)
    close = difflib.get_close_matches(last, allowed, n=1)
    hint = (
        f"; did you mean {'.'.join([*head.split('.'), close[0]]) if head else close[0]}?"
        if close
        else ""
    )
    return f"{dotted}: unknown key; allowed here: {', '.join(allowed)}{hint}"


def _shown(key: str) -> str:
    """A key as a message shows it: quoted when it is empty, padded or holds a line break,
    so the message stays one line and says exactly what was written."""
    return key if key.isprintable() and key.strip() == key and key else repr(key)


def _check_path(dotted: str) -> list[str]:
    parts = dotted.split(".")
    shown = [_shown(part) for part in parts]
    model: type[BaseModel] | None = Config
    for i, part in enumerate(parts):
        if model is None:
            raise ConfigError(
                f"--set {'.'.join(shown)}: {'.'.join(parts[:i])} is a value, not a section"
            )
        if part not in _allowed_keys(model):
            raise ConfigError(f"--set {_unknown_key_message('.'.join(shown[: i + 1]), model)}")
        model = _section_model(parts[: i + 1])
    return parts


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.path=value`` strings; values are read as YAML (numbers, lists, null)."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. train.learning_rate=0.01")
        parts = _check_path(key.strip())
        node = raw
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = parse_yaml(value, f"--set {key}") if value.strip() else None
    return raw


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxother = 4, 30, 10, 80, 80


def _describe(value: Any) -> str:
    # reprlib, not repr: a YAML alias bomb is a small file whose full repr is gigabytes.
    text = _REPR.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _error_message(err: dict[str, Any], source: str, overridden: set[str]) -> str:
    loc = [_shown(str(p)) for p in err["loc"] if not isinstance(p, int)]
    dotted = ".".join(loc) + "".join(f"[{p}]" for p in err["loc"] if isinstance(p, int))
    # A value that came from the command line is reported as such, not against the file.
    from_set = any(".".join(loc).startswith(k) for k in overridden)
    if err["type"] == "extra_forbidden":
        model = _section_model(loc[:-1]) or Config
        return f"{source}: {_unknown_key_message(dotted, model)}"
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


def read_yaml(path: Path, source: str) -> Any:
    """A YAML file read as UTF-8 text and parsed by :func:`parse_yaml`; ConfigError naming
    ``source`` when it is not text."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: not a text file (expected UTF-8 YAML)") from None
    return parse_yaml(text, source)


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
