"""Declarative JSON fields for frozen dataclasses: parse with every error collected, and dump.

A dataclass field declared with one of the helpers below (`boolean`, `integer`, `number`,
`colour`, `choice`), or as `field(default_factory=Cls, metadata=section("key"))` for a nested
object, carries a spec in its metadata. `parse_object` walks those specs
to build the dataclass from untrusted JSON, appending a `FieldError` for each problem instead
of stopping at the first; `dump_object` writes the canonical form back.

The same specs describe themselves: `json_schema` is the JSON Schema (draft 2020-12) of what
`parse` accepts, and `leaves` lists every field by its dotted path with its aliases and its own
schema (type, bounds, default), so the API's documents and the page are generated, not copied.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from render.errors import FieldError, SettingsError

__all__ = [
    "Leaf",
    "boolean",
    "choice",
    "colour",
    "dump_object",
    "integer",
    "json_schema",
    "leaves",
    "number",
    "parse",
    "section",
]

T = TypeVar("T")

_SPEC = "lantern.json"
_COLOUR_PATTERN = "#[0-9a-fA-F]{6}"
_COLOUR = re.compile(_COLOUR_PATTERN)


_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


class _Invalid(Exception):
    """A value failed its spec; the argument is the human reason."""


@dataclass(frozen=True)
class _Spec:
    key: str  # the canonical camelCase JSON name
    aliases: tuple[str, ...]  # other accepted names (the second settings dialect)
    convert: Callable[[object], Any]  # untrusted value -> normalised value, or raise _Invalid
    dump: Callable[[Any], object] = lambda value: value
    nested: bool = False  # a section: parsed recursively into its field's default_factory
    # what `convert` accepts, as JSON Schema (type, bounds, default); empty for a section, whose
    # schema is its class's (json_schema walks it)
    schema: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _fmt(value: float) -> str:
    return f"{value:g}"


def _to_number(value: object) -> float:
    # bool is an int subclass in Python, but `true` is not a number in JSON.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid("must be a number")
    try:
        result = float(value)
    except OverflowError:
        raise _Invalid("must be a finite number") from None
    if not math.isfinite(result):
        raise _Invalid("must be a finite number")
    return result


def _to_integer(value: object) -> int:
    # Integral floats (3.0, as some JSON encoders write 3) are accepted; 3.5 is not.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid("must be an integer")
    if isinstance(value, float):
        if not value.is_integer():  # also false for nan and infinities
            raise _Invalid("must be an integer")
        return int(value)
    return value


def _in_range(value: float, lo: float, hi: float) -> None:
    if not lo <= value <= hi:
        raise _Invalid(f"must be between {_fmt(lo)} and {_fmt(hi)}")


def _field(default: Any, spec: _Spec) -> Any:
    return dataclasses.field(default=default, metadata={_SPEC: spec})


def boolean(key: str, default: bool) -> bool:
    """A JSON `true`/`false` field (0 and 1 are rejected)."""

    def convert(value: object) -> bool:
        if not isinstance(value, bool):
            raise _Invalid("must be true or false")
        return value

    schema = {"type": "boolean", "default": default}
    return _field(default, _Spec(key, (), convert, schema=schema))  # type: ignore[no-any-return]


def integer(key: str, default: int, lo: int, hi: int, *, multiple_of: int = 1) -> int:
    """An integer field within [lo, hi], optionally a multiple of `multiple_of`."""

    def convert(value: object) -> int:
        result = _to_integer(value)
        _in_range(result, lo, hi)
        if result % multiple_of:
            raise _Invalid(f"must be a multiple of {multiple_of}")
        return result

    schema: dict[str, Any] = {"type": "integer", "minimum": lo, "maximum": hi, "default": default}
    if multiple_of != 1:
        schema["multipleOf"] = multiple_of
    return _field(default, _Spec(key, (), convert, schema=schema))  # type: ignore[no-any-return]


def number(
    key: str, default: float, lo: float, hi: float, *, aliases: tuple[str, ...] = ()
) -> float:
    """A finite number field within [lo, hi], stored as float (integers accepted)."""

    def convert(value: object) -> float:
        result = _to_number(value)
        _in_range(result, lo, hi)
        return result

    schema = {"type": "number", "minimum": lo, "maximum": hi, "default": float(default)}
    spec = _Spec(key, aliases, convert, schema=schema)
    return _field(float(default), spec)  # type: ignore[no-any-return]


def colour(key: str, default: str) -> str:
    """A `#rrggbb` colour field, normalised to lower case."""

    def convert(value: object) -> str:
        if not isinstance(value, str) or not _COLOUR.fullmatch(value):
            raise _Invalid("must be a colour like #4ade80")
        return value.lower()

    schema = {"type": "string", "pattern": f"^{_COLOUR_PATTERN}$", "default": default}
    return _field(default, _Spec(key, (), convert, schema=schema))  # type: ignore[no-any-return]


def choice(key: str, default: T, options: tuple[T, ...], reason: str) -> T:
    """A field that must equal one of `options` (ints compare as integers, bools never match)."""

    def convert(value: object) -> T:
        candidate: object = value
        if any(isinstance(option, int) for option in options):
            try:
                candidate = _to_integer(value)
            except _Invalid:
                raise _Invalid(reason) from None
        for option in options:
            if type(candidate) is type(option) and candidate == option:
                return option
        raise _Invalid(reason)

    schema: dict[str, Any] = {"enum": list(options), "default": default}
    types = {_JSON_TYPES.get(type(option)) for option in options}
    if len(types) == 1 and None not in types:
        schema = {"type": types.pop(), **schema}
    return _field(default, _Spec(key, (), convert, schema=schema))  # type: ignore[no-any-return]


def section(key: str) -> dict[str, object]:
    """Metadata for a nested JSON object: `field(default_factory=Cls, metadata=section(key))`.

    A missing section takes all of `Cls`'s defaults; a present one is parsed into `Cls`.
    """
    return {_SPEC: _Spec(key, (), lambda value: value, dump_object, nested=True)}


def _parse_object(cls: type[T], data: object, path: str, errors: list[FieldError]) -> T | None:
    """Build `cls` from `data`, appending a FieldError per problem; None if any were found."""
    if not isinstance(data, Mapping):
        errors.append(FieldError(path, "must be a JSON object"))
        return None
    found = len(errors)
    known: set[object] = set()
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        spec: _Spec = field.metadata[_SPEC]
        names = (spec.key, *spec.aliases)
        known.update(names)
        given = [name for name in names if name in data]
        if len(given) > 1:
            errors.append(FieldError(_join(path, given[1]), f"conflicts with {given[0]}"))
            continue
        if not given:
            continue  # the dataclass default applies
        where = _join(path, given[0])
        if spec.nested:
            nested_cls: type[Any] = field.default_factory  # type: ignore[assignment]
            values[field.name] = _parse_object(nested_cls, data[given[0]], where, errors)
            continue
        try:
            values[field.name] = spec.convert(data[given[0]])
        except _Invalid as exc:
            errors.append(FieldError(where, str(exc)))
    errors.extend(
        FieldError(_join(path, str(key)), "unknown field") for key in data if key not in known
    )
    return cls(**values) if len(errors) == found else None


def parse(cls: type[T], data: object) -> T:
    """Build the dataclass `cls` from untrusted JSON; raise SettingsError listing every problem."""
    errors: list[FieldError] = []
    result = _parse_object(cls, data, "", errors)
    if result is None:
        raise SettingsError(errors)
    return result


@dataclass(frozen=True)
class Leaf:
    """One field that holds a value (not a section), as `leaves` lists it."""

    path: str  # the canonical dotted JSON path, e.g. "flowFields.lineDensity"
    aliases: tuple[str, ...]  # other accepted dotted paths for it, e.g. "flowFields.baseFreq"
    schema: dict[str, Any]  # its JSON Schema: type, bounds (minimum, maximum, multipleOf,
    # enum, pattern) and default


def _specs(cls: type[Any]) -> Iterator[tuple[_Spec, type[Any] | None]]:
    """Each field's spec, with the class of a section's nested object (else None)."""
    for field in dataclasses.fields(cls):
        spec: _Spec = field.metadata[_SPEC]
        yield spec, field.default_factory if spec.nested else None  # type: ignore[misc]


def leaves(cls: type[Any], prefix: str = "") -> list[Leaf]:
    """Every value field of the dataclass `cls` (sections walked into), in declaration order."""
    out: list[Leaf] = []
    for spec, nested in _specs(cls):
        if nested is not None:
            out += leaves(nested, _join(prefix, spec.key))
        else:
            aliases = tuple(_join(prefix, alias) for alias in spec.aliases)
            out.append(Leaf(_join(prefix, spec.key), aliases, copy.deepcopy(dict(spec.schema))))
    return out


def json_schema(cls: type[Any]) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the objects `parse(cls, …)` accepts.

    Every field with its type, bounds and default; a section is a nested object; an alias is
    a property of its own with the field's schema, and giving two names of one field is refused
    (``not: {required: [...]}``), as is any unknown key.
    """
    properties: dict[str, Any] = {}
    conflicts: list[dict[str, Any]] = []
    for spec, nested in _specs(cls):
        schema = json_schema(nested) if nested is not None else copy.deepcopy(dict(spec.schema))
        properties[spec.key] = schema
        for alias in spec.aliases:
            described = f"another name for {spec.key}; give one of the two, not both"
            properties[alias] = {**copy.deepcopy(schema), "description": described}
        names = (spec.key, *spec.aliases)
        conflicts += [{"required": list(pair)} for pair in itertools.combinations(names, 2)]
    out: dict[str, Any] = {"type": "object", "additionalProperties": False}
    out["properties"] = properties
    if len(conflicts) == 1:
        out["not"] = conflicts[0]
    elif conflicts:
        out["not"] = {"anyOf": conflicts}
    return out


def dump_object(obj: object) -> dict[str, object]:
    """The canonical JSON form of a dataclass built from these fields (every field, in order)."""
    out: dict[str, object] = {}
    for field in dataclasses.fields(obj):  # type: ignore[arg-type]
        spec: _Spec = field.metadata[_SPEC]
        out[spec.key] = spec.dump(getattr(obj, field.name))
    return out
