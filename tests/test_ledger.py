from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from affiliate_sdk import (
    Affiliate,
    Alliance,
    CommissionPlan,
    CommissionStateError,
    InvalidInput,
    LedgerTampered,
    Merchant,
    Money,
    Order,
    UnknownCommission,
)
from affiliate_sdk.commission.ledger import JournalDraft, decode_entry, postings_of
from affiliate_sdk.storage import MemoryStore
from affiliate_sdk.storage.rows import JournalRow
from affiliate_sdk.testing import FakeClock

from .conftest import HUMAN_UA, SECRET, START, browse, make_campaign


def _sell(alliance: Alliance, order_id: str, total: str, affiliate: str = "a1") -> str:
    link = alliance.create_link(
        affiliate_id=affiliate, campaign_id="c1", landing_url="https://shop.example.com/p"
    )
    click = alliance.track_click(link, ip="203.0.113.7", user_agent=HUMAN_UA)
    browse(alliance)
    outcome = alliance.record_order(
        Order(order_id=order_id, merchant_id="m1", total=Money(total, "CNY")),
        click_id=click.click_id,
    )
    return outcome.commissions[0].entry_id


def _journal(alliance: Alliance) -> list[JournalRow]:
    """Every chain's entries, in seq order."""
    with alliance.store.reader() as tx:
        rows = [row for chain in tx.journal.heads() for row in tx.journal.scan(chain=chain)]
    return sorted(rows, key=lambda row: row.seq)


def _replace_journal(alliance: Alliance, rows: list[JournalRow]) -> None:
    """Put ``rows`` in place of a memory store's journal, as an attacker would."""
    store = alliance.store
    assert isinstance(store, MemoryStore)
    journal = store._uow.journal
    assert set(journal._chains) == {0}  # type: ignore[attr-defined]
    chain = journal._chains[0]  # type: ignore[attr-defined]
    chain.rows[:] = rows
    chain.at[:] = [row.at_ms for row in rows]
    journal._events.clear()  # type: ignore[attr-defined]
    journal._events.update({row.event_id: row for row in rows})  # type: ignore[attr-defined]
    journal._seqs.clear()  # type: ignore[attr-defined]
    journal._seqs.update({row.seq: row for row in rows})  # type: ignore[attr-defined]


def _balances(alliance: Alliance) -> dict[str, Money]:
    totals: dict[str, Money] = defaultdict(lambda: Money.zero("CNY"))
    for row in _journal(alliance):
        for posting in postings_of(decode_entry(row.body)):
            totals[posting.account] += posting.amount
    return {account: amount for account, amount in totals.items() if amount}


@pytest.fixture
def taking(store_url: str, clock: FakeClock) -> Alliance:
    alliance = Alliance.open(store_url, keys={"k1": SECRET}, clock=clock, platform_take="20%")
    alliance.add_campaign(make_campaign())
    return alliance


def test_bookings_are_double_entry_journal_entries(taking: Alliance) -> None:
    _sell(taking, "o1", "199.00")
    assert _balances(taking) == {
        "merchant/m1/payable": Money("-19.90", "CNY"),
        "affiliate/a1/pending": Money("15.92", "CNY"),
        "platform/pending": Money("3.98", "CNY"),
    }
    taking.refund(merchant_id="m1", order_id="o1", amount=Money("99.50", "CNY"))
    assert _balances(taking) == {
        "merchant/m1/payable": Money("-9.95", "CNY"),
        "affiliate/a1/pending": Money("7.96", "CNY"),
        "platform/pending": Money("1.99", "CNY"),
    }
    report = taking.verify_ledger()
    assert report.ok
    assert report.entries == 2
    taking.close()


