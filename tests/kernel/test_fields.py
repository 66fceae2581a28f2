from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import Field

from affiliate_sdk import _base, _validation
from affiliate_sdk._kernel import fields
from affiliate_sdk._kernel.fields import (
    AffiliateModel,
    Identifier,
    Rate,
    Text,
    UnicodeText,
    check_identifier,
    check_text,
    check_texts,
)
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


class _Texts(AffiliateModel):
    name: Identifier | None = None
    note: Text | None = None
    free: UnicodeText | None = None
    many: list[UnicodeText] = Field(default_factory=list)


@pytest.mark.parametrize("bad", ["\ud800", "ok\udfff", "\udcff" * 3, "é\ud83d"])
def test_lone_surrogates_are_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(InvalidInput, match="user_agent") as caught:
        check_text("user_agent", bad)
    assert caught.value.errors == [
        {"loc": ("user_agent",), "msg": "must be valid Unicode text (no lone surrogates)",
         "type": "unicode"}
    ]  # fmt: skip
    with pytest.raises(InvalidInput, match="referrer"):
        check_texts(visitor_id="v1", referrer=bad)
    for field in ("name", "note", "free"):
        with pytest.raises(InvalidInput, match=field):
            _Texts(**{field: bad})
    with pytest.raises(InvalidInput, match=r"many\.1"):
        _Texts(many=["fine", bad])


def test_valid_text_passes_and_other_types_are_left_to_their_own_checks() -> None:
    for good in ["", "plain", "Größe 😀"]:
        assert check_text("note", good) == good
        assert _Texts(free=good, many=[good]).free == good
    check_texts(a=None, b=7, c="ok")  # None and non-strings pass: their own checks apply
    with pytest.raises(TypeError, match="note must be a str"):
        check_text("note", 7)  # type: ignore[arg-type]
