"""Gen1 rendering: settings in, numpy frames and GIF bytes out (pure, deterministic).

    settings = Gen1Settings.from_dict(request_json)      # raises SettingsError (422)
    gif = render_gif(settings, RenderOptions(size=512, frames=100), processes=4)

For a distributed render: `plan_palette` once, `render_block` per frame index (any process),
then `assemble_gif(gif_header(size, palette), blocks_in_index_order)`.
"""

from __future__ import annotations

from render.art import render_frame
from render.errors import FieldError, LanternError, RenderError, SettingsError
from render.gif import GIF_TRAILER, assemble_gif, encode_frame, frame_block, gif_header
from render.job import plan_palette, render_block, render_gif
from render.palette import choose_palette, quantize, sample_indices
from render.settings import Contour, FlowField, FlowFields, Gen1Settings, RenderOptions
from render.timing import frame_time

__all__ = [
    "GIF_TRAILER",
    "Contour",
    "FieldError",
    "FlowField",
    "FlowFields",
    "Gen1Settings",
    "LanternError",
    "RenderError",
    "RenderOptions",
    "SettingsError",
    "assemble_gif",
    "choose_palette",
    "encode_frame",
    "frame_block",
    "frame_time",
    "gif_header",
    "plan_palette",
    "quantize",
    "render_block",
    "render_frame",
    "render_gif",
    "sample_indices",
]
