"""Well-typed hostile input gets a typed error naming what is wrong, on every store.

Lone surrogates (``"\\ud800"``: a ``str`` no codec encodes) in any string of the public
API, naive datetimes, empty or malformed periods and out-of-range spans used to escape as
``UnicodeEncodeError``, ``TypeError``, ``ValueError`` or ``OverflowError`` from deep in
the hashing, the SQLite driver or the calendar.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from affiliate_sdk import (
    Affiliate,
    Alliance,
    ConfigurationError,
    FraudThresholds,
    InvalidInput,
    Money,
    Order,
)
from affiliate_sdk.testing import FakeClock

from ..conftest import HUMAN_UA, SECRET, STORE_KINDS, make_campaign, store_url_for

S = "\ud800"
START = datetime(2026, 3, 1, 12, tzinfo=UTC)
NAIVE = datetime(2026, 3, 1, 12)


class World:
    """An alliance with a campaign, a click and an order that booked commission."""

    def __init__(self, alliance: Alliance) -> None:
        self.alliance = alliance
        self.url = alliance.create_link(
            affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/p"
        )
        click = alliance.track_click(self.url, ip="203.0.113.7", user_agent=HUMAN_UA)
        self.visitor = click.visitor_id
        clock = alliance.clock
        assert isinstance(clock, FakeClock)
        clock.advance(timedelta(minutes=2))
        order = Order(order_id="o1", merchant_id="m1", total=Money("100.00", "CNY"))
        outcome = alliance.record_order(order, visitor_id=self.visitor)
        self.entry_id = outcome.commissions[0].entry_id


@pytest.fixture(params=[kind for kind in STORE_KINDS if kind != "sqlite-immediate"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    url = store_url_for(request.param, tmp_path)
    with Alliance.open(url, keys={"k1": SECRET}, clock=FakeClock(START)) as alliance:
        alliance.add_campaign(make_campaign())
        yield World(alliance)


Call = Callable[[World], object]


def _click(**changes: object) -> Call:
    def call(w: World) -> object:
        arguments: dict[str, object] = {"ip": "203.0.113.9", "user_agent": HUMAN_UA}
        return w.alliance.track_click(w.url, **{**arguments, **changes})  # type: ignore[arg-type]

    return call


def _order(**changes: object) -> Call:
    order = Order(order_id="o2", merchant_id="m1", total=Money("10.00", "CNY"))
    return lambda w: w.alliance.record_order(order, **changes)  # type: ignore[arg-type]


SURROGATES: dict[str, tuple[str, Call]] = {
    "click user agent": ("user_agent", _click(user_agent=S)),
    "click long user agent": ("user_agent", _click(user_agent="x" * 600 + S)),
    "click referrer": ("referrer", _click(referrer=f"https://{S}.example/")),
    "click visitor": ("visitor_id", _click(visitor_id=S * 10)),
    "click ip": ("ip", _click(ip=S)),
    "click country": ("country", _click(country=S)),
    "impression user agent": (
        "user_agent",
        lambda w: w.alliance.track_impression(w.url, visitor_id=w.visitor, user_agent=S),
    ),
    "order visitor": ("visitor_id", _order(visitor_id=S)),
    "order click": ("click_id", _order(click_id=S)),
    "order user agent": ("user_agent", _order(user_agent=S)),
    "link campaign": (
        "campaign_id",
        lambda w: w.alliance.create_link(
            affiliate_id="a1", campaign_id=S, landing_url="https://shop.example.com/"
        ),
    ),
    "link merchant": (
        "merchant_id",
        lambda w: w.alliance.create_link(
            affiliate_id="a1",
            campaign_id="c1",
            merchant_id=S,
            landing_url="https://shop.example.com/",
        ),
    ),
    "campaign": ("campaign_id", lambda w: w.alliance.campaign(S)),
    "campaigns": ("merchant_id", lambda w: w.alliance.campaigns(merchant_id=S)),
    "plan versions": ("campaign_id", lambda w: w.alliance.plan_versions(S, merchant_id="m1")),
    "affiliate": ("affiliate_id", lambda w: w.alliance.affiliate(S)),
    "coupon campaign": (
        "campaign_id",
        lambda w: w.alliance.assign_coupon("SAVE", affiliate_id="a1", campaign_id=S),
    ),
    "refund": ("order_id", lambda w: w.alliance.refund("m1", S)),
    "merchant order": ("order_id", lambda w: w.alliance.merchant("m1").order(S)),
    "commissions order": ("order_id", lambda w: w.alliance.commissions(order_id=S)),
    "commissions affiliate": ("affiliate_id", lambda w: w.alliance.commissions(affiliate_id=S)),
    "commissions merchant": ("merchant_id", lambda w: w.alliance.commissions(merchant_id=S)),
    "statements": (
        "affiliate_id",
        lambda w: w.alliance.statements(start=START, end=START, affiliate_id=S),
    ),
    "payouts": ("run_id", lambda w: w.alliance.payouts(run_id=S)),
    "review queue": ("merchant_id", lambda w: w.alliance.review_queue(merchant_id=S)),
    "approve due": ("merchant_id", lambda w: w.alliance.approve_due(merchant_id=S)),
    "approve": ("entry_id", lambda w: w.alliance.approve([w.entry_id, S])),
    "freeze": ("reason", lambda w: w.alliance.freeze([w.entry_id], reason=S)),
    "close period": ("campaign_id", lambda w: w.alliance.close_period(S, "2026-03")),
    "settle clicks": (
        "campaign_id",
        lambda w: w.alliance.settle_clicks(S, start=START, end=START + timedelta(hours=1)),
    ),
    "impressions": (
        "campaign_id",
        lambda w: w.alliance.record_impressions(S, affiliate_id="a1", count=1, batch_id="b1"),
    ),
    "blacklist device": (
        "value",
        lambda w: w.alliance.blacklist("device", f"d{S}", reason="fraud"),
    ),
    "blacklist reason": (
        "reason",
        lambda w: w.alliance.blacklist("device", "device-1", reason=S),
    ),
    "blacklist payment": (
        "value",
        lambda w: w.alliance.blacklist("payment", f"card{S}", reason="fraud"),
    ),
    "complaint": ("reason", lambda w: w.alliance.complain(reason=S, affiliate_id="a1")),
    "identity email": ("email", lambda w: w.alliance.identity_hashes(email=f"{S}@example.com")),
    "identity device": ("device", lambda w: w.alliance.identity_hashes(device=S)),
    "enforce": ("reason", lambda w: w.alliance.enforce("a1", "warn", reason=S)),
    "enforcements": ("affiliate_id", lambda w: w.alliance.enforcements(S)),
}


@pytest.mark.parametrize("case", sorted(SURROGATES))
def test_lone_surrogates_are_refused_naming_the_field(world: World, case: str) -> None:
    field, call = SURROGATES[case]
    with pytest.raises(InvalidInput, match=field):
        call(world)


def test_a_hostile_referrer_does_not_break_the_clicks_after_it(world: World) -> None:
    with pytest.raises(InvalidInput, match="referrer"):
        _click(referrer=f"https://ref.example/{S}")(world)
    for _ in range(3):  # with batched writes, a bad row used to fail the next submitter
        _click(referrer="https://ref.example/ok")(world)
    world.alliance.close()  # the writer's last batch is written without error


def test_a_non_text_visitor_id_is_refused_but_another_shape_is_a_new_visitor(
    world: World,
) -> None:
    click = world.alliance.track_click(
        world.url, ip=None, user_agent=HUMAN_UA, visitor_id="not a visitor id: é"
    )
    assert click.visitor_id != "not a visitor id: é"


def _signed_statements(w: World) -> object:
    key = Ed25519PrivateKey.generate()
    return w.alliance.signed_statements(start=START, end=NAIVE, signing_key=key, key_id="ck1")


@pytest.mark.parametrize(
    ("case", "call"),
    [
        ("statements", lambda w: w.alliance.statements(start=NAIVE, end=START)),
        ("signed statements", _signed_statements),
        ("invoices", lambda w: w.alliance.invoices(start=NAIVE, end=START)),
        ("merchant invoices", lambda w: w.alliance.merchant("m1").invoices(start=NAIVE, end=START)),
        ("reconcile", lambda w: w.alliance.reconcile(start=START, end=NAIVE)),
        ("approve due", lambda w: w.alliance.approve_due(NAIVE)),
        ("pay approved", lambda w: w.alliance.pay_approved(run_id="r1", now=NAIVE)),
    ],
)
def test_naive_datetimes_are_refused(world: World, case: str, call: Call) -> None:
    with pytest.raises(InvalidInput, match="timezone-aware"):
        call(world)


@pytest.mark.parametrize(
    "period", ["", " ", "2026-3", "2026-13", "2026-00", "2026-Q5", "2026x03", "0000", S, "٢٠٢٦"]
)
def test_close_period_refuses_what_is_no_period(world: World, period: str) -> None:
    with pytest.raises(InvalidInput, match="period"):
        world.alliance.close_period("c1", period)


def test_close_period_refuses_a_period_outside_the_calendar(world: World) -> None:
    with pytest.raises(InvalidInput, match="outside the calendar"):
        world.alliance.close_period("c1", "9999-12")
    assert world.alliance.close_period("c1", "2026-Q1") == []


def test_payouts_survive_an_approval_at_the_end_of_time(world: World) -> None:
    latest = datetime.max.replace(tzinfo=UTC)
    assert [line.entry_id for line in world.alliance.approve_due(latest)] == [world.entry_id]
    # approved at 9999-12-31: a day later does not exist, and nothing is payable yet
    assert world.alliance.pay_approved(run_id="r1", settle_after=timedelta.max) == []
    with pytest.raises(InvalidInput, match="settle_after"):
        world.alliance.pay_approved(run_id="r2", settle_after=timedelta(days=-1))
    paid = world.alliance.pay_approved(run_id="r3", now=latest, settle_after=timedelta(0))
    assert [batch.entry_ids for batch in paid] == [[world.entry_id]]


def test_a_link_cannot_outlive_the_calendar(world: World) -> None:
    with pytest.raises(InvalidInput, match="expires_in"):
        world.alliance.create_link(
            affiliate_id="a1",
            campaign_id="c1",
            landing_url="https://shop.example.com/",
            expires_in=timedelta(days=3_000_000),
        )


def test_models_refuse_lone_surrogates_in_their_string_fields() -> None:
    with pytest.raises(InvalidInput, match=r"identity\.0"):
        Affiliate(affiliate_id="a1", identity=[f"email:{S}"])
    with pytest.raises(InvalidInput, match="block_network_kinds"):
        FraudThresholds(block_network_kinds={S})
    fields = {"order_id": "o1", "merchant_id": "m1", "total": Money("1.00", "CNY")}
    for field in ("order_id", "merchant_id", "customer_id", "customer_email", "customer_phone"):
        with pytest.raises(InvalidInput, match=field):
            Order(**{**fields, field: S})


def test_opening_refuses_a_store_url_or_redirect_base_that_is_not_text(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="url"):
        Alliance.open(f"sqlite:///{tmp_path}/{S}.db", keys={"k1": SECRET})
    with pytest.raises(ConfigurationError, match="redirect_base"):
        Alliance.open(keys={"k1": SECRET}, redirect_base=f"https://go.example/{S}")
