"""The ``CatalogRepo`` contract: campaigns, plan versions, merchants, affiliates, coupons."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from affiliate_sdk.errors import DuplicateEntry
from affiliate_sdk.models import Affiliate, Merchant
from affiliate_sdk.storage.contract import Store, UnitOfWork
from affiliate_sdk.storage.rows import CouponRow

from ._support import _campaign, _plan, _rolled_back

__all__ = ["CatalogContract"]


class CatalogContract:
    """``CatalogRepo``: campaigns, plan versions, merchants, affiliates, coupons."""

    def test_campaign_round_trip_and_replace(self, store: Store) -> None:
        first, second = _campaign(rate="10%"), _campaign(rate="12%")
        with store.transaction() as tx:
            assert tx.catalog.get_campaign("m1", "c1") is None
            tx.catalog.put_campaign(first)
        with store.reader() as tx:
            assert tx.catalog.get_campaign("m1", "c1") == first
        with store.transaction() as tx:
            tx.catalog.put_campaign(second)
        with store.reader() as tx:
            assert tx.catalog.get_campaign("m1", "c1") == second
            assert tx.catalog.campaigns() == [second]

    def test_campaigns_filter_and_order(self, store: Store) -> None:
        with store.transaction() as tx:
            for merchant, campaign in [("m2", "c1"), ("m1", "c2"), ("m1", "c1"), ("m2", "c3")]:
                tx.catalog.put_campaign(_campaign(merchant, campaign))
        with store.reader() as tx:
            pairs = [(c.merchant_id, c.campaign_id) for c in tx.catalog.campaigns()]
            assert pairs == [("m1", "c1"), ("m1", "c2"), ("m2", "c1"), ("m2", "c3")]
            of_m1 = tx.catalog.campaigns(merchant_id="m1")
            assert [c.campaign_id for c in of_m1] == ["c1", "c2"]
            named_c1 = tx.catalog.campaigns(campaign_id="c1")
            assert [c.merchant_id for c in named_c1] == ["m1", "m2"]
            assert tx.catalog.campaigns(merchant_id="m2", campaign_id="c3") == [
                _campaign("m2", "c3")
            ]
            assert tx.catalog.campaigns(merchant_id="m1", campaign_id="c3") == []
            assert tx.catalog.campaigns(merchant_id="m9") == []

    def test_merchants_never_see_each_others_campaigns(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.catalog.put_campaign(_campaign("m1", "c1", rate="10%"))
            tx.catalog.put_campaign(_campaign("m2", "c1", rate="20%"))
        with store.reader() as tx:
            m1, m2 = tx.catalog.get_campaign("m1", "c1"), tx.catalog.get_campaign("m2", "c1")
            assert m1 is not None
            assert m2 is not None
            assert m1.plan.rate == Decimal("0.1")
            assert m2.plan.rate == Decimal("0.2")

    def test_plan_versions_in_order_and_unique(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.catalog.add_plan_version("m1", _plan("c1", 1, "10%"))
            tx.catalog.add_plan_version("m1", _plan("c1", 2, "11%"))
            tx.catalog.add_plan_version("m2", _plan("c1", 1, "30%"))
        with pytest.raises(DuplicateEntry), store.transaction() as tx:
            tx.catalog.add_plan_version("m1", _plan("c1", 2, "99%"))
        with store.reader() as tx:
            assert tx.catalog.plan_versions("m1", "c1") == [
                _plan("c1", 1, "10%"),
                _plan("c1", 2, "11%"),
            ]
            assert tx.catalog.plan_versions("m2", "c1") == [_plan("c1", 1, "30%")]
            assert tx.catalog.plan_versions("m1", "c2") == []

    def test_merchant_and_affiliate_round_trip(self, store: Store) -> None:
        merchant = Merchant(merchant_id="m1", platform_take=Decimal("0.05"))
        affiliate = Affiliate(affiliate_id="a1", parent_id="p1", channel="blog")
        with store.transaction() as tx:
            assert tx.catalog.get_merchant("m1") is None
            assert tx.catalog.get_affiliate("a1") is None
            tx.catalog.put_merchant(merchant)
            tx.catalog.put_affiliate(affiliate)
        with store.transaction() as tx:
            tx.catalog.put_affiliate(Affiliate(affiliate_id="a1", channel="video"))
        with store.reader() as tx:
            assert tx.catalog.get_merchant("m1") == merchant
            assert tx.catalog.get_affiliate("a1") == Affiliate(affiliate_id="a1", channel="video")

    def test_channel_members_by_id_and_exact_channel(self, store: Store) -> None:
        channels = {
            "a2": "blog",
            "a10": "blog",
            "a1": "blog",
            "a3": "video",
            "a4": None,
            "a5": "blog%",
            "a6": "Blog",
            "a7": 'say "hi"',
            "a8": "视频\U0001f600",
        }
        with store.transaction() as tx:
            assert tx.catalog.channel_members("blog") == []
            for affiliate_id, channel in channels.items():
                tx.catalog.put_affiliate(Affiliate(affiliate_id=affiliate_id, channel=channel))
        with store.transaction() as tx:  # a replaced affiliate leaves its old channel
            tx.catalog.put_affiliate(Affiliate(affiliate_id="a2", channel="video"))
            tx.catalog.put_affiliate(Affiliate(affiliate_id="a3"))
        with store.reader() as tx:
            assert tx.catalog.channel_members("blog") == ["a1", "a10"]
            assert tx.catalog.channel_members("video") == ["a2"]
            assert tx.catalog.channel_members("blog%") == ["a5"]
            assert tx.catalog.channel_members("blo_") == []
            assert tx.catalog.channel_members("Blog") == ["a6"]
            assert tx.catalog.channel_members('say "hi"') == ["a7"]
            assert tx.catalog.channel_members("视频\U0001f600") == ["a8"]
            assert tx.catalog.channel_members("none") == []

        def move(tx: UnitOfWork) -> None:
            tx.catalog.put_affiliate(Affiliate(affiliate_id="a1", channel="video"))
            tx.catalog.put_affiliate(Affiliate(affiliate_id="a9", channel="blog"))

        _rolled_back(store, move)
        with store.reader() as tx:
            assert tx.catalog.channel_members("blog") == ["a1", "a10"]
            assert tx.catalog.channel_members("video") == ["a2"]

    def test_coupons_by_merchant_and_code(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.catalog.put_coupon(CouponRow("m1", "SPRING", "a1", "c1"))
            tx.catalog.put_coupon(CouponRow("m2", "SPRING", "a2", "c9"))
            tx.catalog.put_coupon(CouponRow("m1", "SPRING%", "a3", "c1"))
            tx.catalog.put_coupon(CouponRow("m1", "\uffff", "a4", "c1"))
        with store.transaction() as tx:
            tx.catalog.put_coupon(CouponRow("m1", "SPRING", "a5", "c2"))
        with store.reader() as tx:
            assert tx.catalog.get_coupon("m1", "SPRING") == CouponRow("m1", "SPRING", "a5", "c2")
            assert tx.catalog.get_coupon("m2", "SPRING") == CouponRow("m2", "SPRING", "a2", "c9")
            assert tx.catalog.get_coupon("m1", "SPRING%") == CouponRow("m1", "SPRING%", "a3", "c1")
            assert tx.catalog.get_coupon("m1", "\uffff") == CouponRow("m1", "\uffff", "a4", "c1")
            assert tx.catalog.get_coupon("m1", "SPRIN_") is None
            assert tx.catalog.get_coupon("m3", "SPRING") is None

    def test_rollback_leaves_nothing(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.catalog.put_campaign(_campaign(rate="10%"))

        def write(tx: UnitOfWork) -> None:
            tx.catalog.put_campaign(_campaign(rate="50%"))
            tx.catalog.put_campaign(_campaign("m1", "c2"))
            tx.catalog.add_plan_version("m1", _plan("c1", 1))
            tx.catalog.put_merchant(Merchant(merchant_id="m1"))
            tx.catalog.put_affiliate(Affiliate(affiliate_id="a1"))
            tx.catalog.put_coupon(CouponRow("m1", "X", "a1", "c1"))

        _rolled_back(store, write)
        with store.reader() as tx:
            assert tx.catalog.campaigns() == [_campaign(rate="10%")]
            assert tx.catalog.campaigns(merchant_id="m1") == [_campaign(rate="10%")]
            assert tx.catalog.campaigns(campaign_id="c2") == []
            assert tx.catalog.plan_versions("m1", "c1") == []
            assert tx.catalog.get_merchant("m1") is None
            assert tx.catalog.get_affiliate("a1") is None
            assert tx.catalog.get_coupon("m1", "X") is None
        with store.transaction() as tx:  # the refused number is free again
            tx.catalog.add_plan_version("m1", _plan("c1", 1))

    def test_every_change_moves_the_revision_and_reads_do_not(self, store: Store) -> None:
        writes: list[Callable[[UnitOfWork], None]] = [
            lambda tx: tx.catalog.put_campaign(_campaign(rate="10%")),
            lambda tx: tx.catalog.put_campaign(_campaign(rate="12%")),
            lambda tx: tx.catalog.add_plan_version("m1", _plan("c1", 1, "10%")),
            lambda tx: tx.catalog.put_merchant(Merchant(merchant_id="m1")),
            lambda tx: tx.catalog.put_affiliate(Affiliate(affiliate_id="a1")),
            lambda tx: tx.catalog.put_coupon(CouponRow("m1", "SPRING", "a1", "c1")),
        ]
        with store.reader() as tx:
            seen = [tx.catalog.revision()]
        for write in writes:
            with store.transaction() as tx:
                write(tx)
            with store.reader() as tx:
                tx.catalog.get_campaign("m1", "c1")
                tx.catalog.campaigns()
                seen.append(tx.catalog.revision())
                assert tx.catalog.revision() == seen[-1]  # a read leaves it
        assert len(set(seen)) == len(seen), seen
