"""Declarative JSON fields for frozen dataclasses: parse with every error collected, and dump.

A dataclass field declared with one of the helpers below (`boolean`, `integer`, `number`,
`colour`, `choice`), or as `field(default_factory=Cls, metadata=section("key"))` for a nested
object, carries a spec in its metadata. `parse_object` walks those specs
to build the dataclass from untrusted JSON, appending a `FieldError` for each problem instead
of stopping at the first; `dump_object` writes the canonical form back.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from render.errors import FieldError, SettingsError

__all__ = ["boolean", "choice", "colour", "dump_object", "integer", "number", "parse", "section"]

T = TypeVar("T")

_SPEC = "lantern.json"
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


class _Invalid(Exception):
    """A value failed its spec; the argument is the human reason."""


@dataclass(frozen=True)
class _Spec:
    key: str  # the canonical camelCase JSON name
    aliases: tuple[str, ...]  # other accepted names (the second settings dialect)
    convert: Callable[[object], Any]  # untrusted value -> normalised value, or raise _Invalid
    dump: Callable[[Any], object] = lambda value: value
    nested: bool = False  # a section: parsed recursively into its field's default_factory


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

    return _field(default, _Spec(key, (), convert))  # type: ignore[no-any-return]


def integer(key: str, default: int, lo: int, hi: int, *, multiple_of: int = 1) -> int:
    """An integer field within [lo, hi], optionally a multiple of `multiple_of`."""

    def convert(value: object) -> int:
        result = _to_integer(value)
        _in_range(result, lo, hi)
        if result % multiple_of:
            raise _Invalid(f"must be a multiple of {multiple_of}")
        return result

    return _field(default, _Spec(key, (), convert))  # type: ignore[no-any-return]


def number(
    key: str, default: float, lo: float, hi: float, *, aliases: tuple[str, ...] = ()
) -> float:
    """A finite number field within [lo, hi], stored as float (integers accepted)."""

    def convert(value: object) -> float:
        result = _to_number(value)
        _in_range(result, lo, hi)
        return result

    return _field(float(default), _Spec(key, aliases, convert))  # type: ignore[no-any-return]


def colour(key: str, default: str) -> str:
    """A `#rrggbb` colour field, normalised to lower case."""

    def convert(value: object) -> str:
        if not isinstance(value, str) or not _COLOUR.fullmatch(value):
            raise _Invalid("must be a colour like #4ade80")
        return value.lower()

    return _field(default, _Spec(key, (), convert))  # type: ignore[no-any-return]


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

    return _field(default, _Spec(key, (), convert))  # type: ignore[no-any-return]


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


def dump_object(obj: object) -> dict[str, object]:
    """The canonical JSON form of a dataclass built from these fields (every field, in order)."""
    out: dict[str, object] = {}
    for field in dataclasses.fields(obj):  # type: ignore[arg-type]
        spec: _Spec = field.metadata[_SPEC]
        out[spec.key] = spec.dump(getattr(obj, field.name))
    return out
