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
    "ChainSettings",
    "FaultSettings",
    "KafkaSettings",
    "LogSettings",
    "PinSettings",
    "ReliabilitySettings",
    "Settings",
    "SettingsEnvError",
    "StoreSettings",
    "TraceSettings",
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
    # The embedded broker's JVM: the serial collector, and the quick C1 compiler only. Measured
    # with 20 jobs on 2 cores: the broker's CPU halves (0.28 -> 0.14 CPU-s per job; C2 spends
    # the first minutes compiling), while its work at Lantern's message rates stays far below
    # what C1 code can do. A cluster of your own (``bootstrap``) is not affected.
    broker_jvm_opts: str = "-XX:+UseSerialGC -XX:TieredStopAtLevel=1"
    partitions: int = 8  # frame tasks spread over these; every topic shares the count
    replication: int = 1
    topic_prefix: str = "lantern"
    # the largest record: a run of frame blocks carried through Kafka (blocks_via=kafka) is
    # at most 6.3 MB (3 frames of 1023² at 12 bits a pixel; fewer frames per task at larger
    # sizes), 4.3 MB measured for 10 frames of 512² dense art (README "Design notes")
    max_message_bytes: int = 8 * 1024 * 1024
    session_timeout_s: float = 6.0  # failover within seconds (see NOTES_KAFKA_FAUST)
    heartbeat_interval_s: float = 2.0
    request_timeout_s: float = 10.0
    # at_least_once (idempotent stages) or exactly_once (faust over Kafka transactions);
    # measured in bench/guarantee.py, see the README's guarantees
    processing_guarantee: str = "at_least_once"
    # A secured cluster of your own (README "Connecting to a secured cluster"): every client
    # Lantern creates (faust's, the API's, the admin ones) uses these. The password is a
    # secret: masked in ``repr``, never logged. ``ssl_*``: PEM files; empty: the system CAs,
    # no client certificate.
    security_protocol: str = "PLAINTEXT"  # or SSL, SASL_PLAINTEXT, SASL_SSL
    sasl_mechanism: str = "SCRAM-SHA-512"  # or SCRAM-SHA-256, PLAIN (with SASL_* only)
    sasl_username: str = ""
    sasl_password: str = field(default="", repr=False)
    ssl_cafile: str = ""  # the CA that signed the brokers' certificates
    ssl_certfile: str = ""  # a client certificate, for clusters that require one (mTLS)
    ssl_keyfile: str = ""  # its private key (unencrypted), unless inside ssl_certfile

    def __post_init__(self) -> None:
        var = f"{PREFIX}KAFKA_"
        protocol, mechanism = self.security_protocol.upper(), self.sasl_mechanism.upper()
        if protocol not in _SECURITY_PROTOCOLS:
            raise SettingsEnvError(
                f"{var}SECURITY_PROTOCOL={self.security_protocol!r} is not one of "
                f"{', '.join(_SECURITY_PROTOCOLS)}"
            )
        if mechanism not in _SASL_MECHANISMS:
            raise SettingsEnvError(
                f"{var}SASL_MECHANISM={self.sasl_mechanism!r} is not one of "
                f"{', '.join(_SASL_MECHANISMS)}"
            )
        object.__setattr__(self, "security_protocol", protocol)  # frozen: normalised once
        object.__setattr__(self, "sasl_mechanism", mechanism)
        sasl, tls = protocol.startswith("SASL_"), protocol.endswith("SSL")
        if protocol != "PLAINTEXT" and not self.bootstrap:
            raise SettingsEnvError(
                f"{var}SECURITY_PROTOCOL={protocol} needs {var}BOOTSTRAP: "
                "the embedded broker speaks PLAINTEXT only"
            )
        if sasl and not (self.sasl_username and self.sasl_password):
            raise SettingsEnvError(
                f"{var}SECURITY_PROTOCOL={protocol} needs {var}SASL_USERNAME and {var}SASL_PASSWORD"
            )
        if not sasl and (self.sasl_username or self.sasl_password):
            raise SettingsEnvError(
                f"{var}SASL_USERNAME/PASSWORD are set but {var}SECURITY_PROTOCOL={protocol} "
                "does not use SASL: set it to SASL_SSL or SASL_PLAINTEXT"
            )
        files = {
            "SSL_CAFILE": self.ssl_cafile,
            "SSL_CERTFILE": self.ssl_certfile,
            "SSL_KEYFILE": self.ssl_keyfile,
        }
        given = [f"{var}{name}" for name, value in files.items() if value]
        if given and not tls:
            raise SettingsEnvError(
                f"{', '.join(given)} given but {var}SECURITY_PROTOCOL={protocol} does not use "
                "TLS: set it to SSL or SASL_SSL"
            )
        if self.ssl_keyfile and not self.ssl_certfile:
            raise SettingsEnvError(f"{var}SSL_KEYFILE needs {var}SSL_CERTFILE")

    def __repr__(self) -> str:
        return _masked_repr(self, "sasl_password")

    def topic(self, name: str) -> str:
        """The full name of one of Lantern's topics."""
        return f"{self.topic_prefix}.{name}"


_SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_SASL_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")


BLOCKS_VIA = ("kafka", "disk")


@dataclass(frozen=True)
class StoreSettings:
    """The local content-addressed store (the embedded IPFS gateway serves it), and how frame
    blocks reach the assembler."""

    root: Path = Path(".lantern/state/ipfs")
    gateway_url: str = ""  # public gateway base for links; empty: the API's own /ipfs/
    # "kafka": the blocks' bytes travel in the frames events and the assembler's changelog
    # (works wherever the workers run); "disk": the render process writes them to
    # ``blocks_dir`` and the events carry digests only (a claim check: every worker must share
    # that folder). Measured in bench/blocks.py (README "Design notes").
    blocks_via: str = "kafka"
    blocks_root: Path | None = None  # frame blocks awaiting assembly; None: beside ``root``

    def __post_init__(self) -> None:
        via = self.blocks_via.lower()
        if via not in BLOCKS_VIA:
            choices = ", ".join(BLOCKS_VIA)
            raise SettingsEnvError(
                f"{PREFIX}STORE_BLOCKS_VIA={self.blocks_via!r} is not one of {choices}"
            )
        object.__setattr__(self, "blocks_via", via)  # frozen: normalised once

    @property
    def blocks_dir(self) -> Path:
        """Where frame blocks wait for assembly (``<root>-blocks`` unless set)."""
        if self.blocks_root:  # from the environment it arrives as text
            return Path(self.blocks_root)
        return self.root.with_name(f"{self.root.name}-blocks")


@dataclass(frozen=True)
class PinSettings:
    """Where artworks are pinned: ``local`` (embedded), ``pinata``, ``kubo`` or ``psa``.

    README "Pinning backends" says what each needs. ``token`` is a secret: it is masked in
    ``repr`` and never logged.
    """

    backend: str = "local"
    timeout_s: float = 60.0  # one HTTP request: connecting, or a silence while sending/reading
    url: str = ""  # the service's API; empty: https://api.pinata.cloud, http://127.0.0.1:5001
    token: str = field(default="", repr=False)  # Pinata JWT, PSA access token, Kubo bearer
    cid_version: int = 0  # 0: Qm… as `ipfs add` and the original; 1: bafy…/bafk… (raw leaves)
    attempts: int = 5  # tries per request on timeouts, 429 and 5xx (never on 400/401/403)
    backoff_s: float = 1.0  # the first retry's delay; doubles each time, jittered
    backoff_max_s: float = 30.0  # cap of one delay (a longer Retry-After is still honoured)
    deadline_s: float = 600.0  # one file's whole pin: retries and PSA polling included
    max_bytes: int = 100 * 1024 * 1024  # larger files are refused before any upload
    poll_s: float = 2.0  # psa: interval between status checks of a pin request
    origins: str = ""  # psa: comma-separated multiaddrs that provide the content
    provider_url: str = ""  # psa: a Kubo RPC the content is added to first (origins: its own)

    def __repr__(self) -> str:
        return _masked_repr(self, "token")


