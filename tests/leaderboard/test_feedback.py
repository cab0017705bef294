"""The default feedback policy of a hidden benchmark (split + Ladder + guard) as teams, the public and maintainers
see it; phases and final choices; the maintainers' report. (The probing attack is in test_feedback_attack.py.)"""

from __future__ import annotations

import csv
import dataclasses
import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from evaluator.examples import ExampleKind, write_example_archive
from evaluator.feedback import rescore
from leaderboard.board.templatetags.board_tags import minutes
from leaderboard.feedback import release
from leaderboard.submissions.archive_job import scoring_options
from leaderboard.submissions.models import Submission
from leaderboard.testsets import models as testset_models
from leaderboard.testsets.models import FeedbackPolicy, Phase
from leaderboard.testsets.phases import PhaseRefused, change_phase
from leaderboard.testsets.services import import_label_version

from .helpers import score, submit, submit_and_score


@pytest.fixture
def hidden(db, tiny_dir, settings):
    """The tiny benchmark with the defaults of a new benchmark (9 public cases: 3 COVID-19, 3 bacterial, 3
    normal)."""
    settings.LEADERBOARD_DAILY_QUOTA = 50
    label_version = import_label_version(tiny_dir).label_version
    testset = label_version.testset
    testset.split_seed = 11
    testset.save()
    return testset


def api(client, handle, submission) -> dict:
    return client.get(reverse("api-submission", args=[submission.pk]), **handle.auth()).json()


def test_a_new_benchmark_defaults_to_split_ladder_and_guard(hidden):
    assert (hidden.feedback_policy, hidden.feedback_guard, hidden.phase) == (FeedbackPolicy.SPLIT_LADDER, True,
                                                                            Phase.OPEN)


def test_an_honest_team_sees_its_scores_with_intervals_on_the_split(client, hidden, team_a, archives):
    evaluation = submit_and_score(team_a, archives["noisy"])
    body = api(client, team_a, evaluation.submission)
    shown = body["evaluations"][0]
    assert shown["feedback"]["stage"] == "open" and shown["feedback"]["basis"] == "the leaderboard split"
    assert shown["feedback"]["n_cases"] == 6 and shown["feedback"]["rounded_to"] == 0.01
    auc = shown["metrics"]["roc_auc_all"]
    assert auc is not None and abs(auc * 100 - round(auc * 100)) < 1e-9  # rounded to η
    low, high = shown["intervals"]["roc_auc_all"]
    assert low <= auc <= high
    # the board and its exports carry the same released numbers
    board = client.get(reverse("api-leaderboard")).json()
    assert board["entries"][0]["metrics"]["roc_auc_all"] == auc
    csv_text = client.get(reverse("api-leaderboard") + "?format=csv").content.decode()
    assert str(auc) in csv_text and str(evaluation.roc_auc_all) not in csv_text


def test_the_entry_page_draws_no_per_case_marks_for_hidden_labels(client, hidden, team_a, maintainer, archives):
    evaluation = submit_and_score(team_a, archives["noisy"])
    page = client.get(reverse("entry", args=[evaluation.pk])).content.decode()
    assert "bootstrap-averaged" in page and "Predicted severity per group" in page
    assert "rank 1:" not in page and "Cases ranked by predicted severity" not in page
    assert "Called COVID-19" not in page and page.count("Shown with the final ranking") == 2  # held back
    client.force_login(maintainer)  # maintainers' pages keep the exact views of the paper's Fig. 4 and 5
    page = client.get(reverse("entry", args=[evaluation.pk])).content.decode()
    assert "rank 1:" in page and "Cases ranked by predicted severity" in page


def test_hard_zero_one_predictions_are_withheld_as_mostly_ties(client, hidden, team_a, archives):
    evaluation = submit_and_score(team_a, archives["perfect"])  # 0/1 probabilities: 6 of 9 cases share 0
    withheld = api(client, team_a, evaluation.submission)["evaluations"][0]["feedback"]["withheld"]
    assert withheld.startswith("6 of 9 cases share one covid_probability value")


