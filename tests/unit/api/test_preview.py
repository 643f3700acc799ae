"""``GET /api/v1/preview.png``: settings in the query, POST's field paths, a PNG, an LRU cache."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from PIL import Image

from api import preview
from api.app import create_app
from api.preview import PREVIEW_POOL, PreviewCache, Previews, parse_query, preview_pool
from lantern.settings import Settings
from render import Gen1Settings, RenderOptions, render_frame
from streams.broker import free_port

ClientFactory = Any
URL = "/api/v1/preview.png"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Renders in threads here, so tests can stand in for ``render_png`` (a pool would pickle
    it by name and run the real one); the pool has its tests below."""
    return dataclasses.replace(
        settings, api=dataclasses.replace(settings.api, preview_in_processes=False)
    )


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


@pytest.fixture
def render_threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The thread of every ``render_png`` call from now on, in order (each still renders)."""
    threads: list[str] = []
    real = preview.render_png

    def spy(*args: Any) -> bytes:
        threads.append(threading.current_thread().name)
        return real(*args)

    monkeypatch.setattr(preview, "render_png", spy)
    return threads


async def test_rendering_happens_off_the_event_loop(
    client: TestClient, render_threads: list[str]
) -> None:
    response = await client.get(URL, params={"size": "64", "contour.levels": "3"})
    assert response.status == 200
    assert render_threads and render_threads[0] != threading.main_thread().name


async def test_concurrent_identical_requests_render_once(
    client: TestClient, render_threads: list[str]
) -> None:
    params = {"size": "64", "contour.levels": "7"}
    responses = await asyncio.gather(*(client.get(URL, params=params) for _ in range(4)))
    assert [r.status for r in responses] == [200] * 4
    assert len(render_threads) == 1


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


# ------------------------------------------------------------------ hostile query values


def _best_of(fn: Callable[[], object], runs: int = 5) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def test_reading_a_value_takes_linear_time_even_when_it_is_almost_a_number() -> None:
    # 8,000 digits and a letter made the old backtracking pattern take ~1.4 s (~30,000 times a
    # same-length number), holding the event loop; one pass costs about the same for both
    hostile, harmless = "1" * 8000 + "a", "1" * 8001
    assert preview._scalar(hostile) == hostile
    ratio = _best_of(lambda: preview._scalar(hostile)) / _best_of(lambda: preview._scalar(harmless))
    assert ratio < 20, ratio


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("5", 5),
        ("-1", -1),
        ("0.25", 0.25),
        (".25", 0.25),
        ("5.", 5.0),
        ("1e3", 1000.0),
        ("-1.5E-2", -0.015),
        ("2e+1", 20.0),
        ("-", "-"),
        (".", "."),
        ("1e", "1e"),
        ("e5", "e5"),
        ("+1", "+1"),
        ("1.2.3", "1.2.3"),
        ("１２", "１２"),  # fullwidth digits: not JSON
        ("#ff0000", "#ff0000"),
        ("true", True),
        ("false", False),
    ],
)
def test_a_value_is_a_number_only_as_json_spells_one(text: str, value: object) -> None:
    got = preview._scalar(text)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("flowFields.lineLength", "1" * 65, "settings.flowFields.lineLength"),
        ("flowFields.lineLength", "1" * 8000 + "a", "settings.flowFields.lineLength"),
        ("size", "6" * 65, "size"),
    ],
)
async def test_an_over_long_value_answers_422_naming_the_field(
    client: TestClient, key: str, value: str, field: str
) -> None:
    response = await client.get(URL, params={key: value})
    assert response.status == 422, await response.text()
    error = (await response.json())["error"]
    assert error["code"] == "invalid"
    assert error["field"] == field
    assert "longer than 64 characters" in error["message"]


async def test_an_over_long_key_answers_422(client: TestClient) -> None:
    response = await client.get(URL, params={"flowFields." + "x" * 100: "1"})
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["field"].startswith("settings.flowFields.x")
    assert "key is longer than 64 characters" in error["message"]


def test_a_value_at_the_cap_is_read() -> None:
    from multidict import MultiDict

    padded = "0." + "2" + "0" * 61  # 64 characters
    settings, _, _ = parse_query(MultiDict({"flowFields.lineDensity": padded}))
    assert settings.flow_fields.line_density == 0.2


def test_the_cap_comes_from_the_settings() -> None:
    assert Settings().api.preview_max_value_chars == preview.MAX_VALUE_CHARS == 64
    from multidict import MultiDict

    with pytest.raises(preview.ApiError) as caught:
        parse_query(MultiDict({"contour.levels": "1" * 15}), max_chars=14)
    assert caught.value.status == 422
    assert caught.value.field == "settings.contour.levels"


# ------------------------------------------------------------------ bounded renders


class Gate:
    """A render_png stand-in that blocks until opened, recording what it was asked for."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.frames: list[int] = []
        self.real = preview.render_png

    def __call__(self, settings: Gen1Settings, size: int, frame: int) -> bytes:
        self.frames.append(frame)
        assert self.open.wait(10), "the test never opened the gate"
        return self.real(settings, size, frame)


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    g = Gate()
    monkeypatch.setattr(preview, "render_png", g)
    yield g
    g.open.set()  # never leave a thread blocked


