"""Regression on tables after training: ``data housing`` writes the generated table as CSV,
``train`` learns it, ``predict --csv`` writes each row's prediction in the target's units
(the network's output computed here from params.h5 and the stored mean and std), and
``evaluate`` reports mse, mae and R^2. CSV mistakes are one line on stderr and exit 1."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from dlcli.cli import app
from dlcli.data.generated import HOUSING_COLUMNS, housing
from dlcli.data.tables import read_csv_table
from dlcli.runs import write_params

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
FEATURES = ["size_m2", "bedrooms", "distance_km", "income_k"]


def dlcli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def table_config(path: Path, train: str = "houses.csv", **data: object) -> Path:
    """A small regression config on a CSV table: 4 features -> 8 relu -> 1 linear."""
    config = {
        "data": {"train": train, "target": "price_k", "test_fraction": 0.2, **data},
        "model": {"layers": [4, 8, 1], "hidden_activation": "relu", "output_activation": "linear"},
        "init": {"scale": "he", "seed": 1},
        "train": {"learning_rate": 0.05, "iterations": 60, "log_every": 20},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def number(value: float) -> str:
    """The shortest text that reads back as the same float64."""
    return repr(float(value))


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def network_output(run_dir: Path, columns: dict[str, np.ndarray]) -> np.ndarray:
    """The model's prediction for raw table columns, computed here with plain NumPy from the
    weights and the mean and std stored in params.h5. Returns shape (m,), in price_k."""
    with h5py.File(run_dir / "params.h5", "r") as f:
        w = {k: f[k][()] for k in f}
        prep = json.loads(f.attrs["preprocessing"])
    X = np.stack([columns[name] for name in prep["features"]])  # (4, m)
    Xs = (X - np.array(prep["mean"])[:, None]) / np.array(prep["std"])[:, None]
    Z = w["W2"] @ np.maximum(0, w["W1"] @ Xs + w["b1"]) + w["b2"]  # (1, m), standardized
    return Z[0] * prep["target_std"] + prep["target_mean"]


@pytest.fixture
def houses(in_tmp: Path) -> Path:
    code, out, err = dlcli("data", "housing", "--out", "houses.csv", "--examples", "200")
    assert code == 0, err
    assert out.splitlines() == [
        "wrote houses.csv: 200 rows, columns size_m2, bedrooms, distance_km, income_k, price_k",
        "Train on it: dlcli train configs/housing.yaml --set data.generate=null "
        "--set data.train=houses.csv --set data.target=price_k",
    ]
    return in_tmp / "houses.csv"


# ---------------------------------------------------------------- data housing


def test_housing_csv_reads_back_bit_for_bit(houses: Path) -> None:
    assert houses.read_text().splitlines()[0] == ",".join(HOUSING_COLUMNS)
    table, generated = read_csv_table(houses), housing(200, 1)
    assert list(table) == list(HOUSING_COLUMNS)
    for name in HOUSING_COLUMNS:
        assert table[name].tobytes() == generated[name].tobytes()
    # So training on the file is training on data.generate housing, to the last bit.
    base = [str(CONFIGS / "housing.yaml"), "--quiet", "--set", "train.iterations=40"]
    generate = ["--set", "data.generate.examples=200"]
    assert dlcli("train", *base, *generate, "--out", "runs/gen")[0] == 0
    code, _, err = dlcli(
        "train", *base, "--set", "data.generate=null", "--set", "data.train=houses.csv",
        "--set", "data.target=price_k", "--out", "runs/csv",
    )  # fmt: skip
    assert code == 0, err
    assert Path("runs/csv/costs.csv").read_text() == Path("runs/gen/costs.csv").read_text()

    code, _, err = dlcli("data", "housing", "--out", "h.csv", "--examples", "3", "--seed", "9")
    assert code == 0, err
    assert read_csv_table(Path("h.csv"))["price_k"].tobytes() == housing(3, 9)["price_k"].tobytes()
    for args, message in [
        (["--out", "houses.csv"], "--out houses.csv: exists already; pass --force to replace it"),
        (["--examples", "0"], "--examples: must be 1 to 10000000, found 0"),
        (["--out", "."], "--out .: is a directory, expected a file name ending in .csv"),
    ]:
        code, _, err = dlcli("data", "housing", "--out", "new.csv", *args)
        assert (code, err) == (1, f"dlcli: error: {message}\n")


# ---------------------------------------------------------------- the round trip


def test_csv_to_train_to_predict_csv(houses: Path) -> None:
    """data housing -> train on the CSV -> predict --csv: each row's prediction is what the
    weights and the stored standardization give, and the input rows come back unchanged."""
    code, out, err = dlcli("train", str(table_config(Path("c.yaml"))), "--quiet", "--json",
                           "--out", "runs/h")  # fmt: skip
    assert code == 0, err
    trained = json.loads(out)
    with h5py.File("runs/h/params.h5", "r") as f:
        prep = json.loads(f.attrs["preprocessing"])
    assert prep["kind"] == "table" and prep["features"] == FEATURES
    assert prep["target"] == "price_k"

    # New houses: columns in another order, an id and a text note, no price.
    new = housing(7, 42)
    with open("new_houses.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "income_k", "note", "distance_km", "bedrooms", "size_m2"])
        for i in range(7):
            writer.writerow([
                f"h{i:03d}", number(new["income_k"][i]), "near a park, quiet",
                number(new["distance_km"][i]), number(new["bedrooms"][i]), number(new["size_m2"][i]),
            ])  # fmt: skip
    expected = network_output(Path("runs/h"), new)

    code, out, err = dlcli("predict", "--model", "runs/h", "--csv", "new_houses.csv")
    assert code == 0, err
    assert err == ""
    rows = list(csv.reader(out.splitlines()))
    original = list(csv.reader(Path("new_houses.csv").read_text().splitlines()))
    assert rows[0] == [*original[0], "predicted_price_k"]
    assert [row[:-1] for row in rows[1:]] == original[1:]  # every input cell as it was
    got = np.array([float(row[-1]) for row in rows[1:]])
    # Full precision: the text reads back as the float64 dlcli computed. Block-wise matrix
    # products may sum in another order than the single product here (a last-bit difference).
    np.testing.assert_allclose(got, expected, rtol=1e-14)
    assert all(row[-1] == repr(float(row[-1])) for row in rows[1:])

    code, out, err = dlcli("predict", "--model", "runs/h", "--csv", "new_houses.csv",
                           "--out", "predictions.csv")  # fmt: skip
    assert code == 0, err
    assert out == (
        "wrote predictions.csv: 7 rows, the columns of new_houses.csv and predicted_price_k\n"
    )
    assert [r["predicted_price_k"] for r in read_rows(Path("predictions.csv"))] == [
        row[-1] for row in rows[1:]
    ]
    code, out, err = dlcli("predict", "--model", "runs/h", "--csv", "new_houses.csv", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["column"] == "predicted_price_k" and report["rows"] == 7
    assert report["predictions"] == got.tolist()

    # The training table itself, target column and all: evaluate agrees with predict.
    code, out, err = dlcli("predict", "--model", "runs/h", "--csv", "houses.csv")
    assert code == 0, err
    predicted = np.array([float(r["predicted_price_k"]) for r in csv.DictReader(out.splitlines())])
    price = read_csv_table(houses)["price_k"]
    code, out, err = dlcli("evaluate", "--model", "runs/h", "houses.csv", "--json")
    assert code == 0, err
    metrics = json.loads(out)
    assert set(metrics) == {"mse", "mae", "r2", "examples", "target", "model", "data"}
    assert metrics["target"] == "price_k" and metrics["examples"] == 200
    assert metrics["mse"] == pytest.approx(np.mean((predicted - price) ** 2), rel=1e-12)
    assert metrics["mae"] == pytest.approx(np.mean(np.abs(predicted - price)), rel=1e-12)
    r2 = 1 - np.sum((predicted - price) ** 2) / np.sum((price - price.mean()) ** 2)
    assert metrics["r2"] == pytest.approx(r2, rel=1e-12)

    # With no DATA: the data.test_fraction split of houses.csv made again, as training tested.
    code, out, err = dlcli("evaluate", "--model", "runs/h", "--json")
    assert code == 0, err
    split = json.loads(out)
    assert split["examples"] == trained["test_examples"] == 40
    for key in ("mse", "mae", "r2"):
        assert split[key] == pytest.approx(trained[f"test_{key}"], rel=1e-12)
    assert split["data"] == [
        "the test split of houses.csv: data.test_fraction 0.2, data.split_seed 1, 40 examples"
    ]
    code, table, _ = dlcli("evaluate", "--model", "runs/h")
    assert "price_k (mse, mae in its units)" in table and f"{split['r2']:.6f}" in table

    # If the file changed since, its split is not the one the model was tested on.
    assert dlcli("data", "housing", "--out", "houses.csv", "--examples", "200",
                 "--seed", "2", "--force")[0] == 0  # fmt: skip
    code, _, err = dlcli("evaluate", "--model", "runs/h")
    assert code == 1
    assert err == (
        "dlcli: data error: --model runs/h/params.h5: houses.csv is not the data the model was "
        "trained on (other columns, classes or values), so its test split cannot be made again; "
        "pass DATA files (CSV tables) to evaluate on\n"
    )


def test_text_columns_outside_the_features_are_fine(in_tmp: Path) -> None:
    """data.features names the columns; another column may hold text."""
    generated = housing(30, 3)
    with open("houses.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["address", *HOUSING_COLUMNS])
        for i in range(30):
            writer.writerow([f"{i} Main St", *(number(generated[c][i]) for c in HOUSING_COLUMNS)])
    config = table_config(Path("c.yaml"), features=FEATURES)
    code, _, err = dlcli("train", str(config), "--quiet", "--out", "runs/t")
    assert code == 0, err
    # Without data.features every column but the target is a feature, and must be a number.
    config = table_config(Path("c.yaml"))
    code, out, err = dlcli("train", str(config), "--quiet")
    assert (code, out) == (1, "")
    assert err == (
        "dlcli: data error: data.train: houses.csv: line 2, column 'address': '0 Main St' is "
        "not a number; features and the target must be numbers; to leave this column out, list "
        "the feature columns in data.features\n"
    )


# ---------------------------------------------------------------- CSV mistakes through train

HEADER = "size_m2,bedrooms,distance_km,income_k,price_k\n"
ROW = "100,2,5,60,400\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            HEADER + ROW + "120,3,4.5,n/a,500\n",
            "data.train: bad.csv: line 3, column 'income_k': 'n/a' is not a number; features "
            "and the target must be numbers; to leave this column out, list the feature columns "
            "in data.features",
        ),
        (
            HEADER.replace("price_k", "price") + ROW,
            "data.target: 'price_k' is not a column of bad.csv; columns: ['size_m2', 'bedrooms', "
            "'distance_km', 'income_k', 'price']",
        ),
        (
            "",
            "data.train: bad.csv: empty; expected a header row of column names, then rows of numbers",
        ),
        (HEADER, "data.train: bad.csv: holds a header but zero rows; at least 1 is needed"),
        (
            HEADER + ROW + "\n" + "120,3,4.5,500\n",
            "data.train: bad.csv: line 4 has 4 values, the header names 5 columns",
        ),
        (
            HEADER + ROW + "120,3,inf,70,500\n",
            "data.train: bad.csv: line 3, column 'distance_km' is not finite; all values must be",
        ),
        (
            "size,size,price_k\n1,2,3\n",
            "data.train: bad.csv: the header names column 'size' twice; names must differ",
        ),
    ],
    ids=["non-numeric", "missing-target", "empty", "no-rows", "ragged", "infinite", "twice"],
)
def test_csv_errors_through_train(in_tmp: Path, text: str, message: str) -> None:
    Path("bad.csv").write_text(text)
    code, out, err = dlcli("train", str(table_config(Path("c.yaml"), train="bad.csv")))
    assert (code, out) == (1, "")
    assert err == f"dlcli: data error: {message}\n"
    assert not Path("runs").exists()  # nothing written


def test_missing_feature_through_train(in_tmp: Path) -> None:
    Path("bad.csv").write_text(HEADER + ROW + ROW)
    config = table_config(Path("c.yaml"), train="bad.csv", features=["size_m2", "rooms"])
    code, _, err = dlcli("train", str(config))
    assert code == 1
    assert err == (
        "dlcli: data error: data.features: 'rooms' is not a column of bad.csv; columns: "
        "['size_m2', 'bedrooms', 'distance_km', 'income_k', 'price_k']\n"
    )


# ---------------------------------------------------------------- predict --csv mistakes


@pytest.fixture
def table_run(houses: Path) -> Path:
    code, _, err = dlcli("train", str(table_config(Path("c.yaml"))), "--quiet", "--out", "runs/h")
    assert code == 0, err
    return Path("runs/h")


def test_predict_csv_errors(table_run: Path) -> None:
    def predict(*args: str) -> str:
        code, out, err = dlcli("predict", "--model", "runs/h", *args)
        assert (code, out) == (1, "")
        assert err.count("\n") == 1
        return err

    Path("rooms.csv").write_text("size_m2,rooms,distance_km,income_k\n100,2,5,60\n")
    assert predict("--csv", "rooms.csv") == (
        "dlcli: data error: --csv: rooms.csv: has no column 'bedrooms', a feature of the model "
        "runs/h/params.h5; its columns: ['size_m2', 'rooms', 'distance_km', 'income_k']; the "
        "model needs ['size_m2', 'bedrooms', 'distance_km', 'income_k']\n"
    )
    Path("text.csv").write_text("size_m2,bedrooms,distance_km,income_k\n100,two,5,60\n")
    assert predict("--csv", "text.csv") == (
        "dlcli: data error: --csv: text.csv: line 2, column 'bedrooms': 'two' is not a number; "
        "the model's columns must hold numbers\n"
    )
    Path("again.csv").write_text(
        "size_m2,bedrooms,distance_km,income_k,predicted_price_k\n1,2,3,4,5\n"
    )
    assert predict("--csv", "again.csv") == (
        "dlcli: data error: --csv: again.csv: already has a column 'predicted_price_k'; "
        "predict adds it, so remove it first\n"
    )
    assert predict("--csv", "gone.csv") == "dlcli: data error: --csv: gone.csv: no such file\n"
    Path("empty.csv").write_text("")
    assert predict("--csv", "empty.csv").startswith("dlcli: data error: --csv: empty.csv: empty;")
    Image.new("RGB", (4, 4)).save("p.png")
    assert predict("p.png") == (
        "dlcli: model file error: --model runs/h/params.h5: a table model, it takes the columns "
        "['size_m2', 'bedrooms', 'distance_km', 'income_k'], not pictures; predict its rows "
        "with dlcli predict --csv FILE.csv\n"
    )
    assert predict("--csv", "rooms.csv", "p.png") == (
        "dlcli: error: --csv: give pictures or --csv FILE.csv, not both\n"
    )
    assert predict() == (
        "dlcli: error: nothing to predict: give pictures (IMAGE_OR_DIR ...) or, for a table "
        "model, --csv FILE.csv\n"
    )
    Path("ok.csv").write_text("size_m2,bedrooms,distance_km,income_k\n100,2,5,60\n")
    assert dlcli("predict", "--model", "runs/h", "--csv", "ok.csv", "--out", "o.csv")[0] == 0
    assert predict("--csv", "ok.csv", "--out", "o.csv") == (
        "dlcli: error: --out o.csv: exists already; pass --force to replace it\n"
    )
    assert dlcli("predict", "--model", "runs/h", "--csv", "ok.csv", "--out", "o.csv",
                 "--force")[0] == 0  # fmt: skip
    assert predict("p.png", "--out", "o.csv") == (
        "dlcli: error: --out: goes with --csv (a table's predictions); picture predictions "
        "print on stdout\n"
    )
    assert predict("--csv", "ok.csv", "--threshold", "0.5") == (
        "dlcli: error: --threshold: the model runs/h/params.h5 has a linear output and predicts "
        "values; a threshold applies to a sigmoid output only\n"
    )
    # evaluate: the table needs the target too, and HDF5 files are not tables.
    code, _, err = dlcli("evaluate", "--model", "runs/h", "ok.csv")
    assert code == 1
    assert err == (
        "dlcli: data error: DATA.csv: ok.csv: has no column 'price_k', the target of the model "
        "runs/h/params.h5; its columns: ['size_m2', 'bedrooms', 'distance_km', 'income_k']; "
        "the model needs ['size_m2', 'bedrooms', 'distance_km', 'income_k', 'price_k']\n"
    )
    assert dlcli("data", "flower", "--out", "flower.h5")[0] == 0
    code, _, err = dlcli("evaluate", "--model", "runs/h", "flower.h5")
    assert code == 1
    assert err.startswith("dlcli: data error: DATA.csv: flower.h5: not a .csv file; the model ")


def test_csv_to_a_picture_model_is_refused(houses: Path) -> None:
    meta = {
        "layers": [12, 1], "hidden_activation": "relu", "output_activation": "sigmoid",
        "classes": ["no", "yes"],
        "preprocessing": {"kind": "image", "example_shape": [2, 2, 3], "divide_by": 255.0},
    }  # fmt: skip
    write_params(Path("pic.h5"), {"W1": np.zeros((1, 12)), "b1": np.zeros((1, 1))}, meta)
    code, out, err = dlcli("predict", "--model", "pic.h5", "--csv", "houses.csv")
    assert (code, out) == (1, "")
    assert err == (
        "dlcli: error: --csv houses.csv: the model pic.h5 takes pictures of shape (2, 2, 3), "
        "not a CSV table; --csv is for models trained on one (data.train: FILE.csv or "
        "data.generate housing)\n"
    )
    code, _, err = dlcli("evaluate", "--model", "pic.h5", "houses.csv")
    assert code == 1
    assert err == (
        "dlcli: data error: DATA.csv: houses.csv: a CSV table, but the model pic.h5 takes "
        "pictures of shape (2, 2, 3) from course-layout HDF5 files; CSV tables are for models "
        "trained on a table\n"
    )


# ---------------------------------------------------------------- the shipped config


def test_shipped_housing_config_r2(in_tmp: Path) -> None:
    """configs/housing.yaml through the installed dlcli: test R^2 above 0.95, and evaluate
    on the regenerated test split reports the same."""
    command = [sys.executable, "-m", "dlcli"]
    done = subprocess.run(
        [*command, "train", str(CONFIGS / "housing.yaml"), "--quiet", "--json", "--out", "runs/h"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    metrics = json.loads(done.stdout)
    assert metrics["test_examples"] == 200
    assert metrics["test_r2"] > 0.95
    done = subprocess.run(
        [*command, "evaluate", "--model", "runs/h", "--json"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    evaluated = json.loads(done.stdout)
    assert evaluated["r2"] == pytest.approx(metrics["test_r2"], rel=1e-12)
    assert evaluated["target"] == "price_k"


def test_a_table_model_file_must_say_how_to_standardize(in_tmp: Path) -> None:
    from dlcli.errors import ModelFileError
    from dlcli.predict import load_model

    prep = {
        "kind": "table", "features": ["a", "b"], "mean": [0.0, 1.0], "std": [1.0, 0.0],
        "target": "y", "target_mean": 0.0, "target_std": 1.0,
    }  # fmt: skip
    meta = {"hidden_activation": "relu", "output_activation": "linear", "classes": []}
    params = {"W1": np.ones((1, 2)), "b1": np.zeros((1, 1))}
    write_params(Path("m.h5"), params, {**meta, "preprocessing": prep})
    with pytest.raises(ModelFileError) as info:
        load_model(Path("m.h5"))
    assert str(info.value).endswith(
        "allowed for a table: features (names), mean and std (numbers, std > 0), each a list "
        "of W1's 2 columns, a target name, target_mean and target_std > 0"
    )
    write_params(Path("m.h5"), params, {**meta, "preprocessing": {**prep, "std": [1.0, 2.0]}})
    assert load_model(Path("m.h5")).is_table


def test_metrics_that_overflow_are_null_in_strict_json(in_tmp: Path) -> None:
    # A test row 1e200 times out of the training range: the linear model's prediction is
    # finite but its square overflows, so test mse and R^2 are inf. metrics.json and --json
    # write them as null (strict JSON: no NaN or Infinity, which most parsers refuse).
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 10, 40)
    rows = "".join(f"{float(a)!r},{float(2 * a + 1 + rng.normal(0, 0.1))!r}\n" for a in x)
    (in_tmp / "train.csv").write_text("x,y\n" + rows)
    (in_tmp / "test.csv").write_text("x,y\n1,3\n1e200,5\n")
    config = {
        "data": {"train": "train.csv", "test": "test.csv", "target": "y"},
        "model": {
            "layers": [1, 4, 1],
            "hidden_activation": "linear",
            "output_activation": "linear",
        },
        "train": {"learning_rate": 0.05, "iterations": 50},
    }
    (in_tmp / "cfg.yaml").write_text(yaml.safe_dump(config))
    code, out, err = dlcli("train", "cfg.yaml", "--json")
    assert (code, err.count("Warning")) == (0, 0), err

    def refuse(constant: str) -> None:
        pytest.fail(f"not strict JSON: {constant}")

    printed = json.loads(out, parse_constant=refuse)
    written = json.loads(
        (in_tmp / "runs" / "cfg" / "metrics.json").read_text(), parse_constant=refuse
    )
    assert printed == written
    assert (printed["test_mse"], printed["test_r2"]) == (None, None)
    assert printed["test_mae"] > 1e198 and printed["train_r2"] < 1
    # evaluate measures the same test set the same way.
    code, out, err = dlcli("evaluate", "--json")
    assert (code, err) == (0, "")
    evaluated = json.loads(out, parse_constant=refuse)
    assert (evaluated["mse"], evaluated["r2"], evaluated["mae"]) == (
        None,
        None,
        printed["test_mae"],
    )
