"""The verdict of a click or order with nothing against it.

The verdicts themselves come from the rules in ``affiliate_sdk.antifraud.rules``.
"""

from __future__ import annotations

from typing import Final

from affiliate_sdk.models import Verdict

__all__ = ["ALLOW"]

#: The verdict of a click or order with nothing against it.
ALLOW: Final = Verdict(decision="allow", score=0)
