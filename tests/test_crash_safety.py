"""A failure between any two writes leaves nothing half-written."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from affiliate_sdk import Alliance, Money, Order
from affiliate_sdk.testing import FakeClock

from .conftest import HUMAN_UA, SECRET, START, make_campaign

WRITES = ["insert_order", "add_entries", "put_tier_state", "append_journal"]


class Crash(Exception):
    pass


def _ledger_state(alliance: Alliance) -> tuple[object, ...]:
    report = alliance.verify_ledger()
    return (
        report.ok,
        report.entries,
        [(c.order_id, c.account, c.amount) for c in alliance.commissions()],
    )


@pytest.mark.parametrize("failing", WRITES)
def test_a_failed_booking_writes_nothing_and_a_retry_equals_a_clean_run(
    store_url: str, clock: FakeClock, failing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiers = {"tiers": {"currency": "CNY", "bands": [{"from": 0, "rate": "10%"}]}}
    with Alliance.open(
        store_url, keys={"k1": SECRET}, clock=clock, platform_take="20%"
    ) as alliance:
        from affiliate_sdk import CommissionPlan

        alliance.add_campaign(make_campaign(plan=CommissionPlan.model_validate(tiers)))
        link = alliance.create_link(
            affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
        )
        click = alliance.track_click(link, ip="203.0.113.5", user_agent=HUMAN_UA)
        order = Order(order_id="o1", merchant_id="m1", total=Money("100.00", "CNY"))
        store = alliance.store
        before = _ledger_state(alliance)

        real = getattr(type(store), failing)

        def crash(self: object, *args: object, **kwargs: object) -> None:
            real(self, *args, **kwargs)  # the write happens, then the process "dies"
            raise Crash(failing)

        monkeypatch.setattr(type(store), failing, crash)
        with pytest.raises(Crash):
            alliance.record_order(order, click_id=click.click_id)
        monkeypatch.undo()

        assert _ledger_state(alliance) == before
        assert store.get_order("m1", "o1") is None
        outcome = alliance.record_order(order, click_id=click.click_id)
        assert [c.amount for c in outcome.commissions] == [
            Money("8.00", "CNY"),
            Money("2.00", "CNY"),
        ]
        assert alliance.verify_ledger().ok


def test_a_process_killed_mid_transaction_leaves_the_file_consistent(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    with Alliance.open(
        f"sqlite:///{path}", keys={"k1": SECRET}, clock=FakeClock(START)
    ) as alliance:
        alliance.add_campaign(make_campaign())
        link = alliance.create_link(
            affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
        )
        click_id = alliance.track_click(link, ip="203.0.113.5", user_agent=HUMAN_UA).click_id
    context = multiprocessing.get_context("fork")
    child = context.Process(target=_die_with_click, args=(str(path), click_id))
    child.start()
    child.join(60)
    assert child.exitcode == 17
    with Alliance.open(
        f"sqlite:///{path}", keys={"k1": SECRET}, clock=FakeClock(START)
    ) as alliance:
        assert alliance.verify_ledger().entries == 0
        assert alliance.commissions() == []
        assert alliance.store.get_order("m1", "o1") is None
        outcome = alliance.record_order(
            Order(order_id="o1", merchant_id="m1", total=Money("100.00", "CNY")), click_id=click_id
        )
        assert [c.amount for c in outcome.commissions] == [Money("10.00", "CNY")]
        assert alliance.verify_ledger().ok


def _die_with_click(path: str, click_id: str) -> None:
    import os

    from affiliate_sdk.storage.legacy_sqlite import SQLiteStore

    real = SQLiteStore.append_journal

    def die(self: SQLiteStore, rows: object) -> None:
        real(self, rows)  # type: ignore[arg-type]
        os._exit(17)

    SQLiteStore.append_journal = die  # type: ignore[method-assign]
    alliance = Alliance.open(f"sqlite:///{path}", keys={"k1": SECRET}, clock=FakeClock(START))
    alliance.record_order(
        Order(order_id="o1", merchant_id="m1", total=Money("100.00", "CNY")), click_id=click_id
    )
