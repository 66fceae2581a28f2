"""Which affiliates earn an order, and in what shares: the per-order decision.

Pure: the ``Alliance`` loads the candidate clicks, the order's coupons, the
customer's binding and the campaigns' policies; this module only decides,
and notes why each touch counted or not. Weights are exact fractions that add
up to 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal, localcontext
from fractions import Fraction
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from affiliate_sdk.models import AttributionModel, AttributionPolicy, Signal
    from affiliate_sdk.tracking.clicks import ClickRow as ClickRecord

__all__ = [
    "Binding",
    "CampaignRules",
    "Coupon",
    "Decision",
    "Share",
    "Touch",
    "View",
    "decide",
    "model_weights",
    "rounded_weights",
]

#: Decimal places of a stored credit weight.
WEIGHT_PLACES = 12


class CampaignRules(NamedTuple):
    """What the decision needs of a campaign: its policy, window, and state."""

    policy: AttributionPolicy
    window_ms: int
    active: bool


class Coupon(NamedTuple):
    code: str
    affiliate_id: str
    campaign_id: str


class View(NamedTuple):
    """An impression of an affiliate's link (a view-through touch)."""

    impression_id: str
    affiliate_id: str
    campaign_id: str
    merchant_id: str
    at_ms: int
    #: False for an impression over the visitor's frequency cap: noted, never counted.
    earns: bool = True


class Binding(NamedTuple):
    affiliate_id: str
    campaign_id: str
    click_id: str | None
    until_ms: int | None


class Touch(NamedTuple):
    """A touch as the explanation shows it (mirrors ``models.TouchNote``)."""

    signal: Signal
    affiliate_id: str | None
    campaign_id: str | None
    click_id: str | None
    coupon_code: str | None
    at_ms: int | None
    counted: bool
    weight: Fraction | None
    reason: str | None


class Share(NamedTuple):
    """One credit: an affiliate in a campaign, the weight, and what earned it."""

    affiliate_id: str
    campaign_id: str
    click: ClickRecord | None
    weight: Fraction
    signal: Signal
    coupon_code: str | None


@dataclass
class Decision:
    signal: Signal | None = None
    model: AttributionModel | None = None
    campaign_id: str | None = None
    shares: list[Share] = field(default_factory=list)
    touches: list[Touch] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def model_weights(
    model: AttributionModel,
    times_ms: Sequence[int],
    *,
    placed_at_ms: int,
    half_life_ms: int,
    first: Decimal,
    last: Decimal,
) -> list[Fraction]:
    """Each touch's weight (touches oldest first); the weights add up to exactly 1."""
    count = len(times_ms)
    if count == 0:
        return []
    if model == "last_click":
        return [Fraction(int(i == count - 1)) for i in range(count)]
    if model == "first_click":
        return [Fraction(int(i == 0)) for i in range(count)]
    if model == "linear":
        return [Fraction(1, count)] * count
    if model == "position_based":
        if count <= 2:
            return [Fraction(1, count)] * count
        middle = (1 - Fraction(first) - Fraction(last)) / (count - 2)
        return [Fraction(first), *([middle] * (count - 2)), Fraction(last)]
    # time_decay: 2^(-age / half-life), each to 28 significant digits, then normalised.
    with localcontext() as context:
        context.prec = 28
        raw = [
            Fraction(Decimal(2) ** (Decimal(at - placed_at_ms) / Decimal(half_life_ms)))
            for at in times_ms
        ]
    total = sum(raw, Fraction(0))
    return [weight / total for weight in raw]


def rounded_weights(weights: Sequence[Fraction]) -> list[Decimal]:
    """The weights to ``WEIGHT_PLACES`` decimals, still adding up to exactly 1.

    Each is rounded down; the units left go one each to the largest
    remainders (earlier ones first on ties).
    """
    unit = Decimal(1).scaleb(-WEIGHT_PLACES)
    scale = 10**WEIGHT_PLACES
    floors = [(w * scale).numerator // (w * scale).denominator for w in weights]
    leftover = scale - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-(weights[i] * scale - floors[i]), i))
    for i in order[:leftover]:
        floors[i] += 1
    return [(Decimal(f) * unit).quantize(unit, rounding=ROUND_FLOOR) for f in floors]


