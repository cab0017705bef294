"""A small client of the leaderboard's REST API (docs/api.md), on the standard library's urllib.

Where the token and the site come from, first found wins: the environment variables ``COVID_TRIAGE_TOKEN`` and
``COVID_TRIAGE_URL``; then the JSON file ``$COVID_TRIAGE_CONFIG`` or ``~/.config/covid-triage/config.json``
(``{"url": "https://board.example.org", "token": "lb…"}``; keep it private: ``chmod 600``).
Every request sends ``Authorization: Token <token>``.
"""

from __future__ import annotations

import json
import os
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOKEN_VARIABLE = "COVID_TRIAGE_TOKEN"
URL_VARIABLE = "COVID_TRIAGE_URL"
CONFIG_VARIABLE = "COVID_TRIAGE_CONFIG"
DEFAULT_CONFIG = Path("~/.config/covid-triage/config.json")
#: States after which an evaluation does not change any more (leaderboard.submissions.states).
FINAL_STATES = frozenset({"done", "failed"})
CHUNK = 256 * 1024


SERVER_ERROR_RETRIES = 5  # polls answered 5xx in a row before wait() gives up


class ClientError(Exception):
    """A request the server refused, or a configuration problem; ``payload`` is the server's JSON answer."""

    def __init__(self, message: str, *, status: int | None = None, payload: Any = None) -> None:
        super().__init__(message)
        self.status, self.payload = status, payload


@dataclass(frozen=True, slots=True)
class Settings:
    url: str
    token: str


def load_settings(*, url: str | None = None, environ: dict[str, str] | None = None) -> Settings:
    """The site and the token: ``url`` if given, the environment, then the config file (see the module)."""
    environ = dict(os.environ) if environ is None else environ
    path = Path(environ.get(CONFIG_VARIABLE) or DEFAULT_CONFIG).expanduser()
    stored: dict[str, Any] = {}
    if path.is_file():
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ClientError(f"{path} is not valid JSON ({exc})") from exc
    site = url or environ.get(URL_VARIABLE) or stored.get("url")
    token = environ.get(TOKEN_VARIABLE) or stored.get("token")
    missing = [what for what, value in (("the site's URL", site), ("the team token", token)) if not value]
    if missing:
        raise ClientError(f"missing {' and '.join(missing)}: set {URL_VARIABLE} and {TOKEN_VARIABLE}, or write "
                          f'{{"url": ..., "token": ...}} to {path}')
    return Settings(url=str(site).rstrip("/"), token=str(token))


class _MultipartBody:
    """A multipart/form-data body read in chunks, so that a large file is never held in memory."""

    def __init__(self, fields: dict[str, str], *, file_field: str, path: Path,
                 progress: Callable[[int], None] | None) -> None:
        self.boundary = f"covid-triage-{secrets.token_hex(12)}"
        head = "".join(f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
                       for name, value in fields.items())
        head += (f'--{self.boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
                 f'filename="{path.name}"\r\nContent-Type: application/octet-stream\r\n\r\n')
        self._head, self._tail = head.encode(), f"\r\n--{self.boundary}--\r\n".encode()
        self.path, self.progress = path, progress
        self.length = len(self._head) + path.stat().st_size + len(self._tail)

    def __iter__(self) -> Iterator[bytes]:
        yield self._head
        with open(self.path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                if self.progress:
                    self.progress(len(chunk))
                yield chunk
        yield self._tail


class Client:
    """The API calls the command line uses; each returns the server's JSON answer or raises ClientError."""

    def __init__(self, settings: Settings, *, timeout: float = 60.0) -> None:
        self.settings, self.timeout = settings, timeout

    def _request(self, method: str, path: str, *, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        request = urllib.request.Request(f"{self.settings.url}{path}", data=body, method=method, headers={
            "Authorization": f"Token {self.settings.token}", "Accept": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - the user's site
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = {"detail": raw.decode("utf-8", "replace")[:500]}
            detail = payload.get("detail", "") if isinstance(payload, dict) else ""
            raise ClientError(f"{method} {path}: HTTP {error.code} {detail}".rstrip(), status=error.code,
                              payload=payload) from None
        except urllib.error.URLError as error:
            raise ClientError(f"cannot reach {self.settings.url}: {error.reason}") from None

    def team(self) -> dict[str, Any]:
        return dict(self._request("GET", "/api/team/"))

    def submissions(self, *, limit: int = 20) -> list[dict[str, Any]]:
        answer = self._request("GET", f"/api/submissions/?limit={int(limit)}")
        return list(answer["results"] if isinstance(answer, dict) else answer)

    def submission(self, pk: int) -> dict[str, Any]:
        return dict(self._request("GET", f"/api/submissions/{int(pk)}/"))

    def submit(self, archive: Path, *, method_name: str, description: str = "", is_public: bool = False,
               testset: str = "", progress: Callable[[int], None] | None = None) -> dict[str, Any]:
        """Upload a prediction archive; ``progress`` is told each number of bytes sent."""
        fields = {"method_name": method_name, "description": description, "is_public": str(is_public).lower(),
                  "kind": "archive"}
        if testset:
            fields["testset"] = testset
        body = _MultipartBody(fields, file_field="file", path=archive, progress=progress)
        return dict(self._request("POST", "/api/submissions/", body=iter(body), headers={
            "Content-Type": f"multipart/form-data; boundary={body.boundary}", "Content-Length": str(body.length)}))

    def wait(self, pk: int, *, interval: float = 5.0, timeout: float | None = None,
             on_state: Callable[[dict[str, Any]], None] | None = None,
             sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
        """Poll a submission until its evaluation is done or failed (``on_state`` sees every answer).

        A server error (HTTP 5xx) on a poll is retried at the next interval, up to ``SERVER_ERROR_RETRIES`` in a
        row: the submission is stored, so a transient fault of the site must not end the wait."""
        started = time.monotonic()
        errors_in_a_row = 0
        while True:
            try:
                current = self.submission(pk)
            except ClientError as error:
                errors_in_a_row += 1
                if (error.status or 0) < 500 or errors_in_a_row > SERVER_ERROR_RETRIES:
                    raise
                sleep(interval)
                continue
            errors_in_a_row = 0
            if on_state:
                on_state(current)
            if current.get("state") in FINAL_STATES:
                return current
            if timeout is not None and time.monotonic() - started > timeout:
                raise ClientError(f"submission {pk} is still {current.get('state')} after {timeout:.0f} s")
            sleep(interval)

