"""``GET /api/v1/preview.png``: one small frame of the artwork, for the creator page's live preview.

The settings travel in the query string as dotted paths of the settings JSON
(``?flowFields.lineDensity=0.2&contour.enabled=false&flowField.color1=%23ff0000``); values are
read as JSON scalars (``true``, ``0.2``, ``5``) or else as strings. Validation is the POST's:
a bad value answers 422 naming ``settings.<path>``. Two more keys choose the picture: ``size``
(64–512, default 256) and ``frame`` (0–99 of the default 100-frame loop, default 0).

Frames are rendered off the event loop, in the app's ``PreviewPool`` of worker processes when
its cleanup context ``preview_pool`` runs (else in threads), and kept in an LRU keyed by a
hash of the normalised settings, so a slider dragged back and forth or two dialects of the same
settings cost one render. Renders are bounded (``ApiSettings``): ``preview_concurrency`` at once,
``preview_queue`` more waiting for a slot, beyond that 429 with ``Retry-After``; each client
address may start ``preview_rate_per_min`` new renders a minute (cache hits, 304s and joining a
render already in flight are free). A render nobody waits for any more (every client went away
while it was queued) leaves the queue; one already running finishes and is cached.

Query values are read in one linear pass (no backtracking pattern), and a value or key longer
than ``preview_max_value_chars`` is refused with 422 before anything else reads it.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import multiprocessing
import os
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from aiohttp import web
from PIL import Image

from pinning.metadata import RENDERER_VERSION
from render import Gen1Settings, RenderOptions, SettingsError, render_frame
from render.errors import FieldError

from .errors import ApiError, invalid
from .keys import SETTINGS
from .limits import RateLimiter

T = TypeVar("T")
PREVIEW_NICENESS = 10  # added to the preview processes' niceness (jobs render at 0)

__all__ = ["PREVIEW_POOL", "PreviewCache", "PreviewPool", "Previews", "preview_pool"]

log = logging.getLogger(__name__)

DEFAULT_SIZE = 256
MAX_SIZE = 512  # a preview, not a render: full-size frames are the pipeline's job
FRAMES = 100  # the frame index is taken on the default loop, as the job renders it
MAX_VALUE_CHARS = 64  # a query value or key longer than this is refused (ApiSettings' default)
_RESERVED = frozenset({"size", "frame"})
_DIGITS = frozenset("0123456789")  # ASCII only: str.isdigit() also takes "²" and "٣"
_BUSY_RETRY_S = 2  # Retry-After when every slot and queue place is taken
_POLL_S = 0.1  # how often a waiting request looks whether its client is still connected


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


class PreviewPool:
    """Preview renders in ``workers`` processes of their own (forkserver: no copy of the API's
    threads or sockets), so a render's CPU time never holds the API's interpreter (GIL)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.executor = self._new()

    def _new(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["api.preview"])  # numpy and the renderer, imported once
        return ProcessPoolExecutor(
            max_workers=self.workers, mp_context=context, initializer=_lower_priority
        )

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker process; a crashed pool is replaced (and this call 503s)."""
        executor = self.executor
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)
        except BrokenProcessPool:
            if self.executor is executor:
                log.warning("preview render pool broke; starting a new one")
                self.executor = self._new()
                executor.shutdown(wait=False, cancel_futures=True)
            raise ApiError(503, "unavailable", "the preview renderer restarted; retry") from None

    def close(self) -> None:
        """Stop the workers; renders not yet started are dropped."""
        self.executor.shutdown(wait=True, cancel_futures=True)


def _lower_priority() -> None:
    """A preview process yields the CPU to the workers' render pools on a shared machine: a
    flood of previews must not slow down the jobs people have submitted."""
    os.nice(PREVIEW_NICENESS)


PREVIEW_POOL = web.AppKey("preview_pool", PreviewPool)


async def preview_pool(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: the preview render processes, for the app's lifetime
    (``app.cleanup_ctx.append(preview_pool)``; without it, or with ``preview_in_processes``
    off, previews render in threads)."""
    api = app[SETTINGS].api
    if not api.preview_in_processes:
        yield
        return
    pool = PreviewPool(max(1, api.preview_concurrency))
    app[PREVIEW_POOL] = pool
    yield
    await asyncio.to_thread(pool.close)


