"""The JournalContract on every registered backend."""

from __future__ import annotations

from affiliate_sdk.testing.contract import JournalContract


class TestJournal(JournalContract):
    pass
