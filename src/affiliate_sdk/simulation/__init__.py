"""A seeded traffic simulator with labelled fraud, and the evaluation of the fraud engine.

>>> from affiliate_sdk.simulation import PRESETS, simulate
>>> evaluation = simulate(PRESETS["small"])  # doctest: +SKIP
>>> print(evaluation.render())  # doctest: +SKIP
"""

from .evaluation import TARGETS, Evaluation, KindFigures
from .runner import simulate
from .scenario import FRAUD_KINDS, PRESETS, FraudActor, Peak, Scenario
from .traffic import Event, Traffic, generate

__all__ = [
    "FRAUD_KINDS",
    "PRESETS",
    "TARGETS",
    "Evaluation",
    "Event",
    "FraudActor",
    "KindFigures",
    "Peak",
    "Scenario",
    "Traffic",
    "generate",
    "simulate",
]
