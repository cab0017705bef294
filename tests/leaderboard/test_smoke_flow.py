"""Upload through the API, score in-process, read the board: the whole path on SQLite."""

from django.urls import reverse

from leaderboard.submissions.states import EvaluationState

from .helpers import score


def test_api_upload_is_scored_and_ranked(client, label_version, team_a, archives, django_capture_on_commit_callbacks):
    with open(archives["noisy"], "rb") as handle, django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("api-submissions"), {"file": handle, "method_name": "Noisy net",
                                                            "is_public": "true"}, **team_a.auth())
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "queued" and body["metrics"] is None
    assert len(callbacks) == 1  # the task message is sent only after the commit
    from leaderboard.submissions.models import Submission

    evaluation = score(Submission.objects.get(pk=body["id"]))
    assert evaluation.state == EvaluationState.DONE, evaluation.problems
    detail = client.get(reverse("api-submission", args=[body["id"]]), **team_a.auth()).json()
    assert detail["state"] == "done"
    assert set(detail["metrics"]) == {"roc_auc_all", "roc_auc_normal", "roc_auc_bacterial_pneumonia",
                                      "roc_auc_nodules", "spearman_rho", "mean_dice"}
    board = client.get(reverse("api-leaderboard")).json()
    assert [e["method_name"] for e in board["entries"]] == ["Noisy net"]
    assert board["entries"][0]["metrics"]["roc_auc_all"] == evaluation.roc_auc_all
    page = client.get(reverse("board"))
    assert page.status_code == 200 and b"Noisy net" in page.content
    entry = client.get(reverse("entry", args=[evaluation.pk]))
    assert entry.status_code == 200 and b"<svg" in entry.content
