"""`manage.py rescore`: which submissions, which labels, idempotent, failed ones re-queued."""

import pytest
from django.core.management import CommandError, call_command

from leaderboard.submissions.models import Evaluation
from leaderboard.submissions.states import EvaluationState
from leaderboard.testsets.models import LabelVersion, ReportedResult

from .helpers import submit, submit_and_score
from .test_testsets import relabelled


@pytest.fixture
def two_label_versions(label_version, tiny_dir, tmp_path):
    call_command("import_testset", str(relabelled(tiny_dir, tmp_path, version="2")), "--no-rescore")
    return label_version, LabelVersion.objects.get(version="2")


def test_rescore_all_on_the_current_labels(two_label_versions, team_a, archives, capsys):
    old, new = two_label_versions
    first = submit(team_a, archives["noisy"])
    call_command("rescore", "--all")
    assert "queued 0 new evaluation(s)" in capsys.readouterr().out  # uploaded after v2: already on it
    assert first.evaluations.get().label_version == new
    call_command("rescore", "--all", "--label-version", f"tiny:{old.version}")
    assert "queued 1 new" in capsys.readouterr().out
    assert set(first.evaluations.values_list("label_version__version", flat=True)) == {"1", "2"}


def test_rescore_by_id_and_label_digest(two_label_versions, team_a, archives, capsys):
    old, _ = two_label_versions
    submission = submit(team_a, archives["noisy"])
    call_command("rescore", str(submission.pk), "--label-version", old.labels_digest[:10])
    assert Evaluation.objects.filter(submission=submission, label_version=old, reason="rescore").exists()
    with pytest.raises(CommandError, match="no submission"):
        call_command("rescore", "999")
    with pytest.raises(CommandError, match="no label version"):
        call_command("rescore", "--all", "--label-version", "nope")


def test_rescore_references_only(label_version, team_a, archives, capsys):
    reference = submit(team_a, archives["noisy"], is_reference=True,
                       reference=ReportedResult.objects.get(method="ResNet50"))
    submit(team_a, archives["noisy"])
    Evaluation.objects.filter(submission=reference).update(state=EvaluationState.FAILED, failure_kind="server")
    call_command("rescore", "--reference")
    assert "re-queued 1 failed" in capsys.readouterr().out
    assert reference.evaluations.get().state == EvaluationState.QUEUED


def test_done_evaluations_are_kept(label_version, team_a, archives, capsys):
    evaluation = submit_and_score(team_a, archives["noisy"])
    call_command("rescore", str(evaluation.submission_id))
    out = capsys.readouterr().out
    assert "already done" in out and "skipped 1" in out
    assert evaluation.submission.evaluations.count() == 1
