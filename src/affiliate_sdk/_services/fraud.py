"""Fraud: the click and order verdicts, the shared blacklist, complaints and grades.

The blacklist, complaints and enforcement steps are platform-level by design:
one fraudster is one fraudster for every merchant of the alliance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Final, Literal, NamedTuple

from affiliate_sdk._kernel.fields import check_identifier, check_text, check_texts
from affiliate_sdk._kernel.keys import path_key
from affiliate_sdk.antifraud import signals
from affiliate_sdk.antifraud.click_rules import CLICK_RULES, PAID_CLICK_PARAMETERS, USER_AGENT_RULES
from affiliate_sdk.antifraud.facts import ClickFacts, ClickRule, OrderFacts, OrderRule
from affiliate_sdk.antifraud.grades import History, grade, pooled
from affiliate_sdk.antifraud.networks import NetworkKinds
from affiliate_sdk.antifraud.order_rules import ORDER_RULES
from affiliate_sdk.antifraud.useragents import BotUserAgents
from affiliate_sdk.antifraud.velocity import (
    Counts,
    ExactCounters,
    LocalCounts,
    SharedCounts,
    window_for,
)
from affiliate_sdk.antifraud.verdicts import ALLOW, SEVERITY_SCORES, judge
from affiliate_sdk.errors import InvalidInput
from affiliate_sdk.ids import new_id
from affiliate_sdk.models import (
    AffiliateGrade,
    ChannelGrade,
    ComplaintOutcome,
    FraudThresholds,
    Order,
    Reason,
    Verdict,
)
from affiliate_sdk.settings import MAX_USER_AGENT_LENGTH
from affiliate_sdk.storage.contract import UnitOfWork
from affiliate_sdk.storage.rows import LineFilter, LineRow, ValueStats
from affiliate_sdk.tracking.clicks import ClickRow

from .catalog import MAX_CACHED, CatalogService
from .context import ServiceContext
from .exchange import Exchanger
from .sources import SourceOrder, judge_sources, source_keys

if TYPE_CHECKING:
    from .review import ReviewService

__all__ = ["BlacklistKind", "FraudService", "OrderRisk", "UserAgentView", "judge_order_risk"]

BlacklistKind = Literal["network", "device", "affiliate", "payment"]

#: Builds a ``ClickFacts`` from all its fields in order (tuple.__new__: no keyword handling).
_new_click_facts: Final = partial(tuple.__new__, ClickFacts)
#: Complaints are counted over this trailing span.
COMPLAINT_WINDOW_MS: Final = 3_600_000
#: Pending lines read per query when the circuit breaker freezes funds.
_FREEZE_PAGE: Final = 1000


class UserAgentView(NamedTuple):
    """A user agent's remembered verdict, its JSON, its keyed hash and its reasons."""

    verdict: Verdict
    verdict_json: str
    ua_hash: str | None
    reasons: tuple[Reason, ...]


def normal_identity(kind: str, value: str | None) -> str:
    """A contact, payment or device detail as compared (phones by digits, emails folded)."""
    if value is None:
        return ""
    if kind == "phone":
        return "".join(ch for ch in value if ch.isdigit())
    if kind == "email":
        return value.strip().lower()
    return value.strip()


