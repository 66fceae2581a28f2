"""Labelled traffic from a scenario: pure and seeded (the same scenario gives the same events).

``generate(scenario)`` returns a ``Traffic``: the campaigns and affiliates to
set up and every click, order and refund in time order, each carrying the
label of whoever produced it (``legit``, ``organic`` or a fraud kind).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from decimal import Decimal
from functools import partial
from typing import Final, Literal, NamedTuple

from .scenario import FraudActor, Scenario

__all__ = [
    "CARRIER_PREFIXES",
    "DATACENTER_PREFIXES",
    "HOME_PREFIXES",
    "VPN_RANGES",
    "CampaignSpec",
    "Event",
    "Shopper",
    "Traffic",
    "generate",
]

#: /16 prefixes the simulated households get addresses from (consumer ISPs).
HOME_PREFIXES: Final = (
    "84.128",
    "91.64",
    "79.192",
    "178.24",
    "112.96",
    "183.12",
    "36.110",
    "201.13",
    "177.45",
    "101.48",
    "86.150",
    "93.104",
)
#: Mobile carriers share addresses between many subscribers (carrier-grade NAT).
CARRIER_PREFIXES: Final = ("117.136", "223.104", "172.56")
#: A VPN provider's exits (handed to the alliance as the host's own "vpn" ranges).
VPN_RANGES: Final = ("185.159.156.0/22",)
#: Cloud addresses fraud runs from (inside AWS, Google Cloud and Azure's published ranges).
DATACENTER_PREFIXES: Final = ("3.80", "3.88", "34.64", "35.192", "20.40", "52.160")
DATACENTER_RANGES: Final = tuple(f"{p}.0.0/16" for p in DATACENTER_PREFIXES)

COUNTRIES: Final = ("CN", "US", "DE", "GB", "FR", "JP", "BR")
RATES: Final = ("0.05", "0.08", "0.10", "0.12")
BROWSERS: Final = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.{m} Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_{m} like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.{m} Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S91{m}B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0.0.0 Safari/537.36 Edg/{v}.0.0.0",
)
CRAWLERS: Final = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "python-requests/2.31.0",
    "curl/8.4.0",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
)
HEADLESS: Final = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/{v}.0.0.0 Safari/537.36"
)
_DAY_MS: Final = 86_400_000
_MINUTE_MS: Final = 60_000

EventKind = Literal["click", "order", "refund"]


class CampaignSpec(NamedTuple):
    campaign_id: str
    merchant_id: str
    domain: str
    rate: Decimal
    country: str


class Event(NamedTuple):
    """One thing that happens in the simulation, labelled with who made it happen."""

    at_ms: int
    seq: int
    kind: EventKind
    label: str
    campaign: int
    affiliate_id: str | None = None  # the link's affiliate (clicks), the expected earner (orders)
    visitor_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    referrer: str | None = None
    country: str | None = None
    order_id: str | None = None
    amount_cents: int = 0
    sku: str | None = None
    customer: str | None = None
    email: str | None = None
    payment: str | None = None
    coupon: str | None = None


class Traffic(NamedTuple):
    campaigns: tuple[CampaignSpec, ...]
    affiliates: tuple[str, ...]  # honest affiliates
    coupons: dict[tuple[str, int], str]  # (affiliate, campaign index) -> code
    identities: dict[str, tuple[str, str]]  # self-referring affiliate -> (email, payment)
    events: list[Event]


class Shopper(NamedTuple):
    """Who is behind a click or an order: the cookie (None for clients that keep none),
    the address and the browser."""

    visitor: str | None
    ip: str
    agent: str


class _Builder:
    """Collects events and hands out ids, addresses and agents from one seeded generator."""

    def __init__(self, scenario: Scenario) -> None:
        self.s = scenario
        self.rng = random.Random(scenario.seed)
        self.start_ms = int(scenario.start.timestamp() * 1000)
        self.end_ms = self.start_ms + scenario.days * _DAY_MS
        self.events: list[Event] = []
        self.counter = 0
        self.campaigns: tuple[CampaignSpec, ...] = ()

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter:09d}"

    def add(self, at_ms: int, kind: EventKind, label: str, campaign: int, **fields: object) -> bool:
        if not self.start_ms <= at_ms < self.end_ms:
            return False
        self.events.append(Event(at_ms, len(self.events), kind, label, campaign, **fields))  # type: ignore[arg-type]
        return True

    def shopper(self, ip: str | None = None) -> Shopper:
        """A new visitor with a browser, from ``ip`` or an address drawn for a visitor."""
        visitor = self.next_id("v")
        return Shopper(visitor, ip if ip is not None else self.visitor_ip(), self.browser())

    def click(
        self,
        at_ms: int,
        label: str,
        campaign: int,
        affiliate: str,
        who: Shopper,
        *,
        referrer: str | None = None,
    ) -> None:
        """A click on ``affiliate``'s link of campaign number ``campaign``, from its country."""
        self.add(
            at_ms,
            "click",
            label,
            campaign,
            affiliate_id=affiliate,
            visitor_id=who.visitor,
            ip=who.ip,
            user_agent=who.agent,
            country=self.campaigns[campaign].country,
            referrer=referrer,
        )

    def home_ip(self) -> str:
        rng = self.rng
        prefix = rng.choice(HOME_PREFIXES)
        return f"{prefix}.{rng.randrange(256)}.{rng.randrange(1, 255)}"

    def visitor_ip(self) -> str:
        rng = self.rng
        draw = rng.random()
        if draw < self.s.vpn_share:
            return f"185.159.{156 + rng.randrange(4)}.{rng.randrange(1, 255)}"
        if draw < self.s.vpn_share + self.s.carrier_share:
            prefix = rng.choice(CARRIER_PREFIXES)
            return f"{prefix}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        return self.home_ip()

    def datacenter_ip(self) -> str:
        rng = self.rng
        return f"{rng.choice(DATACENTER_PREFIXES)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"

    def browser(self) -> str:
        rng = self.rng
        return rng.choice(BROWSERS).format(v=rng.randrange(118, 131), m=rng.randrange(0, 7))

    def order_cents(self, median: float) -> int:
        value = self.rng.lognormvariate(math.log(median), self.s.order_value_sigma)
        return max(100, round(value * 100))

    def conversion_ms(self) -> int:
        minutes = self.rng.lognormvariate(
            math.log(self.s.conversion_minutes_median), self.s.conversion_sigma
        )
        return max(_MINUTE_MS, int(minutes * _MINUTE_MS))

    def order(
        self,
        at_ms: int,
        label: str,
        campaign: int,
        country: str,
        *,
        earner: str | None,
        who: Shopper,
        customer: str | None = None,
        cents: int | None = None,
        sku: str | None = None,
        refund: bool | None = None,
        **fields: object,
    ) -> str | None:
        """Add an order (and maybe its refund); its id, or None past the end."""
        order_id = self.next_id("o")
        customer = customer or f"cu-{who.visitor}"
        fields.setdefault("email", f"{customer}@mail.example")
        fields.setdefault("payment", f"card-{customer}")
        cents = cents if cents is not None else self.order_cents(self.s.order_value_median)
        placed = self.add(
            at_ms,
            "order",
            label,
            campaign,
            affiliate_id=earner,
            visitor_id=who.visitor,
            ip=who.ip,
            user_agent=who.agent,
            order_id=order_id,
            amount_cents=cents,
            sku=sku or f"sku-{self.rng.randrange(2000)}",
            customer=customer,
            country=country,
            **fields,
        )
        if not placed:
            return None
        refunded = self.rng.random() < self.s.refund_rate if refund is None else refund
        if refunded:
            later = at_ms + self.rng.randrange(_DAY_MS, 10 * _DAY_MS)
            self.add(later, "refund", label, campaign, order_id=order_id, affiliate_id=earner)
        return order_id