@dataclass(frozen=True)
class ReliabilitySettings:
    """Retries, stalls, retention and admission limits (ARCHITECTURE §4)."""

    attempts: int = 3  # in all, per stage and event, before the dead-letter topic
    backoff_s: float = 2.0  # first retry delay; doubles each attempt, jittered ±20 %
    # no progress for this long: reported and re-driven. Generous: a job whose frames wait
    # behind a backlog is not stalled, and re-driving it would only add to the backlog
    stall_after_s: float = 600.0
    watch_interval_s: float = 5.0  # how often workers look for stalled and expired jobs
    # a queued job whose request lies at no known offset (its status came without one) is
    # re-published after this long; one with a known offset only once that offset is
    # committed without the job moving (lost), never for waiting in a backlog
    queued_max_age_s: float = 900.0
    retention_s: float = 7 * 24 * 3600.0  # finished jobs' status kept at least this long
    keep_completed: int = 100  # … and at least this many completed / failed jobs
    keep_failed: int = 500


@dataclass(frozen=True)
class FaultSettings:
    """Fault injection for tests and drills only: makes chosen stages fail on purpose."""

    render_color: str = ""  # frames of jobs whose flowField.color1 is this colour raise
    pin_color: str = ""  # the pin stage fails for jobs whose flowField.color1 is this colour…
    pin_failures: int = 0  # … on this many attempts, then succeeds
    # the worker kills itself (SIGKILL, with its render pool) right after reporting a job of
    # this colour as `encoding`, once per job: a crash at the assembler's worst moment
    assemble_crash_color: str = ""
    # the worker kills itself (SIGKILL) once, when its chain watcher has published a look's
    # mints and not yet saved its place: the watcher's worst moment
    chain_watch_crash: bool = False


@dataclass(frozen=True)
class WorkerSettings:
    """A faust worker: its render pool and its agents' concurrency."""

    app_id: str = "lantern"
    processes: int = 0  # 0: one per core
    # frame tasks a worker holds at once per lane, running or waiting their turn in the render
    # processes, which take them oldest job first and in frame order (streams/lanes.py)
    render_concurrency: int = 16
    # consecutive frames per task: fewer events per job (each is acknowledged, logged, and
    # tracked by the assembler) for coarser spreading over workers; at sizes above 512, fewer
    # in proportion to the frame's area, so a task is about the same work
    frames_per_task: int = 10
    # … and for a request with other requests queued behind it, blocks in the shared folder:
    # spreading it wider then buys nothing (other work fills every worker until it is done), and
    # each task is four messages (task, frames event, assembly state, their reads); the last
    # requests of a burst, or a lone one, keep small tasks, which share the end out evenly.
    # 0: always ``frames_per_task``. Through Kafka its event must fit one message: unchanged.
    frames_per_task_busy: int = 25
    # a job of more work than this (frames of 512²; a default job is 100) renders in the bulk
    # lane: its own frame-tasks topic, and the render processes serve live work first
    bulk_above_frames: int = 200
    split_concurrency: int = 4  # requests split at once (a bulk job's palette takes a while)
    # copies of each table kept warm on other workers: a takeover starts from one at once,
    # instead of replaying the changelog (up to an hour of status records); each costs every
    # changelog record read again, ~0.035 CPU-s a default job with two workers (README "What
    # to size"). 0 for the most throughput where failover may take longer.
    standby_replicas: int = 1
    # seconds between the standby copies' catch-ups (streams/catchup.py): a copy is read in
    # batches, a few seconds behind at most, instead of every changelog record waking the
    # consumer; 0 reads them record by record, as faust does
    standby_catchup_s: float = 2.0
    # … and the quiet topics' (retries, bulk tasks, the chain's events): a record there waits
    # up to this long more when the topic was idle (and at worst the fetch then in flight,
    # 1.5 s); 0 reads them record by record
    quiet_catchup_s: float = 1.0
    web_port: int = 0  # faust's own web server; 0 disables it
    metrics_port: int = 0  # Prometheus metrics of this worker; 0 disables them
    loglevel: str = "info"

    def __post_init__(self) -> None:
        for name in ("standby_catchup_s", "quiet_catchup_s"):
            if getattr(self, name) < 0:
                raise SettingsEnvError(
                    f"{PREFIX}WORKER_{name.upper()}={getattr(self, name)} must be 0 or more"
                )
        if self.standby_replicas < 0:
            raise SettingsEnvError(
                f"{PREFIX}WORKER_STANDBY_REPLICAS={self.standby_replicas} must be 0 or more"
            )


