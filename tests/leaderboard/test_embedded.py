"""The embedded set-up needs no server: SQLite, local files, kombu's filesystem broker, and one command
(`manage.py runboard`) that runs the web server and the worker together."""

from __future__ import annotations

import signal
import sys

import pytest
import requests

from .integration.processes import Service, clean_environment, free_port, manage, started, wait_for

pytestmark = pytest.mark.slow


def test_runboard_serves_and_scores(tmp_path, tiny_dir, archives):
    env = clean_environment({"LEADERBOARD_DATA_DIR": str(tmp_path / "var"), "LEADERBOARD_BOOTSTRAP_RESAMPLES": "200"})
    manage("migrate", "--noinput", env=env)
    manage("import_testset", str(tiny_dir), "--noinput", env=env)
    token = manage("create_team", "Embedded team", "--user", "embedded", env=env).strip()
    port = free_port()
    board = Service("runboard", [sys.executable, "manage.py", "runboard", "--bind", f"127.0.0.1:{port}",
                                 "--no-migrate"], env, tmp_path / "runboard.log").start()
    base = f"http://127.0.0.1:{port}"
    try:
        started(board, base + "/api/testsets/")
        with open(archives["noisy"], "rb") as handle:
            response = requests.post(f"{base}/api/submissions/", headers={"Authorization": f"Token {token}"},
                                     files={"file": ("noisy.zip", handle)}, data={"method_name": "Embedded"},
                                     timeout=30)
        assert response.status_code == 201, response.text
        url = f"{base}/api/submissions/{response.json()['id']}/"

        def finished():
            body = requests.get(url, headers={"Authorization": f"Token {token}"}, timeout=10).json()
            return body if body["state"] in ("done", "failed") else None

        body = wait_for(finished, timeout=90, what="the embedded worker", services=(board,))
        assert body["state"] == "done", body["problems"]
        assert (tmp_path / "var" / "leaderboard.sqlite3").is_file() and (tmp_path / "var" / "broker").is_dir()
    finally:
        board.process.send_signal(signal.SIGTERM)  # what Ctrl-C does: both processes stop
        assert board.process.wait(timeout=40) == 0, board.tail()
        board.stop()
