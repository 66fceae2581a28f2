"""Fraud checks: known bots today; the full rule engine builds on these."""

from .useragents import BotUserAgents
from .verdicts import ALLOW, user_agent_verdict

__all__ = ["ALLOW", "BotUserAgents", "user_agent_verdict"]
