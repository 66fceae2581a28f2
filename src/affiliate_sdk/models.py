"""Public models shared across the SDK: orders, campaigns, verdicts, outcomes.

All are frozen pydantic models: hosts can store them as JSON and export their
JSON Schema (``Order.model_json_schema()``) for their own APIs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from ._base import AffiliateModel, Identifier, Rate
from ._kernel.fields import UnicodeText
from .commission.plans import CommissionPlan
from .money import MAX_MINOR_UNITS, Money, bookable, sum_money
from .tracking.landing import normalize_domain_pattern

__all__ = [
    "DEFAULT_ATTRIBUTION_WINDOW",
    "MAX_ATTRIBUTION_WINDOW",
    "Affiliate",
    "AffiliateAttribution",
    "AffiliateGrade",
    "AttributionModel",
    "AttributionPolicy",
    "Campaign",
    "Commission",
    "CommissionStatus",
    "ComplaintOutcome",
    "Credit",
    "Enforcement",
    "FraudThresholds",
    "Invoice",
    "ItemCommission",
    "LedgerVerification",
    "LineItem",
    "Merchant",
    "Order",
    "OrderOutcome",
    "PayoutBatch",
    "PlanVersion",
    "Reason",
    "ReconciliationRow",
    "RefundOutcome",
    "Signal",
    "Statement",
    "TouchNote",
    "Verdict",
]

#: How long after a click an order is still credited to it.
DEFAULT_ATTRIBUTION_WINDOW: Final = timedelta(days=30)
#: The longest attribution window a campaign may set; orders look no further back.
MAX_ATTRIBUTION_WINDOW: Final = timedelta(days=400)

#: Free text the host supplies (order ids, SKUs, categories): no control characters.
Text = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")]
CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # within a day of datetime.min or max, in a far zone
        raise ValueError("the datetime lies outside what UTC can show") from None


def _booked(value: Money, *, allow_negative: bool = False) -> Money:
    # whole minor units within MAX_MINOR_UNITS, with the canonical exponent so
    # equal amounts serialise alike
    return bookable(value, allow_negative=allow_negative)


# --- orders -----------------------------------------------------------------------


class LineItem(AffiliateModel):
    """One line of an order."""

    sku: Text
    category: Text | None = None
    quantity: int = Field(default=1, ge=1, le=MAX_MINOR_UNITS)
    unit_price: Money

    @field_validator("unit_price")
    @classmethod
    def _price(cls, value: Money) -> Money:
        return _booked(value)

    @property
    def value(self) -> Money:
        """The line's price times its quantity."""
        return self.unit_price * self.quantity

    @model_validator(mode="after")
    def _bookable_value(self) -> LineItem:
        _booked(self.value)  # the price times the quantity is booked too
        return self


class Order(AffiliateModel):
    """An order as the merchant's shop reports it.

    ``(merchant_id, order_id)`` identifies it: recording it again is a no-op.
    ``placed_at`` defaults to the alliance clock's now when recorded. For a
    subscription, the first order carries ``subscription_id`` and
    ``renewal=0``; each renewal the same id and ``renewal=1, 2, ...``.
    ``customer_email``, ``customer_phone`` and ``payment_fingerprint`` (say, a
    card's fingerprint from the payment provider) are used only to recognise
    self-referrals, as keyed hashes; the SDK stores none of them.
    """

    order_id: Text
    merchant_id: Identifier
    total: Money
    items: list[LineItem] = Field(default_factory=list)
    customer_id: Text | None = None
    customer_email: Text | None = Field(default=None, repr=False)
    customer_phone: Text | None = Field(default=None, repr=False)
    payment_fingerprint: Text | None = Field(default=None, repr=False)
    new_customer: bool | None = None
    coupon_codes: list[Text] = Field(default_factory=list)
    country: CountryCode | None = None
    placed_at: datetime | None = None
    shipping: Money | None = None
    tax: Money | None = None
    discount: Money | None = None
    subscription_id: Text | None = None
    renewal: int = Field(default=0, ge=0)

    @field_validator("total")
    @classmethod
    def _total(cls, value: Money) -> Money:
        return _booked(value)

    @field_validator("shipping", "tax", "discount")
    @classmethod
    def _parts(cls, value: Money | None) -> Money | None:
        return None if value is None else _booked(value)

    @field_validator("placed_at")
    @classmethod
    def _placed(cls, value: datetime | None) -> datetime | None:
        return _utc(value)

    @model_validator(mode="after")
    def _renewals_belong_to_subscriptions(self) -> Order:
        if self.renewal and self.subscription_id is None:
            raise ValueError("a renewal needs the subscription_id of its first order")
        return self

    @model_validator(mode="after")
    def _one_currency(self) -> Order:
        currency = self.total.currency
        for item in self.items:
            if item.unit_price.currency != currency:
                raise ValueError(
                    f"item {item.sku!r} is priced in {item.unit_price.currency}, "
                    f"the order in {currency}"
                )
        for name in ("shipping", "tax", "discount"):
            part = getattr(self, name)
            if part is not None and part.currency != currency:
                raise ValueError(f"{name} is in {part.currency}, the order in {currency}")
        return self

    @model_validator(mode="after")
    def _bookable_lines(self) -> Order:
        if self.items:  # the lines' sum is booked too (the eligible amount)
            _booked(sum_money((item.value for item in self.items), self.total.currency))
        return self


