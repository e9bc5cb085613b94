"""TIFFs that Pillow cannot decode, or not rightly (issue 17, point 7), read through tifffile:
uint16 / 257 and float in [0, 1] x 255, rounded; anything else refused with its real reason.

Each picture is written with tifffile; what it must read as is worked out here with NumPy and
written as a PNG (the path Pillow reads exactly), and both go through ``dlcli predict`` on a
tiny trained model, or ``dlcli data images``."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from PIL import Image
from test_evaluate import dlcli

from dlcli.images import read_image

SIDE = 8
RNG = np.random.default_rng(17)
ALLOWED = "allowed: grey or RGB TIFF, 8- or 16-bit unsigned or float samples in [0, 1]"


@pytest.fixture
def tiny(in_tmp: Path) -> Path:
    """A logistic regression on 20 random 8x8 RGB pictures, trained into runs/tiny."""
    with h5py.File("t.h5", "w") as f:
        f["train_set_x"] = RNG.integers(0, 256, (20, SIDE, SIDE, 3), dtype=np.uint8)
        f["train_set_y"] = np.arange(20) % 2
        f["list_classes"] = np.array([b"non-cat", b"cat"])
    Path("c.yaml").write_text(
        "data:\n  train: t.h5\nmodel:\n  layers: [192, 1]\ninit:\n  scale: 0.5\n"
        "train:\n  iterations: 5\n"
    )
    code, _, err = dlcli("train", "c.yaml", "--out", "runs/tiny", "--quiet")
    assert code == 0, err
    return in_tmp


def predicted(*paths: Path) -> list[dict]:
    code, out, err = dlcli("predict", "--model", "runs/tiny", *map(str, paths), "--json")
    assert code == 0, err
    return json.loads(out)


def same_as_png(path: Path, expected: np.ndarray) -> None:
    """``path`` reads as the uint8 pixels ``expected`` (h, w, 3) and predicts as their PNG."""
    png = path.with_suffix(".png")
    Image.fromarray(expected).save(png)
    assert np.array_equal(read_image(path, (SIDE, SIDE)), expected)
    tiff_row, png_row = predicted(path, png)
    assert tiff_row["error"] is None
    assert (tiff_row["label"], tiff_row["probability"]) == (
        png_row["label"],
        png_row["probability"],
    )


def test_float64_planar_rgb(tiny: Path) -> None:
    planes = RNG.random((3, SIDE, SIDE))  # (samples, h, w): planar, as the file
    planes[:, 0, 0] = [0.0, 1.0, 0.5 / 255]  # 0, 255, and 0.5 rounds to even: 0
    tifffile.imwrite("p.tif", planes, photometric="rgb", planarconfig="separate")
    with pytest.raises(OSError):  # Pillow cannot decode it
        Image.open("p.tif")
    expected = np.rint(np.moveaxis(planes, 0, -1) * 255).astype(np.uint8)
    assert expected[0, 0].tolist() == [0, 255, 0]
    same_as_png(Path("p.tif"), expected)


def test_uint16_planar_rgb_is_divided_by_257(tiny: Path) -> None:
    planes = RNG.integers(0, 65536, (3, SIDE, SIDE), dtype=np.uint16)
    planes[:, 0, 0] = [65535, 257 * 200, 1000]  # 255, 200, 3.89 -> 4
    tifffile.imwrite("p16.tif", planes, photometric="rgb", planarconfig="separate")
    expected = np.rint(np.moveaxis(planes, 0, -1) / 257).astype(np.uint8)
    assert expected[0, 0].tolist() == [255, 200, 4]
    with Image.open("p16.tif") as im:  # Pillow "reads" it, but not these pixels
        assert not np.array_equal(np.asarray(im.convert("RGB")), expected)
    same_as_png(Path("p16.tif"), expected)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float_rgb_with_extra_samples(tiny: Path, dtype: type) -> None:
    # Five samples: RGB and two unspecified extra ones (a mask, a depth), dropped.
    samples = RNG.random((SIDE, SIDE, 5)).astype(dtype)
    tifffile.imwrite("m.tif", samples, photometric="rgb", extrasamples=["unspecified"] * 2)
    expected = np.rint(samples[:, :, :3].astype(np.float64) * 255).astype(np.uint8)
    same_as_png(Path("m.tif"), expected)


def test_float_grey_with_alpha_is_composited_on_white(tiny: Path) -> None:
    grey = RNG.random((SIDE, SIDE))
    alpha = np.where(np.arange(SIDE) % 2, 1.0, 0.0) * np.ones((SIDE, 1))
    tifffile.imwrite("ga.tif", np.stack([grey, alpha], axis=-1), extrasamples=["unassalpha"])
    # Opaque columns keep their grey; transparent ones are white, as Pillow does for LA.
    g8 = np.rint(grey * 255).astype(np.uint8)
    expected = np.where(alpha == 1.0, g8, np.uint8(255))
    same_as_png(Path("ga.tif"), np.repeat(expected[:, :, None], 3, axis=2))


def test_orientation_stands_the_picture_upright(tiny: Path) -> None:
    grey = RNG.random((SIDE, SIDE))
    tifffile.imwrite("o.tif", grey, extratags=[(274, "H", 1, 3, True)])  # rotated 180
    expected = np.rint(grey[::-1, ::-1] * 255).astype(np.uint8)
    same_as_png(Path("o.tif"), np.repeat(expected[:, :, None], 3, axis=2))


def test_refusals_give_the_real_reason(tiny: Path) -> None:
    tifffile.imwrite(
        "big.tif", np.full((3, SIDE, SIDE), 1.5), photometric="rgb", planarconfig="separate"
    )
    nan = np.zeros((SIDE, SIDE), np.float32)
    nan[3, 3] = np.nan
    tifffile.imwrite("nan.tif", nan)
    tifffile.imwrite("neg.tif", np.full((SIDE, SIDE), -0.25))
    tifffile.imwrite("signed.tif", np.arange(64, dtype=np.int16).reshape(SIDE, SIDE))
    tifffile.imwrite(
        "cmyk.tif", RNG.random((4, SIDE, SIDE)), photometric="separated", planarconfig="separate"
    )
    tifffile.imwrite("complex.tif", np.ones((SIDE, SIDE), np.complex64))
    whole = Path("nan.tif").read_bytes()
    Path("cut.tif").write_bytes(whole[: len(whole) - 100])
    Path("stub.tif").write_bytes(b"II*\x00\x08\x00\x00\x00")  # a header and nothing more
    code, out, err = dlcli(
        "predict", "--model", "runs/tiny", "big.tif", "nan.tif", "neg.tif", "signed.tif",
        "cmyk.tif", "complex.tif", "stub.tif", "cut.tif", "--json",
    )  # fmt: skip
    assert code == 1
    assert err == "dlcli: 8 of 8 could not be read as pictures\n"
    errors = [row["error"] for row in json.loads(out)]
    # The cut file: tifffile says how many bytes it missed ("failed to read 256 bytes, got
    # 156" with tifffile 2026.3), a count that depends on its layout.
    assert errors.pop().startswith(
        "TIFF with 32-bit float samples (uncompressed) cannot be decoded: failed to read "
    )
    assert errors == [
        "TIFF with 64-bit float planar samples range from 1.5 to 1.5; allowed: float samples "
        "in [0, 1] (read as 0..255)",
        "TIFF with 32-bit float samples hold NaN or infinite values; allowed: float samples "
        "in [0, 1]",
        "TIFF with 64-bit float samples range from -0.25 to -0.25; allowed: float samples in "
        "[0, 1] (read as 0..255)",
        f"TIFF with 16-bit signed integer samples is not supported (no agreed range); {ALLOWED}",
        f"TIFF with 64-bit float planar samples in SEPARATED colour is not supported; {ALLOWED}",
        "TIFF with 64-bit complex float samples is not supported (not a picture's samples); "
        + ALLOWED,
        "damaged or truncated TIFF: no page of pixels can be found in it",
    ]


def test_image_folders_read_tiffs_too(tiny: Path) -> None:
    pictures = {}
    for label in ("cat", "non-cat"):
        Path("photos", label).mkdir(parents=True)
        for i in range(3):
            planes = RNG.random((3, SIDE, SIDE))
            name = f"{label}/{i}.tif"
            tifffile.imwrite(
                Path("photos", name), planes, photometric="rgb", planarconfig="separate"
            )
            pictures[name] = np.rint(np.moveaxis(planes, 0, -1) * 255).astype(np.uint8)
    code, _, err = dlcli(
        "data", "images", "photos", "--out", "d.h5", "--size", str(SIDE), "--test-fraction", "0"
    )
    assert code == 0, err
    assert err == ""
    with h5py.File("train_d.h5") as f:
        files = [name.decode() for name in f["train_set_files"][()]]
        x = f["train_set_x"][()]
    assert sorted(files) == sorted(pictures)
    for name, pixels in zip(files, x, strict=True):
        assert np.array_equal(pixels, pictures[name])


@pytest.mark.parametrize(
    ("kind", "routed"),
    [
        ("uint8 RGB", False),
        ("uint8 planar RGB", False),
        ("uint16 planar RGB", True),
        ("int16 grey", True),
    ],
)
def test_the_route_is_taken_from_pillows_tags_and_tifffile_loads_only_for_it(
    in_tmp: Path, kind: str, routed: bool
) -> None:
    """Which reader a TIFF needs comes from the tags Pillow reads on opening it, so a TIFF
    Pillow reads rightly never imports tifffile (about 0.17 s of every such process)."""
    import subprocess
    import sys

    pixels = {
        "uint8 RGB": RNG.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8),
        "uint8 planar RGB": RNG.integers(0, 256, (3, SIDE, SIDE), dtype=np.uint8),
        "uint16 planar RGB": RNG.integers(0, 65536, (3, SIDE, SIDE), dtype=np.uint16),
        "int16 grey": RNG.integers(0, 1000, (SIDE, SIDE), dtype=np.int16),
    }[kind]
    planar = "separate" if "planar" in kind else None
    tifffile.imwrite(
        "p.tif", pixels, photometric="rgb" if "RGB" in kind else "minisblack", planarconfig=planar
    )
    code = (
        "import sys; from pathlib import Path; from dlcli.images import read_image\n"
        "try:\n    read_image(Path('p.tif'))\nexcept Exception as exc:\n    print(type(exc).__name__)\n"
        "print('tifffile' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.split()[-1] == str(routed), done.stderr
