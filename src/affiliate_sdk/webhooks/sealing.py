"""Subscription secrets sealed at rest with keys from the alliance's keyring.

A secret is kept as ``sealed:v1:<key id>:<base64url(nonce + AES-GCM ciphertext)>``,
the AES-128 key derived from the keyring entry named (its HMAC over a fixed
context) and the subscription id bound in as associated data, so a sealed
secret copied to another subscription does not open. Reading the store alone
gives no usable secret. The newest keyring key seals; any key still in the
keyring opens. After rotating the keyring, ``Alliance.reseal_secrets()`` seals
every secret with the new key, before the old key is removed.

The same keys make the keyed digests the delivery log keeps of receivers'
answers instead of the answers (``digest``, ``<key id>:<hex HMAC-SHA256>``
under a key derived for that use): whoever reads the store learns nothing of
an answer, not even by hashing guesses, and the host can still tell whether
an answer was a given body (``digest_matches``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from affiliate_sdk.errors import WebhookError
from affiliate_sdk.tracking.keys import Keyring

from .subscriptions import Subscription

__all__ = ["PREFIX", "SecretBox"]

PREFIX: Final = "sealed:v1:"
_CONTEXT: Final = b"affiliate_sdk/webhook-secrets/v1"
_DIGEST_PURPOSE: Final = "webhook-responses"


class SecretBox:
    """Seals and opens subscription secrets with keys derived from a keyring."""

    __slots__ = ("_keyring",)

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring

    def _aead(self, key_id: str) -> AESGCM:
        try:
            key = self._keyring[key_id]
        except KeyError:
            raise WebhookError(
                f"a webhook secret is sealed with key {key_id!r}, which the keyring no longer "
                "holds: put it back, or subscribe again with the secret"
            ) from None
        return AESGCM(key.tag(_CONTEXT))

    def digest(self, data: bytes) -> str:
        """A keyed digest of ``data``: ``<key id>:<hex HMAC-SHA256>``, with the newest key."""
        key_id = self._keyring.signing_key.key_id
        return f"{key_id}:{self._mac(key_id, data)}"

    def digest_matches(self, digest: str, data: bytes) -> bool:
        """Whether ``digest`` (from ``digest``) is of ``data``; False once its key is gone."""
        key_id, _, mac = digest.partition(":")
        if key_id not in self._keyring:
            return False
        return hmac.compare_digest(self._mac(key_id, data), mac)

    def _mac(self, key_id: str, data: bytes) -> str:
        key = self._keyring.derive(_DIGEST_PURPOSE, key_id=key_id)
        return hmac.new(key, data, hashlib.sha256).hexdigest()

    def seal(self, secret: str, subscription_id: str) -> str:
        if secret.startswith(PREFIX):
            return secret
        key_id = self._keyring.signing_key.key_id
        nonce = os.urandom(12)
        sealed = self._aead(key_id).encrypt(nonce, secret.encode(), subscription_id.encode())
        text = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{PREFIX}{key_id}:{text}"

    def open(self, secret: str, subscription_id: str) -> str:
        if not secret.startswith(PREFIX):
            return secret  # kept before sealing, or by a store written by hand
        key_id, _, text = secret[len(PREFIX) :].partition(":")
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        try:
            plain = self._aead(key_id).decrypt(raw[:12], raw[12:], subscription_id.encode())
        except InvalidTag:
            raise WebhookError(
                f"the secret of subscription {subscription_id!r} does not open: it was sealed "
                "for another subscription or altered"
            ) from None
        return plain.decode()

    def sealed(self, subscription: Subscription) -> Subscription:
        """The subscription with its secrets sealed (as the store keeps it)."""
        sid = subscription.subscription_id
        return subscription.model_copy(
            update={"secrets": [self.seal(s, sid) for s in subscription.secrets]}
        )

    def opened(self, subscription: Subscription) -> Subscription:
        """The subscription with its secrets readable (to sign with)."""
        sid = subscription.subscription_id
        return subscription.model_copy(
            update={"secrets": [self.open(s, sid) for s in subscription.secrets]}
        )
