"""The OpenAPI document says what the API serves and enforces: every route of the app's router
is in it (and nothing else), it validates as OpenAPI 3.1, and every bound agrees with render/'s
model and with the preview's query parsing."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from aiohttp import web
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator
from multidict import MultiDict

from api.errors import ApiError
from api.openapi import OPTIONS_SCHEMA, PREVIEW_PARAMETERS, SETTINGS_SCHEMA, document
from api.preview import parse_query
from lantern.settings import Settings
from render import Gen1Settings, RenderOptions, SettingsError

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Previews in threads: these tests start the app but render nothing worth a pool."""
    return dataclasses.replace(
        settings, api=dataclasses.replace(settings.api, preview_in_processes=False)
    )


def bounds(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every numeric leaf with its dotted path."""
    out = []
    for key, sub in schema.get("properties", {}).items():
        if sub.get("type") == "object":
            out += bounds(sub, f"{path}{key}.")
        elif sub.get("type") in {"number", "integer"} and "minimum" in sub:
            out.append((f"{path}{key}", sub))
    return out


def leaves(schema: dict[str, Any], path: str = "") -> list[str]:
    """Every leaf's dotted path."""
    out = []
    for key, sub in schema["properties"].items():
        out += leaves(sub, f"{path}{key}.") if sub.get("type") == "object" else [f"{path}{key}"]
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


def preview_accepts(query: dict[str, str]) -> bool:
    try:
        parse_query(MultiDict(query))
    except ApiError as exc:
        assert exc.status == 422
        return False
    return True


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method.upper(), path, operation


def schemas(node: Any) -> Iterator[dict[str, Any]]:
    """Every schema object the document holds (under a ``schema`` key or in components)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in {"schema", "contentSchema"} and isinstance(value, dict):
                yield value
            yield from schemas(value)
    elif isinstance(node, list):
        for value in node:
            yield from schemas(value)


SETTINGS_BOUNDS = bounds(SETTINGS_SCHEMA)
OPTIONS_BOUNDS = bounds(OPTIONS_SCHEMA)
PREVIEW_BOUNDS = [(p["name"], p["schema"]) for p in PREVIEW_PARAMETERS if "minimum" in p["schema"]]


# -- the routes ---------------------------------------------------------------------------------


async def test_the_document_names_every_route_of_the_app_and_nothing_else(
    client: TestClient[web.Request, web.Application],
) -> None:
    response = await client.get("/api/v1/openapi.json")
    assert response.status == 200
    served = await response.json()
    assert served == document()

    routes = []
    for route in client.app.router.routes():
        assert route.resource is not None
        routes.append((route.method, route.resource.canonical, route))
    gets = {path: route for method, path, route in routes if method == "GET"}
    # aiohttp adds a HEAD beside every GET (same handler): the document lists the GET
    for method, path, route in routes:
        if method == "HEAD":
            assert path in gets and gets[path].handler == route.handler, path
    in_app = {(method, path) for method, path, _ in routes if method != "HEAD"}
    in_document = {(method, path) for method, path, _ in operations(served)}
    assert in_app - in_document == set(), "routes missing from the document"
    assert in_document - in_app == set(), "documented routes the app does not serve"
    assert len(in_app) >= 17


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = document()
    assert doc["openapi"].startswith("3.1")
    schemathesis.openapi.from_dict(doc).validate()  # the OpenAPI 3.1 meta-schema
    found = list(schemas(doc)) + list(doc["components"]["schemas"].values())
    assert len(found) > 50
    for schema in found:
        Draft202012Validator.check_schema(schema)


def test_every_operation_is_named_and_declares_its_path_parameters() -> None:
    ids = []
    for method, path, operation in operations(document()):
        ids.append(operation["operationId"])
        assert operation["responses"], (method, path)
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert declared == set(re.findall(r"{(\w+)}", path)), (method, path)
    assert len(ids) == len(set(ids))


def test_failures_answer_the_error_body_and_say_when_to_retry() -> None:
    doc = document()
    error = {"$ref": "#/components/schemas/Error"}
    for method, path, operation in operations(doc):
        for status, response in operation["responses"].items():
            if status == "429":
                assert "Retry-After" in response["headers"], (method, path)
            if status.startswith("4") and status not in {"412", "416"}:
                body = response["content"]["application/json"]["schema"]
                assert body == error, (method, path, status)
        if "security" in operation:
            assert operation["responses"]["401"]["headers"]["WWW-Authenticate"]
            assert "403" in operation["responses"]


# -- settings and options (POST /api/v1/mints) ----------------------------------------------------


def test_the_request_body_schema_is_json_schema() -> None:
    doc = document()
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


# -- the preview's query (GET /api/v1/preview.png) ----------------------------------------------


def test_the_preview_takes_every_setting_by_its_dotted_path_and_size_and_frame() -> None:
    names = [p["name"] for p in PREVIEW_PARAMETERS]
    assert names == [*leaves(SETTINGS_SCHEMA), "size", "frame"]
    assert all(p["in"] == "query" and not p["required"] for p in PREVIEW_PARAMETERS)
    preview = document()["paths"]["/api/v1/preview.png"]["get"]
    assert set(preview["responses"]) == {"200", "304", "422", "429", "503"}
    assert "image/png" in preview["responses"]["200"]["content"]


@pytest.mark.parametrize(("name", "schema"), PREVIEW_BOUNDS)
def test_every_preview_bound_matches_the_query_parser(name: str, schema: dict[str, Any]) -> None:
    lo, hi = schema["minimum"], schema["maximum"]
    step = 1 if schema["type"] == "integer" else 1e-6
    assert preview_accepts({name: str(lo)}), f"{name}={lo} should be accepted"
    assert preview_accepts({name: str(hi)}), f"{name}={hi} should be accepted"
    assert not preview_accepts({name: str(lo - step)}), f"{name} below {lo} should be refused"
    assert not preview_accepts({name: str(hi + step)}), f"{name} above {hi} should be refused"
    assert not preview_accepts({name: "x"})
    if schema["type"] == "integer":
        assert not preview_accepts({name: f"{lo}.5"})


@pytest.mark.parametrize("name", ["size", "frame"])
def test_the_preview_reads_size_and_frame_as_ascii_digits_only(name: str) -> None:
    assert preview_accepts({name: "64"})
    assert not preview_accepts({name: "٦٤"})  # Arabic-Indic 64: int() would read it
    assert not preview_accepts({name: "６４"})  # fullwidth 64


def test_the_preview_reads_the_other_settings_as_documented() -> None:
    by_name = {p["name"]: p["schema"] for p in PREVIEW_PARAMETERS}
    assert by_name["contour.enabled"] == {"type": "boolean", "default": True}
    assert preview_accepts({"contour.enabled": "false", "contourAffectsFlow": "true"})
    assert not preview_accepts({"contour.enabled": "1"})
    assert by_name["flowField.direction"]["enum"] == [1, -1]
    assert preview_accepts({"flowField.direction": "-1"})
    assert not preview_accepts({"flowField.direction": "0"})
    assert preview_accepts({"flowField.color1": "#A0b1c2"})
    assert not preview_accepts({"flowField.color1": "#a0b1c"})
    assert not preview_accepts({"flowField.colour": "#a0b1c2"})  # not a documented key


# -- the page's assets --------------------------------------------------------------------------


async def test_every_documented_asset_is_served_with_a_documented_type(
    client: TestClient[web.Request, web.Application],
) -> None:
    static = document()["paths"]["/static/{name}"]["get"]
    names = static["parameters"][0]["schema"]["enum"]
    types = set(static["responses"]["200"]["content"])
    assert "app.js" in names and "app.css" in names
    for name in names:
        response = await client.get(f"/static/{name}")
        assert response.status == 200, name
        assert response.content_type in types, name
    assert (await client.get("/static/nope.js")).status == 404


def test_the_page_routes_are_html() -> None:
    paths = document()["paths"]
    for path in ("/", "/jobs/{job_id}"):
        assert set(paths[path]["get"]["responses"]["200"]["content"]) == {"text/html"}
    assert set(paths["/metrics"]["get"]["responses"]["200"]["content"]) == {"text/plain"}
    events = paths["/api/v1/jobs/{job_id}/events"]["get"]["responses"]
    assert set(events["200"]["content"]) == {"text/event-stream"}
    assert {"404", "429"} <= set(events)
