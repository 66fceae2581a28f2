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

_INDEXES = ("_clicks", "_by_link", "_by_visitor", "_by_campaign")


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


def test_held_clicks_are_nothing_the_garbage_collector_walks_again() -> None:
    store = MemoryStore()
    with store.transaction() as tx:
        for n in range(40):
            tx.clicks.record(
                click_row(f"k{n}", 1_000 + n, visitor=f"v{n % 8}"), dedupe_since_ms=None
            )
    gc.collect()
    with store.reader() as tx:
        clicks = tx.clicks
        assert isinstance(clicks, MemoryClicks)
        held = list(clicks._clicks.values())
        assert len(held) == 40
        assert not any(gc.is_tracked(click) for click in held)
        # handed out with their names, in time order
        found = clicks.by_visitor("m1", "v3", since_ms=0, until_ms=10_000)
        assert [c.click_id for c in found] == ["k3", "k11", "k19", "k27", "k35"]
        assert all(isinstance(c, ClickRow) for c in found)
        assert clicks.get("k11") == click_row("k11", 1_011, visitor="v3")
