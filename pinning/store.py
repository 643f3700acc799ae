"""A local content-addressed store: each file kept under the CIDv0 `ipfs add` would give it.

Layout under `root`: `<cid>` holds the bytes, `<cid>.json` the metadata
(`{"content_type": …}`); `alias` adds another CID (a CIDv1) for stored bytes as a hard
link. Both are written to a temporary file in `root` and moved in place with `os.replace`,
metadata first, so a reader never sees a partial file and content never
lacks its metadata. Content is immutable: putting bytes that are already there writes
nothing, and processes putting the same bytes at once simply replace one complete copy
with another identical one.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from pinning.cid import validate_cid
from pinning.errors import ContentNotFound, PinError
from pinning.unixfs import CHUNK_SIZE, CidHasher, compute_cid

__all__ = ["LocalStore", "StoreWriter"]

_TEMP_PREFIX = ".tmp-"  # never a valid CID, so never served


class LocalStore:
    """Files on disk, addressed by their CIDv0."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def put(self, data: bytes | bytearray | memoryview, *, content_type: str) -> str:
        """Store `data` and return its CIDv0; a no-op if it is already stored."""
        cid = compute_cid(data)
        if not self.exists(cid):
            self._write_metadata(cid, content_type)
            with _TempFile(self.root) as temp:
                temp.file.write(data)
                temp.commit(self._data_path(cid))
        return cid

    def put_file(self, path: str | os.PathLike[str], *, content_type: str) -> str:
        """Store a copy of the file at `path`, reading it once, chunk by chunk; return its CIDv0."""
        buffer = bytearray(CHUNK_SIZE)
        view = memoryview(buffer)

        def chunks(source: io.RawIOBase) -> Iterator[memoryview]:
            while read := source.readinto(buffer):
                yield view[:read]

        with open(path, "rb", buffering=0) as source:
            cid, _ = self.put_chunks(chunks(source), content_type=content_type)
        return cid

    def put_chunks(
        self, chunks: Iterable[bytes | bytearray | memoryview], *, content_type: str
    ) -> tuple[str, int]:
        """Store the bytes of ``chunks`` in turn, hashing them as they are written (no copy of
        the whole in memory): their CIDv0 and size. If ``chunks`` raises, nothing is stored."""
        writer = self.writer(content_type=content_type)
        try:
            for chunk in chunks:
                writer.write(chunk)
        except BaseException:
            writer.abort()
            raise
        return writer.commit()

    def writer(self, *, content_type: str) -> StoreWriter:
        """A new file to write in turn, over as long as it takes, then ``commit`` under its
        CIDv0 (or ``abort``): ``put_chunks`` spread over time, e.g. a GIF written while its
        frames arrive. Until then its bytes are in a temporary file no reader sees."""
        return StoreWriter(self, content_type)

    def clean_temporary(self, older_than_s: float) -> int:
        """Remove temporary files left by writers that stopped without ``commit`` or ``abort``
        (a process killed meanwhile) and unchanged for ``older_than_s`` seconds: how many."""
        cutoff = time.time() - older_than_s
        removed = 0
        for path in self.root.glob(_TEMP_PREFIX + "*"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:  # committed or removed meanwhile
                continue
        return removed

    def alias(self, cid: str, stored: str) -> None:
        """Make the content stored under ``stored`` reachable as ``cid`` too (its CIDv1).

        The caller vouches that ``cid`` names the same bytes (it computed it from them). The
        alias is a hard link where the filesystem allows, else a copy; a no-op if present.
        """
        if cid == stored or self.exists(cid):
            return
        source = self.path(stored)
        self._write_metadata(cid, self.content_type(stored))
        target = self._data_path(cid)
        with _TempFile(self.root) as temp:
            link = temp.path.with_name(temp.path.name + "-link")  # never a valid CID either
            try:
                os.link(source, link)
            except OSError:  # no hard links here: copy
                with source.open("rb") as file:
                    shutil.copyfileobj(file, temp.file, CHUNK_SIZE)
                temp.commit(target)
                return
            try:
                os.replace(link, target)
            finally:
                link.unlink(missing_ok=True)

    def get(self, cid: str) -> bytes:
        """The stored bytes; raises ContentNotFound."""
        return self.path(cid).read_bytes()

    def path(self, cid: str) -> Path:
        """Where the bytes of `cid` are, e.g. to stream them; raises ContentNotFound."""
        path = self._data_path(cid)
        if not path.is_file():
            raise ContentNotFound(cid)
        return path

    def exists(self, cid: str) -> bool:
        """Whether the store holds `cid`."""
        return self._data_path(cid).is_file()

    def size(self, cid: str) -> int:
        """Size in bytes of the stored content; raises ContentNotFound."""
        return self.path(cid).stat().st_size

    def content_type(self, cid: str) -> str:
        """The media type given when the content was first put; raises ContentNotFound."""
        self.path(cid)
        try:
            metadata = json.loads(self._metadata_path(cid).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            # Metadata is committed before the content, so only damage outside the store
            # gets here.
            raise PinError(f"metadata missing for stored content {cid}") from exc
        content_type: str = metadata["content_type"]
        return content_type

    def _data_path(self, cid: str) -> Path:
        # Validation is what keeps a request path from escaping `root`: a valid CID is made
        # of base58/base32 characters only. Raises InvalidCid.
        return self.root / validate_cid(cid)

    def _metadata_path(self, cid: str) -> Path:
        return self.root / f"{validate_cid(cid)}.json"

    def _write_metadata(self, cid: str, content_type: str) -> None:
        with _TempFile(self.root) as temp:
            temp.file.write(json.dumps({"content_type": content_type}).encode())
            temp.commit(self._metadata_path(cid))


class StoreWriter:
    """Bytes written into the store in turn (``LocalStore.writer``), hashed as they are
    written; ``commit`` stores them under their CIDv0, ``abort`` drops them. Either ends it."""

    def __init__(self, store: LocalStore, content_type: str) -> None:
        self._store = store
        self._content_type = content_type
        self._temp = _TempFile(store.root)
        self._hasher = CidHasher()
        self.size = 0

    def write(self, chunk: bytes | bytearray | memoryview) -> None:
        """Append ``chunk``."""
        self._hasher.update(chunk)
        self._temp.file.write(chunk)
        self.size += memoryview(chunk).nbytes

    def sync(self) -> None:
        """Put what is written so far on disk now: a writer spread over time leaves its
        ``commit`` only the last part to wait for."""
        self._temp.file.flush()
        os.fdatasync(self._temp.file.fileno())

    def commit(self) -> tuple[str, int]:
        """Store what was written: its CIDv0 and size (a no-op if the store holds it)."""
        with self._temp:
            cid = self._hasher.cid()
            if not self._store.exists(cid):
                self._store._write_metadata(cid, self._content_type)
                self._temp.commit(self._store._data_path(cid))
        return cid, self.size

    def abort(self) -> None:
        """Drop what was written."""
        self._temp.__exit__(None, None, None)


class _TempFile:
    """A new file in the store's directory, moved onto its final name by `commit` or else
    removed on exit. Being in the same directory keeps `os.replace` atomic."""

    def __init__(self, directory: Path) -> None:
        fd, name = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=directory)
        self.directory = directory
        self.path = Path(name)
        self.file = os.fdopen(fd, "wb")
        self._committed = False

    def __enter__(self) -> _TempFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.file.close()
        # Once committed the temporary name is free again, maybe reused by another writer.
        if not self._committed:
            self.path.unlink(missing_ok=True)

    def commit(self, target: Path) -> None:
        """Durably replace `target` with this file."""
        # fsync before the rename so a crash cannot leave a complete-looking empty file,
        # and the directory after it so the new name itself survives.
        self.file.flush()
        os.fchmod(self.file.fileno(), 0o644)  # mkstemp makes 0600 files
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.path, target)
        self._committed = True
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
