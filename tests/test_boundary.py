"""Decision boundaries: boundary.png of a train run (flower, spiral, a 2-column table; none
for cat or housing) and ``dlcli evaluate --boundary``. The grid's classes are worked out
here from params.h5 with plain NumPy and compared with :func:`dlcli.boundary.grid_labels`."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import h5py
import numpy as np
import pytest
from test_evaluate import dlcli

from dlcli.boundary import BOUNDARY, axes_of, grid_labels
from dlcli.predict import load_model

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PNG_SIZE = (600, 500)  # boundary.FIGSIZE (6 x 5 inches) at 100 dpi


def train(config: str | Path, out: Path, *overrides: str) -> Path:
    sets = [arg for item in overrides for arg in ("--set", item)]
    code, _, err = dlcli("train", str(CONFIGS / config), *sets, "--quiet", "--out", str(out))
    assert code == 0, err
    return out


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's signature and IHDR chunk, read here byte by byte."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def by_hand(run: Path, U: np.ndarray) -> np.ndarray:
    """The class of each point U (2, m) in the axes' units: standardized as the stored
    preprocessing says (a table's columns), then the network written out in plain NumPy."""
    with h5py.File(run / "params.h5", "r") as f:
        p = {k: f[k][()] for k in f}
        hidden, output = f.attrs["hidden_activation"], f.attrs["output_activation"]
        prep = json.loads(f.attrs["preprocessing"])
    if prep["kind"] == "table":
        cols = prep["columns"]
        U = (U - np.array([[c["mean"]] for c in cols])) / np.array([[c["std"]] for c in cols])
    g = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0.0)}[hidden]
    A = U
    L = len(p) // 2
    for l in range(1, L):
        A = g(p[f"W{l}"] @ A + p[f"b{l}"])
    Z = p[f"W{L}"] @ A + p[f"b{L}"]
    if output == "softmax":
        return Z.argmax(axis=0)  # the largest probability is the largest logit
    return (Z[0] > 0).astype(np.int64)  # sigmoid(Z) > 0.5 exactly where Z > 0


def check_grid(run: Path, X: np.ndarray) -> None:
    """grid_labels over X (the network's inputs) equals the classes worked out by hand."""
    model = load_model(run)
    xx, yy, labels = grid_labels(model, axes_of(model), X, size=60)
    assert xx.shape == yy.shape == labels.shape == (60, 60)
    expected = by_hand(run, np.stack([xx.ravel(), yy.ravel()])).reshape(xx.shape)
    # A point within rounding of the edge may fall either side: at most a handful.
    assert np.count_nonzero(labels != expected) <= 2
    assert len(np.unique(labels)) == len(model.classes)  # every class has a region


