"""Token metadata: ERC-721 / OpenSea shape, validated against the JSON Schema in the repo."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from pinning import compute_cid
from pinning.metadata import RENDERER_VERSION, build_metadata, canonical_json, load_schema
from render import Gen1Settings, RenderOptions

GIF_CID = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
JOB = "3f2a9c1e5b7d4f60a1b2c3d4e5f60718"


def metadata(**changes: Any) -> dict[str, Any]:
    settings = Gen1Settings.from_dict(changes.pop("settings", {})).to_dict()
    options = RenderOptions.from_dict(changes.pop("options", {})).to_dict()
    arguments: dict[str, Any] = {
        "job_id": JOB,
        "settings": settings,
        "options": options,
        "gif_cid": GIF_CID,
        "gif_size": 123_456,
        "external_url": f"http://127.0.0.1:8080/jobs/{JOB}",
    }
    return build_metadata(**(arguments | changes))


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"token_id": 42},
        {"gif_cid": "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"},
        {"settings": {"flowFields": {"enabled": False}, "contour": {"enabled": False}}},
        {"settings": {"flowField": {"enabled": False}}, "options": {"size": 64, "frames": 1}},
    ],
)
def test_valid_against_schema(validator: jsonschema.protocols.Validator, changes: Any) -> None:
    validator.validate(metadata(**changes))


def test_fields() -> None:
    doc = metadata(options={"size": 256, "frames": 40, "delay_ms": 50})
    assert doc["name"] == f"Gen1 {JOB}"
    assert metadata(token_id=7)["name"] == "Gen1 #7"
    assert doc["image"] == f"ipfs://{GIF_CID}"
    assert doc["external_url"].endswith(f"/jobs/{JOB}")
    props = doc["properties"]
    assert props["renderer_version"] == RENDERER_VERSION
    assert props["settings"] == Gen1Settings().to_dict()
    assert props["gif"] == {
        "bytes": 123_456,
        "frames": 40,
        "width": 256,
        "height": 256,
        "frame_delay_ms": 50,
        "mime_type": "image/gif",
    }
    traits = {t["trait_type"]: t for t in doc["attributes"]}
    assert traits["Colour 1"] == {"trait_type": "Colour 1", "value": "#4ade80"}
    assert traits["Gradient rotation"]["value"] == "clockwise"
    assert traits["Frames"] == {"trait_type": "Frames", "value": 40, "display_type": "number"}
    assert traits["Line density"]["display_type"] == "number"
    # Words for switches, numbers only where they are numbers.
    assert {t["value"] for t in doc["attributes"] if t["trait_type"] == "Contours"} == {"on"}
    assert all(
        isinstance(t["value"], int | float) for t in doc["attributes"] if "display_type" in t
    )


def test_disabled_layers_drop_their_numbers() -> None:
    doc = metadata(settings={"flowFields": {"enabled": False}, "contour": {"enabled": False}})
    names = [t["trait_type"] for t in doc["attributes"]]
    assert "Line density" not in names and "Contour levels" not in names
    assert {"Flow lines", "Contours"} <= set(names)


def test_canonical_bytes_and_cid_are_stable() -> None:
    first, second = canonical_json(metadata()), canonical_json(metadata())
    assert first == second
    assert compute_cid(first) == compute_cid(second)
    assert b'": ' not in first and b'", "' not in first  # compact separators
    assert json.loads(first) == metadata()
    assert list(json.loads(first)) == sorted(json.loads(first))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("image",), "https://example.com/x.gif"),
        (("name",), ""),
        (("attributes", 0, "value"), None),
        (("properties", "gif", "frames"), 0),
        (("surprise",), 1),
    ],
)
def test_schema_catches_drift(
    validator: jsonschema.protocols.Validator, path: tuple[Any, ...], value: Any
) -> None:
    doc = metadata()
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert not validator.is_valid(doc)


def test_number_display_type_needs_a_number(validator: jsonschema.protocols.Validator) -> None:
    doc = metadata()
    doc["attributes"].append({"trait_type": "Odd", "value": "seven", "display_type": "number"})
    assert not validator.is_valid(doc)
