"""A faust schema for topics that carry several kinds of record (``frames``, ``chain-events``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import faust
from faust.exceptions import KeyDecodeError, ValueDecodeError
from faust.types import AppT, Message

__all__ = ["RecordSchema"]


class RecordSchema(faust.Schema[Any, Any]):
    """Values decoded by their ``__faust`` namespace into whichever record it names.

    faust throws a value it cannot decode into the agent's stream, which stops the agent; here
    such a value (a namespace faust does not know, fields missing, not JSON) reaches the agent as
    it is on the wire instead — the parsed JSON, else the bytes — for the agent to judge. A key
    that is not text stays bytes (the agents read what they need from the value).
    """

    def loads_key(
        self,
        app: AppT,
        message: Message,
        *,
        loads: Callable[..., Any] | None = None,
        serializer: Any = None,
    ) -> Any:
        """The key as text, or as the bytes it is."""
        try:
            return super().loads_key(app, message, loads=loads, serializer=serializer)
        except KeyDecodeError:
            return message.key

    def loads_value(
        self,
        app: AppT,
        message: Message,
        *,
        loads: Callable[..., Any] | None = None,
        serializer: Any = None,
    ) -> Any:
        """The record, or the undecodable value as it is (see the class)."""
        try:
            return super().loads_value(app, message, loads=loads, serializer=serializer)
        except ValueDecodeError:
            return _plain(message.value)


def _plain(raw: bytes | None) -> object:
    try:
        return json.loads(raw) if raw is not None else None
    except ValueError:  # not JSON, or not text
        return raw
