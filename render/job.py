"""The render pipeline: plan the palette, render and encode each frame, assemble the GIF.

`render_block` is the unit of parallel work (module level, so a process pool can pickle it):
frame index in, that frame's image block out. `render_gif` runs the whole pipeline locally,
serially or over a process pool, with byte-identical output either way:

    gif = render_gif(Gen1Settings(), RenderOptions(size=512, frames=100), processes=4)
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait

from render.art import render_frame
from render.errors import RenderError
from render.gif import assemble_gif, encode_frame, gif_header
from render.palette import choose_palette, sample_indices
from render.settings import Gen1Settings, RenderOptions

__all__ = ["Progress", "plan_palette", "render_block", "render_gif"]

Progress = Callable[[int, int], None]  # (frames done, frames in all)


def render_block(
    settings: Gen1Settings, options: RenderOptions, palette: bytes, index: int
) -> bytes:
    """Render frame `index` and encode it as one GIF image block on the artwork's palette."""
    try:
        return encode_frame(render_frame(settings, options, index), palette, options.delay_ms)
    except RenderError as exc:
        if exc.frame_index is None:
            exc.frame_index = index
        raise
    except Exception as exc:  # translated once, here, with the frame to blame
        raise RenderError(f"{type(exc).__name__}: {exc}", frame_index=index) from exc


def plan_palette(settings: Gen1Settings, options: RenderOptions) -> bytes:
    """Render the sample frames and choose the artwork's palette from them."""
    indices = sample_indices(options.frames)
    return choose_palette([render_frame(settings, options, index) for index in indices])


def render_gif(
    settings: Gen1Settings,
    options: RenderOptions,
    *,
    processes: int = 1,
    progress: Progress | None = None,
) -> bytes:
    """The whole animated GIF, rendered locally.

    Args:
        settings: the artwork.
        options: size, frame count, delay and timing.
        processes: frames rendered in parallel; above 1 a process pool is used. The bytes
            are the same for any value.
        progress: called as progress(done, total) after each frame is encoded.
    """
    if processes < 1:
        raise ValueError(f"processes must be at least 1, got {processes}")
    palette = plan_palette(settings, options)
    header = gif_header(options.size, palette)
    total = options.frames
    if processes == 1:
        blocks: list[bytes] = []
        for index in range(total):
            blocks.append(render_block(settings, options, palette, index))
            if progress is not None:
                progress(index + 1, total)
        return assemble_gif(header, blocks)
    return assemble_gif(header, _render_parallel(settings, options, palette, processes, progress))


def _render_parallel(
    settings: Gen1Settings,
    options: RenderOptions,
    palette: bytes,
    processes: int,
    progress: Progress | None,
) -> list[bytes]:
    """Every frame's block over a process pool, re-ordered by index; the first failure wins."""
    total = options.frames
    blocks: dict[int, bytes] = {}
    with ProcessPoolExecutor(max_workers=min(processes, total)) as pool:
        pending: dict[Future[bytes], int] = {
            pool.submit(render_block, settings, options, palette, index): index
            for index in range(total)
        }
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_EXCEPTION)
                for future in sorted(done, key=pending.__getitem__):
                    blocks[pending.pop(future)] = future.result()  # re-raises a failure
                    if progress is not None:
                        progress(len(blocks), total)
        finally:
            for future in pending:  # after a failure: drop the frames not yet started
                future.cancel()
    return [blocks[index] for index in range(total)]
