"""Starting and stopping the site's real processes (web server, Celery worker, moto) for integration tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_environment(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without any site setting, plus ``extra``."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("LEADERBOARD_", "DJANGO_", "CELERY_", "DATABASE_"))}
    return {**base, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "leaderboard.settings", **extra}


def manage(*args: str, env: dict[str, str], timeout: float = 180) -> str:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


@dataclass
class Service:
    """A subprocess in its own process group, with its output in a log file."""

    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen | None = field(default=None, init=False)

    def start(self) -> Service:
        self._log = open(self.log, "ab")
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (the worker and its pool processes)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)

    def stop(self, timeout: float = 20) -> None:
        if self.process is None:
            return
        self.kill(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill(signal.SIGKILL)
            self.process.wait(timeout=10)
        try:  # pool children left in the group
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._log.close()

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def wait_for_http(url: str, *, service: Service, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not service.alive():
            raise RuntimeError(f"{service.name} exited:\n{service.tail()}")
        try:
            requests.get(url, timeout=10)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"{service.name} did not answer at {url} within {timeout} s:\n{service.tail()}")


def started(service: Service, url: str) -> None:
    """Wait until ``service`` answers at ``url``; stop it (and fail) if it never does."""
    try:
        wait_for_http(url, service=service)
    except BaseException:
        service.stop()
        raise


def wait_for(condition, *, timeout: float, what: str, interval: float = 0.2, services: tuple = ()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    logs = "\n".join(f"--- {s.name} ---\n{s.tail()}" for s in services)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{logs}")


def web_server(env: dict[str, str], log: Path, *, workers: int = 2, threads: int = 8) -> tuple[Service, str]:
    port = free_port()
    service = Service("web", [sys.executable, "-m", "gunicorn", "leaderboard.wsgi", "--bind", f"127.0.0.1:{port}",
                              "--workers", str(workers), "--threads", str(threads), "--timeout", "120",
                              "--preload"],
                      env, log).start()
    base = f"http://127.0.0.1:{port}"
    started(service, base + "/api/testsets/")
    return service, base


def celery_worker(env: dict[str, str], log: Path, *, name: str, beat: bool = True) -> Service:
    command = [sys.executable, "-m", "celery", "-A", "leaderboard", "worker", "--concurrency", "1",
               "--queues", env["LEADERBOARD_SCORING_QUEUE"], "--hostname", f"{name}@%h", "--loglevel", "INFO",
               "--without-gossip", "--without-mingle"]
    if beat:
        command += ["--beat", "--schedule", str(log.with_suffix(".beat"))]
    return Service(name, command, env, log).start()
