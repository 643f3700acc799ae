"""Hostile input gets a 4xx naming the field and the reason, never a 500; bodies read whole.

Each case here answered 500 (or a wrong 400) before: a traceback instead of an answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, make_mocked_request

from api.app import create_app, server_options
from api.errors import ApiError
from api.keys import JOBS, STREAMS
from api.limits import StreamSlots
from api.observe import AccessLog
from lantern.settings import Settings

WALLET = "0x52908400098527886E0F7030069857D2E4169EE7"
TOKEN = "operator-token"


@pytest.fixture
async def admin_client(aiohttp_client: Any, settings: Settings) -> TestClient:
    """The API with operator routes on."""
    with_token = dataclasses.replace(
        settings, api=dataclasses.replace(settings.api, admin_token=TOKEN)
    )
    app: web.Application = create_app(with_token)
    result: TestClient = await aiohttp_client(app)
    return result


async def mint(client: TestClient, data: bytes) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    async with client.post("/api/v1/mints", data=data, headers=headers) as response:
        return response.status, await response.json()


async def test_deeply_nested_json_is_a_400(client: TestClient) -> None:
    for depth in (50, 30_000):  # parses, but deeper than a body can be; deeper than Python
        status, body = await mint(client, b"[" * depth + b"]" * depth)
        assert status == 400, body
        assert body["error"]["code"] == "bad_json"
        assert "nests deeper" in body["error"]["message"]


async def test_an_integer_of_thousands_of_digits_is_a_400(client: TestClient) -> None:
    data = b'{"settings": {}, "options": {"size": ' + b"9" * 5000 + b'}, "wallet": "x"}'
    status, body = await mint(client, data)
    assert status == 400, body
    assert "digits" in body["error"]["message"]


async def test_a_wallet_with_a_trailing_newline_is_refused_with_its_field(
    client: TestClient,
) -> None:
    payload = {"settings": {}, "wallet": WALLET + "\n"}
    async with client.post("/api/v1/mints", json=payload) as response:
        assert response.status == 422
        error = (await response.json())["error"]
    assert error["field"] == "wallet"


async def test_a_non_utf8_authorization_header_is_a_401(admin_client: TestClient) -> None:
    host, port = admin_client.server.host, admin_client.server.port
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        b"GET /api/v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\n"
        b"Connection: close\r\n\r\n"
    )
    await writer.drain()
    answer = await reader.read()
    writer.close()
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]


@pytest.mark.parametrize("limit", ["²", "١٢", "0", "9" * 5000, "-1", ""])
async def test_a_limit_that_is_not_a_small_ascii_number_is_a_422(
    admin_client: TestClient, limit: str
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with admin_client.get("/api/v1/jobs", params={"limit": limit}, headers=headers) as r:
        assert r.status == 422
        assert (await r.json())["error"]["field"] == "limit"


async def raw_post(
    client: TestClient, head: bytes, parts: list[bytes], *, whole: bool = True
) -> bytes:
    """Send a request in separate TCP segments, with a pause between them; the answer (or,
    with ``whole=False``, its status line: the server may linger reading the unread body)."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(head)
    for part in parts:
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(part)
    await writer.drain()
    answer = await (reader.read() if whole else reader.readline())
    writer.close()
    return answer


async def test_a_body_in_two_segments_is_read_whole(client: TestClient) -> None:
    body = b'{"settings": {"flowFields": {"lineDensity": 2}}, "wallet": "' + WALLET.encode() + b'"}'
    head = (
        b"POST /api/v1/mints HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n"
    )
    answer = await raw_post(client, head, [body[:20], body[20:]])
    # read whole, the body is valid JSON and reaches validation (422), not a 400
    assert answer.startswith(b"HTTP/1.1 422"), answer[:300]
    assert b"lineDensity" in answer