class FraudService:
    """Verdicts on clicks and orders, and the platform's sanctions."""

    def __init__(
        self,
        ctx: ServiceContext,
        catalog: CatalogService,
        *,
        bots: BotUserAgents | None = None,
        networks: NetworkKinds | None = None,
        click_rules: Sequence[ClickRule] = (),
        order_rules: Sequence[OrderRule] = (),
    ) -> None:
        self._ctx = self.ctx = ctx
        self._catalog = self.catalog = catalog
        self._bots = bots if bots is not None else BotUserAgents()
        self._networks = networks if networks is not None else NetworkKinds.bundled()
        self.click_rules = (*CLICK_RULES, *click_rules)
        #: Whether a click counts in every window: a host's rules may read any fact, the
        #: bundled ones none that a shorter window of the weekly cap's events adds.
        self._every_window = bool(click_rules)
        self.order_rules = (*ORDER_RULES, *order_rules)
        counters = ctx.store.counters
        # Velocity windows follow the store: shared with every process that opens it,
        # or in memory when the counters are this process's alone. Shared ones exchange on
        # a thread of their own: once a second of wall time, and when a call finds a
        # second of the alliance's clock gone (so a test's or the simulator's clock
        # drives them too); no call waits for it.
        background = counters.shared

        def wake() -> None:
            if self.exchanger is not None:
                self.exchanger.poke()

        self.per_minute: Counts = window_for(
            counters, "velocity/minute", 60_000, buckets=6, background=background, wake=wake
        )
        self.per_day: Counts = window_for(
            counters, "velocity/day", 86_400_000, buckets=4, background=background, wake=wake
        )
        #: A returning visitor's touches over seven days (the frequency cap).
        self.per_week: Counts = window_for(
            counters, "velocity/week", 7 * 86_400_000, buckets=7, background=background, wake=wake
        )
        #: One round trip for a click's counts, when the counters are on a server.
        self._count_many = counters.count_many if isinstance(counters, ExactCounters) else None
        windows = (self.per_minute, self.per_day, self.per_week)
        #: The same windows when they are this module's (a click's counts: one call each).
        self._windows = _batched(windows)
        shared = [w for w in windows if isinstance(w, SharedCounts)]
        #: The thread exchanging the shared windows (None when the counters are not shared).
        self.exchanger: Exchanger | None = None
        if shared:
            self.exchanger = Exchanger(shared, ctx.now_ms, log=ctx.log)
        self._ttl = ctx.settings.campaign_cache_ttl.total_seconds()
        #: ``user_agent()``'s memo, by user agent as given: a hot path reads it first.
        self.agent_views: dict[str | None, UserAgentView] = {}
        self._judged: dict[tuple[object, ...], tuple[Verdict, str]] = {}
        # (when its revision was asked, the revision, the keys)
        #: (when the revision was asked, the revision, the keys, the changes heard then)
        self._blacklist: tuple[float, int, frozenset[str], int] | None = None
        #: What freezes the funds of what the circuit breaker pauses (set by the wiring).
        self.review: ReviewService | None = None

    @property
    def networks(self) -> NetworkKinds:
        """The network ranges clicks are judged by (the bundled ones unless the host gave
        its own): their kinds, sources and dates."""
        return self._networks

    def use_networks(self, networks: NetworkKinds) -> None:
        """Judge clicks by ``networks`` from now on (refreshed ranges, say from
        ``NetworkKinds.from_file``), without a restart: a click is judged by the old
        ranges or the new, never by a mix."""
        if not isinstance(networks, NetworkKinds):
            raise InvalidInput("use_networks takes a NetworkKinds")
        self._networks = networks

    def flush(self, now_ms: int) -> None:
        """Hand the velocity counts over to the shared buckets (on close): the background
        exchange, if any, is stopped first, so nothing is exchanged after this."""
        if self.exchanger is not None:
            self.exchanger.close(now_ms)
        else:
            self.per_minute.flush(now_ms)
            self.per_day.flush(now_ms)
            self.per_week.flush(now_ms)

    # -- clicks ------------------------------------------------------------------------------
    def user_agent(self, user_agent: str | None) -> UserAgentView:
        """The remembered verdict and hash of a user agent, judged on first sight
        (``InvalidInput`` for one that is not valid Unicode text)."""
        view = self.agent_views.get(user_agent)  # remembered: checked when first seen
        if view is not None:
            return view
        if user_agent is not None:
            if not user_agent.isascii():
                check_text("user_agent", user_agent)  # before it is cut: all of it is text
            if len(user_agent) > MAX_USER_AGENT_LENGTH:
                user_agent = user_agent[:MAX_USER_AGENT_LENGTH]  # bounds the memo and match
                view = self.agent_views.get(user_agent)
        if view is None:
            limits = self._ctx.settings.fraud
            matched = self._bots.match(user_agent) if user_agent else None
            facts = ClickFacts(user_agent=user_agent, bot_pattern=matched)
            fired = [rule(facts, limits) for rule in USER_AGENT_RULES]
            reasons = tuple(reason for reason in fired if reason is not None)
            verdict = judge(reasons, limits) if reasons else ALLOW
            digest = self._ctx.pseudonyms.digest
            ua_hash = digest(user_agent.encode("utf-8", "replace")) if user_agent else None
            view = UserAgentView(verdict, verdict.model_dump_json(), ua_hash, reasons)
            if len(self.agent_views) >= MAX_CACHED:
                self.agent_views.clear()
            self.agent_views[user_agent] = view
        return view

    def click_verdict(
        self,
        url: str,
        agent: UserAgentView,
        limits: FraudThresholds,
        *,
        affiliate_id: str,
        visitor_id: str | None,
        packed_ip: bytes | None,
        ip_network: str | None,
        device_id: str | None,
        now_ms: int,
        scope: str = "",
    ) -> tuple[Verdict, str]:
        """The verdict on one click: its user agent's reasons and the per-click rules.

        Counts the click in the velocity windows first: per IP network,
        device and affiliate per minute, per day on its campaign (``scope``) as
        the campaign's and the affiliate's, and per returning ``visitor_id`` over
        seven days (the frequency cap); per visitor per minute and per visitor
        and affiliate per day too when that count can matter (see
        ``_count_click``).
        """
        networks = self._networks
        network, visitor, device, affiliate, visits, touches = self._count_click(
            1,
            now_ms,
            affiliate_id=affiliate_id,
            visitor_id=visitor_id,
            ip_network=ip_network,
            device_id=device_id,
            scope=scope,
            limits=limits,
        )
        paid: tuple[str, ...] = ()
        _, mark, query = url.partition("?")
        if mark:
            names = {part.partition("=")[0] for part in query.split("&")}
            paid = tuple(sorted(names & PAID_CLICK_PARAMETERS))
        entries = self.blacklist_entries(now_ms / 1000)
        facts = _new_click_facts((
            None, None,
            networks.kind_of_packed(packed_ip) if packed_ip else None,
            network, visitor, device, affiliate, visits, paid,
            _click_listed(entries, ip_network, visitor_id, device_id, affiliate_id)
            if entries else (),
            touches,
        ))  # fmt: skip
        fired = [reason for rule in self.click_rules if (reason := rule(facts, limits))]
        if not fired:
            return agent.verdict, agent.verdict_json
        judged = self._judged_verdict(agent, fired, limits)
        if scope and judged[0].decision == "block":  # a click that cannot earn or convert
            self.per_day.add(f"k/{scope}", now_ms, -1)  # is no click of the campaign's
            self.per_day.add(f"k/{scope}/{affiliate_id}", now_ms, -1)
        return judged

    def _judged_verdict(
        self, agent: UserAgentView, fired: list[Reason], limits: FraudThresholds
    ) -> tuple[Verdict, str]:
        """The verdict on the user agent's reasons and the click rules that fired, judged
        once: reasons carry no per-click numbers, so a burst of bad clicks shares one."""
        key = (agent.verdict_json, *fired)
        judged = self._judged.get(key)
        if judged is None:
            verdict = judge((*agent.reasons, *fired), limits)
            judged = (verdict, verdict.model_dump_json())
            if len(self._judged) >= MAX_CACHED:
                self._judged.clear()
            self._judged[key] = judged
        return judged

    def count_impression(self, visitor_id: str, now_ms: int, count: int = 1) -> int:
        """Count an impression in the visitor's impressions over seven days (their frequency
        cap); the impressions so far, this one included. Clicks are capped apart: display
        impressions come by the dozen without the visitor doing anything, and counted with
        the clicks they would take the earning clicks away (anyone who can fire impressions
        for a visitor could)."""
        return self.per_week.add(f"i/{visitor_id}", now_ms, count)

    def count_order(self, affiliate_id: str, placed_ms: int, *, scope: str = "") -> None:
        """Count a recorded order in its affiliate's orders of the day on its campaign
        (``scope``; the velocity window ``judge_order_risk`` reads; called once the order's
        unit of work has committed)."""
        self.per_day.add(f"o/{scope}/{affiliate_id}", placed_ms)

    def uncount_click(
        self,
        limits: FraudThresholds,
        *,
        affiliate_id: str,
        visitor_id: str | None,
        ip_network: str | None,
        device_id: str | None,
        now_ms: int,
        scope: str = "",
    ) -> None:
        """Take back what ``click_verdict`` counted, given the same arguments, for a click
        that was not recorded after all."""
        self._count_click(
            -1,
            now_ms,
            affiliate_id=affiliate_id,
            visitor_id=visitor_id,
            ip_network=ip_network,
            device_id=device_id,
            scope=scope,
            limits=limits,
        )

    def _count_click(
        self,
        count: int,
        now_ms: int,
        *,
        affiliate_id: str,
        visitor_id: str | None,
        ip_network: str | None,
        device_id: str | None,
        scope: str,
        limits: FraudThresholds,
    ) -> tuple[int, int, int, int, int, int]:
        """``count`` a click in every window: the network's, device's and affiliate's clicks
        this minute, the visitor's touches over seven days, and the visitor's clicks this
        minute and on the affiliate's links today when the host has rules of its own or
        their ``limits`` are below the weekly cap (the same events over a shorter window:
        else the cap fires first), and the minute's also when its reason and the cap's
        together reach ``block_score`` (so it can change the decision); the defaults for a
        part that is not there. The
        campaign's and the affiliate's clicks on it today are counted too. One call per
        window in memory, one of ``count_many`` on a server."""
        cap, every = limits.visitor_touches_per_week, self._every_window
        # the minute's reason adds to the cap's: counted where the two together block
        together = SEVERITY_SCORES["high"] + limits.review_score >= limits.block_score
        quick = every or together or limits.visitor_clicks_per_minute < cap
        visits = every or limits.visitor_affiliate_clicks_per_day < cap
        minute = [f"a/{affiliate_id}"]  # what is there, in the order the totals are taken
        if ip_network:
            minute.append(f"n/{ip_network}")
        if device_id:
            minute.append(f"d/{device_id}")
        day = [f"k/{scope}", f"k/{scope}/{affiliate_id}"] if scope else []
        week = []
        if visitor_id:
            if quick:
                minute.append(f"v/{visitor_id}")
            week.append(f"t/{visitor_id}")
            if visits:
                day.append(f"{visitor_id}/{affiliate_id}")
        if self._windows is not None:  # in memory: one call per window
            per_minute, per_day, per_week = self._windows
            totals = per_minute.add_many(minute, now_ms, count)
            days = per_day.add_many(day, now_ms, count) if day else []
            weeks = per_week.add_many(week, now_ms, count) if week else []
        else:  # on a server: one call of ``count_many``
            assert self._count_many is not None
            windows = ((self.per_minute, minute), (self.per_day, day), (self.per_week, week))
            items = [(window, key, count) for window, keys in windows for key in keys]
            found = self._count_many(items, now_ms)
            totals = found[: len(minute)]
            days, weeks = found[len(minute) : len(minute) + len(day)], found[-len(week) :]
        parts = iter(totals[1:])
        network = next(parts) if ip_network else 0
        device = next(parts) if device_id else 0
        if not visitor_id:
            return network, 1, device, totals[0], 1, 1
        visitor = next(parts) if quick else 1
        return network, visitor, device, totals[0], days[-1] if visits else 1, weeks[0]

    # -- identity ----------------------------------------------------------------------------
    def identity_hashes(
        self,
        *,
        email: str | None = None,
        phone: str | None = None,
        payment: str | None = None,
        device: str | None = None,
        ip: str | None = None,
    ) -> list[str]:
        """Keyed hashes of contact, payment and device details, for ``Affiliate.identity``.

        Emails are compared trimmed and in lower case, phones by their digits,
        an ``ip`` by its network (/24, /48); ``device`` is a visitor or device
        id. The same details of an order hash alike, so an affiliate buying
        through their own link is recognised without either side's details
        being stored.
        """
        network = None
        if ip is not None:
            try:
                network = self._ctx.pseudonyms.pseudonymize(ip)[1]
            except InvalidInput:
                raise InvalidInput(f"{ip!r} is not an IP address") from None
        return self.identity(
            (
                ("email", email),
                ("phone", phone),
                ("payment", payment),
                ("device", device),
                ("network", network),
            )
        )

    def identity(self, details: Iterable[tuple[str, str | None]]) -> list[str]:
        """``kind:hash`` of each detail given (empty ones left out; ``InvalidInput`` for one
        that is not valid Unicode text)."""
        digest = self._ctx.pseudonyms.digest
        hashes = []
        for kind, value in details:
            if value is not None:
                check_text(kind, value)
            normal = normal_identity(kind, value)
            if normal:
                hashes.append(f"{kind}:{digest(f'{kind}:{normal}'.encode())}")
        return hashes

    # -- blacklist ---------------------------------------------------------------------------
    def blacklist(
        self, kind: BlacklistKind, value: str, *, reason: str, remove: bool = False
    ) -> str:
        """Put an IP network, device, affiliate or payment fingerprint on the shared blacklist.

        ``network`` takes an IP address (its /24 or /48 network is listed),
        ``device`` a visitor or device id, ``affiliate`` an affiliate id and
        ``payment`` a payment fingerprint (kept as a keyed hash). Every
        merchant's clicks and orders are checked against it; with ``remove``
        the entry is taken off. Returns the key the entry is kept under.
        """
        check_texts(value=value, reason=reason)
        key = self._blacklist_key(kind, value)
        if not remove and not reason.strip():
            raise InvalidInput("a blacklist entry needs a reason")
        with self._ctx.store.transaction() as tx:
            tx.sanctions.put_blacklisted(key, None if remove else reason)
        self._blacklist = None
        self._ctx.announce("blacklist")
        return key

    def blacklisted(self) -> dict[str, str]:
        """The shared blacklist: key (``kind:value``) -> reason."""
        with self._ctx.store.reader() as tx:
            return tx.sanctions.blacklist()

    def _blacklist_key(self, kind: str, value: str) -> str:
        if kind == "network":
            try:
                return f"network:{self._ctx.pseudonyms.pseudonymize(value)[1]}"
            except ValueError:
                raise InvalidInput(f"{value!r} is not an IP address") from None
        if kind == "payment" and value.strip():
            return self.identity_hashes(payment=value)[0]
        if kind in ("device", "affiliate") and value.strip():
            return f"{kind}:{value.strip()}"
        raise InvalidInput(
            f"cannot blacklist {kind!r} {value!r}: kinds are network, device, affiliate, payment"
        )

    def blacklist_entries(self, now: float) -> frozenset[str]:
        """The blacklist's keys: reread only when the store's blacklist revision (asked at
        most once per cache period, and at once when a change was announced) has changed."""
        heard = self._ctx.heard("blacklist")
        loaded = self._blacklist
        fresh = loaded is not None and 0 <= now - loaded[0] < self._ttl
        if loaded is not None and fresh and heard == loaded[3]:
            return loaded[2]
        with self._ctx.store.reader() as tx:
            revision = tx.sanctions.blacklist_revision()
            if loaded is None or loaded[1] != revision:
                loaded = (now, revision, frozenset(tx.sanctions.blacklist()), heard)
            else:  # (asked after an announcement: the period goes on from when it began)
                loaded = (loaded[0] if fresh else now, revision, loaded[2], heard)
        self._blacklist = loaded
        return loaded[2]

    def listed(self, *keys: str | None, now: float) -> tuple[str, ...]:
        """Which of ``keys`` are on the blacklist (read at most once per cache period)."""
        entries = self.blacklist_entries(now)
        if not entries:
            return ()
        return _kinds_listed(entries, keys)

    # -- complaints --------------------------------------------------------------------------
    def complain(
        self,
        *,
        reason: str,
        campaign_id: str | None = None,
        affiliate_id: str | None = None,
        merchant_id: str | None = None,
    ) -> ComplaintOutcome:
        """Record a complaint about a campaign or an affiliate; too many in an hour pause it.

        Past the campaign's (or the alliance's) ``complaints_per_hour`` (50 by
        default) within the last hour, the circuit breaker trips: a campaign is
        made inactive (its links stop redirecting with ``CampaignInactive``), an
        affiliate is put on the blacklist, so its clicks are blocked; and the
        commission of the campaign, or of the affiliate, still pending is frozen
        for review, in the complaint's unit of work (``ComplaintOutcome.frozen``).
        """
        if (campaign_id is None) == (affiliate_id is None):
            raise InvalidInput("a complaint is about one campaign or one affiliate")
        check_texts(reason=reason)
        if not reason.strip():
            raise InvalidInput("a complaint needs a reason")
        now_ms = self._ctx.now_ms()
        if campaign_id is not None:
            campaign = self._catalog.campaign(campaign_id, merchant_id=merchant_id)
            limits = campaign.fraud or self._ctx.settings.fraud
            target = f"campaign:{campaign.merchant_id}/{campaign_id}"
        else:
            check_identifier("affiliate_id", affiliate_id or "")
            limits = self._ctx.settings.fraud
            target = f"affiliate:{affiliate_id}"
        frozen: list[str] = []
        with self._ctx.store.transaction() as tx:
            tx.sanctions.add_complaint(target, new_id(now_ms), reason, at_ms=now_ms)
            recent = tx.sanctions.complaints_since(target, since_ms=now_ms - COMPLAINT_WINDOW_MS)
            paused = recent > limits.complaints_per_hour
            note = f"circuit breaker: {recent} complaints within an hour"
            if paused:
                scope = (campaign.merchant_id, campaign_id) if campaign_id is not None else None
                frozen = self._freeze_funds(tx, scope, affiliate_id, note)
        if paused and campaign_id is not None and campaign.active:
            self._catalog.add_campaign(campaign.model_copy(update={"active": False}))
        elif paused and affiliate_id is not None:
            self.blacklist("affiliate", affiliate_id, reason=note)
        return ComplaintOutcome(
            target=target,
            complaints_last_hour=recent,
            limit=limits.complaints_per_hour,
            paused=paused,
            frozen=frozen,
        )

    def _freeze_funds(
        self,
        tx: UnitOfWork,
        campaign: tuple[str, str] | None,
        affiliate_id: str | None,
        note: str,
    ) -> list[str]:
        """Freeze the pending commission of a paused campaign (``(merchant, campaign)``) or
        affiliate, in the complaint's unit of work; the entry ids frozen."""
        if campaign is not None:
            where = LineFilter(merchant_id=campaign[0], status="pending")
        else:
            where = LineFilter(affiliate_id=affiliate_id, status="pending")
        rows: list[LineRow] = []
        after: str | None = None
        while page := tx.ledger.query(where, after=after, limit=_FREEZE_PAGE):
            rows += [r for r in page if campaign is None or r.line.campaign_id == campaign[1]]
            after = page[-1].line.entry_id
        if not rows or self.review is None:
            return []
        at = self._ctx.clock.now()
        moved = self.review.transition(tx, rows, "pending", "frozen", at=at,
                                       kind="commission.frozen", reason=note)  # fmt: skip
        return [row.line.entry_id for row in moved]

    # -- grades ------------------------------------------------------------------------------
    def grade(self, affiliate_id: str) -> AffiliateGrade:
        """The affiliate's grade from its order history (see ``antifraud.grades``)."""
        check_identifier("affiliate_id", affiliate_id)
        with self._ctx.store.reader() as tx:
            history = tx.risk.history(affiliate_id) or History()
        return AffiliateGrade(
            affiliate_id=affiliate_id,
            grade=grade(history),
            orders=history.orders,
            refund_rate=history.refund_rate,
            fraud_rate=history.fraud_rate,
        )

    def channel_grades(self) -> list[ChannelGrade]:
        """Every channel's grade, from the pooled history of its affiliates' orders.

        Graded like an affiliate (S/A/B/C from the fraud and refund rates, no
        grade before 20 orders); channels by name, the affiliates without one last.
        A named channel graded C holds its affiliates' settlement (``grading``).
        """
        members: dict[str | None, list[History]] = {}
        with self._ctx.store.reader() as tx:
            for affiliate_id, history in tx.risk.histories():
                member = self._catalog.member(tx, affiliate_id)
                channel = None if member is None else member.channel
                members.setdefault(channel, []).append(history)
        return [
            _channel_grade(channel, pooled(members[channel]), len(members[channel]))
            for channel in sorted(members, key=lambda name: (name is None, name or ""))
        ]


