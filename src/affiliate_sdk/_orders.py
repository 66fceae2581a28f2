"""Orders: attribution, commission booking, refunds and their reversals."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from contextlib import suppress
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction
from typing import Final

from ._alliance_base import (
    _JOURNAL_KIND,
    _NO_IP,
    AllianceBase,
    Party,
    _event_id,
    _fingerprint,
    _pays_renewal,
    _period_scope,
    _tier_fields,
)
from ._validation import check_identifier
from .antifraud.grades import History, grade
from .antifraud.rules import OrderFacts, judge
from .antifraud.verdicts import ALLOW
from .clock import from_timestamp
from .commission.calculator import (
    COMMISSION_ROUNDING,
    Calculation,
    OrderContext,
    TargetInput,
    TierInput,
    calculate,
    effective_rate,
    fraction,
    reversal_for_refund,
    split_commission,
)
from .commission.ledger import Posting
from .commission.lifecycle import OPEN_STATUSES, from_merchant, live_amounts, to_merchant
from .commission.targets import Level, PeriodCap
from .commission.tiers import TierState
from .errors import (
    ConflictingOrder,
    ConflictingRefund,
    CurrencyMismatch,
    InvalidAmount,
    InvalidInput,
    RefundExceedsOrder,
    UnknownCampaign,
    UnknownOrder,
)
from .ids import new_id
from .models import (
    MAX_ATTRIBUTION_WINDOW,
    AffiliateGrade,
    ChannelGrade,
    Commission,
    Credit,
    FraudThresholds,
    ItemCommission,
    Order,
    OrderOutcome,
    RefundOutcome,
    TouchNote,
    Verdict,
)
from .money import Money, sum_money
from .storage import Store
from .storage.records import ClickRecord, OrderRecord, OutboxRow, RefundRecord
from .tracking.attribution import (
    WEIGHT_PLACES,
    Binding,
    CampaignRules,
    Coupon,
    Decision,
    Share,
    Touch,
    View,
    decide,
    rounded_weights,
)
from .tracking.links import decode_sub_ids
from .webhooks.events import order_events

__all__ = ["MAX_LINKED_VISITORS", "OrdersMixin"]

#: The most recent visitor ids (devices) of a customer whose clicks an order considers.
MAX_LINKED_VISITORS: Final = 20
#: Orders of one customer with the same lines within this span are duplicates (same total)
#: or near-duplicates (another total).
DUPLICATE_WINDOW_MS: Final = 24 * 3_600_000
#: A merchant's order values are judged for outliers from this many orders on.
MIN_ORDERS_FOR_OUTLIERS: Final = 30
#: Recent orders remembered per customer and lines.
MAX_SHAPES_KEPT: Final = 8
#: Reasons that do not count against the affiliate's grade.
NOT_THE_AFFILIATES: Final = frozenset({"affiliate.grade_c", "order.duplicate"})
#: Customers remembered per payment fingerprint or network (enough to see one shared widely).
MAX_CUSTOMERS_KEPT: Final = 16


class OrdersMixin(AllianceBase):
    """Orders: attribution, commission booking, refunds and their reversals."""

    # -- orders -------------------------------------------------------------------------------
    def record_order(
        self,
        order: Order,
        *,
        visitor_id: str | None = None,
        click_id: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> OrderOutcome:
        """Attribute an order and book its commission, exactly once.

        Recording the same ``(merchant_id, order_id)`` again returns the first
        outcome and books nothing; different content under the same ids raises
        ``ConflictingOrder``.
        """
        if not isinstance(order, Order):
            raise InvalidInput("record_order takes an Order")
        now = self._clock.now()
        now_ts = now.timestamp()
        placed_at = order.placed_at or now
        placed_ms = int(placed_at.timestamp() * 1000)
        fingerprint = _fingerprint(order)
        verdict = ALLOW if user_agent is None else self._user_agent(user_agent).verdict
        ip_hash, ip_network = self._ips.pseudonymize(ip) if ip else _NO_IP
        store = self._store
        with store.transaction():
            existing = store.get_order(order.merchant_id, order.order_id)
            if existing is not None:
                if existing.fingerprint != fingerprint:
                    raise ConflictingOrder(order.merchant_id, order.order_id)
                return OrderOutcome.model_validate_json(existing.outcome_json)

            if order.renewal and order.subscription_id is not None:
                decision = self._renewal(store, order, order.subscription_id)
            else:
                decision = self._attribute(
                    store,
                    order,
                    placed_ms=placed_ms,
                    visitor_id=visitor_id,
                    click_id=click_id,
                    now=now_ts,
                )
            notes = decision.notes
            weights = rounded_weights([share.weight for share in decision.shares])
            parties = [
                (Party(s.affiliate_id, s.campaign_id, order.merchant_id, _click_id(s)), w)
                for s, w in zip(decision.shares, weights, strict=True)
            ]
            credits = [
                Credit(
                    affiliate_id=share.affiliate_id,
                    campaign_id=share.campaign_id,
                    click_id=_click_id(share),
                    weight=weight,
                    clicked_at=None
                    if share.click is None
                    else from_timestamp(share.click.clicked_at_ms / 1000),
                    signal=share.signal,
                    coupon_code=share.coupon_code,
                )
                for share, weight in zip(decision.shares, weights, strict=True)
            ]
            entries: list[Commission] = []
            breakdown: list[ItemCommission] = []
            if parties:
                primary = max(parties, key=lambda pw: pw[1])[0]  # the first of equal weights
                subscription = order.subscription_id
                if subscription is not None and not order.renewal and primary.click_id:
                    store.bind_subscription(order.merchant_id, subscription, primary.click_id)
                if decision.campaign_id is not None:
                    self._bind_customer(store, order, decision.campaign_id, primary, placed_ms)
                if verdict.decision != "block":
                    limits = self._campaign_view(primary.campaign_id, now_ts).fraud
                    judged = self._order_verdict(
                        store,
                        order,
                        decision,
                        primary,
                        placed_ms,
                        limits=limits,
                        visitor_id=visitor_id,
                        ip_network=ip_network,
                        listed=self._listed(
                            f"network:{ip_network}" if ip_network else None,
                            f"device:{visitor_id}" if visitor_id else None,
                            f"affiliate:{primary.affiliate_id}",
                            *self.identity_hashes(payment=order.payment_fingerprint),
                            now=now_ts,
                        ),
                    )
                    verdict = _merged(verdict, judged, limits)
                if verdict.decision == "block":
                    notes.append("no commission: the order was judged invalid")
                else:
                    entries, calculation = self._book_commission(
                        order, primary, parties, now_ms=int(now_ts * 1000)
                    )
                    if calculation is None:
                        notes.append(
                            f"no commission: the plan does not pay renewal {order.renewal}"
                        )
                    else:
                        breakdown = list(calculation.items)
            if order.customer_id is not None and visitor_id is not None:
                store.put_record(
                    "customer_visitor",
                    _event_id(order.merchant_id, order.customer_id, visitor_id),
                    str(placed_ms),
                    replace=False,
                )
            if entries:
                store.add_entries(entries)
                self._journal(
                    store,
                    event_id=_event_id("order", order.merchant_id, order.order_id),
                    kind="commission.booked",
                    at=entries[0].created_at,
                    postings=from_merchant(order.merchant_id, entries),
                    lines=entries,
                )
                if verdict.decision == "review":
                    codes = ", ".join(reason.code for reason in verdict.reasons)
                    frozen = {
                        line.entry_id: line
                        for line in self.freeze(
                            [line.entry_id for line in entries], reason=f"fraud review: {codes}"
                        )
                    }
                    entries = [frozen.get(line.entry_id, line) for line in entries]
                    notes.append(f"commission frozen for review: {codes}")
            if credits:
                store.add_events(
                    _order_events(
                        order,
                        placed_at,
                        verdict,
                        decision,
                        credits=credits,
                        entries=entries,
                        now=now,
                    )
                )
            outcome = OrderOutcome(
                merchant_id=order.merchant_id,
                order_id=order.order_id,
                total=order.total,
                placed_at=placed_at,
                credits=credits,
                commissions=entries,
                verdict=verdict,
                notes=notes,
                breakdown=breakdown,
                model=decision.model,
                touches=[_touch_note(touch) for touch in decision.touches],
            )
            store.insert_order(
                OrderRecord(
                    order.merchant_id,
                    order.order_id,
                    fingerprint,
                    order.total.currency,
                    order.total.to_minor(),
                    0,
                    placed_ms,
                    int(now_ts * 1000),
                    ip_hash,
                    ip_network,
                    outcome.model_dump_json(),
                )
            )
        return outcome

    def _order_verdict(
        self,
        store: Store,
        order: Order,
        decision: Decision,
        primary: Party,
        placed_ms: int,
        *,
        limits: FraudThresholds,
        visitor_id: str | None,
        ip_network: str | None,
        listed: tuple[str, ...],
    ) -> Verdict:
        """Judge an attributed order with the order rules; updates the shared order history.

        ``visitor_id`` and ``ip_network`` are the device and network the order
        was placed from; ``listed`` names what of the order is on the shared
        blacklist.
        """
        share = next((s for s in decision.shares if s.affiliate_id == primary.affiliate_id), None)
        click = None if share is None else share.click
        seconds = None if click is None else (placed_ms - click.clicked_at_ms) / 1000
        coupon_alone = decision.signal == "coupon" and not any(
            t.signal == "click" and t.affiliate_id == primary.affiliate_id for t in decision.touches
        )
        member = self._member(primary.affiliate_id)
        shared: tuple[str, ...] = ()
        if member is not None and member.identity:
            own = set(member.identity)
            mine = self._identity(
                (
                    ("email", order.customer_email),
                    ("phone", order.customer_phone),
                    ("payment", order.payment_fingerprint),
                    ("device", visitor_id),
                    ("network", ip_network),
                )
            )
            shared = tuple(h.partition(":")[0] for h in mine if h in own)
        duplicates, near = (
            _repeats(store, order, placed_ms) if order.customer_id is not None else (0, 0)
        )
        payers = neighbours = 0
        if order.customer_id is not None:
            customer = self._ips.digest(order.customer_id.encode())[:16]
            if order.payment_fingerprint:
                payment = self.identity_hashes(payment=order.payment_fingerprint)[0]
                payers = _distinct(store, "payment_customers", payment, customer)
            if ip_network is not None:
                week = str(placed_ms // 604_800_000)
                place = _event_id(primary.affiliate_id, ip_network, week)
                neighbours = _distinct(store, "network_customers", place, customer)
        history = _history(store, primary.affiliate_id)
        if seconds is not None:
            late = seconds >= limits.late_conversion_hours * 3600
            history = history._replace(timed=history.timed + 1, late=history.late + late)
        sigmas = self._value_sigmas(store, order)
        day = self._per_day
        facts = OrderFacts(
            seconds_since_click=seconds,
            self_referral=shared,
            duplicates=duplicates,
            near_duplicates=near,
            payment_customers=payers,
            network_customers=neighbours,
            coupon_without_click=coupon_alone,
            affiliate_orders=history.orders,
            affiliate_refunds=history.refunds,
            affiliate_timed_orders=history.timed,
            affiliate_late_orders=history.late,
            affiliate_clicks_today=day.total(f"a/{primary.affiliate_id}", placed_ms),
            affiliate_orders_today=day.add(f"o/{primary.affiliate_id}", placed_ms),
            value_sigmas=sigmas,
            click_country=None if click is None else click.country,
            order_country=order.country,
            blacklisted=listed,
            affiliate_grade=grade(history),
        )
        fired = [reason for rule in self._order_rules if (reason := rule(facts, limits))]
        verdict = judge(fired, limits) if fired else ALLOW
        # An order counts against its affiliate for what it did, not for the grade it was
        # judged under (else a grade C could never be left), nor for being reported twice
        # (a shop or a shopper resubmitting is no fault of the affiliate's).
        suspect = verdict.decision != "allow" and any(
            reason.code not in NOT_THE_AFFILIATES for reason in verdict.reasons
        )
        _put_history(
            store,
            primary.affiliate_id,
            history._replace(orders=history.orders + 1, flagged=history.flagged + suspect),
        )
        return verdict

    def _value_sigmas(self, store: Store, order: Order) -> float | None:
        """How far the order's log value is from its merchant's (Welford), before counting it."""
        value = math.log1p(max(order.total.to_minor(), 0))
        key = f"{order.merchant_id}/{order.total.currency}"
        found = store.get_record("merchant_values", key)
        count, mean, m2 = (0, 0.0, 0.0) if found is None else json.loads(found)
        sigmas = None
        if count >= MIN_ORDERS_FOR_OUTLIERS and m2 > 0:
            sigmas = (value - mean) / math.sqrt(m2 / (count - 1))
        count += 1
        delta = value - mean
        mean += delta / count
        m2 += delta * (value - mean)
        store.put_record("merchant_values", key, json.dumps([count, mean, m2]))
        return sigmas

    def _renewal(self, store: Store, order: Order, subscription_id: str) -> Decision:
        """A renewal is credited to the click that earned the subscription's first order."""
        bound = store.subscription_click(order.merchant_id, subscription_id)
        click = None if bound is None else store.get_click(bound)
        if click is None:
            return Decision(notes=[f"subscription {subscription_id} has no attributed first order"])
        return Decision(
            signal="click",
            campaign_id=click.campaign_id,
            shares=[
                Share(click.affiliate_id, click.campaign_id, click, Fraction(1), "click", None)
            ],
            notes=[f"renewal {order.renewal} of {subscription_id} is credited to its first click"],
        )

    def _attribute(
        self,
        store: Store,
        order: Order,
        *,
        placed_ms: int,
        visitor_id: str | None,
        click_id: str | None,
        now: float,
    ) -> Decision:
        """Load the order's clicks, coupons, binding and policies; let the pure rules decide."""
        merchant_id = order.merchant_id
        notes: list[str] = []
        candidates: list[ClickRecord] = []
        if click_id is not None:
            given = store.get_click(click_id)
            if given is None:
                notes.append(f"click id {click_id} is unknown")
            else:
                candidates.append(given)
        lookback = int(MAX_ATTRIBUTION_WINDOW.total_seconds() * 1000)
        visitors = [] if visitor_id is None else [visitor_id]
        if order.customer_id is not None:  # the customer's other devices
            prefix = _event_id(merchant_id, order.customer_id, "")
            linked = store.records("customer_visitor", prefix)
            visitors += [key[len(prefix) :] for key, _ in linked[-MAX_LINKED_VISITORS:]]
        views: list[View] = []
        for visitor in dict.fromkeys(_unescape(v) for v in visitors):
            candidates += store.visitor_clicks(
                visitor, since_ms=placed_ms - lookback, until_ms=placed_ms
            )
            for key, data in store.records("impression", f"{visitor}/"):
                affiliate, campaign, merchant, at_ms = json.loads(data)
                if placed_ms - lookback <= at_ms <= placed_ms:
                    views.append(View(key.rsplit("/", 1)[1], affiliate, campaign, merchant, at_ms))
        coupons: list[Coupon | str] = []
        for code in dict.fromkeys(_coupon_code(c) for c in order.coupon_codes):
            found = store.get_record("coupon", _event_id(merchant_id, code))
            coupons.append(code if found is None else Coupon(code, *json.loads(found)))
        binding = None
        if order.customer_id is not None:
            found = store.get_record("binding", _event_id(merchant_id, order.customer_id))
            binding = None if found is None else Binding(*json.loads(found))
        if not (candidates or views or coupons or binding or click_id):
            notes.append("no click id, visitor id, coupon or customer binding was given")
        campaigns: dict[str, CampaignRules] = {}
        channels: dict[str, str | None] = {}
        involved = [c.campaign_id for c in candidates]
        involved += [c.campaign_id for c in coupons if isinstance(c, Coupon)]
        involved += [] if binding is None else [binding.campaign_id]
        involved += [view.campaign_id for view in views]
        for campaign_id in dict.fromkeys(involved):
            with suppress(UnknownCampaign):  # its touches are then passed over, with a note
                view = self._campaign_view(campaign_id, now)
                if view.campaign.merchant_id == merchant_id:
                    rules = CampaignRules(
                        view.campaign.attribution, view.window_ms, view.campaign.active
                    )
                    campaigns[campaign_id] = rules
        for click in candidates:
            if click.affiliate_id not in channels:
                member = self._member(click.affiliate_id)
                channels[click.affiliate_id] = None if member is None else member.channel
        decision = decide(
            candidates,
            merchant_id=merchant_id,
            placed_at_ms=placed_ms,
            campaigns=campaigns,
            channels=channels,
            coupons=coupons,
            binding=binding,
            views=views,
        )
        decision.notes[:0] = notes
        return decision

    def _bind_customer(
        self, store: Store, order: Order, campaign_id: str, party: Party, placed_ms: int
    ) -> None:
        """Bind the order's customer to its affiliate when the campaign's policy says so."""
        policy = self._campaign_view(campaign_id, self._clock.timestamp()).campaign.attribution
        if not policy.bind_customers or order.customer_id is None:
            return
        key = _event_id(order.merchant_id, order.customer_id)
        found = store.get_record("binding", key)
        if found is not None:
            until = Binding(*json.loads(found)).until_ms
            if until is None or placed_ms < until:
                return  # still bound (to this affiliate or another)
        period = policy.binding_period
        until_ms = None if period is None else placed_ms + int(period.total_seconds() * 1000)
        data = [party.affiliate_id, party.campaign_id, party.click_id, until_ms]
        store.put_record("binding", key, json.dumps(data))

    # -- grades -------------------------------------------------------------------------------
    def grade(self, affiliate_id: str) -> AffiliateGrade:
        """The affiliate's grade from its order history (see ``antifraud.grades``)."""
        check_identifier("affiliate_id", affiliate_id)
        history = _history(self._store, affiliate_id)
        return AffiliateGrade(
            affiliate_id=affiliate_id,
            grade=grade(history),
            orders=history.orders,
            refund_rate=history.refund_rate,
            fraud_rate=history.fraud_rate,
        )

    def channel_grades(self) -> list[ChannelGrade]:
        """Every channel's grade, from the pooled history of its affiliates' orders.

        Graded like an affiliate (S/A/B/C from the fraud and refund rates, no
        grade before 20 orders); channels by name, the affiliates without one
        last.
        """
        pooled: dict[str | None, list[int]] = {}
        members: dict[str | None, int] = {}
        for affiliate_id, data in self._store.records("affiliate_orders", ""):
            member = self._member(affiliate_id)
            channel = None if member is None else member.channel
            history = History(*json.loads(data))
            total = pooled.setdefault(channel, [0] * len(history))
            pooled[channel] = [a + b for a, b in zip(total, history, strict=True)]
            members[channel] = members.get(channel, 0) + 1
        grades = []
        for channel in sorted(pooled, key=lambda name: (name is None, name or "")):
            history = History(*pooled[channel])
            grades.append(
                ChannelGrade(
                    channel=channel,
                    grade=grade(history),
                    affiliates=members[channel],
                    orders=history.orders,
                    refund_rate=history.refund_rate,
                    fraud_rate=history.fraud_rate,
                    late_share=history.late / history.timed if history.timed else 0.0,
                )
            )
        return grades

    # -- coupons ------------------------------------------------------------------------------
    def assign_coupon(
        self, code: str, *, affiliate_id: str, campaign_id: str, replace: bool = False
    ) -> None:
        """Give a coupon code of a campaign's merchant to an affiliate.

        Codes are matched without regard to case or surrounding spaces. A code
        already given to someone else is refused unless ``replace`` is set.
        """
        check_identifier("affiliate_id", affiliate_id)
        campaign = self.campaign(campaign_id)
        normal = _coupon_code(code)
        if (
            not normal
            or len(normal) > 64
            or any(ch.isspace() or not ch.isprintable() for ch in normal)
        ):
            raise InvalidInput(f"coupon code {code!r} must be 1-64 printable characters, no spaces")
        key = _event_id(campaign.merchant_id, normal)
        data = json.dumps([affiliate_id, campaign_id])
        with self._store.transaction():
            found = self._store.get_record("coupon", key)
            if found is not None and found != data and not replace:
                holder = json.loads(found)[0]
                raise InvalidInput(
                    f"coupon {normal} of merchant {campaign.merchant_id} is already "
                    f"assigned to affiliate {holder}; pass replace=True to reassign it"
                )
            self._store.put_record("coupon", key, data)

    def _book_commission(
        self,
        order: Order,
        click: Party,
        parties: Sequence[tuple[Party, Decimal]],
        *,
        now_ms: int,
    ) -> tuple[list[Commission], Calculation | None]:
        """Price the order under the plan of its time and build its ledger lines.

        ``click`` is the primary credit: its campaign's plan prices the order
        and its affiliate's period totals (tiers, target, cap, level) count
        it. With several ``parties`` the commission is shared by their weights
        (``Money.allocate``, to the cent); true-ups and bonuses stay with the
        primary. Reads and advances the period totals inside the caller's
        transaction.
        """
        store = self._store
        placed_at = order.placed_at or from_timestamp(now_ms / 1000)
        view = self._campaign_view(click.campaign_id, now_ms / 1000)
        version = view.plan_at(placed_at)
        plan = version.plan
        if order.renewal and not _pays_renewal(plan, order.renewal):
            return [], None
        zone = view.campaign.timezone
        currency = order.total.currency
        tier_key = tier_input = None
        if plan.tiers is not None:
            tier_key = _period_scope(
                "tier", plan.tiers.period, plan.tiers.basis, click, placed_at=placed_at, zone=zone
            )
            fx = self._fx_rate(currency, plan.tiers.currency, placed_at)
            tier_input = TierInput(store.get_tier_state(tier_key) or TierState(), fx)
        target_key = target_input = target_state = None
        if plan.target is not None:
            target_key = _period_scope(
                "target",
                plan.target.period,
                "affiliate_sales",
                click,
                placed_at=placed_at,
                zone=zone,
            )
            target_state = store.get_tier_state(target_key) or TierState()
            fx = self._fx_rate(currency, plan.target.amount.currency, placed_at)
            target_input = TargetInput(target_state.volume, fx)
        member = self._member(click.affiliate_id)
        level: Level | None = None
        level_key: str | None = None
        if plan.levels is not None:
            level_key = _event_id("level", "affiliate", click.affiliate_id, str(placed_at.year))
            standing = store.get_tier_state(level_key) or TierState()
            level = plan.levels.level_at(standing.volume)
        context = OrderContext(
            affiliate_group=None if member is None else member.group,
            channel=None if member is None else member.channel,
            affiliate_rate=None if member is None else member.rate,
            affiliate_level=None if level is None else level.name,
        )
        calculation = calculate(plan, order, context, tier=tier_input, target=target_input)
        if tier_key is not None and calculation.tier_state is not None:
            store.put_tier_state(tier_key, calculation.tier_state)
        counts: dict[str, Decimal] = {}
        if target_key is not None and target_state is not None:
            counts[target_key] = calculation.target_measure or Decimal(0)
        take = self._take(plan, order.merchant_id)
        level_rule = ""
        if plan.levels is not None and level is not None and level_key is not None:
            take, level_rule = Decimal(1) - level.share, f"; level {level.name}"
            fx = self._fx_rate(currency, plan.levels.currency, placed_at)
            counts[level_key] = (
                sum((item.eligible.amount for item in calculation.items), Decimal(0)) * fx
            )
        for key, measure in counts.items():
            totals = store.get_tier_state(key) or TierState()
            store.put_tier_state(key, totals._replace(volume=totals.volume + measure))

        # (kind, amount, rate, basis, rule, fields of the affiliate's line)
        parts: list[tuple[str, Money, Decimal, Money, str, dict[str, object]]] = [
            (
                "commission",
                calculation.gross,
                effective_rate(calculation),
                sum_money((item.eligible for item in calculation.items), currency),
                calculation.rule + level_rule,
                {
                    "tier_key": tier_key,
                    "counts": counts,
                    **_tier_fields(calculation, tier_input),
                },
            )
        ]
        state = calculation.tier_state
        if calculation.true_up and plan.tiers is not None and plan.tiers.currency and state:
            tier_currency = plan.tiers.currency
            parts.append(
                (
                    "trueup",
                    Money(calculation.true_up, tier_currency).round(COMMISSION_ROUNDING),
                    state.rate,
                    Money(state.tier_base, tier_currency).round(COMMISSION_ROUNDING),
                    "retroactive tier true-up",
                    {"tier_key": tier_key},
                )
            )
        if calculation.bonus and plan.target is not None and target_input is not None:
            target_currency = plan.target.amount.currency
            volume = target_input.volume + (calculation.target_measure or Decimal(0))
            parts.append(
                (
                    "bonus",
                    Money(calculation.bonus, target_currency).round(COMMISSION_ROUNDING),
                    plan.target.bonus_rate or Decimal(0),
                    Money(volume, target_currency).round(COMMISSION_ROUNDING),
                    "over-target bonus",
                    {},
                )
            )
        if plan.period_cap is not None:
            parts = self._capped(parts, plan.period_cap, click, placed_at, zone)
        if target_key is not None:
            bonus = sum(
                (amount.amount for kind, amount, *_ in parts if kind == "bonus"), Decimal(0)
            )
            if bonus:
                totals = store.get_tier_state(target_key) or TierState()
                store.put_tier_state(target_key, totals._replace(paid=totals.paid + bonus))

        created_at = from_timestamp(now_ms / 1000)
        common = {
            "merchant_id": order.merchant_id,
            "order_id": order.order_id,
            "campaign_id": click.campaign_id,
            "affiliate_id": click.affiliate_id,
            "click_id": click.click_id,
            "status": "pending",
            "plan_version": version.version,
            "created_at": created_at,
            "hold_until": created_at + timedelta(days=plan.hold_days),
        }
        entries: list[Commission] = []
        event = ("order", order.merchant_id, order.order_id)
        for kind, amount, rate, basis, rule, fields in parts:
            if kind != "commission" and not amount:
                continue
            shares: list[tuple[Party, Money, tuple[str, ...]]]
            if kind != "commission" or len(parties) == 1:
                shares = [(click, amount, event if kind == "commission" else (*event, kind))]
            else:
                pieces = amount.allocate([weight for _, weight in parties])
                shares = [
                    (party, piece, (*event, "credit", party.affiliate_id, party.campaign_id))
                    for (party, _), piece in zip(parties, pieces, strict=True)
                ]
            for party, piece, share_event in shares:
                entries += self._split_lines(
                    split_commission(piece, take),
                    kind=kind,
                    event=share_event,
                    rate=rate,
                    basis=basis,
                    rule=rule,
                    tier=fields if party is click else {},
                    now_ms=now_ms,
                    common={
                        **common,
                        "campaign_id": party.campaign_id,
                        "affiliate_id": party.affiliate_id,
                        "click_id": party.click_id,
                    },
                )
        if plan.parent_share:
            for party, _ in parties:
                member_of = (
                    member
                    if party.affiliate_id == click.affiliate_id
                    else self._member(party.affiliate_id)
                )
                parent_id = None if member_of is None else member_of.parent_id
                if parent_id is None:
                    continue
                own = [
                    line
                    for line in entries
                    if (line.affiliate_id, line.campaign_id)
                    == (party.affiliate_id, party.campaign_id)
                ]
                entries += self._parent_lines(
                    own, parent_id, plan.parent_share, now_ms=now_ms, common=common
                )
        return entries, calculation

    def _capped(
        self,
        parts: list[tuple[str, Money, Decimal, Money, str, dict[str, object]]],
        cap: PeriodCap,
        click: Party,
        placed_at: datetime,
        zone: str,
    ) -> list[tuple[str, Money, Decimal, Money, str, dict[str, object]]]:
        """Trim the order's amounts so the period's total stays within the cap."""
        key = _period_scope(
            "cap", cap.period, "affiliate_sales", click, placed_at=placed_at, zone=zone
        )
        state = self._store.get_tier_state(key) or TierState()
        room = cap.amount.amount - state.paid
        trimmed = []
        for kind, amount, rate, basis, rule, fields in parts:
            fx = self._fx_rate(amount.currency, cap.amount.currency, placed_at)
            wanted = amount.amount * fx
            allowed = max(min(wanted, room), Decimal(0))
            kept, label = amount, rule
            if allowed < wanted:
                kept = Money(allowed / fx, amount.currency).round(ROUND_DOWN)
                label = f"{rule}; period cap {cap.amount}"
            room -= kept.amount * fx
            trimmed.append((kind, kept, rate, basis, label, fields))
        self._store.put_tier_state(key, state._replace(paid=cap.amount.amount - room))
        return trimmed

    def _parent_lines(
        self,
        lines: list[Commission],
        parent_id: str,
        share: Decimal,
        *,
        now_ms: int,
        common: Mapping[str, object],
    ) -> list[Commission]:
        """The recruiter's share of the affiliate's commission, paid on top (two-tier)."""
        parents = []
        for line in lines:
            if line.account != "affiliate":
                continue
            amount = (line.amount * share).round(COMMISSION_ROUNDING)
            if not amount:
                continue
            parents.append(
                line.model_copy(
                    update={
                        **common,
                        "entry_id": new_id(now_ms),
                        "event_id": f"{line.event_id}/parent",
                        "account": "parent",
                        "affiliate_id": parent_id,
                        "amount": amount,
                        "rate": share,
                        "basis": line.amount,
                        "rule": f"parent share {(share * 100).normalize():f}%",
                    }
                )
            )
        return parents

    # -- refunds ------------------------------------------------------------------------------
    def refund(
        self,
        merchant_id: str,
        order_id: str,
        amount: Money | None = None,
        *,
        refund_id: str | None = None,
    ) -> RefundOutcome:
        """Refund an order in full (no ``amount``) or in part, reversing commission.

        Each commission entry of the order is reversed in proportion to the
        refund; refunds that add up to the order total reverse it exactly.
        With a ``refund_id`` the call is idempotent: the same id again returns
        the first outcome and books nothing.
        """
        check_identifier("merchant_id", merchant_id)
        now_ms = int(self._clock.timestamp() * 1000)
        if refund_id is not None:
            check_identifier("refund_id", refund_id)
        store = self._store
        with store.transaction():
            order = store.get_order(merchant_id, order_id)
            if order is None:
                raise UnknownOrder(merchant_id, order_id)
            if refund_id is not None:
                done = store.get_refund(merchant_id, order_id, refund_id)
                if done is not None:
                    replay = RefundOutcome.model_validate_json(done.outcome_json)
                    if amount is not None and amount != replay.amount:
                        raise ConflictingRefund(order_id, refund_id)
                    return replay
            refund_id = refund_id or new_id(now_ms)
            currency = order.currency
            total = Money.from_minor(order.total_minor, currency)
            before = Money.from_minor(order.refunded_minor, currency)
            remaining = total - before
            if amount is None:
                amount = remaining
            if not isinstance(amount, Money):
                raise InvalidInput("amount must be Money")
            if amount.currency != currency:
                raise CurrencyMismatch(currency, amount.currency)
            if not amount.is_rounded or amount.amount <= 0:
                raise InvalidAmount(
                    amount.amount, f"a refund is a positive amount of whole {currency} minor units"
                )
            if amount > remaining:
                raise RefundExceedsOrder(order_id, amount, remaining)
            amount = amount.round()
            lines = store.entries(merchant_id=merchant_id, order_id=order_id)
            reversals, emptied, postings = self._reversals(
                lines, refund_id=refund_id, total=total, before=before, refund=amount, now_ms=now_ms
            )
            refunded = before + amount
            outcome = RefundOutcome(
                merchant_id=merchant_id,
                order_id=order_id,
                refund_id=refund_id,
                amount=amount,
                refunded_total=refunded,
                remaining=total - refunded,
                reversals=reversals,
            )
            self._unwind_tiers(lines, share=fraction(amount, total))
            if not before:  # the order's first refund counts towards its affiliates' refund rate
                credited = {
                    line.affiliate_id
                    for line in lines
                    if line.kind == "commission" and line.account == "affiliate"
                }
                for affiliate_id in sorted(credited):
                    history = _history(store, affiliate_id)
                    if history.orders:
                        _put_history(
                            store, affiliate_id, history._replace(refunds=history.refunds + 1)
                        )
            if reversals:
                store.add_entries(reversals)
                store.update_entries(emptied)
                for kind, kind_postings in postings.items():
                    self._journal(
                        store,
                        event_id=_event_id("refund", merchant_id, order_id, refund_id, kind),
                        kind=f"commission.{kind}",
                        at=reversals[0].created_at,
                        postings=kind_postings,
                        lines=[r for r in reversals if _JOURNAL_KIND[r.kind] == kind],
                    )
            store.set_order_refunded(merchant_id, order_id, refunded.to_minor())
            store.insert_refund(
                RefundRecord(
                    merchant_id,
                    order_id,
                    refund_id,
                    amount.to_minor(),
                    now_ms,
                    outcome.model_dump_json(),
                )
            )
        return outcome

    def _unwind_tiers(self, lines: list[Commission], *, share: Decimal) -> None:
        """Take a refunded share of orders back out of their period's volume."""
        for line in lines:
            if line.kind == "commission":
                for key, measure in line.counts.items():
                    totals = self._store.get_tier_state(key)
                    if totals is not None:
                        volume = totals.volume - measure * share
                        self._store.put_tier_state(key, totals._replace(volume=volume))
            if line.kind != "commission" or line.tier_key is None or line.tier_measure is None:
                continue
            state = self._store.get_tier_state(line.tier_key)
            if state is None:
                continue
            self._store.put_tier_state(
                line.tier_key,
                TierState(
                    state.volume - line.tier_measure * share,
                    state.tier_base - (line.tier_base or 0) * share,
                    state.rate,
                    state.paid - (line.tier_paid or 0) * share,
                ),
            )

    def _reversals(
        self,
        lines: list[Commission],
        *,
        refund_id: str,
        total: Money,
        before: Money,
        refund: Money,
        now_ms: int,
    ) -> tuple[list[Commission], list[Commission], dict[str, list[Posting]]]:
        """Reversal lines for a refund, the lines it empties, and the postings by kind.

        Before payment a line is reversed where its money sits; after payment
        the refund becomes an approved clawback that nets against the next payout.
        """
        created_at = from_timestamp(now_ms / 1000)
        live = live_amounts(lines)
        reversals: list[Commission] = []
        emptied: list[Commission] = []
        parts: dict[str, dict[str, list[tuple[Commission, str, Money]]]] = {}
        for line in lines:
            if line.kind != "commission" or line.status not in OPEN_STATUSES:
                continue
            amount = reversal_for_refund(line.amount, total, before, refund)
            if not amount:
                continue
            paid = line.status == "paid"
            state = "approved" if paid else line.status
            reversals.append(
                line.model_copy(
                    update={
                        "entry_id": new_id(now_ms),
                        "event_id": _event_id(
                            "refund", line.merchant_id, line.order_id, refund_id, line.entry_id
                        ),
                        "kind": "clawback" if paid else "reversal",
                        "amount": amount,
                        "status": "approved" if paid else "reversed",
                        "refund_id": refund_id,
                        "reverses": line.entry_id,
                        "reason": "refund",
                        "created_at": created_at,
                        "hold_until": None,
                        "approved_at": created_at if paid else None,
                        "paid_at": None,
                        "payout_id": None,
                    }
                )
            )
            kind = "clawed_back" if paid else "reversed"
            parts.setdefault(kind, {}).setdefault(line.merchant_id, []).append(
                (line, state, -amount)
            )
            if not paid and not live[line.entry_id] + amount:
                emptied.append(line.model_copy(update={"status": "reversed"}))
        return reversals, emptied, {kind: to_merchant(p) for kind, p in sorted(parts.items())}


