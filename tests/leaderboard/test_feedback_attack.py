"""A scripted label-probing attacker against a test set with hidden labels, through the real API.

Two attacks, 50 submissions in all per policy (notes/integrity-and-ranking.md, issue 11):

- single-case probes: every case 0.5, one case 1.0; ROC-AUC vs all above 0.5 means the case is COVID-19;
- a batched probe: random scores for every case in each submission; a case whose score goes with a higher
  shown ROC-AUC is guessed COVID-19 (the attacker is even told how many COVID-19 cases there are).

Under ``exact`` the single-case attack recovers every label (so this test can fail). Under the default policy
of a new hidden test set (leaderboard split + Ladder + guard) neither attack beats guessing the majority class
by more than 10 percentage points.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from django.urls import reverse

from leaderboard.submissions import archive_job
from leaderboard.submissions.models import Submission
from leaderboard.testsets.models import FeedbackPolicy
from leaderboard.testsets.services import import_label_version
from tests.evaluator.tiny_testset import write_tiny_testset

from .conftest import make_team

N_PER_GROUP = 5  # 20 cases, all public: 5 COVID-19
SINGLE_CASE_PROBES = 20
BATCHED_PROBES = 30
MARGIN = 0.10


@pytest.fixture
def attack_set(db, tmp_path_factory, settings):
    settings.LEADERBOARD_DAILY_QUOTA = 1000
    settings.LEADERBOARD_BOOTSTRAP_RESAMPLES = 20
    root = write_tiny_testset(tmp_path_factory.mktemp("attack") / "attack", n_per_group=N_PER_GROUP)
    label_version = import_label_version(root).label_version
    testset = label_version.testset
    testset.split_seed = 20251205  # fixed, so the test is deterministic (a real set's seed is secret and random)
    testset.save()
    truth = {}
    for line in (root / "cases.csv").read_text().splitlines()[1:]:
        case_id, group, _ = line.split(",")
        truth[case_id] = group == "covid"
    return testset, truth


def archive(scores: dict[str, float]) -> io.BytesIO:
    handle = io.BytesIO()
    with zipfile.ZipFile(handle, "w") as zipped:
        zipped.writestr("predictions.csv", "case_id,covid_probability\n"
                        + "".join(f"{case},{value:.6f}\n" for case, value in scores.items()))
    handle.seek(0)
    handle.name = "predictions.zip"
    return handle


class Attacker:
    """Submits through the API (as a team with a token) and reads back what the site releases."""

    def __init__(self, client, handle, case_ids: list[str]) -> None:
        self.client, self.handle, self.case_ids = client, handle, case_ids
        self.submissions = 0

    def shown_auc(self, scores: dict[str, float]) -> float | None:
        response = self.client.post(reverse("api-submissions"), {"file": archive(scores), "method_name": "probe"},
                                    **self.handle.auth())
        assert response.status_code == 201, response.content
        self.submissions += 1
        submission = Submission.objects.get(pk=response.json()["id"])
        archive_job.run(submission.evaluations.get().pk, worker="test-worker")  # the worker's task body
        body = self.client.get(reverse("api-submission", args=[submission.pk]), **self.handle.auth()).json()
        assert body["state"] == "done", body["problems"]
        return body["metrics"]["roc_auc_all"]

    def single_case(self) -> dict[str, bool]:
        guesses = {}
        for case_id in self.case_ids[:SINGLE_CASE_PROBES]:
            shown = self.shown_auc({c: 1.0 if c == case_id else 0.5 for c in self.case_ids})
            guesses[case_id] = shown is not None and shown > 0.5
        return guesses

    def batched(self, *, n_covid: int) -> dict[str, bool]:
        rng = np.random.default_rng(7)
        rows, shown = [], []
        for _ in range(BATCHED_PROBES):
            scores = rng.random(len(self.case_ids))
            value = self.shown_auc(dict(zip(self.case_ids, scores.tolist(), strict=True)))
            rows.append(scores)
            shown.append(np.nan if value is None else value)
        values = np.array(shown)
        known = np.isfinite(values)
        if known.sum() < 2 or np.ptp(values[known]) == 0:
            return {c: False for c in self.case_ids}  # nothing learnt: guess the majority class
        centred = values[known] - values[known].mean()
        effect = np.array(rows)[known].T @ centred  # per case: how its score goes with the shown AUC
        top = set(np.argsort(-effect)[:n_covid].tolist())
        return {c: i in top for i, c in enumerate(self.case_ids)}


def accuracy(guesses: dict[str, bool], truth: dict[str, bool]) -> float:
    return sum(guesses.get(case, False) == label for case, label in truth.items()) / len(truth)


def run_attacks(client, testset, truth, *, policy: str) -> tuple[float, float, float]:
    testset.feedback_policy = policy
    testset.save()
    case_ids = sorted(truth)
    single = Attacker(client, make_team(f"Single {policy}", f"single-{policy}"), case_ids)
    batched = Attacker(client, make_team(f"Batched {policy}", f"batched-{policy}"), case_ids)
    single_accuracy = accuracy(single.single_case(), truth)
    batched_accuracy = accuracy(batched.batched(n_covid=sum(truth.values())), truth)
    assert single.submissions + batched.submissions == 50
    majority = max(sum(truth.values()), len(truth) - sum(truth.values())) / len(truth)
    return single_accuracy, batched_accuracy, majority


def test_exact_feedback_leaks_every_label(client, attack_set):
    testset, truth = attack_set
    single, batched, majority = run_attacks(client, testset, truth, policy=FeedbackPolicy.EXACT)
    print(f"exact: single-case {single:.2f}, batched {batched:.2f}, majority guess {majority:.2f}")
    assert single == 1.0 and single > majority + MARGIN


def test_the_default_policy_of_a_hidden_set_defeats_both_probes(client, attack_set):
    testset, truth = attack_set
    default = testset._meta.get_field("feedback_policy").default
    assert default == FeedbackPolicy.SPLIT_LADDER and testset._meta.get_field("feedback_guard").default is True
    single, batched, majority = run_attacks(client, testset, truth, policy=default)
    print(f"default: single-case {single:.2f}, batched {batched:.2f}, majority guess {majority:.2f}")
    assert single <= majority + MARGIN and batched <= majority + MARGIN
