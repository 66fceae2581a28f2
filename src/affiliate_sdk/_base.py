"""The model base and field types, kept here for existing imports: see ``_kernel.fields``."""

from __future__ import annotations

from affiliate_sdk._kernel.fields import AffiliateModel, Identifier, Rate, Text, parse_rate

__all__ = ["AffiliateModel", "Identifier", "Rate", "Text", "parse_rate"]
