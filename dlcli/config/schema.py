"""The config's schema: frozen pydantic sections, their defaults and the checks between keys.

Relative paths are taken from the current directory, the one rule for every path. Each
refusal says the key, what was found and what is allowed (:mod:`dlcli.config.load` turns
pydantic's errors into those messages).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

from dlcli.config.crosscheck import cross_check
from dlcli.config.shown import shown
from dlcli.config.weights import class_weight_setting, weights_problem
from dlcli.model.network import INIT_RULES

Activation = Literal["sigmoid", "tanh", "relu", "leaky_relu", "linear"]
PositiveFloat = Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)]
PositiveInt = Annotated[int, Field(strict=True, ge=1)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class GenerateConfig(_Section):
    """A built-in data set made by dlcli itself."""

    name: Literal["flower", "spiral", "housing", "churn"] = "flower"
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

    @model_validator(mode="before")
    @classmethod
    def _spiral_default(cls, data: Any) -> Any:
        """A spiral whose size is not given has 100 examples an arm (CS231n's), not the
        400 of the default, which no arm count but 2 and 4 divides (3 arms made 399)."""
        if isinstance(data, dict) and data.get("name") == "spiral" and "examples" not in data:
            classes = data.get("classes", 3)
            if isinstance(classes, int) and not isinstance(classes, bool) and 2 <= classes <= 100:
                data = {**data, "examples": 100 * classes}
        return data


#: Keys added after the first runs (the tables of issue 13, the weights of issue 18) that the
#: resolved config leaves out at their defaults, by section.
HIDDEN_AT_DEFAULT = {
    "data": ("classes", "categorical", "missing", "unknown_category", "weight"),
    "train": ("class_weight",),
}


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
    classes: list[str] | None = None
    categorical: list[str] | None = None
    missing: Literal["error", "drop", "mean"] = "error"
    unknown_category: Literal["error", "zeros"] = "error"
    weight: str | None = None  # a CSV table's column of example weights (issue 18)

    @field_validator("generate", mode="before")
    @classmethod
    def _generator_by_name(cls, value: Any) -> Any:
        """``generate: flower`` is short for ``generate: {name: flower}``: that set with its
        defaults (a name it does not know is refused as data.generate.name)."""
        return {"name": value} if isinstance(value, str) else value

    @field_validator("classes", mode="before")
    @classmethod
    def _class_names(cls, value: Any) -> Any:
        """Class names as text, so ``[0, 1]`` names the labels 0 and 1 of a CSV column."""
        if not isinstance(value, list):
            return value
        names = [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
        if not all(isinstance(n, str) and n.strip() for n in names):
            raise ValueError(
                f"must be a list of class names (words or integers), found {shown(value)}"
            )
        names = [n.strip() for n in names]
        twice = next((n for i, n in enumerate(names) if n in names[:i]), None)
        if twice is not None:
            raise ValueError(f"names {twice!r} twice; each class once")
        if len(names) < 2:
            raise ValueError(f"names {len(names)} class; a classifier needs 2 or more")
        return names

    @cross_check
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
    raise ValueError(
        f"must be a number >= 0 (0 gives zeros), 'xavier' or 'he', found {shown(value)}"
    )


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
                raise ValueError(f"keys are layer numbers 1, 2, ..., L, found {shown(layer)}")
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
    class_weight: str | dict[str, float] | None = None

    @field_validator("class_weight", mode="before")
    @classmethod
    def _class_weight(cls, value: Any) -> Any:
        return class_weight_setting(value)


class OutputConfig(_Section):
    dir: Path = Path("runs")


class Config(_Section):
    data: DataConfig
    model: ModelConfig
    init: InitConfig = InitConfig()
    train: TrainConfig = TrainConfig()
    output: OutputConfig = OutputConfig()

    @cross_check
    def _per_layer_in_range(self) -> Config:
        L = len(self.model.layers) - 1
        beyond = [layer for layer in self.init.per_layer if layer > L]
        if beyond:
            raise ValueError(
                f"init.per_layer: layer {beyond[0]} does not exist; model.layers has layers 1 to {L}"
            )
        return self

    @cross_check
    def _early_stopping_needs_validation(self) -> Config:
        if self.train.early_stopping is not None and not (
            self.data.validation or self.data.validation_fraction
        ):
            raise ValueError(
                "train.early_stopping watches the validation cost: set data.validation_fraction "
                "(e.g. 0.2) or data.validation (a file)"
            )
        return self

    @cross_check
    def _weights_fit(self) -> Config:
        weights_problem(self)
        return self

    @cross_check
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
        # Later keys appear only when they differ from their defaults, so a config without
        # them resolves (and its run files hash) as it did before them.
        for section, keys in HIDDEN_AT_DEFAULT.items():
            fields = type(getattr(self, section)).model_fields
            for key in keys:
                if resolved[section][key] == fields[key].default:
                    del resolved[section][key]
        if self.data.stream:  # streaming reads blocks: say so, as the run does
            resolved["train"]["shuffle"] = "blocks"
        return resolved


def fields_by_key(model: type[BaseModel]) -> dict[str, tuple[str, FieldInfo]]:
    """A section's fields by the key a config writes (the alias, else the name): (the
    attribute's name, the field)."""
    return {f.alias or n: (n, f) for n, f in model.model_fields.items()}


def field_model(field: FieldInfo) -> type[BaseModel] | None:
    """The section a schema field holds (the model among its annotation's members), or None
    for a leaf."""
    kinds = getattr(field.annotation, "__args__", (field.annotation,))
    return next((k for k in kinds if isinstance(k, type) and issubclass(k, BaseModel)), None)