def _channel_grade(channel: str | None, history: History, affiliates: int) -> ChannelGrade:
    return ChannelGrade(
        channel=channel,
        grade=grade(history),
        affiliates=affiliates,
        orders=history.orders,
        refund_rate=history.refund_rate,
        fraud_rate=history.fraud_rate,
        late_share=history.late / history.timed if history.timed else 0.0,
    )


class OrderRisk(NamedTuple):
    """What the order's fraud check is told about the order beyond the order itself."""

    primary_affiliate: str
    click: ClickRow | None
    coupon_alone: bool
    visitor_id: str | None
    ip_network: str | None
    placed_ms: int
    campaign_id: str = ""
    channel_allowed: bool = True

    def source(self, merchant_id: str, seconds: float | None, customer: str | None) -> SourceOrder:
        """The order as its source counts see it."""
        return SourceOrder(
            path_key(merchant_id, self.campaign_id),
            self.primary_affiliate,
            self.placed_ms,
            seconds,
            self.ip_network,
            customer,
        )


def judge_order_risk(
    fraud: FraudService, tx: UnitOfWork, order: Order, risk: OrderRisk, limits: FraudThresholds
) -> Verdict:
    """Load the order's risk signals, judge them, and remember this order for the next.

    The blacklist, the affiliate's history, the order's shape, the merchant's
    value statistics and the distinct customers per card and per network are
    read, the pure rules decide, and the updated signals are written in the
    order's unit of work. The order is counted in the affiliate's orders of the
    day as if already recorded; the caller counts it with ``count_order`` once it
    is (a call that fails counts nothing).
    """
    affiliate_id, placed_ms = risk.primary_affiliate, risk.placed_ms
    digest = fraud.ctx.pseudonyms.digest
    payment = fraud.identity_hashes(payment=order.payment_fingerprint)
    listed = _order_listed(fraud, risk, payment)
    shared = _shared_identity(fraud, tx, order, risk)
    duplicates, near, payers, neighbours = _customer_signals(tx, order, risk, payment, digest)
    click = risk.click
    seconds = signals.seconds_since_click(placed_ms, None if click is None else click.clicked_at_ms)
    customer = (
        None if order.customer_id is None else signals.customer_digest(digest, order.customer_id)
    )
    source = risk.source(order.merchant_id, seconds, customer)._replace(
        repeat=bool(duplicates or near)
    )
    mine = f"{source.scope}/{affiliate_id}"  # the affiliate on the order's campaign
    history, sigmas, stats, counts = _standing(tx, order, source)
    judged, tallies = judge_sources(fraud, tx, source, counts, limits)
    facts = signals.order_facts(
        limits=limits,
        history=history,
        seconds_since_click=seconds,
        click_country=None if click is None else click.country,
        order_country=order.country,
        coupon_without_click=risk.coupon_alone,
        shared_identity=shared,
        duplicates=duplicates,
        near_duplicates=near,
        payment_customers=payers,
        network_customers=neighbours,
        value_sigmas=sigmas,
        affiliate_clicks_today=fraud.per_day.total(f"k/{mine}", placed_ms),
        affiliate_orders_today=fraud.per_day.total(f"o/{mine}", placed_ms) + 1,
        blacklisted=listed,
        affiliate_grade=grade(history),
    )
    facts = _with_sources(facts, judged, channel_allowed=risk.channel_allowed)
    verdict = signals.judge_order(facts, limits, fraud.order_rules)
    tx.risk.record_standing(
        affiliate_id,
        signals.history_after(history, verdict, seconds, limits),
        stats,
        tallies,
    )
    return verdict


