"""Browser-test fixtures: a live site (gunicorn + a real Celery worker, embedded settings: SQLite and the
filesystem broker in a throw-away data folder) seeded with scored entries, and Debian's Chromium driven by
Playwright (sync API), one fresh profile per test.

Chromium missing is a failure naming ``bash scripts/setup-browser``, never a skip.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from evaluator.examples import ExampleKind, write_example_archive
from evaluator.phantoms.testset import write_testset
from evaluator.testset import load_testset
from tests.leaderboard.integration.processes import (
    ROOT,
    Service,
    celery_worker,
    clean_environment,
    manage,
    wait_for,
    web_server,
)

CHROMIUM = Path("/usr/bin/chromium")
SETUP_HINT = "run `bash scripts/setup-browser` (as root) to install Debian's Chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = ROOT / "var" / "screenshots"
PASSWORD = "a long test passphrase 4 browsers"

#: Seeded entries: (team, method, example kind, seed); scored by the worker before the tests start.
SEEDED = (
    ("Alpha Lab", "Oracle (true labels)", ExampleKind.PERFECT, 0),
    ("Beta Group", "Shuffled scores", ExampleKind.SHUFFLED, 0),
    ("Gamma Team", "Probability only", ExampleKind.PROBABILITY_ONLY, 0),
)
REFERENCE_METHOD = "Multitask-Spatial-1"  # a row of the paper's Table 2: shown beside the re-scored entry


@dataclass
class LiveSite:
    base: str
    env: dict[str, str]
    testset_dir: Path
    archives: dict[str, Path]
    services: tuple[Service, ...]
    entries: dict[str, int] = field(default_factory=dict)  # seeded method name -> evaluation id

    def url(self, path: str) -> str:
        return self.base + path

    @contextmanager
    def worker_paused(self) -> Iterator[None]:
        """The Celery worker stopped (SIGSTOP) inside the block, so what is queued stays queued until it ends."""
        worker = self.services[1]
        os.killpg(worker.process.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.killpg(worker.process.pid, signal.SIGCONT)


@pytest.fixture(scope="session")
def chromium_executable() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(f"the browser tests need Debian's Chromium at {CHROMIUM}, which is missing: {SETUP_HINT}",
                    pytrace=False)
    return CHROMIUM


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


def _upload(base: str, token: str, archive: Path, method: str) -> dict:
    with open(archive, "rb") as handle:
        response = requests.post(f"{base}/api/submissions/", headers={"Authorization": f"Token {token}"},
                                 files={"file": (archive.name, handle)},
                                 data={"method_name": method, "is_public": "true",
                                       "description": f"Seeded by the browser tests ({archive.stem} example)."},
                                 timeout=60)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="session")
def live_site(chromium_executable, tmp_path_factory) -> Iterator[LiveSite]:
    data_dir = tmp_path_factory.mktemp("browser-site")
    logs = tmp_path_factory.mktemp("browser-logs")
    env = clean_environment({
        "LEADERBOARD_DATA_DIR": str(data_dir),
        "LEADERBOARD_SCORING_QUEUE": "scoring",
        "LEADERBOARD_BOOTSTRAP_RESAMPLES": "200",
        "LEADERBOARD_TRIAGE_DAYS": "20",  # the triage impact's worklist simulation, kept short
        "LEADERBOARD_TRIAGE_RESAMPLES": "10",
        "LEADERBOARD_SCORING_PROCESSES": "1",
        "LEADERBOARD_LOG_LEVEL": "WARNING",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(40),
        "DJANGO_DEBUG": "0",
    })
    testset_dir = data_dir / "testset"
    write_testset(testset_dir, counts={"covid": 10, "bacterial_pneumonia": 8, "nodules": 8, "normal": 8},
                  shape=(48, 48, 24), private_groups=("nodules",), name="Synthetic Mosmed-Test")
    testset = load_testset(testset_dir)
    archives = {}
    for kind, seed in [(k, s) for _, _, k, s in SEEDED] + [(ExampleKind.NOISY, 0), (ExampleKind.NOISY, 1)]:
        archives[f"{kind.value}-{seed}"] = write_example_archive(data_dir / f"{kind.value}-{seed}.zip",
                                                                 testset=testset, kind=kind, seed=seed)
    manage("migrate", "--noinput", env=env)
    manage("import_testset", str(testset_dir), "--noinput", env=env)
    worker = celery_worker(env, logs / "worker.log", name="browser", beat=False)
    try:
        web, base = web_server(env, logs / "web.log", workers=2, threads=4)
    except BaseException:
        worker.stop()
        raise
    site = LiveSite(base=base, env=env, testset_dir=testset_dir, archives=archives, services=(web, worker))
    try:
        manage("submit_reference", str(archives["noisy-1"]), "--method", REFERENCE_METHOD, env=env)
        for team, method, kind, seed in SEEDED:
            token = manage("create_team", team, "--user", team.lower().replace(" ", "-"), env=env).strip()
            _upload(base, token, archives[f"{kind.value}-{seed}"], method)

        def all_scored():
            board = requests.get(f"{base}/api/leaderboard/?entries=all", timeout=10).json()
            return board if len(board["entries"]) == len(SEEDED) + 1 else None

        board = wait_for(all_scored, timeout=120, interval=0.5, what="the seeded entries to be scored",
                         services=(worker,))
        site.entries = {e["method_name"]: int(e["entry_url"].rstrip("/").rsplit("/", 1)[1])
                        for e in board["entries"]}
        yield site
    finally:
        web.stop()
        worker.stop()


@pytest.fixture(scope="session")
def playwright_driver():
    from playwright.sync_api import sync_playwright

    driver = sync_playwright().start()
    yield driver
    driver.stop()


@pytest.fixture
def context(playwright_driver, chromium_executable, live_site):
    """A fresh Chromium profile (its own --user-data-dir) for each test; 1280 × 900 desktop viewport."""
    from playwright.sync_api import Error as PlaywrightError

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        browser_context = playwright_driver.chromium.launch_persistent_context(
            profile, executable_path=str(chromium_executable), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900}, base_url=live_site.base, locale="en-GB",
            color_scheme="light")
    except PlaywrightError as error:
        shutil.rmtree(profile, ignore_errors=True)
        pytest.fail(f"Chromium ({chromium_executable}) does not start under Playwright: {error}\n{SETUP_HINT}",
                    pytrace=False)
    browser_context.set_default_timeout(15_000)
    yield browser_context
    browser_context.close()
    shutil.rmtree(profile, ignore_errors=True)


class Problems:
    """What went wrong in the browser during a test: script errors and HTTP errors of any resource."""

    def __init__(self) -> None:
        self.found: list[str] = []
        self.expected: set[str] = set()  # URLs allowed to answer with an error (a test checks that they do)

    def expect_error_at(self, url: str) -> None:
        self.expected.add(url)

    def unexpected(self) -> list[str]:
        return [p for p in self.found if p.split(" ", 2)[1] not in self.expected]


@pytest.fixture
def browser_problems() -> Problems:
    return Problems()


#: Reports every Content-Security-Policy violation of every document to the test (``reportCspViolation``).
CSP_LISTENER = """
document.addEventListener('securitypolicyviolation', (e) => window.reportCspViolation(
  `${e.effectiveDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile || e.documentURI}:${e.lineNumber}`));
"""


@pytest.fixture
def page(context, browser_problems):
    """A page whose script errors, HTTP errors and Content-Security-Policy violations (the DOM event and the
    console message) fail the test."""
    page = context.pages[0] if context.pages else context.new_page()
    context.expose_function("reportCspViolation",
                            lambda text: browser_problems.found.append(f"CSP {page.url} {text}"))
    context.add_init_script(CSP_LISTENER)
    page.on("console", lambda message: browser_problems.found.append(f"CSP-console {page.url} {message.text}")
            if "Content Security Policy" in message.text or "Permissions-Policy" in message.text else None)
    page.on("pageerror", lambda error: browser_problems.found.append(f"script {page.url} {error}"))
    page.on("response", lambda response: browser_problems.found.append(
        f"HTTP {response.url} {response.status}") if response.status >= 400 else None)
    yield page
    assert not browser_problems.unexpected(), f"the browser met errors: {browser_problems.unexpected()}"
