"""The adversary pack's traffic: honest shoppers of a ``HonestMix`` and fraud of each
``Variation``, seeded and pure (``pack_traffic(run)`` gives the same events every time).

Everything happens on one merchant's one CPS campaign, as on a new user's alliance. Every
browser or machine is a *device*: events carry its key in ``visitor_id``; the runner keeps the
visitor cookie the alliance hands out for devices that keep cookies, and sends the click id in
the landing URL's place for those that do not (``PackTraffic.cookieless``). Addresses come
from pools that stand for what each side has: households on consumer ISPs, phones behind a
carrier's shared NAT addresses, offices, VPN exits; and for fraud, machines rented from clouds
and hosting companies (the providers' own well-known blocks, chosen here without looking at
any list the alliance ships), a residential line, a pool of residential proxies.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Final, NamedTuple

from .pack import PackRun, Variation
from .traffic import (
    BROWSERS,
    CARRIER_PREFIXES,
    CRAWLERS,
    HEADLESS,
    HOME_PREFIXES,
    CampaignSpec,
    Event,
)

__all__ = ["CAMPAIGN", "RENTED", "VPN_EXITS", "Hand", "PackTraffic", "pack_traffic"]

_DAY_MS: Final = 86_400_000
_HOUR_MS: Final = 3_600_000
_MINUTE_MS: Final = 60_000
#: The pack's one campaign.
CAMPAIGN: Final = CampaignSpec("main", "shop", "shop.example.com", Decimal("0.10"), "US")
#: Blocks the providers run their rented machines in, per where an adversary rents.
RENTED: Final[dict[str, tuple[str, ...]]] = {
    # AWS (us-east-1), Google Cloud (us-central1), Azure, DigitalOcean
    "cloud": (
        "3.80", "3.88", "18.204", "52.90", "54.160", "35.192", "35.202",
        "20.40", "52.160", "40.76", "138.68", "159.89", "167.99", "178.128", "206.189",
    ),
    # Hetzner, OVH, Linode, Vultr
    "hosting": (
        "5.9", "88.198", "136.243", "95.216", "135.181", "51.38", "51.68", "91.121",
        "145.239", "45.79", "139.162", "172.104", "45.32", "45.76", "149.28",
    ),
    # AWS, Hetzner, DigitalOcean, OVH
    "ipv6": ("2600:1f18", "2a01:4f8", "2604:a880", "2001:41d0"),
    # small hosting companies that no published list names
    "unlisted": ("193.106", "185.225", "194.26", "212.193"),
}  # fmt: skip
#: A commercial VPN's exits (a provider's own block, not a cloud's).
VPN_EXITS: Final = "185.159.156"
#: Link previews that chat and social apps fetch when a link is pasted.
_PREVIEWS: Final = (
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "WhatsApp/2.23.20.0 A",
    "TelegramBot (like TwitterBot)",
    "Twitterbot/1.0",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
)
_LIBRARIES: Final = (
    "python-requests/2.32.3",
    "curl/8.7.1",
    "Go-http-client/1.1",
    "okhttp/4.12.0",
    "axios/1.7.2",
    "Wget/1.21.4",
)
#: The quickest a person gets from a landing page through checkout (a saved card, one item).
_FASTEST_CHECKOUT_MS: Final = 20_000
_WEEKDAY_START: Final = 9
_WORKDAY_HOURS: Final = 9


#: Who is behind a click or order: the device's key (None: a client that keeps nothing), its
#: address and its user agent.
Hand = tuple[str | None, str, str | None]


class PackTraffic(NamedTuple):
    """A run's events in time order, and what the alliance is told before them."""

    run: PackRun
    affiliates: tuple[str, ...]  # every affiliate with a link, honest or not
    coupons: dict[str, str]  # affiliate -> its coupon code
    identities: dict[str, tuple[str, str, str]]  # self-referrer -> (email, card, home address)
    cookieless: frozenset[str]  # devices that keep no cookie
    events: list[Event]


