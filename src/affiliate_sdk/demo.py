"""``affiliate-sdk demo``: a whole alliance driven through the public API.

Three merchants publish campaigns, eight affiliates share signed links,
visitors (a few percent of them crawlers) click, some buy, a few refund. Time
is a ``FakeClock`` and every choice comes from one seeded generator, so the
same seed prints the same summary.
"""

from __future__ import annotations

import hashlib
import math
import random
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Final, TextIO

from affiliate_sdk.alliance import Alliance
from affiliate_sdk.commission.plans import CommissionPlan
from affiliate_sdk.errors import StorageError
from affiliate_sdk.models import Campaign, Order
from affiliate_sdk.money import Money
from affiliate_sdk.testing import FakeClock
from affiliate_sdk.tracking.clicks import Click

__all__ = ["DemoSummary", "run_demo"]

DEMO_START: Final = datetime(2026, 11, 1, tzinfo=UTC)
CURRENCY: Final = "CNY"
PLATFORM_TAKE: Final = "20%"
BOT_SHARE: Final = 0.04
CONVERSION_RATE: Final = 0.03
REFUND_RATE: Final = 0.08
RETURNING_SHARE: Final = 0.25

_CAMPAIGNS: Final = (
    # campaign, merchant, rate, landing domain, category
    ("tea-spring", "m-teahouse", "10%", "teahouse.example.com", "tea"),
    ("sofa-week", "m-furniture", "6%", "furniture.example.com", "furniture"),
    ("glow-serum", "m-beauty", "15%", "beauty.example.com", "cosmetics"),
)
_AFFILIATES: Final = tuple(f"aff-{n:02d}" for n in range(1, 9))
_BROWSERS: Final = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.6 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
)
_BOTS: Final = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "curl/8.5.0",
    "python-requests/2.32.3",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.0.0 Safari/537.36",
)


@dataclass
class DemoSummary:
    """What the demo did, in numbers."""

    clicks: int = 0
    repeat_clicks: int = 0
    blocked_clicks: int = 0
    orders: int = 0
    attributed_orders: int = 0
    refunds: int = 0
    refunded: Money = field(default_factory=lambda: Money.zero(CURRENCY))
    gmv: Money = field(default_factory=lambda: Money.zero(CURRENCY))
    per_affiliate: dict[str, Money] = field(default_factory=dict)
    platform_take: Money = field(default_factory=lambda: Money.zero(CURRENCY))
    merchants_owe: Money = field(default_factory=lambda: Money.zero(CURRENCY))
    reconciled_merchants: int = 0
    ledger_entries: int = 0

    def render(self) -> str:
        def pct(part: int, whole: int) -> str:
            return f"{100 * part / whole:.1f}%" if whole else "-"

        lines = [
            f"clicks            {self.clicks:>10,}   ({self.repeat_clicks:,} repeats reused)",
            f"blocked clicks    {self.blocked_clicks:>10,}   "
            f"({pct(self.blocked_clicks, self.clicks)}, known bots: redirected, never paid)",
            f"orders            {self.orders:>10,}   ({self.attributed_orders:,} attributed)",
            f"GMV               {_fmt(self.gmv):>14}",
            f"refunds           {self.refunds:>10,}   ({_fmt(self.refunded)})",
            "",
            "commission per affiliate (net of refunds):",
        ]
        for affiliate, amount in sorted(self.per_affiliate.items()):
            lines.append(f"  {affiliate:<14}  {_fmt(amount):>14}")
        lines += [
            f"platform take     {_fmt(self.platform_take):>14}   ({PLATFORM_TAKE} of commission)",
            f"merchants owe     {_fmt(self.merchants_owe):>14}",
            "",
            f"reconciliation    balanced to the cent for {self.reconciled_merchants} merchants",
            f"ledger            {self.ledger_entries:,} journal entries, hash chain verified",
        ]
        return "\n".join(lines)


def _fmt(amount: Money) -> str:
    return f"{amount.amount:,.2f} {amount.currency}"


