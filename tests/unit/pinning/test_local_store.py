"""LocalStore: round trips, idempotence, bad CIDs and several writer processes."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinning import ContentNotFound, InvalidCid, LocalStore, compute_cid

GIF = b"GIF89a" + bytes(range(256)) * 10
MISSING = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"  # the empty file, never put here


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


def test_round_trip(store: LocalStore) -> None:
    cid = store.put(GIF, content_type="image/gif")
    assert cid == compute_cid(GIF)
    assert store.exists(cid)
    assert store.get(cid) == GIF
    assert store.path(cid).read_bytes() == GIF
    assert store.size(cid) == len(GIF)
    assert store.content_type(cid) == "image/gif"


def test_put_is_idempotent(store: LocalStore) -> None:
    cid = store.put(GIF, content_type="image/gif")
    before = store.path(cid).stat()
    assert store.put(GIF, content_type="application/octet-stream") == cid
    after = store.path(cid).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    # Content is immutable: the first content type stays.
    assert store.content_type(cid) == "image/gif"


def test_content_types_kept_apart(store: LocalStore) -> None:
    gif = store.put(GIF, content_type="image/gif")
    metadata = store.put(b'{"name": "Lantern #1"}', content_type="application/json")
    assert (store.content_type(gif), store.content_type(metadata)) == (
        "image/gif",
        "application/json",
    )


def test_put_file_matches_put(store: LocalStore, tmp_path: Path, random_bytes: bytes) -> None:
    data = random_bytes[: 3 * 262_144 + 7]
    source = tmp_path / "big.gif"
    source.write_bytes(data)
    cid = store.put_file(source, content_type="image/gif")
    assert cid == compute_cid(data)
    assert store.get(cid) == data
    assert store.content_type(cid) == "image/gif"
    assert store.put_file(source, content_type="image/gif") == cid
    assert store.put(data, content_type="image/gif") == cid


def test_empty_content(store: LocalStore) -> None:
    cid = store.put(b"", content_type="text/plain")
    assert (store.get(cid), store.size(cid)) == (b"", 0)


def test_no_temporary_files_left(store: LocalStore, tmp_path: Path) -> None:
    source = tmp_path / "a.gif"
    source.write_bytes(GIF)
    cid = store.put_file(source, content_type="image/gif")
    store.put_file(source, content_type="image/gif")
    store.put(GIF, content_type="image/gif")
    assert sorted(p.name for p in store.root.iterdir()) == [cid, f"{cid}.json"]


@pytest.mark.parametrize("method", ["get", "path", "size", "content_type"])
def test_missing_content(store: LocalStore, method: str) -> None:
    with pytest.raises(ContentNotFound) as caught:
        getattr(store, method)(MISSING)
    assert caught.value.cid == MISSING
    assert not store.exists(MISSING)


def test_cid_v1_is_valid_but_not_held(store: LocalStore) -> None:
    # The store is keyed by CIDv0; a CIDv1 of the same bytes is a different DAG.
    store.put(b"hello world\n", content_type="text/plain")
    with pytest.raises(ContentNotFound):
        store.get("bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4")


@pytest.mark.parametrize(
    "cid", ["", "../etc/passwd", "Qm0OIl" + "1" * 40, f"../{MISSING}", "/etc/passwd", "."]
)
@pytest.mark.parametrize("method", ["get", "path", "size", "content_type", "exists"])
def test_rejects_invalid_cids(store: LocalStore, cid: str, method: str) -> None:
    with pytest.raises(InvalidCid):
        getattr(store, method)(cid)


def test_content_not_found_pickles() -> None:
    copy = pickle.loads(pickle.dumps(ContentNotFound(MISSING)))
    assert (copy.cid, str(copy)) == (MISSING, f"content not found: {MISSING}")


_WRITER = """
import sys, time
from pinning import LocalStore
root, start = sys.argv[1], float(sys.argv[2])
store = LocalStore(root)
payloads = [bytes([i]) * (300_000 + i) for i in range(20)]
while time.time() < start:
    pass
for data in payloads:
    store.put(data, content_type="image/gif")
