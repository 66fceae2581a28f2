"""Scoring a simulation: what the fraud engine caught, per fraud type and overall.

Clicks count as caught when judged ``block`` or ``review``. An order's
commission value is what its affiliate would have earned with nothing
withheld (the campaign's rate times the order total); the value *stopped* is
that minus what was booked payable, so a blocked order, a frozen commission
and an order whose fraudulent click did not count all stop their value. For
honest orders the same difference is the value wrongly withheld.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Final, Protocol

from pydantic import BaseModel, ConfigDict

from .scenario import FRAUD_KINDS

__all__ = ["TARGETS", "Evaluation", "KindFigures", "Played", "Tally", "evaluate", "render_runs"]

HONEST: Final = ("legit", "organic")
#: The targets the evaluation checks: fraud value stopped at least, honest value withheld
#: and honest clicks blocked at most.
TARGETS: Final = {
    "fraud_value_stopped": 0.95,
    "legit_value_withheld": 0.01,
    "legit_clicks_blocked": 0.001,
}


class _OrderTally:
    __slots__ = ("blocked", "codes", "count", "frozen", "nominal", "paid", "reviewed")

    def __init__(self) -> None:
        self.count = self.blocked = self.reviewed = 0
        self.nominal = self.paid = self.frozen = Decimal(0)
        self.codes: Counter[str] = Counter()


class Tally:
    """What the run saw, per label (filled in by the runner)."""

    def __init__(self) -> None:
        self.clicks: Counter[tuple[str, str]] = Counter()
        self.orders: defaultdict[str, _OrderTally] = defaultdict(_OrderTally)
        self.refunds: Counter[str] = Counter()
        self.click_codes: defaultdict[str, Counter[str]] = defaultdict(Counter)

    def click(self, label: str, decision: str, codes: list[str]) -> None:
        self.clicks[(label, decision)] += 1
        if decision != "allow":
            self.click_codes[label].update(codes)

    def order(
        self,
        label: str,
        *,
        decision: str,
        nominal: Decimal,
        paid: Decimal,
        frozen: Decimal,
        codes: list[str],
    ) -> None:
        tally = self.orders[label]
        tally.count += 1
        tally.blocked += decision == "block"
        tally.reviewed += decision == "review"
        tally.nominal += nominal
        tally.paid += paid
        tally.frozen += frozen
        if decision != "allow":
            tally.codes.update(codes)

    def add(self, other: Tally) -> None:
        """Add ``other``'s counts to these (the tally of several runs)."""
        self.clicks.update(other.clicks)
        self.refunds.update(other.refunds)
        for label, codes in other.click_codes.items():
            self.click_codes[label].update(codes)
        for label, theirs in other.orders.items():
            mine = self.orders[label]
            mine.count += theirs.count
            mine.blocked += theirs.blocked
            mine.reviewed += theirs.reviewed
            mine.nominal += theirs.nominal
            mine.paid += theirs.paid
            mine.frozen += theirs.frozen
            mine.codes.update(theirs.codes)

    @property
    def events(self) -> int:
        orders = sum(t.count for t in self.orders.values())
        return sum(self.clicks.values()) + orders + sum(self.refunds.values())


class _Figures(BaseModel):
    model_config = ConfigDict(frozen=True)


class KindFigures(_Figures):
    """One label's figures: ``legit``, ``organic`` or a fraud type."""

    label: str
    clicks: int
    clicks_blocked: int
    clicks_reviewed: int
    orders: int
    orders_blocked: int
    orders_reviewed: int
    refunds: int
    commission: Decimal
    commission_paid: Decimal
    commission_frozen: Decimal
    commission_stopped: Decimal
    top_reasons: list[str]

    @property
    def clicks_caught(self) -> float | None:
        return _share(self.clicks_blocked + self.clicks_reviewed, self.clicks)

    @property
    def value_stopped(self) -> float | None:
        return _share(self.commission_stopped, self.commission)


class Evaluation(_Figures):
    """The evaluation table's figures (``model_dump_json()`` is the ``--json`` output)."""

    scenario: str
    seed: int
    store: str
    events: int
    seconds: float
    events_per_second: float
    kinds: list[KindFigures]
    fraud_click_recall: float | None
    fraud_click_precision: float | None
    fraud_value_recall: float | None
    fraud_value_precision: float | None
    legit_clicks_blocked: float | None
    legit_value_frozen: float | None
    legit_value_withheld: float | None
    targets_met: dict[str, bool]

    def render(self) -> str:
        """The evaluation as a text table."""
        head = (
            f"{'type':<16} {'clicks':>8} {'caught':>8} {'orders':>7} {'blocked':>7} "
            f"{'frozen':>7} {'commission':>11} {'stopped':>8}  main reason"
        )
        lines = [
            f"scenario {self.scenario}, seed {self.seed}, {self.store}: {self.events:,} events "
            f"in {self.seconds:.1f} s ({self.events_per_second:,.0f} events/s)",
            "",
            head,
            "-" * len(head),
        ]
        for kind in self.kinds:
            lines.append(
                f"{kind.label:<16} {kind.clicks:>8,} {_pct(kind.clicks_caught):>8} "
                f"{kind.orders:>7,} {kind.orders_blocked:>7,} {kind.orders_reviewed:>7,} "
                f"{kind.commission:>11,.2f} {_pct(kind.value_stopped):>8}  "
                f"{', '.join(kind.top_reasons[:2])}"
            )
        lines += [
            "",
            f"fraud clicks caught (recall)      {_pct(self.fraud_click_recall):>8}   "
            f"precision {_pct(self.fraud_click_precision)}",
            f"fraud commission stopped (recall) {_pct(self.fraud_value_recall):>8}   "
            f"precision {_pct(self.fraud_value_precision)}   target >= 95%: "
            f"{_met(self.targets_met['fraud_value_stopped'])}",
            f"honest commission frozen          {_pct(self.legit_value_frozen):>8}",
            f"honest commission withheld        {_pct(self.legit_value_withheld):>8}   "
            f"target <= 1%: {_met(self.targets_met['legit_value_withheld'])}",
            f"honest clicks blocked             {_pct(self.legit_clicks_blocked, 3):>8}   "
            f"target <= 0.1%: {_met(self.targets_met['legit_clicks_blocked'])}",
        ]
        return "\n".join(lines)