@dataclass(frozen=True)
class ApiSettings:
    """The HTTP API and the page it serves."""

    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""  # base of links handed to users; empty: http://host:port
    max_body_bytes: int = 64 * 1024
    readiness_timeout_s: float = 5.0
    # admission, in frames of work (frames × size² / 512²: a default job is 100, the largest
    # 4,000): a job that would take the unfinished jobs' remaining work over this gets 429
    max_backlog_frames: int = 20_000
    wallet_rate_per_min: int = 30  # submissions per wallet per minute, per API replica
    ip_rate_per_min: int = 120  # submissions per client IP per minute, per API replica
    # work per wallet and per client IP per minute, per API replica (a larger job: 422)
    client_frames_per_min: int = 4_000
    # jobs whose GIF could exceed the pin limit are estimated from a sample render first (in
    # the preview processes); at most this many at once (429 beyond), 422 if over the limit,
    # and at most size_rate_per_min per client IP (each costs seconds of CPU)
    size_estimates: int = 2
    size_rate_per_min: int = 6
    # an address refused (429) more than tarpit_after times in 10 s has each further 429 held
    # for tarpit_s seconds: repeating at once without honouring Retry-After gains it nothing
    tarpit_after: int = 20
    tarpit_s: float = 1.0
    admin_token: str = field(default="", repr=False)  # bearer token of the operator routes
    event_streams: int = 1000  # Server-Sent Event streams open at once, in all (429 beyond)
    event_streams_per_client: int = 8  # … from one client address
    body_timeout_s: float = 10.0  # a request body not in whole by then is answered 408
    # a connection whose request headers are not in whole this long after it opened (or after
    # its last response) is closed; also the idle keep-alive timeout
    header_timeout_s: float = 15.0
    # GET /api/v1/preview.png: renders at once in this process, renders waiting for a slot
    # (beyond both: 429), new renders per client IP per minute (cache hits are free), and the
    # longest query value or key read (longer: 422; settings values are short scalars)
    preview_concurrency: int = 2
    preview_queue: int = 8
    preview_rate_per_min: int = 120
    preview_max_value_chars: int = 64
    # previews render in a forkserver pool of preview_concurrency processes when the app runs
    # api.preview.preview_pool (off: in threads of the API process, as the unit tests do)
    preview_in_processes: bool = True

    @property
    def base_url(self) -> str:
        """The URL users reach the API at."""
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"


# anvil's first development account (its well-known key, public by design): the embedded
# chain's deployer and owner. Never use it on a real network.
DEV_OWNER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


@dataclass(frozen=True)
class ChainSettings:
    """The EVM chain tokens are minted on, and the Gen1 contract there.

    With ``rpc`` and ``contract`` set, the API builds mint transactions and the workers watch
    the contract's mints. ``lantern up`` with ``rpc`` empty starts a local node (anvil, chain id
    31337, from ``make chain``), deploys the contract with the development key and sets both for
    its children. ``owner_key`` signs the owner's calls (``updateMetadata``); it is a secret:
    masked in ``repr``, never logged.
    """

    embedded: bool = True  # `lantern up` starts a local node when ``rpc`` is empty
    rpc: str = ""  # a JSON-RPC endpoint (http[s]://…): Base, Base Sepolia, your own node
    public_rpc: str = ""  # the RPC a wallet is asked to add for the chain; empty: ``rpc``
    chain_id: int = 31337  # checked against the node at start: a mismatch refuses to run
    chain_name: str = "Lantern local"  # what a wallet asked to add the chain shows
    contract: str = ""  # the Gen1 contract's address (0x…)
    owner_key: str = field(default="", repr=False)  # empty: no owner calls (tokens keep names)
    # the embedded deployment's price (0.001 ETH) and supply cap (0: none)
    mint_price_wei: int = 10**15
    max_supply: int = 1111
    # the watcher reads blocks this far behind the head (reorgs shallower than this never
    # reach it; 0 suits a local node, a few suit an L2, ~64 Ethereum mainnet)…
    confirmations: int = 0
    # … and if a block it read is replaced even so, re-reads this many blocks before it
    reorg_depth: int = 12
    poll_s: float = 2.0  # how often the watcher asks for new blocks
    from_block: int = 0  # where a watcher without a cursor starts (the deployment's block)
    max_blocks: int = 2000  # blocks per log query (public RPCs cap ranges)
    node_port: int = 0  # the embedded node's port; 0: reuse the last, else a free one
    data_dir: Path = Path(".lantern/state/chain")  # the embedded node's state and deployment

    @property
    def active(self) -> bool:
        """True when mints can be built and watched (a node and a contract are known)."""
        return bool(self.rpc and self.contract)

    def __repr__(self) -> str:
        return _masked_repr(self, "owner_key")


