"""Errors raised by the render package, and the root of Lantern's error tree.

LanternError                 the root: every error Lantern raises on purpose
 ├── RenderError             rendering or encoding a frame failed (frame_index when known)
 │    └── SettingsError      settings or render options failed validation (errors: FieldError)
 └── ...                     other packages root their own trees here (e.g. pinning.PinError)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["FieldError", "LanternError", "RenderError", "SettingsError"]


class LanternError(Exception):
    """Root of every error Lantern raises on purpose."""


class RenderError(LanternError):
    """Rendering or encoding failed; `frame_index` names the frame when one is to blame."""

    def __init__(self, message: str, frame_index: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.frame_index = frame_index

    def __str__(self) -> str:
        if self.frame_index is None:
            return self.message
        return f"frame {self.frame_index}: {self.message}"

    # Render errors cross process-pool boundaries: rebuild from all the context, not just args.
    def __reduce__(self) -> tuple[type[RenderError], tuple[str, int | None]]:
        return (type(self), (self.message, self.frame_index))


@dataclass(frozen=True)
class FieldError:
    """One invalid field: its dotted path in the parsed object and a human reason."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field or '(root)'}: {self.reason}"


class SettingsError(RenderError):
    """Settings or render options failed validation; `errors` lists every bad field."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors: list[FieldError] = list(errors)
        count = len(self.errors)
        noun = "field" if count == 1 else "fields"
        details = "; ".join(str(error) for error in self.errors)
        super().__init__(f"{count} invalid {noun}: {details}")

    def __reduce__(self) -> tuple[type[SettingsError], tuple[list[FieldError]]]:  # type: ignore[override]
        return (type(self), (self.errors,))
