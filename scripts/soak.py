"""Soak test of the production topology under load and faults (issue 17); `scripts/soak` runs it.

Everything runs on this machine as separate processes, each private to the run (own ports, own data folders):
a PostgreSQL cluster (initdb), a Redis server (broker + cache) or a RabbitMQ node (broker; Redis stays the
cache), moto's S3 server behind a TCP gate (both storages), gunicorn, a CPU scoring Celery worker with beat,
and a `-Q gpu` Celery worker that runs container submissions on Podman. The site is driven only over HTTP,
management commands and its settings' environment variables; the end checks read its database and buckets.

Load: 10 teams upload prediction archives and container image tarballs, each spreading its quota evenly over
the run (the highest steady rate the quota allows) and retrying when a slot is given back; 32 clients read the
board, entry pages and the API with a think time of 0.5-1.5 s. Faults are injected while the load runs (see
FAULTS). At the end every check of the issue is made and a summary table is printed; the exit status is 0 only
when every check passed. ``--json PATH`` writes the numbers.

moto keeps its objects in memory, so "stop the S3 server" stops the TCP gate in front of it (the endpoint the
site knows): connections are refused exactly as with a stopped server, and the stored objects survive.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import pwd
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
import psycopg  # noqa: E402
import requests  # noqa: E402

PG_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1] if Path("/usr/lib/postgresql").exists() else None
BUSYBOX = Path("/bin/busybox")
LABEL_EVALUATION = "leaderboard.evaluation"  # the label the site puts on every container/volume it makes
IMAGE_REPOSITORY = "localhost/leaderboard-soak"
CONTAINER_TASK = "leaderboard.containers.tasks.run_container_evaluation"
PRIVATE_BUCKET, PUBLIC_BUCKET = "soak-private", "soak-public"
#: gunicorn's access log: time of the answer (epoch seconds, from the log's own clock), request, status, and the
#: time gunicorn spent on it in ms (what the site took, without the queueing of the load generator's own CPU)
ACCESS_LOG_FORMAT = '%(t)s "%(r)s" %(s)s %(M)s'
ENDPOINT_OF = {"/": "board", "/api/leaderboard/": "api-leaderboard", "/api/testsets/": "api-testsets"}
FINAL = ("done", "failed")

#: A model that writes constant predictions for every case after a short pause (so a kill finds it running).
MODEL_SCRIPT = """set -e
sleep 2
{ echo "case_id,covid_probability,severity"
  tail -n +2 /input/cases.csv | while read id; do echo "$id,0.25,0.125"; done
} > /output/predictions.csv
echo "model done"
"""


@dataclass(frozen=True)
class Profile:
    load_seconds: float  # at least; the load goes on until the last fault has recovered
    quota: int  # counted submissions per team in the (1 h) window
    container_every: int  # every n-th upload of a team is a container image
    faults: tuple[tuple[float, str, float], ...]  # (earliest second into the load, fault, duration), in order
    drain_seconds: float
    scratch_mb: int
    min_submissions: int
    latency_target_ms: float | None
    deadline_seconds: float  # the whole run, start-up to checks; past it the run stops its topology and fails


PROFILES = {
    "full": Profile(load_seconds=600, quota=25, container_every=5, drain_seconds=420, scratch_mb=256,
                    min_submissions=200, latency_target_ms=300, deadline_seconds=1800,
                    faults=((60, "kill-scoring-worker", 3), (130, "restart-postgres", 0),
                            (200, "restart-broker", 0), (250, "restart-redis", 0), (300, "s3-outage", 30),
                            (380, "scratch-full", 30), (460, "kill-gpu-worker", 3))),
    # faults back to back once the clean run is scored (each after the previous one's recovery); the teardown
    # after the deadline takes seconds, so the whole run stays within 4 minutes
    "ci": Profile(load_seconds=90, quota=5, container_every=10, drain_seconds=120, scratch_mb=96,
                  min_submissions=40, latency_target_ms=None, deadline_seconds=215,
                  faults=((0, "kill-scoring-worker", 2), (0, "restart-postgres", 0), (0, "restart-broker", 0),
                          (0, "restart-redis", 0), (0, "s3-outage", 10), (0, "scratch-full", 10),
                          (0, "kill-gpu-worker", 2))),
}


#: Seconds of the deadline kept for the checks and the teardown (each took under 10 s on a loaded machine).
DEADLINE_RESERVE = 20


class DeadlineExceeded(BaseException):
    """Raised in the main thread when the run's deadline passes (a BaseException: no ``except Exception`` of a
    wait or a request swallows it)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Proc:
    """A subprocess in its own session (so SIGKILL reaches its children), output appended to a log file."""

    def __init__(self, name: str, command: list[str], *, env: dict, log_path: Path, user: str | None = None,
                 cwd: Path = ROOT):
        self.name, self.command, self.env, self.log_path, self.user, self.cwd = name, command, env, log_path, user, cwd
        self.process: subprocess.Popen | None = None

    def start(self) -> Proc:
        handle = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.command, cwd=self.cwd, env=self.env, stdout=handle,
                                        stderr=subprocess.STDOUT, start_new_session=True, user=self.user,
                                        group=pwd.getpwnam(self.user).pw_gid if self.user else None)
        handle.close()
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def send(self, sig: int) -> None:
        if self.process is not None:
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        if self.process is None:
            return
        self.send(sig)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.send(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.send(signal.SIGKILL)  # children left in the group

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def wait_until(condition, *, timeout: float, what: str, interval: float = 0.2, procs: tuple = ()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except Exception:  # noqa: BLE001 - a service still starting
            value = None
        if value:
            return value
        time.sleep(interval)
    tails = "\n".join(f"--- {p.name} ---\n{p.tail()}" for p in procs)
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}\n{tails}")


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


# --- the S3 gate: a TCP relay that can be closed (the "stopped S3 server") --------------------------------


def run_gate(listen: int, target: int) -> None:
    """Relay 127.0.0.1:listen → 127.0.0.1:target until killed (``soak.py gate LISTEN TARGET``)."""
    import asyncio

    async def pipe(reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def handle(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", listen)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# --- the services --------------------------------------------------------------------------------------------


class Topology:
    def __init__(self, run_dir: Path, *, broker: str, profile: Profile):
        self.dir, self.broker, self.profile = run_dir, broker, profile
        self.logs = run_dir / "logs"
        self.logs.mkdir(parents=True)
        self.procs: dict[str, Proc] = {}
        self.ports = {name: free_port() for name in ("pg", "redis", "amqp", "amqp_dist", "moto", "s3", "web")}
        self.scratch = run_dir / "cpu-scratch"  # a tmpfs of profile.scratch_mb: "the worker's scratch disk"
        self.env: dict[str, str] = {}
        self.site_url = f"http://127.0.0.1:{self.ports['web']}"
        self.pg_url = f"postgres://postgres@127.0.0.1:{self.ports['pg']}/leaderboard"
        self.rabbit_node = f"soak{secrets.token_hex(3)}@localhost"
        self.held_down: set[str] = set()  # stopped on purpose (a fault) or for good (the teardown)
        self.unexpected_exits: list[dict] = []
        self._supervisor: threading.Thread | None = None

    # restart: unless-stopped ----------------------------------------------------------------------------------
    SUPERVISED = ("web", "worker-cpu", "worker-gpu")

    def supervise(self) -> None:
        """Restart the site's processes that exit on their own, as the compose file's ``restart: unless-stopped``
        does, and record each exit with the last CRITICAL/ERROR line of its log."""
        starts = {"web": lambda: self.start_web(wait=False), "worker-cpu": self.start_cpu_worker,
                  "worker-gpu": self.start_gpu_worker}

        def loop() -> None:
            while "all" not in self.held_down:
                for name in self.SUPERVISED:
                    proc = self.procs.get(name)
                    if proc is None or proc.alive() or name in self.held_down or "all" in self.held_down:
                        continue
                    lines = [line for line in proc.tail(400).splitlines() if "CRITICAL" in line or "ERROR" in line]
                    self.unexpected_exits.append({"process": name, "at": time.time(),
                                                  "exit": proc.process.returncode if proc.process else None,
                                                  "last_error": (lines[-1] if lines else "")[:200]})
                    log(f"{name} exited on its own ({self.unexpected_exits[-1]['last_error'][:120]}); restarting")
                    starts[name]()
                time.sleep(1)

        self._supervisor = threading.Thread(target=loop, daemon=True)
        self._supervisor.start()

    # PostgreSQL -------------------------------------------------------------------------------------------
    def start_postgres(self, *, first: bool = False) -> None:
        data = self.dir / "pg"
        if first:
            data.mkdir(mode=0o700)
            shutil.chown(data, "postgres", "postgres")
            subprocess.run([str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync",
                            "-E", "UTF8"], check=True, capture_output=True, user="postgres",
                           group=pwd.getpwnam("postgres").pw_gid, cwd="/")
        self.procs["postgres"] = Proc("postgres", [str(PG_BIN / "postgres"), "-D", str(data), "-p",
                                                   str(self.ports["pg"]), "-k", str(data), "-c",
                                                   "listen_addresses=127.0.0.1", "-c", "max_connections=300"],
                                      env=dict(os.environ), log_path=self.logs / "postgres.log", user="postgres",
                                      cwd=Path("/")).start()
        wait_until(lambda: psycopg.connect(f"postgres://postgres@127.0.0.1:{self.ports['pg']}/postgres",
                                           connect_timeout=2).close() or True,
                   timeout=60, what="PostgreSQL", procs=(self.procs["postgres"],))

    def stop_postgres(self) -> None:
        self.procs["postgres"].stop(signal.SIGINT, timeout=60)  # fast shutdown

    # Redis ---------------------------------------------------------------------------------------------------
    def start_redis(self) -> None:
        folder = self.dir / "redis"
        folder.mkdir(exist_ok=True)
        self.procs["redis"] = Proc("redis", ["redis-server", "--port", str(self.ports["redis"]), "--bind", "127.0.0.1",
                                             "--dir", str(folder), "--appendonly", "yes", "--save", ""],
                                   env=dict(os.environ), log_path=self.logs / "redis.log").start()
        wait_until(lambda: port_open(self.ports["redis"]), timeout=30, what="Redis", procs=(self.procs["redis"],))

    def restart_redis(self) -> None:
        self.procs["redis"].stop(signal.SIGTERM)
        self.start_redis()

    # RabbitMQ ------------------------------------------------------------------------------------------------
    def _rabbit_env(self) -> dict[str, str]:
        folder = self.dir / "rabbitmq"
        return {**os.environ, "RABBITMQ_NODENAME": self.rabbit_node, "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
                "RABBITMQ_NODE_PORT": str(self.ports["amqp"]), "RABBITMQ_DIST_PORT": str(self.ports["amqp_dist"]),
                "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"), "RABBITMQ_LOG_BASE": str(folder / "log"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
                "RABBITMQ_PID_FILE": str(folder / "pid"), "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq")}

    def start_rabbitmq(self) -> None:
        folder = self.dir / "rabbitmq"
        if not folder.exists():
            for sub in ("mnesia", "log"):
                (folder / sub).mkdir(parents=True)
            (folder / "enabled_plugins").write_text("[].\n")
            (folder / "rabbitmq.conf").write_text("loopback_users = none\n")
            for path in (folder, *folder.rglob("*")):
                shutil.chown(path, "rabbitmq", "rabbitmq")
        self.procs["rabbitmq"] = Proc("rabbitmq", ["rabbitmq-server"], env=self._rabbit_env(),
                                      log_path=self.logs / "rabbitmq.log", cwd=Path("/")).start()
        wait_until(lambda: port_open(self.ports["amqp"]), timeout=120, what="RabbitMQ", interval=0.5,
                   procs=(self.procs["rabbitmq"],))

    def restart_rabbitmq(self) -> None:
        subprocess.run(["rabbitmqctl", "-n", self.rabbit_node, "stop"], env=self._rabbit_env(),
                       capture_output=True, timeout=120)
        self.procs["rabbitmq"].stop(signal.SIGTERM, timeout=60)
        self.start_rabbitmq()

    # S3 ---------------------------------------------------------------------------------------------------
    def start_moto(self) -> None:
        self.procs["moto"] = Proc("moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                                           str(self.ports["moto"])],
                                  env=dict(os.environ), log_path=self.logs / "moto.log").start()
        wait_until(lambda: requests.get(f"http://127.0.0.1:{self.ports['moto']}/moto-api/", timeout=2).ok,
                   timeout=60, what="moto", procs=(self.procs["moto"],))
        client = self.s3(direct=True)
        for bucket in (PRIVATE_BUCKET, PUBLIC_BUCKET):
            client.create_bucket(Bucket=bucket)

    def start_gate(self) -> None:
        self.procs["s3-gate"] = Proc("s3-gate", [sys.executable, __file__, "gate", str(self.ports["s3"]),
                                                 str(self.ports["moto"])],
                                     env=dict(os.environ), log_path=self.logs / "s3-gate.log").start()
        wait_until(lambda: port_open(self.ports["s3"]), timeout=30, what="the S3 gate",
                   procs=(self.procs["s3-gate"],))

    def s3(self, *, direct: bool):
        port = self.ports["moto"] if direct else self.ports["s3"]
        return boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                            aws_access_key_id="soak", aws_secret_access_key="soak")

    # the site ----------------------------------------------------------------------------------------------
    def site_env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items()
                if not k.startswith(("LEADERBOARD_", "DJANGO_", "CELERY_", "DATABASE_", "AWS_"))}
        redis_url = f"redis://127.0.0.1:{self.ports['redis']}"
        broker = (f"{redis_url}/0" if self.broker == "redis"
                  else f"amqp://guest:guest@127.0.0.1:{self.ports['amqp']}//")
        limits = {"memory_bytes": 96 << 20, "pids": 64, "cpus": 1.0, "wall_clock_seconds": 60,
                  "output_bytes": 4 << 20, "output_files": 50, "tmp_bytes": 8 << 20, "shm_bytes": 8 << 20,
                  "log_bytes": 16 << 10}
        return {**base, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "leaderboard.settings",
                "OMP_NUM_THREADS": "1",
                "LEADERBOARD_PRODUCTION": "1", "DJANGO_SECRET_KEY": secrets.token_urlsafe(40),
                "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost", "DJANGO_SSL_REDIRECT": "0",
                "LEADERBOARD_DATA_DIR": str(self.dir / "data"),
                "LEADERBOARD_STATIC_ROOT": str(self.dir / "static"),
                "DATABASE_URL": self.pg_url, "CELERY_BROKER_URL": broker, "LEADERBOARD_CACHE_URL": f"{redis_url}/1",
                "LEADERBOARD_STORAGE": "s3", "LEADERBOARD_S3_ENDPOINT_URL": f"http://127.0.0.1:{self.ports['s3']}",
                "LEADERBOARD_S3_REGION": "us-east-1", "LEADERBOARD_S3_ADDRESSING_STYLE": "path",
                "LEADERBOARD_S3_PRIVATE_BUCKET": PRIVATE_BUCKET, "LEADERBOARD_S3_PUBLIC_BUCKET": PUBLIC_BUCKET,
                "AWS_ACCESS_KEY_ID": "soak", "AWS_SECRET_ACCESS_KEY": "soak",
                "LEADERBOARD_DAILY_QUOTA": str(self.profile.quota), "LEADERBOARD_QUOTA_WINDOW_HOURS": "1",
                # sized down like the bootstrap: the soak tests the topology, not the statistics (the triage
                # simulation's defaults, 1,000 + 100 x 5 days, take ~10 s per scoring here, three per evaluation)
                "LEADERBOARD_BOOTSTRAP_RESAMPLES": "200", "LEADERBOARD_SCORING_PROCESSES": "1",
                "LEADERBOARD_TRIAGE_DAYS": "60", "LEADERBOARD_TRIAGE_RESAMPLES": "20",
                "LEADERBOARD_TRIAGE_DAYS_PER_RESAMPLE": "2",
                # deploy/.env.example's settings for a busy challenge
                "LEADERBOARD_BOARD_REFRESH_SECONDS": "5", "LEADERBOARD_BOARD_STALE_SECONDS": "30",
                "LEADERBOARD_HEARTBEAT_SECONDS": "2", "LEADERBOARD_STALE_AFTER_SECONDS": "15",
                "LEADERBOARD_WATCHDOG_SECONDS": "3", "LEADERBOARD_QUEUED_RESEND_AFTER_SECONDS": "30",
                "LEADERBOARD_CONTAINER_TASK": CONTAINER_TASK, "LEADERBOARD_CONTAINER_LIMITS": json.dumps(limits),
                "LEADERBOARD_CONTAINER_USE_GPU": "0",
                "DOCKER_HOST": os.environ.get("DOCKER_HOST", "unix:///run/podman/podman.sock")}

    def run_self(self, *args: str, timeout: float = 300) -> str:
        """``soak.py ARGS`` in the site's environment (a sub-command that sets Django up)."""
        result = subprocess.run([sys.executable, __file__, *args], cwd=ROOT, env=self.env, capture_output=True,
                                text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"soak.py {args[0]} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def wait_web(self) -> None:
        wait_until(lambda: requests.get(self.site_url + "/api/testsets/", timeout=5).ok, timeout=90,
                   what="gunicorn", procs=(self.procs["web"],))

    def start_web(self, *, wait: bool = True) -> None:
        # the web service's command of deploy/docker-compose.yml (gevent workers), 3 workers on this machine
        self.procs["web"] = Proc("web", [sys.executable, "-m", "gunicorn", "leaderboard.wsgi", "--bind",
                                         f"127.0.0.1:{self.ports['web']}", "--worker-class", "gevent",
                                         "--workers", "3", "--worker-connections", "1000", "--timeout", "120",
                                         "--graceful-timeout", "30", "--keep-alive", "5",
                                         "--access-logfile", str(self.logs / "access.log"),
                                         "--access-logformat", ACCESS_LOG_FORMAT],
                                 env=self.env, log_path=self.logs / "web.log").start()
        if wait:
            self.wait_web()

    def start_cpu_worker(self) -> None:
        env = {**self.env, "LEADERBOARD_SCRATCH_DIR": str(self.scratch)}
        self.procs["worker-cpu"] = Proc("worker-cpu", [
            sys.executable, "-m", "celery", "-A", "leaderboard", "worker", "-Q", "scoring", "--concurrency", "1",
            "--hostname", "cpu@soak", "--loglevel", "INFO", "--beat", "--schedule",
            str(self.dir / "celerybeat-schedule")], env=env, log_path=self.logs / "worker-cpu.log").start()

    def start_gpu_worker(self) -> None:
        env = {**self.env, "LEADERBOARD_SCRATCH_DIR": str(self.dir / "gpu-scratch")}
        self.procs["worker-gpu"] = Proc("worker-gpu", [
            sys.executable, "-m", "celery", "-A", "leaderboard", "worker", "-Q", "gpu", "--concurrency", "1",
            "--hostname", "gpu@soak", "--loglevel", "INFO"], env=env, log_path=self.logs / "worker-gpu.log").start()

    def start(self) -> None:
        log(f"run folder {self.dir}; broker {self.broker}; ports {self.ports}")
        self.start_postgres(first=True)
        with psycopg.connect(f"postgres://postgres@127.0.0.1:{self.ports['pg']}/postgres",
                             autocommit=True) as connection:
            connection.execute("CREATE DATABASE leaderboard")
        self.start_redis()
        if self.broker == "rabbitmq":
            self.start_rabbitmq()
        self.start_moto()
        self.start_gate()
        self.scratch.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.profile.scratch_mb}m,mode=0755", "soak-scratch",
                        str(self.scratch)], check=True)
        self.env = self.site_env()
        self.engine_before = set(labelled(self.env["DOCKER_HOST"]))
        from tests.evaluator.tiny_testset import write_tiny_testset

        testset = write_tiny_testset(self.dir / "tiny-testset", private_groups=("nodules",))
        self.testset_dir = testset
        # migrate, collectstatic, import_testset and create_team in one process (each Django start-up costs
        # seconds on a busy machine); the model image is built meanwhile
        teams = ([("Clean run", "clean-run")] + [(f"Team {k:02d}", f"team-{k:02d}") for k in range(10)]
                 + [(f"Probe {name}", f"probe-{name}") for _, name, _ in self.profile.faults])
        tokens = json.loads(self.run_self("setup-site", str(testset), json.dumps(teams)).splitlines()[-1])
        self.clean_token, self.teams = tokens[0][1], tokens[1:11]
        self.probe_tokens = {name[len("Probe "):]: token for name, token in tokens[11:]}
        self.start_web(wait=False)
        self.start_cpu_worker()
        self.start_gpu_worker()
        self.supervise()

    def stop(self) -> None:
        self.held_down.add("all")
        if self._supervisor is not None:
            self._supervisor.join(timeout=5)
        quick = {"worker-cpu": signal.SIGQUIT, "web": signal.SIGINT, "postgres": signal.SIGINT}  # no graceful wait
        for name in ("worker-gpu", "worker-cpu", "web"):
            if name in self.procs:
                self.procs[name].stop(quick.get(name, signal.SIGTERM), timeout=30 if name == "worker-gpu" else 10)
        self.remove_leftovers()
        for name in ("s3-gate", "moto", "redis", "postgres"):
            if name in self.procs:
                self.procs[name].stop(quick.get(name, signal.SIGTERM), timeout=30)
        if "rabbitmq" in self.procs:
            subprocess.run(["rabbitmqctl", "-n", self.rabbit_node, "stop"], env=self._rabbit_env(),
                           capture_output=True, timeout=120)
            self.procs["rabbitmq"].stop()
        subprocess.run(["umount", "-l", str(self.scratch)], capture_output=True)

    def remove_leftovers(self) -> None:
        """After a run stopped early (deadline, SIGTERM) with a container running: remove what the engine still
        holds of this run's evaluations (after a complete run the end checks have found nothing)."""
        if "postgres" not in self.procs or not self.env:
            return
        try:
            mine = {str(row[0]) for row in self.sql("SELECT id FROM submissions_evaluation")}
            left = {name for name, key in labelled(self.env["DOCKER_HOST"]).items()
                    if name not in getattr(self, "engine_before", set()) and key in mine}
        except Exception as error:  # noqa: BLE001 - the teardown goes on
            log(f"could not look for leftover containers: {error}")
            return
        for name in sorted(left):
            subprocess.run(["podman", "rm", "-f", "-v", name], capture_output=True, timeout=60)
            subprocess.run(["podman", "volume", "rm", "-f", name], capture_output=True, timeout=60)
            log(f"removed leftover {name}")

    def sql(self, query: str, *params) -> list[tuple]:
        with psycopg.connect(self.pg_url, connect_timeout=5) as connection:
            return connection.execute(query, params).fetchall()


