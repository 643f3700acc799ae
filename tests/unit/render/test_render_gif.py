"""The GIF writer, palette and inter-frame optimisation: byte layout, round trips, decoders."""

from __future__ import annotations

import io
import subprocess

import imageio.v3 as iio
import imageio_ffmpeg
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from render import (
    GIF_TRAILER,
    NO_ALTERNATE,
    TRANSPARENT,
    Encoding,
    Gen1Settings,
    Patch,
    Quantizer,
    RenderError,
    RenderOptions,
    assemble_gif,
    changed_patch,
    choose_palette,
    encode_block,
    encode_frames,
    encode_gif,
    frame_block,
    full_patch,
    gif_header,
    palette_rgb,
    quantize,
    render_frame,
    sample_indices,
)

Frames = list[npt.NDArray[np.uint8]]
LOSSLESS = Encoding(tolerance=0)
# every pixel its nearest colour: what decoders show is exactly the quantized frame
EXACT = [LOSSLESS, Encoding(optimise=False, tolerance=0), Encoding(dither=True)]


def frames_of(count: int, size: int = 64, timing: str = "loop") -> Frames:
    options = RenderOptions(size=size, frames=count, timing=timing)
    return [render_frame(Gen1Settings(), options, index) for index in range(count)]


def expected_frames(frames: Frames, encoding: Encoding) -> Frames:
    """What a decoder must show: each frame quantized on its own onto the sample palette."""
    palette = choose_palette([frames[index] for index in sample_indices(len(frames))])
    colours = palette_rgb(palette)
    return [colours[quantize(frame, palette, dither=encoding.dither)] for frame in frames]


def decode_pillow(gif: bytes) -> Frames:
    """Every frame of ``gif`` in RGB, as Pillow decodes it (test_render_golden.py reads with it
    too)."""
    with Image.open(io.BytesIO(gif)) as image:
        decoded = []
        for index in range(image.n_frames):
            image.seek(index)
            decoded.append(np.asarray(image.convert("RGB")))
        return decoded


def decode_ffmpeg(gif: bytes, size: int) -> Frames:
    """A second, independent decoder: ffmpeg's GIF demuxer and decoder, to raw RGB."""
    decode = ["-v", "error", "-f", "gif", "-i", "pipe:0", "-fps_mode", "passthrough"]
    done = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), *decode, "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"],
        input=gif,
        capture_output=True,
        check=True,
    )
    flat = np.frombuffer(done.stdout, dtype=np.uint8)
    return list(flat.reshape(-1, size, size, 3))


@pytest.mark.parametrize("encoding", EXACT, ids=["lossless", "full-frames", "dither"])
@pytest.mark.parametrize("count", [1, 2, 5])
def test_round_trip_through_pillow_is_exact(encoding: Encoding, count: int) -> None:
    frames = frames_of(count, timing="legacy")  # slow motion: transparency is used
    gif = encode_gif(frames, 40, encoding=encoding)
    with Image.open(io.BytesIO(gif)) as image:
        assert image.n_frames == count
        assert image.size == (64, 64)
        assert image.info["loop"] == 0
        assert image.info["duration"] == 40
    for decoded, expected in zip(
        decode_pillow(gif), expected_frames(frames, encoding), strict=True
    ):
        assert np.array_equal(decoded, expected)


@pytest.mark.parametrize("timing", ["loop", "legacy"])
def test_a_second_decoder_agrees(timing: str) -> None:
    frames = frames_of(6, timing=timing)
    gif = encode_gif(frames, encoding=LOSSLESS)
    decoded = decode_ffmpeg(gif, 64)
    assert len(decoded) == 6
    for ours, expected in zip(decoded, expected_frames(frames, LOSSLESS), strict=True):
        assert np.array_equal(ours, expected)
    assert iio.imread(gif, index=None).shape == (6, 64, 64, 3)
    lossy = encode_gif(frames)  # the default: both decoders show the same lossy frames
    for theirs, ours in zip(decode_ffmpeg(lossy, 64), decode_pillow(lossy), strict=True):
        assert np.array_equal(theirs, ours)


@pytest.mark.parametrize("size", [64, 256])
def test_lossy_pixels_are_their_nearest_or_their_alternate_colour(size: int) -> None:
    frames = frames_of(3, size=size)
    encoding = Encoding(optimise=False, tolerance=100)
    gif = encode_gif(frames, encoding=encoding)
    palette = choose_palette([frames[index] for index in sample_indices(len(frames))])
    colours = palette_rgb(palette)
    quantizer = Quantizer(palette, tolerance=100)
    swapped = 0
    for decoded, frame in zip(decode_pillow(gif), frames, strict=True):
        nearest, alternates = quantizer.with_alternates(frame)
        assert alternates is not None
        is_nearest = (decoded == colours[nearest]).all(axis=2)
        is_alternate = (alternates != NO_ALTERNATE) & (decoded == colours[alternates]).all(axis=2)
        assert (is_nearest | is_alternate).all()
        swapped += int((~is_nearest).sum())
    assert swapped  # the tolerance was used