def make_client(aiohttp_client: Any, settings: Settings, **api: Any) -> Any:
    tuned = dataclasses.replace(settings, api=dataclasses.replace(settings.api, **api))
    return aiohttp_client(create_app(tuned))


def previews_of(client: TestClient) -> Previews:
    for route in client.app.router.routes():
        if route.resource is not None and route.resource.canonical == URL:
            handler: Any = route.handler
            owner = handler.__self__
            assert isinstance(owner, Previews)
            return owner
    raise AssertionError("no preview route")


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.01)


def frame_query(frame: int) -> dict[str, str]:
    return {"size": "64", "frame": str(frame)}


@pytest.fixture
async def bounded(aiohttp_client: Any, settings: Settings) -> AsyncIterator[TestClient]:
    """One render at a time, one more waiting."""
    client: TestClient = await make_client(
        aiohttp_client, settings, preview_concurrency=1, preview_queue=1
    )
    yield client


async def fill(
    bounded: TestClient, gate: Gate
) -> tuple[asyncio.Task[aiohttp.ClientResponse], asyncio.Task[aiohttp.ClientResponse]]:
    """Requests of frame 1, rendering (held at the gate), and of frame 2, queued behind it:
    ``bounded`` has no room left once this returns."""
    running = asyncio.create_task(bounded.get(URL, params=frame_query(1)))
    await until(lambda: gate.frames == [1])
    queued = asyncio.create_task(bounded.get(URL, params=frame_query(2)))
    await until(lambda: len(previews_of(bounded)._inflight) == 2)
    return running, queued


async def test_renders_beyond_the_slots_and_the_queue_answer_429(
    bounded: TestClient, gate: Gate
) -> None:
    running, queued = await fill(bounded, gate)
    previews = previews_of(bounded)
    refused = await bounded.get(URL, params=frame_query(3))
    assert refused.status == 429
    assert (await refused.json())["error"]["code"] == "busy"
    assert int(refused.headers["Retry-After"]) > 0
    joined = asyncio.create_task(bounded.get(URL, params=frame_query(2)))  # no new render

    gate.open.set()
    responses = await asyncio.gather(running, queued, joined)
    assert [r.status for r in responses] == [200, 200, 200]
    assert gate.frames == [1, 2]
    assert previews._inflight == {}
    again = await bounded.get(URL, params=frame_query(3))  # room again
    assert again.status == 200