# --- payloads ---------------------------------------------------------------------------------------------


def build_model_tarball(run_dir: Path) -> Path:
    """A busybox image with MODEL_SCRIPT as its entrypoint, built on the engine, saved and removed again."""
    import docker

    client = docker.DockerClient(base_url=os.environ.get("DOCKER_HOST", "unix:///run/podman/podman.sock"),
                                 timeout=300)

    def context(files: dict[str, tuple[bytes, int]]) -> io.BytesIO:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for name, (data, mode) in files.items():
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), mode
                tar.addfile(info, io.BytesIO(data))
        buffer.seek(0)
        return buffer

    tag = f"{IMAGE_REPOSITORY}:model-{secrets.token_hex(4)}"
    dockerfile = (b'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
                  b'COPY model.sh /model.sh\nUSER 1000:1000\nENTRYPOINT ["/bin/sh", "/model.sh"]\n')
    client.images.build(fileobj=context({"Dockerfile": (dockerfile, 0o644), "busybox": (BUSYBOX.read_bytes(), 0o755),
                                         "model.sh": (MODEL_SCRIPT.encode(), 0o755)}),
                        custom_context=True, tag=tag, rm=True)
    image = client.images.get(tag)
    path = run_dir / "model.tar"
    with open(path, "wb") as handle:
        for chunk in image.save(named=True):
            handle.write(chunk)
    client.images.remove(image.id, force=True)  # the GPU worker must load it from the upload
    client.close()
    return path


