"""Settlement: lifecycle, payouts, reports, the ledger's proofs, period closes and traffic."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ._alliance_base import (
    DEFAULT_SETTLE_AFTER,
    AllianceBase,
    _CampaignView,
    _event_id,
    _journal_length,
)
from ._validation import check_identifier
from .clock import from_timestamp
from .commission.calculator import COMMISSION_ROUNDING, split_commission
from .commission.checkpoints import Checkpoint, SignedStatement, sign_checkpoint, sign_statement
from .commission.ledger import (
    GENESIS_HASH,
    ChainProblem,
    Posting,
    affiliate_account,
    decode_entry,
    diagnose,
    verify_chain,
)
from .commission.lifecycle import EARNING_KINDS, from_merchant, live_amounts, move, to_merchant
from .commission.plans import CommissionPlan
from .commission.settlement import build_invoices, build_statements, reconcile_rows
from .commission.tiers import TierState, period_bounds
from .errors import CommissionStateError, InvalidInput, LedgerImbalance, UnknownCommission
from .ids import new_id
from .models import (
    Commission,
    CommissionStatus,
    Enforcement,
    Invoice,
    LedgerVerification,
    PayoutBatch,
    ReconciliationRow,
    Statement,
)
from .money import Money, sum_money
from .webhooks.events import payout_event

__all__ = ["SettlementMixin"]


class SettlementMixin(AllianceBase):
    """Settlement: lifecycle, payouts, reports, the ledger's proofs, period closes and traffic."""

    # -- lifecycle --------------------------------------------------------------------------------
    def approve_due(self, now: datetime | None = None) -> list[Commission]:
        """Approve every pending commission whose hold period has ended by ``now``."""
        at = now or self._clock.now()
        with self._store.transaction():
            due = [
                line
                for line in self._store.entries(status="pending")
                if line.kind in EARNING_KINDS and (line.hold_until is None or line.hold_until <= at)
            ]
            return self._transition(
                due, source="pending", target="approved", at=at, kind="commission.approved"
            )

    def approve(self, entry_ids: Iterable[str]) -> list[Commission]:
        """Approve pending commissions now, whatever their hold period; a reviewer
        approving frozen commissions clears and approves them in one step."""
        return self._by_hand(entry_ids, ("pending", "frozen"), "approved", "commission.approved")

    def enforce(
        self, affiliate_id: str, level: Literal["warn", "freeze", "expel"], *, reason: str
    ) -> Enforcement:
        """Warn, freeze or expel an affiliate (three levels, each doing what the lower do).

        Every step is recorded; ``enforcements(affiliate_id)`` lists them.
        Freezing holds all the affiliate's pending commission for review;
        expelling also blacklists the affiliate. Undo an expulsion by taking
        the affiliate off the blacklist; frozen lines are resolved with
        ``release`` or ``reject``.
        """
        check_identifier("affiliate_id", affiliate_id)
        if level not in ("warn", "freeze", "expel"):
            raise InvalidInput(f"level must be warn, freeze or expel, not {level!r}")
        if not reason.strip():
            raise InvalidInput("an enforcement needs a reason")
        now = self._clock.now()
        store = self._store
        with store.transaction():
            frozen: list[str] = []
            if level != "warn":
                pending = [
                    line.entry_id
                    for line in store.entries(affiliate_id=affiliate_id, status="pending")
                    if line.status == "pending" and line.affiliate_id == affiliate_id
                ]
                frozen = [
                    line.entry_id for line in self.freeze(pending, reason=f"{level}: {reason}")
                ]
            if level == "expel":
                self.blacklist("affiliate", affiliate_id, reason=f"expelled: {reason}")
            steps = 1 + len(store.records("enforcement", f"{affiliate_id}/"))
            step = Enforcement(
                affiliate_id=affiliate_id,
                level=level,
                reason=reason,
                at=now,
                steps=steps,
                frozen=frozen,
            )
            store.put_record("enforcement", f"{affiliate_id}/{steps:09d}", step.model_dump_json())
        return step

    def enforcements(self, affiliate_id: str) -> list[Enforcement]:
        """The enforcement steps taken against an affiliate, oldest first."""
        return [
            Enforcement.model_validate_json(data)
            for _, data in self._store.records("enforcement", f"{affiliate_id}/")
        ]

    def review_queue(self, *, merchant_id: str | None = None) -> list[Commission]:
        """Frozen commissions waiting for a reviewer, oldest first; each line's
        ``reason`` says why it was frozen. Resolve them with ``approve``, ``release`` or
        ``reject``."""
        return [
            line
            for line in self._store.entries(merchant_id=merchant_id, status="frozen")
            if line.status == "frozen"
        ]

    def freeze(self, entry_ids: Iterable[str], *, reason: str) -> list[Commission]:
        """Hold pending commissions for review: they cannot be approved or paid."""
        return self._by_hand(entry_ids, "pending", "frozen", "commission.frozen", reason)

    def release(self, entry_ids: Iterable[str]) -> list[Commission]:
        """Return frozen commissions to pending, where their hold period resumes."""
        return self._by_hand(entry_ids, "frozen", "pending", "commission.released")

    def reject(self, entry_ids: Iterable[str], *, reason: str) -> list[Commission]:
        """Reject frozen commissions: their money goes back to the merchant."""
        return self._by_hand(entry_ids, "frozen", "rejected", "commission.rejected", reason)

    def _by_hand(
        self,
        entry_ids: Iterable[str],
        source: CommissionStatus | tuple[CommissionStatus, ...],
        target: CommissionStatus,
        kind: str,
        reason: str | None = None,
    ) -> list[Commission]:
        """Move the lines from (one of) ``source`` to ``target``, all or none."""
        sources = (source,) if isinstance(source, str) else source
        wanted = list(dict.fromkeys(entry_ids))
        with self._store.transaction():
            found = {line.entry_id: line for line in self._lines(wanted)}
            missing = [entry_id for entry_id in wanted if entry_id not in found]
            if missing:
                raise UnknownCommission(missing[0])
            wrong = [line for line in found.values() if line.status not in sources]
            if wrong:
                raise CommissionStateError(wrong[0].entry_id, wrong[0].status, target)
            moved: dict[str, Commission] = {}
            at = self._clock.now()
            for status in sources:  # one journal entry per status the lines leave
                lines = [found[i] for i in wanted if found[i].status == status]
                for line in self._transition(
                    lines, source=status, target=target, at=at, kind=kind, reason=reason
                ):
                    moved[line.entry_id] = line
            return [moved[i] for i in wanted]

    def _live(self, lines: list[Commission]) -> dict[str, Money]:
        """What each earning line of the lines' orders holds net of its reversals."""
        live: dict[str, Money] = {}
        for merchant_id, order_id in sorted({(x.merchant_id, x.order_id) for x in lines}):
            live.update(
                live_amounts(self._store.entries(merchant_id=merchant_id, order_id=order_id))
            )
        return live

    def _lines(self, entry_ids: list[str]) -> list[Commission]:
        wanted = set(entry_ids)
        return [line for line in self._store.entries() if line.entry_id in wanted]

    def _transition(
        self,
        lines: list[Commission],
        *,
        source: CommissionStatus,
        target: CommissionStatus,
        at: datetime,
        kind: str,
        reason: str | None = None,
    ) -> list[Commission]:
        """Move ``lines`` from ``source`` to ``target``: ledger lines and journal together."""
        if not lines:
            return []
        store = self._store
        now_ms = int(at.timestamp() * 1000)
        live = self._live(lines)
        updated: list[Commission] = []
        postings: list[Posting] = []
        returned: dict[str, list[tuple[Commission, str, Money]]] = {}
        rejections: list[Commission] = []
        for line in lines:
            changes: dict[str, object] = {"status": target}
            if target == "approved":
                changes["approved_at"] = at
            if reason is not None:
                changes["reason"] = reason
            updated.append(line.model_copy(update=changes))
            amount = live[line.entry_id]
            if target == "rejected":
                if amount:
                    returned.setdefault(line.merchant_id, []).append((line, source, amount))
                    rejections.append(
                        line.model_copy(
                            update={
                                "entry_id": new_id(now_ms),
                                "event_id": f"reject/{line.entry_id}",
                                "kind": "reversal",
                                "amount": -amount,
                                "status": "reversed",
                                "reverses": line.entry_id,
                                "reason": reason,
                                "created_at": at,
                                "hold_until": None,
                            }
                        )
                    )
            elif amount:
                postings += move(line, amount, source, target)
        postings += to_merchant(returned)
        store.update_entries(updated)
        if rejections:
            store.add_entries(rejections)
        self._journal(
            store,
            event_id=f"{kind}/{new_id(now_ms)}",
            kind=kind,
            at=at,
            postings=postings,
            lines=[*updated, *rejections],
            reason=reason,
        )
        return updated

    # -- payouts -----------------------------------------------------------------------------
    def pay_approved(
        self,
        *,
        run_id: str,
        now: datetime | None = None,
        minimum: Mapping[str, Money] | None = None,
        settle_after: timedelta = DEFAULT_SETTLE_AFTER,
    ) -> list[PayoutBatch]:
        """Pay each affiliate's approved balance, one batch per affiliate and currency.

        A commission is payable ``settle_after`` its approval (T+1 by default).
        An affiliate whose payable balance (clawbacks included) is not positive,
        or is below ``minimum[currency]``, is not paid: the balance carries
        forward. ``run_id`` makes the run idempotent: the same id again returns
        the batches it made and pays nothing twice.
        """
        check_identifier("run_id", run_id)
        at = now or self._clock.now()
        store = self._store
        with store.transaction():
            done = store.payouts(run_id=run_id)
            if done:
                return done
            payable: dict[tuple[str, str], list[Commission]] = {}
            for line in store.entries(status="approved"):
                if line.account == "platform":
                    continue
                if line.kind in EARNING_KINDS and (
                    line.approved_at is None or line.approved_at + settle_after > at
                ):
                    continue
                payable.setdefault((line.affiliate_id, line.amount.currency), []).append(line)
            batches: list[PayoutBatch] = []
            for (affiliate_id, currency), lines in sorted(payable.items()):
                live = self._live(lines)
                amounts = [live.get(x.entry_id, x.amount) for x in lines]
                balance = sum_money(amounts, currency)
                floor = (minimum or {}).get(currency, Money.zero(currency))
                if balance.amount <= 0 or balance < floor:
                    continue
                payout_id = _event_id("payout", run_id, affiliate_id, currency)
                batches.append(
                    PayoutBatch(
                        payout_id=payout_id,
                        affiliate_id=affiliate_id,
                        amount=balance,
                        entry_ids=[x.entry_id for x in lines],
                        created_at=at,
                    )
                )
                paid = [
                    x.model_copy(update={"status": "paid", "paid_at": at, "payout_id": payout_id})
                    for x in lines
                ]
                store.update_entries(paid)
                self._journal(
                    store,
                    event_id=payout_id,
                    kind="payout",
                    at=at,
                    postings=[
                        Posting(affiliate_account(affiliate_id, "approved"), -balance),
                        Posting(affiliate_account(affiliate_id, "paid"), balance),
                    ],
                    lines=paid,
                )
                store.add_events([payout_event(batches[-1])])
            store.insert_payouts(run_id, batches)
        return batches

    def payouts(
        self, *, run_id: str | None = None, affiliate_id: str | None = None
    ) -> list[PayoutBatch]:
        """Payout batches made so far (export them with ``payouts_csv`` / ``payouts_json``)."""
        return self._store.payouts(run_id=run_id, affiliate_id=affiliate_id)

    # -- reports ------------------------------------------------------------------------------
    def _documents(self) -> Iterator[dict[str, Any]]:
        return (decode_entry(row.body) for row in self._store.journal())

    def statements(self, *, start: datetime, end: datetime) -> list[Statement]:
        """Each affiliate's statement for ``start <= t < end``, per currency."""
        return build_statements(self._documents(), start=start, end=end)

    def invoices(self, *, start: datetime, end: datetime) -> list[Invoice]:
        """What each merchant owes for commission booked in ``start <= t < end``."""
        return build_invoices(self._store.entries(), start=start, end=end)

    def reconcile(self, *, start: datetime, end: datetime) -> list[ReconciliationRow]:
        """Prove merchant cost = affiliate earnings + platform take, per merchant and currency.

        Raises ``LedgerImbalance`` naming every row that is off by even a cent.
        """
        rows = reconcile_rows(self._documents(), self._store.entries(), start=start, end=end)
        off = [row for row in rows if not row.balanced]
        if off:
            raise LedgerImbalance(off)
        return rows

    def checkpoint(self, signing_key: Ed25519PrivateKey, *, key_id: str) -> Checkpoint:
        """Sign the journal's current head and keep the checkpoint with the ledger."""
        head = self._store.journal_head()
        seq, hash_ = head if head is not None else (0, GENESIS_HASH)
        checkpoint = sign_checkpoint(
            signing_key, key_id=key_id, seq=seq, hash_=hash_, at=self._clock.now()
        )
        self._store.add_checkpoint(checkpoint)
        return checkpoint

    def signed_statements(
        self, *, start: datetime, end: datetime, signing_key: Ed25519PrivateKey, key_id: str
    ) -> list[SignedStatement]:
        """Statements an affiliate can verify with the public key alone."""
        checkpoint = self.checkpoint(signing_key, key_id=key_id)
        return [
            sign_statement(signing_key, statement, checkpoint)
            for statement in self.statements(start=start, end=end)
        ]

    def verify_ledger(
        self, *, trusted_keys: Mapping[str, Ed25519PublicKey] | None = None
    ) -> LedgerVerification:
        """Recompute the journal's hash chain and say where it first breaks, if it does.

        With ``trusted_keys`` (key id -> Ed25519 public key), every stored
        checkpoint must carry a valid signature and still match the chain: a
        journal rewritten, or cut short, before a checkpoint fails here even
        when its hashes were recomputed.
        """
        store = self._store
        checkpoints = store.checkpoints() if trusted_keys is not None else []
        checked, hashes = verify_chain(store.journal_links(), marks={c.seq for c in checkpoints})
        problem: ChainProblem | None = None
        following = next(store.journal(after_seq=checked), None)
        if following is not None or checked < _journal_length(store):
            problem = diagnose(checked + 1, following)
        if problem is None:
            for checkpoint in checkpoints:
                key = (trusted_keys or {}).get(checkpoint.key_id)
                if key is None or not checkpoint.verify(key):
                    problem = ChainProblem(checkpoint.seq, "a checkpoint's signature is not valid")
                elif checkpoint.seq > checked:
                    problem = ChainProblem(
                        checked + 1, "entries signed in a checkpoint are missing"
                    )
                elif checkpoint.seq and hashes.get(checkpoint.seq, b"").hex() != checkpoint.hash:
                    problem = ChainProblem(
                        checkpoint.seq, "the journal no longer matches a signed checkpoint"
                    )
                if problem is not None:
                    break
        return LedgerVerification(
            ok=problem is None,
            entries=checked,
            first_bad_seq=None if problem is None else problem.seq,
            reason=None if problem is None else problem.reason,
        )

    # -- period close ---------------------------------------------------------------------------
    def close_period(self, campaign_id: str, period: str) -> list[Commission]:
        """Settle a period once it is over: book what refunds changed since.

        Refunds may leave an affiliate's period volume below a retroactive tier
        band it had reached, or below the target whose bonus it was paid. For
        each affiliate, closing books the true-up (kind ``trueup``) that makes
        the period's tier commission the net volume times the rate of the band
        finally reached, and the bonus adjustment (kind ``bonus``) that makes
        the bonus what the net volume earns. Closing twice books nothing more.
        """
        store = self._store
        with store.transaction():
            view = self._campaign_view(campaign_id, self._clock.timestamp())
            closed = _event_id("closed", campaign_id, period)
            if store.get_tier_state(closed) is not None:
                return []
            store.put_tier_state(closed, TierState())
            end = period_bounds(period, view.campaign.timezone)[1]
            plan = view.plan_at(end - timedelta(microseconds=1)).plan
            booked: list[Commission] = []
            for what in ("tier", "target"):
                prefix = _event_id(what, "campaign", campaign_id) + "/"
                for key, state in sorted(store.tier_states(prefix).items()):
                    parts = key[len(prefix) :].split("/")
                    if len(parts) != 3 or parts[2] != period:
                        continue
                    settled = self._settle_period(plan, what, state)
                    if settled is None:
                        continue
                    adjustment, rate, rule = settled
                    store.put_tier_state(
                        key, state._replace(rate=rate, paid=state.paid + adjustment.amount)
                    )
                    if adjustment:
                        booked += self._book_traffic(
                            view,
                            parts[1],
                            adjustment,
                            rule=f"{rule}; period {period} closed",
                            reference=f"{what}-close/{campaign_id}/{parts[1]}/{period}",
                            kind="trueup" if what == "tier" else "bonus",
                        )
            return booked

    @staticmethod
    def _settle_period(
        plan: CommissionPlan, what: str, state: TierState
    ) -> tuple[Money, Decimal, str] | None:
        """What a closing period still owes (or was overpaid): amount, rate and rule."""
        if what == "tier":
            tiers = plan.tiers
            if tiers is None or tiers.mode != "retroactive" or tiers.currency is None:
                return None
            final = tiers.rate_at(state.volume)
            due = state.tier_base * final
            owed = Money(due - state.paid, tiers.currency).round(COMMISSION_ROUNDING)
            return owed, final, f"tier rate {(final * 100).normalize():f}%"
        target = plan.target
        if target is None or target.bonus_rate is None:
            return None
        earned = state.volume > target.amount.amount
        due = state.volume * target.bonus_rate if earned else Decimal(0)
        owed = Money(due - state.paid, target.amount.currency).round(COMMISSION_ROUNDING)
        return owed, target.bonus_rate, "over-target bonus" if earned else "target missed"

    # -- traffic: CPC and CPM ---------------------------------------------------------------------
    def settle_clicks(
        self, campaign_id: str, *, start: datetime, end: datetime
    ) -> list[Commission]:
        """Book CPC commission for the campaign's clicks in ``start <= t < end``.

        Each affiliate earns the plan's ``per_click`` for every click that was
        not blocked. Windows must follow each other: each starts where the
        previous one ended, so no click is paid twice or skipped.
        """
        if start.tzinfo is None or end.tzinfo is None or end <= start:
            raise InvalidInput("settle_clicks needs an aware start before an aware end")
        start_ms, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
        store = self._store
        with store.transaction():
            view = self._campaign_view(campaign_id, self._clock.timestamp())
            mark = _event_id("cpc-settled", campaign_id)
            settled = store.get_tier_state(mark)
            if settled is not None and int(settled.volume) != start_ms:
                raise InvalidInput(
                    f"clicks of {campaign_id} are settled up to "
                    f"{from_timestamp(int(settled.volume) / 1000).isoformat()}; start there"
                )
            store.put_tier_state(mark, TierState(volume=Decimal(end_ms)))
            plan = view.plan_at(start).plan
            if plan.per_click is None:
                return []
            booked: list[Commission] = []
            counts = store.count_clicks(campaign_id, since_ms=start_ms, until_ms=end_ms)
            for affiliate_id, count in sorted(counts.items()):
                booked += self._book_traffic(
                    view,
                    affiliate_id,
                    plan.per_click * count,
                    rule=f"cpc {plan.per_click} x {count}",
                    reference=f"cpc/{campaign_id}/{affiliate_id}/{start_ms}-{end_ms}",
                )
            return booked

    def record_impressions(
        self, campaign_id: str, *, affiliate_id: str, count: int, batch_id: str
    ) -> list[Commission]:
        """Count impressions; book the plan's ``per_mille`` for each completed thousand.

        Impressions short of a thousand carry over to the next batch. The same
        ``batch_id`` again counts nothing.
        """
        check_identifier("affiliate_id", affiliate_id)
        check_identifier("batch_id", batch_id)
        if count < 0:
            raise InvalidInput("count must not be negative")
        store = self._store
        with store.transaction():
            seen = _event_id("impressions-batch", campaign_id, batch_id)
            if store.get_tier_state(seen) is not None:
                return []
            store.put_tier_state(seen, TierState(volume=Decimal(count)))
            view = self._campaign_view(campaign_id, self._clock.timestamp())
            plan = view.plan_at(self._clock.now()).plan
            key = _event_id("impressions", campaign_id, affiliate_id)
            totals = store.get_tier_state(key) or TierState()
            before = int(totals.volume)
            store.put_tier_state(key, totals._replace(volume=Decimal(before + count)))
            thousands = (before + count) // 1000 - before // 1000
            if plan.per_mille is None or not thousands:
                return []
            return self._book_traffic(
                view,
                affiliate_id,
                plan.per_mille * thousands,
                rule=f"cpm {plan.per_mille} x {thousands}",
                reference=f"cpm/{campaign_id}/{affiliate_id}/{batch_id}",
            )

    def _book_traffic(
        self,
        view: _CampaignView,
        affiliate_id: str,
        amount: Money,
        *,
        rule: str,
        reference: str,
        kind: str = "commission",
    ) -> list[Commission]:
        """Ledger lines and journal entry for commission not tied to one order."""
        campaign = view.campaign
        now = self._clock.now()
        now_ms = int(now.timestamp() * 1000)
        plan = view.plan_at(now)
        common = {
            "merchant_id": campaign.merchant_id,
            "order_id": reference,
            "campaign_id": campaign.campaign_id,
            "affiliate_id": affiliate_id,
            "click_id": None,
            "status": "pending",
            "plan_version": plan.version,
            "created_at": now,
            "hold_until": now + timedelta(days=plan.plan.hold_days),
        }
        lines = self._split_lines(
            split_commission(
                amount.round(COMMISSION_ROUNDING), self._take(plan.plan, campaign.merchant_id)
            ),
            kind=kind,
            event=("traffic", reference),
            rate=Decimal(0),
            basis=amount,
            rule=rule,
            tier={},
            now_ms=now_ms,
            common=common,
        )
        self._store.add_entries(lines)
        self._journal(
            self._store,
            event_id=_event_id("traffic", reference),
            kind="commission.booked",
            at=now,
            postings=from_merchant(campaign.merchant_id, lines),
            lines=lines,
        )
        return lines
