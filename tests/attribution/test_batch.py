"""Batch attribution: hand-computed examples, conventions, and the two solvers agreeing."""

from __future__ import annotations

from math import isclose

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from affiliate_sdk import InvalidInput
from affiliate_sdk.attribution import (
    HEURISTICS,
    Journeys,
    chains,
    heuristic,
    markov,
    shapley,
    touch_weights,
)

# a > b converts (value 10); b does not; a > c > a converts once (value 5), once not.
TOY = [("a>b", 1, 10, 0), ("b", 0, 0, 1), ("a>c>a", 1, 5, 1)]


def credits(result: object) -> dict[str, float]:
    return {name: c for name, (c, _v) in result.as_dict().items()}  # type: ignore[attr-defined]


def test_markov_order_one_by_hand() -> None:
    result = markov(Journeys.from_paths(TOY))
    # start -> a 3/4, -> b 1/4; a -> b 1/5, c 2/5, conversion 1/5, null 1/5;
    # b -> conversion 1/2, null 1/2; c -> a 1.
    table = result.transition_table()
    assert table["(start)"] == pytest.approx({"a": 0.75, "b": 0.25})
    assert table["a"] == pytest.approx({"b": 0.2, "c": 0.4, "(conversion)": 0.2, "(null)": 0.2})
    assert table["c"] == pytest.approx({"a": 1.0})
    # x_a = 0.2 + 0.2 * 0.5 + 0.4 * x_a, so x_a = 0.5 and P = 0.75 * 0.5 + 0.25 * 0.5.
    assert result.conversion_probability == pytest.approx(0.5, abs=1e-12)
    # Without a: 0.25 * 0.5; without b: x_a = 1/3; without c: x_a = 0.3.
    effects = dict(zip(result.channels, result.removal_effects, strict=True))
    assert effects == pytest.approx({"a": 0.75, "b": 0.5, "c": 0.3}, abs=1e-12)
    expected = {"a": 0.75 / 1.55 * 2, "b": 0.5 / 1.55 * 2, "c": 0.3 / 1.55 * 2}
    assert credits(result) == pytest.approx(expected, abs=1e-12)
    # Value: a conversion out of a is worth 5, out of b 10, so a -> exit pays 1 per visit,
    # b -> exit 5. E[value] = 15 / 4 journeys.
    assert result.expected_value == pytest.approx(3.75, abs=1e-12)
    assert sum(v for _c, v in result.as_dict().values()) == pytest.approx(15.0)


def test_markov_order_two_by_hand() -> None:
    journeys = Journeys.from_paths([("a>b>c", 1, 0, 0), ("a>b", 0, 0, 1), ("c>b", 1, 0, 0)])
    result = markov(journeys, order=2)
    assert set(result.states) == {"(start)", "a > b", "b > c", "c > b"}
    # start -> (a,b) 2/3, (c,b) 1/3; (a,b) -> (b,c) 1/2, null 1/2; (b,c), (c,b) convert.
    assert result.conversion_probability == pytest.approx(2 / 3, abs=1e-12)
    effects = dict(zip(result.channels, result.removal_effects, strict=True))
    # Without a: only (c,b) remains, P' = 1/3; b is in every state; c is in (b,c) and (c,b).
    assert effects == pytest.approx({"a": 0.5, "b": 1.0, "c": 1.0}, abs=1e-12)
    assert credits(result) == pytest.approx({"a": 0.4, "b": 0.8, "c": 0.8}, abs=1e-12)


def test_repeats_collapse_and_short_paths_are_one_state() -> None:
    repeated = markov(Journeys.from_paths([("a>a>b", 2, 20, 1), ("b>b", 1, 5, 3)]), order=3)
    plain = markov(Journeys.from_paths([("a>b", 2, 20, 1), ("b", 1, 5, 3)]), order=3)
    assert repeated.states == plain.states == ("(start)", "a > b", "b")
    np.testing.assert_allclose(repeated.conversions, plain.conversions, atol=1e-12)
    np.testing.assert_allclose(repeated.value, plain.value, atol=1e-12)


def test_journeys_without_conversions_or_nulls_are_left_out() -> None:
    with_empty = markov(Journeys.from_paths([*TOY, ("c>b", 0, 0, 0)]))
    assert credits(with_empty) == pytest.approx(credits(markov(Journeys.from_paths(TOY))))


def test_nothing_converted_credits_nothing() -> None:
    result = markov(Journeys.from_paths([("a>b", 0, 0, 3)]))
    assert result.conversions.tolist() == [0.0, 0.0]
    assert result.conversion_probability == 0.0