async def test_a_client_is_limited_to_its_rate_of_new_renders(
    aiohttp_client: Any, settings: Settings
) -> None:
    client: TestClient = await make_client(aiohttp_client, settings, preview_rate_per_min=2)
    assert (await client.get(URL, params=frame_query(1))).status == 200
    assert (await client.get(URL, params=frame_query(2))).status == 200
    limited = await client.get(URL, params=frame_query(3))
    assert limited.status == 429
    assert (await limited.json())["error"]["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) > 0
    hit = await client.get(URL, params=frame_query(1))  # a cached preview costs nothing
    assert hit.status == 200 and hit.headers["X-Preview-Cache"] == "hit"


async def test_a_queued_render_whose_client_left_is_dropped(
    bounded: TestClient, gate: Gate
) -> None:
    running, abandoned = await fill(bounded, gate)
    previews = previews_of(bounded)
    abandoned.cancel()  # the page aborts a stale preview: the connection closes
    await until(lambda: len(previews._inflight) == 1)
    gate.open.set()
    assert (await running).status == 200
    await asyncio.sleep(0.05)
    assert gate.frames == [1]  # frame 2 was never rendered


def test_settings_defaults_bound_previews() -> None:
    api = Settings().api
    assert (api.preview_concurrency, api.preview_queue, api.preview_rate_per_min) == (2, 8, 120)


async def test_with_the_pool_previews_render_in_another_process(
    aiohttp_client: Any, settings: Settings
) -> None:
    settings = dataclasses.replace(
        settings, api=dataclasses.replace(settings.api, preview_in_processes=True)
    )
    app = create_app(settings)
    app.cleanup_ctx.append(preview_pool)  # what api/app.py is to wire
    client: TestClient = await aiohttp_client(app)
    pool = app[PREVIEW_POOL]
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(pool.executor, os.getpid) != os.getpid()
    assert pool.workers == settings.api.preview_concurrency

    response = await client.get(URL, params={"size": "64", "frame": "3"})
    assert response.status == 200, await response.text()
    expected = render_frame(Gen1Settings(), RenderOptions(size=64), 3)
    assert png_of(await response.read()).convert("RGB").tobytes() == expected.tobytes()


async def test_a_queued_render_is_dropped_even_when_handlers_are_not_cancelled(
    settings: Settings, gate: Gate
) -> None:
    # run_app does not cancel a handler whose client left (aiohttp's default, unlike the test
    # client's server): the waiting request must notice the closed connection itself
    tuned = dataclasses.replace(
        settings,
        api=dataclasses.replace(settings.api, preview_concurrency=1, preview_queue=1),
    )
    app = create_app(tuned)
    runner = web.AppRunner(app, handler_cancellation=False)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    url = f"http://127.0.0.1:{port}{URL}"
    try:
        async with aiohttp.ClientSession() as session:
            running = asyncio.create_task(session.get(url, params=frame_query(1)))
            await until(lambda: gate.frames == [1])
            previews = next(
                r.handler.__self__  # type: ignore[attr-defined]
                for r in app.router.routes()
                if r.resource is not None and r.resource.canonical == URL
            )
            abandoned = asyncio.create_task(session.get(url, params=frame_query(2)))
            await until(lambda: len(previews._inflight) == 2)
            abandoned.cancel()
            await until(lambda: len(previews._inflight) == 1)
            gate.open.set()
            response = await running
            assert response.status == 200
            response.release()
        assert gate.frames == [1]
    finally:
        gate.open.set()
        await runner.cleanup()


async def test_a_crashed_render_process_is_replaced() -> None:
    pool = preview.PreviewPool(1)
    try:
        with pytest.raises(preview.ApiError) as caught:
            await pool.run(os._exit, 1)  # type: ignore[arg-type]
        assert caught.value.status == 503
        assert await pool.run(preview.render_png, Gen1Settings(), 64, 0)  # a fresh pool
    finally:
        await asyncio.to_thread(pool.close)


async def test_the_pool_can_be_turned_off(aiohttp_client: Any, settings: Settings) -> None:
    assert settings.api.preview_in_processes is False  # this module's fixture
    app = create_app(settings)
    app.cleanup_ctx.append(preview_pool)
    await aiohttp_client(app)
    assert PREVIEW_POOL not in app
