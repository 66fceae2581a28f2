"""Shapley values over channel coalitions.

A coalition ``S`` of channels is worth what the journeys that touched only
channels of ``S`` achieved (each journey counted by the set of channels it
touched, order and repeats aside):

* ``worth="rate"`` (default): their conversion rate, conversions over
  conversions plus nulls (0 for a coalition no journey stays within);
* ``worth="conversions"``: their conversions.

A channel's Shapley value is its marginal worth averaged over every order in
which the coalition of all channels can be assembled. Credits are the values'
shares of the total conversions (and, with the same shares computed on
value, of the total value for ``worth="conversions"``; under ``"rate"`` value
is shared like conversions).

``"conversions"`` is a sum of unanimity games (a journey's conversions belong
to the coalitions that contain all its channels), so each journey's
conversions are split evenly among its distinct channels: exact for any
number of channels. ``"rate"`` is not; it is computed exactly over all
``2^n`` coalitions (a subset-sum transform, ``O(n 2^n)``) up to
``exact_limit`` channels (default 15), and beyond that estimated from
``samples`` random channel orders drawn from a generator seeded with
``seed``, so a run is reproducible; ``details["standard errors"]`` then gives
each estimate's standard error.
"""

from __future__ import annotations

from math import factorial
from typing import Final, Literal

import numpy as np

from affiliate_sdk.errors import InvalidInput

from .journeys import Floats, Ints, Journeys, tally
from .results import ChannelCredits

__all__ = ["EXACT_LIMIT", "MAX_EXACT", "Worth", "shapley"]

Worth = Literal["rate", "conversions"]
#: Channels up to which ``worth="rate"`` is computed over every coalition.
EXACT_LIMIT: Final = 15
#: The largest ``exact_limit`` accepted (2^24 coalitions, about 130 MB a table).
MAX_EXACT: Final = 24


