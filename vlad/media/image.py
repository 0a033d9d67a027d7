"""Reading images into the RGB pixels every stage works on.

Images
------
:func:`load_image` turns a path, encoded bytes, a PIL image or a numpy array into an 8-bit
RGB :class:`PIL.Image.Image`, with these rules:

* EXIF orientation is applied for paths and bytes (a phone photo comes out upright).
  In-memory PIL images and arrays are taken as the caller sees them.
* Multi-frame files (animated GIF/PNG/WebP, multi-page TIFF) give their first frame, with a
  note saying so (:func:`image_notes`); so does an image under :data:`MIN_USEFUL_SIDE`
  pixels on a side.
* ``1`` and ``L`` gray is replicated into R, G and B; ``P`` has its palette expanded.
* Transparency (``RGBA``, ``LA``, ``PA``, premultiplied ``RGBa``/``La``, and ``P``, ``L``
  or ``RGB`` with a transparent colour) is alpha-composited over a **white** background,
  ``round(c * a / 255 + 255 * (1 - a / 255))``: a fully transparent pixel becomes white.
* ``CMYK``, ``YCbCr``, ``HSV`` and ``LAB`` use Pillow's own conversion to RGB (embedded
  ICC profiles are not applied).
* 16-bit gray (``I;16``, ``I;16B``, ``I;16L``) is scaled, not clipped: ``round(v * 255 /
  65535)``, so 65535 -> 255, 32768 -> 128, 257 -> 1. 32-bit ``I`` is scaled the same way
  when its maximum fits in 16 bits, else by its own maximum (``round(v * 255 / max)``);
  negative values become 0.
* Float (``F``) pixels all in [0, 1] are multiplied by 255; otherwise they are taken as
  0..255 values and clipped to that range; NaN or infinite values are refused.

Numpy arrays follow the same rules. Accepted shapes are (H, W), (H, W, 1), (H, W, 3)
and (H, W, 4) (the fourth channel is alpha); channels-first (C, H, W) is refused rather
than guessed. ``bool`` gives 0/255, ``uint8`` is used as it is, ``uint16`` is scaled as
16-bit, other integer types must lie in 0..255 (used as is) or else 0..65535 (scaled as
16-bit), and floats follow the ``F`` rule above. Rounding is half up throughout.

Decompression bombs: a path or bytes whose header declares more than ``max_pixels``
pixels (default :data:`DEFAULT_MAX_PIXELS`) is refused before any pixel is decoded.
``max_pixels=None`` removes vlad's limit, but Pillow's own hard limit (twice
``PIL.Image.MAX_IMAGE_PIXELS``, which vlad never changes) still applies and is reported
the same way. vlad silences Pillow's ``DecompressionBombWarning`` while it opens a file
(its own check replaces it); the filter uses :func:`warnings.catch_warnings`, which is
process-wide before Python 3.14.

Every problem with an input is an :class:`~vlad.errors.InputError` whose message is one
line: ``Cannot read image 'x.png': the file is truncated; re-export or re-copy it.``

Videos and frame folders are read by :mod:`vlad.media.video` (which loads the frames of a
folder with :func:`load_image`); :func:`iter_image_paths` lists the images of folders.
"""

from __future__ import annotations

import io
import numbers
import os
import re
import stat
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, TypeAlias

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vlad.errors import InputError
from vlad.utils.messages import exception_detail, printable

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "MIN_USEFUL_SIDE",
    "ImageSource",
    "image_notes",
    "image_to_array",
    "iter_image_paths",
    "load_image",
]

DEFAULT_MAX_PIXELS: int = 178_956_970
"""Largest width x height :func:`load_image` decodes unless told otherwise.

Twice Pillow's default ``MAX_IMAGE_PIXELS`` (89,478,485), i.e. the size at which Pillow
itself refuses a file: about 13,000 x 13,000 pixels, 537 MB once decoded as RGB. Pass
``max_pixels`` to lower or raise it, or None for no vlad limit.
"""

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm"}
)
"""Lower-case file suffixes that :func:`iter_image_paths` takes from a directory."""

