from __future__ import annotations

from decimal import Decimal

import pytest

from affiliate_sdk import _base, _validation
from affiliate_sdk._kernel import fields
from affiliate_sdk._kernel.fields import AffiliateModel, Identifier, Rate, Text, check_identifier
from affiliate_sdk.errors import InvalidInput


class _Row(AffiliateModel):
    name: Identifier
    rate: Rate
    note: Text | None = None


def test_the_old_modules_re_export_the_same_objects() -> None:
    for name in _base.__all__:
        assert getattr(_base, name) is getattr(fields, name)
    for name in _validation.__all__:
        assert getattr(_validation, name) is getattr(fields, name)


def test_rates_load_from_percent_strings_and_fractions() -> None:
    assert _Row(name="a1", rate="12.5%").rate == Decimal("0.125")
    assert _Row(name="a1", rate=Decimal("0.2")).rate == Decimal("0.2")
    assert fields.parse_rate("7%") == Decimal("0.07")
    with pytest.raises(InvalidInput, match="floats"):
        _Row(name="a1", rate=0.1)
    with pytest.raises(InvalidInput, match="between 0% and 100%"):
        _Row(name="a1", rate="120%")


def test_identifiers_and_text() -> None:
    assert check_identifier("merchant_id", "m-1.x:y@z") == "m-1.x:y@z"
    with pytest.raises(InvalidInput, match="merchant_id") as caught:
        check_identifier("merchant_id", "m 1")
    assert caught.value.errors[0]["loc"] == ("merchant_id",)
    with pytest.raises(InvalidInput) as invalid:
        _Row(name="-bad", rate="1%", note="tab\there")
    assert sorted(e["loc"][0] for e in invalid.value.errors) == ["name", "note"]
    assert _Row(name="a1", rate="1%", note="x" * 256).note == "x" * 256
    with pytest.raises(InvalidInput):
        _Row(name="a1", rate="1%", note="x" * 257)


def test_models_are_frozen_and_strict() -> None:
    row = _Row(name="a1", rate="1%")
    with pytest.raises(Exception, match="frozen"):
        row.name = "a2"  # type: ignore[misc]
    with pytest.raises(InvalidInput, match="Extra inputs"):
        _Row.model_validate({"name": "a1", "rate": "1%", "other": 1})
    with pytest.raises(InvalidInput):
        _Row.model_validate_json('{"name": "a1", "rate": 0.5}')
