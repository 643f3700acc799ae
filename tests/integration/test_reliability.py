"""Retries, dead letters, idempotency, operator actions and backlog on the real pipeline."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from typing import Any

import aiohttp
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import DefaultPartitioner

from api.limits import LagMonitor
from api.views import key_job_id
from lantern.contract import FrameBlock, JobSpec, StatusEvent
from lantern.settings import Settings
from render import Gen1Settings, RenderOptions
from streams.topics import TopicNames, ensure_topics

from .conftest import ADMIN_TOKEN, ARTIFACTS, PIN_FAULT_COLOUR, RENDER_FAULT_COLOUR, Lantern
from .test_pipeline import WALLET, submit, wait_done

pytestmark = pytest.mark.integration

SMALL = {"size": 96, "frames": 8}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def body(colour: str, **options: Any) -> dict[str, Any]:
    return {
        "settings": {"flowField": {"color1": colour}},
        "options": {**SMALL, **options},
        "wallet": WALLET,
    }


async def test_a_failing_render_retries_then_dead_letters_with_the_reason(
    lantern: Lantern,
) -> None:
    base = lantern.base_url
    async with aiohttp.ClientSession() as http:
        job_id = await submit(http, base, body(RENDER_FAULT_COLOUR))
        job, _ = await wait_done(http, base, job_id)
        assert job["state"] == "failed"
        assert job["stage"] == "render"
        # the user gets a plain reason; the exception's text is for operators only
        assert job["error"] == "the artwork could not be rendered; the operators have the details"
        assert "injected" not in json.dumps(job)
        assert "after 3 attempts" in job["detail"]
        url = f"{base}/api/v1/jobs?state=failed&limit=1000"
        async with http.get(url, headers=ADMIN) as response:
            listed = {j["job_id"]: j for j in (await response.json())["jobs"]}
        assert "injected render fault" in listed[job_id]["error"]
        assert listed[job_id]["reason"] == job["error"]

        async with http.get(f"{base}/api/v1/dead-letters", headers=ADMIN) as response:
            assert response.status == 200
            letters = (await response.json())["dead_letters"]
        mine = [letter for letter in letters if letter["job_id"] == job_id]
        assert mine, letters
        assert {letter["stage"] for letter in mine} == {"render"}
        assert all(letter["attempts"] == 3 for letter in mine)
        assert "injected render fault" in mine[0]["error"]
        assert json.loads(mine[0]["payload"])["spec"]["job_id"] == job_id

        # an operator retry drives it again; the fault is still there, so it fails again
        async with http.post(f"{base}/api/v1/jobs/{job_id}/retry", headers=ADMIN) as response:
            assert response.status == 202
        job, _ = await wait_done(http, base, job_id)
        assert job["state"] == "failed"


async def test_a_pin_that_fails_twice_then_succeeds_completes(lantern: Lantern) -> None:
    base = lantern.base_url
    async with aiohttp.ClientSession() as http:
        job_id = await submit(http, base, body(PIN_FAULT_COLOUR))
        job, seen = await wait_done(http, base, job_id)
    assert job["state"] == "completed", job
    assert seen == sorted(seen)
    log = (ARTIFACTS / "worker.log").read_text()
    assert f"retrying job={job_id} stage=pin attempt=1" in log
    assert f"retrying job={job_id} stage=pin attempt=2" in log
    assert f"dead letter job={job_id}" not in log


async def test_the_same_idempotency_key_gives_the_same_job(lantern: Lantern) -> None:
    base, url = lantern.base_url, f"{lantern.base_url}/api/v1/mints"
    key = {"Idempotency-Key": f"order-{lantern.settings.worker.app_id}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=body("#123456"), headers=key) as first:
            assert first.status == 202
            job_id = (await first.json())["job_id"]
        async with http.post(url, json=body("#123456"), headers=key) as again:
            assert again.status == 202
            assert (await again.json())["job_id"] == job_id
        async with http.post(url, json=body("#654321"), headers=key) as other:
            assert other.status == 409
            assert (await other.json())["error"]["field"] == "Idempotency-Key"
        job, _ = await wait_done(http, base, job_id)
        assert job["state"] == "completed"
        async with http.get(f"{base}/api/v1/jobs", headers=ADMIN) as response:
            listed = await response.json()
    assert [j["job_id"] for j in listed["jobs"]].count(job_id) == 1


async def test_operator_routes_refuse_a_missing_or_wrong_token(lantern: Lantern) -> None:
    base = lantern.base_url
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": ADMIN_TOKEN}):
            async with http.get(f"{base}/api/v1/jobs", headers=headers) as response:
                assert response.status == 401
            async with http.get(f"{base}/api/v1/dead-letters", headers=headers) as response:
                assert response.status == 401
            async with http.post(f"{base}/api/v1/jobs/{'0' * 32}/retry", headers=headers) as r:
                assert r.status == 401
        async with http.get(f"{base}/api/v1/jobs?state=completed", headers=ADMIN) as response:
            assert response.status == 200
            listed = await response.json()
        assert set(listed["counts"]) >= {"queued", "completed", "failed"}
        assert all(job["state"] == "completed" for job in listed["jobs"])
        done = listed["jobs"][0]["job_id"]
        async with http.post(f"{base}/api/v1/jobs/{done}/retry", headers=ADMIN) as response:
            assert response.status == 409  # only failed jobs retry


async def test_lag_is_the_workers_consumer_lag(kafka_bootstrap: str) -> None:
    """Requests nobody consumes yet count as lag, read from the broker's offsets."""
    base = Settings()
    settings = dataclasses.replace(
        base,
        kafka=dataclasses.replace(base.kafka, bootstrap=kafka_bootstrap, topic_prefix="lag"),
        worker=dataclasses.replace(base.worker, app_id="lag-nobody"),
    )
    await ensure_topics(settings)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for i in range(5):
            await producer.send_and_wait(
                TopicNames.from_settings(settings).mint_requests, b"{}", key=str(i).encode()
            )
    finally:
        await producer.stop()
    monitor = LagMonitor(settings, interval=0.2)
    await monitor.start()
    try:
        for _ in range(100):
            if monitor.lag >= 5:
                break
            await asyncio.sleep(0.1)
        assert monitor.lag == 5
        assert monitor.reachable
    finally:
        await monitor.stop()


