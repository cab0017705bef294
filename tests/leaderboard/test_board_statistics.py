"""Honest ranks on the site: computed once per board revision by the worker task, read by the board and exports,
and only ever from the released cases and predictions."""

import csv
import io
import json

import pytest
from django.urls import reverse

from evaluator import ranking as core
from leaderboard.board import statistics
from leaderboard.board.models import BoardStatisticsRecord
from leaderboard.board.tasks import compute_board_statistics
from leaderboard.submissions.models import Track

from .conftest import make_team
from .helpers import submit_and_score


@pytest.fixture
def three_teams(label_version, team_a, team_b, archives):
    team_c = make_team("Team C", "carol")
    submit_and_score(team_a, archives["perfect"], method="Perfect")
    submit_and_score(team_b, archives["probability-only"], method="Probabilities only")
    submit_and_score(team_c, archives["noisy"], method="Noisy")
    return team_a, team_b, team_c


def board(client, **query):
    response = client.get(reverse("api-leaderboard"), query)
    assert response.status_code == 200, response.content
    return response.json()


def test_board_says_pending_and_asks_the_worker_once(client, three_teams, label_version, monkeypatch):
    sent = []
    monkeypatch.setattr(statistics, "send", lambda *args: sent.append(args))
    document = board(client)
    assert document["rank_statistics"]["status"] == "pending"
    assert all(e["rank_statistics"] is None for e in document["entries"])
    board(client, order="asc")  # another rendering of the same revision: not asked again
    assert sent == [(label_version.pk, Track.ARCHIVE)]


def test_task_is_idempotent_and_computes_once_per_revision(three_teams, label_version, monkeypatch):
    calls = []
    real = statistics.board_statistics
    monkeypatch.setattr(statistics, "board_statistics", lambda **kw: calls.append(kw) or real(**kw))
    assert compute_board_statistics(label_version.pk, Track.ARCHIVE) is True
    assert compute_board_statistics(label_version.pk, Track.ARCHIVE) is False
    assert len(calls) == 1 and BoardStatisticsRecord.objects.count() == 1
    record = BoardStatisticsRecord.objects.get()
    assert record.version == core.RANKING_VERSION
    assert "per_case" not in record.document and "case_id" not in record.document


def test_api_and_csv_carry_rank_ranges_p_first_and_tie_band(client, three_teams, label_version):
    statistics.compute(label_version.pk, Track.ARCHIVE)
    document = board(client)
    assert document["rank_statistics"]["status"] == "ready"
    stored = json.loads(BoardStatisticsRecord.objects.get().document)["rankings"]["roc_auc_all"]
    by_key = {e["key"]: e for e in stored["entries"]}
    assert stored["entries"][0]["tied_for_first"]
    for entry in document["entries"]:
        expected = by_key.get(str(entry["evaluation_id"]))
        honest = entry["rank_statistics"]
        if expected is None:  # N/A on the sorted metric: no rank range
            assert honest is None
            continue
        assert (honest["rank_low"], honest["rank_high"], honest["p_first"], honest["tied_for_first"]) == (
            expected["rank_low"], expected["rank_high"], expected["p_first"], expected["tied_for_first"])
        assert 1 <= honest["rank_low"] <= honest["rank_high"] <= len(stored["entries"])
    rows = list(csv.DictReader(io.StringIO(client.get(reverse("api-leaderboard"), {"format": "csv"}).content.decode())))
    assert {"rank_low", "rank_high", "p_first", "tied_for_first"} <= set(rows[0])
    assert [r["rank_low"] for r in rows] == [str((e["rank_statistics"] or {}).get("rank_low") or "")
                                             for e in document["entries"]]


