"""The GIF codec's C loops (render/_gifcodec.c): LZW round trips through two decoders at the
corners of the format, and the colour table's entries."""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from render import NO_ALTERNATE, Patch, Quantizer, frame_block, gif_header
from render.gif import assemble_gif

from .test_render_gif import decode_ffmpeg

Indices = npt.NDArray[np.uint8]
PALETTE = bytes(np.arange(768, dtype=np.uint32).astype(np.uint8))  # 256 distinct-enough colours


def one_frame_gif(indices: Indices, alternates: Indices | None = None) -> bytes:
    height, width = indices.shape
    side = max(height, width)
    patch = Patch(indices, alternates=alternates)
    return assemble_gif(gif_header(side, PALETTE), [frame_block(patch, 30)])


def decode_indices(gif: bytes, shape: tuple[int, int]) -> Indices:
    with Image.open(io.BytesIO(gif)) as image:
        assert image.mode == "P"  # a single frame stays palette indices
        return np.asarray(image, dtype=np.uint8)[: shape[0], : shape[1]]


RNG = np.random.default_rng(17)
CASES: dict[str, Indices] = {
    "one pixel": np.array([[9]], dtype=np.uint8),
    "one row": RNG.integers(0, 255, (1, 700), dtype=np.uint8),
    "one colour": np.full((300, 300), 42, dtype=np.uint8),  # ever longer strings, no reset
    # noise: the code table fills and is cleared many times, codes grow to 12 bits each time
    "noise": RNG.integers(0, 255, (256, 256), dtype=np.uint8),
    "few colours": RNG.integers(0, 3, (200, 200), dtype=np.uint8),
    "every index": np.arange(256 * 64, dtype=np.uint32).astype(np.uint8).reshape(64, 256),
    "stripes": np.tile(np.repeat(np.arange(254, dtype=np.uint8), 3), (50, 1)),
}


@pytest.mark.parametrize("name", CASES)
def test_lzw_round_trips_through_pillow_and_ffmpeg(name: str) -> None:
    indices = CASES[name]
    if indices.shape[0] != indices.shape[1]:  # the test GIF is square: pad with index 0
        side = max(indices.shape)
        square = np.zeros((side, side), dtype=np.uint8)
        square[: indices.shape[0], : indices.shape[1]] = indices
        indices = square
    gif = one_frame_gif(indices)
    assert np.array_equal(decode_indices(gif, indices.shape), indices)
    colours = np.frombuffer(PALETTE, dtype=np.uint8).reshape(256, 3)
    assert np.array_equal(decode_ffmpeg(gif, indices.shape[0])[0], colours[indices])


def test_lzw_is_compact_where_it_should_be() -> None:
    flat = one_frame_gif(CASES["one colour"])
    noise = one_frame_gif(CASES["noise"])
    assert len(flat) < 2_000  # 90,000 pixels of one colour
    assert 256 * 256 < len(noise) < 1.5 * 256 * 256  # noise: about 8-12 bits a pixel


def test_lzw_takes_alternates_only_where_they_continue_a_string() -> None:
    # two colours at random, each with the other as its alternate: with alternates the
    # strings grow as if the image were nearly one colour; the decoded pixels are one of the two
    indices = np.random.default_rng(3).integers(1, 3, (128, 128), dtype=np.uint8)
    alternates = np.where(indices == 1, 2, 1).astype(np.uint8)
    exact = one_frame_gif(indices)
    lossy = one_frame_gif(indices, alternates)
    assert len(lossy) < len(exact) / 3
    decoded = decode_indices(lossy, indices.shape)
    assert np.isin(decoded, [1, 2]).all()
    assert (decoded != indices).any()
    # no alternates given (NO_ALTERNATE everywhere): exactly the lossless result
    none = np.full_like(indices, NO_ALTERNATE)
    assert one_frame_gif(indices, none) == exact


def test_the_transparent_index_is_never_swapped() -> None:
    indices = np.tile(np.array([[255, 3]], dtype=np.uint8), (64, 32))
    alternates = np.where(indices == 3, 255, NO_ALTERNATE).astype(np.uint8)
    gif = one_frame_gif(indices, alternates)
    assert np.array_equal(decode_indices(gif, indices.shape), indices)


def test_alternates_are_the_second_nearest_within_the_tolerance() -> None:
    colours = np.zeros((255, 3), dtype=np.uint8)
    colours[:, 0] = np.arange(255)  # a ramp of reds one level apart, then far-off colours
    colours[100:, :] = 255
    palette = colours.tobytes() + bytes(3)
    frame = np.zeros((1, 2, 3), dtype=np.uint8)
    frame[0, 0] = (40, 0, 0)  # cell 20: centre red 40.5, nearest 40, second 41
    frame[0, 1] = (200, 0, 0)  # far from everything but red 99 (and the far colours)
    indices, alternates = Quantizer(palette, tolerance=2).with_alternates(frame)
    assert indices.tolist() == [[40, 99]]
    assert alternates is not None and alternates.tolist() == [[41, NO_ALTERNATE]]
    assert Quantizer(palette).with_alternates(frame)[1] is None  # tolerance 0: lossless


def test_codec_refuses_bad_buffers() -> None:
    from render import _gifcodec

    with pytest.raises(ValueError, match="no pixels"):
        _gifcodec.lzw(b"")
    with pytest.raises(ValueError, match="alternates"):
        _gifcodec.lzw(b"\x00\x01", b"\x00")
    table = np.full(1 << 21, 0xFFFF, dtype=np.uint16)
    with pytest.raises(ValueError, match="3 bytes"):
        _gifcodec.quantize(b"\x00" * 4, table, PALETTE, bytearray(1))
    with pytest.raises(ValueError, match="2\\*\\*21"):
        _gifcodec.quantize(b"\x00" * 3, table[:10], PALETTE, bytearray(1))


@pytest.mark.parametrize("seed", range(5))
def test_changes_counts_and_boxes_what_differs(seed: int) -> None:
    from render import _gifcodec

    rng = np.random.default_rng(seed)
    before = rng.integers(0, 255, (37, 53), dtype=np.uint8)
    after = before.copy()
    spots = rng.integers(0, [37, 53], (int(rng.integers(1, 20)), 2))
    for y, x in spots:
        after[y, x] ^= 1 + int(rng.integers(0, 254))  # a different index
    changed = before != after
    rows, columns = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
    expected = (int(changed.sum()), rows[0], rows[-1] + 1, columns[0], columns[-1] + 1)
    assert _gifcodec.changes(before, after, 53) == expected
    assert _gifcodec.changes(before, before, 53) is None
    with pytest.raises(ValueError, match="same width"):
        _gifcodec.changes(before, after[:10], 53)
