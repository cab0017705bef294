"""Cached boards (board/cached.py, board/revision.py): built once per board revision, and every change that
can alter a board is visible at once."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from leaderboard.board import revision as revision_module
from leaderboard.board import views
from leaderboard.board.cached import ProcessCache
from leaderboard.board.models import BoardChange
from leaderboard.board.revision import record_change, revision
from leaderboard.submissions.states import EvaluationState

from .helpers import score, submit, submit_and_score


def page(client) -> str:
    response = client.get(reverse("board"))
    assert response.status_code == 200
    return response.content.decode()


def exported_methods(client, **params) -> list[str]:
    response = client.get(reverse("api-leaderboard"), params)
    assert response.status_code == 200
    if params.get("format") == "csv":
        return [row["method_name"] for row in csv.DictReader(io.StringIO(response.content.decode()))]
    return [entry["method_name"] for entry in response.json()["entries"]]


def test_a_board_is_built_once_per_revision(client, label_version, team_a, archives, monkeypatch):
    submit_and_score(team_a, archives["noisy"], method="First method")
    built = []
    original = views.board_for_request
    monkeypatch.setattr(views, "board_for_request", lambda *a, **k: built.append(1) or original(*a, **k))
    for _ in range(3):
        assert "First method" in page(client)
    assert len(built) == 1
    client.get(reverse("board"), {"sort": "mean_dice"})  # other options: another board
    assert len(built) == 2


def test_a_new_result_is_on_every_rendering_at_once(client, label_version, team_a, team_b, archives):
    submit_and_score(team_a, archives["noisy"], method="First method")
    assert "Second method" not in page(client)
    assert exported_methods(client) == ["First method"]
    assert exported_methods(client, format="csv") == ["First method"]
    pending = submit(team_b, archives["perfect"], method="Second method")
    assert "Second method" not in page(client)  # queued: not on the board yet
    assert score(pending).state == EvaluationState.DONE
    assert "Second method" in page(client)
    assert exported_methods(client) == ["Second method", "First method"]
    assert exported_methods(client, format="csv") == ["Second method", "First method"]


def test_edits_of_submissions_and_teams_are_visible_at_once(client, label_version, team_a, archives):
    submission = submit_and_score(team_a, archives["noisy"], method="Visible method").submission
    assert "Visible method" in page(client) and "Team A" in page(client)
    team_a.team.name = "Renamed team"
    team_a.team.save()
    assert "Renamed team" in page(client) and exported_methods(client) == ["Visible method"]
    submission.is_public = False
    submission.save()
    assert "Visible method" not in page(client) and exported_methods(client) == []


def test_pending_states_and_heartbeats_keep_the_revision(label_version, team_a, archives):
    submission = submit(team_a, archives["noisy"])
    evaluation = submission.evaluations.get()
    before = revision()
    evaluation.state = EvaluationState.VALIDATING
    evaluation.save(update_fields=["state"])
    type(evaluation).objects.filter(pk=evaluation.pk).update(heartbeat_at=evaluation.created_at)
    assert revision() == before
    evaluation.state = EvaluationState.DONE
    evaluation.save(update_fields=["state"])
    assert revision() != before


def test_visitors_share_the_page_but_signed_in_users_see_themselves(client, label_version, team_a, archives):
    submit_and_score(team_a, archives["noisy"], method="Shared method")
    anonymous = client.get(reverse("board"))
    assert "Log in" in anonymous.content.decode() and "Cookie" in anonymous["Vary"]
    client.force_login(team_a.user)
    signed_in = page(client)
    assert "Log out alice" in signed_in and "Shared method" in signed_in
    client.logout()
    assert "Log out alice" not in page(client)


def test_exports_link_to_the_host_they_were_asked_from(client, label_version, team_a, archives):
    submit_and_score(team_a, archives["noisy"])
    urls = {host: client.get(reverse("api-leaderboard"), HTTP_HOST=host).json()["entries"][0]["entry_url"]
            for host in ("localhost", "127.0.0.1")}
    assert urls["localhost"].startswith("http://localhost/") and urls["127.0.0.1"].startswith("http://127.0.0.1/")


def test_process_cache_is_bounded_by_size_and_time():
    lru = ProcessCache(10, seconds=60)
    lru.set("a", "12345")
    lru.set("b", "123456")  # 11 bytes in all: "a", the least recently used, goes
    assert lru.get("a") is None and lru.get("b") == "123456"
    lru.set("huge", "x" * 11)  # larger than the whole cache: not kept
    assert lru.get("huge") is None and lru.get("b") == "123456"
    expired = ProcessCache(10, seconds=-1)
    expired.set("a", "1")
    assert expired.get("a") is None


@pytest.mark.django_db(transaction=True)
def test_a_process_rereads_the_revision_once_a_second_and_at_once_after_its_own_changes():
    revision_module.forget_revision()
    first = revision()
    BoardChange.objects.create(what="made by another process")  # no record_change here: this process can't know
    assert revision() == first  # reused for LEADERBOARD_BOARD_REFRESH_SECONDS
    revision_module._memo = (first, 0.0)  # ... which have passed
    second = revision()
    assert second != first
    record_change("made by this process")
    assert revision() not in (first, second)


def test_an_entry_page_follows_a_new_leader(client, label_version, team_a, team_b, archives):
    first = submit_and_score(team_a, archives["noisy"], method="Early method")
    url = reverse("entry", args=[first.pk])
    assert "This entry leads the board" in client.get(url).content.decode()
    submit_and_score(team_b, archives["perfect"], method="Better method")
    text = client.get(url).content.decode()
    assert "This entry leads the board" not in text and "Better method</a>" in text


def test_concurrent_first_requests_of_a_process_build_once(settings):
    import threading
    import time

    from leaderboard.board.cached import cached, clear

    clear()
    builds = []

    def build() -> str:
        builds.append(1)
        time.sleep(0.2)  # a slow build: the other threads arrive meanwhile
        return "board"

    results = []
    threads = [threading.Thread(target=lambda: results.append(cached("concurrent-key", build))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["board"] * 8 and len(builds) == 1


@pytest.mark.django_db(transaction=True)
def test_the_revision_is_reused_for_the_configured_refresh_seconds(settings, monkeypatch):
    settings.LEADERBOARD_BOARD_REFRESH_SECONDS = 5
    clock = [1000.0]
    monkeypatch.setattr(revision_module.time, "monotonic", lambda: clock[0])
    revision_module.forget_revision()
    first = revision()
    BoardChange.objects.create(what="made by another process")
    clock[0] += 4.9
    assert revision() == first  # a busy board is rebuilt at most once per 5 s in this process
    clock[0] += 0.2
    assert revision() != first


@pytest.mark.django_db(transaction=True)
def test_a_new_submission_records_no_board_change_and_its_done_evaluation_does(team_a, label_version, archives):
    before = BoardChange.objects.count()
    submission = submit(team_a, archives["noisy"], method="Quiet until scored")
    assert BoardChange.objects.count() == before  # no evaluation of it is done: no board can show it
    score(submission)
    assert list(BoardChange.objects.filter(pk__gt=before).values_list("what", flat=True)).count("evaluation done") == 1
    submission.method_name = "Renamed"
    submission.save()
    assert BoardChange.objects.filter(what="submissions.Submission").exists()


def test_with_stale_seconds_a_slot_serves_its_previous_value_while_one_thread_rebuilds(settings):
    import threading

    from leaderboard.board.cached import cached, clear, revision_keys, wait_for_background

    settings.LEADERBOARD_BOARD_STALE_SECONDS = 30
    clear()
    slot = revision_keys("page", "demo", at_revision="any")[1]
    assert cached("revision-1", lambda: "old board", slot=slot) == "old board"
    release, builds = threading.Event(), []

    def slow_build() -> str:
        builds.append(1)
        assert release.wait(10)
        return "new board"

    assert [cached("revision-2", slow_build, slot=slot) for _ in range(5)] == ["old board"] * 5  # nobody waits
    release.set()
    wait_for_background()
    assert cached("revision-2", slow_build, slot=slot) == "new board" and len(builds) == 1
    assert cached("revision-3", lambda: "other", slot=None) == "other"  # no slot: built in the foreground


def test_stale_values_end_when_the_rebuild_outlasts_the_stale_seconds_or_fails(settings, monkeypatch):
    import threading
    import time as real_time
    from types import SimpleNamespace

    from leaderboard.board import cached as cached_module
    from leaderboard.board.cached import cached, clear, revision_keys, wait_for_background

    settings.LEADERBOARD_BOARD_STALE_SECONDS = 5
    clock = [100.0]
    monkeypatch.setattr(cached_module, "time", SimpleNamespace(monotonic=lambda: clock[0], sleep=real_time.sleep))
    clear()
    slot = revision_keys("page", "slow", at_revision="any")[1]
    cached("revision-1", lambda: "old", slot=slot)
    release = threading.Event()
    assert cached("revision-2", lambda: release.wait(10) and "new", slot=slot) == "old"
    clock[0] += 5.1  # the rebuild has run longer than the stale seconds: requests wait for it
    answers: list[str] = []
    waiting = threading.Thread(target=lambda: answers.append(cached("revision-2", lambda: "again", slot=slot)))
    waiting.start()
    waiting.join(0.3)
    assert waiting.is_alive() and answers == []  # blocked on the background build, not served stale
    release.set()
    waiting.join(10)
    assert answers == ["new"]

    def broken() -> str:
        raise RuntimeError("the database went away")

    assert cached("revision-3", broken, slot=slot) == "new"  # stale while the background build fails
    wait_for_background()
    with pytest.raises(RuntimeError, match="went away"):  # a failed rebuild is retried in the foreground
        cached("revision-3", broken, slot=slot)


@pytest.mark.django_db(transaction=True)
def test_with_stale_seconds_pages_show_a_new_result_after_one_background_rebuild(
        client, settings, label_version, team_a, team_b, archives):
    from leaderboard.board.cached import clear, wait_for_background

    settings.LEADERBOARD_BOARD_STALE_SECONDS = 30
    clear()
    first = submit_and_score(team_a, archives["noisy"], method="First method")
    entry_url = reverse("entry", args=[first.pk])
    assert "First method" in page(client) and exported_methods(client) == ["First method"]
    assert "This entry leads the board" in client.get(entry_url).content.decode()
    submit_and_score(team_b, archives["perfect"], method="Second method")
    # the first requests after the change get the previous revision's renderings while they are rebuilt
    assert "Second method" not in page(client)
    assert exported_methods(client) == ["First method"]
    assert "This entry leads the board" in client.get(entry_url).content.decode()
    wait_for_background()
    assert "Second method" in page(client)
    assert exported_methods(client) == ["Second method", "First method"]
    assert "This entry leads the board" not in client.get(entry_url).content.decode()


def test_a_public_entry_page_is_served_without_queries_and_a_hidden_one_is_gone_at_the_next_revision(
        client, settings, label_version, team_a, archives):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.LEADERBOARD_BOARD_STALE_SECONDS = 30  # even where boards may be served stale
    evaluation = submit_and_score(team_a, archives["noisy"], method="Soon private")
    url = reverse("entry", args=[evaluation.pk])
    assert client.get(url).status_code == 200
    with CaptureQueriesContext(connection) as warm:
        assert client.get(url).status_code == 200
    # only the board revision (read once per refresh interval; inside this test's transaction, every time)
    assert [q["sql"] for q in warm.captured_queries] == [revision_module._REVISION_SQL]
    submission = evaluation.submission
    submission.is_public = False
    submission.save()
    assert client.get(url).status_code == 404  # never served from the previous revision
