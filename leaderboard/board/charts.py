"""Server-side SVG charts from a result document's public part (pure: plain data in, markup out).

- :func:`roc_panels` — ROC curves of the four subsets of the paper (COVID-19 vs all others,
  normal, bacterial pneumonia, nodules) as four small panels with the chance diagonal.
- :func:`ranked_severity` — the paper's Fig. 5 (right): every case as a bar of its predicted
  severity, most severe first, coloured by diagnosis group.
- :func:`severity_summary` — what replaces it where labels are hidden: per group, a box of the
  bootstrap-averaged quartiles and a mark at the mean (no per-case marks; groups of at least 5 cases).
- :func:`waiting_times` — the triage impact: share of COVID-19 positives (and severe ones) read
  within each waiting time, entry's order against first in, first out (aggregates only).
- :func:`rank_distribution` — an entry's rank-distribution ("blob") plot: a disc per rank, its area the share of
  bootstrap resamples in which the entry takes that rank, with the 95% rank range and the median rank.

The exact views (staircase ROC curves, ranked bars) are drawn only where labels are not secret (exact
policy, maintainers); elsewhere ROC panels draw bootstrap-averaged curves on a fixed FPR grid
(:mod:`evaluator.metrics.smoothed`).

Charts are accessible images (``role="img"``, a title and a description) and scale with
their container (``viewBox``). Colours are the Okabe–Ito colour-blind-safe palette.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

GROUP_COLOURS = {
    "covid": "#D55E00",
    "bacterial_pneumonia": "#0072B2",
    "nodules": "#009E73",
    "normal": "#999999",
}
GROUP_LABELS = {
    "covid": "COVID-19",
    "bacterial_pneumonia": "Bacterial pneumonia",
    "nodules": "Nodules",
    "normal": "Normal",
}
SUBSET_LABELS = {
    "all": "COVID-19 vs all others",
    "normal": "COVID-19 vs normal",
    "bacterial_pneumonia": "COVID-19 vs bacterial pneumonia",
    "nodules": "COVID-19 vs nodules",
}
CURVE_COLOUR = "#0072B2"
AVERAGED_NOTE = (" Each curve is the mean over bootstrap resamples of the cases, read at false positive rates "
                 "0, 0.05, …, 1: it has no step per case.")


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if value == value else "0"


def _panel(x0: float, y0: float, size: float, *, title: str, curve: Mapping[str, Sequence[float]] | None,
           auc: float | None) -> list[str]:
    parts = [f'<g transform="translate({_number(x0)},{_number(y0)})">']
    heading = f"{title} — AUC {auc:.3f}" if auc is not None else f"{title} — N/A"
    parts.append(f'<text x="{_number(size / 2)}" y="-8" text-anchor="middle" class="chart-title">'
                 f'{escape(heading)}</text>')
    parts.append(f'<rect x="0" y="0" width="{_number(size)}" height="{_number(size)}" class="chart-frame"/>')
    parts.append(f'<line x1="0" y1="{_number(size)}" x2="{_number(size)}" y2="0" class="chart-chance"/>')
    for tick in (0.0, 0.5, 1.0):
        x = tick * size
        parts.append(f'<text x="{_number(x)}" y="{_number(size + 14)}" text-anchor="middle" '
                     f'class="chart-tick">{tick:g}</text>')
        parts.append(f'<text x="-6" y="{_number(size - x + 4)}" text-anchor="end" class="chart-tick">{tick:g}</text>')
    parts.append(f'<text x="{_number(size / 2)}" y="{_number(size + 30)}" text-anchor="middle" '
                 'class="chart-axis">False positive rate</text>')
    parts.append(f'<text transform="translate(-30,{_number(size / 2)}) rotate(-90)" text-anchor="middle" '
                 'class="chart-axis">True positive rate</text>')
    if curve is None:
        parts.append(f'<text x="{_number(size / 2)}" y="{_number(size / 2)}" text-anchor="middle" '
                     'class="chart-note">not applicable</text>')
    else:
        points = " ".join(f"{_number(fpr * size)},{_number(size - tpr * size)}"
                          for fpr, tpr in zip(curve["fpr"], curve["tpr"], strict=True))
        parts.append(f'<polyline points="{points}" fill="none" stroke="{CURVE_COLOUR}" stroke-width="2.5" '
                     'stroke-linejoin="round"/>')
    parts.append("</g>")
    return parts


def roc_panels(curves: Mapping[str, Mapping[str, Sequence[float]] | None],
               aucs: Mapping[str, float | None], *, chart_id: str = "roc", averaged: bool = False) -> str:
    """Four ROC panels in a 2 × 2 grid; ``curves`` and ``aucs`` keyed by subset (``all``, ``normal``, …).
    ``averaged``: the curves are bootstrap averages on a fixed FPR grid (said in the title and description)."""
    # wide margins and gap: a centred title ("COVID-19 vs bacterial pneumonia — AUC 0.000") is ~1.5 panels wide
    size, gap_x, gap_y, left, top, right = 200.0, 110.0, 80.0, 60.0, 30.0, 60.0
    width, height = left + 2 * size + gap_x + right, top + 2 * size + gap_y + 40
    described = "; ".join(f"{SUBSET_LABELS[s]}: " + (f"AUC {aucs[s]:.3f}" if aucs.get(s) is not None else "N/A")
                          for s in SUBSET_LABELS)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_number(width)} {_number(height)}" '
             f'class="chart" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc">',
             f'<title id="{chart_id}-title">ROC curves of the four subsets'
             f'{" (bootstrap-averaged)" if averaged else ""}</title>',
             f'<desc id="{chart_id}-desc">{escape(described)}. The dashed diagonal is chance.'
             f'{AVERAGED_NOTE if averaged else ""}</desc>']
    for index, subset in enumerate(SUBSET_LABELS):
        row, column = divmod(index, 2)
        parts += _panel(left + column * (size + gap_x), top + row * (size + gap_y), size,
                        title=SUBSET_LABELS[subset], curve=curves.get(subset), auc=aucs.get(f"roc_auc_{subset}"))
    parts.append("</svg>")
    return "".join(parts)


def ranked_severity(ranked: Sequence[Mapping[str, Any]], *, chart_id: str = "severity") -> str:
    """Bars of predicted severity per case, most severe first, coloured by group (paper Fig. 5, right)."""
    n = len(ranked)
    left, top, plot_w, plot_h = 50.0, 40.0, 640.0, 220.0
    width, height = left + plot_w + 20, top + plot_h + 50
    top_value = max([float(r["severity"]) for r in ranked] + [1e-9])
    scale_max = min(1.0, top_value * 1.1) if top_value > 0 else 1.0
    bar = plot_w / max(n, 1)
    groups_present = [g for g in GROUP_LABELS if any(r["group"] == g for r in ranked)]
    covid_in_top = sum(1 for r in ranked[: sum(1 for r in ranked if r["group"] == "covid")] if r["group"] == "covid")
    n_covid = sum(1 for r in ranked if r["group"] == "covid")
    described = (f"{n} cases sorted by predicted severity, highest first. Of the {n_covid} top-ranked cases, "
                 f"{covid_in_top} are COVID-19.")
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_number(width)} {_number(height)}" '
             f'class="chart" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc">',
             f'<title id="{chart_id}-title">Cases ranked by predicted severity</title>',
             f'<desc id="{chart_id}-desc">{escape(described)}</desc>',
             f'<g transform="translate({_number(left)},{_number(top)})">',
             f'<rect x="0" y="0" width="{_number(plot_w)}" height="{_number(plot_h)}" class="chart-frame"/>']
    for fraction in (0.0, 0.5, 1.0):
        y = plot_h - fraction * plot_h
        parts.append(f'<text x="-6" y="{_number(y + 4)}" text-anchor="end" class="chart-tick">'
                     f'{fraction * scale_max:.0%}</text>')
    for index, case in enumerate(ranked):
        severity = float(case["severity"])
        h = plot_h * min(severity, scale_max) / scale_max
        colour = GROUP_COLOURS.get(str(case["group"]), "#000000")
        label = f"rank {case['rank']}: {GROUP_LABELS.get(str(case['group']), case['group'])}, {severity:.1%}"
        parts.append(f'<rect x="{_number(index * bar)}" y="{_number(plot_h - h)}" '
                     f'width="{_number(max(bar - 0.5, 0.5))}" height="{_number(h)}" fill="{colour}">'
                     f'<title>{escape(label)}</title></rect>')
    parts.append(f'<text x="{_number(plot_w / 2)}" y="{_number(plot_h + 18)}" text-anchor="middle" '
                 'class="chart-axis">Cases, from most to least severe prediction</text>')
    parts.append(f'<text transform="translate(-38,{_number(plot_h / 2)}) rotate(-90)" text-anchor="middle" '
                 'class="chart-axis">Predicted severity</text>')
    parts.append("</g>")
    x = left
    for group in groups_present:
        parts.append(f'<rect x="{_number(x)}" y="10" width="12" height="12" fill="{GROUP_COLOURS[group]}"/>')
        parts.append(f'<text x="{_number(x + 16)}" y="21" class="chart-legend">{escape(GROUP_LABELS[group])}</text>')
        x += 40 + 7.5 * len(GROUP_LABELS[group])
    parts.append("</svg>")
    return "".join(parts)


def severity_summary(summaries: Mapping[str, Mapping[str, float] | None], *, chart_id: str = "severity") -> str:
    """Predicted severity per group as boxes (bootstrap-averaged quartiles) with a mark at the mean; groups of
    fewer than 5 cases are listed as not shown. No per-case marks."""
    left, top, plot_w, row_h = 170.0, 30.0, 480.0, 34.0
    groups = [g for g in GROUP_LABELS if g in summaries]
    height = top + row_h * len(groups) + 50
    width = left + plot_w + 30
    described = "; ".join(
        f"{GROUP_LABELS[g]}: " + (f"{s['n']} cases, median {s['median']:.1%}, quartiles {s['q25']:.1%}–"
                                  f"{s['q75']:.1%}, mean {s['mean']:.1%}" if s else "fewer than 5 cases, not shown")
        for g, s in ((g, summaries[g]) for g in groups))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_number(width)} {_number(height)}" '
             f'class="chart" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc">',
             f'<title id="{chart_id}-title">Predicted severity per group</title>',
             f'<desc id="{chart_id}-desc">{escape(described)}. Boxes are bootstrap-averaged quartiles; the '
             'line is the mean.</desc>',
             f'<g transform="translate({_number(left)},{_number(top)})">']
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = tick * plot_w
        parts.append(f'<line x1="{_number(x)}" y1="0" x2="{_number(x)}" y2="{_number(row_h * len(groups))}" '
                     'class="chart-grid" stroke="#ddd"/>')
        parts.append(f'<text x="{_number(x)}" y="{_number(row_h * len(groups) + 14)}" text-anchor="middle" '
                     f'class="chart-tick">{tick:.0%}</text>')
    for index, group in enumerate(groups):
        y = index * row_h
        summary = summaries[group]
        parts.append(f'<text x="-8" y="{_number(y + row_h / 2 + 4)}" text-anchor="end" class="chart-legend">'
                     f'{escape(GROUP_LABELS[group])}</text>')
        if not summary:
            parts.append(f'<text x="4" y="{_number(y + row_h / 2 + 4)}" class="chart-note">fewer than 5 cases: '
                         'not shown</text>')
            continue
        x0, x1 = summary["q25"] * plot_w, summary["q75"] * plot_w
        label = (f"{GROUP_LABELS[group]} ({summary['n']} cases): quartiles {summary['q25']:.1%}–"
                 f"{summary['q75']:.1%}, median {summary['median']:.1%}, mean {summary['mean']:.1%}")
        parts.append(f'<rect x="{_number(x0)}" y="{_number(y + 7)}" width="{_number(max(x1 - x0, 1.0))}" '
                     f'height="{_number(row_h - 14)}" fill="{GROUP_COLOURS[group]}" fill-opacity="0.35" '
                     f'stroke="{GROUP_COLOURS[group]}"><title>{escape(label)}</title></rect>')
        xm = summary["median"] * plot_w
        parts.append(f'<line x1="{_number(xm)}" y1="{_number(y + 7)}" x2="{_number(xm)}" '
                     f'y2="{_number(y + row_h - 7)}" stroke="{GROUP_COLOURS[group]}" stroke-width="3"/>')
        xa = summary["mean"] * plot_w
        parts.append(f'<circle cx="{_number(xa)}" cy="{_number(y + row_h / 2)}" r="4" fill="#000"/>')
    parts.append(f'<text x="{_number(plot_w / 2)}" y="{_number(row_h * len(groups) + 32)}" text-anchor="middle" '
                 'class="chart-axis">Predicted severity (box: quartiles, bar: median, dot: mean)</text>')
    parts.append("</g></svg>")
    return "".join(parts)


FIFO_COLOUR = "#999999"
WAIT_PANELS = {"positive": "COVID-19 positives", "severe": "Severe positives"}


def _wait_panel(x0: float, y0: float, width: float, height: float, *, title: str, minutes: Sequence[float],
                series: Mapping[str, Sequence[float] | None], target: float | None) -> list[str]:
    longest = float(minutes[-1]) if minutes and minutes[-1] > 0 else 1.0
    parts = [f'<g transform="translate({_number(x0)},{_number(y0)})">',
             f'<text x="{_number(width / 2)}" y="-8" text-anchor="middle" class="chart-title">{escape(title)}</text>',
             f'<rect x="0" y="0" width="{_number(width)}" height="{_number(height)}" class="chart-frame"/>']
    for share in (0.0, 0.5, 1.0):
        parts.append(f'<text x="-6" y="{_number(height - share * height + 4)}" text-anchor="end" '
                     f'class="chart-tick">{share:.0%}</text>')
    for tick in (0.0, longest / 2, longest):
        parts.append(f'<text x="{_number(tick / longest * width)}" y="{_number(height + 14)}" text-anchor="middle" '
                     f'class="chart-tick">{tick:g}</text>')
    parts.append(f'<text x="{_number(width / 2)}" y="{_number(height + 30)}" text-anchor="middle" '
                 'class="chart-axis">Waiting time, minutes</text>')
    if target is not None and 0 < target <= longest:
        x = target / longest * width
        parts.append(f'<line x1="{_number(x)}" y1="0" x2="{_number(x)}" y2="{_number(height)}" '
                     'class="chart-chance"/>')
        parts.append(f'<text x="{_number(x + 3)}" y="12" class="chart-tick">{target:g} min</text>')
    styles = {"fifo": f'stroke="{FIFO_COLOUR}" stroke-width="2" stroke-dasharray="5 3"',
              "entry": f'stroke="{CURVE_COLOUR}" stroke-width="2.5"'}
    for name in ("fifo", "entry"):
        shares = series.get(name)
        if not shares:
            continue
        points = " ".join(f"{_number(m / longest * width)},{_number(height - s * height)}"
                          for m, s in zip(minutes, shares, strict=True))
        parts.append(f'<polyline points="{points}" fill="none" {styles[name]} stroke-linejoin="round"/>')
    if not series.get("entry"):
        parts.append(f'<text x="{_number(width / 2)}" y="{_number(height / 2)}" text-anchor="middle" '
                     'class="chart-note">not applicable</text>')
    parts.append("</g>")
    return parts


def waiting_times(distribution: Mapping[str, Any], *, target_minutes: float | None = None,
                  chart_id: str = "waits") -> str:
    """Share of COVID-19 positives (left) and severe positives (right) read within each waiting time, in the
    entry's order against first in, first out (aggregates of the simulated worklist, evaluator/worklist.py)."""
    minutes = [float(m) for m in distribution["minutes"]]
    size_w, size_h, gap, left, top = 280.0, 200.0, 80.0, 60.0, 50.0
    width, height = left + 2 * size_w + gap + 30, top + size_h + 50
    described = []
    for key, label in WAIT_PANELS.items():
        entry, fifo = distribution[key].get("entry"), distribution[key].get("fifo")
        within = [i for i, m in enumerate(minutes) if target_minutes is not None and m <= target_minutes]
        if entry and fifo and within:
            index = within[-1]
            described.append(f"{label}: {entry[index]:.0%} read within {minutes[index]:g} minutes in the entry's "
                             f"order, {fifo[index]:.0%} in arrival order")
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_number(width)} {_number(height)}" '
             f'class="chart" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc">',
             f'<title id="{chart_id}-title">Waiting times in the simulated worklist: entry order against first in, '
             'first out</title>',
             f'<desc id="{chart_id}-desc">{escape("; ".join(described) or "Cumulative shares read by waiting time")}.'
             '</desc>']
    for index, (key, label) in enumerate(WAIT_PANELS.items()):
        parts += _wait_panel(left + index * (size_w + gap), top, size_w, size_h, title=label, minutes=minutes,
                             series=distribution[key], target=target_minutes)
    legend_y = 14
    parts.append(f'<line x1="{_number(left)}" y1="{legend_y}" x2="{_number(left + 24)}" y2="{legend_y}" '
                 f'stroke="{CURVE_COLOUR}" stroke-width="2.5"/>')
    parts.append(f'<text x="{_number(left + 30)}" y="{legend_y + 4}" class="chart-legend">Entry\'s order</text>')
    parts.append(f'<line x1="{_number(left + 140)}" y1="{legend_y}" x2="{_number(left + 164)}" y2="{legend_y}" '
                 f'stroke="{FIFO_COLOUR}" stroke-width="2" stroke-dasharray="5 3"/>')
    parts.append(f'<text x="{_number(left + 170)}" y="{legend_y + 4}" class="chart-legend">First in, first out'
                 '</text>')
    parts.append("</svg>")
    return "".join(parts)