ImageSource: TypeAlias = str | os.PathLike[str] | bytes | bytearray | Image.Image | np.ndarray
"""What :func:`load_image` accepts."""

MIN_USEFUL_SIDE: int = 32
"""Images with a side under this many pixels get a note (:func:`image_notes`): CLIP reads
224 x 224 inputs in patches of 14 to 32 pixels, so a smaller image holds about one patch of
detail, blown up."""

_NOTES_KEY = "vlad_notes"

_RE_PIL_BOMB = re.compile(r"\((\d+) pixels\) exceeds limit of (\d+)")
_RE_DIGITS = re.compile(r"(\d+)")

# First bytes of the formats worth naming when Pillow cannot identify a file.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)


# --------------------------------------------------------------------------- messages


def _error(name: str, problem: str, action: str, *, param: str | None = None) -> InputError:
    """Build the one-line error ``Cannot read image 'name': problem; action.``."""
    return InputError(f"Cannot read image '{printable(name)}': {problem}; {action}.", param=param)


def _too_big(name: str, size: tuple[int, int] | None, pixels: int, limit: int) -> InputError:
    """Build the error for an image over ``max_pixels``."""
    dims = f"{size[0]}x{size[1]} pixels ({pixels:,} in all)" if size else f"{pixels:,} pixels"
    return _error(
        name,
        f"it is {dims}, more than the limit of {limit:,} pixels",
        "pass a larger max_pixels, or None, if you trust the file",
        param="max_pixels",
    )


def _pillow_bomb(name: str, exc: Exception, max_pixels: int | None) -> InputError:
    """Turn Pillow's own DecompressionBombError into an InputError."""
    match = _RE_PIL_BOMB.search(str(exc))
    if match is None:
        return _error(
            name,
            "it is larger than Pillow's own decompression-bomb limit",
            "downscale or tile the image before passing it to vlad",
        )
    pixels, pil_limit = int(match.group(1)), int(match.group(2))
    if max_pixels is not None and pixels > max_pixels:
        return _too_big(name, None, pixels, max_pixels)
    return _error(
        name,
        f"it is {pixels:,} pixels, more than Pillow's own hard limit of {pil_limit:,} "
        "(twice PIL.Image.MAX_IMAGE_PIXELS), which vlad does not lift",
        "downscale or tile the image first, or raise PIL.Image.MAX_IMAGE_PIXELS in your code",
    )


def _sniff(head: bytes) -> str | None:
    """Name what a file that Pillow cannot identify looks like, or None."""
    for magic, fmt in _SIGNATURES:
        if head.startswith(magic):
            return fmt
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WebP"
    if len(head) >= 2 and head[0:1] == b"P" and head[1:2] in b"123456":
        return "PNM"
    return None


def _unidentified(name: str, head: bytes) -> InputError:
    """Explain why Pillow could not identify a file from its first bytes."""
    stripped = head.lstrip()
    if stripped.startswith(b"version https://git-lfs"):
        return _error(
            name,
            "it is a Git LFS pointer, not the image itself",
            "run 'git lfs pull' in its repository to fetch the real file",
        )
    if stripped[:15].lower().startswith((b"<!doctype html", b"<html")):
        return _error(
            name,
            "it is an HTML page, not an image (probably a failed download)",
            "download the image again",
        )
    if head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftyphevc"):
        return _error(
            name,
            "it is a HEIC/HEIF image, which Pillow cannot read",
            "convert it to PNG or JPEG first",
        )
    fmt = _sniff(head)
    if fmt is not None:
        return _error(
            name,
            f"it starts like a {fmt} file but its header is damaged or truncated",
            "re-export or re-copy it",
        )
    return _error(
        name,
        "it is not an image in a format Pillow can read",
        "check that it really is an image (PNG, JPEG, BMP, TIFF, WebP, GIF, PPM or PGM)",
    )


def _riff_truncated(head: bytes, total: int | None) -> bool:
    """Whether a RIFF (WebP) file is shorter than its header declares."""
    if total is None or len(head) < 8 or not head.startswith(b"RIFF"):
        return False
    return int.from_bytes(head[4:8], "little") + 8 > total


