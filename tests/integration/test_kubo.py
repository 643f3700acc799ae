"""The ``kubo`` pin backend and the API's gateway against a real IPFS node (see kubo.py).

The node computes its own CIDs: every one must equal Lantern's, at CID version 0 and 1, from a
single block to a DAG of two levels. A job runs end to end through a real worker and API pinning
to the node, and a second API with an empty store serves the job's files from the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import random
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from lantern.settings import PinSettings, Settings
from pinning import LocalStore, Pinner, compute_cid, create_backend
from pinning.backends import Content, KuboBackend
from pinning.metadata import build_metadata, canonical_json
from pinning.unixfs import CHUNK_SIZE
from render import Gen1Settings, RenderOptions, render_gif
from streams.broker import free_port
from tests.unit.api.conftest import no_broker_settings

from .conftest import ARTIFACTS, _await_ready, _spawn, _stop, lantern_env, running_stack
from .kubo import KuboNode
from .test_pipeline import WALLET, submit, wait_done

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

Handler = Callable[[web.Request], Awaitable[web.Response]]

OPTIONS = {"size": 64, "frames": 4}
MAX_LINKS = 174  # Kubo's balanced layout: links per node; one more chunk adds a level


@pytest.fixture(scope="module")
def gif() -> bytes:
    return render_gif(Gen1Settings(), RenderOptions(**OPTIONS))


def pin_settings(node: KuboNode, cid_version: int) -> PinSettings:
    return PinSettings(
        backend="kubo",
        url=node.rpc_url,
        cid_version=cid_version,
        timeout_s=10,
        attempts=2,
        backoff_s=0.05,
    )


def node_pins(node: KuboNode, cid: str) -> bool:
    """Whether the node itself lists ``cid`` as pinned recursively (its CLI's ``pin ls``)."""
    try:
        answer = node.rpc("pin/ls", arg=cid, type="recursive")
    except urllib.error.HTTPError as exc:  # "not pinned" is an error
        assert b"not pinned" in exc.read()
        return False
    assert isinstance(answer, dict)
    return cid in answer["Keys"]


def from_gateway(node: KuboNode, cid: str) -> tuple[bytes, str]:
    with urllib.request.urlopen(f"{node.gateway_url}/ipfs/{cid}", timeout=10) as response:
        return response.read(), response.headers["Content-Type"]


@pytest.mark.parametrize("cid_version", [0, 1])
async def test_the_backend_pins_a_gif_and_its_metadata_under_lanterns_cids(
    kubo_node: KuboNode, gif: bytes, tmp_path: Path, cid_version: int
) -> None:
    store = LocalStore(tmp_path / "ipfs")
    backend = create_backend(pin_settings(kubo_node, cid_version), store)
    assert isinstance(backend, KuboBackend)
    pinner = Pinner(store, backend, cid_version=cid_version)
    try:
        image = await pinner.pin_bytes(gif, content_type="image/gif", name="gen1-test.gif")
        metadata = canonical_json(
            build_metadata(
                job_id="0" * 32,
                settings=Gen1Settings().to_dict(),
                options=RenderOptions(**OPTIONS).to_dict(),
                gif_cid=image.cid,
                gif_size=image.size,
                external_url="http://127.0.0.1/jobs/0",
            )
        )
        meta = await pinner.pin_bytes(
            metadata, content_type="application/json", name="gen1-test.json"
        )
        # the node's CIDs are Lantern's (Pinner refuses any other, so this is also checked there)
        assert image.cid == compute_cid(gif, cid_version=cid_version)
        assert meta.cid == compute_cid(metadata, cid_version=cid_version)
        assert image.cid.startswith("Qm" if cid_version == 0 else "bafk")
        assert not image.already and not meta.already
        for cid in (image.cid, meta.cid):
            assert await backend.pinned(cid)
            assert node_pins(kubo_node, cid)

        again = await pinner.pin_bytes(gif, content_type="image/gif", name="gen1-test.gif")
        assert again.already and again.cid == image.cid  # nothing uploaded the second time

        served, content_type = from_gateway(kubo_node, image.cid)
        assert served == gif and content_type == "image/gif"
        assert from_gateway(kubo_node, meta.cid)[0] == metadata

        await backend.unpin(meta.cid)
        assert not await backend.pinned(meta.cid)
        assert not node_pins(kubo_node, meta.cid)
        await backend.unpin(meta.cid)  # unpinning what is not pinned is no error
        assert await backend.pinned(image.cid)
    finally:
        await pinner.close()


def _sizes() -> list[int]:
    one, full = CHUNK_SIZE, MAX_LINKS * CHUNK_SIZE
    return [0, 1, one - 1, one, one + 1, 3 * one + 7, full, full + 1]


@pytest.mark.parametrize("cid_version", [0, 1])
async def test_the_node_computes_lanterns_cid_for_every_layout(
    kubo_node: KuboNode, tmp_path: Path, cid_version: int
) -> None:
    """Empty, one block, one chunk exactly, several, a full level and one more (two levels)."""
    backend = create_backend(pin_settings(kubo_node, cid_version), LocalStore(tmp_path / "s"))
    assert isinstance(backend, KuboBackend)
    data = random.Random(20260101).randbytes(MAX_LINKS * CHUNK_SIZE + 1)
    seen = {}
    try:
        for size in _sizes():
            path = tmp_path / f"{size}.bin"
            path.write_bytes(data[:size])
            ours = compute_cid(data[:size], cid_version=cid_version)
            content = Content(path, ours, size, path.name, "application/octet-stream")
            seen[size] = await backend.add(content)
    finally:
        await backend.close()
    expected = {size: compute_cid(data[:size], cid_version=cid_version) for size in _sizes()}
    assert seen == expected


# -- the API's /ipfs/{cid} with no local copy: streamed from the node's gateway ---------------


@pytest.fixture
def empty_store_settings(kubo_node: KuboNode, tmp_path: Path) -> Settings:
    """An API (in this process, no broker) whose store is empty, pinning to the node."""
    return no_broker_settings(tmp_path / "empty", pin=pin_settings(kubo_node, 1))


@pytest.fixture
async def empty_client(aiohttp_client: Any, empty_store_settings: Settings) -> TestClient:
    """A client of that API."""
    client: TestClient = await aiohttp_client(create_app(empty_store_settings))
    return client


@pytest.fixture
async def gif_cids(kubo_node: KuboNode, gif: bytes, tmp_path: Path) -> dict[int, str]:
    """The GIF added and pinned on the node only, at CID versions 0 and 1: version → CID."""
    return {version: await pinned_on_node(kubo_node, gif, tmp_path, version) for version in (0, 1)}


async def pinned_on_node(node: KuboNode, data: bytes, tmp_path: Path, version: int) -> str:
    """``data`` added and pinned on the node only (a store of its own, thrown away)."""
    store = LocalStore(tmp_path / f"elsewhere-{version}")
    pinner = Pinner(store, create_backend(pin_settings(node, version), store), cid_version=version)
    try:
        return (await pinner.pin_bytes(data, content_type="image/gif", name="x.gif")).cid
    finally:
        await pinner.close()


def gateway_only(settings: Settings, gateway_url: str) -> Settings:
    """``settings`` with no node to ask (the local backend), but a gateway at ``gateway_url``."""
    store = dataclasses.replace(settings.store, gateway_url=gateway_url)
    return dataclasses.replace(settings, pin=PinSettings(), store=store)


def node_at(settings: Settings, url: str, **pin: Any) -> Settings:
    """``settings`` pinning to a node at ``url``, with ``pin``'s other changes."""
    return dataclasses.replace(settings, pin=dataclasses.replace(settings.pin, url=url, **pin))


async def fetch(aiohttp_client: Any, settings: Settings, cid: str) -> aiohttp.ClientResponse:
    """``GET /ipfs/{cid}`` from a new API (in this process) with ``settings``."""
    client: TestClient = await aiohttp_client(create_app(settings))
    return await client.get(f"/ipfs/{cid}")


@contextlib.asynccontextmanager
async def served(handler: Handler) -> AsyncIterator[str]:
    """A local server of its own where ``handler`` answers every request: yields its URL."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    async with TestServer(app) as server:
        yield str(server.make_url("")).rstrip("/")


async def test_the_api_streams_what_only_the_node_has(
    empty_client: TestClient, gif_cids: dict[int, str], gif: bytes, empty_store_settings: Settings
) -> None:
    for cid in gif_cids.values():
        response = await empty_client.get(f"/ipfs/{cid}")
        assert response.status == 200, await response.text()
        assert await response.read() == gif
        assert response.headers["Content-Type"] == "image/gif"
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert response.headers["ETag"] == f'"{cid}"'
        assert response.headers["X-Ipfs-Path"] == f"/ipfs/{cid}"
        assert response.headers["Content-Length"] == str(len(gif))
        head = await empty_client.head(f"/ipfs/{cid}")
        assert head.status == 200 and head.headers["Content-Type"] == "image/gif"
        again = await empty_client.get(f"/ipfs/{cid}", headers={"If-None-Match": f'"{cid}"'})
        assert again.status == 304
    # nothing was written: the store is as empty as it started
    assert list(empty_store_settings.store.root.iterdir()) == []


async def test_the_api_answers_404_for_what_the_node_lacks(empty_client: TestClient) -> None:
    absent = compute_cid(b"never added anywhere\n", cid_version=1)
    response = await empty_client.get(f"/ipfs/{absent}")
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"
    assert (await empty_client.get("/ipfs/not-a-cid")).status == 400  # validated before any request


async def test_a_request_from_another_lantern_is_not_forwarded(
    empty_client: TestClient, gif_cids: dict[int, str]
) -> None:
    response = await empty_client.get(f"/ipfs/{gif_cids[1]}", headers={"Via": "1.1 lantern"})
    assert response.status == 404


async def test_a_configured_gateway_serves_when_the_backend_has_no_node(
    aiohttp_client: Any,
    kubo_node: KuboNode,
    gif: bytes,
    gif_cids: dict[int, str],
    empty_store_settings: Settings,
) -> None:
    settings = gateway_only(empty_store_settings, f"{kubo_node.gateway_url}/ipfs/")
    response = await fetch(aiohttp_client, settings, gif_cids[1])
    assert response.status == 200
    assert await response.read() == gif


async def test_an_unreachable_node_is_502_and_a_silent_one_504(
    aiohttp_client: Any, gif: bytes, empty_store_settings: Settings
) -> None:
    cid = compute_cid(gif, cid_version=1)
    nowhere = node_at(empty_store_settings, f"http://127.0.0.1:{free_port()}")
    response = await fetch(aiohttp_client, nowhere, cid)
    assert response.status == 502
    assert (await response.json())["error"]["code"] == "bad_gateway"

    async def silent(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response()

    async with served(silent) as url:
        slow = node_at(empty_store_settings, url, timeout_s=0.5)
        assert (await fetch(aiohttp_client, slow, cid)).status == 504


async def test_bytes_that_are_not_the_cid_are_never_served_whole(
    aiohttp_client: Any, gif: bytes, empty_store_settings: Settings
) -> None:
    """A gateway answering other bytes: the connection is cut before the last of them."""
    cid = compute_cid(gif, cid_version=1)

    async def liar(request: web.Request) -> web.Response:
        return web.Response(body=gif[:-1] + b"\x00", content_type="image/gif")

    async with served(liar) as url:
        lying = gateway_only(empty_store_settings, f"{url}/ipfs/")
        response = await fetch(aiohttp_client, lying, cid)
        assert response.status == 200  # the headers went before the bytes could be checked
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()


# -- a whole job through a real worker and API pinning to the node ------------------------------


@dataclasses.dataclass
class KuboLantern:
    base_url: str
    env: dict[str, str]
    node: KuboNode


@pytest.fixture(scope="module")
def kubo_lantern(
    kubo_node: KuboNode, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KuboLantern]:
    suffix = f"kubo-{os.getpid()}"
    port = free_port()
    env = {
        **lantern_env(kafka_bootstrap, f"lantern-{suffix}", port, tmp_path_factory.mktemp("ipfs")),
        "LANTERN_PIN_BACKEND": "kubo",
        "LANTERN_PIN_URL": kubo_node.rpc_url,
        "LANTERN_PIN_CID_VERSION": "1",
        "LANTERN_PIN_TIMEOUT_S": "10",
        "LANTERN_PIN_BACKOFF_S": "0.05",
    }
    with running_stack(env, "kubo") as base_url:
        yield KuboLantern(base_url, env, kubo_node)


@pytest.fixture
async def bare_api(kubo_lantern: KuboLantern, tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """A second API on the same node and topics, with an empty store of its own."""
    port, store = free_port(), tmp_path / "no-copy"
    env = {
        **kubo_lantern.env,
        "LANTERN_API_PORT": str(port),
        "LANTERN_STORE_ROOT": str(store),
    }
    api = _spawn(["api"], env, ARTIFACTS / "api-kubo-bare.log")
    try:
        _await_ready(api, f"http://127.0.0.1:{port}/readyz", timeout=60)
        yield f"http://127.0.0.1:{port}", store
    finally:
        _stop(api)


async def test_a_job_pinned_on_the_node_is_served_by_an_api_without_a_copy(
    kubo_lantern: KuboLantern, bare_api: tuple[str, Path]
) -> None:
    body = {"settings": {"flowField": {"color1": "#336699"}}, "options": OPTIONS, "wallet": WALLET}
    async with aiohttp.ClientSession() as http:
        job_id = await submit(http, kubo_lantern.base_url, body)
        job, seen = await wait_done(http, kubo_lantern.base_url, job_id)
        assert job["state"] == "completed", job
        assert seen == sorted(seen)
        result = job["result"]
        assert result["pin_backend"] == "kubo"
        files = {}
        for cid in (result["gif_cid"], result["metadata_cid"]):
            async with http.get(f"{kubo_lantern.base_url}/ipfs/{cid}") as response:
                assert response.status == 200
                local = await response.read()
            bare_url, bare_store = bare_api
            async with http.get(f"{bare_url}/ipfs/{cid}") as response:
                assert response.status == 200, await response.text()
                assert "immutable" in response.headers["Cache-Control"]
                files[cid] = (await response.read(), response.headers["Content-Type"])
            assert files[cid][0] == local
            assert compute_cid(local, cid_version=1) == cid
            assert node_pins(kubo_lantern.node, cid)
    gif, gif_type = files[result["gif_cid"]]
    assert gif_type == "image/gif" and gif.startswith(b"GIF89a")
    metadata = json.loads(files[result["metadata_cid"]][0])
    assert metadata["image"] == f"ipfs://{result['gif_cid']}"
    assert metadata["properties"]["gif"]["bytes"] == len(gif)
    assert result["gif_cid"].startswith("baf") and result["metadata_cid"].startswith("baf")
    assert [p.name for p in bare_store.iterdir()] == []  # served without a local copy
