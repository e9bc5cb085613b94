"""The generated data sets pinned to values worked out here, not to dlcli's own output:
the spiral and housing formulas written out point by point in plain Python, a few spiral
points as stored figures with their arithmetic, and ``dlcli data synth``'s pixels rebuilt
from the documented draws."""

from __future__ import annotations

import math
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from dlcli.cli import app
from dlcli.data.generated import housing, spiral

# ---------------------------------------------------------------- spiral


def spiral_by_hand(examples: int, classes: int, seed: int) -> tuple[list, list]:
    """Point i of arm j (N = examples // classes per arm): r = i / (N - 1),
    t = 4 j + 4 i / (N - 1) + 0.2 z, where z is the (j N + i)-th draw of the legacy stream
    (one randn of N per arm in arm order reads the stream straight through)."""
    N = examples // classes
    z = np.random.RandomState(seed).randn(N * classes).tolist()
    points, labels = [], []
    for j in range(classes):
        for i in range(N):
            r = i / (N - 1)
            t = 4 * j + 4 * i / (N - 1) + 0.2 * z[j * N + i]
            points.append((r * math.sin(t), r * math.cos(t)))
            labels.append(j)
    return points, labels


@pytest.mark.parametrize(("examples", "classes", "seed"), [(300, 3, 1), (40, 4, 7), (10, 2, 0)])
def test_spiral_is_the_formula_point_by_point(examples: int, classes: int, seed: int) -> None:
    X, Y = spiral(examples, classes, seed)
    points, labels = spiral_by_hand(examples, classes, seed)
    assert X.shape == (2, examples) and Y.shape == (1, examples)
    # linspace and i / (N - 1) may round t differently in the last bit: 1e-12 is room enough.
    np.testing.assert_allclose(X.T, points, rtol=0, atol=1e-12)
    assert Y[0].tolist() == labels


@pytest.mark.parametrize(
    ("index", "x", "y"),
    [
        # N = 3 per arm, r = 0, 0.5, 1; arm 0's t = 0, 2, 4 plus 0.2 z[0..2], z the legacy
        # RandomState(1).randn stream, whose 1.62434536, -0.61175641, -0.52817175, -1.07296862,
        # 0.86540763 the course's notebooks print (z[8] = 0.31903909605709857).
        (0, 0.0, 0.0),  # r = 0: the centre, whatever t is
        # t = 2 + 0.2 * -0.6117564136500754 = 1.877648717269985;
        # 0.5 sin t = 0.5 * 0.9532890561772284, 0.5 cos t = 0.5 * -0.30205955600299944
        (1, 0.4766445280886142, -0.15102977800149972),
        # t = 4 + 0.2 * -0.5281717522634557 = 3.894365649547309; (sin t, cos t) with r = 1
        (2, -0.6836651069673988, -0.7297958766088332),
        # arm 1: t = 4 + 2 + 0.2 * 0.8654076293246785 = 6.173081525864935, r = 0.5
        (4, -0.054940727158177036, 0.4969723498338019),
        # arm 2: t = 8 + 4 + 0.2 * 0.31903909605709857 = 12.06380781921142, r = 1
        (8, -0.4816730260604413, 0.8763510118472948),
    ],
)
def test_spiral_stored_points(index: int, x: float, y: float) -> None:
    X, Y = spiral(9, 3, 1)
    assert X[:, index].tolist() == pytest.approx([x, y], rel=0, abs=1e-12)
    assert Y[0, index] == index // 3


# ---------------------------------------------------------------- housing


def housing_by_hand(examples: int, seed: int) -> list[tuple[float, ...]]:
    """The documented draws in their order, each column whole before the next:
    size = 40 + 210 u, bedroom noise 0.7 z, distance = 0.5 + 29.5 u, income = 20 + 130 u,
    price noise 20 z (u uniform in [0, 1), z standard normal, from default_rng(seed)); then
    every row's price from the formula in plain Python."""
    g = np.random.default_rng(seed)
    size = (40 + 210 * g.random(examples)).tolist()
    bedroom_noise = (0.7 * g.standard_normal(examples)).tolist()
    distance = (0.5 + 29.5 * g.random(examples)).tolist()
    income = (20 + 130 * g.random(examples)).tolist()
    price_noise = (20 * g.standard_normal(examples)).tolist()
    rows = []
    for s, e, d, inc, n in zip(size, bedroom_noise, distance, income, price_noise, strict=True):
        bedrooms = float(min(7, max(1, round(s / 45 + e))))
        price = 1.5 * s + 8 * bedrooms + 250 * math.exp(-d / 6) + 1.2 * inc + 0.004 * s * inc
        rows.append((s, bedrooms, d, inc, price + n))
    return rows