def _zipf_weights(n: int, exponent: float = 0.9) -> list[float]:
    return [1 / (rank + 1) ** exponent for rank in range(n)]


def _hours(builder: _Builder) -> Iterator[tuple[int, float]]:
    """Each hour's start and its traffic multiplier (the peak's, else 1)."""
    peak = builder.s.peak
    for hour in range(builder.s.days * 24):
        multiplier = 1.0
        if peak is not None and peak.day * 24 + peak.start_hour <= hour < (
            peak.day * 24 + peak.start_hour + peak.hours
        ):
            multiplier = peak.multiplier
        yield builder.start_ms + hour * 3_600_000, multiplier


def _count(rng: random.Random, mean: float) -> int:
    whole = int(mean)
    return whole + (rng.random() < mean - whole)


def generate(scenario: Scenario) -> Traffic:
    """Every event of the scenario, in time order (ties in creation order)."""
    b = _Builder(scenario)
    rng = b.rng
    campaigns = b.campaigns = tuple(
        CampaignSpec(
            f"c{n:03d}",
            f"m{n:03d}",
            f"shop{n}.example.com",
            Decimal(rng.choice(RATES)),
            rng.choice(COUNTRIES),
        )
        for n in range(scenario.merchants)
    )
    campaign_weights = _zipf_weights(len(campaigns), 0.7)
    affiliates = tuple(f"aff{n:04d}" for n in range(scenario.affiliates))
    affiliate_weights = _zipf_weights(len(affiliates))
    coupons = {
        (affiliate, index): f"{affiliate}-{index}".upper()
        for affiliate in affiliates[::10]
        for index in range(len(campaigns))
    }
    population = _Population(campaigns, campaign_weights, affiliates, affiliate_weights, coupons)
    for hour_ms, multiplier in _hours(b):
        for _ in range(_count(rng, scenario.journeys_per_day / 24 * multiplier)):
            _journey(b, hour_ms + rng.randrange(3_600_000), population)
        for _ in range(_count(rng, scenario.organic_orders_per_day / 24 * multiplier)):
            index = rng.choices(range(len(campaigns)), campaign_weights)[0]
            at = hour_ms + rng.randrange(3_600_000)
            b.order(at, "organic", index, campaigns[index].country, earner=None, who=b.shopper())
    identities: dict[str, tuple[str, str]] = {}
    for actor in scenario.fraud:
        for number in range(actor.actors):
            me = f"{actor.kind.replace('_', '-')}-{number}"
            _FRAUD[actor.kind](b, actor, me, campaigns, affiliates, coupons, identities)
    events = sorted(b.events, key=lambda e: (e.at_ms, e.seq))
    return Traffic(campaigns, affiliates, coupons, identities, events)


