"""Rule-based batch models: first, last, linear, time decay, position based.

Each gives every touch of a path a weight (the weights of a path sum to 1)
and credits a channel with the weighted conversions and value of the paths it
appears in. Touches are counted as they come: a channel touched twice in a
path is weighted twice (collapse the journeys first to count it once).
"""

from __future__ import annotations

from typing import Final, Literal

import numpy as np

from affiliate_sdk.errors import InvalidInput

from .journeys import Floats, Journeys, tally
from .results import ChannelCredits

__all__ = ["HEURISTICS", "Heuristic", "heuristic", "touch_weights"]

Heuristic = Literal["first_touch", "last_touch", "linear", "time_decay", "position_based"]
HEURISTICS: Final[tuple[Heuristic, ...]] = (
    "first_touch",
    "last_touch",
    "linear",
    "time_decay",
    "position_based",
)


def touch_weights(
    journeys: Journeys,
    model: Heuristic,
    *,
    half_life: float = 7.0,
    first: float = 0.4,
    last: float = 0.4,
) -> Floats:
    """Every touch's weight within its path (each path's weights sum to 1).

    ``time_decay`` halves a touch's weight for every ``half_life`` of its age
    (the journeys' ``ages``; without them, a touch's age is its count of steps
    before the path's last touch). ``position_based`` gives ``first`` and
    ``last`` to the first and last touch and the rest evenly to the middle; a
    path of two touches splits evenly, one touch takes all.
    """
    offsets = journeys.offsets
    lengths = journeys.lengths
    rows = journeys.row_of_touch()
    count = len(journeys.touches)
    position = np.arange(count, dtype=np.int64) - offsets[:-1][rows]
    size = lengths[rows]
    if model in ("first_touch", "last_touch"):
        chosen: Floats = np.equal(position, 0 if model == "first_touch" else size - 1).astype(
            np.float64
        )
        return chosen
    if model == "linear":
        return 1.0 / size
    if model == "time_decay":
        if not half_life > 0:
            raise InvalidInput("half_life must be positive")
        ages = journeys.ages if journeys.ages is not None else (size - 1 - position)
        raw = np.exp2(-np.asarray(ages, dtype=np.float64) / half_life)
        totals = tally(rows, raw, len(journeys))
        return raw / totals[rows]
    if model == "position_based":
        if first < 0 or last < 0 or first + last > 1:
            raise InvalidInput("position weights must be non-negative and sum to at most 1")
        middle = (1.0 - first - last) / np.maximum(size - 2, 1)
        weights = np.where(position == 0, first, np.where(position == size - 1, last, middle))
        weights = np.where(size == 2, 0.5, weights)
        return np.where(size == 1, 1.0, weights)
    raise InvalidInput(f"unknown model {model!r}; choose one of {', '.join(HEURISTICS)}")


def heuristic(
    journeys: Journeys,
    model: Heuristic,
    *,
    half_life: float = 7.0,
    first: float = 0.4,
    last: float = 0.4,
) -> ChannelCredits:
    """Credits of one rule-based model (see :func:`touch_weights`)."""
    weights = touch_weights(journeys, model, half_life=half_life, first=first, last=last)
    rows = journeys.row_of_touch()
    size = len(journeys.channels)
    conversions = tally(journeys.touches, weights * journeys.conversions[rows], size)
    value = tally(journeys.touches, weights * journeys.values[rows], size)
    details: dict[str, object] = {}
    if model == "time_decay":
        details["half_life"] = half_life
    if model == "position_based":
        details["first"], details["last"] = first, last
    return ChannelCredits(model, journeys.channels, conversions, value, details)
