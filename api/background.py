"""A loop the API runs beside its requests, in a task of its own, from start-up to shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from typing import ClassVar

__all__ = ["BackgroundLoop"]


class BackgroundLoop(ABC):
    """Runs a subclass's ``_run`` as one named task between ``start`` and ``stop``.

    ``_run`` loops until cancelled; it reconnects by itself when its broker goes away, so
    ``start`` returns at once and nothing waits for it but ``stop``.
    """

    task_name: ClassVar[str]
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start ``_run`` in the background."""
        self._task = asyncio.create_task(self._run(), name=self.task_name)

    async def stop(self) -> None:
        """Cancel ``_run`` and wait until it has ended."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @abstractmethod
    async def _run(self) -> None:
        """The loop itself, until cancelled."""
