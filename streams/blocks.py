"""Frame blocks between the render and assemble stages: carried through Kafka, or on disk.

``LANTERN_STORE_BLOCKS_VIA`` chooses the way (README "Design notes", ``bench/blocks.py``):

- ``kafka`` (the default, works wherever the workers run): the render process returns each
  block's bytes, base64, with its digest (``render_carried``); they travel in the ``frames``
  event, and the assembler keeps them in its changelog-backed table (``encode_run``), so a
  worker taking a partition over recovers them from the changelog like any other state.
- ``disk``: a claim check. The render process writes the block to a folder beside the content
  store (``BlockStore``, ``render_to_store``) and the event carries only its digest; the
  assembler reads the blocks back when the job is complete. Every worker must share that
  folder (one machine, or a shared volume): a worker that does not finds no file.

Either way the assembler checks every block against its digest before it writes the GIF
(``block_of``), and a table entry says which way its run came, so workers configured
differently, or an upgrade from digests-only entries, still assemble.

Job ids and frame indexes come from events, and they name files: every method checks them
(``streams/ids.py``: 32 lowercase hex; an index is an int ≥ 0) and that the path it makes
resolves inside the root, so a forged event fails with a permanent error (dead letter, job
failed) and touches nothing outside the store.
"""

from __future__ import annotations

import base64
import binascii
import errno
import hashlib
import os
import shutil
import stat
import tempfile
from collections import OrderedDict
from pathlib import Path

from render import Gen1Settings, RenderOptions, render_blocks

from .errors import PipelineError
from .ids import InvalidJobId, check_job_id

__all__ = [
    "BlockStore",
    "InvalidBlockPath",
    "block_of",
    "decode_run",
    "encode_run",
    "render_carried",
    "render_to_store",
]


class InvalidBlockPath(InvalidJobId):
    """A block's path would not be inside the store (a bad frame index, a link out): permanent."""


class BlockStore:
    """Blocks by (job, frame index), each written atomically, checked by digest on read.

    A job's folder is checked once (``folder``: it resolves inside the root) and remembered for
    the last ``FOLDERS_KEPT`` jobs; a block file is refused if it is a link, without resolving
    every path (the resolving was 7 % of a worker's CPU, done for every frame, twice).
    """

    FOLDERS_KEPT = 256

    def __init__(self, root: Path) -> None:
        self.root = root
        self._root: Path | None = None  # resolved, once
        self._folders: OrderedDict[str, Path] = OrderedDict()  # job → its checked folder

    def folder(self, job_id: str) -> Path:
        """The job's folder (not created): InvalidJobId unless ``job_id`` is one Lantern makes
        and the folder resolves to a child of the root."""
        folder = self._folders.get(job_id)
        if folder is not None:
            self._folders.move_to_end(job_id)
            return folder
        folder = self.root / check_job_id(job_id)
        self._inside(folder)
        if folder.exists():  # a folder not made yet is checked again when it is
            self._folders[job_id] = folder
            if len(self._folders) > self.FOLDERS_KEPT:
                self._folders.popitem(last=False)
        return folder

    def path(self, job_id: str, index: int) -> Path:
        """Where frame ``index``'s block of the job lies (its folder checked as ``folder``; the
        name is made of a whole number, so it cannot climb out)."""
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise InvalidBlockPath(f"invalid frame index {repr(index)[:40]}", job_id=job_id)
        return self.folder(job_id) / f"{index}.blk"

    def has(self, job_id: str, index: int) -> bool:
        """True if frame ``index``'s block file of the job is in the store."""
        path = self.path(job_id, index)
        try:
            return stat.S_ISREG(os.lstat(path).st_mode)  # a link is no block
        except FileNotFoundError:
            return False

    def indexes(self, job_id: str) -> frozenset[int]:
        """The frames of the job whose block files are in the store (one listing, not a look
        per frame; links and anything else not a block file left out)."""
        try:
            entries = list(os.scandir(self.folder(job_id)))
        except FileNotFoundError:
            return frozenset()
        return frozenset(
            int(entry.name[:-4])
            for entry in entries
            if entry.name.endswith(".blk")
            and entry.name[:-4].isdigit()
            and entry.is_file(follow_symlinks=False)
        )

    def put(self, job_id: str, index: int, data: bytes) -> str:
        """Write one block (idempotent: a re-render writes the same bytes); its sha256."""
        path = self.path(job_id, index)
        _not_a_link(path, job_id)
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
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)  # a link: ELOOP
        except FileNotFoundError as exc:
            raise PipelineError(f"frame {index} block missing", job_id=job_id) from exc
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise  # out of descriptors, an I/O error …: retried, not a forged path
            raise InvalidBlockPath(f"block {path} is a link", job_id=job_id) from exc
        with os.fdopen(fd, "rb") as block:
            data = block.read()
        return _checked(data, digest, job_id, index)

    def drop(self, job_id: str) -> None:
        """Forget every block of the job."""
        folder = self.root / check_job_id(job_id)
        self._inside(folder)  # checked afresh, not from memory: it is about to go
        self._folders.pop(job_id, None)
        shutil.rmtree(folder, ignore_errors=True)

    def _inside(self, path: Path) -> None:
        """Defence in depth: InvalidBlockPath unless ``path``, links resolved, is under the root
        (a valid job id cannot climb out, but a link planted in the store could lead out)."""
        if self._root is None:
            self._root = self.root.resolve()
        root = self._root
        resolved = path.resolve()
        if resolved == root or not resolved.is_relative_to(root):
            raise InvalidBlockPath(f"block path {path} is outside the block store {root}")


