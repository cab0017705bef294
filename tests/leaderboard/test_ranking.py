"""Ordering rules of the board: N/A last in both directions, ties, best per team, mean rank."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leaderboard.board.ranking import (
    Row,
    best_per_group,
    comparable,
    competition_ranks,
    mean_rank_positions,
    mean_ranks,
    metric_ranks,
    quality_ranks,
    sort_rows,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def row(key, value, *, group=None, minutes=0, **others):
    return Row(key=key, group=group, metrics={"m": value, **others}, created_at=T0 + timedelta(minutes=minutes))


values = st.one_of(st.none(), st.floats(min_value=0, max_value=1, allow_nan=False))


@given(st.lists(values, max_size=30), st.booleans())
def test_na_sorts_after_every_number_in_both_directions(numbers, descending):
    rows = [row(i, v, minutes=i) for i, v in enumerate(numbers)]
    ordered = [r.metrics["m"] for r in sort_rows(rows, metric="m", descending=descending)]
    present = [v for v in ordered if v is not None]
    assert ordered == present + [None] * (len(ordered) - len(present))
    shown = [comparable(v) for v in present]  # values equal to 1e-9 are ties, kept in submission order
    assert shown == sorted(shown, reverse=descending)


def test_ties_keep_the_earlier_submission_first():
    rows = [row("late", 0.9, minutes=5), row("early", 0.9, minutes=1), row("best", 0.95, minutes=9)]
    assert [r.key for r in sort_rows(rows, metric="m")] == ["best", "early", "late"]


def test_float_noise_is_a_tie_and_the_earlier_entry_stays_first():
    # the same AUC computed twice in different orders (the numbers): the later, "larger" one is not better
    rows = [row("late", 0.8990778688524591, minutes=5, group="t"), row("early", 0.899077868852459, minutes=1,
                                                                    group="t")]
    ordered = sort_rows(rows, metric="m")
    assert [r.key for r in ordered] == ["early", "late"]
    assert [r.key for r in best_per_group(ordered)] == ["early"]
    assert competition_ranks([r.metrics["m"] for r in ordered]) == [1, 1]
    assert list(metric_ranks([0.8990778688524591, 0.899077868852459])) == [1.5, 1.5]
    assert quality_ranks([row("a", 0.9 + 2e-9), row("b", 0.9)], metric="m") == {"a": 1, "b": 2}  # not noise


def test_competition_ranks_share_ties_and_skip_na():
    assert competition_ranks([0.9, 0.8, 0.8, 0.7, None, None]) == [1, 2, 2, 4, None, None]


def test_quality_ranks_do_not_depend_on_the_display_order():
    rows = [row("a", 0.5), row("b", 0.9), row("c", None)]
    assert quality_ranks(rows, metric="m") == {"b": 1, "a": 2, "c": None}


def test_best_per_group_keeps_first_of_each_team_and_all_references():
    ordered = [row(1, 0.9, group="t1"), row(2, 0.8, group="t2"), row(3, 0.7, group="t1"), row(4, 0.6),
               row(5, 0.5)]
    assert [r.key for r in best_per_group(ordered)] == [1, 2, 4, 5]


def test_metric_ranks_put_na_below_numbers():
    assert metric_ranks([0.5, None, 0.9, None]).tolist() == [2.0, 3.5, 1.0, 3.5]


def test_mean_rank_positions_share_ties():
    assert mean_rank_positions({"a": 2.0, "b": 1.5, "c": 2.0, "d": 3.0}) == {"b": 1, "a": 2, "c": 2, "d": 4}


def test_mean_rank_never_rewards_leaving_a_metric_out():
    full = Row("full", "a", {"x": 0.6, "y": 0.6}, T0)
    partial = Row("partial", "b", {"x": 0.7, "y": None}, T0)
    weak = Row("weak", "c", {"x": 0.1, "y": 0.1}, T0)
    means = mean_ranks([full, partial, weak], metrics=["x", "y"])
    assert means == {"full": pytest.approx(1.5), "partial": pytest.approx(2.0), "weak": pytest.approx(2.5)}
