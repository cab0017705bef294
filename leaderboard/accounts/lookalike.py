"""Accounts that look alike: the same e-mail domain, created close together. A hint for maintainers (several
accounts of one person renew the quota), never a block: colleagues of one lab look alike too."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Account:
    username: str
    email: str
    date_joined: datetime
    team: str | None

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2].strip().lower()


@dataclass(frozen=True)
class LookAlikeGroup:
    domain: str
    accounts: tuple[Account, ...]  # in order of creation

    @property
    def teams(self) -> list[str]:
        return sorted({a.team for a in self.accounts if a.team})


def lookalike_groups(accounts: Iterable[Account], *, within: timedelta) -> list[LookAlikeGroup]:
    """Groups of two or more accounts with one e-mail domain, each created at most ``within`` after the previous
    one; newest group first. Accounts without an address are left out."""
    by_domain: dict[str, list[Account]] = {}
    for account in accounts:
        if account.domain:
            by_domain.setdefault(account.domain, []).append(account)
    groups: list[LookAlikeGroup] = []
    for domain, members in by_domain.items():
        members.sort(key=lambda a: a.date_joined)
        run = [members[0]]
        for account in members[1:]:
            if account.date_joined - run[-1].date_joined <= within:
                run.append(account)
                continue
            if len(run) > 1:
                groups.append(LookAlikeGroup(domain, tuple(run)))
            run = [account]
        if len(run) > 1:
            groups.append(LookAlikeGroup(domain, tuple(run)))
    return sorted(groups, key=lambda g: g.accounts[-1].date_joined, reverse=True)
