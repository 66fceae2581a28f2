"""The requests a delivery makes: signed, and sent only to the address the guard approved.

A request goes to the checked address, not to the name resolved again, with
the name in ``Host`` and (over https) TLS SNI; its signature is made with the
subscription's secrets, opened first when they are sealed. Sealed secrets are
bound to the subscription's scope and id (``sealing_context``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, NamedTuple
from urllib.parse import urlsplit, urlunsplit

from affiliate_sdk.errors import WebhookError
from affiliate_sdk.storage.rows import OutboxRow
from affiliate_sdk.tracking.links import SUB_ID_SLOTS

from .destinations import ascii_host
from .sealing import PREFIX as SEALED
from .sealing import SecretBox
from .signing import SIGNATURE_HEADER, signature_header
from .subscriptions import SUB_MACRO_PREFIX, Subscription, fill_template

__all__ = [
    "USER_AGENT",
    "DeliveryRequest",
    "_pinned",
    "open_subscription",
    "postback_url",
    "seal_subscription",
    "sealing_context",
    "signed_request",
    "signing_secrets",
]

USER_AGENT: Final = "affiliate-sdk-webhooks/1"


class DeliveryRequest(NamedTuple):
    """A request to make: to the checked address, naming the host in ``Host`` and TLS SNI."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    extensions: dict[str, str]


def sealing_context(scope: str, subscription_id: str) -> str:
    """What a sealed secret is bound to: the subscription id, under its scope.

    Platform subscriptions keep the bare id, as sealed before scopes existed.
    """
    return subscription_id if not scope else f"{scope}/{subscription_id}"


def seal_subscription(box: SecretBox, subscription: Subscription) -> Subscription:
    """The subscription with its secrets sealed, bound to its scope and id."""
    context = sealing_context(subscription.scope, subscription.subscription_id)
    return subscription.model_copy(
        update={"secrets": [box.seal(s, context) for s in subscription.secrets]}
    )


def open_subscription(box: SecretBox, subscription: Subscription) -> Subscription:
    """The subscription with its secrets readable (to sign with)."""
    context = sealing_context(subscription.scope, subscription.subscription_id)
    return subscription.model_copy(
        update={"secrets": [box.open(s, context) for s in subscription.secrets]}
    )


def signing_secrets(box: SecretBox | None, subscription: Subscription) -> list[str]:
    """The subscription's secrets to sign with (opened when sealed)."""
    if box is not None:
        return open_subscription(box, subscription).secrets
    if any(secret.startswith(SEALED) for secret in subscription.secrets):
        raise WebhookError(
            "the subscription's secrets are sealed: make the dispatcher with "
            "the alliance's webhooks.dispatcher(), or pass secrets=SecretBox(keyring)"
        )
    return subscription.secrets


def postback_url(subscription: Subscription, event: Mapping[str, Any]) -> str:
    """The subscription's URL with the event's values in its macros."""
    return fill_template(subscription.url, _macros(event))


def signed_request(
    subscription: Subscription,
    row: OutboxRow,
    url: str,
    address: str,
    *,
    secrets: list[str],
    timestamp: int,
) -> DeliveryRequest:
    """The request delivering ``row`` to ``url``, sent to ``address`` and signed at ``timestamp``.

    A POST carries the event; a GET postback carries nothing, and its
    signature covers the request target (path and query) instead.
    """
    path, host, pinned, extensions = _pinned(url, address)
    post = subscription.method == "POST"
    body = row.data.encode() if post else path.encode()
    headers = {
        "Host": host,
        SIGNATURE_HEADER: signature_header(secrets, timestamp, body),
        "Idempotency-Key": row.event_id,
        "Affiliate-Event-Type": row.type,
        "User-Agent": USER_AGENT,
    }
    if post:
        headers["Content-Type"] = "application/json"
    return DeliveryRequest(subscription.method, pinned, headers, body if post else b"", extensions)


def _pinned(url: str, address: str) -> tuple[str, str, str, dict[str, str]]:
    """``url`` sent to ``address``, the address the destination check approved.

    Connecting to the checked address (not resolving the name again) means a
    DNS answer that changes after the check cannot redirect the delivery. The
    name still goes in ``Host`` and, over https, in SNI, so the certificate is
    verified against it. Returns the request target (path and query, what a
    GET postback's signature covers), the ``Host`` value, the pinned URL and
    the request extensions.
    """
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    host = parts.netloc.rpartition("@")[2]
    name = parts.hostname or ""
    if not host.isascii():  # an international name: in Host and SNI as the resolver saw it
        name = ascii_host(name)
        host = name if parts.port is None else f"{name}:{parts.port}"
    literal = f"[{address}]" if ":" in address else address
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    pinned = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    extensions = {"sni_hostname": name} if parts.scheme == "https" else {}
    return target, host, pinned, extensions


def _macros(event: Mapping[str, Any]) -> dict[str, object]:
    """The values a postback URL's macros are filled from.

    The affiliate's sub-ids go under ``sub.<name>`` (and ``sub1``..``sub5``
    as themselves); the SDK's own values are set last, so no sub-id can
    stand in for them, whatever it is named.
    """
    data: Mapping[str, Any] = event.get("data", {})
    sub_ids: Mapping[str, Any] = data.get("sub_ids") or {}
    values: dict[str, object] = {
        f"{SUB_MACRO_PREFIX}{name}": value for name, value in sub_ids.items()
    }
    values.update({slot: sub_ids.get(slot) for slot in SUB_ID_SLOTS})
    values.update(
        {
            "event_id": event.get("event_id"),
            "event_type": event.get("type"),
            **{name: data.get(name) for name in ("click_id", "order_id", "amount", "currency")},
            "commission": data.get("commission", data.get("amount")),
        }
    )
    return values
