"""The typed rows the repositories keep. Named tuples, so the hot paths stay cheap.

Every id a merchant chooses (campaign, order, coupon, customer, refund,
renewal subscription) is stored next to its ``merchant_id`` and looked up by
both: two merchants may use the same ids and never meet.

Rows that money is read from (ledger lines, order money, period totals, marks,
payouts) carry ``seq``: the journal entry that last wrote them. The journal
entry holds the same values (``commission.journal``), so a row edited behind
the SDK's back no longer matches its entry and is refused before money moves.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal, NamedTuple

from affiliate_sdk.antifraud.grades import History
from affiliate_sdk.models import Commission, PayoutBatch
from affiliate_sdk.money import Money
from affiliate_sdk.tracking.clicks import ClickRow

__all__ = [
    "BindingRow",
    "ClickRow",
    "CouponRow",
    "DeadLetterRow",
    "DeliveryCursor",
    "DeliveryLogRow",
    "ImpressionRow",
    "JournalRow",
    "LeaseRow",
    "LineFilter",
    "LineMeasures",
    "LineRow",
    "Mark",
    "OrderRow",
    "OutboxRow",
    "PayoutRow",
    "PeriodTotals",
    "RefundRow",
    "Standing",
    "SubscriptionRow",
    "ValueStats",
]


# -- clicks ------------------------------------------------------------------------------------
class ImpressionRow(NamedTuple):
    """A visitor saw an affiliate's link (for view-through attribution)."""

    impression_id: str
    merchant_id: str
    visitor_id: str
    affiliate_id: str
    campaign_id: str
    at_ms: int
    #: False for a touch over the visitor's frequency cap: recorded, but it does not earn.
    earns: bool = True


# -- catalog ---------------------------------------------------------------------------------
class CouponRow(NamedTuple):
    """A merchant's coupon code (normalised: trimmed, upper case) given to an affiliate."""

    merchant_id: str
    code: str
    affiliate_id: str
    campaign_id: str


# -- orders ----------------------------------------------------------------------------------
class OrderRow(NamedTuple):
    """A recorded order, its content fingerprint and the outcome to replay.

    ``seq`` is the journal entry that last wrote its money (``total_minor``,
    ``refunded_minor``); None for an order that booked nothing.
    """

    merchant_id: str
    order_id: str
    fingerprint: str
    currency: str
    total_minor: int
    refunded_minor: int
    placed_at_ms: int
    created_at_ms: int
    ip_hash: str | None
    ip_network: str | None
    outcome_json: str
    seq: int | None = None


class RefundRow(NamedTuple):
    """A booked refund and the outcome to replay on a retry."""

    merchant_id: str
    order_id: str
    refund_id: str
    amount_minor: int
    created_at_ms: int
    outcome_json: str


class BindingRow(NamedTuple):
    """A customer bound to the affiliate who first brought them, until ``until_ms``."""

    merchant_id: str
    customer_id: str
    affiliate_id: str
    campaign_id: str
    click_id: str | None
    until_ms: int | None


# -- ledger ----------------------------------------------------------------------------------
class LineMeasures(NamedTuple):
    """What a booked line added to its period totals, so a refund can take it back.

    ``tier_key`` names the tier period; ``tier_measure`` is what the order
    added to its volume, ``tier_base`` and ``tier_paid`` the value it paid
    tier rates on and the exact tier commission it earned (tiers' currency),
    ``fx_rate`` the rate used; ``counts`` the other period totals (targets,
    levels) the order added to, and by how much.
    """

    tier_key: str | None = None
    tier_measure: Decimal | None = None
    tier_base: Decimal | None = None
    tier_paid: Decimal | None = None
    fx_rate: Decimal | None = None
    counts: tuple[tuple[str, Decimal], ...] = ()
    tier_booked: Money | None = None  # the tier commission as booked (rounded)


class LineRow(NamedTuple):
    """A ledger line as the projection keeps it: the public line, its measures and ``seq``."""

    line: Commission
    measures: LineMeasures | None
    seq: int