def _click_reason(
    click: ClickRecord,
    *,
    merchant_id: str,
    placed_at_ms: int,
    rules: CampaignRules | None,
) -> str | None:
    """Why a click does not count, or None when it does."""
    if click.merchant_id != merchant_id:
        return "is for another merchant"
    if rules is None:
        return f"is for unknown campaign {click.campaign_id}"
    if click.decision == "block":
        return "was blocked as invalid traffic"
    if click.decision == "review" and not rules.policy.count_flagged:
        return "was flagged for review"
    override = rules.policy.affiliates.get(click.affiliate_id)
    if override is not None and not override.counts:
        return "is from an affiliate whose clicks this campaign does not count"
    if click.clicked_at_ms > placed_at_ms:
        return "came after the order"
    lookback = rules.window_ms
    if override is not None and override.lookback is not None:
        lookback = int(override.lookback.total_seconds() * 1000)
    elif rules.policy.lookback is not None:
        lookback = int(rules.policy.lookback.total_seconds() * 1000)
    if placed_at_ms - click.clicked_at_ms > lookback:
        return "is outside its attribution window"
    return None


def decide(
    clicks: Sequence[ClickRecord],
    *,
    merchant_id: str,
    placed_at_ms: int,
    campaigns: Mapping[str, CampaignRules],
    channels: Mapping[str, str | None],
    coupons: Sequence[Coupon | str],
    binding: Binding | None,
    views: Sequence[View] = (),
) -> Decision:
    """Credit an order (see ``AttributionPolicy`` for the rules).

    ``coupons`` are the order's codes in the order given: a ``Coupon`` when
    assigned to an affiliate, the bare code when not. The policy that decides
    is the one of the campaign of the latest counting click, else of the
    first usable coupon, else of the binding. ``notes`` says, in words, why
    each touch that did not count was passed over, then what was decided.
    """
    decision = Decision()
    eligible = _usable_clicks(clicks, decision, merchant_id, placed_at_ms, campaigns)
    seen_views = _usable_views(views, decision, merchant_id, placed_at_ms, campaigns)
    coupon, coupon_notes = _usable_coupon(coupons, campaigns)
    if binding is not None:
        rules = campaigns.get(binding.campaign_id)
        if rules is None or (binding.until_ms is not None and placed_at_ms >= binding.until_ms):
            decision.touches.append(_binding_touch(binding, "the binding has expired"))
            binding = None

    governing = _governing(eligible, coupon, binding, seen_views)
    if governing is None:
        decision.touches += coupon_notes
        decision.notes.append("no click, view, coupon or bound customer can be credited")
        return _explained(decision)
    policy = campaigns[governing].policy
    decision.campaign_id = governing
    available = {
        "bound_customer": binding is not None,
        "coupon": coupon is not None,
        "click": bool(eligible),
        "view": bool(seen_views),
    }
    signal = next((s for s in policy.precedence if available[s]), None)
    decision.signal = signal
    passed_over = f"{signal} takes precedence in campaign {governing}"
    if binding is not None:
        _credit_binding(decision, binding, None if signal == "bound_customer" else passed_over)
    _credit_coupon(decision, coupon_notes, coupon if signal == "coupon" else None, passed_over)
    if signal != "click":
        decision.touches += [_click_touch(click, passed_over) for click in eligible]
    if signal != "view":
        decision.touches += [_view_touch(view, passed_over) for view in seen_views]
    if signal == "click":
        _credit_clicks(decision, policy, eligible, channels, placed_at_ms)
    elif signal == "view":
        touches = [_view_touch(view, None) for view in seen_views]
        _weigh(decision, policy, touches, [None] * len(touches), placed_at_ms=placed_at_ms)
    return _explained(decision)


def _governing(
    eligible: Sequence[ClickRecord],
    coupon: Coupon | None,
    binding: Binding | None,
    views: Sequence[View],
) -> str | None:
    """The campaign whose policy decides: that of the latest usable click, else of the
    coupon, else of the binding, else of the latest usable view."""
    if eligible:
        return eligible[-1].campaign_id
    if coupon is not None:
        return coupon.campaign_id
    if binding is not None:
        return binding.campaign_id
    return views[-1].campaign_id if views else None


