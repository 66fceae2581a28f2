"""Batch attribution over many journeys: rule-based, Markov and Shapley models.

Needs numpy and scipy: ``pip install 'affiliate-sdk[attribution]'``. The
per-order attribution inside ``Alliance.record_order`` does not.
"""

from __future__ import annotations

try:
    import numpy  # noqa: F401
    import scipy  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "affiliate_sdk.attribution needs numpy and scipy: pip install 'affiliate-sdk[attribution]'"
    ) from exc

from .chains import MarkovCredits, markov
from .coalitions import Worth, shapley
from .heuristics import HEURISTICS, Heuristic, heuristic, touch_weights
from .journeys import Journeys
from .results import ChannelCredits

__all__ = [
    "HEURISTICS",
    "ChannelCredits",
    "Heuristic",
    "Journeys",
    "MarkovCredits",
    "Worth",
    "heuristic",
    "markov",
    "shapley",
    "touch_weights",
]