class _Population(NamedTuple):
    campaigns: tuple[CampaignSpec, ...]
    campaign_weights: list[float]
    affiliates: tuple[str, ...]
    affiliate_weights: list[float]
    coupons: dict[tuple[str, int], str]


def _journey(b: _Builder, at_ms: int, population: _Population) -> None:
    """An honest visitor: one to a few affiliate clicks, sometimes an order."""
    rng = b.rng
    s = b.s
    campaigns, affiliates = population.campaigns, population.affiliates
    index = rng.choices(range(len(campaigns)), population.campaign_weights)[0]
    country = campaigns[index].country
    who = b.shopper()
    touches = 1
    while touches < s.max_touches and rng.random() < 0.3:
        touches += 1
    chosen = rng.choices(affiliates, population.affiliate_weights, k=touches)
    for affiliate in chosen:
        blog = f"https://{affiliate}.blog.example/post"
        b.click(at_ms, "legit", index, affiliate, who, referrer=blog)
        last = at_ms
        at_ms += b.conversion_ms()
    if rng.random() >= s.conversion_rate:
        return
    if rng.random() < s.travel_share:
        country = rng.choice([c for c in COUNTRIES if c != country])
    earner = chosen[-1]
    code = population.coupons.get((earner, index))
    placed = last + b.conversion_ms()
    coupon = code if code and rng.random() < s.coupon_share else None
    b.order(placed, "legit", index, country, earner=earner, who=who, coupon=coupon)