async def _publish_status(lantern: Lantern, event: StatusEvent) -> None:
    """A status as a worker or an older API would have written it."""
    producer = AIOKafkaProducer(bootstrap_servers=lantern.settings.kafka.bootstrap)
    await producer.start()
    try:
        topic = TopicNames.from_settings(lantern.settings).status
        await producer.send_and_wait(topic, event.dumps(), key=event.job_id.encode())
    finally:
        await producer.stop()


def _request(job_id: str, colour: str) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "settings": Gen1Settings.from_dict({"flowField": {"color1": colour}}).to_dict(),
        "options": RenderOptions.from_dict(SMALL).to_dict(),
        "wallet": WALLET,
        "submitted_at": time.time(),
    }


async def _wait_known(http: aiohttp.ClientSession, url: str) -> None:
    """Until the API's view of the status changelog has the job (it reads it as it comes)."""
    for _ in range(100):
        async with http.get(url) as response:
            if response.status == 200:
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never known")


async def _wait_state(http: aiohttp.ClientSession, url: str, state: str) -> None:
    for _ in range(100):
        async with http.get(url) as response:
            if response.status == 200 and (await response.json())["state"] == state:
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never {state}")


async def test_an_idempotent_retry_of_a_job_with_no_request_on_the_log_publishes_it(
    lantern: Lantern,
) -> None:
    """A queued status with no request behind it (its request never reached the topic): the
    client's retry with the same key must publish the request, not answer for nothing."""
    key = f"never-published-{lantern.settings.worker.app_id}"
    job_id = key_job_id(WALLET, key)
    request = _request(job_id, "#1d1e55")
    queued = StatusEvent(job_id=job_id, state="queued", progress=0, stage="api",
                         wallet=WALLET, at=time.time(), request=request)  # fmt: skip
    await _publish_status(lantern, queued)
    base = lantern.base_url
    async with aiohttp.ClientSession() as http:
        await _wait_state(http, f"{base}/api/v1/jobs/{job_id}", "queued")
        retry = {"settings": request["settings"], "options": SMALL, "wallet": WALLET}
        headers = {"Idempotency-Key": key}
        async with http.post(f"{base}/api/v1/mints", json=retry, headers=headers) as response:
            assert response.status == 202, await response.text()
            assert (await response.json())["job_id"] == job_id
        job, _ = await wait_done(http, base, job_id, timeout=60)
    assert job["state"] == "completed", job


