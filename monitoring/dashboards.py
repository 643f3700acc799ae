"""Lantern's Grafana dashboards as code (grafana-foundation-sdk, Grafana 11.6's schema).

``python -m monitoring.dashboards`` writes each to ``monitoring/grafana/dashboards/<uid>.json``,
which Grafana's file provider loads (``monitoring/grafana/provisioning/``). The unit tests check
the committed files are what ``build()`` gives; the integration tests run every query against a
real Prometheus scraping a real run (tests/integration/test_dashboards.py).

How the queries are written:

- Every panel and query reads the ``${datasource}`` variable: a Prometheus datasource, the one of
  uid ``prometheus`` unless chosen otherwise.
- Rates are over ``$__rate_interval`` (Grafana: at least four scrape intervals; 1 m at 15 s).
- What every API replica knows alike (the status table's counts, pending work, consumer lag,
  jobs seen finishing) is taken as the ``max`` over replicas, never summed; what each process
  counts for itself (requests, submissions, frames, pins, …) is summed.
- Quantiles sum a histogram's buckets over instances (copies of one histogram, as every API
  replica keeps of job latency, leave a quantile where it is).
- A labelled counter has no series until it first counts (refusals by reason, re-drives by
  reason): its panel adds a 0 labelled ``none`` (``or on() label_replace(vector(0), …)``) only
  while there is none, so "nothing happened" reads 0 rather than "No data".
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from grafana_foundation_sdk.builders import common, dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_model
from grafana_foundation_sdk.models import dashboard as dashboard_model

__all__ = ["DASHBOARDS_DIR", "DATASOURCE_UID", "build", "expressions", "render", "write"]

#: Where ``write`` puts the dashboards (Grafana's file provider reads a copy of this folder).
DASHBOARDS_DIR = Path(__file__).resolve().parent / "grafana" / "dashboards"
#: The uid of the provisioned Prometheus datasource (grafana/provisioning/datasources/).
DATASOURCE_UID = "prometheus"
DATASOURCE = dashboard_model.DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"
API = 'job="lantern-api"'
WORKER = 'job="lantern-worker"'
BOTH = 'job=~"lantern-api|lantern-worker"'


@dataclass(frozen=True)
class Graph:
    """One panel: its title, unit, queries (PromQL, legend) and what it shows."""

    title: str
    unit: str
    targets: tuple[tuple[str, str], ...]
    description: str
    kind: Literal["timeseries", "stat"] = "timeseries"
    width: int = 12
    height: int = 8


@dataclass(frozen=True)
class Board:
    """One dashboard: rows of panels."""

    uid: str
    title: str
    description: str
    rows: tuple[tuple[str, tuple[Graph, ...]], ...]


def rate(metric: str, selector: str = "") -> str:
    return f"rate({metric}{{{selector}}}[{RATE}])" if selector else f"rate({metric}[{RATE}])"


def quantile(q: float, histogram: str, by: str = "", selector: str = "") -> str:
    """The ``q`` quantile of ``histogram`` over every instance, per ``by`` labels."""
    labels = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, sum by ({labels}) ({rate(f'{histogram}_bucket', selector)}))"


def or_none(expr: str, label: str) -> str:
    """``expr``, or while it has no series, one 0 whose ``label`` is ``none``."""
    return f'{expr} or on() label_replace(vector(0), "{label}", "none", "", "")'


def per_minute(expr: str) -> str:
    return f"{expr} * 60"


PIPELINE = Board(
    uid="lantern-pipeline",
    title="Lantern — pipeline",
    description="Jobs through the stages: rate, errors and duration per stage; jobs by state; "
    "throughput and end-to-end latency; the API's requests.",
    rows=(
        (
            "Stages (rate, errors, duration)",
            (
                Graph(
                    "Stage events per second",
                    "ops",
                    (
                        (
                            "sum by (stage) (" + rate("lantern_stage_seconds_count") + ")",
                            "{{stage}}",
                        ),
                    ),
                    "Events each stage finished (split, render, assemble, pin, chain, …), "
                    "all workers.",
                ),
                Graph(
                    "Retries and dead letters per minute",
                    "cpm",
                    (
                        (
                            per_minute("sum by (stage) (" + rate("lantern_retries_total") + ")"),
                            "retried {{stage}}",
                        ),
                        (
                            per_minute(
                                "sum by (stage) (" + rate("lantern_dead_letters_total") + ")"
                            ),
                            "dead-lettered {{stage}}",
                        ),
                    ),
                    "Events sent to the retry topic, and to the dead letters once out of "
                    "attempts (or failing for good), by stage.",
                ),
                Graph(
                    "Stage time p50 / p95",
                    "s",
                    (
                        (quantile(0.5, "lantern_stage_seconds", "stage"), "p50 {{stage}}"),
                        (quantile(0.95, "lantern_stage_seconds", "stage"), "p95 {{stage}}"),
                    ),
                    "Time a stage spent on one event that succeeded, by stage.",
                    width=24,
                ),
            ),
        ),
        (
            "Jobs",
            (
                Graph(
                    "Jobs by state",
                    "short",
                    (("max by (state) (lantern_jobs)", "{{state}}"),),
                    "Jobs in the status table by state (every API replica reads the same "
                    "table: the max over replicas).",
                ),
                Graph(
                    "Jobs submitted and finished per minute",
                    "cpm",
                    (
                        (
                            per_minute(
                                "max by (state) (" + rate("lantern_jobs_finished_total") + ")"
                            ),
                            "{{state}}",
                        ),
                        (
                            per_minute("sum(" + rate("lantern_jobs_submitted_total") + ")"),
                            "submitted",
                        ),
                    ),
                    "Jobs completing and failing (every API replica sees each finish: the max "
                    "over replicas), and jobs accepted (summed over replicas).",
                ),
                Graph(
                    "End-to-end latency (submission → completed)",
                    "s",
                    (
                        (quantile(0.5, "lantern_job_seconds"), "p50"),
                        (quantile(0.95, "lantern_job_seconds"), "p95"),
                        (quantile(0.99, "lantern_job_seconds"), "p99"),
                    ),
                    "From a job's submission to its completion.",
                    width=24,
                ),
            ),
        ),
        (
            "HTTP API",
            (
                Graph(
                    "Requests per second by route and status",
                    "reqps",
                    (
                        (
                            "sum by (route, status) (" + rate("lantern_http_requests_total") + ")",
                            "{{route}} {{status}}",
                        ),
                    ),
                    "Requests by route template and status code, all API replicas.",
                    width=9,
                ),
                Graph(
                    "Request time p95 by route",
                    "s",
                    ((quantile(0.95, "lantern_http_request_seconds", "route"), "{{route}}"),),
                    "95th percentile of request latency by route template.",
                    width=9,
                ),
                Graph(
                    "Share of requests answered 5xx",
                    "percentunit",
                    (
                        (
                            "(sum("
                            + rate("lantern_http_requests_total", 'status=~"5.."')
                            + ") or on() vector(0)) / sum("
                            + rate("lantern_http_requests_total")
                            + ")",
                            "5xx",
                        ),
                    ),
                    "Server errors over all requests (0 while there are none).",
                    kind="stat",
                    width=6,
                ),
            ),
        ),
    ),
)

QUEUE = Board(
    uid="lantern-queue",
    title="Lantern — queue",
    description="Work waiting: consumer lag, pending work against the admission limit, "
    "refusals, stalled and re-driven jobs.",
    rows=(
        (
            "Backlog",
            (
                Graph(
                    "Consumer lag by topic",
                    "short",
                    (("max by (topic) (lantern_consumer_lag)", "{{topic}}"),),
                    "Messages of each topic the workers' group has not consumed yet, as the "
                    "API asks the broker (the max over API replicas).",
                    width=9,
                ),
                Graph(
                    "Pending work vs the admission limit",
                    "short",
                    (
                        ("max(lantern_pending_frames)", "pending frames"),
                        ("max(lantern_admission_limit_frames)", "admission limit"),
                    ),
                    "Work of unfinished jobs not yet done, in frames of 512², against the "
                    "ceiling beyond which submissions get 429 (0: no limit).",
                    width=9,
                ),
                Graph(
                    "Jobs queued",
                    "short",
                    (('max(lantern_jobs{state="queued"})', "queued"),),
                    "Jobs accepted and not yet started.",
                    kind="stat",
                    width=6,
                ),
            ),
        ),
        (
            "Refusals and recovery",
            (
                Graph(
                    "Admission refusals per minute by reason",
                    "cpm",
                    (
                        (
                            or_none(
                                per_minute(
                                    "sum by (reason) ("
                                    + rate("lantern_admission_refused_total")
                                    + ")"
                                ),
                                "reason",
                            ),
                            "{{reason}}",
                        ),
                    ),
                    "Submissions refused before publishing, by error code (busy: the queue "
                    "is full; too_costly; rate limits); none: no refusal in the range.",
                    width=8,
                ),
                Graph(
                    "Stalled and re-driven jobs per minute",
                    "cpm",
                    (
                        (per_minute("sum(" + rate("lantern_jobs_stalled_total") + ")"), "stalled"),
                        (
                            or_none(
                                per_minute(
                                    "sum by (reason) (" + rate("lantern_jobs_redriven_total") + ")"
                                ),
                                "reason",
                            ),
                            "re-driven: {{reason}}",
                        ),
                    ),
                    "Jobs found stalled, and requests published again by reason (stalled, "
                    "lost, aged); none: no re-drive in the range.",
                    width=8,
                ),
                Graph(
                    "Longest a job in progress has gone unchanged",
                    "s",
                    (("max by (instance) (lantern_job_idle_seconds_max)", "{{instance}}"),),
                    "Per worker, the longest any job it owns (past queued) has gone without a "
                    "status change.",
                    width=8,
                ),
            ),
        ),
    ),
)

WORKERS = Board(
    uid="lantern-workers",
    title="Lantern — workers",
    description="The processes: how many are up, their CPU and memory, rebalances, rendering "
    "and encoding.",
    rows=(
        (
            "Processes",
            (
                Graph(
                    "Workers up",
                    "short",
                    ((f"sum(up{{{WORKER}}})", "workers"),),
                    "Worker targets Prometheus scraped successfully.",
                    kind="stat",
                    width=6,
                    height=6,
                ),
                Graph(
                    "API replicas up",
                    "short",
                    ((f"sum(up{{{API}}})", "API"),),
                    "API targets Prometheus scraped successfully.",
                    kind="stat",
                    width=6,
                    height=6,
                ),
                Graph(
                    "Versions running",
                    "short",
                    (
                        (
                            "count by (job, version, renderer_version) (lantern_build_info)",
                            "{{job}} {{version}} (renderer {{renderer_version}})",
                        ),
                    ),
                    "Processes by Lantern version and renderer version.",
                    kind="stat",
                    width=12,
                    height=6,
                ),
                Graph(
                    "CPU by instance",
                    "percentunit",
                    (
                        (
                            "sum by (job, instance) ("
                            + rate("process_cpu_seconds_total", BOTH)
                            + ")",
                            "{{job}} {{instance}}",
                        ),
                        (
                            "sum by (instance) ("
                            + rate("lantern_render_cpu_seconds_total", WORKER)
                            + ")",
                            "{{instance}} render processes",
                        ),
                    ),
                    "CPU of each API and worker process, and of each worker's render "
                    "processes (1 = one core).",
                ),
                Graph(
                    "Memory (RSS) by instance",
                    "bytes",
                    (
                        (
                            f"max by (job, instance) (process_resident_memory_bytes{{{BOTH}}})",
                            "{{job}} {{instance}}",
                        ),
                    ),
                    "Resident memory of each API and worker process.",
                ),
                Graph(
                    "Rebalances per minute",
                    "cpm",
                    (
                        (
                            per_minute(
                                "sum by (instance) (" + rate("lantern_rebalances_total") + ")"
                            ),
                            "{{instance}}",
                        ),
                    ),
                    "Consumer-group rebalances each worker took part in.",
                ),
                Graph(
                    "Jobs completed per minute by worker",
                    "cpm",
                    (
                        (
                            per_minute(
                                "sum by (instance) (" + rate("lantern_jobs_completed_total") + ")"
                            ),
                            "{{instance}}",
                        ),
                    ),
                    "Jobs each worker's pin stage completed.",
                ),
            ),
        ),
        (
            "Rendering and encoding",
            (
                Graph(
                    "Frames rendered per second",
                    "cps",
                    (
                        (
                            "sum by (instance) (" + rate("lantern_frames_rendered_total") + ")",
                            "{{instance}}",
                        ),
                        ("sum(" + rate("lantern_frames_rendered_total") + ")", "all workers"),
                    ),
                    "Frames rendered, per worker and in all.",
                ),
                Graph(
                    "Render time per frame p50 / p95",
                    "s",
                    (
                        (quantile(0.5, "lantern_render_frame_seconds"), "p50"),
                        (quantile(0.95, "lantern_render_frame_seconds"), "p95"),
                    ),
                    "Render-process time per frame (a task's time over its frames).",
                ),
                Graph(
                    "GIF encode time p50 / p95",
                    "s",
                    (
                        (quantile(0.5, "lantern_encode_seconds"), "p50"),
                        (quantile(0.95, "lantern_encode_seconds"), "p95"),
                    ),
                    "Writing one job's GIF from its frame blocks.",
                ),
                Graph(
                    "GIF size p50 / p95",
                    "decbytes",
                    (
                        (quantile(0.5, "lantern_gif_bytes"), "p50"),
                        (quantile(0.95, "lantern_gif_bytes"), "p95"),
                    ),
                    "Size of the GIFs written (estimated within the histogram's buckets).",
                ),
            ),
        ),
    ),
)

PINNING_CHAIN = Board(
    uid="lantern-pinning-chain",
    title="Lantern — pinning & chain",
    description="Pins by backend and outcome and their time; tokens minted; the chain "
    "watcher's place against the chain's head.",
    rows=(
        (
            "Pinning",
            (
                Graph(
                    "Pin requests per minute by backend and outcome",
                    "cpm",
                    (
                        (
                            per_minute(
                                "sum by (backend, outcome) ("
                                + rate("lantern_pin_requests_total")
                                + ")"
                            )
                            # the backends in use: a worker's series of every backend start at 0
                            + " and on(backend) sum by (backend) (lantern_pin_requests_total) > 0",
                            "{{backend}} {{outcome}}",
                        ),
                    ),
                    "Files pinned (GIFs and metadata), by backend and outcome (ok, error); "
                    "backends that have pinned nothing since their workers started are left out.",
                ),
                Graph(
                    "Pin time p95 by backend",
                    "s",
                    ((quantile(0.95, "lantern_pin_seconds", "backend"), "{{backend}}"),),
                    "One file's pin, retries within the backend included.",
                ),
            ),
        ),
        (
            "Chain",
            (
                Graph(
                    "Tokens minted per minute",
                    "cpm",
                    (
                        (
                            per_minute("sum(" + rate("lantern_tokens_minted_total") + ")"),
                            "minted",
                        ),
                    ),
                    "Jobs matched to their token for the first time.",
                ),
                Graph(
                    "Tokens minted in the time range",
                    "short",
                    (("sum(increase(lantern_tokens_minted_total[$__range]))", "minted"),),
                    "Jobs matched to their token in the dashboard's time range.",
                    kind="stat",
                    width=6,
                    height=8,
                ),
                Graph(
                    "Blocks the watcher is behind",
                    "none",
                    (
                        (
                            'max(lantern_chain_watched_block{which="head"})'
                            ' - max(lantern_chain_watched_block{which="read"})',
                            "behind",
                        ),
                    ),
                    "The chain's head minus the last block the watcher has read whole.",
                    kind="stat",
                    width=6,
                    height=8,
                ),
                Graph(
                    "Chain head vs block read",
                    "none",
                    (("max by (which) (lantern_chain_watched_block)", "{{which}}"),),
                    "The chain's head and the last block the chain watcher (on the leader "
                    "worker) has read whole.",
                    width=24,
                ),
            ),
        ),
    ),
)

BOARDS = (PIPELINE, QUEUE, WORKERS, PINNING_CHAIN)


def _query(expr: str, legend: str, ref: str) -> prometheus.Dataquery:
    return (
        prometheus.Dataquery()
        .expr(expr)
        .legend_format(legend)
        .ref_id(ref)
        .range()
        .datasource(DATASOURCE)
    )


def _panel(graph: Graph, panel_id: int) -> cogbuilder.Builder[dashboard_model.Panel]:
    panel: timeseries.Panel | stat.Panel
    if graph.kind == "stat":
        panel = (
            stat.Panel()
            .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
            .graph_mode(common_model.BigValueGraphMode.AREA)
            .text_mode(common_model.BigValueTextMode.VALUE_AND_NAME)
        )
    else:
        panel = (
            timeseries.Panel()
            .fill_opacity(10)
            .legend(
                common.VizLegendOptions()
                .show_legend(True)
                .display_mode(common_model.LegendDisplayMode.LIST)
                .placement(common_model.LegendPlacement.BOTTOM)
            )
            .tooltip(
                common.VizTooltipOptions()
                .mode(common_model.TooltipDisplayMode.MULTI)
                .sort(common_model.SortOrder.DESCENDING)
            )
        )
    panel = (
        panel.id(panel_id)
        .title(graph.title)
        .description(graph.description)
        .unit(graph.unit)
        .datasource(DATASOURCE)
        .span(graph.width)
        .height(graph.height)
    )
    for i, (expr, legend) in enumerate(graph.targets):
        panel = panel.with_target(_query(expr, legend, chr(ord("A") + i)))
    return panel


def _datasource_variable() -> dashboard.DatasourceVariable:
    return (
        dashboard.DatasourceVariable("datasource")
        .label("Data source")
        .type("prometheus")
        .current(dashboard_model.VariableOption(text="Prometheus", value=DATASOURCE_UID))
    )


def _dashboard(board: Board) -> dict[str, Any]:
    built = (
        dashboard.Dashboard(board.title)
        .uid(board.uid)
        .description(board.description)
        .tags(["lantern"])
        .time("now-1h", "now")
        .refresh("30s")
        .timezone("browser")
        .tooltip(dashboard_model.DashboardCursorSync.CROSSHAIR)
        .with_variable(_datasource_variable())
    )
    panel_id = 0
    for row, graphs in board.rows:
        panel_id += 1
        built = built.with_row(dashboard.Row(row).id(panel_id))
        for graph in graphs:
            panel_id += 1
            built = built.with_panel(_panel(graph, panel_id))
    return cast(dict[str, Any], json.loads(json.dumps(built.build(), cls=JSONEncoder)))


def build() -> list[dict[str, Any]]:
    """Every dashboard, as Grafana's JSON model."""
    return [_dashboard(board) for board in BOARDS]


def expressions(board: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Every query of a dashboard (``build()``'s form): its panel's title and its PromQL."""

    def walk(panels: Sequence[dict[str, Any]]) -> Iterator[tuple[str, str]]:
        for panel in panels:
            yield from walk(panel.get("panels") or [])  # a collapsed row holds its panels
            for target in panel.get("targets") or []:
                yield panel.get("title", ""), target["expr"]

    yield from walk(board.get("panels") or [])


def render(board: dict[str, Any]) -> str:
    """A dashboard's file: sorted keys, 2-space indent, a trailing newline."""
    return json.dumps(board, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write(folder: Path = DASHBOARDS_DIR) -> list[Path]:
    """Write every dashboard to ``folder/<uid>.json``; the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for board in build():
        path = folder / f"{board['uid']}.json"
        path.write_text(render(board), encoding="utf-8")
        written.append(path)
    return written


def main() -> None:
    for path in write():
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
