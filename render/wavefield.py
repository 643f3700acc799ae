"""The wavefield every layer samples: a sum of sines (GEN1_SPEC §2.2)."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

__all__ = ["Wave", "gradient", "wavefield"]

FloatArray = npt.NDArray[np.float64]
Coordinates = npt.NDArray[np.floating[Any]]  # pixels at 512


class Wave(Protocol):
    """The wave parameters a layer carries (FlowFields and Contour both do)."""

    @property
    def base_frequency(self) -> float: ...
    @property
    def amplitude(self) -> float: ...
    @property
    def octaves(self) -> int: ...


def wavefield(wave: Wave, x: Coordinates, y: Coordinates, phase: float) -> FloatArray:
    """W(x, y) = Σ_o (A/2^o)·sin(x·f0·2^o + φ)·cos(y·f0·2^o + φ), x and y in pixels at 512.

    `x` and `y` broadcast against each other, so a row and a column give a whole grid.
    """
    total: FloatArray = np.zeros(np.broadcast_shapes(x.shape, y.shape))
    for octave in range(wave.octaves):
        frequency = wave.base_frequency * 2**octave
        weight = wave.amplitude / 2**octave
        total += weight * np.sin(x * frequency + phase) * np.cos(y * frequency + phase)
    return total


def gradient(
    wave: Wave, x: Coordinates, y: Coordinates, phase: float
) -> tuple[FloatArray, FloatArray]:
    """The forward-difference gradient of W with eps = 1 px at 512 (GEN1_SPEC §2.4)."""
    here = wavefield(wave, x, y, phase)
    return wavefield(wave, x + 1, y, phase) - here, wavefield(wave, x, y + 1, phase) - here
