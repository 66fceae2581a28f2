from __future__ import annotations

from affiliate_sdk.ids import ID_LENGTH, RANDOM_BITS, id_timestamp_ms, is_valid_id, new_id


def test_shape_and_stamp() -> None:
    value = new_id(1_767_225_600_123)
    assert len(value) == ID_LENGTH
    assert is_valid_id(value)
    assert id_timestamp_ms(value) == 1_767_225_600_123
    assert RANDOM_BITS >= 80


def test_sorts_by_time() -> None:
    stamps = [1_700_000_000_000 + step * 7 for step in range(500)]
    ids = [new_id(ms) for ms in stamps]
    assert sorted(ids) == ids
    assert [id_timestamp_ms(v) for v in ids] == stamps


def test_unguessable_within_one_millisecond() -> None:
    ids = {new_id(1_700_000_000_000) for _ in range(10_000)}
    assert len(ids) == 10_000
    # the random tail differs in many positions, not just a counter at the end
    tails = {v[8:16] for v in ids}
    assert len(tails) > 9_900


def test_rejects_other_shapes() -> None:
    assert not is_valid_id("x" * 21)
    assert not is_valid_id("!" * ID_LENGTH)
    assert not is_valid_id(None)
    good = new_id(1)
    assert not is_valid_id(good[:-1] + "z")  # non-zero padding bits
