"""Markov-chain attribution by removal effect, of order 1 to 3, solved exactly.

Conventions (``docs/attribution.md`` works them through by hand):

* Consecutive repeats of a channel are collapsed first (``a > a > b`` is
  ``a > b``).
* Order ``k``: the states of a path are its windows of ``k`` consecutive
  channels, sliding by one; a path shorter than ``k`` is one state. Order 1
  states are the channels themselves.
* Every journey runs ``(start)`` -> its states -> ``(conversion)`` or
  ``(null)``; a row of ``c`` conversions and ``n`` nulls counts ``c + n``
  times on its path and ends ``c`` times in ``(conversion)``. Transition
  probabilities are the counts out of a state divided by their total.
* Removing a channel sends every flow into a state that contains it to
  ``(null)``. Its removal effect is ``1 - P'/P``, where ``P`` and ``P'`` are
  the chain's conversion probabilities from ``(start)`` with and without it.
* Credits are the removal effects' shares of the total conversions. Value is
  credited the same way with value removal effects: the chain's expected
  value, each conversion out of a state worth the mean value of the
  conversions seen leaving it.

The probabilities are absorption probabilities of the chain, solved as linear
systems, not simulated. With few states (``DENSE_STATES``) the fundamental
matrix ``N = (I - Q)^-1`` is formed once and each removal is a small solve
over the removed states (``P' = P - N[start, R] N[R, R]^-1 x[R]``, the first
entry into the removed set ``R`` taken apart by the strong Markov property);
with more, the chain's mass is pushed from ``(start)`` step by step for every
removal at once until less than ``1e-13`` of it is still in transit (that
remainder bounds the error of every probability).
"""

from __future__ import annotations

from typing import Final

import attrs
import numpy as np
import scipy.sparse as sp

from affiliate_sdk.errors import InvalidInput

from .journeys import Floats, Ints, Journeys, tally
from .results import ChannelCredits

__all__ = ["DENSE_STATES", "MAX_ORDER", "MarkovCredits", "markov"]

MAX_ORDER: Final = 3
#: Up to this many transient states the fundamental matrix is formed densely.
DENSE_STATES: Final = 2000
#: The mass left in transit at which the iterative solution stops.
_TAIL: Final = 1e-13


@attrs.frozen(eq=False)
class MarkovCredits(ChannelCredits):
    """Markov credits, with the chain and the removal effects behind them.

    ``states`` names the transient states (``(start)`` first); ``transitions``
    is the probability matrix from each of them to every state, then
    ``(conversion)`` and ``(null)`` (a ``scipy.sparse`` CSR matrix).
    """

    order: int = 1
    states: tuple[str, ...] = ()
    transitions: sp.csr_matrix | None = None
    removal_effects: Floats = attrs.field(factory=lambda: np.zeros(0))
    value_removal_effects: Floats = attrs.field(factory=lambda: np.zeros(0))
    conversion_probability: float = 0.0
    expected_value: float = 0.0

    def transition_table(self) -> dict[str, dict[str, float]]:
        """``{from: {to: probability}}`` over the non-zero transitions."""
        if self.transitions is None:
            return {}
        names = (*self.states, "(conversion)", "(null)")
        coo = self.transitions.tocoo()
        table: dict[str, dict[str, float]] = {}
        for row, col, p in zip(coo.row, coo.col, coo.data, strict=True):
            table.setdefault(names[row], {})[names[col]] = float(p)
        return table


