"""The event contract: every record that crosses a Kafka topic, and the job's states.

No agent lives here, so the API imports the contract without importing the worker. Each record
has a fixed faust namespace (``lantern.<Name>``: what its ``__faust`` field names on the wire,
whatever module holds it) and a ``version``, the contract its writer spoke: a reader refuses a
record from a newer contract (``check_version``) rather than misread it. Fields added later take
defaults, and fields a reader does not know are ignored, so older records stay readable.

Topics and what they carry (ARCHITECTURE §2)::

    mint-requests   MintRequest      the API → split
    frame-tasks     FrameTask        split → render (a run of frames of one job)
    frames          FrameBlock       render → assemble (the run's blocks, or their digests)
                    JobEnded         pin, a dead letter, the sweep → assemble (forget the job)
    pin-requests    PinRequest       assemble → pin (the GIF is in the content store)
    job-status      StatusEvent      every stage → the status table (JobStatus, its changelog)
    retry           RetryEnvelope    a failed stage → the retry agent → the stage's topic
    dead-letters    DeadLetter       an event that failed for good
    chain-events    MintLink         pin → the chain stage (a completed job's metadata URI)
                    TokenMinted      the chain watcher → the chain stage (a Gen1Minted log)
    chain-cursor    ChainCursor      the chain watcher's last block read (compacted)
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import faust

from render import Gen1Settings, RenderOptions
from render.errors import LanternError

__all__ = [
    "CONTRACT_VERSION",
    "STATES",
    "TERMINAL",
    "TIMELINE_MAX",
    "TRACE_MAX_CHARS",
    "TRANSITIONS",
    "ChainCursor",
    "DeadLetter",
    "FrameBlock",
    "FrameTask",
    "JobEnded",
    "JobSpec",
    "JobState",
    "JobStatus",
    "MintLink",
    "MintRequest",
    "NewerContract",
    "PinRequest",
    "RetryEnvelope",
    "StatusEvent",
    "TokenMinted",
    "check_version",
    "job_cost",
]

CONTRACT_VERSION = 1


class JobState(StrEnum):
    """Where a job stands. The order is the path of a job that succeeds; ``TRANSITIONS`` says
    which moves the status fold accepts. Adding a state is one line here plus its moves."""

    QUEUED = "queued"
    RENDERING = "rendering"
    ENCODING = "encoding"
    PINNING = "pinning"
    COMPLETED = "completed"
    MINTED = "minted"  # the user minted it on-chain (after completed; the chain stage says so)
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        """True when the pipeline's work on the job is over (watchers and streams stop)."""
        return self in TERMINAL


_PATH = (JobState.QUEUED, JobState.RENDERING, JobState.ENCODING, JobState.PINNING,
         JobState.COMPLETED)  # fmt: skip
# the moves a stage's event may make: forward along the path (a stage may be skipped: a
# re-drive of a written GIF goes straight to pinning), or to failed from any unfinished state.
# A state moves to itself while it progresses. From failed only an operator retry leads out
# (back to queued, StatusEvent.reopen). The pipeline's work ends at completed; only the chain
# moves a job on from there, to minted (and minted to itself as the token's record grows).
TRANSITIONS: Mapping[JobState, frozenset[JobState]] = {
    **{state: frozenset(_PATH[_PATH.index(state) :]) | {JobState.FAILED} for state in _PATH[:-1]},
    JobState.COMPLETED: frozenset({JobState.MINTED}),
    JobState.MINTED: frozenset({JobState.MINTED}),
    JobState.FAILED: frozenset(),
}
# the pipeline's work on the job is over (a completed job may still be minted by its user)
TERMINAL = frozenset({JobState.COMPLETED, JobState.MINTED, JobState.FAILED})
STATES: tuple[str, ...] = tuple(state.value for state in JobState)


