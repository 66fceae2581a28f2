"""The adversary pack: its split, its traffic's shapes, and a small run played through."""

from __future__ import annotations

import ipaddress
from collections import defaultdict

import pytest

from affiliate_sdk.cli import main
from affiliate_sdk.simulation import HELD_OUT, PACK_KINDS, SPENT, TUNING, PackRun, render_runs
from affiliate_sdk.simulation.adversaries import RENTED, VPN_EXITS, pack_traffic
from affiliate_sdk.simulation.pack import HONEST_MIXES, VARIATIONS
from affiliate_sdk.simulation.runner import simulate_runs


def test_held_out_runs_share_no_seed_variation_or_honest_mix_with_the_others() -> None:
    splits = {"tuning": TUNING, "spent": SPENT, "held_out": HELD_OUT}
    seeds = {name: {r.seed for r in split} for name, split in splits.items()}
    mixes = {name: {r.honest for r in split} for name, split in splits.items()}
    kinds = {name: {v.name for r in split for v in r.fraud} for name, split in splits.items()}
    for one, other in (("tuning", "spent"), ("tuning", "held_out"), ("spent", "held_out")):
        assert seeds[one].isdisjoint(seeds[other])
        assert mixes[one].isdisjoint(mixes[other])
        assert kinds[one].isdisjoint(kinds[other])
    for run in (*TUNING, *SPENT, *HELD_OUT):
        assert tuple(v.kind for v in run.fraud) == PACK_KINDS  # every kind in every run
    # every variation and honest mix is played by one split or another
    assert set().union(*kinds.values()) == {v.name for vs in VARIATIONS.values() for v in vs}
    assert set().union(*mixes.values()) == set(HONEST_MIXES)


def _small(run: PackRun, share: int = 40) -> PackRun:
    """``run`` over one day, with 1/``share`` of its honest journeys and fraud volumes."""
    honest = run.honest.model_copy(
        update={"journeys_per_day": run.honest.journeys_per_day // share}
    )
    fraud = tuple(v.model_copy(update={"volume": max(2, v.volume // share)}) for v in run.fraud)
    return run.model_copy(update={"days": 1, "honest": honest, "fraud": fraud})


def _in_rented(ip: str) -> bool:
    return any(
        ip.startswith(f"{prefix}{':' if ':' in prefix else '.'}")
        for prefixes in RENTED.values()
        for prefix in prefixes
    )


def test_traffic_is_seeded_and_each_kind_leaves_its_shape() -> None:
    run = _small(TUNING[0], share=10)
    traffic = pack_traffic(run)
    assert traffic.events == pack_traffic(run).events
    assert traffic.events != pack_traffic(run.model_copy(update={"seed": 99})).events
    assert [e.at_ms for e in traffic.events] == sorted(e.at_ms for e in traffic.events)
    by_label: dict[str, set[str]] = defaultdict(set)
    for event in traffic.events:
        if event.kind == "click":
            by_label[event.label].add(event.ip or "")
    farm = next(v for v in run.fraud if v.kind == "click_farm")
    assert len(by_label["click_farm"]) <= farm.addresses  # one line, however many clicks
    assert all(_in_rented(ip) for ip in by_label["datacenter"])
    assert not any(_in_rented(ip) for ip in by_label["legit"])
    assert not any(ip.startswith(VPN_EXITS) for ip in by_label["datacenter"])
    injected: dict[str, int] = {}
    for event in traffic.events:
        if event.label == "click_injection" and event.kind == "click":
            injected[event.visitor_id or ""] = event.at_ms
        if event.label == "click_injection" and event.kind == "order":
            low, high = next(v.delay_s for v in run.fraud if v.kind == "click_injection")
            gap = (event.at_ms - injected[event.visitor_id or ""]) / 1000
            assert low <= gap <= high


def test_rented_blocks_are_public_unicast_addresses() -> None:
    for prefixes in RENTED.values():
        for prefix in prefixes:
            sample = f"{prefix}::1" if ":" in prefix else f"{prefix}.1.1"
            address = ipaddress.ip_address(sample)
            assert address.is_global, sample


def test_a_small_run_plays_on_a_plain_alliance_and_its_figures_add_up() -> None:
    run = _small(TUNING[0])
    each, together = simulate_runs((run,))
    (only,) = each
    by_label = {kind.label: kind for kind in only.kinds}
    events = pack_traffic(run).events
    assert only.events == len(events)
    clicks = sum(1 for e in events if e.kind == "click" and e.label == "declared_bot")
    assert by_label["declared_bot"].clicks == clicks
    assert by_label["declared_bot"].clicks_caught == 1.0  # user agents alone give them away
    legit = by_label["legit"]
    assert legit.orders > 0 and legit.commission > 0
    assert together.events == only.events
    assert together.fraud_value_recall == only.fraud_value_recall
    table = render_runs(each, together)
    assert run.name in table and "fraud commission stopped" in table


def test_the_cli_names_the_runs_of_a_split(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--pack", "held_out", "--run", "nope", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert all(run.name in err for run in HELD_OUT)
