"""The compiled Gen1 contract: its ABI and bytecode, as ``build.mjs`` wrote them."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

__all__ = ["ARTIFACT", "load_artifact"]

ARTIFACT = "artifacts/Gen1.json"


@cache
def load_artifact() -> dict[str, Any]:
    """``{"abi": [...], "bytecode": "0x…", "deployedBytecode": "0x…", "compiler": …}``."""
    text = files("chain").joinpath(ARTIFACT).read_text(encoding="utf-8")
    artifact: dict[str, Any] = json.loads(text)
    return artifact