def test_hold_approval_payout_and_clawback(taking: Alliance, clock: FakeClock) -> None:
    line = _sell(taking, "o1", "100.00")  # affiliate 8.00, platform 2.00
    assert taking.approve_due() == []  # still inside the 30-day hold
    clock.advance(timedelta(days=30))
    approved = taking.approve_due()
    assert {(c.account, c.status) for c in approved} == {
        ("affiliate", "approved"),
        ("platform", "approved"),
    }
    assert taking.pay_approved(run_id="day-30") == []  # T+1: not payable yet
    clock.advance(timedelta(days=1))
    [batch] = taking.pay_approved(run_id="day-31")
    assert (batch.affiliate_id, batch.amount, batch.entry_ids) == (
        "a1",
        Money("8.00", "CNY"),
        [line],
    )
    assert taking.pay_approved(run_id="day-31") == [batch]  # idempotent
    [paid] = taking.commissions(affiliate_id="a1", order_id="o1")[:1]
    assert (paid.status, paid.payout_id) == ("paid", batch.payout_id)
    # a refund after payment claws back, netted against the next payout
    refund = taking.refund(merchant_id="m1", order_id="o1", amount=Money("50.00", "CNY"))
    kinds = {(r.account, r.kind, r.status) for r in refund.reversals}
    assert ("affiliate", "clawback", "approved") in kinds
    assert _balances(taking)["affiliate/a1/approved"] == Money("-4.00", "CNY")
    assert taking.pay_approved(run_id="day-32") == []  # negative balance carries forward
    _sell(taking, "o2", "200.00")  # affiliate 16.00
    clock.advance(timedelta(days=31))
    taking.approve_due()
    clock.advance(timedelta(days=1))
    [netted] = taking.pay_approved(run_id="day-64")
    assert netted.amount == Money("12.00", "CNY")  # 16.00 earned - 4.00 clawed back
    assert _balances(taking)["affiliate/a1/paid"] == Money("20.00", "CNY")
    assert taking.verify_ledger().ok
    taking.close()


def test_minimum_payout_carries_small_balances_forward(taking: Alliance, clock: FakeClock) -> None:
    _sell(taking, "o1", "10.00")  # affiliate 0.80
    clock.advance(timedelta(days=31))
    taking.approve_due()
    clock.advance(timedelta(days=1))
    floor = {"CNY": Money("1.00", "CNY")}
    assert taking.pay_approved(run_id="r1", minimum=floor) == []
    _sell(taking, "o2", "10.00")
    clock.advance(timedelta(days=31))
    taking.approve_due()
    clock.advance(timedelta(days=1))
    [batch] = taking.pay_approved(run_id="r2", minimum=floor)
    assert batch.amount == Money("1.60", "CNY")
    taking.close()


def test_freeze_release_reject(taking: Alliance, clock: FakeClock) -> None:
    first = _sell(taking, "o1", "100.00")
    second = _sell(taking, "o2", "50.00")
    [frozen] = taking.freeze([first], reason="click-to-order in 3 seconds")
    assert (frozen.status, frozen.reason) == ("frozen", "click-to-order in 3 seconds")
    clock.advance(timedelta(days=31))
    approved = taking.approve_due()
    assert first not in {c.entry_id for c in approved}  # frozen lines wait for review
    [released] = taking.release([first])
    assert released.status == "pending"
    [again] = taking.freeze([first], reason="second look")
    assert again.status == "frozen"
    [rejected] = taking.reject([first], reason="order brushing")
    assert rejected.status == "rejected"
    reversal = [c for c in taking.commissions(order_id="o1") if c.kind == "reversal"]
    assert [(r.amount, r.reason, r.reverses) for r in reversal] == [
        (Money("-8.00", "CNY"), "order brushing", first)
    ]
    assert "affiliate/a1/frozen" not in _balances(taking)
    with pytest.raises(CommissionStateError) as info:
        taking.approve([first])  # rejected lines stay rejected
    assert (info.value.status, info.value.target) == ("rejected", "approved")
    with pytest.raises(UnknownCommission):
        taking.freeze(["nope"], reason="x")
    assert taking.commissions(order_id="o2")[0].entry_id == second
    assert taking.verify_ledger().ok
    taking.close()


