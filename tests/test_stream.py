"""data.stream: training from a course HDF5 file read a block of train.batch_size examples at a
time equals training on the loaded file with train.shuffle: blocks, bit for bit."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from dlcli import sysinfo
from dlcli.config import load_config, validate
from dlcli.data import course
from dlcli.data.write import write_flower, write_synth
from dlcli.errors import ConfigError, DataError
from dlcli.job import run
from dlcli.model import network
from dlcli.training.loop import train
from dlcli.training.plan import Options
from dlcli.training.state import StopTraining

SIZE = 6  # 6x6x3 pictures: n_x = 108


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("stream") / "synth.h5"
    write_synth(path, 230, size=SIZE, seed=3, chunk=64)  # 230 = 4 blocks of 50 and one of 30
    return path


def _loaded_and_streamed(path: Path) -> tuple[course.CourseFile, course.CourseFile]:
    return course.read_course_file(path), course.read_course_file(path, stream=True)


def test_synth_is_written_in_chunks_as_the_docstring_says(synth: Path) -> None:
    g = np.random.default_rng(3)
    with h5py.File(synth) as f:
        x, y = f["train_set_x"][()], f["train_set_y"][()]
        assert [c.decode() for c in f["list_classes"][()]] == ["dark", "bright"]
    assert x.shape == (230, SIZE, SIZE, 3) and x.dtype == np.uint8 and y.dtype == np.int64
    for start in range(0, 230, 64):  # the same draws, chunk after chunk
        c = min(64, 230 - start)
        labels = g.integers(0, 2, c)
        pixels = (np.frombuffer(g.bytes(c * SIZE * SIZE * 3), np.uint8) >> 1).reshape(x[:c].shape)
        np.testing.assert_array_equal(y[start : start + c], labels)
        np.testing.assert_array_equal(
            x[start : start + c], pixels + 64 * labels[:, None, None, None]
        )
    dark, bright = x[y == 0], x[y == 1]
    assert dark.max() <= 127 and bright.min() >= 64 and bright.max() <= 191
    assert bright.mean() - dark.mean() == pytest.approx(64, abs=2)


def test_a_streamed_block_equals_the_loaded_columns(synth: Path, tmp_path: Path) -> None:
    loaded, streamed = _loaded_and_streamed(synth)
    assert streamed.X.shape == loaded.X.shape == (SIZE * SIZE * 3, 230)
    assert streamed.preprocessing == loaded.preprocessing
    np.testing.assert_array_equal(streamed.Y, loaded.Y)
    block = streamed.X.columns(50, 100)
    assert block.flags.c_contiguous and block.dtype == np.float64
    assert block.tobytes() == np.ascontiguousarray(loaded.X[:, 50:100]).tobytes()
    as32 = streamed.X.astype(np.float32).columns(200, 230)
    assert as32.tobytes() == loaded.X[:, 200:230].astype(np.float32).tobytes()
    flower = tmp_path / "flower.h5"  # float features are taken as they are
    write_flower(flower, 40)
    loaded, streamed = _loaded_and_streamed(flower)
    assert streamed.X.columns(0, 40).tobytes() == np.ascontiguousarray(loaded.X).tobytes()


def test_the_header_memory_check_refuses_loading_but_not_streaming(
    synth: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A machine with 1 MiB free: the file (230 x 108 bytes, 9 x that to load) does not fit.
    monkeypatch.setattr(sysinfo, "available_memory", lambda: 2**17)
    with pytest.raises(DataError, match=r"needs 0\.0 GiB to load.*set data\.stream: true"):
        course.read_course_file(synth)
    streamed = course.read_course_file(synth, stream=True)
    assert streamed.X.shape == (108, 230) and streamed.Y.shape == (1, 230)


def _train(X, Y, **kw):
    params = network.init_params([108, 6, 4, 1], "he", network.legacy_rng(2))
    options = Options(
        optimizer="adam", batch_size=50, keep_prob=(0.8, 0.9), l2=0.1, seed=5, shuffle="blocks"
    )
    return train(
        X,
        Y,
        kw.pop("params", params),
        hidden="relu",
        output="sigmoid",
        learning_rate=0.01,
        iterations=13,  # 2 epochs of 5 blocks and 3 batches of a third
        log_every=1,
        options=options,
        **kw,
    )


def test_streaming_equals_in_memory_block_training_bit_for_bit(synth: Path) -> None:
    loaded, streamed = _loaded_and_streamed(synth)
    in_memory = _train(np.ascontiguousarray(loaded.X), loaded.Y)
    from_disk = _train(streamed.X, streamed.Y)
    assert [row["cost"] for row in from_disk.log] == [row["cost"] for row in in_memory.log]
    assert {k: v.tobytes() for k, v in from_disk.params.items()} == {
        k: v.tobytes() for k, v in in_memory.params.items()
    }
    # The final cost is summed over chunks on disk, over all of X in memory.
    assert from_disk.final_cost == pytest.approx(in_memory.final_cost, rel=1e-12)
    assert from_disk.engine == "direct" and len(from_disk.log) == 13


def test_block_shuffle_reads_consecutive_blocks_each_once_per_epoch(synth: Path) -> None:
    streamed = course.read_course_file(synth, stream=True).X
    seen: list[tuple[int, int]] = []
    columns = streamed.columns

    class Recording(course.CourseStream):  # the real stream, its reads written down
        def columns(self, start: int, stop: int) -> np.ndarray:
            seen.append((start, stop))
            return columns(start, stop)

    recording = Recording(streamed.path, streamed.name, streamed.shape, False, "data.train")
    Y = course.read_course_file(synth, stream=True).Y
    _train(recording, Y)
    batches = seen[:13]  # then the final cost's chunks, in order
    blocks = [(0, 50), (50, 100), (100, 150), (150, 200), (200, 230)]
    assert sorted(batches[:5]) == blocks and sorted(batches[5:10]) == blocks
    assert batches[:5] != batches[5:10]  # a new order each epoch
    g = np.random.default_rng(5)  # the seeded generator: the permutation first, then masks
    assert batches[0] == blocks[int(g.permutation(5)[0])]
    assert seen[13:] == blocks


def test_a_stop_mid_epoch_resumes_bit_exactly_from_disk(synth: Path) -> None:
    streamed = course.read_course_file(synth, stream=True)
    full = _train(streamed.X, streamed.Y)
    states = []

    def stop(i: int, J: float) -> None:
        if i == 7:
            raise StopTraining

    with pytest.raises(StopTraining):
        _train(streamed.X, streamed.Y, callback=stop, checkpoint=states.append)
    assert states[-1].iteration == 7 and states[-1].arrays["perm"].shape == (5,)  # blocks
    resumed = _train(streamed.X, streamed.Y, params=None, resume=copy.deepcopy(states[-1]))
    assert resumed.log == full.log and resumed.final_cost == full.final_cost
    assert {k: v.tobytes() for k, v in resumed.params.items()} == {
        k: v.tobytes() for k, v in full.params.items()
    }


def _config(path: Path, tmp_path: Path, **train_keys) -> Path:
    cfg = tmp_path / "cfg.yaml"
    keys = {"learning_rate": 0.03, "epochs": 5, "batch_size": 50, "log_every": 2, **train_keys}
    keys = {"optimizer": "adam", **keys}
    lines = "\n".join(f"  {k}: {v}" for k, v in keys.items())
    cfg.write_text(
        f"data:\n  train: {path}\nmodel:\n  layers: [108, 5, 1]\n"
        f"init:\n  scale: he\ntrain:\n{lines}\noutput:\n  dir: {tmp_path / 'runs'}\n"
    )
    return cfg


def _params(run_dir: Path) -> dict[str, bytes]:
    with h5py.File(run_dir / "params.h5") as f:
        return {k: f[k][()].tobytes() for k in f}


def test_a_streamed_run_equals_a_loaded_run_with_block_shuffle(synth: Path, tmp_path: Path) -> None:
    cfg = _config(synth, tmp_path)
    disk, disk_metrics = run(load_config(cfg, ["data.stream=true"]), "disk")
    memory, memory_metrics = run(load_config(cfg, ["train.shuffle=blocks"]), "memory")
    examples, _ = run(load_config(cfg), "examples")  # the default order is another run
    assert _params(disk) == _params(memory) != _params(examples)
    # Brightness is learned: from a cost of ln 2 and half right, as chance.
    assert disk_metrics["train_accuracy"] == memory_metrics["train_accuracy"] > 0.7
    assert disk_metrics["final_cost"] == pytest.approx(memory_metrics["final_cost"], rel=1e-12)
    assert disk_metrics["final_cost"] < 0.5
    assert disk_metrics["train_examples"] == 230 and disk_metrics["iterations"] == 25


def test_a_streamed_run_stopped_and_resumed_is_bit_exact(synth: Path, tmp_path: Path) -> None:
    cfg = load_config(_config(synth, tmp_path, checkpoint_every=4), ["data.stream=true"])
    full, _ = run(cfg, "full")

    def stop(i: int, J: float) -> None:
        if i == 6:
            raise StopTraining

    with pytest.raises(StopTraining) as raised:
        run(cfg, "stopped", callback=stop)
    resumed, _ = run(cfg, "stopped", raised.value.run_dir, resume=True)
    assert _params(resumed) == _params(full)
    assert (resumed / "costs.csv").read_text() == (full / "costs.csv").read_text()


STREAM = {"data": {"train": "x.h5", "stream": True}, "model": {"layers": [108, 4, 1]}}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({}, "set train.batch_size"),
        ({"data": {"generate": {"name": "flower"}, "stream": True}}, "found data.generate"),
        ({"data": {"train": "t.csv", "stream": True}}, "data.train must be one, found t.csv"),
        (
            {
                "data": {"train": "x.h5", "stream": True, "validation_fraction": 0.2},
                "train": {"batch_size": 8},
            },
            "validation_fraction",
        ),
        (
            {
                "data": {"train": "x.h5", "stream": True, "test_fraction": 0.2},
                "train": {"batch_size": 8},
            },
            "test_fraction",
        ),
        ({"train": {"batch_size": 8, "shuffle": "examples"}}, "set train.shuffle: blocks"),
        ({"train": {"batch_size": 8, "engine": "gram"}}, "set train.engine: auto or direct"),
        (
            {
                "model": {"layers": [108, 1], "output_activation": "linear"},
                "train": {"batch_size": 8},
            },
            "found model.output_activation: linear",
        ),
    ],
)
def test_config_refuses_streaming_it_cannot_do(change: dict, message: str) -> None:
    raw = copy.deepcopy(STREAM) | change
    with pytest.raises(ConfigError, match=r"^cfg\.yaml: data\.stream: true .*" + message):
        validate(raw, "cfg.yaml")


def test_config_streaming_defaults() -> None:
    cfg = validate(copy.deepcopy(STREAM) | {"train": {"batch_size": 8}}, "cfg.yaml")
    assert cfg.data.stream is True and cfg.train.shuffle == "examples"  # blocks is implied
    from dlcli.training.plan import options_from

    assert options_from(cfg).shuffle == "blocks"
    plain = validate({"data": {"train": "x.h5"}, "model": {"layers": [108, 1]}}, "cfg.yaml")
    assert plain.data.stream is False and options_from(plain).shuffle == "examples"


def test_streaming_memory_is_bounded_by_the_batch_not_the_file(tmp_path: Path) -> None:
    # 16,384 pictures of 64x64x3: 201 MB on disk, 1.6 GB as the float64 X loading makes.
    path = tmp_path / "big.h5"
    write_synth(path, 16_384, chunk=2048)
    cfg = _config(path, tmp_path, epochs=1, batch_size=512, learning_rate=0.01)
    cfg.write_text(cfg.read_text().replace("[108, 5, 1]", "[12288, 1]"))
    child = textwrap.dedent(
        f"""
        import json, resource
        from pathlib import Path
        from dlcli.config import load_config
        from dlcli.job import run
        _, metrics = run(load_config(Path({str(cfg)!r}), ["data.stream=true"]), "big")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(json.dumps({{"peak": peak, "iterations": metrics["iterations"]}}))
        """
    )
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["iterations"] == 32
    # A batch is 512 x 12288 float64 = 50 MB and the process takes 150 to 550 MB (the
    # allocator keeps freed batches); loading would need 1.6 GB for X alone.
    assert found["peak"] < 2**30, found


def test_data_synth_writes_a_file_dlcli_streams(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from dlcli.cli import app

    out = tmp_path / "s.h5"
    args = ["data", "synth", "--out", str(out), "--examples", "100", "--size", "4", "--chunk", "7"]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    assert f"wrote {out}: 100 pictures 4x4x3 uint8" in done.output
    assert "--set data.stream=true" in done.output
    streamed = course.read_course_file(out, stream=True)
    assert streamed.X.shape == (48, 100) and streamed.classes == ("dark", "bright")
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 1 and "exists already; pass --force" in again.output
    bad = CliRunner().invoke(app, [*args[:5], "0", "--force"])
    assert bad.exit_code == 1 and "--examples: must be 1 to 100000000, found 0" in bad.output


def test_a_streamed_run_reads_the_file_once_after_training(
    synth: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 230 examples in blocks of 50 for 5 epochs: 25 batch reads while training, then one
    # pass of 5 blocks gives both the final cost and the training accuracy.
    seen: list[tuple[int, int]] = []
    columns = course.CourseStream.columns

    def recording(self: course.CourseStream, start: int, stop: int) -> np.ndarray:
        seen.append((start, stop))
        return columns(self, start, stop)

    monkeypatch.setattr(course.CourseStream, "columns", recording)
    _, metrics = run(load_config(_config(synth, tmp_path), ["data.stream=true"]), "once")
    assert metrics["iterations"] == 25 and metrics["train_accuracy"] > 0.7
    assert len(seen) == 25 + 5
    assert seen[25:] == [(0, 50), (50, 100), (100, 150), (150, 200), (200, 230)]
