"""The sweep file: its schema, the grid and the seeded random draws, and every trial's
config expanded and validated before anything runs.

A sweep file names a base config, a ``grid:`` (a list of values per dotted key: every
combination runs) and/or a ``random:`` section (``trials`` draws from seeded
distributions).
"""

from __future__ import annotations

import copy
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dlcli.config import Config, apply_overrides, read_yaml, validate
from dlcli.config.errorlist import report
from dlcli.config.overrides import apply_overrides_all
from dlcli.errors import ConfigError

DISTRIBUTIONS = ("uniform", "loguniform", "int", "choice")
SPLITS = ("train", "validation", "test")
METRICS = (
    "final_cost",
    *(f"{s}_{m}" for s in SPLITS for m in ("accuracy", "mse", "mae", "r2")),
    "seconds",
)
#: Metrics where larger is better; the others (costs, errors, seconds) are minimized.
HIGHER_IS_BETTER = ("accuracy", "r2")
MAX_TRIALS = 100_000


class _SweepFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base: str | dict[str, Any]
    set: list[str] = Field(default_factory=list)
    grid: dict[str, Annotated[list[Any], Field(min_length=1)]] = Field(default_factory=dict)
    random: dict[str, Any] | None = None
    metric: str = "final_cost"
    maximize: bool | None = None
    out: str | None = None


@dataclass(frozen=True)
class Trial:
    """One run of a sweep.

    index : 0, 1, ... in the order the trials were expanded
    values : the swept keys and this trial's value of each, in the sweep file's order
    config : the base config with ``values`` applied, validated, paths made absolute
    """

    index: int
    values: dict[str, Any]
    config: Config

    @property
    def overrides(self) -> list[str]:
        """The ``--set`` arguments that make this trial from the base config."""
        return [f"{key}={value_text(value)}" for key, value in self.values.items()]


@dataclass(frozen=True)
class Sweep:
    """A sweep file, expanded and validated."""

    source: str
    trials: list[Trial]
    keys: list[str]
    metric: str
    maximize: bool
    out: Path
    log_keys: set[str] = field(default_factory=set)


def value_text(value: Any) -> str:
    """A value as one YAML (JSON) token that reads back to the same value, floats bit for bit."""
    return json.dumps(value)


def is_number(value: Any) -> bool:
    """A finite int or float, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _distribution(key: str, spec: Any, source: str) -> tuple[str, list[Any]]:
    where = f"{source}: random: {key}"
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
        raise ConfigError(
            f"{where}: expected one distribution, {{uniform: [a, b]}}, {{loguniform: [a, b]}}, "
            f"{{int: [a, b]}} or {{choice: [v1, v2, ...]}}, found {spec!r}"
        )
    kind, args = next(iter(spec.items()))
    if kind == "choice":
        if not isinstance(args, list) or not args:
            raise ConfigError(f"{where}: choice needs a non-empty list of values, found {args!r}")
        return kind, args
    ok = isinstance(args, list) and len(args) == 2 and all(is_number(a) for a in args)
    ok = ok and args[0] <= args[1]
    if kind == "int":
        ok = ok and all(isinstance(a, int) for a in args)
    if kind == "loguniform":
        ok = ok and args[0] > 0
    if not ok:
        need = {"int": "two integers", "loguniform": "two numbers 0 < a"}.get(kind, "two numbers")
        raise ConfigError(f"{where}: {kind} needs [a, b], {need} with a <= b, found {args!r}")
    return kind, args


def _draw(rng: Any, kind: str, args: list[Any]) -> Any:
    if kind == "uniform":
        return float(rng.uniform(args[0], args[1]))
    if kind == "loguniform":
        return float(math.exp(rng.uniform(math.log(args[0]), math.log(args[1]))))
    if kind == "int":
        return int(rng.integers(args[0], args[1], endpoint=True))
    return args[int(rng.integers(len(args)))]  # choice


def _random_points(spec: dict[str, Any], source: str) -> tuple[list[dict[str, Any]], set[str]]:
    """``trials`` draws of every key of a ``random:`` section, from default_rng(seed), in
    trial order and, within a trial, in the file's key order."""
    import numpy as np

    trials, seed = spec.get("trials"), spec.get("seed", 1)
    if not isinstance(trials, int) or isinstance(trials, bool) or not 1 <= trials <= MAX_TRIALS:
        raise ConfigError(
            f"{source}: random: trials: must be an integer from 1 to 100000, found {trials!r}"
        )
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise ConfigError(
            f"{source}: random: seed: must be an integer from 0 to 2^32-1, found {seed!r}"
        )
    dists = {k: _distribution(k, v, source) for k, v in spec.items() if k not in ("trials", "seed")}
    if not dists:
        raise ConfigError(
            f"{source}: random: names no key to draw; add e.g. train.learning_rate: {{loguniform: [0.001, 1]}}"
        )
    rng = np.random.default_rng(seed)
    points = [{k: _draw(rng, *d) for k, d in dists.items()} for _ in range(trials)]
    return points, {k for k, (kind, _) in dists.items() if kind == "loguniform"}


def _absolute(cfg: Config) -> Config:
    """The config with its relative file paths made absolute, so a worker started in another
    directory reads the same files."""
    data = {
        k: Path(v).absolute()
        for k in ("train", "test", "validation")
        if (v := getattr(cfg.data, k)) is not None
    }
    update: dict[str, Any] = {"data": cfg.data.model_copy(update=data)}
    if cfg.init.from_ is not None:
        update["init"] = cfg.init.model_copy(update={"from_": cfg.init.from_.absolute()})
    return cfg.model_copy(update=update)