def rank_distribution(rank_counts: Sequence[Sequence[int]], *, n_ranked: int, rank_low: int, rank_high: int,
                      rank_median: float, chart_id: str = "rank-blob") -> str:
    """A blob plot of one entry's ranks over bootstrap resamples (``rank_counts``: ``(rank, resamples)`` pairs;
    ranks 1 … ``n_ranked``, best on the left). Aggregates only: a count per rank."""
    total = sum(count for _, count in rank_counts) or 1
    left, top, plot_w, plot_h = 50.0, 30.0, 640.0, 70.0
    width, height = left + plot_w + 20, top + plot_h + 45
    n = max(n_ranked, 1)
    step = plot_w / n
    radius_max = min(step / 2, plot_h / 2) * 0.95

    def x_of(rank: float) -> float:
        return (rank - 0.5) * step

    shares = {int(rank): count / total for rank, count in rank_counts}
    likeliest = max(shares, key=lambda r: (shares[r], -r)) if shares else rank_low
    described = (f"Ranks over bootstrap resamples of the cases: 95% between {rank_low} and {rank_high} of {n_ranked}, "
                 f"median {rank_median:g}; most often rank {likeliest} ({shares.get(likeliest, 0.0):.0%}).")
    mid = plot_h / 2
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_number(width)} {_number(height)}" '
             f'class="chart rank-distribution" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc">',
             f'<title id="{chart_id}-title">Rank distribution over bootstrap resamples</title>',
             f'<desc id="{chart_id}-desc">{escape(described)}</desc>',
             f'<g transform="translate({_number(left)},{_number(top)})">',
             f'<rect x="0" y="0" width="{_number(plot_w)}" height="{_number(plot_h)}" class="chart-frame"/>',
             f'<line x1="{_number(x_of(rank_low))}" y1="{_number(mid)}" x2="{_number(x_of(rank_high))}" '
             f'y2="{_number(mid)}" stroke="#000000" stroke-width="2" class="rank-range-line"/>']
    for rank, share in sorted(shares.items()):
        r = radius_max * share ** 0.5  # area proportional to the share
        parts.append(f'<circle cx="{_number(x_of(rank))}" cy="{_number(mid)}" r="{_number(max(r, 0.8))}" '
                     f'fill="{CURVE_COLOUR}" fill-opacity="0.75" class="rank-blob">'
                     f'<title>{escape(f"rank {rank}: {share:.1%} of resamples")}</title></circle>')
    median_x = _number(x_of(rank_median))
    parts.append(f'<line x1="{median_x}" y1="4" x2="{median_x}" y2="{_number(plot_h - 4)}" '
                 f'stroke="{GROUP_COLOURS["covid"]}" stroke-width="2" class="chart-median"/>')
    ticks = sorted({1, n_ranked, rank_low, rank_high}) if n_ranked > 0 else []
    for rank in ticks:
        parts.append(f'<text x="{_number(x_of(rank))}" y="{_number(plot_h + 14)}" text-anchor="middle" '
                     f'class="chart-tick">{rank}</text>')
    parts.append(f'<text x="{_number(plot_w / 2)}" y="{_number(plot_h + 32)}" text-anchor="middle" '
                 'class="chart-axis">Rank (1 = first); disc area = share of resamples, red line = median</text>')
    parts.append("</g></svg>")
    return "".join(parts)
