"""Pictures: reading any picture a person has into a model's input, and drawing grids of them.

:func:`read_image` turns a file into uint8 pixels of shape (h, w, c), c = 3 (RGB) or 1 (grey),
in these steps:

1. Open it with Pillow, only as one of :data:`FORMATS` (never through an external program).
   A picture of more than Pillow's ``Image.MAX_IMAGE_PIXELS`` (89,478,485) pixels is refused
   before its pixels are decoded: a decompression bomb is never loaded.
2. Take the first frame (GIF, WebP, APNG) or page (TIFF), and decode it.
3. Apply the EXIF orientation, so a phone photo taken sideways stands upright.
4. Bring the pixels to 8-bit RGB (or grey, L): 16-bit samples keep their high byte
   (``v >> 8``, so 257 k becomes k, as Pillow does for 16-bit colour); transparency (alpha, a
   palette or colour-key transparency) is composited on white; palette, 1-bit, grey, CMYK and
   YCbCr pictures are converted by Pillow. Colour profiles are not applied: pixel values are
   taken as stored, as the course does.
5. Resize to the model's size with Pillow's bicubic filter (``Image.Resampling.BICUBIC``,
   antialiased when shrinking; the default of the course's ``Image.resize``). ``fit="stretch"``
   (the course's way) scales width and height independently; ``fit="crop"`` first cuts the
   largest centred part with the model's aspect ratio, so nothing is distorted. A picture
   already at the model's size is not resampled: its pixels reach the network unchanged.

Every failure raises :class:`ImageError` naming the file.
"""

from __future__ import annotations

import os
import struct
import warnings
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from dlcli.errors import ImageError
from dlcli.fileio import atomic_write

# The Pillow formats read, each with the extensions a directory is searched for. No other
# format is ever tried (EPS, for one, would run Ghostscript).
FORMATS = {
    "PNG": (".png", ".apng"),
    "JPEG": (".jpg", ".jpeg", ".jpe", ".jfif", ".mpo"),  # Pillow opens MPO (cameras) as JPEG
    "GIF": (".gif",),
    "BMP": (".bmp", ".dib"),
    "DIB": (),
    "TIFF": (".tif", ".tiff"),
    "WEBP": (".webp",),
    "PPM": (".ppm", ".pgm", ".pbm", ".pnm"),
}
FORMAT_NAMES = "PNG, JPEG, GIF, BMP, TIFF, WebP, PPM/PGM"
EXTENSIONS = frozenset(ext for exts in FORMATS.values() for ext in exts)
FITS = ("stretch", "crop")
Fit = Literal["stretch", "crop"]


def find_pictures(paths: Iterable[Path]) -> list[tuple[Path, str | None]]:
    """Expand the paths a user gave into pictures to read.

    A file stays as it is, whatever its name. A directory becomes the files under it,
    recursively, with a picture extension (:data:`EXTENSIONS`, any case), sorted by path;
    hidden files and folders (``.name``, such as macOS ``._IMG.jpg``) are skipped.

    Returns
    -------
    list of (path, problem): ``problem`` is None, or a message for a path that holds no
    picture at all (missing, or a directory without pictures); it is kept in place so the
    caller can report it in order.
    """
    found: list[tuple[Path, str | None]] = []
    for path in paths:
        if path.is_dir():
            inside = []
            for root, dirs, files in os.walk(path):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                inside += [
                    Path(root) / name
                    for name in files
                    if not name.startswith(".") and Path(name).suffix.lower() in EXTENSIONS
                ]
            if not inside:
                found.append((path, f"{path}: directory holds no pictures ({FORMAT_NAMES})"))
            found += [(p, None) for p in sorted(inside)]
        elif not path.exists():
            found.append((path, f"{path}: no such file"))
        else:
            found.append((path, None))
    return found