def _base_raw(base: str | dict[str, Any], source: str) -> tuple[dict[str, Any], str]:
    if isinstance(base, dict):
        return base, f"{source}: base"
    path = Path(base)
    if not path.is_file():
        raise ConfigError(
            f"{source}: base: {base}: no such config file (relative paths are taken from the "
            "current directory)"
        )
    raw = read_yaml(path, base)
    if not isinstance(raw, dict):
        raise ConfigError(f"{base}: expected a mapping of sections (data, model, ...)")
    return raw, base


def load_sweep(path: Path, out: Path | None = None) -> Sweep:
    """Read a sweep file, expand its trials and validate every trial's config.

    Raises ConfigError, naming the sweep file (and the trial), before anything runs.
    """
    source = str(path)
    spec = _read_spec(path, source)
    points, keys, log_keys = _points(spec, source)
    trials = _trials(spec, points, source)
    maximize = spec.maximize
    if maximize is None:
        maximize = spec.metric.endswith(HIGHER_IS_BETTER)
    return Sweep(
        source,
        trials,
        keys,
        spec.metric,
        maximize,
        out or Path(spec.out or Path("runs") / path.stem),
        log_keys,
    )


def _read_spec(path: Path, source: str) -> _SweepFile:
    """The sweep file read and checked against its schema, every error named."""
    if not path.is_file():
        raise ConfigError(f"{source}: no such sweep file")
    raw = read_yaml(path, source)
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping with base and grid and/or random")
    lines: list[tuple[int, str]] = []  # (the key's place in the file, the line)
    order = list(raw)
    try:
        spec = _SweepFile.model_validate(raw)
    except ValidationError as exc:
        spec = None
        for err in exc.errors(include_url=False):
            top = err["loc"][0] if err["loc"] else None
            place = order.index(top) if top in order else len(order)
            lines.append((place, f"{source}: {_spec_error(err)}"))
    metric = raw.get("metric", "final_cost")
    if isinstance(metric, str) and metric not in METRICS:
        place = order.index("metric")
        lines.append((place, f"{source}: metric: {metric!r} is not one of {', '.join(METRICS)}"))
    if lines:  # every mistake at once, in the file's order
        raise ConfigError(report([line for _, line in sorted(lines, key=lambda e: e[0])]))
    assert spec is not None
    return spec


def _spec_error(err: dict[str, Any]) -> str:
    """One pydantic error of the sweep file as ``where: what``."""
    where = ": ".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        msg = "unknown key; allowed here: base, set, grid, random, metric, maximize, out"
    elif err["type"] == "missing":
        msg = "required key is missing"
    else:
        msg = err["msg"].replace("Input should be", "must be")
    return f"{where}: {msg}"


def _points(spec: _SweepFile, source: str) -> tuple[list[dict[str, Any]], list[str], set[str]]:
    """Every trial's swept values (the random draws outside, the grid inside), the swept
    keys in the file's order, and the keys drawn loguniform."""
    points: list[dict[str, Any]] = [{}]
    log_keys: set[str] = set()
    if spec.random is not None:
        points, log_keys = _random_points(spec.random, source)
    both = sorted(set(spec.grid) & set(points[0]))
    if both:
        raise ConfigError(f"{source}: {both[0]}: is in both grid and random; sweep it in one")
    if not spec.grid and spec.random is None:
        raise ConfigError(f"{source}: needs grid: or random: (the keys to sweep)")
    count = len(points) * math.prod(len(v) for v in spec.grid.values())
    if count > MAX_TRIALS:
        raise ConfigError(
            f"{source}: expands to {count} trials, more than {MAX_TRIALS}; sweep fewer values"
        )
    grid = [
        dict(zip(spec.grid, combo, strict=True)) for combo in itertools.product(*spec.grid.values())
    ]
    return [g | r for r in points for g in grid], [*spec.grid, *points[0]], log_keys


def _each_line(where: str, message: str) -> str:
    """``where: line`` for each line of a multi-line error ("and N more" stays as it is)."""
    return "\n".join(
        line if line.startswith("and ") and line.endswith(" more") else f"{where}: {line}"
        for line in message.splitlines()
    )


def _trials(spec: _SweepFile, points: list[dict[str, Any]], source: str) -> list[Trial]:
    """The base config with ``set:`` and then each point applied, validated."""
    base, base_source = _base_raw(spec.base, source)
    base, wrong = apply_overrides_all(copy.deepcopy(base), spec.set)
    if wrong:  # every set: item that cannot be applied, in its order
        raise ConfigError(report([f"{source}: set: {exc}" for _, exc in wrong]))
    fixed = [item.partition("=")[0].strip() for item in spec.set]
    trials = []
    for index, values in enumerate(points):
        sets = [f"{k}={value_text(v)}" for k, v in values.items()]
        try:
            cfg = validate(
                apply_overrides(copy.deepcopy(base), sets),
                base_source,
                list(dict.fromkeys([*fixed, *values])),  # in the order applied: errors too
            )
        except ConfigError as exc:  # each of the trial's mistakes on a line of its own
            where = f"{source}: trial {index} ({', '.join(sets)})"
            raise ConfigError(_each_line(where, str(exc))) from None
        trials.append(Trial(index, values, _absolute(cfg)))
    return trials
