"""Who sees what, for every page and endpoint that touches submissions, evaluations, per-case values,
test images and labels: anonymous, another team, the own team, a maintainer."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from leaderboard.testsets.models import LabelVersion

from .helpers import submit_and_score

ROLES = ["anonymous", "other_team", "own_team", "maintainer"]


@pytest.fixture
def world(label_version, team_a, team_b, maintainer, archives):
    public = submit_and_score(team_a, archives["noisy"], method="Public entry", public=True)
    hidden = submit_and_score(team_a, archives["perfect"], method="Hidden entry", public=False)
    return {"public": public, "hidden": hidden, "team_a": team_a, "team_b": team_b, "maintainer": maintainer,
            "label_version": label_version}


def web_client(world, role) -> Client:
    client = Client()
    if role == "other_team":
        client.force_login(world["team_b"].user)
    elif role == "own_team":
        client.force_login(world["team_a"].user)
    elif role == "maintainer":
        client.force_login(world["maintainer"])
    return client


def api_get(world, role, url):
    """Teams authenticate with their token, the maintainer with a session."""
    client = web_client(world, "maintainer" if role == "maintainer" else "anonymous")
    headers = {"own_team": world["team_a"].auth(), "other_team": world["team_b"].auth()}.get(role, {})
    return client.get(url, **headers)


# --- REST API -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("role", "expected"), list(zip(ROLES, [401, 404, 200, 200], strict=True)))
def test_api_submission_detail(world, role, expected):
    response = api_get(world, role, reverse("api-submission", args=[world["hidden"].submission_id]))
    assert response.status_code == expected
    if expected == 200:
        assert response.json()["metrics"]["roc_auc_all"] == world["hidden"].roc_auc_all
        assert "per_case" not in response.content.decode()


@pytest.mark.parametrize(("role", "expected"), list(zip(ROLES, [401, 404, 200, 200], strict=True)))
def test_api_per_case(world, role, expected):
    response = api_get(world, role, reverse("api-submission-cases", args=[world["public"].submission_id]))
    assert response.status_code == expected
    if expected == 200:
        columns = response.json()["columns"]
        label_columns = {"group", "true_severity", "dice"}
        assert label_columns <= set(columns) if role == "maintainer" else not label_columns & set(columns)
        assert len(response.json()["per_case"]) == 9


@pytest.mark.parametrize(("role", "expected"), list(zip(ROLES, [401, set(), {"Public entry", "Hidden entry"},
                                                              {"Public entry", "Hidden entry"}], strict=True)))
def test_api_submission_list(world, role, expected):
    response = api_get(world, role, reverse("api-submissions"))
    if expected == 401:
        assert response.status_code == 401
    else:
        assert {s["method_name"] for s in response.json()["results"]} == expected


def test_public_exports_hold_no_private_entry_or_per_case_value(world):
    client = Client()
    for query in ({}, {"format": "csv"}, {"entries": "all"}):
        text = client.get(reverse("api-leaderboard"), query).content.decode()
        assert "Public entry" in text and "Hidden entry" not in text
        for word in ("per_case", "true_severity", "rater_severities", "c000"):
            assert word not in text


# --- pages --------------------------------------------------------------------------------------

def submission_urls(world):
    submission, evaluation = world["hidden"].submission_id, world["hidden"].pk
    return [reverse("submission-detail", args=[submission]), reverse("submission-archive", args=[submission]),
            reverse("evaluation-cases", args=[evaluation]), reverse("evaluation-cases-csv", args=[evaluation])]


@pytest.mark.parametrize("role", ROLES)
def test_submission_pages(world, role):
    client = web_client(world, role)
    for url in submission_urls(world):
        response = client.get(url)
        if role == "anonymous":
            assert response.status_code == 302 and response.url.startswith(reverse("login")), url
        elif role == "other_team":
            assert response.status_code == 404, url
        else:
            assert response.status_code == 200, url


@pytest.mark.parametrize("role", ROLES)
def test_per_case_page_columns(world, role):
    if role in ("anonymous", "other_team"):
        return  # covered above: redirected or 404
    text = web_client(world, role).get(reverse("evaluation-cases-csv", args=[world["public"].pk])).getvalue()
    header = text.decode().splitlines()[0].split(",")
    assert ("group" in header) == (role == "maintainer") and ("true_severity" in header) == (role == "maintainer")


@pytest.mark.parametrize(("role", "expected"), list(zip(ROLES, [302, 404, 302, 302], strict=True)))
def test_edit_submission(world, role, expected):
    url = reverse("submission-edit", args=[world["hidden"].submission_id])
    response = web_client(world, role).post(url, {"method_name": f"Renamed by {role}", "is_public": ""})
    assert response.status_code == expected
    world["hidden"].submission.refresh_from_db()
    renamed = world["hidden"].submission.method_name == f"Renamed by {role}"
    assert renamed == (role in ("own_team", "maintainer"))


@pytest.mark.parametrize("role", ROLES)
def test_submission_list_page(world, role):
    response = web_client(world, role).get(reverse("submissions"))
    if role == "anonymous":
        assert response.status_code == 302
        return
    text = response.content.decode()
    assert ("Hidden entry" in text) == (role in ("own_team", "maintainer"))


@pytest.mark.parametrize(("role", "expected"), list(zip(ROLES, [404, 404, 200, 200], strict=True)))
def test_entry_page_of_a_hidden_submission(world, role, expected):
    response = web_client(world, role).get(reverse("entry", args=[world["hidden"].pk]))
    assert response.status_code == expected


@pytest.mark.parametrize("role", ROLES)
def test_entry_page_of_a_public_submission(world, role):
    response = web_client(world, role).get(reverse("entry", args=[world["public"].pk]))
    assert response.status_code == 200
    shows_cases = reverse("evaluation-cases", args=[world["public"].pk]) in response.content.decode()
    assert shows_cases == (role in ("own_team", "maintainer"))


@pytest.mark.parametrize(("role", "expected"), list(zip(ROLES, [302, 200, 200, 200], strict=True)))
def test_public_images_need_a_team(world, role, expected):
    url = reverse("download-public-images", args=[world["label_version"].pk])
    response = web_client(world, role).get(url)
    assert response.status_code == expected
    if expected == 200:
        assert response["Content-Disposition"].startswith("attachment")


def test_public_images_refused_without_a_team(world, loner):
    client = Client()
    client.force_login(loner)
    assert client.get(reverse("download-public-images", args=[world["label_version"].pk])).status_code == 403


@pytest.mark.parametrize("role", ROLES)
def test_labels_are_never_served(world, role):
    client = web_client(world, role)
    version: LabelVersion = world["label_version"]
    assert client.get(reverse("download-sample", args=[version.pk])).status_code == 404  # a benchmark, not a sample
    for path in ("/media/" + version.storage_prefix + "/cases.csv", "/static/../private/" + version.storage_prefix):
        assert client.get(path).status_code == 404
    testsets = json.loads(client.get(reverse("api-testsets")).content)
    assert "storage_prefix" not in json.dumps(testsets) and "manifest" not in json.dumps(testsets)
    admin = client.get(reverse("admin:testsets_labelversion_changelist"))
    assert admin.status_code == (200 if role == "maintainer" else 302)
