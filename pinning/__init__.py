"""Content addressing and pinning: the CIDs `ipfs add` gives, a local store keyed by them,
pinning backends (local, Pinata, Kubo, the Pinning Service API) and the token metadata."""

from __future__ import annotations

from pinning.backends import PinBackend, create_backend
from pinning.cid import validate_cid
from pinning.errors import (
    CidMismatch,
    ContentNotFound,
    InvalidCid,
    PinConfigError,
    PinError,
    PinRejected,
    PinServiceError,
    PinTooLarge,
    PinUnavailable,
)
from pinning.pinner import Pinner, PinResult
from pinning.store import LocalStore
from pinning.unixfs import CidHasher, cid_of_file, compute_cid

__all__ = [
    "CidHasher",
    "CidMismatch",
    "ContentNotFound",
    "InvalidCid",
    "LocalStore",
    "PinBackend",
    "PinConfigError",
    "PinError",
    "PinRejected",
    "PinResult",
    "PinServiceError",
    "PinTooLarge",
    "PinUnavailable",
    "Pinner",
    "cid_of_file",
    "compute_cid",
    "create_backend",
    "validate_cid",
]
