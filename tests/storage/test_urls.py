"""Passwords stay out of the URLs and messages the SDK shows."""

from __future__ import annotations

import pytest

from affiliate_sdk.storage._urls import redacted, scrubbed


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:pw@h1:5432,h2:5432/db", "postgresql://u:***@h1:5432,h2:5432/db"),
        ("redis://:secret@h:6379/0", "redis://:***@h:6379/0"),
        ("postgresql://shop:s3cr%t@127.0.0.1/db?x=1", "postgresql://shop:***@127.0.0.1/db?x=1"),
        ("postgresql://u@h/db?password=abc&a=1", "postgresql://u@h/db?password=***&a=1"),
        ("postgresql://h/db", "postgresql://h/db"),
    ],
)
def test_a_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert redacted(url) == shown


def test_a_drivers_message_quoting_the_password_is_scrubbed() -> None:
    url = "postgresql://shop:s3cr%tpass@127.0.0.1/db"
    message = 'invalid percent-encoded token: "s3cr%tpass"'
    assert "s3cr" not in scrubbed(message, url) and "tpass" not in scrubbed(message, url)