TIMELINE_MAX = 40  # entries a job's status keeps of its history
TRACE_MAX_CHARS = 4000  # of a failure's traceback, its end (where it was raised)

REFERENCE_PIXELS = 512 * 512  # a frame of the default size: the unit of work


def job_cost(options: RenderOptions) -> float:
    """A job's work in frames of the default size: ``frames × size² / 512²`` (admission counts
    it, the workers choose a lane by it)."""
    return options.frames * options.size * options.size / REFERENCE_PIXELS


class NewerContract(LanternError):
    """A record written by a newer contract than this reader speaks: never retried."""

    retryable = False


def check_version(record: Any) -> None:
    """Raise ``NewerContract`` for a record of a contract newer than ``CONTRACT_VERSION``."""
    version = getattr(record, "version", CONTRACT_VERSION)
    if not isinstance(version, int) or version > CONTRACT_VERSION:
        kind = type(record).__name__
        raise NewerContract(
            f"{kind} of contract version {version!r}; this reader speaks up to "
            f"{CONTRACT_VERSION}: upgrade it"
        )


class MintRequest(faust.Record, serializer="json", namespace="lantern.MintRequest"):
    """A user's request to render and pin one artwork (what the API publishes)."""

    job_id: str
    settings: dict[str, Any]
    options: dict[str, Any]
    wallet: str
    submitted_at: float
    generation: int = 0  # raised by each re-drive or operator retry of the same job
    attempt: int = 1
    version: int = CONTRACT_VERSION  # the contract its writer spoke (check_version)
    trace: dict[str, str] | None = None  # the job's trace context (W3C traceparent), if traced
    # a replay (``lantern replay``): the job it re-renders, that job's token (whose metadata
    # is updated once this one is pinned), and the renderer version it is tagged with
    replay_of: str = ""
    token_id: int | None = None
    renderer_version: str = ""


class JobSpec(faust.Record, serializer="json", namespace="lantern.JobSpec"):
    """What every later stage needs to know of a job: the request plus its chosen palette."""

    job_id: str
    settings: dict[str, Any]
    options: dict[str, Any]
    wallet: str
    palette: str  # 768 bytes as hex: the global colour table every frame is quantized to
    submitted_at: float
    generation: int = 0  # which drive of the job this is (re-drives and retries raise it)
    version: int = CONTRACT_VERSION  # the contract its writer spoke (check_version)
    trace: dict[str, str] | None = None  # the request's trace context, for every later stage
    replay_of: str = ""  # a replay's original job (MintRequest.replay_of)
    token_id: int | None = None  # … and the token it updates
    renderer_version: str = ""  # the metadata's renderer version; empty: this release's

    @property
    def frames(self) -> int:
        """How many frames the GIF has."""
        return int(self.options["frames"])

    def parsed(self) -> tuple[Gen1Settings, RenderOptions]:
        """The settings and options as render/ objects."""
        return Gen1Settings.from_dict(self.settings), RenderOptions.from_dict(self.options)


class FrameTask(faust.Record, serializer="json", namespace="lantern.FrameTask"):
    """Render frames ``index``..``index + count`` − 1 of the job."""

    spec: JobSpec
    index: int
    count: int = 1
    attempt: int = 1
    version: int = CONTRACT_VERSION  # the contract its writer spoke (check_version)


class FrameBlock(faust.Record, serializer="json", namespace="lantern.FrameBlock"):
    """Frames ``index``, ``index`` + 1, … of the job are ready GIF image blocks: carried here
    (``blocks``, with ``LANTERN_STORE_BLOCKS_VIA=kafka``), or else in the renderer's block
    folder (``disk``), where only a worker sharing that folder finds them.

    On the ``frames`` topic, keyed by job id, so all of a job's blocks reach the one assembler
    instance (and the partition of its tables) that holds the job. ``index`` is a frame, never
    negative: the job's end travels as a ``JobEnded`` of its own.
    """

    spec: JobSpec
    index: int
    digests: list[str]  # sha256 of each block's bytes (GCE + descriptor + LZW data)
    attempt: int = 1
    version: int = CONTRACT_VERSION  # the contract its writer spoke (check_version)
    # each block's bytes, base64, in the order of ``digests``; None: they are in the block
    # folder (written by a worker with blocks_via=disk, or by a version before this field)
    blocks: list[str] | None = None


