"""Verdicts of the first fraud check: known bots are blocked, everyone else allowed.

Pure: each function maps its inputs to a ``Verdict`` and keeps no state.
"""

from __future__ import annotations

from typing import Final

from affiliate_sdk.models import Reason, Verdict

__all__ = ["ALLOW", "BOT_SCORE", "MISSING_USER_AGENT", "bot_verdict", "user_agent_verdict"]

BOT_SCORE: Final = 100

#: The verdict of a click or order with nothing against it.
ALLOW: Final = Verdict(decision="allow", score=0)

#: No user agent at all: browsers always send one.
MISSING_USER_AGENT: Final = Verdict(
    decision="block",
    score=BOT_SCORE,
    reasons=(
        Reason(
            code="ua.missing",
            message="The request carried no user agent; browsers always send one.",
        ),
    ),
)


def bot_verdict(pattern: str) -> Verdict:
    """Block: the user agent matches a known crawler pattern."""
    return Verdict(
        decision="block",
        score=BOT_SCORE,
        reasons=(
            Reason(
                code="ua.known_bot",
                message=f"The user agent matches the known crawler pattern {pattern!r}.",
            ),
        ),
    )


def user_agent_verdict(user_agent: str | None, matched_pattern: str | None) -> Verdict:
    """The verdict for a user agent, given the bot pattern it matched (if any)."""
    if not user_agent or not user_agent.strip():
        return MISSING_USER_AGENT
    if matched_pattern is not None:
        return bot_verdict(matched_pattern)
    return ALLOW
