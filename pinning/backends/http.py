"""One pinning service's HTTP API: its session, auth header, retries and error translation.

Every backend talks HTTP through a ``Service``. Foreign exceptions (aiohttp's, timeouts) are
translated here, once, into the ``PinServiceError`` tree. A request is retried with exponential
backoff and jitter on timeouts, connection failures, 429 (waiting at least its Retry-After) and
5xx; any other error status is final. Uploads stream from the file, reopened per attempt, so a
file is never held in memory.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import aiohttp

from pinning.errors import PinRejected, PinUnavailable

__all__ = ["RetryPolicy", "Service", "Upload"]

log = logging.getLogger(__name__)

_RETRY_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))
_MAX_MESSAGE = 300  # characters of a provider's error text kept in our message


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a request is retried."""

    attempts: int = 5
    backoff_s: float = 1.0
    backoff_max_s: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed ``attempt`` (1-based): the doubled backoff, jittered
        over its upper half so retries of many workers spread out, but never less than the
        service's Retry-After."""
        ceiling = min(self.backoff_max_s, self.backoff_s * 2.0 ** (attempt - 1))
        jittered = ceiling / 2 + random.uniform(0, ceiling / 2)
        return max(jittered, retry_after or 0.0)


@dataclass(frozen=True)
class Upload:
    """A multipart body: small text fields, then one file streamed from disk."""

    path: Path
    filename: str
    content_type: str
    file_field: str = "file"
    fields: Sequence[tuple[str, str]] = ()


@dataclass
class Service:
    """An HTTP API with a base URL and an optional bearer token, used by one backend."""

    provider: str  # "pinata", "kubo", "psa": names the service in errors and logs
    base_url: str
    token: str = field(default="", repr=False)
    timeout_s: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    _session: aiohttp.ClientSession | None = field(default=None, init=False, repr=False)

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        json_body: Any = None,
        upload: Upload | None = None,
        ok: Sequence[int] = (200,),
        tolerate: Callable[[int, str], bool] | None = None,
    ) -> Any:
        """Send one request, retrying what can succeed later; return the parsed answer.

        The answer is JSON when the service says so, else text (Kubo's ``add`` streams
        JSON lines: they come back as text). ``tolerate(status, message)`` marks error
        answers that mean "already done" (unpinning what is not pinned): they return None.
        """
        url = f"{self.base_url.rstrip('/')}/{path.lstrip('/')}"
        last = ""
        status: int | None = None
        for attempt in range(1, self.retry.attempts + 1):
            retry_after: float | None = None
            try:
                async with self._request(method, url, params, json_body, upload) as response:
                    status = response.status
                    if status in ok:
                        return await _answer(response)
                    last = _scrub(await _error_message(response), self.token)
                    if tolerate is not None and tolerate(status, last):
                        return None
                    if status not in _RETRY_STATUSES:
                        raise PinRejected(self.provider, f"{method} {path}: {last}", status)
                    retry_after = _retry_after(response.headers.get("Retry-After"))
            except (TimeoutError, aiohttp.ServerTimeoutError):
                status, last = None, f"no answer within {self.timeout_s:g}s"
            except aiohttp.ClientError as exc:
                status, last = None, _scrub(f"{type(exc).__name__}: {exc}", self.token)
            if attempt == self.retry.attempts:
                break
            delay = self.retry.delay(attempt, retry_after)
            log.warning(
                "pin retry provider=%s call=%s attempt=%d status=%s delay=%.2fs: %s",
                self.provider, f"{method} {path}", attempt, status, delay, last,
            )  # fmt: skip
            await self.sleep(delay)
        noun = "attempt" if self.retry.attempts == 1 else "attempts"
        message = f"{method} {path} failed after {self.retry.attempts} {noun}: {last}"
        raise PinUnavailable(self.provider, message, status)

    async def close(self) -> None:
        """Close the connection pool (the service can still be used: it reopens)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    @asynccontextmanager
    async def _request(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | Sequence[tuple[str, str]] | None,
        json_body: Any,
        upload: Upload | None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """One attempt; an upload's file is open only while it runs."""
        with ExitStack() as files:
            data = files.enter_context(_form(upload)) if upload is not None else None
            async with self.session().request(
                method, url, params=params, json=json_body, data=data
            ) as response:
                yield response

    def session(self) -> aiohttp.ClientSession:
        """The pooled session, opened on first use (it needs the running loop)."""
        if self._session is None or self._session.closed:
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            # No total limit: an upload of many MB may take long while data flows; a stall
            # (no byte for timeout_s) is what fails an attempt. The pin's deadline bounds it all.
            timeout = aiohttp.ClientTimeout(
                total=None, connect=self.timeout_s, sock_read=self.timeout_s
            )
            self._session = aiohttp.ClientSession(headers=headers, timeout=timeout)
        return self._session


@contextmanager
def _form(upload: Upload) -> Iterator[aiohttp.FormData]:
    """The multipart body; aiohttp reads the file in 64 KiB pieces while sending."""
    with open(upload.path, "rb") as file:
        form = aiohttp.FormData()
        for name, value in upload.fields:
            form.add_field(name, value, content_type="application/json")
        form.add_field(
            upload.file_field, file, filename=upload.filename, content_type=upload.content_type
        )
        yield form


async def _answer(response: aiohttp.ClientResponse) -> Any:
    text = await response.text()
    if response.content_type == "application/json" and text.strip():
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


async def _error_message(response: aiohttp.ClientResponse) -> str:
    """The service's own explanation: Pinata's and the PSA's ``{error: {reason, details}}``,
    Kubo's ``{Message}``, or the start of the body."""
    try:
        text = await response.text()
    except (aiohttp.ClientError, UnicodeDecodeError):
        text = ""
    message = text.strip()
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, str):
            message = error
        elif isinstance(error, dict):
            parts = [str(error[k]) for k in ("reason", "details", "Message") if error.get(k)]
            message = ": ".join(parts) or message
    message = " ".join(message.split()) or response.reason or "no explanation"
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    return f"{response.status} {message}"


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds: either delay-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _scrub(text: str, secret: str) -> str:
    """A service that echoes our credentials must not get them into logs or job statuses."""
    return text.replace(secret, "***") if secret else text
