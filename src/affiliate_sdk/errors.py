"""Every error the SDK raises, under one root.

Catch ``AffiliateError`` to handle them all; catch a branch to handle one concern.
Each error carries the context a host needs to act on it (the key id of a bad
signature, the instant a link expired, the amount left to refund), a stable
machine ``code`` and the ``http_status`` a host's API would answer with.

Every error survives ``pickle`` with its type, message and context intact, so task
queues and process pools hand the caller the error the job raised: the root
rebuilds an error from its ``args`` and attributes without running ``__init__``
again, whatever that constructor's signature is.

::

    AffiliateError
    ├── InvalidInput                 bad argument or model data (also a ValueError)
    │   ├── MoneyError
    │   │   ├── InvalidAmount        float, NaN, or unparsable amount
    │   │   ├── UnknownCurrency      not an ISO 4217 code
    │   │   ├── CurrencyMismatch     arithmetic across two currencies
    │   │   └── MissingFxRate        no exchange rate between two currencies
    │   ├── InvalidKey               keyring secret too short, bad key id
    │   └── ConfigurationError       a setting that cannot work
    ├── LinkError                    a tracking link cannot be used
    │   ├── MalformedLink            not a token this SDK issued
    │   ├── UnknownKey               signed by a key the keyring does not hold
    │   ├── InvalidSignature         tag does not match: forged or altered
    │   ├── LinkExpired              past its expiry
    │   └── ForbiddenLanding         landing URL outside the campaign's domains
    ├── CampaignError
    │   ├── UnknownCampaign
    │   ├── CampaignInactive
    │   └── AmbiguousCampaign        campaign id held by several merchants: pass merchant_id
    ├── OrderError
    │   ├── ConflictingOrder         same (merchant_id, order_id), different content
    │   ├── UnknownOrder
    │   ├── RefundExceedsOrder       refund larger than what is left to refund
    │   └── ConflictingRefund        same refund id, different amount
    ├── CommissionError
    │   ├── UnknownCommission        no ledger line with that id
    │   ├── CommissionStateError     the line's status does not allow the change
    │   ├── LedgerImbalance          the reconciliation does not balance to the cent
    │   └── LedgerTampered           a projection or journal entry does not verify
    ├── WebhookError
    │   ├── WebhookSignatureError    missing, malformed, stale or not matching signature
    │   ├── ForbiddenDestination     a URL that resolves where deliveries must not go
    │   └── UnknownSubscription      no subscription with that id
    ├── StorageError
    │   ├── UnsupportedStore         store URL scheme not known
    │   ├── SchemaVersionError       database written by a newer SDK
    │   └── DuplicateEntry           a unique key already present
    └── MissingExtra                 a feature needs an optional extra installed
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Final

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = [
    "AffiliateError",
    "AmbiguousCampaign",
    "CampaignError",
    "CampaignInactive",
    "CommissionError",
    "CommissionStateError",
    "ConfigurationError",
    "ConflictingOrder",
    "ConflictingRefund",
    "CurrencyMismatch",
    "DuplicateEntry",
    "ForbiddenDestination",
    "ForbiddenLanding",
    "InvalidAmount",
    "InvalidInput",
    "InvalidKey",
    "InvalidSignature",
    "LedgerImbalance",
    "LedgerTampered",
    "LinkError",
    "LinkExpired",
    "MalformedLink",
    "MissingExtra",
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

_HTTP_BAD_REQUEST: Final = 400
_HTTP_UNAUTHORIZED: Final = 401
_HTTP_FORBIDDEN: Final = 403
_HTTP_NOT_FOUND: Final = 404
_HTTP_CONFLICT: Final = 409
_HTTP_GONE: Final = 410
_HTTP_UNPROCESSABLE: Final = 422
_HTTP_SERVER_ERROR: Final = 500
_HTTP_UNAVAILABLE: Final = 503


def _rebuild(cls: type[AffiliateError], args: tuple[Any, ...]) -> AffiliateError:
    """Recreate an unpickled error without running its ``__init__`` again.

    ``BaseException.__new__`` stores ``args`` as they were; the attributes follow
    through ``__setstate__``. Calling ``cls(*args)`` instead, as the default
    reduction does, fails for every constructor whose parameters differ from the
    message it passes up.
    """
    return cls.__new__(cls, *args)


class AffiliateError(Exception):
    """Root of every error raised by affiliate_sdk.

    ``code`` is a stable machine name (log it, branch on it, send it to API
    clients); ``http_status`` is the status a host's API would answer with. Both
    are class attributes, the same for every instance of a class.
    """

    code: ClassVar[str] = "affiliate_error"
    http_status: ClassVar[int] = _HTTP_SERVER_ERROR

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as type, ``args`` and attributes; unpickling never calls ``__init__``."""
        return (_rebuild, (type(self), self.args), self.__dict__ or None)


