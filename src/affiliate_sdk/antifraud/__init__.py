"""Fraud checks: pure rules and their verdicts, counters, grades and the bot list."""

from .rules import CLICK_RULES, ORDER_RULES, USER_AGENT_RULES, ClickFacts, OrderFacts, judge
from .useragents import BotUserAgents
from .verdicts import ALLOW

__all__ = [
    "ALLOW",
    "CLICK_RULES",
    "ORDER_RULES",
    "USER_AGENT_RULES",
    "BotUserAgents",
    "ClickFacts",
    "OrderFacts",
    "judge",
]
