"""``manage.py runboard``: the whole site in one command: web server + scoring worker (+ beat for the watchdog).

The web server is gunicorn with gevent workers: each connection is a greenlet, so clients that send their
request slowly (or never finish it) hold a greenlet each, not one of a few threads, and the site keeps
answering everyone else (up to ``--web-connections`` per worker). ``--timeout`` restarts a worker whose
event loop is blocked that long; ``--keep-alive`` closes idle connections.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = ("Run the web server (gunicorn) and a Celery worker of the scoring queue with the watchdog's beat "
            "schedule, together; stops both when either stops or on Ctrl-C. Meant for the embedded set-up "
            "(SQLite, filesystem broker); production runs them as separate services (docs/site.md).")

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=os.environ.get("LEADERBOARD_BIND", "127.0.0.1:8000"))
        parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes")
        parser.add_argument("--web-connections", type=int, default=1000,
                            help="simultaneous connections per worker (gevent greenlets)")
        parser.add_argument("--concurrency", type=int, default=1, help="evaluations scored at the same time")
        parser.add_argument("--no-migrate", action="store_true", help="skip `migrate` at start")

    def commands(self, *, bind: str, web_workers: int, concurrency: int,
                 web_connections: int = 1000) -> dict[str, list[str]]:
        return {
            "worker": [sys.executable, "-m", "celery", "-A", "leaderboard", "worker", "--beat",
                       "--queues", settings.SCORING_QUEUE, "--concurrency", str(concurrency),
                       "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME, "--loglevel", "INFO",
                       "--hostname", f"embedded-{os.getpid()}@%h",
                       "--without-gossip", "--without-mingle", "--without-heartbeat"],
            "web": [sys.executable, "-m", "gunicorn", "leaderboard.wsgi", "--bind", bind,
                    "--worker-class", "gevent", "--workers", str(web_workers),
                    "--worker-connections", str(web_connections),
                    "--timeout", "120", "--graceful-timeout", "30", "--keep-alive", "5",
                    "--access-logfile", "-"],
        }

    def handle(self, *args, bind, web_workers, web_connections, concurrency, no_migrate, **options):
        if not no_migrate:
            call_command("migrate", interactive=False, verbosity=1)
        processes = {name: subprocess.Popen(command) for name, command in
                     self.commands(bind=bind, web_workers=web_workers, concurrency=concurrency,
                                   web_connections=web_connections).items()}
        self.stdout.write(f"leaderboard running on http://{bind}/ (Ctrl-C stops web server and worker)")
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        try:
            while not stopping:
                for name, process in processes.items():
                    if process.poll() is not None:
                        self.stderr.write(f"{name} stopped with exit status {process.returncode}; stopping")
                        exit_code = process.returncode or 1
                        stopping = True
                time.sleep(0.5)
        finally:
            for process in processes.values():
                if process.poll() is None:
                    process.terminate()
            deadline = time.monotonic() + 20
            for process in processes.values():
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
        if exit_code:
            sys.exit(exit_code)
