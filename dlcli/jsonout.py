"""JSON for users: strict, so that every parser reads what dlcli prints and writes."""

import json
import math


def strict_json(value: object, indent: int | None = None) -> str:
    """``value`` as strict JSON: a float that is not finite (NaN, +-inf, e.g. the metrics of a
    model whose weights overflow) becomes null, which every JSON parser reads, where json.dumps
    would write NaN or Infinity, which most refuse. ``allow_nan=False`` makes any non-finite
    number that gets past this an error instead of invalid output."""

    def finite(v: object) -> object:
        if isinstance(v, float):
            return v if math.isfinite(v) else None
        if isinstance(v, dict):
            return {k: finite(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [finite(x) for x in v]
        return v

    return json.dumps(finite(value), indent=indent, allow_nan=False)