@dataclass
class Payload:
    kind: str  # archive | container
    path: Path
    sha256: str


def payloads(run_dir: Path, testset_dir: Path, tarball: Path) -> list[Payload]:
    from evaluator.examples import ExampleKind, write_example_archive
    from evaluator.testset import load_testset

    testset = load_testset(testset_dir)
    folder = run_dir / "payloads"
    folder.mkdir()
    made = [write_example_archive(folder / f"noisy-{seed}.zip", testset=testset, kind=ExampleKind.NOISY, seed=seed)
            for seed in range(3)]
    made.append(write_example_archive(folder / "perfect.zip", testset=testset, kind=ExampleKind.PERFECT))
    result = [Payload("archive", path, hashlib.sha256(path.read_bytes()).hexdigest()) for path in made]
    result.append(Payload("container", tarball, hashlib.sha256(tarball.read_bytes()).hexdigest()))
    return result


# --- load -----------------------------------------------------------------------------------------------


@dataclass
class Upload:
    team: str
    method: str
    kind: str
    sha256: str
    started: float
    ended: float
    status: int | None  # None: no answer (connection error, time-out)
    submission_id: int | None
    body: str


def upload(site: str, token: str, payload: Payload, method: str, team: str) -> Upload:
    started = time.time()
    status, sid, body = None, None, ""
    try:
        with open(payload.path, "rb") as handle:
            data = {"method_name": method, "is_public": "true"}
            if payload.kind == "container":
                data["kind"] = "container"
            response = requests.post(f"{site}/api/submissions/", headers={"Authorization": f"Token {token}"},
                                     files={"file": (payload.path.name, handle)}, data=data, timeout=120)
        status, body = response.status_code, response.text[:400]
        if status == 201:
            sid = response.json()["id"]
    except requests.RequestException as error:
        body = f"{type(error).__name__}: {error}"[:400]
    return Upload(team, method, payload.kind, payload.sha256, started, time.time(), status, sid, body)


