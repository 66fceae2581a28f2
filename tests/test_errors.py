from __future__ import annotations

import inspect
import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime

import pytest

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


# --- pickling: every error in the tree, rebuilt with its context -----------------

_WHEN = datetime(2026, 1, 1, tzinfo=UTC)


class _Row:
    """A stand-in reconciliation row (picklable: defined at module level)."""

    def __init__(self, merchant_id: str, currency: str, difference: str) -> None:
        self.merchant_id = merchant_id
        self.currency = currency
        self.difference = difference

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Row) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash((self.merchant_id, self.currency, self.difference))


# One example per class: positional args and keyword args. A class missing here
# fails ``test_the_table_covers_the_whole_tree``.
_EXAMPLES: dict[type[errors.AffiliateError], tuple[tuple[object, ...], dict[str, object]]] = {
    errors.AffiliateError: (("something went wrong",), {}),
    errors.InvalidInput: (
        ("bad order",),
        {"errors": [{"loc": ("total",), "msg": "too many decimals", "type": "money"}]},
    ),
    errors.MoneyError: (("bad money",), {}),
    errors.InvalidAmount: ((0.1, "floats are inexact"), {}),
    errors.UnknownCurrency: (("XXY",), {}),
    errors.CurrencyMismatch: (("USD", "EUR"), {}),
    errors.MissingFxRate: (("USD", "CNY"), {}),
    errors.InvalidKey: (("k1", "secret is 8 bytes"), {}),
    errors.ConfigurationError: (("pseudonym_key is required for a durable store",), {}),
    errors.LinkError: (("link unusable",), {}),
    errors.MalformedLink: (("bad base64",), {}),
    errors.UnknownKey: (("k0",), {}),
    errors.InvalidSignature: (("k1",), {}),
    errors.LinkExpired: ((_WHEN,), {}),
    errors.ForbiddenLanding: (("https://evil.test/", "not a campaign domain"), {}),
    errors.CampaignError: (("campaign unusable",), {}),
    errors.UnknownCampaign: (("c1",), {}),
    errors.CampaignInactive: (("c1", "https://shop.example.com/p/1"), {}),
    errors.AmbiguousCampaign: (("c1", ["m1", "m2"]), {}),
    errors.OrderError: (("order unusable",), {}),
    errors.ConflictingOrder: (("m1", "o1"), {}),
    errors.UnknownOrder: (("m1", "o1"), {}),
    errors.RefundExceedsOrder: (("o1", "10.00 USD", "5.00 USD"), {}),
    errors.ConflictingRefund: (("o1", "r1"), {}),
    errors.CommissionError: (("commission unusable",), {}),
    errors.UnknownCommission: (("e1",), {}),
    errors.CommissionStateError: (("e1", "paid", "rejected"), {}),
    errors.LedgerImbalance: (([_Row("m1", "USD", "0.01")],), {}),
    errors.LedgerTampered: (("ledger line", "e1", 42, "amount 9.00 USD, journal 10.00 USD"), {}),
    errors.WebhookError: (("webhook unusable",), {}),
    errors.WebhookSignatureError: (("timestamp outside the tolerance",), {}),
    errors.ForbiddenDestination: (("http://10.0.0.1/", "a private address"), {}),
    errors.UnknownSubscription: (("s1",), {}),
    errors.StorageError: (("store unusable",), {}),
    errors.UnsupportedStore: (("mongodb://x",), {}),
    errors.SchemaVersionError: ((9, 5), {}),
    errors.DuplicateEntry: (("journal entry", "order/m1/o1"), {}),
    errors.MissingExtra: (("networks", "IP network lookups"), {}),
}


def _tree(root: type[errors.AffiliateError]) -> set[type[errors.AffiliateError]]:
    found = {root}
    for sub in root.__subclasses__():
        found |= _tree(sub)
    return found


def _public_attributes(error: BaseException) -> dict[str, object]:
    names = {n for n in dir(error) if not n.startswith("_")} - {"args", "with_traceback"}
    values = {n: getattr(error, n) for n in names}
    return {n: v for n, v in values.items() if not callable(v)}


def test_the_table_covers_the_whole_tree() -> None:
    tree = {cls for cls in _tree(errors.AffiliateError) if cls.__module__.startswith("affiliate")}
    assert tree - set(_EXAMPLES) == set(), "add an example for each new error class"
    assert set(_EXAMPLES) - tree == set()


def test_every_error_survives_pickle_with_its_context() -> None:
    for cls, (args, kwargs) in _EXAMPLES.items():
        error = cls(*args, **kwargs)
        assert isinstance(error.code, str) and error.code, cls
        assert 400 <= error.http_status < 600, cls
        for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
            copy = pickle.loads(pickle.dumps(error, protocol=protocol))
            assert type(copy) is cls
            assert str(copy) == str(error)
            assert copy.args == error.args
            assert (copy.code, copy.http_status) == (error.code, error.http_status)
            attributes = _public_attributes(error)
            assert _public_attributes(copy) == attributes, cls
            assert set(vars(copy)) == set(vars(error)), cls


def test_codes_are_stable_names_one_per_class() -> None:
    codes = [cls.code for cls in _EXAMPLES]
    assert len(set(codes)) == len(codes)
    assert all(code.replace("_", "").isalpha() and code.islower() for code in codes)
    assert errors.ConflictingOrder.code == "conflicting_order"
    assert errors.DuplicateEntry.code == "duplicate_entry"
    assert errors.ConflictingOrder.http_status == 409
    assert errors.UnknownOrder.http_status == 404
    assert errors.LinkExpired.http_status == 410
    assert errors.InvalidInput.http_status == 422


def test_the_new_errors_carry_context() -> None:
    duplicate = errors.DuplicateEntry("journal entry", "x")
    assert (duplicate.what, duplicate.key) == ("journal entry", "x")
    assert str(duplicate) == "a journal entry with key 'x' exists"
    assert isinstance(duplicate, errors.StorageError)

    extra = errors.MissingExtra("networks", "IP network lookups")
    assert (extra.extra, extra.feature) == ("networks", "IP network lookups")
    assert "pip install 'affiliate-sdk[networks]'" in str(extra)

    ambiguous = errors.AmbiguousCampaign("c1", ["m1", "m2"])
    assert (ambiguous.campaign_id, ambiguous.merchant_ids) == ("c1", ("m1", "m2"))
    assert "pass merchant_id" in str(ambiguous)
    assert isinstance(ambiguous, errors.CampaignError)

    tampered = errors.LedgerTampered("payout", "run-1", None, "total differs")
    assert (tampered.what, tampered.key, tampered.seq) == ("payout", "run-1", None)
    assert str(tampered) == (
        "payout 'run-1' does not match the journal: total differs; no money was moved"
    )
    assert "journal entry 7" in str(errors.LedgerTampered("mark", "k", 7, "missing"))
    assert isinstance(tampered, errors.CommissionError)

    config = errors.ConfigurationError("no key")
    assert isinstance(config, errors.InvalidInput) and isinstance(config, ValueError)


def _book_conflicting(order_id: str) -> None:
    raise errors.ConflictingOrder("m1", order_id)


def test_an_error_raised_in_a_process_pool_reaches_the_caller_as_itself() -> None:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        future = pool.submit(_book_conflicting, "o1")
        with pytest.raises(errors.ConflictingOrder) as caught:
            future.result(timeout=60)
    assert (caught.value.merchant_id, caught.value.order_id) == ("m1", "o1")
    assert caught.value.code == "conflicting_order"
