"""The render pipeline: plan the palette, render and encode each frame, assemble the GIF.

`render_block` is the unit of parallel work (module level, so a process pool can pickle it):
frame index in, that frame's image block out. With inter-frame optimisation a block is drawn
over the frame before it, which `render_block` renders again (the art is a pure function of
the index); `render_gif` instead hands each process a run of consecutive frames, so only the
frame before each run is rendered twice. The bytes are the same either way:

    gif = render_gif(Gen1Settings(), RenderOptions(size=512, frames=100), processes=2)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager

import numpy as np
import numpy.typing as npt

from render.art import render_frame
from render.encoder import Encoding, FrameEncoder
from render.errors import RenderError
from render.gif import assemble_gif, gif_header
from render.palette import choose_palette, palette_of_samples, sample_indices, sample_pixels
from render.settings import Gen1Settings, RenderOptions
from render.timing import frame_time

__all__ = [
    "DEFAULT_ENCODING",
    "Progress",
    "default_encoding",
    "plan_palette",
    "render_block",
    "render_blocks",
    "render_frames",
    "render_gif",
    "render_samples",
    "sample_shares",
]

Progress = Callable[[int, int], None]  # (frames done, frames in all)

DEFAULT_ENCODING = Encoding()
# Inter-frame optimisation pays only when consecutive frames barely move. Measured at 256 px,
# default art, optimised / full block bytes: loop 100 frames 1.00 (phase step 0.063 rad),
# loop 300 0.74 (0.021), loop 600 0.59, loop 1000 0.48, legacy 0.26 (0.002). Below 1.00 it is
# worth its cost: one more frame rendered per block in the stream.
_SLOW_MOTION_RAD = 0.03


def default_encoding(options: RenderOptions) -> Encoding:
    """No dithering; inter-frame optimisation where the motion is slow enough for it to pay."""
    step = abs(frame_time(options, 1)[0] - frame_time(options, 0)[0])
    return Encoding(optimise=step <= _SLOW_MOTION_RAD)


_RUNS_PER_PROCESS = 3  # runs of frames per process: balances load and reports progress


@contextmanager
def _blame(index: int) -> Iterator[None]:
    """Translate any failure while working on frame `index` into a RenderError naming it."""
    try:
        yield
    except RenderError as exc:
        if exc.frame_index is None:
            exc.frame_index = index
        raise
    except Exception as exc:  # translated once, here, with the frame to blame
        raise RenderError(f"{type(exc).__name__}: {exc}", frame_index=index) from exc


def render_blocks(
    settings: Gen1Settings,
    options: RenderOptions,
    palette: bytes,
    start: int,
    stop: int,
    encoding: Encoding | None = None,
) -> list[bytes]:
    """The blocks of frames `start`..`stop`−1, the same bytes as `render_block` for each, but
    the frame before `start` is rendered once for the whole run, not once per frame."""
    encoding = encoding or default_encoding(options)
    return _render_run(settings, options, palette, encoding, start, stop)


def render_block(
    settings: Gen1Settings,
    options: RenderOptions,
    palette: bytes,
    index: int,
    encoding: Encoding | None = None,
) -> bytes:
    """Render frame `index` and encode it as one GIF image block on the artwork's palette.

    `encoding` None: `default_encoding(options)`, as `render_gif` uses, so both give the same
    bytes.
    """
    encoding = encoding or default_encoding(options)
    return _render_run(settings, options, palette, encoding, index, index + 1)[0]


def _render_run(
    settings: Gen1Settings,
    options: RenderOptions,
    palette: bytes,
    encoding: Encoding,
    start: int,
    stop: int,
    progress: Progress | None = None,
) -> list[bytes]:
    """The blocks of frames start..stop-1, rendering the frame before `start` if it is needed."""
    with _blame(start):
        previous = None
        if start > 0 and encoding.optimise:
            previous = render_frame(settings, options, start - 1)
        encoder = FrameEncoder(palette, options.delay_ms, encoding, previous)
    blocks: list[bytes] = []
    for index in range(start, stop):
        with _blame(index):
            blocks.append(encoder.encode(render_frame(settings, options, index)))
        if progress is not None:
            progress(index + 1, options.frames)
    return blocks


def plan_palette(settings: Gen1Settings, options: RenderOptions) -> bytes:
    """Render the sample frames and choose the artwork's palette from them."""
    return choose_palette(render_frames(settings, options, sample_indices(options.frames)))


