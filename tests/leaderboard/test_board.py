"""The public board: order, N/A last, tracks apart, teams' best entries, references, label versions, exports."""

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

import evaluator
from leaderboard.board import cached as board_cache
from leaderboard.board import ranking
from leaderboard.metric_defs import METRIC_KEYS
from leaderboard.submissions.models import Submission, Track
from leaderboard.submissions.services import request_rescore
from leaderboard.testsets.models import ReportedResult

from .conftest import make_team
from .helpers import score, submit, submit_and_score


def board(client, **query):
    response = client.get(reverse("api-leaderboard"), query)
    assert response.status_code == 200, response.content
    return response.json()


def methods(document):
    return [e["method_name"] for e in document["entries"]]


@pytest.fixture
def three_teams(label_version, team_a, team_b, archives):
    team_c = make_team("Team C", "carol")
    submit_and_score(team_a, archives["perfect"], method="Perfect")
    submit_and_score(team_b, archives["probability-only"], method="Probabilities only")
    submit_and_score(team_c, archives["noisy"], method="Noisy")
    return team_a, team_b, team_c


def test_default_order_is_roc_auc_vs_all(client, three_teams):
    document = board(client)
    assert document["sort"] == "roc_auc_all" and document["order"] == "desc"
    values = [e["metrics"]["roc_auc_all"] for e in document["entries"]]
    assert values == sorted(values, reverse=True) and methods(document)[0] == "Perfect"
    assert document["entries"][0]["rank"] == 1
    assert document["entries"][0]["intervals"]["roc_auc_all"]["low"] <= values[0]


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_na_ranks_last_in_both_directions(client, three_teams, order):
    document = board(client, sort="mean_dice", order=order)
    assert methods(document)[-1] == "Probabilities only"
    assert document["entries"][-1]["metrics"]["mean_dice"] is None and document["entries"][-1]["rank"] is None
    dice = [e["metrics"]["mean_dice"] for e in document["entries"][:-1]]
    assert dice == sorted(dice, reverse=order == "desc")


def test_best_entry_per_team_unless_all_are_asked_for(client, label_version, team_a, archives):
    submit_and_score(team_a, archives["shuffled"], method="Worse")
    submit_and_score(team_a, archives["perfect"], method="Better")
    submit_and_score(team_a, archives["noisy"], method="Hidden", public=False)
    assert methods(board(client)) == ["Better"]
    assert methods(board(client, entries="all")) == ["Better", "Worse"]


def test_pending_and_failed_entries_are_not_on_the_board(client, label_version, team_a, archives):
    submit(team_a, archives["perfect"], method="Queued")
    assert board(client)["entries"] == []


def test_tracks_are_ranked_apart(client, label_version, team_a, maintainer, archives):
    submit_and_score(team_a, archives["noisy"], method="Archive entry")
    reference = submit(team_a, archives["container-perfect"], method="Container reference", track=Track.CONTAINER,
                       is_reference=True, reference=ReportedResult.objects.get(method="Multitask-Spatial-1"))
    score(reference)
    archive_board, container_board = board(client), board(client, track="container")
    assert methods(archive_board) == ["Archive entry"] and archive_board["n_cases"] == 9
    assert methods(container_board) == ["Container reference"] and container_board["n_cases"] == 12
    entry = container_board["entries"][0]
    assert entry["is_reference"] and entry["reported_in_paper"]["metrics"]["roc_auc_all"] == {"mean": 0.93,
                                                                                             "std": 0.01}
    page = client.get(reverse("board"), {"track": "container"}).content.decode()
    assert 'class="badge reference"' in page and "paper .93 ± .01" in page
    assert "Reported in the paper — not scored here" in page


def test_reference_entries_are_never_collapsed(client, label_version, team_a, archives):
    for method in ("Multitask-Spatial-1", "ResNet50"):
        score(submit(team_a, archives["noisy"], method=method, is_reference=True,
                     reference=ReportedResult.objects.get(method=method)))
    assert sorted(methods(board(client))) == ["Multitask-Spatial-1", "ResNet50"]
    assert not Submission.objects.filter(counts_toward_quota=True).exists()


def test_the_label_version_is_stated_and_old_ones_stay_browsable(client, label_version, team_a, archives,
                                                                 tiny_dir, tmp_path):
    from django.core.management import call_command

    from .test_testsets import relabelled

    submit_and_score(team_a, archives["noisy"], method="Old labels")
    page = client.get(reverse("board")).content.decode()
    assert f"v{label_version.version}" in page and label_version.labels_digest[:12] in page
    call_command("import_testset", str(relabelled(tiny_dir, tmp_path, version="2")), "--no-rescore")
    current = board(client)
    assert current["label_version"]["version"] == "2" and current["entries"] == []
    old = board(client, labels=label_version.pk)
    assert methods(old) == ["Old labels"] and old["label_version"]["is_current"] is False
    assert "an older label version" in client.get(reverse("board"), {"labels": label_version.pk}).content.decode()


def test_a_rescore_with_a_new_scorer_replaces_the_entry(client, label_version, team_a, archives, monkeypatch):
    first = submit_and_score(team_a, archives["noisy"], method="Net")
    monkeypatch.setattr(evaluator, "SCORER_VERSION", "9.9.9")
    monkeypatch.setattr("evaluator.scoring.SCORER_VERSION", "9.9.9")
    report = request_rescore([first.submission])
    score(report.created[0].submission)
    document = board(client)
    assert [e["scorer_version"] for e in document["entries"]] == ["9.9.9"]
    assert document["scorer_versions"] == ["9.9.9"]


