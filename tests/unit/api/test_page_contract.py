"""One source for the settings, the options and the job states: render/'s field specs and
lantern.contract's JobState. The OpenAPI document, the served ``/static/contract.js`` and the
page's own view of them (its modules run in node, as the browser would import them) all agree
with render/ and the contract; and the page holds no copy of its own."""

from __future__ import annotations

import itertools
import json
import math
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from api.openapi import OPTIONS_SCHEMA, SETTINGS_SCHEMA, document
from api.page import STATIC, contract_module
from lantern.contract import STATES, TERMINAL, TRANSITIONS, JobState
from render import Gen1Settings, RenderOptions, SettingsError
from render.fields import Leaf, leaves

SETTINGS = leaves(Gen1Settings)
OPTIONS = leaves(RenderOptions)
DEFAULTS = Gen1Settings().to_dict()

# What the page's modules make of the contract, printed by node as JSON.
VIEW_SCRIPT = """
import * as contract from './contract.js';
import * as schema from './schema.js';
import * as states from './states.js';

const view = (f) => ({ t: f.t, min: f.min ?? null, max: f.max ?? null, step: f.step ?? null,
  d: f.d, label: f.label, choices: f.choices ?? null, names: f.names ?? null });
console.log(JSON.stringify({
  fields: Object.fromEntries(schema.allFields().map(({ path, field }) => [path, view(field)])),
  count: schema.allFields().length,
  defaults: schema.defaults(),
  options: schema.OPTIONS,
  option: Object.fromEntries(['size', 'frames', 'delay_ms'].map((n) => [n, schema.option(n)])),
  ui: Object.keys(schema.UI),
  wave: Object.keys(schema.WAVE),
  layout: Object.entries(schema.LAYOUT)
    .map(([key, l]) => [key, [...l.fields, ...(l.compat || [])]]),
  canonical: Object.fromEntries(
    Object.keys(contract.ALIASES).map((a) => [a, schema.canonicalPath(a)])),
  imported: schema.importSettings({ contour: { baseFreq: 0.03 } }),
  original: JSON.parse(schema.exportSettings(schema.defaults(), 'original')),
  states: contract.STATES,
  terminal: contract.TERMINAL,
  path: contract.PATH,
  jobState: contract.JobState,
  steps: states.STEPS,
  stepLabels: Object.keys(states.STEP_LABELS),
  stages: Object.fromEntries(contract.STATES.map((s) => [s, states.stageText({ state: s })])),
}));
"""


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The page's view: its modules beside the served contract.js, imported by node."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node not found on PATH (needs node >= 20, as tests/js does)")
    root = tmp_path_factory.mktemp("page")
    for script in STATIC.glob("*.js"):
        shutil.copy(script, root)
    (root / "contract.js").write_bytes(contract_module()[0])
    (root / "package.json").write_text('{"type": "module"}')
    (root / "view.js").write_text(VIEW_SCRIPT)
    done = subprocess.run(
        [node, "view.js"], cwd=root, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def at(data: Any, path: str) -> Any:
    for key in path.split("."):
        data = data[key]
    return data


def schema_leaves(schema: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, sub in schema["properties"].items():
        if sub.get("type") == "object":
            yield from schema_leaves(sub, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", sub


def accepts(leaf_path: str, value: object) -> bool:
    data: dict[str, Any] = {}
    node = data
    *parents, last = leaf_path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    try:
        Gen1Settings.from_dict(data)
    except SettingsError:
        return False
    return True


def on_grid(value: float, lo: float, step: float) -> bool:
    steps = (value - lo) / step
    return math.isclose(steps, round(steps), abs_tol=1e-9)


# -- the served module ----------------------------------------------------------------------------


async def test_contract_js_is_served_as_a_module_revalidated_by_etag(client: TestClient) -> None:
    response = await client.get("/static/contract.js")
    assert response.status == 200
    assert response.content_type == "text/javascript"
    assert response.headers["Cache-Control"] == "no-cache"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert await response.read() == contract_module()[0]
    etag = response.headers["ETag"]
    again = await client.get("/static/contract.js", headers={"If-None-Match": etag})
    assert again.status == 304 and again.headers["ETag"] == etag
    other = await client.get("/static/contract.js", headers={"If-None-Match": '"stale"'})
    assert other.status == 200
    head = await client.head("/static/contract.js")
    assert head.status == 200 and head.headers["ETag"] == etag


def test_contract_js_is_no_file_and_is_documented() -> None:
    assert not (STATIC / "contract.js").exists()  # generated: nothing to go stale
    static = document()["paths"]["/static/{name}"]["get"]
    assert "contract.js" in static["parameters"][0]["schema"]["enum"]


# -- settings: render/, the OpenAPI document and the page ----------------------------------------


def test_the_openapi_schemas_are_renders_fields() -> None:
    documented = dict(schema_leaves(SETTINGS_SCHEMA))
    for leaf in SETTINGS:
        for name in (leaf.path, *leaf.aliases):
            schema = {k: v for k, v in documented.pop(name).items() if k != "description"}
            assert schema == leaf.schema, name
        assert leaf.schema["default"] == at(DEFAULTS, leaf.path), leaf.path
    assert documented == {}, "documented settings render/ does not have"
    options = dict(schema_leaves(OPTIONS_SCHEMA))
    assert options == {leaf.path: leaf.schema for leaf in OPTIONS}
    assert {k: v["default"] for k, v in options.items()} == RenderOptions().to_dict()


def test_the_page_has_every_field_of_render_once(page: dict[str, Any]) -> None:
    assert page["count"] == len(page["fields"]) == len(SETTINGS)
    assert set(page["fields"]) == {leaf.path for leaf in SETTINGS}


@pytest.mark.parametrize("leaf", SETTINGS, ids=lambda leaf: leaf.path)
def test_the_pages_view_of_each_field_is_renders(page: dict[str, Any], leaf: Leaf) -> None:
    view = page["fields"][leaf.path]
    schema = leaf.schema
    assert view["d"] == at(DEFAULTS, leaf.path)
    assert view["label"] and view["label"] != leaf.path.split(".")[-1], "no label in schema.js"
    if schema["type"] == "boolean":
        assert view["t"] == "bool"
    elif "enum" in schema:
        assert view["t"] == "choice"
        assert view["choices"] == schema["enum"]
        assert all(accepts(leaf.path, v) for v in view["choices"])
        assert not any(re.fullmatch(r"-?\d+", name) for name in view["names"]), "unnamed choice"
    elif schema["type"] == "string":
        assert view["t"] == "color"
        assert accepts(leaf.path, "#a0b1c2") and not accepts(leaf.path, "red")
    else:
        lo, hi, step = view["min"], view["max"], view["step"]
        assert (lo, hi) == (schema["minimum"], schema["maximum"])
        # and they are what render/ enforces, not only what it says
        tiny = schema.get("multipleOf", 1) if schema["type"] == "integer" else 1e-6
        assert accepts(leaf.path, lo) and accepts(leaf.path, hi)
        assert not accepts(leaf.path, lo - tiny) and not accepts(leaf.path, hi + tiny)
        if schema["type"] == "integer":
            assert step == schema.get("multipleOf", 1)
        else:
            # a number's slider step is the page's choice: it must reach both ends and the default
            assert isinstance(step, int | float) and 0 < step <= hi - lo, "no step in schema.js"
            assert on_grid(hi, lo, step) and on_grid(view["d"], lo, step), (lo, hi, step)


def test_the_pages_defaults_are_renders(page: dict[str, Any]) -> None:
    assert page["defaults"] == DEFAULTS


def test_the_page_names_only_fields_that_exist(page: dict[str, Any]) -> None:
    paths = {leaf.path for leaf in SETTINGS}
    assert set(page["ui"]) <= paths
    assert set(page["wave"]) <= {path.split(".")[-1] for path in paths}
    for section, keys in page["layout"]:
        assert {f"{section}.{key}" for key in keys} <= paths, section
        assert len(keys) == len(set(keys)), section


def test_the_page_reads_and_writes_renders_aliases(page: dict[str, Any]) -> None:
    aliases = {alias: leaf.path for leaf in SETTINGS for alias in leaf.aliases}
    assert aliases, "render/ has no aliases any more: drop the 'original' dialect?"
    assert page["canonical"] == aliases
    assert page["imported"]["ignored"] == []
    assert page["imported"]["settings"]["contour"]["baseFrequency"] == 0.03
    original = page["original"]
    for alias, path in aliases.items():
        assert at(original, alias) == at(DEFAULTS, path)
        with pytest.raises(KeyError):
            at(original, path)
    Gen1Settings.from_dict(original)  # a dialect render/ accepts


# -- options --------------------------------------------------------------------------------------


def test_the_pages_options_are_renders(page: dict[str, Any]) -> None:
    defaults = RenderOptions().to_dict()
    assert page["options"] == {"size": defaults["size"], "frames": defaults["frames"]}
    for name, view in page["option"].items():
        schema = next(leaf.schema for leaf in OPTIONS if leaf.path == name)
        assert view == {
            "min": schema["minimum"],
            "max": schema["maximum"],
            "step": schema.get("multipleOf", 1),
            "d": schema["default"],
        }
    # the sizes offered are sizes render/ accepts; the frame count's range is set from the contract
    html = (STATIC / "index.html").read_text()
    select = html[html.index('<select id="options-size"') : html.index("</select>")]
    sizes = [int(v) for v in re.findall(r'value="(\d+)"', select)]
    assert defaults["size"] in sizes
    for size in sizes:
        RenderOptions.from_dict({"size": size})
    frames = re.search(r'<input id="options-frames"[^>]*>', html)
    assert frames is not None and not re.search(r"\b(min|max)=", frames.group())


# -- job states: lantern.contract, the OpenAPI document and the page ------------------------------


def test_the_pages_states_are_the_contracts(page: dict[str, Any]) -> None:
    assert page["states"] == list(STATES)
    assert page["jobState"] == {state.name: state.value for state in JobState}
    assert page["terminal"] == [s for s in STATES if s in TERMINAL]
    path = page["path"]
    assert path[0] == STATES[0] and path[-1] in TERMINAL
    assert not any(state in TERMINAL for state in path[:-1])
    for a, b in itertools.pairwise(path):
        assert JobState(b) in TRANSITIONS[JobState(a)], (a, b)
    assert document()["components"]["schemas"]["State"]["enum"] == list(STATES)


def test_the_page_says_every_state_in_words(page: dict[str, Any]) -> None:
    assert [step["state"] for step in page["steps"]] == page["path"]
    assert set(page["stepLabels"]) <= set(STATES), "a label for a state the contract lacks"
    for step in page["steps"]:
        assert step["label"] != step["state"], f"no step label for {step['state']}"
    for state, text in page["stages"].items():
        assert text and text != state, f"no words for {state} in states.js"


def test_the_page_holds_no_copy_of_the_states() -> None:
    quoted = re.compile(rf"""['"`]({"|".join(STATES)})['"`]""")
    for script in STATIC.glob("*.js"):
        assert not quoted.search(script.read_text()), f"{script.name}: use contract.js's JobState"
    html = (STATIC / "index.html").read_text()
    steps = html[html.index('<ol id="steps"') : html.index("</ol>")]
    assert "<li" not in steps  # built from contract.js's PATH
