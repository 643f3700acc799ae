"""Abuse: while one client floods previews and maximum-size jobs, another's default-job latency.

    .venv/bin/python bench/abuse.py                         # 5 jobs per phase, 20 + 20 flooders
    .venv/bin/python bench/abuse.py --jobs 3 --preview-concurrency 10 --job-concurrency 10
    .venv/bin/python bench/abuse.py --root /tmp/snapshot     # the stack from another checkout

Starts its own embedded broker in a temp dir, one `lantern worker` (default render processes:
one per core) and one `lantern api`, on a topic prefix and consumer group of their own, with
the product's default admission settings (no limit is changed). The API keys its buckets by the
client address, so the two clients bind their sockets to different loopback addresses (Linux
routes all of 127/8 to `lo`): the victim to 127.0.0.3, the flooder to 127.0.0.2 (more with
``--flood-addresses``), while the API listens on 127.0.0.1 as by default.

Phase 1, idle: the victim (its own wallet) submits ``--jobs`` default jobs one after another
and polls each every 50 ms until `completed`: POST → completed latency, p50 and max.

Phase 2, abuse: a second process floods from its own address with a few wallets, as fast as it
can and ignoring Retry-After: ``--preview-concurrency`` tasks fetching 512² previews with
random settings (every one a cache miss), and ``--job-concurrency`` tasks posting, in turn,
1024² × 1000-frame jobs of the default art (cost 4,000, the most one client may submit; their
GIF would be over the pin limit), 1024² × 1000-frame jobs of sparse art (every layer off: the
same cost, a GIF that fits), and 1024² × 100-frame jobs of the default art (cost 400, they fit).
``--lead`` seconds after the flood starts, the victim runs the same kind of default jobs
again. The phase ends when the victim is done or after ``--abuse-seconds``; a job still running
then counts with the time it had waited (a lower bound, marked ≥).

What-if runs: ``--preview-concurrency 0`` or ``--job-concurrency 0`` leave one part of the
flood out, ``--polite`` makes the flooder wait out each 429's Retry-After, ``--kinds`` picks the
jobs it posts, and ``--set LANTERN_X=V`` changes one setting of the stack (printed at the top).

``--root`` runs the stack's code from another checkout (``git archive HEAD`` unpacked
elsewhere), so that edits landing in this tree meanwhile do not change what is measured; the
Kafka jars are still taken from this tree's ``.lantern/kafka/libs``.

Printed: both phases' latencies and the ratio, the flooder's answers by kind and status, how
many expensive jobs were admitted and how far they got, the pending work admission saw at each
victim submission, and the CPU each part of the stack used in each phase. Figures, not a test:
the exit code is 0 whether or not the victim stayed within 2× of idle.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from load import process_tree  # noqa: E402

from lantern.settings import Settings  # noqa: E402
from streams.broker import EmbeddedKafka, free_port  # noqa: E402

VICTIM_ADDRESS = "127.0.0.3"
FLOOD_ADDRESS = "127.0.0.2"  # and .4, .5, … with --flood-addresses
VICTIM_WALLET = "0x" + "b" * 40
FLOOD_WALLETS = [f"0x{i:x}" + "a" * 39 for i in range(1, 5)]
SPARSE = {"flowField": {"enabled": False}, "flowFields": {"enabled": False},
          "contour": {"enabled": False}}  # fmt: skip
# --kinds key → (name, settings besides a random colour, options); posted in turn
JOB_KINDS: dict[str, tuple[str, dict[str, Any], dict[str, int]]] = {
    "max": ("1024² × 1000, default art", {}, {"size": 1024, "frames": 1000}),
    "max-sparse": ("1024² × 1000, sparse art", SPARSE, {"size": 1024, "frames": 1000}),
    "1024x100": ("1024² × 100, default art", {}, {"size": 1024, "frames": 100}),
}
POLL_S = 0.05


# ---------------------------------------------------------------------------- the flooder


def answer_key(status: int, body: bytes) -> str:
    """``"202"``, ``"422 too_costly"``, ``"429 rate_limited: work/address"`` …"""
    try:
        error = json.loads(body).get("error") or {}
    except (ValueError, AttributeError):
        return str(status)
    code, message = error.get("code", ""), error.get("message", "")
    if code == "rate_limited":
        what = "work" if "frames of work" in message else "submissions"
        if "preview" in message:
            what = "previews"
        whose = "wallet" if "wallet" in message else "address"
        code = f"rate_limited: {what}/{whose}"
    elif code == "busy" and "sized" in message:
        code = "busy: sizing"
    elif code == "busy" and "render queue" in message:
        code = "busy: backlog"
    return f"{status} {code}".strip()


async def flood(
    base: str,
    addresses: list[str],
    previews: int,
    jobs: int,
    kinds: list[str],
    polite: bool = False,
) -> dict[str, Any]:
    """Previews and expensive jobs as fast as they are answered, until SIGTERM; ``polite``:
    each task waits out a 429's Retry-After before its next request."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    rng = random.Random(1)
    counts: dict[str, Counter[str]] = {"preview": Counter()}
    posted = [JOB_KINDS[kind] for kind in kinds]
    counts.update({name: Counter() for name, _, _ in posted})
    accepted: dict[str, list[str]] = {name: [] for name, _, _ in posted}
    turn = {"job": 0}
    timeout = aiohttp.ClientTimeout(total=60)
    sessions = [
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(local_addr=(address, 0), limit=0), timeout=timeout
        )
        for address in addresses
    ]

    def colour() -> str:
        return f"#{rng.randrange(1 << 24):06x}"

    async def preview_task(i: int) -> None:
        http = sessions[i % len(sessions)]
        while not stop.is_set():
            query = {
                "flowField.color1": colour(),
                "flowFields.lineLength": str(rng.randint(5, 100)),
                "flowFields.lineDensity": f"{rng.uniform(0.01, 0.5):.4f}",
                "size": "512",
                "frame": str(rng.randrange(100)),
            }
            wait = 0.0
            try:
                async with http.get(f"{base}/api/v1/preview.png", params=query) as response:
                    counts["preview"][answer_key(response.status, await response.read())] += 1
                    wait = retry_after(response, polite)
            except (aiohttp.ClientError, TimeoutError) as exc:
                counts["preview"][type(exc).__name__] += 1
            if wait:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)

    async def job_task(i: int) -> None:
        http = sessions[i % len(sessions)]
        while not stop.is_set():
            n = turn["job"]
            turn["job"] += 1
            name, settings, options = posted[n % len(posted)]
            body = {
                "settings": {**settings, "flowField": {**settings.get("flowField", {}),
                                                       "color1": colour()}},
                "options": options,
                "wallet": FLOOD_WALLETS[n % len(FLOOD_WALLETS)],
            }  # fmt: skip
            wait = 0.0
            try:
                async with http.post(f"{base}/api/v1/mints", json=body) as response:
                    raw = await response.read()
                    counts[name][answer_key(response.status, raw)] += 1
                    if response.status == 202:
                        accepted[name].append(json.loads(raw)["job_id"])
                    wait = retry_after(response, polite)
            except (aiohttp.ClientError, TimeoutError) as exc:
                counts[name][type(exc).__name__] += 1
            if wait:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)

    started = time.perf_counter()
    tasks = [asyncio.create_task(preview_task(i)) for i in range(previews)]
    tasks += [asyncio.create_task(job_task(i)) for i in range(jobs)]
    await stop.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for http in sessions:
        await http.close()
    return {
        "seconds": time.perf_counter() - started,
        "counts": {kind: dict(c) for kind, c in counts.items()},
        "accepted": accepted,
    }