def test_mean_rank_aggregation(client, three_teams):
    document = board(client, rank="mean")
    means = [e["mean_rank"] for e in document["entries"]]
    assert document["sort"] == "mean_rank" and means == sorted(means) and None not in means
    assert methods(document)[0] == "Perfect"


def test_query_count_does_not_grow_with_entries(client, label_version, archives):
    def queries() -> int:
        board_cache.clear()  # boards are cached per board revision: count the queries of building them
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("board")).status_code == 200
            assert client.get(reverse("api-leaderboard")).status_code == 200
        return len(captured)

    for i in range(2):
        submit_and_score(make_team(f"T{i}", f"u{i}"), archives["noisy"], method=f"m{i}")
    few = queries()
    for i in range(2, 8):
        submit_and_score(make_team(f"T{i}", f"u{i}"), archives["noisy"], method=f"m{i}")
    assert len(board(client)["entries"]) == 8
    assert queries() == few


def test_csv_export(client, three_teams):
    response = client.get(reverse("api-leaderboard"), {"format": "csv", "sort": "mean_dice"})
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="leaderboard-tiny-v1-archive.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["method_name"] for r in rows][-1] == "Probabilities only" and rows[-1]["mean_dice"] == ""
    assert float(rows[0]["mean_dice_ci_low"]) <= float(rows[0]["mean_dice"])
    assert rows[0]["labels_version"] == "1" and rows[0]["track"] == "archive"


def test_sort_controls_are_accessible(client, three_teams):
    page = client.get(reverse("board"), {"sort": "spearman_rho", "order": "asc"}).content.decode()
    assert page.count("aria-sort=") == 1 and 'aria-sort="ascending"' in page and "▲" in page
    assert 'href="?sort=spearman_rho"' in page  # the active column's link flips back to descending


def test_triage_gain_column_sorts_and_stays_out_of_the_mean_rank(client, three_teams):
    document = board(client, sort="triage_gain")
    assert document["sort"] == "triage_gain"
    gains = [e["triage_gain"]["minutes"] for e in document["entries"]]
    assert None not in gains and gains == sorted(gains, reverse=True)
    interval = document["entries"][0]["triage_gain"]["interval"]
    assert interval["low"] <= interval["high"]
    assert board(client, sort="triage_gain", order="asc")["entries"][0]["triage_gain"]["minutes"] == min(gains)
    assert "triage_gain" not in document["entries"][0]["metrics"]
    page = client.get(reverse("board"), {"sort": "triage_gain"}).content.decode()
    assert 'aria-sort="descending"' in page and "Triage gain, min" in page
    assert f"{gains[0]:.1f}".replace("-", "\u2212") in page
    csv_rows = list(csv.DictReader(io.StringIO(client.get(reverse("api-leaderboard"),
                                                          {"format": "csv", "sort": "triage_gain"}).content.decode())))
    assert [float(r["triage_gain_minutes"]) for r in csv_rows] == gains
    entries = board(client, rank="mean")["entries"]
    rows = [ranking.Row(key=e["evaluation_id"], group=None, metrics=e["metrics"], created_at=None) for e in entries]
    six = ranking.mean_ranks(rows, metrics=METRIC_KEYS)
    assert [e["mean_rank"] for e in entries] == [six[e["evaluation_id"]] for e in entries]


def test_empty_site(client, db):
    assert b"No benchmark yet" in client.get(reverse("board")).content
    assert client.get(reverse("api-leaderboard")).status_code == 404


def test_csv_export_cells_are_never_formulas(client, label_version, archives):
    """OWASP CSV injection: text from teams (team and method names) comes out as text, not a live formula."""
    handle = make_team("@SUM(A1:A9)", "mallory")
    submit_and_score(handle, archives["perfect"], method='=HYPERLINK("http://evil.example/","click")')
    response = client.get(reverse("api-leaderboard"), {"format": "csv"})
    row = next(csv.DictReader(io.StringIO(response.content.decode())))
    assert row["method_name"] == '\'=HYPERLINK("http://evil.example/","click")'
    assert row["team"] == "'@SUM(A1:A9)"
    assert float(row["roc_auc_all"]) > 0  # numbers are untouched


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@x", "\tx", "\rx"])
def test_csv_cell_neutralises_each_formula_start(text):
    from leaderboard.site.csv_cells import neutralise
    assert neutralise(text) == "'" + text
    assert neutralise(-0.25) == -0.25 and neutralise("plain -x") == "plain -x" and neutralise(None) == ""


def test_container_tab_only_where_the_server_runs_containers(client, label_version, settings):
    settings.LEADERBOARD_CONTAINER_TASK = ""
    closed = client.get("/").content.decode()
    assert "Container track (all cases)" not in closed and "The container track\n  is closed" in closed
    settings.LEADERBOARD_CONTAINER_TASK = "leaderboard.containers.tasks.run_container_evaluation"
    opened = client.get("/").content.decode()
    assert "Container track (all cases)" in opened and "is closed" not in opened