def render_frames(
    settings: Gen1Settings, options: RenderOptions, indices: Sequence[int]
) -> list[npt.NDArray[np.uint8]]:
    """The RGB frames at ``indices``, e.g. `plan_palette`'s samples."""
    return [render_frame(settings, options, index) for index in indices]


def render_samples(
    settings: Gen1Settings, options: RenderOptions, indices: Sequence[int], first: int, total: int
) -> npt.NDArray[np.uint8]:
    """The pixels the palette is chosen from (`sample_pixels`) in the sample frames at
    ``indices``, which are samples ``first``.. of ``total``: a process's share of
    `plan_palette`'s samples, a sixteenth of the frames' bytes to send back. `palette_of_samples`
    of the shares in order gives `plan_palette`'s palette."""
    return sample_pixels(render_frames(settings, options, indices), first, total)


def sample_shares(indices: Sequence[int], parts: int) -> list[tuple[list[int], int]]:
    """``indices`` cut into at most ``parts`` consecutive shares, each with its position."""
    size = math.ceil(len(indices) / max(1, parts))
    return [(list(indices[at : at + size]), at) for at in range(0, len(indices), size)]


def render_gif(
    settings: Gen1Settings,
    options: RenderOptions,
    *,
    processes: int = 1,
    progress: Progress | None = None,
    encoding: Encoding | None = None,
) -> bytes:
    """The whole animated GIF, rendered locally.

    Args:
        settings: the artwork.
        options: size, frame count, delay and timing.
        processes: frames rendered in parallel; above 1 a process pool is used. The bytes
            are the same for any value.
        progress: called as progress(done, total) as frames are encoded (after every frame
            in one process, after every run of frames in a pool).
        encoding: dithering and inter-frame optimisation (None: `default_encoding`).
    """
    encoding = encoding or default_encoding(options)
    if processes < 1:
        raise ValueError(f"processes must be at least 1, got {processes}")
    if processes == 1:
        palette = plan_palette(settings, options)
        blocks = _render_run(settings, options, palette, encoding, 0, options.frames, progress)
        return assemble_gif(gif_header(options.size, palette), blocks)
    with ProcessPoolExecutor(max_workers=min(processes, options.frames)) as pool:
        samples = sample_indices(options.frames)
        futures = [
            pool.submit(render_samples, settings, options, part, at, len(samples))
            for part, at in sample_shares(samples, processes)
        ]
        palette = palette_of_samples([future.result() for future in futures])
        blocks = _render_parallel(pool, settings, options, palette, encoding, processes, progress)
    return assemble_gif(gif_header(options.size, palette), blocks)


def _render_parallel(
    pool: ProcessPoolExecutor,
    settings: Gen1Settings,
    options: RenderOptions,
    palette: bytes,
    encoding: Encoding,
    processes: int,
    progress: Progress | None,
) -> list[bytes]:
    """Every frame's block from runs over the pool, re-ordered by index; the first failure wins."""
    total = options.frames
    step = max(1, math.ceil(total / (processes * _RUNS_PER_PROCESS)))
    runs: dict[int, list[bytes]] = {}
    pending: dict[Future[list[bytes]], int] = {
        pool.submit(
            _render_run, settings, options, palette, encoding, start, min(start + step, total)
        ): start
        for start in range(0, total, step)
    }
    done_frames = 0
    try:
        while pending:
            done, _ = wait(pending, return_when=FIRST_EXCEPTION)
            for future in sorted(done, key=pending.__getitem__):
                run = future.result()  # re-raises a failure
                runs[pending.pop(future)] = run
                done_frames += len(run)
                if progress is not None:
                    progress(done_frames, total)
    finally:
        for future in pending:  # after a failure: drop the runs not yet started
            future.cancel()
    return [block for start in sorted(runs) for block in runs[start]]
