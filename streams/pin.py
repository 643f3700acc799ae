"""Pin stage: pin the GIF, build and pin its ERC-721 metadata, report the job completed.

The GIF is already in the local content store (the assembler put it there), so a failure here
never re-renders anything. Metadata is serialised canonically, so the same job always yields
the same metadata CID.
"""

from __future__ import annotations

import asyncio
import logging

import faust

from pinning.metadata import build_metadata, canonical_json

from .assemble import PinRequest
from .pipeline import Pipeline

__all__ = ["attach"]

log = logging.getLogger(__name__)


def attach(app: faust.App, pipe: Pipeline) -> faust.TopicT:
    """Declare ``pin-requests`` and the agent that pins and completes jobs."""
    topic = app.topic(
        pipe.names.pin_requests,
        key_type=str,
        value_type=PinRequest,
        partitions=pipe.settings.kafka.partitions,
    )

    @app.agent(topic, name="lantern.pin")
    async def pin(requests: faust.StreamT[PinRequest]) -> None:
        async for request in requests:
            spec = request.spec
            async with pipe.guard(spec.job_id, "pin"):
                if not await asyncio.to_thread(pipe.store.exists, request.gif_cid):
                    raise FileNotFoundError(f"GIF {request.gif_cid} is not in the content store")
                await pipe.report(spec.job_id, "pinning", 85, stage="pin", detail="GIF pinned")
                metadata = build_metadata(
                    job_id=spec.job_id,
                    settings=spec.settings,
                    options=spec.options,
                    gif_cid=request.gif_cid,
                    gif_size=request.gif_size,
                    external_url=f"{pipe.settings.api.base_url}/jobs/{spec.job_id}",
                )
                metadata_cid = await asyncio.to_thread(
                    pipe.store.put, canonical_json(metadata), content_type="application/json"
                )
                result = {
                    "gif_cid": request.gif_cid,
                    "metadata_cid": metadata_cid,
                    "image_url": pipe.gateway_url(request.gif_cid),
                    "metadata_url": pipe.gateway_url(metadata_cid),
                    "token_uri": f"ipfs://{metadata_cid}",
                    "gif_bytes": request.gif_size,
                }
                await pipe.report(
                    spec.job_id, "completed", 100, stage="pin", detail="done", result=result
                )
                log.info("completed job=%s metadata=%s", spec.job_id, metadata_cid)

    return topic
