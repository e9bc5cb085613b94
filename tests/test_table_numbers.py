"""A numeric table's X and Y to the last bit: the way ``load`` gathers and standardizes the
columns (faster, with fewer copies) gives the bytes of the plain NumPy formula a model file
of the first table format was made with: X = (stacked[:, rows] - mean) / std, the mean and
std from ``X.mean(axis=1)`` and ``X.std(axis=1)`` on that layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dlcli.config import load_config
from dlcli.data.encode import _gathered, moments
from dlcli.data.load import Dataset, load, split_off

PROPERTIES = settings(max_examples=80, deadline=None, database=None, derandomize=True)


def columns_and_rows(seed: int, n: int, m: int, kept: float) -> tuple[list, np.ndarray]:
    """n seeded columns of m numbers, each on its own scale and offset, and a sorted subset
    of the rows (all of them when ``kept`` is 1)."""
    rng = np.random.default_rng(seed)
    columns = [
        rng.normal(size=m) * 10.0 ** rng.integers(-3, 4) + rng.normal() * 100 for _ in range(n)
    ]
    count = max(1, round(kept * m))
    return columns, np.sort(rng.permutation(m)[:count])


@PROPERTIES
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 40),
    m=st.integers(1, 3000),
    kept=st.sampled_from([1.0, 0.8, 0.5, 0.1]),
)
def test_gathered_and_moments_are_numpys_to_the_bit(seed: int, n: int, m: int, kept: float) -> None:
    columns, rows = columns_and_rows(seed, n, m, kept)
    stacked = np.stack(columns)  # (n, m)
    expected = stacked if rows.size == m else stacked[:, rows]
    X = _gathered(columns, rows)
    assert X.strides == expected.strides  # the layout sets the order of the sums
    assert X.tobytes(order="A") == expected.tobytes(order="A")
    mean, std, centered = moments(X)
    assert mean.tobytes() == expected.mean(axis=1).tobytes()
    assert std.tobytes() == expected.std(axis=1).tobytes()
    assert centered.tobytes(order="A") == (expected - expected.mean(axis=1)[:, None]).tobytes(
        order="A"
    )


def test_load_gives_the_plain_formulas_bytes(tmp_path: Path) -> None:
    """A regression CSV with a test and a validation part split off: every split's X and Y
    are the plain formula's, byte for byte."""
    columns, _ = columns_and_rows(7, 6, 500, 1.0)
    table = np.stack(columns, axis=1)  # (m, 6): five features and y
    path = tmp_path / "t.csv"
    path.write_text(
        "a,b,c,d,e,y\n" + "".join(",".join(map(repr, row)) + "\n" for row in table.tolist())
    )
    config = tmp_path / "c.yaml"
    config.write_text(
        f"data:\n  train: {path}\n  target: y\n  test_fraction: 0.2\n"
        "  validation_fraction: 0.1\nmodel:\n  layers: [5, 3, 1]\n  output_activation: linear\n"
    )
    cfg = load_config(config)
    data = load(cfg.data, "linear")
    X_all, Y_all = table[:, :5].T.copy(), table[:, 5:].T.copy()  # (5, m), (1, m), C order

    index = Dataset(np.arange(500)[None, :], np.arange(500)[None, :], (), {})
    index = split_off(index, 0.2, cfg.data.split_seed, "test")
    index = split_off(index, 0.1, cfg.data.split_seed + 1, "validation")
    X_raw, Y_raw = X_all[:, index.X_train[0]], Y_all[:, index.X_train[0]]
    mean, std = X_raw.mean(axis=1), X_raw.std(axis=1)
    y_mean, y_std = float(Y_raw.mean()), float(Y_raw.std())
    for split in ("train", "test", "val"):
        rows = getattr(index, f"X_{split}")[0]
        X = (X_all[:, rows] - mean[:, None]) / std[:, None]
        Y = (Y_all[:, rows] - y_mean) / y_std
        got_X, got_Y = getattr(data, f"X_{split}"), getattr(data, f"Y_{split}")
        assert got_X.strides == X.strides
        assert got_X.tobytes(order="A") == X.tobytes(order="A")
        assert got_Y.tobytes() == Y.tobytes()
    assert data.preprocessing["mean"] == mean.tolist()
    assert data.preprocessing["std"] == std.tolist()
