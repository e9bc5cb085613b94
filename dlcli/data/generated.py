"""Data sets dlcli makes itself: the course's planar flower, a K-arm spiral, a housing table,
a customer churn table with words as labels, and the pixels of synthetic dark and bright
pictures. Each is a formula driven by one seeded
generator, so the same arguments give the same numbers everywhere."""

from __future__ import annotations

import numpy as np

from dlcli.model.network import legacy_rng

FLOWER_CLASSES = ("red", "blue")
SYNTH_CLASSES = ("dark", "bright")
HOUSING_COLUMNS = ("size_m2", "bedrooms", "distance_km", "income_k", "price_k")
CHURN_COLUMNS = ("tenure_months", "monthly_fee", "support_calls", "contract", "region", "status")
CHURN_CLASSES = ("stays", "leaves")
CHURN_CONTRACTS = ("monthly", "yearly", "two-year")
# Added to the churn logit per contract: a month-to-month customer leaves most easily.
CHURN_CONTRACT_SHIFT = (2.0, -0.5, -3.0)
CHURN_REGIONS = ("north", "east", "south", "west")


def flower(examples: int = 400, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The course's planar "flower": two classes of petals, made exactly as ``load_planar_dataset``.

    For class j, t = linspace(3.12 j, 3.12 (j+1), N) + 0.2 N(0, 1) and r = 4 sin(4t) + 0.2 N(0, 1);
    the point is (r sin t, r cos t). Draws come from the legacy generator in the course's order.

    Returns
    -------
    X : ndarray of shape (2, examples)
    Y : ndarray of shape (1, examples), 0 for red, 1 for blue
    """
    rng = legacy_rng(seed)
    N = examples // 2
    X = np.zeros((examples, 2))
    Y = np.zeros((examples, 1))
    for j in range(2):
        ix = slice(N * j, N * (j + 1))
        t = np.linspace(j * 3.12, (j + 1) * 3.12, N) + rng.randn(N) * 0.2
        r = 4 * np.sin(4 * t) + rng.randn(N) * 0.2
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        Y[ix] = j
    return X.T, Y.T


def spiral(examples: int = 300, classes: int = 3, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A K-arm spiral, the classic multi-class toy set (CS231n's), made from the legacy generator.

    For arm j of N = examples // K points: r = linspace(0, 1, N),
    t = linspace(4 j, 4 (j+1), N) + 0.2 N(0, 1); the point is (r sin t, r cos t).

    Returns
    -------
    X : ndarray of shape (2, N K)
    Y : ndarray of shape (1, N K), the arm 0..K-1
    """
    rng = legacy_rng(seed)
    N = examples // classes
    X = np.zeros((N * classes, 2))
    Y = np.zeros((N * classes, 1))
    for j in range(classes):
        ix = slice(N * j, N * (j + 1))
        r = np.linspace(0.0, 1.0, N)
        t = np.linspace(j * 4.0, (j + 1) * 4.0, N) + rng.randn(N) * 0.2
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        Y[ix] = j
    return X.T, Y.T


def spiral_classes(classes: int) -> tuple[str, ...]:
    """The names of a spiral's arms, "arm 0" .. "arm K-1", in training and in its file alike."""
    return tuple(f"arm {j}" for j in range(classes))


def housing(examples: int = 1000, seed: int = 1) -> dict[str, np.ndarray]:
    """A generated housing table: four features and a price, every column numeric.

    With g = np.random.default_rng(seed):
    size_m2 ~ U(40, 250); bedrooms = clip(round(size_m2 / 45 + N(0, 0.7)), 1, 7);
    distance_km (to the centre) ~ U(0.5, 30); income_k (the area's median income) ~ U(20, 150);
    price_k = 1.5 size_m2 + 8 bedrooms + 250 exp(-distance_km / 6) + 1.2 income_k
              + 0.004 size_m2 income_k + N(0, 20).
    """
    g = np.random.default_rng(seed)
    size = g.uniform(40, 250, examples)
    bedrooms = np.clip(np.round(size / 45 + g.normal(0, 0.7, examples)), 1, 7)
    distance = g.uniform(0.5, 30, examples)
    income = g.uniform(20, 150, examples)
    price = (
        1.5 * size
        + 8 * bedrooms
        + 250 * np.exp(-distance / 6)
        + 1.2 * income
        + 0.004 * size * income
    )
    price = price + g.normal(0, 20, examples)
    return dict(zip(HOUSING_COLUMNS, (size, bedrooms, distance, income, price), strict=True))


def churn(examples: int = 2000, seed: int = 1) -> dict[str, np.ndarray]:
    """A generated customer churn table: three numeric columns, a categorical column that
    matters (``contract``), one that does not (``region``), a label of words (``status``,
    "stays" or "leaves") and a few missing cells.

    With g = np.random.default_rng(seed), each column drawn whole before the next:
    tenure_months = g.integers(1, 73) (1..72); monthly_fee = g.integers(2000, 12001) / 100
    (20.00..120.00, whole cents); support_calls = g.poisson(1.5); contract from
    u = g.random(): "monthly" if u < 0.5, "yearly" if u < 0.8, else "two-year";
    region = ("north", "east", "south", "west")[g.integers(0, 4)], which nothing below uses,
    so it says nothing of the label; then with the contract's shift s (monthly +2,
    yearly -0.5, two-year -3)

        z = -2 + 6 exp(-tenure_months / 12) + 0.08 (monthly_fee - 70)
            + 1.5 max(support_calls - 1, 0) + s,

    status = "leaves" if g.random() < sigmoid(z) = 1 / (1 + exp(-z)), else "stays".
    Last, cells go missing after the label is drawn (the customer's fee still counted, it was
    only not recorded): monthly_fee where g.random() < 0.02, region where g.random() < 0.03.

    Returns
    -------
    table : dict of the ``CHURN_COLUMNS``, each an ndarray of shape (examples,): tenure_months,
        monthly_fee, support_calls float64 (monthly_fee NaN where missing); contract, region,
        status object arrays of str (region None where missing)
    """
    g = np.random.default_rng(seed)
    tenure = g.integers(1, 73, examples).astype(np.float64)
    fee = g.integers(2000, 12001, examples) / 100  # whole cents, 20.00 to 120.00
    calls = g.poisson(1.5, examples).astype(np.float64)
    contract = np.searchsorted([0.5, 0.8], g.random(examples), side="right")  # 0, 1, 2
    region = g.integers(0, 4, examples)
    z = (
        -2.0
        + 6.0 * np.exp(-tenure / 12)
        + 0.08 * (fee - 70)
        + 1.5 * np.maximum(calls - 1, 0)
        + np.array(CHURN_CONTRACT_SHIFT)[contract]
    )
    leaves = g.random(examples) < 1 / (1 + np.exp(-z))
    fee[g.random(examples) < 0.02] = np.nan
    regions = np.array(CHURN_REGIONS, dtype=object)[region]
    regions[g.random(examples) < 0.03] = None
    columns = (
        tenure,
        fee,
        calls,
        np.array(CHURN_CONTRACTS, dtype=object)[contract],
        regions,
        np.array(CHURN_CLASSES, dtype=object)[leaves.astype(np.int64)],
    )
    return dict(zip(CHURN_COLUMNS, columns, strict=True))


def synth_chunk(
    g: np.random.Generator, count: int, shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """The next ``count`` synthetic pictures of ``shape`` (size, size, 3) drawn from ``g``.

    labels = g.integers(0, 2, count), then pixels = (g.bytes(count size size 3) >> 1)
    + 64 label: uniform 0..127 for a dark picture, 64..191 for a bright one; the mean
    brightness is the learnable signal. :func:`dlcli.data.write.write_synth` calls it chunk
    after chunk with one generator.

    Returns
    -------
    labels : ndarray of shape (count,), int64 0 (dark) or 1 (bright)
    pixels : ndarray of shape (count, size, size, 3), uint8
    """
    labels = g.integers(0, 2, count)
    per = int(np.prod(shape))
    pixels = np.frombuffer(g.bytes(count * per), np.uint8).reshape(count, *shape) >> 1
    pixels += (64 * labels).astype(np.uint8)[:, None, None, None]
    return labels, pixels