def _with_sources(
    facts: OrderFacts, judged: Sequence[float | None], *, channel_allowed: bool
) -> OrderFacts:
    """The order's sheet with what its source rules say (``judge_sources``' surprises, in
    their order) and whether the campaign lets the affiliate's channel earn on it."""
    fast, conversion, network, block, high, cash_out = judged
    return facts._replace(
        fast_surprise=fast,
        conversion_surprise=conversion,
        network_surprise=network,
        block_surprise=block,
        high_surprise=high,
        cashout_surprise=cash_out,
        channel_allowed=channel_allowed,
    )


def _standing(
    tx: UnitOfWork, order: Order, source: SourceOrder
) -> tuple[History, float | None, ValueStats, tuple[tuple[int, ...], ...]]:
    """The affiliate's history, the order's distance from its merchant's values and the
    statistics after it, and the source tallies, read in one call."""
    stats_key = path_key(order.merchant_id, order.total.currency)
    written, read = source_keys(source)
    known, found, counts = tx.risk.standing(source.affiliate_id, stats_key, written, reads=read)
    sigmas, (count, mean, m2) = signals.value_sigmas(
        None if found is None else (found.orders, found.mean, found.m2), order.total.to_minor()
    )
    return known or History(), sigmas, ValueStats(stats_key, count, mean, m2), counts


