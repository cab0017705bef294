"""Fig. 5 views: counts at a fixed threshold and the severity ranking."""

from __future__ import annotations

import pytest

from evaluator.groups import Group
from evaluator.metrics import RankedCase, confusion_at_threshold, ranked_severity_chart

GROUPS = ["covid", "covid", "covid", "normal", "normal", "nodules", "bacterial_pneumonia"]
SCORES = [0.9, 0.5, 0.2, 0.1, 0.6, 0.49, 0.7]


def test_confusion_counts_per_group() -> None:
    result = confusion_at_threshold(GROUPS, SCORES)
    assert result == {
        "threshold": 0.5,
        "groups": {
            "covid": {"negative": 1, "positive": 2},  # 0.5 counts as positive (score >= threshold)
            "bacterial_pneumonia": {"negative": 0, "positive": 1},
            "nodules": {"negative": 1, "positive": 0},
            "normal": {"negative": 1, "positive": 1},
        },
        "sensitivity": pytest.approx(2 / 3),
        "specificity": pytest.approx(2 / 4),
    }


def test_confusion_threshold_and_not_applicable() -> None:
    strict = confusion_at_threshold(GROUPS, SCORES, threshold=0.95)
    assert strict is not None and strict["sensitivity"] == 0.0 and strict["specificity"] == 1.0
    assert confusion_at_threshold(GROUPS, None) is None
    only_covid = confusion_at_threshold(["covid"], [0.7])
    assert only_covid is not None and only_covid["specificity"] is None
    assert only_covid["groups"]["normal"] == {"negative": 0, "positive": 0}
    with pytest.raises(ValueError, match="finite"):
        confusion_at_threshold(GROUPS, SCORES, threshold=float("nan"))


def test_ranked_chart_descending_with_stable_ties() -> None:
    chart = ranked_severity_chart(GROUPS, [0.3, 0.5, 0.3, 0.0, 0.1, 0.5, 0.2])
    assert chart == [
        RankedCase(1, 0.5, Group.COVID),
        RankedCase(2, 0.5, Group.NODULES),
        RankedCase(3, 0.3, Group.COVID),
        RankedCase(4, 0.3, Group.COVID),
        RankedCase(5, 0.2, Group.BACTERIAL_PNEUMONIA),
        RankedCase(6, 0.1, Group.NORMAL),
        RankedCase(7, 0.0, Group.NORMAL),
    ]
    assert ranked_severity_chart(GROUPS, None) is None
    with pytest.raises(ValueError, match="lengths differ"):
        ranked_severity_chart(GROUPS, [0.1])