def _order_events(
    order: Order,
    placed_at: datetime,
    verdict: Verdict,
    decision: Decision,
    *,
    credits: list[Credit],
    entries: list[Commission],
    now: datetime,
) -> list[OutboxRow]:
    """The order's ``order.attributed`` and, unless it was blocked, its ``click.attributed``."""
    earned: dict[str, Decimal] = {}
    for line in entries:
        if line.account == "affiliate":
            earned[line.affiliate_id] = (
                earned.get(line.affiliate_id, Decimal(0)) + line.amount.amount
            )
    sub_ids = {
        share.click.click_id: decode_sub_ids(share.click.sub_fields)
        for share in decision.shares
        if share.click is not None
    }
    pairs = [
        (
            {  # the fields of ``CreditData``
                "affiliate_id": credit.affiliate_id,
                "campaign_id": credit.campaign_id,
                "click_id": credit.click_id if verdict.decision != "block" else None,
                "weight": str(credit.weight),
                "signal": credit.signal,
            },
            sub_ids.get(credit.click_id or "", {}),
        )
        for credit in credits
    ]
    return order_events(
        merchant_id=order.merchant_id,
        order_id=order.order_id,
        total=(str(order.total.amount), order.total.currency),
        placed_at=placed_at,
        decision=verdict.decision,
        credits=pairs,
        commissions={affiliate: str(amount) for affiliate, amount in earned.items()},
        at=now,
    )


