"""The whole pipeline once per remote backend: Pinata, Kubo and a Pinning Service API provider.

The services are local fakes speaking their documented APIs (fake_pinning_services.py), served
from a thread of this process; the worker and API are real processes on the session's broker,
one pair per backend with its own topic prefix, app id, store and LANTERN_PIN_* settings.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest

from pinning.metadata import load_schema
from streams.broker import free_port

from .conftest import ADMIN_TOKEN, ROOT, lantern_env, running_stack, stack_log
from .fake_pinning_services import FakeKubo, FakePinata, FakePsa, Fault, ServerThread, combined_app
from .test_pipeline import WALLET, submit, wait_done

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SMALL = {"size": 128, "frames": 10}
BACKENDS = ["pinata", "kubo", "psa"]


@dataclasses.dataclass
class Services:
    """The three fakes on one local server."""

    pinata: FakePinata
    kubo: FakeKubo  # also the PSA's content provider, as one's own node would be
    psa: FakePsa
    url: str


@dataclasses.dataclass
class PinnedLantern:
    """A worker and an API pinning through one backend."""

    backend: str
    base_url: str
    worker_log: Path
    store_root: Path
    fake: FakePinata | FakeKubo | FakePsa
    cid_version: int


@pytest.fixture(scope="module")
def services() -> Iterator[Services]:
    kubo = FakeKubo()
    fakes = Services(FakePinata(), kubo, FakePsa(provider=kubo), "")
    with ServerThread(combined_app(fakes.pinata, kubo, fakes.psa)) as url:
        fakes.url = url
        yield fakes


@pytest.fixture(scope="module", params=BACKENDS)
def pinned(
    request: pytest.FixtureRequest,
    services: Services,
    kafka_bootstrap: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[PinnedLantern]:
    backend: str = request.param
    suffix = f"pin-{backend}-{os.getpid()}"
    port = free_port()
    store_root = tmp_path_factory.mktemp(f"ipfs-{backend}")
    fake: FakePinata | FakeKubo | FakePsa = getattr(services, backend)
    cid_version = 1 if backend == "kubo" else 0  # one CIDv1 run end to end
    env = {
        **lantern_env(kafka_bootstrap, f"lantern-{suffix}", port, store_root),
        "LANTERN_WORKER_PROCESSES": "2",
        "LANTERN_PIN_BACKEND": backend,
        "LANTERN_PIN_URL": services.url,
        "LANTERN_PIN_TOKEN": fake.token or "",
        "LANTERN_PIN_CID_VERSION": str(cid_version),
        "LANTERN_PIN_ATTEMPTS": "2",
        "LANTERN_PIN_BACKOFF_S": "0.05",
        "LANTERN_PIN_TIMEOUT_S": "10",
        "LANTERN_PIN_POLL_S": "0.1",
        "LANTERN_PIN_DEADLINE_S": "60",
        "LANTERN_API_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    if backend == "psa":
        env["LANTERN_PIN_PROVIDER_URL"] = services.url
    name = f"pin-{backend}"
    with running_stack(env, name) as base_url:
        worker_log = stack_log("worker", name)
        yield PinnedLantern(backend, base_url, worker_log, store_root, fake, cid_version)


async def operator_view(pinned: PinnedLantern, job_id: str) -> dict[str, Any]:
    """The job as the operator route lists it: with the full reason of a failure."""
    url = f"{pinned.base_url}/api/v1/jobs?limit=1000"
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        assert response.status == 200
        jobs = (await response.json())["jobs"]
    return next(job for job in jobs if job["job_id"] == job_id)


def body(colour: str) -> dict[str, Any]:
    return {"settings": {"flowField": {"color1": colour}}, "options": SMALL, "wallet": WALLET}


def reference_cid(data: bytes, tmp_path: Path, cid_version: int) -> str:
    path = tmp_path / f"content-{cid_version}.bin"
    path.write_bytes(data)
    args = ["node", str(ROOT / "tests/js/cid.mjs"), str(path), "--cid-version", str(cid_version)]
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout.split()[-1]


def pinned_cids(fake: FakePinata | FakeKubo | FakePsa) -> list[str]:
    return fake.pinned() if isinstance(fake, FakePsa) else list(fake.pins)


async def test_a_job_is_pinned_through_the_backend(pinned: PinnedLantern, tmp_path: Path) -> None:
    base = pinned.base_url
    async with aiohttp.ClientSession() as http:
        job_id = await submit(http, base, body("#336699"))
        job, seen = await wait_done(http, base, job_id)
        assert job["state"] == "completed", job
        assert seen == sorted(seen)
        result = job["result"]
        # The local gateway serves both files under the CIDs the service pinned.
        async with http.get(f"{base}/ipfs/{result['gif_cid']}") as response:
            assert response.status == 200
            gif = await response.read()
        async with http.get(result["metadata_url"]) as response:
            assert response.status == 200
            metadata_bytes = await response.read()

    assert result["pin_backend"] == pinned.backend
    assert result["token_uri"] == f"ipfs://{result['metadata_cid']}"
    assert result["image_url"].endswith(f"/ipfs/{result['gif_cid']}")
    cids = pinned_cids(pinned.fake)
    assert result["gif_cid"] in cids and result["metadata_cid"] in cids
    # What npm's ipfs-unixfs-importer gives the same bytes at the same CID version.
    assert reference_cid(gif, tmp_path, pinned.cid_version) == result["gif_cid"]
    assert reference_cid(metadata_bytes, tmp_path, pinned.cid_version) == result["metadata_cid"]
    assert result["gif_cid"].startswith("b" if pinned.cid_version else "Qm")

    metadata = json.loads(metadata_bytes)
    jsonschema.validate(metadata, load_schema())
    assert metadata["image"] == f"ipfs://{result['gif_cid']}"
    assert metadata["properties"]["gif"]["frames"] == SMALL["frames"]
    assert metadata["properties"]["gif"]["bytes"] == len(gif)
    assert metadata["name"] == f"Gen1 {job_id}"

    if isinstance(pinned.fake, FakePinata):
        pins = {row["ipfs_pin_hash"]: row for row in pinned.fake.pins.values()}
        keyvalues = pins[result["gif_cid"]]["metadata"]["keyvalues"]
        assert keyvalues["job_id"] == job_id and keyvalues["wallet"] == WALLET
        assert keyvalues["renderer_version"] == metadata["properties"]["renderer_version"]
    if isinstance(pinned.fake, FakePsa):
        [create] = [
            r for r in pinned.fake.calls("POST", "/pins") if r.json["cid"] == result["gif_cid"]
        ]
        assert create.json["meta"]["job_id"] == job_id
        assert create.json["origins"]  # the provider node's addresses


async def test_a_refused_pin_fails_the_job_at_stage_pin(pinned: PinnedLantern) -> None:
    fake = pinned.fake
    saved = fake.token
    fake.token = "rotated-credentials"  # the service no longer accepts Lantern's token
    try:
        async with aiohttp.ClientSession() as http:
            job_id = await submit(http, pinned.base_url, body("#993366"))
            job, _ = await wait_done(http, pinned.base_url, job_id)
    finally:
        fake.token = saved
    assert job["state"] == "failed", job
    assert job["stage"] == "pin"
    assert job["error"] == "the artwork could not be stored on IPFS; the operators have the details"
    # the service's own answer is kept for operators (the admin route), not shown to users
    status = 403 if pinned.backend == "kubo" else 401
    full = await operator_view(pinned, job_id)
    assert f"HTTP {status}" in full["error"] and "credentials" in full["error"].lower()
    assert pinned.backend in full["error"]
    if saved:
        assert saved not in json.dumps(job)
    # Refused for good: no stage retry, and no re-render.
    log = pinned.worker_log.read_text()
    assert f"retrying job={job_id} stage=pin" not in log
    assert log.count(f"assembled job={job_id}") == 1


async def test_a_transient_outage_is_retried_without_rerendering(
    pinned: PinnedLantern,
) -> None:
    # Both HTTP attempts of the first stage attempt get a 503: the stage retries later
    # from the GIF already in the store, and the job completes. (Kubo's `add` is met first by
    # the assembler, which adds the GIF to the node: below; its pin is `pin/add`.)
    main = {"pinata": "/pinning/pinFileToIPFS", "kubo": "/api/v0/pin/add", "psa": "/pins"}
    pinned.fake.fail(*[Fault(503, path=main[pinned.backend])] * 2)
    async with aiohttp.ClientSession() as http:
        job_id = await submit(http, pinned.base_url, body("#669933"))
        job, seen = await wait_done(http, pinned.base_url, job_id)
    assert job["state"] == "completed", job
    assert seen == sorted(seen)
    deadline = time.monotonic() + 10
    log = ""
    while time.monotonic() < deadline:  # the log line may land just after the status
        log = pinned.worker_log.read_text()
        if f"retrying job={job_id} stage=pin attempt=1" in log:
            break
        await asyncio.sleep(0.2)
    assert f"retrying job={job_id} stage=pin attempt=1" in log
    assert "503" in log
    assert log.count(f"assembled job={job_id}") == 1
    assert f"retrying job={job_id} stage=render" not in log


@pytest.mark.parametrize("pinned", ["kubo"], indirect=True)  # the backend with a node
async def test_a_node_away_while_the_gif_is_added_is_retried_from_the_blocks_held(
    pinned: PinnedLantern,
) -> None:
    """The assembler adds each GIF to the pin backend's node for whichever worker pins it
    (README "Running beyond one machine"): a node that answers 503 fails the GIF's writing,
    which is retried from the blocks the assembler holds, with no re-render."""
    assert isinstance(pinned.fake, FakeKubo)
    pinned.fake.fail(*[Fault(503, path="/api/v0/add")] * 2)
    async with aiohttp.ClientSession() as http:
        job_id = await submit(http, pinned.base_url, body("#2299aa"))
        job, seen = await wait_done(http, pinned.base_url, job_id)
    assert job["state"] == "completed", job
    assert seen == sorted(seen)
    log = pinned.worker_log.read_text()
    assert f"retrying job={job_id} stage=assemble attempt=1" in log
    assert log.count(f"assembled job={job_id}") == 1
    assert f"retrying job={job_id} stage=render" not in log
    assert job["result"]["gif_cid"] in pinned.fake.pins
