"""An entry's page: metrics with intervals, the paper's numbers, plots, confusion matrix, DeLong vs the leader."""

from django.core.cache import cache
from django.urls import reverse

from evaluator.examples import ExampleKind, write_example_archive
from evaluator.metrics import delong_test
from leaderboard.board import entry_data
from leaderboard.testsets.models import ReportedResult

from .conftest import make_team
from .helpers import score, submit, submit_and_score


def test_entry_page_compares_with_the_leader(client, label_version, team_a, team_b, archives):
    leader = submit_and_score(team_a, archives["perfect"], method="Leader")
    other = submit_and_score(team_b, archives["noisy"], method="Challenger")
    page = client.get(reverse("entry", args=[other.pk])).content.decode()
    ids = [c["case_id"] for c in leader.per_case["per_case"]]
    a = {c["case_id"]: c for c in other.per_case["per_case"]}
    b = {c["case_id"]: c for c in leader.per_case["per_case"]}
    expected = delong_test([b[i]["group"] == "covid" for i in sorted(ids)],
                           [a[i]["covid_probability"] for i in sorted(ids)],
                           [b[i]["covid_probability"] for i in sorted(ids)])
    comparison = entry_data.compare_with_leader(other.pk, leader.pk)
    assert comparison.p_value == expected.p_value and comparison.n_cases == 9
    assert f'href="/entries/{leader.pk}/">Leader</a>' in page and "p = " in page
    assert "This entry leads the board" in client.get(reverse("entry", args=[leader.pk])).content.decode()


def test_entry_page_content(client, label_version, team_a, archives):
    reference = ReportedResult.objects.get(method="2D U-Net")
    evaluation = score(submit(team_a, archives["noisy"], method="U-Net again", is_reference=True,
                              reference=reference))
    page = client.get(reverse("entry", args=[evaluation.pk])).content.decode()
    assert page.count("<svg") == 3 and "ROC curves of the four subsets" in page
    assert f"{evaluation.roc_auc_all:.3f}" in page
    low, high = evaluation.intervals["roc_auc_all"]
    assert f"{low:.3f}–{high:.3f}" in page
    assert ".78 ± .01" in page  # the paper's 2D U-Net, vs all others
    assert "Cases called COVID-19 at probability ≥ 0.5" in page and "sensitivity" in page
    assert "CT-0" in page and "linear κ" in page


def test_charts_are_rendered_once_per_evaluation(label_version, team_a, archives, monkeypatch):
    evaluation = submit_and_score(team_a, archives["noisy"])
    cache.clear()
    calls = []
    original = entry_data.charts.roc_panels

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(entry_data.charts, "roc_panels", counting)
    first = entry_data.chart_markup(evaluation)
    assert entry_data.chart_markup(evaluation) == first and len(calls) == 1


def test_without_probabilities_there_is_no_confusion_matrix(client, label_version, tiny_testset, archives):
    path = write_example_archive(archives["noisy"].parent / "severity.zip", testset=tiny_testset,
                                 kind=ExampleKind.SEVERITY_ONLY)
    evaluation = submit_and_score(make_team("Sev", "sev"), path)
    page = client.get(reverse("entry", args=[evaluation.pk])).content.decode()
    assert "N/A: needs a covid_probability column" in page and "Dice" in page



def test_entry_page_shows_the_triage_impact_as_aggregates(client, label_version, team_a, archives):
    evaluation = submit_and_score(team_a, archives["noisy"])
    triage = evaluation.result["triage"]
    assert triage["simulation"]["days"] == 10  # LEADERBOARD_TRIAGE_DAYS of the test settings
    assert "triage" not in evaluation.per_case  # stored with the metrics, not with the per-case values
    page = client.get(reverse("entry", args=[evaluation.pk])).content.decode()
    assert "Triage impact (simulated worklist)" in page and "Waiting times in the simulated worklist" in page
    gain = triage["measures"]["triage_gain"]
    assert f"{abs(gain):.1f} minutes saved per COVID-19 positive" in page
    for case in evaluation.per_case["per_case"]:
        assert case["case_id"] not in page


def test_entry_without_the_triage_impact_says_why(client, label_version, team_a, archives):
    evaluation = submit_and_score(team_a, archives["noisy"])
    evaluation.result = {k: v for k, v in evaluation.result.items() if k != "triage"}
    evaluation.save(update_fields=["result"])
    cache.clear()
    page = client.get(reverse("entry", args=[evaluation.pk])).content.decode()
    assert "N/A: not computed for this evaluation" in page and page.count("<svg") == 2
