"""POST → completed latency of default jobs, one at a time, against a real Lantern.

    .venv/bin/python bench/latency.py              # starts its own `lantern up` in a temp dir
    .venv/bin/python bench/latency.py --url http://127.0.0.1:8080 --jobs 5

Prints each job's latency and the median; also the time to the first progress beyond `queued`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streams.broker import free_port  # noqa: E402

WALLET = "0x52908400098527886E0F7030069857D2E4169EE7"


def request(url: str, body: dict[str, object] | None = None) -> dict[str, object]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as response:
        answer: dict[str, object] = json.loads(response.read())
        return answer


def one_job(base: str, body: dict[str, object]) -> tuple[float, float]:
    started = time.perf_counter()
    job_id = request(f"{base}/api/v1/mints", body)["job_id"]
    first = 0.0
    while True:
        job = request(f"{base}/api/v1/jobs/{job_id}")
        if not first and job["state"] != "queued":
            first = time.perf_counter() - started
        if job["state"] in ("completed", "failed"):
            if job["state"] == "failed":
                raise SystemExit(f"job failed: {job.get('error')}")
            return time.perf_counter() - started, first
        time.sleep(0.05)


def wait_ready(base: str, proc: subprocess.Popen[bytes] | None, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit("lantern up exited")
        try:
            request(f"{base}/readyz")
            return
        except (OSError, urllib.error.HTTPError):
            time.sleep(0.5)
    raise SystemExit("not ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running Lantern; default: start one")
    parser.add_argument("--jobs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args()
    proc = None
    base = args.url
    if base is None:
        tmp = Path(tempfile.mkdtemp(prefix="lantern-bench-"))
        port = free_port()
        env = {
            **os.environ,
            "LANTERN_KAFKA_DATA_DIR": str(tmp / "kafka"),
            "LANTERN_STORE_ROOT": str(tmp / "ipfs"),
            "LANTERN_API_PORT": str(port),
            "LANTERN_KAFKA_BOOTSTRAP": "",
        }
        log = (tmp / "up.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "lantern", "--loglevel", "warning", "up"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc)
        time.sleep(2)  # let the worker finish joining its groups
        for i in range(args.warmup):
            one_job(base, {"settings": {"contour": {"levels": 3 + i}}, "wallet": WALLET})
        results = []
        for i in range(args.jobs):
            # distinct settings per job, so no cache or identical-CID shortcut is measured
            body = {"settings": {"flowFields": {"lineLength": 20 + i}}, "wallet": WALLET}
            total, first = one_job(base, body)
            results.append(total)
            print(f"job {i + 1}: {total:.2f}s to completed ({first:.2f}s to first progress)")
        print(
            f"median POST→completed over {args.jobs} default jobs (512², 100 frames): "
            f"{statistics.median(results):.2f}s (min {min(results):.2f}s, "
            f"max {max(results):.2f}s)"
        )
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGINT)
            proc.wait(60)
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
