"""The site in a real browser (Debian's Chromium via Playwright) against a live gunicorn + Celery worker:
sign up, create a team, upload through the web form and watch the state change until done; the board sorted
by another metric; an entry page's plots; who may see per-case results; accessibility basics and layout.

Screenshots of the board, an entry page and the submission page go to ``var/screenshots/``.
"""

from __future__ import annotations

import re
import time

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.leaderboard.integration.processes import manage

from .conftest import PASSWORD, REFERENCE_METHOD, LiveSite
from .pagecheck import a11y_problems, board_column, board_methods, chart_text, focused, overflow

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PENDING = ("Queued", "Validating", "Scoring")
N_PUBLIC_CASES = 26  # the live site's test set: 34 cases, the 8 nodules cases private


def assert_no_overflow(page: Page) -> None:
    found = overflow(page)
    assert found["scrollWidth"] <= found["width"] and not found["wide"], f"{page.url} overflows: {found}"


def assert_charts_readable(page: Page, *, smallest_px: float) -> None:
    charts = chart_text(page)
    # the ROC panels and the triage impact's waiting times (open phase, hidden set), and the rank distribution once
    # the worker has stored the board's statistics
    assert len(charts) == 2 + page.locator("svg.chart.rank-distribution").count(), charts
    for chart in charts:
        assert not chart["clipped"] and chart["smallestTextPx"] >= smallest_px, chart


def assert_accessible(page: Page) -> None:
    problems = a11y_problems(page)
    assert not problems, f"{page.url}:\n" + "\n".join(problems)


def assert_sorted_na_last(cells, *, descending: bool) -> None:
    """Numbers in order, then every N/A."""
    numbers = [c.value for c in cells if c.value is not None]
    assert numbers == sorted(numbers, reverse=descending), [c.text for c in cells]
    first_na = next((i for i, c in enumerate(cells) if c.value is None), len(cells))
    assert all(c.value is None and c.text == "N/A" for c in cells[first_na:]), [c.text for c in cells]


def sign_up(page: Page, username: str) -> None:
    page.goto("/accounts/signup/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.org")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You are not in a team yet")


