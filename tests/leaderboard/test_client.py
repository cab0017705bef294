"""The participant's client `covid-triage` against the live test server (pytest-django's live_server).

The scoring task is run by the test (the broker of the test settings is in memory), between the client's calls, or
in a thread while `submit` waits.
"""

from __future__ import annotations

import json
import time

import pytest

from covid_triage import cli
from covid_triage.client import CONFIG_VARIABLE, TOKEN_VARIABLE, URL_VARIABLE, Client, ClientError, load_settings
from leaderboard.submissions.models import Evaluation

from .helpers import score
from .test_public_images_validation import broken_archives, public_images  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def site(live_server, team_a, label_version, monkeypatch, tmp_path):
    monkeypatch.setenv(URL_VARIABLE, live_server.url)
    monkeypatch.setenv(TOKEN_VARIABLE, team_a.token)
    monkeypatch.setenv(CONFIG_VARIABLE, str(tmp_path / "absent.json"))
    return live_server


def test_submit_validates_uploads_waits_and_prints_the_metrics(site, archives, public_images, capsys, monkeypatch):
    polled, original_wait = [], Client.wait

    def wait_while_a_worker_scores(client, pk, *, on_state=None, **kwargs):
        """The pauses between polls score the queued submission, as a worker would meanwhile: in the test's own
        thread while the client waits, so the live server's thread and the scoring never use the (SQLite,
        shared-cache) database at the same time."""
        def sleep(seconds: float) -> None:
            queued = Evaluation.objects.filter(state="queued").select_related("submission").first()
            if queued is not None:
                score(queued.submission)
            time.sleep(seconds)

        def seen(state: dict) -> None:
            polled.append(state["state"])
            if on_state is not None:
                on_state(state)

        return original_wait(client, pk, **{**kwargs, "on_state": seen, "sleep": sleep, "timeout": 300})

    monkeypatch.setattr(Client, "wait", wait_while_a_worker_scores)
    code = cli.main(["submit", str(archives["noisy"]), "--method", "Noisy", "--images", str(public_images),
                     "--interval", "0.1"])
    out = capsys.readouterr()
    assert code == 0, out
    assert "is valid locally" in out.err and "upload" in out.err
    assert "): done" in out.out and "ROC-AUC" in out.out
    assert polled[0] == "queued" and polled[-1] == "done"  # it waited for the scoring
    submission = Evaluation.objects.get().submission
    assert submission.method_name == "Noisy" and not submission.is_public  # the API's default: private
    for line in out.out.splitlines()[2:]:
        assert line.split()[-1] == "N/A" or 0.0 <= float(line.split()[-1]) <= 1.0


def test_an_invalid_archive_is_not_uploaded(site, tiny_testset, public_images, tmp_path, capsys):
    archive = broken_archives(tmp_path, tiny_testset)["masks"]
    assert cli.main(["submit", str(archive), "--method", "Broken", "--images", str(public_images)]) == 1
    assert "nothing was uploaded" in capsys.readouterr().err
    assert not Evaluation.objects.exists()


def test_no_wait_then_wait_status_results_history_quota(site, tiny_testset, tmp_path, capsys):
    archive = broken_archives(tmp_path, tiny_testset)["ids"]
    assert cli.main(["submit", str(archive), "--method", "Ids", "--skip-validation", "--no-wait"]) == 0
    pk = Evaluation.objects.get().submission_id
    assert f"submission {pk} created (queued)" in capsys.readouterr().out
    assert cli.main(["status", str(pk)]) == 0
    assert "queued" in capsys.readouterr().out
    score(Evaluation.objects.get().submission)
    assert cli.main(["wait", str(pk), "--interval", "0.1"]) == 1
    err = capsys.readouterr().err
    assert "6 problem(s)" in err and "unknown case 'nope_1'" in err
    assert cli.main(["results", str(pk), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["state"] == "failed"
    assert cli.main(["history"]) == 0
    assert f"{pk:>6}" in capsys.readouterr().out
    assert cli.main(["quota"]) == 0  # a failed first evaluation does not count
    assert "0 of 3 submissions used in the last 24 hours; 3 remaining" in capsys.readouterr().out


def test_team_endpoint_counts_and_tells_the_next_slot(client, team_a, archives, label_version, settings):
    from .helpers import submit_and_score

    settings.LEADERBOARD_DAILY_QUOTA = 1
    submit_and_score(team_a, archives["noisy"])
    answer = client.get("/api/team/", **team_a.auth()).json()
    assert answer["team"] == "Team A" and (answer["limit"], answer["used"], answer["remaining"]) == (1, 1, 0)
    assert answer["window_hours"] == 24 and answer["next_slot_at"]
    assert client.get("/api/team/").status_code in (401, 403)


def test_settings_come_from_the_environment_then_the_config_file(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"url": "https://board.example.org/", "token": "from-file"}))
    assert load_settings(environ={CONFIG_VARIABLE: str(config)}).token == "from-file"
    chosen = load_settings(environ={CONFIG_VARIABLE: str(config), TOKEN_VARIABLE: "from-env"})
    assert (chosen.url, chosen.token) == ("https://board.example.org", "from-env")
    with pytest.raises(ClientError, match="missing the site's URL and the team token"):
        load_settings(environ={CONFIG_VARIABLE: str(tmp_path / "none.json")})


def test_a_wrong_token_is_a_clear_error(site, monkeypatch, capsys):
    monkeypatch.setenv(TOKEN_VARIABLE, "lb-wrong")
    assert cli.main(["quota"]) == 3
    err = capsys.readouterr().err
    assert "HTTP 401" in err or "HTTP 403" in err
