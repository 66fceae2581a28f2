"""The simulator: deterministic labelled traffic, a real alliance played through, the evaluation."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from affiliate_sdk.cli import main
from affiliate_sdk.simulation import FRAUD_KINDS, PRESETS, Evaluation, Scenario, generate, simulate
from affiliate_sdk.simulation.runner import networks
from affiliate_sdk.simulation.traffic import CARRIER_PREFIXES, HOME_PREFIXES

SMALL = PRESETS["small"]


def test_the_same_seed_gives_the_same_events_and_another_seed_others() -> None:
    first, again = generate(SMALL), generate(SMALL)
    assert first.events == again.events
    assert first.campaigns == again.campaigns
    other = generate(SMALL.with_seed(2))
    assert other.events != first.events


def test_events_are_in_time_order_inside_the_scenario_and_labelled() -> None:
    traffic = generate(SMALL)
    start = int(SMALL.start.timestamp() * 1000)
    end = start + SMALL.days * 86_400_000
    times = [event.at_ms for event in traffic.events]
    assert times == sorted(times)
    assert start <= times[0] and times[-1] < end
    labels = {event.label for event in traffic.events}
    assert labels == {"legit", "organic", *FRAUD_KINDS}


def test_fraud_actors_leave_their_signatures() -> None:
    traffic = generate(SMALL)
    clicks: dict[str, list[int]] = defaultdict(list)
    for event in traffic.events:
        if event.kind == "click" and event.label == "click_injection":
            clicks[event.visitor_id or ""].append(event.at_ms)
        if event.kind == "click" and event.label == "crawler":
            assert event.visitor_id is None and event.user_agent
        if event.kind == "click" and event.label == "datacenter":
            assert networks().kind(event.ip or "") == "datacenter"
    injected = [e for e in traffic.events if e.kind == "order" and e.label == "click_injection"]
    assert injected
    for order in injected:
        gap = order.at_ms - clicks[order.visitor_id or ""][-1]
        assert 1_000 <= gap < 9_000  # seconds before the purchase
    leaked = [e for e in traffic.events if e.kind == "order" and e.label == "coupon_leak"]
    assert leaked and all(e.coupon for e in leaked)


def test_honest_visitors_never_come_from_known_datacenters() -> None:
    kinds = networks()
    for prefix in (*HOME_PREFIXES, *CARRIER_PREFIXES):
        for third in (0, 77, 255):
            assert kinds.kind(f"{prefix}.{third}.1") is None, prefix


def test_a_run_is_deterministic_and_its_figures_add_up() -> None:
    first, again = simulate(SMALL), simulate(SMALL)
    volatile = {"seconds", "events_per_second"}
    assert first.model_dump(exclude=volatile) == again.model_dump(exclude=volatile)
    by_label = {kind.label: kind for kind in first.kinds}
    traffic = generate(SMALL)
    assert first.events == len(traffic.events)
    assert by_label["crawler"].clicks_caught == 1.0
    assert by_label["datacenter"].clicks_caught == 1.0
    assert by_label["self_referral"].value_stopped == 1.0
    assert by_label["click_injection"].value_stopped == 1.0
    assert first.legit_clicks_blocked == 0.0
    legit = by_label["legit"]
    assert legit.commission > 0 and legit.commission_paid == legit.commission
    assert first.targets_met["legit_clicks_blocked"] is True
    assert "fraud commission stopped" in first.render()


def test_sqlite_gives_the_same_figures_as_memory() -> None:
    tiny = SMALL.model_copy(update={"journeys_per_day": 400, "organic_orders_per_day": 10})
    memory = simulate(tiny)
    sqlite = simulate(tiny.model_copy(update={"store": "sqlite"}))
    volatile = {"seconds", "events_per_second", "store"}
    assert memory.model_dump(exclude=volatile) == sqlite.model_dump(exclude=volatile)


def test_progress_is_reported() -> None:
    seen: list[tuple[int, int]] = []
    tiny = SMALL.model_copy(update={"journeys_per_day": 200, "fraud": ()})
    simulate(tiny, progress=lambda done, total: seen.append((done, total)), every=100)
    assert seen and seen[-1][0] == seen[-1][1]
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_the_command_prints_json_and_reads_scenario_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tiny = SMALL.model_copy(update={"journeys_per_day": 300, "name": "tiny"})
    path = tmp_path / "tiny.json"
    path.write_text(tiny.model_dump_json())
    assert main(["simulate", "--scenario", str(path), "--seed", "3", "--json", "--quiet"]) == 0
    figures = Evaluation.model_validate(json.loads(capsys.readouterr().out))
    assert figures.scenario == "tiny" and figures.seed == 3
    assert main(["simulate", "--scenario", "nonesuch", "--quiet"]) == 2
    assert "presets" in capsys.readouterr().err
    path.write_text('{"days": 0}')
    assert main(["simulate", "--scenario", str(path), "--quiet"]) == 2


def test_scenarios_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="conversion_rate"):
        Scenario(conversion_rate=2)
    with pytest.raises(ValueError, match="kind"):
        Scenario.model_validate({"fraud": [{"kind": "teleport", "volume": 1}]})
