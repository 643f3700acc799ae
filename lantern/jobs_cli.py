"""``lantern jobs …``: the operator routes of a running API (api/admin.py), from a terminal.

lantern jobs list [--state S] [--limit N]    jobs, most recently changed first, and the counts
lantern jobs show ID                         one job whole: request, timeline, error and trace
lantern jobs retry ID                        drive a failed job again
lantern jobs retry-failed                    … every failed job
lantern jobs cancel ID                       fail an unfinished job
lantern jobs purge --older-than 7d           forget finished jobs (never minted ones)
lantern jobs dead-letters [--limit N]        the newest dead letters
lantern jobs workers                         the workers and the partitions each owns

A thin HTTP client (urllib, no event loop): the API at ``--url`` or ``settings.api.base_url``
(LANTERN_API_PUBLIC_URL, else http://LANTERN_API_HOST:LANTERN_API_PORT), the token from
LANTERN_API_ADMIN_TOKEN. Each action prints a human summary, or the API's answer with ``--json``.
Every failure is a ``LanternError`` whose message is one plain line: ``lantern.cli.main`` prints
it on stderr and exits 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from render.errors import LanternError

from .settings import Settings

__all__ = ["Client", "JobsError", "configure", "parse_age", "run", "span"]

Json = dict[str, Any]
TIMEOUT_S = 30.0  # the dead letters and workers ask the broker: a few seconds at most


class JobsError(LanternError):
    """A call that failed, said in one line (no traceback)."""


@dataclasses.dataclass(frozen=True)
class Client:
    """The operator routes of the API at ``base_url``, with the bearer ``token``."""

    base_url: str
    token: str
    timeout: float = TIMEOUT_S

    def call(self, method: str, path: str, query: Mapping[str, object] | None = None) -> Json:
        """``method path?query`` → the JSON answer; a ``JobsError`` for anything else."""
        if not self.token:
            raise JobsError("no operator token: set LANTERN_API_ADMIN_TOKEN")
        url = f"{self.base_url.rstrip('/')}{path}"
        given = {k: v for k, v in (query or {}).items() if v is not None}
        if given:
            url += "?" + urllib.parse.urlencode(given)
        request = urllib.request.Request(
            url,
            method=method,
            data=b"" if method == "POST" else None,
            headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return _json(response.read(), url)
        except urllib.error.HTTPError as exc:
            raise self._refused(exc.code, exc.read()) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise JobsError(f"cannot reach the API at {self.base_url}: {reason}") from None

    def _refused(self, status: int, body: bytes) -> JobsError:
        try:
            message = str(json.loads(body)["error"]["message"])
        except (ValueError, KeyError, TypeError):
            message = body[:200].decode("utf-8", "replace").strip() or "no message"
        if status == 401:
            return JobsError(
                f"wrong token: the API at {self.base_url} refused LANTERN_API_ADMIN_TOKEN (401)"
            )
        if status == 403:
            return JobsError(
                f"operator routes are off at {self.base_url}: start the API with "
                "LANTERN_API_ADMIN_TOKEN set (403)"
            )
        if status == 503:
            return JobsError(f"broker unavailable: {message}; retry shortly (503)")
        return JobsError(f"{message} ({status})")


def _json(raw: bytes, url: str) -> Json:
    try:
        answer = json.loads(raw)
    except ValueError:
        raise JobsError(f"{url} did not answer JSON: is it a Lantern API?") from None
    if not isinstance(answer, dict):
        raise JobsError(f"{url} answered {type(answer).__name__}, not a JSON object")
    return answer


# -- words ----------------------------------------------------------------------------------------

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_age(text: str) -> int:
    """``"90"``, ``"90s"``, ``"15m"``, ``"2h"``, ``"7d"`` (or ``"1.5h"``) → whole seconds."""
    match = _AGE.match(text.lower())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r}: a number with s, m, h or d (seconds, minutes, hours, days), like 7d"
        )
    return round(float(match.group(1)) * _UNITS[match.group(2)])


def span(seconds: float) -> str:
    """A duration in words: ``850 ms``, ``4.2 s``, ``3 min 05 s``, ``2 h 10 min``, ``3 d 4 h``
    (a part that is 0 is left out: ``2 h``, ``7 d``)."""
    s = max(0.0, float(seconds))
    if s < 1:
        return f"{round(s * 1000)} ms"
    if s < 60:
        return f"{s:g} s" if s.is_integer() else f"{s:.1f} s"
    m = int(s // 60)
    hours, days = m // 60, m // 1440
    if m < 60:
        return f"{m} min" + (f" {int(s % 60):02d} s" if int(s % 60) else "")
    if hours < 24:
        return f"{hours} h" + (f" {m % 60} min" if m % 60 else "")
    return f"{days} d" + (f" {hours % 24} h" if hours % 24 else "")


def _when(at: object) -> str:
    if not isinstance(at, int | float) or not at:
        return "—"
    local = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))
    return f"{local} ({span(time.time() - at)} ago)"


def _ranges(parts: Iterable[int]) -> str:
    """Partition numbers as ranges: [0, 1, 2, 3, 5] → ``0–3, 5``."""
    runs: list[list[int]] = []
    for part in sorted(parts):
        if runs and part == runs[-1][1] + 1:
            runs[-1][1] = part
        else:
            runs.append([part, part])
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in runs)


def _first_line(text: object) -> str:
    return str(text or "").strip().split("\n", 1)[0]


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _table(header: Sequence[str], rows: list[list[str]], right: set[int]) -> list[str]:
    """Columns as wide as their widest cell; the last one takes what is left of the terminal."""
    widths = [max(len(row[i]) for row in [list(header), *rows]) for i in range(len(header) - 1)]
    room = shutil.get_terminal_size((120, 24)).columns - sum(w + 2 for w in widths)
    lines = []
    for row in [list(header), *rows]:
        cells = [
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=False))
        ]
        lines.append("  ".join([*cells, _clip(row[-1], max(room, 20))]).rstrip())
    return lines


def _indent(text: str, by: str = "  ") -> str:
    return "\n".join(by + line for line in text.splitlines())


# -- the actions ----------------------------------------------------------------------------------

Action = Callable[[Client, argparse.Namespace], Json]
Summary = Callable[[Json, argparse.Namespace], str]


def _list(client: Client, args: argparse.Namespace) -> Json:
    return client.call("GET", "/api/v1/jobs", {"state": args.state, "limit": args.limit})


def _list_text(answer: Json, args: argparse.Namespace) -> str:
    now = time.time()
    rows = [
        [
            job["job_id"],
            str(job["state"]),
            f"{job.get('progress') or 0} %",
            str(job.get("stage") or "—"),
            span(now - job["created_at"]) if job.get("created_at") else "—",
            _first_line(job.get("error")),
        ]
        for job in answer["jobs"]
    ]
    lines = _table(["JOB", "STATE", "PROGRESS", "STAGE", "AGE", "ERROR"], rows, right={2, 4})
    if not rows:
        lines = [f"no {args.state + ' ' if args.state else ''}jobs"]
    counts = ", ".join(f"{state} {n}" for state, n in answer["counts"].items())
    return "\n".join([*lines, "", f"counts: {counts}"])


def _show(client: Client, args: argparse.Namespace) -> Json:
    return client.call("GET", f"/api/v1/jobs/{_quoted(args.job_id)}/detail")


def _show_text(job: Json, args: argparse.Namespace) -> str:
    created, updated = job.get("created_at"), job.get("updated_at")
    facts = [
        ("job", job["job_id"]),
        ("state", f"{job['state']} ({job.get('progress') or 0} %)"),
        ("stage", " — ".join(str(x) for x in (job.get("stage"), job.get("detail")) if x) or "—"),
        ("wallet", job.get("wallet") or "—"),
        ("created", _when(created)),
        ("updated", _when(updated)),
        ("duration", span(updated - created) if created and updated else "—"),
        ("retries", f"{job.get('retries') or 0} (generation {job.get('generation') or 0})"),
    ]
    if job.get("reason"):
        facts.append(("reason", str(job["reason"])))
    out = [f"{k:<9} {v}" for k, v in facts]
    request = job.get("request")
    out += ["", "request", _indent(json.dumps(request, indent=2) if request else "(not stored)")]
    timeline = job.get("timeline") or []
    if timeline:
        start = created or timeline[0].get("at") or 0
        out += ["", "timeline"]
        for entry in timeline:
            at = entry.get("at") or 0
            stamp = time.strftime("%H:%M:%S", time.localtime(at))
            what = " — ".join(str(x) for x in (entry.get("stage"), entry.get("detail")) if x)
            out.append(f"  {stamp}  +{span(at - start):<12} {entry.get('state', ''):<10} {what}")
            if entry.get("error"):
                out.append(f"  {'':<8}  {'':<13} error: {_first_line(entry['error'])}")
    for key in ("error", "trace"):
        if job.get(key):
            out += ["", key, _indent(str(job[key]))]
    for key in ("result", "token"):
        if job.get(key):
            out += ["", key, _indent(json.dumps(job[key], indent=2))]
    return "\n".join(out)


def _retry(client: Client, args: argparse.Namespace) -> Json:
    return client.call("POST", f"/api/v1/jobs/{_quoted(args.job_id)}/retry")


def _retry_text(answer: Json, args: argparse.Namespace) -> str:
    return f"job {answer['job_id']} is queued again (lantern jobs show {answer['job_id']})"


def _retry_failed(client: Client, args: argparse.Namespace) -> Json:
    return client.call("POST", "/api/v1/jobs/retry-failed", {"limit": args.limit})


def _retry_failed_text(answer: Json, args: argparse.Namespace) -> str:
    retried, skipped = answer["retried"], answer["skipped"]
    out = [f"retried {len(retried)} failed job{'' if len(retried) == 1 else 's'}"]
    out += [f"  {job_id}" for job_id in retried]
    if skipped:
        out.append(f"skipped {len(skipped)} without a stored request (they cannot be retried)")
        out += [f"  {job_id}" for job_id in skipped]
    return "\n".join(out)


def _cancel(client: Client, args: argparse.Namespace) -> Json:
    return client.call("POST", f"/api/v1/jobs/{_quoted(args.job_id)}/cancel")


def _cancel_text(answer: Json, args: argparse.Namespace) -> str:
    return f"job {answer['job_id']} is cancelled: {answer['state']}"


def _purge(client: Client, args: argparse.Namespace) -> Json:
    return client.call("POST", "/api/v1/jobs/purge", {"older_than_s": args.older_than})


def _purge_text(answer: Json, args: argparse.Namespace) -> str:
    purged = answer["purged"]
    head = f"purged {len(purged)} finished job{'' if len(purged) == 1 else 's'} last changed "
    return "\n".join([head + f"over {span(args.older_than)} ago", *(f"  {j}" for j in purged)])


def _dead_letters(client: Client, args: argparse.Namespace) -> Json:
    return client.call("GET", "/api/v1/dead-letters", {"limit": args.limit})


def _dead_letters_text(answer: Json, args: argparse.Namespace) -> str:
    letters = answer["dead_letters"]
    if not letters:
        return "no dead letters"
    out: list[str] = []
    for letter in letters:
        at = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(letter.get("at") or 0))
        attempts = letter.get("attempts")
        out.append(f"{at}  {letter.get('stage')}  job {letter.get('job_id')}  "
                   f"{attempts} attempt{'' if attempts == 1 else 's'}  "
                   f"(topic {letter.get('topic')}, key {letter.get('key')})")  # fmt: skip
        out.append(f"  error: {_first_line(letter.get('error'))}")
        if args.full:
            try:
                payload = json.dumps(json.loads(letter.get("payload") or ""), indent=2)
            except ValueError:
                payload = str(letter.get("payload"))
            out += ["  payload:", _indent(payload, "    ")]
            if letter.get("trace"):
                out += ["  trace:", _indent(str(letter["trace"]), "    ")]
    return "\n".join(out)


def _workers(client: Client, args: argparse.Namespace) -> Json:
    return client.call("GET", "/api/v1/workers")


def _workers_text(answer: Json, args: argparse.Namespace) -> str:
    members = answer["members"]
    out = [f"group {answer['group']}: {answer['state']}, {len(members)} "
           f"member{'' if len(members) == 1 else 's'}"]  # fmt: skip
    for member in members:
        out.append(f"{member['client_id']}  {member['host']}  ({member['member_id']})")
        partitions = member.get("partitions") or {}
        width = max((len(topic) for topic in partitions), default=0)
        out += [f"  {topic:<{width}}  {_ranges(parts)}" for topic, parts in partitions.items()]
        if not partitions:
            out.append("  no partitions")
    return "\n".join(out)


def _quoted(job_id: str) -> str:
    return urllib.parse.quote(job_id, safe="")


# -- the command line -----------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the actions of ``lantern jobs`` to its parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        help="the API's base URL (default: LANTERN_API_PUBLIC_URL, else "
        "http://LANTERN_API_HOST:LANTERN_API_PORT)",
    )
    common.add_argument("--json", action="store_true", help="print the API's answer as JSON")
    sub = parser.add_subparsers(required=True, metavar="ACTION")

    def action(name: str, call: Action, text: Summary, summary: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, parents=[common], help=summary, description=summary)
        command.set_defaults(call=call, text=text)
        return command

    ls = action("list", _list, _list_text, "jobs, most recently changed first, and the counts")
    ls.add_argument("--state", help="only jobs in this state (queued, …, failed)")
    ls.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    show = action("show", _show, _show_text, "one job whole: request, timeline, error, trace")
    show.add_argument("job_id", metavar="ID")
    retry = action("retry", _retry, _retry_text, "drive a failed job again from its request")
    retry.add_argument("job_id", metavar="ID")
    every = action("retry-failed", _retry_failed, _retry_failed_text,
                   "retry every failed job that has its request")  # fmt: skip
    every.add_argument("--limit", type=int, help="at most this many, oldest first")
    cancel = action("cancel", _cancel, _cancel_text, "fail an unfinished job (an operator's word)")
    cancel.add_argument("job_id", metavar="ID")
    purge = action("purge", _purge, _purge_text,
                   "forget completed and failed jobs (never minted ones) older than …")  # fmt: skip
    purge.add_argument("--older-than", type=parse_age, required=True, metavar="AGE",
                       help="last changed more than this ago: 90s, 15m, 2h, 7d")  # fmt: skip
    letters = action("dead-letters", _dead_letters, _dead_letters_text,
                     "the newest dead letters (events that failed for good)")  # fmt: skip
    letters.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    letters.add_argument("--full", action="store_true", help="with each one's payload and trace")
    action("workers", _workers, _workers_text, "the workers' group: members and their partitions")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Call the action ``args`` names and print its answer."""
    client = Client(args.url or settings.api.base_url, settings.api.admin_token)
    answer = args.call(client, args)
    print(json.dumps(answer, indent=2) if args.json else args.text(answer, args))
    return 0
