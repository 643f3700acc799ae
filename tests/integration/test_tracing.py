"""Traces on a real stack (LANTERN_TRACE_EXPORTER=file): one trace per job, from the API's
submission through split, every render task, assemble and pin, each span naming the job; and
nothing written at all with tracing off (the default)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from lantern.processes import free_port

from .conftest import lantern_env, running_stack
from .test_pipeline import WALLET, submit, wait_done

pytestmark = pytest.mark.integration


def spans(folder: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted(folder.glob("*.jsonl")):
        found += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return found


async def test_one_trace_follows_a_job_from_post_to_pinned(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    name = f"traced{os.getpid()}"
    traces = tmp_path_factory.mktemp("traces")
    env = {
        **lantern_env(kafka_bootstrap, name, free_port(), tmp_path_factory.mktemp("ipfs")),
        "LANTERN_TRACE_EXPORTER": "file",
        "LANTERN_TRACE_DIR": str(traces),
    }
    body = {"settings": {}, "options": {"size": 64, "frames": 30}, "wallet": WALLET}
    with running_stack(env, name=name) as base:
        async with aiohttp.ClientSession() as http:
            job_id = await submit(http, base, body)
            job, _ = await wait_done(http, base, job_id)
            assert job["state"] == "completed"
    ours = [s for s in spans(traces) if s["attributes"].get("lantern.job_id") == job_id]
    by_name: dict[str, list[dict[str, Any]]] = {}
    for found in ours:
        by_name.setdefault(found["name"], []).append(found)
    assert {"submit", "split", "render", "assemble", "pin"} <= by_name.keys(), by_name.keys()
    assert len(by_name["render"]) == 3  # 30 frames, 10 a task
    assert len({s["context"]["trace_id"] for s in ours}) == 1  # one trace for the job
    (submitted,) = by_name["submit"]
    assert submitted["resource"]["attributes"]["service.name"] == "lantern-api"
    assert submitted["parent_id"] is None
    for stage in ("split", "render", "assemble", "pin"):
        for found in by_name[stage]:
            assert found["parent_id"] == submitted["context"]["span_id"], found
            assert found["resource"]["attributes"]["service.name"] == "lantern-worker"
            assert found["attributes"]["lantern.attempt"] == 1


async def test_tracing_is_off_by_default(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    name = f"untraced{os.getpid()}"
    env = {
        **lantern_env(kafka_bootstrap, name, free_port(), tmp_path_factory.mktemp("ipfs")),
        "LANTERN_TRACE_DIR": str(tmp_path / "traces"),  # where it would write, were it on
    }
    body = {"settings": {}, "options": {"size": 64, "frames": 4}, "wallet": WALLET}
    with running_stack(env, name=name) as base:
        async with aiohttp.ClientSession() as http:
            job, _ = await wait_done(http, base, await submit(http, base, body))
            assert job["state"] == "completed"
    assert not (tmp_path / "traces").exists()