# --- attribution --------------------------------------------------------------------

AttributionModel = Literal["last_click", "first_click", "linear", "time_decay", "position_based"]
#: Where an order's credit can come from: a bound customer, a coupon, clicks, views.
Signal = Literal["bound_customer", "coupon", "click", "view"]


def _lookback(value: timedelta | None) -> timedelta | None:
    if value is not None and not timedelta(0) < value <= MAX_ATTRIBUTION_WINDOW:
        limit = MAX_ATTRIBUTION_WINDOW.days
        raise ValueError(f"a lookback must be positive and at most {limit} days")
    return value


def _default_precedence() -> list[Signal]:
    return ["bound_customer", "coupon", "click", "view"]


class AffiliateAttribution(AffiliateModel):
    """How one affiliate's touches count in a campaign (a per-affiliate override).

    ``lookback`` replaces the policy's for this affiliate's clicks; with
    ``counts`` false its clicks are passed over (its coupons still count).
    """

    lookback: timedelta | None = None
    counts: bool = True

    _check_lookback = field_validator("lookback")(_lookback)


class AttributionPolicy(AffiliateModel):
    """How a campaign's orders are credited: signals, their precedence, the model.

    * ``precedence``: the signals tried in order; the first that has a
      candidate decides (``bound_customer`` > ``coupon`` > ``click`` >
      ``view`` by default). A coupon or a bound customer takes the whole order.
    * ``view_through``: when set, impressions recorded with
      ``Alliance.track_impression`` this long before the order are touches
      too (the ``view`` signal), weighed by the same model; unset, views
      never count.
    * ``model`` weighs the clicks that count: ``last_click`` (default),
      ``first_click``, ``linear``, ``time_decay`` (weight halves every
      ``half_life`` before the order) or ``position_based`` (``first_share``
      and ``last_share`` to the first and last click, the rest evenly to the
      middle; two clicks split evenly, one takes all).
    * ``lookback``: how long before the order a click counts (default: the
      campaign's ``attribution_window``); ``affiliates`` overrides it, or
      passes an affiliate's clicks over, per affiliate.
    * Blocked clicks never count; clicks held for review count only with
      ``count_flagged``. Clicks of affiliates whose ``channel`` is in
      ``ignore_channels`` count only when no other click does (a "last
      non-direct" rule).
    * ``bind_customers``: an order credited to an affiliate binds its customer
      (``Order.customer_id``) to that affiliate for ``binding_period`` (or for
      life when it is not set); the customer's later orders then carry the
      ``bound_customer`` signal.
    """

    precedence: list[Signal] = Field(default_factory=_default_precedence, min_length=1)
    model: AttributionModel = "last_click"
    lookback: timedelta | None = None
    view_through: timedelta | None = None
    half_life: timedelta = timedelta(days=7)
    first_share: Rate = Decimal("0.4")
    last_share: Rate = Decimal("0.4")
    count_flagged: bool = False
    ignore_channels: list[Text] = Field(default_factory=list)
    bind_customers: bool = False
    binding_period: timedelta | None = None
    affiliates: dict[Identifier, AffiliateAttribution] = Field(default_factory=dict)

    _check_lookback = field_validator("lookback", "view_through")(_lookback)

    @field_validator("precedence")
    @classmethod
    def _unique(cls, value: list[Signal]) -> list[Signal]:
        if len(set(value)) != len(value):
            raise ValueError("each signal may appear once in precedence")
        return value

    @field_validator("half_life", "binding_period")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("must be positive")
        return value

    @model_validator(mode="after")
    def _shares(self) -> AttributionPolicy:
        if self.first_share + self.last_share > 1:
            raise ValueError("first_share and last_share must add up to at most 100%")
        return self


