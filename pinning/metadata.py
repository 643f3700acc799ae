"""ERC-721 / OpenSea metadata for a Gen1 artwork (GEN1_SPEC §4), serialised canonically."""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from typing import Any

__all__ = ["RENDERER_VERSION", "build_metadata", "canonical_json"]

try:
    RENDERER_VERSION = f"lantern-gen1/{version('lantern')}"
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    RENDERER_VERSION = "lantern-gen1/0+unknown"


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8: identical inputs give identical bytes and CIDs."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def build_metadata(
    *,
    job_id: str,
    settings: dict[str, Any],
    options: dict[str, Any],
    gif_cid: str,
    gif_size: int,
    external_url: str,
    token_id: int | None = None,
) -> dict[str, Any]:
    """The token's metadata JSON; named by token id once known, else by job id."""
    name = f"Gen1 #{token_id}" if token_id is not None else f"Gen1 {job_id}"
    return {
        "name": name,
        "description": "A Gen1 generative artwork: a rotating two-colour gradient, flow lines "
        "and contour bands driven by a sum-of-sines wavefield.",
        "image": f"ipfs://{gif_cid}",
        "external_url": external_url,
        "attributes": _attributes(settings, options),
        "properties": {
            "settings": settings,
            "options": options,
            "renderer_version": RENDERER_VERSION,
            "gif_bytes": gif_size,
            "frames": options["frames"],
        },
    }


def _attributes(settings: dict[str, Any], options: dict[str, Any]) -> list[dict[str, Any]]:
    flow, lines, contour = settings["flowField"], settings["flowFields"], settings["contour"]
    traits: list[dict[str, Any]] = [
        {"trait_type": "Colour 1", "value": flow["color1"]},
        {"trait_type": "Colour 2", "value": flow["color2"]},
        {"trait_type": "Gradient", "value": "on" if flow["enabled"] else "off"},
        {"trait_type": "Flow lines", "value": "on" if lines["enabled"] else "off"},
        {"trait_type": "Contours", "value": "on" if contour["enabled"] else "off"},
    ]
    if lines["enabled"]:
        traits += [
            {"trait_type": "Line density", "value": lines["lineDensity"], "display_type": "number"},
            {"trait_type": "Line length", "value": lines["lineLength"], "display_type": "number"},
        ]
    if contour["enabled"]:
        traits.append(
            {"trait_type": "Contour levels", "value": contour["levels"], "display_type": "number"}
        )
    traits.append({"trait_type": "Frames", "value": options["frames"], "display_type": "number"})
    return traits
