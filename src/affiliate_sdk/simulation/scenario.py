"""Scenarios: what a simulated alliance looks like, as data.

A ``Scenario`` names the population (merchants, campaigns, affiliates,
visitors and their journeys), the rates that shape honest traffic and the
fraud actors mixed in. ``PRESETS`` holds the named ones; any field can be
changed with ``scenario.model_copy(update=...)`` or by loading JSON.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["FRAUD_KINDS", "PRESETS", "FraudActor", "FraudKind", "Peak", "Scenario"]

FraudKind = Literal[
    "crawler",
    "headless",
    "datacenter",
    "click_spam",
    "cookie_stuffing",
    "click_injection",
    "self_referral",
    "brushing",
    "coupon_leak",
    "duplicate_order",
]
#: Every fraud type the simulator can play, in the order the evaluation lists them.
FRAUD_KINDS: Final[tuple[FraudKind, ...]] = get_args(FraudKind)


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FraudActor(_Data):
    """Fraudsters of one kind: how many, and how much each does per day.

    ``volume`` is clicks per actor per day for the click kinds (crawler,
    headless, datacenter, click_spam, cookie_stuffing) and orders per actor
    per day for the order kinds (click_injection, self_referral, brushing,
    coupon_leak, duplicate_order).
    """

    kind: FraudKind
    actors: int = Field(default=1, ge=1)
    volume: int = Field(ge=1)


class Peak(_Data):
    """A sales peak: honest traffic times ``multiplier`` for ``hours`` from ``start_hour``."""

    day: int = Field(default=0, ge=0)
    start_hour: int = Field(default=0, ge=0, le=23)
    hours: int = Field(default=2, ge=1, le=24)
    multiplier: float = Field(default=10.0, ge=1)


class Scenario(_Data):
    """A simulated alliance: population, honest behaviour and fraud, seeded."""

    name: str = "custom"
    seed: int = 1
    start: datetime = datetime(2026, 11, 9, tzinfo=UTC)
    days: int = Field(default=3, ge=1, le=60)
    merchants: int = Field(default=20, ge=1)
    affiliates: int = Field(default=150, ge=1)
    journeys_per_day: int = Field(default=20_000, ge=1)
    max_touches: int = Field(default=3, ge=1, le=10)
    conversion_rate: float = Field(default=0.02, gt=0, le=1)
    organic_orders_per_day: int = Field(default=400, ge=0)
    order_value_median: float = Field(default=60.0, gt=0)
    order_value_sigma: float = Field(default=0.8, ge=0)
    refund_rate: float = Field(default=0.07, ge=0, le=1)
    conversion_minutes_median: float = Field(default=45.0, gt=0)
    conversion_sigma: float = Field(default=1.6, ge=0)
    coupon_share: float = Field(default=0.1, ge=0, le=1)
    travel_share: float = Field(default=0.01, ge=0, le=1)
    vpn_share: float = Field(default=0.02, ge=0, le=1)
    carrier_share: float = Field(default=0.3, ge=0, le=1)
    peak: Peak | None = None
    fraud: tuple[FraudActor, ...] = ()
    store: Literal["memory", "sqlite"] = "memory"

    def with_seed(self, seed: int) -> Scenario:
        return self.model_copy(update={"seed": seed})


_DEFAULT_FRAUD: Final = (
    FraudActor(kind="crawler", actors=3, volume=1500),
    FraudActor(kind="headless", actors=2, volume=800),
    FraudActor(kind="datacenter", actors=2, volume=1000),
    FraudActor(kind="click_spam", actors=2, volume=30_000),
    FraudActor(kind="cookie_stuffing", actors=2, volume=8000),
    FraudActor(kind="click_injection", actors=2, volume=15),
    FraudActor(kind="self_referral", actors=3, volume=2),
    FraudActor(kind="brushing", actors=2, volume=15),
    FraudActor(kind="coupon_leak", actors=2, volume=10),
    FraudActor(kind="duplicate_order", actors=2, volume=5),
)

#: Named scenarios: ``default`` (three ordinary days), ``singles_day`` (a midnight
#: peak at ten times the traffic), ``fraud_heavy`` (three times the fraud),
#: ``honest`` (no fraud) and ``small`` (a quick one for tests).
PRESETS: Final[dict[str, Scenario]] = {
    "default": Scenario(name="default", fraud=_DEFAULT_FRAUD),
    "singles_day": Scenario(
        name="singles_day",
        start=datetime(2026, 11, 10, tzinfo=UTC),
        days=2,
        peak=Peak(day=1, start_hour=0, hours=2, multiplier=10.0),
        fraud=_DEFAULT_FRAUD,
    ),
    "fraud_heavy": Scenario(
        name="fraud_heavy",
        fraud=tuple(a.model_copy(update={"actors": a.actors * 3}) for a in _DEFAULT_FRAUD),
    ),
    "honest": Scenario(name="honest"),
    "small": Scenario(
        name="small",
        days=1,
        merchants=4,
        affiliates=20,
        journeys_per_day=1500,
        organic_orders_per_day=40,
        fraud=(
            FraudActor(kind="crawler", volume=100),
            FraudActor(kind="headless", volume=50),
            FraudActor(kind="datacenter", volume=80),
            FraudActor(kind="click_spam", volume=3000),
            FraudActor(kind="cookie_stuffing", volume=2500),
            FraudActor(kind="click_injection", volume=4),
            FraudActor(kind="self_referral", volume=2),
            FraudActor(kind="brushing", volume=8),
            FraudActor(kind="coupon_leak", volume=3),
            FraudActor(kind="duplicate_order", volume=3),
        ),
    ),
}
