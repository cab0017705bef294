"""What tells cached boards apart: an append-only log of changes that can alter a board."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class BoardChange(models.Model):
    """One row per change that may alter a board (an evaluation done or removed, a submission, team, test set,
    label version or reported row saved or deleted), inserted in the same transaction as the change.

    The number of rows is the *board revision* that keys cached boards: it grows with every committed
    change (rows are never updated, so writers never wait on each other), and a reader that counts first and
    builds afterwards never caches an older board under a newer revision.
    """

    at = models.DateTimeField(default=timezone.now, help_text="When the change was made.")
    what = models.CharField(max_length=60, help_text="The model that changed.")

    class Meta:
        verbose_name = "board change"

    def __str__(self) -> str:
        return f"{self.what} at {self.at:%Y-%m-%d %H:%M:%S}"


class BoardStatisticsRecord(models.Model):
    """The honest-ranks statistics (:func:`evaluator.ranking.board_statistics`) of one board revision, computed
    once by the worker (:mod:`leaderboard.board.statistics`) and read by the site, never computed per request.

    ``key`` identifies the revision: label version and digest, track, feedback policy, the entries and the
    released cases and predictions each one's numbers come from, and the ranking version; ``basis`` the same
    without the entries (a board shows the latest record of its basis until its own revision's is stored).
    ``document``: the canonical JSON (aggregates only, never a per-case value).
    """

    key = models.CharField(max_length=64, unique=True, help_text="Hash of the board revision the statistics are of.")
    basis = models.CharField(max_length=64, default="", db_index=True,
                             help_text="Hash of what the revision shares with later ones of the same board: label "
                                       "version and digest, track, feedback policy and ranking version (not the "
                                       "entries). Empty for records made before it was kept.")
    version = models.CharField(max_length=40, help_text="evaluator.ranking.RANKING_VERSION used.")
    label_version = models.ForeignKey("testsets.LabelVersion", on_delete=models.CASCADE, related_name="+")
    track = models.CharField(max_length=20, help_text="The board's track.")
    document = models.TextField(help_text="Canonical JSON of the statistics (aggregates only).")
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "board statistics"
        verbose_name_plural = "board statistics"

    def __str__(self) -> str:
        return f"statistics {self.key[:12]} ({self.track})"
