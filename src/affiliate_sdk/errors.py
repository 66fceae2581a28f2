"""Every error the SDK raises, under one root.

Catch ``AffiliateError`` to handle them all; catch a branch to handle one concern.
Each error carries the context a host needs to act on it (the key id of a bad
signature, the instant a link expired, the amount left to refund).

::

    AffiliateError
    ├── InvalidInput                 bad argument or model data (also a ValueError)
    │   ├── MoneyError
    │   │   ├── InvalidAmount        float, NaN, or unparsable amount
    │   │   ├── UnknownCurrency      not an ISO 4217 code
    │   │   ├── CurrencyMismatch     arithmetic across two currencies
    │   │   └── MissingFxRate        no exchange rate between two currencies
    │   └── InvalidKey               keyring secret too short, bad key id
    ├── LinkError                    a tracking link cannot be used
    │   ├── MalformedLink            not a token this SDK issued
    │   ├── UnknownKey               signed by a key the keyring does not hold
    │   ├── InvalidSignature         tag does not match: forged or altered
    │   ├── LinkExpired              past its expiry
    │   └── ForbiddenLanding         landing URL outside the campaign's domains
    ├── CampaignError
    │   ├── UnknownCampaign
    │   └── CampaignInactive
    ├── OrderError
    │   ├── ConflictingOrder         same (merchant_id, order_id), different content
    │   ├── UnknownOrder
    │   ├── RefundExceedsOrder       refund larger than what is left to refund
    │   └── ConflictingRefund        same refund id, different amount
    ├── CommissionError
    │   ├── UnknownCommission        no ledger line with that id
    │   ├── CommissionStateError     the line's status does not allow the change
    │   └── LedgerImbalance          the reconciliation does not balance to the cent
    ├── WebhookError
    │   ├── WebhookSignatureError    missing, malformed, stale or not matching signature
    │   ├── ForbiddenDestination     a URL that resolves where deliveries must not go
    │   └── UnknownSubscription      no subscription with that id
    └── StorageError
        ├── UnsupportedStore         store URL scheme not known
        └── SchemaVersionError       database written by a newer SDK
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = [
    "AffiliateError",
    "CampaignError",
    "CampaignInactive",
    "CommissionError",
    "CommissionStateError",
    "ConflictingOrder",
    "ConflictingRefund",
    "CurrencyMismatch",
    "ForbiddenDestination",
    "ForbiddenLanding",
    "InvalidAmount",
    "InvalidInput",
    "InvalidKey",
    "InvalidSignature",
    "LedgerImbalance",
    "LinkError",
    "LinkExpired",
    "MalformedLink",
    "MissingFxRate",
    "MoneyError",
    "OrderError",
    "RefundExceedsOrder",
    "SchemaVersionError",
    "StorageError",
    "UnknownCampaign",
    "UnknownCommission",
    "UnknownCurrency",
    "UnknownKey",
    "UnknownOrder",
    "UnknownSubscription",
    "UnsupportedStore",
    "WebhookError",
    "WebhookSignatureError",
]


class AffiliateError(Exception):
    """Root of every error raised by affiliate_sdk."""


# --- input -----------------------------------------------------------------


class InvalidInput(AffiliateError, ValueError):
    """An argument or model field is not acceptable.

    ``errors`` lists one dict per problem (``loc``, ``msg``, ``type``), in the
    shape pydantic uses, so a host can map them back to its own form fields.
    """

    def __init__(self, message: str, *, errors: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(message)
        self.errors = list(errors)

    @classmethod
    def from_validation_error(cls, exc: ValidationError) -> InvalidInput:
        details = [
            {"loc": tuple(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()
        ]
        lines = [f"{'.'.join(str(p) for p in d['loc']) or '(model)'}: {d['msg']}" for d in details]
        return cls(f"invalid {exc.title}: " + "; ".join(lines), errors=details)


class MoneyError(InvalidInput):
    """A money amount or currency is not acceptable."""


class InvalidAmount(MoneyError):
    def __init__(self, value: object, reason: str) -> None:
        super().__init__(f"invalid money amount {value!r}: {reason}")
        self.value = value
        self.reason = reason


class UnknownCurrency(MoneyError):
    def __init__(self, currency: object) -> None:
        super().__init__(f"{currency!r} is not an ISO 4217 currency code")
        self.currency = currency


class CurrencyMismatch(MoneyError):
    def __init__(self, left: str, right: str) -> None:
        super().__init__(f"cannot combine {left} with {right}: currencies differ")
        self.left = left
        self.right = right


class MissingFxRate(MoneyError):
    def __init__(self, base: str, quote: str) -> None:
        super().__init__(f"no exchange rate from {base} to {quote}: configure an FxRates provider")
        self.base = base
        self.quote = quote


class InvalidKey(InvalidInput):
    def __init__(self, key_id: object, reason: str) -> None:
        super().__init__(f"signing key {key_id!r}: {reason}")
        self.key_id = key_id
        self.reason = reason


# --- links -----------------------------------------------------------------


class LinkError(AffiliateError):
    """A tracking link cannot be used.

    Raised on the click path, where forged links arrive by the thousand, so
    these errors keep their context in ``args`` (no Python ``__init__`` runs)
    and write their message only when shown.
    """


class MalformedLink(LinkError):
    """Not a token this SDK issued. ``reason`` says what is wrong with it."""

    args: tuple[str]

    @property
    def reason(self) -> str:
        return self.args[0]

    def __str__(self) -> str:
        return f"malformed tracking link: {self.reason}"


class UnknownKey(LinkError):
    """Signed by a key id the keyring does not hold (never added, or retired)."""

    args: tuple[str]

    @property
    def key_id(self) -> str:
        return self.args[0]

    def __str__(self) -> str:
        return f"link signed with unknown or retired key {self.key_id!r}"


class InvalidSignature(LinkError):
    """The tag does not match: the link was forged or altered."""

    args: tuple[str]

    @property
    def key_id(self) -> str:
        return self.args[0]

    def __str__(self) -> str:
        return f"link signature does not verify under key {self.key_id!r}"


class LinkExpired(LinkError):
    """The link is past ``expired_at``."""

    args: tuple[datetime]

    @property
    def expired_at(self) -> datetime:
        return self.args[0]

    def __str__(self) -> str:
        return f"link expired at {self.expired_at.isoformat()}"


class ForbiddenLanding(LinkError):
    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"landing URL {url!r} refused: {reason}")
        self.url = url
        self.reason = reason


# --- campaigns ---------------------------------------------------------------


class CampaignError(AffiliateError):
    """A campaign is missing or cannot take traffic."""


class UnknownCampaign(CampaignError):
    def __init__(self, campaign_id: str) -> None:
        super().__init__(f"no campaign {campaign_id!r}")
        self.campaign_id = campaign_id


class CampaignInactive(CampaignError):
    """The campaign exists but is paused; ``landing_url`` is where the link pointed."""

    def __init__(self, campaign_id: str, landing_url: str | None = None) -> None:
        super().__init__(f"campaign {campaign_id!r} is not active")
        self.campaign_id = campaign_id
        self.landing_url = landing_url


# --- orders ------------------------------------------------------------------


class OrderError(AffiliateError):
    """An order or refund cannot be booked."""


class ConflictingOrder(OrderError):
    def __init__(self, merchant_id: str, order_id: str) -> None:
        super().__init__(
            f"order {order_id!r} of merchant {merchant_id!r} was already recorded "
            "with different content"
        )
        self.merchant_id = merchant_id
        self.order_id = order_id


class UnknownOrder(OrderError):
    def __init__(self, merchant_id: str, order_id: str) -> None:
        super().__init__(f"no order {order_id!r} for merchant {merchant_id!r}")
        self.merchant_id = merchant_id
        self.order_id = order_id


class RefundExceedsOrder(OrderError):
    def __init__(self, order_id: str, requested: object, remaining: object) -> None:
        super().__init__(
            f"refund of {requested} on order {order_id!r} exceeds the {remaining} left to refund"
        )
        self.order_id = order_id
        self.requested = requested
        self.remaining = remaining


class ConflictingRefund(OrderError):
    def __init__(self, order_id: str, refund_id: str) -> None:
        super().__init__(
            f"refund {refund_id!r} on order {order_id!r} was already booked with another amount"
        )
        self.order_id = order_id
        self.refund_id = refund_id


# --- commission lifecycle ----------------------------------------------------------


class CommissionError(AffiliateError):
    """A commission line cannot make the change asked of it."""


class UnknownCommission(CommissionError):
    def __init__(self, entry_id: str) -> None:
        super().__init__(f"no commission line {entry_id!r}")
        self.entry_id = entry_id


class CommissionStateError(CommissionError):
    def __init__(self, entry_id: str, status: str, target: str) -> None:
        super().__init__(f"commission line {entry_id!r} is {status}: it cannot become {target}")
        self.entry_id = entry_id
        self.status = status
        self.target = target


class LedgerImbalance(CommissionError):
    """The reconciliation failed: ``rows`` are the merchants and currencies off balance."""

    def __init__(self, rows: Sequence[Any]) -> None:
        names = ", ".join(f"{r.merchant_id} {r.currency} off by {r.difference}" for r in rows)
        super().__init__(f"the ledger does not reconcile: {names}")
        self.rows = list(rows)


# --- webhooks ----------------------------------------------------------------


class WebhookError(AffiliateError):
    """A webhook cannot be signed, verified, subscribed or delivered."""


class WebhookSignatureError(WebhookError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"webhook signature rejected: {reason}")
        self.reason = reason


class ForbiddenDestination(WebhookError):
    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"will not deliver to {url!r}: {reason}")
        self.url = url
        self.reason = reason


class UnknownSubscription(WebhookError):
    def __init__(self, subscription_id: str) -> None:
        super().__init__(f"no subscription {subscription_id!r}")
        self.subscription_id = subscription_id


# --- storage -----------------------------------------------------------------


class StorageError(AffiliateError):
    """The store cannot be opened or used."""


class UnsupportedStore(StorageError):
    def __init__(self, url: str) -> None:
        super().__init__(
            f"unsupported store URL {url!r}: use 'memory://' or 'sqlite:///path/to/file.db'"
        )
        self.url = url


class SchemaVersionError(StorageError):
    def __init__(self, found: int, supported: int) -> None:
        super().__init__(
            f"database schema version {found} is newer than this SDK supports ({supported})"
        )
        self.found = found
        self.supported = supported