def _order_listed(fraud: FraudService, risk: OrderRisk, payment: Sequence[str]) -> tuple[str, ...]:
    """What of the order (network, device, affiliate, payment) is on the blacklist."""
    return fraud.listed(
        f"network:{risk.ip_network}" if risk.ip_network else None,
        f"device:{risk.visitor_id}" if risk.visitor_id else None,
        f"affiliate:{risk.primary_affiliate}",
        *payment,
        now=fraud.ctx.clock.timestamp(),
    )


def _shared_identity(
    fraud: FraudService, tx: UnitOfWork, order: Order, risk: OrderRisk
) -> tuple[str, ...]:
    """Which of the credited affiliate's own identity details the order carries."""
    member = fraud.catalog.member(tx, risk.primary_affiliate)
    if member is None or not member.identity:
        return ()
    mine = fraud.identity(
        (
            ("email", order.customer_email),
            ("phone", order.customer_phone),
            ("payment", order.payment_fingerprint),
            ("device", risk.visitor_id),
            ("network", risk.ip_network),
        )
    )
    return signals.self_referral(member.identity, mine)


def _customer_signals(
    tx: UnitOfWork,
    order: Order,
    risk: OrderRisk,
    payment: Sequence[str],
    digest: Callable[[bytes], str],
) -> tuple[int, int, int, int]:
    """Duplicates and near-duplicates of the customer's order, and the distinct customers
    seen with its card and on its network this week (this order counted in)."""
    if order.customer_id is None:
        return 0, 0, 0, 0
    placed_ms = risk.placed_ms
    shape = path_key(order.merchant_id, order.customer_id, signals.order_shape(order))
    recent = tx.risk.recent_shapes(shape, since_ms=placed_ms - signals.DUPLICATE_WINDOW_MS)
    duplicates, near = signals.repeats(recent, str(order.total), placed_ms, bool(order.items))
    tx.risk.add_shape(shape, str(order.total), placed_ms, keep=signals.MAX_SHAPES_KEPT)
    customer = signals.customer_digest(digest, order.customer_id)
    keep = signals.MAX_CUSTOMERS_KEPT
    payers = neighbours = 0
    if payment:
        payers = tx.risk.add_distinct("payment_customers", payment[0], customer, keep=keep)
    if risk.ip_network is not None:
        week = str(placed_ms // signals.WEEK_MS)
        place = path_key(risk.primary_affiliate, risk.ip_network, week)
        neighbours = tx.risk.add_distinct("network_customers", place, customer, keep=keep)
    return duplicates, near, payers, neighbours


def _kinds_listed(entries: frozenset[str], keys: Iterable[str | None]) -> tuple[str, ...]:
    """The kinds (``network``, ``device``, ...) of those of ``keys`` on the blacklist."""
    return tuple(key.partition(":")[0] for key in keys if key and key in entries)


def _click_listed(
    entries: frozenset[str],
    ip_network: str | None,
    visitor_id: str | None,
    device_id: str | None,
    affiliate_id: str,
) -> tuple[str, ...]:
    """What of a click is on the (non-empty) blacklist: its network, devices, affiliate."""
    return _kinds_listed(
        entries,
        (
            f"network:{ip_network}" if ip_network else None,
            f"device:{visitor_id}" if visitor_id else None,
            f"device:{device_id}" if device_id else None,
            f"affiliate:{affiliate_id}",
        ),
    )


def _batched(
    windows: tuple[Counts, Counts, Counts],
) -> (
    tuple[LocalCounts | SharedCounts, LocalCounts | SharedCounts, LocalCounts | SharedCounts] | None
):
    """The windows, when each is one that counts several keys in one call (else None)."""
    a, b, c = windows
    if (
        isinstance(a, LocalCounts | SharedCounts)
        and isinstance(b, LocalCounts | SharedCounts)
        and isinstance(c, LocalCounts | SharedCounts)
    ):
        return a, b, c
    return None
