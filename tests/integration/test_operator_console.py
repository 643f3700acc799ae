"""``lantern jobs …`` as an operator runs it: a subprocess against a stack of its own (purging
touches every job), with the operator token and a render fault colour. Every action, its
``--json``, and its failures said in one plain line with exit code 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from lantern.processes import free_port

from .conftest import ADMIN_TOKEN, RENDER_FAULT_COLOUR, ROOT, lantern_env, running_stack
from .test_pipeline import WALLET

pytestmark = pytest.mark.integration
SMALL = {"size": 64, "frames": 4}


@dataclass(frozen=True)
class Console:
    """The stack's base URL, and a completed and a failed job made once for the module."""

    base: str
    done: str
    failed: str


def http(method: str, url: str, body: object = None, admin: bool = False) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if data else {}
    if admin:
        headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def submit(base: str, colour: str = "#112233", options: dict[str, int] = SMALL) -> str:
    body = {"settings": {"flowField": {"color1": colour}}, "options": options, "wallet": WALLET}
    status, answer = http("POST", f"{base}/api/v1/mints", body)
    assert status == 202, answer
    return str(answer["job_id"])


def wait_for(base: str, job_id: str, done: Any, timeout: float = 150) -> dict[str, Any]:
    """Poll the job's detail until ``done(job)``."""
    deadline = time.monotonic() + timeout
    while True:
        status, job = http("GET", f"{base}/api/v1/jobs/{job_id}/detail", admin=True)
        if status == 200 and done(job):
            return dict(job)
        assert time.monotonic() < deadline, f"job {job_id} not there in {timeout}s: {job}"
        time.sleep(0.25)


def finished(job: dict[str, Any]) -> bool:
    return job["state"] in {"completed", "failed"}