def _random_journeys(seed: int, channels: int, rows: int, mean: float) -> Journeys:
    rng = np.random.Generator(np.random.PCG64(seed))
    lengths = rng.geometric(1 / mean, rows)
    touches = rng.integers(0, channels, int(lengths.sum()))
    conversions = rng.integers(0, 3, rows)
    nulls = rng.integers(0, 5, rows)
    return Journeys(
        [f"c{n}" for n in range(channels)],
        np.concatenate(([0], np.cumsum(lengths))),
        touches,
        conversions,
        values=conversions * rng.lognormal(3, 0.5, rows),
        nulls=nulls,
    )


@pytest.mark.parametrize("order", [1, 2, 3])
def test_dense_and_iterative_solutions_agree(order: int, monkeypatch: pytest.MonkeyPatch) -> None:
    journeys = _random_journeys(7, 6, 400, 4.0)
    dense = markov(journeys, order)
    monkeypatch.setattr(chains, "DENSE_STATES", 0)
    iterative = markov(journeys, order)
    np.testing.assert_allclose(iterative.removal_effects, dense.removal_effects, atol=1e-10)
    np.testing.assert_allclose(iterative.conversions, dense.conversions, atol=1e-9)
    np.testing.assert_allclose(iterative.value, dense.value, rtol=1e-9)
    assert iterative.conversion_probability == pytest.approx(dense.conversion_probability)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from("abcd"), min_size=1, max_size=6),
            st.integers(0, 3),
            st.integers(0, 3),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_markov_credits_sum_to_the_conversions(rows: list[tuple[list[str], int, int]]) -> None:
    journeys = Journeys.from_paths((path, c, 2.5 * c, n) for path, c, n in rows)
    for order in (1, 2):
        result = markov(journeys, order)
        assert np.all(result.conversions >= 0)
        assert np.all((result.removal_effects >= 0) & (result.removal_effects <= 1 + 1e-12))
        total = float(journeys.conversions.sum())
        if result.conversion_probability > 0:
            assert float(result.conversions.sum()) == pytest.approx(total)
        again = markov(journeys, order)
        assert np.array_equal(again.conversions, result.conversions)  # reproducible, bit for bit


def test_heuristic_weights_by_hand() -> None:
    journeys = Journeys.from_paths([("a", 1, 10, 0), ("a>b", 1, 10, 0), ("a>b>c>d", 1, 100, 0)])
    weights = {model: touch_weights(journeys, model).tolist() for model in HEURISTICS}
    assert weights["first_touch"] == [1, 1, 0, 1, 0, 0, 0]
    assert weights["last_touch"] == [1, 0, 1, 0, 0, 0, 1]
    assert weights["linear"] == pytest.approx([1, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25])
    assert weights["position_based"] == pytest.approx([1, 0.5, 0.5, 0.4, 0.1, 0.1, 0.4])
    # Steps before the end as ages, half-life 1: 1/8, 1/4, 1/2, 1 over their sum 15/8.
    decay = touch_weights(journeys, "time_decay", half_life=1.0).tolist()
    assert decay[3:] == pytest.approx([1 / 15, 2 / 15, 4 / 15, 8 / 15])
    linear = heuristic(journeys, "linear").as_dict()
    assert linear["a"] == pytest.approx((1 + 0.5 + 0.25, 10 + 5 + 25))
    assert linear["d"] == pytest.approx((0.25, 25))


def test_time_decay_uses_given_ages() -> None:
    journeys = Journeys(["x", "y"], [0, 2], [0, 1], [1], values=[6], ages=[14.0, 0.0])
    # Half-life 7 days: x is two half-lives old, so 1/4 against y's 1.
    result = heuristic(journeys, "time_decay", half_life=7.0).as_dict()
    assert result["x"] == pytest.approx((0.2, 1.2))
    assert result["y"] == pytest.approx((0.8, 4.8))


def test_position_based_shares_are_configurable() -> None:
    journeys = Journeys.from_paths([("a>b>c", 1, 0, 0)])
    weights = touch_weights(journeys, "position_based", first=0.3, last=0.5).tolist()
    assert weights == pytest.approx([0.3, 0.2, 0.5])
    with pytest.raises(InvalidInput):
        touch_weights(journeys, "position_based", first=0.7, last=0.5)


SHAPLEY_ROWS = [("a>b", 1, 10, 0), ("b", 0, 0, 1), ("a>c>a", 1, 5, 1), ("a", 1, 3, 2)]