def _states(journeys: Journeys, order: int) -> tuple[Ints, Ints, Ints, list[tuple[int, ...]]]:
    """Each path's states: (state ids in path order, states per path, state members, labels).

    Returns ``ids`` (1-based state id of every window, paths one after
    another), ``counts`` (windows per path), ``members`` (a states x order
    array of channel indexes, -1 padded) and the member tuples.
    """
    lengths = journeys.lengths
    counts = np.maximum(lengths - order + 1, 1)
    rows = np.repeat(np.arange(len(journeys), dtype=np.int64), counts)
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    starts = journeys.offsets[:-1][rows] + np.arange(len(rows), dtype=np.int64) - first[rows]
    width = np.minimum(lengths, order)[rows]
    base = len(journeys.channels) + 1
    if float(base) ** order >= 2.0**62:
        raise InvalidInput(f"too many channels ({base - 1}) for a Markov chain of order {order}")
    codes = np.zeros(len(rows), dtype=np.int64)
    last = len(journeys.touches) - 1
    for step in range(order):
        inside = step < width
        digit = np.where(inside, journeys.touches[np.minimum(starts + step, last)] + 1, 0)
        codes = codes * base + digit
    unique, ids = np.unique(codes, return_inverse=True)
    members = np.full((len(unique), order), -1, dtype=np.int64)
    remaining = unique.copy()
    for step in range(order - 1, -1, -1):
        members[:, step] = remaining % base - 1
        remaining //= base
    labels = [tuple(int(c) for c in row if c >= 0) for row in members]
    return ids.astype(np.int64) + 1, counts, members, labels


def markov(journeys: Journeys, order: int = 1) -> MarkovCredits:
    """Removal-effect credits of the order-``order`` Markov chain (see the module)."""
    if order not in range(1, MAX_ORDER + 1):
        raise InvalidInput(f"order must be 1 to {MAX_ORDER}, not {order}")
    journeys = _weighed(journeys).collapsed()
    channels = journeys.channels
    size = len(channels)
    if len(journeys) == 0:
        zeros = np.zeros(size)
        return MarkovCredits("markov", channels, zeros, zeros.copy(), order=order)
    chain = _chain(journeys, order)
    base_p, base_v, without, without_value = _without_each(chain, size, order)
    effects = _effects(base_p, without)
    value_effects = _effects(base_v, without_value)
    return MarkovCredits(
        "markov",
        channels,
        _shares(effects, float(journeys.conversions.sum())),
        _shares(value_effects, float(journeys.values.sum())),
        {
            "order": order,
            "states": chain.states,
            "conversion probability": base_p,
            "removal effects": dict(zip(channels, effects.tolist(), strict=True)),
        },
        order=order,
        states=("(start)", *(" > ".join(channels[c] for c in label) for label in chain.labels)),
        transitions=chain.probabilities,
        removal_effects=effects,
        value_removal_effects=value_effects,
        conversion_probability=base_p,
        expected_value=base_v,
    )


def _weighed(journeys: Journeys) -> Journeys:
    """The journeys with a weight: those with neither conversions nor nulls left out."""
    weights = journeys.conversions + journeys.nulls
    if not np.any(weights == 0):
        return journeys
    rows_kept = weights > 0
    lengths = journeys.lengths[rows_kept]
    return Journeys(
        journeys.channels,
        np.concatenate(([0], np.cumsum(lengths))),
        journeys.touches[np.repeat(rows_kept, journeys.lengths)],
        journeys.conversions[rows_kept],
        values=journeys.values[rows_kept],
        nulls=journeys.nulls[rows_kept],
    )


@attrs.frozen
class _Chain:
    """The absorbing chain of a set of journeys: ``states`` transient states (``(start)``
    first), then conversion and null."""

    states: int
    labels: list[tuple[int, ...]]  # each state's channels after (start)
    members: Ints  # state - 1 -> its channels, -1 padded
    probabilities: sp.csr_matrix
    transient: sp.csr_matrix
    to_conversion: Floats
    to_value: Floats


