"""Against the real PostgreSQL and Redis with real web and Celery worker processes: upload → score → board,
a worker SIGKILLed mid-scoring, and the quota under 20 concurrent uploads."""

from __future__ import annotations

import json
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from evaluator.examples import ExampleKind, write_example_archive
from evaluator.testset import load_testset

from .conftest import sql
from .processes import celery_worker, manage, wait_for, web_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def web(site_env, logs):
    service, base = web_server(site_env, logs / "web.log", workers=3, threads=8)
    yield base
    service.stop()


@pytest.fixture(scope="module")
def noisy_archive(site_env, tmp_path_factory) -> Path:
    return write_example_archive(tmp_path_factory.mktemp("it-archives") / "noisy.zip",
                                 testset=load_testset(site_env["IT_TESTSET_DIR"]), kind=ExampleKind.NOISY)


def team_token(env, name: str) -> str:
    return manage("create_team", name, "--user", name.lower().replace(" ", "-"), env=env).strip()


def upload(base: str, token: str, archive: Path, method: str) -> requests.Response:
    with open(archive, "rb") as handle:
        return requests.post(f"{base}/api/submissions/", headers={"Authorization": f"Token {token}"},
                             files={"file": (archive.name, handle)},
                             data={"method_name": method, "is_public": "true"}, timeout=60)


def state(postgres_url: str, evaluation_id: int) -> str:
    return sql(postgres_url, "SELECT state FROM submissions_evaluation WHERE id = %s", evaluation_id)[0][0]


def test_upload_is_scored_and_ranked(site_env, web, logs, postgres_url, noisy_archive):
    worker = celery_worker(site_env, logs / "worker-pipeline.log", name="pipeline")
    try:
        token = team_token(site_env, "Pipeline team")
        response = upload(web, token, noisy_archive, "Pipeline method")
        assert response.status_code == 201, response.text
        submission = response.json()
        headers = {"Authorization": f"Token {token}"}

        def done():
            body = requests.get(f"{web}/api/submissions/{submission['id']}/", headers=headers, timeout=10).json()
            return body if body["state"] in ("done", "failed") else None

        body = wait_for(done, timeout=90, what="the evaluation to finish", services=(worker,))
        assert body["state"] == "done", body["problems"]
        board = requests.get(f"{web}/api/leaderboard/", timeout=10).json()
        entry = next(e for e in board["entries"] if e["method_name"] == "Pipeline method")
        assert entry["metrics"] == body["metrics"] and entry["team"] == "Pipeline team"
        assert isinstance(entry["triage_gain"]["minutes"], float)  # read from the result document (PostgreSQL JSON)
        by_gain = requests.get(f"{web}/api/leaderboard/", params={"sort": "triage_gain"}, timeout=10).json()
        assert by_gain["sort"] == "triage_gain" and by_gain["entries"][0]["triage_gain"]["minutes"] is not None
        assert "Pipeline method" in requests.get(f"{web}/", timeout=10).text
        page = requests.get(entry["entry_url"], timeout=10)
        # ROC, ranked severity, waiting times; plus the rank-distribution plot once the worker has computed the
        # board's rank statistics (a separate task that may still be running)
        blob = 'aria-labelledby="rank-blob-title' in page.text
        assert page.status_code == 200 and page.text.count("<svg") == 3 + blob
        evaluation_id = body["evaluations"][0]["id"]
        transitions = [row[0] for row in sql(postgres_url, "SELECT to_state FROM submissions_evaluationevent "
                                                           "WHERE evaluation_id = %s ORDER BY at, id", evaluation_id)]
        assert transitions == ["queued", "validating", "scoring", "done"]
    finally:
        worker.stop()