_Fraud = Callable[
    [
        _Builder,
        FraudActor,
        str,
        tuple[CampaignSpec, ...],
        tuple[str, ...],
        dict[tuple[str, int], str],
        dict[str, tuple[str, str]],
    ],
    None,
]


def _per_day(b: _Builder, actor: FraudActor) -> Iterator[int]:
    """Times for an actor's ``volume`` events per day, spread over each day."""
    for day in range(b.s.days):
        for _ in range(actor.volume):
            yield b.start_ms + day * _DAY_MS + b.rng.randrange(_DAY_MS)


def _bot_clicks(
    b: _Builder,
    actor: FraudActor,
    me: str,
    campaigns: tuple[CampaignSpec, ...],
    affiliates: tuple[str, ...],
    *_: object,
) -> None:
    """Crawlers follow links on affiliates' pages; headless browsers and servers fake clicks."""
    rng = b.rng
    kind = actor.kind
    for at in _per_day(b, actor):
        index = rng.randrange(len(campaigns))
        if kind == "crawler":
            owner, agent, ip = rng.choice(affiliates), rng.choice(CRAWLERS), b.home_ip()
        elif kind == "headless":
            owner, agent, ip = me, HEADLESS.format(v=rng.randrange(118, 131)), b.home_ip()
        else:
            owner, agent, ip = me, b.browser(), b.datacenter_ip()
        b.click(at, kind, index, owner, Shopper(None, ip, agent))


def _claiming_clicks(
    b: _Builder, actor: FraudActor, me: str, campaigns: tuple[CampaignSpec, ...], *_: object
) -> None:
    """Click spam and cookie stuffing: clicks on people who never chose the affiliate.

    A few of those people buy later anyway, and the affiliate is credited: click
    spam's orders come at any time over the next day (flat), stuffed cookies'
    orders like ordinary shoppers'. Most clicks never lead to an order.
    """
    rng = b.rng
    spam = actor.kind == "click_spam"
    claim = 0.0005 if spam else 0.001
    referrer = None if spam else f"https://deals-{me}.example/"
    for at in _per_day(b, actor):
        index = rng.randrange(len(campaigns))
        who = b.shopper()
        country = campaigns[index].country
        b.click(at, actor.kind, index, me, who, referrer=referrer)
        if rng.random() < claim:
            delay = rng.randrange(_MINUTE_MS, _DAY_MS) if spam else b.conversion_ms()
            b.order(at + delay, actor.kind, index, country, earner=me, who=who)


def _injection(
    b: _Builder,
    actor: FraudActor,
    me: str,
    campaigns: tuple[CampaignSpec, ...],
    affiliates: tuple[str, ...],
    *_: object,
) -> None:
    """An app on the shopper's phone fires a click seconds before they buy."""
    rng = b.rng
    for at in _per_day(b, actor):
        index = rng.randrange(len(campaigns))
        who = b.shopper()
        country = campaigns[index].country
        if rng.random() < 0.5:  # the shopper came through an honest affiliate first
            earlier = at - b.conversion_ms()
            b.click(earlier, "legit", index, rng.choice(affiliates), who)
        injected = at - rng.randrange(1_000, 9_000)
        b.click(injected, "click_injection", index, me, who)
        b.order(at, "click_injection", index, country, earner=me, who=who)