class _Gen:
    """Seeded draws and the event list of one run."""

    def __init__(self, run: PackRun) -> None:
        self.run = run
        self.rng = random.Random(run.seed)
        self.start_ms = int(run.start.timestamp() * 1000)
        self.end_ms = self.start_ms + run.days * _DAY_MS
        self.events: list[Event] = []
        self.counter = 0
        self.cookieless: set[str] = set()
        self.coupons: dict[str, str] = {}
        self.identities: dict[str, tuple[str, str, str]] = {}
        self.cashback: frozenset[str] = frozenset()

    def new_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter:08d}"

    def device(self, *, cookies: bool = True) -> str:
        key = self.new_id("d")
        if not cookies:
            self.cookieless.add(key)
        return key

    def add(self, at_ms: int, kind: str, label: str, **fields: object) -> bool:
        if not self.start_ms <= at_ms < self.end_ms:
            return False
        event = Event(at_ms, len(self.events), kind, label, 0, **fields)  # type: ignore[arg-type]
        self.events.append(event)
        return True

    def click(
        self, at_ms: int, label: str, affiliate: str, hand: Hand, *, referrer: str | None = None
    ) -> None:
        """A click on ``affiliate``'s link from ``hand``."""
        device, ip, agent = hand
        self.add(at_ms, "click", label, affiliate_id=affiliate, visitor_id=device, ip=ip,
                 user_agent=agent, referrer=referrer, country=CAMPAIGN.country)  # fmt: skip

    def order(
        self, at_ms: int, label: str, earner: str | None, hand: Hand, **fields: object
    ) -> str | None:
        """An order from ``hand`` (and, by ``refund``'s odds, its refund days later); its
        id, or None past the run's end."""
        device, ip, agent = hand
        refund = fields.pop("refund", self.run.honest.refund_rate)
        assert isinstance(refund, float)
        order_id = self.new_id("o")
        customer = str(fields.pop("customer", None) or f"cu-{device}")
        fields.setdefault("email", f"{customer}@mail.example")
        fields.setdefault("payment", f"card-{customer}")
        fields.setdefault("amount_cents", self.cents(60.0, 0.8))
        fields.setdefault("sku", f"sku-{self.rng.randrange(3000)}")
        fields.setdefault("country", CAMPAIGN.country)
        fields.update(affiliate_id=earner, visitor_id=device, ip=ip, user_agent=agent)
        placed = self.add(at_ms, "order", label, order_id=order_id, customer=customer, **fields)
        if not placed:
            return None
        if self.rng.random() < refund:
            later = at_ms + self.rng.randrange(_DAY_MS, 10 * _DAY_MS)
            self.add(later, "refund", label, order_id=order_id, affiliate_id=earner)
        return order_id

    # -- draws -------------------------------------------------------------------------------
    def cents(self, median: float, sigma: float) -> int:
        return max(100, round(self.rng.lognormvariate(math.log(median), sigma) * 100))

    def conversion_ms(self, median_minutes: float = 45.0, sigma: float = 1.6) -> int:
        minutes = self.rng.lognormvariate(math.log(median_minutes), sigma)
        return max(_FASTEST_CHECKOUT_MS, int(minutes * _MINUTE_MS))

    def home_ip(self) -> str:
        rng = self.rng
        return f"{rng.choice(HOME_PREFIXES)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"

    def carrier_ip(self) -> str:
        rng = self.rng
        return f"{rng.choice(CARRIER_PREFIXES)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"

    def rented_ip(self, provider: str) -> str:
        rng = self.rng
        if provider == "mixed":
            provider = rng.choice(tuple(RENTED))
        prefix = rng.choice(RENTED[provider])
        if ":" in prefix:
            return f"{prefix}:{rng.randrange(1, 0xFFFF):x}::{rng.randrange(1, 0xFFFF):x}"
        return f"{prefix}.{rng.randrange(256)}.{rng.randrange(1, 255)}"

    def browser(self) -> str:
        rng = self.rng
        return rng.choice(BROWSERS).format(v=rng.randrange(118, 132), m=rng.randrange(0, 7))

    def agents(self, mix: str) -> Callable[[], str]:
        """A source of user agents: one build, a few, or a new one each time."""
        if mix == "many":
            return self.browser
        chosen = [self.browser() for _ in range(1 if mix == "one" else 4)]
        return lambda: self.rng.choice(chosen)

    def working_times(self, variation: Variation) -> Iterator[int]:
        """Times of ``volume`` events a day, spread over the variation's working hours."""
        span = variation.hours * _HOUR_MS
        for day in range(min(variation.days, self.run.days)):
            first = self.start_ms + day * _DAY_MS + variation.start_hour * _HOUR_MS
            for _ in range(variation.volume):
                yield first + self.rng.randrange(span)