def submitter(site: str, team: str, token: str, index: int, choices: list[Payload], profile: Profile,
              stop: threading.Event, out: list[Upload], lock: threading.Lock) -> None:
    """Spread the quota evenly over 85 % of the (shortest) load phase; after a 429 wait, then try again."""
    archives = [p for p in choices if p.kind == "archive"]
    container = next(p for p in choices if p.kind == "container")
    rng = random.Random(index)
    begin, accepted, n = time.time(), 0, 0
    pace = profile.load_seconds * 0.85 / profile.quota
    if stop.wait(rng.uniform(0, pace)):
        return
    while not stop.is_set():
        if accepted >= profile.quota or time.time() < begin + accepted * pace:
            if stop.wait(0.5) or accepted < profile.quota:
                continue
        n += 1
        payload = container if (n + index) % profile.container_every == 0 else rng.choice(archives)
        result = upload(site, token, payload, f"{team} m{n:03d}", team)
        with lock:
            out.append(result)
        if result.status == 201:
            accepted += 1
        elif result.status == 429:
            stop.wait(5)
        else:
            stop.wait(1)


def reader_process(site: str, clients: int, stop, out_path: str, seed: int) -> None:
    """``clients`` threads reading pages with a 0.5-1.5 s think time; samples (t, endpoint, status, ms) → JSON."""
    samples: list[tuple[float, str, int, float]] = []
    lock = threading.Lock()

    def client(k: int) -> None:
        rng = random.Random(seed * 1000 + k)
        session = requests.Session()
        entries: list[str] = []
        while not stop.is_set():
            endpoint = rng.choice(("board", "board", "api-leaderboard", "entry", "api-testsets"))
            url = {"board": "/", "api-leaderboard": "/api/leaderboard/", "api-testsets": "/api/testsets/"}.get(endpoint)
            if endpoint == "entry":
                if not entries:
                    endpoint, url = "api-leaderboard", "/api/leaderboard/"
                else:
                    url = rng.choice(entries)
            started = time.time()
            try:
                response = session.get(url if url.startswith("http") else site + url, timeout=30)
                status = response.status_code
                if endpoint == "api-leaderboard" and status == 200:
                    entries = [e["entry_url"] for e in response.json().get("entries", []) if e.get("entry_url")]
            except (requests.RequestException, ValueError):
                status = 0
            with lock:
                samples.append((started, endpoint, status, (time.time() - started) * 1000))
            stop.wait(rng.uniform(0.5, 1.5))

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    Path(out_path).write_text(json.dumps(samples))


