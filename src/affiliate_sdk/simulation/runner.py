"""Drive a real ``Alliance`` with a scenario's traffic and score what its fraud engine decided."""

from __future__ import annotations

import functools
import hashlib
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from affiliate_sdk.alliance import Alliance
from affiliate_sdk.antifraud.networks import NetworkKinds
from affiliate_sdk.commission.plans import CommissionPlan
from affiliate_sdk.errors import InvalidInput
from affiliate_sdk.models import Affiliate, Campaign, Commission, Order, OrderOutcome
from affiliate_sdk.money import Money
from affiliate_sdk.testing import FakeClock
from affiliate_sdk.tracking.clicks import Click

from .adversaries import CAMPAIGN, PackTraffic, pack_traffic
from .evaluation import Evaluation, Tally, evaluate
from .pack import PACK_KINDS, PackRun
from .scenario import Scenario
from .traffic import DATACENTER_RANGES, VPN_RANGES, CampaignSpec, Event, Traffic, generate

__all__ = ["Progress", "networks", "play_run", "simulate", "simulate_runs"]

#: Called now and then with (events done, events in all).
Progress = Callable[[int, int], None]
_CURRENCY = "USD"
_CENT = Decimal("0.01")


@functools.cache
def networks() -> NetworkKinds:
    """The ranges the simulated host knows: its VPN and datacenter lists, plus the bundled
    cloud ranges when the ``networks`` extra is installed."""
    own = {"vpn": VPN_RANGES, "datacenter": DATACENTER_RANGES}
    try:
        return NetworkKinds.bundled(own)
    except InvalidInput:
        return NetworkKinds(own)


def simulate(
    scenario: Scenario,
    *,
    progress: Progress | None = None,
    every: int = 10_000,
    directory: Path | None = None,
) -> Evaluation:
    """Generate the scenario's traffic, play it through an ``Alliance`` and evaluate it.

    The alliance's store is ``memory://`` or, for ``store="sqlite"``, a new
    SQLite file in ``directory`` (a temporary one by default).
    """
    traffic = generate(scenario)
    started = time.perf_counter()
    if scenario.store == "sqlite":
        with tempfile.TemporaryDirectory(dir=directory) as tmp:
            tally = _play(
                traffic, scenario, f"sqlite:///{Path(tmp) / 'simulation.db'}", progress, every
            )
    else:
        tally = _play(traffic, scenario, "memory://", progress, every)
    return evaluate(scenario, tally, seconds=time.perf_counter() - started)


def play_run(
    run: PackRun,
    *,
    progress: Progress | None = None,
    every: int = 10_000,
    directory: Path | None = None,
) -> Tally:
    """Play one run of the adversary pack through an alliance opened as a new user opens
    one: the run's store, a key, one CPS campaign, nothing else configured."""
    traffic = pack_traffic(run)
    if run.store == "sqlite":
        with tempfile.TemporaryDirectory(dir=directory) as tmp:
            url = f"sqlite:///{Path(tmp) / 'pack.db'}"
            return _play_pack(traffic, url, progress, every)
    return _play_pack(traffic, "memory://", progress, every)


def simulate_runs(
    runs: tuple[PackRun, ...], *, progress: Progress | None = None, directory: Path | None = None
) -> tuple[list[Evaluation], Evaluation]:
    """Each run's evaluation, and the evaluation of all of them together."""
    each: list[Evaluation] = []
    together = Tally()
    started = time.perf_counter()
    for run in runs:
        began = time.perf_counter()
        tally = play_run(run, progress=progress, directory=directory)
        each.append(_pack_evaluation(run, tally, time.perf_counter() - began))
        together.add(tally)
    whole = PackRun(name=f"{len(runs)} runs", seed=0, honest=runs[0].honest, fraud=())
    return each, _pack_evaluation(whole, together, time.perf_counter() - started)


def _pack_evaluation(run: PackRun, tally: Tally, seconds: float) -> Evaluation:
    return evaluate(run, tally, seconds=seconds, fraud_kinds=PACK_KINDS)


