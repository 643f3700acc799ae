"""CIDs of files, against the spec vectors and the JS reference importer (tests/js/cid.mjs)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pinning import CidHasher, cid_of_file, compute_cid

from .conftest import REFERENCE_SIZES

ReferenceCids = Callable[..., list[str]]

HELLO = b"hello world\n"


@pytest.mark.parametrize(
    ("cid_version", "cid"),
    [
        (0, "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"),
        (1, "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"),
    ],
)
def test_spec_vector(cid_version: int, cid: str) -> None:
    assert compute_cid(HELLO, cid_version=cid_version) == cid


@pytest.mark.parametrize(
    ("cid_version", "cid"),
    [
        # Well known: `ipfs add` of an empty file; the raw CIDv1 is sha2-256 of nothing.
        (0, "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"),
        (1, "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"),
    ],
)
def test_empty_file(cid_version: int, cid: str) -> None:
    assert compute_cid(b"", cid_version=cid_version) == cid


@pytest.mark.parametrize("name", list(REFERENCE_SIZES))
def test_matches_reference(
    name: str, cid_version: int, expected: dict[str, str], reference_files: dict[str, Path]
) -> None:
    path = reference_files[name]
    assert compute_cid(path.read_bytes(), cid_version=cid_version) == expected[name]
    assert cid_of_file(path, cid_version=cid_version) == expected[name]


def test_cid_v1_prefixes(expected: dict[str, str], cid_version: int) -> None:
    # A one-chunk file is a raw leaf ("bafk"); anything larger has a dag-pb root ("bafy").
    if cid_version == 0:
        assert all(cid.startswith("Qm") for cid in expected.values())
    else:
        assert expected["chunk"].startswith("bafkrei")
        assert expected["chunk+1"].startswith("bafybei")


@pytest.mark.parametrize(
    ("chunk_size", "max_links", "chunks"),
    [
        # Every tree height up to 5 with 3 links per node, each side of every boundary.
        (16, 3, [0, 1, 2, 3, 4, 8, 9, 10, 26, 27, 28, 81, 82, 243, 244]),
        # Kubo's fan-out on tiny chunks: 174**2 + 1 chunks need a third level.
        (16, 174, [174, 175, 174 * 174, 174 * 174 + 1]),
    ],
)
def test_layout_matches_reference(
    chunk_size: int,
    max_links: int,
    chunks: list[int],
    cid_version: int,
    random_bytes: bytes,
    reference_cids: ReferenceCids,
    tmp_path: Path,
) -> None:
    inputs = [random_bytes[: n * chunk_size + extra] for n in chunks for extra in (0, 5)]
    paths = []
    for index, data in enumerate(inputs):
        paths.append(tmp_path / f"{index}.bin")
        paths[-1].write_bytes(data)
    expected = reference_cids(
        paths, cid_version=cid_version, chunk_size=chunk_size, max_links=max_links
    )
    actual = []
    for data in inputs:
        hasher = CidHasher(cid_version=cid_version, chunk_size=chunk_size, max_links=max_links)
        hasher.update(data)
        actual.append(hasher.cid())
    assert actual == expected


def test_update_in_pieces(random_bytes: bytes, cid_version: int) -> None:
    data = random_bytes[: 3 * 262_144 + 1000]
    hasher = CidHasher(cid_version=cid_version)
    # Pieces that straddle chunk boundaries in every way, and empty ones.
    for start, stop in [(0, 0), (0, 1), (1, 262_143), (262_143, 262_145), (262_145, len(data))]:
        hasher.update(data[start:stop])
    assert hasher.cid() == compute_cid(data, cid_version=cid_version)


def test_cid_does_not_consume(cid_version: int) -> None:
    hasher = CidHasher(cid_version=cid_version)
    hasher.update(HELLO)
    assert hasher.cid() == hasher.cid() == compute_cid(HELLO, cid_version=cid_version)
    hasher.update(HELLO)
    assert hasher.cid() == compute_cid(HELLO * 2, cid_version=cid_version)


def test_accepts_buffers() -> None:
    cid = compute_cid(HELLO)
    assert compute_cid(bytearray(HELLO)) == cid
    assert compute_cid(memoryview(b"xx" + HELLO)[2:]) == cid


@pytest.mark.parametrize("cid_version", [-1, 2])
def test_rejects_unknown_cid_version(cid_version: int) -> None:
    with pytest.raises(ValueError, match="cid_version"):
        compute_cid(HELLO, cid_version=cid_version)
