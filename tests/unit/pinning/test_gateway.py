"""Content the store lacks, fetched for the pin stage: from a gateway, checked against its CID,
into the store; and the Pinner fetching before it pins. (The node itself: tests/integration.)"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from lantern.settings import PinSettings
from pinning import ContentNotFound, LocalStore, Pinner, PinServiceError, PinTooLarge, compute_cid
from pinning.backends import LocalBackend
from pinning.gateway import Gateways, SharedContent, node_rpc

GIF = b"GIF89a" + bytes(range(256)) * 40 + b";"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def gateway(handler: Handler) -> AsyncIterator[str]:
    """A local server answering every request with ``handler``: yields its /ipfs/ base."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    async with TestServer(app) as server:
        yield str(server.make_url("/ipfs/"))


def shared(url: str, **pin: object) -> SharedContent:
    """No node (the local backend), the gateway at ``url`` as the fallback."""
    return SharedContent.create(PinSettings(timeout_s=2, **pin), url)  # type: ignore[arg-type]


async def serve_gif(request: web.Request) -> web.Response:
    assert request.headers["Via"] == "1.1 lantern"  # an API would answer from its store only
    if request.path != f"/ipfs/{compute_cid(GIF)}":
        return web.Response(status=404)
    return web.Response(body=GIF, content_type="image/gif")


def test_the_node_is_the_kubo_backends_or_the_psa_providers() -> None:
    assert node_rpc(PinSettings(backend="kubo", url="http://kubo:5001/")) == "http://kubo:5001"
    assert node_rpc(PinSettings(backend="kubo")) == "http://127.0.0.1:5001"
    provider = PinSettings(backend="psa", url="https://psa", provider_url="http://ipfs:5001")
    assert node_rpc(provider) == "http://ipfs:5001"
    for alone in (PinSettings(), PinSettings(backend="pinata"), PinSettings(backend="psa")):
        assert node_rpc(alone) == ""
        assert not Gateways(alone).configured


async def test_a_gif_only_a_gateway_has_is_fetched_into_the_store(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    cid = compute_cid(GIF)
    async with gateway(serve_gif) as url:
        stored = await shared(url).fetch(store, cid, max_bytes=1 << 20)
    assert stored == cid
    assert store.get(cid) == GIF and store.content_type(cid) == "image/gif"


async def test_a_cid_no_gateway_has_is_not_found(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    absent = compute_cid(b"never added")
    async with gateway(serve_gif) as url:
        with pytest.raises(ContentNotFound):
            await shared(url).fetch(store, absent, max_bytes=1 << 20)
    with pytest.raises(ContentNotFound):  # nowhere to ask at all
        await SharedContent.create(PinSettings()).fetch(store, absent, max_bytes=1 << 20)
    assert list(tmp_path.iterdir()) == []


async def test_bytes_that_are_not_the_cid_are_never_stored(tmp_path: Path) -> None:
    async def liar(request: web.Request) -> web.Response:
        return web.Response(body=GIF[:-1] + b"\x00", content_type="image/gif")

    store = LocalStore(tmp_path)
    async with gateway(liar) as url:
        with pytest.raises(ContentNotFound):
            await shared(url).fetch(store, compute_cid(GIF), max_bytes=1 << 20)
    assert list(tmp_path.iterdir()) == []


async def test_a_failing_gateway_is_a_retryable_error_and_a_huge_answer_is_refused(
    tmp_path: Path,
) -> None:
    async def failing(request: web.Request) -> web.Response:
        return web.Response(status=503)

    store = LocalStore(tmp_path)
    async with gateway(failing) as url:
        with pytest.raises(PinServiceError, match="HTTP 503") as caught:
            await shared(url).fetch(store, compute_cid(GIF), max_bytes=1 << 20)
    assert caught.value.retryable
    async with gateway(serve_gif) as url:
        with pytest.raises(PinTooLarge):
            await shared(url).fetch(store, compute_cid(GIF), max_bytes=100)
    assert list(tmp_path.iterdir()) == []


async def test_sharing_without_a_node_does_nothing(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    cid = store.put(GIF, content_type="image/gif")
    shared = await SharedContent.create(PinSettings()).share(
        store.path(cid), name="gen1.gif", content_type="image/gif"
    )
    assert shared == ""  # nowhere to add it: the PinRequest names no CID elsewhere


async def test_the_pinner_fetches_what_its_store_lacks_then_pins_it(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    cid = compute_cid(GIF)
    async with gateway(serve_gif) as url:
        fetch = shared(url).fetch

        async def fetch_into_store(wanted: str) -> str:
            return await fetch(store, wanted, max_bytes=1 << 20)

        pinner = Pinner(store, LocalBackend(store), cid_version=1, fetch=fetch_into_store)
        pinned = await pinner.pin_stored(cid, name="gen1.gif")
    assert pinned.cid == compute_cid(GIF, cid_version=1) and pinned.size == len(GIF)
    assert store.get(pinned.cid) == GIF  # served under the reported CID too


async def test_the_pinner_fetches_under_the_cid_the_content_has_elsewhere(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    asked: list[str] = []
    v1 = compute_cid(GIF, cid_version=1)

    async def fetch(wanted: str) -> str:
        asked.append(wanted)
        return store.put(GIF, content_type="image/gif")

    pinner = Pinner(store, LocalBackend(store), fetch=fetch)
    pinned = await pinner.pin_stored(compute_cid(GIF), name="gen1.gif", source=v1)
    assert asked == [v1] and pinned.cid == compute_cid(GIF)


async def test_the_pinner_does_not_fetch_what_its_store_holds(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    cid = store.put(GIF, content_type="image/gif")

    async def fetch(wanted: str) -> str:
        raise AssertionError("fetched a CID the store holds")

    pinned = await Pinner(store, LocalBackend(store), fetch=fetch).pin_stored(cid, name="g")
    assert pinned.cid == cid