# --- faults ---------------------------------------------------------------------------------------------


@dataclass
class FaultRecord:
    name: str
    started: float
    restored: float = 0.0
    recovered: float | None = None
    detail: str = ""
    hit: bool = True  # the fault found what it was meant to interrupt

    @property
    def recovery_seconds(self) -> float | None:
        return None if self.recovered is None else self.recovered - self.restored


class Faults:
    """Injects the faults. ``probe(kind, fault)`` uploads one submission of that kind for the fault (from a team of
    its own, so the load's quotas do not decide whether there is anything to interrupt or to recover with):
    before a worker is killed, so that it is busy, and after every restore, so that "an evaluation claimed after
    the restore" exists."""

    def __init__(self, topology: Topology, probe):
        self.t = topology
        self.probe = probe
        self.records: list[FaultRecord] = []

    def active(self, states: tuple[str, ...], worker: str) -> tuple[int, str] | None:
        rows = self.t.sql("SELECT id, state FROM submissions_evaluation WHERE state = ANY(%s) AND worker LIKE %s "
                          "ORDER BY id LIMIT 1", list(states), f"%{worker}%")
        return rows[0] if rows else None

    def _kill_worker(self, record: FaultRecord, *, name: str, states: tuple[str, ...], host: str, start,
                     pause: float) -> None:
        self.probe("container" if name == "worker-gpu" else "archive", record.name)
        try:
            found = wait_until(lambda: self.active(states, host), timeout=60, interval=0.1,
                               what=f"an evaluation in {states} on {host}")
            record.detail = f"evaluation {found[0]} was {found[1]}"
        except RuntimeError:
            record.hit, record.detail = False, f"no evaluation in {states} within 60 s"
        record.started = time.time()
        self.t.held_down.add(name)
        self.t.procs[name].stop(signal.SIGKILL, timeout=10)
        time.sleep(pause)
        start()
        self.t.held_down.discard(name)

    def inject(self, name: str, duration: float) -> FaultRecord:
        record = FaultRecord(name, time.time())
        t = self.t
        if name == "kill-scoring-worker":
            self._kill_worker(record, name="worker-cpu", states=("validating", "scoring"), host="cpu@soak",
                              start=t.start_cpu_worker, pause=duration)
        elif name == "kill-gpu-worker":
            self._kill_worker(record, name="worker-gpu", states=("running",), host="gpu@soak",
                              start=t.start_gpu_worker, pause=duration)
        elif name == "restart-postgres":
            t.stop_postgres()
            t.start_postgres()
        elif name == "restart-redis":
            t.restart_redis()
            record.detail = "broker and cache" if t.broker == "redis" else "cache"
        elif name == "restart-broker":
            if t.broker == "redis":
                record.detail = "the broker is Redis: see restart-redis"
                record.hit = None  # not applicable
                record.restored = record.recovered = time.time()
                return record
            t.restart_rabbitmq()
            record.detail = "RabbitMQ"
        elif name == "s3-outage":
            t.procs["s3-gate"].stop(signal.SIGKILL)
            time.sleep(duration)
            t.start_gate()
        elif name == "scratch-full":
            filler = t.scratch / "filler"
            written = 0
            with open(filler, "wb") as handle:
                block = bytes(1 << 20)
                try:
                    while True:
                        handle.write(block)
                        handle.flush()
                        written += len(block)
                except OSError:
                    pass
            free = os.statvfs(t.scratch).f_bavail * os.statvfs(t.scratch).f_frsize
            record.detail = f"{written >> 20} MiB written, {free >> 10} KiB left"
            time.sleep(duration)
            filler.unlink()
        else:
            raise ValueError(name)
        record.restored = time.time()
        self.recovery(record)
        return record

    def recovery(self, record: FaultRecord, timeout: float = 180) -> None:
        """Back when the board answers and an evaluation claimed after the restore is done (a container one
        after the GPU worker's kill, an archive one otherwise)."""
        since = record.restored
        kind = "container" if record.name == "kill-gpu-worker" else "archive"
        self.probe(kind, record.name)

        def board_ok():
            return requests.get(self.t.site_url + "/api/leaderboard/", timeout=5).status_code == 200

        try:
            wait_until(board_ok, timeout=timeout, what="the board", interval=0.1)
            board_at = time.time()
            done_at = wait_until(lambda: self.t.sql(  # claimed after the restore, then done
                "SELECT extract(epoch from min(ev.at)) FROM submissions_evaluationevent ev JOIN submissions_evaluation"
                " e ON e.id = ev.evaluation_id JOIN submissions_submission s ON s.id = e.submission_id "
                "WHERE ev.to_state = 'done' AND e.started_at > to_timestamp(%s) AND s.kind = %s",
                since, kind)[0][0], timeout=timeout, what="an evaluation done", interval=0.3)
            record.recovered = max(board_at, float(done_at))
        except RuntimeError:
            record.recovered = None


# --- the checks ---------------------------------------------------------------------------------------------


def labelled(docker_host: str) -> dict[str, str]:
    """Containers and volumes carrying the site's evaluation label: name → evaluation key."""
    import docker

    client = docker.DockerClient(base_url=docker_host, timeout=60)
    try:
        found = {c.name: c.labels.get(LABEL_EVALUATION, "")
                 for c in client.containers.list(all=True, filters={"label": LABEL_EVALUATION})}
        found |= {v.name: (v.attrs.get("Labels") or {}).get(LABEL_EVALUATION, "")
                  for v in client.volumes.list(filters={"label": LABEL_EVALUATION})}
        return found
    finally:
        client.close()


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass
class Report:
    broker: str
    profile: str
    load_seconds: float
    uploads: int = 0
    accepted: int = 0
    refused: dict = field(default_factory=dict)
    submissions: int = 0
    done: int = 0
    failed: dict = field(default_factory=dict)
    failed_causes: dict = field(default_factory=dict)  # the event message that failed them
    refused_5xx_causes: dict = field(default_factory=dict)
    duplicates: int = 0
    answered_error_but_stored: int = 0
    lost: int = 0
    rescored_compared: int = 0
    latency: dict = field(default_factory=dict)
    server_latency: dict = field(default_factory=dict)  # gunicorn's own request time (access log)
    faults: list = field(default_factory=list)
    failures: list = field(default_factory=list)
    phases: dict = field(default_factory=dict)  # seconds: start-up, load, drain, checks, teardown, total
    unexpected_exits: list = field(default_factory=list)  # site processes that exited on their own (restarted)
    board_revisions: dict = field(default_factory=dict)  # BoardChange rows recorded during the load, by cause


METRICS = ("roc_auc_all", "roc_auc_normal", "roc_auc_bacterial_pneumonia", "roc_auc_nodules", "spearman_rho",
           "mean_dice", "intervals")