def _repeats(store: Store, order: Order, placed_ms: int) -> tuple[int, int]:
    """Earlier orders of the customer with the same lines within ``DUPLICATE_WINDOW_MS``:
    how many had the same total (duplicates) and how many another (near-duplicates).

    Orders without lines compare by total alone. Counts this order for the next.
    """
    lines = sorted((item.sku, item.quantity) for item in order.items)
    shape = hashlib.sha256(json.dumps(lines).encode()).hexdigest()[:32]
    key = _event_id(order.merchant_id, order.customer_id or "", shape)
    found = store.get_record("order_shape", key)
    recent = [
        (total, at)
        for total, at in ([] if found is None else json.loads(found))
        if placed_ms - at <= DUPLICATE_WINDOW_MS
    ]
    total = str(order.total)
    same = sum(1 for earlier, _ in recent if earlier == total)
    near = len(recent) - same if lines else 0
    recent = [*recent, (total, placed_ms)][-MAX_SHAPES_KEPT:]
    store.put_record("order_shape", key, json.dumps(recent))
    return same, near


def _distinct(store: Store, kind: str, key: str, customer: str) -> int:
    """Distinct customers seen under ``key``, this one counted (up to ``MAX_CUSTOMERS_KEPT``)."""
    found = store.get_record(kind, key)
    customers: list[str] = [] if found is None else json.loads(found)
    if customer not in customers:
        customers = [*customers, customer][-MAX_CUSTOMERS_KEPT:]
        store.put_record(kind, key, json.dumps(customers))
    return len(customers)


