"""The events the alliance publishes, as versioned pydantic models. Pure.

Every state change writes its events to the outbox in the same transaction
(see ``Store.add_events``), so no event is lost or invented when a process
dies in between. An event has a stable ``event_id`` (derived from the state
change, so it doubles as the receivers' idempotency key), a ``type``, a
``created_at``, a payload ``version`` and ``data`` of the type's model.
``event_schemas()`` gives each type's JSON Schema.

| type | data | when |
|---|---|---|
| ``click.attributed`` | ``ClickAttributed`` | an order credits a click (one per credited click) |
| ``order.attributed`` | ``OrderAttributed`` | an order is credited to one or more affiliates |
| ``commission.*`` | ``CommissionChanged`` | a ledger line is booked, approved, |
| | | frozen, released, rejected, reversed (refund, clawback) or paid |
| ``payout.batch_created`` | ``PayoutCreated`` | a payout run pays an affiliate |
| ``ledger.checkpoint`` | ``CheckpointSigned`` | the journal's head is signed |

The builders (``event_row``, ``commission_rows``, ``payout_row``, ``order_rows``,
``checkpoint_event``) make outbox rows of the storage contract from the
payload models themselves, so a body can only carry what its model declares.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Literal, get_args

from pydantic import BaseModel, ConfigDict
from pydantic_core import to_json

from affiliate_sdk.commission.checkpoints import ChainHead, Checkpoint
from affiliate_sdk.errors import InvalidInput
from affiliate_sdk.models import Commission, PayoutBatch
from affiliate_sdk.storage import rows as _rows
from affiliate_sdk.storage.rows import OutboxRow

__all__ = [
    "EVENT_TYPES",
    "EVENT_VERSION",
    "BudgetAlarm",
    "CheckpointSigned",
    "ClickAttributed",
    "CommissionChanged",
    "CreditData",
    "Event",
    "EventType",
    "OrderAttributed",
    "PayoutCreated",
    "checkpoint_event",
    "commission_changed",
    "commission_events",
    "commission_rows",
    "event_id",
    "event_row",
    "event_schemas",
    "order_events",
    "order_rows",
    "outbox_row",
    "payout_event",
    "payout_row",
]

EVENT_VERSION: Final = 1
EventType = Literal[
    "click.attributed",
    "order.attributed",
    "commission.booked",
    "commission.approved",
    "commission.frozen",
    "commission.released",
    "commission.rejected",
    "commission.reversed",
    "commission.paid",
    "payout.batch_created",
    "ledger.checkpoint",
    "campaign.budget_alarm",
]
EVENT_TYPES: Final[tuple[EventType, ...]] = get_args(EventType)
#: The ledger journal's entry kinds and the event each line of them makes.
_FROM_JOURNAL: Final[dict[str, EventType]] = {
    "commission.booked": "commission.booked",
    "commission.approved": "commission.approved",
    "commission.frozen": "commission.frozen",
    "commission.released": "commission.released",
    "commission.rejected": "commission.rejected",
    "commission.reversed": "commission.reversed",
    "commission.clawed_back": "commission.reversed",
    "payout": "commission.paid",
}


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CommissionChanged(_Data):
    """A ledger line as it is after the change (amounts as decimal strings)."""

    entry_id: str
    merchant_id: str
    order_id: str
    campaign_id: str
    affiliate_id: str
    click_id: str | None
    account: str
    kind: str
    amount: str
    currency: str
    status: str
    reason: str | None = None
    payout_id: str | None = None


class CreditData(_Data):
    affiliate_id: str
    campaign_id: str
    click_id: str | None
    weight: str
    signal: str


class OrderAttributed(_Data):
    merchant_id: str
    order_id: str
    total: str
    currency: str
    placed_at: datetime
    decision: str
    credits: list[CreditData]


class ClickAttributed(_Data):
    """One credited click, with what an affiliate's postback URL needs."""

    click_id: str
    affiliate_id: str
    campaign_id: str
    merchant_id: str
    order_id: str
    weight: str
    amount: str
    commission: str
    currency: str
    sub_ids: dict[str, str]


class PayoutCreated(_Data):
    payout_id: str
    affiliate_id: str
    amount: str
    currency: str
    entries: int


class CheckpointSigned(_Data):
    """Entry ``seq`` of the journal's chain ``chain`` has ``hash`` (and every other chain's
    head was as ``heads`` says), signed by key ``key_id`` at ``at``.

    Receivers who keep these can later prove the ledger was not rewritten
    behind them (``Checkpoint.model_validate(data).verify`` with the alliance's
    public key, and ``verify_ledger(expect_head=checkpoint)``).
    """

    seq: int
    hash: str
    at: datetime
    key_id: str
    signature: str
    chain: int = 0
    heads: list[ChainHead] = []


