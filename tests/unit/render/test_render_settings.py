"""Gen1Settings and RenderOptions: defaults, both dialects, round trips, every kind of bad field."""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest

from render import (
    Contour,
    FieldError,
    FlowField,
    FlowFields,
    Gen1Settings,
    LanternError,
    RenderError,
    RenderOptions,
    SettingsError,
)

CANONICAL: dict[str, Any] = {
    "flowField": {
        "enabled": True,
        "color1": "#112233",
        "color2": "#AABBCC",
        "direction": -1,
        "baseFrequency": 0.03,
        "amplitude": 2,
        "octaves": 3,
        "rotation": 90,
    },
    "flowFields": {
        "enabled": True,
        "baseFrequency": 0.02,
        "amplitude": 1.5,
        "octaves": 2,
        "lineLength": 30,
        "lineDensity": 0.2,
        "rotation": 0,
        "direction": 1,
    },
    "contour": {
        "enabled": False,
        "baseFrequency": 0.005,
        "amplitude": 0.5,
        "octaves": 6,
        "levels": 8,
        "smoothness": 0,
    },
    "contourAffectsFlow": False,
}

# The original's exported dialect: baseFreq, and no rotation or direction.
DIALECT: dict[str, Any] = {
    "flowField": {"enabled": True, "color1": "#112233", "color2": "#aabbcc", "baseFreq": 0.03,
                  "amplitude": 2, "octaves": 3, "rotation": 90, "direction": -1},
    "flowFields": {"enabled": True, "baseFreq": 0.02, "amplitude": 1.5, "octaves": 2,
                   "lineLength": 30, "lineDensity": 0.2},
    "contour": {"enabled": False, "baseFreq": 0.005, "amplitude": 0.5, "octaves": 6,
                "levels": 8, "smoothness": 0},
    "contourAffectsFlow": False,
}  # fmt: skip


def errors_of(data: object, cls: type = Gen1Settings) -> list[FieldError]:
    with pytest.raises(SettingsError) as info:
        cls.from_dict(data)
    return info.value.errors


def test_defaults_follow_the_spec() -> None:
    settings = Gen1Settings()
    assert settings.flow_field == FlowField(True, "#4ade80", "#22d3ee", 1, 0.02, 1.0, 1, 0.0)
    assert settings.flow_fields == FlowFields(True, 0.01, 1.0, 1, 20.0, 0.1, 0.0, 1)
    assert settings.contour == Contour(True, 0.01, 1.0, 4, 5, 0.3)
    assert settings.contour_affects_flow is True
    assert Gen1Settings.from_dict({}) == settings
    assert Gen1Settings.from_dict({"flowField": {}, "contour": {"levels": 5}}) == settings


def test_missing_fields_and_sections_take_defaults() -> None:
    settings = Gen1Settings.from_dict({"flowFields": {"lineLength": 40}})
    assert settings.flow_fields == FlowFields(line_length=40.0)
    assert settings.flow_field == FlowField()
    assert settings.contour == Contour()


def test_both_dialects_normalise_to_the_same_settings() -> None:
    assert Gen1Settings.from_dict(DIALECT) == Gen1Settings.from_dict(CANONICAL)


def test_to_dict_is_canonical_and_round_trips() -> None:
    settings = Gen1Settings.from_dict(DIALECT)
    data = settings.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["flowField"] == {**CANONICAL["flowField"], "color2": "#aabbcc"}
    assert data["flowFields"] == CANONICAL["flowFields"]
    assert Gen1Settings.from_dict(data) == settings
    assert Gen1Settings().to_dict()["flowFields"] == {
        "enabled": True,
        "baseFrequency": 0.01,
        "amplitude": 1.0,
        "octaves": 1,
        "lineLength": 20.0,
        "lineDensity": 0.1,
        "rotation": 0.0,
        "direction": 1,
    }


def test_numbers_are_normalised() -> None:
    settings = Gen1Settings.from_dict(
        {"flowFields": {"lineLength": 30, "octaves": 3.0, "direction": -1.0}}
    )
    assert isinstance(settings.flow_fields.line_length, float)
    assert settings.flow_fields.octaves == 3 and isinstance(settings.flow_fields.octaves, int)
    assert settings.flow_fields.direction == -1 and isinstance(settings.flow_fields.direction, int)


def test_ranges_are_inclusive() -> None:
    low = {"lineLength": 5, "lineDensity": 0.01, "rotation": 0, "octaves": 1}
    high = {"lineLength": 100, "lineDensity": 0.5, "rotation": 360, "octaves": 8}
    assert Gen1Settings.from_dict({"flowFields": low}).flow_fields.line_density == 0.01
    assert Gen1Settings.from_dict({"flowFields": high}).flow_fields.line_density == 0.5
    assert Gen1Settings.from_dict({"contour": {"levels": 20, "smoothness": 1}}).contour.levels == 20