def _self_referral(
    b: _Builder,
    actor: FraudActor,
    me: str,
    campaigns: tuple[CampaignSpec, ...],
    _a: object,
    _c: object,
    identities: dict[str, tuple[str, str]],
) -> None:
    """The affiliate buys through their own link, under fresh customer accounts."""
    rng = b.rng
    email, card = f"{me}@mail.example", f"card-{me}"
    identities[me] = (email, card)
    who = b.shopper(b.home_ip())
    for at in _per_day(b, actor):
        index = rng.randrange(len(campaigns))
        country = campaigns[index].country
        b.click(at, "self_referral", index, me, who)
        spelled = email.upper() if rng.random() < 0.5 else f" {email} "
        b.order(
            at + b.conversion_ms(),
            "self_referral",
            index,
            country,
            earner=me,
            who=who,
            customer=b.next_id("cu-"),
            email=spelled,
            payment=card if rng.random() < 0.7 else None,
        )


def _brushing(
    b: _Builder, actor: FraudActor, me: str, campaigns: tuple[CampaignSpec, ...], *_: object
) -> None:
    """Fake orders from fake accounts paid with a few cards, refunded days later."""
    rng = b.rng
    cards = [f"card-{me}-{n}" for n in range(3)]
    homes = [b.home_ip() for _ in range(3)]
    index = rng.randrange(len(campaigns))
    country = campaigns[index].country
    for at in _per_day(b, actor):
        who = b.shopper(rng.choice(homes))
        b.click(at, "brushing", index, me, who)
        b.order(
            at + rng.randrange(2 * _MINUTE_MS, 15 * _MINUTE_MS),
            "brushing",
            index,
            country,
            earner=me,
            who=who,
            cents=b.order_cents(25.0),
            sku=f"sku-{rng.randrange(3)}",
            payment=rng.choice(cards),
            refund=rng.random() < 0.9,
        )


def _coupon_leak(
    b: _Builder,
    actor: FraudActor,
    me: str,
    campaigns: tuple[CampaignSpec, ...],
    _a: object,
    coupons: dict[tuple[str, int], str],
    *_: object,
) -> None:
    """The affiliate's code is posted on a coupon site; shoppers who never clicked use it."""
    rng = b.rng
    for index in range(len(campaigns)):
        coupons[(me, index)] = f"{me}-{index}".upper()
    for at in _per_day(b, actor):
        index = rng.randrange(len(campaigns))
        code = coupons[(me, index)]
        country = campaigns[index].country
        b.order(at, "coupon_leak", index, country, earner=me, who=b.shopper(), coupon=code)


def _duplicates(
    b: _Builder, actor: FraudActor, me: str, campaigns: tuple[CampaignSpec, ...], *_: object
) -> None:
    """Real orders of an affiliate's customers reported again under new order ids."""
    rng = b.rng
    for at in _per_day(b, actor):
        index = rng.randrange(len(campaigns))
        who = b.shopper()
        country = campaigns[index].country
        b.click(at, "legit", index, me, who)
        placed = at + b.conversion_ms()
        cents, sku = b.order_cents(b.s.order_value_median), f"sku-{rng.randrange(2000)}"
        report = partial(
            b.order,
            campaign=index,
            country=country,
            earner=me,
            who=who,
            cents=cents,
            sku=sku,
            refund=False,
        )
        if report(placed, "legit") is None:
            continue
        for copy in range(rng.randint(1, 2)):
            again = placed + (copy + 1) * rng.randrange(_MINUTE_MS, 30 * _MINUTE_MS)
            report(again, "duplicate_order")


_FRAUD: Final[dict[str, _Fraud]] = {
    "crawler": _bot_clicks,
    "headless": _bot_clicks,
    "datacenter": _bot_clicks,
    "click_spam": _claiming_clicks,
    "cookie_stuffing": _claiming_clicks,
    "click_injection": _injection,
    "self_referral": _self_referral,
    "brushing": _brushing,
    "coupon_leak": _coupon_leak,
    "duplicate_order": _duplicates,
}
