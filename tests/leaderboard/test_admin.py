"""The admin: every model is there for maintainers; scores and labels cannot be edited by hand."""

import pytest
from django.urls import reverse

from leaderboard.submissions import archive_job
from leaderboard.submissions.models import Evaluation, Submission

from .helpers import submit_and_score


@pytest.fixture
def admin_client_with_data(client, maintainer, label_version, team_a, archives):
    evaluation = submit_and_score(team_a, archives["noisy"])
    client.force_login(maintainer)
    return client, evaluation


MODELS = ["accounts/team", "accounts/membership", "accounts/invitation", "accounts/apitoken",
          "testsets/testset", "testsets/labelversion", "testsets/reportedresult", "submissions/submission",
          "submissions/evaluation", "auth/user"]


def test_every_list_and_change_page_renders(admin_client_with_data):
    client, evaluation = admin_client_with_data
    objects = {"submissions/evaluation": evaluation.pk, "submissions/submission": evaluation.submission_id,
               "testsets/labelversion": evaluation.label_version_id}
    for model in MODELS:
        app, name = model.split("/")
        assert client.get(reverse(f"admin:{app}_{name}_changelist")).status_code == 200, model
        if model in objects:
            page = client.get(reverse(f"admin:{app}_{name}_change", args=[objects[model]]))
            assert page.status_code == 200, model


def test_scores_cannot_be_edited(admin_client_with_data):
    client, evaluation = admin_client_with_data
    url = reverse("admin:submissions_evaluation_change", args=[evaluation.pk])
    page = client.get(url).content.decode()
    assert 'name="roc_auc_all"' not in page and 'name="state"' not in page
    client.post(url, {"roc_auc_all": "1.0", "state": "done"})
    assert Evaluation.objects.get(pk=evaluation.pk).roc_auc_all == evaluation.roc_auc_all
    assert client.get(reverse("admin:submissions_evaluation_add")).status_code == 403
    assert client.get(reverse("admin:testsets_reportedresult_add")).status_code == 403


def test_frozen_submission_fields_and_private_file(admin_client_with_data):
    client, evaluation = admin_client_with_data
    page = client.get(reverse("admin:submissions_submission_change", args=[evaluation.submission_id])).content
    assert b'name="sha256"' not in page and b'name="method_name"' in page
    assert evaluation.submission.file.name.encode() in page and b"href=\"/" + b"submissions/team" not in page


def test_requeue_action_and_a_successful_rerun_counts_again(admin_client_with_data):
    client, evaluation = admin_client_with_data
    Evaluation.objects.filter(pk=evaluation.pk).update(state="failed", failure_kind="server")
    Submission.objects.filter(pk=evaluation.submission_id).update(counts_toward_quota=False)
    client.post(reverse("admin:submissions_evaluation_changelist"),
                {"action": "requeue", "_selected_action": [evaluation.pk]})
    assert Evaluation.objects.get(pk=evaluation.pk).state == "queued"
    archive_job.run(evaluation.pk, worker="w")
    assert Submission.objects.get(pk=evaluation.submission_id).counts_toward_quota is True