@pytest.fixture(scope="module")
def flower(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A flower run of 1500 iterations: a boundary with both classes' regions."""
    return train("flower.yaml", tmp_path_factory.mktemp("b") / "flower", "train.iterations=1500")


def test_flower_run_writes_boundary_png(flower: Path) -> None:
    run = flower
    assert png_size(run / BOUNDARY) == PNG_SIZE
    X = np.array([[-4.0, 4.0], [-4.0, 4.0]])
    check_grid(run, X)
    model = load_model(run)
    xx, yy, _ = grid_labels(model, axes_of(model), X, size=5)
    # The course's margin of 1 around the data, in the flower's own units.
    assert xx[0].tolist() == [-5.0, -2.5, 0.0, 2.5, 5.0]
    assert yy[:, 0].tolist() == [-5.0, -2.5, 0.0, 2.5, 5.0]


def test_spiral_run_writes_boundary_png(tmp_path: Path) -> None:
    run = train("spiral.yaml", tmp_path / "spiral", "train.iterations=800")
    assert png_size(run / BOUNDARY) == PNG_SIZE
    check_grid(run, np.array([[-1.0, 1.0], [-1.0, 1.0]]))


def table_csv(path: Path) -> np.ndarray:
    """200 rows of temp_c (0..40), humidity (20..100) and weather (rain where
    humidity + temp_c / 2 > 80); returns the features (2, 200) in their units."""
    rng = np.random.default_rng(7)
    temp, humidity = rng.uniform(0, 40, 200), rng.uniform(20, 100, 200)
    rain = humidity + temp / 2 > 80
    lines = ["temp_c,humidity,weather"]
    lines += [
        f"{t:.2f},{h:.2f},{'rain' if r else 'dry'}"
        for t, h, r in zip(temp, humidity, rain, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return np.array([[float(line.split(",")[i]) for line in lines[1:]] for i in (0, 1)])


def test_two_column_table_boundary_is_in_the_columns_units(tmp_path: Path) -> None:
    raw = table_csv(tmp_path / "weather.csv")
    config = tmp_path / "weather.yaml"
    config.write_text(
        f"data: {{train: {tmp_path / 'weather.csv'}, target: weather, classes: [dry, rain]}}\n"
        "model: {layers: [2, 8, 1], hidden_activation: relu, output_activation: sigmoid}\n"
        "init: {scale: he, seed: 1}\n"
        "train: {optimizer: adam, learning_rate: 0.05, iterations: 300, log_every: 100}\n"
    )
    run = train(config, tmp_path / "weather")
    assert png_size(run / BOUNDARY) == PNG_SIZE
    model = load_model(run)
    axes = axes_of(model)
    assert axes.names == ("temp_c", "humidity")
    mean, std = raw.mean(axis=1), raw.std(axis=1)
    X = (raw - mean[:, None]) / std[:, None]  # the network's inputs
    xx, yy, _ = grid_labels(model, axes, X, size=3)
    # One standard deviation of margin: the network's 1 in the column's own units.
    np.testing.assert_allclose(xx[0, [0, 2]], [raw[0].min() - std[0], raw[0].max() + std[0]])
    np.testing.assert_allclose(yy[[0, 2], 0], [raw[1].min() - std[1], raw[1].max() + std[1]])
    check_grid(run, X)


def test_no_boundary_for_cat_or_housing_and_evaluate_refuses(
    tmp_path: Path, cat_overrides: list[str]
) -> None:
    cat = train("cat_2layer.yaml", tmp_path / "cat", *cat_overrides, "train.iterations=2")
    housing = train("housing.yaml", tmp_path / "housing", "train.iterations=5")
    for run in (cat, housing):
        assert (run / "metrics.json").is_file()
        assert not (run / BOUNDARY).exists()
    out = tmp_path / "b.png"
    code, stdout, err = dlcli("evaluate", "--model", str(cat), "--boundary", str(out))
    assert (code, stdout) == (1, "")
    assert err == (
        f"dlcli: error: --boundary: the model {cat / 'params.h5'} takes 12288 inputs; a "
        "decision boundary is drawn for a model of 2 inputs (e.g. flower, spiral, a table "
        "of 2 numeric columns)\n"
    )
    code, stdout, err = dlcli("evaluate", "--model", str(housing), "--boundary", str(out))
    assert (code, stdout) == (1, "")
    assert err == (
        f"dlcli: error: --boundary: the model {housing / 'params.h5'} has a linear output (it "
        "predicts values, not classes); a decision boundary is drawn for a sigmoid or "
        "softmax output\n"
    )
    code, _, err = dlcli(
        "evaluate", "--model", str(housing), "--boundary", str(tmp_path / "no" / "b.png")
    )
    assert code == 1 and "--boundary" in err
    assert not out.exists()


def test_evaluate_boundary_draws_the_test_split(tmp_path: Path) -> None:
    run = train("spiral.yaml", tmp_path / "spiral", "train.iterations=300")
    out = tmp_path / "test_boundary.png"
    code, stdout, err = dlcli("evaluate", "--model", str(run), "--boundary", str(out))
    assert code == 0, err
    assert stdout.endswith(f"decision boundary drawn in {out}\n")
    assert png_size(out) == PNG_SIZE
    code, _, err = dlcli("evaluate", "--model", str(run), "--boundary", str(out), "--json")
    assert code == 0, err


def test_grid_follows_the_threshold(flower: Path) -> None:
    model = load_model(flower)
    X = np.array([[-4.0, 4.0], [-4.0, 4.0]])
    _, _, plain = grid_labels(model, axes_of(model), X, size=40)
    _, _, low = grid_labels(model, axes_of(model), X, size=40, threshold=0.1)
    _, _, high = grid_labels(model, axes_of(model), X, size=40, threshold=0.9)
    # A lower threshold only adds label-1 points, a higher one only takes them away.
    assert np.all(low >= plain) and low.sum() > plain.sum()
    assert np.all(high <= plain) and high.sum() < plain.sum()
