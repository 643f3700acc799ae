"""Content addressing: the CIDs `ipfs add` gives, and a local store keyed by them."""

from __future__ import annotations

from pinning.cid import validate_cid
from pinning.errors import ContentNotFound, InvalidCid, PinError
from pinning.store import LocalStore
from pinning.unixfs import CidHasher, cid_of_file, compute_cid

__all__ = [
    "CidHasher",
    "ContentNotFound",
    "InvalidCid",
    "LocalStore",
    "PinError",
    "cid_of_file",
    "compute_cid",
    "validate_cid",
]
