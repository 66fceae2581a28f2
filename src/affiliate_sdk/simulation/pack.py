"""The adversary pack: fraud written from the fraudster's side, in variations, and the split of
seeds and variations into those the rules may be tuned on and those held out.

Each fraud kind comes in several ``Variation`` s: how fast it clicks or orders, how its work
is spread over the hours and days, how many addresses it has (one residential line, a
handful, a proxy pool of thousands), which user agents it sends, whether its browsers keep
the visitor cookie. Honest traffic comes in ``HonestMix`` es: how many shoppers sit behind
carrier-grade NAT or an office's one address, how many travel or use a VPN, how long their
journeys take.

A ``PackRun`` is one simulated alliance: a seed, one honest mix and one variation of every
fraud kind, played against an alliance opened as a new user opens one (``memory://``, one
CPS campaign, nothing else configured). ``TUNING`` and ``HELD_OUT`` name the runs: thresholds
and rules are fixed looking at ``TUNING`` only, and ``HELD_OUT`` (other seeds, other
variations of every kind, other honest mixes) is what the figures are reported on. The
lists are fixed here, in this file, before any rule is tuned; once held-out runs have been
reported on they are ``SPENT`` (usable for tuning), and new ones take their place before the
next change.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "HELD_OUT",
    "HONEST_MIXES",
    "PACK_KINDS",
    "SPENT",
    "TUNING",
    "VARIATIONS",
    "HonestMix",
    "PackKind",
    "PackRun",
    "Split",
    "Variation",
    "runs",
]

PackKind = Literal[
    "declared_bot",
    "datacenter",
    "click_farm",
    "click_flooding",
    "cookie_stuffing",
    "click_injection",
    "brushing",
    "self_referral",
    "coupon_leak",
    "duplicate_order",
]
#: The pack's fraud kinds, in the order the evaluation lists them.
PACK_KINDS: Final[tuple[PackKind, ...]] = get_args(PackKind)

Split = Literal["tuning", "spent", "held_out"]
#: Where a datacenter adversary rents its machines.
Provider = Literal["cloud", "hosting", "ipv6", "unlisted", "mixed"]
#: Which user agents a fraudster sends: one browser build, a few, or a different one per click.
AgentMix = Literal["one", "few", "many"]
#: What a declared bot says it is: a crawler, an HTTP library, a headless browser, a chat
#: app's link preview, nothing.
BotAgent = Literal["crawler", "library", "headless", "preview", "none"]


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Variation(_Data):
    """One way of doing one kind of fraud.

    ``volume`` is clicks per actor per day for the kinds that click for a living
    (declared bots, datacenter, click farm, flooding, stuffing) and orders per actor
    per day for the others. ``hours`` is how many hours of each day the actor works
    (starting at ``start_hour``), ``days`` on how many of the run's days (from the
    first). ``addresses`` is how many IP addresses it has (its machines, its lines, its
    proxy pool); ``cookies`` whether its browsers send back the visitor cookie;
    ``conversion`` the share of its clicks that end in an order (the kinds that click);
    ``delay_s`` the seconds from an injected click to the purchase; ``provider``
    where a datacenter actor rents (``mixed``: anywhere); ``bot`` what a declared bot
    says it is; ``refunds`` the share of its orders refunded later.
    """

    name: str
    kind: PackKind
    actors: int = Field(default=1, ge=1)
    volume: int = Field(ge=1)
    hours: int = Field(default=24, ge=1, le=24)
    start_hour: int = Field(default=0, ge=0, le=23)
    days: int = Field(default=7, ge=1)
    addresses: int = Field(default=1, ge=1)
    agents: AgentMix = "many"
    cookies: bool = True
    conversion: float = Field(default=0.0, ge=0, le=1)
    delay_s: tuple[float, float] = (1.0, 9.0)
    provider: Provider = "cloud"
    bot: BotAgent = "crawler"
    refunds: float = Field(default=0.0, ge=0, le=1)


class HonestMix(_Data):
    """Honest shoppers and affiliates: how many, and what makes them look odd.

    ``carrier_share`` of shoppers browse on a phone behind carrier-grade NAT, sharing
    ``carrier_addresses`` addresses between all of them; ``offices`` offices of
    ``office_size`` staff each share one address per office during working hours;
    ``travel_share`` order from another country than they clicked in, ``vpn_share``
    browse through a commercial VPN; ``multi_day_share`` of journeys spread their
    touches over up to a week; ``cookieless_share`` of browsers keep no cookie;
    ``cashback_affiliates`` of the busier affiliates are cashback sites, whose visitors
    convert ``cashback_lift`` times as often as others, a few minutes after their click.
    """

    name: str
    journeys_per_day: int = Field(default=6000, ge=1)
    affiliates: int = Field(default=60, ge=1)
    conversion_rate: float = Field(default=0.03, gt=0, le=1)
    organic_orders_per_day: int = Field(default=60, ge=0)
    carrier_share: float = Field(default=0.3, ge=0, le=1)
    carrier_addresses: int = Field(default=400, ge=1)
    offices: int = Field(default=4, ge=0)
    office_size: int = Field(default=150, ge=1)
    travel_share: float = Field(default=0.02, ge=0, le=1)
    vpn_share: float = Field(default=0.02, ge=0, le=1)
    multi_day_share: float = Field(default=0.3, ge=0, le=1)
    cookieless_share: float = Field(default=0.05, ge=0, le=1)
    refund_rate: float = Field(default=0.07, ge=0, le=1)
    cashback_affiliates: int = Field(default=3, ge=0)
    cashback_lift: float = Field(default=4.0, ge=1)


class PackRun(_Data):
    """One simulated alliance of the pack: a seed, an honest mix and one variation per kind."""

    name: str
    seed: int
    days: int = Field(default=3, ge=1, le=14)
    start: datetime = datetime(2026, 11, 2, tzinfo=UTC)
    honest: HonestMix
    fraud: tuple[Variation, ...]
    store: Literal["memory", "sqlite"] = "memory"


def _v(name: str, kind: PackKind, **fields: object) -> Variation:
    return Variation.model_validate({"name": f"{kind}/{name}", "kind": kind, **fields})


#: Every variation of every kind; a run takes one per kind.
VARIATIONS: Final[dict[PackKind, tuple[Variation, ...]]] = {
    "declared_bot": (
        _v("crawlers", "declared_bot", actors=3, volume=800, agents="few", addresses=40),
        _v("http-libraries", "declared_bot", actors=2, volume=600, addresses=3, bot="library"),
        _v(
            "headless-rotating", "declared_bot", actors=2, volume=500, addresses=200, bot="headless"
        ),
        _v("no-agent", "declared_bot", actors=2, volume=300, addresses=10, bot="none"),
        _v("link-previews", "declared_bot", actors=2, volume=700, addresses=30, bot="preview"),
        _v("crawlers-from-homes", "declared_bot", actors=2, volume=400, addresses=80, agents="few"),
    ),
    "datacenter": (
        _v(
            "cloud-brushing",
            "datacenter",
            actors=2,
            volume=300,
            addresses=60,
            conversion=0.25,
            provider="cloud",
        ),
        _v(
            "hosting-slow",
            "datacenter",
            actors=2,
            volume=120,
            addresses=20,
            hours=10,
            conversion=0.3,
            provider="hosting",
            cookies=False,
        ),
        _v(
            "ipv6-fleet",
            "datacenter",
            actors=2,
            volume=400,
            addresses=300,
            conversion=0.15,
            provider="ipv6",
        ),
        _v(
            "anywhere",
            "datacenter",
            actors=3,
            volume=200,
            addresses=30,
            conversion=0.2,
            provider="mixed",
            agents="few",
            cookies=False,
        ),
        _v(
            "cloud-with-cookies",
            "datacenter",
            actors=2,
            volume=350,
            addresses=12,
            conversion=0.2,
            provider="cloud",
            agents="one",
        ),
        _v(
            "hosting-and-ipv6",
            "datacenter",
            actors=3,
            volume=150,
            addresses=100,
            conversion=0.25,
            provider="mixed",
            cookies=False,
            hours=14,
            start_hour=8,
        ),
    ),
    "click_farm": (
        _v(
            "one-line-all-day",
            "click_farm",
            volume=1400,
            hours=16,
            start_hour=6,
            addresses=1,
            conversion=0.06,
            agents="few",
        ),
        _v(
            "one-line-evenings",
            "click_farm",
            actors=2,
            volume=500,
            hours=6,
            start_hour=17,
            addresses=1,
            conversion=0.08,
            agents="one",
            cookies=False,
        ),
        _v(
            "small-block",
            "click_farm",
            volume=2000,
            hours=12,
            start_hour=8,
            addresses=6,
            conversion=0.05,
            agents="few",
        ),
        _v(
            "two-lines-night",
            "click_farm",
            actors=2,
            volume=900,
            hours=9,
            start_hour=22,
            addresses=2,
            conversion=0.07,
            agents="many",
            cookies=False,
        ),
        _v(
            "three-lines-round-the-clock",
            "click_farm",
            volume=2400,
            addresses=3,
            conversion=0.04,
            agents="few",
        ),
        _v(
            "one-line-short-shifts",
            "click_farm",
            actors=3,
            volume=300,
            hours=4,
            start_hour=19,
            addresses=1,
            conversion=0.1,
            agents="many",
            cookies=False,
        ),
    ),
    "click_flooding": (
        _v(
            "proxy-pool",
            "click_flooding",
            actors=2,
            volume=20_000,
            addresses=5_000,
            conversion=0.0008,
            cookies=False,
        ),
        _v(
            "sdk-on-phones",
            "click_flooding",
            actors=2,
            volume=12_000,
            addresses=40_000,
            conversion=0.001,
        ),
        _v(
            "bursty-pool",
            "click_flooding",
            actors=1,
            volume=30_000,
            addresses=2_000,
            hours=8,
            conversion=0.0006,
            cookies=False,
        ),
        _v(
            "slow-drip",
            "click_flooding",
            actors=3,
            volume=6_000,
            addresses=20_000,
            conversion=0.001,
        ),
        _v(
            "huge-pool",
            "click_flooding",
            actors=1,
            volume=25_000,
            addresses=60_000,
            conversion=0.0005,
        ),
        _v(
            "small-pool-fast",
            "click_flooding",
            actors=2,
            volume=15_000,
            addresses=500,
            hours=12,
            conversion=0.001,
            cookies=False,
        ),
    ),
    "cookie_stuffing": (
        _v(
            "popunder",
            "cookie_stuffing",
            actors=2,
            volume=8_000,
            addresses=8_000,
            conversion=0.0015,
        ),
        _v(
            "hidden-iframe",
            "cookie_stuffing",
            actors=2,
            volume=4_000,
            addresses=4_000,
            conversion=0.002,
        ),
        _v(
            "extension",
            "cookie_stuffing",
            actors=1,
            volume=10_000,
            addresses=3_000,
            conversion=0.003,
        ),
        _v(
            "forum-images",
            "cookie_stuffing",
            actors=3,
            volume=3_000,
            addresses=3_000,
            conversion=0.0015,
        ),
        _v(
            "coupon-popup",
            "cookie_stuffing",
            actors=2,
            volume=5_000,
            addresses=5_000,
            conversion=0.004,
        ),
        _v(
            "ad-network",
            "cookie_stuffing",
            actors=1,
            volume=12_000,
            addresses=12_000,
            conversion=0.002,
            hours=16,
            start_hour=6,
        ),
    ),
    "click_injection": (
        _v("seconds", "click_injection", actors=2, volume=12, delay_s=(1.0, 9.0)),
        _v("half-minute", "click_injection", actors=2, volume=10, delay_s=(5.0, 40.0)),
        _v("minute", "click_injection", actors=2, volume=15, delay_s=(15.0, 75.0)),
        _v("mixed", "click_injection", actors=3, volume=8, delay_s=(2.0, 60.0)),
        _v("slow", "click_injection", actors=2, volume=10, delay_s=(30.0, 90.0)),
        _v("many-small", "click_injection", actors=4, volume=6, delay_s=(1.0, 30.0)),
    ),
    "brushing": (
        _v("few-cards", "brushing", actors=2, volume=12, addresses=3, refunds=0.9),
        _v("one-card-many-accounts", "brushing", actors=1, volume=20, addresses=1, refunds=0.8),
        _v("spread", "brushing", actors=3, volume=8, addresses=8, refunds=0.95),
        _v(
            "night-shift",
            "brushing",
            actors=2,
            volume=15,
            addresses=2,
            hours=6,
            start_hour=1,
            refunds=0.9,
        ),
        _v("four-homes", "brushing", actors=2, volume=15, addresses=4, refunds=0.85),
        _v(
            "cheap-and-fast",
            "brushing",
            actors=2,
            volume=25,
            addresses=2,
            hours=10,
            start_hour=9,
            refunds=0.9,
        ),
    ),
    "self_referral": (
        _v("own-card", "self_referral", actors=3, volume=2),
        _v("own-email", "self_referral", actors=2, volume=3),
        _v("family", "self_referral", actors=4, volume=1),
        _v("heavy", "self_referral", actors=2, volume=5),
        _v("own-card-2", "self_referral", actors=3, volume=3),
        _v("own-email-2", "self_referral", actors=3, volume=2),
    ),
    "coupon_leak": (
        _v("coupon-site", "coupon_leak", actors=2, volume=10),
        _v("forum", "coupon_leak", actors=1, volume=25),
        _v("browser-extension", "coupon_leak", actors=3, volume=6),
        _v("trickle", "coupon_leak", actors=2, volume=4),
        _v("burst", "coupon_leak", actors=1, volume=40, hours=6, start_hour=12),
        _v("steady", "coupon_leak", actors=4, volume=8),
    ),
    "duplicate_order": (
        _v("resubmit", "duplicate_order", actors=2, volume=5),
        _v("twice-a-day", "duplicate_order", actors=1, volume=10),
        _v("few", "duplicate_order", actors=3, volume=2),
        _v("many", "duplicate_order", actors=2, volume=8),
        _v("triple", "duplicate_order", actors=2, volume=6),
        _v("slow", "duplicate_order", actors=4, volume=3),
    ),
}

#: Honest populations; a run takes one.
HONEST_MIXES: Final[tuple[HonestMix, ...]] = (
    HonestMix(name="ordinary"),
    HonestMix(name="mobile-heavy", carrier_share=0.6, carrier_addresses=150, offices=2),
    HonestMix(name="offices", offices=10, office_size=300, carrier_share=0.2),
    HonestMix(
        name="travel-vpn",
        travel_share=0.08,
        vpn_share=0.1,
        multi_day_share=0.5,
        cookieless_share=0.15,
    ),
    HonestMix(
        name="dense-offices",
        offices=20,
        office_size=120,
        carrier_share=0.25,
        cookieless_share=0.1,
        multi_day_share=0.4,
    ),
    HonestMix(
        name="slow-shoppers",
        conversion_rate=0.02,
        multi_day_share=0.6,
        travel_share=0.05,
        vpn_share=0.05,
        carrier_share=0.45,
        carrier_addresses=80,
    ),
)

#: The seeds each split plays; no seed is in two.
_TUNING_SEEDS: Final = (11, 12)
_SPENT_SEEDS: Final = (101, 102, 103)
_HELD_OUT_SEEDS: Final = (201, 202, 203)
#: Which variation (by place in ``VARIATIONS`` and ``HONEST_MIXES``) each split plays.
_TUNING_PLACES: Final = (0, 1)
_SPENT_PLACES: Final = (2, 3)
_HELD_OUT_PLACES: Final = (4, 5)


def _make(seed: int, place: int, split: str) -> PackRun:
    honest = HONEST_MIXES[place]
    fraud = tuple(VARIATIONS[kind][place] for kind in PACK_KINDS)
    return PackRun(name=f"{split}-{seed}-{honest.name}", seed=seed, honest=honest, fraud=fraud)


#: The runs the rules may be tuned on.
TUNING: Final[tuple[PackRun, ...]] = tuple(
    _make(seed, place, "tuning") for seed in _TUNING_SEEDS for place in _TUNING_PLACES
)
#: The first held-out runs, reported on once (2026-12-03) and spent since: rules may now be
#: tuned on them too.
SPENT: Final[tuple[PackRun, ...]] = tuple(
    _make(seed, place, "held_out") for seed in _SPENT_SEEDS for place in _SPENT_PLACES
)
#: The runs the figures are reported on (other seeds, other variations, other honest mixes),
#: fixed before any rule was changed after the first held-out runs were seen.
HELD_OUT: Final[tuple[PackRun, ...]] = tuple(
    _make(seed, place, "held_out_2") for seed in _HELD_OUT_SEEDS for place in _HELD_OUT_PLACES
)


def runs(split: Split) -> tuple[PackRun, ...]:
    """The runs of ``split``."""
    return {"tuning": TUNING, "spent": SPENT, "held_out": HELD_OUT}[split]
