"""Gen1 rendering: settings in, numpy frames and GIF bytes out (pure, deterministic).

    settings = Gen1Settings.from_dict(request_json)      # raises SettingsError (422)
    gif = render_gif(settings, RenderOptions(size=512, frames=100), processes=2)

For a distributed render: `plan_palette` once, `render_block` per frame index (any process),
then `assemble_gif(gif_header(size, palette), blocks_in_index_order)`. Any RGB frames:
`encode_gif(frames)`.
"""

from __future__ import annotations

from render.art import render_frame
from render.delta import Patch, changed_patch, full_patch
from render.encoder import (
    DEFAULT_TOLERANCE,
    Encoding,
    FrameEncoder,
    encode_block,
    encode_frames,
    encode_gif,
)
from render.errors import FieldError, LanternError, RenderError, SettingsError
from render.gif import GIF_TRAILER, assemble_gif, frame_block, gif_header
from render.job import (
    DEFAULT_ENCODING,
    default_encoding,
    plan_palette,
    render_block,
    render_blocks,
    render_frames,
    render_gif,
    render_samples,
)
from render.palette import (
    NO_ALTERNATE,
    TRANSPARENT,
    Quantizer,
    choose_palette,
    palette_of_samples,
    palette_rgb,
    quantize,
    sample_indices,
)
from render.settings import Contour, FlowField, FlowFields, Gen1Settings, RenderOptions
from render.timing import frame_time

__all__ = [
    "DEFAULT_ENCODING",
    "DEFAULT_TOLERANCE",
    "GIF_TRAILER",
    "NO_ALTERNATE",
    "TRANSPARENT",
    "Contour",
    "Encoding",
    "FieldError",
    "FlowField",
    "FlowFields",
    "FrameEncoder",
    "Gen1Settings",
    "LanternError",
    "Patch",
    "Quantizer",
    "RenderError",
    "RenderOptions",
    "SettingsError",
    "assemble_gif",
    "changed_patch",
    "choose_palette",
    "default_encoding",
    "encode_block",
    "encode_frames",
    "encode_gif",
    "frame_block",
    "frame_time",
    "full_patch",
    "gif_header",
    "palette_of_samples",
    "palette_rgb",
    "plan_palette",
    "quantize",
    "render_block",
    "render_blocks",
    "render_frame",
    "render_frames",
    "render_gif",
    "render_samples",
    "sample_indices",
]
