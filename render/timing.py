"""Frame time: the wave phase and background angle of each frame (GEN1_SPEC §2.1)."""

from __future__ import annotations

import math

from render.settings import RenderOptions

__all__ = ["LEGACY_RATE", "frame_time", "loop_cycles"]

# The original's speed: t = 0.2·f and φ = 0.01·t, so φ (and the angle a = t/100) advance
# 0.002 rad per frame.
LEGACY_RATE = 0.002


def loop_cycles(frames: int) -> int:
    """Whole 2π cycles the loop timing makes over `frames`, closest to the original's speed."""
    return max(1, round(LEGACY_RATE * frames / (2 * math.pi)))


def frame_time(options: RenderOptions, index: int, direction: int = 1) -> tuple[float, float]:
    """The (phase φ, background angle a) of frame `index`; a carries flowField.direction."""
    if options.timing == "legacy":
        # The original's formulas, operation for operation.
        t = 0.2 * index
        return 0.01 * t, (t / 100) * direction
    # "loop": φ and a go from 0 to 2π·k over the N frames. The turn is reduced modulo N in
    # integers first, so frame N gives exactly φ = 0 and repeats frame 0 to the byte.
    turn = (loop_cycles(options.frames) * index) % options.frames
    phase = 2 * math.pi * turn / options.frames
    return phase, phase * direction