def _decode_failure(
    name: str, exc: Exception, head: bytes, total: int | None, what: str
) -> InputError:
    """Turn an exception raised while decoding pixel data into an InputError."""
    text = str(exc).lower()
    if isinstance(exc, EOFError) or "truncated" in text or _riff_truncated(head, total):
        return _error(name, f"the {what} is truncated", "re-export or re-copy it")
    if isinstance(exc, MemoryError):
        return _error(
            name,
            "there is not enough memory to decode it",
            "pass a smaller max_pixels or downscale the image",
        )
    return _error(
        name,
        f"the {what} is damaged or uses a variant of its format that Pillow cannot decode "
        f"(Pillow: {exception_detail(exc)})",
        "re-export it as PNG or JPEG",
    )


# --------------------------------------------------------------------------- decoding


def _check_max_pixels(max_pixels: int | None) -> int | None:
    """Return ``max_pixels`` as an int, refusing anything but a positive integer or None."""
    if max_pixels is None:
        return None
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, numbers.Integral):
        limit = 0
    else:
        limit = int(max_pixels)
    if limit < 1:
        raise InputError(
            f"max_pixels must be a positive whole number of pixels or None, got "
            f"{printable(repr(max_pixels))}; pass e.g. {DEFAULT_MAX_PIXELS}.",
            param="max_pixels",
        )
    return limit


def _head(fp: IO[bytes]) -> bytes:
    """Return the first bytes of ``fp`` (empty when it cannot be read)."""
    try:
        fp.seek(0)
        return fp.read(32)
    except (OSError, ValueError):
        return b""


def _decode(
    fp: IO[bytes], name: str, max_pixels: int | None, total: int | None, what: str
) -> Image.Image:
    """Open, size-check, fully decode, orient and convert one encoded image.

    Args:
        fp: Binary stream positioned at the start of the encoded image; not closed here.
        name: How the input is named in messages.
        max_pixels: Largest width x height allowed, or None for no vlad limit.
        total: Size of the encoded data in bytes, when known.
        what: ``"file"`` or ``"data"``, for messages.

    Returns:
        The image in RGB mode, independent of ``fp``.

    Raises:
        InputError: Anything that stops the image from being read.

    """
    with warnings.catch_warnings():
        # vlad's max_pixels check below replaces Pillow's warning; its hard error remains.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(fp)
        except Image.DecompressionBombError as exc:
            raise _pillow_bomb(name, exc, max_pixels) from exc
        except UnidentifiedImageError as exc:
            raise _unidentified(name, _head(fp)) from exc
        except Exception as exc:  # any header parser failure: report it, never a traceback
            raise _decode_failure(name, exc, _head(fp), total, what) from exc

        try:
            width, height = image.size
            if max_pixels is not None and width * height > max_pixels:
                raise _too_big(name, (width, height), width * height, max_pixels)
            if width < 1 or height < 1:
                raise _error(name, f"it has no pixels ({width}x{height})", "re-export it")
            try:
                image.load()  # decode every byte now so truncation is caught here
            except Image.DecompressionBombError as exc:
                raise _pillow_bomb(name, exc, max_pixels) from exc
            except Exception as exc:
                raise _decode_failure(name, exc, _head(fp), total, what) from exc
            _exif_transpose(image)
            return _with_notes(_to_rgb(image, name), frames=_frame_count(image))
        finally:
            image.close()


def _exif_transpose(image: Image.Image) -> None:
    """Apply the EXIF orientation tag in place; unreadable EXIF leaves the image as it is."""
    try:
        orientation = image.getexif().get(0x0112, 1)
    except Exception:  # broken EXIF must not make an otherwise good photo unreadable
        return
    if orientation in (2, 3, 4, 5, 6, 7, 8):
        ImageOps.exif_transpose(image, in_place=True)