class LineFilter(NamedTuple):
    """Which lines a query wants; a None field does not filter."""

    merchant_id: str | None = None
    affiliate_id: str | None = None
    order_id: str | None = None
    status: str | None = None
    account: str | None = None
    created_since_ms: int | None = None
    created_before_ms: int | None = None


class PayoutRow(NamedTuple):
    """A payout batch of a run, and the journal entry that paid it."""

    run_id: str
    batch: PayoutBatch
    seq: int


# -- journal ---------------------------------------------------------------------------------
class JournalRow(NamedTuple):
    """An entry as stored: its seq (unique in the journal), event id, instant, canonical
    bytes and chained tag, its chain and its place in that chain (1, 2, ...; a one-chain
    journal's entries are at the place their seq names)."""

    seq: int
    event_id: str
    at_ms: int
    body: bytes
    hash: bytes
    chain: int
    pos: int


# -- periods ---------------------------------------------------------------------------------
class PeriodTotals(NamedTuple):
    """A period scope's running totals (tiers, targets, caps, levels, traffic counters).

    ``volume`` is what counted towards the period; ``tier_base`` the value tier
    rates were paid on; ``rate`` the retroactive rate last settled; ``paid`` the
    exact commission the rates earned; ``booked`` what was booked for it in the
    ledger, rounded line by line (a close trues up against this).
    """

    key: str
    volume: Decimal = Decimal(0)
    tier_base: Decimal = Decimal(0)
    rate: Decimal = Decimal(0)
    paid: Decimal = Decimal(0)
    booked: Decimal = Decimal(0)
    seq: int = 0


class Mark(NamedTuple):
    """An idempotency mark (a period closed, a batch counted, clicks settled up to...)."""

    key: str
    value: str
    seq: int = 0


# -- risk ------------------------------------------------------------------------------------
class ValueStats(NamedTuple):
    """Running log-value statistics of a merchant's orders in one currency (Welford)."""

    key: str
    orders: int = 0
    mean: float = 0.0
    m2: float = 0.0


class Standing(NamedTuple):
    """What every attributed order reads of the risk state: the affiliate's history, the
    merchant's value statistics and the tallies asked for (``()`` for one never kept)."""

    history: History | None
    stats: ValueStats | None
    tallies: tuple[tuple[int, ...], ...] = ()


# -- outbox and webhooks ---------------------------------------------------------------------
class OutboxRow(NamedTuple):
    """An event in the outbox: its place in the stream, id, type, time and JSON body."""

    seq: int
    event_id: str
    type: str
    created_at_ms: int
    data: str


OwnerKind = Literal["platform", "merchant", "affiliate"]


class SubscriptionRow(NamedTuple):
    """A webhook subscription as kept (secrets sealed), under its owner's scope.

    ``scope`` is ``""`` for the platform, ``m:<merchant id>`` or
    ``a:<affiliate id>``: two owners may use the same subscription id.
    """

    scope: str
    subscription_id: str
    data: str  # the Subscription model's JSON


class DeliveryCursor(NamedTuple):
    """Where a subscription's deliveries stand."""

    cursor: int = 0
    attempts: int = 0
    next_at_ms: int = 0
    dead_in_a_row: int = 0


class LeaseRow(NamedTuple):
    """Who delivers a subscription now, and until when."""

    holder: str
    until_ms: int


class DeliveryLogRow(NamedTuple):
    """One delivery attempt."""

    seq: int
    event_id: str
    type: str
    attempt: int
    at_ms: int
    status: int | None
    error: str | None
    latency_ms: float
    response_bytes: int | None  # how much of the receiver's answer was read (None: no answer)
    response_digest: str | None  # its keyed digest, ``<key id>:<hex>``; never the answer itself


class DeadLetterRow(NamedTuple):
    """An event given up on, and why."""

    seq: int
    event_id: str
    reason: str
    at_ms: int