def _chain(journeys: Journeys, order: int) -> _Chain:
    """Count every journey's steps into transition probabilities."""
    ids, counts, members, labels = _states(journeys, order)
    states = len(labels) + 1  # + (start)
    conv, null = states, states + 1
    weight = journeys.conversions + journeys.nulls
    ends = np.cumsum(counts) - 1
    heads = ends - counts + 1
    inner = np.ones(len(ids), dtype=bool)
    inner[ends] = False
    row_of = np.repeat(np.arange(len(journeys), dtype=np.int64), counts)
    source = np.concatenate(
        (np.zeros(len(journeys), dtype=np.int64), ids[inner], ids[ends], ids[ends])
    )
    target = np.concatenate(
        (ids[heads], ids[1:][inner[:-1]], np.full(len(ends), conv), np.full(len(ends), null))
    )
    flow = np.concatenate((weight, weight[row_of[inner]], journeys.conversions, journeys.nulls))
    counted = sp.csr_matrix((flow, (source, target)), shape=(states, states + 2))
    counted.sum_duplicates()
    out = np.asarray(counted.sum(axis=1)).ravel()
    probabilities = sp.csr_matrix(sp.diags(1.0 / out) @ counted)
    return _Chain(
        states,
        labels,
        members,
        probabilities,
        probabilities[:, :states],
        np.asarray(probabilities[:, conv].todense()).ravel(),
        tally(ids[ends], journeys.values, states) / out,
    )


def _without_each(chain: _Chain, size: int, order: int) -> tuple[float, float, Floats, Floats]:
    """The conversion probability and expected value from ``(start)``, and both with each
    channel removed (every state containing it)."""
    states = chain.states
    holder = np.repeat(np.arange(1, states, dtype=np.int64), order)
    member = chain.members.ravel()
    present = member >= 0
    pairs = np.unique(np.stack((member[present], holder[present])), axis=1)
    if states > DENSE_STATES:
        kept = np.ones((states, size + 1))
        kept[pairs[1], pairs[0]] = 0.0
        won, worth = _propagate(
            chain.transient.T.tocsr(), chain.to_conversion, chain.to_value, kept
        )
        return float(won[size]), float(worth[size]), won[:size], worth[:size]
    fundamental = np.linalg.inv(np.identity(states) - chain.transient.toarray())
    x = fundamental @ chain.to_conversion
    xv = fundamental @ chain.to_value
    base_p, base_v = float(x[0]), float(xv[0])
    without = np.full(size, base_p)
    without_value = np.full(size, base_v)
    by_channel = np.split(pairs[1], np.searchsorted(pairs[0], np.arange(1, size)))
    for channel, removed in enumerate(by_channel):
        if len(removed):
            block = fundamental[np.ix_(removed, removed)]
            row = fundamental[0, removed]
            solved = np.linalg.solve(block, np.stack((x[removed], xv[removed]), axis=1))
            without[channel] = base_p - row @ solved[:, 0]
            without_value[channel] = base_v - row @ solved[:, 1]
    return base_p, base_v, without, without_value


def _propagate(
    backwards: sp.csr_matrix, to_conversion: Floats, to_value: Floats, keep: Floats
) -> tuple[Floats, Floats]:
    """Conversion probability and expected value from ``(start)``, one column per removal.

    Pushes the journeys' mass through the chain step by step, every removal
    at once (column ``c`` of ``keep`` zeroes the states that removal ``c``
    sends to ``(null)``), collecting what each step converts, until the mass
    still in transit is below ``_TAIL`` in every column: that mass bounds
    what is left to collect.
    """
    states, columns = keep.shape
    mass = np.zeros((states, columns))
    mass[0, :] = 1.0
    won = np.zeros(columns)
    worth = np.zeros(columns)
    while True:
        won += to_conversion @ mass
        worth += to_value @ mass
        mass = backwards @ mass
        mass *= keep
        if mass.sum(axis=0).max() < _TAIL:
            return won, worth


def _effects(base: float, without: Floats) -> Floats:
    if base <= 0:
        return np.zeros(len(without))
    return np.clip(1.0 - without / base, 0.0, None)


def _shares(effects: Floats, total: float) -> Floats:
    mass = effects.sum()
    shares: Floats = effects / mass * total if mass > 0 else np.zeros(len(effects))
    return shares
