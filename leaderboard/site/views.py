"""Site-wide pages: about (how scoring works), the participant documents, and the server-rendered API reference."""

from __future__ import annotations

import functools
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from drf_spectacular.generators import SchemaGenerator

import evaluator
from evaluator.worklist import WorklistParameters
from leaderboard.metric_defs import METRICS
from leaderboard.site import citation
from leaderboard.submissions.uploads import limit_text
from leaderboard.testsets.models import ReportedResult
from leaderboard.testsets.services import default_benchmark


def about(request: HttpRequest) -> HttpResponse:
    benchmark = default_benchmark()
    context = {
        "metrics": METRICS, "scorer_version": evaluator.SCORER_VERSION,
        "quota": settings.LEADERBOARD_DAILY_QUOTA, "window": settings.LEADERBOARD_QUOTA_WINDOW_HOURS,
        "max_upload": limit_text(settings.LEADERBOARD_MAX_UPLOAD_BYTES),
        "resamples": settings.LEADERBOARD_BOOTSTRAP_RESAMPLES, "reported": ReportedResult.objects.first(),
        "benchmark": benchmark, "worklist": benchmark.worklist() if benchmark else WorklistParameters(),
        "triage_days": settings.LEADERBOARD_TRIAGE_DAYS, "triage_resamples": settings.LEADERBOARD_TRIAGE_RESAMPLES,
        "paper": citation.PAPER, "software_title": citation.SOFTWARE_TITLE,
        "software_authors": citation.SOFTWARE_AUTHORS, "software_license": citation.SOFTWARE_LICENSE,
        "software_bibtex": citation.software_bibtex(),
    }
    return render(request, "site/about.html", context)


@functools.cache
def _schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def _operations(schema: dict[str, Any]) -> list[dict[str, Any]]:
    operations = []
    for path, methods in schema.get("paths", {}).items():
        for method, operation in methods.items():
            body = operation.get("requestBody", {}).get("content", {})
            fields = []
            for content in body.values():
                ref = content.get("schema", {}).get("$ref", "")
                component = schema.get("components", {}).get("schemas", {}).get(ref.rsplit("/", 1)[-1], {})
                required = set(component.get("required", []))
                for name, spec in component.get("properties", {}).items():
                    fields.append({"name": name, "type": spec.get("type", spec.get("format", "")),
                                   "required": name in required, "description": spec.get("description", "")})
                break
            operations.append({
                "method": method.upper(), "path": path, "summary": operation.get("summary", ""),
                "parameters": operation.get("parameters", []), "fields": fields,
                "responses": sorted(operation.get("responses", {}).items()),
                "public": {} in operation.get("security", [{}]) or not operation.get("security"),
            })
    return operations


def api_docs(request: HttpRequest) -> HttpResponse:
    schema = _schema()
    return render(request, "site/api_docs.html", {"schema": schema, "operations": _operations(schema)})


#: The documents of the repository's docs/ folder the site serves at /guide/<name>/ (as text; the Docker image
#: copies docs/): what a participant needs without the repository.
PARTICIPANT_DOCS = {"archive-format": "The prediction archive", "participants": "Participant guide",
                    "metrics": "How the numbers are computed", "api": "REST API"}


def participant_doc(request: HttpRequest, name: str) -> HttpResponse:
    if name not in PARTICIPANT_DOCS:
        raise Http404("no such document")
    path = settings.BASE_DIR / "docs" / f"{name}.md"
    if not path.is_file():
        raise Http404("this installation does not include the documents")
    return render(request, "site/doc.html", {"title": PARTICIPANT_DOCS[name], "name": name,
                                             "text": path.read_text(encoding="utf-8")})
