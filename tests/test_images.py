"""Reading pictures: every format and mode a person may have, made here with Pillow (or
byte by byte where Pillow cannot write it), and every way a file can fail to be one."""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dlcli.errors import DataError, ImageError
from dlcli.images import EXTENSIONS, find_pictures, read_image

RNG = np.random.default_rng(0)
PIXELS = RNG.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)  # (h, w, c)
BICUBIC = Image.Resampling.BICUBIC


def on_white(c: np.ndarray, a: np.ndarray) -> np.ndarray:
    """c composited over white with alpha a, rounded half up: Pillow's alpha_composite."""
    c, a = c.astype(np.int64), a.astype(np.int64)
    return ((c * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_file(
    path: Path, width: int, height: int, depth: int, color: int, rows: bytes | None
) -> Path:
    """A PNG written byte by byte: IHDR, one IDAT of ``rows`` (omitted when None), IEND."""
    header = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    body = png_chunk(b"IHDR", header)
    if rows is not None:
        body += png_chunk(b"IDAT", rows)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body + png_chunk(b"IEND", b""))
    return path


# ---------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("p.png", {}),
        ("p.bmp", {}),
        ("p.tif", {}),
        ("p.tiff", {"compression": "tiff_lzw"}),
        ("p.webp", {"lossless": True}),
        ("p.ppm", {}),
    ],
)
def test_lossless_formats_keep_every_pixel(tmp_path: Path, name: str, options: dict) -> None:
    path = tmp_path / name
    Image.fromarray(PIXELS).save(path, **options)
    pixels = read_image(path)
    assert pixels.dtype == np.uint8
    assert pixels.shape == (64, 64, 3)
    assert np.array_equal(pixels, PIXELS)


@pytest.mark.parametrize("name", ["p.jpg", "p.jpeg", "p.JPG"])
def test_jpeg(tmp_path: Path, name: str) -> None:
    smooth = np.repeat(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], 64, 0)
    smooth = np.repeat(smooth, 3, 2)  # (64, 64, 3), a horizontal ramp
    path = tmp_path / name
    Image.fromarray(smooth).save(path, format="JPEG", quality=95)
    pixels = read_image(path)
    assert pixels.shape == (64, 64, 3)
    # Lossy, but a ramp survives JPEG at quality 95 to within a few levels.
    assert np.abs(pixels.astype(int) - smooth).max() <= 4
    assert pixels[:, 0].mean() < 5 and pixels[:, -1].mean() > 250


def test_gif_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (64, 64), color) for color in ((255, 0, 0), (0, 0, 255))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(path) as im:
        assert im.n_frames == 2
    pixels = read_image(path)
    assert np.all(pixels == [255, 0, 0])


def test_tiff_first_page(tmp_path: Path) -> None:
    pages = [Image.new("RGB", (64, 64), color) for color in ((0, 200, 0), (9, 9, 9))]
    path = tmp_path / "pages.tiff"
    pages[0].save(path, save_all=True, append_images=pages[1:])
    with Image.open(path) as im:
        assert im.n_frames == 2
    assert np.all(read_image(path) == [0, 200, 0])


def test_animated_webp_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (64, 64), color) for color in ((10, 20, 30), (200, 100, 0))]
    path = tmp_path / "anim.webp"
    frames[0].save(path, save_all=True, append_images=frames[1:], lossless=True)
    assert np.all(read_image(path) == [10, 20, 30])


def test_file_name_does_not_matter(tmp_path: Path) -> None:
    """A file named on the command line is read by its content, not its extension."""
    path = tmp_path / "really_a_png.jpg"
    Image.fromarray(PIXELS).save(path, format="PNG")
    assert np.array_equal(read_image(path), PIXELS)


# ---------------------------------------------------------------- modes


def test_grey(tmp_path: Path) -> None:
    grey = PIXELS[:, :, 0]
    Image.fromarray(grey, mode="L").save(tmp_path / "g.png")
    pixels = read_image(tmp_path / "g.png")
    assert pixels.shape == (64, 64, 3)
    for c in range(3):
        assert np.array_equal(pixels[:, :, c], grey)


def test_grey_model_takes_one_channel(tmp_path: Path) -> None:
    Image.fromarray(PIXELS).save(tmp_path / "c.png")
    pixels = read_image(tmp_path / "c.png", (64, 64), channels=1)
    assert pixels.shape == (64, 64, 1)
    # ITU-R 601-2 luma, as Pillow's convert("L"): L = R * 299/1000 + G * 587/1000 + B * 114/1000
    luma = np.asarray(Image.fromarray(PIXELS).convert("L"))
    assert np.array_equal(pixels[:, :, 0], luma)
    r, g, b = (int(v) for v in PIXELS[0, 0])
    assert abs(int(pixels[0, 0, 0]) - (r * 299 + g * 587 + b * 114) / 1000) <= 0.5 + 1e-9


