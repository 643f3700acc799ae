"""ERC-721 / OpenSea metadata for a Gen1 artwork (GEN1_SPEC §4), serialised canonically.

The shape is pinned down by ``metadata.schema.json`` beside this module (``SCHEMA``).
"""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from importlib.resources import files
from typing import Any

__all__ = ["RENDERER_VERSION", "build_metadata", "canonical_json", "load_schema"]

try:
    RENDERER_VERSION = f"lantern-gen1/{version('lantern')}"
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    RENDERER_VERSION = "lantern-gen1/0+unknown"

_DESCRIPTION = (
    "A Gen1 generative artwork: a rotating two-colour gradient, flow lines and contour bands "
    "driven by a sum-of-sines wavefield, rendered and encoded as an animated GIF by Lantern."
)


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8: identical inputs give identical bytes and CIDs."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def load_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) every metadata document satisfies."""
    schema: dict[str, Any] = json.loads(
        files("pinning").joinpath("metadata.schema.json").read_text(encoding="utf-8")
    )
    return schema


def build_metadata(
    *,
    job_id: str,
    settings: dict[str, Any],
    options: dict[str, Any],
    gif_cid: str,
    gif_size: int,
    external_url: str,
    token_id: int | None = None,
    renderer_version: str = RENDERER_VERSION,
) -> dict[str, Any]:
    """The token's metadata JSON; named by token id once known, else by job id (never a time)."""
    name = f"Gen1 #{token_id}" if token_id is not None else f"Gen1 {job_id}"
    size = int(options["size"])
    return {
        "name": name,
        "description": _DESCRIPTION,
        "image": f"ipfs://{gif_cid}",
        "external_url": external_url,
        "attributes": _attributes(settings, options),
        "properties": {
            "settings": settings,
            "options": options,
            "renderer_version": renderer_version,
            "gif": {
                "bytes": gif_size,
                "frames": int(options["frames"]),
                "width": size,
                "height": size,
                "frame_delay_ms": int(options["delay_ms"]),
                "mime_type": "image/gif",
            },
        },
    }


def _attributes(settings: dict[str, Any], options: dict[str, Any]) -> list[dict[str, Any]]:
    """Readable traits: words for switches and directions, numbers marked as numbers."""
    flow, lines, contour = settings["flowField"], settings["flowFields"], settings["contour"]
    traits: list[dict[str, Any]] = [
        {"trait_type": "Colour 1", "value": flow["color1"]},
        {"trait_type": "Colour 2", "value": flow["color2"]},
        {"trait_type": "Gradient", "value": _switch(flow["enabled"])},
    ]
    if flow["enabled"]:
        turn = "clockwise" if flow["direction"] == 1 else "counter-clockwise"
        traits.append({"trait_type": "Gradient rotation", "value": turn})
    traits.append({"trait_type": "Flow lines", "value": _switch(lines["enabled"])})
    if lines["enabled"]:
        traits += [
            _number("Line density", lines["lineDensity"]),
            _number("Line length", lines["lineLength"]),
        ]
    traits.append({"trait_type": "Contours", "value": _switch(contour["enabled"])})
    if contour["enabled"]:
        traits.append(_number("Contour levels", contour["levels"]))
    traits += [
        _number("Frames", options["frames"]),
        _number("Size (px)", options["size"]),
        _number("Frame delay (ms)", options["delay_ms"]),
    ]
    return traits


def _switch(enabled: bool) -> str:
    return "on" if enabled else "off"


def _number(trait: str, value: float) -> dict[str, Any]:
    return {"trait_type": trait, "value": value, "display_type": "number"}