@pytest.mark.parametrize("timing", ["loop", "legacy"])
def test_lossy_trades_a_little_quality_for_size(timing: str) -> None:
    frames = frames_of(8, size=256, timing=timing)
    lossless = encode_gif(frames, encoding=LOSSLESS)
    lossy = encode_gif(frames)  # the default tolerance, with inter-frame optimisation

    def psnr(gif: bytes) -> float:
        decoded = np.stack(decode_pillow(gif)).astype(float)
        mse = np.mean((decoded - np.stack(frames)) ** 2)
        return float(10 * np.log10(255**2 / mse))

    assert len(lossy) < 0.97 * len(lossless)
    assert psnr(lossless) - 0.6 < psnr(lossy) < psnr(lossless)


def test_decoded_frames_stay_close_to_the_render() -> None:
    frames = frames_of(4, size=128)
    for decoded, frame in zip(decode_pillow(encode_gif(frames)), frames, strict=True):
        mse = np.mean((decoded.astype(float) - frame) ** 2)
        assert 10 * np.log10(255**2 / mse) > 38  # dB


def test_all_identical_frames_are_one_pixel_blocks() -> None:
    frame = frames_of(1)[0]
    gif = encode_gif([frame, frame, frame])
    full = encode_gif([frame])
    assert len(gif) < len(full) + 2 * 40  # two tiny blocks
    decoded = decode_pillow(gif)
    assert all(np.array_equal(d, decoded[0]) for d in decoded)
    assert np.array_equal(decode_ffmpeg(gif, 64)[2], decoded[0])


def test_slow_motion_gets_smaller_with_optimisation() -> None:
    frames = frames_of(6, size=128, timing="legacy")
    optimised = encode_gif(frames)
    full = encode_gif(frames, encoding=Encoding(optimise=False))
    assert len(optimised) < 0.8 * len(full)
    optimised = encode_gif(frames, encoding=LOSSLESS)
    full = encode_gif(frames, encoding=Encoding(optimise=False, tolerance=0))
    assert len(optimised) < 0.8 * len(full)


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_encode_gif_is_the_same_for_any_thread_count(threads: int) -> None:
    frames = frames_of(5)
    assert encode_gif(frames, threads=threads) == encode_gif(frames)


def test_encode_frames_equals_encode_block_frame_by_frame() -> None:
    frames = frames_of(3)
    palette = choose_palette(frames)
    blocks = encode_frames(frames, None, palette, 30, Encoding())
    assert blocks[0] == encode_block(frames[0], None, palette, 30, Encoding())
    assert blocks[2] == encode_block(frames[2], frames[1], palette, 30, Encoding())


def test_changed_patch_crops_to_the_changed_rectangle() -> None:
    before = np.zeros((16, 16), dtype=np.uint8)
    after = before.copy()
    after[3, 5] = 7
    after[9, 11] = 8
    patch = changed_patch(before, after, TRANSPARENT)
    assert (patch.left, patch.top, patch.indices.shape) == (5, 3, (7, 7))
    assert patch.transparent == TRANSPARENT  # 2 of 49 pixels changed: transparency pays
    assert patch.indices[0, 0] == 7 and patch.indices[6, 6] == 8
    assert np.count_nonzero(patch.indices == TRANSPARENT) == 47


def test_changed_patch_drops_exactly_the_unchanged_pixels_and_their_alternates() -> None:
    rng = np.random.default_rng(7)
    before = rng.integers(0, 3, (40, 50), dtype=np.uint8)
    after = before.copy()
    window = after[5:30, 8:41]
    moved = rng.random(window.shape) < 0.4  # 40 % of the rectangle changes: transparency pays
    window[moved] = (window[moved] + 1) % 3
    alternates = rng.integers(0, 255, after.shape, dtype=np.uint8)
    patch = changed_patch(before, after, TRANSPARENT, alternates)
    assert patch.transparent == TRANSPARENT
    top, left = patch.top, patch.left
    bottom, right = top + patch.indices.shape[0], left + patch.indices.shape[1]
    changed = before[top:bottom, left:right] != after[top:bottom, left:right]
    assert np.array_equal(
        patch.indices, np.where(changed, after[top:bottom, left:right], TRANSPARENT)
    )
    assert patch.alternates is not None
    assert np.array_equal(
        patch.alternates, np.where(changed, alternates[top:bottom, left:right], NO_ALTERNATE)
    )
    # and it reads a window of arrays that are views, not copies
    wide = np.zeros((40, 60), dtype=np.uint8)
    wide[:, :50] = after
    view = changed_patch(before, wide[:, :50], TRANSPARENT, alternates)
    assert np.array_equal(view.indices, patch.indices)


def test_changed_patch_is_opaque_when_most_pixels_changed() -> None:
    before = np.zeros((8, 8), dtype=np.uint8)
    after = np.ones((8, 8), dtype=np.uint8)
    after[0, 0] = 0
    patch = changed_patch(before, after, TRANSPARENT)
    assert patch.transparent is None
    assert np.array_equal(patch.indices, after)


