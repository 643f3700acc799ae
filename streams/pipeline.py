"""What every stage shares: settings, topic names, the content store, the render pool, status.

A ``Pipeline`` is built once per worker (``streams/worker.py``) and handed to each stage's
``attach``. Rendering is synchronous and CPU-bound, so it runs in a process pool that opens when
the worker starts and closes when it stops; agents only await it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import faust

from pinning.store import LocalStore

from .settings import Settings
from .status import StatusEvent
from .topics import TopicNames

__all__ = ["Outcome", "Pipeline"]

log = logging.getLogger(__name__)
R = TypeVar("R")


@dataclass
class Outcome:
    """How a guarded block ended."""

    failed: bool = False


@dataclass
class Pipeline:
    """Shared state of one worker's stages."""

    settings: Settings
    names: TopicNames
    store: LocalStore
    status_topic: faust.TopicT
    pool: Executor | None = None
    _started: float = field(default_factory=time.monotonic)

    async def run(self, fn: Callable[..., R], *args: Any) -> R:
        """Run a synchronous, CPU-bound ``fn`` in the render pool."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    async def report(
        self,
        job_id: str,
        state: str,
        progress: int,
        *,
        stage: str,
        detail: str = "",
        error: str | None = None,
        result: dict[str, Any] | None = None,
    ) -> None:
        """Send one StatusEvent for ``job_id``."""
        event = StatusEvent(
            job_id=job_id,
            state=state,
            progress=progress,
            stage=stage,
            detail=detail,
            error=error,
            result=result,
            at=time.time(),
        )
        await self.status_topic.send(key=job_id, value=event)

    @asynccontextmanager
    async def guard(self, job_id: str, stage: str) -> AsyncIterator[Outcome]:
        """Turn an exception in ``stage`` into the job's ``failed`` status instead of losing it.

        faust acks an event whose agent raised and never redelivers it; without this the job
        would stay in its last state forever.
        """
        outcome = Outcome()
        try:
            yield outcome
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            outcome.failed = True
            log.exception("stage failed job=%s stage=%s", job_id, stage)
            reason = f"{type(exc).__name__}: {exc}"
            await self.report(job_id, "failed", 0, stage=stage, detail="failed", error=reason)

    def gateway_url(self, cid: str) -> str:
        """An HTTP link to ``cid`` through the configured gateway (the API's own by default)."""
        base = self.settings.store.gateway_url or f"{self.settings.api.base_url}/ipfs/"
        return f"{base.rstrip('/')}/{cid}"
