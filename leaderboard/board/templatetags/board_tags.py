"""Formatting of metrics on pages: three decimals, N/A, intervals, the paper's mean ± std."""

from __future__ import annotations

from django import template

from leaderboard.board.charts import GROUP_LABELS

register = template.Library()
MINUS = "\u2212"  # a minus sign, not a hyphen: "−0.358", and "−0.722–0.179" reads as a range


def _signed(value: float) -> str:
    text = f"{value:.3f}"
    return MINUS + text[1:] if text.startswith("-") else text


@register.filter
def metric(value) -> str:
    return "N/A" if value is None else _signed(value)


@register.filter
def interval(value) -> str:
    """``[low, high]`` (compact form) as "0.781–0.962"; empty when there is none."""
    if not value:
        return ""
    low, high = (value["low"], value["high"]) if isinstance(value, dict) else value
    return f"{_signed(low)}–{_signed(high)}"


@register.filter
def paper(value) -> str:
    """(mean, std) as the paper prints it: ".93 ± .01"; N/A when the paper has none."""
    if not value or value[0] is None:
        return "N/A"
    mean, std = value

    def short(x: float) -> str:
        text = f"{x:.2f}"
        return text[1:] if text.startswith("0.") else text

    return f"{short(mean)} ± {short(std or 0.0)}"


@register.filter
def minutes(value) -> str:
    """Minutes with one decimal ("12.3", "−0.4"); N/A when there is none."""
    if value is None:
        return "N/A"
    text = f"{value:.1f}"
    return MINUS + text[1:] if text.startswith("-") else text


@register.filter
def minutes_interval(value) -> str:
    """An interval of minutes (``[low, high]`` or ``{"low", "high"}``) as "3.1–8.0"; empty when there is none."""
    if not value:
        return ""
    low, high = (value["low"], value["high"]) if isinstance(value, dict) else value
    return f"{minutes(low)}–{minutes(high)}"


@register.filter
def get(mapping, key):
    if mapping is None:
        return None
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def group_label(value) -> str:
    """A diagnosis group's key as people read it ("bacterial_pneumonia" → "Bacterial pneumonia")."""
    return GROUP_LABELS.get(str(value), str(value).replace("_", " "))


SCHEME_LABELS = {"aggregate_then_rank": "aggregate, then rank", "rank_then_aggregate": "rank per case, then average",
                 "test_then_rank": "test, then rank"}


@register.filter
def scheme_label(value) -> str:
    """A ranking scheme of the robustness panel (:data:`evaluator.ranking.SCHEMES`) in words."""
    return SCHEME_LABELS.get(str(value), str(value).replace("_", " "))


@register.filter
def percent(value) -> str:
    return "N/A" if value is None else f"{value:.1%}"


@register.filter
def pvalue(value) -> str:
    if value is None:
        return "N/A"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"
