"""Fixtures for the pinning tests: random bytes and the JS reference (tests/js/cid.mjs)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Sequence
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