def pack_traffic(run: PackRun) -> PackTraffic:
    """Every event of ``run``, in time order (ties in the order they were made)."""
    gen = _Gen(run)
    affiliates = _honest(gen)
    fraudsters: list[str] = []
    for variation in run.fraud:
        for number in range(variation.actors):
            me = f"{variation.kind.replace('_', '-')}-{number}"
            fraudsters.append(me)
            _ADVERSARIES[variation.kind](gen, variation, me, affiliates)
    events = sorted(gen.events, key=lambda e: (e.at_ms, e.seq))
    return PackTraffic(
        run,
        (*affiliates, *fraudsters),
        gen.coupons,
        gen.identities,
        frozenset(gen.cookieless),
        events,
    )


# -- honest traffic ----------------------------------------------------------------------------
#: How busy each hour of the day is, against the day's mean (evenings busiest).
_HOURLY: Final = (
    0.35, 0.25, 0.2, 0.2, 0.25, 0.35, 0.55, 0.8, 1.0, 1.1, 1.1, 1.15,
    1.25, 1.2, 1.1, 1.1, 1.15, 1.3, 1.5, 1.7, 1.8, 1.65, 1.2, 0.7,
)  # fmt: skip
_HOURLY_MEAN: Final = sum(_HOURLY) / 24


class _Shopper(NamedTuple):
    device: str
    agent: str
    place: Callable[[], str]  # the address of the shopper's next visit

    def hand(self, ip: str | None = None) -> Hand:
        return (self.device, self.place() if ip is None else ip, self.agent)


def _count(rng: random.Random, mean: float) -> int:
    whole = int(mean)
    return whole + (rng.random() < mean - whole)


def _honest(gen: _Gen) -> tuple[str, ...]:
    """Honest journeys, office bursts and organic orders over the run; the honest affiliates."""
    mix, rng = gen.run.honest, gen.rng
    affiliates = tuple(f"aff{n:03d}" for n in range(mix.affiliates))
    weights = [1 / (rank + 1) ** 0.9 for rank in range(len(affiliates))]
    for affiliate in affiliates[::8]:
        gen.coupons[affiliate] = f"{affiliate.upper()}-SAVE10"
    gen.cashback = frozenset(affiliates[2::5][: mix.cashback_affiliates])
    carriers = [gen.carrier_ip() for _ in range(mix.carrier_addresses)]
    offices = [gen.home_ip() for _ in range(mix.offices)]
    for hour in range(gen.run.days * 24):
        hour_ms = gen.start_ms + hour * _HOUR_MS
        busy = _HOURLY[hour % 24] / _HOURLY_MEAN
        for _ in range(_count(rng, mix.journeys_per_day / 24 * busy)):
            who = _shopper(gen, carriers)
            chosen = rng.choices(affiliates, weights, k=_touches(rng))
            _journey(gen, hour_ms + rng.randrange(_HOUR_MS), who, chosen)
        for _ in range(_count(rng, mix.organic_orders_per_day / 24 * busy)):
            who = _shopper(gen, carriers)
            gen.order(hour_ms + rng.randrange(_HOUR_MS), "organic", None, who.hand())
        if _working(hour) and rng.random() < 0.25:
            for office in offices:
                _office_burst(gen, hour_ms, office, rng.choices(affiliates, weights)[0])
    return affiliates


def _working(hour: int) -> bool:
    day, within = divmod(hour, 24)
    return day % 7 < 5 and _WEEKDAY_START <= within < _WEEKDAY_START + _WORKDAY_HOURS


