"""Security headers on every kind of page: Content-Security-Policy without inline script or style,
Referrer-Policy, Permissions-Policy, Cross-Origin-Opener-Policy; the Swagger page's script is a file."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


@pytest.mark.parametrize("path", ["/", "/about/", "/accounts/login/", "/admin/login/", "/api/docs/",
                                  "/api/docs/swagger/", "/api/docs/swagger/?script=", "/api/schema/",
                                  "/api/leaderboard/", "/no-such-page/"])
def test_every_response_carries_the_security_headers(client, label_version, path):
    response = client.get(path)
    policy = directives(response)
    assert policy["default-src"] == ["'self'"] and policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"] and policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "camera=()" in response["Permissions-Policy"] and "geolocation=()" in response["Permissions-Policy"]


def test_the_swagger_page_has_no_inline_script_or_style(client, db):
    page = client.get(reverse("api-swagger")).content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page) and "<style" not in page and "style=" not in page
    script_url = re.search(r'<script src="([^"]*script=[^"]*)"', page).group(1).replace("&amp;", "&")
    script = client.get(script_url)
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


def test_report_only_mode(tmp_path):
    """LEADERBOARD_CSP_REPORT_ONLY=1: the same policy, reported (to LEADERBOARD_CSP_REPORT_URI) but not enforced."""
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADERBOARD_", "DJANGO_"))}
    env.update({"LEADERBOARD_DATA_DIR": str(tmp_path), "LEADERBOARD_CSP_REPORT_ONLY": "1",
                "LEADERBOARD_CSP_REPORT_URI": "https://reports.example.org/csp"})
    code = ("import json, leaderboard.settings as s; print(json.dumps([hasattr(s, 'CONTENT_SECURITY_POLICY'), "
            "s.CONTENT_SECURITY_POLICY_REPORT_ONLY['DIRECTIVES']['report-uri']]))")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    assert json.loads(result.stdout) == [False, ["https://reports.example.org/csp"]], result.stderr