def test_an_unchanged_frame_is_one_transparent_pixel() -> None:
    same = np.full((8, 8), 3, dtype=np.uint8)
    patch = changed_patch(same, same, TRANSPARENT)
    assert patch.indices.tolist() == [[TRANSPARENT]] and patch.transparent == TRANSPARENT


def test_header_layout() -> None:
    palette = bytes(range(256)) * 3
    header = gif_header(300, palette, loop=2)
    assert header[:6] == b"GIF89a"
    assert header[6:10] == (300).to_bytes(2, "little") * 2
    assert header[10] == 0xF7  # global table, 8-bit colour resolution, 256 entries
    assert header[13 : 13 + 768] == palette
    assert header[13 + 768 :] == b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x02\x00\x00"


def test_frame_block_layout() -> None:
    block = frame_block(full_patch(np.zeros((64, 64), dtype=np.uint8)), delay_ms=120)
    assert block[:8] == b"\x21\xf9\x04\x04\x0c\x00\x00\x00"  # do not dispose, 12 cs
    assert block[8:18] == b"\x2c\x00\x00\x00\x00\x40\x00\x40\x00\x00"  # full frame, global table
    assert block[18] == 8  # LZW minimum code size
    assert block[-1] == 0  # block terminator
    position = 19  # walk the sub-blocks: they must end exactly at the terminator
    while block[position]:
        position += block[position] + 1
    assert position == len(block) - 1


def test_a_patch_block_has_its_position_and_transparent_index() -> None:
    patch = Patch(np.zeros((2, 3), dtype=np.uint8), left=5, top=300, transparent=255)
    block = frame_block(patch, delay_ms=30)
    assert block[:8] == b"\x21\xf9\x04\x05\x03\x00\xff\x00"  # transparent flag, index 255
    assert block[8:18] == b"\x2c\x05\x00\x2c\x01\x03\x00\x02\x00\x00"


def test_assemble_gif() -> None:
    assert assemble_gif(b"H", [b"a", b"b"]) == b"Hab" + GIF_TRAILER


def test_palette_is_full_deterministic_and_keeps_the_transparent_index_free() -> None:
    frames = frames_of(2)
    palette = choose_palette(frames)
    assert len(palette) == 768
    assert choose_palette(frames) == palette
    for frame in frames:
        assert quantize(frame, palette).max() < TRANSPARENT
        assert quantize(frame, palette, dither=True).max() < TRANSPARENT
    black = np.zeros((64, 64, 3), dtype=np.uint8)
    assert choose_palette([black]) == bytes(768)
    assert not quantize(black, choose_palette([black])).any()


def test_the_quantizer_is_near_exact_and_ignores_history() -> None:
    frames = frames_of(3, size=96)
    palette = choose_palette(frames)
    colours = palette_rgb(palette)[:TRANSPARENT].astype(int)
    warm = Quantizer(palette)
    for frame in frames:
        indices = warm(frame)
        assert np.array_equal(indices, Quantizer(palette)(frame))  # same as a cold table
        pixels = frame.reshape(-1, 1, 3).astype(int)
        exact = ((pixels - colours[None]) ** 2).sum(axis=2).min(axis=1)
        ours = ((pixels[:, 0] - colours[indices.ravel()]) ** 2).sum(axis=1)
        assert ours.mean() <= exact.mean() + 0.75  # 7-bit cells: within a level of exact


def test_each_cell_maps_to_the_palette_colour_nearest_its_centre() -> None:
    rng = np.random.default_rng(7)
    colours = rng.integers(0, 256, (255, 3))
    colours[200] = colours[100]  # a duplicate: the first of equals must win
    palette = bytes(colours.astype(np.uint8).ravel()) + bytes(3)
    # cells spread over the whole cube, more of them than one search chunk
    frame = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
    indices = Quantizer(palette)(frame).ravel().astype(int)
    centres = (frame.reshape(-1, 3).astype(int) >> 1) * 2 + 0.5  # each 2-level cell's middle
    distances = ((centres[:, None, :] - colours[None]) ** 2).sum(axis=2)
    assert np.array_equal(indices, distances.argmin(axis=1))


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
        frame_block(full_patch(indices), 25)
    with pytest.raises(RenderError):
        frame_block(full_patch(np.zeros((0, 32), dtype=np.uint8)), 30)
    with pytest.raises(RenderError):
        gif_header(64, b"\x00" * 700)
    with pytest.raises(RenderError):
        quantize(np.zeros((64, 64, 3), dtype=np.uint8), b"\x00" * 3)
    with pytest.raises(ValueError, match="at least one frame"):
        encode_gif([])
    with pytest.raises(RenderError, match="tolerance"):
        Encoding(tolerance=-1)
    with pytest.raises(RenderError, match="uint8"):
        Quantizer(bytes(768))(np.zeros((4, 4, 3), dtype=np.float32))
