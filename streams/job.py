"""The job record every stage after the split carries: the request plus its chosen palette."""

from __future__ import annotations

from typing import Any

import faust

from render import Gen1Settings, RenderOptions

__all__ = ["JobSpec"]


class JobSpec(faust.Record, serializer="json"):
    """What every later stage needs to know of a job: the request plus its chosen palette."""

    job_id: str
    settings: dict[str, Any]
    options: dict[str, Any]
    wallet: str
    palette: str  # 768 bytes as hex: the global colour table every frame is quantized to
    submitted_at: float
    generation: int = 0  # which drive of the job this is (re-drives and retries raise it)
    version: int = 1

    @property
    def frames(self) -> int:
        """How many frames the GIF has."""
        return int(self.options["frames"])

    def parsed(self) -> tuple[Gen1Settings, RenderOptions]:
        """The settings and options as render/ objects."""
        return Gen1Settings.from_dict(self.settings), RenderOptions.from_dict(self.options)
