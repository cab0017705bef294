"""The deploy recipe: deploy/docker-compose.yml and deploy/.env.example checked without a container engine,
and the production settings booted against this machine's real PostgreSQL and Redis."""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import redis
import yaml

from tests.leaderboard.integration.conftest import REDIS_URL, _require_redis, postgres_url  # noqa: F401 (fixture)
from tests.leaderboard.integration.processes import Service, clean_environment, free_port, manage, wait_for

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
SITE_SERVICES = ("web", "worker-cpu", "worker-gpu", "beat")

_ASSIGNMENT = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")
_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?-[^}]*)?\}")
_ENV_READ = re.compile(r"""\benv\.\w+\(\s*["']([A-Z][A-Z0-9_]*)["']""")
_OS_ENVIRON = re.compile(r"""os\.environ\.get\(\s*["']([A-Z][A-Z0-9_]*)["']|getenv\(\s*["']([A-Z][A-Z0-9_]*)["']""")


def example() -> tuple[dict[str, str], set[str]]:
    """(active NAME=value lines, names only shown commented out) of deploy/.env.example."""
    active, commented = {}, set()
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        match = _ASSIGNMENT.match(line.strip())
        if match:
            if match.group(1):
                commented.add(match.group(2))
            else:
                active[match.group(2)] = match.group(3)
    return active, commented


def settings_read_by_code() -> set[str]:
    """Every variable the settings read through leaderboard.env, plus direct os.environ reads in the server's code
    (leaderboard/ and the container run it shares with the participant package, covid_triage/containers/)."""
    names = set()
    for path in (ROOT / "leaderboard" / "settings.py", ROOT / "leaderboard" / "env.py"):
        names |= set(_ENV_READ.findall(path.read_text()))
    for path in [*(ROOT / "leaderboard").rglob("*.py"), *(ROOT / "covid_triage" / "containers").rglob("*.py")]:
        names |= {a or b for a, b in _OS_ENVIRON.findall(path.read_text())}
    return names


def interpolations(node) -> list[tuple[str, bool]]:
    """(name, has a default) of every ${…} in the compose file."""
    text = yaml.safe_dump(node)
    return [(name, bool(default)) for name, default in _INTERPOLATION.findall(text)]


def environment_names(service: dict) -> set[str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return {item.split("=", 1)[0] for item in environment}
    return set(environment)


def test_the_scan_finds_the_settings():  # guards the regex: it must see what settings.py reads
    names = settings_read_by_code()
    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "LEADERBOARD_PRODUCTION", "LEADERBOARD_CONTAINER_HARD_TIME_LIMIT",
            "LEADERBOARD_S3_PUBLIC_DOMAIN", "DOCKER_HOST"} <= names
    assert len(names) >= 50


def test_every_setting_the_code_reads_is_in_the_env_example():
    active, commented = example()
    missing = sorted(settings_read_by_code() - set(active) - commented)
    assert not missing, f"add these to deploy/.env.example with a comment: {missing}"


def test_every_env_example_entry_has_a_comment():
    lines = (DEPLOY / ".env.example").read_text().splitlines()
    for index, line in enumerate(lines):
        match = _ASSIGNMENT.match(line.strip())
        if match and not match.group(1):  # an active line: a comment line somewhere above, before a blank line
            above = lines[max(0, index - 8):index]
            assert any(text.startswith("# ") and not _ASSIGNMENT.match(text) for text in above), line


def test_every_variable_named_in_compose_is_in_the_env_example():
    active, commented = example()
    for name, has_default in interpolations(COMPOSE):
        assert name in active or name in commented, f"${{{name}}} is not in deploy/.env.example"
        if not has_default:
            assert name in active, f"${{{name}}} has no default: deploy/.env.example must set it"
    for service_name, service in SERVICES.items():
        for name in environment_names(service):
            assert name in active or name in commented, f"{service_name}: {name} not in deploy/.env.example"


