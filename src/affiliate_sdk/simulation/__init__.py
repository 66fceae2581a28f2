"""A seeded traffic simulator with labelled fraud, and the evaluation of the fraud engine.

>>> from affiliate_sdk.simulation import PRESETS, simulate
>>> evaluation = simulate(PRESETS["small"])  # doctest: +SKIP
>>> print(evaluation.render())  # doctest: +SKIP
"""

from .evaluation import TARGETS, Evaluation, KindFigures, render_runs
from .pack import HELD_OUT, PACK_KINDS, SPENT, TUNING, HonestMix, PackRun, Variation, runs
from .runner import simulate, simulate_runs
from .scenario import FRAUD_KINDS, PRESETS, FraudActor, Peak, Scenario
from .traffic import Event, Traffic, generate

__all__ = [
    "FRAUD_KINDS",
    "HELD_OUT",
    "PACK_KINDS",
    "PRESETS",
    "SPENT",
    "TARGETS",
    "TUNING",
    "Evaluation",
    "Event",
    "FraudActor",
    "HonestMix",
    "KindFigures",
    "PackRun",
    "Peak",
    "Scenario",
    "Traffic",
    "Variation",
    "generate",
    "render_runs",
    "runs",
    "simulate",
    "simulate_runs",
]
