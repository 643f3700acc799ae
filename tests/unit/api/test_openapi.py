"""The OpenAPI document says what the API enforces: every bound agrees with render/'s model."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from api.openapi import OPTIONS_SCHEMA, SETTINGS_SCHEMA, document
from render import Gen1Settings, RenderOptions, SettingsError


def bounds(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every numeric leaf with its dotted path."""
    out = []
    for key, sub in schema.get("properties", {}).items():
        if sub.get("type") == "object":
            out += bounds(sub, f"{path}{key}.")
        elif sub.get("type") in {"number", "integer"} and "minimum" in sub:
            out.append((f"{path}{key}", sub))
    return out


def nest(path: str, value: object) -> dict[str, Any]:
    head, _, rest = path.partition(".")
    return {head: nest(rest, value) if rest else value}


def accepted(parse: Any, data: dict[str, Any]) -> bool:
    try:
        parse(data)
    except SettingsError:
        return False
    return True


SETTINGS_BOUNDS = bounds(SETTINGS_SCHEMA)
OPTIONS_BOUNDS = bounds(OPTIONS_SCHEMA)


def test_the_document_is_valid_openapi_shaped_json_schema() -> None:
    doc = document()
    assert doc["openapi"].startswith("3.1")
    body = doc["paths"]["/api/v1/mints"]["post"]["requestBody"]["content"]["application/json"]
    Draft202012Validator.check_schema(body["schema"])
    assert len(SETTINGS_BOUNDS) >= 15


@pytest.mark.parametrize(("path", "schema"), SETTINGS_BOUNDS + OPTIONS_BOUNDS)
def test_every_bound_matches_validation(path: str, schema: dict[str, Any]) -> None:
    parse = RenderOptions.from_dict if (path, schema) in OPTIONS_BOUNDS else Gen1Settings.from_dict
    lo, hi = schema["minimum"], schema["maximum"]
    step = schema.get("multipleOf", 1 if schema["type"] == "integer" else 1e-6)
    assert accepted(parse, nest(path, lo)), f"{path}={lo} should be accepted"
    assert accepted(parse, nest(path, hi)), f"{path}={hi} should be accepted"
    assert not accepted(parse, nest(path, lo - step)), f"{path} below {lo} should be refused"
    assert not accepted(parse, nest(path, hi + step)), f"{path} above {hi} should be refused"


def test_unknown_keys_are_refused_by_both() -> None:
    assert SETTINGS_SCHEMA["additionalProperties"] is False
    assert not accepted(Gen1Settings.from_dict, {"colour": 1})
    assert not accepted(
        Gen1Settings.from_dict, {"contour": {"baseFreq": 0.01, "baseFrequency": 0.01}}
    )
