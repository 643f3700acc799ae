"""Gen1 settings and render options: frozen, validated, with the defaults of GEN1_SPEC §1.

`Gen1Settings.from_dict` accepts both settings dialects (`baseFrequency` and the original's
exported `baseFreq`) and raises one `SettingsError` naming every bad field by its dotted path;
`to_dict` gives the canonical camelCase form, so `from_dict(to_dict(s)) == s`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from render.fields import boolean, choice, colour, dump_object, integer, number, parse, section

__all__ = ["Contour", "FlowField", "FlowFields", "Gen1Settings", "RenderOptions"]

_DIRECTION = "must be 1 or -1"  # 1 is clockwise
_FREQ = ("baseFreq",)  # the second dialect's name for baseFrequency


@dataclass(frozen=True)
class FlowField:
    """The background gradient layer (`flowField`).

    Only `enabled`, the colours and `direction` (the sense of the gradient's rotation) reach
    the art; the wave parameters are accepted and kept for compatibility with the original.
    """

    enabled: bool = boolean("enabled", True)
    color1: str = colour("color1", "#4ade80")
    color2: str = colour("color2", "#22d3ee")
    direction: int = choice("direction", 1, (1, -1), _DIRECTION)
    base_frequency: float = number("baseFrequency", 0.02, 0.001, 0.05, aliases=_FREQ)
    amplitude: float = number("amplitude", 1.0, 0.1, 3)
    octaves: int = integer("octaves", 1, 1, 8)
    rotation: float = number("rotation", 0, 0, 360)


@dataclass(frozen=True)
class FlowFields:
    """The flow-line layer (`flowFields`): one white stroke per grid cell along the wave gradient.

    `line_length` is in pixels at size 512; `line_density` times 512 is the cells per side;
    `rotation` (degrees) turns every line; `direction` -1 mirrors the lines' x component.
    """

    enabled: bool = boolean("enabled", True)
    base_frequency: float = number("baseFrequency", 0.01, 0.001, 0.05, aliases=_FREQ)
    amplitude: float = number("amplitude", 1.0, 0.1, 3)
    octaves: int = integer("octaves", 1, 1, 8)
    line_length: float = number("lineLength", 20, 5, 100)
    line_density: float = number("lineDensity", 0.1, 0.01, 0.5)
    rotation: float = number("rotation", 0, 0, 360)
    direction: int = choice("direction", 1, (1, -1), _DIRECTION)


@dataclass(frozen=True)
class Contour:
    """The contour-band layer (`contour`): a 64x64 grid of translucent blue cells by wave value."""

    enabled: bool = boolean("enabled", True)
    base_frequency: float = number("baseFrequency", 0.01, 0.001, 0.05, aliases=_FREQ)
    amplitude: float = number("amplitude", 1.0, 0.1, 3)
    octaves: int = integer("octaves", 4, 1, 8)
    levels: int = integer("levels", 5, 2, 20)
    smoothness: float = number("smoothness", 0.3, 0, 1)


@dataclass(frozen=True)
class Gen1Settings:
    """Everything that decides a Gen1 picture (GEN1_SPEC §1).

    Args:
        flow_field: the background gradient (`flowField`).
        flow_fields: the flow lines (`flowFields`).
        contour: the contour bands (`contour`).
        contour_affects_flow: average the contour wave's gradient into the flow lines'
            (only when the contour layer is enabled) (`contourAffectsFlow`).
    """

    flow_field: FlowField = field(default_factory=FlowField, metadata=section("flowField"))
    flow_fields: FlowFields = field(default_factory=FlowFields, metadata=section("flowFields"))
    contour: Contour = field(default_factory=Contour, metadata=section("contour"))
    contour_affects_flow: bool = boolean("contourAffectsFlow", True)

    @classmethod
    def from_dict(cls, data: object) -> Gen1Settings:
        """Validate client JSON (either dialect); raise SettingsError listing every bad field."""
        return parse(cls, data)

    def to_dict(self) -> dict[str, object]:
        """The canonical camelCase JSON form, every field present."""
        return dump_object(self)


@dataclass(frozen=True)
class RenderOptions:
    """How to render the artwork, beside its settings (Lantern's own options).

    Args:
        size: the canvas side in pixels, 64-1024; the art scales with it.
        frames: the number of frames, 1-1000.
        delay_ms: the delay per frame, 20-10000 ms in steps of 10 (GIF counts centiseconds).
        timing: "loop" (seamless whole cycles over the frames) or "legacy" (the original's
            frame-by-frame motion, GEN1_SPEC §2.1).
        raster: how the 1 px flow lines are drawn: "cairo" (exact-area coverage, as the
            original's node-canvas drew them) or "browser" (Chromium's anti-aliased hairlines,
            as holders' browsers drew them; diagonals get ~1/√2 of the ink).
    """

    size: int = integer("size", 512, 64, 1024)
    frames: int = integer("frames", 100, 1, 1000)
    delay_ms: int = integer("delay_ms", 30, 20, 10000, multiple_of=10)
    timing: str = choice("timing", "loop", ("loop", "legacy"), 'must be "loop" or "legacy"')
    raster: str = choice("raster", "cairo", ("cairo", "browser"), 'must be "cairo" or "browser"')

    @classmethod
    def from_dict(cls, data: object) -> RenderOptions:
        """Validate client JSON; raise SettingsError listing every bad field."""
        return parse(cls, data)

    def to_dict(self) -> dict[str, object]:
        """The JSON form, every field present."""
        return dump_object(self)