def _load_path(path: Path, name: str, max_pixels: int | None) -> Image.Image:
    """Load an image file, with a clear error for every way a path can be unusable."""
    try:
        info = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise _error(name, "it is a broken symbolic link", "fix or remove the link") from None
        raise _error(name, "the file does not exist", "check the path and its spelling") from None
    except OSError as exc:
        raise _error(
            name, f"its details cannot be read ({exception_detail(exc)})", "check the path"
        ) from exc
    if stat.S_ISDIR(info.st_mode):
        raise _error(
            name,
            "it is a directory, not an image file",
            "pass one of its files (iter_image_paths expands directories)",
        )
    if not stat.S_ISREG(info.st_mode):
        raise _error(name, "it is not a regular file", "pass an image file")
    if info.st_size == 0:
        raise _error(name, "the file is empty (0 bytes)", "re-export or re-copy it")
    try:
        fp = path.open("rb")
    except PermissionError as exc:
        raise _error(name, "permission to read it is denied", "check its permissions") from exc
    except OSError as exc:
        detail = exception_detail(exc)
        raise _error(name, f"it cannot be opened ({detail})", "check the file") from exc
    with fp:
        return _decode(fp, name, max_pixels, info.st_size, "file")


# --------------------------------------------------------------------------- conversion


def _round_half_up(values: np.ndarray) -> np.ndarray:
    """Round non-negative floats half up and return uint8 (values must be in [0, 255])."""
    return np.floor(values + 0.5).astype(np.uint8)


