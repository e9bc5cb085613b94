"""Pictures: reading any picture a person has into a model's input, and drawing grids of them.

:func:`read_image` turns a file into uint8 pixels of shape (h, w, c), c = 3 (RGB) or 1 (grey),
in these steps:

1. Open it with Pillow, only as one of :data:`FORMATS` (never through an external program).
   A picture of more than Pillow's ``Image.MAX_IMAGE_PIXELS`` (89,478,485) pixels is refused
   before its pixels are decoded: a decompression bomb is never loaded.
   A TIFF that Pillow cannot decode (64-bit or 16-bit float samples, float RGB, ...), or not
   rightly (signed samples, more than 8 bits in planar (separate) samples: its tags say so
   before any pixel is read), is read through tifffile instead (:func:`read_tiff`): uint16
   samples / 257 and float samples in [0, 1] x 255, rounded to 8 bits. tifffile is imported
   only then.
2. Take the first frame (GIF, WebP, APNG) or page (TIFF), and decode it.
3. Apply the EXIF orientation, so a phone photo taken sideways stands upright.
4. Bring the pixels to 8-bit RGB (or grey, L): 16-bit samples keep their high byte
   (``v >> 8``, so 257 k becomes k, as Pillow does for 16-bit colour); 32-bit float grey
   (TIFF) in [0, 1] is multiplied by 255 and rounded, as tifffile's floats are; transparency
   (alpha, a palette or colour-key transparency) is composited on white; palette, 1-bit,
   grey, CMYK and YCbCr pictures are converted by Pillow. Colour profiles are not applied: pixel values are
   taken as stored, as the course does.
5. Resize to the model's size with Pillow's bicubic filter (``Image.Resampling.BICUBIC``,
   antialiased when shrinking; the default of the course's ``Image.resize``). ``fit="stretch"``
   (the course's way) scales width and height independently; ``fit="crop"`` first cuts the
   largest centred part with the model's aspect ratio, so nothing is distorted. A picture
   already at the model's size is not resampled: its pixels reach the network unchanged.

Every failure raises :class:`ImageError` naming the file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import warnings
import zlib
from collections.abc import Iterable, Iterator, Sequence
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
                if stage == "TIFF" and _pillow_misreads(im):
                    return read_tiff(path)
                im.seek(0)
                im.load()
                return ImageOps.exif_transpose(im)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(
                f"{path}: refused, a picture of more than {limit:,} pixels (Pillow's "
                "MAX_IMAGE_PIXELS; a decompression bomb?); allowed: up to that many"
            ) from None
        except UnidentifiedImageError:
            if _is_tiff(path):
                return read_tiff(path)  # or the reason tifffile gives, not "not a picture"
            raise ImageError(
                f"{path}: not a picture dlcli reads; allowed: {FORMAT_NAMES}"
            ) from None
        except broken as exc:
            if _is_tiff(path):
                return read_tiff(path)
            if stage == "open":
                raise ImageError(
                    f"{path}: not a readable picture, damaged or truncated ({exc}); "
                    f"allowed: {FORMAT_NAMES}"
                ) from None
            raise ImageError(
                f"{path}: damaged or truncated {stage} file, its pixels cannot be decoded ({exc})"
            ) from None


_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF
#: TIFF orientation (tag 274) -> the Pillow transpose that stands the picture upright, as
#: ImageOps.exif_transpose does for the same tag.
_UPRIGHT = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE"}
_UPRIGHT |= {6: "ROTATE_270", 7: "TRANSVERSE", 8: "ROTATE_90"}
_TIFF_ALLOWED = "allowed: grey or RGB TIFF, 8- or 16-bit unsigned or float samples in [0, 1]"
# What tifffile raises on a file it cannot parse or decode (a missing codec is a ValueError).
_TIFF_BROKEN = (ValueError, OSError, EOFError, IndexError, KeyError, TypeError, ArithmeticError)
_TIFF_BROKEN += (NotImplementedError, struct.error, zlib.error)


def _is_tiff(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) in _TIFF_MAGIC
    except OSError:
        return False


@contextlib.contextmanager
def _quiet_tifffile() -> Iterator[None]:
    """tifffile logs what it reads past ("TiffPage 0: ... invalid tag") and may warn: either
    would be a second line on the user's stderr; the error raised says what counts."""
    logger = logging.getLogger("tifffile")
    was = logger.disabled
    logger.disabled = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.disabled = was