@pytest.mark.parametrize(("examples", "seed"), [(1000, 1), (37, 12345)])
def test_housing_is_the_formula_row_by_row(examples: int, seed: int) -> None:
    table = housing(examples, seed)
    assert list(table) == ["size_m2", "bedrooms", "distance_km", "income_k", "price_k"]
    got = np.column_stack(list(table.values()))  # (examples, 5)
    expected = np.array(housing_by_hand(examples, seed))
    assert got.shape == expected.shape == (examples, 5)
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=0)
    assert set(np.unique(got[:, 1])) <= {1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0}
    assert got[:, 0].min() >= 40 and got[:, 0].max() < 250
    assert got[:, 2].min() >= 0.5 and got[:, 2].max() < 30


def test_housing_price_of_a_stored_row() -> None:
    """One row's price from its own features, the formula's terms worked out by hand for
    size 100, 2 bedrooms, 6 km, income 50: 150 + 16 + 250 e^-1 + 60 + 20 = 246 + 250/e
    = 337.96986... The generator's noise is the price minus the formula."""
    terms = 1.5 * 100 + 8 * 2 + 250 * math.exp(-6 / 6) + 1.2 * 50 + 0.004 * 100 * 50
    assert terms == pytest.approx(246 + 250 / math.e, rel=1e-15)
    assert terms == pytest.approx(337.9698603, abs=1e-7)
    table = housing(200, 3)
    s, b, d, inc, p = (table[k] for k in table)
    noise = p - (1.5 * s + 8 * b + 250 * np.exp(-d / 6) + 1.2 * inc + 0.004 * s * inc)
    # N(0, 20) noise: its mean and spread over 200 rows, far from any other formula's.
    assert abs(noise.mean()) < 4 and 15 < noise.std() < 25


# ---------------------------------------------------------------- synth


def synth_by_hand(examples: int, size: int, seed: int, chunk: int) -> tuple[np.ndarray, list]:
    """Chunk after chunk, c pictures: labels = integers(0, 2, c), then c size size 3 random
    bytes; each pixel is its byte halved (floor) plus 64 for a bright (label 1) picture."""
    g = np.random.default_rng(seed)
    per = size * size * 3
    pictures, labels = [], []
    for start in range(0, examples, chunk):
        c = min(chunk, examples - start)
        chunk_labels = g.integers(0, 2, c).tolist()
        raw = g.bytes(c * per)
        for k, label in enumerate(chunk_labels):
            pixels = [byte // 2 + 64 * label for byte in raw[k * per : (k + 1) * per]]
            pictures.append(np.array(pixels).reshape(size, size, 3))
            labels.append(label)
    return np.array(pictures), labels


@pytest.mark.parametrize(("examples", "size", "seed", "chunk"), [(5, 2, 3, 2), (40, 4, 1, 16)])
def test_synth_file_is_the_documented_draws(
    examples: int, size: int, seed: int, chunk: int, tmp_path: Path
) -> None:
    out = tmp_path / "synth.h5"
    args = ["--examples", examples, "--size", size, "--seed", seed, "--chunk", chunk]
    result = CliRunner().invoke(app, ["data", "synth", "--out", str(out), *map(str, args)])
    assert result.exit_code == 0, result.output
    pictures, labels = synth_by_hand(examples, size, seed, chunk)
    with h5py.File(out, "r") as f:
        x, y = f["train_set_x"][()], f["train_set_y"][()]
        assert f["list_classes"][()].tolist() == [b"dark", b"bright"]
    assert x.dtype == np.uint8 and x.shape == (examples, size, size, 3)
    assert y.dtype == np.int64 and y.tolist() == labels
    assert x.tolist() == pictures.tolist()
    # The documented ranges: dark 0..127, bright 64..191.
    assert x[y == 0].max() <= 127 and x[y == 1].min() >= 64 and x.max() <= 191
