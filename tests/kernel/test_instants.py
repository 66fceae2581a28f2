from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from affiliate_sdk._kernel.instants import EPOCH, check_aware, from_ms, to_ms
from affiliate_sdk.errors import InvalidInput

_FIRST_MS = -62_135_596_800_000  # 0001-01-01T00:00:00Z
_LAST_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def test_known_instants() -> None:
    assert to_ms(EPOCH) == 0
    assert to_ms(datetime(2026, 1, 1, tzinfo=UTC)) == 1_767_225_600_000
    assert to_ms(datetime(2026, 3, 1, 12, 0, 0, 123_000, tzinfo=UTC)) == 1_772_366_400_123
    assert from_ms(1_767_225_600_000) == datetime(2026, 1, 1, tzinfo=UTC)
    assert from_ms(1_772_366_400_123) == datetime(2026, 3, 1, 12, 0, 0, 123_000, tzinfo=UTC)


def test_from_ms_is_aware_utc() -> None:
    instant = from_ms(0)
    assert instant.tzinfo is UTC
    assert instant.utcoffset() == timedelta(0)


def test_other_zones_give_the_same_instant() -> None:
    beijing = timezone(timedelta(hours=8))
    assert to_ms(datetime(2026, 1, 1, 8, tzinfo=beijing)) == 1_767_225_600_000


def test_sub_millisecond_parts_are_floored() -> None:
    assert to_ms(datetime(2026, 1, 1, 0, 0, 0, 999, tzinfo=UTC)) == 1_767_225_600_000
    assert to_ms(datetime(2026, 1, 1, 0, 0, 0, 1_999, tzinfo=UTC)) == 1_767_225_600_001
    assert to_ms(datetime(1969, 12, 31, 23, 59, 59, 999_500, tzinfo=UTC)) == -1
    assert from_ms(-1) == datetime(1969, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC)


def test_where_float_seconds_would_round_wrongly() -> None:
    # 1700000000.123 is 1700000000.1229999... as a float
    assert to_ms(datetime(2023, 11, 14, 22, 13, 20, 123_000, tzinfo=UTC)) == 1_700_000_000_123
    assert to_ms(from_ms(_LAST_MS)) == _LAST_MS


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(InvalidInput, match="no time zone"):
        to_ms(datetime(2026, 1, 1))


@given(st.integers(min_value=_FIRST_MS, max_value=_LAST_MS))
def test_milliseconds_round_trip(ms: int) -> None:
    assert to_ms(from_ms(ms)) == ms


@given(st.datetimes(timezones=st.just(UTC)))
def test_datetimes_round_trip_to_the_millisecond(instant: datetime) -> None:
    assert from_ms(to_ms(instant)) == instant.replace(
        microsecond=instant.microsecond // 1000 * 1000
    )


def test_check_aware_names_the_field_of_a_naive_datetime() -> None:
    aware = datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=8)))
    assert check_aware("start", aware) is aware
    with pytest.raises(InvalidInput, match="start must be a timezone-aware datetime") as caught:
        check_aware("start", datetime(2026, 1, 1))
    assert caught.value.errors[0]["loc"] == ("start",)
    with pytest.raises(TypeError, match="start must be a datetime"):
        check_aware("start", "2026-01-01")  # type: ignore[arg-type]
