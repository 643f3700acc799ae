"""``lantern replay``: re-render existing jobs and tokens by replaying Lantern's own log.

What to replay comes from the log itself: the status changelog (every job, its request and,
once minted, its token) and, for a time range, ``mint-requests`` read by timestamp with a
consumer of no group (the live workers' offsets are never touched). Each target becomes a new
job tagged ``replay_of`` (the original job) and ``token_id`` (its token, if minted), published
like the API publishes: the request on ``mint-requests``, then its ``queued`` status. It renders
in the bulk lane, so live mints keep the render processes first; once pinned, the chain stage
points the token at the new metadata (``streams/chain.py``).

Idempotent: a replay job's id is derived from the original job, the renderer version and the
settings and options it renders, so running the same replay twice finds its jobs already known
and publishes nothing. Resumable: what was published is also written to a checkpoint file as it
goes, so a replay stopped anywhere (Ctrl-C, a crash) and run again publishes only the rest.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from render import Gen1Settings, RenderOptions
from render.errors import LanternError, SettingsError

from .contract import TERMINAL, MintRequest, StatusEvent
from .settings import Settings

__all__ = ["Target", "parse_time", "replay_id", "run_replay", "select"]

log = logging.getLogger(__name__)
CHECKPOINTS = Path(".lantern/state/replay")


@dataclass(frozen=True)
class Target:
    """One job to re-render: the original's status, the settings and options to render."""

    original: Mapping[str, Any]
    settings: dict[str, Any]
    options: dict[str, Any]

    @property
    def job_id(self) -> str:
        return str(self.original["job_id"])

    @property
    def token_id(self) -> int | None:
        token = self.original.get("token") or {}
        return int(token["token_id"]) if "token_id" in token else None