class _Progress:
    """A one-line progress bar on a terminal; silent when output is piped."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self._total = max(total, 1)
        self._stream = stream
        self._shown = -1
        self._live = stream.isatty() and total >= 1000

    def update(self, done: int) -> None:
        if not self._live:
            return
        percent = done * 100 // self._total
        if percent != self._shown:
            self._shown = percent
            bar = "#" * (percent // 4)
            self._stream.write(f"\r[{bar:<25}] {percent:3d}% {done:,}/{self._total:,} clicks")
            self._stream.flush()

    def close(self) -> None:
        if self._live:
            self._stream.write("\n")
            self._stream.flush()


def _prepare_path(path: Path) -> None:
    """Start from an empty file, but only ever replace a previous demo database."""
    if not path.exists():
        return
    import sqlite3

    try:
        with sqlite3.connect(path) as conn:
            marker = conn.execute(
                "SELECT data FROM campaigns WHERE campaign_id = ?", (_CAMPAIGNS[0][0],)
            ).fetchone()
    except sqlite3.Error:
        marker = None
    if marker is None:
        raise StorageError(f"{path} exists and is not a demo database; pick another --db")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def run_demo(
    db: Path,
    *,
    clicks: int = 5000,
    seed: int = 7,
    progress: TextIO | None = None,
    on_click: Callable[[int], None] | None = None,
) -> DemoSummary:
    """Drive ``clicks`` clicks through an alliance on SQLite at ``db``."""
    _prepare_path(db)
    rng = random.Random(seed)
    clock = FakeClock(DEMO_START)
    secret = hashlib.sha256(f"affiliate-sdk demo key {seed}".encode()).digest()
    summary = DemoSummary()
    bar = _Progress(clicks, progress if progress is not None else sys.stderr)
    with Alliance.open(
        f"sqlite:///{db}", keys={"demo": secret}, clock=clock, platform_take=PLATFORM_TAKE
    ) as alliance:
        links = _open_shops(alliance, rng)
        # Some affiliates bring far more traffic than others.
        weights = [1 + 6 * math.exp(-0.4 * i) for i in range(len(links))]
        visitors: list[str] = []
        for n in range(clicks):
            clock.advance(timedelta(seconds=rng.expovariate(1 / 40)))
            link = rng.choices(links, weights)[0]
            bot = rng.random() < BOT_SHARE
            returning = visitors and not bot and rng.random() < RETURNING_SHARE
            click = alliance.track_click(
                link,
                ip=f"198.51.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                user_agent=rng.choice(_BOTS if bot else _BROWSERS),
                referrer="https://social.example.net/post/1",
                visitor_id=rng.choice(visitors) if returning else None,
            )
            summary.clicks += 1
            summary.repeat_clicks += click.reused
            summary.blocked_clicks += click.verdict.decision == "block"
            if not bot:
                visitors.append(click.visitor_id)
            if not bot and rng.random() < CONVERSION_RATE:
                _buy(alliance, rng, click, summary)
            bar.update(n + 1)
            if on_click is not None:
                on_click(n + 1)
        bar.close()
        _settle_up(alliance, summary, clock.now() + timedelta(seconds=1))
    return summary


def _open_shops(alliance: Alliance, rng: random.Random) -> list[str]:
    """The demo's campaigns, and the links its affiliates made for most of them."""
    for campaign_id, merchant_id, rate, domain, category in _CAMPAIGNS:
        alliance.add_campaign(
            Campaign(
                campaign_id=campaign_id,
                merchant_id=merchant_id,
                plan=CommissionPlan(rate=rate),
                landing_domains=[domain],
                country="CN",
                category=category,
            )
        )
    return [
        alliance.create_link(
            affiliate_id=affiliate,
            campaign_id=campaign_id,
            landing_url=f"https://{domain}/p/{rng.randint(1, 40)}",
            sub_ids={"sub1": rng.choice(["feed", "video", "search", "email"])},
            expires_in=timedelta(days=90),
        )
        for affiliate in _AFFILIATES
        for campaign_id, _, _, domain, _ in _CAMPAIGNS
        if rng.random() < 0.8
    ]


def _buy(alliance: Alliance, rng: random.Random, click: Click, summary: DemoSummary) -> None:
    """An order after ``click``, and now and then its refund, counted in ``summary``."""
    merchant = next(m for c, m, *_ in _CAMPAIGNS if c == click.claims.campaign_id)
    value = Decimal(str(round(math.exp(rng.gauss(5.3, 0.7)), 2)))
    order = Order(
        order_id=f"SO-{summary.orders + 1:06d}",
        merchant_id=merchant,
        total=Money(value, CURRENCY),
        country="CN",
        new_customer=rng.random() < 0.6,
    )
    # Half the shops pass the click id back server-to-server, most others the visitor
    # cookie; some orders arrive with neither (no attribution).
    signal = rng.random()
    outcome = alliance.record_order(
        order,
        click_id=click.click_id if signal < 0.5 else None,
        visitor_id=click.visitor_id if 0.5 <= signal < 0.92 else None,
    )
    summary.orders += 1
    summary.attributed_orders += outcome.attributed
    summary.gmv += order.total
    if rng.random() < REFUND_RATE:
        part = None if rng.random() < 0.5 else (order.total * Decimal("0.3")).round()
        refund = alliance.refund(merchant_id=merchant, order_id=order.order_id, amount=part)
        summary.refunds += 1
        summary.refunded += refund.amount


def _settle_up(alliance: Alliance, summary: DemoSummary, end: datetime) -> None:
    """What is owed, reconciled per merchant up to ``end``, and the ledger verified."""
    per_affiliate: dict[str, Money] = defaultdict(lambda: Money.zero(CURRENCY))
    for entry in alliance.commissions():
        summary.merchants_owe += entry.amount
        if entry.account == "platform":
            summary.platform_take += entry.amount
        else:
            per_affiliate[entry.affiliate_id] += entry.amount
    summary.per_affiliate = dict(per_affiliate)
    # raises LedgerImbalance if any merchant is off by a cent
    summary.reconciled_merchants = len(alliance.reconcile(start=DEMO_START, end=end))
    report = alliance.verify_ledger()
    if not report.ok:  # pragma: no cover - would mean the ledger itself is broken
        raise StorageError(f"ledger verification failed at entry {report.first_bad_seq}")
    summary.ledger_entries = report.entries