def retry_after(response: aiohttp.ClientResponse, polite: bool) -> float:
    if not polite or response.status != 429:
        return 0.0
    try:
        return float(response.headers.get("Retry-After", "1"))
    except ValueError:
        return 1.0


def flood_child(args: argparse.Namespace) -> None:
    result = asyncio.run(
        flood(
            args.flood_child,
            args.addresses,
            args.preview_concurrency,
            args.job_concurrency,
            args.kinds,
            args.polite,
        )
    )
    print(json.dumps(result), flush=True)


# ----------------------------------------------------------------------------- the victim


@dataclasses.dataclass
class VictimJob:
    latency: float  # POST → completed (or → the phase's end, if not ``done``)
    done: bool
    pending_at_submit: float  # the work admission saw pending, just before the POST
    refused: int = 0  # answers other than 202 before it was accepted


async def pending_frames(http: aiohttp.ClientSession, base: str) -> float:
    async with http.get(f"{base}/metrics") as response:
        text = await response.text()
    match = re.search(r"^lantern_pending_frames (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else float("nan")


async def victim(base: str, n: int, phase: int, deadline: float) -> list[VictimJob]:
    """``n`` default jobs one after another, each polled every 50 ms until it ends."""
    connector = aiohttp.TCPConnector(local_addr=(VICTIM_ADDRESS, 0))
    timeout = aiohttp.ClientTimeout(total=30)
    results: list[VictimJob] = []
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        for i in range(n):
            if time.monotonic() >= deadline:
                break
            # the same work in both phases (line length sets the cost); colours differ, so
            # no render process meets a palette it has seen
            colour = f"#{(phase * 7919 + i * 104729) % (1 << 24):06x}"
            body = {
                "settings": {"flowFields": {"lineLength": 20 + i}, "flowField": {"color1": colour}},
                "wallet": VICTIM_WALLET,
            }
            pending = await pending_frames(http, base)
            started = time.perf_counter()
            refused = 0
            while True:
                async with http.post(f"{base}/api/v1/mints", json=body) as response:
                    answer = await response.json()
                    if response.status == 202:
                        job_id = answer["job_id"]
                        break
                    refused += 1
                    print(f"  victim job {i + 1} refused: {response.status} {answer}")
                    if time.monotonic() >= deadline:
                        return results
                    await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
            state = "queued"
            while state not in ("completed", "failed") and time.monotonic() < deadline:
                await asyncio.sleep(POLL_S)
                async with http.get(f"{base}/api/v1/jobs/{job_id}") as response:
                    state = (await response.json())["state"]
            if state == "failed":
                raise SystemExit(f"victim job {job_id} failed")
            took = time.perf_counter() - started
            results.append(VictimJob(took, state == "completed", pending, refused))
            mark = "" if state == "completed" else "≥"
            print(
                f"  victim job {i + 1}: {mark}{took:6.2f}s  (pending work at submit "
                f"{pending:,.0f} frames)",
                flush=True,
            )
    return results


async def job_states(base: str, ids: list[str]) -> Counter[str]:
    states: Counter[str] = Counter()
    connector = aiohttp.TCPConnector(local_addr=(VICTIM_ADDRESS, 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        for job_id in ids:
            async with http.get(f"{base}/api/v1/jobs/{job_id}") as response:
                job = await response.json()
                states[f"{job['state']}" + (f" {job['progress']}%" if job["progress"] else "")] += 1
    return states


# ------------------------------------------------------------------------------- CPU use

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def machine_busy() -> float:
    """CPU-seconds all cores have spent busy since boot (not idle, not waiting for I/O)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLK_TCK


API, PREVIEWS = "API process", "preview processes (API's)"


class CpuMeter:
    """CPU-seconds of each part of the stack between ``start()`` and ``stop()``."""

    def __init__(self, parts: dict[str, int]) -> None:
        self.parts = parts  # name → root pid (its whole tree is counted)
        self.before: dict[str, float] = {}
        self.used: dict[str, float] = {}
        self.wall = 0.0

    def sample(self) -> dict[str, float]:
        out = {name: cpu_seconds(process_tree(pid)) for name, pid in self.parts.items()}
        api = self.parts.get(API)
        if api is not None:  # the API process apart from its preview processes
            out[PREVIEWS] = out.pop(API) - cpu_seconds([api])
            out[API] = cpu_seconds([api])
        out["this bench (victim)"] = cpu_seconds([os.getpid()])
        out["machine"] = machine_busy()
        return out

    def start(self) -> None:
        self.before, self.wall = self.sample(), time.perf_counter()

    def stop(self) -> None:
        after, self.wall = self.sample(), time.perf_counter() - self.wall
        self.used = {k: after[k] - self.before.get(k, 0.0) for k in after}
        ours = sum(v for k, v in self.used.items() if k != "machine")
        self.used["others on the machine"] = max(0.0, self.used.pop("machine") - ours)


# ---------------------------------------------------------------------------- the stack

READY = "Worker ready"  # faust's line once every table is recovered and streams run


def spawn(command: str, env: dict[str, str], root: Path, log: Path) -> subprocess.Popen[bytes]:
    """``lantern <command>`` from the checkout ``root``, its output to ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "lantern", "--loglevel", "info", command],
            env=env,
            cwd=root,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches this bench, which stops them in order
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL to the whole tree if it has not ended in 30 s."""
    if proc.poll() is not None:
        return
    tree = process_tree(proc.pid)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        for pid in reversed(tree):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait()


def wait_for(what: str, ready: Any, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until ``ready()``; exits with the log's tail if ``proc`` ends or 180 s pass."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited:\n{log.read_text(errors='replace')[-3000:]}")
        if ready():
            return
        time.sleep(0.3)
    raise SystemExit(f"{what} not ready in 180 s:\n{log.read_text(errors='replace')[-3000:]}")


def api_ready(base: str) -> bool:
    async def probe() -> bool:
        timeout = aiohttp.ClientTimeout(total=3)
        async with aiohttp.ClientSession(timeout=timeout) as http, http.get(f"{base}/readyz") as r:
            return r.status == 200

    try:
        return asyncio.run(probe())
    except (aiohttp.ClientError, OSError, TimeoutError):
        return False


# ---------------------------------------------------------------------------------- main


def percentile50(jobs: list[VictimJob]) -> tuple[float, bool]:
    """The median latency, and whether it is only a lower bound (an unfinished job in it)."""
    ordered = sorted(jobs, key=lambda j: j.latency)
    mid = ordered[(len(ordered) - 1) // 2 : len(ordered) // 2 + 1]
    return statistics.mean(j.latency for j in mid), not all(j.done for j in mid)


def show_latency(label: str, jobs: list[VictimJob]) -> tuple[float, bool]:
    if not jobs:
        print(f"{label:<10} no job was submitted")
        return float("nan"), True
    p50, bound = percentile50(jobs)
    worst = max(jobs, key=lambda j: j.latency)
    done = sum(j.done for j in jobs)
    print(
        f"{label:<10} {done:>2}/{len(jobs):<2} {'≥' if bound else ' '}{p50:7.2f} "
        f"{'≥' if not worst.done else ' '}{worst.latency:7.2f}  "
        + " ".join(f"{'≥' if not j.done else ''}{j.latency:.1f}" for j in jobs)
    )
    return p50, bound


def show_cpu(meters: dict[str, CpuMeter]) -> None:
    names = list(dict.fromkeys(name for m in meters.values() for name in m.used))
    names.append(names.pop(names.index("others on the machine")))
    print(f"\nCPU used, in cores (CPU-seconds / wall seconds; the machine has {os.cpu_count()}):")
    print(f"  {'':<32}" + "".join(f"{phase:>10}" for phase in meters))
    for name in names:
        row = "".join(f"{m.used.get(name, 0.0) / m.wall:>10.2f}" for m in meters.values())
        print(f"  {name:<32}{row}")
    print(f"  {'wall seconds':<32}" + "".join(f"{m.wall:>10.1f}" for m in meters.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5, help="victim jobs per phase")
    parser.add_argument("--preview-concurrency", type=int, default=20, help="preview flooders")
    parser.add_argument("--job-concurrency", type=int, default=20, help="job-posting flooders")
    parser.add_argument("--flood-addresses", type=int, default=1, help="flooder's addresses")
    parser.add_argument(
        "--kinds",
        nargs="+",
        choices=list(JOB_KINDS),
        default=list(JOB_KINDS),
        help="the flooder's jobs, posted in turn (default: all)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="LANTERN_X=V",
        help="a setting of the stack changed from its default (what-if runs; repeatable)",
    )
    parser.add_argument(
        "--polite", action="store_true", help="the flooder waits out each 429's Retry-After"
    )
    parser.add_argument("--lead", type=float, default=5.0, help="flood seconds before victim")
    parser.add_argument("--abuse-seconds", type=float, default=150.0, help="phase 2 at most")
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="run the stack from this checkout (a snapshot)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the broker's data and logs")
    parser.add_argument(
        "--flooder-nice",
        type=int,
        default=0,
        help="niceness of the flooder's process (its CPU stands in for a remote client's)",
    )
    parser.add_argument("--flood-child", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--addresses", nargs="+", default=[FLOOD_ADDRESS], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.flood_child:
        with contextlib.suppress(KeyboardInterrupt):
            flood_child(args)
        return

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="lantern-abuse-"))
    broker = EmbeddedKafka(dataclasses.replace(Settings().kafka, data_dir=tmp / "kafka"))
    procs: list[subprocess.Popen[bytes]] = []  # worker, API
    flooder: subprocess.Popen[bytes] | None = None
    try:
        bootstrap = broker.start()
        assert broker._process is not None
        port = free_port()
        env = {
            # nothing inherited may change a limit: every LANTERN_* but ours at its default
            **{k: v for k, v in os.environ.items() if not k.startswith("LANTERN_")},
            "LANTERN_KAFKA_BOOTSTRAP": bootstrap,
            "LANTERN_KAFKA_LIBS_DIR": str(ROOT / ".lantern" / "kafka" / "libs"),
            "LANTERN_KAFKA_TOPIC_PREFIX": "abuse",
            "LANTERN_WORKER_APP_ID": "abuse",
            "LANTERN_STORE_ROOT": str(tmp / "ipfs"),
            "LANTERN_API_PORT": str(port),
        }
        if args.root != ROOT:  # the stack's code from another checkout (a snapshot)
            env["PYTHONPATH"] = str(args.root)
        changed = dict(item.split("=", 1) for item in args.set)
        env.update(changed)
        settings = Settings.from_env(env)
        base = f"http://127.0.0.1:{port}"
        worker_log, api_log = tmp / "worker.log", tmp / "api.log"
        # the worker first: it creates the topics, which the API reads
        worker = spawn("worker", env, args.root, worker_log)
        procs.append(worker)
        wait_for("the worker", lambda: READY in worker_log.read_text(errors="replace"),
                 worker, worker_log)  # fmt: skip
        api_proc = spawn("api", env, args.root, api_log)
        procs.append(api_proc)
        wait_for("the API", lambda: api_ready(base), api_proc, api_log)
        api = settings.api
        print(
            f"abuse: one worker ({os.cpu_count()} render processes), one API, "
            + (f"CHANGED {' '.join(args.set)}, else " if changed else "")
            + "default limits:"
        )
        print(
            f"  client_frames_per_min {api.client_frames_per_min}, ip/wallet rate "
            f"{api.ip_rate_per_min}/{api.wallet_rate_per_min} per min, max_backlog_frames "
            f"{api.max_backlog_frames}, previews {api.preview_concurrency} at once + "
            f"{api.preview_queue} queued, {api.preview_rate_per_min}/min per address"
        )
        print(f"  broker, logs and store in {tmp}{'' if args.keep else ' (removed at the end)'}\n")
        far = time.monotonic() + 600
        print("warm-up (not counted)")
        asyncio.run(victim(base, 1, phase=0, deadline=far))
        parts = {
            "broker": broker._process.pid,
            "worker + render processes": worker.pid,
            API: api_proc.pid,
        }

        print(f"\nphase 1, idle (load average {os.getloadavg()[0]:.2f})")
        idle_cpu = CpuMeter(parts)
        idle_cpu.start()
        idle = asyncio.run(victim(base, args.jobs, phase=1, deadline=far))
        idle_cpu.stop()

        print(
            f"\nphase 2, abuse (load average {os.getloadavg()[0]:.2f}; the flood starts "
            f"{args.lead:.0f}s before the victim)"
        )
        addresses = [FLOOD_ADDRESS] + [f"127.0.0.{4 + i}" for i in range(args.flood_addresses - 1)]
        flooder = subprocess.Popen(
            [
                sys.executable, __file__, "--flood-child", base,
                "--addresses", *addresses,
                "--preview-concurrency", str(args.preview_concurrency),
                "--job-concurrency", str(args.job_concurrency),
                "--kinds", *args.kinds,
                *(["--polite"] if args.polite else []),
            ],
            stdout=subprocess.PIPE,
            # the flooder's own CPU stands in for a remote client's: --flooder-nice lets the
            # server's processes have the share a flood from elsewhere would leave them
            preexec_fn=(lambda: os.nice(args.flooder_nice)) if args.flooder_nice else None,
        )  # fmt: skip
        abuse_cpu = CpuMeter({**parts, "flooder client (this bench)": flooder.pid})
        abuse_cpu.start()
        time.sleep(args.lead)
        deadline = time.monotonic() + args.abuse_seconds - args.lead
        abused = asyncio.run(victim(base, args.jobs, phase=2, deadline=deadline))
        abuse_cpu.stop()
        flooder.send_signal(signal.SIGTERM)
        out, _ = flooder.communicate(timeout=60)
        flood_result = json.loads(out)
        flooder = None
        accepted_ids = [i for ids in flood_result["accepted"].values() for i in ids]
        states = asyncio.run(job_states(base, accepted_ids))
    except KeyboardInterrupt:
        print("\ninterrupted; stopping everything")
        return
    finally:
        if flooder is not None and flooder.poll() is None:
            flooder.kill()
            flooder.wait()
        for proc in reversed(procs):  # the API first, then the worker
            stop(proc)
        broker.stop()
        if not args.keep:  # GIFs of 1024² × 100 frames are ~40 MB each
            shutil.rmtree(tmp, ignore_errors=True)

    print("\nvictim: default jobs (512², 100 frames), POST → completed, one at a time")
    print(f"{'phase':<10} {'done':>5} {'p50 s':>8} {'max s':>8}  each, s")
    p50_idle, _ = show_latency("idle", idle)
    p50_abuse, bound = show_latency("abuse", abused)
    ratio = p50_abuse / p50_idle

    requests = sum(sum(c.values()) for c in flood_result["counts"].values())
    print(
        f"\nflooder: {flood_result['seconds']:.0f}s from {', '.join(addresses)}, "
        f"wallets {len(FLOOD_WALLETS)}{', polite' if args.polite else ''}, "
        f"{requests / flood_result['seconds']:.0f} requests/s; answers by kind and status"
    )
    for kind, counts in flood_result["counts"].items():
        total = sum(counts.values())
        shown = ", ".join(f"{k} ×{v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
        print(f"  {kind:<28} {total:>6}  {shown}")
    print("admitted expensive jobs (cost in frames of 512²):")
    admitted_cost = 0.0
    for kind in args.kinds:
        name, _, options = JOB_KINDS[kind]
        n = len(flood_result["accepted"][name])
        cost = n * options["frames"] * options["size"] ** 2 / 512**2
        admitted_cost += cost
        print(f"  {name:<28} {n:>4} jobs, {cost:>8,.0f} frames of work")
    rate = admitted_cost / (flood_result["seconds"] / 60)
    print(
        f"  in all {admitted_cost:,.0f} frames of work, {rate:,.0f} a minute; their states "
        "at the end: " + ", ".join(f"{k} ×{v}" for k, v in sorted(states.items()))
    )
    show_cpu({"idle": idle_cpu, "abuse": abuse_cpu})

    print(f"\nrun time {time.perf_counter() - started:.0f}s")
    met = ratio <= 2.0 and not bound
    print(
        f"victim p50 idle {p50_idle:.2f} s, under abuse {'≥' if bound else ''}{p50_abuse:.2f} s, "
        f"ratio {'≥' if bound else ''}{ratio:.2f} (target ≤ 2.0): " + ("met" if met else "NOT met")
    )


if __name__ == "__main__":
    main()
