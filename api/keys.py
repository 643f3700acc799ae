"""Typed keys of what the aiohttp app holds."""

from __future__ import annotations

from aiohttp import web

from lantern.settings import Settings
from monitoring.metrics import ApiMetrics
from pinning import LocalStore

from .chain import ChainAccess
from .jobs import JobView
from .limits import Admission, StreamSlots
from .submit import Submitter

__all__ = ["CHAIN", "JOBS", "LIMITS", "METRICS", "SETTINGS", "STORE", "STREAMS", "SUBMITTER"]

SETTINGS = web.AppKey("settings", Settings)
SUBMITTER = web.AppKey("submitter", Submitter)
JOBS = web.AppKey("jobs", JobView)
STORE = web.AppKey("store", LocalStore)
METRICS = web.AppKey("metrics", ApiMetrics)
LIMITS = web.AppKey("limits", Admission)
STREAMS = web.AppKey("streams", StreamSlots)
CHAIN = web.AppKey("chain", ChainAccess)
