"""Fixtures for the pinning tests: random bytes and the JS reference (tests/js/cid.mjs)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
JS_DIR = REPO_ROOT / "tests" / "js"
CID_SCRIPT = JS_DIR / "cid.mjs"
ReferenceCids = Callable[..., list[str]]


def _install_hint() -> str:
    return "install the JS reference with `npm --prefix tests/js ci` (needs node >= 20)"


@pytest.fixture(scope="session")
def reference_cids() -> ReferenceCids:
    """Root CIDs from the JS reference for several files in one node run (startup is slow)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"node not found on PATH; {_install_hint()}")
    if not (JS_DIR / "node_modules" / "ipfs-unixfs-importer").is_dir():
        pytest.fail(f"tests/js/node_modules is missing; {_install_hint()}")

    def run(
        paths: Sequence[Path],
        *,
        cid_version: int = 0,
        chunk_size: int | None = None,
        max_links: int | None = None,
    ) -> list[str]:
        args = [node, str(CID_SCRIPT), *map(str, paths), "--cid-version", str(cid_version)]
        if chunk_size is not None:
            args += ["--chunk-size", str(chunk_size)]
        if max_links is not None:
            args += ["--max-links", str(max_links)]
        done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            pytest.fail(f"cid.mjs failed ({done.returncode}): {done.stderr}\n{_install_hint()}")
        cids = done.stdout.split()
        assert len(cids) == len(paths), done.stdout
        return cids

    return run


@pytest.fixture(scope="session")
def random_bytes() -> bytes:
    """50 MB of deterministic pseudo-random bytes; smaller inputs are prefixes of it."""
    return np.random.default_rng(20240611).bytes(50_000_000)


CHUNK = 262_144
# Sizes around every boundary of Kubo's layout: empty, one chunk, one full parent of 174
# leaves, and the first size that needs a second tree level.
REFERENCE_SIZES = {
    "empty": 0,
    "1B": 1,
    "chunk-1": CHUNK - 1,
    "chunk": CHUNK,
    "chunk+1": CHUNK + 1,
    "5MB": 5_000_000,
    "174chunks": 174 * CHUNK,
    "174chunks+1": 174 * CHUNK + 1,
    "50MB": 50_000_000,
}


@pytest.fixture(scope="session")
def reference_files(
    tmp_path_factory: pytest.TempPathFactory, random_bytes: bytes
) -> Iterator[dict[str, Path]]:
    """One file per REFERENCE_SIZES entry (~150 MB in all, removed after the session)."""
    folder = tmp_path_factory.mktemp("reference")
    files = {}
    for name, size in REFERENCE_SIZES.items():
        files[name] = folder / f"{name}.bin"
        files[name].write_bytes(random_bytes[:size])
    yield files
    shutil.rmtree(folder)


@pytest.fixture(scope="session", params=[0, 1], ids=["v0", "v1"])
def cid_version(request: pytest.FixtureRequest) -> int:
    version: int = request.param
    return version


@pytest.fixture(scope="session")
def expected(
    reference_cids: ReferenceCids, reference_files: dict[str, Path], cid_version: int
) -> dict[str, str]:
    """The reference's CID for every reference file, from one node run per CID version."""
    names = list(reference_files)
    cids = reference_cids([reference_files[name] for name in names], cid_version=cid_version)
    return dict(zip(names, cids, strict=True))
