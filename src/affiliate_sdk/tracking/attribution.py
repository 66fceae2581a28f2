"""Which click earns an order: last valid click in the campaign's window.

Pure: the ``Alliance`` loads the candidate clicks and the windows; this
module only decides, and says why each other click was passed over.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from affiliate_sdk.storage.records import ClickRecord

__all__ = ["Attribution", "last_click"]


class Attribution(NamedTuple):
    winner: ClickRecord | None
    notes: list[str]


def last_click(
    clicks: Sequence[ClickRecord],
    *,
    merchant_id: str,
    placed_at_ms: int,
    window_ms: Mapping[str, int],
) -> Attribution:
    """The latest eligible click, or none; ``notes`` explains every exclusion.

    A click is eligible when it is for one of ``merchant_id``'s campaigns that
    ``window_ms`` knows, was not blocked, came at or before the order, and no
    longer before it than its campaign's attribution window. Ties on time go
    to the larger click id, so the choice never depends on input order.
    """
    winner: ClickRecord | None = None
    notes: list[str] = []
    seen: set[str] = set()
    for click in clicks:
        if click.click_id in seen:
            continue
        seen.add(click.click_id)
        window = window_ms.get(click.campaign_id)
        if click.merchant_id != merchant_id:
            notes.append(f"click {click.click_id} is for another merchant")
        elif window is None:
            notes.append(f"click {click.click_id} is for unknown campaign {click.campaign_id}")
        elif click.decision == "block":
            notes.append(f"click {click.click_id} was blocked as invalid traffic")
        elif click.clicked_at_ms > placed_at_ms:
            notes.append(f"click {click.click_id} came after the order")
        elif placed_at_ms - click.clicked_at_ms > window:
            notes.append(f"click {click.click_id} is outside its attribution window")
        elif winner is None or (click.clicked_at_ms, click.click_id) > (
            winner.clicked_at_ms,
            winner.click_id,
        ):
            winner = click
    if winner is not None:
        notes.append(f"last valid click {winner.click_id} takes the whole order")
    return Attribution(winner, notes)
