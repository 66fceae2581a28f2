"""What the contract suites share: row builders, rollback checks, awkward ids."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final

import pytest

from affiliate_sdk.commission.checkpoints import Checkpoint
from affiliate_sdk.commission.plans import CommissionPlan
from affiliate_sdk.models import Campaign, Commission, Enforcement, PayoutBatch, PlanVersion
from affiliate_sdk.money import Money
from affiliate_sdk.storage.contract import Store, UnitOfWork
from affiliate_sdk.storage.rows import (
    ClickRow,
    DeliveryLogRow,
    ImpressionRow,
    JournalRow,
    LineMeasures,
    LineRow,
    OrderRow,
    OutboxRow,
    RefundRow,
)

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


#: Ids that trip backends which escape, pattern-match or collate keys.
EDGE_IDS: Final = ("o/1", "o%2F1", "o%", "o_1", "\uffff", "o\U0001f600", " ", "o1 ")


class _Boom(Exception):
    """Raised inside a unit of work to roll it back."""


def _rolled_back(store: Store, write: Callable[[UnitOfWork], object]) -> None:
    """Run ``write`` in a unit of work that then raises: nothing it wrote may remain."""
    with pytest.raises(_Boom):
        _write_then_fail(store, write)


def _write_then_fail(store: Store, write: Callable[[UnitOfWork], object]) -> None:
    with store.transaction() as tx:
        write(tx)
        raise _Boom


def _at(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def _campaign(merchant_id: str = "m1", campaign_id: str = "c1", rate: str = "10%") -> Campaign:
    return Campaign(
        campaign_id=campaign_id,
        merchant_id=merchant_id,
        plan=CommissionPlan(rate=rate),
        landing_domains=["shop.example.com"],
    )


def _plan(campaign_id: str, version: int, rate: str = "10%") -> PlanVersion:
    return PlanVersion(
        campaign_id=campaign_id,
        version=version,
        effective_from=_at(1_000 * version),
        plan=CommissionPlan(rate=rate),
    )


def _click(
    click_id: str,
    at_ms: int,
    *,
    merchant_id: str = "m1",
    visitor_id: str = "v1",
    link_id: str = "l1",
    affiliate_id: str = "a1",
    campaign_id: str = "c1",
    decision: str = "allow",
) -> ClickRow:
    return ClickRow(
        click_id=click_id,
        visitor_id=visitor_id,
        link_id=link_id,
        affiliate_id=affiliate_id,
        campaign_id=campaign_id,
        merchant_id=merchant_id,
        landing_url="https://shop.example.com/p/1",
        sub_fields=b"\x00sub1=spring",
        clicked_at_ms=at_ms,
        ip_hash="iphash",
        ip_network="203.0.113.0/24",
        ua_hash=None,
        referrer_host=None,
        decision=decision,
        verdict_json='{"decision":"allow"}',
        country="CN",
    )


def _impression(
    impression_id: str, at_ms: int, *, merchant_id: str = "m1", visitor_id: str = "v1"
) -> ImpressionRow:
    return ImpressionRow(impression_id, merchant_id, visitor_id, "a1", "c1", at_ms)


def _order(merchant_id: str = "m1", order_id: str = "o1", total: int = 19_900) -> OrderRow:
    return OrderRow(
        merchant_id=merchant_id,
        order_id=order_id,
        fingerprint="f" * 64,
        currency="CNY",
        total_minor=total,
        refunded_minor=0,
        placed_at_ms=5_000,
        created_at_ms=5_001,
        ip_hash=None,
        ip_network=None,
        outcome_json='{"ok":true}',
        seq=3,
    )


def _refund(
    merchant_id: str = "m1", order_id: str = "o1", refund_id: str = "r1", amount: int = 500
) -> RefundRow:
    return RefundRow(merchant_id, order_id, refund_id, amount, 6_000, '{"refund":1}')


def _line(
    entry_id: str,
    *,
    event_id: str | None = None,
    merchant_id: str = "m1",
    order_id: str = "o1",
    affiliate_id: str = "a1",
    status: str = "pending",
    account: str = "affiliate",
    created_ms: int = 10_000,
    hold_ms: int | None = None,
    amount: str = "1.99",
    seq: int = 1,
) -> LineRow:
    line = Commission.model_validate(
        {
            "entry_id": entry_id,
            "event_id": event_id if event_id is not None else f"ev-{entry_id}",
            "merchant_id": merchant_id,
            "order_id": order_id,
            "campaign_id": "c1",
            "affiliate_id": affiliate_id,
            "click_id": None,
            "account": account,
            "kind": "commission",
            "amount": Money(amount, "CNY"),
            "status": status,
            "rate": Decimal("0.01"),
            "basis": Money("199.00", "CNY"),
            "created_at": _at(created_ms),
            "hold_until": None if hold_ms is None else _at(hold_ms),
        }
    )
    measures = LineMeasures(tier_key="t/m1/2026-01", tier_measure=Decimal("199.00"))
    return LineRow(line, measures, seq)


def _with_status(row: LineRow, status: str, seq: int) -> LineRow:
    return LineRow(row.line.model_copy(update={"status": status}), row.measures, seq)


def _ids(rows: list[LineRow]) -> list[str]:
    return [row.line.entry_id for row in rows]


def _payout(payout_id: str, affiliate_id: str, amount: str = "10.00") -> PayoutBatch:
    return PayoutBatch(
        payout_id=payout_id,
        affiliate_id=affiliate_id,
        amount=Money(amount, "CNY"),
        entry_ids=[f"e-{payout_id}"],
        created_at=_at(50_000),
    )


def _entry(
    seq: int, at_ms: int, event_id: str | None = None, *, chain: int = 0, pos: int | None = None
) -> JournalRow:
    return JournalRow(
        seq=seq,
        event_id=event_id if event_id is not None else f"j{seq}",
        at_ms=at_ms,
        body=b'{"seq":%d}' % seq,
        hash=bytes([seq % 256]) * 32,
        chain=chain,
        pos=seq if pos is None else pos,
    )


def _checkpoint(seq: int) -> Checkpoint:
    return Checkpoint(
        seq=seq, hash="ab" * 32, at=_at(seq * 1_000), key_id="k1", signature="cd" * 64
    )


def _event(event_id: str, created_at_ms: int, type_: str = "commission.created") -> OutboxRow:
    return OutboxRow(0, event_id, type_, created_at_ms, f'{{"id":"{event_id}"}}')


def _enforcement(affiliate_id: str, steps: int, level: str = "warn") -> Enforcement:
    return Enforcement.model_validate(
        {
            "affiliate_id": affiliate_id,
            "level": level,
            "reason": f"step {steps}",
            "at": _at(steps * 1_000),
            "steps": steps,
        }
    )


def _attempt(seq: int, event_id: str, attempt: int) -> DeliveryLogRow:
    return DeliveryLogRow(
        seq, event_id, "commission.created", attempt, 1_000 + attempt, 500, None, 12.5, 4, "k1:0f"
    )
