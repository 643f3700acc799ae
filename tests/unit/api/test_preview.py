"""``GET /api/v1/preview.png``: settings in the query, POST's field paths, a PNG, an LRU cache."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from PIL import Image

from api import preview
from api.preview import PreviewCache, parse_query
from render import Gen1Settings, RenderOptions, render_frame

ClientFactory = Any
URL = "/api/v1/preview.png"


def png_of(body: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(body))
    assert image.format == "PNG"
    return image


async def test_defaults_render_the_first_frame_at_256(client: TestClient) -> None:
    response = await client.get(URL)
    assert response.status == 200
    assert response.content_type == "image/png"
    image = png_of(await response.read())
    assert image.size == (256, 256)
    expected = render_frame(Gen1Settings(), RenderOptions(size=256), 0)
    assert image.convert("RGB").tobytes() == expected.tobytes()


async def test_query_settings_reach_the_picture(client: TestClient) -> None:
    query = {
        "flowField.color1": "#ff0000",
        "flowFields.enabled": "false",
        "contour.levels": "12",
        "size": "64",
        "frame": "7",
    }
    response = await client.get(URL, params=query)
    assert response.status == 200, await response.text()
    settings = Gen1Settings.from_dict(
        {
            "flowField": {"color1": "#ff0000"},
            "flowFields": {"enabled": False},
            "contour": {"levels": 12},
        }
    )
    expected = render_frame(settings, RenderOptions(size=64), 7)
    assert png_of(await response.read()).convert("RGB").tobytes() == expected.tobytes()


async def test_a_second_request_is_a_cache_hit_even_in_the_other_dialect(
    client: TestClient,
) -> None:
    first = await client.get(URL, params={"contour.baseFrequency": "0.02", "size": "64"})
    second = await client.get(URL, params={"contour.baseFreq": "0.02", "size": "64"})
    assert first.headers["X-Preview-Cache"] == "miss"
    assert second.headers["X-Preview-Cache"] == "hit"
    assert first.headers["ETag"] == second.headers["ETag"]
    assert await first.read() == await second.read()


async def test_etag_revalidates_with_304(client: TestClient) -> None:
    first = await client.get(URL, params={"size": "64"})
    again = await client.get(
        URL, params={"size": "64"}, headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status == 304
    assert "max-age" in first.headers["Cache-Control"]


async def test_different_settings_give_a_different_key(client: TestClient) -> None:
    a = await client.get(URL, params={"size": "64"})
    b = await client.get(URL, params={"size": "64", "flowFields.lineLength": "40"})
    assert a.headers["ETag"] != b.headers["ETag"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"flowFields.lineDensity": "0.9"}, "settings.flowFields.lineDensity"),
        ({"flowField.color1": "green"}, "settings.flowField.color1"),
        ({"contour.levels": "1"}, "settings.contour.levels"),
        ({"contour.enabled": "yes"}, "settings.contour.enabled"),
        ({"flowFields.direction": "0"}, "settings.flowFields.direction"),
        ({"flowFields.lineLength": "long"}, "settings.flowFields.lineLength"),
        ({"flowFields.bogus": "1"}, "settings.flowFields.bogus"),
        ({"flowFields": "1", "flowFields.lineLength": "9"}, "settings.flowFields"),
        ({"size": "4096"}, "size"),
        ({"frame": "100"}, "frame"),
    ],
)
async def test_invalid_query_answers_422_naming_the_field(
    client: TestClient, query: dict[str, str], field: str
) -> None:
    response = await client.get(URL, params=query)
    assert response.status == 422, await response.text()
    error = (await response.json())["error"]
    assert error["code"] == "invalid"
    assert field in [d["field"] for d in error["details"]]


async def test_every_bad_field_is_listed(client: TestClient) -> None:
    query = [("flowFields.lineDensity", "0.9"), ("contour.levels", "99"), ("size", "1")]
    response = await client.get(URL, params=query)
    fields = {d["field"] for d in (await response.json())["error"]["details"]}
    assert fields == {"settings.flowFields.lineDensity", "settings.contour.levels", "size"}


async def test_a_repeated_key_is_rejected(client: TestClient) -> None:
    response = await client.get(URL, params=[("contour.levels", "3"), ("contour.levels", "4")])
    assert response.status == 422
    assert (await response.json())["error"]["field"] == "settings.contour.levels"


async def test_rendering_happens_off_the_event_loop(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    real = preview.render_png

    def spy(*args: Any) -> bytes:
        threads.append(threading.current_thread().name)
        return real(*args)

    monkeypatch.setattr(preview, "render_png", spy)
    response = await client.get(URL, params={"size": "64", "contour.levels": "3"})
    assert response.status == 200
    assert threads and threads[0] != threading.main_thread().name


async def test_concurrent_identical_requests_render_once(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    calls: list[int] = []
    real = preview.render_png

    def counting(*args: Any) -> bytes:
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(preview, "render_png", counting)
    params = {"size": "64", "contour.levels": "7"}
    responses = await asyncio.gather(*(client.get(URL, params=params) for _ in range(4)))
    assert [r.status for r in responses] == [200] * 4
    assert len(calls) == 1


def test_query_values_are_read_as_json_scalars() -> None:
    from multidict import MultiDict

    settings, size, frame = parse_query(
        MultiDict(
            {
                "contourAffectsFlow": "false",
                "contour.levels": "8",
                "flowFields.lineDensity": ".25",
                "flowField.direction": "-1",
                "size": "128",
            }
        )
    )
    assert settings.contour_affects_flow is False
    assert settings.contour.levels == 8
    assert settings.flow_fields.line_density == 0.25
    assert settings.flow_field.direction == -1
    assert (size, frame) == (128, 0)


def test_the_cache_evicts_the_least_recently_used() -> None:
    cache = PreviewCache(max_entries=2, max_bytes=100)
    cache.put("a", b"1")
    cache.put("b", b"2")
    assert cache.get("a") == b"1"  # now b is the oldest
    cache.put("c", b"3")
    assert cache.get("b") is None
    assert cache.get("a") == b"1" and cache.get("c") == b"3"
    cache.put("big", b"x" * 100)  # over the byte budget with anything else
    assert len(cache) == 1 and cache.get("big") is not None
