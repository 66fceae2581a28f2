"""The WebhookContract on every registered backend."""

from __future__ import annotations

from affiliate_sdk.testing.contract import WebhookContract


class TestWebhook(WebhookContract):
    pass
