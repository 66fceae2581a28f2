"""The ``ClickRepo`` contract: clicks with de-duplication, impressions, visitor ids."""

from __future__ import annotations

from affiliate_sdk.storage.contract import Store, UnitOfWork

from ._support import EDGE_IDS, _click, _impression, _rolled_back

__all__ = ["ClickContract"]


class ClickContract:
    """``ClickRepo``: clicks with de-duplication, impressions, customers' visitor ids."""

    def test_record_and_get(self, store: Store) -> None:
        click = _click("k1", 1_000)
        with store.transaction() as tx:
            assert tx.clicks.record(click, dedupe_since_ms=None) == (click, True)
        with store.reader() as tx:
            assert tx.clicks.get("k1") == click
            assert tx.clicks.get("k2") is None

    def test_dedupe_returns_the_latest_click_on_the_link(self, store: Store) -> None:
        first, second = _click("k1", 1_000), _click("k2", 2_000)
        with store.transaction() as tx:
            tx.clicks.record(first, dedupe_since_ms=None)
            tx.clicks.record(second, dedupe_since_ms=None)
            assert tx.clicks.record(_click("k3", 3_000), dedupe_since_ms=2_000) == (second, False)
            assert tx.clicks.record(_click("k4", 3_000), dedupe_since_ms=1_500) == (second, False)
        with store.reader() as tx:
            assert tx.clicks.get("k3") is None
            assert tx.clicks.get("k4") is None
            assert tx.clicks.by_visitor("m1", "v1", since_ms=0, until_ms=9_999) == [first, second]

    def test_dedupe_misses_older_clicks_other_links_and_visitors(self, store: Store) -> None:
        clicks = [
            _click("k1", 1_000),
            _click("k2", 5_000),
            _click("k3", 5_001, link_id="l2"),
            _click("k4", 5_002, visitor_id="v2"),
        ]
        with store.transaction() as tx:
            assert tx.clicks.record(clicks[0], dedupe_since_ms=None) == (clicks[0], True)
            for click in clicks[1:]:
                assert tx.clicks.record(click, dedupe_since_ms=1_001) == (click, True)
        with store.reader() as tx:
            assert [tx.clicks.get(f"k{n}") for n in (1, 2, 3, 4)] == clicks

    def test_by_visitor_range_order_and_isolation(self, store: Store) -> None:
        rows = [
            _click("k3", 3_000),
            _click("k1", 1_000),
            _click("k2", 2_000, link_id="l2"),
            _click("k4", 4_000),
            _click("x1", 2_000, merchant_id="m2"),
            _click("x2", 2_000, visitor_id="v2"),
        ]
        with store.transaction() as tx:
            for row in rows:
                tx.clicks.record(row, dedupe_since_ms=None)
        with store.reader() as tx:
            found = tx.clicks.by_visitor("m1", "v1", since_ms=1_000, until_ms=3_000)
            assert [c.click_id for c in found] == ["k1", "k2", "k3"]
            found = tx.clicks.by_visitor("m1", "v1", since_ms=1_001, until_ms=2_999)
            assert [c.click_id for c in found] == ["k2"]
            found = tx.clicks.by_visitor("m2", "v1", since_ms=0, until_ms=9_000)
            assert [c.click_id for c in found] == ["x1"]
            assert tx.clicks.by_visitor("m3", "v1", since_ms=0, until_ms=9_000) == []

    def test_edge_visitor_ids(self, store: Store) -> None:
        with store.transaction() as tx:
            for n, visitor in enumerate(EDGE_IDS):
                tx.clicks.record(_click(f"k{n}", 1_000, visitor_id=visitor), dedupe_since_ms=0)
        with store.reader() as tx:
            for n, visitor in enumerate(EDGE_IDS):
                found = tx.clicks.by_visitor("m1", visitor, since_ms=0, until_ms=2_000)
                assert [c.click_id for c in found] == [f"k{n}"]

    def test_count_unblocked(self, store: Store) -> None:
        rows = [
            _click("k1", 1_000, affiliate_id="a1"),
            _click("k2", 1_500, affiliate_id="a1", visitor_id="v2"),
            _click("k3", 1_600, affiliate_id="a2", visitor_id="v3"),
            _click("k4", 1_700, affiliate_id="a2", visitor_id="v4", decision="block"),
            _click("k5", 1_800, affiliate_id="a3", decision="review", link_id="l3"),
            _click("k6", 2_000, affiliate_id="a1", visitor_id="v5"),
            _click("k7", 1_500, affiliate_id="a1", campaign_id="c2", visitor_id="v6"),
            _click("k8", 1_500, affiliate_id="a1", merchant_id="m2", visitor_id="v7"),
        ]
        with store.transaction() as tx:
            for row in rows:
                tx.clicks.record(row, dedupe_since_ms=None)
        with store.reader() as tx:
            counts = tx.clicks.count_unblocked("m1", "c1", since_ms=1_000, until_ms=2_000)
            assert counts == {"a1": 2, "a2": 1, "a3": 1}
            assert tx.clicks.count_unblocked("m2", "c1", since_ms=0, until_ms=9_000) == {"a1": 1}
            assert tx.clicks.count_unblocked("m1", "c9", since_ms=0, until_ms=9_000) == {}
            assert tx.clicks.count_unblocked("m1", "c1", since_ms=1_700, until_ms=1_800) == {}

    def test_impressions(self, store: Store) -> None:
        rows = [
            _impression("i2", 2_000),
            _impression("i1", 1_000),
            _impression("i3", 3_000),
            _impression("x1", 2_000, merchant_id="m2"),
            _impression("x2", 2_000, visitor_id="\uffff"),
            _impression("i4", 4_000)._replace(earns=False),  # over the frequency cap
        ]
        with store.transaction() as tx:
            for row in rows:
                tx.clicks.add_impression(row)
        with store.reader() as tx:
            found = tx.clicks.impressions("m1", "v1", since_ms=1_000, until_ms=2_000)
            assert found == [rows[1], rows[0]]
            assert tx.clicks.impressions("m2", "v1", since_ms=0, until_ms=9_000) == [rows[3]]
            assert tx.clicks.impressions("m1", "\uffff", since_ms=0, until_ms=9_000) == [rows[4]]
            assert tx.clicks.impressions("m1", "v1", since_ms=3_001, until_ms=3_999) == []
            assert tx.clicks.impressions("m1", "v1", since_ms=3_001, until_ms=9_000) == [rows[5]]
            assert rows[5].earns is False

    def test_visitors_of(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.clicks.link_visitor("m1", "u1", "v1", at_ms=1_000)
            tx.clicks.link_visitor("m1", "u1", "v2", at_ms=2_000)
            tx.clicks.link_visitor("m1", "u1", "v3", at_ms=3_000)
            tx.clicks.link_visitor("m1", "u1", "v1", at_ms=4_000)  # the first time is kept
            tx.clicks.link_visitor("m2", "u1", "w1", at_ms=1_500)
        with store.reader() as tx:
            assert tx.clicks.visitors_of("m1", "u1", limit=10) == ["v1", "v2", "v3"]
            assert tx.clicks.visitors_of("m1", "u1", limit=2) == ["v2", "v3"]
            assert tx.clicks.visitors_of("m2", "u1", limit=10) == ["w1"]
            assert tx.clicks.visitors_of("m1", "u2", limit=10) == []

    def test_rollback_leaves_nothing(self, store: Store) -> None:
        def write(tx: UnitOfWork) -> None:
            tx.clicks.record(_click("k1", 1_000), dedupe_since_ms=None)
            tx.clicks.add_impression(_impression("i1", 1_000))
            tx.clicks.link_visitor("m1", "u1", "v1", at_ms=1_000)

        _rolled_back(store, write)
        with store.reader() as tx:
            assert tx.clicks.get("k1") is None
            assert tx.clicks.by_visitor("m1", "v1", since_ms=0, until_ms=9_000) == []
            assert tx.clicks.count_unblocked("m1", "c1", since_ms=0, until_ms=9_000) == {}
            assert tx.clicks.impressions("m1", "v1", since_ms=0, until_ms=9_000) == []
            assert tx.clicks.visitors_of("m1", "u1", limit=5) == []
        with store.transaction() as tx:  # a rolled-back click does not de-duplicate
            click = _click("k2", 1_001)
            assert tx.clicks.record(click, dedupe_since_ms=0) == (click, True)
