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


def test_the_board_answers_while_slow_clients_hang_on(tmp_path):
    """Slowloris on loopback: 10 connections that send one header line every 0.3 s and never finish their
    request; the embedded web server (runboard's own gunicorn command) still answers `GET /`. The bound is
    generous: what is asserted is that the page is answered at all while they hang on."""
    import socket
    import threading

    from leaderboard.site.management.commands.runboard import Command

    env = clean_environment({"LEADERBOARD_DATA_DIR": str(tmp_path / "var")})
    manage("migrate", "--noinput", env=env)
    port = free_port()
    web = Service("web", Command().commands(bind=f"127.0.0.1:{port}", web_workers=2, concurrency=1)["web"], env,
                  tmp_path / "web.log").start()
    base = f"http://127.0.0.1:{port}"
    stop = threading.Event()
    slow: list[socket.socket] = []

    def drip() -> None:
        while not stop.wait(0.3):
            for sock in slow:
                try:
                    sock.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    pass

    try:
        started(web, base + "/api/testsets/")
        for _ in range(10):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            slow.append(sock)
        dripper = threading.Thread(target=drip, daemon=True)
        dripper.start()
        stop.wait(1.0)  # every slow client has sent a header line and holds its connection
        answered = []
        for _ in range(3):
            try:
                answered.append(requests.get(base + "/", timeout=5).status_code)
            except requests.RequestException as error:
                answered.append(type(error).__name__)
        assert answered == [200, 200, 200], web.tail()
    finally:
        stop.set()
        for sock in slow:
            sock.close()
        web.stop()
