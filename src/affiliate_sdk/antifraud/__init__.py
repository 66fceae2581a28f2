"""Fraud checks: pure rules and their verdicts, order signals, velocity windows, grades,
networks, bots.

Where things are: the fact sheets in ``facts``, the rules in ``click_rules``
and ``order_rules``, adding reasons up in ``verdicts``, what earlier orders
say of an order in ``signals``, the velocity windows in ``velocity``.
"""

from .click_rules import CLICK_RULES, PAID_CLICK_PARAMETERS, USER_AGENT_RULES
from .facts import ClickFacts, ClickRule, OrderFacts, OrderRule
from .grades import History
from .networks import NetworkKinds
from .order_rules import ORDER_RULES
from .signals import NOT_THE_AFFILIATES, ValueStatistics, history_after, judge_order, order_facts
from .useragents import BotUserAgents
from .velocity import CounterBuckets, Counts, LocalCounts, SharedCounts, window_for
from .verdicts import ALLOW, Severity, judge, make_reason, merge

#: Today's name of ``LocalCounts``.
SlidingCounts = LocalCounts

__all__ = [
    "ALLOW",
    "CLICK_RULES",
    "NOT_THE_AFFILIATES",
    "ORDER_RULES",
    "PAID_CLICK_PARAMETERS",
    "USER_AGENT_RULES",
    "BotUserAgents",
    "ClickFacts",
    "ClickRule",
    "CounterBuckets",
    "Counts",
    "History",
    "LocalCounts",
    "NetworkKinds",
    "OrderFacts",
    "OrderRule",
    "Severity",
    "SharedCounts",
    "SlidingCounts",
    "ValueStatistics",
    "history_after",
    "judge",
    "judge_order",
    "make_reason",
    "merge",
    "order_facts",
    "window_for",
]
