"""The ``lantern`` command: ``up``, ``worker``, ``api``, ``render``, ``deploy``, ``jobs``.

lantern up                       broker + worker + API on http://127.0.0.1:8080
lantern worker                   one more worker (LANTERN_KAFKA_BOOTSTRAP=host:port)
lantern api                      the HTTP API alone
lantern render --out art.gif     one artwork to a file, no broker
lantern deploy                   the Gen1 contract to LANTERN_CHAIN_RPC
lantern jobs list                the operator's view of a running API (lantern/jobs_cli.py)
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from render.errors import LanternError, SettingsError

from . import jobs_cli
from .logs import configure as configure_logs
from .processes import free_port, spawn
from .processes import stop as stop_processes
from .settings import DEV_OWNER_KEY, Settings, SettingsEnvError, env_help

if TYPE_CHECKING:
    from chain.anvil import Anvil

__all__ = ["main"]

log = logging.getLogger("lantern")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lantern`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        configure_logs(settings.log.format, args.loglevel)
        result: int = args.run(args, settings)
        return result
    except SettingsEnvError as exc:
        print(f"lantern: {exc}", file=sys.stderr)
        return 2
    except SettingsError as exc:
        print(f"lantern: invalid settings: {exc}", file=sys.stderr)
        return 2
    except LanternError as exc:
        print(f"lantern: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lantern",
        description="Render, encode and pin animated Gen1 NFTs on a Kafka stream.",
        epilog="environment (every setting):\n" + env_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--loglevel", default="info", choices=["debug", "info", "warning"])
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    up = _command(sub, "up", _up, "run everything locally: broker, worker, API")
    up.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes (default 1); unless LANTERN_WORKER_PROCESSES is set, they share "
        "the machine's cores between their render pools",
    )
    up.add_argument(
        "--brokers",
        type=int,
        default=1,
        help="embedded Kafka nodes (default 1); 3 makes a replicated cluster (every topic with "
        "three copies, two needed for a write); ignored with LANTERN_KAFKA_BOOTSTRAP",
    )
    _command(sub, "worker", _worker, "run one faust worker (every stage)")
    api = _command(sub, "api", _api, "run the HTTP API")
    api.add_argument("--port", type=int, help="override LANTERN_API_PORT")
    _command(sub, "deploy", _deploy, "deploy the Gen1 contract to LANTERN_CHAIN_RPC")
    render = _command(sub, "render", _render, "render one artwork to a GIF file (no broker)")
    render.add_argument("--settings", type=Path, help="settings JSON (default: the defaults)")
    render.add_argument("--out", type=Path, required=True, help="where to write the GIF")
    render.add_argument("--size", type=int, default=512, help="pixels per side, 64–1024")
    render.add_argument("--frames", type=int, default=100, help="frame count, 1–1000")
    render.add_argument("--delay-ms", type=int, default=30, help="per frame, multiple of 10")
    render.add_argument("--timing", choices=["loop", "legacy"], default="loop")
    render.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    replay = _command(sub, "replay", _replay, "re-render minted tokens or past jobs, then "
                      "update the tokens' metadata")  # fmt: skip
    which = replay.add_argument_group("what to replay (any of)")
    which.add_argument("--all-minted", action="store_true", help="every minted token")
    which.add_argument("--tokens", help="token ids, comma-separated: 1,2,7")
    which.add_argument(
        "--overrides", type=Path, help='a JSON file: [{"token_id": 1, "settings": {…}}, …]'
    )
    which.add_argument("--since", help="jobs requested from this time (ISO 8601 or epoch s)")
    which.add_argument("--until", help="… until this time (default: now)")
    replay.add_argument(
        "--renderer-version", default="", help="tag the new renders' metadata with this version"
    )
    replay.add_argument(
        "--raster", choices=["cairo", "browser"],
        help="the line model of the new renders (browser: Chromium's canvas hairlines)",
    )  # fmt: skip
    replay.add_argument(
        "--timing", choices=["loop", "legacy"], help="the motion of the new renders"
    )
    replay.add_argument("--dry-run", action="store_true", help="list what would happen")
    replay.add_argument(
        "--rate", type=float, default=60.0, help="jobs published per minute (default 60)"
    )
    replay.add_argument(
        "--max-pending", type=int, default=10, help="unfinished replay jobs at once (default 10)"
    )
    replay.add_argument("--no-wait", action="store_true", help="publish, then exit")
    jobs = _command(sub, "jobs", _jobs, "list, inspect, retry, cancel and purge jobs (operator)")
    jobs_cli.configure(jobs)
    return parser


def _command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    run: Callable[[argparse.Namespace, Settings], int],
    summary: str,
) -> argparse.ArgumentParser:
    """The sub-command ``name``: ``summary`` is its line in ``lantern --help``, and the docstring
    of ``run`` its description in ``lantern NAME --help``. Given the command, ``main`` calls
    ``run`` with the parsed arguments and the settings, and exits with what it returns."""
    command = sub.add_parser(name, help=summary, description=run.__doc__)
    command.set_defaults(run=run)
    return command


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    """Run one worker of the pipeline; start several to scale out. Needs
    LANTERN_KAFKA_BOOTSTRAP."""
    _require_bootstrap(settings)
    from streams.topics import ensure_topics
    from streams.worker import run_worker

    asyncio.run(ensure_topics(settings))  # idempotent: a lone worker on a new cluster works too

    run_worker(settings)
    return 0


def _api(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the HTTP API on LANTERN_API_HOST:LANTERN_API_PORT. Needs LANTERN_KAFKA_BOOTSTRAP."""
    _require_bootstrap(settings)
    if args.port is not None:
        settings = dataclasses.replace(
            settings, api=dataclasses.replace(settings.api, port=args.port)
        )
    from api.app import run_api

    log.info("api listening url=%s", settings.api.base_url)
    run_api(settings)
    return 0


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    """Re-render minted tokens (all, by id, or with new settings from a file) or the jobs
    requested in a time range, as new jobs in the bulk lane; once pinned, each token is pointed
    at its new metadata. Idempotent and resumable: run it again to finish or to check. Needs
    LANTERN_KAFKA_BOOTSTRAP (and the chain's owner key for the tokens)."""
    from rich.console import Console

    from .replay import parse_time, requests_between, run_replay, select

    _require_bootstrap(settings)
    tokens = [int(t) for t in args.tokens.split(",") if t.strip()] if args.tokens else []
    overrides: list[dict[str, Any]] = []
    if args.overrides is not None:
        try:
            overrides = json.loads(args.overrides.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise LanternError(f"cannot read overrides {args.overrides}: {exc}") from exc
        if not isinstance(overrides, list):
            raise LanternError(f"{args.overrides}: a JSON list of {{token_id, settings}} objects")
    if not (args.all_minted or tokens or overrides or args.since):
        raise LanternError("say what to replay: --all-minted, --tokens, --overrides or --since")

    async def targets_of(jobs: dict[str, dict[str, Any]]) -> list[Any]:
        job_ids: list[str] = []
        if args.since:
            until = parse_time(args.until) if args.until else time.time()
            job_ids = await requests_between(settings, parse_time(args.since), until)
        options = {k: v for k, v in (("raster", args.raster), ("timing", args.timing)) if v}
        return select(
            jobs, all_minted=args.all_minted, tokens=tokens, overrides=overrides,
            job_ids=job_ids, options=options,
        )  # fmt: skip

    counts = asyncio.run(
        run_replay(
            settings,
            targets_of=targets_of,
            renderer_version=args.renderer_version,
            dry_run=args.dry_run,
            rate_per_min=args.rate,
            max_pending=max(1, args.max_pending),
            wait=not args.no_wait,
            console=Console(stderr=True, soft_wrap=True),
        )
    )
    return 1 if counts.get("failed") else 0


def _jobs(args: argparse.Namespace, settings: Settings) -> int:
    """Operate a running API's jobs over HTTP: its operator routes at --url (default
    LANTERN_API_PUBLIC_URL, else http://LANTERN_API_HOST:LANTERN_API_PORT), with the token in
    LANTERN_API_ADMIN_TOKEN. Each action takes --json for the API's answer as it is."""
    return jobs_cli.run(args, settings)


def _render(args: argparse.Namespace, settings: Settings) -> int:
    """Render Gen1 settings to an animated GIF locally."""
    from render import Gen1Settings, RenderOptions, render_gif

    raw: object = {}
    if args.settings is not None:
        try:
            raw = json.loads(args.settings.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            print(f"lantern: cannot read settings {args.settings}: {exc}", file=sys.stderr)
            return 2
    gen1 = Gen1Settings.from_dict(raw)
    options = RenderOptions.from_dict(
        {
            "size": args.size,
            "frames": args.frames,
            "delay_ms": args.delay_ms,
            "timing": args.timing,
        }
    )
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        print(f"\rrendering {done}/{total} frames", end="", file=sys.stderr, flush=True)

    gif = render_gif(gen1, options, processes=args.processes, progress=progress)
    args.out.write_bytes(gif)
    elapsed = time.perf_counter() - started
    print(f"\nwrote {args.out} ({len(gif)} bytes) in {elapsed:.2f}s", file=sys.stderr)
    return 0


def _deploy(args: argparse.Namespace, settings: Settings) -> int:
    """Deploy a new Gen1 contract to LANTERN_CHAIN_RPC, owned by LANTERN_CHAIN_OWNER_KEY's
    account, at LANTERN_CHAIN_MINT_PRICE_WEI with LANTERN_CHAIN_MAX_SUPPLY; print the
    settings that point Lantern at it."""
    from web3.exceptions import Web3Exception

    from chain.gen1 import deploy

    chain = settings.chain
    if not chain.rpc or not chain.owner_key:
        raise LanternError("deploy needs LANTERN_CHAIN_RPC and LANTERN_CHAIN_OWNER_KEY")
    try:
        done = deploy(
            chain.rpc, chain.owner_key, price_wei=chain.mint_price_wei, max_supply=chain.max_supply
        )
    except (OSError, ValueError, Web3Exception) as exc:  # no node, a bad key, a refusal
        raise LanternError(f"deploy to {chain.rpc} failed: {exc}") from exc
    if done.chain_id != chain.chain_id:
        log.warning("deployed on chain %d, but LANTERN_CHAIN_CHAIN_ID is %d: set it to %d",
                    done.chain_id, chain.chain_id, done.chain_id)  # fmt: skip
    print(f"LANTERN_CHAIN_CONTRACT={done.address}")
    print(f"LANTERN_CHAIN_FROM_BLOCK={done.block}")
    print(f"LANTERN_CHAIN_CHAIN_ID={done.chain_id}")
    return 0


def _start_chain(settings: Settings, env: dict[str, str]) -> Anvil | None:
    """The embedded chain, unless one is configured (or LANTERN_CHAIN_EMBEDDED=false): start
    anvil, deploy the contract once, and point the children at both."""
    from chain.anvil import ANVIL, Anvil
    from chain.gen1 import ensure_deployed

    chain = settings.chain
    if chain.rpc or not chain.embedded:
        return None
    if not ANVIL.exists():
        log.warning("no local chain: anvil is not installed (`make chain`); minting is off")
        return None
    node = Anvil(chain)
    rpc = node.start()
    try:
        deployment = ensure_deployed(chain, rpc)
    except Exception:
        node.stop()
        raise
    env["LANTERN_CHAIN_RPC"] = rpc
    env["LANTERN_CHAIN_CONTRACT"] = deployment.address
    env["LANTERN_CHAIN_FROM_BLOCK"] = str(deployment.block)
    env.setdefault("LANTERN_CHAIN_OWNER_KEY", DEV_OWNER_KEY)
    print(f"local chain: {rpc} (chain id {chain.chain_id}), Gen1 at {deployment.address}",
          flush=True)  # fmt: skip
    return node


def _require_bootstrap(settings: Settings) -> None:
    if not settings.kafka.bootstrap:
        raise LanternError("LANTERN_KAFKA_BOOTSTRAP is not set (or run `lantern up`)")


def _up(args: argparse.Namespace, settings: Settings) -> int:
    """Start the embedded Kafka broker (unless LANTERN_KAFKA_BOOTSTRAP is set) and a local
    chain with the Gen1 contract (unless LANTERN_CHAIN_RPC is set), create the topics, then
    run a worker and the API until Ctrl-C."""
    from streams.broker import EmbeddedKafka, KafkaCluster
    from streams.topics import ensure_topics

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    broker: EmbeddedKafka | KafkaCluster | None = None
    if not settings.kafka.bootstrap:
        broker = (
            KafkaCluster(settings.kafka, size=args.brokers)
            if args.brokers > 1
            else EmbeddedKafka(settings.kafka)
        )
    children: list[subprocess.Popen[bytes]] = []
    chain: Anvil | None = None
    try:
        env = dict(os.environ)
        chain = _start_chain(settings, env)
        if broker is not None:
            kafka = dataclasses.replace(settings.kafka, bootstrap=broker.start())
            if isinstance(broker, KafkaCluster):
                kafka = dataclasses.replace(kafka, replication=min(3, broker.size))
                env["LANTERN_KAFKA_REPLICATION"] = str(kafka.replication)
            settings = dataclasses.replace(settings, kafka=kafka)
        asyncio.run(ensure_topics(settings))
        env["LANTERN_KAFKA_BOOTSTRAP"] = settings.kafka.bootstrap
        workers = max(1, args.workers)
        if "LANTERN_STORE_BLOCKS_VIA" not in os.environ:
            # one machine: the workers share the store's folder, so frame blocks wait in it
            # (claim check) rather than cross the broker twice, as event and changelog
            env["LANTERN_STORE_BLOCKS_VIA"] = "disk"
        if not settings.worker.processes:
            # one machine: the workers share its cores rather than each taking them all
            env["LANTERN_WORKER_PROCESSES"] = str(max(1, (os.cpu_count() or 1) // workers))
        options = ["--loglevel", args.loglevel]
        for i in range(1, workers + 1):
            worker_env = dict(env)
            if not settings.worker.metrics_port:
                # worker i at 9100 + i when free (monitoring/prometheus.local.yml scrapes those)
                port = free_port(9100 + i)
                worker_env["LANTERN_WORKER_METRICS_PORT"] = str(port)
                print(f"worker {i} metrics: http://127.0.0.1:{port}/metrics", flush=True)
            children.append(spawn([*options, "worker"], worker_env))
        children.append(spawn([*options, "api"], env))
        print(f"lantern is up: {settings.api.base_url}  (Ctrl-C stops it)", flush=True)
        while not stop.wait(0.5):
            for child in children:
                if child.poll() is not None:
                    log.error("a child exited code=%s args=%s", child.returncode, child.args)
                    stop.set()
    finally:
        stop_processes(children)  # the API first, then the workers
        if broker is not None:
            broker.stop()
        if chain is not None:
            chain.stop()
    return 0
