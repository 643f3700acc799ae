"""The Grafana dashboards (monitoring/dashboards.py): the committed JSON is what the code builds,
every panel is complete and reads the datasource variable, and every query names only metrics
Lantern exports (the list below is the contract with monitoring/metrics.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitoring.dashboards import DASHBOARDS_DIR, build, expressions, render
from monitoring.metrics import COLLECTED, ApiMetrics, WorkerMetrics

ROOT = Path(__file__).resolve().parents[2]
PROVISIONING = ROOT / "monitoring" / "grafana" / "provisioning"
REGENERATE = "run `.venv/bin/python -m monitoring.dashboards` and commit the result"

#: Every metric a dashboard may query, by type (a histogram's series are its _bucket, _sum and
#: _count). The API's and the workers' own, the process collector's, and Prometheus's `up`.
COUNTERS = {
    "lantern_http_requests_total",
    "lantern_jobs_submitted_total",
    "lantern_admission_refused_total",
    "lantern_jobs_finished_total",
    "lantern_frames_rendered_total",
    "lantern_jobs_completed_total",
    "lantern_retries_total",
    "lantern_dead_letters_total",
    "lantern_jobs_stalled_total",
    "lantern_jobs_redriven_total",
    "lantern_pin_requests_total",
    "lantern_rebalances_total",
    "lantern_tokens_minted_total",
    "lantern_render_cpu_seconds_total",
    "process_cpu_seconds_total",
}
GAUGES = {
    "lantern_jobs",
    "lantern_pending_frames",
    "lantern_admission_limit_frames",
    "lantern_consumer_lag",
    "lantern_build_info",
    "lantern_job_idle_seconds_max",
    "lantern_chain_watched_block",
    "process_resident_memory_bytes",
    "up",
}
HISTOGRAMS = {
    "lantern_http_request_seconds",
    "lantern_job_seconds",
    "lantern_stage_seconds",
    "lantern_render_frame_seconds",
    "lantern_encode_seconds",
    "lantern_gif_bytes",
    "lantern_pin_seconds",
}
METRICS = COUNTERS | GAUGES | HISTOGRAMS

# a metric name in PromQL: lantern_… and process_… anywhere (label values here use hyphens),
# `up` as a selector
NAME = re.compile(r"\b(?:lantern|process)_[a-z0-9_]+\b|\bup(?=\s*\{)")
SUFFIX = re.compile(r"_(?:bucket|sum|count)$")


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel but rows, a collapsed row's own included."""
    found = []
    for panel in board["panels"]:
        found.extend(panel.get("panels") or [])
        if panel["type"] != "row":
            found.append(panel)
    return found


def metric_names(expr: str) -> set[str]:
    names = set()
    for name in NAME.findall(expr):
        base = SUFFIX.sub("", name)
        names.add(base if base in HISTOGRAMS else name)
    return names


BOARDS = build()


def test_there_are_the_four_dashboards() -> None:
    assert [board["title"] for board in BOARDS] == [
        "Lantern — pipeline",
        "Lantern — queue",
        "Lantern — workers",
        "Lantern — pinning & chain",
    ]
    uids = [board["uid"] for board in BOARDS]
    assert len(set(uids)) == len(uids)


@pytest.mark.parametrize("board", BOARDS, ids=lambda board: board["uid"])
def test_the_committed_json_is_what_the_code_builds(board: dict[str, Any]) -> None:
    path = DASHBOARDS_DIR / f"{board['uid']}.json"
    assert path.exists(), f"{path.relative_to(ROOT)} is missing: {REGENERATE}"
    assert path.read_text(encoding="utf-8") == render(board), (
        f"{path.relative_to(ROOT)} is not what monitoring/dashboards.py builds: {REGENERATE}"
    )


def test_no_other_dashboard_files_are_committed() -> None:
    files = {path.name for path in DASHBOARDS_DIR.glob("*.json")}
    assert files == {f"{board['uid']}.json" for board in BOARDS}, REGENERATE


