"""Is an image's ``User`` someone other than root?

An image's ``User`` is ``user``, ``user:group``, ``uid`` or ``uid:gid``. It is refused when it
is empty (Docker then runs as root), names ``root`` or uid 0, or names a user that the image's
own ``/etc/passwd`` maps to uid 0. A non-root user in group 0 is accepted (as OpenShift does).
"""

from __future__ import annotations

import re

_UID = re.compile(r"[0-9]+")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?")
#: How the contract asks for it, for problem reports.
EXPECTED_USER = "a non-root USER in the Dockerfile, e.g. USER 1000:1000"


def split_user(user: str) -> tuple[str, str | None]:
    """``(user, group)`` of an image's ``User`` field (group ``None`` when not given)."""
    name, _, group = user.strip().partition(":")
    return name, (group if ":" in user else None)


def user_problem(user: str | None) -> str | None:
    """Why ``user`` (an image's ``User``) is refused from the field alone; ``None`` if accepted so far.

    A user given by name is accepted here; :func:`passwd_uid` resolves it at run time.
    """
    if user is None or not user.strip():
        return "sets no USER, so it would run as root"
    name, group = split_user(user)
    if not name:
        return f"has USER {user!r} without a user"
    if runs_as_root(user):
        return f"runs as root (USER {user!r})"
    if not (_UID.fullmatch(name) or _NAME.fullmatch(name)):
        return f"has an invalid USER {user!r}"
    if group is not None and not (_UID.fullmatch(group) or _NAME.fullmatch(group)):
        return f"has an invalid group in USER {user!r}"
    return None


def runs_as_root(user: str | None) -> bool:
    """Whether the ``User`` field alone makes the container run as root (empty, ``root`` or uid 0)."""
    if user is None or not user.strip():
        return True
    name, _ = split_user(user)
    return name == "root" or bool(_UID.fullmatch(name) and int(name) == 0)


def numeric_uid(user: str) -> int | None:
    """The uid when ``user`` gives one, else ``None`` (a name to look up)."""
    name, _ = split_user(user)
    return int(name) if _UID.fullmatch(name) else None


def passwd_uid(passwd: str, name: str) -> int | None:
    """The uid of ``name`` in the text of an ``/etc/passwd`` file; ``None`` if it is not listed."""
    for line in passwd.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == name and _UID.fullmatch(fields[2]):
            return int(fields[2])
    return None