def test_a_repeated_submission_is_withheld_counts_and_says_why(client, hidden, team_a, archives):
    submit_and_score(team_a, archives["noisy"])
    again = submit_and_score(team_a, archives["noisy"])
    body = api(client, team_a, again.submission)
    assert body["metrics"]["roc_auc_all"] is None and body["counts_toward_quota"] is True
    assert "differ from one of your team's earlier submissions in only 0 of 9" in body["evaluations"][0]["feedback"][
        "withheld"]
    client.force_login(team_a.user)
    page = client.get(reverse("submission-detail", args=[again.submission.pk])).content.decode()
    assert "Feedback withheld" in page and "counts toward your quota" in page
    assert [e["evaluation_id"] for e in client.get(reverse("api-leaderboard")).json()["entries"]] == [
        again.pk - 1]  # the withheld entry is not on the board


def test_the_ladder_keeps_the_shown_best_when_a_submission_does_not_beat_it(client, hidden, team_a, archives):
    best = submit_and_score(team_a, archives["noisy"])
    worse = submit_and_score(team_a, archives["shuffled"])
    first, second = api(client, team_a, best.submission), api(client, team_a, worse.submission)
    assert second["metrics"] == first["metrics"] and second["evaluations"][0]["intervals"] == first[
        "evaluations"][0]["intervals"]
    assert "did not beat your team's shown ROC-AUC" in second["evaluations"][0]["feedback"]["note"]


def test_maintainers_see_the_exact_numbers(client, hidden, team_a, maintainer, archives):
    evaluation = submit_and_score(team_a, archives["noisy"])
    client.force_login(maintainer)
    body = client.get(reverse("api-submission", args=[evaluation.submission.pk])).json()
    assert body["metrics"]["roc_auc_all"] == evaluation.roc_auc_all and body["evaluations"][0]["feedback"][
        "stage"] == "exact"


def test_phases_final_choices_and_the_closed_board(client, hidden, team_a, team_b, archives):
    a1 = submit_and_score(team_a, archives["noisy"], method="A noisy")
    a2 = submit_and_score(team_a, archives["shuffled"], method="A shuffled")
    a3 = submit_and_score(team_a, archives["probability-only"], method="A third")
    b1 = submit_and_score(team_b, archives["noisy"], method="B noisy")
    choose = reverse("api-submission-final", args=[a1.submission.pk])
    assert client.post(choose, {"chosen": "true"}, **team_a.auth()).json()["is_final_choice"] is True
    assert client.post(reverse("api-submission-final", args=[a3.submission.pk]), {"chosen": "true"},
                       **team_a.auth()).status_code == 200
    refused = client.post(reverse("api-submission-final", args=[a2.submission.pk]), {"chosen": "true"},
                          **team_a.auth())
    assert refused.status_code == 409 and "the most this test set allows (2)" in refused.json()["detail"]

    hidden = change_phase(hidden, Phase.FINAL)
    response = client.post(reverse("api-submissions"), {"file": open(archives["noisy"], "rb"), "method_name": "late"},
                           **team_a.auth())
    assert response.status_code == 409 and "final phase" in response.json()["problems"][0]["message"]
    with pytest.raises(PhaseRefused):
        change_phase(testset_models.TestSet.objects.get(pk=hidden.pk), Phase.FINAL)

    open_numbers = api(client, team_a, a2.submission)["metrics"]
    assert open_numbers["roc_auc_all"] is not None
    change_phase(hidden, Phase.CLOSED)
    board = client.get(reverse("api-leaderboard") + "?entries=all").json()
    assert sorted(e["method_name"] for e in board["entries"]) == ["A noisy", "A third", "B noisy"]  # B: its best
    final = api(client, team_a, a1.submission)["evaluations"][0]["feedback"]
    assert final["stage"] == "final" and final["n_cases"] == 3  # the held-out rest of the 9 public cases
    page = client.get(reverse("entry", args=[a1.pk])).content.decode()  # tables come with the final ranking
    assert "Called COVID-19" in page and "Shown with the final ranking" not in page
    assert api(client, team_a, a2.submission)["metrics"] == open_numbers  # history kept
    with pytest.raises(PhaseRefused):
        change_phase(testset_models.TestSet.objects.get(pk=hidden.pk), Phase.OPEN)
    assert b1.pk


