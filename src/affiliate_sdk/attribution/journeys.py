"""Journeys: paths of channel touches with their conversions, value and nulls.

Stored column-wise (compressed rows, like a sparse matrix): ``touches`` holds
every path's channel indexes one after another and ``offsets[p]:offsets[p+1]``
is path ``p``'s slice. A row may stand for many journeys that took the same
path: ``conversions`` of them converted (worth ``values`` in total) and
``nulls`` did not.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from affiliate_sdk.errors import InvalidInput

__all__ = ["PATH_SEPARATOR", "Journeys", "tally"]

#: How a path given as one string separates its touches: ``"search > email"``.
PATH_SEPARATOR: Final = ">"

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


def tally(index: Any, weights: Any, size: int) -> Floats:
    """Sums of ``weights`` by ``index``, one per index below ``size``."""
    summed: Floats = np.bincount(index, weights=weights, minlength=size).astype(np.float64)
    return summed


def _floats(name: str, values: Any, rows: int) -> Floats:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (rows,):
        raise InvalidInput(f"{name} must have one value per path ({rows}), not shape {array.shape}")
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise InvalidInput(f"{name} must be finite and not negative")
    return array


class Journeys:
    """Paths with conversions, value and nulls, ready for the batch models.

    The constructor takes columnar input (numpy arrays or anything
    array-like, taken as it is); :meth:`from_paths` takes Python rows and
    :meth:`from_journeys` one row per journey.
    ``ages``, when given, is each touch's time before its path's end (any unit;
    the time-decay model's half-life is in the same unit).
    """

    __slots__ = ("ages", "channels", "conversions", "nulls", "offsets", "touches", "values")

    def __init__(
        self,
        channels: Sequence[str],
        offsets: Any,
        touches: Any,
        conversions: Any,
        *,
        values: Any = None,
        nulls: Any = None,
        ages: Any = None,
    ) -> None:
        self.channels: tuple[str, ...] = tuple(channels)
        if len(set(self.channels)) != len(self.channels):
            raise InvalidInput("channel names must be unique")
        for name in self.channels:
            if not isinstance(name, str) or not name.strip() or name.startswith("("):
                raise InvalidInput(
                    f"channel {name!r} must be a non-empty string not starting with '('"
                )
        self.offsets: Ints = np.asarray(offsets, dtype=np.int64)
        self.touches: Ints = np.asarray(touches, dtype=np.int64)
        rows = len(self.offsets) - 1
        if self.offsets.ndim != 1 or rows < 0 or self.offsets[0] != 0:
            raise InvalidInput("offsets must start at 0 and hold one more entry than paths")
        if self.offsets[-1] != len(self.touches) or np.any(np.diff(self.offsets) < 1):
            raise InvalidInput("every path needs at least one touch, and offsets must end at it")
        if len(self.touches) and (
            self.touches.min() < 0 or self.touches.max() >= len(self.channels)
        ):
            raise InvalidInput("touches must be indexes into channels")
        self.conversions: Floats = _floats("conversions", conversions, rows)
        self.values: Floats = np.zeros(rows) if values is None else _floats("values", values, rows)
        self.nulls: Floats = np.zeros(rows) if nulls is None else _floats("nulls", nulls, rows)
        self.ages: Floats | None = None
        if ages is not None:
            self.ages = _floats("ages", ages, len(self.touches))

    # -- construction --------------------------------------------------------------------
    @classmethod
    def from_paths(
        cls, rows: Iterable[tuple[str | Sequence[str], float, float, float]]
    ) -> Journeys:
        """Aggregated rows ``(path, conversions, value, nulls)``.

        A path is a sequence of channel names or one string split at ``>``
        (``"search > email > search"``); channels are numbered in order of
        first appearance.
        """
        index: dict[str, int] = {}
        offsets = [0]
        touches: list[int] = []
        conversions: list[float] = []
        values: list[float] = []
        nulls: list[float] = []
        for n, (path, converted, value, lost) in enumerate(rows):
            names = path.split(PATH_SEPARATOR) if isinstance(path, str) else path
            steps = [name.strip() for name in names]
            if not steps or not all(steps):
                raise InvalidInput(f"path {n} has an empty touch: {path!r}")
            touches.extend(index.setdefault(name, len(index)) for name in steps)
            offsets.append(len(touches))
            conversions.append(converted)
            values.append(value)
            nulls.append(lost)
        return cls(list(index), offsets, touches, conversions, values=values, nulls=nulls)

    @classmethod
    def from_journeys(cls, journeys: Iterable[tuple[str | Sequence[str], bool, float]]) -> Journeys:
        """One row per journey: ``(path, converted, value)``; equal paths are merged."""
        merged: dict[tuple[str, ...], list[float]] = {}
        for path, converted, value in journeys:
            names = path.split(PATH_SEPARATOR) if isinstance(path, str) else path
            key = tuple(name.strip() for name in names)
            row = merged.setdefault(key, [0.0, 0.0, 0.0])
            if converted:
                row[0] += 1
                row[1] += value
            else:
                row[2] += 1
        return cls.from_paths((key, c, v, x) for key, (c, v, x) in merged.items())

    # -- views ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> Ints:
        return np.diff(self.offsets)

    def row_of_touch(self) -> Ints:
        """For every touch, the index of its path."""
        return np.repeat(np.arange(len(self), dtype=np.int64), self.lengths)

    def collapsed(self) -> Journeys:
        """The same journeys with consecutive repeats of a channel made one touch.

        A kept touch keeps the age of the last touch of its run (the one
        nearest the end).
        """
        touches = self.touches
        if len(touches) == 0:
            return self
        starts = np.zeros(len(touches), dtype=bool)
        starts[self.offsets[:-1]] = True
        keep = np.ones(len(touches), dtype=bool)
        keep[:-1] = (touches[:-1] != touches[1:]) | starts[1:]
        if keep.all():
            return self
        kept_before = np.concatenate(([0], np.cumsum(keep)))
        return Journeys(
            self.channels,
            kept_before[self.offsets],
            touches[keep],
            self.conversions,
            values=self.values,
            nulls=self.nulls,
            ages=None if self.ages is None else self.ages[keep],
        )

    def path(self, row: int) -> tuple[str, ...]:
        start, end = self.offsets[row], self.offsets[row + 1]
        return tuple(self.channels[t] for t in self.touches[start:end])