def _touches(rng: random.Random) -> int:
    touches = 1
    while touches < 3 and rng.random() < 0.3:
        touches += 1
    return touches


def _shopper(gen: _Gen, carriers: list[str]) -> _Shopper:
    """A new shopper: on a phone behind the carrier's shared addresses, on a VPN, or at home."""
    mix, rng = gen.run.honest, gen.rng
    device = gen.device(cookies=rng.random() >= mix.cookieless_share)
    draw = rng.random()
    if draw < mix.carrier_share:
        return _Shopper(device, gen.browser(), lambda: rng.choice(carriers))
    if draw < mix.carrier_share + mix.vpn_share:
        return _Shopper(device, gen.browser(), lambda: f"{VPN_EXITS[:-3]}"
                        f"{156 + rng.randrange(4)}.{rng.randrange(1, 255)}")  # fmt: skip
    home = gen.home_ip()
    return _Shopper(device, gen.browser(), lambda: home)


def _journey(gen: _Gen, at_ms: int, who: _Shopper, chosen: list[str]) -> None:
    """One to three affiliate clicks, over minutes or (a multi-day journey) days; maybe an
    order after the last, from where the shopper is then (another country when travelling)."""
    mix, rng = gen.run.honest, gen.rng
    spread = rng.random() < mix.multi_day_share
    for affiliate in chosen:
        gen.click(at_ms, "legit", affiliate, who.hand(),
                  referrer=f"https://{affiliate}.blog.example/review")  # fmt: skip
        last = at_ms
        at_ms += gen.conversion_ms(1200.0, 1.0) if spread else gen.conversion_ms()
    cashback = chosen[-1] in gen.cashback
    if rng.random() >= mix.conversion_rate * (mix.cashback_lift if cashback else 1):
        return
    if cashback:  # the shopper opened the cashback site on the way to paying
        placed = last + gen.conversion_ms(6.0, 1.0)
    else:
        placed = last + (gen.conversion_ms(1440.0, 0.9) if spread else gen.conversion_ms())
    fields: dict[str, object] = {}
    ip = who.place()
    if rng.random() < mix.travel_share:
        fields["country"] = rng.choice(("MX", "GB", "JP", "FR"))
        ip = gen.home_ip()  # a hotel's line
    code = gen.coupons.get(chosen[-1])
    if code and rng.random() < 0.1:
        fields["coupon"] = code
    gen.order(placed, "legit", chosen[-1], who.hand(ip), **fields)