def _credit_clicks(
    decision: Decision,
    policy: AttributionPolicy,
    eligible: list[ClickRecord],
    channels: Mapping[str, str | None],
    placed_at_ms: int,
) -> None:
    """Clicks decide: those of channels the policy ignores count only when nothing else
    does; the rest share the order by the policy's model."""
    counting = [c for c in eligible if channels.get(c.affiliate_id) not in policy.ignore_channels]
    if not counting:
        counting = eligible
    for click in eligible:
        if click not in counting:
            decision.touches.append(
                _click_touch(click, "its affiliate's channel counts only when nothing else does")
            )
    touches = [_click_touch(click, None) for click in counting]
    _weigh(decision, policy, touches, counting, placed_at_ms=placed_at_ms)


def _usable_clicks(
    clicks: Sequence[ClickRecord],
    decision: Decision,
    merchant_id: str,
    placed_at_ms: int,
    campaigns: Mapping[str, CampaignRules],
) -> list[ClickRecord]:
    """The clicks that may count, oldest first (each other one noted with its reason)."""
    eligible: list[ClickRecord] = []
    seen: set[str] = set()
    for click in sorted(clicks, key=lambda c: (c.clicked_at_ms, c.click_id)):
        if click.click_id in seen:
            continue
        seen.add(click.click_id)
        reason = _click_reason(
            click,
            merchant_id=merchant_id,
            placed_at_ms=placed_at_ms,
            rules=campaigns.get(click.campaign_id),
        )
        if reason is None:
            eligible.append(click)
        else:
            decision.touches.append(_click_touch(click, reason))
    return eligible


def _usable_views(
    views: Sequence[View],
    decision: Decision,
    merchant_id: str,
    placed_at_ms: int,
    campaigns: Mapping[str, CampaignRules],
) -> list[View]:
    """The views that may count, oldest first (each other one noted with its reason)."""
    usable: list[View] = []
    for view in sorted(set(views), key=lambda v: (v.at_ms, v.impression_id)):
        rules = campaigns.get(view.campaign_id)
        reason = None
        if view.merchant_id != merchant_id or rules is None:
            reason = "is for another merchant or an unknown campaign"
        elif not view.earns:
            reason = "is over the visitor's frequency cap"
        elif rules.policy.view_through is None:
            reason = "its campaign does not count views"
        elif view.at_ms > placed_at_ms:
            reason = "came after the order"
        elif placed_at_ms - view.at_ms > rules.policy.view_through.total_seconds() * 1000:
            reason = "is outside its view-through window"
        if reason is None:
            usable.append(view)
        else:
            decision.touches.append(_view_touch(view, reason))
    return usable


def _usable_coupon(
    coupons: Sequence[Coupon | str], campaigns: Mapping[str, CampaignRules]
) -> tuple[Coupon | None, list[Touch]]:
    """The first coupon that may count, and a touch for every code (a reason on those that
    may not)."""
    coupon: Coupon | None = None
    notes: list[Touch] = []
    for code in coupons:
        if isinstance(code, str):
            notes.append(
                Touch("coupon", None, None, None, code, None, False, None, "is not assigned")
            )
            continue
        rules = campaigns.get(code.campaign_id)
        reason = None
        if rules is None:
            reason = "belongs to a campaign of another merchant or an unknown one"
        elif not rules.active:
            reason = "belongs to an inactive campaign"
        elif coupon is not None:
            reason = f"comes after coupon {coupon.code}, which takes precedence"
        if reason is None:
            coupon = code
        notes.append(
            Touch(
                "coupon", code.affiliate_id, code.campaign_id, None, code.code, None, False,
                None, reason,
            )
        )  # fmt: skip
    return coupon, notes