async def test_an_oversized_chunked_body_is_a_413(client: TestClient, settings: Settings) -> None:
    limit = settings.api.max_body_bytes
    chunk = b"x" * 8192
    chunks = [b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(limit // len(chunk) + 2)]
    head = (
        b"POST /api/v1/mints HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    answer = await raw_post(client, head, [*chunks, b"0\r\n\r\n"])
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]


@pytest.fixture
async def capped_client(aiohttp_client: Any, settings: Settings) -> TestClient:
    """The API with small caps: 3 event streams per client, 5 in all, bodies within 0.3 s."""
    api = dataclasses.replace(
        settings.api, event_streams=5, event_streams_per_client=3, body_timeout_s=0.3
    )
    app: web.Application = create_app(dataclasses.replace(settings, api=api))
    app[JOBS].accept({"job_id": "a" * 32, "state": "queued", "progress": 0})
    result: TestClient = await aiohttp_client(app)
    return result


async def test_event_streams_are_capped_per_client(capped_client: TestClient) -> None:
    url = f"/api/v1/jobs/{'a' * 32}/events"
    streams = [await capped_client.get(url) for _ in range(3)]
    try:
        assert [r.status for r in streams] == [200, 200, 200]
        async with capped_client.get(url) as refused:
            assert refused.status == 429
            assert refused.headers["Retry-After"] == "5"
            assert (await refused.json())["error"]["code"] == "too_many_streams"
    finally:
        for response in streams:
            response.close()
    for _ in range(50):  # the server sees the streams close and frees their slots
        if not capped_client.app[STREAMS].open:
            break
        await asyncio.sleep(0.05)
    async with capped_client.get(url) as again:
        assert again.status == 200


def test_stream_slots_cap_the_total_across_clients() -> None:
    slots = StreamSlots(total=2, per_client=2)
    with slots.take("a"), slots.take("b"):
        with pytest.raises(ApiError) as refused, slots.take("c"):
            pass
        assert refused.value.status == 429
    assert not slots.open


async def test_a_body_trickling_in_is_cut_off_with_408(capped_client: TestClient) -> None:
    head = (
        b"POST /api/v1/mints HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\nConnection: close\r\n\r\n"
    )
    answer = await raw_post(capped_client, head, [b'{"settings": '], whole=False)  # then nothing
    assert answer.startswith(b"HTTP/1.1 408"), answer[:300]


async def test_headers_trickling_in_are_cut_off(settings: Settings) -> None:
    """A slow-headers client (one byte at a time, never done) is disconnected at the deadline."""
    settings = dataclasses.replace(settings, api=dataclasses.replace(settings.api,
                                   header_timeout_s=1.0))  # fmt: skip
    runner = web.AppRunner(create_app(settings), **server_options(settings))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = asyncio.get_running_loop().time()
        closed_after = None
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200:
            writer.write(bytes([byte]))
            try:
                await writer.drain()
                if await asyncio.wait_for(reader.read(1), 0.2) == b"":
                    closed_after = asyncio.get_running_loop().time() - started
                    break
            except TimeoutError:
                continue  # still open: keep trickling
            except ConnectionError:
                closed_after = asyncio.get_running_loop().time() - started
                break
        writer.close()
        # closed by the deadline, with headers still arriving (200 bytes take 40 s)
        assert closed_after is not None and closed_after < 10, closed_after
    finally:
        await runner.cleanup()


def test_a_flood_of_refusals_is_counted_not_written(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Each address's first 429 in a window is logged, the rest counted; others always."""
    clock = [1000.0]
    monkeypatch.setattr("api.observe.monotonic", lambda: clock[0])
    access = AccessLog(logging.getLogger("test.access"), '%a "%r" %s')
    request = make_mocked_request("POST", "/api/v1/mints")
    with caplog.at_level(logging.INFO, logger="test.access"):
        for _ in range(500):
            access.log(request, web.Response(status=429), 0.001)
        access.log(request, web.Response(status=202), 0.001)
        clock[0] += AccessLog.window + 1
        access.log(request, web.Response(status=429), 0.001)
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 4, lines
    assert lines[0].endswith(" 429") and lines[1].endswith(" 202") and lines[2].endswith(" 429")
    assert lines[3].endswith("499 more 429 answers not logged")


async def test_dead_letters_without_a_broker_are_a_503_not_a_500(admin_client: TestClient) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with admin_client.get("/api/v1/dead-letters", headers=headers) as response:
        body = await response.json()
    assert response.status == 503, body
    assert body["error"]["code"] == "unavailable"
    assert response.headers["Retry-After"] == "5"