def _office_burst(gen: _Gen, hour_ms: int, office_ip: str, affiliate: str) -> None:
    """A deal shared in an office's chat: colleagues click it within half an hour, from the
    office's one address, each on their own computer; a few of them buy."""
    rng, mix = gen.rng, gen.run.honest
    first = hour_ms + rng.randrange(_HOUR_MS)
    for _ in range(rng.randint(5, max(5, mix.office_size // 6))):
        hand = (gen.device(), office_ip, gen.browser())
        at = first + rng.randrange(30 * _MINUTE_MS)
        gen.click(at, "legit", affiliate, hand, referrer="https://chat.example/")
        if rng.random() < mix.conversion_rate * 2:
            gen.order(at + gen.conversion_ms(20.0, 1.0), "legit", affiliate, hand)


# -- fraud -------------------------------------------------------------------------------------
_Adversary = Callable[[_Gen, Variation, str, tuple[str, ...]], None]


def _declared_bot(gen: _Gen, v: Variation, me: str, affiliates: tuple[str, ...]) -> None:
    """Crawlers follow the links on honest affiliates' pages; scripts, headless browsers and
    clients that send no user agent click the fraudster's own links. None keeps a cookie."""
    rng = gen.rng
    crawler = v.bot == "crawler"
    pool = [gen.rented_ip("mixed") if v.bot in ("crawler", "headless") else gen.home_ip()
            for _ in range(v.addresses)]  # fmt: skip
    for at in gen.working_times(v):
        if crawler:
            agent: str | None = rng.choice(CRAWLERS)
        elif v.bot == "library":
            agent = rng.choice(_LIBRARIES)
        elif v.bot == "headless":
            agent = HEADLESS.format(v=rng.randrange(118, 132))
        elif v.bot == "preview":
            agent = rng.choice(_PREVIEWS)
        else:
            agent = None
        owner = rng.choice(affiliates) if crawler else me
        gen.click(at, "declared_bot", owner, (None, rng.choice(pool), agent))


def _machines(gen: _Gen, v: Variation, pool: list[str]) -> Callable[[], Hand]:
    """A source of hands for a fraudster's clicks: with cookies, one device per address that
    keeps its cookie; without, a fresh cookieless browser each time."""
    agent = gen.agents(v.agents)
    if not v.cookies:
        return lambda: (gen.device(cookies=False), gen.rng.choice(pool), agent())
    devices = [(gen.device(), ip, agent()) for ip in pool]
    return lambda: gen.rng.choice(devices)


def _converting(gen: _Gen, v: Variation, me: str, pool: list[str], label: str) -> None:
    """Clicks from ``pool`` on the fraudster's link, ``conversion`` of them followed minutes
    later by an order from the same machine, a fake account and a fresh card."""
    rng = gen.rng
    machine = _machines(gen, v, pool)
    for at in gen.working_times(v):
        hand = machine()
        gen.click(at, label, me, hand)
        if rng.random() < v.conversion:
            customer = gen.new_id("fake-")
            gen.order(at + rng.randrange(2 * _MINUTE_MS, 20 * _MINUTE_MS), label, me, hand,
                      customer=customer, amount_cents=gen.cents(30.0, 0.4),
                      payment=f"vcard-{customer}", refund=v.refunds)  # fmt: skip


def _datacenter(gen: _Gen, v: Variation, me: str, _: tuple[str, ...]) -> None:
    """Browsers on rented machines, with ordinary user agents, that click and buy."""
    _converting(gen, v, me, [gen.rented_ip(v.provider) for _ in range(v.addresses)], v.kind)


def _click_farm(gen: _Gen, v: Variation, me: str, _: tuple[str, ...]) -> None:
    """Phones on one residential line (or a few in one block), clicking a few times a minute
    for hours and ordering from the same line."""
    line = gen.home_ip().rsplit(".", 1)[0]
    first = gen.rng.randrange(1, 250 - v.addresses)
    _converting(gen, v, me, [f"{line}.{first + n}" for n in range(v.addresses)], v.kind)


def _pool(gen: _Gen, v: Variation) -> list[Hand]:
    """Real people's browsers the fraudster reaches (an SDK, an extension, a page)."""
    carriers = [gen.carrier_ip() for _ in range(max(1, v.addresses // 20))]
    return [
        (gen.device(cookies=v.cookies), gen.rng.choice(carriers) if n % 3 == 0 else
         gen.home_ip(), gen.browser())
        for n in range(v.addresses)
    ]  # fmt: skip


def _claiming(gen: _Gen, v: Variation, me: str, _: tuple[str, ...]) -> None:
    """Click flooding and cookie stuffing: clicks on people who never chose the affiliate;
    the few who buy anyway buy on their own time (flooding: at any time of the next day;
    stuffing: like any shopper, from the page they were stuffed on)."""
    rng = gen.rng
    pool = _pool(gen, v)
    flooding = v.kind == "click_flooding"
    referrer = None if flooding else f"https://deals-{me}.example/"
    for at in gen.working_times(v):
        hand = rng.choice(pool)
        gen.click(at, v.kind, me, hand, referrer=referrer)
        if rng.random() < v.conversion:
            delay = rng.randrange(_MINUTE_MS, _DAY_MS) if flooding else gen.conversion_ms()
            gen.order(at + delay, v.kind, me, hand)


def _injection(gen: _Gen, v: Variation, me: str, affiliates: tuple[str, ...]) -> None:
    """An app on the shopper's phone fires a click seconds before a purchase that was
    happening anyway (half the time after an honest affiliate's click)."""
    rng = gen.rng
    for at in gen.working_times(v):
        hand = (gen.device(), gen.carrier_ip(), gen.browser())
        if rng.random() < 0.5:
            gen.click(at - gen.conversion_ms(), "legit", rng.choice(affiliates), hand)
        low, high = v.delay_s
        gen.click(at - int(rng.uniform(low, high) * 1000), v.kind, me, hand)
        gen.order(at, v.kind, me, hand)


def _brushing(gen: _Gen, v: Variation, me: str, _: tuple[str, ...]) -> None:
    """Fake orders from fake accounts, paid with a few cards from a few homes, cheap items,
    most refunded days later."""
    rng = gen.rng
    cards = [f"card-{me}-{n}" for n in range(1 if v.addresses == 1 else 3)]
    homes = [gen.home_ip() for _ in range(v.addresses)]
    agent = gen.agents("few")
    for at in gen.working_times(v):
        hand, customer = (gen.device(), rng.choice(homes), agent()), gen.new_id("acct-")
        gen.click(at, v.kind, me, hand)
        gen.order(at + rng.randrange(2 * _MINUTE_MS, 15 * _MINUTE_MS), v.kind, me, hand,
                  customer=customer, amount_cents=gen.cents(25.0, 0.3),
                  sku=f"sku-cheap-{rng.randrange(3)}", payment=rng.choice(cards),
                  refund=v.refunds)  # fmt: skip


def _self_referral(gen: _Gen, v: Variation, me: str, _: tuple[str, ...]) -> None:
    """The affiliate buys through their own link under new accounts: with their own card,
    their own email spelled otherwise, or (family) from home with a relative's details."""
    rng, style = gen.rng, v.name.partition("/")[2].removesuffix("-2")
    email, card, home = f"{me}@mail.example", f"card-{me}", gen.home_ip()
    gen.identities[me] = (email, card, home)
    hand = (gen.device(), home, gen.browser())
    for at in gen.working_times(v):
        gen.click(at, v.kind, me, hand)
        fields: dict[str, object] = {"customer": gen.new_id("cu-")}
        if style in ("own-card", "heavy") or (style == "family" and rng.random() < 0.3):
            fields["payment"] = card
        if style in ("own-email", "heavy"):
            fields["email"] = email.upper() if rng.random() < 0.5 else f" {email} "
        gen.order(at + gen.conversion_ms(), v.kind, me, hand, **fields)


def _coupon_leak(gen: _Gen, v: Variation, me: str, _: tuple[str, ...]) -> None:
    """The affiliate's code is posted where shoppers who never clicked find it."""
    code = gen.coupons[me] = f"{me.upper()}-VIP"
    for at in gen.working_times(v):
        gen.order(at, v.kind, me, (gen.device(), gen.home_ip(), gen.browser()), coupon=code)


def _duplicates(gen: _Gen, v: Variation, me: str, _: tuple[str, ...]) -> None:
    """Real orders of the affiliate's customers reported again under new order ids."""
    rng = gen.rng
    for at in gen.working_times(v):
        hand = (gen.device(), gen.home_ip(), gen.browser())
        gen.click(at, "legit", me, hand)
        placed = at + gen.conversion_ms()
        same = {"amount_cents": gen.cents(60.0, 0.8), "sku": f"sku-{rng.randrange(3000)}",
                "refund": 0.0}  # fmt: skip
        if gen.order(placed, "legit", me, hand, **same) is None:
            continue
        for copy in range(rng.randint(1, 2)):
            again = placed + (copy + 1) * rng.randrange(_MINUTE_MS, 30 * _MINUTE_MS)
            gen.order(again, v.kind, me, hand, **same)


_ADVERSARIES: Final[dict[str, _Adversary]] = {
    "declared_bot": _declared_bot,
    "datacenter": _datacenter,
    "click_farm": _click_farm,
    "click_flooding": _claiming,
    "cookie_stuffing": _claiming,
    "click_injection": _injection,
    "brushing": _brushing,
    "self_referral": _self_referral,
    "coupon_leak": _coupon_leak,
    "duplicate_order": _duplicates,
}
