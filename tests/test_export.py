"""dlcli export: ONNX files run by onnxruntime (not dlcli) and the NumPy script run in an
isolated Python give what ``dlcli predict`` gives: probabilities to 1e-12 relative in
float64 (1e-5 in float32), the same labels; the model card in every run; each bad case one
line, exit 1, nothing left behind."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from PIL import Image
from typer.testing import CliRunner

from dlcli import __version__
from dlcli.cli import app

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
CAT = Path(
    os.environ.get(
        "DLCLI_CATVNONCAT", Path(__file__).resolve().parents[2] / "shared/data/catvnoncat"
    )
)


def dlcli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def train(config: Path | str, out: str, *sets: str) -> Path:
    args = ["train", str(config), "--out", out, "--quiet"]
    for item in sets:
        args += ["--set", item]
    code, _, err = dlcli(*args)
    assert code == 0, err
    return Path(out)


def session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def cat_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, dict]:
    """cat_4layer for 300 iterations; the 50 test pictures (uint8) as PNG files and dlcli
    predict's JSON answer for them."""
    root = tmp_path_factory.mktemp("cat")
    run = train(
        CONFIGS / "cat_4layer.yaml",
        str(root / "run"),
        f"data.train={CAT / 'train_catvnoncat.h5'}",
        f"data.test={CAT / 'test_catvnoncat.h5'}",
        "train.iterations=300",
    )
    with h5py.File(CAT / "test_catvnoncat.h5", "r") as f:
        pictures = f["test_set_x"][()]  # (50, 64, 64, 3) uint8
    folder = root / "pictures"
    folder.mkdir()
    for i, picture in enumerate(pictures):
        Image.fromarray(picture).save(folder / f"{i:02d}.png")
    code, out, err = dlcli("predict", "--model", str(run), "--json", str(folder))
    assert code == 0, err
    return run, pictures, json.loads(out)


def predicted(answer: list[dict]) -> tuple[np.ndarray, list[str]]:
    """Each picture's label and that label's probability, in file order, from dlcli
    predict's JSON."""
    rows = sorted(answer, key=lambda row: row["path"])
    return np.array([row["probability"] for row in rows]), [row["label"] for row in rows]


def of_label(AL: np.ndarray, labels: list[str]) -> np.ndarray:
    """AL (m,), the probability of cat, as the probability of each label (predict's)."""
    return np.where(np.array(labels) == "cat", AL, 1.0 - AL)


@pytest.mark.parametrize(("dtype", "rtol"), [("float64", 1e-12), ("float32", 1e-5)])
def test_cat_model_onnx_on_the_50_test_pictures(
    cat_run, tmp_path: Path, dtype: str, rtol: float
) -> None:
    run, pictures, answer = cat_run
    out = tmp_path / "cat.onnx"
    code, text, err = dlcli("export", str(run), "--out", str(out), "--dtype", dtype)
    assert (code, err) == (0, "")
    assert (
        text
        == f"exported {run / 'params.h5'} as onnx ({dtype}): {out}, {tmp_path / 'cat.card.md'}\n"
    )
    onnx.checker.check_model(onnx.load(out), full_check=True)
    probabilities, label = session(out).run(None, {"pictures": pictures})
    assert probabilities.shape == (50, 1) and probabilities.dtype == np.dtype(dtype)
    p, labels = predicted(answer)
    assert [["non-cat", "cat"][k] for k in label] == labels
    np.testing.assert_allclose(
        of_label(probabilities[:, 0].astype(np.float64), labels), p, rtol=rtol
    )
    meta = {p.key: p.value for p in onnx.load(out).metadata_props}
    assert json.loads(meta["classes"]) == ["non-cat", "cat"]
    assert meta["dlcli_version"] == __version__
    assert json.loads(meta["config"])["model"]["layers"] == [12288, 20, 7, 5, 1]
    assert (tmp_path / "cat.card.md").read_text() == (run / "card.md").read_text()


