"""What can go wrong with the chain, as errors that say what to do."""

from __future__ import annotations

from render.errors import LanternError

__all__ = ["ChainError", "MintRefused"]


class ChainError(LanternError):
    """The chain cannot be reached or is not what the settings say."""


class MintRefused(LanternError):
    """A mint the contract would revert: ``code`` names why (wrong_price, sold_out, …)."""

    retryable = False

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
