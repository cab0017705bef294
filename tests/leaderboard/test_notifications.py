"""The e-mail when an evaluation made at upload ends: queued on commit, sent once, nothing label-derived."""

from __future__ import annotations

import pytest

from leaderboard.submissions import notifications

from .helpers import score, submit
from .test_public_images_validation import broken_archives


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    sent: list[int] = []
    monkeypatch.setattr(notifications.notify_finished, "delay", sent.append)
    return sent


def test_done_is_mailed_once_without_metrics(team_a, archives, label_version, queued, mailoutbox,
                                             django_capture_on_commit_callbacks):
    submission = submit(team_a, archives["noisy"], method="Noisy")
    with django_capture_on_commit_callbacks(execute=True):
        evaluation = score(submission)
    assert queued == [evaluation.pk]
    assert notifications.notify_finished(evaluation.pk) is True
    assert notifications.notify_finished(evaluation.pk) is False  # a re-delivered message sends nothing
    [mail] = mailoutbox
    assert mail.to == ["alice@example.org"]
    assert mail.subject == f"[leaderboard] Scored: submission {submission.pk} (Noisy)"
    assert "0." not in mail.body  # no metric values: the site applies the feedback policy


def test_failed_lists_the_archive_problems(team_a, tiny_testset, label_version, queued, mailoutbox, tmp_path,
                                           django_capture_on_commit_callbacks):
    submission = submit(team_a, broken_archives(tmp_path, tiny_testset)["ids"], method="Ids")
    with django_capture_on_commit_callbacks(execute=True):
        evaluation = score(submission)
    assert evaluation.state == "failed" and queued == [evaluation.pk]
    assert notifications.notify_finished(evaluation.pk)
    body = mailoutbox[0].body
    assert "6 problem(s)" in body and "unknown case 'nope_1'" in body and "does not count toward the quota" in body


def test_off_switch_and_accounts_without_address(team_a, archives, label_version, queued, mailoutbox, settings,
                                                 django_capture_on_commit_callbacks):
    settings.LEADERBOARD_EMAIL_ON_FINISH = False
    with django_capture_on_commit_callbacks(execute=True):
        evaluation = score(submit(team_a, archives["noisy"]))
    assert queued == []
    team_a.user.email = ""
    team_a.user.save()
    assert notifications.notify_finished(evaluation.pk) is False and mailoutbox == []
