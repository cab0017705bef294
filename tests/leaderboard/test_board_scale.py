"""Boards at scale (issue 14): the board is built once per board revision and every page, search, API page and
export slices that build; responses are bounded by pagination (the CSV stays complete); queries per request
do not grow with the board; cached pages never carry one viewer's view to another."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from leaderboard.accounts.models import Team
from leaderboard.board import boards
from leaderboard.board import cached as board_cache
from leaderboard.board.revision import record_change
from leaderboard.feedback import release
from leaderboard.submissions.models import Evaluation, Submission
from leaderboard.submissions.states import EvaluationState
from leaderboard.testsets.models import FeedbackPolicy
from leaderboard.testsets.models import TestSet as Benchmark

from .helpers import submit_and_score

COPIED = ["scorer_version", "track", "result", "per_case", "intervals", "feedback", "roc_auc_all", "roc_auc_normal",
          "roc_auc_bacterial_pneumonia", "roc_auc_nodules", "spearman_rho", "mean_dice"]


def add_copies(scored: list[Evaluation], *, teams: int, per_team: int) -> None:
    """Public submissions of new teams, each with a done evaluation copied from ``scored`` (documents and the
    derived feedback documents included, as the worker leaves them), as scripts/bench_site.py fills its boards."""
    first = Team.objects.count()
    made = Team.objects.bulk_create([Team(name=f"Copy team {first + i}", slug=f"copy-team-{first + i}")
                                     for i in range(teams)])
    template = scored[0].submission
    now = timezone.now()
    submissions = Submission.objects.bulk_create([Submission(
        team=made[i % teams], testset=template.testset, kind=template.kind, track=template.track,
        file=template.file.name, original_filename=template.original_filename, size_bytes=template.size_bytes,
        sha256=template.sha256, method_name=f"Copy method {first}-{i}", is_public=True,
        created_at=now + timezone.timedelta(seconds=i)) for i in range(teams * per_team)])
    Evaluation.objects.bulk_create([Evaluation(
        submission=submission, label_version=scored[0].label_version, state=EvaluationState.DONE, is_initial=True,
        attempts=1, created_at=submission.created_at, state_changed_at=now, finished_at=now,
        **{f: getattr(scored[i % len(scored)], f) for f in COPIED}) for i, submission in enumerate(submissions)])
    record_change("copies")  # bulk_create sends no signals


@pytest.fixture(params=[FeedbackPolicy.EXACT, FeedbackPolicy.SPLIT_LADDER])
def policy_board(request, label_version, team_a, team_b, archives):
    """A board under the policy with two real results (the tiny set's ``exact`` or a new benchmark's default)."""
    Benchmark.objects.filter(pk=label_version.testset_id).update(feedback_policy=request.param)
    record_change("policy")
    scored = [submit_and_score(team_a, archives["noisy"], method="Noisy"),
              submit_and_score(team_b, archives["perfect"], method="Perfect")]
    for evaluation in scored:  # the worker derives the feedback documents after its commit (none in a test)
        release(evaluation)
        evaluation.refresh_from_db()
    return scored


URLS = ("/", "/?page=2", "/?q=copy+team+1", "/?entries=all&page=2", "/?sort=mean_dice&order=asc",
        "/api/leaderboard/", "/api/leaderboard/?page=2&q=method", "/api/leaderboard/?entries=all",
        "/api/leaderboard/?format=csv&entries=all")


def test_queries_per_request_do_not_grow_with_the_board(client, policy_board, monkeypatch):
    monkeypatch.setattr(boards, "PAGE_SIZE", 5)

    def count() -> dict[str, tuple[int, int]]:
        counts = {}
        for url in (*URLS, reverse("entry", args=[policy_board[0].pk])):
            board_cache.clear()  # cold: the request builds the board
            with CaptureQueriesContext(connection) as cold:
                assert client.get(url).status_code == 200, url
            with CaptureQueriesContext(connection) as warm:
                assert client.get(url).status_code == 200, url
            counts[url] = (len(cold), len(warm))
        return counts

    add_copies(policy_board, teams=3, per_team=2)
    small = count()
    add_copies(policy_board, teams=30, per_team=3)
    assert Evaluation.objects.filter(state=EvaluationState.DONE).count() == 2 + 6 + 90
    large = count()
    assert large == small
    assert all(warm <= 2 for _, warm in large.values())  # from the caches: at most the revision and one small query


def test_the_board_is_built_once_per_revision_for_every_page_search_and_export(client, label_version, team_a, team_b,
                                                                               archives, monkeypatch):
    scored = [submit_and_score(team_a, archives["noisy"], method="Noisy"),
              submit_and_score(team_b, archives["perfect"], method="Perfect")]
    add_copies(scored, teams=4, per_team=3)
    monkeypatch.setattr(boards, "PAGE_SIZE", 2)
    built = {"data": 0, "order": 0}
    for name in built:
        real = getattr(boards, f"board_{name}")
        monkeypatch.setattr(boards, f"board_{name}",
                            lambda *a, _real=real, _name=name, **k: built.__setitem__(_name, built[_name] + 1)
                            or _real(*a, **k))
    board_cache.clear()
    for url in ("/", "/?page=2", "/?page=3", "/?q=copy", "/?q=noisy", "/api/leaderboard/",
                "/api/leaderboard/?page=2", "/api/leaderboard/?q=perfect", "/api/leaderboard/?format=csv",
                reverse("entry", args=[scored[0].pk])):
        assert client.get(url).status_code == 200, url
    assert built == {"data": 1, "order": 1}  # one board, one ranking (best entry per team, by ROC-AUC)
    client.get("/?entries=all&page=2")
    client.get("/api/leaderboard/?entries=all&page=3")
    assert built == {"data": 1, "order": 2}  # another ranking of the same build
    record_change("a change")
    client.get("/?page=2")
    assert built == {"data": 2, "order": 3}


def test_pages_bound_every_response_and_the_csv_stays_complete(client, label_version, team_a, team_b, archives,
                                                               monkeypatch):
    scored = [submit_and_score(team_a, archives["noisy"], method="Noisy"),
              submit_and_score(team_b, archives["perfect"], method="Perfect")]
    add_copies(scored, teams=5, per_team=2)  # 12 entries, 7 teams
    monkeypatch.setattr(boards, "PAGE_SIZE", 3)
    pages = [client.get(reverse("api-leaderboard"), {"entries": "all", "page": n}).json() for n in (1, 2, 3, 4, 5)]
    assert [len(p["entries"]) for p in pages] == [3, 3, 3, 3, 0] and pages[0]["n_pages"] == 4
    every = [e["evaluation_id"] for p in pages for e in p["entries"]]
    rows = list(csv.DictReader(io.StringIO(client.get(reverse("api-leaderboard"),
                                                      {"entries": "all", "format": "csv"}).content.decode())))
    assert len(rows) == 12 and len(set(every)) == 12
    assert [r["entry_url"].rsplit("/", 2)[-2] for r in rows] == [str(pk) for pk in every]
    html = client.get(reverse("board"), {"entries": "all", "page": 2}).content.decode()
    assert html.count('<tr class') + html.count("<tr><td") == 3 and "page 2 of 4" in html
    assert client.get(reverse("board"), {"page": 0}).status_code == 200  # the page clamps to the first one
    refused = client.get(reverse("api-leaderboard"), {"page": 0})
    assert refused.status_code == 400 and "format=csv" in refused.json()["detail"]


@pytest.fixture
def hidden(label_version):
    """The tiny benchmark under a new benchmark's default policy (split + Ladder + guard)."""
    Benchmark.objects.filter(pk=label_version.testset_id).update(feedback_policy=FeedbackPolicy.SPLIT_LADDER,
                                                               split_seed=11)
    record_change("policy")
    return label_version