class AffiliateGrade(AffiliateModel):
    """An affiliate's grade (S best, C worst; None before enough orders) and its basis."""

    affiliate_id: Identifier
    grade: Literal["S", "A", "B", "C"] | None
    orders: int
    refund_rate: float
    fraud_rate: float


class ChannelGrade(AffiliateModel):
    """A channel's grade from its affiliates' pooled order history (``Alliance.channel_grades``).

    ``channel`` is the affiliates' ``Affiliate.channel``; None pools the
    affiliates without one (and those never registered). ``late_share`` is
    the share of orders through a click placed hours after it (see
    ``FraudThresholds.late_conversion_hours``).
    """

    channel: Text | None
    grade: Literal["S", "A", "B", "C"] | None
    affiliates: int
    orders: int
    refund_rate: float
    fraud_rate: float
    late_share: float


class Enforcement(AffiliateModel):
    """An enforcement step against an affiliate (``Alliance.enforce``) and what it did.

    ``warn`` records a warning; ``freeze`` also freezes every pending
    commission of the affiliate (``frozen`` lists the lines); ``expel`` also
    puts the affiliate on the shared blacklist, so its clicks earn nothing.
    ``steps`` counts the affiliate's enforcement steps so far, this one included.
    """

    affiliate_id: Identifier
    level: Literal["warn", "freeze", "expel"]
    reason: str
    at: datetime
    steps: int
    frozen: list[str] = Field(default_factory=list)


class ComplaintOutcome(AffiliateModel):
    """What ``Alliance.complain`` recorded, whether the circuit breaker tripped, and the
    entry ids of the pending commission it froze when it did."""

    target: str
    complaints_last_hour: int
    limit: int
    paused: bool
    frozen: list[str] = Field(default_factory=list)


class TouchNote(AffiliateModel):
    """One touch ``record_order`` considered, and what became of it."""

    signal: Signal
    affiliate_id: Identifier | None = None
    campaign_id: Identifier | None = None
    click_id: str | None = None
    coupon_code: str | None = None
    at: datetime | None = None
    counted: bool
    weight: Decimal | None = None
    reason: str | None = None


# --- fraud ----------------------------------------------------------------------------


#: A source rule's default bar: the natural log of 10^6 (``FraudThresholds.source_surprise``).
SOURCE_SURPRISE: Final = 13.8


