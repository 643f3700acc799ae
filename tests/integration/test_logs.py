"""JSON logs on a real stack (LANTERN_LOG_FORMAT=json): every line of a job's work names the job,
its stage and attempt; the API's lines of a request, its access-log line included, carry the
request id it answered with."""

from __future__ import annotations

import json
import os
from typing import Any

import aiohttp
import pytest

from lantern.processes import free_port

from .conftest import lantern_env, running_stack, stack_log
from .test_pipeline import WALLET, wait_done

pytestmark = pytest.mark.integration


def json_lines(path: Any) -> list[dict[str, Any]]:
    """The log's JSON lines (faust prints its start-up banner as text to stdout)."""
    lines = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


async def test_json_logs_name_the_job_stage_attempt_and_request(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    name = f"jsonlogs{os.getpid()}"
    env = {
        **lantern_env(kafka_bootstrap, name, free_port(), tmp_path_factory.mktemp("ipfs")),
        "LANTERN_LOG_FORMAT": "json",
    }
    body = {"settings": {}, "options": {"size": 64, "frames": 4}, "wallet": WALLET}
    with running_stack(env, name=name) as base:
        async with aiohttp.ClientSession() as http:
            headers = {"X-Request-Id": "drill-42"}
            async with http.post(f"{base}/api/v1/mints", json=body, headers=headers) as r:
                assert r.status == 202 and r.headers["X-Request-Id"] == "drill-42"
                job_id = (await r.json())["job_id"]
            job, _ = await wait_done(http, base, job_id)
            assert job["state"] == "completed"
            async with http.get(f"{base}/api/v1/jobs/{job_id}") as r:
                generated = r.headers["X-Request-Id"]  # none given: one is made
            assert generated and generated != "drill-42"

    worker = json_lines(stack_log("worker", name))
    assert worker, "the worker wrote no JSON lines"
    about_job = [line for line in worker if job_id in line["message"]]
    assert about_job and all(line.get("job_id") == job_id for line in about_job)
    stages = {line["stage"] for line in worker if line.get("job_id") == job_id}
    assert {"split", "status"} <= stages, stages
    worked = [line for line in worker if line.get("job_id") == job_id and "attempt" in line]
    assert worked and all(line["attempt"] == 1 for line in worked)

    api = json_lines(stack_log("api", name))
    posted = [line for line in api if line.get("request_id") == "drill-42"]
    assert any("POST /api/v1/mints" in line["message"] for line in posted)  # the access log
    assert all(line.get("job_id") == job_id for line in posted if "queued" in line["message"])
    polled = [line for line in api if line.get("request_id") == generated]
    assert polled and polled[-1].get("job_id") == job_id
