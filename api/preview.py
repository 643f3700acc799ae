"""``GET /api/v1/preview.png``: one small frame of the artwork, for the creator page's live preview.

The settings travel in the query string as dotted paths of the settings JSON
(``?flowFields.lineDensity=0.2&contour.enabled=false&flowField.color1=%23ff0000``); values are
read as JSON scalars (``true``, ``0.2``, ``5``) or else as strings. Validation is the POST's:
a bad value answers 422 naming ``settings.<path>``. Two more keys choose the picture: ``size``
(64–512, default 256) and ``frame`` (0–99 of the default 100-frame loop, default 0).

Frames are rendered off the event loop (``asyncio.to_thread``), at most two at a time, and
kept in an LRU keyed by a hash of the normalised settings, so a slider dragged back and forth
or two dialects of the same settings cost one render.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import re
from collections import OrderedDict
from typing import Any

from aiohttp import web
from PIL import Image

from pinning.metadata import RENDERER_VERSION
from render import Gen1Settings, RenderOptions, SettingsError, render_frame
from render.errors import FieldError

from .errors import invalid

__all__ = ["PreviewCache", "Previews"]

DEFAULT_SIZE = 256
MAX_SIZE = 512  # a preview, not a render: full-size frames are the pipeline's job
FRAMES = 100  # the frame index is taken on the default loop, as the job renders it
_RESERVED = frozenset({"size", "frame"})
_NUMBER = re.compile(r"^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


class PreviewCache:
    """A least-recently-used map of preview key → PNG bytes, bounded by entries and bytes."""

    def __init__(self, max_entries: int = 128, max_bytes: int = 32 * 1024 * 1024) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> bytes | None:
        """The PNG for ``key`` (now the most recently used), or None."""
        png = self._items.get(key)
        if png is not None:
            self._items.move_to_end(key)
        return png

    def put(self, key: str, png: bytes) -> None:
        """Remember ``png``; evict the least recently used beyond either bound."""
        if key in self._items:
            self._bytes -= len(self._items.pop(key))
        self._items[key] = png
        self._bytes += len(png)
        while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
            _, evicted = self._items.popitem(last=False)
            self._bytes -= len(evicted)


class Previews:
    """The preview handler with its cache, its in-flight renders and its concurrency bound."""

    def __init__(self, cache: PreviewCache | None = None, concurrency: int = 2) -> None:
        self.cache = cache or PreviewCache()
        self._inflight: dict[str, asyncio.Task[bytes]] = {}
        self._concurrency = concurrency
        self._slots: asyncio.Semaphore | None = None  # made on first use, in the app's loop

    async def get(self, request: web.Request) -> web.Response:
        """``GET /api/v1/preview.png?…`` → ``image/png`` (422 naming the bad field)."""
        settings, size, frame = parse_query(request.query)
        key = preview_key(settings, size, frame)
        etag = f'"{key}"'
        headers = {"ETag": etag, "Cache-Control": "public, max-age=86400"}
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        png = self.cache.get(key)
        headers["X-Preview-Cache"] = "hit" if png is not None else "miss"
        if png is None:
            task = self._inflight.get(key)
            if task is None:
                task = asyncio.create_task(self._render(key, settings, size, frame))
                self._inflight[key] = task
                task.add_done_callback(lambda _: self._inflight.pop(key, None))
            # shielded: a client that gives up (the page aborts stale previews) does not
            # cancel a render that others may be waiting for or that the cache will keep
            png = await asyncio.shield(task)
        return web.Response(body=png, content_type="image/png", headers=headers)

    async def _render(self, key: str, settings: Gen1Settings, size: int, frame: int) -> bytes:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._concurrency)
        async with self._slots:
            png = await asyncio.to_thread(render_png, settings, size, frame)
        self.cache.put(key, png)
        return png


def parse_query(query: Any) -> tuple[Gen1Settings, int, int]:
    """Settings, size and frame from the query; 422 listing every bad field (POST's paths)."""
    problems: list[FieldError] = []
    nested: dict[str, Any] = {}
    for key in set(query.keys()):
        values = query.getall(key)
        if key in _RESERVED:
            continue
        path = f"settings.{key}"
        if len(values) > 1:
            problems.append(FieldError(path, "is given more than once"))
            continue
        if not _place(nested, key.split("."), _scalar(values[0])):
            problems.append(FieldError(path, "conflicts with another key"))
    size = _bounded(query, "size", DEFAULT_SIZE, 64, MAX_SIZE, problems)
    frame = _bounded(query, "frame", 0, 0, FRAMES - 1, problems)
    settings = None
    try:
        settings = Gen1Settings.from_dict(nested)
    except SettingsError as exc:
        problems += [FieldError(f"settings.{e.field}".rstrip("."), e.reason) for e in exc.errors]
    if problems or settings is None:
        raise invalid(sorted(problems, key=lambda e: e.field))
    return settings, size, frame


def preview_key(settings: Gen1Settings, size: int, frame: int) -> str:
    """A hash of the normalised settings and the picture's size and frame (and the renderer)."""
    canonical = json.dumps(
        {"settings": settings.to_dict(), "size": size, "frame": frame, "v": RENDERER_VERSION},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def render_png(settings: Gen1Settings, size: int, frame: int) -> bytes:
    """Frame ``frame`` of the default loop at ``size``², as PNG (blocking: run it in a thread)."""
    pixels = render_frame(settings, RenderOptions(size=size, frames=FRAMES), frame)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG", compress_level=3)
    return out.getvalue()


def _scalar(text: str) -> object:
    """A query value as the JSON scalar it spells (true, false, a number), else the string."""
    if text in ("true", "false"):
        return text == "true"
    if _NUMBER.match(text):
        try:
            return int(text) if "." not in text and "e" not in text.lower() else float(text)
        except ValueError:  # more digits than Python converts: not a usable number anyway
            return text
    return text


def _place(tree: dict[str, Any], parts: list[str], value: object) -> bool:
    """Set ``tree[p0][p1]…`` = value; False when a key is both a value and an object."""
    for part in parts[:-1]:
        node = tree.setdefault(part, {})
        if not isinstance(node, dict):
            return False
        tree = node
    if parts[-1] in tree:
        return False
    tree[parts[-1]] = value
    return True


def _bounded(
    query: Any, name: str, default: int, lo: int, hi: int, problems: list[FieldError]
) -> int:
    raw = query.getall(name, [])
    if not raw:
        return default
    if len(raw) == 1 and re.fullmatch(r"\d{1,4}", raw[0]) and lo <= int(raw[0]) <= hi:
        return int(raw[0])
    problems.append(FieldError(name, f"must be an integer between {lo} and {hi}"))
    return default
