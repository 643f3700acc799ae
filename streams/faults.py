"""Faults injected on purpose, for drills and tests: everything ``LANTERN_FAULTS_*`` makes happen.

Faults are configured one way (``FaultSettings``, from the environment) and reached through one
hook, ``Pipeline.enter(point, subject)``, which every stage's guard calls before the stage's
work on an event. A fault raised there takes the path of any other failure (retries, then a
dead letter), and no stage's own code knows that faults exist. The points, and what may happen
at each for a job whose ``flowField.color1`` is the configured colour:

- ``render`` (a FrameTask), ``render_color``: every attempt raises ``InjectedFault``, so the job
  is dead-lettered and fails;
- ``pin`` (a PinRequest), ``pin_color``: attempts up to ``pin_failures`` raise, later ones pass;
- ``assemble.finish`` (the job's JobSpec), ``assemble_crash_color``: the worker SIGKILLs itself,
  with its process group when it leads one (its render pool goes too), once per job;
- ``chain.cursor`` (how many mints a look of the chain watcher published), ``chain_watch_crash``:
  the worker SIGKILLs itself once, between publishing mints and saving the watcher's place.

The crash drills the assembler's worst moment: every block of the job is in, ``encoding`` is
reported, and the GIF is not yet recorded. No stage-entry point can see that moment — it exists
only once the assembler's step has decided, from the job's state, to finish the job — so the
assembler passes the same hook at the entry of applying its ``Finish`` action. That is the
agent's applier, not its decision logic: the step stays pure, and the drill stays here. The
crash leaves a mark in the block folder (which the drills' workers, on one machine, share), so
that the worker taking over the job finishes it instead of dying in turn.
"""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from lantern.contract import JobSpec
from lantern.settings import FaultSettings

from .errors import InjectedFault
from .ids import valid_job_id

__all__ = ["Faults"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Faults:
    """The drills configured for this worker, applied by ``enter``."""

    settings: FaultSettings
    marks: Path  # where the crash marks the jobs it has crashed on

    def enter(self, point: str, subject: object) -> None:
        """Apply the drill configured for ``point`` to ``subject``: raise, die, or nothing."""
        match point:
            case "render":
                self._render(subject)
            case "pin":
                self._pin(subject)
            case "assemble.finish":
                self._crash(subject)
            case "chain.cursor":
                self._crash_watcher(subject)

    def _render(self, task: object) -> None:
        colour = self.settings.render_color
        if colour and _colour(task) == colour:
            raise InjectedFault(f"injected render fault for colour {colour}")

    def _pin(self, request: object) -> None:
        colour, failures = self.settings.pin_color, self.settings.pin_failures
        attempt = getattr(request, "attempt", 1)
        if colour and _colour(request) == colour and attempt <= failures:
            raise InjectedFault(f"injected pin fault (attempt {attempt})")

    def _crash(self, spec: object) -> None:
        colour = self.settings.assemble_crash_color
        if not colour or _colour(spec) != colour or not isinstance(spec, JobSpec):
            return
        if not valid_job_id(spec.job_id):
            return
        mark = self.marks / f".crashed-{spec.job_id}"
        if mark.exists():
            return
        mark.parent.mkdir(parents=True, exist_ok=True)
        mark.touch()
        log.warning("injected crash job=%s while assembling", spec.job_id)
        _die()

    def _crash_watcher(self, published: object) -> None:
        if not self.settings.chain_watch_crash or not published:
            return
        mark = self.marks / ".crashed-chain-watch"
        if mark.exists():
            return
        mark.parent.mkdir(parents=True, exist_ok=True)
        mark.touch()
        log.warning("injected crash after publishing %s mints, before saving the place", published)
        _die()


def _colour(subject: object) -> str:
    """``flowField.color1`` of the job ``subject`` belongs to (a JobSpec, or a record holding
    one as ``spec``); empty if it has none."""
    spec = subject if isinstance(subject, JobSpec) else getattr(subject, "spec", None)
    settings = getattr(spec, "settings", None)
    flow = settings.get("flowField") if isinstance(settings, dict) else None
    colour = flow.get("color1") if isinstance(flow, dict) else None
    return colour if isinstance(colour, str) else ""


def _die() -> None:
    """Stop as a SIGKILL stops a worker: at once, with the process group if it is ours."""
    group = os.getpgid(0)
    if group == os.getpid():  # our own process group (lantern up, tests): the pool goes too
        os.killpg(group, signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