def test_a_worker_killed_mid_scoring_is_replaced_and_scores_once(site_env, web, logs, postgres_url,
                                                                 noisy_archive):
    slow = {**site_env, "LEADERBOARD_BOOTSTRAP_RESAMPLES": "1000000"}  # several seconds in the scoring state
    worker = celery_worker(slow, logs / "worker-killed.log", name="doomed")
    replacement = None
    try:
        token = team_token(site_env, "Crash team")
        response = upload(web, token, noisy_archive, "Survivor")
        assert response.status_code == 201, response.text
        evaluation_id = response.json()["evaluations"][0]["id"]
        wait_for(lambda: state(postgres_url, evaluation_id) == "scoring", timeout=90,
                 what="the worker to start scoring", interval=0.05, services=(worker,))
        time.sleep(1.0)
        worker.kill(signal.SIGKILL)  # the worker and its pool process, no chance to clean up
        worker.process.wait(timeout=10)
        assert state(postgres_url, evaluation_id) == "scoring"
        stored = sql(postgres_url, "SELECT s.file FROM submissions_submission s JOIN submissions_evaluation e "
                                   "ON e.submission_id = s.id WHERE e.id = %s", evaluation_id)[0][0]
        assert (Path(site_env["LEADERBOARD_DATA_DIR"]) / "private" / stored).is_file()  # the archive is safe

        replacement = celery_worker(site_env, logs / "worker-replacement.log", name="replacement")
        wait_for(lambda: state(postgres_url, evaluation_id) in ("done", "failed"), timeout=120,
                 what="the replacement worker to finish", services=(replacement,))
        assert state(postgres_url, evaluation_id) == "done"
        events = sql(postgres_url, "SELECT to_state, message FROM submissions_evaluationevent "
                                   "WHERE evaluation_id = %s ORDER BY at, id", evaluation_id)
        assert [e[0] for e in events].count("done") == 1
        assert any("silent" in message or "stopped sending heartbeats" in message for _, message in events)
        attempts, result = sql(postgres_url, "SELECT attempts, result IS NOT NULL FROM submissions_evaluation "
                                             "WHERE id = %s", evaluation_id)[0]
        assert attempts == 2 and result
        time.sleep(3)  # a late re-delivery or watchdog pass must not score it again
        events_after = sql(postgres_url, "SELECT count(*) FROM submissions_evaluationevent WHERE evaluation_id = %s",
                           evaluation_id)[0][0]
        assert events_after == len(events)
        board = requests.get(f"{web}/api/leaderboard/", params={"entries": "all"}, timeout=10).json()
        assert "Survivor" in [e["method_name"] for e in board["entries"]]
    finally:
        worker.stop()
        if replacement is not None:
            replacement.stop()


def test_quota_holds_under_20_concurrent_uploads(site_env, web, postgres_url, noisy_archive):
    token = team_token(site_env, "Concurrent team")
    start = threading.Barrier(20)

    def one(i: int) -> int:
        start.wait()
        return upload(web, token, noisy_archive, f"Concurrent {i}").status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(one, range(20)))
    assert sorted(statuses) == [201] * 3 + [429] * 17, statuses
    stored = sql(postgres_url, "SELECT count(*) FROM submissions_submission s JOIN accounts_team t "
                               "ON s.team_id = t.id WHERE t.name = 'Concurrent team'")[0][0]
    assert stored == 3


_PACKED_CHECK = """
import json
from leaderboard import feedback
from leaderboard.submissions.models import Evaluation
evaluation = Evaluation.objects.select_related("label_version__testset").get(pk={pk})
testset = evaluation.label_version.testset
testset.feedback_policy = "split_ladder"  # in memory only: the derived documents of the default policy
policy = feedback.Policy.of(testset)
documents = feedback._derive(evaluation.result, evaluation.per_case["per_case"], [], policy)
Evaluation.objects.filter(pk=evaluation.pk).update(feedback=documents)
rows = feedback._histories(label_version_id=evaluation.label_version_id, track=evaluation.track,
                           team_ids={{evaluation.submission.team_id}}, documents=False, slim=True)
read = next(row for history in rows.values() for row in history if row["pk"] == evaluation.pk)["feedback"]

def walk(document, path):
    for key in path.split("__"):
        document = document.get(key) if isinstance(document, dict) else None
    return document

expected = feedback._slim_feedback({{f"feedback__{{path}}": walk(documents, path)
                                    for path in feedback._SLIM_FEEDBACK.values()}})
Evaluation.objects.filter(pk=evaluation.pk).update(feedback=None)
print(json.dumps({{"packed": read, "expected": expected}}, sort_keys=True))
"""


def test_boards_read_the_derived_documents_numbers_packed_on_postgresql(site_env, web, logs, postgres_url,
                                                                          noisy_archive):
    """On PostgreSQL a board reads the derived documents' numbers as one JSON object per row (one decompression);
    what it reads equals the same numbers taken from the whole stored document."""
    worker = celery_worker(site_env, logs / "worker-packed.log", name="packed")
    try:
        token = team_token(site_env, "Packed team")
        response = upload(web, token, noisy_archive, "Packed method")
        assert response.status_code == 201, response.text
        submission_id = response.json()["id"]
        wait_for(lambda: sql(postgres_url, "SELECT count(*) FROM submissions_evaluation WHERE submission_id = %s "
                                           "AND state = 'done'", submission_id)[0][0] == 1,
                 timeout=90, what="the evaluation to finish", services=(worker,))
    finally:
        worker.stop()
    evaluation_id = sql(postgres_url, "SELECT id FROM submissions_evaluation WHERE submission_id = %s",
                        submission_id)[0][0]
    out = json.loads(manage("shell", "-c", _PACKED_CHECK.format(pk=evaluation_id), env=site_env).strip()
                     .splitlines()[-1])
    assert out["packed"]["open"]["metrics"], out  # the leaderboard split's numbers were read, not nulls
    assert out["packed"]["final"]["intervals"], out
    assert out["packed"] == out["expected"]
