"""Internal records the stores persist. Tuples, so the click path stays cheap."""

from __future__ import annotations

from typing import NamedTuple

from affiliate_sdk.tracking.clicks import ClickRow as ClickRecord

from .rows import OutboxRow

__all__ = ["ClickRecord", "OrderRecord", "OutboxRow", "RefundRecord"]


class OrderRecord(NamedTuple):
    """A recorded order, its content fingerprint and the outcome to replay."""

    merchant_id: str
    order_id: str
    fingerprint: str
    currency: str
    total_minor: int
    refunded_minor: int
    placed_at_ms: int
    created_at_ms: int
    ip_hash: str | None
    ip_network: str | None
    outcome_json: str


class RefundRecord(NamedTuple):
    """A booked refund and the outcome to replay on a retry."""

    merchant_id: str
    order_id: str
    refund_id: str
    amount_minor: int
    created_at_ms: int
    outcome_json: str