def watch_until_finished(page: Page, *, timeout: float) -> list[str]:
    """States shown on the submission page, in order, following the page's own reloads until done or failed."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        state = page.locator("section.card .state").first.inner_text().strip()
        if not seen or seen[-1] != state:
            seen.append(state)
        if state not in PENDING:
            return seen
        assert time.monotonic() < deadline, f"still {state} after {timeout} s; seen {seen}"
        with page.expect_event("load", timeout=15_000):  # the page reloads itself while scoring runs
            pass


def test_sign_up_create_team_upload_and_watch_until_done(page: Page, live_site: LiveSite, screenshots,
                                                         browser_problems):
    sign_up(page, "carol")
    assert_accessible(page)
    page.get_by_label("Team name").fill("Carol's Lab")
    page.get_by_role("button", name="Create team").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Team Carol's Lab")
    expect(page.locator("code.token")).to_have_text(re.compile(r"^lb\S{20,}$"))  # shown once, at creation

    page.get_by_role("link", name="new submission").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New submission for team Carol's Lab")
    assert_accessible(page)
    page.screenshot(path=screenshots / "submission-form.png", full_page=True)
    page.get_by_label(re.compile(r"^File\b")).set_input_files(live_site.archives["noisy-0"])
    page.get_by_label("Method name").fill("Carol's noisy method")
    page.get_by_label("Description").fill("Plausible but imperfect predictions, uploaded through the web form.")
    page.get_by_label("Code URL").fill("https://example.org/carol/noisy")
    public = page.get_by_label("Show on the public board once scored")
    expect(public).not_to_be_checked()  # private until chosen, as in the API
    public.check()
    with live_site.worker_paused():  # so that the page is seen before scoring, however fast the worker is
        page.get_by_role("button", name="Upload").click()
        expect(page).to_have_url(re.compile(r"/submissions/\d+/$"))
        expect(page.get_by_role("status").filter(has_text="Uploaded")).to_be_visible()
        expect(page.locator("section.card .state").first).to_have_text("Queued")
        expect(page.get_by_role("status").filter(has_text="reloads every")).to_be_visible()
        page.screenshot(path=screenshots / "submission-pending.png", full_page=True)
    seen = watch_until_finished(page, timeout=90)
    assert seen[0] in PENDING and seen[-1] == "Done", seen
    history = page.locator("h2:has-text('History') + ol").inner_text()
    assert "queued → validating" in history and "scoring → done" in history, history
    expect(page.locator("section.card table td.num .ci").first).to_have_text(re.compile(r"^\d\.\d{3}–\d\.\d{3}$"))
    assert_accessible(page)
    assert_no_overflow(page)
    page.screenshot(path=screenshots / "submission-done.png", full_page=True)

    page.get_by_role("link", name="Entry page with plots").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Carol's noisy method")
    entry_url = page.url
    expect(page.get_by_role("heading", name="Per-case results")).to_be_visible()  # own team
    page.get_by_role("link", name="per-case values").click()
    expect(page.locator("table tbody tr")).to_have_count(N_PUBLIC_CASES)
    cases_url = page.url

    page.goto("/")
    assert "Carol's noisy method" in board_methods(page)

    # log out: anonymous visitors see the public entry page, but no per-case results
    page.get_by_role("button", name="Log out carol").click()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    page.goto(entry_url)
    expect(page.get_by_role("heading", level=1)).to_have_text("Carol's noisy method")
    expect(page.get_by_role("heading", name="Per-case results")).to_have_count(0)
    expect(page.get_by_role("link", name="per-case values")).to_have_count(0)
    page.goto(cases_url)
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
    expect(page.locator("table")).to_have_count(0)
    submission_id = re.search(r"\d+", page.url.split("next=")[1]).group()
    api = requests.get(live_site.url(f"/api/submissions/{submission_id}/per-case/"), timeout=10)
    assert api.status_code in (401, 403), api.status_code

    # another signed-in account (no team of carol's) gets a 404, not the values
    sign_up(page, "dave")
    browser_problems.expect_error_at(cases_url)
    response = page.goto(cases_url)
    assert response.status == 404
    expect(page.locator("table")).to_have_count(0)


def test_board_sorted_by_another_metric(page: Page, live_site: LiveSite, screenshots):
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Synthetic Mosmed-Test")
    active = page.locator("thead th[aria-sort]")
    expect(active).to_have_count(1)
    expect(active).to_contain_text("AUC vs all")
    expect(active).to_have_attribute("aria-sort", "descending")
    expect(active.locator("span[aria-hidden]")).to_have_text("▼")
    default = board_column(page, "AUC vs all")
    assert [c.value for c in default] == sorted((c.value for c in default), reverse=True)
    assert REFERENCE_METHOD in board_methods(page)
    reference_row = page.locator("tbody tr", has=page.get_by_role("link", name=REFERENCE_METHOD, exact=True))
    expect(reference_row.locator(".badge.reference")).to_have_text("reference")
    expect(reference_row.locator(".paper-value").first).to_have_text(re.compile(r"^paper (N/A|\.\d\d ± \.\d\d)$"))
    for cell in default:  # every number carries its 95% interval
        assert re.fullmatch(r"\d\.\d{3}\n\d\.\d{3}–\d\.\d{3}(\npaper .*)?", cell.text), cell.text
    expect(page.locator("#labels-statement")).to_contain_text("v1")
    assert_accessible(page)
    assert_no_overflow(page)
    frame = page.locator(".table-wrap").first.evaluate("el => [el.scrollWidth, el.clientWidth]")
    assert frame[0] <= frame[1], f"on a desktop the whole board fits without scrolling: {frame}"
    page.screenshot(path=screenshots / "board.png", full_page=True)
    page.emulate_media(color_scheme="dark")  # the dark colour scheme keeps its contrast too
    assert_accessible(page)
    page.screenshot(path=screenshots / "board-dark.png")
    page.emulate_media(color_scheme="light")

    page.get_by_role("link", name="Spearman ρ", exact=True).click()
    expect(page).to_have_url(re.compile(r"[?&]sort=spearman_rho"))
    active = page.locator("thead th[aria-sort]")
    expect(active).to_contain_text("Spearman ρ")
    expect(active).to_have_attribute("aria-sort", "descending")
    expect(active.locator("span[aria-hidden]")).to_have_text("▼")
    expect(page.locator("caption").first).to_contain_text("sorted by Spearman")
    cells = board_column(page, "Spearman ρ")
    assert_sorted_na_last(cells, descending=True)
    assert len([c for c in cells if c.value is not None]) >= 3 and cells[-1].text == "N/A"
    ranks = board_column(page, "Rank")
    assert ranks[0].value == 1

    page.get_by_role("link", name="Spearman ρ", exact=True).click()  # again: ascending
    expect(page).to_have_url(re.compile(r"order=asc"))
    active = page.locator("thead th[aria-sort]")
    expect(active).to_have_attribute("aria-sort", "ascending")
    expect(active.locator("span[aria-hidden]")).to_have_text("▲")
    cells = board_column(page, "Spearman ρ")
    assert_sorted_na_last(cells, descending=False)
    assert cells[-1].text == "N/A", "N/A sorts below every number in both directions"
    ranks = [c.value for c in board_column(page, "Rank")]
    best = max(i for i, c in enumerate(cells) if c.value is not None)
    assert ranks[best] == 1, "ranks stay best-first whatever the display order"

    # keyboard: the skip link comes first and shows focus; a header link sorts with Enter
    page.goto("/")
    page.keyboard.press("Tab")
    skip = focused(page)
    assert skip and skip["text"] == "Skip to content" and skip["inViewport"], skip
    assert skip["outlineStyle"] != "none" and skip["outlineWidth"] >= 2, skip
    page.get_by_role("link", name="Dice", exact=True).focus()
    state = focused(page)
    assert state["outlineStyle"] != "none" and state["outlineWidth"] >= 2, state
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"sort=mean_dice"))
    dice = board_column(page, "Dice")
    assert_sorted_na_last(dice, descending=True)
    assert dice[0].value is not None and dice[-1].text == "N/A"

    # a phone-sized viewport: the page does not overflow; the table scrolls inside its frame
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/")
    assert_no_overflow(page)
    page.screenshot(path=screenshots / "board-narrow.png", full_page=True)


def test_entry_page_shows_its_plots(page: Page, live_site: LiveSite, screenshots):
    page.goto("/")
    page.get_by_role("link", name=REFERENCE_METHOD, exact=True).click()
    expect(page).to_have_url(re.compile(rf"/entries/{live_site.entries[REFERENCE_METHOD]}/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(REFERENCE_METHOD)
    expect(page.locator("h1 .badge.reference")).to_be_visible()

    metrics = page.locator("table", has=page.locator("caption", has_text="confidence intervals"))
    expect(metrics.locator("tbody tr")).to_have_count(6)
    expect(metrics.locator("thead")).to_contain_text("Paper (mean ± std)")
    nodules = metrics.locator("tbody tr", has_text="COVID-19 vs nodules")
    expect(nodules.locator("td").first).to_have_text("N/A")  # private cases: not on the archive track

    # hidden labels: bootstrap-averaged ROC curves on a fixed FPR grid, per-group severity summaries, no per-case marks
    roc = page.locator("svg.chart[role=img]", has=page.locator("title", has_text="ROC curves"))
    expect(roc).to_have_count(1)
    expect(roc.locator("title").first).to_contain_text("bootstrap-averaged")
    for subset in ("vs all others", "vs normal", "vs bacterial pneumonia", "vs nodules"):
        expect(roc.locator("text.chart-title", has_text=subset)).to_have_count(1)
    expect(roc.locator("polyline")).to_have_count(3)  # nodules: N/A on this track
    points = roc.locator("polyline").evaluate_all("lines => lines.map(l => l.getAttribute('points').split(' ').length)")
    assert points == [21, 21, 21], "one point per grid FPR (0, 0.05, …, 1), none per case"
    expect(roc.locator("text.chart-note")).to_have_text("not applicable")
    # per-group summaries and tables at a threshold come with the final ranking, not while the phase is open
    expect(page.locator("svg.chart title", has_text="Predicted severity per group")).to_have_count(0)
    expect(page.get_by_text("Shown with the final ranking").first).to_be_visible()
    expect(page.locator("svg.chart:not(.rank-distribution) title", has_text="rank 1")).to_have_count(0)
    expect(page.get_by_role("heading", name="Cases ranked by predicted severity")).to_have_count(0)
    waits = page.locator("svg.chart[role=img]", has=page.locator("title", has_text="simulated worklist"))
    expect(waits).to_have_count(1)
    expect(waits.locator("polyline")).to_have_count(4)  # entry and first-in-first-out, positives and severe ones
    expect(page.locator("#triage-impact + p")).to_contain_text("minutes saved per COVID-19 positive")
    for chart in (roc, waits):
        box = chart.bounding_box()
        assert box and 400 <= box["width"] <= 1280 and box["height"] > 150, box
    assert_charts_readable(page, smallest_px=11)
    expect(page.locator("h2:has-text('Against the leader') + p")).to_have_text(
        re.compile(r"(two-sided p = (< 0\.001|\d\.\d{3})|This entry leads the board)"))
    expect(page.get_by_role("heading", name="Per-case results")).to_have_count(0)  # anonymous
    assert_accessible(page)
    assert_no_overflow(page)
    page.screenshot(path=screenshots / "entry.png", full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    assert_no_overflow(page)  # the charts keep a readable size and scroll inside their frames
    assert_charts_readable(page, smallest_px=9)
    page.screenshot(path=screenshots / "entry-narrow.png", full_page=True)

    # an entry behind the leader: DeLong's paired test against it
    page.goto(f"/entries/{live_site.entries['Shuffled scores']}/")
    expect(page.locator("h2:has-text('Against the leader') + p")).to_contain_text(
        re.compile(r"difference -\d\.\d{3}, two-sided p = (< 0\.001|\d\.\d{3})"))


def test_honest_ranks_tie_band_and_rank_distribution(page: Page, live_site: LiveSite, screenshots):
    """The worker stores the board's statistics after the results came in; the board then marks the tied-for-first
    band and shows rank ranges and the robustness panel, and the leader's page draws its rank distribution."""
    page.goto("/")
    deadline = time.monotonic() + 120
    while page.locator("tr.tied-for-first").count() == 0:
        assert time.monotonic() < deadline, page.locator("#rank-statistics").inner_text()
        time.sleep(2)
        page.reload()
    band = page.locator("tr.tied-for-first")
    expect(band.locator(".badge.tied")).to_have_count(band.count())
    expect(page.locator("table.board tbody tr").first).to_have_class("tied-for-first")  # the leader
    expect(band.first.locator(".rank-range")).to_have_text(re.compile(r"^\d+(–\d+)? · P\(1st\) \d+\.\d%$"))
    expect(page.locator("#robustness")).to_contain_text("Kendall")
    expect(page.locator("#winner-depends")).to_have_text(re.compile(r"^(no|yes: .*)$"))
    assert_accessible(page)
    assert_no_overflow(page)
    page.screenshot(path=screenshots / "board-honest-ranks.png", full_page=True)

    band.first.locator("th a").first.click()
    blob = page.locator("svg.chart.rank-distribution[role=img]")
    expect(blob).to_have_count(1)
    expect(blob.locator("circle.rank-blob").first).to_be_visible()
    expect(page.locator("#rank-distribution + p")).to_contain_text("tied for first")
    assert_accessible(page)
    assert_no_overflow(page)


def test_every_page_renders_under_the_content_security_policy(page: Page, live_site: LiveSite):
    """The pages the other tests do not open, public and maintainers'; the ``page`` fixture fails the test on
    any CSP violation (the securitypolicyviolation event or the console's report), script or HTTP error."""
    for path, heading in [("/about/", "How scoring works"), ("/downloads/", None), ("/api/docs/", None),
                          ("/accounts/login/", "Log in"), ("/accounts/signup/", None)]:
        response = page.goto(path)
        assert response.status == 200 and response.headers["content-security-policy"], path
        if heading:
            expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
    page.goto("/api/docs/swagger/")  # Swagger UI: its scripts and styles are files, the schema is fetched
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("CT-based COVID-19 triage leaderboard API")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()

    manage("createsuperuser", "--noinput", "--username", "maintainer", "--email", "m@example.org",
           env={**live_site.env, "DJANGO_SUPERUSER_PASSWORD": PASSWORD})
    page.goto("/admin/login/")
    page.get_by_label("Username").fill("maintainer")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Site administration")
    for path in ("/admin/submissions/submission/", "/admin/accounts/team/", "/admin/auth/user/add/",
                 f"/entries/{next(iter(live_site.entries.values()))}/"):
        assert page.goto(path).status == 200, path
