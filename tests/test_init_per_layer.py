"""Per-layer initialisation overrides, and the scales a run reports in its config.yaml."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from dlcli.config import load_config
from dlcli.errors import ConfigError
from dlcli.job import run
from dlcli.model import network

FLOWER = Path(__file__).resolve().parents[1] / "configs" / "flower.yaml"


def test_per_layer_overrides_keep_the_legacy_draw_order() -> None:
    layers = [5, 4, 3, 1]
    params = network.init_params(layers, "xavier", network.legacy_rng(3), per_layer={2: 0.5, 3: 0})
    rng = np.random.RandomState(3)
    W1 = rng.randn(4, 5) / np.sqrt(5)
    W2 = rng.randn(3, 4) * 0.5
    np.testing.assert_array_equal(params["W1"], W1)
    np.testing.assert_array_equal(params["W2"], W2)
    np.testing.assert_array_equal(params["W3"], np.zeros((1, 3)))  # 0 draws nothing


def test_multipliers() -> None:
    assert network.init_multiplier("xavier", 16) == 0.25
    assert network.init_multiplier("he", 8) == 0.5
    assert network.init_multiplier(0.01, 12288) == 0.01


def test_run_reports_each_layers_scale_in_its_config(in_tmp: Path) -> None:
    cfg = load_config(FLOWER, ["train.iterations=3", "init.per_layer={2: he}", "init.scale=xavier"])
    run_dir, _ = run(cfg, name="flower")
    text = (run_dir / "config.yaml").read_text()
    assert "#   W1 4x2: multiplier 0.707107 (xavier, n[l-1] = 2)" in text
    assert "#   W2 1x4: multiplier 0.707107 (he, n[l-1] = 4)" in text
    # The comments do not change what the file says: it loads back as the same config.
    assert yaml.safe_load(text)["init"]["per_layer"] == {2: "he"}
    assert load_config(run_dir / "config.yaml") == cfg


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "init.per_layer={3: he}",
            "init.per_layer: layer 3 does not exist; model.layers has layers 1 to 2",
        ),
        ("init.per_layer={0: he}", "keys are layer numbers 1, 2, ..., L, found 0"),
        (
            "init.per_layer={1: lecun}",
            "layer 1: must be a number >= 0 (0 gives zeros), 'xavier' or 'he', found 'lecun'",
        ),
        ("init.per_layer=[he]", "must map layer numbers to scales"),
    ],
)
def test_bad_per_layer_overrides(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(FLOWER, [override])
    assert message in str(info.value)
