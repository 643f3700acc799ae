"""``GET /api/v1/jobs/{id}/events``: the job's status as Server-Sent Events until it is terminal."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from api import events
from api.app import create_app
from api.jobs import JobView
from api.keys import JOBS
from lantern.settings import Settings

ClientFactory = Any
JOB = "0123456789abcdef0123456789abcdef"


@pytest.fixture
async def app_client(
    aiohttp_client: ClientFactory, settings: Settings
) -> tuple[web.Application, TestClient]:
    app: web.Application = create_app(settings)
    client: TestClient = await aiohttp_client(app)
    return app, client


def status(state: str, progress: int, detail: str = "", **extra: Any) -> dict[str, Any]:
    now = time.time()
    return {
        "job_id": JOB,
        "state": state,
        "progress": progress,
        "stage": "render",
        "detail": detail,
        "created_at": now,
        "updated_at": now,
        **extra,
    }


async def change(view: JobView, job: dict[str, Any]) -> None:
    """What the changelog consumer does: store the status, wake the waiters."""
    view.jobs[job["job_id"]] = job
    view.notify([job["job_id"]])


async def next_event(response: Any) -> dict[str, Any] | str:
    """The next event's JSON, or the comment text for a keep-alive."""
    lines: list[str] = []
    while True:
        raw = await asyncio.wait_for(response.content.readline(), 5)
        line = raw.decode().rstrip("\n")
        if line == "" and lines:
            break
        if line:
            lines.append(line)
    data = [line[5:].strip() for line in lines if line.startswith("data:")]
    if data:
        result: dict[str, Any] = json.loads("\n".join(data))
        return result
    return "\n".join(lines)


async def test_unknown_job_is_404_json(app_client: tuple[web.Application, TestClient]) -> None:
    _, client = app_client
    response = await client.get(f"/api/v1/jobs/{JOB}/events")
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"


async def test_malformed_id_is_404(app_client: tuple[web.Application, TestClient]) -> None:
    _, client = app_client
    assert (await client.get("/api/v1/jobs/nope/events")).status == 404


async def test_streams_each_change_then_ends_after_the_terminal_state(
    app_client: tuple[web.Application, TestClient],
) -> None:
    app, client = app_client
    view = app[JOBS]
    view.accept(status("queued", 0, "queued"))
    response = await client.get(f"/api/v1/jobs/{JOB}/events")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["Cache-Control"].startswith("no-cache")
    assert await next_event(response) == "retry: 2000"

    first = await next_event(response)
    same_as_get = await (await client.get(f"/api/v1/jobs/{JOB}")).json()
    assert first == same_as_get
    assert isinstance(first, dict) and first["state"] == "queued"

    await change(view, status("rendering", 38, "50/100 frames"))
    second = await next_event(response)
    assert isinstance(second, dict)
    assert (second["state"], second["progress"], second["detail"]) == (
        "rendering",
        38,
        "50/100 frames",
    )

    result = {"gif_cid": "Qm1", "metadata_cid": "Qm2", "token_uri": "ipfs://Qm2"}
    await change(view, status("completed", 100, "done", result=result))
    last = await next_event(response)
    assert isinstance(last, dict) and last["state"] == "completed"
    assert last["result"] == result
    assert await asyncio.wait_for(response.content.read(), 5) == b""  # the stream ended


async def test_a_failed_job_ends_the_stream_with_its_plain_reason(
    app_client: tuple[web.Application, TestClient],
) -> None:
    app, client = app_client
    failed = status("failed", 6, "failed", error="RenderError: /srv/x.py: boom")
    app[JOBS].accept({**failed, "reason": "the artwork could not be rendered"})
    response = await client.get(f"/api/v1/jobs/{JOB}/events")
    await next_event(response)  # retry
    event = await next_event(response)
    assert isinstance(event, dict) and event["error"] == "the artwork could not be rendered"
    assert "boom" not in json.dumps(event)  # the full reason is for operators only
    assert await asyncio.wait_for(response.content.read(), 5) == b""


async def test_keep_alive_comments_while_nothing_changes(
    app_client: tuple[web.Application, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "KEEPALIVE_S", 0.1)
    app, client = app_client
    app[JOBS].accept(status("queued", 0))
    response = await client.get(f"/api/v1/jobs/{JOB}/events")
    await next_event(response)  # retry
    await next_event(response)  # the status
    assert await next_event(response) == ": keep-alive"
    assert await next_event(response) == ": keep-alive"
    response.close()


async def test_other_jobs_changing_sends_nothing_new(
    app_client: tuple[web.Application, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "KEEPALIVE_S", 0.3)
    app, client = app_client
    view = app[JOBS]
    view.accept(status("rendering", 10, "10/100 frames"))
    response = await client.get(f"/api/v1/jobs/{JOB}/events")
    await next_event(response)
    await next_event(response)
    other = {**status("queued", 0), "job_id": "f" * 32}
    await change(view, other)
    # the other job's change does not concern this stream: the next thing said is a keep-alive
    assert await next_event(response) == ": keep-alive"
    response.close()


async def test_the_stream_ends_when_the_job_is_cleaned_up(
    app_client: tuple[web.Application, TestClient],
) -> None:
    app, client = app_client
    view = app[JOBS]
    view.accept(status("rendering", 10))
    response = await client.get(f"/api/v1/jobs/{JOB}/events")
    await next_event(response)
    await next_event(response)
    view.jobs.pop(JOB)
    view.notify([JOB])
    assert await asyncio.wait_for(response.content.read(), 5) == b""


async def test_a_waiter_wakes_for_its_own_job_only(
    app_client: tuple[web.Application, TestClient],
) -> None:
    app, _ = app_client
    view = app[JOBS]
    waiting = asyncio.ensure_future(view.wait_changed(JOB, 5.0))
    await asyncio.sleep(0.05)
    view.notify(["f" * 32])
    await asyncio.sleep(0.05)
    assert not waiting.done()
    view.notify([JOB])
    await asyncio.wait_for(waiting, 1.0)
    assert view._waiters == {}  # nothing left behind per job
