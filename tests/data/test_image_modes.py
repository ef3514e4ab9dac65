"""Images in every Pillow mode and bit depth decode to 8-bit 'L'/'RGB' on the full scale (see gankit.data.image_io):
known pixel values in files written in their real formats (16-bit PNGs are laid out by hand: Pillow will not write
them)."""
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from formats import png_bytes, png_chunk
from gankit.data.image_io import read_image
from gankit.errors import DataError


def _file(folder: Path, name: str, data: bytes) -> Path:
    (folder / name).write_bytes(data)
    return folder / name


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 65535), min_size=1, max_size=12))
def test_16bit_png_is_scaled_not_clipped(values):
    with tempfile.TemporaryDirectory() as tmp:
        path = _file(Path(tmp), "g16.png", png_bytes(np.array([values], np.uint16)))
        grey, rgb = read_image(path, "L")[0, :, 0], read_image(path, "RGB")[0]
    expected = np.floor(np.array(values) * 255 / 65535 + 0.5).astype(np.uint8)
    assert grey.tolist() == expected.tolist() and (rgb == expected[:, None]).all()


def test_16bit_known_values_and_big_endian_tiff(tmp_path):
    values = np.array([[0, 128, 129, 257, 32896, 65535]], np.uint16)
    assert read_image(_file(tmp_path, "a.png", png_bytes(values)), "L")[0, :, 0].tolist() == [0, 0, 1, 1, 128, 255]
    Image.frombytes("I;16B", (6, 1), values.astype(">u2").tobytes()).save(tmp_path / "b.tiff")
    assert Image.open(tmp_path / "b.tiff").mode == "I;16B"
    assert read_image(tmp_path / "b.tiff", "L")[0, :, 0].tolist() == [0, 0, 1, 1, 128, 255]
    rgb16 = np.array([[[65535, 32896, 256]]], np.uint16)  # Pillow keeps each sample's high byte
    assert read_image(_file(tmp_path, "c.png", png_bytes(rgb16, colour_type=2)), "RGB")[0, 0].tolist() == [255, 128, 1]


def test_32bit_integer_images_in_16bit_range_are_scaled_others_refused(tmp_path):
    Image.fromarray(np.array([[0, 32896, 65535]], np.int32)).save(tmp_path / "i.tiff")
    assert Image.open(tmp_path / "i.tiff").mode == "I"
    assert read_image(tmp_path / "i.tiff", "L")[0, :, 0].tolist() == [0, 128, 255]
    for bad in (-1, 70000):
        Image.fromarray(np.array([[0, bad]], np.int32)).save(tmp_path / "bad.tiff")
        with pytest.raises(DataError, match=r"bad\.tiff: 32-bit integer image \(mode I\) with values .* outside 0..65535"):
            read_image(tmp_path / "bad.tiff")


def test_float_images_are_refused(tmp_path):
    Image.fromarray(np.array([[0.0, 0.5]], np.float32)).save(tmp_path / "f.tiff")
    with pytest.raises(DataError, match=r"f\.tiff: floating-point image \(mode F\) has no 8-bit scale"):
        read_image(tmp_path / "f.tiff", "L")


def test_palette_alpha_cmyk_and_bilevel_modes(tmp_path):
    palette = png_chunk(b"PLTE", bytes([255, 0, 0, 0, 255, 0, 0, 0, 255]))
    for transparency in ((), (png_chunk(b"tRNS", b"\x00\x80"),)):  # tRNS bytes: Pillow warns on a direct convert
        path = _file(tmp_path, "p.png", png_bytes(np.array([[0, 1, 2]], np.uint8), 3, chunks=(palette, *transparency)))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert read_image(path, "RGB")[0].tolist() == [[255, 0, 0], [0, 255, 0], [0, 0, 255]]  # alpha dropped
            assert read_image(path, "L")[0, :, 0].tolist() == [76, 150, 29]
    la = np.array([[[200, 0], [100, 255]]], np.uint8)
    assert read_image(_file(tmp_path, "la.png", png_bytes(la, 4)), "L")[0, :, 0].tolist() == [200, 100]
    Image.new("CMYK", (1, 1), (255, 0, 0, 0)).save(tmp_path / "cmyk.jpg", quality=100)
    cyan = read_image(tmp_path / "cmyk.jpg", "RGB")[0, 0]
    assert cyan[0] < 10 and cyan[1] > 245 and cyan[2] > 245
    assert abs(int(read_image(tmp_path / "cmyk.jpg", "L")[0, 0, 0]) - 179) <= 3  # the luma of cyan
    Image.fromarray(np.array([[True, False]])).save(tmp_path / "bits.png")
    assert read_image(tmp_path / "bits.png", "L")[0, :, 0].tolist() == [255, 0]


def test_ordinary_8bit_images_are_untouched(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "rgb.png")
    assert np.array_equal(read_image(tmp_path / "rgb.png"), pixels)
    assert np.array_equal(read_image(tmp_path / "rgb.png", "L")[:, :, 0], np.asarray(Image.fromarray(pixels).convert("L")))