def _channel_sets(journeys: Journeys) -> tuple[Ints, Ints, Floats, Floats, Floats]:
    """Distinct channel sets: (set offsets, members, conversions, nulls, value) per set."""
    rows = journeys.row_of_touch()
    pairs = np.unique(np.stack((rows, journeys.touches)), axis=1)
    size = len(journeys.channels)
    # A path's set as bytes of a membership mask, so equal sets group together.
    mask = np.zeros((len(journeys), size), dtype=np.bool_)
    mask[pairs[0], pairs[1]] = True
    keys, inverse = np.unique(np.packbits(mask, axis=1), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    sets = len(keys)
    conversions = tally(inverse, journeys.conversions, sets)
    nulls = tally(inverse, journeys.nulls, sets)
    value = tally(inverse, journeys.values, sets)
    members_mask = np.unpackbits(keys, axis=1, count=size).astype(bool)
    set_rows, members = np.nonzero(members_mask)
    offsets: Ints = np.concatenate(([0], np.cumsum(np.bincount(set_rows, minlength=sets))))
    return offsets, members.astype(np.int64), conversions, nulls, value


def shapley(
    journeys: Journeys,
    *,
    worth: Worth = "rate",
    exact_limit: int = EXACT_LIMIT,
    samples: int = 2000,
    seed: int = 0,
) -> ChannelCredits:
    """Shapley credits of each channel (see the module for the conventions)."""
    if worth not in ("rate", "conversions"):
        raise InvalidInput(f"worth must be 'rate' or 'conversions', not {worth!r}")
    if not 0 <= exact_limit <= MAX_EXACT:
        raise InvalidInput(f"exact_limit must be 0 to {MAX_EXACT}")
    if samples < 1:
        raise InvalidInput("samples must be at least 1")
    size = len(journeys.channels)
    offsets, members, conversions, nulls, value = _channel_sets(journeys)
    total_conversions = float(journeys.conversions.sum())
    total_value = float(journeys.values.sum())
    details: dict[str, object] = {"worth": worth, "channel sets": len(conversions)}
    if worth == "conversions":
        counts = np.diff(offsets)
        owner = np.repeat(np.arange(len(counts)), counts)
        share = 1.0 / counts[owner]
        conv_values = tally(members, conversions[owner] * share, size)
        value_values = tally(members, value[owner] * share, size)
        details["method"] = "exact (even split of each channel set's conversions)"
        return ChannelCredits(
            "shapley",
            journeys.channels,
            _scaled(conv_values, total_conversions),
            _scaled(value_values, total_value),
            details,
        )
    if size <= exact_limit:
        values = _exact_rate(size, offsets, members, conversions, nulls)
        details["method"] = f"exact over {2**size} coalitions"
    else:
        values, errors = _sampled_rate(
            size, offsets, members, conversions, nulls, samples=samples, seed=seed
        )
        details["method"] = f"{samples} sampled channel orders, seed {seed}"
        details["standard errors"] = dict(zip(journeys.channels, errors.tolist(), strict=True))
    details["shapley values"] = dict(zip(journeys.channels, values.tolist(), strict=True))
    shares = _scaled(values, 1.0)
    return ChannelCredits(
        "shapley", journeys.channels, shares * total_conversions, shares * total_value, details
    )


def _scaled(values: Floats, total: float) -> Floats:
    positive = np.clip(values, 0.0, None)
    mass = positive.sum()
    return positive / mass * total if mass > 0 else np.zeros(len(values))


def _set_masks(size: int, offsets: Ints, members: Ints) -> Ints:
    owner = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    bits = np.left_shift(np.int64(1), members)
    return tally(owner, bits, len(offsets) - 1).astype(np.int64)


def _exact_rate(
    size: int, offsets: Ints, members: Ints, conversions: Floats, nulls: Floats
) -> Floats:
    coalitions = 1 << size
    masks = _set_masks(size, offsets, members)
    won = tally(masks, conversions, coalitions)
    seen = tally(masks, conversions + nulls, coalitions)
    for bit in range(size):  # sum over subsets, one channel at a time
        step = 1 << bit
        for table in (won, seen):
            view = table.reshape(-1, 2, step)
            view[:, 1, :] += view[:, 0, :]
    rate = np.divide(won, seen, out=np.zeros(coalitions), where=seen > 0)
    popcount = np.zeros(coalitions, dtype=np.int64)
    for bit in range(size):
        popcount += (np.arange(coalitions) >> bit) & 1
    weight_by_size = np.array(
        [factorial(k) * factorial(size - k - 1) / factorial(size) for k in range(size)]
    )
    values = np.empty(size)
    for channel in range(size):
        step = 1 << channel
        view = rate.reshape(-1, 2, step)
        without = popcount.reshape(-1, 2, step)[:, 0, :]
        gains = view[:, 1, :] - view[:, 0, :]
        values[channel] = float((gains * weight_by_size[without]).sum())
    return values


def _sampled_rate(
    size: int,
    offsets: Ints,
    members: Ints,
    conversions: Floats,
    nulls: Floats,
    *,
    samples: int,
    seed: int,
) -> tuple[Floats, Floats]:
    """Mean marginal gains over random channel orders, and their standard errors.

    Along one order, a channel set joins the coalition when its last member
    (in that order) does; the worth after each step follows from cumulative
    sums of the sets completed so far.
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    seen = conversions + nulls
    starts = offsets[:-1]
    total = np.zeros(size)
    squares = np.zeros(size)
    for _ in range(samples):
        order = rng.permutation(size)
        position = np.empty(size, dtype=np.int64)
        position[order] = np.arange(size)
        completed = np.maximum.reduceat(position[members], starts)
        won = np.cumsum(tally(completed, conversions, size))
        tried = np.cumsum(tally(completed, seen, size))
        rate = np.divide(won, tried, out=np.zeros(size), where=tried > 0)
        gains = np.diff(rate, prepend=0.0)
        total[order] += gains
        squares[order] += gains * gains
    mean = total / samples
    variance = np.maximum(squares / samples - mean * mean, 0.0)
    return mean, np.sqrt(variance / samples)