DENSITY = "must be between 0.01 and 0.5"
FREQUENCY = "must be between 0.001 and 0.05"
LEVELS = "must be between 2 and 20"
COLOUR = "must be a colour like #4ade80"


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        ({"flowField": {"enabled": 1}}, "flowField.enabled", "must be true or false"),
        ({"contourAffectsFlow": "yes"}, "contourAffectsFlow", "must be true or false"),
        ({"flowFields": {"lineDensity": "0.1"}}, "flowFields.lineDensity", "must be a number"),
        ({"flowFields": {"lineLength": None}}, "flowFields.lineLength", "must be a number"),
        ({"flowFields": {"amplitude": True}}, "flowFields.amplitude", "must be a number"),
        (
            {"contour": {"smoothness": float("nan")}},
            "contour.smoothness",
            "must be a finite number",
        ),
        ({"contour": {"levels": 3.5}}, "contour.levels", "must be an integer"),
        ({"contour": {"levels": "5"}}, "contour.levels", "must be an integer"),
        ({"contour": {"octaves": True}}, "contour.octaves", "must be an integer"),
        ({"flowFields": {"lineDensity": 0.005}}, "flowFields.lineDensity", DENSITY),
        ({"flowFields": {"lineDensity": 0.51}}, "flowFields.lineDensity", DENSITY),
        ({"flowFields": {"baseFreq": 0.0009}}, "flowFields.baseFreq", FREQUENCY),
        ({"contour": {"levels": 1}}, "contour.levels", LEVELS),
        ({"contour": {"levels": 21}}, "contour.levels", LEVELS),
        ({"flowField": {"rotation": 360.5}}, "flowField.rotation", "must be between 0 and 360"),
        ({"flowField": {"color1": "#12345"}}, "flowField.color1", COLOUR),
        ({"flowField": {"color2": "4ade80"}}, "flowField.color2", COLOUR),
        ({"flowField": {"color1": "#gg0000"}}, "flowField.color1", COLOUR),
        ({"flowField": {"color1": 0x4ADE80}}, "flowField.color1", COLOUR),
        ({"flowFields": {"direction": 0}}, "flowFields.direction", "must be 1 or -1"),
        ({"flowFields": {"direction": 2}}, "flowFields.direction", "must be 1 or -1"),
        ({"flowField": {"direction": True}}, "flowField.direction", "must be 1 or -1"),
        ({"flowField": {"direction": "1"}}, "flowField.direction", "must be 1 or -1"),
        ({"contour": {"colour": "#fff"}}, "contour.colour", "unknown field"),
        ({"speed": 3}, "speed", "unknown field"),
        ({"contour": 5}, "contour", "must be a JSON object"),
        ({"flowFields": [1, 2]}, "flowFields", "must be a JSON object"),
        (
            {"flowFields": {"baseFrequency": 0.01, "baseFreq": 0.01}},
            "flowFields.baseFreq",
            "conflicts with baseFrequency",
        ),
    ],
)
def test_a_bad_field_is_named_with_its_path(data: object, field: str, reason: str) -> None:
    assert errors_of(data) == [FieldError(field, reason)]


@pytest.mark.parametrize("data", [None, [], "settings", 3, True])
def test_a_non_object_is_rejected_at_the_root(data: object) -> None:
    assert errors_of(data) == [FieldError("", "must be a JSON object")]


def test_every_error_is_collected() -> None:
    data = {
        "flowField": {"color1": "red", "enabled": "no"},
        "flowFields": {"lineDensity": 2, "octaves": 0.5},
        "contour": {"levels": 0, "shape": "round"},
        "extra": None,
    }
    assert [error.field for error in errors_of(data)] == [
        "flowField.enabled",
        "flowField.color1",
        "flowFields.octaves",
        "flowFields.lineDensity",
        "contour.levels",
        "contour.shape",
        "extra",
    ]


def test_settings_error_reads_well_and_survives_pickling() -> None:
    with pytest.raises(SettingsError) as info:
        Gen1Settings.from_dict({"contour": {"levels": 0}, "x": 1})
    error = info.value
    assert isinstance(error, RenderError) and isinstance(error, LanternError)
    assert str(error) == (
        "2 invalid fields: contour.levels: must be between 2 and 20; x: unknown field"
    )
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is SettingsError and copy.errors == error.errors


def test_render_options_defaults_and_round_trip() -> None:
    assert RenderOptions() == RenderOptions(size=512, frames=100, delay_ms=30, timing="loop")
    assert RenderOptions.from_dict({}) == RenderOptions()
    options = RenderOptions.from_dict(
        {"size": 64, "frames": 1, "delay_ms": 10000, "timing": "legacy"}
    )
    assert options == RenderOptions(64, 1, 10000, "legacy")
    assert options.to_dict() == {
        "size": 64,
        "frames": 1,
        "delay_ms": 10000,
        "timing": "legacy",
        "raster": "cairo",
    }
    assert RenderOptions.from_dict(options.to_dict()) == options


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        ({"size": 63}, "size", "must be between 64 and 1024"),
        ({"size": 1025}, "size", "must be between 64 and 1024"),
        ({"size": 100.5}, "size", "must be an integer"),
        ({"frames": 0}, "frames", "must be between 1 and 1000"),
        ({"frames": 1001}, "frames", "must be between 1 and 1000"),
        ({"delay_ms": 10}, "delay_ms", "must be between 20 and 10000"),
        ({"delay_ms": 10010}, "delay_ms", "must be between 20 and 10000"),
        ({"delay_ms": 35}, "delay_ms", "must be a multiple of 10"),
        ({"timing": "fast"}, "timing", 'must be "loop" or "legacy"'),
        ({"timing": 1}, "timing", 'must be "loop" or "legacy"'),
        ({"fps": 30}, "fps", "unknown field"),
        ([], "", "must be a JSON object"),
    ],
)
def test_bad_render_options(data: object, field: str, reason: str) -> None:
    assert errors_of(data, RenderOptions) == [FieldError(field, reason)]