class _Render:
    """One render in flight: its task, how many requests wait for it, whether it has a slot."""

    __slots__ = ("started", "task", "waiters")

    def __init__(self) -> None:
        self.task: asyncio.Task[bytes] | None = None
        self.waiters = 0
        self.started = False  # holds a slot: it runs to the end (a thread cannot be stopped)


class Previews:
    """The preview handler with its cache, its in-flight renders and their bounds.

    The bounds come from the app's ``ApiSettings`` on the first request (the route table makes
    one ``Previews`` per app).
    """

    def __init__(self, cache: PreviewCache | None = None) -> None:
        self.cache = cache or PreviewCache()
        self._inflight: dict[str, _Render] = {}
        self._concurrency = 2
        self._queue = 8
        self._max_chars = MAX_VALUE_CHARS
        self._rates: RateLimiter | None = None  # made on first use, from the app's settings
        self._pool: PreviewPool | None = None  # the app's, if it has one; else threads
        self._slots: asyncio.Semaphore | None = None  # made on first use, in the app's loop

    async def get(self, request: web.Request) -> web.Response:
        """``GET /api/v1/preview.png?…`` → ``image/png`` (422 naming the bad field, 429 busy)."""
        rates = self._configure(request)
        settings, size, frame = parse_query(request.query, self._max_chars)
        key = preview_key(settings, size, frame)
        etag = f'"{key}"'
        headers = {"ETag": etag, "Cache-Control": "public, max-age=86400"}
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        png = self.cache.get(key)
        headers["X-Preview-Cache"] = "hit" if png is not None else "miss"
        if png is None:
            render = self._inflight.get(key)
            if render is None:
                render = self._start(request, rates, key, settings, size, frame)
            png = await self._wait(request, key, render)
        return web.Response(body=png, content_type="image/png", headers=headers)

    def _configure(self, request: web.Request) -> RateLimiter:
        if self._rates is None:
            api = request.app[SETTINGS].api
            self._concurrency = max(1, api.preview_concurrency)
            self._queue = max(0, api.preview_queue)
            self._max_chars = api.preview_max_value_chars
            self._rates = RateLimiter(api.preview_rate_per_min, "address")
            self._pool = request.app.get(PREVIEW_POOL)
        return self._rates

    def _start(
        self,
        request: web.Request,
        rates: RateLimiter,
        key: str,
        settings: Gen1Settings,
        size: int,
        frame: int,
    ) -> _Render:
        """A new render, if there is room and the client is within its rate (else 429)."""
        if len(self._inflight) >= self._concurrency + self._queue:
            raise ApiError(
                429, "busy",
                f"{len(self._inflight)} previews are rendering or waiting; retry shortly",
                headers={"Retry-After": str(_BUSY_RETRY_S)},
            )  # fmt: skip
        try:
            rates.take(request.remote or "unknown")
        except ApiError as exc:  # the limiter speaks of submissions
            raise ApiError(
                429, "rate_limited",
                "too many new previews from this address; "
                f"retry in {(exc.headers or {}).get('Retry-After', '?')}s",
                headers=exc.headers,
            ) from None  # fmt: skip
        render = _Render()
        render.task = asyncio.create_task(self._render(render, key, settings, size, frame))
        render.task.add_done_callback(lambda _: self._forget(key, render))
        self._inflight[key] = render
        return render

    async def _wait(self, request: web.Request, key: str, render: _Render) -> bytes:
        """The render's PNG; leaves (and drops a queued render no one else wants) when the
        client goes away or this handler is cancelled. Never cancels a running render."""
        task = render.task
        assert task is not None
        render.waiters += 1
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=_POLL_S)
                if done:
                    return task.result()
                if request.transport is None or request.transport.is_closing():
                    raise ApiError(499, "client_closed", "the client closed the connection")
        finally:
            render.waiters -= 1
            if render.waiters == 0 and not render.started and not task.done():
                task.cancel()
                self._forget(key, render)  # a new request starts afresh, not on a dying task

    def _forget(self, key: str, render: _Render) -> None:
        if self._inflight.get(key) is render:
            del self._inflight[key]

    async def _render(
        self, render: _Render, key: str, settings: Gen1Settings, size: int, frame: int
    ) -> bytes:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._concurrency)
        async with self._slots:  # waiting here is "queued": cancellable
            render.started = True
            png = await self._run(render_png, settings, size, frame)
        self.cache.put(key, png)
        return png

    async def _run(self, fn: Callable[..., bytes], *args: Any) -> bytes:
        if self._pool is not None:
            return await self._pool.run(fn, *args)
        return await asyncio.to_thread(fn, *args)


