"""The operator's routes on a stack of their own (purging touches every job): a job's whole
story (timeline, full error, trace), cancel, retry all failed, purge old jobs, the workers and
their partitions."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from lantern.processes import free_port

from .conftest import ADMIN_TOKEN, RENDER_FAULT_COLOUR, lantern_env, running_stack
from .test_pipeline import WALLET, submit, wait_done

pytestmark = pytest.mark.integration
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SMALL = {"size": 64, "frames": 4}


@pytest.fixture(scope="module")
def operated(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    name = f"operator{os.getpid()}"
    env = {
        **lantern_env(kafka_bootstrap, name, free_port(), tmp_path_factory.mktemp("ipfs")),
        "LANTERN_API_ADMIN_TOKEN": ADMIN_TOKEN,
        "LANTERN_FAULTS_RENDER_COLOR": RENDER_FAULT_COLOUR,
    }
    with running_stack(env, name=name) as base:
        yield base


def body(colour: str = "#112233", options: dict[str, int] = SMALL) -> dict[str, Any]:
    return {"settings": {"flowField": {"color1": colour}}, "options": options, "wallet": WALLET}


async def call(http: aiohttp.ClientSession, method: str, url: str) -> tuple[int, Any]:
    async with http.request(method, url, headers=AUTH) as response:
        return response.status, await response.json()


async def test_a_job_s_whole_story_and_a_failure_with_its_trace(operated: str) -> None:
    async with aiohttp.ClientSession() as http:
        done = await submit(http, operated, body())
        failed = await submit(http, operated, body(RENDER_FAULT_COLOUR))
        for job_id in (done, failed):
            await wait_done(http, operated, job_id)

        status, job = await call(http, "GET", f"{operated}/api/v1/jobs/{done}/detail")
        assert status == 200
        states = [entry["state"] for entry in job["timeline"]]
        assert states[0] == "queued" and states[-1] == "completed"
        assert {"rendering", "encoding", "pinning"} <= set(states)
        assert job["request"]["options"] == {**job["request"]["options"], **SMALL}

        status, job = await call(http, "GET", f"{operated}/api/v1/jobs/{failed}/detail")
        assert job["state"] == "failed" and "InjectedFault" in job["error"]
        assert "Traceback" in job["trace"] and "InjectedFault" in job["trace"]
        assert any("retrying" in entry["detail"] for entry in job["timeline"])
        assert job["timeline"][-1]["state"] == "failed"

        # the public view never shows the trace
        async with http.get(f"{operated}/api/v1/jobs/{failed}") as response:
            public = await response.json()
        assert "trace" not in public and "Traceback" not in str(public)


async def test_cancel_fails_an_unfinished_job_and_nothing_brings_it_back(operated: str) -> None:
    async with aiohttp.ClientSession() as http:
        big = await submit(http, operated, body(options={"size": 512, "frames": 400}))
        status, answer = await call(http, "POST", f"{operated}/api/v1/jobs/{big}/cancel")
        assert (status, answer["state"]) == (202, "failed")
        job, _ = await wait_done(http, operated, big, timeout=30)
        assert job["state"] == "failed" and job["error"] == "cancelled by an operator"
        await asyncio.sleep(5)  # work in flight goes on, and changes nothing
        async with http.get(f"{operated}/api/v1/jobs/{big}") as response:
            assert (await response.json())["state"] == "failed"
        status, answer = await call(http, "POST", f"{operated}/api/v1/jobs/{big}/cancel")
        assert status == 409


async def test_retry_all_failed_drives_every_failed_job_again(operated: str) -> None:
    async with aiohttp.ClientSession() as http:
        failed = [await submit(http, operated, body(RENDER_FAULT_COLOUR)) for _ in range(2)]
        for job_id in failed:
            job, _ = await wait_done(http, operated, job_id)
            assert job["state"] == "failed"
        status, answer = await call(http, "POST", f"{operated}/api/v1/jobs/retry-failed")
        assert status == 202 and set(failed) <= set(answer["retried"])
        for job_id in failed:  # the fault is still there: they fail again, a retry later
            deadline = time.monotonic() + 60
            while True:
                status, job = await call(http, "GET", f"{operated}/api/v1/jobs/{job_id}/detail")
                if job["retries"] == 1 and job["state"] == "failed":
                    break
                assert time.monotonic() < deadline, job
                await asyncio.sleep(0.5)


async def test_purge_forgets_old_finished_jobs_only(operated: str) -> None:
    async with aiohttp.ClientSession() as http:
        old = await submit(http, operated, body())
        await wait_done(http, operated, old)
        status, answer = await call(http, "POST", f"{operated}/api/v1/jobs/purge?older_than_s=x")
        assert status == 422 and answer["error"]["field"] == "older_than_s"
        status, answer = await call(http, "POST", f"{operated}/api/v1/jobs/purge?older_than_s=3600")
        assert status == 202 and old not in answer["purged"]
        await asyncio.sleep(1.1)
        status, answer = await call(http, "POST", f"{operated}/api/v1/jobs/purge?older_than_s=1")
        assert status == 202 and old in answer["purged"]
        deadline = time.monotonic() + 20
        while True:
            async with http.get(f"{operated}/api/v1/jobs/{old}") as response:
                if response.status == 404:
                    break
            assert time.monotonic() < deadline, "the purged job is still there"
            await asyncio.sleep(0.3)


async def test_the_workers_and_the_partitions_each_owns(operated: str) -> None:
    async with aiohttp.ClientSession() as http:
        status, group = await call(http, "GET", f"{operated}/api/v1/workers")
    assert status == 200 and group["state"] == "Stable"
    (member,) = group["members"]
    requests = next(topic for topic in member["partitions"] if topic.endswith("mint-requests"))
    assert member["partitions"][requests] == list(range(8))
