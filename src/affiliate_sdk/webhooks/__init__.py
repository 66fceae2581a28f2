"""Signed webhooks and affiliate postbacks: events, the outbox, subscriptions, dispatchers.

See ``docs/webhooks.md``. The receivers' side needs only ``verify_signature``.
"""

from ._flow import DEFAULT_PROBE_POLICY, ProbePolicy
from .delivery import DEFAULT_POLICY, AttemptResult, DeliveryDecision, DeliveryPolicy, decide
from .dispatch import AsyncDispatcher, Dispatcher, DispatcherOptions, DispatchReport
from .events import EVENT_TYPES, EVENT_VERSION, Event, EventType, event_schemas
from .sealing import SecretBox
from .signing import DEFAULT_TOLERANCE, SIGNATURE_HEADER, signature_header, verify_signature
from .subscriptions import MACROS, Subscription, check_destination, fill_template

__all__ = [
    "DEFAULT_POLICY",
    "DEFAULT_PROBE_POLICY",
    "DEFAULT_TOLERANCE",
    "EVENT_TYPES",
    "EVENT_VERSION",
    "MACROS",
    "SIGNATURE_HEADER",
    "AsyncDispatcher",
    "AttemptResult",
    "DeliveryDecision",
    "DeliveryPolicy",
    "DispatchReport",
    "Dispatcher",
    "DispatcherOptions",
    "Event",
    "EventType",
    "ProbePolicy",
    "SecretBox",
    "Subscription",
    "check_destination",
    "decide",
    "event_schemas",
    "fill_template",
    "signature_header",
    "verify_signature",
]
