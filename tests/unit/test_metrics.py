"""Metrics a user reads off Prometheus: a job seen finishing is counted once with its time,
the stuck-job gauge ignores a backlog, every metric carries the names the alert rules use."""

from __future__ import annotations

import time
from typing import Any

from api.jobs import JobView
from lantern.contract import JobStatus
from lantern.settings import Settings
from monitoring.metrics import ApiMetrics, WorkerMetrics
from streams.watch import idle_max


def status(job_id: str, state: str, **extra: Any) -> dict[str, Any]:
    return {"job_id": job_id, "state": state, "progress": 0, "created_at": 100.0,
            "updated_at": 100.0, **extra}  # fmt: skip


def sample(metrics: ApiMetrics | WorkerMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_jobs_finishing_live_are_counted_once_with_their_time() -> None:
    metrics = ApiMetrics.create()
    view = JobView(Settings(), metrics)
    view._put("a", status("a", "completed", updated_at=104.0))  # replayed at start-up
    view.caught_up.set()
    view._put("b", status("b", "rendering"))
    view._put("b", status("b", "completed", updated_at=103.5))
    view._put("b", status("b", "completed", updated_at=103.5))  # the same state again
    view._put("b", status("b", "minted", updated_at=200.0))  # minted is no second finish
    view._put("c", status("c", "encoding"))
    view._put("c", status("c", "failed", stage="assemble"))
    finished = "lantern_jobs_finished_total"
    assert sample(metrics, finished, state="completed", stage="pin") == 1
    assert sample(metrics, finished, state="failed", stage="assemble") == 1
    assert sample(metrics, "lantern_job_seconds_count") == 1
    assert sample(metrics, "lantern_job_seconds_sum") == 3.5


def _job(state: str, idle: float, now: float) -> JobStatus:
    return JobStatus(job_id="x", state=state, progress=0, updated_at=now - idle)


def test_the_stuck_job_gauge_counts_jobs_in_progress_not_a_backlog_nor_finished_ones() -> None:
    now = time.time()
    jobs = [_job("queued", 900, now), _job("rendering", 120, now), _job("completed", 999, now)]
    assert 119 < idle_max(jobs, now) < 121
    assert idle_max([_job("queued", 900, now)], now) == 0.0


def test_both_processes_say_their_version_and_their_own_cpu_and_memory() -> None:
    for metrics in (ApiMetrics.create(), WorkerMetrics.create()):
        text = {m.name for m in metrics.registry.collect()}
        assert {
            "lantern_build_info",
            "process_cpu_seconds",
            "process_resident_memory_bytes",
        } <= text
        (info,) = [m for m in metrics.registry.collect() if m.name == "lantern_build_info"]
        (labels,) = [s.labels for s in info.samples]
        assert labels["version"] and labels["renderer_version"].startswith("lantern-gen1/")


def test_known_label_values_exist_at_zero_so_the_first_increase_is_seen() -> None:
    worker, api = WorkerMetrics.create(), ApiMetrics.create()
    assert sample(worker, "lantern_dead_letters_total", stage="render") == 0.0
    assert worker.registry.get_sample_value("lantern_dead_letters_total", {"stage": "pin"}) == 0
    labels = {"backend": "kubo", "kind": "image", "outcome": "error"}
    assert worker.registry.get_sample_value("lantern_pin_requests_total", labels) == 0
    failed = {"state": "failed", "stage": "render"}
    assert api.registry.get_sample_value("lantern_jobs_finished_total", failed) == 0


def test_the_render_processes_cpu_is_counted_and_never_falls_when_one_exits() -> None:
    import subprocess
    import sys
    import time as clock

    from monitoring.metrics import PoolCpuCollector

    busy = subprocess.Popen([sys.executable, "-c", "import time\nt=time.process_time()\n"
                             "while time.process_time() - t < 1.0: pass"])  # fmt: skip
    collector = PoolCpuCollector(lambda: [busy.pid] if busy.poll() is None else [])
    deadline, running = clock.monotonic() + 30, 0.0
    while running < 0.2:  # however busy the machine: until the child has used 0.2 s of CPU
        assert clock.monotonic() < deadline and busy.poll() is None
        running = next(iter(collector.collect())).samples[0].value
        clock.sleep(0.05)
    busy.wait()
    gone = next(iter(collector.collect())).samples[0].value
    assert gone == running  # its last reading stays counted
