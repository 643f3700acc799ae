"""Pin stage: pin the GIF, build and pin its ERC-721 metadata, report the job completed.

The backend (``LANTERN_PIN_BACKEND``: local, pinata, kubo, psa) is built when the stage is
attached, so a misconfigured worker refuses to start. The GIF is already in the content store:
this worker's own when it assembled the job, else the pin backend's node, to which the assembler
added it and from which it is fetched (workers sharing no disk, after a rebalance). So a failed
pin never re-renders anything: a retry pins the stored file again, which content addressing
makes a no-op where it had succeeded.
Metadata is serialised canonically, so the same job always yields the same metadata CID.

Once a job has ended here — reported ``completed``, or dead-lettered (``failed``) — the stage
tells the assembler to forget it: a ``JobEnded`` record (finished or failed) on the ``frames``
topic, keyed by job id, so the agent that owns the job's assembly state deletes it itself.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import faust

from lantern.contract import JobEnded, MintLink, PinRequest
from pinning.backends import create_backend
from pinning.metadata import RENDERER_VERSION, build_metadata, canonical_json
from pinning.pinner import Pinner

from .pipeline import Pipeline

__all__ = ["attach", "create_pinner"]

log = logging.getLogger(__name__)


def create_pinner(pipe: Pipeline) -> Pinner:
    """The worker's pinner: its backend built now, so a misconfigured worker refuses to start."""
    config = pipe.settings.pin
    return Pinner(
        pipe.store,
        create_backend(config, pipe.store),
        cid_version=config.cid_version,
        max_bytes=config.max_bytes,
        deadline_s=config.deadline_s,
        fetch=partial(pipe.shared.fetch, pipe.store, max_bytes=config.max_bytes),
    )


def attach(
    app: faust.App,
    pipe: Pipeline,
    pinner: Pinner,
    chain_events: faust.TopicT,
    token_updates: faust.TopicT,
) -> faust.TopicT:
    """Declare ``pin-requests`` and the agent that pins and completes jobs (each completed job's
    metadata URI goes to ``chain_events``, where its mint will be matched)."""
    partitions = pipe.settings.kafka.partitions
    topic = app.topic(
        pipe.names.pin_requests, key_type=str, value_type=PinRequest, partitions=partitions
    )
    # the assembler's input, where the job's end goes (sent to only, never consumed here)
    frames = app.topic(pipe.names.frames, key_type=str, value_type=None, partitions=partitions)

    @app.agent(topic, name="lantern.pin")
    async def pin(requests: faust.StreamT[PinRequest]) -> None:
        try:
            async for request in requests:
                spec = request.spec
                name = pipe.names.pin_requests
                links = token_updates if request.spec.token_id is not None else chain_events
                work = partial(_pin_and_end, pipe, pinner, frames, links, request)
                outcome = await pipe.guard(
                    "pin", request, work, job_id=spec.job_id, topic=name, key=spec.job_id
                )
                if outcome.final:  # dead-lettered: the job has failed
                    failed = JobEnded(job_id=spec.job_id, how="failed", generation=spec.generation)
                    await pipe.publish(frames, spec.job_id, failed)
        finally:
            await pinner.close()

    return topic


async def _pin_and_end(
    pipe: Pipeline,
    pinner: Pinner,
    frames: faust.TopicT,
    chain_events: faust.TopicT,
    request: PinRequest,
) -> None:
    """Pin the job, link its metadata URI for the chain stage and tell the assembler it has
    finished. All are the guarded work: if a signal cannot be sent, the retry pins nothing new,
    reports completed again (the status fold ignores it) and sends both again."""
    spec = request.spec
    link = await _pin_job(pipe, pinner, request)
    # a new job's URI waits for its mint; a replay's goes to update its token
    await pipe.publish(chain_events, link.metadata_uri, link)
    finished = JobEnded(job_id=spec.job_id, how="finished", generation=spec.generation)
    await pipe.publish(frames, spec.job_id, finished)


@contextlib.asynccontextmanager
async def _counted(pipe: Pipeline, kind: str) -> AsyncIterator[None]:
    """Time one file's pin and count its outcome, by backend and kind."""
    backend = pipe.settings.pin.backend
    started = time.perf_counter()
    try:
        yield
    except Exception:
        pipe.metrics.pin_requests.labels(backend, kind, "error").inc()
        raise
    pipe.metrics.pin_seconds.labels(backend).observe(time.perf_counter() - started)
    pipe.metrics.pin_requests.labels(backend, kind, "ok").inc()


async def _pin_job(pipe: Pipeline, pinner: Pinner, request: PinRequest) -> MintLink:
    spec, backend = request.spec, pipe.settings.pin.backend
    renderer = spec.renderer_version or RENDERER_VERSION
    keyvalues = {
        "job_id": spec.job_id,
        "wallet": spec.wallet,
        "renderer_version": renderer,
    }
    async with _counted(pipe, "image"):
        gif = await pinner.pin_stored(
            request.gif_cid,
            name=f"gen1-{spec.job_id}.gif",
            keyvalues=keyvalues | {"kind": "image"},
            source=request.shared_cid,  # where the assembler added it, for a worker without it
        )
    detail = f"GIF pinned ({backend})"
    await pipe.report(spec.job_id, "pinning", 85, stage="pin", detail=detail, here=True)
    metadata = build_metadata(
        job_id=spec.job_id,
        settings=spec.settings,
        options=spec.options,
        gif_cid=gif.cid,
        gif_size=gif.size,
        external_url=f"{pipe.settings.api.base_url}/jobs/{spec.job_id}",
        token_id=spec.token_id,  # a replay of a minted token is named for it
        renderer_version=renderer,
    )
    async with _counted(pipe, "metadata"):
        meta = await pinner.pin_bytes(
            canonical_json(metadata),
            content_type="application/json",
            name=f"gen1-{spec.job_id}.json",
            keyvalues=keyvalues | {"kind": "metadata"},
        )
    result: dict[str, Any] = {
        "gif_cid": gif.cid,
        "metadata_cid": meta.cid,
        "image_url": pipe.gateway_url(gif.cid),
        "metadata_url": pipe.gateway_url(meta.cid),
        "token_uri": f"ipfs://{meta.cid}",
        "gif_bytes": gif.size,
        "pin_backend": backend,
    }
    await pipe.report(
        spec.job_id, "completed", 100, stage="pin", detail="done", result=result, here=True
    )
    log.info("completed job=%s backend=%s metadata=%s", spec.job_id, backend, meta.cid)
    return MintLink(
        metadata_uri=result["token_uri"],
        job_id=spec.job_id,
        wallet=spec.wallet,
        settings=spec.settings,
        options=spec.options,
        gif_cid=gif.cid,
        gif_size=gif.size,
        token_id=spec.token_id,
        replay_of=spec.replay_of,
        renderer_version=spec.renderer_version,
    )
