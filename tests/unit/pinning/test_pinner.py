"""The local backend through the Pinner: CIDs against the JS reference, aliases, limits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pinning import ContentNotFound, LocalStore, Pinner, PinTooLarge, compute_cid
from pinning.backends import LocalBackend

from .conftest import REFERENCE_SIZES


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> LocalStore:
    return LocalStore(tmp_path_factory.mktemp("store"))


@pytest.mark.parametrize("name", list(REFERENCE_SIZES))
async def test_local_pins_match_reference(
    name: str,
    cid_version: int,
    expected: dict[str, str],
    reference_files: dict[str, Path],
    store: LocalStore,
) -> None:
    # 0 B, 1 B, 256 KiB ± 1, 5 MB, 50 MB and the tree-level boundaries, CIDv0 and CIDv1:
    # what Lantern reports through the local backend is what npm's importer gives.
    stored = store.put_file(reference_files[name], content_type="application/octet-stream")
    pinner = Pinner(store, LocalBackend(store), cid_version=cid_version)
    result = await pinner.pin_stored(stored, name=name)
    assert result.cid == expected[name]
    assert result.size == REFERENCE_SIZES[name]
    # Served under the reported CID too (a CIDv1 is a hard link to the CIDv0 file).
    assert store.size(result.cid) == REFERENCE_SIZES[name]
    assert store.content_type(result.cid) == "application/octet-stream"


async def test_alias_is_a_link_not_a_copy(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    data = b"GIF89a" * 1000
    pinner = Pinner(store, LocalBackend(store), cid_version=1)
    result = await pinner.pin_bytes(data, content_type="image/gif", name="a.gif")
    v0 = compute_cid(data)
    assert result.cid == compute_cid(data, cid_version=1)
    assert store.path(result.cid).stat().st_ino == store.path(v0).stat().st_ino
    # Idempotent: a second pin adds nothing, leaves no temporary files.
    await pinner.pin_bytes(data, content_type="image/gif", name="a.gif")
    assert sorted(os.listdir(tmp_path)) == sorted(
        [v0, f"{v0}.json", result.cid, f"{result.cid}.json"]
    )


async def test_missing_content(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    pinner = Pinner(store, LocalBackend(store))
    with pytest.raises(ContentNotFound):
        await pinner.pin_stored(compute_cid(b"never stored"), name="x")


async def test_size_limit(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    pinner = Pinner(store, LocalBackend(store), max_bytes=10)
    await pinner.pin_bytes(b"0123456789", content_type="text/plain", name="ten")
    with pytest.raises(PinTooLarge) as caught:
        await pinner.pin_bytes(b"0123456789!", content_type="text/plain", name="eleven")
    assert (caught.value.size, caught.value.limit) == (11, 10)
    assert not caught.value.retryable