def _history(store: Store, affiliate_id: str) -> History:
    """An affiliate's order history as the fraud checks keep it."""
    found = store.get_record("affiliate_orders", affiliate_id)
    return History() if found is None else History(*json.loads(found))


def _put_history(store: Store, affiliate_id: str, history: History) -> None:
    store.put_record("affiliate_orders", affiliate_id, json.dumps(list(history)))


def _click_id(share: Share) -> str | None:
    return None if share.click is None else share.click.click_id


def _coupon_code(code: str) -> str:
    return code.strip().upper()


def _unescape(part: str) -> str:
    """Undo ``_event_id``'s escaping of one part."""
    return part.replace("%2F", "/").replace("%25", "%")


def _touch_note(touch: Touch) -> TouchNote:
    return TouchNote(
        signal=touch.signal,
        affiliate_id=touch.affiliate_id,
        campaign_id=touch.campaign_id,
        click_id=touch.click_id,
        coupon_code=touch.coupon_code,
        at=None if touch.at_ms is None else from_timestamp(touch.at_ms / 1000),
        counted=touch.counted,
        weight=None if touch.weight is None else _shown_weight(touch.weight),
        reason=touch.reason,
    )


_WEIGHT_UNIT: Final = Decimal(1).scaleb(-WEIGHT_PLACES)


def _shown_weight(weight: Fraction) -> Decimal:
    """A touch's weight to the places of a credit's (whole weights stay whole)."""
    if weight.denominator == 1:
        return Decimal(weight.numerator)
    exact = Decimal(weight.numerator) / Decimal(weight.denominator)
    return exact.quantize(_WEIGHT_UNIT)


def _merged(request: Verdict, order: Verdict, limits: FraudThresholds) -> Verdict:
    """One verdict from the order request's (its user agent) and the order rules'."""
    if not request.reasons:
        return order
    if not order.reasons:
        return request
    return judge((*request.reasons, *order.reasons), limits)