def check(t: Topology, uploads: list[Upload], samples: list, faults: list[FaultRecord], report: Report,
          profile: Profile) -> None:
    fail = report.failures.append
    report.uploads = len(uploads)
    accepted = [u for u in uploads if u.status == 201]
    report.accepted = len(accepted)
    for u in uploads:
        if u.status != 201:
            key = str(u.status) if u.status is not None else "no answer"
            report.refused[key] = report.refused.get(key, 0) + 1

    subs = {row[0]: row for row in t.sql(
        "SELECT s.id, s.method_name, s.sha256, s.file, s.counts_toward_quota, s.kind FROM submissions_submission s")}
    by_method = {row[1]: row for row in subs.values()}
    evaluations = t.sql("SELECT e.id, e.submission_id, e.state, e.failure_kind, e.attempts, e.track, "
                        + ", ".join(f"e.{m}" for m in METRICS) + " FROM submissions_evaluation e")
    done_events = dict(t.sql("SELECT evaluation_id, count(*) FROM submissions_evaluationevent "
                             "WHERE to_state = 'done' GROUP BY evaluation_id"))
    report.submissions = len(subs)
    for (message,) in t.sql("SELECT ev.message FROM submissions_evaluationevent ev JOIN submissions_evaluation e "
                            "ON e.id = ev.evaluation_id WHERE e.state = 'failed' AND ev.to_state = 'failed'"):
        report.failed_causes[message[:90]] = report.failed_causes.get(message[:90], 0) + 1
    for u in uploads:
        if u.status is not None and u.status >= 500:
            cause = "JSON problems" if "problems" in u.body else "HTML error page"
            report.refused_5xx_causes[cause] = report.refused_5xx_causes.get(cause, 0) + 1
    evals_of: dict[int, list] = {}
    for row in evaluations:
        evals_of.setdefault(row[1], []).append(row)

    # every accepted upload is a row; no refused upload is one
    for u in accepted:
        if u.submission_id not in subs:
            report.lost += 1
            fail(f"accepted upload {u.method} (submission {u.submission_id}) has no row")
    outages = [(f.started, f.restored) for f in faults if f.name == "s3-outage"]
    for u in uploads:
        if u.status is not None and u.status != 201 and u.method in by_method:
            # an answer lost after the commit (the database gone mid-request): stored and scored like any other,
            # but the team was told it failed; never allowed for the storage outage's refusals
            report.answered_error_but_stored += 1
            log(f"upload {u.method}: answered {u.status} but stored as submission {by_method[u.method][0]}")
            if u.status < 500 or any(u.started < end and u.ended > begin for begin, end in outages):
                fail(f"upload {u.method} was refused with {u.status} but stored as submission "
                     f"{by_method[u.method][0]}")
        if u.status is None and u.method in by_method:  # no answer, but stored: must still end final (below)
            log(f"upload {u.method}: no answer but stored as submission {by_method[u.method][0]}")
    known = {u.method for u in uploads}
    for sid, row in subs.items():
        if row[1] not in known and not row[1].startswith("clean "):
            fail(f"submission {sid} ({row[1]}) was never uploaded by this run")

    # every submission ends done exactly once, or failed(server) with its slot given back
    for sid, row in subs.items():
        rows = evals_of.get(sid, [])
        states = [r[2] for r in rows]
        done = [r for r in rows if r[2] == "done"]
        if any(s not in FINAL for s in states) or not rows:
            report.lost += 1
            fail(f"submission {sid} ({row[1]}) not final: {states}")
            continue
        if len(done) > 1 or any(done_events.get(r[0], 0) > 1 for r in rows):
            report.duplicates += 1
            fail(f"submission {sid} done more than once: {[(r[0], done_events.get(r[0])) for r in rows]}")
        if done:
            report.done += 1
        else:
            kinds = sorted({r[3] for r in rows})
            for kind in kinds:
                report.failed[kind] = report.failed.get(kind, 0) + 1
            if kinds != ["server"]:
                fail(f"submission {sid} ({row[1]}) failed with {kinds} (expected done or server)")
            if row[4]:
                fail(f"submission {sid} failed with a server fault but still counts toward the quota")

    # S3 outage: uploads during it were answered 5xx and not counted
    for record in faults:
        if record.name != "s3-outage":
            continue
        during = [u for u in uploads if u.started < record.restored and u.ended > record.started + 1]
        record.detail = (f"{len(during)} upload(s) during the outage: "
                         f"{sorted({str(u.status) for u in during})}")
        for u in during:
            if u.status == 201:
                continue  # finished storing before the gate closed
            if u.status == 429:
                continue  # the quota answered before the file was read
            if u.status is None or u.status < 500:
                fail(f"upload {u.method} during the S3 outage got {u.status} ({u.body[:120]!r}), not a 5xx")
            elif "problems" not in u.body:
                fail(f"upload {u.method} during the S3 outage got {u.status} without an explanation: "
                     f"{u.body[:120]!r}")

    # nothing left in the engine: what carries the site's label, was not there when the run began, and belongs
    # to one of this run's evaluations (the engine is shared with other test runs: theirs come and go in seconds,
    # so a candidate must still be there 20 s later)
    mine = {str(row[0]) for row in evaluations}
    candidates = {name for name, key in labelled(t.env["DOCKER_HOST"]).items()
                  if name not in t.engine_before and key in mine}
    if candidates:
        time.sleep(20)
        left = sorted(candidates & set(labelled(t.env["DOCKER_HOST"])))
        if left:
            fail(f"left behind in the engine: {left}")

    # every stored file still readable, SHA-256 unchanged (read from moto directly)
    s3 = t.s3(direct=True)
    sent = {u.method: u.sha256 for u in uploads}
    for sid, row in subs.items():
        try:
            data = s3.get_object(Bucket=PRIVATE_BUCKET, Key=row[3])["Body"].read()
        except Exception as error:  # noqa: BLE001 - reported
            fail(f"submission {sid}: stored file {row[3]} cannot be read: {error}")
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest != row[2] or (row[1] in sent and sent[row[1]] != digest):
            fail(f"submission {sid}: stored file {row[3]} has SHA-256 {digest}, expected {row[2]}")

    # metrics of re-run evaluations equal those of the clean run (same file, same track)
    clean: dict[tuple[str, str], tuple] = {}
    for row in evaluations:
        if row[2] == "done" and subs[row[1]][1].startswith("clean "):
            clean[(subs[row[1]][2], row[5])] = row[6:]
    for row in evaluations:
        if row[2] != "done":
            continue
        key = (subs[row[1]][2], row[5])
        if key not in clean:
            fail(f"evaluation {row[0]}: no clean run of the same file to compare with")
        elif row[6:] != clean[key]:
            fail(f"evaluation {row[0]} (attempts {row[4]}): metrics differ from the clean run")
        elif row[4] > 1:
            report.rescored_compared += 1
    if report.rescored_compared == 0:
        fail("no evaluation was re-run after a fault, so none could be compared with the clean run")

    # latency per endpoint, all and outside the fault windows (from the fault to its recovery)
    windows = [(f.started, f.recovered or f.restored) for f in faults]

    def in_fault(start: float, ms: float) -> bool:
        return any(start < end and start + ms / 1000 > begin for begin, end in windows)

    for endpoint in sorted({s[1] for s in samples}):
        rows = [s for s in samples if s[1] == endpoint]
        calm = [s for s in rows if not in_fault(s[0], s[3])]
        report.latency[endpoint] = {
            "requests": len(rows), "errors": sum(1 for s in rows if s[2] != 200),
            "p50_ms": percentile([s[3] for s in rows], 0.5), "p99_ms": percentile([s[3] for s in rows], 0.99),
            "calm_requests": len(calm), "calm_errors": sum(1 for s in calm if s[2] != 200),
            "calm_p50_ms": percentile([s[3] for s in calm], 0.5),
            "calm_p99_ms": percentile([s[3] for s in calm], 0.99)}
    board = report.latency.get("board", {})
    if board.get("calm_errors"):
        fail(f"{board['calm_errors']} board request(s) failed outside the fault windows")
    if profile.latency_target_ms is not None and (board.get("calm_p99_ms") or 1e9) >= profile.latency_target_ms:
        fail(f"board p99 outside the fault windows is {board.get('calm_p99_ms'):.0f} ms "
             f"(target < {profile.latency_target_ms:.0f} ms)")

    for record in faults:
        if record.hit is False:
            fail(f"fault {record.name} did not hit: {record.detail}")
        if record.recovered is None:
            fail(f"no recovery after {record.name}")
    if report.accepted < profile.min_submissions:
        fail(f"only {report.accepted} submissions accepted (at least {profile.min_submissions} wanted)")


