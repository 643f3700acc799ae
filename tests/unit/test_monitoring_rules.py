"""The Prometheus configuration and alert rules (monitoring/): valid, unit-tested with promtool,
documented in the runbook, and using only the metrics Lantern exports.

``METRICS`` below is what the code exports (monitoring/metrics.py's registries, and Prometheus's
``up``): an alert on a name outside it would never fire, so a renamed metric fails here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitoring.metrics import COLLECTED, ApiMetrics, WorkerMetrics

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"
ALERTS = MONITORING / "alerts.yml"
RUNBOOK = MONITORING / "RUNBOOK.md"

HINT = (
    "promtool not found: install Debian's prometheus package (make .lantern/system.installed; "
    "if that file predates prometheus in the Makefile's APT_PACKAGES, delete it first, or run "
    "`apt-get install prometheus`)"
)


def _exported() -> frozenset[str]:
    """Every series name the API and a worker export (from their real registries: a renamed
    metric changes this), and Prometheus's own ``up``."""
    names = {"up", *COLLECTED}
    for metrics in (ApiMetrics.create(), WorkerMetrics.create()):
        for family in metrics.registry.collect():
            names.update(sample.name for sample in family.samples)
            if family.type == "counter":
                names.add(f"{family.name}_total")
            elif family.type == "histogram":
                names.update(f"{family.name}{end}" for end in ("", "_bucket", "_sum", "_count"))
            else:
                names.add(family.name)
    return frozenset(names)


METRICS = _exported()

# what PromQL writes with identifiers that are not metric names
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
     "group_right", "inf", "nan"}
)  # fmt: skip
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_COMMENTS = re.compile(r"#[^\n]*")
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_NUMBERS = re.compile(r"\b\d[\w.]*")  # 0.05, 1e3, and durations (offset 10m)
_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not functions, keywords or labels)."""
    text = _STRINGS.sub('""', expr)
    text = _COMMENTS.sub(" ", text)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _LABEL_LISTS.sub(" ", text)
    text = _NUMBERS.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        rest = text[match.end() :].lstrip()
        if rest.startswith("(") or match.group().lower() in _KEYWORDS:
            continue  # a function or an aggregation, or a keyword
        names.add(match.group())
    return names


def _alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def _anchors(markdown: str) -> set[str]:
    """GitHub's anchors for the headings of a Markdown file (outside code blocks)."""
    anchors, fenced = set(), False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        heading = re.match(r"#{1,6}\s+(.+?)\s*#*\s*$", line)
        if heading and not fenced:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
            anchors.add(slug)
    return anchors


def _promtool() -> str:
    """promtool's path; a failure (not a skip) without it: CI must run these checks."""
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(HINT, pytrace=False)
    return path


@pytest.mark.parametrize(
    "args",
    [
        ("check", "config", "monitoring/prometheus.yml"),
        ("check", "config", "monitoring/prometheus.local.yml"),
        ("check", "rules", "monitoring/alerts.yml"),
        ("test", "rules", "monitoring/alerts.test.yml"),
    ],
    ids=lambda args: " ".join(args),
)
def test_promtool_accepts(args: tuple[str, ...]) -> None:
    done = subprocess.run(
        [_promtool(), *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, (
        f"promtool {' '.join(args)} failed (exit {done.returncode}):\n{done.stdout}{done.stderr}"
    )


def test_the_alerts_are_the_ones_the_runbook_and_tests_cover() -> None:
    names = [rule["alert"] for rule in _alerts()]
    assert len(names) == len(set(names)), names
    assert len(names) == 8, names
    tested = yaml.safe_load((MONITORING / "alerts.test.yml").read_text())["tests"]
    covered = {case["alertname"] for test in tested for case in test.get("alert_rule_test", [])}
    assert set(names) <= covered, f"alerts without a unit test: {set(names) - covered}"


@pytest.mark.parametrize("rule", _alerts(), ids=lambda rule: rule["alert"])
def test_every_alert_is_documented(rule: dict[str, Any]) -> None:
    assert rule.get("labels", {}).get("severity") in {"warning", "critical"}
    annotations = rule.get("annotations", {})
    assert annotations.get("summary", "").strip(), "no summary"
    assert annotations.get("description", "").strip(), "no description"
    url = annotations.get("runbook_url", "")
    page, _, anchor = url.partition("#")
    assert page == "RUNBOOK.md" and anchor, f"runbook_url {url!r}: expected RUNBOOK.md#<anchor>"
    anchors = _anchors(RUNBOOK.read_text())
    assert anchor in anchors, f"{url}: no such heading in monitoring/RUNBOOK.md ({anchors})"


@pytest.mark.parametrize("rule", _alerts(), ids=lambda rule: rule["alert"])
def test_every_alert_uses_only_exported_metrics(rule: dict[str, Any]) -> None:
    expr = rule["expr"]
    assert "__name__" not in expr, "select metrics by name, so this test can check them"
    used = metric_names(expr)
    assert used, f"no metric found in {expr!r}"
    unknown = used - METRICS
    assert not unknown, f"{rule['alert']} uses metrics nobody exports: {sorted(unknown)}"


def test_metric_names_skips_functions_labels_and_durations() -> None:
    expr = """
        sum by (stage) (
            (x_total{outcome="error", a=~"b|c"} unless x_total offset 10m)
            and on (job, instance) (up offset 1h30m == 1 or time() - y_seconds < 600)
          or increase(z_total[10m])
        ) / ignoring(le) min_over_time(deriv(g[5m])[10m:1m]) > 0.05 # a comment: not_a_metric
    """
    assert metric_names(expr) == {"x_total", "up", "y_seconds", "z_total", "g"}
