"""CIDs: their binary layout, their string forms, and validation of CID strings from outside.

Every CID Lantern makes hashes with sha2-256. A CIDv0 is the bare multihash written in
base58btc ("Qm…"); a CIDv1 is varint(1) + varint(codec) + multihash written in lowercase
base32 without padding behind the multibase prefix "b" ("bafy…" for dag-pb, "bafk…" for raw).
See https://github.com/multiformats/cid.
"""

from __future__ import annotations

import base64
import re

from pinning.errors import InvalidCid

__all__ = ["DAG_PB", "RAW", "cid_bytes", "cid_string", "validate_cid"]

# Multicodec table codes (https://github.com/multiformats/multicodec/blob/master/table.csv).
DAG_PB = 0x70
RAW = 0x55
_SHA2_256 = 0x12
_SHA2_256_LENGTH = 32
_MULTIHASH_PREFIX = bytes((_SHA2_256, _SHA2_256_LENGTH))

_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {char: value for value, char in enumerate(_B58_ALPHABET)}

# A CIDv0 is a 34-byte sha2-256 multihash: 46 base58 characters, always starting "Qm".
# A CIDv1 here is 36 bytes (version, codec, multihash): 58 base32 characters after the "b".
_CID_V0 = re.compile(r"Qm[1-9A-HJ-NP-Za-km-z]{44}")
_CID_V1 = re.compile(r"b[a-z2-7]{58}")


def cid_bytes(digest: bytes, *, version: int, codec: int) -> bytes:
    """Binary CID of a sha2-256 digest: bare multihash (v0) or version + codec + multihash (v1)."""
    if len(digest) != _SHA2_256_LENGTH:
        raise ValueError(f"expected a {_SHA2_256_LENGTH}-byte sha2-256 digest, got {len(digest)}")
    if version == 0:
        if codec != DAG_PB:
            raise ValueError("a CIDv0 always names a dag-pb block")
        return _MULTIHASH_PREFIX + digest
    if version == 1:
        # Both codecs we use are below 0x80, so each varint is a single byte.
        return bytes((1, codec)) + _MULTIHASH_PREFIX + digest
    raise ValueError(f"unsupported cid version {version}")


def cid_string(binary: bytes) -> str:
    """Canonical string form of a binary CID: base58btc for v0, "b" + base32 for v1."""
    if binary[:2] == _MULTIHASH_PREFIX:
        return _b58encode(binary)
    return "b" + base64.b32encode(binary).decode("ascii").rstrip("=").lower()


def validate_cid(text: str) -> str:
    """Return `text` if it is a canonical sha2-256 CIDv0/CIDv1 string, else raise InvalidCid.

    Meant for CIDs from outside (a request path): anything accepted is made only of
    base58/base32 characters, so it is safe to use as a file name.
    """
    if _CID_V0.fullmatch(text):
        value = 0
        for char in text:
            value = value * 58 + _B58_INDEX[char]
        if value >> (8 * 34) or value.to_bytes(34, "big")[:2] != _MULTIHASH_PREFIX:
            raise InvalidCid(text, "not a sha2-256 multihash")
        return text
    if _CID_V1.fullmatch(text):
        binary = base64.b32decode(text[1:].upper() + "======")
        if binary[0] != 1 or binary[1] not in (DAG_PB, RAW):
            raise InvalidCid(text, "not a CIDv1 of a dag-pb or raw block")
        if binary[2:4] != _MULTIHASH_PREFIX:
            raise InvalidCid(text, "not a sha2-256 multihash")
        if cid_string(binary) != text:
            raise InvalidCid(text, "non-canonical base32 (trailing bits set)")
        return text
    raise InvalidCid(text, "expected 'Qm' + 44 base58btc or 'b' + 58 lowercase base32 characters")


def _b58encode(data: bytes) -> str:
    value = int.from_bytes(data, "big")
    digits = []
    while value:
        value, digit = divmod(value, 58)
        digits.append(_B58_ALPHABET[digit])
    # Each leading zero byte is written as the zero digit "1".
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(digits))