def test_one_bit(tmp_path: Path) -> None:
    bits = PIXELS[:, :, 0] > 127
    Image.fromarray(bits).save(tmp_path / "bits.png")  # mode "1"
    with Image.open(tmp_path / "bits.png") as im:
        assert im.mode == "1"
    pixels = read_image(tmp_path / "bits.png")
    assert np.array_equal(pixels[:, :, 1], np.where(bits, 255, 0))


def test_palette(tmp_path: Path) -> None:
    palette = [255, 0, 0, 0, 128, 0, 0, 0, 255, 250, 250, 10]
    index = (PIXELS[:, :, 0] % 4).astype(np.uint8)
    im = Image.fromarray(index, mode="P")
    im.putpalette(palette)
    im.save(tmp_path / "pal.png")
    with Image.open(tmp_path / "pal.png") as check:
        assert check.mode == "P"
    expected = np.array(palette, dtype=np.uint8).reshape(4, 3)[index]
    assert np.array_equal(read_image(tmp_path / "pal.png"), expected)


def test_rgba_is_composited_on_white(tmp_path: Path) -> None:
    alpha = RNG.integers(0, 256, size=(64, 64), dtype=np.uint8)
    alpha[0, 0], alpha[0, 1] = 0, 255
    rgba = np.dstack([PIXELS, alpha])
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    pixels = read_image(tmp_path / "a.png")
    assert np.array_equal(pixels, on_white(PIXELS, alpha[:, :, None]))
    assert pixels[0, 0].tolist() == [255, 255, 255]  # fully transparent: white
    assert pixels[0, 1].tolist() == PIXELS[0, 1].tolist()  # opaque: unchanged
    # Half-transparent pure red: 255 stays, 0 becomes 255 - 128 = 127.
    Image.new("RGBA", (64, 64), (255, 0, 0, 128)).save(tmp_path / "red.png")
    assert np.all(read_image(tmp_path / "red.png") == [255, 127, 127])


def test_rgba_webp_and_grey_alpha(tmp_path: Path) -> None:
    Image.new("RGBA", (64, 64), (0, 0, 0, 0)).save(tmp_path / "clear.webp", lossless=True)
    assert np.all(read_image(tmp_path / "clear.webp") == 255)
    Image.new("LA", (64, 64), (0, 64)).save(tmp_path / "la.png")
    assert np.all(read_image(tmp_path / "la.png") == on_white(np.array(0), np.array(64)))


def test_palette_transparency_and_colour_key(tmp_path: Path) -> None:
    index = np.zeros((64, 64), dtype=np.uint8)
    index[:, 32:] = 1
    im = Image.fromarray(index, mode="P")
    im.putpalette([255, 0, 0, 0, 0, 255])
    im.save(tmp_path / "pal.gif", transparency=0)  # index 0 (red) is transparent
    pixels = read_image(tmp_path / "pal.gif")
    assert np.all(pixels[:, :32] == 255)
    assert np.all(pixels[:, 32:] == [0, 0, 255])
    Image.new("RGB", (64, 64), (10, 20, 30)).save(tmp_path / "key.png", transparency=(10, 20, 30))
    assert np.all(read_image(tmp_path / "key.png") == 255)


def test_cmyk(tmp_path: Path) -> None:
    cmyk = np.zeros((64, 64, 4), dtype=np.uint8)
    cmyk[:, 16:32, 0] = 255  # cyan
    cmyk[:, 32:48, 3] = 255  # black
    cmyk[:, 48:, 1] = 128  # half magenta
    Image.fromarray(cmyk, mode="CMYK").save(tmp_path / "c.tif")
    with Image.open(tmp_path / "c.tif") as im:
        assert im.mode == "CMYK"
    pixels = read_image(tmp_path / "c.tif")
    assert np.all(pixels[:, :16] == [255, 255, 255])
    assert np.all(pixels[:, 16:32] == [0, 255, 255])
    assert np.all(pixels[:, 32:48] == [0, 0, 0])
    assert np.all(pixels[:, 48:] == [255, 127, 255])
    Image.fromarray(cmyk, mode="CMYK").save(tmp_path / "c.jpg", quality=95)
    jpeg = read_image(tmp_path / "c.jpg").astype(int)
    assert np.abs(jpeg[:, 20:28] - [0, 255, 255]).max() <= 8


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_grey_keeps_the_high_byte(tmp_path: Path, suffix: str) -> None:
    samples = np.zeros((64, 64), dtype=np.uint16)
    samples[0, :4] = [65535, 257 * 200, 1000, 255]  # -> 255, 200, 3, 0
    samples[1:] = PIXELS[1:, :, 0].astype(np.uint16) * 257
    path = tmp_path / f"g16{suffix}"
    Image.fromarray(samples).save(path)
    with Image.open(path) as im:
        assert im.mode == "I;16"
    pixels = read_image(path)
    assert pixels[0, :4, 0].tolist() == [255, 200, 3, 0]
    # Pillow's own I;16 -> L conversion would clip all these to 255.
    assert np.array_equal(pixels[1:, :, 2], PIXELS[1:, :, 0])


