"""End to end on the real broker: POST settings, poll, fetch the GIF and metadata by CID."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from PIL import Image

from streams.topics import TopicNames, partition_of

from .conftest import ROOT, Lantern

pytestmark = pytest.mark.integration

WALLET = "0x52908400098527886E0F7030069857D2E4169EE7"  # an EIP-55 test vector


async def submit(http: aiohttp.ClientSession, base: str, body: dict[str, Any]) -> str:
    async with http.post(f"{base}/api/v1/mints", json=body) as response:
        assert response.status == 202, await response.text()
        answer = await response.json()
        assert answer["status_url"] == f"/api/v1/jobs/{answer['job_id']}"
        return str(answer["job_id"])


async def wait_done(
    http: aiohttp.ClientSession, base: str, job_id: str, timeout: float = 150
) -> tuple[dict[str, Any], list[int]]:
    """Poll until the job ends; also return every progress value seen on the way."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with http.get(f"{base}/api/v1/jobs/{job_id}") as response:
            assert response.status == 200
            job = await response.json()
        seen.append(job["progress"])
        if job["state"] in {"completed", "failed"}:
            return job, seen
        await asyncio.sleep(0.25)
    raise AssertionError(f"job {job_id} not done in {timeout}s: {job}")


def reference_cid(data: bytes, tmp_path: Path) -> str:
    """The CID npm's ipfs-unixfs-importer gives for the same bytes (an independent check)."""
    path = tmp_path / "content.bin"
    path.write_bytes(data)
    out = subprocess.run(
        ["node", str(ROOT / "tests/js/cid.mjs"), str(path), "--cid-version", "0"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()[-1]


async def test_default_job_end_to_end(lantern: Lantern, tmp_path: Path) -> None:
    base = lantern.base_url
    async with aiohttp.ClientSession() as http:
        job_id = await submit(http, base, {"settings": {}, "wallet": WALLET})
        job, seen = await wait_done(http, base, job_id)
        assert job["state"] == "completed", job
        assert job["progress"] == 100
        assert seen == sorted(seen), f"progress went backwards: {seen}"
        result = job["result"]

        async with http.get(f"{base}/ipfs/{result['gif_cid']}") as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "image/gif"
            assert "immutable" in response.headers["Cache-Control"]
            gif = await response.read()
        async with http.get(f"{base}/ipfs/{result['metadata_cid']}") as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "application/json"
            metadata_bytes = await response.read()

    image = Image.open(io.BytesIO(gif))
    assert image.n_frames == 100
    assert image.size == (512, 512)
    assert image.info["loop"] == 0
    for index in range(0, 100, 9):
        image.seek(index)
        assert image.info["duration"] == 30

    assert reference_cid(gif, tmp_path) == result["gif_cid"]
    assert reference_cid(metadata_bytes, tmp_path) == result["metadata_cid"]
    metadata = json.loads(metadata_bytes)
    assert metadata["image"] == f"ipfs://{result['gif_cid']}"
    assert result["token_uri"] == f"ipfs://{result['metadata_cid']}"
    assert result["image_url"].endswith(f"/ipfs/{result['gif_cid']}")


async def test_five_jobs_at_once_all_complete(lantern: Lantern) -> None:
    base = lantern.base_url
    colours = ["#ff0000", "#00ff00", "#0000ff", "#ffff00", "#ff00ff"]
    bodies = [
        {
            "settings": {"flowField": {"color1": c}},
            "options": {"size": 256, "frames": 40},
            "wallet": WALLET,
        }
        for c in colours
    ]
    async with aiohttp.ClientSession() as http:
        job_ids = await asyncio.gather(*(submit(http, base, b) for b in bodies))
        results = await asyncio.gather(*(wait_done(http, base, j) for j in job_ids))
    states = [job["state"] for job, _ in results]
    assert states == ["completed"] * 5, [job.get("error") for job, _ in results]
    assert len({job["result"]["gif_cid"] for job, _ in results}) == 5


async def records_of(bootstrap: str, topic: str, partition: int, key: bytes) -> list[Any]:
    """Every value on ``topic``'s ``partition`` under ``key``, in order, decoded from JSON."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        values: list[Any] = []
        while await consumer.position(tp) < end:
            for record in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                if record.key == key and record.value is not None:
                    values.append(json.loads(record.value))
        return values
    finally:
        await consumer.stop()


async def test_the_stages_holding_the_jobs_partition_fold_its_status_in_place(
    lantern: Lantern,
) -> None:
    """The assembler and the pin stage read the job's own partition, as the status table is
    kept: their reports go into the table directly (its changelog, which the API reads), not
    through the status topic, which carries only the API's and the split's."""
    body = {"settings": {}, "options": {"size": 128, "frames": 40}, "wallet": WALLET}
    async with aiohttp.ClientSession() as http:
        job_id = await submit(http, lantern.base_url, body)
        job, _ = await wait_done(http, lantern.base_url, job_id)
    assert job["state"] == "completed", job
    names = TopicNames.from_settings(lantern.settings)
    kafka = lantern.settings.kafka
    bootstrap, partition = kafka.bootstrap, partition_of(job_id, kafka.partitions)
    assert kafka.partitions == 8
    sent = await records_of(bootstrap, names.status, partition, job_id.encode())
    folded = await records_of(
        bootstrap, names.status_changelog, partition, json.dumps(job_id).encode()
    )
    assert {event["stage"] for event in sent} == {"api", "split"}, sent
    steps = [(status["state"], status["stage"]) for status in folded]
    for step in [("encoding", "assemble"), ("pinning", "assemble"), ("pinning", "pin")]:
        assert step in steps, steps
    assert steps[-1] == ("completed", "pin") and folded[-1]["progress"] == 100


async def test_original_routes(lantern: Lantern) -> None:
    base = lantern.base_url
    async with aiohttp.ClientSession() as http:
        body = {"settings": {"contour": {"baseFreq": 0.02}}, "walletAddress": WALLET}
        async with http.post(f"{base}/api/gen1/queue-mint", json=body) as response:
            assert response.status == 200, await response.text()
            job_id = (await response.json())["jobId"]
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            async with http.get(f"{base}/api/gen1/job-status", params={"jobId": job_id}) as r:
                assert r.status == 200
                status = await r.json()
            if status["status"] in {"completed", "failed"}:
                break
            assert status["status"] in {"waiting", "active"}
            await asyncio.sleep(0.5)
        assert status["status"] == "completed", status
        assert status["progress"] == 100
        assert status["result"]["imageUrl"].startswith("ipfs://Qm")
        assert status["result"]["metadataUrl"].startswith("ipfs://Qm")
        async with http.get(f"{base}/api/gen1/job-status", params={"jobId": "0" * 32}) as r:
            assert r.status == 404


async def test_invalid_settings_are_refused_with_the_field(lantern: Lantern) -> None:
    body = {"settings": {"flowFields": {"lineDensity": 2}}, "wallet": WALLET}
    url = f"{lantern.base_url}/api/v1/mints"
    async with aiohttp.ClientSession() as http, http.post(url, json=body) as response:
        assert response.status == 422
        error = (await response.json())["error"]
    assert error["field"] == "settings.flowFields.lineDensity"
    assert "0.01" in error["message"] and "0.5" in error["message"]
