"""Every query of every Grafana dashboard (monitoring/dashboards.py) has data when a real
Prometheus (Debian's `prometheus`) scrapes a real run: the session's worker and API doing jobs
that complete, one that fails in render and is dead-lettered, one whose pin is retried, and one
minted on the chain. Grafana's variables are given concrete values as Grafana would."""

from __future__ import annotations

import asyncio
import json
import math
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from lantern.processes import free_port
from monitoring.dashboards import build, expressions

from .conftest import ARTIFACTS, PIN_FAULT_COLOUR, RENDER_FAULT_COLOUR, Lantern, LocalChain
from .test_mint import USER, mint_tx, minted_token_id, named, sign_and_send, wait_state, web3_for
from .test_pipeline import submit, wait_done

pytestmark = pytest.mark.integration

SMALL = {"size": 64, "frames": 4}
# what Grafana puts for its variables: $__rate_interval is at least four scrape intervals (1 m
# at the 15 s of monitoring/prometheus.yml); the run below is far younger than $__range
VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "5m"}
# scrapes after the run's last event before the queries (1 s apart)
SCRAPES_AFTER = 3


@pytest.fixture
def prometheus(lantern: Lantern, tmp_path: Path) -> Iterator[str]:
    """Debian's Prometheus scraping the session's API (job lantern-api) and worker (job
    lantern-worker) every second; its base URL once it is ready and both targets are up."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("no `prometheus` on PATH: install Debian's package (`make setup` does)")
    api_port = lantern.env["LANTERN_API_PORT"]
    worker_port = lantern.env["LANTERN_WORKER_METRICS_PORT"]
    config = tmp_path / "prometheus.yml"
    config.write_text(
        json.dumps(  # JSON is YAML
            {
                "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                "scrape_configs": [
                    {"job_name": "lantern-api", "metrics_path": "/metrics",
                     "static_configs": [{"targets": [f"127.0.0.1:{api_port}"]}]},
                    {"job_name": "lantern-worker", "metrics_path": "/metrics",
                     "static_configs": [{"targets": [f"127.0.0.1:{worker_port}"]}]},
                ],
            }
        )
    )  # fmt: skip
    port = free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log = (ARTIFACTS / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"prometheus exited: see {ARTIFACTS / 'prometheus.log'}"
            try:
                up = query(base, 'up{job=~"lantern-api|lantern-worker"} == 1')
                if len(up) == 2:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "prometheus did not scrape both targets in 30 s"
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def query(base: str, expr: str) -> list[dict[str, Any]]:
    """An instant query's result vector (``GET /api/v1/query``)."""
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    with urllib.request.urlopen(url, timeout=10) as response:
        answer = json.load(response)
    assert answer["status"] == "success", answer
    data = answer["data"]
    if data["resultType"] == "scalar":
        return [{"metric": {}, "value": data["result"]}]
    return list(data["result"])


def concrete(expr: str) -> str:
    for variable, value in VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


async def run_jobs(lantern: Lantern, local_chain: LocalChain) -> dict[str, str]:
    """Two plain jobs, one failing in render, one whose pin fails twice, then one minted."""
    base = lantern.base_url

    def body(colour: str | None = None) -> dict[str, Any]:
        settings = {"flowField": {"color1": colour}} if colour else {}
        return {"settings": settings, "options": SMALL, "wallet": USER.address}

    w3 = web3_for(local_chain.rpc)
    try:
        async with aiohttp.ClientSession() as http:
            jobs = {
                "plain": await submit(http, base, body()),
                "minted": await submit(http, base, body()),
                "render fault": await submit(http, base, body(RENDER_FAULT_COLOUR)),
                "pin fault": await submit(http, base, body(PIN_FAULT_COLOUR)),
            }
            done = await asyncio.gather(*(wait_done(http, base, j, 60) for j in jobs.values()))
            states = {name: job["state"] for name, (job, _) in zip(jobs, done, strict=True)}
            assert states == {
                "plain": "completed",
                "minted": "completed",
                "render fault": "failed",
                "pin fault": "completed",
            }, states
            status, answer = await mint_tx(http, base, jobs["minted"], USER.address)
            assert status == 200, answer
            receipt = await sign_and_send(w3, USER, answer["transaction"])
            token_id = minted_token_id(w3, receipt)
            job = await wait_state(http, base, jobs["minted"], named, timeout=30)
            assert job["token"]["token_id"] == token_id, job
    finally:
        await w3.provider.disconnect()
    return jobs


def await_scrapes_after(base: str, moment: float, timeout: float = 20) -> None:
    """Until Prometheus has scraped both targets ``SCRAPES_AFTER`` times since ``moment``."""
    expr = 'min(timestamp(up{job=~"lantern-api|lantern-worker"}))'
    deadline = time.monotonic() + timeout
    while True:
        result = query(base, expr)
        if result and float(result[0]["value"][1]) >= moment + SCRAPES_AFTER:
            return
        assert time.monotonic() < deadline, f"no scrape after the run: {result}"
        time.sleep(0.5)


def has_data(result: list[dict[str, Any]]) -> bool:
    """A result with a series whose value is a number (NaN: a quantile of nothing)."""
    return any(not math.isnan(float(series["value"][1])) for series in result)


async def test_every_dashboard_query_has_data_in_a_real_run(
    lantern: Lantern, local_chain: LocalChain, prometheus: str
) -> None:
    await run_jobs(lantern, local_chain)
    await asyncio.to_thread(await_scrapes_after, prometheus, time.time())

    answers: dict[str, Any] = {}
    empty: list[str] = []
    for board in build():
        for title, expr in expressions(board):
            promql = concrete(expr)
            assert "$" not in promql, f"a variable the test does not set: {promql}"
            result = await asyncio.to_thread(query, prometheus, promql)
            answers[f"{board['uid']} / {title} / {promql}"] = result
            if not has_data(result):
                empty.append(f"{board['title']} / {title}: {promql} -> {result}")
    # every answer, for a look at what the panels would show
    (ARTIFACTS / "dashboard-queries.json").write_text(json.dumps(answers, indent=2) + "\n")
    assert not empty, f"{len(empty)} queries without data:\n" + "\n".join(empty)
