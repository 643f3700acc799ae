"""Request bodies to domain objects, with a 4xx naming the field for anything wrong."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from eth_utils.address import is_checksum_address, to_checksum_address

from render import Gen1Settings, RenderOptions, SettingsError
from render.errors import FieldError

from .errors import ApiError, invalid

__all__ = ["MintBody", "parse_mint_body", "read_json", "validate_wallet"]

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


@dataclass(frozen=True)
class MintBody:
    """A valid mint request: normalised settings, options and a checksummed wallet."""

    settings: Gen1Settings
    options: RenderOptions
    wallet: str


MAX_DEPTH = 16  # a mint body nests three levels; anything deeper is not one


async def read_json(request: web.Request, max_bytes: int, timeout: float = 10.0) -> Any:
    """The body as JSON: 415 if not declared JSON, 413 if too large, 400 if malformed, 408 if
    it is not in whole within ``timeout`` seconds (a client trickling bytes holds no slot)."""
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media", "send the body as application/json")
    if request.content_length is not None and request.content_length > max_bytes:
        raise ApiError(413, "too_large", f"the body exceeds {max_bytes} bytes")
    try:
        async with asyncio.timeout(timeout):
            raw = await _read_at_most(request, max_bytes)
    except TimeoutError as exc:
        raise ApiError(408, "body_timeout", f"the body did not arrive within {timeout:g}s") from exc
    try:
        body = json.loads(raw)
    except RecursionError as exc:
        raise ApiError(400, "bad_json", f"the body nests deeper than {MAX_DEPTH} levels") from exc
    except ValueError as exc:  # malformed, not UTF-8, or an integer of thousands of digits
        raise ApiError(400, "bad_json", f"the body is not valid JSON: {exc}") from exc
    if _depth(body) > MAX_DEPTH:
        raise ApiError(400, "bad_json", f"the body nests deeper than {MAX_DEPTH} levels")
    return body


async def _read_at_most(request: web.Request, max_bytes: int) -> bytes:
    """The whole body, however it arrives (segments, chunks); 413 past ``max_bytes``.

    ``StreamReader.read(n)`` returns what is buffered, not ``n`` bytes: read until the end.
    """
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(max_bytes + 1 - size):
        size += len(chunk)
        if size > max_bytes:
            raise ApiError(413, "too_large", f"the body exceeds {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _depth(value: Any) -> int:
    """How deep ``value`` nests (an iterative walk: no recursion for hostile input)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, level + 1))
        deepest = max(deepest, level)
    return deepest


def validate_wallet(value: object, field: str) -> str:
    """An EIP-55 address: all-lower/upper hex is accepted and checksummed, mixed case checked."""
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):  # no trailing newline
        raise invalid([FieldError(field, "must be a 0x address of 40 hex digits")])
    body = value[2:]
    if body != body.lower() and body != body.upper() and not is_checksum_address(value):
        raise invalid([FieldError(field, "fails its EIP-55 checksum (mixed case)")])
    return str(to_checksum_address(value))


def parse_mint_body(
    body: Any, *, wallet_field: str = "wallet", allowed: frozenset[str] | None = None
) -> MintBody:
    """``{settings, options?, wallet}`` validated; every bad field is reported at once."""
    if not isinstance(body, dict):
        raise invalid([FieldError("", "must be a JSON object")])
    allowed = allowed or frozenset({"settings", "options", wallet_field})
    problems = [FieldError(k, "unknown field") for k in body if k not in allowed]
    settings = options = None
    try:
        settings = Gen1Settings.from_dict(body.get("settings", {}))
    except SettingsError as exc:
        problems += [FieldError(_join("settings", e.field), e.reason) for e in exc.errors]
    try:
        options = RenderOptions.from_dict(body.get("options", {}))
    except SettingsError as exc:
        problems += [FieldError(_join("options", e.field), e.reason) for e in exc.errors]
    wallet = ""
    if wallet_field not in body:
        problems.append(FieldError(wallet_field, "is required"))
    else:
        try:
            wallet = validate_wallet(body[wallet_field], wallet_field)
        except ApiError as exc:
            problems += [FieldError(d["field"], d["reason"]) for d in exc.details or []]
    if problems or settings is None or options is None:
        raise invalid(problems)
    return MintBody(settings=settings, options=options, wallet=wallet)


def _join(prefix: str, field: str) -> str:
    return f"{prefix}.{field}" if field else prefix
