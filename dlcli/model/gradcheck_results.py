"""What a gradient check returns: per coordinate, per tensor, the whole check, and a case of
the built-in battery. Plain data; the CLI renders it, ``to_dict`` gives the JSON report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


def _finite_or_none(x: float) -> float | None:
    """x, or None (JSON's null) when it is NaN or infinite."""
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class Coordinate:
    """One checked coordinate: ``tensor[index]``, its analytic and numeric derivatives."""

    tensor: str
    index: tuple[int, ...]
    analytic: float
    numeric: float

    @property
    def difference(self) -> float:
        """|analytic - numeric|."""
        return abs(self.analytic - self.numeric)


@dataclass(frozen=True)
class TensorCheck:
    """The check of one parameter tensor.

    checked : coordinates compared (kinks excluded), all of them or a random sample
    kinks : coordinates left out because theta +- eps crossed a relu kink
    relative_difference : the course's difference over the ``checked`` coordinates
    """

    name: str
    shape: tuple[int, ...]
    checked: int
    kinks: int
    relative_difference: float
    passed: bool

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class GradCheck:
    """A whole check: per tensor, overall, and the coordinates that point at a bug.

    relative_difference : the course's difference over every checked coordinate together
    passed : the overall difference and every tensor's are below the threshold
    worst : the checked coordinates with the largest |analytic - numeric|, largest first
    kinks : every coordinate left out as a kink
    examples : m, the number of examples (columns of X) the cost averages over
    reference : the float type J(theta +- eps) was evaluated in, described
    """

    tensors: list[TensorCheck]
    relative_difference: float
    threshold: float
    epsilon: float
    passed: bool
    worst: list[Coordinate]
    kinks: list[Coordinate]
    examples: int
    reference: str
    layers: list[int] = field(default_factory=list)
    hidden: str = ""
    output: str = ""

    @property
    def failing(self) -> list[str]:
        """Names of the tensors whose difference is not below the threshold."""
        return [t.name for t in self.tensors if not t.passed]

    @property
    def checked(self) -> int:
        return sum(t.checked for t in self.tensors)

    def to_dict(self) -> dict[str, Any]:
        """The JSON report: passed, relative_difference, threshold, parameters.

        A relative difference that is not a finite number (NaN where a gradient overflowed,
        e.g. a model with huge weights) is None, JSON's null, and fails: strict JSON has no
        NaN, and ``passed`` is already false for it.
        """
        return {
            "passed": self.passed,
            "relative_difference": _finite_or_none(self.relative_difference),
            "threshold": self.threshold,
            "parameters": {
                t.name: {
                    "relative_difference": _finite_or_none(t.relative_difference),
                    "checked": t.checked,
                }
                for t in self.tensors
            },
        }


@dataclass(frozen=True)
class BatteryCase:
    """One network of the built-in battery and its check.

    l2 : the L2 penalty's lambda the cost included (0: none)
    keep_prob : the keep probability of the fixed dropout masks on every hidden layer (1: none)
    """

    name: str
    hidden: str
    output: str
    layers: list[int]
    result: GradCheck
    l2: float = 0.0
    keep_prob: float = 1.0

    @property
    def passed(self) -> bool:
        return self.result.passed

    def to_dict(self) -> dict[str, Any]:
        return {"case": self.name, **self.result.to_dict()}