def test_numpy_script_gives_dlcli_predicts_answer(cat_run, tmp_path: Path) -> None:
    run, pictures, answer = cat_run
    code, _, err = dlcli("export", str(run), "--format", "numpy", "--out", str(tmp_path / "np"))
    assert (code, err) == (0, "")
    script = (tmp_path / "np" / "predict.py").read_text()
    assert len(script.splitlines()) <= 50
    with np.load(tmp_path / "np" / "model.npz", allow_pickle=False) as arrays:
        assert arrays["W1"].shape == (20, 12288) and str(arrays["output"]) == "sigmoid"
    np.save(tmp_path / "pictures.npy", pictures)
    done = subprocess.run(
        [sys.executable, "-I", "predict.py", "model.npz", str(tmp_path / "pictures.npy")],
        cwd=tmp_path / "np", capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows = [line.split(" ") for line in done.stdout.splitlines()]
    p, labels = predicted(answer)
    assert [label for label, _ in rows] == labels
    np.testing.assert_allclose([float(q) for _, q in rows], p, rtol=1e-12)


def logits_by_dlcli(run: Path, X: np.ndarray) -> np.ndarray:
    from dlcli.predict import load_model, output_logits

    return output_logits(load_model(run), X)


def test_softmax_model(in_tmp: Path) -> None:
    run = train(CONFIGS / "spiral.yaml", "runs/s", "train.iterations=200")
    code, _, err = dlcli("export", "runs/s", "--out", "s.onnx")
    assert (code, err) == (0, "")
    X = np.random.default_rng(3).normal(size=(2, 300))  # (n_x, m)
    probabilities, label = session(Path("s.onnx")).run(None, {"features": X.T.copy()})
    ZL = logits_by_dlcli(run, X)
    E = np.exp(ZL - ZL.max(axis=0))
    P = E / E.sum(axis=0)  # (3, m)
    np.testing.assert_allclose(probabilities, P.T, rtol=1e-12)
    assert label.tolist() == P.argmax(axis=0).tolist()


@pytest.mark.parametrize("hidden", ["relu", "leaky_relu", "tanh", "sigmoid"])
def test_every_hidden_activation(in_tmp: Path, hidden: str) -> None:
    run = train(
        CONFIGS / "flower.yaml",
        "runs/f",
        "train.iterations=200",
        f"model.hidden_activation={hidden}",
    )
    code, _, err = dlcli("export", "runs/f", "--out", "f.onnx")
    assert (code, err) == (0, "")
    X = np.random.default_rng(4).normal(size=(2, 400)) * 4  # (n_x, m)
    probabilities, label = session(Path("f.onnx")).run(None, {"features": X.T.copy()})
    AL = 1.0 / (1.0 + np.exp(-logits_by_dlcli(run, X)[0]))
    np.testing.assert_allclose(probabilities[:, 0], AL, rtol=1e-12)
    assert label.tolist() == (AL > 0.5).astype(int).tolist()


def write_rows(path: str, header: list[str], rows: list[list[str]]) -> None:
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([header, *rows])


def test_table_regression_linear_output(in_tmp: Path) -> None:
    """The housing model takes its four columns in their own units and predicts prices in k$,
    as dlcli predict --csv does."""
    train(CONFIGS / "housing.yaml", "runs/h", "train.iterations=300")
    features = ["size_m2", "bedrooms", "distance_km", "income_k"]
    X = np.random.default_rng(5).uniform([40, 1, 0.5, 20], [200, 5, 30, 120], size=(25, 4))
    write_rows("new.csv", features, [[repr(float(v)) for v in row] for row in X])
    code, out, err = dlcli("predict", "--model", "runs/h", "--csv", "new.csv")
    assert code == 0, err
    expected = np.array([float(row[-1]) for row in list(csv.reader(out.splitlines()))[1:]])
    assert dlcli("export", "runs/h", "--out", "h.onnx")[0] == 0
    (prediction,) = session(Path("h.onnx")).run(None, {"features": X})
    np.testing.assert_allclose(prediction[:, 0], expected, rtol=1e-12)


def test_table_with_word_columns_and_missing_cells(in_tmp: Path) -> None:
    """churn: contract and region one-hot (region has a 'missing' category), fees filled with
    the training mean; the same rows through dlcli predict --csv and onnxruntime."""
    train(CONFIGS / "churn.yaml", "runs/c", "train.iterations=300")
    code, _, err = dlcli("data", "churn", "--out", "rows.csv", "--examples", "60", "--seed", "9")
    assert code == 0, err
    with open("rows.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    code, out, err = dlcli("predict", "--model", "runs/c", "--csv", "rows.csv")
    assert code == 0, err
    answer = list(csv.DictReader(out.splitlines()))
    assert dlcli("export", "runs/c", "--out", "c.onnx")[0] == 0
    model = session(Path("c.onnx"))
    names = [i.name for i in model.get_inputs()]
    assert names == ["features", "contract", "region"]
    numeric = ["tenure_months", "monthly_fee", "support_calls"]
    feeds = {
        "features": np.array(
            [[float(r[c]) if r[c] not in ("", "NA") else np.nan for c in numeric] for r in rows]
        ),
        "contract": np.array([[r["contract"].strip()] for r in rows], object),
        "region": np.array([[r["region"].strip()] for r in rows], object),
    }
    probabilities, label = model.run(None, feeds)
    classes = json.loads({p.key: p.value for p in onnx.load("c.onnx").metadata_props}["classes"])
    assert classes == ["stays", "leaves"]  # data.classes of churn.yaml
    assert [classes[k] for k in label] == [row["predicted_status"] for row in answer]
    p = np.array([float(row["probability"]) for row in answer])
    AL = np.where(np.array([row["predicted_status"] for row in answer]) == classes[1], p, 1 - p)
    np.testing.assert_allclose(probabilities[:, 0], AL, rtol=1e-12)


# ---------------------------------------------------------------- bad cases, the card


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_bad_cases_leave_nothing(in_tmp: Path) -> None:
    train(CONFIGS / "flower.yaml", "runs/f", "train.iterations=50")
    Path("taken.onnx").write_text("mine")
    Path("runs/unfinished").mkdir()
    Path("runs/unfinished/checkpoint.h5").write_bytes(b"")
    before = files(in_tmp)
    cases = [
        (["runs/f", "--format", "tflite", "--out", "x"],
         "--format: 'tflite' is not a format dlcli exports; allowed: onnx, numpy"),
        (["runs/f", "--out", "taken.onnx"], "--out taken.onnx: already exists; pass --force to replace it"),
        (["runs/unfinished", "--out", "u.onnx"],
         "model file error: RUN runs/unfinished: the run has not finished (a checkpoint.h5, no "
         "params.h5); finish it with dlcli train CONFIG --out DIR --resume"),
        (["runs/f", "--dtype", "float16", "--out", "x"], "--dtype: 'float16' is not allowed; allowed: float32, float64"),
        (["runs/f", "--opset", "9", "--out", "x.onnx"], "--opset: 9 is not one this exporter writes; allowed: 13 to "
         f"{onnx.defs.onnx_opset_version()} (the newest the installed onnx knows)"),
    ]  # fmt: skip
    for args, message in cases:
        code, out, err = dlcli("export", *args)
        kind = "" if message.startswith("model file error") else "error: "
        assert (code, out, err) == (1, "", f"dlcli: {kind}{message}\n"), args
    assert files(in_tmp) == before
    assert Path("taken.onnx").read_text() == "mine"
    assert dlcli("export", "runs/f", "--out", "taken.onnx", "--force")[0] == 0
    assert onnx.load("taken.onnx").graph.input[0].name == "features"
    code, out, _ = dlcli("export", "--format", "numpy", "--out", "newest")  # runs/latest
    assert code == 0 and out.startswith(
        f"exported {in_tmp / 'runs/f/params.h5'} as numpy (float64):"
    )
    assert files(Path("newest")) == ["card.md", "model.npz", "predict.py"]


def test_without_onnx_installed(in_tmp: Path) -> None:
    """A Python in which `import onnx` fails (a real process, onnx blocked in sys.modules)."""
    train(CONFIGS / "flower.yaml", "runs/f", "train.iterations=50")
    code = (
        "import sys; sys.modules['onnx'] = None; sys.argv = ['dlcli', 'export', 'runs/f', "
        "'--out', 'f.onnx']; from dlcli.cli import main; main()"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        'dlcli: error: --format onnx: needs the onnx package, which is not installed: pip install "dlcli[onnx]"\n'
    )
    assert not Path("f.onnx").exists()


def test_every_run_has_a_card_that_trains_it_again(in_tmp: Path) -> None:
    run = train(CONFIGS / "flower.yaml", "runs/f", "train.iterations=120")
    card = (run / "card.md").read_text()
    metrics = json.loads((run / "metrics.json").read_text())
    for line in [
        "- layers: [2, 4, 1]",
        "- activations: tanh (hidden), sigmoid (output)",
        "- init: 0.01, seed 2",
        "- optimizer: gd, learning rate 1.2, batch the full set, 120 iterations (120 epochs)",
        "- engine: direct, dtype float64",
        "- generated: `flower` (examples 400, seed 1)",
        "- train examples: 400",
        "- classes (label order): red, blue",
        f"| train_accuracy | {metrics['train_accuracy'] * 100:.2f} % |",
        "Final cost {:.6f}. The cost curve: [cost.png](cost.png).".format(metrics["final_cost"]),
        "The decision boundary: [boundary.png](boundary.png).",
        f"dlcli {__version__}. To train it again (the config stored with the run, the same seeds):",
        "dlcli train runs/f/config.yaml --out runs/f-again",
    ]:
        assert line in card.splitlines(), line
    assert f"{metrics['train_seconds']:.3f} s of training" in card
    code, _, err = dlcli("train", "runs/f/config.yaml", "--out", "runs/f-again", "--quiet")
    assert code == 0, err
    for name in ("params.h5", "costs.csv"):
        assert (run / name).read_bytes() == Path("runs/f-again", name).read_bytes()


def test_card_names_data_files_with_their_hashes(in_tmp: Path) -> None:
    import hashlib

    run = train(
        CONFIGS / "cat_logreg.yaml", "runs/c",
        f"data.train={CAT / 'train_catvnoncat.h5'}", f"data.test={CAT / 'test_catvnoncat.h5'}",
        "train.iterations=20",
    )  # fmt: skip
    card = (run / "card.md").read_text().splitlines()
    for key, name in (("train", "train_catvnoncat.h5"), ("test", "test_catvnoncat.h5")):
        digest = hashlib.sha256((CAT / name).read_bytes()).hexdigest()
        assert f"- data.{key}: `{CAT / name}` (sha256 {digest})" in card
    assert "- train examples: 209" in card and "- test examples: 50" in card
    assert "- classes (label order): non-cat, cat" in card
    assert not any("boundary.png" in line for line in card)  # 12288 inputs: no boundary