def open_image(path: Path) -> Any:
    """Open and decode a picture's first frame, upright (EXIF orientation applied).

    Returns
    -------
    A loaded ``PIL.Image.Image`` in the mode the file holds.

    Raises
    ------
    ImageError
        No such file, not a picture in :data:`FORMATS`, damaged or truncated, or more pixels
        than ``Image.MAX_IMAGE_PIXELS`` (refused before decoding).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if path.is_dir():
        raise ImageError(f"{path}: is a directory, expected a picture ({FORMAT_NAMES})")
    limit = Image.MAX_IMAGE_PIXELS
    # What Pillow's readers raise on a damaged file (Image.open turns most failures into
    # UnidentifiedImageError; a truncated header or pixel stream gives OSError and the like).
    broken = (OSError, SyntaxError, EOFError, ValueError, struct.error, zlib.error)
    stage = "open"
    # Pillow only warns between 1x and 2x its limit, and would then decode the whole bomb.
    with warnings.catch_warnings():
        # Pillow warns about damage it reads past ("Corrupt EXIF data"); a warning would be a
        # second line on the user's stderr, so only the bomb warning counts, as an error.
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path, formats=tuple(FORMATS)) as im:
                stage = im.format
                im.seek(0)
                im.load()
                return ImageOps.exif_transpose(im)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(
                f"{path}: refused, a picture of more than {limit:,} pixels (Pillow's "
                "MAX_IMAGE_PIXELS; a decompression bomb?); allowed: up to that many"
            ) from None
        except UnidentifiedImageError:
            raise ImageError(
                f"{path}: not a picture dlcli reads; allowed: {FORMAT_NAMES}"
            ) from None
        except broken as exc:
            if stage == "open":
                raise ImageError(
                    f"{path}: not a readable picture, damaged or truncated ({exc}); "
                    f"allowed: {FORMAT_NAMES}"
                ) from None
            raise ImageError(
                f"{path}: damaged or truncated {stage} file, its pixels cannot be decoded ({exc})"
            ) from None


def to_8bit(im: Any, channels: int, path: Path) -> Any:
    """A Pillow image in mode "RGB" (``channels`` 3) or "L" (``channels`` 1), 8 bits a sample.

    See the module docstring (step 4) for each mode's rule.
    """
    from PIL import Image

    if im.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N"):
        # 16-bit grey (PNG, TIFF: "I;16"; 16-bit PGM: "I"). Pillow's own conversion clips
        # everything above 255 to white, so keep the high byte instead.
        samples = np.asarray(im)
        if samples.size and (samples.min() < 0 or samples.max() > 65535):
            raise ImageError(
                f"{path}: 32-bit integer samples from {samples.min()} to {samples.max()} have no "
                "agreed range; allowed: 8- or 16-bit pictures"
            )
        im = Image.fromarray((samples.astype(np.uint32) >> 8).astype(np.uint8), mode="L")
    elif im.mode == "F":
        raise ImageError(
            f"{path}: 32-bit floating-point samples (mode F) have no agreed range; "
            "allowed: 8- or 16-bit pictures"
        )
    if im.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in im.info:
        # RGBA, LA, PA, P or RGB/L with a transparent colour: composite on white.
        try:
            rgba = im.convert("RGBA")
        except ValueError as exc:
            raise ImageError(f"{path}: mode {im.mode} cannot be converted to RGB ({exc})") from None
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba).convert("RGB")
    target = "RGB" if channels == 3 else "L"
    if im.mode != target:
        try:
            im = im.convert(target)
        except ValueError as exc:
            raise ImageError(
                f"{path}: mode {im.mode} cannot be converted to {target} ({exc})"
            ) from None
    return im


def read_image(
    path: Path, size: tuple[int, int] = (64, 64), channels: int = 3, *, fit: Fit = "stretch"
) -> np.ndarray:
    """Read any picture as the model's input pixels.

    Parameters
    ----------
    path : a picture file in one of :data:`FORMATS`
    size : (height, width) of the model's input
    channels : 3 for RGB, 1 for grey
    fit : "stretch" (resize, as the course) or "crop" (centre-crop to the aspect, then resize)

    Returns
    -------
    pixels : ndarray of shape (height, width, channels), uint8

    Raises
    ------
    ImageError
        For any picture that cannot be read (see :func:`open_image`).
    """
    from PIL import Image, ImageOps

    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, not {channels}")
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, not {fit!r}")
    im = to_8bit(open_image(path), channels, path)
    height, width = size
    if im.size != (width, height):
        bicubic = Image.Resampling.BICUBIC
        if fit == "crop":
            im = ImageOps.fit(im, (width, height), method=bicubic)
        else:
            im = im.resize((width, height), bicubic)
    pixels = np.asarray(im, dtype=np.uint8)
    return pixels.reshape(height, width, channels)


def write_grid(
    path: Path,
    pictures: Sequence[np.ndarray],
    titles: Sequence[str],
    title: str,
    *,
    title_colors: Sequence[str] | None = None,
    columns: int = 5,
) -> None:
    """Draw pictures in a grid with a caption over each and save it as PNG (Agg, atomic).

    Parameters
    ----------
    pictures : each an ndarray of shape (h, w, 3), (h, w, 1) or (h, w), uint8
    titles : one caption per picture (may hold line breaks)
    title : the figure's title; with no pictures it is all the figure shows
    title_colors : one matplotlib colour per caption, default black
    """
    from matplotlib.figure import Figure

    n = len(pictures)
    cols = max(1, min(columns, n))
    rows = max(1, -(-n // cols))
    lines = max((t.count("\n") + 1 for t in titles), default=1)
    # Constrained layout leaves room for the suptitle above the first row's captions.
    fig = Figure(
        figsize=(2.2 * cols, (2.0 + 0.2 * lines) * rows + 0.5), dpi=100, layout="constrained"
    )
    fig.suptitle(title, fontsize=11)
    if n == 0:
        fig.set_size_inches(6, 1.5)
    axes = fig.subplots(rows, cols, squeeze=False) if n else np.empty((0, 0))
    colors = title_colors or ["black"] * n
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            picture = pictures[i]
            if picture.ndim == 3 and picture.shape[2] == 1:
                picture = picture[:, :, 0]
            ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0, vmax=255)
            ax.set_title(titles[i], fontsize=8, color=colors[i])

    def write(tmp: Path) -> None:
        fig.savefig(tmp, format="png")

    atomic_write(path, write)