def test_only_released_cases_enter_the_computation(three_teams, label_version, monkeypatch):
    """Under the split policy only the leaderboard split's cases (the same for every entry) are used."""
    testset = label_version.testset
    testset.feedback_policy = "split"
    testset.save()
    seen = {}
    real = statistics.board_statistics

    def spy(**kwargs):
        seen.update(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(statistics, "board_statistics", spy)
    assert statistics.compute(label_version.pk, Track.ARCHIVE)
    from leaderboard.feedback import release_many

    entries = statistics._board_entries(label_version, Track.ARCHIVE)
    released = release_many({e.team_id for e in entries}, label_version_id=label_version.pk, track=Track.ARCHIVE,
                            testset=testset)
    allowed = frozenset.intersection(*(released[e.evaluation_id].cases for e in entries))
    assert allowed and len(seen["groups"]) == len(allowed) < label_version.n_public_cases


def test_board_page_marks_the_tie_band_and_entry_page_draws_the_blob(client, three_teams, label_version, monkeypatch):
    monkeypatch.setattr(statistics, "send", lambda *args: None)
    page = client.get(reverse("board")).content.decode()
    assert "being computed" in page and 'class="tied-for-first"' not in page
    statistics.compute(label_version.pk, Track.ARCHIVE)
    page = client.get(reverse("board")).content.decode()
    stored = json.loads(BoardStatisticsRecord.objects.get().document)["rankings"]["roc_auc_all"]
    tied = [e for e in stored["entries"] if e["tied_for_first"]]
    assert page.count('class="tied-for-first"') == len(tied) >= 1
    assert 'id="robustness"' in page and "Kendall" in page
    leader = stored["entries"][0]
    entry_page = client.get(reverse("entry", args=[int(leader["key"])])).content.decode()
    assert 'id="rank-distribution"' in entry_page
    assert entry_page.count('class="rank-blob"') == len(leader["rank_counts"])


def test_rank_distribution_chart_draws_a_disc_per_rank():
    from leaderboard.board.charts import rank_distribution

    svg = rank_distribution([[1, 1500], [2, 400], [3, 100]], n_ranked=5, rank_low=1, rank_high=3, rank_median=1)
    assert svg.count('class="rank-blob"') == 3 and "75.0% of resamples" in svg and 'role="img"' in svg


def test_withheld_entries_stay_out_and_the_ladder_uses_the_released_submission(tiny_dir, team_a, team_b, archives,
                                                                               settings, monkeypatch):
    """Default policy of a hidden set (split, Ladder, guard): a withheld submission is not in the computation, and
    a submission that did not move the Ladder enters with the predictions of the one whose numbers it shows."""
    from leaderboard.testsets.services import import_label_version

    settings.LEADERBOARD_DAILY_QUOTA = 50
    label_version = import_label_version(tiny_dir).label_version
    label_version.testset.split_seed = 11
    label_version.testset.save()
    noisy = submit_and_score(team_a, archives["noisy"], method="Noisy")
    withheld = submit_and_score(team_a, archives["noisy"], method="Noisy again")  # identical: the guard withholds
    shuffled = submit_and_score(team_a, archives["shuffled"], method="Shuffled")  # does not beat the Ladder
    perfect = submit_and_score(team_b, archives["perfect"], method="Perfect")  # hard 0/1 scores: withheld too
    seen = {}
    real = statistics.board_statistics
    monkeypatch.setattr(statistics, "board_statistics", lambda **kw: seen.update(kw) or real(**kw))
    assert statistics.compute(label_version.pk, Track.ARCHIVE)
    keys = {e.key: e for e in seen["entries"]}
    assert set(keys) == {str(noisy.pk), str(shuffled.pk)}
    assert list(keys[str(shuffled.pk)].scores) == list(keys[str(noisy.pk)].scores)
    assert len(seen["groups"]) < label_version.n_public_cases  # the leaderboard split only
    document = json.loads(BoardStatisticsRecord.objects.get().document)
    assert {e["key"] for e in document["rankings"]["roc_auc_all"]["entries"]} == set(keys)
    assert str(withheld.pk) not in keys and str(perfect.pk) not in keys


def test_pages_and_search_keep_the_whole_boards_ranks_and_the_csv_is_complete(client, three_teams, label_version,
                                                                              monkeypatch):
    from leaderboard.board import boards

    monkeypatch.setattr(boards, "PAGE_SIZE", 2)
    statistics.compute(label_version.pk, Track.ARCHIVE)
    first, second = board(client), board(client, page=2)
    assert (first["n_pages"], first["n_entries"], len(first["entries"]), len(second["entries"])) == (2, 3, 2, 1)
    whole = first["entries"] + second["entries"]
    rows = list(csv.DictReader(io.StringIO(client.get(reverse("api-leaderboard"), {"format": "csv", "page": 2})
                                           .content.decode())))  # the CSV is complete, whatever the page
    assert [r["method_name"] for r in rows] == [e["method_name"] for e in whole]
    assert [(r["rank"], r["rank_low"], r["rank_high"], r["p_first"]) for r in rows] == [  # ranks of the whole board
        (str(e["rank"]), *(str(e["rank_statistics"][k]) for k in ("rank_low", "rank_high", "p_first"))) for e in whole]
    found = board(client, q="team c")
    assert found["entries"] == [e for e in whole if e["team"] == "Team C"]  # rank and rank range as on the board
    assert client.get(reverse("api-leaderboard"), {"page": 0}).status_code == 400  # JSON is paged; the CSV is whole
    page = client.get(reverse("board"), {"page": 2}).content.decode()
    assert 'rel="prev"' in page and 'rel="next"' not in page and "page 2 of 2" in page


def test_an_anonymous_entry_page_is_rendered_once_per_revision(client, three_teams, label_version, monkeypatch):
    from leaderboard.board import views

    monkeypatch.setattr(statistics, "send", lambda *args: None)
    renders = []
    real = views._entry_page
    monkeypatch.setattr(views, "_entry_page", lambda *args: renders.append(args[1].pk) or real(*args))
    evaluation_id = board(client)["entries"][0]["evaluation_id"]
    first = client.get(reverse("entry", args=[evaluation_id]))
    second = client.get(reverse("entry", args=[evaluation_id]))
    assert first.content == second.content and renders == [evaluation_id]
    statistics.compute(label_version.pk, Track.ARCHIVE)  # a new board revision: rendered again, with the blob plot
    third = client.get(reverse("entry", args=[evaluation_id])).content.decode()
    assert renders == [evaluation_id] * 2 and 'class="rank-blob"' in third
    client.force_login(three_teams[0].user)  # a signed-in visitor gets the page rendered for them
    client.get(reverse("entry", args=[evaluation_id]))
    assert len(renders) == 3


def test_a_busy_board_shows_its_previous_statistics_until_the_new_revisions_are_stored(
        client, three_teams, label_version, archives, monkeypatch):
    sent = []
    monkeypatch.setattr(statistics, "send", lambda *args: sent.append(args))
    assert statistics.compute(label_version.pk, Track.ARCHIVE)
    before = {e["method_name"]: e["rank_statistics"] for e in board(client)["entries"]}
    assert all(before.values()) and board(client)["rank_statistics"]["previous_revision"] is None
    newcomer = submit_and_score(make_team("Team D", "dave"), archives["noisy"], method="Scored since")
    document = board(client)
    shown = {e["method_name"]: e["rank_statistics"] for e in document["entries"]}
    assert document["rank_statistics"]["status"] == "ready" and sent  # the new revision's are asked for
    previous = document["rank_statistics"]["previous_revision"]
    record = BoardStatisticsRecord.objects.get()
    assert previous == {"computed_at": record.computed_at.isoformat(), "n_entries": 3}
    assert shown["Scored since"] is None and all(shown[m] == before[m] for m in before)  # the earlier revision's
    page = client.get(reverse("board")).content.decode()
    assert 'id="rank-statistics-previous"' in page and "3 entries" in page
    entry_page = client.get(reverse("entry", args=[newcomer.pk])).content.decode()
    assert "being computed" in entry_page and 'class="rank-blob"' not in entry_page
    assert statistics.compute(label_version.pk, Track.ARCHIVE)  # the worker stores this revision's
    document = board(client)
    assert document["rank_statistics"]["previous_revision"] is None
    assert all(e["rank_statistics"] for e in document["entries"])


def test_statistics_of_another_feedback_policy_or_label_version_are_never_shown_as_previous(
        client, three_teams, label_version, archives, monkeypatch):
    monkeypatch.setattr(statistics, "send", lambda *args: None)
    assert statistics.compute(label_version.pk, Track.ARCHIVE)
    testset = label_version.testset
    before = statistics.basis_key(label_version, Track.ARCHIVE)
    testset.ladder_eta = testset.ladder_eta + 0.5  # any change of the policy is another basis
    assert statistics.basis_key(label_version, Track.ARCHIVE) != before
    testset.refresh_from_db()
    assert statistics.basis_key(label_version, Track.CONTAINER) != before
    BoardStatisticsRecord.objects.update(basis="another policy's")  # same board, other basis
    submit_and_score(make_team("Team D", "dave"), archives["noisy"], method="Scored since")
    document = board(client)
    assert document["rank_statistics"]["status"] == "pending"
    assert all(e["rank_statistics"] is None for e in document["entries"])
