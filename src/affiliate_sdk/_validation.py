"""Identifier rules, kept here for existing imports: see ``_kernel.fields``."""

from __future__ import annotations

from affiliate_sdk._kernel.fields import IDENTIFIER_PATTERN, check_identifier

__all__ = ["IDENTIFIER_PATTERN", "check_identifier"]