async def test_a_queued_job_whose_request_was_consumed_unprocessed_is_redriven(
    lantern: Lantern,
) -> None:
    """The job's status says its request lies at an offset the workers' group has already
    committed, yet it is queued: the request was lost. The watcher publishes it again."""
    settings = lantern.settings
    names = TopicNames.from_settings(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(settings.worker.app_id)
    finally:
        await admin.close()
    consumed = {tp.partition: m.offset for tp, m in offsets.items()
                if tp.topic == names.mint_requests and m.offset > 0}  # fmt: skip
    assert consumed, "earlier tests leave requests consumed"
    partitioner = DefaultPartitioner()
    parts = list(range(settings.kafka.partitions))
    job_id = next(
        j for j in (uuid.uuid4().hex for _ in range(1000))
        if partitioner(j.encode(), parts, parts) in consumed
    )  # fmt: skip
    partition = partitioner(job_id.encode(), parts, parts)
    queued = StatusEvent(
        job_id=job_id, state="queued", progress=0, stage="api", wallet=WALLET, at=time.time(),
        request=_request(job_id, "#10ca7e"), request_partition=partition, request_offset=0,
    )  # fmt: skip
    await _publish_status(lantern, queued)
    async with aiohttp.ClientSession() as http:
        await _wait_known(http, f"{lantern.base_url}/api/v1/jobs/{job_id}")
        job, _ = await wait_done(http, lantern.base_url, job_id, timeout=90)
        metrics_url = f"http://127.0.0.1:{settings.worker.metrics_port}/metrics"
        async with http.get(metrics_url) as response:
            metrics = await response.text()
    assert job["state"] == "completed", job
    log = (ARTIFACTS / "worker.log").read_text()
    assert f"lost job={job_id} request at {partition}:0: re-publishing (generation 1)" in log
    assert 'lantern_jobs_redriven_total{reason="lost"} 1.0' in metrics


def _legacy_failed_signal(job_id: str) -> bytes:
    """The job's end as a FrameBlock of an earlier version wrote it: index −1, its old name."""
    spec = JobSpec(job_id=job_id, settings={}, options={"frames": 8}, wallet=WALLET, palette="",
                   submitted_at=0.0)  # fmt: skip
    wire = json.loads(FrameBlock(spec=spec, index=-1, digests=[]).dumps())
    wire["__faust"]["ns"] = "streams.rendering.FrameBlock"
    return json.dumps(wire).encode()


async def _wait_log(needle: str, count: int = 1, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while (ARTIFACTS / "worker.log").read_text(errors="replace").count(needle) < count:
        assert time.monotonic() < deadline, f"{needle!r} not logged {count} times"
        await asyncio.sleep(0.2)


async def test_the_assembler_skips_what_it_cannot_read_and_understands_old_signals(
    lantern: Lantern,
) -> None:
    """Values on ``frames`` that are no record of this contract — forged, plain, not JSON, under
    a key that is not text — on every partition, and an earlier version's job-end signal: the
    assembler logs and skips the first, forgets the job of the second, and goes on assembling."""
    settings = lantern.settings
    topic = TopicNames.from_settings(settings).frames
    junk = [b"not json \xff", b'{"__faust": {"ns": "evil.Forged"}}', b'{"plain": 1}', b"[1]"]
    before = (ARTIFACTS / "worker.log").read_text(errors="replace").count("frames: skipped")
    stranger = uuid.uuid4().hex
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap)
    await producer.start()
    try:
        for partition in range(settings.kafka.partitions):
            for value in junk:
                await producer.send_and_wait(topic, value, key=b"\xffjunk", partition=partition)
        await producer.send_and_wait(topic, _legacy_failed_signal(stranger), key=stranger.encode())
    finally:
        await producer.stop()
    await _wait_log("frames: skipped", before + len(junk) * settings.kafka.partitions)
    await _wait_log(f"forgot job={stranger} (failed)")
    async with aiohttp.ClientSession() as http:
        job_id = await submit(http, lantern.base_url, body("#5a1ad0"))
        job, _ = await wait_done(http, lantern.base_url, job_id)
    assert job["state"] == "completed", job