def replay_id(target: Target, renderer_version: str) -> str:
    """The replay job's id: the same original, version, settings and options, the same id."""
    canonical = json.dumps(
        [target.job_id, renderer_version, target.settings, target.options],
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(f"replay\0{canonical}".encode()).hexdigest()[:32]


def parse_time(text: str) -> float:
    """Seconds since the epoch from an ISO 8601 time (``2026-11-30T10:00:00+00:00``) or a
    number of seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError as exc:
        raise LanternError(f"{text!r} is not a time (ISO 8601, or seconds since 1970)") from exc


def select(
    jobs: Mapping[str, Mapping[str, Any]],
    *,
    all_minted: bool = False,
    tokens: Iterable[int] = (),
    overrides: Iterable[Mapping[str, Any]] = (),
    job_ids: Iterable[str] = (),
    options: Mapping[str, Any] | None = None,
) -> list[Target]:
    """The targets the options name, in token order (then job order), each rendering with
    ``options`` over its own (e.g. ``raster: "browser"``, ``timing: "legacy"``: the look its
    holder saw). Replays themselves are never targets: a token is re-rendered from the job
    that minted it."""
    originals = [j for j in jobs.values() if j.get("request") and not _replay_of(j)]
    minted = {
        int(j["token"]["token_id"]): j
        for j in originals
        if j.get("state") == "minted" and "token_id" in (j.get("token") or {})
    }
    chosen: dict[str, Target] = {}

    def add(job: Mapping[str, Any], settings: Mapping[str, Any] | None = None) -> None:
        request = job["request"]
        merged = _merge(request["settings"], settings or {})
        try:
            Gen1Settings.from_dict(merged)
        except SettingsError as exc:
            raise LanternError(f"job {job['job_id']}: the new settings are invalid: {exc}") from exc
        rendered = {**request["options"], **(options or {})}
        try:
            RenderOptions.from_dict(rendered)
        except SettingsError as exc:
            raise LanternError(f"job {job['job_id']}: the new options are invalid: {exc}") from exc
        chosen[str(job["job_id"])] = Target(job, merged, rendered)

    if all_minted:
        for token_id in sorted(minted):
            add(minted[token_id])
    wanted = sorted(set(tokens))
    missing = [t for t in wanted if t not in minted]
    if missing:
        raise LanternError(f"no minted job for token(s) {', '.join(map(str, missing))}")
    for token_id in wanted:
        add(minted[token_id])
    for override in overrides:
        named = override.get("token_id")
        if not isinstance(named, int) or named not in minted:
            raise LanternError(f"override {dict(override)!r}: no minted token {named!r}")
        add(minted[named], override.get("settings") or {})
    for job_id in job_ids:
        job = jobs.get(job_id)
        if job is not None and job.get("request") and not _replay_of(job):
            add(job)
    return sorted(chosen.values(), key=lambda t: (t.token_id is None, t.token_id or 0, t.job_id))


def _replay_of(job: Mapping[str, Any]) -> str:
    return str((job.get("request") or {}).get("replay_of") or "")


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


async def requests_between(settings: Settings, since: float, until: float) -> list[str]:
    """The job ids of the requests ``mint-requests`` received between the two times, read by
    timestamp with a consumer of no group."""
    from streams.kafka_security import kafka_client_options
    from streams.topics import TopicNames

    topic = TopicNames.from_settings(settings).mint_requests
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        **kafka_client_options(settings.kafka),
    )
    await consumer.start()
    found: list[str] = []
    try:
        tps = [TopicPartition(topic, p) for p in range(settings.kafka.partitions)]
        consumer.assign(tps)
        starts = await consumer.offsets_for_times({tp: int(since * 1000) for tp in tps})
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            start = starts.get(tp)
            if start is None:
                ends[tp] = 0  # nothing that recent here
                continue
            consumer.seek(tp, start.offset)
        pending = {tp for tp in tps if ends[tp] and starts.get(tp) is not None}
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=2000)
            if not batches:
                break
            for tp, records in batches.items():
                for record in records:
                    if record.timestamp / 1000 > until or record.offset + 1 >= ends[tp]:
                        pending.discard(tp)
                    if record.timestamp / 1000 <= until and record.value:
                        found.append(str(json.loads(record.value)["job_id"]))
    finally:
        await consumer.stop()
    return list(dict.fromkeys(found))


async def run_replay(
    settings: Settings,
    *,
    targets_of: Any,
    renderer_version: str,
    dry_run: bool,
    rate_per_min: float,
    max_pending: int,
    wait: bool,
    console: Console,
) -> dict[str, int]:
    """Plan, publish (rate-limited, at most ``max_pending`` unfinished at once) and follow a
    replay; the final counts. ``targets_of(jobs)`` chooses the targets from the known jobs."""
    from api.jobs import JobView  # the same view of the status changelog as the API's
    from streams.kafka_security import kafka_client_options
    from streams.topics import TopicNames

    view = JobView(settings)
    await view.start()
    try:
        await asyncio.wait_for(view.caught_up.wait(), settings.kafka.request_timeout_s * 6)
    except TimeoutError as exc:
        await view.stop()
        raise LanternError(
            f"the status changelog did not load from {settings.kafka.bootstrap}"
        ) from exc
    try:
        targets: list[Target] = await targets_of(view.jobs)
        plan = [(t, replay_id(t, renderer_version)) for t in targets]
        checkpoint = _checkpoint_path(plan, renderer_version)
        done_before = _read_checkpoint(checkpoint)
        todo = [(t, rid) for t, rid in plan if rid not in view.jobs and rid not in done_before]
        console.print(
            f"replay: {len(plan)} targets, {len(plan) - len(todo)} already published, "
            f"{len(todo)} to publish (renderer version {renderer_version or 'unchanged'})"
        )
        if dry_run:
            for target, rid in plan:
                token = f"token #{target.token_id}" if target.token_id is not None else "no token"
                state = "published" if (rid in view.jobs or rid in done_before) else "to publish"
                console.print(f"  {target.job_id} ({token}) → {rid}  {state}")
            return {"targets": len(plan), "published": 0}
        names = TopicNames.from_settings(settings)
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka.bootstrap,
            acks="all",
            enable_idempotence=True,
            **kafka_client_options(settings.kafka),
        )
        await producer.start()
        ids = [rid for _, rid in plan]
        tokened = {rid for target, rid in plan if target.token_id is not None}
        try:
            with _progress(console) as progress:
                bar = progress.add_task("replay", total=len(plan), counts="")
                interval = 60.0 / rate_per_min if rate_per_min > 0 else 0.0
                # published: before this run (known or in the checkpoint) and as it goes
                out = [rid for rid in ids if rid in view.jobs or rid in done_before]
                for target, rid in todo:
                    while _unfinished(view.jobs, out, tokened) >= max_pending:
                        _show(progress, bar, view.jobs, ids)
                        await asyncio.sleep(0.5)
                    await _publish(producer, names, target, rid, renderer_version)
                    _append_checkpoint(checkpoint, rid)
                    out.append(rid)
                    _show(progress, bar, view.jobs, ids)
                    await asyncio.sleep(interval)
                while wait and _unfinished(view.jobs, out, tokened):
                    _show(progress, bar, view.jobs, ids)
                    await asyncio.sleep(0.5)
                _show(progress, bar, view.jobs, ids)
        finally:
            await producer.stop()
        counts = _counts(view.jobs, ids)
        counts["published"] = len(todo)
        console.print(
            "replay done: " + ", ".join(f"{k} {v}" for k, v in counts.items() if v or k == "failed")
        )
        return counts
    finally:
        await view.stop()


async def _publish(
    producer: AIOKafkaProducer, names: Any, target: Target, rid: str, renderer_version: str
) -> None:
    """The replay's request on the log, then its queued status (as the API publishes)."""
    now = time.time()
    wallet = str(target.original.get("wallet") or target.original["request"]["wallet"])
    request = MintRequest(
        job_id=rid, settings=target.settings, options=target.options, wallet=wallet,
        submitted_at=now, replay_of=target.job_id, token_id=target.token_id,
        renderer_version=renderer_version,
    )  # fmt: skip
    meta = await producer.send_and_wait(names.mint_requests, request.dumps(), key=rid.encode())
    queued = StatusEvent(
        job_id=rid, state="queued", progress=0, stage="replay",
        detail=f"replay of {target.job_id}", wallet=wallet, at=now, request=request.asdict(),
        request_partition=meta.partition, request_offset=meta.offset,
    )  # fmt: skip
    await producer.send_and_wait(names.status, queued.dumps(), key=rid.encode())


def _states(jobs: Mapping[str, Mapping[str, Any]], ids: Iterable[str]) -> list[str]:
    return [str(jobs[i]["state"]) for i in ids if i in jobs]


def _unfinished(
    jobs: Mapping[str, Mapping[str, Any]], ids: Iterable[str], tokened: Collection[str] = ()
) -> int:
    """Published replay jobs not done yet (one not in the view yet is on its way there): one
    of a minted token is done once the token points at it (``minted``), or it failed; one
    without a token once it is pinned."""
    count = 0
    for job_id in ids:
        state = str(jobs[job_id]["state"]) if job_id in jobs else "queued"
        if state not in TERMINAL or (state == "completed" and job_id in tokened):
            count += 1
    return count


def _counts(jobs: Mapping[str, Mapping[str, Any]], ids: list[str]) -> dict[str, int]:
    """queued, rendering (rendering or encoding), pinned (completed), updated (the token now
    points at the replay: minted), failed."""
    seen = Counter(_states(jobs, ids))
    return {
        "queued": seen["queued"],
        "rendering": seen["rendering"] + seen["encoding"] + seen["pinning"],
        "pinned": seen["completed"],
        "updated": seen["minted"],
        "failed": seen["failed"],
    }


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"), TimeElapsedColumn(), console=console,
    )  # fmt: skip


def _show(
    progress: Progress, bar: Any, jobs: Mapping[str, Mapping[str, Any]], ids: list[str]
) -> None:
    counts = _counts(jobs, ids)
    done = counts["pinned"] + counts["updated"] + counts["failed"]
    text = "  ".join(f"{k} {v}" for k, v in counts.items())
    progress.update(bar, completed=done, counts=text)


def _checkpoint_path(plan: list[tuple[Target, str]], renderer_version: str) -> Path:
    key = hashlib.sha256("\0".join([renderer_version, *sorted(r for _, r in plan)]).encode())
    return CHECKPOINTS / f"{key.hexdigest()[:16]}.jsonl"


def _read_checkpoint(path: Path) -> set[str]:
    if not path.exists():
        return set()
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def _append_checkpoint(path: Path, rid: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        out.write(rid + "\n")
