"""A stored click for the backends' own tests, with only what a test varies to set."""

from __future__ import annotations

from affiliate_sdk.storage.rows import ClickRow


def click_row(
    click_id: str, at: int, *, visitor: str = "visitor-1", link: str = "L1", campaign: str = "c1"
) -> ClickRow:
    """A click of merchant ``m1``'s affiliate ``a1``, allowed, at ``at`` ms."""
    return ClickRow(
        click_id, visitor, link, "a1", campaign, "m1", "https://shop.example.com/", b"s", at,
        None, None, None, None, "allow", "{}",
    )  # fmt: skip
