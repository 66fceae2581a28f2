"""Clicks on the memory store: the in-order fast path, the out-of-order path, and rollbacks
that leave every index exactly as it was."""

from __future__ import annotations

import copy
import gc

import pytest

from affiliate_sdk.errors import DuplicateEntry
from affiliate_sdk.storage.memory import MemoryStore
from affiliate_sdk.storage.memory._clicks import MemoryClicks
from affiliate_sdk.storage.rows import ClickRow

from ..click_rows import click_row

_INDEXES = ("_cells", "_clicks", "_by_link", "_by_visitor", "_by_campaign")


def _state(store: MemoryStore) -> dict[str, object]:
    with store.reader() as tx:
        clicks = tx.clicks
        assert isinstance(clicks, MemoryClicks)
        return {name: copy.deepcopy(getattr(clicks, name)) for name in _INDEXES}


def _seed(store: MemoryStore) -> None:
    with store.transaction() as tx:
        tx.clicks.record(click_row("k1", 1_000), dedupe_since_ms=None)
        tx.clicks.record(click_row("k2", 2_000, visitor="visitor-2"), dedupe_since_ms=None)
        tx.clicks.record(click_row("k3", 3_000, link="L2", campaign="c2"), dedupe_since_ms=None)


@pytest.mark.parametrize(
    "clicks",
    [
        # in order: appended (new visitor, new link, new campaign, an existing visitor)
        [
            click_row("n1", 4_000, visitor="visitor-3"),
            click_row("n2", 4_000, link="L3", campaign="c3"),
        ],
        # older than what an index holds: inserted in time order
        [click_row("o1", 1_500), click_row("o2", 500, visitor="visitor-2", campaign="c2")],
        # both, in one unit of work
        [
            click_row("n1", 5_000),
            click_row("o1", 1_200),
            click_row("n2", 5_000, visitor="visitor-9"),
        ],
    ],
    ids=["appended", "inserted", "mixed"],
)
def test_a_rollback_leaves_every_index_as_it_was(clicks: list[ClickRow]) -> None:
    store = MemoryStore()
    _seed(store)
    before = _state(store)
    with pytest.raises(RuntimeError), store.transaction() as tx:
        for click in clicks:
            assert tx.clicks.record(click, dedupe_since_ms=None) == (click, True)
        raise RuntimeError
    assert _state(store) == before
    with store.transaction() as tx:  # and the same clicks can be recorded afterwards
        for click in clicks:
            assert tx.clicks.record(click, dedupe_since_ms=None) == (click, True)


def test_a_nested_failure_caught_inside_keeps_the_outer_units_clicks() -> None:
    store = MemoryStore()
    with store.transaction() as tx:
        tx.clicks.record(click_row("k1", 1_000), dedupe_since_ms=None)
        with pytest.raises(RuntimeError), store.transaction() as inner:
            inner.clicks.record(click_row("k2", 2_000), dedupe_since_ms=None)
            raise RuntimeError
    with store.reader() as tx:  # the inner unit of work joined the outer one, which committed
        assert tx.clicks.get("k1") is not None
        assert tx.clicks.get("k2") is not None


def test_clicks_out_of_order_are_read_in_time_order() -> None:
    store = MemoryStore()
    order = [("k3", 3_000), ("k1", 1_000), ("k4", 4_000), ("k2", 1_000), ("k0", 0)]
    with store.transaction() as tx:
        for click_id, at in order:
            tx.clicks.record(click_row(click_id, at), dedupe_since_ms=None)
        seen = tx.clicks.by_visitor("m1", "visitor-1", since_ms=0, until_ms=10_000)
        # same millisecond: the click recorded later comes later
        assert [c.click_id for c in seen] == ["k0", "k1", "k2", "k3", "k4"]
        counts = tx.clicks.count_unblocked("m1", "c1", since_ms=1_000, until_ms=4_000)
        assert counts == {"a1": 3}
        # a repeat click finds the latest click on the link, wherever it was inserted
        latest, created = tx.clicks.record(click_row("r1", 4_500), dedupe_since_ms=3_500)
        assert (latest.click_id, created) == ("k4", False)


def test_a_click_id_is_stored_once() -> None:
    store = MemoryStore()
    with store.transaction() as tx:
        tx.clicks.record(click_row("k1", 1_000), dedupe_since_ms=None)
    before = _state(store)
    with pytest.raises(DuplicateEntry), store.transaction() as tx:
        tx.clicks.record(click_row("k1", 2_000, visitor="visitor-2"), dedupe_since_ms=None)
    assert _state(store) == before


def test_recording_clicks_makes_nothing_the_garbage_collector_follows() -> None:
    store = MemoryStore()
    with store.transaction() as tx:
        tx.clicks.record(click_row("k0", 1_000, visitor="v0"), dedupe_since_ms=None)
    tracked = len(gc.get_objects())
    with store.transaction() as tx:
        for n in range(1, 400):  # a new visitor each
            tx.clicks.record(click_row(f"k{n}", 1_000 + n, visitor=f"v{n}"), dedupe_since_ms=None)
    assert len(gc.get_objects()) - tracked < 10
    with store.reader() as tx:
        clicks = tx.clicks
        # handed out as rows, with their names
        assert clicks.get("k11") == click_row("k11", 1_011, visitor="v11")
        assert clicks.by_visitor("m1", "v7", since_ms=0, until_ms=10_000) == [
            click_row("k7", 1_007, visitor="v7")
        ]
        assert clicks.count_unblocked("m1", "c1", since_ms=0, until_ms=10_000) == {"a1": 400}


def test_a_visitors_clicks_come_back_in_time_order() -> None:
    store = MemoryStore()
    with store.transaction() as tx:
        for n, at in enumerate((5_000, 1_000, 3_000, 3_000, 9_000)):
            tx.clicks.record(click_row(f"k{n}", at, link=f"L{n}"), dedupe_since_ms=None)
    with store.reader() as tx:
        found = tx.clicks.by_visitor("m1", "visitor-1", since_ms=2_000, until_ms=5_000)
    assert [(c.click_id, c.clicked_at_ms) for c in found] == [
        ("k2", 3_000),
        ("k3", 3_000),
        ("k0", 5_000),
    ]