class FraudThresholds(AffiliateModel):
    """The numbers the rules compare against (data: per platform, merchant or campaign).

    Velocities are clicks within the last minute; ``min_click_to_order`` is
    the shortest plausible time from a click to an order. Clicks from a
    network of a kind in ``block_network_kinds`` are blocked, from other known
    kinds (``vpn``, ``tor``, ``proxy``, ``hosting``...) add a warning's score. Click flooding
    is ``clicks_per_order`` exceeded by an affiliate with at least
    ``min_clicks_for_flooding`` clicks over the last day, or more than
    ``late_conversion_share`` of its orders (once it has
    ``min_orders_for_timing`` through clicks) placed ``late_conversion_hours``
    or more after their click.

    Sources (an affiliate on a campaign, its orders from one network) are judged against
    the rest of their campaign (``antifraud.sources``): a rule fires when what the source
    shows is more implausible than ``source_surprise`` (the exponent of a chance bound;
    ln 10^6 by default) at the campaign's base rate. Click injection: at least
    ``min_fast_orders`` orders within ``fast_conversion_seconds`` of their click; click
    flooding: at least ``min_clicks_for_flooding`` clicks in a day converting
    ``low_conversion_factor`` times below the campaign (or below ``expected_conversion``,
    the plans' target rate, when the campaign's own is lower: flooded clicks drag a
    campaign's rate down with them), or ``high_conversion_factor`` times above it (an order
    of magnitude) and above ``plausible_conversion`` too (more than half of a source's
    clicks buying within the day is no people browsing, however keen: brushing); a farm: at least
    ``min_network_customers`` of one network's customers in a week buying through one
    affiliate, in at least ``min_network_hours`` distinct hours (a farm works for hours; an
    office's colleagues buy within an hour or two of a deal shared among them); cash-out
    (``antifraud.cashout``): at least ``min_cashout_refunds`` of an affiliate's orders
    refunded or cancelled after their commission was approved, ``cashout_factor`` times or
    more as often as the rest of its campaign's approved orders are.
    """

    review_score: int = Field(default=40, ge=1, le=100)
    block_score: int = Field(default=80, ge=1, le=100)
    network_clicks_per_minute: int = Field(default=30, ge=1)
    visitor_clicks_per_minute: int = Field(default=6, ge=1)
    device_clicks_per_minute: int = Field(default=10, ge=1)
    affiliate_clicks_per_minute: int = Field(default=10_000, ge=1)
    visitor_affiliate_clicks_per_day: int = Field(default=20, ge=1)
    visitor_touches_per_week: int = Field(default=5, ge=1)
    min_click_to_order_seconds: float = Field(default=10.0, ge=0)
    refund_rate: Rate | None = Decimal("0.25")
    min_orders_for_refund_rate: int = Field(default=20, ge=1)
    clicks_per_order: int = Field(default=300, ge=1)
    late_conversion_hours: float = Field(default=3.0, gt=0)
    late_conversion_share: float = Field(default=0.75, gt=0, le=1)
    min_orders_for_timing: int = Field(default=30, ge=1)
    customers_per_payment: int = Field(default=3, ge=1)
    customers_per_network: int = Field(default=3, ge=1)
    min_clicks_for_flooding: int = Field(default=1000, ge=1)
    outlier_sigmas: float = Field(default=4.0, gt=0)
    forbid_paid_search: bool = False
    block_network_kinds: frozenset[UnicodeText] = frozenset({"datacenter", "crawler"})
    complaints_per_hour: int = Field(default=50, ge=1)
    freeze_grade_c: bool = True
    source_surprise: float = Field(default=SOURCE_SURPRISE, gt=0)
    fast_conversion_seconds: float = Field(default=60.0, gt=0)
    min_fast_orders: int = Field(default=3, ge=1)
    low_conversion_factor: float = Field(default=5.0, ge=1)
    high_conversion_factor: float = Field(default=10.0, ge=1)
    plausible_conversion: Rate = Decimal("0.5")
    expected_conversion: Rate = Decimal("0.01")
    min_network_customers: int = Field(default=5, ge=2)
    min_network_hours: int = Field(default=4, ge=1)
    cashout_factor: float = Field(default=3.0, ge=1)
    min_cashout_refunds: int = Field(default=5, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> FraudThresholds:
        if self.review_score > self.block_score:
            raise ValueError("review_score must not exceed block_score")
        return self


# --- campaigns ----------------------------------------------------------------------


class Campaign(AffiliateModel):
    """A merchant's offer to affiliates: what it pays and where its links may land.

    ``allowed_channels`` restricts who earns on it (grey categories such as e-cigarettes or
    adult goods, which only dedicated channels may promote): an order credited to an
    affiliate whose ``channel`` is not listed, or who has none, books no commission
    (``campaign.channel_not_allowed``). None: every channel.

    ``budget`` is what the merchant means to spend on commission (every line booked on the
    campaign's orders, the platform's take included, in the budget's currency): when the cost
    booked passes 120% of it, a ``campaign.budget_alarm`` event is sent, once, and with
    ``pause_over_budget`` the campaign is paused too.
    """

    campaign_id: Identifier
    merchant_id: Identifier
    plan: CommissionPlan
    landing_domains: list[str] = Field(min_length=1)
    active: bool = True
    country: CountryCode | None = None
    category: Text | None = None
    attribution_window: timedelta = DEFAULT_ATTRIBUTION_WINDOW
    timezone: str = "UTC"
    attribution: AttributionPolicy = Field(default_factory=AttributionPolicy)
    fraud: FraudThresholds | None = None
    allowed_channels: list[Text] | None = None
    budget: Money | None = None
    pause_over_budget: bool = False

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long
            raise ValueError(f"{value[:80]!r} is not an IANA time zone") from None
        return value

    @field_validator("landing_domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        return [normalize_domain_pattern(domain) for domain in value]

    @field_validator("attribution_window")
    @classmethod
    def _window(cls, value: timedelta) -> timedelta:
        if not timedelta(0) < value <= MAX_ATTRIBUTION_WINDOW:
            limit = MAX_ATTRIBUTION_WINDOW.days
            raise ValueError(f"the attribution window must be positive and at most {limit} days")
        return value


class Merchant(AffiliateModel):
    """A shop in the alliance, as far as commission needs to know it.

    ``platform_take`` overrides the alliance's default take for this
    merchant's commissions (a plan's own ``platform_take`` overrides both).
    """

    merchant_id: Identifier
    platform_take: Rate | None = None


class Affiliate(AffiliateModel):
    """An alliance member, as overrides and two-tier commissions need to know them.

    ``group`` and ``channel`` are what plan overrides can match
    (``affiliate_group``, ``channel``); ``parent_id`` is the affiliate who
    recruited this one and earns the plan's ``parent_share`` of its commission.
    ``rate`` is a dynamic base rate the host sets for this affiliate (say, from
    the value of its traffic); it replaces the plan's ``rate`` and is kept
    within the plan's ``bounds``. ``identity`` holds keyed hashes of the
    affiliate's own email, phone and payment details, made with
    ``Alliance.identity_hashes`` (never the raw values), so orders by the
    affiliate themself are recognised.
    """

    affiliate_id: Identifier
    parent_id: Identifier | None = None
    group: Text | None = None
    channel: Text | None = None
    rate: Rate | None = None
    identity: list[UnicodeText] = Field(default_factory=list)

    @model_validator(mode="after")
    def _not_own_parent(self) -> Affiliate:
        if self.parent_id == self.affiliate_id:
            raise ValueError("an affiliate cannot be its own parent")
        return self


class PlanVersion(AffiliateModel):
    """A campaign's plan as it stood from ``effective_from``: orders placed then use it."""

    campaign_id: Identifier
    version: int = Field(ge=1)
    effective_from: datetime
    plan: CommissionPlan

    @field_validator("effective_from")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        utc = _utc(value)
        assert utc is not None
        return utc


# --- verdicts -----------------------------------------------------------------------


class Reason(AffiliateModel):
    """Why a verdict is what it is: a stable machine code and a sentence for people.

    ``severity`` grades it (a ``critical`` reason blocks on its own) and
    ``score`` is what it adds to the verdict's score.
    """

    code: str
    message: str
    severity: Literal["info", "warn", "high", "critical"] = "critical"
    score: int = Field(default=100, ge=0, le=100)


class Verdict(AffiliateModel):
    """The fraud decision on a click or an order."""

    decision: Literal["allow", "review", "block"]
    score: int = Field(ge=0, le=100)
    reasons: tuple[Reason, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.decision == "allow"


# --- outcomes -------------------------------------------------------------------------

CommissionStatus = Literal["pending", "approved", "paid", "reversed", "frozen", "rejected"]


class Commission(AffiliateModel):
    """One ledger line. Amounts are signed: reversals and clawbacks are negative.

    ``account`` says who the money is for: the ``affiliate`` who earned it,
    the ``parent`` who recruited that affiliate (two-tier; ``affiliate_id`` is
    then the parent's) or the ``platform``'s take. Every line of an order,
    summed, is what the merchant owes for it.

    ``kind``: ``commission`` (booked on an order), ``trueup`` (a retroactive
    tier crossed: the difference owed on the period's earlier orders),
    ``bonus`` (an over-target bonus),
    ``reversal`` (a refund or rejection before the commission was paid;
    ``reverses`` names the line) or ``clawback`` (a refund after payment,
    netted against the next payout). Tiered lines carry the ``tier_key`` of
    their period scope, what the order added to its volume (``tier_measure``),
    the value it paid tier rates on and the exact tier commission it earned
    (``tier_base``, ``tier_paid``, in the tiers' currency) and the FX rate used
    (``fx_rate``); ``counts`` names the other
    period totals (targets, levels) the order added to, and by how much.

    ``status`` follows the lifecycle: ``pending`` until ``hold_until``, then
    ``approved`` (``approved_at``), then ``paid`` in a payout (``payout_id``,
    ``paid_at``); ``frozen`` while held for review, then released or
    ``rejected``; ``reversed`` once refunds have taken all of it back.
    """

    entry_id: str
    event_id: str
    merchant_id: Identifier
    order_id: Text
    campaign_id: Identifier
    affiliate_id: Identifier
    click_id: str | None
    account: Literal["affiliate", "parent", "platform"]
    kind: Literal["commission", "reversal", "clawback", "trueup", "bonus"]
    amount: Money
    status: CommissionStatus
    rate: Decimal
    basis: Money
    rule: str = "base"
    plan_version: int = 1
    tier_key: str | None = None
    tier_measure: Decimal | None = None
    tier_base: Decimal | None = None
    tier_paid: Decimal | None = None
    fx_rate: Decimal | None = None
    counts: dict[str, Decimal] = Field(default_factory=dict)
    refund_id: str | None = None
    reverses: str | None = None
    reason: str | None = None
    created_at: datetime
    hold_until: datetime | None = None
    approved_at: datetime | None = None
    paid_at: datetime | None = None
    payout_id: str | None = None

    @field_validator("amount")
    @classmethod
    def _amount(cls, value: Money) -> Money:
        return _booked(value, allow_negative=True)


class Credit(AffiliateModel):
    """The share of an order credited to one affiliate in one campaign.

    ``signal`` says what earned it; ``click_id`` and ``clicked_at`` name the
    latest click behind it (none for a coupon or a bound customer). The
    weights of an order's credits add up to exactly 1.
    """

    affiliate_id: Identifier
    campaign_id: Identifier
    click_id: str | None
    weight: Decimal
    clicked_at: datetime | None
    signal: Signal = "click"
    coupon_code: str | None = None


class ItemCommission(AffiliateModel):
    """How one order line (or the whole order, without lines) earned commission."""

    sku: str | None
    category: str | None
    eligible: Money
    rate: Decimal | None
    amount: Money
    rule: str


class OrderOutcome(AffiliateModel):
    """What ``record_order`` decided and booked; the same again on a repeat call.

    ``breakdown`` explains the commission line by line (before it is rounded
    once, at the order level).
    """

    merchant_id: Identifier
    order_id: Text
    total: Money
    placed_at: datetime
    credits: list[Credit]
    commissions: list[Commission]
    verdict: Verdict
    notes: list[str] = Field(default_factory=list)
    breakdown: list[ItemCommission] = Field(default_factory=list)
    model: AttributionModel | None = None
    touches: list[TouchNote] = Field(default_factory=list)

    @property
    def attributed(self) -> bool:
        return bool(self.credits)


class LedgerVerification(AffiliateModel):
    """The result of ``Alliance.verify_ledger()``.

    When a projection disagrees with the journal, ``problem_family`` names it
    (``lines``, ``orders``, ``periods``, ``marks``, ``payouts``, ``runs``) and
    ``problem_key`` the row; both are None for a problem of the chain itself.
    """

    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str | None = None
    problem_family: str | None = None
    problem_key: str | None = None


class PayoutBatch(AffiliateModel):
    """Money paid to one affiliate in one currency, and the lines it settles."""

    payout_id: str
    affiliate_id: Identifier
    amount: Money
    entry_ids: list[str]
    created_at: datetime


class Statement(AffiliateModel):
    """An affiliate's account for ``start <= t < end`` in one currency.

    ``closing = opening + earned - reversed - clawed_back - paid``; balances
    are what the alliance owes the affiliate and has not paid yet.
    """

    affiliate_id: Identifier
    currency: str
    start: datetime
    end: datetime
    opening: Money
    earned: Money
    reversed: Money
    clawed_back: Money
    paid: Money
    closing: Money


class Invoice(AffiliateModel):
    """What a merchant owes for commission booked in ``start <= t < end``, net of refunds."""

    merchant_id: Identifier
    currency: str
    start: datetime
    end: datetime
    commission: Money
    platform_take: Money
    total: Money


class ReconciliationRow(AffiliateModel):
    """Merchant cost (journal) against affiliate earnings plus platform take (ledger lines)."""

    merchant_id: Identifier
    currency: str
    merchant_cost: Money
    affiliate_earnings: Money
    parent_earnings: Money
    platform_take: Money
    difference: Money
    balanced: bool


class RefundOutcome(AffiliateModel):
    """A refund booked against an order, and the reversals it caused."""

    merchant_id: Identifier
    order_id: Text
    refund_id: str
    amount: Money
    refunded_total: Money
    remaining: Money
    reversals: list[Commission]