def server_latency(access_log: Path, faults: list[FaultRecord]) -> dict:
    """Per endpoint the time gunicorn spent on the readers' GET requests (its access log), outside the fault
    windows: tells the site's own time from the queueing in front of it (a busy machine, the load generator)."""
    from datetime import datetime

    windows = [(f.started, f.recovered or f.restored) for f in faults]
    times: dict[str, list[float]] = {}
    for line in access_log.read_text(errors="replace").splitlines():
        try:
            stamp, rest = line[1:].split("] ", 1)
            request, status, ms = rest.rsplit(" ", 2)
            method, path = request.strip('"').split(" ")[:2]
            at = datetime.strptime(stamp, "%d/%b/%Y:%H:%M:%S %z").timestamp()
        except ValueError:
            continue
        endpoint = ENDPOINT_OF.get(path, "entry" if path.startswith("/entries/") else None)
        if method != "GET" or endpoint is None or status != "200":
            continue
        if any(begin - 1 <= at <= end + 1 for begin, end in windows):  # the log's clock has whole seconds
            continue
        times.setdefault(endpoint, []).append(float(ms))
    return {endpoint: {"requests": len(values), "p50_ms": percentile(values, 0.5),
                       "p99_ms": percentile(values, 0.99)} for endpoint, values in sorted(times.items())}