def test_services_and_health_checks():
    assert {"web", "worker-cpu", "worker-gpu", "beat", "postgres", "redis", "minio", "buckets", "migrate"} <= set(
        SERVICES)
    for name in ("web", "postgres", "redis", "minio", "worker-cpu", "worker-gpu"):
        assert SERVICES[name]["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
    assert "pg_isready" in " ".join(SERVICES["postgres"]["healthcheck"]["test"])
    assert SERVICES["redis"]["healthcheck"]["test"][1:] == ["redis-cli", "ping"]
    for name in ("postgres", "redis", "minio"):  # state outlives the containers
        assert any(str(v).split(":")[0] in COMPOSE["volumes"] for v in SERVICES[name]["volumes"]), name
    for name in SITE_SERVICES:
        depends = SERVICES[name]["depends_on"]
        assert depends["postgres"]["condition"] == depends["redis"]["condition"] == "service_healthy", name
        assert depends["buckets"]["condition"] == "service_completed_successfully", name
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
    assert SERVICES["buckets"]["depends_on"]["minio"]["condition"] == "service_healthy"
    script = SERVICES["buckets"]["command"][0]
    assert "mc mb --ignore-existing" in script
    assert "$$LEADERBOARD_S3_PRIVATE_BUCKET" in script and "$$LEADERBOARD_S3_PUBLIC_BUCKET" in script
    assert 'anonymous set none "store/$$LEADERBOARD_S3_PRIVATE_BUCKET"' in script


def test_web_runs_gunicorn_and_checks_an_existing_url():
    web = SERVICES["web"]
    assert web["command"][:2] == ["gunicorn", "leaderboard.wsgi"]
    check = " ".join(web["healthcheck"]["test"])
    url = re.search(r"http://127\.0\.0\.1:8000(/[^'\"]*)", check).group(1)
    import django
    from django.conf import settings
    from django.urls import resolve  # the URL the health check asks for is one the site serves
    if not settings.configured:
        django.setup()
    assert resolve(url, urlconf="leaderboard.urls").url_name == "board"
    assert "X-Forwarded-Proto" in check and "DJANGO_ALLOWED_HOSTS" in check


def test_each_worker_serves_its_own_queue_and_only_the_gpu_worker_gets_gpus():
    def queues(service):
        command = service["command"]
        return command[command.index("-Q") + 1].split(",")

    assert SERVICES["worker-cpu"]["command"][:4] == ["celery", "-A", "leaderboard", "worker"]
    assert queues(SERVICES["worker-cpu"]) == ["scoring"]
    assert queues(SERVICES["worker-gpu"]) == ["gpu"]
    assert SERVICES["beat"]["command"][:4] == ["celery", "-A", "leaderboard", "beat"]
    devices = SERVICES["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    for name, service in SERVICES.items():
        if name != "worker-gpu":
            assert "devices" not in str(service.get("deploy", {})), name
            assert "docker.sock" not in str(service.get("volumes", [])), name
    assert "/var/run/docker.sock:/var/run/docker.sock" in SERVICES["worker-gpu"]["volumes"]
    assert SERVICES["worker-gpu"]["environment"]["DOCKER_HOST"] == "unix:///var/run/docker.sock"


def test_the_site_services_run_production_settings():
    for name in SITE_SERVICES:
        environment = SERVICES[name]["environment"]
        assert environment["LEADERBOARD_PRODUCTION"] == "1", name
        assert environment["DATABASE_URL"].startswith("postgres://"), name
        assert environment["CELERY_BROKER_URL"].startswith("redis://"), name
        assert environment["LEADERBOARD_STORAGE"] == "s3", name
        assert SERVICES[name]["env_file"] == ".env", name
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "ARG BASE_IMAGE=python:3.11-slim\nFROM ${BASE_IMAGE}" in dockerfile
    assert "-c constraints.txt -r requirements.txt" in dockerfile and "collectstatic" in dockerfile
    assert SERVICES["web"]["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile",
                                        "args": {"BASE_IMAGE": "${LEADERBOARD_BASE_IMAGE:-python:3.11-slim}"}}


def test_compose_file_references_resolve():
    assert set(COMPOSE) <= {"services", "volumes", "networks", "configs", "secrets"} | {
        k for k in COMPOSE if k.startswith("x-")}
    for name, service in SERVICES.items():
        assert "image" in service, name
        for dependency in service.get("depends_on", {}):
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            assert source.startswith(("/", "$", ".")) or source in COMPOSE["volumes"], f"{name}: {source}"
        assert service.get("restart", "no") in ("no", "always", "on-failure", "unless-stopped"), name


def compose_command() -> list[str]:
    """``docker compose`` (the v2 plugin) where installed, else Debian's ``docker-compose`` (v1.29, installed by
    scripts/setup-podman). Both validate against the compose specification and interpolate ``.env`` without
    an engine. Neither present is a failure, not a skip."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    assert legacy, "neither `docker compose` nor `docker-compose` is installed (run scripts/setup-podman as root)"
    return [legacy]


def compose_config(folder: Path, compose_text: str) -> subprocess.CompletedProcess:
    """``config`` of ``compose_text`` in ``folder`` beside a copy of .env.example as ``.env``, all profiles on."""
    (folder / ".env").write_text((DEPLOY / ".env.example").read_text())
    (folder / "docker-compose.yml").write_text(compose_text)
    return subprocess.run([*compose_command(), "--profile", "gpu", "config"], cwd=folder, capture_output=True,
                          text=True, timeout=120)


def test_docker_compose_config_accepts_the_recipe_with_the_env_example(tmp_path):
    result = compose_config(tmp_path, (DEPLOY / "docker-compose.yml").read_text())
    assert result.returncode == 0, result.stderr
    assert "WARN" not in result.stderr.upper(), result.stderr  # e.g. a ${VARIABLE} .env.example does not set
    resolved = yaml.safe_load(result.stdout)
    assert set(SERVICES) == set(resolved["services"])
    active, _ = example()
    web = resolved["services"]["web"]
    assert web["environment"]["DATABASE_URL"] == (
        f"postgres://{active['POSTGRES_USER']}:{active['POSTGRES_PASSWORD']}@postgres:5432/{active['POSTGRES_DB']}")
    assert web["image"] == active["LEADERBOARD_IMAGE"]
    assert web["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_docker_compose_config_rejects_an_invalid_recipe(tmp_path):  # the validator is real, not a YAML parse
    broken = (DEPLOY / "docker-compose.yml").read_text().replace("    stop_grace_period: 1h\n",
                                                                  "    stop_grace_period: 1h\n    restrat: always\n", 1)
    assert "restrat" in broken
    result = compose_config(tmp_path, broken)
    assert result.returncode != 0 and "restrat" in result.stderr, result.stderr


PRODUCTION = {
    "LEADERBOARD_PRODUCTION": "1",
    "DJANGO_ALLOWED_HOSTS": "board.example.org",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://board.example.org",
    "LEADERBOARD_STORAGE": "s3",
    "LEADERBOARD_S3_PRIVATE_BUCKET": "leaderboard-private",
    "LEADERBOARD_S3_PUBLIC_BUCKET": "leaderboard-public",
    "LEADERBOARD_S3_ENDPOINT_URL": "http://127.0.0.1:9",
    "LEADERBOARD_S3_ADDRESSING_STYLE": "path",
    "DATABASE_CONN_MAX_AGE": "0",
}


@pytest.fixture
def production_env(postgres_url, tmp_path):  # noqa: F811 (the fixture imported above)
    """Production settings on this machine's PostgreSQL (a scratch database) and Redis (a private prefix)."""
    _require_redis()
    run = secrets.token_hex(4)
    yield clean_environment({
        **PRODUCTION,
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": postgres_url,
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_BROKER_TRANSPORT_OPTIONS": f'{{"global_keyprefix": "leaderboard-deploy-{run}:"}}',
        "LEADERBOARD_CACHE_URL": REDIS_URL,
        "LEADERBOARD_SCORING_QUEUE": f"scoring-deploy-{run}",
        "LEADERBOARD_GPU_QUEUE": f"gpu-deploy-{run}",
        "LEADERBOARD_DATA_DIR": str(tmp_path / "data"),
        "LEADERBOARD_STATIC_ROOT": str(tmp_path / "static"),
    })
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=f"leaderboard-deploy-{run}:*"):
        client.delete(key)


PROBE = """
import secrets
from django.core.cache import cache
from django.db import connection
from leaderboard.celery import app
key = "deploy-probe-" + secrets.token_hex(4)
cache.set(key, "ok", 30); assert cache.get(key) == "ok"; cache.delete(key)
from django.core.cache import caches; print("cache", caches["default"].__class__.__name__)
with app.connection_for_write() as broker:
    broker.ensure_connection(max_retries=1)
    print("broker", broker.transport_cls)
print("database", connection.vendor, connection.pg_version)
"""


@pytest.mark.integration
def test_production_settings_boot_on_real_postgres_and_redis_and_pass_check_deploy(production_env, tmp_path):
    manage("migrate", "--noinput", env=production_env)
    tables = psycopg.connect(production_env["DATABASE_URL"]).execute(
        "SELECT count(*) FROM django_migrations").fetchone()[0]
    assert tables > 10
    output = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env)
    assert "System check identified no issues (0 silenced)" in output
    probe = manage("shell", "-c", PROBE, env=production_env)
    assert "cache RedisCache" in probe and "broker redis" in probe and "database postgresql" in probe

    # The web service as compose runs it: collectstatic, gunicorn, and the compose file's own health check.
    manage("collectstatic", "--noinput", "-v0", env=production_env)
    port = free_port()
    web = Service("web", [sys.executable, "-m", "gunicorn", "leaderboard.wsgi", "--bind", f"127.0.0.1:{port}",
                          "--workers", "1", "--threads", "2"], production_env, tmp_path / "web.log").start()
    kind, check = SERVICES["web"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL" and check.startswith("python -c ")
    check = sys.executable + check.removeprefix("python").replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    try:
        def healthy():
            assert web.alive(), web.tail()
            return subprocess.run(["sh", "-c", check], env=production_env, capture_output=True).returncode == 0
        wait_for(healthy, timeout=60, what="the web health check to pass", interval=0.5, services=(web,))
        plain = subprocess.run([sys.executable, "-c", f"import urllib.request; urllib.request.urlopen("
                                f"'http://127.0.0.1:{port}/', timeout=10)"], capture_output=True, text=True)
        assert plain.returncode != 0  # plain HTTP without the proxy's header is redirected to HTTPS
    finally:
        web.stop()
