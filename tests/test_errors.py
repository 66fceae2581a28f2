from __future__ import annotations

import inspect
from datetime import UTC, datetime

import affiliate_sdk
from affiliate_sdk import errors


def _error_classes() -> list[type[BaseException]]:
    return [
        obj
        for _, obj in inspect.getmembers(errors, inspect.isclass)
        if issubclass(obj, Exception) and obj.__module__ == errors.__name__
    ]


def test_every_error_is_under_the_root_and_exported() -> None:
    classes = _error_classes()
    assert len(classes) > 15
    for cls in classes:
        assert issubclass(cls, errors.AffiliateError), cls
        assert getattr(affiliate_sdk, cls.__name__) is cls
        assert cls.__name__ in errors.__all__


def test_docstring_draws_the_whole_tree() -> None:
    doc = errors.__doc__ or ""
    for cls in _error_classes():
        assert cls.__name__ in doc, f"{cls.__name__} missing from the tree in errors.py"


def test_errors_carry_context() -> None:
    expired = errors.LinkExpired(datetime(2026, 1, 1, tzinfo=UTC))
    assert expired.expired_at.year == 2026
    assert "2026-01-01" in str(expired)
    assert errors.InvalidSignature("k1").key_id == "k1"
    assert errors.UnknownKey("old").key_id == "old"
    refund = errors.RefundExceedsOrder("o1", "10.00 USD", "5.00 USD")
    assert (refund.order_id, refund.remaining) == ("o1", "5.00 USD")
    landing = errors.ForbiddenLanding("https://evil.test/", "not allowed")
    assert landing.url == "https://evil.test/"
    assert isinstance(errors.InvalidInput("x"), ValueError)


def test_the_errors_page_draws_the_same_tree() -> None:
    from pathlib import Path

    page = (Path(__file__).resolve().parent.parent / "docs" / "errors.md").read_text()
    for cls in _error_classes():
        assert cls.__name__ in page, f"{cls.__name__} missing from docs/errors.md"