def test_per_case_values_are_only_what_the_team_sent(client, hidden, team_a, tiny_testset, archives, tmp_path):
    masks_only = write_example_archive(tmp_path / "masks.zip", testset=tiny_testset, kind=ExampleKind.MASKS_ONLY)
    evaluation = submit_and_score(team_a, masks_only)
    cases = client.get(reverse("api-submission-cases", args=[evaluation.submission.pk]), **team_a.auth()).json()
    assert cases["columns"] == ["case_id", "covid_probability", "predicted_voxels"]  # no severity from hidden masks
    assert "mask_severity" not in str(cases) and "group" not in str(cases)


def test_the_status_command_reports_policy_and_counts_per_team(hidden, team_a, team_b, archives):
    submit_and_score(team_a, archives["noisy"])
    submit_and_score(team_a, archives["noisy"])  # withheld (identical)
    submit(team_b, archives["perfect"])  # not scored yet
    out = io.StringIO()
    call_command("feedback", "status", hidden.slug, stdout=out)
    text = out.getvalue()
    assert "policy split_ladder, guard on, phase open" in text
    lines = {line.split()[0] + " " + line.split()[1]: line.split()[2:] for line in text.splitlines()[2:]}
    assert lines["Team A"] == ["2", "2", "2", "1", "0"] and lines["Team B"] == ["1", "1", "0", "0", "0"]
    call_command("feedback", "policy", hidden.slug, "--policy", "exact", stdout=io.StringIO())
    assert testset_models.TestSet.objects.get(pk=hidden.pk).feedback_policy == FeedbackPolicy.EXACT
    assert Submission.objects.filter(team=team_a.team).count() == 2


def test_each_reference_entry_is_released_on_its_own(client, hidden, team_a, archives):
    """Reference entries (maintainers' re-scorings of published methods) are not one team's ladder: a weaker
    method keeps its own numbers, and identical predictions of two methods are not withheld."""
    strong = submit_and_score(team_a, archives["noisy"], method="Strong", is_reference=True)
    weak = submit_and_score(team_a, archives["shuffled"], method="Weak", is_reference=True)
    twin = submit_and_score(team_a, archives["noisy"], method="Twin", is_reference=True)
    board = {e["method_name"]: e for e in client.get(reverse("api-leaderboard")).json()["entries"]}
    assert set(board) == {"Strong", "Weak", "Twin"}
    assert board["Twin"]["metrics"] == board["Strong"]["metrics"]
    assert board["Weak"]["metrics"]["roc_auc_all"] < board["Strong"]["metrics"]["roc_auc_all"]
    assert strong.pk < weak.pk < twin.pk


def test_the_worker_saves_the_documents_with_the_result(hidden, team_a, archives,
                                                        django_capture_on_commit_callbacks):
    """Derived in the scoring task and written with the ``done`` state (no after-commit step that a database
    restart could lose), so no web request re-scores."""
    first = submit(team_a, archives["noisy"])
    with django_capture_on_commit_callbacks(execute=False):  # the after-commit fallback does not run
        evaluation = score(first)
    assert evaluation.state == "done"
    assert evaluation.feedback["open"]["n_cases"] == 6 and evaluation.feedback["final"]["n_cases"] == 3
    assert evaluation.feedback["guard"] is None
    twin = submit(team_a, archives["noisy"], method="Twin")  # the guard compares with the team's earlier ones
    with django_capture_on_commit_callbacks(execute=False):
        second = score(twin)
    assert "earlier submissions in only 0 of" in second.feedback["guard"]


def test_the_saved_documents_equal_those_a_release_would_derive(hidden, team_a, archives):
    from leaderboard.feedback import Policy, _derive, _per_case

    evaluations = [submit_and_score(team_a, archives[kind], method=kind) for kind in ("noisy", "shuffled", "noisy")]
    policy = Policy.of(hidden)
    for index, evaluation in enumerate(evaluations):
        evaluation.refresh_from_db()
        earlier = [_per_case(other.pk) for other in evaluations[:index]]
        assert evaluation.feedback == _derive(evaluation.result, _per_case(evaluation.pk), earlier, policy)


