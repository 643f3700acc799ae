"""Frame blocks between the render and assemble stages, on disk beside the content store.

A claim check: a 512² block is ~130 KB, and sending each through the ``frames`` topic and again
through the assembler's changelog cost more CPU (broker, JSON, base64) than rendering it. The
render process writes the block here and the event carries only its digest; the assembler's
table keeps each run's digests, and reads the blocks back when the job is complete. Workers
share this folder as they share the content store (one machine, or a shared volume).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from render import Gen1Settings, RenderOptions, render_blocks

from .errors import PipelineError

__all__ = ["BlockStore", "render_to_store"]


class BlockStore:
    """Blocks by (job, frame index), each written atomically, checked by digest on read."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, job_id: str, index: int, data: bytes) -> str:
        """Write one block (idempotent: a re-render writes the same bytes); its sha256."""
        folder = self.root / job_id
        folder.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temp, folder / f"{index}.blk")
        return hashlib.sha256(data).hexdigest()

    def get(self, job_id: str, index: int, digest: str) -> bytes:
        """The block, or PipelineError if it is missing or not the bytes announced."""
        path = self.root / job_id / f"{index}.blk"
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise PipelineError(f"frame {index} block missing", job_id=job_id) from exc
        if hashlib.sha256(data).hexdigest() != digest:
            raise PipelineError(f"frame {index} block does not match its digest", job_id=job_id)
        return data

    def drop(self, job_id: str) -> None:
        """Forget every block of the job."""
        shutil.rmtree(self.root / job_id, ignore_errors=True)


def render_to_store(
    root: Path,
    job_id: str,
    settings: Gen1Settings,
    options: RenderOptions,
    palette: bytes,
    start: int,
    stop: int,
) -> list[str]:
    """Render the blocks of frames ``start``..``stop``−1 and store them: their digests. Runs in
    the render pool, so the blocks' bytes never cross back to the worker's event loop."""
    store = BlockStore(root)
    blocks = render_blocks(settings, options, palette, start, stop)
    return [store.put(job_id, start + i, block) for i, block in enumerate(blocks)]
