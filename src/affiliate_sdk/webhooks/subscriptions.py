"""Subscriptions, postback URL templates and the destination guard.

A ``Subscription`` names who it is for (the platform, one merchant or one
affiliate), where to deliver, which event types, its secrets (the first
signs; more during a rotation) and whether it is active. A URL may carry
macros, an affiliate's postback filled from the event with every value
URL-encoded. The SDK's own values (``MACROS``: ``{click_id}``,
``{order_id}``, ``{amount}``, ``{currency}``, ``{commission}``,
``{event_id}``, ``{event_type}``) come from the event and never from the
affiliate: the sub-ids of the link, the affiliate's own values, have a
namespace of their own, ``{sub.<name>}`` (``{sub.campaign}``,
``{sub.sub1}``), and ``{sub1}``..``{sub5}`` are the sub-ids of those names.
A sub-id named ``commission`` is ``{sub.commission}``; ``{commission}`` is
always the commission booked. Any other macro is refused when the
subscription is made (``InvalidInput``).

Each subscription lives under its owner's *scope* (``Subscription.scope``):
``""`` for the platform, ``m:<merchant id>`` or ``a:<affiliate id>``, so
two owners may choose the same subscription id. ``disabled_by`` says who
turned a subscription off: only one disabled by ``"failures"`` (its events
kept dying) is probed and turns itself back on when its receiver answers.

``check_destination`` (kept in ``webhooks.destinations``, importable from
here too) refuses URLs whose host is, or resolves to, an address that is not
public (loopback, private, link-local where cloud metadata lives, and the
rest of its table), whatever the spelling.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, Literal
from urllib.parse import quote, urlsplit

from pydantic import Field, field_validator, model_validator

from affiliate_sdk._base import AffiliateModel, Identifier
from affiliate_sdk._kernel.fields import UnicodeText, check_text

from .destinations import Resolver, check_destination
from .events import EventType

__all__ = [
    "MACROS",
    "PLATFORM_SCOPE",
    "SUB_MACRO_PREFIX",
    "DisabledBy",
    "Resolver",
    "Subscription",
    "check_destination",
    "fill_template",
    "scope_for",
]

#: The macros a URL may carry besides ``{sub.<name>}`` (a sub-id of the link, by name).
MACROS: Final = frozenset(
    {
        "click_id",
        "order_id",
        "amount",
        "currency",
        "commission",
        "event_id",
        "event_type",
        "sub1",
        "sub2",
        "sub3",
        "sub4",
        "sub5",
    }
)
#: The prefix of the affiliate's sub-id macros: ``{sub.<name>}``, a name as links allow.
SUB_MACRO_PREFIX: Final = "sub."
_SUB_NAME: Final = re.compile(r"sub\.[A-Za-z0-9_]{1,32}")
_MACRO: Final = re.compile(r"\{([a-z0-9_]+|sub\.[A-Za-z0-9_]{1,32})\}")
#: What a URL may mean as a macro: each must be one (``{Sub1}`` and ``{sub.}`` are refused).
_LIKE_A_MACRO: Final = re.compile(r"\{([A-Za-z0-9_.-]*)\}")
#: Who turned a subscription off: its own failures (probed, re-enabled on its own),
#: its endpoint answering 410, the destination guard, or an operator.
DisabledBy = Literal["failures", "gone", "destination", "operator"]
#: The scope of the platform's own subscriptions.
PLATFORM_SCOPE: Final = ""
_SCOPE_PREFIX: Final = {"merchant": "m:", "affiliate": "a:"}


def scope_for(owner: Literal["platform", "merchant", "affiliate"], owner_id: str | None) -> str:
    """The scope an owner's subscriptions live under: ``""``, ``m:<id>`` or ``a:<id>``."""
    if owner == "platform":
        return PLATFORM_SCOPE
    return f"{_SCOPE_PREFIX[owner]}{owner_id}"


class Subscription(AffiliateModel):
    """Where and what to deliver, for whom, signed with which secrets."""

    subscription_id: Identifier
    owner: Literal["platform", "merchant", "affiliate"]
    owner_id: Identifier | None = None
    url: UnicodeText = Field(min_length=8, max_length=2048)
    event_types: list[EventType] = Field(min_length=1)
    secrets: list[UnicodeText] = Field(min_length=1, max_length=3, repr=False)
    method: Literal["POST", "GET"] = "POST"
    active: bool = True
    disabled_reason: UnicodeText | None = None
    disabled_by: DisabledBy | None = None

    @property
    def scope(self) -> str:
        """The owner's scope: ``""`` (platform), ``m:<merchant id>`` or ``a:<affiliate id>``."""
        return scope_for(self.owner, self.owner_id)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(_MACRO.sub("x", value))
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("the URL must be http(s) with a host")
        unknown = {
            name
            for name in _LIKE_A_MACRO.findall(value)
            if name not in MACROS and not _SUB_NAME.fullmatch(name)
        }
        if unknown:
            raise ValueError(
                f"unknown macros {sorted(unknown)}; known: {sorted(MACROS)} "
                "and {sub.<name>} for a sub-id of the link"
            )
        if _MACRO.search(urlsplit(value).netloc):
            raise ValueError("macros may not change the URL's host")
        return value

    @field_validator("secrets")
    @classmethod
    def _secrets(cls, value: list[str]) -> list[str]:
        if any(len(secret.encode()) < 16 for secret in value):
            raise ValueError("each secret must be at least 16 bytes")
        return value

    @model_validator(mode="after")
    def _owner(self) -> Subscription:
        if (self.owner == "platform") != (self.owner_id is None):
            raise ValueError(
                "a merchant or affiliate subscription names its owner_id; a platform one does not"
            )
        return self

    def wants(self, event_type: str, data: Mapping[str, Any]) -> bool:
        """Whether an event of this type and data is for this subscription."""
        if event_type not in self.event_types:
            return False
        if self.owner == "merchant":
            return data.get("merchant_id") == self.owner_id
        if self.owner == "affiliate":
            credited = {c.get("affiliate_id") for c in data.get("credits", ())}
            return data.get("affiliate_id") == self.owner_id or self.owner_id in credited
        return True


def fill_template(url: str, values: Mapping[str, object]) -> str:
    """``url`` with each macro replaced by its URL-encoded value (empty when unknown);
    ``InvalidInput`` for a value that is not valid Unicode text."""

    def value(match: re.Match[str]) -> str:
        found = values.get(match.group(1))
        text = "" if found is None else str(found)
        return quote(check_text(f"the value of {{{match.group(1)}}}", text), safe="")

    return _MACRO.sub(value, url)
