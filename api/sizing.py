"""Refusing up front a job whose GIF could not be pinned.

The pin stage refuses files over ``LANTERN_PIN_MAX_BYTES``; without this check such a job would
be rendered in full and then fail. Most jobs are under the hard bound for their size and frame
count (``render.estimate.gif_size_bound``) and pass at once; the others are estimated from a
sample render (a few hundred ms, in the preview processes, a bounded number at a time).
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import TYPE_CHECKING

from render import Gen1Settings, RenderOptions
from render.estimate import estimate_gif_bytes, gif_size_bound

from .errors import ApiError

if TYPE_CHECKING:
    from .limits import RateLimiter
    from .preview import PreviewPool

__all__ = ["SizeCheck"]

log = logging.getLogger(__name__)
_MB = 1024 * 1024


class SizeCheck:
    """``await check(settings, options, pool)``: 422 if the GIF would exceed the pin limit."""

    def __init__(self, max_bytes: int, slots: int, rate: RateLimiter | None = None) -> None:
        self.max_bytes = max_bytes
        self.slots = slots
        self.rate = rate  # estimates per client address (each costs seconds of CPU)
        self.running = 0

    async def check(
        self,
        settings: Gen1Settings,
        options: RenderOptions,
        pool: PreviewPool | None = None,
        client: str = "unknown",
    ) -> None:
        """Pass, or raise 422 naming the expected size and the frames that would fit."""
        if not self.max_bytes or gif_size_bound(options) <= self.max_bytes:
            return
        if self.rate is not None:
            self.rate.take(client)
        if self.running >= self.slots:
            raise ApiError(
                429, "busy", "too many large jobs are being sized; retry shortly",
                headers={"Retry-After": "2"},
            )  # fmt: skip
        self.running += 1
        try:
            estimate = await _estimate(settings, options, pool)
        finally:
            self.running -= 1
        log.info("sized frames=%d size=%d estimate=%d", options.frames, options.size, estimate)
        if estimate > self.max_bytes:
            fits = max(1, math.floor(options.frames * self.max_bytes / estimate))
            raise ApiError(
                422, "too_large_to_pin",
                f"the GIF would be about {estimate / _MB:.0f} MB, over the "
                f"{self.max_bytes / _MB:.0f} MB this service can pin: use at most about "
                f"{fits} frames at size {options.size}, or a smaller size",
                field="options.frames",
            )  # fmt: skip


async def _estimate(
    settings: Gen1Settings, options: RenderOptions, pool: PreviewPool | None
) -> int:
    """The estimate in the preview processes when the app has them, else in a thread."""
    if pool is not None:
        return await pool.run(estimate_gif_bytes, settings, options)
    return await asyncio.to_thread(estimate_gif_bytes, settings, options)
