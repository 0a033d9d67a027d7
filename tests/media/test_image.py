"""Tests of vlad.media.image (images): every input is built here with Pillow or numpy."""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, features

from vlad.errors import InputError
from vlad.media.image import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    image_to_array,
    iter_image_paths,
    load_image,
)

RED, GREEN, BLUE, WHITE, BLACK = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)


# ----------------------------------------------------------------------------- helpers


def save(path: Path, image: Image.Image, **params) -> Path:
    image.save(path, **params)
    return path


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def pixels(image: Image.Image) -> list[tuple[int, int, int]]:
    """Row-major RGB tuples of an image."""
    assert image.mode == "RGB"
    return [tuple(int(v) for v in p) for p in image_to_array(image).reshape(-1, 3)]


def random_rgb(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def png_header(width: int, height: int) -> bytes:
    """A PNG with a valid IHDR for width x height gray pixels and no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


def assert_one_line(exc: pytest.ExceptionInfo[InputError], *needles: str) -> str:
    message = str(exc.value)
    assert "\n" not in message and "\r" not in message
    assert message.endswith(".")
    assert "Traceback" not in message
    for needle in needles:
        assert needle in message, (needle, message)
    return message


# ----------------------------------------------------------------------------- modes


def test_rgb_png_round_trip_is_exact_and_new(tmp_path: Path) -> None:
    source = random_rgb(5, 4)
    path = save(tmp_path / "rgb.png", source)
    loaded = load_image(path)
    assert loaded.mode == "RGB" and loaded.size == (5, 4)
    np.testing.assert_array_equal(image_to_array(loaded), np.asarray(source))
    assert getattr(loaded, "fp", None) is None  # holds no file


def test_str_path_and_pathlike_give_the_same(tmp_path: Path) -> None:
    path = save(tmp_path / "a.png", random_rgb(3, 2))
    assert pixels(load_image(str(path))) == pixels(load_image(path))


def test_gray_l_is_replicated(tmp_path: Path) -> None:
    gray = Image.fromarray(np.array([[0, 77, 255]], dtype=np.uint8))
    assert gray.mode == "L"
    assert pixels(load_image(save(tmp_path / "l.png", gray))) == [BLACK, (77, 77, 77), WHITE]


def test_bilevel_1(tmp_path: Path) -> None:
    image = Image.new("1", (2, 1), 0)
    image.putpixel((1, 0), 1)
    assert pixels(load_image(save(tmp_path / "one.png", image))) == [BLACK, WHITE]
    assert pixels(load_image(image)) == [BLACK, WHITE]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 0), (128, 0), (129, 1), (257, 1), (32768, 128), (65535, 255), (1000, 4)],
)
def test_i16_png_is_scaled_not_clipped(tmp_path: Path, value: int, expected: int) -> None:
    image = Image.fromarray(np.full((2, 3), value, dtype=np.uint16))
    assert image.mode == "I;16"
    path = save(tmp_path / "gray16.png", image)
    with Image.open(path) as check:
        assert check.mode == "I;16"
    loaded = load_image(path)
    assert loaded.size == (3, 2)
    assert pixels(loaded) == [(expected,) * 3] * 6


def test_i16_big_endian_and_tiff() -> None:
    values = np.array([[257, 32768, 65535]], dtype=">u2")
    image = Image.frombytes("I;16B", (3, 1), values.tobytes())
    assert image.mode == "I;16B"
    assert pixels(load_image(image)) == [(1, 1, 1), (128, 128, 128), WHITE]
    tiff = encode(Image.fromarray(values.astype(np.uint16)), "TIFF")
    assert pixels(load_image(tiff)) == [(1, 1, 1), (128, 128, 128), WHITE]


def test_i32_within_16_bits_is_scaled_as_16_bit() -> None:
    image = Image.fromarray(np.array([[-5, 257, 32768, 65535]], dtype=np.int32))
    assert image.mode == "I"
    assert pixels(load_image(image)) == [BLACK, (1, 1, 1), (128, 128, 128), WHITE]


def test_i32_above_16_bits_is_scaled_by_its_max() -> None:
    image = Image.fromarray(np.array([[0, 500_000, 1_000_000, -3]], dtype=np.int32))
    assert pixels(load_image(image)) == [BLACK, (128, 128, 128), WHITE, BLACK]


def test_float_f_in_unit_range_is_scaled() -> None:
    image = Image.fromarray(np.array([[0.0, 0.5, 1.0, 0.2]], dtype=np.float32))
    assert image.mode == "F"
    assert pixels(load_image(image)) == [BLACK, (128, 128, 128), WHITE, (51, 51, 51)]


def test_float_f_outside_unit_range_is_clipped() -> None:
    image = Image.fromarray(np.array([[-5.0, 100.4, 300.0, 0.5]], dtype=np.float32))
    assert pixels(load_image(image)) == [BLACK, (100, 100, 100), WHITE, (1, 1, 1)]


def test_float_f_nan_is_refused(tmp_path: Path) -> None:
    image = Image.fromarray(np.array([[0.5, np.nan]], dtype=np.float32))
    path = save(tmp_path / "nan.tif", image)
    with pytest.raises(InputError, match="NaN") as exc:
        load_image(path)
    assert_one_line(exc, "nan.tif")


def test_rgba_is_composited_over_white(tmp_path: Path) -> None:
    data = np.array(
        [[[255, 0, 0, 0], [255, 0, 0, 128], [255, 0, 0, 255], [0, 0, 0, 64]]], dtype=np.uint8
    )
    image = Image.fromarray(data)
    assert image.mode == "RGBA"
    expected = [WHITE, (255, 127, 127), RED, (191, 191, 191)]
    assert pixels(load_image(save(tmp_path / "rgba.png", image))) == expected
    assert pixels(load_image(image)) == expected
    assert pixels(load_image(data)) == expected


def test_la_is_composited_over_white(tmp_path: Path) -> None:
    image = Image.new("LA", (3, 1))
    for x, value in enumerate([(100, 0), (100, 255), (0, 128)]):
        image.putpixel((x, 0), value)
    expected = [WHITE, (100, 100, 100), (127, 127, 127)]
    assert pixels(load_image(save(tmp_path / "la.png", image))) == expected


def test_premultiplied_rgba_and_la() -> None:
    rgba = Image.new("RGBa", (2, 1))
    rgba.putpixel((0, 0), (100, 0, 0, 128))
    rgba.putpixel((1, 0), (0, 0, 0, 0))
    assert pixels(load_image(rgba)) == [(227, 127, 127), WHITE]
    la = Image.new("La", (1, 1))
    la.putpixel((0, 0), (50, 128))
    assert pixels(load_image(la)) == [(177, 177, 177)]


def palette_image(transparent: bool) -> Image.Image:
    image = Image.new("P", (3, 1))
    image.putpalette([*RED, *BLUE, *GREEN] + [0] * (256 - 3) * 3)
    for x in range(3):
        image.putpixel((x, 0), x)
    if transparent:
        image.info["transparency"] = 0
    return image


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_with_transparency_over_white(fmt: str) -> None:
    data = encode(palette_image(transparent=True), fmt, transparency=0)
    with Image.open(io.BytesIO(data)) as check:
        assert check.mode == "P" and "transparency" in check.info
    assert pixels(load_image(data)) == [WHITE, BLUE, GREEN]


def test_palette_without_transparency_is_expanded(tmp_path: Path) -> None:
    path = save(tmp_path / "p.png", palette_image(transparent=False))
    assert pixels(load_image(path)) == [RED, BLUE, GREEN]


def test_palette_alpha_pa() -> None:
    image = Image.new("PA", (2, 1))
    image.putpalette([*RED] + [0] * 255 * 3)
    image.putpixel((0, 0), (0, 255))
    image.putpixel((1, 0), (0, 0))
    assert pixels(load_image(image)) == [RED, WHITE]


def test_rgb_with_transparent_colour_key(tmp_path: Path) -> None:
    image = Image.new("RGB", (2, 1), (1, 2, 3))
    image.putpixel((1, 0), (9, 9, 9))
    path = save(tmp_path / "trns.png", image, transparency=(1, 2, 3))
    assert pixels(load_image(path)) == [WHITE, (9, 9, 9)]


def test_cmyk_pure_cyan(tmp_path: Path) -> None:
    image = Image.new("CMYK", (2, 1), (255, 0, 0, 0))
    image.putpixel((1, 0), (0, 0, 0, 255))
    path = save(tmp_path / "cmyk.tif", image)
    assert pixels(load_image(path)) == [(0, 255, 255), BLACK]


def test_ycbcr_hsv_lab_use_pillow() -> None:
    assert pixels(load_image(Image.new("YCbCr", (1, 1), (255, 128, 128)))) == [WHITE]
    assert pixels(load_image(Image.new("HSV", (1, 1), (0, 255, 255)))) == [RED]
    lab = Image.new("LAB", (1, 1), (255, 128, 128))
    assert pixels(load_image(lab)) == pixels(lab.convert("RGB"))
    assert all(v >= 250 for v in pixels(load_image(lab))[0])


# ----------------------------------------------------------------------------- EXIF


def oriented(orientation: int) -> tuple[Image.Image, bytes]:
    """A 40x20 black image with a red 10x10 block at its stored top-left corner."""
    image = Image.new("RGB", (40, 20), BLACK)
    image.paste(RED, (0, 0, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return image, exif.tobytes()


def is_red(rgb: tuple[int, int, int]) -> bool:
    return rgb[0] > 200 and rgb[1] < 60 and rgb[2] < 60


@pytest.mark.parametrize(
    ("orientation", "red_at", "black_at"),
    # 6: rotate 90 degrees clockwise -> stored top-left lands at the top-right.
    # 8: rotate 90 degrees counter-clockwise -> stored top-left lands at the bottom-left.
    [(6, (15, 5), (5, 5)), (8, (5, 35), (5, 5)), (3, (35, 15), (5, 5))],
)
@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_exif_orientation_is_applied(
    tmp_path: Path, orientation: int, red_at: tuple[int, int], black_at: tuple[int, int], fmt: str
) -> None:
    image, exif = oriented(orientation)
    path = save(tmp_path / f"o{orientation}.{fmt.lower()}", image, format=fmt, exif=exif)
    for source in (path, path.read_bytes()):
        loaded = load_image(source)
        expected_size = (20, 40) if orientation in (6, 8) else (40, 20)
        assert loaded.size == expected_size
        assert image_to_array(loaded).shape == (expected_size[1], expected_size[0], 3)
        assert is_red(loaded.getpixel(red_at))
        assert not is_red(loaded.getpixel(black_at))


def test_exif_orientation_of_in_memory_image_is_left_alone() -> None:
    image, exif = oriented(6)
    with Image.open(io.BytesIO(encode(image, "PNG", exif=exif))) as opened:
        assert load_image(opened).size == (40, 20)


# ----------------------------------------------------------------------------- sources


def test_bytes_bytearray_and_name() -> None:
    data = encode(random_rgb(3, 2), "PNG")
    assert load_image(data).size == (3, 2)
    assert load_image(bytearray(data)).size == (3, 2)


def test_pil_source_is_not_modified_or_returned() -> None:
    source = random_rgb(3, 2)
    before = np.asarray(source).copy()
    loaded = load_image(source)
    assert loaded is not source
    loaded.putpixel((0, 0), (1, 2, 3))
    np.testing.assert_array_equal(np.asarray(source), before)
    rgba = Image.new("RGBA", (2, 2), (10, 20, 30, 0))
    load_image(rgba)
    assert rgba.mode == "RGBA" and rgba.getpixel((0, 0)) == (10, 20, 30, 0)


@pytest.mark.parametrize(("width", "height"), [(1, 1), (3, 7), (7, 3)])
def test_odd_sizes_keep_height_and_width_apart(tmp_path: Path, width: int, height: int) -> None:
    rng = np.random.default_rng(width * 10 + height)
    array = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    for source in (
        array,
        Image.fromarray(array),
        save(tmp_path / "odd.png", Image.fromarray(array)),
    ):
        loaded = load_image(source)
        assert loaded.size == (width, height)
        out = image_to_array(loaded)
        assert out.shape == (height, width, 3) and out.dtype == np.uint8
        np.testing.assert_array_equal(out, array)
        assert loaded.getpixel((width - 1, height - 1)) == tuple(array[height - 1, width - 1])


# ----------------------------------------------------------------------------- arrays


def test_array_gray_shapes() -> None:
    gray = np.array([[0, 10], [200, 255]], dtype=np.uint8)
    expected = [BLACK, (10, 10, 10), (200, 200, 200), WHITE]
    assert pixels(load_image(gray)) == expected
    assert pixels(load_image(gray[..., None])) == expected
    assert load_image(gray).size == (2, 2)


def test_array_bool() -> None:
    assert pixels(load_image(np.array([[True, False]]))) == [WHITE, BLACK]


def test_array_uint16_is_scaled() -> None:
    array = np.array([[257, 32768, 65535, 200]], dtype=np.uint16)
    assert pixels(load_image(array)) == [(1, 1, 1), (128, 128, 128), WHITE, (1, 1, 1)]
    big_endian = array.astype(">u2")
    assert pixels(load_image(big_endian)) == pixels(load_image(array))


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint32, np.uint64])
def test_array_other_ints_in_8_bit_range(dtype: type) -> None:
    array = np.array([[0, 100, 127]], dtype=dtype)
    assert pixels(load_image(array)) == [BLACK, (100, 100, 100), (127, 127, 127)]


def test_array_int_in_16_bit_range_is_scaled() -> None:
    array = np.array([[0, 32768, 65535]], dtype=np.int32)
    assert pixels(load_image(array)) == [BLACK, (128, 128, 128), WHITE]


@pytest.mark.parametrize("values", [[-1, 5], [0, 70000]])
def test_array_int_out_of_range_is_refused(values: list[int]) -> None:
    with pytest.raises(InputError, match=r"outside 0\.\.255 and 0\.\.65535") as exc:
        load_image(np.array([values], dtype=np.int64))
    assert_one_line(exc, "<array>")


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_array_floats(dtype: type) -> None:
    unit = np.array([[[0.0, 0.5, 1.0]]], dtype=dtype)
    assert pixels(load_image(unit)) == [(0, 128, 255)]
    wide = np.array([[[-3.0, 100.0, 400.0]]], dtype=dtype)
    assert pixels(load_image(wide)) == [(0, 100, 255)]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_array_non_finite_is_refused(bad: float) -> None:
    with pytest.raises(InputError, match="NaN or infinite") as exc:
        load_image(np.array([[0.5, bad]], dtype=np.float32), name="frame 7")
    assert_one_line(exc, "frame 7")


def test_array_rgba_and_rgb_float() -> None:
    rgba = np.array([[[1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 1.0]]], dtype=np.float32)
    assert pixels(load_image(rgba)) == [WHITE, RED]


def test_array_channels_first_is_refused() -> None:
    with pytest.raises(InputError, match=r"channels-first.*\(H, W, C\)") as exc:
        load_image(np.zeros((3, 8, 6), dtype=np.uint8))
    assert_one_line(exc, "<array>", "(3, 8, 6)")


@pytest.mark.parametrize("shape", [(5,), (2, 2, 2), (2, 2, 5), (1, 2, 2, 3), (0, 4), (4, 0, 3)])
def test_array_bad_shapes_are_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(InputError) as exc:
        load_image(np.zeros(shape, dtype=np.uint8))
    assert_one_line(exc, "<array>", str(shape))


@pytest.mark.parametrize("dtype", [np.complex64, object, "U3"])
def test_array_bad_dtypes_are_refused(dtype: object) -> None:
    with pytest.raises(InputError, match="not supported") as exc:
        load_image(np.zeros((2, 2), dtype=dtype))
    assert_one_line(exc, "<array>")


def test_array_non_contiguous_views() -> None:
    base = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    view = base[::2, ::3]
    np.testing.assert_array_equal(image_to_array(load_image(view)), view)
    swapped = np.ascontiguousarray(base).transpose(1, 0, 2)
    assert load_image(swapped).size == (4, 6)


def test_array_is_not_checked_against_max_pixels() -> None:
    assert load_image(np.zeros((20, 20), dtype=np.uint8), max_pixels=100).size == (20, 20)


# ----------------------------------------------------------------------------- bombs


def test_default_max_pixels_is_twice_pillows() -> None:
    assert DEFAULT_MAX_PIXELS == 2 * 89_478_485


def test_bomb_refused_before_decoding(tmp_path: Path) -> None:
    path = save(tmp_path / "big.png", random_rgb(20, 20))
    with pytest.raises(InputError, match="max_pixels") as exc:
        load_image(path, max_pixels=100)
    assert_one_line(exc, "big.png", "20x20", "400", "100", "pass a larger max_pixels")
    # The library names the parameter; the CLI says --max-pixels.
    assert exc.value.param == "max_pixels"
    assert "pass a larger --max-pixels" in exc.value.for_surface({"max_pixels": "--max-pixels"})
    with pytest.raises(InputError, match="20x20"):
        load_image(path.read_bytes(), max_pixels=399)
    assert load_image(path, max_pixels=400).size == (20, 20)
    assert load_image(path, max_pixels=None).size == (20, 20)
    # A header that declares 20x20 but holds no valid pixel data is refused for its size:
    # the check happens before any decoding.
    header_only = tmp_path / "header.png"
    header_only.write_bytes(png_header(20, 20))
    with pytest.raises(InputError, match="more than the limit"):
        load_image(header_only, max_pixels=100)


def test_pillow_hard_limit_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    path.write_bytes(png_header(20_000, 20_000))
    with pytest.raises(InputError, match="Pillow's own hard limit") as exc:
        load_image(path, max_pixels=None)
    assert_one_line(exc, "huge.png", "400,000,000")
    with pytest.raises(InputError, match="max_pixels") as exc:
        load_image(path)
    assert_one_line(exc, "huge.png", "400,000,000", f"{DEFAULT_MAX_PIXELS:,}")


def test_none_means_no_vlad_limit_and_no_pillow_warning(tmp_path: Path) -> None:
    # 12,000 x 12,000 is above Pillow's warning size but below its hard limit.
    path = tmp_path / "large.png"
    path.write_bytes(png_header(12_000, 12_000))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError, match=r"truncated|damaged") as exc:
            load_image(path, max_pixels=None)  # gets past the size checks to decoding
    assert "more than" not in str(exc.value)
    assert Image.MAX_IMAGE_PIXELS == 89_478_485


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "100"])
def test_bad_max_pixels(bad: object) -> None:
    with pytest.raises(InputError, match="max_pixels must be"):
        load_image(np.zeros((2, 2), dtype=np.uint8), max_pixels=bad)  # type: ignore[arg-type]


def test_numpy_integer_max_pixels_is_accepted() -> None:
    data = encode(random_rgb(4, 4), "PNG")
    assert load_image(data, max_pixels=np.int64(16)).size == (4, 4)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- bad inputs


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist") as exc:
        load_image(tmp_path / "nope.png")
    assert_one_line(exc, "nope.png", "Cannot read image")


def test_broken_symlink(tmp_path: Path) -> None:
    link = tmp_path / "link.png"
    link.symlink_to(tmp_path / "gone.png")
    with pytest.raises(InputError, match="broken symbolic link") as exc:
        load_image(link)
    assert_one_line(exc, "link.png")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory") as exc:
        load_image(tmp_path)
    assert_one_line(exc, str(tmp_path), "iter_image_paths")


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(InputError, match=r"empty \(0 bytes\)") as exc:
        load_image(path)
    assert_one_line(exc, "empty.png")


def test_empty_path_and_bytes() -> None:
    with pytest.raises(InputError, match="path is empty"):
        load_image("")
    with pytest.raises(InputError, match="empty") as exc:
        load_image(b"")
    assert_one_line(exc, "<bytes>")


def test_text_file_named_png(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("these are not pixels\n")
    with pytest.raises(InputError, match="not an image") as exc:
        load_image(path)
    assert_one_line(exc, "notes.png")


def test_git_lfs_pointer_and_html(tmp_path: Path) -> None:
    lfs = tmp_path / "lfs.jpg"
    lfs.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n")
    with pytest.raises(InputError, match="git lfs pull") as exc:
        load_image(lfs)
    assert_one_line(exc, "lfs.jpg")
    html = tmp_path / "page.png"
    html.write_text("<!DOCTYPE html><html><body>404</body></html>")
    with pytest.raises(InputError, match="HTML page") as exc:
        load_image(html)
    assert_one_line(exc, "page.png")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "TIFF", "GIF"])
def test_truncated_half_file(tmp_path: Path, fmt: str) -> None:
    data = encode(random_rgb(48, 64), fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated") as exc:
        load_image(path)
    message = assert_one_line(exc, f"cut.{fmt.lower()}", "re-export or re-copy")
    assert message.startswith("Cannot read image")
    with pytest.raises(InputError, match="the data is truncated") as exc:
        load_image(data[: len(data) // 2])
    assert_one_line(exc, "<bytes>")


@pytest.mark.skipif(not features.check("webp"), reason="Pillow built without WebP")
def test_truncated_webp(tmp_path: Path) -> None:
    data = encode(random_rgb(48, 64), "WEBP")
    path = tmp_path / "cut.webp"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated") as exc:
        load_image(path)
    assert_one_line(exc, "cut.webp")


def test_truncated_in_header(tmp_path: Path) -> None:
    data = encode(random_rgb(8, 8), "PNG")
    path = tmp_path / "head.png"
    path.write_bytes(data[:12])
    with pytest.raises(InputError, match="PNG file but its header is damaged or truncated") as exc:
        load_image(path)
    assert_one_line(exc, "head.png")


def test_corrupt_png_data(tmp_path: Path) -> None:
    data = bytearray(encode(random_rgb(48, 64), "PNG"))
    start = len(data) // 3
    data[start : start + 50] = bytes(b ^ 0xFF for b in data[start : start + 50])
    path = tmp_path / "corrupt.png"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="damaged") as exc:
        load_image(path)
    assert_one_line(exc, "corrupt.png", "Pillow:")


def test_unsupported_source_types() -> None:
    with pytest.raises(InputError, match="not an image source") as exc:
        load_image(42)  # type: ignore[arg-type]
    assert_one_line(exc, "<int>", "numpy array")
    with pytest.raises(InputError, match="not an image source") as exc:
        load_image([[0, 1]], name="my list")  # type: ignore[arg-type]
    assert_one_line(exc, "my list")


def test_name_override_and_control_characters(tmp_path: Path) -> None:
    path = tmp_path / "bad\nname.png"
    path.write_bytes(b"garbage bytes, not an image")
    with pytest.raises(InputError) as exc:
        load_image(path)
    assert_one_line(exc, "bad\\nname.png")
    with pytest.raises(InputError) as exc:
        load_image(b"garbage", name="upload #3")
    assert_one_line(exc, "'upload #3'")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads all")
def test_permission_denied(tmp_path: Path) -> None:
    path = save(tmp_path / "locked.png", random_rgb(2, 2))
    path.chmod(0)
    with pytest.raises(InputError, match="permission") as exc:
        load_image(path)
    assert_one_line(exc, "locked.png")


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_file_handles_are_closed(tmp_path: Path) -> None:
    good = save(tmp_path / "good.png", random_rgb(8, 8))
    data = encode(random_rgb(48, 64), "JPEG")
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2])
    text = tmp_path / "text.png"
    text.write_text("hello")
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        load_image(good)
        for bad in (cut, text):
            with pytest.raises(InputError):
                load_image(bad)
        with pytest.raises(InputError):
            load_image(good, max_pixels=10)
    assert len(os.listdir("/proc/self/fd")) == before


# ----------------------------------------------------------------------------- image_to_array


def test_image_to_array() -> None:
    image = random_rgb(3, 7)
    array = image_to_array(image)
    assert array.shape == (7, 3, 3) and array.dtype == np.uint8
    assert array.flags.writeable and array.flags.c_contiguous
    array[0, 0] = 0
    assert image.getpixel((0, 0)) == tuple(np.asarray(random_rgb(3, 7))[0, 0])
    gray = Image.new("L", (2, 5), 9)
    assert image_to_array(gray).shape == (5, 2, 3)
    assert image_to_array(Image.new("RGBA", (4, 1), (0, 0, 0, 0))).tolist() == [[list(WHITE)] * 4]
    with pytest.raises(InputError, match="needs a PIL image"):
        image_to_array(np.zeros((2, 2, 3), dtype=np.uint8))  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- iter_image_paths


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_extensions() -> None:
    assert {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm"} == (
        IMAGE_EXTENSIONS
    )


def test_iter_image_paths_natural_recursive_order(tmp_path: Path) -> None:
    root = tmp_path / "data"
    for name in [
        "img10.png",
        "img2.png",
        "img1.jpg",
        "IMG3.PNG",
        "notes.txt",
        "scan",
        ".hidden.png",
        "._img4.png",
        "sub10/a.png",
        "sub2/b.tif",
        "sub2/deeper/c1.jpeg",
        ".git/d.png",
        "sub2/readme.md",
    ]:
        touch(root / name)
    found = iter_image_paths([root])
    assert [p.relative_to(root).as_posix() for p in found] == [
        "img1.jpg",
        "img2.png",
        "IMG3.PNG",
        "img10.png",
        "sub2/b.tif",
        "sub2/deeper/c1.jpeg",
        "sub10/a.png",
    ]
    assert all(p.parts[: len(root.parts)] == root.parts for p in found)
    flat = iter_image_paths([root], recursive=False)
    assert [p.name for p in flat] == ["img1.jpg", "img2.png", "IMG3.PNG", "img10.png"]


def test_iter_image_paths_keeps_files_as_given(tmp_path: Path) -> None:
    notes = touch(tmp_path / "notes.txt")
    folder = tmp_path / "folder"
    inside = touch(folder / "x.png")
    found = iter_image_paths([str(notes), folder, inside, notes])
    assert found == [notes, inside]
    assert iter_image_paths(str(notes)) == [notes]


def test_iter_image_paths_empty_and_missing(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert iter_image_paths([empty]) == []
    with pytest.raises(InputError, match="does not exist") as exc:
        iter_image_paths([empty, tmp_path / "missing_dir"])
    assert_one_line(exc, "missing_dir")
    with pytest.raises(InputError, match="does not exist"):
        iter_image_paths([""])


def test_iter_image_paths_symlink_loop_terminates(tmp_path: Path) -> None:
    root = tmp_path / "root"
    touch(root / "a.png")
    (root / "loop").symlink_to(root, target_is_directory=True)
    assert iter_image_paths([root]) == [root / "a.png"]


# ----------------------------------------------------------------------------- notes


def test_a_tiny_image_carries_a_note(tmp_path: Path) -> None:
    from vlad.media.image import image_notes

    path = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), RED).save(path)
    expected = (
        "The image is only 1x1 pixels (under 32 on a side), so CLIP sees it blown up and its "
        "verdict says little.",
    )
    assert image_notes(load_image(path)) == expected
    assert image_notes(load_image(path.read_bytes())) == expected
    assert image_notes(load_image(np.zeros((20, 300, 3), np.uint8))) == (
        "The image is only 300x20 pixels (under 32 on a side), so CLIP sees it blown up and "
        "its verdict says little.",
    )
    assert image_notes(load_image(np.zeros((32, 32, 3), np.uint8))) == ()
    assert image_notes(Image.new("RGB", (1, 1))) == ()  # not loaded by vlad: nothing known


def test_an_animated_gif_says_only_its_first_frame_is_scored(tmp_path: Path) -> None:
    from vlad.media.image import image_notes

    path = tmp_path / "blink.gif"
    frames = [Image.new("RGB", (40, 40), color) for color in (RED, GREEN, BLUE)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    image = load_image(path)
    assert image.getpixel((0, 0)) == RED
    assert image_notes(image) == (
        "The file has 3 frames (an animation); only the first frame is scored.",
    )
    with Image.open(path) as opened:
        assert image_notes(load_image(opened)) == (
            "The file has 3 frames (an animation); only the first frame is scored.",
        )
    still = tmp_path / "still.gif"
    frames[0].save(still)
    assert image_notes(load_image(still)) == ()