def _not_a_link(path: Path, job_id: str) -> None:
    """InvalidBlockPath if a link sits where a block file goes (defence in depth)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode):
        raise InvalidBlockPath(f"block {path} is a link", job_id=job_id)


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


def render_carried(
    settings: Gen1Settings,
    options: RenderOptions,
    palette: bytes,
    start: int,
    stop: int,
) -> tuple[list[str], list[str]]:
    """Render the blocks of frames ``start``..``stop``−1: their digests and their bytes as
    base64, for the ``frames`` event to carry. Runs in the render pool, so hashing and encoding
    stay off the worker's event loop."""
    blocks = render_blocks(settings, options, palette, start, stop)
    digests = [hashlib.sha256(block).hexdigest() for block in blocks]
    return digests, [base64.b64encode(block).decode("ascii") for block in blocks]


# A run in the assembler's table: one item per frame, comma-separated; an item is the block's
# digest, followed by ":" and its bytes in base64 when the block came through Kafka. Neither
# hex nor base64 holds "," or ":", and entries written before blocks travelled (digests
# only) read as blocks on disk.


def encode_run(digests: tuple[str, ...] | list[str], blocks: tuple[str, ...] | list[str]) -> str:
    """The table's value for a run: digests alone (blocks on disk) or with their bytes."""
    if not blocks:
        return ",".join(digests)
    return ",".join(f"{digest}:{block}" for digest, block in zip(digests, blocks, strict=True))


def decode_run(value: str) -> list[tuple[str, str | None]]:
    """(digest, base64 bytes or None when the block is on disk) of each frame of a run."""
    items = []
    for item in value.split(","):
        digest, sep, block = item.partition(":")
        items.append((digest, block if sep else None))
    return items


def block_of(store: BlockStore, job_id: str, index: int, digest: str, carried: str | None) -> bytes:
    """Frame ``index``'s block: decoded from ``carried`` (base64), else read from the block
    store; PipelineError if it is missing, undecodable or not the bytes its digest names."""
    if carried is None:
        return store.get(job_id, index, digest)
    try:
        data = base64.b64decode(carried, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PipelineError(f"frame {index} block is not base64", job_id=job_id) from exc
    return _checked(data, digest, job_id, index)


def _checked(data: bytes, digest: str, job_id: str, index: int) -> bytes:
    if hashlib.sha256(data).hexdigest() != digest:
        raise PipelineError(f"frame {index} block does not match its digest", job_id=job_id)
    return data