# --- input -----------------------------------------------------------------


class InvalidInput(AffiliateError, ValueError):
    """An argument or model field is not acceptable.

    ``errors`` lists one dict per problem (``loc``, ``msg``, ``type``), in the
    shape pydantic uses, so a host can map them back to its own form fields.
    """

    code: ClassVar[str] = "invalid_input"
    http_status: ClassVar[int] = _HTTP_UNPROCESSABLE

    def __init__(self, message: str, *, errors: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(message)
        self.errors = list(errors)

    @classmethod
    def from_validation_error(cls, exc: ValidationError) -> InvalidInput:
        """Turn a pydantic ``ValidationError`` into one message and its ``errors`` list."""
        details = [
            {"loc": tuple(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()
        ]
        lines = [f"{'.'.join(str(p) for p in d['loc']) or '(model)'}: {d['msg']}" for d in details]
        return cls(f"invalid {exc.title}: " + "; ".join(lines), errors=details)


class MoneyError(InvalidInput):
    """A money amount or currency is not acceptable."""

    code: ClassVar[str] = "money_error"


class InvalidAmount(MoneyError):
    """A float, NaN or unparsable amount; ``value`` is what was given."""

    code: ClassVar[str] = "invalid_amount"

    def __init__(self, value: object, reason: str) -> None:
        super().__init__(f"invalid money amount {value!r}: {reason}")
        self.value = value
        self.reason = reason


class UnknownCurrency(MoneyError):
    """``currency`` is not an ISO 4217 code."""

    code: ClassVar[str] = "unknown_currency"

    def __init__(self, currency: object) -> None:
        super().__init__(f"{currency!r} is not an ISO 4217 currency code")
        self.currency = currency


class CurrencyMismatch(MoneyError):
    """Arithmetic or a comparison across two currencies."""

    code: ClassVar[str] = "currency_mismatch"

    def __init__(self, left: str, right: str) -> None:
        super().__init__(f"cannot combine {left} with {right}: currencies differ")
        self.left = left
        self.right = right


class MissingFxRate(MoneyError):
    """No exchange rate from ``base`` to ``quote``."""

    code: ClassVar[str] = "missing_fx_rate"

    def __init__(self, base: str, quote: str) -> None:
        super().__init__(f"no exchange rate from {base} to {quote}: configure an FxRates provider")
        self.base = base
        self.quote = quote


class InvalidKey(InvalidInput):
    """A keyring secret or key id is not acceptable."""

    code: ClassVar[str] = "invalid_key"

    def __init__(self, key_id: object, reason: str) -> None:
        super().__init__(f"signing key {key_id!r}: {reason}")
        self.key_id = key_id
        self.reason = reason


class ConfigurationError(InvalidInput):
    """A setting that cannot work, found when it is used; the message says how to fix it."""

    code: ClassVar[str] = "configuration_error"
    http_status: ClassVar[int] = _HTTP_SERVER_ERROR


# --- links -----------------------------------------------------------------


class LinkError(AffiliateError):
    """A tracking link cannot be used.

    Raised on the click path, where forged links arrive by the thousand, so
    these errors keep their context in ``args`` (no Python ``__init__`` runs)
    and write their message only when shown.
    """

    code: ClassVar[str] = "link_error"
    http_status: ClassVar[int] = _HTTP_BAD_REQUEST


class MalformedLink(LinkError):
    """Not a token this SDK issued. ``reason`` says what is wrong with it."""

    code: ClassVar[str] = "malformed_link"
    args: tuple[str]

    @property
    def reason(self) -> str:
        """What is wrong with the token."""
        return self.args[0]

    def __str__(self) -> str:
        return f"malformed tracking link: {self.reason}"


class UnknownKey(LinkError):
    """Signed by a key id the keyring does not hold (never added, or retired)."""

    code: ClassVar[str] = "unknown_key"
    args: tuple[str]

    @property
    def key_id(self) -> str:
        """The key id the link names."""
        return self.args[0]

    def __str__(self) -> str:
        return f"link signed with unknown or retired key {self.key_id!r}"


class InvalidSignature(LinkError):
    """The tag does not match: the link was forged or altered."""

    code: ClassVar[str] = "invalid_signature"
    args: tuple[str]

    @property
    def key_id(self) -> str:
        """The key id the link names."""
        return self.args[0]

    def __str__(self) -> str:
        return f"link signature does not verify under key {self.key_id!r}"


class LinkExpired(LinkError):
    """The link is past ``expired_at``."""

    code: ClassVar[str] = "link_expired"
    http_status: ClassVar[int] = _HTTP_GONE
    args: tuple[datetime]

    @property
    def expired_at(self) -> datetime:
        """The instant the link stopped being valid."""
        return self.args[0]

    def __str__(self) -> str:
        return f"link expired at {self.expired_at.isoformat()}"


class ForbiddenLanding(LinkError):
    """The landing ``url`` is outside the campaign's domains (or not a web URL)."""

    code: ClassVar[str] = "forbidden_landing"

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"landing URL {url!r} refused: {reason}")
        self.url = url
        self.reason = reason


# --- campaigns ---------------------------------------------------------------


class CampaignError(AffiliateError):
    """A campaign is missing or cannot take traffic."""

    code: ClassVar[str] = "campaign_error"
    http_status: ClassVar[int] = _HTTP_BAD_REQUEST


class UnknownCampaign(CampaignError):
    """No campaign with ``campaign_id``."""

    code: ClassVar[str] = "unknown_campaign"
    http_status: ClassVar[int] = _HTTP_NOT_FOUND

    def __init__(self, campaign_id: str) -> None:
        super().__init__(f"no campaign {campaign_id!r}")
        self.campaign_id = campaign_id


class CampaignInactive(CampaignError):
    """The campaign exists but is paused; ``landing_url`` is where the link pointed."""

    code: ClassVar[str] = "campaign_inactive"
    http_status: ClassVar[int] = _HTTP_CONFLICT

    def __init__(self, campaign_id: str, landing_url: str | None = None) -> None:
        super().__init__(f"campaign {campaign_id!r} is not active")
        self.campaign_id = campaign_id
        self.landing_url = landing_url


class AmbiguousCampaign(CampaignError):
    """``campaign_id`` exists for each of ``merchant_ids``: the call must name the merchant."""

    code: ClassVar[str] = "ambiguous_campaign"

    def __init__(self, campaign_id: str, merchant_ids: Sequence[str]) -> None:
        names = ", ".join(repr(m) for m in merchant_ids)
        super().__init__(
            f"campaign {campaign_id!r} exists for several merchants ({names}): pass merchant_id"
        )
        self.campaign_id = campaign_id
        self.merchant_ids = tuple(merchant_ids)


# --- orders ------------------------------------------------------------------


class OrderError(AffiliateError):
    """An order or refund cannot be booked."""

    code: ClassVar[str] = "order_error"
    http_status: ClassVar[int] = _HTTP_UNPROCESSABLE


class ConflictingOrder(OrderError):
    """``(merchant_id, order_id)`` was recorded before with different content."""

    code: ClassVar[str] = "conflicting_order"
    http_status: ClassVar[int] = _HTTP_CONFLICT

    def __init__(self, merchant_id: str, order_id: str) -> None:
        super().__init__(
            f"order {order_id!r} of merchant {merchant_id!r} was already recorded "
            "with different content"
        )
        self.merchant_id = merchant_id
        self.order_id = order_id


class UnknownOrder(OrderError):
    """No order ``order_id`` for ``merchant_id``."""

    code: ClassVar[str] = "unknown_order"
    http_status: ClassVar[int] = _HTTP_NOT_FOUND

    def __init__(self, merchant_id: str, order_id: str) -> None:
        super().__init__(f"no order {order_id!r} for merchant {merchant_id!r}")
        self.merchant_id = merchant_id
        self.order_id = order_id


class RefundExceedsOrder(OrderError):
    """A refund of ``requested`` is more than the ``remaining`` left to refund."""

    code: ClassVar[str] = "refund_exceeds_order"

    def __init__(self, order_id: str, requested: object, remaining: object) -> None:
        super().__init__(
            f"refund of {requested} on order {order_id!r} exceeds the {remaining} left to refund"
        )
        self.order_id = order_id
        self.requested = requested
        self.remaining = remaining


class ConflictingRefund(OrderError):
    """``refund_id`` was booked before with another amount."""

    code: ClassVar[str] = "conflicting_refund"
    http_status: ClassVar[int] = _HTTP_CONFLICT

    def __init__(self, order_id: str, refund_id: str) -> None:
        super().__init__(
            f"refund {refund_id!r} on order {order_id!r} was already booked with another amount"
        )
        self.order_id = order_id
        self.refund_id = refund_id


# --- commission lifecycle ----------------------------------------------------------


class CommissionError(AffiliateError):
    """A commission line cannot make the change asked of it."""

    code: ClassVar[str] = "commission_error"
    http_status: ClassVar[int] = _HTTP_CONFLICT


class UnknownCommission(CommissionError):
    """No ledger line ``entry_id``."""

    code: ClassVar[str] = "unknown_commission"
    http_status: ClassVar[int] = _HTTP_NOT_FOUND

    def __init__(self, entry_id: str) -> None:
        super().__init__(f"no commission line {entry_id!r}")
        self.entry_id = entry_id


class CommissionStateError(CommissionError):
    """The line is ``status``, which does not allow it to become ``target``."""

    code: ClassVar[str] = "commission_state"

    def __init__(self, entry_id: str, status: str, target: str) -> None:
        super().__init__(f"commission line {entry_id!r} is {status}: it cannot become {target}")
        self.entry_id = entry_id
        self.status = status
        self.target = target


class LedgerImbalance(CommissionError):
    """The reconciliation failed: ``rows`` are the merchants and currencies off balance."""

    code: ClassVar[str] = "ledger_imbalance"
    http_status: ClassVar[int] = _HTTP_SERVER_ERROR

    def __init__(self, rows: Sequence[Any]) -> None:
        names = ", ".join(f"{r.merchant_id} {r.currency} off by {r.difference}" for r in rows)
        super().__init__(f"the ledger does not reconcile: {names}")
        self.rows = list(rows)


class LedgerTampered(CommissionError):
    """A projection row disagrees with its journal entry, or a journal entry does not verify.

    ``what`` names the row (a ledger line, an order's money, period totals, a
    mark, a payout), ``key`` identifies it, ``seq`` is the journal entry's
    sequence number when one is known and ``reason`` says what differs. Money
    is not moved while this stands.
    """

    code: ClassVar[str] = "ledger_tampered"
    http_status: ClassVar[int] = _HTTP_SERVER_ERROR

    def __init__(self, what: str, key: str, seq: int | None, reason: str) -> None:
        where = f" (journal entry {seq})" if seq is not None else ""
        super().__init__(
            f"{what} {key!r} does not match the journal{where}: {reason}; no money was moved"
        )
        self.what = what
        self.key = key
        self.seq = seq
        self.reason = reason


# --- webhooks ----------------------------------------------------------------


class WebhookError(AffiliateError):
    """A webhook cannot be signed, verified, subscribed or delivered."""

    code: ClassVar[str] = "webhook_error"
    http_status: ClassVar[int] = _HTTP_BAD_REQUEST


class WebhookSignatureError(WebhookError):
    """The signature is missing, malformed, stale or does not match."""

    code: ClassVar[str] = "webhook_signature"
    http_status: ClassVar[int] = _HTTP_UNAUTHORIZED

    def __init__(self, reason: str) -> None:
        super().__init__(f"webhook signature rejected: {reason}")
        self.reason = reason


class ForbiddenDestination(WebhookError):
    """``url`` resolves where deliveries must not go."""

    code: ClassVar[str] = "forbidden_destination"
    http_status: ClassVar[int] = _HTTP_UNPROCESSABLE

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"will not deliver to {url!r}: {reason}")
        self.url = url
        self.reason = reason


class UnknownSubscription(WebhookError):
    """No subscription ``subscription_id``."""

    code: ClassVar[str] = "unknown_subscription"
    http_status: ClassVar[int] = _HTTP_NOT_FOUND

    def __init__(self, subscription_id: str) -> None:
        super().__init__(f"no subscription {subscription_id!r}")
        self.subscription_id = subscription_id


# --- storage -----------------------------------------------------------------


class StorageError(AffiliateError):
    """The store cannot be opened or used."""

    code: ClassVar[str] = "storage_error"
    http_status: ClassVar[int] = _HTTP_UNAVAILABLE


class UnsupportedStore(StorageError):
    """The store ``url`` has a scheme no backend knows."""

    code: ClassVar[str] = "unsupported_store"
    http_status: ClassVar[int] = _HTTP_SERVER_ERROR

    def __init__(
        self, url: str, expected: str = "'memory://' or 'sqlite:///path/to/file.db'"
    ) -> None:
        super().__init__(f"unsupported store URL {url!r}: use {expected}")
        self.url = url


class SchemaVersionError(StorageError):
    """The database is at schema ``found``, newer than the ``supported`` one."""

    code: ClassVar[str] = "schema_version"
    http_status: ClassVar[int] = _HTTP_SERVER_ERROR

    def __init__(self, found: int, supported: int) -> None:
        super().__init__(
            f"database schema version {found} is newer than this SDK supports ({supported})"
        )
        self.found = found
        self.supported = supported


class DuplicateEntry(StorageError):
    """A row whose unique ``key`` already exists: ``what`` names the kind of row."""

    code: ClassVar[str] = "duplicate_entry"
    http_status: ClassVar[int] = _HTTP_CONFLICT

    def __init__(self, what: str, key: str) -> None:
        super().__init__(f"a {what} with key {key!r} exists")
        self.what = what
        self.key = key


# --- optional features -----------------------------------------------------


class MissingExtra(AffiliateError):
    """``feature`` needs the optional dependencies of the ``extra`` extra."""

    code: ClassVar[str] = "missing_extra"
    http_status: ClassVar[int] = _HTTP_SERVER_ERROR

    def __init__(self, extra: str, feature: str) -> None:
        super().__init__(
            f"{feature} needs the {extra!r} extra: pip install 'affiliate-sdk[{extra}]'"
        )
        self.extra = extra
        self.feature = feature
