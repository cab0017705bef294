"""Licence check over the installed Python packages (CI runs it through ``bash scripts/check-licenses``).

The project is Apache-2.0 (see LICENSE and the README's "Licence" section). Every installed distribution's
declared licence, as pip-licenses reads it from the package metadata and trove classifiers, must be

- on ``ALLOWED`` (permissive licences, and MPL-2.0 whose copyleft stays inside the MPL files themselves), or
- the package is in ``REVIEWED`` with the exact licence string recorded when a maintainer reviewed it.

Everything else fails — strong copyleft (GPL, AGPL: the combined work would have to be GPL, and AGPL would
reach a hosted site), missing or unrecognised licences, or a reviewed package whose licence changed — and every
offending package is listed at once. SPDX expressions are understood (``A OR B``: one must be allowed;
``A AND B``: all must); several classifiers (joined by ``;``) must all be allowed.

    python scripts/check_licenses.py                  # runs pip-licenses on this interpreter's packages
    python scripts/check_licenses.py --input FILE     # checks a saved `pip-licenses --format=json` output
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

#: Licences acceptable for any dependency of an Apache-2.0 project, in SPDX form (compared case-insensitively).
ALLOWED: frozenset[str] = frozenset({
    "0BSD", "Apache-2.0", "Apache-2.0 WITH LLVM-exception", "BSD", "BSD-2-Clause", "BSD-3-Clause", "BSL-1.0",
    "CC0-1.0", "CNRI-Python", "HPND", "ISC", "MIT", "MIT-0", "MPL-2.0", "PSF-2.0", "Python-2.0", "Unlicense",
    "Zlib", "ZPL-2.1",
})

#: Trove classifiers and common spellings → SPDX. "BSD License" names no variant; every BSD variant is allowed.
ALIASES: Mapping[str, str] = {
    "MIT License": "MIT", "BSD License": "BSD", "BSD 3-Clause": "BSD-3-Clause", "BSD 2-Clause": "BSD-2-Clause",
    "Apache Software License": "Apache-2.0", "Apache 2.0": "Apache-2.0", "Apache License 2.0": "Apache-2.0",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0", "Python Software Foundation License": "PSF-2.0",
    "ISC License (ISCL)": "ISC", "Zope Public License": "ZPL-2.1", "The Unlicense (Unlicense)": "Unlicense",
    "zlib/libpng License": "Zlib",
    "GNU General Public License (GPL)": "GPL", "GNU General Public License v2 (GPLv2)": "GPL-2.0",
    "GNU General Public License v3 (GPLv3)": "GPL-3.0",
    "GNU General Public License v2 or later (GPLv2+)": "GPL-2.0-or-later",
    "GNU General Public License v3 or later (GPLv3+)": "GPL-3.0-or-later",
    "GNU Affero General Public License v3": "AGPL-3.0",
    "GNU Affero General Public License v3 or later (AGPLv3+)": "AGPL-3.0-or-later",
    "GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0",
    "GNU Lesser General Public License v2 or later (LGPLv2+)": "LGPL-2.0-or-later",
    "GNU Library or Lesser General Public License (LGPL)": "LGPL",
}

#: Packages a maintainer reviewed one by one: name → (licence string exactly as pip-licenses reports it, why).
REVIEWED: Mapping[str, tuple[str, str]] = {
    "psycopg": ("LGPL-3.0-only", (
        "PostgreSQL driver, used unmodified through its Python API and installed separately from PyPI; LGPL-3.0 "
        "allows that from Apache-2.0 code. Whoever redistributes it (e.g. in a container image) passes on its "
        "licence and leaves it replaceable, as pip installs do.")),
    "psycopg-binary": ("LGPL-3.0-only", (
        "psycopg's optional C speed-ups (bundles libpq, PostgreSQL licence); same review as psycopg.")),
}

_STRONG_COPYLEFT = re.compile(r"^(A?GPL|SSPL|EUPL|OSL|CC-BY-NC|CC-BY-SA)", re.IGNORECASE)
_TOKEN = re.compile(r"\(|\)|[^\s()]+")


def _canonical(name: str) -> str:
    name = name.strip()
    return ALIASES.get(name, name)


def _is_allowed(term: str) -> bool:
    return _canonical(term).lower() in {licence.lower() for licence in ALLOWED}


def _expression_allowed(expression: str) -> bool:
    """Whether an SPDX expression (``OR`` / ``AND`` / ``WITH`` / parentheses) is satisfiable with ALLOWED."""
    if not re.search(r"\s(AND|OR|WITH)\s|\(", expression) or _canonical(expression) != expression.strip():
        return _is_allowed(expression)  # a plain name, possibly a classifier with spaces or parentheses
    for alias in sorted(ALIASES, key=len, reverse=True):  # e.g. "BSD 3-Clause OR Apache-2.0"
        expression = expression.replace(alias, ALIASES[alias])
    tokens = _TOKEN.findall(expression)
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str:
        nonlocal position
        if position >= len(tokens):
            raise ValueError(f"incomplete licence expression {expression!r}")
        position += 1
        return tokens[position - 1]

    def atom() -> bool:
        token = take()
        if token == "(":
            value = either()
            if take() != ")":
                raise ValueError(f"unbalanced parentheses in {expression!r}")
            return value
        if peek() == "WITH":
            take()
            return _is_allowed(f"{token} WITH {take()}")
        return _is_allowed(token)

    def both() -> bool:
        values = [atom()]
        while peek() == "AND":
            take()
            values.append(atom())
        return all(values)

    def either() -> bool:
        values = [both()]
        while peek() == "OR":
            take()
            values.append(both())
        return any(values)

    value = either()
    if position != len(tokens):
        raise ValueError(f"unexpected {tokens[position]!r} in licence expression {expression!r}")
    return value


def licence_problem(name: str, licence: str) -> str | None:
    """Why one installed package's declared licence is not acceptable, or None if it is."""
    key = name.lower().replace("_", "-")
    if key in REVIEWED:
        reviewed, _ = REVIEWED[key]
        if licence == reviewed:
            return None
        return f"{name}: licence is now {licence!r}, reviewed as {reviewed!r}: review it again (REVIEWED)"
    if not licence.strip() or licence.strip().upper() == "UNKNOWN":
        return f"{name}: declares no licence: find it and add the package to REVIEWED"
    parts = [part for part in licence.split(";") if part.strip()]
    try:
        if all(_expression_allowed(part) for part in parts):
            return None
    except ValueError as exc:
        return f"{name}: {exc}"
    if any(_STRONG_COPYLEFT.match(_canonical(term)) for part in parts for term in _TOKEN.findall(_canonical(part))):
        return f"{name}: {licence!r} is strong copyleft, incompatible with distributing this project as Apache-2.0"
    return f"{name}: {licence!r} is not on the allow-list (ALLOWED) and the package was not reviewed (REVIEWED)"


def check(records: Iterable[Mapping[str, str]]) -> list[str]:
    """Every problem of ``pip-licenses --format=json`` records (keys ``Name``, ``License``), sorted by package."""
    problems = [licence_problem(record["Name"], record.get("License", "")) for record in records]
    return sorted(problem for problem in problems if problem)


def installed_records() -> list[dict[str, str]]:
    """pip-licenses over this interpreter's packages, including pip-licenses itself and the packaging tools."""
    output = subprocess.run([sys.executable, "-m", "piplicenses", "--format=json", "--from=mixed", "--with-system"],
                            check=True, capture_output=True, text=True).stdout
    records: list[dict[str, str]] = json.loads(output)
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, help="a saved `pip-licenses --format=json` output")
    args = parser.parse_args(argv)
    records = json.loads(args.input.read_text()) if args.input else installed_records()
    problems = check(records)
    if problems:
        print(f"licence check: {len(problems)} of {len(records)} packages are not acceptable for an Apache-2.0 "
              "project:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print(f"licence check: all {len(records)} installed packages have licences compatible with Apache-2.0 "
          f"({len(REVIEWED)} reviewed individually: {', '.join(sorted(REVIEWED))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