def test_showing_the_board_re_scores_nothing(client, hidden, team_a, team_b, archives, monkeypatch):
    for handle, kind in ((team_a, "noisy"), (team_b, "shuffled"), (team_a, "shuffled")):
        submit_and_score(handle, archives[kind], method=f"{handle.team.name} {kind}")

    def refuse(*args, **kwargs):
        raise AssertionError("a web request re-scored an evaluation")

    monkeypatch.setattr("leaderboard.feedback.policy_logic.rescore", refuse)
    assert len(client.get(reverse("api-leaderboard")).json()["entries"]) == 2
    assert client.get(reverse("board")).status_code == 200


def test_the_triage_impact_shown_is_the_released_one_on_the_split(client, hidden, team_a, maintainer, archives):
    """The triage gain (label-derived: waits of COVID-19 positives) goes through the release like the metrics:
    board, JSON and CSV exports and the entry page show the value re-scored on the leaderboard split, not the one
    of the stored full result; maintainers see the full one."""
    evaluation = submit_and_score(team_a, archives["shuffled"])  # on the split its triage gain differs
    released = release(evaluation)
    full = evaluation.result["triage"]["measures"]["triage_gain"]
    gain = released.triage_gain
    assert released.document["triage"]["measures"]["triage_gain"] == gain
    assert released.document["group_sizes"]["covid"] == 2  # the split's COVID-19 cases, not all 3
    per_case = evaluation.per_case["per_case"]
    on_split = rescore(evaluation.result, per_case, released.cases, options=dataclasses.replace(
        scoring_options(), workers=1))["triage"]
    assert on_split["measures"]["triage_gain"] == gain and on_split["simulation"]["days"] == 10  # settings' size
    assert gain is not None and full is not None and f"{gain:.1f}" != f"{full:.1f}"
    entry = client.get(reverse("api-leaderboard")).json()["entries"][0]
    assert entry["triage_gain"]["minutes"] == gain
    assert entry["triage_gain"]["interval"]["low"] == released.triage_interval[0]
    rows = list(csv.DictReader(io.StringIO(client.get(reverse("api-leaderboard"), {"format": "csv"}).content.decode())))
    assert float(rows[0]["triage_gain_minutes"]) == gain
    board_page = client.get(reverse("board")).content.decode()
    page = client.get(reverse("entry", args=[evaluation.pk])).content.decode()
    assert f'<td class="num">{minutes(gain)}<' in board_page and f'<td class="num">{minutes(full)}<' not in board_page
    assert f"Triage gain: {minutes(gain)} minutes" in page and f"Triage gain: {minutes(full)} minutes" not in page
    assert "simulated worklist" in page  # the waiting-time chart, drawn from the released distribution
    client.force_login(maintainer)
    page = client.get(reverse("entry", args=[evaluation.pk])).content.decode()
    assert f"Triage gain: {minutes(full)} minutes" in page


def test_documents_missing_after_a_policy_change_are_derived_from_the_stored_result(client, hidden, team_a,
                                                                                   archives):
    """A board reads only the derived documents under a split; where they are missing (or the split changed), the
    stored result is read to derive them, and the board shows the same numbers as before."""
    from leaderboard.board import cached as board_cache
    from leaderboard.submissions.models import Evaluation

    evaluation = submit_and_score(team_a, archives["noisy"])
    before = client.get(reverse("api-leaderboard")).json()["entries"][0]["metrics"]
    saved = Evaluation.objects.get(pk=evaluation.pk).feedback
    Evaluation.objects.filter(pk=evaluation.pk).update(feedback=None)
    board_cache.clear()  # the board is built again (a new revision would do the same)
    assert client.get(reverse("api-leaderboard")).json()["entries"][0]["metrics"] == before
    assert Evaluation.objects.get(pk=evaluation.pk).feedback == saved