"""


def test_concurrent_writers(store: LocalStore) -> None:
    # Two processes put the same 20 payloads in the same order from the same instant, so
    # most puts race on one CID (as two workers would after a redelivery).
    start = time.time() + 1.0
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(store.root), str(start)])
        for _ in range(2)
    ]
    assert [writer.wait(timeout=60) for writer in writers] == [0, 0]
    payloads = [bytes([i]) * (300_000 + i) for i in range(20)]
    cids = {compute_cid(data): data for data in payloads}
    names = sorted(os.listdir(store.root))
    assert names == sorted([*cids, *(f"{cid}.json" for cid in cids)])
    for cid, data in cids.items():
        assert store.get(cid) == data
        assert store.content_type(cid) == "image/gif"


def test_put_that_loses_the_race(store: LocalStore, monkeypatch: pytest.MonkeyPatch) -> None:
    # Another process committed the same CID between our exists() check and our rename.
    cid = store.put(GIF, content_type="image/gif")
    monkeypatch.setattr(store, "exists", lambda cid: False)
    assert store.put(GIF, content_type="image/gif") == cid
    assert store.get(cid) == GIF
    assert sorted(p.name for p in store.root.iterdir()) == [cid, f"{cid}.json"]


def test_put_chunks_stores_what_put_would(store: LocalStore, random_bytes: bytes) -> None:
    data = random_bytes[: 2 * 262_144 + 99]
    parts = [data[:5], memoryview(data)[5:300_000], bytearray(data[300_000:])]
    cid, size = store.put_chunks(iter(parts), content_type="image/gif")
    assert (cid, size) == (compute_cid(data), len(data))
    assert store.get(cid) == data and store.content_type(cid) == "image/gif"
    assert store.put(data, content_type="image/gif") == cid


def test_put_chunks_that_fail_store_nothing(store: LocalStore) -> None:
    def parts() -> Iterator[bytes]:
        yield GIF
        raise ValueError("frame 3 block does not match its digest")

    with pytest.raises(ValueError, match="frame 3"):
        store.put_chunks(parts(), content_type="image/gif")
    assert list(store.root.iterdir()) == []  # no content, no metadata, no temporary file


def test_a_writer_spread_over_time_stores_what_put_would(
    store: LocalStore, random_bytes: bytes
) -> None:
    data = random_bytes[: 3 * 262_144 + 7]
    writer = store.writer(content_type="image/gif")
    for start in range(0, len(data), 100_000):
        writer.write(data[start : start + 100_000])
        writer.sync()
        assert not store.exists(compute_cid(data))  # nobody sees it before the commit
    assert writer.commit() == (compute_cid(data), len(data))
    assert (
        store.get(compute_cid(data)) == data
        and store.content_type(compute_cid(data)) == "image/gif"
    )
    assert sorted(p.name for p in store.root.iterdir()) == sorted(
        [compute_cid(data), f"{compute_cid(data)}.json"]
    )


def test_an_aborted_writer_leaves_nothing(store: LocalStore) -> None:
    writer = store.writer(content_type="image/gif")
    writer.write(GIF)
    writer.abort()
    assert list(store.root.iterdir()) == []


def test_only_old_temporary_files_are_cleaned(store: LocalStore) -> None:
    cid = store.put(GIF, content_type="image/gif")
    left = store.writer(content_type="image/gif")  # a writer whose process was killed
    left.write(GIF)
    live = store.writer(content_type="image/gif")
    live.write(GIF)
    stale_path = next(p for p in store.root.iterdir() if p.name.startswith(".tmp-"))
    hour_ago = time.time() - 3600
    for path in store.root.glob(".tmp-*"):
        if path == stale_path:
            os.utime(path, (hour_ago, hour_ago))
    assert store.clean_temporary(older_than_s=600) == 1
    assert not stale_path.exists()
    assert len(list(store.root.glob(".tmp-*"))) == 1  # the live one is left alone
    assert store.get(cid) == GIF  # stored content is never touched
    left.abort()
    live.abort()
    assert list(store.root.glob(".tmp-*")) == []
