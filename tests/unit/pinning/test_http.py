"""The HTTP layer every backend shares: backoff, Retry-After, secrets, streaming uploads."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from pinning import LocalStore, Pinner, PinRejected, compute_cid
from pinning.backends import KuboBackend, PinataBackend, RetryPolicy, Service
from pinning.backends.http import _retry_after
from tests.integration.fake_pinning_services import FakeKubo, FakePinata

ServerFactory = Callable[..., Awaitable[TestServer]]
FAST = RetryPolicy(attempts=3, backoff_s=0.01, backoff_max_s=0.05)


def test_backoff_doubles_with_jitter_and_a_cap() -> None:
    policy = RetryPolicy(attempts=6, backoff_s=1.0, backoff_max_s=8.0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0)]:
        delays = [policy.delay(attempt) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 100  # jittered, so workers do not retry in step


def test_retry_after_is_a_floor() -> None:
    policy = RetryPolicy(backoff_s=0.01, backoff_max_s=0.05)
    assert policy.delay(1, retry_after=3.0) == 3.0


@pytest.mark.parametrize(
    ("value", "low", "high"),
    [("7", 7, 7), ("0", 0, 0), (None, None, None), ("soon", None, None), ("-1", None, None)],
)
def test_retry_after_seconds(value: str | None, low: float | None, high: float | None) -> None:
    parsed = _retry_after(value)
    if low is None:
        assert parsed is None
    else:
        assert parsed is not None and low <= parsed <= high  # type: ignore[operator]


def test_retry_after_http_date() -> None:
    parsed = _retry_after(formatdate(time.time() + 30, usegmt=True))
    assert parsed is not None and 28 <= parsed <= 31
    assert _retry_after(formatdate(time.time() - 30, usegmt=True)) == 0.0


async def test_echoed_secrets_are_masked(aiohttp_server: ServerFactory) -> None:
    async def echo(request: web.Request) -> web.Response:
        # A careless service that quotes the credentials it refuses.
        body = {"error": {"reason": "FORBIDDEN", "details": request.headers["Authorization"]}}
        return web.json_response(body, status=403)

    app = web.Application()
    app.router.add_get("/x", echo)
    server = await aiohttp_server(app)
    service = Service("pinata", str(server.make_url("")), token="s3cr3t-jwt", retry=FAST)
    try:
        with pytest.raises(PinRejected) as caught:
            await service.call("GET", "/x")
    finally:
        await service.close()
    assert "s3cr3t-jwt" not in str(caught.value)
    assert "Bearer ***" in str(caught.value)
    assert "s3cr3t-jwt" not in repr(service)


async def test_plain_text_errors_are_quoted_briefly(aiohttp_server: ServerFactory) -> None:
    async def fail(request: web.Request) -> web.Response:
        return web.Response(status=413, text="too big " * 200)

    app = web.Application()
    app.router.add_post("/x", fail)
    server = await aiohttp_server(app)
    service = Service("kubo", str(server.make_url("")), retry=FAST)
    try:
        with pytest.raises(PinRejected) as caught:
            await service.call("POST", "/x")
    finally:
        await service.close()
    assert caught.value.status == 413
    assert str(caught.value).startswith("kubo (HTTP 413): POST /x: 413 too big too big")
    assert len(str(caught.value)) < 400


@pytest.mark.parametrize("kind", ["pinata", "kubo"])
async def test_empty_file(aiohttp_server: ServerFactory, tmp_path: Path, kind: str) -> None:
    fake = FakePinata() if kind == "pinata" else FakeKubo()
    server = await aiohttp_server(fake.app())
    service = Service(kind, str(server.make_url("")), token=fake.token or "", retry=FAST)
    backend = PinataBackend(service) if kind == "pinata" else KuboBackend(service)
    pinner = Pinner(LocalStore(tmp_path), backend)
    try:
        result = await pinner.pin_bytes(b"", content_type="text/plain", name="empty")
    finally:
        await pinner.close()
    assert result.cid == compute_cid(b"") == "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
    assert list(fake.pins) == [result.cid]


async def test_uploads_stream_from_disk(
    aiohttp_server: ServerFactory, tmp_path: Path, random_bytes: bytes
) -> None:
    # 50 MB through the Kubo backend and the fake node (which hashes what it receives):
    # neither side holds the file, so the peak of new Python allocations stays far below it.
    store = LocalStore(tmp_path)
    source = tmp_path / "big.bin"
    source.write_bytes(random_bytes)
    stored = store.put_file(source, content_type="application/octet-stream")
    source.unlink()
    kubo = FakeKubo()
    server = await aiohttp_server(kubo.app())
    service = Service("kubo", str(server.make_url("")), retry=FAST, timeout_s=60)
    pinner = Pinner(store, KuboBackend(service))
    tracemalloc.start()
    try:
        started = time.monotonic()
        result = await pinner.pin_stored(stored, name="big.bin")
        seconds = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await pinner.close()
    assert result.cid == stored and kubo.pins == {stored}
    print(f"50 MB upload: peak {peak / 1e6:.1f} MB allocated, {seconds:.2f}s (traced)")
    assert peak < 10_000_000
