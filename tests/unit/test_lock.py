"""The lock files against pyproject.toml and against the interpreter running the tests.

requirements.lock pins every Python package (runtime, the `dev` extra and the build backend);
`make setup` installs exactly it, and requirements-runtime.lock is its runtime part for the
container image. These tests fail when pyproject.toml has moved on without `make lock`, or when
the virtualenv holds other versions than the lock, so CI runs the locked set.
"""

import re
import tomllib
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
RUNTIME_LOCK = ROOT / "requirements-runtime.lock"

# `name==version \` at the start of a line, then its `--hash=` lines
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)\s*(?:\\)?$")


def read_lock(path: Path) -> dict[NormalizedName, Version]:
    pins: dict[NormalizedName, Version] = {}
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if not line or line[0] in "# \t-":
            continue
        match = PIN.match(line)
        assert match, f"{path.name}:{i + 1}: not an exact pin: {line!r}"
        name = canonicalize_name(match[1])
        assert name not in pins, f"{path.name}: {name} pinned twice"
        hashed = i + 1 < len(lines) and lines[i + 1].strip().startswith("--hash=sha256:")
        assert hashed, f"{path.name}: {name} has no hash"
        pins[name] = Version(match[2])
    return pins


def pyproject() -> dict[str, list[Requirement]]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {
        "runtime": [Requirement(r) for r in data["project"]["dependencies"]],
        "dev": [Requirement(r) for r in data["project"]["optional-dependencies"]["dev"]],
        "build": [Requirement(r) for r in data["build-system"]["requires"]],
    }


def applies(req: Requirement, extra: str = "") -> bool:
    return req.marker is None or req.marker.evaluate({"extra": extra})


def check_closure(
    roots: Iterable[Requirement], pins: dict[NormalizedName, Version], lock: str
) -> None:
    """Every requirement of `roots`, and of what they need in turn (from the installed metadata,
    extras followed), names a locked package whose locked version it accepts."""
    problems: list[str] = []
    seen: set[tuple[NormalizedName, str]] = set()
    todo = [(req, "pyproject.toml") for req in roots if applies(req)]
    while todo:
        req, wanted_by = todo.pop()
        name = canonicalize_name(req.name)
        if name not in pins:
            problems.append(f"{req} (wanted by {wanted_by}) is not in {lock}")
            continue
        if not req.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{lock} has {name}=={pins[name]}, {wanted_by} wants {req}")
        for extra in ["", *sorted(req.extras)]:
            if (name, extra) in seen:
                continue
            seen.add((name, extra))
            try:
                requires = metadata.requires(name) or []
            except metadata.PackageNotFoundError:
                continue  # reported by test_installed_versions_are_the_locked_ones
            for sub in map(Requirement, requires):
                if applies(sub, extra):
                    todo.append((sub, f"{name}[{extra}]" if extra else str(name)))
    assert not problems, "run `make lock`:\n" + "\n".join(sorted(set(problems)))


def test_lock_covers_pyproject_runtime_dev_and_build() -> None:
    reqs = pyproject()
    check_closure(reqs["runtime"] + reqs["dev"] + reqs["build"], read_lock(LOCK), LOCK.name)


def test_runtime_lock_covers_runtime_and_build_only_as_locked() -> None:
    reqs = pyproject()
    runtime = read_lock(RUNTIME_LOCK)
    check_closure(reqs["runtime"] + reqs["build"], runtime, RUNTIME_LOCK.name)
    full = read_lock(LOCK)
    differ = {n: (v, full.get(n)) for n, v in runtime.items() if full.get(n) != v}
    assert not differ, f"{RUNTIME_LOCK.name} disagrees with {LOCK.name} (run `make lock`): {differ}"
    dev_only = {canonicalize_name(r.name) for r in reqs["dev"]} - {
        canonicalize_name(r.name) for r in reqs["runtime"]
    }
    assert not dev_only & runtime.keys(), "dev tools in the runtime lock"


def test_aiohttp_floor_is_past_the_published_cves() -> None:
    (aiohttp,) = (r for r in pyproject()["runtime"] if canonicalize_name(r.name) == "aiohttp")
    assert not aiohttp.specifier.contains("3.13.3")
    assert read_lock(LOCK)[canonicalize_name("aiohttp")] >= Version("3.13.4")


def test_installed_versions_are_the_locked_ones() -> None:
    wrong: dict[str, tuple[str, str | None]] = {}
    for name, version in read_lock(LOCK).items():
        try:
            installed: str | None = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed is None or Version(installed) != version:
            wrong[name] = (str(version), installed)
    if wrong:
        pytest.fail(
            "this interpreter does not run the locked set (locked, installed); "
            f"`make setup` reinstalls it: {wrong}"
        )
