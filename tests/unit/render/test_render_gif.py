"""The GIF writer and palette: round trips through Pillow and imageio, byte layout, validation."""

from __future__ import annotations

import io

import imageio.v3 as iio
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from render import (
    GIF_TRAILER,
    Gen1Settings,
    RenderError,
    RenderOptions,
    assemble_gif,
    choose_palette,
    encode_frame,
    frame_block,
    gif_header,
    quantize,
    render_frame,
    sample_indices,
)

Frames = list[npt.NDArray[np.uint8]]


def frames_of(count: int, size: int = 64) -> Frames:
    options = RenderOptions(size=size, frames=count)
    return [render_frame(Gen1Settings(), options, index) for index in range(count)]


def build_gif(frames: Frames, delay_ms: int = 30) -> tuple[bytes, bytes, Frames]:
    """The GIF of `frames` from the building blocks, its palette and each frame's indices."""
    palette = choose_palette(frames)
    indices = [quantize(frame, palette) for frame in frames]
    blocks = [frame_block(index, delay_ms) for index in indices]
    gif = gif_header(frames[0].shape[0], palette) + b"".join(blocks) + GIF_TRAILER
    return gif, palette, indices


def palette_rgb(palette: bytes) -> npt.NDArray[np.uint8]:
    return np.frombuffer(palette, dtype=np.uint8).reshape(256, 3)


@pytest.mark.parametrize("count", [1, 3, 5])
def test_round_trip_through_pillow_is_lossless_on_the_indices(count: int) -> None:
    frames = frames_of(count)
    gif, palette, indices = build_gif(frames, delay_ms=40)
    with Image.open(io.BytesIO(gif)) as image:
        assert image.n_frames == count
        assert image.size == (64, 64)
        assert image.info["loop"] == 0
        for index in range(count):
            image.seek(index)
            assert image.info["duration"] == 40
            decoded = np.asarray(image.convert("RGB"))
            assert np.array_equal(decoded, palette_rgb(palette)[indices[index]])


def test_all_identical_frames() -> None:
    frame = frames_of(1)[0]
    gif, palette, indices = build_gif([frame, frame, frame])
    decoded = iio.imread(gif, index=None)
    assert decoded.shape == (3, 64, 64, 3)
    assert all(np.array_equal(d, palette_rgb(palette)[indices[0]]) for d in decoded)


def test_imageio_reads_every_frame() -> None:
    gif, _, _ = build_gif(frames_of(4))
    assert iio.imread(gif, index=None).shape[0] == 4


def test_quantized_frames_stay_close_to_the_render() -> None:
    frames = frames_of(4, size=128)
    palette = choose_palette(frames)
    for frame in frames:
        decoded = palette_rgb(palette)[quantize(frame, palette)].astype(float)
        mse = np.mean((decoded - frame) ** 2)
        assert 10 * np.log10(255**2 / mse) > 35  # dB


def test_header_layout() -> None:
    palette = bytes(range(256)) * 3
    header = gif_header(300, palette, loop=2)
    assert header[:6] == b"GIF89a"
    assert header[6:10] == (300).to_bytes(2, "little") * 2
    assert header[10] == 0xF7  # global table, 8-bit colour resolution, 256 entries
    assert header[13 : 13 + 768] == palette
    assert header[13 + 768 :] == b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x02\x00\x00"


def test_frame_block_layout() -> None:
    block = frame_block(np.zeros((64, 64), dtype=np.uint8), delay_ms=120)
    assert block[:8] == b"\x21\xf9\x04\x04\x0c\x00\x00\x00"  # do not dispose, 12 cs
    assert block[8:18] == b"\x2c\x00\x00\x00\x00\x40\x00\x40\x00\x00"  # full frame, global table
    assert block[18] == 8  # LZW minimum code size
    assert block[-1] == 0  # block terminator
    position = 19  # walk the sub-blocks: they must end exactly at the terminator
    while block[position]:
        position += block[position] + 1
    assert position == len(block) - 1


def test_encode_frame_is_frame_block_of_quantize() -> None:
    frame = frames_of(1)[0]
    palette = choose_palette([frame])
    assert encode_frame(frame, palette, 30) == frame_block(quantize(frame, palette), 30)


def test_assemble_gif() -> None:
    assert assemble_gif(b"H", [b"a", b"b"]) == b"Hab" + GIF_TRAILER


def test_palette_is_full_and_deterministic() -> None:
    frames = frames_of(2)
    palette = choose_palette(frames)
    assert len(palette) == 768
    assert choose_palette(frames) == palette
    black = np.zeros((64, 64, 3), dtype=np.uint8)
    assert choose_palette([black]) == bytes(768)


def test_quantize_maps_palette_colours_to_themselves() -> None:
    colours = np.array([[0, 0, 0], [255, 255, 255], [16, 32, 64], [200, 100, 0]], dtype=np.uint8)
    palette = colours.tobytes().ljust(768, b"\x00")
    frame = np.repeat(colours, 16, axis=0).reshape(8, 8, 3)
    indices = quantize(frame, palette)
    assert indices.shape == (8, 8) and indices.dtype == np.uint8
    assert np.array_equal(palette_rgb(palette)[indices], frame)


@pytest.mark.parametrize(
    ("frames", "count", "expected"),
    [(100, 4, [12, 37, 62, 87]), (1, 4, [0]), (2, 4, [0, 1]), (3, 4, [0, 1, 2]), (10, 1, [5])],
)
def test_sample_indices(frames: int, count: int, expected: list[int]) -> None:
    assert sample_indices(frames, count) == expected


def test_bad_inputs_are_render_errors() -> None:
    indices = np.zeros((64, 64), dtype=np.uint8)
    with pytest.raises(RenderError):
        frame_block(indices, 25)
    with pytest.raises(RenderError):
        frame_block(np.zeros((64, 32), dtype=np.uint8), 30)
    with pytest.raises(RenderError):
        gif_header(64, b"\x00" * 700)
    with pytest.raises(RenderError):
        quantize(np.zeros((64, 64, 3), dtype=np.uint8), b"\x00" * 3)
