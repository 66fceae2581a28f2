"""The parent share: a recruiter earns a share of the lines of the affiliates it brought. Pure.

Two-tier affiliation: with a plan's ``parent_share``, each credited
affiliate's recruiter (``Affiliate.parent_id``) earns that share of the
affiliate's own commission lines, rounded once, on top of them (the
affiliate's line is not reduced).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from affiliate_sdk.commission.calculator import COMMISSION_ROUNDING
from affiliate_sdk.models import Commission

__all__ = ["parent_line"]


def parent_line(
    line: Commission,
    parent_id: str,
    share: Decimal,
    *,
    entry_id: str,
    common: Mapping[str, object],
) -> Commission | None:
    """The recruiter's line for one of the affiliate's lines (None when it earns nothing)."""
    amount = (line.amount * share).round(COMMISSION_ROUNDING)
    if line.account != "affiliate" or not amount:
        return None
    update = {
        **common,
        "entry_id": entry_id,
        "event_id": f"{line.event_id}/parent",
        "account": "parent",
        "affiliate_id": parent_id,
        "amount": amount,
        "rate": share,
        "basis": line.amount,
        "rule": f"parent share {(share * 100).normalize():f}%",
    }
    return line.model_copy(update=update)