EXACT_ONLY = ("rank 1:", "Cases ranked by predicted severity")  # per-case marks: the exact view only


def test_cached_entry_pages_keep_maintainers_teams_and_the_public_apart(client, hidden, team_a, maintainer,
                                                                        archives):
    evaluation = submit_and_score(team_a, archives["noisy"], method="Hidden method")
    url = reverse("entry", args=[evaluation.pk])
    client.force_login(maintainer)  # first: the maintainer's exact view
    assert all(marker in client.get(url).content.decode() for marker in EXACT_ONLY)
    client.logout()
    client.cookies.clear()
    for _ in range(2):  # rendered, then from the cache: the public view
        public = client.get(url)
        assert "Cookie" in public["Vary"] and not any(m in public.content.decode() for m in EXACT_ONLY)
    client.force_login(team_a.user)  # the team: its released view, not the public page nor the maintainer's
    team_page = client.get(url).content.decode()
    assert not any(m in team_page for m in EXACT_ONLY) and "Log out alice" in team_page
    client.force_login(maintainer)  # and the maintainer still gets the exact view after the public page is cached
    assert all(marker in client.get(url).content.decode() for marker in EXACT_ONLY)


def test_the_board_and_its_exports_show_released_numbers_to_every_viewer(client, hidden, team_a, maintainer,
                                                                         archives):
    evaluation = submit_and_score(team_a, archives["noisy"], method="Hidden method")
    client.force_login(maintainer)  # the maintainer builds the board first
    as_maintainer = client.get(reverse("api-leaderboard")).json()["entries"][0]["metrics"]["roc_auc_all"]
    assert client.get(reverse("board")).status_code == 200
    client.logout()
    client.cookies.clear()
    public = client.get(reverse("api-leaderboard")).json()["entries"][0]["metrics"]["roc_auc_all"]
    assert as_maintainer == public != evaluation.roc_auc_all  # the released (split, ladder) value, for everybody
    assert "Hidden method" in client.get(reverse("board")).content.decode()