def test_16_bit_pgm(tmp_path: Path) -> None:
    samples = (PIXELS[:, :, 1].astype(">u2") * 257).astype(">u2")
    path = tmp_path / "g16.pgm"
    path.write_bytes(b"P5 64 64 65535\n" + samples.tobytes())
    with Image.open(path) as im:
        assert im.mode == "I"
    assert np.array_equal(read_image(path)[:, :, 0], PIXELS[:, :, 1])


def test_16_bit_colour_png(tmp_path: Path) -> None:
    samples = RNG.integers(0, 65536, size=(64, 64, 3), dtype=np.uint16)
    rows = b"".join(b"\0" + row.astype(">u2").tobytes() for row in samples)
    path = png_file(tmp_path / "rgb16.png", 64, 64, 16, 2, zlib.compress(rows))
    assert np.array_equal(read_image(path), (samples >> 8).astype(np.uint8))


def test_float_samples_outside_0_to_1_are_refused(tmp_path: Path) -> None:
    # Issue 17: float samples in [0, 1] are read (x 255, rounded; tests/test_tiff.py), others
    # are refused with the range found.
    Image.fromarray(np.full((64, 64), 0.5, dtype=np.float32)).save(tmp_path / "f.tif")
    assert np.all(read_image(tmp_path / "f.tif") == 128)  # rint(127.5), half to even
    Image.fromarray(np.full((64, 64), 2.0, dtype=np.float32)).save(tmp_path / "f.tif")
    with pytest.raises(ImageError) as info:
        read_image(tmp_path / "f.tif")
    assert str(info.value) == (
        f"{tmp_path / 'f.tif'}: TIFF with 32-bit float samples range from 2 to 2; allowed: "
        "float samples in [0, 1] (read as 0..255)"
    )


# ---------------------------------------------------------------- size and orientation


def test_any_size_is_resized_bicubic(tmp_path: Path) -> None:
    big = RNG.integers(0, 256, size=(200, 300, 3), dtype=np.uint8)
    Image.fromarray(big).save(tmp_path / "big.png")
    pixels = read_image(tmp_path / "big.png")
    expected = np.asarray(Image.fromarray(big).resize((64, 64), BICUBIC))
    assert np.array_equal(pixels, expected)
    tiny = read_image(tmp_path / "big.png", (8, 12))
    assert tiny.shape == (8, 12, 3)
    assert np.array_equal(tiny, np.asarray(Image.fromarray(big).resize((12, 8), BICUBIC)))


def test_upscaling_a_small_picture(tmp_path: Path) -> None:
    Image.new("RGB", (3, 5), (40, 50, 60)).save(tmp_path / "small.png")
    assert np.all(read_image(tmp_path / "small.png") == [40, 50, 60])


def test_fit_crop_keeps_the_centre(tmp_path: Path) -> None:
    thirds = np.zeros((64, 192, 3), dtype=np.uint8)
    thirds[:, :64] = [255, 0, 0]
    thirds[:, 64:128] = [0, 255, 0]
    thirds[:, 128:] = [0, 0, 255]
    Image.fromarray(thirds).save(tmp_path / "wide.png")
    cropped = read_image(tmp_path / "wide.png", fit="crop")
    assert np.all(cropped == [0, 255, 0])
    stretched = read_image(tmp_path / "wide.png", fit="stretch")
    assert stretched[:, 0].tolist() == [[255, 0, 0]] * 64
    assert stretched[:, 32].tolist() == [[0, 255, 0]] * 64
    assert stretched[:, -1].tolist() == [[0, 0, 255]] * 64


