"""Public pages render for everyone and are usable without JavaScript."""

import yaml
from django.urls import reverse


def test_public_pages(client, label_version):
    for name in ("board", "about", "downloads", "login", "signup", "api-docs"):
        response = client.get(reverse(name))
        assert response.status_code == 200, name
        text = response.content.decode()
        assert '<html lang="en">' in text and 'name="viewport"' in text and "<script" not in text, name
        assert 'href="#content"' in text  # skip link


def test_api_reference_lists_every_endpoint(client, db):
    text = client.get(reverse("api-docs")).content.decode()
    for path in ("/api/submissions/", "/api/submissions/{id}/", "/api/submissions/{id}/per-case/",
                 "/api/leaderboard/", "/api/testsets/", "/api/team/token/"):
        assert f"{path}</code>" in text, path
    assert "<code>413</code>" in text and "<code>429</code>" in text


def test_openapi_schema(client, db):
    schema = yaml.safe_load(client.get(reverse("api-schema")).content)
    assert schema["components"]["securitySchemes"]["teamToken"]["name"] == "Authorization"
    upload = schema["paths"]["/api/submissions/"]["post"]["requestBody"]["content"]["multipart/form-data"]
    properties = schema["components"]["schemas"][upload["schema"]["$ref"].rsplit("/", 1)[1]]["properties"]
    assert {"file", "method_name", "description", "paper_url", "code_url", "is_public"} <= set(properties)


def test_downloads_page(client, label_version, team_a, loner):
    link = reverse("download-public-images", args=[label_version.pk])
    assert link not in client.get(reverse("downloads")).content.decode()
    client.force_login(loner)
    assert link not in client.get(reverse("downloads")).content.decode()
    client.force_login(team_a.user)
    assert link in client.get(reverse("downloads")).content.decode()


def test_logout_is_a_post(client, team_a):
    client.force_login(team_a.user)
    assert "Log out alice" in client.get(reverse("board")).content.decode()
    client.post(reverse("logout"))
    assert "Log in" in client.get(reverse("board")).content.decode()


def test_api_docs_are_served_without_a_cdn(client, label_version):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200 and b"/api/submissions/" in schema.content
    for url in ("/api/docs/swagger/",):
        page = client.get(url)
        assert page.status_code == 200
        html = page.content.decode()
        assert "cdn." not in html and "jsdelivr" not in html and "unpkg" not in html
        assert "/static/drf_spectacular_sidecar/" in html


def test_about_page_shows_how_to_cite_the_paper_and_the_software(client, db):
    """The about page cites both, with the same facts as CITATION.cff (its preferred-citation and the software)."""
    from pathlib import Path

    import evaluator

    cff = yaml.safe_load((Path(__file__).resolve().parents[2] / "CITATION.cff").read_text())
    paper = cff["preferred-citation"]
    text = client.get(reverse("about")).content.decode()
    assert 'id="cite"' in text
    assert f'href="https://doi.org/{paper["doi"]}"' in text
    assert paper["title"] in text and f'{paper["journal"]} {paper["volume"]} ({paper["year"]}) {paper["start"]}' in text
    for author in paper["authors"]:
        assert f'{author["family-names"]}, {author["given-names"]}' in text  # BibTeX
    assert "arXiv:2006.01441" in text and any(i["value"] == "arXiv:2006.01441" for i in paper["identifiers"])
    assert "@article{goncharov2021ct," in text and "@software{covid_ct_triage_leaderboard," in text
    assert cff["title"] in text and cff["authors"][0]["name"] in text and cff["license"] in text
    assert f"version = {{scorer {evaluator.SCORER_VERSION}}}" in text


def test_about_links_the_archive_format_which_the_site_serves(client, db):
    about = client.get(reverse("about")).content.decode()
    assert f'href="{reverse("guide", args=["archive-format"])}"' in about
    page = client.get(reverse("guide", args=["archive-format"]))
    assert page.status_code == 200 and "predictions.csv" in page.content.decode()
    assert client.get("/guide/settings/").status_code == 404  # only the participant documents