def test_a_reviewer_approves_frozen_and_pending_lines_together(
    taking: Alliance, clock: FakeClock
) -> None:
    first = _sell(taking, "o1", "100.00")
    second = _sell(taking, "o2", "50.00")
    taking.freeze([first], reason="looks odd")
    approved = taking.approve([first, second])  # one frozen, one pending: both approved
    assert [(line.entry_id, line.status) for line in approved] == [
        (first, "approved"),
        (second, "approved"),
    ]
    balances = _balances(taking)
    assert "affiliate/a1/frozen" not in balances and "affiliate/a1/pending" not in balances
    assert taking.review_queue() == []
    assert taking.verify_ledger().ok
    taking.close()


def _tampered(rows: list[JournalRow], index: int, how: str) -> list[JournalRow]:
    rows = list(rows)
    row = rows[index]
    if how == "edit":
        body = row.body.replace(b'"v":2', b'"v":3', 1)
        rows[index] = row._replace(body=body)
    elif how == "delete":
        del rows[index]
        rows[index:] = [r._replace(seq=r.seq - 1) for r in rows[index:]]
    elif how == "insert":
        rows.insert(index, row)
        rows[index + 1 :] = [r._replace(seq=r.seq + 1) for r in rows[index + 1 :]]
    elif how == "swap":
        other = (index + 1) % len(rows)
        rows[index], rows[other] = (
            rows[other]._replace(seq=row.seq),
            row._replace(seq=rows[other].seq),
        )
    return rows


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), how=st.sampled_from(["edit", "delete", "insert", "swap"]))
def test_verify_ledger_catches_every_single_entry_tamper(data: st.DataObject, how: str) -> None:
    clock = FakeClock(START)
    with Alliance.open(keys={"k1": SECRET}, clock=clock, platform_take="10%") as alliance:
        alliance.add_campaign(make_campaign())
        for n in range(4):
            _sell(alliance, f"o{n}", f"{10 + n}.00")
        alliance.refund(merchant_id="m1", order_id="o1")
        clock.advance(timedelta(days=31))
        alliance.approve_due()
        rows = _journal(alliance)
        assert alliance.verify_ledger().ok
        index = data.draw(st.integers(min_value=0, max_value=len(rows) - 1))
        if how == "delete" and index == len(rows) - 1:
            index -= 1  # dropping the newest entry is caught by signed checkpoints, not the chain
        tampered = _tampered(rows, index, how)
        _replace_journal(alliance, tampered)
        report = alliance.verify_ledger()
        assert not report.ok
        assert report.first_bad_seq is not None
        assert report.first_bad_seq <= index + 2
        assert report.entries < len(tampered)