def parse_query(query: Any, max_chars: int = MAX_VALUE_CHARS) -> tuple[Gen1Settings, int, int]:
    """Settings, size and frame from the query; 422 listing every bad field (POST's paths).

    A key or value longer than ``max_chars`` is refused before it is read any further.
    """
    problems: list[FieldError] = []
    values: dict[str, list[str]] = {}
    for key, value in query.items():  # one pass: getall() per key would be quadratic
        values.setdefault(key, []).append(value)
    nested: dict[str, Any] = {}
    too_long = f"is longer than {max_chars} characters"
    over_long = 0
    for key, given in values.items():
        path = key if key in _RESERVED else f"settings.{key}"
        if len(key) > max_chars:
            problems.append(FieldError(f"{path[: max_chars + 9]}…", f"key {too_long}"))
            over_long += 1
            continue
        if any(len(v) > max_chars for v in given):
            problems.append(FieldError(path, too_long))
            over_long += 1
            continue
        if key in _RESERVED:
            continue
        if len(given) > 1:
            problems.append(FieldError(path, "is given more than once"))
            continue
        if not _place(nested, key.split("."), _scalar(given[0])):
            problems.append(FieldError(path, "conflicts with another key"))
    if over_long:  # nothing over-long reaches the settings' validation
        raise invalid(sorted(problems, key=lambda e: e.field))
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
    number = _number(text)
    return text if number is None else number


def _number(text: str) -> int | float | None:
    """The number ``text`` spells (``-?(digits[.digits]|.digits)([eE][+-]?digits)?``), or None.

    One left-to-right pass, O(len(text)): a backtracking pattern took seconds on 8,000 digits
    followed by a letter, holding the event loop.
    """
    n, i = len(text), 0
    if i < n and text[i] == "-":
        i += 1
    start = i
    while i < n and text[i] in _DIGITS:
        i += 1
    digits = i - start
    fraction = i < n and text[i] == "."
    if fraction:
        i += 1
        start = i
        while i < n and text[i] in _DIGITS:
            i += 1
        digits += i - start
    if digits == 0:
        return None
    exponent = i < n and text[i] in "eE"
    if exponent:
        i += 1
        if i < n and text[i] in "+-":
            i += 1
        start = i
        while i < n and text[i] in _DIGITS:
            i += 1
        if i == start:
            return None
    if i != n:
        return None
    try:
        return float(text) if fraction or exponent else int(text)
    except ValueError:  # more digits than Python converts: not a usable number anyway
        return None


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
    # ASCII digits: \d would also take "٣٠٠", which int() reads as 300
    if len(raw) == 1 and re.fullmatch(r"[0-9]{1,4}", raw[0]) and lo <= int(raw[0]) <= hi:
        return int(raw[0])
    problems.append(FieldError(name, f"must be an integer between {lo} and {hi}"))
    return default
