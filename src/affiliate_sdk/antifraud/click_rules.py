"""Click rules: pure functions from what is known of a click to a reason, or None.

Each rule takes the click's ``ClickFacts`` (built from the request, the
velocity windows and the blacklist) and the ``FraudThresholds`` in force.
``USER_AGENT_RULES`` look at the user agent alone, so a caller may judge each
distinct user agent once and remember it; ``CLICK_RULES`` run on every click
and must stay cheap: no parsing, no allocation beyond the reason they return.
"""

from __future__ import annotations

from typing import Final

from affiliate_sdk.models import FraudThresholds, Reason

from .facts import ClickFacts, ClickRule
from .verdicts import make_reason

__all__ = [
    "CLICK_RULES",
    "HEADLESS_MARKERS",
    "PAID_CLICK_PARAMETERS",
    "USER_AGENT_RULES",
    "click_blacklist",
    "click_velocity",
    "frequency_cap",
    "headless",
    "hosting_network",
    "known_bot",
    "paid_search",
]

#: Query parameters that ad networks add to paid clicks.
PAID_CLICK_PARAMETERS: Final = frozenset(
    {
        "gclid",
        "gbraid",
        "wbraid",
        "dclid",
        "fbclid",
        "msclkid",
        "ttclid",
        "twclid",
        "li_fat_id",
        "yclid",
        "epik",
        "rdt_cid",
        "sccid",
    }
)
#: Substrings of user agents that automation tools send.
HEADLESS_MARKERS: Final = (
    "HeadlessChrome",
    "PhantomJS",
    "Puppeteer",
    "Playwright",
    "Selenium",
    "webdriver",
    "Electron/",
    "SlimerJS",
)


def known_bot(facts: ClickFacts, _: FraudThresholds) -> Reason | None:
    """A missing user agent, or one that matches a known crawler pattern: critical."""
    if not facts.user_agent or not facts.user_agent.strip():
        return make_reason(
            "ua.missing", "critical", "The request carried no user agent; browsers always send one."
        )
    if facts.bot_pattern is not None:
        return make_reason(
            "ua.known_bot",
            "critical",
            f"The user agent matches the known crawler pattern {facts.bot_pattern!r}.",
        )
    return None


def headless(facts: ClickFacts, _: FraudThresholds) -> Reason | None:
    """A user agent that names an automation tool (``HEADLESS_MARKERS``): critical."""
    agent = facts.user_agent or ""
    marker = next((m for m in HEADLESS_MARKERS if m in agent), None)
    if marker is None:
        return None
    return make_reason(
        "ua.headless", "critical", f"The user agent names automation tool {marker!r}."
    )


def hosting_network(facts: ClickFacts, limits: FraudThresholds) -> Reason | None:
    """A click from a known kind of network: critical for ``block_network_kinds``, else a
    warning."""
    kind = facts.network_kind
    if kind is None:
        return None
    if kind in limits.block_network_kinds:
        return make_reason(
            f"net.{kind}",
            "critical",
            f"The click came from a {kind} network: servers, not people, browse from there.",
        )
    return make_reason(
        f"net.{kind}",
        "warn",
        f"The click came from a {kind} network, which hides where the visitor is "
        "(many people use one: it adds to other reasons, alone it is no fault).",
    )


def click_velocity(facts: ClickFacts, limits: FraudThresholds) -> Reason | None:
    """More clicks within a minute than allowed from one network (critical), visitor, device
    or affiliate (high); the first exceeded of these, in that order."""
    for what, seen, limit in (
        ("network", facts.network_clicks, limits.network_clicks_per_minute),
        ("visitor", facts.visitor_clicks, limits.visitor_clicks_per_minute),
        ("device", facts.device_clicks, limits.device_clicks_per_minute),
        ("affiliate", facts.affiliate_clicks, limits.affiliate_clicks_per_minute),
    ):
        if seen > limit:
            return make_reason(
                f"velocity.{what}",
                "high" if what != "network" else "critical",
                f"More than {limit} clicks from this {what} within a minute.",
            )
    return None


def frequency_cap(facts: ClickFacts, limits: FraudThresholds) -> Reason | None:
    """A returning visitor over the frequency cap: more than ``visitor_touches_per_week``
    touches in seven days (the plans: at most 5), or more than
    ``visitor_affiliate_clicks_per_day`` clicks on one affiliate's links in a day. The click
    is recorded, under review, and does not earn."""
    if facts.visitor_touches_week > limits.visitor_touches_per_week:
        cap = limits.visitor_touches_per_week
        return make_reason(
            "velocity.frequency_cap",
            "warn",
            f"The visitor has been touched more than {cap} times in seven days: over the "
            "frequency cap, the click does not earn.",
            score=limits.review_score,
        )
    if facts.visitor_affiliate_clicks_today <= limits.visitor_affiliate_clicks_per_day:
        return None
    limit = limits.visitor_affiliate_clicks_per_day
    return make_reason(
        "velocity.frequency_cap",
        "warn",
        f"The visitor clicked this affiliate's links more than {limit} times in a day.",
        score=limits.review_score,
    )


def paid_search(facts: ClickFacts, limits: FraudThresholds) -> Reason | None:
    """Paid-ad click ids on a click of a campaign that forbids paid search: critical."""
    if not limits.forbid_paid_search or not facts.paid_parameters:
        return None
    names = ", ".join(sorted(facts.paid_parameters))
    return make_reason(
        "paid.click_id",
        "critical",
        f"The click carries paid-ad click ids ({names}) and the campaign forbids paid search.",
    )


def click_blacklist(facts: ClickFacts, _: FraudThresholds) -> Reason | None:
    """Anything of the click (network, device, affiliate) on the blacklist: critical."""
    if not facts.blacklisted:
        return None
    what = ", ".join(facts.blacklisted)
    return make_reason("blacklist.click", "critical", f"Blacklisted: {what}.")


#: Rules that look at the user agent alone (judged once per distinct user agent).
USER_AGENT_RULES: Final[tuple[ClickRule, ...]] = (known_bot, headless)
#: Rules judged on every click.
CLICK_RULES: Final[tuple[ClickRule, ...]] = (
    click_blacklist,
    paid_search,
    click_velocity,
    frequency_cap,
    hosting_network,
)
