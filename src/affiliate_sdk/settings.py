"""``AllianceSettings``: every option of an ``Alliance`` and its default, in one place.

``Alliance.open(url, keys=..., **options)`` builds one from its keyword
options, so this class is the single source of truth for their names, types,
defaults and checks::

    >>> from datetime import timedelta
    >>> AllianceSettings(click_dedupe_window=timedelta(minutes=30)).click_dedupe_window
    datetime.timedelta(seconds=1800)
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any, Final

import attrs
from pydantic import TypeAdapter

from affiliate_sdk._kernel.fields import Rate
from affiliate_sdk.errors import ConfigurationError
from affiliate_sdk.models import FraudThresholds
from affiliate_sdk.tracking.clicks import DEFAULT_CLICK_PARAM, DEFAULT_VISITOR_COOKIE
from affiliate_sdk.tracking.links import DEFAULT_REDIRECT_BASE, LINK_CLOCK_SKEW

__all__ = [
    "DEFAULT_CAMPAIGN_CACHE_TTL",
    "DEFAULT_CHECKPOINT_EVERY",
    "DEFAULT_CLICK_DEDUPE_WINDOW",
    "DEFAULT_PLATFORM_TAKE",
    "DEFAULT_SETTINGS",
    "DEFAULT_SETTLE_AFTER",
    "MAX_USER_AGENT_LENGTH",
    "AllianceSettings",
]

#: A second click by the same visitor on the same link within this span
#: returns the first click instead of counting again.
DEFAULT_CLICK_DEDUPE_WINDOW: Final = timedelta(hours=1)
#: How long a campaign read from the store is trusted before it is read again
#: (changes made through this ``Alliance`` apply at once).
DEFAULT_CAMPAIGN_CACHE_TTL: Final = timedelta(seconds=5)
#: User agents are judged (and remembered) by their first this many characters.
MAX_USER_AGENT_LENGTH: Final = 512
#: How long after approval a commission becomes payable (T+1).
DEFAULT_SETTLE_AFTER: Final = timedelta(days=1)
#: With a checkpoint key, the journal signs its head every this many entries.
DEFAULT_CHECKPOINT_EVERY: Final = 1000
#: The platform's share of every commission unless configured.
DEFAULT_PLATFORM_TAKE: Final = Decimal(0)

_RATE: Final = TypeAdapter[Decimal](Rate)
_PARAM: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_COOKIE: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _redirect_base(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    plain = value.isascii() and value.isprintable() and " " not in value
    if not plain or not value.startswith(("https://", "http://")) or value.endswith("/"):
        raise ConfigurationError(
            f"redirect_base {value!r} must be an http(s) URL of printable ASCII without "
            "spaces or a trailing slash"
        )


def _matches(pattern: re.Pattern[str], what: str) -> attrs._ValidatorType[str]:
    def check(_: object, attribute: attrs.Attribute[str], value: str) -> None:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise ConfigurationError(f"{attribute.name} {value!r} must be a plain {what}")

    return check


def _rate(value: Decimal | str) -> Decimal:
    try:
        return _RATE.validate_python(value)
    except ValueError as exc:
        raise ConfigurationError(f"platform_take: {exc}") from None


def _pseudonym_key(
    _: object, attribute: attrs.Attribute[bytes | None], value: bytes | None
) -> None:
    if value is not None and not (isinstance(value, bytes) and 16 <= len(value) <= 64):
        raise ConfigurationError("pseudonym_key must be 16 to 64 bytes")


def _previous_pseudonym_keys(
    _: object, attribute: attrs.Attribute[tuple[bytes, ...]], value: tuple[bytes, ...]
) -> None:
    if not isinstance(value, tuple) or not all(
        isinstance(key, bytes) and 16 <= len(key) <= 64 for key in value
    ):
        raise ConfigurationError("previous_pseudonym_keys must be a tuple of 16 to 64 byte keys")


def _positive(_: object, attribute: Any, value: Any) -> None:
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise ConfigurationError(f"{attribute.name} must not be negative")
    elif not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{attribute.name} must be at least 1")


@attrs.frozen(kw_only=True)
class AllianceSettings:
    """The options of an ``Alliance`` (each checked when the settings are built).

    ``pseudonym_key``: the secret that keys the hashes of IPs, user agents and
    identity details; by default a random one is made at first open and kept
    sealed with the keyring beside the data, so rotating the link keys never
    re-keys stored hashes. ``previous_pseudonym_keys``: the keys ``pseudonym_key``
    replaced, newest first; orders fingerprinted under them are still recognised
    when sent again (IP, user-agent and identity hashes are compared under the
    current key only). ``fraud``: the alliance's fraud thresholds (a campaign
    may carry its own). ``link_clock_skew``: how far ahead of this host's clock
    a link's issue time may lie (``tracking.links.LINK_CLOCK_SKEW``).
    """

    redirect_base: str = attrs.field(default=DEFAULT_REDIRECT_BASE, validator=_redirect_base)
    click_param: str = attrs.field(
        default=DEFAULT_CLICK_PARAM, validator=_matches(_PARAM, "query parameter name")
    )
    cookie_name: str = attrs.field(
        default=DEFAULT_VISITOR_COOKIE, validator=_matches(_COOKIE, "cookie name")
    )
    platform_take: Decimal = attrs.field(default=DEFAULT_PLATFORM_TAKE, converter=_rate)
    pseudonym_key: bytes | None = attrs.field(default=None, validator=_pseudonym_key)
    previous_pseudonym_keys: tuple[bytes, ...] = attrs.field(
        default=(), validator=_previous_pseudonym_keys
    )
    click_dedupe_window: timedelta = attrs.field(
        default=DEFAULT_CLICK_DEDUPE_WINDOW, validator=_positive
    )
    campaign_cache_ttl: timedelta = attrs.field(
        default=DEFAULT_CAMPAIGN_CACHE_TTL, validator=_positive
    )
    checkpoint_every: int = attrs.field(default=DEFAULT_CHECKPOINT_EVERY, validator=_positive)
    link_clock_skew: timedelta = attrs.field(default=LINK_CLOCK_SKEW, validator=_positive)
    fraud: FraudThresholds = attrs.field(factory=FraudThresholds)


#: The settings of an ``Alliance`` opened without options.
DEFAULT_SETTINGS: Final = AllianceSettings()