class BudgetAlarm(_Data):
    """A campaign's commission cost passed ``BUDGET_ALARM`` (120%) of its budget: ``cost``
    booked so far against ``budget`` (decimal strings, in ``currency``); ``paused`` when the
    campaign was paused for it (``Campaign.pause_over_budget``)."""

    merchant_id: str
    campaign_id: str
    budget: str
    cost: str
    currency: str
    paused: bool


_DATA: Final[dict[str, type[_Data]]] = {
    "campaign.budget_alarm": BudgetAlarm,
    "click.attributed": ClickAttributed,
    "order.attributed": OrderAttributed,
    "payout.batch_created": PayoutCreated,
    "ledger.checkpoint": CheckpointSigned,
    **{kind: CommissionChanged for kind in EVENT_TYPES if kind.startswith("commission.")},
}


class Event(_Data):
    """An event as subscribers receive it (the delivery's JSON body)."""

    event_id: str
    type: EventType
    version: int = EVENT_VERSION
    created_at: datetime
    data: dict[str, Any]

    def payload(self) -> _Data:
        """``data`` as its type's model."""
        return _DATA[self.type].model_validate(self.data)


def event_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of each event type's ``data``."""
    return {kind: _DATA[kind].model_json_schema() for kind in EVENT_TYPES}


