"""A failure between any two writes leaves nothing half-written."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from affiliate_sdk import Alliance, Money, Order
from affiliate_sdk.testing import FakeClock

from .conftest import HUMAN_UA, SECRET, START, make_campaign

#: (repository, method) of every write an order's booking makes.
WRITES = [
    ("orders", "insert"),
    ("ledger", "append"),
    ("periods", "put"),
    ("journal", "append"),
    ("outbox", "add"),
]


class Crash(Exception):
    pass


def _ledger_state(alliance: Alliance) -> tuple[object, ...]:
    report = alliance.verify_ledger()
    return (
        report.ok,
        report.entries,
        [(c.order_id, c.account, c.amount) for c in alliance.commissions()],
    )


def _order_row(alliance: Alliance, merchant_id: str, order_id: str) -> object:
    with alliance.store.reader() as tx:
        return tx.orders.get(merchant_id, order_id)


@pytest.mark.parametrize("failing", WRITES, ids=".".join)
def test_a_failed_booking_writes_nothing_and_a_retry_equals_a_clean_run(
    store_url: str, clock: FakeClock, failing: tuple[str, str], monkeypatch: pytest.MonkeyPatch
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
        before = _ledger_state(alliance)
        with alliance.store.reader() as tx:
            repository = type(getattr(tx, failing[0]))
        real = getattr(repository, failing[1])

        def crash(self: object, *args: object, **kwargs: object) -> None:
            real(self, *args, **kwargs)  # the write happens, then the process "dies"
            raise Crash(failing)

        monkeypatch.setattr(repository, failing[1], crash)
        with pytest.raises(Crash):
            alliance.record_order(order, click_id=click.click_id)
        monkeypatch.undo()

        assert _ledger_state(alliance) == before
        assert _order_row(alliance, "m1", "o1") is None
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
        assert _order_row(alliance, "m1", "o1") is None
        outcome = alliance.record_order(
            Order(order_id="o1", merchant_id="m1", total=Money("100.00", "CNY")), click_id=click_id
        )
        assert [c.amount for c in outcome.commissions] == [Money("10.00", "CNY")]
        assert alliance.verify_ledger().ok


def _die_with_click(path: str, click_id: str) -> None:
    import os

    from affiliate_sdk.storage.sqlite.journal import SqliteJournal

    real = SqliteJournal.append

    def die(self: SqliteJournal, rows: object, **options: object) -> None:
        real(self, rows, **options)  # type: ignore[arg-type]
        os._exit(17)

    SqliteJournal.append = die  # type: ignore[method-assign]
    alliance = Alliance.open(f"sqlite:///{path}", keys={"k1": SECRET}, clock=FakeClock(START))
    alliance.record_order(
        Order(order_id="o1", merchant_id="m1", total=Money("100.00", "CNY")), click_id=click_id
    )
