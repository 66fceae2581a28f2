"""Hostile input to ``record_order`` (the ``Order`` built from it included).

An order is booked or refused with an ``AffiliateError``; a refused order leaves
order totals, commission lines, the journal and every fraud counter as they were;
a booked one books no negative commission; the same ids again book nothing more.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from affiliate_sdk import AffiliateError, Alliance, LineItem, Money, Order, OrderOutcome

from ._state import check, snapshot
from ._world import HUMAN_UA, alliance, clicked, ordered
from .strategies import (
    HOSTILE,
    SLOW,
    amounts,
    datetimes,
    identifiers,
    ints,
    ips,
    strings,
    texts,
    variants,
)

_item = st.fixed_dictionaries(
    {"sku": texts("sku-1"), "unit_price": amounts(), "quantity": ints()},
    optional={"category": texts("books")},
)

#: ``Order`` fields, amounts as ``(amount, currency)`` pairs (the ``Money`` is built in
#: the call under test).
order_specs = variants(
    {"order_id": "o-hostile", "merchant_id": "m1", "total": ("199.00", "CNY")},
    {
        "order_id": texts("o-hostile"),
        "merchant_id": identifiers("m1"),
        "total": amounts(),
        "items": st.lists(_item, max_size=3),
        "customer_id": texts("cust-1"),
        "customer_email": texts("Buyer@Example.com"),
        "customer_phone": texts("+1 555 0100"),
        "payment_fingerprint": texts("card-1"),
        "new_customer": st.booleans(),
        "coupon_codes": st.lists(texts("SPRING"), max_size=2),
        "country": st.one_of(st.just("DE"), strings(3)),
        "placed_at": datetimes(),
        "shipping": amounts(),
        "tax": amounts(),
        "discount": amounts(),
        "subscription_id": texts("sub-1"),
        "renewal": ints(),
    },
    most=4,
)

#: The other arguments of ``record_order``; a visitor of ``None`` means the real one.
call_specs = st.fixed_dictionaries(
    {
        "visitor_id": st.one_of(st.none(), identifiers("visitor-0001")),
        "click_id": st.one_of(st.none(), identifiers("click-0001")),
        "ip": st.one_of(st.none(), ips()),
        "user_agent": st.one_of(st.none(), st.just(HUMAN_UA), strings()),
    }
)

_MONEY_FIELDS = ("total", "shipping", "tax", "discount")


def build_order(spec: dict[str, Any]) -> Order:
    """The ``Order`` a host would build from ``spec`` (``InvalidInput`` and friends if bad)."""
    fields = dict(spec)
    for name in _MONEY_FIELDS:
        if name in fields:
            fields[name] = Money(*fields[name])
    if "items" in fields:
        fields["items"] = [
            LineItem(**{**item, "unit_price": Money(*item["unit_price"])})
            for item in fields["items"]
        ]
    return Order(**fields)


def assert_books_no_negative_commission(outcome: OrderOutcome) -> None:
    for line in outcome.commissions:
        assert line.kind == "commission", line
        assert line.amount.amount >= 0, f"a negative commission was booked: {line.amount}"
        assert line.amount.currency == outcome.total.currency or line.fx_rate is not None


def _record(a: Alliance, visitor: str, order: dict[str, Any], call: dict[str, Any]) -> None:
    def record() -> OrderOutcome:
        return a.record_order(
            build_order(order),
            visitor_id=call["visitor_id"] or visitor,
            click_id=call["click_id"],
            ip=call["ip"],
            user_agent=call["user_agent"],
        )

    outcome = check(a, record)
    if isinstance(outcome, OrderOutcome):
        assert_books_no_negative_commission(outcome)
        assert a.commissions(merchant_id=outcome.merchant_id, order_id=outcome.order_id) == (
            outcome.commissions
        )


@HOSTILE
@given(order=order_specs, call=call_specs)
def test_record_order_books_or_raises_typed_and_a_refusal_changes_nothing(
    order: dict[str, Any], call: dict[str, Any]
) -> None:
    with alliance() as a:
        visitor = clicked(a).visitor_id
        ordered(a, "o-seed", visitor)
        _record(a, visitor, order, call)


_db = itertools.count()


@settings(
    SLOW, suppress_health_check=[*SLOW.suppress_health_check, HealthCheck.function_scoped_fixture]
)
@example(
    order={
        "order_id": "o-hostile",
        "merchant_id": "m1",
        "total": ("99999999999999999.9999", "CLF"),
    },
    call={"visitor_id": None, "click_id": None, "ip": None, "user_agent": None},
)
@given(order=order_specs, call=call_specs)
def test_record_order_on_sqlite_books_or_raises_typed_and_a_refusal_changes_nothing(
    tmp_path: Path, order: dict[str, Any], call: dict[str, Any]
) -> None:
    with alliance(f"sqlite:///{tmp_path / f'orders-{next(_db)}.db'}") as a:
        visitor = clicked(a).visitor_id
        ordered(a, "o-seed", visitor)
        _record(a, visitor, order, call)


@HOSTILE
@given(order=order_specs, call=call_specs)
def test_the_same_order_ids_again_book_nothing_more(
    order: dict[str, Any], call: dict[str, Any]
) -> None:
    with alliance() as a:
        visitor = clicked(a).visitor_id
        first = ordered(a, "o1", visitor)
        again = {**order, "order_id": "o1", "merchant_id": "m1"}
        before = snapshot(a)

        def record() -> OrderOutcome:
            return a.record_order(
                build_order(again),
                visitor_id=call["visitor_id"] or visitor,
                click_id=call["click_id"],
                ip=call["ip"],
                user_agent=call["user_agent"],
            )

        outcome = check(a, record)
        assert snapshot(a) == before, "recording o1 again changed the books"
        if not isinstance(outcome, AffiliateError):
            assert outcome.commissions == first.commissions


@HOSTILE
@given(
    quantity=ints(min_value=1),
    price=amounts(),
    total=amounts(),
)
def test_item_arithmetic_books_or_raises_typed(
    quantity: int, price: tuple[Decimal | int | str, str], total: tuple[Decimal | int | str, str]
) -> None:
    """Huge quantities times prices near the 10^18 bound: booked in range, or refused."""
    with alliance() as a:
        visitor = clicked(a).visitor_id
        spec = {
            "order_id": "o-big",
            "merchant_id": "m1",
            "total": total,
            "items": [{"sku": "sku-1", "unit_price": price, "quantity": quantity}],
        }
        _record(
            a, visitor, spec, {"visitor_id": None, "click_id": None, "ip": None, "user_agent": None}
        )
