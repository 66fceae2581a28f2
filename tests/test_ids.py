from __future__ import annotations

import os
import threading

import pytest

from affiliate_sdk.ids import (
    ID_LENGTH,
    RANDOM_BITS,
    id_timestamp_ms,
    is_valid_id,
    new_id,
    new_id_pair,
)


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


def test_pair_is_two_distinct_ids() -> None:
    first, second = new_id_pair(1_700_000_000_000)
    assert first != second
    assert is_valid_id(first) and is_valid_id(second)
    assert id_timestamp_ms(first) == id_timestamp_ms(second) == 1_700_000_000_000


def test_pool_bytes_go_to_one_id_each_across_refills_and_threads() -> None:
    # 20,000 ids from four threads take about 50 pool reads: no id may repeat
    # (two threads handed the same bytes would mint the same id in one millisecond)
    minted: list[list[str]] = [[] for _ in range(4)]

    def mint(into: list[str]) -> None:
        for _ in range(2_500):
            into.extend(new_id_pair(1_700_000_000_000))

    threads = [threading.Thread(target=mint, args=(into,)) for into in minted]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [value for into in minted for value in into]
    assert len(everything) == 20_000
    assert len(set(everything)) == 20_000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_does_not_reuse_the_parents_bytes() -> None:
    new_id(1)  # the pool now holds unread bytes the child inherits
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.write(write, new_id(1).encode())
        finally:
            os._exit(0)
    os.close(write)
    try:
        child = os.read(read, 64).decode()
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    parent = new_id(1)
    assert is_valid_id(child)
    assert child != parent  # without the reset both would take the same next bytes
