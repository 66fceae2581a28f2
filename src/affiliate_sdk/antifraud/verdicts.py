"""Verdicts: the reasons the rules gave, added up into a decision.

``judge`` adds the scores of the reasons that fired into a ``Verdict``:
``block`` when a reason is critical or the score reaches ``block_score``,
``review`` from ``review_score``, else ``allow``. ``merge`` joins the verdict
on an order request (its user agent) with the order rules' verdict.
``make_reason`` builds a reason with its severity's usual score, for the
bundled rules and for hosts' own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Final, Literal

from affiliate_sdk.models import FraudThresholds, Reason, Verdict

__all__ = ["ALLOW", "SEVERITY_SCORES", "Decision", "Severity", "judge", "make_reason", "merge"]

#: How bad a reason is: a ``critical`` reason blocks on its own.
Severity = Literal["info", "warn", "high", "critical"]
#: What a verdict decides.
Decision = Literal["allow", "review", "block"]

#: The verdict of a click or order with nothing against it.
ALLOW: Final = Verdict(decision="allow", score=0)
#: The score a reason of each severity adds unless the rule says otherwise.
SEVERITY_SCORES: Final[Mapping[Severity, int]] = {
    "info": 0,
    "warn": 20,
    "high": 50,
    "critical": 100,
}


@lru_cache(maxsize=4096)
def make_reason(code: str, severity: Severity, message: str, score: int | None = None) -> Reason:
    """A reason with a stable ``code``, its ``severity`` and a sentence for people.

    ``score`` defaults to the severity's (``SEVERITY_SCORES``). Reasons are frozen, so the
    same arguments give the same reason, built once: a rule that fires on a burst of clicks
    validates its reason once, not per click.
    """
    return Reason(
        code=code,
        message=message,
        severity=severity,
        score=SEVERITY_SCORES[severity] if score is None else score,
    )


def judge(reasons: Iterable[Reason | None], limits: FraudThresholds) -> Verdict:
    """The verdict from the rules' reasons (``None`` entries are rules that did not fire)."""
    fired = tuple(reason for reason in reasons if reason is not None)
    if not fired:
        return Verdict(decision="allow", score=0)
    score = min(100, sum(reason.score for reason in fired))
    critical = any(reason.severity == "critical" for reason in fired)
    decision: Decision
    if critical or score >= limits.block_score:
        decision = "block"
    elif score >= limits.review_score:
        decision = "review"
    else:
        decision = "allow"
    return Verdict(decision=decision, score=100 if critical else score, reasons=fired)


def merge(request: Verdict, order: Verdict, limits: FraudThresholds) -> Verdict:
    """One verdict from the order request's (its user agent) and the order rules'.

    A side without reasons leaves the other as it is; otherwise both sides'
    reasons are judged together, the request's first.
    """
    if not request.reasons:
        return order
    if not order.reasons:
        return request
    return judge((*request.reasons, *order.reasons), limits)