def table(report: Report) -> str:
    fmt = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731
    lines = [f"soak: broker {report.broker}, profile {report.profile}, load {report.load_seconds:.0f} s",
             "",
             "| uploads | accepted | refused (status: n) | submissions | done | failed by reason | duplicates | lost |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |",
             f"| {report.uploads} | {report.accepted} | "
             f"{', '.join(f'{k}: {v}' for k, v in sorted(report.refused.items())) or '-'} | {report.submissions} | "
             f"{report.done} | {', '.join(f'{k}: {v}' for k, v in sorted(report.failed.items())) or '-'} | "
             f"{report.duplicates} | {report.lost} |",
             "",
             "| endpoint | requests | errors | p50 ms | p99 ms | outside faults: requests | errors | p50 ms | p99 ms |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for endpoint, v in report.latency.items():
        lines.append(f"| {endpoint} | {v['requests']} | {v['errors']} | {fmt(v['p50_ms'])} | {fmt(v['p99_ms'])} | "
                     f"{v['calm_requests']} | {v['calm_errors']} | {fmt(v['calm_p50_ms'])} | "
                     f"{fmt(v['calm_p99_ms'])} |")
    if report.server_latency:
        lines += ["", "| endpoint (gunicorn's own time, outside faults) | requests | p50 ms | p99 ms |",
                  "| --- | --- | --- | --- |"]
        for endpoint, v in report.server_latency.items():
            lines.append(f"| {endpoint} | {v['requests']} | {fmt(v['p50_ms'])} | {fmt(v['p99_ms'])} |")
    lines += ["", "| fault | at s | lasted s | recovery s | what it hit |", "| --- | --- | --- | --- | --- |"]
    for f in report.faults:
        lines.append(f"| {f['name']} | {f['at']:.0f} | {f['lasted']:.1f} | "
                     f"{'-' if f['recovery'] is None else format(f['recovery'], '.1f')} | {f['detail']} |")
    lines += ["", f"failed evaluations, why: {report.failed_causes or '-'}",
              f"uploads answered with an error but stored (scored like the others): "
              f"{report.answered_error_but_stored}",
              f"5xx answers to uploads: {report.refused_5xx_causes or '-'}",
              f"re-run evaluations compared with the clean run: {report.rescored_compared}",
              f"board revisions during the load: {sum(report.board_revisions.values())} "
              f"({report.board_revisions or '-'})",
              "site processes that exited on their own (restarted as by `restart: unless-stopped`): "
              + (", ".join(f"{e['process']} at {e['at']:.0f} s ({e['last_error'][:100]})"
                           for e in report.unexpected_exits) or "none"),
              "seconds: " + (", ".join(f"{k} {v:.0f}" for k, v in report.phases.items()) or "-"),
              "result: " + ("PASS" if not report.failures else f"FAIL ({len(report.failures)} problem(s))")]
    lines += [f"  - {problem}" for problem in report.failures[:40]]
    return "\n".join(lines)


# --- main ---------------------------------------------------------------------------------------------------


def clean_run(t: Topology, choices: list[Payload], token: str) -> int:
    """Each payload once, before any fault: the metrics every later evaluation must reproduce. Returns how many
    were sent (:func:`wait_clean_run` waits for them)."""
    sent = [upload(t.site_url, token, p, f"clean {p.kind} {i}", "clean") for i, p in enumerate(choices)]
    for u in sent:
        if u.status != 201:
            raise RuntimeError(f"clean run upload refused: {u.status} {u.body}")
    return len(sent)


def wait_clean_run(t: Topology, count: int) -> None:
    def finished():
        states = [r[0] for r in t.sql("SELECT e.state FROM submissions_evaluation e JOIN submissions_submission s "
                                      "ON s.id = e.submission_id WHERE s.method_name LIKE %s", "clean %")]
        return len(states) == count and all(s in FINAL for s in states) and states
    states = wait_until(finished, timeout=240, what="the clean run",
                        procs=(t.procs["worker-cpu"], t.procs["worker-gpu"]))
    if set(states) != {"done"}:
        raise RuntimeError(f"clean run did not score: {states}\n{t.procs['worker-gpu'].tail()}")


def setup_site(testset_dir: str, teams_json: str) -> None:
    """``soak.py setup-site TESTSET TEAMS`` (in the site's environment): ``migrate``, ``collectstatic``,
    ``import_testset`` and ``create_team`` for each ``[name, username]`` of TEAMS, in one process; prints
    ``[[name, API token], ...]`` as JSON on its last line."""
    import django

    django.setup()
    from django.core.management import call_command

    from leaderboard.accounts.services import ensure_team

    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    call_command("import_testset", testset_dir, "--noinput")
    print(json.dumps([[name, ensure_team(name=name, username=user).token] for name, user in json.loads(teams_json)]))


class Background(threading.Thread):
    """``function()`` in a thread; :meth:`result` joins it and returns its value or raises its exception."""

    def __init__(self, function) -> None:
        super().__init__(daemon=True)
        self.function, self.value, self.error = function, None, None
        self.start()

    def run(self) -> None:
        try:
            self.value = self.function()
        except BaseException as error:  # noqa: BLE001 - raised again in result()
            self.error = error

    def result(self):
        self.join()
        if self.error is not None:
            raise self.error
        return self.value


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through main's finally, which stops the whole topology


def _deadline(signum: int, frame: object) -> None:
    raise DeadlineExceeded("the run's deadline passed")


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if argv[:1] == ["gate"]:
        run_gate(int(argv[1]), int(argv[2]))
        return 0
    if argv[:1] == ["setup-site"]:
        setup_site(argv[1], argv[2])
        return 0
    started = time.time()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full")
    parser.add_argument("--broker", choices=("redis", "rabbitmq"), default="redis")
    parser.add_argument("--json", type=Path, help="write the report as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the run folder (logs, data) afterwards")
    parser.add_argument("--deadline", type=float, help="seconds for the whole run before the topology is stopped "
                        "and the run fails (default: the profile's, 215 s for ci)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("runs as root: it mounts the worker's scratch tmpfs and runs PostgreSQL/RabbitMQ as their users")
    profile = PROFILES[args.profile]
    deadline = args.deadline or profile.deadline_seconds
    signal.signal(signal.SIGALRM, _deadline)
    signal.alarm(max(1, int(deadline)))
    run_dir = Path(f"/tmp/leaderboard-soak-{secrets.token_hex(4)}")
    run_dir.mkdir(mode=0o755)
    t = Topology(run_dir, broker=args.broker, profile=profile)
    report = Report(broker=args.broker, profile=args.profile, load_seconds=profile.load_seconds)
    phases: dict[str, float] = {}
    load_began = started
    import multiprocessing

    stop, stop_readers = threading.Event(), multiprocessing.get_context("spawn").Event()
    readers: list = []
    try:
        tarball = Background(lambda: build_model_tarball(run_dir))  # meanwhile the topology starts
        t.start()
        choices = payloads(run_dir, t.testset_dir, tarball.result())
        t.wait_web()
        phases["start-up"] = time.time() - started
        log(f"clean run, then load for at least {profile.load_seconds:.0f} s: 10 teams, 32 readers")
        clean_count = clean_run(t, choices, t.clean_token)
        begin = load_began = time.time()
        uploads: list[Upload] = []
        lock = threading.Lock()
        context = multiprocessing.get_context("spawn")
        readers = [context.Process(target=reader_process, args=(t.site_url, 16, stop_readers,
                                                                  str(run_dir / f"r{k}.json"), k))
                   for k in range(2)]
        for process in readers:
            process.start()
        threads = [threading.Thread(target=submitter, args=(t.site_url, name, token, k, choices, profile, stop,
                                                            uploads, lock), daemon=True)
                   for k, (name, token) in enumerate(t.teams)]
        for thread in threads:
            thread.start()
        wait_clean_run(t, clean_count)  # scored under load, before any fault
        log(f"clean run scored ({time.time() - begin:.0f} s into the load)")
        archive = next(p for p in choices if p.kind == "archive")
        container = next(p for p in choices if p.kind == "container")
        probes: dict[str, int] = {}

        def probe(kind: str, fault: str) -> None:
            """One upload for ``fault`` (tried again each second until taken, for at most a minute)."""
            give_up = time.time() + 60
            while time.time() < give_up:
                probes[fault] = probes.get(fault, 0) + 1
                result = upload(t.site_url, t.probe_tokens[fault], container if kind == "container" else archive,
                                f"probe {fault} {probes[fault]}", f"Probe {fault}")
                with lock:
                    uploads.append(result)
                if result.status == 201:
                    return
                time.sleep(1)

        faults = Faults(t, probe)
        for at, name, duration in profile.faults:
            time.sleep(max(0.0, begin + at - time.time()))
            log(f"fault: {name}")
            record = faults.inject(name, duration)
            faults.records.append(record)
            log(f"  {name}: restored after {record.restored - record.started:.1f} s, recovery "
                f"{record.recovery_seconds if record.recovery_seconds is None else round(record.recovery_seconds, 1)}"
                f" s; {record.detail}")
        time.sleep(max(0.0, begin + profile.load_seconds - time.time()))
        stop.set()
        stop_readers.set()
        report.load_seconds = time.time() - begin
        for thread in threads:
            thread.join()
        for process in readers:
            process.join()
        samples = [tuple(s) for k in range(2) for s in json.loads((run_dir / f"r{k}.json").read_text())]
        phases["load"] = time.time() - begin
        # the drain may use what the deadline leaves after the checks and the teardown (a slow machine spends
        # more of it on the start-up and the faults), up to the profile's bound
        drain_limit = max(1.0, min(profile.drain_seconds, started + deadline - DEADLINE_RESERVE - time.time()))
        log(f"load over after {report.load_seconds:.0f} s ({len(uploads)} uploads); draining up to "
            f"{drain_limit:.0f} s")
        drain_begin = time.time()
        try:
            wait_until(lambda: not t.sql("SELECT 1 FROM submissions_evaluation WHERE state <> ALL(%s) LIMIT 1",
                                         list(FINAL)), timeout=drain_limit, interval=1, what="the drain")
        except RuntimeError as error:
            report.failures.append(str(error).splitlines()[0])
        phases["drain"] = time.time() - drain_begin
        faults.records = [f for f in faults.records if f.hit is not None]
        check_begin = time.time()
        check(t, uploads, samples, faults.records, report, profile)
        report.board_revisions = dict(t.sql(  # every one of them invalidates every cached board and entry page
            "SELECT what, count(*) FROM board_boardchange WHERE at BETWEEN to_timestamp(%s) AND to_timestamp(%s) "
            "GROUP BY what ORDER BY 2 DESC", begin, begin + report.load_seconds))
        report.server_latency = server_latency(t.logs / "access.log", faults.records)
        phases["checks"] = time.time() - check_begin
        report.faults = [{"name": f.name, "at": f.started - begin, "lasted": f.restored - f.started,
                          "recovery": f.recovery_seconds, "detail": f.detail} for f in faults.records]
    except (Exception, DeadlineExceeded) as error:  # noqa: BLE001 - reported as a failure with the logs' tails
        report.failures.append(f"the soak stopped: {type(error).__name__}: {error}")
        for proc in t.procs.values():
            print(f"--- {proc.name} ---\n{proc.tail(15)}", file=sys.stderr)
    finally:
        signal.alarm(0)
        stop.set()
        stop_readers.set()
        for process in readers:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
        teardown_begin = time.time()
        t.stop()
        phases["teardown"] = time.time() - teardown_begin
        if not args.keep and not report.failures:
            shutil.rmtree(run_dir, ignore_errors=True)
        else:
            log(f"logs kept in {t.logs}")
    phases["total"] = time.time() - started
    report.phases = phases
    report.unexpected_exits = [{**e, "at": e["at"] - load_began} for e in t.unexpected_exits]
    print(table(report), flush=True)
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=1, default=str))
    return 0 if not report.failures else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
