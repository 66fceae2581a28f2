"""Fraud checks: pure rules and their verdicts, velocity windows, grades, networks, bots."""

from .counters import SlidingCounts
from .networks import NetworkKinds
from .rules import CLICK_RULES, ORDER_RULES, USER_AGENT_RULES, ClickFacts, OrderFacts, judge
from .shared import SharedCounts
from .useragents import BotUserAgents
from .verdicts import ALLOW

__all__ = [
    "ALLOW",
    "CLICK_RULES",
    "ORDER_RULES",
    "USER_AGENT_RULES",
    "BotUserAgents",
    "ClickFacts",
    "NetworkKinds",
    "OrderFacts",
    "SharedCounts",
    "SlidingCounts",
    "judge",
]