def _tiff_head(page: Any) -> dict[str, Any]:
    """What a tifffile page holds, without decoding its pixels."""
    return {
        "bits": page.bitspersample,
        "format": int(page.sampleformat),
        "samples": page.samplesperpixel,
        "planar": page.samplesperpixel > 1 and int(page.planarconfig) == 2,
    }


def _pillow_misreads(im: Any) -> bool:
    """Whether Pillow would read this opened TIFF wrongly, from its first page's tags (read
    before any pixel): signed samples (SampleFormat 2: Pillow takes them as 32-bit, and gives
    no reason), or planar samples of more than 8 bits (PlanarConfiguration 2: Pillow reads
    16-bit planar RGB as noise). What Pillow refuses outright goes to tifffile when it does."""
    tags = im.tag_v2
    formats, bits = tags.get(339, 1), tags.get(258, 1)  # an int, or one per sample
    formats = formats if isinstance(formats, tuple) else (formats,)
    bits = bits if isinstance(bits, tuple) else (bits,)
    planar = tags.get(277, 1) > 1 and tags.get(284, 1) == 2
    return 2 in formats or (planar and max(bits) > 8)


def _tiff_samples(head: dict[str, Any]) -> str:
    """ "64-bit float planar samples", "16-bit unsigned samples", as the messages say them."""
    kind = {1: "unsigned", 2: "signed integer", 3: "float", 5: "complex integer"}
    kind = kind.get(head["format"], "complex float" if head["format"] == 6 else "untyped")
    return f"{head['bits']}-bit {kind}{' planar' if head['planar'] else ''} samples"


def read_tiff(path: Path) -> Any:
    """A TIFF's first page read through tifffile, as an 8-bit Pillow image, upright.

    uint8 samples are kept, uint16 ones divided by 257, float ones in [0, 1] multiplied by
    255 (both rounded); grey (min-is-black or min-is-white) or RGB, with an alpha sample
    kept for :func:`to_8bit` to composite on white, other extra samples dropped.

    Returns
    -------
    A ``PIL.Image.Image`` in mode "L", "LA", "RGB" or "RGBA".

    Raises
    ------
    ImageError
        Naming the file and the real reason: the kind of samples or colour it does not
        take, float samples outside [0, 1], a codec tifffile lacks, damage, or more pixels
        than Pillow's ``Image.MAX_IMAGE_PIXELS`` (refused before decoding).
    """
    import tifffile
    from PIL import Image

    try:
        with _quiet_tifffile(), tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            head = _tiff_head(page)
            what = f"TIFF with {_tiff_samples(head)}"
            _refuse_tiff(page, head, what, path, Image.MAX_IMAGE_PIXELS)
            try:
                samples = page.asarray()  # (h, w), (h, w, s) or planar (s, h, w)
            except _TIFF_BROKEN as exc:
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                name = page.compression.name
                packed = "uncompressed" if name == "NONE" else f"{name} compression"
                raise ImageError(f"{path}: {what} ({packed}) cannot be decoded: {reason}") from None
            axes, photometric = page.axes, int(page.photometric)
            alpha = bool(page.extrasamples) and int(page.extrasamples[0]) in (1, 2)
            premultiplied = alpha and int(page.extrasamples[0]) == 1
            orientation = int(page.tags.valueof(274, 1))
    except IndexError:  # tif.pages.first of a file whose pages cannot be found
        raise ImageError(
            f"{path}: damaged or truncated TIFF: no page of pixels can be found in it"
        ) from None
    except _TIFF_BROKEN as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ImageError(
            f"{path}: damaged or truncated TIFF, tifffile cannot read it ({reason})"
        ) from None
    if "S" in axes:
        samples = np.moveaxis(samples, axes.index("S"), -1)
    pixels = _tiff_to_uint8(samples, path, what)
    pixels = pixels.reshape(*pixels.shape[:2], -1)  # (h, w, s)
    colour = pixels[:, :, :3] if photometric == 2 else pixels[:, :, :1]
    if photometric == 0:  # min-is-white: 0 is white
        colour = 255 - colour
    if alpha:
        a = pixels[:, :, colour.shape[2] : colour.shape[2] + 1]
        if premultiplied:  # colour was multiplied by alpha: undo it for the compositing
            straight = colour * 255.0 / np.maximum(a, 1)
            colour = np.clip(np.rint(straight), 0, 255).astype(np.uint8)
        colour = np.concatenate([colour, a], axis=2)
    im = Image.fromarray(colour[:, :, 0] if colour.shape[2] == 1 else colour)  # L, LA, RGB(A)
    if orientation in _UPRIGHT:
        im = im.transpose(getattr(Image.Transpose, _UPRIGHT[orientation]))
    return im