class JobEnded(faust.Record, serializer="json", namespace="lantern.JobEnded"):
    """The job has ended, or its assembly state is stale: the assembler forgets the job —
    deletes its ``assemblies`` and ``frame-blocks`` entries (tombstones in the changelogs) and
    its block files. ``how`` says which:

    - ``failed``: drive ``generation`` failed for good (sent after a dead letter in render,
      assemble or pin). Ignored if the assembler already holds blocks or a pin of a newer drive
      (an operator retry racing a late dead letter of the old one).
    - ``finished``: the job is completed (sent by the pin stage after reporting it).
    - ``stale``: the assembler's own sweep found the job's state idle past its TTL; ignored if
      the state has been updated since. ``generation`` is the newest drive the state held.

    On the ``frames`` topic, keyed by job id, so it reaches the agent holding the job in order
    with its blocks. A ``how`` the reader does not know forgets nothing.
    """

    job_id: str
    how: str  # "failed", "finished" or "stale"
    generation: int = 0
    attempt: int = 1
    version: int = CONTRACT_VERSION  # the contract its writer spoke (check_version)


class PinRequest(faust.Record, serializer="json", namespace="lantern.PinRequest"):
    """The job's GIF is in the content store under ``gif_cid``: pin it and its metadata."""

    spec: JobSpec
    gif_cid: str  # its CIDv0, the local store's key
    gif_size: int
    attempt: int = 1
    version: int = CONTRACT_VERSION  # the contract its writer spoke (check_version)
    # its CID on the pin backend's node (at LANTERN_PIN_CID_VERSION), where the assembler added
    # it: a pin stage without the file reads it from there. Empty: there is no node.
    shared_cid: str = ""


class _JobReport(faust.Record, abstract=True):
    """What a StatusEvent says of a job and the JobStatus folded from such events keeps: the
    fields the two share, in this order at the head of both. Abstract: never on the wire itself,
    each record keeps its own namespace."""

    job_id: str
    state: str
    progress: int  # 0–100 (GEN1_SPEC §3)
    stage: str = ""
    detail: str = ""
    error: str | None = None  # the full reason of a failure, for operators
    reason: str | None = None  # … and the plain one shown to the user (public_reason)
    result: dict[str, Any] | None = None
    wallet: str | None = None
    # once minted: {token_id, owner, tx_hash, block_number, chain_id, contract, token_uri,
    # metadata_cid, metadata_url} (the chain stage; token_uri/metadata_* once it names it)
    token: dict[str, Any] | None = None


class StatusEvent(_JobReport, serializer="json", namespace="lantern.StatusEvent"):
    """One stage's word on a job: its state, progress and detail (``_JobReport``), and when."""

    at: float = 0.0
    request: dict[str, Any] | None = None  # the MintRequest, on the API's queued event
    # where that request lies on mint-requests: the watcher tells a lost request (its offset
    # already committed) from one still waiting in the backlog
    request_partition: int | None = None
    request_offset: int | None = None
    generation: int = 0  # the drive this event belongs to
    reopen: bool = False  # an operator retry: a failed job starts again
    stalls: int = 0  # … for the n-th time (a count, not an increment: redelivery-safe)
    purge: bool = False  # retention: forget the job
    version: int = CONTRACT_VERSION  # the contract its writer spoke (check_version)
    trace: str | None = None  # a failure's traceback (operators only; its tail)