@pytest.mark.parametrize(
    ("orientation", "top_left", "shape"),
    [(1, "red", (32, 64)), (3, "blue", (32, 64)), (6, "red", (64, 32)), (8, "blue", (64, 32))],
)
def test_exif_orientation(tmp_path: Path, orientation: int, top_left: str, shape: tuple) -> None:
    """Stored 64 wide, 32 high: left half red, right half blue. Orientation 6 means "rotate
    90 degrees clockwise to view": the left edge becomes the top."""
    stored = np.zeros((32, 64, 3), dtype=np.uint8)
    stored[:, :32] = [255, 0, 0]
    stored[:, 32:] = [0, 0, 255]
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(tmp_path / "o.png", exif=exif)
    pixels = read_image(tmp_path / "o.png", shape)  # the upright size: no resampling
    colours = {"red": [255, 0, 0], "blue": [0, 0, 255]}
    other = "blue" if top_left == "red" else "red"
    assert pixels[0, 0].tolist() == colours[top_left]
    assert pixels[-1, -1].tolist() == colours[other]
    if orientation in (6, 8):  # the halves now lie top and bottom
        assert np.all(pixels[:32] == colours[top_left]) and np.all(pixels[32:] == colours[other])


# ---------------------------------------------------------------- files that are not pictures


def test_decompression_bomb_is_refused_without_decoding(tmp_path: Path) -> None:
    """A 12 kB PNG whose 10000 x 10000 one-bit pixels would be 100 M, over Pillow's limit of
    89,478,485: Pillow alone would only warn and decode it."""
    compressor = zlib.compressobj(9)
    row = b"\0" * (1 + 10000 // 8)
    rows = b"".join(compressor.compress(row) for _ in range(10000)) + compressor.flush()
    path = png_file(tmp_path / "bomb.png", 10000, 10000, 1, 0, rows)
    assert path.stat().st_size < 50_000
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ImageError) as info:
            read_image(path)
    assert caught == []  # refused, not warned about
    assert str(info.value) == (
        f"{path}: refused, a picture of more than 89,478,485 pixels (Pillow's MAX_IMAGE_PIXELS; "
        "a decompression bomb?); allowed: up to that many"
    )


def test_huge_header_is_refused(tmp_path: Path) -> None:
    path = png_file(tmp_path / "huge.png", 50_000, 50_000, 8, 2, None)
    with pytest.raises(ImageError, match="refused, a picture of more than 89,478,485 pixels"):
        read_image(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a picture dlcli reads; allowed: PNG, JPEG, GIF, BMP, TIFF, WebP, PPM/PGM"),
        (b"hello, world\n", "not a picture dlcli reads; allowed: PNG, JPEG, GIF, BMP, TIFF"),
        # EPS would run Ghostscript: never tried.
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\n", "not a picture dlcli reads"),
        (b"\xff\xd8\xff\xe0garbage", "not a readable picture, damaged or truncated"),
    ],
)
def test_not_a_picture(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "file.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageError) as info:
        read_image(path)
    assert str(info.value).startswith(f"{path}: {message}")
    assert isinstance(info.value, DataError)  # an error a user causes: one line, exit 1


def test_truncated_png(tmp_path: Path) -> None:
    Image.fromarray(PIXELS).save(tmp_path / "whole.png")
    data = (tmp_path / "whole.png").read_bytes()
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError) as info:
        read_image(path)
    assert str(info.value).startswith(
        f"{path}: damaged or truncated PNG file, its pixels cannot be decoded ("
    )


def test_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"nothere\.png: no such file$"):
        read_image(tmp_path / "nothere.png")
    with pytest.raises(ImageError, match="is a directory, expected a picture"):
        read_image(tmp_path)


# ---------------------------------------------------------------- finding pictures


def test_find_pictures(tmp_path: Path) -> None:
    for name in ("b.png", "a.JPG", "sub/c.webp", "sub/deeper/d.tif", "notes.txt", ".hidden.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "e.png").write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    single = tmp_path / "notes.txt"
    found = find_pictures([tmp_path, single, tmp_path / "missing.png", tmp_path / "empty"])
    assert [(p.relative_to(tmp_path).as_posix(), problem) for p, problem in found] == [
        ("a.JPG", None),
        ("b.png", None),
        ("sub/c.webp", None),
        ("sub/deeper/d.tif", None),
        ("notes.txt", None),  # named explicitly: tried whatever its name
        ("missing.png", f"{tmp_path / 'missing.png'}: no such file"),
        (
            "empty",
            f"{tmp_path / 'empty'}: directory holds no pictures (PNG, JPEG, GIF, BMP, TIFF, WebP, PPM/PGM)",
        ),
    ]
    assert {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp"} <= EXTENSIONS
