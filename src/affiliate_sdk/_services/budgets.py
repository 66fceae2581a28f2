"""Campaign budgets: the commission cost booked on a campaign, and the alarm at 120%.

A campaign with a ``budget`` counts the cost of every line booked on its orders (in the
budget's currency; the platform's take included: what the merchant owes) in the order's
unit of work (``RiskRepo.bump``), and takes the reversals a refund books off it in the
refund's: the cost is net of refunds. The booking that takes the cost past ``BUDGET_ALARM``
times the budget adds a ``campaign.budget_alarm`` event to its own (once: the cost only
crosses the line once), and asks for the campaign to be paused when it sets
``pause_over_budget``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Final

from affiliate_sdk._kernel.keys import path_key
from affiliate_sdk.models import Campaign, Commission
from affiliate_sdk.money import Money
from affiliate_sdk.storage.contract import UnitOfWork
from affiliate_sdk.storage.rows import OutboxRow
from affiliate_sdk.webhooks.events import BudgetAlarm, event_row

__all__ = ["BUDGET_ALARM", "count_cost"]

#: The share of its budget a campaign's cost passes when the alarm goes (the plans: 20% over).
BUDGET_ALARM: Final = Decimal("1.2")


def count_cost(
    tx: UnitOfWork, campaign: Campaign, lines: Iterable[Commission], at: datetime
) -> tuple[list[OutboxRow], bool]:
    """Count ``lines`` in the campaign's cost (reversals, negative, take it back); the alarm
    event if they took it past ``BUDGET_ALARM`` of the budget, and whether the campaign is
    to be paused for it."""
    budget = campaign.budget
    if budget is None:
        return [], False
    currency = budget.currency
    cost = sum(line.amount.to_minor() for line in lines if line.amount.currency == currency)
    if cost == 0:
        return [], False
    key = path_key("cost", campaign.merchant_id, campaign.campaign_id, currency)
    after = tx.risk.bump(key, [cost])[0]
    limit = budget.to_minor() * BUDGET_ALARM
    if cost < 0 or not after - cost <= limit < after:  # (a reversal never raises it)
        return [], False
    alarm = BudgetAlarm(
        merchant_id=campaign.merchant_id,
        campaign_id=campaign.campaign_id,
        budget=str(budget.amount),
        cost=str(Money.from_minor(after, currency).amount),
        currency=currency,
        paused=campaign.pause_over_budget,
    )
    place = path_key(campaign.merchant_id, campaign.campaign_id, currency)
    return [event_row("campaign.budget_alarm", place, at, alarm)], campaign.pause_over_budget