class JobStatus(_JobReport, serializer="json", namespace="lantern.JobStatus"):
    """What is known of a job: the fold of all its StatusEvents."""

    created_at: float = 0.0
    updated_at: float = 0.0
    request: dict[str, Any] | None = None
    request_partition: int | None = None
    request_offset: int | None = None
    generation: int = 0
    stalls: int = 0
    retries: int = 0  # operator retries
    version: int = CONTRACT_VERSION  # the contract its writer spoke (check_version)
    trace: str | None = None  # the last failure's traceback (operators only)
    # how the job got here: {at, state, stage, detail, error?} for each change of state or
    # stage and each failure, oldest first (the first and the last TIMELINE_MAX − 1 kept)
    timeline: list[dict[str, Any]] | None = None


class _FailedEvent(faust.Record, abstract=True):
    """An event a stage failed on: the fields a RetryEnvelope and a DeadLetter share, in this
    order at the head of both. Abstract: never on the wire itself, each record keeps its own
    namespace."""

    job_id: str
    stage: str
    topic: str  # the stage's topic: where the event came from, where a retry publishes it again
    key: str  # … and its key there
    payload: str  # the event as JSON (a retry's with its attempt count already raised)


class RetryEnvelope(_FailedEvent, serializer="json", namespace="lantern.RetryEnvelope"):
    """A failed event to re-publish to ``topic`` once ``due_at`` has passed."""

    attempt: int  # the attempt the re-published event will be
    due_at: float
    error: str
    partition: int | None = None
    version: int = CONTRACT_VERSION  # the contract its writer spoke (check_version)


class DeadLetter(_FailedEvent, serializer="json", namespace="lantern.DeadLetter"):
    """An event that failed for good: what failed, where, how often and why."""

    attempts: int
    error: str
    at: float
    version: int = CONTRACT_VERSION  # the contract its writer spoke (check_version)
    trace: str | None = None  # the traceback of the last attempt (its tail)


class MintLink(faust.Record, serializer="json", namespace="lantern.MintLink"):
    """A completed job's metadata URI (``ipfs://<cid>``): the chain stage matches mints to jobs
    by it. Carries what renaming the token's metadata needs (``Gen1 #<id>``).

    On ``chain-events``, keyed by the metadata URI, like the mints it is matched with.
    """

    metadata_uri: str
    job_id: str
    wallet: str
    settings: dict[str, Any]
    options: dict[str, Any]
    gif_cid: str
    gif_size: int
    attempt: int = 1
    version: int = CONTRACT_VERSION  # the contract its writer spoke (check_version)
    # a replay's: the token whose metadata becomes this URI, and the job it re-rendered
    token_id: int | None = None
    replay_of: str = ""
    renderer_version: str = ""


class TokenMinted(faust.Record, serializer="json", namespace="lantern.TokenMinted"):
    """A ``Gen1Minted`` log the chain watcher read: token ``token_id`` minted to ``owner`` with
    ``metadata_uri``, in transaction ``tx_hash`` of block ``block_number``.

    On ``chain-events``, keyed by the metadata URI. The same log may come more than once (a
    watcher restarting, a reorg re-read): the chain stage counts a token once.
    """

    metadata_uri: str
    token_id: int
    owner: str
    image_url: str
    tx_hash: str
    block_number: int
    block_hash: str
    log_index: int
    chain_id: int
    contract: str
    attempt: int = 1
    version: int = CONTRACT_VERSION  # the contract its writer spoke (check_version)


class ChainCursor(faust.Record, serializer="json", namespace="lantern.ChainCursor"):
    """The last block the chain watcher has read whole (its mints are on ``chain-events``) and
    that block's hash, to notice a reorg. On ``chain-cursor``, keyed by
    ``<chain id>:<contract>``, compacted: the newest is the watcher's place."""

    chain_id: int
    contract: str
    block_number: int
    block_hash: str
    at: float = 0.0
    version: int = CONTRACT_VERSION  # the contract its writer spoke (check_version)
