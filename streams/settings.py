"""Lantern's runtime settings: one frozen dataclass per concern, all read from ``LANTERN_*``.

Every field has a default that runs on a laptop; ``Settings.from_env()`` overrides any of them
from the environment (``LANTERN_API_PORT=9000``). ``lantern --help`` lists the variables.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

__all__ = [
    "ApiSettings",
    "KafkaSettings",
    "PinSettings",
    "Settings",
    "SettingsEnvError",
    "StoreSettings",
    "WorkerSettings",
    "env_help",
]

PREFIX = "LANTERN_"
T = TypeVar("T")


class SettingsEnvError(ValueError):
    """A ``LANTERN_*`` variable holds a value of the wrong type."""


@dataclass(frozen=True)
class KafkaSettings:
    """Where the broker is and how the topics are laid out."""

    bootstrap: str = ""  # empty: start the embedded Apache Kafka broker
    data_dir: Path = Path(".lantern/state/kafka")  # the embedded broker's log dirs and log
    libs_dir: Path = Path(".lantern/kafka/libs")  # jars fetched by `make kafka`
    broker_port: int = 0  # 0: reuse the last port, else pick a free one
    broker_heap_mb: int = 512
    partitions: int = 8  # frame tasks spread over these; every topic shares the count
    replication: int = 1
    topic_prefix: str = "lantern"
    max_message_bytes: int = 8 * 1024 * 1024  # a 1024² frame block can approach 1 MB
    session_timeout_s: float = 6.0  # failover within seconds (see NOTES_KAFKA_FAUST)
    heartbeat_interval_s: float = 2.0
    request_timeout_s: float = 10.0

    def topic(self, name: str) -> str:
        """The full name of one of Lantern's topics."""
        return f"{self.topic_prefix}.{name}"


@dataclass(frozen=True)
class StoreSettings:
    """The local content-addressed store (the embedded IPFS gateway serves it)."""

    root: Path = Path(".lantern/state/ipfs")
    gateway_url: str = ""  # public gateway base for links; empty: the API's own /ipfs/


@dataclass(frozen=True)
class PinSettings:
    """Where artworks are pinned: ``local`` (the embedded store), ``pinata``, ``kubo`` or ``psa``."""

    backend: str = "local"
    timeout_s: float = 60.0


@dataclass(frozen=True)
class WorkerSettings:
    """A faust worker: its render pool and its agents' concurrency."""

    app_id: str = "lantern"
    processes: int = 0  # 0: one per core
    render_concurrency: int = 4  # frames in flight per worker
    web_port: int = 0  # faust's own web server; 0 disables it
    loglevel: str = "info"


@dataclass(frozen=True)
class ApiSettings:
    """The HTTP API and the page it serves."""

    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""  # base of links handed to users; empty: http://host:port
    max_body_bytes: int = 64 * 1024
    readiness_timeout_s: float = 5.0

    @property
    def base_url(self) -> str:
        """The URL users reach the API at."""
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class Settings:
    """Everything Lantern's processes need, grouped by concern."""

    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    pin: PinSettings = field(default_factory=PinSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    api: ApiSettings = field(default_factory=ApiSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Defaults overridden by ``LANTERN_<GROUP>_<FIELD>`` (``LANTERN_KAFKA_BOOTSTRAP``)."""
        env = os.environ if environ is None else environ
        return cls(
            kafka=_from_env(KafkaSettings(), "KAFKA", env),
            store=_from_env(StoreSettings(), "STORE", env),
            pin=_from_env(PinSettings(), "PIN", env),
            worker=_from_env(WorkerSettings(), "WORKER", env),
            api=_from_env(ApiSettings(), "API", env),
        )


def _from_env(default: T, group: str, env: Mapping[str, str]) -> T:
    changes: dict[str, object] = {}
    for f in dataclasses.fields(default):  # type: ignore[arg-type]
        name = f"{PREFIX}{group}_{f.name.upper()}"
        if name in env:
            changes[f.name] = _coerce(name, env[name], getattr(default, f.name))
    return dataclasses.replace(default, **changes)  # type: ignore[type-var]


def _coerce(name: str, raw: str, default: object) -> object:
    try:
        if isinstance(default, bool):
            if raw.lower() in {"1", "true", "yes", "on"}:
                return True
            if raw.lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, Path):
            return Path(raw)
    except ValueError as exc:
        kind = type(default).__name__
        raise SettingsEnvError(f"{name}={raw!r} is not a valid {kind}") from exc
    return raw


def env_help() -> str:
    """One line per ``LANTERN_*`` variable with its default, for ``lantern --help``."""
    lines = []
    defaults = Settings()
    for group in ("kafka", "store", "pin", "worker", "api"):
        obj = getattr(defaults, group)
        for f in dataclasses.fields(obj):
            lines.append(
                f"  {PREFIX}{group.upper()}_{f.name.upper()} (default: {getattr(obj, f.name)!s})"
            )
    return "\n".join(lines)