class Played(Protocol):
    """What the evaluation names of what was played (a ``Scenario`` or a ``PackRun``)."""

    @property
    def name(self) -> str: ...
    @property
    def seed(self) -> int: ...
    @property
    def store(self) -> str: ...


def evaluate(
    scenario: Played,
    tally: Tally,
    *,
    seconds: float,
    fraud_kinds: Sequence[str] = FRAUD_KINDS,
) -> Evaluation:
    """The figures of a finished run; fraud labels listed in the order of ``fraud_kinds``."""
    labels = [*HONEST, *(k for k in fraud_kinds if _seen(tally, k))]
    kinds = [_kind(tally, label) for label in labels]
    fraud = [k for k in kinds if k.label not in HONEST]
    legit = next(k for k in kinds if k.label == "legit")
    honest_clicks = sum(k.clicks for k in kinds if k.label in HONEST)
    honest_blocked = sum(k.clicks_blocked for k in kinds if k.label in HONEST)
    honest_flagged = sum(k.clicks_blocked + k.clicks_reviewed for k in kinds if k.label in HONEST)
    fraud_flagged = sum(k.clicks_blocked + k.clicks_reviewed for k in fraud)
    fraud_value = sum((k.commission for k in fraud), Decimal(0))
    fraud_stopped = sum((k.commission_stopped for k in fraud), Decimal(0))
    withheld = sum((k.commission_stopped for k in kinds if k.label in HONEST), Decimal(0))
    figures = {
        "fraud_click_recall": _share(fraud_flagged, sum(k.clicks for k in fraud)),
        "fraud_click_precision": _share(fraud_flagged, fraud_flagged + honest_flagged),
        "fraud_value_recall": _share(fraud_stopped, fraud_value),
        "fraud_value_precision": _share(fraud_stopped, fraud_stopped + withheld),
        "legit_clicks_blocked": _share(honest_blocked, honest_clicks),
        "legit_value_frozen": _share(legit.commission_frozen, legit.commission),
        "legit_value_withheld": _share(withheld, legit.commission),
    }
    targets = {
        "fraud_value_stopped": (figures["fraud_value_recall"] or 0.0)
        >= TARGETS["fraud_value_stopped"],
        "legit_value_withheld": (figures["legit_value_withheld"] or 0.0)
        <= TARGETS["legit_value_withheld"],
        "legit_clicks_blocked": (figures["legit_clicks_blocked"] or 0.0)
        <= TARGETS["legit_clicks_blocked"],
    }
    events = tally.events
    return Evaluation(
        scenario=scenario.name,
        seed=scenario.seed,
        store=scenario.store,
        events=events,
        seconds=round(seconds, 3),
        events_per_second=round(events / seconds, 1) if seconds > 0 else 0.0,
        kinds=kinds,
        targets_met=targets,
        **figures,
    )


def render_runs(each: Sequence[Evaluation], together: Evaluation) -> str:
    """A line per run (its three target figures) and the table of all runs together."""
    head = (
        f"{'run':<32} {'events':>9} {'fraud stopped':>14} {'honest withheld':>16} "
        f"{'honest clicks blocked':>22}  targets"
    )
    lines = [head, "-" * len(head)]
    for run in each:
        met = "met" if all(run.targets_met.values()) else "MISSED"
        lines.append(
            f"{run.scenario:<32} {run.events:>9,} {_pct(run.fraud_value_recall):>14} "
            f"{_pct(run.legit_value_withheld):>16} {_pct(run.legit_clicks_blocked, 3):>22}  {met}"
        )
    return "\n".join([*lines, "", together.render()])


def _seen(tally: Tally, label: str) -> bool:
    return label in tally.orders or any(lab == label for lab, _ in tally.clicks)


def _kind(tally: Tally, label: str) -> KindFigures:
    orders = tally.orders.get(label) or _OrderTally()
    click_decisions = {d: n for (lab, d), n in tally.clicks.items() if lab == label}
    stopped = max(orders.nominal - orders.paid, Decimal(0))
    return KindFigures(
        label=label,
        clicks=sum(click_decisions.values()),
        clicks_blocked=click_decisions.get("block", 0),
        clicks_reviewed=click_decisions.get("review", 0),
        orders=orders.count,
        orders_blocked=orders.blocked,
        orders_reviewed=orders.reviewed,
        refunds=tally.refunds[label],
        commission=orders.nominal,
        commission_paid=orders.paid,
        commission_frozen=orders.frozen,
        commission_stopped=stopped,
        top_reasons=[code for code, _ in orders.codes.most_common(3)]
        or [code for code, _ in tally.click_codes[label].most_common(3)],
    )


def _share(part: float | Decimal, whole: float | Decimal) -> float | None:
    return None if not whole else round(float(part) / float(whole), 6)


def _pct(value: float | None, places: int = 1) -> str:
    return "-" if value is None else f"{value * 100:.{places}f}%"


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"