def _play_pack(traffic: PackTraffic, url: str, progress: Progress | None, every: int) -> Tally:
    run = traffic.run
    clock = FakeClock(run.start)
    key = hashlib.sha256(f"pack/{run.seed}".encode()).digest()
    tally = Tally()
    with Alliance.open(url, keys={"k1": key}, clock=clock) as alliance:
        alliance.add_campaign(
            Campaign(
                campaign_id=CAMPAIGN.campaign_id,
                merchant_id=CAMPAIGN.merchant_id,
                plan=CommissionPlan(rate=CAMPAIGN.rate),
                landing_domains=[CAMPAIGN.domain],
            )
        )
        for affiliate, code in traffic.coupons.items():
            alliance.assign_coupon(code, affiliate_id=affiliate, campaign_id=CAMPAIGN.campaign_id)
        for affiliate, (email, card, home) in traffic.identities.items():
            hashes = alliance.identity_hashes(email=email, payment=card, ip=home)
            alliance.add_affiliate(Affiliate(affiliate_id=affiliate, identity=hashes))
        _play_devices(alliance, traffic, clock=clock, tally=tally, progress=progress, every=every)
    return tally


def _play_devices(
    alliance: Alliance,
    traffic: PackTraffic,
    *,
    clock: FakeClock,
    tally: Tally,
    progress: Progress | None,
    every: int,
) -> None:
    """The events, device by device: a device that keeps cookies sends back the visitor id
    it was given; one that does not, the click id of its last click (the landing URL's)."""
    links: dict[tuple[str, str], str] = {}
    cookies: dict[str, str] = {}
    last_click: dict[str, str] = {}
    orders: list[tuple[str, OrderOutcome, Decimal]] = []
    total = len(traffic.events)
    for done, event in enumerate(traffic.events, 1):
        clock.set(datetime.fromtimestamp(event.at_ms / 1000, UTC))
        device = event.visitor_id
        if event.kind == "click":
            visitor = cookies.get(device) if device else None
            click = _track(alliance, links, event, CAMPAIGN, visitor_id=visitor)
            if device is not None:
                if device not in traffic.cookieless:
                    cookies[device] = click.visitor_id
                last_click[device] = click.click_id
            codes = [r.code for r in click.verdict.reasons]
            tally.click(event.label, click.verdict.decision, codes)
        elif event.kind == "order":
            visitor = cookies.get(device) if device else None
            click_id = None if visitor or device is None else last_click.get(device)
            booked = _record(alliance, event, CAMPAIGN, visitor_id=visitor, click_id=click_id)
            orders.append((event.label, *booked))
        else:
            assert event.order_id is not None
            alliance.refund(CAMPAIGN.merchant_id, event.order_id)
            tally.refunds[event.label] += 1
        if progress is not None and (done % every == 0 or done == total):
            progress(done, total)
    # judged as the lines stand at the end: a source flagged later froze its earlier orders
    lines: dict[str, list[Commission]] = {}
    for line in alliance.commissions(merchant_id=CAMPAIGN.merchant_id):
        lines.setdefault(line.order_id, []).append(line)
    for label, outcome, nominal in orders:
        _tally_order(tally, label, outcome, nominal, lines.get(outcome.order_id, ()))


def _play(
    traffic: Traffic, scenario: Scenario, url: str, progress: Progress | None, every: int
) -> Tally:
    clock = FakeClock(scenario.start)
    key = hashlib.sha256(f"simulation/{scenario.seed}".encode()).digest()
    tally = Tally()
    with Alliance.open(url, keys={"sim": key}, clock=clock, networks=networks()) as alliance:
        for spec in traffic.campaigns:
            alliance.add_campaign(
                Campaign(
                    campaign_id=spec.campaign_id,
                    merchant_id=spec.merchant_id,
                    plan=CommissionPlan(rate=spec.rate),
                    landing_domains=[spec.domain],
                    country=spec.country,
                )
            )
        for (affiliate, index), code in traffic.coupons.items():
            alliance.assign_coupon(
                code, affiliate_id=affiliate, campaign_id=traffic.campaigns[index].campaign_id
            )
        for affiliate, (email, card) in traffic.identities.items():
            alliance.add_affiliate(
                Affiliate(
                    affiliate_id=affiliate,
                    identity=alliance.identity_hashes(email=email, payment=card),
                )
            )
        links: dict[tuple[str, str], str] = {}
        total = len(traffic.events)
        for done, event in enumerate(traffic.events, 1):
            clock.set(datetime.fromtimestamp(event.at_ms / 1000, UTC))
            spec = traffic.campaigns[event.campaign]
            if event.kind == "click":
                click = _track(alliance, links, event, spec, visitor_id=event.visitor_id)
                verdict = click.verdict
                tally.click(event.label, verdict.decision, [r.code for r in verdict.reasons])
            elif event.kind == "order":
                _order(alliance, event, spec, tally, visitor_id=event.visitor_id)
            else:
                assert event.order_id is not None
                alliance.refund(spec.merchant_id, event.order_id)
                tally.refunds[event.label] += 1
            if progress is not None and (done % every == 0 or done == total):
                progress(done, total)
    return tally