def _credit_binding(decision: Decision, binding: Binding, passed_over: str | None) -> None:
    """The bound affiliate takes the order, unless ``passed_over`` says why not."""
    if passed_over is not None:
        decision.touches.append(_binding_touch(binding, passed_over))
        return
    decision.shares.append(
        Share(binding.affiliate_id, binding.campaign_id, None, Fraction(1), "bound_customer", None)
    )
    decision.touches.append(_binding_touch(binding, None))
    decision.notes.append(f"the customer is bound to affiliate {binding.affiliate_id}")


def _credit_coupon(
    decision: Decision, notes: list[Touch], winner: Coupon | None, passed_over: str
) -> None:
    """The coupons' touches: ``winner`` (if coupons decide) takes the order, the other usable
    codes are passed over."""
    for note in notes:
        if winner is not None and note.coupon_code == winner.code:
            decision.shares.append(
                Share(winner.affiliate_id, winner.campaign_id, None, Fraction(1), "coupon",
                      winner.code)
            )  # fmt: skip
            decision.touches.append(note._replace(counted=True, weight=Fraction(1)))
            decision.notes.append(
                f"coupon {winner.code} of affiliate {winner.affiliate_id} takes the order"
            )
        elif note.reason is None:
            decision.touches.append(note._replace(reason=passed_over))
        else:
            decision.touches.append(note)


def _explained(decision: Decision) -> Decision:
    """Prepend a sentence for every touch passed over, with its reason."""
    passed = [f"{_label(t)} {t.reason}" for t in decision.touches if not t.counted and t.reason]
    decision.notes[:0] = passed
    return decision


def _weigh(
    decision: Decision,
    policy: AttributionPolicy,
    touches: list[Touch],
    clicks: Sequence[ClickRecord | None],
    *,
    placed_at_ms: int,
) -> None:
    """Share the order among counting touches (oldest first) by the policy's model."""
    decision.model = policy.model
    weights = model_weights(
        policy.model,
        [touch.at_ms or 0 for touch in touches],
        placed_at_ms=placed_at_ms,
        half_life_ms=int(policy.half_life.total_seconds() * 1000),
        first=policy.first_share,
        last=policy.last_share,
    )
    merged: dict[tuple[str, str], tuple[ClickRecord | None, Fraction]] = {}
    for touch, click, weight in zip(touches, clicks, weights, strict=True):
        decision.touches.append(touch._replace(weight=weight))
        key = (touch.affiliate_id or "", touch.campaign_id or "")  # set on clicks and views
        before = merged.get(key)
        merged[key] = (click, weight + (before[1] if before else Fraction(0)))
    signal = touches[0].signal
    for (affiliate_id, campaign_id), (click, weight) in merged.items():
        if weight:
            decision.shares.append(Share(affiliate_id, campaign_id, click, weight, signal, None))
    if len(decision.shares) == 1:
        decision.notes.append(
            f"{policy.model}: affiliate {decision.shares[0].affiliate_id}'s {signal}"
            " takes the whole order"
        )
    else:
        decision.notes.append(
            f"{policy.model}: the order is shared by {len(decision.shares)} affiliates"
        )


def _label(touch: Touch) -> str:
    if touch.signal == "click":
        return f"click {touch.click_id}"
    if touch.signal == "coupon":
        return f"coupon {touch.coupon_code}"
    if touch.signal == "view":
        return f"a view of affiliate {touch.affiliate_id}'s link"
    return f"the binding to affiliate {touch.affiliate_id}"


def _binding_touch(binding: Binding, reason: str | None) -> Touch:
    """The bound customer as a touch: it counts, whole, when nothing passed it over."""
    counted = reason is None
    return Touch(
        "bound_customer",
        binding.affiliate_id,
        binding.campaign_id,
        binding.click_id,
        None,
        None,
        counted,
        Fraction(1) if counted else None,
        reason,
    )


def _view_touch(view: View, reason: str | None) -> Touch:
    return Touch(
        "view",
        view.affiliate_id,
        view.campaign_id,
        None,
        None,
        view.at_ms,
        reason is None,
        None,
        reason,
    )


def _click_touch(click: ClickRecord, reason: str | None) -> Touch:
    return Touch(
        "click",
        click.affiliate_id,
        click.campaign_id,
        click.click_id,
        None,
        click.clicked_at_ms,
        reason is None,
        None,
        reason,
    )
