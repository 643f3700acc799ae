"""Frame blocks between the render and assemble stages, on disk beside the content store.

A claim check: a 512² block is ~130 KB, and sending each through the ``frames`` topic and again
through the assembler's changelog cost more CPU (broker, JSON, base64) than rendering it. The
render process writes the block here and the event carries only its digest; the assembler's
table keeps each run's digests, and reads the blocks back when the job is complete. Workers
share this folder as they share the content store (one machine, or a shared volume).

Job ids and frame indexes come from events, and they name files: every method checks them
(``streams/ids.py``: 32 lowercase hex; an index is an int ≥ 0) and that the path it makes
resolves inside the root, so a forged event fails with a permanent error (dead letter, job
failed) and touches nothing outside the store.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from render import Gen1Settings, RenderOptions, render_blocks

from .errors import PipelineError
from .ids import InvalidJobId, check_job_id

__all__ = ["BlockStore", "InvalidBlockPath", "render_to_store"]


class InvalidBlockPath(InvalidJobId):
    """A block's path would not be inside the store (a bad frame index, a link out): permanent."""


class BlockStore:
    """Blocks by (job, frame index), each written atomically, checked by digest on read."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, job_id: str) -> Path:
        """The job's folder (not created): InvalidJobId unless ``job_id`` is one Lantern makes
        and the folder resolves to a child of the root."""
        folder = self.root / check_job_id(job_id)
        self._inside(folder)
        return folder

    def path(self, job_id: str, index: int) -> Path:
        """Where frame ``index``'s block of the job lies (checked as ``folder``)."""
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise InvalidBlockPath(f"invalid frame index {repr(index)[:40]}", job_id=job_id)
        path = self.folder(job_id) / f"{index}.blk"
        self._inside(path)
        return path

    def has(self, job_id: str, index: int) -> bool:
        """True if frame ``index``'s block file of the job is in the store."""
        return self.path(job_id, index).exists()

    def put(self, job_id: str, index: int, data: bytes) -> str:
        """Write one block (idempotent: a re-render writes the same bytes); its sha256."""
        path = self.path(job_id, index)
        folder = path.parent
        folder.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temp, path)
        return hashlib.sha256(data).hexdigest()

    def get(self, job_id: str, index: int, digest: str) -> bytes:
        """The block, or PipelineError if it is missing or not the bytes announced."""
        path = self.path(job_id, index)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise PipelineError(f"frame {index} block missing", job_id=job_id) from exc
        if hashlib.sha256(data).hexdigest() != digest:
            raise PipelineError(f"frame {index} block does not match its digest", job_id=job_id)
        return data

    def drop(self, job_id: str) -> None:
        """Forget every block of the job."""
        shutil.rmtree(self.folder(job_id), ignore_errors=True)

    def _inside(self, path: Path) -> None:
        """Defence in depth: InvalidBlockPath unless ``path``, links resolved, is under the root
        (a valid job id cannot climb out, but a link planted in the store could lead out)."""
        root = self.root.resolve()
        resolved = path.resolve()
        if resolved == root or not resolved.is_relative_to(root):
            raise InvalidBlockPath(f"block path {path} is outside the block store {root}")


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
    store.folder(job_id)  # a forged job id fails before any rendering, not after
    blocks = render_blocks(settings, options, palette, start, stop)
    return [store.put(job_id, start + i, block) for i, block in enumerate(blocks)]
