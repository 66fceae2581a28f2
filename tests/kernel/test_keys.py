from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from affiliate_sdk._kernel.keys import path_key, unescape


def test_parts_are_joined_by_slashes() -> None:
    assert path_key("order", "m1", "o1") == "order/m1/o1"
    assert path_key("only") == "only"
    assert path_key() == ""
    assert path_key("", "") == "/"


def test_slashes_and_percents_inside_parts_are_escaped() -> None:
    assert path_key("a/b", "c") == "a%2Fb/c"
    assert path_key("50%", "off") == "50%25/off"
    # "%2F" written by a merchant is not mistaken for an escaped slash
    assert path_key("%2F") == "%252F"
    assert path_key("a/", "b") != path_key("a", "/b")


def test_unescape_undoes_one_part() -> None:
    assert unescape("a%2Fb") == "a/b"
    assert unescape("50%25") == "50%"
    assert unescape("%252F") == "%2F"
    assert unescape("plain") == "plain"


@given(st.lists(st.text(), min_size=1))
def test_escaping_round_trips(parts: list[str]) -> None:
    assert [unescape(p) for p in path_key(*parts).split("/")] == parts


@given(st.lists(st.text(), min_size=1), st.lists(st.text(), min_size=1))
def test_different_parts_give_different_keys(left: list[str], right: list[str]) -> None:
    assert (path_key(*left) == path_key(*right)) == (left == right)
