"""Grades as settlement reads them: the affiliate's own, and its channel's.

``approve_due`` freezes the due lines of an affiliate held for its grade, and
``pay_approved`` pays it after everyone else in the run. An affiliate is held
when it is graded C, or when its channel is: the channel's grade is the one
``FraudService.channel_grades`` reports, from the pooled history of the
affiliates registered with it (``antifraud.grades.pooled``). Only that
channel's members' histories are read (``CatalogRepo.channel_members``), once
per channel for a call; affiliates without a channel are held for their own
grade alone.
"""

from __future__ import annotations

from typing import Final

from affiliate_sdk.antifraud.grades import History, grade, pooled
from affiliate_sdk.storage.contract import UnitOfWork

__all__ = ["AFFILIATE_GRADE_C", "CHANNEL_GRADE_C", "GradeHolds"]

#: Why ``approve_due`` froze a due line of an affiliate graded C.
AFFILIATE_GRADE_C: Final = "affiliate.grade_c: graded C, reviewed before settlement"
#: Why it froze a due line of an affiliate whose channel is graded C.
CHANNEL_GRADE_C: Final = (
    "channel.grade_c: the affiliate's channel is graded C, reviewed before settlement"
)


def _channel_history(tx: UnitOfWork, channel: str) -> list[History]:
    """The histories of the affiliates registered with ``channel`` that have one (what
    ``channel_grades`` pools for it), read for its members alone."""
    members = tx.catalog.channel_members(channel)
    return [history for _, history in tx.risk.histories(affiliate_ids=members)]


class GradeHolds:
    """Which affiliates settlement holds for a grade, and why, in one unit of work.

    Each affiliate's grade and registration are read once, and each channel's
    members' histories once, however many lines ask.
    """

    __slots__ = ("_affiliates", "_channels", "_tx")

    def __init__(self, tx: UnitOfWork) -> None:
        self._tx = tx
        self._affiliates: dict[str, str | None] = {}
        self._channels: dict[str, bool] = {}

    def reason(self, affiliate_id: str) -> str | None:
        """Why the affiliate is held (``AFFILIATE_GRADE_C`` when it is graded C itself,
        else ``CHANNEL_GRADE_C`` when its channel is), or None."""
        if affiliate_id in self._affiliates:
            return self._affiliates[affiliate_id]
        found: str | None = None
        if grade(self._tx.risk.history(affiliate_id) or History()) == "C":
            found = AFFILIATE_GRADE_C
        else:
            member = self._tx.catalog.get_affiliate(affiliate_id)
            if member is not None and member.channel is not None:
                found = CHANNEL_GRADE_C if self._channel_c(member.channel) else None
        self._affiliates[affiliate_id] = found
        return found

    def held(self, affiliate_id: str) -> bool:
        """Whether the affiliate is held for its grade or its channel's."""
        return self.reason(affiliate_id) is not None

    def _channel_c(self, channel: str) -> bool:
        found = self._channels.get(channel)
        if found is None:
            found = grade(pooled(_channel_history(self._tx, channel))) == "C"
            self._channels[channel] = found
        return found