def event_id(*parts: str) -> str:
    """A stable event id from what identifies the state change."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return f"evt_{digest[:32]}"


def outbox_row(
    event_type: EventType, key: str, at: datetime, data: _Data | Mapping[str, Any]
) -> OutboxRow:
    """An outbox row for ``data``, with an id derived from ``event_type`` and ``key``.

    The body is an ``Event`` in JSON, written directly (this runs inside every booking).
    """
    identifier = event_id(event_type, key)
    body = {
        "event_id": identifier,
        "type": event_type,
        "version": EVENT_VERSION,
        "created_at": _iso(at),
        "data": data.model_dump(mode="json") if isinstance(data, _Data) else data,
    }
    text = to_json(body).decode()
    return OutboxRow(0, identifier, event_type, int(at.timestamp() * 1000), text)


def commission_events(
    journal_kind: str, journal_event_id: str, lines: Sequence[Commission], at: datetime
) -> list[OutboxRow]:
    """The events of one journal entry: one per line it changed, and per payout its batch."""
    event_type = _FROM_JOURNAL.get(journal_kind)
    if event_type is None:
        return []
    rows = []
    for line in lines:
        if journal_kind == "commission.rejected" and line.kind == "reversal":
            continue  # the rejected line's own event says it
        # The fields of ``CommissionChanged``, from a validated ledger line.
        data = {
            "entry_id": line.entry_id,
            "merchant_id": line.merchant_id,
            "order_id": line.order_id,
            "campaign_id": line.campaign_id,
            "affiliate_id": line.affiliate_id,
            "click_id": line.click_id,
            "account": line.account,
            "kind": line.kind,
            "amount": str(line.amount.amount),
            "currency": line.amount.currency,
            "status": line.status,
            "reason": line.reason,
            "payout_id": line.payout_id,
        }
        rows.append(outbox_row(event_type, f"{journal_event_id}/{line.entry_id}", at, data))
    return rows


def payout_event(batch: PayoutBatch) -> OutboxRow:
    data = PayoutCreated(
        payout_id=batch.payout_id,
        affiliate_id=batch.affiliate_id,
        amount=str(batch.amount.amount),
        currency=batch.amount.currency,
        entries=len(batch.entry_ids),
    )
    return outbox_row("payout.batch_created", batch.payout_id, batch.created_at, data)


def order_events(
    *,
    merchant_id: str,
    order_id: str,
    total: tuple[str, str],
    placed_at: datetime,
    decision: str,
    credits: Iterable[tuple[Mapping[str, Any], Mapping[str, str]]],
    commissions: Mapping[str, str],
    at: datetime,
) -> list[OutboxRow]:
    """``order.attributed`` and one ``click.attributed`` per credited click.

    ``credits`` pairs each credit (the fields of ``CreditData``) with its
    click's sub-ids; ``commissions`` gives each affiliate's commission on the
    order (decimal strings). Bodies are built as plain data: this runs inside
    every booking, and the models above describe them.
    """
    amount, currency = total
    credit_list = list(credits)
    key = f"{merchant_id}/{order_id}"
    order = {
        "merchant_id": merchant_id,
        "order_id": order_id,
        "total": amount,
        "currency": currency,
        "placed_at": _iso(placed_at),
        "decision": decision,
        "credits": [dict(credit) for credit, _ in credit_list],
    }
    rows = [outbox_row("order.attributed", key, at, order)]
    for credit, sub_ids in credit_list:
        click_id = credit["click_id"]
        if click_id is None:
            continue
        click = {
            "click_id": click_id,
            "affiliate_id": credit["affiliate_id"],
            "campaign_id": credit["campaign_id"],
            "merchant_id": merchant_id,
            "order_id": order_id,
            "weight": credit["weight"],
            "amount": amount,
            "commission": commissions.get(credit["affiliate_id"], "0"),
            "currency": currency,
            "sub_ids": dict(sub_ids),
        }
        rows.append(outbox_row("click.attributed", f"{key}/{click_id}", at, click))
    return rows


# -- rows built from the payload models ---------------------------------------------------


def event_row(event_type: EventType, key: str, at: datetime, payload: _Data) -> _rows.OutboxRow:
    """An outbox row whose body is an ``Event`` made from ``payload``, its type's model.

    The id is derived from ``event_type`` and ``key`` (``event_id``), so writing
    the same state change again yields the same event. ``seq`` is 0: the
    outbox assigns it.
    """
    if not isinstance(payload, _DATA[event_type]):
        raise InvalidInput(f"{event_type} carries {_DATA[event_type].__name__} data")
    identifier = event_id(event_type, key)
    event = Event.model_construct(
        event_id=identifier,
        type=event_type,
        version=EVENT_VERSION,
        created_at=at,
        data=payload.model_dump(mode="json"),
    )
    return _rows.OutboxRow(
        0, identifier, event_type, int(at.timestamp() * 1000), event.model_dump_json()
    )


def commission_changed(line: Commission) -> CommissionChanged:
    """A ledger line as the ``commission.*`` events describe it (the line is validated)."""
    return CommissionChanged.model_construct(
        entry_id=line.entry_id,
        merchant_id=line.merchant_id,
        order_id=line.order_id,
        campaign_id=line.campaign_id,
        affiliate_id=line.affiliate_id,
        click_id=line.click_id,
        account=line.account,
        kind=line.kind,
        amount=str(line.amount.amount),
        currency=line.amount.currency,
        status=line.status,
        reason=line.reason,
        payout_id=line.payout_id,
    )


def commission_rows(
    journal_kind: str, journal_event_id: str, lines: Sequence[Commission], at: datetime
) -> list[_rows.OutboxRow]:
    """``commission_events`` built from ``CommissionChanged``: one row per changed line."""
    event_type = _FROM_JOURNAL.get(journal_kind)
    if event_type is None:
        return []
    return [
        event_row(event_type, f"{journal_event_id}/{line.entry_id}", at, commission_changed(line))
        for line in lines
        if not (journal_kind == "commission.rejected" and line.kind == "reversal")
    ]


def payout_row(batch: PayoutBatch) -> _rows.OutboxRow:
    """``payout.batch_created`` for a payout batch."""
    data = PayoutCreated.model_construct(
        payout_id=batch.payout_id,
        affiliate_id=batch.affiliate_id,
        amount=str(batch.amount.amount),
        currency=batch.amount.currency,
        entries=len(batch.entry_ids),
    )
    return event_row("payout.batch_created", batch.payout_id, batch.created_at, data)


def order_rows(
    order: OrderAttributed,
    clicks: Iterable[tuple[CreditData, Mapping[str, str]]],
    commissions: Mapping[str, str],
    *,
    at: datetime,
) -> list[_rows.OutboxRow]:
    """``order.attributed`` and one ``click.attributed`` per credited click.

    ``clicks`` pairs each credit that came from a click with the click's
    sub-ids; ``commissions`` gives each affiliate's commission on the order.
    """
    key = f"{order.merchant_id}/{order.order_id}"
    rows = [event_row("order.attributed", key, at, order)]
    for credit, sub_ids in clicks:
        if credit.click_id is None:
            continue
        click = ClickAttributed.model_construct(
            click_id=credit.click_id,
            affiliate_id=credit.affiliate_id,
            campaign_id=credit.campaign_id,
            merchant_id=order.merchant_id,
            order_id=order.order_id,
            weight=credit.weight,
            amount=order.total,
            commission=commissions.get(credit.affiliate_id, "0"),
            currency=order.currency,
            sub_ids=dict(sub_ids),
        )
        rows.append(event_row("click.attributed", f"{key}/{credit.click_id}", at, click))
    return rows


def checkpoint_event(checkpoint: Checkpoint) -> _rows.OutboxRow:
    """``ledger.checkpoint`` for a signed checkpoint of the journal."""
    data = CheckpointSigned.model_construct(
        seq=checkpoint.seq,
        hash=checkpoint.hash,
        at=checkpoint.at,
        key_id=checkpoint.key_id,
        signature=checkpoint.signature,
        chain=checkpoint.chain,
        heads=list(checkpoint.heads),
    )
    place = str(checkpoint.seq) if not checkpoint.chain else f"{checkpoint.chain}/{checkpoint.seq}"
    return event_row("ledger.checkpoint", place, checkpoint.at, data)


def _iso(at: datetime) -> str:
    """ISO 8601 as pydantic writes it (UTC as ``Z``)."""
    text = at.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