@pytest.mark.parametrize("board", BOARDS, ids=lambda board: board["uid"])
def test_every_panel_is_complete_and_reads_the_datasource_variable(
    board: dict[str, Any],
) -> None:
    variables = {v["name"]: v for v in board["templating"]["list"]}
    datasource = variables["datasource"]
    assert datasource["type"] == "datasource" and datasource["query"] == "prometheus"
    assert datasource["current"]["value"] == "prometheus"
    wanted = {"type": "prometheus", "uid": "${datasource}"}
    problems = []
    ids = [panel["id"] for panel in board["panels"]]
    assert len(set(ids)) == len(ids), f"panel ids repeat: {ids}"
    for panel in panels(board):
        title = panel.get("title") or f"panel {panel.get('id')}"
        if not panel.get("title"):
            problems.append(f"{title}: no title")
        if not panel.get("fieldConfig", {}).get("defaults", {}).get("unit"):
            problems.append(f"{title}: no unit")
        if panel.get("datasource") != wanted:
            problems.append(f"{title}: datasource {panel.get('datasource')}")
        targets = panel.get("targets") or []
        if not targets:
            problems.append(f"{title}: no target")
        for target in targets:
            if not target.get("expr"):
                problems.append(f"{title}: a target without an expression")
            if target.get("datasource") != wanted:
                problems.append(f"{title}: a target's datasource {target.get('datasource')}")
        if len({target.get("refId") for target in targets}) != len(targets):
            problems.append(f"{title}: refIds repeat")
    assert not problems, "\n".join(problems)


def test_every_query_names_only_lantern_metrics() -> None:
    problems = []
    used: set[str] = set()
    for board in BOARDS:
        for title, expr in expressions(board):
            names = metric_names(expr)
            if not names:
                problems.append(f"{board['uid']} / {title}: no metric in {expr}")
            for name in sorted(names - METRICS):
                problems.append(f"{board['uid']} / {title}: unknown metric {name} in {expr}")
            used |= names
    assert not problems, "\n".join(problems)
    # rates cover every counter, quantiles only histograms
    for board in BOARDS:
        for title, expr in expressions(board):
            for name in re.findall(r"rate\((\w+)", expr):
                assert name in COUNTERS or SUFFIX.sub("", name) in HISTOGRAMS, (title, expr)
            for name in re.findall(r"histogram_quantile\([^)]*?\((\w+)_bucket", expr):
                assert name in HISTOGRAMS, (title, expr)
    assert not METRICS - used, f"metrics on no dashboard: {sorted(METRICS - used)}"


def test_rates_use_grafanas_rate_interval() -> None:
    for board in BOARDS:
        for title, expr in expressions(board):
            for window in re.findall(r"\[([^\]]+)\]", expr):
                assert window in {"$__rate_interval", "$__range"}, (title, expr)


def test_the_metric_list_is_what_lantern_exports() -> None:
    """Each name of the list above is one the API or a worker registers (or the process
    collector's, or Prometheus's own ``up``), with that type."""
    specs = {**ApiMetrics.SPECS, **WorkerMetrics.SPECS}
    exported = {spec[1]: spec for spec in specs.values()}
    for name in sorted(METRICS):
        if name == "up" or name.startswith("process_"):
            continue
        if name in COLLECTED:  # yielded by a collector of its own (the render processes' CPU)
            assert (COLLECTED[name] == "counter") == (name in COUNTERS), name
            continue
        assert name in exported, f"{name} is in no SPECS of monitoring/metrics.py"
        kind_name = exported[name][0].__name__
        if name in HISTOGRAMS:
            assert kind_name == "Histogram", name
        elif name in COUNTERS:
            assert kind_name == "Counter", name
        else:
            assert kind_name == "Gauge", name


def test_grafana_is_provisioned_with_the_datasource_and_the_dashboards() -> None:
    datasources = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())
    (prom,) = datasources["datasources"]
    assert (prom["type"], prom["uid"], prom["url"]) == (
        "prometheus",
        "prometheus",
        "http://prometheus:9090",
    )
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "lantern.yml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