def _track(
    alliance: Alliance,
    links: dict[tuple[str, str], str],
    event: Event,
    spec: CampaignSpec,
    *,
    visitor_id: str | None,
) -> Click:
    """Track the click of ``event`` on its affiliate's link of ``spec`` (made on first use)."""
    assert event.affiliate_id is not None
    key = (event.affiliate_id, spec.campaign_id)
    link = links.get(key)
    if link is None:
        link = links[key] = alliance.create_link(
            affiliate_id=event.affiliate_id,
            campaign_id=spec.campaign_id,
            landing_url=f"https://{spec.domain}/",
        )
    return alliance.track_click(
        link,
        ip=event.ip,
        user_agent=event.user_agent,
        referrer=event.referrer,
        visitor_id=visitor_id,
        country=event.country,
    )


def _order(
    alliance: Alliance,
    event: Event,
    spec: CampaignSpec,
    tally: Tally,
    *,
    visitor_id: str | None = None,
    click_id: str | None = None,
) -> None:
    """Record the order of ``event`` (through ``visitor_id``'s or ``click_id``'s click) and
    tally what it earned against what it would have."""
    outcome, nominal = _record(alliance, event, spec, visitor_id=visitor_id, click_id=click_id)
    _tally_order(tally, event.label, outcome, nominal, outcome.commissions)


def _record(
    alliance: Alliance,
    event: Event,
    spec: CampaignSpec,
    *,
    visitor_id: str | None,
    click_id: str | None,
) -> tuple[OrderOutcome, Decimal]:
    """Record the order of ``event``; its outcome, and what it would earn its affiliate
    with nothing withheld."""
    assert event.order_id is not None
    total = Money(Decimal(event.amount_cents) / 100, _CURRENCY)
    order = Order(
        merchant_id=spec.merchant_id,
        order_id=event.order_id,
        total=total,
        items=[{"sku": event.sku or "sku", "unit_price": total}],
        customer_id=event.customer,
        customer_email=event.email,
        payment_fingerprint=event.payment,
        coupon_codes=[event.coupon] if event.coupon else [],
        country=event.country,
    )
    outcome = alliance.record_order(
        order,
        visitor_id=visitor_id,
        click_id=click_id,
        ip=event.ip,
        user_agent=event.user_agent,
    )
    nominal = Decimal(0)
    if event.affiliate_id is not None:
        nominal = (total.amount * spec.rate).quantize(_CENT)
    return outcome, nominal


def _tally_order(
    tally: Tally,
    label: str,
    outcome: OrderOutcome,
    nominal: Decimal,
    lines: Iterable[Commission],
) -> None:
    """Tally an order by its affiliate lines as they stand: frozen or rejected is stopped."""
    paid = frozen = Decimal(0)
    for line in lines:
        if line.account != "affiliate" or line.kind != "commission":
            continue
        if line.status in ("frozen", "rejected"):
            frozen += line.amount.amount
        else:
            paid += line.amount.amount
    tally.order(
        label,
        decision=outcome.verdict.decision,
        nominal=nominal,
        paid=paid,
        frozen=frozen,
        codes=[reason.code for reason in outcome.verdict.reasons],
    )