def test_shapley_rate_by_hand() -> None:
    # Worth of a coalition: conversion rate of the journeys inside it.
    # v(a) = 1/3, v(b) = 0, v(c) = 0 (nobody), v(ab) = 2/5, v(ac) = 2/5, v(bc) = 0, v(abc) = 3/7.
    result = shapley(Journeys.from_paths(SHAPLEY_ROWS))
    phi = result.details["shapley values"]
    expected_a = (1 / 3) / 3 + (2 / 5) / 6 + (2 / 5) / 6 + (3 / 7) / 3
    expected_b = 0 / 3 + (2 / 5 - 1 / 3) / 6 + 0 / 6 + (3 / 7 - 2 / 5) / 3
    assert phi["a"] == pytest.approx(expected_a, abs=1e-12)
    assert phi["b"] == pytest.approx(expected_b, abs=1e-12)
    assert sum(phi.values()) == pytest.approx(3 / 7, abs=1e-12)  # efficiency: v(all)
    assert float(result.conversions.sum()) == pytest.approx(3.0)
    assert isclose(result.as_dict()["a"][0], 3 * expected_a / (3 / 7), abs_tol=1e-9)


def test_shapley_sampling_is_seeded_and_close_to_exact() -> None:
    journeys = _random_journeys(3, 8, 300, 3.0)
    exact = shapley(journeys).details["shapley values"]
    sampled = shapley(journeys, exact_limit=0, samples=4000, seed=11)
    again = shapley(journeys, exact_limit=0, samples=4000, seed=11)
    assert np.array_equal(sampled.conversions, again.conversions)
    errors = sampled.details["standard errors"]
    for name, value in sampled.details["shapley values"].items():
        assert abs(value - exact[name]) <= 5 * errors[name] + 1e-12


def test_shapley_conversions_splits_each_set_evenly() -> None:
    result = shapley(Journeys.from_paths(SHAPLEY_ROWS), worth="conversions").as_dict()
    assert result["a"] == pytest.approx((0.5 + 0.5 + 1, 5 + 2.5 + 3))
    assert result["b"] == pytest.approx((0.5, 5))
    assert result["c"] == pytest.approx((0.5, 2.5))


def test_from_journeys_merges_equal_paths() -> None:
    journeys = Journeys.from_journeys(
        [("a > b", True, 10.0), (["a", "b"], False, 0.0), ("a>b", True, 5.0), ("b", False, 0.0)]
    )
    assert len(journeys) == 2
    assert journeys.path(0) == ("a", "b")
    assert journeys.conversions.tolist() == [2, 0]
    assert journeys.values.tolist() == [15, 0]
    assert journeys.nulls.tolist() == [1, 1]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Journeys.from_paths([("a>>b", 1, 0, 0)]), "empty touch"),
        (lambda: Journeys.from_paths([("a", -1, 0, 0)]), "not negative"),
        (lambda: Journeys(["a"], [0, 2], [0], [1]), "offsets"),
        (lambda: Journeys(["a"], [0, 1], [3], [1]), "indexes into channels"),
        (lambda: Journeys(["a", "a"], [0, 1], [0], [1]), "unique"),
        (lambda: Journeys(["(start)"], [0, 1], [0], [1]), "starting with"),
        (lambda: Journeys(["a"], [0, 1], [0], [1, 2]), "one value per path"),
        (lambda: markov(Journeys.from_paths(TOY), order=4), "order must be 1 to 3"),
        (lambda: heuristic(Journeys.from_paths(TOY), "middle"), "unknown model"),  # type: ignore[arg-type]
        (lambda: shapley(Journeys.from_paths(TOY), worth="value"), "worth"),  # type: ignore[arg-type]
    ],
)
def test_bad_input_is_refused(build: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        build()  # type: ignore[operator]


def test_row_order_and_aggregation_do_not_matter() -> None:
    rows = [("a>b", 1, 4, 1), ("b>a>c", 2, 6, 0), ("c", 0, 0, 3), ("a>b", 1, 2, 0)]
    merged = [("a>b", 2, 6, 1), ("b>a>c", 2, 6, 0), ("c", 0, 0, 3)]
    base = markov(Journeys.from_paths(rows)).as_dict()
    for other in (rows[::-1], merged):
        again = markov(Journeys.from_paths(other)).as_dict()
        assert again.keys() == base.keys()
        for name, (conversions, value) in base.items():
            assert again[name] == pytest.approx((conversions, value), abs=1e-12)
