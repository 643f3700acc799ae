"""The CID `ipfs add` gives a file: UnixFS over dag-pb, chunked and laid out as Kubo does.

Kubo's defaults (and boxo's balanced builder, mirrored by js `ipfs-unixfs-importer`):

- fixed-size chunks of 256 KiB; an empty file is one empty chunk;
- CIDv0: each chunk is a dag-pb leaf holding UnixFS `Data{Type: File, Data, filesize}`;
  CIDv1 (`--cid-version=1`): each chunk is a raw block (codec 0x55), other nodes CIDv1 dag-pb;
- balanced layout: chunks are grouped in order under parents of at most 174 links, those
  parents grouped again, until one root is left; a one-chunk file is its leaf alone.

Only the CIDs are computed; no block is kept, so memory stays at one chunk plus at most
174 pending links per tree level. The reference for the tests is tests/js/cid.mjs.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from pinning.cid import DAG_PB, RAW, cid_bytes, cid_string

__all__ = ["CHUNK_SIZE", "MAX_LINKS", "CidHasher", "cid_of_file", "compute_cid"]

CHUNK_SIZE = 262_144
MAX_LINKS = 174

# Protobuf keys, (field number << 3) | wire type; wire type 0 is a varint, 2 is length-delimited.
# unixfs.proto `Data`: Type = 1, Data = 2, filesize = 3, blocksizes = 4 (repeated, not packed).
_UNIXFS_TYPE_FILE = b"\x08\x02"  # Type: File
_UNIXFS_DATA = 0x12
_UNIXFS_FILESIZE = 0x18
_UNIXFS_BLOCKSIZE = 0x20
# dag-pb `PBNode`: Data = 1, Links = 2; `PBLink`: Hash = 1, Name = 2, Tsize = 3.
_PBNODE_DATA = 0x0A
_PBNODE_LINK = 0x12
_PBLINK_HASH = 0x0A
_PBLINK_EMPTY_NAME = b"\x12\x00"  # Kubo always writes Name, as ""
_PBLINK_TSIZE = 0x18


@dataclass(frozen=True, slots=True)
class _Node:
    """What a parent needs to know of one child node."""

    cid: bytes  # binary CID
    file_size: int  # bytes of file content below this node (a UnixFS blocksize)
    tsize: int  # serialized size of this node's whole subtree (a dag-pb Tsize)


class CidHasher:
    """Incremental, hashlib-style: feed bytes with `update`, read the root CID with `cid`.

    `chunk_size` and `max_links` default to Kubo's; change them only to test the layout.
    """

    def __init__(
        self, *, cid_version: int = 0, chunk_size: int = CHUNK_SIZE, max_links: int = MAX_LINKS
    ) -> None:
        if cid_version not in (0, 1):
            raise ValueError(f"cid_version must be 0 or 1, got {cid_version}")
        if chunk_size < 1 or max_links < 2:
            raise ValueError("chunk_size must be >= 1 and max_links >= 2")
        self.cid_version = cid_version
        self._chunk_size = chunk_size
        self._max_links = max_links
        self._pending = bytearray()  # the start of the next chunk
        self._chunks = 0
        # _levels[0] holds leaves, _levels[n] parents of height n, not yet given a parent.
        # A level is flushed upward as soon as it is full, so none holds more than max_links.
        self._levels: list[list[_Node]] = [[]]

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes to the file."""
        view = memoryview(data).cast("B")
        if self._pending:
            take = self._chunk_size - len(self._pending)
            self._pending += view[:take]
            view = view[take:]
            if len(self._pending) < self._chunk_size:
                return
            self._add_leaf(self._pending)
            self._pending = bytearray()
        # Whole chunks are hashed straight from the caller's buffer, without a copy.
        while len(view) >= self._chunk_size:
            self._add_leaf(view[: self._chunk_size])
            view = view[self._chunk_size :]
        self._pending += view

    def cid(self) -> str:
        """Root CID of the bytes so far; the hasher stays usable."""
        levels = [list(level) for level in self._levels]
        if self._pending or self._chunks == 0:
            levels[0].append(self._leaf(self._pending))
        height = 0
        while True:
            level = levels[height]
            if height == len(levels) - 1:
                if len(level) == 1:
                    return cid_string(level[0].cid)
                levels.append([])
            if level:
                # Even a lone child gets a parent here, as in the reference: the tree's
                # leaves all sit at the same depth.
                levels[height + 1].append(self._parent(level))
            height += 1

    def _add_leaf(self, chunk: bytes | bytearray | memoryview) -> None:
        self._chunks += 1
        self._levels[0].append(self._leaf(chunk))
        height = 0
        while len(self._levels[height]) == self._max_links:
            if height == len(self._levels) - 1:
                self._levels.append([])
            self._levels[height + 1].append(self._parent(self._levels[height]))
            self._levels[height] = []
            height += 1

    def _leaf(self, chunk: bytes | bytearray | memoryview) -> _Node:
        size = len(chunk)
        if self.cid_version == 1:
            digest = hashlib.sha256(chunk).digest()
            return _Node(cid_bytes(digest, version=1, codec=RAW), size, size)
        # PBNode{Data: UnixFS{Type: File, Data: chunk, filesize: size}}; the UnixFS Data
        # field is left out when empty, filesize is always written (the empty file is
        # 0a 04 08 02 18 00).
        head = _UNIXFS_TYPE_FILE
        if size:
            head += bytes((_UNIXFS_DATA,)) + _varint(size)
        tail = bytes((_UNIXFS_FILESIZE,)) + _varint(size)
        unixfs_size = len(head) + size + len(tail)
        prefix = bytes((_PBNODE_DATA,)) + _varint(unixfs_size) + head
        sha = hashlib.sha256(prefix)
        sha.update(chunk)
        sha.update(tail)
        block_size = len(prefix) + size + len(tail)
        return _Node(cid_bytes(sha.digest(), version=0, codec=DAG_PB), size, block_size)

    def _parent(self, children: list[_Node]) -> _Node:
        file_size = sum(child.file_size for child in children)
        unixfs = [_UNIXFS_TYPE_FILE, bytes((_UNIXFS_FILESIZE,)), _varint(file_size)]
        for child in children:
            unixfs += (bytes((_UNIXFS_BLOCKSIZE,)), _varint(child.file_size))
        data = b"".join(unixfs)
        # dag-pb writes Links (field 2) before Data (field 1), as every implementation does.
        parts: list[bytes] = []
        for child in children:
            link = b"".join(
                (
                    bytes((_PBLINK_HASH,)),
                    _varint(len(child.cid)),
                    child.cid,
                    _PBLINK_EMPTY_NAME,
                    bytes((_PBLINK_TSIZE,)),
                    _varint(child.tsize),
                )
            )
            parts += (bytes((_PBNODE_LINK,)), _varint(len(link)), link)
        parts += (bytes((_PBNODE_DATA,)), _varint(len(data)), data)
        block = b"".join(parts)
        digest = hashlib.sha256(block).digest()
        tsize = len(block) + sum(child.tsize for child in children)
        return _Node(cid_bytes(digest, version=self.cid_version, codec=DAG_PB), file_size, tsize)


def compute_cid(data: bytes | bytearray | memoryview, *, cid_version: int = 0) -> str:
    """CID that `ipfs add` (or `ipfs add --cid-version=1`) gives these bytes."""
    hasher = CidHasher(cid_version=cid_version)
    hasher.update(data)
    return hasher.cid()


def cid_of_file(path: str | os.PathLike[str], *, cid_version: int = 0) -> str:
    """CID that `ipfs add` gives the file at `path`, read one chunk at a time."""
    hasher = CidHasher(cid_version=cid_version)
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as file:
        while read := file.readinto(buffer):
            hasher.update(view[:read])
    return hasher.cid()


def _varint(value: int) -> bytes:
    """Unsigned LEB128, the protobuf and multiformats varint."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
