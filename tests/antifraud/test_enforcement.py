"""Three-level enforcement: warn, freeze, expel."""

from __future__ import annotations

from datetime import timedelta

import pytest

from affiliate_sdk import Alliance, InvalidInput, Money, Order
from affiliate_sdk.testing import FakeClock

from ..conftest import HUMAN_UA, SECRET, make_campaign


def _sale(alliance: Alliance, clock: FakeClock, order_id: str, affiliate: str = "a1") -> None:
    link = alliance.create_link(
        affiliate_id=affiliate, campaign_id="c1", landing_url="https://shop.example.com/"
    )
    click = alliance.track_click(link, ip=f"10.9.{len(order_id)}.1", user_agent=HUMAN_UA)
    clock.advance(timedelta(minutes=5))
    alliance.record_order(
        Order(order_id=order_id, merchant_id="m1", total=Money("50.00", "CNY")),
        click_id=click.click_id,
    )


def test_warn_freeze_expel(clock: FakeClock) -> None:
    with Alliance.open("memory://", keys={"k1": SECRET}, clock=clock) as alliance:
        alliance.add_campaign(make_campaign(rate="10%"))
        _sale(alliance, clock, "o1")
        _sale(alliance, clock, "o22", affiliate="a2")
        warned = alliance.enforce("a1", "warn", reason="brand bidding")
        assert (warned.level, warned.steps, warned.frozen) == ("warn", 1, [])
        assert {line.status for line in alliance.commissions(affiliate_id="a1")} == {"pending"}

        frozen = alliance.enforce("a1", "freeze", reason="second offence")
        a1_lines = alliance.commissions(affiliate_id="a1")
        assert frozen.steps == 2
        assert set(frozen.frozen) == {line.entry_id for line in a1_lines}
        assert {line.status for line in a1_lines} == {"frozen"}
        assert all("freeze: second offence" in (line.reason or "") for line in a1_lines)
        assert {line.status for line in alliance.commissions(affiliate_id="a2")} == {"pending"}

        _sale(alliance, clock, "o333")
        expelled = alliance.enforce("a1", "expel", reason="fake orders")
        assert expelled.steps == 3 and len(expelled.frozen) == 1
        assert "expelled: fake orders" in alliance.blacklisted()["affiliate:a1"]
        link = alliance.create_link(
            affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
        )
        click = alliance.track_click(link, ip="203.0.113.50", user_agent=HUMAN_UA)
        assert click.verdict.decision == "block"
        assert [e.level for e in alliance.enforcements("a1")] == ["warn", "freeze", "expel"]
        assert alliance.verify_ledger().ok
        with pytest.raises(InvalidInput, match="level"):
            alliance.enforce("a1", "shame", reason="x")  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="reason"):
            alliance.enforce("a1", "warn", reason=" ")