@dataclass(frozen=True)
class LogSettings:
    """How every process logs: ``text`` (a terminal's lines) or ``json`` (one object a line,
    with the job, stage, attempt and request id of what it is about; ``lantern/logs.py``)."""

    format: str = "text"

    def __post_init__(self) -> None:
        fmt = self.format.lower()
        if fmt not in ("text", "json"):
            raise SettingsEnvError(f"{PREFIX}LOG_FORMAT={self.format!r} is not one of text, json")
        object.__setattr__(self, "format", fmt)


TRACE_EXPORTERS = ("", "otlp", "file")


@dataclass(frozen=True)
class TraceSettings:
    """Job traces (OpenTelemetry; ``lantern/tracing.py``): off unless ``exporter`` is set."""

    exporter: str = ""  # "": off; "otlp": OTLP over HTTP; "file": JSON lines in ``dir``
    otlp_endpoint: str = ""  # empty: OTLP's default, http://localhost:4318/v1/traces
    dir: Path = Path(".lantern/state/traces")  # the file exporter's folder

    def __post_init__(self) -> None:
        exporter = self.exporter.lower()
        if exporter not in TRACE_EXPORTERS:
            raise SettingsEnvError(
                f"{PREFIX}TRACE_EXPORTER={self.exporter!r} is not one of otlp, file (or empty)"
            )
        object.__setattr__(self, "exporter", exporter)


@dataclass(frozen=True)
class Settings:
    """Everything Lantern's processes need, grouped by concern."""

    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    pin: PinSettings = field(default_factory=PinSettings)
    reliability: ReliabilitySettings = field(default_factory=ReliabilitySettings)
    faults: FaultSettings = field(default_factory=FaultSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    chain: ChainSettings = field(default_factory=ChainSettings)
    log: LogSettings = field(default_factory=LogSettings)
    trace: TraceSettings = field(default_factory=TraceSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Defaults overridden by ``LANTERN_<GROUP>_<FIELD>`` (``LANTERN_KAFKA_BOOTSTRAP``)."""
        env = os.environ if environ is None else environ
        return cls(
            kafka=_from_env(KafkaSettings(), "KAFKA", env),
            store=_from_env(StoreSettings(), "STORE", env),
            pin=_from_env(PinSettings(), "PIN", env),
            reliability=_from_env(ReliabilitySettings(), "RELIABILITY", env),
            faults=_from_env(FaultSettings(), "FAULTS", env),
            worker=_from_env(WorkerSettings(), "WORKER", env),
            api=_from_env(ApiSettings(), "API", env),
            chain=_from_env(ChainSettings(), "CHAIN", env),
            log=_from_env(LogSettings(), "LOG", env),
            trace=_from_env(TraceSettings(), "TRACE", env),
        )


def _masked_repr(settings: object, secret: str) -> str:
    """``Name(field=value, …)`` with the ``secret`` field shown as ``***`` when it is set."""
    masked = bool(getattr(settings, secret))
    shown = [
        f"{f.name}={'***' if masked and f.name == secret else repr(getattr(settings, f.name))}"
        for f in dataclasses.fields(settings)  # type: ignore[arg-type]
    ]
    return f"{type(settings).__name__}({', '.join(shown)})"


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
    for group in (f.name for f in dataclasses.fields(Settings)):
        obj = getattr(defaults, group)
        for f in dataclasses.fields(obj):
            lines.append(
                f"  {PREFIX}{group.upper()}_{f.name.upper()} (default: {getattr(obj, f.name)!s})"
            )
    return "\n".join(lines)