def test_sqlite_tamper_is_found_where_it_happened(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "ledger.db"
    with Alliance.open(f"sqlite:///{path}", keys={"k1": SECRET}, clock=clock) as alliance:
        alliance.add_campaign(make_campaign())
        for n in range(5):
            _sell(alliance, f"o{n}", "100.00")
        assert alliance.verify_ledger().entries == 5
    with sqlite3.connect(path) as conn:
        body = conn.execute("SELECT body FROM journal WHERE seq = 3").fetchone()[0]
        conn.execute(
            "UPDATE journal SET body = ? WHERE seq = 3",
            (body.replace(b'"10.00"', b'"99.00"'),),
        )
    with Alliance.open(f"sqlite:///{path}", keys={"k1": SECRET}, clock=clock) as reopened:
        report = reopened.verify_ledger()
        assert (report.ok, report.entries, report.first_bad_seq) == (False, 2, 3)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE journal SET body = ? WHERE seq = 3", (body,))
        conn.execute("DELETE FROM journal WHERE seq = 2")
    with Alliance.open(f"sqlite:///{path}", keys={"k1": SECRET}, clock=clock) as reopened:
        report = reopened.verify_ledger()
        assert (report.ok, report.first_bad_seq, report.reason) == (
            False,
            3,
            "an entry is missing before it",
        )


def test_statement_invoice_and_reconciliation(taking: Alliance, clock: FakeClock) -> None:
    march = START.replace(day=1, hour=0)
    april = march.replace(month=4)
    may = march.replace(month=5)
    _sell(taking, "o1", "100.00")  # a1 8.00, platform 2.00
    _sell(taking, "o2", "50.00", affiliate="a2")  # a2 4.00, platform 1.00
    taking.refund(merchant_id="m1", order_id="o2", amount=Money("25.00", "CNY"))  # a2 -2.00
    clock.advance(timedelta(days=31))  # into April
    taking.approve_due()
    clock.advance(timedelta(days=1))
    taking.pay_approved(run_id="april")
    taking.refund(merchant_id="m1", order_id="o1", amount=Money("10.00", "CNY"))  # claw 0.80

    march_statements = {s.affiliate_id: s for s in taking.statements(start=march, end=april)}
    a1 = march_statements["a1"]
    assert (a1.opening, a1.earned, a1.paid, a1.closing) == (
        Money("0.00", "CNY"),
        Money("8.00", "CNY"),
        Money("0.00", "CNY"),
        Money("8.00", "CNY"),
    )
    a2 = march_statements["a2"]
    assert (a2.earned, a2.reversed, a2.closing) == (
        Money("4.00", "CNY"),
        Money("2.00", "CNY"),
        Money("2.00", "CNY"),
    )
    april_a1 = next(s for s in taking.statements(start=april, end=may) if s.affiliate_id == "a1")
    assert (april_a1.opening, april_a1.paid, april_a1.clawed_back, april_a1.closing) == (
        Money("8.00", "CNY"),
        Money("8.00", "CNY"),
        Money("0.80", "CNY"),
        Money("-0.80", "CNY"),
    )
    [invoice] = taking.invoices(start=march, end=april)
    assert (invoice.commission, invoice.platform_take, invoice.total) == (
        Money("10.00", "CNY"),
        Money("2.50", "CNY"),
        Money("12.50", "CNY"),
    )
    [row] = taking.reconcile(start=march, end=may)
    assert row.balanced
    # booked 10.00 + 5.00; o2 half refunded: -2.00 - 0.50; o1 10% refunded: -0.80 - 0.20
    assert row.merchant_cost == Money("11.50", "CNY")
    assert row.affiliate_earnings == Money("9.20", "CNY")  # 8.00 + 4.00 - 2.00 - 0.80
    assert row.platform_take == Money("2.30", "CNY")  # 2.00 + 1.00 - 0.50 - 0.20
    taking.close()


def test_a_ledger_line_that_disagrees_with_its_journal_entry_is_refused(clock: FakeClock) -> None:
    with Alliance.open(keys={"k1": SECRET}, clock=clock) as alliance:
        alliance.add_campaign(make_campaign())
        line_id = _sell(alliance, "o1", "100.00")
        with alliance.store.transaction() as tx:
            [row] = tx.ledger.by_order("m1", "o1")
            forged = row.line.model_copy(update={"amount": Money("11.00", "CNY")})
            tx.ledger.update([row._replace(line=forged)])
        # The line no longer matches the journal entry that booked it: it is not shown,
        # not paid, and the verification names it; the journal's own figures still balance.
        with pytest.raises(LedgerTampered) as info:
            alliance.commissions(order_id="o1")
        assert (info.value.what, info.value.key) == ("lines", line_id)
        report = alliance.verify_ledger()
        assert (report.ok, report.problem_family, report.problem_key) == (False, "lines", line_id)
        [balanced] = alliance.reconcile(
            start=START - timedelta(days=1), end=START + timedelta(days=1)
        )
        assert balanced.balanced


def test_two_tier_parent_share_and_affiliate_overrides(clock: FakeClock) -> None:
    plan = CommissionPlan.model_validate(
        {
            "rate": "10%",
            "parent_share": "10%",
            "overrides": [{"name": "video", "match": {"channel": "video"}, "rate": "12%"}],
        }
    )
    with Alliance.open(keys={"k1": SECRET}, clock=clock, platform_take="20%") as alliance:
        alliance.add_campaign(make_campaign(plan=plan))
        alliance.add_affiliate(Affiliate(affiliate_id="a1", parent_id="p1", channel="video"))
        alliance.add_affiliate(Affiliate(affiliate_id="a2", group="basic"))
        _sell(alliance, "o1", "100.00")  # a1 via video: 12.00; take 2.40; a1 9.60; parent 0.96
        _sell(alliance, "o2", "100.00", affiliate="a2")  # 10.00; take 2.00; a2 8.00; no parent
        lines = {
            (c.order_id, c.account): (c.affiliate_id, c.amount) for c in alliance.commissions()
        }
        assert lines == {
            ("o1", "affiliate"): ("a1", Money("9.60", "CNY")),
            ("o1", "platform"): ("a1", Money("2.40", "CNY")),
            ("o1", "parent"): ("p1", Money("0.96", "CNY")),
            ("o2", "affiliate"): ("a2", Money("8.00", "CNY")),
            ("o2", "platform"): ("a2", Money("2.00", "CNY")),
        }
        alliance.refund(merchant_id="m1", order_id="o1")  # the parent's share is reversed too
        assert sum(
            (c.amount for c in alliance.commissions(order_id="o1")), Money.zero("CNY")
        ) == Money.zero("CNY")
        [row] = alliance.reconcile(start=START - timedelta(days=1), end=START + timedelta(days=1))
        assert (row.parent_earnings, row.balanced) == (Money("0.00", "CNY"), True)
        with pytest.raises(InvalidInput, match="own parent"):
            Affiliate(affiliate_id="x", parent_id="x")


def test_signed_checkpoints_catch_rewrites_and_truncation(clock: FakeClock) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from affiliate_sdk.commission.ledger import GENESIS_HASH, encode_entry

    key = Ed25519PrivateKey.generate()
    trusted = {"ops-2026": key.public_key()}
    with Alliance.open(keys={"k1": SECRET}, clock=clock) as alliance:
        alliance.add_campaign(make_campaign())
        for n in range(3):
            _sell(alliance, f"o{n}", "100.00")
        checkpoint = alliance.checkpoint(key, key_id="ops-2026")
        assert (checkpoint.seq, checkpoint.verify(key.public_key())) == (3, True)
        _sell(alliance, "o3", "100.00")
        assert alliance.verify_ledger(trusted_keys=trusted).ok
        original = _journal(alliance)

        # a rewrite that recomputes every hash without the journal key fails at once...
        rewritten = []
        previous = GENESIS_HASH
        for row in original:
            document = decode_entry(row.body)
            if row.seq == 2:
                document["refs"]["note"] = "edited"
            draft = JournalDraft(
                document["event"],
                document["kind"],
                datetime.fromisoformat(document["at"]),
                postings_of(document),
                document["refs"],
            )
            rebuilt = encode_entry(row.seq, previous, draft)
            rewritten.append(
                JournalRow(row.seq, row.event_id, row.at_ms, rebuilt.body, rebuilt.hash, 0, row.seq)
            )
            previous = rebuilt.hash
        _replace_journal(alliance, rewritten)
        report = alliance.verify_ledger()
        assert (report.ok, report.entries, report.first_bad_seq) == (False, 0, 1)

        # ...and a journal cut short below a signed checkpoint is named by it
        _replace_journal(alliance, original[:2])
        report = alliance.verify_ledger(trusted_keys=trusted)
        assert (report.ok, report.reason) == (False, "entries signed in a checkpoint are missing")
        # or, without checkpoints, against the head the host kept
        head = original[-1]
        report = alliance.verify_ledger(expect_head=(head.seq, head.hash))
        assert not report.ok

        _replace_journal(alliance, original)
        stranger = {"ops-2026": Ed25519PrivateKey.generate().public_key()}
        report = alliance.verify_ledger(trusted_keys=stranger)
        assert (report.ok, report.reason) == (False, "a checkpoint's signature is not valid")


def test_signed_statements_verify_with_the_public_key_alone(clock: FakeClock) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from affiliate_sdk.commission.checkpoints import SignedStatement

    key = Ed25519PrivateKey.generate()
    with Alliance.open(keys={"k1": SECRET}, clock=clock) as alliance:
        alliance.add_campaign(make_campaign())
        _sell(alliance, "o1", "100.00")
        [signed] = alliance.signed_statements(
            start=START - timedelta(days=1),
            end=START + timedelta(days=1),
            signing_key=key,
            key_id="ops",
        )
    received = SignedStatement.model_validate_json(signed.model_dump_json())
    assert received.verify(key.public_key())
    assert received.statement.earned == Money("10.00", "CNY")
    forged = received.model_copy(
        update={
            "statement": received.statement.model_copy(update={"earned": Money("99.00", "CNY")})
        }
    )
    assert not forged.verify(key.public_key())
    assert not received.verify(Ed25519PrivateKey.generate().public_key())


def test_platform_take_precedence_plan_then_merchant_then_default(clock: FakeClock) -> None:
    with Alliance.open(keys={"k1": SECRET}, clock=clock, platform_take="20%") as alliance:
        alliance.add_campaign(make_campaign())
        alliance.add_campaign(
            make_campaign(
                "c2", plan=CommissionPlan.model_validate({"rate": "10%", "platform_take": "50%"})
            )
        )
        _sell(alliance, "default", "100.00")
        alliance.add_merchant(Merchant(merchant_id="m1", platform_take="5%"))
        _sell(alliance, "merchant", "100.00")
        link = alliance.create_link(
            affiliate_id="a1", campaign_id="c2", landing_url="https://shop.example.com/"
        )
        click = alliance.track_click(link, ip="203.0.113.7", user_agent=HUMAN_UA)
        alliance.record_order(
            Order(order_id="plan", merchant_id="m1", total=Money("100.00", "CNY")),
            click_id=click.click_id,
        )
        takes = {c.order_id: c.amount for c in alliance.commissions() if c.account == "platform"}
        assert takes == {
            "default": Money("2.00", "CNY"),
            "merchant": Money("0.50", "CNY"),
            "plan": Money("5.00", "CNY"),
        }


def test_payout_exports(taking: Alliance, clock: FakeClock) -> None:
    from affiliate_sdk.commission.settlement import payouts_csv, payouts_json

    _sell(taking, "o1", "100.00")
    _sell(taking, "o2", "50.00", affiliate="a2")
    clock.advance(timedelta(days=32))
    taking.approve_due()
    clock.advance(timedelta(days=1))
    batches = taking.pay_approved(run_id="2026-04-03")
    assert taking.payouts(run_id="2026-04-03") == batches
    lines = payouts_csv(batches).splitlines()
    assert lines[0] == "payout_id,affiliate_id,currency,amount,lines,created_at"
    assert [line.split(",")[1:5] for line in lines[1:]] == [
        ["a1", "CNY", "8.00", "1"],
        ["a2", "CNY", "4.00", "1"],
    ]
    exported = json.loads(payouts_json(batches))
    assert [(b["affiliate_id"], b["amount"]) for b in exported] == [
        ("a1", {"amount": "8.00", "currency": "CNY"}),
        ("a2", {"amount": "4.00", "currency": "CNY"}),
    ]
    taking.close()


def test_checkpoints_are_signed_every_n_entries_when_a_key_is_configured(clock: FakeClock) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    with Alliance.open(
        keys={"k1": SECRET}, clock=clock, checkpoint_key=("ops", key), checkpoint_every=2
    ) as alliance:
        alliance.add_campaign(make_campaign())
        for n in range(5):
            _sell(alliance, f"o{n}", "10.00")
        with alliance.store.reader() as tx:
            assert [c.seq for c in tx.journal.checkpoints()] == [2, 4]
        assert alliance.verify_ledger(trusted_keys={"ops": key.public_key()}).ok
    with pytest.raises(InvalidInput, match="checkpoint_every"):
        Alliance.open(keys={"k1": SECRET}, checkpoint_every=0)
