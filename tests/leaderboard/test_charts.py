"""The server-side SVG charts: well-formed, accessible, faithful to the document."""

import xml.etree.ElementTree as ET

from leaderboard.board import charts

SVG = "{http://www.w3.org/2000/svg}"


def test_roc_panels_draw_four_subsets_with_na():
    curves = {"all": {"fpr": [0, 0, 1], "tpr": [0, 1, 1]}, "normal": {"fpr": [0, 0.5, 1], "tpr": [0, 0.5, 1]},
              "bacterial_pneumonia": {"fpr": [0, 1], "tpr": [0, 1]}, "nodules": None}
    aucs = {"roc_auc_all": 1.0, "roc_auc_normal": 0.5, "roc_auc_bacterial_pneumonia": 0.5, "roc_auc_nodules": None}
    root = ET.fromstring(charts.roc_panels(curves, aucs, chart_id="x"))
    assert root.get("role") == "img" and root.get("aria-labelledby") == "x-title x-desc"
    assert "vs nodules: N/A" in root.find(f"{SVG}desc").text
    assert len(root.findall(f".//{SVG}polyline")) == 3
    titles = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "chart-title"]
    assert titles[0] == "COVID-19 vs all others — AUC 1.000" and titles[3].endswith("N/A")
    # a perfect curve goes straight up the left edge: (0, bottom) → (0, top) → (right, top)
    assert root.find(f".//{SVG}polyline").get("points") == "0,200 0,0 200,0"


def test_ranked_severity_has_one_bar_per_case_coloured_by_group():
    ranked = [{"rank": 1, "severity": 0.5, "group": "covid"}, {"rank": 2, "severity": 0.25, "group": "normal"},
              {"rank": 3, "severity": 0.0, "group": "covid"}]
    root = ET.fromstring(charts.ranked_severity(ranked, chart_id="s"))
    bars = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert [b.find(f"{SVG}title").text for b in bars] == ["rank 1: COVID-19, 50.0%", "rank 2: Normal, 25.0%",
                                                          "rank 3: COVID-19, 0.0%"]
    assert bars[0].get("fill") == charts.GROUP_COLOURS["covid"]
    heights = [float(b.get("height")) for b in bars]
    assert heights[0] > heights[1] > heights[2] == 0
    assert "Of the 2 top-ranked cases, 1 are COVID-19" in root.find(f"{SVG}desc").text


def test_text_is_escaped():
    ranked = [{"rank": 1, "severity": 0.1, "group": "<script>"}]
    assert "<script>" not in charts.ranked_severity(ranked)


def test_waiting_times_draw_entry_against_fifo_from_aggregates():
    distribution = {"minutes": [0, 30, 60], "positive": {"entry": [0.5, 0.9, 1.0], "fifo": [0.2, 0.6, 1.0]},
                    "severe": {"entry": None, "fifo": None}}
    root = ET.fromstring(charts.waiting_times(distribution, target_minutes=30, chart_id="w"))
    assert root.get("role") == "img" and root.get("aria-labelledby") == "w-title w-desc"
    assert root.find(f"{SVG}desc").text.startswith("COVID-19 positives: 90% read within 30 minutes in the entry's "
                                                   "order, 60% in arrival order")
    lines = root.findall(f".//{SVG}polyline")
    assert len(lines) == 2  # severe positives: none, shown as not applicable
    entry = next(line for line in lines if "stroke-dasharray" not in line.attrib)
    assert entry.get("points") == "0,100 140,20 280,0"  # 280 × 200 panel: 50 % at 0, 90 % at half-way, all at the end
    assert any(t.text == "not applicable" for t in root.iter(f"{SVG}text"))
    assert len(root.findall(f".//{SVG}rect")) == 2  # the two panel frames: no per-case marks
