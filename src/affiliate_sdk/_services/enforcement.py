"""Enforcement: warning, freezing or expelling an affiliate (platform-level)."""

from __future__ import annotations

from typing import Final, Literal

from affiliate_sdk._kernel.fields import check_identifier, check_texts
from affiliate_sdk.errors import InvalidInput
from affiliate_sdk.models import Enforcement
from affiliate_sdk.storage.contract import UnitOfWork
from affiliate_sdk.storage.rows import LineFilter

from .context import ServiceContext
from .fraud import FraudService
from .review import ReviewService

__all__ = ["EnforcementService"]

Level = Literal["warn", "freeze", "expel"]
_LEVELS: Final = ("warn", "freeze", "expel")
_PAGE: Final = 1000


class EnforcementService:
    """The three levels of violation: each does what the lower ones do."""

    def __init__(self, ctx: ServiceContext, fraud: FraudService, review: ReviewService) -> None:
        self._ctx = ctx
        self._fraud = fraud
        self._review = review

    def enforce(self, affiliate_id: str, level: Level, *, reason: str) -> Enforcement:
        """Warn, freeze or expel an affiliate (three levels, each doing what the lower do).

        Every step is recorded; ``enforcements(affiliate_id)`` lists them.
        Freezing holds all the affiliate's pending commission for review;
        expelling also blacklists the affiliate. Undo an expulsion by taking
        the affiliate off the blacklist; frozen lines are resolved with
        ``release`` or ``reject``.
        """
        check_identifier("affiliate_id", affiliate_id)
        if level not in _LEVELS:
            raise InvalidInput(f"level must be warn, freeze or expel, not {level!r}")
        check_texts(reason=reason)
        if not reason.strip():
            raise InvalidInput("an enforcement needs a reason")
        now = self._ctx.clock.now()
        with self._ctx.store.transaction() as tx:
            frozen: list[str] = []
            if level != "warn":
                pending = _pending(tx, affiliate_id)
                if pending:
                    lines = self._review.freeze(pending, reason=f"{level}: {reason}")
                    frozen = [line.entry_id for line in lines]
            if level == "expel":
                self._fraud.blacklist("affiliate", affiliate_id, reason=f"expelled: {reason}")
            step = Enforcement(
                affiliate_id=affiliate_id,
                level=level,
                reason=reason,
                at=now,
                steps=1 + len(tx.sanctions.enforcements(affiliate_id)),
                frozen=frozen,
            )
            tx.sanctions.add_enforcement(step)
        if level == "expel":  # announced inside the unit of work: again, now it is committed
            self._ctx.announce("blacklist")
        return step

    def enforcements(self, affiliate_id: str) -> list[Enforcement]:
        """The enforcement steps taken against an affiliate, oldest first."""
        check_texts(affiliate_id=affiliate_id)
        with self._ctx.store.reader() as tx:
            return tx.sanctions.enforcements(affiliate_id)


def _pending(tx: UnitOfWork, affiliate_id: str) -> list[str]:
    """The ids of the affiliate's pending lines."""
    where = LineFilter(affiliate_id=affiliate_id, status="pending")
    found: list[str] = []
    after: str | None = None
    while page := tx.ledger.query(where, after=after, limit=_PAGE):
        found += [row.line.entry_id for row in page]
        after = page[-1].line.entry_id
    return found