@pytest.fixture(scope="module")
def console(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    name = f"console{os.getpid()}"
    env = {
        **lantern_env(kafka_bootstrap, name, free_port(), tmp_path_factory.mktemp("ipfs")),
        "LANTERN_API_ADMIN_TOKEN": ADMIN_TOKEN,
        "LANTERN_FAULTS_RENDER_COLOR": RENDER_FAULT_COLOUR,
    }
    with running_stack(env, name=name) as base:
        done, failed = submit(base), submit(base, RENDER_FAULT_COLOUR)
        assert wait_for(base, done, finished)["state"] == "completed"
        assert wait_for(base, failed, finished)["state"] == "failed"
        yield Console(base, done, failed)


def jobs(
    base: str | None, *args: str, token: str = ADMIN_TOKEN
) -> subprocess.CompletedProcess[str]:
    """``lantern jobs ARGS`` as a subprocess; the API's URL from LANTERN_API_PUBLIC_URL."""
    env = {**os.environ, "LANTERN_API_ADMIN_TOKEN": token, "LANTERN_API_PUBLIC_URL": base or ""}
    return subprocess.run(
        [sys.executable, "-m", "lantern", "jobs", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


def refused(done: subprocess.CompletedProcess[str]) -> str:
    """A failure: exit code 1, nothing on stdout, one plain line on stderr."""
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("lantern: "), done.stderr
    return done.stderr


def test_list_shows_the_jobs_and_the_counts(console: Console) -> None:
    listed = json.loads(ok(jobs(console.base, "list", "--json")))
    by_id = {job["job_id"]: job for job in listed["jobs"]}
    assert by_id[console.done]["state"] == "completed"
    assert by_id[console.failed]["state"] == "failed"
    assert "injected render fault" in by_id[console.failed]["error"]
    assert listed["counts"]["completed"] >= 1 and listed["counts"]["failed"] >= 1

    only = json.loads(ok(jobs(console.base, "list", "--state", "failed", "--json")))
    assert {job["state"] for job in only["jobs"]} == {"failed"}

    table = ok(jobs(console.base, "list")).splitlines()
    assert table[0].split() == ["JOB", "STATE", "PROGRESS", "STAGE", "AGE", "ERROR"]
    row = next(line for line in table if line.startswith(console.failed))
    assert " failed " in row and "render" in row and "injected render fault" in row
    assert table[-1].startswith("counts: queued ")

    said = refused(jobs(console.base, "list", "--state", "lost"))
    assert "state: must be one of" in said and "(422)" in said


def test_show_prints_a_failure_s_request_timeline_error_and_trace(console: Console) -> None:
    text = ok(jobs(console.base, "show", console.failed))
    assert text.startswith(f"job       {console.failed}\nstate     failed")
    assert f'"color1": "{RENDER_FAULT_COLOUR}"' in text  # the request
    timeline = text[text.index("\ntimeline\n") : text.index("\nerror\n")]
    assert " queued " in timeline and " failed " in timeline and "retrying" in timeline
    error = text[text.index("\nerror\n") : text.index("\ntrace\n")]
    assert "injected render fault" in error
    trace = text[text.index("\ntrace\n") :]
    assert "Traceback" in trace and "InjectedFault" in trace

    job = json.loads(ok(jobs(console.base, "show", console.failed, "--json")))
    assert job["job_id"] == console.failed and "InjectedFault" in job["trace"]
    done = ok(jobs(console.base, "show", console.done))
    assert "\nresult\n" in done and "gif_cid" in done and "\ntrace\n" not in done

    said = refused(jobs(console.base, "show", "0" * 32))
    assert f"no job {'0' * 32} (404)" in said


def test_dead_letters_name_the_failed_job(console: Console) -> None:
    letters = json.loads(ok(jobs(console.base, "dead-letters", "--json")))["dead_letters"]
    mine = [letter for letter in letters if letter["job_id"] == console.failed]
    assert mine and all(letter["stage"] == "render" for letter in mine)
    text = ok(jobs(console.base, "dead-letters", "--limit", "50", "--full"))
    assert f"render  job {console.failed}  3 attempts" in text
    assert "error: " in text and "payload:" in text and "Traceback" in text


def test_workers_lists_each_member_s_partitions(console: Console) -> None:
    group = json.loads(ok(jobs(console.base, "workers", "--json")))
    assert group["state"] == "Stable"
    (member,) = group["members"]
    text = ok(jobs(console.base, "workers"))
    assert text.startswith(f"group {group['group']}: Stable, 1 member\n")
    requests = next(t for t in member["partitions"] if t.endswith("mint-requests"))
    line = next(line for line in text.splitlines() if line.strip().startswith(requests))
    assert line.split()[-1] == "0–7"


def test_retry_drives_a_failed_job_again_and_refuses_others(console: Console) -> None:
    text = ok(jobs(console.base, "retry", console.failed))
    assert text == f"job {console.failed} is queued again (lantern jobs show {console.failed})\n"
    # the fault is still there: it fails again, one operator retry later
    job = wait_for(console.base, console.failed, lambda j: j["retries"] == 1 and finished(j))
    assert job["state"] == "failed"

    said = refused(jobs(console.base, "retry", console.done))
    assert f"job {console.done} is completed; only failed jobs retry (409)" in said
    said = refused(jobs(console.base, "retry", "f" * 32))
    assert "(404)" in said


def test_cancel_fails_an_unfinished_job(console: Console) -> None:
    big = submit(console.base, options={"size": 512, "frames": 400})
    answer = json.loads(ok(jobs(console.base, "cancel", big, "--json")))
    assert answer == {"job_id": big, "state": "failed"}
    job = wait_for(console.base, big, finished, timeout=30)
    assert job["state"] == "failed" and job["error"] == "cancelled by an operator"
    said = refused(jobs(console.base, "cancel", big))
    assert f"job {big} is failed: nothing to cancel (409)" in said


def test_retry_failed_drives_every_failed_job(console: Console) -> None:
    failed = [submit(console.base, RENDER_FAULT_COLOUR) for _ in range(2)]
    for job_id in failed:
        assert wait_for(console.base, job_id, finished)["state"] == "failed"
    text = ok(jobs(console.base, "retry-failed"))
    assert text.startswith("retried ") and "skipped" not in text
    retried = [line.strip() for line in text.splitlines() if line.startswith("  ")]
    assert set(failed) <= set(retried)
    for job_id in failed:
        wait_for(console.base, job_id, lambda j: j["retries"] == 1 and finished(j))
    for job_id in set(retried) - {*failed, console.failed}:  # the big job cancelled earlier
        if not finished(wait_for(console.base, job_id, lambda j: j["retries"] >= 1)):
            cancel = jobs(console.base, "cancel", job_id)  # not a second time in full
            if cancel.returncode != 0:  # unless it finished in between: said so, and true
                assert "nothing to cancel (409)" in refused(cancel)
                assert finished(wait_for(console.base, job_id, lambda j: True))


def test_purge_forgets_finished_jobs_older_than_asked(console: Console) -> None:
    job_id = submit(console.base)
    wait_for(console.base, job_id, finished)
    kept = json.loads(ok(jobs(console.base, "purge", "--older-than", "1h", "--json")))
    assert job_id not in kept["purged"]
    time.sleep(1.1)
    text = ok(jobs(console.base, "purge", "--older-than", "1s"))
    assert text.startswith("purged ") and f"\n  {job_id}" in text
    deadline = time.monotonic() + 20
    while http("GET", f"{console.base}/api/v1/jobs/{job_id}")[0] != 404:
        assert time.monotonic() < deadline, "the purged job is still there"
        time.sleep(0.3)
    said = refused(jobs(console.base, "show", job_id))
    assert "(404)" in said


def test_a_wrong_or_missing_token_is_said_plainly(console: Console) -> None:
    said = refused(jobs(console.base, "list", token="not-the-token"))
    assert said == (
        f"lantern: wrong token: the API at {console.base} refused LANTERN_API_ADMIN_TOKEN (401)\n"
    )
    said = refused(jobs(console.base, "workers", token=""))
    assert said == "lantern: no operator token: set LANTERN_API_ADMIN_TOKEN\n"


def test_an_unreachable_api_is_named() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    said = refused(jobs(None, "list", "--url", url))
    assert said.startswith(f"lantern: cannot reach the API at {url}: ")
    assert "Connection refused" in said


def test_help_lists_the_command_and_its_actions() -> None:
    top = subprocess.run(
        [sys.executable, "-m", "lantern", "--help"], capture_output=True, text=True, check=True
    )
    assert "jobs                list, inspect, retry, cancel and purge jobs" in top.stdout
    done = jobs(None, "--help")
    for action in ("list", "show", "retry", "retry-failed", "cancel", "purge", "dead-letters",
                   "workers"):  # fmt: skip
        assert f"\n    {action}" in ok(done)
    purge = ok(jobs(None, "purge", "--help"))
    assert "--older-than AGE" in purge and "--json" in purge and "--url URL" in purge
    said = jobs(None, "purge", "--older-than", "soon")
    assert said.returncode == 2 and "'soon': a number with s, m, h or d" in said.stderr