def _refuse_tiff(page: Any, head: dict[str, Any], what: str, path: Path, limit: int) -> None:
    """Refuse, before decoding, what :func:`read_tiff` does not take, with the reason."""
    bits, fmt, photometric = head.get("bits"), head.get("format"), int(page.photometric)
    if not ((fmt == 1 and bits in (1, 8, 16)) or (fmt == 3 and bits in (16, 32, 64))):
        why = "no agreed range" if fmt in (1, 2) else "not a picture's samples"
        raise ImageError(f"{path}: {what} is not supported ({why}); {_TIFF_ALLOWED}")
    if photometric not in (0, 1, 2):
        name = page.photometric.name
        raise ImageError(f"{path}: {what} in {name} colour is not supported; {_TIFF_ALLOWED}")
    if photometric == 2 and head["samples"] < 3:
        raise ImageError(f"{path}: {what}: RGB with {head['samples']} samples; {_TIFF_ALLOWED}")
    if set(page.axes) - set("YXS"):
        raise ImageError(
            f"{path}: {what} is not supported: a page of axes {page.axes} (a volume?); "
            "allowed: a 2-D picture"
        )
    if page.imagewidth * page.imagelength > limit:
        raise ImageError(
            f"{path}: refused, a picture of more than {limit:,} pixels (Pillow's "
            "MAX_IMAGE_PIXELS; a decompression bomb?); allowed: up to that many"
        )


def _tiff_to_uint8(samples: np.ndarray, path: Path, what: str) -> np.ndarray:
    """Samples as 0..255: uint16 / 257, float in [0, 1] x 255 (rounded), 1-bit as 0 or 255.
    Float samples outside [0, 1] (or NaN) are refused: no agreed range."""
    if samples.dtype == np.uint8:
        return samples
    if samples.dtype == np.bool_:
        return samples.astype(np.uint8) * 255
    if samples.dtype == np.uint16:
        return np.rint(samples / 257.0).astype(np.uint8)
    values = samples.astype(np.float64)
    if not np.isfinite(values).all():
        raise ImageError(
            f"{path}: {what} hold NaN or infinite values; allowed: float samples in [0, 1]"
        )
    low, high = (values.min(), values.max()) if values.size else (0.0, 0.0)
    if low < 0 or high > 1:
        raise ImageError(
            f"{path}: {what} range from {low:g} to {high:g}; allowed: float samples in "
            "[0, 1] (read as 0..255)"
        )
    return np.rint(values * 255.0).astype(np.uint8)


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
    elif im.mode == "F":  # 32-bit float grey, of a TIFF: in [0, 1], as tifffile's are read
        what = "TIFF with 32-bit float samples"
        im = Image.fromarray(_tiff_to_uint8(np.asarray(im), path, what))
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
