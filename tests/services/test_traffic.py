"""CPC clicks, CPM impressions and period closes, through the journal."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from affiliate_sdk._kernel.instants import to_ms
from affiliate_sdk._services.projections import period_doc
from affiliate_sdk._services.traffic import TrafficService
from affiliate_sdk.commission.periods import scope_key
from affiliate_sdk.commission.plans import CommissionPlan
from affiliate_sdk.errors import InvalidInput, LedgerTampered, UnknownCampaign
from affiliate_sdk.models import Campaign
from affiliate_sdk.money import Money
from affiliate_sdk.storage.rows import ClickRow, PeriodTotals

from .books import START, Books, CampaignShelf

HOUR = timedelta(hours=1)
TIERS = {
    "mode": "retroactive",
    "period": "month",
    "currency": "CNY",
    "bands": [{"from": 0, "to": 1000, "rate": "10%"}, {"from": 1000, "rate": "15%"}],
}


def cny(amount: str) -> Money:
    return Money(amount, "CNY")


def campaign(merchant_id: str = "m1", **plan: object) -> Campaign:
    return Campaign(
        campaign_id="c1",
        merchant_id=merchant_id,
        plan=CommissionPlan.model_validate(plan),
        landing_domains=["shop.example.com"],
    )


def traffic(books: Books, *campaigns: Campaign) -> TrafficService:
    return TrafficService(books.ctx, books.writer, CampaignShelf(*campaigns))


def click(
    books: Books, number: int, affiliate_id: str, at_ms: int, decision: str = "allow"
) -> None:
    row = ClickRow(
        f"k{number}", f"v{number}", "L1", affiliate_id, "c1", "m1", "https://shop.example.com/",
        b"", at_ms, None, None, None, None, decision, "{}",
    )  # fmt: skip
    with books.store.transaction() as tx:
        tx.clicks.record(row, dedupe_since_ms=None)


def test_settle_clicks_pays_unblocked_clicks_window_after_window(books: Books) -> None:
    service = traffic(books, campaign(per_click=cny("0.50")))
    start = to_ms(START)
    for number, (affiliate_id, offset, decision) in enumerate(
        [("a1", 0, "allow"), ("a1", 10, "review"), ("a1", 20, "allow"), ("a1", 30, "block"),
         ("a2", 40, "allow"), ("a2", 50, "allow"), ("a1", 3_600_000, "allow")]
    ):  # fmt: skip
        click(books, number, affiliate_id, start + offset, decision)
    booked = service.settle_clicks("c1", start=START, end=START + HOUR)
    assert [(x.affiliate_id, x.amount, x.rule) for x in booked] == [
        ("a1", cny("1.50"), "cpc 0.50 CNY x 3"),
        ("a2", cny("1.00"), "cpc 0.50 CNY x 2"),
    ]
    assert booked[0].order_id == f"cpc/c1/a1/{start}-{start + 3_600_000}"
    with pytest.raises(InvalidInput, match="settled up to"):
        service.settle_clicks("c1", start=START, end=START + 2 * HOUR)
    (later,) = service.settle_clicks("c1", start=START + HOUR, end=START + 2 * HOUR)
    assert (later.affiliate_id, later.amount) == ("a1", cny("0.50"))
    assert books.ledger.verify_ledger().ok
    with pytest.raises(UnknownCampaign):
        service.settle_clicks("c1", start=START, end=START + HOUR, merchant_id="m2")


def test_count_impressions_pays_each_completed_thousand_once_per_batch(books: Books) -> None:
    service = traffic(books, campaign(per_mille=cny("2.00"), platform_take="10%"))
    count = service.count_impressions
    assert count("c1", affiliate_id="a1", count=700, batch_id="b1") == []
    booked = count("c1", affiliate_id="a1", count=700, batch_id="b2")
    assert [(x.account, x.amount) for x in booked] == [
        ("affiliate", cny("1.80")),
        ("platform", cny("0.20")),
    ]
    assert count("c1", affiliate_id="a1", count=700, batch_id="b2") == []
    (line, _) = count("c1", affiliate_id="a1", count=1600, batch_id="b3")
    assert (line.amount, line.rule) == (cny("3.60"), "cpm 2.00 CNY x 2")
    with pytest.raises(InvalidInput):
        count("c1", affiliate_id="a1", count=-1, batch_id="b4")
    assert books.ledger.verify_ledger().ok


def _tier_totals(books: Books, totals: PeriodTotals) -> None:
    """Period totals as the order service leaves them, written with their journal entry."""
    entry = books.write(
        "period.counted", [], [], at=START, extra={"periods": {totals.key: period_doc(totals)}}
    )
    with books.store.transaction() as tx:
        tx.periods.put([totals._replace(seq=entry.seq)])


def test_close_period_trues_up_a_tier_left_by_refunds(books: Books) -> None:
    service = traffic(books, campaign(rate="10%", tiers=TIERS))
    key = scope_key(
        "tier", "month", "affiliate_sales", merchant_id="m1", campaign_id="c1",
        affiliate_id="a1", placed_at=START, timezone="UTC",
    )  # fmt: skip
    d = Decimal
    _tier_totals(books, PeriodTotals(key, d(900), d(900), d("0.15"), d(135), d(135)))
    april = scope_key(
        "tier", "month", "affiliate_sales", merchant_id="m1", campaign_id="c1",
        affiliate_id="a1", placed_at=START + timedelta(days=31), timezone="UTC",
    )  # fmt: skip
    _tier_totals(books, PeriodTotals(april, d(500), d(500), d("0.1"), d(50), d(50)))
    (trueup,) = service.close_period("c1", "2026-03")
    assert (trueup.kind, trueup.amount, trueup.rule) == (
        "trueup",
        cny("-45.00"),
        "tier rate 10%; period 2026-03 closed",
    )
    with books.store.reader() as tx:
        after = tx.periods.get_many([key, april])
    assert (after[key].rate, after[key].paid, after[key].booked) == (d("0.1"), d(90), d(90))
    assert after[april].seq == 2  # untouched: still the entry that wrote it
    assert service.close_period("c1", "2026-03") == []
    assert books.ledger.verify_ledger().ok


def test_close_period_refuses_forged_totals(books: Books) -> None:
    service = traffic(books, campaign(rate="10%", tiers=TIERS))
    key = "tier/campaign/c1/affiliate_sales/a1/2026-03"
    d = Decimal
    _tier_totals(books, PeriodTotals(key, d(900), d(900), d("0.15"), d(135), d(135)))
    with books.store.transaction() as tx:
        (row,) = tx.periods.scan(key)
        tx.periods.put([row._replace(booked=d(500))])
    head = books.head()
    with pytest.raises(LedgerTampered) as caught:
        service.close_period("c1", "2026-03")
    assert (caught.value.what, caught.value.key) == ("periods", key)
    assert books.head() == head