def _scale_16bit(values: np.ndarray) -> np.ndarray:
    """Map 0..65535 to 0..255 as ``round(v * 255 / 65535)`` (= ``round(v / 257)``), exactly."""
    return ((values.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _float_to_uint8(values: np.ndarray, name: str) -> np.ndarray:
    """Apply the float rule: [0, 1] is scaled by 255, anything else is clipped to 0..255."""
    values = values.astype(np.float64, copy=False)
    if not np.isfinite(values).all():
        raise _error(
            name,
            "it contains NaN or infinite values",
            "replace them (e.g. numpy.nan_to_num) before loading",
        )
    if values.min() >= 0.0 and values.max() <= 1.0:
        values = values * 255.0
    return _round_half_up(np.clip(values, 0.0, 255.0))


def _array_to_uint8(array: np.ndarray, name: str) -> np.ndarray:
    """Convert an array of any supported dtype to uint8 by the module's rules."""
    dtype = array.dtype
    if dtype.kind == "b":
        return array.astype(np.uint8) * np.uint8(255)
    if dtype.kind == "u" and dtype.itemsize == 1:
        return array
    if dtype.kind == "u" and dtype.itemsize == 2:
        return _scale_16bit(array)
    if dtype.kind in "ui":
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 65535:
            raise _error(
                name,
                f"its {dtype} values run from {low} to {high}, outside 0..255 and 0..65535",
                "scale it to uint8 (0..255), uint16 (0..65535) or float in [0, 1]",
            )
        return array.astype(np.uint8) if high <= 255 else _scale_16bit(array)
    if dtype.kind == "f":
        return _float_to_uint8(array, name)
    raise _error(
        name,
        f"arrays of dtype {printable(str(dtype))} are not supported",
        "pass a bool, integer or float array",
    )


def _composite_on_white(rgba: np.ndarray) -> np.ndarray:
    """Composite straight-alpha uint8 (H, W, 4) pixels over white; return (H, W, 3)."""
    colour = rgba[..., :3].astype(np.uint16)
    alpha = rgba[..., 3:4].astype(np.uint16)
    # colour * a + 255 * (255 - a) <= 65025, so uint16 cannot overflow; +127 rounds half up.
    return ((colour * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)


def _premultiplied_on_white(pixels: np.ndarray) -> np.ndarray:
    """Composite premultiplied uint8 (H, W, C + 1) pixels over white; return (H, W, C)."""
    colour = pixels[..., :-1].astype(np.int16)
    alpha = pixels[..., -1:].astype(np.int16)
    return np.minimum(colour + (255 - alpha), 255).astype(np.uint8)


def _gray_to_rgb(gray: np.ndarray) -> Image.Image:
    """Make an RGB image from a uint8 (H, W) array."""
    return Image.fromarray(np.ascontiguousarray(gray)).convert("RGB")


def _rgb_image(rgb: np.ndarray) -> Image.Image:
    """Make an RGB image from a uint8 (H, W, 3) array."""
    return Image.fromarray(np.ascontiguousarray(rgb))


def _array_to_rgb(array: np.ndarray, name: str) -> Image.Image:
    """Convert a numpy array of a supported shape and dtype to an RGB image."""
    shape = tuple(int(n) for n in array.shape)
    if array.ndim == 3 and shape[2] == 1:
        array = array[..., 0]
    elif array.ndim == 3 and shape[2] not in (3, 4):
        if shape[0] in (1, 3, 4):
            raise _error(
                name,
                f"its shape {shape} looks channels-first (C, H, W), which is not guessed",
                "pass (H, W, C), e.g. array.transpose(1, 2, 0)",
            )
        raise _error(
            name,
            f"its shape {shape} has {shape[2]} channels",
            "pass (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) (RGBA)",
        )
    elif array.ndim not in (2, 3):
        raise _error(
            name,
            f"its shape {shape} is not an image's",
            "pass (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) (RGBA)",
        )
    if array.size == 0:
        raise _error(name, f"it has no pixels (shape {shape})", "pass a non-empty array")
    pixels = _array_to_uint8(array, name)
    if pixels.ndim == 2:
        return _gray_to_rgb(pixels)
    if pixels.shape[2] == 4:
        return _rgb_image(_composite_on_white(pixels))
    return _rgb_image(pixels)


def _int_image_to_uint8(image: Image.Image) -> np.ndarray:
    """Scale an ``I;16*`` or ``I`` image to uint8 (H, W) by the module's 16/32-bit rule."""
    values = np.asarray(image)
    if image.mode.startswith("I;16"):
        return _scale_16bit(values)
    values = np.clip(values.astype(np.int64), 0, None)
    high = int(values.max())
    if high <= 65535:
        return _scale_16bit(values)
    return _round_half_up(values.astype(np.float64) * (255.0 / high))


def _to_rgb(image: Image.Image, name: str) -> Image.Image:
    """Convert a loaded PIL image of any mode to a new RGB image.

    Args:
        image: The loaded image; it is not modified.
        name: How the input is named in messages.

    Returns:
        An RGB image that shares no pixel memory with ``image``.

    Raises:
        InputError: For float pixels that are not finite, or a mode Pillow cannot convert.

    """
    mode = image.mode
    transparent = "transparency" in image.info
    if mode == "RGB" and not transparent:
        return image.copy()
    if mode in ("RGBa", "La"):
        pixels = np.asarray(image)
        out = _premultiplied_on_white(pixels)
        return _rgb_image(out) if mode == "RGBa" else _gray_to_rgb(out[..., 0])
    if mode in ("RGBA", "LA", "PA") or (transparent and mode in ("P", "L", "RGB", "1")):
        return _rgb_image(_composite_on_white(np.asarray(image.convert("RGBA"))))
    if mode.startswith("I;16") or mode == "I":
        return _gray_to_rgb(_int_image_to_uint8(image))
    if mode == "F":
        return _gray_to_rgb(_float_to_uint8(np.asarray(image), name))
    try:
        # 1, L, P, CMYK, YCbCr, HSV, LAB, RGBX, ...: Pillow's own conversion.
        return image.convert("RGB")
    except (ValueError, OSError) as exc:
        raise _error(
            name,
            f"its pixel mode {printable(mode)} cannot be converted to RGB",
            "re-save it as an RGB PNG or JPEG",
        ) from exc


def _frame_count(image: Image.Image) -> int:
    """Frames in an opened image (1 for a still image or when Pillow cannot tell)."""
    try:
        return max(1, int(getattr(image, "n_frames", 1)))
    except Exception:  # a broken later frame: the first one was decoded, that is what counts
        return 1


def _with_notes(rgb: Image.Image, *, frames: int) -> Image.Image:
    """Attach the notes of :func:`image_notes` to a loaded image (in its ``info``)."""
    notes = []
    if frames > 1:
        notes.append(
            f"The file has {frames} frames (an animation); only the first frame is scored."
        )
    width, height = rgb.size
    if min(width, height) < MIN_USEFUL_SIDE:
        notes.append(
            f"The image is only {width}x{height} pixels (under {MIN_USEFUL_SIDE} on a side), "
            "so CLIP sees it blown up and its verdict says little."
        )
    rgb.info[_NOTES_KEY] = tuple(notes)
    return rgb


# --------------------------------------------------------------------------- public API


def load_image(
    source: ImageSource,
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    name: str | None = None,
) -> Image.Image:
    """Load an image from a path, bytes, a PIL image or an array as 8-bit RGB.

    The conversion rules (EXIF orientation, transparency over white, 16-bit and float
    scaling, accepted array shapes) are listed in this module's docstring.

    Args:
        source: A file path (``str`` or path-like), the encoded bytes of an image file,
            a :class:`PIL.Image.Image` or a :class:`numpy.ndarray`.
        max_pixels: Largest width x height decoded from a path or bytes; checked from the
            file's header before any pixel data is decoded. None removes vlad's limit
            (Pillow's own hard limit still applies). In-memory images and arrays are
            already decoded and are not checked.
        name: How the input is named in error messages; defaults to the path, or
            ``"<bytes>"``, ``"<PIL image>"`` or ``"<array>"``.

    Returns:
        A new RGB image; it holds no open file and shares no memory with ``source``.

    Raises:
        InputError: When the input is missing, a directory, empty, not an image, corrupt,
            truncated, larger than ``max_pixels``, of an unsupported type, shape or dtype,
            or holds NaN values. The message is one line naming the input and what to do.

    """
    max_pixels = _check_max_pixels(max_pixels)
    if isinstance(source, str | os.PathLike):
        text = os.fsdecode(os.fspath(source))
        label = text if name is None else name
        if not text:
            raise _error(label, "the path is empty", "pass the path of an image file")
        return _load_path(Path(text), label, max_pixels)
    if isinstance(source, bytes | bytearray | memoryview):
        label = "<bytes>" if name is None else name
        data = bytes(source)
        if not data:
            raise _error(label, "the data is empty (0 bytes)", "pass the bytes of an image file")
        return _decode(io.BytesIO(data), label, max_pixels, len(data), "data")
    if isinstance(source, Image.Image):
        label = "<PIL image>" if name is None else name
        try:
            source.load()
        except Exception as exc:  # a lazily opened file may fail only now
            raise _decode_failure(label, exc, b"", None, "image") from exc
        width, height = source.size
        if width < 1 or height < 1:
            raise _error(label, f"it has no pixels ({width}x{height})", "pass a non-empty image")
        return _with_notes(_to_rgb(source, label), frames=_frame_count(source))
    if isinstance(source, np.ndarray):
        return _with_notes(_array_to_rgb(source, "<array>" if name is None else name), frames=1)
    label = f"<{type(source).__name__}>" if name is None else name
    raise _error(
        label,
        f"a value of type {printable(type(source).__name__)} is not an image source",
        "pass a file path, the file's bytes, a PIL image or a numpy array",
    )


def image_notes(image: Image.Image) -> tuple[str, ...]:
    """What a reader of a verdict on this image should know, as :func:`load_image` saw it.

    A file of several frames (an animated GIF, PNG or WebP, a multi-page TIFF) is scored
    on its first frame only; an image under :data:`MIN_USEFUL_SIDE` pixels on a side is
    blown up to CLIP's input size, so its verdict says little. Both are said here rather
    than refused.

    Args:
        image: An image returned by :func:`load_image` (others have no notes).

    Returns:
        One sentence per thing to know, in that order; empty when there is none.
    """
    notes = image.info.get(_NOTES_KEY, ())
    return tuple(notes) if isinstance(notes, tuple) else ()


def image_to_array(image: Image.Image) -> np.ndarray:
    """Return the pixels of an image as a new uint8 array of shape (H, W, 3).

    Numpy's (H, W) is the transpose of PIL's ``image.size``, which is (W, H). An image that
    is not RGB is converted first with the rules of :func:`load_image`.

    Args:
        image: A PIL image of any mode.

    Returns:
        A writable, C-contiguous uint8 array (height, width, 3) that shares no memory with
        ``image``.

    Raises:
        InputError: When ``image`` is not a PIL image or cannot be converted to RGB.

    """
    if not isinstance(image, Image.Image):
        raise _error(
            f"<{type(image).__name__}>",
            "image_to_array needs a PIL image",
            "load it with load_image first",
        )
    try:
        image.load()
    except Exception as exc:  # a lazily opened file may fail only now
        raise _decode_failure("<PIL image>", exc, b"", None, "image") from exc
    plain_rgb = image.mode == "RGB" and "transparency" not in image.info
    rgb = image if plain_rgb else _to_rgb(image, "<PIL image>")
    array = np.array(rgb, dtype=np.uint8)
    width, height = image.size
    if array.shape != (height, width, 3):  # pragma: no cover - a Pillow contract break
        raise _error("<PIL image>", f"it gave pixels of shape {array.shape}", "report a bug")
    return array


def _natural_key(part: str) -> tuple[list[str | int], str]:
    """Sort key for one path component: digit runs compare as numbers, case is ignored."""
    pieces: list[str | int] = []
    for index, piece in enumerate(_RE_DIGITS.split(part.casefold())):
        pieces.append(int(piece) if index % 2 else piece)
    return pieces, part


def _path_key(relative: Path) -> tuple[tuple[list[str | int], str], ...]:
    """Natural sort key for a path relative to the directory being listed."""
    return tuple(_natural_key(part) for part in relative.parts)


def _walk_images(root: Path, recursive: bool) -> Iterator[Path]:
    """Yield the image files under ``root`` (skipping hidden entries), in any order."""
    seen: set[tuple[int, int]] = set()
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            info = folder.stat()
            if (info.st_dev, info.st_ino) in seen:  # a symbolic link loop
                continue
            seen.add((info.st_dev, info.st_ino))
            entries = list(os.scandir(folder))
        except OSError as exc:
            raise InputError(
                f"Cannot list directory '{printable(str(folder))}': {exception_detail(exc)}; "
                "check that it exists and is readable."
            ) from exc
        for entry in entries:
            if entry.name.startswith("."):  # .git, .ipynb_checkpoints, macOS ._x.png copies
                continue
            try:
                is_dir = entry.is_dir()
                is_file = not is_dir and entry.is_file()
            except OSError:
                continue
            if is_dir:
                if recursive:
                    pending.append(folder / entry.name)
            elif is_file and os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS:
                yield folder / entry.name


def iter_image_paths(
    inputs: Sequence[str | os.PathLike[str]], *, recursive: bool = True
) -> list[Path]:
    """Expand files and directories into the list of image files to process.

    A file is kept as given, whatever its suffix, so that a bad file still reaches
    :func:`load_image` and gets a clear error. A directory gives its files whose suffix is
    in :data:`IMAGE_EXTENSIONS` (any case), in natural order (``img2`` before ``img10``,
    compared folder by folder), descending into sub-directories (symbolic links included)
    when ``recursive`` is true. Entries whose name starts with ``.`` are skipped. The
    inputs keep their order; a path met twice is listed once. An empty directory gives
    nothing; the caller decides how to report that.

    Args:
        inputs: Files and directories; a single path is also accepted.
        recursive: Whether to descend into sub-directories.

    Returns:
        The image paths, each starting with the input it came from.

    Raises:
        InputError: When an input does not exist or a directory cannot be listed.

    """
    if isinstance(inputs, str | os.PathLike):
        inputs = [inputs]
    found: list[Path] = []
    listed: set[str] = set()

    def add(path: Path) -> None:
        key = os.path.normcase(os.path.abspath(path))
        if key not in listed:
            listed.add(key)
            found.append(path)

    for item in inputs:
        text = os.fsdecode(os.fspath(item))
        path = Path(text)
        if not text or not path.exists():
            what = "is a broken symbolic link" if path.is_symlink() else "does not exist"
            raise InputError(
                f"Cannot find input '{printable(text)}': it {what}; "
                "check the path and its spelling."
            )
        if path.is_dir():
            for image_path in sorted(
                _walk_images(path, recursive), key=lambda p: _path_key(p.relative_to(path))
            ):
                add(image_path)
        else:
            add(path)
    return found
